/*
 * Tests for the sequence mode of the streaming JSON scanner
 * (io/jsonstream.h: stv_json_seq_*), the reader of watch streams. Every
 * stream is fed whole, split in two at every byte, and in pieces of 1, 2,
 * 3, 7 and 64 bytes; every way must deliver the same values and the same
 * error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "jsonstream.h"

#define NAME "watch /api/v1/pods"

/* What the callback saw. */
struct seen {
  uint64_t count;
  char text[8192]; /* values printed unformatted, joined by '|' */
  uint64_t stop_at;
  int stop_code;
  const char *stop_msg;
};

static int record(void *ctx, uint64_t n, const cJSON *value, struct stv_err *err) {
  struct seen *s = ctx;
  char *p = cJSON_PrintUnformatted(value);
  size_t used = strlen(s->text);
  if (p == NULL) return stv_err_set(err, STV_ENOMEM, "print failed");
  s->count++;
  if (n != s->count)
    return stv_err_set(err, STV_EINVAL, "numbered %llu, expected %llu", (unsigned long long)n,
                       (unsigned long long)s->count);
  snprintf(s->text + used, sizeof(s->text) - used, "%s%s", used ? "|" : "", p);
  cJSON_free(p);
  if (n == s->stop_at) {
    if (s->stop_msg != NULL) stv_err_set(err, s->stop_code, "%s", s->stop_msg);
    return s->stop_code;
  }
  return 0;
}

/* The outcome of one way of feeding a stream. */
struct run {
  int rc;
  char msg[STV_ERR_MSG_MAX];
  struct seen seen;
};

/*
 * Feeds doc[0..len) in the pieces that cuts[] (ascending offsets, ending
 * with len) marks, then finishes; a feed error stops it. Calls after the
 * error must return the same error.
 */
static int feed_cuts(const struct stv_json_seq_opts *base, const char *doc, const size_t *cuts, size_t ncuts,
                     struct run *out) {
  struct stv_json_seq_opts o = *base;
  struct stv_json_seq *s = NULL;
  struct stv_err err = {0, ""}, again = {0, ""};
  size_t from = 0;
  memset(out, 0, sizeof(*out));
  o.value = record;
  o.ctx = &out->seen;
  out->seen.stop_at = base->ctx != NULL ? ((const struct seen *)base->ctx)->stop_at : 0;
  out->seen.stop_code = base->ctx != NULL ? ((const struct seen *)base->ctx)->stop_code : 0;
  out->seen.stop_msg = base->ctx != NULL ? ((const struct seen *)base->ctx)->stop_msg : NULL;
  if (stv_json_seq_new(&s, &o, &err) != 0) return -1;
  for (size_t k = 0; k < ncuts && out->rc == 0; k++) {
    out->rc = stv_json_seq_feed(s, doc + from, cuts[k] - from, &err);
    from = cuts[k];
  }
  if (out->rc == 0) out->rc = stv_json_seq_finish(s, &err);
  if (out->rc != 0) {
    snprintf(out->msg, sizeof(out->msg), "%s", err.msg);
    /* Sticky: later calls give the same error and deliver nothing more. */
    if (stv_json_seq_feed(s, "{}", 2, &again) != out->rc || strcmp(again.msg, err.msg) != 0 ||
        stv_json_seq_finish(s, &again) != out->rc || stv_json_seq_count(s) > out->seen.count) {
      stv_json_seq_free(s);
      return -1;
    }
  }
  stv_json_seq_free(s);
  return 0;
}

static int same(const struct run *a, const struct run *b, const char *how) {
  if (a->rc == b->rc && strcmp(a->msg, b->msg) == 0 && a->seen.count == b->seen.count &&
      strcmp(a->seen.text, b->seen.text) == 0)
    return 1;
  fprintf(stderr, "  %s: rc %d \"%s\" %llu values \"%.200s\"\n  whole: rc %d \"%s\" %llu values \"%.200s\"\n",
          how, b->rc, b->msg, (unsigned long long)b->seen.count, b->seen.text, a->rc, a->msg,
          (unsigned long long)a->seen.count, a->seen.text);
  return 0;
}

/* Feeds doc whole, then split at every byte, then in small pieces; all must agree. *whole gets the first. */
static int feed_every_way(const struct stv_json_seq_opts *o, const char *doc, struct run *whole) {
  size_t len = strlen(doc);
  static const size_t sizes[] = {1, 2, 3, 7, 64};
  struct run r;
  size_t cuts[2];
  char how[64];
  cuts[0] = len;
  if (feed_cuts(o, doc, cuts, 1, whole) != 0) return -1;
  for (size_t at = 0; at <= len; at++) {
    cuts[0] = at;
    cuts[1] = len;
    snprintf(how, sizeof(how), "split at %zu", at);
    if (feed_cuts(o, doc, cuts, 2, &r) != 0 || !same(whole, &r, how)) return -1;
  }
  for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    size_t n = (len + sizes[k] - 1) / sizes[k], *many = malloc((n + 1) * sizeof(*many));
    size_t m = 0;
    int ok;
    if (many == NULL) return -1;
    for (size_t at = sizes[k]; at < len; at += sizes[k]) many[m++] = at;
    many[m++] = len;
    snprintf(how, sizeof(how), "pieces of %zu", sizes[k]);
    ok = feed_cuts(o, doc, many, m, &r) == 0 && same(whole, &r, how);
    free(many);
    if (!ok) return -1;
  }
  return 0;
}

static const struct stv_json_seq_opts watch = {.name = NAME, .what = "event"};

/* ---------------------------------------------------------------------- */

TEST(should_deliver_each_event_of_a_watch_stream_split_at_every_byte) {
  const char *doc =
      "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
      "\"1\"},"
      "\"spec\":{\"containers\":[{\"args\":[\"{\",\"]\",\"\\\"}\"]}]}}}\n"
      "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"caf\xc3\xa9-\\u00e9\",\"labels\":{\"e\":"
      "\"\\ud83d\\ude00 \xf0\x9f\x98\x80 \\\\\"}}}}\n"
      "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"12\"}}}\n";
  struct run r;
  CHECK(feed_every_way(&watch, doc, &r) == 0);
  CHECK_EQ_INT(r.rc, 0);
  CHECK_EQ_INT(r.seen.count, 3);
  CHECK_STR_CONTAINS(r.seen.text, "\"args\":[\"{\",\"]\",\"\\\"}\"]");
  CHECK_STR_CONTAINS(r.seen.text, "\"name\":\"caf\xc3\xa9-\xc3\xa9\"");
  CHECK_STR_CONTAINS(r.seen.text, "\"e\":\"\xf0\x9f\x98\x80 \xf0\x9f\x98\x80 \\\\\"");
  CHECK_STR_CONTAINS(r.seen.text, "|{\"type\":\"BOOKMARK\"");
}

TEST(should_take_several_values_per_chunk_with_any_whitespace_or_none_between) {
  const char *doc = "  \r\n{}\n\n\t{\"a\":[1,{\"b\":null}]}\r\n{}{\"c\":\"}\"}   \n";
  struct run r;
  CHECK(feed_every_way(&watch, doc, &r) == 0);
  CHECK_EQ_INT(r.rc, 0);
  CHECK_EQ_INT(r.seen.count, 4);
  CHECK(strcmp(r.seen.text, "{}|{\"a\":[1,{\"b\":null}]}|{}|{\"c\":\"}\"}") == 0);
  /* Nothing at all, or only whitespace, is an empty stream. */
  CHECK(feed_every_way(&watch, "", &r) == 0 && r.rc == 0 && r.seen.count == 0);
  CHECK(feed_every_way(&watch, " \n\n ", &r) == 0 && r.rc == 0 && r.seen.count == 0);
}

TEST(should_refuse_an_event_over_the_limit_naming_the_stream_the_limit_and_the_position) {
  char doc[512];
  struct stv_json_seq_opts o = watch;
  struct run r;
  o.max_value = 64;
  snprintf(doc, sizeof(doc),
           "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"ADDED\",\"object\":{\"data\":\"%0100d\"}}\n{}\n",
           7);
  CHECK(feed_every_way(&o, doc, &r) == 0);
  CHECK_EQ_INT(r.rc, STV_ELIMIT);
  CHECK(strcmp(r.msg, NAME ": event 2 (begun at line 2, column 1) is larger than the limit of 64 bytes") ==
        0);
  CHECK_EQ_INT(r.seen.count, 1); /* the third never comes */
  /* A value of exactly the limit passes; the stream as a whole may be far larger. */
  {
    char *big = malloc(200 * 70 + 1);
    size_t off = 0;
    CHECK(big != NULL);
    for (int i = 0; i < 200; i++) off += (size_t)sprintf(big + off, "{\"i\":%03d,\"pad\":\"%046d\"}\n", i, 0);
    CHECK(off == 200 * 65);
    {
      size_t cuts[] = {off / 3, off / 2 + 1, off};
      CHECK(feed_cuts(&o, big, cuts, 3, &r) == 0);
    }
    free(big);
    CHECK_EQ_INT(r.rc, 0);
    CHECK_EQ_INT(r.seen.count, 200);
  }
}

TEST(should_stop_at_malformed_json_mid_stream_and_deliver_nothing_after) {
  struct run r;
  CHECK(feed_every_way(&watch, "{\"a\":1}\n{\"a\":,\"b\":2}\n{\"c\":3}\n", &r) == 0);
  CHECK_EQ_INT(r.rc, STV_EPARSE);
  CHECK(strcmp(r.msg, NAME ": event 2: malformed JSON at line 2, column 6: expected a value") == 0);
  CHECK(strcmp(r.seen.text, "{\"a\":1}") == 0);
  /* A bracket that does not match is found by the scanner, explained by the checker. */
  CHECK(feed_every_way(&watch, "{}\n  {\"a\":[1}\n{}", &r) == 0);
  CHECK_EQ_INT(r.rc, STV_EPARSE);
  CHECK(strcmp(r.msg, NAME ": event 2: malformed JSON at line 2, column 10: expected ',' or ']'") == 0);
  CHECK_EQ_INT(r.seen.count, 1);
  /* Garbage between values. */
  CHECK(feed_every_way(&watch, "{}\n}{}", &r) == 0);
  CHECK(r.rc == STV_EPARSE && r.seen.count == 1);
  CHECK(strcmp(r.msg, NAME ": event 2: malformed JSON at line 2, column 1: expected a JSON value") == 0);
  /* An invalid escape inside a string, which only the parser and the checker see. */
  CHECK(feed_every_way(&watch, "{\"a\":\"\\q\"}", &r) == 0);
  CHECK(r.rc == STV_EPARSE && r.seen.count == 0);
  CHECK(strcmp(r.msg, NAME ": event 1: malformed JSON at line 1, column 7: invalid escape in string") == 0);
}

TEST(should_say_where_a_stream_ends_inside_an_event) {
  struct run r;
  CHECK(feed_every_way(&watch, "{\"type\":\"ADDED\"}\n\n  {\"type\":\"MOD", &r) == 0);
  CHECK_EQ_INT(r.rc, STV_EPARSE);
  CHECK(strcmp(r.msg, NAME ": truncated inside event 2 (begun at line 3, column 3)") == 0);
  CHECK_EQ_INT(r.seen.count, 1);
}

TEST(should_take_only_objects_unless_any_values_is_set) {
  struct stv_json_seq_opts any = watch;
  struct run r;
  CHECK(feed_every_way(&watch, "{}\n[1]", &r) == 0);
  CHECK(r.rc == STV_EPARSE && r.seen.count == 1);
  CHECK(strcmp(r.msg, NAME ": event 2 (begun at line 2, column 1) is not a JSON object") == 0);
  any.any_values = 1;
  CHECK(feed_every_way(&any, "1 \"s\\\"x\" true\nnull -2.5e3[1,[]]{}\"\"false", &r) == 0);
  CHECK_EQ_INT(r.rc, 0);
  CHECK(strcmp(r.seen.text, "1|\"s\\\"x\"|true|null|-2500|[1,[]]|{}|\"\"|false") == 0);
  CHECK(feed_every_way(&any, "1 tru", &r) == 0);
  CHECK(r.rc == STV_EPARSE && r.seen.count == 1);
  CHECK(strcmp(r.msg, NAME ": event 2: malformed JSON at line 1, column 3: invalid literal") == 0);
  CHECK(feed_every_way(&any, "[1] 1.5e ", &r) == 0);
  CHECK(r.rc == STV_EPARSE && r.seen.count == 1);
  CHECK(strcmp(r.msg, NAME ": event 2: malformed JSON at line 1, column 5: invalid number") == 0);
}

TEST(should_put_the_stream_and_the_event_before_the_callbacks_message) {
  struct seen stop = {.stop_at = 2, .stop_code = STV_EIO, .stop_msg = "ERROR 410: too old resource version"};
  struct stv_json_seq_opts o = watch;
  struct run r;
  o.ctx = &stop;
  CHECK(feed_every_way(&o, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", &r) == 0);
  CHECK_EQ_INT(r.rc, STV_EIO);
  CHECK(strcmp(r.msg, NAME ": event 2: ERROR 410: too old resource version") == 0);
  CHECK_EQ_INT(r.seen.count, 2);
  stop.stop_code = 3; /* a positive return is an invalid callback answer */
  stop.stop_msg = NULL;
  CHECK(feed_every_way(&o, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", &r) == 0);
  CHECK_EQ_INT(r.rc, STV_EINVAL);
  CHECK(strcmp(r.msg, NAME ": event 2: callback returned 3") == 0);
}

TEST(should_report_nesting_too_deep_without_crashing) {
  char *doc = malloc(3 * 1001 + 8);
  struct run r;
  size_t k = 0;
  CHECK(doc != NULL);
  for (int i = 0; i < 1001; i++) doc[k++] = '[';
  doc[k++] = '\0';
  {
    struct stv_json_seq_opts any = watch;
    size_t cut = k - 1;
    any.any_values = 1;
    CHECK(feed_cuts(&any, doc, &cut, 1, &r) == 0);
  }
  free(doc);
  CHECK_EQ_INT(r.rc, STV_EPARSE);
  CHECK_STR_CONTAINS(r.msg, NAME ": event 1: malformed JSON at line 1, column 1001: nesting too deep");
}

TEST(should_fail_cleanly_when_allocations_fail) {
  const char *doc =
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n{\"type\":\"DELETED\"}\n";
  long failures = 0, ok_run = 0;
  for (long n = 0; n < 500 && ok_run < 32; n++) {
    struct stv_json_seq *s = NULL;
    struct seen seen = {0};
    struct stv_err err = {0, ""};
    struct stv_json_seq_opts o = watch;
    int rc;
    o.value = record;
    o.ctx = &seen;
    stv_alloc_fail_after(n);
    rc = stv_json_seq_new(&s, &o, &err);
    if (rc == 0) rc = stv_json_seq_feed(s, doc, strlen(doc), &err);
    if (rc == 0) rc = stv_json_seq_finish(s, &err);
    stv_alloc_fail_after(-1);
    stv_json_seq_free(s);
    if (rc == 0) {
      CHECK_EQ_INT(seen.count, 2);
      ok_run++;
      continue;
    }
    ok_run = 0;
    failures++;
    if (rc != STV_ENOMEM) fprintf(stderr, "  n=%ld: %s\n", n, err.msg);
    CHECK_EQ_INT(rc, STV_ENOMEM);
  }
  CHECK(failures > 0 && ok_run >= 32);
}

TEST(should_count_lines_through_long_pretty_printed_values) {
  /* Values of thousands of lines (the newline counter's blocks of 4,080 bytes), then a malformed one. */
  size_t cap = 1 << 20, off = 0, line = 1, col;
  char *doc = malloc(cap);
  char want[160];
  struct run r, p;
  size_t cuts[64], m = 0;
  CHECK(doc != NULL);
  for (int v = 0; v < 3; v++) {
    off += (size_t)snprintf(doc + off, cap - off, "{\"v\":%d,\"list\":[\n", v);
    for (int i = 0; i < 3000 + v * 1234; i++)
      off += (size_t)snprintf(doc + off, cap - off, "%*s%d,%s", i % 40, "", i, i % 7 ? "\n" : "\n\n");
    off += (size_t)snprintf(doc + off, cap - off, "0]}%s", v == 1 ? "" : "\n");
  }
  off += (size_t)snprintf(doc + off, cap - off, "  {\"a\":\n\n   ,}");
  for (size_t i = 0; i < off; i++) line += doc[i] == '\n';
  col = off - (size_t)(strrchr(doc, '\n') - doc) - 2; /* the ',' */
  snprintf(want, sizeof(want), NAME ": event 4: malformed JSON at line %zu, column %zu: expected a value",
           line, col);
  cuts[0] = off;
  CHECK(feed_cuts(&watch, doc, cuts, 1, &r) == 0);
  for (size_t at = 4093; at < off && m < 63; at += off / 50) cuts[m++] = at;
  cuts[m++] = off;
  CHECK(feed_cuts(&watch, doc, cuts, m, &p) == 0);
  free(doc);
  CHECK(same(&r, &p, "pieces"));
  CHECK_EQ_INT(r.seen.count, 3);
  CHECK(strcmp(r.msg, want) == 0);
}
