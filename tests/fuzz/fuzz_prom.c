/*
 * Fuzz target: Prometheus HTTP API answers (controller/prom/prom_answer.c), fed to the
 * push parser in pieces. The first byte picks the wanted result type (its
 * low two bits) and the piece size (the rest, 1 to 64 bytes); the rest is
 * the answer. Properties: pieces change nothing (the same code, message
 * and series as one piece), series are well formed, errors carry a
 * message.
 */
#include "fuzz.h"
#include "prom.h"

struct seen {
  size_t series, samples;
  uint64_t hash;
};

static int on_series(void *ctx, const struct stv_prom_series *s, struct stv_err *err) {
  struct seen *w = ctx;
  size_t i;
  (void)err;
  FUZZ_CHECK(s->nlabels == 0 || s->labels != NULL);
  for (i = 0; i < s->nlabels; i++) {
    FUZZ_CHECK(s->labels[i].name != NULL && s->labels[i].value != NULL);
    w->hash = stv_hash(s->labels[i].name, strlen(s->labels[i].name), w->hash);
    w->hash = stv_hash(s->labels[i].value, strlen(s->labels[i].value), w->hash);
  }
  FUZZ_CHECK(s->n == 0 || (s->t_ms != NULL && s->v != NULL));
  if (s->n > 0) {
    w->hash = stv_hash(s->t_ms, s->n * sizeof(*s->t_ms), w->hash);
    w->hash = stv_hash(s->v, s->n * sizeof(*s->v), w->hash);
  }
  w->samples += s->n;
  w->series++;
  return 0;
}

/* Parses data[0..size) in pieces of piece bytes (0: one piece). */
static int parse(enum stv_prom_result_type want, const uint8_t *data, size_t size, size_t piece,
                 struct seen *w, struct stv_err *err) {
  struct stv_prom_parser *p = NULL;
  size_t off = 0;
  int rc;
  memset(w, 0, sizeof(*w));
  if ((rc = stv_prom_parser_new(&p, want, on_series, w)) != 0) return stv_err_set(err, rc, "out of memory");
  if (piece == 0) piece = size;
  while (rc == 0 && off < size) {
    size_t n = size - off < piece ? size - off : piece;
    rc = stv_prom_parser_feed(p, (const char *)data + off, n, err);
    off += n;
  }
  if (rc == 0) rc = stv_prom_parser_finish(p, 200, err);
  if (rc == 0) FUZZ_CHECK(stv_prom_parser_nseries(p) == w->series);
  stv_prom_parser_free(p);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv_err e1 = {0, ""}, e2 = {0, ""};
  struct seen one, pieces;
  enum stv_prom_result_type want;
  size_t piece;
  int rc1, rc2;
  if (size < 1) return 0;
  want = (enum stv_prom_result_type)(data[0] & 3);
  piece = (size_t)(data[0] >> 2) + 1;
  data++;
  size--;
  rc1 = parse(want, data, size, 0, &one, &e1);
  rc2 = parse(want, data, size, piece, &pieces, &e2);
  fuzz_check_error(rc1, &e1);
  fuzz_check_error(rc2, &e2);
  if (rc1 != rc2 || one.series != pieces.series || one.samples != pieces.samples || one.hash != pieces.hash ||
      (rc1 != 0 && strcmp(e1.msg, e2.msg) != 0)) {
    fprintf(stderr, "one piece: rc %d, %zu series, \"%s\"\npieces of %zu: rc %d, %zu series, \"%s\"\n", rc1,
            one.series, e1.msg, piece, rc2, pieces.series, e2.msg);
    abort();
  }
  return 0;
}
