/*
 * stv-bench: times the phases of `stevedore recommend` on one snapshot
 * (reading, catalogue and templates, packing) and reports peak memory.
 * Packing is repeated --repeat times on the same model and the fastest and
 * median runs are reported, since these machines are noisy; so is the
 * fastest run's CPU time (pack_cpu_ms_min, the repeats after the first;
 * -1 with --repeat 1), which a machine loaded by other work disturbs less
 * than the wall time.
 *
 *   stv-bench --snapshot FILE [--catalog SPEC] [--capacity-types LIST] [--repeat N]
 *             [--search-limit N]
 *
 * Prints one JSON object on standard output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "benchutil.h"

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  struct stv_bench_args b;
  struct stv_recommend_result r;
  struct stv_err err = {0, ""};
  struct rusage ru;
  double *times, cpu_min = -1;
  int i, repeat, rc;
  size_t k, classes = 0;
  stv_bench_args_init(&b, 5);
  for (i = 1; i < argc; i++) {
    if ((rc = stv_bench_take_arg("stv-bench", argc, argv, &i, &b)) < 0) return 2;
    if (rc > 0) continue;
    if (strcmp(argv[i], "--search-limit") == 0 && i + 1 < argc) {
      b.a.search_limit = atol(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: stv-bench --snapshot FILE [--catalog SPEC] [--capacity-types LIST] [--repeat N]\n");
      return 2;
    }
  }
  if ((rc = stv_bench_load("stv-bench", &b, &r)) != 0) return rc;
  repeat = b.repeat;
  times = calloc((size_t)repeat, sizeof(*times));
  if (times == NULL) return 1;
  times[0] = r.pack_ms;
  for (i = 1; i < repeat; i++) {
    struct stv_plan plan;
    double t0 = stv_bench_now_ms(), c0 = cpu_ms();
    if (stv_pack(&r.problem, &plan, &err) != 0) {
      fprintf(stderr, "stv-bench: %s\n", err.msg);
      return 1;
    }
    times[i] = stv_bench_now_ms() - t0;
    if (cpu_min < 0 || cpu_ms() - c0 < cpu_min) cpu_min = cpu_ms() - c0;
    stv_plan_close(&plan);
  }
  qsort(times, (size_t)repeat, sizeof(*times), cmp_double);
  for (k = 0; k < r.snap.nclasses; k++)
    if (r.snap.classes[k]->npending > 0) classes++;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"pods\": %zu, \"pending\": %zu, \"pending_classes\": %zu, \"nodes\": %zu, \"templates\": %zu, "
         "\"read_ms\": %.1f, \"catalog_ms\": %.1f, \"pack_ms_min\": %.2f, \"pack_ms_median\": %.2f, "
         "\"placed\": %zu, \"unschedulable\": %zu, \"new_nodes\": %zu, \"hourly_cost\": %.4f, "
         "\"lower_bound\": %.4f, \"max_rss_mb\": %.1f, \"pack_cpu_ms_min\": %.2f}\n",
         r.snap.npods, r.plan.npending, classes, r.snap.nnodes, r.templates.n, r.read_ms, r.catalog_ms,
         times[0], times[repeat / 2], r.plan.nplaced, r.plan.nunsched, r.plan.nnew, r.plan.new_cost,
         r.plan.lower_bound, (double)ru.ru_maxrss / 1024.0, cpu_min);
  free(times);
  stv_recommend_result_close(&r);
  return 0;
}
