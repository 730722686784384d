/*
 * The catalogue of the cluster's region, for a controller started without
 * --catalog: one list of the Nodes, whose region labels and providerIDs
 * name the embedded catalogue (stv_catalog_guess; docs/catalog.md,
 * "Choosing the region").
 */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "daemon.h"
#include "pricing.h"

/* What the list of Nodes leaves: each node's region label and providerID (copies, or NULL). */
struct node_regions {
  char **regions, **provider_ids;
  size_t n, cap_regions, cap_provider_ids;
};

static char *copy_string(const cJSON *v) { return cJSON_IsString(v) ? stv_strdup(v->valuestring) : NULL; }

static int on_node(void *ctx, const cJSON *item, struct stv_err *err) {
  struct node_regions *nr = ctx;
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "metadata"), "labels");
  const cJSON *region = cJSON_GetObjectItemCaseSensitive(labels, STV_REGION_LABEL);
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "spec"), "providerID");
  if (!cJSON_IsString(region)) region = cJSON_GetObjectItemCaseSensitive(labels, STV_OLD_REGION_LABEL);
  if (stv_grow((void **)&nr->regions, &nr->cap_regions, nr->n + 1, sizeof(*nr->regions)) != 0 ||
      stv_grow((void **)&nr->provider_ids, &nr->cap_provider_ids, nr->n + 1, sizeof(*nr->provider_ids)) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  nr->regions[nr->n] = copy_string(region);
  nr->provider_ids[nr->n] = copy_string(pid);
  nr->n++;
  if ((cJSON_IsString(region) && nr->regions[nr->n - 1] == NULL) ||
      (cJSON_IsString(pid) && nr->provider_ids[nr->n - 1] == NULL))
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  return 0;
}

int stv__daemon_region_catalog(const char *kubeconfig, const char *context, char *spec, size_t size, char *note,
                               size_t note_size, int *from_nodes, struct stv_err *err) {
  struct stv_kube_config *cfg = NULL;
  struct stv_kube *k = NULL;
  struct stv_kube_error ke = {0};
  struct node_regions nr = {0};
  uv_loop_t loop;
  size_t i;
  int rc;
  if ((rc = stv_kube_config_load(&cfg, kubeconfig, context, err)) != 0) return rc;
  if (uv_loop_init(&loop) != 0) {
    stv_kube_config_free(cfg);
    return stv_err_set(err, STV_ENOMEM, "cannot start an event loop");
  }
  if ((rc = stv_kube_new(&k, &loop, cfg, err)) == 0) { /* takes cfg */
    rc = stv_kube_list_sync(k, &loop, "/api/v1/nodes", 500, on_node, &nr, &ke, err);
    if (rc != 0)
      stv_err_prefix(err, "choosing the catalogue of the nodes' region (give --catalog to skip this): listing nodes");
  }
  stv_kube_free(k);
  while (uv_run(&loop, UV_RUN_DEFAULT) != 0) {
  }
  uv_loop_close(&loop);
  *from_nodes = 0;
  if (rc == 0) {
    *from_nodes = stv_catalog_guess((const char *const *)nr.regions, (const char *const *)nr.provider_ids, nr.n, spec,
                                    size, note, note_size) == 0;
    if (!*from_nodes) snprintf(spec, size, "%s", STV_CATALOG_DEFAULT);
  }
  for (i = 0; i < nr.n; i++) {
    stv_free(nr.regions[i]);
    stv_free(nr.provider_ids[i]);
  }
  stv_free(nr.regions);
  stv_free(nr.provider_ids);
  return rc;
}
