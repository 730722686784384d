/*
 * Readers of the Compute Engine API's documents and of the OAuth answers
 * (gcp_internal.h). Pure: a body in, structs out, every wrong type or
 * missing field an error naming where it is. Bodies arrive capped by the
 * HTTP layer; cJSON parses them (it has its own nesting limit).
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcp_internal.h"

/* Parses body[0..len) into *out (a fresh cJSON tree) or says why not. */
static int parse(const char *body, size_t len, const char *what, cJSON **out, struct stv_err *err) {
  const char *nul = memchr(body, '\0', len);
  *out = NULL;
  if (nul != NULL) /* JSON has no raw NUL; cJSON would cut a string there */
    return stv_err_set(err, STV_EPARSE, "%s: a NUL byte at byte %zu", what, (size_t)(nul - body));
  *out = cJSON_ParseWithLength(body, len);
  if (*out == NULL) {
    const char *at = cJSON_GetErrorPtr();
    size_t off = at != NULL && at >= body && at <= body + len ? (size_t)(at - body) : 0;
    return stv_err_set(err, STV_EPARSE, "%s: not JSON (at byte %zu of %zu)", what, off, len);
  }
  if (!cJSON_IsObject(*out)) {
    cJSON_Delete(*out);
    *out = NULL;
    return stv_err_set(err, STV_EPARSE, "%s: not a JSON object", what);
  }
  return 0;
}

/* The string member key of o: NULL when absent; STV_EPARSE when not a string. */
static int get_str(const cJSON *o, const char *key, const char *where, const char **out,
                   struct stv_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  *out = NULL;
  if (v == NULL || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsString(v)) return stv_err_set(err, STV_EPARSE, "%s.%s: not a string", where, key);
  *out = v->valuestring;
  return 0;
}

static int need_str(const cJSON *o, const char *key, const char *where, const char **out,
                    struct stv_err *err) {
  int rc = get_str(o, key, where, out, err);
  if (rc == 0 && *out == NULL) return stv_err_set(err, STV_EPARSE, "%s.%s: missing", where, key);
  return rc;
}

/* An int64 member: a JSON number or, as Google sends int64 fields, a decimal string. */
static int get_i64(const cJSON *o, const char *key, const char *where, int64_t *out, struct stv_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  double d;
  if (v == NULL) return stv_err_set(err, STV_EPARSE, "%s.%s: missing", where, key);
  if (cJSON_IsString(v)) {
    char *end;
    long long x = strtoll(v->valuestring, &end, 10);
    if (end == v->valuestring || *end != '\0' || x < 0)
      return stv_err_set(err, STV_EPARSE, "%s.%s: \"%.40s\" is not a count", where, key, v->valuestring);
    *out = x;
    return 0;
  }
  if (!cJSON_IsNumber(v)) return stv_err_set(err, STV_EPARSE, "%s.%s: not a number", where, key);
  d = v->valuedouble;
  if (!(d >= 0 && d <= 1e15) || floor(d) != d)
    return stv_err_set(err, STV_EPARSE, "%s.%s: %g is not a count", where, key, d);
  *out = (int64_t)d;
  return 0;
}

static int oom(struct stv_err *err) {
  return stv_err_set(err, STV_ENOMEM, "out of memory");
}

/* A new zeroed element at the end of the growing array *v (n used, cap allocated, of size bytes each), or NULL. */
static void *push(void *v, size_t *n, size_t *cap, size_t size) {
  void **vp = v;
  char *at;
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 8;
    void *nv = stv_realloc(*vp, c * size);
    if (nv == NULL) return NULL;
    *vp = nv;
    *cap = c;
  }
  at = (char *)*vp + (*n)++ * size;
  memset(at, 0, size);
  return at;
}

/* A Compute resource name (zone, instance): 1 to 63 of a-z, 0-9 and '-'. */
static int gce_name(const char *s, size_t n) {
  size_t i;
  if (n == 0 || n > 63) return 0;
  for (i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) return 0;
  return 1;
}

const char *stv__gcp_rel(const char *link) {
  const char *p;
  if (link == NULL) return NULL;
  if (strncmp(link, "projects/", 9) == 0) return link;
  p = strstr(link, "/projects/");
  return p != NULL ? p + 1 : NULL;
}

const char *stv__gcp_last(const char *link) {
  const char *p = strrchr(link, '/');
  return p != NULL ? p + 1 : link;
}

/* nextPageToken of doc into *next (NULL when none). */
static int next_page(const cJSON *doc, const char *what, char **next, struct stv_err *err) {
  const char *tok;
  int rc;
  *next = NULL;
  if ((rc = get_str(doc, "nextPageToken", what, &tok, err)) != 0) return rc;
  if (tok != NULL && tok[0] != '\0' && (*next = stv_strdup(tok)) == NULL) return oom(err);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Managed instance groups                                                */

void stv__gcp_migs_free(struct stv__gcp_migs *m) {
  size_t i, j;
  for (i = 0; i < m->n; i++) {
    struct stv__gcp_mig *g = &m->v[i];
    stv_free(g->name);
    stv_free(g->path);
    stv_free(g->tmpl);
    for (j = 0; j < g->nzones; j++) stv_free(g->zones[j]);
    stv_free(g->zones);
  }
  stv_free(m->v);
  memset(m, 0, sizeof(*m));
}

static int add_zone(struct stv__gcp_mig *g, const char *link, const char *where, struct stv_err *err) {
  const char *z = stv__gcp_last(link);
  char **nz;
  if (!gce_name(z, strlen(z)))
    return stv_err_set(err, STV_EPARSE, "%s: \"%.80s\" names no zone", where, link);
  if ((nz = stv_realloc(g->zones, (g->nzones + 1) * sizeof(*nz))) == NULL) return oom(err);
  g->zones = nz;
  if ((nz[g->nzones] = stv_strdup(z)) == NULL) return oom(err);
  g->nzones++;
  return 0;
}

/* The zones of a MIG: its zone, or its distributionPolicy's. */
static int mig_zones(const cJSON *o, const char *where, struct stv__gcp_mig *g, struct stv_err *err) {
  const char *zone;
  const cJSON *dp, *zones, *z;
  char at[300];
  int rc, i = 0;
  if ((rc = get_str(o, "zone", where, &zone, err)) != 0) return rc;
  if (zone != NULL) return add_zone(g, zone, where, err);
  dp = cJSON_GetObjectItemCaseSensitive(o, "distributionPolicy");
  zones = cJSON_IsObject(dp) ? cJSON_GetObjectItemCaseSensitive(dp, "zones") : NULL;
  if (!cJSON_IsArray(zones))
    return stv_err_set(err, STV_EPARSE, "%s: neither zone nor distributionPolicy.zones (an array)", where);
  cJSON_ArrayForEach(z, zones) {
    const char *link;
    snprintf(at, sizeof(at), "%s.distributionPolicy.zones[%d]", where, i++);
    if (!cJSON_IsObject(z)) return stv_err_set(err, STV_EPARSE, "%s: not an object", at);
    if ((rc = need_str(z, "zone", at, &link, err)) != 0 || (rc = add_zone(g, link, at, err)) != 0) return rc;
  }
  if (g->nzones == 0) return stv_err_set(err, STV_EPARSE, "%s.distributionPolicy.zones: empty", where);
  return 0;
}

static int read_mig(const cJSON *o, const char *where, const char *prefix, struct stv__gcp_migs *out,
                    struct stv_err *err) {
  const char *name, *self, *tmpl, *rel, *trel;
  struct stv__gcp_mig *g;
  int rc;
  if (!cJSON_IsObject(o)) return stv_err_set(err, STV_EPARSE, "%s: not an object", where);
  if ((rc = need_str(o, "name", where, &name, err)) != 0) return rc;
  if (prefix != NULL && strncmp(name, prefix, strlen(prefix)) != 0) return 0;
  if ((rc = need_str(o, "selfLink", where, &self, err)) != 0 ||
      (rc = need_str(o, "instanceTemplate", where, &tmpl, err)) != 0)
    return rc;
  if ((rel = stv__gcp_rel(self)) == NULL)
    return stv_err_set(err, STV_EPARSE, "%s.selfLink: \"%.120s\" has no projects/ path", where, self);
  if ((trel = stv__gcp_rel(tmpl)) == NULL)
    return stv_err_set(err, STV_EPARSE, "%s.instanceTemplate: \"%.120s\" has no projects/ path", where, tmpl);
  if ((g = push(&out->v, &out->n, &out->cap, sizeof(*g))) == NULL) return oom(err);
  if ((g->name = stv_strdup(name)) == NULL || (g->path = stv_strdup(rel)) == NULL ||
      (g->tmpl = stv_strdup(trel)) == NULL)
    return oom(err);
  if ((rc = get_i64(o, "targetSize", where, &g->target_size, err)) != 0) return rc;
  return mig_zones(o, where, g, err);
}

static int read_mig_array(const cJSON *arr, const char *where, const char *prefix, struct stv__gcp_migs *out,
                          struct stv_err *err) {
  const cJSON *o;
  char at[200];
  int i = 0, rc;
  if (!cJSON_IsArray(arr)) return stv_err_set(err, STV_EPARSE, "%s: not an array", where);
  cJSON_ArrayForEach(o, arr) {
    snprintf(at, sizeof(at), "%s[%d]", where, i++);
    if ((rc = read_mig(o, at, prefix, out, err)) != 0) return rc;
  }
  return 0;
}

int stv__gcp_read_migs(const char *body, size_t len, int aggregated, const char *prefix,
                       struct stv__gcp_migs *out, char **next, struct stv_err *err) {
  cJSON *doc;
  const cJSON *items, *scope;
  char at[200];
  int rc;
  *next = NULL;
  if ((rc = parse(body, len, "instanceGroupManagers list", &doc, err)) != 0) return rc;
  items = cJSON_GetObjectItemCaseSensitive(doc, "items");
  if (items == NULL) {
    rc = 0; /* an empty page has no items */
  } else if (!aggregated) {
    rc = read_mig_array(items, "items", prefix, out, err);
  } else if (!cJSON_IsObject(items)) {
    rc = stv_err_set(err, STV_EPARSE, "items: not an object (an aggregatedList maps scopes to lists)");
  } else {
    rc = 0;
    cJSON_ArrayForEach(scope, items) {
      const cJSON *list;
      if (!cJSON_IsObject(scope)) {
        rc = stv_err_set(err, STV_EPARSE, "items[\"%.60s\"]: not an object", scope->string);
        break;
      }
      list = cJSON_GetObjectItemCaseSensitive(scope, "instanceGroupManagers");
      if (list == NULL) continue; /* a scope with a NO_RESULTS_ON_PAGE warning */
      snprintf(at, sizeof(at), "items[\"%.60s\"].instanceGroupManagers", scope->string);
      if ((rc = read_mig_array(list, at, prefix, out, err)) != 0) break;
    }
  }
  if (rc == 0) rc = next_page(doc, "instanceGroupManagers list", next, err);
  cJSON_Delete(doc);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Instance templates                                                     */

void stv__gcp_template_free(struct stv__gcp_template *t) {
  stv_free(t->machine_type);
  stv_free(t->pool);
  memset(t, 0, sizeof(*t));
}

/* The value of label key in kube-env's "AUTOSCALER_ENV_VARS: node_labels=k=v,k2=v2;node_taints=..." line. */
static int kube_env_label(const char *env, const char *key, char **out, struct stv_err *err) {
  const char *line = strstr(env, "AUTOSCALER_ENV_VARS:"), *p, *end;
  size_t klen = strlen(key);
  *out = NULL;
  if (line == NULL) return 0;
  end = strchr(line, '\n');
  if (end == NULL) end = line + strlen(line);
  p = strstr(line, "node_labels=");
  if (p == NULL || p > end) return 0;
  p += strlen("node_labels=");
  while (p < end && *p != ';') {
    const char *e = p;
    while (e < end && *e != ',' && *e != ';') e++;
    if ((size_t)(e - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      if ((*out = stv_strndup(p + klen + 1, (size_t)(e - p - klen - 1))) == NULL) return oom(err);
      return 0;
    }
    p = e < end && *e == ',' ? e + 1 : e;
  }
  return 0;
}

static int template_pool(const cJSON *props, struct stv__gcp_template *out, struct stv_err *err) {
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(props, "metadata"), *items, *it;
  int i = 0, rc;
  char at[120];
  if (md == NULL) return 0;
  if (!cJSON_IsObject(md)) return stv_err_set(err, STV_EPARSE, "properties.metadata: not an object");
  items = cJSON_GetObjectItemCaseSensitive(md, "items");
  if (items == NULL) return 0;
  if (!cJSON_IsArray(items)) return stv_err_set(err, STV_EPARSE, "properties.metadata.items: not an array");
  cJSON_ArrayForEach(it, items) {
    const char *key, *value;
    snprintf(at, sizeof(at), "properties.metadata.items[%d]", i++);
    if (!cJSON_IsObject(it)) return stv_err_set(err, STV_EPARSE, "%s: not an object", at);
    if ((rc = need_str(it, "key", at, &key, err)) != 0 || (rc = get_str(it, "value", at, &value, err)) != 0)
      return rc;
    if (strcmp(key, "kube-env") == 0 && value != NULL)
      return kube_env_label(value, "stevedore.io/node-pool", &out->pool, err);
  }
  return 0;
}

int stv__gcp_read_template(const char *body, size_t len, struct stv__gcp_template *out, struct stv_err *err) {
  cJSON *doc;
  const cJSON *props, *sched, *pre;
  const char *mt, *model = NULL;
  int rc;
  memset(out, 0, sizeof(*out));
  if ((rc = parse(body, len, "instance template", &doc, err)) != 0) return rc;
  props = cJSON_GetObjectItemCaseSensitive(doc, "properties");
  if (!cJSON_IsObject(props)) {
    rc = stv_err_set(err, STV_EPARSE, "properties: %s", props == NULL ? "missing" : "not an object");
    goto done;
  }
  if ((rc = need_str(props, "machineType", "properties", &mt, err)) != 0) goto done;
  if ((out->machine_type = stv_strdup(stv__gcp_last(mt))) == NULL) {
    rc = oom(err);
    goto done;
  }
  out->ct = STV_CT_ON_DEMAND;
  sched = cJSON_GetObjectItemCaseSensitive(props, "scheduling");
  if (sched != NULL && !cJSON_IsObject(sched)) {
    rc = stv_err_set(err, STV_EPARSE, "properties.scheduling: not an object");
    goto done;
  }
  if (sched != NULL) {
    if ((rc = get_str(sched, "provisioningModel", "properties.scheduling", &model, err)) != 0) goto done;
    pre = cJSON_GetObjectItemCaseSensitive(sched, "preemptible");
    if (pre != NULL && !cJSON_IsBool(pre)) {
      rc = stv_err_set(err, STV_EPARSE, "properties.scheduling.preemptible: not a boolean");
      goto done;
    }
    if ((model != NULL && strcmp(model, "SPOT") == 0) || cJSON_IsTrue(pre)) out->ct = STV_CT_SPOT;
  }
  rc = template_pool(props, out, err);
done:
  cJSON_Delete(doc);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Operations                                                             */

int stv__gcp_read_operation(const char *body, size_t len, struct stv__gcp_op *out, struct stv_err *err) {
  cJSON *doc;
  const char *name, *status, *self, *rel;
  const cJSON *e, *errs, *first, *hs;
  int rc;
  memset(out, 0, sizeof(*out));
  if ((rc = parse(body, len, "operation", &doc, err)) != 0) return rc;
  if ((rc = need_str(doc, "name", "operation", &name, err)) != 0 ||
      (rc = need_str(doc, "status", "operation", &status, err)) != 0 ||
      (rc = need_str(doc, "selfLink", "operation", &self, err)) != 0)
    goto done;
  if (name[0] == '\0' || strlen(name) >= sizeof(out->name)) {
    rc = stv_err_set(err, STV_EPARSE, "operation.name: %s",
                     name[0] == '\0' ? "empty" : "longer than an operation's name");
    goto done;
  }
  if ((rel = stv__gcp_rel(self)) == NULL || strlen(rel) >= sizeof(out->path)) {
    rc = stv_err_set(err, STV_EPARSE, "operation.selfLink: \"%.120s\" is not an operation's link", self);
    goto done;
  }
  snprintf(out->name, sizeof(out->name), "%s", name);
  snprintf(out->path, sizeof(out->path), "%s", rel);
  if (strcmp(status, "DONE") == 0)
    out->done = 1;
  else if (strcmp(status, "PENDING") != 0 && strcmp(status, "RUNNING") != 0) {
    rc = stv_err_set(err, STV_EPARSE, "operation.status: \"%.40s\" (expected PENDING, RUNNING or DONE)",
                     status);
    goto done;
  }
  hs = cJSON_GetObjectItemCaseSensitive(doc, "httpErrorStatusCode");
  /* An HTTP status is between 100 and 599; anything else is not one (and a
   * huge figure must not reach the conversion to long). */
  if (hs != NULL && cJSON_IsNumber(hs) && hs->valuedouble >= 100 && hs->valuedouble < 600)
    out->http_status = (long)hs->valuedouble;
  e = cJSON_GetObjectItemCaseSensitive(doc, "error");
  if (e != NULL) {
    const char *code = NULL, *msg = NULL;
    errs = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "errors") : NULL;
    first = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : NULL;
    if (!cJSON_IsObject(first)) {
      rc = stv_err_set(err, STV_EPARSE, "operation.error.errors: not a non-empty array of objects");
      goto done;
    }
    if ((rc = need_str(first, "code", "operation.error.errors[0]", &code, err)) != 0 ||
        (rc = get_str(first, "message", "operation.error.errors[0]", &msg, err)) != 0)
      goto done;
    snprintf(out->code, sizeof(out->code), "%s", code);
    snprintf(out->message, sizeof(out->message), "%s", msg != NULL ? msg : "");
  }
done:
  cJSON_Delete(doc);
  return rc;
}

int stv__gcp_op_code(const char *code, long http_status) {
  if (strncmp(code, "ZONE_RESOURCE_POOL_EXHAUSTED", 28) == 0 ||
      strcmp(code, "RESOURCE_POOL_EXHAUSTED") == 0 || strcmp(code, "STOCKOUT") == 0)
    return STV_ECAPACITY;
  if (strcmp(code, "QUOTA_EXCEEDED") == 0 || strcmp(code, "REGION_QUOTA_EXCEEDED") == 0) return STV_ELIMIT;
  if (strcmp(code, "RATE_LIMIT_EXCEEDED") == 0 || http_status == 429) return STV_ETHROTTLED;
  if (strcmp(code, "RESOURCE_NOT_FOUND") == 0 || http_status == 404) return STV_ENOTFOUND;
  if (strcmp(code, "INVALID_FIELD_VALUE") == 0 || strcmp(code, "CONDITION_NOT_MET") == 0 ||
      http_status == 400)
    return STV_EINVAL;
  return STV_EIO;
}

/* ---------------------------------------------------------------------- */
/* Managed instances                                                      */

void stv__gcp_manageds_free(struct stv__gcp_manageds *m) {
  size_t i;
  for (i = 0; i < m->n; i++) {
    stv_free(m->v[i].zone);
    stv_free(m->v[i].name);
    stv_free(m->v[i].err_code);
    stv_free(m->v[i].err_message);
  }
  stv_free(m->v);
  memset(m, 0, sizeof(*m));
}

static enum stv__gcp_action action_of(const char *a) {
  if (a == NULL || strcmp(a, "NONE") == 0) return GCP_ACT_NONE;
  if (strcmp(a, "CREATING") == 0 || strcmp(a, "CREATING_WITHOUT_RETRIES") == 0 ||
      strcmp(a, "RECREATING") == 0 || strcmp(a, "VERIFYING") == 0 || strcmp(a, "STARTING") == 0 ||
      strcmp(a, "RESUMING") == 0)
    return GCP_ACT_CREATING;
  if (strcmp(a, "DELETING") == 0 || strcmp(a, "ABANDONING") == 0 || strcmp(a, "STOPPING") == 0 ||
      strcmp(a, "SUSPENDING") == 0)
    return GCP_ACT_DELETING;
  return GCP_ACT_OTHER;
}

static int last_attempt(const cJSON *o, const char *where, struct stv__gcp_managed *m, struct stv_err *err) {
  const cJSON *la = cJSON_GetObjectItemCaseSensitive(o, "lastAttempt"), *e, *errs, *first;
  const char *code, *msg;
  char at[160];
  int rc;
  if (la == NULL) return 0;
  e = cJSON_IsObject(la) ? cJSON_GetObjectItemCaseSensitive(la, "errors") : NULL;
  errs = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "errors") : NULL;
  if (errs == NULL) return 0;
  first = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : NULL;
  snprintf(at, sizeof(at), "%s.lastAttempt.errors.errors[0]", where);
  if (first == NULL) return cJSON_IsArray(errs) ? 0 : stv_err_set(err, STV_EPARSE, "%s: not an array", at);
  if (!cJSON_IsObject(first)) return stv_err_set(err, STV_EPARSE, "%s: not an object", at);
  if ((rc = need_str(first, "code", at, &code, err)) != 0 ||
      (rc = get_str(first, "message", at, &msg, err)) != 0)
    return rc;
  if ((m->err_code = stv_strdup(code)) == NULL || (m->err_message = stv_strdup(msg ? msg : "")) == NULL)
    return oom(err);
  return 0;
}

static int read_managed(const cJSON *o, const char *where, struct stv__gcp_manageds *out,
                        struct stv_err *err) {
  const char *inst, *action, *status, *rel, *zs, *ze;
  struct stv__gcp_managed *m;
  int rc;
  if (!cJSON_IsObject(o)) return stv_err_set(err, STV_EPARSE, "%s: not an object", where);
  if ((rc = need_str(o, "instance", where, &inst, err)) != 0 ||
      (rc = get_str(o, "currentAction", where, &action, err)) != 0 ||
      (rc = get_str(o, "instanceStatus", where, &status, err)) != 0)
    return rc;
  /* projects/P/zones/Z/instances/NAME */
  rel = stv__gcp_rel(inst);
  zs = rel != NULL ? strstr(rel, "/zones/") : NULL;
  ze = zs != NULL ? strchr(zs + 7, '/') : NULL;
  if (ze == NULL || strncmp(ze, "/instances/", 11) != 0 || !gce_name(zs + 7, (size_t)(ze - zs - 7)) ||
      !gce_name(ze + 11, strlen(ze + 11)))
    return stv_err_set(err, STV_EPARSE, "%s.instance: \"%.120s\" is not an instance's link", where, inst);
  if ((m = push(&out->v, &out->n, &out->cap, sizeof(*m))) == NULL) return oom(err);
  if ((m->zone = stv_strndup(zs + 7, (size_t)(ze - zs - 7))) == NULL ||
      (m->name = stv_strdup(ze + 11)) == NULL)
    return oom(err);
  m->action = action_of(action);
  m->running = status != NULL && strcmp(status, "RUNNING") == 0;
  m->stopping = status != NULL && (strcmp(status, "STOPPING") == 0 || strcmp(status, "STOPPED") == 0 ||
                                   strcmp(status, "TERMINATED") == 0 || strcmp(status, "SUSPENDING") == 0 ||
                                   strcmp(status, "SUSPENDED") == 0);
  return last_attempt(o, where, m, err);
}

int stv__gcp_read_managed(const char *body, size_t len, struct stv__gcp_manageds *out, char **next,
                          struct stv_err *err) {
  cJSON *doc;
  const cJSON *list, *o;
  char at[80];
  int rc = 0, i = 0;
  *next = NULL;
  if ((rc = parse(body, len, "listManagedInstances", &doc, err)) != 0) return rc;
  list = cJSON_GetObjectItemCaseSensitive(doc, "managedInstances");
  if (list != NULL && !cJSON_IsArray(list))
    rc = stv_err_set(err, STV_EPARSE, "managedInstances: not an array");
  if (rc == 0 && list != NULL) {
    cJSON_ArrayForEach(o, list) {
      snprintf(at, sizeof(at), "managedInstances[%d]", i++);
      if ((rc = read_managed(o, at, out, err)) != 0) break;
    }
  }
  if (rc == 0) rc = next_page(doc, "listManagedInstances", next, err);
  cJSON_Delete(doc);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Errors, tokens, keys                                                   */

/* Copies s[0..n) to msg as printable ASCII (a body can hold anything). */
static void printable(char *msg, size_t size, const char *s, size_t n) {
  size_t i, j = 0;
  if (size == 0) return;
  for (i = 0; i < n && j + 1 < size; i++) msg[j++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : ' ';
  msg[j] = '\0';
}

int stv__gcp_read_error(const char *body, size_t len, long status, char *msg, size_t size) {
  cJSON *doc = cJSON_ParseWithLength(body, len);
  const cJSON *e = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "error") : NULL, *errs, *first,
              *m, *r;
  const char *reason = "", *text = NULL;
  int code;
  if (cJSON_IsObject(e)) {
    m = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(m)) text = m->valuestring;
    errs = cJSON_GetObjectItemCaseSensitive(e, "errors");
    first = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : NULL;
    r = cJSON_IsObject(first) ? cJSON_GetObjectItemCaseSensitive(first, "reason") : NULL;
    if (cJSON_IsString(r)) reason = r->valuestring;
  } else if (cJSON_IsString(e)) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(doc, "error_description");
    reason = e->valuestring; /* OAuth: {"error": "invalid_grant", "error_description": "..."} */
    if (cJSON_IsString(d)) text = d->valuestring;
  }
  if (text != NULL) {
    char t[300];
    printable(t, sizeof(t), text, strlen(text));
    snprintf(msg, size, "HTTP %ld %.60s%s%s", status, reason, reason[0] ? ": " : "", t);
  } else {
    char t[160];
    printable(t, sizeof(t), body, len < 150 ? len : 150);
    snprintf(msg, size, "HTTP %ld, body: %s", status, len == 0 ? "(empty)" : t);
  }
  if (status == 429 || strcmp(reason, "rateLimitExceeded") == 0 ||
      strcmp(reason, "userRateLimitExceeded") == 0)
    code = STV_ETHROTTLED;
  else if (status == 404)
    code = STV_ENOTFOUND;
  else if (status == 403 && strcmp(reason, "quotaExceeded") == 0)
    code = STV_ELIMIT;
  else if (status == 400 || status == 401 || status == 403 || status == 409 || status == 412)
    code = STV_EINVAL;
  else
    code = STV_EIO;
  cJSON_Delete(doc);
  return code;
}

int stv__gcp_read_token(const char *body, size_t len, char **token, double *expires_in, struct stv_err *err) {
  cJSON *doc;
  const char *tok, *type;
  const cJSON *ex;
  int rc;
  *token = NULL;
  if ((rc = parse(body, len, "token answer", &doc, err)) != 0) return rc;
  if ((rc = need_str(doc, "access_token", "token answer", &tok, err)) != 0 ||
      (rc = get_str(doc, "token_type", "token answer", &type, err)) != 0)
    goto done;
  if (type != NULL && strcmp(type, "Bearer") != 0) {
    rc = stv_err_set(err, STV_EPARSE, "token answer.token_type: \"%.20s\" (expected Bearer)", type);
    goto done;
  }
  ex = cJSON_GetObjectItemCaseSensitive(doc, "expires_in");
  if (!cJSON_IsNumber(ex) || !(ex->valuedouble > 0 && ex->valuedouble <= 86400 * 7)) {
    rc = stv_err_set(err, STV_EPARSE,
                     "token answer.expires_in: missing or not a number of seconds in (0, 604800]");
    goto done;
  }
  if (tok[0] == '\0' || strpbrk(tok, "\r\n ") != NULL) {
    rc = stv_err_set(err, STV_EPARSE, "token answer.access_token: empty or not a single word");
    goto done;
  }
  *expires_in = ex->valuedouble;
  if ((*token = stv_strdup(tok)) == NULL) rc = oom(err);
done:
  cJSON_Delete(doc);
  return rc;
}

void stv__gcp_key_free(struct stv__gcp_key *k) {
  stv_free(k->client_email);
  stv_free(k->private_key);
  stv_free(k->private_key_id);
  stv_free(k->token_uri);
  stv_free(k->project_id);
  memset(k, 0, sizeof(*k));
}

int stv__gcp_read_key(const char *text, size_t len, struct stv__gcp_key *out, struct stv_err *err) {
  cJSON *doc;
  const char *type, *email, *pk, *kid, *uri, *proj;
  int rc;
  memset(out, 0, sizeof(*out));
  if ((rc = parse(text, len, "key file", &doc, err)) != 0) return rc;
  if ((rc = need_str(doc, "type", "key file", &type, err)) != 0) goto done;
  if (strcmp(type, "service_account") != 0) {
    rc = stv_err_set(err, STV_EINVAL,
                     "key file.type: \"%.40s\" (expected service_account: user and external-account "
                     "credentials are not supported; use a service-account key or the metadata server)",
                     type);
    goto done;
  }
  if ((rc = need_str(doc, "client_email", "key file", &email, err)) != 0 ||
      (rc = need_str(doc, "private_key", "key file", &pk, err)) != 0 ||
      (rc = get_str(doc, "private_key_id", "key file", &kid, err)) != 0 ||
      (rc = get_str(doc, "token_uri", "key file", &uri, err)) != 0 ||
      (rc = get_str(doc, "project_id", "key file", &proj, err)) != 0)
    goto done;
  if ((out->client_email = stv_strdup(email)) == NULL || (out->private_key = stv_strdup(pk)) == NULL ||
      (kid != NULL && (out->private_key_id = stv_strdup(kid)) == NULL) ||
      (out->token_uri = stv_strdup(uri != NULL ? uri : "https://oauth2.googleapis.com/token")) == NULL ||
      (proj != NULL && (out->project_id = stv_strdup(proj)) == NULL))
    rc = oom(err);
done:
  cJSON_Delete(doc);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Cloud Billing Catalog SKUs                                             */

void stv__gcp_rates_free(struct stv__gcp_rates *r) {
  stv_free(r->v);
  memset(r, 0, sizeof(*r));
}

/* A machine family's name as the SKUs write it: a letter, then letters and digits, with a digit ("N2D", "E2"). */
static int family_word(const char *s, size_t n) {
  size_t i;
  int digit = 0;
  if (n < 2 || n > 8 || !(s[0] >= 'A' && s[0] <= 'Z')) return 0;
  for (i = 1; i < n; i++) {
    if (s[i] >= '0' && s[i] <= '9')
      digit = 1;
    else if (!(s[i] >= 'A' && s[i] <= 'Z'))
      return 0;
  }
  return digit;
}

/*
 * The family and resource a SKU's description prices, or 0 when it is not
 * a predefined family's core or memory: "[Spot Preemptible ]FAM [WORD
 * ]Instance Core|Ram running in GEO", where WORD is not "Custom" (N1
 * Predefined, N2D AMD, T2A Arm...), and the two families whose SKUs
 * predate that pattern: "Compute optimized Core" (c2) and
 * "Memory-optimized Instance Core" (m1).
 */
static int sku_family(const char *desc, char *family, size_t size, enum stv__gcp_sku_res *res) {
  const char *end = strstr(desc, " running in "), *sp;
  size_t n, w1;
  if (strncmp(desc, "Spot Preemptible ", 17) == 0)
    desc += 17;
  else if (strncmp(desc, "Preemptible ", 12) == 0)
    desc += 12;
  if (end == NULL || end < desc) return 0;
  n = (size_t)(end - desc);
  if (n > 5 && memcmp(end - 5, " Core", 5) == 0)
    *res = GCP_SKU_CORE;
  else if (n > 4 && memcmp(end - 4, " Ram", 4) == 0)
    *res = GCP_SKU_RAM;
  else
    return 0;
  n -= *res == GCP_SKU_CORE ? 5 : 4;
  if (n == 17 && memcmp(desc, "Compute optimized", 17) == 0) {
    snprintf(family, size, "c2");
    return 1;
  }
  if (n == 25 && memcmp(desc, "Memory-optimized Instance", 25) == 0) {
    snprintf(family, size, "m1");
    return 1;
  }
  if (n < 9 || memcmp(desc + n - 9, " Instance", 9) != 0) return 0;
  n -= 9; /* "FAM" or "FAM WORD" */
  sp = memchr(desc, ' ', n);
  w1 = sp != NULL ? (size_t)(sp - desc) : n;
  if (!family_word(desc, w1) || w1 + 1 > size) return 0;
  if (sp != NULL && (memchr(sp + 1, ' ', n - w1 - 1) != NULL || n - w1 - 1 == 0 ||
                     (n - w1 - 1 == 6 && memcmp(sp + 1, "Custom", 6) == 0)))
    return 0;
  for (n = 0; n < w1; n++) family[n] = (char)(desc[n] >= 'A' && desc[n] <= 'Z' ? desc[n] - 'A' + 'a' : desc[n]);
  family[w1] = '\0';
  return 1;
}

/* Whether the SKU's serviceRegions hold region; *count receives how many it names. */
static int sku_in_region(const cJSON *sku, const char *where, const char *region, size_t *count,
                         struct stv_err *err) {
  const cJSON *regions = cJSON_GetObjectItemCaseSensitive(sku, "serviceRegions"), *r;
  int in = 0;
  *count = 0;
  if (regions == NULL) return 0;
  if (!cJSON_IsArray(regions)) return stv_err_set(err, STV_EPARSE, "%s.serviceRegions: not an array", where);
  cJSON_ArrayForEach(r, regions) {
    if (!cJSON_IsString(r)) return stv_err_set(err, STV_EPARSE, "%s.serviceRegions: not an array of strings", where);
    (*count)++;
    if (strcmp(r->valuestring, region) == 0) in = 1;
  }
  return in;
}

/* The first tier's unit price (startUsageAmount 0) of the SKU's pricingInfo[0], in USD per usageUnit. */
static int sku_price(const cJSON *sku, const char *where, const char *unit_want, double *price, double *as_of,
                     struct stv_err *err) {
  const cJSON *pi = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sku, "pricingInfo"), 0), *expr, *tiers, *t,
              *up = NULL, *nanos, *start;
  const char *unit, *cur, *when;
  int64_t units, secs;
  char w[256];
  int rc;
  if (!cJSON_IsObject(pi)) return stv_err_set(err, STV_EPARSE, "%s.pricingInfo[0]: missing or not an object", where);
  snprintf(w, sizeof(w), "%.120s.pricingInfo[0]", where);
  expr = cJSON_GetObjectItemCaseSensitive(pi, "pricingExpression");
  if (!cJSON_IsObject(expr)) return stv_err_set(err, STV_EPARSE, "%s.pricingExpression: missing", w);
  if ((rc = get_str(pi, "effectiveTime", w, &when, err)) != 0) return rc;
  *as_of = 0;
  if (when != NULL) {
    if (stv_parse_time(when, &secs, NULL, err) != 0) {
      stv_err_prefix(err, "%s.effectiveTime", w);
      return err->code = STV_EPARSE;
    }
    if (secs < 0) /* the fuzzer's year 1013: no price of a cloud took effect before 1970 */
      return stv_err_set(err, STV_EPARSE, "%s.effectiveTime: \"%.40s\" is before 1970", w, when);
    *as_of = (double)secs;
  }
  snprintf(w, sizeof(w), "%.120s.pricingInfo[0].pricingExpression", where);
  if ((rc = need_str(expr, "usageUnit", w, &unit, err)) != 0) return rc;
  if (strcmp(unit, unit_want) != 0)
    return stv_err_set(err, STV_EPARSE, "%s.usageUnit: \"%.20s\" (expected \"%s\" for this SKU)", w, unit,
                       unit_want);
  tiers = cJSON_GetObjectItemCaseSensitive(expr, "tieredRates");
  if (!cJSON_IsArray(tiers)) return stv_err_set(err, STV_EPARSE, "%s.tieredRates: missing or not an array", w);
  cJSON_ArrayForEach(t, tiers) {
    start = cJSON_GetObjectItemCaseSensitive(t, "startUsageAmount");
    if (start == NULL || (cJSON_IsNumber(start) && start->valuedouble == 0)) {
      up = cJSON_GetObjectItemCaseSensitive(t, "unitPrice");
      break;
    }
  }
  if (!cJSON_IsObject(up))
    return stv_err_set(err, STV_EPARSE, "%s.tieredRates: no tier from usage 0 with a unitPrice object", w);
  snprintf(w, sizeof(w), "%.120s.pricingInfo[0].pricingExpression.tieredRates[].unitPrice", where);
  if ((rc = get_str(up, "currencyCode", w, &cur, err)) != 0) return rc;
  if (cur != NULL && strcmp(cur, "USD") != 0)
    return stv_err_set(err, STV_EPARSE, "%s.currencyCode: \"%.8s\" (asked for currencyCode=USD)", w, cur);
  units = 0;
  if (cJSON_GetObjectItemCaseSensitive(up, "units") != NULL && (rc = get_i64(up, "units", w, &units, err)) != 0)
    return rc;
  nanos = cJSON_GetObjectItemCaseSensitive(up, "nanos");
  if (nanos != NULL && (!cJSON_IsNumber(nanos) || !(nanos->valuedouble >= 0 && nanos->valuedouble < 1e9) ||
                        floor(nanos->valuedouble) != nanos->valuedouble))
    return stv_err_set(err, STV_EPARSE, "%s.nanos: not a whole number in [0, 999999999]", w);
  if (units > 1000000) return stv_err_set(err, STV_EPARSE, "%s.units: %lld is not a unit price", w, (long long)units);
  *price = (double)units + (nanos != NULL ? nanos->valuedouble / 1e9 : 0);
  return 0;
}

/* Keeps rate in out: a new (family, resource, capacity type), or one from a SKU naming fewer regions. */
static int keep_rate(struct stv__gcp_rates *out, const struct stv__gcp_rate *rate) {
  struct stv__gcp_rate *e;
  size_t i;
  for (i = 0; i < out->n; i++) {
    e = &out->v[i];
    if (e->res == rate->res && e->ct == rate->ct && strcmp(e->family, rate->family) == 0) {
      if (rate->nregions < e->nregions) *e = *rate;
      return 0;
    }
  }
  if ((e = push(&out->v, &out->n, &out->cap, sizeof(*e))) == NULL) return STV_ENOMEM;
  *e = *rate;
  return 0;
}

/* One SKU: its rate kept when it is a unit price of a predefined family in region. */
static int read_sku(const cJSON *sku, const char *where, const char *region, struct stv__gcp_rates *out,
                    struct stv_err *err) {
  const cJSON *cat = cJSON_GetObjectItemCaseSensitive(sku, "category");
  const char *desc, *id, *fam, *group, *usage;
  struct stv__gcp_rate rate;
  int rc, in;
  memset(&rate, 0, sizeof(rate));
  if (!cJSON_IsObject(sku)) return stv_err_set(err, STV_EPARSE, "%s: not an object", where);
  if (!cJSON_IsObject(cat)) return stv_err_set(err, STV_EPARSE, "%s.category: missing or not an object", where);
  if ((rc = need_str(sku, "description", where, &desc, err)) != 0 ||
      (rc = get_str(sku, "skuId", where, &id, err)) != 0 ||
      (rc = need_str(cat, "resourceFamily", where, &fam, err)) != 0 ||
      (rc = get_str(cat, "resourceGroup", where, &group, err)) != 0 ||
      (rc = need_str(cat, "usageType", where, &usage, err)) != 0)
    return rc;
  if (strcmp(fam, "Compute") != 0) return 0;
  if (strcmp(usage, "OnDemand") == 0)
    rate.ct = STV_CT_ON_DEMAND;
  else if (strcmp(usage, "Preemptible") == 0)
    rate.ct = STV_CT_SPOT;
  else
    return 0; /* commitments */
  if ((in = sku_in_region(sku, where, region, &rate.nregions, err)) <= 0) return in;
  if (group != NULL && (strcmp(group, "F1Micro") == 0 || strcmp(group, "G1Small") == 0)) {
    rate.res = GCP_SKU_INSTANCE;
    snprintf(rate.family, sizeof(rate.family), "%s", group[0] == 'F' ? "f1-micro" : "g1-small");
  } else if (!sku_family(desc, rate.family, sizeof(rate.family), &rate.res)) {
    return 0;
  }
  snprintf(rate.sku, sizeof(rate.sku), "%.39s", id != NULL ? id : "");
  if ((rc = sku_price(sku, where, rate.res == GCP_SKU_RAM ? "GiBy.h" : "h", &rate.price, &rate.as_of, err)) != 0)
    return rc;
  return keep_rate(out, &rate) != 0 ? oom(err) : 0;
}

int stv__gcp_read_skus(const char *body, size_t len, const char *region, struct stv__gcp_rates *out, char **next,
                       struct stv_err *err) {
  cJSON *doc;
  const cJSON *skus, *sku;
  char where[120];
  size_t i = 0;
  int rc = 0;
  *next = NULL;
  if ((rc = parse(body, len, "skus.list", &doc, err)) != 0) return rc;
  skus = cJSON_GetObjectItemCaseSensitive(doc, "skus");
  if (skus != NULL && !cJSON_IsArray(skus)) {
    rc = stv_err_set(err, STV_EPARSE, "skus.list.skus: not an array");
    goto done;
  }
  cJSON_ArrayForEach(sku, skus) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(sku, "skuId");
    if (cJSON_IsString(id))
      snprintf(where, sizeof(where), "skus[%zu] (skuId %.40s)", i, id->valuestring);
    else
      snprintf(where, sizeof(where), "skus[%zu]", i);
    if ((rc = read_sku(sku, where, region, out, err)) != 0) goto done;
    i++;
    out->seen++;
  }
  rc = next_page(doc, "skus.list", next, err);
done:
  cJSON_Delete(doc);
  return rc;
}

/* The rate of (family, res, ct), or NULL. */
static const struct stv__gcp_rate *find_rate(const struct stv__gcp_rates *r, const char *family,
                                             enum stv__gcp_sku_res res, enum stv_capacity_type ct) {
  size_t i;
  for (i = 0; i < r->n; i++)
    if (r->v[i].res == res && r->v[i].ct == ct && strcmp(r->v[i].family, family) == 0) return &r->v[i];
  return NULL;
}

int stv__gcp_type_price(const struct stv__gcp_rates *rates, const char *type, double vcpus, double gib,
                        enum stv_capacity_type ct, double *price, double *as_of) {
  static const struct {
    const char *type;
    double vcpus;
  } shared[] = {{"e2-micro", 0.25}, {"e2-small", 0.5}, {"e2-medium", 1.0}};
  const struct stv__gcp_rate *core, *ram;
  const char *dash = strchr(type, '-');
  char family[24];
  size_t i;
  if ((core = find_rate(rates, type, GCP_SKU_INSTANCE, ct)) != NULL) {
    *price = core->price;
    *as_of = core->as_of;
    return 0;
  }
  if (dash == NULL || (size_t)(dash - type) >= sizeof(family)) return STV_ENOTFOUND;
  memcpy(family, type, (size_t)(dash - type));
  family[dash - type] = '\0';
  core = find_rate(rates, family, GCP_SKU_CORE, ct);
  ram = find_rate(rates, family, GCP_SKU_RAM, ct);
  if (core == NULL || ram == NULL) return STV_ENOTFOUND;
  for (i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
    if (strcmp(type, shared[i].type) == 0) vcpus = shared[i].vcpus;
  *price = vcpus * core->price + gib * ram->price;
  *as_of = core->as_of > ram->as_of ? core->as_of : ram->as_of;
  return 0;
}
