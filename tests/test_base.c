/* Tests of the base layer (base/): one behaviour per test. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "harness.h"

/* Writes n bytes of text to a fresh temporary file; returns its path in buf. */
static int temp_file(char *buf, size_t size, const char *text, size_t n) {
  int fd;
  snprintf(buf, size, "/tmp/stv_test_base_XXXXXX");
  fd = mkstemp(buf);
  if (fd < 0) return -1;
  if (n > 0 && write(fd, text, n) != (ssize_t)n) {
    close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

TEST(should_read_a_whole_file_and_terminate_it) {
  char path[64], *out = NULL;
  size_t len = 0;
  struct stv_err err = {0, ""};
  CHECK(temp_file(path, sizeof(path), "hello\0world", 11) == 0);
  CHECK_EQ_INT(stv_read_file(path, 0, &out, &len, &err), 0);
  CHECK_EQ_INT(len, 11);
  CHECK(memcmp(out, "hello\0world", 12) == 0);
  stv_free(out);
  unlink(path);
}

TEST(should_return_an_empty_string_not_null_for_an_empty_file) {
  char path[64], *out = NULL;
  size_t len = 99;
  struct stv_err err = {0, ""};
  CHECK(temp_file(path, sizeof(path), "", 0) == 0);
  CHECK_EQ_INT(stv_read_file(path, 10, &out, &len, &err), 0);
  CHECK(out != NULL);
  CHECK_EQ_INT(len, 0);
  CHECK(out[0] == '\0');
  stv_free(out);
  unlink(path);
}

TEST(should_accept_a_file_of_exactly_max_bytes_and_refuse_one_more) {
  char path[64], *out = NULL;
  size_t len = 0;
  struct stv_err err = {0, ""};
  CHECK(temp_file(path, sizeof(path), "0123456789", 10) == 0);
  CHECK_EQ_INT(stv_read_file(path, 10, &out, &len, &err), 0);
  CHECK_EQ_INT(len, 10);
  stv_free(out);
  out = NULL;
  CHECK_EQ_INT(stv_read_file(path, 9, &out, &len, &err), STV_ELIMIT);
  CHECK(out == NULL);
  CHECK_EQ_INT(len, 0);
  CHECK_STR_CONTAINS(err.msg, path);
  CHECK_STR_CONTAINS(err.msg, "larger than 9 bytes");
  unlink(path);
}

TEST(should_state_the_limit_of_a_large_file_in_mib) {
  char path[64], *out = NULL, *big;
  size_t len = 0, n = ((size_t)1 << 20) + 1;
  struct stv_err err = {0, ""};
  big = calloc(1, n);
  CHECK(big != NULL);
  memset(big, 'x', n);
  CHECK(temp_file(path, sizeof(path), big, n) == 0);
  free(big);
  CHECK_EQ_INT(stv_read_file(path, (size_t)1 << 20, &out, &len, &err), STV_ELIMIT);
  CHECK_STR_CONTAINS(err.msg, "larger than 1 MiB");
  CHECK_EQ_INT(stv_read_file(path, 0, &out, &len, &err), 0);
  CHECK_EQ_INT(len, n);
  stv_free(out);
  unlink(path);
}

TEST(should_name_the_file_and_the_reason_when_it_cannot_be_read) {
  char *out = (char *)"unchanged";
  size_t len = 5;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv_read_file("/nonexistent/x.json", 0, &out, &len, &err), -ENOENT);
  CHECK(out == NULL);
  CHECK_EQ_INT(len, 0);
  CHECK_STR_CONTAINS(err.msg, "/nonexistent/x.json: cannot read: No such file or directory");
  CHECK_EQ_INT(stv_read_file("/tmp", 0, &out, &len, &err), -EISDIR);
  CHECK_STR_CONTAINS(err.msg, "/tmp: cannot read: Is a directory");
  CHECK(out == NULL);
}

TEST(should_fail_cleanly_when_the_buffer_cannot_be_allocated) {
  char path[64], *out = NULL;
  size_t len = 0;
  struct stv_err err = {0, ""};
  CHECK(temp_file(path, sizeof(path), "abc", 3) == 0);
  stv_alloc_fail_after(0);
  CHECK_EQ_INT(stv_read_file(path, 0, &out, &len, &err), STV_ENOMEM);
  stv_alloc_fail_after(-1);
  CHECK(out == NULL);
  CHECK_STR_CONTAINS(err.msg, path);
  unlink(path);
}

TEST(should_describe_system_errors_without_strerror) {
  CHECK(strcmp(stv_strerror(-ENOENT), "No such file or directory") == 0);
  CHECK(strcmp(stv_strerror(-EACCES), "Permission denied") == 0);
  CHECK(strcmp(stv_strerror(-ECONNREFUSED), "Connection refused") == 0);
  CHECK(strcmp(stv_strerror(STV_ENOMEM), "out of memory") == 0);
  CHECK(strcmp(stv_strerror(STV_ELIMIT), "limit exceeded") == 0);
  CHECK(strcmp(stv_strerror(-4000), "unknown system error") == 0);
  CHECK(strcmp(stv_strerror(-99999), "unknown error") == 0);
  CHECK(strcmp(stv_err_name(STV_EPARSE), "STV_EPARSE") == 0);
}

TEST(should_parse_plain_decimal_numbers_only) {
  struct stv_err err = {0, ""};
  double v = 0;
  const char *end;
  CHECK_EQ_INT(stv_parse_number("1.5e3", &v, &err), 0);
  CHECK(v == 1500);
  CHECK_EQ_INT(stv_parse_number("-.5", &v, &err), 0);
  CHECK(v == -0.5);
  CHECK_EQ_INT(stv_parse_number("5.", &v, &err), 0);
  CHECK(v == 5);
  CHECK_EQ_INT(stv_parse_number("0x10", &v, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "\"0x10\" is not a number");
  CHECK_EQ_INT(stv_parse_number("inf", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_parse_number("nan", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_parse_number(" 1", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_parse_number("1 ", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_parse_number("", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_parse_number(".", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_parse_number("1e999", &v, &err), STV_ERANGE);
  CHECK_EQ_INT(stv_parse_number_prefix("12%", &v, &end), 0);
  CHECK(v == 12 && strcmp(end, "%") == 0);
  CHECK_EQ_INT(stv_parse_number_prefix("1e", &v, &end), 0);
  CHECK(v == 1 && strcmp(end, "e") == 0);
}

TEST(should_accept_the_union_of_duration_units_everywhere) {
  static const struct {
    const char *s;
    double secs;
  } ok[] = {
      {"30", 30},        {"0.5", 0.5},
      {"1e3", 1000},     {"500ms", 0.5},
      {"10s", 10},       {"2m", 120},
      {"1.5h", 5400},    {"7d", 604800},
      {"2w", 1209600},   {"1y", 31536000},
      {"1h30m", 5400},   {"1d12h", 129600},
      {"1m500ms", 60.5}, {"-5m", -300},
      {"0s", 0},         {"1y2w3d4h5m6s7ms", 31536000 + 1209600 + 3 * 86400 + 4 * 3600 + 5 * 60 + 6 + 0.007}};
  size_t i;
  for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    struct stv_err err = {0, ""};
    double v = -1;
    int rc = stv_parse_duration(ok[i].s, &v, &err);
    if (rc != 0 || fabs(v - ok[i].secs) > 1e-9)
      fprintf(stderr, "  \"%s\": rc %d, %g: %s\n", ok[i].s, rc, v, err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK(fabs(v - ok[i].secs) <= 1e-9);
  }
}

TEST(should_refuse_bad_durations_with_one_wording) {
  static const struct {
    const char *s;
    int code;
    const char *msg;
  } bad[] = {
      {"", STV_EINVAL, "empty duration"},
      {"7x", STV_EINVAL, "invalid duration \"7x\": unknown unit \"x\" (use ms, s, m, h, d, w, y)"},
      {"m", STV_EINVAL, "invalid duration \"m\": expected a number before \"m\""},
      {"1h30", STV_EINVAL, "invalid duration \"1h30\": missing unit"},
      {"1m1h", STV_EINVAL, "units must go from largest to smallest"},
      {"1s1s", STV_EINVAL, "units must go from largest to smallest"},
      {"1ms1s", STV_EINVAL, "units must go from largest to smallest"},
      {"10 s", STV_EINVAL, "unknown unit \" s\""},
      {"0x10", STV_EINVAL, "unknown unit \"x\""},
      {"inf", STV_EINVAL, "expected a number before \"inf\""},
      {"99999999999999999999d", STV_ERANGE, "duration \"99999999999999999999d\" is too long"},
      {"1e300", STV_ERANGE, "is too long"},
  };
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct stv_err err = {0, ""};
    double v = -1;
    int rc = stv_parse_duration(bad[i].s, &v, &err);
    if (rc != bad[i].code || strstr(err.msg, bad[i].msg) == NULL)
      fprintf(stderr, "  \"%s\": rc %d, \"%s\"\n", bad[i].s, rc, err.msg);
    CHECK_EQ_INT(rc, bad[i].code);
    CHECK_STR_CONTAINS(err.msg, bad[i].msg);
    CHECK(v == -1);
  }
}

TEST(should_parse_rfc3339_times_with_offsets_and_fractions) {
  static const struct {
    const char *s;
    int64_t secs;
    int32_t nanos;
  } ok[] = {
      {"1970-01-01T00:00:00Z", 0, 0},
      {"2024-05-01T00:00:00Z", 1714521600, 0},
      {"2024-05-01t00:00:00z", 1714521600, 0},
      {"2024-05-01T02:00:00+02:00", 1714521600, 0},
      {"2024-04-30T19:30:00-04:30", 1714521600, 0},
      {"2024-02-29T12:00:00Z", 1709208000, 0},
      {"2000-02-29T00:00:00Z", 951782400, 0},
      {"2024-05-01T00:00:00.5Z", 1714521600, 500000000},
      {"2024-05-01T00:00:00.123456789123Z", 1714521600, 123456789},
      {"1969-12-31T23:59:59Z", -1, 0},
      {"9999-12-31T23:59:59Z", INT64_C(253402300799), 0},
  };
  size_t i;
  for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    struct stv_err err = {0, ""};
    int64_t t = 0;
    int32_t ns = -1;
    int rc = stv_parse_time(ok[i].s, &t, &ns, &err);
    if (rc != 0 || t != ok[i].secs || ns != ok[i].nanos)
      fprintf(stderr, "  \"%s\": rc %d, %" PRId64 " %d: %s\n", ok[i].s, rc, t, (int)ns, err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(t, ok[i].secs);
    CHECK_EQ_INT(ns, ok[i].nanos);
  }
}

TEST(should_refuse_impossible_dates_and_malformed_times) {
  static const struct {
    const char *s;
    const char *why;
  } bad[] = {
      {"2023-02-29T00:00:00Z", "no such day in that month"},
      {"2024-02-31T00:00:00Z", "no such day in that month"},
      {"1900-02-29T00:00:00Z", "no such day in that month"},
      {"2024-04-31T00:00:00Z", "no such day in that month"},
      {"2024-00-10T00:00:00Z", "no such month"},
      {"2024-13-10T00:00:00Z", "no such month"},
      {"2024-01-00T00:00:00Z", "no such day in that month"},
      {"2024-01-01T24:00:00Z", "no such time of day"},
      {"2024-01-01T23:60:00Z", "no such time of day"},
      {"2024-12-31T23:59:60Z", "leap seconds are not supported"},
      {"2024-01-01T00:00:00", "expected Z or an offset"},
      {"2024-01-01 00:00:00Z", "expected T and a time of day"},
      {"2024-01-01T00:00Z", "expected hh:mm:ss"},
      {"2024-01-01T00:00:00.Z", "expected digits after the decimal point"},
      {"2024-01-01T00:00:00+0200", "expected an offset +hh:mm"},
      {"2024-01-01T00:00:00+24:00", "expected an offset +hh:mm"},
      {"2024-01-01T00:00:00Zjunk", "unexpected text after the offset"},
      {"24-01-01T00:00:00Z", "expected YYYY-MM-DD"},
      {"", "expected YYYY-MM-DD"},
      {"2024-1-01T00:00:00Z", "expected YYYY-MM-DD"},
  };
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct stv_err err = {0, ""};
    int64_t t = 42;
    int rc = stv_parse_time(bad[i].s, &t, NULL, &err);
    if (rc != STV_EINVAL || strstr(err.msg, bad[i].why) == NULL)
      fprintf(stderr, "  \"%s\": rc %d, \"%s\"\n", bad[i].s, rc, err.msg);
    CHECK_EQ_INT(rc, STV_EINVAL);
    CHECK_STR_CONTAINS(err.msg, bad[i].why);
    CHECK_STR_CONTAINS(err.msg, "(RFC 3339, like 2024-05-01T00:00:00Z)");
    CHECK_EQ_INT(t, 42);
  }
}

TEST(should_match_the_published_siphash_2_4_vectors) {
  unsigned char key[16], msg[64];
  int i;
  for (i = 0; i < 16; i++) key[i] = (unsigned char)i;
  for (i = 0; i < 64; i++) msg[i] = (unsigned char)i;
  /* From the SipHash paper (Aumasson and Bernstein), appendix A, and its reference vectors. */
  CHECK(stv_siphash24(msg, 0, key) == UINT64_C(0x726fdb47dd0e0e31));
  CHECK(stv_siphash24(msg, 15, key) == UINT64_C(0xa129ca6149be45e5));
}

TEST(should_hash_names_with_a_key_of_the_process_that_tests_may_fix) {
  static const unsigned char k1[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  static const unsigned char k2[16] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  uint64_t a, b;
  CHECK(stv_hash_name("kube-system", 11) == stv_hash_name("kube-system", 11));
  stv_hash_set_seed(k1);
  a = stv_hash_name("kube-system", 11);
  CHECK(a == stv_siphash13("kube-system", 11, k1));
  stv_hash_set_seed(k2);
  b = stv_hash_name("kube-system", 11);
  CHECK(b == stv_siphash13("kube-system", 11, k2));
  CHECK(a != b);
  CHECK(stv_siphash13("kube-system", 11, k1) != stv_siphash24("kube-system", 11, k1));
}

/* Whether two processes hash the same name differently: their keys are random. */
TEST(should_draw_a_different_key_in_each_process) {
  char out[2][64], self[512], cmd[700];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  int i;
  CHECK(n > 0);
  self[n] = '\0';
  snprintf(cmd, sizeof(cmd), "'%s' print_hash_of_a_name_for_the_seed_test", self);
  for (i = 0; i < 2; i++) {
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    CHECK(fgets(out[i], sizeof(out[i]), p) != NULL);
    pclose(p);
  }
  CHECK_STR_CONTAINS(out[0], "hash ");
  CHECK(strcmp(out[0], out[1]) != 0);
}

TEST(print_hash_of_a_name_for_the_seed_test) {
  /* Run alone by the test above (and harmless in a full run): one name's hash. */
  printf("hash %016" PRIx64 "\n", stv_hash_name("default/web-0", 13));
  CHECK(1);
}

TEST(should_tell_well_formed_utf8_from_overlongs_surrogates_and_stray_bytes) {
  CHECK(stv_utf8_valid("plain", 5));
  CHECK(stv_utf8_valid("caf\xc3\xa9", 5));
  CHECK(stv_utf8_valid("\xe2\x82\xac", 3));     /* U+20AC */
  CHECK(stv_utf8_valid("\xf0\x9f\x90\xb3", 4)); /* U+1F433 */
  CHECK(stv_utf8_valid("\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
  CHECK(!stv_utf8_valid("\xff", 1));
  CHECK(!stv_utf8_valid("\x80", 1));
  CHECK(!stv_utf8_valid("\xc0\xaf", 2));         /* overlong "/" */
  CHECK(!stv_utf8_valid("\xe0\x80\xaf", 3));     /* overlong "/" */
  CHECK(!stv_utf8_valid("\xed\xa0\x80", 3));     /* surrogate U+D800 */
  CHECK(!stv_utf8_valid("\xf4\x90\x80\x80", 4)); /* U+110000 */
  CHECK(!stv_utf8_valid("\xc3", 1));             /* truncated */
  CHECK_EQ_INT(stv_utf8_check("ab\xc3\xa9\xff", 5), 4);
}

TEST(should_write_each_invalid_byte_as_u_fffd_and_count_it) {
  size_t replaced = 0;
  char *s = stv_utf8_sanitize("web-\xff-0 \xc3\xa9 \xed\xa0\x80", &replaced);
  CHECK(s != NULL);
  CHECK(strcmp(s, "web-\xef\xbf\xbd-0 \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") == 0);
  CHECK_EQ_INT(replaced, 4);
  stv_free(s);
  s = stv_utf8_sanitize("", &replaced);
  CHECK(s != NULL && s[0] == '\0');
  CHECK_EQ_INT(replaced, 4);
  stv_free(s);
}

TEST(should_escape_json_strings_and_repair_their_utf8) {
  struct stv_buf b;
  stv_buf_init(&b);
  CHECK_EQ_INT(stv_buf_json_str(&b, "a\"b\\c\n\x01 caf\xc3\xa9 \xff!"), 0);
  CHECK(strcmp(b.data, "\"a\\\"b\\\\c\\n\\u0001 caf\xc3\xa9 \xef\xbf\xbd!\"") == 0);
  CHECK_EQ_INT(b.replaced, 1);
  stv_buf_close(&b);
  CHECK_EQ_INT(b.replaced, 0);
  CHECK_EQ_INT(stv_buf_html_str(&b, "<\xc3\xa9\xc3>"), 0);
  CHECK(strcmp(b.data, "&lt;\xc3\xa9\xef\xbf\xbd&gt;") == 0);
  CHECK_EQ_INT(b.replaced, 1);
  stv_buf_close(&b);
}

TEST(should_stop_a_buffer_at_its_cap_and_keep_the_error) {
  struct stv_buf b;
  stv_buf_init(&b);
  b.max = 8;
  CHECK_EQ_INT(stv_buf_puts(&b, "12345"), 0);
  CHECK_EQ_INT(stv_buf_printf(&b, "%s", "678"), 0);
  CHECK_EQ_INT(b.len, 8);
  CHECK_EQ_INT(stv_buf_puts(&b, "9"), STV_ELIMIT);
  CHECK_EQ_INT(stv_buf_puts(&b, ""), STV_ELIMIT);
  CHECK_EQ_INT(b.len, 8);
  CHECK(strcmp(b.data, "12345678") == 0);
  stv_buf_close(&b);
  CHECK_EQ_INT(b.max, 8);
  CHECK_EQ_INT(stv_buf_printf(&b, "%d", 123456789), STV_ELIMIT);
  CHECK(b.data == NULL || b.data[0] == '\0');
  stv_buf_close(&b);
}

TEST(should_map_names_to_values_under_a_fixed_key) {
  static const unsigned char key[16] = {42};
  struct stv_strpool pool;
  struct stv_strmap m = {0};
  struct stv_strmap_ent *e;
  char name[32];
  int added, i;
  stv_hash_set_seed(key);
  stv_strpool_init(&pool);
  for (i = 0; i < 1000; i++) {
    snprintf(name, sizeof(name), "ns-%d/pod-%d", i % 7, i);
    CHECK_EQ_INT(stv_strmap_upsert(&m, &pool, name, strlen(name), (uint32_t)i, &e, &added), 0);
    CHECK_EQ_INT(added, 1);
  }
  CHECK_EQ_INT(stv_strmap_upsert(&m, &pool, "ns-3/pod-10", 11, 99, &e, &added), 0);
  CHECK_EQ_INT(added, 0);
  CHECK_EQ_INT(e->val, 10);
  CHECK((e = stv_strmap_find(&m, "ns-5/pod-999xyz", 12)) != NULL);
  CHECK_EQ_INT(e->val, 999);
  CHECK(stv_strmap_find(&m, "ns-0/pod-1000", 13) == NULL);
  CHECK(stv_strpool_find(&pool, "ns-1/pod-1", 10) == stv_strpool_get(&pool, "ns-1/pod-1"));
  CHECK(stv_strpool_find(&pool, "absent", 6) == NULL);
  stv_strmap_close(&m);
  stv_strpool_close(&pool);
}

TEST(should_not_read_past_a_pooled_string_shorter_than_the_key_looked_up) {
  struct stv_strpool pool;
  const char *a, *b;
  stv_strpool_init(&pool);
  a = stv_strpool_get(&pool, "ab");
  CHECK(a != NULL);
  /* A key with a NUL inside matches "ab" up to the NUL; the pool must not
   * then look at a[5], past the end of "ab". */
  b = stv_strpool_intern(&pool, "ab\0cd", 5);
  CHECK(b != NULL);
  CHECK(b != a);
  CHECK(stv_strpool_intern(&pool, "ab", 2) == a);
  stv_strpool_close(&pool);
}

TEST(should_write_rfc3339_times_that_the_parser_reads_back) {
  char buf[40];
  int64_t secs = 0;
  int32_t nanos = 0;
  struct stv_err err = {0};
  CHECK(strcmp(stv_format_time(0, 0, buf, sizeof(buf)), "1970-01-01T00:00:00Z") == 0);
  CHECK(strcmp(stv_format_time(1714521600.25, 6, buf, sizeof(buf)), "2024-05-01T00:00:00.250000Z") == 0);
  CHECK(stv_parse_time(buf, &secs, &nanos, &err) == 0);
  CHECK_EQ_INT(secs, 1714521600);
  CHECK_EQ_INT(nanos, 250000000);
  /* A fraction that rounds up carries into the seconds. */
  CHECK(strcmp(stv_format_time(59.9999999, 3, buf, sizeof(buf)), "1970-01-01T00:01:00.000Z") == 0);
  CHECK(strcmp(stv_format_time(1e30, 0, buf, sizeof(buf)), "") == 0);
  CHECK(stv_wall_time() > 1.7e9);
}
