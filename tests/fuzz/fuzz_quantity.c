/*
 * Fuzz target: Kubernetes quantities (packer/quantity.c). Any text parses
 * to a value or fails with STV_EINVAL/STV_ERANGE and a message; a value
 * formatted back and parsed again gives the same value (the formatter is
 * exact); and the checked sums agree with wide arithmetic.
 */
#include "fuzz.h"

/* Quantities longer than this are not worth the fuzzer's time. */
#define QTY_MAX 256

static void round_trip(int64_t v, int milli, int binary) {
  char buf[64];
  int64_t back = 0;
  struct stv_err err = {0, ""};
  stv_quantity_format(v, milli, binary, buf, sizeof(buf));
  if (stv_quantity_parse(buf, milli, &back, &err) != 0) {
    fprintf(stderr, "formatted %lld (milli=%d binary=%d) as \"%s\", which does not parse: %s\n", (long long)v,
            milli, binary, buf, err.msg);
    abort();
  }
  FUZZ_CHECK(back == v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int64_t v[2] = {0, 0};
  int milli;
  char *s;
  if (size > QTY_MAX) return 0;
  s = fuzz_cstr(data, size);
  for (milli = 0; milli < 2; milli++) {
    struct stv_err err = {0, ""};
    int rc = stv_quantity_parse(s, milli, &v[milli], &err);
    fuzz_check_error(rc, &err);
    FUZZ_CHECK(rc == 0 || rc == STV_EINVAL || rc == STV_ERANGE);
    if (rc == 0) {
      round_trip(v[milli], milli, 0);
      round_trip(v[milli], milli, 1);
    }
  }
  {
    int64_t sum = 0, prod = 0;
    __int128 wide = (__int128)v[0] + v[1], wprod = (__int128)v[0] * v[1];
    int fits = wide >= INT64_MIN && wide <= INT64_MAX, pfits = wprod >= INT64_MIN && wprod <= INT64_MAX;
    FUZZ_CHECK((stv_add_i64(v[0], v[1], &sum) == 0) == fits);
    FUZZ_CHECK(!fits || sum == (int64_t)wide);
    FUZZ_CHECK((stv_mul_i64(v[0], v[1], &prod) == 0) == pfits);
    FUZZ_CHECK(!pfits || prod == (int64_t)wprod);
  }
  free(s);
  return 0;
}
