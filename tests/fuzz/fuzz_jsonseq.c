/*
 * Fuzz target: the sequence mode of the streaming JSON scanner
 * (io/jsonseq.c), the reader of watch streams. The first byte is control:
 * its low 6 bits pick a piece size (1 to 64 bytes), bit 6 any_values, bit
 * 7 a small value limit (64 bytes) in place of the default; the rest is the
 * stream. Properties: the stream fed whole and fed in pieces gives the same
 * values (printed, in the same order, numbered 1, 2, ...), the same code
 * and the same message; errors carry a message; without any_values every
 * value is an object; the count the reader keeps is the callback's; after
 * an error, feeding more delivers nothing and returns the same error.
 */
#include <cjson/cJSON.h>

#include "fuzz.h"
#include "jsonstream.h"

/* What the callback saw: a running hash of the values as printed. */
struct seen {
  uint64_t values;
  uint64_t hash;
  int any;
};

static int on_value(void *ctx, uint64_t n, const cJSON *value, struct stv_err *err) {
  struct seen *s = ctx;
  char *text;
  (void)err;
  FUZZ_CHECK(n == s->values + 1);
  FUZZ_CHECK(s->any || cJSON_IsObject(value));
  text = cJSON_PrintUnformatted(value);
  if (text != NULL) {
    s->hash = stv_hash(text, strlen(text), s->hash);
    cJSON_free(text); /* from the reader's arena */
  }
  s->values++;
  return 0;
}

/* Feeds data[0..size) in pieces of piece bytes, then finishes; returns the code. */
static int feed(const uint8_t *data, size_t size, size_t piece, const struct stv_json_seq_opts *base,
                struct seen *s, struct stv_err *err) {
  struct stv_json_seq_opts o = *base;
  struct stv_json_seq *q = NULL;
  struct stv_err again = {0, ""};
  size_t at = 0;
  int rc;
  memset(s, 0, sizeof(*s));
  s->any = o.any_values;
  o.value = on_value;
  o.ctx = s;
  FUZZ_CHECK(stv_json_seq_new(&q, &o, err) == 0);
  rc = 0;
  while (rc == 0 && at < size) {
    size_t n = size - at < piece ? size - at : piece;
    rc = stv_json_seq_feed(q, data + at, n, err);
    at += n;
  }
  if (rc == 0) rc = stv_json_seq_finish(q, err);
  FUZZ_CHECK(stv_json_seq_count(q) == s->values);
  if (rc != 0) {
    uint64_t before = s->values;
    FUZZ_CHECK(stv_json_seq_feed(q, "{}{}", 4, &again) == rc);
    FUZZ_CHECK(strcmp(again.msg, err->msg) == 0);
    FUZZ_CHECK(s->values == before);
  }
  stv_json_seq_free(q);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv_err e1 = {0, ""}, e2 = {0, ""};
  struct stv_json_seq_opts o = {.name = "watch /fuzz", .what = "event"};
  struct seen whole, pieces;
  size_t piece;
  int rc1, rc2;
  if (size < 1) return 0;
  piece = (size_t)(data[0] & 63) + 1;
  o.any_values = data[0] >> 6 & 1;
  o.max_value = data[0] >> 7 ? 64 : 0;
  data++;
  size--;
  rc1 = feed(data, size, size + 1, &o, &whole, &e1);
  rc2 = feed(data, size, piece, &o, &pieces, &e2);
  fuzz_check_error(rc1, &e1);
  fuzz_check_error(rc2, &e2);
  if (rc1 != 0) FUZZ_CHECK(strncmp(e1.msg, "watch /fuzz: ", 13) == 0);
  if (rc1 != rc2 || whole.values != pieces.values || whole.hash != pieces.hash ||
      (rc1 != 0 && strcmp(e1.msg, e2.msg) != 0)) {
    fprintf(stderr, "whole: rc %d, %llu values, \"%s\"\npieces of %zu: rc %d, %llu values, \"%s\"\n", rc1,
            (unsigned long long)whole.values, e1.msg, piece, rc2, (unsigned long long)pieces.values, e2.msg);
    abort();
  }
  return 0;
}
