/*
 * The AWS adapter's readers and mappings on canned answers (the shapes of
 * the AWS API reference): DescribeAutoScalingGroups with mixed-instances
 * overrides and tags, DescribeInstances, DescribeSpotPriceHistory,
 * DescribeScalingActivities, DescribeInstanceTypeOfferings, STS,
 * DescribeReservedInstances (the effective hourly price),
 * DescribeLaunchConfigurations; the error
 * documents of both Query API flavours mapped to the provider's codes;
 * hostile bodies (huge, deep, entities, DOCTYPE, malformed) refused with a
 * message naming the action; the form encoding SigV4 canonicalises; the
 * backoff of cloud/call.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_internal.h"
#include "base.h"
#include "call.h"
#include "clock.h"
#include "harness.h"

static const char ASGS[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeAutoScalingGroupsResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\n"
    "  <DescribeAutoScalingGroupsResult>\n"
    "    <AutoScalingGroups>\n"
    "      <member>\n"
    "        <AutoScalingGroupName>workers-mixed</AutoScalingGroupName>\n"
    "        <MinSize>0</MinSize><MaxSize>10</MaxSize><DesiredCapacity>2</DesiredCapacity>\n"
    "        <AvailabilityZones><member>us-east-1a</member><member>us-east-1b</member></AvailabilityZones>\n"
    "        <MixedInstancesPolicy>\n"
    "          <LaunchTemplate>\n"
    "            "
    "<LaunchTemplateSpecification><LaunchTemplateId>lt-0a</LaunchTemplateId></LaunchTemplateSpecification>\n"
    "            <Overrides><member><InstanceType>m5.large</InstanceType></member>"
    "<member><InstanceType>m5a.large</InstanceType></member></Overrides>\n"
    "          </LaunchTemplate>\n"
    "          <InstancesDistribution><OnDemandBaseCapacity>0</OnDemandBaseCapacity>"
    "<OnDemandPercentageAboveBaseCapacity>0</OnDemandPercentageAboveBaseCapacity>"
    "<SpotAllocationStrategy>price-capacity-optimized</SpotAllocationStrategy></InstancesDistribution>\n"
    "        </MixedInstancesPolicy>\n"
    "        <Instances>\n"
    "          <member><InstanceId>i-0123456789abcdef0</InstanceId><InstanceType>m5.large</InstanceType>"
    "<AvailabilityZone>us-east-1a</AvailabilityZone><LifecycleState>InService</LifecycleState></member>\n"
    "        </Instances>\n"
    "        <Tags>\n"
    "          <member><Key>k8s.io/cluster-autoscaler/enabled</Key><Value>true</Value></member>\n"
    "          <member><Key>k8s.io/cluster-autoscaler/prod</Key><Value>owned</Value></member>\n"
    "          <member><Key>k8s.io/cluster-autoscaler/node-template/label/stevedore.io/node-pool</Key>"
    "<Value>batch</Value></member>\n"
    "        </Tags>\n"
    "      </member>\n"
    "    </AutoScalingGroups>\n"
    "    <NextToken>page-2</NextToken>\n"
    "  </DescribeAutoScalingGroupsResult>\n"
    "  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>\n"
    "</DescribeAutoScalingGroupsResponse>\n";

TEST(should_read_groups_with_overrides_distribution_tags_instances_and_the_next_token) {
  struct stv__aws_answer a;
  struct stv_err err = {0, ""};
  const struct stv__aws_asg *g;
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_ASGS, "DescribeAutoScalingGroups", ASGS, strlen(ASGS), &a, &err), 0);
  CHECK_EQ_INT(a.nasgs, 1);
  g = &a.asgs[0];
  CHECK(strcmp(g->name, "workers-mixed") == 0);
  CHECK_EQ_INT(g->min, 0);
  CHECK_EQ_INT(g->max, 10);
  CHECK_EQ_INT(g->desired, 2);
  CHECK_EQ_INT(g->nzones, 2);
  CHECK(strcmp(g->zones[1], "us-east-1b") == 0);
  CHECK_EQ_INT(g->mixed, 1);
  CHECK_EQ_INT(g->ntypes, 2);
  CHECK(strcmp(g->types[1], "m5a.large") == 0);
  CHECK_EQ_INT(g->od_pct, 0);
  CHECK(strcmp(g->spot_strategy, "price-capacity-optimized") == 0);
  CHECK_EQ_INT(g->ninst, 1);
  CHECK(strcmp(g->inst[0].id, "i-0123456789abcdef0") == 0);
  CHECK(strcmp(stv__aws_tag(g, "k8s.io/cluster-autoscaler/prod"), "owned") == 0);
  CHECK(strcmp(stv__aws_tag(g, "k8s.io/cluster-autoscaler/node-template/label/stevedore.io/node-pool"),
               "batch") == 0);
  CHECK(stv__aws_tag(g, "absent") == NULL);
  CHECK(a.next_token != NULL && strcmp(a.next_token, "page-2") == 0);
  stv__aws_answer_close(&a);
}

TEST(should_refuse_a_group_whose_size_is_not_a_count_naming_the_group_and_field) {
  const char *bad =
      "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups>"
      "<member><AutoScalingGroupName>g1</AutoScalingGroupName><MinSize>0</MinSize>"
      "<MaxSize>ten</MaxSize><DesiredCapacity>1</DesiredCapacity></member>"
      "</AutoScalingGroups></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>";
  struct stv__aws_answer a;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_ASGS, "DescribeAutoScalingGroups", bad, strlen(bad), &a, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "group g1");
  CHECK_STR_CONTAINS(err.msg, "MaxSize");
  stv__aws_answer_close(&a);
}

TEST(should_read_ec2_instances_with_lifecycle_state_zone_and_group_tag) {
  const char *xml =
      "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId>"
      "<reservationSet><item><reservationId>r-1</reservationId><instancesSet>"
      "<item><instanceId>i-0aaa</instanceId><instanceType>m5.large</instanceType>"
      "<placement><availabilityZone>us-east-1b</availabilityZone></placement>"
      "<instanceState><code>16</code><name>running</name></instanceState>"
      "<launchTime>2026-12-07T20:00:00.000Z</launchTime><instanceLifecycle>spot</instanceLifecycle>"
      "<tagSet><item><key>Name</key><value>x</value></item>"
      "<item><key>aws:autoscaling:groupName</key><value>workers</value></item></tagSet></item>"
      "<item><instanceId>i-0bbb</instanceId><instanceType>c5.xlarge</instanceType>"
      "<placement><availabilityZone>us-east-1a</availabilityZone></placement>"
      "<instanceState><code>0</code><name>pending</name></instanceState></item>"
      "</instancesSet></item></reservationSet><nextToken>n2</nextToken></DescribeInstancesResponse>";
  struct stv__aws_answer a;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_INSTANCES, "DescribeInstances", xml, strlen(xml), &a, &err), 0);
  CHECK_EQ_INT(a.ninstances, 2);
  CHECK(strcmp(a.instances[0].zone, "us-east-1b") == 0);
  CHECK(strcmp(a.instances[0].lifecycle, "spot") == 0);
  CHECK(strcmp(a.instances[0].group, "workers") == 0);
  CHECK(strcmp(a.instances[0].state, "running") == 0);
  CHECK(a.instances[1].lifecycle == NULL);
  CHECK(a.instances[1].group == NULL);
  CHECK(strcmp(a.next_token, "n2") == 0);
  stv__aws_answer_close(&a);
}

TEST(should_read_spot_prices_activities_offerings_and_sts_credentials) {
  const char *spot =
      "<DescribeSpotPriceHistoryResponse><spotPriceHistorySet>"
      "<item><instanceType>m5.large</instanceType><productDescription>Linux/UNIX</productDescription>"
      "<spotPrice>0.036100</spotPrice><timestamp>2026-12-07T21:00:00.000Z</timestamp>"
      "<availabilityZone>us-east-1a</availabilityZone></item>"
      "</spotPriceHistorySet><nextToken/></DescribeSpotPriceHistoryResponse>";
  const char *act =
      "<DescribeScalingActivitiesResponse><DescribeScalingActivitiesResult><Activities>"
      "<member><ActivityId>a-1</ActivityId><AutoScalingGroupName>w</AutoScalingGroupName>"
      "<StatusCode>Failed</StatusCode><StatusMessage>We currently do not have sufficient m5.large "
      "capacity in the Availability Zone you requested (us-east-1a).</StatusMessage></member>"
      "</Activities></DescribeScalingActivitiesResult></DescribeScalingActivitiesResponse>";
  const char *off =
      "<DescribeInstanceTypeOfferingsResponse><instanceTypeOfferingSet>"
      "<item><instanceType>m5.large</instanceType><locationType>availability-zone</locationType>"
      "<location>us-east-1c</location></item></instanceTypeOfferingSet>"
      "</DescribeInstanceTypeOfferingsResponse>";
  const char *sts = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
                    "<AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s3cr3t</SecretAccessKey>"
                    "<SessionToken>tok</SessionToken><Expiration>2026-12-07T23:00:00Z</Expiration>"
                    "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
  struct stv__aws_answer a;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_SPOT, "DescribeSpotPriceHistory", spot, strlen(spot), &a, &err), 0);
  CHECK_EQ_INT(a.nprices, 1);
  CHECK(fabs(a.prices[0].price - 0.0361) < 1e-9);
  CHECK(a.next_token == NULL); /* an empty token is the last page */
  stv__aws_answer_close(&a);
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_ACTIVITIES, "DescribeScalingActivities", act, strlen(act), &a, &err),
               0);
  CHECK_EQ_INT(a.nactivities, 1);
  CHECK(strcmp(a.activities[0].status, "Failed") == 0);
  CHECK_STR_CONTAINS(a.activities[0].message, "sufficient m5.large capacity");
  stv__aws_answer_close(&a);
  CHECK_EQ_INT(
      stv__aws_parse(STV__AWS_OFFERINGS, "DescribeInstanceTypeOfferings", off, strlen(off), &a, &err), 0);
  CHECK_EQ_INT(a.nofferings, 1);
  CHECK(strcmp(a.offerings[0].zone, "us-east-1c") == 0);
  stv__aws_answer_close(&a);
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_STS, "AssumeRoleWithWebIdentity", sts, strlen(sts), &a, &err), 0);
  CHECK(strcmp(a.creds.secret, "s3cr3t") == 0);
  CHECK(strcmp(a.creds.expiration, "2026-12-07T23:00:00Z") == 0);
  stv__aws_answer_close(&a);
}

/* The code an error body maps to, and its message in msg. */
static int mapped(const char *svc, const char *action, long status, const char *body, char *msg, size_t n) {
  return stv__aws_map_error(svc, action, status, body, strlen(body), msg, n);
}

TEST(should_map_aws_errors_to_the_provider_codes_with_the_action_and_aws_words) {
  char msg[512];
  CHECK_EQ_INT(mapped("autoscaling", "SetDesiredCapacity", 400,
                      "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded"
                      "</Message></Error><RequestId>x</RequestId></ErrorResponse>",
                      msg, sizeof(msg)),
               STV_ETHROTTLED);
  CHECK_STR_CONTAINS(msg, "Rate exceeded");
  CHECK_EQ_INT(
      mapped("ec2", "DescribeInstances", 503,
             "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
             "</Message></Error></Errors><RequestID>y</RequestID></Response>",
             msg, sizeof(msg)),
      STV_ETHROTTLED);
  CHECK_EQ_INT(
      mapped("autoscaling", "SetDesiredCapacity", 400,
             "<ErrorResponse><Error><Code>ValidationError</Code><Message>New SetDesiredCapacity value 11 "
             "is above max value 10 for the AutoScalingGroup.</Message></Error></ErrorResponse>",
             msg, sizeof(msg)),
      STV_EINVAL);
  CHECK_STR_CONTAINS(msg, "above max value 10");
  CHECK_STR_CONTAINS(msg, "SetDesiredCapacity");
  CHECK_EQ_INT(
      mapped("ec2", "DescribeInstances", 400,
             "<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>bad</Message></Error>"
             "</Errors></Response>",
             msg, sizeof(msg)),
      STV_EINVAL);
  CHECK_EQ_INT(
      mapped("ec2", "RunInstances", 500,
             "<Response><Errors><Error><Code>InsufficientInstanceCapacity</Code><Message>none</Message>"
             "</Error></Errors></Response>",
             msg, sizeof(msg)),
      STV_ECAPACITY);
  CHECK_EQ_INT(
      mapped("autoscaling", "TerminateInstanceInAutoScalingGroup", 403,
             "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: arn:aws:sts::1:assumed-role/x "
             "is not authorized</Message></Error></ErrorResponse>",
             msg, sizeof(msg)),
      STV_EUNSUPPORTED);
  CHECK_STR_CONTAINS(msg, "autoscaling:TerminateInstanceInAutoScalingGroup");
  CHECK_EQ_INT(
      mapped("ec2", "DescribeInstances", 403,
             "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>no</Message></Error>"
             "</Errors></Response>",
             msg, sizeof(msg)),
      STV_EUNSUPPORTED);
  CHECK_STR_CONTAINS(msg, "ec2:DescribeInstances");
  CHECK_EQ_INT(
      mapped("autoscaling", "DescribeAutoScalingGroups", 403,
             "<ErrorResponse><Error><Code>ExpiredToken</Code><Message>The security token included in the "
             "request is expired</Message></Error></ErrorResponse>",
             msg, sizeof(msg)),
      STV_ETIMEDOUT);
  CHECK_EQ_INT(
      mapped("ec2", "DescribeInstances", 400,
             "<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>gone</Message>"
             "</Error></Errors></Response>",
             msg, sizeof(msg)),
      STV_ENOTFOUND);
  CHECK_EQ_INT(
      mapped("ec2", "RunInstances", 400,
             "<Response><Errors><Error><Code>VcpuLimitExceeded</Code><Message>quota</Message></Error>"
             "</Errors></Response>",
             msg, sizeof(msg)),
      STV_ELIMIT);
  /* No error document: the status decides, and the message says so. */
  CHECK_EQ_INT(mapped("autoscaling", "SetDesiredCapacity", 503, "Service Unavailable", msg, sizeof(msg)),
               STV_ETHROTTLED);
  CHECK_STR_CONTAINS(msg, "no AWS error document");
  CHECK_EQ_INT(mapped("autoscaling", "SetDesiredCapacity", 502, "", msg, sizeof(msg)), STV_EIO);
}

/* Parses body as a DescribeAutoScalingGroups answer; returns the code, err filled. */
static int parse_groups(const char *body, size_t len, struct stv_err *err) {
  struct stv__aws_answer a;
  int rc = stv__aws_parse(STV__AWS_ASGS, "DescribeAutoScalingGroups", body, len, &a, err);
  stv__aws_answer_close(&a);
  return rc;
}

TEST(should_refuse_entities_and_doctypes_without_expanding_them) {
  const char *laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
      "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
      "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
      "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups>"
      "<member><AutoScalingGroupName>&lol3;</AutoScalingGroupName></member>"
      "</AutoScalingGroups></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>";
  const char *external = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                         "<DescribeAutoScalingGroupsResponse>&x;</DescribeAutoScalingGroupsResponse>";
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(parse_groups(laughs, strlen(laughs), &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "DescribeAutoScalingGroups");
  CHECK(strstr(err.msg, "lollol") == NULL);
  CHECK_EQ_INT(parse_groups(external, strlen(external), &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "DOCTYPE");
  CHECK(strstr(err.msg, "root:") == NULL); /* nothing of the file leaks */
}

TEST(should_refuse_a_body_over_the_cap_and_nesting_beyond_the_limit) {
  size_t big = STV__AWS_MAX_BODY + 1, i, n;
  char *b = malloc(big), *deep;
  struct stv_err err = {0, ""};
  CHECK(b != NULL);
  memset(b, ' ', big);
  CHECK_EQ_INT(parse_groups(b, big, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "more than the");
  free(b);
  n = 0;
  deep = malloc(200000);
  CHECK(deep != NULL);
  n += (size_t)sprintf(deep + n, "<DescribeAutoScalingGroupsResponse>");
  for (i = 0; i < 5000; i++) n += (size_t)sprintf(deep + n, "<a>");
  for (i = 0; i < 5000; i++) n += (size_t)sprintf(deep + n, "</a>");
  n += (size_t)sprintf(deep + n, "</DescribeAutoScalingGroupsResponse>");
  CHECK_EQ_INT(parse_groups(deep, n, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "DescribeAutoScalingGroups");
  n = 0;
  n += (size_t)sprintf(deep + n, "<DescribeAutoScalingGroupsResponse>");
  for (i = 0; i < 40; i++) n += (size_t)sprintf(deep + n, "<a>");
  for (i = 0; i < 40; i++) n += (size_t)sprintf(deep + n, "</a>");
  n += (size_t)sprintf(deep + n, "</DescribeAutoScalingGroupsResponse>");
  CHECK_EQ_INT(parse_groups(deep, n, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "nests deeper");
  free(deep);
}

TEST(should_refuse_malformed_wrong_root_and_missing_elements_naming_them) {
  struct stv_err err = {0, ""};
  const char *cut = "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>";
  const char *root = "<html><body>proxy error</body></html>";
  const char *nolist = "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
                       "</DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>";
  CHECK_EQ_INT(parse_groups(cut, strlen(cut), &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "not well-formed");
  CHECK_EQ_INT(parse_groups(root, strlen(root), &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "<html>");
  CHECK_EQ_INT(parse_groups(nolist, strlen(nolist), &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "AutoScalingGroups");
  CHECK_EQ_INT(parse_groups("", 0, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "empty");
}

TEST(should_encode_form_values_as_sigv4_canonicalises_them) {
  struct stv_buf b;
  stv_buf_init(&b);
  CHECK_EQ_INT(stv__aws_form(&b, "Action", "DescribeAutoScalingGroups"), 0);
  CHECK_EQ_INT(
      stv__aws_form(&b, "Filters.member.1.Values.member.1", "k8s.io/cluster-autoscaler/my cluster~_-."), 0);
  CHECK(strcmp(b.data, "Action=DescribeAutoScalingGroups&Filters.member.1.Values.member.1="
                       "k8s.io%2Fcluster-autoscaler%2Fmy%20cluster~_-.") == 0);
  stv_buf_close(&b);
}

TEST(should_keep_backoff_within_full_jitter_bounds_and_honour_retry_after) {
  struct stv_vclock vc;
  struct stv_cloud_caller *c;
  struct stv_cloud_retry r = {5, 0.5, 4, 60};
  struct stv_err err = {0, ""};
  double sum = 0;
  int i, n;
  stv_vclock_init(&vc, 0);
  CHECK_EQ_INT(stv_cloud_caller_new(&c, NULL, &vc.clock, &r, 42, &err), 0);
  for (n = 1; n <= 6; n++) {
    double cap = fmin(4, 0.5 * ldexp(1, n - 1));
    for (i = 0; i < 200; i++) {
      double d = stv_cloud_backoff(c, n, 0);
      CHECK(d >= 0 && d < cap);
      sum += d;
    }
  }
  CHECK(sum > 0);
  CHECK(stv_cloud_backoff(c, 1, 7) >= 7);
  stv_cloud_caller_free(c);
  stv_vclock_close(&vc);
}

TEST(should_read_retry_after_as_seconds_or_an_http_date) {
  CHECK(stv_cloud_parse_retry_after(" 5", 2, 0) == 5);
  CHECK(stv_cloud_parse_retry_after("120\r\n", 5, 0) == 120);
  CHECK(stv_cloud_parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 29, 1445412480.0) == 10);
  CHECK(stv_cloud_parse_retry_after("soon", 4, 0) < 0);
  CHECK(stv_cloud_parse_retry_after("5x", 2, 0) < 0);
}

/* The reservedInstancesSet item of the EC2 API reference, with the figures given. */
#define RESERVATION(ID, SCOPE_ZONE, SCOPE, COUNT, DURATION, FIXED, CHARGES)                                 \
  "<item><reservedInstancesId>" ID "</reservedInstancesId><instanceType>m5.large</instanceType>"            \
  SCOPE_ZONE "<start>2026-11-07T00:00:00.000Z</start><end>2027-11-07T00:00:00.000Z</end>"                   \
  "<duration>" DURATION "</duration><usagePrice>0.0</usagePrice><fixedPrice>" FIXED "</fixedPrice>"       \
  "<instanceCount>" COUNT "</instanceCount><productDescription>Linux/UNIX</productDescription>"            \
  "<state>active</state><instanceTenancy>default</instanceTenancy><currencyCode>USD</currencyCode>"        \
  "<offeringType>Partial Upfront</offeringType><recurringCharges>" CHARGES "</recurringCharges>"          \
  "<offeringClass>convertible</offeringClass><scope>" SCOPE "</scope></item>"

TEST(should_read_reservations_and_their_effective_hourly_price) {
  const char *doc =
      "<DescribeReservedInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
      "<requestId>r</requestId><reservedInstancesSet>" RESERVATION(
          "ri-1", "<availabilityZone>us-east-1a</availabilityZone>", "Availability Zone", "3", "31536000",
          "438.0", "<item><frequency>Hourly</frequency><amount>0.025</amount></item>")
          RESERVATION("ri-2", "", "Region", "2", "94608000", "0.0",
                      "<item><frequency>Hourly</frequency><amount>0.04</amount></item>") "</reservedInstancesSet>"
                                                                                        "</DescribeReservedInstancesResponse>";
  const char *bad_term = "<DescribeReservedInstancesResponse><reservedInstancesSet>" RESERVATION(
      "ri-3", "", "Region", "1", "0", "100.0", "") "</reservedInstancesSet></DescribeReservedInstancesResponse>";
  const char *bad_charge =
      "<DescribeReservedInstancesResponse><reservedInstancesSet>" RESERVATION(
          "ri-4", "", "Region", "1", "31536000", "0.0",
          "<item><frequency>Hourly</frequency><amount>lots</amount></item>") "</reservedInstancesSet>"
                                                                             "</DescribeReservedInstancesResponse>";
  struct stv__aws_answer a;
  struct stv_err err = {0, ""};
  double h;
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_RESERVED, "DescribeReservedInstances", doc, strlen(doc), &a, &err), 0);
  CHECK_EQ_INT(a.nreservations, 2);
  CHECK(strcmp(a.reservations[0].zone, "us-east-1a") == 0);
  CHECK(strcmp(a.reservations[0].scope, "Availability Zone") == 0);
  CHECK_EQ_INT(a.reservations[0].count, 3);
  CHECK(strcmp(a.reservations[0].offering_class, "convertible") == 0);
  /* 438 over a year of 8760 hours is 0.05, plus 0.025 an hour. */
  CHECK_EQ_INT(stv__aws_reservation_hourly(&a.reservations[0], &h, &err), 0);
  CHECK(fabs(h - 0.075) < 1e-9);
  CHECK(a.reservations[1].zone == NULL);
  CHECK(strcmp(a.reservations[1].scope, "Region") == 0);
  CHECK_EQ_INT(stv__aws_reservation_hourly(&a.reservations[1], &h, &err), 0);
  CHECK(fabs(h - 0.04) < 1e-9);
  stv__aws_answer_close(&a);
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_RESERVED, "DescribeReservedInstances", bad_term, strlen(bad_term), &a,
                              &err),
               0);
  CHECK_EQ_INT(stv__aws_reservation_hourly(&a.reservations[0], &h, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "ri-3");
  stv__aws_answer_close(&a);
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_RESERVED, "DescribeReservedInstances", bad_charge, strlen(bad_charge), &a,
                              &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "ri-4");
  CHECK_STR_CONTAINS(err.msg, "recurringCharges amount");
  stv__aws_answer_close(&a);
}

TEST(should_read_launch_configurations_and_a_groups_configuration_name) {
  const char *doc =
      "<DescribeLaunchConfigurationsResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">"
      "<DescribeLaunchConfigurationsResult><LaunchConfigurations>"
      "<member><LaunchConfigurationName>lc-od</LaunchConfigurationName><InstanceType>c5.xlarge</InstanceType>"
      "<ImageId>ami-1</ImageId></member>"
      "<member><LaunchConfigurationName>lc-spot</LaunchConfigurationName><InstanceType>m5.large</InstanceType>"
      "<SpotPrice>0.05</SpotPrice></member>"
      "</LaunchConfigurations><NextToken>p2</NextToken></DescribeLaunchConfigurationsResult>"
      "</DescribeLaunchConfigurationsResponse>";
  const char *no_type =
      "<DescribeLaunchConfigurationsResponse><DescribeLaunchConfigurationsResult><LaunchConfigurations>"
      "<member><LaunchConfigurationName>lc-x</LaunchConfigurationName></member>"
      "</LaunchConfigurations></DescribeLaunchConfigurationsResult></DescribeLaunchConfigurationsResponse>";
  const char *asg =
      "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups><member>"
      "<AutoScalingGroupName>legacy</AutoScalingGroupName><LaunchConfigurationName>lc-od</LaunchConfigurationName>"
      "<MinSize>0</MinSize><MaxSize>3</MaxSize><DesiredCapacity>0</DesiredCapacity>"
      "</member></AutoScalingGroups></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>";
  struct stv__aws_answer a;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_LCS, "DescribeLaunchConfigurations", doc, strlen(doc), &a, &err), 0);
  CHECK_EQ_INT(a.nlcs, 2);
  CHECK(strcmp(a.lcs[0].type, "c5.xlarge") == 0 && a.lcs[0].spot_price == NULL);
  CHECK(strcmp(a.lcs[1].spot_price, "0.05") == 0);
  CHECK(strcmp(a.next_token, "p2") == 0);
  stv__aws_answer_close(&a);
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_LCS, "DescribeLaunchConfigurations", no_type, strlen(no_type), &a, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "InstanceType");
  stv__aws_answer_close(&a);
  CHECK_EQ_INT(stv__aws_parse(STV__AWS_ASGS, "DescribeAutoScalingGroups", asg, strlen(asg), &a, &err), 0);
  CHECK(strcmp(a.asgs[0].lc_name, "lc-od") == 0);
  CHECK(a.asgs[0].lt_id == NULL && a.asgs[0].lt_name == NULL);
  stv__aws_answer_close(&a);
}

TEST(should_never_crash_on_truncated_answers_of_every_kind) {
  static const enum stv__aws_kind kinds[] = {STV__AWS_ASGS,      STV__AWS_INSTANCES, STV__AWS_SPOT,
                                             STV__AWS_ACTIVITIES, STV__AWS_OFFERINGS, STV__AWS_STS,
                                             STV__AWS_RESERVED,   STV__AWS_LCS};
  struct stv__aws_answer a;
  struct stv_err err = {0, ""};
  size_t k, cut;
  for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
    for (cut = 0; cut < sizeof(ASGS) - 1; cut += 7) {
      int rc = stv__aws_parse(kinds[k], "DescribeAutoScalingGroups", ASGS, cut, &a, &err);
      CHECK(rc == 0 || rc == STV_EPARSE);
      stv__aws_answer_close(&a);
    }
}
