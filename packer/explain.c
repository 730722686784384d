/*
 * Why the pods of a class could not be placed, in words an operator can act
 * on: no allowed instance type, constraints no type satisfies, a request
 * larger than every type it may use, DaemonSet overhead, or the inter-pod
 * rules (pod affinity, host ports) that left no node.
 */
#include <stdio.h>
#include <string.h>

#include "pack_internal.h"

/* ---------------------------------------------------------------------- */
/* Reasons for what did not fit                                           */

/*
 * Writes the host ports class k asks for ("8080/TCP, 53/UDP"), from the
 * reader's reserved labels, into buf; returns 0 when it asks for none.
 */
static int host_ports_text(const struct stv_class *k, char *buf, size_t size) {
  size_t n = 0, plen = sizeof(STV_HOST_PORT_LABEL_PREFIX) - 1;
  uint32_t i;
  buf[0] = '\0';
  for (i = 0; i < k->labels.n; i++) {
    const char *key = k->labels.kv[i].key, *slash;
    if (!stv_label_is_host_port(key) || strchr(key, '@') != NULL) continue;
    if ((slash = strchr(key + plen, '/')) == NULL) continue;
    if (n + 1 < size)
      n += (size_t)snprintf(buf + n, size - n, "%s%s/%.*s", n > 0 ? ", " : "", slash + 1,
                            (int)(slash - key - plen), key + plen);
    if (n >= size) n = size - 1;
  }
  return buf[0] != '\0';
}

/* Whether the only inter-pod rules of class k are its host ports'. */
static int only_port_rules(const struct stv_class *k) {
  uint32_t i;
  if (k->naff > 0) return 0;
  for (i = 0; i < k->nspread; i++)
    if (k->spread[i].do_not_schedule) return 0;
  for (i = 0; i < k->nanti; i++)
    if (k->anti[i].sel.n != 1 || !stv_label_is_host_port(k->anti[i].sel.reqs[0].key)) return 0;
  return 1;
}

/*
 * Whether every template that could take class c is out of nodes, some
 * because its pool reached its node limit; then writes "pending: pool X is
 * at its limit of N nodes" (the first such pool) to why.
 */
static int pool_full(const struct solve *S, uint32_t c, char *why, size_t size) {
  const struct tinfo *full = NULL;
  size_t i;
  for (i = 0; i < S->nti; i++) {
    const struct tinfo *t = &S->ti[i];
    if (!BIT_GET(&S->compat[i * S->W], c)) continue;
    if (stv__room(S, t) != 0) return 0;
    if (full == NULL && t->plim >= 0 && S->pool_left[t->plim] <= 0) full = t;
  }
  if (full == NULL) return 0;
  snprintf(why, size, "pending: pool %s is at its limit of %lld nodes (nodePools[].limits.nodes)",
           S->p->tmpl[full->t].pool ? S->p->tmpl[full->t].pool : "(default)",
           (long long)S->p->tmpl[full->t].pool_limits->nodes);
  return 1;
}

void stv__explain(const struct solve *S, uint32_t c, char *why, size_t size) {
  const struct stv_snapshot *s = S->s;
  const struct stv_class *k = s->classes[c];
  size_t i;
  int static_ok = 0, r;
  char first[160] = "";
  int64_t most[STV_MAX_RES];
  memset(most, 0, sizeof(most));
  for (i = 0; i < S->p->ntmpl; i++) {
    const struct stv_template *t = &S->p->tmpl[i];
    struct stv_node_view v = {NULL, &t->labels, t->ntaints, t->taints, 0};
    char w[160];
    if (stv_class_fits_node(k, &v, w, sizeof(w))) {
      static_ok = 1;
      for (r = 0; r < S->ndim; r++)
        if (t->alloc[r] > most[r]) most[r] = t->alloc[r];
    } else if (first[0] == '\0') {
      snprintf(first, sizeof(first), "%s", w);
    }
  }
  if (S->p->ntmpl == 0) {
    snprintf(why, size, "no instance type is allowed (check --catalog and --capacity-types)");
    return;
  }
  if (!static_ok) {
    /* The template's reason is cut to fit: the start says enough. */
    if (snprintf(why, size, "no instance type satisfies its constraints (%s)", first) >= (int)size)
      why[size - 1] = '\0';
    return;
  }
  for (r = 0; r < S->ndim; r++) {
    if (k->req[r] > most[r]) {
      char a[32], b[32];
      int milli = r == STV_RES_CPU, bin = r == STV_RES_MEMORY || r == STV_RES_EPHEMERAL;
      snprintf(why, size, "requests %s %s but the largest instance type it may use has %s allocatable",
               stv_quantity_format(k->req[r], milli, bin, a, sizeof(a)), s->res.name[r],
               stv_quantity_format(most[r], milli, bin, b, sizeof(b)));
      return;
    }
  }
  for (i = 0; i < S->nti; i++)
    if (BIT_GET(&S->compat[i * S->W], c)) break;
  if (i == S->nti) {
    snprintf(why, size, "does not fit any instance type once DaemonSet overhead is reserved");
    return;
  }
  if (pool_full(S, c, why, size)) return;
  if (BIT_GET(S->aff_host_any, c)) {
    snprintf(why, size, "required pod affinity (hostname): the pods it must run beside leave no room");
    return;
  }
  if (host_ports_text(k, first, sizeof(first))) {
    if (only_port_rules(k))
      snprintf(
          why, size,
          "no node can take it under its placement rules: host port %s is taken on every node that could",
          first);
    else
      snprintf(why, size, "no node can take it under its placement rules (its host port %s among them)",
               first);
    return;
  }
  snprintf(why, size, "no node can take it under its placement rules");
}
