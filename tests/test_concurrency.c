/*
 * The packer's thread-safety contract (docs/packer.md): stv_pack and
 * stv_optimize run on several threads at once, on different snapshots and
 * on the same one, and give byte for byte the plans they give one after
 * the other; the allocation-failure hook and GLPK's state are per thread;
 * GLPK's internal errors come back as STV_ESOLVER instead of aborting.
 * Built and run under ThreadSanitizer too (build-tsan, scripts/dev test).
 */
#include <glpk.h>
#include <pthread.h>

#include "builders.h"
#include "harness.h"
#include "pack_internal.h"

#define NFX      4 /* different fixtures */
#define NTHREADS 6 /* threads at once: some fixtures are solved twice */

/* A deterministic generator, so that fixtures are the same on every run. */
static uint64_t rng_next(uint64_t *x) {
  *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
  return *x >> 33;
}

/*
 * A fixture with several templates over three zones, a few pod classes,
 * one that repels itself per host and one spot template (so that the
 * optimizer, the spot repair and the bound LP all run).
 */
static int build(struct stv_test_fx *fx, uint64_t seed) {
  static const char *zones[] = {"z1", "z2", "z3"};
  int i, rc;
  char name[32];
  if ((rc = stv_test_fx_init(fx)) != 0) return rc;
  for (i = 0; i < 7; i++) {
    int64_t cpu = 1000 * (1 + (int64_t)(rng_next(&seed) % 8)),
            mem = 2048 * (1 + (int64_t)(rng_next(&seed) % 8));
    snprintf(name, sizeof(name), "t%d", i);
    rc = stv_test_fx_template(
        fx, &(struct stv_test_tmpl_opts){.instance_type = name,
                                         .zone = zones[i % 3],
                                         .price = 0.01 * (double)(cpu / 1000) + 0.004 * (double)(mem / 1024) +
                                                  0.001 * (double)(rng_next(&seed) % 10),
                                         .cpu_m = cpu,
                                         .mem_mi = mem,
                                         .capacity_type = i == 6 ? "spot" : NULL});
    if (rc < 0) return rc;
  }
  for (i = 0; i < 6; i++) {
    char app[16];
    snprintf(name, sizeof(name), "c%d", i);
    snprintf(app, sizeof(app), "app%d", i);
    rc = stv_test_pod(&fx->s,
                      &(struct stv_test_pod_opts){.name = name,
                                                  .cpu_m = 100 + 100 * (int64_t)(rng_next(&seed) % 15),
                                                  .mem_mi = 128 + 128 * (int64_t)(rng_next(&seed) % 24),
                                                  .labels = {{"app", app}},
                                                  .anti_host = i == 0,
                                                  .count = 3 + (uint32_t)(rng_next(&seed) % 25)});
    if (rc < 0) return rc;
  }
  return stv_snapshot_finish(&fx->s, &fx->err);
}

/* Everything a plan says, as text: two plans are the same when these are. */
static int render(const struct stv_plan *plan, struct stv_buf *b) {
  size_t i;
  uint32_t q;
  const struct stv_plan_stats *st = &plan->stats;
  stv_buf_printf(b, "nodes %zu new %zu placed %zu pending %zu cost %.17g bound %d %.17g kind %d\n",
                 plan->nnodes, plan->nnew, plan->nplaced, plan->npending, plan->new_cost,
                 plan->has_lower_bound, plan->lower_bound, plan->lower_bound_kind);
  stv_buf_printf(b, "optimized %d converged %d heuristic %.17g columns %ld spot broken %d\n", plan->optimized,
                 plan->lp_converged, plan->heuristic_cost, plan->columns, plan->spot_limits_broken);
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *n = &plan->nodes[i];
    stv_buf_printf(b, "node %s existing %d tmpl %d pods", n->name, n->existing, n->tmpl);
    for (q = 0; q < n->npods; q++) stv_buf_printf(b, " %u", n->pods[q]);
    stv_buf_puts(b, " daemons");
    for (q = 0; q < n->ndaemons; q++) stv_buf_printf(b, " %u", n->daemons[q]);
    stv_buf_puts(b, "\n");
  }
  for (i = 0; i < plan->nunsched; i++)
    stv_buf_printf(b, "unsched %u %s\n", plan->unsched[i].pod, plan->unsched[i].reason);
  stv_buf_printf(b, "stats %zu %zu %zu %ld %ld / %zu %zu %zu %ld %ld\n", st->heuristic.groups,
                 st->heuristic.templates, st->heuristic.undominated, st->heuristic.rounds,
                 st->heuristic.evaluations, st->optimized.groups, st->optimized.templates,
                 st->optimized.undominated, st->optimized.rounds, st->optimized.evaluations);
  stv_buf_printf(b, "cg %d %zu %zu %zu %.17g %d %.17g %d %.17g\n", st->cg.reported, st->cg.items,
                 st->cg.shapes, st->cg.columns, st->cg.lp, st->cg.converged, st->cg.heuristic, st->cg.found,
                 st->cg.best);
  stv_buf_printf(b, "compared %d %.17g %.17g %zu %zu %d %d\n", st->compared, st->heuristic_cost,
                 st->optimized_cost, st->heuristic_placed, st->optimized_placed, st->heuristic_spot_ok,
                 st->optimized_spot_ok);
  return b->err;
}

/* Counts trace lines, per solve (the context is the solve's own). */
static void count_line(void *ctx, const char *line) {
  size_t *n = ctx;
  if (line[0] != '\0') (*n)++;
}

/* One solve: the inputs (shared, read-only) and what came out. */
struct job {
  const struct stv_test_fx *fx;
  int optimize;
  int rc;
  char *text; /* render of the plan, malloc'd */
  size_t traced;
};

static void job_run(struct job *j) {
  struct stv_problem p = stv_test_fx_problem(j->fx);
  struct stv_plan plan;
  struct stv_err err = {0, ""};
  struct stv_buf b;
  stv_spot_policy_default(&p.spot);
  p.spot.max_pool_fraction = 0.5;
  p.time_limit = j->optimize ? 5 : 0; /* no clock: the work limits decide */
  p.trace = count_line;
  p.trace_ctx = &j->traced;
  j->traced = 0;
  j->text = NULL;
  j->rc = j->optimize ? stv_optimize(&p, &plan, &err) : stv_pack(&p, &plan, &err);
  if (j->rc != 0) return;
  stv_buf_init(&b);
  if (render(&plan, &b) == 0 && b.data != NULL) j->text = strdup(b.data);
  stv_buf_close(&b);
  stv_plan_close(&plan);
}

static void *job_thread(void *arg) {
  job_run(arg);
  stv_packer_thread_done(); /* the contract: each solving thread frees GLPK's state */
  return NULL;
}

/*
 * Solves every fixture one after the other, then all at once on NTHREADS
 * threads (fixture t % NFX on thread t, so that two threads share a
 * snapshot), and compares. Returns the number of differences, -1 when a
 * solve or a thread failed.
 */
static int compare_runs(int optimize) {
  struct stv_test_fx *fx = calloc(NFX, sizeof(*fx));
  struct job seq[NFX], par[NTHREADS];
  pthread_t th[NTHREADS];
  int i, bad = 0, started = 0;
  if (fx == NULL) return -1;
  memset(seq, 0, sizeof(seq));
  memset(par, 0, sizeof(par));
  for (i = 0; i < NFX; i++)
    if (build(&fx[i], 101 + 17 * (uint64_t)i) != 0) bad = -1;
  for (i = 0; i < NFX && bad == 0; i++) {
    seq[i] = (struct job){.fx = &fx[i], .optimize = optimize};
    job_run(&seq[i]);
    if (seq[i].rc != 0 || seq[i].text == NULL) bad = -1;
  }
  for (i = 0; i < NTHREADS && bad == 0; i++) {
    par[i] = (struct job){.fx = &fx[i % NFX], .optimize = optimize};
    if (pthread_create(&th[i], NULL, job_thread, &par[i]) != 0) {
      bad = -1;
      break;
    }
    started++;
  }
  for (i = 0; i < started; i++) pthread_join(th[i], NULL);
  for (i = 0; i < started && bad >= 0; i++) {
    const struct job *s = &seq[i % NFX];
    if (par[i].rc != 0 || par[i].text == NULL) {
      fprintf(stderr, "  thread %d: rc %d\n", i, par[i].rc);
      bad = -1;
    } else if (strcmp(par[i].text, s->text) != 0 || par[i].traced != s->traced) {
      fprintf(stderr, "  thread %d (fixture %d): plans differ\n--- alone:\n%s--- concurrent:\n%s", i, i % NFX,
              s->text, par[i].text);
      bad++;
    }
  }
  if (getenv("STV_TEST_VERBOSE"))
    for (i = 0; i < NFX && bad == 0; i++) fprintf(stderr, "%s", seq[i].text);
  /* The fixtures must be worth comparing: the optimizer did its work. */
  for (i = 0; i < NFX && bad == 0 && optimize; i++)
    if (strstr(seq[i].text, "optimized 1") == NULL || seq[i].traced == 0) {
      fprintf(stderr, "  fixture %d: the optimizer did not run or traced nothing\n%s", i, seq[i].text);
      bad = -1;
    }
  for (i = 0; i < started; i++) free(par[i].text);
  for (i = 0; i < NFX; i++) {
    free(seq[i].text);
    stv_test_fx_close(&fx[i]);
  }
  free(fx);
  return bad;
}

TEST(should_give_the_same_optimized_plans_on_concurrent_threads_as_one_after_the_other) {
  CHECK_EQ_INT(compare_runs(1), 0);
}

TEST(should_give_the_same_heuristic_plans_on_concurrent_threads_as_one_after_the_other) {
  CHECK_EQ_INT(compare_runs(0), 0);
}

/* Sets a failure on its own thread, then allocates twice. */
static void *fail_own_thread(void *arg) {
  int *got = arg;
  void *a, *b;
  stv_alloc_fail_after(1);
  a = stv_malloc(8);
  b = stv_malloc(8);
  got[0] = a != NULL;
  got[1] = b == NULL;
  stv_alloc_fail_after(-1);
  stv_free(a);
  stv_free(b);
  return NULL;
}

/* Allocates with no failure planned on this thread. */
static void *alloc_thread(void *arg) {
  int *got = arg;
  void *a = stv_malloc(8);
  *got = a != NULL;
  stv_free(a);
  return NULL;
}

TEST(should_keep_the_allocation_failure_countdown_per_thread) {
  pthread_t t;
  int got[2] = {0, 0}, other = 0;
  void *p;
  /* A failure planned here is not consumed by another thread... */
  stv_alloc_fail_after(0);
  CHECK(pthread_create(&t, NULL, alloc_thread, &other) == 0);
  pthread_join(t, NULL);
  CHECK(other == 1);
  p = stv_malloc(8);
  stv_alloc_fail_after(-1);
  CHECK(p == NULL);
  /* ...and one planned there does not fail here. */
  CHECK(pthread_create(&t, NULL, fail_own_thread, got) == 0);
  pthread_join(t, NULL);
  CHECK(got[0] == 1 && got[1] == 1);
  p = stv_malloc(8);
  CHECK(p != NULL);
  stv_free(p);
}

/* Calls GLPK wrongly: a column that does not exist. GLPK aborts on this. */
static int bad_glpk_call(void *arg) {
  glp_prob *lp = glp_create_prob();
  (void)arg;
  glp_add_cols(lp, 1);
  glp_set_obj_coef(lp, 5, 1.0);
  return 0;
}

static void *glpk_error_thread(void *arg) {
  struct stv_err *err = arg;
  err->code = stv__glpk_run(bad_glpk_call, NULL, err);
  stv_packer_thread_done();
  return NULL;
}

TEST(should_return_a_glpk_internal_error_instead_of_aborting) {
  struct stv_err err = {0, ""};
  struct stv_test_fx fx;
  struct job j;
  int rc = stv__glpk_run(bad_glpk_call, NULL, &err);
  CHECK_EQ_INT(rc, STV_ESOLVER);
  CHECK_EQ_INT(err.code, STV_ESOLVER);
  CHECK_STR_CONTAINS(err.msg, "GLPK failed: glp_set_obj_coef: j = 5; column number out of range");
  /* GLPK works again on this thread afterwards. */
  CHECK(build(&fx, 7) == 0);
  j = (struct job){.fx = &fx, .optimize = 1};
  job_run(&j);
  stv_test_fx_close(&fx);
  CHECK_EQ_INT(j.rc, 0);
  CHECK(j.text != NULL && strstr(j.text, "optimized 1") != NULL);
  free(j.text);
}

TEST(should_catch_glpk_errors_on_two_threads_at_once) {
  struct stv_err err[2] = {{0, ""}, {0, ""}};
  pthread_t t[2];
  int i;
  for (i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, glpk_error_thread, &err[i]) == 0);
  for (i = 0; i < 2; i++) pthread_join(t[i], NULL);
  for (i = 0; i < 2; i++) {
    CHECK_EQ_INT(err[i].code, STV_ESOLVER);
    CHECK_STR_CONTAINS(err[i].msg, "column number out of range");
  }
}

TEST(should_restore_glpk_terminal_output_after_a_solve) {
  struct stv_test_fx fx;
  struct job j;
  int before;
  glp_term_out(GLP_ON);
  CHECK(build(&fx, 9) == 0);
  j = (struct job){.fx = &fx, .optimize = 1};
  job_run(&j);
  stv_test_fx_close(&fx);
  free(j.text);
  CHECK_EQ_INT(j.rc, 0);
  /* glp_term_out returns the previous setting. */
  before = glp_term_out(GLP_ON);
  CHECK_EQ_INT(before, GLP_ON);
}
