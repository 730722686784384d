/*
 * The Lease store of leader election over the Kubernetes client
 * (kubeloop.h): coordination.k8s.io/v1 Leases read, created and replaced
 * with their resourceVersion.
 */
#include "kubeloop.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LEASES "/apis/coordination.k8s.io/v1/namespaces/"

/* RFC 1123 names: lower-case letters, digits, '-' and '.', at most max long. */
static int dns_name(const char *s, size_t max) {
  size_t i, n = strlen(s);
  if (n == 0 || n > max) return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return 0;
  }
  return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

int stv_kube_lease_store_init(struct stv_kube_lease_store *s, struct stv_kube *kube, const char *ns,
                              const char *name, struct stv_err *err) {
  memset(s, 0, sizeof(*s));
  if (!dns_name(ns, 63) || strchr(ns, '.'))
    return stv_err_set(err, STV_EINVAL, "leader election: namespace \"%s\" is not a valid namespace name", ns);
  if (!dns_name(name, 253))
    return stv_err_set(err, STV_EINVAL,
                       "leader election: lease name \"%s\" is not a valid name (lower-case letters, digits, '-', "
                       "'.')",
                       name);
  s->kube = kube;
  snprintf(s->ns, sizeof(s->ns), "%s", ns);
  snprintf(s->name, sizeof(s->name), "%s", name);
  snprintf(s->coll, sizeof(s->coll), LEASES "%s/leases", ns);
  snprintf(s->path, sizeof(s->path), LEASES "%s/leases/%s", ns, name);
  return 0;
}

static int read_time(const cJSON *spec, const char *key, double *out, struct stv_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
  int64_t secs;
  int32_t nanos;
  struct stv_err e = {0};
  *out = 0;
  if (v == NULL || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsString(v))
    return stv_err_set(err, STV_EPARSE, "Lease: spec.%s: expected an RFC 3339 time string", key);
  if (stv_parse_time(v->valuestring, &secs, &nanos, &e) != 0)
    return stv_err_set(err, STV_EPARSE, "Lease: spec.%s: %s", key, e.msg);
  *out = (double)secs + nanos / 1e9;
  return 0;
}

static int read_int(const cJSON *spec, const char *key, int32_t *out, struct stv_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
  *out = 0;
  if (v == NULL || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
      v->valuedouble > INT32_MAX)
    return stv_err_set(err, STV_EPARSE, "Lease: spec.%s: expected a whole number from 0 to %d", key, INT32_MAX);
  *out = (int32_t)v->valuedouble;
  return 0;
}

int stv_kube_lease_from_json(const cJSON *obj, struct stv_lease *out, struct stv_err *err) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
  const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
  const cJSON *holder = cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity");
  int rc;
  memset(out, 0, sizeof(*out));
  if (!cJSON_IsObject(obj) || !cJSON_IsObject(meta))
    return stv_err_set(err, STV_EPARSE, "Lease: not an object with metadata");
  if (!cJSON_IsString(rv) || rv->valuestring[0] == '\0' || strlen(rv->valuestring) >= sizeof(out->resource_version))
    return stv_err_set(err, STV_EPARSE, "Lease: metadata.resourceVersion: missing or longer than %zu bytes",
                       sizeof(out->resource_version) - 1);
  snprintf(out->resource_version, sizeof(out->resource_version), "%s", rv->valuestring);
  if (spec == NULL || cJSON_IsNull(spec)) return 0;
  if (!cJSON_IsObject(spec)) return stv_err_set(err, STV_EPARSE, "Lease: spec: not an object");
  if (holder != NULL && !cJSON_IsNull(holder)) {
    if (!cJSON_IsString(holder) || strlen(holder->valuestring) > STV_LEASE_HOLDER_MAX)
      return stv_err_set(err, STV_EPARSE, "Lease: spec.holderIdentity: expected a string of at most %d bytes",
                         STV_LEASE_HOLDER_MAX);
    snprintf(out->holder, sizeof(out->holder), "%s", holder->valuestring);
  }
  if ((rc = read_int(spec, "leaseDurationSeconds", &out->duration_s, err)) != 0) return rc;
  if ((rc = read_int(spec, "leaseTransitions", &out->transitions, err)) != 0) return rc;
  if ((rc = read_time(spec, "acquireTime", &out->acquire_time, err)) != 0) return rc;
  return read_time(spec, "renewTime", &out->renew_time, err);
}

cJSON *stv_kube_lease_to_json(const struct stv_lease *l, const char *ns, const char *name) {
  cJSON *o = cJSON_CreateObject(), *meta, *spec;
  char t[40];
  if (o == NULL) return NULL;
  if (!cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1") ||
      !cJSON_AddStringToObject(o, "kind", "Lease") || (meta = cJSON_AddObjectToObject(o, "metadata")) == NULL ||
      !cJSON_AddStringToObject(meta, "name", name) || !cJSON_AddStringToObject(meta, "namespace", ns) ||
      (l->resource_version[0] && !cJSON_AddStringToObject(meta, "resourceVersion", l->resource_version)) ||
      (spec = cJSON_AddObjectToObject(o, "spec")) == NULL ||
      (l->holder[0] && !cJSON_AddStringToObject(spec, "holderIdentity", l->holder)) ||
      !cJSON_AddNumberToObject(spec, "leaseDurationSeconds", l->duration_s) ||
      !cJSON_AddNumberToObject(spec, "leaseTransitions", l->transitions) ||
      (l->acquire_time > 0 &&
       !cJSON_AddStringToObject(spec, "acquireTime", stv_format_time(l->acquire_time, 6, t, sizeof(t)))) ||
      (l->renew_time > 0 &&
       !cJSON_AddStringToObject(spec, "renewTime", stv_format_time(l->renew_time, 6, t, sizeof(t))))) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

struct op {
  stv_lease_cb cb;
  void *ctx;
};

static void on_answer(void *p, int rc, cJSON *body, const struct stv_kube_error *ke, const struct stv_err *err) {
  struct op *o = p;
  struct stv_lease l;
  struct stv_err perr = {0};
  const char *msg = "";
  (void)ke;
  if (rc != 0) {
    msg = err && err->msg[0] ? err->msg : stv_strerror(rc);
  } else if (body == NULL) {
    rc = STV_EPARSE;
    msg = "Lease: the API server answered with an empty body";
  } else if ((rc = stv_kube_lease_from_json(body, &l, &perr)) != 0) {
    msg = perr.msg;
  }
  o->cb(o->ctx, rc, rc == 0 ? &l : NULL, msg);
  stv_free(o);
}

static struct op *new_op(stv_lease_cb cb, void *ctx) {
  struct op *o = stv_malloc(sizeof(*o));
  if (o) {
    o->cb = cb;
    o->ctx = ctx;
  }
  return o;
}

static int ls_get(void *store, stv_lease_cb cb, void *ctx) {
  struct stv_kube_lease_store *s = store;
  struct op *o = new_op(cb, ctx);
  struct stv_err err = {0};
  int rc;
  if (!o) return STV_ENOMEM;
  if ((rc = stv_kube_get(s->kube, s->path, on_answer, o, &err)) != 0) stv_free(o);
  return rc;
}

static int ls_write(struct stv_kube_lease_store *s, const struct stv_lease *l, int create, stv_lease_cb cb,
                    void *ctx) {
  struct op *o = new_op(cb, ctx);
  struct stv_err err = {0};
  struct stv_lease copy = *l;
  cJSON *obj;
  int rc;
  if (!o) return STV_ENOMEM;
  if (create) copy.resource_version[0] = '\0';
  obj = stv_kube_lease_to_json(&copy, s->ns, s->name);
  if (!obj) {
    stv_free(o);
    return STV_ENOMEM;
  }
  rc = create ? stv_kube_create(s->kube, s->coll, obj, on_answer, o, &err)
              : stv_kube_update(s->kube, s->path, obj, on_answer, o, &err);
  cJSON_Delete(obj);
  if (rc != 0) stv_free(o);
  return rc;
}

static int ls_create(void *store, const struct stv_lease *l, stv_lease_cb cb, void *ctx) {
  return ls_write(store, l, 1, cb, ctx);
}

static int ls_update(void *store, const struct stv_lease *l, stv_lease_cb cb, void *ctx) {
  return ls_write(store, l, 0, cb, ctx);
}

const struct stv_lease_store_ops stv_kube_lease_store_ops = {
    .get = ls_get,
    .create = ls_create,
    .update = ls_update,
};
