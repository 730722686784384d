/* The snapshot model: interning of pod classes, nodes, pods, PDBs. */
#include <stdio.h>
#include <string.h>

#include "packer.h"

/* A class's canonical key: the bytes compared to decide equality. */
struct stv__class_key {
  uint64_t hash;
  size_t len;
  unsigned char *bytes; /* in s->mem */
};

struct keybuf {
  unsigned char *p;
  size_t len, cap;
  int oom;
};

static inline void kb_put(struct keybuf *b, const void *data, size_t n) {
  /* Most calls fit: no call to grow (a class's key is some hundred small pieces). */
  if (b->len + n <= b->cap) {
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return;
  }
  if (b->oom) return;
  if (stv_grow((void **)&b->p, &b->cap, b->len + n, 1) != 0) {
    b->oom = 1;
    return;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

#define KB_VAL(b, v)                    \
  do {                                  \
    __typeof__(v) kb__v = (v);          \
    kb_put((b), &kb__v, sizeof(kb__v)); \
  } while (0)

/* Strings are interned, so their addresses are canonical. */
static void kb_sel(struct keybuf *b, const struct stv_selector *sel) {
  uint32_t i, j;
  KB_VAL(b, sel->n);
  for (i = 0; i < sel->n; i++) {
    const struct stv_requirement *r = &sel->reqs[i];
    KB_VAL(b, r->key);
    KB_VAL(b, (int)r->op);
    KB_VAL(b, r->nvalues);
    for (j = 0; j < r->nvalues; j++) KB_VAL(b, r->values[j]);
  }
}

static void kb_terms(struct keybuf *b, const struct stv_pod_term *t, uint32_t n) {
  uint32_t i, j;
  KB_VAL(b, n);
  for (i = 0; i < n; i++) {
    kb_sel(b, &t[i].sel);
    KB_VAL(b, t[i].match_none);
    KB_VAL(b, t[i].topology_key);
    KB_VAL(b, t[i].nns);
    for (j = 0; j < t[i].nns; j++) KB_VAL(b, t[i].namespaces[j]);
    KB_VAL(b, t[i].has_ns_sel);
    if (t[i].has_ns_sel) kb_sel(b, &t[i].ns_sel);
  }
}

static void class_key(struct keybuf *b, const struct stv_class *c) {
  uint32_t i;
  KB_VAL(b, c->ns);
  kb_put(b, c->req, sizeof(c->req));
  KB_VAL(b, c->labels.n);
  for (i = 0; i < c->labels.n; i++) {
    KB_VAL(b, c->labels.kv[i].key);
    KB_VAL(b, c->labels.kv[i].value);
  }
  kb_sel(b, &c->node_selector);
  KB_VAL(b, c->affinity.n);
  for (i = 0; i < c->affinity.n; i++) {
    kb_sel(b, &c->affinity.terms[i].exprs);
    kb_sel(b, &c->affinity.terms[i].fields);
  }
  KB_VAL(b, c->ntol);
  for (i = 0; i < c->ntol; i++) {
    KB_VAL(b, c->tol[i].key);
    KB_VAL(b, c->tol[i].exists);
    KB_VAL(b, c->tol[i].value);
    KB_VAL(b, (int)c->tol[i].effect);
  }
  kb_terms(b, c->aff, c->naff);
  kb_terms(b, c->anti, c->nanti);
  KB_VAL(b, c->nspread);
  for (i = 0; i < c->nspread; i++) {
    const struct stv_spread *sp = &c->spread[i];
    KB_VAL(b, sp->max_skew);
    KB_VAL(b, sp->topology_key);
    KB_VAL(b, sp->do_not_schedule);
    kb_sel(b, &sp->sel);
    KB_VAL(b, sp->match_none);
    KB_VAL(b, sp->min_domains);
    KB_VAL(b, sp->honor_node_affinity);
    KB_VAL(b, sp->honor_taints);
  }
  KB_VAL(b, c->daemonset);
  KB_VAL(b, c->owner_uid);
  kb_terms(b, c->panti, c->npanti);
  KB_VAL(b, c->blocked);
  KB_VAL(b, c->priority);
}

int stv_snapshot_init(struct stv_snapshot *s) {
  memset(s, 0, sizeof(*s));
  stv_strpool_init(&s->pool);
  stv_arena_init(&s->mem);
  s->priority_cutoff = STV_PRIORITY_CUTOFF_DEFAULT;
  return stv_resnames_init(&s->res, &s->pool);
}

void stv_snapshot_close(struct stv_snapshot *s) {
  stv_free(s->nodes);
  stv_free(s->pods);
  stv_free(s->classes);
  stv_free(s->class_keys);
  stv_free(s->class_slots);
  stv_free(s->node_slots);
  stv_free(s->pdbs);
  stv_free(s->namespaces);
  stv_free(s->seen_v);
  stv_strmap_close(&s->seen);
  stv_arena_reset(&s->mem);
  stv_strpool_close(&s->pool);
  memset(s, 0, sizeof(*s));
}

/* Arena copies of the variable-length parts of the model. */
static void *dup_array(struct stv_arena *a, const void *src, size_t n, size_t elem) {
  void *p;
  if (n == 0) return NULL;
  p = stv_arena_alloc(a, n * elem);
  if (p != NULL) memcpy(p, src, n * elem);
  return p;
}

static int copy_selector(struct stv_arena *a, struct stv_selector *dst, const struct stv_selector *src) {
  uint32_t i;
  dst->n = src->n;
  dst->reqs = NULL;
  if (src->n == 0) return 0;
  dst->reqs = dup_array(a, src->reqs, src->n, sizeof(*src->reqs));
  if (dst->reqs == NULL) return STV_ENOMEM;
  for (i = 0; i < src->n; i++) {
    if (src->reqs[i].nvalues == 0) continue;
    dst->reqs[i].values = dup_array(a, src->reqs[i].values, src->reqs[i].nvalues, sizeof(const char *));
    if (dst->reqs[i].values == NULL) return STV_ENOMEM;
  }
  return 0;
}

static int copy_labels(struct stv_arena *a, struct stv_labels *dst, const struct stv_labels *src) {
  dst->n = src->n;
  dst->kv = NULL;
  if (src->n == 0) return 0;
  dst->kv = dup_array(a, src->kv, src->n, sizeof(*src->kv));
  return dst->kv ? 0 : STV_ENOMEM;
}

static int copy_terms(struct stv_arena *a, struct stv_pod_term **dst, const struct stv_pod_term *src,
                      uint32_t n) {
  uint32_t i;
  *dst = NULL;
  if (n == 0) return 0;
  *dst = dup_array(a, src, n, sizeof(*src));
  if (*dst == NULL) return STV_ENOMEM;
  for (i = 0; i < n; i++) {
    struct stv_pod_term *t = &(*dst)[i];
    if (copy_selector(a, &t->sel, &src[i].sel) != 0) return STV_ENOMEM;
    if (copy_selector(a, &t->ns_sel, &src[i].ns_sel) != 0) return STV_ENOMEM;
    if (src[i].nns) {
      t->namespaces = dup_array(a, src[i].namespaces, src[i].nns, sizeof(const char *));
      if (t->namespaces == NULL) return STV_ENOMEM;
    }
  }
  return 0;
}

static int copy_class(struct stv_arena *a, struct stv_class *d, const struct stv_class *c) {
  uint32_t i;
  *d = *c;
  if (copy_labels(a, &d->labels, &c->labels)) return STV_ENOMEM;
  if (copy_selector(a, &d->node_selector, &c->node_selector)) return STV_ENOMEM;
  d->affinity.terms = NULL;
  if (c->affinity.n) {
    d->affinity.terms = dup_array(a, c->affinity.terms, c->affinity.n, sizeof(*c->affinity.terms));
    if (d->affinity.terms == NULL) return STV_ENOMEM;
    for (i = 0; i < c->affinity.n; i++) {
      if (copy_selector(a, &d->affinity.terms[i].exprs, &c->affinity.terms[i].exprs)) return STV_ENOMEM;
      if (copy_selector(a, &d->affinity.terms[i].fields, &c->affinity.terms[i].fields)) return STV_ENOMEM;
    }
  }
  d->tol = NULL;
  if (c->ntol && (d->tol = dup_array(a, c->tol, c->ntol, sizeof(*c->tol))) == NULL) return STV_ENOMEM;
  if (copy_terms(a, &d->aff, c->aff, c->naff)) return STV_ENOMEM;
  if (copy_terms(a, &d->anti, c->anti, c->nanti)) return STV_ENOMEM;
  d->spread = NULL;
  if (c->nspread) {
    d->spread = dup_array(a, c->spread, c->nspread, sizeof(*c->spread));
    if (d->spread == NULL) return STV_ENOMEM;
    for (i = 0; i < c->nspread; i++)
      if (copy_selector(a, &d->spread[i].sel, &c->spread[i].sel)) return STV_ENOMEM;
  }
  if (copy_terms(a, &d->panti, c->panti, c->npanti)) return STV_ENOMEM;
  return 0;
}

static int class_rehash(struct stv_snapshot *s) {
  size_t ncap = s->class_cap ? s->class_cap * 2 : 256;
  uint32_t *slots = stv_calloc(ncap, sizeof(*slots));
  size_t i;
  if (slots == NULL) return STV_ENOMEM;
  for (i = 0; i < s->nclasses; i++) {
    size_t j = s->class_keys[i].hash & (ncap - 1);
    while (slots[j] != 0) j = (j + 1) & (ncap - 1);
    slots[j] = (uint32_t)i + 1;
  }
  stv_free(s->class_slots);
  s->class_slots = slots;
  s->class_cap = ncap;
  return 0;
}

int stv_snapshot_intern_class(struct stv_snapshot *s, const struct stv_class *cls, uint32_t *id) {
  struct keybuf kb = {0};
  uint64_t h;
  size_t j;
  struct stv_class *c = NULL;
  int rc = 0;

  /* Room for a typical key at once, not eight doublings from 8 bytes. */
  if (stv_grow((void **)&kb.p, &kb.cap, 1024, 1) != 0) return STV_ENOMEM;
  class_key(&kb, cls);
  if (kb.oom) {
    rc = STV_ENOMEM;
    goto out;
  }
  h = stv_hash_name(kb.p, kb.len); /* label keys and values from outside */
  if ((s->nclasses + 1) * 2 > s->class_cap && (rc = class_rehash(s)) != 0) goto out;
  j = h & (s->class_cap - 1);
  while (s->class_slots[j] != 0) {
    struct stv__class_key *k = &s->class_keys[s->class_slots[j] - 1];
    if (k->hash == h && k->len == kb.len && memcmp(k->bytes, kb.p, kb.len) == 0) {
      *id = s->class_slots[j] - 1;
      goto out;
    }
    j = (j + 1) & (s->class_cap - 1);
  }
  /* A new class. */
  if ((rc = stv_grow((void **)&s->classes, &s->cap_classes, s->nclasses + 1, sizeof(*s->classes))) != 0)
    goto out;
  if ((rc = stv_grow((void **)&s->class_keys, &s->cap_class_keys, s->nclasses + 1, sizeof(*s->class_keys))) !=
      0)
    goto out;
  c = stv_arena_alloc(&s->mem, sizeof(*c));
  if (c == NULL || copy_class(&s->mem, c, cls) != 0) {
    rc = STV_ENOMEM;
    goto out;
  }
  s->class_keys[s->nclasses].bytes = dup_array(&s->mem, kb.p, kb.len, 1);
  if (s->class_keys[s->nclasses].bytes == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  s->class_keys[s->nclasses].hash = h;
  s->class_keys[s->nclasses].len = kb.len;
  c->id = (uint32_t)s->nclasses;
  c->npods = 0;
  c->npending = 0;
  s->classes[s->nclasses] = c;
  s->class_slots[j] = (uint32_t)s->nclasses + 1;
  *id = (uint32_t)s->nclasses;
  s->nclasses++;
out:
  stv_free(kb.p);
  return rc;
}

/* Rebuilds the lookup by name with ncap slots (a power of two). */
static int node_rehash_to(struct stv_snapshot *s, size_t ncap) {
  uint32_t *slots = stv_calloc(ncap, sizeof(*slots));
  size_t i;
  if (slots == NULL) return STV_ENOMEM;
  for (i = 0; i < s->nnodes; i++) {
    const char *n = s->nodes[i].name;
    size_t j = stv_hash(&n, sizeof(n), 0) & (ncap - 1);
    while (slots[j] != 0) j = (j + 1) & (ncap - 1);
    slots[j] = (uint32_t)i + 1;
  }
  stv_free(s->node_slots);
  s->node_slots = slots;
  s->node_cap = ncap;
  return 0;
}

static int node_rehash(struct stv_snapshot *s) { return node_rehash_to(s, s->node_cap ? s->node_cap * 2 : 256); }

int32_t stv_snapshot_find_node(const struct stv_snapshot *s, const char *name) {
  size_t j;
  const char *interned = NULL;
  if (s->node_cap == 0 || name == NULL) return -1;
  /* Names are interned; find the pooled pointer without adding to the pool. */
  interned = stv_strpool_find(&s->pool, name, strlen(name));
  if (interned == NULL) return -1;
  j = stv_hash(&interned, sizeof(interned), 0) & (s->node_cap - 1);
  while (s->node_slots[j] != 0) {
    uint32_t k = s->node_slots[j] - 1;
    if (s->nodes[k].name == interned) return (int32_t)k;
    j = (j + 1) & (s->node_cap - 1);
  }
  return -1;
}

int stv_snapshot_set_nodes(struct stv_snapshot *s, const struct stv_node *nodes, size_t n) {
  size_t i;
  int rc;
  if (n > 0 && (rc = stv_grow((void **)&s->nodes, &s->cap_nodes, n, sizeof(*s->nodes))) != 0) return rc;
  /* nodes may alias s->nodes (a prefix of it); memmove keeps that safe. */
  if (n > 0 && nodes != s->nodes) memmove(s->nodes, nodes, n * sizeof(*nodes));
  s->nnodes = n;
  while (s->node_cap < 2 * n + 2) s->node_cap = s->node_cap ? s->node_cap * 2 : 128;
  if ((rc = node_rehash(s)) != 0) return rc;
  for (i = 0; i < n; i++)
    if (stv_snapshot_find_node(s, s->nodes[i].name) != (int32_t)i) return STV_ECONFLICT;
  return 0;
}

int stv_snapshot_add_node(struct stv_snapshot *s, const struct stv_node *n) {
  struct stv_node *d;
  size_t j;
  int rc;
  if (stv_snapshot_find_node(s, n->name) >= 0) return STV_ECONFLICT;
  if ((rc = stv_grow((void **)&s->nodes, &s->cap_nodes, s->nnodes + 1, sizeof(*s->nodes))) != 0) return rc;
  if ((s->nnodes + 1) * 2 > s->node_cap && (rc = node_rehash(s)) != 0) return rc;
  d = &s->nodes[s->nnodes];
  *d = *n;
  memset(d->used, 0, sizeof(d->used));
  if (copy_labels(&s->mem, &d->labels, &n->labels) != 0) return STV_ENOMEM;
  d->taints = NULL;
  if (n->ntaints && (d->taints = dup_array(&s->mem, n->taints, n->ntaints, sizeof(*n->taints))) == NULL)
    return STV_ENOMEM;
  j = stv_hash(&d->name, sizeof(d->name), 0) & (s->node_cap - 1);
  while (s->node_slots[j] != 0) j = (j + 1) & (s->node_cap - 1);
  s->node_slots[j] = (uint32_t)s->nnodes + 1;
  s->nnodes++;
  return 0;
}

int stv_snapshot_replace_node(struct stv_snapshot *s, size_t i, const struct stv_node *n) {
  struct stv_node *d;
  if (i >= s->nnodes || s->nodes[i].name != n->name) return STV_EINVAL;
  d = &s->nodes[i];
  *d = *n;
  memset(d->used, 0, sizeof(d->used));
  if (copy_labels(&s->mem, &d->labels, &n->labels) != 0) return STV_ENOMEM;
  d->taints = NULL;
  if (n->ntaints && (d->taints = dup_array(&s->mem, n->taints, n->ntaints, sizeof(*n->taints))) == NULL)
    return STV_ENOMEM;
  return 0;
}

int stv_snapshot_replace_pdb(struct stv_snapshot *s, size_t i, const struct stv_pdb *p) {
  if (i >= s->npdbs) return STV_EINVAL;
  s->pdbs[i] = *p;
  return copy_selector(&s->mem, &s->pdbs[i].sel, &p->sel) != 0 ? STV_ENOMEM : 0;
}

int stv_snapshot_replace_namespace(struct stv_snapshot *s, size_t i, const struct stv_namespace *ns) {
  if (i >= s->nnamespaces) return STV_EINVAL;
  s->namespaces[i] = *ns;
  return copy_labels(&s->mem, &s->namespaces[i].labels, &ns->labels) != 0 ? STV_ENOMEM : 0;
}

int stv_snapshot_add_pod(struct stv_snapshot *s, const struct stv_pod *p) {
  int rc;
  if (p->cls >= s->nclasses) return STV_EINVAL;
  if ((rc = stv_grow((void **)&s->pods, &s->cap_pods, s->npods + 1, sizeof(*s->pods))) != 0) return rc;
  s->pods[s->npods++] = *p;
  return 0;
}

int stv_snapshot_add_pdb(struct stv_snapshot *s, const struct stv_pdb *p) {
  int rc;
  struct stv_pdb *d;
  if ((rc = stv_grow((void **)&s->pdbs, &s->cap_pdbs, s->npdbs + 1, sizeof(*s->pdbs))) != 0) return rc;
  d = &s->pdbs[s->npdbs];
  *d = *p;
  if (copy_selector(&s->mem, &d->sel, &p->sel) != 0) return STV_ENOMEM;
  s->npdbs++;
  return 0;
}

int stv_snapshot_add_namespace(struct stv_snapshot *s, const struct stv_namespace *ns) {
  int rc;
  struct stv_namespace *d;
  if ((rc = stv_grow((void **)&s->namespaces, &s->cap_namespaces, s->nnamespaces + 1,
                     sizeof(*s->namespaces))) != 0)
    return rc;
  d = &s->namespaces[s->nnamespaces];
  *d = *ns;
  if (copy_labels(&s->mem, &d->labels, &ns->labels) != 0) return STV_ENOMEM;
  s->nnamespaces++;
  return 0;
}

const char *stv_not_planned_name(enum stv_not_planned np) {
  switch (np) {
  case STV_NP_GATED:
    return "scheduling_gated";
  case STV_NP_SCHEDULER:
    return "other_scheduler";
  case STV_NP_EXPENDABLE:
    return "below_priority_cutoff";
  case STV_NP_NOMINATED:
    return "nominated";
  case STV_NP_NONE:
    break;
  }
  return "";
}

/* Whether the scheduler named name (NULL: the default one) is one of s's. */
static int known_scheduler(const struct stv_snapshot *s, const char *name) {
  size_t i;
  if (name == NULL) name = STV_DEFAULT_SCHEDULER;
  if (s->scheduler_names == NULL) return strcmp(name, STV_DEFAULT_SCHEDULER) == 0;
  for (i = 0; i < s->nscheduler_names; i++)
    if (strcmp(name, s->scheduler_names[i]) == 0) return 1;
  return 0;
}

/*
 * Whether a pending pod is planned. kube-scheduler does not look at a gated
 * pod, nor at one for another scheduler; Cluster Autoscaler drops pods below
 * its expendable cutoff, and treats a pod nominated to an existing node as
 * scheduled there (in that order, as its FilterOutExpendableAndSplit).
 */
enum stv_not_planned stv_pod_pending_category(const struct stv_snapshot *s, const struct stv_pod *p) {
  if (p->first_gate != NULL) return STV_NP_GATED;
  if (!s->any_scheduler && !known_scheduler(s, p->scheduler_name)) return STV_NP_SCHEDULER;
  if (p->flags & STV_POD_HEADROOM) return STV_NP_NONE;
  if (p->priority < s->priority_cutoff) return STV_NP_EXPENDABLE;
  if (p->nominated_node != NULL && stv_snapshot_find_node(s, p->nominated_node) >= 0) return STV_NP_NOMINATED;
  return STV_NP_NONE;
}

int stv_snapshot_finish(struct stv_snapshot *s, struct stv_err *err) {
  size_t i;
  int r;
  (void)err;
  s->nnot_planned = 0;
  for (i = 0; i < s->nclasses; i++) {
    s->classes[i]->npods = 0;
    s->classes[i]->npending = 0;
  }
  for (i = 0; i < s->nnodes; i++) memset(s->nodes[i].used, 0, sizeof(s->nodes[i].used));
  for (i = 0; i < s->npods; i++) {
    struct stv_pod *p = &s->pods[i];
    struct stv_class *c = s->classes[p->cls];
    p->flags &= (uint8_t)~STV_POD_NODE_MISSING;
    if (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    if (p->node_name != NULL) {
      /* The index a reader or a copy left is kept when its node has this very (interned) name. */
      if (p->node < 0 || (size_t)p->node >= s->nnodes || s->nodes[p->node].name != p->node_name)
        p->node = stv_snapshot_find_node(s, p->node_name);
      if (p->node < 0) {
        /* Neither pending nor on a known node: left out, for the caller to note. */
        p->flags |= STV_POD_NODE_MISSING;
        continue;
      }
      c->npods++;
      for (r = 0; r < s->res.n; r++) s->nodes[p->node].used[r] += c->req[r];
    } else {
      c->npods++;
      p->node = -1;
      p->not_planned = STV_NP_NONE;
      if (c->daemonset) continue;
      p->not_planned = (uint8_t)stv_pod_pending_category(s, p);
      if (p->not_planned == STV_NP_NONE) {
        c->npending++;
        continue;
      }
      s->nnot_planned++;
      if (p->not_planned == STV_NP_NOMINATED) {
        int32_t n = stv_snapshot_find_node(s, p->nominated_node);
        for (r = 0; r < s->res.n; r++) s->nodes[n].used[r] += c->req[r];
      }
    }
  }
  return 0;
}

/* Labels of namespace ns: from a Namespace item, else the label the API server sets. */
static int ns_matches(const struct stv_snapshot *s, const struct stv_selector *sel, const char *ns) {
  size_t i;
  struct stv_label kv;
  struct stv_labels l;
  for (i = 0; i < s->nnamespaces; i++)
    if (strcmp(s->namespaces[i].name, ns) == 0) return stv_selector_matches(sel, &s->namespaces[i].labels);
  kv.key = "kubernetes.io/metadata.name";
  kv.value = ns;
  l.n = 1;
  l.kv = &kv;
  return stv_selector_matches(sel, &l);
}

int stv_term_covers_ns(const struct stv_snapshot *s, const struct stv_pod_term *term, const char *self_ns,
                       const char *ns) {
  uint32_t i;
  if (term->nns == 0 && !term->has_ns_sel) return strcmp(self_ns, ns) == 0;
  for (i = 0; i < term->nns; i++)
    if (strcmp(term->namespaces[i], ns) == 0) return 1;
  if (term->has_ns_sel && ns_matches(s, &term->ns_sel, ns)) return 1;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Preferences made rules (the what-if repack)                            */

static int zone_key(const char *k) {
  return strcmp(k, "topology.kubernetes.io/zone") == 0 ||
         strcmp(k, "failure-domain.beta.kubernetes.io/zone") == 0;
}

/* Whether preferred anti-affinity term t of class c spreads c's own replicas within c's namespace. */
static int term_spreads_self(const struct stv_pod_term *t, const struct stv_class *c) {
  /* An empty selector would count nothing as a spread: it stays anti-affinity. */
  if (t->match_none || t->has_ns_sel || t->sel.n == 0) return 0;
  if (t->nns > 1 || (t->nns == 1 && strcmp(t->namespaces[0], c->ns) != 0)) return 0;
  return stv_selector_matches(&t->sel, &c->labels);
}

int stv_snapshot_promote_class(struct stv_snapshot *s, uint32_t cls, uint32_t *out) {
  const struct stv_class *c = s->classes[cls];
  struct stv_class p = *c;
  struct stv_spread *spread = NULL;
  struct stv_pod_term *anti = NULL, *panti = NULL;
  uint32_t i, nsp = 0, nanti = 0, npanti = 0, promoted = 0;
  int rc = 0;

  *out = cls;
  spread = stv_calloc((size_t)c->nspread + c->npanti + 1, sizeof(*spread));
  anti = stv_calloc((size_t)c->nanti + c->npanti + 1, sizeof(*anti));
  panti = stv_calloc((size_t)c->npanti + 1, sizeof(*panti));
  if (spread == NULL || anti == NULL || panti == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (i = 0; i < c->nspread; i++) {
    spread[nsp] = c->spread[i];
    if (!spread[nsp].do_not_schedule && zone_key(spread[nsp].topology_key)) {
      spread[nsp].do_not_schedule = 1;
      promoted++;
    }
    nsp++;
  }
  for (i = 0; i < c->nanti; i++) anti[nanti++] = c->anti[i];
  for (i = 0; i < c->npanti; i++) {
    const struct stv_pod_term *t = &c->panti[i];
    if (!zone_key(t->topology_key)) {
      panti[npanti++] = *t;
      continue;
    }
    promoted++;
    if (term_spreads_self(t, c)) {
      struct stv_spread *sp = &spread[nsp++];
      memset(sp, 0, sizeof(*sp));
      sp->max_skew = 1;
      sp->topology_key = t->topology_key;
      sp->do_not_schedule = 1;
      sp->sel = t->sel;
      sp->honor_node_affinity = 1;
    } else {
      anti[nanti++] = *t;
    }
  }
  if (promoted == 0) goto out;
  p.nspread = nsp;
  p.spread = spread;
  p.nanti = nanti;
  p.anti = anti;
  p.npanti = npanti;
  p.panti = panti;
  rc = stv_snapshot_intern_class(s, &p, out);
out:
  stv_free(spread);
  stv_free(anti);
  stv_free(panti);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Removal (the watch-driven cache)                                       */

size_t stv_seen_key(char *buf, size_t size, char letter, const char *ns, const char *name) {
  size_t lns, lname;
  if (ns == NULL) ns = "";
  lns = strlen(ns);
  lname = strlen(name);
  if (lns + lname + 3 >= size) return 0;
  buf[0] = letter;
  buf[1] = ' ';
  memcpy(buf + 2, ns, lns);
  buf[2 + lns] = '/';
  memcpy(buf + 3 + lns, name, lname + 1);
  return lns + lname + 3;
}

long stv_snapshot_seen_find(const struct stv_snapshot *s, char letter, const char *ns, const char *name) {
  char key[640];
  size_t n = stv_seen_key(key, sizeof(key), letter, ns, name);
  const struct stv_strmap_ent *e;
  if (n == 0 || (e = stv_strmap_find(&s->seen, key, n)) == NULL) return -1;
  return (long)e->val;
}

/* Points the seen entry of an object at index to (STV_SEEN_GONE: a tombstone). */
static void seen_move(struct stv_snapshot *s, char letter, const char *ns, const char *name, uint32_t to) {
  long k = stv_snapshot_seen_find(s, letter, ns, name);
  if (k >= 0) s->seen_v[k].index = to;
}

/*
 * Swap-removes element i of arr (*n elements of elem bytes) of kind letter:
 * its seen entry becomes a tombstone, the last element's follows it to i.
 */
static void swap_out(struct stv_snapshot *s, char letter, void *arr, size_t elem, size_t *n, size_t i,
                     const char *const name_of[4]) {
  size_t last = *n - 1;
  seen_move(s, letter, name_of[0], name_of[1], STV_SEEN_GONE);
  if (i != last) {
    memcpy((char *)arr + i * elem, (char *)arr + last * elem, elem);
    seen_move(s, letter, name_of[2], name_of[3], (uint32_t)i);
  }
  (*n)--;
}

int stv_snapshot_remove_pod(struct stv_snapshot *s, size_t i) {
  if (i >= s->npods) return STV_EINVAL;
  const struct stv_pod *p = &s->pods[i], *l = &s->pods[s->npods - 1];
  const char *const names[4] = {p->ns, p->name, l->ns, l->name};
  swap_out(s, 'P', s->pods, sizeof(*s->pods), &s->npods, i, names);
  return 0;
}

int stv_snapshot_remove_node(struct stv_snapshot *s, size_t i) {
  size_t last, k;
  if (i >= s->nnodes) return STV_EINVAL;
  last = s->nnodes - 1;
  for (k = 0; k < s->npods; k++) {
    if (s->pods[k].node == (int32_t)i)
      s->pods[k].node = -1;
    else if (s->pods[k].node == (int32_t)last)
      s->pods[k].node = (int32_t)i;
  }
  const char *const names[4] = {NULL, s->nodes[i].name, NULL, s->nodes[last].name};
  swap_out(s, 'N', s->nodes, sizeof(*s->nodes), &s->nnodes, i, names);
  return node_rehash_to(s, s->node_cap ? s->node_cap : 256);
}

int stv_snapshot_remove_pdb(struct stv_snapshot *s, size_t i) {
  if (i >= s->npdbs) return STV_EINVAL;
  const struct stv_pdb *p = &s->pdbs[i], *l = &s->pdbs[s->npdbs - 1];
  const char *const names[4] = {p->ns, p->name, l->ns, l->name};
  swap_out(s, 'B', s->pdbs, sizeof(*s->pdbs), &s->npdbs, i, names);
  return 0;
}

int stv_snapshot_remove_namespace(struct stv_snapshot *s, size_t i) {
  if (i >= s->nnamespaces) return STV_EINVAL;
  const char *const names[4] = {NULL, s->namespaces[i].name, NULL, s->namespaces[s->nnamespaces - 1].name};
  swap_out(s, 'S', s->namespaces, sizeof(*s->namespaces), &s->nnamespaces, i, names);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Live copies                                                            */

/* Copying into dst: strings interned again in dst's pool, arrays first in tmp. */
#define LIVE_MEMO 4096 /* a direct-mapped memo of strings copied: namespaces, node and owner names repeat */

struct live_copy {
  struct stv_snapshot *dst;
  struct stv_arena tmp;
  int oom;
  struct {
    const char *src, *dst;
  } *memo; /* LIVE_MEMO entries; src strings are interned, so a pointer names one */
};

static const char *ri(struct live_copy *lc, const char *str) {
  const char *p;
  size_t k;
  if (str == NULL) return NULL;
  k = ((uintptr_t)str >> 3) % LIVE_MEMO;
  if (lc->memo[k].src == str) return lc->memo[k].dst;
  if ((p = stv_strpool_get(&lc->dst->pool, str)) == NULL) {
    lc->oom = 1;
    return NULL;
  }
  lc->memo[k].src = str;
  lc->memo[k].dst = p;
  return p;
}

static void ri_labels(struct live_copy *lc, struct stv_labels *l) {
  uint32_t i;
  for (i = 0; i < l->n; i++) {
    l->kv[i].key = ri(lc, l->kv[i].key);
    l->kv[i].value = ri(lc, l->kv[i].value);
  }
}

static void ri_sel(struct live_copy *lc, struct stv_selector *sel) {
  uint32_t i, j;
  for (i = 0; i < sel->n; i++) {
    sel->reqs[i].key = ri(lc, sel->reqs[i].key);
    for (j = 0; j < sel->reqs[i].nvalues; j++) sel->reqs[i].values[j] = ri(lc, sel->reqs[i].values[j]);
  }
}

static void ri_terms(struct live_copy *lc, struct stv_pod_term *t, uint32_t n) {
  uint32_t i, j;
  for (i = 0; i < n; i++) {
    ri_sel(lc, &t[i].sel);
    ri_sel(lc, &t[i].ns_sel);
    t[i].topology_key = ri(lc, t[i].topology_key);
    for (j = 0; j < t[i].nns; j++) t[i].namespaces[j] = ri(lc, t[i].namespaces[j]);
  }
}

/* Interns a copy of class c (of another snapshot) into lc->dst, as *id. */
static int copy_class_into(struct live_copy *lc, const struct stv_class *c, uint32_t *id) {
  struct stv_class d;
  uint32_t i;
  int rc;
  if (copy_class(&lc->tmp, &d, c) != 0) return STV_ENOMEM;
  d.ns = ri(lc, d.ns);
  ri_labels(lc, &d.labels);
  ri_sel(lc, &d.node_selector);
  for (i = 0; i < d.affinity.n; i++) {
    ri_sel(lc, &d.affinity.terms[i].exprs);
    ri_sel(lc, &d.affinity.terms[i].fields);
  }
  for (i = 0; i < d.ntol; i++) {
    d.tol[i].key = ri(lc, d.tol[i].key);
    d.tol[i].value = ri(lc, d.tol[i].value);
  }
  ri_terms(lc, d.aff, d.naff);
  ri_terms(lc, d.anti, d.nanti);
  ri_terms(lc, d.panti, d.npanti);
  for (i = 0; i < d.nspread; i++) {
    d.spread[i].topology_key = ri(lc, d.spread[i].topology_key);
    ri_sel(lc, &d.spread[i].sel);
  }
  d.owner_uid = ri(lc, d.owner_uid);
  d.example = ri(lc, d.example);
  d.blocked = ri(lc, d.blocked);
  if (lc->oom) return STV_ENOMEM;
  rc = stv_snapshot_intern_class(lc->dst, &d, id);
  return rc;
}

static int copy_node_into(struct live_copy *lc, const struct stv_node *n) {
  struct stv_node d = *n;
  uint32_t i;
  int rc;
  if (copy_labels(&lc->tmp, &d.labels, &n->labels) != 0) return STV_ENOMEM;
  if (n->ntaints && (d.taints = dup_array(&lc->tmp, n->taints, n->ntaints, sizeof(*n->taints))) == NULL)
    return STV_ENOMEM;
  d.name = ri(lc, d.name);
  ri_labels(lc, &d.labels);
  for (i = 0; i < d.ntaints; i++) {
    d.taints[i].key = ri(lc, d.taints[i].key);
    d.taints[i].value = ri(lc, d.taints[i].value);
  }
  d.instance_type = ri(lc, d.instance_type);
  d.zone = ri(lc, d.zone);
  d.capacity_type = ri(lc, d.capacity_type);
  if (lc->oom) return STV_ENOMEM;
  rc = stv_snapshot_add_node(lc->dst, &d);
  return rc;
}

static int copy_pod_into(struct live_copy *lc, const struct stv_pod *p, uint32_t cls) {
  struct stv_pod d = *p;
  d.cls = cls;
  d.ns = ri(lc, p->ns);
  d.name = ri(lc, p->name);
  d.node_name = ri(lc, p->node_name);
  d.owner_kind = ri(lc, p->owner_kind);
  d.owner_name = ri(lc, p->owner_name);
  d.priority_class = ri(lc, p->priority_class);
  d.first_gate = ri(lc, p->first_gate);
  d.scheduler_name = ri(lc, p->scheduler_name);
  d.nominated_node = ri(lc, p->nominated_node);
  if (lc->oom) return STV_ENOMEM;
  return stv_snapshot_add_pod(lc->dst, &d);
}

static int copy_pdb_ns_into(struct live_copy *lc, const struct stv_snapshot *src) {
  size_t i;
  int rc;
  for (i = 0; i < src->npdbs; i++) {
    struct stv_pdb d = src->pdbs[i];
    if (copy_selector(&lc->tmp, &d.sel, &src->pdbs[i].sel) != 0) return STV_ENOMEM;
    ri_sel(lc, &d.sel);
    d.ns = ri(lc, d.ns);
    d.name = ri(lc, d.name);
    d.min_available = ri(lc, d.min_available);
    d.max_unavailable = ri(lc, d.max_unavailable);
    if (lc->oom) return STV_ENOMEM;
    if ((rc = stv_snapshot_add_pdb(lc->dst, &d)) != 0) return rc;
  }
  for (i = 0; i < src->nnamespaces; i++) {
    struct stv_namespace d = src->namespaces[i];
    if (copy_labels(&lc->tmp, &d.labels, &src->namespaces[i].labels) != 0) return STV_ENOMEM;
    ri_labels(lc, &d.labels);
    d.name = ri(lc, d.name);
    if (lc->oom) return STV_ENOMEM;
    if ((rc = stv_snapshot_add_namespace(lc->dst, &d)) != 0) return rc;
  }
  return 0;
}

/* Copies the seen entries of src's objects (tombstones left out) into lc->dst. */
static int copy_seen_into(struct live_copy *lc, const struct stv_snapshot *src) {
  struct stv_snapshot *dst = lc->dst;
  size_t i;
  for (i = 0; i < src->seen.cap; i++) {
    const struct stv_strmap_ent *e = &src->seen.e[i];
    const struct stv_seen *from;
    struct stv_strmap_ent *ne;
    struct stv_seen *to;
    int added;
    if (e->key == NULL) continue;
    from = &src->seen_v[e->val];
    if (from->index == STV_SEEN_GONE) continue;
    if (stv_grow((void **)&dst->seen_v, &dst->cap_seen, dst->nseen + 1, sizeof(*dst->seen_v)) != 0)
      return STV_ENOMEM;
    if (stv_strmap_upsert(&dst->seen, &dst->pool, e->key, e->len, (uint32_t)dst->nseen, &ne, &added) != 0)
      return STV_ENOMEM;
    to = &dst->seen_v[dst->nseen++];
    *to = *from;
    to->rv = from->rv ? dup_array(&dst->mem, from->rv, strlen(from->rv) + 1, 1) : NULL;
    to->uid = from->uid ? dup_array(&dst->mem, from->uid, strlen(from->uid) + 1, 1) : NULL;
    if ((from->rv && to->rv == NULL) || (from->uid && to->uid == NULL)) return STV_ENOMEM;
  }
  return 0;
}

/* Resource names and settings of src, into the empty dst. */
static int copy_settings_into(struct live_copy *lc, const struct stv_snapshot *src) {
  struct stv_snapshot *dst = lc->dst;
  uint32_t i;
  int r;
  for (r = STV_RES_FIXED; r < src->res.n; r++)
    if (stv_resnames_index(&dst->res, &dst->pool, src->res.name[r], 1) != r) return STV_ENOMEM;
  dst->priority_cutoff = src->priority_cutoff;
  dst->scheduler_names = src->scheduler_names;
  dst->nscheduler_names = src->nscheduler_names;
  dst->any_scheduler = src->any_scheduler;
  if (src->nzone_labels == 0) return 0;
  dst->zone_labels = stv_arena_alloc(&dst->mem, src->nzone_labels * sizeof(*dst->zone_labels));
  if (dst->zone_labels == NULL) return STV_ENOMEM;
  for (i = 0; i < src->nzone_labels; i++) dst->zone_labels[i] = ri(lc, src->zone_labels[i]);
  dst->nzone_labels = src->nzone_labels;
  return lc->oom ? STV_ENOMEM : 0;
}

int stv_snapshot_copy_live(struct stv_snapshot *dst, const struct stv_snapshot *src, unsigned flags) {
  struct live_copy lc = {.dst = dst};
  uint32_t *cmap = NULL;
  size_t i;
  int rc;
  if (dst->nnodes || dst->npods || dst->nclasses || dst->npdbs || dst->nnamespaces || dst->nseen)
    return STV_ELIMIT;
  stv_arena_init(&lc.tmp);
  /*
   * The copy's strings are at most the source's: one table of that size
   * spares the doublings on the way there, each of which hashes every
   * string again (more than half the copy's hashing).
   */
  if (stv_strpool_reserve(&dst->pool, src->pool.len) != 0 ||
      (lc.memo = stv_calloc(LIVE_MEMO, sizeof(*lc.memo))) == NULL ||
      stv_grow((void **)&dst->pods, &dst->cap_pods, src->npods + 1, sizeof(*dst->pods)) != 0 ||
      stv_grow((void **)&dst->nodes, &dst->cap_nodes, src->nnodes + 1, sizeof(*dst->nodes)) != 0) {
    rc = STV_ENOMEM;
    goto out;
  }
  if ((rc = copy_settings_into(&lc, src)) != 0) goto out;
  if ((rc = copy_pdb_ns_into(&lc, src)) != 0) goto out;
  for (i = 0; i < src->nnodes; i++)
    if ((rc = copy_node_into(&lc, &src->nodes[i])) != 0) goto out;
  if (src->nclasses && (cmap = stv_malloc(src->nclasses * sizeof(*cmap))) == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  if (cmap != NULL) memset(cmap, 0xff, src->nclasses * sizeof(*cmap));
  for (i = 0; i < src->npods; i++) {
    const struct stv_pod *p = &src->pods[i];
    if (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    if (cmap[p->cls] == UINT32_MAX && (rc = copy_class_into(&lc, src->classes[p->cls], &cmap[p->cls])) != 0)
      goto out;
    if ((rc = copy_pod_into(&lc, p, cmap[p->cls])) != 0) goto out;
  }
  if ((flags & STV_COPY_SEEN) && (rc = copy_seen_into(&lc, src)) != 0) goto out;
out:
  stv_free(cmap);
  stv_free(lc.memo);
  stv_arena_reset(&lc.tmp);
  return rc;
}
