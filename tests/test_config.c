/*
 * Tests of the configuration file (controller/config.c): a good file, the
 * defaults, every kind of error with its file:line:column and key path, and
 * the value parsers shared with the command line; and of the headroom it
 * configures (controller/cli/headroom.c).
 */
#include <errno.h>
#include <math.h>

#include "config.h"
#include "controller.h"
#include "harness.h"

#define MI     (INT64_C(1) << 20)
#define GI     (INT64_C(1) << 30)
#define ALL_CT ((1u << STV_CT_RESERVED) | (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND))

static int load(struct stv_config *c, const char *text, struct stv_err *err) {
  return stv_config_load_text(c, "stevedore.yaml", text, strlen(text), err);
}

/* Expects text to fail with code and exactly msg, leaving the defaults. */
static int fails_with(const char *text, int code, const char *msg) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  int rc;
  stv_config_init(&c);
  rc = load(&c, text, &err);
  if (rc != code || err.code != code || strcmp(err.msg, msg) != 0) {
    fprintf(stderr, "  got %s \"%s\"\n  want %s \"%s\"\n", stv_err_name(rc), err.msg, stv_err_name(code),
            msg);
    stv_config_close(&c);
    return 0;
  }
  if (c.npools != 0 || c.nheadroom != 0 || c.capacity_types != ALL_CT ||
      c.time_limit != STV_TIME_LIMIT_DEFAULT) {
    fprintf(stderr, "  a failed load changed the configuration\n");
    stv_config_close(&c);
    return 0;
  }
  stv_config_close(&c);
  return 1;
}

/* Same, for a message that starts with msg. */
static int fails_starting(const char *text, int code, const char *msg) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  int rc;
  stv_config_init(&c);
  rc = load(&c, text, &err);
  stv_config_close(&c);
  if (rc != code || strncmp(err.msg, msg, strlen(msg)) != 0) {
    fprintf(stderr, "  got %s \"%s\"\n  want %s \"%s...\"\n", stv_err_name(rc), err.msg, stv_err_name(code),
            msg);
    return 0;
  }
  return 1;
}

static const char full[] = "capacityTypes: [reserved, spot, on-demand]\n"
                           "timeLimit: 500ms\n"
                           "spot:\n"
                           "  maxShare: 0.5\n"
                           "  maxPoolFraction: 0.25\n"
                           "  restartCost: 0.2\n"
                           "nodePools:\n"
                           "  - name: general\n"
                           "    instanceFamilies: [m5, c5, r5]\n"
                           "    instanceSizes: [large, xlarge, 2xlarge]\n"
                           "    architectures: [amd64]\n"
                           "    capacityTypes: [spot, on-demand]\n"
                           "    zones: [us-east-1a, us-east-1b]\n"
                           "    labels: {team: web, example.com/tier: \"1\"}\n"
                           "    taints: [{key: dedicated, value: web, effect: NoSchedule}]\n"
                           "  - name: gpu\n"
                           "    taints:\n"
                           "      - key: nvidia.com/gpu\n"
                           "        effect: NoExecute\n"
                           "headroom:\n"
                           "  manual: [{count: 2, cpu: \"2\", memory: 4Gi}, {cpu: 500m}]\n"
                           "  automatic: 10%\n";

TEST(should_read_every_setting_of_a_good_file) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  const struct stv_node_pool *p;
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c, full, &err), 0);
  CHECK_EQ_INT(c.capacity_types, ALL_CT);
  CHECK(fabs(c.time_limit - 0.5) < 1e-12);
  CHECK(c.spot.max_share == 0.5);
  CHECK(c.spot.max_pool_fraction == 0.25);
  CHECK(c.spot.restart_cost == 0.2);
  CHECK_EQ_INT(c.npools, 2);
  p = &c.pools[0];
  CHECK(strcmp(p->name, "general") == 0);
  CHECK_EQ_INT(p->nfamilies, 3);
  CHECK(strcmp(p->families[2], "r5") == 0);
  CHECK_EQ_INT(p->nsizes, 3);
  CHECK(strcmp(p->sizes[2], "2xlarge") == 0);
  CHECK_EQ_INT(p->narchs, 1);
  CHECK(strcmp(p->archs[0], "amd64") == 0);
  CHECK_EQ_INT(p->nzones, 2);
  CHECK(strcmp(p->zones[1], "us-east-1b") == 0);
  CHECK_EQ_INT(p->capacity_types, (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND));
  CHECK_EQ_INT(p->labels.n, 2);
  CHECK(strcmp(p->labels.kv[0].key, "example.com/tier") == 0); /* sorted */
  CHECK(strcmp(p->labels.kv[0].value, "1") == 0);
  CHECK(strcmp(p->labels.kv[1].key, "team") == 0);
  CHECK_EQ_INT(p->ntaints, 1);
  CHECK(strcmp(p->taints[0].key, "dedicated") == 0 && strcmp(p->taints[0].value, "web") == 0);
  CHECK(p->taints[0].effect == STV_EFFECT_NO_SCHEDULE);
  p = &c.pools[1];
  CHECK(strcmp(p->name, "gpu") == 0);
  CHECK(p->nfamilies == 0 && p->nsizes == 0 && p->narchs == 0 && p->nzones == 0);
  CHECK_EQ_INT(p->capacity_types, 0);
  CHECK_EQ_INT(p->labels.n, 0);
  CHECK_EQ_INT(p->ntaints, 1);
  CHECK(strcmp(p->taints[0].value, "") == 0);
  CHECK(p->taints[0].effect == STV_EFFECT_NO_EXECUTE);
  CHECK_EQ_INT(c.nheadroom, 2);
  CHECK_EQ_INT(c.headroom[0].count, 2);
  CHECK_EQ_INT(c.headroom[0].cpu, 2000);
  CHECK_EQ_INT(c.headroom[0].memory, 4 * GI);
  CHECK_EQ_INT(c.headroom[1].count, 1); /* count defaults to 1 */
  CHECK_EQ_INT(c.headroom[1].cpu, 500);
  CHECK_EQ_INT(c.headroom[1].memory, 0);
  CHECK(c.headroom_percent == 10);
  stv_config_close(&c);
  CHECK_EQ_INT(c.npools, 0);
  CHECK_EQ_INT(c.capacity_types, ALL_CT);
}

TEST(should_keep_the_defaults_for_what_a_file_leaves_out) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c, "# nothing but\ntimeLimit: 2m\nspot: {maxShare: 0.4}\nnodePools: []\n", &err), 0);
  CHECK_EQ_INT(c.capacity_types, ALL_CT);
  CHECK(c.time_limit == 120);
  CHECK(c.spot.max_share == 0.4);
  CHECK(c.spot.max_pool_fraction == STV_SPOT_MAX_POOL_FRACTION_DEFAULT);
  CHECK(c.spot.restart_cost == STV_SPOT_RESTART_COST_DEFAULT);
  CHECK_EQ_INT(c.npools, 0);
  CHECK_EQ_INT(c.nheadroom, 0);
  CHECK(c.headroom_percent == 0);
  /* A second load replaces the first. */
  CHECK_EQ_INT(load(&c, "capacityTypes: [on-demand]\nspot:\nheadroom:\n", &err), 0);
  CHECK_EQ_INT(c.capacity_types, 1u << STV_CT_ON_DEMAND);
  CHECK(c.time_limit == STV_TIME_LIMIT_DEFAULT);
  CHECK(c.spot.max_share == STV_SPOT_MAX_SHARE_DEFAULT);
  CHECK_EQ_INT(load(&c, "{}", &err), 0);
  CHECK_EQ_INT(c.capacity_types, ALL_CT);
  stv_config_close(&c);
}

TEST(should_read_the_shipped_example) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK_EQ_INT(stv_config_load_file(&c, STV_SOURCE_ROOT "/examples/stevedore.yaml", &err), 0);
  CHECK_EQ_INT(c.npools, 2);
  CHECK(strcmp(c.pools[1].name, "batch") == 0);
  CHECK_EQ_INT(c.pools[1].ntaints, 1);
  CHECK_EQ_INT(c.nheadroom, 1);
  CHECK(c.headroom_percent == 10);
  CHECK(c.time_limit == 10);
  CHECK(c.nscheduler_names == 1 && strcmp(c.scheduler_names[0], "default-scheduler") == 0);
  CHECK_EQ_INT(c.priority_cutoff, -10);
  stv_config_close(&c);
}

TEST(should_name_file_line_column_and_path_of_an_unknown_capacity_type) {
  CHECK(fails_with(
      "capacityTypes: [reserved]\n"
      "nodePools:\n"
      "  - name: general\n"
      "    capacityTypes:\n"
      "      - spot\n"
      "      - spto\n",
      STV_EINVAL,
      "stevedore.yaml:6:9: nodePools[0].capacityTypes[1]: unknown capacity type \"spto\" (expected "
      "reserved, spot, on-demand)"));
  CHECK(fails_with(
      "capacityTypes: [reserved, cheap]\n", STV_EINVAL,
      "stevedore.yaml:1:27: capacityTypes[1]: unknown capacity type \"cheap\" (expected reserved, spot, "
      "on-demand)"));
  CHECK(fails_with(
      "capacityTypes: []\n", STV_EINVAL,
      "stevedore.yaml:1:16: capacityTypes: must list at least one capacity type (expected reserved, "
      "spot, on-demand)"));
}

TEST(should_reject_unknown_keys_at_every_level) {
  CHECK(fails_with(
      "timelimit: 10s\n", STV_EINVAL,
      "stevedore.yaml:1:1: unknown key \"timelimit\" (expected capacityTypes, timeLimit, spot, "
      "nodePools, headroom, repack, schedulerNames, expendablePodsPriorityCutoff, report, limits, nodeCost, "
      "gapTolerance, azure, gcp, prices, aws, disruption)"));
  CHECK(fails_with("spot:\n  maxshare: 1\n", STV_EINVAL,
                   "stevedore.yaml:2:3: spot: unknown key \"maxshare\" (expected maxShare, maxPoolFraction, "
                   "restartCost)"));
  CHECK(fails_starting(
      "nodePools:\n  - name: a\n    zone: [x]\n", STV_EINVAL,
      "stevedore.yaml:3:5: nodePools[0]: unknown key \"zone\" (expected name, instanceFamilies,"));
  CHECK(fails_with(
      "headroom:\n  manual:\n    - {count: 1, cpus: 2}\n", STV_EINVAL,
      "stevedore.yaml:3:18: headroom.manual[0]: unknown key \"cpus\" (expected count, cpu, memory)"));
  CHECK(fails_starting("nodePools: [{name: a, taints: [{key: k, effect: NoSchedule, operator: Equal}]}]\n",
                       STV_EINVAL, "stevedore.yaml:1:61: nodePools[0].taints[0]: unknown key \"operator\""));
  CHECK(fails_with("timeLimit: 1s\ntimeLimit: 2s\n", STV_EINVAL,
                   "stevedore.yaml:2:1: timeLimit: duplicate key"));
}

TEST(should_read_the_gcp_section_and_name_its_bad_keys) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c,
                    "gcp:\n  project: p1\n  namePrefix: gke-prod-\n  minSize: 1\n  maxSize: 20\n"
                    "  pollInterval: 5s\n  computeEndpoint: http://127.0.0.1:9/compute/v1\n"
                    "  tokenEndpoint: https://oauth2.example/token\n  credentialsFile: /k.json\n"
                    "  metadataHost: 127.0.0.1:8\n  caFile: /ca.pem\n",
                    &err),
               0);
  CHECK(strcmp(c.gcp.project, "p1") == 0 && strcmp(c.gcp.name_prefix, "gke-prod-") == 0);
  CHECK(c.gcp.min_size == 1 && c.gcp.max_size == 20 && c.gcp.poll_interval == 5);
  CHECK(strcmp(c.gcp.compute_endpoint, "http://127.0.0.1:9/compute/v1") == 0);
  CHECK(strcmp(c.gcp.ca_file, "/ca.pem") == 0);
  stv_config_close(&c);
  CHECK(fails_with("gcp:\n  computeEndpoint: compute.googleapis.com\n", STV_EINVAL,
                   "stevedore.yaml:2:20: gcp.computeEndpoint: expected an http:// or https:// URL, got "
                   "\"compute.googleapis.com\""));
  CHECK(
      fails_with("gcp:\n  maxSize: 0\n", STV_EINVAL, "stevedore.yaml:2:12: gcp.maxSize: must be at least 1"));
  CHECK(fails_with("gcp:\n  minSize: 5\n  maxSize: 2\n", STV_EINVAL,
                   "stevedore.yaml:2:12: gcp.minSize: 5 is above gcp.maxSize 2"));
  CHECK(fails_with("gcp:\n  pollInterval: 2h\n", STV_EINVAL,
                   "stevedore.yaml:2:17: gcp.pollInterval: must be from 0.1s to 1h"));
  CHECK(fails_with(
      "gcp:\n  zone: x\n", STV_EINVAL,
      "stevedore.yaml:2:3: gcp: unknown key \"zone\" (expected project, computeEndpoint, tokenEndpoint, "
      "credentialsFile, metadataHost, namePrefix, caFile, minSize, maxSize, pollInterval, billingEndpoint, "
      "region)"));
}

TEST(should_read_the_gcp_billing_endpoint_and_region) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c, "gcp:\n  billingEndpoint: https://billing.example\n  region: europe-west4\n", &err), 0);
  CHECK(strcmp(c.gcp.billing_endpoint, "https://billing.example") == 0 && strcmp(c.gcp.region, "europe-west4") == 0);
  stv_config_close(&c);
  CHECK(fails_with("gcp:\n  billingEndpoint: cloudbilling.googleapis.com\n", STV_EINVAL,
                   "stevedore.yaml:2:20: gcp.billingEndpoint: expected an http:// or https:// URL, got "
                   "\"cloudbilling.googleapis.com\""));
  CHECK(fails_with("gcp:\n  region: Europe West\n", STV_EINVAL,
                   "stevedore.yaml:2:11: gcp.region: \"Europe West\" is not a GCP region name (like us-east1)"));
}

TEST(should_read_the_aws_section_and_name_its_bad_keys) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK(c.aws.reservations == 1 && c.aws.spot_prices == 1 && c.aws.region == NULL);
  CHECK_EQ_INT(load(&c,
                    "aws:\n  region: eu-west-1\n  endpoint: https://vpce.example\n"
                    "  ec2Endpoint: http://127.0.0.1:9/\n  caFile: /ca.pem\n  reservations: false\n"
                    "  spotPrices: false\n",
                    &err),
               0);
  CHECK(strcmp(c.aws.region, "eu-west-1") == 0 && strcmp(c.aws.endpoint, "https://vpce.example") == 0);
  CHECK(strcmp(c.aws.ec2_endpoint, "http://127.0.0.1:9/") == 0 && c.aws.autoscaling_endpoint == NULL);
  CHECK(strcmp(c.aws.ca_file, "/ca.pem") == 0);
  CHECK(c.aws.reservations == 0 && c.aws.spot_prices == 0);
  stv_config_close(&c);
  CHECK(fails_with("aws:\n  stsEndpoint: sts.amazonaws.com\n", STV_EINVAL,
                   "stevedore.yaml:2:16: aws.stsEndpoint: expected an http:// or https:// URL, got "
                   "\"sts.amazonaws.com\""));
  CHECK(fails_with("aws:\n  reservations: yes\n", STV_EINVAL,
                   "stevedore.yaml:2:17: aws.reservations: expected true or false, got \"yes\""));
  CHECK(fails_with("aws:\n  region: ''\n", STV_EINVAL,
                   "stevedore.yaml:2:11: aws.region: is empty: leave it out for the default"));
  CHECK(fails_with("aws:\n  clusterName: x\n", STV_EINVAL,
                   "stevedore.yaml:2:3: aws: unknown key \"clusterName\" (expected region, endpoint, "
                   "autoScalingEndpoint, ec2Endpoint, stsEndpoint, caFile, reservations, spotPrices)"));
}

TEST(should_read_the_disruption_section_and_name_its_bad_values) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK(c.disruption.empty_for == 30 && c.disruption.drain_timeout == 600 && c.disruption.budget_nodes == -1 &&
        c.disruption.budget_percent == 10 && c.disruption.emptiness == 1);
  CHECK_EQ_INT(load(&c, "disruption:\n  emptyFor: 2m\n  drainTimeout: 90s\n  budget: \"25%\"\n  emptiness: false\n",
                    &err),
               0);
  CHECK(c.disruption.empty_for == 120 && c.disruption.drain_timeout == 90 && c.disruption.budget_nodes == -1 &&
        c.disruption.budget_percent == 25 && c.disruption.emptiness == 0);
  stv_config_close(&c);
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c, "disruption:\n  budget: 3\n", &err), 0);
  CHECK(c.disruption.budget_nodes == 3 && c.disruption.budget_percent == 0);
  stv_config_close(&c);
  CHECK(fails_with("disruption:\n  budget: 2.5\n", STV_EINVAL,
                   "stevedore.yaml:2:11: disruption.budget: invalid disruption budget \"2.5\": expected a whole "
                   "number of nodes (\"2\") or a percentage of the pool's nodes (\"10%\")"));
  CHECK(fails_with("disruption:\n  drainTimeout: 0s\n", STV_EINVAL,
                   "stevedore.yaml:2:17: disruption.drainTimeout: must be at least 1s"));
  CHECK(fails_with("disruption:\n  emptyfor: 1m\n", STV_EINVAL,
                   "stevedore.yaml:2:3: disruption: unknown key \"emptyfor\" (expected emptyFor, drainTimeout, "
                   "budget, emptiness)"));
}

TEST(should_reject_values_of_the_wrong_type) {
  CHECK(fails_with("spot: [1]\n", STV_EINVAL, "stevedore.yaml:1:7: spot: expected a mapping, got a list"));
  CHECK(fails_with("capacityTypes: spot\n", STV_EINVAL,
                   "stevedore.yaml:1:16: capacityTypes: expected a list, got a plain value"));
  CHECK(fails_with("spot:\n  maxShare: \"0.5\"\n", STV_EINVAL,
                   "stevedore.yaml:2:13: spot.maxShare: expected a number, got the quoted string \"0.5\""));
  CHECK(fails_with("spot:\n  maxShare: half\n", STV_EINVAL,
                   "stevedore.yaml:2:13: spot.maxShare: \"half\" is not a number"));
  CHECK(fails_with("spot:\n  restartCost: {a: 1}\n", STV_EINVAL,
                   "stevedore.yaml:2:16: spot.restartCost: expected a number, got a mapping"));
  CHECK(fails_with("timeLimit:\n", STV_EINVAL,
                   "stevedore.yaml:1:11: timeLimit: expected a duration, got nothing (null)"));
  CHECK(fails_with("nodePools: {name: a}\n", STV_EINVAL,
                   "stevedore.yaml:1:12: nodePools: expected a list, got a mapping"));
  CHECK(fails_with("nodePools: [a]\n", STV_EINVAL,
                   "stevedore.yaml:1:13: nodePools[0]: expected a mapping, got a plain value"));
  CHECK(fails_with("nodePools: [{name: a, zones: [[x]]}]\n", STV_EINVAL,
                   "stevedore.yaml:1:31: nodePools[0].zones[0]: expected a zone, got a list"));
  CHECK(fails_with("nodePools: [{name: a, labels: [x]}]\n", STV_EINVAL,
                   "stevedore.yaml:1:31: nodePools[0].labels: expected a mapping, got a list"));
  CHECK(fails_with("headroom: {manual: [{count: 1.5, cpu: 1}]}\n", STV_EINVAL,
                   "stevedore.yaml:1:29: headroom.manual[0].count: must be a whole number"));
  CHECK(fails_with("headroom: {manual: [{count: 2}]}\n", STV_EINVAL,
                   "stevedore.yaml:1:21: headroom.manual[0]: a headroom unit needs cpu or memory (or both)"));
}

TEST(should_reject_values_out_of_range) {
  CHECK(fails_with("spot:\n  maxShare: 1.5\n", STV_EINVAL,
                   "stevedore.yaml:2:13: spot.maxShare: 1.5 is out of range (0 to 1)"));
  CHECK(fails_with("spot: {maxPoolFraction: -0.1}\n", STV_EINVAL,
                   "stevedore.yaml:1:25: spot.maxPoolFraction: -0.1 is out of range (0 to 1)"));
  CHECK(fails_with("spot: {restartCost: -1}\n", STV_EINVAL,
                   "stevedore.yaml:1:21: spot.restartCost: -1 is out of range (0 to 1e+09)"));
  CHECK(fails_with("headroom: {manual: [{count: 100001, cpu: 1}]}\n", STV_EINVAL,
                   "stevedore.yaml:1:29: headroom.manual[0].count: 100001 is out of range (0 to 100000)"));
  CHECK(fails_with("timeLimit: 2d\n", STV_EINVAL, "stevedore.yaml:1:12: timeLimit: 2d is out of range (0 to 86400 s)"));
  CHECK(fails_with("timeLimit: 2x\n", STV_EINVAL,
                   "stevedore.yaml:1:12: timeLimit: invalid duration \"2x\": unknown unit \"x\" (use ms, s, m, h, d, w, y)"));
  CHECK(fails_with("timeLimit: 25h\n", STV_EINVAL,
                   "stevedore.yaml:1:12: timeLimit: 25h is out of range (0 to 86400 s)"));
  CHECK(fails_with("timeLimit: -1\n", STV_EINVAL,
                   "stevedore.yaml:1:12: timeLimit: -1 is out of range (0 to 86400 s)"));
}

TEST(should_reject_bad_quantities_and_percentages) {
  CHECK(fails_with(
      "headroom: {manual: [{cpu: 2x}]}\n", STV_EINVAL,
      "stevedore.yaml:1:27: headroom.manual[0].cpu: invalid quantity \"2x\": unknown suffix \"x\""));
  CHECK(fails_with("headroom: {manual: [{memory: -1Gi}]}\n", STV_EINVAL,
                   "stevedore.yaml:1:30: headroom.manual[0].memory: negative quantity \"-1Gi\""));
  CHECK(fails_with("headroom:\n  automatic: 10\n", STV_EINVAL,
                   "stevedore.yaml:2:14: headroom.automatic: \"10\" is not a percentage (like 10%)"));
  CHECK(fails_with("headroom:\n  automatic: 150%\n", STV_EINVAL,
                   "stevedore.yaml:2:14: headroom.automatic: 150% is out of range (0% to 100%)"));
  CHECK(fails_with("headroom:\n  automatic: ten%\n", STV_EINVAL,
                   "stevedore.yaml:2:14: headroom.automatic: \"ten%\" is not a percentage (like 10%)"));
}

TEST(should_reject_bad_pools) {
  CHECK(fails_with("nodePools: [{zones: [a]}]\n", STV_EINVAL,
                   "stevedore.yaml:1:13: nodePools[0].name: missing (every node pool has a name)"));
  CHECK(fails_with("nodePools: [{name: a}, {name: a}]\n", STV_EINVAL,
                   "stevedore.yaml:1:31: nodePools[1].name: duplicate pool name \"a\""));
  CHECK(fails_starting("nodePools: [{name: \"not ok\"}]\n", STV_EINVAL,
                       "stevedore.yaml:1:20: nodePools[0].name: \"not ok\" is not a valid pool name"));
  CHECK(fails_with("nodePools: [{name: a, instanceFamilies: []}]\n", STV_EINVAL,
                   "stevedore.yaml:1:41: nodePools[0].instanceFamilies: must not be an empty list"));
  CHECK(fails_with(
      "nodePools: [{name: a, capacityTypes: [spot, spto]}]\n", STV_EINVAL,
      "stevedore.yaml:1:45: nodePools[0].capacityTypes[1]: unknown capacity type \"spto\" (expected "
      "reserved, spot, on-demand)"));
  CHECK(fails_with(
      "nodePools: [{name: a, labels: {topology.kubernetes.io/zone: x}}]\n", STV_EINVAL,
      "stevedore.yaml:1:32: nodePools[0].labels.topology.kubernetes.io/zone: is set by Stevedore on "
      "every new node; a pool may not set it"));
  CHECK(
      fails_with("nodePools: [{name: a, labels: {\"bad key!\": x}}]\n", STV_EINVAL,
                 "stevedore.yaml:1:32: nodePools[0].labels.bad key!: \"bad key!\" is not a valid label key"));
  CHECK(fails_starting("nodePools: [{name: a, labels: {team: \"-x\"}}]\n", STV_EINVAL,
                       "stevedore.yaml:1:38: nodePools[0].labels.team: \"-x\" is not a valid label value"));
  CHECK(fails_with(
      "nodePools: [{name: a, taints: [{key: k}]}]\n", STV_EINVAL,
      "stevedore.yaml:1:32: nodePools[0].taints[0].effect: missing (NoSchedule, PreferNoSchedule or "
      "NoExecute)"));
  CHECK(fails_with("nodePools: [{name: a, taints: [{key: k, effect: Never}]}]\n", STV_EINVAL,
                   "stevedore.yaml:1:49: nodePools[0].taints[0].effect: unknown effect \"Never\" (expected "
                   "NoSchedule, PreferNoSchedule, NoExecute)"));
  CHECK(fails_with("nodePools: [{name: a, taints: [{effect: NoSchedule}]}]\n", STV_EINVAL,
                   "stevedore.yaml:1:32: nodePools[0].taints[0].key: missing"));
}

TEST(should_reject_bad_yaml_with_a_clear_message) {
  CHECK(fails_with("", STV_EPARSE,
                   "stevedore.yaml:1:1: empty file (expected a mapping of settings; see docs/config.md)"));
  CHECK(fails_with("# only a comment\n\n", STV_EPARSE,
                   "stevedore.yaml:1:1: empty file (expected a mapping of settings; see docs/config.md)"));
  CHECK(fails_with("- a\n- b\n", STV_EPARSE,
                   "stevedore.yaml:1:1: the document must be a mapping of settings, not a list (see "
                   "docs/config.md)"));
  CHECK(fails_with("just text\n", STV_EPARSE,
                   "stevedore.yaml:1:1: the document must be a mapping of settings, not a plain value (see "
                   "docs/config.md)"));
  CHECK(fails_starting("spot:\n  maxShare: [1\n", STV_EPARSE, "stevedore.yaml:3:1: YAML syntax error: "));
  CHECK(fails_starting("a: b: c\n", STV_EPARSE,
                       "stevedore.yaml:1:5: YAML syntax error: mapping values are not "
                       "allowed in this context"));
  CHECK(fails_with("timeLimit: 1\n---\ntimeLimit: 2\n", STV_EPARSE,
                   "stevedore.yaml:2:1: a second YAML document; the file must hold one"));
  CHECK(fails_starting("timeLimit: \xff\n", STV_EPARSE, "stevedore.yaml: byte 11: invalid text: "));
  CHECK(fails_starting("spot: *nowhere\n", STV_EPARSE,
                       "stevedore.yaml:1:7: YAML syntax error: found undefined alias"));
}

TEST(should_not_loop_on_an_alias_to_an_ancestor) {
  CHECK(fails_with("nodePools: &a [*a]\n", STV_EINVAL,
                   "stevedore.yaml:1:12: nodePools[0]: expected a mapping, got a list"));
}

TEST(should_accept_aliases_and_quoted_strings_where_text_is_expected) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c, "zones: &z [\"us-east-1a\"]\n", &err), STV_EINVAL);
  CHECK_EQ_INT(load(&c,
                    "nodePools:\n"
                    "  - {name: a, zones: &z [\"us-east-1a\", 'us-east-1b']}\n"
                    "  - {name: b, zones: *z, instanceSizes: ['2xlarge']}\n",
                    &err),
               0);
  CHECK_EQ_INT(c.npools, 2);
  CHECK_EQ_INT(c.pools[1].nzones, 2);
  CHECK(strcmp(c.pools[1].zones[1], "us-east-1b") == 0);
  CHECK(strcmp(c.pools[1].sizes[0], "2xlarge") == 0);
  stv_config_close(&c);
}

TEST(should_report_a_file_that_cannot_be_read) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK_EQ_INT(stv_config_load_file(&c, "/nonexistent/stevedore.yaml", &err), -ENOENT);
  CHECK_STR_CONTAINS(err.msg, "/nonexistent/stevedore.yaml: cannot read: ");
  CHECK(stv_config_load_file(&c, STV_SOURCE_ROOT "/tests", &err) < 0);
  CHECK_STR_CONTAINS(err.msg, STV_SOURCE_ROOT "/tests: cannot read: ");
  stv_config_close(&c);
}

TEST(should_parse_durations_percentages_numbers_and_capacity_type_lists) {
  struct stv_err err = {0, ""};
  double v;
  unsigned mask;
  char buf[64];
  CHECK_EQ_INT(stv_config_parse_duration("10", &v, &err), 0);
  CHECK(v == 10);
  CHECK_EQ_INT(stv_config_parse_duration("2.5", &v, &err), 0);
  CHECK(v == 2.5);
  CHECK_EQ_INT(stv_config_parse_duration("500ms", &v, &err), 0);
  CHECK(fabs(v - 0.5) < 1e-12);
  CHECK_EQ_INT(stv_config_parse_duration("10s", &v, &err), 0);
  CHECK(v == 10);
  CHECK_EQ_INT(stv_config_parse_duration("2m", &v, &err), 0);
  CHECK(v == 120);
  CHECK_EQ_INT(stv_config_parse_duration("1h", &v, &err), 0);
  CHECK(v == 3600);
  CHECK_EQ_INT(stv_config_parse_duration("0", &v, &err), 0);
  CHECK(v == 0);
  CHECK_EQ_INT(stv_config_parse_duration("", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_duration("s", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_duration("10 s", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_duration("0x10", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_duration("inf", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_duration("nan", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_percent("2.5%", 0, &v, &err), 0);
  CHECK(v == 2.5);
  CHECK_EQ_INT(stv_config_parse_percent("10", 0, &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_percent("10", 1, &v, &err), 0);
  CHECK(v == 10);
  CHECK_EQ_INT(stv_config_parse_percent("100.5%", 1, &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_number("1e-2", 0, 1, &v, &err), 0);
  CHECK(v == 0.01);
  CHECK_EQ_INT(stv_config_parse_number("1e", 0, 1, &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_number(".5", 0, 1, &v, &err), 0);
  CHECK(v == 0.5);
  CHECK_EQ_INT(stv_config_parse_number("2", 0, 1, &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_capacity_types("spot,on-demand", &mask, &err), 0);
  CHECK_EQ_INT(mask, (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND));
  CHECK(strcmp(stv_config_format_capacity_types(mask, buf, sizeof(buf)), "spot,on-demand") == 0);
  CHECK(strcmp(stv_config_format_capacity_types(ALL_CT, buf, sizeof(buf)), "reserved,spot,on-demand") == 0);
  CHECK_EQ_INT(stv_config_parse_capacity_types("spot,,on-demand", &mask, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_capacity_types("", &mask, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_capacity_types("spot,bogus", &mask, &err), STV_EINVAL);
  CHECK(strcmp(err.msg, "unknown capacity type \"bogus\" (expected reserved, spot, on-demand)") == 0);
}

TEST(should_return_enomem_cleanly_whichever_allocation_fails) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  long n;
  int rc;
  stv_config_init(&c);
  for (n = 0;; n++) {
    stv_alloc_fail_after(n);
    rc = load(&c, full, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    CHECK_EQ_INT(rc, STV_ENOMEM);
    CHECK(c.npools == 0 && c.mem.head == NULL && c.strings.block == NULL);
  }
  CHECK(n >= 3); /* the arena, the pool's table and its first block */
  CHECK_EQ_INT(c.npools, 2);
  stv_config_close(&c);
}

/* ---------------------------------------------------------------------- */
/* Headroom's virtual pods (controller/cli/headroom.c)                        */

/* Adds a node of cpu millicores and mem bytes to s. */
static int add_node(struct stv_snapshot *s, const char *name, int64_t cpu, int64_t mem, int cordoned) {
  struct stv_node n;
  memset(&n, 0, sizeof(n));
  n.name = stv_strpool_get(&s->pool, name);
  n.alloc[STV_RES_CPU] = cpu;
  n.alloc[STV_RES_MEMORY] = mem;
  n.alloc[STV_RES_PODS] = 110;
  n.unschedulable = cordoned;
  return n.name == NULL ? STV_ENOMEM : stv_snapshot_add_node(s, &n);
}

TEST(should_add_manual_then_automatic_headroom_pods_as_pending_virtual_pods) {
  struct stv_snapshot s;
  struct stv_headroom h;
  struct stv_err err = {0, ""};
  struct stv_headroom_unit manual[] = {{2, 2000, 4 * GI}, {0, 1000, 0}, {1, 500, 0}};
  const struct stv_class *c;
  size_t i;
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  CHECK_EQ_INT(add_node(&s, "a", 4000, 16 * GI, 0), 0);
  CHECK_EQ_INT(add_node(&s, "b", 8000, 32 * GI, 0), 0);
  CHECK_EQ_INT(add_node(&s, "cordoned", 64000, 64 * GI, 1), 0);
  CHECK_EQ_INT(stv_headroom_add(&s, manual, 3, 25, &h, &err), 0);
  CHECK_EQ_INT(stv_snapshot_finish(&s, &err), 0);
  /* 25% of 12 cpu and 48Gi: 3 pods of 1 cpu and 4Gi. */
  CHECK_EQ_INT(h.nunits, 3);
  CHECK(h.automatic);
  CHECK_EQ_INT(h.units[2].count, 3);
  CHECK_EQ_INT(h.units[2].cpu, 1000);
  CHECK_EQ_INT(h.units[2].memory, 4 * GI);
  CHECK_EQ_INT(h.npods, 2 + 1 + 3);
  CHECK_EQ_INT(s.npods, 6);
  for (i = 0; i < s.npods; i++) {
    char want[32];
    snprintf(want, sizeof(want), "headroom-%zu", i + 1);
    CHECK(strcmp(s.pods[i].name, want) == 0);
    CHECK(strcmp(s.pods[i].ns, STV_HEADROOM_NAMESPACE) == 0);
    CHECK_EQ_INT(s.pods[i].flags, STV_POD_HEADROOM);
    CHECK_EQ_INT(s.pods[i].node, -1);
  }
  c = s.classes[s.pods[0].cls];
  CHECK_EQ_INT(c->req[STV_RES_CPU], 2000);
  CHECK_EQ_INT(c->req[STV_RES_MEMORY], 4 * GI);
  CHECK_EQ_INT(c->req[STV_RES_PODS], 1);
  CHECK_EQ_INT(c->npending, 2);
  CHECK(c->labels.n == 0 && c->ntol == 0 && c->node_selector.n == 0 && c->affinity.n == 0);
  CHECK_EQ_INT(s.classes[s.pods[2].cls]->req[STV_RES_CPU], 500);
  CHECK_EQ_INT(s.classes[s.pods[5].cls]->npending, 3);
  stv_snapshot_close(&s);
}

TEST(should_round_automatic_headroom_up_in_exact_arithmetic) {
  struct stv_snapshot s;
  struct stv_headroom_unit u;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  /* No nodes: nothing. */
  CHECK_EQ_INT(stv_headroom_automatic(&s, 10, &u, &err), 0);
  CHECK_EQ_INT(u.count, 0);
  /* 1930m and 6903Mi (an m5.large): 3.5790 Mi per millicore, 3577Mi per cpu rounded up. */
  CHECK_EQ_INT(add_node(&s, "a", 1930, 6903 * MI, 0), 0);
  CHECK_EQ_INT(stv_headroom_automatic(&s, 10, &u, &err), 0);
  CHECK_EQ_INT(u.cpu, 1000);
  CHECK_EQ_INT(u.memory, 3577 * MI);
  CHECK_EQ_INT(u.count, 1); /* 193m and 690.3Mi */
  CHECK_EQ_INT(stv_headroom_automatic(&s, 100, &u, &err), 0);
  CHECK_EQ_INT(u.count, 2); /* 1930m: 2 pods; 6903Mi: 2 pods */
  CHECK_EQ_INT(stv_headroom_automatic(&s, 0.0001, &u, &err), 0);
  CHECK_EQ_INT(u.count, 1);
  CHECK_EQ_INT(stv_headroom_automatic(&s, 0, &u, &err), 0);
  CHECK_EQ_INT(u.count, 0);
  stv_snapshot_close(&s);
}

TEST(should_refuse_headroom_when_a_snapshot_pod_uses_its_namespace) {
  struct stv_snapshot s;
  struct stv_headroom h;
  struct stv_err err = {0, ""};
  struct stv_headroom_unit one = {1, 1000, 0};
  struct stv_class c;
  struct stv_pod p;
  memset(&c, 0, sizeof(c));
  memset(&p, 0, sizeof(p));
  CHECK_EQ_INT(stv_snapshot_init(&s), 0);
  c.ns = p.ns = stv_strpool_get(&s.pool, STV_HEADROOM_NAMESPACE);
  p.name = stv_strpool_get(&s.pool, "mine");
  p.node = -1;
  CHECK_EQ_INT(stv_snapshot_intern_class(&s, &c, &p.cls), 0);
  CHECK_EQ_INT(stv_snapshot_add_pod(&s, &p), 0);
  CHECK_EQ_INT(stv_headroom_add(&s, NULL, 0, 0, &h, &err), 0); /* no headroom: no conflict */
  CHECK_EQ_INT(stv_headroom_add(&s, &one, 1, 0, &h, &err), STV_ECONFLICT);
  CHECK_STR_CONTAINS(err.msg, "Pod stevedore-headroom/mine: namespace stevedore-headroom is reserved");
  stv_snapshot_close(&s);
}

TEST(should_add_headroom_or_return_enomem_cleanly) {
  struct stv_snapshot s;
  struct stv_headroom h;
  struct stv_err err = {0, ""};
  struct stv_headroom_unit manual[] = {{3, 250, MI}};
  long n;
  int rc;
  for (n = 0;; n++) {
    CHECK_EQ_INT(stv_snapshot_init(&s), 0);
    CHECK_EQ_INT(add_node(&s, "a", 4000, 16 * GI, 0), 0);
    stv_alloc_fail_after(n);
    rc = stv_headroom_add(&s, manual, 1, 50, &h, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    CHECK_EQ_INT(rc, STV_ENOMEM);
    stv_snapshot_close(&s);
  }
  CHECK_EQ_INT(s.npods, 3 + 2);
  stv_snapshot_close(&s);
}

TEST(should_read_repack_system_pods_as_a_boolean) {
  static const char t_on[] = "repack:\n  systemPods: true\n", t_off[] = "repack:\n  systemPods: false\n";
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK_EQ_INT(c.repack_system_pods, 0);
  CHECK_EQ_INT(stv_config_load_text(&c, "stevedore.yaml", t_on, strlen(t_on), &err), 0);
  CHECK_EQ_INT(c.repack_system_pods, 1);
  CHECK_EQ_INT(stv_config_load_text(&c, "stevedore.yaml", t_off, strlen(t_off), &err), 0);
  CHECK_EQ_INT(c.repack_system_pods, 0);
  stv_config_close(&c);
  CHECK(fails_with("repack:\n  systemPods: \"true\"\n", STV_EINVAL,
                   "stevedore.yaml:2:15: repack.systemPods: expected true or false, got \"true\""));
  CHECK(fails_with("repack:\n  systemPods: 1\n", STV_EINVAL,
                   "stevedore.yaml:2:15: repack.systemPods: expected true or false, got \"1\""));
  CHECK(fails_with("repack:\n  system: true\n", STV_EINVAL,
                   "stevedore.yaml:2:3: repack: unknown key \"system\" (expected systemPods)"));
}

TEST(should_read_scheduler_names_and_the_priority_cutoff) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK_EQ_INT(c.priority_cutoff, STV_PRIORITY_CUTOFF_DEFAULT);
  CHECK(c.scheduler_names == NULL && c.nscheduler_names == 0);
  CHECK_EQ_INT(
      load(&c, "schedulerNames: [default-scheduler, volcano]\nexpendablePodsPriorityCutoff: -1000\n", &err),
      0);
  CHECK_EQ_INT(c.nscheduler_names, 2);
  CHECK(strcmp(c.scheduler_names[0], "default-scheduler") == 0 &&
        strcmp(c.scheduler_names[1], "volcano") == 0);
  CHECK_EQ_INT(c.priority_cutoff, -1000);
  stv_config_close(&c);
  CHECK(
      fails_with("expendablePodsPriorityCutoff: \"-5\"\n", STV_EINVAL,
                 "stevedore.yaml:1:31: expendablePodsPriorityCutoff: expected a whole number, got the quoted "
                 "string \"-5\""));
  CHECK(fails_with("expendablePodsPriorityCutoff: -2147483649\n", STV_EINVAL,
                   "stevedore.yaml:1:31: expendablePodsPriorityCutoff: -2147483649 is out of range for a pod "
                   "priority (a 32-bit integer)"));
  CHECK(fails_with("schedulerNames:\n", STV_EINVAL,
                   "stevedore.yaml:1:16: schedulerNames: must list at least one scheduler name"));
  CHECK(fails_with("schedulerNames: [a, \"\"]\n", STV_EINVAL,
                   "stevedore.yaml:1:21: schedulerNames[1]: must not be empty"));
}

TEST(should_parse_scheduler_name_lists_and_priorities) {
  struct stv_err err = {0, ""};
  const char *names[4];
  char buf[64];
  size_t n;
  int32_t v;
  strcpy(buf, "default-scheduler,volcano");
  CHECK_EQ_INT(stv_config_parse_scheduler_names(buf, names, 4, &n, &err), 0);
  CHECK(n == 2 && strcmp(names[0], "default-scheduler") == 0 && strcmp(names[1], "volcano") == 0);
  strcpy(buf, "a,");
  CHECK_EQ_INT(stv_config_parse_scheduler_names(buf, names, 4, &n, &err), STV_EINVAL);
  strcpy(buf, "a,b,c,d,e");
  CHECK_EQ_INT(stv_config_parse_scheduler_names(buf, names, 4, &n, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_priority("-10", &v, &err), 0);
  CHECK_EQ_INT(v, -10);
  CHECK_EQ_INT(stv_config_parse_priority("2147483647", &v, &err), 0);
  CHECK_EQ_INT(stv_config_parse_priority(" 5", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_priority("5x", &v, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_config_parse_priority("", &v, &err), STV_EINVAL);
}

/* ---------------------------------------------------------------------- */
/* The report section (stevedore report)                                  */

static const char report_full[] = "report:\n"
                                  "  prices:\n"
                                  "    nodes: {ip-10-0-1-5.ec2.internal: 0.05, n2: 0}\n"
                                  "    instanceTypes:\n"
                                  "      m5.xlarge: {reserved: 0.121, on-demand: 0.192}\n"
                                  "      c6i.large: 0.061\n"
                                  "  providerCapacityTypes:\n"
                                  "    \"aws:///us-east-1a/i-0abc123\": spot\n"
                                  "    gce://p/z/vm-1: reserved\n"
                                  "  ratios: {cpu: 1, ramGiB: 0.25, gpu: 8}\n"
                                  "  sharedNamespaces: [kube-system, monitoring]\n"
                                  "  sharedMode: proportional\n"
                                  "  overheadHourly: 0.1\n"
                                  "  margin: 0.3\n"
                                  "  defaultPrices:\n"
                                  "    enabled: false\n"
                                  "    cpu: 0.5\n"
                                  "    ramGiB: 0.01\n"
                                  "    gpu: 2\n"
                                  "    spotCpu: 0.2\n"
                                  "    spotRamGiB: 0.005\n";

/* The override of c for node or (type, capacity type), or NULL. */
static const struct stv_price_override *find_override(const struct stv_config *c, const char *node,
                                                      const char *type, const char *ct) {
  size_t i;
  for (i = 0; i < c->report.noverrides; i++) {
    const struct stv_price_override *o = &c->report.overrides[i];
    if ((node == NULL) != (o->node == NULL) || (type == NULL) != (o->instance_type == NULL) ||
        (ct == NULL) != (o->capacity_type == NULL))
      continue;
    if ((node && strcmp(node, o->node) != 0) || (type && strcmp(type, o->instance_type) != 0) ||
        (ct && strcmp(ct, o->capacity_type) != 0))
      continue;
    return o;
  }
  return NULL;
}

TEST(should_read_every_key_of_the_report_section) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  const struct stv_report_config *r = &c.report;
  const struct stv_price_override *o;
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c, report_full, &err), 0);
  CHECK_EQ_INT(r->noverrides, 5);
  CHECK((o = find_override(&c, "ip-10-0-1-5.ec2.internal", NULL, NULL)) != NULL && o->price == 0.05);
  CHECK((o = find_override(&c, "n2", NULL, NULL)) != NULL && o->price == 0);
  CHECK((o = find_override(&c, NULL, "m5.xlarge", "reserved")) != NULL && o->price == 0.121);
  CHECK((o = find_override(&c, NULL, "m5.xlarge", "on-demand")) != NULL && o->price == 0.192);
  CHECK(find_override(&c, NULL, "m5.xlarge", "spot") == NULL);
  CHECK((o = find_override(&c, NULL, "c6i.large", NULL)) != NULL && o->price == 0.061);
  CHECK_EQ_INT(r->nprovider_capacity, 2);
  /* Sorted by provider id. */
  CHECK(strcmp(r->provider_capacity[0].provider_id, "aws:///us-east-1a/i-0abc123") == 0);
  CHECK(strcmp(r->provider_capacity[0].capacity_type, "spot") == 0);
  CHECK(strcmp(r->provider_capacity[1].provider_id, "gce://p/z/vm-1") == 0);
  CHECK(strcmp(r->provider_capacity[1].capacity_type, "reserved") == 0);
  CHECK(r->ratio_cpu == 1 && r->ratio_ram == 0.25 && r->ratio_gpu == 8);
  CHECK(r->have_shared && r->nshared == 2);
  CHECK(strcmp(r->shared_namespaces[0], "kube-system") == 0 &&
        strcmp(r->shared_namespaces[1], "monitoring") == 0);
  CHECK_EQ_INT(r->shared_mode, STV_SHARED_PROPORTIONAL);
  CHECK(r->overhead_hourly == 0.1 && r->margin == 0.3);
  CHECK_EQ_INT(r->default_rates, 0);
  CHECK(r->default_cpu == 0.5 && r->default_ram == 0.01 && r->default_gpu == 2);
  CHECK(r->default_spot_cpu == 0.2 && r->default_spot_ram == 0.005);
  /* recommend's settings keep their defaults. */
  CHECK(c.capacity_types == ALL_CT && c.time_limit == STV_TIME_LIMIT_DEFAULT && c.npools == 0);
  stv_config_close(&c);
}

TEST(should_keep_the_report_defaults_for_what_the_file_leaves_out) {
  static const char t_empty_list[] = "report:\n  sharedNamespaces: []\n",
                    t_ratio[] = "report:\n  ratios: {gpu: 4}\n";
  struct stv_config c;
  struct stv_err err = {0, ""};
  const struct stv_report_config *r = &c.report;
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c, "timeLimit: 1s\n", &err), 0);
  CHECK(r->noverrides == 0 && r->nprovider_capacity == 0 && !r->have_shared);
  CHECK(r->ratio_cpu == 0 && r->ratio_ram == 0 && r->ratio_gpu == 0);
  CHECK_EQ_INT(r->shared_mode, STV_SHARED_EVEN);
  CHECK(r->overhead_hourly == 0 && r->margin == 0.2 && r->default_rates == 1);
  CHECK(r->default_cpu == STV_RATIO_CPU && r->default_ram == STV_RATIO_RAM &&
        r->default_gpu == STV_RATIO_GPU);
  CHECK(r->default_spot_cpu == STV_DEFAULT_SPOT_CPU && r->default_spot_ram == STV_DEFAULT_SPOT_RAM);
  CHECK_EQ_INT(load(&c, "report:\n", &err), 0);
  CHECK(r->margin == 0.2 && !r->have_shared);
  /* [] is no shared namespace, not the default. */
  CHECK_EQ_INT(load(&c, t_empty_list, &err), 0);
  CHECK(r->have_shared && r->nshared == 0 && r->shared_namespaces != NULL);
  CHECK_EQ_INT(load(&c, t_ratio, &err), 0);
  CHECK(r->ratio_cpu == 0 && r->ratio_gpu == 4 && !r->have_shared);
  stv_config_close(&c);
}

TEST(should_name_line_column_and_path_of_every_report_error) {
  CHECK(
      fails_with("report:\n  prices: {node: {a: 1}}\n", STV_EINVAL,
                 "stevedore.yaml:2:12: report.prices: unknown key \"node\" (expected nodes, instanceTypes)"));
  CHECK(fails_with("report:\n  prices:\n    nodes: {a: 1, b: -0.5}\n", STV_EINVAL,
                   "stevedore.yaml:3:22: report.prices.nodes.b: -0.5 is out of range (0 to 1e+09)"));
  CHECK(fails_with(
      "report:\n  prices:\n    nodes: {a: \"1\"}\n", STV_EINVAL,
      "stevedore.yaml:3:16: report.prices.nodes.a: expected a number, got the quoted string \"1\""));
  CHECK(fails_with("report:\n  prices:\n    nodes: {a: 1, a: 2}\n", STV_EINVAL,
                   "stevedore.yaml:3:19: report.prices.nodes.a: duplicate key"));
  CHECK(fails_with(
      "report:\n  prices:\n    nodes: [a]\n", STV_EINVAL,
      "stevedore.yaml:3:12: report.prices.nodes: expected a mapping of node names to values, got a "
      "list"));
  CHECK(
      fails_with("report:\n  prices:\n    instanceTypes: {m5.large: {spto: 1}}\n", STV_EINVAL,
                 "stevedore.yaml:3:32: report.prices.instanceTypes.m5.large: unknown key \"spto\" (expected "
                 "reserved, spot, on-demand)"));
  CHECK(fails_with(
      "report:\n  prices:\n    instanceTypes: {m5.large: {spot: cheap}}\n", STV_EINVAL,
      "stevedore.yaml:3:38: report.prices.instanceTypes.m5.large.spot: \"cheap\" is not a number"));
  CHECK(fails_with("report:\n  providerCapacityTypes: {\"aws:///a/i-1\": spto}\n", STV_EINVAL,
                   "stevedore.yaml:2:43: report.providerCapacityTypes.aws:///a/i-1: unknown capacity type "
                   "\"spto\" (expected reserved, spot, on-demand)"));
  CHECK(
      fails_with("report:\n  ratios: {cpu: 1, ram_gib: 0.25}\n", STV_EINVAL,
                 "stevedore.yaml:2:20: report.ratios: unknown key \"ram_gib\" (expected cpu, ramGiB, gpu)"));
  CHECK(fails_with("report:\n  ratios: {ramGiB: 0}\n", STV_EINVAL,
                   "stevedore.yaml:2:20: report.ratios.ramGiB: must be positive (only the ratio matters)"));
  CHECK(
      fails_with("report:\n  sharedNamespaces:\n", STV_EINVAL,
                 "stevedore.yaml:2:20: report.sharedNamespaces: expected a list of namespaces; write [] for "
                 "none, or leave the key out for the default (kube-system)"));
  CHECK(fails_with("report:\n  sharedNamespaces: [kube-system, \"\"]\n", STV_EINVAL,
                   "stevedore.yaml:2:35: report.sharedNamespaces[1]: \"\" is not a namespace name"));
  CHECK(fails_with("report:\n  sharedNamespaces: kube-system\n", STV_EINVAL,
                   "stevedore.yaml:2:21: report.sharedNamespaces: expected a list, got a plain value"));
  CHECK(fails_with(
      "report:\n  sharedMode: fair\n", STV_EINVAL,
      "stevedore.yaml:2:15: report.sharedMode: unknown mode \"fair\" (expected even, proportional)"));
  CHECK(fails_with("report:\n  overheadHourly: -1\n", STV_EINVAL,
                   "stevedore.yaml:2:19: report.overheadHourly: -1 is out of range (0 to 1e+09)"));
  CHECK(fails_with("report:\n  margin: 20\n", STV_EINVAL,
                   "stevedore.yaml:2:11: report.margin: 20 is out of range (0 to 10)"));
  CHECK(fails_with("report:\n  defaultPrices: {enabled: yes}\n", STV_EINVAL,
                   "stevedore.yaml:2:28: report.defaultPrices.enabled: expected true or false, got \"yes\""));
  CHECK(fails_with(
      "report:\n  defaultPrices: {spot_cpu: 1}\n", STV_EINVAL,
      "stevedore.yaml:2:19: report.defaultPrices: unknown key \"spot_cpu\" (expected enabled, cpu, "
      "ramGiB, gpu, spotCpu, spotRamGiB)"));
  CHECK(fails_with("report:\n  defaultPrices: {gpu: .nan}\n", STV_EINVAL,
                   "stevedore.yaml:2:24: report.defaultPrices.gpu: \".nan\" is not a number"));
  CHECK(fails_with("report: [ratios]\n", STV_EINVAL,
                   "stevedore.yaml:1:9: report: expected a mapping, got a list"));
  CHECK(fails_with("report:\n  shared_namespaces: []\n", STV_EINVAL,
                   "stevedore.yaml:2:3: report: unknown key \"shared_namespaces\" (expected prices, "
                   "providerCapacityTypes, ratios, sharedNamespaces, sharedMode, overheadHourly, margin, "
                   "defaultPrices)"));
}

TEST(should_leave_the_report_section_unchanged_when_a_load_fails) {
  static const char bad[] = "report:\n  margin: 0.5\n  sharedMode: fair\n";
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c, report_full, &err), 0);
  CHECK_EQ_INT(load(&c, bad, &err), STV_EINVAL);
  CHECK(c.report.margin == 0.3 && c.report.noverrides == 5 &&
        c.report.shared_mode == STV_SHARED_PROPORTIONAL);
  CHECK(strcmp(c.report.overrides[0].node != NULL ? c.report.overrides[0].node : "",
               "ip-10-0-1-5.ec2.internal") == 0);
  stv_config_close(&c);
}

TEST(should_return_enomem_cleanly_from_the_report_section_whichever_allocation_fails) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  long n;
  int rc;
  stv_config_init(&c);
  for (n = 0;; n++) {
    stv_alloc_fail_after(n);
    rc = load(&c, report_full, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) break;
    CHECK_EQ_INT(rc, STV_ENOMEM);
    CHECK(c.report.noverrides == 0 && c.mem.head == NULL && c.strings.block == NULL);
  }
  CHECK(n >= 3);
  CHECK_EQ_INT(c.report.noverrides, 5);
  stv_config_close(&c);
}

TEST(should_say_where_a_report_setting_at_the_top_of_the_file_belongs) {
  CHECK(fails_with("timeLimit: 2s\nratios: {cpu: 1}\n", STV_EINVAL,
                   "stevedore.yaml:2:1: ratios is a setting of stevedore report: put it under report: "
                   "(report.ratios; docs/report.md)"));
  CHECK(fails_with("margin: 0.2\n", STV_EINVAL,
                   "stevedore.yaml:1:1: margin is a setting of stevedore report: put it under report: "
                   "(report.margin; docs/report.md)"));
  /* The old JSON report configuration, which is YAML too. */
  CHECK(fails_with(
      "{\"ratios\": {\"cpu\": 1}, \"shared_mode\": \"even\"}", STV_EINVAL,
      "stevedore.yaml:1:24: shared_mode is a key of the old JSON report configuration; the report's "
      "settings now go under report: with new names (docs/report.md, \"Configuration\")"));
}

/* ---------------------------------------------------------------------- */
/* Limits                                                                 */

TEST(should_read_cluster_and_pool_limits_and_leave_the_rest_unlimited) {
  static const char text[] = "limits:\n"
                             "  cpu: 1000\n"
                             "  memory: 4Ti\n"
                             "  nvidia.com/gpu: 8\n"
                             "  nodes: 200\n"
                             "  costPerHour: 125.5\n"
                             "nodePools:\n"
                             "  - name: gpu\n"
                             "    limits: {nvidia.com/gpu: 4, costPerHour: 40}\n"
                             "  - name: general\n"
                             "    limits: {cpu: 500m}\n"
                             "  - name: free\n";
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK(c.limits.cpu == -1 && c.limits.memory == -1 && c.limits.gpu == -1 && c.limits.nodes == -1 &&
        c.limits.cost_per_hour == -1);
  CHECK_EQ_INT(load(&c, text, &err), 0);
  CHECK(c.limits.cpu == 1000000);
  CHECK(c.limits.memory == 4 * 1024 * GI);
  CHECK(c.limits.gpu == 8);
  CHECK(c.limits.nodes == 200);
  CHECK(c.limits.cost_per_hour == 125.5);
  CHECK_EQ_INT(c.npools, 3);
  CHECK(c.pools[0].limits.gpu == 4 && c.pools[0].limits.cost_per_hour == 40);
  CHECK(c.pools[0].limits.cpu == -1 && c.pools[0].limits.memory == -1 && c.pools[0].limits.nodes == -1);
  CHECK(c.pools[1].limits.cpu == 500 && c.pools[1].limits.gpu == -1 && c.pools[1].limits.cost_per_hour == -1);
  CHECK(c.pools[2].limits.cpu == -1 && c.pools[2].limits.memory == -1 && c.pools[2].limits.gpu == -1 &&
        c.pools[2].limits.nodes == -1 && c.pools[2].limits.cost_per_hour == -1);
  /* Zero is a limit (nothing may be added), not "none". */
  CHECK_EQ_INT(load(&c, "limits: {nodes: 0, costPerHour: 0}\n", &err), 0);
  CHECK(c.limits.nodes == 0 && c.limits.cost_per_hour == 0 && c.limits.cpu == -1);
  /* An empty limits: is no limit, as an empty spot: keeps the defaults. */
  CHECK_EQ_INT(load(&c, "limits:\n", &err), 0);
  CHECK(c.limits.nodes == -1 && c.limits.cost_per_hour == -1);
  stv_config_close(&c);
  CHECK(c.limits.nodes == -1);
}

TEST(should_name_line_column_and_path_of_every_limits_error) {
  CHECK(fails_with("limits: {cpus: 4}\n", STV_EINVAL,
                   "stevedore.yaml:1:10: limits: unknown key \"cpus\" (expected cpu, memory, nvidia.com/gpu, "
                   "nodes, costPerHour)"));
  CHECK(
      fails_with("limits: [1]\n", STV_EINVAL, "stevedore.yaml:1:9: limits: expected a mapping, got a list"));
  CHECK(fails_starting("limits: {cpu: lots}\n", STV_EINVAL, "stevedore.yaml:1:15: limits.cpu: "));
  CHECK(fails_with("limits: {memory: -1Gi}\n", STV_EINVAL,
                   "stevedore.yaml:1:18: limits.memory: negative quantity \"-1Gi\""));
  CHECK(fails_with("limits: {nodes: 2.5}\n", STV_EINVAL,
                   "stevedore.yaml:1:17: limits.nodes: expected a whole number, got 2.5"));
  CHECK(fails_with("limits: {nodes: \"3\"}\n", STV_EINVAL,
                   "stevedore.yaml:1:17: limits.nodes: expected a number, got the quoted string \"3\""));
  CHECK(
      fails_starting("limits: {costPerHour: -5}\n", STV_EINVAL, "stevedore.yaml:1:23: limits.costPerHour: "));
  CHECK(fails_starting("nodePools:\n  - name: a\n    limits: {nvidia.com/gpu: 1.5}\n", STV_EINVAL,
                       "stevedore.yaml:3:30: nodePools[0].limits.nvidia.com/gpu: expected a whole number"));
  CHECK(fails_with("nodePools:\n  - name: a\n    limits: {gpu: 1}\n", STV_EINVAL,
                   "stevedore.yaml:3:14: nodePools[0].limits: unknown key \"gpu\" (expected cpu, memory, "
                   "nvidia.com/gpu, nodes, costPerHour)"));
}

TEST(should_read_the_live_prices_block_and_the_azure_prices_endpoint) {
  struct stv_config c;
  struct stv_err err = {0, ""};
  stv_config_init(&c);
  CHECK(c.prices_refresh == 3600);
  CHECK_EQ_INT(load(&c, "prices:\n  refresh: 15m\nazure:\n  pricesEndpoint: http://127.0.0.1:9/p\n", &err), 0);
  CHECK(c.prices_refresh == 900);
  CHECK(strcmp(c.azure.prices_endpoint, "http://127.0.0.1:9/p") == 0);
  stv_config_close(&c);
  stv_config_init(&c);
  CHECK_EQ_INT(load(&c, "prices:\n  refresh: 0s\n", &err), 0);
  CHECK(c.prices_refresh == 0);
  stv_config_close(&c);
  CHECK(fails_with("prices:\n  refresh: 2s\n", STV_EINVAL,
                   "stevedore.yaml:2:12: prices.refresh: must be 0 (never) or from 5s to 168h (a week)"));
  CHECK(fails_starting("prices:\n  refresh: soon\n", STV_EINVAL,
                       "stevedore.yaml:2:12: prices.refresh: invalid duration \"soon\""));
  CHECK(fails_with("prices:\n  refresh: 1h\n  every: 2h\n", STV_EINVAL,
                   "stevedore.yaml:3:3: prices: unknown key \"every\" (expected refresh)"));
  CHECK(fails_with("azure:\n  pricesEndpoint: prices.azure.com\n", STV_EINVAL,
                   "stevedore.yaml:2:19: azure.pricesEndpoint: expected an http:// or https:// URL, got "
                   "\"prices.azure.com\""));
  /* report's prices at the top level are still said to be misplaced */
  CHECK(fails_starting("prices:\n  nodes: {a: 1}\n", STV_EINVAL,
                       "stevedore.yaml:1:1: prices is a setting of stevedore report"));
}
