/*
 * The Azure provider's response readers: scale set and virtual machine
 * list pages, Azure-AsyncOperation documents, ARM and Entra ID errors,
 * token answers. Pure functions over a body; every error names the call
 * and the field, as "azure list scale sets: value[2].sku.capacity: not an
 * integer". Hostile bodies are expected: the fuzz target
 * tests/fuzz/fuzz_azure.c drives every reader.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "azure_internal.h"

#define MAX_ITEMS 100000

static cJSON *parse(const char *what, const char *body, size_t len, struct stv_err *err) {
  cJSON *root = cJSON_ParseWithLength(body, len);
  if (root == NULL)
    stv_err_set(err, STV_EPARSE, "%s: the answer is not JSON (%zu bytes)", what, len);
  else if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    root = NULL;
    stv_err_set(err, STV_EPARSE, "%s: the answer is not a JSON object", what);
  }
  return root;
}

static const char *arena_str(struct stv_arena *a, const char *s) {
  size_t n = strlen(s);
  char *d = stv_arena_alloc(a, n + 1);
  if (d != NULL) memcpy(d, s, n + 1);
  return d;
}

/* A string field of o: 0 with *out set (NULL when absent and optional), or STV_EPARSE. */
static int str_field(struct stv__az_page *p, const cJSON *o, const char *key, int required, const char **out,
                     const char *what, const char *where, struct stv_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  *out = NULL;
  if (v == NULL || cJSON_IsNull(v)) {
    if (!required) return 0;
    return stv_err_set(err, STV_EPARSE, "%s: %s.%s: missing", what, where, key);
  }
  if (!cJSON_IsString(v) || (required && v->valuestring[0] == '\0'))
    return stv_err_set(err, STV_EPARSE, "%s: %s.%s: not a%s string", what, where, key,
                       required ? " non-empty" : "");
  if ((*out = arena_str(&p->mem, v->valuestring)) == NULL)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  return 0;
}

static const cJSON *obj_field(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsObject(v) ? v : NULL;
}

static int read_zones(struct stv__az_page *p, const cJSON *o, const char ***zones, size_t *n,
                      const char *what, const char *where, struct stv_err *err) {
  const cJSON *z = cJSON_GetObjectItemCaseSensitive(o, "zones"), *e;
  size_t i = 0, k = 0;
  *zones = NULL;
  *n = 0;
  if (z == NULL || cJSON_IsNull(z)) return 0;
  if (!cJSON_IsArray(z) || cJSON_GetArraySize(z) > 64)
    return stv_err_set(err, STV_EPARSE, "%s: %s.zones: not an array of up to 64 strings", what, where);
  if ((*zones = stv_arena_alloc(&p->mem, sizeof(**zones) * ((size_t)cJSON_GetArraySize(z) + 1))) == NULL)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  cJSON_ArrayForEach(e, z) {
    if (!cJSON_IsString(e) || e->valuestring[0] == '\0' || strlen(e->valuestring) > 16)
      return stv_err_set(err, STV_EPARSE, "%s: %s.zones[%zu]: not a zone name (\"1\")", what, where, i);
    if (((*zones)[k++] = arena_str(&p->mem, e->valuestring)) == NULL)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    i++;
  }
  *n = k;
  return 0;
}

static int read_tags(struct stv__az_page *p, const cJSON *o, struct stv__az_vmss *s, const char *what,
                     const char *where, struct stv_err *err) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tags"), *e;
  size_t k = 0;
  if (t == NULL || cJSON_IsNull(t)) return 0;
  if (!cJSON_IsObject(t)) return stv_err_set(err, STV_EPARSE, "%s: %s.tags: not an object", what, where);
  if ((s->tags = stv_arena_alloc(&p->mem, sizeof(*s->tags) * ((size_t)cJSON_GetArraySize(t) + 1))) == NULL)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  cJSON_ArrayForEach(e, t) {
    if (!cJSON_IsString(e))
      return stv_err_set(err, STV_EPARSE, "%s: %s.tags.%.80s: not a string", what, where, e->string);
    s->tags[k].key = arena_str(&p->mem, e->string);
    s->tags[k].value = arena_str(&p->mem, e->valuestring);
    if (s->tags[k].key == NULL || s->tags[k].value == NULL)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    k++;
  }
  s->ntags = k;
  return 0;
}

static int read_vmss(struct stv__az_page *p, const cJSON *o, struct stv__az_vmss *s, const char *what,
                     const char *where, struct stv_err *err) {
  const cJSON *sku = obj_field(o, "sku"), *props = obj_field(o, "properties"), *cap, *vmp;
  const char *prio = NULL;
  char sub[96];
  int rc;
  if ((rc = str_field(p, o, "id", 1, &s->id, what, where, err)) != 0 ||
      (rc = str_field(p, o, "name", 1, &s->name, what, where, err)) != 0 ||
      (rc = str_field(p, o, "location", 1, &s->location, what, where, err)) != 0)
    return rc;
  if (sku == NULL)
    return stv_err_set(err, STV_EPARSE, "%s: %s (%s).sku: missing or not an object", what, where, s->name);
  snprintf(sub, sizeof(sub), "%s.sku", where);
  if ((rc = str_field(p, sku, "name", 1, &s->sku, what, sub, err)) != 0) return rc;
  cap = cJSON_GetObjectItemCaseSensitive(sku, "capacity");
  if (!cJSON_IsNumber(cap) || cap->valuedouble < 0 || cap->valuedouble > 1e6 ||
      cap->valuedouble != floor(cap->valuedouble))
    return stv_err_set(err, STV_EPARSE,
                       "%s: %s (%s).sku.capacity: missing or not a whole number 0 to 1000000", what, where,
                       s->name);
  s->capacity = (int64_t)cap->valuedouble;
  if ((rc = read_zones(p, o, &s->zones, &s->nzones, what, where, err)) != 0) return rc;
  if ((rc = read_tags(p, o, s, what, where, err)) != 0) return rc;
  vmp = props != NULL ? obj_field(props, "virtualMachineProfile") : NULL;
  snprintf(sub, sizeof(sub), "%s.properties.virtualMachineProfile", where);
  if (vmp != NULL && (rc = str_field(p, vmp, "priority", 0, &prio, what, sub, err)) != 0) return rc;
  s->spot = prio != NULL && (strcasecmp(prio, "Spot") == 0 || strcasecmp(prio, "Low") == 0);
  return 0;
}

static int read_vm(struct stv__az_page *p, const cJSON *o, struct stv__az_vm *v, const char *what,
                   const char *where, struct stv_err *err) {
  const cJSON *props = obj_field(o, "properties"), *os;
  char sub[96];
  const char **zones;
  size_t nz;
  int rc;
  if ((rc = str_field(p, o, "instanceId", 1, &v->instance_id, what, where, err)) != 0) return rc;
  if (strlen(v->instance_id) > 20 || strspn(v->instance_id, "0123456789") != strlen(v->instance_id))
    return stv_err_set(err, STV_EPARSE, "%s: %s.instanceId: %.40s: not a decimal instance id", what, where,
                       v->instance_id);
  if ((rc = read_zones(p, o, &zones, &nz, what, where, err)) != 0) return rc;
  v->zone = nz > 0 ? zones[0] : NULL;
  if (props == NULL)
    return stv_err_set(err, STV_EPARSE, "%s: %s.properties: missing or not an object", what, where);
  snprintf(sub, sizeof(sub), "%s.properties", where);
  if ((rc = str_field(p, props, "provisioningState", 1, &v->state, what, sub, err)) != 0) return rc;
  os = obj_field(props, "osProfile");
  snprintf(sub, sizeof(sub), "%s.properties.osProfile", where);
  if (os != NULL && (rc = str_field(p, os, "computerName", 0, &v->computer_name, what, sub, err)) != 0)
    return rc;
  return 0;
}

int stv__az_read_page(struct stv__az_page *p, int vms, const char *what, const char *body, size_t len,
                      struct stv_err *err) {
  cJSON *root, *value, *e;
  const cJSON *next;
  char where[32];
  size_t n;
  int rc = 0;
  memset(p, 0, sizeof(*p));
  stv_arena_init(&p->mem);
  if ((root = parse(what, body, len, err)) == NULL) return err != NULL ? err->code : STV_EPARSE;
  value = cJSON_GetObjectItemCaseSensitive(root, "value");
  if (!cJSON_IsArray(value) || (n = (size_t)cJSON_GetArraySize(value)) > MAX_ITEMS) {
    rc =
        stv_err_set(err, STV_EPARSE, "%s: value: missing or not an array of up to %d items", what, MAX_ITEMS);
    goto out;
  }
  if (vms)
    p->vms = stv_arena_alloc(&p->mem, sizeof(*p->vms) * (n + 1));
  else
    p->sets = stv_arena_alloc(&p->mem, sizeof(*p->sets) * (n + 1));
  if (p->vms == NULL && p->sets == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  cJSON_ArrayForEach(e, value) {
    snprintf(where, sizeof(where), "value[%zu]", p->n);
    if (!cJSON_IsObject(e)) {
      rc = stv_err_set(err, STV_EPARSE, "%s: %s: not an object", what, where);
      goto out;
    }
    rc = vms ? read_vm(p, e, &p->vms[p->n], what, where, err)
             : read_vmss(p, e, &p->sets[p->n], what, where, err);
    if (rc != 0) goto out;
    p->n++;
  }
  next = cJSON_GetObjectItemCaseSensitive(root, "nextLink");
  if (next != NULL && !cJSON_IsNull(next)) {
    if (!cJSON_IsString(next))
      rc = stv_err_set(err, STV_EPARSE, "%s: nextLink: not a string", what);
    else if (next->valuestring[0] != '\0' && (p->next_link = arena_str(&p->mem, next->valuestring)) == NULL)
      rc = stv_err_set(err, STV_ENOMEM, "out of memory");
  }
out:
  cJSON_Delete(root);
  return rc;
}

void stv__az_page_free(struct stv__az_page *p) {
  stv_arena_reset(&p->mem);
  memset(p, 0, sizeof(*p));
}

const char *stv__az_tag(const struct stv__az_vmss *s, const char *key) {
  size_t i;
  for (i = 0; i < s->ntags; i++)
    if (strcmp(s->tags[i].key, key) == 0) return s->tags[i].value;
  return NULL;
}

static void copy_str(char *dst, size_t size, const cJSON *v) {
  snprintf(dst, size, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

int stv__az_read_operation(struct stv__az_op *op, const char *what, const char *body, size_t len,
                           struct stv_err *err) {
  cJSON *root;
  const cJSON *st, *e;
  memset(op, 0, sizeof(*op));
  if ((root = parse(what, body, len, err)) == NULL) return err != NULL ? err->code : STV_EPARSE;
  st = cJSON_GetObjectItemCaseSensitive(root, "status");
  if (!cJSON_IsString(st) || st->valuestring[0] == '\0' || strlen(st->valuestring) >= sizeof(op->status)) {
    cJSON_Delete(root);
    return stv_err_set(err, STV_EPARSE, "%s: status: missing or not an operation status", what);
  }
  copy_str(op->status, sizeof(op->status), st);
  if ((e = obj_field(root, "error")) != NULL) {
    copy_str(op->code, sizeof(op->code), cJSON_GetObjectItemCaseSensitive(e, "code"));
    copy_str(op->message, sizeof(op->message), cJSON_GetObjectItemCaseSensitive(e, "message"));
  }
  cJSON_Delete(root);
  return 0;
}

int stv__az_read_error(const char *body, size_t len, char *code, size_t code_size, char *message,
                       size_t message_size) {
  cJSON *root = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
  const cJSON *e = root != NULL ? obj_field(root, "error") : NULL;
  code[0] = message[0] = '\0';
  if (e == NULL || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "code"))) {
    cJSON_Delete(root);
    return STV_EPARSE;
  }
  copy_str(code, code_size, cJSON_GetObjectItemCaseSensitive(e, "code"));
  copy_str(message, message_size, cJSON_GetObjectItemCaseSensitive(e, "message"));
  cJSON_Delete(root);
  return 0;
}

/* A number, or a string holding one (IMDS writes "3599"). */
static int number_of(const cJSON *v, double *out) {
  char *end;
  if (cJSON_IsNumber(v)) {
    *out = v->valuedouble;
    return 0;
  }
  if (!cJSON_IsString(v) || v->valuestring[0] == '\0') return STV_EPARSE;
  *out = strtod(v->valuestring, &end);
  return *end == '\0' && isfinite(*out) ? 0 : STV_EPARSE;
}

int stv__az_read_token(const char *what, const char *body, size_t len, char **token, double *expires_in,
                       struct stv_err *err) {
  cJSON *root;
  const cJSON *tok, *typ;
  *token = NULL;
  if ((root = parse(what, body, len, err)) == NULL) return err != NULL ? err->code : STV_EPARSE;
  tok = cJSON_GetObjectItemCaseSensitive(root, "access_token");
  typ = cJSON_GetObjectItemCaseSensitive(root, "token_type");
  if (!cJSON_IsString(tok) || tok->valuestring[0] == '\0' || strlen(tok->valuestring) > 16384 ||
      strpbrk(tok->valuestring, "\r\n ") != NULL) {
    cJSON_Delete(root);
    return stv_err_set(err, STV_EPARSE, "%s: access_token: missing or not a token", what);
  }
  if (typ != NULL && (!cJSON_IsString(typ) || strcasecmp(typ->valuestring, "Bearer") != 0)) {
    cJSON_Delete(root);
    return stv_err_set(err, STV_EPARSE, "%s: token_type: not Bearer", what);
  }
  if (number_of(cJSON_GetObjectItemCaseSensitive(root, "expires_in"), expires_in) != 0 || *expires_in <= 0 ||
      *expires_in > 366 * 86400.0) {
    cJSON_Delete(root);
    return stv_err_set(err, STV_EPARSE, "%s: expires_in: missing or not a number of seconds", what);
  }
  *token = stv_strdup(tok->valuestring);
  cJSON_Delete(root);
  return *token == NULL ? stv_err_set(err, STV_ENOMEM, "out of memory") : 0;
}

int stv__az_read_aad_error(const char *body, size_t len, char *msg, size_t size) {
  cJSON *root = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
  const cJSON *e = root != NULL ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
  const cJSON *d = root != NULL ? cJSON_GetObjectItemCaseSensitive(root, "error_description") : NULL;
  size_t n;
  msg[0] = '\0';
  if (!cJSON_IsString(e)) {
    cJSON_Delete(root);
    return STV_EPARSE;
  }
  snprintf(msg, size, "%s: %s", e->valuestring, cJSON_IsString(d) ? d->valuestring : "");
  n = strcspn(msg, "\r\n"); /* the first line: the rest is trace and correlation ids */
  msg[n] = '\0';
  cJSON_Delete(root);
  return 0;
}

static int contains_ci(const char *s, const char *word) {
  size_t n = strlen(word);
  for (; *s != '\0'; s++)
    if (strncasecmp(s, word, n) == 0) return 1;
  return 0;
}

int stv__az_code(long status, const char *code, const char *message) {
  static const char *const capacity[] = {"SkuNotAvailable",
                                         "AllocationFailed",
                                         "ZonalAllocationFailed",
                                         "OverconstrainedAllocationRequest",
                                         "OverconstrainedZonalAllocationRequest",
                                         "AllocationFailure"};
  size_t i;
  for (i = 0; i < sizeof(capacity) / sizeof(capacity[0]); i++)
    if (strcmp(code, capacity[i]) == 0) return STV_ECAPACITY;
  if (strcmp(code, "QuotaExceeded") == 0 ||
      (strcmp(code, "OperationNotAllowed") == 0 && message != NULL && contains_ci(message, "quota")))
    return STV_ELIMIT;
  if (status == 429 || strcmp(code, "TooManyRequests") == 0) return STV_ETHROTTLED;
  if (status == 404 || strcmp(code, "ResourceNotFound") == 0 || strcmp(code, "NotFound") == 0)
    return STV_ENOTFOUND;
  if (status == 400 || strcmp(code, "InvalidParameter") == 0 || strcmp(code, "OperationNotAllowed") == 0)
    return STV_EINVAL;
  return STV_EIO; /* 401, 403 (a missing role assignment can be fixed while we run), 409, 5xx: retry */
}
