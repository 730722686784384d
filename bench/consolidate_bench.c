/*
 * stv-consolidate-bench: the churn-aware consolidation planner
 * (stv_consolidate) against today's cost-minimising what-if repack
 * (stv_repack_run) on the same snapshot. Both are loaded as `stevedore
 * recommend --mode repack` loads them; the planner is then run --repeat
 * times on the same model (fastest and median reported), the repack once
 * more after the load.
 *
 *   stv-consolidate-bench --snapshot FILE [--catalog SPEC] [--capacity-types LIST]
 *                         [--repeat N] [--max-moves N] [--eviction-price X] [--no-repack]
 *
 * Prints one JSON object on standard output. Under callgrind, count the
 * planner alone with --toggle-collect=stv_consolidate and the repack with
 * --toggle-collect=stv_repack_run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "benchutil.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Today's repack on the same input: wall time of the planning, and what it moves and saves. */
static int time_repack(struct stv_bench_args *b, double *ms, double *monthly, size_t *moved) {
  struct stv_recommend_result r;
  int rc;
  b->a.churn = 0;
  memset(&r, 0, sizeof(r));
  if ((rc = stv_bench_load("stv-consolidate-bench", b, &r)) != 0) return rc;
  *ms = r.pack_ms;
  *monthly = r.repack.monthly_savings;
  *moved = r.repack.pods_moved;
  stv_recommend_result_close(&r);
  return 0;
}

int main(int argc, char **argv) {
  struct stv_bench_args b;
  struct stv_recommend_result r;
  struct stv_err err = {0, ""};
  struct rusage ru;
  double *times, *price, repack_ms = -1, repack_monthly = 0;
  size_t repack_moved = 0, i;
  int k, repeat, rc, no_repack = 0;
  stv_bench_args_init(&b, 5);
  b.a.repack = 1;
  b.a.churn = 1;
  stv_cons_options_default(&b.a.cons);
  for (k = 1; k < argc; k++) {
    if ((rc = stv_bench_take_arg("stv-consolidate-bench", argc, argv, &k, &b)) < 0) return 2;
    if (rc > 0) continue;
    if (strcmp(argv[k], "--max-moves") == 0 && k + 1 < argc) {
      b.a.cons.max_moves = atol(argv[++k]);
    } else if (strcmp(argv[k], "--eviction-price") == 0 && k + 1 < argc) {
      b.a.cons.eviction_price = atof(argv[++k]);
    } else if (strcmp(argv[k], "--no-repack") == 0) {
      no_repack = 1;
    } else {
      fprintf(stderr, "usage: stv-consolidate-bench --snapshot FILE [--catalog SPEC] [--capacity-types LIST] "
                      "[--repeat N] [--max-moves N] [--eviction-price X] [--no-repack]\n");
      return 2;
    }
  }
  if ((rc = stv_bench_load("stv-consolidate-bench", &b, &r)) != 0) return rc;
  repeat = b.repeat;
  times = calloc((size_t)repeat + 1, sizeof(*times));
  price = calloc(r.snap.nnodes + 1, sizeof(*price));
  if (times == NULL || price == NULL) return 1;
  for (i = 0; i < r.snap.nnodes; i++) price[i] = r.repack.rn[i].priced ? r.repack.rn[i].hourly : -1;
  times[0] = r.pack_ms;
  for (k = 1; k < repeat; k++) {
    struct stv_cons_result res;
    double t0 = stv_bench_now_ms();
    if (stv_consolidate(&r.problem, price, &b.a.cons, &res, &err) != 0) {
      fprintf(stderr, "stv-consolidate-bench: %s\n", err.msg);
      return 1;
    }
    times[k] = stv_bench_now_ms() - t0;
    stv_cons_result_close(&res);
  }
  qsort(times, (size_t)repeat, sizeof(*times), cmp_double);
  if (!no_repack && (rc = time_repack(&b, &repack_ms, &repack_monthly, &repack_moved)) != 0) return rc;
  getrusage(RUSAGE_SELF, &ru);
  printf(
      "{\"pods\": %zu, \"nodes\": %zu, \"templates\": %zu, \"read_ms\": %.1f, "
      "\"consolidate_ms_min\": %.2f, \"consolidate_ms_median\": %.2f, \"actions\": %zu, \"evictions\": %u, "
      "\"monthly_saving\": %.2f, \"curve_steps\": %zu, \"curve_evictions\": %u, \"curve_monthly_saving\": "
      "%.2f, "
      "\"candidates\": %zu, \"packer_checks\": %zu, \"dropped\": %zu, "
      "\"repack_ms\": %.2f, \"repack_pods_moved\": %zu, \"repack_monthly_saving\": %.2f, \"max_rss_mb\": "
      "%.1f}\n",
      r.snap.npods, r.snap.nnodes, r.templates.n, r.read_ms, times[0], times[repeat / 2],
      r.repack.cons.nactions, r.repack.cons.evictions, r.repack.cons.saving_hourly * 730,
      r.repack.cons.ncurve,
      r.repack.cons.ncurve ? r.repack.cons.curve[r.repack.cons.ncurve - 1].evictions : 0,
      r.repack.cons.ncurve ? r.repack.cons.curve[r.repack.cons.ncurve - 1].monthly_saving : 0,
      r.repack.cons.candidates, r.repack.cons.verify_rounds, r.repack.cons.dropped, repack_ms, repack_moved,
      repack_monthly, (double)ru.ru_maxrss / 1024.0);
  free(times);
  free(price);
  stv_recommend_result_close(&r);
  return 0;
}
