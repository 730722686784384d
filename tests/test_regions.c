/*
 * Tests of the embedded catalogues of every region (pricing/embedded.c):
 * each loads with offerings; the decoder gives what the generator's JSON
 * gives; nearest names for a misspelt region; the region of a cluster's
 * nodes.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "pricing.h"

/* ---------------------------------------------------------------------- */
/* Every region                                                           */

TEST(should_load_every_embedded_region_with_offerings_in_each_type) {
  size_t i, n[3] = {0, 0, 0};
  for (i = 0; stv_catalog_embedded_name(i) != NULL; i++) {
    const char *name = stv_catalog_embedded_name(i);
    struct stv_catalog c;
    struct stv_err err = {0};
    size_t k, offerings = 0;
    int rc = stv_catalog_load(&c, name, &err);
    if (rc != 0) fprintf(stderr, "  %s: %s\n", name, err.msg);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) continue;
    CHECK(c.ntypes > 0);
    CHECK(strncmp(name, c.provider, strlen(c.provider)) == 0 &&
          strcmp(name + strlen(c.provider) + 1, c.region) == 0);
    for (k = 0; k < c.ntypes; k++) {
      CHECK(c.types[k].noff > 0);
      CHECK(stv_resource_get(c.types[k].capacity, c.types[k].nres, "cpu") > 0);
      CHECK(stv_resource_get(c.types[k].capacity, c.types[k].nres, "memory") > 0);
      offerings += c.types[k].noff;
    }
    CHECK(offerings > 0);
    n[strcmp(c.provider, "aws") == 0 ? 0 : strcmp(c.provider, "gcp") == 0 ? 1 : 2]++;
    stv_catalog_close(&c);
  }
  CHECK_EQ_INT(n[0], 34);
  CHECK_EQ_INT(n[1], 43);
  CHECK_EQ_INT(n[2], 57);
}

/* The on-demand price of type in the catalogue named spec, in any zone; -1 when absent. */
static double od_price(const char *spec, const char *type, size_t *left_out) {
  struct stv_catalog c;
  struct stv_err err = {0};
  double price = -1;
  int mean;
  if (stv_catalog_load(&c, spec, &err) != 0) {
    fprintf(stderr, "  %s: %s\n", spec, err.msg);
    return -2;
  }
  if (stv_catalog_price(&c, type, STV_CT_ON_DEMAND, NULL, &price, &mean, NULL, 0) != 0) price = -1;
  if (left_out != NULL) *left_out = c.left_out;
  stv_catalog_close(&c);
  return price;
}

TEST(should_price_as_the_sources_say_and_count_the_types_left_out) {
  size_t left = 99;
  CHECK(fabs(od_price("aws:eu-west-1", "m5.large", &left) - 0.107) < 1e-12);
  CHECK_EQ_INT(left, 14); /* old types whose architecture no source gives */
  CHECK(fabs(od_price("gcp:us-central1", "n2-standard-2", &left) - 0.097118) < 1e-12);
  CHECK_EQ_INT(left, 0);
  CHECK(fabs(od_price("azure:westeurope", "Standard_D4s_v5", &left) - 0.23) < 1e-12);
  CHECK_EQ_INT(left, 321); /* sizes without a published shape */
  /* A size without a shape is not loaded at all: no zero cpu or memory. */
  CHECK(od_price("azure:westeurope", "Standard_D2s_v7", NULL) == -1);
  CHECK(od_price("azure:westeurope", "Standard_B1ls", NULL) == -1); /* 0 GiB in the shape source */
}

/* ---------------------------------------------------------------------- */
/* The decoder against the generator                                      */

static void check_same_type(const struct stv_instance_type *a, const struct stv_instance_type *b,
                            int *stv__failed) {
  uint32_t i;
  CHECK(strcmp(a->name, b->name) == 0 && strcmp(a->arch, b->arch) == 0);
  CHECK_EQ_INT(a->nres, b->nres);
  for (i = 0; i < a->nres && i < b->nres; i++) {
    CHECK(strcmp(a->capacity[i].name, b->capacity[i].name) == 0);
    CHECK_EQ_INT(a->capacity[i].value, b->capacity[i].value);
    CHECK_EQ_INT(a->allocatable[i].value, b->allocatable[i].value);
  }
  CHECK_EQ_INT(a->labels.n, b->labels.n);
  for (i = 0; i < a->labels.n && i < b->labels.n; i++)
    CHECK(strcmp(a->labels.kv[i].key, b->labels.kv[i].key) == 0 &&
          strcmp(a->labels.kv[i].value, b->labels.kv[i].value) == 0);
  CHECK_EQ_INT(a->noff, b->noff);
  for (i = 0; i < a->noff && i < b->noff; i++) {
    CHECK(a->off[i].capacity_type == b->off[i].capacity_type && strcmp(a->off[i].zone, b->off[i].zone) == 0);
    CHECK(a->off[i].price == b->off[i].price && a->off[i].interruption_rate == b->off[i].interruption_rate);
  }
  CHECK(a->baseline == b->baseline && a->surplus_price == b->surplus_price);
}

/* Loads spec embedded and as the JSON gen_catalog.py --json writes for it; both must be equal. */
static void check_decoder(const char *spec, int *stv__failed) {
  char path[] = "/tmp/stv-regions-XXXXXX", cmd[1024];
  struct stv_catalog a, b;
  struct stv_err err = {0};
  size_t i;
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  close(fd);
  snprintf(cmd, sizeof(cmd),
           "python3 %s/pricing/gen_catalog.py --json --name %s --regions %s/pricing/data/regions -o %s "
           "aws:us-east-1 %s/pricing/data/aws-us-east-1.csv gcp:us-east1 %s/pricing/data/gcp-us-east1.csv",
           STV_SOURCE_ROOT, spec, STV_SOURCE_ROOT, path, STV_SOURCE_ROOT, STV_SOURCE_ROOT);
  CHECK_EQ_INT(system(cmd), 0);
  CHECK_EQ_INT(stv_catalog_load(&a, spec, &err), 0);
  CHECK_EQ_INT(stv_catalog_load(&b, path, &err), 0);
  CHECK(strcmp(a.provider, b.provider) == 0 && strcmp(a.region, b.region) == 0);
  CHECK_EQ_INT(a.ntypes, b.ntypes);
  for (i = 0; i < a.ntypes && i < b.ntypes && !*stv__failed; i++)
    check_same_type(&a.types[i], &b.types[i], stv__failed);
  stv_catalog_close(&a);
  stv_catalog_close(&b);
  unlink(path);
}

TEST(should_decode_each_cloud_as_the_generator_writes_it) {
  check_decoder("aws:us-east-1", stv__failed);    /* the Karpenter-priced region, with EKS allocatable */
  check_decoder("aws:eu-west-1", stv__failed);    /* advisor spot estimates, the extra shapes */
  check_decoder("gcp:us-east1", stv__failed);     /* from gcp-us-east1.csv */
  check_decoder("gcp:europe-west4", stv__failed); /* e2 shared-core baselines */
  check_decoder("azure:westeurope", stv__failed); /* zones westeurope-1..3, B-series */
  check_decoder("azure:westus", stv__failed);     /* no availability zones: zone "0" */
}

TEST(should_fail_cleanly_when_an_allocation_of_the_decoder_fails) {
  cJSON_Hooks hooks = {stv_malloc, stv_free};
  struct stv_catalog c;
  struct stv_err err = {0};
  long n;
  int rc;
  cJSON_InitHooks(&hooks);
  /* The decoder's own allocations come first; then the loader's. */
  for (n = 0; n < 60; n++) {
    stv_alloc_fail_after(n);
    rc = stv_catalog_load(&c, "aws:ap-southeast-4", &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) {
      stv_catalog_close(&c);
      break;
    }
    CHECK(rc == STV_ENOMEM || rc == STV_EPARSE);
    CHECK(c.mem.head == NULL && c.pool.block == NULL);
  }
  CHECK_EQ_INT(stv_catalog_load(&c, "aws:ap-southeast-4", &err), 0);
  stv_catalog_close(&c);
}

/* ---------------------------------------------------------------------- */
/* Names                                                                  */

TEST(should_name_the_nearest_regions_of_a_misspelt_one) {
  struct stv_catalog c;
  struct stv_err err = {0};
  CHECK_EQ_INT(stv_catalog_load(&c, "aws:eu-west-9", &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "did you mean eu-west-1, eu-west-2 or eu-west-3?");
  CHECK_EQ_INT(stv_catalog_load(&c, "gcp:europe-west44", &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "did you mean europe-west4?");
  CHECK_EQ_INT(stv_catalog_load(&c, "azure:West-Europe", &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "azure has no embedded region \"West-Europe\"");
  CHECK_STR_CONTAINS(err.msg, "57 azure regions are embedded");
  CHECK_EQ_INT(stv_catalog_load(&c, "aws:", &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "did you mean");
}

/* ---------------------------------------------------------------------- */
/* The cluster's region                                                   */

static int guess(const char *const *regions, const char *const *pids, size_t n, char *spec, char *note) {
  spec[0] = '\0';
  return stv_catalog_guess(regions, pids, n, spec, 64, note, 300);
}

TEST(should_choose_the_catalogue_of_the_nodes_region) {
  char spec[64], note[300];
  const char *eu[] = {"eu-west-1", NULL, "eu-west-1"};
  const char *gcp[] = {"europe-west4"};
  const char *mixed[] = {"eu-west-1", "eu-west-2"};
  const char *none[] = {NULL, NULL};
  const char *unknown[] = {"mars-1"};
  const char *aws_ids[] = {"aws:///eu-west-1a/i-1", NULL, "aws:///eu-west-1b/i-2"};
  const char *gce_ids[] = {"gce://p/europe-west4-a/n1", NULL, "azure:///subscriptions/x"};
  CHECK_EQ_INT(guess(eu, NULL, 3, spec, note), 0);
  CHECK(strcmp(spec, "aws:eu-west-1") == 0);
  CHECK_EQ_INT(guess(eu, aws_ids, 3, spec, note), 0);
  CHECK_STR_CONTAINS(note, "providerID aws");
  CHECK_EQ_INT(guess(gcp, NULL, 1, spec, note), 0);
  CHECK(strcmp(spec, "gcp:europe-west4") == 0);
  /* A providerID of another cloud than the region's: no such catalogue. */
  CHECK_EQ_INT(guess(eu, gce_ids, 1, spec, note), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(note, "region eu-west-1 of gcp has no embedded catalogue");
  CHECK_EQ_INT(guess(eu, gce_ids, 3, spec, note), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(note, "more than one cloud (gcp, azure)");
  CHECK_EQ_INT(guess(mixed, NULL, 2, spec, note), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(note, "more than one region (eu-west-1, eu-west-2)");
  CHECK_EQ_INT(guess(none, NULL, 2, spec, note), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(note, "no node has a topology.kubernetes.io/region label");
  CHECK_EQ_INT(guess(none, NULL, 0, spec, note), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(note, "no nodes");
  CHECK_EQ_INT(guess(unknown, NULL, 1, spec, note), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(note, "mars-1 has no embedded catalogue");
}

TEST(should_read_the_region_from_either_label) {
  struct stv_label new_kv[] = {{"topology.kubernetes.io/region", "westeurope"}};
  struct stv_label old_kv[] = {{"failure-domain.beta.kubernetes.io/region", "us-central1"}};
  struct stv_label both_kv[] = {{"failure-domain.beta.kubernetes.io/region", "old"},
                                {"topology.kubernetes.io/region", "new"}};
  struct stv_labels l;
  l.kv = new_kv;
  l.n = 1;
  CHECK(strcmp(stv_region_label(&l), "westeurope") == 0);
  l.kv = old_kv;
  CHECK(strcmp(stv_region_label(&l), "us-central1") == 0);
  l.kv = both_kv;
  l.n = 2;
  CHECK(strcmp(stv_region_label(&l), "new") == 0);
  l.n = 0;
  CHECK(stv_region_label(&l) == NULL);
}
