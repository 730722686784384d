/*
 * `stevedore simulate`: runs the provisioning reconciler on a simulated
 * cluster and the sim provider, on a virtual clock (controller/simulate/), and
 * reports what it cost and how long pods waited; with --compare, the same
 * workload under the baseline policies too. Output contract:
 * docs/simulate.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "controller.h"
#include "simulate.h"

#define SCENARIO_MAX (64u << 20)
#define NPOLICIES    4

struct args {
  const char *scenario; /* NULL: the embedded one */
  const char *output;
  const char *timeline; /* NULL: stderr for stevedore's run; "-": stderr for all */
  int compare, quiet, have_seed;
  uint64_t seed;
};

struct tl {
  FILE *f;
  const char *policy;
  int on;
};

static void usage(FILE *f) {
  fprintf(f, "Usage: stevedore simulate [--scenario FILE] [--compare] [--output table|json|html] [--seed N]\n"
             "                          [--timeline FILE|-] [--quiet]\n"
             "\n"
             "Runs the provisioning reconciler of `stevedore controller` on a simulated cluster and cloud,\n"
             "on a virtual clock: hours of cluster time in seconds. Without --scenario it runs the scenario\n"
             "shipped in the program (docs/simulate.md describes the format).\n"
             "\n"
             "  --scenario FILE   a scenario (YAML)\n"
             "  --compare         also run a static on-demand cluster sized for the peak, and the\n"
             "                    Karpenter-like and Cluster-Autoscaler-like policies, on the same workload\n"
             "  --output FORMAT   table (default), json, or html (a one-file page with the curves)\n"
             "  --seed N          the seed of the sim provider's random choices (overrides the scenario's)\n"
             "  --timeline FILE   write every policy's decisions to FILE ('-': standard error); by default\n"
             "                    stevedore's decisions go to standard error\n"
             "  --quiet           no timeline on standard error\n");
}

static void timeline_cb(void *ctx, const struct stv_decision *d) {
  struct tl *t = ctx;
  long s = (long)floor(d->at);
  if (!t->on) return;
  fprintf(t->f, "%-24s %ld:%02ld:%02ld  %-13s %s\n", t->policy, s / 3600, s / 60 % 60, s % 60, d->kind,
          d->text);
}

static int parse_args(int argc, char **argv, struct args *a) {
  int i;
  memset(a, 0, sizeof(*a));
  a->output = "table";
  for (i = 1; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
      usage(stdout);
      return 1;
    }
    if (strcmp(o, "--compare") == 0) {
      a->compare = 1;
      continue;
    }
    if (strcmp(o, "--quiet") == 0 || strcmp(o, "-q") == 0) {
      a->quiet = 1;
      continue;
    }
    if (strcmp(o, "--scenario") != 0 && strcmp(o, "--output") != 0 && strcmp(o, "--seed") != 0 &&
        strcmp(o, "--timeline") != 0) {
      fprintf(stderr, "stevedore simulate: unknown option \"%s\" (see stevedore simulate --help)\n", o);
      return 2;
    }
    if (v == NULL) {
      fprintf(stderr, "stevedore simulate: %s needs a value\n", o);
      return 2;
    }
    i++;
    if (strcmp(o, "--scenario") == 0) a->scenario = v;
    if (strcmp(o, "--timeline") == 0) a->timeline = v;
    if (strcmp(o, "--output") == 0) {
      if (strcmp(v, "table") != 0 && strcmp(v, "json") != 0 && strcmp(v, "html") != 0) {
        fprintf(stderr, "stevedore simulate: --output \"%s\": expected table, json or html\n", v);
        return 2;
      }
      a->output = v;
    }
    if (strcmp(o, "--seed") == 0) {
      char *end;
      unsigned long long n = strtoull(v, &end, 10);
      if (*v == '\0' || *end != '\0' || *v == '-') {
        fprintf(stderr, "stevedore simulate: --seed \"%s\": expected a whole number of 0 or more\n", v);
        return 2;
      }
      a->seed = n;
      a->have_seed = 1;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Output                                                                 */

static void add_ct(cJSON *o, const char *name, const double *v) {
  cJSON *m = cJSON_AddObjectToObject(o, name);
  int ct;
  for (ct = 0; m && ct < STV_CT_COUNT; ct++) cJSON_AddNumberToObject(m, stv_capacity_type_name(ct), v[ct]);
}

static char *render_json(const struct stv_scenario *sc, const struct stv_catalog *cat,
                         const struct stv_sim_result *r, size_t n) {
  cJSON *root = cJSON_CreateObject(), *list, *o, *samples, *x;
  size_t i, j;
  char *out;
  if (root == NULL) return NULL;
  cJSON_AddStringToObject(root, "scenario", sc->name);
  cJSON_AddNumberToObject(root, "duration_s", sc->duration);
  cJSON_AddNumberToObject(root, "seed", (double)sc->seed);
  cJSON_AddStringToObject(root, "catalog", sc->catalog);
  cJSON_AddStringToObject(root, "currency", cat->currency);
  list = cJSON_AddArrayToObject(root, "policies");
  for (i = 0; list && i < n; i++) {
    if ((o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(list, o)) break;
    cJSON_AddStringToObject(o, "name", r[i].policy);
    cJSON_AddNumberToObject(o, "cost", r[i].cost);
    cJSON_AddNumberToObject(o, "node_hours", r[i].node_hours);
    add_ct(o, "cost_by_capacity_type", r[i].cost_by_ct);
    add_ct(o, "node_hours_by_capacity_type", r[i].node_hours_by_ct);
    cJSON_AddNumberToObject(o, "pod_wait_p50_s", r[i].wait_p50);
    cJSON_AddNumberToObject(o, "pod_wait_p99_s", r[i].wait_p99);
    cJSON_AddNumberToObject(o, "pod_wait_max_s", r[i].wait_max);
    cJSON_AddNumberToObject(o, "pods", (double)r[i].pods);
    cJSON_AddNumberToObject(o, "unscheduled_pods", (double)r[i].unscheduled);
    cJSON_AddNumberToObject(o, "scale_ups", (double)r[i].scale_ups);
    cJSON_AddNumberToObject(o, "nodes_launched", (double)r[i].nodes_launched);
    cJSON_AddNumberToObject(o, "nodes_removed", (double)r[i].nodes_removed);
    cJSON_AddNumberToObject(o, "evictions", (double)r[i].evictions);
    cJSON_AddNumberToObject(o, "interruptions", (double)r[i].interruptions);
    cJSON_AddNumberToObject(o, "launch_failures", (double)r[i].launch_failures);
    cJSON_AddNumberToObject(o, "nodes_given_up", (double)r[i].given_up);
    cJSON_AddNumberToObject(o, "max_decision_ms", r[i].prov.max_decision_s * 1e3);
    cJSON_AddNumberToObject(o, "wall_s", r[i].wall_s);
    samples = cJSON_AddArrayToObject(o, "samples");
    for (j = 0; samples && j < r[i].nsamples; j++) {
      if ((x = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(samples, x)) break;
      cJSON_AddNumberToObject(x, "t", r[i].samples[j].t);
      cJSON_AddNumberToObject(x, "nodes", r[i].samples[j].nodes);
      cJSON_AddNumberToObject(x, "cost_per_hour", r[i].samples[j].cost_per_hour);
      cJSON_AddNumberToObject(x, "pending_pods", r[i].samples[j].pending);
    }
  }
  out = cJSON_Print(root);
  cJSON_Delete(root);
  return out;
}

static void render_table(const struct stv_scenario *sc, const struct stv_catalog *cat,
                         const struct stv_sim_result *r, size_t n, struct stv_buf *b) {
  size_t i;
  stv_buf_printf(b, "scenario %s: %.1f virtual hours on %s, prices in %s\n\n", sc->name, sc->duration / 3600,
                 sc->catalog, cat->currency);
  stv_buf_printf(b, "%-24s %10s %10s %9s %9s %9s %9s %9s %11s %9s %9s\n", "POLICY", "COST", "NODE-H",
                 "SPOT-H", "OD-H", "WAIT-P50", "WAIT-P99", "WAIT-MAX", "UNSCHEDULED", "SCALE-UPS",
                 "EVICTIONS");
  for (i = 0; i < n; i++)
    stv_buf_printf(b, "%-24s %10.2f %10.1f %9.1f %9.1f %8.0fs %8.0fs %8.0fs %11zu %9zu %9zu\n", r[i].policy,
                   r[i].cost, r[i].node_hours, r[i].node_hours_by_ct[STV_CT_SPOT],
                   r[i].node_hours_by_ct[STV_CT_ON_DEMAND], r[i].wait_p50, r[i].wait_p99, r[i].wait_max,
                   r[i].unscheduled, r[i].scale_ups, r[i].evictions);
  stv_buf_printf(b, "\n%zu pods; ", r[0].pods);
  for (i = 0; i < n; i++)
    stv_buf_printf(
        b, "%s%s: %zu nodes launched, %zu removed, %zu spot interruptions, %zu launch failures, %.1f s wall",
        i ? "; " : "", r[i].policy, r[i].nodes_launched, r[i].nodes_removed, r[i].interruptions,
        r[i].launch_failures, r[i].wall_s);
  stv_buf_puts(b, "\n");
}

/* ---------------------------------------------------------------------- */
/* The command                                                            */

static int load_scenario(const struct args *a, struct stv_scenario *sc, struct stv_err *err) {
  char *text = NULL;
  size_t len;
  int rc;
  if (a->scenario == NULL)
    return stv_scenario_parse(sc, "(built-in scenario)", stv_default_scenario, stv_default_scenario_len, err);
  if ((rc = stv_read_file(a->scenario, SCENARIO_MAX, &text, &len, err)) != 0) {
    memset(sc, 0, sizeof(*sc));
    return rc;
  }
  rc = stv_scenario_parse(sc, a->scenario, text, len, err);
  stv_free(text);
  return rc;
}

static int run_all(const struct args *a, const struct stv_scenario *sc, const struct stv_catalog *cat,
                   struct stv_sim_result *r, size_t *n, struct stv_err *err) {
  static const int order[NPOLICIES] = {STV_POLICY_STEVEDORE, STV_SIM_STATIC_PEAK, STV_POLICY_KARPENTER,
                                       STV_POLICY_CA};
  FILE *tf = stderr;
  size_t i;
  int rc = 0;
  if (a->timeline && strcmp(a->timeline, "-") != 0 && (tf = fopen(a->timeline, "w")) == NULL)
    return stv_err_set(err, STV_EIO, "%s: cannot write the timeline", a->timeline);
  for (i = 0; i < (a->compare ? NPOLICIES : 1u); i++) {
    struct tl t = {tf, NULL, 0};
    t.policy = order[i] == STV_SIM_STATIC_PEAK ? "static-peak" : stv_policy_name((enum stv_policy)order[i]);
    t.on = a->timeline ? 1 : (!a->quiet && i == 0);
    rc = stv_sim_run(sc, cat, order[i], order[i] == STV_SIM_STATIC_PEAK ? r[0].peak_pods : NULL, timeline_cb,
                     &t, &r[i], err);
    *n = i + 1;
    if (rc != 0) break;
  }
  if (tf != stderr) fclose(tf);
  return rc;
}

int stv_cmd_simulate(int argc, char **argv) {
  struct args a;
  struct stv_scenario sc;
  struct stv_catalog cat;
  struct stv_sim_result r[NPOLICIES];
  struct stv_err err = {0};
  struct stv_buf out;
  size_t i, n = 0;
  int rc, status = 1, have_cat = 0;
  char *json;
  if ((rc = parse_args(argc, argv, &a)) != 0) return rc == 1 ? 0 : rc;
  memset(r, 0, sizeof(r));
  stv_buf_init(&out);
  if ((rc = load_scenario(&a, &sc, &err)) != 0) goto fail;
  if (a.have_seed) sc.seed = a.seed;
  if ((rc = stv_catalog_load(&cat, sc.catalog, &err)) != 0) goto fail;
  have_cat = 1;
  if ((rc = run_all(&a, &sc, &cat, r, &n, &err)) != 0) goto fail;
  if (strcmp(a.output, "json") == 0) {
    if ((json = render_json(&sc, &cat, r, n)) == NULL) goto nomem;
    stv_buf_puts(&out, json);
    stv_buf_puts(&out, "\n");
    cJSON_free(json);
  } else if (strcmp(a.output, "html") == 0) {
    stv_sim_render_html(&sc, cat.currency, r, n, &out);
  } else {
    render_table(&sc, &cat, r, n, &out);
  }
  if (out.err) goto nomem;
  fwrite(out.data, 1, out.len, stdout);
  status = 0;
  goto done;
nomem:
  stv_err_set(&err, STV_ENOMEM, "out of memory writing the report");
fail:
  fprintf(stderr, "stevedore simulate: %s\n", err.msg);
done:
  for (i = 0; i < NPOLICIES; i++) stv_sim_result_close(&r[i]);
  if (have_cat) stv_catalog_close(&cat);
  stv_scenario_close(&sc);
  stv_buf_close(&out);
  return status;
}
