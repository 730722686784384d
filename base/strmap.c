/*
 * A string-keyed map of 32-bit values (base.h), by open addressing; keys
 * are interned in a pool the caller owns.
 */
#include <string.h>

#include "base.h"

/* Keys are names from outside: hashed with the per-process key. */
static uint64_t strmap_hash(const char *s, size_t n) {
  return stv_hash_name(s, n);
}

void stv_strmap_close(struct stv_strmap *m) {
  stv_free(m->e);
  memset(m, 0, sizeof(*m));
}

/* Moves the entries to a table of ncap slots (a power of two, more than twice the entries). */
static int strmap_grow_to(struct stv_strmap *m, size_t ncap) {
  size_t i;
  struct stv_strmap_ent *ne = stv_calloc(ncap, sizeof(*ne));
  if (ne == NULL) return STV_ENOMEM;
  for (i = 0; i < m->cap; i++) {
    size_t j;
    if (m->e[i].key == NULL) continue;
    j = m->e[i].h & (ncap - 1);
    while (ne[j].key != NULL) j = (j + 1) & (ncap - 1);
    ne[j] = m->e[i];
  }
  stv_free(m->e);
  m->e = ne;
  m->cap = ncap;
  return 0;
}

static int strmap_grow(struct stv_strmap *m) {
  return strmap_grow_to(m, m->cap ? m->cap * 2 : 64);
}

int stv_strmap_reserve(struct stv_strmap *m, size_t n) {
  size_t ncap = m->cap ? m->cap : 64;
  while ((n + 1) * 2 > ncap) ncap *= 2;
  return ncap == m->cap ? 0 : strmap_grow_to(m, ncap);
}

/* Returns the entry for s[0..n), or NULL when absent. */
static struct stv_strmap_ent *strmap_find(const struct stv_strmap *m, const char *s, size_t n, uint64_t h) {
  size_t j;
  if (m->cap == 0) return NULL;
  j = h & (m->cap - 1);
  while (m->e[j].key != NULL) {
    if (m->e[j].h == h && m->e[j].len == n && memcmp(m->e[j].key, s, n) == 0) return &m->e[j];
    j = (j + 1) & (m->cap - 1);
  }
  return NULL;
}

int stv_strmap_upsert(struct stv_strmap *m, struct stv_strpool *pool, const char *s, size_t n, uint32_t val,
                       struct stv_strmap_ent **ent, int *added) {
  uint64_t h = strmap_hash(s, n);
  struct stv_strmap_ent *e = strmap_find(m, s, n, h);
  size_t j;
  *added = 0;
  if (e != NULL) {
    *ent = e;
    return 0;
  }
  if ((m->len + 1) * 2 > m->cap && strmap_grow(m) != 0) return STV_ENOMEM;
  j = h & (m->cap - 1);
  while (m->e[j].key != NULL) j = (j + 1) & (m->cap - 1);
  m->e[j].key = stv_strpool_intern(pool, s, n);
  if (m->e[j].key == NULL) return STV_ENOMEM;
  m->e[j].h = h;
  m->e[j].len = (uint32_t)n;
  m->e[j].val = val;
  m->len++;
  *ent = &m->e[j];
  *added = 1;
  return 0;
}

struct stv_strmap_ent *stv_strmap_find(const struct stv_strmap *m, const char *s, size_t n) {
  return strmap_find(m, s, n, strmap_hash(s, n));
}
