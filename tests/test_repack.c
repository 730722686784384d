/*
 * The what-if repack (controller/cli/repack.c) and the pieces it adds to the
 * packer and the catalogue: stv_snapshot_set_nodes, stv_catalog_price.
 * Snapshots are written to temporary files from small JSON texts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "harness.h"
#include "pricing.h"

#define CATALOG STV_SOURCE_ROOT "/tests/data/tiny_catalog.json"

#define NODE(name, type)                                                                  \
  "{\"kind\":\"Node\",\"metadata\":{\"name\":\"" name                                     \
  "\",\"labels\":{\"node.kubernetes.io/instance-type\":\"" type                           \
  "\",\"topology.kubernetes.io/zone\":\"us-east-1a\",\"kubernetes.io/arch\":\"amd64\"}}," \
  "\"status\":{\"allocatable\":{\"cpu\":\"4\",\"memory\":\"16Gi\",\"pods\":\"110\"}}}"

#define POD_META(name, extra)                        \
  "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"" name \
  "\",\"namespace\":\"default\",\"labels\":{\"app\":\"web\"}" extra "}"

#define OWNED \
  ",\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web-1\",\"uid\":\"u1\",\"controller\":true}]"

#define POD(name, node, extra)                                                          \
  POD_META(name, extra)                                                                 \
  ",\"spec\":{\"nodeName\":\"" node "\",\"containers\":[{\"name\":\"c\",\"resources\":" \
  "{\"requests\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]},\"status\":{\"phase\":\"Running\"}}"

/* Writes text to a fresh temporary file; its name goes to path. */
static int write_tmp(const char *text, char *path, size_t size) {
  int fd;
  FILE *f;
  snprintf(path, size, "/tmp/stv_test_repack_XXXXXX");
  if ((fd = mkstemp(path)) < 0) return -1;
  if ((f = fdopen(fd, "w")) == NULL) {
    close(fd);
    return -1;
  }
  fputs(text, f);
  return fclose(f);
}

/* Runs the repack on text; r must be closed by the caller. */
static int run(const char *text, struct stv_recommend_result *r) {
  char path[64];
  const char *snaps[1];
  struct stv_recommend_args a;
  struct stv_err err = {0, ""};
  int rc;
  if (write_tmp(text, path, sizeof(path)) != 0) return -1;
  snaps[0] = path;
  memset(&a, 0, sizeof(a));
  a.snapshots = snaps;
  a.nsnapshots = 1;
  a.catalog = CATALOG;
  a.allowed = (1u << STV_CT_RESERVED) | (1u << STV_CT_ON_DEMAND);
  a.time_limit = 0;
  a.repack = 1;
  rc = stv_recommend_run(&a, r, &err);
  if (rc != 0) fprintf(stderr, "  %s\n", err.msg);
  unlink(path);
  return rc;
}

static const struct stv_repack_node *node_named(const struct stv_recommend_result *r, const char *name) {
  size_t i;
  for (i = 0; i < r->repack.nnodes; i++)
    if (strcmp(r->repack.nodes[i].name, name) == 0) return &r->repack.rn[i];
  return NULL;
}

TEST(should_price_a_node_by_type_capacity_type_and_zone_and_say_why_not) {
  struct stv_catalog c;
  struct stv_err err = {0, ""};
  double price = -1;
  int mean = -1;
  char why[200];
  CHECK_EQ_INT(stv_catalog_load(&c, CATALOG, &err), 0);
  CHECK_EQ_INT(
      stv_catalog_price(&c, "c.large", STV_CT_ON_DEMAND, "us-east-1a", &price, &mean, why, sizeof(why)), 0);
  CHECK(fabs(price - 0.15) < 1e-12 && mean == 0);
  CHECK_EQ_INT(stv_catalog_price(&c, "c.large", STV_CT_SPOT, "us-east-1z", &price, &mean, why, sizeof(why)),
               0);
  CHECK(fabs(price - 0.07) < 1e-12 && mean == 1);
  CHECK_EQ_INT(stv_catalog_price(&c, "x.huge", STV_CT_ON_DEMAND, NULL, &price, &mean, why, sizeof(why)),
               STV_ENOTFOUND);
  CHECK_STR_CONTAINS(why, "x.huge");
  CHECK_EQ_INT(stv_catalog_price(&c, "c.large", STV_CT_RESERVED, NULL, &price, &mean, why, sizeof(why)),
               STV_ENOTFOUND);
  CHECK_STR_CONTAINS(why, "reserved");
  stv_catalog_close(&c);
}

TEST(should_find_nodes_by_name_after_their_set_is_replaced) {
  struct stv_snapshot s;
  struct stv_node n, keep[2];
  const char *names[3] = {"a", "b", "c"};
  size_t i;
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  for (i = 0; i < 3; i++) {
    memset(&n, 0, sizeof(n));
    n.name = stv_strpool_intern(&s.pool, names[i], strlen(names[i]));
    CHECK(n.name != NULL);
    CHECK_EQ_INT(stv_snapshot_add_node(&s, &n), 0);
  }
  keep[0] = s.nodes[2];
  keep[1] = s.nodes[0];
  CHECK_EQ_INT(stv_snapshot_set_nodes(&s, keep, 2), 0);
  CHECK_EQ_INT(s.nnodes, 2);
  CHECK_EQ_INT(stv_snapshot_find_node(&s, "c"), 0);
  CHECK_EQ_INT(stv_snapshot_find_node(&s, "a"), 1);
  CHECK_EQ_INT(stv_snapshot_find_node(&s, "b"), -1);
  keep[1] = keep[0];
  CHECK_EQ_INT(stv_snapshot_set_nodes(&s, keep, 2), STV_ECONFLICT);
  stv_snapshot_close(&s);
}

TEST(should_repack_half_empty_nodes_onto_fewer_and_keep_the_do_not_disrupt_node) {
  static const char text[] =
      "{\"kind\":\"List\",\"items\":[" NODE("n0", "c.large") "," NODE("n1", "c.large") "," NODE(
          "n2",
          "c.large") "," NODE("n3",
                              "c.large") "," POD("p0", "n0",
                                                 OWNED) "," POD("p1", "n1",
                                                                OWNED) "," POD("p2", "n2",
                                                                               OWNED) "," POD("p3", "n3",
                                                                                              OWNED ",\"annot"
                                                                                                    "ations\""
                                                                                                    ":{"
                                                                                                    "\"steved"
                                                                                                    "ore.io/"
                                                                                                    "do-not-"
                                                                                                    "disrupt"
                                                                                                    "\":"
                                                                                                    "\"true\""
                                                                                                    "}") "]}";
  struct stv_recommend_result r;
  const struct stv_repack_node *n3;
  size_t i, removed = 0;
  CHECK_EQ_INT(run(text, &r), 0);
  CHECK(r.have_repack);
  CHECK(fabs(r.repack.current_hourly - 0.60) < 1e-9);
  CHECK((n3 = node_named(&r, "n3")) != NULL);
  CHECK_EQ_INT(n3->action, STV_REPACK_KEEP);
  CHECK_EQ_INT(n3->keep, STV_KEEP_UNMOVABLE);
  CHECK_STR_CONTAINS(n3->why, "do-not-disrupt");
  for (i = 0; i < r.repack.nnodes; i++)
    if (r.repack.rn[i].action != STV_REPACK_KEEP) removed++;
  CHECK_EQ_INT(removed, 3);
  CHECK_EQ_INT(r.repack.pods_moved, 3);
  CHECK(fabs(r.repack.proposed_hourly - 0.15) < 1e-9);
  CHECK(fabs(r.repack.monthly_savings - 0.45 * 730) < 1e-6);
  CHECK_EQ_INT(r.plan.nunsched, 0);
  stv_recommend_result_close(&r);
}

TEST(should_keep_the_node_of_a_bare_pod_and_report_an_unpriced_node) {
  static const char text[] = "{\"kind\":\"List\",\"items\":[" NODE("n0", "c.large") "," NODE(
      "odd", "z.unknown") "," NODE("n1", "c.large") "," POD("bare", "n0", "") "," POD("p1", "n1", OWNED) "]}";
  struct stv_recommend_result r;
  const struct stv_repack_node *x;
  CHECK_EQ_INT(run(text, &r), 0);
  CHECK((x = node_named(&r, "n0")) != NULL);
  CHECK_EQ_INT(x->keep, STV_KEEP_UNMOVABLE);
  CHECK_STR_CONTAINS(x->why, "no controller owner");
  CHECK((x = node_named(&r, "odd")) != NULL);
  CHECK_EQ_INT(x->keep, STV_KEEP_UNPRICED);
  CHECK(!x->priced);
  CHECK_EQ_INT(r.repack.nunpriced, 1);
  CHECK((x = node_named(&r, "n1")) != NULL);
  CHECK_EQ_INT(x->action, STV_REPACK_REMOVE); /* p1 fits beside the bare pod */
  CHECK(fabs(r.repack.current_hourly - 0.30) < 1e-9);
  CHECK(fabs(r.repack.proposed_hourly - 0.15) < 1e-9);
  stv_recommend_result_close(&r);
}

#define SYSTEM_POD(name, node)                                                                         \
  "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"" name "\",\"namespace\":\"kube-system\",\"labels\":"    \
  "{\"k8s-app\":\"kube-dns\"},\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"coredns-1\","   \
  "\"uid\":\"u2\",\"controller\":true}]},\"spec\":{\"nodeName\":\"" node "\",\"priorityClassName\":"   \
  "\"system-cluster-critical\",\"priority\":2000000000,\"containers\":[{\"name\":\"c\",\"resources\":" \
  "{\"requests\":{\"cpu\":\"100m\",\"memory\":\"70Mi\"}}}]},\"status\":{\"phase\":\"Running\"}}"

/* As run(), with system_pods as --repack-system-pods. */
static int run_system(const char *text, int system_pods, struct stv_recommend_result *r) {
  char path[64];
  const char *snaps[1];
  struct stv_recommend_args a;
  struct stv_err err = {0, ""};
  int rc;
  if (write_tmp(text, path, sizeof(path)) != 0) return -1;
  snaps[0] = path;
  memset(&a, 0, sizeof(a));
  a.snapshots = snaps;
  a.nsnapshots = 1;
  a.catalog = CATALOG;
  a.allowed = (1u << STV_CT_RESERVED) | (1u << STV_CT_ON_DEMAND);
  a.repack = 1;
  a.repack_system_pods = system_pods;
  rc = stv_recommend_run(&a, r, &err);
  if (rc != 0) fprintf(stderr, "  %s\n", err.msg);
  unlink(path);
  return rc;
}

TEST(should_keep_system_critical_pods_unless_asked_to_move_them) {
  static const char text[] = "{\"kind\":\"List\",\"items\":[" NODE("n0", "c.large") "," NODE(
      "n1", "c.large") "," SYSTEM_POD("coredns-1-a", "n0") "," POD("p1", "n1", OWNED) "]}";
  struct stv_recommend_result r;
  const struct stv_repack_node *x;
  CHECK_EQ_INT(run_system(text, 0, &r), 0);
  CHECK((x = node_named(&r, "n0")) != NULL);
  CHECK_EQ_INT(x->keep, STV_KEEP_UNMOVABLE);
  CHECK_STR_CONTAINS(x->why, "system-cluster-critical");
  CHECK_STR_CONTAINS(x->why, "--repack-system-pods");
  CHECK_EQ_INT(r.repack.system_pods_kept, 1);
  CHECK_EQ_INT(r.repack.system_pods_moved, 0);
  CHECK_EQ_INT(node_named(&r, "n1")->action, STV_REPACK_REMOVE);
  stv_recommend_result_close(&r);
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(run_system(text, 1, &r), 0);
  CHECK((x = node_named(&r, "n0")) != NULL);
  CHECK(x->keep != STV_KEEP_UNMOVABLE);
  CHECK_EQ_INT(r.repack.system_pods_kept, 0);
  CHECK_EQ_INT(r.repack.system_pods_moved, 1);
  stv_recommend_result_close(&r);
}
