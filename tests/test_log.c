/*
 * Tests for the structured logs (base/log.c): the logfmt and JSON lines,
 * quoting, levels, the time source, and whole lines from many threads.
 */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "harness.h"
#include "base.h"
#include "log.h"

/* 2024-05-01T12:00:00.250Z */
#define T0 1714564800.25

static char *line_of(enum stv_log_format fmt, enum stv_log_level level, const char *msg,
                     const struct stv_log_field *f, size_t n) {
  struct stv_buf b;
  char *s;
  stv_buf_init(&b);
  if (stv_log_format_line(&b, fmt, T0, level, msg, f, n) != 0) {
    stv_buf_close(&b);
    return NULL;
  }
  s = strdup(b.data);
  stv_buf_close(&b);
  return s;
}

TEST(should_write_one_logfmt_line_with_time_level_message_and_typed_fields) {
  const struct stv_log_field f[] = {STV_LOG_STR("group", "sim-c.small-us-east-1a-spot"),
                                    STV_LOG_INT("count", 3), STV_LOG_NUM("cost_per_hour", 0.09),
                                    STV_LOG_BOOL("dry_run", 0)};
  char *s = line_of(STV_LOG_LOGFMT, STV_LOG_INFO, "scale up", f, 4);
  CHECK(s != NULL);
  CHECK(strcmp(s, "ts=2024-05-01T12:00:00.250Z level=info msg=\"scale up\" group=sim-c.small-us-east-1a-spot "
                  "count=3 cost_per_hour=0.09 dry_run=false\n") == 0);
  free(s);
}

TEST(should_quote_and_escape_logfmt_values_that_need_it) {
  const struct stv_log_field f[] = {STV_LOG_STR("empty", ""),
                                    STV_LOG_STR("eq", "a=b"),
                                    STV_LOG_STR("q", "say \"hi\"\\now\nnext\tend\x01"),
                                    STV_LOG_STR("utf8", "caf\xc3\xa9"),
                                    STV_LOG_STR("bad", "x\xffy"),
                                    STV_LOG_STR("null", NULL),
                                    STV_LOG_STR("bad key=", "v"),
                                    STV_LOG_NUM("nan", NAN),
                                    STV_LOG_INT("neg", -42)};
  char *s = line_of(STV_LOG_LOGFMT, STV_LOG_WARN, "m", f, 9);
  CHECK(s != NULL);
  CHECK(
      strcmp(s,
             "ts=2024-05-01T12:00:00.250Z level=warn msg=m empty=\"\" eq=\"a=b\" "
             "q=\"say \\\"hi\\\"\\\\now\\nnext\\tend\\u0001\" utf8=caf\xc3\xa9 bad=x\xef\xbf\xbdy null=\"\" "
             "bad_key_=v nan=NaN neg=-42\n") == 0);
  free(s);
}

TEST(should_write_json_lines_that_parse_with_the_fields_typed) {
  const struct stv_log_field f[] = {STV_LOG_STR("pod", "ns/a \"b\"\n"), STV_LOG_INT("n", 7),
                                    STV_LOG_NUM("inf", INFINITY), STV_LOG_BOOL("ok", 1)};
  char *s = line_of(STV_LOG_JSON, STV_LOG_ERROR, "cannot scale", f, 4);
  cJSON *j;
  CHECK(s != NULL);
  CHECK(s[strlen(s) - 1] == '\n');
  CHECK(strchr(s, '\n') == s + strlen(s) - 1); /* one line */
  j = cJSON_Parse(s);
  free(s);
  CHECK(j != NULL);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "ts")), "2024-05-01T12:00:00.250Z") ==
        0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "level")), "error") == 0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "msg")), "cannot scale") == 0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "pod")), "ns/a \"b\"\n") == 0);
  CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "n")));
  CHECK(cJSON_GetObjectItemCaseSensitive(j, "n")->valuedouble == 7);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "inf")), "+Inf") == 0);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")));
  cJSON_Delete(j);
}

/* Reads what was written to fd (a temporary file) from the start. */
static char *slurp(int fd) {
  off_t end = lseek(fd, 0, SEEK_END);
  char *s = malloc((size_t)end + 1);
  ssize_t got;
  if (s == NULL) return NULL;
  got = pread(fd, s, (size_t)end, 0);
  if (got < 0) got = 0;
  s[got] = '\0';
  return s;
}

static int temp_fd(void) {
  char path[] = "/tmp/stv-test-log-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) unlink(path);
  return fd;
}

static double fixed_time(void *ctx) {
  return *(double *)ctx;
}

TEST(should_filter_by_level_and_take_the_time_from_the_given_source) {
  int fd = temp_fd();
  double t = 10.5;
  char *s;
  CHECK(fd >= 0);
  stv_log_set_fd(fd);
  stv_log_set_time(fixed_time, &t);
  stv_log_set_format(STV_LOG_LOGFMT);
  stv_log_set_level(STV_LOG_WARN);
  CHECK(!stv_log_enabled(STV_LOG_INFO));
  stv_log(STV_LOG_INFO, "not written", STV_LOG_INT("n", 1));
  stv_log_msg(STV_LOG_DEBUG, "not written either");
  stv_log(STV_LOG_WARN, "lease lost", STV_LOG_STR("holder", "replica-b"));
  stv_log_set_format(STV_LOG_JSON);
  stv_log_msg(STV_LOG_ERROR, "stopping");
  stv_log_set_level(STV_LOG_INFO);
  stv_log_set_format(STV_LOG_LOGFMT);
  stv_log_set_time(NULL, NULL);
  stv_log_set_fd(2);
  s = slurp(fd);
  close(fd);
  CHECK(s != NULL);
  CHECK(strcmp(s, "ts=1970-01-01T00:00:10.500Z level=warn msg=\"lease lost\" holder=replica-b\n"
                  "{\"ts\":\"1970-01-01T00:00:10.500Z\",\"level\":\"error\",\"msg\":\"stopping\"}\n") == 0);
  free(s);
}

struct writer {
  int id;
  char pad[3000];
};

static void *log_many(void *arg) {
  struct writer *w = arg;
  int i;
  for (i = 0; i < 500; i++)
    stv_log(STV_LOG_INFO, "tick", STV_LOG_INT("thread", w->id), STV_LOG_INT("i", i),
            STV_LOG_STR("pad", w->pad), STV_LOG_STR("end", "END"));
  return NULL;
}

TEST(should_write_whole_lines_from_many_threads) {
  int fd = temp_fd(), i, lines = 0, bad = 0;
  struct writer w[4];
  pthread_t t[4];
  char *s, *p, *nl;
  CHECK(fd >= 0);
  stv_log_set_fd(fd);
  for (i = 0; i < 4; i++) {
    w[i].id = i;
    memset(w[i].pad, 'a' + i, sizeof(w[i].pad) - 1); /* lines over PIPE_BUF, in each thread's letter */
    w[i].pad[sizeof(w[i].pad) - 1] = '\0';
  }
  for (i = 0; i < 4; i++) CHECK_EQ_INT(pthread_create(&t[i], NULL, log_many, &w[i]), 0);
  for (i = 0; i < 4; i++) pthread_join(t[i], NULL);
  stv_log_set_fd(2);
  s = slurp(fd);
  close(fd);
  CHECK(s != NULL);
  for (p = s; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
    char pad_start[16];
    int id;
    *nl = '\0';
    lines++;
    if (strncmp(p, "ts=", 3) != 0 || strcmp(nl - 8, " end=END") != 0) bad++;
    if (sscanf(strstr(p, "thread=") ? strstr(p, "thread=") : "", "thread=%d", &id) != 1 || id < 0 || id > 3) {
      bad++;
      continue;
    }
    snprintf(pad_start, sizeof(pad_start), "pad=%c%c%c", 'a' + id, 'a' + id, 'a' + id);
    if (strstr(p, pad_start) == NULL || strlen(p) < 3000) bad++;
  }
  CHECK_EQ_INT(*p, '\0');
  free(s);
  CHECK_EQ_INT(lines, 2000);
  CHECK_EQ_INT(bad, 0);
}

TEST(should_count_a_line_it_cannot_write_and_shorten_one_too_long) {
  uint64_t before = stv_log_dropped();
  int fd = temp_fd();
  char *big = malloc(100 * 1024), *s;
  CHECK(big != NULL && fd >= 0);
  stv_log_set_fd(-1);
  stv_log_msg(STV_LOG_ERROR, "nowhere to go");
  CHECK(stv_log_dropped() == before + 1);
  memset(big, 'x', 100 * 1024 - 1);
  big[100 * 1024 - 1] = '\0';
  stv_log_set_fd(fd);
  stv_log(STV_LOG_WARN, big, STV_LOG_INT("n", 1));
  stv_log_set_fd(2);
  s = slurp(fd);
  close(fd);
  free(big);
  CHECK(s != NULL);
  CHECK_STR_CONTAINS(s, "level=warn msg=\"log line not written whole\" dropped_msg=xxxx");
  CHECK_STR_CONTAINS(s, " error=\"limit exceeded\"\n");
  CHECK(strlen(s) < 400);
  free(s);
}

TEST(should_parse_levels_and_formats_and_refuse_others) {
  enum stv_log_level l;
  enum stv_log_format f;
  CHECK_EQ_INT(stv_log_level_parse("debug", &l), 0);
  CHECK_EQ_INT(l, STV_LOG_DEBUG);
  CHECK_EQ_INT(stv_log_level_parse("warning", &l), 0);
  CHECK_EQ_INT(l, STV_LOG_WARN);
  CHECK_EQ_INT(stv_log_level_parse("error", &l), 0);
  CHECK_EQ_INT(l, STV_LOG_ERROR);
  CHECK_EQ_INT(stv_log_level_parse("verbose", &l), STV_EINVAL);
  CHECK_EQ_INT(stv_log_format_parse("json", &f), 0);
  CHECK_EQ_INT(f, STV_LOG_JSON);
  CHECK_EQ_INT(stv_log_format_parse("logfmt", &f), 0);
  CHECK_EQ_INT(f, STV_LOG_LOGFMT);
  CHECK_EQ_INT(stv_log_format_parse("text", &f), STV_EINVAL);
  CHECK(strcmp(stv_log_level_name(STV_LOG_INFO), "info") == 0);
}
