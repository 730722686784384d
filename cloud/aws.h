/*
 * The `aws` cloud provider (cloud/cloud.h): EC2 Auto Scaling groups that
 * carry the cluster's discovery tags, scaled through the Auto Scaling
 * Query API, their instances read through EC2, every request signed with
 * Signature Version 4 by libcurl. Design, discovery, permissions and
 * credentials: docs/cloud-aws.md.
 */
#ifndef STV_CLOUD_AWS_H
#define STV_CLOUD_AWS_H

#include <stdint.h>

#include "call.h"
#include "cloud.h"
#include "io.h"

struct stv_aws_opts {
  const char *cluster_name; /* required: what the discovery tags name (borrowed, copied) */
  struct stv_http *http;    /* borrowed; must outlive the provider */
  double poll_interval;     /* seconds between looks at scaling activities and instance states; default 15 */
  double unavailable_ttl;   /* seconds an offering that hit insufficient capacity stays out; default 180 */
  long timeout_ms;          /* of each API request; default 30000 */
  const struct stv_cloud_retry *retry; /* NULL: call.h's defaults */
  uint64_t seed;                       /* of the backoff jitter; 0: from the clock */
  int spot_prices;  /* fetch_prices reads DescribeSpotPriceHistory; default 1 (aws.spotPrices) */
  int reservations; /* fetch_prices reads DescribeReservedInstances; default 1 (aws.reservations) */
  /*
   * The configuration file's aws: block; NULL: not set. The environment
   * wins over each, as in the AWS SDKs: AWS_REGION / AWS_DEFAULT_REGION over
   * region, AWS_ENDPOINT_URL_<SERVICE> then AWS_ENDPOINT_URL over the
   * service's endpoint then endpoint, AWS_CA_BUNDLE over ca_file.
   */
  const char *region, *endpoint, *autoscaling_endpoint, *ec2_endpoint, *sts_endpoint, *ca_file;
};

/* Fills o with the defaults above (no cluster name, no client). */
void stv_aws_opts_default(struct stv_aws_opts *o);

/*
 * Creates the provider on clock (borrowed). Reads the region, the endpoints
 * and the credential source from the environment and the shared files (no
 * network yet). Returns 0, or STV_EINVAL with err saying what to set (no
 * cluster name, no region, half a key pair...), or STV_ENOMEM.
 */
int stv_aws_new(struct stv_cloud **out, struct stv_clock *clock, const struct stv_aws_opts *o,
                struct stv_err *err);

#endif
