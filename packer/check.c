/*
 * The finished plan: its nodes written out (emit), and the final check, which recomputes every
 * required pod affinity and every DoNotSchedule topology spread count over
 * the whole plan, as kube-scheduler would count them, and withdraws newly
 * placed pods that a domain the plan could not fill leaves over maxSkew.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_internal.h"

/* ---------------------------------------------------------------------- */
/* Plan assembly                                                          */

int stv__emit(struct solve *S, struct stv_plan *plan) {
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
        plan->new_cost += stv_plan_node_cost(S->p, pn);
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
    if ((rc = stv__add_unsched(S, pod, why)) != 0) return rc;
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
int stv__spread_check(struct solve *S, struct stv_plan *plan) {
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

size_t stv__count_undominated(const struct solve *S) {
  size_t i, n = 0;
  for (i = 0; i < S->nti; i++) n += !S->ti[i].dominated;
  return n;
}

/* Drops new nodes the spread check emptied, and recounts costs. */
void stv__compact_plan(struct solve *S, struct stv_plan *plan) {
  size_t i, k = 0;
  plan->new_cost = 0;
  plan->nnew = 0;
  for (i = 0; i < plan->nnodes; i++) {
    struct stv_plan_node *pn = &plan->nodes[i];
    if (pn->npods == 0) continue;
    if (pn->existing < 0) {
      plan->new_cost += stv_plan_node_cost(S->p, pn);
      plan->nnew++;
    }
    plan->nodes[k++] = *pn;
  }
  plan->nnodes = k;
}
