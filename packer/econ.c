/*
 * The cost of a new node beyond its price (docs/optimizer.md,
 * "Economics"): the per-node cost every new node carries, and the surplus
 * credits of a burstable type in unlimited mode, which grow with the cpu
 * the node's pods request above its baseline. Pods are taken to use their
 * requests continuously, so a node whose requests exceed its baseline pays
 * surplus_price per vCPU-hour of the difference, every hour.
 */
#include "pack_internal.h"

double stv_template_credits(const struct stv_template *t, int64_t cpu_m) {
  if (t->surplus_price <= 0 || cpu_m <= t->cpu_baseline) return 0;
  return t->surplus_price * (double)(cpu_m - t->cpu_baseline) / 1000.0;
}

double stv_template_cost(const struct stv_template *t, int64_t cpu_m) {
  return t->price + t->node_cost + stv_template_credits(t, cpu_m);
}

int64_t stv_plan_node_cpu(const struct stv_snapshot *s, const struct stv_plan_node *pn) {
  int64_t cpu = 0;
  uint32_t q;
  for (q = 0; q < pn->npods; q++) cpu += s->classes[s->pods[pn->pods[q]].cls]->req[STV_RES_CPU];
  for (q = 0; q < pn->ndaemons; q++) cpu += s->classes[pn->daemons[q]]->req[STV_RES_CPU];
  return cpu;
}

double stv_plan_node_cost(const struct stv_problem *p, const struct stv_plan_node *pn) {
  if (pn->existing >= 0 || pn->tmpl < 0) return 0;
  return stv_template_cost(&p->tmpl[pn->tmpl], stv_plan_node_cpu(p->snap, pn));
}

double stv__tinfo_cost(const struct solve *S, const struct tinfo *t, int64_t pods_cpu) {
  return stv_template_cost(&S->p->tmpl[t->t], pods_cpu + t->daemon_cpu);
}

double stv__pattern_cost(const struct solve *S, const struct tinfo *t, const uint32_t *g, const uint32_t *k,
                         uint32_t n) {
  const struct stv_template *tp = &S->p->tmpl[t->t];
  int64_t cpu = 0;
  uint32_t i;
  if (tp->surplus_price <= 0) return tp->price + tp->node_cost;
  for (i = 0; i < n; i++) cpu += S->s->classes[S->g[g[i]].cls]->req[STV_RES_CPU] * (int64_t)k[i];
  return stv__tinfo_cost(S, t, cpu);
}

int stv__setup_pool_limits(struct solve *S) {
  size_t i, k;
  S->npool_lim = 0;
  S->pool_left = stv_arena_alloc(&S->a, (S->nti + 1) * sizeof(*S->pool_left));
  S->pool_tmpl = stv_arena_alloc(&S->a, (S->nti + 1) * sizeof(*S->pool_tmpl));
  if (S->pool_left == NULL || S->pool_tmpl == NULL) return STV_ENOMEM;
  for (i = 0; i < S->nti; i++) {
    struct tinfo *t = &S->ti[i];
    const struct stv_template *tp = &S->p->tmpl[t->t];
    t->plim = -1;
    if (tp->pool_limits == NULL || tp->pool_limits->nodes < 0) continue;
    for (k = 0; k < S->npool_lim && S->pool_tmpl[k]->pool_limits != tp->pool_limits; k++) continue;
    if (k == S->npool_lim) {
      S->pool_tmpl[k] = tp;
      S->pool_left[k] = tp->pool_limits->nodes;
      S->npool_lim++;
    }
    t->plim = (int32_t)k;
  }
  return 0;
}

int stv__plan_pools_ok(const struct stv_problem *p, const struct stv_plan *plan) {
  /* Few pools: a short list of (limits, count) is enough. */
  const struct stv_limits *seen[64];
  int64_t count[64];
  size_t i, j, n = 0;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_limits *l;
    if (plan->nodes[i].existing >= 0) continue;
    l = p->tmpl[plan->nodes[i].tmpl].pool_limits;
    if (l == NULL || l->nodes < 0) continue;
    for (j = 0; j < n && seen[j] != l; j++) continue;
    if (j == n) {
      if (n == sizeof(seen) / sizeof(seen[0])) return 0; /* more limited pools than counted: no proof */
      seen[n] = l;
      count[n++] = 0;
    }
    if (++count[j] > l->nodes) return 0;
  }
  return 1;
}
