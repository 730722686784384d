/*
 * `stevedore recommend`: a dry-run plan for the pending pods of a cluster
 * snapshot. Reads every --snapshot, loads the catalogue, packs, and prints
 * the plan as a table for a person or as JSON for tools. The whole output
 * is built in memory first, so a failure prints nothing on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "controller.h"
#include "pricing.h"
#include "snapshot.h"

#define HOURS_PER_MONTH 730.0

struct recommend_opts {
  const char **snapshots;
  size_t nsnapshots;
  const char *catalog;
  const char *capacity_types;
  unsigned allowed;
  int json;
  int quiet;
  double time_limit;
  int repack;
};

static void usage(FILE *f) {
  fprintf(f, "Usage: stevedore recommend --snapshot FILE [--snapshot FILE ...] [options]\n"
             "\n"
             "Plans nodes for the pending pods of a cluster snapshot (what\n"
             "`kubectl get nodes,pods,poddisruptionbudgets -A -o json` prints): pods go into\n"
             "the free room of existing nodes first, then onto the cheapest new nodes found.\n"
             "Nothing is changed in the cluster.\n"
             "\n"
             "Options:\n"
             "  -s, --snapshot FILE        snapshot to read (repeatable; - for standard input)\n"
             "  -c, --catalog SPEC         aws:us-east-1 (default), gcp:us-east1, or a catalogue\n"
             "                             JSON file (format in docs/catalog.md)\n"
             "      --capacity-types LIST  comma-separated: reserved,spot,on-demand\n"
             "                             (default reserved,on-demand)\n"
             "  -m, --mode MODE            pending (default): plan the pending pods; repack:\n"
             "                             the cheapest cluster for every movable pod against\n"
             "                             the current cost (docs/repack.md)\n"
             "  -o, --output FORMAT        table (default) or json\n"
             "      --time-limit SECONDS   optimizer budget per plan (default 10; 0: heuristic)\n"
             "  -q, --quiet                no notes on standard error\n"
             "  -h, --help                 this help\n"
             "\n"
             "Exit status: 0 with a plan (even when some pods cannot be placed: they are\n"
             "listed with a reason), 2 on bad input, 1 on any other failure.\n");
}

static int parse_capacity_types(const char *list, unsigned *mask, struct stv_err *err) {
  const char *p = list;
  *mask = 0;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char word[32];
    enum stv_capacity_type ct;
    if (n == 0 || n >= sizeof(word))
      return stv_err_set(err, STV_EINVAL, "--capacity-types: empty or overlong entry in \"%s\"", list);
    memcpy(word, p, n);
    word[n] = '\0';
    if (stv_capacity_type_parse(word, &ct) != 0)
      return stv_err_set(err, STV_EINVAL,
                         "--capacity-types: unknown capacity type \"%s\" (use reserved, spot, on-demand)",
                         word);
    *mask |= 1u << ct;
    p += n;
    if (*p == ',') p++;
  }
  if (*mask == 0) return stv_err_set(err, STV_EINVAL, "--capacity-types: empty list");
  return 0;
}

static int parse_opts(int argc, char **argv, struct recommend_opts *o, struct stv_err *err) {
  static const struct option longopts[] = {{"snapshot", required_argument, NULL, 's'},
                                           {"catalog", required_argument, NULL, 'c'},
                                           {"capacity-types", required_argument, NULL, 'C'},
                                           {"output", required_argument, NULL, 'o'},
                                           {"quiet", no_argument, NULL, 'q'},
                                           {"mode", required_argument, NULL, 'm'},
                                           {"time-limit", required_argument, NULL, 'T'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  int ch;
  memset(o, 0, sizeof(*o));
  o->catalog = "aws:us-east-1";
  o->capacity_types = "reserved,on-demand";
  o->time_limit = 10;
  o->snapshots = stv_calloc((size_t)argc + 1, sizeof(*o->snapshots));
  if (o->snapshots == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  opterr = 0;
  optind = 1;
  while ((ch = getopt_long(argc, argv, ":s:c:o:m:qh", longopts, NULL)) != -1) {
    switch (ch) {
    case 's':
      o->snapshots[o->nsnapshots++] = optarg;
      break;
    case 'c':
      o->catalog = optarg;
      break;
    case 'C':
      o->capacity_types = optarg;
      break;
    case 'o':
      if (strcmp(optarg, "json") == 0)
        o->json = 1;
      else if (strcmp(optarg, "table") == 0)
        o->json = 0;
      else
        return stv_err_set(err, STV_EINVAL, "--output: unknown format \"%s\" (use table or json)", optarg);
      break;
    case 'q':
      o->quiet = 1;
      break;
    case 'm':
      if (strcmp(optarg, "repack") == 0)
        o->repack = 1;
      else if (strcmp(optarg, "pending") == 0)
        o->repack = 0;
      else
        return stv_err_set(err, STV_EINVAL, "--mode: unknown mode \"%s\" (use pending or repack)", optarg);
      break;
    case 'T': {
      char *end;
      errno = 0;
      o->time_limit = strtod(optarg, &end);
      if (errno || end == optarg || *end != '\0' || !(o->time_limit >= 0) || o->time_limit > 86400)
        return stv_err_set(err, STV_EINVAL, "--time-limit: \"%s\" is not a number of seconds from 0 to 86400",
                           optarg);
      break;
    }
    case 'h':
      return 1;
    case ':':
      return stv_err_set(err, STV_EINVAL, "%s needs a value", argv[optind - 1]);
    default:
      return stv_err_set(err, STV_EINVAL, "unknown option %s (see stevedore recommend --help)",
                         argv[optind - 1]);
    }
  }
  if (optind < argc)
    return stv_err_set(err, STV_EINVAL, "unexpected argument \"%s\" (see stevedore recommend --help)",
                       argv[optind]);
  if (o->nsnapshots == 0)
    return stv_err_set(err, STV_EINVAL,
                       "no --snapshot given (try: kubectl get nodes,pods,poddisruptionbudgets -A -o json "
                       "> snap.json; stevedore recommend --snapshot snap.json)");
  return parse_capacity_types(o->capacity_types, &o->allowed, err);
}

/* A growable output buffer; printing fails only on memory. */
struct outbuf {
  char *p;
  size_t len, cap;
  int oom;
};

static void out_printf(struct outbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct outbuf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  if (b->oom) return;
  for (;;) {
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    if (stv_grow((void **)&b->p, &b->cap, b->len + (size_t)n + 1, 1) != 0) {
      b->oom = 1;
      return;
    }
  }
}

static const char *plan_node_type(const struct stv_problem *pb, const struct stv_plan_node *pn) {
  if (pn->existing >= 0) return pb->snap->nodes[pn->existing].instance_type;
  return pb->tmpl[pn->tmpl].instance_type;
}

/* ---------------------------------------------------------------------- */
/* JSON                                                                   */

static cJSON *labels_json(const struct stv_labels *l, const char *hostname) {
  cJSON *o = cJSON_CreateObject();
  uint32_t i;
  int done = hostname == NULL;
  if (o == NULL) return NULL;
  for (i = 0; i <= l->n; i++) {
    /* Keep keys sorted: kubernetes.io/hostname goes in its place. */
    if (!done && (i == l->n || strcmp(l->kv[i].key, "kubernetes.io/hostname") > 0)) {
      if (!cJSON_AddStringToObject(o, "kubernetes.io/hostname", hostname)) goto fail;
      done = 1;
    }
    if (i < l->n && !cJSON_AddStringToObject(o, l->kv[i].key, l->kv[i].value)) goto fail;
  }
  return o;
fail:
  cJSON_Delete(o);
  return NULL;
}

static cJSON *plan_json(const struct stv_problem *pb, const struct stv_plan *plan) {
  const struct stv_snapshot *s = pb->snap;
  cJSON *root = cJSON_CreateObject(), *sum, *nodes, *un;
  char name[600];
  size_t i;
  uint32_t q;
  if (root == NULL) return NULL;
  sum = cJSON_AddObjectToObject(root, "summary");
  if (sum == NULL) goto out;
  cJSON_AddNumberToObject(sum, "pending_pods", (double)plan->npending);
  cJSON_AddNumberToObject(sum, "placed_pods", (double)plan->nplaced);
  cJSON_AddNumberToObject(sum, "unschedulable_pods", (double)plan->nunsched);
  cJSON_AddNumberToObject(sum, "new_nodes", (double)plan->nnew);
  cJSON_AddNumberToObject(sum, "new_nodes_hourly_cost", plan->new_cost);
  if (plan->has_lower_bound) cJSON_AddNumberToObject(sum, "lower_bound_hourly_cost", plan->lower_bound);
  cJSON_AddStringToObject(sum, "currency", pb->currency ? pb->currency : "USD");
  nodes = cJSON_AddArrayToObject(root, "nodes");
  if (nodes == NULL) goto out;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    cJSON *n = cJSON_CreateObject(), *pods, *labels;
    const char *type = plan_node_type(pb, pn);
    if (n == NULL || !cJSON_AddItemToArray(nodes, n)) goto out;
    cJSON_AddStringToObject(n, "name", pn->name);
    cJSON_AddBoolToObject(n, "new", pn->existing < 0);
    if (type)
      cJSON_AddStringToObject(n, "instance_type", type);
    else
      cJSON_AddNullToObject(n, "instance_type");
    if (pn->existing < 0) {
      const struct stv_template *t = &pb->tmpl[pn->tmpl];
      cJSON_AddStringToObject(n, "capacity_type", stv_capacity_type_name(t->capacity_type));
      cJSON_AddStringToObject(n, "zone", t->zone ? t->zone : "");
      cJSON_AddNumberToObject(n, "hourly_cost", t->price);
      labels = labels_json(&t->labels, pn->name);
    } else {
      const struct stv_node *e = &s->nodes[pn->existing];
      if (e->capacity_type)
        cJSON_AddStringToObject(n, "capacity_type", e->capacity_type);
      else
        cJSON_AddNullToObject(n, "capacity_type");
      if (e->zone)
        cJSON_AddStringToObject(n, "zone", e->zone);
      else
        cJSON_AddNullToObject(n, "zone");
      cJSON_AddNumberToObject(n, "hourly_cost", 0);
      labels = labels_json(&e->labels, NULL);
    }
    if (labels == NULL || !cJSON_AddItemToObject(n, "labels", labels)) goto out;
    pods = cJSON_AddArrayToObject(n, "pods");
    if (pods == NULL) goto out;
    for (q = 0; q < pn->npods; q++) {
      const struct stv_pod *p = &s->pods[pn->pods[q]];
      snprintf(name, sizeof(name), "%s/%s", p->ns, p->name);
      if (!cJSON_AddItemToArray(pods, cJSON_CreateString(name))) goto out;
    }
  }
  un = cJSON_AddArrayToObject(root, "unschedulable");
  if (un == NULL) goto out;
  for (i = 0; i < plan->nunsched; i++) {
    const struct stv_pod *p = &s->pods[plan->unsched[i].pod];
    cJSON *u = cJSON_CreateObject();
    if (u == NULL || !cJSON_AddItemToArray(un, u)) goto out;
    snprintf(name, sizeof(name), "%s/%s", p->ns, p->name);
    cJSON_AddStringToObject(u, "pod", name);
    cJSON_AddStringToObject(u, "reason", plan->unsched[i].reason);
  }
  return root;
out:
  cJSON_Delete(root);
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* Table                                                                  */

struct row {
  const char *type, *ct, *zone;
  double price;
  size_t count;
  size_t pods;
};

static int cmp_row(const void *a, const void *b) {
  const struct row *x = a, *y = b;
  double cx = x->price * (double)x->count, cy = y->price * (double)y->count;
  int c;
  if (cx != cy) return cx < cy ? 1 : -1;
  if ((c = strcmp(x->type, y->type)) != 0) return c;
  if ((c = strcmp(x->zone, y->zone)) != 0) return c;
  return strcmp(x->ct, y->ct);
}

static int render_table(const struct stv_problem *pb, const struct stv_plan *plan,
                        const struct recommend_opts *o, struct outbuf *b) {
  const struct stv_snapshot *s = pb->snap;
  struct row *rows = stv_calloc(plan->nnodes + 1, sizeof(*rows));
  size_t nrows = 0, i, j, nexisting = 0;
  const char *cur = pb->currency ? pb->currency : "USD";
  if (rows == NULL) return STV_ENOMEM;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    const struct stv_template *t;
    if (pn->existing >= 0) {
      nexisting++;
      continue;
    }
    t = &pb->tmpl[pn->tmpl];
    for (j = 0; j < nrows; j++)
      if (rows[j].type == t->instance_type && rows[j].zone == t->zone &&
          strcmp(rows[j].ct, stv_capacity_type_name(t->capacity_type)) == 0)
        break;
    if (j == nrows) {
      rows[j].type = t->instance_type;
      rows[j].zone = t->zone ? t->zone : "";
      rows[j].ct = stv_capacity_type_name(t->capacity_type);
      rows[j].price = t->price;
      nrows++;
    }
    rows[j].count++;
    rows[j].pods += pn->npods;
  }
  qsort(rows, nrows, sizeof(*rows), cmp_row);
  out_printf(b, "Stevedore recommendation (dry run; catalog %s; capacity types %s)\n\n", o->catalog,
             o->capacity_types);
  out_printf(
      b,
      "Pending pods: %zu    placed: %zu (%zu on existing nodes, %zu on new nodes)    unschedulable: %zu\n\n",
      plan->npending, plan->nplaced, plan->nplaced, (size_t)0, plan->nunsched);
  /* Recount placed pods by destination for the line above. */
  {
    size_t on_existing = 0, on_new = 0;
    for (i = 0; i < plan->nnodes; i++) {
      if (plan->nodes[i].existing >= 0)
        on_existing += plan->nodes[i].npods;
      else
        on_new += plan->nodes[i].npods;
    }
    b->len = 0;
    out_printf(b, "Stevedore recommendation (dry run; catalog %s; capacity types %s)\n\n", o->catalog,
               o->capacity_types);
    out_printf(b,
               "Pending pods: %zu    placed: %zu (%zu on existing nodes, %zu on new nodes)    unschedulable: "
               "%zu\n\n",
               plan->npending, plan->nplaced, on_existing, on_new, plan->nunsched);
  }
  if (nrows == 0) {
    out_printf(b, "New nodes: none needed.\n\n");
  } else {
    out_printf(b, "New nodes\n");
    out_printf(b, "  %-24s %-10s %-14s %6s %6s %12s %12s\n", "INSTANCE TYPE", "CAPACITY", "ZONE", "COUNT",
               "PODS", "PER HOUR", "PER MONTH");
    for (i = 0; i < nrows; i++) {
      double h = rows[i].price * (double)rows[i].count;
      out_printf(b, "  %-24s %-10s %-14s %6zu %6zu %12.4f %12.2f\n", rows[i].type, rows[i].ct, rows[i].zone,
                 rows[i].count, rows[i].pods, h, h * HOURS_PER_MONTH);
    }
    out_printf(b, "  %-24s %-10s %-14s %6zu %6s %12.4f %12.2f   %s\n", "total", "", "", plan->nnew, "",
               plan->new_cost, plan->new_cost * HOURS_PER_MONTH, cur);
    if (plan->has_lower_bound) {
      out_printf(b, "\n  Proven lower bound for these pods: %.4f %s/hour", plan->lower_bound, cur);
      if (plan->lower_bound > 0)
        out_printf(b, " (plan is at most %.1f%% above the cheapest possible)\n",
                   100.0 * (plan->new_cost - plan->lower_bound) / plan->lower_bound);
      else
        out_printf(b, "\n");
    }
    out_printf(b, "\n");
  }
  if (nexisting > 0) {
    out_printf(b, "Existing nodes receiving pods\n");
    out_printf(b, "  %-40s %-20s %6s\n", "NODE", "INSTANCE TYPE", "PODS");
    for (i = 0; i < plan->nnodes; i++) {
      const struct stv_plan_node *pn = &plan->nodes[i];
      const char *type;
      if (pn->existing < 0) continue;
      type = s->nodes[pn->existing].instance_type;
      out_printf(b, "  %-40s %-20s %6u\n", pn->name, type ? type : "-", pn->npods);
    }
    out_printf(b, "\n");
  }
  if (plan->nunsched > 0) {
    /* Group by reason so that 5,000 copies of one problem read as one line. */
    size_t shown = 0;
    char *done = stv_calloc(plan->nunsched + 1, 1);
    if (done == NULL) {
      stv_free(rows);
      return STV_ENOMEM;
    }
    out_printf(b, "Unschedulable pods\n");
    for (i = 0; i < plan->nunsched && shown < 50; i++) {
      size_t n = 0;
      const struct stv_pod *p = &s->pods[plan->unsched[i].pod];
      if (done[i]) continue;
      for (j = i; j < plan->nunsched; j++) {
        if (done[j] || strcmp(plan->unsched[j].reason, plan->unsched[i].reason) != 0) continue;
        if (s->classes[s->pods[plan->unsched[j].pod].cls] != s->classes[p->cls]) continue;
        done[j] = 1;
        n++;
      }
      if (n == 1)
        out_printf(b, "  %s/%s: %s\n", p->ns, p->name, plan->unsched[i].reason);
      else
        out_printf(b, "  %s/%s and %zu more like it: %s\n", p->ns, p->name, n - 1, plan->unsched[i].reason);
      shown++;
    }
    if (shown == 50) out_printf(b, "  ... (use --output json for the full list)\n");
    out_printf(b, "\n");
    stv_free(done);
  }
  stv_free(rows);
  return b->oom ? STV_ENOMEM : 0;
}

/* ---------------------------------------------------------------------- */

double stv_monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int stv_recommend_run(const struct stv_recommend_args *a, struct stv_recommend_result *r,
                      struct stv_err *err) {
  size_t i;
  int rc = 0;
  double t0;
  struct stv_problem pb;
  memset(r, 0, sizeof(*r));
  if ((rc = stv_snapshot_init(&r->snap)) != 0) return stv_err_set(err, rc, "out of memory");
  r->have_snap = 1;
  t0 = now_ms();
  for (i = 0; i < a->nsnapshots; i++) {
    if ((rc = stv_snapshot_read_file_stats(&r->snap, a->snapshots[i], &r->stats, err)) != 0) return rc;
  }
  if ((rc = stv_snapshot_finish(&r->snap, err)) != 0) return rc;
  r->read_ms = now_ms() - t0;
  t0 = now_ms();
  if ((rc = stv_catalog_load(&r->catalog, a->catalog, err)) != 0) return rc;
  r->have_catalog = 1;
  if ((rc = stv_templates_build(&r->templates, &r->catalog, &r->snap, a->allowed, err)) != 0) return rc;
  r->have_templates = 1;
  r->catalog_ms = now_ms() - t0;
  memset(&pb, 0, sizeof(pb));
  pb.snap = &r->snap;
  pb.tmpl = r->templates.v;
  pb.ntmpl = r->templates.n;
  pb.currency = r->catalog.currency;
  pb.search_limit = a->search_limit;
  pb.time_limit = a->time_limit;
  pb.clock = stv_monotonic_seconds;
  stv_spot_policy_default(&pb.spot);
  r->problem = pb;
  t0 = now_ms();
  if (a->repack) {
    if ((rc = stv_repack_run(a, r, err)) != 0) return rc;
  } else {
    if ((rc = stv_optimize(&r->problem, &r->plan, err)) != 0) return rc;
    r->have_plan = 1;
  }
  r->pack_ms = now_ms() - t0;
  return 0;
}

void stv_recommend_result_close(struct stv_recommend_result *r) {
  if (r->have_repack) stv_repack_close(&r->repack);
  if (r->have_plan) stv_plan_close(&r->plan);
  if (r->have_templates) stv_templates_close(&r->templates);
  if (r->have_catalog) stv_catalog_close(&r->catalog);
  if (r->have_snap) stv_snapshot_close(&r->snap);
  memset(r, 0, sizeof(*r));
}

char *stv_recommend_render_json(const struct stv_recommend_result *r) {
  cJSON *root = plan_json(&r->problem, &r->plan);
  char *text = NULL;
  if (root == NULL) return NULL;
  if (!r->have_repack || stv_repack_add_json(r, root) == 0) text = cJSON_Print(root);
  cJSON_Delete(root);
  return text;
}

/* Exit status for an error code: 2 for what the user can fix in the input. */
static int exit_status(int code) {
  switch (code) {
  case STV_ENOMEM:
  case STV_EIO:
    return 1;
  default:
    return 2;
  }
}

int stv_cmd_recommend(int argc, char **argv) {
  struct recommend_opts o;
  struct stv_recommend_args a;
  struct stv_recommend_result r;
  struct stv_err err = {0, ""};
  struct outbuf b = {NULL, 0, 0, 0};
  int rc, status = 0;
  char *json = NULL;

  memset(&r, 0, sizeof(r));
  rc = parse_opts(argc, argv, &o, &err);
  if (rc == 1) {
    usage(stdout);
    stv_free(o.snapshots);
    return 0;
  }
  if (rc != 0) {
    fprintf(stderr, "stevedore recommend: %s\n", err.msg);
    stv_free(o.snapshots);
    return 2;
  }
  memset(&a, 0, sizeof(a));
  a.snapshots = o.snapshots;
  a.nsnapshots = o.nsnapshots;
  a.catalog = o.catalog;
  a.allowed = o.allowed;
  a.time_limit = o.time_limit;
  a.repack = o.repack;
  rc = stv_recommend_run(&a, &r, &err);
  if (rc != 0) {
    fprintf(stderr, "stevedore recommend: %s\n", err.msg[0] ? err.msg : stv_strerror(rc));
    status = exit_status(rc);
    goto out;
  }
  if (!o.quiet) {
    char note[512];
    stv_snapshot_read_stats_format(&r.stats, note, sizeof(note));
    if (note[0]) fprintf(stderr, "stevedore recommend: note: %s\n", note);
  }
  if (o.json) {
    json = stv_recommend_render_json(&r);
    if (json == NULL) {
      fprintf(stderr, "stevedore recommend: out of memory while writing the plan\n");
      status = 1;
      goto out;
    }
    fputs(json, stdout);
    fputc('\n', stdout);
  } else if (o.repack) {
    struct stv_buf tb;
    stv_buf_init(&tb);
    if (stv_repack_render_table(&r, o.catalog, o.capacity_types, &tb) != 0) {
      stv_buf_close(&tb);
      fprintf(stderr, "stevedore recommend: out of memory while writing the plan\n");
      status = 1;
      goto out;
    }
    if (tb.len) fwrite(tb.data, 1, tb.len, stdout);
    stv_buf_close(&tb);
  } else {
    if (render_table(&r.problem, &r.plan, &o, &b) != 0) {
      fprintf(stderr, "stevedore recommend: out of memory while writing the plan\n");
      status = 1;
      goto out;
    }
    fwrite(b.p, 1, b.len, stdout);
  }
  if (fflush(stdout) != 0) {
    fprintf(stderr, "stevedore recommend: cannot write the plan to standard output\n");
    status = 1;
  }
out:
  if (json) cJSON_free(json);
  stv_free(b.p);
  stv_free(o.snapshots);
  stv_recommend_result_close(&r);
  return status;
}
