/*
 * Tests of the watch-driven cluster cache (controller/kube/cache.c) and of
 * the model's removal and live copy (packer/model.c).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define STV_TEST_CURL 1 /* harness.h: libcurl set up once by main */
#include "harness.h"

#include "builders.h"
#include "kubeemu.h"

#include "cache.h"
#include "loop.h"
#include "snapshot.h"

/* ---------------------------------------------------------------------- */
/* Objects as the API server sends them                                   */

struct podspec {
  const char *ns, *name, *uid, *rv;
  const char *app;  /* label app */
  const char *cpu;  /* request */
  const char *node; /* spec.nodeName, or NULL */
  const char *phase;
  int unsched; /* PodScheduled False, Unschedulable */
};

static cJSON *pod_obj(const struct podspec *p) {
  cJSON *o = cJSON_CreateObject(), *md, *labels, *spec, *cs, *c, *res, *req, *st, *conds, *cd;
  cJSON_AddStringToObject(o, "apiVersion", "v1");
  cJSON_AddStringToObject(o, "kind", "Pod");
  md = cJSON_AddObjectToObject(o, "metadata");
  cJSON_AddStringToObject(md, "name", p->name);
  cJSON_AddStringToObject(md, "namespace", p->ns ? p->ns : "default");
  cJSON_AddStringToObject(md, "uid", p->uid ? p->uid : p->name);
  cJSON_AddStringToObject(md, "resourceVersion", p->rv ? p->rv : "1");
  labels = cJSON_AddObjectToObject(md, "labels");
  cJSON_AddStringToObject(labels, "app", p->app ? p->app : "web");
  spec = cJSON_AddObjectToObject(o, "spec");
  if (p->node) cJSON_AddStringToObject(spec, "nodeName", p->node);
  cs = cJSON_AddArrayToObject(spec, "containers");
  c = cJSON_CreateObject();
  cJSON_AddItemToArray(cs, c);
  cJSON_AddStringToObject(c, "name", "main");
  res = cJSON_AddObjectToObject(c, "resources");
  req = cJSON_AddObjectToObject(res, "requests");
  cJSON_AddStringToObject(req, "cpu", p->cpu ? p->cpu : "500m");
  cJSON_AddStringToObject(req, "memory", "512Mi");
  st = cJSON_AddObjectToObject(o, "status");
  cJSON_AddStringToObject(st, "phase", p->phase ? p->phase : (p->node ? "Running" : "Pending"));
  if (p->unsched) {
    conds = cJSON_AddArrayToObject(st, "conditions");
    cd = cJSON_CreateObject();
    cJSON_AddItemToArray(conds, cd);
    cJSON_AddStringToObject(cd, "type", "PodScheduled");
    cJSON_AddStringToObject(cd, "status", "False");
    cJSON_AddStringToObject(cd, "reason", "Unschedulable");
  }
  return o;
}

static cJSON *node_obj(const char *name, const char *pid, const char *rv, const char *zone) {
  cJSON *o = cJSON_CreateObject(), *md, *labels, *spec, *st, *alloc;
  cJSON_AddStringToObject(o, "apiVersion", "v1");
  cJSON_AddStringToObject(o, "kind", "Node");
  md = cJSON_AddObjectToObject(o, "metadata");
  cJSON_AddStringToObject(md, "name", name);
  cJSON_AddStringToObject(md, "uid", name);
  cJSON_AddStringToObject(md, "resourceVersion", rv);
  labels = cJSON_AddObjectToObject(md, "labels");
  cJSON_AddStringToObject(labels, "kubernetes.io/hostname", name);
  cJSON_AddStringToObject(labels, "topology.kubernetes.io/zone", zone);
  cJSON_AddStringToObject(labels, "node.kubernetes.io/instance-type", "m5.large");
  spec = cJSON_AddObjectToObject(o, "spec");
  if (pid) cJSON_AddStringToObject(spec, "providerID", pid);
  st = cJSON_AddObjectToObject(o, "status");
  alloc = cJSON_AddObjectToObject(st, "allocatable");
  cJSON_AddStringToObject(alloc, "cpu", "2");
  cJSON_AddStringToObject(alloc, "memory", "8Gi");
  cJSON_AddStringToObject(alloc, "pods", "110");
  return o;
}

static int apply(struct stv_cache *c, enum stv_cache_kind k, enum stv_watch_event t, cJSON *o) {
  struct stv_err err = {0};
  int rc = stv_cache_apply(c, k, t, o, &err);
  if (rc != 0) fprintf(stderr, "  apply: %s\n", err.msg);
  cJSON_Delete(o);
  return rc;
}

static int apply_pod(struct stv_cache *c, enum stv_watch_event t, const struct podspec *p) {
  return apply(c, STV_CACHE_PODS, t, pod_obj(p));
}

/* The store's pod ns/name, or NULL. */
static const struct stv_pod *store_pod(const struct stv_cache *c, const char *ns, const char *name) {
  const struct stv_snapshot *s = stv_cache_store(c);
  for (size_t i = 0; i < s->npods; i++)
    if (strcmp(s->pods[i].ns, ns) == 0 && strcmp(s->pods[i].name, name) == 0) return &s->pods[i];
  return NULL;
}

static void all_listed(struct stv_cache *c) {
  for (int k = 0; k < STV_CACHE_NKINDS; k++) stv_cache_list_done(c, (enum stv_cache_kind)k);
}

/* What the hooks saw. */
struct seen_hooks {
  int unsched, gone, registered, deleted, synced, errors;
  char last[STV_ERR_MSG_MAX];
};

static void h_unsched(void *ctx, const char *ns, const char *name) {
  struct seen_hooks *h = ctx;
  h->unsched++;
  snprintf(h->last, sizeof(h->last), "unschedulable %s/%s", ns, name);
}
static void h_gone(void *ctx, const char *ns, const char *name) {
  struct seen_hooks *h = ctx;
  h->gone++;
  snprintf(h->last, sizeof(h->last), "gone %s/%s", ns, name);
}
static void h_registered(void *ctx, const char *name, const char *pid) {
  struct seen_hooks *h = ctx;
  h->registered++;
  snprintf(h->last, sizeof(h->last), "registered %s %s", name, pid ? pid : "-");
}
static void h_deleted(void *ctx, const char *name, const char *pid) {
  struct seen_hooks *h = ctx;
  h->deleted++;
  snprintf(h->last, sizeof(h->last), "deleted %s %s", name, pid ? pid : "-");
}
static void h_synced(void *ctx) {
  ((struct seen_hooks *)ctx)->synced++;
}
static void h_error(void *ctx, const struct stv_err *err) {
  struct seen_hooks *h = ctx;
  h->errors++;
  snprintf(h->last, sizeof(h->last), "%s", err->msg);
}

static struct stv_cache *new_cache(struct seen_hooks *h) {
  struct stv_cache_hooks hk = {h_unsched, h_gone, h_registered, h_deleted, h_synced, h_error, h, NULL};
  struct stv_cache *c = NULL;
  memset(h, 0, sizeof(*h));
  if (stv_cache_new(&c, &hk) != 0) return NULL;
  return c;
}

/* ---------------------------------------------------------------------- */
/* Events applied in place                                                */

TEST(should_apply_pod_events_in_place_and_fire_the_hooks) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  const struct stv_snapshot *s;
  const struct stv_pod *p;
  uint32_t cls;
  CHECK(c != NULL);
  CHECK_EQ_INT(apply(c, STV_CACHE_NODES, STV_WATCH_ADDED, node_obj("n1", "aws:///us-east-1a/i-1", "1", "z1")),
               0);
  CHECK_EQ_INT(h.registered, 1);
  CHECK_STR_CONTAINS(h.last, "registered n1 aws:///us-east-1a/i-1");
  struct podspec web = {.name = "web-1", .rv = "2", .unsched = 1};
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_ADDED, &web), 0);
  CHECK_EQ_INT(h.unsched, 1);
  CHECK_STR_CONTAINS(h.last, "unschedulable default/web-1");
  s = stv_cache_store(c);
  CHECK_EQ_INT((int)s->npods, 1);
  cls = s->pods[0].cls;
  /* Bound: replaced in place, the provisioner told it is gone. */
  web.rv = "3";
  web.node = "n1";
  web.unsched = 0;
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_MODIFIED, &web), 0);
  CHECK_EQ_INT((int)s->npods, 1);
  CHECK_EQ_INT(h.gone, 1);
  p = store_pod(c, "default", "web-1");
  CHECK(p != NULL && p->node == 0 && strcmp(p->node_name, "n1") == 0);
  CHECK_EQ_INT((int)p->cls, (int)cls);
  /* An older version, and the same one again, change nothing. */
  web.rv = "2";
  web.node = NULL;
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_MODIFIED, &web), 0);
  CHECK(store_pod(c, "default", "web-1")->node_name != NULL);
  /* Relabelled: a new class, still one pod. */
  web.rv = "4";
  web.node = "n1";
  web.app = "api";
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_MODIFIED, &web), 0);
  CHECK_EQ_INT((int)s->npods, 1);
  CHECK(store_pod(c, "default", "web-1")->cls != cls);
  CHECK(strcmp(stv_labels_get(&s->classes[store_pod(c, "default", "web-1")->cls]->labels, "app"), "api") ==
        0);
  /* A second pod finishes: removed. */
  struct podspec job = {.name = "job-1", .rv = "5", .node = "n1"};
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_ADDED, &job), 0);
  CHECK_EQ_INT((int)s->npods, 2);
  job.rv = "6";
  job.phase = "Succeeded";
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_MODIFIED, &job), 0);
  CHECK_EQ_INT((int)s->npods, 1);
  CHECK(store_pod(c, "default", "job-1") == NULL);
  /* Deleted; re-created under the same name with a new uid: read as new. */
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_DELETED, &web), 0);
  CHECK_EQ_INT((int)s->npods, 0);
  struct podspec again = {.name = "web-1", .uid = "web-1-b", .rv = "9", .unsched = 1};
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_ADDED, &again), 0);
  CHECK_EQ_INT((int)s->npods, 1);
  CHECK_EQ_INT(h.unsched, 2);
  /* The same name re-created while its delete was missed: the newer uid replaces it. */
  struct podspec third = {.name = "web-1", .uid = "web-1-c", .rv = "12", .node = "n1"};
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_ADDED, &third), 0);
  CHECK_EQ_INT((int)s->npods, 1);
  CHECK_EQ_INT(h.gone, 2);
  /* A DELETED of a pod never seen changes nothing. */
  struct podspec ghost = {.name = "ghost"};
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_DELETED, &ghost), 0);
  CHECK_EQ_INT((int)s->npods, 1);
  stv_cache_free(c);
}

TEST(should_delete_and_recreate_a_node_with_the_same_name) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  const struct stv_snapshot *s;
  CHECK(c != NULL);
  s = stv_cache_store(c);
  CHECK_EQ_INT(apply(c, STV_CACHE_NODES, STV_WATCH_ADDED, node_obj("a", "p:///a", "1", "z1")), 0);
  CHECK_EQ_INT(apply(c, STV_CACHE_NODES, STV_WATCH_ADDED, node_obj("b", "p:///b", "2", "z1")), 0);
  CHECK_EQ_INT(apply(c, STV_CACHE_NODES, STV_WATCH_ADDED, node_obj("c", "p:///c", "3", "z2")), 0);
  struct podspec pa = {.name = "on-a", .rv = "4", .node = "a"}, pc = {.name = "on-c", .rv = "5", .node = "c"};
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_ADDED, &pa), 0);
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_ADDED, &pc), 0);
  /* a goes: c moves into its place, its pod follows, a's pod is unbound. */
  CHECK_EQ_INT(apply(c, STV_CACHE_NODES, STV_WATCH_DELETED, node_obj("a", NULL, "6", "z1")), 0);
  CHECK_EQ_INT(h.deleted, 1);
  CHECK_STR_CONTAINS(h.last, "deleted a p:///a");
  CHECK_EQ_INT((int)s->nnodes, 2);
  CHECK_EQ_INT(stv_snapshot_find_node(s, "a"), -1);
  CHECK_EQ_INT(stv_snapshot_find_node(s, "c"), 0);
  CHECK_EQ_INT(store_pod(c, "default", "on-c")->node, 0);
  CHECK_EQ_INT(store_pod(c, "default", "on-a")->node, -1);
  CHECK(strcmp(stv_cache_node_provider_id(c, 0), "p:///c") == 0);
  /* Re-created with the same name and an older-looking resourceVersion: new, not a duplicate. */
  CHECK_EQ_INT(apply(c, STV_CACHE_NODES, STV_WATCH_ADDED, node_obj("a", "p:///a2", "1", "z1")), 0);
  CHECK_EQ_INT(h.registered, 4);
  CHECK_EQ_INT((int)s->nnodes, 3);
  CHECK_EQ_INT(stv_snapshot_find_node(s, "a"), 2);
  CHECK(strcmp(stv_cache_node_provider_id(c, 2), "p:///a2") == 0);
  stv_cache_free(c);
}

TEST(should_refuse_a_bad_object_naming_it_and_keep_the_store) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  struct stv_err err = {0};
  struct podspec bad = {.ns = "team-a", .name = "web-5", .cpu = "12x"};
  cJSON *o = pod_obj(&bad);
  CHECK(c != NULL);
  CHECK(stv_cache_apply(c, STV_CACHE_PODS, STV_WATCH_ADDED, o, &err) == STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "pods: Pod team-a/web-5: spec.containers[0].resources.requests.cpu");
  CHECK_EQ_INT((int)stv_cache_store(c)->npods, 0);
  CHECK(stv_cache_apply(c, STV_CACHE_NODES, STV_WATCH_ADDED, o, &err) == STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "nodes: object team-a/web-5 is of kind Pod, not Node");
  cJSON_Delete(o);
  stv_cache_free(c);
}

TEST(should_be_synced_only_after_every_kind_was_listed) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  struct stv_snapshot s;
  const char **ids;
  struct stv_err err = {0};
  CHECK(c != NULL);
  stv_snapshot_init(&s);
  CHECK(stv_cache_snapshot(c, &s, &ids, &err) == STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "not finished its first list");
  stv_cache_list_done(c, STV_CACHE_NODES);
  stv_cache_list_done(c, STV_CACHE_PODS);
  stv_cache_list_done(c, STV_CACHE_PDBS);
  stv_cache_list_done(c, STV_CACHE_PVCS);
  stv_cache_list_done(c, STV_CACHE_PVS);
  stv_cache_list_done(c, STV_CACHE_STORAGECLASSES);
  stv_cache_list_done(c, STV_CACHE_CSINODES);
  CHECK_EQ_INT(stv_cache_synced(c), 0);
  CHECK_EQ_INT(h.synced, 0);
  stv_cache_list_done(c, STV_CACHE_NAMESPACES);
  CHECK_EQ_INT(stv_cache_synced(c), 1);
  stv_cache_list_done(c, STV_CACHE_PODS); /* a relist */
  CHECK_EQ_INT(h.synced, 1);
  CHECK_EQ_INT(stv_cache_snapshot(c, &s, &ids, &err), 0);
  stv_snapshot_close(&s);
  stv_cache_free(c);
}

TEST(should_say_whether_a_pod_is_pending_without_copying_the_view) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  struct stv_cluster_view v;
  CHECK(c != NULL);
  all_listed(c);
  stv_cache_view(c, &v);
  CHECK(v.has_pending != NULL);
  CHECK_EQ_INT(v.has_pending(v.ctx), 0);
  CHECK_EQ_INT(apply(c, STV_CACHE_NODES, STV_WATCH_ADDED, node_obj("n1", "sim:///a/1", "1", "a")), 0);
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_ADDED, &(struct podspec){.name = "bound", .node = "n1"}), 0);
  CHECK_EQ_INT(v.has_pending(v.ctx), 0);
  CHECK_EQ_INT(apply_pod(c, STV_WATCH_ADDED, &(struct podspec){.name = "waits", .unsched = 1}), 0);
  CHECK_EQ_INT(v.has_pending(v.ctx), 1);
  CHECK_EQ_INT(
      apply_pod(c, STV_WATCH_MODIFIED, &(struct podspec){.name = "waits", .rv = "2", .node = "n1"}), 0);
  CHECK_EQ_INT(stv_cache_has_pending(c), 0);
  stv_cache_free(c);
}

/* ---------------------------------------------------------------------- */
/* The view against a snapshot file                                       */

/* A mixed cluster: nodes in two zones, pods of several apps bound and pending, a PDB and namespaces. */
static cJSON *cluster_items(int nnodes, int npods) {
  cJSON *items = cJSON_CreateArray();
  char name[64], pid[64], rv[32], node[64];
  static const char *apps[] = {"web", "api", "batch", "cache", "db"};
  static const char *cpus[] = {"250m", "500m", "1", "1500m", "100m"};
  int i;
  for (i = 0; i < 2; i++) {
    cJSON *ns = cJSON_CreateObject(), *md, *l;
    cJSON_AddStringToObject(ns, "kind", "Namespace");
    md = cJSON_AddObjectToObject(ns, "metadata");
    cJSON_AddStringToObject(md, "name", i ? "team-b" : "team-a");
    cJSON_AddStringToObject(md, "resourceVersion", i ? "2" : "1");
    l = cJSON_AddObjectToObject(md, "labels");
    cJSON_AddStringToObject(l, "env", i ? "dev" : "prod");
    cJSON_AddItemToArray(items, ns);
  }
  for (i = 0; i < nnodes; i++) {
    snprintf(name, sizeof(name), "node-%d", i);
    snprintf(pid, sizeof(pid), "aws:///z%d/i-%d", i % 2, i);
    snprintf(rv, sizeof(rv), "%d", 10 + i);
    cJSON_AddItemToArray(items, node_obj(name, pid, rv, i % 2 ? "z1" : "z0"));
  }
  for (i = 0; i < npods; i++) {
    struct podspec p = {.ns = i % 3 ? "team-a" : "team-b", .app = apps[i % 5], .cpu = cpus[(i / 5) % 5]};
    snprintf(name, sizeof(name), "pod-%d", i);
    snprintf(rv, sizeof(rv), "%d", 1000 + i);
    snprintf(node, sizeof(node), "node-%d", i % nnodes);
    p.name = name;
    p.rv = rv;
    if (i % 4 != 0) p.node = node;
    p.unsched = p.node == NULL;
    cJSON_AddItemToArray(items, pod_obj(&p));
  }
  {
    cJSON *pdb = cJSON_Parse("{\"kind\":\"PodDisruptionBudget\",\"apiVersion\":\"policy/v1\",\"metadata\":"
                             "{\"name\":\"web\",\"namespace\":\"team-a\",\"resourceVersion\":\"5\"},\"spec\":"
                             "{\"minAvailable\":1,\"selector\":{\"matchLabels\":{\"app\":\"web\"}}}}");
    cJSON_AddItemToArray(items, pdb);
  }
  return items;
}

static enum stv_cache_kind kind_of(const cJSON *item) {
  const char *k = cJSON_GetObjectItemCaseSensitive(item, "kind")->valuestring;
  if (strcmp(k, "Node") == 0) return STV_CACHE_NODES;
  if (strcmp(k, "Pod") == 0) return STV_CACHE_PODS;
  if (strcmp(k, "Namespace") == 0) return STV_CACHE_NAMESPACES;
  return STV_CACHE_PDBS;
}

static int plans_equal(const struct stv_plan *a, const struct stv_plan *b) {
  size_t i;
  if (a->nnodes != b->nnodes || a->nunsched != b->nunsched || a->npending != b->npending ||
      a->nplaced != b->nplaced || a->nnew != b->nnew || a->new_cost != b->new_cost)
    return 0;
  for (i = 0; i < a->nnodes; i++) {
    const struct stv_plan_node *x = &a->nodes[i], *y = &b->nodes[i];
    if (x->existing != y->existing || x->tmpl != y->tmpl || strcmp(x->name, y->name) != 0 ||
        x->npods != y->npods || memcmp(x->pods, y->pods, x->npods * sizeof(*x->pods)) != 0)
      return 0;
  }
  for (i = 0; i < a->nunsched; i++)
    if (a->unsched[i].pod != b->unsched[i].pod || strcmp(a->unsched[i].reason, b->unsched[i].reason) != 0)
      return 0;
  return 1;
}

/* Finishes s and packs it onto two offerings into *plan. */
static int pack(struct stv_snapshot *s, struct stv_plan *plan) {
  struct stv_template t[2];
  struct stv_test_tmpl_opts o1 = {
      .instance_type = "m5.large", .zone = "z0", .price = 0.096, .cpu_m = 1930, .mem_mi = 7000};
  struct stv_test_tmpl_opts o2 = {
      .instance_type = "m5.xlarge", .zone = "z1", .price = 0.192, .cpu_m = 3920, .mem_mi = 14000};
  struct stv_problem p;
  struct stv_err err = {0};
  memset(plan, 0, sizeof(*plan));
  if (stv_snapshot_finish(s, &err) != 0 || stv_test_template(s, &t[0], &o1) != 0 ||
      stv_test_template(s, &t[1], &o2) != 0)
    return -1;
  memset(&p, 0, sizeof(p));
  p.snap = s;
  p.tmpl = t;
  p.ntmpl = 2;
  p.currency = "USD";
  return stv_pack(&p, plan, &err);
}

/* Feeds every item to c as ADDED. */
static int feed_all(struct stv_cache *c, const cJSON *items) {
  const cJSON *it;
  struct stv_err err = {0};
  cJSON_ArrayForEach(it, items) {
    if (stv_cache_apply(c, kind_of(it), STV_WATCH_ADDED, it, &err) != 0) {
      fprintf(stderr, "  %s\n", err.msg);
      return -1;
    }
  }
  return 0;
}

/* The cache's view of c packed, compared with plan ref. */
static int view_packs_to(struct stv_cache *c, const struct stv_plan *ref, size_t *npods) {
  struct stv_snapshot v;
  struct stv_plan plan;
  const char **ids;
  struct stv_err err = {0};
  int ok;
  stv_snapshot_init(&v);
  ok = stv_cache_snapshot(c, &v, &ids, &err) == 0 && pack(&v, &plan) == 0;
  if (npods) *npods = v.npods;
  ok = ok && plans_equal(ref, &plan) && plan.npending > 0;
  stv_plan_close(&plan);
  stv_snapshot_close(&v);
  return ok;
}

TEST(should_give_a_view_that_packs_as_the_same_objects_read_from_a_file) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  cJSON *items = cluster_items(20, 400), *list = cJSON_CreateObject();
  char path[] = "/tmp/stv-cache-XXXXXX";
  struct stv_snapshot f, v;
  struct stv_plan pf, pv;
  const char **ids;
  struct stv_err err = {0};
  char *text;
  FILE *fp;
  int fd = mkstemp(path);
  CHECK(c != NULL && fd >= 0);
  cJSON_AddStringToObject(list, "apiVersion", "v1");
  cJSON_AddStringToObject(list, "kind", "List");
  cJSON_AddItemReferenceToObject(list, "items", items);
  text = cJSON_Print(list);
  fp = fdopen(fd, "w");
  fputs(text, fp);
  fclose(fp);
  cJSON_free(text);
  stv_snapshot_init(&f);
  CHECK_EQ_INT(stv_snapshot_read_file(&f, path, &err), 0);
  unlink(path);
  CHECK_EQ_INT(feed_all(c, items), 0);
  all_listed(c);
  stv_snapshot_init(&v);
  CHECK_EQ_INT(stv_cache_snapshot(c, &v, &ids, &err), 0);
  CHECK_EQ_INT((int)v.npods, 400);
  CHECK_EQ_INT((int)v.nnodes, 20);
  CHECK_EQ_INT((int)v.npdbs, 1);
  CHECK_EQ_INT((int)v.nnamespaces, 2);
  CHECK_EQ_INT((int)v.nclasses, (int)f.nclasses);
  CHECK(v.pool.block != stv_cache_store(c)->pool.block); /* shares nothing */
  CHECK(ids != NULL && strcmp(ids[3], "aws:///z1/i-3") == 0);
  CHECK(stv_strpool_find(&v.pool, ids[3], strlen(ids[3])) == ids[3]);
  CHECK_EQ_INT(h.unsched, 100);
  CHECK_EQ_INT(pack(&f, &pf), 0);
  CHECK_EQ_INT(pack(&v, &pv), 0);
  CHECK(pf.npending == 100 && pf.nnew > 0);
  CHECK(plans_equal(&pf, &pv));
  /* The copy of the copy packs the same too. */
  {
    struct stv_snapshot w;
    struct stv_plan pw;
    stv_snapshot_init(&w);
    CHECK_EQ_INT(stv_snapshot_copy_live(&w, &f, 0), 0);
    CHECK_EQ_INT(stv_snapshot_copy_live(&w, &f, 0), STV_ELIMIT);
    CHECK_EQ_INT(pack(&w, &pw), 0);
    CHECK(plans_equal(&pf, &pw));
    stv_plan_close(&pw);
    stv_snapshot_close(&w);
  }
  stv_plan_close(&pf);
  stv_plan_close(&pv);
  stv_snapshot_close(&f);
  stv_snapshot_close(&v);
  cJSON_Delete(list);
  cJSON_Delete(items);
  stv_cache_free(c);
}

/* ---------------------------------------------------------------------- */
/* Churn and compaction                                                   */

/*
 * A million pod events; a sanitizer build runs 60,000 (the same compactions
 * every 4,096 events; ASan makes each event about 100 times slower).
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHURN_EVENTS 60000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CHURN_EVENTS 60000
#endif
#endif
#ifndef CHURN_EVENTS
#define CHURN_EVENTS 1000000
#endif

static size_t heap_used(void) {
  return mallinfo2().uordblks;
}

TEST(should_compact_and_keep_memory_flat_and_the_plan_identical_over_a_million_events) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  cJSON *items = cluster_items(20, 400);
  struct stv_snapshot v;
  struct stv_plan ref;
  struct stv_cache_stats st;
  const char **ids;
  struct stv_err err = {0};
  size_t mid = 0, end, npods = 0;
  char name[32], rv[32], uid[32];
  long i, n = CHURN_EVENTS / 3 + 1;
  CHECK(c != NULL);
  CHECK_EQ_INT(feed_all(c, items), 0);
  all_listed(c);
  stv_snapshot_init(&v);
  CHECK_EQ_INT(stv_cache_snapshot(c, &v, &ids, &err), 0);
  CHECK_EQ_INT(pack(&v, &ref), 0);
  stv_snapshot_close(&v);
  /* Short-lived pods of ever new names and labels: added, bound, deleted. */
  cJSON *o = pod_obj(&(struct podspec){.ns = "team-b", .name = "x", .unsched = 1});
  cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
  cJSON *labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
  cJSON *spec = cJSON_GetObjectItemCaseSensitive(o, "spec");
  for (i = 0; i < n; i++) {
    snprintf(name, sizeof(name), "churn-%ld", i);
    snprintf(uid, sizeof(uid), "u-%ld", i);
    snprintf(rv, sizeof(rv), "%ld", 100000 + 2 * i);
    cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "name"), name);
    cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "uid"), uid);
    cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "resourceVersion"), rv);
    cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(labels, "app"), uid); /* a class of its own */
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "nodeName");
    if (stv_cache_apply(c, STV_CACHE_PODS, STV_WATCH_ADDED, o, &err) != 0) break;
    snprintf(rv, sizeof(rv), "%ld", 100001 + 2 * i);
    cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "resourceVersion"), rv);
    cJSON_AddStringToObject(spec, "nodeName", "node-1");
    if (stv_cache_apply(c, STV_CACHE_PODS, STV_WATCH_MODIFIED, o, &err) != 0) break;
    if (stv_cache_apply(c, STV_CACHE_PODS, STV_WATCH_DELETED, o, &err) != 0) break;
    if (i == n / 4) mid = heap_used();
  }
  CHECK_EQ_INT((int)(i == n), 1);
  end = heap_used();
  cJSON_Delete(o);
  stv_cache_get_stats(c, &st);
  CHECK(st.compactions >= (size_t)CHURN_EVENTS / 10000);
  CHECK_EQ_INT(h.unsched, 100 + (int)n);
  CHECK_EQ_INT(h.gone, (int)n);
  /* Flat: no more than the garbage allowed between two compactions (a few MB). */
  if (end > mid + 8u * 1024 * 1024) fprintf(stderr, "  heap %zu at a quarter, %zu at the end\n", mid, end);
  CHECK(end <= mid + 8u * 1024 * 1024);
  CHECK(view_packs_to(c, &ref, &npods));
  CHECK_EQ_INT((int)npods, 400);
  /* Compacted, only the classes of live pods are left. */
  CHECK_EQ_INT(stv_cache_compact(c), 0);
  CHECK((int)stv_cache_store(c)->nclasses < 100);
  CHECK(view_packs_to(c, &ref, NULL));
  stv_plan_close(&ref);
  cJSON_Delete(items);
  stv_cache_free(c);
}

/* ---------------------------------------------------------------------- */
/* A copy packed on another thread while events change the store          */

struct packer_arg {
  struct stv_snapshot *snap;
  struct stv_plan plan;
  int rc;
};

static void *pack_thread(void *arg) {
  struct packer_arg *a = arg;
  a->rc = pack(a->snap, &a->plan);
  stv_packer_thread_done(); /* the contract: each solving thread frees GLPK's state */
  return NULL;
}

TEST(should_let_a_copy_be_packed_on_a_worker_while_events_apply) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  cJSON *items = cluster_items(20, 400);
  struct stv_snapshot v;
  struct packer_arg a;
  struct stv_plan ref;
  pthread_t t;
  const char **ids;
  struct stv_err err = {0};
  char name[32], rv[32];
  int i, ok = 1;
  CHECK(c != NULL);
  CHECK_EQ_INT(feed_all(c, items), 0);
  all_listed(c);
  stv_snapshot_init(&v);
  CHECK_EQ_INT(stv_cache_snapshot(c, &v, &ids, &err), 0);
  memset(&a, 0, sizeof(a));
  a.snap = &v;
  CHECK_EQ_INT(pthread_create(&t, NULL, pack_thread, &a), 0);
  for (i = 0; i < 3000 && ok; i++) {
    struct podspec p = {.ns = "team-a", .name = name, .rv = rv, .app = "late", .unsched = 1};
    snprintf(name, sizeof(name), "pod-%d", i % 400);
    snprintf(rv, sizeof(rv), "%d", 50000 + i);
    ok = apply_pod(c, i % 2 ? STV_WATCH_DELETED : STV_WATCH_MODIFIED, &p) == 0;
  }
  pthread_join(t, NULL);
  CHECK(ok);
  CHECK_EQ_INT(a.rc, 0);
  /* The worker's plan is that of the state when copied. */
  CHECK(view_packs_to(c, &a.plan, NULL) == 0);
  stv_plan_close(&a.plan);
  stv_snapshot_close(&v);
  {
    struct stv_cache *c2 = new_cache(&h);
    CHECK_EQ_INT(feed_all(c2, items), 0);
    all_listed(c2);
    stv_snapshot_init(&v);
    CHECK_EQ_INT(stv_cache_snapshot(c2, &v, &ids, &err), 0);
    CHECK_EQ_INT(pack(&v, &ref), 0);
    stv_snapshot_close(&v);
    stv_snapshot_init(&v);
    CHECK_EQ_INT(stv_cache_snapshot(c2, &v, &ids, &err), 0);
    a.snap = &v;
    pthread_create(&t, NULL, pack_thread, &a);
    pthread_join(t, NULL);
    CHECK(plans_equal(&ref, &a.plan));
    stv_plan_close(&a.plan);
    stv_plan_close(&ref);
    stv_snapshot_close(&v);
    stv_cache_free(c2);
  }
  cJSON_Delete(items);
  stv_cache_free(c);
}

/* ---------------------------------------------------------------------- */
/* Against the API emulator                                               */

static int kube_post(const struct emu *e, const char *path, const char *json) {
  return sh("curl -sf --cacert '%s' -H 'Authorization: Bearer good-token' -X POST -H 'Content-Type: "
            "application/json' -d '%s' '%s%s' >/dev/null",
            e->ca, json, e->url, path);
}

TEST(should_follow_the_api_server_through_its_reflectors) {
  static const char *const extra[] = {"--scheduler", NULL};
  struct emu e;
  struct env v;
  struct seen_hooks h;
  struct stv_cache *c;
  struct stv_err err = {0};
  int synced = 0, ok;
  CHECK_EQ_INT(emu_start(&e, extra), 0);
  CHECK_EQ_INT(emu_kubeconfig(&e, NULL), 0);
  CHECK_EQ_INT(env_open(&v, &e), 0);
  c = new_cache(&h);
  CHECK(c != NULL);
  CHECK_EQ_INT(stv_cache_start(c, v.k, 0, &err), 0);
  for (double end = now_s() + 20; now_s() < end && !(synced = stv_cache_synced(c));)
    run_until(&v, &synced, 0.1);
  CHECK(stv_cache_synced(c));
  CHECK_EQ_INT(h.synced, 1);
  CHECK_EQ_INT(
      kube_post(&e, "/api/v1/namespaces/default/pods",
                "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"big\"},\"spec\":{"
                "\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":"
                "\"1\"}}}]}}"),
      0);
  ok = 0;
  for (double end = now_s() + 20; now_s() < end && !ok;) {
    run_until(&v, &ok, 0.1);
    ok = h.unsched > 0;
  }
  CHECK(ok);
  CHECK(store_pod(c, "default", "big") != NULL && store_pod(c, "default", "big")->node_name == NULL);
  CHECK_EQ_INT(
      kube_post(&e, "/api/v1/nodes",
                "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},\"spec\":{"
                "\"providerID\":\"sim:///z1/n1\"},\"status\":{\"allocatable\":{\"cpu\":\"2\",\"memory\":"
                "\"4Gi\",\"pods\":\"10\"},\"capacity\":{\"cpu\":\"2\",\"memory\":\"4Gi\",\"pods\":\"10\"},"
                "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}"),
      0);
  ok = 0;
  for (double end = now_s() + 20; now_s() < end && !ok;) {
    run_until(&v, &ok, 0.1);
    ok = h.gone > 0;
  }
  CHECK(ok);
  CHECK_EQ_INT(h.registered, 1);
  CHECK(store_pod(c, "default", "big") != NULL && store_pod(c, "default", "big")->node_name != NULL &&
        strcmp(store_pod(c, "default", "big")->node_name, "n1") == 0);
  CHECK(strcmp(stv_cache_node_provider_id(c, 0), "sim:///z1/n1") == 0);
  stv_cache_free(c);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

/* ---------------------------------------------------------------------- */
/* Storage kinds: the same volume rules as a snapshot file                */

/*
 * Two nodes (z0 free, z1 full), a claim bound to a volume in z1 and a
 * pending pod using it, its storage class and a CSINode (of a driver
 * without an attach limit: the test's offerings have no such dimension).
 */
static const char *const storage_items[] = {
    "{\"kind\":\"StorageClass\",\"apiVersion\":\"storage.k8s.io/v1\",\"metadata\":{\"name\":\"gp3\","
    "\"resourceVersion\":\"3\"},\"provisioner\":\"csi.example.com\",\"volumeBindingMode\":\"WaitForFirstConsumer\"}",
    "{\"kind\":\"PersistentVolume\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"pv-data\",\"resourceVersion\":"
    "\"4\"},\"spec\":{\"storageClassName\":\"gp3\",\"claimRef\":{\"namespace\":\"team-a\",\"name\":\"data\"},"
    "\"csi\":{\"driver\":\"csi.example.com\",\"volumeHandle\":\"vol-1\"},\"nodeAffinity\":{\"required\":{"
    "\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"topology.kubernetes.io/zone\",\"operator\":\"In\","
    "\"values\":[\"z1\"]}]}]}}},\"status\":{\"phase\":\"Bound\"}}",
    "{\"kind\":\"PersistentVolumeClaim\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"data\",\"namespace\":"
    "\"team-a\",\"resourceVersion\":\"5\"},\"spec\":{\"storageClassName\":\"gp3\",\"volumeName\":\"pv-data\"}}",
    "{\"kind\":\"CSINode\",\"apiVersion\":\"storage.k8s.io/v1\",\"metadata\":{\"name\":\"node-1\","
    "\"resourceVersion\":\"6\"},\"spec\":{\"drivers\":[{\"name\":\"csi.example.com\",\"nodeID\":\"i-1\","
    "\"topologyKeys\":[\"topology.example.com/zone\"]}]}}",
};

static cJSON *storage_cluster(void) {
  cJSON *items = cJSON_CreateArray(), *o, *spec, *vols, *v;
  size_t i;
  cJSON_AddItemToArray(items, node_obj("node-0", "aws:///z0/i-0", "1", "z0"));
  cJSON_AddItemToArray(items, node_obj("node-1", "aws:///z1/i-1", "2", "z1"));
  cJSON_AddItemToArray(items, pod_obj(&(struct podspec){.ns = "team-a", .name = "full", .cpu = "1900m",
                                                        .node = "node-1", .app = "full"}));
  o = pod_obj(&(struct podspec){.ns = "team-a", .name = "db-0", .cpu = "1", .app = "db", .unsched = 1});
  spec = cJSON_GetObjectItemCaseSensitive(o, "spec");
  vols = cJSON_AddArrayToObject(spec, "volumes");
  v = cJSON_CreateObject();
  cJSON_AddStringToObject(v, "name", "data");
  cJSON_AddStringToObject(cJSON_AddObjectToObject(v, "persistentVolumeClaim"), "claimName", "data");
  cJSON_AddItemToArray(vols, v);
  cJSON_AddItemToArray(items, o);
  cJSON_AddItemToArray(items, pod_obj(&(struct podspec){.ns = "team-a", .name = "web-0", .cpu = "500m",
                                                        .app = "web", .unsched = 1}));
  for (i = 0; i < sizeof(storage_items) / sizeof(storage_items[0]); i++)
    cJSON_AddItemToArray(items, cJSON_Parse(storage_items[i]));
  return items;
}

/* Writes items as a v1 List to a temporary file and reads it as `recommend` does (volumes resolved). */
static int read_as_file(const cJSON *items, struct stv_snapshot *f) {
  cJSON *list = cJSON_CreateObject();
  char path[] = "/tmp/stv-cache-XXXXXX", *text;
  struct stv_err err = {0};
  int fd = mkstemp(path), rc;
  FILE *fp;
  cJSON_AddStringToObject(list, "apiVersion", "v1");
  cJSON_AddStringToObject(list, "kind", "List");
  cJSON_AddItemReferenceToObject(list, "items", (cJSON *)items);
  text = cJSON_Print(list);
  fp = fdopen(fd, "w");
  fputs(text, fp);
  fclose(fp);
  cJSON_free(text);
  cJSON_Delete(list);
  stv_snapshot_init(f);
  rc = stv_snapshot_read_file(f, path, &err);
  unlink(path);
  if (rc == 0) rc = stv_snapshot_resolve_volumes(f, NULL, &err);
  if (rc != 0) fprintf(stderr, "  %s\n", err.msg);
  return rc;
}

/* Feeds items to c, each kind as the reflectors would (any order of kinds works). */
static int feed_kinds(struct stv_cache *c, const cJSON *items, enum stv_watch_event type) {
  const cJSON *it;
  struct stv_err err = {0};
  cJSON_ArrayForEach(it, items) {
    enum stv_cache_kind k;
    if (stv_cache_kind_of(cJSON_GetObjectItemCaseSensitive(it, "kind")->valuestring, &k) != 0 ||
        stv_cache_apply(c, k, type, it, &err) != 0) {
      fprintf(stderr, "  %s\n", err.msg);
      return -1;
    }
  }
  return 0;
}

/* The plan node that holds pod ns/name of snapshot s, or NULL. */
static const struct stv_plan_node *placed_on(const struct stv_snapshot *s, const struct stv_plan *plan,
                                             const char *name) {
  size_t i, j;
  for (i = 0; i < plan->nnodes; i++)
    for (j = 0; j < plan->nodes[i].npods; j++)
      if (strcmp(s->pods[plan->nodes[i].pods[j]].name, name) == 0) return &plan->nodes[i];
  return NULL;
}

TEST(should_place_a_pod_with_a_zonal_volume_as_recommend_does_from_a_file) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  cJSON *items = storage_cluster();
  struct stv_snapshot f, v;
  struct stv_plan pf, pv;
  const struct stv_plan_node *n;
  const char **ids;
  struct stv_err err = {0};
  enum stv_cache_kind k;
  CHECK(c != NULL);
  CHECK_EQ_INT(stv_cache_kind_of("CSINode", &k), 0);
  CHECK_EQ_INT((int)k, STV_CACHE_CSINODES);
  CHECK_EQ_INT(stv_cache_kind_of("Service", &k), STV_ENOTFOUND);
  CHECK_EQ_INT(read_as_file(items, &f), 0);
  CHECK_EQ_INT(feed_kinds(c, items, STV_WATCH_ADDED), 0);
  all_listed(c);
  stv_snapshot_init(&v);
  CHECK_EQ_INT(stv_cache_snapshot(c, &v, &ids, &err), 0);
  CHECK_EQ_INT(pack(&f, &pf), 0);
  CHECK_EQ_INT(pack(&v, &pv), 0);
  CHECK(plans_equal(&pf, &pv));
  CHECK_EQ_INT((int)v.nzone_labels, (int)f.nzone_labels); /* the CSI driver's zone key, for new nodes */
  /* The claim's volume is in z1: not the free node-0 of z0, but a new node of the z1 offering. */
  CHECK((n = placed_on(&v, &pv, "db-0")) != NULL);
  CHECK(n->existing < 0 && n->tmpl == 1);
  CHECK((n = placed_on(&v, &pv, "web-0")) != NULL && n->existing == 0);
  stv_plan_close(&pv);
  stv_snapshot_close(&v);
  /* The volume deleted: the claim points at nothing, the pod is held back, as a file without it says. */
  {
    cJSON *pv_obj = cJSON_Parse(storage_items[1]);
    cJSON *rest = storage_cluster();
    struct stv_snapshot g;
    struct stv_plan pg;
    CHECK_EQ_INT(apply(c, STV_CACHE_PVS, STV_WATCH_DELETED, pv_obj), 0);
    cJSON_DeleteItemFromArray(rest, 6); /* the PersistentVolume */
    /* The file still names some volume, so the missing one is a finding, not an unchecked claim. */
    cJSON_AddItemToArray(rest, cJSON_Parse("{\"kind\":\"PersistentVolume\",\"apiVersion\":\"v1\",\"metadata\":"
                                           "{\"name\":\"other\",\"resourceVersion\":\"9\"},\"spec\":{}}"));
    CHECK_EQ_INT(apply(c, STV_CACHE_PVS, STV_WATCH_ADDED,
                       cJSON_Parse("{\"kind\":\"PersistentVolume\",\"apiVersion\":\"v1\",\"metadata\":"
                                   "{\"name\":\"other\",\"resourceVersion\":\"9\"},\"spec\":{}}")),
                 0);
    CHECK_EQ_INT(read_as_file(rest, &g), 0);
    CHECK_EQ_INT(pack(&g, &pg), 0);
    stv_snapshot_init(&v);
    CHECK_EQ_INT(stv_cache_snapshot(c, &v, &ids, &err), 0);
    CHECK_EQ_INT(pack(&v, &pv), 0);
    CHECK(plans_equal(&pg, &pv));
    CHECK_EQ_INT((int)pv.nunsched, 1);
    CHECK_STR_CONTAINS(pv.unsched[0].reason, "pv-data");
    /* Compaction keeps the storage objects and the pods' volumes. */
    CHECK_EQ_INT(stv_cache_compact(c), 0);
    {
      struct stv_snapshot w;
      struct stv_plan pw;
      stv_snapshot_init(&w);
      CHECK_EQ_INT(stv_cache_snapshot(c, &w, &ids, &err), 0);
      CHECK_EQ_INT(pack(&w, &pw), 0);
      CHECK(plans_equal(&pg, &pw));
      stv_plan_close(&pw);
      stv_snapshot_close(&w);
    }
    stv_plan_close(&pg);
    stv_snapshot_close(&g);
    cJSON_Delete(rest);
  }
  /* Every storage object deleted: nothing left to check, the pod goes where it fits (node-0). */
  CHECK_EQ_INT(feed_kinds(c, items, STV_WATCH_DELETED), 0);
  {
    struct stv_cache_stats st;
    stv_cache_get_stats(c, &st);
    CHECK(st.removed >= 8);
  }
  stv_plan_close(&pv);
  stv_snapshot_close(&v);
  /* Back, then the claim and its volume deleted (twice: the second changes nothing). */
  CHECK_EQ_INT(feed_kinds(c, items, STV_WATCH_ADDED), 0);
  CHECK_EQ_INT(apply(c, STV_CACHE_PVCS, STV_WATCH_DELETED, cJSON_Parse(storage_items[2])), 0);
  CHECK_EQ_INT(apply(c, STV_CACHE_PVS, STV_WATCH_DELETED, cJSON_Parse(storage_items[1])), 0);
  CHECK_EQ_INT(apply(c, STV_CACHE_PVS, STV_WATCH_DELETED, cJSON_Parse(storage_items[1])), 0); /* again: no-op */
  stv_snapshot_init(&v);
  CHECK_EQ_INT(stv_cache_snapshot(c, &v, &ids, &err), 0);
  CHECK_EQ_INT(pack(&v, &pv), 0);
  /* No claim left in the cluster: the claim is not checked (as for a file without claims): node-0 takes it. */
  CHECK((n = placed_on(&v, &pv, "db-0")) != NULL && n->existing == 0);
  stv_plan_close(&pv);
  stv_snapshot_close(&v);
  stv_plan_close(&pf);
  stv_snapshot_close(&f);
  cJSON_Delete(items);
  stv_cache_free(c);
}

/* A second claim, bound to a volume in z0 (storage_items has "data" in z1). */
static const char *const zero_items[] = {
    "{\"kind\":\"PersistentVolume\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"pv-zero\","
    "\"resourceVersion\":"
    "\"7\"},\"spec\":{\"storageClassName\":\"gp3\",\"claimRef\":{\"namespace\":\"team-a\",\"name\":\"zero\"},"
    "\"csi\":{\"driver\":\"csi.example.com\",\"volumeHandle\":\"vol-0\"},\"nodeAffinity\":{\"required\":{"
    "\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"topology.kubernetes.io/"
    "zone\",\"operator\":\"In\","
    "\"values\":[\"z0\"]}]}]}}},\"status\":{\"phase\":\"Bound\"}}",
    "{\"kind\":\"PersistentVolumeClaim\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"zero\",\"namespace\":"
    "\"team-a\",\"resourceVersion\":\"8\"},\"spec\":{\"storageClassName\":\"gp3\",\"volumeName\":\"pv-zero\"}"
    "}",
};

/* The pending pod team-a/NAME of 1 cpu at resourceVersion rv, with one volume of claim (NULL: none). */
static cJSON *claim_pod(const char *name, const char *rv, const char *claim) {
  cJSON *o = pod_obj(
      &(struct podspec){.ns = "team-a", .name = name, .rv = rv, .cpu = "1", .app = name, .unsched = 1});
  cJSON *vols, *v;
  if (claim == NULL) return o;
  vols = cJSON_AddArrayToObject(cJSON_GetObjectItemCaseSensitive(o, "spec"), "volumes");
  v = cJSON_CreateObject();
  cJSON_AddStringToObject(v, "name", "data");
  cJSON_AddStringToObject(cJSON_AddObjectToObject(v, "persistentVolumeClaim"), "claimName", claim);
  cJSON_AddItemToArray(vols, v);
  return o;
}

/*
 * The cluster of storage_items plus zero_items, with pods full (bound to
 * node-1), db-0 (claim db_claim) and, when web_claim is not "-", web-0
 * (claim web_claim, NULL: none), in that order.
 */
static cJSON *claims_cluster(const char *db_claim, const char *web_claim) {
  cJSON *items = cJSON_CreateArray();
  size_t i;
  cJSON_AddItemToArray(items, node_obj("node-0", "aws:///z0/i-0", "1", "z0"));
  cJSON_AddItemToArray(items, node_obj("node-1", "aws:///z1/i-1", "2", "z1"));
  cJSON_AddItemToArray(items,
                       pod_obj(&(struct podspec){
                           .ns = "team-a", .name = "full", .cpu = "1900m", .node = "node-1", .app = "full"}));
  cJSON_AddItemToArray(items, claim_pod("db-0", "20", db_claim));
  if (web_claim == NULL || strcmp(web_claim, "-") != 0)
    cJSON_AddItemToArray(items, claim_pod("web-0", "22", web_claim));
  for (i = 0; i < sizeof(storage_items) / sizeof(storage_items[0]); i++)
    cJSON_AddItemToArray(items, cJSON_Parse(storage_items[i]));
  for (i = 0; i < sizeof(zero_items) / sizeof(zero_items[0]); i++)
    cJSON_AddItemToArray(items, cJSON_Parse(zero_items[i]));
  return items;
}

/*
 * Regression (the fix of 73751f9): a MODIFIED pod with volumes replaced
 * in place must take its new volume record, not leave it at the head of
 * the store's list for the next new pod to take as its own. db-0 moves
 * from claim data (z1) to claim zero (z0), then web-0 arrives without
 * volumes: db-0 must go to the free node-0 in z0 (its stale record sent it
 * to a new z1 node) and the whole view must pack as the same objects read
 * from a file. Then web-0 takes claim data (z1) and db-0 keeps zero;
 * then web-0 drops its volume and fits node-0 again.
 */
/*
 * 1 when c's view packs as claims_cluster(db_claim, web_claim) read from a
 * file, with db-0 on node-0 and web-0 on node-0 (web_new 0) or on a new
 * node of the z1 offering (web_new 1).
 */
static int packs_as_claims_file(struct stv_cache *c, const char *db_claim, const char *web_claim,
                                int web_new) {
  cJSON *items = claims_cluster(db_claim, web_claim);
  struct stv_snapshot f, v;
  struct stv_plan pf, pv;
  const struct stv_plan_node *db, *web;
  const char **ids;
  struct stv_err err = {0};
  int ok = read_as_file(items, &f) == 0 && pack(&f, &pf) == 0;
  stv_snapshot_init(&v);
  ok = ok && stv_cache_snapshot(c, &v, &ids, &err) == 0 && pack(&v, &pv) == 0;
  if (ok) {
    db = placed_on(&v, &pv, "db-0");
    web = placed_on(&v, &pv, "web-0");
    ok = db != NULL && db->existing == 0 && web != NULL &&
         (web_new ? web->existing < 0 && web->tmpl == 1 : web->existing == 0) && plans_equal(&pf, &pv);
    stv_plan_close(&pv);
    stv_plan_close(&pf);
  }
  stv_snapshot_close(&v);
  stv_snapshot_close(&f);
  cJSON_Delete(items);
  return ok;
}

TEST(should_give_each_pod_its_own_volumes_after_a_pod_with_volumes_is_modified) {
  struct seen_hooks h;
  struct stv_cache *c = new_cache(&h);
  cJSON *items = claims_cluster("data", "-");
  CHECK(c != NULL);
  CHECK_EQ_INT(feed_kinds(c, items, STV_WATCH_ADDED), 0);
  all_listed(c);
  CHECK_EQ_INT(apply(c, STV_CACHE_PODS, STV_WATCH_MODIFIED, claim_pod("db-0", "21", "zero")), 0);
  CHECK_EQ_INT(apply(c, STV_CACHE_PODS, STV_WATCH_ADDED, claim_pod("web-0", "22", NULL)), 0);
  CHECK(packs_as_claims_file(c, "zero", NULL, 0));
  /* web-0 now asks for claim data (z1, where node-1 is full): a new z1 node for it alone. */
  CHECK_EQ_INT(apply(c, STV_CACHE_PODS, STV_WATCH_MODIFIED, claim_pod("web-0", "23", "data")), 0);
  CHECK(packs_as_claims_file(c, "zero", "data", 1));
  /* web-0 without volumes again: its old record goes, it fits node-0 beside db-0. */
  CHECK_EQ_INT(apply(c, STV_CACHE_PODS, STV_WATCH_MODIFIED, claim_pod("web-0", "24", NULL)), 0);
  CHECK(packs_as_claims_file(c, "zero", NULL, 0));
  cJSON_Delete(items);
  stv_cache_free(c);
}

/* ---------------------------------------------------------------------- */
/* Compaction on the thread pool while the loop applies events            */

struct churn {
  struct stv_cache *c, *inline_c; /* the same events: compacted on the pool, and inline */
  uv_timer_t events, tick;
  cJSON *o;
  long i, n;
  long during;       /* events applied while a compaction ran */
  long ticks_during; /* timer ticks while one ran */
  int failed;
};

/* One churn step on both caches: pod churn-i added pending, bound, deleted (every 500th kept, bound). */
static int churn_step(struct churn *ch, struct stv_cache *c, long i) {
  struct stv_err err = {0};
  cJSON *md = cJSON_GetObjectItemCaseSensitive(ch->o, "metadata");
  cJSON *spec = cJSON_GetObjectItemCaseSensitive(ch->o, "spec");
  char name[32], rv[32];
  snprintf(name, sizeof(name), "churn-%ld", i);
  snprintf(rv, sizeof(rv), "%ld", 100000 + 2 * i);
  cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "name"), name);
  cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "uid"), name);
  cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "resourceVersion"), rv);
  cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(md, "labels"), "app"),
                       name);
  cJSON_DeleteItemFromObjectCaseSensitive(spec, "nodeName");
  if (stv_cache_apply(c, STV_CACHE_PODS, STV_WATCH_ADDED, ch->o, &err) != 0) return -1;
  snprintf(rv, sizeof(rv), "%ld", 100001 + 2 * i);
  cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(md, "resourceVersion"), rv);
  cJSON_AddStringToObject(spec, "nodeName", "node-1");
  if (stv_cache_apply(c, STV_CACHE_PODS, STV_WATCH_MODIFIED, ch->o, &err) != 0) return -1;
  if (i % 500 == 0) return 0;
  return stv_cache_apply(c, STV_CACHE_PODS, STV_WATCH_DELETED, ch->o, &err);
}

static void churn_cb(uv_timer_t *t) {
  struct churn *ch = t->data;
  int k;
  for (k = 0; k < 40 && ch->i < ch->n; k++, ch->i++) {
    int running = stv_cache_compacting(ch->c);
    if (churn_step(ch, ch->c, ch->i) != 0 || churn_step(ch, ch->inline_c, ch->i) != 0) ch->failed = 1;
    ch->during += running;
  }
  if (ch->i == ch->n || ch->failed) uv_timer_stop(t);
}

static void churn_tick(uv_timer_t *t) {
  struct churn *ch = t->data;
  ch->ticks_during += stv_cache_compacting(ch->c);
  if (ch->i == ch->n && !stv_cache_compacting(ch->c)) uv_timer_stop(t);
}

TEST(should_keep_applying_events_while_a_compaction_runs_on_the_thread_pool) {
  struct seen_hooks h, h2;
  struct churn ch;
  cJSON *items = cluster_items(20, 400);
  struct stv_snapshot a, b;
  struct stv_plan pa, pb;
  struct stv_cache_stats st;
  const char **ids;
  struct stv_err err = {0};
  uv_loop_t loop;
  memset(&ch, 0, sizeof(ch));
  ch.n = CHURN_EVENTS / 50 > 6000 ? CHURN_EVENTS / 50 : 6000; /* compactions every ~2,000 steps */
  ch.c = new_cache(&h);
  ch.inline_c = new_cache(&h2);
  CHECK(ch.c != NULL && ch.inline_c != NULL);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  stv_cache_set_loop(ch.c, &loop);
  CHECK_EQ_INT(feed_all(ch.c, items), 0);
  CHECK_EQ_INT(feed_all(ch.inline_c, items), 0);
  all_listed(ch.c);
  all_listed(ch.inline_c);
  ch.o = pod_obj(&(struct podspec){.ns = "team-b", .name = "x", .unsched = 1});
  uv_timer_init(&loop, &ch.events);
  uv_timer_init(&loop, &ch.tick);
  ch.events.data = ch.tick.data = &ch;
  uv_timer_start(&ch.events, churn_cb, 0, 1);
  uv_timer_start(&ch.tick, churn_tick, 1, 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(ch.failed, 0);
  CHECK_EQ_INT((int)ch.i, (int)ch.n);
  stv_cache_get_stats(ch.c, &st);
  /* At least one (a slow build, sanitizers, may fit the whole churn into fewer, longer ones). */
  CHECK(st.compactions >= 1);
  CHECK(ch.during > 0); /* events went on, and were replayed into the compacted store */
  CHECK_EQ_INT(stv_cache_compacting(ch.c), 0);
  CHECK_EQ_INT(h.unsched, h2.unsched);
  CHECK_EQ_INT(h.gone, h2.gone);
  CHECK_EQ_INT(h.unsched, 100 + (int)ch.n);
  /* The same store as the inline one: the same objects, the same plan. */
  CHECK_EQ_INT((int)stv_cache_store(ch.c)->npods, 400 + (int)((ch.n + 499) / 500));
  CHECK_EQ_INT((int)stv_cache_store(ch.c)->npods, (int)stv_cache_store(ch.inline_c)->npods);
  stv_snapshot_init(&a);
  stv_snapshot_init(&b);
  CHECK_EQ_INT(stv_cache_snapshot(ch.c, &a, &ids, &err), 0);
  CHECK_EQ_INT(stv_cache_snapshot(ch.inline_c, &b, &ids, &err), 0);
  CHECK_EQ_INT(pack(&a, &pa), 0);
  CHECK_EQ_INT(pack(&b, &pb), 0);
  CHECK(plans_equal(&pa, &pb) && pa.npending == 100);
  for (size_t i = 0; i < a.npods; i++)
    CHECK(strcmp(a.pods[i].name, b.pods[i].name) == 0 && a.pods[i].node == b.pods[i].node);
  stv_plan_close(&pa);
  stv_plan_close(&pb);
  stv_snapshot_close(&a);
  stv_snapshot_close(&b);
  /* Freed while a compaction runs: the store goes with the compaction, freed when it completes. */
  for (ch.i = ch.n; !stv_cache_compacting(ch.c) && ch.i < ch.n + 20000; ch.i++)
    CHECK_EQ_INT(churn_step(&ch, ch.c, ch.i), 0);
  CHECK_EQ_INT(stv_cache_compacting(ch.c), 1);
  stv_cache_free(ch.c);
  uv_close((uv_handle_t *)&ch.events, NULL);
  uv_close((uv_handle_t *)&ch.tick, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  cJSON_Delete(ch.o);
  cJSON_Delete(items);
  stv_cache_free(ch.inline_c);
}
