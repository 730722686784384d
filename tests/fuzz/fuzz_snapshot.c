/*
 * Fuzz target: the snapshot reader as a whole (controller/kube/snapshot.c over
 * the streaming JSON reader): every item of a v1 List into a snapshot,
 * then the storage objects resolved and the snapshot finished, as
 * `stevedore recommend --snapshot` does. Any text reads or fails with a
 * message; a finished snapshot's pods point at its classes and nodes.
 */
#include "fuzz.h"
#include "jsonstream.h"
#include "snapshot.h"

static int on_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  (void)index;
  return stv_snapshot_add_item(ctx, item, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct stv_snapshot s;
  struct stv_err err = {0, ""};
  size_t i;
  int rc;
  if (stv_snapshot_init(&s) != 0) return 0;
  /* Reads of the whole input at once, without the default 1 MiB buffer per run. */
  stv_json_stream_set_chunk(size + 1);
  rc = stv_json_stream_buffer("fuzz.json", (const char *)data, size, on_item, &s, &err);
  if (rc == 0) rc = stv_snapshot_resolve_volumes(&s, NULL, &err);
  if (rc == 0) rc = stv_snapshot_finish(&s, &err);
  fuzz_check_error(rc, &err);
  if (rc == 0) {
    for (i = 0; i < s.npods; i++) {
      FUZZ_CHECK(s.pods[i].cls < s.nclasses);
      FUZZ_CHECK(s.pods[i].node < 0 || (size_t)s.pods[i].node < s.nnodes);
    }
  }
  stv_snapshot_close(&s);
  return 0;
}
