/* String interning: equal strings share one pointer. */
#include <string.h>

#include "base.h"

#define BLOCK_MIN 65536

void stv_strpool_init(struct stv_strpool *pool) {
  memset(pool, 0, sizeof(*pool));
}

void stv_strpool_close(struct stv_strpool *pool) {
  char *b = pool->block;
  while (b != NULL) {
    char *prev;
    memcpy(&prev, b, sizeof(prev));
    stv_free(b);
    b = prev;
  }
  stv_free(pool->slots);
  memset(pool, 0, sizeof(*pool));
}

/* Moves the strings to a table of ncap slots (a power of two, more than twice the strings). */
static int rehash_to(struct stv_strpool *pool, size_t ncap) {
  const char **slots = stv_calloc(ncap, sizeof(*slots));
  size_t i;
  if (slots == NULL) return STV_ENOMEM;
  for (i = 0; i < pool->cap; i++) {
    const char *s = pool->slots[i];
    size_t j;
    if (s == NULL) continue;
    j = stv_hash_name(s, strlen(s)) & (ncap - 1);
    while (slots[j] != NULL) j = (j + 1) & (ncap - 1);
    slots[j] = s;
  }
  stv_free(pool->slots);
  pool->slots = slots;
  pool->cap = ncap;
  return 0;
}

/* Copies s[0..n) into block storage; blocks start with a link to the previous. */
static const char *store(struct stv_strpool *pool, const char *s, size_t n) {
  char *p;
  if (pool->block == NULL || pool->block_cap - pool->block_used < n + 1) {
    size_t cap = n + 1 + sizeof(char *) > BLOCK_MIN ? n + 1 + sizeof(char *) : BLOCK_MIN;
    char *b = stv_malloc(cap);
    if (b == NULL) return NULL;
    memcpy(b, &pool->block, sizeof(char *));
    pool->block = b;
    pool->block_used = sizeof(char *);
    pool->block_cap = cap;
  }
  p = pool->block + pool->block_used;
  memcpy(p, s, n);
  p[n] = '\0';
  pool->block_used += n + 1;
  return p;
}

static int rehash(struct stv_strpool *pool) {
  return rehash_to(pool, pool->cap ? pool->cap * 2 : 1024);
}

int stv_strpool_reserve(struct stv_strpool *pool, size_t n) {
  size_t ncap = pool->cap ? pool->cap : 1024;
  while ((n + 1) * 2 > ncap) ncap *= 2;
  return ncap == pool->cap ? 0 : rehash_to(pool, ncap);
}

const char *stv_strpool_intern(struct stv_strpool *pool, const char *s, size_t n) {
  size_t j;
  const char *p;
  if ((pool->len + 1) * 2 > pool->cap && rehash(pool) != 0) return NULL;
  j = stv_hash_name(s, n) & (pool->cap - 1);
  while (pool->slots[j] != NULL) {
    const char *t = pool->slots[j];
    /* strnlen first: t ends at its NUL, which may come before n. */
    if (strnlen(t, n + 1) == n && memcmp(t, s, n) == 0) return t;
    j = (j + 1) & (pool->cap - 1);
  }
  p = store(pool, s, n);
  if (p == NULL) return NULL;
  pool->slots[j] = p;
  pool->len++;
  return p;
}

const char *stv_strpool_get(struct stv_strpool *pool, const char *s) {
  return stv_strpool_intern(pool, s, strlen(s));
}

const char *stv_strpool_find(const struct stv_strpool *pool, const char *s, size_t n) {
  size_t j;
  if (pool->cap == 0) return NULL;
  j = stv_hash_name(s, n) & (pool->cap - 1);
  while (pool->slots[j] != NULL) {
    const char *t = pool->slots[j];
    /* strnlen first: t ends at its NUL, which may come before n. */
    if (strnlen(t, n + 1) == n && memcmp(t, s, n) == 0) return t;
    j = (j + 1) & (pool->cap - 1);
  }
  return NULL;
}
