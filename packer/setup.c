/*
 * The solve's set-up: from a problem to the working state of struct solve
 * (pack_internal.h). Zones; the required pod (anti-)affinity terms and
 * topology spread constraints of every class resolved into rules, with the
 * classes each rule counts; bound pods per node and zone; the value weights
 * (lambda); placement signatures, template views after DaemonSet overhead
 * and the class x template compatibility matrix; which nodes and templates
 * are domains of each spread rule (spread_eligible, cached per signature);
 * and which zones are domains of each zone-level rule. Read-only for every
 * later step except the counts they keep.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_internal.h"

static int zone_index(struct solve *S, const char *z) {
  size_t i;
  if (z == NULL) return -1;
  for (i = 0; i < S->nzones; i++)
    if (strcmp(S->zones[i], z) == 0) return (int)i;
  return -1;
}

int stv__add_unsched(struct solve *S, uint32_t pod, const char *reason) {
  struct stv_plan_unsched *u;
  if (stv_grow((void **)&S->un, &S->cap_un, S->nun + 1, sizeof(*S->un)) != 0) return STV_ENOMEM;
  u = &S->un[S->nun++];
  u->pod = pod;
  snprintf(u->reason, sizeof(u->reason), "%s", reason);
  return 0;
}

/* Whether pod (anti-)affinity term t of class owner selects the pods of class c. */
int stv__term_matches_class(const struct stv_snapshot *s, const struct stv_pod_term *t,
                            const struct stv_class *owner, const struct stv_class *c) {
  if (t->match_none) return 0;
  if (!stv_term_covers_ns(s, t, owner->ns, c->ns)) return 0;
  return stv_selector_matches(&t->sel, &c->labels);
}

/*
 * Whether spread constraint k of class owner selects the pods of class c
 * (same namespace, label selector). An empty selector selects every pod
 * here; the caller decides what it counts (kube-scheduler counts none).
 */
int stv__spread_matches_class(const struct stv_spread *k, const struct stv_class *owner,
                              const struct stv_class *c) {
  if (k->match_none) return 0;
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

int stv__setup_zones(struct solve *S) {
  size_t i, cap = 0;
  for (i = 0; i < S->p->ntmpl; i++)
    if (add_zone(S, stv__zone_of(&S->p->tmpl[i].labels), &cap)) return STV_ENOMEM;
  for (i = 0; i < S->s->nnodes; i++)
    if (add_zone(S, stv__zone_of(&S->s->nodes[i].labels), &cap)) return STV_ENOMEM;
  if (S->nzones > 1) qsort(S->zones, S->nzones, sizeof(*S->zones), cmp_str);
  S->node_zone = stv_arena_alloc(&S->a, (S->s->nnodes + 1) * sizeof(int32_t));
  if (S->node_zone == NULL) return STV_ENOMEM;
  for (i = 0; i < S->s->nnodes; i++) S->node_zone[i] = zone_index(S, stv__zone_of(&S->s->nodes[i].labels));
  return 0;
}

static int push_rule(struct solve *S, size_t *cap, struct rule *r) {
  if (stv_grow((void **)&S->rules, cap, S->nrules + 1, sizeof(*S->rules)) != 0) return STV_ENOMEM;
  S->rules[S->nrules++] = *r;
  return 0;
}

/* Visits the index d of every bit set in the W words of m, in increasing order. */
#define FOR_EACH_BIT(m, W, d)                                                                               \
  for (size_t fb__w = 0; fb__w < (W); fb__w++)                                                              \
    for (uint64_t fb__b = (m)[fb__w]; fb__b != 0 && ((d) = fb__w * 64 + (size_t)__builtin_ctzll(fb__b), 1); \
         fb__b &= fb__b - 1)

/*
 * Which classes carry each label: one slot per (key, value) pair and one
 * per key alone (value NULL), each with its classes. An In or Exists
 * requirement holds only on the classes of its slots, so a rule's selector
 * is checked against those classes, not against every class. The table is
 * open addressing on the keyed name hash (labels come from the cluster).
 */
struct label_slot {
  const char *key, *value; /* value NULL: the key alone */
  uint32_t n, off;         /* its classes: ids[off .. off + n) */
};

struct label_index {
  struct label_slot *slot;
  size_t mask;
  uint32_t *ids;
};

/* The hash of (key, value) from the hash hk of key. */
static uint64_t pair_hash(uint64_t hk, const char *value) {
  return hk ^ stv_hash_name(value, strlen(value)) * 0x9e3779b97f4a7c15ULL;
}

static uint64_t label_hash(const char *key, const char *value) {
  uint64_t hk = stv_hash_name(key, strlen(key));
  return value != NULL ? pair_hash(hk, value) : hk;
}

/* The slot of (key, value) with hash h: found, or a new one with insert, or NULL. */
static struct label_slot *label_slot(const struct label_index *ix, uint64_t h, const char *key,
                                     const char *value, int insert) {
  size_t i;
  for (i = (size_t)h & ix->mask;; i = (i + 1) & ix->mask) {
    struct label_slot *e = &ix->slot[i];
    if (e->key == NULL) {
      if (!insert) return NULL;
      e->key = key;
      e->value = value;
      return e;
    }
    if ((e->value == NULL) != (value == NULL)) continue;
    if (e->key != key && strcmp(e->key, key) != 0) continue;
    if (value == NULL || e->value == value || strcmp(e->value, value) == 0) return e;
  }
}

static void label_index_close(struct label_index *ix) {
  stv_free(ix->slot);
  stv_free(ix->ids);
}

/*
 * Fills ix from the labels of every class (a label without a value is no
 * label): counts each slot's classes, then lists them, each label hashed
 * once (its two slots remembered in at).
 */
static int label_index_build(struct label_index *ix, const struct stv_snapshot *s, size_t nclasses) {
  size_t c, i, n = 0, total = 0, size = 16;
  uint32_t j, off = 0;
  struct label_slot **at;
  memset(ix, 0, sizeof(*ix));
  for (c = 0; c < nclasses; c++) total += s->classes[c]->labels.n;
  while (size < 4 * total + 16) size <<= 1; /* two slots a label, at most half full */
  ix->slot = stv_calloc(size, sizeof(*ix->slot));
  ix->ids = stv_malloc((2 * total + 1) * sizeof(*ix->ids));
  at = stv_malloc((2 * total + 1) * sizeof(*at));
  if (ix->slot == NULL || ix->ids == NULL || at == NULL) {
    stv_free(at);
    return STV_ENOMEM;
  }
  ix->mask = size - 1;
  for (c = 0; c < nclasses; c++) {
    const struct stv_labels *l = &s->classes[c]->labels;
    for (j = 0; j < l->n; j++) {
      const char *key = l->kv[j].key, *value = l->kv[j].value;
      uint64_t hk;
      if (value == NULL) continue;
      hk = stv_hash_name(key, strlen(key));
      at[n] = label_slot(ix, pair_hash(hk, value), key, value, 1);
      at[n++]->n++;
      at[n] = label_slot(ix, hk, key, NULL, 1);
      at[n++]->n++;
    }
  }
  for (i = 0; i < size; i++) {
    ix->slot[i].off = off;
    off += ix->slot[i].n;
    ix->slot[i].n = 0;
  }
  for (c = 0, n = 0; c < nclasses; c++) {
    const struct stv_labels *l = &s->classes[c]->labels;
    for (j = 0; j < l->n; j++) {
      if (l->kv[j].value == NULL) continue;
      ix->ids[at[n]->off + at[n]->n++] = (uint32_t)c;
      n++;
      ix->ids[at[n]->off + at[n]->n++] = (uint32_t)c;
      n++;
    }
  }
  stv_free(at);
  return 0;
}

/* Classes of one In value or of Exists: the slot's count, or 0 when no class has it. */
static uint32_t slot_count(const struct label_index *ix, const char *key, const char *value) {
  const struct label_slot *e = label_slot(ix, label_hash(key, value), key, value, 0);
  return e ? e->n : 0;
}

static void slot_mark(const struct label_index *ix, const char *key, const char *value, uint64_t *cand) {
  const struct label_slot *e = label_slot(ix, label_hash(key, value), key, value, 0);
  uint32_t i;
  for (i = 0; e != NULL && i < e->n; i++) BIT_SET(cand, ix->ids[e->off + i]);
}

/*
 * Sets in cand (zeroed, W words) a superset of the classes sel can match:
 * those of its In or Exists requirement with the fewest classes, or every
 * class when it has neither.
 */
static void candidates(const struct label_index *ix, const struct stv_selector *sel, size_t nclasses,
                       uint64_t *cand) {
  const struct stv_requirement *best = NULL;
  size_t bestn = SIZE_MAX, d;
  uint32_t i, v;
  for (i = 0; i < sel->n; i++) {
    const struct stv_requirement *r = &sel->reqs[i];
    size_t n = 0;
    if (r->op == STV_OP_EXISTS)
      n = slot_count(ix, r->key, NULL);
    else if (r->op == STV_OP_IN)
      for (v = 0; v < r->nvalues; v++) n += slot_count(ix, r->key, r->values[v]);
    else
      continue;
    if (n < bestn) {
      bestn = n;
      best = r;
    }
  }
  if (best == NULL) {
    for (d = 0; d < nclasses; d++) BIT_SET(cand, d);
  } else if (best->op == STV_OP_EXISTS) {
    slot_mark(ix, best->key, NULL, cand);
  } else {
    for (v = 0; v < best->nvalues; v++) slot_mark(ix, best->key, best->values[v], cand);
  }
}

/* Fills r->match for rule j of class c (a term or a DoNotSchedule spread); *skip for ScheduleAnyway. */
static int resolve_rule(struct solve *S, const struct label_index *ix, size_t c, uint32_t j, struct rule *r,
                        int *skip) {
  const struct stv_snapshot *s = S->s;
  const struct stv_class *k = s->classes[c];
  size_t d;
  memset(r, 0, sizeof(*r));
  *skip = 0;
  r->owner = (uint32_t)c;
  r->match = stv_arena_alloc(&S->a, S->W * 8 + 8);
  if (r->match == NULL) return STV_ENOMEM;
  if (j < k->naff + k->nanti) {
    const struct stv_pod_term *t = j < k->naff ? &k->aff[j] : &k->anti[j - k->naff];
    r->kind = j < k->naff ? RULE_AFF : RULE_ANTI;
    r->level = stv__level_of(t->topology_key);
    if (!t->match_none) candidates(ix, &t->sel, S->nclasses, r->match);
    FOR_EACH_BIT(r->match, S->W, d) {
      if (!stv__term_matches_class(s, t, k, s->classes[d])) r->match[d >> 6] &= ~((uint64_t)1 << (d & 63));
    }
  } else {
    const struct stv_spread *sp = &k->spread[j - k->naff - k->nanti];
    if (!sp->do_not_schedule) {
      *skip = 1; /* ScheduleAnyway is a preference */
      return 0;
    }
    r->kind = RULE_SPREAD;
    r->level = stv__level_of(sp->topology_key);
    r->max_skew = sp->max_skew;
    r->min_domains = sp->min_domains;
    r->spread = sp;
    /* kube-scheduler counts no pods for an empty selector (countPodsMatchSelector). */
    if (sp->sel.n != 0 && !sp->match_none) candidates(ix, &sp->sel, S->nclasses, r->match);
    FOR_EACH_BIT(r->match, S->W, d) {
      if (!stv__spread_matches_class(sp, k, s->classes[d])) r->match[d >> 6] &= ~((uint64_t)1 << (d & 63));
    }
  }
  r->self = (int)BIT_GET(r->match, c);
  return 0;
}

/* Resolves every class's required terms and DoNotSchedule spreads into S->rules. */
static int resolve_rules(struct solve *S) {
  struct label_index ix;
  size_t c, cap = 0;
  int rc = label_index_build(&ix, S->s, S->nclasses);
  for (c = 0; c < S->nclasses && rc == 0; c++) {
    const struct stv_class *k = S->s->classes[c];
    uint32_t j;
    for (j = 0; j < k->naff + k->nanti + k->nspread && rc == 0; j++) {
      struct rule r;
      int skip;
      if ((rc = resolve_rule(S, &ix, c, j, &r, &skip)) == 0 && !skip) rc = push_rule(S, &cap, &r);
    }
  }
  label_index_close(&ix);
  return rc;
}

/*
 * The sparse form of each class's anti_host row (pack_internal.h): most
 * classes have no hostname anti-affinity with any other, and the rest with
 * a few, so the per-node test reads a short list instead of W words.
 */
static int setup_anti_lists(struct solve *S) {
  size_t c, d, w, W = S->W;
  S->anti_list = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(*S->anti_list));
  if (S->anti_list == NULL) return STV_ENOMEM;
  for (c = 0; c < S->nclasses; c++) {
    const uint64_t *row = &S->anti_host[c * W];
    size_t n = 0;
    uint32_t *l;
    for (w = 0; w < W; w++) n += (size_t)__builtin_popcountll(row[w]);
    S->anti_list[c] = NULL;
    if (n > W) continue;
    if ((l = stv_arena_alloc(&S->a, (n + 1) * sizeof(*l))) == NULL) return STV_ENOMEM;
    n = 0;
    FOR_EACH_BIT(row, W, d) {
      l[n++] = (uint32_t)d;
    }
    l[n] = UINT32_MAX;
    S->anti_list[c] = l;
  }
  return 0;
}

/* S->spread_counting from S->rules_counting (pack_internal.h). */
static int setup_spread_counting(struct solve *S) {
  size_t c;
  S->spread_counting = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(*S->spread_counting));
  if (S->spread_counting == NULL) return STV_ENOMEM;
  for (c = 0; c < S->nclasses; c++) {
    const uint32_t *ri;
    struct host_spread *h;
    size_t n = 0;
    for (ri = S->rules_counting[c]; *ri != UINT32_MAX; ri++) n++;
    if ((h = stv_arena_alloc(&S->a, (n + 1) * sizeof(*h))) == NULL) return STV_ENOMEM;
    S->spread_counting[c] = h;
    for (ri = S->rules_counting[c]; *ri != UINT32_MAX; ri++) {
      const struct rule *r = &S->rules[*ri];
      if (r->kind != RULE_SPREAD || r->owner == c) continue;
      h->rule = *ri;
      h->owner = r->owner;
      h->max_skew = (uint32_t)r->max_skew;
      h++;
    }
    h->rule = UINT32_MAX;
  }
  return 0;
}

/* Resolves every class's required terms and spread constraints into rules. */
int stv__setup_rules(struct solve *S) {
  size_t c, d, i, W = S->W;
  size_t *count, *zcount;
  int rc;
  S->anti_host = stv_arena_alloc(&S->a, S->nclasses * W * 8 + 8);
  S->aff_host_any = stv_arena_alloc(&S->a, W * 8 + 8);
  S->spread_host_owner = stv_arena_alloc(&S->a, W * 8 + 8);
  S->class_rules = stv_arena_alloc(&S->a, S->nclasses * sizeof(*S->class_rules) + 8);
  if (!S->anti_host || !S->aff_host_any || !S->spread_host_owner || !S->class_rules) return STV_ENOMEM;
  if ((rc = resolve_rules(S)) != 0) return rc;
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
      FOR_EACH_BIT(r->match, W, d) {
        BIT_SET(&S->anti_host[r->owner * W], d);
        BIT_SET(&S->anti_host[d * W], r->owner);
      }
    }
    if (r->kind == RULE_AFF && r->level == LVL_HOST) BIT_SET(S->aff_host_any, r->owner);
    if (r->kind == RULE_SPREAD && r->level == LVL_HOST) BIT_SET(S->spread_host_owner, r->owner);
  }
  for (c = 0; c < S->nclasses; c++) S->class_rules[c][count[c]] = UINT32_MAX;
  if ((rc = setup_anti_lists(S)) != 0) return rc;
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
    FOR_EACH_BIT(r->match, W, d) {
      (host ? count : zcount)[d]++;
    }
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
    FOR_EACH_BIT(r->match, W, d) {
      if (host)
        S->rules_counting[d][count[d]++] = (uint32_t)i;
      else
        S->zrules_counting[d][zcount[d]++] = (uint32_t)i;
    }
  }
  for (c = 0; c < S->nclasses; c++) S->zrules_counting[c][zcount[c]] = UINT32_MAX;
  for (c = 0; c < S->nclasses; c++) S->rules_counting[c][count[c]] = UINT32_MAX;
  return setup_spread_counting(S);
}

/* Pods that zone-level rule ri counts in zone z (bound and assigned). */
uint32_t stv__zone_matches(const struct solve *S, uint32_t ri, size_t z) {
  return S->zcnt[(size_t)ri * S->nzones + z];
}

/* Counts one more pod of class c in zone z, for every rule that sees it. */
void stv__zone_add(struct solve *S, uint32_t c, size_t z) {
  const uint32_t *ri;
  S->zone_count[c * S->nzones + z]++;
  for (ri = S->zrules_counting[c]; *ri != UINT32_MAX; ri++) S->zcnt[(size_t)*ri * S->nzones + z]++;
}

/* Bound pods per existing node as (class, count) runs, and per-zone counts. */
int stv__setup_bound(struct solve *S) {
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
  S->pending_cls = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t));
  if (S->pending_cls == NULL) return STV_ENOMEM;
  for (i = 0; i < S->nclasses; i++)
    if (!s->classes[i]->daemonset && s->classes[i]->npending > 0) S->pending_cls[S->npending_cls++] = (uint32_t)i;
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
    if (z >= 0) stv__zone_add(S, p->cls, (size_t)z);
    {
      const uint32_t *ri;
      for (ri = S->rules_counting[p->cls]; *ri != UINT32_MAX; ri++) S->rule_anywhere[*ri] = 1;
    }
  }
  return 0;
}

/* Value weights: hourly price per unit of each resource, fitted to the templates. */
void stv__setup_lambda(struct solve *S) {
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

double stv__worth_of(const struct solve *S, const struct stv_class *c) {
  double w = 0;
  int r;
  for (r = 0; r < S->ndim; r++) w += S->lambda[r] * (double)c->req[r];
  /* Pods that need nothing measurable still take a slot. */
  return w > 0 ? w : 1e-9;
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
    const struct stv_template *tp = &S->p->tmpl[S->ti[i].t];
    k[i].price = tp->price + tp->node_cost; /* the least a node of it costs */
    k[i].index = (uint32_t)i;
  }
  qsort(k, S->nti, sizeof(*k), cmp_price);
  for (i = 0; i < S->nti; i++) {
    struct tinfo *t = &S->ti[k[i].index];
    const uint64_t *ct = &S->compat[(size_t)k[i].index * S->W];
    for (j = 0; j < nf && !t->dominated; j++) {
      const struct tinfo *f = &S->ti[front[j]];
      if (f->zone != t->zone || f->limit_left >= 0 || f->plim >= 0) continue;
      if (!stv__fits_vec(t->alloc, f->alloc, S->ndim)) continue;
      if (!stv__bits_subset(ct, &S->compat[(size_t)front[j] * S->W], S->W)) continue;
      if (!stv__bits_subset(f->presence, t->presence, S->W)) continue;
      t->dominated = 1;
    }
    /* A template whose cost grows with its cpu load (surplus credits) may
     * cost more than one it looks no dearer than: it dominates none. */
    if (!t->dominated && S->p->tmpl[t->t].surplus_price <= 0) front[nf++] = k[i].index;
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

struct pkey_entry {
  uint32_t sig, cls;
  int64_t req[STV_MAX_RES]; /* zero past the snapshot's dimensions */
};

static int cmp_pkey(const void *a, const void *b) {
  const struct pkey_entry *x = a, *y = b;
  int r;
  if (x->sig != y->sig) return x->sig < y->sig ? -1 : 1;
  for (r = 0; r < STV_MAX_RES; r++)
    if (x->req[r] != y->req[r]) return x->req[r] < y->req[r] ? -1 : 1;
  return x->cls < y->cls ? -1 : x->cls > y->cls;
}

/*
 * Placement keys (pack_internal.h) from the signatures: the pending
 * classes sorted by (signature, requests), each run one key. Karpenter's
 * own mix draws every pod's requests independently, which makes thousands
 * of classes out of a few dozen keys.
 */
static int setup_pkeys(struct solve *S) {
  struct pkey_entry *e = stv_malloc((S->npending_cls + 1) * sizeof(*e));
  size_t i, k, n = S->npending_cls;
  S->pkey = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t));
  S->pk_off = stv_arena_alloc(&S->a, (n + 2) * sizeof(uint32_t));
  S->pk_cls = stv_arena_alloc(&S->a, (n + 1) * sizeof(uint32_t));
  if (e == NULL || S->pkey == NULL || S->pk_off == NULL || S->pk_cls == NULL) {
    stv_free(e);
    return STV_ENOMEM;
  }
  memset(S->pkey, 0xff, S->nclasses * sizeof(uint32_t));
  for (i = 0; i < n; i++) {
    uint32_t c = S->pending_cls[i];
    memset(e[i].req, 0, sizeof(e[i].req));
    memcpy(e[i].req, S->s->classes[c]->req, (size_t)S->ndim * sizeof(int64_t));
    e[i].sig = S->sig[c];
    e[i].cls = c;
  }
  qsort(e, n, sizeof(*e), cmp_pkey);
  S->npkey = 0;
  for (i = 0; i < n; i++) {
    if (i == 0 || e[i].sig != e[i - 1].sig || memcmp(e[i].req, e[i - 1].req, sizeof(e[i].req)) != 0)
      S->pk_off[S->npkey++] = (uint32_t)i;
    S->pkey[e[i].cls] = (uint32_t)(S->npkey - 1);
    S->pk_cls[i] = e[i].cls;
  }
  S->pk_off[S->npkey] = (uint32_t)n;
  stv_free(e);
  /* A key of more classes than a quarter of W words sets them in W words
   * (at most 32 bytes a class in all). */
  if ((S->pk_mask = stv_arena_alloc(&S->a, (S->npkey + 1) * sizeof(*S->pk_mask))) == NULL) return STV_ENOMEM;
  for (k = 0; k < S->npkey; k++) {
    if ((S->pk_off[k + 1] - S->pk_off[k]) * 4 <= S->W) continue;
    if ((S->pk_mask[k] = stv_arena_alloc(&S->a, S->W * sizeof(uint64_t))) == NULL) return STV_ENOMEM;
    for (i = S->pk_off[k]; i < S->pk_off[k + 1]; i++) BIT_SET(S->pk_mask[k], S->pk_cls[i]);
  }
  return 0;
}

/* Template views, DaemonSet overhead, and the class compatibility matrix. */
int stv__setup_templates(struct solve *S) {
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
  if ((rc = setup_signatures(S)) != 0 || (rc = setup_pkeys(S)) != 0) return rc;
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
    ti->zone = zone_index(S, stv__zone_of(&t->labels));
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
      ti->daemon_cpu += d->req[STV_RES_CPU];
      BIT_SET(ti->presence, ds[k]);
    }
    for (k = 0; k < ndsg; k++)
      for (r = 0; r < S->ndim; r++) ti->alloc[r] -= gmax[k][r];
    for (r = 0; r < S->ndim; r++)
      if (ti->alloc[r] < 0) ok = 0;
    if (!ok) continue; /* the DaemonSets alone do not fit */
    memset(sigfit, 0, S->nsig);
    /* One test per placement key: the static predicates depend only on the
     * signature, the fit only on the requests. */
    for (k = 0; k < S->npkey; k++) {
      uint32_t c0 = S->pk_cls[S->pk_off[k]];
      const struct stv_class *k2 = s->classes[c0];
      uint64_t *row = &S->compat[S->nti * W];
      size_t j;
      if (!stv__fits_vec(k2->req, ti->alloc, S->ndim)) continue;
      if (sigfit[S->sig[c0]] == 0) sigfit[S->sig[c0]] = stv_class_fits_node(k2, &v, NULL, 0) ? 1 : 2;
      if (sigfit[S->sig[c0]] != 1) continue;
      if (S->pk_mask[k] != NULL)
        for (j = 0; j < W; j++) row[j] |= S->pk_mask[k][j];
      else
        for (j = S->pk_off[k]; j < S->pk_off[k + 1]; j++) BIT_SET(row, S->pk_cls[j]);
    }
    S->nti++;
  }
  if ((rc = stv__setup_pool_limits(S)) != 0) return rc;
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
  for (i = 0; i < p->ntmpl; i++) S->ti_zone_of_tmpl[i] = zone_index(S, stv__zone_of(&p->tmpl[i].labels));
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
  if (r->level == LVL_ZONE && stv__zone_of(v->labels) == NULL) return 0;
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
int stv__setup_spread_elig(struct solve *S) {
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
int stv__setup_rule_zones(struct solve *S) {
  size_t ri, i, nn = S->s->nnodes, nterm = 0, nset;
  uint32_t *term = NULL; /* terminating pods bound to a node in a zone */
  for (i = 0; i < S->s->npods; i++) {
    const struct stv_pod *p = &S->s->pods[i];
    if (!p->terminating || p->node < 0 || p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED ||
        S->node_zone[p->node] < 0)
      continue;
    if (term == NULL && (term = stv_arena_alloc(&S->a, (S->s->npods + 1) * sizeof(*term))) == NULL)
      return STV_ENOMEM;
    term[nterm++] = (uint32_t)i;
  }
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
    for (i = 0, nset = 0; i < S->nti && nset < S->nzones; i++) {
      const struct tinfo *ti = &S->ti[i];
      const struct stv_template *t = &S->p->tmpl[ti->t];
      struct stv_node_view v = {NULL, &t->labels, t->ntaints, t->taints, 0};
      int z = ti->zone, fits;
      if (z < 0 || r->zelig[z] || !r->elig[nn + ti->t]) continue;
      /* For a pending class, the compatibility matrix holds this very test. */
      if (S->pkey[r->owner] != UINT32_MAX)
        fits = (int)BIT_GET(&S->compat[i * S->W], r->owner);
      else
        fits = stv__fits_vec(owner->req, ti->alloc, S->ndim) && stv_class_fits_node(owner, &v, NULL, 0);
      if (fits) {
        r->zelig[z] = 1;
        nset++; /* every zone a domain: the other templates change nothing */
      }
    }
    for (i = 0; i < S->s->nnodes; i++) {
      int z = S->node_zone[i];
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
    for (i = 0; i < nterm; i++) {
      const struct stv_pod *p = &S->s->pods[term[i]];
      if (BIT_GET(r->match, p->cls) && r->elig[p->node])
        S->zcnt[ri * S->nzones + (size_t)S->node_zone[p->node]]--;
    }
  }
  return 0;
}
