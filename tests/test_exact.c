/*
 * The optimizer's exact search (packer/exact.c; docs/optimizer.md, "Exact
 * search"): perfect triplets in one and two dimensions, where the LP bound
 * is the optimum and the rounding misses it, tiny instances against an
 * exhaustive search over every partition of the pods, and the problems it
 * must leave alone, saying why. No clock: the work limits decide, so every
 * run is deterministic.
 */
#include <math.h>

#include "builders.h"
#include "harness.h"

/* Packs fx with the optimizer, to the proven optimum (no gap tolerance). */
static int optimize(struct stv_test_fx *fx, long work_limit) {
  struct stv_problem p;
  int rc;
  stv_plan_close(&fx->plan);
  if ((rc = stv_snapshot_finish(&fx->s, &fx->err)) != 0) return rc;
  p = stv_test_fx_problem(fx);
  p.time_limit = 10;
  p.work_limit = work_limit;
  p.gap_tolerance = -1;
  stv_spot_policy_default(&p.spot);
  return stv_optimize(&p, &fx->plan, &fx->err);
}

static uint64_t rng_next(uint64_t *x) {
  *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
  return *x >> 33;
}

/* A piece of 1000 cut at random into three pieces each strictly between
 * 250 and 500, as Falkenauer's triplets are (dims 1 or 2: cpu, and memory
 * cut the same way independently). */
static void cut3(uint64_t *seed, int64_t w[3]) {
  do {
    w[0] = 251 + (int64_t)(rng_next(seed) % 248);
    w[1] = 251 + (int64_t)(rng_next(seed) % 248);
    w[2] = 1000 - w[0] - w[1];
  } while (w[2] <= 250 || w[2] >= 500);
}

/* n perfect triplets: one node each is the optimum, and the LP bound. */
static int triplets(struct stv_test_fx *fx, int n, int dims, uint64_t seed) {
  int i, k, rc;
  char name[32];
  for (i = 0; i < n; i++) {
    int64_t c[3], m[3] = {1, 1, 1};
    cut3(&seed, c);
    if (dims == 2) cut3(&seed, m);
    for (k = 0; k < 3; k++) {
      snprintf(name, sizeof(name), "p-%d-%d", i, k);
      rc = stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.name = name, .cpu_m = c[k], .mem_mi = m[k]});
      if (rc < 0) return rc;
    }
  }
  return stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = "bin",
                                                               .zone = "z1",
                                                               .price = 1.0,
                                                               .cpu_m = 1000,
                                                               .mem_mi = dims == 2 ? 1000 : 1 << 20,
                                                               .pods = 1000});
}

static int said(const struct stv_plan *plan, const char *prefix) {
  const char *e = plan->stats.cg.exact;
  return e != NULL && strncmp(e, prefix, strlen(prefix)) == 0;
}

STV_TEST_FX(should_find_the_perfect_triplet_packing_and_prove_it_optimal) {
  /* 100 triplets (300 pods): with this budget the greedy, the dives and
   * the branch and bound alone end at 101 nodes (measured before the exact
   * search existed). */
  CHECK(triplets(fx, 100, 1, 2) >= 0);
  CHECK_EQ_INT(optimize(fx, 20000000L), 0);
  CHECK_EQ_INT((int)fx->plan.nnew, 100);
  CHECK_EQ_INT((int)fx->plan.nplaced, 300);
  CHECK(said(&fx->plan, "plan found"));
  CHECK_EQ_INT(fx->plan.stop_reason, STV_STOP_OPTIMAL);
}

STV_TEST_FX(should_find_the_perfect_vector_triplet_packing) {
  CHECK(triplets(fx, 30, 2, 5) >= 0);
  CHECK_EQ_INT(optimize(fx, 40000000L), 0);
  CHECK_EQ_INT((int)fx->plan.nnew, 30);
  CHECK_EQ_INT((int)fx->plan.nplaced, 90);
  CHECK_EQ_INT(fx->plan.stop_reason, STV_STOP_OPTIMAL);
}

STV_TEST_FX(should_skip_reserved_counts_and_say_so) {
  CHECK(triplets(fx, 8, 1, 3) >= 0);
  CHECK(stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = "bin-r",
                                                              .zone = "z1",
                                                              .price = 0.9,
                                                              .reserved = 2,
                                                              .cpu_m = 1000,
                                                              .mem_mi = 1 << 20,
                                                              .pods = 1000}) >= 0);
  CHECK_EQ_INT(optimize(fx, 4000000L), 0);
  CHECK_EQ_INT((int)fx->plan.nplaced, 24);
  /* The search did not run (the integer phase may not have been needed). */
  CHECK(fx->plan.stats.cg.exact == NULL || said(&fx->plan, "skipped: not pure packing (reserved counts)"));
  CHECK(fx->plan.stats.cg.exact_nodes == 0);
}

STV_TEST_FX(should_skip_spot_offerings_and_say_so) {
  int i;
  /* Pods the heuristic packs loosely: three 400m pods, no node holds three. */
  for (i = 0; i < 9; i++)
    CHECK(stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.cpu_m = 400, .mem_mi = 1}) >= 0);
  CHECK(stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = "a",
                                                              .zone = "z1",
                                                              .capacity_type = "spot",
                                                              .price = 1.0,
                                                              .cpu_m = 1000,
                                                              .mem_mi = 1 << 20}) >= 0);
  CHECK_EQ_INT(optimize(fx, 4000000L), 0);
  CHECK_EQ_INT((int)fx->plan.nplaced, 9);
  CHECK(fx->plan.stats.cg.exact == NULL || said(&fx->plan, "skipped: not pure packing"));
  CHECK(fx->plan.stats.cg.exact_nodes == 0);
}

/* ---------------------------------------------------------------------- */
/* Against an exhaustive search                                           */

#define TINY_MAX  7
#define TINY_TMPL 3

struct tiny {
  int n, dims, ntmpl;
  int64_t req[TINY_MAX][2];
  int64_t cap[TINY_TMPL][2];
  double price[TINY_TMPL];
};

/* The cheapest template that holds the pods of mask, INFINITY if none. */
static double block_cost(const struct tiny *t, unsigned mask) {
  double best = INFINITY;
  int k, i, r;
  for (k = 0; k < t->ntmpl; k++) {
    int64_t used[2] = {0, 0};
    int ok = 1;
    for (i = 0; i < t->n; i++)
      if (mask & (1u << i))
        for (r = 0; r < t->dims; r++) used[r] += t->req[i][r];
    for (r = 0; r < t->dims; r++) ok &= used[r] <= t->cap[k][r];
    if (ok && t->price[k] < best) best = t->price[k];
  }
  return best;
}

/* The cheapest partition of the pods in left into nodes (the lowest pod
 * of left always opens the next node: each partition once). */
static double cheapest(const struct tiny *t, unsigned left) {
  unsigned low, rest, sub;
  double best = INFINITY;
  if (left == 0) return 0;
  low = left & -left;
  rest = left & ~low;
  for (sub = rest;; sub = (sub - 1) & rest) {
    double c = block_cost(t, low | sub);
    if (c < INFINITY) {
      c += cheapest(t, left & ~(low | sub));
      if (c < best) best = c;
    }
    if (sub == 0) break;
  }
  return best;
}

/* A tiny random instance: 1 or 2 dimensions, 1 to 3 templates priced
 * either in whole units or not. */
static int tiny_build(struct stv_test_fx *fx, struct tiny *t, uint64_t *seed) {
  int i, k, rc;
  char it[16];
  memset(t, 0, sizeof(*t));
  t->n = 3 + (int)(rng_next(seed) % (TINY_MAX - 2));
  t->dims = 1 + (int)(rng_next(seed) % 2);
  t->ntmpl = 1 + (int)(rng_next(seed) % TINY_TMPL);
  for (k = 0; k < t->ntmpl; k++) {
    int whole = rng_next(seed) % 2;
    t->cap[k][0] = 1000 + 250 * (int64_t)k;
    t->cap[k][1] = t->dims == 2 ? 1000 + 500 * (int64_t)(rng_next(seed) % 3) : 1 << 20;
    t->price[k] = whole ? (double)(1 + k) : 1.0 + 0.37 * k + 0.11 * (double)(rng_next(seed) % 3);
    snprintf(it, sizeof(it), "t%d", k);
    rc = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = it,
                                                               .zone = "z1",
                                                               .price = t->price[k],
                                                               .cpu_m = t->cap[k][0],
                                                               .mem_mi = t->cap[k][1],
                                                               .pods = 100});
    if (rc < 0) return rc;
  }
  for (i = 0; i < t->n; i++) {
    t->req[i][0] = 150 + (int64_t)(rng_next(seed) % 700);
    t->req[i][1] = t->dims == 2 ? 100 + (int64_t)(rng_next(seed) % 800) : 1;
    rc = stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.cpu_m = t->req[i][0], .mem_mi = t->req[i][1]});
    if (rc < 0) return rc;
  }
  return 0;
}

TEST(should_match_an_exhaustive_search_on_tiny_instances) {
  uint64_t seed = 2026;
  int round, proven = 0;
  for (round = 0; round < 60; round++) {
    struct stv_test_fx fx;
    struct tiny t;
    double opt;
    CHECK(stv_test_fx_init(&fx) == 0);
    CHECK(tiny_build(&fx, &t, &seed) == 0);
    opt = cheapest(&t, (1u << t.n) - 1);
    CHECK_EQ_INT(optimize(&fx, 4000000L), 0);
    CHECK_EQ_INT((int)fx.plan.nplaced, t.n);
    /* Never below the optimum (a plan the exhaustive search missed would
     * be a bug of the plan), and at it when the optimizer says optimal. */
    CHECK(fx.plan.new_cost >= opt - 1e-9);
    if (fx.plan.stop_reason == STV_STOP_OPTIMAL) {
      CHECK(fabs(fx.plan.new_cost - opt) < 1e-6);
      proven++;
    }
    if (fx.plan.has_lower_bound) CHECK(fx.plan.lower_bound <= opt + 1e-6);
    if (fx.plan.stats.cg.exact != NULL) CHECK(strncmp(fx.plan.stats.cg.exact, "skipped", 7) != 0);
    if (fabs(fx.plan.new_cost - opt) > 1e-6)
      fprintf(stderr, "  round %d: plan %.4f, optimum %.4f, stopped %s, exact %s\n", round, fx.plan.new_cost,
              opt, stv_stop_reason_name(fx.plan.stop_reason),
              fx.plan.stats.cg.exact ? fx.plan.stats.cg.exact : "-");
    CHECK(fabs(fx.plan.new_cost - opt) < 1e-6);
    stv_test_fx_close(&fx);
  }
  /* Most runs end with a proof, not at a work limit. */
  CHECK(proven > 30);
}
