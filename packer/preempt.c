/*
 * Preemption on existing nodes, as kube-scheduler's DefaultPreemption
 * plugin does it, and the pending pods the plan leaves out.
 *
 * Before packing, the pending pods are taken in the scheduling queue's
 * order (priority, highest first; then snapshot order). A pod that fits in
 * the free room of an existing node takes it there (first fit). A pod that
 * fits nowhere, may preempt (preemptionPolicy is not Never) and has no
 * inter-pod rules looks for victims on each existing node its static
 * predicates allow, as SelectVictimsOnNode does: every bound pod of strictly
 * lower priority (not a DaemonSet's, not a static pod) is removed; if the
 * pod then fits, the removed pods are reprieved one by one, those whose
 * eviction would break a PodDisruptionBudget first, each group highest
 * priority first, as long as the pod still fits. Among candidate nodes the
 * one with the fewest budget violations wins, then the lowest highest
 * victim priority, the lowest sum of victim priorities, the fewest victims,
 * and the first in snapshot order.
 *
 * Evicted victims go back into the queue behind their preemptor (unless
 * their priority is below the cutoff), and may take free room or preempt in
 * turn. The packer then plans a copy of the snapshot in which each
 * preemptor is bound to its node and each victim that did not preempt is
 * pending again (or left out, below the cutoff).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_internal.h"

static int fits(const int64_t *need, const int64_t *have, int ndim) {
  int r;
  for (r = 0; r < ndim; r++)
    if (need[r] > 0 && need[r] > have[r]) return 0;
  return 1;
}

/* A bound pod kube-scheduler may evict for a preemptor of higher priority. */
static int victim_kind(const struct stv_snapshot *s, const struct stv_pod *p) {
  if (p->node < 0 || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) return 0;
  if (p->flags & (STV_POD_MIRROR | STV_POD_HEADROOM)) return 0;
  return !s->classes[p->cls]->daemonset;
}

/* A pending pod the packer plans (and the queue simulation reserves room for). */
static int planned_pending(const struct stv_snapshot *s, const struct stv_pod *p) {
  if (p->node >= 0 || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) return 0;
  return !s->classes[p->cls]->daemonset && p->not_planned == STV_NP_NONE;
}

/* A planned pending pod that may preempt: policy, and no rule the pass does not model. */
static int may_preempt(const struct stv_snapshot *s, const struct stv_pod *p) {
  const struct stv_class *c = s->classes[p->cls];
  uint32_t i;
  if (p->preempt_never || (p->flags & STV_POD_HEADROOM) || c->naff > 0 || c->nanti > 0) return 0;
  for (i = 0; i < c->nspread; i++)
    if (c->spread[i].do_not_schedule) return 0;
  return 1;
}

/* "2" or "50%" of total (rounded up, as the disruption controller does); -1 when unreadable. */
static int64_t int_or_percent(const char *v, int64_t total) {
  char *end;
  long long k;
  if (v == NULL) return -1;
  k = strtoll(v, &end, 10);
  if (end == v || k < 0) return -1;
  if (*end == '%' && end[1] == '\0') return ((k > 100 ? 100 : k) * total + 99) / 100;
  return *end == '\0' ? (int64_t)k : -1;
}

static int pdb_selects(const struct stv_pdb *b, const struct stv_snapshot *s, const struct stv_pod *p) {
  return strcmp(b->ns, p->ns) == 0 && stv_selector_matches(&b->sel, &s->classes[p->cls]->labels);
}

/*
 * The disruptions each budget allows now: status.disruptionsAllowed when the
 * snapshot has it (kube-scheduler reads that); otherwise healthy pods (bound
 * and Running) minus the pods it wants available, counted over the
 * non-terminal pods it selects.
 */
static void pdb_allowed(const struct stv_snapshot *s, int64_t *allowed) {
  size_t b, i;
  for (b = 0; b < s->npdbs; b++) {
    const struct stv_pdb *d = &s->pdbs[b];
    int64_t healthy = 0, expected = 0, want;
    for (i = 0; i < s->npods; i++) {
      const struct stv_pod *p = &s->pods[i];
      if (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED || !pdb_selects(d, s, p)) continue;
      expected++;
      if (p->node >= 0 && p->phase == STV_PHASE_RUNNING) healthy++;
    }
    if (d->min_available != NULL) {
      want = int_or_percent(d->min_available, expected);
    } else if (d->max_unavailable != NULL) {
      want = int_or_percent(d->max_unavailable, expected);
      if (want >= 0) want = expected - want > 0 ? expected - want : 0;
    } else {
      want = 0;
    }
    /* A value the API would have refused allows nothing, to be safe. */
    allowed[b] = want < 0 ? 0 : (healthy - want > 0 ? healthy - want : 0);
    /* What the disruption controller last wrote is what the scheduler reads. */
    if (d->has_allowed) allowed[b] = d->disruptions_allowed;
  }
}

/* A pod with its priority, for sorting; violating: its eviction breaks a budget. */
struct cand {
  uint32_t pod;
  int32_t prio;
  int violating;
};

/*
 * MoreImportantPod (higher priority first; snapshot order stands in for the
 * start time), budget-violating pods ahead of the others. Also the
 * scheduling queue's order, where violating is 0.
 */
static int cmp_importance(const void *a, const void *b) {
  const struct cand *x = a, *y = b;
  if (x->violating != y->violating) return y->violating - x->violating;
  if (x->prio != y->prio) return x->prio > y->prio ? -1 : 1;
  return x->pod < y->pod ? -1 : x->pod > y->pod;
}

/* The scheduling queue: a binary heap in cmp_importance order (the most important on top). */
static void heap_push(struct cand *h, uint32_t *n, struct cand c) {
  uint32_t i = (*n)++;
  while (i > 0 && cmp_importance(&c, &h[(i - 1) / 2]) < 0) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = c;
}

static struct cand heap_pop(struct cand *h, uint32_t *n) {
  struct cand top = h[0], last = h[--(*n)];
  uint32_t i = 0;
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && cmp_importance(&h[c + 1], &h[c]) < 0) c++;
    if (cmp_importance(&h[c], &last) >= 0) break;
    h[i] = h[c];
    i = c;
  }
  if (*n > 0) h[i] = last;
  return top;
}

/* The outcome of SelectVictimsOnNode on one node, and its rank among candidates. */
struct choice {
  int32_t node;
  uint32_t nvictims, nviol;
  int32_t max_prio;
  int64_t sum_prio;
  uint32_t *victims;
};

static int better(const struct choice *a, const struct choice *b) {
  if (b->node < 0) return 1;
  if (a->nviol != b->nviol) return a->nviol < b->nviol;
  if (a->max_prio != b->max_prio) return a->max_prio < b->max_prio;
  if (a->sum_prio != b->sum_prio) return a->sum_prio < b->sum_prio;
  if (a->nvictims != b->nvictims) return a->nvictims < b->nvictims;
  return a->node < b->node;
}

struct pass {
  const struct stv_snapshot *s;
  int ndim;
  int64_t *free;      /* [node][dim] */
  uint32_t *off, *at; /* victim-kind pods per node (CSR) */
  unsigned char *evicted;
  int64_t *allowed; /* per PDB */
  int64_t *scratch_allowed;
  struct cand *cand;
  /*
   * Classes (one priority each) that found no node to preempt on: the room
   * a pod could make on a node (free plus its lower-priority pods) only
   * shrinks as the queue goes on, so later pods of the class find none either.
   */
  unsigned char *hopeless;
  uint32_t *anti; /* bound pods with required anti-affinity terms */
  uint32_t nanti;
  uint32_t *pdb_off, *pdb_at; /* per pod, the budgets that select it (CSR); NULL without budgets */
};

/*
 * SelectVictimsOnNode for pod q on node n: fills *out (victims into
 * out->victims, which holds room for every pod of the node) and returns 1
 * when q fits there after evicting them.
 */
/* Sorts by cmp_importance: insertion sort for the few pods of a node, qsort beyond. */
static void sort_cands(struct cand *c, uint32_t n) {
  uint32_t i, j;
  if (n > 24) {
    qsort(c, n, sizeof(*c), cmp_importance);
    return;
  }
  for (i = 1; i < n; i++) {
    struct cand x = c[i];
    for (j = i; j > 0 && cmp_importance(&c[j - 1], &x) > 0; j--) c[j] = c[j - 1];
    c[j] = x;
  }
}

static int select_victims(struct pass *P, uint32_t q, int32_t n, const struct choice *best,
                          struct choice *out) {
  const struct stv_snapshot *s = P->s;
  const struct stv_pod *pq = &s->pods[q];
  const int64_t *req = s->classes[pq->cls]->req;
  int64_t room[STV_MAX_RES];
  uint32_t k, nc = 0, nv = 0, j;
  int32_t floor = INT32_MAX;
  int r, any_violating = 0;
  memcpy(room, &P->free[(size_t)n * STV_MAX_RES], sizeof(room));
  for (k = P->off[n]; k < P->off[n + 1]; k++) {
    uint32_t v = P->at[k];
    if (P->evicted[v] || s->pods[v].priority >= pq->priority) continue;
    P->cand[nc].pod = v;
    P->cand[nc].prio = s->pods[v].priority;
    P->cand[nc].violating = 0;
    if (s->pods[v].priority < floor) floor = s->pods[v].priority;
    nc++;
    for (r = 0; r < P->ndim; r++) room[r] += s->classes[s->pods[v].cls]->req[r];
  }
  if (nc == 0 || !fits(req, room, P->ndim)) return 0;
  /* The highest victim is at least the lowest candidate: no match for a best without violations. */
  if (best->node >= 0 && best->nviol == 0 && floor > best->max_prio) return 0;
  /* filterPodsWithPDBViolation, over the victims in importance order. */
  sort_cands(P->cand, nc);
  if (P->pdb_off != NULL) {
    memcpy(P->scratch_allowed, P->allowed, s->npdbs * sizeof(int64_t));
    for (k = 0; k < nc; k++) {
      uint32_t v = P->cand[k].pod;
      for (j = P->pdb_off[v]; j < P->pdb_off[v + 1]; j++) {
        if (P->scratch_allowed[P->pdb_at[j]] <= 0) P->cand[k].violating = any_violating = 1;
        P->scratch_allowed[P->pdb_at[j]]--;
      }
    }
    if (any_violating) sort_cands(P->cand, nc);
  }
  out->node = n;
  out->nvictims = out->nviol = 0;
  out->max_prio = INT32_MIN;
  out->sum_prio = 0;
  /* Reprieve as many as possible: violating ones first, each group by importance. */
  for (k = 0; k < nc; k++) {
    const struct stv_pod *v = &s->pods[P->cand[k].pod];
    const int64_t *vr = s->classes[v->cls]->req;
    int64_t back[STV_MAX_RES];
    for (r = 0; r < P->ndim; r++) back[r] = room[r] - vr[r];
    if (fits(req, back, P->ndim)) {
      memcpy(room, back, sizeof(back));
      continue;
    }
    out->victims[nv++] = P->cand[k].pod;
    if (P->cand[k].violating) out->nviol++;
    if (v->priority > out->max_prio) out->max_prio = v->priority;
    /* The scheduler sums priority + MaxInt32 + 1 so that negative ones still add up. */
    out->sum_prio += (int64_t)v->priority + INT32_MAX + 1;
  }
  out->nvictims = nv;
  return nv > 0;
}

/* Whether nodes a and b share the topology domain of key (the same node for the hostname). */
static int same_domain(const struct stv_snapshot *s, int32_t a, int32_t b, const char *key) {
  const char *va, *vb;
  if (strcmp(key, HOST_KEY) == 0) return a == b;
  va = stv_labels_get(&s->nodes[a].labels, key);
  vb = stv_labels_get(&s->nodes[b].labels, key);
  return va != NULL && vb != NULL && strcmp(va, vb) == 0;
}

/*
 * Whether a pod that stays bound has a required anti-affinity term that
 * selects pod q on node n (InterPodAffinity's symmetry: the scheduler would
 * filter n out). Pods that stay include lower-priority ones on n itself:
 * the pass does not try evicting them for this reason.
 */
static int anti_blocked(const struct pass *P, uint32_t q, int32_t n) {
  const struct stv_snapshot *s = P->s;
  const struct stv_pod *pq = &s->pods[q];
  const struct stv_labels *ql = &s->classes[pq->cls]->labels;
  uint32_t k, t;
  for (k = 0; k < P->nanti; k++) {
    const struct stv_pod *b = &s->pods[P->anti[k]];
    const struct stv_class *bc = s->classes[b->cls];
    if (P->evicted[P->anti[k]]) continue;
    for (t = 0; t < bc->nanti; t++) {
      const struct stv_pod_term *term = &bc->anti[t];
      if (term->match_none || !stv_selector_matches(&term->sel, ql)) continue;
      if (!stv_term_covers_ns(s, term, b->ns, pq->ns)) continue;
      if (same_domain(s, b->node, n, term->topology_key)) return 1;
    }
  }
  return 0;
}

/* Fills P->pdb_off/pdb_at: for each possible victim, the budgets that select it. */
static int index_pdbs(struct pass *P) {
  const struct stv_snapshot *s = P->s;
  size_t i, b, total = 0;
  if ((P->pdb_off = stv_calloc(s->npods + 2, sizeof(uint32_t))) == NULL) return STV_ENOMEM;
  for (i = 0; i < s->npods; i++) {
    P->pdb_off[i + 1] = P->pdb_off[i];
    if (!victim_kind(s, &s->pods[i])) continue;
    for (b = 0; b < s->npdbs; b++)
      if (pdb_selects(&s->pdbs[b], s, &s->pods[i])) P->pdb_off[i + 1]++;
  }
  total = P->pdb_off[s->npods];
  if ((P->pdb_at = stv_calloc(total + 1, sizeof(uint32_t))) == NULL) return STV_ENOMEM;
  for (i = 0; i < s->npods; i++) {
    uint32_t at = P->pdb_off[i];
    if (at == P->pdb_off[i + 1]) continue;
    for (b = 0; b < s->npdbs; b++)
      if (pdb_selects(&s->pdbs[b], s, &s->pods[i])) P->pdb_at[at++] = (uint32_t)b;
  }
  return 0;
}

/* The node of the first fit in the free room, or -1. */
static int32_t first_fit(const struct pass *P, uint32_t q) {
  const struct stv_snapshot *s = P->s;
  const struct stv_class *c = s->classes[s->pods[q].cls];
  size_t n;
  for (n = 0; n < s->nnodes; n++) {
    const struct stv_node *nd = &s->nodes[n];
    struct stv_node_view v = {nd->name, &nd->labels, nd->ntaints, nd->taints, nd->unschedulable};
    if (!fits(c->req, &P->free[n * STV_MAX_RES], P->ndim)) continue;
    if (stv_class_fits_node(c, &v, NULL, 0)) return (int32_t)n;
  }
  return -1;
}

static void take(struct pass *P, int32_t n, const int64_t *req, int sign) {
  int r;
  for (r = 0; r < P->ndim; r++) P->free[(size_t)n * STV_MAX_RES + r] -= sign * req[r];
}

/* Records a preemption in x (growing its arrays). */
static int record(struct stv__preempt *x, uint32_t q, const struct choice *ch) {
  struct stv_plan_preemption *e;
  uint32_t *vs;
  if (stv_grow((void **)&x->v, &x->cap, x->n + 1, sizeof(*x->v)) != 0) return STV_ENOMEM;
  if ((vs = stv_arena_alloc(&x->mem, (ch->nvictims + 1) * sizeof(*vs))) == NULL) return STV_ENOMEM;
  memcpy(vs, ch->victims, ch->nvictims * sizeof(*vs));
  e = &x->v[x->n++];
  e->pod = q;
  e->node = ch->node;
  e->nvictims = ch->nvictims;
  e->victims = vs;
  e->pdb_violations = ch->nviol;
  x->nvictims += ch->nvictims;
  return 0;
}

/* The copy of the snapshot the packer plans: preemptors bound, victims pending. */
static int derive(struct stv__preempt *x, const struct stv_snapshot *s) {
  size_t i, j;
  uint32_t k;
  int r;
  x->pods = stv_arena_alloc(&x->mem, (s->npods + 1) * sizeof(*x->pods));
  x->nodes = stv_arena_alloc(&x->mem, (s->nnodes + 1) * sizeof(*x->nodes));
  x->classes = stv_arena_alloc(&x->mem, (s->nclasses + 1) * sizeof(*x->classes));
  x->cls = stv_arena_alloc(&x->mem, (s->nclasses + 1) * sizeof(*x->cls));
  if (x->pods == NULL || x->nodes == NULL || x->classes == NULL || x->cls == NULL) return STV_ENOMEM;
  if (s->npods) memcpy(x->pods, s->pods, s->npods * sizeof(*x->pods));
  if (s->nnodes) memcpy(x->nodes, s->nodes, s->nnodes * sizeof(*x->nodes));
  for (i = 0; i < x->n; i++) {
    const struct stv_plan_preemption *e = &x->v[i];
    struct stv_pod *q = &x->pods[e->pod];
    struct stv_node *nd = &x->nodes[e->node];
    q->node = e->node;
    q->node_name = nd->name;
    for (r = 0; r < s->res.n; r++) nd->used[r] += s->classes[q->cls]->req[r];
    for (k = 0; k < e->nvictims; k++) {
      struct stv_pod *v = &x->pods[e->victims[k]];
      for (r = 0; r < s->res.n; r++) nd->used[r] -= s->classes[v->cls]->req[r];
      v->node = -1;
      v->node_name = NULL;
      v->phase = STV_PHASE_PENDING;
      v->nominated_node = NULL;
      v->not_planned = (uint8_t)stv_pod_pending_category(s, v);
    }
  }
  for (j = 0; j < s->nclasses; j++) {
    x->cls[j] = *s->classes[j];
    x->cls[j].npods = 0;
    x->cls[j].npending = 0;
    x->classes[j] = &x->cls[j];
  }
  x->snap = *s;
  x->snap.nnot_planned = 0;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &x->pods[i];
    struct stv_class *c = &x->cls[p->cls];
    if (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    c->npods++;
    if (p->node >= 0 || c->daemonset) continue;
    if (p->not_planned == STV_NP_NONE)
      c->npending++;
    else
      x->snap.nnot_planned++;
  }
  x->snap.pods = x->pods;
  x->snap.nodes = x->nodes;
  x->snap.classes = x->classes;
  x->problem.snap = &x->snap;
  return 0;
}

int stv__preempt_run(const struct stv_problem *p, struct stv__preempt *x) {
  const struct stv_snapshot *s = p->snap;
  struct pass P;
  struct choice best, cur;
  struct cand *queue = NULL;
  uint32_t nq = 0;
  int32_t min_victim = INT32_MAX, max_preemptor = INT32_MIN;
  size_t i, n;
  int rc = 0;

  memset(x, 0, sizeof(*x));
  memset(&P, 0, sizeof(P));
  memset(&best, 0, sizeof(best));
  memset(&cur, 0, sizeof(cur));
  stv_arena_init(&x->mem);
  x->problem = *p;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *pp = &s->pods[i];
    if (victim_kind(s, pp) && pp->priority < min_victim) min_victim = pp->priority;
    if (planned_pending(s, pp) && may_preempt(s, pp) && pp->priority > max_preemptor)
      max_preemptor = pp->priority;
  }
  /* Nothing to preempt: the snapshot is planned as it is. */
  if (p->no_preemption || max_preemptor == INT32_MIN || max_preemptor <= min_victim) return 0;

  P.s = s;
  P.ndim = s->res.n;
  P.free = stv_calloc(s->nnodes * STV_MAX_RES + 1, sizeof(int64_t));
  P.off = stv_calloc(s->nnodes + 2, sizeof(uint32_t));
  P.at = stv_calloc(s->npods + 1, sizeof(uint32_t));
  P.evicted = stv_calloc(s->npods + 1, 1);
  P.allowed = stv_calloc(s->npdbs + 1, sizeof(int64_t));
  P.scratch_allowed = stv_calloc(s->npdbs + 1, sizeof(int64_t));
  P.cand = stv_calloc(s->npods + 1, sizeof(*P.cand));
  P.hopeless = stv_calloc(s->nclasses + 1, 1);
  P.anti = stv_calloc(s->npods + 1, sizeof(uint32_t));
  queue = stv_calloc(s->npods + 1, sizeof(*queue));
  best.victims = stv_calloc(s->npods + 1, sizeof(uint32_t));
  cur.victims = stv_calloc(s->npods + 1, sizeof(uint32_t));
  if (!P.free || !P.off || !P.at || !P.evicted || !P.allowed || !P.scratch_allowed || !P.cand ||
      !P.hopeless || !P.anti || !queue || !best.victims || !cur.victims) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (n = 0; n < s->nnodes; n++) {
    int r;
    for (r = 0; r < P.ndim; r++) P.free[n * STV_MAX_RES + r] = s->nodes[n].alloc[r] - s->nodes[n].used[r];
  }
  for (i = 0; i < s->npods; i++)
    if (victim_kind(s, &s->pods[i])) P.off[s->pods[i].node + 1]++;
  for (n = 0; n < s->nnodes; n++) P.off[n + 1] += P.off[n];
  {
    uint32_t *fill = stv_calloc(s->nnodes + 1, sizeof(uint32_t));
    if (fill == NULL) {
      rc = STV_ENOMEM;
      goto out;
    }
    for (i = 0; i < s->npods; i++)
      if (victim_kind(s, &s->pods[i])) {
        int32_t nd = s->pods[i].node;
        P.at[P.off[nd] + fill[nd]++] = (uint32_t)i;
      }
    stv_free(fill);
  }
  pdb_allowed(s, P.allowed);
  if (s->npdbs > 0 && (rc = index_pdbs(&P)) != 0) goto out;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *b = &s->pods[i];
    if (b->node >= 0 && b->phase != STV_PHASE_SUCCEEDED && b->phase != STV_PHASE_FAILED &&
        s->classes[b->cls]->nanti > 0)
      P.anti[P.nanti++] = (uint32_t)i;
  }

  for (i = 0; i < s->npods; i++)
    if (planned_pending(s, &s->pods[i]))
      heap_push(queue, &nq, (struct cand){(uint32_t)i, s->pods[i].priority, 0});

  while (nq > 0) {
    uint32_t q = heap_pop(queue, &nq).pod, k;
    const struct stv_pod *pq = &s->pods[q];
    const struct stv_class *c = s->classes[pq->cls];
    int32_t at = first_fit(&P, q);
    if (at >= 0) {
      take(&P, at, c->req, 1);
      continue;
    }
    if (!may_preempt(s, pq) || pq->priority <= min_victim || P.hopeless[pq->cls]) continue;
    best.node = -1;
    for (n = 0; n < s->nnodes; n++) {
      const struct stv_node *nd = &s->nodes[n];
      struct stv_node_view v = {nd->name, &nd->labels, nd->ntaints, nd->taints, nd->unschedulable};
      uint32_t *keep;
      if (!stv_class_fits_node(c, &v, NULL, 0)) continue;
      if (!select_victims(&P, q, (int32_t)n, &best, &cur)) continue;
      if (anti_blocked(&P, q, (int32_t)n)) continue;
      if (!better(&cur, &best)) continue;
      keep = best.victims;
      best = cur;
      cur.victims = keep;
    }
    if (best.node < 0) {
      P.hopeless[pq->cls] = 1;
      continue;
    }
    for (k = 0; k < best.nvictims; k++) {
      uint32_t v = best.victims[k], j;
      P.evicted[v] = 1;
      take(&P, best.node, s->classes[s->pods[v].cls]->req, -1);
      if (P.pdb_off != NULL)
        for (j = P.pdb_off[v]; j < P.pdb_off[v + 1]; j++) P.allowed[P.pdb_at[j]]--;
      /* Evicted, the victim is pending again, behind the preemptor in the queue. */
      if (stv_pod_pending_category(s, &s->pods[v]) == STV_NP_NONE)
        heap_push(queue, &nq, (struct cand){v, s->pods[v].priority, 0});
    }
    take(&P, best.node, c->req, 1);
    if ((rc = record(x, q, &best)) != 0) goto out;
  }
  if (x->n > 0) rc = derive(x, s);
out:
  stv_free(P.free);
  stv_free(P.off);
  stv_free(P.at);
  stv_free(P.evicted);
  stv_free(P.allowed);
  stv_free(P.scratch_allowed);
  stv_free(P.cand);
  stv_free(P.hopeless);
  stv_free(P.anti);
  stv_free(P.pdb_off);
  stv_free(P.pdb_at);
  stv_free(queue);
  stv_free(best.victims);
  stv_free(cur.victims);
  return rc;
}

void stv__preempt_close(struct stv__preempt *x) {
  stv_free(x->v);
  stv_arena_reset(&x->mem);
  memset(x, 0, sizeof(*x));
}

/* Why pod p of s is not planned, for people; pre: the preemption that evicted it, or -1. */
static void skip_reason(const struct stv_snapshot *s, const struct stv_pod *p, const struct stv__preempt *x,
                        int64_t pre, char *buf, size_t size) {
  size_t n = pre >= 0 ? (size_t)pre : 0;
  const char *by = pre >= 0 ? x->pods[x->v[n].pod].name : NULL;
  const char *on = pre >= 0 ? s->nodes[x->v[n].node].name : NULL;
  switch ((enum stv_not_planned)p->not_planned) {
  case STV_NP_GATED:
    snprintf(buf, size,
             "spec.schedulingGates holds \"%s\": kube-scheduler leaves the pod alone until every gate is "
             "removed (by the controller that set it, e.g. Kueue)",
             p->first_gate);
    return;
  case STV_NP_SCHEDULER:
    snprintf(
        buf, size,
        "spec.schedulerName is \"%s\", not a scheduler Stevedore plans for (add it with --scheduler-names "
        "or schedulerNames in the configuration)",
        p->scheduler_name ? p->scheduler_name : STV_DEFAULT_SCHEDULER);
    return;
  case STV_NP_EXPENDABLE:
    if (by != NULL)
      snprintf(
          buf, size,
          "preempted by %s/%s on node %s; its priority %d is below the expendable-pods priority cutoff %d, "
          "so no node is bought for it",
          x->pods[x->v[n].pod].ns, by, on, (int)p->priority, (int)s->priority_cutoff);
    else
      snprintf(
          buf, size,
          "priority %d is below the expendable-pods priority cutoff %d: no node is bought for it; it runs "
          "when room frees up",
          (int)p->priority, (int)s->priority_cutoff);
    return;
  case STV_NP_NOMINATED:
    snprintf(
        buf, size,
        "status.nominatedNodeName is %s: the scheduler is preempting pods there for it; its requests are "
        "counted on that node",
        p->nominated_node);
    return;
  case STV_NP_NONE:
    break;
  }
  snprintf(buf, size, "not planned");
}

int stv__preempt_apply(const struct stv__preempt *x, const struct stv_snapshot *orig, struct stv_plan *plan) {
  const struct stv_snapshot *s = x->n > 0 ? &x->snap : orig;
  struct stv_plan_node *nodes;
  int64_t *victim_of = NULL; /* per pod: the preemption that evicted it, or -1 */
  uint32_t *on_node = NULL;  /* per node: preemptors placed there */
  int64_t *slot = NULL;      /* per node: its entry in the new node list, or -1 */
  size_t i, j, k = 0, nskip = 0, extra = 0;
  int rc = STV_ENOMEM;
  if ((victim_of = stv_calloc(s->npods + 1, sizeof(*victim_of))) == NULL) goto out;
  for (i = 0; i < s->npods; i++) victim_of[i] = -1;
  for (i = 0; i < x->n; i++)
    for (j = 0; j < x->v[i].nvictims; j++) victim_of[x->v[i].victims[j]] = (int64_t)i;
  /* The pods left out. */
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    if (p->node < 0 && p->not_planned != STV_NP_NONE && p->phase != STV_PHASE_SUCCEEDED &&
        p->phase != STV_PHASE_FAILED && !s->classes[p->cls]->daemonset)
      nskip++;
  }
  plan->skipped = stv_arena_alloc(&plan->mem, (nskip + 1) * sizeof(*plan->skipped));
  if (plan->skipped == NULL) goto out;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    struct stv_plan_skip *e;
    if (p->node >= 0 || p->not_planned == STV_NP_NONE || p->phase == STV_PHASE_SUCCEEDED ||
        p->phase == STV_PHASE_FAILED || s->classes[p->cls]->daemonset)
      continue;
    e = &plan->skipped[plan->nskipped++];
    e->pod = (uint32_t)i;
    e->category = p->not_planned;
    skip_reason(orig, p, x, victim_of[i], e->reason, sizeof(e->reason));
  }
  rc = 0;
  if (x->n == 0) goto out;
  rc = STV_ENOMEM;

  /* The preemptions, and each preemptor on its node. */
  plan->preemptions = stv_arena_alloc(&plan->mem, x->n * sizeof(*plan->preemptions));
  on_node = stv_calloc(s->nnodes + 1, sizeof(*on_node));
  slot = stv_calloc(s->nnodes + 1, sizeof(*slot));
  if (plan->preemptions == NULL || on_node == NULL || slot == NULL) goto out;
  for (i = 0; i < x->n; i++) {
    struct stv_plan_preemption *e = &plan->preemptions[i];
    *e = x->v[i];
    e->victims = stv_arena_alloc(&plan->mem, (x->v[i].nvictims + 1) * sizeof(uint32_t));
    if (e->victims == NULL) goto out;
    memcpy(e->victims, x->v[i].victims, x->v[i].nvictims * sizeof(uint32_t));
    on_node[x->v[i].node]++;
  }
  plan->npreemptions = x->n;
  plan->nvictims = x->nvictims;
  for (i = 0; i < s->nnodes; i++) slot[i] = -1;
  for (j = 0; j < plan->nnodes; j++)
    if (plan->nodes[j].existing >= 0) slot[plan->nodes[j].existing] = 0;
  for (i = 0; i < s->nnodes; i++) extra += on_node[i] > 0 && slot[i] < 0;
  /* Existing nodes first, those that only receive preemptors next, then the new ones. */
  nodes = stv_arena_alloc(&plan->mem, (plan->nnodes + extra + 1) * sizeof(*nodes));
  if (nodes == NULL) goto out;
  for (j = 0; j < plan->nnodes; j++)
    if (plan->nodes[j].existing >= 0) {
      slot[plan->nodes[j].existing] = (int64_t)k;
      nodes[k++] = plan->nodes[j];
    }
  for (i = 0; i < x->n; i++) {
    int32_t n = x->v[i].node;
    struct stv_plan_node *pn;
    if (slot[n] >= 0) continue;
    slot[n] = (int64_t)k;
    pn = &nodes[k++];
    memset(pn, 0, sizeof(*pn));
    pn->existing = n;
    pn->tmpl = -1;
    snprintf(pn->name, sizeof(pn->name), "%s", orig->nodes[n].name);
  }
  for (j = 0; j < plan->nnodes; j++)
    if (plan->nodes[j].existing < 0) nodes[k++] = plan->nodes[j];
  /* Preemptors first on their node (the scheduler binds them before the pods planned into free room). */
  for (i = 0; i < s->nnodes; i++) {
    struct stv_plan_node *pn;
    uint32_t *pods;
    if (on_node[i] == 0) continue;
    pn = &nodes[slot[i]];
    if ((pods = stv_arena_alloc(&plan->mem, (pn->npods + on_node[i] + 1) * sizeof(uint32_t))) == NULL)
      goto out;
    if (pn->npods) memcpy(pods + on_node[i], pn->pods, pn->npods * sizeof(uint32_t));
    pn->pods = pods;
    pn->npods += on_node[i];
    on_node[i] = 0; /* from here: preemptors written */
  }
  for (i = 0; i < x->n; i++) nodes[slot[x->v[i].node]].pods[on_node[x->v[i].node]++] = x->v[i].pod;
  plan->nodes = nodes;
  plan->nnodes = k;
  plan->nplaced += x->n;
  plan->npending += x->n;
  rc = 0;
out:
  stv_free(victim_of);
  stv_free(on_node);
  stv_free(slot);
  return rc;
}
