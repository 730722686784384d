/*
 * Fuzz target: the YAML configuration file (controller/config.c). Any text
 * loads or fails with a message naming the file; a failed load leaves the
 * caller's configuration as it was (here: the defaults); a loaded one stays
 * within the limits of config.h.
 */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv_config c, defaults;
  struct stv_err err = {0, ""};
  size_t i, pods = 0;
  int rc;
  stv_config_init(&c);
  stv_config_init(&defaults);
  rc = stv_config_load_text(&c, "fuzz.yaml", (const char *)data, size, &err);
  fuzz_check_error(rc, &err);
  if (rc != 0) {
    FUZZ_CHECK(strncmp(err.msg, "fuzz.yaml", 9) == 0);
    FUZZ_CHECK(c.npools == 0 && c.nheadroom == 0 && c.time_limit == defaults.time_limit);
  } else {
    FUZZ_CHECK(c.npools <= STV_NODE_POOLS_MAX);
    FUZZ_CHECK(c.nheadroom <= STV_HEADROOM_UNITS_MAX);
    for (i = 0; i < c.nheadroom; i++) pods += c.headroom[i].count;
    FUZZ_CHECK(pods <= STV_HEADROOM_PODS_MAX);
    FUZZ_CHECK(c.time_limit >= 0 && c.time_limit <= STV_TIME_LIMIT_MAX);
    for (i = 0; i < c.npools; i++) FUZZ_CHECK(c.pools[i].name != NULL);
  }
  stv_config_close(&c);
  stv_config_close(&defaults);
  return 0;
}
