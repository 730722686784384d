/*
 * The world of the baseline policies (peers_internal.h): set-up from a
 * struct stv_problem, the rules' room checks, placing pods, the final
 * zone-spread check and the plan. The policies themselves are in peers.c.
 */
#include "peers_internal.h"

static int bits_intersect(const uint64_t *a, const uint64_t *b, size_t W) {
  size_t i;
  for (i = 0; i < W; i++)
    if (a[i] & b[i]) return 1;
  return 0;
}

static int bits_any(const uint64_t *a, size_t W) {
  size_t i;
  for (i = 0; i < W; i++)
    if (a[i]) return 1;
  return 0;
}

static int32_t zone_index(const struct world *w, const char *z) {
  size_t i;
  if (z == NULL) return -1;
  for (i = 0; i < w->nz; i++)
    if (strcmp(w->zones[i], z) == 0) return (int32_t)i;
  return -1;
}

void *stv__peers_walloc(struct world *w, size_t n) { return stv_arena_alloc(&w->a, n ? n : 1); }

/* ---------------------------------------------------------------------- */
/* Set-up: zones, templates, signatures                                   */

static int add_zone(struct world *w, const char *z) {
  if (z == NULL || zone_index(w, z) >= 0) return 0;
  if (stv_grow((void **)&w->zones, &w->cap_zones, w->nz + 1, sizeof(*w->zones)) != 0) return STV_ENOMEM;
  w->zones[w->nz++] = z;
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int setup_zones(struct world *w) {
  size_t i;
  for (i = 0; i < w->p->ntmpl; i++)
    if (add_zone(w, stv__zone_of(&w->p->tmpl[i].labels))) return STV_ENOMEM;
  for (i = 0; i < w->s->nnodes; i++)
    if (add_zone(w, stv__zone_of(&w->s->nodes[i].labels))) return STV_ENOMEM;
  if (w->nz > 1) qsort(w->zones, w->nz, sizeof(*w->zones), cmp_str);
  w->node_zone = stv__peers_walloc(w, w->s->nnodes * sizeof(int32_t));
  w->has_host = stv__peers_walloc(w, w->s->nnodes);
  w->tzone = stv__peers_walloc(w, w->p->ntmpl * sizeof(int32_t));
  if (!w->node_zone || !w->has_host || !w->tzone) return STV_ENOMEM;
  for (i = 0; i < w->s->nnodes; i++) {
    w->node_zone[i] = zone_index(w, stv__zone_of(&w->s->nodes[i].labels));
    w->has_host[i] = stv_labels_get(&w->s->nodes[i].labels, HOST_KEY) != NULL;
  }
  for (i = 0; i < w->p->ntmpl; i++) w->tzone[i] = zone_index(w, stv__zone_of(&w->p->tmpl[i].labels));
  return 0;
}

static int selector_equal(const struct stv_selector *x, const struct stv_selector *y) {
  uint32_t i, j;
  if (x->n != y->n) return 0;
  for (i = 0; i < x->n; i++) {
    const struct stv_requirement *a = &x->reqs[i], *b = &y->reqs[i];
    if (a->key != b->key || a->op != b->op || a->nvalues != b->nvalues) return 0;
    for (j = 0; j < a->nvalues; j++)
      if (a->values[j] != b->values[j]) return 0;
  }
  return 1;
}

/* Same node selector, node affinity and tolerations (strings are interned). */
static int placement_equal(const struct stv_class *a, const struct stv_class *b) {
  uint32_t i;
  if (!selector_equal(&a->node_selector, &b->node_selector)) return 0;
  if (a->affinity.n != b->affinity.n || a->ntol != b->ntol) return 0;
  for (i = 0; i < a->affinity.n; i++)
    if (!selector_equal(&a->affinity.terms[i].exprs, &b->affinity.terms[i].exprs) ||
        !selector_equal(&a->affinity.terms[i].fields, &b->affinity.terms[i].fields))
      return 0;
  for (i = 0; i < a->ntol; i++) {
    const struct stv_toleration *x = &a->tol[i], *y = &b->tol[i];
    if (x->key != y->key || x->exists != y->exists || x->value != y->value || x->effect != y->effect) return 0;
  }
  return 1;
}

/* Classes that pass the static predicates on the same nodes share a signature. */
static int setup_signatures(struct world *w) {
  uint32_t *rep = stv__peers_walloc(w, w->nc * sizeof(uint32_t));
  size_t c, k;
  w->sig = stv__peers_walloc(w, w->nc * sizeof(uint32_t));
  if (rep == NULL || w->sig == NULL) return STV_ENOMEM;
  for (c = 0; c < w->nc; c++) {
    for (k = 0; k < w->nsig; k++)
      if (placement_equal(w->s->classes[rep[k]], w->s->classes[c])) break;
    if (k == w->nsig) rep[w->nsig++] = (uint32_t)c;
    w->sig[c] = (uint32_t)k;
  }
  w->xfit = stv__peers_walloc(w, w->s->nnodes * w->nsig);
  return w->xfit ? 0 : STV_ENOMEM;
}

/*
 * DaemonSet overhead (one class per DaemonSet, the larger when its pods
 * differ, each counted on the templates it lands on), the templates a node
 * may be made of, and which classes each takes alone.
 */
static int setup_templates(struct world *w) {
  const struct stv_problem *p = w->p;
  const struct stv_snapshot *s = w->s;
  uint32_t *ds = stv__peers_walloc(w, w->nc * sizeof(uint32_t));
  unsigned char *sigfit = stv__peers_walloc(w, w->nsig);
  size_t nds = 0, c, i, k;
  int r;
  w->talloc = stv__peers_walloc(w, p->ntmpl * STV_MAX_RES * sizeof(int64_t));
  w->usable = stv__peers_walloc(w, p->ntmpl * sizeof(uint32_t));
  w->compat = stv__peers_walloc(w, p->ntmpl * w->W * sizeof(uint64_t));
  if (!ds || !sigfit || !w->talloc || !w->usable || !w->compat) return STV_ENOMEM;
  for (c = 0; c < w->nc; c++) {
    const struct stv_class *k2 = s->classes[c];
    int dup = 0;
    if (!k2->daemonset) continue;
    for (k = 0; k < nds; k++) {
      const struct stv_class *o = s->classes[ds[k]];
      if (o->owner_uid != NULL && o->owner_uid == k2->owner_uid) {
        for (r = 0; r < w->ndim; r++)
          if (k2->req[r] > o->req[r]) ds[k] = (uint32_t)c;
        dup = 1;
        break;
      }
    }
    if (!dup) ds[nds++] = (uint32_t)c;
  }
  for (i = 0; i < p->ntmpl; i++) {
    const struct stv_template *t = &p->tmpl[i];
    struct stv_node_view v = {NULL, &t->labels, t->ntaints, t->taints, 0};
    int64_t *ta = &w->talloc[i * STV_MAX_RES];
    int ok = t->limit != 0;
    memcpy(ta, t->alloc, sizeof(t->alloc));
    for (k = 0; k < nds; k++) {
      const struct stv_class *d = s->classes[ds[k]];
      if (!stv_class_fits_node(d, &v, NULL, 0)) continue;
      for (r = 0; r < w->ndim; r++) ta[r] -= d->req[r];
    }
    for (r = 0; r < w->ndim; r++)
      if (ta[r] < 0) ok = 0;
    if (!ok) continue;
    w->usable[w->nusable++] = (uint32_t)i;
    for (r = 0; r < w->ndim; r++)
      if (ta[r] > w->maxcap[r]) w->maxcap[r] = ta[r];
    memset(sigfit, 0, w->nsig);
    for (c = 0; c < w->nc; c++) {
      const struct stv_class *k2 = s->classes[c];
      int fits = 1;
      if (k2->daemonset || k2->npending == 0) continue;
      for (r = 0; r < w->ndim && fits; r++)
        if (k2->req[r] > ta[r]) fits = 0;
      if (!fits) continue;
      if (sigfit[w->sig[c]] == 0) sigfit[w->sig[c]] = stv_class_fits_node(k2, &v, NULL, 0) ? 1 : 2;
      if (sigfit[w->sig[c]] == 1) BIT_SET(&w->compat[i * w->W], c);
    }
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Set-up: inter-pod rules                                                */

/* Whether node v is a domain of owner's spread constraint sp (its inclusion policies). */
static int spread_eligible(const struct stv_class *owner, const struct stv_spread *sp,
                           const struct stv_node_view *v, enum level lvl) {
  struct stv_class probe = *owner;
  struct stv_node_view x = *v;
  if (lvl == LVL_ZONE && stv__zone_of(v->labels) == NULL) return 0;
  x.unschedulable = 0;
  if (sp->honor_taints && v->unschedulable) {
    struct stv_taint t = {UNSCHEDULABLE_TAINT, "", STV_EFFECT_NO_SCHEDULE};
    if (!stv_tolerates(owner->tol, owner->ntol, &t)) return 0;
  }
  if (!sp->honor_taints) {
    x.ntaints = 0;
    x.taints = NULL;
  }
  if (!sp->honor_node_affinity) {
    probe.node_selector.n = 0;
    probe.affinity.n = 0;
  }
  return stv_class_fits_node(&probe, &x, NULL, 0);
}

struct pair {
  uint32_t c, g;
};

static int push_pair(struct pair **v, size_t *n, size_t *cap, uint32_t c, uint32_t g) {
  if (stv_grow((void **)v, cap, *n + 1, sizeof(**v)) != 0) return STV_ENOMEM;
  (*v)[*n].c = c;
  (*v)[*n].g = g;
  (*n)++;
  return 0;
}

/* Per-class lists (UINT32_MAX-terminated) from (class, group) pairs. */
static int build_lists(struct world *w, const struct pair *v, size_t n, uint32_t ***out) {
  uint32_t *count = stv__peers_walloc(w, w->nc * sizeof(uint32_t));
  uint32_t **l = stv__peers_walloc(w, w->nc * sizeof(*l));
  size_t i, c;
  if (count == NULL || l == NULL) return STV_ENOMEM;
  for (i = 0; i < n; i++) count[v[i].c]++;
  for (c = 0; c < w->nc; c++) {
    l[c] = stv__peers_walloc(w, (count[c] + 1) * sizeof(uint32_t));
    if (l[c] == NULL) return STV_ENOMEM;
    count[c] = 0;
  }
  for (i = 0; i < n; i++) l[v[i].c][count[v[i].c]++] = v[i].g;
  for (c = 0; c < w->nc; c++) l[c][count[c]] = UINT32_MAX;
  *out = l;
  return 0;
}

static int is_pending_class(const struct world *w, size_t c) {
  const struct stv_class *k = w->s->classes[c];
  return k->npending > 0 && !k->daemonset;
}

/* Finds or makes the group of class c's spread constraint sp; its index in *gi. */
static int group_for(struct world *w, size_t c, const struct stv_spread *sp, enum level lvl,
                     const uint64_t *match, uint32_t *gi) {
  const struct stv_class *k = w->s->classes[c];
  int trivial = (!sp->honor_node_affinity || (k->node_selector.n == 0 && k->affinity.n == 0)) && !sp->honor_taints;
  size_t i;
  struct grp *g;
  if (trivial) {
    for (i = 0; i < w->ng; i++) {
      g = &w->g[i];
      if (g->trivial && g->level == lvl && g->max_skew == sp->max_skew && g->min_domains == sp->min_domains &&
          memcmp(g->match, match, w->W * sizeof(uint64_t)) == 0) {
        *gi = (uint32_t)i;
        return 0;
      }
    }
  }
  if (stv_grow((void **)&w->g, &w->cap_g, w->ng + 1, sizeof(*w->g)) != 0) return STV_ENOMEM;
  g = &w->g[w->ng];
  memset(g, 0, sizeof(*g));
  g->level = lvl;
  g->max_skew = sp->max_skew;
  g->min_domains = sp->min_domains;
  g->trivial = trivial;
  g->supported = 1;
  g->hidx = -1;
  g->owner = k;
  g->sp = sp;
  g->match = stv__peers_walloc(w, w->W * sizeof(uint64_t));
  g->owners = stv__peers_walloc(w, w->W * sizeof(uint64_t));
  if (g->match == NULL || g->owners == NULL) return STV_ENOMEM;
  memcpy(g->match, match, w->W * sizeof(uint64_t));
  *gi = (uint32_t)w->ng++;
  return 0;
}

/* Eligible domains of each zone group; groups the baselines cannot count exactly. */
static int setup_group_domains(struct world *w) {
  const struct stv_snapshot *s = w->s;
  size_t gi, i;
  for (gi = 0; gi < w->ng; gi++) {
    struct grp *g = &w->g[gi];
    if (g->level == LVL_HOST) {
      g->hidx = (int32_t)w->nhg++;
      continue;
    }
    g->zelig = stv__peers_walloc(w, w->nz);
    g->xzone = stv__peers_walloc(w, w->nz);
    g->xelig = stv__peers_walloc(w, s->nnodes);
    if (!g->zelig || !g->xzone || !g->xelig) return STV_ENOMEM;
    for (i = 0; i < w->nusable; i++) {
      const struct stv_template *t = &w->p->tmpl[w->usable[i]];
      struct stv_node_view v = {NULL, &t->labels, t->ntaints, t->taints, 0};
      int32_t z = w->tzone[w->usable[i]];
      if (z >= 0 && spread_eligible(g->owner, g->sp, &v, LVL_ZONE))
        g->zelig[z] = 1;
      else
        g->supported = 0; /* the offerings do not share its domains */
    }
    for (i = 0; i < s->nnodes; i++) {
      const struct stv_node *n = &s->nodes[i];
      struct stv_node_view v = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
      int32_t z = w->node_zone[i];
      if (z < 0 || !spread_eligible(g->owner, g->sp, &v, LVL_ZONE)) continue;
      g->xelig[i] = 1;
      g->xzone[z] = 1;
      g->zelig[z] = 1;
    }
  }
  return 0;
}

static int setup_rules(struct world *w) {
  const struct stv_snapshot *s = w->s;
  size_t W = w->W, c, d, npo = 0, capo = 0, npc = 0, capc = 0, gi;
  struct pair *po = NULL, *pc = NULL;
  uint64_t *m = stv__peers_walloc(w, W * sizeof(uint64_t));
  int rc = 0;
  w->unsup = stv__peers_walloc(w, w->nc * sizeof(*w->unsup));
  w->anti_host = stv__peers_walloc(w, w->nc * W * sizeof(uint64_t));
  w->anti_zone = stv__peers_walloc(w, w->nc * W * sizeof(uint64_t));
  w->aff_all = stv__peers_walloc(w, w->nc * W * sizeof(uint64_t));
  w->aff_host = stv__peers_walloc(w, w->nc);
  w->aff_zone = stv__peers_walloc(w, w->nc);
  w->aff_self = stv__peers_walloc(w, w->nc);
  w->zpart = stv__peers_walloc(w, w->nc);
  w->need_zone = stv__peers_walloc(w, w->nc);
  w->need_host = stv__peers_walloc(w, w->nc);
  if (!m || !w->unsup || !w->anti_host || !w->anti_zone || !w->aff_all || !w->aff_host || !w->aff_zone ||
      !w->aff_self || !w->zpart || !w->need_zone || !w->need_host)
    return STV_ENOMEM;
  for (c = 0; c < w->nc; c++) {
    const struct stv_class *k = s->classes[c];
    uint32_t j;
    int pend = is_pending_class(w, c);
    /* Anti-affinity of every class, pending or bound, works both ways. */
    for (j = 0; j < k->nanti; j++) {
      const struct stv_pod_term *t = &k->anti[j];
      enum level lvl = stv__level_of(t->topology_key);
      uint64_t *rel = lvl == LVL_HOST ? w->anti_host : w->anti_zone;
      if (lvl == LVL_OTHER) {
        if (pend) w->unsup[c] = "pod anti-affinity on a topology key other than hostname and zone is not planned by this baseline";
        continue;
      }
      for (d = 0; d < w->nc; d++) {
        if (!stv__term_matches_class(s, t, k, s->classes[d])) continue;
        BIT_SET(&rel[c * W], d);
        BIT_SET(&rel[d * W], c);
      }
    }
    if (!pend) continue;
    if (k->naff > 0) {
      uint64_t *all = &w->aff_all[c * W];
      for (d = 0; d < w->nc; d++) BIT_SET(all, d);
      for (j = 0; j < k->naff; j++) {
        const struct stv_pod_term *t = &k->aff[j];
        enum level lvl = stv__level_of(t->topology_key);
        if (lvl == LVL_OTHER) {
          w->unsup[c] = "pod affinity on a topology key other than hostname and zone is not planned by this baseline";
          continue;
        }
        if (lvl == LVL_HOST)
          w->aff_host[c] = 1;
        else
          w->aff_zone[c] = 1;
        for (d = 0; d < w->nc; d++)
          if (!stv__term_matches_class(s, t, k, s->classes[d])) all[d >> 6] &= ~((uint64_t)1 << (d & 63));
      }
      w->aff_self[c] = (unsigned char)BIT_GET(all, c);
    }
    for (j = 0; j < k->nspread; j++) {
      const struct stv_spread *sp = &k->spread[j];
      enum level lvl = stv__level_of(sp->topology_key);
      uint32_t g;
      if (!sp->do_not_schedule) continue; /* ScheduleAnyway is a preference */
      if (lvl == LVL_OTHER) {
        w->unsup[c] = "topology spread on a key other than hostname and zone is not planned by this baseline";
        continue;
      }
      memset(m, 0, W * sizeof(uint64_t));
      for (d = 0; d < w->nc; d++)
        if (stv__spread_matches_class(sp, k, s->classes[d])) BIT_SET(m, d);
      if ((rc = group_for(w, c, sp, lvl, m, &g)) != 0) goto out;
      if (!BIT_GET(w->g[g].owners, c)) {
        BIT_SET(w->g[g].owners, c);
        if ((rc = push_pair(&po, &npo, &capo, (uint32_t)c, g)) != 0) goto out;
      }
      if (lvl == LVL_HOST)
        w->need_host[c] = 1;
      else
        w->need_zone[c] = 1;
    }
    if (w->aff_host[c]) w->need_host[c] = 1;
    if (w->aff_zone[c]) w->need_zone[c] = 1;
  }
  if ((rc = setup_group_domains(w)) != 0) goto out;
  for (gi = 0; gi < w->ng; gi++) {
    const struct grp *g = &w->g[gi];
    for (d = 0; d < w->nc; d++)
      if (BIT_GET(g->match, d) && (rc = push_pair(&pc, &npc, &capc, (uint32_t)d, (uint32_t)gi)) != 0) goto out;
    if (g->supported) continue;
    for (c = 0; c < w->nc; c++)
      if (BIT_GET(g->owners, c))
        w->unsup[c] = "zone topology spread whose domains depend on node affinity or taints is not planned by this baseline";
  }
  for (gi = 0; gi < w->ng; gi++) {
    struct grp *g = &w->g[gi];
    for (c = 0; c < w->nc && !g->active; c++)
      if (BIT_GET(g->owners, c) && w->unsup[c] == NULL) g->active = 1;
  }
  if ((rc = build_lists(w, po, npo, &w->own)) != 0) goto out;
  if ((rc = build_lists(w, pc, npc, &w->cnt)) != 0) goto out;
  /* Zone participants: classes whose pods must fix their node's zone. */
  for (c = 0; c < w->nc; c++) {
    const uint32_t *gp;
    if (!is_pending_class(w, c)) continue;
    if (w->need_zone[c] || bits_any(&w->anti_zone[c * W], W)) w->zpart[c] = 1;
    for (gp = w->cnt[c]; *gp != UINT32_MAX && !w->zpart[c]; gp++)
      if (w->g[*gp].level == LVL_ZONE && w->g[*gp].active) w->zpart[c] = 1;
    for (d = 0; d < w->nc && !w->zpart[c]; d++)
      if (w->aff_zone[d] && w->unsup[d] == NULL && BIT_GET(&w->aff_all[d * W], c)) w->zpart[c] = 1;
  }
out:
  stv_free(po);
  stv_free(pc);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Set-up: the state of the cluster                                       */

struct pnode *stv__peers_node_new(struct world *w) {
  struct pnode *n = stv__peers_walloc(w, sizeof(*n));
  if (n == NULL) return NULL;
  n->pres = stv__peers_walloc(w, w->W * sizeof(uint64_t));
  n->hcnt = stv__peers_walloc(w, (w->nhg + 1) * sizeof(uint32_t));
  if (n->pres == NULL || n->hcnt == NULL) return NULL;
  n->existing = -1;
  n->tmpl = -1;
  n->zone = -1;
  return n;
}

int stv__peers_node_push(struct world *w, struct pnode *n, uint32_t *id) {
  if (stv_grow((void **)&w->nodes, &w->cap_nodes, w->nnodes + 1, sizeof(*w->nodes)) != 0) return STV_ENOMEM;
  *id = (uint32_t)w->nnodes;
  w->nodes[w->nnodes++] = n;
  return 0;
}

static int setup_state(struct world *w) {
  const struct stv_snapshot *s = w->s;
  size_t i;
  uint32_t id;
  w->zcount = stv__peers_walloc(w, (w->ng * w->nz + 1) * sizeof(uint32_t));
  w->zbase = stv__peers_walloc(w, (w->ng * w->nz + 1) * sizeof(uint32_t));
  w->zpres = stv__peers_walloc(w, (w->nz + 1) * w->W * sizeof(uint64_t));
  w->present = stv__peers_walloc(w, w->W * sizeof(uint64_t));
  w->newzone = stv__peers_walloc(w, w->nz + 1);
  w->where = stv__peers_walloc(w, s->npods * sizeof(int32_t));
  w->why = stv__peers_walloc(w, s->npods * sizeof(*w->why));
  w->pending = stv__peers_walloc(w, s->npods * sizeof(uint32_t));
  if (!w->zcount || !w->zbase || !w->zpres || !w->present || !w->newzone || !w->where || !w->why || !w->pending)
    return STV_ENOMEM;
  for (i = 0; i < s->nnodes; i++) {
    struct pnode *n = stv__peers_node_new(w);
    if (n == NULL) return STV_ENOMEM;
    n->existing = (int32_t)i;
    n->zone = w->node_zone[i];
    memcpy(n->used, s->nodes[i].used, sizeof(n->used));
    if (stv__peers_node_push(w, n, &id)) return STV_ENOMEM;
  }
  w->nexist = w->nnodes;
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    w->where[i] = -1;
    if (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    if (p->node < 0) {
      if (!s->classes[p->cls]->daemonset) w->pending[w->npending++] = (uint32_t)i;
      continue;
    }
    {
      struct pnode *n = w->nodes[p->node];
      int32_t z = w->node_zone[p->node];
      const uint32_t *gp;
      BIT_SET(n->pres, p->cls);
      for (gp = w->cnt[p->cls]; *gp != UINT32_MAX; gp++) {
        const struct grp *g = &w->g[*gp];
        if (g->level == LVL_HOST)
          n->hcnt[g->hidx]++;
        else if (z >= 0 && g->xelig[p->node])
          w->zcount[(size_t)*gp * w->nz + (size_t)z]++;
      }
      if (z >= 0) BIT_SET(&w->zpres[(size_t)z * w->W], p->cls);
      if (z >= 0 || w->has_host[p->node]) BIT_SET(w->present, p->cls);
    }
  }
  memcpy(w->zbase, w->zcount, (w->ng * w->nz + 1) * sizeof(uint32_t));
  return 0;
}

int stv__peers_world_init(struct world *w, const struct stv_problem *p) {
  int rc;
  memset(w, 0, sizeof(*w));
  stv_arena_init(&w->a);
  w->p = p;
  w->s = p->snap;
  w->ndim = p->snap->res.n;
  w->nc = p->snap->nclasses;
  w->W = (w->nc + 63) / 64 + 1;
  if ((rc = setup_zones(w)) || (rc = setup_signatures(w)) || (rc = setup_templates(w)) || (rc = setup_rules(w)) ||
      (rc = setup_state(w)))
    return rc;
  return 0;
}

void stv__peers_world_close(struct world *w) {
  stv_free(w->zones);
  stv_free(w->g);
  stv_free(w->nodes);
  stv_arena_reset(&w->a);
}

/* ---------------------------------------------------------------------- */
/* Rules                                                                  */

/* Pods of class c (up to want) that fit the room cap - used. */
uint32_t stv__peers_res_room(const struct world *w, const int64_t *used, const int64_t *cap,
                         const struct stv_class *k, uint32_t want) {
  int r;
  for (r = 0; r < w->ndim && want > 0; r++) {
    int64_t left;
    if (k->req[r] <= 0) continue;
    left = cap[r] - used[r];
    if (left < k->req[r]) return 0;
    if (left / k->req[r] < (int64_t)want) want = (uint32_t)(left / k->req[r]);
  }
  return want;
}

/*
 * How many more pods of class c (up to want) the hostname-level rules let
 * node n take: anti-affinity both ways, spread caps (the global minimum of
 * a hostname spread is taken as 0, since a new node can always be made),
 * and affinity to a pod already on the node (or, for the first pod of a
 * self-selecting group, anywhere, and then one pod only).
 */
uint32_t stv__peers_host_room(const struct world *w, const struct pnode *n, uint32_t c, uint32_t want) {
  const uint64_t *anti = &w->anti_host[(size_t)c * w->W];
  const uint32_t *gp;
  if (bits_intersect(anti, n->pres, w->W)) return 0;
  if (BIT_GET(anti, c) && want > 1) want = 1;
  if (w->aff_host[c] && !bits_intersect(&w->aff_all[(size_t)c * w->W], n->pres, w->W)) {
    if (!w->aff_self[c] || bits_intersect(&w->aff_all[(size_t)c * w->W], w->present, w->W)) return 0;
    if (want > 1) want = 1;
  }
  for (gp = w->own[c]; *gp != UINT32_MAX && want > 0; gp++) {
    const struct grp *g = &w->g[*gp];
    uint32_t have, skew = (uint32_t)g->max_skew;
    if (g->level != LVL_HOST) continue;
    have = n->hcnt[g->hidx];
    if (BIT_GET(g->match, c)) {
      if (have >= skew) return 0;
      if (want > skew - have) want = skew - have;
    } else if (have > skew) {
      return 0;
    }
  }
  for (gp = w->cnt[c]; *gp != UINT32_MAX && want > 0; gp++) {
    const struct grp *g = &w->g[*gp];
    uint32_t have, skew = (uint32_t)g->max_skew;
    if (g->level != LVL_HOST || !g->active || BIT_GET(g->owners, c)) continue;
    if (!bits_intersect(n->pres, g->owners, w->W)) continue;
    have = n->hcnt[g->hidx];
    if (have >= skew) return 0;
    if (want > skew - have) want = skew - have;
  }
  return want;
}

/*
 * The global minimum of zone group gi once add pods go to zone z: over the
 * zones that are its domains; 0 while fewer zones than minDomains have a
 * node it counts (a conservative reading, since nodes are only added).
 */
static uint32_t spread_min(const struct world *w, size_t gi, int32_t z, uint32_t add) {
  const struct grp *g = &w->g[gi];
  const uint32_t *cnt = &w->zcount[gi * w->nz];
  uint32_t min = UINT32_MAX;
  size_t zz, ndom = 0;
  for (zz = 0; zz < w->nz; zz++) {
    uint32_t v;
    if (!g->zelig[zz] && (int32_t)zz != z) continue;
    v = cnt[zz] + ((int32_t)zz == z ? add : 0);
    if (v < min) min = v;
  }
  if (g->min_domains > 0) {
    for (zz = 0; zz < w->nz; zz++)
      if (g->xzone[zz] || w->newzone[zz] || (int32_t)zz == z) ndom++;
    if (ndom < (size_t)g->min_domains) min = 0;
  }
  return min == UINT32_MAX ? 0 : min;
}

/*
 * Whether one more pod of class c may go to zone z (-1: a node without a
 * zone) on existing node e (-1: a new node): anti-affinity both ways,
 * affinity (a pod matching all of c's terms in z, or the first pod of a
 * self-selecting group), its zone spread constraints, and the spread
 * constraints that count it where one of their owners already is.
 */
int stv__peers_zone_ok(const struct world *w, uint32_t c, int32_t z, int32_t e) {
  const size_t W = w->W;
  const uint32_t *gp;
  const uint64_t *zp;
  if (z < 0) return !w->need_zone[c];
  zp = &w->zpres[(size_t)z * W];
  if (bits_intersect(&w->anti_zone[(size_t)c * W], zp, W)) return 0;
  if (w->aff_zone[c] && !bits_intersect(&w->aff_all[(size_t)c * W], zp, W)) {
    if (!w->aff_self[c] || bits_intersect(&w->aff_all[(size_t)c * W], w->present, W)) return 0;
  }
  for (gp = w->own[c]; *gp != UINT32_MAX; gp++) {
    const struct grp *g = &w->g[*gp];
    uint32_t self, here;
    if (g->level != LVL_ZONE) continue;
    self = (uint32_t)BIT_GET(g->match, c);
    here = w->zcount[(size_t)*gp * w->nz + (size_t)z] + self;
    if (here > spread_min(w, *gp, z, self) + (uint32_t)g->max_skew) return 0;
  }
  for (gp = w->cnt[c]; *gp != UINT32_MAX; gp++) {
    const struct grp *g = &w->g[*gp];
    if (g->level != LVL_ZONE || !g->active || BIT_GET(g->owners, c)) continue;
    if (e >= 0 && !g->xelig[e]) continue;
    if (!bits_intersect(zp, g->owners, W)) continue;
    if (w->zcount[(size_t)*gp * w->nz + (size_t)z] + 1 > spread_min(w, *gp, z, 1) + (uint32_t)g->max_skew) return 0;
  }
  return 1;
}

/*
 * Picks the zone for a pod of class c among avail: every rule must allow
 * it; with a zone spread (its own, else one that counts it) the zone with
 * the fewest matching pods, else the first. Returns -1 when none.
 */
int32_t stv__peers_choose_zone(const struct world *w, uint32_t c, const unsigned char *avail) {
  const uint32_t *gp;
  int32_t best = -1, key = -1;
  size_t z;
  for (gp = w->own[c]; *gp != UINT32_MAX && key < 0; gp++)
    if (w->g[*gp].level == LVL_ZONE) key = (int32_t)*gp;
  for (gp = w->cnt[c]; *gp != UINT32_MAX && key < 0; gp++)
    if (w->g[*gp].level == LVL_ZONE && w->g[*gp].active) key = (int32_t)*gp;
  for (z = 0; z < w->nz; z++) {
    if (!avail[z] || !stv__peers_zone_ok(w, c, (int32_t)z, -1)) continue;
    if (best < 0) {
      best = (int32_t)z;
      continue;
    }
    if (key >= 0 && w->zcount[(size_t)key * w->nz + z] < w->zcount[(size_t)key * w->nz + (size_t)best])
      best = (int32_t)z;
  }
  return best;
}

/*
 * Puts k pods of class c on node n: its resources, pods, classes present and
 * hostname-group counts only, so that the CA-like loop can also fill the
 * nodes it only simulates.
 */
void stv__peers_node_put(struct world *w, struct pnode *n, uint32_t c, uint32_t k) {
  const struct stv_class *kc = w->s->classes[c];
  const uint32_t *gp;
  int r;
  for (r = 0; r < w->ndim; r++) n->used[r] += kc->req[r] * (int64_t)k;
  n->npods += k;
  BIT_SET(n->pres, c);
  for (gp = w->cnt[c]; *gp != UINT32_MAX; gp++)
    if (w->g[*gp].level == LVL_HOST) n->hcnt[w->g[*gp].hidx] += k;
}

/* Records k pods of class c on node n of the world (node-level state, and c as present). */
void stv__peers_node_commit(struct world *w, struct pnode *n, uint32_t c, uint32_t k) {
  stv__peers_node_put(w, n, c, k);
  BIT_SET(w->present, c);
}

/* Records k pods of class c in zone z on existing node e (-1: new) (zone-level state). */
void stv__peers_zone_commit(struct world *w, uint32_t c, int32_t z, int32_t e, uint32_t k) {
  const uint32_t *gp;
  if (z < 0) return;
  BIT_SET(&w->zpres[(size_t)z * w->W], c);
  BIT_SET(w->present, c);
  if (e < 0) w->newzone[z] = 1;
  for (gp = w->cnt[c]; *gp != UINT32_MAX; gp++) {
    const struct grp *g = &w->g[*gp];
    if (g->level != LVL_ZONE || (e >= 0 && !g->xelig[e])) continue;
    w->zcount[(size_t)*gp * w->nz + (size_t)z] += k;
  }
}

/* Static predicates of class c on existing node e, cached per signature. */
static int exist_fits(struct world *w, uint32_t e, uint32_t c) {
  unsigned char *x = &w->xfit[(size_t)e * w->nsig + w->sig[c]];
  if (*x == 0) {
    const struct stv_node *n = &w->s->nodes[e];
    struct stv_node_view v = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
    *x = stv_class_fits_node(w->s->classes[c], &v, NULL, 0) ? 1 : 2;
  }
  return *x == 1;
}

/*
 * Tries one pod of class c on existing node e; on success records it
 * there and returns 1.
 */
int stv__peers_exist_place(struct world *w, uint32_t e, uint32_t pod) {
  uint32_t c = w->s->pods[pod].cls;
  struct pnode *n = w->nodes[e];
  if (!exist_fits(w, e, c)) return 0;
  if (w->need_host[c] && !w->has_host[e]) return 0;
  if (stv__peers_res_room(w, n->used, w->s->nodes[e].alloc, w->s->classes[c], 1) == 0) return 0;
  if (stv__peers_host_room(w, n, c, 1) == 0) return 0;
  if (w->zpart[c] && !stv__peers_zone_ok(w, c, n->zone, (int32_t)e)) return 0;
  stv__peers_node_commit(w, n, c, 1);
  if (w->zpart[c]) stv__peers_zone_commit(w, c, n->zone, (int32_t)e, 1);
  w->where[pod] = (int32_t)e;
  return 1;
}

/* A reason for a pod no node took. */
static const char *unplaced_reason(const struct world *w, uint32_t c) {
  size_t i;
  if (w->unsup[c]) return w->unsup[c];
  for (i = 0; i < w->nusable; i++)
    if (BIT_GET(&w->compat[(size_t)w->usable[i] * w->W], c)) break;
  if (i == w->nusable) return "fits no offering once DaemonSet overhead is reserved (resources, node selector, affinity or taints)";
  if (w->need_zone[c] || w->zpart[c]) return "no zone satisfies its zone-level rules (spread, affinity, anti-affinity)";
  if (w->aff_host[c]) return "required pod affinity (hostname): no node can hold it beside a matching pod";
  return "no node accepts it under its placement rules";
}

/* ---------------------------------------------------------------------- */
/* The final zone-spread check and the plan                               */

/*
 * Recounts every zone spread constraint on the finished placement, as the
 * checker does (eligible nodes, domains that hold one, minDomains), and
 * withdraws placed owners from zones that exceed maxSkew (counted in
 * w->withdrawn, each with reason). Returns 0 or STV_ENOMEM.
 */
int stv__peers_repair_spread(struct world *w, const char *reason) {
  uint32_t *cnt = stv__peers_walloc(w, (w->nz + 1) * sizeof(uint32_t));
  unsigned char *dom = stv__peers_walloc(w, w->nz + 1);
  int changed = 1;
  size_t gi, i;
  if (cnt == NULL || dom == NULL) return STV_ENOMEM;
  while (changed) {
    changed = 0;
    for (gi = 0; gi < w->ng; gi++) {
      const struct grp *g = &w->g[gi];
      uint32_t min = UINT32_MAX;
      size_t z, nd = 0;
      if (g->level != LVL_ZONE || !g->active) continue;
      memcpy(cnt, &w->zbase[gi * w->nz], w->nz * sizeof(uint32_t));
      for (z = 0; z < w->nz; z++) dom[z] = g->xzone[z];
      for (i = 0; i < w->npending; i++) {
        uint32_t pod = w->pending[i], c = w->s->pods[pod].cls;
        const struct pnode *n;
        if (w->where[pod] < 0) continue;
        n = w->nodes[w->where[pod]];
        if (n->zone < 0) continue;
        if (n->existing < 0) dom[n->zone] = 1;
        if (!BIT_GET(g->match, c) || (n->existing >= 0 && !g->xelig[n->existing])) continue;
        cnt[n->zone]++;
      }
      for (z = 0; z < w->nz; z++) {
        if (!dom[z]) continue;
        nd++;
        if (cnt[z] < min) min = cnt[z];
      }
      if (min == UINT32_MAX) continue;
      if (g->min_domains > 0 && nd < (size_t)g->min_domains) min = 0;
      for (z = 0; z < w->nz; z++) {
        size_t j;
        if (!dom[z] || cnt[z] <= min + (uint32_t)g->max_skew) continue;
        for (j = w->npending; j-- > 0 && cnt[z] > min + (uint32_t)g->max_skew;) {
          uint32_t pod = w->pending[j], c = w->s->pods[pod].cls;
          struct pnode *n;
          if (w->where[pod] < 0 || !BIT_GET(g->owners, c) || !BIT_GET(g->match, c)) continue;
          n = w->nodes[w->where[pod]];
          if (n->zone != (int32_t)z || (n->existing >= 0 && !g->xelig[n->existing])) continue;
          w->where[pod] = -1;
          w->why[pod] = reason;
          n->npods--;
          cnt[z]--;
          w->withdrawn++;
          changed = 1;
        }
      }
    }
  }
  return 0;
}

/* Turns the placement into plan (arena plan->mem); new nodes are named prefix-NNNN-type-zone. */
int stv__peers_build_plan(struct world *w, struct stv_plan *plan, const char *prefix) {
  const struct stv_snapshot *s = w->s;
  uint32_t *count = stv__peers_walloc(w, (w->nnodes + 1) * sizeof(uint32_t));
  int32_t *slot = stv__peers_walloc(w, (w->nnodes + 1) * sizeof(int32_t));
  size_t i, k = 0, nun = 0, seq = 0;
  if (count == NULL || slot == NULL) return STV_ENOMEM;
  plan->npending = w->npending;
  for (i = 0; i < w->npending; i++) {
    int32_t x = w->where[w->pending[i]];
    if (x >= 0)
      count[x]++;
    else
      nun++;
  }
  plan->nodes = stv_arena_alloc(&plan->mem, (w->nnodes + 1) * sizeof(*plan->nodes));
  plan->unsched = stv_arena_alloc(&plan->mem, (nun + 1) * sizeof(*plan->unsched));
  if (plan->nodes == NULL || plan->unsched == NULL) return STV_ENOMEM;
  for (i = 0; i < w->nnodes; i++) {
    const struct pnode *n = w->nodes[i];
    struct stv_plan_node *pn;
    slot[i] = -1;
    if (count[i] == 0) continue;
    pn = &plan->nodes[k];
    slot[i] = (int32_t)k++;
    pn->existing = n->existing;
    pn->tmpl = n->existing >= 0 ? -1 : n->tmpl;
    pn->pods = stv_arena_alloc(&plan->mem, count[i] * sizeof(uint32_t));
    if (pn->pods == NULL) return STV_ENOMEM;
    if (n->existing >= 0) {
      snprintf(pn->name, sizeof(pn->name), "%s", s->nodes[n->existing].name);
    } else {
      const struct stv_template *t = &w->p->tmpl[n->tmpl];
      snprintf(pn->name, sizeof(pn->name), "%s-%04zu-%s-%s", prefix, ++seq, t->instance_type,
               t->zone ? t->zone : "any");
      plan->nnew++;
    }
  }
  plan->nnodes = k;
  for (i = 0; i < w->npending; i++) {
    uint32_t pod = w->pending[i];
    int32_t x = w->where[pod];
    if (x >= 0) {
      struct stv_plan_node *pn = &plan->nodes[slot[x]];
      pn->pods[pn->npods++] = pod;
      plan->nplaced++;
    } else {
      struct stv_plan_unsched *u = &plan->unsched[plan->nunsched++];
      u->pod = pod;
      snprintf(u->reason, sizeof(u->reason), "%s",
               w->why[pod] ? w->why[pod] : unplaced_reason(w, s->pods[pod].cls));
    }
  }
  /* Priced as Stevedore's own plans are: price, node cost, surplus credits. */
  for (i = 0; i < plan->nnodes; i++) plan->new_cost += stv_plan_node_cost(w->p, &plan->nodes[i]);
  return 0;
}
