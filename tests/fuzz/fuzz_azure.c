/*
 * Fuzz target: the Azure provider's response readers (cloud/azure_json.c).
 * The first byte picks the reader (scale set page, virtual machine page,
 * operation, ARM error, token, Entra ID error); the rest is the body. Any
 * body is read or refused with a message naming the call; what is read
 * keeps its promises: every required string set and not empty, instance
 * ids decimal, capacities whole and in range, tokens free of spaces.
 */
#include <math.h>

#include "azure_internal.h"
#include "fuzz.h"

static void check_page(const char *body, size_t len, int vms) {
  struct stv__az_page p;
  struct stv_err err = {0, ""};
  size_t i, k;
  int rc = stv__az_read_page(&p, vms, "fuzz call", body, len, &err);
  fuzz_check_error(rc, &err);
  if (rc != 0) FUZZ_CHECK(rc == STV_ENOMEM || strncmp(err.msg, "fuzz call: ", 11) == 0);
  for (i = 0; rc == 0 && i < p.n; i++) {
    if (vms) {
      const struct stv__az_vm *v = &p.vms[i];
      FUZZ_CHECK(v->instance_id[0] != '\0' && strspn(v->instance_id, "0123456789") == strlen(v->instance_id));
      FUZZ_CHECK(v->state != NULL && v->state[0] != '\0');
    } else {
      const struct stv__az_vmss *s = &p.sets[i];
      FUZZ_CHECK(s->id[0] != '\0' && s->name[0] != '\0' && s->location[0] != '\0' && s->sku[0] != '\0');
      FUZZ_CHECK(s->capacity >= 0 && s->capacity <= 1000000);
      for (k = 0; k < s->nzones; k++) FUZZ_CHECK(s->zones[k][0] != '\0');
      for (k = 0; k < s->ntags; k++) FUZZ_CHECK(stv__az_tag(s, s->tags[k].key) != NULL);
    }
  }
  stv__az_page_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv_err err = {0, ""};
  struct stv__az_op op;
  char *body, code[96], msg[320], *token = NULL;
  double ttl = 0;
  size_t len;
  int rc;
  if (size < 1) return 0;
  body = fuzz_cstr(data + 1, size - 1);
  len = size - 1;
  switch (data[0] % 6) {
  case 0:
  case 1:
    check_page(body, len, data[0] % 6);
    break;
  case 2:
    rc = stv__az_read_operation(&op, "fuzz call", body, len, &err);
    fuzz_check_error(rc, &err);
    if (rc == 0) FUZZ_CHECK(op.status[0] != '\0' && memchr(op.message, '\0', sizeof(op.message)) != NULL);
    break;
  case 3:
    rc = stv__az_read_error(body, len, code, sizeof(code), msg, sizeof(msg));
    FUZZ_CHECK(rc == 0 || rc == STV_EPARSE);
    (void)stv__az_code(rc == 0 ? 409 : 500, code, msg);
    break;
  case 4:
    rc = stv__az_read_token("fuzz token", body, len, &token, &ttl, &err);
    fuzz_check_error(rc, &err);
    if (rc == 0)
      FUZZ_CHECK(token != NULL && token[0] != '\0' && strpbrk(token, " \r\n") == NULL && ttl > 0 &&
                 isfinite(ttl));
    else
      FUZZ_CHECK(token == NULL && strstr(err.msg, "fuzz token") != NULL);
    stv_free(token);
    break;
  default:
    rc = stv__az_read_aad_error(body, len, msg, sizeof(msg));
    FUZZ_CHECK(rc == 0 || rc == STV_EPARSE);
    FUZZ_CHECK(strpbrk(msg, "\r\n") == NULL);
    break;
  }
  free(body);
  return 0;
}
