/*
 * The catalogue loader: catalogue JSON (docs/catalog.md) to compact,
 * validated structs. Every error names the file, the instance type and the
 * field: "catalog.json: instance_types[3] \"m5.large\": offerings[1].price:
 * must be a non-negative number".
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pricing.h"

#define MAX_FILE_BYTES ((size_t)256 << 20)
#define MAX_RESOURCES 64   /* per instance type */
#define MAX_OFFERINGS 4096 /* per instance type */
#define MAX_PRICE 1e6      /* per hour; anything above is a unit mistake */
#define MAX_COUNT 1000000  /* reserved instances of one offering */
#define DEFAULT_PODS 110   /* kubelet's default maxPods */
#define DEFAULT_CURRENCY "USD"

#define KI ((int64_t)1 << 10)
#define MI ((int64_t)1 << 20)
#define GI ((int64_t)1 << 30)

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

static int oom(struct stv_err *err) {
  return stv_err_set(err, STV_ENOMEM, "out of memory");
}

static int is_alnum(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9');
}

int stv_valid_label_value(const char *s) {
  size_t n = strlen(s), i;
  if (n == 0) return 1;
  if (n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1])) return 0;
  for (i = 1; i + 1 < n; i++) {
    if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return 0;
  }
  return 1;
}

/* A DNS-1123 subdomain: at most 253 of [-.a-z0-9], alnum at the ends. */
static int valid_subdomain(const char *s, size_t n) {
  size_t i;
  if (n == 0 || n > 253) return 0;
  for (i = 0; i < n; i++) {
    char ch = s[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
    if (!ok && (i == 0 || i + 1 == n || (ch != '-' && ch != '.'))) return 0;
  }
  return 1;
}

int stv_valid_qualified_name(const char *s) {
  const char *slash = strchr(s, '/');
  const char *name = s;
  if (slash != NULL) {
    if (!valid_subdomain(s, (size_t)(slash - s))) return 0;
    name = slash + 1;
  }
  return name[0] != '\0' && stv_valid_label_value(name);
}

/*
 * Checks that obj has only the fields in names[0..n) and each at most
 * once, and stores each field's item (or NULL) in out[]. path prefixes the
 * field in messages ("offerings[1].").
 */
static int take_fields(const cJSON *obj, const char *const *names, int n,
                       const cJSON **out, const char *path,
                       struct stv_err *err) {
  const cJSON *it;
  int i;
  for (i = 0; i < n; i++) out[i] = NULL;
  cJSON_ArrayForEach(it, obj) {
    for (i = 0; i < n; i++) {
      if (strcmp(it->string, names[i]) == 0) break;
    }
    if (i == n)
      return stv_err_set(err, STV_EINVAL, "%s%s: unknown field", path,
                         it->string);
    if (out[i] != NULL)
      return stv_err_set(err, STV_EINVAL, "%s%s: duplicate field", path,
                         it->string);
    out[i] = it;
  }
  return 0;
}

/*
 * The array v (member name, NULL when absent) must be there and not empty,
 * with at most max elements (0: no limit); *n is its size and *out room for
 * as many elements of elem bytes, from c's arena.
 */
static int take_array(struct stv_catalog *c, const cJSON *v, const char *name, int max, size_t elem, void **out,
                      int *n, struct stv_err *err) {
  if (v == NULL) return stv_err_set(err, STV_EINVAL, "%s: missing", name);
  if (!cJSON_IsArray(v)) return stv_err_set(err, STV_EINVAL, "%s: must be an array", name);
  *n = cJSON_GetArraySize(v);
  if (*n == 0) return stv_err_set(err, STV_EINVAL, "%s: must not be empty", name);
  if (max > 0 && *n > max) return stv_err_set(err, STV_EINVAL, "%s: more than %d", name, max);
  if ((*out = stv_arena_alloc(&c->mem, (size_t)*n * elem)) == NULL) return oom(err);
  return 0;
}

/*
 * Reads a string field into *out (interned in pool). A missing field is an
 * error when required, else leaves *out alone. label_value asks for the
 * label value syntax, since the string ends up in a node label.
 */
static int take_string(struct stv_strpool *pool, const cJSON *v,
                       const char *path, const char *field, int required,
                       int label_value, const char **out, struct stv_err *err) {
  if (v == NULL) {
    if (!required) return 0;
    return stv_err_set(err, STV_EINVAL, "%s%s: missing", path, field);
  }
  if (!cJSON_IsString(v))
    return stv_err_set(err, STV_EINVAL, "%s%s: must be a string", path, field);
  if (v->valuestring[0] == '\0')
    return stv_err_set(err, STV_EINVAL, "%s%s: must not be empty", path, field);
  if (label_value && !stv_valid_label_value(v->valuestring))
    return stv_err_set(err, STV_EINVAL,
                       "%s%s: \"%.80s\" is not a valid label value (at most 63 "
                       "letters, digits, '-', '_' or '.', starting and "
                       "ending with a letter or digit)",
                       path, field, v->valuestring);
  *out = stv_strpool_get(pool, v->valuestring);
  return *out == NULL ? oom(err) : 0;
}

static int64_t tier(int64_t v, int64_t lo, int64_t width) {
  if (v <= lo) return 0;
  return v - lo < width ? v - lo : width;
}

static int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0); }

/* ---------------------------------------------------------------------- */
/* Resources and the overhead model                                       */

/* Millicores kube-reserved on a node of cpu millicores (GKE/EKS tiers). */
static int64_t reserved_cpu(int64_t cpu) {
  return ceil_div(tier(cpu, 0, 1000) * 6, 100) +    /* 6% of the first core */
         ceil_div(tier(cpu, 1000, 1000), 100) +     /* 1% of the second */
         ceil_div(tier(cpu, 2000, 2000), 200) +     /* 0.5% of the next 2 */
         ceil_div(tier(cpu, 4000, INT64_MAX), 400); /* 0.25% of the rest */
}

/* Bytes kube-reserved on a node of mem bytes (GKE tiers). */
static int64_t reserved_memory(int64_t mem) {
  return ceil_div(tier(mem, 0, 4 * GI), 4) +               /* 25% of 4 GiB */
         ceil_div(tier(mem, 4 * GI, 4 * GI), 5) +          /* 20% of next 4 */
         ceil_div(tier(mem, 8 * GI, 8 * GI), 10) +         /* 10% of next 8 */
         ceil_div(tier(mem, 16 * GI, 112 * GI) * 6, 100) + /* 6% of next 112 */
         ceil_div(tier(mem, 128 * GI, INT64_MAX), 50);     /* 2% of the rest */
}

#define EVICTION_MEMORY (100 * MI) /* memory.available<100Mi */
#define EVICTION_NODEFS_PCT 10     /* nodefs.available<10% */

/* One resource of a type while it is being read. */
struct res_entry {
  const char *name; /* interned */
  int64_t cap;
  int64_t alloc;
  int has_cap, has_alloc;
};

/* Fixed resources come first, in packer order; the rest by name. */
static int res_rank(const char *name) {
  static const char *const fixed[] = {"cpu", "memory", "ephemeral-storage",
                                      "pods"};
  int i;
  for (i = 0; i < 4; i++) {
    if (strcmp(name, fixed[i]) == 0) return i;
  }
  return 4;
}

static int res_cmp(const void *a, const void *b) {
  const struct res_entry *x = a, *y = b;
  int rx = res_rank(x->name), ry = res_rank(y->name);
  if (rx != ry) return rx < ry ? -1 : 1;
  return strcmp(x->name, y->name);
}

static struct res_entry *res_find(struct res_entry *v, int n,
                                  const char *name) {
  int i;
  for (i = 0; i < n; i++) {
    if (strcmp(v[i].name, name) == 0) return &v[i];
  }
  return NULL;
}

/*
 * Reads a capacity or allocatable object (field names it) into v[*n...]:
 * qualified resource names, unique, with non-negative quantities given as
 * strings (or plain JSON numbers).
 */
static int take_resources(struct stv_strpool *pool, const cJSON *obj,
                          const char *field, int is_alloc, struct res_entry *v,
                          int *n, struct stv_err *err) {
  const cJSON *it;
  if (!cJSON_IsObject(obj))
    return stv_err_set(err, STV_EINVAL, "%s: must be an object", field);
  cJSON_ArrayForEach(it, obj) {
    char num[64];
    const char *text;
    struct res_entry *e;
    int64_t value;
    int rc;
    if (!stv_valid_qualified_name(it->string))
      return stv_err_set(err, STV_EINVAL,
                         "%s: \"%.80s\" is not a valid resource name", field,
                         it->string);
    if (cJSON_IsString(it)) {
      text = it->valuestring;
    } else if (cJSON_IsNumber(it)) {
      /* Whole numbers exactly; others by their shortest usual decimal form
       * (0.1, not 0.10000000000000001, which would round up to 101m). */
      double d = it->valuedouble;
      if (d == floor(d) && fabs(d) < 9007199254740992.0)
        snprintf(num, sizeof(num), "%.0f", d);
      else
        snprintf(num, sizeof(num), "%.15g", d);
      text = num;
    } else {
      return stv_err_set(err, STV_EINVAL,
                         "%s.%s: must be a quantity string (\"2\", \"500m\", "
                         "\"8Gi\")",
                         field, it->string);
    }
    rc = stv_quantity_parse(text, strcmp(it->string, "cpu") == 0, &value, err);
    if (rc != 0) {
      /* Out of range is one more way to be an invalid quantity here. */
      if (err != NULL) {
        if (err->msg[0] == '\0')
          stv_err_set(err, rc, "invalid quantity \"%.80s\"", text);
        err->code = STV_EINVAL;
      }
      stv_err_prefix(err, "%s.%s", field, it->string);
      return STV_EINVAL;
    }
    if (value < 0)
      return stv_err_set(err, STV_EINVAL, "%s.%s: must not be negative", field,
                         it->string);
    e = res_find(v, *n, it->string);
    if (e == NULL) {
      if (*n == MAX_RESOURCES)
        return stv_err_set(err, STV_EINVAL, "%s: more than %d resources", field,
                           MAX_RESOURCES);
      e = &v[(*n)++];
      memset(e, 0, sizeof(*e));
      e->name = stv_strpool_get(pool, it->string);
      if (e->name == NULL) return oom(err);
    }
    if (is_alloc ? e->has_alloc : e->has_cap)
      return stv_err_set(err, STV_EINVAL, "%s.%s: duplicate resource", field,
                         it->string);
    if (is_alloc) {
      e->alloc = value;
      e->has_alloc = 1;
    } else {
      e->cap = value;
      e->has_cap = 1;
    }
  }
  return 0;
}

/*
 * Completes the resources of a type: defaults pods, checks capacity, and
 * derives the allocatable amounts not given from the overhead model
 * (docs/catalog.md): kube-reserved cpu and memory by tiers, the kubelet's
 * default hard eviction thresholds, and hugepages taken out of memory.
 */
static int finish_resources(struct stv_strpool *pool, struct res_entry *v,
                            int *n, struct stv_err *err) {
  struct res_entry *cpu = res_find(v, *n, "cpu");
  struct res_entry *mem = res_find(v, *n, "memory");
  struct res_entry *pods = res_find(v, *n, "pods");
  int64_t hugepages = 0;
  int i;

  if (cpu == NULL || !cpu->has_cap)
    return stv_err_set(err, STV_EINVAL, "capacity.cpu: missing");
  if (cpu->cap <= 0)
    return stv_err_set(err, STV_EINVAL, "capacity.cpu: must be positive");
  if (mem == NULL || !mem->has_cap)
    return stv_err_set(err, STV_EINVAL, "capacity.memory: missing");
  if (mem->cap <= 0)
    return stv_err_set(err, STV_EINVAL, "capacity.memory: must be positive");
  if (pods == NULL) {
    if (*n == MAX_RESOURCES)
      return stv_err_set(err, STV_EINVAL, "capacity: more than %d resources",
                         MAX_RESOURCES);
    pods = &v[(*n)++];
    memset(pods, 0, sizeof(*pods));
    pods->name = stv_strpool_get(pool, "pods");
    if (pods->name == NULL) return oom(err);
  }
  if (!pods->has_cap) {
    pods->cap = pods->has_alloc ? pods->alloc : DEFAULT_PODS;
    pods->has_cap = 1;
  }
  if (pods->cap <= 0)
    return stv_err_set(err, STV_EINVAL, "capacity.pods: must be positive");

  for (i = 0; i < *n; i++) {
    if (!v[i].has_cap)
      return stv_err_set(err, STV_EINVAL,
                         "allocatable.%s: not in capacity (list it there too)",
                         v[i].name);
    if (strncmp(v[i].name, "hugepages-", 10) == 0) {
      if (v[i].cap > INT64_MAX - hugepages)
        return stv_err_set(err, STV_EINVAL, "capacity.%s: too large",
                           v[i].name);
      hugepages += v[i].cap;
    }
  }
  for (i = 0; i < *n; i++) {
    struct res_entry *e = &v[i];
    if (e->has_alloc) {
      if (e->alloc > e->cap) {
        char a[32], c[32];
        int milli = e == cpu;
        int binary = e == mem || strcmp(e->name, "ephemeral-storage") == 0 ||
                     strncmp(e->name, "hugepages-", 10) == 0;
        return stv_err_set(
            err, STV_EINVAL, "allocatable.%s: %s exceeds capacity %s", e->name,
            stv_quantity_format(e->alloc, milli, binary, a, sizeof(a)),
            stv_quantity_format(e->cap, milli, binary, c, sizeof(c)));
      }
      continue;
    }
    if (e == cpu) {
      e->alloc = e->cap - reserved_cpu(e->cap);
    } else if (e == mem) {
      int64_t r = reserved_memory(e->cap);
      e->alloc = e->cap - r;
      e->alloc = e->alloc > EVICTION_MEMORY ? e->alloc - EVICTION_MEMORY : 0;
      e->alloc = e->alloc > hugepages ? e->alloc - hugepages : 0;
    } else if (strcmp(e->name, "ephemeral-storage") == 0) {
      e->alloc = e->cap - ceil_div(e->cap, 100 / EVICTION_NODEFS_PCT);
    } else {
      e->alloc = e->cap;
    }
    if (e->alloc < 0) e->alloc = 0;
  }
  qsort(v, (size_t)*n, sizeof(*v), res_cmp);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Labels and offerings                                                   */

static int label_cmp(const void *a, const void *b) {
  const struct stv_label *x = a, *y = b;
  return strcmp(x->key, y->key);
}

static int take_labels(struct stv_catalog *c, const cJSON *obj,
                       struct stv_labels *out, struct stv_err *err) {
  const cJSON *it;
  uint32_t i = 0, j;
  int n;
  if (!cJSON_IsObject(obj))
    return stv_err_set(err, STV_EINVAL, "labels: must be an object");
  n = cJSON_GetArraySize(obj);
  out->n = 0;
  out->kv = NULL;
  if (n == 0) return 0;
  out->kv = stv_arena_alloc(&c->mem, (size_t)n * sizeof(*out->kv));
  if (out->kv == NULL) return oom(err);
  cJSON_ArrayForEach(it, obj) {
    if (!stv_valid_qualified_name(it->string))
      return stv_err_set(err, STV_EINVAL,
                         "labels: \"%.80s\" is not a valid label key",
                         it->string);
    if (strcmp(it->string, "kubernetes.io/hostname") == 0)
      return stv_err_set(err, STV_EINVAL,
                         "labels.%s: each node gets its own; not a type label",
                         it->string);
    if (!cJSON_IsString(it))
      return stv_err_set(err, STV_EINVAL, "labels.%s: must be a string",
                         it->string);
    if (!stv_valid_label_value(it->valuestring))
      return stv_err_set(err, STV_EINVAL,
                         "labels.%s: \"%.80s\" is not a valid label value",
                         it->string, it->valuestring);
    out->kv[i].key = stv_strpool_get(&c->pool, it->string);
    out->kv[i].value = stv_strpool_get(&c->pool, it->valuestring);
    if (out->kv[i].key == NULL || out->kv[i].value == NULL) return oom(err);
    i++;
  }
  qsort(out->kv, i, sizeof(*out->kv), label_cmp);
  for (j = 1; j < i; j++) {
    if (out->kv[j].key == out->kv[j - 1].key)
      return stv_err_set(err, STV_EINVAL, "labels.%s: duplicate key",
                         out->kv[j].key);
  }
  out->n = i;
  return 0;
}

static const char *const offering_fields[] = {"capacity_type", "zone", "price",
                                              "interruption_rate", "count"};
enum { OF_TYPE, OF_ZONE, OF_PRICE, OF_RATE, OF_COUNT, OF_N };

static int take_offering(struct stv_catalog *c, const cJSON *obj, int j,
                         struct stv_offering *o, struct stv_err *err) {
  const cJSON *f[OF_N];
  char path[48];
  int rc;

  snprintf(path, sizeof(path), "offerings[%d].", j);
  if (!cJSON_IsObject(obj))
    return stv_err_set(err, STV_EINVAL, "offerings[%d]: must be an object", j);
  rc = take_fields(obj, offering_fields, OF_N, f, path, err);
  if (rc != 0) return rc;

  if (f[OF_TYPE] == NULL)
    return stv_err_set(err, STV_EINVAL, "%scapacity_type: missing", path);
  if (!cJSON_IsString(f[OF_TYPE]) ||
      stv_capacity_type_parse(f[OF_TYPE]->valuestring, &o->capacity_type) != 0)
    return stv_err_set(err, STV_EINVAL,
                       "%scapacity_type: unknown \"%.40s\" (expected "
                       "reserved, spot or on-demand)",
                       path,
                       cJSON_IsString(f[OF_TYPE]) ? f[OF_TYPE]->valuestring
                                                  : "(not a string)");
  rc = take_string(&c->pool, f[OF_ZONE], path, "zone", 1, 1, &o->zone, err);
  if (rc != 0) return rc;

  if (f[OF_PRICE] == NULL)
    return stv_err_set(err, STV_EINVAL, "%sprice: missing", path);
  if (!cJSON_IsNumber(f[OF_PRICE]) || !isfinite(f[OF_PRICE]->valuedouble) ||
      f[OF_PRICE]->valuedouble < 0)
    return stv_err_set(err, STV_EINVAL,
                       "%sprice: must be a non-negative number", path);
  o->price = f[OF_PRICE]->valuedouble;
  if (o->price > MAX_PRICE)
    return stv_err_set(err, STV_EINVAL,
                       "%sprice: %g per hour is not plausible (at most %g)",
                       path, o->price, MAX_PRICE);

  o->interruption_rate = -1;
  if (f[OF_RATE] != NULL) {
    double r = f[OF_RATE]->valuedouble;
    if (o->capacity_type != STV_CT_SPOT)
      return stv_err_set(err, STV_EINVAL,
                         "%sinterruption_rate: only spot offerings have one",
                         path);
    if (!cJSON_IsNumber(f[OF_RATE]) || !(r >= 0 && r <= 1))
      return stv_err_set(err, STV_EINVAL,
                         "%sinterruption_rate: must be a number from 0 to 1",
                         path);
    o->interruption_rate = r;
  }

  o->count = -1;
  if (o->capacity_type == STV_CT_RESERVED) {
    double n;
    if (f[OF_COUNT] == NULL)
      return stv_err_set(err, STV_EINVAL,
                         "%scount: missing (reserved offerings must say how "
                         "many instances are held)",
                         path);
    n = f[OF_COUNT]->valuedouble;
    if (!cJSON_IsNumber(f[OF_COUNT]) || !(n >= 0 && n <= MAX_COUNT) ||
        n != floor(n))
      return stv_err_set(err, STV_EINVAL,
                         "%scount: must be a whole number from 0 to %d", path,
                         MAX_COUNT);
    o->count = (int64_t)n;
  } else if (f[OF_COUNT] != NULL) {
    return stv_err_set(err, STV_EINVAL,
                       "%scount: only reserved offerings have one", path);
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Instance types and the document                                        */

static const char *const type_fields[] = {"name",   "arch",      "capacity", "allocatable",
                                          "labels", "offerings", "burstable"};
enum { TF_NAME, TF_ARCH, TF_CAP, TF_ALLOC, TF_LABELS, TF_OFF, TF_BURST, TF_N };

static const char *const burst_fields[] = {"baseline", "surplus_price"};
enum { BF_BASE, BF_SURPLUS, BF_N };

/*
 * Reads a type's "burstable" object: the baseline (the share of each vCPU
 * the type sustains, above 0 and below 1) and, optionally, the price per
 * vCPU-hour of the surplus credits spent above it in unlimited mode.
 */
static int take_burstable(const cJSON *obj, struct stv_instance_type *t, struct stv_err *err) {
  const cJSON *f[BF_N];
  int rc;
  if (!cJSON_IsObject(obj)) return stv_err_set(err, STV_EINVAL, "burstable: must be an object");
  rc = take_fields(obj, burst_fields, BF_N, f, "burstable.", err);
  if (rc != 0) return rc;
  if (f[BF_BASE] == NULL) return stv_err_set(err, STV_EINVAL, "burstable.baseline: missing");
  if (!cJSON_IsNumber(f[BF_BASE]) || !(f[BF_BASE]->valuedouble > 0 && f[BF_BASE]->valuedouble < 1))
    return stv_err_set(err, STV_EINVAL,
                       "burstable.baseline: must be a number above 0 and below 1 (the share of each vCPU the type sustains)");
  t->baseline = f[BF_BASE]->valuedouble;
  t->surplus_price = -1;
  if (f[BF_SURPLUS] != NULL) {
    double v = f[BF_SURPLUS]->valuedouble;
    if (!cJSON_IsNumber(f[BF_SURPLUS]) || !(v >= 0 && v <= MAX_PRICE))
      return stv_err_set(err, STV_EINVAL, "burstable.surplus_price: must be a number from 0 to %g (per vCPU-hour)",
                         MAX_PRICE);
    t->surplus_price = v;
  }
  return 0;
}

/*
 * Reads one instance type into t. t->name is set as soon as it is known,
 * so that the caller can name the type in messages.
 */
static int take_type(struct stv_catalog *c, const cJSON *obj,
                     struct stv_instance_type *t, struct stv_err *err) {
  struct res_entry res[MAX_RESOURCES];
  const cJSON *f[TF_N];
  const cJSON *it;
  int nres = 0, noff, i, j, rc;

  if (!cJSON_IsObject(obj))
    return stv_err_set(err, STV_EINVAL, "must be an object");
  /* The name first, whatever the field order, to label later messages. */
  rc = take_string(&c->pool, cJSON_GetObjectItemCaseSensitive(obj, "name"), "",
                   "name", 1, 1, &t->name, err);
  if (rc != 0) return rc;
  rc = take_fields(obj, type_fields, TF_N, f, "", err);
  if (rc != 0) return rc;
  rc = take_string(&c->pool, f[TF_ARCH], "", "arch", 1, 1, &t->arch, err);
  if (rc != 0) return rc;

  if (f[TF_CAP] == NULL)
    return stv_err_set(err, STV_EINVAL, "capacity: missing");
  rc = take_resources(&c->pool, f[TF_CAP], "capacity", 0, res, &nres, err);
  if (rc != 0) return rc;
  if (f[TF_ALLOC] != NULL) {
    rc = take_resources(&c->pool, f[TF_ALLOC], "allocatable", 1, res, &nres,
                        err);
    if (rc != 0) return rc;
  }
  rc = finish_resources(&c->pool, res, &nres, err);
  if (rc != 0) return rc;
  t->nres = (uint32_t)nres;
  t->capacity = stv_arena_alloc(&c->mem, (size_t)nres * sizeof(*t->capacity));
  t->allocatable =
      stv_arena_alloc(&c->mem, (size_t)nres * sizeof(*t->allocatable));
  if (t->capacity == NULL || t->allocatable == NULL) return oom(err);
  for (i = 0; i < nres; i++) {
    t->capacity[i].name = t->allocatable[i].name = res[i].name;
    t->capacity[i].value = res[i].cap;
    t->allocatable[i].value = res[i].alloc;
  }

  if (f[TF_LABELS] != NULL) {
    rc = take_labels(c, f[TF_LABELS], &t->labels, err);
    if (rc != 0) return rc;
  }
  t->baseline = 0;
  t->surplus_price = -1;
  if (f[TF_BURST] != NULL && (rc = take_burstable(f[TF_BURST], t, err)) != 0) return rc;

  rc = take_array(c, f[TF_OFF], "offerings", MAX_OFFERINGS, sizeof(*t->off), (void **)&t->off, &noff, err);
  if (rc != 0) return rc;
  j = 0;
  cJSON_ArrayForEach(it, f[TF_OFF]) {
    struct stv_offering *o = &t->off[j];
    rc = take_offering(c, it, j, o, err);
    if (rc != 0) return rc;
    for (i = 0; i < j; i++) {
      if (t->off[i].capacity_type == o->capacity_type &&
          t->off[i].zone == o->zone)
        return stv_err_set(err, STV_EINVAL,
                           "offerings[%d]: duplicate of offerings[%d] (%s in "
                           "%s)",
                           j, i, stv_capacity_type_name(o->capacity_type),
                           o->zone);
    }
    j++;
  }
  t->noff = (uint32_t)noff;
  return 0;
}

struct name_index {
  const char *name;
  size_t index;
};

static int name_index_cmp(const void *a, const void *b) {
  const struct name_index *x = a, *y = b;
  int r = strcmp(x->name, y->name);
  if (r != 0) return r;
  return x->index < y->index ? -1 : x->index > y->index;
}

static int type_cmp(const void *a, const void *b) {
  const struct stv_instance_type *x = a, *y = b;
  return strcmp(x->name, y->name);
}

/* Rejects duplicate names (naming the first repeat in file order). */
static int check_unique_names(const struct stv_catalog *c,
                              struct stv_err *err) {
  struct name_index *v;
  size_t i, dup = 0, first = 0;
  int found = 0;
  if (c->ntypes < 2) return 0;
  v = stv_malloc(c->ntypes * sizeof(*v));
  if (v == NULL) return oom(err);
  for (i = 0; i < c->ntypes; i++) {
    v[i].name = c->types[i].name;
    v[i].index = i;
  }
  qsort(v, c->ntypes, sizeof(*v), name_index_cmp);
  for (i = 1; i < c->ntypes; i++) {
    if (v[i].name == v[i - 1].name && (!found || v[i].index < dup)) {
      size_t k = i - 1;
      while (k > 0 && v[k - 1].name == v[i].name) k--;
      dup = v[i].index;
      first = v[k].index;
      found = 1;
    }
  }
  stv_free(v);
  if (!found) return 0;
  return stv_err_set(err, STV_EINVAL,
                     "instance_types[%zu] \"%s\": name: duplicate of "
                     "instance_types[%zu]",
                     dup, c->types[dup].name, first);
}

static const char *const doc_fields[] = {"provider", "region", "currency",
                                         "source", "instance_types"};
enum { DF_PROVIDER, DF_REGION, DF_CURRENCY, DF_SOURCE, DF_TYPES, DF_N };

static int take_catalog(struct stv_catalog *c, const cJSON *root,
                        struct stv_err *err) {
  const cJSON *f[DF_N];
  const cJSON *it;
  size_t i;
  int n, rc;

  if (!cJSON_IsObject(root))
    return stv_err_set(err, STV_EINVAL, "must be a JSON object");
  rc = take_fields(root, doc_fields, DF_N, f, "", err);
  if (rc != 0) return rc;
  rc = take_string(&c->pool, f[DF_PROVIDER], "", "provider", 1, 1, &c->provider,
                   err);
  if (rc != 0) return rc;
  rc = take_string(&c->pool, f[DF_REGION], "", "region", 1, 1, &c->region, err);
  if (rc != 0) return rc;
  c->currency = stv_strpool_get(&c->pool, DEFAULT_CURRENCY);
  if (c->currency == NULL) return oom(err);
  rc = take_string(&c->pool, f[DF_CURRENCY], "", "currency", 0, 1, &c->currency,
                   err);
  if (rc != 0) return rc;
  if (f[DF_SOURCE] != NULL && !cJSON_IsString(f[DF_SOURCE]))
    return stv_err_set(err, STV_EINVAL, "source: must be a string");

  rc = take_array(c, f[DF_TYPES], "instance_types", 0, sizeof(*c->types), (void **)&c->types, &n, err);
  if (rc != 0) return rc;
  i = 0;
  cJSON_ArrayForEach(it, f[DF_TYPES]) {
    struct stv_instance_type *t = &c->types[i];
    rc = take_type(c, it, t, err);
    if (rc != 0) {
      if (t->name != NULL)
        stv_err_prefix(err, "instance_types[%zu] \"%s\"", i, t->name);
      else
        stv_err_prefix(err, "instance_types[%zu]", i);
      return rc;
    }
    i++;
  }
  c->ntypes = (size_t)n;
  rc = check_unique_names(c, err);
  if (rc != 0) return rc;
  qsort(c->types, c->ntypes, sizeof(*c->types), type_cmp);
  return 0;
}

/* Says where cJSON stopped, as "line L, column C". */
static void where(const char *text, size_t len, const char *end, char *buf,
                  size_t size) {
  size_t line = 1, col = 1;
  const char *p;
  if (end == NULL || end < text || end > text + len) {
    snprintf(buf, size, "somewhere");
    return;
  }
  for (p = text; p < end; p++) {
    if (*p == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  snprintf(buf, size, "line %zu, column %zu", line, col);
}

int stv_catalog_load_json(struct stv_catalog *c, const char *name_for_errors,
                          const char *text, size_t len, struct stv_err *err) {
  const char *end = NULL;
  cJSON *root;
  int rc;

  memset(c, 0, sizeof(*c));
  stv_strpool_init(&c->pool);
  stv_arena_init(&c->mem);
  if (err != NULL) {
    err->code = 0;
    err->msg[0] = '\0';
  }

  root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (root == NULL && stv_text_looks_like_yaml(text, len)) {
    rc = stv_err_set(
        err, STV_EPARSE,
        "%s: looks like YAML; this file must be JSON (the catalogue format is in docs/catalog.md)",
        name_for_errors);
    goto out;
  }
  if (root == NULL) {
    char pos[64];
    where(text, len, end, pos, sizeof(pos));
    rc = stv_err_set(err, STV_EPARSE, "%s: %s: malformed JSON", name_for_errors,
                     pos);
    goto out;
  }
  /* cJSON stops after the first value; anything but space after it is bad. */
  while (end < text + len &&
         (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
    end++;
  if (end < text + len && *end != '\0') {
    char pos[64];
    where(text, len, end, pos, sizeof(pos));
    rc = stv_err_set(err, STV_EPARSE, "%s: %s: text after the JSON document",
                     name_for_errors, pos);
    goto out;
  }
  rc = take_catalog(c, root, err);
  if (rc != 0) stv_err_prefix(err, "%s", name_for_errors);

out:
  cJSON_Delete(root);
  if (rc != 0) stv_catalog_close(c);
  return rc;
}

void stv_catalog_close(struct stv_catalog *c) {
  stv_arena_reset(&c->mem);
  stv_strpool_close(&c->pool);
  memset(c, 0, sizeof(*c));
}

/*
 * Reads the whole file at path into a fresh buffer (caller frees); a missing
 * file is STV_ENOTFOUND without a message, for the caller to explain.
 */
static int read_file(const char *path, char **out, size_t *outlen,
                     struct stv_err *err) {
  int rc = stv_read_file(path, MAX_FILE_BYTES, out, outlen, err);
  return rc == -ENOENT ? STV_ENOTFOUND : rc;
}

/* Records where c came from (docs/prices-live.md); on failure closes c. */
static int set_origin(struct stv_catalog *c, const char *spec, const char *data_date, struct stv_err *err) {
  c->origin = stv_strpool_get(&c->pool, spec);
  c->data_date = data_date;
  if (c->origin != NULL) return 0;
  stv_catalog_close(c);
  return oom(err);
}

int stv_catalog_load(struct stv_catalog *c, const char *spec,
                     struct stv_err *err) {
  const struct stv__embedded_catalog *e = stv__embedded_find(spec);
  char *text = NULL;
  size_t len = 0;
  int rc;

  memset(c, 0, sizeof(*c));
  if (e != NULL) {
    rc = stv__embedded_load(c, e, err);
    if (rc == 0) rc = set_origin(c, spec, stv__embedded_data_date(spec), err);
    return rc;
  }
  rc = read_file(spec, &text, &len, err);
  if (rc == STV_ENOTFOUND) {
    if (stv__embedded_suggest(spec, err) != 0) return STV_ENOTFOUND;
    return stv_err_set(err, STV_ENOTFOUND,
                       "%s: no such catalogue: not an embedded one (aws:REGION, gcp:REGION or azure:REGION, "
                       "such as %s; docs/catalog.md lists them) nor an existing file",
                       spec, stv__embedded_catalogs[0].name);
  }
  if (rc != 0) return rc;
  rc = stv_catalog_load_json(c, spec, text, len, err);
  stv_free(text);
  if (rc == 0) rc = set_origin(c, spec, NULL, err);
  return rc;
}

const struct stv_instance_type *stv_catalog_find(const struct stv_catalog *c,
                                                 const char *name) {
  size_t lo = 0, hi = c->ntypes;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int r = strcmp(c->types[mid].name, name);
    if (r == 0) return &c->types[mid];
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

int64_t stv_resource_get(const struct stv_resource *res, uint32_t nres,
                         const char *name) {
  uint32_t i;
  for (i = 0; i < nres; i++) {
    if (strcmp(res[i].name, name) == 0) return res[i].value;
  }
  return 0;
}

int stv_catalog_price(const struct stv_catalog *c, const char *type, enum stv_capacity_type ct,
                      const char *zone, double *price, int *zone_mean, char *reason, size_t size) {
  const struct stv_instance_type *it = type != NULL ? stv_catalog_find(c, type) : NULL;
  double sum = 0;
  size_t nsame = 0;
  uint32_t k;
  *zone_mean = 0;
  if (it == NULL) {
    if (reason != NULL)
      snprintf(reason, size, type ? "instance type %s is not in the catalogue" : "no instance type label%s",
               type ? type : "");
    return STV_ENOTFOUND;
  }
  for (k = 0; k < it->noff; k++) {
    const struct stv_offering *off = &it->off[k];
    if (off->capacity_type != ct) continue;
    if (zone != NULL && off->zone != NULL && strcmp(off->zone, zone) == 0) {
      *price = off->price;
      return 0;
    }
    sum += off->price;
    nsame++;
  }
  if (nsame == 0) {
    if (reason != NULL)
      snprintf(reason, size, "the catalogue has no %s offering of %s", stv_capacity_type_name(ct), type);
    return STV_ENOTFOUND;
  }
  *price = sum / (double)nsame;
  *zone_mean = 1;
  return 0;
}
