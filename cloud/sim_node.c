/*
 * The Node objects of sim instances (cloud/sim.h): what `stevedore
 * simulate` puts in its in-process cluster and what `stevedore controller
 * --provider sim` POSTs to /api/v1/nodes, as kwok registers fake nodes.
 * The labels are the template's, so that the node carries exactly what
 * the packer assumed when it chose the template.
 */
#include <stdio.h>
#include <string.h>

#include "sim.h"

int stv_sim_node_name(const char *pid, char *buf, size_t size) {
  const char *zone, *slash;
  size_t i, zlen;
  int n;
  if (pid == NULL || strncmp(pid, "sim:///", 7) != 0) return STV_EINVAL;
  zone = pid + 7;
  slash = strchr(zone, '/');
  if (slash == NULL || slash == zone || slash[1] == '\0') return STV_EINVAL;
  zlen = (size_t)(slash - zone);
  for (i = 0; slash[1 + i] != '\0'; i++)
    if (slash[1 + i] < '0' || slash[1 + i] > '9') return STV_EINVAL;
  n = snprintf(buf, size, "sim-%.*s-%s", (int)zlen, zone, slash + 1);
  if (n < 0 || (size_t)n >= size || n > 253) return STV_EINVAL;
  /* A DNS subdomain: lower-case letters, digits, '-' and '.'. */
  for (i = 0; buf[i] != '\0'; i++) {
    char ch = buf[i];
    if (ch >= 'A' && ch <= 'Z')
      buf[i] = (char)(ch - 'A' + 'a');
    else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
      buf[i] = '-';
  }
  return 0;
}

const struct stv_template *stv_sim_find_template(const struct stv_template *tv, size_t n,
                                                 const struct stv_cloud_instance *inst, const char *pool) {
  size_t i;
  for (i = 0; i < n; i++) {
    const struct stv_template *t = &tv[i];
    if (t->capacity_type != inst->capacity_type || strcmp(t->instance_type, inst->instance_type) != 0 ||
        strcmp(t->zone, inst->zone) != 0)
      continue;
    if ((t->pool == NULL) != (pool == NULL)) continue;
    if (pool != NULL && strcmp(t->pool, pool) != 0) continue;
    return t;
  }
  return NULL;
}

/* Adds res[0..n) as a resource list {"cpu": "2", "memory": "8Gi", ...}. */
static cJSON *resource_list(const struct stv_resource *res, uint32_t n) {
  cJSON *o = cJSON_CreateObject();
  uint32_t i;
  char q[64];
  if (o == NULL) return NULL;
  for (i = 0; i < n; i++) {
    int cpu = strcmp(res[i].name, "cpu") == 0;
    int bytes = strcmp(res[i].name, "memory") == 0 || strcmp(res[i].name, "ephemeral-storage") == 0 ||
                strncmp(res[i].name, "hugepages-", 10) == 0;
    stv_quantity_format(res[i].value, cpu, bytes, q, sizeof(q));
    if (cJSON_AddStringToObject(o, res[i].name, q) == NULL) {
      cJSON_Delete(o);
      return NULL;
    }
  }
  return o;
}

static cJSON *labels_of(const struct stv_template *tm, const char *name) {
  cJSON *o = cJSON_CreateObject();
  uint32_t i;
  if (o == NULL) return NULL;
  for (i = 0; i < tm->labels.n; i++)
    if (cJSON_AddStringToObject(o, tm->labels.kv[i].key, tm->labels.kv[i].value) == NULL) goto fail;
  if (cJSON_AddStringToObject(o, "kubernetes.io/hostname", name) == NULL) goto fail;
  return o;
fail:
  cJSON_Delete(o);
  return NULL;
}

static cJSON *taints_of(const struct stv_template *tm) {
  cJSON *a = cJSON_CreateArray();
  uint32_t i;
  if (a == NULL) return NULL;
  for (i = 0; i < tm->ntaints; i++) {
    cJSON *t = cJSON_CreateObject();
    if (t == NULL || !cJSON_AddItemToArray(a, t)) {
      cJSON_Delete(t);
      goto fail;
    }
    if (cJSON_AddStringToObject(t, "key", tm->taints[i].key) == NULL) goto fail;
    if (tm->taints[i].value[0] != '\0' && cJSON_AddStringToObject(t, "value", tm->taints[i].value) == NULL)
      goto fail;
    if (cJSON_AddStringToObject(t, "effect", stv_effect_name(tm->taints[i].effect)) == NULL) goto fail;
  }
  return a;
fail:
  cJSON_Delete(a);
  return NULL;
}

static cJSON *status_of(const struct stv_instance_type *type, double unix_time) {
  cJSON *st = cJSON_CreateObject(), *conds, *ready, *info;
  char ts[40];
  if (st == NULL || stv_format_time(unix_time, 0, ts, sizeof(ts))[0] == '\0') goto fail;
  if (!cJSON_AddItemToObject(st, "capacity", resource_list(type->capacity, type->nres))) goto fail;
  if (!cJSON_AddItemToObject(st, "allocatable", resource_list(type->allocatable, type->nres))) goto fail;
  conds = cJSON_AddArrayToObject(st, "conditions");
  ready = cJSON_CreateObject();
  if (conds == NULL || ready == NULL || !cJSON_AddItemToArray(conds, ready)) {
    cJSON_Delete(ready);
    goto fail;
  }
  if (cJSON_AddStringToObject(ready, "type", "Ready") == NULL ||
      cJSON_AddStringToObject(ready, "status", "True") == NULL ||
      cJSON_AddStringToObject(ready, "reason", "KubeletReady") == NULL ||
      cJSON_AddStringToObject(ready, "message", "sim instance is running") == NULL ||
      cJSON_AddStringToObject(ready, "lastHeartbeatTime", ts) == NULL ||
      cJSON_AddStringToObject(ready, "lastTransitionTime", ts) == NULL)
    goto fail;
  info = cJSON_AddObjectToObject(st, "nodeInfo");
  if (info == NULL || cJSON_AddStringToObject(info, "architecture", type->arch) == NULL ||
      cJSON_AddStringToObject(info, "operatingSystem", "linux") == NULL ||
      cJSON_AddStringToObject(info, "kubeletVersion", "v1.29.0-sim") == NULL)
    goto fail;
  return st;
fail:
  cJSON_Delete(st);
  return NULL;
}

cJSON *stv_sim_node_json(const struct stv_cloud_instance *inst, const struct stv_instance_type *type,
                         const struct stv_template *tm, double unix_time, struct stv_err *err) {
  char name[256];
  cJSON *node = NULL, *meta, *spec;
  if (inst->provider_id == NULL || stv_sim_node_name(inst->provider_id, name, sizeof(name)) != 0) {
    stv_err_set(err, STV_EINVAL, "sim node: \"%s\" is not a sim provider id (sim:///ZONE/NUMBER)",
                inst->provider_id == NULL ? "(none)" : inst->provider_id);
    return NULL;
  }
  node = cJSON_CreateObject();
  if (node == NULL || cJSON_AddStringToObject(node, "apiVersion", "v1") == NULL ||
      cJSON_AddStringToObject(node, "kind", "Node") == NULL)
    goto oom;
  meta = cJSON_AddObjectToObject(node, "metadata");
  if (meta == NULL || cJSON_AddStringToObject(meta, "name", name) == NULL ||
      !cJSON_AddItemToObject(meta, "labels", labels_of(tm, name)))
    goto oom;
  spec = cJSON_AddObjectToObject(node, "spec");
  if (spec == NULL || cJSON_AddStringToObject(spec, "providerID", inst->provider_id) == NULL) goto oom;
  if (tm->ntaints > 0 && !cJSON_AddItemToObject(spec, "taints", taints_of(tm))) goto oom;
  if (!cJSON_AddItemToObject(node, "status", status_of(type, unix_time))) goto oom;
  return node;
oom:
  cJSON_Delete(node);
  stv_err_set(err, STV_ENOMEM, "sim node %s: out of memory", name);
  return NULL;
}
