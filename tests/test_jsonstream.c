/*
 * Tests for the streaming List reader (io/jsonstream.h). Every
 * document is read with chunk sizes 1, 2, 3, 7, 64 and the default, from
 * memory and from a file, and each run must agree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "jsonstream.h"

#define NAME "snap.json"

static const size_t chunk_sizes[] = {1, 2, 3, 7, 64, 0};
#define NCHUNKS (sizeof(chunk_sizes) / sizeof(chunk_sizes[0]))

/* What the callback saw. */
struct rec {
  long count;
  long index[64];
  char text[4096]; /* items printed unformatted, joined by '|' */
  long stop_at;    /* stop at this index (with stop_code), or -2 */
  int stop_code;
  const char *stop_msg;
  int quiet; /* do not print (and so not allocate) */
};

static void rec_init(struct rec *r) {
  memset(r, 0, sizeof(*r));
  r->stop_at = -2;
}

static int record(void *ctx, long index, const cJSON *item,
                  struct stv_err *err) {
  struct rec *r = ctx;
  if (r->count < 64) r->index[r->count] = index;
  r->count++;
  if (!r->quiet) {
    char *s = cJSON_PrintUnformatted(item);
    size_t used = strlen(r->text);
    if (s == NULL) return stv_err_set(err, STV_ENOMEM, "print failed");
    snprintf(r->text + used, sizeof(r->text) - used, "%s%s", used ? "|" : "",
             s);
    cJSON_free(s);
  }
  if (index == r->stop_at) {
    if (r->stop_msg != NULL) stv_err_set(err, r->stop_code, "%s", r->stop_msg);
    return r->stop_code;
  }
  return 0;
}

/* Writes len bytes of doc to a new temporary file; returns 0 or -1. */
static int write_temp(const char *doc, size_t len, char *path, size_t size) {
  int fd;
  snprintf(path, size, "/tmp/stv-jsonstream-XXXXXX");
  fd = mkstemp(path);
  if (fd < 0) return -1;
  if (len > 0 && write(fd, doc, len) != (ssize_t)len) {
    close(fd);
    unlink(path);
    return -1;
  }
  close(fd);
  return 0;
}

/*
 * Reads doc[0..len) with every chunk size, from memory (named NAME) and
 * from a file. Each run must return want_rc; when want_msg is not NULL
 * the message must be "<name>: <want_msg>"; every run must see the same
 * items. The first run's record goes to *out. Returns 0 when all agree.
 */
static int run_doc_len(const char *doc, size_t len, int want_rc,
                       const char *want_msg, struct rec *out, long stop_at,
                       int stop_code) {
  char path[64];
  size_t c;
  int from_file, bad = 0;

  if (write_temp(doc, len, path, sizeof(path)) != 0) {
    fprintf(stderr, "  cannot write a temporary file\n");
    return -1;
  }
  for (from_file = 0; from_file < 2 && !bad; from_file++) {
    for (c = 0; c < NCHUNKS && !bad; c++) {
      struct rec r;
      struct stv_err err = {0, ""};
      const char *name = from_file ? path : NAME;
      int rc;
      rec_init(&r);
      r.stop_at = stop_at;
      r.stop_code = stop_code;
      r.stop_msg = "Pod a/b: boom";
      stv_json_stream_set_chunk(chunk_sizes[c]);
      if (from_file)
        rc = stv_json_stream_file(path, record, &r, &err);
      else
        rc = stv_json_stream_buffer(NAME, doc, len, record, &r, &err);
      if (rc != want_rc) {
        fprintf(stderr, "  chunk %zu%s: rc %d (%s), want %d\n", chunk_sizes[c],
                from_file ? " file" : "", rc, err.msg, want_rc);
        bad = 1;
      }
      if (want_msg != NULL) {
        char want[STV_ERR_MSG_MAX + 64];
        snprintf(want, sizeof(want), "%s: %s", name, want_msg);
        if (strcmp(err.msg, want) != 0) {
          fprintf(stderr,
                  "  chunk %zu%s: message\n    \"%s\", want\n    \"%s\"\n",
                  chunk_sizes[c], from_file ? " file" : "", err.msg, want);
          bad = 1;
        }
      }
      if (rc != 0 && err.code != rc) {
        fprintf(stderr, "  err.code %d, rc %d\n", err.code, rc);
        bad = 1;
      }
      if (from_file == 0 && c == 0) {
        *out = r;
      } else if (r.count != out->count || strcmp(r.text, out->text) != 0) {
        fprintf(stderr,
                "  chunk %zu%s: saw %ld items \"%s\", first run %ld \"%s\"\n",
                chunk_sizes[c], from_file ? " file" : "", r.count, r.text,
                out->count, out->text);
        bad = 1;
      }
    }
  }
  stv_json_stream_set_chunk(0);
  unlink(path);
  return bad ? -1 : 0;
}

static int run_doc(const char *doc, int want_rc, const char *want_msg,
                   struct rec *out) {
  return run_doc_len(doc, strlen(doc), want_rc, want_msg, out, -2, 0);
}

/* A document with n small items {"i":k}, kubectl's layout. */
static char *list_of(long n) {
  size_t cap = 128 + (size_t)n * 32, used;
  char *s = malloc(cap);
  long k;
  if (s == NULL) return NULL;
  used = (size_t)snprintf(s, cap,
                          "{\n    \"apiVersion\": \"v1\",\n    \"items\": [");
  for (k = 0; k < n; k++)
    used += (size_t)snprintf(s + used, cap - used, "%s\n        {\"i\": %ld}",
                             k ? "," : "", k);
  snprintf(s + used, cap - used,
           "\n    ],\n    \"kind\": \"List\",\n    \"metadata\": "
           "{\"resourceVersion\": \"\"}\n}\n");
  return s;
}

/* ---------------------------------------------------------------------- */
/* Lists and single objects                                               */

TEST(should_deliver_items_in_order_with_their_indexes) {
  struct rec r;
  const char *doc =
      "{\"apiVersion\":\"v1\",\"items\":[{\"kind\":\"Node\",\"n\":0},"
      "{\"kind\":\"Pod\",\"n\":1},{\"kind\":\"Pod\",\"n\":2}],"
      "\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"\"}}";
  CHECK(run_doc(doc, 0, NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 3);
  CHECK_EQ_INT(r.index[0], 0);
  CHECK_EQ_INT(r.index[1], 1);
  CHECK_EQ_INT(r.index[2], 2);
  CHECK(strcmp(r.text,
               "{\"kind\":\"Node\",\"n\":0}|{\"kind\":\"Pod\",\"n\":1}|"
               "{\"kind\":\"Pod\",\"n\":2}") == 0);
}

TEST(should_accept_items_as_the_first_member) {
  struct rec r;
  CHECK(run_doc("{\"items\":[{\"a\":1},{\"b\":[2]}],\"kind\":\"List\"}", 0,
                NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 2);
  CHECK(strcmp(r.text, "{\"a\":1}|{\"b\":[2]}") == 0);
}

TEST(should_accept_items_as_the_last_member) {
  struct rec r;
  CHECK(run_doc("{\"kind\":\"List\",\"metadata\":{\"x\":[1,{\"y\":null}]},"
                "\"n\":-1.5e3,\"ok\":true,\"items\":[{\"a\":1}]}",
                0, NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 1);
  CHECK_EQ_INT(r.index[0], 0);
  CHECK(strcmp(r.text, "{\"a\":1}") == 0);
}

TEST(should_call_nothing_for_an_empty_items_array) {
  struct rec r;
  CHECK(run_doc("{\"apiVersion\":\"v1\",\"items\":[],\"kind\":\"List\"}", 0,
                NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 0);
  CHECK(run_doc("{\"items\":[ \n ]}", 0, NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 0);
}

TEST(should_not_be_fooled_by_brackets_and_escaped_quotes_in_strings) {
  struct rec r;
  const char *doc =
      "{\"metadata\":{\"note\":\"}]{[\\\"\"},\"items\":["
      "{\"s\":\"a}b]c{d[e\",\"q\":\"say \\\"}\\\" ok\",\"bs\":\"\\\\\","
      "\"bs2\":\"x\\\\\\\\\",\"n\":[[[],[{}]],{\"k\":[\"]\"]}]},"
      "{\"t\":\"\\\\\\\"}\"}]}";
  CHECK(run_doc(doc, 0, NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 2);
  CHECK(
      strcmp(r.text,
             "{\"s\":\"a}b]c{d[e\",\"q\":\"say \\\"}\\\" ok\",\"bs\":\"\\\\\","
             "\"bs2\":\"x\\\\\\\\\",\"n\":[[[],[{}]],{\"k\":[\"]\"]}]}|"
             "{\"t\":\"\\\\\\\"}\"}") == 0);
}

static int check_unicode(void *ctx, long index, const cJSON *item,
                         struct stv_err *err) {
  int *ok = ctx;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(item, "s");
  (void)index;
  (void)err;
  *ok = cJSON_IsString(s) &&
        strcmp(s->valuestring, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac\"") ==
            0;
  return 0;
}

TEST(should_decode_unicode_escapes_in_items) {
  const char *doc =
      "{\"items\":[{\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\u20AC\\u0022\"}]}";
  size_t c;
  for (c = 0; c < NCHUNKS; c++) {
    int ok = 0;
    struct stv_err err = {0, ""};
    stv_json_stream_set_chunk(chunk_sizes[c]);
    CHECK_EQ_INT(stv_json_stream_buffer(NAME, doc, strlen(doc), check_unicode,
                                        &ok, &err),
                 0);
    CHECK(ok);
  }
  stv_json_stream_set_chunk(0);
}

TEST(should_deliver_a_document_without_items_whole_with_index_minus_one) {
  struct rec r;
  CHECK(run_doc("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
                "{\"name\":\"web\",\"items\":[1,2]},\"spec\":{}}",
                0, NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 1);
  CHECK_EQ_INT(r.index[0], -1);
  CHECK(strcmp(r.text,
               "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
               "{\"name\":\"web\",\"items\":[1,2]},\"spec\":{}}") == 0);
  CHECK(run_doc(" {} ", 0, NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 1);
  CHECK(strcmp(r.text, "{}") == 0);
}

TEST(should_accept_whitespace_everywhere_and_a_byte_order_mark) {
  struct rec r;
  CHECK(
      run_doc("\xef\xbb\xbf \r\n\t{ \"kind\" : \"List\" ,\n\t\"items\"\n:\r\n[ "
              "{ \"a\" : [ 1 , 2 ] } ,\n { } \n] , \"x\" : 1 \n}\n\n",
              0, NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 2);
  CHECK(strcmp(r.text, "{\"a\":[1,2]}|{}") == 0);
  CHECK(run_doc("\xef\xbb\xbf{\"kind\":\"Pod\"}", 0, NULL, &r) == 0);
  CHECK(strcmp(r.text, "{\"kind\":\"Pod\"}") == 0);
}

TEST(should_recognise_an_escaped_items_name) {
  struct rec r;
  CHECK(run_doc("{\"it\\u0065ms\":[{\"a\":1}]}", 0, NULL, &r) == 0);
  CHECK_EQ_INT(r.count, 1);
  CHECK_EQ_INT(r.index[0], 0);
  CHECK(run_doc("{\"itemsx\":[{\"a\":1}],\"\\\"items\":2}", 0, NULL, &r) == 0);
  CHECK_EQ_INT(r.index[0], -1);
}

TEST(should_read_many_items_from_a_file) {
  struct rec r;
  char *doc = list_of(1000);
  CHECK(doc != NULL);
  if (run_doc(doc, 0, NULL, &r) != 0) {
    free(doc);
    CHECK(0);
  }
  free(doc);
  CHECK_EQ_INT(r.count, 1000);
  CHECK_EQ_INT(r.index[63], 63);
}

static int count_big(void *ctx, long index, const cJSON *item,
                     struct stv_err *err) {
  size_t *len = ctx;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(item, "data");
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(item, "n");
  (void)err;
  if (index != 1) return 0;
  if (!cJSON_IsString(s) || !cJSON_IsArray(n)) return STV_EINVAL;
  *len +=
      strlen(s->valuestring) + (size_t)cJSON_GetArraySize(n) + (size_t)index;
  return 0;
}

/* An item of about 3 MB: a long string with brackets, quotes, escapes. */
static char *big_item_doc(size_t *len) {
  static const char piece[] = "{[\\\"]}\\\\"; /* {["]}\ once decoded */
  size_t n = 3u << 20, cap = n + 4096, k, j, used;
  char *s = malloc(cap);
  if (s == NULL) return NULL;
  used = (size_t)snprintf(s, cap, "{\"items\":[{\"a\":1},{\"data\":\"");
  for (k = 0; k < n / 8; k++)
    for (j = 0; j < 8; j++) s[used++] = piece[j];
  used += (size_t)snprintf(s + used, cap - used, "\",\"n\":[");
  for (k = 0; k < 500; k++)
    used += (size_t)snprintf(s + used, cap - used, "%s[{}]", k ? "," : "");
  used += (size_t)snprintf(s + used, cap - used, "]},{\"b\":2}]}");
  *len = used;
  return s;
}

TEST(should_read_an_item_that_spans_many_chunks) {
  size_t len, c;
  char *doc = big_item_doc(&len);
  CHECK(doc != NULL);
  for (c = 0; c < NCHUNKS; c++) {
    size_t got = 0;
    struct stv_err err = {0, ""};
    int rc;
    stv_json_stream_set_chunk(chunk_sizes[c]);
    rc = stv_json_stream_buffer(NAME, doc, len, count_big, &got, &err);
    if (rc != 0 || got != (3u << 20) / 8 * 6 + 500 + 1) {
      fprintf(stderr, "  chunk %zu: rc %d %s, got %zu\n", chunk_sizes[c], rc,
              err.msg, got);
      free(doc);
      stv_json_stream_set_chunk(0);
      CHECK(0);
    }
  }
  stv_json_stream_set_chunk(0);
  free(doc);
}

TEST(should_only_check_the_document_when_there_is_no_callback) {
  struct stv_err err = {0, ""};
  const char *doc = "{\"items\":[{\"a\":1},{\"b\":2}]}";
  CHECK_EQ_INT(stv_json_stream_buffer(NAME, doc, strlen(doc), NULL, NULL, &err),
               0);
  doc = "{\"items\":[{\"a\":1},{\"b\":2,}]}";
  CHECK_EQ_INT(stv_json_stream_buffer(NAME, doc, strlen(doc), NULL, NULL, NULL),
               STV_EPARSE);
}

/* {"items":[{"k":[[...]]}]} with the item nested `levels` deep. */
static char *nested_doc(size_t levels, size_t *len) {
  size_t k, used;
  char *s = malloc(2 * levels + 64);
  if (s == NULL) return NULL;
  used = (size_t)sprintf(s, "{\"items\":[{\"k\":");
  for (k = 1; k < levels; k++) s[used++] = '[';
  for (k = 1; k < levels; k++) s[used++] = ']';
  used += (size_t)sprintf(s + used, "}]}");
  *len = used;
  return s;
}

TEST(should_accept_nesting_up_to_the_limit_and_reject_deeper) {
  struct rec r;
  size_t len;
  char want[128];
  char *doc = nested_doc(STV_JSON_DEPTH_MAX, &len);
  int ok;
  CHECK(doc != NULL);
  ok = run_doc_len(doc, len, 0, NULL, &r, -2, 0) == 0 && r.count == 1;
  free(doc);
  CHECK(ok);
  /* One level more is refused at the bracket that opens it. */
  doc = nested_doc(STV_JSON_DEPTH_MAX + 1, &len);
  CHECK(doc != NULL);
  snprintf(want, sizeof(want),
           "items[0]: malformed JSON at line 1, column %d: nesting too deep",
           15 + STV_JSON_DEPTH_MAX);
  ok = run_doc_len(doc, len, STV_EPARSE, want, &r, -2, 0) == 0;
  free(doc);
  CHECK(ok);
}

/* ---------------------------------------------------------------------- */
/* The callback                                                           */

TEST(should_stop_when_the_callback_returns_an_error) {
  struct rec r;
  char *doc = list_of(10);
  int ok;
  CHECK(doc != NULL);
  ok = run_doc_len(doc, strlen(doc), STV_ECONFLICT, "items[3] Pod a/b: boom",
                   &r, 3, STV_ECONFLICT) == 0;
  free(doc);
  CHECK(ok);
  CHECK_EQ_INT(r.count, 4);
  CHECK_EQ_INT(r.index[3], 3);
}

TEST(should_put_only_the_name_before_a_single_object_callback_error) {
  struct rec r;
  CHECK(run_doc_len("{\"kind\":\"Pod\"}", 14, STV_EINVAL, "Pod a/b: boom", &r,
                    -1, STV_EINVAL) == 0);
  CHECK_EQ_INT(r.count, 1);
}

static int fail_silently(void *ctx, long index, const cJSON *item,
                         struct stv_err *err) {
  (void)ctx;
  (void)item;
  (void)err;
  return index == 1 ? STV_ENOMEM : 0;
}

static int return_positive(void *ctx, long index, const cJSON *item,
                           struct stv_err *err) {
  (void)ctx;
  (void)index;
  (void)item;
  (void)err;
  return 7;
}

TEST(should_describe_a_callback_error_without_a_message) {
  struct stv_err err = {0, ""};
  const char *doc = "{\"items\":[{},{},{}]}";
  CHECK_EQ_INT(
      stv_json_stream_buffer(NAME, doc, strlen(doc), fail_silently, NULL, &err),
      STV_ENOMEM);
  CHECK(strcmp(err.msg, NAME ": items[1]: out of memory") == 0);
  CHECK_EQ_INT(stv_json_stream_buffer(NAME, doc, strlen(doc), return_positive,
                                      NULL, &err),
               STV_EINVAL);
  CHECK(strcmp(err.msg, NAME ": items[0]: callback returned 7") == 0);
}

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */

TEST(should_report_a_missing_file) {
  struct stv_err err = {0, ""};
  struct rec r;
  rec_init(&r);
  CHECK_EQ_INT(stv_json_stream_file("/nonexistent/snap.json", record, &r, &err),
               -ENOENT);
  CHECK(strcmp(
            err.msg,
            "/nonexistent/snap.json: cannot open: No such file or directory") ==
        0);
  CHECK_EQ_INT(r.count, 0);
}

TEST(should_report_a_directory) {
  struct stv_err err = {0, ""};
  struct rec r;
  rec_init(&r);
  CHECK_EQ_INT(stv_json_stream_file("/tmp", record, &r, &err), -EISDIR);
  CHECK(strcmp(err.msg, "/tmp: is a directory") == 0);
}

TEST(should_report_an_empty_file) {
  struct rec r;
  CHECK(run_doc("", STV_EPARSE, "empty file", &r) == 0);
  CHECK(run_doc(" \n\t\r\n", STV_EPARSE, "empty file", &r) == 0);
  CHECK(run_doc("\xef\xbb\xbf", STV_EPARSE, "empty file", &r) == 0);
}

TEST(should_report_a_top_level_that_is_not_an_object) {
  struct rec r;
  CHECK(run_doc("[{\"a\":1}]", STV_EPARSE, "top level is not a JSON object",
                &r) == 0);
  CHECK(run_doc("  42", STV_EPARSE, "top level is not a JSON object", &r) == 0);
  CHECK(run_doc("\"s\"", STV_EPARSE, "top level is not a JSON object", &r) ==
        0);
  CHECK(run_doc("\xef\xbb", STV_EPARSE, "top level is not a JSON object", &r) ==
        0);
  CHECK(run_doc("\xef\xbb\xbf\xef\xbb\xbf{}", STV_EPARSE,
                "top level is not a JSON object", &r) == 0);
}

TEST(should_report_items_that_is_not_an_array) {
  struct rec r;
  CHECK(run_doc("{\"kind\":\"List\",\"items\":{\"a\":1}}", STV_EPARSE,
                "\"items\" is not an array", &r) == 0);
  CHECK(run_doc("{\"items\":null}", STV_EPARSE, "\"items\" is not an array",
                &r) == 0);
  CHECK(run_doc("{\"items\":\"[]\"}", STV_EPARSE, "\"items\" is not an array",
                &r) == 0);
}

TEST(should_report_an_item_that_is_not_an_object) {
  struct rec r;
  CHECK(run_doc("{\"items\":[{},{},{},42,{}]}", STV_EPARSE,
                "items[3]: not a JSON object", &r) == 0);
  CHECK_EQ_INT(r.count, 3);
  CHECK(run_doc("{\"items\":[true]}", STV_EPARSE, "items[0]: not a JSON object",
                &r) == 0);
  CHECK(run_doc("{\"items\":[null]}", STV_EPARSE, "items[0]: not a JSON object",
                &r) == 0);
  CHECK(run_doc("{\"items\":[{}, \"x\"]}", STV_EPARSE,
                "items[1]: not a JSON object", &r) == 0);
  CHECK(run_doc("{\"items\":[[{}]]}", STV_EPARSE, "items[0]: not a JSON object",
                &r) == 0);
  CHECK(run_doc("{\"items\":[-1]}", STV_EPARSE, "items[0]: not a JSON object",
                &r) == 0);
}

TEST(should_report_malformed_json_in_an_item_at_its_place_in_the_file) {
  struct rec r;
  const char *doc =
      "{\n"
      "  \"items\": [\n"
      "    {\"a\": 1},\n"
      "    {\"b\": 2\n"
      "     \"c\": 3}\n"
      "  ]\n"
      "}\n";
  CHECK(run_doc(
            doc, STV_EPARSE,
            "items[1]: malformed JSON at line 5, column 6: expected ',' or '}'",
            &r) == 0);
  CHECK_EQ_INT(r.count, 1);
  CHECK(
      run_doc("{\"items\":[{\"a\":tru}]}", STV_EPARSE,
              "items[0]: malformed JSON at line 1, column 16: invalid literal",
              &r) == 0);
  CHECK(run_doc("{\"items\":[{\"a\":\"\\q\"}]}", STV_EPARSE,
                "items[0]: malformed JSON at line 1, column 17: invalid escape "
                "in string",
                &r) == 0);
  CHECK(run_doc("{\"items\":[{\"a\":1,}]}", STV_EPARSE,
                "items[0]: malformed JSON at line 1, column 18: expected '\"'",
                &r) == 0);
  CHECK(run_doc("{\"items\":[{\"a\" 1}]}", STV_EPARSE,
                "items[0]: malformed JSON at line 1, column 16: expected ':'",
                &r) == 0);
}

TEST(should_count_columns_after_the_byte_order_mark) {
  struct rec r;
  CHECK(
      run_doc("\xef\xbb\xbf{\"items\":[{\"a\":}]}", STV_EPARSE,
              "items[0]: malformed JSON at line 1, column 16: expected a value",
              &r) == 0);
}

TEST(should_report_mismatched_brackets_where_they_are) {
  struct rec r;
  char *doc = list_of(2000);
  char *p;
  int ok;
  CHECK(doc != NULL);
  /* Turn items[1] into {"i": 1] and check nothing further is read as it. */
  p = strstr(doc, "{\"i\": 1}");
  CHECK(p != NULL);
  p[7] = ']';
  ok = run_doc(
           doc, STV_EPARSE,
           "items[1]: malformed JSON at line 5, column 16: expected ',' or '}'",
           &r) == 0;
  free(doc);
  CHECK(ok);
  CHECK_EQ_INT(r.count, 1);
  CHECK(
      run_doc(
          "{\"items\":[{\"a\":[1}]}", STV_EPARSE,
          "items[0]: malformed JSON at line 1, column 18: expected ',' or ']'",
          &r) == 0);
}

TEST(should_report_malformed_json_outside_items) {
  struct rec r;
  /* Before "items": noticed when "items" is reached, nothing delivered. */
  CHECK(run_doc(
            "{\"apiVersion\":\"v1\",\n\"kind\":nul,\"items\":[{}]}", STV_EPARSE,
            "malformed JSON at line 2, column 8: invalid literal", &r) == 0);
  CHECK_EQ_INT(r.count, 0);
  CHECK(run_doc("{\"m\":{\"a\":[1 2]},\"items\":[{}]}", STV_EPARSE,
                "malformed JSON at line 1, column 14: expected ',' or ']'",
                &r) == 0);
  /* After "items". */
  CHECK(run_doc(
            "{\"items\":[{}],\"metadata\":{\"x\":\"a\tb\"}}", STV_EPARSE,
            "malformed JSON at line 1, column 33: control character in string",
            &r) == 0);
  CHECK_EQ_INT(r.count, 1);
  CHECK(run_doc("{\"items\":[{}],\"n\":01}", STV_EPARSE,
                "malformed JSON at line 1, column 19: invalid number",
                &r) == 0);
  CHECK(run_doc("{\"items\":[{}],\"n\" 1}", STV_EPARSE,
                "malformed JSON at line 1, column 19: expected ':'", &r) == 0);
  CHECK(run_doc("{\"items\":[{}] \"kind\":1}", STV_EPARSE,
                "malformed JSON at line 1, column 15: expected ',' or '}'",
                &r) == 0);
  CHECK(run_doc("{\"items\":[{}}", STV_EPARSE,
                "malformed JSON at line 1, column 13: expected ',' or ']'",
                &r) == 0);
  CHECK(
      run_doc("{\"items\":[{},]}", STV_EPARSE,
              "items[1]: malformed JSON at line 1, column 14: expected a value",
              &r) == 0);
  CHECK(run_doc("{\"items\":[{}],}", STV_EPARSE,
                "malformed JSON at line 1, column 15: expected '\"'", &r) == 0);
  CHECK(run_doc("{,}", STV_EPARSE,
                "malformed JSON at line 1, column 2: expected '\"' or '}'",
                &r) == 0);
  CHECK(run_doc("{\"a\\x\":1,\"items\":[]}", STV_EPARSE,
                "malformed JSON at line 1, column 4: invalid escape in string",
                &r) == 0);
  CHECK(run_doc("{\"a\":\"\\ud800x\",\"items\":[]}", STV_EPARSE,
                "malformed JSON at line 1, column 7: unpaired surrogate in \\u "
                "escape",
                &r) == 0);
  /* In a single object. */
  CHECK(run_doc("{\"kind\":\"Pod\",\n \"spec\":{\"a\":[}]}}", STV_EPARSE,
                "malformed JSON at line 2, column 15: expected a value",
                &r) == 0);
  CHECK_EQ_INT(r.count, 0);
}

TEST(should_report_a_duplicate_items_member) {
  struct rec r;
  CHECK(run_doc("{\"items\":[{}],\"items\":[{}]}", STV_EPARSE,
                "duplicate \"items\" at line 1, column 23", &r) == 0);
}

TEST(should_report_truncation_after_the_last_whole_item) {
  struct rec r;
  char *doc = list_of(60);
  char *p;
  int ok;
  CHECK(doc != NULL);
  p = strstr(doc, "{\"i\": 42}");
  CHECK(p != NULL);
  ok = run_doc_len(doc, (size_t)(p - doc) + 4, STV_EPARSE,
                   "truncated after items[41]", &r, -2, 0) == 0 &&
       r.count == 42;
  ok = ok && run_doc_len(doc, (size_t)(p - doc) - 1, STV_EPARSE,
                         "truncated after items[41]", &r, -2, 0) == 0;
  ok = ok && run_doc_len(doc, (size_t)(p - doc) - 10, STV_EPARSE,
                         "truncated after items[41]", &r, -2, 0) == 0;
  free(doc);
  CHECK(ok);
  CHECK(run_doc("{\"items\":[", STV_EPARSE, "truncated before items[0]", &r) ==
        0);
  CHECK(run_doc("{\"items\":[{\"a\":\"x\\", STV_EPARSE,
                "truncated before items[0]", &r) == 0);
  CHECK(run_doc("{\"items\":[{},{\"a\":[1,{\"b\":", STV_EPARSE,
                "truncated after items[0]", &r) == 0);
  /* A syntax error before the end is reported as such. */
  CHECK(
      run_doc("{\"items\":[{},{\"a\":]", STV_EPARSE,
              "items[1]: malformed JSON at line 1, column 19: expected a value",
              &r) == 0);
}

TEST(should_report_truncation_outside_items) {
  struct rec r;
  CHECK(run_doc("{\"kind\":\"Pod\",\n\"spec\":{\"a\"", STV_EPARSE,
                "truncated at line 2, column 12", &r) == 0);
  CHECK(run_doc("{\"kind\":tr", STV_EPARSE, "truncated at line 1, column 11",
                &r) == 0);
  CHECK(run_doc("{", STV_EPARSE, "truncated at line 1, column 2", &r) == 0);
  CHECK(run_doc("{\"items\":[{}]", STV_EPARSE, "truncated at line 1, column 14",
                &r) == 0);
  CHECK(run_doc("{\"items\":[{}],\"metadata\":{\"a\":[", STV_EPARSE,
                "truncated at line 1, column 32", &r) == 0);
  CHECK(run_doc("{\"items\":[{}],\"meta", STV_EPARSE,
                "truncated at line 1, column 20", &r) == 0);
  CHECK(run_doc("{\"items\":[{}],\"n\":12", STV_EPARSE,
                "truncated at line 1, column 21", &r) == 0);
}

TEST(should_report_trailing_garbage) {
  struct rec r;
  CHECK(run_doc("{\"items\":[{}]}\n\n x", STV_EPARSE,
                "trailing garbage after the document at line 3, column 2",
                &r) == 0);
  CHECK_EQ_INT(r.count, 1);
  /* A single object is not delivered when garbage follows it. */
  CHECK(run_doc("{\"kind\":\"Pod\"}{}", STV_EPARSE,
                "trailing garbage after the document at line 1, column 15",
                &r) == 0);
  CHECK_EQ_INT(r.count, 0);
}

/* head, then a member "data" holding body bytes, then "}]}". */
static char *oversized_doc(const char *head, size_t body, size_t *len) {
  size_t cap = body + 256, used;
  char *s = malloc(cap);
  if (s == NULL) return NULL;
  used = (size_t)snprintf(s, cap, "%s\"data\":\"", head);
  memset(s + used, 'x', body);
  used += body;
  used += (size_t)snprintf(s + used, cap - used, "\"}]}");
  *len = used;
  return s;
}

/*
 * Reads doc with chunk sizes 64 and the default (smaller ones are too
 * slow for 64 MiB) and checks rc and, unless NULL, the message.
 */
static int run_big(const char *doc, size_t len, int want_rc,
                   const char *want_msg) {
  static const size_t sizes[] = {64, 0};
  size_t c;
  int bad = 0;
  for (c = 0; c < 2 && !bad; c++) {
    struct stv_err err = {0, ""};
    int rc;
    stv_json_stream_set_chunk(sizes[c]);
    rc = stv_json_stream_buffer(NAME, doc, len, NULL, NULL, &err);
    if (rc != want_rc || (want_msg != NULL && strcmp(err.msg, want_msg) != 0)) {
      fprintf(stderr, "  chunk %zu: rc %d \"%s\", want %d \"%s\"\n", sizes[c],
              rc, err.msg, want_rc, want_msg ? want_msg : "");
      bad = 1;
    }
  }
  stv_json_stream_set_chunk(0);
  return bad ? -1 : 0;
}

TEST(should_accept_an_item_of_exactly_64_mib) {
  size_t len;
  /* items[1] is {"data":"x..."}: 11 bytes around the string. */
  char *doc = oversized_doc("{\"items\":[{},{", STV_JSON_ITEM_MAX - 11, &len);
  int ok;
  CHECK(doc != NULL);
  ok = run_big(doc, len, 0, NULL) == 0;
  free(doc);
  CHECK(ok);
}

TEST(should_refuse_an_item_larger_than_64_mib) {
  size_t len;
  char *doc = oversized_doc("{\"items\":[{},{", STV_JSON_ITEM_MAX - 10, &len);
  int ok;
  CHECK(doc != NULL);
  ok = run_big(doc, len, STV_ELIMIT,
               NAME ": items[1]: item larger than 64 MiB") == 0;
  free(doc);
  CHECK(ok);
  /* Far larger, so that the limit is met before the item ends. */
  doc = oversized_doc("{\"items\":[{},{", STV_JSON_ITEM_MAX + (4u << 20), &len);
  CHECK(doc != NULL);
  ok = run_big(doc, len, STV_ELIMIT,
               NAME ": items[1]: item larger than 64 MiB") == 0;
  free(doc);
  CHECK(ok);
}

TEST(should_report_a_syntax_error_rather_than_the_size_of_an_endless_item) {
  size_t len;
  /* A bad escape early on keeps the string, and so the item, open. */
  char *doc =
      oversized_doc("{\"items\":[{\"a\":\"\\q\",", STV_JSON_ITEM_MAX, &len);
  int ok;
  CHECK(doc != NULL);
  ok = run_big(doc, len, STV_EPARSE,
               NAME
               ": items[0]: malformed JSON at line 1, column 17: invalid "
               "escape in string") == 0;
  free(doc);
  CHECK(ok);
}

TEST(should_refuse_a_single_object_larger_than_64_mib) {
  size_t len;
  char *doc = oversized_doc("{\"kind\":\"Pod\",", STV_JSON_ITEM_MAX, &len);
  int ok;
  CHECK(doc != NULL);
  len -= 2; /* "}]}" becomes "}" */
  ok = run_big(doc, len, STV_ELIMIT,
               NAME ": single object larger than 64 MiB") == 0;
  free(doc);
  CHECK(ok);
}

TEST(should_refuse_a_member_larger_than_64_mib_after_items) {
  size_t len;
  char *doc =
      oversized_doc("{\"items\":[],\"metadata\":{", STV_JSON_ITEM_MAX, &len);
  int ok;
  CHECK(doc != NULL);
  len -= 1; /* "}]}" becomes "}}" */
  doc[len - 1] = '}';
  ok = run_big(doc, len, STV_ELIMIT,
               NAME ": member \"metadata\" larger than 64 MiB") == 0;
  free(doc);
  CHECK(ok);
}

TEST(should_show_control_characters_in_a_member_name_as_marks) {
  size_t len;
  char *doc =
      oversized_doc("{\"items\":[],\"a\\tb\":{", STV_JSON_ITEM_MAX, &len);
  int ok;
  CHECK(doc != NULL);
  len -= 1;
  doc[len - 1] = '}';
  ok = run_big(doc, len, STV_ELIMIT,
               NAME ": member \"a?b\" larger than 64 MiB") == 0;
  free(doc);
  CHECK(ok);
}

/* ---------------------------------------------------------------------- */
/* Allocation failures                                                    */

/*
 * Fails the n-th allocation for n = 0, 1, ...: each failure must be a clean
 * ENOMEM. Some failures are tolerated (the reused parse arena only serves
 * later items), so the sweep ends after a long run of successes; *runs is
 * the number of failures seen.
 */
static int alloc_loop(const char *doc, long want_items, long *runs) {
  long n, ok_run = 0;
  *runs = 0;
  for (n = 0; n < 1000 && ok_run < 64; n++) {
    struct rec r;
    struct stv_err err = {0, ""};
    int rc;
    rec_init(&r);
    r.quiet = 1;
    stv_alloc_fail_after(n);
    rc = stv_json_stream_buffer(NAME, doc, strlen(doc), record, &r, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) {
      if (r.count != want_items) {
        fprintf(stderr, "  n=%ld: %ld items, want %ld\n", n, r.count,
                want_items);
        return -1;
      }
      ok_run++;
      continue;
    }
    ok_run = 0;
    (*runs)++;
    if (rc != STV_ENOMEM || strstr(err.msg, "out of memory") == NULL ||
        strncmp(err.msg, NAME ": ", strlen(NAME) + 2) != 0) {
      fprintf(stderr, "  n=%ld: rc %d %s\n", n, rc, err.msg);
      return -1;
    }
  }
  return ok_run >= 64 ? 0 : -1;
}

TEST(should_return_enomem_cleanly_whichever_allocation_fails) {
  long runs = 0;
  size_t c;
  for (c = 0; c < NCHUNKS; c++) {
    stv_json_stream_set_chunk(chunk_sizes[c]);
    CHECK(
        alloc_loop(
            "{\"apiVersion\":\"v1\",\"items\":[{\"a\":[1,\"x\",{\"b\":null}]},"
            "{\"c\":\"\\u00e9\"}],\"kind\":\"List\",\"metadata\":{\"r\":\"\"}}",
            2, &runs) == 0);
    /* Items are parsed into a reused arena: few allocations, but each can fail. */
    CHECK(runs >= 2);
    CHECK(alloc_loop("{\"kind\":\"Pod\",\"spec\":{\"a\":[1,2,{\"b\":true}]}}",
                     1, &runs) == 0);
    CHECK(runs > 5);
  }
  stv_json_stream_set_chunk(0);
}

/* ---------------------------------------------------------------------- */
/* Random documents                                                       */

static unsigned long long rng = 0x9E3779B97F4A7C15ULL;

static unsigned rnd(unsigned n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng % n);
}

struct gen {
  char *s;
  size_t len;
  size_t cap;
};

static void put(struct gen *g, const char *t) {
  size_t n = strlen(t);
  if (g->len + n + 1 > g->cap) {
    g->cap = (g->len + n + 1) * 2;
    g->s = realloc(g->s, g->cap);
    if (g->s == NULL) abort();
  }
  memcpy(g->s + g->len, t, n + 1);
  g->len += n;
}

static void gen_ws(struct gen *g) {
  static const char *const ws[] = {"", "", "", " ", "\n", "\r\n  ", "\t"};
  put(g, ws[rnd(7)]);
}

static void gen_string(struct gen *g) {
  static const char *const parts[] = {"a",
                                      "kube",
                                      "{",
                                      "}",
                                      "[",
                                      "]",
                                      "\\\"",
                                      "\\\\",
                                      "\\/",
                                      "\\n",
                                      "\\t",
                                      "\\u00e9",
                                      "\\ud83d\\ude00",
                                      "\xc3\xa9",
                                      " ",
                                      ":",
                                      ",",
                                      "\\\\\\\""};
  unsigned n = rnd(8), k;
  put(g, "\"");
  for (k = 0; k < n; k++) put(g, parts[rnd(18)]);
  put(g, "\"");
}

static void gen_value(struct gen *g, int depth);

static void gen_object(struct gen *g, int depth) {
  unsigned n = rnd(5), k;
  put(g, "{");
  for (k = 0; k < n; k++) {
    if (k) put(g, ",");
    gen_ws(g);
    gen_string(g);
    gen_ws(g);
    put(g, ":");
    gen_ws(g);
    gen_value(g, depth + 1);
    gen_ws(g);
  }
  put(g, "}");
}

static void gen_value(struct gen *g, int depth) {
  static const char *const scalars[] = {"0",       "-12",  "3.25",  "1e5",
                                        "-0.5E-3", "true", "false", "null"};
  unsigned k = depth > 5 ? 2 + rnd(2) : rnd(4);
  if (k == 0) {
    gen_object(g, depth);
  } else if (k == 1) {
    unsigned n = rnd(4), i;
    put(g, "[");
    for (i = 0; i < n; i++) {
      if (i) put(g, ",");
      gen_ws(g);
      gen_value(g, depth + 1);
      gen_ws(g);
    }
    put(g, "]");
  } else if (k == 2) {
    gen_string(g);
  } else {
    put(g, scalars[rnd(8)]);
  }
}

/* A List whose members come in a random order; items holds nitems objects. */
static void gen_list(struct gen *g, unsigned nitems) {
  unsigned order = rnd(3), m, i;
  g->len = 0;
  put(g, rnd(4) == 0 ? "\xef\xbb\xbf{" : "{");
  for (m = 0; m < 3; m++) {
    if (m) put(g, ",");
    gen_ws(g);
    if (m == order) {
      put(g, "\"items\":");
      gen_ws(g);
      put(g, "[");
      for (i = 0; i < nitems; i++) {
        if (i) put(g, ",");
        gen_ws(g);
        gen_object(g, 1);
        gen_ws(g);
      }
      put(g, "]");
    } else {
      put(g, m == (order + 1) % 3 ? "\"kind\":\"List\"" : "\"metadata\":");
      if (m != (order + 1) % 3) gen_value(g, 1);
    }
    gen_ws(g);
  }
  put(g, "}");
  gen_ws(g);
}

struct cmp {
  const cJSON *items; /* the whole document's "items", parsed by cJSON */
  long seen;
  int same;
};

static int compare_item(void *ctx, long index, const cJSON *item,
                        struct stv_err *err) {
  struct cmp *c = ctx;
  /* Printed, since cJSON_Compare mismatches objects with repeated names. */
  char *a = cJSON_PrintUnformatted(item);
  char *b = cJSON_PrintUnformatted(cJSON_GetArrayItem(c->items, (int)index));
  (void)err;
  if (index != c->seen || a == NULL || b == NULL || strcmp(a, b) != 0)
    c->same = 0;
  cJSON_free(a);
  cJSON_free(b);
  c->seen++;
  return 0;
}

TEST(should_deliver_the_items_cjson_finds_in_random_documents) {
  struct gen g = {NULL, 0, 0};
  int doc;
  for (doc = 0; doc < 300; doc++) {
    cJSON *whole;
    const char *text;
    size_t c;
    int ok = 1;
    gen_list(&g, rnd(6));
    text = strncmp(g.s, "\xef\xbb\xbf", 3) == 0 ? g.s + 3 : g.s;
    whole = cJSON_Parse(text);
    if (whole == NULL) fprintf(stderr, "  cJSON refused: %s\n", g.s);
    CHECK(whole != NULL);
    for (c = 0; c < NCHUNKS + 2 && ok; c++) {
      struct cmp cm = {cJSON_GetObjectItemCaseSensitive(whole, "items"), 0, 1};
      struct stv_err err = {0, ""};
      int rc;
      stv_json_stream_set_chunk(c < NCHUNKS ? chunk_sizes[c] : 1 + rnd(200));
      rc = stv_json_stream_buffer(NAME, g.s, g.len, compare_item, &cm, &err);
      if (rc != 0 || !cm.same || cm.seen != cJSON_GetArraySize(cm.items)) {
        fprintf(stderr, "  rc %d %s, same %d, seen %ld on\n%s\n", rc, err.msg,
                cm.same, cm.seen, g.s);
        ok = 0;
      }
    }
    cJSON_Delete(whole);
    if (!ok) {
      free(g.s);
      stv_json_stream_set_chunk(0);
      CHECK(0);
    }
  }
  stv_json_stream_set_chunk(0);
  free(g.s);
}

static int count_only(void *ctx, long index, const cJSON *item,
                      struct stv_err *err) {
  long *n = ctx;
  (void)index;
  (void)item;
  (void)err;
  (*n)++;
  return 0;
}

/*
 * Damaged documents (bytes changed, removed or cut off) give the same
 * code, message and items whatever the chunk size, and a document the
 * reader accepts is one cJSON accepts whole.
 */
TEST(should_answer_the_same_whatever_the_chunk_size_on_damaged_documents) {
  static const char damage[] = "{}[]\",:\\ xe1-0.tun";
  struct gen g = {NULL, 0, 0};
  int doc, accepted = 0;
  for (doc = 0; doc < 2000; doc++) {
    struct stv_err first = {0, ""};
    long first_items = 0;
    int first_rc = 0, ok = 1;
    size_t c, k, hits = 1 + rnd(3);
    gen_list(&g, rnd(4));
    for (k = 0; k < hits && g.len > 0; k++) {
      size_t at = rnd((unsigned)g.len);
      switch (rnd(3)) {
        case 0:
          g.s[at] = damage[rnd(sizeof(damage) - 1)];
          break;
        case 1:
          memmove(g.s + at, g.s + at + 1, g.len - at);
          g.len--;
          break;
        default:
          g.len = at;
          g.s[at] = '\0';
          break;
      }
    }
    for (c = 0; c < NCHUNKS && ok; c++) {
      struct stv_err err = {0, ""};
      long items = 0;
      int rc;
      stv_json_stream_set_chunk(chunk_sizes[c]);
      rc = stv_json_stream_buffer(NAME, g.s, g.len, count_only, &items, &err);
      if (c == 0) {
        first = err;
        first_rc = rc;
        first_items = items;
        if (rc == 0) {
          /* cJSON reads a NUL-terminated copy; the reader took len bytes. */
          const char *t = strncmp(g.s, "\xef\xbb\xbf", 3) == 0 ? g.s + 3 : g.s;
          cJSON *whole = strlen(g.s) == g.len ? cJSON_Parse(t) : NULL;
          if (whole == NULL && strlen(g.s) == g.len) {
            fprintf(stderr, "  accepted but cJSON refuses:\n%s\n", g.s);
            ok = 0;
          }
          cJSON_Delete(whole);
          accepted++;
        }
      } else if (rc != first_rc || items != first_items ||
                 strcmp(err.msg, first.msg) != 0) {
        fprintf(stderr,
                "  chunk %zu: %d \"%s\" %ld items, chunk 1: %d \"%s\" %ld "
                "on\n%.*s\n",
                chunk_sizes[c], rc, err.msg, items, first_rc, first.msg,
                first_items, (int)g.len, g.s);
        ok = 0;
      }
    }
    if (!ok) {
      free(g.s);
      stv_json_stream_set_chunk(0);
      CHECK(0);
    }
  }
  stv_json_stream_set_chunk(0);
  free(g.s);
  CHECK(accepted > 20);
}
