/*
 * The Azure provider's pieces without a network: the response readers
 * (cloud/azure_json.c) with real documents and broken ones, whose messages
 * must name the call and the field; the mapping of Azure's error codes to
 * the provider interface's; and stv_cloud_open_azure's checks of its
 * settings. The provider against the emulator: tests/test_cloud_azure.py.
 */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "azure.h"
#include "azure_internal.h"
#include "clock_uv.h"
#include "harness.h"

static const char VMSS_PAGE[] =
    "{\"value\": [{\"name\": \"aks-spot-1-vmss\", \"id\": \"/subscriptions/s1/resourceGroups/MC_rg/providers/"
    "Microsoft.Compute/virtualMachineScaleSets/aks-spot-1-vmss\", \"type\": "
    "\"Microsoft.Compute/virtualMachineScaleSets\", \"location\": \"westeurope\", \"tags\": {\"min\": \"1\", "
    "\"aks-managed-poolName\": \"spot\"}, \"sku\": {\"name\": \"Standard_D4s_v5\", \"tier\": \"Standard\", "
    "\"capacity\": 3}, \"zones\": [\"1\", \"3\"], \"properties\": {\"virtualMachineProfile\": {\"priority\": "
    "\"Spot\", \"evictionPolicy\": \"Delete\", \"billingProfile\": {\"maxPrice\": -1}}, "
    "\"provisioningState\": "
    "\"Succeeded\"}}], \"nextLink\": \"https://management.azure.com/next?$skiptoken=1\"}";

TEST(should_read_a_scale_set_page_with_zones_priority_tags_and_next_link) {
  struct stv__az_page p;
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(stv__az_read_page(&p, 0, "azure list", VMSS_PAGE, strlen(VMSS_PAGE), &err), 0);
  CHECK_EQ_INT(p.n, 1);
  CHECK(strcmp(p.sets[0].sku, "Standard_D4s_v5") == 0);
  CHECK_EQ_INT(p.sets[0].capacity, 3);
  CHECK_EQ_INT(p.sets[0].nzones, 2);
  CHECK(strcmp(p.sets[0].zones[1], "3") == 0);
  CHECK_EQ_INT(p.sets[0].spot, 1);
  CHECK(strcmp(stv__az_tag(&p.sets[0], "aks-managed-poolName"), "spot") == 0);
  CHECK(stv__az_tag(&p.sets[0], "max") == NULL);
  CHECK(strcmp(p.next_link, "https://management.azure.com/next?$skiptoken=1") == 0);
  stv__az_page_free(&p);
}

/* Each broken body: the message names the call and the field. */
TEST(should_name_the_call_and_the_field_of_a_broken_page) {
  static const struct {
    int vms;
    const char *body, *want;
  } cases[] = {
      {0,
       "{\"value\": [{\"name\": \"a\", \"id\": \"i\", \"location\": \"l\", \"sku\": {\"name\": \"s\", "
       "\"capacity\": 2.5}}]}",
       "azure list: value[0] (a).sku.capacity: missing or not a whole number"},
      {0, "{\"value\": [{\"name\": \"a\", \"id\": \"i\", \"location\": \"l\", \"sku\": {\"capacity\": 1}}]}",
       "azure list: value[0].sku.name: missing"},
      {0, "{\"value\": {}}", "azure list: value: missing or not an array"},
      {0,
       "{\"value\": [{\"name\": \"a\", \"id\": \"i\", \"location\": \"l\", \"sku\": {\"name\": \"s\", "
       "\"capacity\": 1}, \"zones\": [1]}]}",
       "azure list: value[0].zones[0]: not a zone name"},
      {1, "{\"value\": [{\"instanceId\": \"7x\", \"properties\": {}}]}",
       "azure list: value[0].instanceId: 7x: not a decimal instance id"},
      {1, "{\"value\": [{\"instanceId\": \"7\", \"properties\": {\"osProfile\": {}}}]}",
       "azure list: value[0].properties.provisioningState: missing"},
      {1, "{\"value\": [], \"nextLink\": 5}", "azure list: nextLink: not a string"},
      {1, "{\"value\": [{\"name\": \"truncated", "azure list: the answer is not JSON"},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct stv__az_page p;
    struct stv_err err = {0, ""};
    CHECK_EQ_INT(
        stv__az_read_page(&p, cases[i].vms, "azure list", cases[i].body, strlen(cases[i].body), &err),
        STV_EPARSE);
    stv__az_page_free(&p);
    CHECK_STR_CONTAINS(err.msg, cases[i].want);
  }
}

TEST(should_read_operations_errors_and_tokens) {
  static const char op[] = "{\"startTime\": \"2026-01-01T00:00:00Z\", \"status\": \"Failed\", \"error\": "
                           "{\"code\": \"ZonalAllocationFailed\", \"message\": \"Allocation failed.\"}}";
  static const char imds[] =
      "{\"access_token\": \"eyJ.x\", \"expires_in\": \"3599\", \"token_type\": \"Bearer\"}";
  static const char aad[] = "{\"error\": \"invalid_client\", \"error_description\": \"AADSTS7000215: Invalid "
                            "client secret provided.\\r\\nTrace ID: 1\"}";
  struct stv__az_op o;
  struct stv_err err = {0, ""};
  char code[96], msg[320], *tok = NULL;
  double ttl = 0;
  CHECK_EQ_INT(stv__az_read_operation(&o, "azure op", op, strlen(op), &err), 0);
  CHECK(strcmp(o.status, "Failed") == 0 && strcmp(o.code, "ZonalAllocationFailed") == 0);
  CHECK_EQ_INT(stv__az_read_operation(&o, "azure op", "{}", 2, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "azure op: status: missing");
  CHECK_EQ_INT(stv__az_read_error("{\"error\": {\"code\": \"NotFound\", \"message\": \"m\"}}", 47, code,
                                  sizeof(code), msg, sizeof(msg)),
               0);
  CHECK(strcmp(code, "NotFound") == 0 && strcmp(msg, "m") == 0);
  CHECK_EQ_INT(stv__az_read_error("<html>", 6, code, sizeof(code), msg, sizeof(msg)), STV_EPARSE);
  CHECK_EQ_INT(stv__az_read_token("imds", imds, strlen(imds), &tok, &ttl, &err), 0);
  CHECK(strcmp(tok, "eyJ.x") == 0 && ttl == 3599);
  stv_free(tok);
  CHECK_EQ_INT(stv__az_read_token("imds", "{\"access_token\": \"a\"}", 21, &tok, &ttl, &err), STV_EPARSE);
  CHECK(tok == NULL);
  CHECK_STR_CONTAINS(err.msg, "imds: expires_in");
  CHECK_EQ_INT(stv__az_read_aad_error(aad, strlen(aad), msg, sizeof(msg)), 0);
  CHECK(strcmp(msg, "invalid_client: AADSTS7000215: Invalid client secret provided.") == 0);
}

TEST(should_map_azure_codes_to_the_provider_interface) {
  CHECK_EQ_INT(stv__az_code(409, "SkuNotAvailable", "x"), STV_ECAPACITY);
  CHECK_EQ_INT(stv__az_code(200, "AllocationFailed", "x"), STV_ECAPACITY);
  CHECK_EQ_INT(stv__az_code(200, "ZonalAllocationFailed", "x"), STV_ECAPACITY);
  CHECK_EQ_INT(stv__az_code(409, "OperationNotAllowed", "exceeding approved standardDSv3Family Cores Quota"),
               STV_ELIMIT);
  CHECK_EQ_INT(stv__az_code(409, "OperationNotAllowed", "the scale set is being deleted"), STV_EINVAL);
  CHECK_EQ_INT(stv__az_code(429, "TooManyRequests", "x"), STV_ETHROTTLED);
  CHECK_EQ_INT(stv__az_code(404, "ResourceNotFound", "x"), STV_ENOTFOUND);
  CHECK_EQ_INT(stv__az_code(400, "InvalidParameter", "x"), STV_EINVAL);
  CHECK_EQ_INT(stv__az_code(403, "AuthorizationFailed", "x"), STV_EIO);
  CHECK_EQ_INT(stv__az_code(503, "", NULL), STV_EIO);
}

TEST(should_refuse_settings_that_are_missing_or_wrong_naming_them) {
  struct stv_azure_config c;
  struct stv_cloud *cl = NULL;
  struct stv_err err = {0, ""};
  struct stv_uvclock uc;
  struct stv_http *http = NULL;
  uv_loop_t loop;
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  stv_uvclock_init(&uc, &loop);
  CHECK_EQ_INT(stv_http_new(&http, &loop, &err), 0);
  unsetenv("AZURE_SUBSCRIPTION_ID");
  unsetenv("AZURE_CLIENT_SECRET");
  unsetenv("AZURE_FEDERATED_TOKEN_FILE");
  unsetenv("AZURE_TENANT_ID");
  memset(&c, 0, sizeof(c));
  CHECK_EQ_INT(stv_cloud_open_azure(&cl, http, &uc.clock, &c, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "subscriptionId: not set");
  c.subscription_id = "s1";
  c.resource_manager_endpoint = "management.azure.com";
  CHECK_EQ_INT(stv_cloud_open_azure(&cl, http, &uc.clock, &c, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "resourceManagerEndpoint management.azure.com: not an http");
  c.resource_manager_endpoint = NULL;
  c.client_secret = "s3cret";
  CHECK_EQ_INT(stv_cloud_open_azure(&cl, http, &uc.clock, &c, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "client secret needs AZURE_TENANT_ID and AZURE_CLIENT_ID");
  CHECK(strstr(err.msg, "s3cret") == NULL);
  c.client_secret = NULL; /* managed identity: opens, lists nothing until asked */
  c.watch_interval = -1;
  CHECK_EQ_INT(stv_cloud_open_azure(&cl, http, &uc.clock, &c, &err), 0);
  CHECK(strcmp(cl->ops->name, "azure") == 0);
  CHECK_EQ_INT(cl->ops->set_desired(cl, "/subscriptions/s1/nope", 3, NULL, NULL), STV_ENOTFOUND);
  cl->ops->close(cl);
  stv_http_close(http);
  stv_uvclock_close(&uc);
  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
}
