/*
 * The field readers every kind shares: typed access to JSON members,
 * arrays of objects (stv__read_list), labels and label selectors, node
 * selector requirements and terms, and the enumerations (two-word choices,
 * taint effects). Each reports errors with the item and the JSON path of
 * the field (stv__fail).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_internal.h"

/* ---------------------------------------------------------------------- */
/* Typed access to JSON members; JSON null counts as absent               */

/* Fails for obj.key (at up) not being of type t. */
int stv__fail_type(struct rd *r, const struct jpath *up, const char *key, enum jtype t) {
  static const char *const jtype_name[] = {"an object", "an array", "a string", "a boolean", "a number"};
  struct jpath p = {up, key, 0};
  return stv__fail(r, STV_EPARSE, &p, "not %s", jtype_name[t]);
}

/* A required, non-empty string member. */
int stv__need_str(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up, const char **out) {
  int rc = stv__get_str(r, obj, key, up, out);
  struct jpath p = {up, key, 0};
  if (rc != 0) return rc;
  if (*out == NULL) {
    stv__fail(r, STV_EPARSE, &p, "missing");
    return STV_EPARSE;
  }
  if (**out == '\0') return stv__fail(r, STV_EINVAL, &p, "must not be empty");
  return 0;
}

/* An optional 32-bit integer member; *present says whether it was there. */
int stv__get_int32(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up, int *present,
                   int32_t *out) {
  const cJSON *c;
  struct jpath p = {up, key, 0};
  int rc = stv__get(r, obj, key, up, JT_NUMBER, &c);
  *present = 0;
  *out = 0;
  if (rc != 0 || c == NULL) return rc;
  if (!(c->valuedouble >= -2147483648.0 && c->valuedouble <= 2147483647.0) ||
      (double)(int32_t)c->valuedouble != c->valuedouble)
    return stv__fail(r, STV_EPARSE, &p, "not a 32-bit integer");
  *present = 1;
  *out = (int32_t)c->valuedouble;
  return 0;
}

/* Checks that every element of the array a is a string. */
int stv__check_strings(struct rd *r, const cJSON *a, const struct jpath *p) {
  const cJSON *e;
  long i = 0;
  cJSON_ArrayForEach(e, a) {
    if (!stv__jtype_is(e, JT_STRING)) {
      struct jpath pe = {p, NULL, i};
      return stv__fail(r, STV_EPARSE, &pe, "not a string");
    }
    i++;
  }
  return 0;
}

void *stv__read_list(struct rd *r, const cJSON *arr, const struct jpath *p, size_t elem, stv__elem_fn *one,
                     const void *ctx, uint32_t *n, int *rc) {
  const cJSON *e;
  char *v;
  *n = 0;
  *rc = 0;
  if (arr == NULL || arr->child == NULL) return NULL;
  if ((v = stv__scratch(r, (size_t)cJSON_GetArraySize(arr), elem)) == NULL) {
    *rc = stv__oom(r);
    return NULL;
  }
  cJSON_ArrayForEach(e, arr) {
    struct jpath pi = {p, NULL, (long)*n};
    if (!cJSON_IsObject(e))
      *rc = stv__fail(r, STV_EPARSE, &pi, "not an object");
    else
      *rc = one(r, e, &pi, ctx, v + (size_t)*n * elem);
    if (*rc != 0) return NULL;
    (*n)++;
  }
  return v;
}

/* ---------------------------------------------------------------------- */
/* Labels and selectors                                                   */

int stv__label_cmp(const void *a, const void *b) {
  return strcmp(((const struct stv_label *)a)->key, ((const struct stv_label *)b)->key);
}

/* Reads a map of strings (obj may be NULL) as a sorted label set. */
int stv__read_string_map(struct rd *r, const cJSON *obj, const struct jpath *p, struct stv_labels *out) {
  const cJSON *c;
  uint32_t n = 0, i;
  out->n = 0;
  out->kv = NULL;
  if (obj == NULL || obj->child == NULL) return 0;
  out->kv = stv__scratch(r, (size_t)cJSON_GetArraySize(obj), sizeof(*out->kv));
  if (out->kv == NULL) return stv__oom(r);
  cJSON_ArrayForEach(c, obj) {
    struct jpath pk = {p, c->string, 0};
    if (!stv__jtype_is(c, JT_STRING)) return stv__fail(r, STV_EPARSE, &pk, "not a string");
    out->kv[n].key = stv__intern(r, c->string);
    out->kv[n].value = stv__intern(r, c->valuestring);
    if (out->kv[n].key == NULL || out->kv[n].value == NULL) return stv__oom(r);
    n++;
  }
  qsort(out->kv, n, sizeof(*out->kv), stv__label_cmp);
  for (i = 1; i < n; i++) {
    if (out->kv[i].key == out->kv[i - 1].key) {
      struct qbuf q;
      return stv__fail(r, STV_EPARSE, p, "duplicate key \"%s\"", stv__quote(out->kv[i].key, &q));
    }
  }
  out->n = n;
  return 0;
}

/* A one-value requirement "key In (value)" or "key NotIn (value)". */
int stv__one_value_req(struct rd *r, const char *key, enum stv_op op, const char *value,
                       struct stv_requirement *out) {
  const char **v = stv__scratch(r, 1, sizeof(*v));
  if (v == NULL) return stv__oom(r);
  v[0] = value;
  out->key = key;
  out->op = op;
  out->nvalues = 1;
  out->values = v;
  return 0;
}

/* Turns a sorted map into "key In (value)" requirements; reserves extra. */
int stv__map_to_reqs(struct rd *r, const struct stv_labels *m, uint32_t extra, struct stv_selector *out) {
  uint32_t i;
  out->n = 0;
  out->reqs = NULL;
  if (m->n + extra == 0) return 0;
  out->reqs = stv__scratch(r, (size_t)m->n + extra, sizeof(*out->reqs));
  if (out->reqs == NULL) return stv__oom(r);
  for (i = 0; i < m->n; i++) {
    int rc = stv__one_value_req(r, m->kv[i].key, STV_OP_IN, m->kv[i].value, &out->reqs[i]);
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
int stv__is_int64(const char *s) {
  char *end;
  if (*s == '\0' || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v') return 0;
  errno = 0;
  (void)strtoll(s, &end, 10);
  return errno == 0 && *end == '\0';
}

static int read_requirement(struct rd *r, const cJSON *e, const struct jpath *p, enum expr_kind kind,
                            struct stv_requirement *out) {
  struct jpath pk = {p, "key", 0}, po = {p, "operator", 0}, pv = {p, "values", 0};
  const char *key, *opname;
  const cJSON *vals, *v;
  struct qbuf q;
  uint32_t nv, i;
  int op = -1, rc;

  if (!cJSON_IsObject(e)) return stv__fail(r, STV_EPARSE, p, "not an object");
  if ((rc = stv__need_str(r, e, "key", p, &key)) != 0) return rc;
  if ((rc = stv__need_str(r, e, "operator", p, &opname)) != 0) return rc;
  if ((rc = stv__get(r, e, "values", p, JT_ARRAY, &vals)) != 0) return rc;
  for (i = 0; i < sizeof(op_name) / sizeof(op_name[0]); i++)
    if (strcmp(opname, op_name[i]) == 0) op = (int)i;
  if (op < 0) return stv__fail(r, STV_EINVAL, &po, "unknown operator \"%s\"", stv__quote(opname, &q));
  if (kind == EXPR_FIELD) {
    if (strcmp(key, "metadata.name") != 0)
      return stv__fail(r, STV_EINVAL, &pk, "unsupported field \"%s\" (only metadata.name)",
                       stv__quote(key, &q));
    if (op != STV_OP_IN && op != STV_OP_NOT_IN)
      return stv__fail(r, STV_EINVAL, &po, "operator %s not allowed in matchFields (In or NotIn)",
                       op_name[op]);
  }
  if (kind == EXPR_LABEL && (op == STV_OP_GT || op == STV_OP_LT))
    return stv__fail(r, STV_EINVAL, &po,
                     "operator %s not allowed in a label selector (In, NotIn, Exists or "
                     "DoesNotExist)",
                     op_name[op]);
  nv = vals != NULL ? (uint32_t)cJSON_GetArraySize(vals) : 0;
  switch (op) {
  case STV_OP_IN:
  case STV_OP_NOT_IN:
    if (kind == EXPR_FIELD && nv != 1)
      return stv__fail(r, STV_EINVAL, &pv, "must have exactly one value in matchFields");
    if (nv == 0) return stv__fail(r, STV_EINVAL, &pv, "must not be empty for operator %s", op_name[op]);
    break;
  case STV_OP_EXISTS:
  case STV_OP_DOES_NOT_EXIST:
    if (nv != 0) return stv__fail(r, STV_EINVAL, &pv, "must be empty for operator %s", op_name[op]);
    break;
  default:
    if (nv != 1)
      return stv__fail(r, STV_EINVAL, &pv, "must have exactly one value for operator %s", op_name[op]);
    break;
  }
  if ((rc = stv__check_strings(r, vals, &pv)) != 0) return rc;
  out->key = stv__intern(r, key);
  if (out->key == NULL) return stv__oom(r);
  out->op = (enum stv_op)op;
  out->nvalues = nv;
  out->values = NULL;
  if (nv == 0) return 0;
  out->values = stv__scratch(r, nv, sizeof(*out->values));
  if (out->values == NULL) return stv__oom(r);
  i = 0;
  cJSON_ArrayForEach(v, vals) {
    if ((op == STV_OP_GT || op == STV_OP_LT) && !stv__is_int64(v->valuestring)) {
      struct jpath pe = {&pv, NULL, (long)i};
      return stv__fail(r, STV_EINVAL, &pe, "not an integer: \"%s\"", stv__quote(v->valuestring, &q));
    }
    out->values[i] = stv__intern(r, v->valuestring);
    if (out->values[i] == NULL) return stv__oom(r);
    i++;
  }
  return 0;
}

/* read_requirement as an element of stv__read_list; kind points to the enum expr_kind. */
static int read_requirement_elem(struct rd *r, const cJSON *e, const struct jpath *p, const void *kind,
                                 void *slot) {
  return read_requirement(r, e, p, *(const enum expr_kind *)kind, slot);
}

/* Reads an array of requirements (arr may be NULL) into sel. */
static int read_requirements(struct rd *r, const cJSON *arr, const struct jpath *p, enum expr_kind kind,
                             struct stv_selector *sel) {
  int rc;
  sel->reqs = stv__read_list(r, arr, p, sizeof(*sel->reqs), read_requirement_elem, &kind, &sel->n, &rc);
  return rc;
}

/*
 * Reads a metav1.LabelSelector object: matchLabels (as In requirements in
 * key order) then matchExpressions, with room for extra more requirements.
 */
int stv__read_label_selector(struct rd *r, const cJSON *obj, const struct jpath *p, uint32_t extra,
                             struct stv_selector *out) {
  struct jpath pl = {p, "matchLabels", 0}, pe = {p, "matchExpressions", 0};
  const cJSON *ml, *me, *e;
  struct stv_labels m;
  uint32_t ne;
  int rc;

  if ((rc = stv__get(r, obj, "matchLabels", p, JT_OBJECT, &ml)) != 0) return rc;
  if ((rc = stv__get(r, obj, "matchExpressions", p, JT_ARRAY, &me)) != 0) return rc;
  if ((rc = stv__read_string_map(r, ml, &pl, &m)) != 0) return rc;
  ne = me != NULL ? (uint32_t)cJSON_GetArraySize(me) : 0;
  if ((rc = stv__map_to_reqs(r, &m, ne + extra, out)) != 0) return rc;
  cJSON_ArrayForEach(e, me) {
    struct jpath pi = {&pe, NULL, (long)(out->n - m.n)};
    if ((rc = read_requirement(r, e, &pi, EXPR_LABEL, &out->reqs[out->n])) != 0) return rc;
    out->n++;
  }
  return 0;
}

/*
 * Reads nodeSelectorTerms (terms, at path pt; NULL when absent) into out:
 * the OR of terms, each matchExpressions AND matchFields.
 */
int stv__read_selector_terms(struct rd *r, const cJSON *terms, const struct jpath *pt, enum terms_use use,
                             struct stv_node_affinity *out) {
  const cJSON *t;
  long i = 0;
  int rc;
  if (terms == NULL) return stv__fail(r, STV_EPARSE, pt, "missing");
  if (terms->child == NULL) return stv__fail(r, STV_EINVAL, pt, "must have at least one term");
  if ((out->terms = stv__scratch(r, stv__array_len(terms), sizeof(*out->terms))) == NULL) return stv__oom(r);
  cJSON_ArrayForEach(t, terms) {
    struct jpath pi = {pt, NULL, i++};
    struct jpath pe = {&pi, "matchExpressions", 0}, pf = {&pi, "matchFields", 0};
    struct stv_node_term *nt = &out->terms[out->n];
    const cJSON *me, *mf;
    if (!cJSON_IsObject(t)) return stv__fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = stv__get(r, t, "matchExpressions", &pi, JT_ARRAY, &me)) != 0) return rc;
    if ((rc = stv__get(r, t, "matchFields", &pi, JT_ARRAY, &mf)) != 0) return rc;
    if ((rc = read_requirements(r, me, &pe, EXPR_NODE, &nt->exprs)) != 0) return rc;
    if ((rc = read_requirements(r, mf, &pf, EXPR_FIELD, &nt->fields)) != 0) return rc;
    if (use == TERMS_DAEMONSET && nt->fields.n > 0) {
      nt->fields.n = 0;
      if (nt->exprs.n == 0) continue;
    }
    if (use == TERMS_VOLUME) {
      if (nt->exprs.n == 0 && nt->fields.n == 0)
        return stv__fail(r, STV_EINVAL, &pi, "must have matchExpressions or matchFields");
      /* The volume check sees only the node's labels (storage helpers'
         CheckNodeAffinity): a term with matchFields matches no node. */
      if (nt->fields.n > 0) continue;
    }
    out->n++;
  }
  return 0;
}

/* Reads a string member that must be one of two words; *out is its index. */
int stv__read_choice(struct rd *r, const cJSON *obj, const char *key, const struct jpath *up, const char *a,
                     const char *b, int dflt, int *out) {
  struct jpath p = {up, key, 0};
  const char *v;
  struct qbuf q;
  int rc = stv__get_str(r, obj, key, up, &v);
  if (rc != 0) return rc;
  if (v == NULL || *v == '\0') {
    if (dflt < 0) return stv__fail(r, STV_EPARSE, &p, "missing");
    *out = dflt;
  } else if (strcmp(v, a) == 0) {
    *out = 0;
  } else if (strcmp(v, b) == 0) {
    *out = 1;
  } else {
    return stv__fail(r, STV_EINVAL, &p, "unknown value \"%s\" (%s or %s)", stv__quote(v, &q), a, b);
  }
  return 0;
}

/* An effect name; empty is allowed (all effects) only when all is set. */
int stv__parse_effect(struct rd *r, const char *v, const struct jpath *p, int all, enum stv_effect *out) {
  struct qbuf q;
  if (v == NULL || *v == '\0') {
    if (!all) return stv__fail(r, STV_EPARSE, p, "missing");
    *out = STV_EFFECT_ALL;
  } else if (strcmp(v, "NoSchedule") == 0) {
    *out = STV_EFFECT_NO_SCHEDULE;
  } else if (strcmp(v, "PreferNoSchedule") == 0) {
    *out = STV_EFFECT_PREFER_NO_SCHEDULE;
  } else if (strcmp(v, "NoExecute") == 0) {
    *out = STV_EFFECT_NO_EXECUTE;
  } else {
    return stv__fail(r, STV_EINVAL, p, "unknown effect \"%s\" (NoSchedule, PreferNoSchedule or NoExecute)",
                     stv__quote(v, &q));
  }
  return 0;
}
