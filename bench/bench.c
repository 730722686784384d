/*
 * stv-bench: times the phases of `stevedore recommend` on one snapshot
 * (reading, catalogue and templates, packing) and reports peak memory.
 * Packing is repeated --repeat times on the same model and the fastest and
 * median runs are reported, since these machines are noisy.
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

#include "controller.h"
#include "jsonstream.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  const char *snaps[64];
  struct stv_recommend_args a;
  struct stv_recommend_result r;
  struct stv_err err = {0, ""};
  struct rusage ru;
  double *times;
  int i, repeat = 5, rc;
  size_t nsnaps = 0, k, classes = 0;
  memset(&a, 0, sizeof(a));
  a.catalog = "aws:us-east-1";
  a.allowed = (1u << STV_CT_RESERVED) | (1u << STV_CT_ON_DEMAND);
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--snapshot") == 0 && i + 1 < argc && nsnaps < 64) {
      snaps[nsnaps++] = argv[++i];
    } else if (strcmp(argv[i], "--catalog") == 0 && i + 1 < argc) {
      a.catalog = argv[++i];
    } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = atoi(argv[++i]);
      if (repeat < 1) repeat = 1;
    } else if (strcmp(argv[i], "--search-limit") == 0 && i + 1 < argc) {
      a.search_limit = atol(argv[++i]);
    } else if (strcmp(argv[i], "--capacity-types") == 0 && i + 1 < argc) {
      const char *p = argv[++i];
      a.allowed = 0;
      if (strstr(p, "reserved")) a.allowed |= 1u << STV_CT_RESERVED;
      if (strstr(p, "spot")) a.allowed |= 1u << STV_CT_SPOT;
      if (strstr(p, "on-demand")) a.allowed |= 1u << STV_CT_ON_DEMAND;
    } else {
      fprintf(stderr,
              "usage: stv-bench --snapshot FILE [--catalog SPEC] [--capacity-types LIST] [--repeat N]\n");
      return 2;
    }
  }
  if (nsnaps == 0) {
    fprintf(stderr, "stv-bench: --snapshot is required\n");
    return 2;
  }
  stv_json_init();
  a.snapshots = snaps;
  a.nsnapshots = nsnaps;
  rc = stv_recommend_run(&a, &r, &err);
  if (rc != 0) {
    fprintf(stderr, "stv-bench: %s\n", err.msg);
    stv_recommend_result_close(&r);
    return 2;
  }
  times = calloc((size_t)repeat, sizeof(*times));
  if (times == NULL) return 1;
  times[0] = r.pack_ms;
  for (i = 1; i < repeat; i++) {
    struct stv_plan plan;
    double t0 = now_ms();
    if (stv_pack(&r.problem, &plan, &err) != 0) {
      fprintf(stderr, "stv-bench: %s\n", err.msg);
      return 1;
    }
    times[i] = now_ms() - t0;
    stv_plan_close(&plan);
  }
  qsort(times, (size_t)repeat, sizeof(*times), cmp_double);
  for (k = 0; k < r.snap.nclasses; k++)
    if (r.snap.classes[k]->npending > 0) classes++;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"pods\": %zu, \"pending\": %zu, \"pending_classes\": %zu, \"nodes\": %zu, \"templates\": %zu, "
         "\"read_ms\": %.1f, \"catalog_ms\": %.1f, \"pack_ms_min\": %.2f, \"pack_ms_median\": %.2f, "
         "\"placed\": %zu, \"unschedulable\": %zu, \"new_nodes\": %zu, \"hourly_cost\": %.4f, "
         "\"lower_bound\": %.4f, \"max_rss_mb\": %.1f}\n",
         r.snap.npods, r.plan.npending, classes, r.snap.nnodes, r.templates.n, r.read_ms, r.catalog_ms,
         times[0], times[repeat / 2], r.plan.nplaced, r.plan.nunsched, r.plan.nnew, r.plan.new_cost,
         r.plan.lower_bound, (double)ru.ru_maxrss / 1024.0);
  free(times);
  stv_recommend_result_close(&r);
  return 0;
}
