/*
 * packer: Stevedore's pure core. The data model of a cluster snapshot
 * (resource vectors, labels, selectors, taints, pod equivalence classes),
 * the scheduling predicates, and the packing heuristic that turns a
 * snapshot plus a set of node templates into a plan. Nothing here does
 * I/O, reads a clock or keeps global state (the allocation failure hook
 * in base.h excepted, for tests).
 */
#ifndef STV_PACKER_H
#define STV_PACKER_H

#include <stdint.h>

#include "base.h"

/* ---------------------------------------------------------------------- */
/* Resources                                                              */

/*
 * Dimensions of resource vectors. The first four are fixed; further ones
 * (hugepages-2Mi, nvidia.com/gpu, ...) are added as a snapshot names them.
 * cpu is held in millicores, every other resource in whole units (bytes
 * for memory and storage), as kube-scheduler does.
 */
#define STV_MAX_RES 16
enum { STV_RES_CPU = 0, STV_RES_MEMORY = 1, STV_RES_EPHEMERAL = 2, STV_RES_PODS = 3, STV_RES_FIXED = 4 };

struct stv_resnames {
  int n;
  const char *name[STV_MAX_RES]; /* interned in the owning pool */
};

/*
 * Attach limits of CSI drivers are resources named this prefix + driver
 * name (the name kube-scheduler used); a node that reports no limit gets
 * STV_ATTACH_UNLIMITED of it.
 */
#define STV_ATTACH_PREFIX    "attachable-volumes-csi-"
#define STV_ATTACH_UNLIMITED (INT64_C(1) << 30)

/* Sets the four fixed names; names are interned in pool. */
int stv_resnames_init(struct stv_resnames *r, struct stv_strpool *pool);
/*
 * Returns the dimension of name, adding it when create is non-zero.
 * Returns STV_ENOTFOUND when absent and !create, STV_ELIMIT when the
 * table is full.
 */
int stv_resnames_index(struct stv_resnames *r, struct stv_strpool *pool, const char *name, int create);

/* ---------------------------------------------------------------------- */
/* Labels, selectors, taints                                              */

struct stv_label {
  const char *key; /* interned */
  const char *value;
};

/* A label set, sorted by key (strcmp), keys unique. */
struct stv_labels {
  uint32_t n;
  struct stv_label *kv;
};

/* Returns the value of key (need not be interned) or NULL. */
const char *stv_labels_get(const struct stv_labels *l, const char *key);

enum stv_op { STV_OP_IN, STV_OP_NOT_IN, STV_OP_EXISTS, STV_OP_DOES_NOT_EXIST, STV_OP_GT, STV_OP_LT };

struct stv_requirement {
  const char *key;
  enum stv_op op;
  uint32_t nvalues;
  const char **values;
};

/* A conjunction of requirements. An empty selector matches everything. */
struct stv_selector {
  uint32_t n;
  struct stv_requirement *reqs;
};

/* Returns 1 when every requirement of sel holds on labels. */
int stv_selector_matches(const struct stv_selector *sel, const struct stv_labels *labels);

/* One nodeSelectorTerm: matchExpressions AND matchFields (metadata.name). */
struct stv_node_term {
  struct stv_selector exprs;
  struct stv_selector fields;
};

/* Required node affinity: an OR of terms; n == 0 means no constraint. */
struct stv_node_affinity {
  uint32_t n;
  struct stv_node_term *terms;
};

enum stv_effect {
  STV_EFFECT_ALL = 0, /* a toleration with no effect tolerates all */
  STV_EFFECT_NO_SCHEDULE,
  STV_EFFECT_PREFER_NO_SCHEDULE,
  STV_EFFECT_NO_EXECUTE
};

/* Returns "NoSchedule", "PreferNoSchedule" or "NoExecute" ("" for STV_EFFECT_ALL). */
const char *stv_effect_name(enum stv_effect e);

struct stv_taint {
  const char *key;
  const char *value; /* "" when absent */
  enum stv_effect effect;
};

struct stv_toleration {
  const char *key; /* NULL: every key (operator Exists with no key) */
  int exists;      /* operator Exists; otherwise Equal */
  const char *value;
  enum stv_effect effect;
};

/* A required pod (anti-)affinity term. */
struct stv_pod_term {
  struct stv_selector sel;
  int match_none;           /* labelSelector absent: matches no pod */
  const char *topology_key; /* kubernetes.io/hostname, topology...zone */
  uint32_t nns;             /* explicit namespaces */
  const char **namespaces;
  int has_ns_sel; /* namespaceSelector present */
  struct stv_selector ns_sel;
};

/* A topologySpreadConstraint. */
struct stv_spread {
  int32_t max_skew;
  const char *topology_key;
  int do_not_schedule; /* whenUnsatisfiable: DoNotSchedule */
  struct stv_selector sel;
  int match_none;
  int32_t min_domains;     /* 0 when absent */
  int honor_node_affinity; /* nodeAffinityPolicy (default Honor) */
  int honor_taints;        /* nodeTaintsPolicy (default Ignore) */
};

/* ---------------------------------------------------------------------- */
/* Snapshot                                                               */

enum stv_phase {
  STV_PHASE_PENDING,
  STV_PHASE_RUNNING,
  STV_PHASE_SUCCEEDED,
  STV_PHASE_FAILED,
  STV_PHASE_UNKNOWN
};

/*
 * A pod equivalence class: pods that need the same resources and obey the
 * same constraints, and that carry the same labels in the same namespace
 * (so every selector sees them alike). 20,000 replicas of ten Deployments
 * are ten classes.
 */
struct stv_class {
  uint32_t id;
  const char *ns;
  int64_t req[STV_MAX_RES]; /* effective requests, pods slot included */
  struct stv_labels labels;
  struct stv_selector node_selector; /* spec.nodeSelector */
  struct stv_node_affinity affinity;
  uint32_t ntol;
  struct stv_toleration *tol;
  uint32_t naff;
  struct stv_pod_term *aff; /* required pod affinity */
  uint32_t nanti;
  struct stv_pod_term *anti; /* required pod anti-affinity */
  uint32_t nspread;
  struct stv_spread *spread;
  int daemonset;         /* owned by a DaemonSet */
  const char *owner_uid; /* the DaemonSet's uid, for daemonset classes */
  const char *example;   /* "ns/name" of its first pod, for messages */
  uint32_t npods;        /* pods of this class in the snapshot */
  uint32_t npending;     /* of which pending */
  /*
   * Preferred pod anti-affinity terms (their podAffinityTerm; weights are
   * not kept). The packer ignores them; the what-if repack may make the
   * zone-level ones required (stv_snapshot_promote_class).
   */
  uint32_t npanti;
  struct stv_pod_term *panti;
  /*
   * Why no node can take these pods whatever the plan (interned; NULL when
   * nothing stops them): an unbound claim of an Immediate storage class,
   * a claim that does not exist. The packer lists them as unschedulable.
   */
  const char *blocked;
  int32_t priority;      /* spec.priority of its pods (0 when absent) */
};

#define STV_POD_MIRROR         0x01 /* static pod (kubernetes.io/config.mirror) */
#define STV_POD_LOCAL_STORAGE  0x02 /* emptyDir not in memory, or hostPath volume */
/* stevedore.io/do-not-disrupt or karpenter.sh/do-not-disrupt "true", or
 * cluster-autoscaler.kubernetes.io/safe-to-evict "false" (stv_pod.disrupt says which) */
#define STV_POD_DO_NOT_DISRUPT 0x04
#define STV_POD_HEADROOM       0x08 /* a virtual pod holding headroom, not a real pod */
/* Bound (spec.nodeName) to a node missing from the snapshot: neither pending nor on a
 * known node, left out of packing; set by stv_snapshot_finish. */
#define STV_POD_NODE_MISSING 0x80

/*
 * What a disruption decision needs beyond stv_pod.flags (stv_pod.disrupt;
 * packer/disrupt.c reads them, docs/consolidation.md).
 */
#define STV_PD_SAFE_TO_EVICT  0x01 /* cluster-autoscaler.kubernetes.io/safe-to-evict: "true" */
#define STV_PD_NO_CONTROLLER  0x02 /* no ownerReferences entry with controller: true */
#define STV_PD_DND_KARPENTER  0x04 /* karpenter.sh/do-not-disrupt: "true" */
#define STV_PD_DND_CA         0x08 /* cluster-autoscaler.kubernetes.io/safe-to-evict: "false" */
#define STV_PD_DND_STEVEDORE  0x10 /* stevedore.io/do-not-disrupt: "true" */
#define STV_PD_HAS_DELETION_COST 0x20 /* controller.kubernetes.io/pod-deletion-cost was given */

/* terminationGracePeriodSeconds when the pod gives none (the API server's default). */
#define STV_GRACE_DEFAULT 30

struct stv_pod {
  const char *ns;
  const char *name;
  uint32_t cls;
  int32_t node;          /* index into nodes, -1 when not bound */
  const char *node_name; /* spec.nodeName, NULL when not bound */
  uint8_t phase;
  uint8_t flags;
  uint8_t disrupt;       /* STV_PD_* */
  int32_t deletion_cost; /* controller.kubernetes.io/pod-deletion-cost, 0 when absent */
  const char *owner_kind; /* NULL when none */
  const char *owner_name;
  const char *priority_class; /* spec.priorityClassName, NULL when absent */
  int32_t priority;           /* spec.priority, 0 when absent */
  uint8_t has_priority;       /* spec.priority was given */
  uint8_t terminating;        /* metadata.deletionTimestamp set: topology spread does not count it */
  /* What decides whether and how kube-scheduler takes the pod. */
  uint8_t preempt_never;      /* spec.preemptionPolicy: Never */
  uint8_t not_planned;        /* enum stv_not_planned, set by stv_snapshot_finish */
  const char *first_gate;     /* name of the first spec.schedulingGates entry; NULL: not gated */
  const char *scheduler_name; /* spec.schedulerName; NULL: default-scheduler */
  const char *nominated_node; /* status.nominatedNodeName, NULL when none */
  int32_t grace;              /* spec.terminationGracePeriodSeconds (STV_GRACE_DEFAULT when absent) */
};

/*
 * Why a pending pod is left out of the plan: kube-scheduler will not place
 * it (gated, or another scheduler's), or Cluster Autoscaler would not scale
 * up for it (priority below the expendable cutoff, or nominated to an
 * existing node where preemption is under way). Such pods are listed, not
 * planned; they are not "unschedulable" (which means "fits nowhere").
 */
enum stv_not_planned {
  STV_NP_NONE = 0,
  STV_NP_GATED,      /* spec.schedulingGates is not empty */
  STV_NP_SCHEDULER,  /* spec.schedulerName is not one of the snapshot's scheduler_names */
  STV_NP_EXPENDABLE, /* spec.priority below the snapshot's priority_cutoff */
  STV_NP_NOMINATED   /* status.nominatedNodeName names a node of the snapshot */
};

/* The default scheduler's name, and Cluster Autoscaler's default expendable-pods-priority-cutoff. */
#define STV_DEFAULT_SCHEDULER       "default-scheduler"
#define STV_PRIORITY_CUTOFF_DEFAULT (-10)

/* Returns the category's name for output: "scheduling_gated", "other_scheduler",
 * "below_priority_cutoff", "nominated", or "" for STV_NP_NONE. */
const char *stv_not_planned_name(enum stv_not_planned np);

struct stv_node {
  const char *name;
  struct stv_labels labels;
  uint32_t ntaints;
  struct stv_taint *taints;
  int64_t alloc[STV_MAX_RES]; /* status.allocatable */
  int64_t used[STV_MAX_RES];  /* requests of bound, non-terminal pods */
  int unschedulable;          /* spec.unschedulable (cordoned) */
  uint8_t disrupt;            /* STV_ND_*: annotations that forbid removing the node */
  const char *instance_type;  /* from labels, or NULL */
  const char *zone;
  const char *capacity_type; /* normalised: reserved/spot/on-demand or NULL */
};

/* Node annotations (stv_node.disrupt) that forbid disrupting the node. */
#define STV_ND_DND_STEVEDORE      0x01 /* stevedore.io/do-not-disrupt: "true" */
#define STV_ND_DND_KARPENTER      0x02 /* karpenter.sh/do-not-disrupt: "true" */
#define STV_ND_SCALE_DOWN_DISABLED 0x04 /* cluster-autoscaler.kubernetes.io/scale-down-disabled: "true" */

struct stv_pdb {
  const char *ns;
  const char *name;
  struct stv_selector sel;
  const char *min_available; /* "2" or "50%", NULL when absent */
  const char *max_unavailable;
  int has_allowed;             /* status.disruptionsAllowed was read */
  int32_t disruptions_allowed; /* status.disruptionsAllowed, as the disruption controller wrote it */
};

struct stv_namespace {
  const char *name;
  struct stv_labels labels;
};

/* An object the reader has read, for telling duplicates apart (see controller/snapshot.h). */
struct stv_seen {
  const char *rv;  /* metadata.resourceVersion (a copy in mem), or NULL */
  const char *uid; /* metadata.uid (a copy in mem), or NULL */
  uint64_t hash;   /* of the whole item, when it has no resourceVersion */
  uint32_t index;  /* into nodes, pods, pdbs or namespaces by kind */
};

/*
 * A cluster snapshot in compact form. Strings are interned in pool; class,
 * label and selector storage lives in mem. Built by the snapshot reader
 * (controller/) through the stv_snapshot_add_* functions below.
 */
struct stv_snapshot {
  struct stv_strpool pool;
  struct stv_arena mem;
  struct stv_resnames res;
  struct stv_node *nodes;
  size_t nnodes, cap_nodes;
  struct stv_pod *pods;
  size_t npods, cap_pods;
  struct stv_class **classes;
  size_t nclasses, cap_classes;
  struct stv_pdb *pdbs;
  size_t npdbs, cap_pdbs;
  struct stv_namespace *namespaces;
  size_t nnamespaces, cap_namespaces;
  /* class lookup by key hash, open addressing over class indexes + 1 */
  struct stv__class_key *class_keys;
  size_t cap_class_keys;
  uint32_t *class_slots;
  size_t class_cap;
  /* node lookup by name */
  uint32_t *node_slots;
  size_t node_cap;
  /* The snapshot reader's storage objects (claims, volumes, classes,
     CSINodes) until it resolves them; opaque here, allocated in mem. */
  struct stv_snapshot_volumes *volumes;
  /*
   * Labels that carry a node's zone under another key, which new nodes get
   * too (interned, in mem): CSI drivers' topology keys such as
   * topology.ebs.csi.aws.com/zone, which kubelet sets when the driver
   * registers. Filled by the snapshot reader.
   */
  const char **zone_labels;
  uint32_t nzone_labels;
  /* objects read, by kind, namespace and name: values index seen_v */
  struct stv_strmap seen;
  struct stv_seen *seen_v;
  size_t nseen, cap_seen;
  /*
   * Which pending pods are planned (see enum stv_not_planned); set before
   * stv_snapshot_finish, which applies them. priority_cutoff starts at
   * STV_PRIORITY_CUTOFF_DEFAULT; scheduler_names (borrowed) NULL means
   * STV_DEFAULT_SCHEDULER only.
   */
  int32_t priority_cutoff;
  const char *const *scheduler_names;
  size_t nscheduler_names;
  size_t nnot_planned; /* pending pods left out, counted by stv_snapshot_finish */
  int any_scheduler;   /* plan every scheduler's pods (the what-if repack moves them all) */
};

int stv_snapshot_init(struct stv_snapshot *s);
void stv_snapshot_close(struct stv_snapshot *s);

/*
 * Interns class (a scratch description whose strings are already interned
 * in s->pool; its arrays are borrowed and copied when the class is new) and
 * returns its index in *id. Two pods get the same index exactly when their
 * classes are equal field by field.
 */
int stv_snapshot_intern_class(struct stv_snapshot *s, const struct stv_class *cls, uint32_t *id);
/* Appends a node (arrays borrowed, copied). STV_ECONFLICT on a duplicate name. */
int stv_snapshot_add_node(struct stv_snapshot *s, const struct stv_node *n);
/* Returns the index of the node called name, or -1. */
int32_t stv_snapshot_find_node(const struct stv_snapshot *s, const char *name);
/*
 * Replaces node i by n (arrays borrowed, copied) in place: a newer version
 * of the same node. Its name must be that of node i (STV_EINVAL otherwise).
 */
int stv_snapshot_replace_node(struct stv_snapshot *s, size_t i, const struct stv_node *n);
/* Replaces PodDisruptionBudget i, or namespace i, by a newer version (copied). */
int stv_snapshot_replace_pdb(struct stv_snapshot *s, size_t i, const struct stv_pdb *p);
int stv_snapshot_replace_namespace(struct stv_snapshot *s, size_t i, const struct stv_namespace *ns);
/* Appends a pod. */
int stv_snapshot_add_pod(struct stv_snapshot *s, const struct stv_pod *p);
int stv_snapshot_add_pdb(struct stv_snapshot *s, const struct stv_pdb *p);
int stv_snapshot_add_namespace(struct stv_snapshot *s, const struct stv_namespace *ns);
/*
 * Resolves pod->node bindings made before their node was read, adds bound
 * pods' requests to their node's used vector and counts pending pods per
 * class. A pod bound to a node missing from the snapshot (snapshots of
 * nodes and pods are not atomic) is neither pending nor bound: it gets the
 * flag STV_POD_NODE_MISSING and node -1, and counts in no class; the caller
 * notes such pods. Pending pods that are not planned (enum
 * stv_not_planned; decided here from s->scheduler_names and
 * s->priority_cutoff) are not counted as pending; a pod nominated to a
 * node of s has its requests added to that node's used vector, as Cluster
 * Autoscaler adds it to its simulation. Call once after the last item. err
 * is kept for errors to come; this returns 0 or STV_ENOMEM.
 */
int stv_snapshot_finish(struct stv_snapshot *s, struct stv_err *err);

/*
 * The category of a pod without a node in s (gate, scheduler name, priority
 * cutoff, nomination), as stv_snapshot_finish sets pod->not_planned.
 */
enum stv_not_planned stv_pod_pending_category(const struct stv_snapshot *s, const struct stv_pod *p);

/*
 * Replaces s's nodes by nodes[0..n) (borrowed: structs whose strings,
 * labels and taints already live in s, such as a saved copy of s->nodes)
 * and rebuilds the lookup by name. Pods keep their spec.nodeName; call
 * stv_snapshot_finish afterwards to bind them again (a pod naming a node
 * no longer present gets STV_POD_NODE_MISSING, so unbind those first). Returns 0,
 * STV_ECONFLICT when two nodes share a name, or STV_ENOMEM.
 */
int stv_snapshot_set_nodes(struct stv_snapshot *s, const struct stv_node *nodes, size_t n);

/*
 * Interns the class of class cls with its preferred zone-level rules made
 * required, and sets *out to its index (cls itself when there is nothing to
 * promote). Promoted are a ScheduleAnyway topology spread constraint on
 * topology.kubernetes.io/zone (or the beta key), which becomes
 * DoNotSchedule with the same maxSkew, and a preferred pod anti-affinity
 * term on the zone key: one whose non-empty selector selects the pod itself
 * and that reaches only its namespace becomes a DoNotSchedule zone spread with maxSkew 1 over
 * the same selector (no two replicas in a zone while there are no more of
 * them than zones, an even spread beyond), any other a required
 * anti-affinity term. Hostname-level preferences stay preferences. The
 * array s->classes may grow (the classes themselves do not move). Returns 0
 * or STV_ENOMEM.
 */
int stv_snapshot_promote_class(struct stv_snapshot *s, uint32_t cls, uint32_t *out);

/* ---------------------------------------------------------------------- */
/* Removal and live copies (the watch-driven cache, controller/kube/cache.c) */

/* A seen entry's index once its object was removed: a tombstone. */
#define STV_SEEN_GONE UINT32_MAX

/*
 * Writes the seen map's key of an object, "<letter> <ns>/<name>" (letter P
 * pod, N node, B PodDisruptionBudget, S namespace; ns NULL or "" for
 * cluster-scoped kinds), into buf. Returns its length, or 0 when it does
 * not fit (names the API refuses; such objects are not tracked).
 */
size_t stv_seen_key(char *buf, size_t size, char letter, const char *ns, const char *name);

/* Returns the index in s->seen_v of that object's entry (tombstones included), or -1. */
long stv_snapshot_seen_find(const struct stv_snapshot *s, char letter, const char *ns, const char *name);

/*
 * Remove object i by swapping the last one into its place (its seen entry
 * follows it; the removed one's becomes a tombstone, so that an object
 * re-created under the same name is read as new). Removing a node unbinds
 * the pods on it (node -1; they keep node_name, so stv_snapshot_finish
 * flags them STV_POD_NODE_MISSING), renumbers the pods of the moved node
 * and rebuilds the lookup by name. Strings, classes and arena memory of
 * removed objects stay until the snapshot is copied (stv_snapshot_copy_live).
 * Return 0, STV_EINVAL when i is out of range, or STV_ENOMEM.
 */
int stv_snapshot_remove_pod(struct stv_snapshot *s, size_t i);
int stv_snapshot_remove_node(struct stv_snapshot *s, size_t i);
int stv_snapshot_remove_pdb(struct stv_snapshot *s, size_t i);
int stv_snapshot_remove_namespace(struct stv_snapshot *s, size_t i);

#define STV_COPY_SEEN 0x1 /* also copy the seen entries of the objects (not the tombstones) */

/*
 * Copies src's objects into dst (initialised, empty) in the same order:
 * resource names, namespaces, nodes, pods (but finished ones), the classes
 * those pods use (interned in the order of their first pod), PDBs, zone
 * labels and the planning settings (scheduler_names stays borrowed). Every
 * string is interned again in dst's pool, every array copied into dst's
 * arena, so dst shares nothing with src and may be used on another thread
 * while src changes. Storage objects not yet resolved (src->volumes) are
 * not copied. Does not call stv_snapshot_finish. Returns 0, STV_ELIMIT (dst
 * not empty) or STV_ENOMEM; dst stays valid for stv_snapshot_close.
 */
int stv_snapshot_copy_live(struct stv_snapshot *dst, const struct stv_snapshot *src, unsigned flags);

/* Returns 1 when ns is covered by term for a pod in namespace self_ns. */
int stv_term_covers_ns(const struct stv_snapshot *s, const struct stv_pod_term *term, const char *self_ns,
                       const char *ns);

/* ---------------------------------------------------------------------- */
/* Node templates, predicates, packing                                    */

enum stv_capacity_type { STV_CT_RESERVED = 0, STV_CT_SPOT = 1, STV_CT_ON_DEMAND = 2, STV_CT_COUNT };

/* Returns "reserved", "spot" or "on-demand". */
const char *stv_capacity_type_name(enum stv_capacity_type ct);
/* Parses the names above; STV_EINVAL otherwise. */
int stv_capacity_type_parse(const char *s, enum stv_capacity_type *ct);

/*
 * A node the plan may create: one offering of one instance type in one
 * zone and capacity type, with the labels and taints a new node carries.
 */
struct stv_template {
  const char *instance_type;
  const char *zone;
  enum stv_capacity_type capacity_type;
  double price;               /* per hour */
  int64_t limit;              /* nodes available (reserved count), -1 = any */
  int64_t alloc[STV_MAX_RES]; /* allocatable before DaemonSet overhead */
  double interruption_rate;   /* spot: fraction interrupted per month (Spot
                                 Advisor frequency), 0 when unknown */
  const char *pool;           /* node pool it comes from, NULL = default */
  struct stv_labels labels;   /* kubernetes.io/hostname excluded */
  uint32_t ntaints;
  struct stv_taint *taints;
  /*
   * Cost beyond the price (docs/optimizer.md, "Economics"): node_cost per
   * hour on every new node; for a burstable type in unlimited mode,
   * surplus_price per vCPU-hour of the cpu requested on the node (its pods'
   * and DaemonSets') above cpu_baseline millicores. surplus_price 0: none.
   */
  double node_cost;
  double surplus_price;
  int64_t cpu_baseline;
  /*
   * The limits of the node pool it comes from (borrowed; NULL: none). The
   * packer honours limits.nodes: the new nodes of all templates sharing
   * this pointer number at most that many (docs/optimizer.md, "Economics").
   */
  const struct stv_limits *pool_limits;
};

/*
 * The hourly cost of one new node of template t carrying cpu_m millicores
 * of requested cpu: price + node_cost + stv_template_credits(t, cpu_m).
 */
double stv_template_cost(const struct stv_template *t, int64_t cpu_m);

/* The surplus credits of that node per hour: 0 unless t is burstable in unlimited mode and cpu_m > cpu_baseline. */
double stv_template_credits(const struct stv_template *t, int64_t cpu_m);

/* What a node looks like to the predicates: existing or a template. */
struct stv_node_view {
  const char *name;
  const struct stv_labels *labels;
  uint32_t ntaints;
  const struct stv_taint *taints;
  int unschedulable;
};

/*
 * Static predicates of class c on node v: cordon, nodeSelector, required
 * node affinity (matchFields on metadata.name against v->name when set;
 * a template has no name yet: In never matches it, NotIn always does), and taints with
 * effect NoSchedule/NoExecute against c's tolerations. Returns 1 when c
 * may run there; otherwise 0 and, when why is not NULL, a reason.
 */
int stv_class_fits_node(const struct stv_class *c, const struct stv_node_view *v, char *why, size_t whysize);

/* Returns 1 when the tolerations tolerate the taint. */
int stv_tolerates(const struct stv_toleration *tol, uint32_t ntol, const struct stv_taint *t);

/*
 * Limits on what the cluster (or a node pool) may hold: registered nodes,
 * nodes in flight and the new ones together. A negative value is no limit.
 * The configuration's limits: and nodePools[].limits: (docs/config.md).
 */
struct stv_limits {
  int64_t cpu;    /* millicores */
  int64_t memory; /* bytes */
  int64_t gpu;    /* nvidia.com/gpu */
  int64_t nodes;
  double cost_per_hour; /* in the catalogue's currency */
};

/* Sets every limit of l to none. */
static inline void stv_limits_none(struct stv_limits *l) {
  l->cpu = l->memory = l->gpu = l->nodes = -1;
  l->cost_per_hour = -1;
}

/*
 * Spot risk policy of the optimizer. The effective hourly price of a spot
 * node is its price + interruption_rate / 730 x pods on it x restart_cost:
 * the expected cost of restarting its pods. Limits are on new nodes.
 */
struct stv_spot_policy {
  double restart_cost;      /* currency per pod per interruption (>= 0) */
  double max_share;         /* of new-node hourly cost on spot, 0..1 */
  double max_pool_fraction; /* of new spot nodes in one type x zone, 0..1 */
};

#define STV_SPOT_RESTART_COST_DEFAULT 0.10
#define STV_SPOT_MAX_SHARE_DEFAULT 1.0
#define STV_SPOT_MAX_POOL_FRACTION_DEFAULT 0.30
/* Nodes a spot pool may hold beyond max_pool_fraction, so that a small
 * plan may still use spot. */
#define STV_SPOT_POOL_GRACE 2.0

/* Sets the defaults above. */
void stv_spot_policy_default(struct stv_spot_policy *sp);

struct stv_problem {
  const struct stv_snapshot *snap; /* borrowed */
  const struct stv_template *tmpl; /* borrowed */
  size_t ntmpl;
  const char *currency;
  /*
   * Effort of the per-node subset search (nodes of the search tree per
   * node filled; 0 = the default, STV_SEARCH_DEFAULT; negative = greedy
   * fill only). The result is deterministic for a given value.
   */
  long search_limit;
  /*
   * The optimizer (stv_optimize): wall-time budget in seconds (<= 0: the
   * heuristic's plan only), the clock it is measured with (seconds, any
   * origin; the packer reads no clock itself; NULL = no time limit, the
   * deterministic work limits only) and the spot policy.
   */
  double time_limit;
  double (*clock)(void);
  struct stv_spot_policy spot;
  int no_preemption; /* skip the preemption pass (the what-if repack) */
  /*
   * Stopping rules of the optimizer (docs/optimizer.md, "Stopping"). It
   * stops once its best plan is within gap_tolerance (a fraction) of a
   * proven lower bound (0 = STV_GAP_TOLERANCE_DEFAULT; negative = only at
   * the proven optimum), or when it has stalled: the root LP's value and
   * bound moved by less than STV_STALL_IMPROVEMENT of the best plan over
   * stall_rounds column-generation rounds (0 = STV_STALL_ROUNDS_DEFAULT;
   * negative = no stall rule) and the LP promises no such gain either.
   */
  double gap_tolerance;
  int stall_rounds;
  /*
   * Decision mode: the optimizer's budget in work units (pricing search
   * nodes, simplex iterations, branch-and-bound subproblems;
   * stv_work_units converts seconds); 0 = none. The same input and
   * work_limit give the same plan on any machine and under any load, as
   * long as the wall-time limit (time_limit with clock, the safety net)
   * does not cut the solve first.
   */
  long work_limit;
  /*
   * Tracing (optional; NULL = none): the optimizer hands every
   * column-generation round, dive step and unfinished pricing problem to
   * trace as one line of text without a newline, with trace_ctx. Called on
   * the solving thread, during the solve; line is valid for the call only.
   * The packer itself writes nothing anywhere.
   */
  void (*trace)(void *ctx, const char *line);
  void *trace_ctx;
};

#define STV_SEARCH_DEFAULT 50000
#define STV_GAP_TOLERANCE_DEFAULT 0.005
#define STV_STALL_ROUNDS_DEFAULT  10
#define STV_STALL_IMPROVEMENT     0.001
/*
 * The integer phase's stall window, as a share of the optimizer's budget
 * (its seconds, or its work units in decision mode): after a root LP that
 * did not converge, the integer phase stops once its best plan has not
 * become STV_STALL_IMPROVEMENT cheaper for that long (stall_rounds < 0:
 * never).
 */
#define STV_STALL_WINDOW_SHARE 0.05
/*
 * Work units the optimizer does in a second on the reference machine
 * (bench/README.md, "Anytime"): stv_work_units(budget) is the decision
 * mode's work_limit for a budget in seconds.
 */
#define STV_WORK_PER_SECOND 12000000L
long stv_work_units(double seconds);

/*
 * Why the optimizer stopped (stv_plan.stop_reason). NONE: it did not run
 * (heuristic only, or nothing for it to re-decide).
 */
enum stv_stop_reason {
  STV_STOP_NONE = 0,
  STV_STOP_OPTIMAL, /* the best plan meets the proven lower bound */
  STV_STOP_GAP,     /* within gap_tolerance of the proven lower bound */
  STV_STOP_STALLED, /* no improvement over the stall window */
  STV_STOP_TIME,    /* the wall-time limit */
  STV_STOP_WORK,    /* the work budget (decision mode) */
  STV_STOP_DONE,    /* every phase ran to its own end */
  STV_STOP_NO_GAIN  /* the integer phase found no cheaper plan over its stall window */
};

/* "optimal", "gap", "stalled", "time limit", "work budget", "done",
 * "no gain", "none". */
const char *stv_stop_reason_name(int reason);
/* The whole solve's search budget is this many times the per-node one. */
#define STV_SEARCH_NODES 100

/* A node of the plan: an existing node receiving pods, or a new one. */
struct stv_plan_node {
  int32_t existing; /* index into snap->nodes, or -1 for a new node */
  int32_t tmpl;     /* template of a new node, -1 for existing */
  char name[96];
  uint32_t npods;
  uint32_t *pods; /* indexes into snap->pods: the pods this plan adds */
  uint32_t ndaemons;
  uint32_t *daemons; /* classes of DaemonSets that run on a new node */
};

/*
 * The cpu requested on plan node pn (millicores): its pods' (those the
 * plan adds) and, on a new node, its DaemonSet pods'. s is the problem's
 * snapshot.
 */
int64_t stv_plan_node_cpu(const struct stv_snapshot *s, const struct stv_plan_node *pn);

/*
 * The hourly cost of new node pn of a plan for p: stv_template_cost of its
 * template with its requested cpu. 0 for an existing node.
 */
double stv_plan_node_cost(const struct stv_problem *p, const struct stv_plan_node *pn);

struct stv_plan_unsched {
  uint32_t pod;
  char reason[200];
};

/*
 * What the plan's lower bound is. STV_BOUND_RESOURCES: the covering LP over
 * resources (pack.c), which ignores which templates a pod may use, pod
 * (anti-)affinity and spread, spot limits and how pods split across nodes.
 * STV_BOUND_PATTERNS: the optimizer's LP over whole-node packings, which
 * ignores only that nodes are bought whole.
 * STV_BOUND_RELAXED: the LP over whole-node packings of every placed pod
 * (bound_cg.c), which keeps the templates a pod may use, hostname
 * anti-affinity and the spot limits, and ignores zone rules, hostname
 * spread and affinity, and how existing room splits across nodes.
 */
enum stv_bound_kind { STV_BOUND_RESOURCES = 0, STV_BOUND_PATTERNS = 1, STV_BOUND_RELAXED = 2 };

/*
 * A preemption the plan makes on an existing node, as kube-scheduler's
 * DefaultPreemption would: pod (pending) goes onto node once the victims
 * (bound pods of strictly lower priority) are evicted. Victims become
 * pending themselves and are planned like other pending pods, or listed as
 * not planned when their priority is below the cutoff.
 */
struct stv_plan_preemption {
  uint32_t pod; /* index into snap->pods: the preemptor */
  int32_t node; /* index into snap->nodes */
  uint32_t nvictims;
  uint32_t *victims;       /* indexes into snap->pods */
  uint32_t pdb_violations; /* victims whose eviction breaks a PodDisruptionBudget */
};

/* A pending pod the plan leaves out, and why (enum stv_not_planned). */
struct stv_plan_skip {
  uint32_t pod;
  uint8_t category;
  char reason[240];
};

/* Figures of one heuristic run (pack.c). */
struct stv_pack_stats {
  size_t groups;      /* pod groups (class x zone) */
  size_t templates;   /* templates x zones considered */
  size_t undominated; /* of those, not dominated by another */
  long rounds;        /* new-node rounds */
  long evaluations;   /* patterns evaluated */
};

/* Figures of the column generation (optimize.c); reported is 0 when it
 * stopped before its integer phase (nothing to do, or the heuristic's plan
 * already met the bound). */
struct stv_cg_stats {
  int reported;
  size_t items, shapes, columns;
  double lp;        /* the LP's lower bound, -1 when there is none */
  int converged;    /* the LP reached its optimum */
  double heuristic; /* the heuristic's new nodes, in effective cost */
  int found;        /* an integer solution was found */
  double best;      /* the best integer solution's effective cost */
};

/*
 * Statistics of a solve, returned in the plan rather than printed: the
 * caller decides what to show (the recommend command prints them under
 * STV_OPT_STATS, docs/optimizer.md). heuristic is filled by stv_pack and
 * stv_optimize, the rest by stv_optimize only (compared = 1 when both runs
 * were made).
 */
struct stv_plan_stats {
  struct stv_pack_stats heuristic; /* the heuristic run */
  struct stv_pack_stats optimized; /* the heuristic run the optimizer started from */
  struct stv_cg_stats cg;
  int compared;
  double heuristic_cost, optimized_cost; /* effective costs of the two plans */
  size_t heuristic_placed, optimized_placed;
  int heuristic_spot_ok, optimized_spot_ok;
};

struct stv_plan {
  struct stv_arena mem;
  struct stv_plan_node *nodes;
  size_t nnodes;
  struct stv_plan_unsched *unsched;
  size_t nunsched;
  size_t npending;
  size_t nplaced;
  size_t nnew;
  double new_cost; /* hourly cost of the new nodes */
  int has_lower_bound;
  double lower_bound; /* proven lower bound on new_cost */
  /* Filled by stv_optimize (zeros after stv_pack alone). */
  int optimized;           /* 1 when the optimizer ran */
  int lp_converged;        /* column generation reached the LP optimum */
  double heuristic_cost;   /* new_cost of the heuristic's plan it started from */
  double solve_ms_budget;  /* time limit it ran under, ms (0 = none) */
  long columns;            /* patterns generated */
  int spot_limits_broken;  /* no plan within the spot limits was found */
  /* Which model proved lower_bound (enum stv_bound_kind). */
  int lower_bound_kind;
  /*
   * Why the optimizer stopped (enum stv_stop_reason), the gap it judged by
   * ((best - bound) / bound over what it re-decided; -1 when it had no
   * bound), the tolerance it ran with, and the work it did (units of
   * stv_problem.work_limit).
   */
  int stop_reason;
  double stop_gap;
  double gap_tolerance;
  long work;
  /* Preemptions on existing nodes, and the pending pods left out. */
  struct stv_plan_preemption *preemptions;
  size_t npreemptions;
  size_t nvictims; /* victims over all preemptions */
  struct stv_plan_skip *skipped;
  size_t nskipped;
  /* How the plan was found, for diagnostics (see struct stv_plan_stats). */
  struct stv_plan_stats stats;
};

/*
 * Packs the pending pods of p->snap: first into the free capacity of
 * existing nodes, then onto new nodes from p->tmpl, cheapest first as the
 * heuristic finds it. Pods that fit nowhere are listed with a reason.
 * Before that, a pending pod that fits in no free room may preempt bound
 * pods of lower priority on an existing node (plan->preemptions; see
 * docs/packer.md), and pods that are not planned are listed in
 * plan->skipped. The
 * plan is owned by the caller and freed with stv_plan_close. Returns 0 or
 * STV_ENOMEM.
 */
int stv_pack(const struct stv_problem *p, struct stv_plan *plan, struct stv_err *err);
void stv_plan_close(struct stv_plan *plan);

/*
 * Packs as stv_pack, then improves the new nodes by column generation over
 * the pod classes and offerings (packer/optimize.c): the plan is never more
 * expensive than the heuristic's, always feasible, and carries a proven
 * lower bound. Same arguments and ownership as stv_pack.
 */
int stv_optimize(const struct stv_problem *p, struct stv_plan *plan, struct stv_err *err);

/*
 * Whether the new spot nodes of plan keep within p->spot: their share of
 * the new-node cost at most max_share, and no type x zone pool holding more
 * than max_pool_fraction of them plus STV_SPOT_POOL_GRACE nodes.
 */
int stv_plan_spot_ok(const struct stv_problem *p, const struct stv_plan *plan);

/*
 * Thread safety. stv_pack and stv_optimize keep all their state in the
 * problem, the plan and the calling thread's stack and heap: several may
 * run at once on different threads, on the same or different snapshots
 * (which they only read). GLPK keeps a per-thread environment; a thread
 * that ran a solve calls stv_packer_thread_done before it exits, to free
 * it. GLPK's internal errors (which would abort the process) make the
 * solve return STV_ESOLVER instead.
 */
void stv_packer_thread_done(void);

/*
 * Host ports (kube-scheduler's NodePorts filter) reach the packer as pod
 * anti-affinity: the snapshot reader gives a pod that asks for host port
 * <port>/<proto> the labels STV_HOST_PORT_LABEL_PREFIX "<proto>/<port>"
 * and ... "<proto>/<port>@<hostIP>" (empty values) and required
 * anti-affinity terms on kubernetes.io/hostname against the pods whose
 * ports overlap (see controller/snapshot.h). The prefix holds a ':' and a
 * second '/', which the API rejects in label keys, so no real pod carries
 * it; output that shows pod labels leaves such keys out.
 */
#define STV_HOST_PORT_LABEL_PREFIX "stevedore.io/host-port:"

/* Returns 1 when key is one of the reserved host-port label keys above. */
int stv_label_is_host_port(const char *key);

/* ---------------------------------------------------------------------- */
/* Disruption: which pods may move and which nodes may go (disrupt.c)    */

/*
 * 1 when bound pod p goes with its node instead of moving: a DaemonSet
 * pod, a mirror (static) pod, a headroom pod. Such pods are not evicted to
 * make a node empty, and do not keep it (docs/consolidation.md).
 */
int stv_pod_stays_with_node(const struct stv_snapshot *s, const struct stv_pod *p);

/*
 * Why bound pod p (one that does not stay with its node) may not be
 * evicted to run elsewhere, or NULL when it may: a do-not-disrupt
 * annotation (any of the three), or unless it carries
 * cluster-autoscaler.kubernetes.io/safe-to-evict: "true", local storage or
 * no controller. A static string naming the annotation or rule.
 * PodDisruptionBudgets are checked apart (struct stv_pdb_budget).
 */
const char *stv_pod_why_unmovable(const struct stv_pod *p);

/* Why node n may not be disrupted for its annotations (a static string), or NULL. */
const char *stv_node_why_undisruptable(const struct stv_node *n);

/*
 * The weight of evicting pod p, as Karpenter weighs it: 1 +
 * pod-deletion-cost / 2^27 + priority / 2^25, clamped here to [0.1, 10]
 * (a pod is never free to evict).
 */
double stv_pod_eviction_cost(const struct stv_pod *p);

/*
 * The evictions PodDisruptionBudget b allows: status.disruptionsAllowed
 * when the snapshot has it; otherwise from its spec over the pods it
 * selects (expected: not terminating; healthy: of those, Running on a
 * node), percentages of expected rounded up, as the disruption controller
 * computes it. A budget with neither minAvailable nor maxUnavailable
 * allows -1 (no limit).
 */
int64_t stv_pdb_allowed(const struct stv_pdb *b, int64_t expected, int64_t healthy);

/*
 * The evictions every PodDisruptionBudget of a snapshot still allows, and
 * which budgets select which pod class (a class has one namespace and one
 * label set, so a selector selects all its pods or none).
 */
struct stv_pdb_budget {
  const struct stv_snapshot *s;
  int64_t *left;     /* per PDB: evictions still allowed, -1 = no limit */
  uint32_t *cls_off; /* per class c: its budgets are cls_pdb[cls_off[c] .. cls_off[c + 1]) */
  uint32_t *cls_pdb;
  int64_t *need; /* scratch of stv_pdb_budget_check, per PDB */
  uint32_t *touched;
};

/* Fills b for s (which must outlive it). Returns 0 or STV_ENOMEM. */
int stv_pdb_budget_init(struct stv_pdb_budget *b, const struct stv_snapshot *s);
void stv_pdb_budget_close(struct stv_pdb_budget *b);

/*
 * Whether evicting the pods pods[0..n) (indexes into s->pods) keeps within
 * what every budget still allows. Returns 0 when it does (and, when take is
 * non-zero, subtracts them from the budgets); otherwise 1 with the reason
 * in why: the budget that would be broken ("PodDisruptionBudget ns/name
 * allows 0 more evictions, this takes 2"), or a pod that two budgets
 * select (the Eviction API refuses to evict such a pod).
 */
int stv_pdb_budget_check(struct stv_pdb_budget *b, const uint32_t *pods, size_t n, int take, char *why,
                         size_t whysize);

/*
 * Whether node i of s may be drained now, judged pod by pod: its
 * annotations, then every bound pod that does not stay with it
 * (stv_pod_why_unmovable), then the budgets b (not taken). Returns 0 and
 * the pods to evict in *nevict, 1 with the reason in why (naming the
 * pod), or STV_ENOMEM. Scans every pod of s.
 */
int stv_node_check_drain(const struct stv_snapshot *s, struct stv_pdb_budget *b, size_t i, size_t *nevict,
                         char *why, size_t whysize);

#endif
