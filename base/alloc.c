/* Allocation wrappers with a failure-injection hook for tests. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

/*
 * Allocations left before the injected failure, plus one: 0 (what every
 * thread starts with) means no failure is planned. Per thread, so that a
 * test's sweep on one thread neither sees nor consumes allocations made by
 * solves on another. Test-only; no process-wide state.
 */
static _Thread_local long fail_countdown_plus1;

void stv_alloc_fail_after(long n) {
  fail_countdown_plus1 = n < 0 ? 0 : n < LONG_MAX ? n + 1 : LONG_MAX;
}

static int should_fail(void) {
  if (fail_countdown_plus1 == 0) return 0;
  if (fail_countdown_plus1 == 1) {
    fail_countdown_plus1 = 0;
    return 1;
  }
  fail_countdown_plus1--;
  return 0;
}

void *stv_malloc(size_t size) {
  if (should_fail()) return NULL;
  return malloc(size ? size : 1);
}

void *stv_calloc(size_t n, size_t size) {
  if (should_fail()) return NULL;
  return calloc(n ? n : 1, size ? size : 1);
}

void *stv_realloc(void *ptr, size_t size) {
  if (should_fail()) return NULL;
  return realloc(ptr, size ? size : 1);
}

void stv_free(void *ptr) {
  free(ptr);
}

char *stv_strndup(const char *s, size_t n) {
  char *p = stv_malloc(n + 1);
  if (p == NULL) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *stv_strdup(const char *s) {
  return stv_strndup(s, strlen(s));
}

int stv_grow(void **ptr, size_t *cap, size_t need, size_t elem) {
  size_t ncap;
  void *p;
  if (need <= *cap) return 0;
  ncap = *cap ? *cap : 8;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2 / elem) return STV_ENOMEM;
    ncap *= 2;
  }
  p = stv_realloc(*ptr, ncap * elem);
  if (p == NULL) return STV_ENOMEM;
  *ptr = p;
  *cap = ncap;
  return 0;
}

uint64_t stv_hash(const void *data, size_t n, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ULL ^ seed;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

struct stv__arena_block {
  struct stv__arena_block *next;
  size_t used;
  size_t cap;
  _Alignas(16) unsigned char data[];
};

void stv_arena_init(struct stv_arena *a) {
  a->head = NULL;
}

void *stv_arena_alloc(struct stv_arena *a, size_t size) {
  struct stv__arena_block *b = a->head;
  void *p;
  size = (size + 15) & ~(size_t)15;
  if (b == NULL || b->cap - b->used < size) {
    size_t cap = size > (1u << 20) ? size : (1u << 20);
    b = stv_malloc(sizeof(*b) + cap);
    if (b == NULL) return NULL;
    b->next = a->head;
    b->used = 0;
    b->cap = cap;
    a->head = b;
  }
  p = b->data + b->used;
  b->used += size;
  memset(p, 0, size);
  return p;
}

void stv_arena_reset(struct stv_arena *a) {
  struct stv__arena_block *b = a->head;
  while (b != NULL) {
    struct stv__arena_block *next = b->next;
    stv_free(b);
    b = next;
  }
  a->head = NULL;
}
