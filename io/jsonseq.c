/*
 * The sequence mode of the streaming JSON scanner (see jsonstream.h): a
 * stream of JSON values one after the other, pushed as the bytes arrive,
 * each value handed over parsed as soon as its last byte is in.
 *
 * Between values a byte loop skips whitespace (counting newlines, for
 * positions) and looks at the first byte of the next value. Inside an
 * object or array the fast scanner (jsonscan.c) finds its end 64 bytes at a
 * time directly in the caller's chunk; inside a string the string scanner
 * does. Only the bytes of the current value are copied, into one buffer
 * capped at the value limit, so memory is bounded by the largest value and
 * not by the stream. A value is parsed by cJSON in the per-thread arena
 * (jsonalloc.c); when cJSON rejects it, the strict checker (jsoncheck.c)
 * says where and why.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A buffer that held a value larger than this is given back after it. */
#define SEQ_KEEP_MAX ((size_t)1 << 20)

enum seq_state {
  SEQ_BETWEEN,   /* whitespace, or the first byte of the next value */
  SEQ_COMPOSITE, /* inside an object or array */
  SEQ_STRING,    /* inside a string (after its opening quote) */
  SEQ_SCALAR     /* inside a number or literal: ends at the first other byte */
};

struct stv_json_seq {
  char name[256];
  char what[32];
  size_t max;
  int any;
  stv_json_value_cb cb;
  void *ctx;

  enum seq_state st;
  struct stv__json_scan scan;
  struct stv_buf val; /* the current value's bytes, from its first */
  uint64_t n;         /* values begun: the current one's number, from 1 */
  uint64_t delivered; /* values handed to the callback */

  /* Positions: offset of the next byte fed, newlines before the current value or byte. */
  uint64_t off;
  uint64_t lines;
  uint64_t line_start; /* stream offset where the current line starts */
  uint64_t val_off;    /* stream offset of the current value's first byte */
  uint64_t val_lines;  /* lines before it */
  uint64_t val_line_start;

  struct stv_err *err;
  struct stv_err first; /* the first error, returned again after it */
  int rc;
};

/* ---------------------------------------------------------------------- */
/* Messages                                                               */

/* Sets "<name>: <message>" in s->err and gives code. */
#define FAIL(s, code, ...) \
  (stv_err_set((s)->err, (code), __VA_ARGS__), stv_err_prefix((s)->err, "%s", (s)->name))

/* Line and column (from 1, columns in bytes) of byte at of the current value. */
static void locate(const struct stv_json_seq *s, size_t at, uint64_t *line, uint64_t *col) {
  uint64_t n;
  size_t last;
  uint64_t start = s->val_line_start;
  stv__json_count_newlines((const unsigned char *)s->val.data, at, &n, &last);
  if (last != SIZE_MAX) start = s->val_off + last + 1;
  *line = s->val_lines + n + 1;
  *col = s->val_off + at - start + 1;
}

/* A syntax error at byte at of the current value. */
static int fail_syntax(struct stv_json_seq *s, size_t at, const char *why) {
  uint64_t line, col;
  locate(s, at, &line, &col);
  return FAIL(s, STV_EPARSE, "%s %" PRIu64 ": malformed JSON at line %" PRIu64 ", column %" PRIu64 ": %s",
              s->what, s->n, line, col, why);
}

/* Explains why the current value's bytes are not valid JSON; parse_off is where cJSON stopped. */
static int explain(struct stv_json_seq *s, int partial, size_t parse_off) {
  size_t off;
  const char *why;
  if (stv__json_validate((const unsigned char *)s->val.data, s->val.len, partial, STV_JSON_DEPTH_MAX, &off,
                         &why) != STV__V_ERROR) {
    if (partial) return 0;
    off = parse_off;
    why = "rejected by the JSON parser";
  }
  return fail_syntax(s, off, why);
}

/* "<what> <n> (begun at line L, column C)" into buf. */
static const char *where(const struct stv_json_seq *s, char *buf, size_t size) {
  snprintf(buf, size, "%s %" PRIu64 " (begun at line %" PRIu64 ", column %" PRIu64 ")", s->what, s->n,
           s->val_lines + 1, s->val_off - s->val_line_start + 1);
  return buf;
}

/* The current value passes the limit: a syntax error in what was kept is told first. */
static int fail_too_large(struct stv_json_seq *s) {
  char w[160];
  char mib[32] = "";
  int rc = explain(s, 1, 0);
  if (rc != 0) return rc;
  if (s->max >= (1u << 20)) snprintf(mib, sizeof(mib), " (%.4g MiB)", (double)s->max / (1u << 20));
  return FAIL(s, STV_ELIMIT, "%s is larger than the limit of %zu bytes%s", where(s, w, sizeof(w)), s->max,
              mib);
}

/* ---------------------------------------------------------------------- */
/* Values                                                                 */

/* Calls the callback and puts "<name>: <what> <n>: " before its message. */
static int call(struct stv_json_seq *s, const cJSON *value) {
  struct stv_err *err = s->err;
  int rc;
  s->delivered++;
  if (s->cb == NULL) return 0;
  err->code = 0;
  err->msg[0] = '\0';
  rc = s->cb(s->ctx, s->n, value, err);
  if (rc == 0) return 0;
  if (rc > 0) return FAIL(s, STV_EINVAL, "%s %" PRIu64 ": callback returned %d", s->what, s->n, rc);
  err->code = rc;
  return stv_err_prefix(err, "%s: %s %" PRIu64, s->name, s->what, s->n);
}

/* The current value is complete in s->val: parse it, hand it over, forget its bytes. */
static int deliver(struct stv_json_seq *s) {
  char *text = s->val.data;
  size_t len = s->val.len;
  const char *end;
  int nomem, rc;
  cJSON *value;
  uint64_t nl;
  size_t last;

  stv__json_arena_begin();
  value = stv__json_parse(text, len, &end, &nomem);
  if (value == NULL || end != text + len) {
    if (value == NULL && nomem)
      rc = FAIL(s, STV_ENOMEM, "%s %" PRIu64 ": out of memory", s->what, s->n);
    else
      rc = explain(s, 0, end != NULL ? (size_t)(end - text) : 0);
  } else {
    rc = call(s, value);
  }
  cJSON_Delete(value);
  stv__json_arena_end();
  if (rc != 0) return rc;

  stv__json_count_newlines((const unsigned char *)text, len, &nl, &last);
  s->lines = s->val_lines + nl;
  s->line_start = last != SIZE_MAX ? s->val_off + last + 1 : s->val_line_start;
  s->st = SEQ_BETWEEN;
  if (s->val.cap > SEQ_KEEP_MAX)
    stv_buf_close(&s->val);
  else
    s->val.len = 0;
  return 0;
}

/* Appends p[0..n) to the current value, within the limit. */
static int keep(struct stv_json_seq *s, const char *p, size_t n) {
  if (n > s->max - s->val.len) {
    if (stv_buf_append(&s->val, p, s->max - s->val.len) != 0)
      return FAIL(s, STV_ENOMEM, "%s %" PRIu64 ": out of memory", s->what, s->n);
    return fail_too_large(s);
  }
  if (stv_buf_append(&s->val, p, n) != 0)
    return FAIL(s, STV_ENOMEM, "%s %" PRIu64 ": out of memory", s->what, s->n);
  return 0;
}

static int is_scalar_byte(unsigned char c) {
  return stv__json_is_alnum(c) || c == '.' || c == '+' || c == '-';
}

/* Starts a value at p[i] (not whitespace) of the chunk. */
static int begin_value(struct stv_json_seq *s, const unsigned char *p, size_t i) {
  unsigned char c = p[i];
  s->n++;
  s->val_off = s->off + i;
  s->val_lines = s->lines;
  s->val_line_start = s->line_start;
  s->val.len = 0;
  if (!stv__json_is_value_start(c)) return fail_syntax(s, 0, "expected a JSON value");
  if (c != '{' && !s->any) {
    char w[160];
    return FAIL(s, STV_EPARSE, "%s is not a JSON object", where(s, w, sizeof(w)));
  }
  if (c == '{' || c == '[') {
    stv__json_scan_reset(&s->scan);
    s->st = SEQ_COMPOSITE;
  } else if (c == '"') {
    stv__json_scan_reset(&s->scan);
    s->st = SEQ_STRING;
  } else {
    s->st = SEQ_SCALAR;
  }
  return 0;
}

/* Follows the current value from p[*i]; *i is left where it stopped. */
static int in_value(struct stv_json_seq *s, const unsigned char *p, size_t *i, size_t len) {
  size_t from = *i, pos = *i;
  int done, rc;
  if (s->st == SEQ_COMPOSITE) {
    done = stv__json_scan_composite(&s->scan, p, &pos, len);
    if (done < 0) {
      /* A bracket that does not match, or nesting too deep: the checker says which. */
      if ((rc = keep(s, (const char *)p + from, pos + 1 - from)) != 0) return rc;
      if ((rc = explain(s, 1, 0)) != 0) return rc;
      return fail_syntax(s, s->val.len - 1, "bracket does not match");
    }
  } else if (s->st == SEQ_STRING) {
    if (s->val.len == 0) pos++; /* the opening quote */
    done = stv__json_scan_string(&s->scan, p, &pos, len);
  } else {
    while (pos < len && is_scalar_byte(p[pos])) pos++;
    done = pos < len;
  }
  *i = pos;
  if ((rc = keep(s, (const char *)p + from, pos - from)) != 0) return rc;
  return done ? deliver(s) : 0;
}

/* Skips whitespace from p[*i], counting newlines. */
static void skip_ws(struct stv_json_seq *s, const unsigned char *p, size_t *i, size_t len) {
  size_t k = *i;
  while (k < len && stv__json_is_ws(p[k])) {
    if (p[k] == '\n') {
      s->lines++;
      s->line_start = s->off + k + 1;
    }
    k++;
  }
  *i = k;
}

/* ---------------------------------------------------------------------- */
/* The API                                                                */

int stv_json_seq_new(struct stv_json_seq **out, const struct stv_json_seq_opts *o, struct stv_err *err) {
  struct stv_err local;
  struct stv_json_seq *s;
  if (err == NULL) err = &local;
  *out = NULL;
  stv_json_init();
  if ((s = stv_calloc(1, sizeof(*s))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  snprintf(s->name, sizeof(s->name), "%s", o->name != NULL ? o->name : "<stream>");
  snprintf(s->what, sizeof(s->what), "%s", o->what != NULL ? o->what : "value");
  s->max = o->max_value > 0 ? o->max_value : STV_JSON_VALUE_MAX;
  s->any = o->any_values;
  s->cb = o->value;
  s->ctx = o->ctx;
  stv_buf_init(&s->val);
  *out = s;
  return 0;
}

/* Keeps the first error, so that later calls return it again. */
static int failed(struct stv_json_seq *s, int rc) {
  s->rc = rc;
  s->first = *s->err;
  return rc;
}

int stv_json_seq_feed(struct stv_json_seq *s, const void *buf, size_t len, struct stv_err *err) {
  struct stv_err local;
  const unsigned char *p = buf;
  size_t i = 0;
  int rc;
  if (err == NULL) err = &local;
  if (s->rc != 0) {
    *err = s->first;
    return s->rc;
  }
  if (buf == NULL && len > 0) return stv_err_set(err, STV_EINVAL, "no buffer");
  s->err = err;
  while (i < len) {
    if (s->st == SEQ_BETWEEN) {
      skip_ws(s, p, &i, len);
      if (i == len) break;
      rc = begin_value(s, p, i);
    } else {
      rc = in_value(s, p, &i, len);
    }
    if (rc != 0) return failed(s, rc);
  }
  s->off += len;
  return 0;
}

int stv_json_seq_finish(struct stv_json_seq *s, struct stv_err *err) {
  struct stv_err local;
  char w[160];
  int rc = 0;
  if (err == NULL) err = &local;
  if (s->rc != 0) {
    *err = s->first;
    return s->rc;
  }
  s->err = err;
  if (s->st == SEQ_SCALAR)
    rc = deliver(s); /* a number or literal ends with the input */
  else if (s->st != SEQ_BETWEEN)
    rc = FAIL(s, STV_EPARSE, "truncated inside %s", where(s, w, sizeof(w)));
  return rc != 0 ? failed(s, rc) : 0;
}

uint64_t stv_json_seq_count(const struct stv_json_seq *s) {
  return s->delivered;
}

int stv_json_seq_inside(const struct stv_json_seq *s) {
  return s->st != SEQ_BETWEEN;
}

void stv_json_seq_free(struct stv_json_seq *s) {
  if (s == NULL) return;
  stv_buf_close(&s->val);
  stv_free(s);
  stv__json_arena_release();
}
