/*
 * Provider selection: one entry point that opens the provider --provider
 * names, so that the controller never names a cloud's own header.
 */
#ifndef STV_CLOUD_PROVIDER_H
#define STV_CLOUD_PROVIDER_H

#include "azure.h"
#include "cloud.h"
#include "io.h"
#include "sim.h"

struct stv_gcp_opts;
struct stv_aws_opts;

/* What the providers need; every pointer borrowed. Zero what a provider does not use. */
struct stv_cloud_config {
  struct stv_clock *clock;  /* the provider's clock (required) */
  struct stv_http *http;    /* the HTTP client of the cloud adapters (required but for "sim") */
  const char *cluster_name; /* what group discovery matches (aws, gcp, azure) */
  /* "azure": its settings (cloud/azure.h; NULL: the environment's) */
  const struct stv_azure_config *azure;
  const struct stv_sim_opts
      *sim; /* "sim": its options (NULL: the defaults, which need a catalogue: refused) */
  const struct stv_gcp_opts *gcp; /* "gcp": its options (NULL: the defaults); no namePrefix: gke-CLUSTER- */
  const struct stv_aws_opts *aws; /* "aws": its options (NULL: the defaults); cluster_name and http from here */
};

/*
 * Opens the provider named name ("sim", "aws", "azure"; "gcp" once its
 * adapter is built in). Returns 0 with *out set, STV_ENOTFOUND for
 * an unknown name (the message lists the known ones), or the provider's own
 * error (a missing region, cluster name or credential source) with err
 * saying what to set.
 */
int stv_cloud_open(const char *name, const struct stv_cloud_config *cfg, struct stv_cloud **out,
                   struct stv_err *err);

#endif
