/*
 * The `azure` cloud provider (cloud/cloud.h): virtual machine scale sets
 * through Azure Resource Manager's REST API, with tokens from managed
 * identity (IMDS), AKS workload identity (a federated token file) or a
 * client secret. Design, permissions and discovery: docs/cloud-azure.md.
 *
 * Groups are the Uniform scale sets of the resource group (or of the
 * subscription) that carry Cluster Autoscaler's tags
 * `k8s.io_cluster-autoscaler_enabled` and, with a cluster name,
 * `k8s.io_cluster-autoscaler_<cluster>`; min and max from the tags `min`
 * and `max`. A group's id is the scale set's resource id; its offerings
 * are its VM size x its zones ("eastus-1", or "0" for a regional scale
 * set, as AKS labels nodes) x its priority (Spot and Low: spot; Regular:
 * on-demand). Provider ids are AKS's:
 * azure:///subscriptions/S/resourceGroups/rg/providers/Microsoft.Compute/
 * virtualMachineScaleSets/NAME/virtualMachines/ID.
 */
#ifndef STV_CLOUD_AZURE_H
#define STV_CLOUD_AZURE_H

#include "base.h"
#include "cloud.h"
#include "io.h"

/* Every string borrowed and copied by stv_cloud_open_azure; NULL: the default named. */
struct stv_azure_config {
  const char *subscription_id; /* required (else AZURE_SUBSCRIPTION_ID) */
  const char *resource_group; /* the scale sets' resource group (AKS: MC_...); NULL: the whole subscription */
  const char *resource_manager_endpoint; /* https://management.azure.com */
  const char *authority_host;            /* AZURE_AUTHORITY_HOST, else https://login.microsoftonline.com */
  const char *imds_endpoint;             /* http://169.254.169.254 */
  const char *cluster_name; /* discovery: k8s.io_cluster-autoscaler_<cluster_name>; NULL: any cluster */
  const char *api_version;  /* Microsoft.Compute api-version, 2023-09-01 */
  const char *ca_file;      /* PEM bundle for the endpoints (private endpoints, tests); NULL: the system's */
  /* Credentials; NULL: from the environment as the Azure SDKs read it (AZURE_TENANT_ID, AZURE_CLIENT_ID,
   * AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE). */
  const char *tenant_id;
  const char *client_id;
  const char *client_secret; /* a secret: never logged */
  const char *federated_token_file;
  double poll_interval;  /* seconds between polls of an operation; 0: 1 */
  double lro_timeout;    /* seconds an operation may take; 0: 900 */
  double watch_interval; /* seconds between listings of instances for events; 0: 15; < 0: none */
  long call_timeout_ms;  /* each HTTP attempt; 0: 30 s */
  const char *prices_endpoint; /* the Retail Prices API (fetch_prices, docs/prices-live.md); https://prices.azure.com */
};

/*
 * Makes an Azure provider whose calls go through http (the cloud adapters'
 * client) on clock (both borrowed; they must outlive it). Returns 0 with
 * *out set (free with (*out)->ops->close: its calls are abandoned, the
 * client stays); STV_EINVAL with err naming the missing or bad setting
 * ("azure: subscriptionId: not set (azure.subscriptionId in the
 * configuration, or AZURE_SUBSCRIPTION_ID)"); STV_ENOMEM.
 */
int stv_cloud_open_azure(struct stv_cloud **out, struct stv_http *http, struct stv_clock *clock,
                         const struct stv_azure_config *cfg, struct stv_err *err);

#endif
