/* The one whole-file reader of base.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base.h"

/* Formats a byte count as "16 MiB", "64 KiB" or "100 bytes". */
static void size_text(size_t n, char *buf, size_t size) {
  if (n >= ((size_t)1 << 20) && n % ((size_t)1 << 20) == 0)
    snprintf(buf, size, "%zu MiB", n >> 20);
  else if (n >= 1024 && n % 1024 == 0)
    snprintf(buf, size, "%zu KiB", n >> 10);
  else
    snprintf(buf, size, "%zu bytes", n);
}

int stv_read_file(const char *path, size_t max, char **out, size_t *len, struct stv_err *err) {
  char *buf = NULL;
  size_t n = 0, cap = 0;
  int fd, rc = 0;
  *out = NULL;
  *len = 0;
  if (max == 0 || max > SIZE_MAX / 2) max = SIZE_MAX / 2;
  do fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    rc = errno ? -errno : STV_EIO;
    return stv_err_set(err, rc, "%s: cannot read: %s", path, stv_strerror(rc));
  }
  for (;;) {
    ssize_t got;
    size_t want;
    /* Room for one byte beyond max, so that a file of max+1 bytes is seen as too large. */
    if (cap - n <= 1) {
      size_t need = cap ? cap * 2 : 65536;
      if (need > max + 2) need = max + 2;
      if (need <= cap || stv_grow((void **)&buf, &cap, need, 1) != 0) {
        rc = stv_err_set(err, STV_ENOMEM, "%s: out of memory reading the file", path);
        goto out;
      }
    }
    want = cap - n - 1;
    got = read(fd, buf + n, want);
    if (got < 0) {
      if (errno == EINTR) continue;
      rc = errno ? -errno : STV_EIO;
      rc = stv_err_set(err, rc, "%s: cannot read: %s", path, stv_strerror(rc));
      goto out;
    }
    if (got == 0) break;
    n += (size_t)got;
    if (n > max) {
      char lim[32];
      size_text(max, lim, sizeof(lim));
      rc = stv_err_set(err, STV_ELIMIT, "%s: larger than %s, the most this file may hold", path, lim);
      goto out;
    }
  }
  if (buf == NULL && stv_grow((void **)&buf, &cap, 1, 1) != 0) {
    rc = stv_err_set(err, STV_ENOMEM, "%s: out of memory reading the file", path);
    goto out;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  buf = NULL;
out:
  stv_free(buf);
  close(fd);
  return rc;
}
