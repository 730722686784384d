/*
 * The catalogue of the cluster's region, for a controller started without
 * --catalog: one read of the cluster (the lists `recommend --kubeconfig`
 * makes), whose Nodes' region labels and providerIDs name the embedded
 * catalogue (stv_catalog_guess; docs/catalog.md, "Choosing the region").
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "pricing.h"

/* What the Nodes leave: each node's region label and providerID (copies, or NULL). */
struct node_regions {
  char **regions, **provider_ids;
  size_t n, cap_regions, cap_provider_ids;
};

static char *copy_string(const cJSON *v) {
  return cJSON_IsString(v) ? stv_strdup(v->valuestring) : NULL;
}

/* Keeps the region label and providerID of each Node the cluster's lists hand over. */
static int on_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct node_regions *nr = ctx;
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
  const cJSON *labels =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "metadata"), "labels");
  const cJSON *region = cJSON_GetObjectItemCaseSensitive(labels, STV_REGION_LABEL);
  const cJSON *pid =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "spec"), "providerID");
  (void)index;
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "Node") != 0) return 0;
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

int stv__daemon_region_catalog(const char *kubeconfig, const char *context, char *spec, size_t size,
                               char *note, size_t note_size, int *from_nodes, struct stv_err *err) {
  struct node_regions nr = {0};
  size_t i;
  int rc = stv_kube_read_cluster(kubeconfig, context, on_item, &nr, NULL, NULL, err);
  if (rc != 0)
    stv_err_prefix(err, "choosing the catalogue of the nodes' region (give --catalog to skip this)");
  *from_nodes = 0;
  if (rc == 0) {
    *from_nodes = stv_catalog_guess((const char *const *)nr.regions, (const char *const *)nr.provider_ids,
                                    nr.n, spec, size, note, note_size) == 0;
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
