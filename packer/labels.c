/* Resource names, label sets, selectors and the static predicates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packer.h"

int stv_resnames_init(struct stv_resnames *r, struct stv_strpool *pool) {
  static const char *fixed[STV_RES_FIXED] = {"cpu", "memory", "ephemeral-storage", "pods"};
  int i;
  memset(r, 0, sizeof(*r));
  for (i = 0; i < STV_RES_FIXED; i++) {
    r->name[i] = stv_strpool_get(pool, fixed[i]);
    if (r->name[i] == NULL) return STV_ENOMEM;
  }
  r->n = STV_RES_FIXED;
  return 0;
}

int stv_resnames_index(struct stv_resnames *r, struct stv_strpool *pool, const char *name, int create) {
  int i;
  for (i = 0; i < r->n; i++)
    if (strcmp(r->name[i], name) == 0) return i;
  if (!create) return STV_ENOTFOUND;
  if (r->n == STV_MAX_RES) return STV_ELIMIT;
  r->name[r->n] = stv_strpool_get(pool, name);
  if (r->name[r->n] == NULL) return STV_ENOMEM;
  return r->n++;
}

const char *stv_labels_get(const struct stv_labels *l, const char *key) {
  uint32_t lo = 0, hi = l->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = strcmp(l->kv[mid].key, key);
    if (c == 0) return l->kv[mid].value;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Parses a whole decimal integer for Gt/Lt; returns 0 on success. */
static int parse_int(const char *s, long long *out) {
  char *end;
  if (s == NULL || *s == '\0') return -1;
  errno = 0;
  *out = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0') return -1;
  return 0;
}

static int requirement_matches(const struct stv_requirement *r, const char *value) {
  uint32_t i;
  long long a, b;
  switch (r->op) {
  case STV_OP_IN:
    if (value == NULL) return 0;
    for (i = 0; i < r->nvalues; i++)
      if (strcmp(r->values[i], value) == 0) return 1;
    return 0;
  case STV_OP_NOT_IN:
    if (value == NULL) return 1;
    for (i = 0; i < r->nvalues; i++)
      if (strcmp(r->values[i], value) == 0) return 0;
    return 1;
  case STV_OP_EXISTS:
    return value != NULL;
  case STV_OP_DOES_NOT_EXIST:
    return value == NULL;
  case STV_OP_GT:
  case STV_OP_LT:
    if (value == NULL || r->nvalues != 1) return 0;
    if (parse_int(value, &a) != 0 || parse_int(r->values[0], &b) != 0) return 0;
    return r->op == STV_OP_GT ? a > b : a < b;
  }
  return 0;
}

int stv_selector_matches(const struct stv_selector *sel, const struct stv_labels *labels) {
  uint32_t i;
  for (i = 0; i < sel->n; i++) {
    const struct stv_requirement *r = &sel->reqs[i];
    if (!requirement_matches(r, stv_labels_get(labels, r->key))) return 0;
  }
  return 1;
}

/*
 * matchFields supports metadata.name only. A template (name NULL) stands for
 * a node that does not exist yet: its name is none of the names a pod can
 * list, so In never matches it and NotIn always does.
 */
static int fields_match(const struct stv_selector *fields, const char *name) {
  uint32_t i;
  for (i = 0; i < fields->n; i++) {
    const struct stv_requirement *r = &fields->reqs[i];
    if (strcmp(r->key, "metadata.name") != 0) return 0;
    if (name == NULL) {
      if (r->op != STV_OP_NOT_IN) return 0;
      continue;
    }
    if (!requirement_matches(r, name)) return 0;
  }
  return 1;
}

const char *stv_capacity_type_name(enum stv_capacity_type ct) {
  switch (ct) {
  case STV_CT_RESERVED:
    return "reserved";
  case STV_CT_SPOT:
    return "spot";
  case STV_CT_ON_DEMAND:
    return "on-demand";
  default:
    return "unknown";
  }
}

int stv_capacity_type_parse(const char *s, enum stv_capacity_type *ct) {
  int i;
  for (i = 0; i < STV_CT_COUNT; i++) {
    if (strcmp(s, stv_capacity_type_name((enum stv_capacity_type)i)) == 0) {
      *ct = (enum stv_capacity_type)i;
      return 0;
    }
  }
  return STV_EINVAL;
}

const char *stv_effect_name(enum stv_effect e) {
  switch (e) {
  case STV_EFFECT_NO_SCHEDULE:
    return "NoSchedule";
  case STV_EFFECT_PREFER_NO_SCHEDULE:
    return "PreferNoSchedule";
  case STV_EFFECT_NO_EXECUTE:
    return "NoExecute";
  default:
    return "";
  }
}

int stv_tolerates(const struct stv_toleration *tol, uint32_t ntol, const struct stv_taint *t) {
  uint32_t i;
  for (i = 0; i < ntol; i++) {
    const struct stv_toleration *x = &tol[i];
    if (x->effect != STV_EFFECT_ALL && x->effect != t->effect) continue;
    if (x->key == NULL) {
      if (x->exists) return 1;
      continue;
    }
    if (strcmp(x->key, t->key) != 0) continue;
    if (x->exists) return 1;
    if (strcmp(x->value ? x->value : "", t->value ? t->value : "") == 0) return 1;
  }
  return 0;
}

static void why_set(char *why, size_t size, const char *fmt, const char *a, const char *b) {
  if (why != NULL && size > 0) snprintf(why, size, fmt, a, b);
}

/*
 * NodeUnschedulable: a cordoned node takes a pod that tolerates the taint
 * node.kubernetes.io/unschedulable:NoSchedule (DaemonSet pods get that
 * toleration from their controller).
 */
static int tolerates_unschedulable(const struct stv_class *c) {
  const struct stv_taint t = {"node.kubernetes.io/unschedulable", "", STV_EFFECT_NO_SCHEDULE};
  return stv_tolerates(c->tol, c->ntol, &t);
}

int stv_class_fits_node(const struct stv_class *c, const struct stv_node_view *v, char *why, size_t whysize) {
  uint32_t i;
  if (v->unschedulable && !tolerates_unschedulable(c)) {
    why_set(why, whysize, "node %s%s is cordoned", v->name ? v->name : "", "");
    return 0;
  }
  for (i = 0; i < c->node_selector.n; i++) {
    const struct stv_requirement *r = &c->node_selector.reqs[i];
    if (!requirement_matches(r, stv_labels_get(v->labels, r->key))) {
      if (r->op == STV_OP_NOT_IN)
        why_set(why, whysize, "node has %s=%s, which the pod excludes", r->key, r->nvalues ? r->values[0] : "");
      else
        why_set(why, whysize, "nodeSelector %s=%s does not match", r->key, r->nvalues ? r->values[0] : "");
      return 0;
    }
  }
  if (c->affinity.n > 0) {
    int any = 0;
    for (i = 0; i < c->affinity.n && !any; i++) {
      const struct stv_node_term *t = &c->affinity.terms[i];
      if (t->exprs.n == 0 && t->fields.n == 0) continue; /* an empty term matches nothing */
      if (stv_selector_matches(&t->exprs, v->labels) && fields_match(&t->fields, v->name)) any = 1;
    }
    if (!any) {
      why_set(why, whysize, "required node affinity does not match%s%s", "", "");
      return 0;
    }
  }
  for (i = 0; i < v->ntaints; i++) {
    const struct stv_taint *t = &v->taints[i];
    if (t->effect == STV_EFFECT_PREFER_NO_SCHEDULE) continue;
    if (!stv_tolerates(c->tol, c->ntol, t)) {
      why_set(why, whysize, "untolerated taint %s=%s", t->key, t->value ? t->value : "");
      return 0;
    }
  }
  /*
   * PodTopologySpread: a node without the topology key of a DoNotSchedule
   * constraint cannot take the pod. Every node has kubernetes.io/hostname;
   * a template (no name yet) gets it when created.
   */
  for (i = 0; i < c->nspread; i++) {
    const char *key = c->spread[i].topology_key;
    if (!c->spread[i].do_not_schedule || stv_labels_get(v->labels, key) != NULL) continue;
    if (v->name == NULL && strcmp(key, "kubernetes.io/hostname") == 0) continue;
    why_set(why, whysize,
            "node has no label %s, the topologyKey of a DoNotSchedule topology spread constraint%s", key, "");
    return 0;
  }
  return 1;
}

int stv_label_is_host_port(const char *key) {
  return strncmp(key, STV_HOST_PORT_LABEL_PREFIX, sizeof(STV_HOST_PORT_LABEL_PREFIX) - 1) == 0;
}
