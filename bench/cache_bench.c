/*
 * stv-cache-bench: the watch-driven cluster cache (controller/kube/cache.c)
 * on a generated cluster (bench/gen_karpenter.py): the cache's memory
 * (its own heap bytes and the process's peak RSS), the time to apply a
 * pod event (ADDED, MODIFIED, DELETED: mean and p99) and the time of the
 * view's copy (what a reconciler gets when it decides) plus
 * stv_snapshot_finish. See "Watch-driven cluster cache" in bench/README.md.
 *
 *     build/bench/stv-cache-bench FILE [--sample N] [--copies N] [--churn STEPS [--inline]]
 *
 * --churn: then, on a libuv loop, STEPS short-lived pods (ADDED pending,
 * MODIFIED bound, DELETED: three events each), 10 steps every millisecond,
 * while a 1 ms timer measures how long the loop goes without firing it
 * (the longest stall); compactions run on the thread pool, or inline with
 * --inline (the cache without a loop).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <uv.h>

#include "cache.h"
#include "jsonstream.h"
#include "loop.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The calling thread's CPU time, in seconds: what it did, whatever else the machine ran. */
static double thread_cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Durations of one kind of event, in seconds. */
struct lat {
  double *v;
  size_t n, cap;
};

static void lat_add(struct lat *l, double d) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 1024;
    l->v = realloc(l->v, l->cap * sizeof(*l->v));
    if (l->v == NULL) {
      fprintf(stderr, "stv-cache-bench: out of memory\n");
      exit(1);
    }
  }
  l->v[l->n++] = d;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void lat_print(const char *what, struct lat *l) {
  double sum = 0;
  size_t i;
  if (l->n == 0) return;
  for (i = 0; i < l->n; i++) sum += l->v[i];
  qsort(l->v, l->n, sizeof(*l->v), cmp_double);
  printf("%-14s %8zu events  mean %6.2f us  p99 %6.2f us  max %8.2f us\n", what, l->n,
         sum / (double)l->n * 1e6, l->v[l->n * 99 / 100] * 1e6, l->v[l->n - 1] * 1e6);
}

struct run {
  struct stv_cache *c;
  struct lat added, other;
  cJSON **sample; /* pods kept for MODIFIED and DELETED */
  char **text;    /* as read */
  size_t nsample, want, every;
  long npods;
};

static enum stv_cache_kind kind_of(const cJSON *item) {
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(item, "kind");
  const char *s = cJSON_IsString(k) ? k->valuestring : "";
  if (strcmp(s, "Pod") == 0) return STV_CACHE_PODS;
  if (strcmp(s, "Node") == 0) return STV_CACHE_NODES;
  if (strcmp(s, "Namespace") == 0) return STV_CACHE_NAMESPACES;
  return STV_CACHE_PDBS;
}

/* First pass: every item as ADDED, pods timed. */
static int add_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct run *r = ctx;
  enum stv_cache_kind k = kind_of(item);
  double t0 = now();
  int rc = stv_cache_apply(r->c, k, STV_WATCH_ADDED, item, err);
  (void)index;
  if (k == STV_CACHE_PODS) {
    lat_add(&r->added, now() - t0);
    r->npods++;
  }
  return rc;
}

/* Second pass: keeps every r->every-th pod for the MODIFIED and DELETED runs. */
static int keep_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct run *r = ctx;
  (void)err;
  if (kind_of(item) != STV_CACHE_PODS || r->nsample == r->want || index % (long)r->every != 0) return 0;
  /* Kept as text: inside the callback cJSON allocates from the stream's per-item arena. */
  char *text = cJSON_PrintUnformatted(item);
  if (text == NULL || (r->text[r->nsample] = strdup(text)) == NULL) return STV_ENOMEM;
  r->nsample++;
  return 0;
}

/* Applies type to every kept pod (MODIFIED: a newer resourceVersion and a new annotation). */
static int apply_sample(struct run *r, enum stv_watch_event type, const char *label) {
  struct stv_err err = {0};
  char rv[32];
  size_t i;
  r->other.n = 0;
  for (i = 0; i < r->nsample; i++) {
    cJSON *md = cJSON_GetObjectItemCaseSensitive(r->sample[i], "metadata");
    double t0;
    if (type == STV_WATCH_MODIFIED) {
      cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
      snprintf(rv, sizeof(rv), "%zu", (size_t)900000000 + i);
      cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
      cJSON_AddStringToObject(md, "resourceVersion", rv);
      if (ann == NULL) ann = cJSON_AddObjectToObject(md, "annotations");
      cJSON_DeleteItemFromObjectCaseSensitive(ann, "bench/touched");
      cJSON_AddStringToObject(ann, "bench/touched", rv);
    }
    t0 = now();
    if (stv_cache_apply(r->c, STV_CACHE_PODS, type, r->sample[i], &err) != 0) {
      fprintf(stderr, "stv-cache-bench: %s\n", err.msg);
      return 1;
    }
    lat_add(&r->other, now() - t0);
  }
  lat_print(label, &r->other);
  return 0;
}

/* Times the view's copy (and stv_snapshot_finish on it) copies times. */
static int time_copies(struct stv_cache *c, int copies) {
  double copy_sum = 0, copy_max = 0, fin_sum = 0;
  size_t nodes = 0, pods = 0, classes = 0;
  struct stv_err err = {0};
  int i;
  for (i = 0; i < copies; i++) {
    struct stv_snapshot s;
    const char **ids;
    double t0 = now(), t1, t2;
    stv_snapshot_init(&s);
    if (stv_cache_snapshot(c, &s, &ids, &err) != 0) {
      fprintf(stderr, "stv-cache-bench: %s\n", err.msg);
      stv_snapshot_close(&s);
      return 1;
    }
    t1 = now();
    stv_snapshot_finish(&s, &err);
    t2 = now();
    copy_sum += t1 - t0;
    if (t1 - t0 > copy_max) copy_max = t1 - t0;
    fin_sum += t2 - t1;
    nodes = s.nnodes;
    pods = s.npods;
    classes = s.nclasses;
    stv_snapshot_close(&s);
  }
  printf("view copy      %zu nodes, %zu pods, %zu classes: mean %.2f ms, max %.2f ms; finish %.2f ms\n",
         nodes, pods, classes, copy_sum / copies * 1e3, copy_max * 1e3, fin_sum / copies * 1e3);
  return 0;
}

/* The churn on a loop: events from one timer, stalls seen by another. */
struct churn {
  struct stv_cache *c;
  cJSON *o;
  const char *node;
  long i, n;
  uv_timer_t events, tick;
  uint64_t last_ns;
  struct lat gaps;  /* between two ticks */
  struct lat cpu;   /* the loop thread's CPU time between two ticks */
  double last_cpu;
  double apply_max; /* the longest single event */
  long during;      /* events applied while a compaction ran on the pool */
  int failed;
};

static int churn_apply(struct churn *ch, enum stv_watch_event type) {
  struct stv_err err = {0};
  double t0 = now(), d;
  int running = stv_cache_compacting(ch->c);
  if (stv_cache_apply(ch->c, STV_CACHE_PODS, type, ch->o, &err) != 0) {
    fprintf(stderr, "stv-cache-bench: %s\n", err.msg);
    return -1;
  }
  d = now() - t0;
  if (d > ch->apply_max) ch->apply_max = d;
  ch->during += running;
  return 0;
}

/* One step: pod churn-i added pending, bound to a node, deleted. */
static int churn_step(struct churn *ch) {
  cJSON *md = cJSON_GetObjectItemCaseSensitive(ch->o, "metadata");
  cJSON *spec = cJSON_GetObjectItemCaseSensitive(ch->o, "spec");
  char name[32], rv[32];
  snprintf(name, sizeof(name), "churn-%ld", ch->i);
  snprintf(rv, sizeof(rv), "%ld", 2000000000L + 2 * ch->i);
  cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "name"), name);
  cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "uid"), name);
  cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "resourceVersion"), rv);
  cJSON_DeleteItemFromObjectCaseSensitive(spec, "nodeName");
  if (churn_apply(ch, STV_WATCH_ADDED) != 0) return -1;
  snprintf(rv, sizeof(rv), "%ld", 2000000001L + 2 * ch->i);
  cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "resourceVersion"), rv);
  cJSON_AddStringToObject(spec, "nodeName", ch->node);
  if (churn_apply(ch, STV_WATCH_MODIFIED) != 0) return -1;
  return churn_apply(ch, STV_WATCH_DELETED);
}

static void churn_events(uv_timer_t *t) {
  struct churn *ch = t->data;
  int k;
  for (k = 0; k < 10 && ch->i < ch->n && !ch->failed; k++, ch->i++) ch->failed = churn_step(ch) != 0;
  if (ch->i == ch->n || ch->failed) uv_timer_stop(t);
}

static void churn_tick(uv_timer_t *t) {
  struct churn *ch = t->data;
  uint64_t ns = uv_hrtime();
  double cpu = thread_cpu();
  if (ch->last_ns != 0) {
    lat_add(&ch->gaps, (double)(ns - ch->last_ns) * 1e-9);
    lat_add(&ch->cpu, cpu - ch->last_cpu);
  }
  ch->last_ns = ns;
  ch->last_cpu = cpu;
  if ((ch->i == ch->n || ch->failed) && !stv_cache_compacting(ch->c)) uv_timer_stop(t);
}

static int run_churn(struct stv_cache *c, long steps, int inline_compaction) {
  struct churn ch;
  struct stv_cache_stats st0, st;
  uv_loop_t loop;
  double t0;
  memset(&ch, 0, sizeof(ch));
  ch.c = c;
  ch.n = steps;
  ch.node = stv_cache_store(c)->nnodes > 0 ? stv_cache_store(c)->nodes[0].name : "node-0";
  ch.o =
      cJSON_Parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\",\"namespace\":\"churn\",\"uid\":"
                  "\"x\",\"resourceVersion\":\"1\",\"labels\":{\"app\":\"churn\"}},\"spec\":{\"containers\":"
                  "[{\"name\":\"c\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"}}}]},"
                  "\"status\":{\"phase\":\"Pending\"}}");
  if (ch.o == NULL || uv_loop_init(&loop) != 0) return 1;
  if (!inline_compaction) stv_cache_set_loop(c, &loop);
  stv_cache_get_stats(c, &st0);
  uv_timer_init(&loop, &ch.events);
  uv_timer_init(&loop, &ch.tick);
  ch.events.data = ch.tick.data = &ch;
  uv_timer_start(&ch.events, churn_events, 1, 1);
  uv_timer_start(&ch.tick, churn_tick, 1, 1);
  t0 = now();
  uv_run(&loop, UV_RUN_DEFAULT);
  t0 = now() - t0;
  stv_cache_get_stats(c, &st);
  printf("churn          %ld pod events in %.2f s, compactions %s: %zu; events applied during them %ld\n",
         3 * ch.i, t0, inline_compaction ? "inline" : "on the thread pool", st.compactions - st0.compactions,
         ch.during);
  lat_print("timer gap", &ch.gaps);
  lat_print("loop cpu/gap", &ch.cpu);
  printf("churn          longest single event (compaction start included) %.2f ms\n", ch.apply_max * 1e3);
  uv_close((uv_handle_t *)&ch.events, NULL);
  uv_close((uv_handle_t *)&ch.tick, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  stv_cache_set_loop(c, NULL);
  uv_loop_close(&loop);
  cJSON_Delete(ch.o);
  free(ch.gaps.v);
  free(ch.cpu.v);
  return ch.failed;
}

int main(int argc, char **argv) {
  struct run r;
  struct stv_err err = {0};
  struct stv_cache_stats st;
  struct rusage ru;
  size_t heap0, heap1, i;
  const char *path = NULL;
  long churn = 0;
  int copies = 10, k, inline_compaction = 0;
  memset(&r, 0, sizeof(r));
  r.want = 20000;
  for (k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--sample") == 0 && k + 1 < argc)
      r.want = (size_t)atol(argv[++k]);
    else if (strcmp(argv[k], "--copies") == 0 && k + 1 < argc)
      copies = atoi(argv[++k]);
    else if (strcmp(argv[k], "--churn") == 0 && k + 1 < argc)
      churn = atol(argv[++k]);
    else if (strcmp(argv[k], "--inline") == 0)
      inline_compaction = 1;
    else if (argv[k][0] != '-' && path == NULL)
      path = argv[k];
    else {
      fprintf(stderr, "usage: stv-cache-bench FILE [--sample N] [--copies N] [--churn STEPS [--inline]]\n");
      return 2;
    }
  }
  if (path == NULL || r.want == 0 || copies <= 0) {
    fprintf(stderr, "usage: stv-cache-bench FILE [--sample N] [--copies N]\n");
    return 2;
  }
  if (stv_cache_new(&r.c, NULL) != 0) return 1;
  heap0 = mallinfo2().uordblks;
  if (stv_json_stream_file(path, add_item, &r, &err) != 0) {
    fprintf(stderr, "stv-cache-bench: %s: %s\n", path, err.msg);
    return 1;
  }
  heap1 = mallinfo2().uordblks;
  getrusage(RUSAGE_SELF, &ru);
  for (k = 0; k < STV_CACHE_NKINDS; k++) stv_cache_list_done(r.c, (enum stv_cache_kind)k);
  printf("cache          %zu nodes, %zu pods, %zu classes: %.1f MB of heap; peak RSS %.1f MB\n",
         stv_cache_store(r.c)->nnodes, stv_cache_store(r.c)->npods, stv_cache_store(r.c)->nclasses,
         (double)(heap1 - heap0) / 1048576.0, (double)ru.ru_maxrss / 1024.0);
  lat_print("pod ADDED", &r.added);
  if (time_copies(r.c, copies) != 0) return 1;
  r.every = (size_t)(r.npods / (long)r.want) + 1;
  if ((r.sample = calloc(r.want, sizeof(*r.sample))) == NULL ||
      (r.text = calloc(r.want, sizeof(char *))) == NULL)
    return 1;
  if (stv_json_stream_file(path, keep_item, &r, &err) != 0) {
    fprintf(stderr, "stv-cache-bench: %s: %s\n", path, err.msg);
    return 1;
  }
  for (i = 0; i < r.nsample; i++) {
    if ((r.sample[i] = cJSON_Parse(r.text[i])) == NULL) return 1;
    free(r.text[i]);
  }
  free(r.text);
  if (apply_sample(&r, STV_WATCH_MODIFIED, "pod MODIFIED") != 0 ||
      apply_sample(&r, STV_WATCH_DELETED, "pod DELETED") != 0)
    return 1;
  stv_cache_get_stats(r.c, &st);
  printf("compactions    %zu\n", st.compactions);
  if (churn > 0 && run_churn(r.c, churn, inline_compaction) != 0) return 1;
  for (i = 0; i < r.nsample; i++) cJSON_Delete(r.sample[i]);
  free(r.sample);
  free(r.added.v);
  free(r.other.v);
  stv_cache_free(r.c);
  return 0;
}
