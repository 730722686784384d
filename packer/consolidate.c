/*
 * The churn-aware consolidation planner (docs/consolidation.md). Finds the
 * few node removals that save the most per disrupted pod: delete (a node's
 * pods fit on the others' free room), replace (they fit elsewhere plus on
 * one cheaper new node) and multi-node (k nodes onto the others plus at
 * most one new node, Karpenter's prefix search). Candidates are judged by
 * a first-fit screen over the free room and the static predicates, taken
 * greedily by saving per weighted eviction (lazily re-judged when they come
 * up, each applied to the working state before the next so that no room is
 * booked twice); the packer (stv_pack) then checks the chosen set as one
 * plan, with every rule it knows, and says where each moved pod goes. An
 * action whose pods the packer cannot place is dropped and the rest checked
 * again.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packer.h"

#define HOURS_PER_MONTH 730.0
#define WHY_SIZE        320

enum { FIT_UNKNOWN = 0, FIT_YES = 1, FIT_NO = 2 };

/* A node of the working state: an existing node, or a new one an action added. */
struct dest {
  int32_t node; /* snapshot index, -1 for a new node */
  int32_t tmpl; /* template of a new node */
  int alive;
  int64_t free[STV_MAX_RES];
  uint32_t *pods; /* movable pods on it now */
  uint32_t npods, cap_pods;
  uint32_t *cls; /* classes of every pod on it now (the rules screen) */
  uint32_t ncls, cap_cls;
  const char *name; /* a new node's name (in the result's memory) */
};

/* A candidate action: the nodes it removes, and what the last judgement found. */
struct cand {
  int kind;
  uint32_t nremove;
  uint32_t *remove; /* dest indexes (= node indexes: existing dests come first) */
  int32_t tmpl;
  double removed, added, saving, weight;
  uint32_t nevict;
};

/* An action taken, with the pods it evicts. */
struct taken {
  struct cand c;
  uint32_t *evict;
  int32_t *dst; /* per evicted pod: the dest the screen sent it to */
  int dropped;
  char c_name[96]; /* its new node's name in the packer's plan */
  struct stv_cons_move *moves;
};

struct cons {
  const struct stv_problem *p;
  const struct stv_snapshot *s;
  const struct stv_cons_options *o;
  const double *price;
  struct stv_cons_result *res;
  int ndim;
  int limits; /* apply the eviction price and the move limit */
  struct dest *d;
  size_t nd, ncols;
  uint32_t *order; /* dests in first-fit order */
  size_t norder;
  char (*why)[WHY_SIZE]; /* per node: why left alone */
  unsigned char *blocked;
  /* static fit caches: [class slot][dest] and [class slot][template] */
  uint32_t *cslot;
  size_t nslots;
  unsigned char *fitn, *fitt;
  int64_t (*tover)[STV_MAX_RES]; /* per template: its DaemonSet pods' requests */
  uint32_t *ttaken;              /* per template: new nodes taken */
  uint32_t *tsorted;             /* templates by price */
  unsigned char *ruled;          /* per class: has inter-pod rules or a hard spread */
  struct stv_pdb_budget pdb;
  /* scratch of one judgement */
  int64_t *delta; /* per dest x STV_MAX_RES */
  uint32_t *touched;
  size_t ntouched;
  unsigned char *inr;
  uint32_t *ep;
  int32_t *edest;
  size_t nep, cap_ep;
  /* the actions taken */
  struct taken *t;
  size_t nt, cap_t;
  uint32_t evictions;
  char (*ban)[WHY_SIZE]; /* per node: why the packer's check excluded it (kept across attempts) */
};

const char *stv_cons_kind_name(int kind) {
  switch (kind) {
  case STV_CONS_DELETE:
    return "delete";
  case STV_CONS_REPLACE:
    return "replace";
  case STV_CONS_MULTI:
    return "multi-node";
  default:
    return "?";
  }
}

void stv_cons_options_default(struct stv_cons_options *o) {
  o->min_saving_fraction = STV_CONS_MIN_FRACTION_DEFAULT;
  o->min_monthly_saving = 0;
  o->eviction_price = 0;
  o->max_moves = -1;
  o->max_multi = STV_CONS_MAX_MULTI_DEFAULT;
}

void stv_cons_result_close(struct stv_cons_result *res) {
  stv_arena_reset(&res->mem);
  memset(res, 0, sizeof(*res));
}

static int push_u32(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t x) {
  size_t c = *cap;
  if (*n + 1 > c && stv_grow((void **)v, &c, (size_t)*n + 1, sizeof(**v)) != 0) return STV_ENOMEM;
  *cap = (uint32_t)c;
  (*v)[(*n)++] = x;
  return 0;
}

static const int64_t *req_of(const struct cons *C, uint32_t pod) {
  return C->s->classes[C->s->pods[pod].cls]->req;
}

/* ---------------------------------------------------------------------- */
/* Setup                                                                  */

static void dest_free(struct dest *d) {
  stv_free(d->pods);
  stv_free(d->cls);
}

static void cons_close(struct cons *C) {
  size_t i;
  for (i = 0; i < C->nd; i++) dest_free(&C->d[i]);
  for (i = 0; i < C->nt; i++) {
    stv_free(C->t[i].evict);
    stv_free(C->t[i].dst);
  }
  stv_free(C->t);
  stv_free(C->d);
  stv_free(C->order);
  stv_free(C->why);
  stv_free(C->blocked);
  stv_free(C->cslot);
  stv_free(C->fitn);
  stv_free(C->fitt);
  stv_free(C->tover);
  stv_free(C->ttaken);
  stv_free(C->tsorted);
  stv_free(C->ruled);
  stv_free(C->delta);
  stv_free(C->touched);
  stv_free(C->inr);
  stv_free(C->ep);
  stv_free(C->edest);
  stv_pdb_budget_close(&C->pdb);
}

/* Whether class c keeps inter-pod rules the screen cannot judge: then one pod of it per node. */
static int class_ruled(const struct stv_class *c) {
  uint32_t i;
  if (c->naff > 0 || c->nanti > 0) return 1;
  for (i = 0; i < c->nspread; i++)
    if (c->spread[i].do_not_schedule) return 1;
  return 0;
}

/*
 * Marks ruled every class some class's required anti-affinity term selects:
 * kube-scheduler keeps such a pod off a node where that term's owner runs,
 * which the screen does not judge. The packer's check places ruled pods.
 */
static void mark_anti_targets(struct cons *C) {
  const struct stv_snapshot *s = C->s;
  size_t o, c;
  uint32_t k;
  for (o = 0; o < s->nclasses; o++) {
    const struct stv_class *owner = s->classes[o];
    for (k = 0; k < owner->nanti; k++) {
      const struct stv_pod_term *t = &owner->anti[k];
      if (t->match_none) continue;
      for (c = 0; c < s->nclasses; c++)
        if (!C->ruled[c] && stv_selector_matches(&t->sel, &s->classes[c]->labels) &&
            stv_term_covers_ns(s, t, owner->ns, s->classes[c]->ns))
          C->ruled[c] = 1;
    }
  }
}

/* Sort keys: utilisation of existing nodes (fullest first), template prices. */
static _Thread_local const struct cons *g_sort_ctx; /* qsort has no context argument */

static double util_of(const struct cons *C, uint32_t i) {
  const struct stv_node *n = &C->s->nodes[i];
  double u = 0;
  if (n->alloc[STV_RES_CPU] > 0) u += (double)n->used[STV_RES_CPU] / (double)n->alloc[STV_RES_CPU];
  if (n->alloc[STV_RES_MEMORY] > 0) u += (double)n->used[STV_RES_MEMORY] / (double)n->alloc[STV_RES_MEMORY];
  return u;
}

static int cmp_util(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  double ux = util_of(g_sort_ctx, x), uy = util_of(g_sort_ctx, y);
  if (ux != uy) return ux > uy ? -1 : 1;
  return x < y ? -1 : x > y;
}

static int cmp_price(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  const struct stv_template *t = g_sort_ctx->p->tmpl;
  double px = t[x].price + t[x].node_cost, py = t[y].price + t[y].node_cost;
  if (px != py) return px < py ? -1 : 1;
  return x < y ? -1 : x > y;
}

/* Each template's DaemonSet overhead: one pod of every DaemonSet whose class may run on it. */
static void setup_overhead(struct cons *C) {
  const struct stv_snapshot *s = C->s;
  size_t t, c, k;
  for (t = 0; t < C->p->ntmpl; t++) {
    const struct stv_template *tp = &C->p->tmpl[t];
    struct stv_node_view v = {NULL, &tp->labels, tp->ntaints, tp->taints, 0};
    for (c = 0; c < s->nclasses; c++) {
      const struct stv_class *dc = s->classes[c];
      int dup = 0;
      if (!dc->daemonset || dc->npods == 0) continue;
      for (k = 0; k < c && !dup; k++)
        dup = s->classes[k]->daemonset && s->classes[k]->owner_uid == dc->owner_uid && s->classes[k]->npods &&
              stv_class_fits_node(s->classes[k], &v, NULL, 0);
      if (dup || !stv_class_fits_node(dc, &v, NULL, 0)) continue;
      for (k = 0; k < (size_t)C->ndim; k++) C->tover[t][k] += dc->req[k];
    }
  }
}

/* Why node i can never be disrupted in this plan, into C->why[i]; returns 1 when so. */
static int node_blocked(struct cons *C, size_t i, uint32_t *first_pod) {
  const struct stv_snapshot *s = C->s;
  const char *r = stv_node_why_undisruptable(&s->nodes[i]);
  const struct dest *d = &C->d[i];
  uint32_t k;
  if (C->price[i] < 0) r = "unpriced: no catalogue price for its instance type, zone and capacity type";
  if (r != NULL) {
    snprintf(C->why[i], WHY_SIZE, "%s", r);
    return 1;
  }
  if (first_pod[i] != UINT32_MAX) {
    const struct stv_pod *p = &s->pods[first_pod[i]];
    snprintf(C->why[i], WHY_SIZE, "pod %s/%s cannot move: %s", p->ns, p->name, stv_pod_why_unmovable(p));
    return 1;
  }
  if (stv_pdb_budget_check(&C->pdb, d->pods, d->npods, 0, C->why[i], WHY_SIZE)) return 1;
  for (k = 0; k < d->npods; k++)
    if (s->pods[d->pods[k]].flags & STV_POD_NODE_MISSING) return 1;
  return 0;
}

/* Places the snapshot's bound pods on the dests, and judges which nodes are blocked. */
static int setup_pods(struct cons *C) {
  const struct stv_snapshot *s = C->s;
  uint32_t *first_bad = stv_malloc((s->nnodes + 1) * sizeof(*first_bad));
  size_t i;
  int rc = 0;
  if (first_bad == NULL) return STV_ENOMEM;
  memset(first_bad, 0xff, (s->nnodes + 1) * sizeof(*first_bad));
  for (i = 0; i < s->npods && rc == 0; i++) {
    const struct stv_pod *p = &s->pods[i];
    struct dest *d;
    if (p->node < 0 || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    d = &C->d[p->node];
    rc = push_u32(&d->cls, &d->ncls, &d->cap_cls, p->cls);
    if (rc != 0 || p->terminating || stv_pod_stays_with_node(s, p)) continue;
    if (stv_pod_why_unmovable(p) != NULL) {
      if (first_bad[p->node] == UINT32_MAX) first_bad[p->node] = (uint32_t)i;
      continue;
    }
    rc = push_u32(&d->pods, &d->npods, &d->cap_pods, (uint32_t)i);
  }
  for (i = 0; i < s->nnodes && rc == 0; i++) C->blocked[i] = (unsigned char)node_blocked(C, i, first_bad);
  stv_free(first_bad);
  return rc;
}

static int cons_init(struct cons *C) {
  const struct stv_snapshot *s = C->s;
  size_t i, n = s->nnodes, nt = C->p->ntmpl, c;
  int rc;
  C->ndim = s->res.n;
  C->ncols = 2 * n + 1; /* existing nodes, and at most one new node per action */
  if ((rc = stv_pdb_budget_init(&C->pdb, s)) != 0) return rc;
  C->d = stv_calloc(C->ncols, sizeof(*C->d));
  C->order = stv_calloc(C->ncols, sizeof(*C->order));
  C->why = stv_calloc(n + 1, sizeof(*C->why));
  C->blocked = stv_calloc(n + 1, 1);
  C->cslot = stv_malloc((s->nclasses + 1) * sizeof(*C->cslot));
  C->tover = stv_calloc(nt + 1, sizeof(*C->tover));
  C->ttaken = stv_calloc(nt + 1, sizeof(*C->ttaken));
  C->tsorted = stv_calloc(nt + 1, sizeof(*C->tsorted));
  C->ruled = stv_calloc(s->nclasses + 1, 1);
  C->delta = stv_calloc(C->ncols * STV_MAX_RES, sizeof(*C->delta));
  C->touched = stv_calloc(C->ncols, sizeof(*C->touched));
  C->inr = stv_calloc(C->ncols, 1);
  if (!C->d || !C->order || !C->why || !C->blocked || !C->cslot || !C->tover || !C->ttaken || !C->tsorted ||
      !C->ruled || !C->delta || !C->touched || !C->inr)
    return STV_ENOMEM;
  for (c = 0; c < s->nclasses; c++) {
    C->ruled[c] = (unsigned char)class_ruled(s->classes[c]);
    C->cslot[c] = s->classes[c]->daemonset ? UINT32_MAX : (uint32_t)C->nslots++;
  }
  C->fitn = stv_calloc(C->nslots * C->ncols + 1, 1);
  C->fitt = stv_calloc(C->nslots * nt + 1, 1);
  if (!C->fitn || !C->fitt) return STV_ENOMEM;
  for (i = 0; i < n; i++) {
    struct dest *d = &C->d[i];
    int r;
    d->node = (int32_t)i;
    d->tmpl = -1;
    d->alive = 1;
    for (r = 0; r < C->ndim; r++) d->free[r] = s->nodes[i].alloc[r] - s->nodes[i].used[r];
    C->order[i] = (uint32_t)i;
  }
  C->nd = C->norder = n;
  g_sort_ctx = C;
  qsort(C->order, n, sizeof(*C->order), cmp_util);
  for (i = 0; i < nt; i++) C->tsorted[i] = (uint32_t)i;
  qsort(C->tsorted, nt, sizeof(*C->tsorted), cmp_price);
  g_sort_ctx = NULL;
  setup_overhead(C);
  mark_anti_targets(C);
  if ((rc = setup_pods(C)) != 0) return rc;
  for (i = 0; i < n; i++)
    if (C->ban != NULL && C->ban[i][0] != '\0' && !C->blocked[i]) {
      C->blocked[i] = 1;
      memcpy(C->why[i], C->ban[i], WHY_SIZE);
    }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The screen                                                             */

static int fits_dest(struct cons *C, uint32_t cls, uint32_t di) {
  unsigned char *f = &C->fitn[(size_t)C->cslot[cls] * C->ncols + di];
  if (*f == FIT_UNKNOWN) {
    const struct dest *d = &C->d[di];
    struct stv_node_view v;
    if (d->node >= 0) {
      const struct stv_node *n = &C->s->nodes[d->node];
      struct stv_node_view nv = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
      v = nv;
    } else {
      const struct stv_template *t = &C->p->tmpl[d->tmpl];
      struct stv_node_view tv = {NULL, &t->labels, t->ntaints, t->taints, 0};
      v = tv;
    }
    *f = stv_class_fits_node(C->s->classes[cls], &v, NULL, 0) ? FIT_YES : FIT_NO;
  }
  return *f == FIT_YES;
}

static int fits_tmpl(struct cons *C, uint32_t cls, uint32_t t) {
  unsigned char *f = &C->fitt[(size_t)C->cslot[cls] * C->p->ntmpl + t];
  if (*f == FIT_UNKNOWN) {
    const struct stv_template *tp = &C->p->tmpl[t];
    struct stv_node_view v = {NULL, &tp->labels, tp->ntaints, tp->taints, 0};
    *f = stv_class_fits_node(C->s->classes[cls], &v, NULL, 0) ? FIT_YES : FIT_NO;
  }
  return *f == FIT_YES;
}

/* Whether a pod of ruled class cls may join dest di: none of its class there, none placed there now. */
static int rules_allow(const struct cons *C, uint32_t cls, uint32_t di, size_t upto) {
  const struct dest *d = &C->d[di];
  size_t k;
  if (!C->ruled[cls]) return 1;
  for (k = 0; k < d->ncls; k++)
    if (d->cls[k] == cls) return 0;
  for (k = 0; k < upto; k++)
    if (C->edest[k] == (int32_t)di && C->s->pods[C->ep[k]].cls == cls) return 0;
  return 1;
}

static int cmp_pod_size(const void *a, const void *b) {
  const struct cons *C = g_sort_ctx;
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  const int64_t *rx = req_of(C, x), *ry = req_of(C, y);
  if (rx[STV_RES_CPU] != ry[STV_RES_CPU]) return rx[STV_RES_CPU] > ry[STV_RES_CPU] ? -1 : 1;
  if (rx[STV_RES_MEMORY] != ry[STV_RES_MEMORY]) return rx[STV_RES_MEMORY] > ry[STV_RES_MEMORY] ? -1 : 1;
  return x < y ? -1 : x > y;
}

/* Gathers the movable pods of k's nodes into C->ep, largest first; 0, or 1 when a node is gone. */
static int gather(struct cons *C, struct cand *k) {
  uint32_t i, j;
  C->nep = 0;
  k->removed = 0;
  for (i = 0; i < k->nremove; i++) {
    const struct dest *d = &C->d[k->remove[i]];
    if (!d->alive) return 1;
    k->removed += C->price[d->node];
    if (stv_grow((void **)&C->ep, &C->cap_ep, C->nep + d->npods + 1, sizeof(*C->ep)) != 0 ||
        (C->edest = stv_realloc(C->edest, (C->cap_ep + 1) * sizeof(*C->edest))) == NULL)
      return STV_ENOMEM;
    for (j = 0; j < d->npods; j++) C->ep[C->nep++] = d->pods[j];
  }
  g_sort_ctx = C;
  qsort(C->ep, C->nep, sizeof(*C->ep), cmp_pod_size);
  g_sort_ctx = NULL;
  return 0;
}

/* First fit of C->ep over the other live dests; leftovers get edest -1. Returns how many are left. */
static size_t first_fit(struct cons *C) {
  size_t e, o, left = 0;
  int r;
  C->ntouched = 0;
  for (e = 0; e < C->nep; e++) {
    uint32_t cls = C->s->pods[C->ep[e]].cls;
    const int64_t *req = C->s->classes[cls]->req;
    C->edest[e] = -1;
    for (o = 0; o < C->norder; o++) {
      uint32_t di = C->order[o];
      const struct dest *d = &C->d[di];
      int64_t *dl = &C->delta[(size_t)di * STV_MAX_RES];
      if (!d->alive || C->inr[di]) continue;
      for (r = 0; r < C->ndim; r++)
        if (req[r] > d->free[r] - dl[r]) break;
      if (r < C->ndim || !fits_dest(C, cls, di) || !rules_allow(C, cls, di, e)) continue;
      if (dl[STV_RES_PODS] == 0 && dl[STV_RES_CPU] == 0 && dl[STV_RES_MEMORY] == 0)
        C->touched[C->ntouched++] = di;
      for (r = 0; r < C->ndim; r++) dl[r] += req[r];
      C->edest[e] = (int32_t)di;
      break;
    }
    left += C->edest[e] < 0;
  }
  return left;
}

static void clear_scratch(struct cons *C, const struct cand *k) {
  size_t i;
  for (i = 0; i < C->ntouched; i++)
    memset(&C->delta[(size_t)C->touched[i] * STV_MAX_RES], 0, STV_MAX_RES * sizeof(int64_t));
  C->ntouched = 0;
  for (i = 0; i < k->nremove; i++) C->inr[k->remove[i]] = 0;
}

/* The cheapest template that takes every leftover pod (edest -1) with its DaemonSets; -1 when none. */
static int32_t pick_template(struct cons *C, double *cost) {
  size_t e, i;
  int32_t best = -1;
  int64_t need[STV_MAX_RES];
  int r;
  memset(need, 0, sizeof(need));
  for (e = 0; e < C->nep; e++)
    if (C->edest[e] < 0)
      for (r = 0; r < C->ndim; r++) need[r] += req_of(C, C->ep[e])[r];
  for (i = 0; i < C->p->ntmpl; i++) {
    uint32_t t = C->tsorted[i];
    const struct stv_template *tp = &C->p->tmpl[t];
    double c;
    if (best >= 0 && tp->price + tp->node_cost >= *cost) break;
    if (tp->limit >= 0 && C->ttaken[t] >= tp->limit) continue;
    for (r = 0; r < C->ndim; r++)
      if (need[r] + C->tover[t][r] > tp->alloc[r]) break;
    if (r < C->ndim) continue;
    for (e = 0; e < C->nep; e++) {
      uint32_t cls = C->s->pods[C->ep[e]].cls;
      size_t k;
      int twice = 0;
      if (C->edest[e] >= 0) continue;
      if (!fits_tmpl(C, cls, t)) break;
      for (k = 0; k < e && C->ruled[cls] && !twice; k++)
        twice = C->edest[k] < 0 && C->s->pods[C->ep[k]].cls == cls;
      if (twice) break;
    }
    if (e < C->nep) continue;
    c = stv_template_cost(tp, need[STV_RES_CPU] + C->tover[t][STV_RES_CPU]);
    if (best < 0 || c < *cost) {
      best = (int32_t)t;
      *cost = c;
    }
  }
  return best;
}

/*
 * Judges candidate k on the working state: 1 when it is worth taking (k
 * filled, the placement in C->ep/edest), 0 when not (why says so, when the
 * reason is worth keeping), or STV_ENOMEM.
 */
static int judge(struct cons *C, struct cand *k, char *why) {
  const struct stv_cons_options *o = C->o;
  size_t left, e;
  uint32_t i;
  int rc;
  why[0] = '\0';
  if ((rc = gather(C, k)) != 0) return rc == 1 ? 0 : rc;
  for (i = 0; i < k->nremove; i++) C->inr[k->remove[i]] = 1;
  left = first_fit(C);
  k->tmpl = -1;
  k->added = 0;
  if (left > 0 && (k->tmpl = pick_template(C, &k->added)) < 0) {
    const struct stv_pod *p = NULL;
    for (e = 0; e < C->nep && p == NULL; e++)
      if (C->edest[e] < 0) p = &C->s->pods[C->ep[e]];
    snprintf(why, WHY_SIZE, "pod %s/%s fits on no other node, and no offering takes the %zu pod%s left",
             p->ns, p->name, left, left == 1 ? "" : "s");
    return 0;
  }
  if (k->kind != STV_CONS_MULTI) k->kind = k->tmpl >= 0 ? STV_CONS_REPLACE : STV_CONS_DELETE;
  k->saving = k->removed - k->added;
  k->nevict = (uint32_t)C->nep;
  k->weight = 0;
  for (e = 0; e < C->nep; e++) k->weight += stv_pod_eviction_cost(&C->s->pods[C->ep[e]]);
  if (k->saving <= 0) {
    snprintf(why, WHY_SIZE, "no cheaper node takes its pods (the cheapest costs %.4f/h, the node %.4f/h)",
             k->added, k->removed);
    return 0;
  }
  if (k->saving < o->min_saving_fraction * k->removed) {
    snprintf(why, WHY_SIZE, "saving %.4f/h is below the threshold (%g%% of %.4f/h)", k->saving,
             100 * o->min_saving_fraction, k->removed);
    return 0;
  }
  if (k->saving * HOURS_PER_MONTH < o->min_monthly_saving) {
    snprintf(why, WHY_SIZE, "saving %.2f a month is below the minimum (%.2f)", k->saving * HOURS_PER_MONTH,
             o->min_monthly_saving);
    return 0;
  }
  if (C->limits && o->eviction_price > 0 && k->saving * HOURS_PER_MONTH <= o->eviction_price * k->weight) {
    snprintf(why, WHY_SIZE, "saving %.2f a month does not pay for %u eviction%s at %.2f each (weighted %.2f)",
             k->saving * HOURS_PER_MONTH, k->nevict, k->nevict == 1 ? "" : "s", o->eviction_price, k->weight);
    return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------------- */
/* Ranking and the greedy                                                 */

/* Whether a ranks before b: empty nodes first, then saving per weighted eviction, saving, first node. */
static int ranks_before(const struct cand *a, const struct cand *b) {
  int ea = a->nevict == 0, eb = b->nevict == 0;
  if (ea != eb) return ea > eb;
  if (!ea) {
    double ka = a->saving / a->weight, kb = b->saving / b->weight;
    if (ka != kb) return ka > kb;
  }
  if (a->saving != b->saving) return a->saving > b->saving;
  if (a->nremove != b->nremove) return a->nremove > b->nremove;
  return a->remove[0] < b->remove[0];
}

struct heap {
  struct cand **v;
  size_t n, cap;
};

static void heap_sift_down(struct heap *h, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    struct cand *tmp;
    if (l < h->n && ranks_before(h->v[l], h->v[m])) m = l;
    if (r < h->n && ranks_before(h->v[r], h->v[m])) m = r;
    if (m == i) return;
    tmp = h->v[i];
    h->v[i] = h->v[m];
    h->v[m] = tmp;
    i = m;
  }
}

static int heap_push(struct heap *h, struct cand *c) {
  size_t i;
  if (stv_grow((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v)) != 0) return STV_ENOMEM;
  i = h->n++;
  h->v[i] = c;
  while (i > 0 && ranks_before(h->v[i], h->v[(i - 1) / 2])) {
    struct cand *tmp = h->v[i];
    h->v[i] = h->v[(i - 1) / 2];
    h->v[(i - 1) / 2] = tmp;
    i = (i - 1) / 2;
  }
  return 0;
}

static struct cand *heap_pop(struct heap *h) {
  struct cand *top;
  if (h->n == 0) return NULL;
  top = h->v[0];
  h->v[0] = h->v[--h->n];
  heap_sift_down(h, 0);
  return top;
}

/* Applies the judged candidate k (placement in C->ep/edest) to the working state and records it. */
static int apply(struct cons *C, const struct cand *k) {
  struct taken *t;
  struct dest *nd = NULL;
  size_t e;
  uint32_t i;
  int r, rc;
  if (stv_grow((void **)&C->t, &C->cap_t, C->nt + 1, sizeof(*C->t)) != 0) return STV_ENOMEM;
  t = &C->t[C->nt];
  memset(t, 0, sizeof(*t));
  t->c = *k;
  if ((t->evict = stv_malloc((C->nep + 1) * sizeof(*t->evict))) == NULL ||
      (t->dst = stv_malloc((C->nep + 1) * sizeof(*t->dst))) == NULL)
    return STV_ENOMEM;
  memcpy(t->evict, C->ep, C->nep * sizeof(*t->evict));
  if ((t->c.remove = stv_arena_alloc(&C->res->mem, k->nremove * sizeof(uint32_t))) == NULL) return STV_ENOMEM;
  memcpy(t->c.remove, k->remove, k->nremove * sizeof(uint32_t));
  C->nt++;
  for (i = 0; i < k->nremove; i++) C->d[k->remove[i]].alive = 0;
  if (k->tmpl >= 0) {
    const struct stv_template *tp = &C->p->tmpl[k->tmpl];
    nd = &C->d[C->nd];
    memset(nd, 0, sizeof(*nd));
    nd->node = -1;
    nd->tmpl = k->tmpl;
    nd->alive = 1;
    for (r = 0; r < C->ndim; r++) nd->free[r] = tp->alloc[r] - C->tover[k->tmpl][r];
    snprintf(t->c_name, sizeof(t->c_name), "stevedore-consolidate-%04zu-%s", C->nt, tp->instance_type);
    if ((nd->name = stv_arena_alloc(&C->res->mem, strlen(t->c_name) + 1)) == NULL) return STV_ENOMEM;
    memcpy((char *)nd->name, t->c_name, strlen(t->c_name) + 1);
    C->ttaken[k->tmpl]++;
    C->order[C->norder++] = (uint32_t)C->nd++;
  }
  for (e = 0; e < C->nep; e++) {
    struct dest *d = C->edest[e] >= 0 ? &C->d[C->edest[e]] : nd;
    uint32_t pod = C->ep[e];
    t->dst[e] = (int32_t)(d - C->d);
    for (r = 0; r < C->ndim; r++) d->free[r] -= req_of(C, pod)[r];
    if ((rc = push_u32(&d->pods, &d->npods, &d->cap_pods, pod)) != 0 ||
        (rc = push_u32(&d->cls, &d->ncls, &d->cap_cls, C->s->pods[pod].cls)) != 0)
      return rc;
  }
  C->evictions += (uint32_t)C->nep;
  return 0;
}

/* Pops, re-judges and takes candidates until none is left. */
static int greedy(struct cons *C, struct heap *h) {
  char why[WHY_SIZE];
  struct cand *k;
  int rc;
  while ((k = heap_pop(h)) != NULL) {
    struct cand before = *k;
    int ok = judge(C, k, why);
    if (ok < 0) return ok;
    if (!ok || (C->limits && C->o->max_moves >= 0 && C->evictions + k->nevict > (uint64_t)C->o->max_moves)) {
      if (ok) snprintf(why, WHY_SIZE, "the move budget (%ld evictions) is spent", C->o->max_moves);
      if (k->nremove == 1 && why[0] != '\0') snprintf(C->why[k->remove[0]], WHY_SIZE, "%s", why);
      clear_scratch(C, k);
      continue;
    }
    if (h->n > 0 && ranks_before(h->v[0], k) && (k->saving != before.saving || k->weight != before.weight)) {
      clear_scratch(C, k); /* worse than it was: back in line */
      if ((rc = heap_push(h, k)) != 0) return rc;
      continue;
    }
    if (stv_pdb_budget_check(&C->pdb, C->ep, C->nep, 1, why, WHY_SIZE)) {
      if (k->nremove == 1) snprintf(C->why[k->remove[0]], WHY_SIZE, "%s", why);
      clear_scratch(C, k);
      continue;
    }
    rc = apply(C, k);
    clear_scratch(C, k);
    if (rc != 0) return rc;
  }
  return 0;
}

/* The singles, and Karpenter's multi-node prefix: the largest k of the cheapest-to-disrupt nodes that go together. */
static int candidates(struct cons *C, struct cand *cs, uint32_t *ids, struct heap *h, uint32_t *multi) {
  char why[WHY_SIZE];
  size_t i, n = 0;
  int rc;
  for (i = 0; i < C->s->nnodes; i++) {
    struct cand *k = &cs[i];
    memset(k, 0, sizeof(*k));
    k->remove = &ids[i];
    ids[i] = (uint32_t)i;
    k->nremove = 1;
    if (C->blocked[i]) continue;
    C->res->candidates++;
    rc = judge(C, k, why);
    clear_scratch(C, k);
    if (rc < 0) return rc;
    multi[n++] = (uint32_t)i; /* judged for the prefix whether or not it goes alone */
    if (rc == 0) {
      snprintf(C->why[i], WHY_SIZE, "%s", why);
      continue;
    }
    if ((rc = heap_push(h, k)) != 0) return rc;
  }
  if (C->o->max_multi < 2 || n < 2) return 0;
  /* Cheapest to disrupt first: weighted evictions, then the dearer node. */
  for (i = 1; i < n; i++) {
    uint32_t x = multi[i];
    size_t j = i;
    for (; j > 0; j--) {
      uint32_t y = multi[j - 1];
      double wy = (double)C->d[y].npods, wx = (double)C->d[x].npods;
      if (wy < wx || (wy == wx && (C->price[y] > C->price[x] || (C->price[y] == C->price[x] && y < x))))
        break;
      multi[j] = y;
    }
    multi[j] = x;
  }
  {
    /* Every prefix is judged (feasibility is not monotone in k: two nodes may not pay for a new node
       that three do); the best ranked one is the candidate. */
    struct cand *m = &cs[C->s->nnodes], *best = &cs[C->s->nnodes + 1];
    uint32_t k, top = (uint32_t)(n < (size_t)C->o->max_multi ? n : (size_t)C->o->max_multi);
    memset(m, 0, sizeof(*m));
    memset(best, 0, sizeof(*best));
    m->kind = STV_CONS_MULTI;
    m->remove = multi;
    for (k = 2; k <= top; k++) {
      m->nremove = k;
      rc = judge(C, m, why);
      clear_scratch(C, m);
      if (rc < 0) return rc;
      if (rc && (best->nremove == 0 || ranks_before(m, best))) *best = *m;
    }
    if (best->nremove >= 2 && (rc = heap_push(h, best)) != 0) return rc;
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The packer's check                                                     */

/*
 * The snapshot the packer checks: the removed nodes empty and closed, the
 * new nodes added as nodes, every moved pod bound where the screen put it
 * (its resources and static predicates are the screen's, exactly) except
 * the ruled ones (inter-pod rules, hard spread, targets of anti-affinity),
 * which are pending for the packer to place with all its rules.
 */
struct check {
  struct stv_snapshot snap;
  struct stv_pod *pods;
  struct stv_node *nodes;
  struct stv_class **classes;
  struct stv_class *cls;
  int32_t *home;          /* per pod: the live action that last moved it, -1 */
  int32_t *where;         /* per pod: the dest it ends on, -1 when not moved */
  int32_t *dmap;          /* per dest: its node in the check, -1 when gone */
  unsigned char *removed; /* per node */
};

static void check_close(struct check *k) {
  stv_free(k->pods);
  stv_free(k->nodes);
  stv_free(k->classes);
  stv_free(k->cls);
  stv_free(k->home);
  stv_free(k->where);
  stv_free(k->dmap);
  stv_free(k->removed);
  memset(k, 0, sizeof(*k));
}

static int check_alloc(struct check *k, const struct cons *C) {
  const struct stv_snapshot *s = C->s;
  k->pods = stv_malloc((s->npods + 1) * sizeof(*k->pods));
  k->nodes = stv_calloc(C->nd + 1, sizeof(*k->nodes));
  k->classes = stv_malloc((s->nclasses + 1) * sizeof(*k->classes));
  k->cls = stv_malloc((s->nclasses + 1) * sizeof(*k->cls));
  k->home = stv_malloc((s->npods + 1) * sizeof(*k->home));
  k->where = stv_malloc((s->npods + 1) * sizeof(*k->where));
  k->dmap = stv_malloc((C->nd + 1) * sizeof(*k->dmap));
  k->removed = stv_malloc(s->nnodes + 1);
  if (!k->pods || !k->nodes || !k->classes || !k->cls || !k->home || !k->where || !k->dmap || !k->removed)
    return STV_ENOMEM;
  return 0;
}

/* The check's nodes: the existing ones (removed ones empty and closed), then the live actions' new ones. */
static void check_nodes(struct cons *C, struct check *k) {
  const struct stv_snapshot *s = C->s;
  size_t i, a, n = s->nnodes;
  uint32_t j;
  memset(k->removed, 0, s->nnodes + 1);
  for (i = 0; i < C->nd; i++) k->dmap[i] = i < s->nnodes ? (int32_t)i : -1;
  for (a = 0; a < C->nt; a++) {
    const struct taken *t = &C->t[a];
    if (t->dropped) continue;
    for (j = 0; j < t->c.nremove; j++) k->removed[t->c.remove[j]] = 1;
    for (j = 0; j < t->c.nevict; j++) /* a new node is the dest at or past nnodes */
      if (t->dst[j] >= (int32_t)s->nnodes && k->dmap[t->dst[j]] < 0) k->dmap[t->dst[j]] = (int32_t)n++;
  }
  for (i = 0; i < s->nnodes; i++) {
    struct stv_node *x = &k->nodes[i];
    *x = s->nodes[i];
    if (!k->removed[i]) continue;
    memset(x->alloc, 0, sizeof(x->alloc));
    memset(x->used, 0, sizeof(x->used));
    x->unschedulable = 1;
  }
  for (i = s->nnodes; i < C->nd; i++) {
    const struct dest *d = &C->d[i];
    const struct stv_template *tp = &C->p->tmpl[d->tmpl];
    struct stv_node *x;
    int r;
    if (k->dmap[i] < 0) continue;
    x = &k->nodes[k->dmap[i]];
    memset(x, 0, sizeof(*x));
    x->name = d->name;
    x->labels = tp->labels;
    x->ntaints = tp->ntaints;
    x->taints = tp->taints;
    for (r = 0; r < C->ndim; r++) x->alloc[r] = tp->alloc[r] - C->tover[d->tmpl][r];
    x->instance_type = tp->instance_type;
    x->zone = tp->zone;
    x->capacity_type = stv_capacity_type_name(tp->capacity_type);
  }
  k->snap = *s;
  k->snap.nodes = k->nodes;
  k->snap.nnodes = n;
}

/* The check's pods: moved ones bound at their dest or (ruled) pending; the rest as read or left out. */
static void check_pods(struct cons *C, struct check *k) {
  const struct stv_snapshot *s = C->s;
  size_t i, a;
  uint32_t j;
  int r;
  for (i = 0; i < s->npods; i++) k->home[i] = k->where[i] = -1;
  for (a = 0; a < C->nt; a++) {
    if (C->t[a].dropped) continue;
    for (j = 0; j < C->t[a].c.nevict; j++) {
      k->where[C->t[a].evict[j]] = C->t[a].dst[j];
      k->home[C->t[a].evict[j]] = (int32_t)a;
    }
  }
  for (i = 0; i < s->npods; i++) {
    struct stv_pod *p = &k->pods[i];
    *p = s->pods[i];
    if (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    if (p->node < 0 || (p->flags & STV_POD_NODE_MISSING) ||
        (k->removed[p->node] && k->where[i] < 0)) { /* pending: not this plan's; or gone with its node */
      p->phase = STV_PHASE_SUCCEEDED;
      continue;
    }
    if (k->where[i] < 0) continue;
    p->nominated_node = NULL;
    p->first_gate = NULL;
    if (C->ruled[p->cls]) {
      p->node = -1;
      p->node_name = NULL;
      p->phase = STV_PHASE_PENDING;
      continue;
    }
    p->node = k->dmap[k->where[i]];
    p->node_name = k->nodes[p->node].name;
    p->phase = STV_PHASE_RUNNING;
    for (r = 0; r < C->ndim; r++) k->nodes[p->node].used[r] += s->classes[p->cls]->req[r];
  }
}

/* Classes counted afresh for the check's pods. */
static void check_classes(struct cons *C, struct check *k) {
  const struct stv_snapshot *s = C->s;
  size_t i;
  for (i = 0; i < s->nclasses; i++) {
    k->cls[i] = *s->classes[i];
    k->cls[i].npods = k->cls[i].npending = 0;
    k->classes[i] = &k->cls[i];
  }
  k->snap.pods = k->pods;
  k->snap.classes = k->classes;
  k->snap.nnot_planned = 0;
  k->snap.any_scheduler = 1;
  for (i = 0; i < s->npods; i++) {
    struct stv_pod *p = &k->pods[i];
    struct stv_class *c = &k->cls[p->cls];
    if (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    c->npods++;
    if (p->node >= 0 || c->daemonset) continue;
    p->not_planned = (uint8_t)stv_pod_pending_category(&k->snap, p);
    if (p->not_planned == STV_NP_NONE)
      c->npending++;
    else
      k->snap.nnot_planned++;
  }
}

/* Each evicted pod's destination: where the screen put it, or where the packer put a ruled one. */
static int record_moves(struct cons *C, struct check *k, const struct stv_plan *plan) {
  const struct stv_snapshot *s = C->s;
  int32_t *packed = stv_malloc((s->npods + 1) * sizeof(*packed));
  size_t i, a;
  uint32_t j;
  if (packed == NULL) return STV_ENOMEM;
  for (i = 0; i < s->npods; i++) packed[i] = -1;
  for (i = 0; i < plan->nnodes; i++)
    for (j = 0; j < plan->nodes[i].npods; j++) packed[plan->nodes[i].pods[j]] = plan->nodes[i].existing;
  for (a = 0; a < C->nt; a++) {
    struct taken *t = &C->t[a];
    if (t->dropped) continue;
    if ((t->moves = stv_arena_alloc(&C->res->mem, (t->c.nevict + 1) * sizeof(*t->moves))) == NULL) {
      stv_free(packed);
      return STV_ENOMEM;
    }
    for (j = 0; j < t->c.nevict; j++) {
      uint32_t q = t->evict[j];
      int32_t at = C->ruled[s->pods[q].cls] ? packed[q] : k->dmap[k->where[q]];
      t->moves[j].pod = q;
      t->moves[j].node = at >= 0 && (size_t)at < s->nnodes ? at : -1;
      t->moves[j].to = at >= 0 ? k->nodes[at].name : NULL; /* NULL: left out, below the priority cutoff */
    }
  }
  stv_free(packed);
  return 0;
}

/*
 * Checks the live actions with the packer. Returns 0 when every ruled pod
 * finds a place (moves recorded), 1 when some do not (their actions' nodes
 * banned, with the packer's reason), or an error.
 */
static int verify(struct cons *C, struct stv_err *err) {
  struct check k;
  struct stv_problem P;
  struct stv_plan plan;
  size_t i;
  int rc;
  memset(&k, 0, sizeof(k));
  memset(&plan, 0, sizeof(plan));
  if ((rc = check_alloc(&k, C)) != 0) goto out;
  check_nodes(C, &k);
  check_pods(C, &k);
  check_classes(C, &k);
  P = *C->p;
  P.snap = &k.snap;
  P.tmpl = NULL;
  P.ntmpl = 0;
  P.no_preemption = 1;
  P.time_limit = 0;
  P.trace = NULL;
  if ((rc = stv_pack(&P, &plan, err)) != 0) goto out;
  C->res->verify_rounds++;
  for (i = 0; i < plan.nunsched; i++) {
    int32_t h = k.home[plan.unsched[i].pod];
    const struct stv_pod *q = &C->s->pods[plan.unsched[i].pod];
    uint32_t j;
    if (h < 0 || C->t[h].dropped) continue;
    C->t[h].dropped = 1;
    C->res->dropped++;
    for (j = 0; j < C->t[h].c.nremove; j++)
      snprintf(C->ban[C->t[h].c.remove[j]], WHY_SIZE, "the packer finds no place for pod %s/%s: %s", q->ns,
               q->name, plan.unsched[i].reason);
    rc = 1;
  }
  if (rc == 0) rc = record_moves(C, &k, &plan);
out:
  stv_plan_close(&plan);
  check_close(&k);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* The entry                                                              */

#define MAX_ATTEMPTS 4

/* Frees the working state for another attempt, keeping the inputs and the bans. */
static void cons_reset(struct cons *C) {
  struct cons keep = *C;
  cons_close(C);
  memset(C, 0, sizeof(*C));
  C->p = keep.p;
  C->s = keep.s;
  C->o = keep.o;
  C->price = keep.price;
  C->res = keep.res;
  C->limits = keep.limits;
  C->ban = keep.ban;
}

/*
 * One greedy run and its check; when the check drops actions, their nodes
 * are banned and the greedy runs again from the start, so that no action
 * rests on one that is gone. After MAX_ATTEMPTS the actions from the first
 * dropped one on are given up (a prefix of the greedy order stands alone).
 */
static int run(struct cons *C, struct stv_err *err) {
  size_t n = C->s->nnodes, attempt, a;
  struct cand *cs = stv_calloc(n + 2, sizeof(*cs));
  uint32_t *ids = stv_calloc(n + 1, sizeof(*ids));
  uint32_t *multi = stv_calloc(n + 1, sizeof(*multi));
  struct heap h = {NULL, 0, 0};
  int rc = STV_ENOMEM;
  if (cs == NULL || ids == NULL || multi == NULL || (C->ban = stv_calloc(n + 1, sizeof(*C->ban))) == NULL)
    goto out;
  for (attempt = 1;; attempt++) {
    C->res->candidates = 0;
    h.n = 0;
    if ((rc = cons_init(C)) != 0 || (rc = candidates(C, cs, ids, &h, multi)) != 0 ||
        (rc = greedy(C, &h)) != 0)
      goto out;
    while ((rc = verify(C, err)) == 1 && attempt >= MAX_ATTEMPTS) {
      for (a = 0; a < C->nt && !C->t[a].dropped; a++) {
      }
      for (; a < C->nt; a++) C->res->dropped += !C->t[a].dropped, C->t[a].dropped = 1;
    }
    if (rc <= 0) goto out;
    cons_reset(C);
  }
out:
  stv_free(h.v);
  stv_free(cs);
  stv_free(ids);
  stv_free(multi);
  return rc;
}

/* The chosen actions into res, with the running totals and each node's reason. */
static int fill_result(struct cons *C) {
  struct stv_cons_result *res = C->res;
  size_t a, k = 0, i;
  res->actions = stv_arena_alloc(&res->mem, (C->nt + 1) * sizeof(*res->actions));
  res->node_why = stv_arena_alloc(&res->mem, (C->s->nnodes + 1) * sizeof(*res->node_why));
  if (res->actions == NULL || res->node_why == NULL) return STV_ENOMEM;
  for (i = 0; i < C->s->nnodes; i++) {
    const char *w = C->why[i][0] != '\0' ? C->why[i] : "no action saves enough on it";
    size_t len = strlen(w) + 1;
    char *copy = stv_arena_alloc(&res->mem, len);
    if (copy == NULL) return STV_ENOMEM;
    memcpy(copy, w, len);
    res->node_why[i] = copy;
  }
  for (a = 0; a < C->nt; a++) {
    const struct taken *t = &C->t[a];
    struct stv_cons_action *x = &res->actions[k];
    if (t->dropped) continue;
    x->kind = t->c.kind;
    x->nremove = t->c.nremove;
    x->remove = t->c.remove;
    x->tmpl = t->c.tmpl;
    snprintf(x->new_name, sizeof(x->new_name), "%s",
             t->c_name[0] != '\0' || t->c.tmpl < 0 ? t->c_name : "(not needed)");
    x->removed_hourly = t->c.removed;
    x->added_hourly = t->c.added;
    x->saving_hourly = t->c.saving;
    x->nevict = t->c.nevict;
    x->weight = t->c.weight;
    x->nmoves = t->c.nevict;
    x->moves = t->moves;
    res->evictions += x->nevict;
    res->saving_hourly += x->saving_hourly;
    x->cum_evictions = res->evictions;
    x->cum_monthly_saving = res->saving_hourly * HOURS_PER_MONTH;
    for (i = 0; i < x->nremove; i++) res->node_why[x->remove[i]] = NULL;
    k++;
  }
  res->nactions = k;
  return 0;
}

/* The curve: the unlimited run's actions, step by step. */
static int fill_curve(struct stv_cons_result *res, const struct cons *C) {
  size_t a, k = 0;
  uint32_t ev = 0;
  double saving = 0;
  res->curve = stv_arena_alloc(&res->mem, (C->nt + 1) * sizeof(*res->curve));
  if (res->curve == NULL) return STV_ENOMEM;
  for (a = 0; a < C->nt; a++) {
    if (C->t[a].dropped) continue;
    ev += C->t[a].c.nevict;
    saving += C->t[a].c.saving * HOURS_PER_MONTH;
    res->curve[k].evictions = ev;
    res->curve[k++].monthly_saving = saving;
  }
  res->ncurve = k;
  return 0;
}

int stv_consolidate(const struct stv_problem *p, const double *node_price, const struct stv_cons_options *o,
                    struct stv_cons_result *res, struct stv_err *err) {
  struct cons C, U;
  size_t i;
  int rc;
  memset(res, 0, sizeof(*res));
  stv_arena_init(&res->mem);
  memset(&C, 0, sizeof(C));
  memset(&U, 0, sizeof(U));
  C.p = U.p = p;
  C.s = U.s = p->snap;
  C.o = U.o = o;
  C.price = U.price = node_price;
  C.res = U.res = res;
  C.limits = 1;
  for (i = 0; i < p->snap->nnodes; i++)
    if (node_price[i] >= 0) res->current_hourly += node_price[i];
  if ((rc = run(&C, err)) != 0 || (rc = fill_result(&C)) != 0) goto out;
  if (o->max_moves < 0 && o->eviction_price <= 0) {
    rc = fill_curve(res, &C);
    goto out;
  }
  {
    size_t cand = res->candidates, rounds = res->verify_rounds, dropped = res->dropped;
    if ((rc = run(&U, err)) == 0) rc = fill_curve(res, &U);
    res->candidates = cand; /* the figures are the chosen run's */
    res->verify_rounds = rounds;
    res->dropped = dropped;
  }
out:
  stv_free(C.ban);
  stv_free(U.ban);
  cons_close(&C);
  cons_close(&U);
  if (rc == STV_ENOMEM) stv_err_set(err, rc, "out of memory");
  return rc;
}
