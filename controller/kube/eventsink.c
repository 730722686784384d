/*
 * The Event recorder's sink over the Kubernetes client (kubeloop.h): core
 * v1 Events, created with POST and counted up with a merge PATCH.
 */
#include "kubeloop.h"

#include <stdio.h>
#include <string.h>

void stv_kube_event_sink_init(struct stv_kube_event_sink *s, struct stv_kube *kube, const char *component,
                              const char *instance) {
  memset(s, 0, sizeof(*s));
  s->kube = kube;
  snprintf(s->component, sizeof(s->component), "%s", component ? component : "stevedore");
  snprintf(s->instance, sizeof(s->instance), "%s", instance ? instance : "");
}

static const char *event_ns(const struct stv_event *ev) {
  return ev->obj.namespace && ev->obj.namespace[0] ? ev->obj.namespace : "default";
}

cJSON *stv_kube_event_to_json(const struct stv_event *ev, const char *component, const char *instance) {
  cJSON *o = cJSON_CreateObject(), *meta, *inv, *src;
  char now[40];
  stv_format_time(stv_wall_time(), 0, now, sizeof(now));
  if (o == NULL) return NULL;
  if (!cJSON_AddStringToObject(o, "apiVersion", "v1") || !cJSON_AddStringToObject(o, "kind", "Event") ||
      (meta = cJSON_AddObjectToObject(o, "metadata")) == NULL || !cJSON_AddStringToObject(meta, "name", ev->name) ||
      !cJSON_AddStringToObject(meta, "namespace", event_ns(ev)) ||
      (inv = cJSON_AddObjectToObject(o, "involvedObject")) == NULL ||
      !cJSON_AddStringToObject(inv, "kind", ev->obj.kind) ||
      !cJSON_AddStringToObject(inv, "apiVersion", ev->obj.api_version && ev->obj.api_version[0] ? ev->obj.api_version : "v1") ||
      (ev->obj.namespace && ev->obj.namespace[0] && !cJSON_AddStringToObject(inv, "namespace", ev->obj.namespace)) ||
      !cJSON_AddStringToObject(inv, "name", ev->obj.name) ||
      (ev->obj.uid && ev->obj.uid[0] && !cJSON_AddStringToObject(inv, "uid", ev->obj.uid)) ||
      !cJSON_AddStringToObject(o, "type", ev->type) || !cJSON_AddStringToObject(o, "reason", ev->reason) ||
      !cJSON_AddStringToObject(o, "message", ev->message) || !cJSON_AddNumberToObject(o, "count", ev->count) ||
      !cJSON_AddStringToObject(o, "firstTimestamp", now) || !cJSON_AddStringToObject(o, "lastTimestamp", now) ||
      (src = cJSON_AddObjectToObject(o, "source")) == NULL ||
      !cJSON_AddStringToObject(src, "component", component) ||
      !cJSON_AddStringToObject(o, "reportingComponent", component) ||
      !cJSON_AddStringToObject(o, "reportingInstance", instance)) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static void on_answer(void *p, int rc, cJSON *body, const struct stv_kube_error *ke, const struct stv_err *err) {
  struct stv_kube_event_sink *s = p;
  (void)body;
  (void)ke;
  s->in_flight--;
  if (rc == 0) {
    s->sent++;
    return;
  }
  s->failed++;
  snprintf(s->last_error, sizeof(s->last_error), "%s", err && err->msg[0] ? err->msg : stv_strerror(rc));
}

static void fail_now(struct stv_kube_event_sink *s, int rc, const struct stv_err *err) {
  s->in_flight--;
  s->failed++;
  snprintf(s->last_error, sizeof(s->last_error), "%s", err->msg[0] ? err->msg : stv_strerror(rc));
}

static void es_create(void *sink, const struct stv_event *ev) {
  struct stv_kube_event_sink *s = sink;
  struct stv_err err = {0};
  char path[400];
  cJSON *obj = stv_kube_event_to_json(ev, s->component, s->instance);
  int rc;
  s->in_flight++;
  if (obj == NULL) {
    stv_err_set(&err, STV_ENOMEM, "Event %s: out of memory", ev->name);
    fail_now(s, STV_ENOMEM, &err);
    return;
  }
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", event_ns(ev));
  rc = stv_kube_create(s->kube, path, obj, on_answer, s, &err);
  cJSON_Delete(obj);
  if (rc != 0) fail_now(s, rc, &err);
}

static void es_update(void *sink, const struct stv_event *ev) {
  struct stv_kube_event_sink *s = sink;
  struct stv_err err = {0};
  char path[600], now[40];
  cJSON *patch = cJSON_CreateObject();
  int rc;
  s->in_flight++;
  stv_format_time(stv_wall_time(), 0, now, sizeof(now));
  if (patch == NULL || !cJSON_AddNumberToObject(patch, "count", ev->count) ||
      !cJSON_AddStringToObject(patch, "lastTimestamp", now)) {
    cJSON_Delete(patch);
    stv_err_set(&err, STV_ENOMEM, "Event %s: out of memory", ev->name);
    fail_now(s, STV_ENOMEM, &err);
    return;
  }
  snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events/%s", event_ns(ev), ev->name);
  rc = stv_kube_patch(s->kube, path, STV_KUBE_MERGE_PATCH, patch, on_answer, s, &err);
  cJSON_Delete(patch);
  if (rc != 0) fail_now(s, rc, &err);
}

const struct stv_event_sink_ops stv_kube_event_sink_ops = {
    .create = es_create,
    .update = es_update,
};
