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
  const cJSON *na, *req, *terms, *t;
  long i = 0;
  int rc;

  out->n = 0;
  out->terms = NULL;
  if ((rc = get(r, affinity, "nodeAffinity", pa, JT_OBJECT, &na)) != 0) return rc;
  if ((rc = get(r, na, "requiredDuringSchedulingIgnoredDuringExecution", &pn, JT_OBJECT, &req)) !=
      0)
    return rc;
  if (req == NULL) return 0;
  if ((rc = get(r, req, "nodeSelectorTerms", &pr, JT_ARRAY, &terms)) != 0) return rc;
  if (terms == NULL) return fail(r, STV_EPARSE, &pt, "missing");
  if (terms->child == NULL) return fail(r, STV_EINVAL, &pt, "must have at least one term");
  out->terms = scratch(r, (size_t)cJSON_GetArraySize(terms), sizeof(*out->terms));
  if (out->terms == NULL) return oom(r);
  cJSON_ArrayForEach(t, terms) {
    struct jpath pi = {&pt, NULL, i++};
    struct jpath pe = {&pi, "matchExpressions", 0}, pf = {&pi, "matchFields", 0};
    struct stv_node_term *nt = &out->terms[out->n];
    const cJSON *me, *mf;
    if (!cJSON_IsObject(t)) return fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = get(r, t, "matchExpressions", &pi, JT_ARRAY, &me)) != 0) return rc;
    if ((rc = get(r, t, "matchFields", &pi, JT_ARRAY, &mf)) != 0) return rc;
    if ((rc = read_requirements(r, me, &pe, EXPR_NODE, &nt->exprs)) != 0) return rc;
    if ((rc = read_requirements(r, mf, &pf, EXPR_FIELD, &nt->fields)) != 0) return rc;
    if (daemonset && nt->fields.n > 0) {
      nt->fields.n = 0;
      if (nt->exprs.n == 0) continue;
    }
    out->n++;
  }
  return 0;
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
  if (spot != NULL && strcmp(spot, "false") == 0 && (rc = add_spot_opt_out(r, &c.node_selector)) != 0) return rc;
  if ((rc = stv_snapshot_intern_class(r->s, &c, &pod.cls)) != 0)
    return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
  if ((rc = stv_snapshot_add_pod(r->s, &pod)) != 0)
    return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
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
    return fail(r, STV_EPARSE, &palloc, "missing (and no status.capacity)");
  if (rc != 0) return rc;
  memcpy(n.alloc, a.v, sizeof(a.v));

  n.instance_type = first_label(&n.labels, "node.kubernetes.io/instance-type",
                                "beta.kubernetes.io/instance-type");
  n.zone = first_label(&n.labels, "topology.kubernetes.io/zone",
                       "failure-domain.beta.kubernetes.io/zone");
  if ((ct = capacity_type(&n.labels)) != NULL && (n.capacity_type = intern(r, ct)) == NULL)
    return oom(r);

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
  if ((rc = stv_snapshot_add_namespace(r->s, &ns)) != 0)
    return rc == STV_ENOMEM ? oom(r) : fail(r, rc, NULL, "%s", stv_strerror(rc));
  if (r->stats != NULL) r->stats->namespaces++;
  return 0;
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

static int read_item(struct rd *r, const cJSON *item) {
  static const struct jpath p_kind = {NULL, "kind", 0};
  static const struct jpath p_name = {&P_METADATA, "name", 0};
  const cJSON *meta;
  const char *kind, *name, *ns;
  int rc, namespaced;

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
  if (namespaced && (ns == NULL || *ns == '\0')) ns = "default";
  if (ns != NULL && *ns == '\0') ns = NULL;
  if (strcmp(kind, "Node") == 0 || strcmp(kind, "Namespace") == 0) ns = NULL;
  r->ns = ns;
  r->name = name;

  if (strcmp(kind, "Pod") == 0) return read_pod(r, item, meta);
  if (strcmp(kind, "Node") == 0) return read_node(r, item, meta);
  if (strcmp(kind, "PodDisruptionBudget") == 0) return read_pdb(r, item);
  if (strcmp(kind, "Namespace") == 0) return read_namespace(r, meta);
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
  (void)index;
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
  rc = stv_json_stream_file(path, on_item, &r, err);
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
  return buf;
}
