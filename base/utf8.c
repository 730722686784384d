/*
 * UTF-8 checking and repair (RFC 3629). Stevedore's one rule: names are
 * kept as the bytes they came in, and every writer of JSON or HTML passes
 * text through here, so that what Stevedore prints is valid UTF-8 whatever
 * it read; each byte that does not begin a well-formed sequence becomes
 * U+FFFD, and the writer counts the replacements so that the command can
 * say so.
 */
#include <string.h>

#include "base.h"

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
static const char replacement[] = "\xef\xbf\xbd";

size_t stv_utf8_seq_len(const unsigned char *p, size_t n) {
  unsigned char c;
  size_t len, i;
  if (n == 0) return 0;
  c = p[0];
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4;
  else
    return 0; /* a continuation byte, an overlong lead (c0, c1) or beyond U+10FFFF (f5-ff) */
  if (n < len) return 0;
  for (i = 1; i < len; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  /* The second byte's range rules out overlong forms, surrogates and code points past U+10FFFF. */
  if (c == 0xe0 && p[1] < 0xa0) return 0;
  if (c == 0xed && p[1] > 0x9f) return 0;
  if (c == 0xf0 && p[1] < 0x90) return 0;
  if (c == 0xf4 && p[1] > 0x8f) return 0;
  return len;
}

size_t stv_utf8_check(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    size_t k;
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    if ((k = stv_utf8_seq_len(p + i, n - i)) == 0) return i;
    i += k;
  }
  return n;
}

int stv_utf8_valid(const char *s, size_t n) {
  return stv_utf8_check(s, n) == n;
}

int stv_buf_utf8(struct stv_buf *b, const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t good = stv_utf8_check(s + i, n - i);
    stv_buf_append(b, s + i, good);
    i += good;
    if (i < n) {
      stv_buf_append(b, replacement, 3);
      b->replaced++;
      i++;
    }
  }
  return b->err;
}

char *stv_utf8_sanitize(const char *s, size_t *replaced) {
  struct stv_buf b;
  size_t n = strlen(s);
  stv_buf_init(&b);
  if (stv_buf_utf8(&b, s, n) != 0 || stv_buf_append(&b, "", 0) != 0) {
    stv_buf_close(&b);
    return NULL;
  }
  if (replaced != NULL) *replaced += b.replaced;
  if (b.data == NULL) return stv_strdup("");
  return b.data;
}
