/*
 * Nodes: labels, taints, allocatable (or capacity), the capacity type and
 * zone, and the taints the node lifecycle controller keeps for the node's
 * conditions and cordon.
 */
#include <stdio.h>
#include <string.h>

#include "snapshot_internal.h"

/* ---------------------------------------------------------------------- */
/* Node labels                                                            */

/* Normalised capacity type from the labels provisioners and clouds set. */
static const char *capacity_type(const struct stv_labels *l) {
  static const char *const direct[] = {"stevedore.io/capacity-type", "karpenter.sh/capacity-type"};
  const char *v;
  unsigned i;
  for (i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
    v = stv_labels_get(l, direct[i]);
    if (v != NULL && (strcmp(v, "spot") == 0 || strcmp(v, "on-demand") == 0 || strcmp(v, "reserved") == 0))
      return v;
  }
  v = stv_labels_get(l, "eks.amazonaws.com/capacityType");
  if (v != NULL && strcmp(v, "SPOT") == 0) return "spot";
  if (v != NULL && strcmp(v, "ON_DEMAND") == 0) return "on-demand";
  if (v != NULL && strcmp(v, "CAPACITY_BLOCK") == 0) return "reserved";
  v = stv_labels_get(l, "cloud.google.com/gke-spot");
  if (v != NULL && strcmp(v, "true") == 0) return "spot";
  v = stv_labels_get(l, "cloud.google.com/gke-preemptible");
  if (v != NULL && strcmp(v, "true") == 0) return "spot";
  v = stv_labels_get(l, "kubernetes.azure.com/scalesetpriority");
  if (v != NULL && strcmp(v, "spot") == 0) return "spot";
  return NULL;
}

static const char *first_label(const struct stv_labels *l, const char *a, const char *b) {
  const char *v = stv_labels_get(l, a);
  return v != NULL ? v : stv_labels_get(l, b);
}

/* ---------------------------------------------------------------------- */
/* Node conditions (the node lifecycle controller's taints)               */

/* Appends the taint key:NoSchedule to n unless n has key with that effect already. */
static int add_lifecycle_taint(struct rd *r, struct stv_node *n, const char *key) {
  uint32_t i;
  const char *k = stv__intern(r, key), *empty = stv__intern(r, "");
  if (k == NULL || empty == NULL) return stv__oom(r);
  for (i = 0; i < n->ntaints; i++)
    if (n->taints[i].key == k && n->taints[i].effect == STV_EFFECT_NO_SCHEDULE) return 0;
  n->taints[n->ntaints].key = k;
  n->taints[n->ntaints].value = empty;
  n->taints[n->ntaints].effect = STV_EFFECT_NO_SCHEDULE;
  n->ntaints++;
  return 0;
}

/*
 * Counts n in the read statistics when it carries a condition taint (its
 * own, or one added for its conditions), naming the first.
 */
static void count_condition_node(struct rd *r, const struct stv_node *n) {
  static const char prefix[] = "node.kubernetes.io/";
  struct stv_snapshot_read_stats *st = r->stats;
  uint32_t i;
  if (st == NULL) return;
  for (i = 0; i < n->ntaints; i++) {
    const char *key = n->taints[i].key;
    if (n->taints[i].effect == STV_EFFECT_PREFER_NO_SCHEDULE) continue;
    if (strcmp(key, "node.kubernetes.io/not-ready") == 0 ||
        strcmp(key, "node.kubernetes.io/unreachable") == 0 ||
        strcmp(key, "node.kubernetes.io/memory-pressure") == 0 ||
        strcmp(key, "node.kubernetes.io/disk-pressure") == 0 ||
        strcmp(key, "node.kubernetes.io/pid-pressure") == 0 ||
        strcmp(key, "node.kubernetes.io/network-unavailable") == 0)
      break;
  }
  if (i == n->ntaints) return;
  if (st->condition_nodes < sizeof(st->condition_examples) / sizeof(st->condition_examples[0]))
    snprintf(st->condition_examples[st->condition_nodes], sizeof(st->condition_examples[0]), "%s (%s)",
             n->name, n->taints[i].key + sizeof(prefix) - 1);
  st->condition_nodes++;
}

/*
 * The NoSchedule taints the node lifecycle controller keeps on a node
 * (TaintNodesByCondition, always on since Kubernetes 1.17): Ready False
 * node.kubernetes.io/not-ready, Ready Unknown .../unreachable,
 * MemoryPressure, DiskPressure and PIDPressure True .../memory-pressure,
 * .../disk-pressure, .../pid-pressure, NetworkUnavailable True
 * .../network-unavailable, and spec.unschedulable .../unschedulable. A
 * snapshot taken before the controller caught up lacks them; they are added
 * here when missing, so that the scheduler's TaintToleration filter sees
 * what it will see. Taints present are kept as they are (a stale one still
 * repels pods until the controller removes it), and so are the NoExecute
 * not-ready/unreachable taints, which the controller adds later and only
 * outside a zone-wide outage. A node that reports no conditions gets
 * none of the condition taints (only the cordon's, when cordoned).
 */
static int add_condition_taints(struct rd *r, const cJSON *status, struct stv_node *n) {
  static const char *const map[][3] = {
      {"Ready", "False", "node.kubernetes.io/not-ready"},
      {"Ready", "Unknown", "node.kubernetes.io/unreachable"},
      {"MemoryPressure", "True", "node.kubernetes.io/memory-pressure"},
      {"DiskPressure", "True", "node.kubernetes.io/disk-pressure"},
      {"PIDPressure", "True", "node.kubernetes.io/pid-pressure"},
      {"NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"}};
  struct jpath pconds = {&P_STATUS, "conditions", 0};
  const size_t nmap = sizeof(map) / sizeof(map[0]);
  const cJSON *conds, *e;
  struct stv_taint *t;
  long i = 0;
  size_t k;
  int rc;

  if ((rc = stv__get(r, status, "conditions", &P_STATUS, JT_ARRAY, &conds)) != 0) return rc;
  /* Room for every taint this may add. */
  if ((t = stv__scratch(r, (size_t)n->ntaints + nmap + 1, sizeof(*t))) == NULL) return stv__oom(r);
  if (n->ntaints > 0) memcpy(t, n->taints, n->ntaints * sizeof(*t));
  n->taints = t;
  cJSON_ArrayForEach(e, conds) {
    struct jpath pi = {&pconds, NULL, i++};
    struct jpath ps = {&pi, "status", 0};
    const char *type, *st;
    int known = 0;
    struct qbuf q;
    if (!cJSON_IsObject(e)) return stv__fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = stv__need_str(r, e, "type", &pi, &type)) != 0) return rc;
    for (k = 0; k < nmap; k++) known |= strcmp(type, map[k][0]) == 0;
    if (!known) continue; /* other conditions make no taint */
    if ((rc = stv__need_str(r, e, "status", &pi, &st)) != 0) return rc;
    if (strcmp(st, "True") != 0 && strcmp(st, "False") != 0 && strcmp(st, "Unknown") != 0)
      return stv__fail(r, STV_EINVAL, &ps, "unknown status \"%s\" (True, False or Unknown)",
                       stv__quote(st, &q));
    for (k = 0; k < nmap; k++)
      if (strcmp(type, map[k][0]) == 0 && strcmp(st, map[k][1]) == 0 &&
          (rc = add_lifecycle_taint(r, n, map[k][2])) != 0)
        return rc;
  }
  count_condition_node(r, n);
  if (n->unschedulable && (rc = add_lifecycle_taint(r, n, "node.kubernetes.io/unschedulable")) != 0)
    return rc;
  return 0;
}

/* Counts a node with neither status.allocatable nor status.capacity, naming the first few. */
static void note_no_capacity(struct rd *r) {
  struct stv_snapshot_read_stats *st = r->stats;
  if (st == NULL) return;
  if (st->nodes_no_capacity < sizeof(st->no_capacity_names) / sizeof(st->no_capacity_names[0]))
    snprintf(st->no_capacity_names[st->nodes_no_capacity], sizeof(st->no_capacity_names[0]), "%s", r->name);
  st->nodes_no_capacity++;
}

/* A spec.taints element (of stv__read_list). */
static int read_taint(struct rd *r, const cJSON *t, const struct jpath *p, const void *ctx, void *slot) {
  struct jpath pe = {p, "effect", 0};
  struct stv_taint *x = slot;
  const char *key, *value, *effect;
  int rc;
  (void)ctx;
  if ((rc = stv__need_str(r, t, "key", p, &key)) != 0) return rc;
  if ((rc = stv__get_str(r, t, "value", p, &value)) != 0) return rc;
  if ((rc = stv__get_str(r, t, "effect", p, &effect)) != 0) return rc;
  if ((rc = stv__parse_effect(r, effect, &pe, 0, &x->effect)) != 0) return rc;
  if ((x->key = stv__intern(r, key)) == NULL) return stv__oom(r);
  if ((x->value = stv__intern(r, value != NULL ? value : "")) == NULL) return stv__oom(r);
  return 0;
}

/*
 * The annotations that forbid disrupting the node (docs/consolidation.md):
 * stevedore.io/do-not-disrupt and karpenter.sh/do-not-disrupt "true",
 * cluster-autoscaler.kubernetes.io/scale-down-disabled "true".
 */
static int read_node_disruption(struct rd *r, const cJSON *meta, struct stv_node *n) {
  static const struct {
    const char *key;
    uint8_t flag;
  } keys[] = {{"stevedore.io/do-not-disrupt", STV_ND_DND_STEVEDORE},
              {"karpenter.sh/do-not-disrupt", STV_ND_DND_KARPENTER},
              {"cluster-autoscaler.kubernetes.io/scale-down-disabled", STV_ND_SCALE_DOWN_DISABLED}};
  struct jpath pann = {&P_METADATA, "annotations", 0};
  const cJSON *ann;
  const char *v;
  unsigned i;
  int rc;
  if ((rc = stv__get(r, meta, "annotations", &P_METADATA, JT_OBJECT, &ann)) != 0) return rc;
  for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    if ((rc = stv__get_str(r, ann, keys[i].key, &pann, &v)) != 0) return rc;
    if (v != NULL && strcmp(v, "true") == 0) n->disrupt |= keys[i].flag;
  }
  return 0;
}

int stv__read_node(struct rd *r, const cJSON *item, const cJSON *meta) {
  struct jpath ptaints = {&P_SPEC, "taints", 0};
  struct jpath palloc = {&P_STATUS, "allocatable", 0}, pcap = {&P_STATUS, "capacity", 0};
  const cJSON *labels, *spec, *taints, *status, *alloc, *cap;
  struct stv_node n;
  struct resv a;
  const char *ct;
  int rc;

  memset(&n, 0, sizeof(n));
  memset(&a, 0, sizeof(a));
  if ((n.name = stv__intern(r, r->name)) == NULL) return stv__oom(r);
  if ((rc = stv__get(r, meta, "labels", &P_METADATA, JT_OBJECT, &labels)) != 0) return rc;
  if ((rc = stv__read_string_map(r, labels, &P_LABELS, &n.labels)) != 0) return rc;
  if ((rc = read_node_disruption(r, meta, &n)) != 0) return rc;

  if ((rc = stv__get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if ((rc = stv__get_bool(r, spec, "unschedulable", &P_SPEC, &n.unschedulable)) != 0) return rc;
  if ((rc = stv__get(r, spec, "taints", &P_SPEC, JT_ARRAY, &taints)) != 0) return rc;
  n.taints = stv__read_list(r, taints, &ptaints, sizeof(*n.taints), read_taint, NULL, &n.ntaints, &rc);
  if (rc != 0) return rc;

  if ((rc = stv__get(r, item, "status", NULL, JT_OBJECT, &status)) != 0) return rc;
  if ((rc = stv__get(r, status, "allocatable", &P_STATUS, JT_OBJECT, &alloc)) != 0) return rc;
  if ((rc = stv__get(r, status, "capacity", &P_STATUS, JT_OBJECT, &cap)) != 0) return rc;
  if (alloc != NULL)
    rc = stv__read_reslist(r, alloc, &palloc, NULL, 0, &a);
  else if (cap != NULL)
    rc = stv__read_reslist(r, cap, &pcap, NULL, 0, &a);
  else
    note_no_capacity(r); /* kube-scheduler sees zero allocatable: the node is full */
  if (rc != 0) return rc;
  memcpy(n.alloc, a.v, sizeof(a.v));
  if ((rc = add_condition_taints(r, status, &n)) != 0) return rc;

  n.instance_type =
      first_label(&n.labels, "node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type");
  n.zone = first_label(&n.labels, "topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone");
  if ((ct = capacity_type(&n.labels)) != NULL && (n.capacity_type = stv__intern(r, ct)) == NULL)
    return stv__oom(r);

  if (r->replace >= 0) {
    if ((rc = stv_snapshot_replace_node(r->s, (size_t)r->replace, &n)) != 0) return stv__fail_rc(r, rc);
    if (r->stats != NULL) r->stats->replaced_node = r->replace;
    return 0;
  }
  rc = stv_snapshot_add_node(r->s, &n);
  if (rc == STV_ECONFLICT) return stv__fail(r, rc, NULL, "duplicate node name");
  if (rc != 0) return stv__fail_rc(r, rc);
  if (r->stats != NULL) r->stats->nodes++;
  return 0;
}
