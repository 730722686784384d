/* stv-loop-bench's two modes share their options (bench/loop_bench.c). */
#ifndef STV_LOOP_BENCH_H
#define STV_LOOP_BENCH_H

#include "loop.h"

struct bench_opts {
  long pending, runs;
  int keep_pending; /* --keep-pending: the file's pending pods stay pending (solved too) */
  int cold;         /* --cold: no warm-up decision before the measured one (--cache only) */
  enum stv_policy policy;
  const char *policy_name;
  double budget;
  const char *const *types;
  size_t ntypes;
};

/* The decision path through the watch-driven cache filled from path (bench/loop_bench_cache.c). */
int loop_bench_cache(const char *path, const struct bench_opts *bo, const struct stv_catalog *cat);

#endif
