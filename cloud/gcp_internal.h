/*
 * The GCP provider's parts (cloud/gcp*.c), shared between its files, its
 * tests and the fuzz target of the response readers. Not an interface.
 *
 *   gcp.c        the provider: calls, operations, polling, events
 *   gcp_auth.c   access tokens: the key file's JWT bearer grant, the metadata server
 *   gcp_parse.c  readers of the API's documents (pure: bytes in, structs out)
 */
#ifndef STV_CLOUD_GCP_INTERNAL_H
#define STV_CLOUD_GCP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "packer.h"

/* The readers: each takes a body (borrowed, not NUL-terminated) and fills
 * its output, or returns STV_EPARSE / STV_ENOMEM with err naming the field
 * ("items[\"zones/us-east1-b\"].instanceGroupManagers[2].targetSize: not a
 * number"). Outputs are freed with their _free even after an error. */

/* A managed instance group, as a list or aggregatedList item. */
struct stv__gcp_mig {
  char *name;
  char *path;   /* "projects/P/zones/Z/instanceGroupManagers/N": the group's id */
  char *tmpl;   /* "projects/P/global/instanceTemplates/T" (or regions/R/...) */
  char **zones; /* a zonal MIG's zone, or a regional one's distribution zones */
  size_t nzones;
  int64_t target_size;
};

struct stv__gcp_migs {
  struct stv__gcp_mig *v;
  size_t n, cap;
};

/* Appends the MIGs of an aggregatedList page (or a list page when
 * aggregated is 0) whose name starts with prefix to out; *next receives
 * the nextPageToken (stv_free) or NULL on the last page. */
int stv__gcp_read_migs(const char *body, size_t len, int aggregated, const char *prefix,
                       struct stv__gcp_migs *out, char **next, struct stv_err *err);
void stv__gcp_migs_free(struct stv__gcp_migs *m);

/* An instance template: what its instances are. */
struct stv__gcp_template {
  char *machine_type;
  enum stv_capacity_type ct; /* SPOT provisioning or preemptible: spot */
  char *pool;                /* the stevedore.io/node-pool label of kube-env's node_labels, or NULL */
};

int stv__gcp_read_template(const char *body, size_t len, struct stv__gcp_template *out, struct stv_err *err);
void stv__gcp_template_free(struct stv__gcp_template *t);

/* An operation. */
struct stv__gcp_op {
  char name[128];
  char path[512];    /* "projects/P/zones/Z/operations/NAME" */
  int done;          /* status DONE */
  char code[64];     /* the first error's code ("ZONE_RESOURCE_POOL_EXHAUSTED"), "" when none */
  char message[400]; /* its message */
  long http_status;  /* httpErrorStatusCode, 0 when none */
};

int stv__gcp_read_operation(const char *body, size_t len, struct stv__gcp_op *out, struct stv_err *err);

/* What listManagedInstances says of an instance. */
enum stv__gcp_action { GCP_ACT_NONE, GCP_ACT_CREATING, GCP_ACT_DELETING, GCP_ACT_OTHER };

struct stv__gcp_managed {
  char *zone, *name;
  enum stv__gcp_action action;
  int running;       /* instanceStatus RUNNING */
  int stopping;      /* instanceStatus STOPPING, STOPPED, TERMINATED, SUSPENDING, SUSPENDED */
  char *err_code;    /* lastAttempt.errors.errors[0].code, or NULL */
  char *err_message; /* its message, or NULL */
};

struct stv__gcp_manageds {
  struct stv__gcp_managed *v;
  size_t n, cap;
};

int stv__gcp_read_managed(const char *body, size_t len, struct stv__gcp_manageds *out, char **next,
                          struct stv_err *err);
void stv__gcp_manageds_free(struct stv__gcp_manageds *m);

/*
 * Google's error document ({"error": {"code", "message", "status",
 * "errors": [{"reason"}]}}) of an answer with HTTP status, as a provider
 * code: 429 or reason rateLimitExceeded/userRateLimitExceeded ->
 * STV_ETHROTTLED, 404 -> STV_ENOTFOUND, 400 -> STV_EINVAL, 403 with reason
 * quotaExceeded -> STV_ELIMIT, other 403 -> STV_EINVAL (a permission is
 * missing: no retry helps), 5xx and the rest -> STV_EIO. msg receives
 * "reason: message" (or what the body starts with when it is no such
 * document). Never fails.
 */
int stv__gcp_read_error(const char *body, size_t len, long status, char *msg, size_t size);

/* An operation error code as a provider code (ZONE_RESOURCE_POOL_EXHAUSTED...). */
int stv__gcp_op_code(const char *code, long http_status);

/* An OAuth token answer: access_token and expires_in (seconds). */
int stv__gcp_read_token(const char *body, size_t len, char **token, double *expires_in, struct stv_err *err);

/* A service-account key file (type service_account). */
struct stv__gcp_key {
  char *client_email, *private_key, *private_key_id, *token_uri, *project_id;
};

int stv__gcp_read_key(const char *text, size_t len, struct stv__gcp_key *out, struct stv_err *err);
void stv__gcp_key_free(struct stv__gcp_key *k);

/* The part of a link from "projects/" on ("https://h/compute/v1/projects/p/zones/z" -> "projects/p/zones/z"), or NULL. */
const char *stv__gcp_rel(const char *link);

/* The last segment of a path or link ("…/zones/us-east1-b" -> "us-east1-b"). */
const char *stv__gcp_last(const char *link);

/* gcp_auth.c: a signed JWT bearer assertion (RS256) for key, scope and
 * audience at unix time now, in *out (stv_free). */
int stv__gcp_jwt(const struct stv__gcp_key *key, const char *scope, const char *aud, int64_t now, char **out,
                 struct stv_err *err);

/* ---------------------------------------------------------------------- */
/* The Cloud Billing Catalog API's SKUs (gcp_parse.c, docs/cloud-gcp.md).  */

/* The Compute Engine service in the Cloud Billing Catalog API. */
#define STV__GCP_COMPUTE_SERVICE "6F81-5844-456A"

/* What a SKU prices: one vCPU-hour, one GiB-hour of memory, or one
 * instance-hour of a type priced whole (f1-micro, g1-small). */
enum stv__gcp_sku_res { GCP_SKU_CORE, GCP_SKU_RAM, GCP_SKU_INSTANCE };

/* A unit price read from a SKU of the region. */
struct stv__gcp_rate {
  char family[24]; /* "n2", "e2"; the machine type for GCP_SKU_INSTANCE ("f1-micro") */
  enum stv__gcp_sku_res res;
  enum stv_capacity_type ct; /* usageType OnDemand: on-demand; Preemptible: spot */
  double price;              /* USD per unit-hour */
  double as_of;              /* pricingInfo[0].effectiveTime, unix seconds; 0: not given */
  size_t nregions;           /* of the SKU: the SKU naming fewer regions wins a tie */
  char sku[40];              /* skuId, for messages */
};

struct stv__gcp_rates {
  struct stv__gcp_rate *v;
  size_t n, cap;
  size_t seen; /* SKUs read in all pages */
};

/*
 * Adds the unit prices of one skus.list page (body[0..len), borrowed) for
 * region to out: the SKUs of resourceFamily Compute, usageType OnDemand or
 * Preemptible, whose serviceRegions hold region and whose description names
 * a predefined machine family's cores or memory ("N2 Instance Core running
 * in Americas", "Spot Preemptible E2 Instance Ram running in ..."); custom,
 * sole-tenant, commitment and other SKUs are not unit prices of predefined
 * types and are passed over. *next receives nextPageToken (stv_free) or
 * NULL. Returns 0, STV_EPARSE with err naming the SKU and field (a unit
 * price that is not USD, a usageUnit other than "h" / "GiBy.h"), STV_ENOMEM.
 */
int stv__gcp_read_skus(const char *body, size_t len, const char *region, struct stv__gcp_rates *out, char **next,
                       struct stv_err *err);
void stv__gcp_rates_free(struct stv__gcp_rates *r);

/*
 * The hourly price of machine type `type` (vcpus and gib from the
 * catalogue) at capacity type ct from rates: vCPUs x the family's core
 * price + GiB x its memory price; e2-micro, e2-small and e2-medium bill
 * 0.25, 0.5 and 1 vCPU (shared core); f1-micro and g1-small their
 * instance SKU. *as_of receives the newer of the rates' times. Returns 0,
 * or STV_ENOTFOUND when the rates lack the family's core or memory price.
 */
int stv__gcp_type_price(const struct stv__gcp_rates *rates, const char *type, double vcpus, double gib,
                        enum stv_capacity_type ct, double *price, double *as_of);

#endif
