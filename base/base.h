/*
 * Stevedore's base layer, shared by every folder and using none of them
 * (docs/architecture.md): error codes, the caller-owned error buffer,
 * allocation wrappers, a bump arena, the string pool and map with their
 * per-process hash key, the capped text buffer, the file reader, the
 * parsers for numbers, durations, RFC 3339 times and quantities, and UTF-8
 * repair. packer/packer.h includes it.
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
#define STV_ERRNO_MAP(XX) STV__ERRNO_MAP_SYS(XX) STV__ERRNO_MAP_OWN(XX)

/* The twins of system errors, as -errno. */
#define STV__ERRNO_MAP_SYS(XX)                                               \
  XX(EIO, -5, "input/output error")                                          \
  XX(ENOMEM, -12, "out of memory")                                           \
  XX(EINVAL, -22, "invalid argument")                                        \
  XX(ERANGE, -34, "value out of range")                                      \
  XX(ETIMEDOUT, -110, "timed out")

/* Stevedore's own, from -5001 on. */
#define STV__ERRNO_MAP_OWN(XX)                                               \
  XX(ENOTFOUND, -5001, "not found")                                          \
  XX(ECONFLICT, -5002, "conflict")                                           \
  XX(ETHROTTLED, -5003, "throttled")                                         \
  XX(ECAPACITY, -5004, "insufficient capacity")                              \
  XX(EPARSE, -5005, "malformed input")                                       \
  XX(EUNSUPPORTED, -5006, "not supported")                                   \
  XX(ELIMIT, -5007, "limit exceeded")                                        \
  XX(ESOLVER, -5008, "internal solver error in GLPK")

enum stv_errno {
#define STV__ERR_ENUM(name, value, text) STV_##name = (value),
  STV_ERRNO_MAP(STV__ERR_ENUM)
#undef STV__ERR_ENUM
};

/*
 * Returns a static description of code (an STV_ code or -errno). Thread-safe:
 * the texts are literals, never strerror()'s shared buffer.
 */
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
/*
 * Test hook: the (n+1)th allocation from now on the calling thread fails;
 * n < 0 disables. The countdown is per thread: other threads are untouched.
 */
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
/* Returns the pooled copy of s[0..n) if there is one, else NULL; adds nothing. */
const char *stv_strpool_find(const struct stv_strpool *pool, const char *s, size_t n);
/* Sizes the table for n strings at once, so that interning that many does not rehash. Returns 0 or STV_ENOMEM. */
int stv_strpool_reserve(struct stv_strpool *pool, size_t n);

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
/* Sizes the table for n entries at once, so that adding that many does not grow it. Returns 0 or STV_ENOMEM. */
int stv_strmap_reserve(struct stv_strmap *m, size_t n);

/*
 * 64-bit FNV-1a hash, for keys Stevedore makes itself (pointers, indices,
 * optimizer columns). Never for names that come from outside: those go
 * through stv_hash_name.
 */
uint64_t stv_hash(const void *data, size_t n, uint64_t seed);

/*
 * SipHash-1-3 of data[0..n) under a key drawn once per process from
 * getrandom(), for every table keyed by names from outside (pods, labels,
 * namespaces; the string pool and map use it), so that a crafted cluster
 * cannot make their entries collide. Thread-safe.
 */
uint64_t stv_hash_name(const void *data, size_t n);
/*
 * Sets the key of stv_hash_name, for tests and benchmarks that want the
 * same table layout on every run. Call before any pool or map holds a name
 * (they keep hashes made under the old key), and before threads start.
 */
void stv_hash_set_seed(const unsigned char key[16]);
/* SipHash-2-4 and SipHash-1-3 of data[0..n) under key (borrowed, 16 bytes). */
uint64_t stv_siphash24(const void *data, size_t n, const unsigned char key[16]);
uint64_t stv_siphash13(const void *data, size_t n, const unsigned char key[16]);

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
  size_t replaced; /* bytes of invalid UTF-8 written as U+FFFD (stv_buf_utf8 and the escapers) */
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
 * Appends s (borrowed) as a quoted JSON string: quotes, backslash and
 * control characters escaped, invalid UTF-8 replaced by U+FFFD (counted in
 * b->replaced). Returns 0 or b->err.
 */
int stv_buf_json_str(struct stv_buf *b, const char *s);
/*
 * Appends s with &, <, >, " and ' escaped for HTML text or attributes, and
 * invalid UTF-8 replaced by U+FFFD (counted in b->replaced).
 */
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
 * UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
 * The rule everywhere: text from outside is kept as its bytes; whatever
 * Stevedore writes as JSON or HTML goes through stv_buf_utf8, the buffer's
 * escapers or stv_utf8_sanitize, which write each byte that does not begin
 * a well-formed sequence as U+FFFD and count it, so that the command can
 * note it ("3 bytes of invalid UTF-8 in names were written as U+FFFD").
 *
 * stv_utf8_seq_len: the length (1-4) of the well-formed sequence at
 * p[0..n), or 0 when none starts there. stv_utf8_check: the length of the
 * longest valid prefix of s[0..n). stv_utf8_valid: whether all of it is.
 */
size_t stv_utf8_seq_len(const unsigned char *p, size_t n);
size_t stv_utf8_check(const char *s, size_t n);
int stv_utf8_valid(const char *s, size_t n);
/* Appends s[0..n) (borrowed) with invalid bytes as U+FFFD. Returns 0 or b->err. */
int stv_buf_utf8(struct stv_buf *b, const char *s, size_t n);
/*
 * Returns a fresh copy (stv_free) of the NUL-terminated s (borrowed) with
 * invalid bytes as U+FFFD, adding their number to *replaced (may be NULL);
 * NULL when out of memory.
 */
char *stv_utf8_sanitize(const char *s, size_t *replaced);

/*
 * Reads the whole file at path (borrowed) into a fresh NUL-terminated
 * buffer: *out (caller frees with stv_free; never NULL on success, "" for an
 * empty file) and *len (without the NUL). max is the largest size accepted
 * (0 = no limit of the caller's). Returns 0; -errno when the file cannot be
 * opened or read ("x.json: cannot read: No such file or directory"),
 * STV_ELIMIT when it holds more than max bytes ("x.json: larger than
 * 16 MiB, the most this file may hold"), STV_ENOMEM. On error *out is NULL,
 * *len 0 and err says which file and why.
 */
int stv_read_file(const char *path, size_t max, char **out, size_t *len, struct stv_err *err);

/*
 * Numbers. stv_parse_number_prefix reads a plain decimal number at the start
 * of s (borrowed): an optional sign, digits with an optional fraction ("5.",
 * ".5"), an optional exponent; no hex, inf, nan or spaces, which strtod
 * would take. *end receives the first byte after it. Returns 0, STV_EINVAL
 * when s does not start with a number, STV_ERANGE when it overflows.
 * stv_parse_number reads the whole of s as one: STV_EINVAL with
 * "\"x\" is not a number", or STV_ERANGE.
 */
int stv_parse_number_prefix(const char *s, double *out, const char **end);
int stv_parse_number(const char *s, double *out, struct stv_err *err);

/*
 * Durations, into seconds: a bare number is seconds ("30", "0.5", "1e3");
 * otherwise one or more terms, each a decimal number and a unit, ms, s, m,
 * h, d (86400 s), w (7 d) or y (365 d), units from largest to smallest
 * ("1h30m", "1.5h", "500ms", "7d"), with an optional sign in front. The
 * caller checks the range it accepts. Returns 0, STV_EINVAL ("invalid
 * duration \"7x\": unknown unit \"x\" (use ms, s, m, h, d, w, y)") or
 * STV_ERANGE (beyond 1e15 seconds).
 */
int stv_parse_duration(const char *s, double *seconds, struct stv_err *err);

/*
 * RFC 3339 date-times, strictly: YYYY-MM-DDThh:mm:ss, an optional fraction
 * of any length (nanoseconds kept), then Z or an offset +hh:mm/-hh:mm; T
 * and Z may be lower case. The date must exist (2024-02-29 does,
 * 2023-02-29 and 2024-02-31 do not); leap seconds (ss = 60) are refused.
 * *unix_secs receives seconds since 1970-01-01T00:00:00Z, *nanos (may be
 * NULL) the fraction. Returns 0 or STV_EINVAL with err saying what is
 * wrong ("invalid time \"2023-02-29T00:00:00Z\": no such day in that
 * month (RFC 3339, like 2024-05-01T00:00:00Z)").
 */
int stv_parse_time(const char *s, int64_t *unix_secs, int32_t *nanos, struct stv_err *err);

/*
 * Writes secs (seconds since the epoch) as RFC 3339 in UTC with `digits`
 * fractional digits (0: "2024-05-01T00:00:00Z", 6: the API's MicroTime
 * "2024-05-01T00:00:00.000000Z"; 0 to 9) into buf (at least 32 bytes).
 * Returns buf, or "" in buf for a time gmtime cannot break down.
 */
char *stv_format_time(double secs, int digits, char *buf, size_t size);

/* Seconds since the epoch now (CLOCK_REALTIME), for times written out. */
double stv_wall_time(void);

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
