/*
 * config: Stevedore's configuration file (YAML, read with libyaml): the
 * capacity types new nodes may use, the optimizer's time budget, the spot
 * risk policy, node pools and headroom (read by `stevedore recommend`), and
 * the report section (read by `stevedore report`). One file configures both
 * commands; each checks the whole file and uses its own part. The schema, with a full example, is
 * in docs/config.md. Every key is checked: an unknown key, a value of the
 * wrong type or out of range is an error naming the file, the line and
 * column, and the key's path:
 *
 *   stevedore.yaml:12:5: nodePools[0].capacityTypes[1]: unknown capacity
 *   type "spto" (expected reserved, spot, on-demand)
 *
 * Command-line flags override what the file says; the caller applies them
 * to the loaded struct stv_config.
 */
#ifndef STV_CONFIG_H
#define STV_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "packer.h"
#include "pricing.h"

/* One manual headroom unit: count virtual pods, each requesting cpu and memory. */
struct stv_headroom_unit {
  uint32_t count;
  int64_t cpu;    /* millicores */
  int64_t memory; /* bytes */
};

/* The most virtual pods one headroom unit may ask for. */
#define STV_HEADROOM_COUNT_MAX 100000
/*
 * Limits that keep the work a small file can ask for within seconds
 * (docs/config.md): node pools (each makes a template per offering it
 * admits), manual headroom units (each a pod class of its own), virtual
 * pods in all (manual and automatic), and YAML nesting depth (libyaml's
 * parser slows down quadratically on deep flow collections).
 */
#define STV_NODE_POOLS_MAX     20
#define STV_HEADROOM_UNITS_MAX 32
#define STV_HEADROOM_PODS_MAX  50000
#define STV_YAML_DEPTH_MAX     32
/* Longest optimizer budget accepted, seconds (a day). */
#define STV_TIME_LIMIT_MAX 86400.0
/* The optimizer's budget when neither the file nor a flag sets one, seconds. */
#define STV_TIME_LIMIT_DEFAULT 10.0

/*
 * The report section: the settings of `stevedore report` (docs/report.md,
 * "Configuration"). Arrays live in the config's mem, strings in its
 * strings; both are borrowed by whoever reads them.
 */
struct stv_report_config {
  struct stv_price_override *overrides; /* prices.nodes, then prices.instanceTypes */
  size_t noverrides;
  struct stv_provider_capacity *provider_capacity; /* providerCapacityTypes */
  size_t nprovider_capacity;
  double ratio_cpu, ratio_ram, ratio_gpu; /* ratios; 0 = the STV_RATIO_* default */
  const char **shared_namespaces;         /* sharedNamespaces, when have_shared */
  size_t nshared;
  int have_shared;                  /* sharedNamespaces given; [] (nshared 0) means none */
  enum stv_shared_mode shared_mode; /* sharedMode; default even */
  double overhead_hourly;           /* overheadHourly; default 0 */
  double margin;                    /* margin; default 0.2 */
  int default_rates;                /* defaultPrices.enabled; default 1 */
  /* defaultPrices.cpu, ramGiB, gpu, spotCpu, spotRamGiB; default OpenCost's. */
  double default_cpu, default_ram, default_gpu, default_spot_cpu, default_spot_ram;
};

/*
 * azure: the Azure provider's settings (docs/cloud-azure.md); every field
 * NULL or 0 when not given (the provider's defaults and the environment's
 * AZURE_* variables apply). Strings live in the configuration's pool.
 */
struct stv_azure_settings {
  const char *subscription_id, *resource_group, *resource_manager_endpoint, *authority_host;
  const char *imds_endpoint, *cluster_name, *api_version, *ca_file;
  double poll_interval, watch_interval; /* seconds */
  const char *prices_endpoint;          /* pricesEndpoint: the Retail Prices API (docs/prices-live.md) */
};

/* The highest price, rate or overhead the report section accepts, per hour. */
#define STV_REPORT_PRICE_MAX 1e9
/* The highest right-sizing margin (1000 %). */
#define STV_REPORT_MARGIN_MAX 10.0

/*
 * The gcp section: where and what the GCP provider (`--provider gcp`,
 * docs/cloud-gcp.md) manages. Strings interned in the config's strings;
 * NULL when not set (the provider's defaults then apply).
 */
struct stv_gcp_config {
  const char *project;          /* gcp.project */
  const char *compute_endpoint; /* gcp.computeEndpoint */
  const char *token_endpoint;   /* gcp.tokenEndpoint */
  const char *credentials_file; /* gcp.credentialsFile */
  const char *metadata_host;    /* gcp.metadataHost */
  const char *name_prefix;      /* gcp.namePrefix */
  const char *ca_file;          /* gcp.caFile */
  int64_t min_size, max_size;   /* gcp.minSize (default 0), gcp.maxSize (default 0: the provider's 1000) */
  double poll_interval;         /* gcp.pollInterval, seconds; 0: the provider's default */
  const char *billing_endpoint; /* gcp.billingEndpoint (live prices) */
  const char *region;           /* gcp.region: the catalogue's region when no --catalog and no nodes say */
};

/*
 * The aws section: the AWS provider's settings (`--provider aws`,
 * docs/cloud-aws.md). Strings interned in the config's strings; NULL when
 * not set. The environment (AWS_REGION, AWS_ENDPOINT_URL*, AWS_CA_BUNDLE)
 * wins over each, as in the AWS SDKs.
 */
struct stv_aws_config {
  const char *region;               /* aws.region */
  const char *endpoint;             /* aws.endpoint: every service's */
  const char *autoscaling_endpoint; /* aws.autoScalingEndpoint */
  const char *ec2_endpoint;         /* aws.ec2Endpoint */
  const char *sts_endpoint;         /* aws.stsEndpoint */
  const char *ca_file;              /* aws.caFile */
  int reservations;                 /* aws.reservations; default 1 */
  int spot_prices;                  /* aws.spotPrices; default 1 */
};

/*
 * disruption: how `stevedore controller` removes nodes (docs/consolidation.md,
 * "Draining and emptiness").
 */
struct stv_disruption_config {
  double empty_for;      /* emptyFor, seconds; default 30 */
  double drain_timeout;  /* drainTimeout, seconds; default 600 */
  int64_t budget_nodes;  /* budget as a whole number of nodes of a pool at once; -1: budget_percent */
  double budget_percent; /* budget as a percentage of a pool's nodes (at least 1 node); default 10 */
  int emptiness;         /* emptiness: remove empty nodes; default true */
};

/* The defaults of disruption:. */
#define STV_EMPTY_FOR_DEFAULT     30.0
#define STV_DRAIN_TIMEOUT_DEFAULT 600.0
#define STV_DISRUPTION_BUDGET_DEFAULT 10.0

/*
 * A disruption budget: a whole number of nodes ("2"; "0": none) into
 * *nodes with *percent 0, or a percentage ("10%") into *percent with
 * *nodes -1. Returns 0 or STV_EINVAL with err saying what is wrong with s.
 */
int stv_config_parse_budget(const char *s, int64_t *nodes, double *percent, struct stv_err *err);

/*
 * A configuration: what the file said over the defaults. Strings are
 * interned in strings, arrays live in mem; close with stv_config_close.
 */
struct stv_config {
  unsigned capacity_types; /* (1u << STV_CT_*) mask; default all three */
  double time_limit;       /* optimizer budget, seconds; default 10 */
  struct stv_spot_policy spot;
  struct stv_node_pool *pools; /* none: one default pool, the whole catalogue */
  size_t npools;
  struct stv_headroom_unit *headroom; /* manual units */
  size_t nheadroom;
  double headroom_percent; /* automatic headroom, % of existing allocatable; 0 = none */
  const char *const *scheduler_names; /* schedulerNames; NULL: default-scheduler only */
  uint32_t nscheduler_names;
  int32_t priority_cutoff; /* expendablePodsPriorityCutoff; default STV_PRIORITY_CUTOFF_DEFAULT */
  double gap_tolerance;    /* gapTolerance, percent; default 100 x STV_GAP_TOLERANCE_DEFAULT; 0: optimum only */
  struct stv_strpool strings;
  struct stv_arena mem;
  int repack_system_pods; /* repack.systemPods: the what-if repack may move system pods */
  struct stv_report_config report; /* report: what `stevedore report` reads */
  struct stv_limits limits;        /* limits: the cluster's (stv_limits_none: no limit) */
  double node_cost;                /* nodeCost: per node-hour on every new node whose pool sets none; default 0 */
  struct stv_azure_settings azure; /* azure: the Azure provider's settings */
  struct stv_gcp_config gcp;       /* gcp: the GCP provider's settings */
  double prices_refresh;           /* prices.refresh: seconds between live price reads; 0: never; default 1 h */
  struct stv_aws_config aws;       /* aws: the AWS provider's settings */
  struct stv_disruption_config disruption; /* disruption: node removal by the controller */
};

/* The default of prices.refresh, and its largest value (a week). */
#define STV_PRICES_REFRESH_DEFAULT 3600.0
#define STV_PRICES_REFRESH_MAX (7 * 86400.0)

/* The largest nodeCost accepted, per node-hour: more is a unit mistake. */
#define STV_NODE_COST_MAX 1000.0

/* Sets c (caller-allocated) to the defaults; allocates nothing. */
void stv_config_init(struct stv_config *c);

/*
 * Reads the YAML file at path (borrowed) into c, which holds the defaults
 * (stv_config_init) and keeps them on error. Returns 0; -errno when the
 * file cannot be read; STV_ELIMIT beyond 1 MiB; STV_EPARSE for a syntax
 * error, an empty file or a document that is not a mapping; STV_EINVAL
 * for a key or value the schema rejects; STV_ENOMEM. err says why,
 * starting with "path:line:column: ".
 */
int stv_config_load_file(struct stv_config *c, const char *path, struct stv_err *err);

/* As stv_config_load_file, for text[0..len) (borrowed) named name in messages. */
int stv_config_load_text(struct stv_config *c, const char *name, const char *text, size_t len,
                         struct stv_err *err);

/* Frees what c holds and leaves it at the defaults. */
void stv_config_close(struct stv_config *c);

/*
 * Parsers shared by the file and the command line. Each returns 0 or
 * STV_EINVAL, with a message in err (which names the value, not the key).
 */
/* A comma-separated list of reserved, spot, on-demand into a mask. */
int stv_config_parse_capacity_types(const char *list, unsigned *mask, struct stv_err *err);
/* Seconds, as a number ("10", "2.5") or a duration ("500ms", "10s", "2m", "1h"), 0 to a day. */
int stv_config_parse_duration(const char *s, double *seconds, struct stv_err *err);
/* A percentage, "10%" or "2.5%" (with allow_bare, also "10"), from 0 to 100. */
int stv_config_parse_percent(const char *s, int allow_bare, double *percent, struct stv_err *err);
/* A decimal number from lo to hi ("0.3", "1", "1e-2"). */
int stv_config_parse_number(const char *s, double lo, double hi, double *out, struct stv_err *err);

/*
 * A comma-separated list of scheduler names ("default-scheduler,my-scheduler")
 * into names[0..*n), pointers into buf (a writable copy of the list, which
 * the caller keeps while the names are used; split in place); at most max
 * names. Empty names are refused.
 */
int stv_config_parse_scheduler_names(char *buf, const char **names, size_t max, size_t *n,
                                     struct stv_err *err);
/* A priority cutoff: a whole number that fits in 32 bits ("-10", "0", "1000"). */
int stv_config_parse_priority(const char *s, int32_t *out, struct stv_err *err);

/* Writes the names of the types in mask, comma-separated, into buf; returns buf. */
char *stv_config_format_capacity_types(unsigned mask, char *buf, size_t size);

/*
 * Checks, by one event-level pass of libyaml over text[0..len) (borrowed;
 * name is the file for messages), that lists and mappings nest at most
 * max_depth deep. It stops at the first collection too deep, before
 * libyaml's scanner, quadratic in the depth of unclosed flow collections
 * ("[[[[..."), has gone far. Returns 0; STV_ELIMIT ("name:line:col: ...
 * nested more than N deep"); STV_EPARSE for a YAML syntax error, with the
 * same message the load gives; STV_ENOMEM.
 */
int stv_config_yaml_depth_check(const char *name, const char *text, size_t len, int max_depth,
                                struct stv_err *err);

#endif
