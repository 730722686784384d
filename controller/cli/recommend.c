/*
 * `stevedore recommend`: a dry-run plan for the pending pods of a cluster
 * snapshot. Reads every --snapshot, loads the catalogue, packs, and prints
 * the plan as a table for a person or as JSON for tools. The whole output
 * is built in memory first, so a failure prints nothing on stdout. Its
 * flags, the JSON and the table have files of their own
 * (recommend_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recommend_internal.h"
#include "pricing.h"
#include "snapshot.h"
#include "kubeclient.h"

/* Notes on standard error: the pods not planned by category, and the preemptions. */
static void note_skipped(const struct stv_recommend_result *r) {
  const struct stv_snapshot *s = &r->snap;
  const struct stv_plan *plan = &r->plan;
  static const char *const what[] = {"", "gated by spec.schedulingGates", "for another scheduler",
                                     "below the expendable-pods priority cutoff",
                                     "nominated to a node already"};
  size_t count[5] = {0}, i;
  char name[600], line[1024];
  size_t n = 0;
  int c;
  uint32_t k;
  if (!r->have_plan) return;
  for (i = 0; i < plan->nskipped; i++)
    if (plan->skipped[i].category < 5) count[plan->skipped[i].category]++;
  if (plan->nskipped > 0) {
    n = (size_t)snprintf(line, sizeof(line), "%zu pending pod%s not planned:", plan->nskipped,
                         plan->nskipped == 1 ? " is" : "s are");
    int first = 1;
    for (c = 1; c < 5; c++)
      if (count[c] && n < sizeof(line)) {
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %zu %s", first ? "" : ",", count[c], what[c]);
        first = 0;
      }
    fprintf(stderr,
            "stevedore recommend: note: %s (listed with their reasons; not_planned in --output json)\n",
            line);
  }
  for (i = 0; i < plan->npreemptions && i < 10; i++) {
    const struct stv_plan_preemption *e = &plan->preemptions[i];
    n = (size_t)snprintf(line, sizeof(line),
                         "pod %s (priority %d) preempts %u pod%s of lower priority on node %s:",
                         stv__pod_key(s, e->pod, name, sizeof(name)), (int)s->pods[e->pod].priority, e->nvictims,
                         e->nvictims == 1 ? "" : "s", s->nodes[e->node].name);
    for (k = 0; k < e->nvictims && n < sizeof(line); k++)
      n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s", k ? "," : "",
                            stv__pod_key(s, e->victims[k], name, sizeof(name)));
    fprintf(stderr, "stevedore recommend: note: %s%s; the victims are planned again like pending pods\n",
            line, e->pdb_violations ? " (breaking a PodDisruptionBudget: no other node would do)" : "");
  }
  if (plan->npreemptions > 10)
    fprintf(stderr, "stevedore recommend: note: %zu more preemptions (see preemptions in --output json)\n",
            plan->npreemptions - 10);
}

/* ---------------------------------------------------------------------- */

double stv_monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void trace_to_stderr(void *ctx, const char *line) {
  (void)ctx;
  fprintf(stderr, "%s\n", line);
}

void stv_solve_diag_setup(struct stv_problem *p) {
  if (getenv("STV_OPT_TRACE") != NULL) {
    p->trace = trace_to_stderr;
    p->trace_ctx = NULL;
  }
}

static void pack_stats_print(const struct stv_pack_stats *ps) {
  fprintf(stderr, "pack: %zu groups, %zu templates (%zu undominated), %ld rounds, %ld evaluations\n",
          ps->groups, ps->templates, ps->undominated, ps->rounds, ps->evaluations);
}

void stv_solve_diag_print(const struct stv_plan *plan) {
  const struct stv_plan_stats *st = &plan->stats;
  int pack = getenv("STV_PACK_STATS") != NULL, opt = getenv("STV_OPT_STATS") != NULL;
  /* In the order the solve made them: the heuristic, the optimizer's run. */
  if (pack) pack_stats_print(&st->heuristic);
  if (opt && st->cg.reported)
    fprintf(
        stderr,
        "optimize: %zu items, %zu shapes, %zu columns, lp %.6f (%s), heuristic %.6f, dive %s, best %.6f\n",
        st->cg.items, st->cg.shapes, st->cg.columns, st->cg.lp,
        st->cg.converged ? "converged" : "not converged", st->cg.heuristic, st->cg.found ? "found" : "none",
        st->cg.best);
  if (opt && st->cg.reported && st->cg.exact != NULL)
    fprintf(stderr, "optimize: exact search: %s, %ld nodes\n", st->cg.exact, st->cg.exact_nodes);
  if (pack && st->compared) pack_stats_print(&st->optimized);
  if (opt && st->compared)
    fprintf(stderr,
            "optimize: heuristic %.4f (%zu placed, spot limits %s), optimized %.4f (%zu placed, spot limits "
            "%s)\n",
            st->heuristic_cost, st->heuristic_placed, st->heuristic_spot_ok ? "kept" : "broken",
            st->optimized_cost, st->optimized_placed, st->optimized_spot_ok ? "kept" : "broken");
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Keeps a note about the input in r->notes. */
static int keep_note(void *ctx, const char *msg) {
  struct stv_recommend_result *r = ctx;
  if (stv_grow((void **)&r->notes, &r->cap_notes, r->nnotes + 1, sizeof(*r->notes)) != 0) return STV_ENOMEM;
  if ((r->notes[r->nnotes] = stv_strdup(msg)) == NULL) return STV_ENOMEM;
  r->nnotes++;
  return 0;
}

/*
 * Loads --catalog, or without it the embedded catalogue of the region the
 * snapshot's nodes are in (docs/catalog.md, "Choosing the region"), with a
 * note saying which and why.
 */
static int load_catalog(const struct stv_recommend_args *a, struct stv_recommend_result *r, struct stv_err *err) {
  const char *spec = a->catalog;
  char guessed[128], why[300];
  size_t n = 0;
  int rc;
  if (spec == NULL) {
    if (stv_catalog_guess_nodes(r->snap.nodes, r->snap.nnodes, guessed, sizeof(guessed), why, sizeof(why)) == 0) {
      spec = guessed;
      n = (size_t)snprintf(r->catalog_note, sizeof(r->catalog_note), "catalogue %s: %s (--catalog picks another)",
                           spec, why);
    } else {
      spec = STV_CATALOG_DEFAULT;
      n = (size_t)snprintf(r->catalog_note, sizeof(r->catalog_note),
                           "catalogue %s, the default: %s; --catalog names the cluster's", spec, why);
    }
  }
  if ((rc = stv_catalog_load(&r->catalog, spec, err)) != 0) return rc;
  r->have_catalog = 1;
  if (r->catalog.left_out > 0 && n < sizeof(r->catalog_note))
    snprintf(r->catalog_note + n, sizeof(r->catalog_note) - n,
             "%scatalogue %s: %zu instance type%s priced in the region %s left out: the price data gives no "
             "vCPUs, memory or architecture for them (docs/catalog.md)",
             n ? "\n" : "", spec, r->catalog.left_out, r->catalog.left_out == 1 ? "" : "s",
             r->catalog.left_out == 1 ? "is" : "are");
  return 0;
}

/* Notes on what the storage rules could not check or hold back. */
static int volume_notes(struct stv_recommend_result *r) {
  const struct stv_snapshot_read_stats *st = &r->stats;
  char line[512];
  if (st->vol_unchecked_pods > 0) {
    snprintf(line, sizeof(line),
             "volume constraints could not be checked for %zu pod%s (%zu pending): their claims, volumes or "
             "storage classes are not in the snapshot (dump them too: kubectl get "
             "nodes,pods,pdb,pvc,pv,storageclass,csinode -A -o json)",
             st->vol_unchecked_pods, st->vol_unchecked_pods == 1 ? "" : "s", st->vol_unchecked_pending);
    if (keep_note(r, line) != 0) return STV_ENOMEM;
  }
  if (st->vol_blocked_pods > 0) {
    snprintf(line, sizeof(line),
             "%zu pending pod%s cannot be placed until %s claims are bound or created (listed as "
             "unschedulable with the claim)",
             st->vol_blocked_pods, st->vol_blocked_pods == 1 ? "" : "s", st->vol_blocked_pods == 1 ? "its" : "their");
    if (keep_note(r, line) != 0) return STV_ENOMEM;
  }
  if (st->vol_no_csinodes &&
      keep_note(r, "pods use volumes of drivers with attach limits, but the snapshot has no CSINode objects: "
                   "existing nodes are taken to have no limit (dump them too: kubectl get "
                   "nodes,pods,pdb,pvc,pv,storageclass,csinode -A -o json)") != 0)
    return STV_ENOMEM;
  if (st->vol_daemonset_pods > 0) {
    snprintf(line, sizeof(line),
             "%zu DaemonSet pod%s with claims or attachable volumes: their volumes are not counted (DaemonSet "
             "pods keep their DaemonSet's class)",
             st->vol_daemonset_pods, st->vol_daemonset_pods == 1 ? "" : "s");
    if (keep_note(r, line) != 0) return STV_ENOMEM;
  }
  return 0;
}

int stv_recommend_run(const struct stv_recommend_args *a, struct stv_recommend_result *r,
                      struct stv_err *err) {
  size_t i;
  int rc = 0;
  double t0, start = stv_monotonic_seconds();
  struct stv_problem pb;
  memset(r, 0, sizeof(*r));
  if ((rc = stv_snapshot_init(&r->snap)) != 0) return stv_err_set(err, rc, "out of memory");
  r->have_snap = 1;
  t0 = now_ms();
  for (i = 0; i < a->nsnapshots; i++) {
    if ((rc = stv_snapshot_read_file_stats(&r->snap, a->snapshots[i], &r->stats, err)) != 0) return rc;
  }
  if (a->kubeconfig != NULL) {
    struct stv_kube_snapshot_sink sink = {&r->snap, &r->stats};
    rc = stv_kube_read_cluster(a->kubeconfig, a->context, stv_kube_snapshot_item, &sink, keep_note, r, err);
    if (rc != 0) return rc;
  }
  if ((rc = stv_snapshot_resolve_volumes(&r->snap, &r->stats, err)) != 0) return rc;
  rc = stv_headroom_add(&r->snap, a->headroom, a->nheadroom, a->headroom_percent, &r->headroom, err);
  if (rc != 0) return rc;
  r->snap.scheduler_names = a->scheduler_names;
  r->snap.nscheduler_names = a->nscheduler_names;
  if (a->priority_cutoff != NULL) r->snap.priority_cutoff = *a->priority_cutoff;
  if ((rc = stv_snapshot_finish(&r->snap, err)) != 0) return rc;
  {
    char line[512];
    stv_snapshot_read_stats_format(&r->stats, line, sizeof(line));
    if ((line[0] && keep_note(r, line) != 0) || stv_snapshot_notes(&r->snap, &r->stats, 0, keep_note, r) != 0 ||
        volume_notes(r) != 0)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  r->read_ms = now_ms() - t0;
  t0 = now_ms();
  if ((rc = load_catalog(a, r, err)) != 0) return rc;
  rc = stv_templates_build_pools(&r->templates, &r->catalog, &r->snap, a->allowed, a->pools, a->npools, err);
  if (rc != 0) return rc;
  stv_templates_default_node_cost(&r->templates, a->pools, a->npools, a->node_cost);
  stv_templates_pool_limits(&r->templates, a->pools, a->npools);
  r->have_templates = 1;
  r->catalog_ms = now_ms() - t0;
  memset(&pb, 0, sizeof(pb));
  pb.snap = &r->snap;
  pb.tmpl = r->templates.v;
  pb.ntmpl = r->templates.n;
  pb.currency = r->catalog.currency;
  pb.search_limit = a->search_limit;
  /* The budget is for the whole command: reading counts, and a little is
   * kept for writing the plan. */
  pb.time_limit = a->time_limit;
  if (pb.time_limit > 0) {
    pb.time_limit -= stv_monotonic_seconds() - start + 0.3 + 0.1 * a->time_limit;
    if (pb.time_limit < 0.05) pb.time_limit = 0.05;
  }
  pb.clock = stv_monotonic_seconds;
  pb.gap_tolerance = a->gap_tolerance;
  pb.stall_rounds = a->stall_rounds;
  pb.work_limit = stv_work_units(a->decision_budget);
  if (a->spot != NULL)
    pb.spot = *a->spot;
  else
    stv_spot_policy_default(&pb.spot);
  stv_solve_diag_setup(&pb);
  r->problem = pb;
  t0 = now_ms();
  if (a->repack) {
    if ((rc = stv_repack_run(a, r, err)) != 0) return rc;
  } else {
    if ((rc = stv_optimize(&r->problem, &r->plan, err)) != 0) return rc;
    r->have_plan = 1;
    stv_solve_diag_print(&r->plan);
  }
  r->pack_ms = now_ms() - t0;
  return 0;
}

void stv_recommend_result_close(struct stv_recommend_result *r) {
  size_t i;
  for (i = 0; i < r->nnotes; i++) stv_free(r->notes[i]);
  stv_free(r->notes);
  if (r->have_repack) stv_repack_close(&r->repack);
  if (r->have_plan) stv_plan_close(&r->plan);
  if (r->have_templates) stv_templates_close(&r->templates);
  if (r->have_catalog) stv_catalog_close(&r->catalog);
  if (r->have_snap) stv_snapshot_close(&r->snap);
  memset(r, 0, sizeof(*r));
}

/* Notes each node pool that admits no offering of the catalogue: a likely typo in its filters. */
static void note_empty_pools(const struct stv_recommend_result *r, const struct stv_config *cfg) {
  size_t p, i;
  for (p = 0; p < cfg->npools; p++) {
    for (i = 0; i < r->templates.n; i++)
      if (r->templates.v[i].pool != NULL && strcmp(r->templates.v[i].pool, cfg->pools[p].name) == 0) break;
    if (i == r->templates.n)
      fprintf(stderr,
              "stevedore recommend: note: node pool %s admits no offering of the catalogue (check its "
              "instanceFamilies, instanceSizes, architectures, zones and capacityTypes)\n",
              cfg->pools[p].name);
  }
}

/* Exit status for an error code: 2 for what the user can fix in the input, 1 for the rest. */
static int exit_status(int code) { return code == STV_ENOMEM || code == STV_EIO ? 1 : 2; }

/* The arguments of the run: the configuration after the flags' overrides (both borrowed). */
static void args_from_config(const struct stv__recommend_opts *o, const struct stv_config *cfg,
                             struct stv_recommend_args *a) {
  memset(a, 0, sizeof(*a));
  a->snapshots = o->snapshots;
  a->nsnapshots = o->nsnapshots;
  a->kubeconfig = o->kubeconfig;
  a->context = o->context;
  a->catalog = o->catalog;
  a->allowed = cfg->capacity_types;
  a->time_limit = cfg->time_limit;
  a->spot = &cfg->spot;
  a->pools = cfg->pools;
  a->npools = cfg->npools;
  a->headroom = cfg->headroom;
  a->nheadroom = cfg->nheadroom;
  a->headroom_percent = cfg->headroom_percent;
  a->repack = o->repack;
  a->repack_system_pods = o->repack_system_pods || cfg->repack_system_pods;
  a->scheduler_names = cfg->scheduler_names;
  a->nscheduler_names = cfg->nscheduler_names;
  a->priority_cutoff = &cfg->priority_cutoff;
  a->node_cost = cfg->node_cost;
  /* Percent to a fraction; 0 % (at the optimum only) is the packer's negative. */
  a->gap_tolerance = cfg->gap_tolerance > 0 ? cfg->gap_tolerance / 100 : -1;
  a->stall_rounds = !o->has_stall_rounds ? 0 : o->stall_rounds > 0 ? (int)o->stall_rounds : -1;
  a->decision_budget = o->decision_budget;
  a->churn = o->churn;
  stv_cons_options_default(&a->cons);
  a->cons.max_moves = o->max_moves;
  a->cons.eviction_price = o->eviction_price;
  if (o->has_min_saving) a->cons.min_saving_fraction = o->min_saving / 100;
}

/* The notes on standard error about the input and the plan (not with --quiet). */
static void print_notes(const struct stv_recommend_result *r, const struct stv_config *cfg) {
  const char *line = r->catalog_note;
  size_t i;
  while (*line) { /* one line each: which catalogue, what it left out */
    size_t n = strcspn(line, "\n");
    fprintf(stderr, "stevedore recommend: note: %.*s\n", (int)n, line);
    line += n + (line[n] == '\n');
  }
  for (i = 0; i < r->nnotes; i++) fprintf(stderr, "stevedore recommend: note: %s\n", r->notes[i]);
  note_empty_pools(r, cfg);
  if (r->have_repack && r->repack.system_pods_kept > 0)
    fprintf(stderr,
            "stevedore recommend: note: %zu system pod%s (system-critical priority or kube-system "
            "controllers) keep their nodes; --repack-system-pods lets the repack move them\n",
            r->repack.system_pods_kept, r->repack.system_pods_kept == 1 ? "" : "s");
  if (r->have_repack && r->repack.preferences_kept > 0)
    fprintf(stderr,
            "stevedore recommend: note: %zu moved pod%s keep their preferred zone spread or zone "
            "anti-affinity as required rules (docs/repack.md, \"Preferences\")\n",
            r->repack.preferences_kept, r->repack.preferences_kept == 1 ? "" : "s");
  note_skipped(r);
  if (r->have_plan && r->plan.spot_limits_broken)
    fprintf(stderr, "stevedore recommend: note: no plan keeps the spot limits (--spot-max-share, "
                    "--spot-max-pool-fraction) with the allowed capacity types; this one places what it can "
                    "and breaks them (allow on-demand, more zones or types, or relax the limits)\n");
}

/* The plan as JSON on standard output. Returns the exit status. */
static int write_json(const struct stv_recommend_result *r, int quiet) {
  size_t replaced = 0;
  char *json = stv__recommend_render_json(r, &replaced);
  if (json == NULL) {
    fprintf(stderr, "stevedore recommend: out of memory while writing the plan\n");
    return 1;
  }
  if (replaced > 0 && !quiet)
    fprintf(stderr,
            "stevedore recommend: note: %zu byte%s of invalid UTF-8 in names from the snapshot written as "
            "U+FFFD in the JSON plan\n",
            replaced, replaced == 1 ? "" : "s");
  fputs(json, stdout);
  fputc('\n', stdout);
  cJSON_free(json);
  return 0;
}

/* The plan (or the repack) as a table on standard output. Returns the exit status. */
static int write_table(const struct stv_recommend_result *r, const struct stv__recommend_opts *o) {
  struct stv_buf b;
  int rc;
  char chosen[160];
  const char *catalog = o->catalog;
  stv_buf_init(&b);
  b.max = STV__TABLE_MAX_BYTES;
  if (catalog == NULL) { /* chosen from the nodes' region: an embedded catalogue, named provider:region */
    snprintf(chosen, sizeof(chosen), "%s:%s", r->catalog.provider, r->catalog.region);
    catalog = chosen;
  }
  if (o->repack)
    rc = stv_repack_render_table(r, catalog, o->capacity_types, &b);
  else
    rc = stv__recommend_render_table(r, catalog, o->capacity_types, &b);
  if (rc == STV_ELIMIT)
    fprintf(stderr, "stevedore recommend: the plan table is larger than %zu MiB; ask for it with -o json\n",
            STV__TABLE_MAX_BYTES >> 20);
  else if (rc != 0)
    fprintf(stderr, "stevedore recommend: out of memory while writing the plan\n");
  else if (b.len)
    fwrite(b.data, 1, b.len, stdout);
  stv_buf_close(&b);
  return rc != 0 ? 1 : 0;
}

int stv_cmd_recommend(int argc, char **argv) {
  struct stv__recommend_opts o;
  struct stv_recommend_args a;
  struct stv_recommend_result r;
  struct stv_err err = {0, ""};
  struct stv_config cfg;
  int rc, status = 0;

  memset(&r, 0, sizeof(r));
  stv_config_init(&cfg);
  rc = stv__recommend_parse_opts(argc, argv, &o, &err);
  if (rc != 0) {
    if (rc == 1)
      stv__recommend_usage(stdout);
    else
      fprintf(stderr, "stevedore recommend: %s\n", err.msg);
    stv__recommend_opts_close(&o);
    return rc == 1 ? 0 : 2;
  }
  if ((rc = stv__recommend_settle_config(&o, &cfg, &err)) != 0) {
    fprintf(stderr, "stevedore recommend: %s\n", err.msg);
    status = exit_status(rc);
    goto out;
  }
  args_from_config(&o, &cfg, &a);
  if ((rc = stv_recommend_run(&a, &r, &err)) != 0) {
    fprintf(stderr, "stevedore recommend: %s\n", err.msg[0] ? err.msg : stv_strerror(rc));
    status = exit_status(rc);
    goto out;
  }
  if (!o.quiet) print_notes(&r, &cfg);
  status = o.json ? write_json(&r, o.quiet) : write_table(&r, &o);
  if (status == 0 && fflush(stdout) != 0) {
    fprintf(stderr, "stevedore recommend: cannot write the plan to standard output\n");
    status = 1;
  }
out:
  stv_recommend_result_close(&r);
  stv_config_close(&cfg);
  stv__recommend_opts_close(&o);
  return status;
}
