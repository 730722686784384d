/*
 * Two peer provisioning policies, re-implemented from their published
 * descriptions, on Stevedore's data model (struct stv_problem in, struct
 * stv_plan out). Neither shares code with packer/pack.c: they use only the
 * model's public predicates (stv_class_fits_node, stv_selector_matches,
 * stv_term_covers_ns), so a fault in the packer's own rule code does not
 * carry over into the baselines it is measured against.
 *
 * Sources
 * -------
 * Karpenter (kubernetes-sigs/karpenter), from its scheduling documentation
 * and pkg/controllers/provisioning/scheduling: scheduler.go (Solve, add:
 * existing nodes first, then the in-flight NodeClaims sorted by how few
 * pods they hold, then a new NodeClaim), queue.go (NewQueue sorts the pods
 * with byCPUAndMemoryDescending; a pod that fails goes to the back and the
 * queue stops when it cycles without progress), nodeclaim.go (Add narrows
 * InstanceTypeOptions to the types that still fit the merged requests plus
 * the DaemonSet overhead and the merged requirements; a NodeClaim with no
 * type left refuses the pod), topology.go and topologygroup.go (spread:
 * the domain with the fewest matching pods among the node's domains whose
 * count + 1 - global minimum stays within maxSkew, the minimum being 0 for
 * hostname; affinity: domains that already hold a matching pod, or any
 * domain for the first pod of a self-selecting group; anti-affinity:
 * domains that hold none, both ways through the inverse topologies). At
 * launch the cloud provider takes the cheapest offering of the types left.
 *
 * Cluster Autoscaler (kubernetes/autoscaler, cluster-autoscaler), from its
 * FAQ, the expander documentation and estimator/binpacking_estimator.go,
 * estimator/decreasing_pod_orderer.go and expander/waste/waste.go: pending
 * pods that fit existing or upcoming nodes are left to the scheduler; for
 * every node group the binpacking estimator sorts the pod equivalence
 * groups by cpu/allocatable + memory/allocatable of the group's template,
 * puts each pod on any node it has already added that fits, otherwise on
 * the last node added, otherwise on a new node, up to
 * --max-nodes-per-scaleup; the least-waste expander picks the option whose
 * nodes leave the smallest fraction of cpu plus memory unrequested (CA
 * breaks ties at random; here by price, then catalogue order); the loop
 * repeats for the pods still pending.
 *
 * Where the re-implementations depart from the originals
 * --------------------------------------------------------
 * Both must produce plans that tests/checker.py accepts, and the checker
 * judges spread and affinity in the final state, over all pods, whatever
 * order the scheduler binds them in. Karpenter and kube-scheduler check a
 * spread constraint only when its owner is scheduled, so a later pod the
 * constraint counts (in the benchmark mix, a "generic" pod carrying the
 * same my-label) could push a domain over maxSkew. So, in both baselines:
 * - a pod that a spread constraint counts is checked against it too,
 *   wherever an owner of the constraint already is (pack.c does the same);
 * - a pod that any zone-level rule concerns (owner, counted, or selected by
 *   an affinity or anti-affinity term) fixes the zone of the in-flight node
 *   it joins, so zone counts are exact; Karpenter records such a pod only
 *   once its node's zone is known;
 * - pod affinity needs one pod matching all of a pod's terms in the domain
 *   (Karpenter checks each term alone);
 * - a final pass withdraws spread owners from zones still over maxSkew (it
 *   finds nothing to do on every input tried, and counts what it did).
 * Zone spread constraints whose domains are narrowed by the owner's node
 * affinity (nodeAffinityPolicy Honor) or taints (nodeTaintsPolicy Honor)
 * in a way the offerings do not all share, and rules on topology keys other
 * than hostname and zone, are not planned: such pods are listed as
 * unschedulable with that reason.
 *
 * The Cluster-Autoscaler-like policy settles zone-level rules before the
 * scale-up loop, one pod at a time (the zone with the fewest matching pods
 * that keeps every rule), instead of relying on the scheduler simulation
 * inside each estimate, and places pods with required hostname pod affinity
 * only on existing nodes that already run a matching pod. Its waste uses
 * the offering's allocatable where CA uses the node's capacity.
 */
#include "peers_internal.h"

/* ---------------------------------------------------------------------- */
/* Karpenter-like                                                          */

struct kp {
  struct world *w;
  uint32_t *ord;    /* in-flight nodes (world ids) by pod count, fewest first */
  uint32_t *pos;    /* per world node: its place in ord */
  uint32_t *bs;     /* bs[k]: first place in ord of a node with >= k pods */
  uint32_t kmax;    /* pod counts tracked: 0..kmax */
  size_t nflight;
  uint32_t *scratch; /* candidate filter output */
  unsigned char *zav;
  struct pnode *fresh;
  uint32_t *xorder; /* existing nodes by name */
  size_t evals;
};

/* Moves in-flight node x one bucket up after it took a pod. */
static void kp_bump(struct kp *K, uint32_t x) {
  struct world *w = K->w;
  uint32_t k = w->nodes[x]->npods - 1, p = K->pos[x], last, y;
  if (k + 1 > K->kmax) return; /* beyond the tracked range: stays at the end */
  last = K->bs[k + 1] - 1;
  y = K->ord[last];
  K->ord[last] = x;
  K->ord[p] = y;
  K->pos[x] = last;
  K->pos[y] = p;
  K->bs[k + 1]--;
}

/* Appends in-flight node x with no pods yet. */
static void kp_append(struct kp *K, uint32_t x) {
  uint32_t cur = (uint32_t)K->nflight, k;
  K->ord[cur] = x;
  K->pos[x] = cur;
  K->nflight++;
  K->bs[K->kmax + 1] = (uint32_t)K->nflight;
  for (k = K->kmax; k >= 1; k--) {
    uint32_t b = K->bs[k], y = K->ord[b];
    K->ord[b] = x;
    K->ord[cur] = y;
    K->pos[x] = b;
    K->pos[y] = cur;
    K->bs[k]++;
    cur = b;
  }
}

/*
 * NodeClaim.Add for in-flight node n: the candidates that still fit the
 * merged requests and take class c, the zone its rules pick (fixed for
 * zone participants), the hostname rules. On success the surviving
 * candidates are in K->scratch[0..*m) and the zone in *zone.
 */
static int kp_try(struct kp *K, const struct pnode *n, uint32_t c, uint32_t *m, int32_t *zone) {
  struct world *w = K->w;
  const struct stv_class *k = w->s->classes[c];
  uint32_t i, cnt = 0;
  int32_t z = n->zone;
  int r;
  K->evals++;
  for (r = 0; r < w->ndim; r++)
    if (k->req[r] > 0 && n->used[r] + k->req[r] > n->maxcap[r]) return 0;
  if (stv__peers_host_room(w, n, c, 1) == 0) return 0;
  if (w->zpart[c] && z >= 0 && !stv__peers_zone_ok(w, c, z, -1)) return 0;
  if (w->zpart[c] && z < 0) memset(K->zav, 0, w->nz + 1);
  for (i = 0; i < n->ncand; i++) {
    uint32_t t = n->cand[i];
    const int64_t *ta = &w->talloc[(size_t)t * STV_MAX_RES];
    int fits = 1;
    if (!BIT_GET(&w->compat[(size_t)t * w->W], c)) continue;
    for (r = 0; r < w->ndim && fits; r++)
      if (k->req[r] > 0 && n->used[r] + k->req[r] > ta[r]) fits = 0;
    if (!fits) continue;
    K->scratch[cnt++] = t;
    if (w->zpart[c] && z < 0 && w->tzone[t] >= 0) K->zav[w->tzone[t]] = 1;
  }
  if (cnt == 0) return 0;
  if (w->zpart[c] && z < 0) {
    uint32_t kept = 0;
    z = stv__peers_choose_zone(w, c, K->zav);
    if (z < 0) return 0;
    for (i = 0; i < cnt; i++)
      if (w->tzone[K->scratch[i]] == z) K->scratch[kept++] = K->scratch[i];
    cnt = kept;
  }
  *m = cnt;
  *zone = z;
  return 1;
}

/* Commits pod (class c) to in-flight node n with candidates K->scratch[0..m). */
static void kp_commit(struct kp *K, struct pnode *n, uint32_t c, uint32_t m, int32_t zone) {
  struct world *w = K->w;
  uint32_t i;
  int r;
  memcpy(n->cand, K->scratch, m * sizeof(uint32_t));
  n->ncand = m;
  memset(n->maxcap, 0, sizeof(n->maxcap));
  for (i = 0; i < m; i++) {
    const int64_t *ta = &w->talloc[(size_t)n->cand[i] * STV_MAX_RES];
    for (r = 0; r < w->ndim; r++)
      if (ta[r] > n->maxcap[r]) n->maxcap[r] = ta[r];
  }
  stv__peers_node_commit(w, n, c, 1);
  if (w->zpart[c] && zone >= 0) {
    n->zone = zone;
    stv__peers_zone_commit(w, c, zone, -1, 1);
  }
}

/* Places one pod as Scheduler.add does; returns 1 when placed, 0 when not, or STV_ENOMEM. */
static int kp_add(struct kp *K, uint32_t pod) {
  struct world *w = K->w;
  uint32_t c = w->s->pods[pod].cls, m, i, id;
  int32_t zone;
  struct pnode *n;
  for (i = 0; i < w->nexist; i++)
    if (stv__peers_exist_place(w, K->xorder[i], pod)) return 1;
  for (i = 0; i < K->nflight; i++) {
    uint32_t x = K->ord[i];
    n = w->nodes[x];
    if (!kp_try(K, n, c, &m, &zone)) continue;
    kp_commit(K, n, c, m, zone);
    w->where[pod] = (int32_t)x;
    kp_bump(K, x);
    return 1;
  }
  if (!kp_try(K, K->fresh, c, &m, &zone)) return 0;
  n = stv__peers_node_new(w);
  if (n == NULL) return STV_ENOMEM;
  n->cand = stv__peers_walloc(w, m * sizeof(uint32_t));
  if (n->cand == NULL || stv__peers_node_push(w, n, &id)) return STV_ENOMEM;
  kp_append(K, id);
  kp_commit(K, n, c, m, zone);
  w->where[pod] = (int32_t)id;
  kp_bump(K, id);
  return 1;
}

struct podkey {
  int64_t cpu, mem;
  uint32_t pod;
};

/* byCPUAndMemoryDescending; ties keep snapshot order (Karpenter: creation time, then uid). */
static int cmp_podkey(const void *a, const void *b) {
  const struct podkey *x = a, *y = b;
  if (x->cpu != y->cpu) return x->cpu > y->cpu ? -1 : 1;
  if (x->mem != y->mem) return x->mem > y->mem ? -1 : 1;
  return x->pod < y->pod ? -1 : x->pod > y->pod;
}

/* Existing nodes in name order (Karpenter sorts its existing nodes by name). */
static void sort_existing(const struct world *w, uint32_t *xorder) {
  size_t i, j;
  for (i = 0; i < w->nexist; i++) xorder[i] = (uint32_t)i;
  /* Insertion sort keeps this free of file-level state; clusters have few nodes. */
  for (i = 1; i < w->nexist; i++) {
    uint32_t v = xorder[i];
    for (j = i; j > 0 && strcmp(w->s->nodes[xorder[j - 1]].name, w->s->nodes[v].name) > 0; j--)
      xorder[j] = xorder[j - 1];
    xorder[j] = v;
  }
}

/* The cheapest candidate with capacity left becomes each in-flight node's offering. */
static void kp_launch(struct kp *K, int64_t *left) {
  struct world *w = K->w;
  size_t x, i;
  for (x = w->nexist; x < w->nnodes; x++) {
    struct pnode *n = w->nodes[x];
    int32_t best = -1;
    for (i = 0; i < n->ncand; i++) {
      uint32_t t = n->cand[i];
      if (left[t] == 0) continue;
      if (best < 0 || w->p->tmpl[t].price < w->p->tmpl[best].price ||
          (w->p->tmpl[t].price == w->p->tmpl[best].price && (int32_t)t < best))
        best = (int32_t)t;
    }
    if (best < 0) {
      size_t j;
      for (j = 0; j < w->npending; j++)
        if (w->where[w->pending[j]] == (int32_t)x) {
          w->where[w->pending[j]] = -1;
          w->why[w->pending[j]] = "its in-flight node has no offering left (reserved capacity used up)";
        }
      n->npods = 0;
      continue;
    }
    if (left[best] > 0) left[best]--;
    n->tmpl = best;
    n->zone = w->tzone[best];
  }
}

/* Both policies' last step: the final spread check, then the plan (its node names prefixed). */
static int finish_plan(struct world *w, struct stv_plan *plan, const char *prefix) {
  int rc =
      stv__peers_repair_spread(w, "withdrawn by the final check: its zone would exceed the spread constraint's maxSkew");
  return rc != 0 ? rc : stv__peers_build_plan(w, plan, prefix);
}

/*
 * Both policies' exit: fills stats (when given), closes w, and on an error
 * rc empties plan and says in err which policy failed. Returns rc.
 */
static int policy_done(struct world *w, struct stv_plan *plan, int rc, size_t rounds, size_t evals,
                       struct stv_peers_stats *stats, const char *policy, struct stv_err *err) {
  if (stats) {
    memset(stats, 0, sizeof(*stats));
    stats->rounds = rounds;
    stats->evaluations = evals;
    stats->withdrawn = w->withdrawn;
  }
  stv__peers_world_close(w);
  if (rc) {
    stv_plan_close(plan);
    memset(plan, 0, sizeof(*plan));
    stv_arena_init(&plan->mem);
    return stv_err_set(err, rc, "%s: %s", policy, stv_strerror(rc));
  }
  return 0;
}

int stv_peers_karpenter(const struct stv_problem *p, struct stv_plan *plan, struct stv_peers_stats *stats,
                        struct stv_err *err) {
  struct world w;
  struct kp K;
  struct podkey *keys = NULL;
  uint32_t *queue, *failed;
  int64_t *left;
  size_t i, nq, rounds = 0;
  int rc;
  memset(plan, 0, sizeof(*plan));
  stv_arena_init(&plan->mem);
  memset(&K, 0, sizeof(K));
  if ((rc = stv__peers_world_init(&w, p)) != 0) goto out;
  K.w = &w;
  K.kmax = (uint32_t)(w.maxcap[STV_RES_PODS] > 0 && w.maxcap[STV_RES_PODS] < 100000 ? w.maxcap[STV_RES_PODS] : 100000);
  K.ord = stv__peers_walloc(&w, (w.npending + 1) * sizeof(uint32_t));
  K.pos = stv__peers_walloc(&w, (w.nexist + w.npending + 1) * sizeof(uint32_t));
  K.bs = stv__peers_walloc(&w, ((size_t)K.kmax + 2) * sizeof(uint32_t));
  K.scratch = stv__peers_walloc(&w, (w.nusable + 1) * sizeof(uint32_t));
  K.zav = stv__peers_walloc(&w, w.nz + 1);
  K.xorder = stv__peers_walloc(&w, (w.nexist + 1) * sizeof(uint32_t));
  K.fresh = stv__peers_node_new(&w);
  queue = stv__peers_walloc(&w, (w.npending + 1) * sizeof(uint32_t));
  failed = stv__peers_walloc(&w, (w.npending + 1) * sizeof(uint32_t));
  left = stv__peers_walloc(&w, (p->ntmpl + 1) * sizeof(int64_t));
  keys = stv_malloc((w.npending + 1) * sizeof(*keys));
  if (!K.ord || !K.pos || !K.bs || !K.scratch || !K.zav || !K.xorder || !K.fresh || !queue || !failed || !left ||
      !keys) {
    rc = STV_ENOMEM;
    goto out;
  }
  sort_existing(&w, K.xorder);
  /* A fresh NodeClaim may become any offering. */
  K.fresh->cand = w.usable;
  K.fresh->ncand = (uint32_t)w.nusable;
  memcpy(K.fresh->maxcap, w.maxcap, sizeof(w.maxcap));
  for (i = 0; i < w.npending; i++) {
    const struct stv_class *k = w.s->classes[w.s->pods[w.pending[i]].cls];
    keys[i].cpu = k->req[STV_RES_CPU];
    keys[i].mem = k->req[STV_RES_MEMORY];
    keys[i].pod = w.pending[i];
  }
  qsort(keys, w.npending, sizeof(*keys), cmp_podkey);
  nq = 0;
  for (i = 0; i < w.npending; i++)
    if (w.unsup[w.s->pods[keys[i].pod].cls] == NULL) queue[nq++] = keys[i].pod;
  /* The queue: a pod that fails goes to the back; stop when a pass places nothing. */
  while (nq > 0) {
    size_t nf = 0, placed = 0;
    rounds++;
    for (i = 0; i < nq; i++) {
      int r2 = kp_add(&K, queue[i]);
      if (r2 < 0) {
        rc = r2;
        goto out;
      }
      if (r2)
        placed++;
      else
        failed[nf++] = queue[i];
    }
    if (placed == 0) break;
    memcpy(queue, failed, nf * sizeof(uint32_t));
    nq = nf;
  }
  for (i = 0; i < p->ntmpl; i++) left[i] = p->tmpl[i].limit;
  kp_launch(&K, left);
  rc = finish_plan(&w, plan, "karpenter");
out:
  stv_free(keys);
  return policy_done(&w, plan, rc, rounds, K.evals, stats, "Karpenter-like policy", err);
}

/* ---------------------------------------------------------------------- */
/* Cluster-Autoscaler-like                                                */

/* Pending pods of one class (and one settled zone, or -1): an equivalence group. */
struct batch {
  uint32_t c;
  int32_t zone;
  uint32_t *pods;
  uint32_t n, taken;
};

struct scored {
  double score;
  uint32_t b;
};

struct rec {
  uint32_t node, b, k;
};

struct ca {
  struct world *w;
  struct batch *b;
  size_t nb;
  uint32_t L;
  struct pnode **sim; /* L scratch nodes */
  uint32_t *lrem;     /* per batch: pods left in the estimate */
  struct scored *ord;
  struct rec *rec;
  size_t nrec, caprec;
  int64_t *left;      /* per template: nodes it may still add (-1: any) */
  uint32_t *groups;   /* templates that are node groups (identical ones merged) */
  size_t ngroups;
  size_t evals;
};

static int cmp_scored(const void *a, const void *b) {
  const struct scored *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->b < y->b ? -1 : x->b > y->b;
}

/*
 * Node groups: every usable offering, except that of offerings alike in
 * zone, allocatable (before and after DaemonSets), the classes they take
 * and an unlimited count, only the cheapest is kept: the estimate and the
 * waste of such offerings are equal, and least-waste breaks ties by price.
 */
static int ca_groups(struct ca *A) {
  struct world *w = A->w;
  size_t i, j;
  A->groups = stv__peers_walloc(w, (w->nusable + 1) * sizeof(uint32_t));
  if (A->groups == NULL) return STV_ENOMEM;
  for (i = 0; i < w->nusable; i++) {
    uint32_t t = w->usable[i];
    const struct stv_template *tt = &w->p->tmpl[t];
    int dup = 0;
    if (tt->limit < 0) {
      for (j = 0; j < A->ngroups; j++) {
        uint32_t u = A->groups[j];
        const struct stv_template *tu = &w->p->tmpl[u];
        if (tu->limit >= 0 || w->tzone[u] != w->tzone[t]) continue;
        if (memcmp(tu->alloc, tt->alloc, sizeof(tt->alloc)) != 0) continue;
        if (memcmp(&w->talloc[(size_t)u * STV_MAX_RES], &w->talloc[(size_t)t * STV_MAX_RES],
                   STV_MAX_RES * sizeof(int64_t)) != 0)
          continue;
        if (memcmp(&w->compat[(size_t)u * w->W], &w->compat[(size_t)t * w->W], w->W * sizeof(uint64_t)) != 0)
          continue;
        dup = 1;
        if (tt->price < tu->price) A->groups[j] = t;
        break;
      }
    }
    if (!dup) A->groups[A->ngroups++] = t;
  }
  return 0;
}

static void sim_reset(struct world *w, struct pnode *n) {
  memset(n->used, 0, sizeof(n->used));
  memset(n->pres, 0, w->W * sizeof(uint64_t));
  memset(n->hcnt, 0, (w->nhg + 1) * sizeof(uint32_t));
  n->npods = 0;
}

/* A simulated node takes node-level state only: pods of batches were zone-settled before the loop. */
static void sim_put(struct world *w, struct pnode *n, uint32_t c, uint32_t k) { stv__peers_node_put(w, n, c, k); }

static int batch_takes(const struct ca *A, uint32_t t, const struct batch *b) {
  const struct world *w = A->w;
  if (b->taken >= b->n || w->aff_host[b->c]) return 0;
  if (b->zone >= 0 && b->zone != w->tzone[t]) return 0;
  return (int)BIT_GET(&w->compat[(size_t)t * w->W], b->c);
}

/*
 * The binpacking estimate for node group t: equivalence groups by
 * decreasing cpu/allocatable + memory/allocatable; each group's pods on
 * the nodes added so far (first that fits), then on new nodes, at most
 * A->L (and the reserved count). Returns the nodes added; *cpu and *mem
 * get the requests scheduled, *pods their count. With record, the
 * placements are kept in A->rec.
 */
static int ca_estimate(struct ca *A, uint32_t t, int record, uint32_t *nodes, double *cpu, double *mem,
                       uint32_t *pods) {
  struct world *w = A->w;
  const struct stv_template *tt = &w->p->tmpl[t];
  const int64_t *cap = &w->talloc[(size_t)t * STV_MAX_RES];
  uint32_t nn = 0, L = A->L, placed = 0;
  size_t ne = 0, i, j;
  double ac = (double)tt->alloc[STV_RES_CPU], am = (double)tt->alloc[STV_RES_MEMORY];
  A->evals++;
  *cpu = *mem = 0;
  if (A->left[t] >= 0 && (uint64_t)A->left[t] < L) L = (uint32_t)A->left[t];
  for (i = 0; i < A->nb; i++) {
    const struct batch *b = &A->b[i];
    const struct stv_class *k;
    if (!batch_takes(A, t, b)) continue;
    k = w->s->classes[b->c];
    A->ord[ne].score = (ac > 0 ? (double)k->req[STV_RES_CPU] / ac : 0) + (am > 0 ? (double)k->req[STV_RES_MEMORY] / am : 0);
    A->ord[ne].b = (uint32_t)i;
    A->lrem[i] = b->n - b->taken;
    ne++;
  }
  *nodes = 0;
  *pods = 0;
  if (ne == 0) return 0;
  qsort(A->ord, ne, sizeof(*A->ord), cmp_scored);
  for (i = 0; i < ne; i++) {
    uint32_t bi = A->ord[i].b, c = A->b[bi].c, want = A->lrem[bi], k;
    const struct stv_class *kc = w->s->classes[c];
    /* Nodes added during this estimate, first that fits. */
    for (j = 0; j < nn && want > 0; j++) {
      struct pnode *n = A->sim[j];
      k = stv__peers_res_room(w, n->used, cap, kc, want);
      if (k == 0) continue;
      k = stv__peers_host_room(w, n, c, k);
      if (k == 0) continue;
      sim_put(w, n, c, k);
      if (record) {
        if (stv_grow((void **)&A->rec, &A->caprec, A->nrec + 1, sizeof(*A->rec))) return STV_ENOMEM;
        A->rec[A->nrec].node = (uint32_t)j;
        A->rec[A->nrec].b = bi;
        A->rec[A->nrec++].k = k;
      }
      want -= k;
      *cpu += (double)kc->req[STV_RES_CPU] * k;
      *mem += (double)kc->req[STV_RES_MEMORY] * k;
    }
    /* Then new nodes, each filled before the next is added. */
    while (want > 0 && nn < L) {
      struct pnode *n = A->sim[nn];
      sim_reset(w, n);
      k = stv__peers_res_room(w, n->used, cap, kc, want);
      if (k > 0) k = stv__peers_host_room(w, n, c, k);
      if (k == 0) break;
      sim_put(w, n, c, k);
      if (record) {
        if (stv_grow((void **)&A->rec, &A->caprec, A->nrec + 1, sizeof(*A->rec))) return STV_ENOMEM;
        A->rec[A->nrec].node = nn;
        A->rec[A->nrec].b = bi;
        A->rec[A->nrec++].k = k;
      }
      nn++;
      want -= k;
      *cpu += (double)kc->req[STV_RES_CPU] * k;
      *mem += (double)kc->req[STV_RES_MEMORY] * k;
    }
    placed += A->lrem[bi] - want;
  }
  *nodes = nn;
  *pods = placed;
  return 0;
}

/* Gives the pods of batch bi, k of them, to world node x. */
static void ca_assign(struct ca *A, uint32_t bi, uint32_t k, uint32_t x) {
  struct batch *b = &A->b[bi];
  uint32_t j;
  for (j = 0; j < k; j++) A->w->where[b->pods[b->taken++]] = (int32_t)x;
}

/* Pending pods go first onto the nodes added in earlier loops (CA leaves them to the scheduler). */
static void ca_fill_upcoming(struct ca *A, size_t first_new) {
  struct world *w = A->w;
  size_t i, x;
  for (i = 0; i < A->nb; i++) {
    struct batch *b = &A->b[i];
    const struct stv_class *kc = w->s->classes[b->c];
    for (x = first_new; x < w->nnodes && b->taken < b->n; x++) {
      struct pnode *n = w->nodes[x];
      uint32_t k;
      if (!batch_takes(A, (uint32_t)n->tmpl, b)) continue;
      k = stv__peers_res_room(w, n->used, &w->talloc[(size_t)n->tmpl * STV_MAX_RES], kc, b->n - b->taken);
      if (k > 0) k = stv__peers_host_room(w, n, b->c, k);
      if (k == 0) continue;
      stv__peers_node_commit(w, n, b->c, k);
      ca_assign(A, (uint32_t)i, k, (uint32_t)x);
    }
  }
}

/* Turns the recorded estimate of group t into new world nodes. */
static int ca_materialize(struct ca *A, uint32_t t, uint32_t nodes) {
  struct world *w = A->w;
  size_t base = w->nnodes, i;
  uint32_t id;
  for (i = 0; i < nodes; i++) {
    struct pnode *n = stv__peers_node_new(w);
    if (n == NULL || stv__peers_node_push(w, n, &id)) return STV_ENOMEM;
    n->tmpl = (int32_t)t;
    n->zone = w->tzone[t];
  }
  for (i = 0; i < A->nrec; i++) {
    const struct rec *r = &A->rec[i];
    struct pnode *n = w->nodes[base + r->node];
    stv__peers_node_commit(w, n, A->b[r->b].c, r->k);
    ca_assign(A, r->b, r->k, (uint32_t)(base + r->node));
  }
  if (A->left[t] > 0) A->left[t] = A->left[t] > (int64_t)nodes ? A->left[t] - (int64_t)nodes : 0;
  return 0;
}

/* Pods that existing nodes take, as the scheduler would bind them (CA filters them out). */
static void ca_existing(struct world *w) {
  size_t i, e;
  for (i = 0; i < w->npending; i++) {
    uint32_t pod = w->pending[i];
    if (w->unsup[w->s->pods[pod].cls]) continue;
    for (e = 0; e < w->nexist; e++)
      if (stv__peers_exist_place(w, (uint32_t)e, pod)) break;
  }
}

/*
 * Settles the zone of every pending pod that a zone-level rule concerns,
 * one pod at a time (classes without pod affinity first, so that affinity
 * finds its targets), among zones that have an offering for it. Builds the
 * batches.
 */
static int ca_batches(struct ca *A) {
  struct world *w = A->w;
  const struct stv_snapshot *s = w->s;
  int32_t *zsel = stv__peers_walloc(w, (s->npods + 1) * sizeof(int32_t));
  unsigned char *avail = stv__peers_walloc(w, w->nz + 1);
  uint32_t *cnt = stv__peers_walloc(w, (w->nc * (w->nz + 1) + 1) * sizeof(uint32_t));
  size_t i, c, pass, z;
  if (zsel == NULL || avail == NULL || cnt == NULL) return STV_ENOMEM;
  for (pass = 0; pass < 2; pass++) {
    for (i = 0; i < w->npending; i++) {
      uint32_t pod = w->pending[i];
      uint32_t cl = s->pods[pod].cls;
      size_t u;
      int32_t zz;
      if (w->where[pod] >= 0 || w->unsup[cl]) continue;
      if ((s->classes[cl]->naff > 0) != (pass == 1)) continue;
      if (w->aff_host[cl]) {
        w->why[pod] = "required pod affinity on kubernetes.io/hostname: the Cluster-Autoscaler-like baseline places "
                      "such pods only beside a matching pod on an existing node";
        continue;
      }
      if (!w->zpart[cl]) {
        zsel[pod] = -1;
        cnt[(size_t)cl * (w->nz + 1) + w->nz]++;
        continue;
      }
      memset(avail, 0, w->nz + 1);
      for (u = 0; u < w->nusable; u++) {
        uint32_t t = w->usable[u];
        if (w->tzone[t] >= 0 && BIT_GET(&w->compat[(size_t)t * w->W], cl)) avail[w->tzone[t]] = 1;
      }
      zz = stv__peers_choose_zone(w, cl, avail);
      zsel[pod] = zz;
      if (zz < 0) {
        w->why[pod] = "no zone with an offering for it satisfies its zone-level rules (spread, affinity, anti-affinity)";
        continue;
      }
      stv__peers_zone_commit(w, cl, zz, -1, 1);
      cnt[(size_t)cl * (w->nz + 1) + (size_t)zz]++;
    }
  }
  /* One batch per (class, zone), pods in snapshot order. */
  for (c = 0; c < w->nc; c++)
    for (z = 0; z <= w->nz; z++)
      if (cnt[c * (w->nz + 1) + z]) A->nb++;
  A->b = stv__peers_walloc(w, (A->nb + 1) * sizeof(*A->b));
  if (A->b == NULL) return STV_ENOMEM;
  A->nb = 0;
  for (c = 0; c < w->nc; c++) {
    for (z = 0; z <= w->nz; z++) {
      uint32_t n = cnt[c * (w->nz + 1) + z];
      struct batch *b;
      if (n == 0) continue;
      b = &A->b[A->nb++];
      b->c = (uint32_t)c;
      b->zone = z == w->nz ? -1 : (int32_t)z;
      b->pods = stv__peers_walloc(w, n * sizeof(uint32_t));
      if (b->pods == NULL) return STV_ENOMEM;
      cnt[c * (w->nz + 1) + z] = (uint32_t)(A->nb - 1); /* now: the batch index */
    }
  }
  for (i = 0; i < w->npending; i++) {
    uint32_t pod = w->pending[i], cl = s->pods[pod].cls;
    int32_t zz;
    struct batch *b;
    if (w->where[pod] >= 0 || w->unsup[cl] || w->aff_host[cl] || w->why[pod]) continue;
    zz = zsel[pod];
    b = &A->b[cnt[(size_t)cl * (w->nz + 1) + (zz < 0 ? w->nz : (size_t)zz)]];
    b->pods[b->n++] = pod;
  }
  return 0;
}

int stv_peers_ca(const struct stv_problem *p, const struct stv_peers_ca_opts *o, struct stv_plan *plan,
                 struct stv_peers_stats *stats, struct stv_err *err) {
  struct world w;
  struct ca A;
  size_t i, rounds = 0, first_new;
  int rc;
  memset(plan, 0, sizeof(*plan));
  stv_arena_init(&plan->mem);
  memset(&A, 0, sizeof(A));
  if ((rc = stv__peers_world_init(&w, p)) != 0) goto out;
  A.w = &w;
  A.L = o && o->max_nodes_per_scaleup ? o->max_nodes_per_scaleup : CA_DEFAULT_MAX_NODES;
  A.sim = stv__peers_walloc(&w, A.L * sizeof(*A.sim));
  A.left = stv__peers_walloc(&w, (p->ntmpl + 1) * sizeof(int64_t));
  if (A.sim == NULL || A.left == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (i = 0; i < A.L; i++)
    if ((A.sim[i] = stv__peers_node_new(&w)) == NULL) {
      rc = STV_ENOMEM;
      goto out;
    }
  for (i = 0; i < p->ntmpl; i++) A.left[i] = p->tmpl[i].limit;
  if ((rc = ca_groups(&A)) != 0) goto out;
  ca_existing(&w);
  if ((rc = ca_batches(&A)) != 0) goto out;
  A.lrem = stv__peers_walloc(&w, (A.nb + 1) * sizeof(uint32_t));
  A.ord = stv__peers_walloc(&w, (A.nb + 1) * sizeof(*A.ord));
  if (A.lrem == NULL || A.ord == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  first_new = w.nnodes;
  while (rounds < CA_MAX_ROUNDS) {
    int32_t best = -1;
    double best_waste = 0, cpu, mem;
    uint32_t nodes, pods;
    rounds++;
    ca_fill_upcoming(&A, first_new);
    for (i = 0; i < A.ngroups; i++) {
      uint32_t t = A.groups[i];
      const struct stv_template *tt = &p->tmpl[t];
      double waste = 0, ac, am;
      if (A.left[t] == 0) continue;
      if ((rc = ca_estimate(&A, t, 0, &nodes, &cpu, &mem, &pods)) != 0) goto out;
      if (pods == 0) continue;
      ac = (double)tt->alloc[STV_RES_CPU] * nodes;
      am = (double)tt->alloc[STV_RES_MEMORY] * nodes;
      if (ac > 0) waste += (ac - cpu) / ac;
      if (am > 0) waste += (am - mem) / am;
      if (best < 0 || waste < best_waste ||
          (waste == best_waste && (tt->price < p->tmpl[best].price ||
                                   (tt->price == p->tmpl[best].price && (int32_t)t < best)))) {
        best = (int32_t)t;
        best_waste = waste;
      }
    }
    if (best < 0) break;
    A.nrec = 0;
    if ((rc = ca_estimate(&A, (uint32_t)best, 1, &nodes, &cpu, &mem, &pods)) != 0) goto out;
    if ((rc = ca_materialize(&A, (uint32_t)best, nodes)) != 0) goto out;
  }
  rc = finish_plan(&w, plan, "ca");
out:
  stv_free(A.rec);
  return policy_done(&w, plan, rc, rounds, A.evals, stats, "Cluster-Autoscaler-like policy", err);
}
