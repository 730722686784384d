/*
 * `stevedore recommend`: a dry-run plan for the pending pods of a cluster
 * snapshot. Reads every --snapshot, loads the catalogue, packs, and prints
 * the plan as a table for a person or as JSON for tools. The whole output
 * is built in memory first, so a failure prints nothing on stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "controller.h"
#include "pricing.h"
#include "snapshot.h"
#include "kubeclient.h"

#define HOURS_PER_MONTH 730.0
/* The most names --scheduler-names takes. */
#define STV_MAX_SCHEDULER_NAMES 32

struct recommend_opts {
  const char **snapshots;
  size_t nsnapshots;
  const char *catalog;
  const char *config; /* --config FILE, or NULL */
  int json;
  int quiet;
  /* Flags that override the configuration file, each with whether it was given. */
  int has_capacity_types, has_time_limit, has_max_share, has_pool_fraction, has_restart_cost;
  int has_headroom_unit, has_headroom_percent;
  unsigned allowed;
  double time_limit, max_share, pool_fraction, restart_cost, headroom_percent;
  struct stv_headroom_unit unit; /* --headroom-count/-cpu/-memory */
  char capacity_types[64];       /* the allowed types, for the table's header */
  int repack;                    /* --mode repack */
  int repack_system_pods;        /* --repack-system-pods */
  /* --scheduler-names (split in place in sched_buf) and --expendable-pods-priority-cutoff */
  int has_sched_names, has_cutoff;
  char *sched_buf;
  const char *sched_names[STV_MAX_SCHEDULER_NAMES];
  size_t nsched_names;
  int32_t cutoff;
  const char *kubeconfig, *context; /* --kubeconfig, --context: read the live cluster */
};

static void usage(FILE *f) {
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
             "  -c, --catalog SPEC         aws:us-east-1 (default), gcp:us-east1, or a catalogue\n"
             "                             JSON file (format in docs/catalog.md)\n"
             "      --config FILE          configuration file (YAML, docs/config.md); the flags\n"
             "                             below override it\n"
             "      --capacity-types LIST  comma-separated: reserved,spot,on-demand\n"
             "                             (default all three)\n"
             "      --time-limit DURATION  budget for the whole command (reading counts; the optimizer\n"
             "                             gets the rest): seconds or 500ms, 10s, 2m (default 10s;\n"
             "                             0: the heuristic's plan only)\n"
             "      --spot-max-share X     at most this share (0..1) of new-node cost on spot (1)\n"
             "      --spot-max-pool-fraction X\n"
             "                             at most this share (0..1) of new spot nodes in one\n"
             "                             instance type x zone (0.3)\n"
             "      --spot-restart-cost X  cost of restarting a pod after an interruption (0.10)\n"
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
  O_CONTEXT
};

static int parse_opts(int argc, char **argv, struct recommend_opts *o, struct stv_err *err) {
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
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int ch;
  memset(o, 0, sizeof(*o));
  o->catalog = "aws:us-east-1";
  o->unit.count = 1;
  o->snapshots = stv_calloc((size_t)argc + 1, sizeof(*o->snapshots));
  if (o->snapshots == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  opterr = 0;
  optind = 1;
  while ((ch = getopt_long(argc, argv, ":s:c:o:m:qh", longopts, NULL)) != -1) {
    switch (ch) {
    case 's':
      o->snapshots[o->nsnapshots++] = optarg;
      break;
    case 'c':
      o->catalog = optarg;
      break;
    case O_CONFIG:
      o->config = optarg;
      break;
    case O_CAPACITY_TYPES:
      if (stv_config_parse_capacity_types(optarg, &o->allowed, err) != 0)
        return flag_error(err, "--capacity-types");
      o->has_capacity_types = 1;
      break;
    case 'o':
      if (strcmp(optarg, "json") == 0)
        o->json = 1;
      else if (strcmp(optarg, "table") == 0)
        o->json = 0;
      else
        return stv_err_set(err, STV_EINVAL, "--output: unknown format \"%s\" (use table or json)", optarg);
      break;
    case 'q':
      o->quiet = 1;
      break;
    case 'm':
      if (strcmp(optarg, "repack") == 0)
        o->repack = 1;
      else if (strcmp(optarg, "pending") == 0)
        o->repack = 0;
      else
        return stv_err_set(err, STV_EINVAL, "--mode: unknown mode \"%s\" (use pending or repack)", optarg);
      break;
    case O_REPACK_SYSTEM:
      o->repack_system_pods = 1;
      break;
    case O_TIME_LIMIT:
      if (stv_config_parse_duration(optarg, &o->time_limit, err) != 0) return flag_error(err, "--time-limit");
      o->has_time_limit = 1;
      break;
    case O_MAX_SHARE:
      if (stv_config_parse_number(optarg, 0, 1, &o->max_share, err) != 0)
        return flag_error(err, "--spot-max-share");
      o->has_max_share = 1;
      break;
    case O_POOL_FRACTION:
      if (stv_config_parse_number(optarg, 0, 1, &o->pool_fraction, err) != 0)
        return flag_error(err, "--spot-max-pool-fraction");
      o->has_pool_fraction = 1;
      break;
    case O_RESTART_COST:
      if (stv_config_parse_number(optarg, 0, 1e9, &o->restart_cost, err) != 0)
        return flag_error(err, "--spot-restart-cost");
      o->has_restart_cost = 1;
      break;
    case O_HR_COUNT: {
      double n;
      if (stv_config_parse_number(optarg, 0, STV_HEADROOM_COUNT_MAX, &n, err) != 0)
        return flag_error(err, "--headroom-count");
      if (n != (double)(uint32_t)n)
        return stv_err_set(err, STV_EINVAL, "--headroom-count: \"%s\" is not a whole number", optarg);
      o->unit.count = (uint32_t)n;
      o->has_headroom_unit = 1;
      break;
    }
    case O_HR_CPU:
    case O_HR_MEMORY: {
      int cpu = ch == O_HR_CPU;
      int64_t v;
      int rc = stv_quantity_parse(optarg, cpu, &v, err);
      if (rc == 0 && v < 0) rc = stv_err_set(err, STV_EINVAL, "negative quantity \"%s\"", optarg);
      if (rc != 0) return flag_error(err, cpu ? "--headroom-cpu" : "--headroom-memory");
      if (cpu)
        o->unit.cpu = v;
      else
        o->unit.memory = v;
      o->has_headroom_unit = 1;
      break;
    }
    case O_HR_AUTO:
      if (stv_config_parse_percent(optarg, 1, &o->headroom_percent, err) != 0)
        return flag_error(err, "--headroom-automatic");
      o->has_headroom_percent = 1;
      break;
    case O_SCHED_NAMES:
      stv_free(o->sched_buf);
      if ((o->sched_buf = stv_malloc(strlen(optarg) + 1)) == NULL)
        return stv_err_set(err, STV_ENOMEM, "out of memory");
      memcpy(o->sched_buf, optarg, strlen(optarg) + 1);
      if (stv_config_parse_scheduler_names(o->sched_buf, o->sched_names, STV_MAX_SCHEDULER_NAMES,
                                           &o->nsched_names, err) != 0)
        return flag_error(err, "--scheduler-names");
      o->has_sched_names = 1;
      break;
    case O_PRIORITY_CUTOFF:
      if (stv_config_parse_priority(optarg, &o->cutoff, err) != 0)
        return flag_error(err, "--expendable-pods-priority-cutoff");
      o->has_cutoff = 1;
      break;
    case O_KUBECONFIG:
      o->kubeconfig = optarg;
      break;
    case O_CONTEXT:
      o->context = optarg;
      break;
    case 'h':
      return 1;
    case ':':
      return stv_err_set(err, STV_EINVAL, "%s needs a value", argv[optind - 1]);
    default:
      return stv_err_set(err, STV_EINVAL, "unknown option %s (see stevedore recommend --help)",
                         argv[optind - 1]);
    }
  }
  if (o->repack_system_pods && !o->repack)
    return stv_err_set(err, STV_EINVAL, "--repack-system-pods: only with --mode repack");
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

/*
 * Loads --config (when given) into cfg, then lets the flags override it.
 * cfg is initialised here and closed by the caller whatever the result.
 */
static int settle_config(struct recommend_opts *o, struct stv_config *cfg, struct stv_err *err) {
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
  o->allowed = cfg->capacity_types;
  stv_config_format_capacity_types(cfg->capacity_types, o->capacity_types, sizeof(o->capacity_types));
  return 0;
}

/*
 * The plan table is built in a base buffer (so that a failure prints
 * nothing), capped: a table past this size is a runaway, not a plan to read.
 */
#define TABLE_MAX_BYTES ((size_t)256 << 20)

/* Appends printf-style text to b; the first failure stays in b->err. */
static void out_printf(struct stv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct stv_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  stv_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

/* Width the table's sentences are wrapped to. */
#define TABLE_TEXT_WIDTH 100

/*
 * Prints text (borrowed) as lines of at most TABLE_TEXT_WIDTH columns, broken
 * at spaces: the first line after first, the others after indent. A word
 * longer than a line is printed whole.
 */
static void out_wrapped(struct stv_buf *b, const char *first, const char *indent, const char *text) {
  const char *p = text, *lead = first;
  while (*p) {
    size_t room = TABLE_TEXT_WIDTH - strlen(lead), len = strlen(p), cut;
    if (len <= room) {
      cut = len;
    } else {
      cut = room;
      while (cut > 0 && p[cut] != ' ') cut--;
      if (cut == 0)
        for (cut = room; p[cut] && p[cut] != ' '; cut++) continue;
    }
    out_printf(b, "%s%.*s\n", lead, (int)cut, p);
    p += cut;
    while (*p == ' ') p++;
    lead = indent;
  }
}

static const char *plan_node_type(const struct stv_problem *pb, const struct stv_plan_node *pn) {
  if (pn->existing >= 0) return pb->snap->nodes[pn->existing].instance_type;
  return pb->tmpl[pn->tmpl].instance_type;
}

/* ---------------------------------------------------------------------- */
/* JSON                                                                   */

static cJSON *labels_json(const struct stv_labels *l, const char *hostname) {
  cJSON *o = cJSON_CreateObject();
  uint32_t i;
  int done = hostname == NULL;
  if (o == NULL) return NULL;
  for (i = 0; i <= l->n; i++) {
    /* Keep keys sorted: kubernetes.io/hostname goes in its place. */
    if (!done && (i == l->n || strcmp(l->kv[i].key, "kubernetes.io/hostname") > 0)) {
      if (!cJSON_AddStringToObject(o, "kubernetes.io/hostname", hostname)) goto fail;
      done = 1;
    }
    if (i < l->n && !cJSON_AddStringToObject(o, l->kv[i].key, l->kv[i].value)) goto fail;
  }
  return o;
fail:
  cJSON_Delete(o);
  return NULL;
}

/* Adds "taints": [{key, value, effect}] of template t to n; 0 on ENOMEM. */
static int add_taints_json(cJSON *n, const struct stv_template *t) {
  cJSON *arr = cJSON_AddArrayToObject(n, "taints");
  uint32_t i;
  if (arr == NULL) return 0;
  for (i = 0; i < t->ntaints; i++) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      return 0;
    }
    if (!cJSON_AddStringToObject(o, "key", t->taints[i].key) ||
        !cJSON_AddStringToObject(o, "value", t->taints[i].value ? t->taints[i].value : "") ||
        !cJSON_AddStringToObject(o, "effect", stv_effect_name(t->taints[i].effect)))
      return 0;
  }
  return 1;
}

static int is_headroom(const struct stv_snapshot *s, uint32_t pod) {
  return (s->pods[pod].flags & STV_POD_HEADROOM) != 0;
}

/* Headroom pods among a plan node's pods. */
static uint32_t node_headroom(const struct stv_snapshot *s, const struct stv_plan_node *pn) {
  uint32_t q, n = 0;
  for (q = 0; q < pn->npods; q++) n += (uint32_t)is_headroom(s, pn->pods[q]);
  return n;
}

/* What headroom's virtual pods asked for, where they went and what they cost. */
struct headroom_stats {
  size_t pods, placed, unplaced;
  size_t on_existing, on_new; /* pods */
  size_t new_nodes;           /* new nodes holding any */
  int64_t cpu, memory;        /* asked by all of them */
  double hourly_cost;
  const char *unplaced_reason; /* of the first one not placed */
};

/*
 * The hourly cost of headroom is the share of each new node that its
 * virtual pods take: the node's price times the sum, over its headroom
 * pods, of each pod's dominant share (the larger of its cpu and memory
 * requests over the node's allocatable), capped at 1. Headroom on existing
 * nodes costs nothing more.
 */
static void headroom_stats(const struct stv_recommend_result *r, struct headroom_stats *h) {
  const struct stv_problem *pb = &r->problem;
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = pb->snap;
  size_t i;
  memset(h, 0, sizeof(*h));
  if (r->headroom.npods == 0) return;
  for (i = 0; i < s->npods; i++) {
    if (!is_headroom(s, (uint32_t)i)) continue;
    h->pods++;
  }
  /* Summed in checked arithmetic when the virtual pods were added. */
  h->cpu = r->headroom.cpu;
  h->memory = r->headroom.memory;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    const struct stv_template *t;
    double share = 0;
    uint32_t q, n = node_headroom(s, pn);
    if (n == 0) continue;
    h->placed += n;
    if (pn->existing >= 0) {
      h->on_existing += n;
      continue;
    }
    h->on_new += n;
    h->new_nodes++;
    t = &pb->tmpl[pn->tmpl];
    for (q = 0; q < pn->npods; q++) {
      const struct stv_class *c = s->classes[s->pods[pn->pods[q]].cls];
      double cpu = 0, mem = 0;
      if (!is_headroom(s, pn->pods[q])) continue;
      if (t->alloc[STV_RES_CPU] > 0) cpu = (double)c->req[STV_RES_CPU] / (double)t->alloc[STV_RES_CPU];
      if (t->alloc[STV_RES_MEMORY] > 0)
        mem = (double)c->req[STV_RES_MEMORY] / (double)t->alloc[STV_RES_MEMORY];
      share += cpu > mem ? cpu : mem;
    }
    h->hourly_cost += t->price * (share < 1 ? share : 1);
  }
  for (i = 0; i < plan->nunsched; i++) {
    if (!is_headroom(s, plan->unsched[i].pod)) continue;
    if (h->unplaced++ == 0) h->unplaced_reason = plan->unsched[i].reason;
  }
}

static int add_quantity(cJSON *o, const char *key, int64_t v, int milli) {
  char q[40];
  return cJSON_AddStringToObject(o, key, stv_quantity_format(v, milli, !milli, q, sizeof(q))) != NULL;
}

/* summary.headroom: what the virtual pods asked for, where they went, their units. */
static int headroom_json(cJSON *sum, const struct stv_recommend_result *r, const struct headroom_stats *h) {
  cJSON *o = cJSON_AddObjectToObject(sum, "headroom"), *units;
  size_t i;
  if (o == NULL) return 0;
  cJSON_AddNumberToObject(o, "pods", (double)h->pods);
  cJSON_AddNumberToObject(o, "placed", (double)h->placed);
  cJSON_AddNumberToObject(o, "unplaced", (double)h->unplaced);
  if (!add_quantity(o, "cpu", h->cpu, 1) || !add_quantity(o, "memory", h->memory, 0)) return 0;
  cJSON_AddNumberToObject(o, "on_existing_nodes", (double)h->on_existing);
  cJSON_AddNumberToObject(o, "on_new_nodes", (double)h->on_new);
  cJSON_AddNumberToObject(o, "hourly_cost", h->hourly_cost);
  if (h->unplaced > 0) cJSON_AddStringToObject(o, "unplaced_reason", h->unplaced_reason);
  units = cJSON_AddArrayToObject(o, "units");
  if (units == NULL) return 0;
  for (i = 0; i < r->headroom.nunits; i++) {
    const struct stv_headroom_unit *u = &r->headroom.units[i];
    cJSON *e = cJSON_CreateObject();
    if (e == NULL || !cJSON_AddItemToArray(units, e)) {
      cJSON_Delete(e);
      return 0;
    }
    cJSON_AddNumberToObject(e, "count", (double)u->count);
    if (!add_quantity(e, "cpu", u->cpu, 1) || !add_quantity(e, "memory", u->memory, 0)) return 0;
    if (!cJSON_AddBoolToObject(e, "automatic", r->headroom.automatic && i + 1 == r->headroom.nunits))
      return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------------- */
/* Why the gap to the lower bound may be large                            */

/* A gap above this (relative to the bound) gets its likely reasons named. */
#define GAP_EXPLAIN_ABOVE 0.10
#define GAP_REASONS_MAX   8

struct gap_reason {
  const char *code; /* machine-readable, documented in README.md */
  char text[320];   /* for a person */
};

struct gap_explain {
  double gap; /* (cost - bound) / bound; negative when there is no usable bound */
  size_t n;
  struct gap_reason r[GAP_REASONS_MAX];
};

static void gap_add(struct gap_explain *g, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void gap_add(struct gap_explain *g, const char *code, const char *fmt, ...) {
  va_list ap;
  if (g->n == GAP_REASONS_MAX) return;
  g->r[g->n].code = code;
  va_start(ap, fmt);
  vsnprintf(g->r[g->n].text, sizeof(g->r[g->n].text), fmt, ap);
  va_end(ap);
  g->n++;
}

/* What the lower bound is, in a few words, for the table. */
static const char *bound_kind_text(int kind) {
  if (kind == STV_BOUND_PATTERNS)
    return "the optimizer's bound over whole-node packings; it ignores only that nodes "
           "are bought whole";
  return "a resource-only bound that ignores spread and anti-affinity rules, node selectors, spot limits and "
         "how "
         "pods split across nodes";
}

static const char *bound_kind_name(int kind) {
  return kind == STV_BOUND_PATTERNS ? "patterns" : "resources";
}

/* Sets *host for a rule on kubernetes.io/hostname, *zone for any other key. */
static void mark_topology(const char *key, int *host, int *zone) {
  if (strcmp(key, "kubernetes.io/hostname") == 0)
    *host = 1;
  else
    *zone = 1;
}

/*
 * Names what the code can tell about a large gap between the plan's cost
 * and its lower bound: most often the bound, not the plan, is loose. Only
 * reasons that hold for this plan are given, the kind of bound deciding
 * which model's blind spots matter. Fills g (g->n = 0 when the gap is
 * small or there is no bound).
 */
static void explain_gap(const struct stv_recommend_result *r, struct gap_explain *g) {
  const struct stv_problem *pb = &r->problem;
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = pb->snap;
  const char *cur = pb->currency ? pb->currency : "USD";
  size_t i, host = 0, zone = 0, selective = 0, on_existing = 0, nexisting = 0, nspot = 0, ndims = 0, k;
  int resources = plan->lower_bound_kind != STV_BOUND_PATTERNS;
  int64_t demand[STV_MAX_RES];
  double rounding = 0, gap_abs;
  uint32_t q, t;
  memset(g, 0, sizeof(*g));
  g->gap = -1;
  if (!plan->has_lower_bound || plan->lower_bound <= 0 || plan->nnew == 0) return;
  g->gap = (plan->new_cost - plan->lower_bound) / plan->lower_bound;
  if (g->gap <= GAP_EXPLAIN_ABOVE) return;
  gap_abs = plan->new_cost - plan->lower_bound;
  memset(demand, 0, sizeof(demand));
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    if (pn->existing >= 0) {
      on_existing += pn->npods - node_headroom(s, pn);
      nexisting++;
      continue;
    }
    if (pb->tmpl[pn->tmpl].capacity_type == STV_CT_SPOT) nspot++;
    for (q = 0; q < pn->npods; q++) {
      const struct stv_class *c = s->classes[s->pods[pn->pods[q]].cls];
      int h = 0, z = 0;
      for (k = 0; k < STV_MAX_RES; k++) demand[k] += c->req[k];
      for (t = 0; t < c->nanti; t++) mark_topology(c->anti[t].topology_key, &h, &z);
      for (t = 0; t < c->naff; t++) mark_topology(c->aff[t].topology_key, &h, &z);
      for (t = 0; t < c->nspread; t++)
        if (c->spread[t].do_not_schedule) mark_topology(c->spread[t].topology_key, &h, &z);
      host += (size_t)h;
      zone += (size_t)z;
      selective += c->node_selector.n > 0 || c->affinity.n > 0;
    }
  }
  for (k = 0; k < STV_MAX_RES; k++) ndims += demand[k] > 0;
  if (!plan->optimized)
    gap_add(
        g, "optimizer_off",
        "the optimizer did not run (--time-limit 0): this is the heuristic's first plan, and the bound is "
        "its resource-only bound");
  else if (!plan->lp_converged)
    gap_add(
        g, "optimizer_stopped",
        "the optimizer's LP did not converge within the time limit: a longer --time-limit may find a cheaper "
        "plan or a tighter bound");
  if (resources) {
    if (host > 0)
      gap_add(
          g, "hostname_rules",
          "%zu pod%s on new nodes %s hostname anti-affinity, affinity or spread rules (how many may share a "
          "node), which the bound ignores",
          host, host == 1 ? "" : "s", host == 1 ? "has" : "have");
    if (zone > 0)
      gap_add(g, "zone_rules",
              "%zu pod%s on new nodes %s zone affinity, anti-affinity or spread rules, which the bound "
              "ignores: it "
              "buys capacity in whichever zone is cheapest",
              zone, zone == 1 ? "" : "s", zone == 1 ? "has" : "have");
    if (selective > 0)
      gap_add(
          g, "node_selection",
          "%zu pod%s on new nodes select%s particular nodes (nodeSelector or required node affinity), while "
          "the bound buys capacity of whichever instance type is cheapest",
          selective, selective == 1 ? "" : "s", selective == 1 ? "s" : "");
    if (on_existing > 0)
      gap_add(g, "existing_room",
              "%zu pod%s went to %zu existing node%s: the bound counts the free room of all existing nodes "
              "as one "
              "pool, though a pod cannot be split across nodes",
              on_existing, on_existing == 1 ? "" : "s", nexisting, nexisting == 1 ? "" : "s");
    if (nspot > STV_SPOT_POOL_GRACE && (pb->spot.max_pool_fraction < 1.0 || pb->spot.max_share < 1.0))
      gap_add(
          g, "spot_limits",
          "the spot limits (--spot-max-pool-fraction %.2g, --spot-max-share %.2g) spread the %zu spot nodes "
          "over several pools or onto on-demand; the bound ignores them",
          pb->spot.max_pool_fraction, pb->spot.max_share, nspot);
  }
  /*
   * Whole-node rounding: a basic solution of either LP buys fractions of at
   * most one node per constraint. When the gap is no more than the price of
   * that many of the plan's dearest new nodes, rounding alone may explain it.
   */
  if (ndims > plan->nnew) ndims = plan->nnew;
  if (ndims > 0) {
    /* The ndims (at most STV_MAX_RES) dearest new nodes, kept sorted, dearest first. */
    double top[STV_MAX_RES];
    size_t n = 0, j;
    for (i = 0; i < plan->nnodes; i++) {
      double price;
      if (plan->nodes[i].existing >= 0) continue;
      price = pb->tmpl[plan->nodes[i].tmpl].price;
      if (n == ndims && price <= top[n - 1]) continue;
      if (n < ndims) n++;
      for (j = n - 1; j > 0 && top[j - 1] < price; j--) top[j] = top[j - 1];
      top[j] = price;
    }
    for (k = 0; k < n; k++) rounding += top[k];
    if (gap_abs <= rounding + 1e-12)
      gap_add(
          g, "whole_nodes",
          "only %zu new node%s: the bound may buy fractions of nodes, and the gap (%.4f %s/hour) is no more "
          "than the price of the plan's %zu dearest node%s (%.4f %s/hour), which buying whole nodes alone "
          "can "
          "cost",
          plan->nnew, plan->nnew == 1 ? "" : "s", gap_abs, cur, n, n == 1 ? "" : "s", rounding, cur);
  }
}

/* summary.lower_bound_kind and summary.gap_reasons; 0 on ENOMEM. */
static int gap_json(cJSON *sum, const struct stv_plan *plan, const struct gap_explain *g) {
  cJSON *arr;
  size_t i;
  if (plan->has_lower_bound &&
      !cJSON_AddStringToObject(sum, "lower_bound_kind", bound_kind_name(plan->lower_bound_kind)))
    return 0;
  if ((arr = cJSON_AddArrayToObject(sum, "gap_reasons")) == NULL) return 0;
  for (i = 0; i < g->n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      return 0;
    }
    if (!cJSON_AddStringToObject(o, "code", g->r[i].code) ||
        !cJSON_AddStringToObject(o, "text", g->r[i].text))
      return 0;
  }
  return 1;
}

/* "ns/name" of pod i of s into buf. */
static const char *pod_key(const struct stv_snapshot *s, uint32_t i, char *buf, size_t size) {
  snprintf(buf, size, "%s/%s", s->pods[i].ns, s->pods[i].name);
  return buf;
}

/* Adds "preempts" (the victims evicted there) to the JSON of existing node index node. */
static int preempts_json(cJSON *n, const struct stv_snapshot *s, const struct stv_plan *plan, int32_t node) {
  cJSON *arr = NULL;
  char name[600];
  size_t i;
  uint32_t k;
  for (i = 0; i < plan->npreemptions; i++) {
    const struct stv_plan_preemption *e = &plan->preemptions[i];
    if (e->node != node) continue;
    if (arr == NULL && (arr = cJSON_AddArrayToObject(n, "preempts")) == NULL) return 0;
    for (k = 0; k < e->nvictims; k++)
      if (!cJSON_AddItemToArray(arr, cJSON_CreateString(pod_key(s, e->victims[k], name, sizeof(name)))))
        return 0;
  }
  return 1;
}

/* "preemptions" and "not_planned" of the plan's JSON. */
static int skipped_json(cJSON *root, const struct stv_snapshot *s, const struct stv_plan *plan) {
  cJSON *pre = cJSON_AddArrayToObject(root, "preemptions"), *np;
  char name[600];
  size_t i;
  uint32_t k;
  if (pre == NULL) return 0;
  for (i = 0; i < plan->npreemptions; i++) {
    const struct stv_plan_preemption *e = &plan->preemptions[i];
    cJSON *o = cJSON_CreateObject(), *v;
    if (o == NULL || !cJSON_AddItemToArray(pre, o)) return 0;
    if (!cJSON_AddStringToObject(o, "pod", pod_key(s, e->pod, name, sizeof(name))) ||
        !cJSON_AddNumberToObject(o, "priority", s->pods[e->pod].priority) ||
        !cJSON_AddStringToObject(o, "node", s->nodes[e->node].name) ||
        (v = cJSON_AddArrayToObject(o, "victims")) == NULL ||
        !cJSON_AddNumberToObject(o, "pdb_violations", e->pdb_violations))
      return 0;
    for (k = 0; k < e->nvictims; k++)
      if (!cJSON_AddItemToArray(v, cJSON_CreateString(pod_key(s, e->victims[k], name, sizeof(name)))))
        return 0;
  }
  if ((np = cJSON_AddArrayToObject(root, "not_planned")) == NULL) return 0;
  for (i = 0; i < plan->nskipped; i++) {
    const struct stv_plan_skip *e = &plan->skipped[i];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddItemToArray(np, o)) return 0;
    if (!cJSON_AddStringToObject(o, "pod", pod_key(s, e->pod, name, sizeof(name))) ||
        !cJSON_AddStringToObject(o, "category", stv_not_planned_name((enum stv_not_planned)e->category)) ||
        !cJSON_AddStringToObject(o, "reason", e->reason))
      return 0;
  }
  return 1;
}

static cJSON *plan_json(const struct stv_recommend_result *r) {
  const struct stv_problem *pb = &r->problem;
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = pb->snap;
  cJSON *root = cJSON_CreateObject(), *sum, *nodes, *un;
  struct headroom_stats h;
  char name[600];
  size_t i;
  uint32_t q;
  if (root == NULL) return NULL;
  headroom_stats(r, &h);
  sum = cJSON_AddObjectToObject(root, "summary");
  if (sum == NULL) goto out;
  /* Headroom's virtual pods are not counted as pods: they have their own summary. */
  cJSON_AddNumberToObject(sum, "pending_pods", (double)(plan->npending - h.pods));
  cJSON_AddNumberToObject(sum, "placed_pods", (double)(plan->nplaced - h.placed));
  cJSON_AddNumberToObject(sum, "unschedulable_pods", (double)(plan->nunsched - h.unplaced));
  cJSON_AddNumberToObject(sum, "not_planned_pods", (double)plan->nskipped);
  cJSON_AddNumberToObject(sum, "preemptions", (double)plan->npreemptions);
  cJSON_AddNumberToObject(sum, "preempted_pods", (double)plan->nvictims);
  cJSON_AddNumberToObject(sum, "new_nodes", (double)plan->nnew);
  cJSON_AddNumberToObject(sum, "new_nodes_hourly_cost", plan->new_cost);
  if (plan->has_lower_bound) {
    cJSON_AddNumberToObject(sum, "lower_bound_hourly_cost", plan->lower_bound);
    /* The gap: how far above the bound the plan may be, relative to the bound. */
    if (plan->lower_bound > 0)
      cJSON_AddNumberToObject(sum, "gap", (plan->new_cost - plan->lower_bound) / plan->lower_bound);
  }
  cJSON_AddStringToObject(sum, "currency", pb->currency ? pb->currency : "USD");
  if (plan->optimized) {
    cJSON *opt = cJSON_AddObjectToObject(sum, "optimizer");
    if (opt == NULL) goto out;
    cJSON_AddNumberToObject(opt, "heuristic_hourly_cost", plan->heuristic_cost);
    cJSON_AddBoolToObject(opt, "lp_converged", plan->lp_converged);
    cJSON_AddNumberToObject(opt, "columns", (double)plan->columns);
  }
  if (plan->spot_limits_broken) cJSON_AddBoolToObject(sum, "spot_limits_broken", 1);
  {
    struct gap_explain gx;
    explain_gap(r, &gx);
    if (!gap_json(sum, plan, &gx)) goto out;
  }
  if (r->headroom.npods > 0 && !headroom_json(sum, r, &h)) goto out;
  if (r->stats.pvcs + r->stats.pvs + r->stats.storage_classes + r->stats.csinodes != 0 ||
      r->stats.vol_unchecked_pods != 0) {
    cJSON *vol = cJSON_AddObjectToObject(sum, "volumes");
    if (vol == NULL) goto out;
    cJSON_AddNumberToObject(vol, "unchecked_pods", (double)r->stats.vol_unchecked_pods);
    cJSON_AddNumberToObject(vol, "blocked_pods", (double)r->stats.vol_blocked_pods);
    cJSON_AddNumberToObject(vol, "attach_limited_drivers", (double)r->stats.attach_drivers);
  }
  nodes = cJSON_AddArrayToObject(root, "nodes");
  if (nodes == NULL) goto out;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    cJSON *n = cJSON_CreateObject(), *pods, *labels;
    const char *type = plan_node_type(pb, pn);
    if (n == NULL || !cJSON_AddItemToArray(nodes, n)) goto out;
    cJSON_AddStringToObject(n, "name", pn->name);
    cJSON_AddBoolToObject(n, "new", pn->existing < 0);
    if (type)
      cJSON_AddStringToObject(n, "instance_type", type);
    else
      cJSON_AddNullToObject(n, "instance_type");
    if (pn->existing < 0) {
      const struct stv_template *t = &pb->tmpl[pn->tmpl];
      cJSON_AddStringToObject(n, "capacity_type", stv_capacity_type_name(t->capacity_type));
      cJSON_AddStringToObject(n, "zone", t->zone ? t->zone : "");
      cJSON_AddNumberToObject(n, "hourly_cost", t->price);
      if (t->pool)
        cJSON_AddStringToObject(n, "pool", t->pool);
      else
        cJSON_AddNullToObject(n, "pool");
      if (!add_taints_json(n, t)) goto out;
      labels = labels_json(&t->labels, pn->name);
    } else {
      const struct stv_node *e = &s->nodes[pn->existing];
      if (e->capacity_type)
        cJSON_AddStringToObject(n, "capacity_type", e->capacity_type);
      else
        cJSON_AddNullToObject(n, "capacity_type");
      if (e->zone)
        cJSON_AddStringToObject(n, "zone", e->zone);
      else
        cJSON_AddNullToObject(n, "zone");
      cJSON_AddNumberToObject(n, "hourly_cost", 0);
      if (!preempts_json(n, s, plan, pn->existing)) goto out;
      labels = labels_json(&e->labels, NULL);
    }
    if (labels == NULL || !cJSON_AddItemToObject(n, "labels", labels)) goto out;
    pods = cJSON_AddArrayToObject(n, "pods");
    if (pods == NULL) goto out;
    for (q = 0; q < pn->npods; q++) {
      const struct stv_pod *p = &s->pods[pn->pods[q]];
      snprintf(name, sizeof(name), "%s/%s", p->ns, p->name);
      if (!cJSON_AddItemToArray(pods, cJSON_CreateString(name))) goto out;
    }
  }
  un = cJSON_AddArrayToObject(root, "unschedulable");
  if (un == NULL) goto out;
  for (i = 0; i < plan->nunsched; i++) {
    const struct stv_pod *p = &s->pods[plan->unsched[i].pod];
    cJSON *u;
    if (is_headroom(s, plan->unsched[i].pod)) continue;
    u = cJSON_CreateObject();
    if (u == NULL || !cJSON_AddItemToArray(un, u)) goto out;
    snprintf(name, sizeof(name), "%s/%s", p->ns, p->name);
    cJSON_AddStringToObject(u, "pod", name);
    cJSON_AddStringToObject(u, "reason", plan->unsched[i].reason);
  }
  if ((un = cJSON_AddArrayToObject(root, "notes")) == NULL) goto out;
  for (i = 0; i < r->nnotes; i++)
    if (!cJSON_AddItemToArray(un, cJSON_CreateString(r->notes[i]))) goto out;
  if (!skipped_json(root, s, plan)) goto out;
  return root;
out:
  cJSON_Delete(root);
  return NULL;
}

/* The table's sections for preemptions and for pods not planned. */
static void table_skipped(const struct stv_snapshot *s, const struct stv_plan *plan, struct stv_buf *b) {
  char name[600];
  size_t i, j;
  uint32_t k;
  if (plan->npreemptions > 0) {
    out_printf(b, "Preemptions on existing nodes\n");
    for (i = 0; i < plan->npreemptions && i < 50; i++) {
      const struct stv_plan_preemption *e = &plan->preemptions[i];
      out_printf(b, "  %s (priority %d) on %s evicts", pod_key(s, e->pod, name, sizeof(name)),
                 (int)s->pods[e->pod].priority, s->nodes[e->node].name);
      for (k = 0; k < e->nvictims; k++)
        out_printf(b, "%s %s (%d)", k ? "," : "", pod_key(s, e->victims[k], name, sizeof(name)),
                   (int)s->pods[e->victims[k]].priority);
      if (e->pdb_violations) out_printf(b, "; %u against a PodDisruptionBudget", e->pdb_violations);
      out_printf(b, "\n");
    }
    if (i < plan->npreemptions) out_printf(b, "  ... (use --output json for the full list)\n");
    out_printf(b, "\n");
  }
  if (plan->nskipped > 0) {
    size_t shown = 0;
    out_printf(b, "Not planned (the scheduler will not take them, or no node is bought for them)\n");
    for (i = 0; i < plan->nskipped && shown < 50; i++) {
      size_t n = 0;
      for (j = 0; j < i; j++)
        if (strcmp(plan->skipped[j].reason, plan->skipped[i].reason) == 0) break;
      if (j < i) continue;
      for (j = i; j < plan->nskipped; j++) n += strcmp(plan->skipped[j].reason, plan->skipped[i].reason) == 0;
      pod_key(s, plan->skipped[i].pod, name, sizeof(name));
      if (n == 1)
        out_printf(b, "  %s: %s\n", name, plan->skipped[i].reason);
      else
        out_printf(b, "  %s and %zu more like it: %s\n", name, n - 1, plan->skipped[i].reason);
      shown++;
    }
    if (shown == 50) out_printf(b, "  ... (use --output json for the full list)\n");
    out_printf(b, "\n");
  }
}

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
                         pod_key(s, e->pod, name, sizeof(name)), (int)s->pods[e->pod].priority, e->nvictims,
                         e->nvictims == 1 ? "" : "s", s->nodes[e->node].name);
    for (k = 0; k < e->nvictims && n < sizeof(line); k++)
      n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s", k ? "," : "",
                            pod_key(s, e->victims[k], name, sizeof(name)));
    fprintf(stderr, "stevedore recommend: note: %s%s; the victims are planned again like pending pods\n",
            line, e->pdb_violations ? " (breaking a PodDisruptionBudget: no other node would do)" : "");
  }
  if (plan->npreemptions > 10)
    fprintf(stderr, "stevedore recommend: note: %zu more preemptions (see preemptions in --output json)\n",
            plan->npreemptions - 10);
}

/* ---------------------------------------------------------------------- */
/* Table                                                                  */

struct row {
  const char *type, *ct, *zone, *pool;
  double price;
  size_t count;
  size_t pods, headroom;
};

static int cmp_row(const void *a, const void *b) {
  const struct row *x = a, *y = b;
  double cx = x->price * (double)x->count, cy = y->price * (double)y->count;
  int c;
  if (cx != cy) return cx < cy ? 1 : -1;
  if ((c = strcmp(x->type, y->type)) != 0) return c;
  if ((c = strcmp(x->zone, y->zone)) != 0) return c;
  if ((c = strcmp(x->ct, y->ct)) != 0) return c;
  return strcmp(x->pool, y->pool);
}

static int render_table(const struct stv_recommend_result *r, const struct recommend_opts *o,
                        struct stv_buf *b) {
  const struct stv_problem *pb = &r->problem;
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = pb->snap;
  struct row *rows = stv_calloc(plan->nnodes + 1, sizeof(*rows));
  size_t nrows = 0, i, j, nexisting = 0, on_existing = 0, on_new = 0;
  struct headroom_stats h;
  int pools = 0, hr = r->headroom.npods > 0;
  const char *cur = pb->currency ? pb->currency : "USD";
  char qc[40], qm[40];
  if (rows == NULL) return STV_ENOMEM;
  headroom_stats(r, &h);
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    const struct stv_template *t;
    uint32_t nh = node_headroom(s, pn);
    if (pn->existing >= 0) {
      nexisting++;
      on_existing += pn->npods - nh;
      continue;
    }
    on_new += pn->npods - nh;
    t = &pb->tmpl[pn->tmpl];
    for (j = 0; j < nrows; j++)
      if (rows[j].type == t->instance_type && rows[j].zone == (t->zone ? t->zone : "") &&
          rows[j].pool == (t->pool ? t->pool : "") &&
          strcmp(rows[j].ct, stv_capacity_type_name(t->capacity_type)) == 0)
        break;
    if (j == nrows) {
      rows[j].type = t->instance_type;
      rows[j].zone = t->zone ? t->zone : "";
      rows[j].pool = t->pool ? t->pool : "";
      if (t->pool) pools = 1;
      rows[j].ct = stv_capacity_type_name(t->capacity_type);
      rows[j].price = t->price;
      nrows++;
    }
    rows[j].count++;
    rows[j].pods += pn->npods - nh;
    rows[j].headroom += nh;
  }
  qsort(rows, nrows, sizeof(*rows), cmp_row);
  out_printf(b, "Stevedore recommendation (dry run; catalog %s; capacity types %s)\n\n", o->catalog,
             o->capacity_types);
  out_printf(b,
             "Pending pods: %zu    placed: %zu (%zu on existing nodes, %zu on new nodes)    unschedulable: "
             "%zu",
             plan->npending - h.pods, plan->nplaced - h.placed, on_existing, on_new,
             plan->nunsched - h.unplaced);
  if (plan->nskipped > 0) out_printf(b, "    not planned: %zu", plan->nskipped);
  if (plan->npreemptions > 0) out_printf(b, "    preemptions: %zu", plan->npreemptions);
  out_printf(b, "\n\n");
  if (nrows == 0) {
    out_printf(b, "New nodes: none needed.\n\n");
  } else {
    out_printf(b, "New nodes\n");
    out_printf(b, "  %-24s %-10s %-14s %6s %6s%s %12s %12s%s%s\n", "INSTANCE TYPE", "CAPACITY", "ZONE",
               "COUNT", "PODS", hr ? " HEADROOM" : "", "PER HOUR", "PER MONTH", pools ? "   " : "",
               pools ? "POOL" : "");
    for (i = 0; i < nrows; i++) {
      double cost = rows[i].price * (double)rows[i].count;
      out_printf(b, "  %-24s %-10s %-14s %6zu %6zu", rows[i].type, rows[i].ct, rows[i].zone, rows[i].count,
                 rows[i].pods);
      if (hr) out_printf(b, " %8zu", rows[i].headroom);
      out_printf(b, " %12.4f %12.2f%s%s\n", cost, cost * HOURS_PER_MONTH, pools ? "   " : "", rows[i].pool);
    }
    out_printf(b, "  %-24s %-10s %-14s %6zu %6s%s %12.4f %12.2f   %s\n", "total", "", "", plan->nnew, "",
               hr ? "         " : "", plan->new_cost, plan->new_cost * HOURS_PER_MONTH, cur);
    if (plan->has_lower_bound) {
      struct gap_explain gx;
      char line[1024];
      int n;
      explain_gap(r, &gx);
      n = snprintf(line, sizeof(line), "Cost %.4f %s/hour; lower bound %.4f %s/hour (%s)", plan->new_cost,
                   cur, plan->lower_bound, cur, bound_kind_text(plan->lower_bound_kind));
      if (n > 0 && (size_t)n < sizeof(line)) {
        if (plan->lower_bound > 0)
          snprintf(line + n, sizeof(line) - (size_t)n,
                   "; the plan is at most %.1f%% above the cheapest possible.", 100.0 * gx.gap);
        else
          snprintf(line + n, sizeof(line) - (size_t)n, ".");
      }
      out_printf(b, "\n");
      out_wrapped(b, "  ", "  ", line);
      if (gx.n > 0) {
        out_printf(b, "  The gap is large; the likely reasons:\n");
        for (i = 0; i < gx.n; i++) out_wrapped(b, "  - ", "    ", gx.r[i].text);
      }
    }
    if (plan->optimized && plan->heuristic_cost > plan->new_cost + 1e-9)
      out_printf(b, "  The optimizer saved %.4f %s/hour (%.2f/month) over the first heuristic plan.\n",
                 plan->heuristic_cost - plan->new_cost, cur, (plan->heuristic_cost - plan->new_cost) * HOURS_PER_MONTH);
    out_printf(b, "\n");
  }
  if (hr) {
    out_printf(b,
               "Headroom: %zu virtual pods, %s cpu, %s memory: %zu on existing nodes, %zu on %zu new node%s",
               h.pods, stv_quantity_format(h.cpu, 1, 0, qc, sizeof(qc)),
               stv_quantity_format(h.memory, 0, 1, qm, sizeof(qm)), h.on_existing, h.on_new, h.new_nodes,
               h.new_nodes == 1 ? "" : "s");
    out_printf(b, ", costing %.4f %s/hour (%.2f per month)\n", h.hourly_cost, cur,
               h.hourly_cost * HOURS_PER_MONTH);
    if (h.unplaced > 0) out_printf(b, "  %zu could not be placed: %s\n", h.unplaced, h.unplaced_reason);
    out_printf(b, "\n");
  }
  if (nexisting > 0) {
    out_printf(b, "Existing nodes receiving pods\n");
    out_printf(b, "  %-40s %-20s %6s%s\n", "NODE", "INSTANCE TYPE", "PODS", hr ? " HEADROOM" : "");
    for (i = 0; i < plan->nnodes; i++) {
      const struct stv_plan_node *pn = &plan->nodes[i];
      const char *type;
      uint32_t nh;
      if (pn->existing < 0) continue;
      type = s->nodes[pn->existing].instance_type;
      nh = node_headroom(s, pn);
      out_printf(b, "  %-40s %-20s %6u", pn->name, type ? type : "-", pn->npods - nh);
      if (hr) out_printf(b, " %8u", nh);
      out_printf(b, "\n");
    }
    out_printf(b, "\n");
  }
  if (plan->nunsched > h.unplaced) {
    /* Group by reason so that 5,000 copies of one problem read as one line. */
    size_t shown = 0;
    char *done = stv_calloc(plan->nunsched + 1, 1);
    if (done == NULL) {
      stv_free(rows);
      return STV_ENOMEM;
    }
    out_printf(b, "Unschedulable pods\n");
    for (i = 0; i < plan->nunsched && shown < 50; i++) {
      size_t n = 0;
      const struct stv_pod *p = &s->pods[plan->unsched[i].pod];
      if (done[i] || is_headroom(s, plan->unsched[i].pod)) continue;
      for (j = i; j < plan->nunsched; j++) {
        if (done[j] || strcmp(plan->unsched[j].reason, plan->unsched[i].reason) != 0) continue;
        if (s->classes[s->pods[plan->unsched[j].pod].cls] != s->classes[p->cls]) continue;
        done[j] = 1;
        n++;
      }
      if (n == 1)
        out_printf(b, "  %s/%s: %s\n", p->ns, p->name, plan->unsched[i].reason);
      else
        out_printf(b, "  %s/%s and %zu more like it: %s\n", p->ns, p->name, n - 1, plan->unsched[i].reason);
      shown++;
    }
    if (shown == 50) out_printf(b, "  ... (use --output json for the full list)\n");
    out_printf(b, "\n");
    stv_free(done);
  }
  table_skipped(s, plan, b);
  stv_free(rows);
  return b->err;
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
  if ((rc = stv_catalog_load(&r->catalog, a->catalog, err)) != 0) return rc;
  r->have_catalog = 1;
  rc = stv_templates_build_pools(&r->templates, &r->catalog, &r->snap, a->allowed, a->pools, a->npools, err);
  if (rc != 0) return rc;
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

/*
 * Replaces a cJSON text (a value or a key, allocated by cJSON) by its copy with
 * invalid UTF-8 as U+FFFD, adding the replacements to *replaced. Returns 0 or
 * STV_ENOMEM.
 */
static int sanitize_text(char **text, size_t *replaced) {
  char *clean, *copy;
  size_t n;
  if (*text == NULL || stv_utf8_valid(*text, strlen(*text))) return 0;
  if ((clean = stv_utf8_sanitize(*text, replaced)) == NULL) return STV_ENOMEM;
  n = strlen(clean) + 1;
  copy = cJSON_malloc(n);
  if (copy != NULL) memcpy(copy, clean, n);
  stv_free(clean);
  if (copy == NULL) return STV_ENOMEM;
  cJSON_free(*text);
  *text = copy;
  return 0;
}

/*
 * Makes every string and key of the tree valid UTF-8 (base.h's rule: names
 * from the cluster are kept as bytes and repaired where they are written);
 * cJSON escapes but does not check. Returns 0 or STV_ENOMEM.
 */
static int sanitize_json(cJSON *item, size_t *replaced) {
  for (; item != NULL; item = item->next) {
    if (!(item->type & cJSON_StringIsConst) && sanitize_text(&item->string, replaced) != 0) return STV_ENOMEM;
    if (cJSON_IsString(item) && !(item->type & cJSON_IsReference) &&
        sanitize_text(&item->valuestring, replaced) != 0)
      return STV_ENOMEM;
    if (item->child != NULL && sanitize_json(item->child, replaced) != 0) return STV_ENOMEM;
  }
  return 0;
}

/* stv_recommend_render_json, also counting the bytes of invalid UTF-8 written as U+FFFD. */
static char *render_json_counted(const struct stv_recommend_result *r, size_t *replaced) {
  cJSON *root = plan_json(r);
  char *text = NULL;
  if (root == NULL) return NULL;
  if ((!r->have_repack || stv_repack_add_json(r, root) == 0) && sanitize_json(root, replaced) == 0)
    text = cJSON_Print(root);
  cJSON_Delete(root);
  return text;
}

char *stv_recommend_render_json(const struct stv_recommend_result *r) {
  size_t replaced = 0;
  return render_json_counted(r, &replaced);
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

/* Exit status for an error code: 2 for what the user can fix in the input. */
static int exit_status(int code) {
  switch (code) {
  case STV_ENOMEM:
  case STV_EIO:
    return 1;
  default:
    return 2;
  }
}

int stv_cmd_recommend(int argc, char **argv) {
  struct recommend_opts o;
  struct stv_recommend_args a;
  struct stv_recommend_result r;
  struct stv_err err = {0, ""};
  struct stv_buf b;
  struct stv_config cfg;
  int rc, status = 0;
  char *json = NULL;

  memset(&r, 0, sizeof(r));
  stv_buf_init(&b);
  b.max = TABLE_MAX_BYTES;
  stv_config_init(&cfg);
  rc = parse_opts(argc, argv, &o, &err);
  if (rc == 1) {
    usage(stdout);
    stv_free(o.snapshots);
    stv_free(o.sched_buf);
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "stevedore recommend: %s\n", err.msg);
    stv_free(o.snapshots);
    stv_free(o.sched_buf);
    return 2;
  }
  if ((rc = settle_config(&o, &cfg, &err)) != 0) {
    fprintf(stderr, "stevedore recommend: %s\n", err.msg);
    status = exit_status(rc);
    goto out;
  }
  memset(&a, 0, sizeof(a));
  a.snapshots = o.snapshots;
  a.nsnapshots = o.nsnapshots;
  a.kubeconfig = o.kubeconfig;
  a.context = o.context;
  a.catalog = o.catalog;
  a.allowed = cfg.capacity_types;
  a.time_limit = cfg.time_limit;
  a.spot = &cfg.spot;
  a.pools = cfg.pools;
  a.npools = cfg.npools;
  a.headroom = cfg.headroom;
  a.nheadroom = cfg.nheadroom;
  a.headroom_percent = cfg.headroom_percent;
  a.repack = o.repack;
  a.repack_system_pods = o.repack_system_pods || cfg.repack_system_pods;
  a.scheduler_names = cfg.scheduler_names;
  a.nscheduler_names = cfg.nscheduler_names;
  a.priority_cutoff = &cfg.priority_cutoff;
  rc = stv_recommend_run(&a, &r, &err);
  if (rc != 0) {
    fprintf(stderr, "stevedore recommend: %s\n", err.msg[0] ? err.msg : stv_strerror(rc));
    status = exit_status(rc);
    goto out;
  }
  if (!o.quiet) {
    size_t i;
    for (i = 0; i < r.nnotes; i++) fprintf(stderr, "stevedore recommend: note: %s\n", r.notes[i]);
    note_empty_pools(&r, &cfg);
    if (r.have_repack && r.repack.system_pods_kept > 0)
      fprintf(stderr,
              "stevedore recommend: note: %zu system pod%s (system-critical priority or kube-system "
              "controllers) keep their nodes; --repack-system-pods lets the repack move them\n",
              r.repack.system_pods_kept, r.repack.system_pods_kept == 1 ? "" : "s");
    if (r.have_repack && r.repack.preferences_kept > 0)
      fprintf(stderr,
              "stevedore recommend: note: %zu moved pod%s keep their preferred zone spread or zone "
              "anti-affinity as required rules (docs/repack.md, \"Preferences\")\n",
              r.repack.preferences_kept, r.repack.preferences_kept == 1 ? "" : "s");
    note_skipped(&r);
    if (r.have_plan && r.plan.spot_limits_broken)
      fprintf(stderr, "stevedore recommend: note: no plan keeps the spot limits (--spot-max-share, "
                      "--spot-max-pool-fraction) with the allowed capacity types; this one places what it can "
                      "and breaks them (allow on-demand, more zones or types, or relax the limits)\n");
  }
  if (o.json) {
    size_t replaced = 0;
    json = render_json_counted(&r, &replaced);
    if (json == NULL) {
      fprintf(stderr, "stevedore recommend: out of memory while writing the plan\n");
      status = 1;
      goto out;
    }
    if (replaced > 0 && !o.quiet)
      fprintf(stderr,
              "stevedore recommend: note: %zu byte%s of invalid UTF-8 in names from the snapshot written as "
              "U+FFFD in the JSON plan\n",
              replaced, replaced == 1 ? "" : "s");
    fputs(json, stdout);
    fputc('\n', stdout);
  } else if (o.repack) {
    struct stv_buf tb;
    stv_buf_init(&tb);
    if (stv_repack_render_table(&r, o.catalog, o.capacity_types, &tb) != 0) {
      stv_buf_close(&tb);
      fprintf(stderr, "stevedore recommend: out of memory while writing the plan\n");
      status = 1;
      goto out;
    }
    if (tb.len) fwrite(tb.data, 1, tb.len, stdout);
    stv_buf_close(&tb);
  } else {
    if ((rc = render_table(&r, &o, &b)) != 0) {
      if (rc == STV_ELIMIT)
        fprintf(stderr,
                "stevedore recommend: the plan table is larger than %zu MiB; ask for it with -o json\n",
                TABLE_MAX_BYTES >> 20);
      else
        fprintf(stderr, "stevedore recommend: out of memory while writing the plan\n");
      status = 1;
      goto out;
    }
    if (b.len) fwrite(b.data, 1, b.len, stdout);
  }
  if (fflush(stdout) != 0) {
    fprintf(stderr, "stevedore recommend: cannot write the plan to standard output\n");
    status = 1;
  }
out:
  if (json) cJSON_free(json);
  stv_buf_close(&b);
  stv_free(o.snapshots);
  stv_recommend_result_close(&r);
  stv_config_close(&cfg);
  stv_free(o.sched_buf);
  return status;
}
