/*
 * What the benchmark programs stv-bench and stv-peers share: the clock, the
 * flags that choose the problem, and loading it through stv_recommend_run
 * (so that the problem is exactly the one `stevedore recommend` solves).
 */
#ifndef STV_BENCHUTIL_H
#define STV_BENCHUTIL_H

#include "controller.h"

#define STV_BENCH_MAX_SNAPSHOTS 64

/* The problem's flags: --snapshot (repeatable), --catalog, --capacity-types, and --repeat. */
struct stv_bench_args {
  const char *snaps[STV_BENCH_MAX_SNAPSHOTS];
  size_t nsnaps;
  struct stv_recommend_args a; /* catalog and allowed capacity types; snapshots set by stv_bench_load */
  int repeat;
};

/* Milliseconds on the monotonic clock. */
double stv_bench_now_ms(void);

/* Defaults: catalogue aws:us-east-1, reserved and on-demand capacity, repeat as given. */
void stv_bench_args_init(struct stv_bench_args *b, int repeat);

/*
 * Takes argv[*i] (and its value, *i then moves past it) when it is one of
 * the problem's flags. Returns 1 when taken, 0 when argv[*i] is not one of
 * them, or -1 after printing "PROG: FLAG: ..." when its value is missing
 * or wrong.
 */
int stv_bench_take_arg(const char *prog, int argc, char **argv, int *i, struct stv_bench_args *b);

/*
 * Reads the snapshots and catalogue and packs once, into r (caller-allocated;
 * closed here on failure). Returns 0, or the exit status after printing the
 * error: 2 for bad input, 1 for any other failure.
 */
int stv_bench_load(const char *prog, struct stv_bench_args *b, struct stv_recommend_result *r);

#endif
