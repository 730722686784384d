/*
 * The GCP provider's readers (cloud/gcp_parse.c) on documents shaped as
 * the Compute reference has them and on hostile ones (wrong types, missing
 * fields, not JSON), the error mapping, and the JWT bearer assertion
 * (cloud/gcp_auth.c): its signature verified with OpenSSL against the
 * key's public half, its header and claims decoded.
 */
#include <math.h>
#include <cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gcp_internal.h"
#include "harness.h"

#define S(lit) lit, sizeof(lit) - 1

static const char AGG[] =
    "{\"kind\": \"compute#instanceGroupManagerAggregatedList\", \"items\": {"
    "\"zones/us-east1-b\": {\"instanceGroupManagers\": [{\"name\": \"gke-c1-a-1-grp\", \"targetSize\": 2,"
    " \"selfLink\": "
    "\"https://compute.googleapis.com/compute/v1/projects/p/zones/us-east1-b/instanceGroupManagers/"
    "gke-c1-a-1-grp\", \"instanceTemplate\": \"https://compute.googleapis.com/compute/v1/projects/p/global/"
    "instanceTemplates/t1\", \"zone\": "
    "\"https://compute.googleapis.com/compute/v1/projects/p/zones/us-east1-b\"},"
    " {\"name\": \"other-grp\", \"targetSize\": 1, \"selfLink\": \"x\", \"instanceTemplate\": \"y\", "
    "\"zone\": \"z\"}]},"
    "\"regions/us-east1\": {\"instanceGroupManagers\": [{\"name\": \"gke-c1-s-2-grp\", \"targetSize\": \"3\","
    " \"selfLink\": "
    "\"http://127.0.0.1:9/compute/v1/projects/p/regions/us-east1/instanceGroupManagers/gke-c1-s-2-grp\","
    " \"instanceTemplate\": \"projects/p/regions/us-east1/instanceTemplates/t2\", \"distributionPolicy\": "
    "{\"zones\":"
    " [{\"zone\": \"zones/us-east1-c\"}, {\"zone\": \"zones/us-east1-d\"}]}}]},"
    "\"zones/us-east1-c\": {\"warning\": {\"code\": \"NO_RESULTS_ON_PAGE\"}}},"
    "\"nextPageToken\": \"abc\"}";

TEST(migs_aggregated) {
  struct stv__gcp_migs m = {0};
  struct stv_err err = {0, ""};
  char *next = NULL;
  int rc = stv__gcp_read_migs(S(AGG), 1, "gke-c1-", &m, &next, &err);
  if (rc != 0) fprintf(stderr, "  %s\n", err.msg);
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(m.n, 2);
  CHECK(strcmp(next, "abc") == 0);
  CHECK(strcmp(m.v[0].path, "projects/p/zones/us-east1-b/instanceGroupManagers/gke-c1-a-1-grp") == 0);
  CHECK(strcmp(m.v[0].tmpl, "projects/p/global/instanceTemplates/t1") == 0);
  CHECK_EQ_INT(m.v[0].nzones, 1);
  CHECK(strcmp(m.v[0].zones[0], "us-east1-b") == 0);
  CHECK_EQ_INT(m.v[1].target_size, 3);
  CHECK_EQ_INT(m.v[1].nzones, 2);
  CHECK(strcmp(m.v[1].zones[1], "us-east1-d") == 0);
  stv_free(next);
  stv__gcp_migs_free(&m);
}

/* Reads body as an aggregated list and checks the error names where. */
static int migs_error(const char *body, const char *where) {
  struct stv__gcp_migs m = {0};
  struct stv_err err = {0, ""};
  char *next = NULL;
  int rc = stv__gcp_read_migs(body, strlen(body), 1, NULL, &m, &next, &err), ok;
  ok = rc == STV_EPARSE && strstr(err.msg, where) != NULL && next == NULL;
  if (!ok) fprintf(stderr, "  rc %d, \"%s\", expected to name \"%s\"\n", rc, err.msg, where);
  stv__gcp_migs_free(&m);
  return ok;
}

TEST(migs_hostile) {
  CHECK(migs_error("[1, 2]", "not a JSON object"));
  CHECK(migs_error("{\"items\": {\"zones/a\": ", "not JSON"));
  CHECK(migs_error("{\"items\": []}", "items: not an object"));
  CHECK(migs_error("{\"items\": {\"zones/a\": {\"instanceGroupManagers\": {}}}}",
                   "items[\"zones/a\"].instanceGroupManagers: not an array"));
  CHECK(migs_error("{\"items\": {\"zones/a\": {\"instanceGroupManagers\": [{\"name\": 7}]}}}",
                   "instanceGroupManagers[0].name: not a string"));
  CHECK(
      migs_error("{\"items\": {\"zones/a\": {\"instanceGroupManagers\": [{\"name\": \"n\", \"selfLink\": "
                 "\"projects/p/zones/a/instanceGroupManagers/n\", \"instanceTemplate\": \"projects/p/global/"
                 "instanceTemplates/t\", \"targetSize\": -1, \"zone\": \"zones/a\"}]}}}",
                 "targetSize: -1 is not a count"));
  CHECK(
      migs_error("{\"items\": {\"zones/a\": {\"instanceGroupManagers\": [{\"name\": \"n\", \"selfLink\": "
                 "\"projects/p/zones/a/instanceGroupManagers/n\", \"instanceTemplate\": \"projects/p/global/"
                 "instanceTemplates/t\", \"targetSize\": 1}]}}}",
                 "neither zone nor distributionPolicy.zones"));
  CHECK(migs_error(
      "{\"items\": {\"zones/a\": {\"instanceGroupManagers\": [{\"name\": \"n\", \"selfLink\": \"s\"}]}}}",
      "instanceTemplate: missing"));
  CHECK(migs_error("{\"nextPageToken\": 5}", "nextPageToken: not a string"));
}

TEST(template_spot_and_pool) {
  static const char spot[] =
      "{\"name\": \"t\", \"properties\": {\"machineType\": \"e2-standard-4\", \"scheduling\": "
      "{\"provisioningModel\":"
      " \"SPOT\", \"preemptible\": true}, \"metadata\": {\"items\": [{\"key\": \"cluster-name\", \"value\": "
      "\"c\"},"
      " {\"key\": \"kube-env\", \"value\": \"CLUSTER_NAME: c\\nAUTOSCALER_ENV_VARS: node_labels=a=b,"
      "stevedore.io/node-pool=batch,c=d;node_taints=k=v:NoSchedule\\nKUBELET_ARGS: --v=2\"}]}}}";
  static const char pre[] = "{\"properties\": {\"machineType\": \"zones/z/machineTypes/n2-standard-8\", "
                            "\"scheduling\": {\"preemptible\": true}}}";
  static const char od[] = "{\"properties\": {\"machineType\": \"n2-standard-8\"}}";
  struct stv__gcp_template t;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv__gcp_read_template(S(spot), &t, &err), 0);
  CHECK(strcmp(t.machine_type, "e2-standard-4") == 0 && t.ct == STV_CT_SPOT);
  CHECK(t.pool != NULL && strcmp(t.pool, "batch") == 0);
  stv__gcp_template_free(&t);
  CHECK_EQ_INT(stv__gcp_read_template(S(pre), &t, &err), 0);
  CHECK(strcmp(t.machine_type, "n2-standard-8") == 0 && t.ct == STV_CT_SPOT && t.pool == NULL);
  stv__gcp_template_free(&t);
  CHECK_EQ_INT(stv__gcp_read_template(S(od), &t, &err), 0);
  CHECK(t.ct == STV_CT_ON_DEMAND);
  stv__gcp_template_free(&t);
  CHECK_EQ_INT(
      stv__gcp_read_template(S("{\"properties\": {\"scheduling\": 1, \"machineType\": \"x\"}}"), &t, &err),
      STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "properties.scheduling: not an object");
  stv__gcp_template_free(&t);
  CHECK_EQ_INT(stv__gcp_read_template(S("{\"properties\": {}}"), &t, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "properties.machineType: missing");
  stv__gcp_template_free(&t);
}

TEST(operations) {
  static const char running[] =
      "{\"kind\": \"compute#operation\", \"name\": \"operation-1\", \"status\": \"RUNNING\","
      " \"selfLink\": \"https://h/compute/v1/projects/p/zones/z/operations/operation-1\"}";
  static const char failed[] =
      "{\"name\": \"operation-2\", \"status\": \"DONE\", \"selfLink\": "
      "\"projects/p/regions/r/operations/operation-2\","
      " \"httpErrorStatusCode\": 503, \"error\": {\"errors\": [{\"code\": \"ZONE_RESOURCE_POOL_EXHAUSTED\","
      " \"message\": \"The zone does not have enough resources\"}]}}";
  struct stv__gcp_op op;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv__gcp_read_operation(S(running), &op, &err), 0);
  CHECK(!op.done && strcmp(op.path, "projects/p/zones/z/operations/operation-1") == 0 && op.code[0] == '\0');
  CHECK_EQ_INT(stv__gcp_read_operation(S(failed), &op, &err), 0);
  CHECK(op.done && strcmp(op.code, "ZONE_RESOURCE_POOL_EXHAUSTED") == 0 && op.http_status == 503);
  CHECK_EQ_INT(stv__gcp_op_code(op.code, op.http_status), STV_ECAPACITY);
  CHECK_EQ_INT(stv__gcp_op_code("ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", 0), STV_ECAPACITY);
  CHECK_EQ_INT(stv__gcp_op_code("QUOTA_EXCEEDED", 403), STV_ELIMIT);
  CHECK_EQ_INT(stv__gcp_op_code("RESOURCE_NOT_FOUND", 404), STV_ENOTFOUND);
  CHECK_EQ_INT(stv__gcp_op_code("SOMETHING_NEW", 500), STV_EIO);
  CHECK_EQ_INT(stv__gcp_read_operation(
                   S("{\"name\": \"o\", \"status\": \"WEIRD\", \"selfLink\": \"projects/p/o\"}"), &op, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "operation.status: \"WEIRD\"");
  CHECK_EQ_INT(
      stv__gcp_read_operation(S("{\"name\": \"o\", \"status\": \"DONE\", \"selfLink\": \"projects/p/o\", "
                                "\"error\": {\"errors\": []}}"),
                              &op, &err),
      STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "operation.error.errors");
}

TEST(managed_instances) {
  static const char doc[] =
      "{\"managedInstances\": [{\"instance\": "
      "\"https://h/compute/v1/projects/p/zones/us-east1-b/instances/a-1\","
      " \"currentAction\": \"NONE\", \"instanceStatus\": \"RUNNING\"},"
      " {\"instance\": \"projects/p/zones/us-east1-c/instances/a-2\", \"currentAction\": \"CREATING\","
      " \"lastAttempt\": {\"errors\": {\"errors\": [{\"code\": \"ZONE_RESOURCE_POOL_EXHAUSTED\", "
      "\"message\": \"m\"}]}}},"
      " {\"instance\": \"projects/p/zones/us-east1-c/instances/a-3\", \"currentAction\": \"DELETING\","
      " \"instanceStatus\": \"STOPPING\"}], \"nextPageToken\": \"t2\"}";
  struct stv__gcp_manageds m = {0};
  struct stv_err err = {0, ""};
  char *next = NULL;
  CHECK_EQ_INT(stv__gcp_read_managed(S(doc), &m, &next, &err), 0);
  CHECK_EQ_INT(m.n, 3);
  CHECK(strcmp(m.v[0].zone, "us-east1-b") == 0 && strcmp(m.v[0].name, "a-1") == 0 && m.v[0].running);
  CHECK(m.v[0].action == GCP_ACT_NONE && m.v[0].err_code == NULL);
  CHECK(m.v[1].action == GCP_ACT_CREATING && strcmp(m.v[1].err_code, "ZONE_RESOURCE_POOL_EXHAUSTED") == 0);
  CHECK(m.v[2].action == GCP_ACT_DELETING && m.v[2].stopping);
  CHECK(next != NULL && strcmp(next, "t2") == 0);
  stv_free(next);
  stv__gcp_manageds_free(&m);
  CHECK_EQ_INT(
      stv__gcp_read_managed(S("{\"managedInstances\": [{\"instance\": \"projects/p/zones/z/disks/d\"}]}"), &m,
                            &next, &err),
      STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg,
                     "managedInstances[0].instance: \"projects/p/zones/z/disks/d\" is not an instance");
  stv__gcp_manageds_free(&m);
  CHECK_EQ_INT(
      stv__gcp_read_managed(S("{\"managedInstances\": [{\"instance\": \"projects/p/zones/z/instances/i\","
                              " \"currentAction\": 3}]}"),
                            &m, &next, &err),
      STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "managedInstances[0].currentAction: not a string");
  stv__gcp_manageds_free(&m);
}

TEST(errors) {
  char msg[300];
  static const char throttled[] =
      "{\"error\": {\"code\": 403, \"message\": \"Rate Limit Exceeded\", \"errors\": "
      "[{\"reason\": \"rateLimitExceeded\", \"domain\": \"usageLimits\"}]}}";
  CHECK_EQ_INT(stv__gcp_read_error(S(throttled), 403, msg, sizeof(msg)), STV_ETHROTTLED);
  CHECK_STR_CONTAINS(msg, "HTTP 403 rateLimitExceeded: Rate Limit Exceeded");
  CHECK_EQ_INT(
      stv__gcp_read_error(S("{\"error\": {\"code\": 404, \"message\": \"The resource 'x' was not found\"}}"),
                          404, msg, sizeof(msg)),
      STV_ENOTFOUND);
  CHECK_EQ_INT(
      stv__gcp_read_error(S("{\"error\": {\"code\": 403, \"message\": \"Quota\", \"errors\": [{\"reason\": "
                            "\"quotaExceeded\"}]}}"),
                          403, msg, sizeof(msg)),
      STV_ELIMIT);
  CHECK_EQ_INT(
      stv__gcp_read_error(S("{\"error\": \"invalid_grant\", \"error_description\": \"Invalid JWT\"}"), 400,
                          msg, sizeof(msg)),
      STV_EINVAL);
  CHECK_STR_CONTAINS(msg, "invalid_grant: Invalid JWT");
  CHECK_EQ_INT(stv__gcp_read_error(S("<html>\x01 bad gateway</html>"), 502, msg, sizeof(msg)), STV_EIO);
  CHECK_STR_CONTAINS(msg, "HTTP 502, body: <html>  bad gateway");
}

TEST(token_and_key) {
  struct stv_err err = {0, ""};
  struct stv__gcp_key k;
  char *tok = NULL;
  double ttl = 0;
  CHECK_EQ_INT(stv__gcp_read_token(S("{\"access_token\": \"ya29.x\", \"expires_in\": 3599, \"token_type\": "
                                     "\"Bearer\"}"),
                                   &tok, &ttl, &err),
               0);
  CHECK(strcmp(tok, "ya29.x") == 0 && ttl == 3599);
  stv_free(tok);
  CHECK_EQ_INT(stv__gcp_read_token(S("{\"access_token\": \"a b\", \"expires_in\": 10}"), &tok, &ttl, &err),
               STV_EPARSE);
  CHECK_EQ_INT(stv__gcp_read_token(S("{\"access_token\": \"a\", \"expires_in\": \"10\"}"), &tok, &ttl, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "expires_in");
  CHECK_EQ_INT(stv__gcp_read_key(S("{\"type\": \"authorized_user\"}"), &k, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "expected service_account");
  stv__gcp_key_free(&k);
  CHECK_EQ_INT(stv__gcp_read_key(S("{\"type\": \"service_account\", \"client_email\": \"a@b\"}"), &k, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "key file.private_key: missing");
  stv__gcp_key_free(&k);
}

/* base64url -> bytes through OpenSSL (padding restored). */
static unsigned char *unb64url(const char *s, size_t n, size_t *out_len) {
  char *t = stv_malloc(n + 4);
  unsigned char *out = stv_malloc(n + 4);
  size_t i, m = n;
  int len;
  for (i = 0; i < n; i++) t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
  while (m % 4) t[m++] = '=';
  len = EVP_DecodeBlock(out, (const unsigned char *)t, (int)m);
  stv_free(t);
  *out_len = len > 0 ? (size_t)len - (m - n) : 0;
  return out;
}

TEST(jwt_signed_rs256) {
  EVP_PKEY *pkey = EVP_RSA_gen(2048);
  BIO *bio = BIO_new(BIO_s_mem());
  struct stv__gcp_key key;
  struct stv_err err = {0, ""};
  char *pem = NULL, *jwt = NULL, *dot1, *dot2;
  long pemlen;
  size_t hl, cl, sl;
  unsigned char *h, *c, *sig;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  cJSON *hj, *cj;
  int ok;
  CHECK(pkey != NULL && bio != NULL && PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1);
  pemlen = BIO_get_mem_data(bio, &pem);
  memset(&key, 0, sizeof(key));
  key.client_email = "sa@p.iam.gserviceaccount.com";
  key.private_key = stv_strndup(pem, (size_t)pemlen);
  key.private_key_id = "kid-1";
  CHECK_EQ_INT(stv__gcp_jwt(&key, "https://www.googleapis.com/auth/compute", "https://oauth2.example/token",
                            1700000000, &jwt, &err),
               0);
  dot1 = strchr(jwt, '.');
  dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  CHECK(dot1 != NULL && dot2 != NULL && strchr(jwt, '=') == NULL && strchr(jwt, '+') == NULL);
  h = unb64url(jwt, (size_t)(dot1 - jwt), &hl);
  c = unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), &cl);
  sig = unb64url(dot2 + 1, strlen(dot2 + 1), &sl);
  hj = cJSON_ParseWithLength((const char *)h, hl);
  cj = cJSON_ParseWithLength((const char *)c, cl);
  ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
       EVP_DigestVerify(md, sig, sl, (const unsigned char *)jwt, (size_t)(dot2 - jwt)) == 1;
  CHECK(ok);
  CHECK(hj != NULL && strcmp(cJSON_GetObjectItem(hj, "alg")->valuestring, "RS256") == 0);
  CHECK(strcmp(cJSON_GetObjectItem(hj, "kid")->valuestring, "kid-1") == 0);
  CHECK(cj != NULL && strcmp(cJSON_GetObjectItem(cj, "iss")->valuestring, key.client_email) == 0);
  CHECK(strcmp(cJSON_GetObjectItem(cj, "aud")->valuestring, "https://oauth2.example/token") == 0);
  CHECK(cJSON_GetObjectItem(cj, "exp")->valuedouble - cJSON_GetObjectItem(cj, "iat")->valuedouble == 3600);
  /* A tampered claim no longer verifies. */
  jwt[(dot1 - jwt) + 3] ^= 1;
  CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
        EVP_DigestVerify(md, sig, sl, (const unsigned char *)jwt, (size_t)(dot2 - jwt)) != 1);
  stv_free(key.private_key);
  key.private_key = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  stv_free(jwt);
  jwt = NULL;
  CHECK_EQ_INT(stv__gcp_jwt(&key, "s", "a", 1, &jwt, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "key file.private_key: not a PEM private key");
  CHECK(strstr(err.msg, "not a key") == NULL); /* the key's text never in a message */
  cJSON_Delete(hj);
  cJSON_Delete(cj);
  stv_free(h);
  stv_free(c);
  stv_free(sig);
  EVP_MD_CTX_free(md);
  BIO_free(bio);
  EVP_PKEY_free(pkey);
}

TEST(links) {
  CHECK(strcmp(stv__gcp_rel("https://x/compute/v1/projects/p/zones/z"), "projects/p/zones/z") == 0);
  CHECK(strcmp(stv__gcp_rel("projects/p"), "projects/p") == 0);
  CHECK(stv__gcp_rel("zones/z") == NULL);
  CHECK(strcmp(stv__gcp_last("a/b/c"), "c") == 0);
}

/* ---------------------------------------------------------------------- */
/* Cloud Billing Catalog SKUs                                             */

/* One SKU as services.skus.list writes it, appended to b. */
static void sku(struct stv_buf *b, const char *id, const char *desc, const char *group, const char *usage,
                const char *regions, const char *unit, const char *units, long nanos) {
  stv_buf_printf(b,
                 "%s{\"name\": \"services/6F81-5844-456A/skus/%s\", \"skuId\": \"%s\", \"description\": \"%s\","
                 " \"category\": {\"serviceDisplayName\": \"Compute Engine\", \"resourceFamily\": \"Compute\","
                 " \"resourceGroup\": \"%s\", \"usageType\": \"%s\"}, \"serviceRegions\": [%s],"
                 " \"pricingInfo\": [{\"summary\": \"\", \"pricingExpression\": {\"usageUnit\": \"%s\","
                 " \"displayQuantity\": 1, \"tieredRates\": [{\"startUsageAmount\": 0, \"unitPrice\":"
                 " {\"currencyCode\": \"USD\", \"units\": \"%s\", \"nanos\": %ld}}]},"
                 " \"currencyConversionRate\": 1, \"effectiveTime\": \"2026-08-03T07:00:00Z\"}],"
                 " \"serviceProviderName\": \"Google\"}",
                 b->len > 10 ? ", " : "", id, id, desc, group, usage, regions, unit, units, nanos);
}

/* The page the reader tests share: us-east1's prices of five families and what must be passed over. */
static void sku_page(struct stv_buf *b) {
  const char *east = "\"us-east1\"";
  stv_buf_init(b);
  stv_buf_puts(b, "{\"skus\": [");
  sku(b, "A-1", "N2 Instance Core running in South Carolina", "CPU", "OnDemand", east, "h", "0", 31611000);
  sku(b, "A-2", "N2 Instance Ram running in South Carolina", "RAM", "OnDemand", east, "GiBy.h", "0", 4237000);
  sku(b, "A-3", "Spot Preemptible N2 Instance Core running in South Carolina", "CPU", "Preemptible", east, "h",
      "0", 7500000);
  sku(b, "A-4", "Spot Preemptible N2 Instance Ram running in South Carolina", "RAM", "Preemptible", east,
      "GiBy.h", "0", 1000000);
  sku(b, "B-1", "E2 Instance Core running in Americas", "CPU", "OnDemand", "\"us-east1\", \"us-central1\"", "h",
      "0", 21811590);
  sku(b, "B-2", "E2 Instance Ram running in Americas", "RAM", "OnDemand", "\"us-central1\", \"us-east1\"",
      "GiBy.h", "0", 2923530);
  sku(b, "C-1", "N1 Predefined Instance Core running in Americas", "N1Standard", "OnDemand", east, "h", "0",
      31611000);
  sku(b, "C-2", "N1 Predefined Instance Ram running in Americas", "N1Standard", "OnDemand", east, "GiBy.h", "0",
      4237000);
  sku(b, "D-1", "Compute optimized Core running in South Carolina", "CPU", "OnDemand", east, "h", "0", 33982000);
  sku(b, "D-2", "Compute optimized Ram running in South Carolina", "RAM", "OnDemand", east, "GiBy.h", "0",
      4555000);
  sku(b, "E-1", "Micro Instance with burstable CPU running in Americas", "F1Micro", "OnDemand", east, "h", "0",
      7600000);
  /* Passed over: custom, commitments, another region, another family of resources, sole tenancy. */
  sku(b, "X-1", "N2 Custom Instance Core running in South Carolina", "CPU", "OnDemand", east, "h", "0", 33191550);
  sku(b, "X-2", "Commitment v1: N2 Cpu in South Carolina for 1 Year", "CPU", "Commit1Yr", east, "h", "0",
      19915000);
  sku(b, "X-3", "N2 Instance Core running in Netherlands", "CPU", "OnDemand", "\"europe-west4\"", "h", "0",
      34802000);
  sku(b, "X-4", "N2 Sole Tenancy Instance Core running in South Carolina", "CPU", "OnDemand", east, "h", "0",
      50000000);
  stv_buf_puts(b, "], \"nextPageToken\": \"page-2\"}");
}

/* The price of a type, or -1 when the rates have none; -2 when its time is not the SKUs' effectiveTime. */
static double price_of(const struct stv__gcp_rates *r, const char *type, double vcpus, double gib,
                       enum stv_capacity_type ct) {
  double p = -1, as_of = 0;
  if (stv__gcp_type_price(r, type, vcpus, gib, ct, &p, &as_of) != 0) return -1;
  return as_of == 1785740400.0 ? p : -2; /* 2026-08-03T07:00:00Z */
}

TEST(should_price_machine_types_from_the_core_and_memory_skus_of_the_region) {
  struct stv__gcp_rates r = {0};
  struct stv_err err = {0, ""};
  struct stv_buf b;
  char *next = NULL;
  sku_page(&b);
  CHECK_EQ_INT(b.err, 0);
  CHECK_EQ_INT(stv__gcp_read_skus(b.data, b.len, "us-east1", &r, &next, &err), 0);
  CHECK(next != NULL && strcmp(next, "page-2") == 0);
  CHECK_EQ_INT(r.seen, 15);
  CHECK_EQ_INT(r.n, 11);
  /* n2-standard-4: 4 x 0.031611 + 16 x 0.004237; its spot figure from the Preemptible SKUs. */
  CHECK(fabs(price_of(&r, "n2-standard-4", 4, 16, STV_CT_ON_DEMAND) - (4 * 0.031611 + 16 * 0.004237)) < 1e-12);
  CHECK(fabs(price_of(&r, "n2-highcpu-8", 8, 8, STV_CT_SPOT) - (8 * 0.0075 + 8 * 0.001)) < 1e-12);
  /* Shared core: e2-micro bills a quarter of a vCPU, e2-medium one (the catalogue says 2 vCPUs). */
  CHECK(fabs(price_of(&r, "e2-micro", 2, 1, STV_CT_ON_DEMAND) - (0.25 * 0.02181159 + 0.00292353)) < 1e-12);
  CHECK(fabs(price_of(&r, "e2-medium", 2, 4, STV_CT_ON_DEMAND) - (0.02181159 + 4 * 0.00292353)) < 1e-12);
  CHECK(fabs(price_of(&r, "e2-standard-2", 2, 8, STV_CT_ON_DEMAND) - (2 * 0.02181159 + 8 * 0.00292353)) < 1e-12);
  CHECK(fabs(price_of(&r, "n1-standard-1", 1, 3.75, STV_CT_ON_DEMAND) - (0.031611 + 3.75 * 0.004237)) < 1e-12);
  CHECK(fabs(price_of(&r, "c2-standard-4", 4, 16, STV_CT_ON_DEMAND) - (4 * 0.033982 + 16 * 0.004555)) < 1e-12);
  CHECK(fabs(price_of(&r, "f1-micro", 1, 0.6, STV_CT_ON_DEMAND) - 0.0076) < 1e-12);
  /* No spot SKUs for e2 here, no SKUs at all for c3: no price rather than a guess. */
  CHECK(price_of(&r, "e2-standard-2", 2, 8, STV_CT_SPOT) < 0);
  CHECK(price_of(&r, "c3-standard-4", 4, 16, STV_CT_ON_DEMAND) < 0);
  stv_free(next);
  stv_buf_close(&b);
  stv__gcp_rates_free(&r);
}

TEST(should_prefer_the_sku_of_the_region_alone_over_one_shared_with_others) {
  struct stv__gcp_rates r = {0};
  struct stv_err err = {0, ""};
  struct stv_buf b;
  char *next = NULL;
  stv_buf_init(&b);
  stv_buf_puts(&b, "{\"skus\": [");
  sku(&b, "A-1", "N2 Instance Core running in Americas", "CPU", "OnDemand", "\"us-east1\", \"us-east4\"", "h",
      "0", 40000000);
  sku(&b, "A-2", "N2 Instance Core running in South Carolina", "CPU", "OnDemand", "\"us-east1\"", "h", "0",
      31611000);
  sku(&b, "A-3", "N2 Instance Core running in Virginia", "CPU", "OnDemand", "\"us-east4\"", "h", "0", 35611000);
  stv_buf_puts(&b, "]}");
  CHECK_EQ_INT(stv__gcp_read_skus(b.data, b.len, "us-east1", &r, &next, &err), 0);
  CHECK(next == NULL);
  CHECK_EQ_INT(r.n, 1);
  CHECK(fabs(r.v[0].price - 0.031611) < 1e-12 && strcmp(r.v[0].sku, "A-2") == 0);
  stv_buf_close(&b);
  stv__gcp_rates_free(&r);
}

/* Reads a one-SKU page whose SKU has from replaced by to: 1 when that fails with STV_EPARSE naming where. */
static int sku_error(const char *from, const char *to, const char *where) {
  struct stv__gcp_rates r = {0};
  struct stv_err err = {0, ""};
  struct stv_buf b, c;
  char *next = NULL, *at;
  int rc, ok;
  stv_buf_init(&b);
  stv_buf_puts(&b, "{\"skus\": [");
  sku(&b, "A-1", "N2 Instance Core running in South Carolina", "CPU", "OnDemand", "\"us-east1\"", "h", "0", 1);
  stv_buf_puts(&b, "]}");
  if ((at = strstr(b.data, from)) == NULL) {
    stv_buf_close(&b);
    return 0;
  }
  stv_buf_init(&c);
  stv_buf_printf(&c, "%.*s%s%s", (int)(at - b.data), b.data, to, at + strlen(from));
  rc = stv__gcp_read_skus(c.data, c.len, "us-east1", &r, &next, &err);
  ok = rc == STV_EPARSE && strstr(err.msg, where) != NULL;
  if (!ok) fprintf(stderr, "  %s -> %s: rc %d, \"%s\" (expected \"%s\")\n", from, to, rc, err.msg, where);
  stv_buf_close(&b);
  stv_buf_close(&c);
  stv__gcp_rates_free(&r);
  stv_free(next);
  return ok;
}

TEST(should_name_the_sku_and_field_of_a_price_it_cannot_read) {
  CHECK(sku_error("\"usageUnit\": \"h\"", "\"usageUnit\": \"GiBy.h\"",
            "skus[0] (skuId A-1).pricingInfo[0].pricingExpression.usageUnit: \"GiBy.h\" (expected \"h\""));
  CHECK(sku_error("\"currencyCode\": \"USD\"", "\"currencyCode\": \"EUR\"", "unitPrice.currencyCode: \"EUR\""));
  CHECK(sku_error("\"nanos\": 1", "\"nanos\": -5", "unitPrice.nanos: not a whole number"));
  CHECK(sku_error("\"nanos\": 1", "\"nanos\": 1.5", "unitPrice.nanos: not a whole number"));
  CHECK(sku_error("\"units\": \"0\"", "\"units\": \"x\"", "unitPrice.units: \"x\" is not a count"));
  CHECK(sku_error("\"units\": \"0\"", "\"units\": \"99999999999\"", "is not a unit price"));
  CHECK(sku_error("\"startUsageAmount\": 0", "\"startUsageAmount\": 10", "no tier from usage 0"));
  CHECK(sku_error("2026-08-03T07:00:00Z", "2026-02-30T07:00:00Z", "skus[0] (skuId A-1).pricingInfo[0].effectiveTime"));
  CHECK(sku_error("2026-08-03T07:00:00Z", "1013-08-03T07:00:00Z",
                  "effectiveTime: \"1013-08-03T07:00:00Z\" is before 1970"));
  CHECK(sku_error("\"serviceRegions\": [\"us-east1\"]", "\"serviceRegions\": \"us-east1\"",
            "skus[0] (skuId A-1).serviceRegions: not an array"));
  CHECK(sku_error("\"category\": {", "\"category\": 3, \"x\": {", "skus[0] (skuId A-1).category: missing"));
  CHECK(sku_error("\"pricingInfo\": [", "\"pricingInfo\": [1, ", "pricingInfo[0]: missing or not an object"));
  CHECK(sku_error("{\"skus\": [", "{\"skus\": 7, \"x\": [", "skus.list.skus: not an array"));
  CHECK(sku_error("{\"skus\": [", "[", "skus.list: not a JSON object"));
  CHECK(sku_error("]}", "]", "skus.list: not JSON (at byte"));
}

TEST(should_pass_over_skus_that_are_no_unit_price_of_a_predefined_family) {
  static const char *const descs[] = {
      "N2 Custom Instance Core running in South Carolina",  "N2 Custom Extended Instance Ram running in X",
      "Custom Instance Core running in Americas",          "N2 Instance Core",
      "n2 Instance Core running in South Carolina",        "N2 Instance Disk running in South Carolina",
      "Licensing Fee for SQL Server running in Americas", "N2 Sole Tenancy Instance Core running in X"};
  size_t i;
  for (i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
    struct stv__gcp_rates r = {0};
    struct stv_err err = {0, ""};
    struct stv_buf b;
    char *next = NULL;
    stv_buf_init(&b);
    stv_buf_puts(&b, "{\"skus\": [");
    sku(&b, "A-1", descs[i], "CPU", "OnDemand", "\"us-east1\"", "h", "0", 1);
    stv_buf_puts(&b, "]}");
    CHECK_EQ_INT(stv__gcp_read_skus(b.data, b.len, "us-east1", &r, &next, &err), 0);
    if (r.n != 0) fprintf(stderr, "  kept: %s\n", descs[i]);
    CHECK_EQ_INT(r.n, 0);
    stv_buf_close(&b);
    stv__gcp_rates_free(&r);
  }
}
