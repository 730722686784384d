/*
 * The policy objects the planner honours: PodDisruptionBudgets (selector,
 * minAvailable / maxUnavailable, disruptionsAllowed) and Namespaces (their
 * labels, for namespace selectors).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_internal.h"

/* minAvailable / maxUnavailable: an integer, or a percentage string. */
static int read_int_or_percent(struct rd *r, const cJSON *spec, const char *key, const char **out) {
  struct jpath p = {&P_SPEC, key, 0};
  const cJSON *c = stv__member(spec, key);
  char num[16];
  const char *s;
  struct qbuf q;
  size_t i;
  *out = NULL;
  if (c == NULL) return 0;
  if (cJSON_IsNumber(c)) {
    if (!(c->valuedouble >= 0 && c->valuedouble <= 2147483647.0) ||
        (double)(int32_t)c->valuedouble != c->valuedouble)
      return stv__fail(r, STV_EINVAL, &p, "must be a non-negative integer or a percentage");
    snprintf(num, sizeof(num), "%d", (int)c->valuedouble);
    s = num;
  } else if (stv__jtype_is(c, JT_STRING)) {
    s = c->valuestring;
    i = 0;
    while (s[i] >= '0' && s[i] <= '9') i++;
    if (i == 0 || i > 9 || (s[i] != '\0' && !(s[i] == '%' && s[i + 1] == '\0')))
      return stv__fail(r, STV_EINVAL, &p, "invalid value \"%s\" (an integer or a percentage)",
                       stv__quote(s, &q));
  } else {
    return stv__fail(r, STV_EPARSE, &p, "not an integer or a string");
  }
  if ((*out = stv__intern(r, s)) == NULL) return stv__oom(r);
  return 0;
}

/* status.disruptionsAllowed, which kube-scheduler's preemption reads; absent in hand-written budgets. */
static int read_pdb_status(struct rd *r, const cJSON *item, struct stv_pdb *p) {
  struct jpath pda = {&P_STATUS, "disruptionsAllowed", 0};
  const cJSON *status;
  int rc;
  if ((rc = stv__get(r, item, "status", NULL, JT_OBJECT, &status)) != 0) return rc;
  if ((rc = stv__get_int32(r, status, "disruptionsAllowed", &P_STATUS, &p->has_allowed,
                           &p->disruptions_allowed)) != 0)
    return rc;
  if (p->has_allowed && p->disruptions_allowed < 0)
    return stv__fail(r, STV_EINVAL, &pda, "must not be negative (got %d)", (int)p->disruptions_allowed);
  return 0;
}

int stv__read_pdb(struct rd *r, const cJSON *item) {
  struct jpath psel = {&P_SPEC, "selector", 0}, pmax = {&P_SPEC, "maxUnavailable", 0};
  const cJSON *spec, *sel;
  struct stv_pdb p;
  int rc;

  memset(&p, 0, sizeof(p));
  if ((rc = stv__get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if ((rc = stv__get(r, spec, "selector", &P_SPEC, JT_OBJECT, &sel)) != 0) return rc;
  if ((rc = read_int_or_percent(r, spec, "minAvailable", &p.min_available)) != 0) return rc;
  if ((rc = read_int_or_percent(r, spec, "maxUnavailable", &p.max_unavailable)) != 0) return rc;
  if (p.min_available != NULL && p.max_unavailable != NULL)
    return stv__fail(r, STV_EINVAL, &pmax, "may not be set together with spec.minAvailable");
  /* A null selector selects no pods (policy/v1): such a budget guards nothing. */
  if (sel == NULL) return 0;
  if ((rc = read_pdb_status(r, item, &p)) != 0) return rc;
  if ((rc = stv__read_label_selector(r, sel, &psel, 0, &p.sel)) != 0) return rc;
  if ((p.ns = stv__intern(r, r->ns)) == NULL || (p.name = stv__intern(r, r->name)) == NULL)
    return stv__oom(r);
  rc = r->replace >= 0 ? stv_snapshot_replace_pdb(r->s, (size_t)r->replace, &p)
                       : stv_snapshot_add_pdb(r->s, &p);
  if (rc != 0) return stv__fail_rc(r, rc);
  if (r->replace < 0 && r->stats != NULL) r->stats->pdbs++;
  return 0;
}

/* Namespaces carry kubernetes.io/metadata.name = their name, as the API sets it. */
int stv__read_namespace(struct rd *r, const cJSON *meta) {
  const cJSON *labels;
  struct stv_namespace ns;
  struct stv_label *kv;
  const char *key, *name;
  uint32_t i;
  int rc;

  memset(&ns, 0, sizeof(ns));
  if ((rc = stv__get(r, meta, "labels", &P_METADATA, JT_OBJECT, &labels)) != 0) return rc;
  if ((rc = stv__read_string_map(r, labels, &P_LABELS, &ns.labels)) != 0) return rc;
  if ((name = stv__intern(r, r->name)) == NULL) return stv__oom(r);
  if ((key = stv__intern(r, "kubernetes.io/metadata.name")) == NULL) return stv__oom(r);
  ns.name = name;
  i = 0;
  while (i < ns.labels.n && ns.labels.kv[i].key != key) i++;
  if (i < ns.labels.n) {
    ns.labels.kv[i].value = name;
  } else {
    if ((kv = stv__scratch(r, (size_t)ns.labels.n + 1, sizeof(*kv))) == NULL) return stv__oom(r);
    if (ns.labels.n > 0) memcpy(kv, ns.labels.kv, ns.labels.n * sizeof(*kv));
    kv[ns.labels.n].key = key;
    kv[ns.labels.n].value = name;
    ns.labels.kv = kv;
    ns.labels.n++;
    qsort(kv, ns.labels.n, sizeof(*kv), stv__label_cmp);
  }
  rc = r->replace >= 0 ? stv_snapshot_replace_namespace(r->s, (size_t)r->replace, &ns)
                       : stv_snapshot_add_namespace(r->s, &ns);
  if (rc != 0) return stv__fail_rc(r, rc);
  if (r->replace < 0 && r->stats != NULL) r->stats->namespaces++;
  return 0;
}
