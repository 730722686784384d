/*
 * Tests of the cost report engine (pricing/report.h): node pricing (spot,
 * reserved, zone fallback, overrides, provider ids, unknown prices), the
 * price split (default ratios and GPUs), allocation as max(request, usage),
 * idle, shared namespaces and overhead spread evenly or in proportion,
 * reconciliation to the cent, grouping, windows, right-sizing statistics,
 * the renderers and allocation failures. Every expected figure is computed
 * by hand in the comment beside it.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pricing.h"

#define GIB 1073741824.0
#define MIB 1048576.0

#define CHECK_NEAR(a, b, eps)                                                                        \
  do {                                                                                               \
    double stv__x = (a), stv__y = (b);                                                               \
    if (!(fabs(stv__x - stv__y) <= (eps))) {                                                         \
      fprintf(stderr, "  %s:%d: %s == %.10g, expected %.10g\n", __FILE__, __LINE__, #a, stv__x, stv__y); \
      *stv__failed = 1;                                                                              \
      return;                                                                                        \
    }                                                                                                \
  } while (0)

/* ---------------------------------------------------------------------- */
/* Fixtures                                                               */

/*
 * m.large: 2 cores, 8 GiB: on-demand z1 0.20, spot z1 0.08, spot z2 0.12,
 * reserved z1 0.10. g.xlarge: 4 cores, 16 GiB, 1 GPU: on-demand z1 2.00.
 */
static const char *const CATALOG =
    "{\"provider\": \"test\", \"region\": \"r1\", \"currency\": \"USD\", \"instance_types\": ["
    " {\"name\": \"m.large\", \"arch\": \"amd64\","
    "  \"capacity\": {\"cpu\": \"2\", \"memory\": \"8Gi\", \"pods\": \"110\"},"
    "  \"offerings\": ["
    "   {\"capacity_type\": \"on-demand\", \"zone\": \"z1\", \"price\": 0.20},"
    "   {\"capacity_type\": \"spot\", \"zone\": \"z1\", \"price\": 0.08},"
    "   {\"capacity_type\": \"spot\", \"zone\": \"z2\", \"price\": 0.12},"
    "   {\"capacity_type\": \"reserved\", \"zone\": \"z1\", \"price\": 0.10, \"count\": 5}]},"
    " {\"name\": \"g.xlarge\", \"arch\": \"amd64\","
    "  \"capacity\": {\"cpu\": \"4\", \"memory\": \"16Gi\", \"pods\": \"110\", \"nvidia.com/gpu\": \"1\"},"
    "  \"offerings\": [{\"capacity_type\": \"on-demand\", \"zone\": \"z1\", \"price\": 2.0}]}]}";

static int load_catalog(struct stv_catalog *c) {
  struct stv_err err;
  return stv_catalog_load_json(c, "test-catalog.json", CATALOG, strlen(CATALOG), &err);
}

/* Options with no shared namespace and easy ratios: 1 per core, 0.25 per GiB, 8 per GPU. */
static struct stv_report_opts easy_opts(const struct stv_catalog *c) {
  static const char *const none[1] = {NULL};
  struct stv_report_opts o;
  memset(&o, 0, sizeof(o));
  o.catalog = c;
  o.shared_namespaces = none;
  o.nshared = 0;
  o.ratio_cpu = 1;
  o.ratio_ram = 0.25;
  o.ratio_gpu = 8;
  o.margin = 0.2;
  return o;
}

static struct stv_cost_node node(const char *name, const char *type, const char *zone, const char *ct,
                                 double cores, double gib, double gpus) {
  struct stv_cost_node n;
  memset(&n, 0, sizeof(n));
  n.name = name;
  n.instance_type = type;
  n.zone = zone;
  n.capacity_type = ct;
  n.cpu_cores = cores;
  n.ram_bytes = gib * GIB;
  n.gpus = gpus;
  n.price = -1;
  return n;
}

static struct stv_cost_pod pod(const char *ns, const char *name, const char *node_name, double cpu, double gib) {
  struct stv_cost_pod p;
  memset(&p, 0, sizeof(p));
  p.ns = ns;
  p.name = name;
  p.node = node_name;
  p.cpu_req = cpu;
  p.ram_req = gib * GIB;
  p.cpu_use = -1;
  p.ram_use = -1;
  return p;
}

static struct stv_cost_step step_of(double hours, struct stv_cost_node *nodes, size_t nn, struct stv_cost_pod *pods,
                                    size_t np) {
  struct stv_cost_step s;
  memset(&s, 0, sizeof(s));
  s.hours = hours;
  s.nodes = nodes;
  s.nnodes = nn;
  s.pods = pods;
  s.npods = np;
  return s;
}

static const struct stv_report_row *row_of(const struct stv_report *r, const char *group) {
  size_t i;
  for (i = 0; i < r->nrows; i++)
    if (strcmp(r->rows[i].group, group) == 0) return &r->rows[i];
  return NULL;
}

/* The cent identities every finished report must satisfy. */
static int reconciles(const struct stv_report *r) {
  const struct stv_report_totals *t = &r->totals;
  int64_t rows = 0, alloc = 0, shared = 0;
  size_t i;
  for (i = 0; i < r->nrows; i++) {
    const struct stv_report_row *x = &r->rows[i];
    if (x->cpu_cents + x->ram_cents + x->gpu_cents + x->shared_cents != x->total_cents) return 0;
    if (x->cpu_cents < 0 || x->ram_cents < 0 || x->gpu_cents < 0 || x->shared_cents < 0) return 0;
    rows += x->total_cents;
    alloc += x->cpu_cents + x->ram_cents + x->gpu_cents;
    shared += x->shared_cents;
  }
  if (alloc != t->allocated_cents || shared != t->shared_cents) return 0;
  if (rows + t->idle_cents != t->node_cents + t->overhead_cents) return 0;
  if (t->allocated_cents + t->shared_cents + t->idle_cents != t->node_cents + t->overhead_cents) return 0;
  return t->reconciled;
}

/* ---------------------------------------------------------------------- */
/* Split and allocation                                                   */

TEST(should_split_the_price_in_ratio_and_allocate_max_of_request_and_usage) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[2];
  struct stv_cost_step s;
  const struct stv_report_row *a, *b;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  /* m.large on-demand z1: 0.20/h; weights 2 x 1 and 8 x 0.25: cpu 0.10/h (0.05 per core), ram 0.10/h (0.0125 per GiB). */
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  /* a/p1 requests 0.5 core and 2 GiB, uses 0.8 core and 1 GiB: allocated 0.8 core (0.04) and 2 GiB (0.025). */
  p[0] = pod("a", "p1", "n1", 0.5, 2);
  p[0].cpu_use = 0.8;
  p[0].ram_use = 1 * GIB;
  /* b/p2 requests 1 core and 1 GiB, usage unknown: 0.05 + 0.0125. */
  p[1] = pod("b", "p2", "n1", 1, 1);
  s = step_of(100, n, 1, p, 2);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  /* Over 100 h: a 6.50 (cpu 4.00, ram 2.50), b 6.25 (cpu 5.00, ram 1.25); idle 20.00 - 12.75 = 7.25. */
  CHECK(r.complete);
  CHECK_EQ_INT(r.nrows, 2);
  CHECK(strcmp(r.rows[0].group, "a") == 0); /* sorted by total */
  a = row_of(&r, "a");
  b = row_of(&r, "b");
  CHECK(a != NULL && b != NULL);
  CHECK_EQ_INT(a->cpu_cents, 400);
  CHECK_EQ_INT(a->ram_cents, 250);
  CHECK_EQ_INT(a->total_cents, 650);
  CHECK_EQ_INT(b->cpu_cents, 500);
  CHECK_EQ_INT(b->ram_cents, 125);
  CHECK_EQ_INT(b->total_cents, 625);
  CHECK_EQ_INT(r.totals.idle_cents, 725);
  CHECK_EQ_INT(r.totals.node_cents, 2000);
  /* Idle per resource: cpu 0.2 core x 0.05 x 100 = 1.00; ram 5 GiB x 0.0125 x 100 = 6.25. */
  CHECK_NEAR(r.totals.cpu_idle, 1.0, 1e-9);
  CHECK_NEAR(r.totals.ram_idle, 6.25, 1e-9);
  /* Efficiency of a: cpu 0.8/0.5, ram 1/2, cost-weighted (0.04 + 0.0125) / (0.025 + 0.025). */
  CHECK_NEAR(a->cpu_efficiency, 1.6, 1e-9);
  CHECK_NEAR(a->ram_efficiency, 0.5, 1e-9);
  CHECK_NEAR(a->efficiency, 1.05, 1e-9);
  CHECK(b->efficiency < 0 && b->cpu_efficiency < 0);
  CHECK_NEAR(a->cpu_req_core_h, 50, 1e-9);
  CHECK_NEAR(a->cpu_use_core_h, 80, 1e-9);
  CHECK_NEAR(a->hours, 100, 1e-9);
  CHECK_NEAR(a->pods, 1, 1e-9);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_use_opencost_default_ratios_scaled_to_the_node_price) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[1];
  struct stv_cost_step s;
  double wc = 2 * STV_RATIO_CPU, wr = 8 * STV_RATIO_RAM;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  o.ratio_cpu = o.ratio_ram = o.ratio_gpu = 0; /* defaults */
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  p[0] = pod("a", "p", "n1", 2, 0); /* all the cpu, no memory */
  s = step_of(1, n, 1, p, 1);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  /* cpu part = 0.20 x 0.063222 / (0.063222 + 0.033896) = 0.1301963, the rest is ram (idle). */
  CHECK_NEAR(r.totals.cpu_cost, 0.20 * wc / (wc + wr), 1e-12);
  CHECK_NEAR(r.totals.ram_cost, 0.20 * wr / (wc + wr), 1e-12);
  CHECK_NEAR(r.rows[0].cpu_cost, 0.1301962561, 1e-9);
  CHECK_NEAR(r.totals.idle, 0.20 - 0.1301962561, 1e-9);
  CHECK_NEAR(r.opts.ratio_cpu, 0.031611, 0);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_split_gpu_nodes_and_charge_the_gpu_to_the_pod_that_requests_it) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[1];
  struct stv_cost_step s;
  const struct stv_report_row *ml;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  /* g.xlarge 2.00/h; weights 4 x 1, 16 x 0.25, 1 x 8 = 4 + 4 + 8: cpu 0.50, ram 0.50, gpu 1.00. */
  n[0] = node("g1", "g.xlarge", "z1", "on-demand", 4, 16, 1);
  /* ml/train: 2 cores (0.25), 8 GiB (0.25), the GPU (1.00): 1.50/h; idle 0.50/h. */
  p[0] = pod("ml", "train", "g1", 2, 8);
  p[0].gpu_req = 1;
  s = step_of(10, n, 1, p, 1);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  ml = row_of(&r, "ml");
  CHECK(ml != NULL);
  CHECK_EQ_INT(ml->gpu_cents, 1000);
  CHECK_EQ_INT(ml->cpu_cents, 250);
  CHECK_EQ_INT(ml->ram_cents, 250);
  CHECK_EQ_INT(ml->total_cents, 1500);
  CHECK_EQ_INT(r.totals.idle_cents, 500);
  CHECK_NEAR(r.totals.gpu_cost, 10.0, 1e-9);
  CHECK_NEAR(r.totals.gpu_idle, 0.0, 1e-9);
  CHECK_NEAR(ml->gpu_h, 10, 1e-9);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_scale_allocations_down_when_usage_exceeds_the_node) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[2];
  struct stv_cost_step s;
  size_t i;
  int noted = 0;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  /* Each uses 1.5 cores of 2: 3 cores allocated, scaled by 2/3 to 1 core each (0.05/h). */
  p[0] = pod("a", "x", "n1", 1, 0);
  p[0].cpu_use = 1.5;
  p[1] = pod("b", "y", "n1", 1, 0);
  p[1].cpu_use = 1.5;
  s = step_of(100, n, 1, p, 2);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  CHECK_EQ_INT(row_of(&r, "a")->cpu_cents, 500);
  CHECK_EQ_INT(row_of(&r, "b")->cpu_cents, 500);
  /* No cpu idle; all the ram (0.10/h) is idle. */
  CHECK_NEAR(r.totals.cpu_idle, 0, 1e-9);
  CHECK_EQ_INT(r.totals.idle_cents, 1000);
  for (i = 0; i < r.nnotes; i++) noted |= strstr(r.notes[i], "scaled down") != NULL;
  CHECK(noted);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

/* ---------------------------------------------------------------------- */
/* Node pricing                                                           */

TEST(should_price_spot_reserved_overrides_and_provider_ids_and_list_unknown_prices) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[8];
  struct stv_cost_pod p[1];
  struct stv_cost_step s;
  struct stv_label spot_kv = {"karpenter.sh/capacity-type", "spot"};
  struct stv_label eks_kv = {"eks.amazonaws.com/capacityType", "SPOT"};
  struct stv_label res_kv = {"stevedore.io/capacity-type", "reserved"};
  struct stv_labels spot_l = {1, &spot_kv}, eks_l = {1, &eks_kv}, res_l = {1, &res_kv};
  struct stv_price_override ov[2] = {{"n-override", NULL, NULL, 0.05}, {NULL, "g.xlarge", "reserved", 1.50}};
  struct stv_provider_capacity pc[1] = {{"aws:///z2/i-1", "spot"}};
  size_t i;
  int zone_note = 0;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  o.overrides = ov;
  o.noverrides = 2;
  o.provider_capacity = pc;
  o.nprovider_capacity = 1;
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  /* Spot by Karpenter's label in z1: 0.08. */
  n[0] = node("n-spot", "m.large", "z1", NULL, 2, 8, 0);
  n[0].labels = &spot_l;
  /* Spot by EKS's label in z3, where there is no spot offering: mean of z1 and z2, 0.10. */
  n[1] = node("n-spot-z3", "m.large", "z3", NULL, 2, 8, 0);
  n[1].labels = &eks_l;
  /* Reserved: 0.10. */
  n[2] = node("n-res", "m.large", "z1", "reserved", 2, 8, 0);
  /* Not in the catalogue, and no instance type at all: unpriced. */
  n[3] = node("n-unknown", "x.huge", "z1", "on-demand", 2, 8, 0);
  n[4] = node("n-notype", NULL, "z1", NULL, 2, 8, 0);
  /* Negotiated price for this node: 0.05 instead of 0.20. */
  n[5] = node("n-override", "m.large", "z1", "on-demand", 2, 8, 0);
  /* Capacity type from the provider id: spot in z2, 0.12. */
  n[6] = node("n-pid", "m.large", "z2", NULL, 2, 8, 0);
  n[6].provider_id = "aws:///z2/i-1";
  /* Reserved g.xlarge: the type override for reserved, 1.50 (the catalogue has no reserved offering). */
  n[7] = node("n-gres", "g.xlarge", "z1", NULL, 4, 16, 1);
  n[7].labels = &res_l;
  p[0] = pod("a", "lost", "n-unknown", 1, 1);
  s = step_of(100, n, 8, p, 1);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  /* 0.08 + 0.10 + 0.10 + 0.05 + 0.12 + 1.50 = 1.95/h, 195.00 over 100 h. */
  CHECK_EQ_INT(r.totals.node_cents, 19500);
  CHECK_NEAR(r.totals.node_hours, 600, 1e-9);
  CHECK(!r.complete);
  CHECK_EQ_INT(r.nunpriced, 2);
  CHECK(strcmp(r.unpriced[0].node, "n-unknown") == 0);
  CHECK_STR_CONTAINS(r.unpriced[0].reason, "x.huge is not in the catalogue test:r1");
  CHECK(strcmp(r.unpriced[1].node, "n-notype") == 0);
  CHECK_STR_CONTAINS(r.unpriced[1].reason, "no instance type");
  CHECK_EQ_INT(r.unpriced[0].pods, 1);
  CHECK_EQ_INT(r.pods_unpriced, 1);
  CHECK_EQ_INT(r.nrows, 0);
  for (i = 0; i < r.nnotes; i++) zone_note |= strstr(r.notes[i], "no offering in zone z3") != NULL;
  CHECK(zone_note);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_list_a_capacity_type_without_offering_as_unpriced_and_take_unlabelled_nodes_as_on_demand) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[2];
  struct stv_cost_step s;
  size_t i;
  int od_note = 0;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("gpu-spot", "g.xlarge", "z1", "spot", 4, 16, 1);
  n[1] = node("plain", "m.large", "z1", NULL, 2, 8, 0); /* on-demand: 0.20 */
  s = step_of(1, n, 2, NULL, 0);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  CHECK_EQ_INT(r.nunpriced, 1);
  CHECK_STR_CONTAINS(r.unpriced[0].reason, "no spot offering of g.xlarge");
  CHECK_NEAR(r.totals.node_cost, 0.20, 1e-12);
  for (i = 0; i < r.nnotes; i++) od_note |= strstr(r.notes[i], "priced as on-demand") != NULL;
  CHECK(od_note);
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_refuse_to_report_when_no_node_can_be_priced_or_no_step_was_added) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_step s;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "no data");
  n[0] = node("n1", "nope", "z1", NULL, 2, 8, 0);
  s = step_of(1, n, 1, NULL, 0);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "no node could be priced");
  CHECK_STR_CONTAINS(err.msg, "n1");
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_price_nodes_nothing_else_prices_at_the_default_rates_and_list_them) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[4];
  struct stv_cost_pod p[2];
  struct stv_cost_step s;
  size_t i;
  int note = 0;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  o.default_rates = 1;
  o.default_cpu = 0.03;
  o.default_ram = 0.005;
  o.default_gpu = 1.0;
  o.default_spot_cpu = 0.01;
  o.default_spot_ram = 0.001;
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("kind-control-plane", NULL, NULL, NULL, 4, 8, 0); /* 4 x 0.03 + 8 x 0.005 = 0.16 */
  n[1] = node("n-unknown", "x.huge", "z1", "spot", 2, 16, 0);   /* spot: 2 x 0.01 + 16 x 0.001 = 0.036 */
  n[2] = node("n-gpu", "x.gpu", "z1", "on-demand", 8, 32, 2);   /* 0.24 + 0.16 + 2 = 2.40 */
  n[3] = node("plain", "m.large", "z1", NULL, 2, 8, 0);         /* the catalogue's on-demand: 0.20 */
  p[0] = pod("a", "web", "kind-control-plane", 2, 4);           /* half of 0.16: cpu 0.06 + ram 0.02 */
  p[1] = pod("b", "job", "n-gpu", 1, 1);
  p[1].gpu_req = 1;
  s = step_of(10, n, 4, p, 2);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  CHECK(r.complete);
  CHECK_EQ_INT(r.nunpriced, 0);
  CHECK_EQ_INT(r.ndefault_priced, 3);
  CHECK(strcmp(r.default_priced[0].node, "kind-control-plane") == 0);
  CHECK(r.default_priced[0].instance_type == NULL);
  CHECK_STR_CONTAINS(r.default_priced[0].reason, "no instance type");
  CHECK_NEAR(r.default_priced[0].hourly, 0.16, 1e-12);
  CHECK_NEAR(r.default_priced[0].hours, 10, 1e-12);
  CHECK_NEAR(r.default_priced[0].cost, 1.6, 1e-12);
  CHECK(strcmp(r.default_priced[1].capacity_type, "spot") == 0);
  CHECK_STR_CONTAINS(r.default_priced[1].reason, "x.huge is not in the catalogue");
  CHECK_NEAR(r.default_priced[1].hourly, 0.036, 1e-12);
  CHECK_NEAR(r.default_priced[2].hourly, 2.40, 1e-12);
  CHECK_NEAR(r.totals.node_cost, (0.16 + 0.036 + 2.40 + 0.20) * 10, 1e-9);
  /* At the default rates the split follows the rates, not the ratios. */
  CHECK_NEAR(row_of(&r, "a")->cpu_cost, 0.06 * 10, 1e-9);
  CHECK_NEAR(row_of(&r, "a")->ram_cost, 0.02 * 10, 1e-9);
  CHECK_NEAR(row_of(&r, "b")->gpu_cost, 1.0 * 10, 1e-9);
  for (i = 0; i < r.nnotes; i++) note |= strstr(r.notes[i], "3 nodes priced at the default rates") != NULL;
  CHECK(note);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_refuse_negative_default_rates) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  o.default_rates = 1;
  o.default_ram = -0.1;
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "default ram price");
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

/* ---------------------------------------------------------------------- */
/* Shared cost                                                            */

/* Node n1 0.20/h; kube-system 0.02/h; a 0.05/h; b 0.02/h; overhead 0.01/h; idle 0.11/h. */
static int shared_fixture(struct stv_report *r, struct stv_catalog *cat, enum stv_shared_mode mode) {
  static const char *const shared[] = {"kube-system"};
  struct stv_err err;
  struct stv_report_opts o = easy_opts(cat);
  struct stv_cost_node n[1];
  struct stv_cost_pod p[3];
  struct stv_cost_step s;
  o.shared_namespaces = shared;
  o.nshared = 1;
  o.shared_mode = mode;
  o.overhead_hourly = 0.01;
  if (stv_report_init(r, &o, &err) != 0) return -1;
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  p[0] = pod("kube-system", "dns", "n1", 0.2, 0.8); /* 0.01 + 0.01 */
  p[1] = pod("a", "x", "n1", 1, 0);                 /* 0.05 */
  p[2] = pod("b", "y", "n1", 0.4, 0);               /* 0.02 */
  s = step_of(100, n, 1, p, 3);
  if (stv_report_add_step(r, &s, &err) != 0) return -1;
  return stv_report_finish(r, &err);
}

TEST(should_spread_shared_namespaces_and_overhead_evenly) {
  struct stv_catalog cat;
  struct stv_report r;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  CHECK_EQ_INT(shared_fixture(&r, &cat, STV_SHARED_EVEN), 0);
  /* Shared (2.00 + 1.00) / 2 = 1.50 each: a 5.00 + 1.50, b 2.00 + 1.50. */
  CHECK_EQ_INT(row_of(&r, "a")->total_cents, 650);
  CHECK_EQ_INT(row_of(&r, "a")->shared_cents, 150);
  CHECK_EQ_INT(row_of(&r, "b")->total_cents, 350);
  CHECK(row_of(&r, "kube-system") == NULL);
  CHECK_EQ_INT(r.totals.shared_cents, 300);
  CHECK_EQ_INT(r.totals.overhead_cents, 100);
  CHECK_EQ_INT(r.totals.allocated_cents, 700);
  CHECK_EQ_INT(r.totals.idle_cents, 1100);
  CHECK_EQ_INT(r.totals.node_cents, 2000);
  CHECK_EQ_INT(r.nshared_ns, 1);
  CHECK_EQ_INT(r.shared_ns[0].cents, 200);
  /* Idle share in proportion to own cost: 11.00 x 5/7 and 11.00 x 2/7. */
  CHECK_EQ_INT(row_of(&r, "a")->idle_share_cents, 786);
  CHECK_EQ_INT(row_of(&r, "b")->idle_share_cents, 314);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_spread_shared_namespaces_and_overhead_in_proportion_to_cost) {
  struct stv_catalog cat;
  struct stv_report r;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  CHECK_EQ_INT(shared_fixture(&r, &cat, STV_SHARED_PROPORTIONAL), 0);
  /* a: 5.00 + 3.00 x 5/7 = 7.142857; b: 2.00 + 3.00 x 2/7 = 2.857143; the odd cent to b's larger remainder. */
  CHECK_EQ_INT(row_of(&r, "a")->total_cents, 714);
  CHECK_EQ_INT(row_of(&r, "a")->shared_cents, 214);
  CHECK_EQ_INT(row_of(&r, "b")->total_cents, 286);
  CHECK_EQ_INT(row_of(&r, "b")->shared_cents, 86);
  CHECK_NEAR(row_of(&r, "a")->shared_cost, 3.0 * 5 / 7, 1e-9);
  CHECK_EQ_INT(r.totals.shared_cents, 300);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_put_shared_cost_in_its_own_row_when_there_is_no_other_group) {
  static const char *const shared[] = {"kube-system"};
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[1];
  struct stv_cost_step s;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  o.shared_namespaces = shared;
  o.nshared = 1;
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  p[0] = pod("kube-system", "dns", "n1", 1, 0);
  s = step_of(100, n, 1, p, 1);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  CHECK_EQ_INT(r.nrows, 1);
  CHECK(strcmp(r.rows[0].group, STV_REPORT_SHARED) == 0);
  CHECK_EQ_INT(r.rows[0].shared_cents, 500);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

/* ---------------------------------------------------------------------- */
/* Reconciliation on random data                                          */

static uint64_t rnd_state = 42;
static double rnd(void) {
  rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(rnd_state >> 11) / 9007199254740992.0;
}

TEST(should_reconcile_to_the_cent_on_random_clusters_over_many_steps) {
  static const char *const nss[] = {"kube-system", "a", "b", "c", "d", "e", "f", "g"};
  static const char *const types[] = {"m.large", "g.xlarge", "unknown.type"};
  static const char *const shared[] = {"kube-system", "g"};
  struct stv_catalog cat;
  int round;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  for (round = 0; round < 40; round++) {
    struct stv_report r;
    struct stv_err err;
    struct stv_report_opts o = easy_opts(&cat);
    struct stv_cost_node n[12];
    struct stv_cost_pod p[200];
    char names[12][24], pnames[200][24];
    size_t nsteps = 1 + (size_t)(rnd() * 20), st, i;
    o.shared_namespaces = shared;
    o.nshared = 2;
    o.shared_mode = round % 2 ? STV_SHARED_PROPORTIONAL : STV_SHARED_EVEN;
    o.overhead_hourly = round % 3 ? 0.0137 * rnd() : 0;
    o.point_in_time = nsteps == 1;
    o.by = (enum stv_report_by)(round % 5);
    o.by_key = "team";
    o.ratio_cpu = o.ratio_ram = o.ratio_gpu = 0;
    CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
    for (st = 0; st < nsteps; st++) {
      struct stv_cost_step s;
      size_t nn = 1 + (size_t)(rnd() * 12), np = (size_t)(rnd() * 200);
      for (i = 0; i < nn; i++) {
        const char *type = types[(size_t)(rnd() * 3)];
        snprintf(names[i], sizeof(names[i]), "n%zu", i);
        n[i] = node(names[i], type, rnd() < 0.5 ? "z1" : "z2", rnd() < 0.3 ? "spot" : NULL, 2 + rnd() * 30,
                    4 + rnd() * 100, strcmp(type, "g.xlarge") == 0 ? 1 : 0);
        if (rnd() < 0.1) n[i].price = rnd() * 3;
      }
      for (i = 0; i < np; i++) {
        snprintf(pnames[i], sizeof(pnames[i]), "p%zu", i);
        p[i] = pod(nss[(size_t)(rnd() * 8)], pnames[i], rnd() < 0.05 ? NULL : names[(size_t)(rnd() * nn)],
                   rnd() * 4, rnd() * 16);
        if (rnd() < 0.6) p[i].cpu_use = rnd() * 6;
        if (rnd() < 0.6) p[i].ram_use = rnd() * 20 * GIB;
        p[i].gpu_req = rnd() < 0.05 ? 1 : 0;
        p[i].owner_kind = "ReplicaSet";
        p[i].owner_name = rnd() < 0.5 ? "web-6d4cf56db6" : "api-7c9f8";
      }
      s = step_of(rnd() < 0.5 ? 1.0 / 12 : 0.25 + rnd(), n, nn, p, np);
      s.t_start = 1700000000 + (int64_t)st * 3600;
      CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
    }
    if (stv_report_finish(&r, &err) == STV_ENOTFOUND) {
      stv_report_close(&r);
      continue;
    }
    CHECK(reconciles(&r));
    CHECK(fabs(r.totals.difference) < 1e-9);
    for (i = 0; i < r.nrows; i++) {
      const struct stv_report_row *x = &r.rows[i];
      double f = r.opts.point_in_time ? STV_HOURS_PER_MONTH / r.totals.hours : 1;
      /* Every cent figure is within a cent of the exact amount. */
      CHECK(fabs((double)x->total_cents - x->total * f * 100) <= 1.0 + 1e-6);
      CHECK(fabs((double)x->cpu_cents - x->cpu_cost * f * 100) <= 1.0 + 1e-6);
      CHECK(fabs((double)x->shared_cents - x->shared_cost * f * 100) <= 1.0 + 1e-6);
      CHECK(i == 0 || r.rows[i - 1].total_cents >= x->total_cents);
    }
    stv_report_close(&r);
  }
  stv_catalog_close(&cat);
}

/* ---------------------------------------------------------------------- */
/* Grouping and windows                                                   */

TEST(should_group_by_label_annotation_controller_and_node) {
  struct stv_catalog cat;
  struct stv_label l1[2] = {{"pod-template-hash", "6d4cf56db6"}, {"team", "red"}};
  struct stv_label a1 = {"cost-center", "cc-1"};
  struct stv_labels lab = {2, l1}, ann = {1, &a1};
  enum stv_report_by bys[] = {STV_BY_LABEL, STV_BY_ANNOTATION, STV_BY_CONTROLLER, STV_BY_NODE};
  const char *keys[] = {"team", "cost-center", NULL, NULL};
  const char *want[] = {"red", "cc-1", "a/Deployment/web", "n1"};
  const char *want2[] = {STV_REPORT_UNALLOCATED, STV_REPORT_UNALLOCATED, "a/CronJob/backup", "n1"};
  size_t k;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  for (k = 0; k < 4; k++) {
    struct stv_report r;
    struct stv_err err;
    struct stv_report_opts o = easy_opts(&cat);
    struct stv_cost_node n[1];
    struct stv_cost_pod p[2];
    struct stv_cost_step s;
    o.by = bys[k];
    o.by_key = keys[k];
    CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
    n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
    p[0] = pod("a", "web-6d4cf56db6-abcde", "n1", 1, 0);
    p[0].labels = &lab;
    p[0].annotations = &ann;
    p[0].owner_kind = "ReplicaSet";
    p[0].owner_name = "web-6d4cf56db6";
    p[1] = pod("a", "backup-28000000-xyz", "n1", 0.5, 0);
    p[1].owner_kind = "Job";
    p[1].owner_name = "backup-28000000";
    s = step_of(1, n, 1, p, 2);
    CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
    CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
    CHECK(row_of(&r, want[k]) != NULL);
    CHECK(row_of(&r, want2[k]) != NULL);
    if (bys[k] == STV_BY_NODE) {
      CHECK_EQ_INT(r.nrows, 1);
      /* By node, the idle share is the node's own idle: 0.20 - 0.075 = 0.125 per hour. */
      CHECK_NEAR(r.rows[0].idle_share, 0.125, 1e-12);
    }
    stv_report_close(&r);
  }
  stv_catalog_close(&cat);
}

TEST(should_resolve_controllers_from_owner_references) {
  const char *kind;
  char name[64];
  struct stv_label l = {"pod-template-hash", "abc12"};
  struct stv_labels lab = {1, &l};
  CHECK_EQ_INT(stv_report_controller_of("ReplicaSet", "web-abc12", &lab, &kind, name, sizeof(name)), 0);
  CHECK(strcmp(kind, "Deployment") == 0 && strcmp(name, "web") == 0);
  /* Without labels (Prometheus), a hash-like suffix is enough. */
  CHECK_EQ_INT(stv_report_controller_of("ReplicaSet", "api-7c9f8b6d4", NULL, &kind, name, sizeof(name)), 0);
  CHECK(strcmp(kind, "Deployment") == 0 && strcmp(name, "api") == 0);
  /* A ReplicaSet of its own (suffix not a hash: vowels) stays one. */
  CHECK_EQ_INT(stv_report_controller_of("ReplicaSet", "frontend-alpha", NULL, &kind, name, sizeof(name)), 0);
  CHECK(strcmp(kind, "ReplicaSet") == 0 && strcmp(name, "frontend-alpha") == 0);
  CHECK_EQ_INT(stv_report_controller_of("Job", "nightly-28512345", NULL, &kind, name, sizeof(name)), 0);
  CHECK(strcmp(kind, "CronJob") == 0 && strcmp(name, "nightly") == 0);
  CHECK_EQ_INT(stv_report_controller_of("Job", "migrate-42", NULL, &kind, name, sizeof(name)), 0);
  CHECK(strcmp(kind, "Job") == 0);
  CHECK_EQ_INT(stv_report_controller_of("StatefulSet", "db", NULL, &kind, name, sizeof(name)), 0);
  CHECK(strcmp(kind, "StatefulSet") == 0 && strcmp(name, "db") == 0);
  CHECK_EQ_INT(stv_report_controller_of(NULL, NULL, NULL, &kind, name, sizeof(name)), STV_ENOTFOUND);
}

TEST(should_integrate_a_window_of_steps_and_count_the_hours_of_each_group) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[2];
  struct stv_cost_step s;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  p[0] = pod("a", "x", "n1", 1, 0);
  p[1] = pod("b", "y", "n1", 1, 0);
  /* 10:00-10:30 both pods; 10:30-11:00 only a. */
  s = step_of(0.5, n, 1, p, 2);
  s.t_start = 1700000000;
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  s = step_of(0.5, n, 1, p, 1);
  s.t_start = 1700001800;
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  CHECK_EQ_INT(r.window_start, 1700000000);
  CHECK_EQ_INT(r.window_end, 1700003600);
  CHECK_NEAR(r.totals.hours, 1, 1e-12);
  CHECK_NEAR(row_of(&r, "a")->hours, 1, 1e-12);
  CHECK_NEAR(row_of(&r, "b")->hours, 0.5, 1e-12);
  /* a: 0.05 x 1 h; b: 0.05 x 0.5 h; node 0.20 x 1 h. */
  CHECK_EQ_INT(row_of(&r, "a")->total_cents, 5);
  CHECK_NEAR(row_of(&r, "b")->total, 0.025, 1e-12);
  CHECK_EQ_INT(r.totals.node_cents, 20);
  CHECK(reconciles(&r));
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_count_pending_pods_and_pods_on_missing_nodes_without_costing_them) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[3];
  struct stv_cost_step s;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  p[0] = pod("a", "x", "n1", 1, 0);
  p[1] = pod("a", "pending", NULL, 1, 0);
  p[2] = pod("a", "ghost", "n9", 1, 0);
  s = step_of(1, n, 1, p, 3);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  CHECK_EQ_INT(r.pods_costed, 1);
  CHECK_EQ_INT(r.pods_pending, 1);
  CHECK_EQ_INT(r.pods_no_node, 1);
  CHECK_NEAR(row_of(&r, "a")->total, 0.05, 1e-12);
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_reject_bad_steps_naming_the_pod_or_node_and_field) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[2];
  struct stv_cost_pod p[1];
  struct stv_cost_step s;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  p[0] = pod("team-a", "web-1", "n1", -1, 0);
  s = step_of(1, n, 1, p, 1);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "pod team-a/web-1: requests");
  p[0] = pod("team-a", "web-1", "n1", 1, 0);
  p[0].cpu_use = NAN;
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "usage");
  s = step_of(0, n, 1, p, 0);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "hours");
  n[1] = n[0];
  s = step_of(1, n, 2, NULL, 0);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "node n1: listed twice");
  n[0] = node("n2", "m.large", "z1", "cheap", 2, 8, 0);
  s = step_of(1, n, 1, NULL, 0);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "node n2: capacity type: unknown \"cheap\"");
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_reject_bad_options) {
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_price_override ov = {NULL, NULL, NULL, 1};
  memset(&o, 0, sizeof(o));
  o.by = STV_BY_LABEL;
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "label:KEY");
  stv_report_close(&r);
  memset(&o, 0, sizeof(o));
  o.overhead_hourly = -1;
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), STV_EINVAL);
  stv_report_close(&r);
  memset(&o, 0, sizeof(o));
  o.overrides = &ov;
  o.noverrides = 1;
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "either a node or an instance type");
  stv_report_close(&r);
}

/* Runs one step of pods whose strings are shared or each a copy, and returns the report. */
static int pointer_fixture(struct stv_report *r, struct stv_catalog *cat, enum stv_report_by by, int copies) {
  static const char *const nss[] = {"kube-system", "a", "b"};
  static const char *const owners[] = {"web-6d4cf56db6", "api-7c9f8", "db"};
  static const char *const kinds[] = {"ReplicaSet", "ReplicaSet", "StatefulSet"};
  static const char *const shared[] = {"kube-system"};
  struct stv_label kv[2] = {{"team", "red"}, {"team", "blue"}};
  struct stv_labels labs[2] = {{1, &kv[0]}, {1, &kv[1]}};
  struct stv_report_opts o = easy_opts(cat);
  struct stv_cost_node n[2];
  struct stv_cost_pod p[60];
  struct stv_cost_step s;
  struct stv_err err;
  char *dup[60][4];
  int i, k, rc;
  o.by = by;
  o.by_key = "team";
  o.rightsize = 1;
  o.shared_namespaces = shared;
  o.nshared = 1;
  if (stv_report_init(r, &o, &err) != 0) return -1;
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  n[1] = node("n2", "m.large", "z1", "spot", 2, 8, 0);
  for (i = 0; i < 60; i++) {
    int g = (i / 7) % 3; /* runs of pods alike, then a change */
    p[i] = pod(nss[g], "x", i % 3 ? "n1" : "n2", 0.01 * (i % 5 + 1), 0.05);
    p[i].owner_kind = kinds[g];
    p[i].owner_name = owners[g];
    p[i].labels = &labs[(i / 4) % 2];
    p[i].cpu_use = 0.003 * i;
    if (copies) {
      dup[i][0] = stv_strdup(p[i].ns);
      dup[i][1] = stv_strdup(p[i].node);
      dup[i][2] = stv_strdup(p[i].owner_kind);
      dup[i][3] = stv_strdup(p[i].owner_name);
      p[i].ns = dup[i][0];
      p[i].node = dup[i][1];
      p[i].owner_kind = dup[i][2];
      p[i].owner_name = dup[i][3];
    }
  }
  s = step_of(1, n, 2, p, 60);
  rc = stv_report_add_step(r, &s, &err);
  if (copies)
    for (i = 0; i < 60; i++)
      for (k = 0; k < 4; k++) stv_free(dup[i][k]);
  return rc ? rc : stv_report_finish(r, &err);
}

TEST(should_give_the_same_figures_whether_pods_share_their_strings_or_not) {
  struct stv_catalog cat;
  enum stv_report_by bys[] = {STV_BY_NAMESPACE, STV_BY_LABEL, STV_BY_CONTROLLER, STV_BY_NODE};
  size_t k, i;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  for (k = 0; k < 4; k++) {
    struct stv_report a, b;
    CHECK_EQ_INT(pointer_fixture(&a, &cat, bys[k], 0), 0);
    CHECK_EQ_INT(pointer_fixture(&b, &cat, bys[k], 1), 0);
    CHECK_EQ_INT(a.nrows, b.nrows);
    for (i = 0; i < a.nrows; i++) {
      CHECK(strcmp(a.rows[i].group, b.rows[i].group) == 0);
      CHECK_NEAR(a.rows[i].total, b.rows[i].total, 1e-15);
      CHECK_NEAR(a.rows[i].cpu_use_core_h, b.rows[i].cpu_use_core_h, 1e-15);
    }
    CHECK_EQ_INT(a.nrightsize, b.nrightsize);
    for (i = 0; i < a.nrightsize; i++) {
      CHECK(strcmp(a.rightsize[i].name, b.rightsize[i].name) == 0);
      CHECK_EQ_INT(a.rightsize[i].samples, b.rightsize[i].samples);
      CHECK_NEAR(a.rightsize[i].cpu_p95, b.rightsize[i].cpu_p95, 0);
    }
    CHECK_NEAR(a.shared_ns[0].cost, b.shared_ns[0].cost, 1e-15);
    stv_report_close(&a);
    stv_report_close(&b);
  }
  stv_catalog_close(&cat);
}

/* ---------------------------------------------------------------------- */
/* Right-sizing                                                           */

TEST(should_keep_p95_cpu_and_max_memory_per_controller_and_flag_under_requests) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[2];
  struct stv_cost_step s;
  const struct stv_rightsize_row *web, *db;
  int i;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  o.rightsize = 1;
  o.margin = 0.2;
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  /* web: 20 samples of 10m..200m (p95 by nearest rank: the 19th, 190m), memory up to 100 MiB; request 100m, 1 GiB. */
  for (i = 1; i <= 20; i++) {
    p[0] = pod("a", "web-x", "n1", 0.1, 1);
    p[0].owner_kind = "Deployment";
    p[0].owner_name = "web";
    p[0].cpu_use = 0.01 * i;
    p[0].ram_use = (i == 7 ? 100 : 50) * MIB;
    p[1] = pod("a", "db-0", "n1", 1, 2);
    p[1].owner_kind = "StatefulSet";
    p[1].owner_name = "db";
    p[1].cpu_use = 0.25;
    p[1].ram_use = 512 * MIB;
    s = step_of(1.0 / 12, n, 1, p, 2);
    CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  }
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  CHECK_EQ_INT(r.nrightsize, 2);
  web = stv_report_rightsize_find(&r, "a", "Deployment", "web");
  db = stv_report_rightsize_find(&r, "a", "StatefulSet", "db");
  CHECK(web != NULL && db != NULL);
  CHECK(web == &r.rightsize[0]); /* under-requested first */
  CHECK_NEAR(web->cpu_p95, 0.19, 1e-6);
  CHECK_NEAR(web->cpu_max, 0.20, 1e-6);
  /* 190m x 1.2 = 228m; 100 MiB x 1.2 = 120 MiB. */
  CHECK_NEAR(web->cpu_suggest, 0.228, 1e-9);
  CHECK_NEAR(web->ram_suggest, 120 * MIB, 1e-3);
  CHECK(web->under_cpu && !web->under_ram);
  CHECK_EQ_INT(web->samples, 20);
  CHECK_NEAR(web->replicas, 1, 1e-9);
  /* db: 250m x 1.2 = 300m, 512 MiB x 1.2 = 614.4 -> 615 MiB; over-requested: saves. */
  CHECK_NEAR(db->cpu_suggest, 0.3, 1e-9);
  CHECK_NEAR(db->ram_suggest, 615 * MIB, 1e-3);
  CHECK(!db->under_cpu && !db->under_ram);
  /* Mean prices 0.05 per core-hour and 0.0125 per GiB-hour: (0.7 x 0.05 + (2 - 615/1024) x 0.0125) x 730. */
  CHECK_NEAR(db->monthly_saving_est, (0.7 * 0.05 + (2 - 615.0 / 1024) * 0.0125) * 730, 1e-6);
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_estimate_p95_from_the_histogram_within_one_percent_beyond_the_exact_samples) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[10];
  struct stv_cost_step s;
  const struct stv_rightsize_row *w;
  int i, k;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  o.rightsize = 1;
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("n1", "m.large", "z1", "on-demand", 200, 800, 0);
  /* 1,000 samples of 1m..1000m: the exact p95 is 950m. */
  for (i = 0; i < 100; i++) {
    for (k = 0; k < 10; k++) {
      p[k] = pod("a", "w", "n1", 0.5, 1);
      p[k].owner_kind = "Deployment";
      p[k].owner_name = "w";
      p[k].cpu_use = 0.001 * (double)(i * 10 + k + 1);
    }
    s = step_of(1.0 / 12, n, 1, p, 10);
    CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  }
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  w = stv_report_rightsize_find(&r, "a", "Deployment", "w");
  CHECK(w != NULL);
  CHECK_EQ_INT(w->samples, 1000);
  CHECK(w->cpu_p95 >= 0.95 - 1e-9 && w->cpu_p95 <= 0.95 * 1.01 + 1e-9);
  CHECK_NEAR(w->replicas, 10, 1e-9);
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

/* ---------------------------------------------------------------------- */
/* Rendering                                                              */

TEST(should_render_json_csv_and_table_with_the_same_cents) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_buf b;
  struct stv_err err;
  cJSON *doc, *rows, *totals;
  enum stv_report_format f;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  CHECK_EQ_INT(shared_fixture(&r, &cat, STV_SHARED_EVEN), 0);
  stv_buf_init(&b);
  CHECK_EQ_INT(stv_report_render(&r, STV_REPORT_JSON, &b, &err), 0);
  doc = cJSON_Parse(b.data);
  CHECK(doc != NULL);
  totals = cJSON_GetObjectItem(doc, "totals");
  CHECK_NEAR(cJSON_GetObjectItem(totals, "node_cost")->valuedouble, 20.00, 1e-9);
  CHECK_NEAR(cJSON_GetObjectItem(totals, "idle")->valuedouble, 11.00, 1e-9);
  CHECK_NEAR(cJSON_GetObjectItem(totals, "shared")->valuedouble, 3.00, 1e-9);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(totals, "reconciled")));
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(doc, "complete")));
  rows = cJSON_GetObjectItem(doc, "rows");
  CHECK_EQ_INT(cJSON_GetArraySize(rows), 2);
  CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "group")->valuestring, "a") == 0);
  CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "total_cost")->valuedouble, 6.50, 1e-9);
  cJSON_Delete(doc);
  stv_buf_close(&b);
  CHECK_EQ_INT(stv_report_render(&r, STV_REPORT_CSV, &b, &err), 0);
  CHECK_STR_CONTAINS(b.data, "group,pods,cpu_cost,ram_cost,gpu_cost,shared_cost,total_cost,hours,");
  CHECK_STR_CONTAINS(b.data, "\na,1.00,5.00,0.00,0.00,1.50,6.50,100.0000,");
  CHECK_STR_CONTAINS(b.data, "\n__idle__,,,,,,11.00,");
  stv_buf_close(&b);
  CHECK_EQ_INT(stv_report_render(&r, STV_REPORT_TABLE, &b, &err), 0);
  CHECK_STR_CONTAINS(b.data, "reconciled to the cent");
  CHECK_STR_CONTAINS(b.data, "allocated 7.00 + shared 3.00 + idle 11.00 = 21.00 = node cost 20.00 + overhead 1.00");
  stv_buf_close(&b);
  CHECK_EQ_INT(stv_report_format_parse("html", &f), 0);
  CHECK_EQ_INT(stv_report_render(&r, f, &b, &err), 0);
  CHECK_STR_CONTAINS(b.data, "<html");
  stv_buf_close(&b);
  CHECK_EQ_INT(stv_report_format_parse("xml", &f), STV_EINVAL);
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_escape_group_names_in_json_and_csv) {
  struct stv_catalog cat;
  struct stv_report r;
  struct stv_err err;
  struct stv_report_opts o;
  struct stv_cost_node n[1];
  struct stv_cost_pod p[1];
  struct stv_cost_step s;
  struct stv_label l = {"team", "a \"quoted\", name\n"};
  struct stv_labels lab = {1, &l};
  struct stv_buf b;
  cJSON *doc;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  o = easy_opts(&cat);
  o.by = STV_BY_LABEL;
  o.by_key = "team";
  CHECK_EQ_INT(stv_report_init(&r, &o, &err), 0);
  n[0] = node("n1", "m.large", "z1", "on-demand", 2, 8, 0);
  p[0] = pod("a", "x", "n1", 1, 0);
  p[0].labels = &lab;
  s = step_of(1, n, 1, p, 1);
  CHECK_EQ_INT(stv_report_add_step(&r, &s, &err), 0);
  CHECK_EQ_INT(stv_report_finish(&r, &err), 0);
  stv_buf_init(&b);
  CHECK_EQ_INT(stv_report_render_json(&r, &b, &err), 0);
  doc = cJSON_Parse(b.data);
  CHECK(doc != NULL);
  CHECK(strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "rows"), 0), "group")->valuestring,
               "a \"quoted\", name\n") == 0);
  cJSON_Delete(doc);
  stv_buf_close(&b);
  CHECK_EQ_INT(stv_report_render_csv(&r, &b, &err), 0);
  CHECK_STR_CONTAINS(b.data, "\n\"a \"\"quoted\"\", name\n\",");
  stv_buf_close(&b);
  stv_report_close(&r);
  stv_catalog_close(&cat);
}

TEST(should_grow_buffers_and_keep_the_first_error) {
  struct stv_buf b;
  int i;
  stv_buf_init(&b);
  for (i = 0; i < 10000; i++) CHECK_EQ_INT(stv_buf_printf(&b, "%05d,", i), 0);
  CHECK_EQ_INT(b.len, 60000);
  CHECK(strncmp(b.data + 59994, "09999,", 6) == 0);
  stv_buf_close(&b);
  b.max = 10;
  CHECK_EQ_INT(stv_buf_puts(&b, "12345"), 0);
  CHECK_EQ_INT(stv_buf_printf(&b, "%s", "678901"), STV_ELIMIT);
  CHECK_EQ_INT(stv_buf_puts(&b, "x"), STV_ELIMIT);
  CHECK(strcmp(b.data, "12345") == 0);
  stv_buf_close(&b);
  stv_buf_init(&b);
  stv_buf_json_str(&b, "a\"b\\c\x01");
  CHECK(strcmp(b.data, "\"a\\\"b\\\\c\\u0001\"") == 0);
  stv_buf_close(&b);
  stv_buf_html_str(&b, "<a href='x'>&</a>");
  CHECK(strcmp(b.data, "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;") == 0);
  stv_buf_close(&b);
}

/* ---------------------------------------------------------------------- */
/* Allocation failures                                                    */

static int whole_report(struct stv_catalog *cat, struct stv_err *err) {
  static const char *const shared[] = {"kube-system"};
  struct stv_report r;
  struct stv_report_opts o = easy_opts(cat);
  struct stv_cost_node n[2];
  struct stv_cost_pod p[4];
  struct stv_cost_step s;
  struct stv_buf b;
  int rc, i;
  o.shared_namespaces = shared;
  o.nshared = 1;
  o.rightsize = 1;
  o.by = STV_BY_CONTROLLER;
  stv_buf_init(&b);
  if ((rc = stv_report_init(&r, &o, err)) != 0) goto out;
  n[0] = node("n1", "m.large", "z3", "spot", 2, 8, 0);
  n[1] = node("n2", "nope", "z1", NULL, 2, 8, 0);
  p[0] = pod("kube-system", "dns", "n1", 0.2, 0.8);
  p[1] = pod("a", "x", "n1", 1, 0);
  p[1].owner_kind = "ReplicaSet";
  p[1].owner_name = "x-6d4cf56db6";
  p[1].cpu_use = 0.5;
  p[1].ram_use = 1e8;
  p[2] = pod("b", "y", "n2", 0.4, 0);
  p[3] = pod("b", "z", NULL, 0.4, 0);
  for (i = 0; i < 300; i++) {
    s = step_of(0.1, n, 2, p, 4);
    if ((rc = stv_report_add_step(&r, &s, err)) != 0) goto out;
  }
  if ((rc = stv_report_finish(&r, err)) != 0) goto out;
  if ((rc = stv_report_render(&r, STV_REPORT_JSON, &b, err)) != 0) goto out;
  if ((rc = stv_report_render(&r, STV_REPORT_TABLE, &b, err)) != 0) goto out;
  rc = stv_report_render(&r, STV_REPORT_CSV, &b, err);
out:
  stv_buf_close(&b);
  stv_report_close(&r);
  return rc;
}

TEST(should_return_enomem_cleanly_at_every_allocation) {
  struct stv_catalog cat;
  struct stv_err err;
  long k;
  int rc = 1;
  CHECK_EQ_INT(load_catalog(&cat), 0);
  CHECK_EQ_INT(whole_report(&cat, &err), 0);
  for (k = 0; k < 5000 && rc != 0; k++) {
    stv_alloc_fail_after(k);
    rc = whole_report(&cat, &err);
    stv_alloc_fail_after(-1);
    CHECK(rc == 0 || rc == STV_ENOMEM);
  }
  CHECK_EQ_INT(rc, 0);
  stv_catalog_close(&cat);
}
