/*
 * Tests for the snapshot reader: Kubernetes objects into the compact model.
 * Objects are written inline with single quotes for readability; obj()
 * turns them into JSON.
 */
#include <cjson/cJSON.h>

#include "harness.h"
#include "jsonstream.h"
#include "packer.h"
#include "snapshot.h"

#define MI (INT64_C(1) << 20)
#define GI (INT64_C(1) << 30)

/* Parses text with ' for " (none of the fixtures needs a real apostrophe). */
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

/* Adds one object to s; returns the reader's code. */
static int add(struct stv_snapshot *s, const char *text, struct stv_snapshot_read_stats *st,
               struct stv_err *err) {
  cJSON *j = obj(text);
  int rc;
  if (j == NULL) return -9999;
  rc = stv_snapshot_add_item_stats(s, j, st, err);
  cJSON_Delete(j);
  return rc;
}

/* A fresh snapshot holding one pod; returns the code of the add. */
static int one(struct stv_snapshot *s, const char *text, struct stv_err *err) {
  if (stv_snapshot_init(s) != 0) return -9998;
  return add(s, text, NULL, err);
}

/* Expects adding text to a fresh snapshot to fail with code and exactly msg. */
static int fails_with(const char *text, int code, const char *msg) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  int rc = one(&s, text, &err);
  stv_snapshot_close(&s);
  if (rc != code || err.code != code || strcmp(err.msg, msg) != 0) {
    fprintf(stderr, "  got %s \"%s\"\n  want %s \"%s\"\n", stv_err_name(rc), err.msg,
            stv_err_name(code), msg);
    return 0;
  }
  return 1;
}

/* Same, for a message that starts with msg (the rest comes from elsewhere). */
static int fails_starting(const char *text, int code, const char *msg) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  int rc = one(&s, text, &err);
  stv_snapshot_close(&s);
  if (rc != code || strncmp(err.msg, msg, strlen(msg)) != 0) {
    fprintf(stderr, "  got %s \"%s\"\n  want %s \"%s...\"\n", stv_err_name(rc), err.msg,
            stv_err_name(code), msg);
    return 0;
  }
  return 1;
}

#define POD(spec) "{'kind':'Pod','metadata':{'name':'web-5','namespace':'team-a'},'spec':" spec "}"
#define POD_META(meta, spec)                                                                       \
  "{'kind':'Pod','metadata':{'name':'web-5','namespace':'team-a'," meta "},'spec':" spec "}"
#define C1 "{'containers':[{'name':'c'}]"

static const struct stv_class *cls_of(const struct stv_snapshot *s, size_t pod) {
  return s->classes[s->pods[pod].cls];
}

/* ---------------------------------------------------------------------- */
/* Effective requests                                                     */

TEST(should_sum_the_requests_of_regular_containers) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  CHECK_EQ_INT(one(&s,
                   POD("{'containers':["
                       "{'name':'a','resources':{'requests':{'cpu':'100m','memory':'64Mi'}}},"
                       "{'name':'b','resources':{'requests':{'cpu':'0.2','memory':'128Mi',"
                       "'ephemeral-storage':'1Gi'}}}]}"),
                   &err),
               0);
  CHECK_EQ_INT(s.npods, 1);
  c = cls_of(&s, 0);
  CHECK_EQ_INT(c->req[STV_RES_CPU], 300);
  CHECK_EQ_INT(c->req[STV_RES_MEMORY], 192 * MI);
  CHECK_EQ_INT(c->req[STV_RES_EPHEMERAL], GI);
  CHECK_EQ_INT(c->req[STV_RES_PODS], 1);
  CHECK(strcmp(c->ns, "team-a") == 0);
  CHECK(strcmp(c->example, "team-a/web-5") == 0);
  stv_snapshot_close(&s);
}

TEST(should_count_one_pod_slot_for_a_pod_without_requests) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  int k;
  CHECK_EQ_INT(one(&s, POD(C1 "}"), &err), 0);
  for (k = 0; k < STV_MAX_RES; k++) CHECK_EQ_INT(cls_of(&s, 0)->req[k], k == STV_RES_PODS);
  stv_snapshot_close(&s);
}

TEST(should_take_the_largest_regular_init_container_when_it_exceeds_the_containers) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'initContainers':["
                       "{'name':'i1','resources':{'requests':{'cpu':'2','memory':'1Gi'}}},"
                       "{'name':'i2','resources':{'requests':{'cpu':'500m','memory':'2Gi'}}}],"
                       "'containers':["
                       "{'name':'a','resources':{'requests':{'cpu':'1','memory':'256Mi'}}},"
                       "{'name':'b','resources':{'requests':{'cpu':'1','memory':'256Mi'}}}]}"),
                   &err),
               0);
  /* cpu: max(1+1, 2, 0.5) = 2; memory: max(512Mi, 1Gi, 2Gi) = 2Gi. */
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_CPU], 2000);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_MEMORY], 2 * GI);
  stv_snapshot_close(&s);
}

/* KEP-753: a regular init container runs beside the sidecars started before it. */
TEST(should_add_earlier_sidecars_to_each_regular_init_container) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'initContainers':["
                       "{'name':'i1','resources':{'requests':{'cpu':'500m'}}},"
                       "{'name':'s1','restartPolicy':'Always','resources':{'requests':{'cpu':"
                       "'200m'}}},"
                       "{'name':'i2','resources':{'requests':{'cpu':'400m'}}},"
                       "{'name':'s2','restartPolicy':'Always','resources':{'requests':{'cpu':"
                       "'100m'}}}],"
                       "'containers':[{'name':'a','resources':{'requests':{'cpu':'100m'}}}]}"),
                   &err),
               0);
  /* containers + sidecars = 100+200+100 = 400; init: 500, 400+200 = 600. */
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_CPU], 600);
  stv_snapshot_close(&s);
}

TEST(should_add_sidecars_to_the_containers_for_the_whole_life_of_the_pod) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'initContainers':["
                       "{'name':'i1','resources':{'requests':{'cpu':'500m','memory':'1Gi'}}},"
                       "{'name':'s1','restartPolicy':'Always','resources':{'requests':{'cpu':"
                       "'200m','memory':'100Mi'}}}],"
                       "'containers':[{'name':'a','resources':{'requests':{'cpu':'1',"
                       "'memory':'200Mi'}}}]}"),
                   &err),
               0);
  /* cpu: max(1000+200, 500) = 1200; memory: max(300Mi, 1Gi) = 1Gi (s1 starts after i1). */
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_CPU], 1200);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_MEMORY], GI);
  stv_snapshot_close(&s);
}

TEST(should_add_pod_overhead) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'overhead':{'cpu':'250m','memory':'120Mi'},"
                       "'containers':[{'name':'a','resources':{'requests':{'cpu':'1',"
                       "'memory':'1Gi'}}}]}"),
                   &err),
               0);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_CPU], 1250);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_MEMORY], GI + 120 * MI);
  stv_snapshot_close(&s);
}

TEST(should_use_limits_for_requests_that_are_not_set) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'containers':["
                       "{'name':'a','resources':{'limits':{'cpu':'2','memory':'1Gi'}}},"
                       "{'name':'b','resources':{'requests':{'cpu':'0'},'limits':{'cpu':'3',"
                       "'memory':'512Mi'}}}],"
                       "'initContainers':[{'name':'i','resources':{'limits':{'cpu':'2500m'}}}]}"),
                   &err),
               0);
  /* a: cpu 2 (limit), b: cpu 0 (explicit request), memory from both limits. */
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_CPU], 2500);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_MEMORY], GI + 512 * MI);
  stv_snapshot_close(&s);
}

TEST(should_add_a_dimension_for_each_extended_resource) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'containers':[{'name':'a','resources':{'limits':{'nvidia.com/gpu':'2',"
                       "'example.com/none':'0'}}}]}"),
                   &err),
               0);
  /* A zero amount of an unknown resource adds no dimension. */
  CHECK_EQ_INT(s.res.n, STV_RES_FIXED + 1);
  CHECK(strcmp(s.res.name[STV_RES_FIXED], "nvidia.com/gpu") == 0);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_FIXED], 2);
  stv_snapshot_close(&s);
}

TEST(should_let_pod_level_requests_replace_the_containers_sum) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'resources':{'requests':{'cpu':'3'},'limits':{'cpu':'4','memory':'2Gi'}},"
                       "'containers':[{'name':'a','resources':{'requests':{'cpu':'1'}}}]}"),
                   &err),
               0);
  /* cpu from the pod-level request; memory (no request anywhere) from the pod limit. */
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_CPU], 3000);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_MEMORY], 2 * GI);
  stv_snapshot_close(&s);
}

TEST(should_accept_quantities_written_as_json_numbers) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'containers':[{'name':'a','resources':{'requests':{'cpu':0.1,"
                       "'memory':1073741824}}}]}"),
                   &err),
               0);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_CPU], 100);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_MEMORY], GI);
  stv_snapshot_close(&s);
}

/* The scheduler adds exact quantities and rounds the total up, once. */
TEST(should_round_the_total_not_each_container) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'overhead':{'memory':'0.25'},'containers':["
                       "{'name':'a','resources':{'requests':{'memory':'500m','nvidia.com/gpu':"
                       "'0.5'}}},"
                       "{'name':'b','resources':{'requests':{'memory':'0.25','nvidia.com/gpu':"
                       "'0.5'}}}]}"),
                   &err),
               0);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_MEMORY], 1);
  CHECK_EQ_INT(cls_of(&s, 0)->req[STV_RES_FIXED], 1);
  stv_snapshot_close(&s);
}

TEST(should_reject_an_invalid_quantity_naming_its_field) {
  CHECK(fails_starting(POD("{'containers':[{'name':'a'},{'name':'b','resources':{'requests':"
                           "{'cpu':'12x'}}}]}"),
                       STV_EINVAL,
                       "Pod team-a/web-5: spec.containers[1].resources.requests.cpu: invalid "
                       "quantity \"12x\""));
  CHECK(fails_with(POD("{'containers':[{'name':'a','resources':{'limits':{'memory':'-1Gi'}}}]}"),
                   STV_EINVAL,
                   "Pod team-a/web-5: spec.containers[0].resources.limits.memory: negative "
                   "quantity \"-1Gi\""));
  CHECK(fails_with(POD("{'containers':[{'name':'a','resources':{'requests':{'cpu':true}}}]}"),
                   STV_EPARSE,
                   "Pod team-a/web-5: spec.containers[0].resources.requests.cpu: not a quantity "
                   "(a string or a number)"));
  CHECK(fails_with(POD("{'containers':[],'overhead':{'cpu':'-5m'}}"), STV_EINVAL,
                   "Pod team-a/web-5: spec.overhead.cpu: negative quantity \"-5m\""));
  CHECK(fails_starting(POD("{'initContainers':[{'name':'i','resources':{'requests':{'memory':"
                           "'99999999999Ei'}}}]}"),
                       STV_ERANGE,
                       "Pod team-a/web-5: spec.initContainers[0].resources.requests.memory: "));
}

TEST(should_reject_requests_that_overflow_when_summed) {
  CHECK(fails_with(POD("{'containers':[{'name':'a','resources':{'requests':{'memory':'5Pi'}}},"
                       "{'name':'b','resources':{'requests':{'memory':'5Pi'}}}]}"),
                   STV_ERANGE,
                   "Pod team-a/web-5: spec.containers: total requests overflow 64 bits"));
}

TEST(should_reject_a_seventeenth_resource_name) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   POD("{'containers':[{'name':'a','resources':{'requests':{"
                       "'x.io/a':'1','x.io/b':'1','x.io/c':'1','x.io/d':'1','x.io/e':'1',"
                       "'x.io/f':'1','x.io/g':'1','x.io/h':'1','x.io/i':'1','x.io/j':'1',"
                       "'x.io/k':'1','x.io/l':'1','x.io/m':'1'}}}]}"),
                   &err),
               STV_ELIMIT);
  CHECK(strcmp(err.msg, "Pod team-a/web-5: spec.containers[0].resources.requests.x.io/m: more "
                        "than 16 distinct resource names") == 0);
  stv_snapshot_close(&s);
}

/* ---------------------------------------------------------------------- */
/* Classes, owners, flags                                                 */

#define DEPLOY_POD(name, labels, tol)                                                              \
  "{'kind':'Pod','metadata':{'name':'" name "','namespace':'team-a','labels':{" labels "},"        \
  "'ownerReferences':[{'kind':'ReplicaSet','name':'web-7d4b9','uid':'u-rs','controller':"          \
  "true}]},'spec':{'nodeSelector':{'pool':'general','arch':'arm64'},'tolerations':[" tol "],"      \
  "'containers':[{'name':'c','resources':{'requests':{'cpu':'1'}}}]},"                             \
  "'status':{'phase':'Pending'}}"

TEST(should_share_a_class_between_identical_pods_and_split_on_labels_or_tolerations) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(
      add(&s, DEPLOY_POD("web-1", "'app':'web','tier':'fe'", "{'key':'a','operator':'Exists'}"),
          NULL, &err),
      0);
  CHECK_EQ_INT(
      add(&s, DEPLOY_POD("web-2", "'tier':'fe','app':'web'", "{'key':'a','operator':'Exists'}"),
          NULL, &err),
      0);
  CHECK_EQ_INT(
      add(&s, DEPLOY_POD("web-3", "'app':'web','tier':'be'", "{'key':'a','operator':'Exists'}"),
          NULL, &err),
      0);
  CHECK_EQ_INT(
      add(&s, DEPLOY_POD("web-4", "'app':'web','tier':'fe'", "{'key':'b','operator':'Exists'}"),
          NULL, &err),
      0);
  CHECK_EQ_INT(s.npods, 4);
  CHECK_EQ_INT(s.nclasses, 3);
  CHECK_EQ_INT(s.pods[0].cls, s.pods[1].cls);
  CHECK(s.pods[2].cls != s.pods[0].cls);
  CHECK(s.pods[3].cls != s.pods[0].cls && s.pods[3].cls != s.pods[2].cls);
  c = cls_of(&s, 0);
  CHECK(strcmp(c->example, "team-a/web-1") == 0);
  CHECK_EQ_INT(c->labels.n, 2);
  CHECK(strcmp(c->labels.kv[0].key, "app") == 0 && strcmp(c->labels.kv[1].key, "tier") == 0);
  CHECK_EQ_INT(c->node_selector.n, 2);
  CHECK(strcmp(c->node_selector.reqs[0].key, "arch") == 0);
  CHECK_EQ_INT(c->node_selector.reqs[0].op, STV_OP_IN);
  CHECK_EQ_INT(c->node_selector.reqs[0].nvalues, 1);
  CHECK(strcmp(c->node_selector.reqs[0].values[0], "arm64") == 0);
  CHECK(strcmp(c->node_selector.reqs[1].key, "pool") == 0);
  CHECK_EQ_INT(c->daemonset, 0);
  CHECK(c->owner_uid == NULL);
  CHECK(strcmp(s.pods[0].owner_kind, "ReplicaSet") == 0);
  CHECK(strcmp(s.pods[0].owner_name, "web-7d4b9") == 0);
  CHECK(strcmp(s.pods[1].name, "web-2") == 0);
  stv_snapshot_close(&s);
}

TEST(should_describe_a_daemonset_pod_by_its_template) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  /* As the DaemonSet controller creates them: pinned with matchFields. */
  CHECK_EQ_INT(
      add(&s,
          "{'kind':'Pod','metadata':{'name':'agent-x1','namespace':'kube-system',"
          "'labels':{'app':'agent'},'ownerReferences':[{'kind':'Node','name':'n1','uid':'n'},"
          "{'kind':'DaemonSet','name':'agent','uid':'ds-uid-1','controller':true}]},"
          "'spec':{'nodeName':'n1','affinity':{'nodeAffinity':{"
          "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
          "'matchFields':[{'key':'metadata.name','operator':'In','values':['n1']}]}]}}},"
          "'containers':[{'name':'c','resources':{'requests':{'cpu':'50m'}}}]},"
          "'status':{'phase':'Running'}}",
          NULL, &err),
      0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'Pod','metadata':{'name':'agent-x2','namespace':'kube-system',"
                   "'labels':{'app':'agent'},'ownerReferences':[{'kind':'DaemonSet','name':'agent',"
                   "'uid':'ds-uid-1','controller':true}]},"
                   "'spec':{'nodeName':'n2','affinity':{'nodeAffinity':{"
                   "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
                   "'matchFields':[{'key':'metadata.name','operator':'In','values':['n2']}]}]}}},"
                   "'containers':[{'name':'c','resources':{'requests':{'cpu':'50m'}}}]},"
                   "'status':{'phase':'Running'}}",
                   NULL, &err),
               0);
  /* A DaemonSet whose template has node affinity of its own keeps it. */
  CHECK_EQ_INT(add(&s,
                   "{'kind':'Pod','metadata':{'name':'gpu-x1','namespace':'kube-system',"
                   "'ownerReferences':[{'kind':'DaemonSet','name':'gpu','uid':'ds-uid-2',"
                   "'controller':true}]},"
                   "'spec':{'affinity':{'nodeAffinity':{"
                   "'requiredDuringSchedulingIgnoredDuringExecution':{'nodeSelectorTerms':[{"
                   "'matchExpressions':[{'key':'gpu','operator':'Exists'}],"
                   "'matchFields':[{'key':'metadata.name','operator':'In','values':['n3']}]}]}}},"
                   "'containers':[{'name':'c'}]}}",
                   NULL, &err),
               0);
  CHECK_EQ_INT(s.nclasses, 2);
  CHECK_EQ_INT(s.pods[0].cls, s.pods[1].cls);
  c = cls_of(&s, 0);
  CHECK_EQ_INT(c->daemonset, 1);
  CHECK(strcmp(c->owner_uid, "ds-uid-1") == 0);
  CHECK_EQ_INT(c->affinity.n, 0);
  CHECK(strcmp(s.pods[0].owner_kind, "DaemonSet") == 0);
  c = cls_of(&s, 2);
  CHECK(strcmp(c->owner_uid, "ds-uid-2") == 0);
  CHECK_EQ_INT(c->affinity.n, 1);
  CHECK_EQ_INT(c->affinity.terms[0].exprs.n, 1);
  CHECK_EQ_INT(c->affinity.terms[0].fields.n, 0);
  stv_snapshot_close(&s);
}

TEST(should_keep_matchfields_of_pods_not_owned_by_a_daemonset) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_node_term *t;
  CHECK_EQ_INT(
      one(&s,
          POD("{'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':"
              "{'nodeSelectorTerms':[{'matchFields':[{'key':'metadata.name','operator':"
              "'NotIn','values':['n1']}]},{'matchExpressions':[{'key':'gen','operator':"
              "'Gt','values':['5']},{'key':'zone','operator':'In','values':['a','b']}]}]}}},"
              "'containers':[]}"),
          &err),
      0);
  CHECK_EQ_INT(cls_of(&s, 0)->affinity.n, 2);
  t = &cls_of(&s, 0)->affinity.terms[0];
  CHECK_EQ_INT(t->exprs.n, 0);
  CHECK_EQ_INT(t->fields.n, 1);
  CHECK(strcmp(t->fields.reqs[0].key, "metadata.name") == 0);
  CHECK_EQ_INT(t->fields.reqs[0].op, STV_OP_NOT_IN);
  t = &cls_of(&s, 0)->affinity.terms[1];
  CHECK_EQ_INT(t->exprs.n, 2);
  CHECK_EQ_INT(t->exprs.reqs[0].op, STV_OP_GT);
  CHECK(strcmp(t->exprs.reqs[0].values[0], "5") == 0);
  CHECK_EQ_INT(t->exprs.reqs[1].nvalues, 2);
  CHECK(strcmp(t->exprs.reqs[1].values[1], "b") == 0);
  stv_snapshot_close(&s);
}

TEST(should_set_mirror_local_storage_and_do_not_disrupt_flags) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(add(&s,
                   POD_META("'annotations':{'kubernetes.io/config.mirror':'abc'}",
                            "{'volumes':[{'name':'cfg','configMap':{'name':'x'}},"
                            "{'name':'scratch','emptyDir':{}}],'containers':[]}"),
                   NULL, &err),
               0);
  CHECK_EQ_INT(
      add(&s,
          POD_META("'annotations':{'stevedore.io/do-not-disrupt':'true'}",
                   "{'volumes':[{'name':'h','hostPath':{'path':'/var'}}],'containers':[]}"),
          NULL, &err),
      0);
  CHECK_EQ_INT(add(&s,
                   POD_META("'annotations':{'karpenter.sh/do-not-disrupt':'true',"
                            "'stevedore.io/do-not-disrupt':'false'}",
                            "{'volumes':[{'name':'p','persistentVolumeClaim':{'claimName':'d'}}],"
                            "'containers':[]}"),
                   NULL, &err),
               0);
  CHECK_EQ_INT(
      add(&s, POD_META("'annotations':{'stevedore.io/do-not-disrupt':'yes'}", "{}"), NULL, &err),
      0);
  CHECK_EQ_INT(s.pods[0].flags, STV_POD_MIRROR | STV_POD_LOCAL_STORAGE);
  CHECK_EQ_INT(s.pods[1].flags, STV_POD_DO_NOT_DISRUPT | STV_POD_LOCAL_STORAGE);
  CHECK_EQ_INT(s.pods[2].flags, STV_POD_DO_NOT_DISRUPT);
  CHECK_EQ_INT(s.pods[3].flags, 0);
  CHECK(s.pods[3].owner_kind == NULL && s.pods[3].owner_name == NULL);
  stv_snapshot_close(&s);
}

/* Whether class c may run on a node labelled with the n pairs in kv (sorted by key). */
static int fits_labels(const struct stv_class *c, struct stv_label *kv, uint32_t n) {
  struct stv_labels l;
  struct stv_node_view v;
  l.n = n;
  l.kv = kv;
  memset(&v, 0, sizeof(v));
  v.name = "n";
  v.labels = &l;
  return stv_class_fits_node(c, &v, NULL, 0);
}

TEST(should_keep_pods_annotated_spot_false_off_every_kind_of_spot_node) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  struct stv_label ondemand[] = {{"karpenter.sh/capacity-type", "on-demand"},
                                 {"stevedore.io/capacity-type", "on-demand"},
                                 {"zone", "a"}};
  struct stv_label stv_spot[] = {{"stevedore.io/capacity-type", "spot"}, {"zone", "a"}};
  struct stv_label karpenter_spot[] = {{"karpenter.sh/capacity-type", "spot"}, {"zone", "a"}};
  struct stv_label eks_spot[] = {{"eks.amazonaws.com/capacityType", "SPOT"}, {"zone", "a"}};
  struct stv_label gke_spot[] = {{"cloud.google.com/gke-spot", "true"}, {"zone", "a"}};
  struct stv_label gke_preemptible[] = {{"cloud.google.com/gke-preemptible", "true"}, {"zone", "a"}};
  struct stv_label azure_spot[] = {{"kubernetes.azure.com/scalesetpriority", "spot"}, {"zone", "a"}};
  struct stv_label bare[] = {{"zone", "a"}};
  struct stv_label other_zone[] = {{"stevedore.io/capacity-type", "on-demand"}, {"zone", "b"}};
  uint32_t i;
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(add(&s,
                   POD_META("'annotations':{'stevedore.io/spot':'false'}",
                            "{'nodeSelector':{'zone':'a'},'containers':[]}"),
                   NULL, &err),
               0);
  CHECK_EQ_INT(add(&s,
                   POD_META("'annotations':{'stevedore.io/spot':'true'}",
                            "{'nodeSelector':{'zone':'a'},'containers':[]}"),
                   NULL, &err),
               0);
  CHECK_EQ_INT(add(&s, POD("{'nodeSelector':{'zone':'a'},'containers':[]}"), NULL, &err), 0);
  /* Opting out makes its own class; "true" and no annotation share one. */
  CHECK(s.pods[0].cls != s.pods[1].cls);
  CHECK_EQ_INT(s.pods[1].cls, s.pods[2].cls);
  c = cls_of(&s, 0);
  CHECK_EQ_INT(c->node_selector.n, 1 + 6);
  CHECK(strcmp(c->node_selector.reqs[0].key, "zone") == 0);
  for (i = 1; i < c->node_selector.n; i++) {
    CHECK(c->node_selector.reqs[i].op == STV_OP_NOT_IN);
    CHECK_EQ_INT(c->node_selector.reqs[i].nvalues, 1);
  }
  CHECK(strcmp(c->node_selector.reqs[1].key, "stevedore.io/capacity-type") == 0);
  CHECK(strcmp(c->node_selector.reqs[1].values[0], "spot") == 0);
  CHECK(c->affinity.n == 0);
  CHECK(fits_labels(c, ondemand, 3));
  CHECK(fits_labels(c, bare, 1)); /* no capacity-type label: not known to be spot */
  CHECK(!fits_labels(c, other_zone, 2)); /* its own nodeSelector still holds */
  CHECK(!fits_labels(c, stv_spot, 2));
  CHECK(!fits_labels(c, karpenter_spot, 2));
  CHECK(!fits_labels(c, eks_spot, 2));
  CHECK(!fits_labels(c, gke_spot, 2));
  CHECK(!fits_labels(c, gke_preemptible, 2));
  CHECK(!fits_labels(c, azure_spot, 2));
  c = cls_of(&s, 1);
  CHECK_EQ_INT(c->node_selector.n, 1);
  CHECK(fits_labels(c, stv_spot, 2));
  stv_snapshot_close(&s);
}

TEST(should_reject_a_spot_annotation_that_is_not_a_string) {
  CHECK(fails_with(POD_META("'annotations':{'stevedore.io/spot':false}", "{'containers':[]}"), STV_EPARSE,
                   "Pod team-a/web-5: metadata.annotations.stevedore.io/spot: not a string"));
}

TEST(should_read_tolerations) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  CHECK_EQ_INT(one(&s,
                   POD("{'tolerations':[{'operator':'Exists'},"
                       "{'key':'gpu','value':'yes','effect':'NoSchedule'},"
                       "{'key':'spot','operator':'Exists','effect':'PreferNoSchedule'},"
                       "{'key':'x','operator':'Equal','effect':'NoExecute',"
                       "'tolerationSeconds':300}],'containers':[]}"),
                   &err),
               0);
  c = cls_of(&s, 0);
  CHECK_EQ_INT(c->ntol, 4);
  CHECK(c->tol[0].key == NULL);
  CHECK_EQ_INT(c->tol[0].exists, 1);
  CHECK_EQ_INT(c->tol[0].effect, STV_EFFECT_ALL);
  CHECK(strcmp(c->tol[1].key, "gpu") == 0 && strcmp(c->tol[1].value, "yes") == 0);
  CHECK_EQ_INT(c->tol[1].exists, 0);
  CHECK_EQ_INT(c->tol[1].effect, STV_EFFECT_NO_SCHEDULE);
  CHECK_EQ_INT(c->tol[2].exists, 1);
  CHECK_EQ_INT(c->tol[2].effect, STV_EFFECT_PREFER_NO_SCHEDULE);
  CHECK(strcmp(c->tol[3].value, "") == 0);
  CHECK_EQ_INT(c->tol[3].effect, STV_EFFECT_NO_EXECUTE);
  stv_snapshot_close(&s);
}

TEST(should_read_pod_affinity_terms_and_merge_match_label_keys) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  const struct stv_pod_term *t;
  CHECK_EQ_INT(
      one(&s,
          POD_META("'labels':{'app':'web','rev':'r7'}",
                   "{'affinity':{'podAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':["
                   "{'labelSelector':{'matchLabels':{'app':'db'}},'topologyKey':'zone',"
                   "'namespaces':['data','team-a'],'matchLabelKeys':['rev','absent']},"
                   "{'topologyKey':'kubernetes.io/hostname','namespaceSelector':{}}]},"
                   "'podAntiAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':["
                   "{'labelSelector':{'matchExpressions':[{'key':'app','operator':'In',"
                   "'values':['web']},{'key':'rev','operator':'NotIn','values':['r7']}]},"
                   "'mismatchLabelKeys':['rev'],'topologyKey':'kubernetes.io/hostname',"
                   "'namespaceSelector':{'matchLabels':{'env':'prod'}}}]},"
                   "'nodeAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':[]}},"
                   "'containers':[]}"),
          &err),
      0);
  c = cls_of(&s, 0);
  CHECK_EQ_INT(c->naff, 2);
  t = &c->aff[0];
  CHECK_EQ_INT(t->match_none, 0);
  CHECK_EQ_INT(t->sel.n, 2);
  CHECK(strcmp(t->sel.reqs[0].key, "app") == 0 && strcmp(t->sel.reqs[0].values[0], "db") == 0);
  CHECK(strcmp(t->sel.reqs[1].key, "rev") == 0 && t->sel.reqs[1].op == STV_OP_IN);
  CHECK(strcmp(t->sel.reqs[1].values[0], "r7") == 0);
  CHECK(strcmp(t->topology_key, "zone") == 0);
  CHECK_EQ_INT(t->nns, 2);
  CHECK(strcmp(t->namespaces[1], "team-a") == 0);
  CHECK_EQ_INT(t->has_ns_sel, 0);
  t = &c->aff[1];
  CHECK_EQ_INT(t->match_none, 1);
  CHECK_EQ_INT(t->has_ns_sel, 1);
  CHECK_EQ_INT(t->ns_sel.n, 0);
  CHECK_EQ_INT(c->nanti, 1);
  t = &c->anti[0];
  /* The API server merged mismatchLabelKeys already: not repeated. */
  CHECK_EQ_INT(t->sel.n, 2);
  CHECK_EQ_INT(t->sel.reqs[1].op, STV_OP_NOT_IN);
  CHECK_EQ_INT(t->has_ns_sel, 1);
  CHECK_EQ_INT(t->ns_sel.n, 1);
  CHECK(c->affinity.n == 0);
  stv_snapshot_close(&s);
}

TEST(should_read_topology_spread_constraints_with_their_defaults) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  CHECK_EQ_INT(one(&s,
                   POD_META("'labels':{'app':'web','pod-template-hash':'h1'}",
                            "{'topologySpreadConstraints':["
                            "{'maxSkew':1,'topologyKey':'zone','whenUnsatisfiable':'DoNotSchedule',"
                            "'labelSelector':{'matchLabels':{'app':'web'}},"
                            "'matchLabelKeys':['pod-template-hash'],'minDomains':3},"
                            "{'maxSkew':2,'topologyKey':'kubernetes.io/hostname',"
                            "'whenUnsatisfiable':'ScheduleAnyway','nodeAffinityPolicy':'Ignore',"
                            "'nodeTaintsPolicy':'Honor'}],'containers':[]}"),
                   &err),
               0);
  c = cls_of(&s, 0);
  CHECK_EQ_INT(c->nspread, 2);
  CHECK_EQ_INT(c->spread[0].max_skew, 1);
  CHECK_EQ_INT(c->spread[0].do_not_schedule, 1);
  CHECK_EQ_INT(c->spread[0].min_domains, 3);
  CHECK_EQ_INT(c->spread[0].honor_node_affinity, 1);
  CHECK_EQ_INT(c->spread[0].honor_taints, 0);
  CHECK_EQ_INT(c->spread[0].match_none, 0);
  CHECK_EQ_INT(c->spread[0].sel.n, 2);
  CHECK(strcmp(c->spread[0].sel.reqs[1].key, "pod-template-hash") == 0);
  CHECK(strcmp(c->spread[0].sel.reqs[1].values[0], "h1") == 0);
  CHECK_EQ_INT(c->spread[1].do_not_schedule, 0);
  CHECK_EQ_INT(c->spread[1].min_domains, 0);
  CHECK_EQ_INT(c->spread[1].honor_node_affinity, 0);
  CHECK_EQ_INT(c->spread[1].honor_taints, 1);
  CHECK_EQ_INT(c->spread[1].match_none, 1);
  stv_snapshot_close(&s);
}

/* ---------------------------------------------------------------------- */
/* Binding and phases                                                     */

#define NODE(name, extra)                                                                          \
  "{'kind':'Node','metadata':{'name':'" name "'" extra "},'status':{'allocatable':{'cpu':'4',"     \
  "'memory':'16Gi','pods':'110'}}}"

TEST(should_bind_pods_to_nodes_read_before_or_after_them_and_skip_finished_pods) {
  struct stv_snapshot s;
  struct stv_snapshot_read_stats st;
  struct stv_err err = {0, ""};
  char line[200];
  memset(&st, 0, sizeof(st));
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'Pod','metadata':{'name':'early','namespace':'a'},'spec':{'nodeName':"
                   "'n2','containers':[{'name':'c','resources':{'requests':{'cpu':'1'}}}]},"
                   "'status':{'phase':'Running'}}",
                   &st, &err),
               0);
  CHECK_EQ_INT(add(&s, NODE("n1", ""), &st, &err), 0);
  CHECK_EQ_INT(add(&s, NODE("n2", ""), &st, &err), 0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'Pod','metadata':{'name':'late','namespace':'a'},'spec':{'nodeName':"
                   "'n2','containers':[{'name':'c','resources':{'requests':{'cpu':'1'}}}]}}",
                   &st, &err),
               0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'Pod','metadata':{'name':'pending','namespace':'a'},'spec':{"
                   "'containers':[{'name':'c','resources':{'requests':{'cpu':'1'}}}]},"
                   "'status':{'phase':'Pending'}}",
                   &st, &err),
               0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'Pod','metadata':{'name':'done','namespace':'a'},'spec':{'nodeName':"
                   "'n1','containers':[{'name':'c','resources':{'requests':{'cpu':'1x'}}}]},"
                   "'status':{'phase':'Succeeded'}}",
                   &st, &err),
               0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'Pod','metadata':{'name':'oom','namespace':'a'},'spec':{'nodeName':"
                   "'n1','containers':[]},'status':{'phase':'Failed'}}",
                   &st, &err),
               0);
  CHECK_EQ_INT(s.npods, 3);
  CHECK_EQ_INT(s.pods[0].node, -1);
  CHECK(strcmp(s.pods[0].node_name, "n2") == 0);
  CHECK_EQ_INT(s.pods[0].phase, STV_PHASE_RUNNING);
  CHECK_EQ_INT(s.pods[1].node, 1);
  CHECK(strcmp(s.pods[1].node_name, "n2") == 0);
  CHECK_EQ_INT(s.pods[1].phase, STV_PHASE_PENDING);
  CHECK_EQ_INT(s.pods[2].node, -1);
  CHECK(s.pods[2].node_name == NULL);
  CHECK_EQ_INT(st.items, 7);
  CHECK_EQ_INT(st.pods, 3);
  CHECK_EQ_INT(st.nodes, 2);
  CHECK_EQ_INT(st.finished_pods, 2);
  CHECK(strcmp(stv_snapshot_read_stats_format(&st, line, sizeof(line)),
               "skipped 2 finished pods (Succeeded or Failed)") == 0);
  CHECK_EQ_INT(stv_snapshot_finish(&s, &err), 0);
  CHECK_EQ_INT(s.pods[0].node, 1);
  CHECK_EQ_INT(s.nodes[1].used[STV_RES_CPU], 2000);
  CHECK_EQ_INT(s.nodes[1].used[STV_RES_PODS], 2);
  CHECK_EQ_INT(s.classes[s.pods[2].cls]->npending, 1);
  stv_snapshot_close(&s);
}

TEST(should_reject_an_unknown_phase) {
  CHECK(fails_with("{'kind':'Pod','metadata':{'name':'p','namespace':'a'},'spec':{},"
                   "'status':{'phase':'Sleeping'}}",
                   STV_EINVAL, "Pod a/p: status.phase: unknown phase \"Sleeping\""));
}

TEST(should_put_pods_without_a_namespace_in_default) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s, "{'kind':'Pod','metadata':{'name':'p'},'spec':{}}", &err), 0);
  CHECK(strcmp(s.pods[0].ns, "default") == 0);
  CHECK(strcmp(cls_of(&s, 0)->example, "default/p") == 0);
  stv_snapshot_close(&s);
}

/* ---------------------------------------------------------------------- */
/* Nodes, budgets, namespaces, other kinds                                */

TEST(should_read_node_fields_and_taints) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_node *n;
  CHECK_EQ_INT(
      one(&s,
          "{'kind':'Node','metadata':{'name':'ip-10-0-1-5','labels':{"
          "'node.kubernetes.io/instance-type':'m5.large','beta.kubernetes.io/instance-type':'old',"
          "'failure-domain.beta.kubernetes.io/zone':'us-east-1a',"
          "'karpenter.sh/capacity-type':'spot'}},"
          "'spec':{'unschedulable':true,'taints':[{'key':'node.kubernetes.io/unschedulable',"
          "'effect':'NoSchedule'},{'key':'team','value':'ml','effect':'NoExecute'},"
          "{'key':'soft','effect':'PreferNoSchedule'}]},"
          "'status':{'capacity':{'cpu':'2','memory':'8Gi','pods':'29'},"
          "'allocatable':{'cpu':'1930m','memory':'7291Mi','pods':'29','ephemeral-storage':"
          "'18242267924','hugepages-1Gi':'0','nvidia.com/gpu':'1'}}}",
          &err),
      0);
  CHECK_EQ_INT(s.nnodes, 1);
  n = &s.nodes[0];
  CHECK(strcmp(n->name, "ip-10-0-1-5") == 0);
  CHECK_EQ_INT(n->labels.n, 4);
  CHECK_EQ_INT(n->alloc[STV_RES_CPU], 1930);
  CHECK_EQ_INT(n->alloc[STV_RES_MEMORY], 7291 * MI);
  CHECK_EQ_INT(n->alloc[STV_RES_EPHEMERAL], INT64_C(18242267924));
  CHECK_EQ_INT(n->alloc[STV_RES_PODS], 29);
  CHECK_EQ_INT(s.res.n, STV_RES_FIXED + 1); /* hugepages-1Gi: 0 adds no dimension */
  CHECK_EQ_INT(n->alloc[STV_RES_FIXED], 1);
  CHECK_EQ_INT(n->unschedulable, 1);
  CHECK_EQ_INT(n->ntaints, 3);
  CHECK(strcmp(n->taints[0].key, "node.kubernetes.io/unschedulable") == 0);
  CHECK(strcmp(n->taints[0].value, "") == 0);
  CHECK_EQ_INT(n->taints[0].effect, STV_EFFECT_NO_SCHEDULE);
  CHECK(strcmp(n->taints[1].value, "ml") == 0);
  CHECK_EQ_INT(n->taints[1].effect, STV_EFFECT_NO_EXECUTE);
  CHECK_EQ_INT(n->taints[2].effect, STV_EFFECT_PREFER_NO_SCHEDULE);
  CHECK(strcmp(n->instance_type, "m5.large") == 0);
  CHECK(strcmp(n->zone, "us-east-1a") == 0);
  CHECK(strcmp(n->capacity_type, "spot") == 0);
  CHECK_EQ_INT(stv_snapshot_find_node(&s, "ip-10-0-1-5"), 0);
  stv_snapshot_close(&s);
}

TEST(should_fall_back_to_capacity_and_beta_labels) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_node *n;
  CHECK_EQ_INT(one(&s,
                   "{'kind':'Node','metadata':{'name':'n','labels':{"
                   "'beta.kubernetes.io/instance-type':'c5.xlarge',"
                   "'topology.kubernetes.io/zone':'z1'}},"
                   "'status':{'capacity':{'cpu':'4','memory':'8Gi'}}}",
                   &err),
               0);
  n = &s.nodes[0];
  CHECK_EQ_INT(n->alloc[STV_RES_CPU], 4000);
  CHECK(strcmp(n->instance_type, "c5.xlarge") == 0);
  CHECK(strcmp(n->zone, "z1") == 0);
  CHECK(n->capacity_type == NULL);
  CHECK_EQ_INT(n->unschedulable, 0);
  CHECK_EQ_INT(n->ntaints, 0);
  stv_snapshot_close(&s);
}

TEST(should_normalise_capacity_type_labels) {
  static const struct {
    const char *labels;
    const char *want;
  } cases[] = {
      {"'stevedore.io/capacity-type':'reserved','karpenter.sh/capacity-type':'spot'", "reserved"},
      {"'karpenter.sh/capacity-type':'on-demand'", "on-demand"},
      {"'eks.amazonaws.com/capacityType':'SPOT'", "spot"},
      {"'eks.amazonaws.com/capacityType':'ON_DEMAND'", "on-demand"},
      {"'cloud.google.com/gke-spot':'true'", "spot"},
      {"'cloud.google.com/gke-spot':'false'", NULL},
      {"'kubernetes.azure.com/scalesetpriority':'spot'", "spot"},
      {"'kubernetes.azure.com/scalesetpriority':'regular'", NULL},
      {"'karpenter.sh/capacity-type':'weird'", NULL},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct stv_snapshot s;
    struct stv_err err = {0, ""};
    char text[512];
    const char *got;
    snprintf(text, sizeof(text),
             "{'kind':'Node','metadata':{'name':'n','labels':{%s}},'status':{'allocatable':"
             "{'cpu':'1'}}}",
             cases[i].labels);
    CHECK_EQ_INT(one(&s, text, &err), 0);
    got = s.nodes[0].capacity_type;
    if (!(got == NULL ? cases[i].want == NULL
                      : cases[i].want != NULL && strcmp(got, cases[i].want) == 0)) {
      fprintf(stderr, "  %s: got %s\n", cases[i].labels, got ? got : "NULL");
      CHECK(0);
    }
    stv_snapshot_close(&s);
  }
}

TEST(should_reject_node_errors) {
  CHECK(fails_with("{'kind':'Node','metadata':{'name':'n1'},'status':{}}", STV_EPARSE,
                   "Node n1: status.allocatable: missing (and no status.capacity)"));
  CHECK(fails_with("{'kind':'Node','metadata':{'name':'n1'}}", STV_EPARSE,
                   "Node n1: status.allocatable: missing (and no status.capacity)"));
  CHECK(fails_with("{'kind':'Node','metadata':{'name':'n1'},'spec':{'taints':[{'key':'a'}]},"
                   "'status':{'allocatable':{}}}",
                   STV_EPARSE, "Node n1: spec.taints[0].effect: missing"));
  CHECK(fails_with("{'kind':'Node','metadata':{'name':'n1'},'spec':{'taints':[{'key':'a',"
                   "'effect':'NoSchedule'},{'key':'b','effect':'Never'}]},"
                   "'status':{'allocatable':{}}}",
                   STV_EINVAL,
                   "Node n1: spec.taints[1].effect: unknown effect \"Never\" (NoSchedule, "
                   "PreferNoSchedule or NoExecute)"));
  CHECK(fails_with("{'kind':'Node','metadata':{'name':'n1'},'spec':{'taints':[{'effect':"
                   "'NoSchedule'}]},'status':{'allocatable':{}}}",
                   STV_EPARSE, "Node n1: spec.taints[0].key: missing"));
  CHECK(fails_with("{'kind':'Node','metadata':{'name':'n1'},'spec':{'unschedulable':'yes'},"
                   "'status':{'allocatable':{}}}",
                   STV_EPARSE, "Node n1: spec.unschedulable: not a boolean"));
  CHECK(fails_with("{'kind':'Node','metadata':{'name':'n1'},'status':{'allocatable':{'cpu':"
                   "'-1'}}}",
                   STV_EINVAL, "Node n1: status.allocatable.cpu: negative quantity \"-1\""));
}

TEST(should_reject_a_duplicate_node) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s, NODE("n1", ""), &err), 0);
  CHECK_EQ_INT(add(&s, NODE("n1", ""), NULL, &err), STV_ECONFLICT);
  CHECK(strcmp(err.msg, "Node n1: duplicate node name") == 0);
  stv_snapshot_close(&s);
}

TEST(should_read_pod_disruption_budgets) {
  struct stv_snapshot s;
  struct stv_snapshot_read_stats st;
  struct stv_err err = {0, ""};
  memset(&st, 0, sizeof(st));
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'PodDisruptionBudget','metadata':{'name':'web','namespace':'team-a'},"
                   "'spec':{'minAvailable':2,'selector':{'matchLabels':{'app':'web'}}}}",
                   &st, &err),
               0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'PodDisruptionBudget','metadata':{'name':'db','namespace':'team-a'},"
                   "'spec':{'maxUnavailable':'50%','selector':{'matchExpressions':[{'key':'app',"
                   "'operator':'Exists'}]}}}",
                   &st, &err),
               0);
  /* A null selector selects nothing: the budget is left out. */
  CHECK_EQ_INT(add(&s,
                   "{'kind':'PodDisruptionBudget','metadata':{'name':'none','namespace':'x'},"
                   "'spec':{'maxUnavailable':1}}",
                   &st, &err),
               0);
  CHECK_EQ_INT(s.npdbs, 2);
  CHECK_EQ_INT(st.pdbs, 2);
  CHECK(strcmp(s.pdbs[0].ns, "team-a") == 0 && strcmp(s.pdbs[0].name, "web") == 0);
  CHECK(strcmp(s.pdbs[0].min_available, "2") == 0);
  CHECK(s.pdbs[0].max_unavailable == NULL);
  CHECK_EQ_INT(s.pdbs[0].sel.n, 1);
  CHECK(strcmp(s.pdbs[1].max_unavailable, "50%") == 0);
  CHECK(s.pdbs[1].min_available == NULL);
  CHECK_EQ_INT(s.pdbs[1].sel.reqs[0].op, STV_OP_EXISTS);
  stv_snapshot_close(&s);
}

TEST(should_reject_pdb_errors) {
  CHECK(fails_with("{'kind':'PodDisruptionBudget','metadata':{'name':'b','namespace':'n'},"
                   "'spec':{'minAvailable':1,'maxUnavailable':1,'selector':{}}}",
                   STV_EINVAL,
                   "PodDisruptionBudget n/b: spec.maxUnavailable: may not be set together with "
                   "spec.minAvailable"));
  CHECK(fails_with("{'kind':'PodDisruptionBudget','metadata':{'name':'b','namespace':'n'},"
                   "'spec':{'minAvailable':'half','selector':{}}}",
                   STV_EINVAL,
                   "PodDisruptionBudget n/b: spec.minAvailable: invalid value \"half\" (an "
                   "integer or a percentage)"));
  CHECK(fails_with("{'kind':'PodDisruptionBudget','metadata':{'name':'b','namespace':'n'},"
                   "'spec':{'minAvailable':1.5,'selector':{}}}",
                   STV_EINVAL,
                   "PodDisruptionBudget n/b: spec.minAvailable: must be a non-negative integer "
                   "or a percentage"));
  CHECK(fails_with("{'kind':'PodDisruptionBudget','metadata':{'name':'b','namespace':'n'},"
                   "'spec':{'selector':{'matchExpressions':[{'key':'a','operator':'Gt',"
                   "'values':['1']}]}}}",
                   STV_EINVAL,
                   "PodDisruptionBudget n/b: spec.selector.matchExpressions[0].operator: "
                   "operator Gt not allowed in a label selector (In, NotIn, Exists or "
                   "DoesNotExist)"));
}

TEST(should_read_namespaces_with_their_name_label) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(add(&s, "{'kind':'Namespace','metadata':{'name':'team-a','labels':{'env':'prod'}}}",
                   NULL, &err),
               0);
  CHECK_EQ_INT(add(&s,
                   "{'kind':'Namespace','metadata':{'name':'b','labels':{"
                   "'kubernetes.io/metadata.name':'b','z':'1'}}}",
                   NULL, &err),
               0);
  CHECK_EQ_INT(s.nnamespaces, 2);
  CHECK(strcmp(s.namespaces[0].name, "team-a") == 0);
  CHECK_EQ_INT(s.namespaces[0].labels.n, 2);
  CHECK(strcmp(s.namespaces[0].labels.kv[0].key, "env") == 0);
  CHECK(strcmp(stv_labels_get(&s.namespaces[0].labels, "kubernetes.io/metadata.name"), "team-a") ==
        0);
  CHECK_EQ_INT(s.namespaces[1].labels.n, 2);
  stv_snapshot_close(&s);
}

TEST(should_skip_and_count_other_kinds) {
  struct stv_snapshot s;
  struct stv_snapshot_read_stats st;
  struct stv_err err = {0, ""};
  char line[200];
  memset(&st, 0, sizeof(st));
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(
      add(&s, "{'kind':'Service','metadata':{'name':'a','namespace':'x'},'spec':7}", &st, &err), 0);
  CHECK_EQ_INT(add(&s, "{'kind':'ConfigMap','metadata':{'name':'b'}}", &st, &err), 0);
  CHECK_EQ_INT(add(&s, "{'kind':'Service','metadata':{'name':'c'}}", &st, &err), 0);
  CHECK_EQ_INT(st.items, 3);
  CHECK_EQ_INT(st.skipped, 3);
  CHECK_EQ_INT(st.nkinds, 2);
  CHECK(strcmp(stv_snapshot_read_stats_format(&st, line, sizeof(line)),
               "skipped 3 items of kinds Service, ConfigMap") == 0);
  memset(&st, 0, sizeof(st));
  CHECK(strcmp(stv_snapshot_read_stats_format(&st, line, sizeof(line)), "") == 0);
  CHECK_EQ_INT(add(&s, "{'kind':'Secret','metadata':{'name':'c'}}", &st, &err), 0);
  CHECK(strcmp(stv_snapshot_read_stats_format(&st, line, sizeof(line)),
               "skipped 1 item of kind Secret") == 0);
  CHECK_EQ_INT(s.npods + s.nnodes + s.npdbs + s.nnamespaces, 0);
  stv_snapshot_close(&s);
}

/* ---------------------------------------------------------------------- */
/* Error messages                                                         */

TEST(should_name_an_item_without_kind_or_name) {
  CHECK(fails_with("[1]", STV_EPARSE, "not an object"));
  CHECK(fails_with("{'metadata':{'name':'x'}}", STV_EPARSE, "kind: missing"));
  CHECK(fails_with("{'kind':7,'metadata':{'name':'x'}}", STV_EPARSE, "kind: not a string"));
  CHECK(fails_with("{'kind':'Pod','metadata':{}}", STV_EPARSE, "Pod: metadata.name: missing"));
  CHECK(fails_with("{'kind':'Pod'}", STV_EPARSE, "Pod: metadata.name: missing"));
  CHECK(fails_with("{'kind':'Pod','metadata':[]}", STV_EPARSE, "Pod: metadata: not an object"));
  CHECK(fails_with("{'kind':'Pod','metadata':{'name':'p','namespace':'a'}}", STV_EPARSE,
                   "Pod a/p: spec: missing"));
}

TEST(should_reject_duplicate_label_keys) {
  CHECK(fails_with("{'kind':'Pod','metadata':{'name':'p','namespace':'a','labels':{'app':'x',"
                   "'tier':'t','app':'y'}},'spec':{}}",
                   STV_EPARSE, "Pod a/p: metadata.labels: duplicate key \"app\""));
}

TEST(should_name_fields_of_the_wrong_type) {
  CHECK(fails_with(POD_META("'labels':['a']", "{}"), STV_EPARSE,
                   "Pod team-a/web-5: metadata.labels: not an object"));
  CHECK(fails_with(POD_META("'labels':{'app':1}", "{}"), STV_EPARSE,
                   "Pod team-a/web-5: metadata.labels.app: not a string"));
  CHECK(fails_with(POD("{'containers':{}}"), STV_EPARSE,
                   "Pod team-a/web-5: spec.containers: not an array"));
  CHECK(fails_with(POD("{'containers':['x']}"), STV_EPARSE,
                   "Pod team-a/web-5: spec.containers[0]: not an object"));
  CHECK(fails_with(POD("{'containers':[{'resources':{'requests':[]}}]}"), STV_EPARSE,
                   "Pod team-a/web-5: spec.containers[0].resources.requests: not an object"));
  CHECK(fails_with(POD("{'nodeName':5}"), STV_EPARSE,
                   "Pod team-a/web-5: spec.nodeName: not a string"));
  CHECK(fails_with(POD("{'tolerations':[{'key':'a','operator':'Exists','effect':'Sometimes'}]}"),
                   STV_EINVAL,
                   "Pod team-a/web-5: spec.tolerations[0].effect: unknown effect \"Sometimes\" "
                   "(NoSchedule, PreferNoSchedule or NoExecute)"));
  CHECK(fails_with(POD("{'tolerations':[{'key':'a','operator':'Like'}]}"), STV_EINVAL,
                   "Pod team-a/web-5: spec.tolerations[0].operator: unknown operator \"Like\" "
                   "(Exists or Equal)"));
  CHECK(fails_with(POD("{'tolerations':[{'value':'v'}]}"), STV_EINVAL,
                   "Pod team-a/web-5: spec.tolerations[0].operator: must be Exists when key is "
                   "empty"));
  CHECK(fails_with(POD("{'tolerations':[{'key':'k','operator':'Exists','value':'v'}]}"), STV_EINVAL,
                   "Pod team-a/web-5: spec.tolerations[0].value: must be empty when operator is "
                   "Exists"));
  CHECK(fails_with(POD_META("'ownerReferences':[{'name':'x'}]", "{}"), STV_EPARSE,
                   "Pod team-a/web-5: metadata.ownerReferences[0].kind: missing"));
}

#define NA(terms)                                                                                  \
  POD("{'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':{"            \
      "'nodeSelectorTerms':[" terms "]}}}}")
#define NA_PATH                                                                                    \
  "Pod team-a/web-5: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."   \
  "nodeSelectorTerms"

TEST(should_reject_invalid_node_affinity) {
  CHECK(fails_with(NA("{'matchExpressions':[{'key':'a','operator':'In','values':['x']},"
                      "{'key':'b','operator':'Foo','values':['y']}]}"),
                   STV_EINVAL,
                   NA_PATH "[0].matchExpressions[1].operator: unknown operator \"Foo\""));
  CHECK(fails_with(NA("{},{'matchExpressions':[{'key':'a','operator':'Gt','values':['1','2']}]}"),
                   STV_EINVAL,
                   NA_PATH "[1].matchExpressions[0].values: must have exactly one value for "
                           "operator Gt"));
  CHECK(fails_with(NA("{'matchExpressions':[{'key':'a','operator':'Lt','values':['ten']}]}"),
                   STV_EINVAL,
                   NA_PATH "[0].matchExpressions[0].values[0]: not an integer: \"ten\""));
  CHECK(fails_with(NA("{'matchExpressions':[{'key':'a','operator':'In','values':[]}]}"), STV_EINVAL,
                   NA_PATH "[0].matchExpressions[0].values: must not be empty for operator In"));
  CHECK(fails_with(NA("{'matchExpressions':[{'key':'a','operator':'NotIn'}]}"), STV_EINVAL,
                   NA_PATH "[0].matchExpressions[0].values: must not be empty for operator NotIn"));
  CHECK(fails_with(NA("{'matchExpressions':[{'key':'a','operator':'Exists','values':['x']}]}"),
                   STV_EINVAL,
                   NA_PATH "[0].matchExpressions[0].values: must be empty for operator Exists"));
  CHECK(fails_with(NA("{'matchExpressions':[{'operator':'Exists'}]}"), STV_EPARSE,
                   NA_PATH "[0].matchExpressions[0].key: missing"));
  CHECK(fails_with(NA("{'matchExpressions':[{'key':'','operator':'Exists'}]}"), STV_EINVAL,
                   NA_PATH "[0].matchExpressions[0].key: must not be empty"));
  CHECK(fails_with(NA("{'matchExpressions':[{'key':'a','operator':'In','values':[1]}]}"),
                   STV_EPARSE, NA_PATH "[0].matchExpressions[0].values[0]: not a string"));
  CHECK(fails_with(NA("{'matchFields':[{'key':'metadata.uid','operator':'In','values':['x']}]}"),
                   STV_EINVAL,
                   NA_PATH "[0].matchFields[0].key: unsupported field \"metadata.uid\" (only "
                           "metadata.name)"));
  CHECK(fails_with(NA("{'matchFields':[{'key':'metadata.name','operator':'Exists'}]}"), STV_EINVAL,
                   NA_PATH "[0].matchFields[0].operator: operator Exists not allowed in "
                           "matchFields (In or NotIn)"));
  CHECK(fails_with(NA("{'matchFields':[{'key':'metadata.name','operator':'In','values':['a','b']}"
                      "]}"),
                   STV_EINVAL,
                   NA_PATH "[0].matchFields[0].values: must have exactly one value in "
                           "matchFields"));
  CHECK(fails_with(NA(""), STV_EINVAL, NA_PATH ": must have at least one term"));
  CHECK(fails_with(POD("{'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuring"
                       "Execution':{}}}}"),
                   STV_EPARSE, NA_PATH ": missing"));
}

TEST(should_reject_invalid_pod_affinity_and_spread) {
  CHECK(fails_with(POD("{'affinity':{'podAntiAffinity':{'requiredDuringSchedulingIgnoredDuring"
                       "Execution':[{'labelSelector':{}}]}}}"),
                   STV_EPARSE,
                   "Pod team-a/web-5: spec.affinity.podAntiAffinity.requiredDuringScheduling"
                   "IgnoredDuringExecution[0].topologyKey: missing"));
  CHECK(fails_with(POD("{'affinity':{'podAffinity':{'requiredDuringSchedulingIgnoredDuring"
                       "Execution':[{'labelSelector':{'matchExpressions':[{'key':'a',"
                       "'operator':'Lt','values':['1']}]},'topologyKey':'z'}]}}}"),
                   STV_EINVAL,
                   "Pod team-a/web-5: spec.affinity.podAffinity.requiredDuringScheduling"
                   "IgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator: "
                   "operator Lt not allowed in a label selector (In, NotIn, Exists or "
                   "DoesNotExist)"));
  CHECK(fails_with(POD("{'topologySpreadConstraints':[{'maxSkew':0,'topologyKey':'z',"
                       "'whenUnsatisfiable':'DoNotSchedule'}]}"),
                   STV_EINVAL,
                   "Pod team-a/web-5: spec.topologySpreadConstraints[0].maxSkew: must be at "
                   "least 1"));
  CHECK(fails_with(POD("{'topologySpreadConstraints':[{'topologyKey':'z',"
                       "'whenUnsatisfiable':'DoNotSchedule'}]}"),
                   STV_EPARSE,
                   "Pod team-a/web-5: spec.topologySpreadConstraints[0].maxSkew: missing"));
  CHECK(fails_with(POD("{'topologySpreadConstraints':[{'maxSkew':1.5,'topologyKey':'z'}]}"),
                   STV_EPARSE,
                   "Pod team-a/web-5: spec.topologySpreadConstraints[0].maxSkew: not a 32-bit "
                   "integer"));
  CHECK(fails_with(POD("{'topologySpreadConstraints':[{'maxSkew':1,'topologyKey':'z',"
                       "'whenUnsatisfiable':'Maybe'}]}"),
                   STV_EINVAL,
                   "Pod team-a/web-5: spec.topologySpreadConstraints[0].whenUnsatisfiable: "
                   "unknown value \"Maybe\" (DoNotSchedule or ScheduleAnyway)"));
  CHECK(fails_with(POD("{'topologySpreadConstraints':[{'maxSkew':1,'topologyKey':'z'}]}"),
                   STV_EPARSE,
                   "Pod team-a/web-5: spec.topologySpreadConstraints[0].whenUnsatisfiable: "
                   "missing"));
  CHECK(fails_with(POD("{'topologySpreadConstraints':[{'maxSkew':1,'topologyKey':'z',"
                       "'whenUnsatisfiable':'ScheduleAnyway','minDomains':0}]}"),
                   STV_EINVAL,
                   "Pod team-a/web-5: spec.topologySpreadConstraints[0].minDomains: must be at "
                   "least 1"));
  CHECK(fails_with(POD("{'topologySpreadConstraints':[{'maxSkew':1,'topologyKey':'z',"
                       "'whenUnsatisfiable':'ScheduleAnyway','nodeTaintsPolicy':'Always'}]}"),
                   STV_EINVAL,
                   "Pod team-a/web-5: spec.topologySpreadConstraints[0].nodeTaintsPolicy: "
                   "unknown value \"Always\" (Honor or Ignore)"));
}

TEST(should_quote_odd_values_in_messages) {
  CHECK(fails_with(NA("{'matchExpressions':[{'key':'a','operator':'F\\\"o\\\\o\\n'}]}"), STV_EINVAL,
                   NA_PATH
                   "[0].matchExpressions[0].operator: unknown operator \"F\\\"o\\\\o\\x0a\""));
}

/* ---------------------------------------------------------------------- */
/* Files                                                                  */

#define DATA STV_SOURCE_ROOT "/tests/data/"

TEST(should_read_a_list_file_into_one_snapshot) {
  struct stv_snapshot s;
  struct stv_snapshot_read_stats st;
  struct stv_err err = {0, ""};
  char line[200];
  memset(&st, 0, sizeof(st));
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(stv_snapshot_read_file_stats(&s, DATA "snapshot-small.json", &st, &err), 0);
  CHECK_EQ_INT(stv_snapshot_read_file_stats(&s, DATA "snapshot-node.json", &st, &err), 0);
  CHECK_EQ_INT(stv_snapshot_finish(&s, &err), 0);
  CHECK_EQ_INT(s.nnodes, 2);
  CHECK_EQ_INT(s.npods, 4);
  CHECK_EQ_INT(s.npdbs, 1);
  CHECK_EQ_INT(s.nnamespaces, 1);
  CHECK_EQ_INT(s.nclasses, 2);
  CHECK_EQ_INT(st.items, 11);
  CHECK_EQ_INT(st.finished_pods, 1);
  CHECK(strcmp(stv_snapshot_read_stats_format(&st, line, sizeof(line)),
               "skipped 2 items of kinds Service, ConfigMap; 1 finished pod (Succeeded or "
               "Failed)") == 0);
  /* web-2 is bound to n2, which came from the second file. */
  CHECK_EQ_INT(s.pods[1].node, 1);
  CHECK_EQ_INT(s.nodes[1].used[STV_RES_CPU], 500 + 100);
  CHECK_EQ_INT(s.classes[s.pods[0].cls]->npending, 1);
  stv_snapshot_close(&s);
}

TEST(should_prefix_file_errors_with_the_file_and_item) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(stv_snapshot_read_file(&s, DATA "snapshot-bad-quantity.json", &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg,
                     "snapshot-bad-quantity.json: items[1] Pod team-a/web-5: "
                     "spec.containers[0].resources.requests.cpu: invalid quantity \"12x\"");
  stv_snapshot_close(&s);
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(stv_snapshot_read_file(&s, DATA "snapshot-bad-single.json", &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "snapshot-bad-single.json: Node n9: status.allocatable: missing");
  CHECK(strstr(err.msg, "items[") == NULL);
  stv_snapshot_close(&s);
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK(stv_snapshot_read_file(&s, DATA "snapshot-does-not-exist.json", &err) < 0);
  CHECK_STR_CONTAINS(err.msg, "snapshot-does-not-exist.json");
  stv_snapshot_close(&s);
}

/* ---------------------------------------------------------------------- */
/* Allocation failures                                                    */

/* Reads both fixture files with the nth allocation failing; returns the code. */
static int read_with_failure(long n) {
  struct stv_snapshot s;
  struct stv_snapshot_read_stats st;
  struct stv_err err = {0, ""};
  int rc;
  memset(&st, 0, sizeof(st));
  stv_alloc_fail_after(n);
  rc = stv_snapshot_init(&s);
  if (rc == 0) rc = stv_snapshot_read_file_stats(&s, DATA "snapshot-small.json", &st, &err);
  if (rc == 0) rc = stv_snapshot_read_file_stats(&s, DATA "snapshot-node.json", &st, &err);
  if (rc == 0) rc = stv_snapshot_finish(&s, &err);
  if (rc == 0 && s.npods != 4) rc = -9999;
  stv_snapshot_close(&s);
  stv_alloc_fail_after(-1);
  if (rc != 0 && rc != STV_ENOMEM) fprintf(stderr, "  allocation %ld: %s\n", n, err.msg);
  return rc;
}

TEST(should_return_enomem_cleanly_whichever_allocation_fails) {
  long n, ok_run = 0, nfail = 0;
  int rc = -1;
  stv_json_init(); /* cJSON allocates through stv_malloc too */
  /* Some failures are tolerated (the reader's reused parse arena only
   * serves later items), so the sweep ends after a long run of successes,
   * not at the first one. */
  for (n = 0; n < 100000 && ok_run < 64; n++) {
    rc = read_with_failure(n);
    if (rc == 0) {
      ok_run++;
      continue;
    }
    CHECK_EQ_INT(rc, STV_ENOMEM);
    ok_run = 0;
    nfail++;
  }
  CHECK_EQ_INT(rc, 0);
  CHECK(nfail > 10);
}

/* The same through stv_snapshot_add_item, with every kind and constraint. */
TEST(should_return_enomem_cleanly_from_add_item) {
  static const char *const items[] = {
      NODE("n1", ",'labels':{'karpenter.sh/capacity-type':'spot','a':'b'}"),
      (POD_META("'labels':{'app':'web','h':'1'},'ownerReferences':[{'kind':'DaemonSet',"
                "'name':'d','uid':'u'}]",
                "{'nodeName':'n1','nodeSelector':{'a':'b'},'tolerations':[{'operator':'Exists'}],"
                "'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':{"
                "'nodeSelectorTerms':[{'matchExpressions':[{'key':'a','operator':'In','values':"
                "['b']}],'matchFields':[{'key':'metadata.name','operator':'In','values':['n1']}]}]"
                "}},'podAntiAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':[{"
                "'labelSelector':{'matchLabels':{'app':'web'}},'matchLabelKeys':['h'],"
                "'topologyKey':'k','namespaces':['x'],'namespaceSelector':{'matchLabels':{'e':"
                "'p'}}}]}},'topologySpreadConstraints':[{'maxSkew':1,'topologyKey':'z',"
                "'whenUnsatisfiable':'DoNotSchedule','labelSelector':{'matchLabels':{'app':"
                "'web'}},'matchLabelKeys':['h']}],'containers':[{'name':'c','resources':{"
                "'requests':{'cpu':'1','example.com/x':'3'}}}],'initContainers':[{'name':'i',"
                "'restartPolicy':'Always','resources':{'limits':{'memory':'1Gi'}}}]}")),
      ("{'kind':'PodDisruptionBudget','metadata':{'name':'p','namespace':'a'},'spec':{"
       "'minAvailable':1,'selector':{'matchLabels':{'app':'web'}}}}"),
      "{'kind':'Namespace','metadata':{'name':'a','labels':{'e':'p'}}}",
      "{'kind':'Service','metadata':{'name':'s'}}",
  };
  cJSON *parsed[sizeof(items) / sizeof(items[0])];
  size_t i, nitems = sizeof(items) / sizeof(items[0]);
  long n;
  int rc = -1;
  for (i = 0; i < nitems; i++) CHECK((parsed[i] = obj(items[i])) != NULL);
  for (n = 0; n < 100000; n++) {
    struct stv_snapshot s;
    struct stv_snapshot_read_stats st;
    struct stv_err err = {0, ""};
    memset(&st, 0, sizeof(st));
    stv_alloc_fail_after(n);
    rc = stv_snapshot_init(&s);
    for (i = 0; i < nitems && rc == 0; i++)
      rc = stv_snapshot_add_item_stats(&s, parsed[i], &st, &err);
    if (rc == 0) rc = stv_snapshot_finish(&s, &err);
    if (rc == 0 && (s.npods != 1 || s.nnodes != 1 || s.npdbs != 1 || s.nnamespaces != 1))
      rc = -9999;
    stv_snapshot_close(&s);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    if (rc != STV_ENOMEM) {
      fprintf(stderr, "  allocation %ld: got %s \"%s\"\n", n, stv_err_name(rc), err.msg);
      break;
    }
    if (strstr(err.msg, "out of memory") == NULL && strcmp(err.msg, "") != 0) {
      fprintf(stderr, "  allocation %ld: message \"%s\"\n", n, err.msg);
      rc = -9998;
      break;
    }
  }
  for (i = 0; i < nitems; i++) cJSON_Delete(parsed[i]);
  CHECK_EQ_INT(rc, 0);
  CHECK(n > 5);
}

/* ---------------------------------------------------------------------- */
/* Host ports and the node lifecycle controller's taints                  */

/* Whether class c has label key with an empty value. */
static int has_label(const struct stv_class *c, const char *key) {
  const char *v = stv_labels_get(&c->labels, key);
  return v != NULL && *v == '\0';
}

/* Whether class c has the host-port anti-affinity term "key Exists" over every namespace. */
static int has_port_term(const struct stv_class *c, const char *key) {
  uint32_t i;
  for (i = 0; i < c->nanti; i++) {
    const struct stv_pod_term *t = &c->anti[i];
    if (t->sel.n == 1 && strcmp(t->sel.reqs[0].key, key) == 0 && t->sel.reqs[0].op == STV_OP_EXISTS &&
        strcmp(t->topology_key, "kubernetes.io/hostname") == 0 && t->has_ns_sel && t->ns_sel.n == 0 &&
        !t->match_none)
      return 1;
  }
  return 0;
}

TEST(should_turn_host_ports_into_reserved_labels_and_anti_affinity_terms) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  CHECK_EQ_INT(
      one(&s,
          "{'kind':'Pod','metadata':{'name':'lb','namespace':'edge','labels':{'app':'lb'}},"
          "'spec':{'initContainers':[{'name':'i','restartPolicy':'Always','ports':[{'containerPort':7000,"
          "'hostPort':7000}]}],'containers':[{'name':'a','ports':[{'containerPort':80,'hostPort':80},"
          "{'containerPort':80,'hostPort':80,'protocol':'TCP','hostIP':'0.0.0.0'},{'containerPort':8443}]},"
          "{'name':'b','ports':[{'containerPort':53,'hostPort':53,'protocol':'UDP','hostIP':'10.0.0.1'}]}]}}",
          &err),
      0);
  c = s.classes[s.pods[0].cls];
  /* app, two for 80/TCP on every address, two for 53/UDP on 10.0.0.1. */
  CHECK_EQ_INT(c->labels.n, 5);
  CHECK(strcmp(stv_labels_get(&c->labels, "app"), "lb") == 0);
  CHECK(has_label(c, STV_HOST_PORT_LABEL_PREFIX "TCP/80"));
  CHECK(has_label(c, STV_HOST_PORT_LABEL_PREFIX "TCP/80@0.0.0.0"));
  CHECK(has_label(c, STV_HOST_PORT_LABEL_PREFIX "UDP/53"));
  CHECK(has_label(c, STV_HOST_PORT_LABEL_PREFIX "UDP/53@10.0.0.1"));
  /* Every address: against any holder; one address: against that address and every address. */
  CHECK_EQ_INT(c->nanti, 3);
  CHECK(has_port_term(c, STV_HOST_PORT_LABEL_PREFIX "TCP/80"));
  CHECK(has_port_term(c, STV_HOST_PORT_LABEL_PREFIX "UDP/53@10.0.0.1"));
  CHECK(has_port_term(c, STV_HOST_PORT_LABEL_PREFIX "UDP/53@0.0.0.0"));
  /* Init containers' ports, sidecars' included, are not host ports to NodePorts (1.29-1.31). */
  CHECK(stv_labels_get(&c->labels, STV_HOST_PORT_LABEL_PREFIX "TCP/7000") == NULL);
  stv_snapshot_close(&s);
  /* A hostIP is compared as written, as the scheduler does. */
  CHECK_EQ_INT(one(&s,
                   "{'kind':'Pod','metadata':{'name':'p'},'spec':{'containers':[{'name':'a','ports':"
                   "[{'containerPort':80,'hostPort':80,'hostIP':'fd00::1'}]}]}}",
                   &err),
               0);
  c = s.classes[0];
  CHECK(has_label(c, STV_HOST_PORT_LABEL_PREFIX "TCP/80@fd00::1"));
  CHECK(has_port_term(c, STV_HOST_PORT_LABEL_PREFIX "TCP/80@0.0.0.0"));
  stv_snapshot_close(&s);
}

TEST(should_make_container_ports_host_ports_under_host_network_only) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s,
                   "{'kind':'Pod','metadata':{'name':'exporter'},'spec':{'hostNetwork':true,"
                   "'containers':[{'name':'a','ports':[{'containerPort':9100}]}]}}",
                   &err),
               0);
  CHECK(has_label(s.classes[0], STV_HOST_PORT_LABEL_PREFIX "TCP/9100@0.0.0.0"));
  CHECK_EQ_INT(s.classes[0]->nanti, 1);
  stv_snapshot_close(&s);
  CHECK_EQ_INT(one(&s,
                   "{'kind':'Pod','metadata':{'name':'web'},'spec':{'containers':[{'name':'a','ports':"
                   "[{'containerPort':9100}]}]}}",
                   &err),
               0);
  CHECK_EQ_INT(s.classes[0]->labels.n, 0);
  CHECK_EQ_INT(s.classes[0]->nanti, 0);
  stv_snapshot_close(&s);
}

TEST(should_reject_invalid_ports) {
  CHECK(fails_with(
      "{'kind':'Pod','metadata':{'name':'p'},'spec':{'containers':[{'name':'a','ports':"
      "[{'containerPort':80,'hostPort':65536}]}]}}",
      STV_EINVAL,
      "Pod default/p: spec.containers[0].ports[0].hostPort: 65536 is not a port (1 to 65535, or 0 for "
      "none)"));
  CHECK(
      fails_with("{'kind':'Pod','metadata':{'name':'p'},'spec':{'containers':[{'name':'a','ports':"
                 "[{'containerPort':80,'hostPort':80,'protocol':'tcp'}]}]}}",
                 STV_EINVAL,
                 "Pod default/p: spec.containers[0].ports[0].protocol: unknown protocol \"tcp\" (TCP, UDP or "
                 "SCTP)"));
  CHECK(fails_with(
      "{'kind':'Pod','metadata':{'name':'p'},'spec':{'hostNetwork':true,'containers':[{'name':'a',"
      "'ports':[{'name':'x'}]}]}}",
      STV_EPARSE,
      "Pod default/p: spec.containers[0].ports[0].containerPort: missing (spec.hostNetwork makes it "
      "a host port)"));
  CHECK(fails_with("{'kind':'Pod','metadata':{'name':'p'},'spec':{'containers':[{'name':'a','ports':{}}]}}",
                   STV_EPARSE, "Pod default/p: spec.containers[0].ports: not an array"));
}

/* Whether node n has taint key:NoSchedule, and how many times. */
static int count_taint(const struct stv_node *n, const char *key, enum stv_effect e) {
  uint32_t i;
  int k = 0;
  for (i = 0; i < n->ntaints; i++) k += strcmp(n->taints[i].key, key) == 0 && n->taints[i].effect == e;
  return k;
}

TEST(should_add_the_taints_the_node_lifecycle_controller_keeps_once) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_node *n;
  CHECK_EQ_INT(
      one(&s,
          "{'kind':'Node','metadata':{'name':'n1'},'spec':{'unschedulable':true,'taints':[{'key':"
          "'node.kubernetes.io/not-ready','effect':'NoExecute'},{'key':'node.kubernetes.io/memory-pressure',"
          "'effect':'NoSchedule'}]},'status':{'allocatable':{'cpu':'2'},'conditions':["
          "{'type':'Ready','status':'False'},{'type':'MemoryPressure','status':'True'},"
          "{'type':'DiskPressure','status':'True'},{'type':'PIDPressure','status':'False'},"
          "{'type':'NetworkUnavailable','status':'True'},{'type':'KernelDeadlock','status':'Whatever'}]}}",
          &err),
      0);
  n = &s.nodes[0];
  CHECK_EQ_INT(n->ntaints, 6);
  CHECK_EQ_INT(count_taint(n, "node.kubernetes.io/not-ready", STV_EFFECT_NO_EXECUTE), 1);
  CHECK_EQ_INT(count_taint(n, "node.kubernetes.io/not-ready", STV_EFFECT_NO_SCHEDULE), 1);
  CHECK_EQ_INT(count_taint(n, "node.kubernetes.io/memory-pressure", STV_EFFECT_NO_SCHEDULE), 1);
  CHECK_EQ_INT(count_taint(n, "node.kubernetes.io/disk-pressure", STV_EFFECT_NO_SCHEDULE), 1);
  CHECK_EQ_INT(count_taint(n, "node.kubernetes.io/pid-pressure", STV_EFFECT_NO_SCHEDULE), 0);
  CHECK_EQ_INT(count_taint(n, "node.kubernetes.io/network-unavailable", STV_EFFECT_NO_SCHEDULE), 1);
  CHECK_EQ_INT(count_taint(n, "node.kubernetes.io/unschedulable", STV_EFFECT_NO_SCHEDULE), 1);
  CHECK(strcmp(n->taints[0].key, "node.kubernetes.io/not-ready") == 0); /* its own come first */
  stv_snapshot_close(&s);
  CHECK_EQ_INT(
      one(&s,
          "{'kind':'Node','metadata':{'name':'n2'},'status':{'allocatable':{'cpu':'2'},'conditions':["
          "{'type':'Ready','status':'Unknown'}]}}",
          &err),
      0);
  CHECK_EQ_INT(s.nodes[0].ntaints, 1);
  CHECK_EQ_INT(count_taint(&s.nodes[0], "node.kubernetes.io/unreachable", STV_EFFECT_NO_SCHEDULE), 1);
  stv_snapshot_close(&s);
  CHECK_EQ_INT(
      one(&s,
          "{'kind':'Node','metadata':{'name':'n3'},'status':{'allocatable':{'cpu':'2'},'conditions':["
          "{'type':'Ready','status':'True'}]}}",
          &err),
      0);
  CHECK_EQ_INT(s.nodes[0].ntaints, 0);
  stv_snapshot_close(&s);
}

TEST(should_reject_invalid_node_conditions) {
  CHECK(fails_with(
      "{'kind':'Node','metadata':{'name':'n1'},'status':{'allocatable':{'cpu':'2'},'conditions':"
      "[{'type':'Ready','status':'Maybe'}]}}",
      STV_EINVAL, "Node n1: status.conditions[0].status: unknown status \"Maybe\" (True, False or Unknown)"));
  CHECK(fails_with("{'kind':'Node','metadata':{'name':'n1'},'status':{'allocatable':{'cpu':'2'},'conditions':"
                   "[{'status':'True'}]}}",
                   STV_EPARSE, "Node n1: status.conditions[0].type: missing"));
  CHECK(fails_with(
      "{'kind':'Node','metadata':{'name':'n1'},'status':{'allocatable':{'cpu':'2'},'conditions':{}}}",
      STV_EPARSE, "Node n1: status.conditions: not an array"));
}

/* The same for host ports and node conditions. */
TEST(should_return_enomem_cleanly_from_host_ports_and_conditions) {
  static const char *const items[] = {
      "{'kind':'Node','metadata':{'name':'n1'},'spec':{'unschedulable':true,'taints':[{'key':'a',"
      "'effect':'NoSchedule'}]},'status':{'allocatable':{'cpu':'2'},'conditions':[{'type':'Ready',"
      "'status':'False'},{'type':'DiskPressure','status':'True'}]}}",
      "{'kind':'Pod','metadata':{'name':'p','labels':{'app':'x'}},'spec':{'nodeName':'n1','containers':"
      "[{'name':'a','ports':[{'containerPort':80,'hostPort':80},{'containerPort':53,'hostPort':53,"
      "'protocol':'UDP','hostIP':'10.0.0.1'}]}],'affinity':{'podAntiAffinity':{"
      "'requiredDuringSchedulingIgnoredDuringExecution':[{'labelSelector':{'matchLabels':{'app':'x'}},"
      "'topologyKey':'kubernetes.io/hostname'}]}}}}"};
  cJSON *parsed[2];
  size_t i, nitems = 2;
  long n;
  int rc = -1;
  for (i = 0; i < nitems; i++) CHECK((parsed[i] = obj(items[i])) != NULL);
  for (n = 0; n < 100000; n++) {
    struct stv_snapshot s;
    struct stv_snapshot_read_stats st;
    struct stv_err err = {0, ""};
    memset(&st, 0, sizeof(st));
    stv_alloc_fail_after(n);
    rc = stv_snapshot_init(&s);
    for (i = 0; i < nitems && rc == 0; i++) rc = stv_snapshot_add_item_stats(&s, parsed[i], &st, &err);
    if (rc == 0) rc = stv_snapshot_finish(&s, &err);
    if (rc == 0 && (s.npods != 1 || s.nnodes != 1 || s.nodes[0].ntaints != 4 || s.classes[0]->nanti != 4 ||
                    st.condition_nodes != 1))
      rc = -9999;
    stv_snapshot_close(&s);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    if (rc != STV_ENOMEM) {
      fprintf(stderr, "  allocation %ld: got %s \"%s\"\n", n, stv_err_name(rc), err.msg);
      break;
    }
  }
  for (i = 0; i < nitems; i++) cJSON_Delete(parsed[i]);
  CHECK_EQ_INT(rc, 0);
  CHECK(n > 5);
}

TEST(should_refuse_min_domains_on_a_schedule_anyway_constraint) {
  CHECK(fails_with(
      POD("{'topologySpreadConstraints':[{'maxSkew':1,'topologyKey':'zone',"
          "'whenUnsatisfiable':'ScheduleAnyway','minDomains':2}],'containers':[]}"),
      STV_EINVAL,
      "Pod team-a/web-5: spec.topologySpreadConstraints[0].minDomains: set with whenUnsatisfiable "
      "ScheduleAnyway; the API server accepts minDomains only with DoNotSchedule (remove minDomains "
      "or make the constraint DoNotSchedule)"));
}

TEST(should_read_preferred_pod_anti_affinity_and_priority) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  CHECK_EQ_INT(
      one(&s,
          POD_META("'labels':{'app':'web','pod-template-hash':'h1'}",
                   "{'priorityClassName':'system-cluster-critical','priority':2000000000,"
                   "'affinity':{'podAntiAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':["
                   "{'weight':100,'podAffinityTerm':{'labelSelector':{'matchLabels':{'app':'web'}},"
                   "'matchLabelKeys':['pod-template-hash'],'topologyKey':'topology.kubernetes.io/zone'}},"
                   "{'weight':1,'podAffinityTerm':{'topologyKey':'kubernetes.io/hostname'}}]}},"
                   "'containers':[]}"),
          &err),
      0);
  c = cls_of(&s, 0);
  CHECK_EQ_INT(c->nanti, 0);
  CHECK_EQ_INT(c->npanti, 2);
  CHECK(strcmp(c->panti[0].topology_key, "topology.kubernetes.io/zone") == 0);
  CHECK_EQ_INT(c->panti[0].sel.n, 2); /* matchLabelKeys merged as for a required term */
  CHECK_EQ_INT(c->panti[1].match_none, 1);
  CHECK(s.pods[0].priority_class != NULL && strcmp(s.pods[0].priority_class, "system-cluster-critical") == 0);
  CHECK_EQ_INT(s.pods[0].has_priority, 1);
  CHECK_EQ_INT(s.pods[0].priority, 2000000000);
  stv_snapshot_close(&s);
  CHECK(fails_with(
      POD("{'affinity':{'podAntiAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':["
          "{'podAffinityTerm':{'topologyKey':'zone'}}]}},'containers':[]}"),
      STV_EPARSE,
      "Pod team-a/web-5: spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution"
      "[0].weight: missing"));
  CHECK(fails_with(
      POD("{'affinity':{'podAntiAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':["
          "{'weight':3}]}},'containers':[]}"),
      STV_EPARSE,
      "Pod team-a/web-5: spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution"
      "[0].podAffinityTerm: missing"));
  CHECK(fails_with(POD("{'priority':'high','containers':[]}"), STV_EPARSE,
                   "Pod team-a/web-5: spec.priority: not a number"));
}

TEST(should_mark_a_pod_with_a_deletion_timestamp_as_terminating) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(one(&s, POD_META("'deletionTimestamp':'2024-06-20T10:00:00Z'", C1 "}"), &err), 0);
  CHECK_EQ_INT(s.pods[0].terminating, 1);
  CHECK_EQ_INT(
      add(&s, "{'kind':'Pod','metadata':{'name':'web-6','namespace':'team-a'},'spec':" C1 "}}", NULL, &err),
      0);
  CHECK_EQ_INT(s.pods[1].terminating, 0);
  stv_snapshot_close(&s);
}

/* ---------------------------------------------------------------------- */
/* Storage: claims, volumes, classes, CSINodes                            */

#define VPOD(name, vols)                                                                           \
  "{'kind':'Pod','metadata':{'name':'" name "','namespace':'shop'},'spec':{'containers':[{'name':" \
  "'c'}],'volumes':[" vols "]}}"
#define VCLAIM(claim) "{'name':'data','persistentVolumeClaim':{'claimName':'" claim "'}}"
#define VPVC(name, extra) \
  "{'kind':'PersistentVolumeClaim','metadata':{'name':'" name "','namespace':'shop'},'spec':{" extra "}}"
#define VPV(name, spec, labels) \
  "{'kind':'PersistentVolume','metadata':{'name':'" name "'" labels "},'spec':{" spec "}}"
#define VZONE_AFF(zone)                                                           \
  "'nodeAffinity':{'required':{'nodeSelectorTerms':[{'matchExpressions':[{'key':" \
  "'topology.kubernetes.io/zone','operator':'In','values':['" zone "']}]}]}}"
#define VCSI(handle) "'csi':{'driver':'ebs.csi.aws.com','volumeHandle':'" handle "'}"

/* Adds items[0..n) to a fresh snapshot and resolves its volumes; returns the first failing code. */
static int vol_snapshot(struct stv_snapshot *s, const char *const *items, size_t n,
                        struct stv_snapshot_read_stats *st, struct stv_err *err) {
  size_t i;
  int rc = stv_snapshot_init(s);
  for (i = 0; i < n && rc == 0; i++) rc = add(s, items[i], st, err);
  if (rc == 0) rc = stv_snapshot_resolve_volumes(s, st, err);
  if (rc == 0) rc = stv_snapshot_finish(s, err);
  return rc;
}

static int find_res(const struct stv_snapshot *s, const char *name) {
  int k;
  for (k = 0; k < s->res.n; k++)
    if (strcmp(s->res.name[k], name) == 0) return k;
  return -1;
}

TEST(should_and_a_bound_volumes_node_affinity_into_the_pods_class_whatever_the_order) {
  static const char *const items[] = {
      VPOD("db-0", VCLAIM("data-db-0")),
      VPV("pv-1", VCSI("vol-1") "," VZONE_AFF("us-east-1a"), ""),
      VPVC("data-db-0", "'volumeName':'pv-1'"),
      NODE("n1", ",'labels':{'topology.kubernetes.io/zone':'us-east-1a'}"),
      ("{'kind':'CSINode','metadata':{'name':'n1'},'spec':{'drivers':[{'name':'ebs.csi.aws.com',"
       "'allocatable':{'count':7}},{'name':'efs.csi.aws.com'}]}}"),
  };
  struct stv_snapshot s;
  struct stv_snapshot_read_stats st;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  int k;
  memset(&st, 0, sizeof(st));
  CHECK_EQ_INT(vol_snapshot(&s, items, 5, &st, &err), 0);
  CHECK_EQ_INT(st.pvcs, 1);
  CHECK_EQ_INT(st.pvs, 1);
  CHECK_EQ_INT(st.csinodes, 1);
  c = cls_of(&s, 0);
  CHECK_EQ_INT(c->affinity.n, 1);
  CHECK_EQ_INT(c->affinity.terms[0].exprs.n, 1);
  CHECK(strcmp(c->affinity.terms[0].exprs.reqs[0].key, "topology.kubernetes.io/zone") == 0);
  CHECK(strcmp(c->affinity.terms[0].exprs.reqs[0].values[0], "us-east-1a") == 0);
  CHECK(c->blocked == NULL);
  k = find_res(&s, "attachable-volumes-csi-ebs.csi.aws.com");
  CHECK(k >= STV_RES_FIXED);
  CHECK_EQ_INT(c->req[k], 1);
  CHECK_EQ_INT(s.nodes[0].alloc[k], 7);
  /* efs reports no count and no pod uses it: no dimension. */
  CHECK_EQ_INT(find_res(&s, "attachable-volumes-csi-efs.csi.aws.com"), -1);
  CHECK_EQ_INT(st.attach_drivers, 1);
  stv_snapshot_close(&s);
}

TEST(should_cross_the_pods_own_terms_with_the_volumes_and_the_zone_labels) {
  static const char *const items[] = {
      "{'kind':'Pod','metadata':{'name':'db-0','namespace':'shop'},'spec':{'containers':[{'name':"
      "'c'}],'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':{"
      "'nodeSelectorTerms':[{'matchExpressions':[{'key':'a','operator':'Exists'}]},{"
      "'matchExpressions':[{'key':'b','operator':'Exists'}]}]}}},'volumes':[" VCLAIM("data-db-0") "]}}",
      VPVC("data-db-0", "'volumeName':'pv-1'"),
      VPV("pv-1", "'awsElasticBlockStore':{'volumeID':'vol-9'}",
          ",'labels':{'failure-domain.beta.kubernetes.io/zone':'z1__z2'}"),
      "{'kind':'StorageClass','metadata':{'name':'x'},'provisioner':'p'}",
  };
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  const struct stv_node_term *t;
  CHECK_EQ_INT(vol_snapshot(&s, items, 4, NULL, &err), 0);
  c = cls_of(&s, 0);
  /* (a OR b) AND (no zone labels OR beta In (z1, z2) OR (no beta AND GA In (z1, z2))) */
  CHECK_EQ_INT(c->affinity.n, 6);
  t = &c->affinity.terms[4];
  CHECK_EQ_INT(t->exprs.n, 2);
  CHECK(strcmp(t->exprs.reqs[0].key, "b") == 0);
  CHECK(strcmp(t->exprs.reqs[1].key, "failure-domain.beta.kubernetes.io/zone") == 0);
  CHECK_EQ_INT(t->exprs.reqs[1].nvalues, 2);
  CHECK(strcmp(t->exprs.reqs[1].values[1], "z2") == 0);
  t = &c->affinity.terms[5];
  CHECK_EQ_INT(t->exprs.n, 3);
  CHECK_EQ_INT(t->exprs.reqs[1].op, STV_OP_DOES_NOT_EXIST);
  CHECK(strcmp(t->exprs.reqs[2].key, "topology.kubernetes.io/zone") == 0);
  /* The in-tree EBS volume counts for the migrated CSI driver. */
  CHECK(find_res(&s, "attachable-volumes-csi-ebs.csi.aws.com") >= 0);
  stv_snapshot_close(&s);
}

TEST(should_block_pending_pods_with_unbound_immediate_or_missing_claims) {
  static const char *const items[] = {
      VPOD("imm-0", VCLAIM("c-imm")),
      VPOD("ghost-0", VCLAIM("c-none")),
      VPOD("wffc-0", VCLAIM("c-wffc")),
      VPVC("c-imm", "'storageClassName':'standard'"),
      VPVC("c-wffc", ""),
      "{'kind':'StorageClass','metadata':{'name':'standard'},'provisioner':'kubernetes.io/gce-pd'}",
      "{'kind':'StorageClass','metadata':{'name':'fast','annotations':{"
      "'storageclass.kubernetes.io/is-default-class':'true'}},'provisioner':'kubernetes.io/gce-pd',"
      "'volumeBindingMode':'WaitForFirstConsumer','allowedTopologies':[{'matchLabelExpressions':[{"
      "'key':'topology.gke.io/zone','values':['us-east1-b','us-east1-c']}]}]}",
  };
  struct stv_snapshot s;
  struct stv_snapshot_read_stats st;
  struct stv_err err = {0, ""};
  const struct stv_class *c;
  memset(&st, 0, sizeof(st));
  CHECK_EQ_INT(vol_snapshot(&s, items, 7, &st, &err), 0);
  CHECK_STR_CONTAINS(cls_of(&s, 0)->blocked, "pod has unbound immediate PersistentVolumeClaims");
  CHECK_STR_CONTAINS(cls_of(&s, 0)->blocked, "storage class \"standard\"");
  CHECK(strcmp(cls_of(&s, 1)->blocked, "persistentvolumeclaim \"c-none\" not found") == 0);
  /* The claim without a class gets the default, WaitForFirstConsumer: its topology applies. */
  c = cls_of(&s, 2);
  CHECK(c->blocked == NULL);
  CHECK_EQ_INT(c->affinity.n, 1);
  CHECK(strcmp(c->affinity.terms[0].exprs.reqs[0].key, "topology.gke.io/zone") == 0);
  CHECK_EQ_INT(c->affinity.terms[0].exprs.reqs[0].nvalues, 2);
  CHECK_EQ_INT(c->req[find_res(&s, "attachable-volumes-csi-pd.csi.storage.gke.io")], 1);
  CHECK_EQ_INT(st.vol_blocked_pods, 2);
  stv_snapshot_close(&s);
}

TEST(should_leave_claims_unchecked_when_the_snapshot_has_none) {
  static const char *const items[] = {
      VPOD("db-0", VCLAIM("data-db-0")),
      "{'kind':'Pod','metadata':{'name':'db-1','namespace':'shop'},'spec':{'nodeName':'n1',"
      "'containers':[{'name':'c'}],'volumes':[" VCLAIM("data-db-1") "]}}",
      NODE("n1", ""),
  };
  struct stv_snapshot s;
  struct stv_snapshot_read_stats st;
  struct stv_err err = {0, ""};
  memset(&st, 0, sizeof(st));
  CHECK_EQ_INT(vol_snapshot(&s, items, 3, &st, &err), 0);
  CHECK(cls_of(&s, 0)->blocked == NULL);
  CHECK_EQ_INT(cls_of(&s, 0)->affinity.n, 0);
  CHECK_EQ_INT(st.vol_unchecked_pods, 2);
  CHECK_EQ_INT(st.vol_unchecked_pending, 1);
  stv_snapshot_close(&s);
}

TEST(should_count_one_attachment_per_distinct_volume_of_a_pod) {
  static const char *const items[] = {
      VPOD("db-0", VCLAIM("c1") "," VCLAIM("c1") ",{'name':'x','csi':{'driver':'ebs.csi.aws.com'}}"),
      VPVC("c1", "'volumeName':'pv-1'"),
      VPV("pv-1", VCSI("vol-1"), ""),
  };
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(vol_snapshot(&s, items, 3, NULL, &err), 0);
  CHECK_EQ_INT(cls_of(&s, 0)->req[find_res(&s, "attachable-volumes-csi-ebs.csi.aws.com")], 2);
  stv_snapshot_close(&s);
}

TEST(should_name_the_item_and_field_of_bad_storage_objects) {
  CHECK(fails_with(VPV("pv-1", "'nodeAffinity':{'required':{'nodeSelectorTerms':[]}}", ""), STV_EINVAL,
                   "PersistentVolume pv-1: spec.nodeAffinity.required.nodeSelectorTerms: must have at "
                   "least one term"));
  CHECK(fails_with(VPV("pv-1",
                       "'nodeAffinity':{'required':{'nodeSelectorTerms':[{'matchExpressions':"
                       "[{'key':'k','operator':'Gt','values':['x']}]}]}}",
                       ""),
                   STV_EINVAL,
                   "PersistentVolume pv-1: spec.nodeAffinity.required.nodeSelectorTerms[0]"
                   ".matchExpressions[0].values[0]: not an integer: \"x\""));
  CHECK(fails_with("{'kind':'StorageClass','metadata':{'name':'s'},'provisioner':'p','allowedTopologies':"
                   "[{'matchLabelExpressions':[]}]}",
                   STV_EINVAL,
                   "StorageClass s: allowedTopologies[0].matchLabelExpressions: must not be empty"));
  CHECK(fails_with("{'kind':'CSINode','metadata':{'name':'n1'},'spec':{'drivers':[{'name':'d',"
                   "'allocatable':{'count':1.5}}]}}",
                   STV_EPARSE, "CSINode n1: spec.drivers[0].allocatable.count: not a 32-bit integer"));
  CHECK(fails_with(VPOD("p", "{'name':'e','ephemeral':{}}"), STV_EPARSE,
                   "Pod shop/p: spec.volumes[0].ephemeral.volumeClaimTemplate: missing"));
  CHECK(fails_with("{'kind':'PersistentVolumeClaim','metadata':{'name':'c'},'spec':{'volumeName':3}}",
                   STV_EPARSE, "PersistentVolumeClaim default/c: spec.volumeName: not a string"));
}

TEST(should_return_enomem_cleanly_while_resolving_volumes) {
  static const char *const items[] = {
      VPOD("db-0", VCLAIM("data-db-0") ",{'name':'e','ephemeral':{'volumeClaimTemplate':{'spec':{}}}}"),
      VPV("pv-1", VCSI("vol-1") "," VZONE_AFF("us-east-1a"), ",'labels':{'topology.kubernetes.io/zone':'a'}"),
      VPVC("data-db-0", "'volumeName':'pv-1'"),
      NODE("n1", ""),
      "{'kind':'CSINode','metadata':{'name':'n1'},'spec':{'drivers':[{'name':'ebs.csi.aws.com',"
      "'allocatable':{'count':7}}]}}",
      "{'kind':'StorageClass','metadata':{'name':'s','annotations':{"
      "'storageclass.kubernetes.io/is-default-class':'true'}},'provisioner':'ebs.csi.aws.com',"
      "'volumeBindingMode':'WaitForFirstConsumer','allowedTopologies':[{'matchLabelExpressions':[{"
      "'key':'k','values':['v']}]}]}",
  };
  cJSON *parsed[6];
  size_t i;
  long n;
  int rc = -1;
  stv_json_init();
  for (i = 0; i < 6; i++) CHECK((parsed[i] = obj(items[i])) != NULL);
  for (n = 0; n < 100000; n++) {
    struct stv_snapshot s;
    struct stv_err err = {0, ""};
    stv_alloc_fail_after(n);
    rc = stv_snapshot_init(&s);
    for (i = 0; i < 6 && rc == 0; i++) rc = stv_snapshot_add_item_stats(&s, parsed[i], NULL, &err);
    if (rc == 0) rc = stv_snapshot_resolve_volumes(&s, NULL, &err);
    if (rc == 0) rc = stv_snapshot_finish(&s, &err);
    if (rc == 0 && cls_of(&s, 0)->affinity.n != 2) rc = -9999;
    stv_snapshot_close(&s);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    if (rc != STV_ENOMEM) {
      fprintf(stderr, "  allocation %ld: got %s \"%s\"\n", n, stv_err_name(rc), err.msg);
      break;
    }
  }
  for (i = 0; i < 6; i++) cJSON_Delete(parsed[i]);
  CHECK_EQ_INT(rc, 0);
  CHECK(n > 10);
}

TEST(should_count_an_in_tree_provisioners_claims_for_its_csi_driver_against_the_csinode_count) {
  static const char *const items[] = {
      VPOD("db-0", VCLAIM("c1")),
      VPVC("c1", "'storageClassName':'cinder'"),
      "{'kind':'StorageClass','metadata':{'name':'cinder'},'provisioner':'kubernetes.io/cinder',"
      "'volumeBindingMode':'WaitForFirstConsumer'}",
      NODE("n1", ""),
      NODE("n2", ""),
      "{'kind':'CSINode','metadata':{'name':'n1'},'spec':{'drivers':[{'name':'cinder.csi.openstack.org',"
      "'allocatable':{'count':2}}]}}",
  };
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  int k;
  CHECK_EQ_INT(vol_snapshot(&s, items, 6, NULL, &err), 0);
  k = find_res(&s, "attachable-volumes-csi-cinder.csi.openstack.org");
  CHECK(k >= STV_RES_FIXED);
  CHECK_EQ_INT(cls_of(&s, 0)->req[k], 1);
  CHECK_EQ_INT(s.nodes[0].alloc[k], 2);
  /* n2 has no CSINode: no limit. */
  CHECK_EQ_INT(s.nodes[1].alloc[k], STV_ATTACH_UNLIMITED);
  stv_snapshot_close(&s);
}

TEST(should_keep_the_csi_topology_keys_that_carry_the_zone_for_new_nodes) {
  static const char *const items[] = {
      NODE("n1", ",'labels':{'topology.kubernetes.io/zone':'z1','topology.gke.io/zone':'z1',"
                 "'topology.example.com/zone':'z1','topology.example.com/rack':'r7'}"),
      NODE("n2", ",'labels':{'failure-domain.beta.kubernetes.io/zone':'z2','topology.gke.io/zone':'z2',"
                 "'topology.example.com/zone':'z2'}"),
      ("{'kind':'CSINode','metadata':{'name':'n1'},'spec':{'drivers':[{'name':'x.example.com','topologyKeys':"
       "['topology.example.com/zone','topology.example.com/rack','topology.kubernetes.io/zone']}]}}"),
  };
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(vol_snapshot(&s, items, 3, NULL, &err), 0);
  /* gke.io is well known; example.com/zone comes from the CSINode; the rack is no zone. */
  CHECK_EQ_INT(s.nzone_labels, 2);
  CHECK(strcmp(s.zone_labels[0], "topology.gke.io/zone") == 0);
  CHECK(strcmp(s.zone_labels[1], "topology.example.com/zone") == 0);
  stv_snapshot_close(&s);
  CHECK(fails_with("{'kind':'CSINode','metadata':{'name':'n1'},'spec':{'drivers':[{'name':'d','topologyKeys':"
                   "[3]}]}}",
                   STV_EPARSE, "CSINode n1: spec.drivers[0].topologyKeys[0]: not a string"));
}
