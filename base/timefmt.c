/*
 * Writing times: the one RFC 3339 formatter (base.h; the parser is in
 * parse.c) and the wall clock for times written out.
 */
#include "base.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

char *stv_format_time(double secs, int digits, char *buf, size_t size) {
  struct tm tm;
  time_t whole;
  double frac;
  size_t n;
  long scaled;
  if (size == 0) return buf;
  buf[0] = '\0';
  if (!isfinite(secs) || secs < -62135596800.0 || secs > 253402300799.0) return buf; /* years 1..9999 */
  if (digits < 0) digits = 0;
  if (digits > 9) digits = 9;
  whole = (time_t)floor(secs);
  frac = secs - (double)whole;
  scaled = lround(frac * pow(10, digits));
  if (scaled >= (long)pow(10, digits)) { /* 0.9999999 rounded up to the next second */
    whole++;
    scaled = 0;
  }
  if (gmtime_r(&whole, &tm) == NULL) return buf;
  n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
  if (n == 0) {
    buf[0] = '\0';
    return buf;
  }
  if (digits > 0)
    snprintf(buf + n, size - n, ".%0*ldZ", digits, scaled);
  else
    snprintf(buf + n, size - n, "Z");
  return buf;
}

double stv_wall_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
