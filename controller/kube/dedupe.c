/*
 * The same object read twice (in one file or across files): an identical
 * copy is skipped, a different version replaces the earlier one when its
 * resourceVersion is newer. Objects are keyed by kind letter, namespace
 * and name in the snapshot's seen map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_internal.h"

/* ---------------------------------------------------------------------- */
/* The same object twice                                                  */

/* Number of objects of the kind with this letter: the index a new one gets. */
size_t stv__kind_count(const struct stv_snapshot *s, char letter) {
  switch (letter) {
  case 'P':
    return s->npods;
  case 'N':
    return s->nnodes;
  case 'B':
    return s->npdbs;
  case 'S':
    return s->nnamespaces;
  case 'C':
    return s->volumes != NULL ? s->volumes->npvcs : 0;
  case 'V':
    return s->volumes != NULL ? s->volumes->npvs : 0;
  case 'K':
    return s->volumes != NULL ? s->volumes->nclasses : 0;
  default:
    return s->volumes != NULL ? s->volumes->ncsinodes : 0;
  }
}

/*
 * Drops the storage object of kind letter called ns/name that the item just
 * read (the list's head) replaces: a newer version of it. Rare, so a walk.
 */
void stv__unlink_replaced_storage(struct stv_snapshot *s, char letter, const char *ns, const char *name) {
  struct stv_snapshot_volumes *vs = s->volumes;
/* Unlinks the first record after the list's head (the new version) for which cond holds on *pp. */
#define UNLINK_AFTER_HEAD(type, head, count, cond)           \
  do {                                                       \
    type **pp;                                               \
    if ((head) == NULL) return;                              \
    for (pp = &(head)->next; *pp != NULL; pp = &(*pp)->next) \
      if (cond) {                                            \
        *pp = (*pp)->next;                                   \
        (count)--;                                           \
        return;                                              \
      }                                                      \
  } while (0)
  if (vs == NULL) return;
  if (letter == 'C')
    UNLINK_AFTER_HEAD(struct vol_pvc, vs->pvcs, vs->npvcs,
                      strcmp((*pp)->name, name) == 0 && strcmp((*pp)->ns, ns) == 0);
  else if (letter == 'V')
    UNLINK_AFTER_HEAD(struct vol_pv, vs->pvs, vs->npvs, strcmp((*pp)->name, name) == 0);
  else if (letter == 'K')
    UNLINK_AFTER_HEAD(struct vol_class, vs->classes, vs->nclasses, strcmp((*pp)->name, name) == 0);
  else if (letter == 'I')
    UNLINK_AFTER_HEAD(struct vol_csinode, vs->csinodes, vs->ncsinodes, strcmp((*pp)->node, name) == 0);
#undef UNLINK_AFTER_HEAD
}

/* 1 when a is a newer resourceVersion than b: as integers when both are. */
static int rv_newer(const char *a, const char *b) {
  if (a != NULL && b != NULL && stv__is_int64(a) && stv__is_int64(b))
    return strtoll(a, NULL, 10) >= strtoll(b, NULL, 10);
  return 1; /* not comparable: the one read last */
}

/* Records a differing duplicate for the note, naming the first few. */
static void note_dup(struct rd *r, const struct stv_seen *old, int kept_new) {
  struct stv_snapshot_read_stats *st = r->stats;
  size_t k;
  if (st == NULL) return;
  k = st->dup_replaced++;
  if (k >= sizeof(st->dup_examples) / sizeof(st->dup_examples[0])) return;
  snprintf(st->dup_examples[k], sizeof(st->dup_examples[0]),
           "%s %s%s%s (resourceVersion %s, then %s: kept %s)", r->kind, r->ns != NULL ? r->ns : "",
           r->ns != NULL ? "/" : "", r->name, old->rv ? old->rv : "none", r->seen.rv ? r->seen.rv : "none",
           kept_new ? (r->seen.rv ? r->seen.rv : "the later") : (old->rv ? old->rv : "the earlier"));
}

/*
 * Looks item up among the objects read before. Identical (same
 * resourceVersion and uid, or for items without a resourceVersion the
 * same content): *skip. A different version: the one with the larger
 * resourceVersion is kept (the later one when they do not compare as
 * integers); r->replace says which earlier object a newer one replaces.
 */
int stv__seen_check(struct rd *r, const cJSON *item, const cJSON *meta, char letter, int *skip) {
  char key[600];
  const cJSON *rv = stv__member(meta, "resourceVersion"), *uid = stv__member(meta, "uid");
  struct stv_strmap_ent *e;
  struct stv_seen *old;
  int n;
  *skip = 0;
  r->replace = -1;
  memset(&r->seen, 0, sizeof(r->seen));
  n = snprintf(key, sizeof(key), "%c %s/%s", letter, r->ns != NULL ? r->ns : "", r->name);
  if (n < 0 || (size_t)n >= sizeof(key)) return 0; /* names this long the API refuses; not tracked */
  if (cJSON_IsString(rv) && rv->valuestring[0] != '\0' &&
      (r->seen.rv = stv__intern(r, rv->valuestring)) == NULL)
    return stv__oom(r);
  if (cJSON_IsString(uid) && uid->valuestring[0] != '\0' &&
      (r->seen.uid = stv__intern(r, uid->valuestring)) == NULL)
    return stv__oom(r);
  e = stv_strmap_find(&r->s->seen, key, (size_t)n);
  if (r->seen.rv == NULL) {
    /* Hand-made input: the content tells identical copies apart. */
    char *text = cJSON_PrintUnformatted(item);
    if (text == NULL) return stv__oom(r);
    r->seen.hash = stv_hash(text, strlen(text), 0x5eed);
    cJSON_free(text);
  }
  if (e == NULL) return 0;
  old = &r->s->seen_v[e->val];
  if (old->rv == r->seen.rv && old->uid == r->seen.uid && (r->seen.rv != NULL || old->hash == r->seen.hash)) {
    if (r->stats != NULL) r->stats->dup_identical++;
    *skip = 1;
    return 0;
  }
  if (!rv_newer(r->seen.rv, old->rv)) {
    note_dup(r, old, 0);
    *skip = 1;
    return 0;
  }
  note_dup(r, old, 1);
  r->replace = (long)old->index;
  return 0;
}

/* Records the item just read (when it was kept) as seen. */
int stv__seen_commit(struct rd *r, char letter, size_t before) {
  char key[600];
  struct stv_strmap_ent *e;
  int n, added;
  if (r->replace >= 0) {
    n = snprintf(key, sizeof(key), "%c %s/%s", letter, r->ns != NULL ? r->ns : "", r->name);
    if (n > 0 && (size_t)n < sizeof(key) && (e = stv_strmap_find(&r->s->seen, key, (size_t)n)) != NULL) {
      struct stv_seen *old = &r->s->seen_v[e->val];
      old->rv = r->seen.rv;
      old->uid = r->seen.uid;
      old->hash = r->seen.hash;
    }
    return 0;
  }
  if (stv__kind_count(r->s, letter) == before)
    return 0; /* left out (a finished pod, a PDB without selector) */
  n = snprintf(key, sizeof(key), "%c %s/%s", letter, r->ns != NULL ? r->ns : "", r->name);
  if (n < 0 || (size_t)n >= sizeof(key)) return 0;
  if (stv_grow((void **)&r->s->seen_v, &r->s->cap_seen, r->s->nseen + 1, sizeof(*r->s->seen_v)) != 0)
    return stv__oom(r);
  if (stv_strmap_upsert(&r->s->seen, &r->s->pool, key, (size_t)n, (uint32_t)r->s->nseen, &e, &added) != 0)
    return stv__oom(r);
  r->seen.index = (uint32_t)before;
  r->s->seen_v[r->s->nseen++] = r->seen;
  return 0;
}
