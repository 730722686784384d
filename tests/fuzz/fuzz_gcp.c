/*
 * Fuzz target: the GCP provider's readers of Compute, OAuth and Cloud
 * Billing Catalog answers (cloud/gcp_parse.c). The first byte picks the
 * reader (modulo 9: 8 is the skus.list page); the rest is the body. Properties: a reader returns 0 or an error
 * with a message; on success what it filled is well formed (names, paths
 * from "projects/", zones, counts; unit prices finite, non-negative and
 * below a million, and the machine-type prices made of them too); the
 * error mapping never fails and always writes a message.
 */
#include "fuzz.h"
#include "gcp_internal.h"

static void migs(const char *b, size_t n, int aggregated) {
  struct stv__gcp_migs m = {0};
  struct stv_err err = {0, ""};
  char *next = NULL;
  size_t i, j;
  int rc = stv__gcp_read_migs(b, n, aggregated, aggregated ? "gke-" : NULL, &m, &next, &err);
  fuzz_check_error(rc, &err);
  for (i = 0; rc == 0 && i < m.n; i++) {
    FUZZ_CHECK(m.v[i].name != NULL && strncmp(m.v[i].path, "projects/", 9) == 0);
    FUZZ_CHECK(strncmp(m.v[i].tmpl, "projects/", 9) == 0 && m.v[i].target_size >= 0 && m.v[i].nzones > 0);
    FUZZ_CHECK(!aggregated || strncmp(m.v[i].name, "gke-", 4) == 0);
    for (j = 0; j < m.v[i].nzones; j++)
      FUZZ_CHECK(m.v[i].zones[j][0] != '\0' && strchr(m.v[i].zones[j], '/') == NULL);
  }
  FUZZ_CHECK(rc == 0 || next == NULL);
  stv_free(next);
  stv__gcp_migs_free(&m);
}

static void managed(const char *b, size_t n) {
  struct stv__gcp_manageds m = {0};
  struct stv_err err = {0, ""};
  char *next = NULL;
  size_t i;
  int rc = stv__gcp_read_managed(b, n, &m, &next, &err);
  fuzz_check_error(rc, &err);
  for (i = 0; rc == 0 && i < m.n; i++) {
    FUZZ_CHECK(m.v[i].zone[0] != '\0' && strchr(m.v[i].zone, '/') == NULL);
    FUZZ_CHECK(m.v[i].name[0] != '\0' && strchr(m.v[i].name, '/') == NULL);
    FUZZ_CHECK((m.v[i].err_code == NULL) == (m.v[i].err_message == NULL));
  }
  stv_free(next);
  stv__gcp_manageds_free(&m);
}

static void skus(const char *b, size_t n) {
  static const char *const types[] = {"n2-standard-4", "e2-micro", "f1-micro", "c2-standard-8", "x-1"};
  struct stv__gcp_rates r = {0};
  struct stv_err err = {0, ""};
  char *next = NULL;
  size_t i, k;
  int rc = stv__gcp_read_skus(b, n, "us-east1", &r, &next, &err);
  fuzz_check_error(rc, &err);
  for (i = 0; rc == 0 && i < r.n; i++) {
    FUZZ_CHECK(r.v[i].family[0] != '\0' && r.v[i].price >= 0 && r.v[i].price < 1000001);
    FUZZ_CHECK(r.v[i].ct == STV_CT_SPOT || r.v[i].ct == STV_CT_ON_DEMAND);
    for (k = 0; k < i; k++) /* one rate per family, resource and capacity type */
      FUZZ_CHECK(!(r.v[k].res == r.v[i].res && r.v[k].ct == r.v[i].ct && strcmp(r.v[k].family, r.v[i].family) == 0));
  }
  for (i = 0; rc == 0 && i < sizeof(types) / sizeof(types[0]); i++) {
    double p = -1, as_of = -1;
    if (stv__gcp_type_price(&r, types[i], 4, 16, STV_CT_ON_DEMAND, &p, &as_of) == 0)
      FUZZ_CHECK(p >= 0 && p < 1e8 && as_of >= 0);
  }
  FUZZ_CHECK(rc == 0 || next == NULL || next[0] != '\0');
  stv_free(next);
  stv__gcp_rates_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv_err err = {0, ""};
  const char *b = (const char *)data + 1;
  size_t n = size > 0 ? size - 1 : 0;
  if (size == 0) return 0;
  switch (data[0] % 9) {
  case 0:
  case 1:
    migs(b, n, data[0] & 1);
    break;
  case 2: {
    struct stv__gcp_template t;
    int rc = stv__gcp_read_template(b, n, &t, &err);
    fuzz_check_error(rc, &err);
    FUZZ_CHECK(rc != 0 || (t.machine_type != NULL && (t.ct == STV_CT_SPOT || t.ct == STV_CT_ON_DEMAND)));
    stv__gcp_template_free(&t);
    break;
  }
  case 3: {
    struct stv__gcp_op op;
    int rc = stv__gcp_read_operation(b, n, &op, &err);
    fuzz_check_error(rc, &err);
    FUZZ_CHECK(rc != 0 || (op.name[0] != '\0' && strncmp(op.path, "projects/", 9) == 0));
    if (rc == 0 && op.code[0] != '\0') FUZZ_CHECK(stv__gcp_op_code(op.code, op.http_status) < 0);
    break;
  }
  case 4:
    managed(b, n);
    break;
  case 5: {
    char msg[300];
    int code = stv__gcp_read_error(b, n, 400 + (long)(n % 200), msg, sizeof(msg));
    FUZZ_CHECK(code < 0 && msg[0] != '\0' && memchr(msg, '\0', sizeof(msg)) != NULL);
    break;
  }
  case 6: {
    char *tok = NULL;
    double ttl = 0;
    int rc = stv__gcp_read_token(b, n, &tok, &ttl, &err);
    fuzz_check_error(rc, &err);
    FUZZ_CHECK(rc != 0 || (tok != NULL && tok[0] != '\0' && ttl > 0));
    stv_free(tok);
    break;
  }
  case 8:
    skus(b, n);
    break;
  default: {
    struct stv__gcp_key k;
    int rc = stv__gcp_read_key(b, n, &k, &err);
    fuzz_check_error(rc, &err);
    FUZZ_CHECK(rc != 0 || (k.client_email != NULL && k.private_key != NULL && k.token_uri != NULL));
    stv__gcp_key_free(&k);
    break;
  }
  }
  return 0;
}
