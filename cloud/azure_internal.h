/*
 * Inside the Azure provider: the response readers (azure_json.c, pure
 * functions that the fuzz target drives) and the token cache
 * (azure_token.c). Not for use outside cloud/azure*.c and their tests.
 */
#ifndef STV_CLOUD_AZURE_INTERNAL_H
#define STV_CLOUD_AZURE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "call.h"
#include "clock.h"
#include "cloud.h"

/* ---------------------------------------------------------------------- */
/* Response readers (azure_json.c)                                        */

/* Every string of a page lives in its arena; free the page with stv__az_page_free. */
struct stv__az_tag {
  const char *key, *value;
};

struct stv__az_vmss {
  const char *id, *name, *location, *sku;
  int64_t capacity;
  const char **zones;
  size_t nzones;
  int spot; /* priority Spot or Low */
  struct stv__az_tag *tags;
  size_t ntags;
};

struct stv__az_vm {
  const char *instance_id;
  const char *zone;          /* NULL: a regional scale set */
  const char *state;         /* properties.provisioningState */
  const char *computer_name; /* may be NULL */
};

struct stv__az_page {
  struct stv_arena mem;
  struct stv__az_vmss *sets; /* scale set pages */
  struct stv__az_vm *vms;    /* virtual machine pages */
  size_t n;
  const char *next_link; /* NULL: the last page */
};

/*
 * Reads one page of a scale set list (vms 0) or of a scale set's virtual
 * machines (vms 1) from body[0..len). what names the call for errors.
 * Returns 0, or STV_EPARSE with err naming the call and the field
 * ("azure list scale sets: value[2].sku.capacity: not an integer"), or
 * STV_ENOMEM. The page is to be freed either way.
 */
int stv__az_read_page(struct stv__az_page *p, int vms, const char *what, const char *body, size_t len,
                      struct stv_err *err);
void stv__az_page_free(struct stv__az_page *p);

/* A tag's value, or NULL. */
const char *stv__az_tag(const struct stv__az_vmss *s, const char *key);

/* An Azure-AsyncOperation document: status and, when Failed, the error. */
struct stv__az_op {
  char status[32];   /* InProgress, Succeeded, Failed, Canceled */
  char code[96];     /* error.code, "" when none */
  char message[320]; /* error.message, "" when none */
};

int stv__az_read_operation(struct stv__az_op *op, const char *what, const char *body, size_t len,
                           struct stv_err *err);

/* ARM's error document {"error": {"code", "message"}}: 0 with code and message set, or STV_EPARSE. */
int stv__az_read_error(const char *body, size_t len, char *code, size_t code_size, char *message,
                       size_t message_size);

/* A token answer (Entra ID or IMDS, whose numbers are strings): the token and its lifetime in seconds. */
int stv__az_read_token(const char *what, const char *body, size_t len, char **token, double *expires_in,
                       struct stv_err *err);

/* Entra ID's error document {"error", "error_description"}: its first line into msg; 0 or STV_EPARSE. */
int stv__az_read_aad_error(const char *body, size_t len, char *msg, size_t size);

/* Maps an ARM answer (HTTP status and error code, message) to an STV_ code of cloud/cloud.h. */
int stv__az_code(long status, const char *code, const char *message);

/* ---------------------------------------------------------------------- */
/* Live prices: the Retail Prices API (azure_prices.c)                    */

struct cJSON;

/* One meter kept: a Linux pay-as-you-go hourly price of a size. Strings borrowed from the page. */
struct stv__az_price {
  const char *sku; /* armSkuName: Standard_D2s_v5 */
  int spot;        /* skuName ends in " Spot" */
  double price;    /* retailPrice, USD per hour */
  double as_of;    /* effectiveStartDate, unix seconds; 0: not given */
};

struct stv__az_prices_page {
  struct cJSON *doc;
  struct stv__az_price *items; /* the meters kept */
  size_t n;
  size_t windows, low_priority, other; /* left out: Windows, Low Priority, another unit or price type */
  const char *next_link;               /* NULL: the last page */
};

/*
 * Reads one page of the Retail Prices API from body[0..len). what names the
 * call for errors. Returns 0, or STV_EPARSE with err naming the call, item
 * and field ("azure retail prices westeurope page 2: Items[7]
 * (Standard_D2s_v5): retailPrice: not a number"; a currencyCode other
 * than USD is an error too), or STV_ENOMEM. Free the page either way.
 */
int stv__az_read_prices(struct stv__az_prices_page *pg, const char *what, const char *body, size_t len,
                        struct stv_err *err);
void stv__az_prices_page_free(struct stv__az_prices_page *pg);

struct stv__az_prices;
struct stv_catalog;

/* A prices reader on caller and clock (borrowed); endpoint and ca_file copied. 0, STV_EINVAL, STV_ENOMEM. */
int stv__az_prices_new(struct stv__az_prices **out, struct stv_cloud_caller *caller, struct stv_clock *clock,
                       const char *endpoint, const char *ca_file, long timeout_ms, struct stv_err *err);
/* Frees p and its reads in flight (their callbacks never run): after the caller is freed. p may be NULL. */
void stv__az_prices_free(struct stv__az_prices *p);
/* The provider's fetch_prices (cloud/cloud.h): base's region's prices. 0 or STV_ENOMEM (cb not run). */
int stv__az_prices_fetch(struct stv__az_prices *p, const struct stv_catalog *base, stv_cloud_prices_cb cb,
                         void *ctx);

/* ---------------------------------------------------------------------- */
/* Tokens (azure_token.c)                                                 */

struct stv__az_tokens;

enum stv__az_cred {
  STV__AZ_CLIENT_SECRET,
  STV__AZ_WORKLOAD_IDENTITY,
  STV__AZ_MANAGED_IDENTITY,
};

struct stv__az_token_config {
  enum stv__az_cred kind;
  const char *authority_host, *tenant_id, *client_id, *client_secret, *federated_token_file;
  const char *imds_endpoint, *ca_file;
  long timeout_ms;
};

/* The token, or NULL with code and msg saying why. Called on the loop thread. */
typedef void (*stv__az_token_cb)(void *ctx, const char *token, int code, const char *msg);

int stv__az_tokens_new(struct stv__az_tokens **out, struct stv_cloud_caller *caller, struct stv_clock *clock,
                       const struct stv__az_token_config *cfg, struct stv_err *err);
/* Abandons waiters (their callbacks never run) and frees. */
void stv__az_tokens_free(struct stv__az_tokens *t);
/*
 * Hands a token valid for at least five more minutes (or half its
 * lifetime): at once from the cache (cb runs inside the call), else after
 * one request shared by every waiter. Returns 0 or STV_ENOMEM (cb not run).
 */
int stv__az_token_get(struct stv__az_tokens *t, stv__az_token_cb cb, void *ctx);
/* Drops the cached token (the API said it expired or is invalid). */
void stv__az_token_drop(struct stv__az_tokens *t);
/* Drops the waiter with this ctx (its callback will not run). */
void stv__az_token_cancel(struct stv__az_tokens *t, void *ctx);
/* "client secret", "workload identity", "managed identity": for logs. */
const char *stv__az_cred_name(enum stv__az_cred kind);

#endif
