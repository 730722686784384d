/*
 * The scenario format of `stevedore simulate` (docs/simulate.md), read with
 * libyaml's document API. Every error names the file, the line and the
 * field: "burst.yaml:14: jobs[2].duration: invalid duration "2x" ...".
 * Unknown keys are errors: a misspelt field must not be silently ignored.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "simulate.h"

#define MAX_ITEMS    100000
#define MAX_DURATION (366.0 * 86400)

struct walk {
  const char *name;
  yaml_document_t *doc;
  struct stv_scenario *sc;
  struct stv_err *err;
};

static int fail(struct walk *w, const yaml_node_t *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct walk *w, const yaml_node_t *n, const char *path, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return stv_err_set(w->err, STV_EINVAL, "%s:%lu: %s: %s", w->name,
                     n ? (unsigned long)n->start_mark.line + 1 : 0UL, path, msg);
}

static const yaml_node_t *node(struct walk *w, int i) {
  return yaml_document_get_node(w->doc, i);
}

static int scalar(struct walk *w, const yaml_node_t *n, const char *path, const char **out) {
  if (n->type != YAML_SCALAR_NODE)
    return fail(w, n, path, "expected a single value, found a list or a mapping");
  *out = stv_strpool_get(&w->sc->strings, (const char *)n->data.scalar.value);
  return *out ? 0 : stv_err_set(w->err, STV_ENOMEM, "%s: out of memory", w->name);
}

static int duration(struct walk *w, const yaml_node_t *n, const char *path, double *out) {
  struct stv_err e = {0};
  const char *s;
  int rc;
  if ((rc = scalar(w, n, path, &s)) != 0) return rc;
  if (stv_parse_duration(s, out, &e) != 0) return fail(w, n, path, "%s", e.msg);
  if (*out > MAX_DURATION) return fail(w, n, path, "%s is longer than a year", s);
  return 0;
}

static int number(struct walk *w, const yaml_node_t *n, const char *path, double lo, double hi, double *out) {
  struct stv_err e = {0};
  const char *s;
  int rc;
  if ((rc = scalar(w, n, path, &s)) != 0) return rc;
  if (stv_parse_number(s, out, &e) != 0) return fail(w, n, path, "%s", e.msg);
  if (!(*out >= lo && *out <= hi))
    return fail(w, n, path, "%s is out of range: expected %g to %g", s, lo, hi);
  return 0;
}

static int count(struct walk *w, const yaml_node_t *n, const char *path, int64_t *out) {
  double d;
  int rc;
  if ((rc = number(w, n, path, 0, 1e7, &d)) != 0) return rc;
  if (d != floor(d)) return fail(w, n, path, "expected a whole number, found %g", d);
  *out = (int64_t)d;
  return 0;
}

static int quantity(struct walk *w, const yaml_node_t *n, const char *path, int milli, int64_t *out) {
  struct stv_err e = {0};
  const char *s;
  int rc;
  if ((rc = scalar(w, n, path, &s)) != 0) return rc;
  if (stv_quantity_parse(s, milli, out, &e) != 0) return fail(w, n, path, "%s", e.msg);
  if (*out < 0) return fail(w, n, path, "%s is negative", s);
  return 0;
}

/*
 * Looks up the keys of mapping n: out[i] gets the value of names[i] or
 * NULL. A key not in names is an error naming it and the keys allowed.
 */
static int fields(struct walk *w, const yaml_node_t *n, const char *path, const char *const *names, size_t nn,
                  const yaml_node_t **out) {
  const yaml_node_pair_t *pair;
  size_t i;
  char allowed[400] = "";
  for (i = 0; i < nn; i++) out[i] = NULL;
  if (n->type != YAML_MAPPING_NODE) return fail(w, n, path, "expected a mapping of fields");
  for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
    const yaml_node_t *k = node(w, pair->key);
    const char *key = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
    for (i = 0; i < nn && strcmp(names[i], key) != 0; i++) {
    }
    if (i == nn) {
      size_t used = 0;
      for (i = 0; i < nn && used < sizeof(allowed); i++)
        used += (size_t)snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "", names[i]);
      return fail(w, k, path, "unknown field \"%s\" (expected one of: %s)", key, allowed);
    }
    if (out[i] != NULL) return fail(w, k, path, "field \"%s\" is given twice", key);
    out[i] = node(w, pair->value);
  }
  return 0;
}

static int list(struct walk *w, const yaml_node_t *n, const char *path, size_t *len) {
  if (n->type != YAML_SEQUENCE_NODE) return fail(w, n, path, "expected a list");
  *len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
  if (*len > MAX_ITEMS) return fail(w, n, path, "more than %d items", MAX_ITEMS);
  return 0;
}

static const yaml_node_t *item(struct walk *w, const yaml_node_t *n, size_t i) {
  return node(w, n->data.sequence.items.start[i]);
}

static void *alloc(struct walk *w, size_t n, size_t size) {
  void *p = stv_arena_alloc(&w->sc->mem, (n + 1) * size);
  if (p) memset(p, 0, (n + 1) * size);
  return p;
}

static int strings(struct walk *w, const yaml_node_t *n, const char *path, const char ***out, size_t *len) {
  char sub[160];
  size_t i;
  int rc;
  if ((rc = list(w, n, path, len)) != 0) return rc;
  if ((*out = alloc(w, *len, sizeof(**out))) == NULL) return STV_ENOMEM;
  for (i = 0; i < *len; i++) {
    snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
    if ((rc = scalar(w, item(w, n, i), sub, &(*out)[i])) != 0) return rc;
  }
  return 0;
}

static int capacity_types(struct walk *w, const yaml_node_t *n, const char *path, unsigned *mask) {
  const char **names;
  size_t i, len;
  int rc;
  enum stv_capacity_type ct;
  if ((rc = strings(w, n, path, &names, &len)) != 0) return rc;
  *mask = 0;
  for (i = 0; i < len; i++) {
    if (stv_capacity_type_parse(names[i], &ct) != 0)
      return fail(w, item(w, n, i), path, "unknown capacity type \"%s\" (expected reserved, spot, on-demand)",
                  names[i]);
    *mask |= 1u << ct;
  }
  if (*mask == 0) return fail(w, n, path, "the list is empty: name at least one capacity type");
  return 0;
}

/* The requests shared by deployments and jobs. */
static int requests(struct walk *w, const yaml_node_t *cpu, const yaml_node_t *mem, const yaml_node_t *gpu,
                    const yaml_node_t *n, const char *path, struct stv_scn_workload *wl) {
  char sub[160];
  int rc;
  if (cpu == NULL || mem == NULL) return fail(w, n, path, "cpu and memory are required");
  snprintf(sub, sizeof(sub), "%s.cpu", path);
  if ((rc = quantity(w, cpu, sub, 1, &wl->cpu)) != 0) return rc;
  snprintf(sub, sizeof(sub), "%s.memory", path);
  if ((rc = quantity(w, mem, sub, 0, &wl->memory)) != 0) return rc;
  snprintf(sub, sizeof(sub), "%s.gpu", path);
  if (gpu && (rc = quantity(w, gpu, sub, 0, &wl->gpu)) != 0) return rc;
  if (wl->cpu == 0 && wl->memory == 0) return fail(w, cpu, sub, "a pod must ask for some cpu or memory");
  return 0;
}

static int selector(struct walk *w, const yaml_node_t *n, const char *path, struct stv_scn_workload *wl) {
  const yaml_node_pair_t *pair;
  size_t i = 0, len;
  int rc;
  if (n->type != YAML_MAPPING_NODE) return fail(w, n, path, "expected a mapping of label: value");
  len = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
  wl->sel_keys = alloc(w, len, sizeof(char *));
  wl->sel_values = alloc(w, len, sizeof(char *));
  if (wl->sel_keys == NULL || wl->sel_values == NULL) return STV_ENOMEM;
  for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++, i++) {
    if ((rc = scalar(w, node(w, pair->key), path, &wl->sel_keys[i])) != 0 ||
        (rc = scalar(w, node(w, pair->value), path, &wl->sel_values[i])) != 0)
      return rc;
  }
  wl->nselector = (uint32_t)len;
  return 0;
}

static int deployment(struct walk *w, const yaml_node_t *n, const char *path, struct stv_scn_workload *wl) {
  static const char *const names[] = {"name", "cpu", "memory", "gpu", "nodeSelector", "replicas"};
  const yaml_node_t *v[6];
  char sub[160];
  size_t i;
  int rc;
  if ((rc = fields(w, n, path, names, 6, v)) != 0) return rc;
  if (v[0] == NULL || v[5] == NULL) return fail(w, n, path, "name and replicas are required");
  if ((rc = scalar(w, v[0], path, &wl->name)) != 0) return rc;
  if ((rc = requests(w, v[1], v[2], v[3], n, path, wl)) != 0) return rc;
  snprintf(sub, sizeof(sub), "%s.nodeSelector", path);
  if (v[4] && (rc = selector(w, v[4], sub, wl)) != 0) return rc;
  snprintf(sub, sizeof(sub), "%s.replicas", path);
  if ((rc = list(w, v[5], sub, &wl->nsteps)) != 0) return rc;
  if ((wl->steps = alloc(w, wl->nsteps, sizeof(*wl->steps))) == NULL) return STV_ENOMEM;
  for (i = 0; i < wl->nsteps; i++) {
    static const char *const sn[] = {"at", "count"};
    const yaml_node_t *s[2], *e = item(w, v[5], i);
    snprintf(sub, sizeof(sub), "%s.replicas[%zu]", path, i);
    if ((rc = fields(w, e, sub, sn, 2, s)) != 0) return rc;
    if (s[0] == NULL || s[1] == NULL) return fail(w, e, sub, "at and count are required");
    if ((rc = duration(w, s[0], sub, &wl->steps[i].at)) != 0 ||
        (rc = count(w, s[1], sub, &wl->steps[i].replicas)))
      return rc;
    if (i > 0 && wl->steps[i].at < wl->steps[i - 1].at)
      return fail(w, e, sub, "steps must be in time order (this one is before the step above)");
  }
  return 0;
}

static int job(struct walk *w, const yaml_node_t *n, const char *path, struct stv_scn_workload *wl) {
  static const char *const names[] = {"name",  "cpu", "memory",   "gpu",   "nodeSelector",
                                      "count", "at",  "duration", "every", "until"};
  const yaml_node_t *v[10];
  char sub[160];
  int rc;
  if ((rc = fields(w, n, path, names, 10, v)) != 0) return rc;
  if (v[0] == NULL || v[5] == NULL || v[6] == NULL || v[7] == NULL)
    return fail(w, n, path, "name, count, at and duration are required");
  wl->job = 1;
  if ((rc = scalar(w, v[0], path, &wl->name)) != 0) return rc;
  if ((rc = requests(w, v[1], v[2], v[3], n, path, wl)) != 0) return rc;
  snprintf(sub, sizeof(sub), "%s.nodeSelector", path);
  if (v[4] && (rc = selector(w, v[4], sub, wl)) != 0) return rc;
  snprintf(sub, sizeof(sub), "%s.count", path);
  if ((rc = count(w, v[5], sub, &wl->count)) != 0) return rc;
  snprintf(sub, sizeof(sub), "%s.at", path);
  if ((rc = duration(w, v[6], sub, &wl->at)) != 0) return rc;
  snprintf(sub, sizeof(sub), "%s.duration", path);
  if ((rc = duration(w, v[7], sub, &wl->duration)) != 0) return rc;
  if (!(wl->duration > 0)) return fail(w, v[7], sub, "a job's pods must run for some time");
  snprintf(sub, sizeof(sub), "%s.every", path);
  if (v[8] && (rc = duration(w, v[8], sub, &wl->every)) != 0) return rc;
  if (v[8] && !(wl->every >= 60)) return fail(w, v[8], sub, "a job repeats at most once a minute");
  wl->until = INFINITY;
  snprintf(sub, sizeof(sub), "%s.until", path);
  if (v[9] && (rc = duration(w, v[9], sub, &wl->until)) != 0) return rc;
  return 0;
}

static int workloads(struct walk *w, const yaml_node_t *deps, const yaml_node_t *jobs) {
  struct stv_scenario *sc = w->sc;
  size_t nd = 0, nj = 0, i;
  char path[64];
  int rc;
  if (deps && (rc = list(w, deps, "deployments", &nd)) != 0) return rc;
  if (jobs && (rc = list(w, jobs, "jobs", &nj)) != 0) return rc;
  if ((sc->workloads = alloc(w, nd + nj, sizeof(*sc->workloads))) == NULL) return STV_ENOMEM;
  for (i = 0; i < nd + nj; i++) {
    const yaml_node_t *e = i < nd ? item(w, deps, i) : item(w, jobs, i - nd);
    struct stv_scn_workload *wl = &sc->workloads[i];
    snprintf(path, sizeof(path), "%s[%zu]", i < nd ? "deployments" : "jobs", i < nd ? i : i - nd);
    wl->line = (int)e->start_mark.line + 1;
    rc = i < nd ? deployment(w, e, path, wl) : job(w, e, path, wl);
    if (rc != 0) return rc;
    sc->nworkloads++;
  }
  if (sc->nworkloads == 0)
    return fail(w, NULL, "deployments/jobs", "the scenario runs nothing: add a deployment or a job");
  return 0;
}

static int cloud_faults(struct walk *w, const yaml_node_t *n) {
  static const char *const names[] = {"launchDelay", "registerDelay", "insufficientCapacity",
                                      "interruptions"};
  static const char *const in[] = {"instanceType", "zone", "capacityTypes", "from", "until"};
  static const char *const sn[] = {"at", "fraction", "notice"};
  struct stv_scenario *sc = w->sc;
  const yaml_node_t *v[4], *f[5];
  char sub[96];
  size_t i;
  int rc;
  if ((rc = fields(w, n, "cloud", names, 4, v)) != 0) return rc;
  if (v[0] && (rc = duration(w, v[0], "cloud.launchDelay", &sc->launch_delay)) != 0) return rc;
  if (v[1] && (rc = duration(w, v[1], "cloud.registerDelay", &sc->register_delay)) != 0) return rc;
  if (v[2]) {
    if ((rc = list(w, v[2], "cloud.insufficientCapacity", &sc->nice)) != 0) return rc;
    if ((sc->ice = alloc(w, sc->nice, sizeof(*sc->ice))) == NULL) return STV_ENOMEM;
    for (i = 0; i < sc->nice; i++) {
      struct stv_scn_ice *e = &sc->ice[i];
      snprintf(sub, sizeof(sub), "cloud.insufficientCapacity[%zu]", i);
      if ((rc = fields(w, item(w, v[2], i), sub, in, 5, f)) != 0) return rc;
      e->until = INFINITY;
      if ((f[0] && (rc = scalar(w, f[0], sub, &e->instance_type))) ||
          (f[1] && (rc = scalar(w, f[1], sub, &e->zone))) ||
          (f[2] && (rc = capacity_types(w, f[2], sub, &e->capacity_types))) ||
          (f[3] && (rc = duration(w, f[3], sub, &e->from))) ||
          (f[4] && (rc = duration(w, f[4], sub, &e->until))))
        return rc;
    }
  }
  if (v[3]) {
    if ((rc = list(w, v[3], "cloud.interruptions", &sc->nstorms)) != 0) return rc;
    if ((sc->storms = alloc(w, sc->nstorms, sizeof(*sc->storms))) == NULL) return STV_ENOMEM;
    for (i = 0; i < sc->nstorms; i++) {
      struct stv_scn_storm *e = &sc->storms[i];
      snprintf(sub, sizeof(sub), "cloud.interruptions[%zu]", i);
      if ((rc = fields(w, item(w, v[3], i), sub, sn, 3, f)) != 0) return rc;
      if (f[0] == NULL || f[1] == NULL) return fail(w, item(w, v[3], i), sub, "at and fraction are required");
      e->notice = 120;
      if ((rc = duration(w, f[0], sub, &e->at)) || (rc = number(w, f[1], sub, 0, 1, &e->fraction)) ||
          (f[2] && (rc = duration(w, f[2], sub, &e->notice))))
        return rc;
    }
  }
  return 0;
}

static int limits(struct walk *w, const yaml_node_t *n) {
  static const char *const names[] = {"cpu", "memory", "gpu", "nodes", "costPerHour"};
  struct stv_limits *l = &w->sc->limits;
  const yaml_node_t *v[5];
  int rc;
  if ((rc = fields(w, n, "limits", names, 5, v)) != 0) return rc;
  if ((v[0] && (rc = quantity(w, v[0], "limits.cpu", 1, &l->cpu))) ||
      (v[1] && (rc = quantity(w, v[1], "limits.memory", 0, &l->memory))) ||
      (v[2] && (rc = count(w, v[2], "limits.gpu", &l->gpu))) ||
      (v[3] && (rc = count(w, v[3], "limits.nodes", &l->nodes))) ||
      (v[4] && (rc = number(w, v[4], "limits.costPerHour", 0, 1e9, &l->cost_per_hour))))
    return rc;
  return 0;
}

static int headroom(struct walk *w, const yaml_node_t *n) {
  static const char *const names[] = {"pods", "cpu", "memory", "percent"};
  struct stv_scenario *sc = w->sc;
  const yaml_node_t *v[4];
  int64_t pods = 0;
  int rc;
  if ((rc = fields(w, n, "headroom", names, 4, v)) != 0) return rc;
  if ((v[0] && (rc = count(w, v[0], "headroom.pods", &pods))) ||
      (v[1] && (rc = quantity(w, v[1], "headroom.cpu", 1, &sc->headroom.cpu))) ||
      (v[2] && (rc = quantity(w, v[2], "headroom.memory", 0, &sc->headroom.memory))) ||
      (v[3] && (rc = number(w, v[3], "headroom.percent", 0, 100, &sc->headroom_percent))))
    return rc;
  if (pods > 1000) return fail(w, v[0], "headroom.pods", "at most 1000 virtual pods");
  sc->headroom.count = (uint32_t)pods;
  return 0;
}

static int top(struct walk *w, const yaml_node_t *root) {
  static const char *const names[] = {
      "name",  "duration", "seed",     "catalog",   "capacityTypes", "instanceTypes", "zones",
      "cloud", "limits",   "headroom", "scaleDown", "sampleEvery",   "deployments",   "jobs"};
  struct stv_scenario *sc = w->sc;
  const yaml_node_t *v[14], *sd[1];
  double seed;
  int rc;
  if ((rc = fields(w, root, "scenario", names, 14, v)) != 0) return rc;
  if (v[0] == NULL || v[1] == NULL) return fail(w, root, "scenario", "name and duration are required");
  if ((rc = scalar(w, v[0], "name", &sc->name)) != 0 ||
      (rc = duration(w, v[1], "duration", &sc->duration)) != 0)
    return rc;
  if (!(sc->duration >= 60)) return fail(w, v[1], "duration", "a scenario lasts at least a minute");
  if (v[2]) {
    if ((rc = number(w, v[2], "seed", 0, 9007199254740992.0, &seed)) != 0) return rc;
    sc->seed = (uint64_t)seed;
  }
  if (v[3] && (rc = scalar(w, v[3], "catalog", &sc->catalog)) != 0) return rc;
  if (v[4] && (rc = capacity_types(w, v[4], "capacityTypes", &sc->capacity_types)) != 0) return rc;
  if (v[5] && (rc = strings(w, v[5], "instanceTypes", &sc->instance_types, &sc->ntypes)) != 0) return rc;
  if (v[6] && (rc = strings(w, v[6], "zones", &sc->zones, &sc->nzones)) != 0) return rc;
  if (v[7] && (rc = cloud_faults(w, v[7])) != 0) return rc;
  if (v[8] && (rc = limits(w, v[8])) != 0) return rc;
  if (v[9] && (rc = headroom(w, v[9])) != 0) return rc;
  if (v[10]) {
    static const char *const sdn[] = {"emptyAfter"};
    if ((rc = fields(w, v[10], "scaleDown", sdn, 1, sd)) != 0) return rc;
    if (sd[0] && (rc = duration(w, sd[0], "scaleDown.emptyAfter", &sc->empty_after)) != 0) return rc;
  }
  if (v[11] && (rc = duration(w, v[11], "sampleEvery", &sc->sample_every)) != 0) return rc;
  if (v[11] && !(sc->sample_every >= 1)) return fail(w, v[11], "sampleEvery", "at least 1s");
  return workloads(w, v[12], v[13]);
}

static void defaults(struct stv_scenario *sc) {
  sc->seed = 1;
  sc->catalog = "aws:us-east-1";
  sc->capacity_types = (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND);
  sc->launch_delay = 60;
  sc->register_delay = 20;
  sc->empty_after = 600;
  sc->sample_every = 60;
  stv_limits_none(&sc->limits);
}

int stv_scenario_parse(struct stv_scenario *sc, const char *name, const char *text, size_t len,
                       struct stv_err *err) {
  yaml_parser_t parser;
  yaml_document_t doc;
  struct walk w;
  const yaml_node_t *root;
  int rc;
  memset(sc, 0, sizeof(*sc));
  stv_strpool_init(&sc->strings);
  stv_arena_init(&sc->mem);
  defaults(sc);
  if (!yaml_parser_initialize(&parser)) return stv_err_set(err, STV_ENOMEM, "%s: out of memory", name);
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    rc = stv_err_set(
        err, STV_EPARSE, "%s:%lu:%lu: not YAML: %s", name, (unsigned long)parser.problem_mark.line + 1,
        (unsigned long)parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error");
    yaml_parser_delete(&parser);
    return rc;
  }
  w.name = name;
  w.doc = &doc;
  w.sc = sc;
  w.err = err;
  if ((root = yaml_document_get_root_node(&doc)) == NULL)
    rc = stv_err_set(err, STV_EPARSE, "%s: the file is empty: a scenario needs name, duration and workloads",
                     name);
  else
    rc = top(&w, root);
  if (rc == STV_ENOMEM) stv_err_set(err, rc, "%s: out of memory", name);
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return rc;
}

void stv_scenario_close(struct stv_scenario *sc) {
  stv_strpool_close(&sc->strings);
  stv_arena_reset(&sc->mem);
}
