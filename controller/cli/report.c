/*
 * `stevedore report`: cost allocation by namespace (or label, annotation,
 * controller, node) from a snapshot plus optional usage, or from a
 * Prometheus window, with right-sizing suggestions. The engine is in
 * pricing/report.c; this file reads the inputs, turns them into steps,
 * runs the re-pack for --rightsize and prints. The whole output is built
 * in memory first, so a failure prints nothing on standard output.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "controller.h"
#include "jsonstream.h"
#include "kubeinput.h"
#include "metrics.h"
#include "pricing.h"
#include "snapshot.h"
#include "kubeclient.h"
#include "prom.h"

#define CONFIG_MAX ((size_t)16 << 20)

struct report_opts {
  const char **snapshots;
  size_t nsnapshots;
  const char *metrics;
  const char *catalog;
  const char *config;
  const char *by;
  const char *shared; /* comma-separated, NULL = config or default */
  const char *shared_mode;
  const char *output;
  const char *capacity_types;
  const char *overhead;
  const char *margin;
  const char *prometheus, *window, *step, *end, *timeout; /* --prometheus and its window */
  int rightsize;
  int quiet;
  int no_default_prices;                               /* --no-default-prices */
  const char *default_cpu, *default_ram, *default_gpu; /* --default-*-price */
  const char *kubeconfig, *context;                    /* --kubeconfig, --context: the live cluster */
};

static void usage(FILE *f) {
  fprintf(f,
          "Usage: stevedore report --snapshot FILE [--snapshot FILE ...] [--metrics FILE] [options]\n"
          "       stevedore report --prometheus URL --window 7d [--step 5m] [options]\n"
          "\n"
          "Who spends what: the cost of the cluster's nodes allocated to namespaces (or\n"
          "labels, annotations, controllers, nodes) as the OpenCost specification does,\n"
          "with idle and shared cost, reconciled to the cent. Details: docs/report.md.\n"
          "\n"
          "Inputs:\n"
          "  -s, --snapshot FILE        kubectl get nodes,pods -A -o json (repeatable; - for stdin)\n"
          "      --kubeconfig FILE      read the live cluster instead (docs/kube-client.md)\n"
          "      --context NAME         the kubeconfig's context (default: current-context)\n"
          "  -m, --metrics FILE         pod usage: kubectl get --raw /apis/metrics.k8s.io/v1beta1/pods\n"
          "      --prometheus URL       read a window from a Prometheus server instead\n"
          "      --window DURATION      length of the window (7d, 12h, ...)\n"
          "      --step DURATION        resolution (default 5m)\n"
          "      --end TIME             end of the window: RFC 3339 (2024-05-01T00:00:00Z) or unix\n"
          "                             seconds (default now)\n"
          "      --timeout SECONDS      per Prometheus request (default 60)\n"
          "  -c, --catalog SPEC         aws:us-east-1 (default), any embedded aws:REGION, gcp:REGION,\n"
          "                             azure:REGION, or a catalogue file\n"
          "      --config FILE          the YAML configuration file (recommend's); its report section:\n"
          "                             price overrides, provider-id capacity types, ratios, shared\n"
          "                             namespaces, default prices (docs/report.md)\n"
          "      --default-cpu-price X  price per vCPU-hour of nodes that no override and no\n"
          "                             catalogue offering prices (default 0.031611, OpenCost's)\n"
          "      --default-ram-price X  price per GiB-hour of memory of those nodes (0.004237)\n"
          "      --default-gpu-price X  price per GPU-hour of those nodes (0.95)\n"
          "      --no-default-prices    leave such nodes unpriced instead (the report is then\n"
          "                             incomplete)\n"
          "\n"
          "Report:\n"
          "      --by GROUPING          namespace (default), label:KEY, annotation:KEY,\n"
          "                             controller, node\n"
          "      --shared-namespaces L  comma-separated namespaces whose cost is shared\n"
          "                             (default kube-system; \"\" for none)\n"
          "      --shared-mode MODE     even (default) or proportional\n"
          "      --overhead PRICE       fixed overhead per hour, shared like the shared namespaces\n"
          "  -o, --output FORMAT        table (default), csv, json, html\n"
          "      --rightsize            per controller: requests against usage, suggestions and the\n"
          "                             saving, re-packed with the packer\n"
          "      --margin FRACTION      headroom over observed usage (default 0.2)\n"
          "      --capacity-types LIST  offerings for the re-pack (default reserved,on-demand)\n"
          "  -q, --quiet                no notes on standard error\n"
          "  -h, --help                 this help\n"
          "\n"
          "Exit status: 0 with a report (also when some nodes cannot be priced: the report then\n"
          "says it is incomplete), 2 on bad input or options, 1 on any other failure (Prometheus\n"
          "unreachable or in error, no data in the window, out of memory).\n");
}

static int parse_opts(int argc, char **argv, struct report_opts *o, struct stv_err *err) {
  enum {
    O_CONFIG = 256, O_BY, O_SHARED, O_SHARED_MODE, O_CT, O_OVERHEAD, O_MARGIN, O_PROM, O_WINDOW, O_STEP,
    O_END, O_TIMEOUT, O_RIGHTSIZE, O_NO_DEFAULT, O_DEFAULT_CPU, O_DEFAULT_RAM, O_DEFAULT_GPU,
    O_KUBECONFIG, O_CONTEXT
  };
  static const struct option longopts[] = {
      {"snapshot", required_argument, NULL, 's'},      {"metrics", required_argument, NULL, 'm'},
      {"catalog", required_argument, NULL, 'c'},       {"config", required_argument, NULL, O_CONFIG},
      {"by", required_argument, NULL, O_BY},           {"shared-namespaces", required_argument, NULL, O_SHARED},
      {"shared-mode", required_argument, NULL, O_SHARED_MODE},
      {"capacity-types", required_argument, NULL, O_CT},
      {"overhead", required_argument, NULL, O_OVERHEAD}, {"margin", required_argument, NULL, O_MARGIN},
      {"prometheus", required_argument, NULL, O_PROM}, {"window", required_argument, NULL, O_WINDOW},
      {"step", required_argument, NULL, O_STEP},       {"end", required_argument, NULL, O_END},
      {"timeout", required_argument, NULL, O_TIMEOUT}, {"rightsize", no_argument, NULL, O_RIGHTSIZE},
      {"output", required_argument, NULL, 'o'},        {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"no-default-prices", no_argument, NULL, O_NO_DEFAULT},
      {"default-cpu-price", required_argument, NULL, O_DEFAULT_CPU},
      {"default-ram-price", required_argument, NULL, O_DEFAULT_RAM},
      {"default-gpu-price", required_argument, NULL, O_DEFAULT_GPU},
      {"kubeconfig", required_argument, NULL, O_KUBECONFIG},
      {"context", required_argument, NULL, O_CONTEXT},
      {NULL, 0, NULL, 0}};
  int ch;
  memset(o, 0, sizeof(*o));
  o->catalog = "aws:us-east-1";
  o->by = "namespace";
  o->output = "table";
  o->capacity_types = "reserved,on-demand";
  o->snapshots = stv_calloc((size_t)argc + 1, sizeof(*o->snapshots));
  if (o->snapshots == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  opterr = 0;
  optind = 1;
  while ((ch = getopt_long(argc, argv, ":s:m:c:o:qh", longopts, NULL)) != -1) {
    switch (ch) {
    case 's': o->snapshots[o->nsnapshots++] = optarg; break;
    case 'm': o->metrics = optarg; break;
    case 'c': o->catalog = optarg; break;
    case 'o': o->output = optarg; break;
    case 'q': o->quiet = 1; break;
    case O_CONFIG: o->config = optarg; break;
    case O_BY: o->by = optarg; break;
    case O_SHARED: o->shared = optarg; break;
    case O_SHARED_MODE: o->shared_mode = optarg; break;
    case O_CT: o->capacity_types = optarg; break;
    case O_OVERHEAD: o->overhead = optarg; break;
    case O_MARGIN: o->margin = optarg; break;
    case O_PROM: o->prometheus = optarg; break;
    case O_WINDOW: o->window = optarg; break;
    case O_STEP: o->step = optarg; break;
    case O_END: o->end = optarg; break;
    case O_TIMEOUT: o->timeout = optarg; break;
    case O_RIGHTSIZE: o->rightsize = 1; break;
    case O_NO_DEFAULT: o->no_default_prices = 1; break;
    case O_DEFAULT_CPU: o->default_cpu = optarg; break;
    case O_DEFAULT_RAM: o->default_ram = optarg; break;
    case O_DEFAULT_GPU: o->default_gpu = optarg; break;
    case O_KUBECONFIG: o->kubeconfig = optarg; break;
    case O_CONTEXT: o->context = optarg; break;
    case 'h': return 1;
    case ':': return stv_err_set(err, STV_EINVAL, "%s needs a value", argv[optind - 1]);
    default:
      return stv_err_set(err, STV_EINVAL, "unknown option %s (see stevedore report --help)", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return stv_err_set(err, STV_EINVAL, "unexpected argument \"%s\" (see stevedore report --help)", argv[optind]);
  if (o->context != NULL && o->kubeconfig == NULL)
    return stv_err_set(err, STV_EINVAL, "--context: only with --kubeconfig FILE");
  if (o->kubeconfig != NULL && (o->nsnapshots > 0 || o->prometheus != NULL))
    return stv_err_set(err, STV_EINVAL, "--kubeconfig reads the live cluster: give it without --snapshot and --prometheus");
  if (o->prometheus != NULL) {
    if (o->nsnapshots > 0 || o->metrics != NULL)
      return stv_err_set(err, STV_EINVAL, "--prometheus reads its own data: give it without --snapshot and --metrics");
    if (o->window == NULL) return stv_err_set(err, STV_EINVAL, "--prometheus needs --window (for example 7d)");
  } else {
    if (o->window || o->step || o->end || o->timeout)
      return stv_err_set(err, STV_EINVAL, "--window, --step, --end and --timeout go with --prometheus");
    if (o->nsnapshots == 0 && o->kubeconfig == NULL)
      return stv_err_set(err, STV_EINVAL,
                         "no --snapshot or --prometheus given (try: kubectl get nodes,pods -A -o json > snap.json; "
                         "stevedore report --snapshot snap.json)");
  }
  if (o->margin && !o->rightsize) return stv_err_set(err, STV_EINVAL, "--margin goes with --rightsize");
  if (o->no_default_prices && (o->default_cpu || o->default_ram || o->default_gpu))
    return stv_err_set(err, STV_EINVAL,
                       "--no-default-prices: cannot go with --default-cpu-price, "
                       "--default-ram-price or --default-gpu-price");
  if (o->metrics != NULL && strcmp(o->metrics, "-") == 0) {
    size_t i;
    for (i = 0; i < o->nsnapshots; i++)
      if (strcmp(o->snapshots[i], "-") == 0)
        return stv_err_set(err, STV_EINVAL, "--snapshot - and --metrics - cannot both read standard input");
  }
  return 0;
}

/* Parses a non-negative decimal number; what names the option. */
static int parse_number(const char *s, const char *what, double *out, struct stv_err *err) {
  double v;
  if (stv_parse_number(s, &v, NULL) != 0 || v < 0)
    return stv_err_set(err, STV_EINVAL, "%s: \"%s\" is not a non-negative number", what, s);
  *out = v;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Configuration file                                                     */

/* What the config file and the options make of the engine's options. */
struct settings {
  struct stv_report_opts ro;
  char **strings; /* owned copies the options point into */
  size_t nstrings, cap_strings;
  const char **shared;
  size_t nshared;
  double margin;
};

static void settings_close(struct settings *s) {
  size_t i;
  for (i = 0; i < s->nstrings; i++) stv_free(s->strings[i]);
  stv_free(s->strings);
  stv_free((void *)s->shared);
  memset(s, 0, sizeof(*s));
}

static const char *keep(struct settings *s, const char *str) {
  char *c;
  if (stv_grow((void **)&s->strings, &s->cap_strings, s->nstrings + 1, sizeof(*s->strings)) != 0) return NULL;
  if ((c = stv_strdup(str)) == NULL) return NULL;
  s->strings[s->nstrings++] = c;
  return c;
}

/* Takes the report section r (borrowed; it must outlive s) as the settings under the flags. */
static void apply_config(struct settings *s, const struct stv_report_config *r) {
  s->ro.ratio_cpu = r->ratio_cpu;
  s->ro.ratio_ram = r->ratio_ram;
  s->ro.ratio_gpu = r->ratio_gpu;
  if (r->have_shared) {
    s->ro.shared_namespaces = r->shared_namespaces;
    s->ro.nshared = r->nshared;
  }
  s->ro.shared_mode = r->shared_mode;
  s->ro.overhead_hourly = r->overhead_hourly;
  s->margin = r->margin;
  s->ro.default_rates = r->default_rates;
  s->ro.default_cpu = r->default_cpu;
  s->ro.default_ram = r->default_ram;
  s->ro.default_gpu = r->default_gpu;
  s->ro.default_spot_cpu = r->default_spot_cpu;
  s->ro.default_spot_ram = r->default_spot_ram;
}

static int set_shared_list(struct settings *s, const char *list, struct stv_err *err) {
  const char *p = list;
  size_t cap = 1, n = 0;
  for (; *p; p++) cap += *p == ',';
  stv_free((void *)s->shared);
  if ((s->shared = stv_calloc(cap + 1, sizeof(*s->shared))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  p = list;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char word[256];
    if (len == 0 || len >= sizeof(word))
      return stv_err_set(err, STV_EINVAL, "--shared-namespaces: empty or overlong entry in \"%s\"", list);
    memcpy(word, p, len);
    word[len] = '\0';
    if ((s->shared[n++] = keep(s, word)) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
    p += len;
    if (*p == ',') p++;
  }
  /* An empty list (non-NULL, n == 0) means no shared namespace, not the default. */
  s->nshared = n;
  s->ro.shared_namespaces = s->shared;
  s->ro.nshared = n;
  return 0;
}

static int read_whole(const char *path, char **out, size_t *len, struct stv_err *err) {
  return stv_read_file(path, CONFIG_MAX, out, len, err);
}

/*
 * The old JSON configuration of `report --config` (before one YAML file
 * configured every command): its top-level keys, and where each setting
 * lives now. A JSON object with any of these keys at its top is that
 * format; it is refused with these names and the file rewritten in YAML.
 */
static const struct {
  const char *old_path, *new_path;
} old_keys[] = {
    {"prices", "report.prices"},
    {"prices.instance_types", "report.prices.instanceTypes"},
    {"capacity_types", "report.providerCapacityTypes"},
    {"ratios", "report.ratios"},
    {"ratios.ram_gib", "report.ratios.ramGiB"},
    {"shared_namespaces", "report.sharedNamespaces"},
    {"shared_mode", "report.sharedMode"},
    {"overhead_hourly", "report.overheadHourly"},
    {"margin", "report.margin"},
    {"default_prices", "report.defaultPrices"},
    {"default_prices.ram_gib", "report.defaultPrices.ramGiB"},
    {"default_prices.spot_cpu", "report.defaultPrices.spotCpu"},
    {"default_prices.spot_ram_gib", "report.defaultPrices.spotRamGiB"},
};

/* The new path of the old setting at path, or NULL when it is a name (a node, a type) or unknown. */
static const char *old_key_new_path(const char *path) {
  size_t i;
  for (i = 0; i < sizeof(old_keys) / sizeof(old_keys[0]); i++)
    if (strcmp(old_keys[i].old_path, path) == 0) return old_keys[i].new_path;
  return NULL;
}

/*
 * Writes the members of object o (at old path path) as block YAML at
 * indent into b: settings under their new names, names (nodes, instance
 * types, provider ids) and values as JSON writes them, which YAML reads
 * the same.
 */
static void old_config_yaml(struct stv_buf *b, const cJSON *o, const char *path, int indent) {
  const cJSON *e;
  cJSON_ArrayForEach(e, o) {
    char sub[300];
    const char *np;
    /* A path too long to hold is no old key's (they are short): a name, looked up as none. */
    if (snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", e->string) >= (int)sizeof(sub))
      sub[0] = '\0';
    np = old_key_new_path(sub);
    stv_buf_printf(b, "%*s", indent, "");
    if (np != NULL) {
      const char *last = strrchr(np, '.');
      stv_buf_puts(b, last ? last + 1 : np);
    } else if (strcmp(path, "") != 0 && strcmp(path, "prices") != 0 && strcmp(path, "ratios") != 0 &&
               strcmp(path, "default_prices") != 0) {
      stv_buf_json_str(b, e->string); /* a name: quoted */
    } else {
      stv_buf_puts(b, e->string); /* a setting that keeps its name (cpu, gpu, enabled, nodes) */
    }
    stv_buf_puts(b, ":");
    if (cJSON_IsObject(e) && e->child != NULL) {
      stv_buf_puts(b, "\n");
      old_config_yaml(b, e, sub, indent + 2);
    } else if (cJSON_IsArray(e) && e->child != NULL) {
      const cJSON *x;
      stv_buf_puts(b, "\n");
      cJSON_ArrayForEach(x, e) {
        char *v = cJSON_PrintUnformatted(x);
        stv_buf_printf(b, "%*s- %s\n", indent + 2, "", v ? v : "null");
        cJSON_free(v);
      }
    } else {
      char *v = cJSON_PrintUnformatted(e);
      stv_buf_printf(b, " %s\n", v ? v : "null");
      cJSON_free(v);
    }
  }
}

/*
 * Refuses the old JSON configuration: when the file at path (borrowed) is
 * a JSON object with an old top-level key, sets err (STV_EINVAL) and writes
 * the same settings as the YAML report section into hint, for the caller
 * to print. Returns 0 for any other file (a YAML file, JSON of the new
 * shape, a file the YAML loader will refuse itself), or -errno, STV_ELIMIT,
 * STV_ENOMEM.
 */
static int refuse_old_config(const char *path, struct stv_buf *hint, struct stv_err *err) {
  char *text = NULL;
  size_t len = 0, n = 0, i;
  cJSON *root = NULL;
  int rc, old = 0;
  if ((rc = read_whole(path, &text, &len, err)) != 0) return rc;
  root = cJSON_ParseWithLength(text, len);
  if (cJSON_IsObject(root)) {
    const cJSON *e;
    cJSON_ArrayForEach(e, root) old |= old_key_new_path(e->string) != NULL;
  }
  if (!old) goto out;
  stv_buf_puts(hint, "stevedore report: the same settings in YAML, under report:");
  for (i = 0; i < sizeof(old_keys) / sizeof(old_keys[0]); i++) {
    const char *dot = strchr(old_keys[i].old_path, '.'), *old_last = strrchr(old_keys[i].old_path, '.');
    const char *new_last = strrchr(old_keys[i].new_path, '.');
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, old_keys[i].old_path);
    if (dot != NULL) {
      char top[64];
      snprintf(top, sizeof(top), "%.*s", (int)(dot - old_keys[i].old_path), old_keys[i].old_path);
      it = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, top), dot + 1);
    }
    /* Name the settings whose own name changed, not only their place. */
    if (it == NULL || strcmp(old_last ? old_last + 1 : old_keys[i].old_path, new_last + 1) == 0) continue;
    stv_buf_printf(hint, "%s %s is %s", n++ ? "," : " (renamed:", old_keys[i].old_path, old_keys[i].new_path);
  }
  stv_buf_printf(hint,
                 "%s; put them in your configuration file (recommend's, such as stevedore.yaml) and pass "
                 "that to --config:\n",
                 n ? ")" : "");
  stv_buf_puts(hint, "report:\n");
  old_config_yaml(hint, root, "", 2);
  if (hint->len == 0 || hint->err) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  rc = stv_err_set(err, STV_EINVAL,
                   "%s: this is the old JSON report configuration, which is no longer read: the report's "
                   "settings are now the report: section of the YAML file that recommend --config reads too "
                   "(docs/report.md, \"Configuration\"); convert it as below and pass the YAML file",
                   path);
out:
  cJSON_Delete(root);
  stv_free(text);
  return rc;
}

/*
 * Reads the configuration file at path (borrowed) into c: the YAML file of
 * docs/config.md, whose report section the report uses. The old JSON
 * format is refused, its conversion in hint.
 */
static int load_config(struct stv_config *c, const char *path, struct stv_buf *hint, struct stv_err *err) {
  int rc;
  if ((rc = refuse_old_config(path, hint, err)) != 0) return rc;
  return stv_config_load_file(c, path, err);
}

/* ---------------------------------------------------------------------- */
/* Snapshot input                                                         */

/* What the snapshot reader does not keep but a report needs, per item. */
struct side {
  struct stv_snapshot *snap;
  struct stv_snapshot_read_stats *stats;
  const char *annotation_key; /* --by annotation:KEY, or NULL */
  const char **pod_ann;       /* per pod: the annotation's value (interned) */
  size_t cap_pod_ann;
  const char **node_pid;      /* per node: spec.providerID (interned) */
  size_t cap_node_pid;
};

static int side_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct side *sd = ctx;
  struct stv_snapshot *s = sd->snap;
  size_t np = s->npods, nn = s->nnodes;
  int rc;
  (void)index;
  if ((rc = stv_snapshot_add_item_stats(s, item, sd->stats, err)) != 0) return rc;
  /* A newer version of a pod or node read before replaces it in place. */
  if (sd->stats->replaced_pod >= 0) np = (size_t)sd->stats->replaced_pod;
  if (sd->stats->replaced_node >= 0) nn = (size_t)sd->stats->replaced_node;
  if ((s->npods > np || sd->stats->replaced_pod >= 0) && sd->annotation_key != NULL) {
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "metadata"),
                                                        "annotations");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, sd->annotation_key);
    if (stv_grow((void **)&sd->pod_ann, &sd->cap_pod_ann, s->npods, sizeof(*sd->pod_ann)) != 0)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    sd->pod_ann[np] = NULL;
    if (cJSON_IsString(v) && (sd->pod_ann[np] = stv_strpool_get(&s->pool, v->valuestring)) == NULL)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  if (s->nnodes > nn || sd->stats->replaced_node >= 0) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "spec"), "providerID");
    if (stv_grow((void **)&sd->node_pid, &sd->cap_node_pid, s->nnodes, sizeof(*sd->node_pid)) != 0)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    sd->node_pid[nn] = NULL;
    if (cJSON_IsString(v) && v->valuestring[0] &&
        (sd->node_pid[nn] = stv_strpool_get(&s->pool, v->valuestring)) == NULL)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  return 0;
}

/* A note about the snapshot, into the report's notes (every output format shows them). */
static int report_input_note(void *ctx, const char *msg) {
  return stv_report_note(ctx, "%s", msg);
}

/* Sum of a node's or pod's GPU dimensions (resource names ending in "/gpu"). */
static double gpus_of(const struct stv_snapshot *s, const int64_t *v) {
  double g = 0;
  int r;
  for (r = STV_RES_FIXED; r < s->res.n; r++) {
    size_t n = strlen(s->res.name[r]);
    if (n >= 4 && strcmp(s->res.name[r] + n - 4, "/gpu") == 0) g += (double)v[r];
  }
  return g;
}

/*
 * One step of one hour from the snapshot, with usage from m (may be NULL),
 * folded into the report.
 */
static int snapshot_step(struct stv_report *rep, const struct stv_snapshot *s, const struct side *sd,
                         struct stv_metrics *m, struct stv_err *err) {
  struct stv_cost_node *nodes = stv_calloc(s->nnodes + 1, sizeof(*nodes));
  struct stv_cost_pod *pods = stv_calloc(s->npods + 1, sizeof(*pods));
  struct stv_label *ann_kv = NULL;
  struct stv_labels *ann = NULL;
  struct stv_cost_step step;
  size_t i, running = 0, with_usage = 0;
  int rc = 0;

  if (nodes == NULL || pods == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  if (sd->annotation_key != NULL) {
    ann_kv = stv_calloc(s->npods + 1, sizeof(*ann_kv));
    ann = stv_calloc(s->npods + 1, sizeof(*ann));
    if (ann_kv == NULL || ann == NULL) {
      rc = stv_err_set(err, STV_ENOMEM, "out of memory");
      goto out;
    }
  }
  for (i = 0; i < s->nnodes; i++) {
    const struct stv_node *n = &s->nodes[i];
    struct stv_cost_node *c = &nodes[i];
    c->name = n->name;
    c->instance_type = n->instance_type;
    c->zone = n->zone;
    c->capacity_type = n->capacity_type;
    c->provider_id = sd->node_pid ? sd->node_pid[i] : NULL;
    c->labels = &n->labels;
    c->cpu_cores = (double)n->alloc[STV_RES_CPU] / 1000.0;
    c->ram_bytes = (double)n->alloc[STV_RES_MEMORY];
    c->gpus = gpus_of(s, n->alloc);
    c->price = -1;
  }
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    const struct stv_class *k = s->classes[p->cls];
    struct stv_cost_pod *c = &pods[i];
    c->ns = p->ns;
    c->name = p->name;
    /* A pod bound to a node missing from the snapshot keeps its node's name: not costed, and said so. */
    c->node = p->node >= 0 ? s->nodes[p->node].name : p->node_name;
    c->labels = &k->labels;
    c->owner_kind = p->owner_kind;
    c->owner_name = p->owner_name;
    c->cpu_req = (double)k->req[STV_RES_CPU] / 1000.0;
    c->ram_req = (double)k->req[STV_RES_MEMORY];
    c->gpu_req = gpus_of(s, k->req);
    c->cpu_use = c->ram_use = -1;
    if (c->node != NULL) running++;
    if (m != NULL && stv_metrics_get(m, p->ns, p->name, &c->cpu_use, &c->ram_use) && c->node != NULL) with_usage++;
    if (ann != NULL && sd->pod_ann[i] != NULL) {
      ann_kv[i].key = sd->annotation_key;
      ann_kv[i].value = sd->pod_ann[i];
      ann[i].n = 1;
      ann[i].kv = &ann_kv[i];
      c->annotations = &ann[i];
    }
  }
  memset(&step, 0, sizeof(step));
  step.hours = 1;
  step.nodes = nodes;
  step.nnodes = s->nnodes;
  step.pods = pods;
  step.npods = s->npods;
  if ((rc = stv_report_add_step(rep, &step, err)) != 0) goto out;
  if (m != NULL) {
    if (with_usage < running &&
        stv_report_note(rep, "usage known for %zu of %zu running pods; the others are costed by their requests",
                        with_usage, running) != 0)
      goto oom;
    if (m->matched < m->len &&
        stv_report_note(rep, "%zu pod%s in the metrics %s not in the snapshot (ignored)", m->len - m->matched,
                        m->len - m->matched == 1 ? "" : "s", m->len - m->matched == 1 ? "is" : "are") != 0)
      goto oom;
  }
  goto out;
oom:
  rc = stv_err_set(err, STV_ENOMEM, "out of memory");
out:
  stv_free(nodes);
  stv_free(pods);
  stv_free(ann_kv);
  stv_free(ann);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Right-sizing: re-pack with current and suggested requests              */

struct pack_result {
  double hourly;
  size_t nodes, unsched;
};

static int pack_once(struct stv_snapshot *s, const struct stv_catalog *cat, unsigned allowed,
                     struct pack_result *res, struct stv_err *err) {
  struct stv_templates t;
  struct stv_problem pb;
  struct stv_plan plan;
  int rc;
  if ((rc = stv_snapshot_finish(s, err)) != 0) return rc;
  if ((rc = stv_templates_build(&t, cat, s, allowed, err)) != 0) return rc;
  memset(&pb, 0, sizeof(pb));
  pb.snap = s;
  pb.tmpl = t.v;
  pb.ntmpl = t.n;
  pb.currency = cat->currency;
  rc = stv_pack(&pb, &plan, err);
  if (rc == 0) {
    res->hourly = plan.new_cost;
    res->nodes = plan.nnew;
    res->unsched = plan.nunsched;
    stv_plan_close(&plan);
  }
  stv_templates_close(&t);
  return rc;
}

/* The repack figures from the packs with current (a) and suggested (b) requests. */
static void set_repack(struct stv_report_repack *rp, const struct pack_result *a, const struct pack_result *b) {
  rp->done = 1;
  rp->current_hourly = a->hourly;
  rp->current_nodes = a->nodes;
  rp->current_unschedulable = a->unsched;
  rp->suggested_hourly = b->hourly;
  rp->suggested_nodes = b->nodes;
  rp->suggested_unschedulable = b->unsched;
  rp->monthly_saving = (a->hourly - b->hourly) * STV_HOURS_PER_MONTH;
}

static int64_t cpu_milli(double cores) { return (int64_t)ceil(cores * 1000.0 - 1e-6); }

/* The largest request a re-pack takes from a row, in millicores or bytes: the quantity rule's millis bound. */
#define REPACK_REQ_MAX ((double)(INT64_MAX / 1000))

/*
 * Checks that every right-sizing row's current and suggested requests fit
 * the packer's integers before they are converted: usage near the top of
 * the quantity range, times the margin, would otherwise wrap into a
 * negative request that fits anywhere.
 */
static int check_repack_rows(const struct stv_report *rep, struct stv_err *err) {
  size_t i;
  for (i = 0; i < rep->nrightsize; i++) {
    const struct stv_rightsize_row *w = &rep->rightsize[i];
    if (!(w->cpu_req * 1000.0 <= REPACK_REQ_MAX) || !(w->cpu_suggest * 1000.0 <= REPACK_REQ_MAX) ||
        !(w->ram_req <= REPACK_REQ_MAX) || !(w->ram_suggest <= REPACK_REQ_MAX))
      return stv_err_set(err, STV_ERANGE,
                         "rightsize: %s %s/%s: requests of %g cores and %.0f bytes per pod (suggested %g "
                         "cores and %.0f bytes, from the usage read) are too large to re-pack; check the "
                         "usage figures",
                         w->kind, w->ns, w->name, w->cpu_req, w->ram_req, w->cpu_suggest, w->ram_suggest);
  }
  return 0;
}

/* Sets class c's cpu and memory requests to the suggestion w. */
static void apply_suggestion(struct stv_class *c, const struct stv_rightsize_row *w) {
  c->req[STV_RES_CPU] = cpu_milli(w->cpu_suggest);
  c->req[STV_RES_MEMORY] = (int64_t)ceil(w->ram_suggest);
}

/*
 * The snapshot re-packed: every movable pod pending on no nodes, DaemonSets
 * reserved on each new node, static pods left out; first with the current
 * requests, then with the suggested ones. Changes s for good.
 */
static int repack_snapshot(struct stv_report *rep, struct stv_snapshot *s, const struct stv_catalog *cat,
                           unsigned allowed, struct stv_err *err) {
  struct stv_report_repack *rp = &rep->repack;
  struct pack_result a, b;
  const struct stv_rightsize_row **by_class = NULL;
  unsigned char *mixed = NULL;
  size_t i, nstatic = 0, nmoved = 0;
  int rc;

  for (i = 0; i < s->npods; i++) {
    struct stv_pod *p = &s->pods[i];
    if (p->flags & STV_POD_MIRROR) {
      p->phase = STV_PHASE_SUCCEEDED;
      nstatic++;
      continue;
    }
    if (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    p->node = -1;
    p->node_name = NULL;
    p->phase = STV_PHASE_PENDING;
    if (!s->classes[p->cls]->daemonset) nmoved++;
  }
  s->nnodes = 0;
  if ((rc = pack_once(s, cat, allowed, &a, err)) != 0) return stv_err_prefix(err, "re-pack with current requests");

  /* The suggestion of each class: its pods' controller, when they share one. */
  by_class = stv_calloc(s->nclasses + 1, sizeof(*by_class));
  mixed = stv_calloc(s->nclasses + 1, 1);
  if (by_class == NULL || mixed == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    const struct stv_rightsize_row *w = NULL;
    const char *kind;
    char name[300];
    if (p->phase == STV_PHASE_SUCCEEDED) continue;
    if (stv_report_controller_of(p->owner_kind, p->owner_name, &s->classes[p->cls]->labels, &kind, name,
                                 sizeof(name)) == 0)
      w = stv_report_rightsize_find(rep, p->ns, kind, name);
    if (by_class[p->cls] == NULL && !mixed[p->cls])
      by_class[p->cls] = w;
    else if (by_class[p->cls] != w)
      mixed[p->cls] = 1;
    if (w == NULL && by_class[p->cls] == NULL) mixed[p->cls] |= 2; /* some pod without a suggestion */
  }
  {
    size_t nc = s->nclasses;
    /* Classes whose pods share one controller change in place. */
    for (i = 0; i < nc; i++)
      if (by_class[i] != NULL && !(mixed[i] & 1) && !(mixed[i] & 2)) apply_suggestion(s->classes[i], by_class[i]);
    /* Others: a new class per pod's suggestion. */
    for (i = 0; i < s->npods; i++) {
      struct stv_pod *p = &s->pods[i];
      const struct stv_rightsize_row *w = NULL;
      const char *kind;
      char name[300];
      struct stv_class copy;
      uint32_t id;
      if (p->phase == STV_PHASE_SUCCEEDED || p->cls >= nc || !mixed[p->cls]) continue;
      if (stv_report_controller_of(p->owner_kind, p->owner_name, &s->classes[p->cls]->labels, &kind, name,
                                   sizeof(name)) == 0)
        w = stv_report_rightsize_find(rep, p->ns, kind, name);
      if (w == NULL) continue;
      copy = *s->classes[p->cls];
      apply_suggestion(&copy, w);
      if ((rc = stv_snapshot_intern_class(s, &copy, &id)) != 0) {
        rc = stv_err_set(err, rc, "re-pack: %s", stv_strerror(rc));
        goto out;
      }
      p->cls = id;
    }
  }
  if ((rc = pack_once(s, cat, allowed, &b, err)) != 0) {
    stv_err_prefix(err, "re-pack with suggested requests");
    goto out;
  }
  set_repack(rp, &a, &b);
  snprintf(rp->note, sizeof(rp->note),
           "Re-packed %zu pods on new nodes (scheduling rules honoured; DaemonSets reserved on every node; %zu static "
           "pods left out).",
           nmoved, nstatic);
out:
  stv_free(by_class);
  stv_free(mixed);
  return rc;
}

/*
 * Without a snapshot (Prometheus): a snapshot of each controller's mean
 * replicas at its requests, no scheduling rules, re-packed twice.
 */
static int repack_synthetic(struct stv_report *rep, const struct stv_catalog *cat, unsigned allowed,
                            struct stv_err *err) {
  struct stv_report_repack *rp = &rep->repack;
  struct stv_snapshot s;
  struct pack_result a, b;
  uint32_t *cls = NULL;
  size_t i, npods = 0;
  int rc;
  char buf[700];

  if ((rc = stv_snapshot_init(&s)) != 0) return stv_err_set(err, rc, "out of memory");
  if ((cls = stv_calloc(rep->nrightsize + 1, sizeof(*cls))) == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  for (i = 0; i < rep->nrightsize; i++) {
    const struct stv_rightsize_row *w = &rep->rightsize[i];
    struct stv_class c;
    long n = lround(w->replicas), k;
    memset(&c, 0, sizeof(c));
    if (n < 1) n = 1;
    snprintf(buf, sizeof(buf), "%s/%s/%s", w->ns, w->kind, w->name);
    if ((c.ns = stv_strpool_get(&s.pool, w->ns)) == NULL || (c.example = stv_strpool_get(&s.pool, buf)) == NULL)
      goto oom;
    c.req[STV_RES_CPU] = cpu_milli(w->cpu_req);
    c.req[STV_RES_MEMORY] = (int64_t)ceil(w->ram_req);
    c.req[STV_RES_PODS] = 1;
    if (strcmp(w->kind, "DaemonSet") == 0) {
      c.daemonset = 1;
      c.owner_uid = c.example;
      n = 1;
    }
    if ((rc = stv_snapshot_intern_class(&s, &c, &cls[i])) != 0) goto oom;
    for (k = 0; k < n; k++) {
      struct stv_pod p;
      memset(&p, 0, sizeof(p));
      snprintf(buf, sizeof(buf), "%s-%ld", w->name, k);
      p.ns = c.ns;
      if ((p.name = stv_strpool_get(&s.pool, buf)) == NULL) goto oom;
      p.cls = cls[i];
      p.node = -1;
      p.phase = STV_PHASE_PENDING;
      if ((rc = stv_snapshot_add_pod(&s, &p)) != 0) goto oom;
      if (!c.daemonset) npods++;
    }
  }
  if ((rc = pack_once(&s, cat, allowed, &a, err)) != 0) {
    stv_err_prefix(err, "re-pack with current requests");
    goto out;
  }
  for (i = 0; i < rep->nrightsize; i++) apply_suggestion(s.classes[cls[i]], &rep->rightsize[i]);
  if ((rc = pack_once(&s, cat, allowed, &b, err)) != 0) {
    stv_err_prefix(err, "re-pack with suggested requests");
    goto out;
  }
  set_repack(rp, &a, &b);
  snprintf(rp->note, sizeof(rp->note),
           "Re-packed %zu pods (each controller's mean replicas) on new nodes, without scheduling rules (the metrics "
           "carry none).",
           npods);
  rc = 0;
  goto out;
oom:
  rc = stv_err_set(err, STV_ENOMEM, "out of memory");
out:
  stv_free(cls);
  stv_snapshot_close(&s);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Prometheus input                                                       */

static void prom_note(void *ctx, const char *msg) {
  struct stv_report *r = ctx;
  stv_report_note(r, "prometheus: %s", msg);
}

/* Parses --end: an RFC 3339 time ("2024-05-01T00:00:00Z", "2024-05-01T02:00:00+02:00") or unix seconds. */
static int parse_time(const char *s, int64_t *out, struct stv_err *err) {
  double v;
  if (stv_parse_number(s, &v, NULL) == 0) {
    if (!(v > 0 && v < 1e15 && v == floor(v)))
      return stv_err_set(err, STV_EINVAL, "--end: %s is not a positive whole number of unix seconds", s);
    *out = (int64_t)v;
    return 0;
  }
  if (stv_parse_time(s, out, NULL, err) != 0) return stv_err_prefix(err, "--end");
  return 0;
}

static int collect_prometheus(const struct report_opts *o, struct stv_report *rep, struct stv_err *err) {
  struct stv_prom_opts po;
  int64_t window = 0, step = 300, end = 0;
  int rc;
  memset(&po, 0, sizeof(po));
  if ((rc = stv_prom_parse_duration(o->window, &window, err)) != 0) return stv_err_prefix(err, "--window");
  if (o->step != NULL && (rc = stv_prom_parse_duration(o->step, &step, err)) != 0)
    return stv_err_prefix(err, "--step");
  if (window % step != 0 || window < step)
    return stv_err_set(err, STV_EINVAL, "--window must be a whole number of --step (%s is not a multiple of %s)",
                       o->window, o->step ? o->step : "5m");
  if (o->end != NULL) {
    if ((rc = parse_time(o->end, &end, err)) != 0) return rc;
  } else {
    end = (int64_t)time(NULL);
    end -= end % step;
  }
  if (o->timeout != NULL) {
    double t = 0;
    if ((rc = parse_number(o->timeout, "--timeout", &t, err)) != 0) return rc;
    po.timeout_ms = (long)(t * 1000.0);
  }
  po.url = o->prometheus;
  po.start = end - window;
  po.end = end;
  po.step = step;
  po.note = prom_note;
  po.note_ctx = rep;
  return stv_prom_collect(&po, rep, err);
}

/* ---------------------------------------------------------------------- */
/* The command                                                            */

/* Exit status for a failed phase: 2 for what the user can fix in the input. */
static int exit_status(int code, int input) {
  if (!input) return code == STV_EINVAL ? 2 : 1;
  switch (code) {
  case STV_ENOMEM:
  case STV_EIO:
  case STV_EUNSUPPORTED:
    return 1;
  default:
    return 2;
  }
}

/*
 * The options, then the config file under them: output format, grouping,
 * capacity types and the engine's settings in set. Returns 0 or an error
 * (with hint holding how to convert an old config file).
 */
static int resolve_settings(const struct report_opts *o, struct settings *set, struct stv_config *cfg,
                            struct stv_buf *hint, enum stv_report_format *fmt, const char **by_key,
                            unsigned *allowed, struct stv_err *err) {
  int rc;
  if (stv_report_format_parse(o->output, fmt) != 0)
    return stv_err_set(err, STV_EINVAL, "--output: unknown format \"%s\" (use table, csv, json, html)", o->output);
  if (stv_report_by_parse(o->by, &set->ro.by, by_key) != 0)
    return stv_err_set(err, STV_EINVAL,
                       "--by: unknown grouping \"%s\" (use namespace, label:KEY, annotation:KEY, controller, node)",
                       o->by);
  if ((rc = stv_config_parse_capacity_types(o->capacity_types, allowed, err)) != 0)
    return stv_err_prefix(err, "--capacity-types");
  /* The file's report section over its defaults (OpenCost's default rates, a 20 % margin). */
  if (o->config != NULL && (rc = load_config(cfg, o->config, hint, err)) != 0) return rc;
  apply_config(set, &cfg->report);
  if (o->no_default_prices) set->ro.default_rates = 0;
  if ((o->default_cpu &&
       (rc = parse_number(o->default_cpu, "--default-cpu-price", &set->ro.default_cpu, err)) != 0) ||
      (o->default_ram &&
       (rc = parse_number(o->default_ram, "--default-ram-price", &set->ro.default_ram, err)) != 0) ||
      (o->default_gpu &&
       (rc = parse_number(o->default_gpu, "--default-gpu-price", &set->ro.default_gpu, err)) != 0))
    return rc;
  if (o->default_cpu || o->default_ram || o->default_gpu) set->ro.default_rates = 1;
  if (o->shared != NULL && (rc = set_shared_list(set, o->shared, err)) != 0) return rc;
  if (o->shared_mode != NULL) {
    if (strcmp(o->shared_mode, "even") == 0)
      set->ro.shared_mode = STV_SHARED_EVEN;
    else if (strcmp(o->shared_mode, "proportional") == 0)
      set->ro.shared_mode = STV_SHARED_PROPORTIONAL;
    else
      return stv_err_set(err, STV_EINVAL, "--shared-mode: unknown \"%s\" (use even or proportional)", o->shared_mode);
  }
  if (o->overhead != NULL && (rc = parse_number(o->overhead, "--overhead", &set->ro.overhead_hourly, err)) != 0)
    return rc;
  if (o->margin != NULL) {
    if ((rc = parse_number(o->margin, "--margin", &set->margin, err)) != 0) return rc;
    if (set->margin > 10)
      return stv_err_set(err, STV_EINVAL, "--margin: %s is more than 10 (1000 %%); write 0.2 for 20 %%", o->margin);
  }
  return 0;
}

/* What the report is made from, for its header: "snapshot a.json b.json, usage m.json". */
static void describe_source(const struct report_opts *o, char *source, size_t size) {
  size_t i, n;
  if (o->prometheus) {
    snprintf(source, size, "prometheus %s, window %s, step %s", o->prometheus, o->window, o->step ? o->step : "5m");
    return;
  }
  n = (size_t)snprintf(source, size, "snapshot");
  for (i = 0; i < o->nsnapshots && n < size; i++) n += (size_t)snprintf(source + n, size - n, " %s", o->snapshots[i]);
  if (o->kubeconfig && n < size)
    n += (size_t)snprintf(source + n, size - n, " of the live cluster (--kubeconfig %s)", o->kubeconfig);
  if (o->metrics && n < size) snprintf(source + n, size - n, ", usage %s", o->metrics);
}

/* The inputs of a point-in-time report: the snapshots, then the metrics file, as one step. */
struct inputs {
  struct stv_snapshot snap;
  struct stv_snapshot_read_stats stats;
  struct stv_metrics met;
  struct side sd;
  int have_snap, have_met;
};

static int read_inputs(const struct report_opts *o, struct stv_report *rep, struct inputs *in,
                       const char *annotation_key, struct stv_err *err) {
  size_t i;
  int rc;
  if ((rc = stv_snapshot_init(&in->snap)) != 0) return stv_err_set(err, rc, "out of memory");
  in->have_snap = 1;
  in->sd.snap = &in->snap;
  in->sd.stats = &in->stats;
  in->sd.annotation_key = annotation_key;
  for (i = 0; i < o->nsnapshots; i++)
    if ((rc = stv_kube_read(o->snapshots[i], side_item, &in->sd, &in->stats, err)) != 0) return rc;
  if (o->kubeconfig != NULL &&
      (rc = stv_kube_read_cluster(o->kubeconfig, o->context, side_item, &in->sd, report_input_note, rep, err)) != 0)
    return rc;
  if ((rc = stv_snapshot_finish(&in->snap, err)) != 0) return rc;
  if (stv_snapshot_notes(&in->snap, &in->stats, 1, report_input_note, rep) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  if (o->metrics != NULL) {
    stv_metrics_init(&in->met);
    in->have_met = 1;
    if ((rc = stv_metrics_read_file(&in->met, o->metrics, err)) != 0) return rc;
    if (in->met.len == 0 && stv_report_note(rep, "the metrics file %s lists no pods", o->metrics) != 0)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  return snapshot_step(rep, &in->snap, &in->sd, in->have_met ? &in->met : NULL, err);
}

static void inputs_close(struct inputs *in) {
  if (in->have_met) stv_metrics_close(&in->met);
  if (in->have_snap) stv_snapshot_close(&in->snap);
  stv_free(in->sd.pod_ann);
  stv_free(in->sd.node_pid);
}

/* Finishes the report, saying how to price unpriced nodes when none could be. */
static int finish_report(struct stv_report *rep, int default_rates, struct stv_err *err) {
  int rc = stv_report_finish(rep, err);
  if (rc == STV_ENOTFOUND && rep->nunpriced > 0 && !default_rates) {
    char why[sizeof(err->msg)];
    snprintf(why, sizeof(why), "%s", err->msg);
    stv_err_set(err, rc,
                "%.150s; without --no-default-prices (and report.defaultPrices.enabled: false in the config) such "
                "nodes are priced at default rates",
                why);
  }
  return rc;
}

/* The notes on standard error before the report. */
static void tell_notes(const struct report_opts *o, const struct stv_report *rep, const struct inputs *in) {
  if (o->quiet) return;
  if (in->have_snap) {
    char note[512];
    stv_snapshot_read_stats_format(&in->stats, note, sizeof(note));
    if (note[0]) fprintf(stderr, "stevedore report: note: %s\n", note);
  }
  if (rep->ndefault_priced > 0)
    fprintf(stderr,
            "stevedore report: note: %zu node%s priced at the default rates (the catalogue and the config could "
            "not price %s; first: %s: %s); see the report's default-priced nodes\n",
            rep->ndefault_priced, rep->ndefault_priced == 1 ? "" : "s", rep->ndefault_priced == 1 ? "it" : "them",
            rep->default_priced[0].node, rep->default_priced[0].reason);
}

/* Renders the report into out; invalid UTF-8 in names is said in the report too, rendered again. */
static int render(const struct report_opts *o, struct stv_report *rep, enum stv_report_format fmt, struct stv_buf *out,
                  struct stv_err *err) {
  size_t replaced;
  int rc;
  if ((rc = stv_report_render(rep, fmt, out, err)) != 0 || out->replaced == 0) return rc;
  replaced = out->replaced;
  if (!o->quiet)
    fprintf(stderr, "stevedore report: note: %zu byte%s of invalid UTF-8 in names written as U+FFFD\n", replaced,
            replaced == 1 ? "" : "s");
  if (stv_report_note(rep, "%zu byte%s of invalid UTF-8 in names written as U+FFFD", replaced,
                      replaced == 1 ? "" : "s") != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  stv_buf_close(out);
  return stv_report_render(rep, fmt, out, err);
}

int stv_cmd_report(int argc, char **argv) {
  struct report_opts o;
  struct settings set;
  struct stv_report rep;
  struct inputs in;
  struct stv_catalog cat;
  struct stv_buf out, hint;
  struct stv_config cfg;
  struct stv_err err = {0, ""};
  enum stv_report_format fmt;
  const char *by_key;
  unsigned allowed = 0;
  int rc, status = 0, have_cat = 0, input = 1;
  char source[600];

  memset(&set, 0, sizeof(set));
  memset(&rep, 0, sizeof(rep));
  memset(&in, 0, sizeof(in));
  stv_buf_init(&out);
  stv_buf_init(&hint);
  stv_config_init(&cfg);
  rc = parse_opts(argc, argv, &o, &err);
  if (rc == 1) {
    usage(stdout);
    stv_free(o.snapshots);
    return 0;
  }
  if (rc != 0) goto fail;
  if ((rc = resolve_settings(&o, &set, &cfg, &hint, &fmt, &by_key, &allowed, &err)) != 0) goto fail;
  if ((rc = stv_catalog_load(&cat, o.catalog, &err)) != 0) goto fail;
  have_cat = 1;

  /* The engine. */
  describe_source(&o, source, sizeof(source));
  set.ro.catalog = &cat;
  set.ro.by_key = by_key;
  set.ro.overrides = cfg.report.overrides;
  set.ro.noverrides = cfg.report.noverrides;
  set.ro.provider_capacity = cfg.report.provider_capacity;
  set.ro.nprovider_capacity = cfg.report.nprovider_capacity;
  set.ro.point_in_time = o.prometheus == NULL;
  set.ro.rightsize = o.rightsize;
  set.ro.margin = set.margin;
  set.ro.source = source;
  if ((rc = stv_report_init(&rep, &set.ro, &err)) != 0) goto fail;

  if (o.prometheus == NULL) {
    rc = read_inputs(&o, &rep, &in, set.ro.by == STV_BY_ANNOTATION ? by_key : NULL, &err);
  } else {
    input = 0;
    rc = collect_prometheus(&o, &rep, &err);
  }
  if (rc != 0 || (rc = finish_report(&rep, set.ro.default_rates, &err)) != 0) goto fail;
  if (o.rightsize) {
    if ((rc = check_repack_rows(&rep, &err)) != 0) goto fail;
    input = 0;
    rc = in.have_snap ? repack_snapshot(&rep, &in.snap, &cat, allowed, &err)
                      : repack_synthetic(&rep, &cat, allowed, &err);
    if (rc != 0) goto fail;
  }
  tell_notes(&o, &rep, &in);
  input = 0;
  if ((rc = render(&o, &rep, fmt, &out, &err)) != 0) goto fail;
  if (!o.quiet && !rep.complete)
    fprintf(stderr, "stevedore report: warning: the report is incomplete (%zu unpriced node%s); see the report\n",
            rep.nunpriced, rep.nunpriced == 1 ? "" : "s");
  if (out.len > 0) fwrite(out.data, 1, out.len, stdout);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "stevedore report: cannot write the report to standard output\n");
    status = 1;
  }
  goto done;
fail:
  fprintf(stderr, "stevedore report: %s\n", err.msg[0] ? err.msg : stv_strerror(rc));
  if (hint.len > 0) fwrite(hint.data, 1, hint.len, stderr);
  status = exit_status(rc, input);
done:
  stv_buf_close(&out);
  stv_report_close(&rep);
  inputs_close(&in);
  if (have_cat) stv_catalog_close(&cat);
  settings_close(&set);
  stv_config_close(&cfg);
  stv_buf_close(&hint);
  stv_free(o.snapshots);
  return status;
}
