/*
 * stv-loop-bench --cache FILE: the daemon's real decision path. A
 * watch-driven cluster cache (controller/kube/cache.c) is filled with the
 * objects of FILE as ADDED events; the provisioning reconciler runs on the
 * libuv wall clock with the libuv solve runner (the solve on the thread
 * pool) and the sim provider, its cluster view being the cache's. Each run
 * adds --pending fresh pods that kube-scheduler marked unschedulable (as
 * watch events), lets the batch window close and times batch end ->
 * last set_desired (the reconciler's own figure, which includes the view's
 * copy, the templates, the solve and the scale requests). A 1 ms timer
 * measures the longest stall of the loop meanwhile. See "The decision path
 * through the cache" in bench/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <uv.h>

#include "cache.h"
#include "clock_uv.h"
#include "jsonstream.h"
#include "loop.h"
#include "loop_bench.h"
#include "sim.h"

struct cbench {
  struct stv_cache *c;
  struct stv_provision *p; /* the current run's; NULL between runs */
  uv_loop_t loop;
  uv_timer_t tick;
  uint64_t last_tick_ns, max_stall_ns;
  int measuring;
  int bind;     /* bind the file's pending pods (--keep-pending: leave them pending) */
  char **nodes; /* the file's node names, for binding its pending pods */
  size_t nnodes, cap_nodes, bound;
};

/* Binds the pending pod item (the stream's, changed in place) to one of the nodes read so far. */
static void bind_pod(struct cbench *b, cJSON *item) {
  cJSON *spec = cJSON_GetObjectItemCaseSensitive(item, "spec");
  cJSON *st = cJSON_GetObjectItemCaseSensitive(item, "status");
  if (b->nnodes == 0 || spec == NULL || cJSON_GetObjectItemCaseSensitive(spec, "nodeName") != NULL) return;
  cJSON_AddStringToObject(spec, "nodeName", b->nodes[b->bound++ % b->nnodes]);
  if (st != NULL)
    cJSON_DeleteItemFromObjectCaseSensitive(st, "phase");
  else
    st = cJSON_AddObjectToObject(item, "status");
  cJSON_AddStringToObject(st, "phase", "Running");
}

static int fill(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct cbench *b = ctx;
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(item, "kind");
  const char *kind = cJSON_IsString(k) ? k->valuestring : "";
  enum stv_cache_kind kk;
  (void)index;
  if (stv_cache_kind_of(kind, &kk) != 0) return 0; /* kinds the cache does not watch */
  if (kk == STV_CACHE_NODES && b->nnodes < 1000000) {
    const cJSON *name =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "metadata"), "name");
    if (b->nnodes == b->cap_nodes) {
      b->cap_nodes = b->cap_nodes ? 2 * b->cap_nodes : 1024;
      if ((b->nodes = realloc(b->nodes, b->cap_nodes * sizeof(*b->nodes))) == NULL) return STV_ENOMEM;
    }
    if (cJSON_IsString(name) && (b->nodes[b->nnodes] = strdup(name->valuestring)) != NULL) b->nnodes++;
  }
  if (kk == STV_CACHE_PODS && b->bind) bind_pod(b, (cJSON *)item);
  return stv_cache_apply(b->c, kk, STV_WATCH_ADDED, item, err);
}

static void on_unsched(void *ctx, const char *ns, const char *name) {
  struct cbench *b = ctx;
  if (b->p != NULL) stv_provision_pod_unschedulable(b->p, ns, name);
}
static void on_gone(void *ctx, const char *ns, const char *name) {
  struct cbench *b = ctx;
  if (b->p != NULL) stv_provision_pod_gone(b->p, ns, name);
}

static void tick_cb(uv_timer_t *t) {
  struct cbench *b = t->data;
  uint64_t now = uv_hrtime();
  if (b->measuring && b->last_tick_ns != 0 && now - b->last_tick_ns > b->max_stall_ns)
    b->max_stall_ns = now - b->last_tick_ns;
  b->last_tick_ns = now;
}

/* A pending pod of cpu millicores that kube-scheduler reported unschedulable, as a watch event's object. */
static cJSON *pending_pod(const char *prefix, long run, long i, long cpu) {
  char buf[96];
  cJSON *o = cJSON_CreateObject(), *md, *spec, *c, *req, *st, *cd;
  cJSON_AddStringToObject(o, "kind", "Pod");
  md = cJSON_AddObjectToObject(o, "metadata");
  snprintf(buf, sizeof(buf), "%s-%ld-%ld", prefix, run, i);
  cJSON_AddStringToObject(md, "name", buf);
  cJSON_AddStringToObject(md, "uid", buf);
  cJSON_AddStringToObject(md, "namespace", "burst");
  cJSON_AddStringToObject(md, "resourceVersion", "1");
  cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "labels"), "app", "burst");
  spec = cJSON_AddObjectToObject(o, "spec");
  c = cJSON_CreateObject();
  cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "containers"), c);
  cJSON_AddStringToObject(c, "name", "main");
  req = cJSON_AddObjectToObject(cJSON_AddObjectToObject(c, "resources"), "requests");
  snprintf(buf, sizeof(buf), "%ldm", cpu);
  cJSON_AddStringToObject(req, "cpu", buf);
  cJSON_AddStringToObject(req, "memory", "3Gi");
  st = cJSON_AddObjectToObject(o, "status");
  cJSON_AddStringToObject(st, "phase", "Pending");
  cd = cJSON_CreateObject();
  cJSON_AddItemToArray(cJSON_AddArrayToObject(st, "conditions"), cd);
  cJSON_AddStringToObject(cd, "type", "PodScheduled");
  cJSON_AddStringToObject(cd, "status", "False");
  cJSON_AddStringToObject(cd, "reason", "Unschedulable");
  return o;
}

/* Adds (or deletes) n pending pods of cpu millicores through the cache, as the watch would. */
static int burst(struct cbench *b, const char *prefix, long run, long n, long cpu,
                 enum stv_watch_event type) {
  struct stv_err err = {0};
  long i;
  for (i = 0; i < n; i++) {
    cJSON *o = pending_pod(prefix, run, i, cpu);
    int rc = stv_cache_apply(b->c, STV_CACHE_PODS, type, o, &err);
    cJSON_Delete(o);
    if (rc != 0) {
      fprintf(stderr, "stv-loop-bench: %s\n", err.msg);
      return rc;
    }
  }
  return 0;
}

/* The process's CPU time (every thread: the loop's and the pool's), seconds. */
static double process_cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* One run: a fresh reconciler and provider, a burst of pending pods, the solve; *decision and *stall in s. */
static int one_run(struct cbench *b, const struct bench_opts *bo, const struct stv_catalog *cat, long run,
                   double *first, double *decision, double *stall, double *cpu, size_t *requested) {
  struct stv_uvclock uc;
  struct stv_sim_opts so;
  struct stv_provision_opts o;
  struct stv_solve_runner runner;
  struct stv_cluster_view cv;
  struct stv_cloud *cloud = NULL;
  struct stv_provision_stats st;
  struct stv_err err = {0};
  size_t solves;
  int rc = 1;
  stv_uvclock_init(&uc, &b->loop);
  stv_sim_opts_default(&so);
  so.catalog = cat;
  so.capacity_types = (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND);
  so.max_per_group = 1000000;
  stv_provision_opts_default(&o);
  o.policy = bo->policy;
  o.decision_budget = bo->budget;
  o.batch_idle = 0.05;
  o.capacity_types = so.capacity_types;
  o.instance_types = bo->types;
  o.ninstance_types = bo->ntypes;
  stv_solve_runner_uv_init(&runner, &b->loop);
  stv_cache_view(b->c, &cv);
  if (stv_sim_new(&cloud, &uc.clock, &so, &err) != 0 ||
      stv_provision_new(&b->p, &o, &uc.clock, cloud, cat, &cv, &runner, &err) != 0 ||
      stv_provision_start(b->p) != 0) {
    fprintf(stderr, "stv-loop-bench: %s\n", err.msg[0] ? err.msg : "cannot start");
    goto out;
  }
  uv_run(&b->loop, UV_RUN_NOWAIT); /* the start's listing */
  memset(&st, 0, sizeof(st));
  if (!bo->cold) {
    /*
     * A first decision, untimed: one pod that no instance type can hold
     * (1,000 cpus), so that nothing is requested and the measured decision
     * is a running reconciler's (its node templates built), not its first.
     */
    if (burst(b, "warm", run, 1, 1000000, STV_WATCH_ADDED) != 0) goto out;
    while (st.solves == 0 || stv_provision_busy(b->p)) {
      uv_run(&b->loop, UV_RUN_ONCE);
      stv_provision_get_stats(b->p, &st);
    }
    *first = st.last_decision_s;
    if (burst(b, "warm", run, 1, 1000000, STV_WATCH_DELETED) != 0) goto out;
  }
  solves = st.solves;
  if (burst(b, "burst", run, bo->pending, 1500, STV_WATCH_ADDED) != 0) goto out;
  b->max_stall_ns = 0;
  b->last_tick_ns = 0;
  b->measuring = 1;
  *cpu = process_cpu();
  while (st.solves == solves || stv_provision_busy(b->p)) {
    uv_run(&b->loop, UV_RUN_ONCE);
    stv_provision_get_stats(b->p, &st);
  }
  b->measuring = 0;
  *cpu = process_cpu() - *cpu;
  if (st.inflight == 0) {
    fprintf(stderr, "stv-loop-bench: run %ld requested no node; expected a scale-up\n", run + 1);
    goto out;
  }
  *decision = st.last_decision_s;
  *stall = (double)b->max_stall_ns * 1e-9;
  *requested = st.inflight;
  if (!bo->cold && st.template_builds != 1) {
    fprintf(stderr, "stv-loop-bench: run %ld built the node templates %zu times; expected once\n", run + 1,
            st.template_builds);
    goto out;
  }
  rc = burst(b, "burst", run, bo->pending, 1500, STV_WATCH_DELETED);
out:
  stv_provision_free(b->p);
  b->p = NULL;
  if (cloud != NULL) cloud->ops->close(cloud);
  stv_uvclock_close(&uc);
  uv_run(&b->loop, UV_RUN_NOWAIT);
  return rc;
}

int loop_bench_cache(const char *path, const struct bench_opts *bo, const struct stv_catalog *cat) {
  struct cbench b;
  struct stv_cache_hooks h;
  struct stv_err err = {0};
  double *dec, *stall, sum = 0, t0, cpu, cpu_sum = 0, first = 0;
  size_t requested = 0;
  long r;
  int k, rc = 1;
  struct timespec ts;
  memset(&b, 0, sizeof(b));
  b.bind = !bo->keep_pending;
  memset(&h, 0, sizeof(h));
  h.pod_unschedulable = on_unsched;
  h.pod_gone = on_gone;
  h.ctx = &b;
  dec = calloc((size_t)bo->runs, sizeof(*dec));
  stall = calloc((size_t)bo->runs, sizeof(*stall));
  if (dec == NULL || stall == NULL || stv_cache_new(&b.c, &h) != 0 || uv_loop_init(&b.loop) != 0) return 1;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t0 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  if (stv_json_stream_file(path, fill, &b, &err) != 0) {
    fprintf(stderr, "stv-loop-bench: %s: %s\n", path, err.msg);
    goto out;
  }
  for (k = 0; k < STV_CACHE_NKINDS; k++) stv_cache_list_done(b.c, (enum stv_cache_kind)k);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  printf(
      "cache: %zu nodes, %zu pods (%zu pending ones of the file bound to its nodes), %zu classes, filled in "
      "%.2f s\n",
      stv_cache_store(b.c)->nnodes, stv_cache_store(b.c)->npods, b.bound, stv_cache_store(b.c)->nclasses,
      (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - t0);
  uv_timer_init(&b.loop, &b.tick);
  b.tick.data = &b;
  uv_timer_start(&b.tick, tick_cb, 1, 1);
  for (r = 0; r < bo->runs; r++) {
    if (one_run(&b, bo, cat, r, &first, &dec[r], &stall[r], &cpu, &requested) != 0) goto out;
    cpu_sum += cpu;
    printf(
        "run %ld: decision %.1f ms wall (batch end to scale requests), longest loop stall %.1f ms; %zu nodes "
        "requested",
        r + 1, dec[r] * 1e3, stall[r] * 1e3, requested);
    if (bo->cold)
      printf(" (the reconciler's first decision)\n");
    else
      printf(" (its first decision, untimed above: %.1f ms)\n", first * 1e3);
    sum += dec[r];
  }
  qsort(dec, (size_t)bo->runs, sizeof(*dec), cmp_double);
  qsort(stall, (size_t)bo->runs, sizeof(*stall), cmp_double);
  printf("cache path, %s: %zu pods in the cache + %ld pending: decision mean %.1f ms, p99 %.1f ms, worst "
         "%.1f ms; longest loop stall %.1f ms; mean cpu %.1f ms; over %ld runs\n",
         bo->policy_name, stv_cache_store(b.c)->npods, bo->pending, sum / (double)bo->runs * 1e3,
         dec[((size_t)bo->runs * 99) / 100] * 1e3, dec[bo->runs - 1] * 1e3, stall[bo->runs - 1] * 1e3,
         cpu_sum / (double)bo->runs * 1e3, bo->runs);
  rc = 0;
out:
  uv_timer_stop(&b.tick);
  uv_close((uv_handle_t *)&b.tick, NULL);
  uv_run(&b.loop, UV_RUN_DEFAULT);
  uv_loop_close(&b.loop);
  stv_cache_free(b.c);
  while (b.nnodes > 0) free(b.nodes[--b.nnodes]);
  free(b.nodes);
  free(dec);
  free(stall);
  return rc;
}
