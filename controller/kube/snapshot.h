/*
 * snapshot: reads Kubernetes objects (as `kubectl get
 * nodes,pods,poddisruptionbudgets,namespaces,pvc,pv,storageclass,csinode
 * -A -o json` prints them) into the compact snapshot model of
 * packer/packer.h.
 *
 * Kinds read: Node, Pod, PodDisruptionBudget, Namespace, and the storage
 * kinds PersistentVolumeClaim, PersistentVolume, StorageClass and CSINode,
 * which are kept as read and turned into constraints on the pods that use
 * them by stv_snapshot_resolve_volumes (below). Items of any other
 * kind are skipped and counted. Pods in phase Succeeded or Failed are
 * skipped and counted too: they hold no resources. What the reader fills
 * in beyond copying fields:
 *   - a pod's effective requests, as kube-scheduler computes them
 *     (KEP-753 sidecars, limits standing in for absent requests,
 *     pod-level resources, overhead; exact quantities added up, then
 *     rounded up), plus one pod slot;
 *   - matchLabelKeys / mismatchLabelKeys merged into their selectors with
 *     the pod's own label values, as kube-apiserver does;
 *   - for a DaemonSet pod, the class of its template: the matchFields on
 *     metadata.name that pin it to its node are dropped;
 *   - spec.nodeName kept in pod.node_name; pod.node is set when the node
 *     was read already, and stv_snapshot_finish resolves the rest;
 *   - a pod without a namespace is in "default"; a Namespace carries the
 *     label kubernetes.io/metadata.name, as the API server sets it;
 *   - a PodDisruptionBudget without a selector selects no pods and is left
 *     out;
 *   - a pod annotated stevedore.io/spot: "false" gets, in its class's
 *     nodeSelector, "NotIn" requirements on every label that marks a node
 *     as spot (stevedore.io/capacity-type, karpenter.sh/capacity-type,
 *     eks.amazonaws.com/capacityType, cloud.google.com/gke-spot and
 *     gke-preemptible, kubernetes.azure.com/scalesetpriority), so that it
 *     is placed on no spot node; any other value of the annotation, or
 *     none, allows spot;
 *   - host ports (kube-scheduler's NodePorts, Kubernetes 1.29 to 1.31): each
 *     hostPort of spec.containers (init containers' not counted; under
 *     spec.hostNetwork a containerPort is its hostPort, as the API server
 *     defaults it), protocol TCP and hostIP 0.0.0.0 when unset, becomes the
 *     class labels STV_HOST_PORT_LABEL_PREFIX "<proto>/<port>" and
 *     "...@<hostIP>" and required anti-affinity terms on
 *     kubernetes.io/hostname over every namespace against the pods whose
 *     ports overlap (see packer.h); a hostPort outside 0..65535 or a
 *     protocol other than TCP, UDP or SCTP is STV_EINVAL (the hostIP is
 *     compared as written, as the scheduler does);
 *   - a node's taints get the NoSchedule taints the node lifecycle
 *     controller keeps, when missing: Ready False node.kubernetes.io/
 *     not-ready, Ready Unknown .../unreachable, MemoryPressure,
 *     DiskPressure, PIDPressure True .../memory-pressure, .../disk-pressure,
 *     .../pid-pressure, NetworkUnavailable True .../network-unavailable,
 *     spec.unschedulable .../unschedulable (a condition status other than
 *     True, False or Unknown is STV_EINVAL; other condition types are
 *     ignored, as the controller does).
 * Quantities may be strings or JSON numbers (written with the fewest
 * digits that read back the same: 0.1 is "0.1"). A zero amount of a
 * resource not yet named adds no dimension.
 *
 * Error messages name the file, the item, its kind and name, and the field
 * by its JSON path, on one line:
 *   snap.json: items[12] Pod team-a/web-5: spec.containers[0].resources
 *   .requests.cpu: invalid quantity "12x": unknown suffix "x"
 * ("items[i] " is left out for a single-object document, and the
 * namespace for cluster-scoped kinds: "Node ip-10-0-1-5"). Structural
 * problems (a missing required field, a value of the wrong JSON type) are
 * STV_EPARSE; values the API would reject are STV_EINVAL (STV_ERANGE for
 * amounts that overflow); a seventeenth resource name is STV_ELIMIT;
 * allocation failures STV_ENOMEM.
 *
 * The same object (kind, namespace, name) read again, in this file or an
 * earlier one, counts once: skipped when identical (same resourceVersion
 * and uid; without a resourceVersion, the same content), else the version
 * with the larger resourceVersion (as integers; the later one when they do
 * not compare) replaces the earlier in place, counted in the statistics.
 * A Node with neither status.allocatable nor status.capacity is read with
 * zero allocatable (full) and counted. Files are read in every shape
 * kubeinput.h accepts (JSON, YAML, typed lists, cluster-info dump trees).
 */
#ifndef STV_SNAPSHOT_H
#define STV_SNAPSHOT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "packer.h"

/* How many distinct skipped kinds the statistics name. */
#define STV_SNAPSHOT_STATS_KINDS 8

/*
 * What reading saw, for the command's summary on stderr. Caller-owned;
 * zero it before the first file and pass it to each read to accumulate.
 */
struct stv_snapshot_read_stats {
  size_t items; /* items seen, skipped ones included */
  size_t nodes; /* items added, per kind */
  size_t pods;
  size_t pdbs;
  size_t namespaces;
  size_t finished_pods; /* pods in phase Succeeded or Failed, left out */
  size_t skipped;       /* items of other kinds, left out */
  size_t nkinds;        /* distinct skipped kinds named below */
  int more_kinds;       /* further kinds were skipped than fit below */
  char kinds[STV_SNAPSHOT_STATS_KINDS][48];
  /* Nodes whose conditions taint them (not-ready, unreachable, memory-,
   * disk-, pid-pressure, network-unavailable), and the first few as
   * "name (not-ready)". */
  size_t condition_nodes;
  char condition_examples[3][128];
  /* Storage objects read, and what stv_snapshot_resolve_volumes found. */
  size_t pvcs, pvs, storage_classes, csinodes;
  size_t attach_drivers;        /* CSI drivers given an attach-limit dimension */
  size_t vol_unchecked_pods;    /* pods whose claims, volumes or classes are not in the snapshot */
  size_t vol_unchecked_pending; /* of which pending */
  size_t vol_blocked_pods;      /* pending pods no node can take for their claims */
  size_t vol_daemonset_pods;    /* DaemonSet pods with volumes, left as they are */
  int vol_no_csinodes;          /* attach limits counted, but no CSINode was read */
  /* Files of a kubectl cluster-info dump directory left out (services.json, logs, ...). */
  size_t ignored_files;
  size_t nignored_names;
  int more_ignored_names;
  char ignored_names[4][48];
  /* Nodes with neither status.allocatable nor status.capacity: read as full. */
  size_t nodes_no_capacity;
  char no_capacity_names[3][64];
  /* Objects read twice (same kind, namespace and name). */
  size_t dup_identical; /* the same object again: read once */
  size_t dup_replaced;  /* a different version: the newer kept */
  char dup_examples[3][160];
  /* For the last item: the index of the pod or node it replaced, else -1. */
  long replaced_pod, replaced_node;
  /* Container log blocks skipped in a `kubectl cluster-info dump` stream. */
  size_t log_blocks;
};

/*
 * Reads one snapshot file (a v1 List, a typed list or a single object, in
 * JSON or YAML; a cluster-info dump directory; "-" for standard input)
 * into s, which is initialised already (stv_snapshot_init); several files
 * may be read into one snapshot, and the caller calls
 * stv_snapshot_finish after the last. path is borrowed; err may be NULL.
 * Returns 0, a negative STV_ code (see above, and the stream reader's in
 * jsonstream.h) or -errno when the file cannot be read. On error s holds
 * what was read before and stays valid for stv_snapshot_close.
 */
int stv_snapshot_read_file(struct stv_snapshot *s, const char *path, struct stv_err *err);

/* As stv_snapshot_read_file, also adding to *stats (borrowed, may be NULL). */
int stv_snapshot_read_file_stats(struct stv_snapshot *s, const char *path,
                                 struct stv_snapshot_read_stats *stats, struct stv_err *err);

/*
 * Adds one Kubernetes object (borrowed; nothing of it is kept) to s by its
 * kind. Error messages start with the item: "Pod team-a/web-5: spec...".
 */
int stv_snapshot_add_item(struct stv_snapshot *s, const cJSON *item, struct stv_err *err);

/* As stv_snapshot_add_item, also adding to *stats (borrowed, may be NULL). */
int stv_snapshot_add_item_stats(struct stv_snapshot *s, const cJSON *item,
                                struct stv_snapshot_read_stats *stats, struct stv_err *err);

/*
 * Turns the storage objects read into s (claims, volumes, storage classes,
 * CSINodes) into constraints on the pods that use them; call it after the
 * last file and before stv_snapshot_finish (once; later calls do nothing).
 * A pod's claims give it, ANDed into its required node affinity, the node
 * affinity and zone labels of the volumes bound to them and the allowed
 * topologies of WaitForFirstConsumer classes of unbound ones; a pending pod
 * that no node can take (an unbound claim of an Immediate class, a claim
 * that does not exist) gets a class whose blocked reason the packer lists;
 * each distinct attachable volume of a driver with an attach limit adds 1
 * to the pod's request of the dimension "attachable-volumes-csi-<driver>",
 * whose allocatable on existing nodes is their CSINode's count; CSI
 * topology keys that carry the zone on existing nodes are kept in
 * s->zone_labels for new nodes (also without storage objects). Counts go
 * to *stats (may be NULL). Returns 0, STV_ELIMIT (too many OR-terms or
 * resource dimensions), STV_ECONFLICT (an object twice) or STV_ENOMEM,
 * with err naming the pod or object.
 */
int stv_snapshot_resolve_volumes(struct stv_snapshot *s, struct stv_snapshot_read_stats *stats,
                                 struct stv_err *err);

/*
 * Writes a one-line summary of what was left out into buf (size bytes):
 * "skipped 3 items of kinds Service, ConfigMap; 2 finished pods (Succeeded
 * or Failed)", or "" when nothing was; then, when nodes are tainted by
 * their conditions, "; 2 nodes tainted by their conditions (n1 (not-ready),
 * n2 (memory-pressure)) take only pods tolerating those taints". Returns
 * buf.
 */
char *stv_snapshot_read_stats_format(const struct stv_snapshot_read_stats *st, char *buf,
                                     size_t size);

/* Receives one note (a sentence, borrowed); returns 0 or a negative STV_ code to stop. */
typedef int (*stv_snapshot_note_fn)(void *ctx, const char *msg);

/*
 * Calls note for each thing a reader of the plan (for_report 0) or of the
 * cost report (1) should know about the finished snapshot s and what
 * reading saw (st, may be NULL): pods bound to nodes missing from the
 * snapshot (count and the first few), pending pods without any node given,
 * nodes read as full for want of allocatable and capacity, objects read
 * twice in different versions. Returns 0 or note's code.
 */
int stv_snapshot_notes(const struct stv_snapshot *s, const struct stv_snapshot_read_stats *st, int for_report,
                       stv_snapshot_note_fn note, void *ctx);

#endif
