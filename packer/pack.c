/*
 * The packing heuristic: pending pods, grouped by class (and by zone where
 * a zone-level rule binds them), go first into the free capacity of
 * existing nodes, then onto new nodes. New nodes are chosen in rounds: for
 * every usable template the heuristic fills one node greedily with the
 * remaining groups (a pattern), scores it by price per unit of work packed,
 * and opens as many copies of the best pattern as the remaining pods allow.
 * Rounds are bounded by the number of groups, not pods, which is what makes
 * 20,000 replicas of ten Deployments cost ten decisions.
 *
 * Rules by level:
 * - static (selector, node affinity, taints, resources): a class x template
 *   compatibility matrix, computed once;
 * - zone (topology spread, pod affinity, pod anti-affinity on
 *   topology.kubernetes.io/zone): pods are assigned to zones before
 *   packing, one at a time, water-filling the spread counts;
 * - hostname (the same rules on kubernetes.io/hostname): checked per node
 *   while filling, against the classes already on it;
 * - a final pass recomputes every topology spread count in the finished plan
 *   and withdraws pods that a domain the plan could not fill leaves over
 *   maxSkew.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "pack_internal.h"


static enum level level_of(const char *key) {
  if (strcmp(key, HOST_KEY) == 0) return LVL_HOST;
  if (strcmp(key, ZONE_KEY) == 0 || strcmp(key, ZONE_KEY_BETA) == 0) return LVL_ZONE;
  return LVL_OTHER;
}

static const char *zone_of(const struct stv_labels *l) {
  const char *z = stv_labels_get(l, ZONE_KEY);
  return z ? z : stv_labels_get(l, ZONE_KEY_BETA);
}

static int zone_index(struct solve *S, const char *z) {
  size_t i;
  if (z == NULL) return -1;
  for (i = 0; i < S->nzones; i++)
    if (strcmp(S->zones[i], z) == 0) return (int)i;
  return -1;
}

static int add_unsched(struct solve *S, uint32_t pod, const char *reason) {
  struct stv_plan_unsched *u;
  if (stv_grow((void **)&S->un, &S->cap_un, S->nun + 1, sizeof(*S->un)) != 0) return STV_ENOMEM;
  u = &S->un[S->nun++];
  u->pod = pod;
  snprintf(u->reason, sizeof(u->reason), "%s", reason);
  return 0;
}

static int term_matches_class(const struct stv_snapshot *s, const struct stv_pod_term *t,
                              const struct stv_class *owner, const struct stv_class *c) {
  if (t->match_none) return 0;
  if (!stv_term_covers_ns(s, t, owner->ns, c->ns)) return 0;
  return stv_selector_matches(&t->sel, &c->labels);
}

static int spread_matches_class(const struct stv_spread *k, const struct stv_class *owner,
                                const struct stv_class *c) {
  if (k->match_none) return 0;
  /* kube-scheduler counts no pods for an empty selector (countPodsMatchSelector). */
  if (k->sel.n == 0) return 0;
  if (strcmp(owner->ns, c->ns) != 0) return 0;
  return stv_selector_matches(&k->sel, &c->labels);
}

/* ---------------------------------------------------------------------- */
/* Set-up                                                                 */

static int add_zone(struct solve *S, const char *z, size_t *cap) {
  if (z == NULL || zone_index(S, z) >= 0) return 0;
  if (stv_grow((void **)&S->zones, cap, S->nzones + 1, sizeof(*S->zones)) != 0) return STV_ENOMEM;
  S->zones[S->nzones++] = z;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int setup_zones(struct solve *S) {
  size_t i, cap = 0;
  for (i = 0; i < S->p->ntmpl; i++)
    if (add_zone(S, zone_of(&S->p->tmpl[i].labels), &cap)) return STV_ENOMEM;
  for (i = 0; i < S->s->nnodes; i++)
    if (add_zone(S, zone_of(&S->s->nodes[i].labels), &cap)) return STV_ENOMEM;
  if (S->nzones > 1) qsort(S->zones, S->nzones, sizeof(*S->zones), cmp_str);
  S->node_zone = stv_arena_alloc(&S->a, (S->s->nnodes + 1) * sizeof(int32_t));
  if (S->node_zone == NULL) return STV_ENOMEM;
  for (i = 0; i < S->s->nnodes; i++) S->node_zone[i] = zone_index(S, zone_of(&S->s->nodes[i].labels));
  return 0;
}

static int push_rule(struct solve *S, size_t *cap, struct rule *r) {
  if (stv_grow((void **)&S->rules, cap, S->nrules + 1, sizeof(*S->rules)) != 0) return STV_ENOMEM;
  S->rules[S->nrules++] = *r;
  return 0;
}

/* Resolves every class's required terms and spread constraints into rules. */
static int setup_rules(struct solve *S) {
  const struct stv_snapshot *s = S->s;
  size_t cap = 0, c, d, i, W = S->W;
  size_t *count, *zcount;
  int rc = 0;
  S->anti_host = stv_arena_alloc(&S->a, S->nclasses * W * 8 + 8);
  S->aff_host_any = stv_arena_alloc(&S->a, W * 8 + 8);
  S->spread_host_owner = stv_arena_alloc(&S->a, W * 8 + 8);
  S->class_rules = stv_arena_alloc(&S->a, S->nclasses * sizeof(*S->class_rules) + 8);
  if (!S->anti_host || !S->aff_host_any || !S->spread_host_owner || !S->class_rules) return STV_ENOMEM;
  for (c = 0; c < S->nclasses; c++) {
    const struct stv_class *k = s->classes[c];
    uint32_t j;
    for (j = 0; j < k->naff + k->nanti + k->nspread; j++) {
      struct rule r;
      memset(&r, 0, sizeof(r));
      r.owner = (uint32_t)c;
      r.match = stv_arena_alloc(&S->a, W * 8 + 8);
      if (r.match == NULL) return STV_ENOMEM;
      if (j < k->naff + k->nanti) {
        const struct stv_pod_term *t = j < k->naff ? &k->aff[j] : &k->anti[j - k->naff];
        r.kind = j < k->naff ? RULE_AFF : RULE_ANTI;
        r.level = level_of(t->topology_key);
        for (d = 0; d < S->nclasses; d++)
          if (term_matches_class(s, t, k, s->classes[d])) BIT_SET(r.match, d);
      } else {
        const struct stv_spread *sp = &k->spread[j - k->naff - k->nanti];
        if (!sp->do_not_schedule) continue; /* ScheduleAnyway is a preference */
        r.kind = RULE_SPREAD;
        r.level = level_of(sp->topology_key);
        r.max_skew = sp->max_skew;
        r.min_domains = sp->min_domains;
        r.spread = sp;
        for (d = 0; d < S->nclasses; d++)
          if (spread_matches_class(sp, k, s->classes[d])) BIT_SET(r.match, d);
      }
      r.self = (int)BIT_GET(r.match, c);
      if ((rc = push_rule(S, &cap, &r)) != 0) return rc;
    }
  }
  /* Per-class rule lists and the hostname anti-affinity relation, both ways. */
  count = stv_arena_alloc(&S->a, S->nclasses * sizeof(*count) + 8);
  if (count == NULL) return STV_ENOMEM;
  for (i = 0; i < S->nrules; i++) count[S->rules[i].owner]++;
  for (c = 0; c < S->nclasses; c++) {
    S->class_rules[c] = stv_arena_alloc(&S->a, (count[c] + 1) * sizeof(uint32_t));
    if (S->class_rules[c] == NULL) return STV_ENOMEM;
    count[c] = 0;
  }
  for (i = 0; i < S->nrules; i++) {
    struct rule *r = &S->rules[i];
    S->class_rules[r->owner][count[r->owner]++] = (uint32_t)i;
    if (r->kind == RULE_ANTI && r->level == LVL_HOST) {
      for (d = 0; d < S->nclasses; d++) {
        if (!BIT_GET(r->match, d)) continue;
        BIT_SET(&S->anti_host[r->owner * W], d);
        BIT_SET(&S->anti_host[d * W], r->owner);
      }
    }
    if (r->kind == RULE_AFF && r->level == LVL_HOST) BIT_SET(S->aff_host_any, r->owner);
    if (r->kind == RULE_SPREAD && r->level == LVL_HOST) BIT_SET(S->spread_host_owner, r->owner);
  }
  for (c = 0; c < S->nclasses; c++) S->class_rules[c][count[c]] = UINT32_MAX;
  /* Rules that count each class: hostname ones for per-node counters, zone ones for zone counts. */
  S->rules_counting = stv_arena_alloc(&S->a, S->nclasses * sizeof(*S->rules_counting) + 8);
  S->zrules_counting = stv_arena_alloc(&S->a, S->nclasses * sizeof(*S->zrules_counting) + 8);
  S->rule_anywhere = stv_arena_alloc(&S->a, S->nrules + 1);
  S->zcnt = stv_arena_alloc(&S->a, (S->nrules * S->nzones + 1) * sizeof(uint32_t));
  zcount = stv_arena_alloc(&S->a, S->nclasses * sizeof(*zcount) + 8);
  if (!S->rules_counting || !S->zrules_counting || !S->rule_anywhere || !S->zcnt || !zcount)
    return STV_ENOMEM;
  memset(count, 0, S->nclasses * sizeof(*count));
  for (i = 0; i < S->nrules; i++) {
    const struct rule *r = &S->rules[i];
    int host = r->level == LVL_HOST && r->kind != RULE_ANTI;
    if (!host && r->level != LVL_ZONE) continue;
    for (d = 0; d < S->nclasses; d++)
      if (BIT_GET(r->match, d)) (host ? count : zcount)[d]++;
  }
  for (c = 0; c < S->nclasses; c++) {
    S->rules_counting[c] = stv_arena_alloc(&S->a, (count[c] + 1) * sizeof(uint32_t));
    S->zrules_counting[c] = stv_arena_alloc(&S->a, (zcount[c] + 1) * sizeof(uint32_t));
    if (S->rules_counting[c] == NULL || S->zrules_counting[c] == NULL) return STV_ENOMEM;
    count[c] = zcount[c] = 0;
  }
  for (i = 0; i < S->nrules; i++) {
    const struct rule *r = &S->rules[i];
    int host = r->level == LVL_HOST && r->kind != RULE_ANTI;
    if (!host && r->level != LVL_ZONE) continue;
    for (d = 0; d < S->nclasses; d++) {
      if (!BIT_GET(r->match, d)) continue;
      if (host)
        S->rules_counting[d][count[d]++] = (uint32_t)i;
      else
        S->zrules_counting[d][zcount[d]++] = (uint32_t)i;
    }
  }
  for (c = 0; c < S->nclasses; c++) S->zrules_counting[c][zcount[c]] = UINT32_MAX;
  for (c = 0; c < S->nclasses; c++) S->rules_counting[c][count[c]] = UINT32_MAX;
  return 0;
}

/* Pods that zone-level rule ri counts in zone z (bound and assigned). */
static uint32_t zone_matches(const struct solve *S, uint32_t ri, size_t z) {
  return S->zcnt[(size_t)ri * S->nzones + z];
}

/* Counts one more pod of class c in zone z, for every rule that sees it. */
static void zone_add(struct solve *S, uint32_t c, size_t z) {
  const uint32_t *ri;
  S->zone_count[c * S->nzones + z]++;
  for (ri = S->zrules_counting[c]; *ri != UINT32_MAX; ri++) S->zcnt[(size_t)*ri * S->nzones + z]++;
}

/* Bound pods per existing node as (class, count) runs, and per-zone counts. */
static int setup_bound(struct solve *S) {
  const struct stv_snapshot *s = S->s;
  size_t i, n = s->nnodes;
  uint32_t *cnt_by_node = stv_arena_alloc(&S->a, (n + 1) * sizeof(uint32_t));
  uint32_t *fill;
  S->bound_off = stv_arena_alloc(&S->a, (n + 1) * sizeof(uint32_t));
  S->zone_count = stv_arena_alloc(&S->a, S->nclasses * (S->nzones + 1) * sizeof(uint32_t) + 8);
  if (!cnt_by_node || !S->bound_off || !S->zone_count) return STV_ENOMEM;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    if (p->node < 0 || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    cnt_by_node[p->node]++;
  }
  for (i = 0; i < n; i++) S->bound_off[i + 1] = S->bound_off[i] + cnt_by_node[i];
  S->bound_cls = stv_arena_alloc(&S->a, (S->bound_off[n] + 1) * sizeof(uint32_t));
  S->bound_cnt = stv_arena_alloc(&S->a, (S->bound_off[n] + 1) * sizeof(uint32_t));
  fill = stv_arena_alloc(&S->a, (n + 1) * sizeof(uint32_t));
  if (!S->bound_cls || !S->bound_cnt || !fill) return STV_ENOMEM;
  /* One entry per pod; runs of one class are rare enough not to merge. */
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    uint32_t at;
    int z;
    if (p->node < 0 || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    at = S->bound_off[p->node] + fill[p->node]++;
    S->bound_cls[at] = p->cls;
    S->bound_cnt[at] = 1;
    z = S->node_zone[p->node];
    if (z >= 0) zone_add(S, p->cls, (size_t)z);
    {
      const uint32_t *ri;
      for (ri = S->rules_counting[p->cls]; *ri != UINT32_MAX; ri++) S->rule_anywhere[*ri] = 1;
    }
  }
  return 0;
}

/* Value weights: hourly price per unit of each resource, fitted to the templates. */
static void setup_lambda(struct solve *S) {
  const struct stv_problem *p = S->p;
  double scc = 0, scm = 0, smm = 0, scp = 0, smp = 0;
  size_t i, n = 0;
  int r;
  for (r = 0; r < S->ndim; r++) S->lambda[r] = 0;
  for (i = 0; i < p->ntmpl; i++) {
    const struct stv_template *t = &p->tmpl[i];
    double c = (double)t->alloc[STV_RES_CPU] / 1000.0, m = (double)t->alloc[STV_RES_MEMORY] / 1073741824.0;
    int gpu = 0;
    for (r = STV_RES_FIXED; r < S->ndim; r++)
      if (t->alloc[r] > 0) gpu = 1;
    if (gpu || t->capacity_type != STV_CT_ON_DEMAND || c <= 0 || m <= 0) continue;
    scc += c * c;
    scm += c * m;
    smm += m * m;
    scp += c * t->price;
    smp += m * t->price;
    n++;
  }
  if (n >= 3 && fabs(scc * smm - scm * scm) > 1e-9 * (scc * smm)) {
    double det = scc * smm - scm * scm;
    double a = (scp * smm - smp * scm) / det, b = (smp * scc - scp * scm) / det;
    if (a > 0 && b > 0) {
      S->lambda[STV_RES_CPU] = a / 1000.0;
      S->lambda[STV_RES_MEMORY] = b / 1073741824.0;
    }
  }
  /* Otherwise, and for every other resource: the cheapest price per unit
   * among templates that offer it, split evenly over the resources used. */
  for (r = 0; r < S->ndim; r++) {
    double best = -1;
    if (S->lambda[r] > 0 || r == STV_RES_PODS) continue;
    for (i = 0; i < p->ntmpl; i++) {
      const struct stv_template *t = &p->tmpl[i];
      int k, used = 0;
      double v;
      if (t->alloc[r] <= 0) continue;
      for (k = 0; k < S->ndim; k++)
        if (k != STV_RES_PODS && t->alloc[k] > 0) used++;
      v = (t->price > 0 ? t->price : 1e-6) / (double)t->alloc[r] / (used ? used : 1);
      if (best < 0 || v < best) best = v;
    }
    S->lambda[r] = best > 0 ? best : 0;
  }
  S->lambda[STV_RES_PODS] = 0;
}

static double worth_of(const struct solve *S, const struct stv_class *c) {
  double w = 0;
  int r;
  for (r = 0; r < S->ndim; r++) w += S->lambda[r] * (double)c->req[r];
  /* Pods that need nothing measurable still take a slot. */
  return w > 0 ? w : 1e-9;
}

static int fits_vec(const int64_t *need, const int64_t *have, int ndim) {
  int r;
  for (r = 0; r < ndim; r++)
    if (need[r] > have[r]) return 0;
  return 1;
}

/* 1 when every bit of a is in b. */
static int bits_subset(const uint64_t *a, const uint64_t *b, size_t W) {
  size_t i;
  for (i = 0; i < W; i++)
    if (a[i] & ~b[i]) return 0;
  return 1;
}

struct price_key {
  double price;
  uint32_t index;
};

static int cmp_price(const void *a, const void *b) {
  const struct price_key *x = a, *y = b;
  if (x->price != y->price) return x->price < y->price ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Marks templates that can never be the better choice: another template in
 * the same zone, no dearer, with at least as much of every resource, taking
 * every class it takes and running no more DaemonSets. Only unlimited
 * templates dominate (a reserved count can run out). Candidates are tried
 * cheapest first against the undominated ones kept so far.
 */
static void mark_dominated(struct solve *S) {
  struct price_key *k = stv_malloc((S->nti + 1) * sizeof(*k));
  uint32_t *front = stv_malloc((S->nti + 1) * sizeof(*front));
  size_t i, j, nf = 0;
  if (k == NULL || front == NULL) goto out; /* pruning is an optimisation only */
  for (i = 0; i < S->nti; i++) {
    k[i].price = S->p->tmpl[S->ti[i].t].price;
    k[i].index = (uint32_t)i;
  }
  qsort(k, S->nti, sizeof(*k), cmp_price);
  for (i = 0; i < S->nti; i++) {
    struct tinfo *t = &S->ti[k[i].index];
    const uint64_t *ct = &S->compat[(size_t)k[i].index * S->W];
    for (j = 0; j < nf && !t->dominated; j++) {
      const struct tinfo *f = &S->ti[front[j]];
      if (f->zone != t->zone || f->limit_left >= 0) continue;
      if (!fits_vec(t->alloc, f->alloc, S->ndim)) continue;
      if (!bits_subset(ct, &S->compat[(size_t)front[j] * S->W], S->W)) continue;
      if (!bits_subset(f->presence, t->presence, S->W)) continue;
      t->dominated = 1;
    }
    if (!t->dominated) front[nf++] = k[i].index;
  }
out:
  stv_free(k);
  stv_free(front);
}

/* Appends the bytes of a selector (interned pointers) to a signature buffer. */
static size_t sig_selector(unsigned char *buf, size_t at, size_t cap, const struct stv_selector *sel) {
  uint32_t i, j;
#define SIG_PUT(v)                                                             \
  do {                                                                         \
    __typeof__(v) sig__v = (v);                                                \
    if (at + sizeof(sig__v) <= cap) memcpy(buf + at, &sig__v, sizeof(sig__v)); \
    at += sizeof(sig__v);                                                      \
  } while (0)
  SIG_PUT(sel->n);
  for (i = 0; i < sel->n; i++) {
    SIG_PUT(sel->reqs[i].key);
    SIG_PUT((int)sel->reqs[i].op);
    SIG_PUT(sel->reqs[i].nvalues);
    for (j = 0; j < sel->reqs[i].nvalues; j++) SIG_PUT(sel->reqs[i].values[j]);
  }
  return at;
}

/*
 * Placement signatures: classes with the same node selector, node affinity
 * and tolerations pass the static predicates on exactly the same nodes, so
 * each template is checked once per signature, not once per class.
 */
static int setup_signatures(struct solve *S) {
  size_t c, k, cap = 4096;
  unsigned char *buf = stv_malloc(cap);
  struct {
    unsigned char *bytes;
    size_t len;
  } *sigs = stv_malloc((S->nclasses + 1) * sizeof(*sigs));
  int rc = 0;
  S->sig = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t));
  if (buf == NULL || sigs == NULL || S->sig == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (c = 0; c < S->nclasses; c++) {
    const struct stv_class *k2 = S->s->classes[c];
    size_t at = 0;
    uint32_t i;
    at = sig_selector(buf, at, cap, &k2->node_selector);
    SIG_PUT(k2->affinity.n);
    for (i = 0; i < k2->affinity.n; i++) {
      at = sig_selector(buf, at, cap, &k2->affinity.terms[i].exprs);
      at = sig_selector(buf, at, cap, &k2->affinity.terms[i].fields);
    }
    SIG_PUT(k2->ntol);
    for (i = 0; i < k2->ntol; i++) {
      SIG_PUT(k2->tol[i].key);
      SIG_PUT(k2->tol[i].exists);
      SIG_PUT(k2->tol[i].value);
      SIG_PUT((int)k2->tol[i].effect);
    }
    /* A node must carry every DoNotSchedule spread's topology key. */
    for (i = 0; i < k2->nspread; i++)
      if (k2->spread[i].do_not_schedule) SIG_PUT(k2->spread[i].topology_key);
    if (at > cap) {
      /* Too long to share: a signature of its own. */
      S->sig[c] = (uint32_t)S->nsig;
      sigs[S->nsig].bytes = NULL;
      sigs[S->nsig++].len = 0;
      continue;
    }
    for (k = 0; k < S->nsig; k++)
      if (sigs[k].bytes && sigs[k].len == at && memcmp(sigs[k].bytes, buf, at) == 0) break;
    if (k == S->nsig) {
      sigs[k].bytes = stv_arena_alloc(&S->a, at + 1);
      if (sigs[k].bytes == NULL) {
        rc = STV_ENOMEM;
        goto out;
      }
      memcpy(sigs[k].bytes, buf, at);
      sigs[k].len = at;
      S->nsig++;
    }
    S->sig[c] = (uint32_t)k;
  }
#undef SIG_PUT
out:
  stv_free(buf);
  stv_free(sigs);
  return rc;
}

/* Template views, DaemonSet overhead, and the class compatibility matrix. */
static int setup_templates(struct solve *S) {
  const struct stv_problem *p = S->p;
  const struct stv_snapshot *s = S->s;
  size_t i, c, W = S->W;
  uint32_t *ds = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t)), *dsg;
  int64_t(*gmax)[STV_MAX_RES];
  unsigned char *sigfit;
  size_t nds = 0, ndsg = 0;
  int rc;
  if (ds == NULL) return STV_ENOMEM;
  /* DaemonSet classes, grouped by DaemonSet: one DaemonSet whose pods
   * differ (a rollout) has several classes, and a node reserves the largest
   * request of each resource among the variants that would run there. */
  dsg = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t));
  if (dsg == NULL) return STV_ENOMEM;
  for (c = 0; c < S->nclasses; c++) {
    size_t k;
    if (!s->classes[c]->daemonset) continue;
    dsg[nds] = (uint32_t)ndsg;
    for (k = 0; k < nds; k++) {
      const struct stv_class *o = s->classes[ds[k]];
      if (o->owner_uid != NULL && o->owner_uid == s->classes[c]->owner_uid) {
        dsg[nds] = dsg[k];
        break;
      }
    }
    if (dsg[nds] == ndsg) ndsg++;
    ds[nds++] = (uint32_t)c;
  }
  gmax = stv_arena_alloc(&S->a, (ndsg + 1) * sizeof(*gmax));
  if (gmax == NULL) return STV_ENOMEM;
  S->ti = stv_arena_alloc(&S->a, (p->ntmpl + 1) * sizeof(*S->ti));
  S->compat = stv_arena_alloc(&S->a, (p->ntmpl + 1) * W * 8);
  if (S->ti == NULL || S->compat == NULL) return STV_ENOMEM;
  if ((rc = setup_signatures(S)) != 0) return rc;
  sigfit = stv_arena_alloc(&S->a, S->nsig + 1);
  if (sigfit == NULL) return STV_ENOMEM;
  for (i = 0; i < p->ntmpl; i++) {
    const struct stv_template *t = &p->tmpl[i];
    struct tinfo *ti = &S->ti[S->nti];
    struct stv_node_view v = {NULL, &t->labels, t->ntaints, t->taints, 0};
    size_t k;
    int r, ok = 1;
    memset(ti, 0, sizeof(*ti));
    ti->t = (uint32_t)i;
    ti->zone = zone_index(S, zone_of(&t->labels));
    ti->limit_left = t->limit;
    if (t->limit == 0) continue;
    memcpy(ti->alloc, t->alloc, sizeof(ti->alloc));
    ti->daemons = stv_arena_alloc(&S->a, (nds + 1) * sizeof(uint32_t));
    ti->presence = stv_arena_alloc(&S->a, W * 8 + 8);
    if (ti->daemons == NULL || ti->presence == NULL) return STV_ENOMEM;
    memset(gmax, 0, (ndsg + 1) * sizeof(*gmax));
    for (k = 0; k < nds; k++) {
      const struct stv_class *d = s->classes[ds[k]];
      if (!stv_class_fits_node(d, &v, NULL, 0)) continue;
      for (r = 0; r < S->ndim; r++)
        if (d->req[r] > gmax[dsg[k]][r]) gmax[dsg[k]][r] = d->req[r];
      ti->daemons[ti->ndaemons++] = ds[k];
      BIT_SET(ti->presence, ds[k]);
    }
    for (k = 0; k < ndsg; k++)
      for (r = 0; r < S->ndim; r++) ti->alloc[r] -= gmax[k][r];
    for (r = 0; r < S->ndim; r++)
      if (ti->alloc[r] < 0) ok = 0;
    if (!ok) continue; /* the DaemonSets alone do not fit */
    memset(sigfit, 0, S->nsig);
    for (c = 0; c < S->nclasses; c++) {
      const struct stv_class *k2 = s->classes[c];
      if (k2->daemonset || k2->npending == 0) continue;
      if (!fits_vec(k2->req, ti->alloc, S->ndim)) continue;
      /* The static predicates depend only on the class's placement signature. */
      if (sigfit[S->sig[c]] == 0) sigfit[S->sig[c]] = stv_class_fits_node(k2, &v, NULL, 0) ? 1 : 2;
      if (sigfit[S->sig[c]] != 1) continue;
      BIT_SET(&S->compat[S->nti * W], c);
    }
    S->nti++;
  }
  mark_dominated(S);
  /* Classes some template can take at all. */
  S->tmpl_any = stv_arena_alloc(&S->a, W * 8 + 8);
  if (S->tmpl_any == NULL) return STV_ENOMEM;
  for (i = 0; i < S->nti; i++) {
    size_t w;
    for (w = 0; w < W; w++) S->tmpl_any[w] |= S->compat[i * W + w];
  }
  S->ti_zone_of_tmpl = stv_arena_alloc(&S->a, (p->ntmpl + 1) * sizeof(int32_t));
  if (S->ti_zone_of_tmpl == NULL) return STV_ENOMEM;
  for (i = 0; i < p->ntmpl; i++) S->ti_zone_of_tmpl[i] = zone_index(S, zone_of(&p->tmpl[i].labels));
  return 0;
}

/*
 * Whether a node is a domain of spread rule r: it has the topology key and
 * passes the owner's node selector and affinity (nodeAffinityPolicy Honor)
 * and, with nodeTaintsPolicy Honor, its taints are tolerated.
 */
static int spread_eligible(const struct rule *r, const struct stv_class *owner,
                           const struct stv_node_view *v) {
  struct stv_class probe = *owner;
  struct stv_node_view w = *v;
  const struct stv_spread *sp = r->spread;
  if (r->level == LVL_ZONE && zone_of(v->labels) == NULL) return 0;
  w.unschedulable = 0;
  if (!sp->honor_taints) {
    w.ntaints = 0;
    w.taints = NULL;
  } else if (v->unschedulable) {
    /* A cordoned node carries node.kubernetes.io/unschedulable:NoSchedule. */
    struct stv_taint cordon = {"node.kubernetes.io/unschedulable", "", STV_EFFECT_NO_SCHEDULE};
    if (!stv_tolerates(owner->tol, owner->ntol, &cordon)) return 0;
  }
  if (!sp->honor_node_affinity) {
    probe.node_selector.n = 0;
    probe.affinity.n = 0;
  }
  return stv_class_fits_node(&probe, &w, NULL, 0);
}

/*
 * Fills r->elig of every hostname and zone spread rule. Eligibility depends
 * only on the owner's placement signature (node selector, affinity,
 * tolerations, the topology keys of its DoNotSchedule spreads), the rule's
 * level and its two node policies, so each distinct combination is
 * evaluated once against every node and template.
 */
static int setup_spread_elig(struct solve *S) {
  const struct stv_snapshot *s = S->s;
  size_t ri, i, nn = s->nnodes, len = s->nnodes + S->p->ntmpl;
  unsigned char **rows = stv_arena_alloc(&S->a, (S->nsig * 8 + 1) * sizeof(*rows));
  if (rows == NULL) return STV_ENOMEM;
  memset(rows, 0, (S->nsig * 8 + 1) * sizeof(*rows));
  for (ri = 0; ri < S->nrules; ri++) {
    struct rule *r = &S->rules[ri];
    const struct stv_class *owner = s->classes[r->owner];
    unsigned char *row;
    size_t key;
    if (r->kind != RULE_SPREAD || r->level == LVL_OTHER) continue;
    key = (size_t)S->sig[r->owner] * 8 + (r->level == LVL_ZONE ? 4u : 0u) +
          (r->spread->honor_taints ? 2u : 0u) + (r->spread->honor_node_affinity ? 1u : 0u);
    if (rows[key] != NULL) {
      r->elig = rows[key];
      continue;
    }
    if ((row = stv_arena_alloc(&S->a, len + 1)) == NULL) return STV_ENOMEM;
    for (i = 0; i < nn; i++) {
      const struct stv_node *n = &s->nodes[i];
      struct stv_node_view v = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
      row[i] = (unsigned char)spread_eligible(r, owner, &v);
    }
    for (i = 0; i < S->p->ntmpl; i++) {
      const struct stv_template *t = &S->p->tmpl[i];
      struct stv_node_view v = {NULL, &t->labels, t->ntaints, t->taints, 0};
      row[nn + i] = (unsigned char)spread_eligible(r, owner, &v);
    }
    r->elig = rows[key] = row;
  }
  return 0;
}

/* Zones that are domains of each zone-level spread rule. */
static int setup_rule_zones(struct solve *S) {
  size_t ri, i, nn = S->s->nnodes;
  for (ri = 0; ri < S->nrules; ri++) {
    struct rule *r = &S->rules[ri];
    const struct stv_class *owner = S->s->classes[r->owner];
    if (r->kind != RULE_SPREAD || r->level != LVL_ZONE) continue;
    r->zelig = stv_arena_alloc(&S->a, S->nzones + 1);
    if (r->zelig == NULL) return STV_ENOMEM;
    /*
     * A zone where only templates are is a domain once the plan opens a node
     * there; counted from the start when the owner could get a node of its
     * own there (it fits a template of the zone), so that its pods spread
     * into it. Zones the plan opens nodes in for other pods are added by the
     * final check.
     */
    for (i = 0; i < S->nti; i++) {
      const struct tinfo *ti = &S->ti[i];
      const struct stv_template *t = &S->p->tmpl[ti->t];
      struct stv_node_view v = {NULL, &t->labels, t->ntaints, t->taints, 0};
      int z = ti->zone;
      if (z < 0 || r->zelig[z] || !r->elig[nn + ti->t]) continue;
      if (fits_vec(owner->req, ti->alloc, S->ndim) && stv_class_fits_node(owner, &v, NULL, 0))
        r->zelig[z] = 1;
    }
    for (i = 0; i < S->s->nnodes; i++) {
      int z = zone_index(S, zone_of(&S->s->nodes[i].labels));
      uint32_t b;
      if (r->elig[i]) {
        if (z >= 0) r->zelig[z] = 1;
        continue;
      }
      /* Pods on a node that is not a domain of the rule do not count for it. */
      if (z < 0) continue;
      for (b = S->bound_off[i]; b < S->bound_off[i + 1]; b++)
        if (BIT_GET(r->match, S->bound_cls[b])) S->zcnt[ri * S->nzones + (size_t)z] -= S->bound_cnt[b];
    }
    /* Nor do terminating pods (kube-scheduler skips them), on a domain node. */
    for (i = 0; i < S->s->npods; i++) {
      const struct stv_pod *p = &S->s->pods[i];
      int32_t z;
      if (!p->terminating || p->node < 0 || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED)
        continue;
      if (!BIT_GET(r->match, p->cls) || (z = S->node_zone[p->node]) < 0) continue;
      if (r->elig[p->node]) S->zcnt[ri * S->nzones + (size_t)z]--;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Zone assignment                                                        */

static int class_zone_bound(const struct solve *S, uint32_t c) {
  uint32_t *ri;
  for (ri = S->class_rules[c]; *ri != UINT32_MAX; ri++) {
    const struct rule *r = &S->rules[*ri];
    if (r->level == LVL_ZONE) return 1;
  }
  return 0;
}

/* Zones where class c could run at all: a compatible template or an existing node. */
static uint32_t resource_cap(const struct solve *S, const int64_t *freev, const int64_t *req, uint32_t want) {
  int r;
  for (r = 0; r < S->ndim; r++) {
    int64_t k, need;
    if (req[r] <= 0) continue;
    if (freev[r] < req[r]) return 0;
    /* Divide only when the whole want does not fit. */
    if (!__builtin_mul_overflow(req[r], (int64_t)want, &need) && need <= freev[r]) continue;
    k = freev[r] / req[r];
    if (k < (int64_t)want) want = (uint32_t)k;
  }
  return want;
}

/*
 * How many pods of class c each zone can take, and what one costs there.
 * room is unlimited (UINT32_MAX) where an unlimited compatible template
 * exists, otherwise what limited templates (reserved counts) and the free
 * room of existing nodes hold for c alone (other pods may take some of it
 * first). cost is the cheapest price per pod of c among the zone's
 * templates (0 for existing room, HUGE_VAL when none).
 */
static void usable_zones(const struct solve *S, uint32_t c, uint32_t *room, double *cost) {
  const struct stv_snapshot *s = S->s;
  const struct stv_class *k = s->classes[c];
  size_t i;
  memset(room, 0, S->nzones * sizeof(*room));
  for (i = 0; i < S->nzones; i++) cost[i] = HUGE_VAL;
  for (i = 0; i < S->nti; i++) {
    const struct tinfo *t = &S->ti[i];
    uint32_t per;
    double unit;
    if (t->zone < 0 || !BIT_GET(&S->compat[i * S->W], c)) continue;
    per = resource_cap(S, t->alloc, k->req, UINT32_MAX - 1);
    if (per == 0) continue;
    unit = S->p->tmpl[t->t].price / per;
    if (unit < cost[t->zone]) cost[t->zone] = unit;
    if (t->limit_left < 0) {
      room[t->zone] = UINT32_MAX;
    } else if (room[t->zone] != UINT32_MAX) {
      uint64_t add = (uint64_t)per * (uint64_t)t->limit_left + room[t->zone];
      room[t->zone] = add >= UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)add;
    }
  }
  for (i = 0; i < s->nnodes; i++) {
    const struct stv_node *n = &s->nodes[i];
    struct stv_node_view v = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
    int32_t z = S->node_zone[i];
    int64_t freev[STV_MAX_RES];
    uint32_t fit;
    int r;
    if (z < 0 || room[z] == UINT32_MAX) continue;
    for (r = 0; r < S->ndim; r++) freev[r] = n->alloc[r] - n->used[r];
    fit = resource_cap(S, freev, k->req, UINT32_MAX - 1);
    if (fit == 0 || !stv_class_fits_node(k, &v, NULL, 0)) continue;
    room[z] = room[z] + fit >= UINT32_MAX - 1 ? UINT32_MAX - 1 : room[z] + fit;
    cost[z] = 0;
  }
}

static void explain(const struct solve *S, uint32_t c, char *why, size_t size);

/* Checks the zone-level rules for one more pod of c in zone z; why on failure. */
static int zone_allows(const struct solve *S, uint32_t c, size_t z, char *why, size_t whysize) {
  const struct stv_snapshot *s = S->s;
  const uint32_t *ri;
  size_t zz;
  for (ri = S->class_rules[c]; *ri != UINT32_MAX; ri++) {
    const struct rule *r = &S->rules[*ri];
    if (r->level != LVL_ZONE) continue;
    if (r->kind == RULE_ANTI && zone_matches(S, *ri, z) > 0) {
      snprintf(why, whysize, "required pod anti-affinity (zone) of %s", s->classes[c]->example);
      return 0;
    }
    if (r->kind == RULE_AFF && zone_matches(S, *ri, z) == 0) {
      /* The first pod of a group that matches its own term may go anywhere. */
      int any = 0;
      for (zz = 0; zz < S->nzones && !any; zz++) any = zone_matches(S, *ri, zz) > 0;
      if (any || !r->self) {
        snprintf(why, whysize, "required pod affinity (zone): no matching pod in a zone it can use");
        return 0;
      }
    }
    if (r->kind == RULE_SPREAD) {
      uint32_t min = UINT32_MAX, here = zone_matches(S, *ri, z) + 1;
      size_t ndom = 0;
      for (zz = 0; zz < S->nzones; zz++) {
        uint32_t v;
        if (!r->zelig[zz] && zz != z) continue;
        ndom++;
        v = zone_matches(S, *ri, zz) + (zz == z && BIT_GET(r->match, c) ? 1 : 0);
        if (v < min) min = v;
      }
      if (r->min_domains > 0 && ndom < (size_t)r->min_domains) min = 0;
      if (!BIT_GET(r->match, c)) here--;
      if (min != UINT32_MAX && here > min + (uint32_t)r->max_skew) {
        snprintf(why, whysize, "topology spread (zone, maxSkew %d) cannot be met", r->max_skew);
        return 0;
      }
    }
  }
  /* Other classes' rules that count c. */
  for (ri = S->zrules_counting[c]; *ri != UINT32_MAX; ri++) {
    const struct rule *r = &S->rules[*ri];
    if (r->owner == c) continue;
    if (r->kind == RULE_ANTI && S->zone_count[r->owner * S->nzones + z] > 0) {
      snprintf(why, whysize, "required pod anti-affinity (zone) of %s", s->classes[r->owner]->example);
      return 0;
    }
    if (r->kind == RULE_SPREAD && S->zone_count[r->owner * S->nzones + z] > 0) {
      uint32_t min = UINT32_MAX;
      for (zz = 0; zz < S->nzones; zz++) {
        uint32_t v;
        if (!r->zelig[zz]) continue;
        v = zone_matches(S, *ri, zz);
        if (v < min) min = v;
      }
      if (zone_matches(S, *ri, z) + 1 > min + (uint32_t)r->max_skew) {
        snprintf(why, whysize, "would break the zone topology spread of %s", s->classes[r->owner]->example);
        return 0;
      }
    }
  }
  return 1;
}

/* Does class c take part in zone-level rules (its own or others' that count it)? */
static int zone_participant(const struct solve *S, uint32_t c) {
  const uint32_t *ri;
  if (class_zone_bound(S, c)) return 1;
  for (ri = S->zrules_counting[c]; *ri != UINT32_MAX; ri++)
    if (S->s->classes[S->rules[*ri].owner]->npods > 0) return 1;
  return 0;
}

static int new_group(struct solve *S, size_t *cap, uint32_t c, int32_t zone, uint32_t *pods, uint32_t n) {
  struct group *g;
  if (stv_grow((void **)&S->g, cap, S->ng + 1, sizeof(*S->g)) != 0) return STV_ENOMEM;
  g = &S->g[S->ng++];
  memset(g, 0, sizeof(*g));
  g->cls = c;
  g->zone = zone;
  g->remaining = g->total = n;
  g->pods = pods;
  g->worth = worth_of(S, S->s->classes[c]);
  return 0;
}

static int has_unsupported_rule(const struct solve *S, uint32_t c, char *why, size_t whysize) {
  uint32_t *ri;
  if (S->s->classes[c]->blocked != NULL) {
    snprintf(why, whysize, "%s", S->s->classes[c]->blocked);
    return 1;
  }
  for (ri = S->class_rules[c]; *ri != UINT32_MAX; ri++) {
    const struct rule *r = &S->rules[*ri];
    if (r->level == LVL_OTHER) {
      const char *key = r->spread ? r->spread->topology_key : "a custom key";
      snprintf(why, whysize, "topologyKey %s is not supported by the planner (only %s and %s)", key, HOST_KEY,
               ZONE_KEY);
      return 1;
    }
  }
  return 0;
}

static int setup_groups(struct solve *S) {
  const struct stv_snapshot *s = S->s;
  size_t cap = 0, i, c, pass;
  uint32_t *start = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t));
  uint32_t *all = stv_arena_alloc(&S->a, (s->npods + 1) * sizeof(uint32_t));
  uint32_t *fill = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t));
  uint32_t *room = stv_arena_alloc(&S->a, (S->nzones + 1) * sizeof(uint32_t));
  uint32_t *zc = stv_arena_alloc(&S->a, (S->nzones + 1) * sizeof(uint32_t));
  int32_t *zsel;
  int own_spread, any_room;
  double *zcost = stv_arena_alloc(&S->a, (S->nzones + 1) * sizeof(double));
  char why[200];
  if (!start || !all || !fill || !room || !zc || !zcost) return STV_ENOMEM;
  /* Pending pods by class, in snapshot order. */
  for (c = 0; c < S->nclasses; c++) start[c + 1] = start[c] + s->classes[c]->npending;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    const struct stv_class *k = s->classes[p->cls];
    if (p->node >= 0 || k->daemonset || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED)
      continue;
    if (p->flags & STV_POD_NODE_MISSING) continue;
    if (p->not_planned != STV_NP_NONE) continue; /* listed in plan->skipped */
    all[start[p->cls] + fill[p->cls]++] = (uint32_t)i;
  }
  /* Classes without pod-affinity rules first, so that affinity finds its targets. */
  for (pass = 0; pass < 2; pass++) {
    for (c = 0; c < S->nclasses; c++) {
      const struct stv_class *k = s->classes[c];
      uint32_t *pods = all + start[c], n = k->npending, j;
      int has_aff = k->naff > 0;
      size_t z;
      if (n == 0 || k->daemonset || (size_t)has_aff != pass) continue;
      if (has_unsupported_rule(S, (uint32_t)c, why, sizeof(why))) {
        for (j = 0; j < n; j++)
          if (add_unsched(S, pods[j], why)) return STV_ENOMEM;
        continue;
      }
      if (S->nzones == 0 || !zone_participant(S, (uint32_t)c)) {
        if (new_group(S, &cap, (uint32_t)c, -1, pods, n)) return STV_ENOMEM;
        continue;
      }
      usable_zones(S, (uint32_t)c, room, zcost);
      own_spread = 0;
      {
        const uint32_t *ri;
        for (ri = S->class_rules[c]; *ri != UINT32_MAX; ri++)
          if (S->rules[*ri].kind == RULE_SPREAD && S->rules[*ri].level == LVL_ZONE) own_spread = 1;
      }
      any_room = 0;
      for (z = 0; z < S->nzones; z++) any_room |= room[z] > 0;
      memset(zc, 0, S->nzones * sizeof(*zc));
      zsel = stv_arena_alloc(&S->a, (n + 1) * sizeof(int32_t));
      if (zsel == NULL) return STV_ENOMEM;
      /*
       * One pod at a time. A class with a zone spread of its own water-fills:
       * the allowed zone with the fewest of its kind, the cheaper on a tie.
       * Any other class goes where new nodes can be had without limit, then
       * where its pods cost least, then where fewest of its kind are.
       */
      for (j = 0; j < n; j++) {
        int best = -1;
        why[0] = '\0';
        for (z = 0; z < S->nzones; z++) {
          uint32_t cz, cb;
          if (zc[z] >= room[z]) continue;
          if (!zone_allows(S, (uint32_t)c, z, why, sizeof(why))) continue;
          if (best < 0) {
            best = (int)z;
            continue;
          }
          cz = S->zone_count[c * S->nzones + z];
          cb = S->zone_count[c * S->nzones + (size_t)best];
          if (own_spread) {
            if (cz < cb || (cz == cb && zcost[z] < zcost[best])) best = (int)z;
            continue;
          }
          if ((room[z] == UINT32_MAX) != (room[best] == UINT32_MAX)) {
            if (room[z] == UINT32_MAX) best = (int)z;
            continue;
          }
          if (zcost[z] != zcost[best]) {
            if (zcost[z] < zcost[best]) best = (int)z;
            continue;
          }
          if (cz < cb) best = (int)z;
        }
        zsel[j] = best;
        if (best < 0) {
          /* Nowhere at all: say why as for any pod that fits nowhere. */
          if (!any_room)
            explain(S, (uint32_t)c, why, sizeof(why));
          else if (why[0] == '\0')
            snprintf(why, sizeof(why), "the zones it may use have no room left for it");
          if (add_unsched(S, pods[j], why)) return STV_ENOMEM;
          continue;
        }
        zone_add(S, (uint32_t)c, (size_t)best);
        zc[best]++;
      }
      /* One group per zone, pods in snapshot order. */
      for (z = 0; z < S->nzones; z++) {
        uint32_t *zp, at = 0;
        if (zc[z] == 0) continue;
        zp = stv_arena_alloc(&S->a, (zc[z] + 1) * sizeof(uint32_t));
        if (zp == NULL) return STV_ENOMEM;
        for (j = 0; j < n; j++)
          if (zsel[j] == (int32_t)z) zp[at++] = pods[j];
        if (new_group(S, &cap, (uint32_t)c, (int32_t)z, zp, zc[z])) return STV_ENOMEM;
      }
    }
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Filling nodes                                                          */

/* Resets the scratch node to an empty node of template ti (or blank). */
static void cand_reset(struct solve *S, struct nstate *n) {
  uint32_t i;
  for (i = 0; i < n->npat; i++) n->gcount[n->pat_g[i]] = 0;
  n->npat = 0;
  for (i = 0; i < n->ntouched; i++) {
    n->rcnt[n->touched[i]] = 0;
    n->tmark[n->touched[i]] = 0;
  }
  n->ntouched = 0;
  memset(n->presence, 0, S->W * 8);
}

static void count_class(struct solve *S, struct nstate *n, uint32_t c, uint32_t k) {
  const uint32_t *ri;
  for (ri = S->rules_counting[c]; *ri != UINT32_MAX; ri++) {
    if (!n->tmark[*ri]) {
      n->tmark[*ri] = 1;
      n->touched[n->ntouched++] = *ri;
    }
    n->rcnt[*ri] += k;
  }
  BIT_SET(n->presence, c);
}

/* How many more pods of class c the hostname-level rules allow on n. */
static uint32_t host_cap(struct solve *S, const struct nstate *n, uint32_t c, uint32_t want, int *first) {
  const uint64_t *anti = &S->anti_host[(size_t)c * S->W];
  const uint32_t *ri;
  *first = 0;
  if (stv__bits_intersect(anti, n->presence, S->W)) return 0;
  if (BIT_GET(anti, c) && want > 1) want = 1; /* self anti-affinity: one per node */
  for (ri = S->class_rules[c]; *ri != UINT32_MAX && want > 0; ri++) {
    const struct rule *r = &S->rules[*ri];
    uint32_t have;
    if (r->level != LVL_HOST) continue;
    have = n->rcnt[*ri];
    if (r->kind == RULE_SPREAD) {
      if (BIT_GET(r->match, c)) {
        uint32_t room = have >= (uint32_t)r->max_skew ? 0 : (uint32_t)r->max_skew - have;
        if (room < want) want = room;
      } else if (have > (uint32_t)r->max_skew) {
        want = 0;
      }
    } else if (r->kind == RULE_AFF && have == 0) {
      /* The first pod of a self-affine group starts it anywhere; after that
       * its pods must go where the group is. */
      if (S->rule_anywhere[*ri] || !r->self) return 0;
      *first = 1;
    }
  }
  /* Spread rules of classes already on the node that count c. */
  for (ri = S->rules_counting[c]; *ri != UINT32_MAX && want > 0; ri++) {
    const struct rule *r = &S->rules[*ri];
    uint32_t have = n->rcnt[*ri];
    if (r->kind != RULE_SPREAD || r->owner == c || !BIT_GET(n->presence, r->owner)) continue;
    if (have >= (uint32_t)r->max_skew)
      want = 0;
    else if (want > (uint32_t)r->max_skew - have)
      want = (uint32_t)r->max_skew - have;
  }
  return want;
}

static void node_add(struct solve *S, struct nstate *n, uint32_t gi, uint32_t k) {
  const struct stv_class *c = S->s->classes[S->g[gi].cls];
  int r;
  for (r = 0; r < S->ndim; r++) n->free[r] -= c->req[r] * (int64_t)k;
  if (n->gcount[gi] == 0) n->pat_g[n->npat++] = gi;
  n->gcount[gi] += k;
  count_class(S, n, S->g[gi].cls, k);
}

/* Undoes node_add(S, n, gi, k) when gi was the last group added. */
static void node_remove(struct solve *S, struct nstate *n, uint32_t gi, uint32_t k) {
  uint32_t c = S->g[gi].cls;
  const struct stv_class *kc = S->s->classes[c];
  const uint32_t *ri;
  int r;
  for (r = 0; r < S->ndim; r++) n->free[r] += kc->req[r] * (int64_t)k;
  n->gcount[gi] -= k;
  if (n->gcount[gi] == 0) {
    n->npat--; /* LIFO: gi is the last entry */
    if (n->base == NULL || !BIT_GET(n->base, c)) n->presence[c >> 6] &= ~((uint64_t)1 << (c & 63));
  }
  for (ri = S->rules_counting[c]; *ri != UINT32_MAX; ri++) n->rcnt[*ri] -= k;
}

/* 1 when no remaining group can fit in free any more. */
static int is_full(const struct solve *S, const int64_t *freev) {
  int r;
  for (r = 0; r < S->ndim; r++)
    if (freev[r] < S->minreq[r]) return 1;
  return 0;
}

/*
 * Fills n greedily with the remaining groups, in S->order, each as many
 * times as fits. Returns 1 when a self-affine group was started here (the
 * node then cannot be copied).
 */
static int fill_node(struct solve *S, struct nstate *n, const uint64_t *compat, const uint32_t *remaining) {
  const uint32_t *list = S->act[n->zone >= 0 ? (size_t)n->zone : S->nzones];
  size_t oi, nlist = S->nact[n->zone >= 0 ? (size_t)n->zone : S->nzones];
  int pinned = 0;
  for (oi = 0; oi < nlist; oi++) {
    uint32_t gi = list[oi];
    struct group *g = &S->g[gi];
    const struct stv_class *c = S->s->classes[g->cls];
    uint32_t want = remaining[gi] - n->gcount[gi], k;
    int first = 0;
    if (want == 0) continue;
    if (!BIT_GET(compat, g->cls)) continue;
    k = resource_cap(S, n->free, c->req, want);
    if (k == 0) continue;
    k = host_cap(S, n, g->cls, k, &first);
    if (k == 0) continue;
    node_add(S, n, gi, k);
    if (first) pinned = 1;
    if (is_full(S, n->free)) break;
  }
  return pinned;
}

/*
 * Rebuilds the per-zone lists of groups with pods left, in S->order: list z
 * holds the groups a node in zone z may take (zone z or any zone); the
 * last list, for nodes without a zone, the groups of any zone.
 */
static void update_active(struct solve *S, const uint32_t *remaining) {
  size_t z, oi;
  for (z = 0; z <= S->nzones; z++) S->nact[z] = 0;
  for (oi = 0; oi < S->ng; oi++) {
    uint32_t gi = S->order[oi];
    const struct group *g = &S->g[gi];
    if (remaining[gi] == 0) continue;
    if (g->zone >= 0) {
      S->act[g->zone][S->nact[g->zone]++] = gi;
      continue;
    }
    for (z = 0; z <= S->nzones; z++) S->act[z][S->nact[z]++] = gi;
  }
}

/*
 * Bounded subset search for one node, in the manner of Gupta and Ho's
 * Minimum Bin Slack: the first group (in S->order) that fits is forced in,
 * then groups are tried in order with counts from the most that fit down
 * to zero, keeping the pattern of greatest worth. Branches whose worth
 * plus the worth of the node's free room cannot beat the best are cut; the
 * search stops after limit tree nodes (deterministic). On return n holds
 * the best pattern found, never worse than the greedy fill it starts from.
 */
struct search {
  struct solve *S;
  struct nstate *n;
  const uint64_t *compat;
  const uint32_t *remaining;
  long budget;
  double best;
  uint32_t nbest;
  uint32_t *best_g, *best_k;
};

static double room_worth(const struct solve *S, const int64_t *freev) {
  double w = 0;
  int r;
  for (r = 0; r < S->ndim; r++)
    if (S->lambda[r] > 0 && freev[r] > 0) w += S->lambda[r] * (double)freev[r];
  return w;
}

static void search_record(struct search *x, double value) {
  uint32_t i;
  x->best = value;
  x->nbest = x->n->npat;
  for (i = 0; i < x->n->npat; i++) {
    x->best_g[i] = x->n->pat_g[i];
    x->best_k[i] = x->n->gcount[x->n->pat_g[i]];
  }
}

static void search_dfs(struct search *x, size_t from, double value) {
  struct solve *S = x->S;
  struct nstate *n = x->n;
  size_t oi;
  if (value > x->best + 1e-12) search_record(x, value);
  for (oi = from; oi < S->ng && x->budget > 0; oi++) {
    uint32_t gi = S->order[oi], k;
    const struct group *g = &S->g[gi];
    int first = 0;
    x->budget--; /* every group looked at costs, not only the ones added */
    if (value + room_worth(S, n->free) <= x->best + 1e-12) return;
    if (x->remaining[gi] <= n->gcount[gi]) continue;
    if (g->zone >= 0 && g->zone != n->zone) continue;
    if (!BIT_GET(x->compat, g->cls)) continue;
    k = resource_cap(S, n->free, S->s->classes[g->cls]->req, x->remaining[gi] - n->gcount[gi]);
    if (k == 0) continue;
    k = host_cap(S, n, g->cls, k, &first);
    if (k == 0 || first) continue;
    for (; k > 0 && x->budget > 0; k--) {
      node_add(S, n, gi, k);
      search_dfs(x, oi + 1, value + k * g->worth);
      node_remove(S, n, gi, k);
    }
  }
}

/* Nodes of more pods than this keep their greedy fill. */
#define SEARCH_MAX_PODS 24
/* Nor do nodes the greedy fill left less than this share of room in. */
#define SEARCH_MIN_ROOM 0.005

static int fill_search(struct solve *S, struct nstate *n, const uint64_t *compat, const uint32_t *remaining,
                       long limit) {
  struct search x;
  size_t oi;
  uint32_t i, forced = UINT32_MAX, kmax = 0;
  double greedy = 0;
  int rc = 0;
  /* The greedy fill is the baseline. */
  (void)fill_node(S, n, compat, remaining);
  for (i = 0; i < n->npat; i++) greedy += n->gcount[n->pat_g[i]] * S->g[n->pat_g[i]].worth;
  memset(&x, 0, sizeof(x));
  x.S = S;
  x.n = n;
  x.compat = compat;
  x.remaining = remaining;
  x.budget = limit < S->search_left ? limit : S->search_left;
  x.best_g = stv_malloc((S->ng + 1) * sizeof(uint32_t));
  x.best_k = stv_malloc((S->ng + 1) * sizeof(uint32_t));
  if (x.best_g == NULL || x.best_k == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  search_record(&x, greedy);
  if (n->npat == 0) goto out;
  /*
   * The search pays where a node holds few pods, so that which ones is a
   * real choice, and the greedy fill left room. A node of many small pods
   * is already nearly full.
   */
  {
    uint32_t pods = 0;
    double room = room_worth(S, n->free), all = room_worth(S, S->ti[n->tmpl].alloc);
    for (i = 0; i < n->npat; i++) pods += n->gcount[n->pat_g[i]];
    if (pods > SEARCH_MAX_PODS || room <= SEARCH_MIN_ROOM * all) goto out;
  }
  /* Empty the node back to its base, then force the first group that fits. */
  while (n->npat > 0) {
    uint32_t gi = n->pat_g[n->npat - 1];
    node_remove(S, n, gi, n->gcount[gi]);
  }
  for (oi = 0; oi < S->ng && forced == UINT32_MAX; oi++) {
    uint32_t gi = S->order[oi];
    const struct group *g = &S->g[gi];
    int first = 0;
    if (remaining[gi] == 0 || (g->zone >= 0 && g->zone != n->zone) || !BIT_GET(compat, g->cls)) continue;
    kmax = resource_cap(S, n->free, S->s->classes[g->cls]->req, remaining[gi]);
    if (kmax) kmax = host_cap(S, n, g->cls, kmax, &first);
    if (kmax && !first) forced = (uint32_t)oi;
  }
  if (forced != UINT32_MAX) {
    uint32_t gi = S->order[forced], k;
    for (k = kmax; k > 0 && x.budget > 0; k--) {
      x.budget--;
      node_add(S, n, gi, k);
      search_dfs(&x, forced + 1, k * S->g[gi].worth);
      node_remove(S, n, gi, k);
    }
  }
  S->search_left -= (limit < S->search_left ? limit : S->search_left) - x.budget;
  /* Rebuild the best pattern. */
  for (i = 0; i < x.nbest; i++) node_add(S, n, x.best_g[i], x.best_k[i]);
out:
  stv_free(x.best_g);
  stv_free(x.best_k);
  return rc;
}

static int nstate_init(struct solve *S, struct nstate *n) {
  memset(n, 0, sizeof(*n));
  n->presence = stv_arena_alloc(&S->a, S->W * 8 + 8);
  n->gcount = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(uint32_t));
  n->pat_g = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(uint32_t));
  n->rcnt = stv_arena_alloc(&S->a, (S->nrules + 1) * sizeof(uint32_t));
  n->touched = stv_arena_alloc(&S->a, (S->nrules + 1) * sizeof(uint32_t));
  n->tmark = stv_arena_alloc(&S->a, S->nrules + 1);
  return n->presence && n->gcount && n->pat_g && n->rcnt && n->touched && n->tmark ? 0 : STV_ENOMEM;
}

/* Keeps a filled node (sparse copy of its pattern) with mult copies. */
static int push_node(struct solve *S, const struct nstate *n, uint32_t mult) {
  size_t cap = S->cap_nodes;
  struct kept *k;
  uint32_t i;
  if (stv_grow((void **)&S->nodes, &S->cap_nodes, S->nnodes + 1, sizeof(*S->nodes)) != 0) return STV_ENOMEM;
  (void)cap;
  k = &S->nodes[S->nnodes];
  k->existing = n->existing;
  k->tmpl = n->tmpl;
  k->mult = mult;
  k->npat = n->npat;
  k->g = stv_arena_alloc(&S->a, (n->npat + 1) * sizeof(uint32_t));
  k->k = stv_arena_alloc(&S->a, (n->npat + 1) * sizeof(uint32_t));
  if (k->g == NULL || k->k == NULL) return STV_ENOMEM;
  for (i = 0; i < n->npat; i++) {
    k->g[i] = n->pat_g[i];
    k->k[i] = n->gcount[n->pat_g[i]];
  }
  S->nnodes++;
  /* Pods now exist for every rule that counts these classes. */
  for (i = 0; i < n->npat; i++) {
    const uint32_t *ri;
    for (ri = S->rules_counting[S->g[n->pat_g[i]].cls]; *ri != UINT32_MAX; ri++) S->rule_anywhere[*ri] = 1;
  }
  return 0;
}

/* Sort key of a group: groups with per-node limits first (they decide how
 * many nodes exist), then by worth, largest first, then by index. */
struct order_key {
  int limited;
  double worth;
  uint32_t index;
  int32_t priority; /* the class's: the scheduler takes higher priorities first */
};

static int cmp_order(const void *a, const void *b) {
  const struct order_key *x = a, *y = b;
  if (x->priority != y->priority) return x->priority > y->priority ? -1 : 1;
  if (x->limited != y->limited) return y->limited - x->limited;
  if (x->worth != y->worth) return x->worth < y->worth ? 1 : -1;
  return x->index < y->index ? -1 : x->index > y->index;
}

static int sort_groups(struct solve *S) {
  struct order_key *k = stv_malloc((S->ng + 1) * sizeof(*k));
  size_t i;
  if (k == NULL) return STV_ENOMEM;
  for (i = 0; i < S->ng; i++) {
    uint32_t c = S->g[i].cls;
    k[i].limited = (int)BIT_GET(&S->anti_host[(size_t)c * S->W], c);
    k[i].worth = S->g[i].worth;
    k[i].index = (uint32_t)i;
    k[i].priority = S->s->classes[c]->priority;
  }
  qsort(k, S->ng, sizeof(*k), cmp_order);
  for (i = 0; i < S->ng; i++) S->order[i] = k[i].index;
  stv_free(k);
  return 0;
}

static void update_minreq(struct solve *S, const uint32_t *remaining) {
  size_t gi;
  int r;
  for (r = 0; r < S->ndim; r++) S->minreq[r] = INT64_MAX;
  for (gi = 0; gi < S->ng; gi++) {
    const struct stv_class *c;
    if (remaining[gi] == 0) continue;
    c = S->s->classes[S->g[gi].cls];
    for (r = 0; r < S->ndim; r++)
      if (c->req[r] < S->minreq[r]) S->minreq[r] = c->req[r];
  }
}

/* Existing nodes first: their free capacity costs nothing. */
static int pack_existing(struct solve *S, uint32_t *remaining) {
  const struct stv_snapshot *s = S->s;
  uint64_t *compat = stv_arena_alloc(&S->a, S->W * 8 + 8);
  uint64_t *only_here = stv_arena_alloc(&S->a, S->W * 8 + 8);
  struct nstate n;
  size_t i, c, k;
  int rc;
  if (compat == NULL || only_here == NULL) return STV_ENOMEM;
  if ((rc = nstate_init(S, &n)) != 0) return rc;
  update_minreq(S, remaining);
  update_active(S, remaining);
  for (i = 0; i < s->nnodes; i++) {
    const struct stv_node *nd = &s->nodes[i];
    struct stv_node_view v = {nd->name, &nd->labels, nd->ntaints, nd->taints, nd->unschedulable};
    int r, any = 0;
    uint32_t q;
    cand_reset(S, &n);
    n.existing = (int32_t)i;
    n.tmpl = -1;
    n.zone = S->node_zone[i];
    for (r = 0; r < S->ndim; r++) n.free[r] = nd->alloc[r] - nd->used[r];
    if (is_full(S, n.free)) continue;
    memset(compat, 0, S->W * 8);
    for (c = 0; c < S->nclasses; c++) {
      const struct stv_class *kc = s->classes[c];
      if (kc->daemonset || kc->npending == 0) continue;
      if (!fits_vec(kc->req, n.free, S->ndim)) continue;
      if (!stv_class_fits_node(kc, &v, NULL, 0)) continue;
      BIT_SET(compat, c);
      any = 1;
    }
    if (!any) continue;
    for (k = S->bound_off[i]; k < S->bound_off[i + 1]; k++)
      count_class(S, &n, S->bound_cls[k], S->bound_cnt[k]);
    /* Pods no new node can take get the existing room first; then the rest. */
    for (k = 0; k < S->W; k++) only_here[k] = compat[k] & ~S->tmpl_any[k];
    fill_node(S, &n, only_here, remaining);
    fill_node(S, &n, compat, remaining);
    if (n.npat == 0) continue;
    for (q = 0; q < n.npat; q++) remaining[n.pat_g[q]] -= n.gcount[n.pat_g[q]];
    if ((rc = push_node(S, &n, 1)) != 0) return rc;
    update_minreq(S, remaining);
    update_active(S, remaining);
  }
  return 0;
}

/* A template's best pattern for the current remaining counts, cached. */
static int eval_template(struct solve *S, struct nstate *cand, size_t ti, const uint32_t *remaining,
                         int search) {
  struct tinfo *t = &S->ti[ti];
  S->stat_evals++;
  uint32_t i;
  double value = 0;
  cand_reset(S, cand);
  memcpy(cand->presence, t->presence, S->W * 8);
  memcpy(cand->free, t->alloc, sizeof(cand->free));
  cand->existing = -1;
  cand->tmpl = (int32_t)ti;
  cand->zone = t->zone;
  cand->base = t->presence;
  for (i = 0; i < t->ndaemons; i++) count_class(S, cand, t->daemons[i], 1);
  if (search) {
    int rc = fill_search(S, cand, &S->compat[ti * S->W], remaining, S->search_limit);
    if (rc != 0) return rc;
    t->pinned = 0;
  } else {
    t->pinned = fill_node(S, cand, &S->compat[ti * S->W], remaining);
  }
  t->searched = search;
  if (stv_grow((void **)&t->pat_g, &t->cap_pat, cand->npat + 1, sizeof(uint32_t)) != 0) return STV_ENOMEM;
  {
    size_t cap2 = t->cap_patk;
    if (stv_grow((void **)&t->pat_k, &cap2, cand->npat + 1, sizeof(uint32_t)) != 0) return STV_ENOMEM;
    t->cap_patk = cap2;
  }
  for (i = 0; i < cand->npat; i++) {
    uint32_t gi = cand->pat_g[i];
    t->pat_g[i] = gi;
    t->pat_k[i] = cand->gcount[gi];
    value += cand->gcount[gi] * S->g[gi].worth;
  }
  t->npat = cand->npat;
  t->value = value;
  t->valid = 1;
  return 0;
}

/* A cached pattern stays exact while every group in it still has as many pods left. */
static int pattern_valid(const struct tinfo *t, const uint32_t *remaining) {
  uint32_t i;
  if (!t->valid) return 0;
  for (i = 0; i < t->npat; i++)
    if (remaining[t->pat_g[i]] < t->pat_k[i]) return 0;
  return 1;
}

#ifndef REFRESH_EVERY
#define REFRESH_EVERY 8
#endif

/* Rounds of: best pattern over all templates, opened as many times as it lasts. */
static int pack_new(struct solve *S, uint32_t *remaining) {
  struct nstate cand;
  int rc;
  size_t left = 0, gi, ti;
  for (gi = 0; gi < S->ng; gi++) left += remaining[gi];
  if ((rc = nstate_init(S, &cand)) != 0) return rc;
  update_minreq(S, remaining);
  update_active(S, remaining);
  /* Every template's pattern once; later only the ones that might win. */
  for (ti = 0; ti < S->nti; ti++) {
    struct tinfo *t = &S->ti[ti];
    if (t->limit_left == 0 || t->dominated) continue;
    if ((rc = eval_template(S, &cand, ti, remaining, 0)) != 0) goto out;
  }
  while (left > 0) {
    long best = -1;
    uint32_t mult, i;
    struct tinfo *t;
    /*
     * Every REFRESH_EVERY rounds all stale patterns are recomputed; in the
     * rounds between, selection is lazy: take the best score; if its
     * pattern is stale, refresh it and look again; once the best is fresh
     * (and searched), it is the round's choice. Worth mostly shrinks as
     * pods are used up, so stale scores are mostly optimistic; the periodic
     * refresh catches the patterns that grew.
     */
    if (S->stat_rounds % REFRESH_EVERY == 0) {
      for (ti = 0; ti < S->nti; ti++) {
        t = &S->ti[ti];
        if (t->limit_left == 0 || t->dominated || t->value <= 0 || pattern_valid(t, remaining)) continue;
        if ((rc = eval_template(S, &cand, ti, remaining, 0)) != 0) goto out;
      }
    }
    for (;;) {
      double best_score = 0, best_value = 0;
      best = -1;
      for (ti = 0; ti < S->nti; ti++) {
        double score;
        t = &S->ti[ti];
        if (t->limit_left == 0 || t->dominated || t->value <= 0) continue;
        score = S->p->tmpl[t->t].price / t->value;
        if (best < 0 || score < best_score - 1e-12 ||
            (fabs(score - best_score) <= 1e-12 && t->value > best_value)) {
          best = (long)ti;
          best_score = score;
          best_value = t->value;
        }
      }
      if (best < 0) break;
      t = &S->ti[best];
      /* Affinity state can change what a pinned pattern may do: recompute. */
      if (t->pinned || !pattern_valid(t, remaining)) {
        if ((rc = eval_template(S, &cand, (size_t)best, remaining, 0)) != 0) goto out;
        if (!t->pinned) continue;
      }
      if (S->search_limit > 0 && S->search_left > 0 && !t->searched) {
        if ((rc = eval_template(S, &cand, (size_t)best, remaining, 1)) != 0) goto out;
        continue;
      }
      break;
    }
    if (best < 0) break;
    S->stat_rounds++;
    t = &S->ti[best];
    /* As many copies as the scarcest group of the pattern allows. */
    mult = UINT32_MAX;
    for (i = 0; i < t->npat; i++)
      if (remaining[t->pat_g[i]] / t->pat_k[i] < mult) mult = remaining[t->pat_g[i]] / t->pat_k[i];
    if (t->pinned) mult = 1;
    if (t->limit_left > 0 && (int64_t)mult > t->limit_left) mult = (uint32_t)t->limit_left;
    if (mult == 0) mult = 1;
    if (t->limit_left > 0) t->limit_left -= mult;
    /* Rebuild the node state of the pattern to keep it. */
    cand_reset(S, &cand);
    cand.existing = -1;
    cand.tmpl = (int32_t)best;
    cand.zone = t->zone;
    for (i = 0; i < t->npat; i++) {
      cand.pat_g[cand.npat++] = t->pat_g[i];
      cand.gcount[t->pat_g[i]] = t->pat_k[i];
    }
    if ((rc = push_node(S, &cand, mult)) != 0) goto out;
    for (i = 0; i < t->npat; i++) {
      remaining[t->pat_g[i]] -= t->pat_k[i] * mult;
      left -= (size_t)t->pat_k[i] * mult;
    }
    t->valid = 0;
    update_minreq(S, remaining);
    update_active(S, remaining);
  }
out:
  for (ti = 0; ti < S->nti; ti++) {
    stv_free(S->ti[ti].pat_g);
    stv_free(S->ti[ti].pat_k);
    S->ti[ti].pat_g = S->ti[ti].pat_k = NULL;
  }
  return rc;
}

/*
 * Right-sizing: a pattern was chosen for the template it was filled on, but
 * its pods may fit a cheaper one (the last copies of a round are often
 * part-empty). Each kept new-node pattern moves to the cheapest template
 * that takes all its classes, in its zone when a group of it is bound to
 * one, holds its requests next to its own DaemonSets, runs no DaemonSet the
 * old one did not (so hostname rules stay as checked), and has count left.
 */
static void right_size(struct solve *S, int keep_spot) {
  size_t i, ti;
  for (i = 0; i < S->nnodes; i++) {
    struct kept *k = &S->nodes[i];
    struct tinfo *cur;
    int64_t need[STV_MAX_RES];
    int32_t zone = -1;
    long best = -1;
    double best_price;
    uint32_t q;
    int r;
    if (k->existing >= 0) continue;
    cur = &S->ti[k->tmpl];
    if (keep_spot && S->p->tmpl[cur->t].capacity_type == STV_CT_SPOT) continue;
    best_price = S->p->tmpl[cur->t].price;
    memset(need, 0, sizeof(need));
    for (q = 0; q < k->npat; q++) {
      const struct group *g = &S->g[k->g[q]];
      const struct stv_class *c = S->s->classes[g->cls];
      for (r = 0; r < S->ndim; r++) need[r] += c->req[r] * (int64_t)k->k[q];
      if (g->zone >= 0) zone = g->zone;
    }
    for (ti = 0; ti < S->nti; ti++) {
      const struct tinfo *t = &S->ti[ti];
      double price = S->p->tmpl[t->t].price;
      if (price >= best_price - 1e-12 || (long)ti == k->tmpl) continue;
      if (keep_spot && S->p->tmpl[t->t].capacity_type == STV_CT_SPOT) continue;
      if (zone >= 0 && t->zone != zone) continue;
      if (t->limit_left >= 0 && t->limit_left < (int64_t)k->mult) continue;
      if (!fits_vec(need, t->alloc, S->ndim)) continue;
      if (!bits_subset(t->presence, cur->presence, S->W)) continue;
      for (q = 0; q < k->npat; q++)
        if (!BIT_GET(&S->compat[ti * S->W], S->g[k->g[q]].cls)) break;
      if (q < k->npat) continue;
      best = (long)ti;
      best_price = price;
    }
    if (best < 0) continue;
    if (cur->limit_left >= 0) cur->limit_left += k->mult;
    if (S->ti[best].limit_left >= 0) S->ti[best].limit_left -= k->mult;
    k->tmpl = (int32_t)best;
  }
}

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

static void explain(const struct solve *S, uint32_t c, char *why, size_t size) {
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

/* ---------------------------------------------------------------------- */
/* Plan assembly                                                          */

static int emit(struct solve *S, struct stv_plan *plan) {
  const struct stv_snapshot *s = S->s;
  size_t i, total = 0, k = 0;
  size_t seq = 0;
  for (i = 0; i < S->nnodes; i++) total += S->nodes[i].mult;
  plan->nodes = stv_arena_alloc(&plan->mem, (total + 1) * sizeof(*plan->nodes));
  if (plan->nodes == NULL) return STV_ENOMEM;
  for (i = 0; i < S->nnodes; i++) {
    const struct kept *n = &S->nodes[i];
    uint32_t m, npods = 0, q;
    for (q = 0; q < n->npat; q++) npods += n->k[q];
    for (m = 0; m < n->mult; m++) {
      struct stv_plan_node *pn = &plan->nodes[k++];
      uint32_t at = 0;
      pn->existing = n->existing;
      pn->npods = npods;
      pn->pods = stv_arena_alloc(&plan->mem, (npods + 1) * sizeof(uint32_t));
      if (pn->pods == NULL) return STV_ENOMEM;
      for (q = 0; q < n->npat; q++) {
        struct group *g = &S->g[n->g[q]];
        uint32_t j;
        for (j = 0; j < n->k[q]; j++) pn->pods[at++] = g->pods[g->taken++];
      }
      if (n->existing >= 0) {
        pn->tmpl = -1;
        snprintf(pn->name, sizeof(pn->name), "%s", s->nodes[n->existing].name);
      } else {
        const struct tinfo *t = &S->ti[n->tmpl];
        const struct stv_template *tp = &S->p->tmpl[t->t];
        pn->tmpl = (int32_t)t->t;
        snprintf(pn->name, sizeof(pn->name), "stevedore-%04zu-%s-%s", ++seq, tp->instance_type,
                 tp->zone ? tp->zone : "any");
        pn->ndaemons = t->ndaemons;
        pn->daemons = stv_arena_alloc(&plan->mem, (t->ndaemons + 1) * sizeof(uint32_t));
        if (pn->daemons == NULL) return STV_ENOMEM;
        if (t->ndaemons) memcpy(pn->daemons, t->daemons, t->ndaemons * sizeof(uint32_t));
        plan->new_cost += tp->price;
        plan->nnew++;
      }
      plan->nplaced += npods;
    }
  }
  plan->nnodes = k;
  return 0;
}

/* Domain index of plan node i for a rule level: a node or a zone; -1 when none. */
static long plan_domain(const struct solve *S, const struct stv_plan *plan, size_t i, enum level lvl) {
  const struct stv_plan_node *pn = &plan->nodes[i];
  if (lvl == LVL_HOST) return pn->existing >= 0 ? (long)pn->existing : (long)(S->s->nnodes + i);
  if (pn->existing >= 0) return S->node_zone[pn->existing];
  return S->ti_zone_of_tmpl[pn->tmpl];
}

/*
 * The finished plan indexed by class: for each class, the plan nodes of its
 * placed pods (one entry per pod) and the existing nodes of its bound pods.
 * Rebuilt after any withdrawal.
 */
struct plan_index {
  uint32_t *poff, *pnode; /* placed: CSR over classes of plan node indexes */
  uint32_t *boff, *bnode; /* bound: CSR over classes of snapshot node indexes */
  uint32_t *tcount;       /* new plan nodes per template */
};

static void plan_index_free(struct plan_index *x) {
  stv_free(x->poff);
  stv_free(x->pnode);
  stv_free(x->boff);
  stv_free(x->bnode);
  stv_free(x->tcount);
  memset(x, 0, sizeof(*x));
}

static int plan_index_build(struct solve *S, const struct stv_plan *plan, struct plan_index *x) {
  const struct stv_snapshot *s = S->s;
  size_t c, i, total = 0, nb = 0;
  uint32_t *fill;
  memset(x, 0, sizeof(*x));
  x->poff = stv_calloc(S->nclasses + 2, sizeof(uint32_t));
  x->boff = stv_calloc(S->nclasses + 2, sizeof(uint32_t));
  x->tcount = stv_calloc(S->p->ntmpl + 1, sizeof(uint32_t));
  fill = stv_calloc(S->nclasses + 1, sizeof(uint32_t));
  if (!x->poff || !x->boff || !x->tcount || !fill) goto oom;
  for (i = 0; i < plan->nnodes; i++) {
    uint32_t q;
    if (plan->nodes[i].existing < 0) x->tcount[plan->nodes[i].tmpl]++;
    for (q = 0; q < plan->nodes[i].npods; q++) x->poff[s->pods[plan->nodes[i].pods[q]].cls + 1]++;
    total += plan->nodes[i].npods;
  }
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    if (p->node < 0 || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    x->boff[p->cls + 1]++;
    nb++;
  }
  for (c = 0; c < S->nclasses; c++) {
    x->poff[c + 1] += x->poff[c];
    x->boff[c + 1] += x->boff[c];
  }
  x->pnode = stv_malloc((total + 1) * sizeof(uint32_t));
  x->bnode = stv_malloc((nb + 1) * sizeof(uint32_t));
  if (!x->pnode || !x->bnode) goto oom;
  for (i = 0; i < plan->nnodes; i++) {
    uint32_t q;
    for (q = 0; q < plan->nodes[i].npods; q++) {
      uint32_t c2 = s->pods[plan->nodes[i].pods[q]].cls;
      x->pnode[x->poff[c2] + fill[c2]++] = (uint32_t)i;
    }
  }
  memset(fill, 0, (S->nclasses + 1) * sizeof(uint32_t));
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    if (p->node < 0 || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    x->bnode[x->boff[p->cls] + fill[p->cls]++] = (uint32_t)p->node;
  }
  stv_free(fill);
  return 0;
oom:
  stv_free(fill);
  plan_index_free(x);
  return STV_ENOMEM;
}

/* Per-rule domain counts over a dense array, reset through a touched list. */
struct dcount {
  uint32_t *cnt, *own, *touched;
  size_t ntouched;
};

static void dcount_add(struct dcount *d, long dd, int own) {
  if (dd < 0) return;
  if (d->cnt[dd] == 0 && d->own[dd] == 0) d->touched[d->ntouched++] = (uint32_t)dd;
  d->cnt[dd]++;
  if (own) d->own[dd]++;
}

static void dcount_reset(struct dcount *d) {
  size_t i;
  for (i = 0; i < d->ntouched; i++) d->cnt[d->touched[i]] = d->own[d->touched[i]] = 0;
  d->ntouched = 0;
}

/* Counts, per domain of r's level, the pods r counts (bound and placed). */
static void rule_counts(const struct solve *S, const struct stv_plan *plan, const struct plan_index *x,
                        const struct rule *r, struct dcount *d) {
  size_t c;
  uint32_t j;
  for (c = 0; c < S->nclasses; c++) {
    if (!BIT_GET(r->match, c)) continue;
    for (j = x->boff[c]; j < x->boff[c + 1]; j++)
      dcount_add(d, r->level == LVL_HOST ? (long)x->bnode[j] : S->node_zone[x->bnode[j]], 0);
    for (j = x->poff[c]; j < x->poff[c + 1]; j++)
      dcount_add(d, plan_domain(S, plan, x->pnode[j], r->level), c == r->owner);
  }
}

/* Withdraws placed pods of class c from plan node i (up to n of them). */
static int withdraw(struct solve *S, struct stv_plan *plan, size_t i, uint32_t c, uint32_t n,
                    const char *why) {
  struct stv_plan_node *pn = &plan->nodes[i];
  uint32_t q;
  int rc;
  for (q = pn->npods; q-- > 0 && n > 0;) {
    uint32_t pod = pn->pods[q];
    if (S->s->pods[pod].cls != c) continue;
    if ((rc = add_unsched(S, pod, why)) != 0) return rc;
    pn->pods[q] = pn->pods[--pn->npods];
    plan->nplaced--;
    n--;
  }
  return 0;
}

/*
 * Withdraws placed pods whose required pod affinity the finished plan does
 * not satisfy (the pods they must run beside could not be placed). A pod
 * that matches its own term is satisfied by its group alone when no other
 * matching pod exists and the whole group shares its domain. Sets *changed.
 */
static int affinity_check(struct solve *S, struct stv_plan *plan, const struct plan_index *x,
                          struct dcount *d, int *changed) {
  size_t ri;
  int rc = 0;
  char why[200];
  for (ri = 0; ri < S->nrules && !*changed; ri++) {
    const struct rule *r = &S->rules[ri];
    uint32_t bound_total = 0, total = 0, j, c;
    long only = -1;
    int several = 0;
    if (r->kind != RULE_AFF || r->level == LVL_OTHER) continue;
    if (x->poff[r->owner] == x->poff[r->owner + 1]) continue; /* none placed */
    rule_counts(S, plan, x, r, d);
    for (c = 0; c < S->nclasses; c++) {
      if (!BIT_GET(r->match, c)) continue;
      bound_total += x->boff[c + 1] - x->boff[c];
      for (j = x->poff[c]; j < x->poff[c + 1]; j++) {
        long dd = plan_domain(S, plan, x->pnode[j], r->level);
        if (only < 0)
          only = dd;
        else if (only != dd)
          several = 1;
      }
    }
    for (j = 0; j < d->ntouched; j++) total += d->cnt[d->touched[j]];
    snprintf(why, sizeof(why), "required pod affinity (%s): the pods it must run beside could not be placed",
             r->level == LVL_HOST ? "hostname" : "zone");
    for (j = x->poff[r->owner]; j < x->poff[r->owner + 1]; j++) {
      long dd = plan_domain(S, plan, x->pnode[j], r->level);
      uint32_t here = dd >= 0 ? d->cnt[dd] - (r->self ? 1 : 0) : 0;
      if (here > 0) continue;
      if (r->self && bound_total == 0 && !several && total >= 1) continue; /* a group on its own */
      if ((rc = withdraw(S, plan, x->pnode[j], r->owner, 1, why)) != 0) break;
      *changed = 1;
    }
    dcount_reset(d);
  }
  return rc;
}

/* Whether class owner's rule r has every node of the cluster as a domain. */
static int spread_all_eligible(const struct rule *r, const struct stv_class *owner) {
  if (r->spread->honor_taints) return 0;
  if (!r->spread->honor_node_affinity) return 1;
  return owner->node_selector.n == 0 && owner->affinity.n == 0;
}

/* Bound terminating pods, which no spread rule counts, for the final check. */
struct spread_elig {
  uint32_t *term;
  size_t nterm;
};

static int spread_elig_build(const struct solve *S, struct spread_elig *e) {
  const struct stv_snapshot *s = S->s;
  size_t i;
  e->term = stv_calloc(s->npods + 1, sizeof(*e->term));
  e->nterm = 0;
  if (e->term == NULL) return STV_ENOMEM;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    if (p->terminating && p->node >= 0 && p->phase != STV_PHASE_SUCCEEDED && p->phase != STV_PHASE_FAILED)
      e->term[e->nterm++] = (uint32_t)i;
  }
  return 0;
}

/* Whether plan node i is a domain of spread rule r. */
static int spread_elig_plan(const struct solve *S, const struct rule *r, const struct stv_plan *plan,
                            size_t i) {
  const struct stv_plan_node *pn = &plan->nodes[i];
  if (pn->existing >= 0) return r->elig[pn->existing];
  return r->elig[S->s->nnodes + (size_t)pn->tmpl];
}

/*
 * Counts, per domain, the pods spread rule ri counts on nodes that are its
 * domains (as kube-scheduler's PreFilter does), and in own the owner's
 * placed pods, whether or not they match the rule's selector.
 */
static void spread_counts(const struct solve *S, const struct stv_plan *plan, const struct plan_index *x,
                          const struct spread_elig *e, size_t ri, struct dcount *d) {
  const struct rule *r = &S->rules[ri];
  size_t c;
  uint32_t j;
  for (c = 0; c < S->nclasses; c++) {
    int m = (int)BIT_GET(r->match, c);
    if (!m && c != r->owner) continue;
    for (j = x->boff[c]; m && j < x->boff[c + 1]; j++) {
      uint32_t n = x->bnode[j];
      if (!r->elig[n]) continue;
      dcount_add(d, r->level == LVL_HOST ? (long)n : S->node_zone[n], 0);
    }
    /* Terminating pods do not count (kube-scheduler skips them). */
    for (j = 0; m && j < e->nterm; j++) {
      const struct stv_pod *p = &S->s->pods[e->term[j]];
      long dd;
      if (p->cls != c || !r->elig[p->node]) continue;
      dd = r->level == LVL_HOST ? (long)p->node : S->node_zone[p->node];
      if (dd >= 0 && d->cnt[dd] > 0) d->cnt[dd]--;
    }
    for (j = x->poff[c]; j < x->poff[c + 1]; j++) {
      long dd = plan_domain(S, plan, x->pnode[j], r->level);
      if (dd < 0) continue;
      if (m && spread_elig_plan(S, r, plan, x->pnode[j])) {
        dcount_add(d, dd, c == r->owner);
      } else if (c == r->owner) {
        if (d->cnt[dd] == 0 && d->own[dd] == 0) d->touched[d->ntouched++] = (uint32_t)dd;
        d->own[dd]++;
      }
    }
  }
}

/*
 * Recomputes every DoNotSchedule spread count in the plan and withdraws
 * newly placed pods from domains over min + maxSkew, until none is. This
 * catches domains the plan could not fill (an eligible zone with no room).
 */
static int spread_check(struct solve *S, struct stv_plan *plan) {
  const struct stv_snapshot *s = S->s;
  size_t ri, i, ndom = s->nnodes + plan->nnodes + S->nzones + 1;
  int changed = 1, guard = 0, rc = 0;
  struct dcount d;
  struct plan_index x;
  struct spread_elig e = {NULL, 0};
  unsigned char *zdom = stv_calloc(S->nzones + 1, 1);
  char why[200];
  memset(&x, 0, sizeof(x));
  memset(&d, 0, sizeof(d));
  if (zdom == NULL || (rc = spread_elig_build(S, &e)) != 0) {
    rc = STV_ENOMEM;
    goto out;
  }
  d.cnt = stv_calloc(ndom, sizeof(uint32_t));
  d.own = stv_calloc(ndom, sizeof(uint32_t));
  d.touched = stv_malloc(ndom * sizeof(uint32_t));
  d.ntouched = 0;
  if (!d.cnt || !d.own || !d.touched) {
    rc = STV_ENOMEM;
    goto out;
  }
  while (changed && guard++ < 100000) {
    changed = 0;
    plan_index_free(&x);
    if ((rc = plan_index_build(S, plan, &x)) != 0) goto out;
    if ((rc = affinity_check(S, plan, &x, &d, &changed)) != 0) goto out;
    for (ri = 0; ri < S->nrules && !changed; ri++) {
      const struct rule *r = &S->rules[ri];
      const struct stv_class *owner = s->classes[r->owner];
      uint32_t min = UINT32_MAX, j;
      size_t neligible = 0, nzero_known = 0;
      if (r->kind != RULE_SPREAD || r->level == LVL_OTHER) continue;
      if (x.poff[r->owner] == x.poff[r->owner + 1]) continue; /* none placed */
      spread_counts(S, plan, &x, &e, ri, &d);
      if (r->level == LVL_ZONE) {
        /* Domains: the eligible zones of the set-up, and any zone where
         * the plan opens a node that is a domain of the rule. */
        memcpy(zdom, r->zelig, S->nzones);
        for (i = 0; i < plan->nnodes; i++) {
          long z = plan_domain(S, plan, i, LVL_ZONE);
          if (z >= 0 && !zdom[z] && plan->nodes[i].npods > 0 && spread_elig_plan(S, r, plan, i)) zdom[z] = 1;
        }
        for (i = 0; i < S->nzones; i++) {
          if (!zdom[i]) continue;
          neligible++;
          if (d.cnt[i] < min) min = d.cnt[i];
        }
      } else {
        /* Hostname domains: is there an eligible node with no matching pod? */
        int all = spread_all_eligible(r, owner);
        for (i = 0; i < s->nnodes; i++) {
          if (!all && !r->elig[i]) continue;
          neligible++;
          if (d.cnt[i] == 0)
            nzero_known = 1;
          else if (d.cnt[i] < min)
            min = d.cnt[i];
        }
        /* New nodes are eligible by their template; those holding no
         * matching pod are eligible domains with 0. */
        {
          size_t touched_new = 0, new_elig = 0;
          for (i = 0; i < S->p->ntmpl; i++) {
            if (x.tcount[i] == 0 || (!all && !r->elig[s->nnodes + i])) continue;
            new_elig += x.tcount[i];
          }
          neligible += new_elig;
          for (j = 0; j < d.ntouched; j++) {
            uint32_t dd = d.touched[j];
            if (dd < s->nnodes) continue;
            /* Viewed as its template (no name yet, hostname to come), as everywhere else. */
            if (!all && !spread_elig_plan(S, r, plan, dd - s->nnodes)) continue;
            touched_new++;
            if (d.cnt[dd] < min) min = d.cnt[dd];
          }
          if (new_elig > touched_new) nzero_known = 1;
        }
        if (nzero_known) min = 0;
      }
      if (min == UINT32_MAX) {
        dcount_reset(&d);
        continue;
      }
      if (r->min_domains > 0 && neligible < (size_t)r->min_domains) min = 0;
      snprintf(why, sizeof(why), "topology spread (%s, maxSkew %d) cannot be met: an eligible %s has no room",
               r->level == LVL_HOST ? "hostname" : "zone", r->max_skew,
               r->level == LVL_HOST ? "node" : "zone");
      /* Withdraw the owner's new pods from domains over the limit, last placed first. */
      for (j = x.poff[r->owner + 1]; j-- > x.poff[r->owner];) {
        uint32_t pi = x.pnode[j];
        long dd = plan_domain(S, plan, pi, r->level);
        if (dd < 0 || d.own[dd] == 0 || d.cnt[dd] <= min + (uint32_t)r->max_skew) continue;
        if ((rc = withdraw(S, plan, pi, r->owner, 1, why)) != 0) goto out;
        if (r->self) d.cnt[dd]--; /* an owner its selector does not match was not counted */
        d.own[dd]--;
        changed = 1;
      }
      dcount_reset(&d);
    }
  }
out:
  plan_index_free(&x);
  stv_free(d.cnt);
  stv_free(d.own);
  stv_free(d.touched);
  stv_free(e.term);
  stv_free(zdom);
  return rc;
}

static size_t count_undominated(const struct solve *S) {
  size_t i, n = 0;
  for (i = 0; i < S->nti; i++) n += !S->ti[i].dominated;
  return n;
}

/* Drops new nodes the spread check emptied, and recounts costs. */
static void compact_plan(struct solve *S, struct stv_plan *plan) {
  size_t i, k = 0;
  plan->new_cost = 0;
  plan->nnew = 0;
  for (i = 0; i < plan->nnodes; i++) {
    struct stv_plan_node *pn = &plan->nodes[i];
    if (pn->npods == 0) continue;
    if (pn->existing < 0) {
      plan->new_cost += S->p->tmpl[pn->tmpl].price;
      plan->nnew++;
    }
    plan->nodes[k++] = *pn;
  }
  plan->nnodes = k;
}

/*
 * Whether some pending pod may use node n at all (static predicates:
 * cordon, selectors, taints such as a not-ready node's). The free room of
 * a node none of them may use is no capacity for the lower bound.
 */
static int open_to_pending(const struct solve *S, const struct stv_node *n) {
  const struct stv_node_view v = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
  size_t c;
  for (c = 0; c < S->nclasses; c++) {
    const struct stv_class *k = S->s->classes[c];
    if (k->daemonset || k->npending == 0) continue;
    if (stv_class_fits_node(k, &v, NULL, 0)) return 1;
  }
  return 0;
}

/* The covering LP of lower_bound, run under stv__glpk_run. */
struct bound_lp {
  struct solve *S;
  struct stv_plan *plan;
  const int *rows;
  int nrows;
  const double *deficit;
  int *ia, *ja;
  double *ar;
  glp_prob *lp; /* created here; deleted by the caller */
};

static int bound_lp_solve(void *arg) {
  struct bound_lp *b = arg;
  struct solve *S = b->S;
  int *ia = b->ia, *ja = b->ja, nrows = b->nrows, r;
  const int *rows = b->rows;
  const double *deficit = b->deficit;
  double *ar = b->ar, bound = 0;
  size_t i, ncols = 0, nz = 0;
  glp_prob *lp;
  glp_smcp parm;
  if ((lp = b->lp = glp_create_prob()) == NULL) return STV_ENOMEM;
  glp_set_obj_dir(lp, GLP_MIN);
  glp_add_rows(lp, nrows);
  /* Rows are scaled to a right-hand side of 1: bytes and millicores differ
   * by many orders of magnitude, which the simplex does not like. */
  for (r = 0; r < nrows; r++) glp_set_row_bnds(lp, r + 1, GLP_LO, 1.0, 0.0);
  for (i = 0; i < S->nti; i++) {
    const struct tinfo *t = &S->ti[i];
    const struct stv_template *tp = &S->p->tmpl[t->t];
    int col, any = 0;
    /* A dominated template is never needed: another is as big and no dearer. */
    if (t->dominated) continue;
    for (r = 0; r < nrows; r++) any |= t->alloc[rows[r]] > 0;
    if (!any) continue;
    col = glp_add_cols(lp, 1);
    ncols++;
    glp_set_obj_coef(lp, col, tp->price);
    if (tp->limit >= 0)
      glp_set_col_bnds(lp, col, tp->limit > 0 ? GLP_DB : GLP_FX, 0.0, (double)tp->limit);
    else
      glp_set_col_bnds(lp, col, GLP_LO, 0.0, 0.0);
    for (r = 0; r < nrows; r++) {
      if (t->alloc[rows[r]] <= 0) continue;
      nz++;
      ia[nz] = r + 1;
      ja[nz] = col;
      ar[nz] = (double)t->alloc[rows[r]] / deficit[rows[r]];
    }
  }
  if (ncols == 0) return 0;
  glp_load_matrix(lp, (int)nz, ia, ja, ar);
  /* GLPK's terminal output is off: stv__glpk_run sees to it. */
  glp_scale_prob(lp, GLP_SF_AUTO);
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.it_lim = 20000; /* deterministic cap; no bound rather than a late one */
  if (glp_simplex(lp, &parm) != 0) return 0;
  /* Confirm the optimum in exact arithmetic from the floating-point basis. */
  if (glp_exact(lp, &parm) != 0) return 0;
  /* The scaled coefficients carry rounding of one part in 2^53; give the
   * bound that much back so that it stays below the true optimum. */
  if (glp_get_status(lp) == GLP_OPT) bound = glp_get_obj_val(lp) * (1.0 - 1e-9);
  /* An infeasible LP means no plan can place these pods: the plan itself
   * is then the only honest bound, and the packer never builds one. */
  if (bound > b->plan->new_cost) bound = b->plan->new_cost;
  if (bound > 0) b->plan->lower_bound = bound;
  return 0;
}

/*
 * A proven lower bound on the hourly cost of new nodes for the pods the
 * plan places. Whatever plan places them, the new nodes must together hold
 * at least the demand that existing free capacity cannot: for every
 * resource r, sum over new nodes of allocatable_r >= demand_r - free_r. The
 * cheapest (fractional) purchase that meets all those rows at once is a
 * linear program over the templates (reserved ones bounded by their count);
 * its optimum, solved by GLPK's simplex and confirmed by its exact
 * (rational) simplex, bounds every integer plan from below.
 */
static int lower_bound(struct solve *S, struct stv_plan *plan) {
  const struct stv_snapshot *s = S->s;
  double deficit[STV_MAX_RES];
  int rows[STV_MAX_RES], nrows = 0, r, *ia = NULL, *ja = NULL;
  double *ar = NULL;
  size_t i;
  int rc = 0;
  /* Pods of a class that no existing node could take at all need new nodes
   * whatever the plan; the others may use existing free capacity. */
  unsigned char *only_new = stv_calloc(S->nclasses + 1, 1), *open;
  if (only_new == NULL) return STV_ENOMEM;
  for (i = 0; i < plan->nnodes; i++) {
    uint32_t q;
    for (q = 0; q < plan->nodes[i].npods; q++) only_new[s->pods[plan->nodes[i].pods[q]].cls] |= 2;
  }
  for (i = 0; i < S->nclasses; i++) {
    size_t k;
    int64_t freev[STV_MAX_RES];
    if (!(only_new[i] & 2)) continue;
    only_new[i] = 1;
    for (k = 0; k < s->nnodes && only_new[i]; k++) {
      const struct stv_node *n = &s->nodes[k];
      struct stv_node_view v = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
      for (r = 0; r < S->ndim; r++) freev[r] = n->alloc[r] - n->used[r];
      if (fits_vec(s->classes[i]->req, freev, S->ndim) && stv_class_fits_node(s->classes[i], &v, NULL, 0))
        only_new[i] = 0;
    }
  }
  if ((open = stv_arena_alloc(&S->a, s->nnodes + 1)) == NULL) {
    stv_free(only_new);
    return STV_ENOMEM;
  }
  for (i = 0; i < s->nnodes; i++) open[i] = (unsigned char)open_to_pending(S, &s->nodes[i]);
  for (r = 0; r < S->ndim; r++) {
    double demand = 0, must = 0, freecap = 0;
    for (i = 0; i < plan->nnodes; i++) {
      uint32_t q;
      for (q = 0; q < plan->nodes[i].npods; q++) {
        uint32_t c = s->pods[plan->nodes[i].pods[q]].cls;
        if (only_new[c])
          must += (double)s->classes[c]->req[r];
        else
          demand += (double)s->classes[c]->req[r];
      }
    }
    for (i = 0; i < s->nnodes; i++) {
      const struct stv_node *n = &s->nodes[i];
      if (open[i] && n->alloc[r] > n->used[r]) freecap += (double)(n->alloc[r] - n->used[r]);
    }
    deficit[r] = must + (demand > freecap ? demand - freecap : 0);
    if (deficit[r] > 0) rows[nrows++] = r;
  }
  stv_free(only_new);
  plan->has_lower_bound = 1;
  plan->lower_bound = 0;
  if (nrows == 0) return 0;
  ia = stv_malloc((S->nti * (size_t)nrows + 1) * sizeof(int));
  ja = stv_malloc((S->nti * (size_t)nrows + 1) * sizeof(int));
  ar = stv_malloc((S->nti * (size_t)nrows + 1) * sizeof(double));
  if (ia == NULL || ja == NULL || ar == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  {
    struct bound_lp b = {S, plan, rows, nrows, deficit, ia, ja, ar, NULL};
    rc = stv__glpk_run(bound_lp_solve, &b, S->err);
    /* After a GLPK error its environment, the problem with it, is gone. */
    if (rc == 0 && b.lp != NULL) glp_delete_prob(b.lp);
  }
out:
  stv_free(ia);
  stv_free(ja);
  stv_free(ar);
  return rc;
}

static int pack_run(const struct stv_problem *p, struct stv_plan *plan, int optimize, double deadline,
                    struct stv_err *err) {
  struct solve S;
  struct stv__preempt pre;
  const struct stv_snapshot *orig = p->snap;
  uint32_t *remaining = NULL;
  size_t i;
  int rc;
  memset(&S, 0, sizeof(S));
  memset(plan, 0, sizeof(*plan));
  stv_arena_init(&plan->mem);
  stv_arena_init(&S.a);
  /* Preemption first: the rest plans the snapshot it leaves. */
  if ((rc = stv__preempt_run(p, &pre)) != 0) goto out;
  p = &pre.problem;
  S.p = p;
  S.s = p->snap;
  S.ndim = p->snap->res.n;
  S.nclasses = p->snap->nclasses;
  S.W = (S.nclasses + 63) / 64 + 1;
  S.search_limit = p->search_limit == 0 ? STV_SEARCH_DEFAULT : p->search_limit;
  S.cg_bound = -1;
  S.deadline = deadline;
  S.search_left = S.search_limit > 0 ? S.search_limit * STV_SEARCH_NODES : 0;
  S.err = err;
  for (i = 0; i < S.nclasses; i++)
    if (!S.s->classes[i]->daemonset) plan->npending += S.s->classes[i]->npending;
  if ((rc = setup_zones(&S)) || (rc = setup_rules(&S)) || (rc = setup_bound(&S))) goto out;
  setup_lambda(&S);
  if ((rc = setup_templates(&S)) || (rc = setup_spread_elig(&S)) || (rc = setup_rule_zones(&S)) ||
      (rc = setup_groups(&S)))
    goto out;
  S.order = stv_arena_alloc(&S.a, (S.ng + 1) * sizeof(uint32_t));
  remaining = stv_arena_alloc(&S.a, (S.ng + 1) * sizeof(uint32_t));
  if (S.order == NULL || remaining == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (i = 0; i < S.ng; i++) remaining[i] = S.g[i].remaining;
  for (i = 0; i < S.W; i++)
    if (S.aff_host_any[i]) S.search_limit = -1; /* the greedy fill handles pinned groups */
  S.act = stv_arena_alloc(&S.a, (S.nzones + 1) * sizeof(*S.act));
  S.nact = stv_arena_alloc(&S.a, (S.nzones + 1) * sizeof(*S.nact));
  if (S.act == NULL || S.nact == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (i = 0; i <= S.nzones; i++)
    if ((S.act[i] = stv_arena_alloc(&S.a, (S.ng + 1) * sizeof(uint32_t))) == NULL) {
      rc = STV_ENOMEM;
      goto out;
    }
  if ((rc = sort_groups(&S)) || (rc = pack_existing(&S, remaining)) || (rc = pack_new(&S, remaining)))
    goto out;
  right_size(&S, 0);
  if (optimize) {
    if ((rc = stv__optimize(&S))) goto out;
    /* Surplus pods taken off may leave room for a cheaper type; spot nodes
     * stay as they are, for the spot limits the optimizer kept, and with a
     * spot share limit so does everything else. */
    if (S.cg_applied && p->spot.max_share >= 1.0) right_size(&S, p->spot.max_pool_fraction < 1.0);
    plan->optimized = 1;
    plan->lp_converged = S.cg_converged;
    plan->columns = S.cg_columns;
  }
  /* The spot limits hold for every plan, the heuristic's too. */
  if ((rc = stv__spot_repair(&S))) goto out;
  if ((rc = emit(&S, plan))) goto out;
  /* What is left could not be placed. */
  for (i = 0; i < S.ng; i++) {
    struct group *g = &S.g[i];
    char why[200];
    if (g->taken == g->total) continue;
    explain(&S, g->cls, why, sizeof(why));
    while (g->taken < g->total)
      if ((rc = add_unsched(&S, g->pods[g->taken++], why))) goto out;
  }
  if ((rc = spread_check(&S, plan))) goto out;
  compact_plan(&S, plan);
  {
    /* Figures for the caller to show; the packer prints nothing. */
    struct stv_pack_stats *ps = optimize ? &plan->stats.optimized : &plan->stats.heuristic;
    ps->groups = S.ng;
    ps->templates = S.nti;
    ps->undominated = count_undominated(&S);
    ps->rounds = S.stat_rounds;
    ps->evaluations = S.stat_evals;
    plan->stats.cg = S.cg_stats;
  }
  if ((rc = lower_bound(&S, plan))) goto out;
  if (S.cg_bound > plan->lower_bound) {
    plan->lower_bound = S.cg_bound < plan->new_cost ? S.cg_bound : plan->new_cost;
    plan->lower_bound_kind = STV_BOUND_PATTERNS;
  }
  plan->unsched = stv_arena_alloc(&plan->mem, (S.nun + 1) * sizeof(*plan->unsched));
  if (plan->unsched == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  if (S.nun) memcpy(plan->unsched, S.un, S.nun * sizeof(*S.un));
  plan->nunsched = S.nun;
  rc = stv__preempt_apply(&pre, orig, plan);
out:
  if (rc == STV_ENOMEM) stv_err_set(err, rc, "out of memory while packing");
  if (rc) stv_plan_close(plan);
  stv_free(S.rules);
  stv_free(S.zones);
  stv_free(S.g);
  stv_free(S.nodes);
  stv_free(S.un);
  stv_arena_reset(&S.a);
  stv__preempt_close(&pre);
  return rc;
}

int stv_pack(const struct stv_problem *p, struct stv_plan *plan, struct stv_err *err) {
  return pack_run(p, plan, 0, 0, err);
}

int stv__pack_optimized(const struct stv_problem *p, struct stv_plan *plan, double deadline, struct stv_err *err) {
  return pack_run(p, plan, 1, deadline, err);
}

void stv_plan_close(struct stv_plan *plan) {
  stv_arena_reset(&plan->mem);
  memset(plan, 0, sizeof(*plan));
}
