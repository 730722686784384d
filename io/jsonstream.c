/*
 * Streaming reader for Kubernetes List documents (see jsonstream.h).
 *
 * Input is read in chunks into one buffer that holds only the bytes still
 * needed: the current item, the current member when "items" has been
 * seen, or, until then, the whole top-level object (it may turn out to
 * be a single object). Whatever lies before is dropped when the buffer is
 * refilled, after counting its newlines, so that positions can still be
 * reported as line and column of the whole input.
 *
 * Between values, a small state machine follows the top-level object
 * byte by byte. Inside an object or array, the fast scanner (jsonscan.c)
 * finds where the value ends, 64 bytes at a time.
 *
 * An item found this way is parsed by cJSON. When cJSON rejects it,
 * the strict checker (jsoncheck.c) says where and why; it also checks
 * the members that are skipped. cJSON allocates from a per-thread arena
 * while an item is parsed (jsonalloc.c).
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_DEFAULT ((size_t)1 << 20)
#define NOKEEP UINT64_MAX
#define KEY_MAX 63
#define NEED_MORE 1

/* ---------------------------------------------------------------------- */
/* Reader state                                                           */

enum state {
  ST_BOM,              /* start of input: an optional byte order mark */
  ST_TOP,              /* expecting the top-level '{' */
  ST_OBJ_FIRST,        /* after '{': a member name or '}' */
  ST_OBJ_NEXT,         /* after ',': a member name */
  ST_KEY,              /* inside a member name */
  ST_COLON,            /* after a member name */
  ST_VALUE,            /* expecting a member value */
  ST_MEMBER_COMPOSITE, /* inside an object or array member value */
  ST_MEMBER_STRING,    /* inside a string member value */
  ST_MEMBER_SCALAR,    /* inside a number or literal member value */
  ST_OBJ_AFTER,        /* after a member: ',' or '}' */
  ST_ITEMS_FIRST,      /* after "items": [ : an item or ']' */
  ST_ITEMS_NEXT,       /* after ',' in "items": an item */
  ST_ITEM,             /* inside an item */
  ST_ITEMS_AFTER,      /* after an item: ',' or ']' */
  ST_DONE,             /* after the top-level '}': whitespace only */
  ST_LOG,              /* multi: at the start of a line of a container log block */
  ST_LOG_REST,         /* multi: inside a line of a log block, skipped */
  ST_ITEM_STRING,      /* push, any_items: inside a string item */
  ST_ITEM_SCALAR       /* push, any_items: inside a number or literal item */
};

/* The lines kubectl cluster-info dump writes around a container's log. */
#define LOG_START "==== START logs for container "
#define LOG_END "==== END logs for container "

struct reader {
  const char *name;
  stv_json_item_cb cb;
  void *ctx;
  struct stv_err *err;
  int parse; /* 0: find items but do not parse them (benchmarks) */

  /* Input: a file descriptor, or mem[0..mem_len) when fd < 0. */
  int fd;
  const char *mem;
  size_t mem_len;
  size_t mem_off;
  size_t chunk;
  int eof;

  /* buf[0..len) holds input from offset base on; pos is the next byte. */
  unsigned char *buf;
  size_t cap; /* always > len: one spare byte for a NUL after an item */
  size_t len;
  size_t pos;
  uint64_t base;
  uint64_t lines;      /* newlines before buf[0] */
  uint64_t line_start; /* input offset where the line holding buf[0] starts */
  uint64_t keep;       /* input offset of the first byte still needed */

  enum state st;
  int pending;        /* no "items" yet: the top-level object is kept whole */
  int seen_items;     /* "items" was read */
  uint64_t top_start; /* input offset of the top-level '{' */
  uint64_t tok_start; /* input offset of the current name, value or item */
  long index;         /* index of the current or next item */
  char key[KEY_MAX + 1]; /* the last member name, decoded, cut at KEY_MAX */
  size_t key_len;
  int key_cut;
  cJSON *single; /* a single-object document, parsed, until end of input */
  char list_kind[KEY_MAX + 1]; /* the top-level "kind", when read before items */
  int multi;          /* several documents, with log blocks between them */
  long ndoc;          /* documents begun */
  int log_end;        /* the log line being skipped is the block's last */
  uint64_t log_line;  /* line where the current log block starts */
  size_t *log_blocks; /* counts the log blocks skipped, or NULL */
  const char *base_name;
  char doc_name[4160]; /* "<name> document <n>" in multi mode */

  struct stv__json_scan scan; /* the fast scanner's state, kept across refills */

  /*
   * Where the items are: path[0..path_n) names the member at each level
   * ("items"; or "data" then "result"), level is the object being read.
   */
  const char *path[2];
  size_t path_len[2];
  int path_n;
  int level;
  const char *items_name; /* the path in messages: "items", "data.result" */
  int any_items;          /* items may be any value, not only objects */
  int push;               /* bytes are pushed: no end of input until finish */
  stv_json_member_cb member_cb;
  stv_json_raw_cb raw_cb;
};

static size_t chunk_override;

void stv_json_stream_set_chunk(size_t size) { chunk_override = size; }

static size_t boff(const struct reader *r, uint64_t off) {
  return (size_t)(off - r->base);
}

/* ---------------------------------------------------------------------- */
/* Positions and messages                                                 */

/* Line and column (from 1, columns in bytes) of buf[at]. */
static void locate(const struct reader *r, size_t at, uint64_t *line,
                   uint64_t *col) {
  uint64_t n;
  size_t last;
  uint64_t start = r->line_start;
  stv__json_count_newlines(r->buf, at, &n, &last);
  if (last != SIZE_MAX) start = r->base + last + 1;
  *line = r->lines + n + 1;
  *col = r->base + at - start + 1;
}

/* Sets "<name>: <message>" and returns code. */
static int fail(struct reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct reader *r, int code, const char *fmt, ...) {
  char msg[STV_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return stv_err_set(r->err, code, "%s: %s", r->name, msg);
}

/* Item context for messages: "items[3]: ", or "" when index < 0. */
static const char *item_ctx(const struct reader *r, long index, char *buf, size_t size) {
  if (index < 0) return "";
  snprintf(buf, size, "%s[%ld]: ", r->items_name, index);
  return buf;
}

/* A syntax error at buf[at], inside items[index] when index >= 0. */
static int fail_syntax(struct reader *r, long index, size_t at,
                       const char *why) {
  char ctx[48];
  uint64_t line, col;
  locate(r, at, &line, &col);
  return fail(r, STV_EPARSE,
              "%smalformed JSON at line %" PRIu64 ", column %" PRIu64 ": %s",
              item_ctx(r, index, ctx, sizeof(ctx)), line, col, why);
}

static int fail_nomem(struct reader *r, long index) {
  char ctx[48];
  return fail(r, STV_ENOMEM, "%sout of memory",
              item_ctx(r, index, ctx, sizeof(ctx)));
}
/* ---------------------------------------------------------------------- */
/* Input                                                                  */

/* Drops the bytes no longer needed and reads the next chunk. */
static int refill(struct reader *r) {
  size_t drop = r->pos;
  ssize_t got;

  if (r->keep != NOKEEP && boff(r, r->keep) < drop) drop = boff(r, r->keep);
  if (drop > 0) {
    uint64_t n;
    size_t last;
    stv__json_count_newlines(r->buf, drop, &n, &last);
    r->lines += n;
    if (last != SIZE_MAX) r->line_start = r->base + last + 1;
    memmove(r->buf, r->buf + drop, r->len - drop);
    r->len -= drop;
    r->pos -= drop;
    r->base += drop;
  }
  if (r->cap - r->len < r->chunk + 1) {
    size_t need = r->len + r->chunk + 1;
    size_t ncap = r->cap * 2 > need ? r->cap * 2 : need;
    size_t most = STV_JSON_ITEM_MAX + r->chunk + 1;
    unsigned char *nbuf;
    if (ncap > most && need <= most) ncap = most;
    nbuf = stv_realloc(r->buf, ncap);
    if (nbuf == NULL) {
      return fail_nomem(r, r->st == ST_ITEM ? r->index : -1);
    }
    r->buf = nbuf;
    r->cap = ncap;
  }
  if (r->fd >= 0 && r->mem_off >= r->mem_len) {
    do {
      got = read(r->fd, r->buf + r->len, r->chunk);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      int e = errno;
      return fail(r, -e, "read error: %s", stv_strerror(-e));
    }
  } else {
    size_t left = r->mem_len - r->mem_off;
    got = (ssize_t)(left < r->chunk ? left : r->chunk);
    if (got > 0) memcpy(r->buf + r->len, r->mem + r->mem_off, (size_t)got);
    r->mem_off += (size_t)got;
  }
  if (got == 0 && !r->push) r->eof = 1;
  r->len += (size_t)got;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Items                                                                  */

/*
 * Explains why buf[at..at+n) is not valid JSON, for an item or a single
 * object (index -1); parse_off is where cJSON stopped.
 */
static int explain(struct reader *r, long index, size_t at, size_t n,
                   size_t parse_off) {
  size_t off;
  const char *why;
  if (stv__json_validate(r->buf + at, n, 0, STV_JSON_DEPTH_MAX, &off, &why) != STV__V_ERROR) {
    off = parse_off;
    why = "rejected by the JSON parser";
  }
  return fail_syntax(r, index, at + off, why);
}

/* Parses buf[at..at+n) into *out (the caller deletes it). */
static int parse_json(struct reader *r, long index, size_t at, size_t n,
                      cJSON **out) {
  char *s = (char *)r->buf + at;
  const char *end;
  int nomem;
  cJSON *item = stv__json_parse(s, n, &end, &nomem);
  if (item == NULL) {
    if (nomem) return fail_nomem(r, index);
    return explain(r, index, at, n, end != NULL ? (size_t)(end - s) : 0);
  }
  if (end != s + n) {
    cJSON_Delete(item);
    return explain(r, index, at, n, end != NULL ? (size_t)(end - s) : 0);
  }
  *out = item;
  return 0;
}

/* Calls the callback and puts the reader's context before its message. */
static int call(struct reader *r, long index, const cJSON *item) {
  struct stv_err *err = r->err;
  char tail[STV_ERR_MSG_MAX];
  char ctx[48];
  int rc;

  if (r->cb == NULL) return 0;
  err->code = 0;
  err->msg[0] = '\0';
  rc = r->cb(r->ctx, index, item, err);
  if (rc == 0) return 0;
  if (rc > 0) {
    return fail(r, STV_EINVAL, "%scallback returned %d",
                item_ctx(r, index, ctx, sizeof(ctx)), rc);
  }
  memcpy(tail, err->msg, sizeof(tail));
  err->code = rc;
  {
    /* Composed in a larger buffer, then cut to fit err->msg. */
    char whole[3 * STV_ERR_MSG_MAX];
    size_t n;
    if (tail[0] == '\0') {
      snprintf(whole, sizeof(whole), "%s: %s%s", r->name,
               item_ctx(r, index, ctx, sizeof(ctx)), stv_strerror(rc));
    } else if (index >= 0) {
      snprintf(whole, sizeof(whole), "%s: %s[%ld] %s", r->name, r->items_name,
               index, tail);
    } else {
      snprintf(whole, sizeof(whole), "%s: %s", r->name, tail);
    }
    n = strlen(whole);
    if (n >= sizeof(err->msg)) n = sizeof(err->msg) - 1;
    memcpy(err->msg, whole, n);
    err->msg[n] = '\0';
  }
  return rc;
}

/* ---------------------------------------------------------------------- */
/* The top-level object                                                   */

/* Maximum nesting for stv__json_validate() over bytes that start at keep. */
static unsigned kept_depth(const struct reader *r) {
  return r->pending ? STV_JSON_DEPTH_MAX + 1 : STV_JSON_DEPTH_MAX;
}

/* Reports a syntax error in the kept bytes up to buf[end], if any. */
static int kept_syntax_error(struct reader *r, long index, size_t end) {
  size_t at = boff(r, r->keep), off;
  const char *why;
  if (stv__json_validate(r->buf + at, end - at, 1, kept_depth(r), &off, &why) == STV__V_ERROR)
    return fail_syntax(r, index, at + off, why);
  return 0;
}

/*
 * The kept bytes up to buf[end] pass STV_JSON_ITEM_MAX. A syntax error
 * before that point is reported instead: it may be what made a value
 * look so long.
 */
static int fail_too_large(struct reader *r, size_t end) {
  long index = r->st == ST_ITEM ? r->index : -1;
  unsigned long mib = (unsigned long)(STV_JSON_ITEM_MAX >> 20);
  int rc = kept_syntax_error(r, index, end);
  if (rc) return rc;
  if (r->st == ST_ITEM)
    return fail(r, STV_ELIMIT, "%s[%ld]: item larger than %lu MiB",
                r->items_name, r->index, mib);
  if (r->pending)
    return fail(r, STV_ELIMIT, "single object larger than %lu MiB", mib);
  if (r->st == ST_KEY)
    return fail(r, STV_ELIMIT, "member name larger than %lu MiB", mib);
  return fail(r, STV_ELIMIT, "member \"%s\" larger than %lu MiB", r->key, mib);
}

static int fail_truncated(struct reader *r) {
  if (r->index > 0)
    return fail(r, STV_EPARSE, "truncated after %s[%ld]", r->items_name,
                r->index - 1);
  return fail(r, STV_EPARSE, "truncated before %s[0]", r->items_name);
}

/* Parses the item that just ended and hands it to the callback. */
static int deliver_item(struct reader *r) {
  size_t at = boff(r, r->tok_start);
  cJSON *item = NULL;
  int rc;
  if (r->pos - at > STV_JSON_ITEM_MAX) return fail_too_large(r, r->pos);
  if (!r->parse) return 0;
  if (r->raw_cb != NULL) {
    rc = r->raw_cb(r->ctx, r->index, (const char *)r->buf + at, r->pos - at, r->err);
    if (rc != 0) return rc > 0 ? 0 : rc;
  }
  stv__json_arena_begin();
  rc = parse_json(r, r->index, at, r->pos - at, &item);
  if (rc == 0) {
    if (stv_json_fill_item_kind(item, r->list_kind) != 0)
      rc = fail_nomem(r, r->index);
    else
      rc = call(r, r->index, item);
    cJSON_Delete(item);
  }
  stv__json_arena_end();
  return rc;
}

/*
 * Decodes the member name in buf[at..at+n) (quotes included, checked
 * already) into key, enough to compare it with "items" and to show it in
 * a message: control characters and non-ASCII escapes become '?'.
 */
static void decode_key(struct reader *r, size_t at, size_t n) {
  const unsigned char *s = r->buf + at + 1;
  size_t i = 0, o = 0, len = n - 2;
  while (i < len && o < KEY_MAX) {
    unsigned char c = s[i++];
    if (c == '\\' && i < len) {
      unsigned char e = s[i++];
      switch (e) {
        case 'b':
          c = '\b';
          break;
        case 'f':
          c = '\f';
          break;
        case 'n':
          c = '\n';
          break;
        case 'r':
          c = '\r';
          break;
        case 't':
          c = '\t';
          break;
        case 'u': {
          long u = stv__json_hex4(s, i, len);
          c = u >= 0 && u < 0x80 ? (unsigned char)u : '?';
          i += 4;
          break;
        }
        default:
          c = e;
          break;
      }
    }
    r->key[o++] = (char)(c < 0x20 ? '?' : c);
  }
  r->key_len = o;
  r->key[o] = '\0';
  r->key_cut = i < len;
}

/* The member name just read is the path's at the current level. */
static int key_on_path(const struct reader *r) {
  size_t n = r->path_len[r->level];
  return !r->key_cut && r->key_len == n && memcmp(r->key, r->path[r->level], n) == 0;
}

static int key_is_items(const struct reader *r) {
  return r->level == r->path_n - 1 && key_on_path(r);
}

/* The member name just read opens an object on the path to the items. */
static int key_opens_path(const struct reader *r) {
  return r->level < r->path_n - 1 && key_on_path(r);
}

/* A member name has been read: check and decode it. */
static int end_key(struct reader *r) {
  size_t at = boff(r, r->tok_start), n = r->pos - at, off;
  const char *why;
  if (stv__json_validate(r->buf + at, n, 0, 1, &off, &why) == STV__V_ERROR)
    return fail_syntax(r, -1, at + off, why);
  decode_key(r, at, n);
  if (!r->pending) r->keep = NOKEEP;
  r->st = ST_COLON;
  return 0;
}

/*
 * Keeps the value of a top-level "kind" member that is a plain string
 * (buf[at..pos) with its quotes), for the items of a typed list.
 */
static void keep_list_kind(struct reader *r, size_t at) {
  size_t n = r->pos - at;
  if (r->key_cut || r->key_len != 4 || memcmp(r->key, "kind", 4) != 0) return;
  if (n < 2 || r->buf[at] != '"' || n - 2 > KEY_MAX) return;
  if (memchr(r->buf + at + 1, '\\', n - 2) != NULL) return;
  memcpy(r->list_kind, r->buf + at + 1, n - 2);
  r->list_kind[n - 2] = '\0';
}

/*
 * Push mode with a member callback: the member value in buf[at..at+n)
 * (checked already) is parsed and handed over, named with its path
 * ("status", "data.resultType").
 */
static int deliver_member(struct reader *r, size_t at, size_t n) {
  char name[2 * (KEY_MAX + 1)];
  cJSON *value = NULL;
  int rc;
  if (r->level > 0)
    snprintf(name, sizeof(name), "%s.%s", r->path[0], r->key);
  else
    snprintf(name, sizeof(name), "%s", r->key);
  stv__json_arena_begin();
  rc = parse_json(r, -1, at, n, &value);
  if (rc == 0) {
    rc = r->member_cb(r->ctx, name, value, r->err);
    if (rc > 0) rc = fail(r, STV_EINVAL, "member callback returned %d", rc);
    cJSON_Delete(value);
  }
  stv__json_arena_end();
  return rc;
}

/* A member value other than "items" has been read. */
static int end_member(struct reader *r) {
  if (r->keep != NOKEEP && r->pos - boff(r, r->keep) > STV_JSON_ITEM_MAX)
    return fail_too_large(r, r->pos);
  if (!r->pending) {
    size_t at = boff(r, r->tok_start), off;
    const char *why;
    if (stv__json_validate(r->buf + at, r->pos - at, 0, STV_JSON_DEPTH_MAX, &off, &why) ==
        STV__V_ERROR)
      return fail_syntax(r, -1, at + off, why);
    if (r->member_cb != NULL) {
      int rc = deliver_member(r, at, r->pos - at);
      if (rc) return rc;
    }
    r->keep = NOKEEP;
  }
  keep_list_kind(r, boff(r, r->tok_start));
  r->st = ST_OBJ_AFTER;
  return 0;
}

/* The top-level '}' has been read. */
static int end_top(struct reader *r) {
  if (r->pending) {
    size_t at = boff(r, r->top_start);
    if (r->pos - at > STV_JSON_ITEM_MAX) return fail_too_large(r, r->pos);
    if (r->parse) {
      int rc = parse_json(r, -1, at, r->pos - at, &r->single);
      if (rc) return rc;
    }
  }
  r->pending = 0;
  r->keep = NOKEEP;
  r->st = ST_DONE;
  return 0;
}

/* A '}' has been read: the end of an object on the path, or of the top. */
static int end_object(struct reader *r) {
  if (r->level == 0) return end_top(r);
  r->level--;
  r->st = ST_OBJ_AFTER;
  return 0;
}

/* "items": [ has been read, and the name before it checked. */
static int begin_items(struct reader *r) {
  if (r->pending) {
    size_t at = boff(r, r->top_start), off;
    const char *why;
    /* The members before "items" were only skipped so far. */
    if (stv__json_validate(r->buf + at, boff(r, r->tok_start) - at, 1,
                 STV_JSON_DEPTH_MAX + 1, &off, &why) == STV__V_ERROR)
      return fail_syntax(r, -1, at + off, why);
    r->pending = 0;
  }
  r->keep = NOKEEP;
  r->seen_items = 1;
  r->st = ST_ITEMS_FIRST;
  return 0;
}

/* Hands a document that was a single object, if any, to the callback. */
static int deliver_single(struct reader *r) {
  cJSON *single = r->single;
  int rc;
  if (single == NULL) return 0;
  r->single = NULL;
  rc = call(r, -1, single);
  cJSON_Delete(single);
  return rc;
}

/* An item other than an object starts at buf[pos] (any_items). */
static int begin_any_item(struct reader *r, unsigned char c) {
  r->tok_start = r->base + r->pos;
  r->keep = r->tok_start;
  stv__json_scan_reset(&r->scan);
  if (c == '[') {
    r->st = ST_ITEM;
  } else if (c == '"') {
    r->pos++;
    r->st = ST_ITEM_STRING;
  } else {
    r->st = ST_ITEM_SCALAR;
  }
  return 0;
}

/* An item starts at buf[pos]: an object, or with any_items any value. */
static int begin_item(struct reader *r) {
  unsigned char c = r->buf[r->pos];
  if (c == '{') {
    r->tok_start = r->base + r->pos;
    r->keep = r->tok_start;
    stv__json_scan_reset(&r->scan);
    r->st = ST_ITEM;
    return 0;
  }
  if (r->any_items && stv__json_is_value_start(c)) return begin_any_item(r, c);
  if (stv__json_is_value_start(c)) {
    char ctx[48];
    return fail(r, STV_EPARSE, "%snot a JSON object",
                item_ctx(r, r->index, ctx, sizeof(ctx)));
  }
  return fail_syntax(r, r->index, r->pos, "expected a value");
}

/* An item has ended at buf[pos]: hand it over, expect ',' or ']'. */
static int end_item(struct reader *r) {
  int rc = deliver_item(r);
  if (rc) return rc;
  r->index++;
  r->keep = NOKEEP;
  r->st = ST_ITEMS_AFTER;
  return 0;
}

/*
 * Follows a number or literal from buf[pos]. Returns 1 when a byte that
 * cannot belong to it has been reached (pos there), 0 when the buffer ran
 * out.
 */
static int scan_scalar(struct reader *r) {
  const unsigned char *p = r->buf;
  size_t i = r->pos, n = r->len;
  while (i < n && !stv__json_is_ws(p[i]) && p[i] != ',' && p[i] != '}' && p[i] != ']' && p[i] != ':' &&
         p[i] != '{' && p[i] != '[' && p[i] != '"')
    i++;
  r->pos = i;
  return i < n;
}

/* A composite value hit a bad bracket or too deep nesting at buf[pos]. */
static int fail_structure(struct reader *r, long index) {
  size_t at = boff(r, r->tok_start), off;
  const char *why;
  if (stv__json_validate(r->buf + at, r->len - at, 1, STV_JSON_DEPTH_MAX, &off, &why) ==
      STV__V_ERROR)
    return fail_syntax(r, index, at + off, why);
  return fail_syntax(r, index, r->pos, "unbalanced brackets");
}

/* Skips whitespace; returns 1 when a byte is available at buf[pos]. */
static int skip_ws(struct reader *r) {
  const unsigned char *p = r->buf;
  size_t i = r->pos, n = r->len;
  while (i < n && stv__json_is_ws(p[i])) i++;
  r->pos = i;
  return i < n;
}

/*
 * Multi mode, after a document, at a byte other than whitespace: '{' starts
 * the next document (a single object before it is delivered first), and
 * the first line of a container log block starts skipping it. Returns
 * NEXT_DOC when the state changed, 0 when the byte is neither (trailing
 * garbage), NEED_MORE, or an error from the callback.
 */
#define NEXT_DOC 2
static int next_document(struct reader *r) {
  size_t avail = r->len - r->pos, k = sizeof(LOG_START) - 1;
  if (r->buf[r->pos] == '{') {
    int rc = deliver_single(r);
    if (rc) return rc;
    r->ndoc++;
    snprintf(r->doc_name, sizeof(r->doc_name), "%s document %ld", r->base_name, r->ndoc);
    r->name = r->doc_name;
    r->seen_items = 0;
    r->index = 0;
    r->list_kind[0] = '\0';
    r->st = ST_TOP;
    return NEXT_DOC;
  }
  if (avail < k && !r->eof && memcmp(r->buf + r->pos, LOG_START, avail) == 0) return NEED_MORE;
  if (avail >= k && memcmp(r->buf + r->pos, LOG_START, k) == 0) {
    uint64_t col;
    locate(r, r->pos, &r->log_line, &col);
    if (r->log_blocks != NULL) (*r->log_blocks)++;
    r->log_end = 0;
    r->st = ST_LOG_REST;
    return NEXT_DOC;
  }
  return 0;
}

/*
 * The handlers of the states, one each (two states share one where they
 * differ only in what they accept). Each returns 0 when it moved on (a new
 * state or more bytes consumed), NEED_MORE when it needs more input, or an
 * error code.
 */

/* An optional byte order mark at the start of the input. */
static int on_bom(struct reader *r) {
  static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
  size_t k = 3; /* bytes of the mark available */
  if (r->len - r->pos < 3) k = r->len - r->pos;
  if (memcmp(r->buf + r->pos, bom, k) == 0) {
    if (k < 3 && !r->eof) return NEED_MORE;
    if (k == 3) {
      r->pos += 3;
      r->line_start = r->base + r->pos; /* columns count after it */
    }
  }
  r->st = ST_TOP;
  return 0;
}

/* The top-level '{'. */
static int on_top(struct reader *r) {
  if (!skip_ws(r)) return NEED_MORE;
  if (r->buf[r->pos] != '{') return fail(r, STV_EPARSE, "top level is not a JSON object");
  r->top_start = r->base + r->pos;
  r->keep = r->top_start;
  r->pending = r->member_cb == NULL && r->path_n == 1;
  r->pos++;
  r->st = ST_OBJ_FIRST;
  return 0;
}

/* A member name, or after '{' the '}' of an empty object. */
static int on_object_member(struct reader *r) {
  if (!skip_ws(r)) return NEED_MORE;
  if (r->buf[r->pos] == '"') {
    r->tok_start = r->base + r->pos;
    if (!r->pending) r->keep = r->tok_start;
    r->scan.esc = 0;
    r->pos++;
    r->st = ST_KEY;
    return 0;
  }
  if (r->st == ST_OBJ_FIRST && r->buf[r->pos] == '}') {
    r->pos++;
    return end_object(r);
  }
  return fail_syntax(r, -1, r->pos, r->st == ST_OBJ_FIRST ? "expected '\"' or '}'" : "expected '\"'");
}

/* The ':' after a member name. */
static int on_colon(struct reader *r) {
  if (!skip_ws(r)) return NEED_MORE;
  if (r->buf[r->pos] != ':') return fail_syntax(r, -1, r->pos, "expected ':'");
  r->pos++;
  r->st = ST_VALUE;
  return 0;
}

/* The items array begins at buf[pos] (c is its first byte). */
static int on_items_value(struct reader *r, unsigned char c) {
  if (r->seen_items) {
    uint64_t line, col;
    locate(r, r->pos, &line, &col);
    return fail(r, STV_EPARSE, "duplicate \"items\" at line %" PRIu64 ", column %" PRIu64, line, col);
  }
  if (c != '[') return fail(r, STV_EPARSE, "\"%s\" is not an array", r->items_name);
  r->pos++;
  return begin_items(r);
}

/*
 * A member value begins: an object on the path to the items, the items,
 * or one to follow and check.
 */
static int on_value(struct reader *r) {
  unsigned char c;
  if (!skip_ws(r)) return NEED_MORE;
  c = r->buf[r->pos];
  if (!stv__json_is_value_start(c)) return fail_syntax(r, -1, r->pos, "expected a value");
  if (key_opens_path(r) && c == '{') {
    r->pos++;
    r->level++;
    r->st = ST_OBJ_FIRST;
    return 0;
  }
  if (key_is_items(r) && (c == '[' || r->member_cb == NULL)) return on_items_value(r, c);
  r->tok_start = r->base + r->pos;
  if (!r->pending) r->keep = r->tok_start;
  stv__json_scan_reset(&r->scan);
  if (c == '{' || c == '[') {
    r->st = ST_MEMBER_COMPOSITE;
  } else if (c == '"') {
    r->pos++;
    r->st = ST_MEMBER_STRING;
  } else {
    r->st = ST_MEMBER_SCALAR;
  }
  return 0;
}

/* Inside a member value that is a number or a literal. */
static int on_member_scalar(struct reader *r) {
  if (!scan_scalar(r)) return NEED_MORE;
  return end_member(r);
}

/*
 * After a member (close '}') or an item (close ']'): ',' goes on to state
 * next, the closing bracket ends the object or the "items" array.
 */
static int on_after(struct reader *r, unsigned char close, enum state next, const char *why) {
  if (!skip_ws(r)) return NEED_MORE;
  if (r->buf[r->pos] == ',') {
    r->pos++;
    r->st = next;
    return 0;
  }
  if (r->buf[r->pos] != close) return fail_syntax(r, -1, r->pos, why);
  r->pos++;
  if (close == '}') return end_object(r);
  r->st = ST_OBJ_AFTER;
  return 0;
}

/* An item of "items", or after '[' the ']' of an empty array. */
static int on_items(struct reader *r) {
  if (!skip_ws(r)) return NEED_MORE;
  if (r->st == ST_ITEMS_FIRST && r->buf[r->pos] == ']') {
    r->pos++;
    r->st = ST_OBJ_AFTER;
    return 0;
  }
  return begin_item(r);
}

/* Inside an item. */
static int on_item(struct reader *r) {
  int rc = stv__json_scan_composite(&r->scan, r->buf, &r->pos, r->len);
  if (rc == 0) return NEED_MORE;
  if (rc < 0) return fail_structure(r, r->index);
  return end_item(r);
}

/* Inside an item that is a string (any_items). */
static int on_item_string(struct reader *r) {
  if (!stv__json_scan_string(&r->scan, r->buf, &r->pos, r->len)) return NEED_MORE;
  return end_item(r);
}

/* Inside an item that is a number or a literal (any_items). */
static int on_item_scalar(struct reader *r) {
  if (!scan_scalar(r)) return NEED_MORE;
  return end_item(r);
}

/* Multi mode: a line of a log block; the END line closes it, the others are skipped. */
static int on_log(struct reader *r) {
  size_t avail = r->len - r->pos, k = sizeof(LOG_END) - 1;
  const unsigned char *nl = memchr(r->buf + r->pos, '\n', avail);
  if (nl == NULL && avail < k && !r->eof) return NEED_MORE;
  r->log_end = avail >= k && memcmp(r->buf + r->pos, LOG_END, k) == 0;
  r->st = ST_LOG_REST;
  return 0;
}

/* Multi mode: the rest of a line of a log block. */
static int on_log_rest(struct reader *r) {
  const unsigned char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
  if (nl == NULL) {
    r->pos = r->len;
    return NEED_MORE;
  }
  r->pos = (size_t)(nl - r->buf) + 1;
  r->st = r->log_end ? ST_DONE : ST_LOG;
  return 0;
}

/* After the document: whitespace, or in multi mode the next document. */
static int on_done(struct reader *r) {
  uint64_t line, col;
  if (!skip_ws(r)) return NEED_MORE;
  if (r->multi) {
    int rc = next_document(r);
    if (rc == NEED_MORE || rc < 0) return rc;
    if (rc == NEXT_DOC) return 0;
  }
  locate(r, r->pos, &line, &col);
  return fail(r, STV_EPARSE, "trailing garbage after the document at line %" PRIu64 ", column %" PRIu64, line,
              col);
}

/* Inside a member name. */
static int on_key(struct reader *r) {
  if (!stv__json_scan_string(&r->scan, r->buf, &r->pos, r->len)) return NEED_MORE;
  return end_key(r);
}

/* Inside a member value that is an object or an array. */
static int on_member_composite(struct reader *r) {
  int rc = stv__json_scan_composite(&r->scan, r->buf, &r->pos, r->len);
  if (rc == 0) return NEED_MORE;
  if (rc < 0) return fail_structure(r, -1);
  return end_member(r);
}

/* Inside a member value that is a string. */
static int on_member_string(struct reader *r) {
  if (!stv__json_scan_string(&r->scan, r->buf, &r->pos, r->len)) return NEED_MORE;
  return end_member(r);
}

static int on_object_after(struct reader *r) { return on_after(r, '}', ST_OBJ_NEXT, "expected ',' or '}'"); }

static int on_items_after(struct reader *r) { return on_after(r, ']', ST_ITEMS_NEXT, "expected ',' or ']'"); }

/* The handler of each state. */
static int (*const handlers[])(struct reader *) = {
    [ST_BOM] = on_bom,
    [ST_TOP] = on_top,
    [ST_OBJ_FIRST] = on_object_member,
    [ST_OBJ_NEXT] = on_object_member,
    [ST_KEY] = on_key,
    [ST_COLON] = on_colon,
    [ST_VALUE] = on_value,
    [ST_MEMBER_COMPOSITE] = on_member_composite,
    [ST_MEMBER_STRING] = on_member_string,
    [ST_MEMBER_SCALAR] = on_member_scalar,
    [ST_OBJ_AFTER] = on_object_after,
    [ST_ITEMS_FIRST] = on_items,
    [ST_ITEMS_NEXT] = on_items,
    [ST_ITEM] = on_item,
    [ST_ITEMS_AFTER] = on_items_after,
    [ST_DONE] = on_done,
    [ST_LOG] = on_log,
    [ST_LOG_REST] = on_log_rest,
    [ST_ITEM_STRING] = on_item_string,
    [ST_ITEM_SCALAR] = on_item_scalar,
};

/*
 * Runs the state machine over the buffered bytes. Returns NEED_MORE when
 * it needs more input (or the input has ended), or an error code.
 */
static int step(struct reader *r) {
  for (;;) {
    int rc = handlers[r->st](r);
    if (rc != 0) return rc;
  }
}

/* The input has ended in state r->st. */
static int at_eof(struct reader *r) {
  switch (r->st) {
    case ST_LOG:
    case ST_LOG_REST:
      return fail(r, STV_EPARSE,
                  "truncated in the container log block that starts at line %" PRIu64
                  " (no \"" LOG_END "...\" line)",
                  r->log_line);
    case ST_BOM:
    case ST_TOP:
      return fail(r, STV_EPARSE, "empty file");
    case ST_DONE:
      return deliver_single(r);
    case ST_ITEM: {
      int rc = kept_syntax_error(r, r->index, r->len);
      return rc ? rc : fail_truncated(r);
    }
    case ST_ITEMS_FIRST:
    case ST_ITEMS_NEXT:
    case ST_ITEMS_AFTER:
      return fail_truncated(r);
    default: {
      uint64_t line, col;
      if (r->keep != NOKEEP) {
        int rc = kept_syntax_error(r, -1, r->len);
        if (rc) return rc;
      }
      locate(r, r->len, &line, &col);
      return fail(r, STV_EPARSE,
                  "truncated at line %" PRIu64 ", column %" PRIu64, line, col);
    }
  }
}

/* Reads the whole input; see stv_json_stream_file. */
static int run(struct reader *r) {
  for (;;) {
    int rc = refill(r);
    if (rc < 0) return rc;
    rc = step(r);
    if (rc < 0) return rc;
    if (r->eof) return at_eof(r);
    if (r->keep != NOKEEP && r->len - boff(r, r->keep) >= STV_JSON_ITEM_MAX)
      return fail_too_large(r, r->len);
  }
}

static void reader_init(struct reader *r, const char *name, stv_json_item_cb cb,
                        void *ctx, struct stv_err *err) {
  memset(r, 0, sizeof(*r));
  r->name = name;
  r->base_name = name;
  r->cb = cb;
  r->ctx = ctx;
  r->err = err;
  r->parse = 1;
  r->fd = -1;
  r->chunk = chunk_override != 0 ? chunk_override : CHUNK_DEFAULT;
  if (r->chunk > STV_JSON_ITEM_MAX) r->chunk = STV_JSON_ITEM_MAX;
  r->keep = NOKEEP;
  r->st = ST_BOM;
  r->path[0] = "items";
  r->path_len[0] = 5;
  r->path_n = 1;
  r->items_name = "items";
}

static void reader_close(struct reader *r) {
  stv_free(r->buf);
  cJSON_Delete(r->single);
  stv__json_arena_release();
}

int stv_json_stream_file(const char *path, stv_json_item_cb cb, void *ctx,
                         struct stv_err *err) {
  struct stv_err local;
  struct reader r;
  struct stat st;
  const char *name = path;
  int fd = STDIN_FILENO, owned = 0, rc;

  if (err == NULL) err = &local;
  stv_json_init();
  if (path == NULL) return stv_err_set(err, STV_EINVAL, "no input path");
  if (strcmp(path, "-") == 0) {
    name = "<stdin>";
  } else {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      return stv_err_set(err, -e, "%s: cannot open: %s", path, stv_strerror(-e));
    }
    owned = 1;
  }
  if (fstat(fd, &st) != 0) {
    int e = errno;
    rc = stv_err_set(err, -e, "%s: cannot stat: %s", name, stv_strerror(-e));
    goto out;
  }
  if (S_ISDIR(st.st_mode)) {
    rc = stv_err_set(err, -EISDIR, "%s: is a directory", name);
    goto out;
  }
  if (S_ISREG(st.st_mode)) (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  reader_init(&r, name, cb, ctx, err);
  r.fd = fd;
  rc = run(&r);
  reader_close(&r);
out:
  if (owned) close(fd);
  return rc;
}

int stv_json_stream_buffer(const char *name, const char *buf, size_t len, stv_json_item_cb cb, void *ctx,
                           struct stv_err *err) {
  /* Without a file descriptor the reader reads the prefix only. */
  return stv_json_stream_fd_multi(name != NULL ? name : "<buffer>", -1, buf, len, NULL, cb, ctx, err);
}

int stv_json_fill_item_kind(cJSON *item, const char *list_kind) {
  size_t n = list_kind != NULL ? strlen(list_kind) : 0;
  char kind[KEY_MAX + 1];
  cJSON *k, *v;
  if (n <= 4 || n - 4 > KEY_MAX || strcmp(list_kind + n - 4, "List") != 0) return 0;
  if (!cJSON_IsObject(item)) return 0;
  k = cJSON_GetObjectItemCaseSensitive(item, "kind");
  if (k != NULL && !cJSON_IsNull(k)) return 0;
  memcpy(kind, list_kind, n - 4);
  kind[n - 4] = '\0';
  if ((v = cJSON_CreateString(kind)) == NULL) return STV_ENOMEM;
  if (k != NULL) {
    if (!cJSON_ReplaceItemViaPointer(item, k, v)) {
      cJSON_Delete(v);
      return STV_ENOMEM;
    }
  } else if (!cJSON_AddItemToObject(item, "kind", v)) {
    cJSON_Delete(v);
    return STV_ENOMEM;
  }
  return 0;
}

int stv_json_stream_fd(const char *name, int fd, const char *prefix, size_t prefix_len,
                       stv_json_item_cb cb, void *ctx, struct stv_err *err) {
  return stv_json_stream_fd_multi(name, fd, prefix, prefix_len, NULL, cb, ctx, err);
}

int stv_json_stream_fd_multi(const char *name, int fd, const char *prefix, size_t prefix_len,
                             size_t *log_blocks, stv_json_item_cb cb, void *ctx, struct stv_err *err) {
  struct stv_err local;
  struct reader r;
  int rc;

  if (err == NULL) err = &local;
  stv_json_init();
  if (prefix == NULL && prefix_len > 0) return stv_err_set(err, STV_EINVAL, "no buffer");
  reader_init(&r, name != NULL ? name : "<input>", cb, ctx, err);
  if (log_blocks != NULL) {
    r.multi = 1;
    r.ndoc = 1;
    r.log_blocks = log_blocks;
  }
  r.fd = fd;
  r.mem = prefix;
  r.mem_len = prefix_len;
  rc = run(&r);
  reader_close(&r);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Push mode                                                              */

struct stv_json_push {
  struct reader r;
  char name[256];
  char items[2 * (KEY_MAX + 1)]; /* the path, then its parts */
  char part[2][KEY_MAX + 1];
  struct stv_err first; /* the first error, returned again after it */
  int rc;
};

/* Splits "data.result" into at most two non-empty parts. */
static int push_path(struct stv_json_push *p, const char *items, struct stv_err *err) {
  const char *dot;
  size_t n = strlen(items), a;
  if (n == 0 || n >= sizeof(p->items))
    return stv_err_set(err, STV_EINVAL, "items path \"%.80s\": empty or too long", items);
  memcpy(p->items, items, n + 1);
  dot = strchr(items, '.');
  a = dot != NULL ? (size_t)(dot - items) : n;
  if (a == 0 || a > KEY_MAX || (dot != NULL && (n - a - 1 == 0 || n - a - 1 > KEY_MAX ||
                                                strchr(dot + 1, '.') != NULL)))
    return stv_err_set(err, STV_EINVAL,
                       "items path \"%s\": one or two member names joined by '.'", items);
  memcpy(p->part[0], items, a);
  p->part[0][a] = '\0';
  p->r.path[0] = p->part[0];
  p->r.path_len[0] = a;
  p->r.path_n = 1;
  if (dot != NULL) {
    memcpy(p->part[1], dot + 1, n - a - 1);
    p->part[1][n - a - 1] = '\0';
    p->r.path[1] = p->part[1];
    p->r.path_len[1] = n - a - 1;
    p->r.path_n = 2;
  }
  p->r.items_name = p->items;
  return 0;
}

int stv_json_push_new(struct stv_json_push **out, const struct stv_json_push_opts *o,
                      struct stv_err *err) {
  struct stv_err local;
  struct stv_json_push *p;
  int rc;
  if (err == NULL) err = &local;
  *out = NULL;
  stv_json_init();
  if ((p = stv_calloc(1, sizeof(*p))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  snprintf(p->name, sizeof(p->name), "%s", o->name != NULL ? o->name : "<stream>");
  reader_init(&p->r, p->name, o->item, o->ctx, err);
  p->r.push = 1;
  p->r.any_items = o->any_items;
  p->r.member_cb = o->member;
  p->r.raw_cb = o->raw;
  if (o->items != NULL && (rc = push_path(p, o->items, err)) != 0) {
    stv_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

/* Keeps the first error, so that later calls return it again. */
static int push_failed(struct stv_json_push *p, int rc, struct stv_err *err) {
  p->rc = rc;
  p->first = *err;
  p->r.mem = NULL;
  p->r.mem_len = p->r.mem_off = 0;
  return rc;
}

int stv_json_push_feed(struct stv_json_push *p, const void *buf, size_t len, struct stv_err *err) {
  struct stv_err local;
  struct reader *r = &p->r;
  if (err == NULL) err = &local;
  if (p->rc != 0) {
    *err = p->first;
    return p->rc;
  }
  if (buf == NULL && len > 0) return stv_err_set(err, STV_EINVAL, "no buffer");
  r->err = err;
  r->mem = buf;
  r->mem_len = len;
  r->mem_off = 0;
  while (r->mem_off < r->mem_len) {
    int rc = refill(r);
    if (rc >= 0) rc = step(r);
    if (rc >= 0 && r->keep != NOKEEP && r->len - boff(r, r->keep) >= STV_JSON_ITEM_MAX)
      rc = fail_too_large(r, r->len);
    if (rc < 0) return push_failed(p, rc, err);
  }
  r->mem = NULL;
  r->mem_len = r->mem_off = 0;
  return 0;
}

int stv_json_push_finish(struct stv_json_push *p, struct stv_err *err) {
  struct stv_err local;
  struct reader *r = &p->r;
  int rc;
  if (err == NULL) err = &local;
  if (p->rc != 0) {
    *err = p->first;
    return p->rc;
  }
  r->err = err;
  r->eof = 1;
  rc = refill(r); /* makes sure there is a buffer */
  if (rc >= 0) rc = step(r);
  if (rc >= 0) rc = at_eof(r);
  if (rc < 0) return push_failed(p, rc, err);
  return 0;
}

void stv_json_push_free(struct stv_json_push *p) {
  if (p == NULL) return;
  reader_close(&p->r);
  stv_free(p);
}

int stv_json_push_seen_items(const struct stv_json_push *p) { return p->r.seen_items; }
