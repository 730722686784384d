/*
 * Internal interfaces between the files of io/ (not for other folders).
 *
 * The streaming JSON scanner is five files:
 *   jsonstream.c  the reader: input, the state machine over the top-level
 *                 object, items handed to cJSON and the callback, the API
 *   jsonscan.c    the fast scanner: where an object, array or string ends,
 *                 64 bytes at a time, and newline counting for positions
 *   jsoncheck.c   the strict checker that says where and why JSON is bad
 *   jsonalloc.c   cJSON's allocation hooks and the per-thread item arena
 *   jsonseq.c     the sequence mode: a stream of values (watch events)
 */
#ifndef STV_IO_INTERNAL_H
#define STV_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "jsonstream.h"

/* ---------------------------------------------------------------------- */
/* Bytes of JSON                                                          */

static inline int stv__json_is_ws(unsigned char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline int stv__json_is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

static inline int stv__json_is_alnum(unsigned char c) {
  return stv__json_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int stv__json_is_value_start(unsigned char c) {
  return c == '{' || c == '[' || c == '"' || c == '-' || stv__json_is_digit(c) || c == 't' || c == 'f' ||
         c == 'n';
}

/* ---------------------------------------------------------------------- */
/* jsoncheck.c: the strict checker                                        */

enum { STV__V_OK, STV__V_INCOMPLETE, STV__V_ERROR };

/*
 * Reads the four hex digits of a \u escape at p[i..i+4). Returns the code
 * unit, -1 when a digit is wrong, or -2 when the input ends first.
 */
long stv__json_hex4(const unsigned char *p, size_t i, size_t n);

/*
 * Checks that p[0..n) (borrowed) is one JSON value (RFC 8259), with
 * optional whitespace around it, nested at most max_depth deep. When
 * partial is set the input may go on after n, and running out is
 * STV__V_INCOMPLETE; otherwise it is an error at n. On STV__V_ERROR, *at is
 * the offset of the offending byte and *why (static text) says what is
 * wrong. Allocates nothing; thread-safe.
 */
int stv__json_validate(const unsigned char *p, size_t n, int partial, unsigned max_depth, size_t *at,
                       const char **why);

/* ---------------------------------------------------------------------- */
/* jsonscan.c: the fast scanner                                           */

/* Where a scan stopped when the buffer ran out, kept across refills. */
struct stv__json_scan {
  int in_str;                                     /* inside a string */
  int esc;                                        /* the next byte is escaped */
  unsigned depth;                                 /* open objects and arrays */
  uint64_t stack[(STV_JSON_DEPTH_MAX + 63) / 64]; /* bit set: an array */
};

/* Starts a scan at a value's first byte. */
static inline void stv__json_scan_reset(struct stv__json_scan *s) {
  s->in_str = 0;
  s->esc = 0;
  s->depth = 0;
}

/* Counts the newlines in p[0..n) into *count; *last is the last one's index (SIZE_MAX: none). */
void stv__json_count_newlines(const unsigned char *p, size_t n, uint64_t *count, size_t *last);

/*
 * Follows the object or array whose scan is s, from buf[*pos] on, up to
 * buf[len]. Returns 1 when it ended (*pos just past it), 0 when the buffer
 * ran out (s saved, *pos == len), or -1 when a bracket does not match or
 * nesting passes STV_JSON_DEPTH_MAX (*pos at that bracket). Syntax is not
 * checked otherwise: cJSON or the strict checker does that.
 */
int stv__json_scan_composite(struct stv__json_scan *s, const unsigned char *buf, size_t *pos, size_t len);

/*
 * Follows a string from buf[*pos] (after its opening quote). Returns 1
 * when its closing quote has been read (*pos just past it), 0 when the
 * buffer ran out (*pos == len, s->esc saved).
 */
int stv__json_scan_string(struct stv__json_scan *s, const unsigned char *buf, size_t *pos, size_t len);

/* ---------------------------------------------------------------------- */
/* jsonalloc.c: cJSON's allocations                                       */

/*
 * Parses s[0..n) with cJSON (s[n] must be writable memory of the caller's;
 * it is used as a guard and restored). Returns the tree, which the caller
 * deletes, or NULL with *end where cJSON stopped (NULL when unknown) and
 * *nomem set when an allocation failed rather than the JSON.
 */
cJSON *stv__json_parse(char *s, size_t n, const char **end, int *nomem);

/*
 * Between stv__json_arena_begin and stv__json_arena_end, cJSON allocates
 * from this thread's item arena; the end releases all of it at once.
 * stv__json_arena_release frees the arena's block (end of a stream).
 */
void stv__json_arena_begin(void);
void stv__json_arena_end(void);
void stv__json_arena_release(void);

#endif
