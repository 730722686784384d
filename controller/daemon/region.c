/*
 * The catalogue of the cluster's region, for a controller started without
 * --catalog: one read of the cluster (the lists `recommend --kubeconfig`
 * makes), whose Nodes' region labels and providerIDs name the embedded
 * catalogue (stv_catalog_guess; docs/catalog.md, "Choosing the region").
 * A cluster without nodes leaves it to the provider: the region its
 * configuration names, else the zone of its groups.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

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

/* ---------------------------------------------------------------------- */
/* The provider's own region, when the cluster has no nodes to say it     */

/* The region of a zone as the provider names zones: "us-east1-b" (gcp), "us-east-1a" (aws), "eastus-1" (azure). */
static int zone_region(enum stv_daemon_provider p, const char *zone, char *out, size_t size) {
  size_t n = strlen(zone);
  if (p == STV_PROVIDER_AWS) {
    while (n > 0 && zone[n - 1] >= 'a' && zone[n - 1] <= 'z') n--;
  } else {
    const char *dash = strrchr(zone, '-');
    if (dash != NULL && (p == STV_PROVIDER_GCP || (dash[1] >= '0' && dash[1] <= '9'))) n = (size_t)(dash - zone);
  }
  if (n == 0 || n >= size) return 0;
  memcpy(out, zone, n);
  out[n] = '\0';
  return 1;
}

static const char *const provider_names[] = {"sim", "aws", "gcp", "azure"};

int stv__daemon_configured_region(enum stv_daemon_provider p, const struct stv_config *cfg, char *spec, size_t size,
                                  char *note, size_t note_size) {
  const char *region = NULL, *from = NULL, *zone;
  char buf[64];
  if (p == STV_PROVIDER_AWS) {
    if ((region = getenv("AWS_REGION")) != NULL && region[0] != '\0')
      from = "AWS_REGION";
    else if ((region = getenv("AWS_DEFAULT_REGION")) != NULL && region[0] != '\0')
      from = "AWS_DEFAULT_REGION";
  } else if (p == STV_PROVIDER_GCP) {
    if ((region = cfg->gcp.region) != NULL)
      from = "gcp.region";
    else if ((region = getenv("CLOUDSDK_COMPUTE_REGION")) != NULL && region[0] != '\0')
      from = "CLOUDSDK_COMPUTE_REGION";
    else if ((zone = getenv("CLOUDSDK_COMPUTE_ZONE")) != NULL && zone_region(p, zone, buf, sizeof(buf))) {
      region = buf;
      from = "CLOUDSDK_COMPUTE_ZONE";
    }
  }
  if (from == NULL) return 0;
  snprintf(spec, size, "%s:%s", provider_names[p], region);
  snprintf(note, note_size, "no node names a region; %s says %s", from, region);
  return 1;
}

struct groups_wait {
  int done, code;
  char msg[200];
  char region[64], zone[64];
  enum stv_daemon_provider p;
};

static void on_groups(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_group *groups, size_t n) {
  struct groups_wait *w = ctx;
  size_t i;
  w->done = 1;
  w->code = r->code;
  snprintf(w->msg, sizeof(w->msg), "%s", r->message);
  for (i = 0; i < n && w->region[0] == '\0'; i++)
    if (groups[i].noffer > 0 && groups[i].offerings[0].zone != NULL &&
        zone_region(w->p, groups[i].offerings[0].zone, w->region, sizeof(w->region)))
      snprintf(w->zone, sizeof(w->zone), "%s", groups[i].offerings[0].zone);
}

int stv__daemon_groups_region(struct stv_cloud *c, enum stv_daemon_provider p, uv_loop_t *loop, char *spec,
                              size_t size, char *note, size_t note_size) {
  struct groups_wait w;
  memset(&w, 0, sizeof(w));
  w.p = p;
  if (c->ops->list_groups(c, on_groups, &w) != 0) {
    snprintf(note, note_size, "no node names a region, and the %s groups cannot be listed", provider_names[p]);
    return 0;
  }
  while (!w.done)
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !w.done) break; /* nothing left to wait for */
  if (!w.done || w.code != 0) {
    snprintf(note, note_size, "no node names a region, and listing the %s groups failed: %.200s",
             provider_names[p], w.done ? w.msg : "the call never answered");
    return 0;
  }
  if (w.region[0] == '\0') {
    snprintf(note, note_size, "no node names a region, and no %s group has a zone", provider_names[p]);
    return 0;
  }
  snprintf(spec, size, "%s:%s", provider_names[p], w.region);
  snprintf(note, note_size, "no node names a region; the %s groups are in zone %s", provider_names[p], w.zone);
  return 1;
}
