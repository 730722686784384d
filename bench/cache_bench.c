/*
 * stv-cache-bench: the watch-driven cluster cache (controller/kube/cache.c)
 * on a generated cluster (bench/gen_karpenter.py): the cache's memory
 * (its own heap bytes and the process's peak RSS), the time to apply a
 * pod event (ADDED, MODIFIED, DELETED: mean and p99) and the time of the
 * view's copy (what a reconciler gets when it decides) plus
 * stv_snapshot_finish. See "Watch-driven cluster cache" in bench/README.md.
 *
 *     build/bench/stv-cache-bench FILE [--sample N] [--copies N]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cache.h"
#include "jsonstream.h"
#include "loop.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
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

int main(int argc, char **argv) {
  struct run r;
  struct stv_err err = {0};
  struct stv_cache_stats st;
  struct rusage ru;
  size_t heap0, heap1, i;
  const char *path = NULL;
  int copies = 10, k;
  memset(&r, 0, sizeof(r));
  r.want = 20000;
  for (k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--sample") == 0 && k + 1 < argc)
      r.want = (size_t)atol(argv[++k]);
    else if (strcmp(argv[k], "--copies") == 0 && k + 1 < argc)
      copies = atoi(argv[++k]);
    else if (argv[k][0] != '-' && path == NULL)
      path = argv[k];
    else {
      fprintf(stderr, "usage: stv-cache-bench FILE [--sample N] [--copies N]\n");
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
  for (i = 0; i < r.nsample; i++) cJSON_Delete(r.sample[i]);
  free(r.sample);
  free(r.added.v);
  free(r.other.v);
  stv_cache_free(r.c);
  return 0;
}
