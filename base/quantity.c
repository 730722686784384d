/*
 * Kubernetes resource quantities, parsed exactly.
 *
 * A quantity is <sign><digits>[.<digits>]<suffix>. Its value is
 * D * 10^e10 * 2^e2, where D is the integer spelled by every digit with the
 * point removed, e10 collects the decimal suffix, an explicit exponent,
 * the number of fraction digits and the milli scaling, and e2 comes from a
 * binary suffix (Ki = 2^10 ... Ei = 2^60). No floating point is involved:
 * the digit string is read as written, and rounding up (away from zero, as
 * resource.Quantity's int64 accessors do) is decided on the exact remainder.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base.h"

/* Exponents are saturated here: anything larger already decides the result. */
#define EXP_SAT INT64_C(1000000000000000)
/* Input shown in error messages is cut after this many bytes. */
#define QUOTE_MAX 64
/* 10^19 exceeds 2^63, so an integer with more digits never fits. */
#define INT64_DIGITS 19

/* The digits of a quantity with the point removed: int part, then fraction. */
struct digits {
  const char *ip; /* integer digits */
  int64_t ni;
  const char *fp; /* fraction digits */
  int64_t nf;
};

static int digit_at(const struct digits *d, int64_t k) {
  return k < d->ni ? d->ip[k] - '0' : d->fp[k - d->ni] - '0';
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Writes s into buf for an error message: printable ASCII as is, quotes,
 * backslashes and other bytes escaped, and "..." after QUOTE_MAX bytes.
 */
static void quote(const char *s, char *buf, size_t size) {
  size_t n = 0, i;
  for (i = 0; s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    char tmp[5];
    size_t len;
    if (i == QUOTE_MAX) {
      snprintf(tmp, sizeof(tmp), "...");
    } else if (c == '"' || c == '\\') {
      snprintf(tmp, sizeof(tmp), "\\%c", c);
    } else if (c < 0x20 || c >= 0x7f) {
      snprintf(tmp, sizeof(tmp), "\\x%02x", c);
    } else {
      tmp[0] = (char)c;
      tmp[1] = '\0';
    }
    len = strlen(tmp);
    if (n + len >= size) break;
    memcpy(buf + n, tmp, len);
    n += len;
    if (i == QUOTE_MAX) break;
  }
  buf[n] = '\0';
}

static int fail_invalid(struct stv_err *err, const char *s, const char *why, const char *detail) {
  char q[4 * QUOTE_MAX + 8], d[4 * QUOTE_MAX + 8];
  if (err == NULL) return STV_EINVAL;
  quote(s, q, sizeof(q));
  if (detail == NULL) return stv_err_set(err, STV_EINVAL, "invalid quantity \"%s\": %s", q, why);
  quote(detail, d, sizeof(d));
  return stv_err_set(err, STV_EINVAL, "invalid quantity \"%s\": %s \"%s\"", q, why, d);
}

static int fail_range(struct stv_err *err, const char *s, int milli) {
  char q[4 * QUOTE_MAX + 8];
  if (err == NULL) return STV_ERANGE;
  quote(s, q, sizeof(q));
  return stv_err_set(err, STV_ERANGE, "quantity \"%s\" is too large%s", q, milli ? " in millis" : "");
}

/*
 * Reads the suffix at p into a power of ten (*e10) and a power of two
 * (*e2). Returns 0, or -1 for an unknown suffix and -2 for a malformed
 * exponent.
 */
static int parse_suffix(const char *p, int64_t *e10, int *e2) {
  static const char bin[] = "KMGTPE";
  const char *c;
  int64_t v = 0;
  int neg = 0;

  *e10 = 0;
  *e2 = 0;
  if (p[0] == '\0') return 0;
  if (p[1] == '\0') {
    switch (p[0]) {
    case 'n':
      *e10 = -9;
      return 0;
    case 'u':
      *e10 = -6;
      return 0;
    case 'm':
      *e10 = -3;
      return 0;
    case 'k':
      *e10 = 3;
      return 0;
    case 'M':
      *e10 = 6;
      return 0;
    case 'G':
      *e10 = 9;
      return 0;
    case 'T':
      *e10 = 12;
      return 0;
    case 'P':
      *e10 = 15;
      return 0;
    case 'E':
      *e10 = 18;
      return 0;
    default:
      break;
    }
  }
  if (p[1] == 'i' && p[2] == '\0' && (c = strchr(bin, p[0])) != NULL) {
    *e2 = 10 * (int)(c - bin + 1);
    return 0;
  }
  if ((p[0] != 'e' && p[0] != 'E') || (p[1] != '+' && p[1] != '-' && !is_digit(p[1]))) return -1;
  p++;
  if (*p == '+' || *p == '-') neg = *p++ == '-';
  if (!is_digit(*p)) return -2;
  for (; is_digit(*p); p++) {
    if (v < EXP_SAT) v = v * 10 + (*p - '0');
  }
  if (*p != '\0') return -2;
  *e10 = neg ? -v : v;
  return 0;
}

/*
 * Returns in *mag the magnitude ceil(D * 10^e10 * 2^e2) of the nd
 * significant digits of d starting at lo (no leading or trailing zeros),
 * or -1 when it exceeds limit.
 */
static int magnitude(const struct digits *d, int64_t lo, int64_t nd, int64_t e10, int e2, uint64_t limit,
                     uint64_t *mag) {
  uint64_t acc = 0, carry = 0, m = (uint64_t)1 << e2;
  int64_t ni, j, z;
  int frac = 0;

  if (e10 >= 0) {
    if (nd > INT64_DIGITS || e10 >= INT64_DIGITS) return -1;
    for (j = 0; j < nd; j++) acc = acc * 10 + (uint64_t)digit_at(d, lo + j);
    for (j = 0; j < e10; j++) {
      if (acc > limit / 10) return -1;
      acc *= 10;
    }
    if (acc > limit >> e2) return -1;
    *mag = acc << e2;
    return 0;
  }

  /* Split D / 10^-e10 into an integer part (ni digits) and a fraction. */
  ni = nd + e10;
  if (ni > INT64_DIGITS) return -1;
  for (j = 0; j < ni; j++) acc = acc * 10 + (uint64_t)digit_at(d, lo + j);
  z = ni < 0 ? -ni : 0; /* zeros between the point and the first digit */
  if (e2 == 0 || z > INT64_DIGITS) {
    /*
     * The fraction is non-zero (D ends in a non-zero digit), and times 2^e2
     * it stays below one when z > 19 since 2^60 < 10^19.
     */
    frac = 1;
  } else {
    /* Multiply the fraction digits by 2^e2, right to left, as on paper. */
    for (j = nd - 1; j >= (ni > 0 ? ni : 0); j--) {
      uint64_t t = (uint64_t)digit_at(d, lo + j) * m + carry;
      if (t % 10 != 0) frac = 1;
      carry = t / 10;
    }
    for (j = 0; j < z; j++) {
      if (carry % 10 != 0) frac = 1;
      carry /= 10;
    }
  }
  if (acc > limit >> e2) return -1;
  acc <<= e2;
  if (carry > limit - acc) return -1;
  acc += carry;
  if ((uint64_t)frac > limit - acc) return -1;
  *mag = acc + (uint64_t)frac;
  return 0;
}

/*
 * Parses s (borrowed) into *out as described in base.h. Negative values
 * round away from zero like positive ones ("-1.5" is -2, as Value() gives).
 * Returns 0, STV_EINVAL or STV_ERANGE; *out is left unchanged on error.
 */
int stv_quantity_parse(const char *s, int milli, int64_t *out, struct stv_err *err) {
  const uint64_t max_pos = (uint64_t)INT64_MAX;
  const uint64_t max_neg = (uint64_t)INT64_MAX + 1;
  struct digits d;
  const char *p = s;
  int64_t e10, n, lo, hi;
  uint64_t mag;
  int neg = 0, e2, rc;

  if (s == NULL) return stv_err_set(err, STV_EINVAL, "invalid quantity: NULL");
  if (s[0] == '\0') return fail_invalid(err, s, "empty string", NULL);
  if (is_space(s[0])) return fail_invalid(err, s, "leading whitespace", NULL);

  if (*p == '+' || *p == '-') neg = *p++ == '-';
  d.ip = p;
  while (is_digit(*p)) p++;
  d.ni = p - d.ip;
  d.fp = p;
  d.nf = 0;
  if (*p == '.') {
    d.fp = ++p;
    while (is_digit(*p)) p++;
    d.nf = p - d.fp;
  }
  if (d.ni == 0 && d.nf == 0) return fail_invalid(err, s, "expected a number", NULL);

  rc = parse_suffix(p, &e10, &e2);
  if (rc != 0) {
    const char *q;
    for (q = p; *q != '\0'; q++) {
      if (is_space(*q)) return fail_invalid(err, s, "unexpected whitespace", NULL);
    }
    return fail_invalid(err, s, rc == -2 ? "malformed exponent" : "unknown suffix", p);
  }

  /* Trim leading and trailing zeros of D; trailing ones move into e10. */
  n = d.ni + d.nf;
  for (lo = 0; lo < n && digit_at(&d, lo) == 0; lo++) {
  }
  if (lo == n) {
    *out = 0;
    return 0;
  }
  for (hi = n; digit_at(&d, hi - 1) == 0; hi--) {
  }
  e10 += (n - hi) - d.nf + (milli ? 3 : 0);

  if (magnitude(&d, lo, hi - lo, e10, e2, neg ? max_neg : max_pos, &mag) != 0)
    return fail_range(err, s, milli);
  if (!neg)
    *out = (int64_t)mag;
  else if (mag == max_neg)
    *out = INT64_MIN;
  else
    *out = -(int64_t)mag;
  return 0;
}

/*
 * Formats v into buf (borrowed, size bytes; 24 always suffice) as base.h
 * describes; the text parses back to v with the same milli. A whole milli
 * value is printed in units, with a binary suffix when binary is set.
 * Output longer than size is cut, NUL-terminated. Returns buf.
 */
char *stv_quantity_format(int64_t v, int milli, int binary, char *buf, size_t size) {
  static const char *const bin[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  char text[32];
  size_t len;

  if (size == 0) return buf;
  if (milli && v % 1000 != 0) {
    snprintf(text, sizeof(text), "%" PRId64 "m", v);
  } else {
    const char *unit = "";
    int k;
    if (milli) v /= 1000;
    for (k = 5; binary && v != 0 && k >= 0; k--) {
      int64_t mult = INT64_C(1) << (10 * (k + 1));
      if (v % mult == 0) {
        v /= mult;
        unit = bin[k];
        break;
      }
    }
    snprintf(text, sizeof(text), "%" PRId64 "%s", v, unit);
  }
  len = strlen(text);
  if (len >= size) len = size - 1;
  memcpy(buf, text, len);
  buf[len] = '\0';
  return buf;
}
