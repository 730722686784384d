/*
 * `stevedore controller`: its flags and help (docs/controller.md, the man
 * page); the daemon itself is controller/daemon/. Exit status: 0 after a
 * clean shutdown (SIGTERM, SIGINT), 2 for a flag, file or address the
 * user can fix, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

#define LIST_MAX 256 /* names in --instance-types or --zones */

struct lists {
  char *types_buf, *zones_buf;
  const char *types[LIST_MAX], *zones[LIST_MAX];
};

static void usage(FILE *f) {
  fprintf(
      f,
      "Usage: stevedore controller [options]\n"
      "\n"
      "Runs the autoscaler against a Kubernetes cluster: watches pending pods and nodes, plans new\n"
      "nodes and scales them through the cloud provider; one replica acts (the Lease holder).\n"
      "\n"
      "Cluster:\n"
      "  --kubeconfig FILE          kubeconfig (default: KUBECONFIG, then ~/.kube/config, then in-cluster)\n"
      "  --context NAME             kubeconfig context (default: its current-context)\n"
      "Planning:\n"
      "  --provider NAME            sim (default), aws (docs/cloud-aws.md), gcp (docs/cloud-gcp.md),\n"
      "                             azure (docs/cloud-azure.md)\n"
      "  --cluster-name NAME        the cluster's name in the cloud: groups tagged for it are scaled\n"
      "  --config FILE              the YAML configuration: pools, limits, headroom (docs/config.md)\n"
      "  --catalog SPEC             aws:REGION, gcp:REGION, azure:REGION (every region is embedded), or a\n"
      "                             catalogue JSON file; default: the nodes' topology.kubernetes.io/region,\n"
      "                             else aws:us-east-1\n"
      "  --instance-types LIST      only these instance types (comma-separated)\n"
      "  --zones LIST               only these zones (comma-separated)\n"
      "  --capacity-types LIST      reserved,spot,on-demand (default: the configuration's, else all)\n"
      "  --batch-idle DURATION      a batch ends after this without a new pending pod (default 1s)\n"
      "  --batch-max DURATION       a batch lasts at most this (default 10s)\n"
      "  --decision-budget DURATION the optimizer's time per decision (default 1s)\n"
      "  --max-provision-time DURATION  a node not registered by then is given up (default 15m)\n"
      "  --sim-launch-delay DURATION    sim: launch to Ready node (default 30s)\n"
      "  --sim-ice-rate P           sim: each launch fails for insufficient capacity with probability P\n"
      "  --sim-throttle-rate P      sim: each provider call is throttled with probability P\n"
      "  --sim-prices FILE          sim: live prices read from FILE at each refresh (docs/prices-live.md)\n"
      "  --sim-seed N               sim: the seed of those faults (default 1)\n"
      "  --sim-interruptions-per-hour R  sim: spot interruptions per running spot instance (default 0)\n"
      "  --sim-interruption-notice DURATION  sim: interruption notice to termination (default 120s)\n"
      "  --dry-run                  decide, log, emit Events and metrics; change nothing in the cloud\n"
      "Node removal (docs/consolidation.md):\n"
      "  --empty-for DURATION       a node without workload pods this long is removed (default 30s)\n"
      "  --drain-timeout DURATION   evictions not done by then: the drain is undone (default 10m)\n"
      "  --disruption-budget N|P%%  nodes of a pool disrupted at once (default 10%%, at least 1)\n"
      "Replicas:\n"
      "  --leader-elect=true|false  elect one acting replica with a Lease (default true)\n"
      "  --lease-name NAME          the Lease (default stevedore)\n"
      "  --lease-namespace NS       its namespace (default POD_NAMESPACE, else the context's namespace)\n"
      "  --identity NAME            this replica in the Lease (default POD_NAME, else host name + suffix)\n"
      "  --lease-duration DURATION  --renew-deadline DURATION  --retry-period DURATION\n"
      "                             leader election's timings (default 15s, 10s, 2s, as client-go)\n"
      "Operations:\n"
      "  --metrics-address HOST:PORT  /metrics, /healthz, /readyz (default 0.0.0.0:8080; port 0: any)\n"
      "  --log-format logfmt|json   (default logfmt)\n"
      "  --log-level debug|info|warn|error  (default info)\n"
      "  --shutdown-timeout DURATION  SIGTERM: time for work in flight (default 10s)\n"
      "  -h, --help                 this help\n"
      "\n"
      "Durations: 500ms, 10s, 2m, 1h30m, or a number of seconds. See docs/controller.md.\n");
}

static int bad(const char *flag, const char *value, const char *why) {
  fprintf(stderr, "stevedore controller: %s \"%s\": %s (see stevedore controller --help)\n", flag, value,
          why);
  return 2;
}

/* Splits a comma-separated list of non-empty names into out[0..*n). */
static int split(const char *flag, const char *value, char **buf, const char **out, size_t *n) {
  char *p, *comma;
  stv_free(*buf);
  if ((*buf = stv_strdup(value)) == NULL) {
    fprintf(stderr, "stevedore controller: out of memory\n");
    return 1;
  }
  *n = 0;
  for (p = *buf;; p = comma + 1) {
    comma = strchr(p, ',');
    if (comma != NULL) *comma = '\0';
    if (*p == '\0') return bad(flag, value, "empty name in the list");
    if (*n == LIST_MAX) return bad(flag, value, "more than 256 names");
    out[(*n)++] = p;
    if (comma == NULL) return 0;
  }
}

static int duration(const char *flag, const char *value, double lo, double *out) {
  struct stv_err err = {0, ""};
  if (stv_config_parse_duration(value, out, &err) != 0) return bad(flag, value, err.msg);
  if (*out < lo) {
    char why[64];
    snprintf(why, sizeof(why), "must be at least %g s", lo);
    return bad(flag, value, why);
  }
  return 0;
}

static int probability(const char *flag, const char *value, double *out) {
  struct stv_err err = {0, ""};
  if (stv_config_parse_number(value, 0, 1, out, &err) != 0) return bad(flag, value, err.msg);
  return 0;
}

static int provider(const char *value, enum stv_daemon_provider *out) {
  if (strcmp(value, "sim") == 0) {
    *out = STV_PROVIDER_SIM;
    return 0;
  }
  if (strcmp(value, "aws") == 0) {
    *out = STV_PROVIDER_AWS;
    return 0;
  }
  if (strcmp(value, "gcp") == 0) {
    *out = STV_PROVIDER_GCP;
    return 0;
  }
  if (strcmp(value, "azure") == 0) {
    *out = STV_PROVIDER_AZURE;
    return 0;
  }
  return bad("--provider", value, "expected sim, aws, gcp or azure");
}

/* Handles one flag with a value; returns 0, or the exit status. */
static int with_value(const char *flag, const char *v, struct stv_daemon_opts *o, struct lists *l) {
  struct stv_err err = {0, ""};
  if (strcmp(flag, "--kubeconfig") == 0)
    o->kubeconfig = v;
  else if (strcmp(flag, "--context") == 0)
    o->context = v;
  else if (strcmp(flag, "--provider") == 0)
    return provider(v, &o->provider);
  else if (strcmp(flag, "--cluster-name") == 0)
    o->cluster_name = v;
  else if (strcmp(flag, "--config") == 0)
    o->config = v;
  else if (strcmp(flag, "--catalog") == 0)
    o->catalog = v;
  else if (strcmp(flag, "--metrics-address") == 0)
    o->metrics_address = v;
  else if (strcmp(flag, "--lease-name") == 0)
    o->lease_name = v;
  else if (strcmp(flag, "--lease-namespace") == 0)
    o->lease_namespace = v;
  else if (strcmp(flag, "--identity") == 0)
    o->identity = v;
  else if (strcmp(flag, "--batch-idle") == 0)
    return duration(flag, v, 0.001, &o->batch_idle);
  else if (strcmp(flag, "--batch-max") == 0)
    return duration(flag, v, 0.001, &o->batch_max);
  else if (strcmp(flag, "--decision-budget") == 0)
    return duration(flag, v, 0, &o->decision_budget);
  else if (strcmp(flag, "--max-provision-time") == 0)
    return duration(flag, v, 1, &o->max_provision);
  else if (strcmp(flag, "--sim-launch-delay") == 0)
    return duration(flag, v, 0, &o->sim_launch_delay);
  else if (strcmp(flag, "--shutdown-timeout") == 0)
    return duration(flag, v, 0, &o->shutdown_timeout);
  else if (strcmp(flag, "--test-drain-node") == 0) /* hidden: docs/testing.md */
    o->test_drain_node = v;
  else if (strcmp(flag, "--empty-for") == 0)
    return duration(flag, v, 0, &o->empty_for);
  else if (strcmp(flag, "--drain-timeout") == 0)
    return duration(flag, v, 1, &o->drain_timeout);
  else if (strcmp(flag, "--disruption-budget") == 0) {
    int64_t nodes;
    double percent;
    if (stv_config_parse_budget(v, &nodes, &percent, &err) != 0) return bad(flag, v, err.msg);
    o->disruption_budget = v;
  }
  else if (strcmp(flag, "--lease-duration") == 0)
    return duration(flag, v, 0.001, &o->lease_duration);
  else if (strcmp(flag, "--renew-deadline") == 0)
    return duration(flag, v, 0.001, &o->renew_deadline);
  else if (strcmp(flag, "--retry-period") == 0)
    return duration(flag, v, 0.001, &o->retry_period);
  else if (strcmp(flag, "--sim-ice-rate") == 0)
    return probability(flag, v, &o->sim_ice_rate);
  else if (strcmp(flag, "--test-block-loop") == 0) /* hidden: docs/testing.md */
    return duration(flag, v, 0.001, &o->test_block_loop);
  else if (strcmp(flag, "--sim-throttle-rate") == 0)
    return probability(flag, v, &o->sim_throttle_rate);
  else if (strcmp(flag, "--sim-prices") == 0)
    o->sim_prices = v;
  else if (strcmp(flag, "--sim-interruption-notice") == 0)
    return duration(flag, v, 0, &o->sim_interruption_notice);
  else if (strcmp(flag, "--sim-interruptions-per-hour") == 0) {
    struct stv_err e = {0, ""};
    if (stv_config_parse_number(v, 0, 3600, &o->sim_interruptions_per_hour, &e) != 0)
      return bad(flag, v, e.msg);
  } else if (strcmp(flag, "--sim-seed") == 0) {
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*v == '\0' || *end != '\0' || *v == '-') return bad(flag, v, "expected a whole number of 0 or more");
    o->sim_seed = n;
  } else if (strcmp(flag, "--instance-types") == 0)
    return split(flag, v, &l->types_buf, l->types, &o->ninstance_types);
  else if (strcmp(flag, "--zones") == 0)
    return split(flag, v, &l->zones_buf, l->zones, &o->nzones);
  else if (strcmp(flag, "--capacity-types") == 0) {
    if (stv_config_parse_capacity_types(v, &o->capacity_types, &err) != 0) return bad(flag, v, err.msg);
  } else if (strcmp(flag, "--leader-elect") == 0) {
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) return bad(flag, v, "expected true or false");
    o->leader_elect = strcmp(v, "true") == 0;
  } else if (strcmp(flag, "--log-format") == 0) {
    enum stv_log_format f;
    if (stv_log_format_parse(v, &f) != 0) return bad(flag, v, "expected logfmt or json");
    stv_log_set_format(f);
  } else if (strcmp(flag, "--log-level") == 0) {
    enum stv_log_level lv;
    if (stv_log_level_parse(v, &lv) != 0) return bad(flag, v, "expected debug, info, warn or error");
    stv_log_set_level(lv);
  } else {
    fprintf(stderr, "stevedore controller: unknown option \"%s\" (see stevedore controller --help)\n", flag);
    return 2;
  }
  return 0;
}

/* The flags that take a value. */
static const char *const value_flags[] = {"--kubeconfig",
                                          "--context",
                                          "--provider",
                                          "--cluster-name",
                                          "--config",
                                          "--catalog",
                                          "--metrics-address",
                                          "--lease-name",
                                          "--lease-namespace",
                                          "--identity",
                                          "--batch-idle",
                                          "--batch-max",
                                          "--decision-budget",
                                          "--max-provision-time",
                                          "--sim-launch-delay",
                                          "--shutdown-timeout",
                                          "--lease-duration",
                                          "--renew-deadline",
                                          "--retry-period",
                                          "--sim-ice-rate",
                                          "--sim-throttle-rate",
                                          "--sim-seed",
                                          "--sim-interruptions-per-hour",
                                          "--sim-interruption-notice",
                                          "--sim-prices",
                                          "--instance-types",
                                          "--zones",
                                          "--capacity-types",
                                          "--leader-elect",
                                          "--log-format",
                                          "--log-level",
                                          "--test-block-loop",
                                          "--empty-for",
                                          "--drain-timeout",
                                          "--disruption-budget",
                                          "--test-drain-node",
                                          NULL};

static int takes_value(const char *flag) {
  size_t i;
  for (i = 0; value_flags[i] != NULL; i++)
    if (strcmp(flag, value_flags[i]) == 0) return 1;
  return 0;
}

/* Returns 0 to run, -1 after --help, or the exit status. */
static int parse(int argc, char **argv, struct stv_daemon_opts *o, struct lists *l) {
  int i, rc;
  for (i = 1; i < argc; i++) {
    char flag[64];
    const char *a = argv[i], *eq = strchr(a, '='), *v;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return -1;
    }
    if (strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "stevedore controller: unexpected argument \"%s\" (see stevedore controller --help)\n",
              a);
      return 2;
    }
    snprintf(flag, sizeof(flag), "%.*s", eq != NULL ? (int)(eq - a) : (int)strlen(a), a);
    if (strcmp(flag, "--dry-run") == 0 || (strcmp(flag, "--leader-elect") == 0 && eq == NULL)) {
      if (eq != NULL) return bad(flag, eq + 1, "takes no value");
      if (strcmp(flag, "--dry-run") == 0)
        o->dry_run = 1;
      else
        o->leader_elect = 1;
      continue;
    }
    if (!takes_value(flag)) {
      fprintf(stderr, "stevedore controller: unknown option \"%s\" (see stevedore controller --help)\n",
              flag);
      return 2;
    }
    if (eq != NULL) {
      v = eq + 1;
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      fprintf(stderr, "stevedore controller: %s needs a value (see stevedore controller --help)\n", flag);
      return 2;
    }
    if ((rc = with_value(flag, v, o, l)) != 0) return rc;
  }
  if (o->batch_idle > o->batch_max) {
    fprintf(stderr, "stevedore controller: --batch-idle (%g s) is longer than --batch-max (%g s)\n",
            o->batch_idle, o->batch_max);
    return 2;
  }
  o->instance_types = l->types;
  o->zones = l->zones;
  return 0;
}

int stv_cmd_controller(int argc, char **argv) {
  struct stv_daemon_opts o;
  struct lists l;
  struct stv_err err = {0, ""};
  int rc;
  memset(&l, 0, sizeof(l));
  stv_daemon_opts_default(&o);
  rc = parse(argc, argv, &o, &l);
  if (rc == 0) {
    rc = stv_daemon_run(&o, &err);
    if (rc != 0) fprintf(stderr, "stevedore controller: %s\n", err.msg[0] ? err.msg : stv_strerror(rc));
    rc = rc == 0 ? 0 : rc == STV_ENOMEM || rc == STV_EIO ? 1 : 2;
  } else if (rc < 0) {
    rc = 0;
  }
  stv_free(l.types_buf);
  stv_free(l.zones_buf);
  return rc;
}
