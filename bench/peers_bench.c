/*
 * stv-peers: Stevedore against two peer policies on the same problem.
 *
 *   stv-peers --snapshot FILE [--snapshot FILE ...] [--catalog SPEC]
 *             [--capacity-types LIST] [--repeat N] [--ca-max-nodes N]
 *             [--emit-plans DIR] [--json]
 *
 * Loads the snapshot(s) and catalogue through stv_recommend_run (so the
 * problem is exactly the one `stevedore recommend` solves), then times
 * Stevedore's stv_pack, the Karpenter-like provisioner and the
 * Cluster-Autoscaler-like scale-up loop (packer/peers.h) on that problem,
 * each the best of --repeat runs (default 3), and prints one table: new
 * nodes, hourly cost, cost as a ratio to Stevedore's, milliseconds, pods
 * placed and unschedulable. --json prints the same as one JSON object.
 *
 * --emit-plans DIR writes DIR/stevedore.json, DIR/karpenter.json and
 * DIR/ca.json in the JSON contract of `stevedore recommend --output json`,
 * and DIR/catalog.json, the catalogue as loaded (allocatable included, as
 * the loader computed it), so that tests/checker.py can verify every plan
 * against the same offerings, prices and allocatable resources:
 *
 *   python3 tests/checker.py SNAPSHOT --catalog DIR/catalog.json --plan DIR/karpenter.json
 *
 * Exit status 0, 2 on bad arguments or input, 1 on any other failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "benchutil.h"
#include "peers.h"

enum { POL_STEVEDORE, POL_KARPENTER, POL_CA, POL_N };

static const char *const pol_name[POL_N] = {"stevedore", "karpenter-like", "ca-like"};
static const char *const pol_file[POL_N] = {"stevedore.json", "karpenter.json", "ca.json"};

struct result {
  struct stv_plan plan;
  int have;
  double ms;
  struct stv_peers_stats stats;
};

static void usage(FILE *f) {
  fprintf(f, "usage: stv-peers --snapshot FILE [--snapshot FILE ...] [--catalog SPEC] [--capacity-types LIST]\n"
             "                 [--config FILE (its nodePools and nodeCost)]\n"
             "                 [--repeat N] [--ca-max-nodes N] [--emit-plans DIR] [--json]\n");
}

/* Runs policy pol once into res->plan (closing the previous one). */
static int run_policy(int pol, const struct stv_problem *pb, const struct stv_peers_ca_opts *ca,
                      struct result *res, struct stv_err *err) {
  struct stv_plan plan;
  struct stv_peers_stats st;
  double t0 = stv_bench_now_ms(), dt;
  int rc;
  memset(&st, 0, sizeof(st));
  switch (pol) {
  case POL_STEVEDORE:
    rc = stv_pack(pb, &plan, err);
    break;
  case POL_KARPENTER:
    rc = stv_peers_karpenter(pb, &plan, &st, err);
    break;
  default:
    rc = stv_peers_ca(pb, ca, &plan, &st, err);
    break;
  }
  dt = stv_bench_now_ms() - t0;
  if (rc != 0) {
    stv_plan_close(&plan);
    return rc;
  }
  if (res->have) stv_plan_close(&res->plan);
  res->plan = plan;
  res->have = 1;
  res->stats = st;
  if (res->ms == 0 || dt < res->ms) res->ms = dt;
  return 0;
}

static int write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  int ok;
  if (f == NULL) return -errno;
  ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
  if (fclose(f) != 0) ok = 0;
  return ok ? 0 : STV_EIO;
}

static void quantity_text(const char *name, int64_t v, char *buf, size_t size) {
  if (strcmp(name, "cpu") == 0)
    snprintf(buf, size, "%lldm", (long long)v);
  else
    snprintf(buf, size, "%lld", (long long)v);
}

static cJSON *resources_json(const struct stv_resource *res, uint32_t n) {
  cJSON *o = cJSON_CreateObject();
  uint32_t i;
  char q[64];
  if (o == NULL) return NULL;
  for (i = 0; i < n; i++) {
    quantity_text(res[i].name, res[i].value, q, sizeof(q));
    if (!cJSON_AddStringToObject(o, res[i].name, q)) {
      cJSON_Delete(o);
      return NULL;
    }
  }
  return o;
}

/* The catalogue as loaded, in the format of docs/catalog.md; NULL on ENOMEM. */
static char *catalog_json(const struct stv_catalog *c) {
  cJSON *root = cJSON_CreateObject(), *types;
  char *text = NULL;
  size_t i;
  uint32_t j;
  if (root == NULL) return NULL;
  if (!cJSON_AddStringToObject(root, "provider", c->provider) || !cJSON_AddStringToObject(root, "region", c->region) ||
      !cJSON_AddStringToObject(root, "currency", c->currency ? c->currency : "USD") ||
      !cJSON_AddStringToObject(root, "source", "written by stv-peers from the catalogue it loaded") ||
      (types = cJSON_AddArrayToObject(root, "instance_types")) == NULL)
    goto out;
  for (i = 0; i < c->ntypes; i++) {
    const struct stv_instance_type *t = &c->types[i];
    cJSON *o = cJSON_CreateObject(), *labels, *offs, *x;
    if (o == NULL || !cJSON_AddItemToArray(types, o)) goto out;
    if (!cJSON_AddStringToObject(o, "name", t->name) || !cJSON_AddStringToObject(o, "arch", t->arch)) goto out;
    if ((x = resources_json(t->capacity, t->nres)) == NULL || !cJSON_AddItemToObject(o, "capacity", x)) goto out;
    if ((x = resources_json(t->allocatable, t->nres)) == NULL || !cJSON_AddItemToObject(o, "allocatable", x)) goto out;
    if (t->baseline > 0) {
      cJSON *bu = cJSON_AddObjectToObject(o, "burstable");
      if (bu == NULL || !cJSON_AddNumberToObject(bu, "baseline", t->baseline) ||
          (t->surplus_price >= 0 && !cJSON_AddNumberToObject(bu, "surplus_price", t->surplus_price)))
        goto out;
    }
    if ((labels = cJSON_AddObjectToObject(o, "labels")) == NULL) goto out;
    for (j = 0; j < t->labels.n; j++)
      if (!cJSON_AddStringToObject(labels, t->labels.kv[j].key, t->labels.kv[j].value)) goto out;
    if ((offs = cJSON_AddArrayToObject(o, "offerings")) == NULL) goto out;
    for (j = 0; j < t->noff; j++) {
      const struct stv_offering *f = &t->off[j];
      cJSON *of = cJSON_CreateObject();
      if (of == NULL || !cJSON_AddItemToArray(offs, of)) goto out;
      if (!cJSON_AddStringToObject(of, "capacity_type", stv_capacity_type_name(f->capacity_type)) ||
          !cJSON_AddStringToObject(of, "zone", f->zone) || !cJSON_AddNumberToObject(of, "price", f->price))
        goto out;
      if (f->interruption_rate >= 0 && !cJSON_AddNumberToObject(of, "interruption_rate", f->interruption_rate))
        goto out;
      if (f->capacity_type == STV_CT_RESERVED && f->count >= 0 &&
          !cJSON_AddNumberToObject(of, "count", (double)f->count))
        goto out;
    }
  }
  text = cJSON_PrintUnformatted(root);
out:
  cJSON_Delete(root);
  return text;
}

static int emit(const char *dir, struct stv_recommend_result *r, struct result *res) {
  char path[4096];
  char *text;
  int pol, rc;
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "stv-peers: %s: %s\n", dir, strerror(errno));
    return 1;
  }
  for (pol = 0; pol < POL_N; pol++) {
    struct stv_recommend_result view = *r; /* a shallow view with this policy's plan */
    view.plan = res[pol].plan;
    text = stv_recommend_render_json(&view);
    if (text == NULL) return 1;
    snprintf(path, sizeof(path), "%s/%s", dir, pol_file[pol]);
    rc = write_text(path, text);
    cJSON_free(text);
    if (rc != 0) {
      fprintf(stderr, "stv-peers: %s: %s\n", path, stv_strerror(rc));
      return 1;
    }
  }
  text = catalog_json(&r->catalog);
  if (text == NULL) return 1;
  snprintf(path, sizeof(path), "%s/catalog.json", dir);
  rc = write_text(path, text);
  cJSON_free(text);
  if (rc != 0) {
    fprintf(stderr, "stv-peers: %s: %s\n", path, stv_strerror(rc));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *emit_dir = NULL;
  struct stv_bench_args b;
  struct stv_recommend_result r;
  struct stv_err err = {0, ""};
  struct stv_peers_ca_opts ca;
  struct result res[POL_N];
  size_t k, classes = 0;
  int i, pol, repeat, json = 0, status = 0, rc;
  double base;
  memset(&ca, 0, sizeof(ca));
  memset(res, 0, sizeof(res));
  stv_bench_args_init(&b, 3);
  for (i = 1; i < argc; i++) {
    const char *o = argv[i];
    if ((rc = stv_bench_take_arg("stv-peers", argc, argv, &i, &b)) < 0) return 2;
    if (rc > 0) continue;
    if (strcmp(o, "--json") == 0) {
      json = 1;
      continue;
    }
    if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      usage(stderr);
      return 2;
    }
    if (strcmp(o, "--ca-max-nodes") == 0) {
      ca.max_nodes_per_scaleup = (uint32_t)strtoul(argv[++i], NULL, 10);
    } else if (strcmp(o, "--emit-plans") == 0) {
      emit_dir = argv[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if ((rc = stv_bench_load("stv-peers", &b, &r)) != 0) return rc;
  repeat = b.repeat;
  /* The plan stv_recommend_run made counts as Stevedore's first run. */
  res[POL_STEVEDORE].plan = r.plan;
  res[POL_STEVEDORE].have = 1;
  res[POL_STEVEDORE].ms = r.pack_ms;
  r.have_plan = 0;
  for (pol = 0; pol < POL_N; pol++) {
    int n;
    for (n = pol == POL_STEVEDORE ? 1 : 0; n < repeat; n++) {
      if ((rc = run_policy(pol, &r.problem, &ca, &res[pol], &err)) != 0) {
        fprintf(stderr, "stv-peers: %s: %s\n", pol_name[pol], err.msg);
        status = 1;
        goto out;
      }
    }
  }
  r.plan = res[POL_STEVEDORE].plan;
  for (k = 0; k < r.snap.nclasses; k++)
    if (r.snap.classes[k]->npending > 0 && !r.snap.classes[k]->daemonset) classes++;
  base = res[POL_STEVEDORE].plan.new_cost;
  if (json) {
    printf("{\"pods\": %zu, \"pending\": %zu, \"pending_classes\": %zu, \"nodes\": %zu, \"templates\": %zu, "
           "\"repeat\": %d, \"policies\": [",
           r.snap.npods, res[0].plan.npending, classes, r.snap.nnodes, r.templates.n, repeat);
    for (pol = 0; pol < POL_N; pol++) {
      const struct stv_plan *pl = &res[pol].plan;
      printf("%s{\"policy\": \"%s\", \"new_nodes\": %zu, \"hourly_cost\": %.6f, \"ratio\": %.6f, \"ms\": %.3f, "
             "\"placed\": %zu, \"unschedulable\": %zu, \"withdrawn\": %zu, \"rounds\": %zu, \"evaluations\": %zu, "
             "\"lower_bound\": %.6f}",
             pol ? ", " : "", pol_name[pol], pl->nnew, pl->new_cost, base > 0 ? pl->new_cost / base : 0.0,
             res[pol].ms, pl->nplaced, pl->nunsched, res[pol].stats.withdrawn, res[pol].stats.rounds,
             res[pol].stats.evaluations, pl->has_lower_bound ? pl->lower_bound : 0.0);
    }
    printf("]}\n");
  } else {
    printf("%zu pods, %zu pending in %zu classes, %zu existing nodes, %zu offerings; best of %d runs\n",
           r.snap.npods, res[0].plan.npending, classes, r.snap.nnodes, r.templates.n, repeat);
    printf("%-16s %10s %12s %12s %11s %9s %14s\n", "policy", "new nodes", "$/h", "x stevedore", "ms", "placed",
           "unschedulable");
    for (pol = 0; pol < POL_N; pol++) {
      const struct stv_plan *pl = &res[pol].plan;
      printf("%-16s %10zu %12.4f %12.3f %11.2f %9zu %14zu\n", pol_name[pol], pl->nnew, pl->new_cost,
             base > 0 ? pl->new_cost / base : 0.0, res[pol].ms, pl->nplaced, pl->nunsched);
    }
    if (res[POL_STEVEDORE].plan.has_lower_bound)
      printf("lower bound (Stevedore's LP): %.4f $/h\n", res[POL_STEVEDORE].plan.lower_bound);
    for (pol = POL_KARPENTER; pol < POL_N; pol++)
      if (res[pol].stats.withdrawn)
        printf("%s: %zu pods withdrawn by the final spread check\n", pol_name[pol], res[pol].stats.withdrawn);
  }
  if (emit_dir != NULL && emit(emit_dir, &r, res) != 0) status = 1;
out:
  r.have_plan = 0;
  for (pol = 0; pol < POL_N; pol++)
    if (res[pol].have) stv_plan_close(&res[pol].plan);
  stv_recommend_result_close(&r);
  return status;
}
