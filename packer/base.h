/*
 * Stevedore base facilities shared by every module: error codes, the
 * caller-owned error buffer, allocation wrappers, a string pool and a
 * bump arena. Included through packer/packer.h; never on its own.
 */
#ifndef STV_BASE_H
#define STV_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Error codes. Every function that can fail returns 0 or one of these
 * negative values. Codes are never renumbered. Where a code has an errno
 * twin it uses -errno so that system errors pass through unchanged.
 */
#define STV_ERRNO_MAP(XX)                                                    \
  XX(EIO, -5, "input/output error")                                          \
  XX(ENOMEM, -12, "out of memory")                                           \
  XX(EINVAL, -22, "invalid argument")                                        \
  XX(ERANGE, -34, "value out of range")                                      \
  XX(ETIMEDOUT, -110, "timed out")                                           \
  XX(ENOTFOUND, -5001, "not found")                                          \
  XX(ECONFLICT, -5002, "conflict")                                           \
  XX(ETHROTTLED, -5003, "throttled")                                         \
  XX(ECAPACITY, -5004, "insufficient capacity")                              \
  XX(EPARSE, -5005, "malformed input")                                       \
  XX(EUNSUPPORTED, -5006, "not supported")                                   \
  XX(ELIMIT, -5007, "limit exceeded")

enum stv_errno {
#define STV__ERR_ENUM(name, value, text) STV_##name = (value),
  STV_ERRNO_MAP(STV__ERR_ENUM)
#undef STV__ERR_ENUM
};

/* Returns a static description of code (an STV_ code or -errno). */
const char *stv_strerror(int code);
/* Returns the symbolic name of code ("STV_EINVAL"), or "STV_UNKNOWN". */
const char *stv_err_name(int code);

#define STV_ERR_MSG_MAX 512

/*
 * Human detail for an error, owned by the caller and filled at each level
 * with context, outermost last: "snapshot.json: items[3] Pod a/b: spec...".
 */
struct stv_err {
  int code;
  char msg[STV_ERR_MSG_MAX];
};

/* Sets err (may be NULL) to code and a printf-style message; returns code. */
int stv_err_set(struct stv_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends printf-style context and ": " to err->msg; returns err->code. */
int stv_err_prefix(struct stv_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Allocation. Every module allocates through these so that tests can make
 * the Nth allocation fail (stv_alloc_fail_after) and check that each
 * caller returns STV_ENOMEM cleanly. Only main() decides to abort.
 */
void *stv_malloc(size_t size);
void *stv_calloc(size_t n, size_t size);
void *stv_realloc(void *ptr, size_t size);
void stv_free(void *ptr);
char *stv_strndup(const char *s, size_t n);
char *stv_strdup(const char *s);
/* Grows *ptr (an array of elem bytes, *cap entries) to hold need entries. */
int stv_grow(void **ptr, size_t *cap, size_t need, size_t elem);
/* Test hook: the (n+1)th allocation from now fails; n < 0 disables. */
void stv_alloc_fail_after(long n);

/*
 * String pool: interns strings so that equal strings share one pointer and
 * can be compared by address. Interned strings live until the pool closes.
 */
struct stv_strpool {
  const char **slots; /* open addressing, NULL = empty */
  size_t cap;
  size_t len;
  char *block; /* current storage block; blocks are chained */
  size_t block_used;
  size_t block_cap;
};

void stv_strpool_init(struct stv_strpool *pool);
void stv_strpool_close(struct stv_strpool *pool);
/* Returns the pooled copy of s[0..n) or NULL on allocation failure. */
const char *stv_strpool_intern(struct stv_strpool *pool, const char *s,
                               size_t n);
/* Same for a NUL-terminated string. */
const char *stv_strpool_get(struct stv_strpool *pool, const char *s);

/*
 * Arena: bump allocation in chained blocks, for per-solve memory. Reset
 * frees everything at once.
 */
struct stv_arena {
  struct stv__arena_block *head;
};

void stv_arena_init(struct stv_arena *a);
/* Returns zeroed memory aligned to 16 bytes, or NULL. */
void *stv_arena_alloc(struct stv_arena *a, size_t size);
void stv_arena_reset(struct stv_arena *a);

/*
 * A map from strings to 32-bit values (an index into the caller's array,
 * mostly), by open addressing. Keys are interned in a pool the caller owns.
 * Zero-initialise; free with stv_strmap_close.
 */
struct stv_strmap_ent {
  uint64_t h;
  const char *key; /* interned; NULL = empty slot */
  uint32_t len;
  uint32_t val;
};

struct stv_strmap {
  struct stv_strmap_ent *e;
  size_t cap, len;
};

void stv_strmap_close(struct stv_strmap *m);
/* Returns the entry for s[0..n) (need not be NUL-terminated), or NULL. */
struct stv_strmap_ent *stv_strmap_find(const struct stv_strmap *m, const char *s, size_t n);
/*
 * Finds s[0..n) or inserts it with value val. *ent receives the entry;
 * *added is 1 when it was inserted. Entries move when the map grows, so
 * *ent is valid until the next insertion. Returns 0 or STV_ENOMEM.
 */
int stv_strmap_upsert(struct stv_strmap *m, struct stv_strpool *pool, const char *s, size_t n, uint32_t val,
                      struct stv_strmap_ent **ent, int *added);

/* 64-bit FNV-1a hash, for pools and class keys. */
uint64_t stv_hash(const void *data, size_t n, uint64_t seed);

/*
 * Kubernetes resource quantities ("500m", "1.5Gi", "2e3").
 *
 * stv_quantity_parse converts s (NUL-terminated) exactly, as
 * k8s.io/apimachinery resource.Quantity does, and returns the value scaled
 * by 1000 and rounded up (MilliValue) when milli is non-zero, or rounded up
 * to an integer (Value) otherwise. Accepts an optional sign, digits with an
 * optional fraction ("5.", ".5"), and one suffix: n u m k M G T P E,
 * Ki Mi Gi Ti Pi Ei, or an exponent e/E followed by a signed integer.
 * Returns 0, STV_EINVAL for malformed text (empty, garbage, trailing
 * bytes) or STV_ERANGE when the result does not fit an int64_t; on error
 * err->msg says why ("invalid quantity \"12x\": unknown suffix \"x\"").
 */
int stv_quantity_parse(const char *s, int milli, int64_t *out,
                       struct stv_err *err);

/*
 * Formats v (in millis when milli is non-zero) as a short Kubernetes
 * quantity into buf ("1500m", "2", "512Mi"). binary selects Ki/Mi/Gi
 * suffixes for whole multiples. Returns buf.
 */
char *stv_quantity_format(int64_t v, int milli, int binary, char *buf,
                          size_t size);


/*
 * Growable text buffer for output built in memory before it is written
 * (so that a failure prints nothing). Caller-allocated: stv_buf_init, then
 * appends, then stv_buf_close. The first failure is sticky: it is kept in
 * err (STV_ENOMEM, or STV_ELIMIT when max would be exceeded), later appends
 * do nothing and return it, so a renderer may append freely and check once.
 * data is NUL-terminated whenever len > 0 (NULL while nothing was added).
 */
struct stv_buf {
  char *data;
  size_t len, cap;
  size_t max; /* largest len allowed; 0 = no limit */
  int err;    /* 0 or the first error */
};

void stv_buf_init(struct stv_buf *b);
/* Frees the text and leaves b empty, ready for reuse. */
void stv_buf_close(struct stv_buf *b);
/* Appends s[0..n) (borrowed). Returns 0 or b->err. */
int stv_buf_append(struct stv_buf *b, const char *s, size_t n);
/* Appends the NUL-terminated s (borrowed). Returns 0 or b->err. */
int stv_buf_puts(struct stv_buf *b, const char *s);
/* Appends printf-style text. Returns 0 or b->err. */
int stv_buf_printf(struct stv_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int stv_buf_vprintf(struct stv_buf *b, const char *fmt, va_list ap);
/*
 * Appends s (borrowed, UTF-8) as a quoted JSON string: quotes, backslash
 * and control characters escaped. Returns 0 or b->err.
 */
int stv_buf_json_str(struct stv_buf *b, const char *s);
/* Appends s with &, <, >, " and ' escaped for HTML text or attributes. */
int stv_buf_html_str(struct stv_buf *b, const char *s);

/*
 * Whether text[0..len) (borrowed), which failed to parse as JSON, looks
 * like YAML instead: after a byte-order mark, blank lines and # comments, it
 * starts with "---", "%YAML", a "- " list item or a "key:" mapping entry,
 * or with a # comment (which JSON has not). Text that starts with { or [ is
 * taken for broken JSON, not YAML. For the error "looks like YAML; this file
 * must be JSON".
 */
int stv_text_looks_like_yaml(const char *text, size_t len);

/*
 * Checked arithmetic for quantities (millicores, bytes, counts): sets *out
 * to a + b (or a x b) and returns 0, or returns STV_ERANGE and leaves *out
 * unchanged when the exact result does not fit an int64_t. Every sum of
 * quantities taken from outside input goes through these.
 */
static inline int stv_add_i64(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return STV_ERANGE;
  *out = r;
  return 0;
}

static inline int stv_mul_i64(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return STV_ERANGE;
  *out = r;
  return 0;
}

#endif
