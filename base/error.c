/* Error codes, names and the caller-owned error buffer. */
#include <stdio.h>
#include <string.h>

#include "base.h"

const char *stv_strerror(int code) {
  switch (code) {
#define STV__ERR_TEXT(name, value, text) \
  case STV_##name:                       \
    return text;
    STV_ERRNO_MAP(STV__ERR_TEXT)
#undef STV__ERR_TEXT
  default:
    break;
  }
  if (code < 0 && code > -4096) return strerror(-code);
  return "unknown error";
}

const char *stv_err_name(int code) {
  switch (code) {
#define STV__ERR_NAME(name, value, text) \
  case STV_##name:                       \
    return "STV_" #name;
    STV_ERRNO_MAP(STV__ERR_NAME)
#undef STV__ERR_NAME
  default:
    return "STV_UNKNOWN";
  }
}

int stv_err_set(struct stv_err *err, int code, const char *fmt, ...) {
  va_list ap;
  if (err == NULL) return code;
  err->code = code;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
  return code;
}

int stv_err_prefix(struct stv_err *err, const char *fmt, ...) {
  char head[STV_ERR_MSG_MAX];
  char whole[2 * STV_ERR_MSG_MAX + 4];
  size_t n;
  va_list ap;
  if (err == NULL) return 0;
  va_start(ap, fmt);
  vsnprintf(head, sizeof(head), fmt, ap);
  va_end(ap);
  snprintf(whole, sizeof(whole), "%s: %s", head, err->msg[0] != '\0' ? err->msg : stv_strerror(err->code));
  n = strlen(whole);
  if (n >= sizeof(err->msg)) n = sizeof(err->msg) - 1;
  memcpy(err->msg, whole, n);
  err->msg[n] = '\0';
  return err->code;
}
