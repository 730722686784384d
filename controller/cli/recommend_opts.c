/*
 * The flags of `stevedore recommend`, its help, and how the flags override
 * the configuration file (see recommend_internal.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recommend_internal.h"

void stv__recommend_usage(FILE *f) {
  fprintf(f, "Usage: stevedore recommend --snapshot FILE [--snapshot FILE ...] [options]\n"
             "       stevedore recommend --kubeconfig FILE [--context NAME] [options]\n"
             "\n"
             "Plans nodes for the pending pods of a cluster snapshot (what\n"
             "`kubectl get nodes,pods,poddisruptionbudgets -A -o json` prints): pods go into\n"
             "the free room of existing nodes first, then onto the cheapest new nodes found.\n"
             "Nothing is changed in the cluster.\n"
             "\n"
             "Options:\n"
             "  -s, --snapshot FILE        snapshot to read (repeatable; - for standard input)\n"
             "      --kubeconfig FILE      read the live cluster instead (one list of each kind;\n"
             "                             docs/kube-client.md)\n"
             "      --context NAME         the kubeconfig's context to use (default: current-context)\n"
             "  -c, --catalog SPEC         aws:REGION, gcp:REGION, azure:REGION (every region is\n"
             "                             embedded), or a catalogue JSON file (docs/catalog.md);\n"
             "                             default: the nodes' topology.kubernetes.io/region, else\n"
             "                             aws:us-east-1\n"
             "      --config FILE          configuration file (YAML, docs/config.md); the flags\n"
             "                             below override it\n"
             "      --capacity-types LIST  comma-separated: reserved,spot,on-demand\n"
             "                             (default all three)\n"
             "      --time-limit DURATION  budget for the whole command (reading counts; the optimizer\n"
             "                             gets the rest): seconds or 500ms, 10s, 2m (default 10s;\n"
             "                             0: the heuristic's plan only)\n"
             "      --gap-tolerance P      the optimizer stops once its plan is within P%% of its\n"
             "                             proven lower bound (default 0.5%%; 0: at the optimum only)\n"
             "      --stall-rounds N       ... or once its LP has moved less than 0.1%% in N rounds\n"
             "                             and promises no such gain (default 10; 0: never), or\n"
             "                             once its integer search finds no plan 0.1%% cheaper\n"
             "                             over 5%% of its budget (0: runs on to the limit)\n"
             "      --decision-budget DURATION\n"
             "                             decision mode: a budget in work units worth DURATION\n"
             "                             on the reference machine; the same input gives the\n"
             "                             same plan under any load (the time limit stays the cap)\n"
             "      --spot-max-share X     at most this share (0..1) of new-node cost on spot (1)\n"
             "      --spot-max-pool-fraction X\n"
             "                             at most this share (0..1) of new spot nodes in one\n"
             "                             instance type x zone (0.3)\n"
             "      --spot-restart-cost X  cost of restarting a pod after an interruption (0.10)\n"
             "      --node-cost X          money per node-hour added to every new node beyond its\n"
             "                             price (daemons, addresses; default 0; a pool's own\n"
             "                             nodeCost wins)\n"
             "      --headroom-count N     N virtual pods of --headroom-cpu and --headroom-memory\n"
             "      --headroom-cpu Q       kept free (replaces the file's manual headroom; N\n"
             "      --headroom-memory Q    defaults to 1; --headroom-count 0 turns it off)\n"
             "      --headroom-automatic P keep P%% of the existing nodes' cpu and memory free\n"
             "      --scheduler-names LIST comma-separated schedulerName values whose pods are\n"
             "                             planned (default-scheduler); other pods are listed\n"
             "                             as not planned\n"
             "      --expendable-pods-priority-cutoff N\n"
             "                             pods of lower priority buy no nodes (Cluster\n"
             "                             Autoscaler's flag; default -10)\n"
             "  -m, --mode MODE            pending (default): plan the pending pods; repack:\n"
             "                             the cheapest cluster for every movable pod against\n"
             "                             the current cost (docs/repack.md)\n"
             "      --repack-system-pods   let the repack move system-critical pods and kube-system\n"
             "                             controller pods (coredns, ...), which it keeps by default\n"
             "      --max-moves N          churn-aware repack: the actions that save most per\n"
             "                             evicted pod, at most N evictions (docs/consolidation.md)\n"
             "      --eviction-price X     churn-aware repack: an action must save more a month\n"
             "                             than X per (weighted) eviction\n"
             "      --min-saving PERCENT   churn-aware repack: an action must save this share of\n"
             "                             its nodes' cost (5)\n"
             "  -o, --output FORMAT        table (default) or json\n"
             "  -q, --quiet                no notes on standard error\n"
             "  -h, --help                 this help\n"
             "\n"
             "Exit status: 0 with a plan (even when some pods cannot be placed: they are\n"
             "listed with a reason), 2 on bad input, 1 on any other failure.\n");
}

/* Prefixes err with the flag's name; returns its code. */
static int flag_error(struct stv_err *err, const char *flag) {
  return stv_err_prefix(err, "%s", flag);
}

enum {
  O_CAPACITY_TYPES = 256,
  O_TIME_LIMIT,
  O_CONFIG,
  O_MAX_SHARE,
  O_POOL_FRACTION,
  O_RESTART_COST,
  O_HR_COUNT,
  O_HR_CPU,
  O_HR_MEMORY,
  O_HR_AUTO,
  O_REPACK_SYSTEM,
  O_SCHED_NAMES,
  O_PRIORITY_CUTOFF,
  O_KUBECONFIG,
  O_CONTEXT,
  O_NODE_COST,
  O_GAP_TOLERANCE,
  O_STALL_ROUNDS,
  O_DECISION_BUDGET,
  O_MAX_MOVES,
  O_EVICTION_PRICE,
  O_MIN_SAVING
};

/* The optimizer's stopping flags: --gap-tolerance, --stall-rounds, --decision-budget. */
static int apply_stopping_opt(struct stv__recommend_opts *o, int ch, const char *arg, struct stv_err *err) {
  double n;
  if (ch == O_GAP_TOLERANCE) {
    if (stv_config_parse_percent(arg, 1, &o->gap_tolerance, err) != 0)
      return flag_error(err, "--gap-tolerance");
    o->has_gap_tolerance = 1;
    return 0;
  }
  if (ch == O_STALL_ROUNDS) {
    if (stv_config_parse_number(arg, 0, 1000000, &n, err) != 0) return flag_error(err, "--stall-rounds");
    if (n != (double)(long)n)
      return stv_err_set(err, STV_EINVAL, "--stall-rounds: \"%s\" is not a whole number of rounds", arg);
    o->stall_rounds = (long)n;
    o->has_stall_rounds = 1;
    return 0;
  }
  if (stv_config_parse_duration(arg, &o->decision_budget, err) != 0)
    return flag_error(err, "--decision-budget");
  return 0;
}

static int apply_number(const char *flag, const char *arg, double lo, double hi, double *v, int *has,
                        struct stv_err *err);

/* The churn-aware repack's flags: --max-moves, --eviction-price, --min-saving. */
static int apply_churn_opt(struct stv__recommend_opts *o, int ch, const char *arg, struct stv_err *err) {
  double n;
  o->churn = 1;
  if (ch == O_MAX_MOVES) {
    if (stv_config_parse_number(arg, 0, 1e9, &n, err) != 0) return flag_error(err, "--max-moves");
    if (n != (double)(long)n)
      return stv_err_set(err, STV_EINVAL, "--max-moves: \"%s\" is not a whole number of evictions", arg);
    o->max_moves = (long)n;
    return 0;
  }
  if (ch == O_EVICTION_PRICE)
    return apply_number("--eviction-price", arg, 0, 1e9, &o->eviction_price, &o->has_eviction_price, err);
  if (stv_config_parse_percent(arg, 1, &o->min_saving, err) != 0) return flag_error(err, "--min-saving");
  o->has_min_saving = 1;
  return 0;
}

/* The headroom flags: --headroom-count, -cpu, -memory and -automatic. */
static int apply_headroom_opt(struct stv__recommend_opts *o, int ch, const char *arg, struct stv_err *err) {
  if (ch == O_HR_COUNT) {
    double n;
    if (stv_config_parse_number(arg, 0, STV_HEADROOM_COUNT_MAX, &n, err) != 0)
      return flag_error(err, "--headroom-count");
    if (n != (double)(uint32_t)n)
      return stv_err_set(err, STV_EINVAL, "--headroom-count: \"%s\" is not a whole number", arg);
    o->unit.count = (uint32_t)n;
    o->has_headroom_unit = 1;
  } else if (ch == O_HR_CPU || ch == O_HR_MEMORY) {
    int cpu = ch == O_HR_CPU;
    int64_t v;
    int rc = stv_quantity_parse(arg, cpu, &v, err);
    if (rc == 0 && v < 0) rc = stv_err_set(err, STV_EINVAL, "negative quantity \"%s\"", arg);
    if (rc != 0) return flag_error(err, cpu ? "--headroom-cpu" : "--headroom-memory");
    if (cpu)
      o->unit.cpu = v;
    else
      o->unit.memory = v;
    o->has_headroom_unit = 1;
  } else {
    if (stv_config_parse_percent(arg, 1, &o->headroom_percent, err) != 0)
      return flag_error(err, "--headroom-automatic");
    o->has_headroom_percent = 1;
  }
  return 0;
}

/* --scheduler-names: the list is split in place in a copy o owns. */
static int apply_scheduler_names(struct stv__recommend_opts *o, const char *arg, struct stv_err *err) {
  size_t n = strlen(arg) + 1;
  stv_free(o->sched_buf);
  if ((o->sched_buf = stv_malloc(n)) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  memcpy(o->sched_buf, arg, n);
  if (stv_config_parse_scheduler_names(o->sched_buf, o->sched_names, STV_MAX_SCHEDULER_NAMES,
                                       &o->nsched_names, err) != 0)
    return flag_error(err, "--scheduler-names");
  o->has_sched_names = 1;
  return 0;
}

/* A number flag in [lo, hi] into *v, with *has set. */
static int apply_number(const char *flag, const char *arg, double lo, double hi, double *v, int *has,
                        struct stv_err *err) {
  if (stv_config_parse_number(arg, lo, hi, v, err) != 0) return flag_error(err, flag);
  *has = 1;
  return 0;
}

/* A flag of two values: *out is 0 for the first, 1 for the second. */
static int apply_choice(const char *flag, const char *what, const char *arg, const char *first,
                        const char *second, int *out, struct stv_err *err) {
  if (strcmp(arg, first) != 0 && strcmp(arg, second) != 0)
    return stv_err_set(err, STV_EINVAL, "%s: unknown %s \"%s\" (use %s or %s)", flag, what, arg, first,
                       second);
  *out = strcmp(arg, second) == 0;
  return 0;
}

/* One flag with its value arg (getopt's code ch). */
static int apply_opt(struct stv__recommend_opts *o, int ch, const char *arg, struct stv_err *err) {
  switch (ch) {
  case 's':
    o->snapshots[o->nsnapshots++] = arg;
    return 0;
  case 'c':
    o->catalog = arg;
    return 0;
  case O_CONFIG:
    o->config = arg;
    return 0;
  case O_CAPACITY_TYPES:
    if (stv_config_parse_capacity_types(arg, &o->allowed, err) != 0)
      return flag_error(err, "--capacity-types");
    o->has_capacity_types = 1;
    return 0;
  case 'o':
    return apply_choice("--output", "format", arg, "table", "json", &o->json, err);
  case 'q':
    o->quiet = 1;
    return 0;
  case 'm':
    return apply_choice("--mode", "mode", arg, "pending", "repack", &o->repack, err);
  case O_REPACK_SYSTEM:
    o->repack_system_pods = 1;
    return 0;
  case O_TIME_LIMIT:
    if (stv_config_parse_duration(arg, &o->time_limit, err) != 0) return flag_error(err, "--time-limit");
    o->has_time_limit = 1;
    return 0;
  case O_MAX_SHARE:
    return apply_number("--spot-max-share", arg, 0, 1, &o->max_share, &o->has_max_share, err);
  case O_POOL_FRACTION:
    return apply_number("--spot-max-pool-fraction", arg, 0, 1, &o->pool_fraction, &o->has_pool_fraction, err);
  case O_RESTART_COST:
    return apply_number("--spot-restart-cost", arg, 0, 1e9, &o->restart_cost, &o->has_restart_cost, err);
  case O_SCHED_NAMES:
    return apply_scheduler_names(o, arg, err);
  case O_PRIORITY_CUTOFF:
    if (stv_config_parse_priority(arg, &o->cutoff, err) != 0)
      return flag_error(err, "--expendable-pods-priority-cutoff");
    o->has_cutoff = 1;
    return 0;
  case O_KUBECONFIG:
    o->kubeconfig = arg;
    return 0;
  case O_CONTEXT:
    o->context = arg;
    return 0;
  case O_NODE_COST:
    return apply_number("--node-cost", arg, 0, STV_NODE_COST_MAX, &o->node_cost, &o->has_node_cost, err);
  case O_GAP_TOLERANCE:
  case O_STALL_ROUNDS:
  case O_DECISION_BUDGET:
    return apply_stopping_opt(o, ch, arg, err);
  case O_MAX_MOVES:
  case O_EVICTION_PRICE:
  case O_MIN_SAVING:
    return apply_churn_opt(o, ch, arg, err);
  default:
    return apply_headroom_opt(o, ch, arg, err);
  }
}

/* What the flags must say together, once all are read. */
static int check_opts(const struct stv__recommend_opts *o, int argc, char **argv, struct stv_err *err) {
  if (o->repack_system_pods && !o->repack)
    return stv_err_set(err, STV_EINVAL, "--repack-system-pods: only with --mode repack");
  if (o->churn && !o->repack)
    return stv_err_set(err, STV_EINVAL,
                       "--max-moves, --eviction-price and --min-saving: only with --mode repack (the "
                       "churn-aware repack)");
  if (optind < argc)
    return stv_err_set(err, STV_EINVAL, "unexpected argument \"%s\" (see stevedore recommend --help)",
                       argv[optind]);
  if (o->context != NULL && o->kubeconfig == NULL)
    return stv_err_set(err, STV_EINVAL, "--context: only with --kubeconfig FILE");
  if (o->kubeconfig != NULL && o->nsnapshots > 0)
    return stv_err_set(err, STV_EINVAL, "--kubeconfig reads the live cluster: give it without --snapshot");
  if (o->nsnapshots == 0 && o->kubeconfig == NULL)
    return stv_err_set(err, STV_EINVAL,
                       "no --snapshot given (try: kubectl get nodes,pods,poddisruptionbudgets -A -o json "
                       "> snap.json; stevedore recommend --snapshot snap.json)");
  if (o->has_headroom_unit && o->unit.count > 0 && o->unit.cpu == 0 && o->unit.memory == 0)
    return stv_err_set(err, STV_EINVAL, "--headroom-count: needs --headroom-cpu or --headroom-memory");
  return 0;
}

int stv__recommend_parse_opts(int argc, char **argv, struct stv__recommend_opts *o, struct stv_err *err) {
  static const struct option longopts[] = {
      {"snapshot", required_argument, NULL, 's'},
      {"catalog", required_argument, NULL, 'c'},
      {"config", required_argument, NULL, O_CONFIG},
      {"capacity-types", required_argument, NULL, O_CAPACITY_TYPES},
      {"output", required_argument, NULL, 'o'},
      {"quiet", no_argument, NULL, 'q'},
      {"time-limit", required_argument, NULL, O_TIME_LIMIT},
      {"spot-max-share", required_argument, NULL, O_MAX_SHARE},
      {"spot-max-pool-fraction", required_argument, NULL, O_POOL_FRACTION},
      {"spot-restart-cost", required_argument, NULL, O_RESTART_COST},
      {"headroom-count", required_argument, NULL, O_HR_COUNT},
      {"headroom-cpu", required_argument, NULL, O_HR_CPU},
      {"headroom-memory", required_argument, NULL, O_HR_MEMORY},
      {"headroom-automatic", required_argument, NULL, O_HR_AUTO},
      {"mode", required_argument, NULL, 'm'},
      {"repack-system-pods", no_argument, NULL, O_REPACK_SYSTEM},
      {"scheduler-names", required_argument, NULL, O_SCHED_NAMES},
      {"expendable-pods-priority-cutoff", required_argument, NULL, O_PRIORITY_CUTOFF},
      {"kubeconfig", required_argument, NULL, O_KUBECONFIG},
      {"context", required_argument, NULL, O_CONTEXT},
      {"node-cost", required_argument, NULL, O_NODE_COST},
      {"gap-tolerance", required_argument, NULL, O_GAP_TOLERANCE},
      {"stall-rounds", required_argument, NULL, O_STALL_ROUNDS},
      {"decision-budget", required_argument, NULL, O_DECISION_BUDGET},
      {"max-moves", required_argument, NULL, O_MAX_MOVES},
      {"eviction-price", required_argument, NULL, O_EVICTION_PRICE},
      {"min-saving", required_argument, NULL, O_MIN_SAVING},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int ch, rc;
  memset(o, 0, sizeof(*o));
  o->catalog = NULL; /* chosen from the nodes' region (stv_catalog_guess) */
  o->unit.count = 1;
  o->max_moves = -1;
  o->snapshots = stv_calloc((size_t)argc + 1, sizeof(*o->snapshots));
  if (o->snapshots == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  opterr = 0;
  optind = 1;
  while ((ch = getopt_long(argc, argv, ":s:c:o:m:qh", longopts, NULL)) != -1) {
    if (ch == 'h') return 1;
    if (ch == ':') return stv_err_set(err, STV_EINVAL, "%s needs a value", argv[optind - 1]);
    if (ch == '?')
      return stv_err_set(err, STV_EINVAL, "unknown option %s (see stevedore recommend --help)",
                         argv[optind - 1]);
    if ((rc = apply_opt(o, ch, optarg, err)) != 0) return rc;
  }
  return check_opts(o, argc, argv, err);
}

void stv__recommend_opts_close(struct stv__recommend_opts *o) {
  stv_free(o->snapshots);
  stv_free(o->sched_buf);
  o->snapshots = NULL;
  o->sched_buf = NULL;
}

int stv__recommend_settle_config(struct stv__recommend_opts *o, struct stv_config *cfg, struct stv_err *err) {
  int rc;
  stv_config_init(cfg);
  if (o->config != NULL && (rc = stv_config_load_file(cfg, o->config, err)) != 0) return rc;
  if (o->has_capacity_types) cfg->capacity_types = o->allowed;
  if (o->has_time_limit) cfg->time_limit = o->time_limit;
  if (o->has_max_share) cfg->spot.max_share = o->max_share;
  if (o->has_pool_fraction) cfg->spot.max_pool_fraction = o->pool_fraction;
  if (o->has_restart_cost) cfg->spot.restart_cost = o->restart_cost;
  if (o->has_headroom_unit) {
    cfg->headroom = o->unit.count > 0 ? &o->unit : NULL;
    cfg->nheadroom = o->unit.count > 0 ? 1 : 0;
  }
  if (o->has_headroom_percent) cfg->headroom_percent = o->headroom_percent;
  if (o->has_sched_names) {
    cfg->scheduler_names = o->sched_names;
    cfg->nscheduler_names = (uint32_t)o->nsched_names;
  }
  if (o->has_cutoff) cfg->priority_cutoff = o->cutoff;
  if (o->has_node_cost) cfg->node_cost = o->node_cost;
  if (o->has_gap_tolerance) cfg->gap_tolerance = o->gap_tolerance;
  o->allowed = cfg->capacity_types;
  stv_config_format_capacity_types(cfg->capacity_types, o->capacity_types, sizeof(o->capacity_types));
  return 0;
}
