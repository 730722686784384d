/*
 * Structured logs (base/log.h). Each line is formatted into a buffer of
 * its own on the calling thread, then written with write(2) under one
 * mutex, so that lines never interleave, whichever thread logs and however
 * long the line is. The configuration is a handful of atomics.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "log.h"

#define LINE_MAX_BYTES (64 * 1024)

static _Atomic int log_level = STV_LOG_INFO;
static _Atomic int log_format = STV_LOG_LOGFMT;
static _Atomic int log_fd = 2;
static _Atomic uint64_t log_dropped;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* The time source: set before threads log (see log.h). */
static double (*_Atomic log_now)(void *);
static void *_Atomic log_now_ctx;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *stv_log_level_name(enum stv_log_level level) {
  return (unsigned)level <= STV_LOG_ERROR ? level_names[level] : "unknown";
}

int stv_log_level_parse(const char *s, enum stv_log_level *out) {
  int i;
  for (i = STV_LOG_DEBUG; i <= STV_LOG_ERROR; i++)
    if (strcmp(s, level_names[i]) == 0) {
      *out = (enum stv_log_level)i;
      return 0;
    }
  if (strcmp(s, "warning") == 0) {
    *out = STV_LOG_WARN;
    return 0;
  }
  return STV_EINVAL;
}

int stv_log_format_parse(const char *s, enum stv_log_format *out) {
  if (strcmp(s, "logfmt") == 0)
    *out = STV_LOG_LOGFMT;
  else if (strcmp(s, "json") == 0)
    *out = STV_LOG_JSON;
  else
    return STV_EINVAL;
  return 0;
}

void stv_log_set_level(enum stv_log_level level) {
  atomic_store(&log_level, (int)level);
}
void stv_log_set_format(enum stv_log_format format) {
  atomic_store(&log_format, (int)format);
}
void stv_log_set_fd(int fd) {
  atomic_store(&log_fd, fd);
}
int stv_log_enabled(enum stv_log_level level) {
  return (int)level >= atomic_load(&log_level);
}
uint64_t stv_log_dropped(void) {
  return atomic_load(&log_dropped);
}

void stv_log_set_time(double (*now)(void *ctx), void *ctx) {
  atomic_store(&log_now_ctx, ctx);
  atomic_store(&log_now, now);
}

/* ---- formatting -------------------------------------------------------- */

/* Appends unix_time as RFC 3339 in UTC with milliseconds. */
static void put_time(struct stv_buf *b, double unix_time) {
  char text[40];
  stv_format_time(unix_time, 3, text, sizeof(text));
  stv_buf_puts(b, text[0] != '\0' ? text : "0000-00-00T00:00:00.000Z");
}

/* Appends key with any byte outside [a-zA-Z0-9_.-] written as '_'. */
static void put_key(struct stv_buf *b, const char *key) {
  char k[128];
  size_t i;
  for (i = 0; key[i] != '\0' && i < sizeof(k) - 1; i++) {
    char c = key[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
             c == '.' || c == '-';
    k[i] = ok ? c : '_';
  }
  k[i] = '\0';
  stv_buf_puts(b, i > 0 ? k : "_");
}

/* Appends s as a logfmt value: bare when it is plain, else quoted with
 * backslash escapes; invalid UTF-8 as U+FFFD. */
static void put_logfmt_str(struct stv_buf *b, const char *s) {
  size_t i, n = strlen(s);
  int plain = n > 0;
  for (i = 0; i < n && plain; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f) plain = 0;
  }
  if (plain) {
    stv_buf_utf8(b, s, n);
    return;
  }
  stv_buf_puts(b, "\"");
  for (i = 0; i < n;) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char esc[3] = {'\\', (char)c, '\0'};
      stv_buf_puts(b, esc);
      i++;
    } else if (c == '\n') {
      stv_buf_puts(b, "\\n");
      i++;
    } else if (c == '\t') {
      stv_buf_puts(b, "\\t");
      i++;
    } else if (c < ' ' || c == 0x7f) {
      stv_buf_printf(b, "\\u%04x", c);
      i++;
    } else {
      size_t j = i;
      while (j < n && (unsigned char)s[j] >= ' ' && s[j] != '"' && s[j] != '\\' && s[j] != 0x7f) j++;
      stv_buf_utf8(b, s + i, j - i);
      i = j;
    }
  }
  stv_buf_puts(b, "\"");
}

static void put_number(struct stv_buf *b, double d, int json) {
  char text[40];
  if (isnan(d) || isinf(d)) {
    const char *word = isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf";
    stv_buf_printf(b, json ? "\"%s\"" : "%s", word);
    return;
  }
  snprintf(text, sizeof(text), "%.15g", d);
  if (strtod(text, NULL) != d) snprintf(text, sizeof(text), "%.17g", d);
  stv_buf_puts(b, text);
}

static void put_field(struct stv_buf *b, const struct stv_log_field *f, int json) {
  if (json) {
    stv_buf_puts(b, ",\"");
    put_key(b, f->key != NULL ? f->key : "_");
    stv_buf_puts(b, "\":");
  } else {
    stv_buf_puts(b, " ");
    put_key(b, f->key != NULL ? f->key : "_");
    stv_buf_puts(b, "=");
  }
  switch (f->type) {
  case STV_LOG_T_STR:
    if (json)
      stv_buf_json_str(b, f->v.s != NULL ? f->v.s : "");
    else
      put_logfmt_str(b, f->v.s != NULL ? f->v.s : "");
    break;
  case STV_LOG_T_INT:
    stv_buf_printf(b, "%lld", (long long)f->v.i);
    break;
  case STV_LOG_T_NUM:
    put_number(b, f->v.d, json);
    break;
  case STV_LOG_T_BOOL:
    stv_buf_puts(b, f->v.i ? "true" : "false");
    break;
  }
}

int stv_log_format_line(struct stv_buf *b, enum stv_log_format format, double unix_time,
                        enum stv_log_level level, const char *msg, const struct stv_log_field *f, size_t n) {
  int json = format == STV_LOG_JSON;
  size_t i;
  if (msg == NULL) msg = "";
  if (json) {
    stv_buf_puts(b, "{\"ts\":\"");
    put_time(b, unix_time);
    stv_buf_printf(b, "\",\"level\":\"%s\",\"msg\":", stv_log_level_name(level));
    stv_buf_json_str(b, msg);
  } else {
    stv_buf_puts(b, "ts=");
    put_time(b, unix_time);
    stv_buf_printf(b, " level=%s msg=", stv_log_level_name(level));
    put_logfmt_str(b, msg);
  }
  for (i = 0; i < n; i++) put_field(b, &f[i], json);
  stv_buf_puts(b, json ? "}\n" : "\n");
  return b->err;
}

/* ---- writing ----------------------------------------------------------- */

static double now_unix(void) {
  double (*now)(void *) = atomic_load(&log_now);
  return now != NULL ? now(atomic_load(&log_now_ctx)) : stv_wall_time();
}

/* Writes text[0..len) whole under the lock; returns 0 or -errno. */
static int write_line(const char *text, size_t len) {
  int fd = atomic_load(&log_fd), rc = 0;
  pthread_mutex_lock(&log_lock);
  while (len > 0) {
    ssize_t w = write(fd, text, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    text += w;
    len -= (size_t)w;
  }
  pthread_mutex_unlock(&log_lock);
  return rc;
}

void stv_log_fields(enum stv_log_level level, const char *msg, const struct stv_log_field *f, size_t n) {
  struct stv_buf b;
  enum stv_log_format format = (enum stv_log_format)atomic_load(&log_format);
  double t;
  if (!stv_log_enabled(level)) return;
  t = now_unix();
  stv_buf_init(&b);
  b.max = LINE_MAX_BYTES;
  if (stv_log_format_line(&b, format, t, level, msg, f, n) != 0) {
    /* Too long, or no memory: say so in a line that fits. */
    int code = b.err;
    struct stv_log_field why[2] = {STV_LOG_STR("dropped_msg", ""), STV_LOG_STR("error", stv_strerror(code))};
    char head[200];
    snprintf(head, sizeof(head), "%.180s", msg != NULL ? msg : "");
    why[0].v.s = head;
    stv_buf_close(&b);
    stv_buf_init(&b);
    if (stv_log_format_line(&b, format, t, level, "log line not written whole", why, 2) != 0) {
      atomic_fetch_add(&log_dropped, 1);
      stv_buf_close(&b);
      return;
    }
  }
  if (write_line(b.data, b.len) != 0) atomic_fetch_add(&log_dropped, 1);
  stv_buf_close(&b);
}

void stv_log_msg(enum stv_log_level level, const char *msg) {
  stv_log_fields(level, msg, NULL, 0);
}
