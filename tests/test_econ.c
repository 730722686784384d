/*
 * The economics of new nodes (docs/optimizer.md, "Economics"): burstable
 * types in the catalogue and the templates (excluded by default, standard
 * mode's baseline cpu, unlimited mode's surplus credits), the per-node
 * cost, and the cost model of the heuristic, the optimizer and the lower
 * bound, checked against an exhaustive search on small instances.
 */
#include <math.h>

#include "builders.h"
#include "harness.h"
#include "pricing.h"

/* ---------------------------------------------------------------------- */
/* The cost of one node                                                   */

TEST(should_price_a_burstable_node_with_its_surplus_credits_above_the_baseline) {
  struct stv_template t;
  memset(&t, 0, sizeof(t));
  t.price = 0.0832;
  t.surplus_price = 0.05;
  t.cpu_baseline = 600;
  CHECK(fabs(stv_template_cost(&t, 400) - 0.0832) < 1e-12);
  CHECK(fabs(stv_template_cost(&t, 600) - 0.0832) < 1e-12);
  CHECK(fabs(stv_template_credits(&t, 1600) - 0.05) < 1e-12);
  CHECK(fabs(stv_template_cost(&t, 1600) - 0.1332) < 1e-12);
  t.node_cost = 0.01;
  CHECK(fabs(stv_template_cost(&t, 1600) - 0.1432) < 1e-12);
  /* Not burstable (standard mode or a regular type): no credits ever. */
  t.surplus_price = 0;
  CHECK(fabs(stv_template_cost(&t, 1930) - 0.0932) < 1e-12);
}

/* ---------------------------------------------------------------------- */
/* Catalogue and templates                                                */

static const char burst_catalog[] =
    "{\"provider\": \"aws\", \"region\": \"r\", \"instance_types\": ["
    " {\"name\": \"m5.large\", \"arch\": \"amd64\","
    "  \"capacity\": {\"cpu\": \"2\", \"memory\": \"8Gi\"}, \"allocatable\": {\"cpu\": \"1930m\"},"
    "  \"offerings\": [{\"capacity_type\": \"on-demand\", \"zone\": \"a\", \"price\": 0.096}]},"
    " {\"name\": \"t3.large\", \"arch\": \"amd64\", \"burstable\": {\"baseline\": 0.3, \"surplus_price\": 0.05},"
    "  \"capacity\": {\"cpu\": \"2\", \"memory\": \"8Gi\"}, \"allocatable\": {\"cpu\": \"1930m\"},"
    "  \"offerings\": [{\"capacity_type\": \"on-demand\", \"zone\": \"a\", \"price\": 0.0832}]},"
    " {\"name\": \"e2-medium\", \"arch\": \"amd64\", \"burstable\": {\"baseline\": 0.5},"
    "  \"capacity\": {\"cpu\": \"2\", \"memory\": \"4Gi\"},"
    "  \"offerings\": [{\"capacity_type\": \"on-demand\", \"zone\": \"a\", \"price\": 0.0335}]}]}";

/* The template of type name in t, or NULL. */
static const struct stv_template *find_tmpl(const struct stv_templates *t, const char *name) {
  size_t i;
  for (i = 0; i < t->n; i++)
    if (strcmp(t->v[i].instance_type, name) == 0) return &t->v[i];
  return NULL;
}

TEST(should_use_burstable_types_only_where_a_pool_allows_them_and_as_its_mode_says) {
  struct stv_node_pool pool;
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err = {0, ""};
  const struct stv_template *tm;
  CHECK_EQ_INT(stv_catalog_load_json(&c, "cat.json", burst_catalog, strlen(burst_catalog), &err), 0);
  CHECK(fabs(stv_catalog_find(&c, "t3.large")->baseline - 0.3) < 1e-12);
  CHECK(stv_catalog_find(&c, "e2-medium")->surplus_price < 0);
  CHECK(stv_catalog_find(&c, "m5.large")->baseline == 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  /* No pools: the default pool takes no burstable type. */
  CHECK_EQ_INT(stv_templates_build(&t, &c, &snap, ~0u, &err), 0);
  CHECK_EQ_INT(t.n, 1);
  CHECK(find_tmpl(&t, "m5.large") != NULL);
  stv_templates_close(&t);
  memset(&pool, 0, sizeof(pool));
  pool.name = "p";
  CHECK_EQ_INT(stv_templates_build_pools(&t, &c, &snap, ~0u, &pool, 1, &err), 0);
  CHECK_EQ_INT(t.n, 1);
  stv_templates_close(&t);
  /* Standard mode: the node offers pods vCPUs x baseline. */
  pool.burstable = STV_BURST_STANDARD;
  CHECK_EQ_INT(stv_templates_build_pools(&t, &c, &snap, ~0u, &pool, 1, &err), 0);
  CHECK_EQ_INT(t.n, 3);
  CHECK((tm = find_tmpl(&t, "t3.large")) != NULL);
  CHECK_EQ_INT(tm->alloc[STV_RES_CPU], 600);
  CHECK(tm->surplus_price == 0);
  CHECK((tm = find_tmpl(&t, "e2-medium")) != NULL);
  CHECK_EQ_INT(tm->alloc[STV_RES_CPU], 1000);
  stv_templates_close(&t);
  /* Unlimited: all of allocatable, credits above the baseline; a type
   * without a surplus price stays at its baseline. */
  pool.burstable = STV_BURST_UNLIMITED;
  pool.node_cost = 0.02;
  CHECK_EQ_INT(stv_templates_build_pools(&t, &c, &snap, ~0u, &pool, 1, &err), 0);
  CHECK((tm = find_tmpl(&t, "t3.large")) != NULL);
  CHECK_EQ_INT(tm->alloc[STV_RES_CPU], 1930);
  CHECK_EQ_INT(tm->cpu_baseline, 600);
  CHECK(fabs(tm->surplus_price - 0.05) < 1e-12);
  CHECK(fabs(tm->node_cost - 0.02) < 1e-12);
  CHECK((tm = find_tmpl(&t, "e2-medium")) != NULL);
  CHECK_EQ_INT(tm->alloc[STV_RES_CPU], 1000);
  CHECK(tm->surplus_price == 0);
  /* The top-level default applies only where the pool sets none. */
  stv_templates_default_node_cost(&t, &pool, 1, 0.5);
  CHECK(fabs(find_tmpl(&t, "m5.large")->node_cost - 0.02) < 1e-12);
  pool.node_cost = -1;
  stv_templates_default_node_cost(&t, &pool, 1, 0.5);
  CHECK(fabs(find_tmpl(&t, "m5.large")->node_cost - 0.5) < 1e-12);
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
}

TEST(should_reject_a_burstable_field_out_of_range_naming_the_type_and_field) {
  static const char *const bad[] = {
      "{\"baseline\": 1.5}", "{\"baseline\": 0}", "{\"surplus_price\": 0.05}",
      "{\"baseline\": 0.2, \"surplus_price\": -1}", "{\"baseline\": 0.2, \"surplus\": 0.05}", "0.2"};
  static const char *const field[] = {"burstable.baseline", "burstable.baseline", "burstable.baseline: missing",
                                      "burstable.surplus_price", "burstable.surplus: unknown field",
                                      "burstable: must be an object"};
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char text[512];
    struct stv_catalog c;
    struct stv_err err = {0, ""};
    snprintf(text, sizeof(text),
             "{\"provider\": \"aws\", \"region\": \"r\", \"instance_types\": [{\"name\": \"t3.micro\", "
             "\"arch\": \"amd64\", \"burstable\": %s, \"capacity\": {\"cpu\": \"2\", \"memory\": \"1Gi\"}, "
             "\"offerings\": [{\"capacity_type\": \"on-demand\", \"zone\": \"a\", \"price\": 0.01}]}]}",
             bad[i]);
    CHECK_EQ_INT(stv_catalog_load_json(&c, "cat.json", text, strlen(text), &err), STV_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "cat.json: instance_types[0] \"t3.micro\"");
    CHECK_STR_CONTAINS(err.msg, field[i]);
  }
}

/* ---------------------------------------------------------------------- */
/* The packer's choices                                                   */

/* Adds the templates of the choice tests: a regular type and a burstable one. */
static int two_types(struct stv_test_fx *fx, double surplus) {
  int a = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){
                                       .instance_type = "m5.large", .zone = "a", .price = 0.096,
                                       .cpu_m = 1930, .mem_mi = 7000});
  int b = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){
                                       .instance_type = "t3.large", .zone = "a", .price = 0.0832,
                                       .cpu_m = 1930, .mem_mi = 7000});
  if (a < 0 || b < 0) return a < 0 ? a : b;
  fx->tmpl[b].surplus_price = surplus;
  fx->tmpl[b].cpu_baseline = 600;
  return 0;
}

/* Solves fx with the optimizer, no clock: the work limits decide. */
static int optimize(struct stv_test_fx *fx) {
  struct stv_problem p;
  int rc;
  stv_plan_close(&fx->plan);
  if ((rc = stv_snapshot_finish(&fx->s, &fx->err)) != 0) return rc;
  p = stv_test_fx_problem(fx);
  p.time_limit = 5;
  stv_spot_policy_default(&p.spot);
  return stv_optimize(&p, &fx->plan, &fx->err);
}

STV_TEST_FX(should_take_the_regular_type_when_surplus_credits_make_the_burstable_dearer) {
  CHECK_EQ_INT(two_types(fx, 0.05), 0);
  /* 1800m on the node: 1200m above the baseline, 0.06/hour of credits. */
  CHECK(stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.cpu_m = 1800, .mem_mi = 512}) >= 0);
  CHECK_EQ_INT(optimize(fx), 0);
  CHECK_EQ_INT(fx->plan.nnew, 1);
  CHECK_STR_CONTAINS(fx->tmpl[fx->plan.nodes[0].tmpl].instance_type, "m5.large");
  CHECK(fabs(fx->plan.new_cost - 0.096) < 1e-9);
  CHECK(fx->plan.lower_bound <= fx->plan.new_cost + 1e-9);
}

STV_TEST_FX(should_take_the_burstable_type_when_its_pods_stay_under_the_baseline) {
  CHECK_EQ_INT(two_types(fx, 0.05), 0);
  CHECK(stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.cpu_m = 500, .mem_mi = 512}) >= 0);
  CHECK_EQ_INT(optimize(fx), 0);
  CHECK_EQ_INT(fx->plan.nnew, 1);
  CHECK_STR_CONTAINS(fx->tmpl[fx->plan.nodes[0].tmpl].instance_type, "t3.large");
  CHECK(fabs(fx->plan.new_cost - 0.0832) < 1e-9);
}

STV_TEST_FX(should_prefer_fewer_larger_nodes_when_each_node_costs_extra) {
  int s = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){
                                       .instance_type = "small", .zone = "a", .price = 0.04,
                                       .cpu_m = 1000, .mem_mi = 4000});
  int b = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){
                                       .instance_type = "big", .zone = "a", .price = 0.17,
                                       .cpu_m = 4000, .mem_mi = 16000});
  CHECK(s >= 0 && b >= 0);
  CHECK(stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.cpu_m = 900, .mem_mi = 256, .count = 4}) >= 0);
  CHECK_EQ_INT(optimize(fx), 0);
  CHECK_EQ_INT(fx->plan.nnew, 4); /* 4 x 0.04 < 0.17 */
  fx->tmpl[s].node_cost = fx->tmpl[b].node_cost = 0.01;
  CHECK_EQ_INT(optimize(fx), 0);
  CHECK_EQ_INT(fx->plan.nnew, 1); /* 0.18 < 4 x 0.05 */
  CHECK(fabs(fx->plan.new_cost - 0.18) < 1e-9);
  CHECK(fx->plan.lower_bound <= 0.18 + 1e-9);
  CHECK(fx->plan.lower_bound >= 0.18 * 0.9 - 1e-9);
}

/* ---------------------------------------------------------------------- */
/* Against an exhaustive search                                           */

#define EX_PODS 7

struct ex_pod {
  int64_t cpu, mem;
};

/* The cost of one node of template t with cpu/mem requested, or INFINITY when it does not fit (by hand). */
static double ex_node_cost(const struct stv_template *t, int64_t cpu, int64_t mem) {
  double c;
  if (cpu > t->alloc[STV_RES_CPU] || mem > t->alloc[STV_RES_MEMORY]) return INFINITY;
  c = t->price + t->node_cost;
  if (t->surplus_price > 0 && cpu > t->cpu_baseline) c += t->surplus_price * (double)(cpu - t->cpu_baseline) / 1000;
  return c;
}

/* The cheapest plan over every partition of the pods into nodes (restricted growth strings). */
static double ex_best(const struct stv_template *tm, size_t nt, const struct ex_pod *pods, int n) {
  int a[EX_PODS], i;
  double best = INFINITY;
  for (i = 0; i < n; i++) a[i] = 0;
  for (;;) {
    int64_t cpu[EX_PODS] = {0}, mem[EX_PODS] = {0};
    int nb = 0, b;
    double total = 0;
    for (i = 0; i < n; i++) {
      cpu[a[i]] += pods[i].cpu;
      mem[a[i]] += pods[i].mem;
      if (a[i] + 1 > nb) nb = a[i] + 1;
    }
    for (b = 0; b < nb && total < best; b++) {
      double c = INFINITY;
      size_t k;
      for (k = 0; k < nt; k++) {
        double x = ex_node_cost(&tm[k], cpu[b], mem[b]);
        if (x < c) c = x;
      }
      total += c;
    }
    if (total < best) best = total;
    /* Next restricted growth string: a[i] <= 1 + max(a[0..i)). */
    for (i = n - 1; i > 0; i--) {
      int m = 0, j;
      for (j = 0; j < i; j++)
        if (a[j] > m) m = a[j];
      if (a[i] <= m) {
        a[i]++;
        for (j = i + 1; j < n; j++) a[j] = 0;
        break;
      }
    }
    if (i == 0) break;
  }
  return best;
}

/* The plan's cost recomputed by hand from its nodes' pods. */
static double ex_plan_cost(const struct stv_test_fx *fx) {
  size_t i;
  double total = 0;
  for (i = 0; i < fx->plan.nnodes; i++) {
    const struct stv_plan_node *pn = &fx->plan.nodes[i];
    int64_t cpu = 0, mem = 0;
    uint32_t q;
    if (pn->existing >= 0) continue;
    for (q = 0; q < pn->npods; q++) {
      const struct stv_class *c = fx->s.classes[fx->s.pods[pn->pods[q]].cls];
      cpu += c->req[STV_RES_CPU];
      mem += c->req[STV_RES_MEMORY];
    }
    total += ex_node_cost(&fx->tmpl[pn->tmpl], cpu, mem);
  }
  return total;
}

TEST(should_keep_the_bound_below_and_the_plan_at_or_above_the_exhaustive_optimum) {
  uint64_t seed;
  int optimal = 0;
  for (seed = 1; seed <= 25; seed++) {
    struct stv_test_fx fx;
    struct ex_pod pods[EX_PODS];
    uint64_t x = seed * 0x9e3779b97f4a7c15ull;
    double best, got;
    int i, n = 4 + (int)(seed % 4);
    CHECK_EQ_INT(stv_test_fx_init(&fx), 0);
    CHECK(two_types(&fx, 0.05) == 0);
    CHECK(stv_test_fx_template(&fx, &(struct stv_test_tmpl_opts){.instance_type = "c5.xlarge", .zone = "a",
                                                                   .price = 0.17, .cpu_m = 3920,
                                                                   .mem_mi = 7000}) >= 0);
    fx.tmpl[0].node_cost = fx.tmpl[1].node_cost = fx.tmpl[2].node_cost = (double)(seed % 3) * 0.01;
    for (i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      pods[i].cpu = 100 + (int64_t)(x % 1700);
      pods[i].mem = (128 + (int64_t)((x >> 20) % 3000)) * STV_TEST_MI;
      CHECK(stv_test_pod(&fx.s, &(struct stv_test_pod_opts){.cpu_m = pods[i].cpu,
                                                            .mem_mi = pods[i].mem / STV_TEST_MI}) >= 0);
    }
    best = ex_best(fx.tmpl, fx.ntmpl, pods, n);
    if (optimize(&fx) != 0 || fx.plan.nunsched != 0) {
      stv_test_fx_close(&fx);
      CHECK(!"the optimizer failed or left pods out");
    }
    got = ex_plan_cost(&fx);
    optimal += got <= best + 1e-9;
    if (fabs(got - fx.plan.new_cost) > 1e-9 || got < best - 1e-9 || fx.plan.lower_bound > best + 1e-9) {
      fprintf(stderr, "  seed %llu: plan %.6f (by hand %.6f), optimum %.6f, bound %.6f\n",
              (unsigned long long)seed, fx.plan.new_cost, got, best, fx.plan.lower_bound);
      stv_test_fx_close(&fx);
      CHECK(!"cost, optimum and bound out of order");
    }
    stv_test_fx_close(&fx);
  }
  /* Small instances: the optimizer should find the optimum nearly always. */
  CHECK(optimal >= 22);
}

/* ---------------------------------------------------------------------- */
/* A pool's node limit                                                    */

STV_TEST_FX(should_keep_a_pools_node_limit_and_say_which_pool_held_the_rest) {
  struct stv_limits lim;
  size_t i;
  int a = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){
                                       .instance_type = "m5.large", .zone = "a", .price = 0.096,
                                       .cpu_m = 1930, .mem_mi = 7000});
  int b = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){
                                       .instance_type = "m5.xlarge", .zone = "a", .price = 0.192,
                                       .cpu_m = 3920, .mem_mi = 14000});
  CHECK(a >= 0 && b >= 0);
  stv_limits_none(&lim);
  lim.nodes = 2;
  fx->tmpl[a].pool = fx->tmpl[b].pool = "web";
  fx->tmpl[a].pool_limits = fx->tmpl[b].pool_limits = &lim;
  /* Five pods of 1.5 cpu: one per node, so two nodes hold two of them. */
  CHECK(stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.cpu_m = 1500, .mem_mi = 256, .count = 5}) >= 0);
  CHECK_EQ_INT(optimize(fx), 0);
  CHECK(fx->plan.nnew <= 2);
  CHECK(fx->plan.nplaced >= 2);
  CHECK_EQ_INT(fx->plan.nplaced + fx->plan.nunsched, 5);
  CHECK(fx->plan.nunsched > 0);
  for (i = 0; i < fx->plan.nunsched; i++)
    CHECK_STR_CONTAINS(fx->plan.unsched[i].reason, "pool web is at its limit of 2 nodes");
  /* No limit: every pod placed. */
  lim.nodes = -1;
  CHECK_EQ_INT(optimize(fx), 0);
  CHECK_EQ_INT(fx->plan.nunsched, 0);
}
