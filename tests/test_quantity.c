/*
 * Tests for the Kubernetes quantity parser and formatter. Expected values
 * follow k8s.io/apimachinery resource.Quantity: Value() and MilliValue()
 * round away from zero, so positive values round up and negative values
 * round down ("-1.5" is -2).
 */
#include "harness.h"
#include "packer.h"

struct qcase {
  const char *s;
  int milli;
  int64_t want;
};

struct bad_case {
  const char *s;
  const char *msg; /* a fragment err.msg must contain */
};

/* Checks every row; reports each mismatch and returns how many there were. */
static int run_cases(const struct qcase *c, size_t n) {
  int bad = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    struct stv_err err = {0, ""};
    int64_t got = -12345;
    int rc = stv_quantity_parse(c[i].s, c[i].milli, &got, &err);
    if (rc != 0 || got != c[i].want) {
      fprintf(stderr,
              "  \"%s\" (milli=%d): rc=%d got=%" PRId64 " want=%" PRId64
              " (%s)\n",
              c[i].s, c[i].milli, rc, got, c[i].want, err.msg);
      bad++;
    }
  }
  return bad;
}

/* Checks that every row fails with code and a message containing msg. */
static int run_bad(const struct bad_case *c, size_t n, int code) {
  int bad = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    int milli;
    for (milli = 0; milli <= 1; milli++) {
      struct stv_err err = {0, ""};
      int64_t got = 777;
      int rc = stv_quantity_parse(c[i].s, milli, &got, &err);
      if (rc != code || err.code != code || got != 777 ||
          strstr(err.msg, c[i].msg) == NULL) {
        fprintf(stderr, "  \"%s\" (milli=%d): rc=%d msg=\"%s\" want \"%s\"\n",
                c[i].s, milli, rc, err.msg, c[i].msg);
        bad++;
      }
    }
  }
  return bad;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------- */
/* Good input                                                             */

TEST(should_parse_plain_integers_as_whole_units) {
  static const struct qcase c[] = {
      {"0", 0, 0},   {"0", 1, 0}, {"1", 0, 1},           {"1", 1, 1000},
      {"007", 0, 7}, {"9", 0, 9}, {"123456", 0, 123456},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_scale_every_decimal_si_suffix) {
  static const struct qcase c[] = {
      {"5n", 1, 1},
      {"4u", 1, 1},
      {"3m", 1, 3},
      {"100m", 1, 100},
      {"1500m", 1, 1500},
      {"8k", 0, 8000},
      {"50k", 0, 50000},
      {"7M", 0, 7000000},
      {"6G", 0, INT64_C(6000000000)},
      {"5T", 0, INT64_C(5000000000000)},
      {"2P", 0, INT64_C(2000000000000000)},
      {"1E", 0, INT64_C(1000000000000000000)},
      {"8E", 0, INT64_C(8000000000000000000)},
      {"9E", 0, INT64_C(9000000000000000000)},
      {"9.223372036854775807E", 0, INT64_MAX},
      {"2k", 1, 2000000},
      {"1M", 1, 1000000000},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_scale_every_binary_si_suffix) {
  static const struct qcase c[] = {
      {"1Ki", 0, 1024},
      {"8Ki", 0, 8192},
      {"1Ki", 1, 1024000},
      {"7Mi", 0, INT64_C(7340032)},
      {"6Gi", 0, INT64_C(6442450944)},
      {"5Ti", 0, INT64_C(5497558138880)},
      {"4Pi", 0, INT64_C(4503599627370496)},
      {"3Ei", 0, INT64_C(3458764513820540928)},
      {"7Ei", 0, INT64_C(8070450532247928832)},
      {"8191Pi", 0, INT64_C(9222246136947933184)},
      {"512Mi", 1, INT64_C(536870912000)},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_apply_decimal_exponents_of_either_case_and_sign) {
  static const struct qcase c[] = {
      {"1e3", 0, 1000},
      {"1E6", 0, 1000000},
      {"1e9", 0, INT64_C(1000000000)},
      {"1E18", 0, INT64_C(1000000000000000000)},
      {"1.2e3", 0, 1200},
      {"1.3E+6", 0, 1300000},
      {"1.40e9", 0, INT64_C(1400000000)},
      {"2E-3", 1, 2},
      {"1E-3", 1, 1},
      {"0.5e-2", 1, 5},
      {"5e0", 0, 5},
      {"1e003", 0, 1000},
      {"0e999", 0, 0},
      {"0e-999", 1, 0},
      {"0.000000000000000000001e39", 0, INT64_C(1000000000000000000)},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_keep_fractions_exact_in_millis) {
  static const struct qcase c[] = {
      {"0.1", 1, 100},
      {"0.5", 1, 500},
      {".5", 1, 500},
      {"9.01", 1, 9010},
      {"1.5k", 0, 1500},
      {"100.035k", 0, 100035},
      {"0.0005k", 1, 500},
      {"10.035M", 0, 10035000},
      {"1.5Gi", 0, INT64_C(1610612736)},
      {"0.5Mi", 0, 524288},
      {"0.05Gi", 0, 53687092},
      {"0.025Ti", 0, INT64_C(27487790695)},
      {"100.000000", 1, 100000},
      {"5.", 0, 5},
      {"1.G", 0, INT64_C(1000000000)},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_round_positive_fractions_up) {
  static const struct qcase c[] = {
      {"1.0001", 1, 1001},
      {"1.0001", 0, 2},
      {"100n", 1, 1},
      {"1n", 0, 1},
      {"0.9n", 0, 1},
      {"3.001n", 1, 1},
      {"0.1", 0, 1},
      {"1500m", 0, 2},
      {"1.1Mi", 0, 1153434},
      {"100.035Ki", 0, 102436},
      {"0.000001Ti", 0, 1099512},
      {"0.000000000001Ki", 0, 1},
      {"0.000000000001Ki", 1, 1},
      {"0.00000012345", 1, 1},
      {"1.00000000000000000000000000000000000001", 0, 2},
      {"1.00000000000000000000000000000000000001", 1, 1001},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_round_negative_fractions_away_from_zero) {
  static const struct qcase c[] = {
      {"-1.5", 0, -2},         {"-0.1", 1, -100}, {"-0.1", 0, -1},
      {"-1n", 0, -1},          {"-1n", 1, -1},    {"-9.01", 0, -10},
      {"-1.1Mi", 0, -1153434},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_honour_an_explicit_sign) {
  static const struct qcase c[] = {
      {"+5", 0, 5},     {"-5", 0, -5}, {"+1.5", 1, 1500}, {"-1Ki", 0, -1024},
      {"-2E-3", 1, -2}, {"-0", 0, 0},  {"-0.0m", 1, 0},   {"+.5", 1, 500},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_round_absurdly_small_exponents_to_one_unit) {
  static const struct qcase c[] = {
      {"1e-999999999", 0, 1},
      {"1e-999999999", 1, 1},
      {"-1e-999999999", 0, -1},
      {"3Ki", 0, 3072},
      {"1e-99999999999999999999999999", 0, 1},
      {"1e-30", 1, 1},
      {"5e-25", 0, 1},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_handle_many_significant_digits_exactly) {
  static const struct qcase c[] = {
      {"123456789012345678901234567890e-20", 0, 1234567891},
      {"1000000000000000000000e-3", 0, INT64_C(1000000000000000000)},
      {"0.000000000000000000000000000000000000000000000001", 0, 1},
      {"00000000000000000000000000000000000000000001", 0, 1},
      {"9223372036854775.8070000000000000000000", 1, INT64_MAX},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_parse_a_long_run_of_zeros_before_a_digit) {
  char s[2100];
  int64_t v = 0;
  memset(s, '0', sizeof(s));
  s[1] = '.';
  s[sizeof(s) - 2] = '7';
  s[sizeof(s) - 1] = '\0';
  CHECK_EQ_INT(stv_quantity_parse(s, 0, &v, NULL), 0);
  CHECK_EQ_INT(v, 1);
  CHECK_EQ_INT(stv_quantity_parse(s + 1, 1, &v, NULL), 0);
  CHECK_EQ_INT(v, 1);
}

TEST(should_accept_a_null_error_buffer) {
  int64_t v = 0;
  CHECK_EQ_INT(stv_quantity_parse("250m", 1, &v, NULL), 0);
  CHECK_EQ_INT(v, 250);
  CHECK_EQ_INT(stv_quantity_parse("12x", 1, &v, NULL), STV_EINVAL);
  CHECK_EQ_INT(stv_quantity_parse("10E", 0, &v, NULL), STV_ERANGE);
  CHECK_EQ_INT(v, 250);
}

/* ---------------------------------------------------------------------- */
/* Bad input                                                              */

TEST(should_reject_malformed_text_as_invalid) {
  static const struct bad_case c[] = {
      {"", "empty"},
      {".", "expected a number"},
      {"+", "expected a number"},
      {"-", "expected a number"},
      {"-.", "expected a number"},
      {"Mi", "expected a number"},
      {"k", "expected a number"},
      {"e3", "expected a number"},
      {"--1", "expected a number"},
      {"+-1", "expected a number"},
      {"aoeu", "expected a number"},
      {"1.2.3", "unknown suffix \".3\""},
      {"1.1.M", "unknown suffix"},
      {"1+1.0M", "unknown suffix \"+1.0M\""},
      {"12x", "unknown suffix \"x\""},
      {"1Ki2", "unknown suffix \"Ki2\""},
      {"0.1mi", "unknown suffix \"mi\""},
      {"0.1am", "unknown suffix"},
      {".5i", "unknown suffix \"i\""},
      {"1i", "unknown suffix"},
      {"-3.01i", "unknown suffix"},
      {"1K", "unknown suffix \"K\""},
      {"1KI", "unknown suffix"},
      {"1kk", "unknown suffix"},
      {"1Mii", "unknown suffix"},
      {"1,5", "unknown suffix \",5\""},
      {"0x10", "unknown suffix \"x10\""},
      {"1_000", "unknown suffix"},
      {"1e", "unknown suffix \"e\""},
      {"1.e", "unknown suffix \"e\""},
      {"1e+", "malformed exponent \"e+\""},
      {"-3.01e-", "malformed exponent"},
      {"1E+-3", "malformed exponent"},
      {"1e3.5", "malformed exponent"},
      {"1e3x", "malformed exponent"},
      {"1\xc2\xb5", "unknown suffix \"\\xc2\\xb5\""},
  };
  CHECK_EQ_INT(run_bad(c, N(c), STV_EINVAL), 0);
}

TEST(should_reject_surrounding_whitespace) {
  static const struct bad_case c[] = {
      {" 1", "leading whitespace"},      {"1 ", "unexpected whitespace"},
      {"\t1", "leading whitespace"},     {"1\n", "unexpected whitespace"},
      {"1 Ki", "unexpected whitespace"},
  };
  CHECK_EQ_INT(run_bad(c, N(c), STV_EINVAL), 0);
}

TEST(should_name_the_input_and_the_bad_suffix_in_the_message) {
  struct stv_err err = {0, ""};
  int64_t v;
  CHECK_EQ_INT(stv_quantity_parse("12x", 0, &v, &err), STV_EINVAL);
  CHECK(strcmp(err.msg, "invalid quantity \"12x\": unknown suffix \"x\"") == 0);
}

TEST(should_reject_a_null_string) {
  struct stv_err err = {0, ""};
  int64_t v;
  CHECK_EQ_INT(stv_quantity_parse(NULL, 0, &v, &err), STV_EINVAL);
  CHECK_EQ_INT(err.code, STV_EINVAL);
}

TEST(should_escape_and_shorten_long_input_in_the_message) {
  struct stv_err err = {0, ""};
  char s[1000];
  int64_t v;
  memset(s, 'q', sizeof(s));
  s[0] = '1';
  s[sizeof(s) - 1] = '\0';
  CHECK_EQ_INT(stv_quantity_parse(s, 0, &v, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "...");
  CHECK(strlen(err.msg) < 300);
  CHECK_EQ_INT(stv_quantity_parse("1\"", 0, &v, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "invalid quantity \"1\\\"\"");
}

/* ---------------------------------------------------------------------- */
/* Range                                                                  */

TEST(should_accept_values_at_the_int64_boundaries) {
  static const struct qcase c[] = {
      {"9223372036854775807", 0, INT64_MAX},
      {"-9223372036854775808", 0, INT64_MIN},
      {"9223372036854775807m", 1, INT64_MAX},
      {"-9223372036854775808m", 1, INT64_MIN},
      {"9223372036854775.807", 1, INT64_MAX},
      {"9223372036854775806.5", 0, INT64_MAX},
      {"-9223372036854775807.5", 0, INT64_MIN},
      {"9223372036854775", 1, INT64_C(9223372036854775000)},
      {"-8Ei", 0, INT64_MIN},
      {"0.0000000000000000009223372036854775807e37", 0, INT64_MAX},
      {"9223372036854775807000e-3", 0, INT64_MAX},
  };
  CHECK_EQ_INT(run_cases(c, N(c)), 0);
}

TEST(should_report_values_beyond_int64_as_out_of_range) {
  static const struct qcase c[] = {
      {"9223372036854775808", 0, 0},
      {"-9223372036854775809", 0, 0},
      {"9223372036854775807.1", 0, 0},
      {"9223372036854775.808", 1, 0},
      {"9223372036854775.8071", 1, 0},
      {"9223372036854776", 1, 0},
      {"9223372036854775808m", 1, 0},
      {"9.3E", 0, 0},
      {"10E", 0, 0},
      {"12E", 0, 0},
      {"-9.3E", 0, 0},
      {"8Ei", 0, 0},
      {"8192Pi", 0, 0},
      {"9223372036854775807Ki", 0, 0},
      {"1Ei", 1, 0},
      {"1e19", 0, 0},
      {"1e18", 1, 0},
      {"1e999999999", 0, 0},
      {"1e99999999999999999999999999", 1, 0},
      {"-1e999999999", 0, 0},
      {"0.000000000000000000001e40", 0, 0},
      {"99999999999999999999999999999999999999999", 0, 0},
  };
  size_t i;
  for (i = 0; i < N(c); i++) {
    struct stv_err err = {0, ""};
    int64_t v = 42;
    int rc = stv_quantity_parse(c[i].s, c[i].milli, &v, &err);
    if (rc != STV_ERANGE)
      fprintf(stderr, "  \"%s\" (milli=%d): rc=%d v=%" PRId64 "\n", c[i].s,
              c[i].milli, rc, v);
    CHECK_EQ_INT(rc, STV_ERANGE);
    CHECK_EQ_INT(err.code, STV_ERANGE);
    CHECK_EQ_INT(v, 42);
    CHECK_STR_CONTAINS(err.msg, "is too large");
  }
}

TEST(should_say_which_quantity_is_too_large) {
  struct stv_err err = {0, ""};
  int64_t v;
  CHECK_EQ_INT(stv_quantity_parse("10E", 0, &v, &err), STV_ERANGE);
  CHECK(strcmp(err.msg, "quantity \"10E\" is too large") == 0);
}

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

static uint64_t next_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * UINT64_C(2685821657736338717);
}

/* A value with a random magnitude, sign and, often, a round factor. */
static int64_t random_value(uint64_t *state) {
  uint64_t r = next_rand(state);
  uint64_t u = next_rand(state) >> (r % 64);
  int shift = 10 * (int)((r >> 12) % 6 + 1);
  int64_t v;
  switch ((r >> 8) % 4) {
  case 0: u = (u >> shift) << shift; break;
  case 1: u = (u / 1000) * 1000; break;
  default: break;
  }
  v = (int64_t)u;
  if (((r >> 20) & 1) && v != INT64_MIN) v = -v;
  return v;
}

TEST(should_round_trip_random_values_through_format_and_parse) {
  uint64_t state = UINT64_C(0x9e3779b97f4a7c15);
  int i, bad = 0;
  for (i = 0; i < 5000; i++) {
    int64_t v = random_value(&state);
    int mode;
    for (mode = 0; mode < 4; mode++) {
      char buf[32];
      int64_t back = 0;
      int milli = mode & 1, binary = mode >> 1;
      int rc;
      stv_quantity_format(v, milli, binary, buf, sizeof(buf));
      rc = stv_quantity_parse(buf, milli, &back, NULL);
      if (rc != 0 || back != v) {
        if (bad++ < 10)
          fprintf(stderr,
                  "  %" PRId64 " (milli=%d binary=%d) -> \"%s\" -> %d %" PRId64
                  "\n",
                  v, milli, binary, buf, rc, back);
      }
    }
  }
  CHECK_EQ_INT(bad, 0);
}

__extension__ typedef unsigned __int128 u128;

/*
 * Builds "<sign><a>.<b padded to k digits><suffix>" and checks the parse
 * against exact 128-bit rational arithmetic.
 */
TEST(should_match_exact_rational_arithmetic_on_random_decimals) {
  static const char *const sfx[] = {"n",  "u",  "m",  "",    "k",  "M", "G",
                                    "Ki", "Mi", "Gi", "e-4", "e2", "E5"};
  static const int e10s[] = {-9, -6, -3, 0, 3, 6, 9, 0, 0, 0, -4, 2, 5};
  static const int e2s[] = {0, 0, 0, 0, 0, 0, 0, 10, 20, 30, 0, 0, 0};
  uint64_t state = 12345;
  int i, bad = 0;
  for (i = 0; i < 4000; i++) {
    uint64_t a = next_rand(&state) % 1000000;
    int k = (int)(next_rand(&state) % 7);
    uint64_t p10k = 1, b, r = next_rand(&state);
    int si = (int)(r % N(sfx)), milli = (int)((r >> 8) & 1);
    int neg = (int)((r >> 9) & 1), e, j;
    u128 num, den = 1, q;
    char s[64];
    int64_t got = 0, want = 0;
    int rc, want_rc = 0;

    for (j = 0; j < k; j++) p10k *= 10;
    b = next_rand(&state) % p10k;
    if (k > 0)
      snprintf(s, sizeof(s), "%s%" PRIu64 ".%0*" PRIu64 "%s", neg ? "-" : "", a,
               k, b, sfx[si]);
    else
      snprintf(s, sizeof(s), "%s%" PRIu64 "%s", neg ? "-" : "", a, sfx[si]);

    num = ((u128)a * p10k + b) << e2s[si];
    den = p10k;
    e = e10s[si] + (milli ? 3 : 0);
    for (; e > 0; e--) num *= 10;
    for (; e < 0; e++) den *= 10;
    q = num / den + (num % den != 0);
    if (q > (u128)INT64_MAX + (neg ? 1 : 0))
      want_rc = STV_ERANGE;
    else
      want = neg ? (int64_t)(0 - (uint64_t)q) : (int64_t)q;

    rc = stv_quantity_parse(s, milli, &got, NULL);
    if (rc != want_rc || (rc == 0 && got != want)) {
      if (bad++ < 10)
        fprintf(stderr,
                "  \"%s\" milli=%d: rc=%d got=%" PRId64 " want %d %" PRId64
                "\n",
                s, milli, rc, got, want_rc, want);
    }
  }
  CHECK_EQ_INT(bad, 0);
}

/* ---------------------------------------------------------------------- */
/* Formatting                                                             */

struct fcase {
  int64_t v;
  int milli, binary;
  const char *want;
};

TEST(should_format_values_in_their_short_form) {
  static const struct fcase c[] = {
      {1500, 1, 0, "1500m"},
      {2000, 1, 0, "2"},
      {-1500, 1, 0, "-1500m"},
      {-2000, 1, 0, "-2"},
      {0, 1, 0, "0"},
      {0, 0, 1, "0"},
      {0, 1, 1, "0"},
      {1, 1, 0, "1m"},
      {1024, 0, 0, "1024"},
      {1024, 0, 1, "1Ki"},
      {1025, 0, 1, "1025"},
      {536870912, 0, 1, "512Mi"},
      {INT64_C(1073741824), 0, 1, "1Gi"},
      {INT64_C(1610612736), 0, 1, "1536Mi"},
      {-1048576, 0, 1, "-1Mi"},
      {INT64_C(1099511627776), 0, 1, "1Ti"},
      {INT64_C(1125899906842624), 0, 1, "1Pi"},
      {INT64_C(3458764513820540928), 0, 1, "3Ei"},
      {INT64_MIN, 0, 1, "-8Ei"},
      {INT64_MAX, 0, 1, "9223372036854775807"},
      {INT64_MIN, 1, 0, "-9223372036854775808m"},
      {INT64_MAX, 0, 0, "9223372036854775807"},
      {1024000, 1, 1, "1Ki"},
      {1024000, 1, 0, "1024"},
      {1024500, 1, 1, "1024500m"},
      {1000000, 0, 0, "1000000"},
  };
  size_t i;
  for (i = 0; i < N(c); i++) {
    char buf[32];
    char *r =
        stv_quantity_format(c[i].v, c[i].milli, c[i].binary, buf, sizeof(buf));
    if (strcmp(buf, c[i].want) != 0)
      fprintf(stderr, "  %" PRId64 " milli=%d binary=%d: \"%s\" want \"%s\"\n",
              c[i].v, c[i].milli, c[i].binary, buf, c[i].want);
    CHECK(r == buf);
    CHECK(strcmp(buf, c[i].want) == 0);
  }
}

TEST(should_truncate_the_formatted_text_to_the_buffer_size) {
  char buf[8] = "xxxxxxx";
  CHECK(stv_quantity_format(123456, 0, 0, buf, 4) == buf);
  CHECK(strcmp(buf, "123") == 0);
  CHECK(stv_quantity_format(123456, 0, 0, buf, 0) == buf);
  CHECK(strcmp(buf, "123") == 0);
}

TEST(should_add_quantities_exactly_until_the_sum_leaves_int64) {
  int64_t v = 7;
  CHECK(stv_add_i64(INT64_MAX - 1, 1, &v) == 0);
  CHECK(v == INT64_MAX);
  CHECK(stv_add_i64(INT64_MIN, -0, &v) == 0);
  CHECK(v == INT64_MIN);
  v = 7;
  CHECK(stv_add_i64(INT64_MAX, 1, &v) == STV_ERANGE);
  CHECK(v == 7); /* left unchanged on overflow */
  CHECK(stv_add_i64(INT64_MIN, -1, &v) == STV_ERANGE);
  CHECK(stv_add_i64(INT64_MAX / 2 + 1, INT64_MAX / 2 + 1, &v) == STV_ERANGE);
  CHECK(v == 7);
}

TEST(should_multiply_quantities_exactly_until_the_product_leaves_int64) {
  int64_t v = 7;
  CHECK(stv_mul_i64(INT64_C(3037000499), INT64_C(3037000499), &v) == 0);
  CHECK(v == INT64_C(9223372030926249001));
  CHECK(stv_mul_i64(INT64_MAX, 2, &v) == STV_ERANGE);
  CHECK(stv_mul_i64(INT64_MIN, -1, &v) == STV_ERANGE);
  CHECK(v == INT64_C(9223372030926249001));
  CHECK(stv_mul_i64(0, INT64_MIN, &v) == 0);
  CHECK(v == 0);
}
