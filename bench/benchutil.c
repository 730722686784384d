/* What the benchmark programs share (see benchutil.h). */
#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "jsonstream.h"

double stv_bench_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void stv_bench_args_init(struct stv_bench_args *b, int repeat) {
  memset(b, 0, sizeof(*b));
  b->a.catalog = "aws:us-east-1";
  b->a.allowed = (1u << STV_CT_RESERVED) | (1u << STV_CT_ON_DEMAND);
  b->repeat = repeat;
}

/* --config FILE: the node pools and nodeCost of a configuration file, alive until the program exits. */
static struct stv_config bench_config;
static int have_bench_config;

static int take_config(const char *prog, const char *path, struct stv_bench_args *b) {
  struct stv_err err = {0, ""};
  if (have_bench_config) stv_config_close(&bench_config);
  stv_config_init(&bench_config);
  have_bench_config = 1;
  if (stv_config_load_file(&bench_config, path, &err) != 0) {
    fprintf(stderr, "%s: --config: %s\n", prog, err.msg);
    return -1;
  }
  b->a.pools = bench_config.pools;
  b->a.npools = bench_config.npools;
  b->a.node_cost = bench_config.node_cost;
  return 1;
}

int stv_bench_take_arg(const char *prog, int argc, char **argv, int *i, struct stv_bench_args *b) {
  const char *o = argv[*i], *v;
  if (strcmp(o, "--snapshot") != 0 && strcmp(o, "--catalog") != 0 && strcmp(o, "--capacity-types") != 0 &&
      strcmp(o, "--repeat") != 0 && strcmp(o, "--config") != 0)
    return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s: %s needs a value\n", prog, o);
    return -1;
  }
  v = argv[++*i];
  if (strcmp(o, "--config") == 0) return take_config(prog, v, b);
  if (strcmp(o, "--snapshot") == 0) {
    if (b->nsnaps == STV_BENCH_MAX_SNAPSHOTS) {
      fprintf(stderr, "%s: --snapshot: at most %d snapshots\n", prog, STV_BENCH_MAX_SNAPSHOTS);
      return -1;
    }
    b->snaps[b->nsnaps++] = v;
  } else if (strcmp(o, "--catalog") == 0) {
    b->a.catalog = v;
  } else if (strcmp(o, "--capacity-types") == 0) {
    if (stv_config_parse_capacity_types(v, &b->a.allowed, NULL) != 0) {
      fprintf(stderr, "%s: --capacity-types: use reserved, spot, on-demand, comma-separated\n", prog);
      return -1;
    }
  } else {
    b->repeat = atoi(v);
    if (b->repeat < 1) b->repeat = 1;
  }
  return 1;
}

int stv_bench_load(const char *prog, struct stv_bench_args *b, struct stv_recommend_result *r) {
  struct stv_err err = {0, ""};
  int rc;
  if (b->nsnaps == 0) {
    fprintf(stderr, "%s: --snapshot is required\n", prog);
    return 2;
  }
  stv_json_init();
  b->a.snapshots = b->snaps;
  b->a.nsnapshots = b->nsnaps;
  if ((rc = stv_recommend_run(&b->a, r, &err)) != 0) {
    fprintf(stderr, "%s: %s\n", prog, err.msg[0] ? err.msg : stv_strerror(rc));
    stv_recommend_result_close(r);
    return rc == STV_ENOMEM ? 1 : 2;
  }
  return 0;
}
