/*
 * Kubernetes objects to the compact snapshot model.
 *
 * Each item is read field by field into scratch structures allocated from
 * a per-item arena (reset after the item); the stv_snapshot_add_* and
 * stv_snapshot_intern_class functions copy what they keep, and every string
 * is interned in the snapshot's pool. Errors carry the item and the JSON
 * path of the field, built only when an error is reported from a chain of
 * path segments on the stack.
 */
#include "snapshot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonstream.h"
#include "kubeinput.h"

/* ---------------------------------------------------------------------- */
/* JSON paths and error messages                                          */

/* One segment of a JSON path: ".key", or "[idx]" when key is NULL. */
struct jpath {
  const struct jpath *up;
  const char *key;
  long idx;
};

/* What is being read, for error messages. */
struct rd {
  struct stv_snapshot *s;
  struct stv_arena *tmp; /* per-item scratch */
  struct stv_snapshot_read_stats *stats;
  struct stv_err *err;
  const char *kind; /* the item's, NULL until known */
  const char *ns;   /* NULL for cluster-scoped kinds */
  const char *name;
  const char *path;     /* the file being read, NULL for single items */
  long index;           /* the item's index in it */
  long replace;         /* index of the earlier version this item replaces, or -1 */
  struct stv_seen seen; /* this item's version, recorded once it is read */
};

static void appendv(char *buf, size_t size, size_t *n, const char *fmt, va_list ap) {
  int k;
  if (*n + 1 >= size) return;
  k = vsnprintf(buf + *n, size - *n, fmt, ap);
  if (k < 0) return;
  *n += (size_t)k;
  if (*n >= size) *n = size - 1;
}

static void appendf(char *buf, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char *buf, size_t size, size_t *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  appendv(buf, size, n, fmt, ap);
  va_end(ap);
}

static void path_put(const struct jpath *p, char *buf, size_t size, size_t *n) {
  if (p == NULL) return;
  path_put(p->up, buf, size, n);
  if (p->key != NULL)
    appendf(buf, size, n, "%s%s", p->up != NULL ? "." : "", p->key);
  else
    appendf(buf, size, n, "[%ld]", p->idx);
}

/*
 * Sets r->err to code and "<Kind> <ns>/<name>: <path>: <message>", leaving
 * out the parts not known; returns code. The stream reader puts
 * "<file>: items[<i>] " in front.
 */
static int fail(struct rd *r, int code, const struct jpath *p, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct rd *r, int code, const struct jpath *p, const char *fmt, ...) {
  char msg[STV_ERR_MSG_MAX];
  size_t n = 0;
  va_list ap;
  msg[0] = '\0';
  if (r->kind != NULL) {
    appendf(msg, sizeof(msg), &n, "%s", r->kind);
    if (r->name != NULL)
      appendf(msg, sizeof(msg), &n, " %s%s%s", r->ns != NULL ? r->ns : "", r->ns != NULL ? "/" : "",
              r->name);
  }
  if (n > 0) appendf(msg, sizeof(msg), &n, ": ");
  if (p != NULL) {
    path_put(p, msg, sizeof(msg), &n);
    appendf(msg, sizeof(msg), &n, ": ");
  }
  va_start(ap, fmt);
  appendv(msg, sizeof(msg), &n, fmt, ap);
  va_end(ap);
  stv_err_set(r->err, code, "%s", msg);
  return code;
}

static int oom(struct rd *r) { return fail(r, STV_ENOMEM, NULL, "out of memory"); }

/* A value quoted for a message: escaped, and cut after QUOTE_MAX bytes. */
#define QUOTE_MAX 64
struct qbuf {
  char b[4 * QUOTE_MAX + 8];
};

static const char *quote(const char *s, struct qbuf *q) {
  size_t n = 0, i;
  q->b[0] = '\0';
  for (i = 0; s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == QUOTE_MAX) {
      appendf(q->b, sizeof(q->b), &n, "...");
      break;
    }
    if (c == '"' || c == '\\')
      appendf(q->b, sizeof(q->b), &n, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      appendf(q->b, sizeof(q->b), &n, "\\x%02x", c);
    else
      appendf(q->b, sizeof(q->b), &n, "%c", c);
  }
  return q->b;
}

/* ---------------------------------------------------------------------- */
/* Memory                                                                 */

static const char *intern(struct rd *r, const char *str) {
  return stv_strpool_get(&r->s->pool, str);
}

/* Scratch array of n > 0 elements, zeroed; NULL when out of memory. */
static void *scratch(struct rd *r, size_t n, size_t elem) {
  if (n == 0) n = 1;
  if (n > SIZE_MAX / elem) return NULL;
  return stv_arena_alloc(r->tmp, n * elem);
}

/* ---------------------------------------------------------------------- */
/* Typed access to JSON members; JSON null counts as absent               */

enum jtype { JT_OBJECT, JT_ARRAY, JT_STRING, JT_BOOL, JT_NUMBER };

static const char *const jtype_name[] = {"an object", "an array", "a string", "a boolean",
                                         "a number"};

static int jtype_is(const cJSON *c, enum jtype t) {
  switch (t) {
  case JT_OBJECT:
    return cJSON_IsObject(c);
  case JT_ARRAY:
    return cJSON_IsArray(c);
  case JT_STRING:
    return cJSON_IsString(c) && c->valuestring != NULL;
  case JT_BOOL:
    return cJSON_IsBool(c);
  case JT_NUMBER:
    return cJSON_IsNumber(c);
  }
  return 0;
}

static const cJSON *member(const cJSON *obj, const char *key) {
  const cJSON *c;
  if (obj == NULL) return NULL;
  c = cJSON_GetObjectItemCaseSensitive(obj, key);
  return c != NULL && !cJSON_IsNull(c) ? c : NULL;
}

/* Sets *out to obj.key when present; fails when it has another type. */
static int get(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up,
               enum jtype t, const cJSON **out) {
  const cJSON *c = member(obj, key);
  *out = NULL;
  if (c == NULL) return 0;
  if (!jtype_is(c, t)) {
    struct jpath p = {up, key, 0};
    return fail(r, STV_EPARSE, &p, "not %s", jtype_name[t]);
  }
  *out = c;
  return 0;
}

/* An optional string member; *out is NULL when absent. */
static int get_str(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up,
                   const char **out) {
  const cJSON *c;
  int rc = get(r, obj, key, up, JT_STRING, &c);
  *out = c != NULL ? c->valuestring : NULL;
  return rc;
}

/* A required, non-empty string member. */
static int need_str(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up,
                    const char **out) {
  int rc = get_str(r, obj, key, up, out);
  struct jpath p = {up, key, 0};
  if (rc != 0) return rc;
  if (*out == NULL) {
    fail(r, STV_EPARSE, &p, "missing");
    return STV_EPARSE;
  }
  if (**out == '\0') return fail(r, STV_EINVAL, &p, "must not be empty");
  return 0;
}

static int get_bool(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up,
                    int *out) {
  const cJSON *c;
  int rc = get(r, obj, key, up, JT_BOOL, &c);
  *out = c != NULL && cJSON_IsTrue(c);
  return rc;
}

/* An optional 32-bit integer member; *present says whether it was there. */
static int get_int32(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up,
                     int *present, int32_t *out) {
  const cJSON *c;
  struct jpath p = {up, key, 0};
  int rc = get(r, obj, key, up, JT_NUMBER, &c);
  *present = 0;
  *out = 0;
  if (rc != 0 || c == NULL) return rc;
  if (!(c->valuedouble >= -2147483648.0 && c->valuedouble <= 2147483647.0) ||
      (double)(int32_t)c->valuedouble != c->valuedouble)
    return fail(r, STV_EPARSE, &p, "not a 32-bit integer");
  *present = 1;
  *out = (int32_t)c->valuedouble;
  return 0;
}

/* Checks that every element of the array a is a string. */
static int check_strings(struct rd *r, const cJSON *a, const struct jpath *p) {
  const cJSON *e;
  long i = 0;
  cJSON_ArrayForEach(e, a) {
    if (!jtype_is(e, JT_STRING)) {
      struct jpath pe = {p, NULL, i};
      return fail(r, STV_EPARSE, &pe, "not a string");
    }
    i++;
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Labels and selectors                                                   */

static int label_cmp(const void *a, const void *b) {
  return strcmp(((const struct stv_label *)a)->key, ((const struct stv_label *)b)->key);
}

/* Reads a map of strings (obj may be NULL) as a sorted label set. */
static int read_string_map(struct rd *r, const cJSON *obj, const struct jpath *p,
                           struct stv_labels *out) {
  const cJSON *c;
  uint32_t n = 0, i;
  out->n = 0;
  out->kv = NULL;
  if (obj == NULL || obj->child == NULL) return 0;
  out->kv = scratch(r, (size_t)cJSON_GetArraySize(obj), sizeof(*out->kv));
  if (out->kv == NULL) return oom(r);
  cJSON_ArrayForEach(c, obj) {
    struct jpath pk = {p, c->string, 0};
    if (!jtype_is(c, JT_STRING)) return fail(r, STV_EPARSE, &pk, "not a string");
    out->kv[n].key = intern(r, c->string);
    out->kv[n].value = intern(r, c->valuestring);
    if (out->kv[n].key == NULL || out->kv[n].value == NULL) return oom(r);
    n++;
  }
  qsort(out->kv, n, sizeof(*out->kv), label_cmp);
  for (i = 1; i < n; i++) {
    if (out->kv[i].key == out->kv[i - 1].key) {
      struct qbuf q;
      return fail(r, STV_EPARSE, p, "duplicate key \"%s\"", quote(out->kv[i].key, &q));
    }
  }
  out->n = n;
  return 0;
}

/* A one-value requirement "key In (value)" or "key NotIn (value)". */
static int one_value_req(struct rd *r, const char *key, enum stv_op op, const char *value,
                         struct stv_requirement *out) {
  const char **v = scratch(r, 1, sizeof(*v));
  if (v == NULL) return oom(r);
  v[0] = value;
  out->key = key;
  out->op = op;
  out->nvalues = 1;
  out->values = v;
  return 0;
}

/* Turns a sorted map into "key In (value)" requirements; reserves extra. */
static int map_to_reqs(struct rd *r, const struct stv_labels *m, uint32_t extra,
                       struct stv_selector *out) {
  uint32_t i;
  out->n = 0;
  out->reqs = NULL;
  if (m->n + extra == 0) return 0;
  out->reqs = scratch(r, (size_t)m->n + extra, sizeof(*out->reqs));
  if (out->reqs == NULL) return oom(r);
  for (i = 0; i < m->n; i++) {
    int rc = one_value_req(r, m->kv[i].key, STV_OP_IN, m->kv[i].value, &out->reqs[i]);
    if (rc != 0) return rc;
  }
  out->n = m->n;
  return 0;
}

/* Where a requirement appears; each allows its own operators. */
enum expr_kind {
  EXPR_LABEL, /* label selectors: In NotIn Exists DoesNotExist */
  EXPR_NODE,  /* node selector matchExpressions: also Gt Lt */
  EXPR_FIELD  /* node selector matchFields: metadata.name In/NotIn one value */
};

static const char *const op_name[] = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"};

/* Parses a whole decimal int64, as strconv.ParseInt(s, 10, 64) does. */
static int is_int64(const char *s) {
  char *end;
  if (*s == '\0' || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
    return 0;
  errno = 0;
  (void)strtoll(s, &end, 10);
  return errno == 0 && *end == '\0';
}

static int read_requirement(struct rd *r, const cJSON *e, const struct jpath *p,
                            enum expr_kind kind, struct stv_requirement *out) {
  struct jpath pk = {p, "key", 0}, po = {p, "operator", 0}, pv = {p, "values", 0};
  const char *key, *opname;
  const cJSON *vals, *v;
  struct qbuf q;
  uint32_t nv, i;
  int op = -1, rc;

  if (!cJSON_IsObject(e)) return fail(r, STV_EPARSE, p, "not an object");
  if ((rc = need_str(r, e, "key", p, &key)) != 0) return rc;
  if ((rc = need_str(r, e, "operator", p, &opname)) != 0) return rc;
  if ((rc = get(r, e, "values", p, JT_ARRAY, &vals)) != 0) return rc;
  for (i = 0; i < sizeof(op_name) / sizeof(op_name[0]); i++)
    if (strcmp(opname, op_name[i]) == 0) op = (int)i;
  if (op < 0) return fail(r, STV_EINVAL, &po, "unknown operator \"%s\"", quote(opname, &q));
  if (kind == EXPR_FIELD) {
    if (strcmp(key, "metadata.name") != 0)
      return fail(r, STV_EINVAL, &pk, "unsupported field \"%s\" (only metadata.name)",
                  quote(key, &q));
    if (op != STV_OP_IN && op != STV_OP_NOT_IN)
      return fail(r, STV_EINVAL, &po, "operator %s not allowed in matchFields (In or NotIn)",
                  op_name[op]);
  }
  if (kind == EXPR_LABEL && (op == STV_OP_GT || op == STV_OP_LT))
    return fail(r, STV_EINVAL, &po,
                "operator %s not allowed in a label selector (In, NotIn, Exists or "
                "DoesNotExist)",
                op_name[op]);
  nv = vals != NULL ? (uint32_t)cJSON_GetArraySize(vals) : 0;
  switch (op) {
  case STV_OP_IN:
  case STV_OP_NOT_IN:
    if (kind == EXPR_FIELD && nv != 1)
      return fail(r, STV_EINVAL, &pv, "must have exactly one value in matchFields");
    if (nv == 0) return fail(r, STV_EINVAL, &pv, "must not be empty for operator %s", op_name[op]);
    break;
  case STV_OP_EXISTS:
  case STV_OP_DOES_NOT_EXIST:
    if (nv != 0) return fail(r, STV_EINVAL, &pv, "must be empty for operator %s", op_name[op]);
    break;
  default:
    if (nv != 1)
      return fail(r, STV_EINVAL, &pv, "must have exactly one value for operator %s", op_name[op]);
    break;
  }
  if ((rc = check_strings(r, vals, &pv)) != 0) return rc;
  out->key = intern(r, key);
  if (out->key == NULL) return oom(r);
  out->op = (enum stv_op)op;
  out->nvalues = nv;
  out->values = NULL;
  if (nv == 0) return 0;
  out->values = scratch(r, nv, sizeof(*out->values));
  if (out->values == NULL) return oom(r);
  i = 0;
  cJSON_ArrayForEach(v, vals) {
    if ((op == STV_OP_GT || op == STV_OP_LT) && !is_int64(v->valuestring)) {
      struct jpath pe = {&pv, NULL, (long)i};
      return fail(r, STV_EINVAL, &pe, "not an integer: \"%s\"", quote(v->valuestring, &q));
    }
    out->values[i] = intern(r, v->valuestring);
    if (out->values[i] == NULL) return oom(r);
    i++;
  }
  return 0;
}

/* Reads an array of requirements (arr may be NULL) into sel. */
static int read_requirements(struct rd *r, const cJSON *arr, const struct jpath *p,
                             enum expr_kind kind, struct stv_selector *sel) {
  const cJSON *e;
  sel->n = 0;
  sel->reqs = NULL;
  if (arr == NULL || arr->child == NULL) return 0;
  sel->reqs = scratch(r, (size_t)cJSON_GetArraySize(arr), sizeof(*sel->reqs));
  if (sel->reqs == NULL) return oom(r);
  cJSON_ArrayForEach(e, arr) {
    struct jpath pe = {p, NULL, (long)sel->n};
    int rc = read_requirement(r, e, &pe, kind, &sel->reqs[sel->n]);
    if (rc != 0) return rc;
    sel->n++;
  }
  return 0;
}

/*
 * Reads a metav1.LabelSelector object: matchLabels (as In requirements in
 * key order) then matchExpressions, with room for extra more requirements.
 */
static int read_label_selector(struct rd *r, const cJSON *obj, const struct jpath *p,
                               uint32_t extra, struct stv_selector *out) {
  struct jpath pl = {p, "matchLabels", 0}, pe = {p, "matchExpressions", 0};
  const cJSON *ml, *me, *e;
  struct stv_labels m;
  uint32_t ne;
  int rc;

  if ((rc = get(r, obj, "matchLabels", p, JT_OBJECT, &ml)) != 0) return rc;
  if ((rc = get(r, obj, "matchExpressions", p, JT_ARRAY, &me)) != 0) return rc;
  if ((rc = read_string_map(r, ml, &pl, &m)) != 0) return rc;
  ne = me != NULL ? (uint32_t)cJSON_GetArraySize(me) : 0;
  if ((rc = map_to_reqs(r, &m, ne + extra, out)) != 0) return rc;
  cJSON_ArrayForEach(e, me) {
    struct jpath pi = {&pe, NULL, (long)(out->n - m.n)};
    if ((rc = read_requirement(r, e, &pi, EXPR_LABEL, &out->reqs[out->n])) != 0) return rc;
    out->n++;
  }
  return 0;
}

/*
 * Merges matchLabelKeys (op In) or mismatchLabelKeys (op NotIn) into sel
 * as "key op (the pod's value)", as kube-apiserver does when it admits the
 * pod; keys the pod has no label for are ignored, and a requirement already
 * there (merged by the API server) is not repeated. sel has room for them.
 */
static int merge_label_keys(struct rd *r, const cJSON *keys, const struct jpath *p, enum stv_op op,
                            const struct stv_labels *self, struct stv_selector *sel) {
  const cJSON *k;
  uint32_t i;
  int rc;
  if ((rc = check_strings(r, keys, p)) != 0) return rc;
  cJSON_ArrayForEach(k, keys) {
    const char *value = stv_labels_get(self, k->valuestring);
    const char *key;
    int dup = 0;
    if (value == NULL) continue;
    if ((key = intern(r, k->valuestring)) == NULL) return oom(r);
    for (i = 0; i < sel->n && !dup; i++) {
      const struct stv_requirement *q = &sel->reqs[i];
      dup = q->key == key && q->op == op && q->nvalues == 1 && q->values[0] == value;
    }
    if (dup) continue;
    if ((rc = one_value_req(r, key, op, value, &sel->reqs[sel->n])) != 0) return rc;
    sel->n++;
  }
  return 0;
}

static uint32_t array_len(const cJSON *a) {
  return a != NULL ? (uint32_t)cJSON_GetArraySize(a) : 0;
}

/* ---------------------------------------------------------------------- */
/* Pod scheduling constraints                                             */

/* What a list of nodeSelectorTerms is read for. */
enum terms_use {
  TERMS_POD,       /* a pod's required node affinity: every term */
  TERMS_DAEMONSET, /* a DaemonSet pod's: matchFields (the per-node pin) dropped */
  TERMS_VOLUME     /* a PersistentVolume's: a term with matchFields matches no node */
};

/*
 * Reads nodeSelectorTerms (terms, at path pt; NULL when absent) into out:
 * the OR of terms, each matchExpressions AND matchFields.
 */
static int read_selector_terms(struct rd *r, const cJSON *terms, const struct jpath *pt, enum terms_use use,
                               struct stv_node_affinity *out) {
  const cJSON *t;
  long i = 0;
  int rc;
  if (terms == NULL) return fail(r, STV_EPARSE, pt, "missing");
  if (terms->child == NULL) return fail(r, STV_EINVAL, pt, "must have at least one term");
  if ((out->terms = scratch(r, array_len(terms), sizeof(*out->terms))) == NULL) return oom(r);
  cJSON_ArrayForEach(t, terms) {
    struct jpath pi = {pt, NULL, i++};
    struct jpath pe = {&pi, "matchExpressions", 0}, pf = {&pi, "matchFields", 0};
    struct stv_node_term *nt = &out->terms[out->n];
    const cJSON *me, *mf;
    if (!cJSON_IsObject(t)) return fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = get(r, t, "matchExpressions", &pi, JT_ARRAY, &me)) != 0) return rc;
    if ((rc = get(r, t, "matchFields", &pi, JT_ARRAY, &mf)) != 0) return rc;
    if ((rc = read_requirements(r, me, &pe, EXPR_NODE, &nt->exprs)) != 0) return rc;
    if ((rc = read_requirements(r, mf, &pf, EXPR_FIELD, &nt->fields)) != 0) return rc;
    if (use == TERMS_DAEMONSET && nt->fields.n > 0) {
      nt->fields.n = 0;
      if (nt->exprs.n == 0) continue;
    }
    if (use == TERMS_VOLUME) {
      if (nt->exprs.n == 0 && nt->fields.n == 0)
        return fail(r, STV_EINVAL, &pi, "must have matchExpressions or matchFields");
      /* The volume check sees only the node's labels (storage helpers'
         CheckNodeAffinity): a term with matchFields matches no node. */
      if (nt->fields.n > 0) continue;
    }
    out->n++;
  }
  return 0;
}

/*
 * Required node affinity. For a DaemonSet pod the matchFields on
 * metadata.name that the DaemonSet controller adds to pin the pod to its
 * node are dropped, with the terms that held nothing else, so that the
 * class describes the DaemonSet's template.
 */
static int read_node_affinity(struct rd *r, const cJSON *affinity, const struct jpath *pa,
                              int daemonset, struct stv_node_affinity *out) {
  struct jpath pn = {pa, "nodeAffinity", 0};
  struct jpath pr = {&pn, "requiredDuringSchedulingIgnoredDuringExecution", 0};
  struct jpath pt = {&pr, "nodeSelectorTerms", 0};
  const cJSON *na, *req, *terms;
  int rc;

  out->n = 0;
  out->terms = NULL;
  if ((rc = get(r, affinity, "nodeAffinity", pa, JT_OBJECT, &na)) != 0) return rc;
  if ((rc = get(r, na, "requiredDuringSchedulingIgnoredDuringExecution", &pn, JT_OBJECT, &req)) !=
      0)
    return rc;
  if (req == NULL) return 0;
  if ((rc = get(r, req, "nodeSelectorTerms", &pr, JT_ARRAY, &terms)) != 0) return rc;
  return read_selector_terms(r, terms, &pt, daemonset ? TERMS_DAEMONSET : TERMS_POD, out);
}

/* Required pod affinity or anti-affinity terms (arr may be NULL). */
static int read_pod_terms(struct rd *r, const cJSON *arr, const struct jpath *p,
                          const struct stv_labels *self, uint32_t *n, struct stv_pod_term **out) {
  const cJSON *t;
  *n = 0;
  *out = NULL;
  if (arr == NULL || arr->child == NULL) return 0;
  *out = scratch(r, (size_t)cJSON_GetArraySize(arr), sizeof(**out));
  if (*out == NULL) return oom(r);
  cJSON_ArrayForEach(t, arr) {
    struct jpath pi = {p, NULL, (long)*n};
    struct jpath pls = {&pi, "labelSelector", 0}, pmk = {&pi, "matchLabelKeys", 0};
    struct jpath pmm = {&pi, "mismatchLabelKeys", 0}, pns = {&pi, "namespaces", 0};
    struct jpath pnss = {&pi, "namespaceSelector", 0};
    struct stv_pod_term *pt = &(*out)[*n];
    const cJSON *ls, *mk, *mm, *nsl, *nss;
    const char *topo;
    int rc;
    if (!cJSON_IsObject(t)) return fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = get(r, t, "labelSelector", &pi, JT_OBJECT, &ls)) != 0) return rc;
    if ((rc = get(r, t, "matchLabelKeys", &pi, JT_ARRAY, &mk)) != 0) return rc;
    if ((rc = get(r, t, "mismatchLabelKeys", &pi, JT_ARRAY, &mm)) != 0) return rc;
    if ((rc = get(r, t, "namespaces", &pi, JT_ARRAY, &nsl)) != 0) return rc;
    if ((rc = get(r, t, "namespaceSelector", &pi, JT_OBJECT, &nss)) != 0) return rc;
    if ((rc = need_str(r, t, "topologyKey", &pi, &topo)) != 0) return rc;
    if (ls == NULL) {
      pt->match_none = 1;
    } else {
      rc = read_label_selector(r, ls, &pls, array_len(mk) + array_len(mm), &pt->sel);
      if (rc != 0) return rc;
      if ((rc = merge_label_keys(r, mk, &pmk, STV_OP_IN, self, &pt->sel)) != 0) return rc;
      if ((rc = merge_label_keys(r, mm, &pmm, STV_OP_NOT_IN, self, &pt->sel)) != 0) return rc;
    }
    if ((pt->topology_key = intern(r, topo)) == NULL) return oom(r);
    if ((rc = check_strings(r, nsl, &pns)) != 0) return rc;
    if (nsl != NULL && nsl->child != NULL) {
      const cJSON *e;
      pt->namespaces = scratch(r, array_len(nsl), sizeof(*pt->namespaces));
      if (pt->namespaces == NULL) return oom(r);
      cJSON_ArrayForEach(e, nsl) {
        if ((pt->namespaces[pt->nns] = intern(r, e->valuestring)) == NULL) return oom(r);
        pt->nns++;
      }
    }
    if (nss != NULL) {
      pt->has_ns_sel = 1;
      if ((rc = read_label_selector(r, nss, &pnss, 0, &pt->ns_sel)) != 0) return rc;
    }
    (*n)++;
  }
  return 0;
}

/* Reads a string member that must be one of two words; *out is its index. */
static int read_choice(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up,
                       const char *a, const char *b, int dflt, int *out) {
  struct jpath p = {up, key, 0};
  const char *v;
  struct qbuf q;
  int rc = get_str(r, obj, key, up, &v);
  if (rc != 0) return rc;
  if (v == NULL || *v == '\0') {
    if (dflt < 0) return fail(r, STV_EPARSE, &p, "missing");
    *out = dflt;
  } else if (strcmp(v, a) == 0) {
    *out = 0;
  } else if (strcmp(v, b) == 0) {
    *out = 1;
  } else {
    return fail(r, STV_EINVAL, &p, "unknown value \"%s\" (%s or %s)", quote(v, &q), a, b);
  }
  return 0;
}

static int read_spreads(struct rd *r, const cJSON *arr, const struct jpath *p,
                        const struct stv_labels *self, uint32_t *n, struct stv_spread **out) {
  const cJSON *c;
  *n = 0;
  *out = NULL;
  if (arr == NULL || arr->child == NULL) return 0;
  *out = scratch(r, (size_t)cJSON_GetArraySize(arr), sizeof(**out));
  if (*out == NULL) return oom(r);
  cJSON_ArrayForEach(c, arr) {
    struct jpath pi = {p, NULL, (long)*n};
    struct jpath pms = {&pi, "maxSkew", 0}, pmd = {&pi, "minDomains", 0};
    struct jpath pls = {&pi, "labelSelector", 0}, pmk = {&pi, "matchLabelKeys", 0};
    struct stv_spread *sp = &(*out)[*n];
    const cJSON *ls, *mk;
    const char *topo;
    int present, choice, rc;
    if (!cJSON_IsObject(c)) return fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = get_int32(r, c, "maxSkew", &pi, &present, &sp->max_skew)) != 0) return rc;
    if (!present) return fail(r, STV_EPARSE, &pms, "missing");
    if (sp->max_skew < 1) return fail(r, STV_EINVAL, &pms, "must be at least 1");
    if ((rc = need_str(r, c, "topologyKey", &pi, &topo)) != 0) return rc;
    if ((sp->topology_key = intern(r, topo)) == NULL) return oom(r);
    rc =
        read_choice(r, c, "whenUnsatisfiable", &pi, "DoNotSchedule", "ScheduleAnyway", -1, &choice);
    if (rc != 0) return rc;
    sp->do_not_schedule = choice == 0;
    if ((rc = get_int32(r, c, "minDomains", &pi, &present, &sp->min_domains)) != 0) return rc;
    if (present && sp->min_domains < 1) return fail(r, STV_EINVAL, &pmd, "must be at least 1");
    if (present && !sp->do_not_schedule)
      return fail(r, STV_EINVAL, &pmd,
                  "set with whenUnsatisfiable ScheduleAnyway; the API server accepts minDomains "
                  "only with DoNotSchedule (remove minDomains or make the constraint DoNotSchedule)");
    rc = read_choice(r, c, "nodeAffinityPolicy", &pi, "Honor", "Ignore", 0, &choice);
    if (rc != 0) return rc;
    sp->honor_node_affinity = choice == 0;
    rc = read_choice(r, c, "nodeTaintsPolicy", &pi, "Honor", "Ignore", 1, &choice);
    if (rc != 0) return rc;
    sp->honor_taints = choice == 0;
    if ((rc = get(r, c, "labelSelector", &pi, JT_OBJECT, &ls)) != 0) return rc;
    if ((rc = get(r, c, "matchLabelKeys", &pi, JT_ARRAY, &mk)) != 0) return rc;
    if (ls == NULL) {
      sp->match_none = 1;
    } else {
      if ((rc = read_label_selector(r, ls, &pls, array_len(mk), &sp->sel)) != 0) return rc;
      if ((rc = merge_label_keys(r, mk, &pmk, STV_OP_IN, self, &sp->sel)) != 0) return rc;
    }
    (*n)++;
  }
  return 0;
}

/* An effect name; empty is allowed (all effects) only when all is set. */
static int parse_effect(struct rd *r, const char *v, const struct jpath *p, int all,
                        enum stv_effect *out) {
  struct qbuf q;
  if (v == NULL || *v == '\0') {
    if (!all) return fail(r, STV_EPARSE, p, "missing");
    *out = STV_EFFECT_ALL;
  } else if (strcmp(v, "NoSchedule") == 0) {
    *out = STV_EFFECT_NO_SCHEDULE;
  } else if (strcmp(v, "PreferNoSchedule") == 0) {
    *out = STV_EFFECT_PREFER_NO_SCHEDULE;
  } else if (strcmp(v, "NoExecute") == 0) {
    *out = STV_EFFECT_NO_EXECUTE;
  } else {
    return fail(r, STV_EINVAL, p,
                "unknown effect \"%s\" (NoSchedule, PreferNoSchedule or NoExecute)", quote(v, &q));
  }
  return 0;
}

static int read_tolerations(struct rd *r, const cJSON *arr, const struct jpath *p, uint32_t *n,
                            struct stv_toleration **out) {
  const cJSON *c;
  *n = 0;
  *out = NULL;
  if (arr == NULL || arr->child == NULL) return 0;
  *out = scratch(r, (size_t)cJSON_GetArraySize(arr), sizeof(**out));
  if (*out == NULL) return oom(r);
  cJSON_ArrayForEach(c, arr) {
    struct jpath pi = {p, NULL, (long)*n};
    struct jpath po = {&pi, "operator", 0}, pv = {&pi, "value", 0}, pe = {&pi, "effect", 0};
    struct stv_toleration *t = &(*out)[*n];
    const char *key, *op, *value, *effect;
    struct qbuf q;
    int rc;
    if (!cJSON_IsObject(c)) return fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = get_str(r, c, "key", &pi, &key)) != 0) return rc;
    if ((rc = get_str(r, c, "operator", &pi, &op)) != 0) return rc;
    if ((rc = get_str(r, c, "value", &pi, &value)) != 0) return rc;
    if ((rc = get_str(r, c, "effect", &pi, &effect)) != 0) return rc;
    if (op == NULL || *op == '\0' || strcmp(op, "Equal") == 0) {
      t->exists = 0;
    } else if (strcmp(op, "Exists") == 0) {
      t->exists = 1;
    } else {
      return fail(r, STV_EINVAL, &po, "unknown operator \"%s\" (Exists or Equal)", quote(op, &q));
    }
    if ((key == NULL || *key == '\0') && !t->exists)
      return fail(r, STV_EINVAL, &po, "must be Exists when key is empty");
    if (t->exists && value != NULL && *value != '\0')
      return fail(r, STV_EINVAL, &pv, "must be empty when operator is Exists");
    if ((rc = parse_effect(r, effect, &pe, 1, &t->effect)) != 0) return rc;
    t->key = NULL;
    if (key != NULL && *key != '\0' && (t->key = intern(r, key)) == NULL) return oom(r);
    t->value = NULL;
    if (!t->exists && (t->value = intern(r, value != NULL ? value : "")) == NULL) return oom(r);
    (*n)++;
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Resources                                                              */

/* A resource vector and which of its dimensions were named. */
struct resv {
  int64_t v[STV_MAX_RES];
  uint32_t has;
};

/*
 * Reads a quantity given as a string or, as the API also accepts, a JSON
 * number, which is formatted with the fewest digits that read back as the
 * same double (so 0.1 stays "0.1") before being parsed exactly.
 */
static int read_quantity(struct rd *r, const cJSON *c, const struct jpath *p, int milli,
                         int64_t *out) {
  char num[40];
  const char *text;
  struct stv_err qe = {0, ""};
  struct qbuf q;
  int rc, prec;
  if (jtype_is(c, JT_STRING)) {
    text = c->valuestring;
  } else if (cJSON_IsNumber(c)) {
    for (prec = 15; prec <= 17; prec++) {
      snprintf(num, sizeof(num), "%.*g", prec, c->valuedouble);
      if (strtod(num, NULL) == c->valuedouble) break;
    }
    text = num;
  } else {
    return fail(r, STV_EPARSE, p, "not a quantity (a string or a number)");
  }
  if ((rc = stv_quantity_parse(text, milli, out, &qe)) != 0)
    return fail(r, rc, p, "%s", qe.msg[0] != '\0' ? qe.msg : stv_strerror(rc));
  if (*out < 0) return fail(r, STV_EINVAL, p, "negative quantity \"%s\"", quote(text, &q));
  return 0;
}

/*
 * Reads a ResourceList (obj may be NULL) into out, one dimension per name:
 * cpu in millicores and the rest in whole units, rounded up, or every
 * resource in thousandths when all_milli is set. Names present in skip
 * (when not NULL) are checked but left out. A zero amount of a name not
 * yet known adds no dimension: it changes nothing.
 */
static int read_reslist(struct rd *r, const cJSON *obj, const struct jpath *p, const cJSON *skip,
                        int all_milli, struct resv *out) {
  const cJSON *c;
  cJSON_ArrayForEach(c, obj) {
    struct jpath pc = {p, c->string, 0};
    int64_t v = 0;
    int k, rc;
    rc = read_quantity(r, c, &pc, all_milli || strcmp(c->string, "cpu") == 0, &v);
    if (rc != 0) return rc;
    if (skip != NULL && member(skip, c->string) != NULL) continue;
    k = stv_resnames_index(&r->s->res, &r->s->pool, c->string, 0);
    if (k == STV_ENOTFOUND) {
      if (v == 0) continue;
      k = stv_resnames_index(&r->s->res, &r->s->pool, c->string, 1);
    }
    if (k == STV_ELIMIT)
      return fail(r, STV_ELIMIT, &pc, "more than %d distinct resource names", STV_MAX_RES);
    if (k < 0) return oom(r);
    out->v[k] = v;
    out->has |= UINT32_C(1) << k;
  }
  return 0;
}

/*
 * A container's requests in thousandths of a unit: requests[r], else
 * limits[r] (the API's defaulting).
 */
static int read_container(struct rd *r, const cJSON *c, const struct jpath *p, struct resv *out,
                          int *sidecar) {
  struct jpath pr = {p, "resources", 0};
  struct jpath preq = {&pr, "requests", 0}, plim = {&pr, "limits", 0};
  const cJSON *res, *req, *lim;
  const char *policy;
  int rc;
  memset(out, 0, sizeof(*out));
  *sidecar = 0;
  if (!cJSON_IsObject(c)) return fail(r, STV_EPARSE, p, "not an object");
  if ((rc = get(r, c, "resources", p, JT_OBJECT, &res)) != 0) return rc;
  if ((rc = get(r, res, "requests", &pr, JT_OBJECT, &req)) != 0) return rc;
  if ((rc = get(r, res, "limits", &pr, JT_OBJECT, &lim)) != 0) return rc;
  if ((rc = read_reslist(r, req, &preq, NULL, 1, out)) != 0) return rc;
  if ((rc = read_reslist(r, lim, &plim, req, 1, out)) != 0) return rc;
  if ((rc = get_str(r, c, "restartPolicy", p, &policy)) != 0) return rc;
  *sidecar = policy != NULL && strcmp(policy, "Always") == 0;
  return 0;
}

static int res_add(struct rd *r, const struct jpath *p, int64_t *a, int64_t b) {
  if (b > INT64_MAX - *a) return fail(r, STV_ERANGE, p, "total requests overflow 64 bits");
  *a += b;
  return 0;
}

static int resv_add(struct rd *r, const struct jpath *p, struct resv *a, const struct resv *b) {
  int k;
  for (k = 0; k < STV_MAX_RES; k++) {
    int rc = res_add(r, p, &a->v[k], b->v[k]);
    if (rc != 0) return rc;
  }
  a->has |= b->has;
  return 0;
}

static void resv_max(struct resv *a, const struct resv *b) {
  int k;
  for (k = 0; k < STV_MAX_RES; k++)
    if (b->v[k] > a->v[k]) a->v[k] = b->v[k];
  a->has |= b->has;
}

/* Resources that pod-level spec.resources may set (KEP-2837). */
static int pod_level_resource(const char *name) {
  return strcmp(name, "cpu") == 0 || strcmp(name, "memory") == 0 ||
         strncmp(name, "hugepages-", 10) == 0;
}

/*
 * Effective requests, as kube-scheduler computes them (component-helpers
 * resource.PodRequests, KEP-753): per resource the larger of the sum over
 * regular and sidecar containers and, for each regular init container, its
 * request plus the sidecars started before it; then pod-level requests
 * where set, plus overhead, plus the pod's slot. Amounts are added up in
 * thousandths and rounded up to whole units (cpu: millicores) at the end,
 * as the scheduler adds exact quantities and rounds their total.
 */
static int pod_requests(struct rd *r, const cJSON *spec, const struct jpath *ps,
                        int64_t req[STV_MAX_RES]) {
  struct jpath pc = {ps, "containers", 0}, pi = {ps, "initContainers", 0};
  struct jpath pr = {ps, "resources", 0}, po = {ps, "overhead", 0};
  struct jpath preq = {&pr, "requests", 0}, plim = {&pr, "limits", 0};
  struct resv sum, side, init, c, use, podreq, podlim, over;
  const cJSON *containers, *inits, *res, *rq, *lm, *ov, *e;
  long i;
  int k, rc, sidecar;

  memset(&sum, 0, sizeof(sum));
  memset(&side, 0, sizeof(side));
  memset(&init, 0, sizeof(init));
  memset(&podreq, 0, sizeof(podreq));
  memset(&podlim, 0, sizeof(podlim));
  memset(&over, 0, sizeof(over));
  if ((rc = get(r, spec, "containers", ps, JT_ARRAY, &containers)) != 0) return rc;
  if ((rc = get(r, spec, "initContainers", ps, JT_ARRAY, &inits)) != 0) return rc;
  i = 0;
  cJSON_ArrayForEach(e, containers) {
    struct jpath pe = {&pc, NULL, i++};
    if ((rc = read_container(r, e, &pe, &c, &sidecar)) != 0) return rc;
    if ((rc = resv_add(r, &pc, &sum, &c)) != 0) return rc;
  }
  i = 0;
  cJSON_ArrayForEach(e, inits) {
    struct jpath pe = {&pi, NULL, i++};
    if ((rc = read_container(r, e, &pe, &c, &sidecar)) != 0) return rc;
    if (sidecar) {
      if ((rc = resv_add(r, &pi, &sum, &c)) != 0) return rc;
      if ((rc = resv_add(r, &pi, &side, &c)) != 0) return rc;
      use = side;
    } else {
      use = c;
      if ((rc = resv_add(r, &pi, &use, &side)) != 0) return rc;
    }
    resv_max(&init, &use);
  }
  resv_max(&sum, &init);

  /* Pod-level requests replace the containers' sum where set; a pod-level
     limit stands in for a request that neither the pod nor a container
     sets, as the API server's defaulting does. */
  if ((rc = get(r, spec, "resources", ps, JT_OBJECT, &res)) != 0) return rc;
  if ((rc = get(r, res, "requests", &pr, JT_OBJECT, &rq)) != 0) return rc;
  if ((rc = get(r, res, "limits", &pr, JT_OBJECT, &lm)) != 0) return rc;
  if ((rc = read_reslist(r, rq, &preq, NULL, 1, &podreq)) != 0) return rc;
  if ((rc = read_reslist(r, lm, &plim, NULL, 1, &podlim)) != 0) return rc;
  for (k = 0; k < r->s->res.n; k++) {
    uint32_t bit = UINT32_C(1) << k;
    if (!pod_level_resource(r->s->res.name[k])) continue;
    if (podreq.has & bit)
      sum.v[k] = podreq.v[k];
    else if (!(sum.has & bit) && (podlim.has & bit))
      sum.v[k] = podlim.v[k];
  }

  if ((rc = get(r, spec, "overhead", ps, JT_OBJECT, &ov)) != 0) return rc;
  if ((rc = read_reslist(r, ov, &po, NULL, 1, &over)) != 0) return rc;
  if ((rc = resv_add(r, &po, &sum, &over)) != 0) return rc;
  for (k = 0; k < STV_MAX_RES; k++)
    req[k] = k == STV_RES_CPU ? sum.v[k] : sum.v[k] / 1000 + (sum.v[k] % 1000 != 0);
  req[STV_RES_PODS] = 1;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Kinds                                                                  */

static const struct jpath P_METADATA = {NULL, "metadata", 0};
static const struct jpath P_SPEC = {NULL, "spec", 0};
static const struct jpath P_STATUS = {NULL, "status", 0};
static const struct jpath P_LABELS = {&P_METADATA, "labels", 0};

static int has_true(struct rd *r, const cJSON *ann, const struct jpath *pa, const char *key,
                    int *out) {
  const char *v;
  int rc = get_str(r, ann, key, pa, &v);
  *out = v != NULL && strcmp(v, "true") == 0;
  return rc;
}

/* The owner: the ownerReferences entry with controller: true, else the first. */
static const cJSON *pick_owner(const cJSON *refs, long *index) {
  const cJSON *e;
  long i = 0;
  cJSON_ArrayForEach(e, refs) {
    if (cJSON_IsObject(e) && cJSON_IsTrue(member(e, "controller"))) {
      *index = i;
      return e;
    }
    i++;
  }
  *index = 0;
  return refs != NULL ? refs->child : NULL;
}

/*
 * The pod's owner: owner_kind/owner_name, and for a DaemonSet the class's
 * daemonset flag and owner_uid (the DaemonSet's uid, or "<ns>/<name>" in
 * hand-written snapshots that lack uids).
 */
static int read_owner(struct rd *r, const cJSON *meta, struct stv_pod *pod, struct stv_class *c) {
  struct jpath prefs = {&P_METADATA, "ownerReferences", 0}, po = {&prefs, NULL, 0};
  const cJSON *refs, *owner;
  const char *okind, *oname, *ouid;
  long oi;
  int rc;

  if ((rc = get(r, meta, "ownerReferences", &P_METADATA, JT_ARRAY, &refs)) != 0) return rc;
  if ((owner = pick_owner(refs, &oi)) == NULL) return 0;
  po.idx = oi;
  if (!cJSON_IsObject(owner)) return fail(r, STV_EPARSE, &po, "not an object");
  if ((rc = need_str(r, owner, "kind", &po, &okind)) != 0) return rc;
  if ((rc = need_str(r, owner, "name", &po, &oname)) != 0) return rc;
  if ((rc = get_str(r, owner, "uid", &po, &ouid)) != 0) return rc;
  if ((pod->owner_kind = intern(r, okind)) == NULL) return oom(r);
  if ((pod->owner_name = intern(r, oname)) == NULL) return oom(r);
  if (strcmp(okind, "DaemonSet") != 0) return 0;
  c->daemonset = 1;
  if (ouid != NULL && *ouid != '\0') {
    c->owner_uid = intern(r, ouid);
  } else {
    size_t len = strlen(pod->ns) + strlen(oname) + 2;
    char *buf = scratch(r, len, 1);
    if (buf == NULL) return oom(r);
    snprintf(buf, len, "%s/%s", pod->ns, oname);
    c->owner_uid = intern(r, buf);
  }
  return c->owner_uid != NULL ? 0 : oom(r);
}

/*
 * Preferred pod anti-affinity (arr may be NULL): each weighted term's
 * podAffinityTerm, read as a required term is. The weight must be 1..100,
 * as the API server checks; it is not kept.
 */
static int read_preferred_terms(struct rd *r, const cJSON *arr, const struct jpath *p,
                                const struct stv_labels *self, uint32_t *n, struct stv_pod_term **out) {
  const cJSON *w;
  long i = 0;
  *n = 0;
  *out = NULL;
  if (arr == NULL || arr->child == NULL) return 0;
  *out = scratch(r, (size_t)cJSON_GetArraySize(arr), sizeof(**out));
  if (*out == NULL) return oom(r);
  cJSON_ArrayForEach(w, arr) {
    struct jpath pi = {p, NULL, i++};
    struct jpath pw = {&pi, "weight", 0}, pt = {&pi, "podAffinityTerm", 0};
    const cJSON *term;
    cJSON *one;
    struct stv_pod_term *got;
    uint32_t k;
    int32_t weight;
    int present, rc;
    if (!cJSON_IsObject(w)) return fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = get_int32(r, w, "weight", &pi, &present, &weight)) != 0) return rc;
    if (!present) return fail(r, STV_EPARSE, &pw, "missing");
    if (weight < 1 || weight > 100)
      return fail(r, STV_EINVAL, &pw, "%d is out of range (1 to 100)", (int)weight);
    if ((rc = get(r, w, "podAffinityTerm", &pi, JT_OBJECT, &term)) != 0) return rc;
    if (term == NULL) return fail(r, STV_EPARSE, &pt, "missing");
    /* A one-element array referring to the term, read by the required terms' reader. */
    if ((one = cJSON_CreateArray()) == NULL) return oom(r);
    if (!cJSON_AddItemReferenceToArray(one, (cJSON *)term)) {
      cJSON_Delete(one);
      return oom(r);
    }
    rc = read_pod_terms(r, one, &pt, self, &k, &got);
    cJSON_Delete(one);
    if (rc != 0 && r->err != NULL) {
      /* The one-element array's "[0]" is no part of the field's real path. */
      char *at = strstr(r->err->msg, "podAffinityTerm[0]");
      if (at != NULL) memmove(at + 15, at + 18, strlen(at + 18) + 1);
    }
    if (rc != 0) return rc;
    (*out)[(*n)++] = got[0];
  }
  return 0;
}

/* spec.priorityClassName (the repack keeps system-critical pods); spec.priority is read with the
 * scheduling fields (read_scheduling). */
static int read_priority(struct rd *r, const cJSON *spec, struct stv_pod *pod) {
  const char *pc;
  int rc;
  if ((rc = get_str(r, spec, "priorityClassName", &P_SPEC, &pc)) != 0) return rc;
  if (pc != NULL && *pc != '\0' && (pod->priority_class = intern(r, pc)) == NULL) return oom(r);
  return 0;
}

/* nodeSelector, required node and pod (anti-)affinity, tolerations, spread. */
static int read_constraints(struct rd *r, const cJSON *spec, struct stv_class *c) {
  struct jpath paff = {&P_SPEC, "affinity", 0};
  struct jpath ppa = {&paff, "podAffinity", 0}, pan = {&paff, "podAntiAffinity", 0};
  struct jpath ppar = {&ppa, "requiredDuringSchedulingIgnoredDuringExecution", 0};
  struct jpath panr = {&pan, "requiredDuringSchedulingIgnoredDuringExecution", 0};
  struct jpath pns = {&P_SPEC, "nodeSelector", 0}, ptol = {&P_SPEC, "tolerations", 0};
  struct jpath psp = {&P_SPEC, "topologySpreadConstraints", 0};
  const cJSON *nsel, *aff, *pa, *an, *par, *anr, *tols, *spreads;
  struct stv_labels nsmap;
  int rc;

  if ((rc = get(r, spec, "nodeSelector", &P_SPEC, JT_OBJECT, &nsel)) != 0) return rc;
  if ((rc = read_string_map(r, nsel, &pns, &nsmap)) != 0) return rc;
  if ((rc = map_to_reqs(r, &nsmap, 0, &c->node_selector)) != 0) return rc;
  if ((rc = get(r, spec, "affinity", &P_SPEC, JT_OBJECT, &aff)) != 0) return rc;
  if ((rc = read_node_affinity(r, aff, &paff, c->daemonset, &c->affinity)) != 0) return rc;
  if ((rc = get(r, aff, "podAffinity", &paff, JT_OBJECT, &pa)) != 0) return rc;
  rc = get(r, pa, "requiredDuringSchedulingIgnoredDuringExecution", &ppa, JT_ARRAY, &par);
  if (rc != 0) return rc;
  if ((rc = read_pod_terms(r, par, &ppar, &c->labels, &c->naff, &c->aff)) != 0) return rc;
  if ((rc = get(r, aff, "podAntiAffinity", &paff, JT_OBJECT, &an)) != 0) return rc;
  rc = get(r, an, "requiredDuringSchedulingIgnoredDuringExecution", &pan, JT_ARRAY, &anr);
  if (rc != 0) return rc;
  if ((rc = read_pod_terms(r, anr, &panr, &c->labels, &c->nanti, &c->anti)) != 0) return rc;
  {
    struct jpath panp = {&pan, "preferredDuringSchedulingIgnoredDuringExecution", 0};
    const cJSON *anp;
    rc = get(r, an, "preferredDuringSchedulingIgnoredDuringExecution", &pan, JT_ARRAY, &anp);
    if (rc != 0) return rc;
    if ((rc = read_preferred_terms(r, anp, &panp, &c->labels, &c->npanti, &c->panti)) != 0) return rc;
  }
  if ((rc = get(r, spec, "tolerations", &P_SPEC, JT_ARRAY, &tols)) != 0) return rc;
  if ((rc = read_tolerations(r, tols, &ptol, &c->ntol, &c->tol)) != 0) return rc;
  if ((rc = get(r, spec, "topologySpreadConstraints", &P_SPEC, JT_ARRAY, &spreads)) != 0) return rc;
  return read_spreads(r, spreads, &psp, &c->labels, &c->nspread, &c->spread);
}

/*
 * The labels that mark a node as spot capacity, by the provisioners and
 * clouds the reader knows (see capacity_type below), with their spot value.
 */
static const char *const spot_labels[][2] = {
    {"stevedore.io/capacity-type", "spot"},       {"karpenter.sh/capacity-type", "spot"},
    {"eks.amazonaws.com/capacityType", "SPOT"},   {"cloud.google.com/gke-spot", "true"},
    {"cloud.google.com/gke-preemptible", "true"}, {"kubernetes.azure.com/scalesetpriority", "spot"}};
#define NSPOT_LABELS (sizeof(spot_labels) / sizeof(spot_labels[0]))

/*
 * A pod annotated stevedore.io/spot: "false" opts out of spot capacity: its
 * class gets "key NotIn (spot value)" for each label above, ANDed with its
 * nodeSelector, so that it matches no spot node, new (which carries
 * stevedore.io/capacity-type) or existing (labelled by any of them), while
 * a node without these labels still matches.
 */
static int add_spot_opt_out(struct rd *r, struct stv_selector *sel) {
  struct stv_requirement *reqs = scratch(r, (size_t)sel->n + NSPOT_LABELS, sizeof(*reqs));
  size_t i;
  if (reqs == NULL) return oom(r);
  if (sel->n > 0) memcpy(reqs, sel->reqs, sel->n * sizeof(*reqs));
  for (i = 0; i < NSPOT_LABELS; i++) {
    const char *key = intern(r, spot_labels[i][0]), *value = intern(r, spot_labels[i][1]);
    int rc;
    if (key == NULL || value == NULL) return oom(r);
    if ((rc = one_value_req(r, key, STV_OP_NOT_IN, value, &reqs[sel->n + i])) != 0) return rc;
  }
  sel->reqs = reqs;
  sel->n += (uint32_t)NSPOT_LABELS;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Host ports (the NodePorts filter)                                      */

/* One host port a pod asks for, normalised: protocol TCP when absent,
 * hostIP "0.0.0.0" (every address) when absent or empty. */
struct host_port {
  const char *proto;
  int32_t port;
  const char *ip; /* interned */
};

/*
 * Interns STV_HOST_PORT_LABEL_PREFIX "<proto>/<port>", then "@<ip>" when ip
 * is not NULL; NULL when out of memory. The hostIP is kept as written: the
 * scheduler compares it as a string.
 */
static const char *host_port_key(struct rd *r, const struct host_port *hp, const char *ip) {
  size_t len = sizeof(STV_HOST_PORT_LABEL_PREFIX) + 16 + (ip != NULL ? strlen(ip) + 1 : 0);
  char *buf = scratch(r, len, 1);
  if (buf == NULL) return NULL;
  snprintf(buf, len, "%s%s/%d%s%s", STV_HOST_PORT_LABEL_PREFIX, hp->proto, (int)hp->port,
           ip != NULL ? "@" : "", ip != NULL ? ip : "");
  return intern(r, buf);
}

/* Reads spec.containers[i].ports[j] into *out; out->port is 0 when it asks for no host port. */
static int read_host_port(struct rd *r, const cJSON *port, const struct jpath *p, int host_network,
                          struct host_port *out) {
  static const char *const protos[] = {"TCP", "UDP", "SCTP"};
  struct jpath php = {p, "hostPort", 0}, pcp = {p, "containerPort", 0}, ppr = {p, "protocol", 0};
  const char *proto, *ip;
  int32_t hp, cp;
  int has_hp, has_cp, rc;
  unsigned k;
  struct qbuf q;

  out->port = 0;
  if (!cJSON_IsObject(port)) return fail(r, STV_EPARSE, p, "not an object");
  if ((rc = get_int32(r, port, "hostPort", p, &has_hp, &hp)) != 0) return rc;
  if ((rc = get_int32(r, port, "containerPort", p, &has_cp, &cp)) != 0) return rc;
  if ((rc = get_str(r, port, "protocol", p, &proto)) != 0) return rc;
  if ((rc = get_str(r, port, "hostIP", p, &ip)) != 0) return rc;
  if (has_hp && (hp < 0 || hp > 65535))
    return fail(r, STV_EINVAL, &php, "%d is not a port (1 to 65535, or 0 for none)", (int)hp);
  if (has_cp && (cp < 1 || cp > 65535))
    return fail(r, STV_EINVAL, &pcp, "%d is not a port (1 to 65535)", (int)cp);
  /* With hostNetwork the API server defaults hostPort to containerPort. */
  if (host_network && hp == 0) {
    if (!has_cp) return fail(r, STV_EPARSE, &pcp, "missing (spec.hostNetwork makes it a host port)");
    hp = cp;
  }
  if (hp == 0) return 0;
  if (proto == NULL || *proto == '\0') proto = "TCP";
  for (k = 0; k < sizeof(protos) / sizeof(protos[0]); k++)
    if (strcmp(proto, protos[k]) == 0) break;
  if (k == sizeof(protos) / sizeof(protos[0]))
    return fail(r, STV_EINVAL, &ppr, "unknown protocol \"%s\" (TCP, UDP or SCTP)", quote(proto, &q));
  out->proto = protos[k];
  out->port = hp;
  if ((out->ip = intern(r, ip != NULL && *ip != '\0' ? ip : "0.0.0.0")) == NULL) return oom(r);
  return 0;
}

/*
 * Appends to terms[*n] the anti-affinity term "pods with label key, in any
 * namespace, not on this node", unless it is there already; terms has room.
 */
static int host_port_term(struct rd *r, const char *key, struct stv_pod_term *terms, uint32_t *n) {
  struct stv_requirement *req;
  uint32_t i;
  for (i = 0; i < *n; i++)
    if (terms[i].sel.n == 1 && terms[i].sel.reqs[0].key == key && terms[i].has_ns_sel) return 0;
  if ((req = scratch(r, 1, sizeof(*req))) == NULL) return oom(r);
  req->key = key;
  req->op = STV_OP_EXISTS;
  memset(&terms[*n], 0, sizeof(terms[*n]));
  terms[*n].sel.n = 1;
  terms[*n].sel.reqs = req;
  if ((terms[*n].topology_key = intern(r, "kubernetes.io/hostname")) == NULL) return oom(r);
  terms[*n].has_ns_sel = 1; /* namespaceSelector {}: pods of every namespace */
  (*n)++;
  return 0;
}

/*
 * Host ports, as kube-scheduler's NodePorts filter sees them (Kubernetes
 * 1.29 to 1.31: the ports of spec.containers; init containers' ports,
 * sidecars' included, are not counted). Two pods conflict on a node when
 * they ask for the same port and protocol and their hostIPs overlap: equal,
 * or either one "0.0.0.0" (every address). The class carries each port as
 * reserved labels, "<prefix><proto>/<port>" and "<prefix><proto>/<port>@<ip>"
 * (STV_HOST_PORT_LABEL_PREFIX: a key the API rejects, so no real pod has
 * it), and as required anti-affinity terms on kubernetes.io/hostname over
 * every namespace: for hostIP 0.0.0.0 against any pod holding the port,
 * for a specific IP against pods holding it on that IP or on 0.0.0.0. The
 * packer's hostname anti-affinity, which counts bound pods and the
 * DaemonSets of new nodes, then keeps such pods apart exactly as NodePorts
 * does.
 */
static int read_host_ports(struct rd *r, const cJSON *spec, struct stv_class *c) {
  struct jpath pc = {&P_SPEC, "containers", 0};
  const cJSON *containers, *e, *ports, *port;
  struct host_port *hp = NULL;
  struct stv_label *kv;
  struct stv_pod_term *terms;
  uint32_t nhp = 0, cap = 0, nkv, nterms, i, j;
  int host_network, rc;
  long ci = 0;

  if ((rc = get_bool(r, spec, "hostNetwork", &P_SPEC, &host_network)) != 0) return rc;
  if ((rc = get(r, spec, "containers", &P_SPEC, JT_ARRAY, &containers)) != 0) return rc;
  cJSON_ArrayForEach(e, containers) {
    struct jpath pe = {&pc, NULL, ci++};
    if (!cJSON_IsObject(e)) return fail(r, STV_EPARSE, &pe, "not an object");
    if ((rc = get(r, e, "ports", &pe, JT_ARRAY, &ports)) != 0) return rc;
    cap += array_len(ports);
  }
  if (cap == 0) return 0;
  if ((hp = scratch(r, cap, sizeof(*hp))) == NULL) return oom(r);
  ci = 0;
  cJSON_ArrayForEach(e, containers) {
    struct jpath pe = {&pc, NULL, ci++};
    struct jpath pp = {&pe, "ports", 0};
    long pi = 0;
    ports = member(e, "ports");
    cJSON_ArrayForEach(port, ports) {
      struct jpath pj = {&pp, NULL, pi++};
      struct host_port x;
      if ((rc = read_host_port(r, port, &pj, host_network, &x)) != 0) return rc;
      if (x.port == 0) continue;
      for (i = 0; i < nhp; i++)
        if (hp[i].port == x.port && hp[i].proto == x.proto && hp[i].ip == x.ip) break;
      if (i == nhp) hp[nhp++] = x;
    }
  }
  if (nhp == 0) return 0;

  /* Labels: the pod's own, then two per port (duplicates dropped below). */
  if ((kv = scratch(r, (size_t)c->labels.n + 2 * nhp, sizeof(*kv))) == NULL) return oom(r);
  if (c->labels.n > 0) memcpy(kv, c->labels.kv, c->labels.n * sizeof(*kv));
  nkv = c->labels.n;
  for (i = 0; i < nhp; i++) {
    const char *keys[2];
    keys[0] = host_port_key(r, &hp[i], NULL);
    keys[1] = host_port_key(r, &hp[i], hp[i].ip);
    if (keys[0] == NULL || keys[1] == NULL) return oom(r);
    for (j = 0; j < 2; j++) {
      uint32_t k;
      for (k = 0; k < nkv && kv[k].key != keys[j]; k++) continue;
      if (k < nkv) continue;
      kv[nkv].key = keys[j];
      if ((kv[nkv].value = intern(r, "")) == NULL) return oom(r);
      nkv++;
    }
  }
  qsort(kv, nkv, sizeof(*kv), label_cmp);
  c->labels.kv = kv;
  c->labels.n = nkv;

  /* Anti-affinity terms: the pod's own, then at most two per port. */
  if ((terms = scratch(r, (size_t)c->nanti + 2 * nhp, sizeof(*terms))) == NULL) return oom(r);
  if (c->nanti > 0) memcpy(terms, c->anti, c->nanti * sizeof(*terms));
  nterms = c->nanti;
  for (i = 0; i < nhp; i++) {
    const char *any = intern(r, "0.0.0.0");
    const char *key;
    if (any == NULL) return oom(r);
    if (hp[i].ip == any) {
      if ((key = host_port_key(r, &hp[i], NULL)) == NULL) return oom(r);
      if ((rc = host_port_term(r, key, terms, &nterms)) != 0) return rc;
      continue;
    }
    if ((key = host_port_key(r, &hp[i], hp[i].ip)) == NULL) return oom(r);
    if ((rc = host_port_term(r, key, terms, &nterms)) != 0) return rc;
    if ((key = host_port_key(r, &hp[i], any)) == NULL) return oom(r);
    if ((rc = host_port_term(r, key, terms, &nterms)) != 0) return rc;
  }
  c->anti = terms;
  c->nanti = nterms;
  return 0;
}

static int record_pod_volumes(struct rd *r, const cJSON *vols, uint32_t pod_index);

/*
 * What decides whether and how the scheduler takes a pending pod:
 * spec.priority (set by the Priority admission plugin from the
 * PriorityClass; 0 when absent), spec.preemptionPolicy, the first entry of
 * spec.schedulingGates, spec.schedulerName and status.nominatedNodeName.
 * The priority is part of the pod's class.
 */
static int read_scheduling(struct rd *r, const cJSON *spec, const cJSON *status, struct stv_pod *pod,
                           struct stv_class *c) {
  struct jpath pgates = {&P_SPEC, "schedulingGates", 0};
  struct jpath ppol = {&P_SPEC, "preemptionPolicy", 0};
  const cJSON *gates, *g;
  const char *policy, *sched, *nominated;
  struct qbuf q;
  int present, rc;
  long i = 0;

  if ((rc = get_int32(r, spec, "priority", &P_SPEC, &present, &pod->priority)) != 0) return rc;
  pod->has_priority = (uint8_t)present;
  c->priority = pod->priority;
  if ((rc = get_str(r, spec, "preemptionPolicy", &P_SPEC, &policy)) != 0) return rc;
  if (policy != NULL && strcmp(policy, "Never") == 0)
    pod->preempt_never = 1;
  else if (policy != NULL && strcmp(policy, "PreemptLowerPriority") != 0)
    return fail(r, STV_EINVAL, &ppol, "unknown policy \"%s\" (expected PreemptLowerPriority or Never)",
                quote(policy, &q));
  if ((rc = get(r, spec, "schedulingGates", &P_SPEC, JT_ARRAY, &gates)) != 0) return rc;
  cJSON_ArrayForEach(g, gates) {
    struct jpath pg = {&pgates, NULL, i++};
    const char *name;
    if (!cJSON_IsObject(g)) return fail(r, STV_EPARSE, &pg, "not an object");
    if ((rc = need_str(r, g, "name", &pg, &name)) != 0) return rc;
    if (pod->first_gate == NULL && (pod->first_gate = intern(r, name)) == NULL) return oom(r);
  }
  if ((rc = get_str(r, spec, "schedulerName", &P_SPEC, &sched)) != 0) return rc;
  if (sched != NULL && *sched != '\0' && (pod->scheduler_name = intern(r, sched)) == NULL) return oom(r);
  if ((rc = get_str(r, status, "nominatedNodeName", &P_STATUS, &nominated)) != 0) return rc;
  if (nominated != NULL && *nominated != '\0' && (pod->nominated_node = intern(r, nominated)) == NULL)
    return oom(r);
  return 0;
}

static int read_pod(struct rd *r, const cJSON *item, const cJSON *meta) {
  static const char *const phases[] = {"Pending", "Running", "Succeeded", "Failed", "Unknown"};
  struct jpath pann = {&P_METADATA, "annotations", 0};
  struct jpath pphase = {&P_STATUS, "phase", 0};
  struct jpath pvol = {&P_SPEC, "volumes", 0};
  const cJSON *status, *spec, *labels, *ann, *vols, *v;
  const char *phase, *node_name, *spot;
  struct stv_class c;
  struct stv_pod pod;
  struct qbuf q;
  size_t len;
  char *buf;
  int rc, flag;
  unsigned i;

  memset(&c, 0, sizeof(c));
  memset(&pod, 0, sizeof(pod));
  pod.node = -1;
  if ((rc = get(r, item, "status", NULL, JT_OBJECT, &status)) != 0) return rc;
  if ((rc = get_str(r, status, "phase", &P_STATUS, &phase)) != 0) return rc;
  pod.phase = STV_PHASE_PENDING;
  if (phase != NULL && *phase != '\0') {
    for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
      if (strcmp(phase, phases[i]) == 0) break;
    if (i == sizeof(phases) / sizeof(phases[0]))
      return fail(r, STV_EINVAL, &pphase, "unknown phase \"%s\"", quote(phase, &q));
    pod.phase = (uint8_t)i;
  }
  if (pod.phase == STV_PHASE_SUCCEEDED || pod.phase == STV_PHASE_FAILED) {
    if (r->stats != NULL) r->stats->finished_pods++;
    return 0;
  }

  if ((pod.ns = c.ns = intern(r, r->ns)) == NULL) return oom(r);
  if ((pod.name = intern(r, r->name)) == NULL) return oom(r);
  len = strlen(pod.ns) + strlen(pod.name) + 2;
  if ((buf = scratch(r, len, 1)) == NULL) return oom(r);
  snprintf(buf, len, "%s/%s", pod.ns, pod.name);
  if ((c.example = intern(r, buf)) == NULL) return oom(r);

  if ((rc = get(r, meta, "labels", &P_METADATA, JT_OBJECT, &labels)) != 0) return rc;
  if ((rc = read_string_map(r, labels, &P_LABELS, &c.labels)) != 0) return rc;
  if ((rc = get(r, meta, "annotations", &P_METADATA, JT_OBJECT, &ann)) != 0) return rc;
  if (member(ann, "kubernetes.io/config.mirror") != NULL) pod.flags |= STV_POD_MIRROR;
  if ((rc = get_str(r, ann, "stevedore.io/spot", &pann, &spot)) != 0) return rc;
  if ((rc = has_true(r, ann, &pann, "stevedore.io/do-not-disrupt", &flag)) != 0) return rc;
  if (flag) pod.flags |= STV_POD_DO_NOT_DISRUPT;
  if ((rc = has_true(r, ann, &pann, "karpenter.sh/do-not-disrupt", &flag)) != 0) return rc;
  if (flag) pod.flags |= STV_POD_DO_NOT_DISRUPT;
  if ((rc = read_owner(r, meta, &pod, &c)) != 0) return rc;

  if ((rc = get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if (spec == NULL) return fail(r, STV_EPARSE, &P_SPEC, "missing");
  if ((rc = pod_requests(r, spec, &P_SPEC, c.req)) != 0) return rc;
  if ((rc = read_scheduling(r, spec, status, &pod, &c)) != 0) return rc;

  /* Binding: resolved now when the node is known, else by stv_snapshot_finish. */
  if ((rc = get_str(r, spec, "nodeName", &P_SPEC, &node_name)) != 0) return rc;
  if (node_name != NULL && *node_name != '\0') {
    if ((pod.node_name = intern(r, node_name)) == NULL) return oom(r);
    pod.node = stv_snapshot_find_node(r->s, pod.node_name);
  }

  /* Volumes on the node's disk. */
  if ((rc = get(r, spec, "volumes", &P_SPEC, JT_ARRAY, &vols)) != 0) return rc;
  i = 0;
  cJSON_ArrayForEach(v, vols) {
    struct jpath pv = {&pvol, NULL, (long)i++};
    if (!cJSON_IsObject(v)) return fail(r, STV_EPARSE, &pv, "not an object");
    if (member(v, "emptyDir") != NULL || member(v, "hostPath") != NULL)
      pod.flags |= STV_POD_LOCAL_STORAGE;
  }

  if ((rc = read_constraints(r, spec, &c)) != 0) return rc;
  if ((rc = read_priority(r, spec, &pod)) != 0) return rc;
  pod.terminating = member(meta, "deletionTimestamp") != NULL;
  if (spot != NULL && strcmp(spot, "false") == 0 && (rc = add_spot_opt_out(r, &c.node_selector)) != 0) return rc;
  if ((rc = read_host_ports(r, spec, &c)) != 0) return rc;
  if ((rc = stv_snapshot_intern_class(r->s, &c, &pod.cls)) != 0)
    return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
  if (r->replace >= 0) {
    r->s->pods[r->replace] = pod;
    if (r->stats != NULL) r->stats->replaced_pod = r->replace;
    return 0;
  }
  if ((rc = stv_snapshot_add_pod(r->s, &pod)) != 0)
    return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
  if ((rc = record_pod_volumes(r, vols, (uint32_t)(r->s->npods - 1))) != 0) return rc;
  if (r->stats != NULL) r->stats->pods++;
  return 0;
}

/* Normalised capacity type from the labels provisioners and clouds set. */
static const char *capacity_type(const struct stv_labels *l) {
  static const char *const direct[] = {"stevedore.io/capacity-type", "karpenter.sh/capacity-type"};
  const char *v;
  unsigned i;
  for (i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
    v = stv_labels_get(l, direct[i]);
    if (v != NULL &&
        (strcmp(v, "spot") == 0 || strcmp(v, "on-demand") == 0 || strcmp(v, "reserved") == 0))
      return v;
  }
  v = stv_labels_get(l, "eks.amazonaws.com/capacityType");
  if (v != NULL && strcmp(v, "SPOT") == 0) return "spot";
  if (v != NULL && strcmp(v, "ON_DEMAND") == 0) return "on-demand";
  if (v != NULL && strcmp(v, "CAPACITY_BLOCK") == 0) return "reserved";
  v = stv_labels_get(l, "cloud.google.com/gke-spot");
  if (v != NULL && strcmp(v, "true") == 0) return "spot";
  v = stv_labels_get(l, "cloud.google.com/gke-preemptible");
  if (v != NULL && strcmp(v, "true") == 0) return "spot";
  v = stv_labels_get(l, "kubernetes.azure.com/scalesetpriority");
  if (v != NULL && strcmp(v, "spot") == 0) return "spot";
  return NULL;
}

static const char *first_label(const struct stv_labels *l, const char *a, const char *b) {
  const char *v = stv_labels_get(l, a);
  return v != NULL ? v : stv_labels_get(l, b);
}

/* ---------------------------------------------------------------------- */
/* Node conditions (the node lifecycle controller's taints)               */

/* Appends the taint key:NoSchedule to n unless n has key with that effect already. */
static int add_lifecycle_taint(struct rd *r, struct stv_node *n, const char *key) {
  uint32_t i;
  const char *k = intern(r, key), *empty = intern(r, "");
  if (k == NULL || empty == NULL) return oom(r);
  for (i = 0; i < n->ntaints; i++)
    if (n->taints[i].key == k && n->taints[i].effect == STV_EFFECT_NO_SCHEDULE) return 0;
  n->taints[n->ntaints].key = k;
  n->taints[n->ntaints].value = empty;
  n->taints[n->ntaints].effect = STV_EFFECT_NO_SCHEDULE;
  n->ntaints++;
  return 0;
}

/*
 * Counts n in the read statistics when it carries a condition taint (its
 * own, or one added for its conditions), naming the first.
 */
static void count_condition_node(struct rd *r, const struct stv_node *n) {
  static const char prefix[] = "node.kubernetes.io/";
  struct stv_snapshot_read_stats *st = r->stats;
  uint32_t i;
  if (st == NULL) return;
  for (i = 0; i < n->ntaints; i++) {
    const char *key = n->taints[i].key;
    if (n->taints[i].effect == STV_EFFECT_PREFER_NO_SCHEDULE) continue;
    if (strcmp(key, "node.kubernetes.io/not-ready") == 0 ||
        strcmp(key, "node.kubernetes.io/unreachable") == 0 ||
        strcmp(key, "node.kubernetes.io/memory-pressure") == 0 ||
        strcmp(key, "node.kubernetes.io/disk-pressure") == 0 ||
        strcmp(key, "node.kubernetes.io/pid-pressure") == 0 ||
        strcmp(key, "node.kubernetes.io/network-unavailable") == 0)
      break;
  }
  if (i == n->ntaints) return;
  if (st->condition_nodes < sizeof(st->condition_examples) / sizeof(st->condition_examples[0]))
    snprintf(st->condition_examples[st->condition_nodes], sizeof(st->condition_examples[0]), "%s (%s)",
             n->name, n->taints[i].key + sizeof(prefix) - 1);
  st->condition_nodes++;
}

/*
 * The NoSchedule taints the node lifecycle controller keeps on a node
 * (TaintNodesByCondition, always on since Kubernetes 1.17): Ready False
 * node.kubernetes.io/not-ready, Ready Unknown .../unreachable,
 * MemoryPressure, DiskPressure and PIDPressure True .../memory-pressure,
 * .../disk-pressure, .../pid-pressure, NetworkUnavailable True
 * .../network-unavailable, and spec.unschedulable .../unschedulable. A
 * snapshot taken before the controller caught up lacks them; they are added
 * here when missing, so that the scheduler's TaintToleration filter sees
 * what it will see. Taints present are kept as they are (a stale one still
 * repels pods until the controller removes it), and so are the NoExecute
 * not-ready/unreachable taints, which the controller adds later and only
 * outside a zone-wide outage. A node that reports no conditions gets
 * none of the condition taints (only the cordon's, when cordoned).
 */
static int add_condition_taints(struct rd *r, const cJSON *status, struct stv_node *n) {
  static const char *const map[][3] = {
      {"Ready", "False", "node.kubernetes.io/not-ready"},
      {"Ready", "Unknown", "node.kubernetes.io/unreachable"},
      {"MemoryPressure", "True", "node.kubernetes.io/memory-pressure"},
      {"DiskPressure", "True", "node.kubernetes.io/disk-pressure"},
      {"PIDPressure", "True", "node.kubernetes.io/pid-pressure"},
      {"NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"}};
  struct jpath pconds = {&P_STATUS, "conditions", 0};
  const size_t nmap = sizeof(map) / sizeof(map[0]);
  const cJSON *conds, *e;
  struct stv_taint *t;
  long i = 0;
  size_t k;
  int rc;

  if ((rc = get(r, status, "conditions", &P_STATUS, JT_ARRAY, &conds)) != 0) return rc;
  /* Room for every taint this may add. */
  if ((t = scratch(r, (size_t)n->ntaints + nmap + 1, sizeof(*t))) == NULL) return oom(r);
  if (n->ntaints > 0) memcpy(t, n->taints, n->ntaints * sizeof(*t));
  n->taints = t;
  cJSON_ArrayForEach(e, conds) {
    struct jpath pi = {&pconds, NULL, i++};
    struct jpath ps = {&pi, "status", 0};
    const char *type, *st;
    int known = 0;
    struct qbuf q;
    if (!cJSON_IsObject(e)) return fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = need_str(r, e, "type", &pi, &type)) != 0) return rc;
    for (k = 0; k < nmap; k++) known |= strcmp(type, map[k][0]) == 0;
    if (!known) continue; /* other conditions make no taint */
    if ((rc = need_str(r, e, "status", &pi, &st)) != 0) return rc;
    if (strcmp(st, "True") != 0 && strcmp(st, "False") != 0 && strcmp(st, "Unknown") != 0)
      return fail(r, STV_EINVAL, &ps, "unknown status \"%s\" (True, False or Unknown)", quote(st, &q));
    for (k = 0; k < nmap; k++)
      if (strcmp(type, map[k][0]) == 0 && strcmp(st, map[k][1]) == 0 &&
          (rc = add_lifecycle_taint(r, n, map[k][2])) != 0)
        return rc;
  }
  count_condition_node(r, n);
  if (n->unschedulable && (rc = add_lifecycle_taint(r, n, "node.kubernetes.io/unschedulable")) != 0)
    return rc;
  return 0;
}

/* Counts a node with neither status.allocatable nor status.capacity, naming the first few. */
static void note_no_capacity(struct rd *r) {
  struct stv_snapshot_read_stats *st = r->stats;
  if (st == NULL) return;
  if (st->nodes_no_capacity < sizeof(st->no_capacity_names) / sizeof(st->no_capacity_names[0]))
    snprintf(st->no_capacity_names[st->nodes_no_capacity], sizeof(st->no_capacity_names[0]), "%s", r->name);
  st->nodes_no_capacity++;
}

static int read_node(struct rd *r, const cJSON *item, const cJSON *meta) {
  struct jpath ptaints = {&P_SPEC, "taints", 0};
  struct jpath palloc = {&P_STATUS, "allocatable", 0}, pcap = {&P_STATUS, "capacity", 0};
  const cJSON *labels, *spec, *taints, *status, *alloc, *cap;
  struct stv_node n;
  struct resv a;
  const char *ct;
  int rc;

  memset(&n, 0, sizeof(n));
  memset(&a, 0, sizeof(a));
  if ((n.name = intern(r, r->name)) == NULL) return oom(r);
  if ((rc = get(r, meta, "labels", &P_METADATA, JT_OBJECT, &labels)) != 0) return rc;
  if ((rc = read_string_map(r, labels, &P_LABELS, &n.labels)) != 0) return rc;

  if ((rc = get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if ((rc = get_bool(r, spec, "unschedulable", &P_SPEC, &n.unschedulable)) != 0) return rc;
  if ((rc = get(r, spec, "taints", &P_SPEC, JT_ARRAY, &taints)) != 0) return rc;
  if (taints != NULL && taints->child != NULL) {
    const cJSON *t;
    n.taints = scratch(r, (size_t)cJSON_GetArraySize(taints), sizeof(*n.taints));
    if (n.taints == NULL) return oom(r);
    cJSON_ArrayForEach(t, taints) {
      struct jpath pi = {&ptaints, NULL, (long)n.ntaints};
      struct jpath pe = {&pi, "effect", 0};
      struct stv_taint *x = &n.taints[n.ntaints];
      const char *key, *value, *effect;
      if (!cJSON_IsObject(t)) return fail(r, STV_EPARSE, &pi, "not an object");
      if ((rc = need_str(r, t, "key", &pi, &key)) != 0) return rc;
      if ((rc = get_str(r, t, "value", &pi, &value)) != 0) return rc;
      if ((rc = get_str(r, t, "effect", &pi, &effect)) != 0) return rc;
      if ((rc = parse_effect(r, effect, &pe, 0, &x->effect)) != 0) return rc;
      if ((x->key = intern(r, key)) == NULL) return oom(r);
      if ((x->value = intern(r, value != NULL ? value : "")) == NULL) return oom(r);
      n.ntaints++;
    }
  }

  if ((rc = get(r, item, "status", NULL, JT_OBJECT, &status)) != 0) return rc;
  if ((rc = get(r, status, "allocatable", &P_STATUS, JT_OBJECT, &alloc)) != 0) return rc;
  if ((rc = get(r, status, "capacity", &P_STATUS, JT_OBJECT, &cap)) != 0) return rc;
  if (alloc != NULL)
    rc = read_reslist(r, alloc, &palloc, NULL, 0, &a);
  else if (cap != NULL)
    rc = read_reslist(r, cap, &pcap, NULL, 0, &a);
  else
    note_no_capacity(r); /* kube-scheduler sees zero allocatable: the node is full */
  if (rc != 0) return rc;
  memcpy(n.alloc, a.v, sizeof(a.v));
  if ((rc = add_condition_taints(r, status, &n)) != 0) return rc;

  n.instance_type = first_label(&n.labels, "node.kubernetes.io/instance-type",
                                "beta.kubernetes.io/instance-type");
  n.zone = first_label(&n.labels, "topology.kubernetes.io/zone",
                       "failure-domain.beta.kubernetes.io/zone");
  if ((ct = capacity_type(&n.labels)) != NULL && (n.capacity_type = intern(r, ct)) == NULL)
    return oom(r);

  if (r->replace >= 0) {
    if ((rc = stv_snapshot_replace_node(r->s, (size_t)r->replace, &n)) != 0)
      return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
    if (r->stats != NULL) r->stats->replaced_node = r->replace;
    return 0;
  }
  rc = stv_snapshot_add_node(r->s, &n);
  if (rc == STV_ECONFLICT) return fail(r, rc, NULL, "duplicate node name");
  if (rc != 0) return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
  if (r->stats != NULL) r->stats->nodes++;
  return 0;
}

/* minAvailable / maxUnavailable: an integer, or a percentage string. */
static int read_int_or_percent(struct rd *r, const cJSON *spec, const char *key, const char **out) {
  struct jpath p = {&P_SPEC, key, 0};
  const cJSON *c = member(spec, key);
  char num[16];
  const char *s;
  struct qbuf q;
  size_t i;
  *out = NULL;
  if (c == NULL) return 0;
  if (cJSON_IsNumber(c)) {
    if (!(c->valuedouble >= 0 && c->valuedouble <= 2147483647.0) ||
        (double)(int32_t)c->valuedouble != c->valuedouble)
      return fail(r, STV_EINVAL, &p, "must be a non-negative integer or a percentage");
    snprintf(num, sizeof(num), "%d", (int)c->valuedouble);
    s = num;
  } else if (jtype_is(c, JT_STRING)) {
    s = c->valuestring;
    i = 0;
    while (s[i] >= '0' && s[i] <= '9') i++;
    if (i == 0 || i > 9 || (s[i] != '\0' && !(s[i] == '%' && s[i + 1] == '\0')))
      return fail(r, STV_EINVAL, &p, "invalid value \"%s\" (an integer or a percentage)",
                  quote(s, &q));
  } else {
    return fail(r, STV_EPARSE, &p, "not an integer or a string");
  }
  if ((*out = intern(r, s)) == NULL) return oom(r);
  return 0;
}

/* status.disruptionsAllowed, which kube-scheduler's preemption reads; absent in hand-written budgets. */
static int read_pdb_status(struct rd *r, const cJSON *item, struct stv_pdb *p) {
  struct jpath pda = {&P_STATUS, "disruptionsAllowed", 0};
  const cJSON *status;
  int rc;
  if ((rc = get(r, item, "status", NULL, JT_OBJECT, &status)) != 0) return rc;
  if ((rc = get_int32(r, status, "disruptionsAllowed", &P_STATUS, &p->has_allowed,
                      &p->disruptions_allowed)) != 0)
    return rc;
  if (p->has_allowed && p->disruptions_allowed < 0)
    return fail(r, STV_EINVAL, &pda, "must not be negative (got %d)", (int)p->disruptions_allowed);
  return 0;
}

static int read_pdb(struct rd *r, const cJSON *item) {
  struct jpath psel = {&P_SPEC, "selector", 0}, pmax = {&P_SPEC, "maxUnavailable", 0};
  const cJSON *spec, *sel;
  struct stv_pdb p;
  int rc;

  memset(&p, 0, sizeof(p));
  if ((rc = get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if ((rc = get(r, spec, "selector", &P_SPEC, JT_OBJECT, &sel)) != 0) return rc;
  if ((rc = read_int_or_percent(r, spec, "minAvailable", &p.min_available)) != 0) return rc;
  if ((rc = read_int_or_percent(r, spec, "maxUnavailable", &p.max_unavailable)) != 0) return rc;
  if (p.min_available != NULL && p.max_unavailable != NULL)
    return fail(r, STV_EINVAL, &pmax, "may not be set together with spec.minAvailable");
  /* A null selector selects no pods (policy/v1): such a budget guards nothing. */
  if (sel == NULL) return 0;
  if ((rc = read_pdb_status(r, item, &p)) != 0) return rc;
  if ((rc = read_label_selector(r, sel, &psel, 0, &p.sel)) != 0) return rc;
  if ((p.ns = intern(r, r->ns)) == NULL || (p.name = intern(r, r->name)) == NULL) return oom(r);
  if (r->replace >= 0) {
    if ((rc = stv_snapshot_replace_pdb(r->s, (size_t)r->replace, &p)) != 0)
      return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
    return 0;
  }
  if ((rc = stv_snapshot_add_pdb(r->s, &p)) != 0)
    return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
  if (r->stats != NULL) r->stats->pdbs++;
  return 0;
}

/* Namespaces carry kubernetes.io/metadata.name = their name, as the API sets it. */
static int read_namespace(struct rd *r, const cJSON *meta) {
  const cJSON *labels;
  struct stv_namespace ns;
  struct stv_label *kv;
  const char *key, *name;
  uint32_t i;
  int rc;

  memset(&ns, 0, sizeof(ns));
  if ((rc = get(r, meta, "labels", &P_METADATA, JT_OBJECT, &labels)) != 0) return rc;
  if ((rc = read_string_map(r, labels, &P_LABELS, &ns.labels)) != 0) return rc;
  if ((name = intern(r, r->name)) == NULL) return oom(r);
  if ((key = intern(r, "kubernetes.io/metadata.name")) == NULL) return oom(r);
  ns.name = name;
  i = 0;
  while (i < ns.labels.n && ns.labels.kv[i].key != key) i++;
  if (i < ns.labels.n) {
    ns.labels.kv[i].value = name;
  } else {
    if ((kv = scratch(r, (size_t)ns.labels.n + 1, sizeof(*kv))) == NULL) return oom(r);
    if (ns.labels.n > 0) memcpy(kv, ns.labels.kv, ns.labels.n * sizeof(*kv));
    kv[ns.labels.n].key = key;
    kv[ns.labels.n].value = name;
    ns.labels.kv = kv;
    ns.labels.n++;
    qsort(kv, ns.labels.n, sizeof(*kv), label_cmp);
  }
  if (r->replace >= 0) {
    if ((rc = stv_snapshot_replace_namespace(r->s, (size_t)r->replace, &ns)) != 0)
      return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
    return 0;
  }
  if ((rc = stv_snapshot_add_namespace(r->s, &ns)) != 0)
    return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
  if (r->stats != NULL) r->stats->namespaces++;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Storage: claims, volumes, classes, CSINodes                            */

/*
 * Claims, volumes, storage classes and CSINodes may come in any order and
 * in several files, so they are kept as read (in the snapshot's arena, in
 * lists) and turned into constraints on pod classes by
 * stv_snapshot_resolve_volumes once everything is read.
 */

/* A zone or region label of a volume: key In values ("a__b" is a set). */
struct vol_zone {
  const char *key;
  uint32_t n;
  const char **values;
};

struct vol_pv {
  struct vol_pv *next;
  const char *name, *cls;       /* cls "" when none */
  const char *driver;           /* CSI driver (in-tree sources migrated), or NULL */
  struct stv_node_affinity aff; /* spec.nodeAffinity.required; n == 0: none */
  uint32_t nzones;
  struct vol_zone *zones;
  const char *claim_ns, *claim_name; /* spec.claimRef, NULL when none */
  int available;                     /* status.phase Available */
  int nowhere;                       /* every term of its node affinity has matchFields: no node matches */
};

struct vol_pvc {
  struct vol_pvc *next;
  const char *ns, *name;
  const char *volume; /* spec.volumeName, NULL when unbound */
  const char *cls;    /* storage class, NULL when not set ("" = none) */
  int deleting;       /* metadata.deletionTimestamp set */
};

struct vol_class {
  struct vol_class *next;
  const char *name, *provisioner, *created;
  int wffc;                      /* volumeBindingMode WaitForFirstConsumer */
  int is_default;                /* storageclass.kubernetes.io/is-default-class: "true" */
  struct stv_node_affinity topo; /* allowedTopologies; n == 0: anywhere */
};

struct vol_csinode {
  struct vol_csinode *next;
  const char *node;
  uint32_t n;
  const char **driver;
  int64_t *count; /* allocatable.count, -1 when not reported */
  uint32_t nkeys;
  const char **keys; /* the drivers' topologyKeys */
};

/* One volume of a pod that the storage rules look at. */
struct vol_ref {
  long index;          /* in spec.volumes */
  const char *claim;   /* claim name; NULL for an inline volume */
  int ephemeral;       /* generic ephemeral volume: claim <pod>-<volume> */
  const char *eph_cls; /* its template's storageClassName, NULL when not set */
  const char *driver;  /* inline CSI or in-tree volume: its (CSI) driver */
  const char *handle;  /* ... and the volume's identity */
};

struct vol_pod {
  struct vol_pod *next;
  const char *where; /* "<file>: items[<i>] " for messages, or "" */
  uint32_t pod;      /* index into s->pods */
  uint32_t n;
  struct vol_ref *refs;
};

struct stv_snapshot_volumes {
  struct vol_pv *pvs;
  struct vol_pvc *pvcs;
  struct vol_class *classes;
  struct vol_csinode *csinodes;
  struct vol_pod *pods;
  size_t npvs, npvcs, nclasses, ncsinodes, npods;
  int resolved;
};

static struct stv_snapshot_volumes *volumes_of(struct rd *r) {
  if (r->s->volumes == NULL) {
    r->s->volumes = stv_arena_alloc(&r->s->mem, sizeof(*r->s->volumes));
    if (r->s->volumes != NULL) memset(r->s->volumes, 0, sizeof(*r->s->volumes));
  }
  return r->s->volumes;
}

/* An arena copy in the snapshot of n elements of src (n may be 0). */
static void *keep(struct rd *r, const void *src, size_t n, size_t elem) {
  void *p;
  if (n == 0) return NULL;
  if (n > SIZE_MAX / elem) return NULL;
  p = stv_arena_alloc(&r->s->mem, n * elem);
  if (p != NULL && src != NULL) memcpy(p, src, n * elem);
  return p;
}

static int keep_selector(struct rd *r, struct stv_selector *sel) {
  uint32_t i;
  if (sel->n == 0) return 0;
  if ((sel->reqs = keep(r, sel->reqs, sel->n, sizeof(*sel->reqs))) == NULL) return oom(r);
  for (i = 0; i < sel->n; i++) {
    struct stv_requirement *q = &sel->reqs[i];
    if (q->nvalues > 0 && (q->values = keep(r, q->values, q->nvalues, sizeof(*q->values))) == NULL)
      return oom(r);
  }
  return 0;
}

/* Moves a node affinity read into scratch memory over to the snapshot. */
static int keep_affinity(struct rd *r, struct stv_node_affinity *a) {
  uint32_t i;
  int rc;
  if (a->n == 0) return 0;
  if ((a->terms = keep(r, a->terms, a->n, sizeof(*a->terms))) == NULL) return oom(r);
  for (i = 0; i < a->n; i++) {
    if ((rc = keep_selector(r, &a->terms[i].exprs)) != 0) return rc;
    if ((rc = keep_selector(r, &a->terms[i].fields)) != 0) return rc;
  }
  return 0;
}

/* An interned copy of str, or NULL for NULL; sets *rc on out of memory. */
static const char *intern_opt(struct rd *r, const char *str, int *rc) {
  const char *v;
  if (str == NULL) return NULL;
  if ((v = intern(r, str)) == NULL) *rc = oom(r);
  return v;
}

/*
 * The CSI driver that serves an in-tree plugin since CSI migration (GA for
 * these), as kube-scheduler counts them: "kubernetes.io/aws-ebs" is
 * ebs.csi.aws.com. Other names are returned unchanged.
 */
static const char *const migrated_plugins[][2] = {{"kubernetes.io/aws-ebs", "ebs.csi.aws.com"},
                                                  {"kubernetes.io/gce-pd", "pd.csi.storage.gke.io"},
                                                  {"kubernetes.io/azure-disk", "disk.csi.azure.com"},
                                                  {"kubernetes.io/azure-file", "file.csi.azure.com"},
                                                  {"kubernetes.io/cinder", "cinder.csi.openstack.org"},
                                                  {"kubernetes.io/vsphere-volume", "csi.vsphere.vmware.com"},
                                                  {"kubernetes.io/portworx-volume", "pxd.portworx.com"}};

static const char *migrated_driver(const char *name) {
  size_t i;
  for (i = 0; i < sizeof(migrated_plugins) / sizeof(migrated_plugins[0]); i++)
    if (strcmp(name, migrated_plugins[i][0]) == 0) return migrated_plugins[i][1];
  return name;
}

/*
 * In-tree volume sources of a pod or a PersistentVolume that are attached
 * through a CSI driver since migration: the source's field, the field that
 * identifies the disk, and the driver.
 */
static const char *const intree_sources[][3] = {{"awsElasticBlockStore", "volumeID", "ebs.csi.aws.com"},
                                                {"gcePersistentDisk", "pdName", "pd.csi.storage.gke.io"},
                                                {"azureDisk", "diskName", "disk.csi.azure.com"},
                                                {"cinder", "volumeID", "cinder.csi.openstack.org"},
                                                {"vsphereVolume", "volumePath", "csi.vsphere.vmware.com"}};

/*
 * The attachable volume source of obj (a PersistentVolume's spec or a pod's
 * volume): csi.driver/volumeHandle (volumeHandle only when need_handle) or
 * an in-tree source. *driver and *handle are NULL when there is none.
 */
static int attachable_source(struct rd *r, const cJSON *obj, const struct jpath *p, int need_handle,
                             const char **driver, const char **handle) {
  struct jpath pc = {p, "csi", 0};
  const cJSON *csi, *src;
  size_t i;
  int rc;
  *driver = *handle = NULL;
  if ((rc = get(r, obj, "csi", p, JT_OBJECT, &csi)) != 0) return rc;
  if (csi != NULL) {
    if ((rc = need_str(r, csi, "driver", &pc, driver)) != 0) return rc;
    if (need_handle) return need_str(r, csi, "volumeHandle", &pc, handle);
    return 0;
  }
  for (i = 0; i < sizeof(intree_sources) / sizeof(intree_sources[0]); i++) {
    struct jpath ps = {p, intree_sources[i][0], 0};
    if ((rc = get(r, obj, intree_sources[i][0], p, JT_OBJECT, &src)) != 0) return rc;
    if (src == NULL) continue;
    if ((rc = need_str(r, src, intree_sources[i][1], &ps, handle)) != 0) return rc;
    *driver = intree_sources[i][2];
    return 0;
  }
  return 0;
}

/* A storage class name: the beta annotation wins over spec.storageClassName, as in the API's helpers. */
static int storage_class_name(struct rd *r, const cJSON *meta, const cJSON *spec, const char **out) {
  struct jpath pann = {&P_METADATA, "annotations", 0};
  const cJSON *ann;
  const char *v;
  int rc;
  *out = NULL;
  if ((rc = get(r, meta, "annotations", &P_METADATA, JT_OBJECT, &ann)) != 0) return rc;
  if ((rc = get_str(r, ann, "volume.beta.kubernetes.io/storage-class", &pann, &v)) != 0) return rc;
  if (v == NULL && (rc = get_str(r, spec, "storageClassName", &P_SPEC, &v)) != 0) return rc;
  *out = v;
  return 0;
}

static int read_pvc(struct rd *r, const cJSON *item, const cJSON *meta) {
  struct stv_snapshot_volumes *vs = volumes_of(r);
  const cJSON *spec;
  const char *volume, *cls;
  struct vol_pvc *c;
  int rc = 0;
  if (vs == NULL) return oom(r);
  if ((rc = get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if (spec == NULL) return fail(r, STV_EPARSE, &P_SPEC, "missing");
  if ((rc = get_str(r, spec, "volumeName", &P_SPEC, &volume)) != 0) return rc;
  if ((rc = storage_class_name(r, meta, spec, &cls)) != 0) return rc;
  if ((c = keep(r, NULL, 1, sizeof(*c))) == NULL) return oom(r);
  memset(c, 0, sizeof(*c));
  c->ns = intern_opt(r, r->ns, &rc);
  c->name = intern_opt(r, r->name, &rc);
  c->volume = volume != NULL && *volume != '\0' ? intern_opt(r, volume, &rc) : NULL;
  c->cls = intern_opt(r, cls, &rc);
  c->deleting = member(meta, "deletionTimestamp") != NULL;
  if (rc != 0) return rc;
  c->next = vs->pvcs;
  vs->pvcs = c;
  vs->npvcs++;
  if (r->stats != NULL) r->stats->pvcs++;
  return 0;
}

static int is_zone_key(const char *k) {
  return strcmp(k, "topology.kubernetes.io/zone") == 0 || strcmp(k, "topology.kubernetes.io/region") == 0 ||
         strcmp(k, "failure-domain.beta.kubernetes.io/zone") == 0 ||
         strcmp(k, "failure-domain.beta.kubernetes.io/region") == 0;
}

/* A zone label value: one zone, or a set written "a__b__c" (volume helpers' LabelZonesToSet). */
static int read_zone_label(struct rd *r, const struct stv_label *l, struct vol_zone *z) {
  const char *v = l->value, *e;
  char *buf;
  uint32_t n = 1, i = 0;
  struct jpath pk = {&P_LABELS, l->key, 0};
  struct qbuf q;
  for (e = strstr(v, "__"); e != NULL; e = strstr(e + 2, "__")) n++;
  z->key = l->key;
  z->n = 0;
  if ((z->values = keep(r, NULL, n, sizeof(*z->values))) == NULL) return oom(r);
  if ((buf = scratch(r, strlen(v) + 1, 1)) == NULL) return oom(r);
  for (;;) {
    size_t len;
    e = strstr(v, "__");
    len = e != NULL ? (size_t)(e - v) : strlen(v);
    memcpy(buf, v, len);
    buf[len] = '\0';
    if (len == 0) return fail(r, STV_EINVAL, &pk, "empty zone in \"%s\"", quote(l->value, &q));
    if ((z->values[i++] = intern(r, buf)) == NULL) return oom(r);
    if (e == NULL) break;
    v = e + 2;
  }
  z->n = i;
  return 0;
}

/* spec.nodeAffinity.required of a PersistentVolume: nodeSelectorTerms, as a pod's. */
static int read_pv_affinity(struct rd *r, const cJSON *spec, struct stv_node_affinity *out, int *nowhere) {
  static const struct jpath pna = {&P_SPEC, "nodeAffinity", 0};
  static const struct jpath preq = {&pna, "required", 0};
  struct jpath pt = {&preq, "nodeSelectorTerms", 0};
  const cJSON *na, *req, *terms;
  int rc;
  out->n = 0;
  out->terms = NULL;
  *nowhere = 0;
  if ((rc = get(r, spec, "nodeAffinity", &P_SPEC, JT_OBJECT, &na)) != 0) return rc;
  if ((rc = get(r, na, "required", &pna, JT_OBJECT, &req)) != 0) return rc;
  if (req == NULL) return 0;
  if ((rc = get(r, req, "nodeSelectorTerms", &preq, JT_ARRAY, &terms)) != 0) return rc;
  if ((rc = read_selector_terms(r, terms, &pt, TERMS_VOLUME, out)) != 0) return rc;
  *nowhere = out->n == 0;
  return keep_affinity(r, out);
}

static int read_pv(struct rd *r, const cJSON *item, const cJSON *meta) {
  static const struct jpath pref = {&P_SPEC, "claimRef", 0};
  struct stv_snapshot_volumes *vs = volumes_of(r);
  const cJSON *spec, *labels, *ref, *status;
  const char *cls, *driver, *handle, *cns = NULL, *cname = NULL, *phase;
  struct stv_labels l;
  struct vol_pv *v;
  uint32_t i;
  int rc = 0;
  if (vs == NULL) return oom(r);
  if ((rc = get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if (spec == NULL) return fail(r, STV_EPARSE, &P_SPEC, "missing");
  if ((v = keep(r, NULL, 1, sizeof(*v))) == NULL) return oom(r);
  memset(v, 0, sizeof(*v));
  if ((rc = storage_class_name(r, meta, spec, &cls)) != 0) return rc;
  if ((rc = read_pv_affinity(r, spec, &v->aff, &v->nowhere)) != 0) return rc;
  if ((rc = attachable_source(r, spec, &P_SPEC, 1, &driver, &handle)) != 0) return rc;
  if ((rc = get(r, spec, "claimRef", &P_SPEC, JT_OBJECT, &ref)) != 0) return rc;
  if (ref != NULL) {
    if ((rc = get_str(r, ref, "namespace", &pref, &cns)) != 0) return rc;
    if ((rc = get_str(r, ref, "name", &pref, &cname)) != 0) return rc;
  }
  if ((rc = get(r, item, "status", NULL, JT_OBJECT, &status)) != 0) return rc;
  if ((rc = get_str(r, status, "phase", &P_STATUS, &phase)) != 0) return rc;
  if ((rc = get(r, meta, "labels", &P_METADATA, JT_OBJECT, &labels)) != 0) return rc;
  if ((rc = read_string_map(r, labels, &P_LABELS, &l)) != 0) return rc;
  for (i = 0; i < l.n; i++) v->nzones += (uint32_t)is_zone_key(l.kv[i].key);
  if (v->nzones > 0 && (v->zones = keep(r, NULL, v->nzones, sizeof(*v->zones))) == NULL) return oom(r);
  v->nzones = 0;
  for (i = 0; i < l.n; i++) {
    if (!is_zone_key(l.kv[i].key)) continue;
    if ((rc = read_zone_label(r, &l.kv[i], &v->zones[v->nzones])) != 0) return rc;
    v->nzones++;
  }
  v->name = intern_opt(r, r->name, &rc);
  v->cls = intern_opt(r, cls != NULL ? cls : "", &rc);
  v->driver = intern_opt(r, driver != NULL ? migrated_driver(driver) : NULL, &rc);
  v->claim_ns = intern_opt(r, cname != NULL ? (cns != NULL && *cns ? cns : "default") : NULL, &rc);
  v->claim_name = intern_opt(r, cname, &rc);
  v->available = phase != NULL && strcmp(phase, "Available") == 0;
  if (rc != 0) return rc;
  v->next = vs->pvs;
  vs->pvs = v;
  vs->npvs++;
  if (r->stats != NULL) r->stats->pvs++;
  return 0;
}

static int read_storage_class(struct rd *r, const cJSON *item, const cJSON *meta) {
  static const struct jpath pat = {NULL, "allowedTopologies", 0};
  struct jpath pann = {&P_METADATA, "annotations", 0};
  struct stv_snapshot_volumes *vs = volumes_of(r);
  const cJSON *ann, *topo, *t;
  const char *prov, *def, *betadef, *created;
  struct vol_class *c;
  int rc = 0, mode;
  long i = 0;
  if (vs == NULL) return oom(r);
  if ((rc = need_str(r, item, "provisioner", NULL, &prov)) != 0) return rc;
  rc = read_choice(r, item, "volumeBindingMode", NULL, "Immediate", "WaitForFirstConsumer", 0, &mode);
  if (rc != 0) return rc;
  if ((rc = get(r, meta, "annotations", &P_METADATA, JT_OBJECT, &ann)) != 0) return rc;
  if ((rc = get_str(r, ann, "storageclass.kubernetes.io/is-default-class", &pann, &def)) != 0) return rc;
  if ((rc = get_str(r, ann, "storageclass.beta.kubernetes.io/is-default-class", &pann, &betadef)) != 0)
    return rc;
  if ((rc = get_str(r, meta, "creationTimestamp", &P_METADATA, &created)) != 0) return rc;
  if ((rc = get(r, item, "allowedTopologies", NULL, JT_ARRAY, &topo)) != 0) return rc;
  if ((c = keep(r, NULL, 1, sizeof(*c))) == NULL) return oom(r);
  memset(c, 0, sizeof(*c));
  if (topo != NULL && topo->child != NULL) {
    if ((c->topo.terms = scratch(r, array_len(topo), sizeof(*c->topo.terms))) == NULL) return oom(r);
    cJSON_ArrayForEach(t, topo) {
      struct jpath pi = {&pat, NULL, i++};
      struct jpath pm = {&pi, "matchLabelExpressions", 0};
      struct stv_node_term *nt = &c->topo.terms[c->topo.n];
      const cJSON *mle, *e;
      long j = 0;
      if (!cJSON_IsObject(t)) return fail(r, STV_EPARSE, &pi, "not an object");
      if ((rc = get(r, t, "matchLabelExpressions", &pi, JT_ARRAY, &mle)) != 0) return rc;
      if (mle == NULL || mle->child == NULL) return fail(r, STV_EINVAL, &pm, "must not be empty");
      if ((nt->exprs.reqs = scratch(r, array_len(mle), sizeof(*nt->exprs.reqs))) == NULL) return oom(r);
      cJSON_ArrayForEach(e, mle) {
        struct jpath pe = {&pm, NULL, j++};
        struct jpath pv = {&pe, "values", 0};
        struct stv_requirement *q = &nt->exprs.reqs[nt->exprs.n];
        const cJSON *vals, *v;
        const char *key;
        if (!cJSON_IsObject(e)) return fail(r, STV_EPARSE, &pe, "not an object");
        if ((rc = need_str(r, e, "key", &pe, &key)) != 0) return rc;
        if ((rc = get(r, e, "values", &pe, JT_ARRAY, &vals)) != 0) return rc;
        if (vals == NULL) return fail(r, STV_EPARSE, &pv, "missing");
        if (vals->child == NULL) return fail(r, STV_EINVAL, &pv, "must not be empty");
        if ((rc = check_strings(r, vals, &pv)) != 0) return rc;
        q->key = intern(r, key);
        q->op = STV_OP_IN;
        q->values = scratch(r, array_len(vals), sizeof(*q->values));
        if (q->key == NULL || q->values == NULL) return oom(r);
        cJSON_ArrayForEach(v, vals) {
          if ((q->values[q->nvalues++] = intern(r, v->valuestring)) == NULL) return oom(r);
        }
        nt->exprs.n++;
      }
      c->topo.n++;
    }
    if ((rc = keep_affinity(r, &c->topo)) != 0) return rc;
  }
  c->name = intern_opt(r, r->name, &rc);
  c->provisioner = intern_opt(r, prov, &rc);
  c->created = intern_opt(r, created != NULL ? created : "", &rc);
  if (rc != 0) return rc;
  c->wffc = mode == 1;
  c->is_default =
      (def != NULL && strcmp(def, "true") == 0) || (betadef != NULL && strcmp(betadef, "true") == 0);
  c->next = vs->classes;
  vs->classes = c;
  vs->nclasses++;
  if (r->stats != NULL) r->stats->storage_classes++;
  return 0;
}

/* Adds driver d's topologyKeys to c's keys (once each). */
static int read_topology_keys(struct rd *r, const cJSON *d, const struct jpath *pi, struct vol_csinode *c) {
  struct jpath pk = {pi, "topologyKeys", 0};
  const cJSON *keys, *k;
  const char **all;
  uint32_t i;
  int rc;
  if ((rc = get(r, d, "topologyKeys", pi, JT_ARRAY, &keys)) != 0) return rc;
  if (keys == NULL || keys->child == NULL) return 0;
  if ((rc = check_strings(r, keys, &pk)) != 0) return rc;
  if ((all = keep(r, NULL, (size_t)c->nkeys + array_len(keys), sizeof(*all))) == NULL) return oom(r);
  if (c->nkeys > 0) memcpy(all, c->keys, c->nkeys * sizeof(*all));
  c->keys = all;
  cJSON_ArrayForEach(k, keys) {
    const char *key = intern(r, k->valuestring);
    if (key == NULL) return oom(r);
    for (i = 0; i < c->nkeys && c->keys[i] != key; i++) continue;
    if (i == c->nkeys) c->keys[c->nkeys++] = key;
  }
  return 0;
}

static int read_csinode(struct rd *r, const cJSON *item) {
  static const struct jpath pd = {&P_SPEC, "drivers", 0};
  struct stv_snapshot_volumes *vs = volumes_of(r);
  const cJSON *spec, *drivers, *d;
  struct vol_csinode *c;
  int rc = 0;
  long i = 0;
  if (vs == NULL) return oom(r);
  if ((rc = get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if (spec == NULL) return fail(r, STV_EPARSE, &P_SPEC, "missing");
  if ((rc = get(r, spec, "drivers", &P_SPEC, JT_ARRAY, &drivers)) != 0) return rc;
  if ((c = keep(r, NULL, 1, sizeof(*c))) == NULL) return oom(r);
  memset(c, 0, sizeof(*c));
  if (drivers != NULL && drivers->child != NULL) {
    c->driver = keep(r, NULL, array_len(drivers), sizeof(*c->driver));
    c->count = keep(r, NULL, array_len(drivers), sizeof(*c->count));
    if (c->driver == NULL || c->count == NULL) return oom(r);
  }
  cJSON_ArrayForEach(d, drivers) {
    struct jpath pi = {&pd, NULL, i++};
    struct jpath pa = {&pi, "allocatable", 0}, pc = {&pa, "count", 0};
    const cJSON *alloc;
    const char *name;
    int32_t count;
    int present;
    if (!cJSON_IsObject(d)) return fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = need_str(r, d, "name", &pi, &name)) != 0) return rc;
    if ((rc = get(r, d, "allocatable", &pi, JT_OBJECT, &alloc)) != 0) return rc;
    if ((rc = get_int32(r, alloc, "count", &pa, &present, &count)) != 0) return rc;
    if (present && count < 0) return fail(r, STV_EINVAL, &pc, "must not be negative");
    if ((rc = read_topology_keys(r, d, &pi, c)) != 0) return rc;
    if ((c->driver[c->n] = intern(r, name)) == NULL) return oom(r);
    c->count[c->n] = present ? count : -1;
    c->n++;
  }
  if ((c->node = intern(r, r->name)) == NULL) return oom(r);
  c->next = vs->csinodes;
  vs->csinodes = c;
  vs->ncsinodes++;
  if (r->stats != NULL) r->stats->csinodes++;
  return 0;
}

/*
 * Records the volumes of pod pod_index (its spec.volumes, vols, checked to
 * be objects already) that the storage rules look at: claims, generic
 * ephemeral volumes, and inline volumes of attachable drivers.
 */
static int record_pod_volumes(struct rd *r, const cJSON *vols, uint32_t pod_index) {
  static const struct jpath pvol = {&P_SPEC, "volumes", 0};
  struct stv_snapshot_volumes *vs;
  struct vol_ref *refs;
  struct vol_pod *vp;
  const cJSON *v;
  uint32_t n = 0;
  long i = 0;
  int rc = 0;
  if (vols == NULL || vols->child == NULL) return 0;
  if ((refs = scratch(r, array_len(vols), sizeof(*refs))) == NULL) return oom(r);
  cJSON_ArrayForEach(v, vols) {
    struct jpath pv = {&pvol, NULL, i};
    struct jpath pc = {&pv, "persistentVolumeClaim", 0}, pe = {&pv, "ephemeral", 0};
    struct jpath pt = {&pe, "volumeClaimTemplate", 0}, pts = {&pt, "spec", 0};
    const cJSON *claim, *eph, *tmpl, *tspec;
    const char *name, *claim_name, *driver, *handle, *cls;
    struct vol_ref *f = &refs[n];
    memset(f, 0, sizeof(*f));
    f->index = i++;
    if ((rc = get(r, v, "persistentVolumeClaim", &pv, JT_OBJECT, &claim)) != 0) return rc;
    if ((rc = get(r, v, "ephemeral", &pv, JT_OBJECT, &eph)) != 0) return rc;
    if (claim != NULL) {
      if ((rc = need_str(r, claim, "claimName", &pc, &claim_name)) != 0) return rc;
      if ((f->claim = intern(r, claim_name)) == NULL) return oom(r);
      n++;
      continue;
    }
    if (eph != NULL) {
      size_t len;
      char *buf;
      if ((rc = need_str(r, v, "name", &pv, &name)) != 0) return rc;
      if ((rc = get(r, eph, "volumeClaimTemplate", &pe, JT_OBJECT, &tmpl)) != 0) return rc;
      if (tmpl == NULL) return fail(r, STV_EPARSE, &pt, "missing");
      if ((rc = get(r, tmpl, "spec", &pt, JT_OBJECT, &tspec)) != 0) return rc;
      if (tspec == NULL) return fail(r, STV_EPARSE, &pts, "missing");
      if ((rc = get_str(r, tspec, "storageClassName", &pts, &cls)) != 0) return rc;
      len = strlen(r->name) + strlen(name) + 2;
      if ((buf = scratch(r, len, 1)) == NULL) return oom(r);
      snprintf(buf, len, "%s-%s", r->name, name);
      f->ephemeral = 1;
      if ((f->claim = intern(r, buf)) == NULL) return oom(r);
      f->eph_cls = intern_opt(r, cls, &rc);
      if (rc != 0) return rc;
      n++;
      continue;
    }
    if ((rc = attachable_source(r, v, &pv, 0, &driver, &handle)) != 0) return rc;
    if (driver == NULL) continue;
    if (handle == NULL) {
      /* An inline CSI volume: one attachment of its own. */
      size_t len = strlen(r->name) + 64;
      char *buf = scratch(r, len, 1);
      if (buf == NULL) return oom(r);
      snprintf(buf, len, "%s/spec.volumes[%ld]", r->name, f->index);
      handle = buf;
    }
    f->driver = intern_opt(r, migrated_driver(driver), &rc);
    f->handle = intern_opt(r, handle, &rc);
    if (rc != 0) return rc;
    n++;
  }
  if (n == 0) return 0;
  if ((vs = volumes_of(r)) == NULL) return oom(r);
  if ((vp = keep(r, NULL, 1, sizeof(*vp))) == NULL || (vp->refs = keep(r, refs, n, sizeof(*refs))) == NULL)
    return oom(r);
  vp->pod = pod_index;
  vp->n = n;
  vp->where = "";
  if (r->path != NULL) {
    size_t len = strlen(r->path) + 40;
    char *buf = scratch(r, len, 1);
    if (buf == NULL) return oom(r);
    snprintf(buf, len, "%s: items[%ld] ", r->path, r->index);
    if ((vp->where = intern(r, buf)) == NULL) return oom(r);
  }
  vp->next = vs->pods;
  vs->pods = vp;
  vs->npods++;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Storage: from claims to constraints                                    */

/* The most OR-terms a pod's node affinity may have once its volumes' are ANDed in. */
#define VOL_TERMS_MAX 64

/* Drivers whose attach limit new nodes have by instance type (pricing/templates.c). */
static const char *const limited_drivers[] = {"ebs.csi.aws.com", "pd.csi.storage.gke.io",
                                              "disk.csi.azure.com"};

/* A pointer pair as a sort key. */
struct vkey {
  const void *a, *b;
  const void *rec;
};

static int vkey_cmp(const void *x, const void *y) {
  const struct vkey *p = x, *q = y;
  if (p->a != q->a) return (uintptr_t)p->a < (uintptr_t)q->a ? -1 : 1;
  if (p->b != q->b) return (uintptr_t)p->b < (uintptr_t)q->b ? -1 : 1;
  return 0;
}

struct vindex {
  struct vkey *v;
  size_t n;
};

static const void *vfind(const struct vindex *x, const void *a, const void *b) {
  struct vkey k = {a, b, NULL};
  const struct vkey *f;
  if (x->n == 0) return NULL;
  f = bsearch(&k, x->v, x->n, sizeof(*x->v), vkey_cmp);
  return f != NULL ? f->rec : NULL;
}

/* What resolving needs at hand. */
struct vres {
  struct stv_snapshot *s;
  struct stv_snapshot_volumes *vs;
  struct stv_snapshot_read_stats *stats;
  struct stv_err *err;
  struct stv_arena tmp; /* per pod */
  struct vindex pvcs, pvs, classes, csinodes;
  const struct vol_class *default_class;
  const char *zone_keys[4]; /* interned volume zone label keys */
  const char *zone_beta, *region_beta, *zone_ga, *region_ga;
  const char *where; /* the pod being resolved: its file and item */
  /* driver_limited's answers so far (drivers are few) */
  const char *known[32];
  int known_limited[32];
  size_t nknown;
};

static int vindex_build(struct vindex *x, size_t n) {
  x->n = 0;
  x->v = n > 0 ? stv_malloc(n * sizeof(*x->v)) : NULL;
  return n > 0 && x->v == NULL ? STV_ENOMEM : 0;
}

static void vindex_sort(struct vindex *x) {
  if (x->n > 1) qsort(x->v, x->n, sizeof(*x->v), vkey_cmp);
}

/*
 * Whether driver (interned) has an attach limit anywhere: a CSINode count,
 * or a per-type limit on new nodes.
 */
static int driver_limited(struct vres *x, const char *driver) {
  const struct vol_csinode *c;
  size_t i;
  int limited = 0;
  for (i = 0; i < x->nknown; i++)
    if (x->known[i] == driver) return x->known_limited[i];
  for (i = 0; i < sizeof(limited_drivers) / sizeof(limited_drivers[0]); i++)
    if (strcmp(driver, limited_drivers[i]) == 0) limited = 1;
  for (c = x->vs->csinodes; c != NULL && !limited; c = c->next)
    for (i = 0; i < c->n; i++)
      if (c->driver[i] == driver && c->count[i] >= 0) limited = 1;
  if (x->nknown < sizeof(x->known) / sizeof(x->known[0])) {
    x->known[x->nknown] = driver;
    x->known_limited[x->nknown++] = limited;
  }
  return limited;
}

/*
 * The resource dimension counting driver's attachments, created when new:
 * each existing node's allocatable is its CSINode count for the driver,
 * unlimited when its CSINode does not report one or when it has none (as
 * kube-scheduler's NodeVolumeLimits plugin does).
 */
static int driver_dim(struct vres *x, const char *driver, const struct stv_pod *p, int *dim) {
  char name[320];
  int k, existed;
  size_t i;
  uint32_t j;
  snprintf(name, sizeof(name), "%s%s", STV_ATTACH_PREFIX, driver);
  existed = stv_resnames_index(&x->s->res, &x->s->pool, name, 0) >= 0;
  k = stv_resnames_index(&x->s->res, &x->s->pool, name, 1);
  if (k == STV_ELIMIT)
    return stv_err_set(x->err, STV_ELIMIT,
                       "%sPod %s/%s: the attach limit of CSI driver %s needs a resource dimension, and %d "
                       "are in use already (too many distinct resource names and CSI drivers)",
                       x->where != NULL ? x->where : "", p->ns, p->name, driver, STV_MAX_RES);
  if (k < 0) return stv_err_set(x->err, STV_ENOMEM, "out of memory resolving volumes");
  *dim = k;
  if (existed) return 0;
  for (i = 0; i < x->s->nnodes; i++) {
    struct stv_node *n = &x->s->nodes[i];
    const struct vol_csinode *c = vfind(&x->csinodes, n->name, NULL);
    n->alloc[k] = STV_ATTACH_UNLIMITED;
    for (j = 0; c != NULL && j < c->n; j++)
      if (c->driver[j] == driver && c->count[j] >= 0) n->alloc[k] = c->count[j];
  }
  if (x->stats != NULL) x->stats->attach_drivers++;
  return 0;
}

/* One attachment of a pod: its driver's dimension and the volume's identity. */
struct vattach {
  int dim;
  const char *key;
};

/* a AND b as OR-terms: their cross product, in x->tmp. */
static int and_terms(struct vres *x, const struct stv_pod *p, const char *what, struct stv_node_affinity *a,
                     const struct stv_node_affinity *b) {
  const char *at = x->where != NULL ? x->where : "";
  struct stv_node_term *t;
  uint32_t i, j, n = 0;
  if (b->n == 0) return 0;
  if (a->n == 0) {
    *a = *b;
    return 0;
  }
  if ((uint64_t)a->n * b->n > VOL_TERMS_MAX)
    return stv_err_set(x->err, STV_ELIMIT,
                       "%sPod %s/%s: %s: its node affinity ANDed with the volume's has %llu terms, more than "
                       "the %d the planner handles (simplify the pod's or the volume's nodeSelectorTerms)",
                       at, p->ns, p->name, what, (unsigned long long)a->n * b->n, VOL_TERMS_MAX);
  t = stv_arena_alloc(&x->tmp, (size_t)a->n * b->n * sizeof(*t));
  if (t == NULL) return STV_ENOMEM;
  for (i = 0; i < a->n; i++) {
    for (j = 0; j < b->n; j++, n++) {
      const struct stv_node_term *u = &a->terms[i], *v = &b->terms[j];
      struct stv_selector *e = &t[n].exprs, *f = &t[n].fields;
      e->n = u->exprs.n + v->exprs.n;
      f->n = u->fields.n + v->fields.n;
      e->reqs = stv_arena_alloc(&x->tmp, (e->n + 1) * sizeof(*e->reqs));
      f->reqs = stv_arena_alloc(&x->tmp, (f->n + 1) * sizeof(*f->reqs));
      if (e->reqs == NULL || f->reqs == NULL) return STV_ENOMEM;
      if (u->exprs.n) memcpy(e->reqs, u->exprs.reqs, u->exprs.n * sizeof(*e->reqs));
      if (v->exprs.n) memcpy(e->reqs + u->exprs.n, v->exprs.reqs, v->exprs.n * sizeof(*e->reqs));
      if (u->fields.n) memcpy(f->reqs, u->fields.reqs, u->fields.n * sizeof(*f->reqs));
      if (v->fields.n) memcpy(f->reqs + u->fields.n, v->fields.reqs, v->fields.n * sizeof(*f->reqs));
    }
  }
  a->n = n;
  a->terms = t;
  return 0;
}

/*
 * The VolumeZone rule for one zone or region label of a volume, as terms:
 * a node that has none of the four zone and region labels passes; else the
 * node's label of the same key must be in the set, and for a beta key a
 * node without it may match with the GA key instead.
 */
static int zone_terms(struct vres *x, const struct vol_zone *z, struct stv_node_affinity *out) {
  struct stv_node_term *t = stv_arena_alloc(&x->tmp, 3 * sizeof(*t));
  struct stv_requirement *q = stv_arena_alloc(&x->tmp, 7 * sizeof(*q));
  const char *ga = NULL;
  int i;
  if (t == NULL || q == NULL) return STV_ENOMEM;
  memset(t, 0, 3 * sizeof(*t));
  memset(q, 0, 7 * sizeof(*q));
  if (z->key == x->zone_beta) ga = x->zone_ga;
  if (z->key == x->region_beta) ga = x->region_ga;
  /* none of the four labels */
  for (i = 0; i < 4; i++) {
    q[i].key = x->zone_keys[i];
    q[i].op = STV_OP_DOES_NOT_EXIST;
  }
  t[0].exprs.n = 4;
  t[0].exprs.reqs = q;
  q[4] = (struct stv_requirement){z->key, STV_OP_IN, z->n, z->values};
  t[1].exprs.n = 1;
  t[1].exprs.reqs = &q[4];
  out->n = 2;
  out->terms = t;
  if (ga != NULL) {
    q[5] = (struct stv_requirement){z->key, STV_OP_DOES_NOT_EXIST, 0, NULL};
    q[6] = (struct stv_requirement){ga, STV_OP_IN, z->n, z->values};
    t[2].exprs.n = 2;
    t[2].exprs.reqs = &q[5];
    out->n = 3;
  }
  return 0;
}

/*
 * For an unbound claim of a class without a provisioner (local volumes):
 * the nodes of the class's available volumes that the claim could bind,
 * as OR-terms; *none is set when there is no such volume, *anywhere when
 * one has no node affinity.
 */
static int static_volume_terms(struct vres *x, const struct vol_class *sc, const struct stv_pod *p,
                               const char *claim, struct stv_node_affinity *out, int *none) {
  const struct vol_pv *v;
  uint32_t n = 0;
  *none = 1;
  out->n = 0;
  out->terms = NULL;
  for (v = x->vs->pvs; v != NULL; v = v->next) {
    int mine = v->claim_name != NULL && v->claim_name == claim && v->claim_ns == p->ns;
    if (v->cls != sc->name || v->nowhere || !(mine || (v->available && v->claim_name == NULL))) continue;
    *none = 0;
    if (v->aff.n == 0) {
      out->n = 0;
      return 0;
    }
    n += v->aff.n;
  }
  if (*none) return 0;
  out->terms = stv_arena_alloc(&x->tmp, (size_t)n * sizeof(*out->terms));
  if (out->terms == NULL) return STV_ENOMEM;
  for (v = x->vs->pvs; v != NULL; v = v->next) {
    int mine = v->claim_name != NULL && v->claim_name == claim && v->claim_ns == p->ns;
    if (v->cls != sc->name || v->nowhere || !(mine || (v->available && v->claim_name == NULL))) continue;
    memcpy(out->terms + out->n, v->aff.terms, v->aff.n * sizeof(*out->terms));
    out->n += v->aff.n;
  }
  return 0;
}

static int add_attach(struct vres *x, const struct stv_pod *p, const char *driver, const char *key,
                      struct vattach *seen, uint32_t *nseen) {
  uint32_t i;
  int dim, rc;
  if (driver == NULL || !driver_limited(x, driver)) return 0;
  if ((rc = driver_dim(x, driver, p, &dim)) != 0) return rc;
  for (i = 0; i < *nseen; i++)
    if (seen[i].dim == dim && seen[i].key == key) return 0;
  seen[*nseen].dim = dim;
  seen[*nseen].key = key;
  (*nseen)++;
  return 0;
}

/* The first reason a pod cannot be placed wins. */
#define SET_WHY(...)                                             \
  do {                                                           \
    if (why[0] == '\0') snprintf(why, sizeof(why), __VA_ARGS__); \
  } while (0)

/* Resolves one pod's volumes into a class of its own when they constrain it. */
static int resolve_pod(struct vres *x, const struct vol_pod *vp) {
  struct stv_pod *p = &x->s->pods[vp->pod];
  const struct stv_class *c = x->s->classes[p->cls];
  struct stv_class nc;
  struct vattach *seen;
  uint32_t nseen = 0, i;
  char why[200], what[300];
  int unchecked = 0, changed = 0, rc;

  why[0] = '\0';
  if (c->daemonset) {
    if (x->stats != NULL) x->stats->vol_daemonset_pods++;
    return 0;
  }
  nc = *c;
  seen = stv_arena_alloc(&x->tmp, (vp->n + 1) * sizeof(*seen));
  if (seen == NULL) return STV_ENOMEM;
  for (i = 0; i < vp->n; i++) {
    const struct vol_ref *f = &vp->refs[i];
    const struct vol_pvc *pvc;
    const struct vol_pv *pv;
    const struct vol_class *sc;
    const char *cls;
    uint32_t z;
    if (f->claim == NULL) {
      if ((rc = add_attach(x, p, f->driver, f->handle, seen, &nseen)) != 0) return rc;
      continue;
    }
    snprintf(what, sizeof(what), "spec.volumes[%ld]: claim %s", f->index, f->claim);
    pvc = vfind(&x->pvcs, p->ns, f->claim);
    if (pvc == NULL && !f->ephemeral) {
      if (x->vs->npvcs == 0) {
        unchecked = 1;
        continue;
      }
      SET_WHY("persistentvolumeclaim \"%s\" not found", f->claim);
      continue;
    }
    if (pvc != NULL && pvc->deleting) {
      SET_WHY("persistentvolumeclaim \"%s\" is being deleted", f->claim);
      continue;
    }
    if (pvc != NULL && pvc->volume != NULL) {
      pv = vfind(&x->pvs, pvc->volume, NULL);
      if (pv == NULL) {
        if (x->vs->npvs == 0) {
          unchecked = 1;
          continue;
        }
        SET_WHY(
            "persistentvolumeclaim \"%s\" is bound to PersistentVolume \"%s\", which is not in the snapshot",
            f->claim, pvc->volume);
        continue;
      }
      if (pv->nowhere) {
        SET_WHY(
            "node(s) had volume node affinity conflict (PersistentVolume \"%s\" of claim %s selects nodes "
            "by matchFields only, which volume binding never matches)",
            pv->name, f->claim);
        continue;
      }
      if ((rc = and_terms(x, p, what, &nc.affinity, &pv->aff)) != 0) return rc;
      for (z = 0; z < pv->nzones; z++) {
        struct stv_node_affinity zt;
        if ((rc = zone_terms(x, &pv->zones[z], &zt)) != 0) return rc;
        if ((rc = and_terms(x, p, what, &nc.affinity, &zt)) != 0) return rc;
      }
      changed |= pv->aff.n > 0 || pv->nzones > 0;
      if ((rc = add_attach(x, p, pv->driver, pv->name, seen, &nseen)) != 0) return rc;
      continue;
    }
    /* Unbound: the claim's class, else the default class, as admission and retroactive assignment set it. */
    cls = pvc != NULL ? pvc->cls : f->eph_cls;
    if (cls == NULL) cls = x->default_class != NULL ? x->default_class->name : NULL;
    if (cls == NULL && x->vs->nclasses == 0) {
      unchecked = 1;
      continue;
    }
    sc = cls != NULL && *cls != '\0' ? vfind(&x->classes, cls, NULL) : NULL;
    if (sc == NULL && cls != NULL && *cls != '\0' && x->vs->nclasses == 0) {
      unchecked = 1;
      continue;
    }
    if (sc == NULL || !sc->wffc) {
      SET_WHY("pod has unbound immediate PersistentVolumeClaims (claim %s, storage class %s%s%s: no node can "
              "take the pod until the claim is bound)",
              f->claim, cls != NULL && *cls ? "\"" : "", cls != NULL && *cls ? cls : "none",
              cls != NULL && *cls ? "\"" : "");
      continue;
    }
    if (strcmp(sc->provisioner, "kubernetes.io/no-provisioner") == 0) {
      struct stv_node_affinity st;
      int none;
      if ((rc = static_volume_terms(x, sc, p, f->claim, &st, &none)) != 0) return rc;
      if (none) {
        SET_WHY(
            "node(s) didn't find available persistent volumes to bind (claim %s: storage class \"%s\" has "
            "no provisioner and no available volume)",
            f->claim, sc->name);
        continue;
      }
      if ((rc = and_terms(x, p, what, &nc.affinity, &st)) != 0) return rc;
      changed |= st.n > 0;
    } else {
      if ((rc = and_terms(x, p, what, &nc.affinity, &sc->topo)) != 0) return rc;
      changed |= sc->topo.n > 0;
      const char *driver = stv_strpool_get(&x->s->pool, migrated_driver(sc->provisioner));
      if (driver == NULL) return STV_ENOMEM;
      if ((rc = add_attach(x, p, driver, f->claim, seen, &nseen)) != 0) return rc;
    }
  }
  if (unchecked && x->stats != NULL) {
    x->stats->vol_unchecked_pods++;
    if (p->node < 0 && p->node_name == NULL) x->stats->vol_unchecked_pending++;
  }
  if (why[0] != '\0') {
    /* Bound pods run already: only pending ones are held back. */
    if (p->node_name != NULL) return 0;
    if ((nc.blocked = stv_strpool_get(&x->s->pool, why)) == NULL) return STV_ENOMEM;
    if (x->stats != NULL) x->stats->vol_blocked_pods++;
    changed = 1;
  }
  for (i = 0; i < nseen; i++) {
    nc.req[seen[i].dim]++;
    changed = 1;
  }
  if (!changed) return 0;
  rc = stv_snapshot_intern_class(x->s, &nc, &p->cls);
  if (rc == STV_ENOMEM) return rc;
  if (rc != 0) return stv_err_set(x->err, rc, "Pod %s/%s: %s", p->ns, p->name, stv_strerror(rc));
  return 0;
}

/*
 * The CSI drivers' topology keys that carry the zone: some node has the
 * label, and every node that has it has it equal to its zone. New nodes get
 * them (kubelet labels a node with a driver's topology when it registers),
 * so that allowedTopologies on them (topology.ebs.csi.aws.com/zone,
 * topology.gke.io/zone) can match new nodes.
 */
static int zone_alias(struct vres *x, const char *key);

static int zone_aliases(struct vres *x) {
  /* The block-storage drivers' keys count even when CSINodes were not dumped. */
  static const char *const well_known[] = {"topology.ebs.csi.aws.com/zone", "topology.gke.io/zone",
                                           "topology.disk.csi.azure.com/zone"};
  const struct vol_csinode *c;
  uint32_t i;
  int rc;
  for (i = 0; i < sizeof(well_known) / sizeof(well_known[0]); i++) {
    const char *key = stv_strpool_get(&x->s->pool, well_known[i]);
    if (key == NULL) return STV_ENOMEM;
    if ((rc = zone_alias(x, key)) != 0) return rc;
  }
  for (c = x->vs->csinodes; c != NULL; c = c->next)
    for (i = 0; i < c->nkeys; i++)
      if ((rc = zone_alias(x, c->keys[i])) != 0) return rc;
  return 0;
}

/* Adds key (interned) to the snapshot's zone labels when it is one. */
static int zone_alias(struct vres *x, const char *key) {
  struct stv_snapshot *s = x->s;
  const char **grown;
  int seen = 0, alias = 1;
  uint32_t j;
  size_t n;
  if (key == x->zone_ga || key == x->zone_beta || key == x->region_ga || key == x->region_beta) return 0;
  for (j = 0; j < s->nzone_labels; j++)
    if (s->zone_labels[j] == key) return 0;
  for (n = 0; n < s->nnodes && alias; n++) {
    const char *v = stv_labels_get(&s->nodes[n].labels, key);
    if (v == NULL) continue;
    seen = 1;
    alias = s->nodes[n].zone != NULL && strcmp(v, s->nodes[n].zone) == 0;
  }
  if (!seen || !alias) return 0;
  grown = stv_arena_alloc(&s->mem, ((size_t)s->nzone_labels + 1) * sizeof(*grown));
  if (grown == NULL) return STV_ENOMEM;
  if (s->nzone_labels > 0) memcpy(grown, s->zone_labels, s->nzone_labels * sizeof(*grown));
  grown[s->nzone_labels++] = key;
  s->zone_labels = grown;
  return 0;
}

int stv_snapshot_resolve_volumes(struct stv_snapshot *s, struct stv_snapshot_read_stats *stats,
                                 struct stv_err *err) {
  struct stv_snapshot_volumes *vs = s->volumes;
  struct vres x;
  const struct vol_pvc *c;
  const struct vol_pv *v;
  const struct vol_class *k;
  const struct vol_csinode *n;
  const struct vol_pod *vp;
  int rc = 0;

  if (vs != NULL && vs->resolved) return 0;
  memset(&x, 0, sizeof(x));
  x.s = s;
  x.vs = vs;
  x.stats = stats;
  x.err = err;
  stv_arena_init(&x.tmp);
  x.zone_ga = x.zone_keys[0] = stv_strpool_get(&s->pool, "topology.kubernetes.io/zone");
  x.region_ga = x.zone_keys[1] = stv_strpool_get(&s->pool, "topology.kubernetes.io/region");
  x.zone_beta = x.zone_keys[2] = stv_strpool_get(&s->pool, "failure-domain.beta.kubernetes.io/zone");
  x.region_beta = x.zone_keys[3] = stv_strpool_get(&s->pool, "failure-domain.beta.kubernetes.io/region");
  if (x.zone_ga == NULL || x.region_ga == NULL || x.zone_beta == NULL || x.region_beta == NULL) goto nomem;
  if (vs == NULL) { /* no storage objects: only the zone labels new nodes carry */
    struct stv_snapshot_volumes none;
    memset(&none, 0, sizeof(none));
    x.vs = &none;
    return zone_aliases(&x) != 0 ? stv_err_set(err, STV_ENOMEM, "out of memory resolving volumes") : 0;
  }
  if (vindex_build(&x.pvcs, vs->npvcs) || vindex_build(&x.pvs, vs->npvs) ||
      vindex_build(&x.classes, vs->nclasses) || vindex_build(&x.csinodes, vs->ncsinodes))
    goto nomem;
  for (c = vs->pvcs; c != NULL; c = c->next) x.pvcs.v[x.pvcs.n++] = (struct vkey){c->ns, c->name, c};
  for (v = vs->pvs; v != NULL; v = v->next) x.pvs.v[x.pvs.n++] = (struct vkey){v->name, NULL, v};
  for (k = vs->classes; k != NULL; k = k->next) {
    x.classes.v[x.classes.n++] = (struct vkey){k->name, NULL, k};
    /* Several default classes: the newest wins, as the API server picks it; then the first name. */
    if (k->is_default) {
      const struct vol_class *d = x.default_class;
      int cmp = d != NULL ? strcmp(k->created, d->created) : 1;
      if (d == NULL || cmp > 0 || (cmp == 0 && strcmp(k->name, d->name) < 0)) x.default_class = k;
    }
  }
  for (n = vs->csinodes; n != NULL; n = n->next)
    x.csinodes.v[x.csinodes.n++] = (struct vkey){n->node, NULL, n};
  vindex_sort(&x.pvcs);
  vindex_sort(&x.pvs);
  vindex_sort(&x.classes);
  vindex_sort(&x.csinodes);
  /* Duplicates would make the lookups ambiguous. */
  {
    static const char *const kinds[] = {"PersistentVolumeClaim", "PersistentVolume", "StorageClass",
                                        "CSINode"};
    const struct vindex *ix[] = {&x.pvcs, &x.pvs, &x.classes, &x.csinodes};
    size_t a, b;
    for (a = 0; a < 4; a++)
      for (b = 1; b < ix[a]->n; b++)
        if (vkey_cmp(&ix[a]->v[b - 1], &ix[a]->v[b]) == 0) {
          const char *first = ix[a]->v[b].a, *second = ix[a]->v[b].b;
          rc = stv_err_set(err, STV_ECONFLICT, "%s %s%s%s: appears twice in the snapshot", kinds[a], first,
                           second != NULL ? "/" : "", second != NULL ? second : "");
          goto out;
        }
  }
  if (zone_aliases(&x) != 0) goto nomem;
  for (vp = vs->pods; vp != NULL; vp = vp->next) {
    x.where = vp->where;
    rc = resolve_pod(&x, vp);
    stv_arena_reset(&x.tmp);
    if (rc == STV_ENOMEM) goto nomem;
    if (rc != 0) goto out;
  }
  if (stats != NULL && stats->attach_drivers > 0 && vs->ncsinodes == 0) stats->vol_no_csinodes = 1;
  vs->resolved = 1;
  goto out;
nomem:
  rc = stv_err_set(err, STV_ENOMEM, "out of memory resolving volumes");
out:
  stv_arena_reset(&x.tmp);
  stv_free(x.pvcs.v);
  stv_free(x.pvs.v);
  stv_free(x.classes.v);
  stv_free(x.csinodes.v);
  return rc;
}

static void count_skipped(struct stv_snapshot_read_stats *st, const char *kind) {
  size_t i;
  st->skipped++;
  for (i = 0; i < st->nkinds; i++)
    if (strncmp(st->kinds[i], kind, sizeof(st->kinds[i]) - 1) == 0) return;
  if (st->nkinds == STV_SNAPSHOT_STATS_KINDS) {
    st->more_kinds = 1;
    return;
  }
  snprintf(st->kinds[st->nkinds], sizeof(st->kinds[0]), "%s", kind);
  st->nkinds++;
}

/* ---------------------------------------------------------------------- */
/* The same object twice                                                  */

/* Number of objects of the kind with this letter: the index a new one gets. */
static size_t kind_count(const struct stv_snapshot *s, char letter) {
  switch (letter) {
  case 'P':
    return s->npods;
  case 'N':
    return s->nnodes;
  case 'B':
    return s->npdbs;
  case 'S':
    return s->nnamespaces;
  case 'C':
    return s->volumes != NULL ? s->volumes->npvcs : 0;
  case 'V':
    return s->volumes != NULL ? s->volumes->npvs : 0;
  case 'K':
    return s->volumes != NULL ? s->volumes->nclasses : 0;
  default:
    return s->volumes != NULL ? s->volumes->ncsinodes : 0;
  }
}

/*
 * Drops the storage object of kind letter called ns/name that the item just
 * read (the list's head) replaces: a newer version of it. Rare, so a walk.
 */
static void unlink_replaced_storage(struct stv_snapshot *s, char letter, const char *ns, const char *name) {
  struct stv_snapshot_volumes *vs = s->volumes;
/* Unlinks the first record after the list's head (the new version) for which cond holds on *pp. */
#define UNLINK_AFTER_HEAD(type, head, count, cond)           \
  do {                                                       \
    type **pp;                                               \
    if ((head) == NULL) return;                              \
    for (pp = &(head)->next; *pp != NULL; pp = &(*pp)->next) \
      if (cond) {                                            \
        *pp = (*pp)->next;                                   \
        (count)--;                                           \
        return;                                              \
      }                                                      \
  } while (0)
  if (vs == NULL) return;
  if (letter == 'C')
    UNLINK_AFTER_HEAD(struct vol_pvc, vs->pvcs, vs->npvcs,
                      strcmp((*pp)->name, name) == 0 && strcmp((*pp)->ns, ns) == 0);
  else if (letter == 'V')
    UNLINK_AFTER_HEAD(struct vol_pv, vs->pvs, vs->npvs, strcmp((*pp)->name, name) == 0);
  else if (letter == 'K')
    UNLINK_AFTER_HEAD(struct vol_class, vs->classes, vs->nclasses, strcmp((*pp)->name, name) == 0);
  else if (letter == 'I')
    UNLINK_AFTER_HEAD(struct vol_csinode, vs->csinodes, vs->ncsinodes, strcmp((*pp)->node, name) == 0);
#undef UNLINK_AFTER_HEAD
}

/* 1 when a is a newer resourceVersion than b: as integers when both are. */
static int rv_newer(const char *a, const char *b) {
  if (a != NULL && b != NULL && is_int64(a) && is_int64(b))
    return strtoll(a, NULL, 10) >= strtoll(b, NULL, 10);
  return 1; /* not comparable: the one read last */
}

/* Records a differing duplicate for the note, naming the first few. */
static void note_dup(struct rd *r, const struct stv_seen *old, int kept_new) {
  struct stv_snapshot_read_stats *st = r->stats;
  size_t k;
  if (st == NULL) return;
  k = st->dup_replaced++;
  if (k >= sizeof(st->dup_examples) / sizeof(st->dup_examples[0])) return;
  snprintf(st->dup_examples[k], sizeof(st->dup_examples[0]),
           "%s %s%s%s (resourceVersion %s, then %s: kept %s)", r->kind, r->ns != NULL ? r->ns : "",
           r->ns != NULL ? "/" : "", r->name, old->rv ? old->rv : "none", r->seen.rv ? r->seen.rv : "none",
           kept_new ? (r->seen.rv ? r->seen.rv : "the later") : (old->rv ? old->rv : "the earlier"));
}

/*
 * Looks item up among the objects read before. Identical (same
 * resourceVersion and uid, or for items without a resourceVersion the
 * same content): *skip. A different version: the one with the larger
 * resourceVersion is kept (the later one when they do not compare as
 * integers); r->replace says which earlier object a newer one replaces.
 */
static int seen_check(struct rd *r, const cJSON *item, const cJSON *meta, char letter, int *skip) {
  char key[600];
  const cJSON *rv = member(meta, "resourceVersion"), *uid = member(meta, "uid");
  struct stv_strmap_ent *e;
  struct stv_seen *old;
  int n;
  *skip = 0;
  r->replace = -1;
  memset(&r->seen, 0, sizeof(r->seen));
  n = snprintf(key, sizeof(key), "%c %s/%s", letter, r->ns != NULL ? r->ns : "", r->name);
  if (n < 0 || (size_t)n >= sizeof(key)) return 0; /* names this long the API refuses; not tracked */
  if (cJSON_IsString(rv) && rv->valuestring[0] != '\0' && (r->seen.rv = intern(r, rv->valuestring)) == NULL)
    return oom(r);
  if (cJSON_IsString(uid) && uid->valuestring[0] != '\0' &&
      (r->seen.uid = intern(r, uid->valuestring)) == NULL)
    return oom(r);
  e = stv_strmap_find(&r->s->seen, key, (size_t)n);
  if (r->seen.rv == NULL) {
    /* Hand-made input: the content tells identical copies apart. */
    char *text = cJSON_PrintUnformatted(item);
    if (text == NULL) return oom(r);
    r->seen.hash = stv_hash(text, strlen(text), 0x5eed);
    cJSON_free(text);
  }
  if (e == NULL) return 0;
  old = &r->s->seen_v[e->val];
  if (old->rv == r->seen.rv && old->uid == r->seen.uid && (r->seen.rv != NULL || old->hash == r->seen.hash)) {
    if (r->stats != NULL) r->stats->dup_identical++;
    *skip = 1;
    return 0;
  }
  if (!rv_newer(r->seen.rv, old->rv)) {
    note_dup(r, old, 0);
    *skip = 1;
    return 0;
  }
  note_dup(r, old, 1);
  r->replace = (long)old->index;
  return 0;
}

/* Records the item just read (when it was kept) as seen. */
static int seen_commit(struct rd *r, char letter, size_t before) {
  char key[600];
  struct stv_strmap_ent *e;
  int n, added;
  if (r->replace >= 0) {
    n = snprintf(key, sizeof(key), "%c %s/%s", letter, r->ns != NULL ? r->ns : "", r->name);
    if (n > 0 && (size_t)n < sizeof(key) && (e = stv_strmap_find(&r->s->seen, key, (size_t)n)) != NULL) {
      struct stv_seen *old = &r->s->seen_v[e->val];
      old->rv = r->seen.rv;
      old->uid = r->seen.uid;
      old->hash = r->seen.hash;
    }
    return 0;
  }
  if (kind_count(r->s, letter) == before) return 0; /* left out (a finished pod, a PDB without selector) */
  n = snprintf(key, sizeof(key), "%c %s/%s", letter, r->ns != NULL ? r->ns : "", r->name);
  if (n < 0 || (size_t)n >= sizeof(key)) return 0;
  if (stv_grow((void **)&r->s->seen_v, &r->s->cap_seen, r->s->nseen + 1, sizeof(*r->s->seen_v)) != 0)
    return oom(r);
  if (stv_strmap_upsert(&r->s->seen, &r->s->pool, key, (size_t)n, (uint32_t)r->s->nseen, &e, &added) != 0)
    return oom(r);
  r->seen.index = (uint32_t)before;
  r->s->seen_v[r->s->nseen++] = r->seen;
  return 0;
}

/* The letter that keys the objects of a kind Stevedore reads, or 0 for a kind it skips. */
static char kind_letter(const char *kind) {
  static const struct {
    const char *kind;
    char letter;
  } kinds[] = {{"Pod", 'P'},
               {"Node", 'N'},
               {"PodDisruptionBudget", 'B'},
               {"Namespace", 'S'},
               {"PersistentVolumeClaim", 'C'},
               {"PersistentVolume", 'V'},
               {"StorageClass", 'K'},
               {"CSINode", 'I'}};
  size_t i;
  for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
    if (strcmp(kind, kinds[i].kind) == 0) return kinds[i].letter;
  return 0;
}

/* Reads one object of the kind letter stands for. */
static int read_kind(struct rd *r, char letter, const cJSON *item, const cJSON *meta) {
  switch (letter) {
  case 'P':
    return read_pod(r, item, meta);
  case 'N':
    return read_node(r, item, meta);
  case 'B':
    return read_pdb(r, item);
  case 'S':
    return read_namespace(r, meta);
  case 'C':
    return read_pvc(r, item, meta);
  case 'V':
    return read_pv(r, item, meta);
  case 'K':
    return read_storage_class(r, item, meta);
  default:
    return read_csinode(r, item);
  }
}

static int read_item(struct rd *r, const cJSON *item) {
  static const struct jpath p_kind = {NULL, "kind", 0};
  static const struct jpath p_name = {&P_METADATA, "name", 0};
  const cJSON *meta;
  const char *kind, *name, *ns;
  int rc, namespaced;
  char letter;

  r->kind = r->ns = r->name = NULL;
  if (r->stats != NULL) r->stats->items++;
  if (!cJSON_IsObject(item)) return fail(r, STV_EPARSE, NULL, "not an object");
  if ((rc = get_str(r, item, "kind", NULL, &kind)) != 0) return rc;
  if (kind == NULL || *kind == '\0') return fail(r, STV_EPARSE, &p_kind, "missing");
  r->kind = kind;
  if ((rc = get(r, item, "metadata", NULL, JT_OBJECT, &meta)) != 0) return rc;
  if ((rc = get_str(r, meta, "name", &P_METADATA, &name)) != 0) return rc;
  if (name == NULL || *name == '\0') return fail(r, STV_EPARSE, &p_name, "missing");
  if ((rc = get_str(r, meta, "namespace", &P_METADATA, &ns)) != 0) return rc;
  namespaced = strcmp(kind, "Pod") == 0 || strcmp(kind, "PodDisruptionBudget") == 0;
  namespaced |= strcmp(kind, "PersistentVolumeClaim") == 0;
  if (namespaced && (ns == NULL || *ns == '\0')) ns = "default";
  if (ns != NULL && *ns == '\0') ns = NULL;
  if (strcmp(kind, "Node") == 0 || strcmp(kind, "Namespace") == 0) ns = NULL;
  if (strcmp(kind, "PersistentVolume") == 0 || strcmp(kind, "StorageClass") == 0 ||
      strcmp(kind, "CSINode") == 0)
    ns = NULL;
  r->ns = ns;
  r->name = name;
  r->replace = -1;
  if (r->stats != NULL) r->stats->replaced_pod = r->stats->replaced_node = -1;

  if ((letter = kind_letter(kind)) != 0) {
    /* An object read twice counts once: skipped when identical, else the newer version kept. */
    size_t before = kind_count(r->s, letter);
    int skip;
    if ((rc = seen_check(r, item, meta, letter, &skip)) != 0 || skip) return rc;
    if ((rc = read_kind(r, letter, item, meta)) != 0) return rc;
    /* Pods and nodes replace their earlier version in place; storage records are unlinked. */
    if (r->replace >= 0 && strchr("CVKI", letter) != NULL)
      unlink_replaced_storage(r->s, letter, ns != NULL ? ns : "", name);
    return seen_commit(r, letter, before);
  }
  if (r->stats != NULL) count_skipped(r->stats, kind);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Entry points                                                           */

int stv_snapshot_add_item_stats(struct stv_snapshot *s, const cJSON *item,
                                struct stv_snapshot_read_stats *stats, struct stv_err *err) {
  struct stv_arena tmp;
  struct rd r;
  int rc;
  stv_arena_init(&tmp);
  memset(&r, 0, sizeof(r));
  r.s = s;
  r.tmp = &tmp;
  r.stats = stats;
  r.err = err;
  rc = read_item(&r, item);
  stv_arena_reset(&tmp);
  return rc;
}

int stv_snapshot_add_item(struct stv_snapshot *s, const cJSON *item, struct stv_err *err) {
  return stv_snapshot_add_item_stats(s, item, NULL, err);
}

static int on_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct rd *r = ctx;
  int rc;
  r->index = index;
  r->err = err;
  rc = read_item(r, item);
  stv_arena_reset(r->tmp);
  return rc;
}

int stv_snapshot_read_file_stats(struct stv_snapshot *s, const char *path,
                                 struct stv_snapshot_read_stats *stats, struct stv_err *err) {
  struct stv_arena tmp;
  struct rd r;
  int rc;
  stv_arena_init(&tmp);
  memset(&r, 0, sizeof(r));
  r.s = s;
  r.tmp = &tmp;
  r.stats = stats;
  r.err = err;
  r.path = path;
  rc = stv_kube_read(path, on_item, &r, stats, err);
  stv_arena_reset(&tmp);
  return rc;
}

int stv_snapshot_read_file(struct stv_snapshot *s, const char *path, struct stv_err *err) {
  return stv_snapshot_read_file_stats(s, path, NULL, err);
}

char *stv_snapshot_read_stats_format(const struct stv_snapshot_read_stats *st, char *buf,
                                     size_t size) {
  size_t n = 0;
  if (size == 0) return buf;
  buf[0] = '\0';
  if (st->skipped > 0) {
    size_t i;
    appendf(buf, size, &n, "skipped %zu item%s of kind%s ", st->skipped,
            st->skipped == 1 ? "" : "s", st->nkinds + (size_t)st->more_kinds > 1 ? "s" : "");
    for (i = 0; i < st->nkinds; i++)
      appendf(buf, size, &n, "%s%s", i > 0 ? ", " : "", st->kinds[i]);
    if (st->more_kinds) appendf(buf, size, &n, ", ...");
  }
  if (st->finished_pods > 0)
    appendf(buf, size, &n, "%s%zu finished pod%s (Succeeded or Failed)", n > 0 ? "; " : "skipped ",
            st->finished_pods, st->finished_pods == 1 ? "" : "s");
  if (st->condition_nodes > 0) {
    size_t i, shown = sizeof(st->condition_examples) / sizeof(st->condition_examples[0]);
    if (shown > st->condition_nodes) shown = st->condition_nodes;
    appendf(buf, size, &n, "%s%zu node%s tainted by %s conditions (", n > 0 ? "; " : "", st->condition_nodes,
            st->condition_nodes == 1 ? "" : "s", st->condition_nodes == 1 ? "its" : "their");
    for (i = 0; i < shown; i++) appendf(buf, size, &n, "%s%s", i > 0 ? ", " : "", st->condition_examples[i]);
    appendf(buf, size, &n, "%s) take%s only pods that tolerate those taints",
            st->condition_nodes > shown ? ", ..." : "", st->condition_nodes == 1 ? "s" : "");
  }
  if (st->dup_identical > 0)
    appendf(buf, size, &n, "%s%zu identical duplicate%s (read once)", n > 0 ? "; " : "skipped ",
            st->dup_identical, st->dup_identical == 1 ? "" : "s");
  if (st->ignored_files > 0) {
    size_t i;
    appendf(buf, size, &n, "%s%zu file%s of the cluster-info dump (", n > 0 ? "; " : "skipped ",
            st->ignored_files, st->ignored_files == 1 ? "" : "s");
    for (i = 0; i < st->nignored_names; i++)
      appendf(buf, size, &n, "%s%s", i > 0 ? ", " : "", st->ignored_names[i]);
    appendf(buf, size, &n, "%s)", st->more_ignored_names ? ", ..." : "");
  }
  if (st->log_blocks > 0)
    appendf(buf, size, &n, "%s%zu container log block%s of the cluster-info dump", n > 0 ? "; " : "skipped ",
            st->log_blocks, st->log_blocks == 1 ? "" : "s");
  return buf;
}

/* ---------------------------------------------------------------------- */
/* Notes on what was read                                                 */

/* How many objects a note names before "...". */
#define NOTE_NAMES 3

int stv_snapshot_notes(const struct stv_snapshot *s, const struct stv_snapshot_read_stats *st, int for_report,
                       stv_snapshot_note_fn note, void *ctx) {
  char msg[1024];
  size_t n = 0, i, k = 0, pending = 0;
  int rc;

  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    if (p->flags & STV_POD_NODE_MISSING) {
      if (k < NOTE_NAMES)
        appendf(msg, sizeof(msg), &n, "%s%s/%s on %s", k > 0 ? ", " : "", p->ns, p->name, p->node_name);
      k++;
    } else if (p->node < 0 && p->phase != STV_PHASE_SUCCEEDED && p->phase != STV_PHASE_FAILED &&
               !(p->flags & STV_POD_HEADROOM)) {
      pending++;
    }
  }
  if (k > 0) {
    char head[1280];
    snprintf(head, sizeof(head),
             "%zu pod%s bound to %s missing from the snapshot (%s%s): nodes and pods are not listed at the "
             "same instant; %s",
             k, k == 1 ? " is" : "s are", k == 1 ? "a node" : "nodes", msg, k > NOTE_NAMES ? ", ..." : "",
             for_report ? "their requests are not attributed to any priced node"
                        : "left out of the plan (neither pending nor on a known node)");
    if ((rc = note(ctx, head)) != 0) return rc;
  }
  if (s->nnodes == 0 && pending > 0 && !for_report) {
    if ((rc =
             note(ctx, "the snapshot has no nodes: existing capacity was not given, so the plan may buy more "
                       "than needed (give the nodes too: kubectl get nodes,pods -A -o json)")) != 0)
      return rc;
  }
  if (st == NULL) return 0;
  if (st->nodes_no_capacity > 0) {
    n = 0;
    msg[0] = '\0';
    for (i = 0;
         i < st->nodes_no_capacity && i < sizeof(st->no_capacity_names) / sizeof(st->no_capacity_names[0]);
         i++)
      appendf(msg, sizeof(msg), &n, "%s%s", i > 0 ? ", " : "", st->no_capacity_names[i]);
    {
      char head[1280];
      snprintf(head, sizeof(head),
               "%zu node%s without status.allocatable or status.capacity (%s%s) read as full: no pod fits "
               "there, as kube-scheduler sees zero allocatable",
               st->nodes_no_capacity, st->nodes_no_capacity == 1 ? "" : "s", msg,
               st->nodes_no_capacity > i ? ", ..." : "");
      if ((rc = note(ctx, head)) != 0) return rc;
    }
  }
  if (st->dup_replaced > 0) {
    char head[1280];
    n = 0;
    msg[0] = '\0';
    for (i = 0; i < st->dup_replaced && i < sizeof(st->dup_examples) / sizeof(st->dup_examples[0]); i++)
      appendf(msg, sizeof(msg), &n, "%s%s", i > 0 ? "; " : "", st->dup_examples[i]);
    snprintf(head, sizeof(head),
             "%zu object%s read twice in different versions, the newer resourceVersion kept: %s%s",
             st->dup_replaced, st->dup_replaced == 1 ? "" : "s", msg, st->dup_replaced > i ? "; ..." : "");
    if ((rc = note(ctx, head)) != 0) return rc;
  }
  return 0;
}
