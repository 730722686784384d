/*
 * Tests for what a disruption decision reads (the pod and node readers'
 * annotations, volumes, owner, grace period) and the predicates of
 * packer/disrupt.c: which pods may move, which nodes may go, and what the
 * PodDisruptionBudgets allow.
 */
#include <cjson/cJSON.h>

#include "harness.h"
#include "packer.h"
#include "snapshot.h"

/* Parses text with ' for " (no fixture needs a real apostrophe). */
static cJSON *obj(const char *text) {
  char *s = strdup(text), *p;
  cJSON *j;
  for (p = s; *p != '\0'; p++)
    if (*p == '\'') *p = '"';
  j = cJSON_Parse(s);
  free(s);
  if (j == NULL) fprintf(stderr, "  fixture does not parse: %s\n", text);
  return j;
}

static int add(struct stv_snapshot *s, const char *text, struct stv_err *err) {
  cJSON *j = obj(text);
  int rc;
  if (j == NULL) return -9999;
  rc = stv_snapshot_add_item(s, j, err);
  cJSON_Delete(j);
  return rc;
}

#define OWNER "'ownerReferences':[{'kind':'ReplicaSet','name':'web-1','uid':'u1','controller':true}]"
#define PODX(name, node, meta, spec)                                                                     \
  "{'kind':'Pod','metadata':{'name':'" name "','namespace':'team-a'," meta "},'spec':{'nodeName':'" node \
  "','containers':[{'name':'c','resources':{'requests':{'cpu':'1'}}}]" spec                              \
  "},'status':{'phase':'Running'}}"
#define NODEX(name, meta)                                                                     \
  "{'kind':'Node','metadata':{'name':'" name "'" meta "},'status':{'allocatable':{'cpu':'4'," \
  "'memory':'8Gi','pods':'110'}}}"

/* Index of the pod called name, or -1. */
static long pod_index(const struct stv_snapshot *s, const char *name) {
  size_t i;
  for (i = 0; i < s->npods; i++)
    if (strcmp(s->pods[i].name, name) == 0) return (long)i;
  return -1;
}

TEST(should_read_disruption_annotations_of_pods) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(
      add(&s,
          PODX("a", "n1", "'annotations':{'cluster-autoscaler.kubernetes.io/safe-to-evict':'false'}," OWNER,
               ""),
          &err),
      0);
  CHECK_EQ_INT(
      add(&s, PODX("b", "n1", "'annotations':{'cluster-autoscaler.kubernetes.io/safe-to-evict':'true'}", ""),
          &err),
      0);
  CHECK_EQ_INT(
      add(&s,
          PODX("c", "n1", "'annotations':{'controller.kubernetes.io/pod-deletion-cost':'-500'}," OWNER,
               ",'terminationGracePeriodSeconds':120"),
          &err),
      0);
  CHECK_EQ_INT(add(&s,
                   PODX("d", "n1", "'ownerReferences':[{'kind':'ReplicaSet','name':'x','uid':'u'}]",
                        ",'terminationGracePeriodSeconds':-5"),
                   &err),
               0);
  CHECK_EQ_INT(
      add(&s, PODX("e", "n1", "'annotations':{'karpenter.sh/do-not-disrupt':'true'}," OWNER, ""), &err), 0);
  CHECK_EQ_INT(s.npods, 5);
  CHECK_EQ_INT(s.pods[0].flags, STV_POD_DO_NOT_DISRUPT);
  CHECK_EQ_INT(s.pods[0].disrupt, STV_PD_DND_CA);
  CHECK_EQ_INT(s.pods[0].grace, STV_GRACE_DEFAULT);
  CHECK_EQ_INT(s.pods[1].disrupt, STV_PD_SAFE_TO_EVICT | STV_PD_NO_CONTROLLER);
  CHECK_EQ_INT(s.pods[2].disrupt, STV_PD_HAS_DELETION_COST);
  CHECK_EQ_INT(s.pods[2].deletion_cost, -500);
  CHECK_EQ_INT(s.pods[2].grace, 120);
  /* An owner that is not the controller leaves the pod without one. */
  CHECK_EQ_INT(s.pods[3].disrupt, STV_PD_NO_CONTROLLER);
  CHECK_EQ_INT(s.pods[3].grace, 1);
  CHECK_EQ_INT(s.pods[4].flags, STV_POD_DO_NOT_DISRUPT);
  CHECK_EQ_INT(s.pods[4].disrupt, STV_PD_DND_KARPENTER);
  stv_snapshot_close(&s);
}

TEST(should_tell_memory_emptydir_from_local_storage) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(
      add(&s, PODX("m", "n1", OWNER, ",'volumes':[{'name':'t','emptyDir':{'medium':'Memory'}}]"), &err), 0);
  CHECK_EQ_INT(add(&s, PODX("d", "n1", OWNER, ",'volumes':[{'name':'t','emptyDir':{'medium':''}}]"), &err),
               0);
  CHECK_EQ_INT(add(&s, PODX("h", "n1", OWNER, ",'volumes':[{'name':'h','hostPath':{'path':'/x'}}]"), &err),
               0);
  CHECK_EQ_INT(s.pods[0].flags & STV_POD_LOCAL_STORAGE, 0);
  CHECK_EQ_INT(s.pods[1].flags & STV_POD_LOCAL_STORAGE, STV_POD_LOCAL_STORAGE);
  CHECK_EQ_INT(s.pods[2].flags & STV_POD_LOCAL_STORAGE, STV_POD_LOCAL_STORAGE);
  stv_snapshot_close(&s);
}

TEST(should_reject_bad_deletion_cost_and_grace_naming_the_field) {
  static const char *const bad[] = {"'abc'", "'12x'", "'3000000000'", "''"};
  char text[512];
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct stv_snapshot s;
    struct stv_err err = {0, ""};
    snprintf(text, sizeof(text),
             "{'kind':'Pod','metadata':{'name':'p','namespace':'ns','annotations':"
             "{'controller.kubernetes.io/pod-deletion-cost':%s}},'spec':{'containers':[]}}",
             bad[i]);
    CHECK_EQ_INT(stv_snapshot_init(&s), 0);
    CHECK_EQ_INT(add(&s, text, &err), STV_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "ns/p");
    CHECK_STR_CONTAINS(err.msg, "controller.kubernetes.io/pod-deletion-cost");
    CHECK_STR_CONTAINS(err.msg, "not a 32-bit integer");
    stv_snapshot_close(&s);
  }
  {
    struct stv_snapshot s;
    struct stv_err err = {0, ""};
    CHECK_EQ_INT(stv_snapshot_init(&s), 0);
    CHECK_EQ_INT(add(&s,
                     "{'kind':'Pod','metadata':{'name':'p','namespace':'ns'},'spec':{"
                     "'terminationGracePeriodSeconds':'30','containers':[]}}",
                     &err),
                 STV_EPARSE);
    CHECK_STR_CONTAINS(err.msg, "terminationGracePeriodSeconds");
    stv_snapshot_close(&s);
  }
}

TEST(should_read_node_annotations_that_forbid_disruption) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(add(&s, NODEX("n1", ",'annotations':{'stevedore.io/do-not-disrupt':'true'}"), &err), 0);
  CHECK_EQ_INT(add(&s, NODEX("n2", ",'annotations':{'karpenter.sh/do-not-disrupt':'true'}"), &err), 0);
  CHECK_EQ_INT(
      add(&s, NODEX("n3", ",'annotations':{'cluster-autoscaler.kubernetes.io/scale-down-disabled':'true'}"),
          &err),
      0);
  CHECK_EQ_INT(add(&s, NODEX("n4", ",'annotations':{'stevedore.io/do-not-disrupt':'false'}"), &err), 0);
  CHECK_EQ_INT(s.nodes[0].disrupt, STV_ND_DND_STEVEDORE);
  CHECK_EQ_INT(s.nodes[1].disrupt, STV_ND_DND_KARPENTER);
  CHECK_EQ_INT(s.nodes[2].disrupt, STV_ND_SCALE_DOWN_DISABLED);
  CHECK_EQ_INT(s.nodes[3].disrupt, 0);
  CHECK_STR_CONTAINS(stv_node_why_undisruptable(&s.nodes[2]), "scale-down-disabled");
  CHECK(stv_node_why_undisruptable(&s.nodes[3]) == NULL);
  CHECK_EQ_INT(add(&s, NODEX("n5", ",'annotations':{'karpenter.sh/do-not-disrupt':true}"), &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "karpenter.sh/do-not-disrupt");
  stv_snapshot_close(&s);
}

TEST(should_let_safe_to_evict_override_storage_and_controller_only) {
  struct stv_pod p;
  memset(&p, 0, sizeof(p));
  CHECK(stv_pod_why_unmovable(&p) == NULL);
  p.flags = STV_POD_LOCAL_STORAGE;
  CHECK_STR_CONTAINS(stv_pod_why_unmovable(&p), "local storage");
  p.flags = 0;
  p.disrupt = STV_PD_NO_CONTROLLER;
  CHECK_STR_CONTAINS(stv_pod_why_unmovable(&p), "no controller");
  p.flags = STV_POD_LOCAL_STORAGE;
  p.disrupt = STV_PD_NO_CONTROLLER | STV_PD_SAFE_TO_EVICT;
  CHECK(stv_pod_why_unmovable(&p) == NULL);
  p.flags |= STV_POD_DO_NOT_DISRUPT;
  p.disrupt |= STV_PD_DND_STEVEDORE;
  CHECK_STR_CONTAINS(stv_pod_why_unmovable(&p), "stevedore.io/do-not-disrupt");
}

TEST(should_weigh_evictions_by_deletion_cost_and_priority) {
  struct stv_pod p;
  memset(&p, 0, sizeof(p));
  CHECK(stv_pod_eviction_cost(&p) == 1.0);
  p.deletion_cost = 134217728; /* 2^27: one more pod's worth */
  CHECK(stv_pod_eviction_cost(&p) == 2.0);
  p.deletion_cost = INT32_MIN;
  CHECK(stv_pod_eviction_cost(&p) == 0.1);
  p.deletion_cost = 0;
  p.has_priority = 1;
  p.priority = 2000000000;
  CHECK(stv_pod_eviction_cost(&p) == 10.0);
  p.priority = 33554432;
  CHECK(stv_pod_eviction_cost(&p) == 2.0);
}

/* Four web pods on n1 and n2, a DaemonSet and a mirror pod on n1, one budget. */
static int pdb_fixture(struct stv_snapshot *s, const char *pdb_spec, const char *pdb_status) {
  static const char *const pods[] = {
      PODX("web-a", "n1", "'labels':{'app':'web'}," OWNER, ""),
      PODX("web-b", "n1", "'labels':{'app':'web'}," OWNER, ""),
      PODX("web-c", "n2", "'labels':{'app':'web'}," OWNER, ""),
      PODX("web-d", "n2", "'labels':{'app':'web'}," OWNER, ""),
      PODX("agent", "n1", "'ownerReferences':[{'kind':'DaemonSet','name':'ag','uid':'d','controller':true}]",
           ""),
      PODX("kube-proxy", "n1", "'annotations':{'kubernetes.io/config.mirror':'x'}", ""),
  };
  struct stv_err err = {0, ""};
  char text[512];
  size_t i;
  if (stv_snapshot_init(s) != 0) return -1;
  if (add(s, NODEX("n1", ""), &err) != 0 || add(s, NODEX("n2", ""), &err) != 0) return -2;
  for (i = 0; i < sizeof(pods) / sizeof(pods[0]); i++)
    if (add(s, pods[i], &err) != 0) return -3;
  snprintf(text, sizeof(text),
           "{'kind':'PodDisruptionBudget','metadata':{'name':'web','namespace':'team-a'},"
           "'spec':{%s,'selector':{'matchLabels':{'app':'web'}}}%s}",
           pdb_spec, pdb_status);
  if (add(s, text, &err) != 0) {
    fprintf(stderr, "  %s\n", err.msg);
    return -4;
  }
  return stv_snapshot_finish(s, &err);
}

TEST(should_refuse_a_drain_the_budget_does_not_allow) {
  struct stv_snapshot s;
  struct stv_pdb_budget b;
  uint32_t two[2], one[1];
  char why[256];
  size_t nev;
  CHECK_EQ_INT(pdb_fixture(&s, "'maxUnavailable':1", ",'status':{'disruptionsAllowed':1}"), 0);
  CHECK_EQ_INT(stv_pdb_budget_init(&b, &s), 0);
  CHECK_EQ_INT(b.left[0], 1);
  /* n1 holds two web pods: one too many; the DaemonSet and mirror pods do not count. */
  CHECK_EQ_INT(stv_node_check_drain(&s, &b, 0, &nev, why, sizeof(why)), 1);
  CHECK_STR_CONTAINS(why, "PodDisruptionBudget team-a/web allows 1 more eviction, this takes 2");
  two[0] = (uint32_t)pod_index(&s, "web-a");
  two[1] = (uint32_t)pod_index(&s, "web-c");
  CHECK(stv_pod_stays_with_node(&s, &s.pods[pod_index(&s, "agent")]));
  CHECK(stv_pod_stays_with_node(&s, &s.pods[pod_index(&s, "kube-proxy")]));
  CHECK(!stv_pod_stays_with_node(&s, &s.pods[two[0]]));
  CHECK_EQ_INT(stv_pdb_budget_check(&b, two, 2, 1, why, sizeof(why)), 1);
  CHECK_EQ_INT(b.left[0], 1); /* a refused check takes nothing */
  one[0] = two[0];
  CHECK_EQ_INT(stv_pdb_budget_check(&b, one, 1, 1, why, sizeof(why)), 0);
  CHECK_EQ_INT(b.left[0], 0);
  one[0] = two[1];
  CHECK_EQ_INT(stv_pdb_budget_check(&b, one, 1, 0, why, sizeof(why)), 1);
  CHECK_STR_CONTAINS(why, "allows 0 more evictions, this takes 1");
  stv_pdb_budget_close(&b);
  stv_snapshot_close(&s);
}

TEST(should_compute_the_allowance_from_the_spec_without_status) {
  struct stv_snapshot s;
  struct stv_pdb_budget b;
  char why[256];
  size_t nev;
  /* minAvailable 50% of 4 = 2 of 4 healthy: 2 allowed, so n1 drains. */
  CHECK_EQ_INT(pdb_fixture(&s, "'minAvailable':'50%'", ""), 0);
  CHECK_EQ_INT(stv_pdb_budget_init(&b, &s), 0);
  CHECK_EQ_INT(b.left[0], 2);
  CHECK_EQ_INT(stv_node_check_drain(&s, &b, 0, &nev, why, sizeof(why)), 0);
  CHECK_EQ_INT(nev, 2);
  stv_pdb_budget_close(&b);
  stv_snapshot_close(&s);
  /* maxUnavailable 0 allows nothing. */
  CHECK_EQ_INT(pdb_fixture(&s, "'maxUnavailable':0", ""), 0);
  CHECK_EQ_INT(stv_pdb_budget_init(&b, &s), 0);
  CHECK_EQ_INT(b.left[0], 0);
  CHECK_EQ_INT(stv_node_check_drain(&s, &b, 1, &nev, why, sizeof(why)), 1);
  stv_pdb_budget_close(&b);
  stv_snapshot_close(&s);
}

TEST(should_name_the_pod_or_node_that_blocks_a_drain) {
  struct stv_snapshot s;
  struct stv_pdb_budget b;
  struct stv_err err = {0, ""};
  char why[256];
  size_t nev;
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(add(&s, NODEX("n1", ""), &err), 0);
  CHECK_EQ_INT(add(&s, NODEX("n2", ",'annotations':{'karpenter.sh/do-not-disrupt':'true'}"), &err), 0);
  CHECK_EQ_INT(add(&s, PODX("ok", "n1", OWNER, ""), &err), 0);
  CHECK_EQ_INT(add(&s, PODX("bare", "n1", "'labels':{'a':'b'}", ""), &err), 0);
  CHECK_EQ_INT(stv_snapshot_finish(&s, &err), 0);
  CHECK_EQ_INT(stv_pdb_budget_init(&b, &s), 0);
  CHECK_EQ_INT(stv_node_check_drain(&s, &b, 0, &nev, why, sizeof(why)), 1);
  CHECK_STR_CONTAINS(why, "pod team-a/bare: no controller");
  CHECK_EQ_INT(stv_node_check_drain(&s, &b, 1, &nev, why, sizeof(why)), 1);
  CHECK_STR_CONTAINS(why, "node annotation karpenter.sh/do-not-disrupt");
  stv_pdb_budget_close(&b);
  stv_snapshot_close(&s);
}

TEST(should_refuse_a_pod_two_budgets_select) {
  struct stv_snapshot s;
  struct stv_pdb_budget b;
  struct stv_err err = {0, ""};
  char why[256];
  size_t nev;
  CHECK_EQ_INT(pdb_fixture(&s, "'maxUnavailable':5", ""), 0);
  stv_snapshot_close(&s);
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(add(&s, NODEX("n1", ""), &err), 0);
  CHECK_EQ_INT(add(&s, PODX("web-a", "n1", "'labels':{'app':'web'}," OWNER, ""), &err), 0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'PodDisruptionBudget','metadata':{'name':'one','namespace':'team-a'},"
                   "'spec':{'maxUnavailable':5,'selector':{'matchLabels':{'app':'web'}}}}",
                   &err),
               0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'PodDisruptionBudget','metadata':{'name':'two','namespace':'team-a'},"
                   "'spec':{'maxUnavailable':5,'selector':{}}}",
                   &err),
               0);
  CHECK_EQ_INT(stv_snapshot_finish(&s, &err), 0);
  CHECK_EQ_INT(stv_pdb_budget_init(&b, &s), 0);
  CHECK_EQ_INT(stv_node_check_drain(&s, &b, 0, &nev, why, sizeof(why)), 1);
  CHECK_STR_CONTAINS(why, "two PodDisruptionBudgets (one and two)");
  stv_pdb_budget_close(&b);
  stv_snapshot_close(&s);
}
