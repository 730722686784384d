/*
 * stv-watch-bench: the cost of reading a watch stream, per event. The items
 * of a List file (bench/gen_karpenter.py) become a watch stream of ADDED
 * events, one a line ({"type":"ADDED","object":{...}}\n), which is fed in
 * pieces of 16 KiB (libcurl's largest write) to one of two readers:
 *
 *   seq     the reflector's reader: the scanner's sequence mode
 *           (stv_json_seq_*, io/jsonseq.c), cJSON in the scanner's arena;
 *   braces  the reader it replaced (the reflector's brace counter up to
 *           8918449, reproduced here for the comparison): each event cut
 *           out by a byte loop that skips strings, copied, then parsed by
 *           cJSON_ParseWithLength with malloc'd nodes.
 *
 * Each event is then looked at as the reflector does (type, object,
 * metadata.name, namespace and resourceVersion). feed_stream() holds all of
 * it, so `valgrind --tool=callgrind --toggle-collect=feed_stream` counts
 * only the reading. See "Watch streams" in bench/README.md.
 *
 *     build/bench/stv-watch-bench FILE [--reader seq|braces] [--piece BYTES] [--repeat N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonstream.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The stream being built. */
static struct stv_buf stream;

static int add_event(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  char *text = cJSON_PrintUnformatted(item);
  (void)ctx, (void)index;
  if (text == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  stv_buf_puts(&stream, "{\"type\":\"ADDED\",\"object\":");
  stv_buf_puts(&stream, text);
  stv_buf_puts(&stream, "}\n");
  cJSON_free(text);
  return stream.err;
}

/* What the reflector reads of each event; returns 1 when it looks like one. */
static int look(const cJSON *ev, size_t *sum) {
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
  const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace");
  const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
  if (!cJSON_IsString(type) || !cJSON_IsObject(obj) || !cJSON_IsString(name)) return 0;
  *sum += strlen(name->valuestring) + (cJSON_IsString(ns) ? strlen(ns->valuestring) : 0) +
          (cJSON_IsString(rv) ? strlen(rv->valuestring) : 0);
  return 1;
}

struct count {
  size_t events, sum;
};

static int on_value(void *ctx, uint64_t n, const cJSON *ev, struct stv_err *err) {
  struct count *c = ctx;
  (void)n;
  if (!look(ev, &c->sum)) return stv_err_set(err, STV_EPARSE, "not a watch event");
  c->events++;
  return 0;
}

/* The removed reader: a brace counter that skips strings, then cJSON on the copied event. */
struct braces {
  struct stv_buf ev;
  int depth, in_str, esc;
};

static int braces_feed(struct braces *b, const char *data, size_t len, struct count *c) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = data[i];
    if (b->depth == 0) {
      if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
        start = i + 1;
        continue;
      }
      if (ch != '{') return -1;
      start = i;
      b->depth = 1;
      continue;
    }
    if (b->in_str) {
      if (b->esc)
        b->esc = 0;
      else if (ch == '\\')
        b->esc = 1;
      else if (ch == '"')
        b->in_str = 0;
      continue;
    }
    if (ch == '"')
      b->in_str = 1;
    else if (ch == '{' || ch == '[')
      b->depth++;
    else if (ch == '}' || ch == ']')
      b->depth--;
    if (b->depth > 0) continue;
    if (stv_buf_append(&b->ev, data + start, i + 1 - start) != 0) return -1;
    {
      cJSON *ev = cJSON_ParseWithLength(b->ev.data, b->ev.len);
      int ok = ev != NULL && look(ev, &c->sum);
      cJSON_Delete(ev);
      if (!ok) return -1;
    }
    c->events++;
    b->ev.len = 0;
    start = i + 1;
  }
  if (b->depth > 0 && start < len) stv_buf_append(&b->ev, data + start, len - start);
  return b->ev.err;
}

/* Feeds the whole stream, piece by piece, to one reader. Returns 0 or -1. */
__attribute__((noinline)) static int feed_stream(int seq, size_t piece, struct count *c) {
  struct stv_err err = {0, ""};
  int rc = 0;
  if (seq) {
    struct stv_json_seq *s = NULL;
    struct stv_json_seq_opts o = {.name = "watch", .what = "event", .value = on_value, .ctx = c};
    if (stv_json_seq_new(&s, &o, &err) != 0) return -1;
    for (size_t at = 0; rc == 0 && at < stream.len; at += piece)
      rc = stv_json_seq_feed(s, stream.data + at, stream.len - at < piece ? stream.len - at : piece, &err);
    if (rc == 0) rc = stv_json_seq_finish(s, &err);
    if (rc != 0) fprintf(stderr, "stv-watch-bench: %s\n", err.msg);
    stv_json_seq_free(s);
  } else {
    struct braces b;
    memset(&b, 0, sizeof(b));
    stv_buf_init(&b.ev);
    b.ev.max = STV_JSON_VALUE_MAX;
    for (size_t at = 0; rc == 0 && at < stream.len; at += piece)
      rc = braces_feed(&b, stream.data + at, stream.len - at < piece ? stream.len - at : piece, c);
    if (rc != 0 || b.depth != 0) fprintf(stderr, "stv-watch-bench: the brace counter failed\n");
    rc = rc != 0 || b.depth != 0 ? -1 : 0;
    stv_buf_close(&b.ev);
  }
  return rc != 0 ? -1 : 0;
}

int main(int argc, char **argv) {
  const char *path = NULL, *reader = "seq";
  size_t piece = 16384;
  long repeat = 1;
  struct stv_err err = {0, ""};
  double t0, best = 0;
  struct count c = {0, 0};
  stv_json_init();
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--reader") == 0 && i + 1 < argc)
      reader = argv[++i];
    else if (strcmp(argv[i], "--piece") == 0 && i + 1 < argc)
      piece = (size_t)strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
      repeat = strtol(argv[++i], NULL, 10);
    else if (path == NULL && argv[i][0] != '-')
      path = argv[i];
    else
      path = NULL, i = argc;
  }
  if (path == NULL || piece == 0 || repeat < 1 ||
      (strcmp(reader, "seq") != 0 && strcmp(reader, "braces") != 0)) {
    fprintf(stderr, "usage: stv-watch-bench FILE [--reader seq|braces] [--piece BYTES] [--repeat N]\n");
    return 2;
  }
  stv_buf_init(&stream);
  if (stv_json_stream_file(path, add_event, NULL, &err) != 0) {
    fprintf(stderr, "stv-watch-bench: %s\n", err.msg);
    return 1;
  }
  for (long r = 0; r < repeat; r++) {
    double d;
    memset(&c, 0, sizeof(c));
    t0 = now();
    if (feed_stream(strcmp(reader, "seq") == 0, piece, &c) != 0) return 1;
    d = now() - t0;
    if (r == 0 || d < best) best = d;
  }
  printf(
      "reader %s: %zu events, %zu bytes (%.0f bytes/event), pieces of %zu: best of %ld %.1f ms, %.2f us/event"
      " (check %zu)\n",
      reader, c.events, stream.len, c.events ? (double)stream.len / (double)c.events : 0.0, piece, repeat,
      best * 1e3, c.events ? best * 1e6 / (double)c.events : 0.0, c.sum);
  stv_buf_close(&stream);
  return 0;
}
