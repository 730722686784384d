/*
 * The GCP provider: Compute Engine managed instance groups (zonal and
 * regional) behind the provider interface of cloud.h. docs/cloud-gcp.md
 * has the calls, the permissions, discovery and how to run it on GKE.
 *
 * Groups are the MIGs of the project whose name starts with name_prefix
 * (GKE names a node pool's MIGs gke-CLUSTER-POOL-HASH-grp, so
 * "gke-CLUSTER-" finds a cluster's pools, as Cluster Autoscaler's
 * --node-group-auto-discovery=mig:namePrefix=... does). Each has one
 * offering per zone: the template's machine type, spot when the template
 * says provisioningModel SPOT or preemptible. Bounds come from the
 * configuration (a MIG has none of its own): min_size and max_size.
 *
 * Access tokens come from a service-account key file (the JWT bearer
 * grant, RS256 through OpenSSL) when one is configured, else from the
 * metadata server (GKE workload identity, a VM's service account); they
 * are refreshed before they expire and once more when the API answers 401.
 */
#ifndef STV_CLOUD_GCP_H
#define STV_CLOUD_GCP_H

#include <stdint.h>

#include "base.h"
#include "cloud.h"
#include "io.h"

struct stv_gcp_opts {
  const char *project;          /* NULL: the metadata server's project id */
  const char *compute_endpoint; /* NULL: https://compute.googleapis.com/compute/v1 */
  const char *token_endpoint;   /* NULL: the key file's token_uri */
  const char *billing_endpoint; /* NULL: https://cloudbilling.googleapis.com (fetch_prices) */
  const char *credentials_file; /* NULL: $GOOGLE_APPLICATION_CREDENTIALS, else the metadata server */
  const char *metadata_host;    /* NULL: $GCE_METADATA_HOST, else metadata.google.internal */
  const char *name_prefix;      /* MIGs whose name starts with it; "" or NULL: every MIG of the project */
  const char *ca_file;          /* PEM bundle for the endpoints' TLS; NULL: the system's */
  int64_t min_size, max_size;   /* every group's bounds; max 0: 1000 */
  double poll_interval;         /* seconds between instance polls (events); 0: 10 */
  long timeout_ms;              /* of each HTTP attempt; 0: 30 s */
};

void stv_gcp_opts_default(struct stv_gcp_opts *o);

/*
 * Opens the provider on http (borrowed: the adapters' HTTP client, which
 * must outlive the provider) and clock (borrowed; the client's loop's). Reads the key file now, so a wrong
 * path or a key that is not a service-account key is an error here.
 * Returns 0 or STV_EINVAL / STV_ENOMEM / -errno with err filled.
 */
int stv_cloud_open_gcp(struct stv_cloud **out, struct stv_http *http, struct stv_clock *clock,
                       const struct stv_gcp_opts *o, struct stv_err *err);

#endif
