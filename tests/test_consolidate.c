/*
 * Tests of the consolidation planner (packer/consolidate.c) through the
 * public API: small clusters whose best actions are known by hand, the
 * safety rules, the limits, the ranking and determinism.
 */
#include <math.h>

#include "builders.h"
#include "harness.h"
#include "packer.h"

#define POD(...)  stv_test_pod(&fx->s, &(struct stv_test_pod_opts){__VA_ARGS__})
#define NODE(...) stv_test_node(&fx->s, &(struct stv_test_node_opts){__VA_ARGS__})
#define TMPL(...) stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){__VA_ARGS__})

struct cfx {
  struct stv_test_fx fx;
  double price[16];
  struct stv_cons_options o;
  struct stv_cons_result res;
};

/* Three on-demand 4-cpu nodes at 0.20/h: a holds 1 pod, b 2, c 2 (1 cpu, 1 GiB each). */
static int three_nodes(struct cfx *c) {
  struct stv_test_fx *fx = &c->fx;
  static const char *const names[] = {"a", "b", "c"};
  static const uint32_t pods[] = {1, 2, 2};
  size_t i;
  if (stv_test_fx_init(fx) != 0) return -1;
  for (i = 0; i < 3; i++) {
    if (NODE(.name = names[i], .cpu_m = 4000, .mem_mi = 8192, .zone = "z1", .instance_type = "m5.xlarge",
             .capacity_type = "on-demand") < 0)
      return -2;
    if (POD(.name = names[i], .cpu_m = 1000, .mem_mi = 1024, .labels = {{"app", names[i]}},
            .node_name = names[i], .phase = STV_PHASE_RUNNING, .count = pods[i]) < 0)
      return -3;
    c->price[i] = 0.2;
  }
  stv_cons_options_default(&c->o);
  return 0;
}

static int run(struct cfx *c) {
  struct stv_problem p = stv_test_fx_problem(&c->fx);
  stv_cons_result_close(&c->res);
  if (stv_snapshot_finish(&c->fx.s, &c->fx.err) != 0) return -1;
  return stv_consolidate(&p, c->price, &c->o, &c->res, &c->fx.err);
}

static void cfx_close(struct cfx *c) {
  stv_cons_result_close(&c->res);
  stv_test_fx_close(&c->fx);
}

static const char *node_name(const struct cfx *c, uint32_t i) {
  return c->fx.s.nodes[i].name;
}

TEST(should_delete_the_emptiest_nodes_first_and_stop_when_nothing_fits) {
  static struct cfx c;
  const struct stv_cons_action *a;
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(three_nodes(&c), 0);
  CHECK_EQ_INT(run(&c), 0);
  /* a (1 pod) goes first, onto the fullest node; then b's 2 pods fit on c (now 3 of 4 cpu: one does not). */
  CHECK(c.res.nactions >= 1);
  a = &c.res.actions[0];
  CHECK_EQ_INT(a->kind, STV_CONS_DELETE);
  CHECK_EQ_INT(a->nremove, 1);
  CHECK(strcmp(node_name(&c, a->remove[0]), "a") == 0);
  CHECK_EQ_INT(a->nevict, 1);
  CHECK(a->moves[0].node >= 0 && strcmp(a->moves[0].to, "a") != 0);
  CHECK(fabs(a->saving_hourly - 0.2) < 1e-9);
  CHECK_EQ_INT(c.res.nactions, 1); /* 4 pods on b and c: neither empties into the other's 2 free cpu... */
  CHECK(c.res.node_why[a->remove[0]] == NULL);
  CHECK(c.res.node_why[1] != NULL && c.res.node_why[2] != NULL);
  CHECK_STR_CONTAINS(c.res.node_why[1], "fits on no other node");
  CHECK_EQ_INT(c.res.ncurve, 1);
  CHECK(fabs(c.res.curve[0].monthly_saving - 0.2 * 730) < 1e-6);
  cfx_close(&c);
}

TEST(should_keep_a_node_whose_pod_must_not_move) {
  static struct cfx c;
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(three_nodes(&c), 0);
  c.fx.s.pods[0].flags |= STV_POD_DO_NOT_DISRUPT;
  c.fx.s.pods[0].disrupt |= STV_PD_DND_STEVEDORE;
  CHECK_EQ_INT(run(&c), 0);
  /* b empties onto a and c instead; a stays */
  CHECK_EQ_INT(c.res.nactions, 1);
  CHECK(strcmp(node_name(&c, c.res.actions[0].remove[0]), "b") == 0);
  CHECK(c.res.node_why[0] != NULL);
  CHECK_STR_CONTAINS(c.res.node_why[0], "stevedore.io/do-not-disrupt");
  cfx_close(&c);
}

TEST(should_keep_a_node_the_budget_protects) {
  static struct cfx c;
  struct stv_pdb b;
  struct stv_requirement req;
  const char *val;
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(three_nodes(&c), 0);
  memset(&b, 0, sizeof(b));
  val = stv_test_str(&c.fx.s, "a");
  req.key = stv_test_str(&c.fx.s, "app");
  req.op = STV_OP_IN;
  req.nvalues = 1;
  req.values = &val;
  b.ns = stv_test_str(&c.fx.s, "default");
  b.name = stv_test_str(&c.fx.s, "a-pdb");
  b.sel.n = 1;
  b.sel.reqs = &req;
  b.has_allowed = 1;
  b.disruptions_allowed = 0;
  CHECK_EQ_INT(stv_snapshot_add_pdb(&c.fx.s, &b), 0);
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, 1);
  CHECK(strcmp(node_name(&c, c.res.actions[0].remove[0]), "b") == 0);
  CHECK(c.res.node_why[0] != NULL);
  CHECK_STR_CONTAINS(c.res.node_why[0], "PodDisruptionBudget default/a-pdb allows 0 more evictions");
  cfx_close(&c);
}

/* One on-demand node full of pods, its neighbours full: only a cheaper new node helps. */
static int lone_node(struct cfx *c, int with_spot) {
  struct stv_test_fx *fx = &c->fx;
  if (stv_test_fx_init(fx) != 0) return -1;
  if (NODE(.name = "big", .cpu_m = 8000, .mem_mi = 16384, .zone = "z1", .instance_type = "m5.2xlarge",
           .capacity_type = "on-demand") < 0 ||
      NODE(.name = "full", .cpu_m = 2000, .mem_mi = 4096, .zone = "z1", .instance_type = "m5.large",
           .capacity_type = "on-demand") < 0)
    return -2;
  if (POD(.name = "w", .cpu_m = 1000, .mem_mi = 1024, .node_name = "big", .phase = STV_PHASE_RUNNING,
          .count = 3) < 0 ||
      POD(.name = "f", .cpu_m = 2000, .mem_mi = 1024, .node_name = "full", .phase = STV_PHASE_RUNNING) < 0)
    return -3;
  fx->s.pods[3].flags |= STV_POD_DO_NOT_DISRUPT; /* "full" stays */
  fx->s.pods[3].disrupt |= STV_PD_DND_KARPENTER;
  c->price[0] = 0.384;
  c->price[1] = 0.096;
  if (TMPL(.instance_type = "m5.2xlarge", .zone = "z1", .price = 0.384, .cpu_m = 8000, .mem_mi = 16384) < 0 ||
      TMPL(.instance_type = "m5.xlarge", .zone = "z1", .price = 0.192, .cpu_m = 4000, .mem_mi = 8192) < 0)
    return -4;
  if (with_spot && TMPL(.instance_type = "m5.xlarge", .zone = "z1", .capacity_type = "spot", .price = 0.07,
                        .cpu_m = 4000, .mem_mi = 8192) < 0)
    return -5;
  stv_cons_options_default(&c->o);
  return 0;
}

TEST(should_replace_with_a_smaller_node_or_spot_when_allowed) {
  static struct cfx c;
  const struct stv_cons_action *a;
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(lone_node(&c, 0), 0);
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, 1);
  a = &c.res.actions[0];
  CHECK_EQ_INT(a->kind, STV_CONS_REPLACE);
  CHECK(strcmp(c.fx.tmpl[a->tmpl].instance_type, "m5.xlarge") == 0);
  CHECK_EQ_INT(c.fx.tmpl[a->tmpl].capacity_type, STV_CT_ON_DEMAND);
  CHECK(fabs(a->saving_hourly - 0.192) < 1e-9);
  CHECK_EQ_INT(a->nevict, 3);
  CHECK(a->moves[0].node == -1 && strcmp(a->moves[0].to, a->new_name) == 0);
  cfx_close(&c);
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(lone_node(&c, 1), 0);
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, 1);
  a = &c.res.actions[0];
  CHECK_EQ_INT(c.fx.tmpl[a->tmpl].capacity_type, STV_CT_SPOT);
  CHECK(fabs(a->saving_hourly - (0.384 - 0.07)) < 1e-9);
  cfx_close(&c);
}

TEST(should_refuse_savings_below_the_threshold) {
  static struct cfx c;
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(lone_node(&c, 0), 0);
  c.o.min_saving_fraction = 0.6; /* 0.192 of 0.384 is 50% */
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, 0);
  CHECK_STR_CONTAINS(c.res.node_why[0], "below the threshold (60% of 0.3840/h)");
  c.o.min_saving_fraction = 0.05;
  c.o.min_monthly_saving = 200; /* 0.192 x 730 = 140.16 */
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, 0);
  CHECK_STR_CONTAINS(c.res.node_why[0], "below the minimum (200.00)");
  cfx_close(&c);
}

/* Six half-used nodes: each holds one 2-cpu pod of 4 cpu; three go (their pods fill the other three). */
static int half_used(struct cfx *c, size_t n) {
  struct stv_test_fx *fx = &c->fx;
  size_t i;
  char name[32];
  if (stv_test_fx_init(fx) != 0) return -1;
  for (i = 0; i < n; i++) {
    snprintf(name, sizeof(name), "n%zu", i);
    if (NODE(.name = name, .cpu_m = 4000, .mem_mi = 8192, .zone = "z1", .instance_type = "m5.xlarge",
             .capacity_type = "on-demand") < 0 ||
        POD(.name = name, .cpu_m = 2000, .mem_mi = 1024, .node_name = name, .phase = STV_PHASE_RUNNING) < 0)
      return -2;
    c->price[i] = 0.192;
  }
  stv_cons_options_default(&c->o);
  return 0;
}

TEST(should_take_at_most_the_moves_allowed_and_show_the_whole_curve) {
  static struct cfx c;
  size_t i;
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(half_used(&c, 6), 0);
  c.o.max_multi = 0; /* one node at a time: three steps */
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, 3);
  CHECK_EQ_INT(c.res.evictions, 3);
  CHECK_EQ_INT(c.res.ncurve, 3);
  for (i = 1; i < c.res.ncurve; i++) {
    CHECK(c.res.curve[i].evictions >= c.res.curve[i - 1].evictions);
    CHECK(c.res.curve[i].monthly_saving > c.res.curve[i - 1].monthly_saving);
  }
  c.o.max_moves = 2;
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, 2);
  CHECK_EQ_INT(c.res.evictions, 2);
  CHECK_EQ_INT(c.res.ncurve, 3); /* the curve ignores the limit */
  c.o.max_moves = -1;
  c.o.eviction_price = 200; /* 0.192 x 730 = 140.16 a month does not pay for one eviction at 200 */
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, 0);
  CHECK_STR_CONTAINS(c.res.node_why[0], "does not pay for 1 eviction at 200.00");
  cfx_close(&c);
}

TEST(should_take_a_multi_node_action_when_it_ranks_first) {
  static struct cfx c;
  size_t i, removed = 0;
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(half_used(&c, 6), 0);
  CHECK_EQ_INT(run(&c), 0);
  /* three nodes onto the other three: one action as good per eviction as three single ones, and larger */
  CHECK_EQ_INT(c.res.evictions, 3);
  for (i = 0; i < c.res.nactions; i++) removed += c.res.actions[i].nremove;
  CHECK_EQ_INT(removed, 3);
  CHECK_EQ_INT(c.res.actions[0].kind, STV_CONS_MULTI);
  cfx_close(&c);
}

TEST(should_give_the_same_answer_twice) {
  static struct cfx c;
  uint32_t first_node[8], first_evict[8];
  size_t n, i;
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(half_used(&c, 8), 0);
  c.o.max_multi = 0;
  CHECK_EQ_INT(run(&c), 0);
  n = c.res.nactions;
  CHECK(n == 4);
  for (i = 0; i < n; i++) { /* copies: the result's memory goes with the next run */
    first_node[i] = c.res.actions[i].remove[0];
    first_evict[i] = c.res.actions[i].nevict;
  }
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, n);
  for (i = 0; i < n; i++) {
    CHECK_EQ_INT(c.res.actions[i].remove[0], first_node[i]);
    CHECK_EQ_INT(c.res.actions[i].nevict, first_evict[i]);
  }
  cfx_close(&c);
}

TEST(should_merge_nodes_none_of_which_goes_alone) {
  static struct cfx c;
  struct stv_test_fx *fx = &c.fx;
  size_t i;
  char name[32];
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(stv_test_fx_init(fx), 0);
  /* Three 2-cpu nodes each 3/4 full; no room elsewhere; one 8-cpu node at 0.30 takes all three. */
  for (i = 0; i < 3; i++) {
    snprintf(name, sizeof(name), "s%zu", i);
    CHECK(NODE(.name = name, .cpu_m = 2000, .mem_mi = 4096, .zone = "z1", .instance_type = "m5.large",
               .capacity_type = "on-demand") >= 0);
    CHECK(POD(.name = name, .cpu_m = 1500, .mem_mi = 1024, .node_name = name, .phase = STV_PHASE_RUNNING) >=
          0);
    c.price[i] = 0.15;
  }
  CHECK(TMPL(.instance_type = "m5.2xlarge", .zone = "z1", .price = 0.30, .cpu_m = 8000, .mem_mi = 16384) >=
        0);
  stv_cons_options_default(&c.o);
  CHECK_EQ_INT(run(&c), 0);
  CHECK_EQ_INT(c.res.nactions, 1);
  CHECK_EQ_INT(c.res.actions[0].kind, STV_CONS_MULTI);
  CHECK_EQ_INT(c.res.actions[0].nremove, 3);
  CHECK(fabs(c.res.actions[0].saving_hourly - 0.15) < 1e-9);
  for (i = 0; i < 3; i++) CHECK(c.res.actions[0].moves[i].node == -1);
  cfx_close(&c);
}
