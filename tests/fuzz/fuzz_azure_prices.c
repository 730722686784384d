/*
 * Fuzz target: the reader of the Azure Retail Prices API's pages
 * (cloud/azure_prices.c, stv__az_read_prices). Any body is read or refused
 * with a message naming the call; what is read keeps its promises: every
 * meter kept has a size name, a finite price and a non-negative as_of, and
 * the counts of meters kept and left out never exceed the items given.
 */
#include <math.h>

#include "azure_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv__az_prices_page pg;
  struct stv_err err = {0, ""};
  char *body = fuzz_cstr(data, size);
  size_t i;
  int rc = stv__az_read_prices(&pg, "fuzz call", body, size, &err);
  fuzz_check_error(rc, &err);
  if (rc != 0) FUZZ_CHECK(rc == STV_ENOMEM || strncmp(err.msg, "fuzz call: ", 11) == 0);
  for (i = 0; rc == 0 && i < pg.n; i++) {
    const struct stv__az_price *it = &pg.items[i];
    FUZZ_CHECK(it->sku != NULL && it->sku[0] != '\0');
    FUZZ_CHECK(isfinite(it->price) && it->as_of >= 0);
    FUZZ_CHECK(it->spot == 0 || it->spot == 1);
  }
  if (rc == 0) FUZZ_CHECK(pg.next_link == NULL || pg.next_link[0] != '\0');
  stv__az_prices_page_free(&pg);
  free(body);
  return 0;
}
