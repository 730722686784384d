/*
 * Fuzz target: the AWS adapter's XML answers (cloud/aws_xml.c). The first
 * byte picks the kind of answer (groups, instances, spot prices,
 * activities, offerings, STS, launch template, none, reservations, launch
 * configurations); the rest is the body.
 * Any body parses or fails with STV_EPARSE (STV_ENOMEM aside) and a message
 * naming the action; a parsed answer's arrays hold what the readers
 * promise (names, counts >= 0, prices >= 0); the error reader and the
 * error mapping give a code from the provider's table and a message.
 */
#include "fuzz.h"

#include "aws_internal.h"

static const enum stv__aws_kind kinds[] = {STV__AWS_ASGS,       STV__AWS_INSTANCES, STV__AWS_SPOT,
                                           STV__AWS_ACTIVITIES, STV__AWS_OFFERINGS, STV__AWS_STS,
                                           STV__AWS_LT,         STV__AWS_EMPTY,     STV__AWS_RESERVED,
                                           STV__AWS_LCS};
static const char *const actions[] = {"DescribeAutoScalingGroups",      "DescribeInstances",
                                      "DescribeSpotPriceHistory",       "DescribeScalingActivities",
                                      "DescribeInstanceTypeOfferings",  "AssumeRoleWithWebIdentity",
                                      "DescribeLaunchTemplateVersions", "SetDesiredCapacity",
                                      "DescribeReservedInstances",      "DescribeLaunchConfigurations"};

static void check_answer(const struct stv__aws_answer *a) {
  size_t i, j;
  for (i = 0; i < a->nasgs; i++) {
    const struct stv__aws_asg *g = &a->asgs[i];
    FUZZ_CHECK(g->name != NULL && g->min >= 0 && g->max >= 0 && g->desired >= 0);
    for (j = 0; j < g->nzones; j++) FUZZ_CHECK(g->zones[j] != NULL);
    for (j = 0; j < g->ntypes; j++) FUZZ_CHECK(g->types[j] != NULL);
    for (j = 0; j < g->ntags; j++) FUZZ_CHECK(g->tags[j].key != NULL && g->tags[j].value != NULL);
    for (j = 0; j < g->ninst; j++) FUZZ_CHECK(g->inst[j].id != NULL && g->inst[j].zone != NULL);
  }
  for (i = 0; i < a->ninstances; i++)
    FUZZ_CHECK(a->instances[i].id && a->instances[i].type && a->instances[i].zone && a->instances[i].state);
  for (i = 0; i < a->nprices; i++)
    FUZZ_CHECK(a->prices[i].type && a->prices[i].zone && a->prices[i].price >= 0);
  for (i = 0; i < a->nactivities; i++) FUZZ_CHECK(a->activities[i].id && a->activities[i].status);
  for (i = 0; i < a->nofferings; i++) FUZZ_CHECK(a->offerings[i].type && a->offerings[i].zone);
  for (i = 0; i < a->nreservations; i++) {
    const struct stv__aws_reservation *r = &a->reservations[i];
    struct stv_err err = {0, ""};
    double h = -1;
    FUZZ_CHECK(r->type && r->state && r->count >= 0 && r->duration >= 0);
    FUZZ_CHECK(r->fixed >= 0 && r->usage >= 0 && r->recurring >= 0);
    /* The effective price: a finite figure >= 0, or an error naming the reservation. */
    if (stv__aws_reservation_hourly(r, &h, &err) == 0)
      FUZZ_CHECK(h >= 0 && h <= 1e6);
    else
      FUZZ_CHECK(err.code == STV_EPARSE && strstr(err.msg, "reservation") != NULL);
  }
  for (i = 0; i < a->nlcs; i++)
    FUZZ_CHECK(a->lcs[i].name && a->lcs[i].type && (a->lcs[i].spot_price == NULL || a->lcs[i].spot_price[0]));
  FUZZ_CHECK(a->next_token == NULL || a->next_token[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv__aws_answer a;
  struct stv_err err = {0, ""};
  char msg[512];
  size_t k;
  int rc;
  if (size == 0) return 0;
  k = data[0] % (sizeof(kinds) / sizeof(kinds[0]));
  rc = stv__aws_parse(kinds[k], actions[k], (const char *)data + 1, size - 1, &a, &err);
  FUZZ_CHECK(rc == 0 || rc == STV_EPARSE || rc == STV_ENOMEM);
  if (rc == STV_EPARSE) FUZZ_CHECK(strstr(err.msg, actions[k]) != NULL);
  if (rc == 0) check_answer(&a);
  stv__aws_answer_close(&a);
  rc = stv__aws_map_error("autoscaling", actions[k], 400, (const char *)data + 1, size - 1, msg, sizeof(msg));
  FUZZ_CHECK(rc == STV_ECAPACITY || rc == STV_ETHROTTLED || rc == STV_EINVAL || rc == STV_EUNSUPPORTED ||
             rc == STV_ETIMEDOUT || rc == STV_ENOTFOUND || rc == STV_ELIMIT || rc == STV_EIO);
  FUZZ_CHECK(strstr(msg, actions[k]) != NULL);
  return 0;
}
