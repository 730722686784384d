/*
 * Fuzz target: the metrics API's PodMetricsList (controller/prom/metrics.c), as
 * `report --metrics` reads it. Any text reads or fails with a message
 * naming the file; the pods read are counted, none of them matched yet.
 */
#include "fuzz.h"
#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv_metrics m;
  struct stv_err err = {0, ""};
  int rc;
  stv_metrics_init(&m);
  /* Reads of the whole input at once, without the default 1 MiB buffer per run. */
  stv_json_stream_set_chunk(size + 1);
  rc = stv_metrics_read_buffer(&m, "fuzz.json", (const char *)data, size, &err);
  fuzz_check_error(rc, &err);
  if (rc != 0) FUZZ_CHECK(strncmp(err.msg, "fuzz.json", 9) == 0);
  FUZZ_CHECK(m.matched == 0 && m.len == m.map.len);
  stv_metrics_close(&m);
  return 0;
}
