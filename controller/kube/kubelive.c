/*
 * kubelive: `recommend --kubeconfig` and `report --kubeconfig` read the
 * live cluster: one paginated list of each kind the snapshot reader takes,
 * each item handed to the same item callback the snapshot files use
 * (kubeclient.h, docs/kube-client.md).
 */
#include "kubeclient.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The kinds, in the order `kubectl get nodes,pods,pdb,ns,pvc,pv,sc,csinode -A -o json` prints them. */
static const struct {
  const char *resource; /* for messages and RBAC: the resource name */
  const char *path;
} kinds[] = {
    {"nodes", "/api/v1/nodes"},
    {"pods", "/api/v1/pods"},
    {"poddisruptionbudgets.policy", "/apis/policy/v1/poddisruptionbudgets"},
    {"namespaces", "/api/v1/namespaces"},
    {"persistentvolumeclaims", "/api/v1/persistentvolumeclaims"},
    {"persistentvolumes", "/api/v1/persistentvolumes"},
    {"storageclasses.storage.k8s.io", "/apis/storage.k8s.io/v1/storageclasses"},
    {"csinodes.storage.k8s.io", "/apis/storage.k8s.io/v1/csinodes"},
};

struct live {
  stv_json_item_cb cb;
  void *ctx;
  long index;
};

static int live_item(void *ctx, const cJSON *item, struct stv_err *err) {
  struct live *l = ctx;
  return l->cb(l->ctx, l->index++, item, err);
}

/* Lists every kind into cb; the client k is borrowed. */
static int read_kinds(struct stv_kube *k, uv_loop_t *loop, stv_json_item_cb cb, void *ctx,
                      stv_snapshot_note_fn note, void *note_ctx, struct stv_err *err) {
  const char *server = stv_kube_config_of(k)->server;
  char msg[STV_ERR_MSG_MAX];
  int rc;
  for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
    struct live l = {.cb = cb, .ctx = ctx};
    struct stv_kube_error ke = {0};
    rc = stv_kube_list_sync(k, loop, kinds[i].path, 500, live_item, &l, &ke, err);
    if (rc == 0) continue;
    if (ke.status == 404 && l.index == 0) {
      snprintf(msg, sizeof(msg), "the API server at %s does not serve %s (404): read without them", server,
               kinds[i].resource);
      if (note != NULL && note(note_ctx, msg) != 0) return stv_err_set(err, STV_ENOMEM, "out of memory");
      continue;
    }
    if (ke.status == 403)
      return stv_err_prefix(err, "cannot list %s (RBAC: grant the verb \"list\" on \"%s\")",
                            kinds[i].resource, kinds[i].resource);
    return stv_err_prefix(err, "reading %s from %s", kinds[i].resource, server);
  }
  return 0;
}

int stv_kube_read_cluster(const char *kubeconfig, const char *context, stv_json_item_cb cb, void *ctx,
                          stv_snapshot_note_fn note, void *note_ctx, struct stv_err *err) {
  struct stv_kube_config *cfg = NULL;
  struct stv_kube *k = NULL;
  uv_loop_t loop;
  int rc;
  if ((rc = stv_kube_config_load(&cfg, kubeconfig, context, err)) != 0) return rc;
  if (uv_loop_init(&loop) != 0) {
    stv_kube_config_free(cfg);
    return stv_err_set(err, STV_ENOMEM, "cannot start an event loop");
  }
  if ((rc = stv_kube_new(&k, &loop, cfg, err)) == 0) rc = read_kinds(k, &loop, cb, ctx, note, note_ctx, err);
  stv_kube_free(k);
  while (uv_run(&loop, UV_RUN_DEFAULT) != 0) {
  }
  uv_loop_close(&loop);
  return rc;
}

int stv_kube_snapshot_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct stv_kube_snapshot_sink *s = ctx;
  (void)index;
  return stv_snapshot_add_item_stats(s->snap, item, s->stats, err);
}
