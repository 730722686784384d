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

/* Sets r->key to "<letter> <ns>/<name>" (r->nkey 0 when too long to be tracked). */
static void make_key(struct rd *r, char letter) {
  /* 0 for names this long the API refuses: not tracked */
  r->nkey = stv_seen_key(r->key, sizeof(r->key), letter, r->ns, r->name);
}

/* Whether a and b (each NULL or a string) are equal. */
static int same_str(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* A copy of s (NULL for NULL) in the snapshot's arena; sets *rc on out of memory. */
static const char *keep_str(struct rd *r, const char *s, int *rc) {
  size_t n;
  char *p;
  if (s == NULL) return NULL;
  n = strlen(s) + 1;
  if ((p = stv_arena_alloc(&r->s->mem, n)) == NULL) {
    *rc = stv__oom(r);
    return NULL;
  }
  return memcpy(p, s, n);
}

/*
 * Looks item up among the objects read before. Identical (same
 * resourceVersion and uid, or for items without a resourceVersion the
 * same content): *skip. A different version: the one with the larger
 * resourceVersion is kept (the later one when they do not compare as
 * integers); r->replace says which earlier object a newer one replaces.
 * r->seen's strings are the item's until stv__seen_commit keeps them.
 */
int stv__seen_check(struct rd *r, const cJSON *item, const cJSON *meta, char letter, int *skip) {
  const cJSON *rv = stv__member(meta, "resourceVersion"), *uid = stv__member(meta, "uid");
  struct stv_seen *old;
  *skip = 0;
  r->replace = -1;
  r->seen_ent = NULL;
  memset(&r->seen, 0, sizeof(r->seen));
  make_key(r, letter);
  if (r->nkey == 0) return 0;
  if (cJSON_IsString(rv) && rv->valuestring[0] != '\0') r->seen.rv = rv->valuestring;
  if (cJSON_IsString(uid) && uid->valuestring[0] != '\0') r->seen.uid = uid->valuestring;
  r->seen_ent = stv_strmap_find(&r->s->seen, r->key, r->nkey);
  if (r->seen.rv == NULL) {
    /* Hand-made input: the content tells identical copies apart. */
    char *text = cJSON_PrintUnformatted(item);
    if (text == NULL) return stv__oom(r);
    r->seen.hash = stv_hash(text, strlen(text), 0x5eed);
    cJSON_free(text);
  }
  if (r->seen_ent == NULL) return 0;
  old = &r->s->seen_v[r->seen_ent->val];
  if (old->index == STV_SEEN_GONE) return 0; /* removed (a watch's DELETED): read as new */
  if (same_str(old->rv, r->seen.rv) && same_str(old->uid, r->seen.uid) &&
      (r->seen.rv != NULL || old->hash == r->seen.hash)) {
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
  struct stv_strmap_ent *e;
  struct stv_seen *to;
  int rc = 0, added;
  if (r->nkey == 0) return 0;
  if (r->replace >= 0) {
    to = &r->s->seen_v[r->seen_ent->val];
  } else if (r->seen_ent != NULL) {
    /* The tombstone of a removed object of this name: it is re-created. */
    if (stv__kind_count(r->s, letter) == before) return 0;
    to = &r->s->seen_v[r->seen_ent->val];
    to->index = (uint32_t)before;
  } else {
    if (stv__kind_count(r->s, letter) == before)
      return 0; /* left out (a finished pod, a PDB without selector) */
    if (stv_grow((void **)&r->s->seen_v, &r->s->cap_seen, r->s->nseen + 1, sizeof(*r->s->seen_v)) != 0)
      return stv__oom(r);
    if (stv_strmap_upsert(&r->s->seen, &r->s->pool, r->key, r->nkey, (uint32_t)r->s->nseen, &e, &added) != 0)
      return stv__oom(r);
    to = &r->s->seen_v[r->s->nseen++];
    to->index = (uint32_t)before;
  }
  to->rv = keep_str(r, r->seen.rv, &rc);
  to->uid = keep_str(r, r->seen.uid, &rc);
  to->hash = r->seen.hash;
  return rc;
}
