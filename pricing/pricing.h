/*
 * pricing: the catalogue of instance types a cluster may add, with their
 * capacity, allocatable resources, labels and priced offerings (one per
 * capacity type and zone), and the builder that turns a catalogue into the
 * packer's node templates for one snapshot. The catalogue format is the
 * JSON document described in docs/catalog.md; two catalogues are embedded
 * in the program ("aws:us-east-1" and "gcp:us-east1"), generated at build
 * time from pricing/data/.
 */
#ifndef STV_PRICING_H
#define STV_PRICING_H

#include <stddef.h>
#include <stdint.h>

#include "packer.h"
#include "report.h"

/* One resource quantity: cpu in millicores, anything else in whole units. */
struct stv_resource {
  const char *name; /* interned in the catalogue's pool */
  int64_t value;
};

/* One way to buy an instance type: a capacity type in a zone, at a price. */
struct stv_offering {
  enum stv_capacity_type capacity_type;
  const char *zone;         /* interned */
  double price;             /* per hour, in the catalogue's currency */
  double interruption_rate; /* spot: expected fraction interrupted, 0..1;
                               negative when unknown or not spot */
  int64_t count;            /* reserved: instances held; -1 = unlimited */
  /* Provenance (docs/prices-live.md): 1 when price (and count) came from a
   * live quote (stv_catalog_apply_quotes), 0 when from the catalogue. */
  int live;
  double as_of; /* live: unix seconds the figure took effect or was read; 0: unknown */
};

/*
 * A price a cloud publishes, read live to refresh an embedded catalogue
 * (docs/prices-live.md): an on-demand or spot price per hour, or a
 * reservation (capacity type reserved, with the instances held). Strings
 * are borrowed.
 */
struct stv_price_quote {
  const char *instance_type;            /* as the catalogue names it */
  enum stv_capacity_type capacity_type;
  const char *zone;                     /* as nodes label it; NULL: every zone of the type */
  double price;                         /* per hour, in the catalogue's currency; finite, >= 0 */
  int64_t count;                        /* reserved: instances held (>= 0); otherwise -1 */
  double as_of;                         /* unix seconds the figure took effect or was read; 0: unknown */
};

/*
 * An instance type. capacity and allocatable list the same resources in
 * the same order: cpu, memory, ephemeral-storage, pods (those present;
 * pods always is), then the others sorted by name.
 */
struct stv_instance_type {
  const char *name; /* interned */
  const char *arch; /* interned: "amd64", "arm64", ... */
  uint32_t nres;
  struct stv_resource *capacity;
  struct stv_resource *allocatable;
  struct stv_labels labels; /* sorted by key, keys unique, interned */
  uint32_t noff;
  struct stv_offering *off; /* at least one; (type, zone) pairs unique */
  /*
   * Burstable types (AWS T2/T3/T3a/T4g, GCP e2 shared-core, Azure B):
   * baseline is the share of each vCPU the type sustains (0 < b < 1; 0 =
   * not burstable), surplus_price the price per vCPU-hour of the surplus
   * credits spent above it in unlimited mode (negative: none, the type
   * cannot run above its baseline for long). docs/catalog.md.
   */
  double baseline;
  double surplus_price;
};

/*
 * A loaded catalogue. Types are sorted by name (strcmp) and names are
 * unique. Every string is interned in pool and every array lives in mem,
 * so the whole catalogue is freed by stv_catalog_close.
 */
struct stv_catalog {
  const char *provider, *region, *currency;
  size_t ntypes;
  struct stv_instance_type *types;
  size_t left_out; /* embedded: types priced in the region but left out for want of a published shape */
  /*
   * Provenance (docs/prices-live.md). origin is the embedded catalogue's
   * name ("azure:westeurope") or the file's path as given, data_date (static)
   * when an embedded catalogue's figures were collected ("2026-06-18"; NULL
   * for a file). After stv_catalog_apply_quotes: live_source names the API(s)
   * the live figures came from, live_offerings counts the offerings whose
   * figure is live, live_changed those whose price or count differs from the
   * base's (or that the quotes added), live_read_at when they were applied
   * (unix seconds) and live_as_of the oldest as_of among them (0: unknown).
   * NULL/0 when not set. Strings interned in pool.
   */
  const char *origin;
  const char *data_date;
  const char *live_source;
  size_t live_offerings, live_changed;
  double live_read_at, live_as_of;
  struct stv_strpool pool;
  struct stv_arena mem;
};

/*
 * Loads the catalogue named by spec (borrowed) into c (caller-allocated,
 * uninitialised): an embedded catalogue ("aws:us-east-1", "gcp:europe-west4",
 * "azure:westeurope": every region of pricing/data/), else the path of a
 * JSON file. Returns 0; STV_ENOTFOUND when spec is neither an embedded name
 * nor an existing file (for "aws:eu-west-9" the message lists the nearest
 * aws regions); STV_EIO when embedded data is damaged (a build fault);
 * -errno when the file cannot be read; STV_ELIMIT when it
 * exceeds 256 MiB; otherwise as stv_catalog_load_json. On error c holds
 * nothing and need not be closed (closing it is harmless); err (may be
 * NULL) says why, starting with the file name.
 */
int stv_catalog_load(struct stv_catalog *c, const char *spec,
                     struct stv_err *err);

/*
 * Loads the catalogue JSON text[0..len) (borrowed; need not be
 * NUL-terminated) into c (caller-allocated, uninitialised). name_for_errors
 * (borrowed) starts every message. Returns 0; STV_EPARSE when the text is
 * not JSON (the message gives line and column); STV_EINVAL when it breaks
 * the format, with the item and field named ("catalog.json:
 * instance_types[3] \"m5.large\": offerings[1].price: must be a
 * non-negative number"); STV_ENOMEM. On error c holds nothing and need not
 * be closed.
 */
int stv_catalog_load_json(struct stv_catalog *c, const char *name_for_errors,
                          const char *text, size_t len, struct stv_err *err);

/* Frees everything c holds and leaves it empty; c itself is the caller's. */
void stv_catalog_close(struct stv_catalog *c);

/* Returns the type called name (borrowed) or NULL; the result is c's. */
const struct stv_instance_type *stv_catalog_find(const struct stv_catalog *c,
                                                 const char *name);

/*
 * The hourly price of one node of instance type type (borrowed) bought as
 * ct in zone (borrowed, may be NULL), as `stevedore report` prices existing
 * nodes: the offering in that zone, else the mean of the type's ct
 * offerings (*zone_mean set to 1). Returns 0 with *price set;
 * STV_ENOTFOUND when the type is not in c, or has no ct offering; reason
 * (size bytes, may be NULL) then says which.
 */
int stv_catalog_price(const struct stv_catalog *c, const char *type, enum stv_capacity_type ct,
                      const char *zone, double *price, int *zone_mean, char *reason, size_t size);

/*
 * Returns the value of resource name (borrowed) in res[0..nres) (a type's
 * capacity or allocatable), or 0 when the type does not have it.
 */
int64_t stv_resource_get(const struct stv_resource *res, uint32_t nres,
                         const char *name);

/* Returns 1 when s is a Kubernetes label value: at most 63 of [-_.A-Za-z0-9], alphanumeric at both ends, or "". */
int stv_valid_label_value(const char *s);
/* Returns 1 when s is a qualified name (a label key, a resource name): [DNS-subdomain/]name. */
int stv_valid_qualified_name(const char *s);

/* The catalogue used when neither a flag nor the cluster's nodes name one. */
#define STV_CATALOG_DEFAULT "aws:us-east-1"

/* Returns the name of the i-th embedded catalogue (static), or NULL. */
const char *stv_catalog_embedded_name(size_t i);

/* The region labels of a node: the well-known one and the beta one older clusters still set. */
#define STV_REGION_LABEL "topology.kubernetes.io/region"
#define STV_OLD_REGION_LABEL "failure-domain.beta.kubernetes.io/region"

/* A node's region: its STV_REGION_LABEL, else its STV_OLD_REGION_LABEL, else NULL (borrowed from labels). */
const char *stv_region_label(const struct stv_labels *labels);

/*
 * Chooses the embedded catalogue of the region a cluster's n nodes are in:
 * regions[i] is node i's region label (stv_region_label; may be NULL) and
 * provider_ids[i] its spec.providerID (provider_ids or any entry may be
 * NULL), whose scheme names the cloud ("aws://", "gce://", "azure://").
 * Writes the catalogue's name ("aws:eu-west-1") into spec[size] and a
 * sentence saying why into note[note_size], and returns 0; or, when the
 * labels are absent, disagree, or name no embedded region, writes into note
 * why not and returns STV_ENOTFOUND (the caller falls back to
 * STV_CATALOG_DEFAULT). Arguments are borrowed.
 */
int stv_catalog_guess(const char *const *regions, const char *const *provider_ids, size_t n, char *spec, size_t size,
                      char *note, size_t note_size);

/* stv_catalog_guess over nodes[0..n) of a snapshot, from their labels alone. */
int stv_catalog_guess_nodes(const struct stv_node *nodes, size_t n, char *spec, size_t size, char *note,
                            size_t note_size);

/* ---------------------------------------------------------------------- */
/* Live prices (pricing/live.c, docs/prices-live.md)                      */

/* What stv_catalog_apply_quotes did with its quotes. */
struct stv_quote_stats {
  size_t quotes;        /* quotes given */
  size_t applied;       /* quotes that set an offering's figure */
  size_t changed;       /* offerings whose price or count changed, or that were added */
  size_t added;         /* offerings added (a spot price for a type the base sells on demand only; a reservation) */
  size_t superseded;    /* quotes for an offering that a later quote (as_of) priced */
  size_t unknown_types; /* quotes for types base does not have: counted, not applied */
  size_t unknown_zones; /* quotes for zones the type is not offered in: counted, not applied */
};

/*
 * Builds into out (caller-allocated, uninitialised) a copy of base
 * (borrowed; not changed) with the quotes q[0..n) (borrowed) over its
 * figures, and source (borrowed, may be NULL) as its live_source:
 * - an on-demand or spot quote with a zone sets the price of that offering;
 *   without a zone, of the type's offerings of that capacity type in every
 *   zone. When the type has none of that capacity type (embedded Azure
 *   catalogues have no spot prices) they are added, one per zone the type
 *   is offered in, with an unknown interruption rate;
 * - reserved quotes replace the base's reserved offering of that (type,
 *   zone), or add one; several quotes for one (type, zone) add their counts
 *   at the count-weighted mean price; a quote without a zone (a regional
 *   reservation) is split evenly over the type's zones (the first zones take
 *   the remainder), so that no zone promises more reserved nodes than held;
 * - of two spot or on-demand quotes for one offering the later as_of wins;
 * - quotes for types or zones base does not have are counted in st, not
 *   applied.
 * Every figure set is marked live with its as_of. st (may be NULL) says
 * what happened. Returns 0; STV_EINVAL for a bad quote (no instance type,
 * a price negative, NaN or above 1e6 per hour, a reserved count negative or
 * above 1e6, a bad as_of), the message naming it ("quote 3 (m5.large spot
 * us-east-1a): price: -0.5 is negative"); STV_ENOMEM. On error out holds
 * nothing and need not be closed.
 */
int stv_catalog_apply_quotes(struct stv_catalog *out, const struct stv_catalog *base,
                             const struct stv_price_quote *q, size_t n, const char *source,
                             struct stv_quote_stats *st, struct stv_err *err);

/*
 * Builds into out (caller-allocated, uninitialised) a deep copy of base
 * (borrowed), provenance included. Returns 0 or STV_ENOMEM.
 */
int stv_catalog_copy(struct stv_catalog *out, const struct stv_catalog *base, struct stv_err *err);

/*
 * Writes one sentence saying which prices c uses into buf[size] ("embedded
 * catalogue azure:westeurope (data of 2026-06-18)", "catalogue file
 * my.json", "... with 12 live figures from the Azure Retail Prices API as
 * of 2026-12-08T01:00:00Z") and returns buf.
 */
const char *stv_catalog_describe(const struct stv_catalog *c, char *buf, size_t size);

/* ---------------------------------------------------------------------- */
/* Node templates                                                         */

/* The templates of one catalogue for one snapshot; arrays live in mem. */
struct stv_templates {
  struct stv_template *v;
  size_t n;
  struct stv_arena mem;
  /* stv_templates_build_owned only: the strings (in pool) and what of the
   * snapshot they were built for (see stv_templates_fit). */
  struct stv_strpool pool;
  int owned;
  struct stv_resnames res;
  const char **zone_labels; /* in mem, strings in pool */
  uint32_t nzone_labels;
};

/*
 * Whether a node pool may use burstable types (struct stv_instance_type's
 * baseline > 0) for new nodes, and how their cpu is counted
 * (docs/config.md, "burstable"):
 *   STV_BURST_NONE      not at all (the default);
 *   STV_BURST_STANDARD  yes; a node offers pods only its baseline share of
 *                       its vCPUs (vCPUs x baseline, at most allocatable);
 *   STV_BURST_UNLIMITED yes; all of its allocatable cpu, and its cost adds
 *                       the surplus credits of the requested cpu above the
 *                       baseline (types without a surplus_price: as standard).
 */
enum stv_burst_mode { STV_BURST_NONE = 0, STV_BURST_STANDARD, STV_BURST_UNLIMITED };

/* Returns "none", "standard" or "unlimited" (static). */
const char *stv_burst_mode_name(enum stv_burst_mode m);

/*
 * A node pool: which offerings of the catalogue its new nodes may use and
 * what those nodes carry besides the labels below. Every list may be empty,
 * meaning any. Borrowed by the template builder, which copies what it keeps.
 */
struct stv_node_pool {
  const char *name; /* a label value, unique among the pools */
  uint32_t nfamilies;
  const char *const *families; /* instance families (stv_instance_family) */
  uint32_t nsizes;
  const char *const *sizes; /* what follows the family: "large", "standard-4" */
  uint32_t narchs;
  const char *const *archs; /* kubernetes.io/arch values */
  uint32_t nzones;
  const char *const *zones;
  unsigned capacity_types;  /* (1u << STV_CT_*) mask; 0 = any */
  struct stv_labels labels; /* added to every node of the pool */
  uint32_t ntaints;
  const struct stv_taint *taints; /* set on every node of the pool */
  struct stv_limits limits;       /* what the pool may hold (stv_limits_none: no limit) */
  enum stv_burst_mode burstable;  /* STV_BURST_NONE: no burstable types */
  double node_cost;               /* per node-hour beyond the price; negative:
                                     not set, stv_templates_default_node_cost's
                                     applies */
};

/*
 * Splits the instance type name type (borrowed) of a catalogue of provider
 * (may be NULL) into its family and size: the family is the name up to the
 * first '.' for "aws" (m5.2xlarge: m5), the first '-' for "gcp"
 * (n2-standard-4: n2), and the first of either for any other provider.
 * Returns the family's length and sets *size (when size is not NULL) to
 * the rest after the separator ("2xlarge", "standard-4"; "" when the name
 * has no separator).
 */
size_t stv_instance_family(const char *provider, const char *type, const char **size);

/*
 * Builds into t (caller-allocated, uninitialised) one template per
 * offering of c (borrowed) whose capacity type is in allowed, a bit mask
 * of (1u << STV_CT_*), in catalogue order. Strings are interned in
 * snap->pool, so snap must outlive t. Resources map to the dimensions of
 * snap->res that already exist (names the snapshot does not know are
 * skipped: no pod asks for them); dimensions the type lacks are 0.
 * Each template's labels, sorted by key, are kubernetes.io/arch,
 * kubernetes.io/os=linux, node.kubernetes.io/instance-type,
 * topology.kubernetes.io/zone, topology.kubernetes.io/region,
 * stevedore.io/capacity-type and its well-known equivalents, so that pods
 * selecting on them match: karpenter.sh/capacity-type (reserved, spot,
 * on-demand), for provider "aws" eks.amazonaws.com/capacityType (SPOT;
 * ON_DEMAND for on-demand and reserved), and for provider "gcp"
 * cloud.google.com/gke-spot=true on spot only; plus the type's own labels
 * (the labels above win a conflict). limit is the reserved count, else -1;
 * interruption_rate is the offering's (0 when unknown); pool is NULL and
 * there are no taints. Returns 0 or STV_ENOMEM; on error t holds nothing
 * and need not be closed.
 */
int stv_templates_build(struct stv_templates *t, const struct stv_catalog *c,
                        struct stv_snapshot *snap, unsigned allowed,
                        struct stv_err *err);

/*
 * As stv_templates_build, but with node pools (borrowed; npools == 0 is
 * stv_templates_build): one template per (pool, offering) that the pool
 * admits, pool by pool, each in catalogue order. A pool admits an offering
 * when its type's family, size and arch, and the offering's zone, are in
 * the pool's lists (empty lists admit all) and its capacity type is both
 * allowed and in the pool's mask. Such a template carries the pool's
 * labels (over the type's own; Stevedore's labels win over both) plus
 * stevedore.io/node-pool=NAME, the pool's taints, and pool = NAME
 * interned in snap->pool. Same returns as stv_templates_build.
 *
 * Burstable types are left out, except in a pool whose burstable mode
 * allows them (stv_burst_mode); with no pools, always. A pool's node_cost
 * (when set) goes into each of its templates.
 */
int stv_templates_build_pools(struct stv_templates *t, const struct stv_catalog *c,
                              struct stv_snapshot *snap, unsigned allowed,
                              const struct stv_node_pool *pools, size_t npools,
                              struct stv_err *err);

/*
 * Sets the per-node cost (money per node-hour beyond the price: daemons,
 * addresses, control-plane load) of every template of t whose pool does not
 * set its own (pools[0..npools), as given to stv_templates_build_pools,
 * borrowed; a pool's node_cost negative) to cost (>= 0).
 */
void stv_templates_default_node_cost(struct stv_templates *t, const struct stv_node_pool *pools, size_t npools,
                                     double cost);

/*
 * Points every template of t built for one of pools[0..npools) (as given to
 * stv_templates_build_pools, borrowed; they must outlive t's use) at its
 * pool's limits, so that the packer keeps limits.nodes. Pools whose limits
 * are all unset (stv_limits_none) leave their templates without.
 */
void stv_templates_pool_limits(struct stv_templates *t, const struct stv_node_pool *pools, size_t npools);

/*
 * As stv_templates_build_pools, but every string is interned in t's own
 * pool, so that t does not borrow snap (only read here) and may serve
 * later snapshots: the provisioning reconciler builds its templates once
 * and reuses them while stv_templates_fit says they fit. Same returns.
 */
int stv_templates_build_owned(struct stv_templates *t, const struct stv_catalog *c,
                              const struct stv_snapshot *snap, unsigned allowed,
                              const struct stv_node_pool *pools, size_t npools, struct stv_err *err);

/*
 * 1 when t (from stv_templates_build_owned) is what building it again for
 * snap (borrowed) would give, for the same catalogue, capacity types and
 * pools: snap has the same resource names in the same order and the same
 * zone labels as the snapshot t was built from, and no attach-limit
 * resource (those take their value from snap's nodes). Else 0.
 */
int stv_templates_fit(const struct stv_templates *t, const struct stv_snapshot *snap);

/* Frees t's arrays (and its own strings) and leaves it empty; strings interned in a snapshot stay there. */
void stv_templates_close(struct stv_templates *t);

#endif
