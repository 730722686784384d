/*
 * Tests of the snapshot model: pod class interning, nodes and their lookup
 * by name, stv_snapshot_finish (bindings, used capacity, pending counts),
 * resource names and capacity type names.
 */
#include "builders.h"
#include "harness.h"
#include "packer.h"

#define MI STV_TEST_MI
#define GI STV_TEST_GI

#define POD(...) stv_test_pod(&fx->s, &(struct stv_test_pod_opts){__VA_ARGS__})
#define NODE(...) stv_test_node(&fx->s, &(struct stv_test_node_opts){__VA_ARGS__})

/* ---------------------------------------------------------------------- */
/* Class interning                                                        */

/*
 * A class description with every field set. Mutators below each change
 * exactly one thing; the arrays they point at are static.
 */
static const char *zones_ab[] = {"us-east-1a", "us-east-1b"};
static const char *zones_abc[] = {"us-east-1a", "us-east-1b", "us-east-1c"};
static const char *v_web[] = {"web"};
static const char *v_api[] = {"api"};
static const char *v_cache[] = {"cache"};
static const char *v_retail[] = {"retail"};
static const char *v_search[] = {"search"};
static const char *v_node1[] = {"ip-10-0-1-17"};
static const char *ns_shop[] = {"shop"};
static const char *ns_shop_search[] = {"shop", "search"};

static struct stv_requirement r_zone_ab = {STV_TEST_ZONE_KEY, STV_OP_IN, 2, zones_ab};
static struct stv_requirement r_zone_abc = {STV_TEST_ZONE_KEY, STV_OP_IN, 3, zones_abc};
static struct stv_requirement r_zone_not_ab = {STV_TEST_ZONE_KEY, STV_OP_NOT_IN, 2, zones_ab};
static struct stv_requirement r_name = {"metadata.name", STV_OP_IN, 1, v_node1};
static struct stv_requirement r_app_web = {"app", STV_OP_IN, 1, v_web};
static struct stv_requirement r_app_api = {"app", STV_OP_IN, 1, v_api};
static struct stv_requirement r_app_cache = {"app", STV_OP_IN, 1, v_cache};
static struct stv_requirement r_team_retail = {"team", STV_OP_IN, 1, v_retail};
static struct stv_requirement r_team_search = {"team", STV_OP_IN, 1, v_search};

static struct stv_node_term t_base = {{1, &r_zone_ab}, {0, NULL}};
static struct stv_node_term t_more_values = {{1, &r_zone_abc}, {0, NULL}};
static struct stv_node_term t_not_in = {{1, &r_zone_not_ab}, {0, NULL}};
static struct stv_node_term t_fields = {{1, &r_zone_ab}, {1, &r_name}};
static struct stv_node_term t_two[2] = {{{1, &r_zone_ab}, {0, NULL}}, {{1, &r_zone_abc}, {0, NULL}}};
static struct stv_node_affinity na_base = {1, &t_base};
static struct stv_node_affinity na_more_values = {1, &t_more_values};
static struct stv_node_affinity na_not_in = {1, &t_not_in};
static struct stv_node_affinity na_fields = {1, &t_fields};
static struct stv_node_affinity na_two = {2, t_two};

static struct stv_pod_term aff_base = {{1, &r_app_cache}, 0, STV_TEST_ZONE_KEY, 0, NULL, 0, {0, NULL}};
static struct stv_pod_term anti_base = {{1, &r_app_web}, 0, STV_TEST_HOST_KEY, 1, ns_shop, 1, {1, &r_team_retail}};
static struct stv_spread spread_base = {1, STV_TEST_ZONE_KEY, 1, {1, &r_app_web}, 0, 0, 1, 0};

static void base_opts(struct stv_test_pod_opts *o) {
  memset(o, 0, sizeof(*o));
  o->ns = "shop";
  o->name = "web";
  o->cpu_m = 250;
  o->mem_mi = 512;
  o->eph_mi = 1024;
  o->res = "nvidia.com/gpu";
  o->res_qty = 1;
  o->labels[0] = (struct stv_test_kv){"app", "web"};
  o->labels[1] = (struct stv_test_kv){"tier", "frontend"};
  o->node_selector[0] = (struct stv_test_kv){"disktype", "ssd"};
  o->tol[0] = (struct stv_toleration){"dedicated", 0, "web", STV_EFFECT_NO_SCHEDULE};
  o->affinity = &na_base;
  o->aff = &aff_base;
  o->naff = 1;
  o->anti = &anti_base;
  o->nanti = 1;
  o->spread = &spread_base;
  o->nspread = 1;
}

/* Each mutator changes one field of the base description. */
static struct stv_pod_term aff_key, aff_none, anti_ns, anti_no_nssel, anti_nssel, anti_sel;
static struct stv_spread sp_skew, sp_key, sp_anyway, sp_mind, sp_aff, sp_taints, sp_none, sp_sel;

static void m_ns(struct stv_test_pod_opts *o) { o->ns = "search"; }
static void m_cpu(struct stv_test_pod_opts *o) { o->cpu_m = 251; }
static void m_mem(struct stv_test_pod_opts *o) { o->mem_mi = 1024; }
static void m_eph(struct stv_test_pod_opts *o) { o->eph_mi = 2048; }
static void m_gpu_qty(struct stv_test_pod_opts *o) { o->res_qty = 2; }
static void m_gpu_name(struct stv_test_pod_opts *o) { o->res = "amd.com/gpu"; }
static void m_label_value(struct stv_test_pod_opts *o) { o->labels[0].value = "api"; }
static void m_label_key(struct stv_test_pod_opts *o) { o->labels[1].key = "role"; }
static void m_label_more(struct stv_test_pod_opts *o) { o->labels[2] = (struct stv_test_kv){"version", "v2"}; }
static void m_label_fewer(struct stv_test_pod_opts *o) { o->labels[1].key = NULL; }
static void m_nsel_value(struct stv_test_pod_opts *o) { o->node_selector[0].value = "nvme"; }
static void m_nsel_none(struct stv_test_pod_opts *o) { o->node_selector[0].key = NULL; }
static void m_tol_key(struct stv_test_pod_opts *o) { o->tol[0].key = "team"; }
static void m_tol_value(struct stv_test_pod_opts *o) { o->tol[0].value = "api"; }
static void m_tol_effect(struct stv_test_pod_opts *o) { o->tol[0].effect = STV_EFFECT_NO_EXECUTE; }
static void m_tol_exists(struct stv_test_pod_opts *o) { o->tol[0].exists = 1; }
static void m_tol_more(struct stv_test_pod_opts *o) {
  o->tol[1] = (struct stv_toleration){NULL, 1, NULL, STV_EFFECT_NO_EXECUTE};
}
static void m_na_values(struct stv_test_pod_opts *o) { o->affinity = &na_more_values; }
static void m_na_op(struct stv_test_pod_opts *o) { o->affinity = &na_not_in; }
static void m_na_fields(struct stv_test_pod_opts *o) { o->affinity = &na_fields; }
static void m_na_terms(struct stv_test_pod_opts *o) { o->affinity = &na_two; }
static void m_na_none(struct stv_test_pod_opts *o) { o->affinity = NULL; }
static void m_aff_key(struct stv_test_pod_opts *o) { o->aff = &aff_key; }
static void m_aff_none(struct stv_test_pod_opts *o) { o->aff = &aff_none; }
static void m_aff_absent(struct stv_test_pod_opts *o) { o->naff = 0; }
static void m_anti_ns(struct stv_test_pod_opts *o) { o->anti = &anti_ns; }
static void m_anti_no_nssel(struct stv_test_pod_opts *o) { o->anti = &anti_no_nssel; }
static void m_anti_nssel(struct stv_test_pod_opts *o) { o->anti = &anti_nssel; }
static void m_anti_sel(struct stv_test_pod_opts *o) { o->anti = &anti_sel; }
static void m_anti_as_aff(struct stv_test_pod_opts *o) {
  o->aff = &anti_base;
  o->anti = &aff_base;
}
static void m_sp_skew(struct stv_test_pod_opts *o) { o->spread = &sp_skew; }
static void m_sp_key(struct stv_test_pod_opts *o) { o->spread = &sp_key; }
static void m_sp_anyway(struct stv_test_pod_opts *o) { o->spread = &sp_anyway; }
static void m_sp_mind(struct stv_test_pod_opts *o) { o->spread = &sp_mind; }
static void m_sp_aff(struct stv_test_pod_opts *o) { o->spread = &sp_aff; }
static void m_sp_taints(struct stv_test_pod_opts *o) { o->spread = &sp_taints; }
static void m_sp_none(struct stv_test_pod_opts *o) { o->spread = &sp_none; }
static void m_sp_sel(struct stv_test_pod_opts *o) { o->spread = &sp_sel; }
static void m_sp_absent(struct stv_test_pod_opts *o) { o->nspread = 0; }
static void m_ds_a(struct stv_test_pod_opts *o) {
  o->daemonset = 1;
  o->owner_uid = "6b1f9c1e-uid-a";
}
static void m_ds_b(struct stv_test_pod_opts *o) {
  o->daemonset = 1;
  o->owner_uid = "0d2e47aa-uid-b";
}

static void init_variants(void) {
  aff_key = aff_base;
  aff_key.topology_key = STV_TEST_HOST_KEY;
  aff_none = aff_base;
  aff_none.match_none = 1;
  anti_ns = anti_base;
  anti_ns.nns = 2;
  anti_ns.namespaces = ns_shop_search;
  anti_no_nssel = anti_base;
  anti_no_nssel.has_ns_sel = 0;
  anti_no_nssel.ns_sel.n = 0;
  anti_no_nssel.ns_sel.reqs = NULL;
  anti_nssel = anti_base;
  anti_nssel.ns_sel.reqs = &r_team_search;
  anti_sel = anti_base;
  anti_sel.sel.reqs = &r_app_api;
  sp_skew = spread_base;
  sp_skew.max_skew = 2;
  sp_key = spread_base;
  sp_key.topology_key = STV_TEST_HOST_KEY;
  sp_anyway = spread_base;
  sp_anyway.do_not_schedule = 0;
  sp_mind = spread_base;
  sp_mind.min_domains = 3;
  sp_aff = spread_base;
  sp_aff.honor_node_affinity = 0;
  sp_taints = spread_base;
  sp_taints.honor_taints = 1;
  sp_none = spread_base;
  sp_none.match_none = 1;
  sp_sel = spread_base;
  sp_sel.sel.reqs = &r_app_api;
}

struct mutator {
  const char *what;
  void (*fn)(struct stv_test_pod_opts *o);
};

static const struct mutator mutators[] = {
    {"namespace", m_ns},
    {"cpu request", m_cpu},
    {"memory request", m_mem},
    {"ephemeral-storage request", m_eph},
    {"extended resource quantity", m_gpu_qty},
    {"extended resource name", m_gpu_name},
    {"label value", m_label_value},
    {"label key", m_label_key},
    {"one more label", m_label_more},
    {"one label fewer", m_label_fewer},
    {"nodeSelector value", m_nsel_value},
    {"no nodeSelector", m_nsel_none},
    {"toleration key", m_tol_key},
    {"toleration value", m_tol_value},
    {"toleration effect", m_tol_effect},
    {"toleration operator", m_tol_exists},
    {"one more toleration", m_tol_more},
    {"node affinity values", m_na_values},
    {"node affinity operator", m_na_op},
    {"node affinity matchFields", m_na_fields},
    {"node affinity terms", m_na_terms},
    {"no node affinity", m_na_none},
    {"affinity topology key", m_aff_key},
    {"affinity match_none", m_aff_none},
    {"no pod affinity", m_aff_absent},
    {"anti-affinity namespaces", m_anti_ns},
    {"anti-affinity without namespaceSelector", m_anti_no_nssel},
    {"anti-affinity namespaceSelector", m_anti_nssel},
    {"anti-affinity labelSelector", m_anti_sel},
    {"affinity and anti-affinity swapped", m_anti_as_aff},
    {"spread maxSkew", m_sp_skew},
    {"spread topology key", m_sp_key},
    {"spread whenUnsatisfiable", m_sp_anyway},
    {"spread minDomains", m_sp_mind},
    {"spread nodeAffinityPolicy", m_sp_aff},
    {"spread nodeTaintsPolicy", m_sp_taints},
    {"spread match_none", m_sp_none},
    {"spread labelSelector", m_sp_sel},
    {"no spread", m_sp_absent},
    {"DaemonSet a", m_ds_a},
    {"DaemonSet b", m_ds_b},
};
#define NMUT (sizeof(mutators) / sizeof(mutators[0]))

STV_TEST_FX(should_give_pods_of_equal_content_the_same_class) {
  struct stv_test_pod_opts o;
  int a, b, c;
  base_opts(&o);
  CHECK((a = stv_test_pod(&fx->s, &o)) >= 0);
  o.name = "web-other"; /* names and arrays differ, content does not */
  CHECK((b = stv_test_pod(&fx->s, &o)) >= 0);
  o.count = 3;
  CHECK((c = stv_test_pod(&fx->s, &o)) >= 0);
  CHECK_EQ_INT(fx->s.nclasses, 1);
  CHECK_EQ_INT(fx->s.npods, 5);
  CHECK_EQ_INT(fx->s.pods[a].cls, fx->s.pods[b].cls);
  CHECK_EQ_INT(fx->s.pods[a].cls, fx->s.pods[c + 2].cls);
  CHECK_EQ_INT(fx->s.classes[fx->s.pods[a].cls]->id, fx->s.pods[a].cls);
}

STV_TEST_FX(should_give_classes_differing_in_any_field_different_ids) {
  struct stv_test_pod_opts o;
  uint32_t ids[NMUT + 1];
  size_t i, j;
  int p;
  init_variants();
  base_opts(&o);
  CHECK((p = stv_test_pod(&fx->s, &o)) >= 0);
  ids[NMUT] = fx->s.pods[p].cls;
  for (i = 0; i < NMUT; i++) {
    base_opts(&o);
    mutators[i].fn(&o);
    p = stv_test_pod(&fx->s, &o);
    if (p < 0) fprintf(stderr, "  %s: %s\n", mutators[i].what, stv_err_name(p));
    CHECK(p >= 0);
    ids[i] = fx->s.pods[p].cls;
  }
  for (i = 0; i <= NMUT; i++) {
    for (j = i + 1; j <= NMUT; j++) {
      if (ids[i] == ids[j]) {
        fprintf(stderr, "  \"%s\" and \"%s\" share class %u\n", i < NMUT ? mutators[i].what : "base",
                j < NMUT ? mutators[j].what : "base", ids[i]);
        CHECK(0);
      }
    }
  }
  CHECK_EQ_INT(fx->s.nclasses, NMUT + 1);
  /* Each variant again finds its class. */
  for (i = 0; i < NMUT; i++) {
    base_opts(&o);
    mutators[i].fn(&o);
    CHECK((p = stv_test_pod(&fx->s, &o)) >= 0);
    if (fx->s.pods[p].cls != ids[i]) fprintf(stderr, "  %s: interned anew\n", mutators[i].what);
    CHECK_EQ_INT(fx->s.pods[p].cls, ids[i]);
  }
  CHECK_EQ_INT(fx->s.nclasses, NMUT + 1);
}

STV_TEST_FX(should_copy_the_borrowed_arrays_of_a_new_class) {
  struct stv_snapshot *s = &fx->s;
  struct stv_label kv[2];
  const char *vals[1];
  struct stv_requirement req;
  struct stv_toleration tol;
  struct stv_class c, *got;
  uint32_t id, again;
  memset(&c, 0, sizeof(c));
  c.ns = stv_strpool_get(&s->pool, "shop");
  c.req[STV_RES_CPU] = 500;
  c.req[STV_RES_MEMORY] = 256 * MI;
  c.req[STV_RES_PODS] = 1;
  kv[0].key = stv_strpool_get(&s->pool, "app");
  kv[0].value = stv_strpool_get(&s->pool, "web");
  kv[1].key = stv_strpool_get(&s->pool, "tier");
  kv[1].value = stv_strpool_get(&s->pool, "frontend");
  c.labels.n = 2;
  c.labels.kv = kv;
  vals[0] = stv_strpool_get(&s->pool, "ssd");
  req.key = stv_strpool_get(&s->pool, "disktype");
  req.op = STV_OP_IN;
  req.nvalues = 1;
  req.values = vals;
  c.node_selector.n = 1;
  c.node_selector.reqs = &req;
  tol.key = stv_strpool_get(&s->pool, "dedicated");
  tol.exists = 1;
  tol.value = NULL;
  tol.effect = STV_EFFECT_NO_SCHEDULE;
  c.ntol = 1;
  c.tol = &tol;
  CHECK(stv_snapshot_intern_class(s, &c, &id) == 0);
  /* Scribble over the caller's arrays: the class must not change. */
  kv[0].value = stv_strpool_get(&s->pool, "api");
  vals[0] = stv_strpool_get(&s->pool, "hdd");
  tol.key = stv_strpool_get(&s->pool, "team");
  got = s->classes[id];
  CHECK(got->labels.kv != kv && got->node_selector.reqs != &req && got->tol != &tol);
  CHECK(strcmp(got->labels.kv[0].value, "web") == 0);
  CHECK(strcmp(got->node_selector.reqs[0].values[0], "ssd") == 0);
  CHECK(strcmp(got->tol[0].key, "dedicated") == 0);
  CHECK(strcmp(got->ns, "shop") == 0);
  CHECK_EQ_INT(got->req[STV_RES_CPU], 500);
  /* The changed description is a different class. */
  CHECK(stv_snapshot_intern_class(s, &c, &again) == 0);
  CHECK(again != id);
}

STV_TEST_FX(should_return_enomem_from_interning_and_stay_usable) {
  struct stv_test_pod_opts o;
  struct stv_class scratch;
  struct stv_snapshot *s = &fx->s;
  uint32_t id = 12345, before;
  long n;
  int rc = -1, p;
  /* A class to copy: interned once in a throwaway snapshot would do, but a
   * first class here also exercises the failure path of a non-empty table. */
  base_opts(&o);
  init_variants();
  CHECK((p = stv_test_pod(s, &o)) >= 0);
  scratch = *s->classes[s->pods[p].cls];
  scratch.req[STV_RES_CPU] += 1; /* a new class, arrays borrowed from the first */
  before = (uint32_t)s->nclasses;
  for (n = 0; n < 1000 && rc != 0; n++) {
    stv_alloc_fail_after(n);
    rc = stv_snapshot_intern_class(s, &scratch, &id);
    stv_alloc_fail_after(-1);
    if (rc != 0) {
      CHECK_EQ_INT(rc, STV_ENOMEM);
      CHECK_EQ_INT(s->nclasses, before);
    }
  }
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(id, before);
  CHECK_EQ_INT(s->nclasses, before + 1);
  /* Both classes are found again. */
  CHECK(stv_snapshot_intern_class(s, &scratch, &id) == 0);
  CHECK_EQ_INT(id, before);
  CHECK((p = stv_test_pod(s, &o)) >= 0);
  CHECK_EQ_INT(s->pods[p].cls, 0);
}

/* ---------------------------------------------------------------------- */
/* Nodes                                                                  */

STV_TEST_FX(should_reject_a_second_node_of_the_same_name_with_econflict) {
  struct stv_node n;
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 3920, .mem_mi = 15000, .zone = "us-east-1a") == 0);
  /* Same name, built from another buffer: still the same node name. */
  memset(&n, 0, sizeof(n));
  n.name = stv_strpool_get(&fx->s.pool, "ip-10-0-1-17");
  n.alloc[STV_RES_CPU] = 1930;
  CHECK_EQ_INT(stv_snapshot_add_node(&fx->s, &n), STV_ECONFLICT);
  CHECK_EQ_INT(fx->s.nnodes, 1);
  CHECK_EQ_INT(fx->s.nodes[0].alloc[STV_RES_CPU], 3920);
  CHECK_EQ_INT(NODE(.name = "ip-10-0-1-18", .cpu_m = 1930, .mem_mi = 7000), 1);
}

STV_TEST_FX(should_find_a_node_by_name) {
  char name[32];
  CHECK_EQ_INT(stv_snapshot_find_node(&fx->s, "ip-10-0-1-17"), -1);
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 3920, .mem_mi = 15000) == 0);
  CHECK(NODE(.name = "ip-10-0-2-33", .cpu_m = 3920, .mem_mi = 15000) == 1);
  /* The name need not be interned. */
  snprintf(name, sizeof(name), "ip-10-0-%d-%d", 2, 33);
  CHECK_EQ_INT(stv_snapshot_find_node(&fx->s, name), 1);
  CHECK_EQ_INT(stv_snapshot_find_node(&fx->s, "ip-10-0-1-17"), 0);
  CHECK_EQ_INT(stv_snapshot_find_node(&fx->s, "ip-10-0-3-1"), -1);
  CHECK_EQ_INT(stv_snapshot_find_node(&fx->s, ""), -1);
  /* A string that is interned but names no node. */
  CHECK(stv_strpool_get(&fx->s.pool, "default") != NULL);
  CHECK_EQ_INT(stv_snapshot_find_node(&fx->s, "default"), -1);
}

STV_TEST_FX(should_find_every_node_of_a_large_snapshot) {
  char name[32];
  int i;
  for (i = 0; i < 700; i++) {
    snprintf(name, sizeof(name), "node-%03d", i);
    CHECK_EQ_INT(NODE(.name = name, .cpu_m = 7910, .mem_mi = 30000), i);
  }
  for (i = 0; i < 700; i++) {
    snprintf(name, sizeof(name), "node-%03d", i);
    CHECK_EQ_INT(stv_snapshot_find_node(&fx->s, name), i);
  }
  CHECK_EQ_INT(stv_snapshot_find_node(&fx->s, "node-700"), -1);
}

STV_TEST_FX(should_copy_the_borrowed_labels_and_taints_of_a_node) {
  struct stv_snapshot *s = &fx->s;
  struct stv_label kv[1];
  struct stv_taint t[1];
  struct stv_node n;
  memset(&n, 0, sizeof(n));
  kv[0].key = stv_strpool_get(&s->pool, STV_TEST_ZONE_KEY);
  kv[0].value = stv_strpool_get(&s->pool, "us-east-1a");
  t[0].key = stv_strpool_get(&s->pool, "dedicated");
  t[0].value = stv_strpool_get(&s->pool, "gpu");
  t[0].effect = STV_EFFECT_NO_SCHEDULE;
  n.name = stv_strpool_get(&s->pool, "ip-10-0-1-17");
  n.labels.n = 1;
  n.labels.kv = kv;
  n.ntaints = 1;
  n.taints = t;
  n.alloc[STV_RES_CPU] = 3920;
  CHECK(stv_snapshot_add_node(s, &n) == 0);
  kv[0].value = stv_strpool_get(&s->pool, "us-east-1b");
  t[0].key = stv_strpool_get(&s->pool, "team");
  CHECK(strcmp(stv_labels_get(&s->nodes[0].labels, STV_TEST_ZONE_KEY), "us-east-1a") == 0);
  CHECK_EQ_INT(s->nodes[0].ntaints, 1);
  CHECK(strcmp(s->nodes[0].taints[0].key, "dedicated") == 0);
}

/* ---------------------------------------------------------------------- */
/* stv_snapshot_finish                                                    */

STV_TEST_FX(should_resolve_bindings_by_node_name_when_finishing) {
  struct stv_err err = {0, ""};
  int p;
  /* The pod is read before its node, as a snapshot stream may order them. */
  CHECK((p = POD(.name = "web-0", .cpu_m = 500, .mem_mi = 256, .node_name = "ip-10-0-2-33")) >= 0);
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 3920, .mem_mi = 15000) == 0);
  CHECK(NODE(.name = "ip-10-0-2-33", .cpu_m = 3920, .mem_mi = 15000) == 1);
  CHECK_EQ_INT(stv_snapshot_finish(&fx->s, &err), 0);
  CHECK_EQ_INT(fx->s.pods[p].node, 1);
}

STV_TEST_FX(should_sum_the_requests_of_bound_pods_into_used) {
  struct stv_err err = {0, ""};
  const struct stv_node *n;
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 3920, .mem_mi = 15000, .zone = "us-east-1a") == 0);
  CHECK(NODE(.name = "ip-10-0-2-33", .cpu_m = 3920, .mem_mi = 15000, .zone = "us-east-1b") == 1);
  CHECK(POD(.name = "web", .cpu_m = 250, .mem_mi = 512, .count = 2, .node_name = "ip-10-0-1-17",
            .phase = STV_PHASE_RUNNING) >= 0);
  CHECK(POD(.name = "api", .cpu_m = 1000, .mem_mi = 2048, .eph_mi = 4096, .res = "nvidia.com/gpu",
            .res_qty = 1, .node_name = "ip-10-0-1-17") >= 0);
  /* Finished pods hold nothing; pending pods are not on the node yet. */
  CHECK(POD(.name = "job", .cpu_m = 2000, .mem_mi = 4096, .node_name = "ip-10-0-1-17",
            .phase = STV_PHASE_SUCCEEDED) >= 0);
  CHECK(POD(.name = "crashed", .cpu_m = 2000, .mem_mi = 4096, .node_name = "ip-10-0-1-17",
            .phase = STV_PHASE_FAILED) >= 0);
  CHECK(POD(.name = "pending", .cpu_m = 2000, .mem_mi = 4096) >= 0);
  CHECK(POD(.name = "other", .cpu_m = 100, .mem_mi = 128, .node_name = "ip-10-0-2-33") >= 0);
  CHECK_EQ_INT(stv_snapshot_finish(&fx->s, &err), 0);
  n = &fx->s.nodes[0];
  CHECK_EQ_INT(n->used[STV_RES_CPU], 1500);
  CHECK_EQ_INT(n->used[STV_RES_MEMORY], 3072 * MI);
  CHECK_EQ_INT(n->used[STV_RES_EPHEMERAL], 4096 * MI);
  CHECK_EQ_INT(n->used[STV_RES_PODS], 3);
  CHECK_EQ_INT(n->used[stv_resnames_index(&fx->s.res, &fx->s.pool, "nvidia.com/gpu", 0)], 1);
  n = &fx->s.nodes[1];
  CHECK_EQ_INT(n->used[STV_RES_CPU], 100);
  CHECK_EQ_INT(n->used[STV_RES_MEMORY], 128 * MI);
  CHECK_EQ_INT(n->used[STV_RES_PODS], 1);
}

STV_TEST_FX(should_count_pods_and_pending_pods_per_class) {
  struct stv_err err = {0, ""};
  const struct stv_class *web, *api;
  int w, a;
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 3920, .mem_mi = 15000) == 0);
  CHECK((w = POD(.name = "web", .cpu_m = 250, .mem_mi = 512, .labels = {{"app", "web"}}, .count = 3)) >= 0);
  CHECK(POD(.name = "web-bound", .cpu_m = 250, .mem_mi = 512, .labels = {{"app", "web"}},
            .node_name = "ip-10-0-1-17") >= 0);
  CHECK(POD(.name = "web-done", .cpu_m = 250, .mem_mi = 512, .labels = {{"app", "web"}},
            .phase = STV_PHASE_SUCCEEDED) >= 0);
  CHECK((a = POD(.name = "api", .cpu_m = 500, .mem_mi = 1024, .labels = {{"app", "api"}},
                 .node_name = "ip-10-0-1-17")) >= 0);
  CHECK_EQ_INT(stv_snapshot_finish(&fx->s, &err), 0);
  web = fx->s.classes[fx->s.pods[w].cls];
  api = fx->s.classes[fx->s.pods[a].cls];
  CHECK_EQ_INT(web->npods, 4);
  CHECK_EQ_INT(web->npending, 3);
  CHECK_EQ_INT(api->npods, 1);
  CHECK_EQ_INT(api->npending, 0);
  CHECK_EQ_INT(fx->s.pods[w].node, -1);
}

STV_TEST_FX(should_leave_out_a_pod_whose_node_is_missing_neither_pending_nor_bound) {
  struct stv_err err = {0, ""};
  int w;
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 3920, .mem_mi = 15000) == 0);
  w = POD(.ns = "shop", .name = "web-7d9f-x2k4q", .cpu_m = 250, .mem_mi = 512, .node_name = "ip-10-0-9-99");
  CHECK(w >= 0);
  CHECK_EQ_INT(stv_snapshot_finish(&fx->s, &err), 0);
  CHECK_EQ_INT(fx->s.pods[w].node, -1);
  CHECK(fx->s.pods[w].flags & STV_POD_NODE_MISSING);
  CHECK_EQ_INT(fx->s.classes[fx->s.pods[w].cls]->npending, 0);
  CHECK_EQ_INT(fx->s.classes[fx->s.pods[w].cls]->npods, 0);
  CHECK(fx->s.nodes[0].used[STV_RES_CPU] == 0);
}

/* ---------------------------------------------------------------------- */
/* Resource names                                                         */

TEST(should_start_with_the_four_fixed_resource_names) {
  struct stv_strpool pool;
  struct stv_resnames r;
  int ok;
  stv_strpool_init(&pool);
  ok = stv_resnames_init(&r, &pool) == 0 && r.n == STV_RES_FIXED &&
       strcmp(r.name[STV_RES_CPU], "cpu") == 0 && strcmp(r.name[STV_RES_MEMORY], "memory") == 0 &&
       strcmp(r.name[STV_RES_EPHEMERAL], "ephemeral-storage") == 0 &&
       strcmp(r.name[STV_RES_PODS], "pods") == 0 &&
       stv_resnames_index(&r, &pool, "cpu", 0) == STV_RES_CPU &&
       stv_resnames_index(&r, &pool, "memory", 1) == STV_RES_MEMORY &&
       stv_resnames_index(&r, &pool, "ephemeral-storage", 0) == STV_RES_EPHEMERAL &&
       stv_resnames_index(&r, &pool, "pods", 0) == STV_RES_PODS && r.n == STV_RES_FIXED &&
       r.name[STV_RES_CPU] == stv_strpool_get(&pool, "cpu");
  stv_strpool_close(&pool);
  CHECK(ok);
}

TEST(should_add_resource_names_only_when_asked) {
  struct stv_strpool pool;
  struct stv_resnames r;
  int gpu, gpu2, huge, missing;
  stv_strpool_init(&pool);
  CHECK(stv_resnames_init(&r, &pool) == 0);
  missing = stv_resnames_index(&r, &pool, "nvidia.com/gpu", 0);
  gpu = stv_resnames_index(&r, &pool, "nvidia.com/gpu", 1);
  huge = stv_resnames_index(&r, &pool, "hugepages-2Mi", 1);
  gpu2 = stv_resnames_index(&r, &pool, "nvidia.com/gpu", 0);
  CHECK(r.n == 6 && r.name[4] == stv_strpool_get(&pool, "nvidia.com/gpu"));
  stv_strpool_close(&pool);
  CHECK_EQ_INT(missing, STV_ENOTFOUND);
  CHECK_EQ_INT(gpu, 4);
  CHECK_EQ_INT(huge, 5);
  CHECK_EQ_INT(gpu2, 4);
}

TEST(should_fail_with_elimit_at_the_seventeenth_resource_name) {
  struct stv_strpool pool;
  struct stv_resnames r;
  char name[32];
  int i, rc = 0, bad = 0;
  stv_strpool_init(&pool);
  CHECK(stv_resnames_init(&r, &pool) == 0);
  for (i = STV_RES_FIXED; i < STV_MAX_RES; i++) {
    snprintf(name, sizeof(name), "example.com/res-%d", i);
    if (stv_resnames_index(&r, &pool, name, 1) != i) bad++;
  }
  rc = stv_resnames_index(&r, &pool, "example.com/one-too-many", 1);
  /* The table is intact: old names found, the refused one not added. */
  if (r.n != STV_MAX_RES) bad++;
  if (stv_resnames_index(&r, &pool, "example.com/res-15", 0) != 15) bad++;
  if (stv_resnames_index(&r, &pool, "cpu", 1) != STV_RES_CPU) bad++;
  if (stv_resnames_index(&r, &pool, "example.com/one-too-many", 0) != STV_ENOTFOUND) bad++;
  stv_strpool_close(&pool);
  CHECK_EQ_INT(rc, STV_ELIMIT);
  CHECK_EQ_INT(bad, 0);
}

/* ---------------------------------------------------------------------- */
/* Capacity types                                                         */

TEST(should_round_trip_capacity_type_names) {
  enum stv_capacity_type ct = STV_CT_COUNT;
  int i;
  for (i = 0; i < STV_CT_COUNT; i++) {
    CHECK_EQ_INT(stv_capacity_type_parse(stv_capacity_type_name((enum stv_capacity_type)i), &ct), 0);
    CHECK_EQ_INT(ct, i);
  }
  CHECK(strcmp(stv_capacity_type_name(STV_CT_ON_DEMAND), "on-demand") == 0);
  CHECK(strcmp(stv_capacity_type_name(STV_CT_SPOT), "spot") == 0);
  CHECK(strcmp(stv_capacity_type_name(STV_CT_RESERVED), "reserved") == 0);
  CHECK_EQ_INT(stv_capacity_type_parse("OnDemand", &ct), STV_EINVAL);
  CHECK_EQ_INT(stv_capacity_type_parse("", &ct), STV_EINVAL);
}

TEST(should_promote_the_preferred_zone_rules_of_a_class_and_keep_hostname_ones_preferred) {
  struct stv_snapshot s;
  struct stv_class c;
  struct stv_label lab;
  struct stv_requirement r;
  struct stv_spread sa;
  struct stv_pod_term pa[3];
  const char *web, *values[1], *others[1];
  const struct stv_class *p;
  uint32_t id, pid, again;
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  memset(&c, 0, sizeof(c));
  memset(pa, 0, sizeof(pa));
  web = stv_strpool_get(&s.pool, "web");
  values[0] = web;
  others[0] = stv_strpool_get(&s.pool, "search");
  lab = (struct stv_label){stv_strpool_get(&s.pool, "app"), web};
  r = (struct stv_requirement){lab.key, STV_OP_IN, 1, values};
  c.ns = stv_strpool_get(&s.pool, "shop");
  c.labels = (struct stv_labels){1, &lab};
  c.example = "shop/web-0";
  /* ScheduleAnyway on the zone, maxSkew 2. */
  sa = (struct stv_spread){2, stv_strpool_get(&s.pool, STV_TEST_ZONE_KEY), 0, {1, &r}, 0, 0, 1, 0};
  c.nspread = 1;
  c.spread = &sa;
  /* Preferred anti-affinity: own replicas by zone, own replicas by hostname, another namespace by zone. */
  pa[0].sel = (struct stv_selector){1, &r};
  pa[0].topology_key = sa.topology_key;
  pa[1].sel = (struct stv_selector){1, &r};
  pa[1].topology_key = stv_strpool_get(&s.pool, "kubernetes.io/hostname");
  pa[2].sel = (struct stv_selector){1, &r};
  pa[2].topology_key = sa.topology_key;
  pa[2].nns = 1;
  pa[2].namespaces = others;
  c.npanti = 3;
  c.panti = pa;
  CHECK_EQ_INT(stv_snapshot_intern_class(&s, &c, &id), 0);
  CHECK_EQ_INT(stv_snapshot_promote_class(&s, id, &pid), 0);
  CHECK(pid != id);
  p = s.classes[pid];
  CHECK_EQ_INT(p->nspread, 2);
  CHECK_EQ_INT(p->spread[0].do_not_schedule, 1);
  CHECK_EQ_INT(p->spread[0].max_skew, 2);
  CHECK_EQ_INT(p->spread[1].do_not_schedule, 1);
  CHECK_EQ_INT(p->spread[1].max_skew, 1);
  CHECK(p->spread[1].topology_key == sa.topology_key);
  CHECK_EQ_INT(p->nanti, 1); /* the other namespace's term: required anti-affinity */
  CHECK_EQ_INT(p->anti[0].nns, 1);
  CHECK_EQ_INT(p->npanti, 1); /* the hostname term stays a preference */
  CHECK(strcmp(p->panti[0].topology_key, "kubernetes.io/hostname") == 0);
  /* The original class is untouched, and a promoted class has nothing left to promote. */
  CHECK_EQ_INT(s.classes[id]->spread[0].do_not_schedule, 0);
  CHECK_EQ_INT(s.classes[id]->npanti, 3);
  CHECK_EQ_INT(stv_snapshot_promote_class(&s, pid, &again), 0);
  CHECK_EQ_INT(again, pid);
  stv_snapshot_close(&s);
}

TEST(should_leave_a_class_without_zone_preferences_as_it_is) {
  struct stv_snapshot s;
  struct stv_class c;
  uint32_t id, pid;
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  memset(&c, 0, sizeof(c));
  c.ns = stv_strpool_get(&s.pool, "shop");
  c.example = "shop/api-0";
  CHECK_EQ_INT(stv_snapshot_intern_class(&s, &c, &id), 0);
  CHECK_EQ_INT(stv_snapshot_promote_class(&s, id, &pid), 0);
  CHECK_EQ_INT(pid, id);
  CHECK_EQ_INT(s.nclasses, 1);
  stv_snapshot_close(&s);
}
