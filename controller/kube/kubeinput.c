/*
 * Input shapes to items: see kubeinput.h.
 *
 * A file is opened once; its first bytes are read to tell JSON from YAML
 * and then handed, with the rest of the descriptor, to the JSON stream
 * reader or to libyaml, so that standard input works the same way. YAML is
 * read by parser events, not libyaml's composer, building each document as
 * a cJSON tree directly (with a side table of node positions for messages).
 */
#include "kubeinput.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

/* Bytes read ahead to tell JSON from YAML. */
#define SNIFF_MAX 4096

/* ---------------------------------------------------------------------- */
/* The input: bytes read ahead, then the rest of the descriptor            */

struct src {
  const char *name;
  int fd;
  char head[SNIFF_MAX];
  size_t hlen, hoff;
  int read_errno;
};

/* Fills head with up to SNIFF_MAX bytes (fewer only at end of input). */
static int sniff(struct src *in, struct stv_err *err) {
  while (in->hlen < sizeof(in->head)) {
    ssize_t got = read(in->fd, in->head + in->hlen, sizeof(in->head) - in->hlen);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int e = errno;
      return stv_err_set(err, -e, "%s: read error: %s", in->name, stv_strerror(-e));
    }
    if (got == 0) break;
    in->hlen += (size_t)got;
  }
  return 0;
}

/* 1 when the bytes read ahead start (after a byte order mark and whitespace) with '{'. */
static int looks_like_json(const struct src *in) {
  size_t i = 0;
  if (in->hlen >= 3 && memcmp(in->head, "\xEF\xBB\xBF", 3) == 0) i = 3;
  while (i < in->hlen &&
         (in->head[i] == ' ' || in->head[i] == '\t' || in->head[i] == '\n' || in->head[i] == '\r'))
    i++;
  return i == in->hlen || in->head[i] == '{';
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* libyaml's read handler: the bytes read ahead, then the descriptor. */
static int yaml_read(void *data, unsigned char *buffer, size_t size, size_t *size_read) {
  struct src *in = data;
  ssize_t got;
  if (in->hoff < in->hlen) {
    size_t n = in->hlen - in->hoff;
    if (n > size) n = size;
    memcpy(buffer, in->head + in->hoff, n);
    in->hoff += n;
    *size_read = n;
    return 1;
  }
  do {
    got = read(in->fd, buffer, size);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    in->read_errno = errno;
    return 0;
  }
  *size_read = (size_t)got;
  return 1;
}

/* ---------------------------------------------------------------------- */
/* YAML documents to cJSON                                                 */

struct ymark {
  const cJSON *node;
  unsigned long line, col; /* 1-based */
};

struct yanchor {
  char *name;
  const cJSON *node;
};

struct yreader {
  struct src *in;
  yaml_parser_t ps;
  struct stv_err *err;
  size_t nodes;       /* values in the current document */
  size_t alias_nodes; /* of which added by aliases */
  size_t doc_start;   /* input offset where the document starts */
  struct ymark *marks;
  size_t nmarks, cap_marks;
  struct yanchor *anchors;
  size_t nanchors, cap_anchors;
};

static int yfail_at(struct yreader *y, int code, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int yfail_at(struct yreader *y, int code, const yaml_mark_t *m, const char *fmt, ...) {
  char msg[STV_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return stv_err_set(y->err, code, "%s:%lu:%lu: %s", y->in->name, (unsigned long)m->line + 1,
                     (unsigned long)m->column + 1, msg);
}

/* Sets err from a libyaml failure; returns the code. */
static int yfail_parser(struct yreader *y) {
  const yaml_parser_t *ps = &y->ps;
  if (ps->error == YAML_MEMORY_ERROR)
    return stv_err_set(y->err, STV_ENOMEM, "%s: out of memory", y->in->name);
  if (ps->error == YAML_READER_ERROR) {
    if (y->in->read_errno != 0)
      return stv_err_set(y->err, -y->in->read_errno, "%s: read error: %s", y->in->name,
                         stv_strerror(-y->in->read_errno));
    return stv_err_set(y->err, STV_EPARSE, "%s: byte %zu: invalid text: %s", y->in->name, ps->problem_offset,
                       ps->problem ? ps->problem : "unreadable");
  }
  return stv_err_set(y->err, STV_EPARSE, "%s:%lu:%lu: YAML syntax error: %s%s%s", y->in->name,
                     (unsigned long)ps->problem_mark.line + 1, (unsigned long)ps->problem_mark.column + 1,
                     ps->problem ? ps->problem : "malformed document", ps->context ? " " : "",
                     ps->context ? ps->context : "");
}

static int next_event(struct yreader *y, yaml_event_t *ev) {
  if (!yaml_parser_parse(&y->ps, ev)) return yfail_parser(y);
  if (ev->end_mark.index - y->doc_start > STV_YAML_DOC_MAX) {
    int rc = yfail_at(y, STV_ELIMIT, &ev->start_mark,
                      "YAML document larger than %zu MiB (split it into several documents, or use JSON, "
                      "which is read item by item)",
                      STV_YAML_DOC_MAX >> 20);
    yaml_event_delete(ev);
    return rc;
  }
  return 0;
}

static int remember(struct yreader *y, const cJSON *node, const yaml_mark_t *m) {
  if (stv_grow((void **)&y->marks, &y->cap_marks, y->nmarks + 1, sizeof(*y->marks)) != 0)
    return stv_err_set(y->err, STV_ENOMEM, "%s: out of memory", y->in->name);
  y->marks[y->nmarks].node = node;
  y->marks[y->nmarks].line = (unsigned long)m->line + 1;
  y->marks[y->nmarks].col = (unsigned long)m->column + 1;
  y->nmarks++;
  return 0;
}

static const struct ymark *mark_of(const struct yreader *y, const cJSON *node) {
  size_t i;
  for (i = 0; i < y->nmarks; i++)
    if (y->marks[i].node == node) return &y->marks[i];
  return NULL;
}

static int add_anchor(struct yreader *y, const yaml_char_t *name, const cJSON *node) {
  size_t i;
  char *copy;
  for (i = 0; i < y->nanchors; i++)
    if (strcmp(y->anchors[i].name, (const char *)name) == 0) {
      y->anchors[i].node = node; /* a later anchor of the same name wins, as in YAML */
      return 0;
    }
  if (stv_grow((void **)&y->anchors, &y->cap_anchors, y->nanchors + 1, sizeof(*y->anchors)) != 0 ||
      (copy = stv_strdup((const char *)name)) == NULL)
    return stv_err_set(y->err, STV_ENOMEM, "%s: out of memory", y->in->name);
  y->anchors[y->nanchors].name = copy;
  y->anchors[y->nanchors].node = node;
  y->nanchors++;
  return 0;
}

static void end_document(struct yreader *y) {
  size_t i;
  for (i = 0; i < y->nanchors; i++) stv_free(y->anchors[i].name);
  y->nanchors = 0;
  y->nmarks = 0;
  y->nodes = 0;
  y->alias_nodes = 0;
}

static size_t count_nodes(const cJSON *c) {
  size_t n = 1;
  const cJSON *e;
  for (e = c->child; e != NULL; e = e->next) n += count_nodes(e);
  return n;
}

/* Go's strconv.ParseInt(s, 0, 64) and ParseUint, as go-yaml v2 resolves integers. */
static int parse_int(const char *s, double *out) {
  int neg = 0, base = 10;
  uint64_t v = 0;
  size_t i = 0, digits = 0;
  if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
  if (s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
    base = 16;
    i += 2;
  } else if (s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O')) {
    base = 8;
    i += 2;
  } else if (s[i] == '0' && (s[i + 1] == 'b' || s[i + 1] == 'B')) {
    base = 2;
    i += 2;
  } else if (s[i] == '0' && s[i + 1] != '\0') {
    base = 8;
    i += 1;
  }
  for (; s[i] != '\0'; i++) {
    int d;
    char c = s[i];
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return 0;
    if (d >= base) return 0;
    if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return 0;
    v = v * (uint64_t)base + (uint64_t)d;
    digits++;
  }
  if (digits == 0) return 0;
  if (neg && v > (uint64_t)INT64_MAX + 1) return 0;
  *out = neg ? -(double)v : (double)v;
  return 1;
}

/* go-yaml v2's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int parse_float(const char *s, double *out) {
  size_t i = 0, d = 0;
  char *end;
  if (s[i] == '+' || s[i] == '-') i++;
  if (s[i] == '.') {
    i++;
    while (s[i] >= '0' && s[i] <= '9') i++, d++;
    if (d == 0) return 0;
  } else {
    while (s[i] >= '0' && s[i] <= '9') i++, d++;
    if (d == 0) return 0;
    if (s[i] == '.') {
      i++;
      while (s[i] >= '0' && s[i] <= '9') i++;
    }
  }
  if (s[i] == 'e' || s[i] == 'E') {
    size_t e = 0;
    i++;
    if (s[i] == '+' || s[i] == '-') i++;
    while (s[i] >= '0' && s[i] <= '9') i++, e++;
    if (e == 0) return 0;
  }
  if (s[i] != '\0') return 0;
  errno = 0;
  *out = strtod(s, &end);
  return *end == '\0' && isfinite(*out);
}

static int one_of(const char *s, const char *const *words) {
  for (; *words != NULL; words++)
    if (strcmp(s, *words) == 0) return 1;
  return 0;
}

/* A scalar event as JSON: see kubeinput.h for the typing. */
static int scalar(struct yreader *y, const yaml_event_t *ev, cJSON **out) {
  static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
  static const char *const trues[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                      "True", "TRUE", "on",  "On",  "ON",  NULL};
  static const char *const falses[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                       "False", "FALSE", "off", "Off", "OFF", NULL};
  static const char *const odd[] = {".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",  ".INF", "+.inf",
                                    "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", NULL};
  const char *v = (const char *)ev->data.scalar.value;
  const char *tag = (const char *)ev->data.scalar.tag;
  size_t len = ev->data.scalar.length;
  int plain = ev->data.scalar.plain_implicit && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  double num;

  *out = NULL;
  if (strlen(v) != len)
    return yfail_at(y, STV_EPARSE, &ev->start_mark, "a NUL character in a scalar cannot be read as JSON");
  if (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0) plain = 0;
  if (tag != NULL && strcmp(tag, "!") == 0) plain = 0;
  if (plain ||
      (tag != NULL && strncmp(tag, "tag:yaml.org,2002:", 18) == 0 && strcmp(tag, YAML_STR_TAG) != 0)) {
    if (one_of(v, nulls)) {
      *out = cJSON_CreateNull();
    } else if (one_of(v, trues)) {
      *out = cJSON_CreateTrue();
    } else if (one_of(v, falses)) {
      *out = cJSON_CreateFalse();
    } else if (one_of(v, odd)) {
      return yfail_at(y, STV_EPARSE, &ev->start_mark, "%s has no JSON form (quote it to make it a string)",
                      v);
    } else if ((v[0] >= '0' && v[0] <= '9') || v[0] == '+' || v[0] == '-' || v[0] == '.') {
      char digits[64];
      size_t i, n = 0;
      for (i = 0; v[i] != '\0' && n + 1 < sizeof(digits); i++)
        if (v[i] != '_') digits[n++] = v[i];
      digits[n] = '\0';
      if (v[i] == '\0' && (parse_int(digits, &num) || parse_float(digits, &num)))
        *out = cJSON_CreateNumber(num);
      else
        *out = cJSON_CreateString(v);
    } else {
      *out = cJSON_CreateString(v);
    }
  } else {
    *out = cJSON_CreateString(v);
  }
  if (*out == NULL) return stv_err_set(y->err, STV_ENOMEM, "%s: out of memory", y->in->name);
  return 0;
}

static int node(struct yreader *y, yaml_event_t *ev, unsigned depth, cJSON **out);

/* Counts a new value against the document's budget. */
static int count(struct yreader *y, const yaml_event_t *ev, size_t n) {
  y->nodes += n;
  if (y->nodes > STV_YAML_NODES_MAX)
    return yfail_at(y, STV_ELIMIT, &ev->start_mark,
                    "YAML document holds more than %zu values (aliases expanded)", STV_YAML_NODES_MAX);
  return 0;
}

static int sequence(struct yreader *y, unsigned depth, cJSON *arr) {
  for (;;) {
    yaml_event_t ev;
    cJSON *v;
    int rc;
    if ((rc = next_event(y, &ev)) != 0) return rc;
    if (ev.type == YAML_SEQUENCE_END_EVENT) {
      yaml_event_delete(&ev);
      return 0;
    }
    rc = node(y, &ev, depth + 1, &v);
    yaml_event_delete(&ev);
    if (rc != 0) return rc;
    cJSON_AddItemToArray(arr, v);
  }
}

static int mapping(struct yreader *y, unsigned depth, cJSON *obj) {
  for (;;) {
    yaml_event_t ev;
    cJSON *v;
    char *key;
    yaml_mark_t km;
    int rc;
    if ((rc = next_event(y, &ev)) != 0) return rc;
    if (ev.type == YAML_MAPPING_END_EVENT) {
      yaml_event_delete(&ev);
      return 0;
    }
    if (ev.type != YAML_SCALAR_EVENT) {
      rc = yfail_at(y, STV_EPARSE, &ev.start_mark, "a mapping key must be a scalar for JSON");
      yaml_event_delete(&ev);
      return rc;
    }
    km = ev.start_mark;
    key = stv_strdup((const char *)ev.data.scalar.value);
    yaml_event_delete(&ev);
    if (key == NULL) return stv_err_set(y->err, STV_ENOMEM, "%s: out of memory", y->in->name);
    if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL) {
      rc = yfail_at(y, STV_EPARSE, &km, "duplicate key \"%.80s\" in a mapping", key);
      stv_free(key);
      return rc;
    }
    if ((rc = next_event(y, &ev)) != 0) {
      stv_free(key);
      return rc;
    }
    rc = node(y, &ev, depth + 1, &v);
    yaml_event_delete(&ev);
    if (rc == 0 && !cJSON_AddItemToObject(obj, key, v)) {
      cJSON_Delete(v);
      rc = stv_err_set(y->err, STV_ENOMEM, "%s: out of memory", y->in->name);
    }
    stv_free(key);
    if (rc != 0) return rc;
  }
}

/* Builds the value that starts with ev (borrowed) into *out. */
static int node(struct yreader *y, yaml_event_t *ev, unsigned depth, cJSON **out) {
  const yaml_char_t *anchor = NULL;
  int rc = 0;
  *out = NULL;
  if (depth > STV_JSON_DEPTH_MAX)
    return yfail_at(y, STV_ELIMIT, &ev->start_mark, "YAML nested deeper than %d levels", STV_JSON_DEPTH_MAX);
  switch (ev->type) {
  case YAML_SCALAR_EVENT:
    anchor = ev->data.scalar.anchor;
    if ((rc = count(y, ev, 1)) == 0) rc = scalar(y, ev, out);
    break;
  case YAML_SEQUENCE_START_EVENT:
  case YAML_MAPPING_START_EVENT: {
    int seq = ev->type == YAML_SEQUENCE_START_EVENT;
    anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
    if ((rc = count(y, ev, 1)) != 0) break;
    if ((*out = seq ? cJSON_CreateArray() : cJSON_CreateObject()) == NULL)
      return stv_err_set(y->err, STV_ENOMEM, "%s: out of memory", y->in->name);
    rc = seq ? sequence(y, depth, *out) : mapping(y, depth, *out);
    break;
  }
  case YAML_ALIAS_EVENT: {
    size_t i, n;
    const cJSON *target = NULL;
    for (i = 0; i < y->nanchors; i++)
      if (strcmp(y->anchors[i].name, (const char *)ev->data.alias.anchor) == 0) target = y->anchors[i].node;
    if (target == NULL)
      return yfail_at(y, STV_EPARSE, &ev->start_mark, "unknown alias *%.80s",
                      (const char *)ev->data.alias.anchor);
    n = count_nodes(target);
    y->alias_nodes += n;
    if (y->alias_nodes > STV_YAML_ALIAS_MAX) {
      rc = yfail_at(y, STV_ELIMIT, &ev->start_mark,
                    "YAML aliases expand to more than %zu values in one document", STV_YAML_ALIAS_MAX);
      break;
    }
    if ((rc = count(y, ev, n)) != 0) break;
    if ((*out = cJSON_Duplicate(target, 1)) == NULL)
      return stv_err_set(y->err, STV_ENOMEM, "%s: out of memory", y->in->name);
    break;
  }
  default:
    return yfail_at(y, STV_EPARSE, &ev->start_mark, "unexpected YAML event");
  }
  if (rc == 0 && *out != NULL) rc = remember(y, *out, &ev->start_mark);
  if (rc == 0 && anchor != NULL) rc = add_anchor(y, anchor, *out);
  if (rc != 0) {
    cJSON_Delete(*out);
    *out = NULL;
  }
  return rc;
}

/*
 * Finds the node of item that the JSON path s[0..n) ("spec.containers[0]
 * .resources") names. Keys may hold dots ("kubernetes.io/config.mirror"),
 * so every member whose name starts the path is tried: the first that
 * leads the whole way wins (*complete set), else the deepest node reached
 * through the longest such name. Returns NULL when not even the first
 * segment matches.
 */
static const cJSON *walk(const cJSON *at, const char *s, size_t n, int *complete) {
  const cJSON *best = NULL, *e;
  size_t best_used = 0;
  *complete = 0;
  if (n == 0) {
    *complete = 1;
    return at;
  }
  if (s[0] == '[' && cJSON_IsArray(at)) {
    char *end;
    long idx = strtol(s + 1, &end, 10);
    if (end > s + 1 && (size_t)(end - s) < n && *end == ']' && idx >= 0) {
      size_t used = (size_t)(end - s) + 1;
      const cJSON *c = cJSON_GetArrayItem(at, (int)idx);
      const cJSON *deeper;
      if (c == NULL) return NULL;
      if (used < n && s[used] == '.') used++;
      deeper = walk(c, s + used, n - used, complete);
      return deeper != NULL ? deeper : c;
    }
    return NULL;
  }
  if (!cJSON_IsObject(at)) return NULL;
  for (e = at->child; e != NULL; e = e->next) {
    size_t k = strlen(e->string);
    if (k == 0 || k > n || memcmp(s, e->string, k) != 0) continue;
    if (k < n && s[k] != '.' && s[k] != '[') continue;
    if (k >= best_used) {
      int full;
      size_t used = k < n && s[k] == '.' ? k + 1 : k;
      const cJSON *deeper = walk(e, s + used, n - used, &full);
      if (full) {
        *complete = 1;
        return deeper;
      }
      best = deeper != NULL ? deeper : e;
      best_used = k;
    }
  }
  return best;
}

/*
 * The position for a message about item: the field named in it (the
 * snapshot reader writes "<Kind> <name>: <path>: <why>"), else the item.
 */
static const struct ymark *locate(const struct yreader *y, const cJSON *item, const char *msg) {
  const struct ymark *m = NULL;
  const char *p = msg;
  while (p != NULL && *p != '\0') {
    const char *stop = strstr(p, ": ");
    size_t n = stop != NULL ? (size_t)(stop - p) : strlen(p);
    int full;
    const cJSON *c = walk(item, p, n, &full);
    if (c != NULL && c != item && (m = mark_of(y, c)) != NULL) return m;
    p = stop != NULL ? stop + 2 : NULL;
  }
  return mark_of(y, item);
}

/* Hands one item (or a single object, index -1) to the callback and places its message. */
static int deliver(struct yreader *y, long index, cJSON *item, stv_json_item_cb cb, void *ctx) {
  char tail[STV_ERR_MSG_MAX], where[64] = "";
  const struct ymark *m;
  int rc;
  if (cb == NULL) return 0;
  y->err->code = 0;
  y->err->msg[0] = '\0';
  rc = cb(ctx, index, item, y->err);
  if (rc == 0) return 0;
  if (rc > 0) rc = STV_EINVAL;
  memcpy(tail, y->err->msg, sizeof(tail));
  m = locate(y, item, tail);
  if (m != NULL) snprintf(where, sizeof(where), ":%lu:%lu", m->line, m->col);
  if (index >= 0)
    stv_err_set(y->err, rc, "%s%s: items[%ld] %s", y->in->name, where, index,
                tail[0] ? tail : stv_strerror(rc));
  else
    stv_err_set(y->err, rc, "%s%s: %s", y->in->name, where, tail[0] ? tail : stv_strerror(rc));
  return rc;
}

/* One document, built whole, then its items delivered. */
static int document(struct yreader *y, const yaml_mark_t *start, stv_json_item_cb cb, void *ctx) {
  yaml_event_t ev;
  cJSON *root = NULL, *items, *e;
  const cJSON *kind;
  int rc;
  long i = 0;

  y->doc_start = start->index;
  if ((rc = next_event(y, &ev)) != 0) return rc;
  if (ev.type == YAML_DOCUMENT_END_EVENT) { /* cannot happen: an empty document is a null scalar */
    yaml_event_delete(&ev);
    return 0;
  }
  rc = node(y, &ev, 1, &root);
  yaml_event_delete(&ev);
  if (rc != 0) goto out;
  if ((rc = next_event(y, &ev)) != 0) goto out;
  yaml_event_delete(&ev);           /* the document's end */
  if (cJSON_IsNull(root)) goto out; /* an empty document, e.g. after a final "---" */
  if (!cJSON_IsObject(root)) {
    rc = yfail_at(y, STV_EPARSE, start,
                  "top level of the document is not a mapping (a List or a single object)");
    goto out;
  }
  items = cJSON_GetObjectItemCaseSensitive(root, "items");
  if (items == NULL) {
    rc = deliver(y, -1, root, cb, ctx);
    goto out;
  }
  if (!cJSON_IsArray(items)) {
    const struct ymark *m = mark_of(y, items);
    rc = stv_err_set(y->err, STV_EPARSE, "%s:%lu:%lu: \"items\" is not a sequence", y->in->name,
                     m ? m->line : 0, m ? m->col : 0);
    goto out;
  }
  kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
  cJSON_ArrayForEach(e, items) {
    if (!cJSON_IsObject(e)) {
      const struct ymark *m = mark_of(y, e);
      rc = stv_err_set(y->err, STV_EPARSE, "%s:%lu:%lu: items[%ld]: not a mapping", y->in->name,
                       m ? m->line : 0, m ? m->col : 0, i);
      goto out;
    }
    if (stv_json_fill_item_kind(e, cJSON_IsString(kind) ? kind->valuestring : NULL) != 0) {
      rc = stv_err_set(y->err, STV_ENOMEM, "%s: out of memory", y->in->name);
      goto out;
    }
    if ((rc = deliver(y, i, e, cb, ctx)) != 0) goto out;
    i++;
  }
out:
  cJSON_Delete(root);
  end_document(y);
  return rc;
}

static int read_yaml(struct src *in, stv_json_item_cb cb, void *ctx, struct stv_err *err) {
  struct yreader y;
  int rc = 0, ndocs = 0;
  memset(&y, 0, sizeof(y));
  y.in = in;
  y.err = err;
  stv_json_init();
  if (!yaml_parser_initialize(&y.ps)) return stv_err_set(err, STV_ENOMEM, "%s: out of memory", in->name);
  yaml_parser_set_input(&y.ps, yaml_read, in);
  for (;;) {
    yaml_event_t ev;
    yaml_event_type_t type;
    yaml_mark_t start;
    if ((rc = next_event(&y, &ev)) != 0) break;
    type = ev.type;
    start = ev.start_mark;
    yaml_event_delete(&ev);
    if (type == YAML_STREAM_END_EVENT) break;
    if (type != YAML_DOCUMENT_START_EVENT) continue; /* the stream's start */
    ndocs++;
    if ((rc = document(&y, &start, cb, ctx)) != 0) break;
  }
  if (rc == 0 && ndocs == 0) rc = stv_err_set(err, STV_EPARSE, "%s: empty file", in->name);
  end_document(&y);
  stv_free(y.marks);
  stv_free(y.anchors);
  yaml_parser_delete(&y.ps);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Files and standard input                                                */

static int read_fd(const char *name, int fd, stv_json_item_cb cb, void *ctx,
                   struct stv_snapshot_read_stats *st, struct stv_err *err) {
  size_t log_blocks = 0;
  struct src *in = stv_calloc(1, sizeof(*in));
  int rc, yaml;
  if (in == NULL) return stv_err_set(err, STV_ENOMEM, "%s: out of memory", name);
  in->name = name;
  in->fd = fd;
  if ((rc = sniff(in, err)) != 0) goto out;
  if (ends_with(name, ".json"))
    yaml = 0;
  else if (ends_with(name, ".yaml") || ends_with(name, ".yml"))
    yaml = 1;
  else
    yaml = !looks_like_json(in);
  if (yaml)
    rc = read_yaml(in, cb, ctx, err);
  else
    rc = stv_json_stream_fd_multi(name, fd, in->head, in->hlen, &log_blocks, cb, ctx, err);
  if (st != NULL) st->log_blocks += log_blocks;
out:
  stv_free(in);
  return rc;
}

static int read_dump_dir(const char *dir, stv_json_item_cb cb, void *ctx, struct stv_snapshot_read_stats *st,
                         struct stv_err *err);

static int read_path(const char *path, stv_json_item_cb cb, void *ctx, struct stv_snapshot_read_stats *st,
                     struct stv_err *err) {
  struct stat sb;
  int fd, rc;
  if (strcmp(path, "-") == 0) return read_fd("<stdin>", STDIN_FILENO, cb, ctx, st, err);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return stv_err_set(err, -e, "%s: cannot open: %s", path, stv_strerror(-e));
  }
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return stv_err_set(err, -e, "%s: cannot stat: %s", path, stv_strerror(-e));
  }
  if (S_ISDIR(sb.st_mode)) {
    close(fd);
    return read_dump_dir(path, cb, ctx, st, err);
  }
  if (S_ISREG(sb.st_mode)) (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  rc = read_fd(path, fd, cb, ctx, st, err);
  close(fd);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* kubectl cluster-info dump --output-directory                            */

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) stv_free(v[i]);
  stv_free(v);
}

/* The entries of dir but "." and "..", sorted, in *out (free with free_names). */
static int list_dir(const char *dir, char ***out, size_t *n, struct stv_err *err) {
  DIR *d = opendir(dir);
  struct dirent *de;
  char **v = NULL;
  size_t cap = 0, k = 0;
  *out = NULL;
  *n = 0;
  if (d == NULL) {
    int e = errno;
    return stv_err_set(err, -e, "%s: cannot open: %s", dir, stv_strerror(-e));
  }
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (stv_grow((void **)&v, &cap, k + 1, sizeof(*v)) != 0 || (v[k] = stv_strdup(de->d_name)) == NULL) {
      closedir(d);
      free_names(v, k);
      return stv_err_set(err, STV_ENOMEM, "%s: out of memory", dir);
    }
    k++;
  }
  closedir(d);
  if (k > 1) qsort(v, k, sizeof(*v), name_cmp);
  *out = v;
  *n = k;
  return 0;
}

static void count_ignored(struct stv_snapshot_read_stats *st, const char *name) {
  size_t i;
  if (st == NULL) return;
  st->ignored_files++;
  for (i = 0; i < st->nignored_names; i++)
    if (strcmp(st->ignored_names[i], name) == 0) return;
  if (st->nignored_names < sizeof(st->ignored_names) / sizeof(st->ignored_names[0]))
    snprintf(st->ignored_names[st->nignored_names++], sizeof(st->ignored_names[0]), "%s", name);
  else
    st->more_ignored_names = 1;
}

/* Joins dir and name into a fresh string, or NULL. */
static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = stv_malloc(n);
  if (p != NULL) snprintf(p, n, "%s%s%s", dir, ends_with(dir, "/") ? "" : "/", name);
  return p;
}

static int is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* One of the object files the dump writes: "pods.json" (or .yaml with -o yaml). */
static int is_object_file(const char *name, const char *base) {
  size_t k = strlen(base);
  if (strncmp(name, base, k) != 0) return 0;
  return strcmp(name + k, ".json") == 0 || strcmp(name + k, ".yaml") == 0 || strcmp(name + k, ".yml") == 0;
}

/* Counts the files under path (a pod's log directory, or anything else left out). */
static int ignore_tree(const char *path, const char *name, unsigned depth, struct stv_snapshot_read_stats *st,
                       struct stv_err *err) {
  char **v;
  size_t n, i;
  int rc = 0;
  if (!is_dir(path)) {
    count_ignored(st, name);
    return 0;
  }
  if (depth > 4) return 0;
  if ((rc = list_dir(path, &v, &n, err)) != 0) return rc;
  for (i = 0; i < n && rc == 0; i++) {
    char *p = join(path, v[i]);
    if (p == NULL) {
      rc = stv_err_set(err, STV_ENOMEM, "%s: out of memory", path);
      break;
    }
    rc = ignore_tree(p, v[i], depth + 1, st, err);
    stv_free(p);
  }
  free_names(v, n);
  return rc;
}

static int read_dump_dir(const char *dir, stv_json_item_cb cb, void *ctx, struct stv_snapshot_read_stats *st,
                         struct stv_err *err) {
  char **top = NULL, **sub = NULL;
  size_t ntop = 0, nsub = 0, i, j;
  int rc, have_nodes = 0;

  if ((rc = list_dir(dir, &top, &ntop, err)) != 0) return rc;
  for (i = 0; i < ntop; i++)
    if (is_object_file(top[i], "nodes")) have_nodes = 1;
  if (!have_nodes) {
    rc =
        stv_err_set(err, STV_EPARSE,
                    "%s: is a directory, but not one written by kubectl cluster-info dump --output-directory "
                    "(it has no nodes.json); give a snapshot file (kubectl get nodes,pods -A -o json)",
                    dir);
    goto out;
  }
  for (i = 0; i < ntop && rc == 0; i++) {
    char *p = join(dir, top[i]);
    if (p == NULL) {
      rc = stv_err_set(err, STV_ENOMEM, "%s: out of memory", dir);
      break;
    }
    if (is_object_file(top[i], "nodes")) {
      rc = read_path(p, cb, ctx, st, err);
    } else if (is_dir(p)) {
      /* A namespace: its pods and disruption budgets; services, events, logs left out. */
      if ((rc = list_dir(p, &sub, &nsub, err)) == 0) {
        for (j = 0; j < nsub && rc == 0; j++) {
          char *q = join(p, sub[j]);
          if (q == NULL) {
            rc = stv_err_set(err, STV_ENOMEM, "%s: out of memory", p);
            break;
          }
          if (is_object_file(sub[j], "pods") || is_object_file(sub[j], "poddisruptionbudgets"))
            rc = read_path(q, cb, ctx, st, err);
          else
            rc = ignore_tree(q, sub[j], 0, st, err);
          stv_free(q);
        }
        free_names(sub, nsub);
        sub = NULL;
      }
    } else {
      count_ignored(st, top[i]);
    }
    stv_free(p);
  }
out:
  free_names(top, ntop);
  return rc;
}

int stv_kube_read(const char *path, stv_json_item_cb cb, void *ctx, struct stv_snapshot_read_stats *stats,
                  struct stv_err *err) {
  struct stv_err local;
  if (err == NULL) err = &local;
  if (path == NULL) return stv_err_set(err, STV_EINVAL, "no input path");
  return read_path(path, cb, ctx, stats, err);
}
