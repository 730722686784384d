/*
 * Fuzz target: the price catalogue (pricing/catalog.c), from a buffer. Any
 * text loads or fails with a message naming the file; a loaded catalogue
 * keeps its documented invariants: types sorted by name and unique, each
 * with at least one offering, non-negative prices, pods among the
 * resources, and every type found again by stv_catalog_find.
 */
#include <math.h>

#include "fuzz.h"
#include "pricing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv_catalog c;
  struct stv_err err = {0, ""};
  size_t i;
  uint32_t k;
  int rc = stv_catalog_load_json(&c, "fuzz.json", (const char *)data, size, &err);
  fuzz_check_error(rc, &err);
  if (rc != 0) {
    FUZZ_CHECK(strncmp(err.msg, "fuzz.json", 9) == 0);
    return 0;
  }
  for (i = 0; i < c.ntypes; i++) {
    const struct stv_instance_type *t = &c.types[i];
    if (i > 0) FUZZ_CHECK(strcmp(c.types[i - 1].name, t->name) < 0);
    FUZZ_CHECK(stv_catalog_find(&c, t->name) == t);
    FUZZ_CHECK(t->noff >= 1);
    for (k = 0; k < t->noff; k++) FUZZ_CHECK(t->off[k].price >= 0 && isfinite(t->off[k].price));
    for (k = 0; k < t->nres; k++) {
      FUZZ_CHECK(t->capacity[k].name == t->allocatable[k].name);
      FUZZ_CHECK(t->allocatable[k].value >= 0);
    }
  }
  stv_catalog_close(&c);
  return 0;
}
