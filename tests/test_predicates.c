/*
 * Tests of the scheduling predicates: label selectors, required node
 * affinity, taints and tolerations, cordoned nodes, and which namespaces a
 * pod (anti-)affinity term covers. Expected behaviour follows
 * kube-scheduler (NodeAffinity, TaintToleration, NodeUnschedulable) and
 * k8s.io/apimachinery label selectors.
 */
#include "builders.h"
#include "harness.h"
#include "packer.h"

/* Literal model values, valid for the enclosing block. */
#define VALUES(...) (const char *[]){__VA_ARGS__}
#define NVALUES(...) (uint32_t)(sizeof(VALUES(__VA_ARGS__)) / sizeof(const char *))
#define REQ(k, op, ...) \
  ((struct stv_requirement){(k), (op), NVALUES(__VA_ARGS__), VALUES(__VA_ARGS__)})
#define REQ0(k, op) ((struct stv_requirement){(k), (op), 0, NULL})
#define SEL(...)                                                                     \
  ((struct stv_selector){                                                            \
      (uint32_t)(sizeof((struct stv_requirement[]){__VA_ARGS__}) /                   \
                 sizeof(struct stv_requirement)),                                    \
      (struct stv_requirement[]){__VA_ARGS__}})
/* Labels must be written sorted by key. */
#define LABELS(...)                                                                         \
  ((struct stv_labels){                                                                     \
      (uint32_t)(sizeof((struct stv_label[]){__VA_ARGS__}) / sizeof(struct stv_label)),     \
      (struct stv_label[]){__VA_ARGS__}})

static const struct stv_selector empty_sel = {0, NULL};
static const struct stv_labels no_labels = {0, NULL};

/* A pod class with no constraints at all (nothing else matters here). */
static struct stv_class plain_class(void) {
  struct stv_class c;
  memset(&c, 0, sizeof(c));
  c.ns = "default";
  c.req[STV_RES_CPU] = 500;
  c.req[STV_RES_MEMORY] = 512 * STV_TEST_MI;
  c.req[STV_RES_PODS] = 1;
  return c;
}

/* An existing node's view with the given labels and taints. */
static struct stv_node_view view(const char *name, const struct stv_labels *l,
                                 const struct stv_taint *t, uint32_t nt) {
  struct stv_node_view v;
  v.name = name;
  v.labels = l;
  v.ntaints = nt;
  v.taints = t;
  v.unschedulable = 0;
  return v;
}

/* ---------------------------------------------------------------------- */
/* Label selectors                                                        */

TEST(should_match_any_label_set_with_an_empty_selector) {
  struct stv_labels l = LABELS({"app", "web"});
  CHECK(stv_selector_matches(&empty_sel, &l));
  CHECK(stv_selector_matches(&empty_sel, &no_labels));
}

TEST(should_match_in_only_when_the_value_is_listed) {
  struct stv_selector s = SEL(REQ("tier", STV_OP_IN, "frontend", "backend"));
  struct stv_labels fe = LABELS({"app", "web"}, {"tier", "frontend"});
  struct stv_labels be = LABELS({"tier", "backend"});
  struct stv_labels db = LABELS({"tier", "db"});
  CHECK(stv_selector_matches(&s, &fe));
  CHECK(stv_selector_matches(&s, &be));
  CHECK(!stv_selector_matches(&s, &db));
  CHECK(!stv_selector_matches(&s, &no_labels));
}

TEST(should_match_not_in_when_the_value_is_not_listed_or_the_key_is_absent) {
  struct stv_selector s = SEL(REQ("tier", STV_OP_NOT_IN, "db", "cache"));
  struct stv_labels fe = LABELS({"tier", "frontend"});
  struct stv_labels db = LABELS({"tier", "db"});
  struct stv_labels other = LABELS({"app", "web"});
  CHECK(stv_selector_matches(&s, &fe));
  CHECK(!stv_selector_matches(&s, &db));
  CHECK(stv_selector_matches(&s, &other));
  CHECK(stv_selector_matches(&s, &no_labels));
}

TEST(should_match_exists_on_any_value_including_the_empty_one) {
  struct stv_selector s = SEL(REQ0("gpu", STV_OP_EXISTS));
  struct stv_labels some = LABELS({"gpu", "a100"});
  struct stv_labels blank = LABELS({"gpu", ""});
  struct stv_labels other = LABELS({"cpu", "x86"});
  CHECK(stv_selector_matches(&s, &some));
  CHECK(stv_selector_matches(&s, &blank));
  CHECK(!stv_selector_matches(&s, &other));
  CHECK(!stv_selector_matches(&s, &no_labels));
}

TEST(should_match_does_not_exist_only_when_the_key_is_absent) {
  struct stv_selector s = SEL(REQ0("gpu", STV_OP_DOES_NOT_EXIST));
  struct stv_labels some = LABELS({"gpu", "a100"});
  struct stv_labels blank = LABELS({"gpu", ""});
  struct stv_labels other = LABELS({"cpu", "x86"});
  CHECK(!stv_selector_matches(&s, &some));
  CHECK(!stv_selector_matches(&s, &blank));
  CHECK(stv_selector_matches(&s, &other));
  CHECK(stv_selector_matches(&s, &no_labels));
}

TEST(should_compare_gt_and_lt_as_integers) {
  struct stv_selector gt = SEL(REQ("cores", STV_OP_GT, "8"));
  struct stv_selector lt = SEL(REQ("cores", STV_OP_LT, "8"));
  struct stv_labels c16 = LABELS({"cores", "16"});
  struct stv_labels c8 = LABELS({"cores", "8"});
  struct stv_labels c4 = LABELS({"cores", "4"});
  struct stv_labels c10 = LABELS({"cores", "10"}); /* "10" < "8" as text */
  struct stv_labels neg = LABELS({"cores", "-3"});
  CHECK(stv_selector_matches(&gt, &c16));
  CHECK(stv_selector_matches(&gt, &c10));
  CHECK(!stv_selector_matches(&gt, &c8));
  CHECK(!stv_selector_matches(&gt, &c4));
  CHECK(stv_selector_matches(&lt, &c4));
  CHECK(stv_selector_matches(&lt, &neg));
  CHECK(!stv_selector_matches(&lt, &c8));
  CHECK(!stv_selector_matches(&lt, &c10));
  CHECK(!stv_selector_matches(&gt, &no_labels));
  CHECK(!stv_selector_matches(&lt, &no_labels));
}

TEST(should_never_match_gt_or_lt_on_a_non_integer_label_value) {
  static const char *const bad[] = {"1.5", "abc", "", "8x", "0x10", "1e3", "99999999999999999999"};
  struct stv_selector gt = SEL(REQ("cores", STV_OP_GT, "0"));
  struct stv_selector lt = SEL(REQ("cores", STV_OP_LT, "100"));
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct stv_labels l = LABELS({"cores", bad[i]});
    if (stv_selector_matches(&gt, &l) || stv_selector_matches(&lt, &l)) {
      fprintf(stderr, "  value \"%s\" matched Gt/Lt\n", bad[i]);
      CHECK(0);
    }
  }
}

TEST(should_never_match_gt_or_lt_with_a_non_integer_or_missing_operand) {
  struct stv_labels l = LABELS({"cores", "16"});
  struct stv_selector frac = SEL(REQ("cores", STV_OP_GT, "1.5"));
  struct stv_selector word = SEL(REQ("cores", STV_OP_LT, "many"));
  struct stv_selector two = SEL(REQ("cores", STV_OP_GT, "1", "2"));
  struct stv_selector none = SEL(REQ0("cores", STV_OP_GT));
  CHECK(!stv_selector_matches(&frac, &l));
  CHECK(!stv_selector_matches(&word, &l));
  CHECK(!stv_selector_matches(&two, &l));
  CHECK(!stv_selector_matches(&none, &l));
}

TEST(should_require_every_requirement_of_a_selector) {
  struct stv_selector s =
      SEL(REQ("app", STV_OP_IN, "web"), REQ0("canary", STV_OP_DOES_NOT_EXIST),
          REQ("tier", STV_OP_NOT_IN, "db"));
  struct stv_labels ok = LABELS({"app", "web"}, {"tier", "frontend"});
  struct stv_labels canary = LABELS({"app", "web"}, {"canary", "true"});
  struct stv_labels db = LABELS({"app", "web"}, {"tier", "db"});
  struct stv_labels api = LABELS({"app", "api"});
  CHECK(stv_selector_matches(&s, &ok));
  CHECK(!stv_selector_matches(&s, &canary));
  CHECK(!stv_selector_matches(&s, &db));
  CHECK(!stv_selector_matches(&s, &api));
}

/* ---------------------------------------------------------------------- */
/* stv_labels_get                                                         */

TEST(should_get_the_value_of_a_present_label) {
  struct stv_labels l =
      LABELS({"app", "web"}, {"kubernetes.io/hostname", "ip-10-0-1-17"},
             {"node.kubernetes.io/instance-type", "m5.large"}, {"tier", ""},
             {"topology.kubernetes.io/zone", "us-east-1a"});
  char key[64];
  CHECK(strcmp(stv_labels_get(&l, "app"), "web") == 0);
  CHECK(strcmp(stv_labels_get(&l, "topology.kubernetes.io/zone"), "us-east-1a") == 0);
  CHECK(strcmp(stv_labels_get(&l, "node.kubernetes.io/instance-type"), "m5.large") == 0);
  CHECK(strcmp(stv_labels_get(&l, "tier"), "") == 0);
  /* The key need not be interned nor a literal. */
  snprintf(key, sizeof(key), "%s/%s", "kubernetes.io", "hostname");
  CHECK(strcmp(stv_labels_get(&l, key), "ip-10-0-1-17") == 0);
}

TEST(should_get_null_for_an_absent_label) {
  struct stv_labels l = LABELS({"app", "web"}, {"tier", "frontend"});
  CHECK(stv_labels_get(&l, "zone") == NULL);
  CHECK(stv_labels_get(&l, "aaa") == NULL);
  CHECK(stv_labels_get(&l, "zzz") == NULL);
  CHECK(stv_labels_get(&l, "") == NULL);
  CHECK(stv_labels_get(&no_labels, "app") == NULL);
}

/* ---------------------------------------------------------------------- */
/* Node selector and required node affinity                               */

TEST(should_require_the_node_selector_on_the_node) {
  struct stv_class c = plain_class();
  struct stv_labels a = LABELS({"disktype", "ssd"}, {"topology.kubernetes.io/zone", "us-east-1a"});
  struct stv_labels b = LABELS({"disktype", "hdd"}, {"topology.kubernetes.io/zone", "us-east-1a"});
  struct stv_node_view va = view("n-a", &a, NULL, 0), vb = view("n-b", &b, NULL, 0);
  char why[160] = "";
  c.node_selector = SEL(REQ("disktype", STV_OP_IN, "ssd"));
  CHECK(stv_class_fits_node(&c, &va, why, sizeof(why)));
  CHECK(!stv_class_fits_node(&c, &vb, why, sizeof(why)));
  CHECK_STR_CONTAINS(why, "disktype");
}

TEST(should_accept_a_node_that_matches_any_node_affinity_term) {
  struct stv_class c = plain_class();
  struct stv_node_term terms[2];
  struct stv_labels a = LABELS({"topology.kubernetes.io/zone", "us-east-1a"});
  struct stv_labels b = LABELS({"node.kubernetes.io/instance-type", "c5.xlarge"},
                               {"topology.kubernetes.io/zone", "us-east-1b"});
  struct stv_labels d = LABELS({"topology.kubernetes.io/zone", "us-east-1d"});
  struct stv_node_view va = view("n-a", &a, NULL, 0), vb = view("n-b", &b, NULL, 0),
                       vd = view("n-d", &d, NULL, 0);
  char why[160] = "";
  memset(terms, 0, sizeof(terms));
  terms[0].exprs = SEL(REQ("topology.kubernetes.io/zone", STV_OP_IN, "us-east-1a"));
  terms[1].exprs = SEL(REQ("node.kubernetes.io/instance-type", STV_OP_IN, "c5.xlarge"));
  c.affinity.n = 2;
  c.affinity.terms = terms;
  CHECK(stv_class_fits_node(&c, &va, NULL, 0));
  CHECK(stv_class_fits_node(&c, &vb, NULL, 0));
  CHECK(!stv_class_fits_node(&c, &vd, why, sizeof(why)));
  CHECK_STR_CONTAINS(why, "affinity");
}

TEST(should_and_the_expressions_within_one_node_affinity_term) {
  struct stv_class c = plain_class();
  struct stv_node_term term;
  struct stv_labels both = LABELS({"node.kubernetes.io/instance-type", "c5.xlarge"},
                                  {"topology.kubernetes.io/zone", "us-east-1a"});
  struct stv_labels one = LABELS({"node.kubernetes.io/instance-type", "m5.xlarge"},
                                 {"topology.kubernetes.io/zone", "us-east-1a"});
  struct stv_node_view vb = view("n-b", &both, NULL, 0), vo = view("n-o", &one, NULL, 0);
  memset(&term, 0, sizeof(term));
  term.exprs = SEL(REQ("topology.kubernetes.io/zone", STV_OP_IN, "us-east-1a"),
                   REQ("node.kubernetes.io/instance-type", STV_OP_IN, "c5.xlarge"));
  c.affinity.n = 1;
  c.affinity.terms = &term;
  CHECK(stv_class_fits_node(&c, &vb, NULL, 0));
  CHECK(!stv_class_fits_node(&c, &vo, NULL, 0));
}

TEST(should_let_an_empty_node_affinity_term_match_nothing) {
  struct stv_class c = plain_class();
  struct stv_node_term terms[2];
  struct stv_labels a = LABELS({"topology.kubernetes.io/zone", "us-east-1a"});
  struct stv_labels b = LABELS({"topology.kubernetes.io/zone", "us-east-1b"});
  struct stv_node_view va = view("n-a", &a, NULL, 0), vb = view("n-b", &b, NULL, 0),
                       vnone = view("n-none", &no_labels, NULL, 0);
  memset(terms, 0, sizeof(terms));
  /* Only an empty term: no node at all. */
  c.affinity.n = 1;
  c.affinity.terms = terms;
  CHECK(!stv_class_fits_node(&c, &va, NULL, 0));
  CHECK(!stv_class_fits_node(&c, &vnone, NULL, 0));
  /* An empty term beside a real one adds nothing. */
  terms[1].exprs = SEL(REQ("topology.kubernetes.io/zone", STV_OP_IN, "us-east-1a"));
  c.affinity.n = 2;
  CHECK(stv_class_fits_node(&c, &va, NULL, 0));
  CHECK(!stv_class_fits_node(&c, &vb, NULL, 0));
}

TEST(should_impose_nothing_without_node_affinity_terms) {
  struct stv_class c = plain_class();
  struct stv_node_view v = view("n-1", &no_labels, NULL, 0);
  CHECK(stv_class_fits_node(&c, &v, NULL, 0));
}

TEST(should_match_fields_on_the_node_name) {
  struct stv_class c = plain_class();
  struct stv_node_term term;
  struct stv_labels l = LABELS({"topology.kubernetes.io/zone", "us-east-1a"});
  struct stv_node_view n1 = view("ip-10-0-1-17", &l, NULL, 0),
                       n2 = view("ip-10-0-2-33", &l, NULL, 0);
  memset(&term, 0, sizeof(term));
  term.fields = SEL(REQ("metadata.name", STV_OP_IN, "ip-10-0-1-17"));
  c.affinity.n = 1;
  c.affinity.terms = &term;
  CHECK(stv_class_fits_node(&c, &n1, NULL, 0));
  CHECK(!stv_class_fits_node(&c, &n2, NULL, 0));
  term.fields = SEL(REQ("metadata.name", STV_OP_NOT_IN, "ip-10-0-1-17"));
  CHECK(!stv_class_fits_node(&c, &n1, NULL, 0));
  CHECK(stv_class_fits_node(&c, &n2, NULL, 0));
}

TEST(should_treat_a_template_as_a_node_no_match_fields_name_lists) {
  struct stv_class c = plain_class();
  struct stv_node_term term;
  struct stv_labels l = LABELS({"topology.kubernetes.io/zone", "us-east-1a"});
  struct stv_node_view t = view(NULL, &l, NULL, 0);
  memset(&term, 0, sizeof(term));
  c.affinity.n = 1;
  c.affinity.terms = &term;
  /* A node that does not exist yet is none of the names listed. */
  term.fields = SEL(REQ("metadata.name", STV_OP_IN, "ip-10-0-1-17"));
  CHECK(!stv_class_fits_node(&c, &t, NULL, 0));
  term.fields = SEL(REQ("metadata.name", STV_OP_NOT_IN, "ip-10-0-1-17"));
  CHECK(stv_class_fits_node(&c, &t, NULL, 0));
  /* Both in one term: the In still excludes it. */
  term.fields = SEL(REQ("metadata.name", STV_OP_NOT_IN, "ip-10-0-1-17"),
                    REQ("metadata.name", STV_OP_IN, "ip-10-0-2-33"));
  CHECK(!stv_class_fits_node(&c, &t, NULL, 0));
}

TEST(should_and_match_fields_with_match_expressions_in_one_term) {
  struct stv_class c = plain_class();
  struct stv_node_term term;
  struct stv_labels a = LABELS({"topology.kubernetes.io/zone", "us-east-1a"});
  struct stv_labels b = LABELS({"topology.kubernetes.io/zone", "us-east-1b"});
  struct stv_node_view na = view("ip-10-0-1-17", &a, NULL, 0),
                       nb = view("ip-10-0-1-17", &b, NULL, 0);
  memset(&term, 0, sizeof(term));
  term.exprs = SEL(REQ("topology.kubernetes.io/zone", STV_OP_IN, "us-east-1a"));
  term.fields = SEL(REQ("metadata.name", STV_OP_IN, "ip-10-0-1-17"));
  c.affinity.n = 1;
  c.affinity.terms = &term;
  CHECK(stv_class_fits_node(&c, &na, NULL, 0));
  CHECK(!stv_class_fits_node(&c, &nb, NULL, 0));
}

TEST(should_not_match_fields_other_than_metadata_name) {
  struct stv_class c = plain_class();
  struct stv_node_term term;
  struct stv_node_view n = view("ip-10-0-1-17", &no_labels, NULL, 0);
  memset(&term, 0, sizeof(term));
  term.fields = SEL(REQ("spec.providerID", STV_OP_IN, "ip-10-0-1-17"));
  c.affinity.n = 1;
  c.affinity.terms = &term;
  CHECK(!stv_class_fits_node(&c, &n, NULL, 0));
}

/* ---------------------------------------------------------------------- */
/* Taints and tolerations                                                 */

TEST(should_reject_an_untolerated_no_schedule_or_no_execute_taint) {
  struct stv_class c = plain_class();
  struct stv_taint ns = {"dedicated", "gpu", STV_EFFECT_NO_SCHEDULE};
  struct stv_taint ne = {"node.kubernetes.io/not-ready", "", STV_EFFECT_NO_EXECUTE};
  struct stv_node_view v1 = view("n-1", &no_labels, &ns, 1), v2 = view("n-2", &no_labels, &ne, 1);
  char why[160] = "";
  CHECK(!stv_class_fits_node(&c, &v1, why, sizeof(why)));
  CHECK_STR_CONTAINS(why, "dedicated");
  CHECK(!stv_class_fits_node(&c, &v2, why, sizeof(why)));
  CHECK_STR_CONTAINS(why, "node.kubernetes.io/not-ready");
}

TEST(should_ignore_prefer_no_schedule_taints) {
  struct stv_class c = plain_class();
  struct stv_taint t = {"spot", "true", STV_EFFECT_PREFER_NO_SCHEDULE};
  struct stv_node_view v = view("n-1", &no_labels, &t, 1);
  CHECK(stv_class_fits_node(&c, &v, NULL, 0));
}

TEST(should_tolerate_every_taint_with_exists_and_no_key) {
  struct stv_toleration all = {NULL, 1, NULL, STV_EFFECT_ALL};
  struct stv_taint t[3] = {{"dedicated", "gpu", STV_EFFECT_NO_SCHEDULE},
                           {"node.kubernetes.io/unreachable", "", STV_EFFECT_NO_EXECUTE},
                           {"spot", "true", STV_EFFECT_PREFER_NO_SCHEDULE}};
  struct stv_class c = plain_class();
  struct stv_node_view v = view("n-1", &no_labels, t, 3);
  CHECK(stv_tolerates(&all, 1, &t[0]));
  CHECK(stv_tolerates(&all, 1, &t[1]));
  CHECK(stv_tolerates(&all, 1, &t[2]));
  c.ntol = 1;
  c.tol = &all;
  CHECK(stv_class_fits_node(&c, &v, NULL, 0));
}

TEST(should_limit_exists_with_no_key_to_its_effect) {
  struct stv_toleration ns_only = {NULL, 1, NULL, STV_EFFECT_NO_SCHEDULE};
  struct stv_taint ns = {"dedicated", "gpu", STV_EFFECT_NO_SCHEDULE};
  struct stv_taint ne = {"dedicated", "gpu", STV_EFFECT_NO_EXECUTE};
  CHECK(stv_tolerates(&ns_only, 1, &ns));
  CHECK(!stv_tolerates(&ns_only, 1, &ne));
}

TEST(should_tolerate_a_key_with_exists_whatever_its_value) {
  struct stv_toleration t = {"dedicated", 1, NULL, STV_EFFECT_ALL};
  struct stv_taint gpu = {"dedicated", "gpu", STV_EFFECT_NO_SCHEDULE};
  struct stv_taint blank = {"dedicated", "", STV_EFFECT_NO_EXECUTE};
  struct stv_taint other = {"team", "gpu", STV_EFFECT_NO_SCHEDULE};
  CHECK(stv_tolerates(&t, 1, &gpu));
  CHECK(stv_tolerates(&t, 1, &blank));
  CHECK(!stv_tolerates(&t, 1, &other));
}

TEST(should_tolerate_with_equal_only_on_the_same_key_and_value) {
  struct stv_toleration t = {"dedicated", 0, "gpu", STV_EFFECT_ALL};
  struct stv_toleration blank = {"dedicated", 0, NULL, STV_EFFECT_ALL};
  struct stv_taint gpu = {"dedicated", "gpu", STV_EFFECT_NO_SCHEDULE};
  struct stv_taint ml = {"dedicated", "ml", STV_EFFECT_NO_SCHEDULE};
  struct stv_taint no_value = {"dedicated", "", STV_EFFECT_NO_SCHEDULE};
  struct stv_taint other = {"team", "gpu", STV_EFFECT_NO_SCHEDULE};
  CHECK(stv_tolerates(&t, 1, &gpu));
  CHECK(!stv_tolerates(&t, 1, &ml));
  CHECK(!stv_tolerates(&t, 1, &no_value));
  CHECK(!stv_tolerates(&t, 1, &other));
  /* An absent value equals an empty one. */
  CHECK(stv_tolerates(&blank, 1, &no_value));
  CHECK(!stv_tolerates(&blank, 1, &gpu));
}

TEST(should_tolerate_only_the_effect_a_toleration_names) {
  struct stv_toleration t = {"dedicated", 0, "gpu", STV_EFFECT_NO_SCHEDULE};
  struct stv_taint ns = {"dedicated", "gpu", STV_EFFECT_NO_SCHEDULE};
  struct stv_taint ne = {"dedicated", "gpu", STV_EFFECT_NO_EXECUTE};
  struct stv_class c = plain_class();
  struct stv_node_view v = view("n-1", &no_labels, &ne, 1);
  CHECK(stv_tolerates(&t, 1, &ns));
  CHECK(!stv_tolerates(&t, 1, &ne));
  c.ntol = 1;
  c.tol = &t;
  CHECK(!stv_class_fits_node(&c, &v, NULL, 0));
}

TEST(should_tolerate_when_any_toleration_of_the_list_does) {
  struct stv_toleration t[2] = {{"team", 0, "payments", STV_EFFECT_ALL},
                                {"dedicated", 1, NULL, STV_EFFECT_NO_SCHEDULE}};
  struct stv_taint ded = {"dedicated", "gpu", STV_EFFECT_NO_SCHEDULE};
  struct stv_taint team = {"team", "payments", STV_EFFECT_NO_EXECUTE};
  struct stv_taint other = {"team", "search", STV_EFFECT_NO_SCHEDULE};
  CHECK(stv_tolerates(t, 2, &ded));
  CHECK(stv_tolerates(t, 2, &team));
  CHECK(!stv_tolerates(t, 2, &other));
  CHECK(!stv_tolerates(t, 0, &ded));
}

TEST(should_require_every_hard_taint_of_a_node_to_be_tolerated) {
  struct stv_taint taints[2] = {{"dedicated", "gpu", STV_EFFECT_NO_SCHEDULE},
                                {"team", "ml", STV_EFFECT_NO_SCHEDULE}};
  struct stv_toleration one = {"dedicated", 0, "gpu", STV_EFFECT_ALL};
  struct stv_toleration both[2] = {{"dedicated", 0, "gpu", STV_EFFECT_ALL},
                                   {"team", 1, NULL, STV_EFFECT_ALL}};
  struct stv_class c = plain_class();
  struct stv_node_view v = view("n-1", &no_labels, taints, 2);
  char why[160] = "";
  c.ntol = 1;
  c.tol = &one;
  CHECK(!stv_class_fits_node(&c, &v, why, sizeof(why)));
  CHECK_STR_CONTAINS(why, "team");
  c.ntol = 2;
  c.tol = both;
  CHECK(stv_class_fits_node(&c, &v, NULL, 0));
}

/* ---------------------------------------------------------------------- */
/* Cordoned nodes                                                         */

TEST(should_reject_a_cordoned_node) {
  struct stv_class c = plain_class();
  struct stv_node_view v = view("ip-10-0-1-17", &no_labels, NULL, 0);
  char why[160] = "";
  v.unschedulable = 1;
  CHECK(!stv_class_fits_node(&c, &v, why, sizeof(why)));
  CHECK_STR_CONTAINS(why, "cordoned");
  CHECK_STR_CONTAINS(why, "ip-10-0-1-17");
}

/* ---------------------------------------------------------------------- */
/* Namespaces of pod (anti-)affinity terms                                */

/* A snapshot with Namespace items shop (team=retail) and search (team=search). */
static int ns_snapshot(struct stv_snapshot *s) {
  static const struct stv_test_kv retail[] = {{"team", "retail"}};
  static const struct stv_test_kv search[] = {{"team", "search"}};
  int rc = stv_snapshot_init(s);
  if (rc == 0) rc = stv_test_namespace(s, "shop", retail, 1);
  if (rc == 0) rc = stv_test_namespace(s, "search", search, 1);
  return rc;
}

TEST(should_cover_only_the_pods_own_namespace_by_default) {
  struct stv_snapshot s;
  struct stv_pod_term t;
  int ok;
  CHECK(ns_snapshot(&s) == 0);
  memset(&t, 0, sizeof(t));
  t.topology_key = STV_TEST_HOST_KEY;
  ok = stv_term_covers_ns(&s, &t, "shop", "shop") && !stv_term_covers_ns(&s, &t, "shop", "search") &&
       !stv_term_covers_ns(&s, &t, "shop", "default") && stv_term_covers_ns(&s, &t, "default", "default");
  stv_snapshot_close(&s);
  CHECK(ok);
}

TEST(should_cover_exactly_the_listed_namespaces) {
  struct stv_snapshot s;
  struct stv_pod_term t;
  int ok;
  CHECK(ns_snapshot(&s) == 0);
  memset(&t, 0, sizeof(t));
  t.topology_key = STV_TEST_HOST_KEY;
  t.nns = 2;
  t.namespaces = VALUES("search", "payments");
  ok = stv_term_covers_ns(&s, &t, "shop", "search") && stv_term_covers_ns(&s, &t, "shop", "payments") &&
       !stv_term_covers_ns(&s, &t, "shop", "shop") && !stv_term_covers_ns(&s, &t, "shop", "default");
  stv_snapshot_close(&s);
  CHECK(ok);
}

TEST(should_cover_namespaces_whose_labels_match_the_namespace_selector) {
  struct stv_snapshot s;
  struct stv_pod_term t;
  int ok;
  CHECK(ns_snapshot(&s) == 0);
  memset(&t, 0, sizeof(t));
  t.topology_key = STV_TEST_HOST_KEY;
  t.has_ns_sel = 1;
  t.ns_sel = SEL(REQ("team", STV_OP_IN, "retail"));
  ok = stv_term_covers_ns(&s, &t, "search", "shop") && !stv_term_covers_ns(&s, &t, "search", "search") &&
       !stv_term_covers_ns(&s, &t, "search", "unknown");
  stv_snapshot_close(&s);
  CHECK(ok);
}

TEST(should_cover_every_namespace_with_an_empty_namespace_selector) {
  struct stv_snapshot s;
  struct stv_pod_term t;
  int ok;
  CHECK(ns_snapshot(&s) == 0);
  memset(&t, 0, sizeof(t));
  t.topology_key = STV_TEST_ZONE_KEY;
  t.has_ns_sel = 1;
  ok = stv_term_covers_ns(&s, &t, "shop", "shop") && stv_term_covers_ns(&s, &t, "shop", "search") &&
       stv_term_covers_ns(&s, &t, "shop", "kube-system");
  stv_snapshot_close(&s);
  CHECK(ok);
}

TEST(should_match_a_namespace_without_an_item_by_its_metadata_name_label) {
  struct stv_snapshot s;
  struct stv_pod_term t;
  int ok;
  CHECK(ns_snapshot(&s) == 0);
  memset(&t, 0, sizeof(t));
  t.topology_key = STV_TEST_HOST_KEY;
  t.has_ns_sel = 1;
  t.ns_sel = SEL(REQ("kubernetes.io/metadata.name", STV_OP_IN, "monitoring", "shop"));
  ok = stv_term_covers_ns(&s, &t, "default", "monitoring") && stv_term_covers_ns(&s, &t, "default", "shop") &&
       !stv_term_covers_ns(&s, &t, "default", "logging");
  stv_snapshot_close(&s);
  CHECK(ok);
}

TEST(should_cover_the_union_of_listed_and_selected_namespaces) {
  struct stv_snapshot s;
  struct stv_pod_term t;
  int ok;
  CHECK(ns_snapshot(&s) == 0);
  memset(&t, 0, sizeof(t));
  t.topology_key = STV_TEST_HOST_KEY;
  t.nns = 1;
  t.namespaces = VALUES("payments");
  t.has_ns_sel = 1;
  t.ns_sel = SEL(REQ("team", STV_OP_IN, "search"));
  ok = stv_term_covers_ns(&s, &t, "shop", "payments") && stv_term_covers_ns(&s, &t, "shop", "search") &&
       !stv_term_covers_ns(&s, &t, "shop", "shop");
  stv_snapshot_close(&s);
  CHECK(ok);
}

/* ---------------------------------------------------------------------- */
/* Cordoned nodes and the unschedulable toleration (NodeUnschedulable)    */

TEST(should_let_a_pod_tolerating_the_unschedulable_taint_onto_a_cordoned_node) {
  struct stv_class c = plain_class();
  struct stv_toleration exists = {"node.kubernetes.io/unschedulable", 1, NULL, STV_EFFECT_NO_SCHEDULE};
  struct stv_toleration everything = {NULL, 1, NULL, STV_EFFECT_ALL};
  struct stv_toleration other_effect = {"node.kubernetes.io/unschedulable", 1, NULL, STV_EFFECT_NO_EXECUTE};
  struct stv_toleration other_key = {"node.kubernetes.io/not-ready", 1, NULL, STV_EFFECT_NO_SCHEDULE};
  struct stv_node_view v = view("ip-10-0-1-17", &no_labels, NULL, 0);
  char why[160] = "";
  v.unschedulable = 1;
  c.ntol = 1;
  c.tol = &exists;
  CHECK(stv_class_fits_node(&c, &v, why, sizeof(why)));
  c.tol = &everything;
  CHECK(stv_class_fits_node(&c, &v, why, sizeof(why)));
  c.tol = &other_effect;
  CHECK(!stv_class_fits_node(&c, &v, why, sizeof(why)));
  CHECK_STR_CONTAINS(why, "cordoned");
  c.tol = &other_key;
  CHECK(!stv_class_fits_node(&c, &v, why, sizeof(why)));
}

TEST(should_still_apply_the_other_predicates_to_a_tolerated_cordoned_node) {
  struct stv_class c = plain_class();
  struct stv_toleration tol = {"node.kubernetes.io/unschedulable", 1, NULL, STV_EFFECT_NO_SCHEDULE};
  struct stv_taint t = {"node.kubernetes.io/not-ready", "", STV_EFFECT_NO_SCHEDULE};
  struct stv_node_view v = view("ip-10-0-1-17", &no_labels, &t, 1);
  char why[160] = "";
  v.unschedulable = 1;
  c.ntol = 1;
  c.tol = &tol;
  CHECK(!stv_class_fits_node(&c, &v, why, sizeof(why)));
  CHECK_STR_CONTAINS(why, "node.kubernetes.io/not-ready");
}

TEST(should_recognise_only_the_reserved_host_port_label_keys) {
  CHECK(stv_label_is_host_port(STV_HOST_PORT_LABEL_PREFIX "TCP/8080"));
  CHECK(stv_label_is_host_port(STV_HOST_PORT_LABEL_PREFIX "UDP/53@10.0.0.1"));
  CHECK(!stv_label_is_host_port("stevedore.io/host-port"));
  CHECK(!stv_label_is_host_port("app.kubernetes.io/name"));
}
