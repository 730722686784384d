/*
 * The drainer's Kubernetes writes (struct stv_disrupt_kube_ops,
 * loop/disrupt.h) over the API client:
 *
 * - taint: GET the Node, add or remove stevedore.io/disrupted:NoSchedule in
 *   spec.taints (the other taints kept as they are), PUT it back with the
 *   resourceVersion read, so that a write by someone else in between is a
 *   409 and not lost; a 409 reads again and retries (up to CONFLICT_TRIES).
 *   A node that already has (or lacks) the taint is not written.
 * - evict: POST a policy/v1 Eviction to pods/NAME/eviction (429 when a
 *   PodDisruptionBudget allows no disruption).
 * - delete_node: DELETE the Node.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "disrupt.h"

#define CONFLICT_TRIES 5

struct treq {
  struct stv_kube *k;
  char node[254];
  char path[300];
  int add, tries;
  stv_disrupt_done_cb cb;
  void *ctx;
};

struct req {
  stv_disrupt_done_cb cb;
  void *ctx;
};

static void answer(stv_disrupt_done_cb cb, void *ctx, int rc, const struct stv_kube_error *ke,
                   const struct stv_err *err) {
  struct stv_disrupt_result r;
  r.code = rc;
  r.message = rc == 0 ? "" : err != NULL && err->msg[0] ? err->msg : stv_strerror(rc);
  r.retry_after = ke != NULL ? ke->retry_after : 0;
  cb(ctx, &r);
}

/* ---- taint ----------------------------------------------------------- */

static int taint_get(struct treq *t, struct stv_err *err);

static void taint_done(struct treq *t, int rc, const struct stv_kube_error *ke, const struct stv_err *err) {
  answer(t->cb, t->ctx, rc, ke, err);
  stv_free(t);
}

static void on_put(void *ctx, int rc, cJSON *body, const struct stv_kube_error *ke,
                   const struct stv_err *err) {
  struct treq *t = ctx;
  struct stv_err e = {0, ""};
  (void)body;
  if (rc == STV_ECONFLICT && ++t->tries < CONFLICT_TRIES) {
    if ((rc = taint_get(t, &e)) == 0) return;
    err = &e;
    ke = NULL;
  }
  taint_done(t, rc, ke, err);
}

/* Is taints[i] ours? */
static int ours(const cJSON *taint) {
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(taint, "key");
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(taint, "effect");
  return cJSON_IsString(k) && strcmp(k->valuestring, STV_DISRUPT_TAINT_KEY) == 0 && cJSON_IsString(e) &&
         strcmp(e->valuestring, "NoSchedule") == 0;
}

/* Adds or removes the taint in node (a Node object read); *changed 0 when it was already so. */
static int edit_taints(cJSON *node, int add, int *changed) {
  cJSON *spec = cJSON_GetObjectItemCaseSensitive(node, "spec"), *taints, *t;
  int i, n;
  *changed = 0;
  if (!cJSON_IsObject(spec)) {
    if ((spec = cJSON_AddObjectToObject(node, "spec")) == NULL) return STV_ENOMEM;
  }
  taints = cJSON_GetObjectItemCaseSensitive(spec, "taints");
  if (taints != NULL && !cJSON_IsArray(taints)) return STV_EPARSE;
  n = cJSON_GetArraySize(taints);
  for (i = 0; i < n; i++)
    if (ours(cJSON_GetArrayItem(taints, i))) break;
  if (add && i < n) return 0;
  if (!add && i == n) return 0;
  *changed = 1;
  if (!add) {
    cJSON_DeleteItemFromArray(taints, i);
    return 0;
  }
  if (taints == NULL && (taints = cJSON_AddArrayToObject(spec, "taints")) == NULL) return STV_ENOMEM;
  if ((t = cJSON_CreateObject()) == NULL) return STV_ENOMEM;
  if (!cJSON_AddStringToObject(t, "key", STV_DISRUPT_TAINT_KEY) ||
      !cJSON_AddStringToObject(t, "effect", "NoSchedule") || !cJSON_AddItemToArray(taints, t)) {
    cJSON_Delete(t);
    return STV_ENOMEM;
  }
  return 0;
}

static void on_get(void *ctx, int rc, cJSON *body, const struct stv_kube_error *ke,
                   const struct stv_err *err) {
  struct treq *t = ctx;
  struct stv_err e = {0, ""};
  int changed = 0;
  if (rc != 0) {
    taint_done(t, rc, ke, err);
    return;
  }
  if ((rc = edit_taints(body, t->add, &changed)) != 0) {
    stv_err_set(&e, rc, "Node %s: %s", t->node,
                rc == STV_EPARSE ? "spec.taints is not an array" : "out of memory");
    taint_done(t, rc, NULL, &e);
    return;
  }
  if (!changed) {
    taint_done(t, 0, NULL, NULL);
    return;
  }
  if ((rc = stv_kube_update(t->k, t->path, body, on_put, t, &e)) != 0) taint_done(t, rc, NULL, &e);
}

static int taint_get(struct treq *t, struct stv_err *err) {
  return stv_kube_get(t->k, t->path, on_get, t, err);
}

static int dk_taint(void *impl, const char *node, int add, stv_disrupt_done_cb cb, void *ctx) {
  struct treq *t = stv_calloc(1, sizeof(*t));
  struct stv_err e = {0, ""};
  int rc;
  if (t == NULL) return STV_ENOMEM;
  t->k = impl;
  t->add = add;
  t->cb = cb;
  t->ctx = ctx;
  snprintf(t->node, sizeof(t->node), "%s", node);
  snprintf(t->path, sizeof(t->path), "/api/v1/nodes/%s", node);
  if ((rc = taint_get(t, &e)) != 0) stv_free(t);
  return rc;
}

/* ---- eviction and deletion -------------------------------------------- */

static void on_answer(void *ctx, int rc, cJSON *body, const struct stv_kube_error *ke,
                      const struct stv_err *err) {
  struct req *r = ctx;
  (void)body;
  answer(r->cb, r->ctx, rc, ke, err);
  stv_free(r);
}

static struct req *req_new(stv_disrupt_done_cb cb, void *ctx) {
  struct req *r = stv_calloc(1, sizeof(*r));
  if (r == NULL) return NULL;
  r->cb = cb;
  r->ctx = ctx;
  return r;
}

static int dk_evict(void *impl, const char *ns, const char *name, stv_disrupt_done_cb cb, void *ctx) {
  struct req *r = req_new(cb, ctx);
  struct stv_err e = {0, ""};
  cJSON *ev = cJSON_CreateObject(), *meta;
  char path[600];
  int rc = STV_ENOMEM;
  if (r == NULL || ev == NULL || !cJSON_AddStringToObject(ev, "apiVersion", "policy/v1") ||
      !cJSON_AddStringToObject(ev, "kind", "Eviction") ||
      (meta = cJSON_AddObjectToObject(ev, "metadata")) == NULL ||
      !cJSON_AddStringToObject(meta, "name", name) || !cJSON_AddStringToObject(meta, "namespace", ns))
    goto out;
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/eviction", ns, name);
  rc = stv_kube_create(impl, path, ev, on_answer, r, &e);
out:
  cJSON_Delete(ev);
  if (rc != 0) stv_free(r);
  return rc;
}

static int dk_delete_node(void *impl, const char *node, stv_disrupt_done_cb cb, void *ctx) {
  struct req *r = req_new(cb, ctx);
  struct stv_err e = {0, ""};
  char path[300];
  int rc;
  if (r == NULL) return STV_ENOMEM;
  snprintf(path, sizeof(path), "/api/v1/nodes/%s", node);
  if ((rc = stv_kube_delete(impl, path, on_answer, r, &e)) != 0) stv_free(r);
  return rc;
}

const struct stv_disrupt_kube_ops stv__drainkube_ops = {
    .taint = dk_taint,
    .evict = dk_evict,
    .delete_node = dk_delete_node,
};
