/*
 * The optimizer's stopping rules and decision mode (docs/optimizer.md,
 * "Stopping" and "Decision mode"): it stops within the gap tolerance, at
 * the optimum, when its LP stalls, or at its work budget, and says which;
 * under a work budget the same input gives the same plan, also with two
 * solves at once on a machine kept busy by other threads. The stall rule
 * needs partial pricing (hundreds of shapes): tests/test_anytime.py checks
 * it on a Karpenter-mix snapshot.
 */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "builders.h"
#include "harness.h"

static uint64_t rng_next(uint64_t *x) {
  *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
  return *x >> 33;
}

static double wall_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* n triplets of pods (cpu a + b + c = 1000) on one 1000m bin type: the
 * optimum is n bins exactly, which the heuristic misses. */
static int triplets(struct stv_test_fx *fx, int n, uint64_t seed) {
  int i, k, rc;
  char name[32];
  for (i = 0; i < n; i++) {
    int64_t w[3];
    w[0] = 250 + (int64_t)(rng_next(&seed) % 240);
    w[1] = 250 + (int64_t)(rng_next(&seed) % 240);
    w[2] = 1000 - w[0] - w[1];
    for (k = 0; k < 3; k++) {
      snprintf(name, sizeof(name), "p-%d-%d", i, k);
      if ((rc = stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.name = name, .cpu_m = w[k], .mem_mi = 1})) <
          0)
        return rc;
    }
  }
  if ((rc = stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){.instance_type = "bin",
                                                                  .zone = "z1",
                                                                  .price = 1.0,
                                                                  .cpu_m = 1000,
                                                                  .mem_mi = 1 << 20,
                                                                  .pods = 100})) < 0)
    return rc;
  return stv_snapshot_finish(&fx->s, &fx->err);
}

/*
 * A cluster-like mix: 70 instance types (so that pricing is partial: more
 * than 48 shapes) and 40 pod classes of random sizes, 30 pods each; with
 * kept, 12 more pods under a hostname spread rule, whose nodes the
 * optimizer keeps aside (its master is then not the whole problem).
 */
static int mix_kept(struct stv_test_fx *fx, uint64_t seed, int kept) {
  int i, rc;
  char name[32];
  for (i = 0; i < 70; i++) {
    int64_t cpu = 1000 * (1 + (int64_t)(rng_next(&seed) % 32)),
            mem = 1024 * (1 + (int64_t)(rng_next(&seed) % 64));
    snprintf(name, sizeof(name), "t%d", i);
    rc = stv_test_fx_template(
        fx, &(struct stv_test_tmpl_opts){.instance_type = name,
                                         .zone = "z1",
                                         .price = 0.02 * (double)(cpu / 1000) + 0.005 * (double)(mem / 1024) +
                                                  0.001 * (double)(rng_next(&seed) % 20),
                                         .cpu_m = cpu,
                                         .mem_mi = mem});
    if (rc < 0) return rc;
  }
  for (i = 0; i < 40; i++) {
    char app[16];
    snprintf(name, sizeof(name), "c%d", i);
    snprintf(app, sizeof(app), "app%d", i);
    rc = stv_test_pod(&fx->s,
                      &(struct stv_test_pod_opts){.name = name,
                                                  .cpu_m = 100 + 50 * (int64_t)(rng_next(&seed) % 30),
                                                  .mem_mi = 128 + 128 * (int64_t)(rng_next(&seed) % 30),
                                                  .labels = {{"app", app}},
                                                  .count = 30});
    if (rc < 0) return rc;
  }
  if (kept && (rc = stv_test_pod(&fx->s, &(struct stv_test_pod_opts){.name = "spread",
                                                                     .cpu_m = 700,
                                                                     .mem_mi = 900,
                                                                     .labels = {{"app", "spread"}},
                                                                     .spread_host = 1,
                                                                     .count = 12})) < 0)
    return rc;
  return stv_snapshot_finish(&fx->s, &fx->err);
}

static int mix(struct stv_test_fx *fx, uint64_t seed) {
  return mix_kept(fx, seed, 0);
}

/* Optimizes fx with the given rules; no clock unless clock is given. */
static int solve(struct stv_test_fx *fx, double tol, int stall, long work, double (*clock)(void)) {
  struct stv_problem p = stv_test_fx_problem(fx);
  stv_plan_close(&fx->plan);
  stv_spot_policy_default(&p.spot);
  p.time_limit = clock != NULL ? 600 : 5;
  p.clock = clock;
  p.gap_tolerance = tol;
  p.stall_rounds = stall;
  p.work_limit = work;
  return stv_optimize(&p, &fx->plan, &fx->err);
}

STV_TEST_FX(should_stop_within_the_gap_tolerance_and_say_by_how_much) {
  CHECK(triplets(fx, 40, 7) == 0);
  /* 44 heuristic nodes against a bound of 40: 10 % is within 20 %. */
  CHECK_EQ_INT(solve(fx, 0.20, 0, 0, NULL), 0);
  CHECK_EQ_INT(fx->plan.stop_reason, STV_STOP_GAP);
  CHECK(fx->plan.nnew > 40);
  CHECK(fabs(fx->plan.stop_gap - ((double)fx->plan.nnew - 40) / 40) < 1e-6);
  CHECK(fabs(fx->plan.gap_tolerance - 0.20) < 1e-12);
  CHECK(strcmp(stv_stop_reason_name(fx->plan.stop_reason), "gap") == 0);
}

STV_TEST_FX(should_run_to_the_optimum_when_the_tolerance_is_tighter_than_the_gap) {
  CHECK(triplets(fx, 40, 7) == 0);
  /* 1 %: less than one bin in 40, so only the optimum will do. */
  CHECK_EQ_INT(solve(fx, 0.01, 0, 0, NULL), 0);
  CHECK_EQ_INT((int)fx->plan.nnew, 40);
  CHECK_EQ_INT(fx->plan.stop_reason, STV_STOP_OPTIMAL);
  CHECK(fx->plan.stop_gap >= 0 && fx->plan.stop_gap < 1e-6);
  /* No tolerance at all: the same optimum, the same reason. */
  CHECK_EQ_INT(solve(fx, -1, 0, 0, NULL), 0);
  CHECK_EQ_INT((int)fx->plan.nnew, 40);
  CHECK_EQ_INT(fx->plan.stop_reason, STV_STOP_OPTIMAL);
}

STV_TEST_FX(should_stop_at_the_work_budget_and_count_the_work) {
  long big;
  CHECK(mix(fx, 11) == 0);
  CHECK_EQ_INT(solve(fx, -1, -1, 20000, NULL), 0);
  CHECK_EQ_INT(fx->plan.stop_reason, STV_STOP_WORK);
  CHECK(fx->plan.work >= 20000);
  CHECK_EQ_INT(solve(fx, -1, -1, 200000, NULL), 0);
  big = fx->plan.work;
  CHECK(big > 100000);
  /* A budget in seconds is STV_WORK_PER_SECOND units a second. */
  CHECK(stv_work_units(1.0) >= STV_WORK_PER_SECOND && stv_work_units(1.0) <= STV_WORK_PER_SECOND + 1);
  CHECK(stv_work_units(0) == 0 && stv_work_units(-1) == 0);
}

static char *render(const struct stv_plan *plan);

/*
 * The root LP of the mix with nodes kept aside stops short of converging
 * (partial pricing, its half of the budget), and the integer phase finds
 * nothing cheaper: with the stall rules it stops once its window (a share
 * of the work budget) passes without a gain, the same way every time, and
 * the plan is the one the whole budget gives, or within 0.5 % of it.
 * Without the window the budget decides.
 */
STV_TEST_FX(should_stop_when_the_integer_phase_finds_no_cheaper_plan_over_its_window) {
  const long budget = 2000000;
  double run_on;
  long run_on_work;
  char *first;
  CHECK(mix_kept(fx, 23, 1) == 0);
  CHECK_EQ_INT(solve(fx, 0, -1, budget, NULL), 0); /* no stall rule: the budget decides */
  CHECK_EQ_INT(fx->plan.stop_reason, STV_STOP_WORK);
  run_on = fx->plan.new_cost;
  run_on_work = fx->plan.work;
  CHECK(run_on_work >= budget * 7 / 10); /* the relaxed bound had the other 30 % */
  CHECK_EQ_INT(solve(fx, 0, 0, budget, NULL), 0);
  CHECK_EQ_INT(fx->plan.stop_reason, STV_STOP_NO_GAIN);
  CHECK(strcmp(stv_stop_reason_name(fx->plan.stop_reason), "no gain") == 0);
  /* The root has half of the optimizer's 70 % either way; of the integer
   * phase's half, the window (5 %, and the step it ends in) uses little. */
  CHECK(fx->plan.work - budget * 7 / 20 < (run_on_work - budget * 7 / 20) / 3);
  CHECK(fx->plan.new_cost <= run_on * 1.005);
  first = render(&fx->plan);
  CHECK_EQ_INT(solve(fx, 0, 0, budget, NULL), 0);
  {
    char *again = render(&fx->plan);
    CHECK(first != NULL && again != NULL && strcmp(first, again) == 0);
    free(again);
  }
  free(first);
}

/* The plan as text: two plans are the same when these are. */
static char *render(const struct stv_plan *plan) {
  struct stv_buf b;
  char *out = NULL;
  size_t i;
  uint32_t q;
  stv_buf_init(&b);
  stv_buf_printf(&b, "cost %.17g new %zu stop %d work %ld\n", plan->new_cost, plan->nnew, plan->stop_reason,
                 plan->work);
  for (i = 0; i < plan->nnodes; i++) {
    stv_buf_printf(&b, "%s %d:", plan->nodes[i].name, plan->nodes[i].tmpl);
    for (q = 0; q < plan->nodes[i].npods; q++) stv_buf_printf(&b, " %u", plan->nodes[i].pods[q]);
    stv_buf_puts(&b, "\n");
  }
  if (b.err == 0 && b.data != NULL) out = strdup(b.data);
  stv_buf_close(&b);
  return out;
}

struct run {
  const struct stv_test_fx *fx;
  long work;
  int stall; /* stall_rounds: -1 lets the budget decide */
  int rc;
  char *text;
};

static void *run_thread(void *arg) {
  struct run *r = arg;
  struct stv_problem p = stv_test_fx_problem(r->fx);
  struct stv_plan plan;
  struct stv_err err = {0, ""};
  stv_spot_policy_default(&p.spot);
  p.time_limit = 600; /* the safety net, far away */
  p.clock = wall_clock;
  p.work_limit = r->work;
  p.stall_rounds = r->stall;
  r->text = NULL;
  r->rc = stv_optimize(&p, &plan, &err);
  if (r->rc == 0) {
    r->text = render(&plan);
    stv_plan_close(&plan);
  }
  stv_packer_thread_done();
  return NULL;
}

static int hog_stop; /* read and written with __atomic builtins: the hogs run on other threads */

static void *hog(void *arg) {
  volatile double x = 1;
  (void)arg;
  while (!__atomic_load_n(&hog_stop, __ATOMIC_RELAXED)) x = x * 1.0000001 + 1e-9;
  return NULL;
}

/* Budgets of work, the stall rules off: the budget decides. */
STV_TEST_FX(should_give_the_same_plan_for_the_same_budget_under_load) {
  static const struct {
    long work;
    int stall;
    const char *stop;
  } cases[] = {{30000, -1, "stop 5 "}, {150000, -1, "stop 5 "}};
  size_t b;
  CHECK(mix(fx, 23) == 0);
  for (b = 0; b < sizeof(cases) / sizeof(cases[0]); b++) {
    struct run alone = {fx, cases[b].work, cases[b].stall, -1, NULL},
               two[2] = {{fx, cases[b].work, cases[b].stall, -1, NULL},
                         {fx, cases[b].work, cases[b].stall, -1, NULL}};
    pthread_t th[2], hogs[3];
    int i;
    run_thread(&alone);
    CHECK_EQ_INT(alone.rc, 0);
    /* The budget or the window decided. */
    CHECK(alone.text != NULL && strstr(alone.text, cases[b].stop) != NULL);
    __atomic_store_n(&hog_stop, 0, __ATOMIC_RELAXED);
    for (i = 0; i < 3; i++) CHECK(pthread_create(&hogs[i], NULL, hog, NULL) == 0);
    for (i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, run_thread, &two[i]) == 0);
    for (i = 0; i < 2; i++) pthread_join(th[i], NULL);
    __atomic_store_n(&hog_stop, 1, __ATOMIC_RELAXED);
    for (i = 0; i < 3; i++) pthread_join(hogs[i], NULL);
    for (i = 0; i < 2; i++) {
      CHECK_EQ_INT(two[i].rc, 0);
      CHECK(two[i].text != NULL && alone.text != NULL && strcmp(two[i].text, alone.text) == 0);
      free(two[i].text);
    }
    free(alone.text);
  }
}
