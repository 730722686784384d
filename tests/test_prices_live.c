/* Tests of live prices over a catalogue: stv_catalog_apply_quotes and the provenance (docs/prices-live.md). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "pricing.h"

/* Two types: m5.large on demand and spot in two zones, with a reservation in a; c5.large on demand only. */
static const char *const base_json =
    "{\"provider\":\"aws\",\"region\":\"us-east-1\",\"instance_types\":["
    "{\"name\":\"c5.large\",\"arch\":\"amd64\",\"capacity\":{\"cpu\":\"2\",\"memory\":\"4Gi\"},"
    "\"offerings\":["
    "{\"capacity_type\":\"on-demand\",\"zone\":\"us-east-1a\",\"price\":0.085},"
    "{\"capacity_type\":\"on-demand\",\"zone\":\"us-east-1b\",\"price\":0.085},"
    "{\"capacity_type\":\"on-demand\",\"zone\":\"us-east-1c\",\"price\":0.085}]},"
    "{\"name\":\"m5.large\",\"arch\":\"amd64\",\"capacity\":{\"cpu\":\"2\",\"memory\":\"8Gi\"},"
    "\"labels\":{\"example.com/team\":\"web\"},"
    "\"offerings\":["
    "{\"capacity_type\":\"on-demand\",\"zone\":\"us-east-1a\",\"price\":0.096},"
    "{\"capacity_type\":\"on-demand\",\"zone\":\"us-east-1b\",\"price\":0.096},"
    "{\"capacity_type\":\"spot\",\"zone\":\"us-east-1a\",\"price\":0.04,\"interruption_rate\":0.05},"
    "{\"capacity_type\":\"spot\",\"zone\":\"us-east-1b\",\"price\":0.041,\"interruption_rate\":0.05},"
    "{\"capacity_type\":\"reserved\",\"zone\":\"us-east-1a\",\"price\":0.06,\"count\":2}]}]}";

static int load_base(struct stv_catalog *c) {
  struct stv_err err;
  int rc = stv_catalog_load_json(c, "base.json", base_json, strlen(base_json), &err);
  if (rc != 0) fprintf(stderr, "  %s\n", err.msg);
  return rc;
}

static const struct stv_offering *off_of(const struct stv_catalog *c, const char *type,
                                         enum stv_capacity_type ct, const char *zone) {
  const struct stv_instance_type *t = stv_catalog_find(c, type);
  uint32_t k;
  for (k = 0; t != NULL && k < t->noff; k++) {
    if (t->off[k].capacity_type == ct && strcmp(t->off[k].zone, zone) == 0) return &t->off[k];
  }
  return NULL;
}

static struct stv_price_quote quote(const char *type, enum stv_capacity_type ct, const char *zone,
                                    double price, int64_t count, double as_of) {
  struct stv_price_quote q;
  q.instance_type = type;
  q.capacity_type = ct;
  q.zone = zone;
  q.price = price;
  q.count = count;
  q.as_of = as_of;
  return q;
}

TEST(should_apply_a_zonal_spot_quote_to_that_zone_only_and_leave_the_base_untouched) {
  struct stv_catalog base, out;
  struct stv_quote_stats st;
  struct stv_err err;
  struct stv_price_quote q = quote("m5.large", STV_CT_SPOT, "us-east-1b", 0.052, -1, 1765000000);
  const struct stv_offering *o;
  CHECK_EQ_INT(load_base(&base), 0);
  CHECK_EQ_INT(stv_catalog_apply_quotes(&out, &base, &q, 1, "DescribeSpotPriceHistory", &st, &err), 0);
  o = off_of(&out, "m5.large", STV_CT_SPOT, "us-east-1b");
  CHECK(o != NULL && o->price == 0.052 && o->live == 1 && o->as_of == 1765000000);
  CHECK(o->interruption_rate == 0.05); /* the base's rate stays */
  o = off_of(&out, "m5.large", STV_CT_SPOT, "us-east-1a");
  CHECK(o != NULL && o->price == 0.04 && o->live == 0);
  o = off_of(&base, "m5.large", STV_CT_SPOT, "us-east-1b");
  CHECK(o != NULL && o->price == 0.041 && o->live == 0);
  CHECK_EQ_INT(st.applied, 1);
  CHECK_EQ_INT(st.changed, 1);
  CHECK_EQ_INT(out.live_offerings, 1);
  CHECK(strcmp(out.live_source, "DescribeSpotPriceHistory") == 0);
  CHECK(out.live_as_of == 1765000000);
  CHECK(out.origin == NULL && base.live_source == NULL); /* loaded from text: no origin */
  /* the copy owns its strings: the base may go first */
  stv_catalog_close(&base);
  CHECK(strcmp(stv_catalog_find(&out, "m5.large")->labels.kv[0].key, "example.com/team") == 0);
  CHECK(strcmp(out.provider, "aws") == 0 && out.ntypes == 2);
  stv_catalog_close(&out);
}

TEST(should_apply_a_quote_without_zone_to_every_zone_and_add_missing_capacity_types) {
  struct stv_catalog base, out;
  struct stv_quote_stats st;
  struct stv_err err;
  struct stv_price_quote q[2] = {quote("m5.large", STV_CT_ON_DEMAND, NULL, 0.1, -1, 0),
                                 quote("c5.large", STV_CT_SPOT, NULL, 0.03, -1, 0)};
  const struct stv_offering *o;
  const char *zones[] = {"us-east-1a", "us-east-1b", "us-east-1c"};
  int z;
  CHECK_EQ_INT(load_base(&base), 0);
  CHECK_EQ_INT(stv_catalog_apply_quotes(&out, &base, q, 2, "Azure Retail Prices API", &st, &err), 0);
  CHECK(off_of(&out, "m5.large", STV_CT_ON_DEMAND, "us-east-1a")->price == 0.1);
  CHECK(off_of(&out, "m5.large", STV_CT_ON_DEMAND, "us-east-1b")->price == 0.1);
  CHECK(off_of(&out, "m5.large", STV_CT_ON_DEMAND, "us-east-1c") == NULL); /* not offered there */
  for (z = 0; z < 3; z++) {
    o = off_of(&out, "c5.large", STV_CT_SPOT, zones[z]);
    CHECK(o != NULL && o->price == 0.03 && o->live && o->interruption_rate < 0 && o->count == -1);
  }
  CHECK_EQ_INT(stv_catalog_find(&out, "c5.large")->noff, 6);
  CHECK_EQ_INT(stv_catalog_find(&base, "c5.large")->noff, 3);
  CHECK_EQ_INT(st.added, 3);
  CHECK_EQ_INT(st.applied, 5);
  CHECK_EQ_INT(st.changed, 5);
  CHECK_EQ_INT(out.live_offerings, 5);
  stv_catalog_close(&out);
  stv_catalog_close(&base);
}

TEST(should_override_and_add_reserved_offerings_with_their_counts) {
  struct stv_catalog base, out;
  struct stv_quote_stats st;
  struct stv_err err;
  struct stv_price_quote q[4] = {quote("m5.large", STV_CT_RESERVED, "us-east-1a", 0.05, 3, 0),
                                 quote("m5.large", STV_CT_RESERVED, "us-east-1a", 0.07, 1, 0),
                                 quote("m5.large", STV_CT_RESERVED, "us-east-1b", 0.055, 4, 0),
                                 quote("c5.large", STV_CT_RESERVED, NULL, 0.05, 5, 0)};
  const struct stv_offering *o;
  CHECK_EQ_INT(load_base(&base), 0);
  CHECK_EQ_INT(stv_catalog_apply_quotes(&out, &base, q, 4, "DescribeReservedInstances", &st, &err), 0);
  /* the base's 2 at 0.06 replaced by the two reservations: 4 at their weighted mean */
  o = off_of(&out, "m5.large", STV_CT_RESERVED, "us-east-1a");
  CHECK(o != NULL && o->count == 4 && fabs(o->price - 0.055) < 1e-12 && o->live);
  o = off_of(&out, "m5.large", STV_CT_RESERVED, "us-east-1b");
  CHECK(o != NULL && o->count == 4 && o->price == 0.055);
  /* a regional reservation of 5 over three zones: 2, 2, 1 */
  CHECK_EQ_INT(off_of(&out, "c5.large", STV_CT_RESERVED, "us-east-1a")->count, 2);
  CHECK_EQ_INT(off_of(&out, "c5.large", STV_CT_RESERVED, "us-east-1b")->count, 2);
  CHECK_EQ_INT(off_of(&out, "c5.large", STV_CT_RESERVED, "us-east-1c")->count, 1);
  CHECK_EQ_INT(st.added, 4);
  CHECK_EQ_INT(off_of(&base, "m5.large", STV_CT_RESERVED, "us-east-1a")->count, 2);
  stv_catalog_close(&out);
  stv_catalog_close(&base);
}

TEST(should_count_unknown_types_and_zones_without_applying_them) {
  struct stv_catalog base, out;
  struct stv_quote_stats st;
  struct stv_err err;
  struct stv_price_quote q[3] = {quote("m9.huge", STV_CT_SPOT, "us-east-1a", 1, -1, 0),
                                 quote("m5.large", STV_CT_SPOT, "us-east-1f", 0.5, -1, 0),
                                 quote("c5.large", STV_CT_ON_DEMAND, "us-east-1c", 0.085, -1, 0)};
  char line[512];
  CHECK_EQ_INT(load_base(&base), 0);
  CHECK_EQ_INT(stv_catalog_apply_quotes(&out, &base, q, 3, "test", &st, &err), 0);
  CHECK_EQ_INT(st.quotes, 3);
  CHECK_EQ_INT(st.unknown_types, 1);
  CHECK_EQ_INT(st.unknown_zones, 1);
  CHECK_EQ_INT(st.applied, 1);
  CHECK_EQ_INT(st.changed, 0); /* the same price: live, not changed */
  CHECK_EQ_INT(out.live_offerings, 1);
  CHECK_EQ_INT(stv_catalog_find(&out, "m5.large")->noff, 5);
  CHECK_STR_CONTAINS(stv_catalog_describe(&out, line, sizeof(line)),
                     "catalogue aws:us-east-1, 1 live figures (0 changed) from test");
  stv_catalog_close(&out);
  stv_catalog_close(&base);
}

TEST(should_let_the_later_of_two_quotes_for_one_offering_win) {
  struct stv_catalog base, out;
  struct stv_quote_stats st;
  struct stv_err err;
  struct stv_price_quote q[3] = {quote("m5.large", STV_CT_SPOT, "us-east-1a", 0.045, -1, 200),
                                 quote("m5.large", STV_CT_SPOT, "us-east-1a", 0.043, -1, 100),
                                 quote("m5.large", STV_CT_SPOT, "us-east-1a", 0.047, -1, 300)};
  CHECK_EQ_INT(load_base(&base), 0);
  CHECK_EQ_INT(stv_catalog_apply_quotes(&out, &base, q, 3, "test", &st, &err), 0);
  CHECK(off_of(&out, "m5.large", STV_CT_SPOT, "us-east-1a")->price == 0.047);
  CHECK(off_of(&out, "m5.large", STV_CT_SPOT, "us-east-1a")->as_of == 300);
  CHECK_EQ_INT(st.superseded, 2);
  stv_catalog_close(&out);
  stv_catalog_close(&base);
}

TEST(should_reject_bad_figures_naming_the_quote) {
  struct stv_catalog base, out;
  struct stv_err err;
  struct stv_price_quote ok = quote("m5.large", STV_CT_SPOT, "us-east-1a", 0.04, -1, 0);
  struct {
    struct stv_price_quote q;
    const char *msg;
  } bad[] = {
      {quote("m5.large", STV_CT_SPOT, "us-east-1a", -0.5, -1, 0),
       "src: quote 1 (m5.large spot us-east-1a): price: -0.5 is negative"},
      {quote("m5.large", STV_CT_SPOT, NULL, NAN, -1, 0),
       "quote 1 (m5.large spot every zone): price: not a number"},
      {quote("m5.large", STV_CT_ON_DEMAND, "us-east-1a", INFINITY, -1, 0), "price: not a number"},
      {quote("m5.large", STV_CT_ON_DEMAND, "us-east-1a", 2e6, -1, 0),
       "price: 2e+06 per hour is not plausible"},
      {quote("m5.large", STV_CT_RESERVED, "us-east-1a", 0.05, -3, 0),
       "count: -3 instances held must be from 0"},
      {quote(NULL, STV_CT_SPOT, "us-east-1a", 0.05, -1, 0),
       "quote 1 ((no type) spot us-east-1a): instance_type: missing"},
      {quote("m5.large", STV_CT_SPOT, "", 0.05, -1, 0), "zone: empty"},
      {quote("m5.large", STV_CT_SPOT, "us-east-1a", 0.05, -1, 1.7e12), "as_of: 1.7e+12 is not unix seconds"},
      {quote("m5.large", (enum stv_capacity_type)7, "us-east-1a", 0.05, -1, 0), "capacity_type: 7 is not"},
  };
  size_t i;
  CHECK_EQ_INT(load_base(&base), 0);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct stv_price_quote q[2];
    q[0] = ok;
    q[1] = bad[i].q;
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(stv_catalog_apply_quotes(&out, &base, q, 2, "src", NULL, &err), STV_EINVAL);
    CHECK_STR_CONTAINS(err.msg, bad[i].msg);
  }
  stv_catalog_close(&base);
}

TEST(should_say_which_embedded_catalogue_and_data_date_are_in_use) {
  struct stv_catalog c, out;
  struct stv_err err;
  char line[512];
  struct stv_price_quote q = quote("Standard_D2s_v5", STV_CT_SPOT, NULL, 0.02, -1, 1765152000);
  CHECK_EQ_INT(stv_catalog_load(&c, "azure:westeurope", &err), 0);
  CHECK(strcmp(c.origin, "azure:westeurope") == 0 && strcmp(c.data_date, "2026-06-18") == 0);
  CHECK_STR_CONTAINS(stv_catalog_describe(&c, line, sizeof(line)),
                     "embedded catalogue azure:westeurope (data of 2026-06-18)");
  CHECK_EQ_INT(stv_catalog_apply_quotes(&out, &c, &q, 1, "Azure Retail Prices API", NULL, &err), 0);
  CHECK(out.live_offerings > 0 && out.live_changed == out.live_offerings);
  CHECK_STR_CONTAINS(stv_catalog_describe(&out, line, sizeof(line)),
                     "from Azure Retail Prices API as of 2025-12-08T00:00:00Z");
  stv_catalog_close(&out);
  stv_catalog_close(&c);
  CHECK_EQ_INT(stv_catalog_load(&c, "aws:us-east-1", &err), 0);
  CHECK(strcmp(c.data_date, "2026-07-20") == 0);
  stv_catalog_close(&c);
  CHECK_EQ_INT(stv_catalog_load(&c, "aws:eu-west-1", &err), 0);
  CHECK(strcmp(c.data_date, "2025-04-04") == 0);
  stv_catalog_close(&c);
}

TEST(should_copy_a_catalogue_with_its_provenance) {
  struct stv_catalog c, cp;
  struct stv_err err;
  CHECK_EQ_INT(stv_catalog_load(&c, "gcp:us-east1", &err), 0);
  CHECK_EQ_INT(stv_catalog_copy(&cp, &c, &err), 0);
  CHECK(cp.ntypes == c.ntypes && strcmp(cp.origin, "gcp:us-east1") == 0 && cp.data_date == c.data_date);
  CHECK(cp.types[0].name != c.types[0].name && strcmp(cp.types[0].name, c.types[0].name) == 0);
  stv_catalog_close(&c);
  CHECK(stv_catalog_find(&cp, cp.types[cp.ntypes - 1].name) == &cp.types[cp.ntypes - 1]);
  stv_catalog_close(&cp);
}
