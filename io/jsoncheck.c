/*
 * The strict JSON checker of the streaming scanner (see internal.h). The
 * fast scanner only follows brackets and quotes and cJSON only says that it
 * failed; when either finds something wrong, or a member is skipped without
 * parsing, this checker says where and why, following RFC 8259 exactly. It
 * allocates nothing.
 */
#include <string.h>

#include "internal.h"

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long stv__json_hex4(const unsigned char *p, size_t i, size_t n) {
  long v = 0;
  size_t k;
  for (k = 0; k < 4; k++) {
    int h;
    if (i + k >= n) return -2;
    h = hex_value(p[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

struct vstate {
  const unsigned char *p;
  size_t n;
  size_t i;
  int partial; /* the input may go on after n */
  const char *why;
};

/* Checks the string at p[i] (a quote); on STV__V_ERROR v->i is the bad byte. */
static int check_string(struct vstate *v) {
  const unsigned char *p = v->p;
  size_t n = v->n, i = v->i + 1;
  for (;;) {
    unsigned char c;
    if (i >= n) return STV__V_INCOMPLETE;
    c = p[i];
    if (c == '"') break;
    if (c < 0x20) {
      v->why = "control character in string";
      goto bad;
    }
    if (c != '\\') {
      i++;
      continue;
    }
    if (i + 1 >= n) return STV__V_INCOMPLETE;
    c = p[i + 1];
    if (c == 'u') {
      long u = stv__json_hex4(p, i + 2, n), u2;
      if (u == -2) return STV__V_INCOMPLETE;
      if (u < 0) {
        v->why = "invalid \\u escape";
        goto bad;
      }
      if (u >= 0xDC00 && u <= 0xDFFF) {
        v->why = "unpaired surrogate in \\u escape";
        goto bad;
      }
      if (u >= 0xD800 && u <= 0xDBFF) {
        if (i + 6 >= n || (p[i + 6] == '\\' && i + 7 >= n)) return STV__V_INCOMPLETE;
        if (p[i + 6] != '\\' || p[i + 7] != 'u') {
          v->why = "unpaired surrogate in \\u escape";
          goto bad;
        }
        u2 = stv__json_hex4(p, i + 8, n);
        if (u2 == -2) return STV__V_INCOMPLETE;
        if (u2 < 0xDC00 || u2 > 0xDFFF) {
          v->why = "unpaired surrogate in \\u escape";
          goto bad;
        }
        i += 12;
      } else {
        i += 6;
      }
      continue;
    }
    if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
      i += 2;
      continue;
    }
    v->why = "invalid escape in string";
    goto bad;
  }
  v->i = i + 1;
  return STV__V_OK;
bad:
  v->i = i;
  return STV__V_ERROR;
}

/* Checks the number at p[i]; on STV__V_ERROR v->i is its first byte. */
static int check_number(struct vstate *v) {
  const unsigned char *p = v->p;
  size_t n = v->n, i = v->i;
  if (p[i] == '-') i++;
  if (i >= n) goto end;
  if (p[i] == '0') {
    i++;
  } else if (stv__json_is_digit(p[i])) {
    while (i < n && stv__json_is_digit(p[i])) i++;
  } else {
    goto bad;
  }
  if (i < n && p[i] == '.') {
    i++;
    if (i >= n) goto end;
    if (!stv__json_is_digit(p[i])) goto bad;
    while (i < n && stv__json_is_digit(p[i])) i++;
  }
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i < n && (p[i] == '+' || p[i] == '-')) i++;
    if (i >= n) goto end;
    if (!stv__json_is_digit(p[i])) goto bad;
    while (i < n && stv__json_is_digit(p[i])) i++;
  }
  if (i >= n) {
    if (v->partial) return STV__V_INCOMPLETE; /* more digits may follow */
  } else if (stv__json_is_alnum(p[i]) || p[i] == '.' || p[i] == '+' || p[i] == '-') {
    goto bad;
  }
  v->i = i;
  return STV__V_OK;
end:
  if (v->partial) return STV__V_INCOMPLETE;
bad:
  v->why = "invalid number";
  return STV__V_ERROR;
}

/* Checks true, false or null at p[i]; on STV__V_ERROR v->i is its first byte. */
static int check_literal(struct vstate *v) {
  const unsigned char *p = v->p;
  size_t n = v->n, i = v->i, k;
  const char *lit = p[i] == 't' ? "true" : p[i] == 'f' ? "false" : "null";
  size_t len = strlen(lit);
  for (k = 0; k < len; k++) {
    if (i + k >= n) {
      if (v->partial) return STV__V_INCOMPLETE;
      goto bad;
    }
    if (p[i + k] != (unsigned char)lit[k]) goto bad;
  }
  if (i + len < n && stv__json_is_alnum(p[i + len])) goto bad;
  v->i = i + len;
  return STV__V_OK;
bad:
  v->why = "invalid literal";
  return STV__V_ERROR;
}

static size_t skip_ws_at(const unsigned char *p, size_t i, size_t n) {
  while (i < n && stv__json_is_ws(p[i])) i++;
  return i;
}

/* Checks one JSON value; see internal.h. */
int stv__json_validate(const unsigned char *p, size_t n, int partial, unsigned max_depth, size_t *at,
                       const char **why) {
  uint64_t stack[(STV_JSON_DEPTH_MAX + 1 + 63) / 64] = {0};
  unsigned depth = 0;
  struct vstate v = {p, n, 0, partial, NULL};
  int rc, is_array;

  v.i = skip_ws_at(p, 0, n);
value:
  if (v.i >= n) goto incomplete;
  switch (p[v.i]) {
  case '{':
  case '[':
    if (depth >= max_depth) {
      v.why = "nesting too deep";
      goto bad;
    }
    if (p[v.i] == '[')
      stack[depth / 64] |= (uint64_t)1 << (depth % 64);
    else
      stack[depth / 64] &= ~((uint64_t)1 << (depth % 64));
    depth++;
    v.i = skip_ws_at(p, v.i + 1, n);
    if (v.i >= n) goto incomplete;
    is_array = (int)(stack[(depth - 1) / 64] >> ((depth - 1) % 64) & 1);
    if (p[v.i] == (is_array ? ']' : '}')) {
      depth--;
      v.i++;
      goto after;
    }
    if (is_array) goto value;
    if (p[v.i] != '"') {
      v.why = "expected '\"' or '}'";
      goto bad;
    }
    goto key;
  case '"':
    rc = check_string(&v);
    break;
  case 't':
  case 'f':
  case 'n':
    rc = check_literal(&v);
    break;
  default:
    if (p[v.i] == '-' || stv__json_is_digit(p[v.i])) {
      rc = check_number(&v);
      break;
    }
    v.why = "expected a value";
    goto bad;
  }
  if (rc == STV__V_INCOMPLETE) goto incomplete;
  if (rc == STV__V_ERROR) goto bad;
  goto after;

key:
  rc = check_string(&v);
  if (rc == STV__V_INCOMPLETE) goto incomplete;
  if (rc == STV__V_ERROR) goto bad;
  v.i = skip_ws_at(p, v.i, n);
  if (v.i >= n) goto incomplete;
  if (p[v.i] != ':') {
    v.why = "expected ':'";
    goto bad;
  }
  v.i = skip_ws_at(p, v.i + 1, n);
  goto value;

after:
  v.i = skip_ws_at(p, v.i, n);
  if (depth == 0) {
    if (v.i < n) {
      v.why = "unexpected data after the value";
      goto bad;
    }
    return STV__V_OK;
  }
  if (v.i >= n) goto incomplete;
  is_array = (int)(stack[(depth - 1) / 64] >> ((depth - 1) % 64) & 1);
  if (is_array) {
    if (p[v.i] == ',') {
      v.i = skip_ws_at(p, v.i + 1, n);
      goto value;
    }
    if (p[v.i] != ']') {
      v.why = "expected ',' or ']'";
      goto bad;
    }
  } else {
    if (p[v.i] == ',') {
      v.i = skip_ws_at(p, v.i + 1, n);
      if (v.i >= n) goto incomplete;
      if (p[v.i] != '"') {
        v.why = "expected '\"'";
        goto bad;
      }
      goto key;
    }
    if (p[v.i] != '}') {
      v.why = "expected ',' or '}'";
      goto bad;
    }
  }
  depth--;
  v.i++;
  goto after;

incomplete:
  if (partial) return STV__V_INCOMPLETE;
  *at = n;
  *why = "unexpected end of input";
  return STV__V_ERROR;
bad:
  *at = v.i;
  *why = v.why;
  return STV__V_ERROR;
}
