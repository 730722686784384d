/*
 * Fuzz target: the streaming JSON reader (io/jsonstream.c), on a
 * whole buffer, fed in chunks of a size the input chooses, and from a file
 * (a memfd, read by stv_json_stream_file in those chunks). The first byte
 * picks the chunk size (1 to 256 bytes); the rest is the document.
 * Properties: chunking and the file path change nothing (the same items,
 * in the same order, printed the same; the same code and message after the
 * name), errors carry a message, and every item handed over is a JSON
 * object.
 */
#define _GNU_SOURCE /* memfd_create */
#include <sys/mman.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "jsonstream.h"

/* What the callback saw: a running hash of the items as printed. */
struct seen {
  long items;
  uint64_t hash;
};

static int on_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct seen *s = ctx;
  char *text;
  (void)err;
  FUZZ_CHECK(index == -1 || index == s->items);
  FUZZ_CHECK(cJSON_IsObject(item));
  text = cJSON_PrintUnformatted(item);
  if (text != NULL) {
    s->hash = stv_hash(text, strlen(text), s->hash);
    cJSON_free(text); /* from the hooks jsonstream sets, maybe its arena */
  }
  s->items++;
  return 0;
}

static int read_with_chunk(const uint8_t *data, size_t size, size_t chunk, struct seen *s,
                           struct stv_err *err) {
  int rc;
  memset(s, 0, sizeof(*s));
  stv_json_stream_set_chunk(chunk);
  rc = stv_json_stream_buffer("fuzz.json", (const char *)data, size, on_item, s, err);
  stv_json_stream_set_chunk(0);
  return rc;
}

/* Reads data[0..size) from a memfd through its /proc path; -1 when no memfd could be made. */
static int read_file(const uint8_t *data, size_t size, size_t chunk, struct seen *s, struct stv_err *err) {
  char path[64];
  int fd = memfd_create("fuzz", MFD_CLOEXEC), rc;
  if (fd < 0) return -1;
  if (size > 0 && write(fd, data, size) != (ssize_t)size) {
    close(fd);
    return -1;
  }
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  memset(s, 0, sizeof(*s));
  stv_json_stream_set_chunk(chunk);
  rc = stv_json_stream_file(path, on_item, s, err);
  stv_json_stream_set_chunk(0);
  close(fd);
  return rc;
}

/* The message after its "<name>: " prefix. */
static const char *after_name(const char *msg) {
  const char *p = strstr(msg, ": ");
  return p != NULL ? p + 2 : msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv_err e1 = {0, ""}, e2 = {0, ""};
  struct seen whole, chunked;
  size_t chunk;
  int rc1, rc2;
  if (size < 1) return 0;
  chunk = (size_t)data[0] + 1;
  data++;
  size--;
  rc1 = read_with_chunk(data, size, size + 1, &whole, &e1); /* one read */
  rc2 = read_with_chunk(data, size, chunk, &chunked, &e2);
  fuzz_check_error(rc1, &e1);
  fuzz_check_error(rc2, &e2);
  if (rc1 != rc2 || whole.items != chunked.items || whole.hash != chunked.hash ||
      (rc1 != 0 && strcmp(e1.msg, e2.msg) != 0)) {
    fprintf(stderr, "whole: rc %d, %ld items, \"%s\"\nchunks of %zu: rc %d, %ld items, \"%s\"\n", rc1,
            whole.items, e1.msg, chunk, rc2, chunked.items, e2.msg);
    abort();
  }
  {
    struct stv_err e3 = {0, ""};
    struct seen file;
    int rc3 = read_file(data, size, chunk, &file, &e3);
    if (rc3 == -1) return 0;
    fuzz_check_error(rc3, &e3);
    if (rc1 != rc3 || whole.items != file.items || whole.hash != file.hash ||
        (rc1 != 0 && strcmp(after_name(e1.msg), after_name(e3.msg)) != 0)) {
      fprintf(stderr, "buffer: rc %d, %ld items, \"%s\"\nfile in chunks of %zu: rc %d, %ld items, \"%s\"\n",
              rc1, whole.items, e1.msg, chunk, rc3, file.items, e3.msg);
      abort();
    }
  }
  return 0;
}
