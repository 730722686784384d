/*
 * stv-loop-bench: the provisioning reconciler's decision latency, from the
 * end of a batch window to the scale requests, on a large cluster: the
 * reconciler (controller/loop/) on the virtual clock and the sim provider
 * with the embedded AWS us-east-1 catalogue, and a cluster view that builds
 * the snapshot of N nodes and P pods at every solve, as the watch-driven
 * cache will. See "Provisioning decision latency" in bench/README.md.
 *
 *   stv-loop-bench [--nodes 1000] [--pods 30000] [--pending 1000] [--runs 5]
 *                  [--policy stevedore|karpenter-like|cluster-autoscaler-like]
 *                  [--budget SECONDS] [--types m5.2xlarge,c5.2xlarge,...]
 *   stv-loop-bench --cache FILE [--keep-pending] [--cold] [--pending 1000] [--runs 5] [--policy ...]
 *                  [--budget ...]
 *     the same through the watch-driven cache, on the libuv loop
 *     (bench/loop_bench_cache.c); --cold times each reconciler's first
 *     decision (which builds the node templates) instead of a later one
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop.h"
#include "loop_bench.h"
#include "sim.h"

struct bench {
  long nodes, pods, pending;
  char names[64][40];
};

/* Nodes: m5.2xlarge on demand in three zones; pods: 30 Deployments bound round robin, and `pending` larger pods. */
static int view(void *ctx, struct stv_snapshot *s, const char ***ids, struct stv_err *err) {
  struct bench *b = ctx;
  static const char *const zones[] = {"us-east-1a", "us-east-1b", "us-east-1c"};
  char name[64];
  uint32_t cls[31];
  long i;
  int rc;
  *ids = stv_arena_alloc(&s->mem, (size_t)(b->nodes + 1) * sizeof(**ids));
  if (*ids == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (i = 0; i < b->nodes; i++) {
    struct stv_label kv[4];
    struct stv_node n;
    memset(&n, 0, sizeof(n));
    snprintf(name, sizeof(name), "node-%ld", i);
    n.name = stv_strpool_get(&s->pool, name);
    kv[0].key = stv_strpool_get(&s->pool, "karpenter.sh/capacity-type");
    kv[0].value = stv_strpool_get(&s->pool, "on-demand");
    kv[1].key = stv_strpool_get(&s->pool, "kubernetes.io/hostname");
    kv[1].value = n.name;
    kv[2].key = stv_strpool_get(&s->pool, "node.kubernetes.io/instance-type");
    kv[2].value = stv_strpool_get(&s->pool, "m5.2xlarge");
    kv[3].key = stv_strpool_get(&s->pool, "topology.kubernetes.io/zone");
    kv[3].value = stv_strpool_get(&s->pool, zones[i % 3]);
    n.labels.n = 4;
    n.labels.kv = kv;
    n.alloc[STV_RES_CPU] = 7910;
    n.alloc[STV_RES_MEMORY] = INT64_C(30) << 30;
    n.alloc[STV_RES_EPHEMERAL] = INT64_C(100) << 30;
    n.alloc[STV_RES_PODS] = 58;
    n.instance_type = kv[2].value;
    n.zone = kv[3].value;
    n.capacity_type = "on-demand";
    if ((rc = stv_snapshot_add_node(s, &n)) != 0) return stv_err_set(err, rc, "node: %s", stv_strerror(rc));
    snprintf(name, sizeof(name), "bench:///%s/%ld", zones[i % 3], i);
    (*ids)[i] = stv_strpool_get(&s->pool, name);
  }
  for (i = 0; i < 31; i++) {
    struct stv_class c;
    struct stv_label l;
    memset(&c, 0, sizeof(c));
    snprintf(name, sizeof(name), "app-%ld", i);
    l.key = stv_strpool_get(&s->pool, "app");
    l.value = stv_strpool_get(&s->pool, name);
    c.labels.n = 1;
    c.labels.kv = &l;
    c.ns = stv_strpool_get(&s->pool, "default");
    c.example = l.value;
    /* 30 Deployments that fill the nodes, and a 31st of larger pods: the pending ones. */
    c.req[STV_RES_CPU] = i < 30 ? 100 + 10 * i : 1500;
    c.req[STV_RES_MEMORY] = (i < 30 ? INT64_C(256) + 32 * i : INT64_C(3072)) << 20;
    c.req[STV_RES_PODS] = 1;
    if ((rc = stv_snapshot_intern_class(s, &c, &cls[i])) != 0) return stv_err_set(err, rc, "class");
  }
  for (i = 0; i < b->pods; i++) {
    struct stv_pod p;
    long bound = b->pods - b->pending;
    memset(&p, 0, sizeof(p));
    snprintf(name, sizeof(name), "pod-%ld", i);
    p.ns = stv_strpool_get(&s->pool, "default");
    p.name = stv_strpool_get(&s->pool, name);
    p.cls = cls[i < b->pods - b->pending ? i % 30 : 30];
    p.node = -1;
    p.phase = STV_PHASE_PENDING;
    if (i < bound) {
      p.node_name = s->nodes[i % b->nodes].name;
      p.phase = STV_PHASE_RUNNING;
    }
    if ((rc = stv_snapshot_add_pod(s, &p)) != 0) return stv_err_set(err, rc, "pod: %s", stv_strerror(rc));
  }
  return 0;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
  int i;
  for (i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

static int flag(int argc, char **argv, const char *name) {
  int i;
  for (i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  struct bench b;
  struct stv_vclock vc;
  struct stv_catalog cat;
  struct stv_cloud *cloud = NULL;
  struct stv_sim_opts so;
  struct stv_provision_opts o;
  struct stv_provision *p = NULL;
  struct stv_solve_runner runner;
  struct stv_cluster_view cv = {view, &b, NULL};
  struct stv_provision_stats st;
  struct stv_err err = {0};
  const char *types[64], *policy;
  char typebuf[1024];
  size_t ntypes = 0;
  long runs, r;
  memset(&st, 0, sizeof(st));
  double sum = 0, worst = 0, cpu, cpu_sum = 0;
  memset(&b, 0, sizeof(b));
  b.nodes = atol(arg(argc, argv, "--nodes", "1000"));
  b.pods = atol(arg(argc, argv, "--pods", "30000"));
  b.pending = atol(arg(argc, argv, "--pending", "1000"));
  runs = atol(arg(argc, argv, "--runs", "5"));
  policy = arg(argc, argv, "--policy", "stevedore");
  snprintf(typebuf, sizeof(typebuf), "%s",
           arg(argc, argv, "--types",
               "m5.large,m5.xlarge,m5.2xlarge,m5.4xlarge,c5.xlarge,c5.2xlarge,r5.xlarge,r5.2xlarge"));
  for (char *t = strtok(typebuf, ","); t && ntypes < 64; t = strtok(NULL, ",")) types[ntypes++] = t;
  if (b.nodes <= 0 || b.pods <= b.pending || b.pending <= 0 || runs <= 0) {
    fprintf(stderr, "stv-loop-bench: --nodes, --pods > --pending > 0 and --runs must be positive\n");
    return 2;
  }
  if (stv_catalog_load(&cat, "aws:us-east-1", &err) != 0) {
    fprintf(stderr, "stv-loop-bench: %s\n", err.msg);
    return 1;
  }
  if (arg(argc, argv, "--cache", NULL) != NULL) {
    struct bench_opts bo = {
        b.pending, runs,  0, 0, STV_POLICY_STEVEDORE, policy, atof(arg(argc, argv, "--budget", "1")),
        types,     ntypes};
    int rc;
    bo.keep_pending = flag(argc, argv, "--keep-pending");
    bo.cold = flag(argc, argv, "--cold");
    bo.policy = strcmp(policy, "karpenter-like") == 0            ? STV_POLICY_KARPENTER
                : strcmp(policy, "cluster-autoscaler-like") == 0 ? STV_POLICY_CA
                                                                 : STV_POLICY_STEVEDORE;
    rc = loop_bench_cache(arg(argc, argv, "--cache", NULL), &bo, &cat);
    stv_catalog_close(&cat);
    stv_packer_thread_done();
    return rc;
  }
  stv_vclock_init(&vc, 0);
  stv_sim_opts_default(&so);
  so.catalog = &cat;
  so.capacity_types = (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND);
  so.max_per_group = 1000000;
  stv_provision_opts_default(&o);
  o.policy = strcmp(policy, "karpenter-like") == 0            ? STV_POLICY_KARPENTER
             : strcmp(policy, "cluster-autoscaler-like") == 0 ? STV_POLICY_CA
                                                              : STV_POLICY_STEVEDORE;
  o.decision_budget = atof(arg(argc, argv, "--budget", "1"));
  o.capacity_types = so.capacity_types;
  o.instance_types = types;
  o.ninstance_types = ntypes;
  stv_solve_runner_inline_init(&runner, &vc.clock);
  /*
   * Each run is a reconciler started on a fresh provider: its first solve
   * (the pending pods, as at the end of a batch) is timed from the moment
   * it starts (listing the groups) to the last set_desired call.
   */
  for (r = 0; r < runs; r++) {
    if (stv_sim_new(&cloud, &vc.clock, &so, &err) != 0 ||
        stv_provision_new(&p, &o, &vc.clock, cloud, &cat, &cv, &runner, &err) != 0 ||
        stv_provision_start(p) != 0) {
      fprintf(stderr, "stv-loop-bench: %s\n", err.msg[0] ? err.msg : "cannot start");
      return 1;
    }
    cpu = cpu_now();
    stv_vclock_run_until(&vc, stv_clock_now(&vc.clock) + 1);
    cpu = cpu_now() - cpu;
    stv_provision_get_stats(p, &st);
    printf(
        "run %ld: decision %.1f ms wall (batch end to scale requests), %.1f ms of cpu for the whole start; "
        "%zu nodes requested, %zu scale-ups\n",
        r + 1, st.last_decision_s * 1e3, cpu * 1e3, st.inflight, st.scale_ups);
    cpu_sum += cpu;
    if (st.solves != 1 || st.inflight == 0) {
      fprintf(stderr,
              "stv-loop-bench: the run made %zu solves and requested %zu nodes; expected one solve that "
              "scales up\n",
              st.solves, st.inflight);
      return 1;
    }
    sum += st.last_decision_s;
    if (st.last_decision_s > worst) worst = st.last_decision_s;
    stv_provision_free(p);
    cloud->ops->close(cloud);
    p = NULL;
    cloud = NULL;
  }
  printf(
      "%s: %ld nodes, %ld pods (%ld pending), %zu instance types: decision mean %.1f ms wall, worst %.1f ms, "
      "mean cpu %.1f ms, over %ld runs\n",
      policy, b.nodes, b.pods, b.pending, ntypes, sum / runs * 1e3, worst * 1e3, cpu_sum / runs * 1e3, runs);
  stv_vclock_close(&vc);
  stv_catalog_close(&cat);
  stv_packer_thread_done();
  return 0;
}
