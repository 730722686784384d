/*
 * The configuration file. libyaml composes the whole document into its node
 * tree; the tree is then walked by the schema (never by its own shape, so
 * that aliases, even to an ancestor, cannot make the walk loop), copying
 * what it keeps into a scratch struct stv_config that replaces the caller's
 * only when the whole file is good. Every error carries the file, the
 * 1-based line and column of the node at fault and the key path built from
 * a chain of segments on the stack.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define CONFIG_MAX_BYTES (1u << 20)

/* ---------------------------------------------------------------------- */
/* Value parsers shared with the command line                             */

static const char ct_expected[] = "expected reserved, spot, on-demand";

int stv_config_parse_capacity_types(const char *list, unsigned *mask, struct stv_err *err) {
  const char *p = list;
  *mask = 0;
  while (*p) {
    size_t n = strcspn(p, ",");
    char word[32];
    enum stv_capacity_type ct;
    if (n == 0 || n >= sizeof(word))
      return stv_err_set(err, STV_EINVAL, "empty or overlong entry in \"%.80s\"", list);
    memcpy(word, p, n);
    word[n] = '\0';
    if (stv_capacity_type_parse(word, &ct) != 0)
      return stv_err_set(err, STV_EINVAL, "unknown capacity type \"%s\" (%s)", word, ct_expected);
    *mask |= 1u << ct;
    p += n;
    if (*p == ',') p++;
  }
  if (*mask == 0) return stv_err_set(err, STV_EINVAL, "empty list of capacity types (%s)", ct_expected);
  return 0;
}

/* Reads a plain decimal number (base.h's grammar) from s; *end after it. */
static int decimal(const char *s, double *out, const char **end) {
  return stv_parse_number_prefix(s, out, end) == 0 ? 0 : -1;
}

int stv_config_parse_number(const char *s, double lo, double hi, double *out, struct stv_err *err) {
  const char *end;
  double v;
  if (decimal(s, &v, &end) != 0 || *end != '\0')
    return stv_err_set(err, STV_EINVAL, "\"%.80s\" is not a number", s);
  if (!(v >= lo && v <= hi))
    return stv_err_set(err, STV_EINVAL, "%.80s is out of range (%g to %g)", s, lo, hi);
  *out = v;
  return 0;
}

int stv_config_parse_duration(const char *s, double *seconds, struct stv_err *err) {
  double v;
  int rc = stv_parse_duration(s, &v, err);
  if (rc == STV_ERANGE || (rc == 0 && !(v >= 0 && v <= STV_TIME_LIMIT_MAX)))
    return stv_err_set(err, STV_EINVAL, "%.80s is out of range (0 to %g s)", s, STV_TIME_LIMIT_MAX);
  if (rc != 0) return rc;
  *seconds = v;
  return 0;
}

int stv_config_parse_percent(const char *s, int allow_bare, double *percent, struct stv_err *err) {
  const char *end;
  double v;
  if (decimal(s, &v, &end) != 0 || !(strcmp(end, "%") == 0 || (allow_bare && *end == '\0')))
    return stv_err_set(err, STV_EINVAL, "\"%.80s\" is not a percentage (like 10%%)", s);
  if (!(v >= 0 && v <= 100)) return stv_err_set(err, STV_EINVAL, "%.80s is out of range (0%% to 100%%)", s);
  *percent = v;
  return 0;
}

char *stv_config_format_capacity_types(unsigned mask, char *buf, size_t size) {
  size_t n = 0;
  int ct;
  if (size == 0) return buf;
  buf[0] = '\0';
  for (ct = 0; ct < STV_CT_COUNT; ct++) {
    int k;
    if (!((mask >> ct) & 1u)) continue;
    k = snprintf(buf + n, size - n, "%s%s", n > 0 ? "," : "",
                 stv_capacity_type_name((enum stv_capacity_type)ct));
    if (k < 0 || (size_t)k >= size - n) break;
    n += (size_t)k;
  }
  return buf;
}

int stv_config_parse_scheduler_names(char *buf, const char **names, size_t max, size_t *n,
                                     struct stv_err *err) {
  char *p = buf;
  *n = 0;
  for (;;) {
    char *comma = strchr(p, ',');
    if (comma != NULL) *comma = '\0';
    if (*p == '\0')
      return stv_err_set(err, STV_EINVAL,
                         "empty scheduler name in the list (expected e.g. "
                         "default-scheduler,my-scheduler)");
    if (*n == max) return stv_err_set(err, STV_EINVAL, "more than %zu scheduler names", max);
    names[(*n)++] = p;
    if (comma == NULL) return 0;
    p = comma + 1;
  }
}

int stv_config_parse_priority(const char *s, int32_t *out, struct stv_err *err) {
  char *end;
  long long v;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (end == s || *end != '\0' || isspace((unsigned char)*s))
    return stv_err_set(err, STV_EINVAL, "\"%s\" is not a whole number (e.g. -10)", s);
  if (errno == ERANGE || v < INT32_MIN || v > INT32_MAX)
    return stv_err_set(err, STV_EINVAL, "%s is out of range for a pod priority (a 32-bit integer)", s);
  *out = (int32_t)v;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Defaults                                                               */

/* The report section's defaults: OpenCost's default rates, a 20 % margin. */
static void report_defaults(struct stv_report_config *r) {
  r->margin = 0.2;
  r->default_rates = 1;
  r->default_cpu = STV_RATIO_CPU;
  r->default_ram = STV_RATIO_RAM;
  r->default_gpu = STV_RATIO_GPU;
  r->default_spot_cpu = STV_DEFAULT_SPOT_CPU;
  r->default_spot_ram = STV_DEFAULT_SPOT_RAM;
}

void stv_config_init(struct stv_config *c) {
  memset(c, 0, sizeof(*c));
  c->capacity_types = (1u << STV_CT_RESERVED) | (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND);
  c->time_limit = STV_TIME_LIMIT_DEFAULT;
  stv_spot_policy_default(&c->spot);
  stv_limits_none(&c->limits);
  c->priority_cutoff = STV_PRIORITY_CUTOFF_DEFAULT;
  c->aws.reservations = 1;
  c->aws.spot_prices = 1;
  c->gap_tolerance = 100 * STV_GAP_TOLERANCE_DEFAULT;
  stv_strpool_init(&c->strings);
  stv_arena_init(&c->mem);
  report_defaults(&c->report);
  c->prices_refresh = STV_PRICES_REFRESH_DEFAULT;
  c->disruption.empty_for = STV_EMPTY_FOR_DEFAULT;
  c->disruption.drain_timeout = STV_DRAIN_TIMEOUT_DEFAULT;
  c->disruption.budget_nodes = -1;
  c->disruption.budget_percent = STV_DISRUPTION_BUDGET_DEFAULT;
  c->disruption.emptiness = 1;
}

void stv_config_close(struct stv_config *c) {
  stv_arena_reset(&c->mem);
  stv_strpool_close(&c->strings);
  stv_config_init(c);
}

/* ---------------------------------------------------------------------- */
/* Walking the document                                                   */

/* One segment of a key path: ".key", or "[idx]" when key is NULL. */
struct kpath {
  const struct kpath *up;
  const char *key;
  long idx;
};

struct walk {
  struct stv_config *c; /* the scratch result */
  yaml_document_t *doc;
  const char *file;
  struct stv_err *err;
};

static void kpath_put(const struct kpath *p, char *buf, size_t size, size_t *n) {
  int k;
  if (p == NULL || *n + 1 >= size) return;
  kpath_put(p->up, buf, size, n);
  if (p->key != NULL)
    k = snprintf(buf + *n, size - *n, "%s%s", p->up != NULL ? "." : "", p->key);
  else
    k = snprintf(buf + *n, size - *n, "[%ld]", p->idx);
  if (k > 0) *n += (size_t)k;
  if (*n >= size) *n = size - 1;
}

/* Sets the error "file:line:col: path: message" at node n; returns code. */
static int fail(struct walk *w, int code, const yaml_node_t *n, const struct kpath *p, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(struct walk *w, int code, const yaml_node_t *n, const struct kpath *p, const char *fmt, ...) {
  char path[256], msg[STV_ERR_MSG_MAX];
  size_t np = 0;
  va_list ap;
  path[0] = '\0';
  kpath_put(p, path, sizeof(path), &np);
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return stv_err_set(w->err, code, "%s:%lu:%lu: %s%s%s", w->file,
                     n ? (unsigned long)n->start_mark.line + 1 : 1UL,
                     n ? (unsigned long)n->start_mark.column + 1 : 1UL, path, path[0] ? ": " : "", msg);
}

static int oom(struct walk *w) {
  return stv_err_set(w->err, STV_ENOMEM, "%s: out of memory", w->file);
}

static const yaml_node_t *node(const struct walk *w, int index) {
  return yaml_document_get_node(w->doc, index);
}

/* An absent node (NULL), or a plain scalar that YAML reads as null: empty, ~ or null. */
static int is_null(const yaml_node_t *n) {
  const char *v;
  if (n == NULL) return 1;
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
  v = (const char *)n->data.scalar.value;
  return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
         strcmp(v, "NULL") == 0;
}

static const char *kind(const yaml_node_t *n) {
  if (n->type == YAML_MAPPING_NODE) return "a mapping";
  if (n->type == YAML_SEQUENCE_NODE) return "a list";
  if (is_null(n)) return "nothing (null)";
  return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "a plain value" : "a quoted string";
}

/* A value quoted for a message: escaped and cut after 64 bytes. */
struct qbuf {
  char b[4 * 64 + 8];
};

static const char *quote(const char *s, struct qbuf *q) {
  size_t n = 0, i;
  for (i = 0; s[i] != '\0' && n + 8 < sizeof(q->b); i++) {
    unsigned char ch = (unsigned char)s[i];
    if (i == 64) {
      memcpy(q->b + n, "...", 3);
      n += 3;
      break;
    }
    if (ch == '"' || ch == '\\')
      n += (size_t)snprintf(q->b + n, sizeof(q->b) - n, "\\%c", ch);
    else if (ch < 0x20 || ch == 0x7f)
      n += (size_t)snprintf(q->b + n, sizeof(q->b) - n, "\\x%02x", ch);
    else
      q->b[n++] = (char)ch;
  }
  q->b[n] = '\0';
  return q->b;
}

/* The text of a non-null scalar; what is expected names the value in messages. */
static int text(struct walk *w, const yaml_node_t *n, const struct kpath *p, const char *expected,
                const char **out) {
  if (n->type != YAML_SCALAR_NODE || is_null(n))
    return fail(w, STV_EINVAL, n, p, "expected %s, got %s", expected, kind(n));
  if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
    return fail(w, STV_EINVAL, n, p, "contains a NUL byte");
  *out = (const char *)n->data.scalar.value;
  return 0;
}

/* A number: a plain (unquoted) scalar, from lo to hi. */
static int number(struct walk *w, const yaml_node_t *n, const struct kpath *p, double lo, double hi,
                  double *out) {
  struct stv_err e = {0, ""};
  struct qbuf q;
  const char *s = NULL;
  int rc;
  if ((rc = text(w, n, p, "a number", &s)) != 0) return rc;
  if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return fail(w, STV_EINVAL, n, p, "expected a number, got the quoted string \"%s\"", quote(s, &q));
  if (stv_config_parse_number(s, lo, hi, out, &e) != 0) return fail(w, STV_EINVAL, n, p, "%s", e.msg);
  return 0;
}

/* A quantity: cpu in millicores when milli, else whole units; not negative. */
static int quantity(struct walk *w, const yaml_node_t *n, const struct kpath *p, int milli, int64_t *out) {
  struct stv_err e = {0, ""};
  struct qbuf q;
  const char *s = NULL;
  int rc;
  if ((rc = text(w, n, p, "a quantity", &s)) != 0) return rc;
  if ((rc = stv_quantity_parse(s, milli, out, &e)) != 0) return fail(w, rc, n, p, "%s", e.msg);
  if (*out < 0) return fail(w, STV_EINVAL, n, p, "negative quantity \"%s\"", quote(s, &q));
  return 0;
}

/*
 * Checks that mapping n has only the keys in names[0..count), each once,
 * and stores each value node (or NULL) in out[]. A null n is an empty
 * mapping.
 */
static int fields(struct walk *w, const yaml_node_t *n, const struct kpath *p, const char *const *names,
                  size_t count, const yaml_node_t **out) {
  const yaml_node_pair_t *pair;
  size_t i;
  for (i = 0; i < count; i++) out[i] = NULL;
  if (is_null(n)) return 0;
  if (n->type != YAML_MAPPING_NODE) return fail(w, STV_EINVAL, n, p, "expected a mapping, got %s", kind(n));
  for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
    const yaml_node_t *k = node(w, pair->key), *v = node(w, pair->value);
    const char *key;
    struct qbuf q;
    if (k == NULL || v == NULL) return fail(w, STV_EPARSE, n, p, "malformed mapping");
    if (k->type != YAML_SCALAR_NODE)
      return fail(w, STV_EINVAL, k, p, "a key must be a plain name, not %s", kind(k));
    key = (const char *)k->data.scalar.value;
    for (i = 0; i < count; i++)
      if (strcmp(key, names[i]) == 0) break;
    if (i == count) {
      char expected[256];
      size_t len = 0, j;
      expected[0] = '\0';
      for (j = 0; j < count && len + 1 < sizeof(expected); j++) {
        int kk = snprintf(expected + len, sizeof(expected) - len, "%s%s", j ? ", " : "", names[j]);
        if (kk > 0) len += (size_t)kk;
      }
      return fail(w, STV_EINVAL, k, p, "unknown key \"%s\" (expected %s)", quote(key, &q), expected);
    }
    if (out[i] != NULL) {
      struct kpath pk = {p, names[i], 0};
      return fail(w, STV_EINVAL, k, &pk, "duplicate key");
    }
    out[i] = v;
  }
  return 0;
}

/* A list (a null n is empty); *count gets its length. */
static int list(struct walk *w, const yaml_node_t *n, const struct kpath *p, size_t *count) {
  *count = 0;
  if (is_null(n)) return 0;
  if (n->type != YAML_SEQUENCE_NODE) return fail(w, STV_EINVAL, n, p, "expected a list, got %s", kind(n));
  *count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
  return 0;
}

static const yaml_node_t *item(const struct walk *w, const yaml_node_t *n, size_t i) {
  return node(w, n->data.sequence.items.start[i]);
}

/* A list of capacity type names into a mask; an empty list is an error. */
static int capacity_types(struct walk *w, const yaml_node_t *n, const struct kpath *p, unsigned *mask) {
  size_t count, i;
  int rc;
  if ((rc = list(w, n, p, &count)) != 0) return rc;
  if (count == 0) return fail(w, STV_EINVAL, n, p, "must list at least one capacity type (%s)", ct_expected);
  *mask = 0;
  for (i = 0; i < count; i++) {
    struct kpath pi = {p, NULL, (long)i};
    const yaml_node_t *e = item(w, n, i);
    enum stv_capacity_type ct;
    const char *s = NULL;
    struct qbuf q;
    if (e == NULL) return fail(w, STV_EPARSE, n, p, "malformed list");
    if ((rc = text(w, e, &pi, "a capacity type", &s)) != 0) return rc;
    if (stv_capacity_type_parse(s, &ct) != 0)
      return fail(w, STV_EINVAL, e, &pi, "unknown capacity type \"%s\" (%s)", quote(s, &q), ct_expected);
    *mask |= 1u << ct;
  }
  return 0;
}

/* A list of non-empty strings, interned; *out lives in the config's arena. */
static int strings(struct walk *w, const yaml_node_t *n, const struct kpath *p, const char *what,
                   uint32_t *count, const char *const **out) {
  const char **v;
  size_t len, i;
  int rc;
  *count = 0;
  *out = NULL;
  if ((rc = list(w, n, p, &len)) != 0) return rc;
  if (!is_null(n) && len == 0) return fail(w, STV_EINVAL, n, p, "must not be an empty list");
  if (len == 0) return 0;
  if ((v = stv_arena_alloc(&w->c->mem, len * sizeof(*v))) == NULL) return oom(w);
  for (i = 0; i < len; i++) {
    struct kpath pi = {p, NULL, (long)i};
    const yaml_node_t *e = item(w, n, i);
    const char *s = NULL;
    if (e == NULL) return fail(w, STV_EPARSE, n, p, "malformed list");
    if ((rc = text(w, e, &pi, what, &s)) != 0) return rc;
    if (*s == '\0') return fail(w, STV_EINVAL, e, &pi, "must not be empty");
    if ((v[i] = stv_strpool_get(&w->c->strings, s)) == NULL) return oom(w);
  }
  *count = (uint32_t)len;
  *out = v;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Sections                                                               */

static int read_spot(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"maxShare", "maxPoolFraction", "restartCost"};
  const yaml_node_t *v[3];
  struct kpath pk[3];
  int rc, i;
  if ((rc = fields(w, n, p, names, 3, v)) != 0) return rc;
  for (i = 0; i < 3; i++) pk[i] = (struct kpath){p, names[i], 0};
  if (v[0] && (rc = number(w, v[0], &pk[0], 0, 1, &w->c->spot.max_share)) != 0) return rc;
  if (v[1] && (rc = number(w, v[1], &pk[1], 0, 1, &w->c->spot.max_pool_fraction)) != 0) return rc;
  if (v[2] && (rc = number(w, v[2], &pk[2], 0, 1e9, &w->c->spot.restart_cost)) != 0) return rc;
  return 0;
}

/* A whole number from 0 to max: a plain scalar ("3", not "3.5" or "\"3\""). */
static int whole(struct walk *w, const yaml_node_t *n, const struct kpath *p, double max, int64_t *out) {
  double d;
  int rc;
  if ((rc = number(w, n, p, 0, max, &d)) != 0) return rc;
  if (d != (double)(int64_t)d) return fail(w, STV_EINVAL, n, p, "expected a whole number, got %g", d);
  *out = (int64_t)d;
  return 0;
}

/* The most nodes or GPUs a limit may name, and the highest hourly budget. */
#define LIMIT_COUNT_MAX 1e9
#define LIMIT_COST_MAX  1e9

/*
 * limits: (the cluster's) or nodePools[].limits: cpu and memory as
 * quantities, nvidia.com/gpu and nodes as whole numbers, costPerHour as a
 * number in the catalogue's currency. What is not given (or an empty
 * limits:) stays no limit.
 */
static int read_limits(struct walk *w, const yaml_node_t *n, const struct kpath *p, struct stv_limits *l) {
  static const char *const names[] = {"cpu", "memory", "nvidia.com/gpu", "nodes", "costPerHour"};
  enum { F_CPU, F_MEM, F_GPU, F_NODES, F_COST, F_N };
  const yaml_node_t *v[F_N];
  struct kpath pk[F_N];
  int rc, i;
  if ((rc = fields(w, n, p, names, F_N, v)) != 0) return rc;
  for (i = 0; i < F_N; i++) pk[i] = (struct kpath){p, names[i], 0};
  if ((v[F_CPU] && (rc = quantity(w, v[F_CPU], &pk[F_CPU], 1, &l->cpu)) != 0) ||
      (v[F_MEM] && (rc = quantity(w, v[F_MEM], &pk[F_MEM], 0, &l->memory)) != 0) ||
      (v[F_GPU] && (rc = whole(w, v[F_GPU], &pk[F_GPU], LIMIT_COUNT_MAX, &l->gpu)) != 0) ||
      (v[F_NODES] && (rc = whole(w, v[F_NODES], &pk[F_NODES], LIMIT_COUNT_MAX, &l->nodes)) != 0) ||
      (v[F_COST] && (rc = number(w, v[F_COST], &pk[F_COST], 0, LIMIT_COST_MAX, &l->cost_per_hour)) != 0))
    return rc;
  return 0;
}

/* Label keys every new node gets from Stevedore; a pool may not set them. */
static const char *const reserved_keys[] = {"kubernetes.io/arch",          "kubernetes.io/os",
                                            "kubernetes.io/hostname",      "node.kubernetes.io/instance-type",
                                            "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
                                            "stevedore.io/capacity-type",  "stevedore.io/node-pool",
                                            "karpenter.sh/capacity-type",  "eks.amazonaws.com/capacityType",
                                            "cloud.google.com/gke-spot"};

static int label_cmp(const void *a, const void *b) {
  return strcmp(((const struct stv_label *)a)->key, ((const struct stv_label *)b)->key);
}

static int read_labels(struct walk *w, const yaml_node_t *n, const struct kpath *p, struct stv_labels *out) {
  const yaml_node_pair_t *pair;
  size_t count, i;
  out->n = 0;
  out->kv = NULL;
  if (is_null(n)) return 0;
  if (n->type != YAML_MAPPING_NODE) return fail(w, STV_EINVAL, n, p, "expected a mapping, got %s", kind(n));
  count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
  if (count == 0) return 0;
  if ((out->kv = stv_arena_alloc(&w->c->mem, count * sizeof(*out->kv))) == NULL) return oom(w);
  for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
    const yaml_node_t *k = node(w, pair->key), *v = node(w, pair->value);
    const char *key, *value;
    struct qbuf q;
    struct kpath pk;
    int rc;
    if (k == NULL || v == NULL) return fail(w, STV_EPARSE, n, p, "malformed mapping");
    if ((rc = text(w, k, p, "a label key", &key)) != 0) return rc;
    pk = (struct kpath){p, key, 0};
    if (!stv_valid_qualified_name(key))
      return fail(w, STV_EINVAL, k, &pk, "\"%s\" is not a valid label key", quote(key, &q));
    for (i = 0; i < sizeof(reserved_keys) / sizeof(reserved_keys[0]); i++)
      if (strcmp(key, reserved_keys[i]) == 0)
        return fail(w, STV_EINVAL, k, &pk, "is set by Stevedore on every new node; a pool may not set it");
    if ((rc = text(w, v, &pk, "a label value", &value)) != 0) return rc;
    if (!stv_valid_label_value(value))
      return fail(w, STV_EINVAL, v, &pk,
                  "\"%s\" is not a valid label value (at most 63 characters: letters, digits, '-', '_', '.', "
                  "starting and ending with a letter or digit)",
                  quote(value, &q));
    for (i = 0; i < out->n; i++)
      if (strcmp(out->kv[i].key, key) == 0) return fail(w, STV_EINVAL, k, &pk, "duplicate key");
    out->kv[out->n].key = stv_strpool_get(&w->c->strings, key);
    out->kv[out->n].value = stv_strpool_get(&w->c->strings, value);
    if (out->kv[out->n].key == NULL || out->kv[out->n].value == NULL) return oom(w);
    out->n++;
  }
  qsort(out->kv, out->n, sizeof(*out->kv), label_cmp);
  return 0;
}

static int read_taints(struct walk *w, const yaml_node_t *n, const struct kpath *p, uint32_t *count,
                       const struct stv_taint **out) {
  static const char *const names[] = {"key", "value", "effect"};
  struct stv_taint *t;
  size_t len, i;
  int rc;
  *count = 0;
  *out = NULL;
  if ((rc = list(w, n, p, &len)) != 0) return rc;
  if (len == 0) return 0;
  if ((t = stv_arena_alloc(&w->c->mem, len * sizeof(*t))) == NULL) return oom(w);
  for (i = 0; i < len; i++) {
    struct kpath pi = {p, NULL, (long)i};
    struct kpath pk = {&pi, "key", 0}, pv = {&pi, "value", 0}, pe = {&pi, "effect", 0};
    const yaml_node_t *e = item(w, n, i), *v[3];
    const char *key, *value = "", *effect;
    struct qbuf q;
    if (e == NULL) return fail(w, STV_EPARSE, n, p, "malformed list");
    if (is_null(e)) return fail(w, STV_EINVAL, e, &pi, "expected a mapping, got %s", kind(e));
    if ((rc = fields(w, e, &pi, names, 3, v)) != 0) return rc;
    if (v[0] == NULL) return fail(w, STV_EINVAL, e, &pk, "missing");
    if ((rc = text(w, v[0], &pk, "a taint key", &key)) != 0) return rc;
    if (!stv_valid_qualified_name(key))
      return fail(w, STV_EINVAL, v[0], &pk, "\"%s\" is not a valid taint key", quote(key, &q));
    if (v[1] != NULL && !is_null(v[1])) {
      if ((rc = text(w, v[1], &pv, "a taint value", &value)) != 0) return rc;
      if (!stv_valid_label_value(value))
        return fail(w, STV_EINVAL, v[1], &pv, "\"%s\" is not a valid taint value", quote(value, &q));
    }
    if (v[2] == NULL)
      return fail(w, STV_EINVAL, e, &pe, "missing (NoSchedule, PreferNoSchedule or NoExecute)");
    if ((rc = text(w, v[2], &pe, "a taint effect", &effect)) != 0) return rc;
    if (strcmp(effect, "NoSchedule") == 0)
      t[i].effect = STV_EFFECT_NO_SCHEDULE;
    else if (strcmp(effect, "PreferNoSchedule") == 0)
      t[i].effect = STV_EFFECT_PREFER_NO_SCHEDULE;
    else if (strcmp(effect, "NoExecute") == 0)
      t[i].effect = STV_EFFECT_NO_EXECUTE;
    else
      return fail(w, STV_EINVAL, v[2], &pe,
                  "unknown effect \"%s\" (expected NoSchedule, PreferNoSchedule, NoExecute)",
                  quote(effect, &q));
    t[i].key = stv_strpool_get(&w->c->strings, key);
    t[i].value = stv_strpool_get(&w->c->strings, value);
    if (t[i].key == NULL || t[i].value == NULL) return oom(w);
  }
  *count = (uint32_t)len;
  *out = t;
  return 0;
}

static int boolean(struct walk *w, const yaml_node_t *n, const struct kpath *p, int *out);

/*
 * nodePools[].burstable: {allowed: true|false, mode: standard|unlimited}
 * (docs/config.md). Allowed without a mode is standard.
 */
static int read_burstable(struct walk *w, const yaml_node_t *n, const struct kpath *p, enum stv_burst_mode *out) {
  static const char *const names[] = {"allowed", "mode"};
  const yaml_node_t *v[2];
  struct kpath pa = {p, "allowed", 0}, pm = {p, "mode", 0};
  enum stv_burst_mode mode = STV_BURST_STANDARD;
  int rc, allowed = 0;
  if (is_null(n) || n->type != YAML_MAPPING_NODE)
    return fail(w, STV_EINVAL, n, p, "expected a mapping like {allowed: true, mode: unlimited}, got %s", kind(n));
  if ((rc = fields(w, n, p, names, 2, v)) != 0) return rc;
  if (v[0] == NULL) return fail(w, STV_EINVAL, n, &pa, "missing (say allowed: true to let the pool use burstable types)");
  if ((rc = boolean(w, v[0], &pa, &allowed)) != 0) return rc;
  if (v[1] != NULL) {
    const char *s = NULL;
    struct qbuf q;
    if ((rc = text(w, v[1], &pm, "standard or unlimited", &s)) != 0) return rc;
    if (strcmp(s, "standard") == 0)
      mode = STV_BURST_STANDARD;
    else if (strcmp(s, "unlimited") == 0)
      mode = STV_BURST_UNLIMITED;
    else
      return fail(w, STV_EINVAL, v[1], &pm, "unknown mode \"%s\" (expected standard or unlimited)", quote(s, &q));
  }
  *out = allowed ? mode : STV_BURST_NONE;
  return 0;
}

static int read_pool(struct walk *w, const yaml_node_t *n, const struct kpath *p,
                     struct stv_node_pool *pool) {
  static const char *const names[] = {"name",          "instanceFamilies", "instanceSizes",
                                      "architectures", "capacityTypes",    "zones",
                                      "labels",        "taints",           "limits",
                                      "burstable",     "nodeCost"};
  enum { F_NAME, F_FAMILIES, F_SIZES, F_ARCHS, F_CT, F_ZONES, F_LABELS, F_TAINTS, F_LIMITS, F_BURST, F_NODE_COST, F_N };
  const yaml_node_t *v[F_N];
  struct kpath pk[F_N];
  const char *name;
  struct qbuf q;
  size_t i;
  int rc;
  memset(pool, 0, sizeof(*pool));
  stv_limits_none(&pool->limits);
  if (is_null(n)) return fail(w, STV_EINVAL, n, p, "expected a mapping, got %s", kind(n));
  if ((rc = fields(w, n, p, names, F_N, v)) != 0) return rc;
  for (i = 0; i < F_N; i++) pk[i] = (struct kpath){p, names[i], 0};
  if (v[F_NAME] == NULL) return fail(w, STV_EINVAL, n, &pk[F_NAME], "missing (every node pool has a name)");
  if ((rc = text(w, v[F_NAME], &pk[F_NAME], "a name", &name)) != 0) return rc;
  if (*name == '\0' || !stv_valid_label_value(name))
    return fail(w, STV_EINVAL, v[F_NAME], &pk[F_NAME],
                "\"%s\" is not a valid pool name (it becomes the label value of stevedore.io/node-pool)",
                quote(name, &q));
  for (i = 0; i < w->c->npools; i++)
    if (strcmp(w->c->pools[i].name, name) == 0)
      return fail(w, STV_EINVAL, v[F_NAME], &pk[F_NAME], "duplicate pool name \"%s\"", quote(name, &q));
  if ((pool->name = stv_strpool_get(&w->c->strings, name)) == NULL) return oom(w);
  if ((rc = strings(w, v[F_FAMILIES], &pk[F_FAMILIES], "an instance family", &pool->nfamilies,
                    &pool->families)) != 0)
    return rc;
  if ((rc = strings(w, v[F_SIZES], &pk[F_SIZES], "an instance size", &pool->nsizes, &pool->sizes)) != 0)
    return rc;
  if ((rc = strings(w, v[F_ARCHS], &pk[F_ARCHS], "an architecture", &pool->narchs, &pool->archs)) != 0)
    return rc;
  if ((rc = strings(w, v[F_ZONES], &pk[F_ZONES], "a zone", &pool->nzones, &pool->zones)) != 0) return rc;
  if (v[F_CT] != NULL && (rc = capacity_types(w, v[F_CT], &pk[F_CT], &pool->capacity_types)) != 0) return rc;
  if (v[F_LABELS] != NULL && (rc = read_labels(w, v[F_LABELS], &pk[F_LABELS], &pool->labels)) != 0) return rc;
  if (v[F_TAINTS] != NULL &&
      (rc = read_taints(w, v[F_TAINTS], &pk[F_TAINTS], &pool->ntaints, &pool->taints)) != 0)
    return rc;
  if (v[F_LIMITS] != NULL && (rc = read_limits(w, v[F_LIMITS], &pk[F_LIMITS], &pool->limits)) != 0) return rc;
  if (v[F_BURST] != NULL && (rc = read_burstable(w, v[F_BURST], &pk[F_BURST], &pool->burstable)) != 0) return rc;
  pool->node_cost = -1; /* not set: the top-level nodeCost */
  if (v[F_NODE_COST] != NULL &&
      (rc = number(w, v[F_NODE_COST], &pk[F_NODE_COST], 0, STV_NODE_COST_MAX, &pool->node_cost)) != 0)
    return rc;
  return 0;
}

static int read_pools(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  size_t len, i;
  int rc;
  if ((rc = list(w, n, p, &len)) != 0) return rc;
  if (len == 0) return 0;
  if (len > STV_NODE_POOLS_MAX) {
    const yaml_node_t *e = item(w, n, STV_NODE_POOLS_MAX);
    struct kpath pi = {p, NULL, (long)STV_NODE_POOLS_MAX};
    return fail(w, STV_ELIMIT, e != NULL ? e : n, &pi,
                "%zu node pools, more than %d; each pool makes a node template per offering it admits: "
                "use fewer pools, each listing several families, sizes or zones",
                len, STV_NODE_POOLS_MAX);
  }
  if ((w->c->pools = stv_arena_alloc(&w->c->mem, len * sizeof(*w->c->pools))) == NULL) return oom(w);
  for (i = 0; i < len; i++) {
    struct kpath pi = {p, NULL, (long)i};
    const yaml_node_t *e = item(w, n, i);
    if (e == NULL) return fail(w, STV_EPARSE, n, p, "malformed list");
    if ((rc = read_pool(w, e, &pi, &w->c->pools[i])) != 0) return rc;
    w->c->npools++;
  }
  return 0;
}

static int read_headroom(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"manual", "automatic"};
  static const char *const unit_names[] = {"count", "cpu", "memory"};
  struct kpath pm = {p, "manual", 0}, pa = {p, "automatic", 0};
  const yaml_node_t *v[2];
  size_t len, i, total = 0;
  int rc;
  if ((rc = fields(w, n, p, names, 2, v)) != 0) return rc;
  if (v[1] != NULL) {
    struct stv_err e = {0, ""};
    const char *s = NULL;
    if ((rc = text(w, v[1], &pa, "a percentage like 10%", &s)) != 0) return rc;
    if (stv_config_parse_percent(s, 0, &w->c->headroom_percent, &e) != 0)
      return fail(w, STV_EINVAL, v[1], &pa, "%s", e.msg);
  }
  if ((rc = list(w, v[0], &pm, &len)) != 0) return rc;
  if (len == 0) return 0;
  if (len > STV_HEADROOM_UNITS_MAX) {
    const yaml_node_t *e = item(w, v[0], STV_HEADROOM_UNITS_MAX);
    struct kpath pi = {&pm, NULL, (long)STV_HEADROOM_UNITS_MAX};
    return fail(w, STV_ELIMIT, e != NULL ? e : v[0], &pi,
                "%zu headroom units, more than %d; give one unit a larger count instead", len,
                STV_HEADROOM_UNITS_MAX);
  }
  if ((w->c->headroom = stv_arena_alloc(&w->c->mem, len * sizeof(*w->c->headroom))) == NULL) return oom(w);
  for (i = 0; i < len; i++) {
    struct kpath pi = {&pm, NULL, (long)i};
    struct kpath pc = {&pi, "count", 0}, pcpu = {&pi, "cpu", 0}, pmem = {&pi, "memory", 0};
    struct stv_headroom_unit *u = &w->c->headroom[i];
    const yaml_node_t *e = item(w, v[0], i), *f[3];
    double count = 1;
    if (e == NULL) return fail(w, STV_EPARSE, v[0], &pm, "malformed list");
    if (is_null(e)) return fail(w, STV_EINVAL, e, &pi, "expected a mapping, got %s", kind(e));
    if ((rc = fields(w, e, &pi, unit_names, 3, f)) != 0) return rc;
    if (f[0] != NULL) {
      if ((rc = number(w, f[0], &pc, 0, STV_HEADROOM_COUNT_MAX, &count)) != 0) return rc;
      if (count != floor(count)) return fail(w, STV_EINVAL, f[0], &pc, "must be a whole number");
    }
    u->count = (uint32_t)count;
    total += u->count;
    if (total > STV_HEADROOM_PODS_MAX)
      return fail(w, STV_ELIMIT, f[0] != NULL ? f[0] : e, &pc,
                  "the manual units ask for %zu virtual pods so far, more than %d in all", total,
                  STV_HEADROOM_PODS_MAX);
    if (f[1] != NULL && (rc = quantity(w, f[1], &pcpu, 1, &u->cpu)) != 0) return rc;
    if (f[2] != NULL && (rc = quantity(w, f[2], &pmem, 0, &u->memory)) != 0) return rc;
    if (u->cpu == 0 && u->memory == 0)
      return fail(w, STV_EINVAL, e, &pi, "a headroom unit needs cpu or memory (or both)");
    w->c->nheadroom++;
  }
  return 0;
}

/* A YAML boolean: true or false (unquoted). */
static int boolean(struct walk *w, const yaml_node_t *n, const struct kpath *p, int *out) {
  const char *s = NULL;
  int rc;
  if ((rc = text(w, n, p, "true or false", &s)) != 0) return rc;
  if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(s, "true") == 0) {
    *out = 1;
  } else if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(s, "false") == 0) {
    *out = 0;
  } else {
    struct qbuf q;
    return fail(w, STV_EINVAL, n, p, "expected true or false, got \"%s\"", quote(s, &q));
  }
  return 0;
}

/* schedulerNames (a list of names, may be NULL) and expendablePodsPriorityCutoff (may be NULL). */
static int read_scheduling(struct walk *w, const yaml_node_t *names, const struct kpath *pn,
                           const yaml_node_t *cutoff, const struct kpath *pc) {
  int rc;
  if (names != NULL) {
    if (is_null(names)) return fail(w, STV_EINVAL, names, pn, "must list at least one scheduler name");
    rc = strings(w, names, pn, "a scheduler name", &w->c->nscheduler_names, &w->c->scheduler_names);
    if (rc != 0) return rc;
  }
  if (cutoff != NULL) {
    struct stv_err e = {0, ""};
    struct qbuf q;
    const char *s = NULL;
    if ((rc = text(w, cutoff, pc, "a whole number", &s)) != 0) return rc;
    if (cutoff->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
      return fail(w, STV_EINVAL, cutoff, pc, "expected a whole number, got the quoted string \"%s\"",
                  quote(s, &q));
    if (stv_config_parse_priority(s, &w->c->priority_cutoff, &e) != 0)
      return fail(w, STV_EINVAL, cutoff, pc, "%s", e.msg);
  }
  return 0;
}

/* repack: settings of `recommend --mode repack` (docs/repack.md). */
static int read_repack(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"systemPods"};
  const yaml_node_t *v[1];
  struct kpath pk = {p, names[0], 0};
  int rc;
  if ((rc = fields(w, n, p, names, 1, v)) != 0) return rc;
  if (v[0] != NULL && (rc = boolean(w, v[0], &pk, &w->c->repack_system_pods)) != 0) return rc;
  return 0;
}

/* A string that is an http:// or https:// URL, interned into *out. */
static int read_url(struct walk *w, const yaml_node_t *v, const struct kpath *pk, const char **out) {
  const char *s = NULL;
  int rc;
  if ((rc = text(w, v, pk, "a URL", &s)) != 0) return rc;
  if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) || strpbrk(s, " \t\r\n") != NULL)
    return fail(w, STV_EINVAL, v, pk, "expected an http:// or https:// URL, got \"%.100s\"", s);
  if ((*out = stv_strpool_get(&w->c->strings, s)) == NULL) return oom(w);
  return 0;
}

/* prices: how often the controller reads live prices (docs/prices-live.md). */
static int read_prices(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"refresh"};
  const yaml_node_t *v[1];
  struct kpath pk = {p, names[0], 0};
  struct stv_err e = {0, ""};
  const char *s = NULL;
  double d;
  int rc;
  if ((rc = fields(w, n, p, names, 1, v)) != 0) return rc;
  if (v[0] == NULL) return 0;
  if ((rc = text(w, v[0], &pk, "a duration", &s)) != 0) return rc;
  if (stv_config_parse_duration(s, &d, &e) != 0) return fail(w, STV_EINVAL, v[0], &pk, "%s", e.msg);
  if (d != 0 && !(d >= 5 && d <= STV_PRICES_REFRESH_MAX))
    return fail(w, STV_EINVAL, v[0], &pk, "must be 0 (never) or from 5s to 168h (a week)");
  w->c->prices_refresh = d;
  return 0;
}

/* azure: the Azure provider's endpoints, scope and discovery (docs/cloud-azure.md). */
static int read_azure(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"subscriptionId", "resourceGroup", "resourceManagerEndpoint",
                                      "authorityHost",  "imdsEndpoint",  "clusterName",
                                      "apiVersion",     "caFile",        "pollInterval",
                                      "watchInterval",  "pricesEndpoint"};
  struct stv_azure_settings *a = &w->c->azure;
  const char **str[] = {&a->subscription_id, &a->resource_group, &a->resource_manager_endpoint,
                        &a->authority_host,  &a->imds_endpoint,  &a->cluster_name,
                        &a->api_version,     &a->ca_file};
  const yaml_node_t *v[11];
  struct kpath pk[11];
  int rc, i;
  if ((rc = fields(w, n, p, names, 11, v)) != 0) return rc;
  for (i = 0; i < 11; i++) pk[i] = (struct kpath){p, names[i], 0};
  if (v[10] != NULL && (rc = read_url(w, v[10], &pk[10], &a->prices_endpoint)) != 0) return rc;
  for (i = 0; i < 8; i++) {
    const char *s = NULL;
    if (v[i] == NULL) continue;
    if ((rc = text(w, v[i], &pk[i], "a string", &s)) != 0) return rc;
    if (*s == '\0' || strpbrk(s, " \t\r\n") != NULL)
      return fail(w, STV_EINVAL, v[i], &pk[i], "expected a non-empty value without spaces");
    if (i >= 2 && i <= 4 && strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
      return fail(w, STV_EINVAL, v[i], &pk[i], "expected an http:// or https:// URL, got \"%.100s\"", s);
    if ((*str[i] = stv_strpool_get(&w->c->strings, s)) == NULL) return oom(w);
  }
  for (i = 8; i < 10; i++) {
    struct stv_err e = {0, ""};
    const char *s = NULL;
    if (v[i] == NULL) continue;
    if ((rc = text(w, v[i], &pk[i], "a duration", &s)) != 0) return rc;
    if (stv_config_parse_duration(s, i == 8 ? &a->poll_interval : &a->watch_interval, &e) != 0)
      return fail(w, STV_EINVAL, v[i], &pk[i], "%s", e.msg);
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The report section (docs/report.md, "Configuration")                   */

/* A key of a mapping whose keys are names (nodes, instance types, provider ids). */
struct named {
  const char *key;
  const yaml_node_t *k, *v;
};

static int named_cmp(const void *a, const void *b) {
  const struct named *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  if (c != 0) return c;
  return x->k->start_mark.index < y->k->start_mark.index ? -1
                                                         : x->k->start_mark.index > y->k->start_mark.index;
}

/*
 * Reads mapping n (null: empty) whose keys are names of what into *out (an
 * array in the config's arena, sorted by name) and *count. Every key is a
 * non-empty string, and none twice.
 */
static int named_pairs(struct walk *w, const yaml_node_t *n, const struct kpath *p, const char *what,
                       struct named **out, size_t *count) {
  const yaml_node_pair_t *pair;
  struct named *v;
  size_t len, i = 0;
  *out = NULL;
  *count = 0;
  if (is_null(n)) return 0;
  if (n->type != YAML_MAPPING_NODE)
    return fail(w, STV_EINVAL, n, p, "expected a mapping of %s to values, got %s", what, kind(n));
  len = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
  if (len == 0) return 0;
  if ((v = stv_arena_alloc(&w->c->mem, len * sizeof(*v))) == NULL) return oom(w);
  for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++, i++) {
    int rc;
    v[i].k = node(w, pair->key);
    v[i].v = node(w, pair->value);
    if (v[i].k == NULL || v[i].v == NULL) return fail(w, STV_EPARSE, n, p, "malformed mapping");
    if ((rc = text(w, v[i].k, p, what, &v[i].key)) != 0) return rc;
    if (v[i].key[0] == '\0') return fail(w, STV_EINVAL, v[i].k, p, "an empty name as a key");
  }
  qsort(v, len, sizeof(*v), named_cmp);
  for (i = 1; i < len; i++)
    if (strcmp(v[i - 1].key, v[i].key) == 0) {
      struct kpath pk = {p, v[i].key, 0};
      return fail(w, STV_EINVAL, v[i].k, &pk, "duplicate key");
    }
  *out = v;
  *count = len;
  return 0;
}

/* A price per hour: a plain number from 0 to STV_REPORT_PRICE_MAX. */
static int price(struct walk *w, const yaml_node_t *n, const struct kpath *p, double *out) {
  return number(w, n, p, 0, STV_REPORT_PRICE_MAX, out);
}

/* Appends a price override; the strings are interned in the config. */
static int add_override(struct walk *w, const char *node_name, const char *type, const char *ct,
                        double value) {
  struct stv_report_config *r = &w->c->report;
  struct stv_price_override *o = &r->overrides[r->noverrides];
  memset(o, 0, sizeof(*o));
  if ((node_name && (o->node = stv_strpool_get(&w->c->strings, node_name)) == NULL) ||
      (type && (o->instance_type = stv_strpool_get(&w->c->strings, type)) == NULL))
    return oom(w);
  o->capacity_type = ct;
  o->price = value;
  r->noverrides++;
  return 0;
}

/* report.prices: {nodes: {NODE: price}, instanceTypes: {TYPE: price or {CAPACITY TYPE: price}}}. */
static int read_report_prices(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"nodes", "instanceTypes"};
  static const char *const cts[] = {"reserved", "spot", "on-demand"};
  struct kpath pn = {p, names[0], 0}, pt = {p, names[1], 0};
  struct stv_report_config *r = &w->c->report;
  const yaml_node_t *v[2];
  struct named *nodes, *types;
  size_t nnodes, ntypes, i, j;
  int rc;
  if ((rc = fields(w, n, p, names, 2, v)) != 0) return rc;
  if ((rc = named_pairs(w, v[0], &pn, "node names", &nodes, &nnodes)) != 0) return rc;
  if ((rc = named_pairs(w, v[1], &pt, "instance types", &types, &ntypes)) != 0) return rc;
  if (nnodes + ntypes == 0) return 0;
  if ((r->overrides = stv_arena_alloc(&w->c->mem, (nnodes + 3 * ntypes) * sizeof(*r->overrides))) == NULL)
    return oom(w);
  for (i = 0; i < nnodes; i++) {
    struct kpath pk = {&pn, nodes[i].key, 0};
    double value;
    if ((rc = price(w, nodes[i].v, &pk, &value)) != 0) return rc;
    if ((rc = add_override(w, nodes[i].key, NULL, NULL, value)) != 0) return rc;
  }
  for (i = 0; i < ntypes; i++) {
    struct kpath pk = {&pt, types[i].key, 0};
    const yaml_node_t *c[3];
    double value;
    if (types[i].v->type != YAML_MAPPING_NODE) {
      if ((rc = price(w, types[i].v, &pk, &value)) != 0) return rc;
      if ((rc = add_override(w, NULL, types[i].key, NULL, value)) != 0) return rc;
      continue;
    }
    if ((rc = fields(w, types[i].v, &pk, cts, 3, c)) != 0) return rc;
    for (j = 0; j < 3; j++) {
      struct kpath pc = {&pk, cts[j], 0};
      if (c[j] == NULL) continue;
      if ((rc = price(w, c[j], &pc, &value)) != 0) return rc;
      if ((rc = add_override(w, NULL, types[i].key, cts[j], value)) != 0) return rc;
    }
  }
  return 0;
}

/* report.providerCapacityTypes: {PROVIDER ID: reserved, spot or on-demand}. */
static int read_report_provider_cts(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  struct stv_report_config *r = &w->c->report;
  struct named *ids;
  size_t nids, i;
  int rc;
  if ((rc = named_pairs(w, n, p, "provider ids", &ids, &nids)) != 0) return rc;
  if (nids == 0) return 0;
  if ((r->provider_capacity = stv_arena_alloc(&w->c->mem, nids * sizeof(*r->provider_capacity))) == NULL)
    return oom(w);
  for (i = 0; i < nids; i++) {
    struct kpath pk = {p, ids[i].key, 0};
    enum stv_capacity_type ct;
    const char *s;
    struct qbuf q;
    if ((rc = text(w, ids[i].v, &pk, "a capacity type", &s)) != 0) return rc;
    if (stv_capacity_type_parse(s, &ct) != 0)
      return fail(w, STV_EINVAL, ids[i].v, &pk, "unknown capacity type \"%s\" (%s)", quote(s, &q),
                  ct_expected);
    if ((r->provider_capacity[i].provider_id = stv_strpool_get(&w->c->strings, ids[i].key)) == NULL)
      return oom(w);
    r->provider_capacity[i].capacity_type = stv_capacity_type_name(ct);
  }
  r->nprovider_capacity = nids;
  return 0;
}

/* report.ratios: {cpu, ramGiB, gpu}, each a positive number. */
static int read_report_ratios(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"cpu", "ramGiB", "gpu"};
  struct stv_report_config *r = &w->c->report;
  double *dst[3] = {&r->ratio_cpu, &r->ratio_ram, &r->ratio_gpu};
  const yaml_node_t *v[3];
  int rc, i;
  if ((rc = fields(w, n, p, names, 3, v)) != 0) return rc;
  for (i = 0; i < 3; i++) {
    struct kpath pk = {p, names[i], 0};
    if (v[i] == NULL) continue;
    if ((rc = price(w, v[i], &pk, dst[i])) != 0) return rc;
    if (*dst[i] == 0) return fail(w, STV_EINVAL, v[i], &pk, "must be positive (only the ratio matters)");
  }
  return 0;
}

/* report.defaultPrices: {enabled, cpu, ramGiB, gpu, spotCpu, spotRamGiB}. */
static int read_report_default_prices(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"enabled", "cpu", "ramGiB", "gpu", "spotCpu", "spotRamGiB"};
  struct stv_report_config *r = &w->c->report;
  double *dst[6] = {
      NULL, &r->default_cpu, &r->default_ram, &r->default_gpu, &r->default_spot_cpu, &r->default_spot_ram};
  const yaml_node_t *v[6];
  int rc, i;
  if ((rc = fields(w, n, p, names, 6, v)) != 0) return rc;
  for (i = 0; i < 6; i++) {
    struct kpath pk = {p, names[i], 0};
    if (v[i] == NULL) continue;
    if (i == 0)
      rc = boolean(w, v[i], &pk, &r->default_rates);
    else
      rc = price(w, v[i], &pk, dst[i]);
    if (rc != 0) return rc;
  }
  return 0;
}

/* report.sharedNamespaces: a list of names; [] for none. */
static int read_report_shared(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  struct stv_report_config *r = &w->c->report;
  size_t len, i;
  int rc;
  if (is_null(n))
    return fail(w, STV_EINVAL, n, p,
                "expected a list of namespaces; write [] for none, or leave the key out for the default "
                "(kube-system)");
  if ((rc = list(w, n, p, &len)) != 0) return rc;
  if ((r->shared_namespaces = stv_arena_alloc(&w->c->mem, (len + 1) * sizeof(*r->shared_namespaces))) == NULL)
    return oom(w);
  for (i = 0; i < len; i++) {
    struct kpath pi = {p, NULL, (long)i};
    const yaml_node_t *e = item(w, n, i);
    const char *s = NULL;
    struct qbuf q;
    if (e == NULL) return fail(w, STV_EPARSE, n, p, "malformed list");
    if ((rc = text(w, e, &pi, "a namespace", &s)) != 0) return rc;
    if (!stv_valid_label_value(s) || *s == '\0')
      return fail(w, STV_EINVAL, e, &pi, "\"%s\" is not a namespace name", quote(s, &q));
    if ((r->shared_namespaces[i] = stv_strpool_get(&w->c->strings, s)) == NULL) return oom(w);
  }
  r->shared_namespaces[len] = NULL;
  r->nshared = len;
  r->have_shared = 1;
  return 0;
}

/* report: the settings of `stevedore report`. */
static int read_report(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"prices",     "providerCapacityTypes", "ratios", "sharedNamespaces",
                                      "sharedMode", "overheadHourly",        "margin", "defaultPrices"};
  enum { F_PRICES, F_PCT, F_RATIOS, F_SHARED, F_MODE, F_OVERHEAD, F_MARGIN, F_DEFAULT, F_N };
  struct stv_report_config *r = &w->c->report;
  const yaml_node_t *v[F_N];
  struct kpath pk[F_N];
  int rc, i;
  if ((rc = fields(w, n, p, names, F_N, v)) != 0) return rc;
  for (i = 0; i < F_N; i++) pk[i] = (struct kpath){p, names[i], 0};
  if (v[F_PRICES] && (rc = read_report_prices(w, v[F_PRICES], &pk[F_PRICES])) != 0) return rc;
  if (v[F_PCT] && (rc = read_report_provider_cts(w, v[F_PCT], &pk[F_PCT])) != 0) return rc;
  if (v[F_RATIOS] && (rc = read_report_ratios(w, v[F_RATIOS], &pk[F_RATIOS])) != 0) return rc;
  if (v[F_SHARED] && (rc = read_report_shared(w, v[F_SHARED], &pk[F_SHARED])) != 0) return rc;
  if (v[F_MODE]) {
    const char *s;
    struct qbuf q;
    if ((rc = text(w, v[F_MODE], &pk[F_MODE], "even or proportional", &s)) != 0) return rc;
    if (strcmp(s, "even") == 0)
      r->shared_mode = STV_SHARED_EVEN;
    else if (strcmp(s, "proportional") == 0)
      r->shared_mode = STV_SHARED_PROPORTIONAL;
    else
      return fail(w, STV_EINVAL, v[F_MODE], &pk[F_MODE], "unknown mode \"%s\" (expected even, proportional)",
                  quote(s, &q));
  }
  if (v[F_OVERHEAD] && (rc = price(w, v[F_OVERHEAD], &pk[F_OVERHEAD], &r->overhead_hourly)) != 0) return rc;
  if (v[F_MARGIN] && (rc = number(w, v[F_MARGIN], &pk[F_MARGIN], 0, STV_REPORT_MARGIN_MAX, &r->margin)) != 0)
    return rc;
  if (v[F_DEFAULT] && (rc = read_report_default_prices(w, v[F_DEFAULT], &pk[F_DEFAULT])) != 0) return rc;
  return 0;
}

/*
 * A report setting at the top of the file, where it does not belong: a key
 * of the report section, or one of the old JSON report configuration.
 * Fails naming where it goes; 0 when no top-level key is one.
 */
/* 1 when v, the value of a top-level prices:, is the live prices block (a mapping with refresh), not report.prices. */
static int live_prices_block(struct walk *w, const yaml_node_t *v) {
  const yaml_node_pair_t *pair;
  if (v == NULL || v->type != YAML_MAPPING_NODE) return 0;
  for (pair = v->data.mapping.pairs.start; pair < v->data.mapping.pairs.top; pair++) {
    const yaml_node_t *k = node(w, pair->key);
    if (k != NULL && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, "refresh") == 0)
      return 1;
  }
  return 0;
}

static int misplaced_report_key(struct walk *w, const yaml_node_t *root) {
  static const char *const section[] = {"prices",     "providerCapacityTypes", "ratios", "sharedNamespaces",
                                        "sharedMode", "overheadHourly",        "margin", "defaultPrices"};
  static const char *const old[] = {"capacity_types", "shared_namespaces", "shared_mode", "overhead_hourly",
                                    "default_prices"};
  const yaml_node_pair_t *pair;
  size_t i;
  int pass;
  /* The old keys first: a file with any is the old format, whatever else it has. */
  for (pass = 0; pass < 2; pass++)
    for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
      const yaml_node_t *k = node(w, pair->key);
      const char *key;
      if (k == NULL || k->type != YAML_SCALAR_NODE) continue;
      key = (const char *)k->data.scalar.value;
      for (i = 0; pass == 0 && i < sizeof(old) / sizeof(old[0]); i++)
        if (strcmp(key, old[i]) == 0)
          return fail(w, STV_EINVAL, k, NULL,
                      "%s is a key of the old JSON report configuration; the report's settings now go under "
                      "report: with new names (docs/report.md, \"Configuration\")",
                      key);
      if (pass == 1 && strcmp(key, "prices") == 0 && live_prices_block(w, node(w, pair->value))) continue;
      for (i = 0; pass == 1 && i < sizeof(section) / sizeof(section[0]); i++)
        if (strcmp(key, section[i]) == 0)
          return fail(w, STV_EINVAL, k, NULL,
                      "%s is a setting of stevedore report: put it under report: (report.%s; docs/report.md)",
                      key, key);
    }
  return 0;
}

/* gcp.billingEndpoint (an http(s) URL) and gcp.region (a region name: lower-case letters, digits, '-'). */
static int read_gcp_more(struct walk *w, const yaml_node_t *const *v, const struct kpath *pk) {
  struct stv_gcp_config *g = &w->c->gcp;
  const char *s = NULL;
  size_t i;
  int rc;
  if (v[0] != NULL) {
    if ((rc = text(w, v[0], &pk[0], "a string", &s)) != 0) return rc;
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
      return fail(w, STV_EINVAL, v[0], &pk[0], "expected an http:// or https:// URL, got \"%.100s\"", s);
    if ((g->billing_endpoint = stv_strpool_get(&w->c->strings, s)) == NULL) return oom(w);
  }
  if (v[1] != NULL) {
    if ((rc = text(w, v[1], &pk[1], "a string", &s)) != 0) return rc;
    for (i = 0; s[i] != '\0'; i++)
      if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) break;
    if (i == 0 || s[i] != '\0' || i > 40)
      return fail(w, STV_EINVAL, v[1], &pk[1], "\"%.60s\" is not a GCP region name (like us-east1)", s);
    if ((g->region = stv_strpool_get(&w->c->strings, s)) == NULL) return oom(w);
  }
  return 0;
}

/* gcp: the GCP provider's settings (docs/cloud-gcp.md). */
static int read_gcp(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"project",      "computeEndpoint", "tokenEndpoint", "credentialsFile",
                                      "metadataHost", "namePrefix",      "caFile",        "minSize",
                                      "maxSize",      "pollInterval",    "billingEndpoint", "region"};
  struct stv_gcp_config *g = &w->c->gcp;
  const char **strs[] = {&g->project,       &g->compute_endpoint, &g->token_endpoint, &g->credentials_file,
                         &g->metadata_host, &g->name_prefix,      &g->ca_file};
  const yaml_node_t *v[12];
  struct kpath pk[12];
  double d;
  int rc, i;
  if ((rc = fields(w, n, p, names, 12, v)) != 0) return rc;
  for (i = 0; i < 12; i++) pk[i] = (struct kpath){p, names[i], 0};
  if ((rc = read_gcp_more(w, v + 10, pk + 10)) != 0) return rc;
  for (i = 0; i < 7; i++) {
    const char *s = NULL;
    if (v[i] == NULL) continue;
    if ((rc = text(w, v[i], &pk[i], "a string", &s)) != 0) return rc;
    if ((i == 1 || i == 2) && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
      return fail(w, STV_EINVAL, v[i], &pk[i], "expected an http:// or https:// URL, got \"%.100s\"", s);
    if ((*strs[i] = stv_strpool_get(&w->c->strings, s)) == NULL) return oom(w);
  }
  if (v[7] != NULL && (rc = whole(w, v[7], &pk[7], 1000, &g->min_size)) != 0) return rc;
  if (v[8] != NULL && (rc = whole(w, v[8], &pk[8], 1000, &g->max_size)) != 0) return rc;
  if (v[8] != NULL && g->max_size == 0) return fail(w, STV_EINVAL, v[8], &pk[8], "must be at least 1");
  if (g->max_size > 0 && g->min_size > g->max_size)
    return fail(w, STV_EINVAL, v[7], &pk[7], "%lld is above gcp.maxSize %lld", (long long)g->min_size,
                (long long)g->max_size);
  if (v[9] != NULL) {
    struct stv_err e = {0, ""};
    const char *s = NULL;
    if ((rc = text(w, v[9], &pk[9], "a duration", &s)) != 0) return rc;
    if (stv_config_parse_duration(s, &d, &e) != 0) return fail(w, STV_EINVAL, v[9], &pk[9], "%s", e.msg);
    if (!(d >= 0.1 && d <= 3600)) return fail(w, STV_EINVAL, v[9], &pk[9], "must be from 0.1s to 1h");
    g->poll_interval = d;
  }
  return 0;
}

/* aws: the AWS provider's settings (docs/cloud-aws.md); the environment wins over them. */
static int read_aws(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"region",     "endpoint", "autoScalingEndpoint", "ec2Endpoint",
                                      "stsEndpoint", "caFile",   "reservations",        "spotPrices"};
  struct stv_aws_config *a = &w->c->aws;
  const char **strs[] = {&a->region,       &a->endpoint,     &a->autoscaling_endpoint,
                         &a->ec2_endpoint, &a->sts_endpoint, &a->ca_file};
  const yaml_node_t *v[8];
  struct kpath pk[8];
  int rc, i;
  if ((rc = fields(w, n, p, names, 8, v)) != 0) return rc;
  for (i = 0; i < 8; i++) pk[i] = (struct kpath){p, names[i], 0};
  for (i = 0; i < 6; i++) {
    const char *s = NULL;
    if (v[i] == NULL) continue;
    if ((rc = text(w, v[i], &pk[i], "a string", &s)) != 0) return rc;
    if (s[0] == '\0') return fail(w, STV_EINVAL, v[i], &pk[i], "is empty: leave it out for the default");
    if (i >= 1 && i <= 4 && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
      return fail(w, STV_EINVAL, v[i], &pk[i], "expected an http:// or https:// URL, got \"%.100s\"", s);
    if ((*strs[i] = stv_strpool_get(&w->c->strings, s)) == NULL) return oom(w);
  }
  if (v[6] != NULL && (rc = boolean(w, v[6], &pk[6], &a->reservations)) != 0) return rc;
  if (v[7] != NULL && (rc = boolean(w, v[7], &pk[7], &a->spot_prices)) != 0) return rc;
  return 0;
}

int stv_config_parse_budget(const char *s, int64_t *nodes, double *percent, struct stv_err *err) {
  struct stv_err e = {0, ""};
  size_t len = strlen(s);
  double v;
  if (len > 0 && s[len - 1] == '%') {
    if (stv_config_parse_percent(s, 0, &v, err) != 0) return STV_EINVAL;
    *nodes = -1;
    *percent = v;
    return 0;
  }
  if (stv_parse_number(s, &v, &e) != 0 || !(v >= 0 && v <= 1e6) || v != (double)(int64_t)v)
    return stv_err_set(err, STV_EINVAL,
                       "invalid disruption budget \"%.60s\": expected a whole number of nodes (\"2\") or a "
                       "percentage of the pool's nodes (\"10%%\")",
                       s);
  *nodes = (int64_t)v;
  *percent = 0;
  return 0;
}

/* disruption: emptyFor and drainTimeout (durations), budget (a count or a percentage), emptiness (a boolean). */
static int read_disruption(struct walk *w, const yaml_node_t *n, const struct kpath *p) {
  static const char *const names[] = {"emptyFor", "drainTimeout", "budget", "emptiness"};
  struct stv_disruption_config *c = &w->c->disruption;
  double *durs[] = {&c->empty_for, &c->drain_timeout};
  const yaml_node_t *v[4];
  struct kpath pk[4];
  int rc, i;
  if ((rc = fields(w, n, p, names, 4, v)) != 0) return rc;
  for (i = 0; i < 4; i++) pk[i] = (struct kpath){p, names[i], 0};
  for (i = 0; i < 2; i++) {
    struct stv_err e = {0, ""};
    const char *s = NULL;
    if (v[i] == NULL) continue;
    if ((rc = text(w, v[i], &pk[i], "a duration", &s)) != 0) return rc;
    if (stv_config_parse_duration(s, durs[i], &e) != 0) return fail(w, STV_EINVAL, v[i], &pk[i], "%s", e.msg);
    if (i == 1 && *durs[i] < 1) return fail(w, STV_EINVAL, v[i], &pk[i], "must be at least 1s");
  }
  if (v[2] != NULL) {
    struct stv_err e = {0, ""};
    const char *s = NULL;
    if ((rc = text(w, v[2], &pk[2], "a count or a percentage like 10%", &s)) != 0) return rc;
    if (stv_config_parse_budget(s, &c->budget_nodes, &c->budget_percent, &e) != 0)
      return fail(w, STV_EINVAL, v[2], &pk[2], "%s", e.msg);
  }
  if (v[3] != NULL && (rc = boolean(w, v[3], &pk[3], &c->emptiness)) != 0) return rc;
  return 0;
}

static int read_top(struct walk *w, const yaml_node_t *root) {
  static const char *const names[] = {
      "capacityTypes", "timeLimit", "spot",           "nodePools",
      "headroom",      "repack",    "schedulerNames", "expendablePodsPriorityCutoff",
      "report",        "limits",    "nodeCost",       "gapTolerance",
      "azure",         "gcp",       "prices",         "aws",
      "disruption"};
  const yaml_node_t *v[17];
  struct kpath pk[17];
  int rc, i;
  if (root->type != YAML_MAPPING_NODE)
    return fail(w, STV_EPARSE, root, NULL,
                "the document must be a mapping of settings, not %s (see docs/config.md)", kind(root));
  if ((rc = misplaced_report_key(w, root)) != 0) return rc;
  if ((rc = fields(w, root, NULL, names, 17, v)) != 0) return rc;
  for (i = 0; i < 17; i++) pk[i] = (struct kpath){NULL, names[i], 0};
  if (v[0] != NULL && (rc = capacity_types(w, v[0], &pk[0], &w->c->capacity_types)) != 0) return rc;
  if (v[1] != NULL) {
    struct stv_err e = {0, ""};
    const char *s = NULL;
    if ((rc = text(w, v[1], &pk[1], "a duration", &s)) != 0) return rc;
    if (stv_config_parse_duration(s, &w->c->time_limit, &e) != 0)
      return fail(w, STV_EINVAL, v[1], &pk[1], "%s", e.msg);
  }
  if (v[2] != NULL && (rc = read_spot(w, v[2], &pk[2])) != 0) return rc;
  if (v[3] != NULL && (rc = read_pools(w, v[3], &pk[3])) != 0) return rc;
  if (v[4] != NULL && (rc = read_headroom(w, v[4], &pk[4])) != 0) return rc;
  if (v[5] != NULL && (rc = read_repack(w, v[5], &pk[5])) != 0) return rc;
  if ((v[6] != NULL || v[7] != NULL) && (rc = read_scheduling(w, v[6], &pk[6], v[7], &pk[7])) != 0) return rc;
  if (v[8] != NULL && (rc = read_report(w, v[8], &pk[8])) != 0) return rc;
  if (v[9] != NULL && (rc = read_limits(w, v[9], &pk[9], &w->c->limits)) != 0) return rc;
  if (v[10] != NULL && (rc = number(w, v[10], &pk[10], 0, STV_NODE_COST_MAX, &w->c->node_cost)) != 0) return rc;
  if (v[11] != NULL) {
    struct stv_err e = {0, ""};
    const char *s = NULL;
    if ((rc = text(w, v[11], &pk[11], "a percentage like 0.5%", &s)) != 0) return rc;
    if (stv_config_parse_percent(s, 1, &w->c->gap_tolerance, &e) != 0)
      return fail(w, STV_EINVAL, v[11], &pk[11], "%s", e.msg);
  }
  if (v[12] != NULL && (rc = read_azure(w, v[12], &pk[12])) != 0) return rc;
  if (v[13] != NULL && (rc = read_gcp(w, v[13], &pk[13])) != 0) return rc;
  if (v[14] != NULL && (rc = read_prices(w, v[14], &pk[14])) != 0) return rc;
  if (v[15] != NULL && (rc = read_aws(w, v[15], &pk[15])) != 0) return rc;
  if (v[16] != NULL && (rc = read_disruption(w, v[16], &pk[16])) != 0) return rc;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Entry points                                                           */

/* Sets err from a libyaml failure; returns the code. */
static int yaml_failure(const yaml_parser_t *ps, const char *name, struct stv_err *err) {
  if (ps->error == YAML_MEMORY_ERROR) return stv_err_set(err, STV_ENOMEM, "%s: out of memory", name);
  if (ps->error == YAML_READER_ERROR)
    return stv_err_set(err, STV_EPARSE, "%s: byte %zu: invalid text: %s", name, ps->problem_offset,
                       ps->problem ? ps->problem : "unreadable");
  return stv_err_set(err, STV_EPARSE, "%s:%lu:%lu: YAML syntax error: %s%s%s", name,
                     (unsigned long)ps->problem_mark.line + 1, (unsigned long)ps->problem_mark.column + 1,
                     ps->problem ? ps->problem : "malformed document", ps->context ? " " : "",
                     ps->context ? ps->context : "");
}

int stv_config_yaml_depth_check(const char *name, const char *text, size_t len, int max_depth,
                                struct stv_err *err) {
  yaml_parser_t ps;
  yaml_event_t ev;
  int depth = 0, rc = 0, done = 0;

  if (!yaml_parser_initialize(&ps)) return stv_err_set(err, STV_ENOMEM, "%s: out of memory", name);
  yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
  while (!done) {
    if (!yaml_parser_parse(&ps, &ev)) {
      rc = yaml_failure(&ps, name, err);
      break;
    }
    if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
      if (++depth > max_depth)
        rc = stv_err_set(err, STV_ELIMIT,
                         "%s:%lu:%lu: lists and mappings nested more than %d deep; a configuration "
                         "needs a handful of levels (see docs/config.md)",
                         name, (unsigned long)ev.start_mark.line + 1, (unsigned long)ev.start_mark.column + 1,
                         max_depth);
    } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
      depth--;
    } else if (ev.type == YAML_STREAM_END_EVENT) {
      done = 1;
    }
    yaml_event_delete(&ev);
    if (rc != 0) break;
  }
  yaml_parser_delete(&ps);
  return rc;
}

int stv_config_load_text(struct stv_config *c, const char *name, const char *text_, size_t len,
                         struct stv_err *err) {
  yaml_parser_t ps;
  yaml_document_t doc, extra;
  struct stv_config tmp;
  struct walk w;
  const yaml_node_t *root;
  int rc = 0, have_doc = 0;

  /* Before the load: libyaml's scanner is quadratic in the depth of flow collections. */
  if ((rc = stv_config_yaml_depth_check(name, text_, len, STV_YAML_DEPTH_MAX, err)) != 0) return rc;
  if (!yaml_parser_initialize(&ps)) return stv_err_set(err, STV_ENOMEM, "%s: out of memory", name);
  yaml_parser_set_input_string(&ps, (const unsigned char *)text_, len);
  stv_config_init(&tmp);
  if (!yaml_parser_load(&ps, &doc)) {
    rc = yaml_failure(&ps, name, err);
    goto out;
  }
  have_doc = 1;
  root = yaml_document_get_root_node(&doc);
  if (root == NULL) {
    rc = stv_err_set(err, STV_EPARSE,
                     "%s:1:1: empty file (expected a mapping of settings; see docs/config.md)", name);
    goto out;
  }
  if (!yaml_parser_load(&ps, &extra)) {
    rc = yaml_failure(&ps, name, err);
    goto out;
  }
  if (yaml_document_get_root_node(&extra) != NULL) {
    rc = stv_err_set(err, STV_EPARSE, "%s:%lu:%lu: a second YAML document; the file must hold one", name,
                     (unsigned long)extra.start_mark.line + 1, (unsigned long)extra.start_mark.column + 1);
    yaml_document_delete(&extra);
    goto out;
  }
  yaml_document_delete(&extra);
  w.c = &tmp;
  w.doc = &doc;
  w.file = name;
  w.err = err;
  if ((rc = read_top(&w, root)) != 0) goto out;
  stv_config_close(c);
  *c = tmp;
  stv_config_init(&tmp);
out:
  stv_config_close(&tmp);
  if (have_doc) yaml_document_delete(&doc);
  yaml_parser_delete(&ps);
  return rc;
}

int stv_config_load_file(struct stv_config *c, const char *path, struct stv_err *err) {
  char *buf = NULL;
  size_t len = 0;
  int rc = stv_read_file(path, CONFIG_MAX_BYTES, &buf, &len, err);
  if (rc == STV_ELIMIT)
    stv_err_set(err, rc, "%s: larger than %u bytes; not a configuration file?", path, CONFIG_MAX_BYTES);
  if (rc != 0) return rc;
  rc = stv_config_load_text(c, path, buf, len, err);
  stv_free(buf);
  return rc;
}
