/*
 * cJSON's allocations for the streaming JSON scanner (see internal.h):
 * the process-wide hooks that route them through stv_malloc, and the
 * per-thread arena that holds an item's nodes while it is read.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Set when an allocation made by cJSON fails, to tell ENOMEM from bad JSON. */
static _Thread_local int json_alloc_failed;

/*
 * While an item is parsed, read by the callback and deleted, cJSON's nodes
 * and strings come from a per-thread bump arena instead of malloc: tens of
 * thousands of small allocations per megabyte of JSON cost more than the
 * parsing itself. The arena's block is kept from item to item (grown when
 * an item outgrew it); what does not fit goes to chunks of its own, freed
 * when the item is done. Outside an item, the hooks are plain stv_malloc.
 */
#define JARENA_FIRST (256u * 1024u)
#define JARENA_CHUNK (64u * 1024u)

struct jchunk {
  struct jchunk *next;
  size_t cap, used;
  unsigned char data[];
};

static _Thread_local struct {
  int on;
  unsigned char *block;
  size_t cap, used;
  struct jchunk *chunks; /* overflow, newest first */
  size_t overflow;       /* bytes asked beyond the block, for the next size */
} jarena;

static void *jarena_alloc(size_t size) {
  struct jchunk *c = jarena.chunks;
  void *p;
  size = (size + 15) & ~(size_t)15;
  if (jarena.block != NULL && jarena.cap - jarena.used >= size) {
    p = jarena.block + jarena.used;
    jarena.used += size;
    return p;
  }
  jarena.overflow += size;
  if (c == NULL || c->cap - c->used < size) {
    size_t cap = size > JARENA_CHUNK ? size : JARENA_CHUNK;
    if ((c = stv_malloc(sizeof(*c) + cap)) == NULL) return NULL;
    c->cap = cap;
    c->used = 0;
    c->next = jarena.chunks;
    jarena.chunks = c;
  }
  p = c->data + c->used;
  c->used += size;
  return p;
}

/* Starts an item: allocations go to the arena until stv__json_arena_end. */
void stv__json_arena_begin(void) {
  jarena.on = 1;
}

/* Ends an item: everything it allocated is released at once. */
void stv__json_arena_end(void) {
  size_t want = jarena.used + jarena.overflow;
  while (jarena.chunks != NULL) {
    struct jchunk *c = jarena.chunks;
    jarena.chunks = c->next;
    stv_free(c);
  }
  /* Outgrown: a block that holds the whole of such an item next time. */
  if (jarena.overflow > 0 || jarena.block == NULL) {
    size_t cap = jarena.cap ? jarena.cap : JARENA_FIRST;
    unsigned char *b;
    while (cap < want) cap *= 2;
    if ((b = stv_malloc(cap)) != NULL) {
      stv_free(jarena.block);
      jarena.block = b;
      jarena.cap = cap;
    }
  }
  jarena.used = 0;
  jarena.overflow = 0;
  jarena.on = 0;
}

/* Frees the arena's block (end of a stream); kept while an item is being read. */
void stv__json_arena_release(void) {
  if (jarena.on) return; /* a reader freed from another's callback: that item still uses it */
  stv_free(jarena.block);
  jarena.block = NULL;
  jarena.cap = 0;
}

static void *json_malloc(size_t size) {
  void *p = jarena.on ? jarena_alloc(size) : stv_malloc(size);
  if (p == NULL) json_alloc_failed = 1;
  return p;
}

static void json_free(void *p) {
  if (!jarena.on) stv_free(p);
}

static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void json_init_once(void) {
  cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = json_free};
  cJSON_InitHooks(&hooks);
}

void stv_json_init(void) {
  pthread_once(&json_once, json_init_once);
}

cJSON *stv__json_parse(char *s, size_t n, const char **end, int *nomem) {
  char saved = s[n];
  cJSON *item;
  /* cJSON stops at the length given; the NUL only guards its lookahead. */
  s[n] = '\0';
  json_alloc_failed = 0;
  *end = NULL;
  item = cJSON_ParseWithLengthOpts(s, n, end, 0);
  s[n] = saved;
  *nomem = json_alloc_failed;
  return item;
}
