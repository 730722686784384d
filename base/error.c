/* Error codes, names and the caller-owned error buffer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base.h"

/*
 * The texts of the system errors Stevedore meets (files, sockets, processes),
 * as glibc words them. An own table rather than strerror(), which may
 * return a buffer shared between threads; every entry is a literal.
 */
#define STV__SYS_ERRNO_MAP(XX)                                    \
  XX(EPERM, "Operation not permitted")                            \
  XX(ENOENT, "No such file or directory")                         \
  XX(ESRCH, "No such process")                                    \
  XX(EINTR, "Interrupted system call")                            \
  XX(ENXIO, "No such device or address")                          \
  XX(E2BIG, "Argument list too long")                             \
  XX(ENOEXEC, "Exec format error")                                \
  XX(EBADF, "Bad file descriptor")                                \
  XX(ECHILD, "No child processes")                                \
  XX(EAGAIN, "Resource temporarily unavailable")                  \
  XX(EACCES, "Permission denied")                                 \
  XX(EFAULT, "Bad address")                                       \
  XX(EBUSY, "Device or resource busy")                            \
  XX(EEXIST, "File exists")                                       \
  XX(EXDEV, "Invalid cross-device link")                          \
  XX(ENODEV, "No such device")                                    \
  XX(ENOTDIR, "Not a directory")                                  \
  XX(EISDIR, "Is a directory")                                    \
  XX(ENFILE, "Too many open files in system")                     \
  XX(EMFILE, "Too many open files")                               \
  XX(ENOTTY, "Inappropriate ioctl for device")                    \
  XX(ETXTBSY, "Text file busy")                                   \
  XX(EFBIG, "File too large")                                     \
  XX(ENOSPC, "No space left on device")                           \
  XX(ESPIPE, "Illegal seek")                                      \
  XX(EROFS, "Read-only file system")                              \
  XX(EMLINK, "Too many links")                                    \
  XX(EPIPE, "Broken pipe")                                        \
  XX(EDOM, "Numerical argument out of domain")                    \
  XX(EDEADLK, "Resource deadlock avoided")                        \
  XX(ENAMETOOLONG, "File name too long")                          \
  XX(ENOSYS, "Function not implemented")                          \
  XX(ENOTEMPTY, "Directory not empty")                            \
  XX(ELOOP, "Too many levels of symbolic links")                  \
  XX(EOVERFLOW, "Value too large for defined data type")          \
  XX(EILSEQ, "Invalid or incomplete multibyte or wide character") \
  XX(ENOTSOCK, "Socket operation on non-socket")                  \
  XX(EMSGSIZE, "Message too long")                                \
  XX(EPROTO, "Protocol error")                                    \
  XX(EPROTONOSUPPORT, "Protocol not supported")                   \
  XX(EOPNOTSUPP, "Operation not supported")                       \
  XX(EAFNOSUPPORT, "Address family not supported by protocol")    \
  XX(EADDRINUSE, "Address already in use")                        \
  XX(EADDRNOTAVAIL, "Cannot assign requested address")            \
  XX(ENETDOWN, "Network is down")                                 \
  XX(ENETUNREACH, "Network is unreachable")                       \
  XX(ECONNABORTED, "Software caused connection abort")            \
  XX(ECONNRESET, "Connection reset by peer")                      \
  XX(ENOBUFS, "No buffer space available")                        \
  XX(EISCONN, "Transport endpoint is already connected")          \
  XX(ENOTCONN, "Transport endpoint is not connected")             \
  XX(ECONNREFUSED, "Connection refused")                          \
  XX(EHOSTDOWN, "Host is down")                                   \
  XX(EHOSTUNREACH, "No route to host")                            \
  XX(EALREADY, "Operation already in progress")                   \
  XX(EINPROGRESS, "Operation now in progress")                    \
  XX(ECANCELED, "Operation canceled")                             \
  XX(EDQUOT, "Disk quota exceeded")

static const char *sys_text(int e) {
  switch (e) {
#define STV__SYS_TEXT(name, text) \
  case name:                      \
    return text;
    STV__SYS_ERRNO_MAP(STV__SYS_TEXT)
#undef STV__SYS_TEXT
  default:
    return NULL;
  }
}

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
  if (code < 0 && code > -4096) {
    const char *t = sys_text(-code);
    return t != NULL ? t : "unknown system error";
  }
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
