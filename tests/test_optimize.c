/*
 * The optimizer (stv_optimize): behaviour on fixtures with a known answer,
 * against the heuristic it starts from, under the spot and reserved
 * limits, without a clock (work limits only: deterministic) and when
 * allocations fail.
 */
#include <math.h>

#include "builders.h"
#include "harness.h"

/* Packs fx with the optimizer (no clock: the work limits decide). */
static int optimize(struct stv_test_fx *fx, double time_limit, const struct stv_spot_policy *sp) {
  struct stv_problem p;
  int rc;
  stv_plan_close(&fx->plan);
  if (fx->s.npods && fx->s.classes != NULL && (rc = stv_snapshot_finish(&fx->s, &fx->err)) != 0) return rc;
  p = stv_test_fx_problem(fx);
  p.time_limit = time_limit;
  if (sp != NULL)
    p.spot = *sp;
  else
    stv_spot_policy_default(&p.spot);
  return stv_optimize(&p, &fx->plan, &fx->err);
}

/* The heuristic's plan of the same problem (fx's snapshot must be finished). */
static int heuristic(struct stv_test_fx *fx, struct stv_plan *out) {
  struct stv_problem p = stv_test_fx_problem(fx);
  struct stv_err err = {0, ""};
  stv_spot_policy_default(&p.spot);
  return stv_pack(&p, out, &err);
}

/* Every pending pod placed exactly once, within each node's room. */
static int plan_sound(const struct stv_test_fx *fx) {
  const struct stv_snapshot *s = &fx->s;
  const struct stv_plan *plan = &fx->plan;
  int *seen = calloc(s->npods + 1, sizeof(int));
  size_t i;
  int ok = seen != NULL, r;
  for (i = 0; i < plan->nnodes && ok; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    int64_t used[STV_MAX_RES];
    uint32_t q;
    memset(used, 0, sizeof(used));
    for (q = 0; q < pn->npods; q++) {
      const struct stv_class *c = s->classes[s->pods[pn->pods[q]].cls];
      if (seen[pn->pods[q]]++) ok = 0;
      for (r = 0; r < s->res.n; r++) used[r] += c->req[r];
    }
    for (q = 0; pn->existing < 0 && q < pn->ndaemons; q++)
      for (r = 0; r < s->res.n; r++) used[r] += s->classes[pn->daemons[q]]->req[r];
    for (r = 0; r < s->res.n && ok; r++) {
      int64_t cap = pn->existing >= 0 ? s->nodes[pn->existing].alloc[r] - s->nodes[pn->existing].used[r]
                                      : fx->tmpl[pn->tmpl].alloc[r];
      if (used[r] > cap) ok = 0;
    }
  }
  for (i = 0; i < plan->nunsched && ok; i++)
    if (seen[plan->unsched[i].pod]++) ok = 0;
  for (i = 0; i < s->npods && ok; i++) {
    const struct stv_pod *p = &s->pods[i];
    if (p->node >= 0 || s->classes[p->cls]->daemonset) continue;
    if (seen[i] != 1) ok = 0;
  }
  free(seen);
  return ok;
}

/* A deterministic generator, so that fixtures are the same on every run. */
static uint64_t rng_next(uint64_t *x) {
  *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
  return *x >> 33;
}

/*
 * Bins of 1000m cut into three pieces each (a "triplet" instance): the
 * optimum is exactly one node per triplet and the LP bound equals it.
 */
static int triplets(struct stv_test_fx *fx, int n, uint64_t seed) {
  int i, rc;
  char name[32];
  for (i = 0; i < n; i++) {
    int64_t a = 250 + (int64_t)(rng_next(&seed) % 240), b = 250 + (int64_t)(rng_next(&seed) % 240);
    int64_t c = 1000 - a - b, w[3];
    int k;
    w[0] = a;
    w[1] = b;
    w[2] = c;
    for (k = 0; k < 3; k++) {
      snprintf(name, sizeof(name), "p-%d-%d", i, k);
      rc = stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.name = name, .cpu_m = w[k], .mem_mi = 1});
      if (rc < 0) return rc;
    }
  }
  return stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){
                                      .instance_type = "bin", .zone = "z1", .price = 1.0, .cpu_m = 1000,
                                      .mem_mi = 1 << 20, .pods = 100});
}

STV_TEST_FX(should_reach_the_optimum_the_heuristic_misses_and_prove_it) {
  struct stv_plan h;
  CHECK(triplets(fx, 40, 7) >= 0);
  CHECK_EQ_INT(optimize(fx, 5, NULL), 0);
  CHECK(plan_sound(fx));
  CHECK(heuristic(fx, &h) == 0);
  /* The heuristic needs more than the 40 nodes the triplets fill exactly. */
  CHECK(h.nnew > 40);
  CHECK_EQ_INT((int)fx->plan.nnew, 40);
  CHECK(fx->plan.optimized && fx->plan.lp_converged);
  CHECK(fabs(fx->plan.heuristic_cost - h.new_cost) < 1e-9);
  /* The bound is proven: the LP optimum, here 40 exactly. */
  CHECK(fx->plan.has_lower_bound && fx->plan.lower_bound > 39.99 && fx->plan.lower_bound <= 40.0);
  stv_plan_close(&h);
}

/* A mixed fixture: several templates, a few classes, anti-affinity. */
static int mixed(struct stv_test_fx *fx, uint64_t seed) {
  static const char *zones[] = {"z1", "z2", "z3"};
  int i, rc;
  char name[32];
  for (i = 0; i < 6; i++) {
    int64_t cpu = 1000 * (1 + (int64_t)(rng_next(&seed) % 8)), mem = 2048 * (1 + (int64_t)(rng_next(&seed) % 8));
    snprintf(name, sizeof(name), "t%d", i);
    rc = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = name,
                                                                .zone = zones[i % 3],
                                                                .price = 0.01 * (double)(cpu / 1000) +
                                                                         0.004 * (double)(mem / 1024) +
                                                                         0.001 * (double)(rng_next(&seed) % 10),
                                                                .cpu_m = cpu,
                                                                .mem_mi = mem});
    if (rc < 0) return rc;
  }
  for (i = 0; i < 5; i++) {
    char app[16];
    snprintf(name, sizeof(name), "c%d", i);
    snprintf(app, sizeof(app), "app%d", i);
    rc = stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.name = name,
                                                          .cpu_m = 100 + 100 * (int64_t)(rng_next(&seed) % 15),
                                                          .mem_mi = 128 + 128 * (int64_t)(rng_next(&seed) % 24),
                                                          .labels = {{"app", app}},
                                                          .anti_host = i == 0,
                                                          .count = 3 + (uint32_t)(rng_next(&seed) % 20)});
    if (rc < 0) return rc;
  }
  return 0;
}

TEST(should_never_cost_more_than_the_heuristic) {
  uint64_t seed;
  for (seed = 1; seed <= 25; seed++) {
    struct stv_test_fx f;
    struct stv_plan h;
    CHECK(stv_test_fx_init(&f) == 0);
    if (mixed(&f, seed) != 0 || optimize(&f, 5, NULL) != 0 || heuristic(&f, &h) != 0) {
      stv_test_fx_close(&f);
      CHECK(0);
    }
    if (!plan_sound(&f) || f.plan.nplaced != h.nplaced || f.plan.new_cost > h.new_cost + 1e-9 ||
        (f.plan.has_lower_bound && f.plan.lower_bound > f.plan.new_cost + 1e-9)) {
      fprintf(stderr, "  seed %llu: optimized %.4f (%zu placed, bound %.4f), heuristic %.4f (%zu placed)\n",
              (unsigned long long)seed, f.plan.new_cost, f.plan.nplaced, f.plan.lower_bound, h.new_cost, h.nplaced);
      stv_plan_close(&h);
      stv_test_fx_close(&f);
      CHECK(0);
    }
    /* The pod that repels itself is alone of its kind on every node. */
    {
      size_t i;
      for (i = 0; i < f.plan.nnodes; i++) {
        uint32_t q, n = 0;
        for (q = 0; q < f.plan.nodes[i].npods; q++)
          n += strncmp(f.s.pods[f.plan.nodes[i].pods[q]].name, "c0", 2) == 0;
        if (n > 1) {
          stv_plan_close(&h);
          stv_test_fx_close(&f);
          CHECK(n <= 1);
        }
      }
    }
    stv_plan_close(&h);
    stv_test_fx_close(&f);
  }
}

STV_TEST_FX(should_be_deterministic_without_a_clock) {
  struct stv_test_fx g;
  size_t i;
  CHECK(mixed(fx, 11) == 0);
  CHECK(optimize(fx, 5, NULL) == 0);
  CHECK(stv_test_fx_init(&g) == 0);
  if (mixed(&g, 11) != 0 || optimize(&g, 5, NULL) != 0) {
    stv_test_fx_close(&g);
    CHECK(0);
  }
  if (g.plan.nnodes != fx->plan.nnodes) {
    stv_test_fx_close(&g);
    CHECK(0);
  }
  for (i = 0; i < g.plan.nnodes; i++) {
    if (g.plan.nodes[i].tmpl != fx->plan.nodes[i].tmpl || g.plan.nodes[i].npods != fx->plan.nodes[i].npods ||
        memcmp(g.plan.nodes[i].pods, fx->plan.nodes[i].pods, g.plan.nodes[i].npods * sizeof(uint32_t)) != 0) {
      stv_test_fx_close(&g);
      CHECK(0);
    }
  }
  stv_test_fx_close(&g);
}

STV_TEST_FX(should_use_the_heuristic_plan_alone_with_no_time) {
  struct stv_plan h;
  size_t i;
  CHECK(mixed(fx, 5) == 0);
  CHECK(optimize(fx, 0, NULL) == 0);
  CHECK(heuristic(fx, &h) == 0);
  CHECK(h.nnodes == fx->plan.nnodes && fabs(h.new_cost - fx->plan.new_cost) < 1e-12);
  for (i = 0; i < h.nnodes; i++) CHECK(h.nodes[i].tmpl == fx->plan.nodes[i].tmpl);
  stv_plan_close(&h);
}

/* Spot cheaper than on-demand in four zones, for many identical pods. */
static int spot_fixture(struct stv_test_fx *fx) {
  static const char *zones[] = {"z1", "z2", "z3", "z4"};
  int i, rc;
  for (i = 0; i < 4; i++) {
    rc = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = "m.large", .zone = zones[i],
                                                                .capacity_type = "spot",
                                                                .price = 0.03 + 0.001 * i, .cpu_m = 2000,
                                                                .mem_mi = 8192});
    if (rc < 0) return rc;
    fx->tmpl[rc].interruption_rate = 0.1;
    rc = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = "m.large", .zone = zones[i],
                                                                .price = 0.096, .cpu_m = 2000, .mem_mi = 8192});
    if (rc < 0) return rc;
  }
  return stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.name = "w", .cpu_m = 900, .mem_mi = 1024, .count = 60});
}

/*
 * The optimizer starts from the set-up and the heuristic's fill it shares
 * with the heuristic's plan (the state put back between the two): the
 * plan it compares against is the very one stv_pack makes alone, spot
 * repair included, and its own is sound.
 */
TEST(should_compare_against_the_plan_the_heuristic_makes_alone) {
  uint64_t seed;
  for (seed = 0; seed <= 12; seed++) {
    struct stv_test_fx f;
    struct stv_spot_policy sp;
    struct stv_plan h;
    int ok;
    stv_spot_policy_default(&sp);
    sp.max_pool_fraction = 0.3; /* the spot repair changes the kept nodes */
    CHECK(stv_test_fx_init(&f) == 0);
    if ((seed == 0 ? spot_fixture(&f) < 0 : mixed(&f, seed) != 0) ||
        optimize(&f, 5, seed == 0 ? &sp : NULL) != 0) {
      stv_test_fx_close(&f);
      CHECK(0);
    }
    {
      struct stv_problem p = stv_test_fx_problem(&f);
      struct stv_err err = {0, ""};
      p.spot = sp;
      if (seed != 0) stv_spot_policy_default(&p.spot);
      if (stv_pack(&p, &h, &err) != 0) {
        stv_test_fx_close(&f);
        CHECK(0);
      }
    }
    ok = plan_sound(&f) && f.plan.heuristic_cost == h.new_cost &&
         f.plan.stats.heuristic_placed == h.nplaced &&
         memcmp(&f.plan.stats.heuristic, &h.stats.heuristic, sizeof(h.stats.heuristic)) == 0 &&
         (!f.plan.stats.compared || f.plan.stats.optimized.groups == h.stats.heuristic.groups);
    if (!ok)
      fprintf(stderr, "  seed %llu: heuristic %.4f (%zu placed) against %.4f (%zu placed) alone\n",
              (unsigned long long)seed, f.plan.heuristic_cost, f.plan.stats.heuristic_placed, h.new_cost,
              h.nplaced);
    stv_plan_close(&h);
    stv_test_fx_close(&f);
    CHECK(ok);
  }
}

static void spot_counts(const struct stv_test_fx *fx, size_t *nspot, size_t *maxpool, double *spot_cost,
                        double *all_cost) {
  size_t i, per[STV_TEST_MAX_TMPL];
  memset(per, 0, sizeof(per));
  *nspot = *maxpool = 0;
  *spot_cost = *all_cost = 0;
  for (i = 0; i < fx->plan.nnodes; i++) {
    const struct stv_plan_node *pn = &fx->plan.nodes[i];
    if (pn->existing >= 0) continue;
    *all_cost += fx->tmpl[pn->tmpl].price;
    if (fx->tmpl[pn->tmpl].capacity_type != STV_CT_SPOT) continue;
    (*nspot)++;
    *spot_cost += fx->tmpl[pn->tmpl].price;
    if (++per[pn->tmpl] > *maxpool) *maxpool = per[pn->tmpl];
  }
}

STV_TEST_FX(should_spread_spot_nodes_over_pools) {
  struct stv_spot_policy sp;
  size_t nspot, maxpool;
  double sc, ac;
  CHECK(spot_fixture(fx) == 0);
  stv_spot_policy_default(&sp);
  sp.max_pool_fraction = 0.3;
  CHECK(optimize(fx, 5, &sp) == 0);
  CHECK(plan_sound(fx));
  spot_counts(fx, &nspot, &maxpool, &sc, &ac);
  /* 30 nodes of two pods; no pool above 30% of the spot nodes (plus the grace). */
  CHECK(nspot > 0);
  CHECK((double)maxpool <= 0.3 * (double)nspot + STV_SPOT_POOL_GRACE + 1e-9);
  {
    struct stv_problem p = stv_test_fx_problem(fx);
    p.spot = sp;
    CHECK(stv_plan_spot_ok(&p, &fx->plan));
  }
}

STV_TEST_FX(should_keep_spot_within_its_share_of_cost) {
  struct stv_spot_policy sp;
  size_t nspot, maxpool;
  double sc, ac;
  CHECK(spot_fixture(fx) == 0);
  stv_spot_policy_default(&sp);
  sp.max_share = 0.5;
  sp.max_pool_fraction = 1.0;
  CHECK(optimize(fx, 5, &sp) == 0);
  CHECK(plan_sound(fx));
  spot_counts(fx, &nspot, &maxpool, &sc, &ac);
  CHECK(nspot > 0);
  CHECK(sc <= 0.5 * ac + 1e-9);
}

STV_TEST_FX(should_use_reserved_nodes_first_and_no_more_than_held) {
  size_t i, nres = 0;
  int r = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = "m.large", .zone = "z1",
                                                                 .reserved = 2, .price = 0.0, .cpu_m = 2000,
                                                                 .mem_mi = 8192});
  CHECK(r >= 0);
  CHECK(stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = "m.large", .zone = "z1",
                                                               .price = 0.096, .cpu_m = 2000, .mem_mi = 8192}) >= 0);
  CHECK(stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.name = "w", .cpu_m = 900, .mem_mi = 1024, .count = 9}) >=
        0);
  CHECK(optimize(fx, 5, NULL) == 0);
  CHECK(plan_sound(fx));
  for (i = 0; i < fx->plan.nnodes; i++) nres += fx->plan.nodes[i].tmpl == r;
  CHECK_EQ_INT((int)nres, 2);
  /* 9 pods of 900m: 5 nodes, 2 of them free. */
  CHECK(fabs(fx->plan.new_cost - 3 * 0.096) < 1e-9);
}

/* Fails the n-th allocation for n = 0, 1, ...: STV_ENOMEM, empty plan, no leak. */
STV_TEST_FX(should_return_enomem_cleanly_when_any_allocation_fails) {
  long n, ok_run = 0, nfail = 0;
  CHECK(mixed(fx, 3) == 0);
  CHECK(stv_snapshot_finish(&fx->s, &fx->err) == 0);
  for (n = 0; n < 100000 && ok_run < 64; n++) {
    struct stv_problem p = stv_test_fx_problem(fx);
    struct stv_err err = {0, ""};
    int rc;
    p.time_limit = 5;
    stv_spot_policy_default(&p.spot);
    stv_plan_close(&fx->plan);
    stv_alloc_fail_after(n);
    rc = stv_optimize(&p, &fx->plan, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) {
      ok_run++;
      CHECK(plan_sound(fx));
      continue;
    }
    ok_run = 0;
    nfail++;
    CHECK(rc == STV_ENOMEM && fx->plan.nnodes == 0 && fx->plan.nodes == NULL);
  }
  CHECK(ok_run >= 64);
  CHECK(nfail > 100);
}

/* Five pods of 600m that only fit one to a 1000m bin: the resource bound is 3 bins, the packing bound 5. */
static int big_pods(struct stv_test_fx *fx) {
  int rc =
      stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.name = "big", .cpu_m = 600, .mem_mi = 1, .count = 5});
  if (rc < 0) return rc;
  return stv_test_fx_template(
      fx,
      &(struct stv_test_tmpl_opts){
          .instance_type = "bin", .zone = "z1", .price = 1.0, .cpu_m = 1000, .mem_mi = 1 << 20, .pods = 100});
}

STV_TEST_FX(should_say_the_bound_is_the_packing_bound_when_the_optimizer_proves_it) {
  CHECK(big_pods(fx) >= 0);
  CHECK_EQ_INT(optimize(fx, 5, NULL), 0);
  CHECK_EQ_INT((int)fx->plan.nnew, 5);
  CHECK(fx->plan.has_lower_bound && fx->plan.lower_bound > 4.99);
  CHECK_EQ_INT(fx->plan.lower_bound_kind, STV_BOUND_PATTERNS);
}

STV_TEST_FX(should_say_the_bound_is_the_resource_bound_without_the_optimizer) {
  CHECK(big_pods(fx) >= 0);
  CHECK_EQ_INT(optimize(fx, 0, NULL), 0);
  CHECK_EQ_INT((int)fx->plan.nnew, 5);
  CHECK(fx->plan.has_lower_bound && fx->plan.lower_bound > 2.99 && fx->plan.lower_bound < 3.01);
  CHECK_EQ_INT(fx->plan.lower_bound_kind, STV_BOUND_RESOURCES);
}

STV_TEST_FX(should_count_existing_room_in_the_packing_bound) {
  CHECK(big_pods(fx) >= 0);
  /* Room for one pod on an existing node: 4 new bins. The pattern bound
   * pools that room (1000m, so 1.67 pods of 600m) and puts one pod per
   * bin: 5 - 1.67 = 3.33, above the resource bound (3000m - 1000m = 2). */
  CHECK(stv_test_node(&fx->s, &(struct stv_test_node_opts){.name = "n1", .cpu_m = 1000, .mem_mi = 1 << 20}) >=
        0);
  CHECK_EQ_INT(optimize(fx, 5, NULL), 0);
  CHECK_EQ_INT((int)fx->plan.nnew, 4);
  CHECK(fx->plan.has_lower_bound && fx->plan.lower_bound > 3.33 && fx->plan.lower_bound < 3.34);
  CHECK_EQ_INT(fx->plan.lower_bound_kind, STV_BOUND_RELAXED);
}
