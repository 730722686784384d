/*
 * The parsers of base.h for plain text grammars: decimal numbers, durations
 * and RFC 3339 times. One of each, so that every option, config key and
 * input field accepts the same forms and says the same thing when refused.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

/* The longest duration accepted, in seconds: about 31.7 million years. */
#define DURATION_MAX 1e15

int stv_parse_number_prefix(const char *s, double *out, const char **end) {
  size_t i = 0, digits = 0;
  char *e;
  double v;
  if (s[i] == '+' || s[i] == '-') i++;
  while (s[i] >= '0' && s[i] <= '9') i++, digits++;
  if (s[i] == '.') {
    i++;
    while (s[i] >= '0' && s[i] <= '9') i++, digits++;
  }
  if (digits == 0) return STV_EINVAL;
  if (s[i] == 'e' || s[i] == 'E') {
    size_t j = i + 1;
    if (s[j] == '+' || s[j] == '-') j++;
    if (s[j] >= '0' && s[j] <= '9') {
      while (s[j] >= '0' && s[j] <= '9') j++;
      i = j;
    }
  }
  /*
   * strtod must read exactly the text checked above, not the hex number
   * that "0x10" is to it: a short span is converted from a copy; a long one
   * cannot be hex, whose "x" comes second or third.
   */
  errno = 0;
  if (i < 128) {
    char copy[128];
    memcpy(copy, s, i);
    copy[i] = '\0';
    v = strtod(copy, &e);
    e = (char *)s + (e - copy);
  } else {
    v = strtod(s, &e);
  }
  if (e != s + i) return STV_EINVAL;
  if (errno != 0 || !isfinite(v)) return STV_ERANGE;
  *out = v;
  *end = e;
  return 0;
}

int stv_parse_number(const char *s, double *out, struct stv_err *err) {
  const char *end;
  double v;
  int rc = stv_parse_number_prefix(s, &v, &end);
  if (rc == STV_ERANGE) return stv_err_set(err, STV_ERANGE, "%.80s is out of range", s);
  if (rc != 0 || *end != '\0') return stv_err_set(err, STV_EINVAL, "\"%.80s\" is not a number", s);
  *out = v;
  return 0;
}

/* The units of a duration, largest first (a duration's terms go in this order). */
static const struct {
  const char *unit;
  double secs;
} duration_units[] = {{"y", 365 * 86400.0}, {"w", 7 * 86400.0}, {"d", 86400.0}, {"h", 3600.0},
                      {"ms", 1e-3},         {"m", 60.0},        {"s", 1.0}};

/* The rank of duration_units[i] from largest (0) to smallest (6): ms sorts after s. */
static int unit_rank(size_t i) {
  static const int rank[] = {0, 1, 2, 3, 6, 4, 5};
  return rank[i];
}

int stv_parse_duration(const char *s, double *seconds, struct stv_err *err) {
  const char *p = s, *end;
  double total = 0, v;
  int sign = 1, last = -1;
  if (s == NULL || *s == '\0') return stv_err_set(err, STV_EINVAL, "empty duration");
  /* A bare number is seconds. */
  if (stv_parse_number_prefix(s, &v, &end) == 0 && *end == '\0') {
    if (!(fabs(v) <= DURATION_MAX)) return stv_err_set(err, STV_ERANGE, "duration \"%.80s\" is too long", s);
    *seconds = v;
    return 0;
  }
  if (*p == '-' || *p == '+') sign = *p++ == '-' ? -1 : 1;
  while (*p != '\0') {
    double n = 0, scale = 1;
    size_t i, ndig = 0;
    int r;
    while (*p >= '0' && *p <= '9') n = n * 10 + (*p++ - '0'), ndig++;
    if (*p == '.' && p[1] >= '0' && p[1] <= '9') {
      p++;
      while (*p >= '0' && *p <= '9') n += (*p++ - '0') * (scale /= 10), ndig++;
    }
    if (ndig == 0)
      return stv_err_set(err, STV_EINVAL,
                         "invalid duration \"%.80s\": expected a number before \"%.40s\" "
                         "(for example 500ms, 30s, 5m, 12h, 7d, 2w, 1y, or 1h30m)",
                         s, p);
    if (*p == '\0')
      return stv_err_set(err, STV_EINVAL, "invalid duration \"%.80s\": missing unit (ms, s, m, h, d, w, y)",
                         s);
    for (i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
      size_t k = strlen(duration_units[i].unit);
      if (strncmp(p, duration_units[i].unit, k) == 0) break;
    }
    if (i == sizeof(duration_units) / sizeof(duration_units[0]))
      return stv_err_set(err, STV_EINVAL,
                         "invalid duration \"%.80s\": unknown unit \"%.*s\" (use ms, s, m, h, d, w, y)", s,
                         (int)(strcspn(p + 1, "0123456789.") + 1), p);
    r = unit_rank(i);
    if (r <= last)
      return stv_err_set(err, STV_EINVAL,
                         "invalid duration \"%.80s\": units must go from largest to smallest", s);
    last = r;
    total += n * duration_units[i].secs;
    if (!(total <= DURATION_MAX)) return stv_err_set(err, STV_ERANGE, "duration \"%.80s\" is too long", s);
    p += strlen(duration_units[i].unit);
  }
  *seconds = sign * total;
  return 0;
}

/* Reads exactly n digits at p into *v; returns 0 or -1. */
static int digits(const char *p, int n, int *v) {
  int i;
  *v = 0;
  for (i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    *v = *v * 10 + (p[i] - '0');
  }
  return 0;
}

static int is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int y, int m, int d) {
  int64_t era, yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int stv_parse_time(const char *s, int64_t *unix_secs, int32_t *nanos, struct stv_err *err) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const char *why = NULL, *p = s;
  int y, mo, d, h, mi, sec, oh = 0, om = 0, osign = 0, ns = 0;
  if (s == NULL) s = p = "";
  if (digits(p, 4, &y) || p[4] != '-' || digits(p + 5, 2, &mo) || p[7] != '-' || digits(p + 8, 2, &d)) {
    why = "expected YYYY-MM-DD";
    goto bad;
  }
  if (mo < 1 || mo > 12) {
    why = "no such month";
    goto bad;
  }
  if (d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y))) {
    why = "no such day in that month";
    goto bad;
  }
  p += 10;
  if (*p != 'T' && *p != 't') {
    why = "expected T and a time of day after the date";
    goto bad;
  }
  p++;
  if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi) || p[5] != ':' || digits(p + 6, 2, &sec)) {
    why = "expected hh:mm:ss after the T";
    goto bad;
  }
  if (h > 23 || mi > 59 || sec > 59) {
    why = sec == 60 && h <= 23 && mi <= 59 ? "leap seconds are not supported" : "no such time of day";
    goto bad;
  }
  p += 8;
  if (*p == '.') {
    int n = 0;
    p++;
    if (*p < '0' || *p > '9') {
      why = "expected digits after the decimal point";
      goto bad;
    }
    for (; *p >= '0' && *p <= '9'; p++, n++)
      if (n < 9) ns = ns * 10 + (*p - '0');
    for (; n < 9; n++) ns *= 10;
  }
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    osign = *p == '-' ? -1 : 1;
    if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59) {
      why = "expected an offset +hh:mm or -hh:mm";
      goto bad;
    }
    p += 6;
  } else {
    why = "expected Z or an offset +hh:mm after the time";
    goto bad;
  }
  if (*p != '\0') {
    why = "unexpected text after the offset";
    goto bad;
  }
  *unix_secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - osign * (oh * 3600 + om * 60);
  if (nanos != NULL) *nanos = ns;
  return 0;
bad:
  return stv_err_set(err, STV_EINVAL, "invalid time \"%.80s\": %s (RFC 3339, like 2024-05-01T00:00:00Z)", s,
                     why);
}
