/* The growable text buffer of base.h. */
#include <stdio.h>
#include <string.h>

#include "base.h"

void stv_buf_init(struct stv_buf *b) { memset(b, 0, sizeof(*b)); }

void stv_buf_close(struct stv_buf *b) {
  size_t max = b->max;
  stv_free(b->data);
  memset(b, 0, sizeof(*b));
  b->max = max;
}

/* Makes room for n more bytes plus the terminating NUL. */
static int reserve(struct stv_buf *b, size_t n) {
  if (b->err) return b->err;
  if (n > SIZE_MAX - b->len - 1 || (b->max > 0 && b->len + n > b->max)) return b->err = STV_ELIMIT;
  if (stv_grow((void **)&b->data, &b->cap, b->len + n + 1, 1) != 0) return b->err = STV_ENOMEM;
  return 0;
}

int stv_buf_append(struct stv_buf *b, const char *s, size_t n) {
  if (reserve(b, n) != 0) return b->err;
  if (n > 0) memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int stv_buf_puts(struct stv_buf *b, const char *s) { return stv_buf_append(b, s, strlen(s)); }

int stv_buf_vprintf(struct stv_buf *b, const char *fmt, va_list ap) {
  va_list aq;
  int n;
  if (b->err) return b->err;
  va_copy(aq, ap);
  n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, aq);
  va_end(aq);
  if (n < 0) return b->err = STV_EINVAL;
  if (b->data != NULL && (size_t)n < b->cap - b->len) {
    if (b->max > 0 && b->len + (size_t)n > b->max) {
      b->data[b->len] = '\0';
      return b->err = STV_ELIMIT;
    }
    b->len += (size_t)n;
    return 0;
  }
  if (reserve(b, (size_t)n) != 0) {
    if (b->data != NULL) b->data[b->len] = '\0'; /* undo what the first attempt wrote */
    return b->err;
  }
  vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  b->len += (size_t)n;
  return 0;
}

int stv_buf_printf(struct stv_buf *b, const char *fmt, ...) {
  va_list ap;
  int rc;
  va_start(ap, fmt);
  rc = stv_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

int stv_buf_json_str(struct stv_buf *b, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  const unsigned char *run = p;
  stv_buf_append(b, "\"", 1);
  for (; *p; p++) {
    const char *esc = NULL;
    char hex[8];
    if (*p >= 0x80) {
      /* Whole well-formed sequences stay in the run; a stray byte becomes U+FFFD. */
      size_t k = stv_utf8_seq_len(p, strnlen((const char *)p, 4));
      if (k > 0) {
        p += k - 1;
        continue;
      }
      stv_buf_append(b, (const char *)run, (size_t)(p - run));
      stv_buf_utf8(b, (const char *)p, 1);
      run = p + 1;
      continue;
    }
    if (*p >= 0x20 && *p != '"' && *p != '\\' && *p != 0x7f) continue;
    stv_buf_append(b, (const char *)run, (size_t)(p - run));
    switch (*p) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    default:
      snprintf(hex, sizeof(hex), "\\u%04x", *p);
      esc = hex;
    }
    stv_buf_puts(b, esc);
    run = p + 1;
  }
  stv_buf_append(b, (const char *)run, (size_t)(p - run));
  return stv_buf_append(b, "\"", 1);
}

int stv_buf_html_str(struct stv_buf *b, const char *s) {
  const char *p = s, *run = s;
  for (; *p; p++) {
    const char *esc;
    switch (*p) {
    case '&': esc = "&amp;"; break;
    case '<': esc = "&lt;"; break;
    case '>': esc = "&gt;"; break;
    case '"': esc = "&quot;"; break;
    case '\'': esc = "&#39;"; break;
    default: continue;
    }
    stv_buf_utf8(b, run, (size_t)(p - run));
    stv_buf_puts(b, esc);
    run = p + 1;
  }
  return stv_buf_utf8(b, run, (size_t)(p - run));
}

int stv_text_looks_like_yaml(const char *text, size_t len) {
  const char *p = text, *end = text + len;
  int comment = 0;
  if (len >= 3 && (unsigned char)p[0] == 0xef && (unsigned char)p[1] == 0xbb && (unsigned char)p[2] == 0xbf)
    p += 3;
  for (;;) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    if (p == end || *p == '\0') return comment;
    if (*p != '#') break;
    comment = 1;
    while (p < end && *p != '\n') p++;
  }
  if (*p == '{' || *p == '[') return 0;
  if (end - p >= 3 && memcmp(p, "---", 3) == 0) return 1;
  if (end - p >= 5 && memcmp(p, "%YAML", 5) == 0) return 1;
  if (*p == '-' && (end - p == 1 || p[1] == ' ' || p[1] == '\n' || p[1] == '\r')) return 1;
  /* A plain or quoted key, then ":" and a space or the end of the line. */
  for (; p < end && *p != '\n'; p++) {
    if (*p == ':' && (p + 1 == end || p[1] == ' ' || p[1] == '\t' || p[1] == '\r' || p[1] == '\n')) return 1;
    if (*p == '{' || *p == '}' || *p == '[' || *p == ']' || *p == ',') break;
  }
  return comment;
}
