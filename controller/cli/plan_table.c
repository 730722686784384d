/*
 * The plan of `stevedore recommend` as a table for a person: new nodes by
 * type, the cost against the lower bound and why the gap may be large,
 * headroom, existing nodes receiving pods, and the pods left out (see
 * recommend_internal.h). Written as the bytes are; JSON is for tools.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recommend_internal.h"

#define HOURS_PER_MONTH 730.0

/* Appends printf-style text to b; the first failure stays in b->err. */
static void out_printf(struct stv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct stv_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  stv_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

/* Width the table's sentences are wrapped to. */
#define TABLE_TEXT_WIDTH 100

/*
 * Prints text (borrowed) as lines of at most TABLE_TEXT_WIDTH columns, broken
 * at spaces: the first line after first, the others after indent. A word
 * longer than a line is printed whole.
 */
static void out_wrapped(struct stv_buf *b, const char *first, const char *indent, const char *text) {
  const char *p = text, *lead = first;
  while (*p) {
    size_t room = TABLE_TEXT_WIDTH - strlen(lead), len = strlen(p), cut;
    if (len <= room) {
      cut = len;
    } else {
      cut = room;
      while (cut > 0 && p[cut] != ' ') cut--;
      if (cut == 0)
        for (cut = room; p[cut] && p[cut] != ' '; cut++) continue;
    }
    out_printf(b, "%s%.*s\n", lead, (int)cut, p);
    p += cut;
    while (*p == ' ') p++;
    lead = indent;
  }
}

/* The table's sections for preemptions and for pods not planned. */
static void table_skipped(const struct stv_snapshot *s, const struct stv_plan *plan, struct stv_buf *b) {
  char name[600];
  size_t i, j;
  uint32_t k;
  if (plan->npreemptions > 0) {
    out_printf(b, "Preemptions on existing nodes\n");
    for (i = 0; i < plan->npreemptions && i < 50; i++) {
      const struct stv_plan_preemption *e = &plan->preemptions[i];
      out_printf(b, "  %s (priority %d) on %s evicts", stv__pod_key(s, e->pod, name, sizeof(name)),
                 (int)s->pods[e->pod].priority, s->nodes[e->node].name);
      for (k = 0; k < e->nvictims; k++)
        out_printf(b, "%s %s (%d)", k ? "," : "", stv__pod_key(s, e->victims[k], name, sizeof(name)),
                   (int)s->pods[e->victims[k]].priority);
      if (e->pdb_violations) out_printf(b, "; %u against a PodDisruptionBudget", e->pdb_violations);
      out_printf(b, "\n");
    }
    if (i < plan->npreemptions) out_printf(b, "  ... (use --output json for the full list)\n");
    out_printf(b, "\n");
  }
  if (plan->nskipped > 0) {
    size_t shown = 0;
    out_printf(b, "Not planned (the scheduler will not take them, or no node is bought for them)\n");
    for (i = 0; i < plan->nskipped && shown < 50; i++) {
      size_t n = 0;
      for (j = 0; j < i; j++)
        if (strcmp(plan->skipped[j].reason, plan->skipped[i].reason) == 0) break;
      if (j < i) continue;
      for (j = i; j < plan->nskipped; j++) n += strcmp(plan->skipped[j].reason, plan->skipped[i].reason) == 0;
      stv__pod_key(s, plan->skipped[i].pod, name, sizeof(name));
      if (n == 1)
        out_printf(b, "  %s: %s\n", name, plan->skipped[i].reason);
      else
        out_printf(b, "  %s and %zu more like it: %s\n", name, n - 1, plan->skipped[i].reason);
      shown++;
    }
    if (shown == 50) out_printf(b, "  ... (use --output json for the full list)\n");
    out_printf(b, "\n");
  }
}

struct row {
  const char *type, *ct, *zone, *pool;
  double cost; /* the row's nodes together: price, node cost, surplus credits */
  size_t count;
  size_t pods, headroom;
};

static int cmp_row(const void *a, const void *b) {
  const struct row *x = a, *y = b;
  double cx = x->cost, cy = y->cost;
  int c;
  if (cx != cy) return cx < cy ? 1 : -1;
  if ((c = strcmp(x->type, y->type)) != 0) return c;
  if ((c = strcmp(x->zone, y->zone)) != 0) return c;
  if ((c = strcmp(x->ct, y->ct)) != 0) return c;
  return strcmp(x->pool, y->pool);
}

/* The new nodes grouped into rows by type, zone, capacity type and pool; counts what went where. */
struct table {
  struct row *rows;
  size_t nrows;
  size_t nexisting, on_existing, on_new;
  int pools; /* some new node is of a node pool */
  int hr;    /* there is headroom */
  struct stv__headroom_stats h;
  const char *cur;
  double credits, node_costs; /* of all new nodes: surplus credits, per-node cost */
};

/* Counts a new node of template t costing cost, holding pods pods and headroom virtual pods, in its row. */
static void add_row(struct table *tb, const struct stv_template *t, double cost, size_t pods, size_t headroom) {
  struct row *rows = tb->rows;
  const char *ct = stv_capacity_type_name(t->capacity_type);
  size_t j;
  for (j = 0; j < tb->nrows; j++)
    if (rows[j].type == t->instance_type && rows[j].zone == (t->zone ? t->zone : "") &&
        rows[j].pool == (t->pool ? t->pool : "") && strcmp(rows[j].ct, ct) == 0)
      break;
  if (j == tb->nrows) {
    rows[j].type = t->instance_type;
    rows[j].zone = t->zone ? t->zone : "";
    rows[j].pool = t->pool ? t->pool : "";
    if (t->pool) tb->pools = 1;
    rows[j].ct = ct;
    tb->nrows++;
  }
  rows[j].cost += cost;
  rows[j].count++;
  rows[j].pods += pods;
  rows[j].headroom += headroom;
}

/* Fills tb from r's plan; returns 0 or STV_ENOMEM. */
static int table_collect(const struct stv_recommend_result *r, struct table *tb) {
  const struct stv_problem *pb = &r->problem;
  const struct stv_plan *plan = &r->plan;
  size_t i;
  memset(tb, 0, sizeof(*tb));
  tb->cur = pb->currency ? pb->currency : "USD";
  tb->hr = r->headroom.npods > 0;
  stv__headroom_stats(r, &tb->h);
  if ((tb->rows = stv_calloc(plan->nnodes + 1, sizeof(*tb->rows))) == NULL) return STV_ENOMEM;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    uint32_t nh = stv__node_headroom(pb->snap, pn);
    if (pn->existing >= 0) {
      tb->nexisting++;
      tb->on_existing += pn->npods - nh;
      continue;
    }
    tb->on_new += pn->npods - nh;
    add_row(tb, &pb->tmpl[pn->tmpl], stv_plan_node_cost(pb, pn), pn->npods - nh, nh);
    tb->credits += stv_template_credits(&pb->tmpl[pn->tmpl], stv_plan_node_cpu(pb->snap, pn));
    tb->node_costs += pb->tmpl[pn->tmpl].node_cost;
  }
  qsort(tb->rows, tb->nrows, sizeof(*tb->rows), cmp_row);
  return 0;
}

/* The cost against the lower bound, and the likely reasons of a large gap. */
static void table_bound(const struct stv_recommend_result *r, const struct table *tb, struct stv_buf *b) {
  const struct stv_plan *plan = &r->plan;
  struct stv__gap_explain gx;
  char line[1024];
  size_t i;
  int n;
  stv__explain_gap(r, &gx);
  n = snprintf(line, sizeof(line), "Cost %.4f %s/hour; lower bound %.4f %s/hour (%s)", plan->new_cost,
               tb->cur, plan->lower_bound, tb->cur, stv__bound_kind_text(plan->lower_bound_kind));
  if (n > 0 && (size_t)n < sizeof(line)) {
    if (plan->lower_bound > 0)
      snprintf(line + n, sizeof(line) - (size_t)n,
               "; the plan is at most %.1f%% above the cheapest possible.", 100.0 * gx.gap);
    else
      snprintf(line + n, sizeof(line) - (size_t)n, ".");
  }
  out_printf(b, "\n");
  out_wrapped(b, "  ", "  ", line);
  if (gx.n > 0) {
    out_printf(b, "  The gap is large; the likely reasons:\n");
    for (i = 0; i < gx.n; i++) out_wrapped(b, "  - ", "    ", gx.r[i].text);
  }
}

/* The "New nodes" section. */
static void table_new_nodes(const struct stv_recommend_result *r, const struct table *tb, struct stv_buf *b) {
  const struct stv_plan *plan = &r->plan;
  const char *pad = tb->pools ? "   " : "";
  size_t i;
  if (tb->nrows == 0) {
    out_printf(b, "New nodes: none needed.\n\n");
    return;
  }
  out_printf(b, "New nodes\n");
  out_printf(b, "  %-24s %-10s %-14s %6s %6s%s %12s %12s%s%s\n", "INSTANCE TYPE", "CAPACITY", "ZONE", "COUNT",
             "PODS", tb->hr ? " HEADROOM" : "", "PER HOUR", "PER MONTH", pad, tb->pools ? "POOL" : "");
  for (i = 0; i < tb->nrows; i++) {
    const struct row *w = &tb->rows[i];
    double cost = w->cost;
    out_printf(b, "  %-24s %-10s %-14s %6zu %6zu", w->type, w->ct, w->zone, w->count, w->pods);
    if (tb->hr) out_printf(b, " %8zu", w->headroom);
    out_printf(b, " %12.4f %12.2f%s%s\n", cost, cost * HOURS_PER_MONTH, pad, w->pool);
  }
  out_printf(b, "  %-24s %-10s %-14s %6zu %6s%s %12.4f %12.2f   %s\n", "total", "", "", plan->nnew, "",
             tb->hr ? "         " : "", plan->new_cost, plan->new_cost * HOURS_PER_MONTH, tb->cur);
  if (tb->credits > 0 || tb->node_costs > 0)
    out_printf(b, "  The cost includes %.4f %s/hour of burstable surplus credits and %.4f %s/hour of per-node cost.\n",
               tb->credits, tb->cur, tb->node_costs, tb->cur);
  if (plan->has_lower_bound) table_bound(r, tb, b);
  if (plan->optimized && plan->heuristic_cost > plan->new_cost + 1e-9)
    out_printf(b, "  The optimizer saved %.4f %s/hour (%.2f/month) over the first heuristic plan.\n",
               plan->heuristic_cost - plan->new_cost, tb->cur,
               (plan->heuristic_cost - plan->new_cost) * HOURS_PER_MONTH);
  if (plan->optimized) {
    char stop[256], line[300];
    snprintf(line, sizeof(line), "Optimizer %s.", stv__stop_text(r, stop, sizeof(stop)));
    out_wrapped(b, "  ", "  ", line);
  }
  out_printf(b, "\n");
}

/* The "Headroom" line. */
static void table_headroom(const struct table *tb, struct stv_buf *b) {
  const struct stv__headroom_stats *h = &tb->h;
  char qc[40], qm[40];
  out_printf(b, "Headroom: %zu virtual pods, %s cpu, %s memory: %zu on existing nodes, %zu on %zu new node%s",
             h->pods, stv_quantity_format(h->cpu, 1, 0, qc, sizeof(qc)),
             stv_quantity_format(h->memory, 0, 1, qm, sizeof(qm)), h->on_existing, h->on_new, h->new_nodes,
             h->new_nodes == 1 ? "" : "s");
  out_printf(b, ", costing %.4f %s/hour (%.2f per month)\n", h->hourly_cost, tb->cur,
             h->hourly_cost * HOURS_PER_MONTH);
  if (h->unplaced > 0) out_printf(b, "  %zu could not be placed: %s\n", h->unplaced, h->unplaced_reason);
  out_printf(b, "\n");
}

/* The "Existing nodes receiving pods" section. */
static void table_existing(const struct stv_recommend_result *r, const struct table *tb, struct stv_buf *b) {
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = r->problem.snap;
  size_t i;
  out_printf(b, "Existing nodes receiving pods\n");
  out_printf(b, "  %-40s %-20s %6s%s\n", "NODE", "INSTANCE TYPE", "PODS", tb->hr ? " HEADROOM" : "");
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    const char *type;
    uint32_t nh;
    if (pn->existing < 0) continue;
    type = s->nodes[pn->existing].instance_type;
    nh = stv__node_headroom(s, pn);
    out_printf(b, "  %-40s %-20s %6u", pn->name, type ? type : "-", pn->npods - nh);
    if (tb->hr) out_printf(b, " %8u", nh);
    out_printf(b, "\n");
  }
  out_printf(b, "\n");
}

/* The "Unschedulable pods" section, grouped by reason and class. Returns 0 or STV_ENOMEM. */
static int table_unschedulable(const struct stv_recommend_result *r, struct stv_buf *b) {
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = r->problem.snap;
  /* Group by reason so that 5,000 copies of one problem read as one line. */
  size_t shown = 0, i, j;
  char *done = stv_calloc(plan->nunsched + 1, 1);
  if (done == NULL) return STV_ENOMEM;
  out_printf(b, "Unschedulable pods\n");
  for (i = 0; i < plan->nunsched && shown < 50; i++) {
    size_t n = 0;
    const struct stv_pod *p = &s->pods[plan->unsched[i].pod];
    if (done[i] || stv__is_headroom(s, plan->unsched[i].pod)) continue;
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
  return 0;
}

int stv__recommend_render_table(const struct stv_recommend_result *r, const char *catalog,
                                const char *capacity_types, struct stv_buf *b) {
  const struct stv_plan *plan = &r->plan;
  struct table tb;
  int rc = table_collect(r, &tb);
  if (rc != 0) return rc;
  out_printf(b, "Stevedore recommendation (dry run; catalog %s; capacity types %s)\n", catalog, capacity_types);
  if (r->have_catalog) {
    char prices[600];
    out_printf(b, "Prices: %s\n", stv_catalog_describe(&r->catalog, prices, sizeof(prices)));
  }
  out_printf(b, "\n");
  out_printf(
      b, "Pending pods: %zu    placed: %zu (%zu on existing nodes, %zu on new nodes)    unschedulable: %zu",
      plan->npending - tb.h.pods, plan->nplaced - tb.h.placed, tb.on_existing, tb.on_new,
      plan->nunsched - tb.h.unplaced);
  if (plan->nskipped > 0) out_printf(b, "    not planned: %zu", plan->nskipped);
  if (plan->npreemptions > 0) out_printf(b, "    preemptions: %zu", plan->npreemptions);
  out_printf(b, "\n\n");
  table_new_nodes(r, &tb, b);
  if (tb.hr) table_headroom(&tb, b);
  if (tb.nexisting > 0) table_existing(r, &tb, b);
  if (plan->nunsched > tb.h.unplaced) rc = table_unschedulable(r, b);
  if (rc == 0) table_skipped(r->problem.snap, plan, b);
  stv_free(tb.rows);
  return rc != 0 ? rc : b->err;
}
