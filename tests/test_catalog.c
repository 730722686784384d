/* Tests of the pricing catalogue: loading, validation, node templates. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "pricing.h"

#define GI ((int64_t)1 << 30)
#define MI ((int64_t)1 << 20)

/* ---------------------------------------------------------------------- */
/* Fixtures                                                               */

static int load_text(struct stv_catalog *c, const char *text,
                     struct stv_err *err) {
  return stv_catalog_load_json(c, "cat.json", text, strlen(text), err);
}

static const struct stv_offering *find_offering(
    const struct stv_instance_type *t, enum stv_capacity_type ct,
    const char *zone) {
  uint32_t i;
  for (i = 0; i < t->noff; i++) {
    if (t->off[i].capacity_type == ct && strcmp(t->off[i].zone, zone) == 0)
      return &t->off[i];
  }
  return NULL;
}

static int64_t cap_of(const struct stv_instance_type *t, const char *name) {
  return stv_resource_get(t->capacity, t->nres, name);
}

static int64_t alloc_of(const struct stv_instance_type *t, const char *name) {
  return stv_resource_get(t->allocatable, t->nres, name);
}

static int labels_sorted_unique(const struct stv_labels *l) {
  uint32_t i;
  for (i = 1; i < l->n; i++) {
    if (strcmp(l->kv[i - 1].key, l->kv[i].key) >= 0) return 0;
  }
  return 1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A one-type catalogue whose type is spliced in from the arguments. */
static char *one_type(const char *capacity, const char *extra) {
  static char buf[2048];
  snprintf(buf, sizeof(buf),
           "{\"provider\": \"test\", \"region\": \"r1\", \"instance_types\": "
           "[{\"name\": \"t.small\", \"arch\": \"amd64\", \"capacity\": %s%s,"
           " \"offerings\": [{\"capacity_type\": \"on-demand\", \"zone\": "
           "\"r1a\", \"price\": 1.5}]}]}",
           capacity, extra);
  return buf;
}

/* ---------------------------------------------------------------------- */
/* Embedded catalogues                                                    */

TEST(should_load_the_embedded_aws_catalogue_with_every_priced_type) {
  struct stv_catalog c;
  struct stv_err err = {0};
  size_t i;
  CHECK_EQ_INT(stv_catalog_load(&c, "aws:us-east-1", &err), 0);
  CHECK(strcmp(c.provider, "aws") == 0);
  CHECK(strcmp(c.region, "us-east-1") == 0);
  CHECK(strcmp(c.currency, "USD") == 0);
  CHECK(c.ntypes > 1300);
  /* 1,363 rows, of which 18 have neither an on-demand nor a spot price. */
  CHECK_EQ_INT(c.ntypes, 1345);
  for (i = 1; i < c.ntypes; i++) {
    CHECK(strcmp(c.types[i - 1].name, c.types[i].name) < 0);
  }
  for (i = 0; i < c.ntypes; i++) {
    CHECK(labels_sorted_unique(&c.types[i].labels));
    CHECK(c.types[i].noff > 0);
  }
  CHECK(stv_catalog_find(&c, "hpc7a.96xlarge") == NULL); /* no price */
  CHECK(stv_catalog_find(&c, "no.such") == NULL);
  stv_catalog_close(&c);
}

TEST(should_give_m5_large_its_eks_allocatable_and_prices) {
  struct stv_catalog c;
  struct stv_err err = {0};
  const struct stv_instance_type *t;
  static const char *zones[] = {"us-east-1a", "us-east-1b", "us-east-1c"};
  int z;
  CHECK_EQ_INT(stv_catalog_load(&c, "aws:us-east-1", &err), 0);
  t = stv_catalog_find(&c, "m5.large");
  CHECK(t != NULL);
  CHECK(strcmp(t->arch, "amd64") == 0);
  CHECK_EQ_INT(cap_of(t, "cpu"), 2000);
  CHECK_EQ_INT(cap_of(t, "memory"), 8 * GI);
  CHECK_EQ_INT(cap_of(t, "pods"), 29);
  CHECK_EQ_INT(alloc_of(t, "cpu"), 1930);
  CHECK_EQ_INT(alloc_of(t, "memory"), 6903 * MI);
  CHECK_EQ_INT(alloc_of(t, "pods"), 29);
  CHECK_EQ_INT(cap_of(t, "ephemeral-storage"), 20 * GI);
  CHECK_EQ_INT(alloc_of(t, "ephemeral-storage"), 18 * GI);
  /* Fixed resources first, in packer order; same order on both sides. */
  CHECK_EQ_INT(t->nres, 4);
  CHECK(strcmp(t->capacity[0].name, "cpu") == 0);
  CHECK(strcmp(t->capacity[1].name, "memory") == 0);
  CHECK(strcmp(t->capacity[2].name, "ephemeral-storage") == 0);
  CHECK(strcmp(t->capacity[3].name, "pods") == 0);
  CHECK(t->allocatable[3].name == t->capacity[3].name);
  CHECK_EQ_INT(t->noff, 6);
  for (z = 0; z < 3; z++) {
    const struct stv_offering *o = find_offering(t, STV_CT_ON_DEMAND, zones[z]);
    CHECK(o != NULL);
    CHECK(o->price == 0.096);
    CHECK(o->interruption_rate < 0);
    CHECK_EQ_INT(o->count, -1);
    o = find_offering(t, STV_CT_SPOT, zones[z]);
    CHECK(o != NULL);
    CHECK(o->price == 0.03264);
    CHECK(o->interruption_rate == 0.175); /* the 15-20% bucket */
  }
  CHECK(strcmp(stv_labels_get(&t->labels, "karpenter.k8s.aws/instance-family"),
               "m5") == 0);
  CHECK(strcmp(stv_labels_get(&t->labels, "karpenter.k8s.aws/instance-size"),
               "large") == 0);
  CHECK(strcmp(stv_labels_get(&t->labels, "karpenter.k8s.aws/instance-cpu"),
               "2") == 0);
  CHECK(strcmp(stv_labels_get(&t->labels, "karpenter.k8s.aws/instance-memory"),
               "8192") == 0);
  CHECK(stv_labels_get(&t->labels, "karpenter.k8s.aws/instance-gpu-name") ==
        NULL);
  stv_catalog_close(&c);
}

TEST(should_give_gpu_types_their_extended_resource) {
  struct stv_catalog c;
  struct stv_err err = {0};
  const struct stv_instance_type *t;
  CHECK_EQ_INT(stv_catalog_load(&c, "aws:us-east-1", &err), 0);
  t = stv_catalog_find(&c, "p4d.24xlarge");
  CHECK(t != NULL);
  CHECK_EQ_INT(cap_of(t, "nvidia.com/gpu"), 8);
  CHECK_EQ_INT(alloc_of(t, "nvidia.com/gpu"), 8);
  CHECK(strcmp(t->capacity[t->nres - 1].name, "nvidia.com/gpu") == 0);
  CHECK(
      strcmp(stv_labels_get(&t->labels, "karpenter.k8s.aws/instance-gpu-name"),
             "a100") == 0);
  CHECK(
      strcmp(stv_labels_get(&t->labels, "karpenter.k8s.aws/instance-gpu-count"),
             "8") == 0);
  t = stv_catalog_find(&c, "g4ad.xlarge"); /* AMD Radeon Pro V520 */
  CHECK(t != NULL);
  CHECK_EQ_INT(cap_of(t, "amd.com/gpu"), 1);
  CHECK_EQ_INT(cap_of(t, "nvidia.com/gpu"), 0);
  t = stv_catalog_find(&c, "g6f.large"); /* a fraction of an L4: no device */
  CHECK(t != NULL);
  CHECK_EQ_INT(cap_of(t, "nvidia.com/gpu"), 0);
  CHECK(
      strcmp(stv_labels_get(&t->labels, "karpenter.k8s.aws/instance-gpu-name"),
             "l4") == 0);
  stv_catalog_close(&c);
}

TEST(should_load_the_embedded_gcp_catalogue_with_computed_allocatable) {
  struct stv_catalog c;
  struct stv_err err = {0};
  const struct stv_instance_type *t;
  const struct stv_offering *o;
  CHECK_EQ_INT(stv_catalog_load(&c, "gcp:us-east1", &err), 0);
  CHECK(strcmp(c.provider, "gcp") == 0);
  CHECK_EQ_INT(c.ntypes, 493);
  t = stv_catalog_find(&c, "n2-standard-2");
  CHECK(t != NULL);
  CHECK(strcmp(t->arch, "amd64") == 0);
  CHECK_EQ_INT(cap_of(t, "cpu"), 2000);
  CHECK_EQ_INT(alloc_of(t, "cpu"), 1930);
  CHECK_EQ_INT(cap_of(t, "memory"), 8 * GI);
  /* 8 GiB - 25% of 4 GiB - 20% of 4 GiB (rounded up) - 100Mi. */
  CHECK_EQ_INT(alloc_of(t, "memory"), 6552341708);
  CHECK_EQ_INT(cap_of(t, "pods"), 110);
  CHECK_EQ_INT(alloc_of(t, "pods"), 110);
  CHECK_EQ_INT(cap_of(t, "ephemeral-storage"), 100 * GI);
  CHECK_EQ_INT(alloc_of(t, "ephemeral-storage"), 90 * GI);
  o = find_offering(t, STV_CT_SPOT, "us-east1-c");
  CHECK(o != NULL);
  CHECK(o->interruption_rate < 0); /* GCP publishes none */
  CHECK(find_offering(t, STV_CT_ON_DEMAND, "us-east1-d") != NULL);
  CHECK(strcmp(stv_labels_get(&t->labels, "cloud.google.com/machine-family"),
               "n2") == 0);

  t = stv_catalog_find(&c, "c4a-standard-8");
  CHECK(t != NULL);
  CHECK(strcmp(t->arch, "arm64") == 0);
  t = stv_catalog_find(&c, "e2-micro"); /* shared core: 2 vCPUs sustaining a quarter of one */
  CHECK(t != NULL);
  CHECK_EQ_INT(cap_of(t, "cpu"), 2000);
  CHECK_EQ_INT(alloc_of(t, "cpu"), 1930);
  CHECK(fabs(t->baseline - 0.125) < 1e-12 && t->surplus_price < 0);
  t = stv_catalog_find(&c, "a2-highgpu-1g");
  CHECK(t != NULL);
  CHECK_EQ_INT(cap_of(t, "nvidia.com/gpu"), 1);
  CHECK(strcmp(stv_labels_get(&t->labels, "cloud.google.com/gke-accelerator"),
               "nvidia-tesla-a100") == 0);
  stv_catalog_close(&c);
}

TEST(should_list_the_embedded_catalogues_when_a_name_is_unknown) {
  struct stv_catalog c;
  struct stv_err err = {0};
  size_t n = 0;
  CHECK_EQ_INT(stv_catalog_load(&c, "azure:eastus9", &err), STV_ENOTFOUND);
  CHECK_EQ_INT(err.code, STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "azure:eastus9");
  CHECK_STR_CONTAINS(err.msg, "did you mean eastus or eastus2?");
  CHECK_EQ_INT(stv_catalog_load(&c, "oracle:us-ashburn-1", &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "aws:REGION, gcp:REGION or azure:REGION");
  CHECK(strcmp(stv_catalog_embedded_name(0), "aws:us-east-1") == 0);
  CHECK(strcmp(stv_catalog_embedded_name(1), "gcp:us-east1") == 0);
  while (stv_catalog_embedded_name(n) != NULL) n++;
  CHECK_EQ_INT(n, 34 + 43 + 57); /* every region of pricing/data/regions/ */
  stv_catalog_close(&c); /* harmless after a failed load */
}

TEST(should_load_the_embedded_aws_catalogue_in_a_few_milliseconds) {
  struct stv_catalog c;
  struct stv_err err = {0};
  double best = 1e9;
  int i;
  for (i = 0; i < 5; i++) {
    double t0 = now_ms(), dt;
    CHECK_EQ_INT(stv_catalog_load(&c, "aws:us-east-1", &err), 0);
    dt = now_ms() - t0;
    if (dt < best) best = dt;
    stv_catalog_close(&c);
  }
  fprintf(stderr, "  aws:us-east-1 loads in %.2f ms (best of 5)\n", best);
  CHECK(best < 1000); /* generous: sanitizer builds are slow */
}

/* ---------------------------------------------------------------------- */
/* JSON catalogues                                                        */

static const char example_catalog[] =
    "{\"provider\": \"aws\", \"region\": \"us-east-1\", \"currency\": "
    "\"USD\",\n"
    " \"instance_types\": [\n"
    "  {\"name\": \"m5.large\", \"arch\": \"amd64\",\n"
    "   \"capacity\":    {\"cpu\": \"2\", \"memory\": \"8192Mi\", \"pods\": "
    "\"29\"},\n"
    "   \"allocatable\": {\"cpu\": \"1930m\", \"memory\": \"6903Mi\", "
    "\"pods\": \"29\"},\n"
    "   \"labels\": {\"example.com/family\": \"m5\"},\n"
    "   \"offerings\": [\n"
    "     {\"capacity_type\": \"on-demand\", \"zone\": \"us-east-1a\", "
    "\"price\": 0.096},\n"
    "     {\"capacity_type\": \"spot\", \"zone\": \"us-east-1a\", \"price\": "
    "0.0326, \"interruption_rate\": 0.175},\n"
    "     {\"capacity_type\": \"reserved\", \"zone\": \"us-east-1a\", "
    "\"price\": 0.0, \"count\": 2}]}]}\n";

TEST(should_read_the_documented_example_catalogue) {
  struct stv_catalog c;
  struct stv_err err = {0};
  const struct stv_instance_type *t;
  const struct stv_offering *o;
  CHECK_EQ_INT(load_text(&c, example_catalog, &err), 0);
  CHECK_EQ_INT(c.ntypes, 1);
  t = &c.types[0];
  CHECK_EQ_INT(alloc_of(t, "cpu"), 1930);
  CHECK_EQ_INT(alloc_of(t, "memory"), 6903 * MI);
  CHECK_EQ_INT(t->nres, 3); /* no ephemeral-storage given: none */
  CHECK_EQ_INT(t->labels.n, 1);
  CHECK(strcmp(stv_labels_get(&t->labels, "example.com/family"), "m5") == 0);
  o = find_offering(t, STV_CT_RESERVED, "us-east-1a");
  CHECK(o != NULL);
  CHECK_EQ_INT(o->count, 2);
  CHECK(o->price == 0.0);
  o = find_offering(t, STV_CT_SPOT, "us-east-1a");
  CHECK(o != NULL && o->interruption_rate == 0.175 && o->count == -1);
  stv_catalog_close(&c);
}

TEST(should_read_a_catalogue_file_by_path) {
  char path[] = "/tmp/stv-catalog-XXXXXX";
  struct stv_catalog c;
  struct stv_err err = {0};
  int fd = mkstemp(path);
  FILE *f;
  int rc;
  CHECK(fd >= 0);
  f = fdopen(fd, "w");
  CHECK(f != NULL);
  fputs(example_catalog, f);
  fclose(f);
  rc = stv_catalog_load(&c, path, &err);
  unlink(path);
  CHECK_EQ_INT(rc, 0);
  CHECK(stv_catalog_find(&c, "m5.large") != NULL);
  stv_catalog_close(&c);
  CHECK_EQ_INT(stv_catalog_load(&c, "/nonexistent/cat.json", &err),
               STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "/nonexistent/cat.json");
}

TEST(should_compute_allocatable_by_the_overhead_model_when_absent) {
  struct stv_catalog c;
  struct stv_err err = {0};
  const struct stv_instance_type *t;
  CHECK_EQ_INT(load_text(&c,
                         one_type("{\"cpu\": \"4\", \"memory\": \"16Gi\", "
                                  "\"ephemeral-storage\": \"100Gi\"}",
                                  ""),
                         &err),
               0);
  t = &c.types[0];
  /* cpu: 6% of 1000m + 1% of 1000m + 0.5% of 2000m = 80m reserved. */
  CHECK_EQ_INT(alloc_of(t, "cpu"), 3920);
  /*
   * memory: 25% of 4 GiB = 1073741824, 20% of 4 GiB = 858993460 and 10% of
   * 8 GiB = 858993460 (each rounded up to a byte), plus the 100Mi eviction
   * threshold: 17179869184 - 2791728744 - 104857600.
   */
  CHECK_EQ_INT(alloc_of(t, "memory"), 14283282840);
  CHECK_EQ_INT(cap_of(t, "pods"), 110);
  CHECK_EQ_INT(alloc_of(t, "pods"), 110);
  CHECK_EQ_INT(alloc_of(t, "ephemeral-storage"), 90 * GI);
  stv_catalog_close(&c);

  /* A big node: every tier, hugepages out of memory, extended resources. */
  CHECK_EQ_INT(load_text(&c,
                         one_type("{\"cpu\": \"48\", \"memory\": \"256Gi\", "
                                  "\"hugepages-2Mi\": \"1Gi\", "
                                  "\"example.com/fpga\": 2, \"pods\": 737}",
                                  ""),
                         &err),
               0);
  t = &c.types[0];
  /* 80m + 0.25% of 44000m = 190m, as EKS reserves on 48 vCPUs. */
  CHECK_EQ_INT(alloc_of(t, "cpu"), 47810);
  /*
   * 1073741824 + 858993460 + 858993460 + 6% of 112 GiB (7215545058) + 2% of
   * 128 GiB (2748779070) = 12756052872; less 100Mi and the 1Gi of hugepages.
   */
  CHECK_EQ_INT(alloc_of(t, "memory"),
               256 * GI - 12756052872 - 100 * MI - 1 * GI);
  CHECK_EQ_INT(alloc_of(t, "hugepages-2Mi"), 1 * GI);
  CHECK_EQ_INT(alloc_of(t, "example.com/fpga"), 2);
  CHECK_EQ_INT(alloc_of(t, "pods"), 737);
  CHECK_EQ_INT(alloc_of(t, "ephemeral-storage"), 0); /* not given: absent */
  CHECK_EQ_INT(t->nres, 5);
  CHECK(strcmp(t->capacity[2].name, "pods") == 0);
  CHECK(strcmp(t->capacity[3].name, "example.com/fpga") == 0);
  CHECK(strcmp(t->capacity[4].name, "hugepages-2Mi") == 0);
  stv_catalog_close(&c);
}

TEST(should_take_given_allocatable_and_model_only_the_rest) {
  struct stv_catalog c;
  struct stv_err err = {0};
  const struct stv_instance_type *t;
  CHECK_EQ_INT(
      load_text(
          &c,
          one_type("{\"cpu\": \"2\", \"memory\": \"4Gi\"}",
                   ", \"allocatable\": {\"cpu\": \"1500m\", \"pods\": 8}"),
          &err),
      0);
  t = &c.types[0];
  CHECK_EQ_INT(alloc_of(t, "cpu"), 1500);
  CHECK_EQ_INT(alloc_of(t, "memory"), 3116367872); /* 4Gi - 1Gi - 100Mi */
  CHECK_EQ_INT(cap_of(t, "pods"),
               8); /* from allocatable when not in capacity */
  CHECK_EQ_INT(alloc_of(t, "pods"), 8);
  stv_catalog_close(&c);
}

TEST(should_read_quantities_given_as_json_numbers) {
  struct stv_catalog c;
  struct stv_err err = {0};
  const struct stv_instance_type *t;
  CHECK_EQ_INT(load_text(&c,
                         one_type("{\"cpu\": 0.1, \"memory\": 17179869184, "
                                  "\"pods\": 1e2}",
                                  ""),
                         &err),
               0);
  t = &c.types[0];
  CHECK_EQ_INT(cap_of(t, "cpu"), 100);
  CHECK_EQ_INT(cap_of(t, "memory"), 16 * GI);
  CHECK_EQ_INT(cap_of(t, "pods"), 100);
  stv_catalog_close(&c);
}

/* ---------------------------------------------------------------------- */
/* Validation                                                             */

struct bad_case {
  const char *json;
  int code;
  const char *msg;
};

#define TYPE_HEAD                                                              \
  "{\"provider\": \"p\", \"region\": \"r1\", \"instance_types\": [{\"name\": " \
  "\"m5.large\", \"arch\": \"amd64\", "
#define CAP "\"capacity\": {\"cpu\": \"2\", \"memory\": \"8Gi\"}, "
#define OD "{\"capacity_type\": \"on-demand\", \"zone\": \"z1\", \"price\": 1}"
#define OFF(x) "\"offerings\": [" OD ", " x "]}]}"
#define TYPE(x) \
  "{\"name\": \"" x "\", \"arch\": \"amd64\", " CAP "\"offerings\": [" OD "]}"

static const struct bad_case bad_cases[] = {
    {"{\"provider\": \"p\",\n \"region\": r1}", STV_EPARSE,
     "cat.json: line 2, column "},
    {"{\"provider\": ", STV_EPARSE, ": malformed JSON"},
    {"{\"provider\": \"p\"}\n{}", STV_EPARSE,
     "cat.json: line 2, column 1: text after the JSON document"},
    {"[]", STV_EINVAL, "cat.json: must be a JSON object"},
    {"{\"provider\": \"p\", \"region\": \"r1\", \"instance_types\": [], "
     "\"zones\": 1}",
     STV_EINVAL, "cat.json: zones: unknown field"},
    {"{\"region\": \"r1\", \"instance_types\": []}", STV_EINVAL,
     "cat.json: provider: missing"},
    {"{\"provider\": \"p\", \"region\": \"r1\"}", STV_EINVAL,
     "cat.json: instance_types: missing"},
    {"{\"provider\": \"p\", \"region\": \"r1\", \"instance_types\": []}",
     STV_EINVAL, "cat.json: instance_types: must not be empty"},
    {"{\"provider\": \"p\", \"region\": \"r 1\", \"instance_types\": []}",
     STV_EINVAL, "cat.json: region: \"r 1\" is not a valid label value"},
    {"{\"provider\": \"p\", \"region\": \"r1\", \"instance_types\": [" TYPE(
         "a") ", {\"arch\": \"amd64\"}]}",
     STV_EINVAL, "cat.json: instance_types[1]: name: missing"},
    {"{\"provider\": \"p\", \"region\": \"r1\", \"instance_types\": [" TYPE(
         "a") ", " TYPE("b") ", " TYPE("a") "]}",
     STV_EINVAL,
     "cat.json: instance_types[2] \"a\": name: duplicate of instance_types[0]"},
    {"{\"provider\": \"p\", \"region\": \"r1\", \"instance_types\": [17]}",
     STV_EINVAL, "cat.json: instance_types[0]: must be an object"},
    {TYPE_HEAD "\"capacity\": {\"cpu\": \"2x\", \"memory\": \"8Gi\"}, " OFF(OD),
     STV_EINVAL,
     "cat.json: instance_types[0] \"m5.large\": capacity.cpu: invalid quantity "
     "\"2x\""},
    {TYPE_HEAD "\"capacity\": {\"cpu\": \"2\", \"memory\": \"-8Gi\"}, " OFF(OD),
     STV_EINVAL, "\"m5.large\": capacity.memory: must not be negative"},
    {TYPE_HEAD "\"capacity\": {\"cpu\": \"2\", \"memory\": true}, " OFF(OD),
     STV_EINVAL, "\"m5.large\": capacity.memory: must be a quantity string"},
    {TYPE_HEAD
     "\"capacity\": {\"cpu\": \"2\", \"memory\": \"99999999Ei\"}, " OFF(OD),
     STV_EINVAL,
     "\"m5.large\": capacity.memory: quantity \"99999999Ei\" is too large"},
    {TYPE_HEAD "\"capacity\": {\"cpu\": \"2\"}, " OFF(OD), STV_EINVAL,
     "cat.json: instance_types[0] \"m5.large\": capacity.memory: missing"},
    {TYPE_HEAD "\"capacity\": {\"cpu\": \"0\", \"memory\": \"1Gi\"}, " OFF(OD),
     STV_EINVAL, "\"m5.large\": capacity.cpu: must be positive"},
    {TYPE_HEAD "\"capacity\": {\"cpu\": \"2\", \"memory\": \"8Gi\", \"Bad "
               "Name\": \"1\"}, " OFF(OD),
     STV_EINVAL,
     "\"m5.large\": capacity: \"Bad Name\" is not a valid resource name"},
    {TYPE_HEAD "\"capacity\": {\"cpu\": \"2\", \"memory\": \"8Gi\", \"cpu\": "
               "\"4\"}, " OFF(OD),
     STV_EINVAL, "\"m5.large\": capacity.cpu: duplicate resource"},
    {TYPE_HEAD CAP "\"allocatable\": {\"memory\": \"9Gi\"}, " OFF(OD),
     STV_EINVAL, "\"m5.large\": allocatable.memory: 9Gi exceeds capacity 8Gi"},
    {TYPE_HEAD CAP "\"allocatable\": {\"nvidia.com/gpu\": \"1\"}, " OFF(OD),
     STV_EINVAL, "\"m5.large\": allocatable.nvidia.com/gpu: not in capacity"},
    {TYPE_HEAD CAP "\"allocatable\": [], " OFF(OD), STV_EINVAL,
     "\"m5.large\": allocatable: must be an object"},
    {TYPE_HEAD CAP "\"alocatable\": {}, " OFF(OD), STV_EINVAL,
     "cat.json: instance_types[0] \"m5.large\": alocatable: unknown field"},
    {"{\"provider\": \"p\", \"region\": \"r1\", \"instance_types\": "
     "[{\"name\": "
     "\"m5.large\", " CAP OFF(OD),
     STV_EINVAL, "\"m5.large\": arch: missing"},
    {TYPE_HEAD CAP "\"arch\": \"x86\", " OFF(OD), STV_EINVAL,
     "\"m5.large\": arch: duplicate field"},
    {TYPE_HEAD CAP "\"offerings\": []}]}", STV_EINVAL,
     "\"m5.large\": offerings: must not be empty"},
    {TYPE_HEAD "\"capacity\": {\"cpu\": \"2\", \"memory\": \"8Gi\"}}]}",
     STV_EINVAL, "\"m5.large\": offerings: missing"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"preemptible\", \"zone\": \"z1\", "
                       "\"price\": 1}"),
     STV_EINVAL,
     "\"m5.large\": offerings[1].capacity_type: unknown \"preemptible\" "
     "(expected reserved, spot or on-demand)"},
    {TYPE_HEAD CAP OFF("{\"zone\": \"z1\", \"price\": 1}"), STV_EINVAL,
     "\"m5.large\": offerings[1].capacity_type: missing"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"spot\", \"price\": 1}"),
     STV_EINVAL, "\"m5.large\": offerings[1].zone: missing"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"spot\", \"zone\": \"z1\"}"),
     STV_EINVAL, "\"m5.large\": offerings[1].price: missing"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"spot\", \"zone\": \"z1\", "
                       "\"price\": -0.5}"),
     STV_EINVAL,
     "cat.json: instance_types[0] \"m5.large\": offerings[1].price: must be a "
     "non-negative number"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"spot\", \"zone\": \"z1\", "
                       "\"price\": \"0.1\"}"),
     STV_EINVAL, "offerings[1].price: must be a non-negative number"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"spot\", \"zone\": \"z1\", "
                       "\"price\": 1e999}"),
     STV_EINVAL, "offerings[1].price: must be a non-negative number"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"spot\", \"zone\": \"z1\", "
                       "\"price\": 2e7}"),
     STV_EINVAL, "offerings[1].price: 2e+07 per hour is not plausible"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"spot\", \"zone\": \"z1\", "
                       "\"price\": 1, \"interruption_rate\": 1.5}"),
     STV_EINVAL,
     "offerings[1].interruption_rate: must be a number from 0 to 1"},
    {TYPE_HEAD CAP OFF(
         "{\"capacity_type\": \"reserved\", \"zone\": \"z1\", "
         "\"price\": 0, \"count\": 1, \"interruption_rate\": 0.1}"),
     STV_EINVAL,
     "offerings[1].interruption_rate: only spot offerings have one"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"reserved\", \"zone\": \"z1\", "
                       "\"price\": 0}"),
     STV_EINVAL, "\"m5.large\": offerings[1].count: missing"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"reserved\", \"zone\": \"z1\", "
                       "\"price\": 0, \"count\": 2.5}"),
     STV_EINVAL, "offerings[1].count: must be a whole number from 0 to"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"spot\", \"zone\": \"z1\", "
                       "\"price\": 1, \"count\": 3}"),
     STV_EINVAL, "offerings[1].count: only reserved offerings have one"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"on-demand\", \"zone\": \"z1\", "
                       "\"price\": 2}"),
     STV_EINVAL, "offerings[1]: duplicate of offerings[0] (on-demand in z1)"},
    {TYPE_HEAD CAP OFF("{\"capacity_type\": \"spot\", \"zone\": \"z1\", "
                       "\"price\": 1, \"bid\": 2}"),
     STV_EINVAL, "\"m5.large\": offerings[1].bid: unknown field"},
    {TYPE_HEAD CAP "\"labels\": {\"team\": 3}, " OFF(OD), STV_EINVAL,
     "\"m5.large\": labels.team: must be a string"},
    {TYPE_HEAD CAP "\"labels\": {\"team\": \"a b\"}, " OFF(OD), STV_EINVAL,
     "\"m5.large\": labels.team: \"a b\" is not a valid label value"},
    {TYPE_HEAD CAP "\"labels\": {\"-bad\": \"x\"}, " OFF(OD), STV_EINVAL,
     "\"m5.large\": labels: \"-bad\" is not a valid label key"},
    {TYPE_HEAD CAP "\"labels\": {\"a\": \"x\", \"a\": \"y\"}, " OFF(OD),
     STV_EINVAL, "\"m5.large\": labels.a: duplicate key"},
    {TYPE_HEAD CAP "\"labels\": {\"kubernetes.io/hostname\": \"x\"}, " OFF(OD),
     STV_EINVAL, "\"m5.large\": labels.kubernetes.io/hostname: each node gets"},
};

TEST(should_reject_bad_catalogues_naming_the_item_and_field) {
  size_t i;
  for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
    struct stv_catalog c;
    struct stv_err err = {0};
    int rc = load_text(&c, bad_cases[i].json, &err);
    if (rc != bad_cases[i].code || strstr(err.msg, bad_cases[i].msg) == NULL ||
        strncmp(err.msg, "cat.json: ", 10) != 0) {
      fprintf(stderr, "  case %zu: rc %d (%s), message \"%s\"\n", i, rc,
              stv_err_name(rc), err.msg);
    }
    CHECK_EQ_INT(rc, bad_cases[i].code);
    CHECK_EQ_INT(err.code, bad_cases[i].code);
    CHECK_STR_CONTAINS(err.msg, bad_cases[i].msg);
    CHECK(strncmp(err.msg, "cat.json: ", 10) == 0);
    /* A failed load leaves nothing behind. */
    CHECK(c.types == NULL && c.ntypes == 0 && c.mem.head == NULL);
  }
}

TEST(should_accept_a_null_error_buffer) {
  struct stv_catalog c;
  CHECK_EQ_INT(load_text(&c, "{\"provider\": 1}", NULL), STV_EINVAL);
  CHECK_EQ_INT(load_text(&c, "{", NULL), STV_EPARSE);
  CHECK_EQ_INT(
      load_text(&c, one_type("{\"cpu\": \"2q\", \"memory\": \"1\"}", ""), NULL),
      STV_EINVAL);
}

/* ---------------------------------------------------------------------- */
/* Node templates                                                         */

static const char template_catalog[] =
    "{\"provider\": \"test\", \"region\": \"r1\", \"instance_types\": [\n"
    " {\"name\": \"g.big\", \"arch\": \"arm64\",\n"
    "  \"capacity\": {\"cpu\": \"8\", \"memory\": \"32Gi\", "
    "\"nvidia.com/gpu\": \"2\", \"example.com/fpga\": \"1\"},\n"
    "  \"allocatable\": {\"cpu\": \"7500m\", \"memory\": \"30Gi\", \"pods\": "
    "\"50\"},\n"
    "  \"labels\": {\"kubernetes.io/arch\": \"s390x\", \"a.example/first\": "
    "\"1\", \"zz.example/last\": \"2\", \"node.kubernetes.io/role\": "
    "\"gpu\"},\n"
    "  \"offerings\": [\n"
    "   {\"capacity_type\": \"on-demand\", \"zone\": \"r1a\", \"price\": "
    "2.5},\n"
    "   {\"capacity_type\": \"spot\", \"zone\": \"r1b\", \"price\": 0.9},\n"
    "   {\"capacity_type\": \"reserved\", \"zone\": \"r1a\", \"price\": 0, "
    "\"count\": 3}]},\n"
    " {\"name\": \"a.small\", \"arch\": \"amd64\",\n"
    "  \"capacity\": {\"cpu\": \"1\", \"memory\": \"2Gi\"},\n"
    "  \"offerings\": [{\"capacity_type\": \"spot\", \"zone\": \"r1c\", "
    "\"price\": 0.01, \"interruption_rate\": 0.2}]}]}\n";

static const struct stv_template *find_template(const struct stv_templates *t,
                                                const char *type,
                                                enum stv_capacity_type ct) {
  size_t i;
  for (i = 0; i < t->n; i++) {
    if (strcmp(t->v[i].instance_type, type) == 0 && t->v[i].capacity_type == ct)
      return &t->v[i];
  }
  return NULL;
}

TEST(should_build_templates_with_well_known_labels_and_mapped_dimensions) {
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err = {0};
  const struct stv_template *tm;
  int gpu;
  CHECK_EQ_INT(load_text(&c, template_catalog, &err), 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  gpu = stv_resnames_index(&snap.res, &snap.pool, "nvidia.com/gpu", 1);
  CHECK(gpu >= STV_RES_FIXED);
  CHECK_EQ_INT(
      stv_templates_build(&t, &c, &snap,
                          (1u << STV_CT_RESERVED) | (1u << STV_CT_SPOT) |
                              (1u << STV_CT_ON_DEMAND),
                          &err),
      0);
  CHECK_EQ_INT(t.n, 4);

  tm = find_template(&t, "g.big", STV_CT_ON_DEMAND);
  CHECK(tm != NULL);
  CHECK(strcmp(tm->zone, "r1a") == 0);
  CHECK(tm->price == 2.5);
  CHECK_EQ_INT(tm->limit, -1);
  CHECK_EQ_INT(tm->ntaints, 0);
  CHECK_EQ_INT(tm->alloc[STV_RES_CPU], 7500);
  CHECK_EQ_INT(tm->alloc[STV_RES_MEMORY], 30 * GI);
  CHECK_EQ_INT(tm->alloc[STV_RES_PODS], 50);
  CHECK_EQ_INT(tm->alloc[STV_RES_EPHEMERAL], 0); /* the type has none */
  CHECK_EQ_INT(tm->alloc[gpu], 2);               /* modelled: all of it */
  /* example.com/fpga is unknown to the snapshot: skipped, not added. */
  CHECK_EQ_INT(snap.res.n, STV_RES_FIXED + 1);

  /* Sorted, unique, well-known first in conflicts, no hostname. */
  CHECK(labels_sorted_unique(&tm->labels));
  CHECK_EQ_INT(tm->labels.n, 7 + 3);
  CHECK(strcmp(stv_labels_get(&tm->labels, "kubernetes.io/arch"), "arm64") ==
        0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "kubernetes.io/os"), "linux") == 0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "node.kubernetes.io/instance-type"),
               "g.big") == 0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "topology.kubernetes.io/zone"),
               "r1a") == 0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "topology.kubernetes.io/region"),
               "r1") == 0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "stevedore.io/capacity-type"),
               "on-demand") == 0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "karpenter.sh/capacity-type"),
               "on-demand") == 0);
  /* Provider "test": neither EKS's nor GKE's label. */
  CHECK(stv_labels_get(&tm->labels, "eks.amazonaws.com/capacityType") == NULL);
  CHECK(stv_labels_get(&tm->labels, "cloud.google.com/gke-spot") == NULL);
  CHECK(stv_labels_get(&tm->labels, "stevedore.io/node-pool") == NULL);
  CHECK(tm->pool == NULL);
  CHECK(tm->interruption_rate == 0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "node.kubernetes.io/role"), "gpu") ==
        0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "a.example/first"), "1") == 0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "zz.example/last"), "2") == 0);
  CHECK(stv_labels_get(&tm->labels, "kubernetes.io/hostname") == NULL);
  /* Strings live in the snapshot's pool. */
  CHECK(tm->instance_type == stv_strpool_get(&snap.pool, "g.big"));
  CHECK(tm->labels.kv[0].key == stv_strpool_get(&snap.pool, "a.example/first"));

  tm = find_template(&t, "g.big", STV_CT_RESERVED);
  CHECK(tm != NULL);
  CHECK_EQ_INT(tm->limit, 3);
  CHECK(strcmp(stv_labels_get(&tm->labels, "stevedore.io/capacity-type"),
               "reserved") == 0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "karpenter.sh/capacity-type"),
               "reserved") == 0);
  tm = find_template(&t, "g.big", STV_CT_SPOT);
  CHECK(tm != NULL);
  CHECK(strcmp(tm->zone, "r1b") == 0);
  CHECK(strcmp(stv_labels_get(&tm->labels, "topology.kubernetes.io/zone"),
               "r1b") == 0);
  CHECK(tm->interruption_rate == 0); /* none given */
  tm = find_template(&t, "a.small", STV_CT_SPOT);
  CHECK(tm != NULL);
  CHECK(tm->interruption_rate == 0.2);
  CHECK_EQ_INT(tm->labels.n, 7);
  CHECK(labels_sorted_unique(&tm->labels));
  CHECK_EQ_INT(tm->alloc[STV_RES_CPU], 1000 - 60);
  CHECK_EQ_INT(tm->alloc[gpu], 0);
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
}

TEST(should_build_templates_only_for_allowed_capacity_types) {
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err = {0};
  size_t i;
  CHECK_EQ_INT(load_text(&c, template_catalog, &err), 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  CHECK_EQ_INT(stv_templates_build(&t, &c, &snap, 1u << STV_CT_SPOT, &err), 0);
  CHECK_EQ_INT(t.n, 2);
  for (i = 0; i < t.n; i++) CHECK_EQ_INT(t.v[i].capacity_type, STV_CT_SPOT);
  stv_templates_close(&t);
  CHECK_EQ_INT(stv_templates_build(&t, &c, &snap, 0, &err), 0);
  CHECK_EQ_INT(t.n, 0);
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
}

TEST(should_build_templates_for_every_offering_of_the_aws_catalogue) {
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err = {0};
  size_t i, total = 0;
  double t0, dt;
  CHECK_EQ_INT(stv_catalog_load(&c, "aws:us-east-1", &err), 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  /* Every offering but those of burstable types, which no default pool takes. */
  for (i = 0; i < c.ntypes; i++) total += c.types[i].baseline > 0 ? 0 : c.types[i].noff;
  t0 = now_ms();
  CHECK_EQ_INT(
      stv_templates_build(&t, &c, &snap,
                          (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND), &err),
      0);
  dt = now_ms() - t0;
  fprintf(stderr, "  %zu aws:us-east-1 templates built in %.2f ms\n", t.n, dt);
  CHECK_EQ_INT(t.n, total);
  for (i = 0; i < t.n; i++) {
    CHECK(labels_sorted_unique(&t.v[i].labels));
    CHECK(t.v[i].alloc[STV_RES_CPU] > 0);
    CHECK(t.v[i].alloc[STV_RES_EPHEMERAL] == 18 * GI);
  }
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
}

static const char aws_catalog[] =
    "{\"provider\": \"aws\", \"region\": \"us-east-1\", \"instance_types\": [\n"
    " {\"name\": \"m5.large\", \"arch\": \"amd64\",\n"
    "  \"capacity\": {\"cpu\": \"2\", \"memory\": \"8Gi\"},\n"
    "  \"labels\": {\"team\": \"type-label\", \"zz\": \"1\"},\n"
    "  \"offerings\": [\n"
    "   {\"capacity_type\": \"on-demand\", \"zone\": \"us-east-1a\", \"price\": 0.096},\n"
    "   {\"capacity_type\": \"spot\", \"zone\": \"us-east-1a\", \"price\": 0.03},\n"
    "   {\"capacity_type\": \"spot\", \"zone\": \"us-east-1b\", \"price\": 0.04},\n"
    "   {\"capacity_type\": \"reserved\", \"zone\": \"us-east-1a\", \"price\": 0, \"count\": 1}]},\n"
    " {\"name\": \"m5.2xlarge\", \"arch\": \"amd64\",\n"
    "  \"capacity\": {\"cpu\": \"8\", \"memory\": \"32Gi\"},\n"
    "  \"offerings\": [{\"capacity_type\": \"on-demand\", \"zone\": \"us-east-1a\", \"price\": 0.384}]},\n"
    " {\"name\": \"m6g.large\", \"arch\": \"arm64\",\n"
    "  \"capacity\": {\"cpu\": \"2\", \"memory\": \"8Gi\"},\n"
    "  \"offerings\": [{\"capacity_type\": \"on-demand\", \"zone\": \"us-east-1b\", \"price\": 0.077}]},\n"
    " {\"name\": \"c5.large\", \"arch\": \"amd64\",\n"
    "  \"capacity\": {\"cpu\": \"2\", \"memory\": \"4Gi\"},\n"
    "  \"offerings\": [{\"capacity_type\": \"spot\", \"zone\": \"us-east-1b\", \"price\": 0.02}]}]}\n";

static const char gcp_catalog[] =
    "{\"provider\": \"gcp\", \"region\": \"us-east1\", \"instance_types\": [\n"
    " {\"name\": \"n2-standard-4\", \"arch\": \"amd64\",\n"
    "  \"capacity\": {\"cpu\": \"4\", \"memory\": \"16Gi\"},\n"
    "  \"offerings\": [\n"
    "   {\"capacity_type\": \"on-demand\", \"zone\": \"us-east1-b\", \"price\": 0.19},\n"
    "   {\"capacity_type\": \"spot\", \"zone\": \"us-east1-b\", \"price\": 0.05}]}]}\n";

static const struct stv_template *find_template_zone(const struct stv_templates *t, const char *type,
                                                     enum stv_capacity_type ct, const char *zone,
                                                     const char *pool) {
  size_t i;
  for (i = 0; i < t->n; i++) {
    const struct stv_template *tm = &t->v[i];
    if (strcmp(tm->instance_type, type) == 0 && tm->capacity_type == ct && strcmp(tm->zone, zone) == 0 &&
        (pool == NULL ? tm->pool == NULL : tm->pool != NULL && strcmp(tm->pool, pool) == 0))
      return tm;
  }
  return NULL;
}

static int label_is(const struct stv_template *tm, const char *key, const char *value) {
  const char *v = stv_labels_get(&tm->labels, key);
  if (value == NULL) return v == NULL;
  return v != NULL && strcmp(v, value) == 0;
}

TEST(should_label_aws_nodes_with_the_karpenter_and_eks_capacity_types) {
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err = {0};
  const struct stv_template *tm;
  CHECK_EQ_INT(load_text(&c, aws_catalog, &err), 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  CHECK_EQ_INT(stv_templates_build(&t, &c, &snap, ~0u, &err), 0);
  CHECK_EQ_INT(t.n, 7);
  tm = find_template_zone(&t, "m5.large", STV_CT_SPOT, "us-east-1b", NULL);
  CHECK(tm != NULL);
  CHECK(labels_sorted_unique(&tm->labels));
  CHECK(label_is(tm, "stevedore.io/capacity-type", "spot"));
  CHECK(label_is(tm, "karpenter.sh/capacity-type", "spot"));
  CHECK(label_is(tm, "eks.amazonaws.com/capacityType", "SPOT"));
  CHECK(label_is(tm, "cloud.google.com/gke-spot", NULL));
  CHECK(label_is(tm, "team", "type-label"));
  CHECK_EQ_INT(tm->labels.n, 8 + 2);
  tm = find_template_zone(&t, "m5.large", STV_CT_ON_DEMAND, "us-east-1a", NULL);
  CHECK(tm != NULL);
  CHECK(label_is(tm, "karpenter.sh/capacity-type", "on-demand"));
  CHECK(label_is(tm, "eks.amazonaws.com/capacityType", "ON_DEMAND"));
  tm = find_template_zone(&t, "m5.large", STV_CT_RESERVED, "us-east-1a", NULL);
  CHECK(tm != NULL);
  CHECK(label_is(tm, "karpenter.sh/capacity-type", "reserved"));
  CHECK(label_is(tm, "eks.amazonaws.com/capacityType", "ON_DEMAND"));
  CHECK(labels_sorted_unique(&tm->labels));
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
}

TEST(should_label_only_gcp_spot_nodes_with_gke_spot) {
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err = {0};
  const struct stv_template *tm;
  CHECK_EQ_INT(load_text(&c, gcp_catalog, &err), 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  CHECK_EQ_INT(stv_templates_build(&t, &c, &snap, ~0u, &err), 0);
  CHECK_EQ_INT(t.n, 2);
  tm = find_template_zone(&t, "n2-standard-4", STV_CT_SPOT, "us-east1-b", NULL);
  CHECK(tm != NULL);
  CHECK(labels_sorted_unique(&tm->labels));
  CHECK(label_is(tm, "cloud.google.com/gke-spot", "true"));
  CHECK(label_is(tm, "karpenter.sh/capacity-type", "spot"));
  CHECK(label_is(tm, "eks.amazonaws.com/capacityType", NULL));
  tm = find_template_zone(&t, "n2-standard-4", STV_CT_ON_DEMAND, "us-east1-b", NULL);
  CHECK(tm != NULL);
  CHECK(label_is(tm, "cloud.google.com/gke-spot", NULL));
  CHECK(label_is(tm, "karpenter.sh/capacity-type", "on-demand"));
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
}

TEST(should_split_instance_type_names_into_family_and_size_by_provider) {
  const char *size;
  CHECK_EQ_INT(stv_instance_family("aws", "m5.2xlarge", &size), 2);
  CHECK(strcmp(size, "2xlarge") == 0);
  CHECK_EQ_INT(stv_instance_family("aws", "u-6tb1.metal", &size), 6);
  CHECK(strcmp(size, "metal") == 0);
  CHECK_EQ_INT(stv_instance_family("gcp", "n2-standard-4", &size), 2);
  CHECK(strcmp(size, "standard-4") == 0);
  CHECK_EQ_INT(stv_instance_family("test", "c.small", &size), 1);
  CHECK(strcmp(size, "small") == 0);
  CHECK_EQ_INT(stv_instance_family(NULL, "e2-micro", &size), 2);
  CHECK(strcmp(size, "micro") == 0);
  CHECK_EQ_INT(stv_instance_family("aws", "metal", &size), 5);
  CHECK(strcmp(size, "") == 0);
  CHECK_EQ_INT(stv_instance_family("aws", "x.y", NULL), 1);
}

TEST(should_build_one_template_per_pool_and_admitted_offering) {
  static const char *const fam_m5[] = {"m5", "m6g"}, *const sizes[] = {"large"}, *const amd[] = {"amd64"};
  static const char *const zone_b[] = {"us-east-1b"}, *const fam_c5[] = {"c5"};
  struct stv_label web_labels[] = {{"team", "web"}, {"tier", "front"}};
  struct stv_taint web_taints[] = {{"dedicated", "web", STV_EFFECT_NO_SCHEDULE}};
  struct stv_node_pool pools[3];
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err = {0};
  const struct stv_template *tm;
  size_t i, n_general = 0, n_spotb = 0, n_any = 0;
  memset(pools, 0, sizeof(pools));
  /* general: m5 and m6g, size large, amd64 only, no reserved: m5.large od/spot x2. */
  pools[0].name = "general";
  pools[0].nfamilies = 2;
  pools[0].families = fam_m5;
  pools[0].nsizes = 1;
  pools[0].sizes = sizes;
  pools[0].narchs = 1;
  pools[0].archs = amd;
  pools[0].capacity_types = (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND);
  pools[0].labels.n = 2;
  pools[0].labels.kv = web_labels;
  pools[0].ntaints = 1;
  pools[0].taints = web_taints;
  /* spotb: zone us-east-1b, any type: m5.large spot b, m6g.large on-demand b, c5.large spot b. */
  pools[1].name = "spotb";
  pools[1].nzones = 1;
  pools[1].zones = zone_b;
  /* c5 spot only, but on-demand is not allowed below anyway. */
  pools[2].name = "c5";
  pools[2].nfamilies = 1;
  pools[2].families = fam_c5;
  CHECK_EQ_INT(load_text(&c, aws_catalog, &err), 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  CHECK_EQ_INT(stv_templates_build_pools(&t, &c, &snap, (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND), pools, 3,
                                         &err),
               0);
  for (i = 0; i < t.n; i++) {
    CHECK(t.v[i].pool != NULL);
    CHECK(labels_sorted_unique(&t.v[i].labels));
    CHECK(t.v[i].capacity_type != STV_CT_RESERVED);
    CHECK(t.v[i].pool == stv_strpool_get(&snap.pool, t.v[i].pool));
    CHECK(label_is(&t.v[i], "stevedore.io/node-pool", t.v[i].pool));
    if (strcmp(t.v[i].pool, "general") == 0) n_general++;
    if (strcmp(t.v[i].pool, "spotb") == 0) n_spotb++;
    if (strcmp(t.v[i].pool, "c5") == 0) n_any++;
  }
  CHECK_EQ_INT(n_general, 3);
  CHECK_EQ_INT(n_spotb, 3);
  CHECK_EQ_INT(n_any, 1);
  CHECK_EQ_INT(t.n, 7);
  tm = find_template_zone(&t, "m5.large", STV_CT_SPOT, "us-east-1a", "general");
  CHECK(tm != NULL);
  CHECK(label_is(tm, "team", "web")); /* the pool's label over the type's */
  CHECK(label_is(tm, "tier", "front"));
  CHECK(label_is(tm, "zz", "1"));
  CHECK(label_is(tm, "eks.amazonaws.com/capacityType", "SPOT"));
  CHECK_EQ_INT(tm->labels.n, 9 + 3);
  CHECK_EQ_INT(tm->ntaints, 1);
  CHECK(strcmp(tm->taints[0].key, "dedicated") == 0 && strcmp(tm->taints[0].value, "web") == 0);
  CHECK(tm->taints[0].effect == STV_EFFECT_NO_SCHEDULE);
  CHECK(tm->taints[0].key == stv_strpool_get(&snap.pool, "dedicated"));
  CHECK(find_template_zone(&t, "m5.2xlarge", STV_CT_ON_DEMAND, "us-east-1a", "general") == NULL);
  CHECK(find_template_zone(&t, "m6g.large", STV_CT_ON_DEMAND, "us-east-1b", "general") == NULL);
  tm = find_template_zone(&t, "m6g.large", STV_CT_ON_DEMAND, "us-east-1b", "spotb");
  CHECK(tm != NULL);
  CHECK_EQ_INT(tm->ntaints, 0);
  CHECK(label_is(tm, "team", NULL));
  CHECK(find_template_zone(&t, "c5.large", STV_CT_SPOT, "us-east-1b", "c5") != NULL);
  stv_templates_close(&t);
  /* No pools: the default pool, as stv_templates_build. */
  CHECK_EQ_INT(stv_templates_build_pools(&t, &c, &snap, ~0u, NULL, 0, &err), 0);
  CHECK_EQ_INT(t.n, 7);
  for (i = 0; i < t.n; i++) CHECK(t.v[i].pool == NULL && t.v[i].ntaints == 0);
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
}

TEST(should_build_templates_with_pools_or_return_enomem_cleanly) {
  static const char *const fam[] = {"m5"};
  struct stv_label lab[] = {{"team", "web"}};
  struct stv_taint taint[] = {{"dedicated", "", STV_EFFECT_NO_EXECUTE}};
  struct stv_node_pool pool;
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err = {0};
  long n;
  int rc;
  memset(&pool, 0, sizeof(pool));
  pool.name = "p";
  pool.nfamilies = 1;
  pool.families = fam;
  pool.labels.n = 1;
  pool.labels.kv = lab;
  pool.ntaints = 1;
  pool.taints = taint;
  CHECK_EQ_INT(load_text(&c, aws_catalog, &err), 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  for (n = 0;; n++) {
    stv_alloc_fail_after(n);
    rc = stv_templates_build_pools(&t, &c, &snap, ~0u, &pool, 1, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    CHECK_EQ_INT(rc, STV_ENOMEM);
    CHECK(t.mem.head == NULL && t.v == NULL);
  }
  CHECK_EQ_INT(t.n, 5);
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
}

/* Whether templates a and b are the same field by field, strings compared by content. */
static int same_templates(const struct stv_templates *a, const struct stv_templates *b) {
  size_t i;
  uint32_t j;
  if (a->n != b->n) return 0;
  for (i = 0; i < a->n; i++) {
    const struct stv_template *x = &a->v[i], *y = &b->v[i];
    if (strcmp(x->instance_type, y->instance_type) != 0 || strcmp(x->zone, y->zone) != 0 ||
        x->capacity_type != y->capacity_type || x->price != y->price || x->limit != y->limit ||
        memcmp(x->alloc, y->alloc, sizeof(x->alloc)) != 0 || (x->pool == NULL) != (y->pool == NULL) ||
        (x->pool != NULL && strcmp(x->pool, y->pool) != 0) || x->labels.n != y->labels.n ||
        x->ntaints != y->ntaints)
      return 0;
    for (j = 0; j < x->labels.n; j++)
      if (strcmp(x->labels.kv[j].key, y->labels.kv[j].key) != 0 ||
          strcmp(x->labels.kv[j].value, y->labels.kv[j].value) != 0)
        return 0;
    for (j = 0; j < x->ntaints; j++)
      if (strcmp(x->taints[j].key, y->taints[j].key) != 0 || strcmp(x->taints[j].value, y->taints[j].value) != 0)
        return 0;
  }
  return 1;
}

TEST(should_build_owned_templates_that_outlive_their_snapshot_and_say_when_they_fit_another) {
  static const char *const fam[] = {"m5"};
  struct stv_label lab[] = {{"team", "web"}};
  struct stv_taint taint[] = {{"dedicated", "", STV_EFFECT_NO_EXECUTE}};
  struct stv_node_pool pool;
  struct stv_catalog c;
  struct stv_snapshot snap, other;
  struct stv_templates t, owned;
  struct stv_err err = {0};
  size_t i;
  long n;
  int rc;
  memset(&pool, 0, sizeof(pool));
  pool.name = "p";
  pool.nfamilies = 1;
  pool.families = fam;
  pool.labels.n = 1;
  pool.labels.kv = lab;
  pool.ntaints = 1;
  pool.taints = taint;
  CHECK_EQ_INT(load_text(&c, aws_catalog, &err), 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  CHECK(stv_resnames_index(&snap.res, &snap.pool, "nvidia.com/gpu", 1) >= STV_RES_FIXED);
  snap.zone_labels = stv_arena_alloc(&snap.mem, sizeof(*snap.zone_labels));
  CHECK(snap.zone_labels != NULL);
  snap.zone_labels[0] = stv_strpool_get(&snap.pool, "topology.ebs.csi.aws.com/zone");
  snap.nzone_labels = 1;
  CHECK_EQ_INT(stv_templates_build_pools(&t, &c, &snap, ~0u, &pool, 1, &err), 0);
  CHECK_EQ_INT(stv_templates_build_owned(&owned, &c, &snap, ~0u, &pool, 1, &err), 0);
  CHECK_EQ_INT(owned.n, 5);
  CHECK(same_templates(&t, &owned));
  /* The owned templates' strings are their own, not the snapshot's. */
  for (i = 0; i < owned.n; i++) {
    CHECK(stv_strpool_find(&snap.pool, owned.v[i].zone, strlen(owned.v[i].zone)) != owned.v[i].zone);
    CHECK(strcmp(stv_labels_get(&owned.v[i].labels, "topology.ebs.csi.aws.com/zone"), owned.v[i].zone) == 0);
  }
  CHECK_EQ_INT(stv_templates_fit(&owned, &snap), 1);
  CHECK_EQ_INT(stv_templates_fit(&t, &snap), 0); /* built into the snapshot: never reused */
  stv_templates_close(&t);

  /* Another snapshot with the same names fits (and the first may go); a new resource or zone key does not. */
  CHECK_EQ_INT(stv_snapshot_init(&other), 0);
  CHECK(stv_resnames_index(&other.res, &other.pool, "nvidia.com/gpu", 1) >= STV_RES_FIXED);
  CHECK_EQ_INT(stv_templates_fit(&owned, &other), 0); /* no zone labels */
  other.zone_labels = stv_arena_alloc(&other.mem, sizeof(*other.zone_labels));
  CHECK(other.zone_labels != NULL);
  other.zone_labels[0] = stv_strpool_get(&other.pool, "topology.ebs.csi.aws.com/zone");
  other.nzone_labels = 1;
  stv_snapshot_close(&snap);
  CHECK_EQ_INT(stv_templates_fit(&owned, &other), 1);
  CHECK_EQ_INT(stv_templates_build_pools(&t, &c, &other, ~0u, &pool, 1, &err), 0);
  CHECK(same_templates(&t, &owned));
  stv_templates_close(&t);
  other.zone_labels[0] = stv_strpool_get(&other.pool, "topology.gke.io/zone");
  CHECK_EQ_INT(stv_templates_fit(&owned, &other), 0);
  other.zone_labels[0] = stv_strpool_get(&other.pool, "topology.ebs.csi.aws.com/zone");
  CHECK(stv_resnames_index(&other.res, &other.pool, "example.com/fpga", 1) >= STV_RES_FIXED);
  CHECK_EQ_INT(stv_templates_fit(&owned, &other), 0);
  stv_templates_close(&owned);
  stv_snapshot_close(&other);

  /* Attach limits come from the snapshot's nodes: templates with them are never reused. */
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  CHECK(stv_resnames_index(&snap.res, &snap.pool, STV_ATTACH_PREFIX "ebs.csi.aws.com", 1) >= STV_RES_FIXED);
  CHECK_EQ_INT(stv_templates_build_owned(&owned, &c, &snap, ~0u, NULL, 0, &err), 0);
  CHECK_EQ_INT(stv_templates_fit(&owned, &snap), 0);
  stv_templates_close(&owned);

  /* Out of memory at any allocation: an error and nothing held. */
  for (n = 0;; n++) {
    stv_alloc_fail_after(n);
    rc = stv_templates_build_owned(&owned, &c, &snap, ~0u, &pool, 1, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    CHECK_EQ_INT(rc, STV_ENOMEM);
    CHECK(owned.mem.head == NULL && owned.v == NULL && owned.pool.block == NULL);
  }
  CHECK_EQ_INT(owned.n, 5);
  stv_templates_close(&owned);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
}

/* ---------------------------------------------------------------------- */
/* Allocation failures                                                    */

TEST(should_return_enomem_cleanly_when_any_allocation_fails) {
  cJSON_Hooks hooks = {stv_malloc, stv_free};
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err = {0};
  long n;
  int rc;
  /* Route cJSON through stv_malloc so that its allocations fail in turn. */
  cJSON_InitHooks(&hooks);
  for (n = 0;; n++) {
    stv_alloc_fail_after(n);
    rc = load_text(&c, template_catalog, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    /* cJSON reports its own allocation failures as a parse failure. */
    if (rc != STV_ENOMEM && rc != STV_EPARSE)
      fprintf(stderr, "  allocation %ld: %s\n", n, err.msg);
    CHECK(rc == STV_ENOMEM || rc == STV_EPARSE);
    CHECK(c.mem.head == NULL && c.pool.block == NULL);
  }
  CHECK(n > 5);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  for (n = 0;; n++) {
    stv_alloc_fail_after(n);
    rc = stv_templates_build(&t, &c, &snap, ~0u, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    CHECK_EQ_INT(rc, STV_ENOMEM);
    CHECK(t.mem.head == NULL && t.v == NULL);
  }
  CHECK_EQ_INT(t.n, 4);
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
  cJSON_InitHooks(NULL);
}

TEST(should_tell_yaml_from_broken_json) {
  static const char *const yaml[] = {
      "kind: Catalog\n",    "# prices\nprovider: aws\n",         "---\nprovider: aws\n", "%YAML 1.2\n---\n",
      "- name: m5.large\n", "\xef\xbb\xbf\n\"provider\": aws\n", "# only a comment\n"};
  static const char *const not_yaml[] = {
      "{\"provider\": \"aws\",", "[1, 2", "  {\n  provider: aws\n}", "", "  \n", "garbage",
      "{\"a\": \"b: c\"}",       "12:30"};
  size_t i;
  for (i = 0; i < sizeof(yaml) / sizeof(yaml[0]); i++)
    CHECK(stv_text_looks_like_yaml(yaml[i], strlen(yaml[i])));
  for (i = 0; i < sizeof(not_yaml) / sizeof(not_yaml[0]); i++)
    CHECK(!stv_text_looks_like_yaml(not_yaml[i], strlen(not_yaml[i])));
}

TEST(should_say_a_yaml_catalogue_must_be_json) {
  struct stv_catalog c;
  struct stv_err err = {0, ""};
  const char *text = "provider: aws\nregion: us-east-1\ninstance_types: []\n";
  CHECK_EQ_INT(stv_catalog_load_json(&c, "prices.yaml", text, strlen(text), &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "prices.yaml: looks like YAML; this file must be JSON");
}

/* ---------------------------------------------------------------------- */
/* Attach limits of block-storage drivers on new nodes                    */

/* The attach limit templates of type get for driver from the embedded catalogue spec; -1 when absent. */
static int64_t template_attach_limit(const char *spec, const char *driver, const char *type,
                                     const char *node_type, int64_t node_count) {
  struct stv_catalog c;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_node_pool pool;
  struct stv_err err = {0};
  char name[128];
  int64_t out = -1;
  size_t i;
  int k;
  if (stv_catalog_load(&c, spec, &err) != 0) return -2;
  if (stv_snapshot_init(&snap) != 0) {
    stv_catalog_close(&c);
    return -3;
  }
  snprintf(name, sizeof(name), STV_ATTACH_PREFIX "%s", driver);
  k = stv_resnames_index(&snap.res, &snap.pool, name, 1);
  if (k >= 0 && node_type != NULL) {
    struct stv_node n;
    struct stv_label l = {stv_strpool_get(&snap.pool, "node.kubernetes.io/instance-type"),
                          stv_strpool_get(&snap.pool, node_type)};
    memset(&n, 0, sizeof(n));
    n.name = stv_strpool_get(&snap.pool, "n1");
    n.labels.n = 1;
    n.labels.kv = &l;
    n.instance_type = l.value;
    n.alloc[k] = node_count;
    if (stv_snapshot_add_node(&snap, &n) != 0) k = -1;
  }
  memset(&pool, 0, sizeof(pool));
  pool.name = "all";
  pool.burstable = STV_BURST_STANDARD; /* t2.micro, e2-medium too */
  if (k >= 0 && stv_templates_build_pools(&t, &c, &snap, 1u << STV_CT_ON_DEMAND, &pool, 1, &err) == 0) {
    for (i = 0; i < t.n; i++)
      if (strcmp(t.v[i].instance_type, type) == 0) out = t.v[i].alloc[k];
    stv_templates_close(&t);
  }
  stv_snapshot_close(&snap);
  stv_catalog_close(&c);
  return out;
}

TEST(should_give_new_nodes_the_block_storage_drivers_per_type_attach_limits) {
  /* EBS: 25 on Nitro, 39 on Xen types (i3.metal is Nitro). */
  CHECK_EQ_INT(template_attach_limit("aws:us-east-1", "ebs.csi.aws.com", "m5.large", NULL, 0), 25);
  CHECK_EQ_INT(template_attach_limit("aws:us-east-1", "ebs.csi.aws.com", "m4.large", NULL, 0), 39);
  CHECK_EQ_INT(template_attach_limit("aws:us-east-1", "ebs.csi.aws.com", "t2.micro", NULL, 0), 39);
  CHECK_EQ_INT(template_attach_limit("aws:us-east-1", "ebs.csi.aws.com", "i3.large", NULL, 0), 39);
  /* GCE PD: shared-core 15, others 127, Hyperdisk families by vCPU. */
  CHECK_EQ_INT(template_attach_limit("gcp:us-east1", "pd.csi.storage.gke.io", "e2-medium", NULL, 0), 15);
  CHECK_EQ_INT(template_attach_limit("gcp:us-east1", "pd.csi.storage.gke.io", "n2-standard-2", NULL, 0), 127);
  CHECK_EQ_INT(template_attach_limit("gcp:us-east1", "pd.csi.storage.gke.io", "c4-standard-2", NULL, 0), 7);
  CHECK_EQ_INT(template_attach_limit("gcp:us-east1", "pd.csi.storage.gke.io", "c4a-standard-4", NULL, 0), 15);
  /* Another cloud's driver: no rule, no existing report: no limit. */
  CHECK_EQ_INT(template_attach_limit("gcp:us-east1", "ebs.csi.aws.com", "n2-standard-2", NULL, 0),
               STV_ATTACH_UNLIMITED);
  /* What existing nodes of the type report wins; other types fall back to the rule. */
  CHECK_EQ_INT(template_attach_limit("aws:us-east-1", "ebs.csi.aws.com", "m5.large", "m5.large", 26), 26);
  CHECK_EQ_INT(template_attach_limit("aws:us-east-1", "ebs.csi.aws.com", "m4.large", "m5.large", 26), 39);
  /* A driver without a rule takes the smallest count existing nodes report. */
  CHECK_EQ_INT(template_attach_limit("aws:us-east-1", "csi.example.com", "m4.large", "m5.large", 12), 12);
}
