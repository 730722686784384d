/* Tests of the base layer (base/): one behaviour per test. */
#include <errno.h>
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
