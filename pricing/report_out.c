/*
 * Renderers of a finished cost report (report.h): a table for a person,
 * CSV for spreadsheets and JSON for tools (schema in docs/report.md), and
 * the dispatch that also reaches the HTML page when it is built in.
 * Everything is appended to a caller-owned buffer; nothing is written.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pricing.h"

/* ---------------------------------------------------------------------- */
/* Formatting helpers                                                     */

/* Whole cents as "1234.56". */
static const char *money(int64_t cents, char *buf, size_t size) {
  const char *sign = cents < 0 ? "-" : "";
  int64_t a = cents < 0 ? -cents : cents;
  snprintf(buf, size, "%s%" PRId64 ".%02" PRId64, sign, a / 100, a % 100);
  return buf;
}

/* RFC 3339 through base's one writer; "-" when the time is unset or out of range. */
static const char *iso_time(int64_t t, char *buf, size_t size) {
  if (t == 0 || stv_format_time((double)t, 0, buf, size)[0] == '\0') snprintf(buf, size, "-");
  return buf;
}

/* cpu cores as a Kubernetes quantity: "250m", "2". */
static const char *cpu_q(double cores, char *buf, size_t size) {
  long long m;
  if (cores < 0) return snprintf(buf, size, "-"), buf;
  m = llround(cores * 1000.0);
  if (m % 1000 == 0)
    snprintf(buf, size, "%lld", m / 1000);
  else
    snprintf(buf, size, "%lldm", m);
  return buf;
}

/* bytes as "512Mi" / "1.5Gi" (to the nearest MiB). */
static const char *ram_q(double bytes, char *buf, size_t size) {
  double mib;
  if (bytes < 0) return snprintf(buf, size, "-"), buf;
  mib = round(bytes / 1048576.0);
  if (mib >= 1024 && fmod(mib, 1024.0) == 0)
    snprintf(buf, size, "%.0fGi", mib / 1024.0);
  else if (mib >= 10240)
    snprintf(buf, size, "%.1fGi", mib / 1024.0);
  else
    snprintf(buf, size, "%.0fMi", mib);
  return buf;
}

static const char *pct(double f, char *buf, size_t size) {
  if (f < 0)
    snprintf(buf, size, "-");
  else
    snprintf(buf, size, "%.0f%%", f * 100.0);
  return buf;
}

/* Hourly rate of the report's amounts: the hours the figures cover. */
static double hours_of(const struct stv_report *r) { return r->totals.hours > 0 ? r->totals.hours : 1; }

static const char *shared_mode_name(const struct stv_report *r) {
  return r->opts.shared_mode == STV_SHARED_PROPORTIONAL ? "proportional" : "even";
}

static int done(struct stv_buf *out, struct stv_err *err) {
  if (out->err) return stv_err_set(err, out->err, "writing the report: %s", stv_strerror(out->err));
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Table                                                                  */

static void table_rightsize(const struct stv_report *r, struct stv_buf *b) {
  const struct stv_report_repack *rp = &r->repack;
  char m[32], q1[32], q2[32], q3[32], q4[32], q5[32], q6[32];
  size_t i, w = 10, nunder = 0;
  for (i = 0; i < r->nrightsize; i++) {
    const struct stv_rightsize_row *x = &r->rightsize[i];
    size_t l = strlen(x->ns) + strlen(x->kind) + strlen(x->name) + 2;
    if (l > w) w = l;
    nunder += (size_t)(x->under_cpu || x->under_ram);
  }
  if (w > 70) w = 70;
  stv_buf_printf(b, "\nRight-sizing (margin %.0f %%: suggested = p95 cpu and max memory working set per pod, plus the "
                    "margin)\n",
                 r->opts.margin * 100.0);
  if (r->nrightsize == 0) {
    stv_buf_puts(b, "  No controller with usage data.\n");
    return;
  }
  if (nunder > 0)
    stv_buf_printf(b, "  %zu controller%s under-requested (usage above request: risk of throttling or eviction), "
                      "marked !, listed first.\n",
                   nunder, nunder == 1 ? "" : "s");
  stv_buf_printf(b, "  %-1s %-*s %8s %8s %8s %8s %8s %8s %8s %14s\n", "", (int)w, "CONTROLLER", "REPLICAS", "CPU REQ",
                 "CPU P95", "CPU NEW", "MEM REQ", "MEM MAX", "MEM NEW", "EST SAVE/MONTH");
  for (i = 0; i < r->nrightsize; i++) {
    const struct stv_rightsize_row *x = &r->rightsize[i];
    char name[400];
    snprintf(name, sizeof(name), "%s/%s/%s", x->ns, x->kind, x->name);
    stv_buf_printf(b, "  %-1s %-*s %8.1f %8s %8s %8s %8s %8s %8s %14s\n", x->under_cpu || x->under_ram ? "!" : "",
                   (int)w, name, x->replicas, cpu_q(x->cpu_req, q1, sizeof(q1)), cpu_q(x->cpu_p95, q2, sizeof(q2)),
                   cpu_q(x->cpu_suggest, q3, sizeof(q3)), ram_q(x->ram_req, q4, sizeof(q4)),
                   ram_q(x->ram_max, q5, sizeof(q5)), ram_q(x->ram_suggest, q6, sizeof(q6)),
                   money(llround(x->monthly_saving_est * 100.0), m, sizeof(m)));
  }
  if (rp->done) {
    char a[32], c[32];
    stv_buf_printf(b,
                   "\n  Re-packed on new nodes from the catalogue: current requests %zu nodes %.4f/h, suggested "
                   "requests %zu nodes %.4f/h.\n"
                   "  Monthly saving if applied: %s %s (the difference between the two re-packed clusters, not a "
                   "change to the running one).\n",
                   rp->current_nodes, rp->current_hourly, rp->suggested_nodes, rp->suggested_hourly,
                   money(llround(rp->monthly_saving * 100.0), a, sizeof(a)), r->currency);
    if (rp->current_unschedulable || rp->suggested_unschedulable)
      stv_buf_printf(b, "  Pods that fit no catalogue node: %zu with current requests, %zu with suggested ones.\n",
                     rp->current_unschedulable, rp->suggested_unschedulable);
    (void)c;
  }
  if (rp->note[0]) stv_buf_printf(b, "  %s\n", rp->note);
}

int stv_report_render_table(const struct stv_report *r, struct stv_buf *b, struct stv_err *err) {
  const struct stv_report_totals *t = &r->totals;
  int pit = r->opts.point_in_time;
  char m1[32], m2[32], m3[32], m4[32], m5[32], m6[32], e1[16], e2[16], e3[16], t1[40], t2[40];
  size_t i, w = 5;
  double h = hours_of(r);

  stv_buf_printf(b, "Stevedore cost report by %s", r->by_label);
  if (r->opts.source) stv_buf_printf(b, "; %s", r->opts.source);
  stv_buf_puts(b, "\n");
  if (r->opts.catalog != NULL) {
    char prices[600];
    stv_buf_printf(b, "Prices: %s\n", stv_catalog_describe(r->opts.catalog, prices, sizeof(prices)));
  }
  if (pit)
    stv_buf_printf(b, "Point in time: monthly projection (730 h) of the hourly cost; currency %s.\n", r->currency);
  else
    stv_buf_printf(b, "Window %s to %s: %.2f h in %zu steps; cost over the window; currency %s.\n",
                   iso_time(r->window_start, t1, sizeof(t1)), iso_time(r->window_end, t2, sizeof(t2)), t->hours,
                   r->nsteps, r->currency);
  if (!r->complete)
    stv_buf_printf(b, "\nWARNING: this report is INCOMPLETE: %s (see below).\n",
                   r->nunpriced > 0 ? "some nodes could not be priced and are left out of every figure"
                                    : "part of the data was missing");
  stv_buf_puts(b, "\n");
  for (i = 0; i < r->nrows; i++) {
    size_t l = strlen(r->rows[i].group);
    if (l > w) w = l;
  }
  if (w > 60) w = 60;
  stv_buf_printf(b, "%-*s %7s %11s %11s %11s %12s %12s %10s %7s %7s %11s\n", (int)w, "GROUP", "PODS",
                 pit ? "CPU/MONTH" : "CPU", pit ? "RAM/MONTH" : "RAM", pit ? "GPU/MONTH" : "GPU",
                 pit ? "SHARED/MONTH" : "SHARED", pit ? "TOTAL/MONTH" : "TOTAL", pit ? "PER HOUR" : "HOURS", "CPU EFF",
                 "RAM EFF", "IDLE SHARE");
  for (i = 0; i < r->nrows; i++) {
    const struct stv_report_row *x = &r->rows[i];
    char hcol[32];
    if (pit)
      snprintf(hcol, sizeof(hcol), "%.4f", x->total / h);
    else
      snprintf(hcol, sizeof(hcol), "%.1f", x->hours);
    stv_buf_printf(b, "%-*s %7.*f %11s %11s %11s %12s %12s %10s %7s %7s %11s\n", (int)w, x->group,
                   pit ? 0 : 1, x->pods, money(x->cpu_cents, m1, sizeof(m1)),
                   money(x->ram_cents, m2, sizeof(m2)), money(x->gpu_cents, m3, sizeof(m3)),
                   money(x->shared_cents, m4, sizeof(m4)), money(x->total_cents, m5, sizeof(m5)), hcol,
                   pct(x->cpu_efficiency, e1, sizeof(e1)), pct(x->ram_efficiency, e2, sizeof(e2)),
                   money(x->idle_share_cents, m6, sizeof(m6)));
  }
  {
    char hcol[32];
    if (pit)
      snprintf(hcol, sizeof(hcol), "%.4f", t->idle / h);
    else
      snprintf(hcol, sizeof(hcol), "%s", "");
    stv_buf_printf(b, "%-*s %7s %11s %11s %11s %12s %12s %10s\n", (int)w, "(idle)", "", "", "", "", "",
                   money(t->idle_cents, m5, sizeof(m5)), hcol);
  }
  stv_buf_puts(b, "\n");

  /* Shared cost. */
  if (t->shared_cents > 0 || r->nshared_ns > 0) {
    size_t ngroups = 0;
    for (i = 0; i < r->nrows; i++) ngroups += strcmp(r->rows[i].group, STV_REPORT_SHARED) != 0;
    stv_buf_printf(b, "Shared cost %s%s", money(t->shared_cents, m1, sizeof(m1)), pit ? "/month" : "");
    if (ngroups == 0)
      stv_buf_printf(b, ", in a row of its own (%s): there is no other group to spread it over",
                     STV_REPORT_SHARED);
    else if (ngroups == 1)
      stv_buf_printf(b, ", all charged to the only group, %s", r->rows[0].group);
    else
      stv_buf_printf(b, ", spread %s over %zu groups",
                     r->opts.shared_mode == STV_SHARED_PROPORTIONAL ? "in proportion to cost" : "evenly",
                     ngroups);
    stv_buf_puts(b, ":");
    for (i = 0; i < r->nshared_ns; i++) {
      const struct stv_report_shared_ns *sn = &r->shared_ns[i];
      stv_buf_printf(b, "%s namespace %s %s (", i ? "," : "", sn->ns, money(sn->cents, m2, sizeof(m2)));
      if (pit)
        stv_buf_printf(b, "%.0f pod%s", sn->pods, sn->pods == 1 ? "" : "s");
      else
        stv_buf_printf(b, "%.1f pods on average", sn->pods);
      stv_buf_printf(b, "; requests %.3g cpu, %.3g GiB memory", h > 0 ? sn->cpu_req_core_h / h : 0,
                     h > 0 ? sn->ram_req_gib_h / h : 0);
      if (sn->gpu_h > 0) stv_buf_printf(b, ", %.3g GPU", h > 0 ? sn->gpu_h / h : 0);
      stv_buf_puts(b, ")");
    }
    if (t->overhead_cents > 0)
      stv_buf_printf(b, "%s fixed overhead %s", r->nshared_ns ? "," : "", money(t->overhead_cents, m3, sizeof(m3)));
    stv_buf_puts(b, "\n");
  }
  stv_buf_printf(b, "Idle %s%s (%.1f %% of node cost): cpu %.2f, ram %.2f, gpu %.2f.\n",
                 money(t->idle_cents, m1, sizeof(m1)), pit ? "/month" : "",
                 t->node_cost > 0 ? 100.0 * t->idle / t->node_cost : 0.0, t->cpu_idle * (pit ? 730.0 / h : 1),
                 t->ram_idle * (pit ? 730.0 / h : 1), t->gpu_idle * (pit ? 730.0 / h : 1));
  if (pit)
    stv_buf_printf(b, "Node cost %s/month (%.4f/h), cpu %.2f, ram %.2f, gpu %.2f.\n",
                   money(t->node_cents, m1, sizeof(m1)), t->node_cost / h, t->cpu_cost * 730.0 / h,
                   t->ram_cost * 730.0 / h, t->gpu_cost * 730.0 / h);
  else
    stv_buf_printf(b, "Node cost %s over %.1f node-hours (mean %.4f/h), cpu %.2f, ram %.2f, gpu %.2f.\n",
                   money(t->node_cents, m1, sizeof(m1)), t->node_hours, t->node_cost / h, t->cpu_cost, t->ram_cost,
                   t->gpu_cost);
  stv_buf_printf(b, "Reconciliation: allocated %s + shared %s + idle %s = %s = node cost %s + overhead %s: %s.\n",
                 money(t->allocated_cents, m1, sizeof(m1)), money(t->shared_cents, m2, sizeof(m2)),
                 money(t->idle_cents, m3, sizeof(m3)),
                 money(t->allocated_cents + t->shared_cents + t->idle_cents, m4, sizeof(m4)),
                 money(t->node_cents, m5, sizeof(m5)), money(t->overhead_cents, m6, sizeof(m6)),
                 t->reconciled ? "reconciled to the cent" : "NOT reconciled");
  if (!t->reconciled) stv_buf_printf(b, "  (difference before rounding: %.6f)\n", t->difference);
  (void)e3;

  if (r->nunpriced > 0) {
    stv_buf_printf(b, "\nUnpriced nodes (%zu, left out of every figure; their pods are not costed):\n", r->nunpriced);
    for (i = 0; i < r->nunpriced && i < 50; i++)
      stv_buf_printf(b, "  %s (%s): %s\n", r->unpriced[i].node,
                     r->unpriced[i].instance_type ? r->unpriced[i].instance_type : "no type", r->unpriced[i].reason);
    if (r->nunpriced > 50) stv_buf_printf(b, "  ... and %zu more (see --output json)\n", r->nunpriced - 50);
  }
  if (r->ndefault_priced > 0) {
    stv_buf_printf(
        b,
        "\nNodes priced at the default rates (%zu; per vCPU-hour %g, per GiB-hour %g, per GPU-hour %g; "
        "spot %g and %g), as no override or catalogue offering prices them:\n",
        r->ndefault_priced, r->opts.default_cpu, r->opts.default_ram, r->opts.default_gpu,
        r->opts.default_spot_cpu, r->opts.default_spot_ram);
    for (i = 0; i < r->ndefault_priced && i < 50; i++) {
      const struct stv_report_default_priced *d = &r->default_priced[i];
      stv_buf_printf(b, "  %s (%s, %s): %.4f/h: %s\n", d->node,
                     d->instance_type ? d->instance_type : "no type", d->capacity_type, d->hourly, d->reason);
    }
    if (r->ndefault_priced > 50)
      stv_buf_printf(b, "  ... and %zu more (see --output json)\n", r->ndefault_priced - 50);
  }
  if (r->nnotes > 0) {
    stv_buf_puts(b, "\nNotes:\n");
    for (i = 0; i < r->nnotes; i++) stv_buf_printf(b, "  - %s\n", r->notes[i]);
  }
  if (r->opts.rightsize) table_rightsize(r, b);
  return done(b, err);
}

/* ---------------------------------------------------------------------- */
/* CSV                                                                    */

static void csv_field(struct stv_buf *b, const char *s) {
  if (strpbrk(s, ",\"\n\r") == NULL) {
    stv_buf_puts(b, s);
    return;
  }
  stv_buf_puts(b, "\"");
  for (; *s; s++) {
    if (*s == '"') stv_buf_puts(b, "\"");
    stv_buf_append(b, s, 1);
  }
  stv_buf_puts(b, "\"");
}

static void csv_eff(struct stv_buf *b, double v) {
  if (v >= 0)
    stv_buf_printf(b, ",%.4f", v);
  else
    stv_buf_puts(b, ",");
}

int stv_report_render_csv(const struct stv_report *r, struct stv_buf *b, struct stv_err *err) {
  const struct stv_report_totals *t = &r->totals;
  int pit = r->opts.point_in_time;
  char m1[32], m2[32], m3[32], m4[32], m5[32], m6[32];
  double h = hours_of(r);
  size_t i;

  if (r->opts.rightsize) {
    stv_buf_puts(b, "namespace,kind,name,under_requested,replicas,cpu_request_cores,cpu_p95_cores,cpu_max_cores,"
                    "cpu_suggested_cores,memory_request_bytes,memory_max_bytes,memory_suggested_bytes,samples,"
                    "monthly_saving_estimate\n");
    for (i = 0; i < r->nrightsize; i++) {
      const struct stv_rightsize_row *x = &r->rightsize[i];
      csv_field(b, x->ns);
      stv_buf_puts(b, ",");
      csv_field(b, x->kind);
      stv_buf_puts(b, ",");
      csv_field(b, x->name);
      stv_buf_printf(b, ",%s,%.2f,%.3f,", x->under_cpu || x->under_ram ? "true" : "false", x->replicas, x->cpu_req);
      if (x->cpu_p95 >= 0) stv_buf_printf(b, "%.4f", x->cpu_p95);
      stv_buf_puts(b, ",");
      if (x->cpu_p95 >= 0) stv_buf_printf(b, "%.4f", x->cpu_max);
      stv_buf_printf(b, ",%.3f,%.0f,", x->cpu_suggest, x->ram_req);
      if (x->ram_max >= 0) stv_buf_printf(b, "%.0f", x->ram_max);
      stv_buf_printf(b, ",%.0f,%zu,%.2f\n", x->ram_suggest, x->samples, x->monthly_saving_est);
    }
    return done(b, err);
  }
  if (pit)
    stv_buf_puts(b, "group,pods,cpu_monthly,ram_monthly,gpu_monthly,shared_monthly,total_monthly,total_hourly,");
  else
    stv_buf_puts(b, "group,pods,cpu_cost,ram_cost,gpu_cost,shared_cost,total_cost,hours,");
  stv_buf_puts(b, "idle_share,cpu_request_core_hours,cpu_usage_core_hours,ram_request_gib_hours,"
                  "ram_usage_gib_hours,gpu_hours,cpu_efficiency,ram_efficiency,efficiency\n");
  for (i = 0; i < r->nrows; i++) {
    const struct stv_report_row *x = &r->rows[i];
    csv_field(b, x->group);
    stv_buf_printf(b, ",%.*f,%s,%s,%s,%s,%s,", pit ? 0 : 2, x->pods, money(x->cpu_cents, m1, sizeof(m1)),
                   money(x->ram_cents, m2, sizeof(m2)), money(x->gpu_cents, m3, sizeof(m3)),
                   money(x->shared_cents, m4, sizeof(m4)), money(x->total_cents, m5, sizeof(m5)));
    if (pit)
      stv_buf_printf(b, "%.6f", x->total / h);
    else
      stv_buf_printf(b, "%.4f", x->hours);
    stv_buf_printf(b, ",%s,%.6f,%.6f,%.6f,%.6f,%.6f", money(x->idle_share_cents, m6, sizeof(m6)), x->cpu_req_core_h,
                   x->cpu_use_core_h, x->ram_req_gib_h, x->ram_use_gib_h, x->gpu_h);
    csv_eff(b, x->cpu_efficiency);
    csv_eff(b, x->ram_efficiency);
    csv_eff(b, x->efficiency);
    stv_buf_puts(b, "\n");
  }
  /* The idle line, so that the column of totals adds up to the node cost plus overhead. */
  stv_buf_printf(b, "__idle__,,,,,,%s,", money(t->idle_cents, m1, sizeof(m1)));
  if (pit)
    stv_buf_printf(b, "%.6f", t->idle / h);
  else
    stv_buf_printf(b, "%.4f", t->hours);
  stv_buf_puts(b, ",,,,,,,,,\n");
  return done(b, err);
}

/* ---------------------------------------------------------------------- */
/* JSON                                                                   */

static void jnum(struct stv_buf *b, const char *key, double v) {
  stv_buf_printf(b, "\"%s\": ", key);
  if (!isfinite(v))
    stv_buf_puts(b, "null");
  else
    stv_buf_printf(b, "%.10g", v);
}

static void jeff(struct stv_buf *b, const char *key, double v) {
  if (v < 0)
    stv_buf_printf(b, "\"%s\": null", key);
  else
    jnum(b, key, v);
}

static void jmoney(struct stv_buf *b, const char *key, int64_t cents) {
  char m[32];
  stv_buf_printf(b, "\"%s\": %s", key, money(cents, m, sizeof(m)));
}

static void jstr(struct stv_buf *b, const char *key, const char *v) {
  stv_buf_printf(b, "\"%s\": ", key);
  if (v == NULL)
    stv_buf_puts(b, "null");
  else
    stv_buf_json_str(b, v);
}

/*
 * One member of a JSON object written from a struct: its key, how its
 * value is written, where the value is, and what comes before the member
 * (NULL: ", ", and nothing before the first).
 */
struct jfield {
  const char *key;
  char kind; /* 's' string or NULL, 'a' char array, 'n' number, 'h' number per hour,
                'e' efficiency (negative: null), 'm' cents as money, 'z' size_t */
  size_t off;
  const char *before;
};

#define JF(key, kind, type, field) {key, kind, offsetof(type, field), NULL}
#define JFB(key, kind, type, field, before) {key, kind, offsetof(type, field), before}

/* Writes the members f[0..n) of the struct at obj; h divides the 'h' kind. */
static void jfields(struct stv_buf *b, const void *obj, const struct jfield *f, size_t n, double h) {
  const char *p = obj;
  size_t i;
  for (i = 0; i < n; i++) {
    const void *v = p + f[i].off;
    if (f[i].before != NULL)
      stv_buf_puts(b, f[i].before);
    else if (i > 0)
      stv_buf_puts(b, ", ");
    switch (f[i].kind) {
    case 's':
      jstr(b, f[i].key, *(const char *const *)v);
      break;
    case 'a':
      jstr(b, f[i].key, (const char *)v);
      break;
    case 'n':
      jnum(b, f[i].key, *(const double *)v);
      break;
    case 'h':
      jnum(b, f[i].key, *(const double *)v / h);
      break;
    case 'e':
      jeff(b, f[i].key, *(const double *)v);
      break;
    case 'm':
      jmoney(b, f[i].key, *(const int64_t *)v);
      break;
    default: /* 'z' */
      stv_buf_printf(b, "\"%s\": %zu", f[i].key, *(const size_t *)v);
      break;
    }
  }
}

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static const struct jfield shared_ns_fields[] = {
    JF("namespace", 's', struct stv_report_shared_ns, ns),
    JF("cost", 'm', struct stv_report_shared_ns, cents),
    JF("pods", 'n', struct stv_report_shared_ns, pods),
    JF("cpu_request_core_hours", 'n', struct stv_report_shared_ns, cpu_req_core_h),
    JF("ram_request_gib_hours", 'n', struct stv_report_shared_ns, ram_req_gib_h),
    JF("gpu_hours", 'n', struct stv_report_shared_ns, gpu_h),
};

static const struct jfield totals_cents_fields[] = {
    JF("node_cost", 'm', struct stv_report_totals, node_cents),
    JF("overhead", 'm', struct stv_report_totals, overhead_cents),
    JF("allocated", 'm', struct stv_report_totals, allocated_cents),
    JF("shared", 'm', struct stv_report_totals, shared_cents),
    JF("idle", 'm', struct stv_report_totals, idle_cents),
};

static const struct jfield totals_hourly_fields[] = {
    JF("node_cost", 'h', struct stv_report_totals, node_cost),
    JF("cpu_cost", 'h', struct stv_report_totals, cpu_cost),
    JF("ram_cost", 'h', struct stv_report_totals, ram_cost),
    JF("gpu_cost", 'h', struct stv_report_totals, gpu_cost),
    JF("overhead", 'h', struct stv_report_totals, overhead),
    JF("allocated", 'h', struct stv_report_totals, allocated),
    JF("shared", 'h', struct stv_report_totals, shared),
    JF("idle", 'h', struct stv_report_totals, idle),
    JF("cpu_idle", 'h', struct stv_report_totals, cpu_idle),
    JF("ram_idle", 'h', struct stv_report_totals, ram_idle),
    JF("gpu_idle", 'h', struct stv_report_totals, gpu_idle),
};

static const struct jfield row_fields[] = {
    JF("group", 's', struct stv_report_row, group),
    JF("pods", 'n', struct stv_report_row, pods),
    JF("hours", 'n', struct stv_report_row, hours),
    JF("cpu_cost", 'm', struct stv_report_row, cpu_cents),
    JF("ram_cost", 'm', struct stv_report_row, ram_cents),
    JF("gpu_cost", 'm', struct stv_report_row, gpu_cents),
    JF("shared_cost", 'm', struct stv_report_row, shared_cents),
    JF("total_cost", 'm', struct stv_report_row, total_cents),
    JF("idle_share", 'm', struct stv_report_row, idle_share_cents),
    JF("hourly_cost", 'h', struct stv_report_row, total),
    JFB("cpu_request_core_hours", 'n', struct stv_report_row, cpu_req_core_h, ",\n     "),
    JF("cpu_usage_core_hours", 'n', struct stv_report_row, cpu_use_core_h),
    JF("ram_request_gib_hours", 'n', struct stv_report_row, ram_req_gib_h),
    JF("ram_usage_gib_hours", 'n', struct stv_report_row, ram_use_gib_h),
    JF("gpu_hours", 'n', struct stv_report_row, gpu_h),
    JF("cpu_efficiency", 'e', struct stv_report_row, cpu_efficiency),
    JF("ram_efficiency", 'e', struct stv_report_row, ram_efficiency),
    JF("efficiency", 'e', struct stv_report_row, efficiency),
};

static const struct jfield unpriced_fields[] = {
    JF("node", 's', struct stv_report_unpriced, node),
    JF("instance_type", 's', struct stv_report_unpriced, instance_type),
    JF("reason", 'a', struct stv_report_unpriced, reason),
    JF("hours", 'n', struct stv_report_unpriced, hours),
    JF("pods", 'z', struct stv_report_unpriced, pods),
};

static const struct jfield default_priced_fields[] = {
    JF("node", 's', struct stv_report_default_priced, node),
    JF("instance_type", 's', struct stv_report_default_priced, instance_type),
    JF("capacity_type", 's', struct stv_report_default_priced, capacity_type),
    JF("reason", 'a', struct stv_report_default_priced, reason),
    JF("hourly_cost", 'n', struct stv_report_default_priced, hourly),
    JF("hours", 'n', struct stv_report_default_priced, hours),
    JF("cost", 'n', struct stv_report_default_priced, cost),
};

static const struct jfield default_prices_fields[] = {
    JF("cpu", 'n', struct stv_report_opts, default_cpu),
    JF("ram_gib", 'n', struct stv_report_opts, default_ram),
    JF("gpu", 'n', struct stv_report_opts, default_gpu),
    JF("spot_cpu", 'n', struct stv_report_opts, default_spot_cpu),
    JF("spot_ram_gib", 'n', struct stv_report_opts, default_spot_ram),
};

static const struct jfield rightsize_names[] = {
    JF("namespace", 's', struct stv_rightsize_row, ns),
    JF("kind", 's', struct stv_rightsize_row, kind),
    JF("name", 's', struct stv_rightsize_row, name),
};

static const struct jfield rightsize_memory[] = {
    JF("memory_request", 'n', struct stv_rightsize_row, ram_req),
    JF("memory_max", 'e', struct stv_rightsize_row, ram_max),
    JF("memory_suggested", 'n', struct stv_rightsize_row, ram_suggest),
    JFB("samples", 'z', struct stv_rightsize_row, samples, ", "),
    JFB("monthly_saving_estimate", 'n', struct stv_rightsize_row, monthly_saving_est, ", "),
};

/*
 * Writes "<name>": [ then each of the n objects of size bytes at arr, one
 * a line, with fields f, then ]; tail follows the closing bracket.
 */
static void jarray(struct stv_buf *b, const char *name, const void *arr, size_t n, size_t size,
                   const struct jfield *f, size_t nf, double h, const char *tail) {
  size_t i;
  stv_buf_printf(b, "  \"%s\": [", name);
  for (i = 0; i < n; i++) {
    stv_buf_puts(b, i ? ",\n    {" : "\n    {");
    jfields(b, (const char *)arr + i * size, f, nf, h);
    stv_buf_puts(b, "}");
  }
  stv_buf_puts(b, n ? "\n  ]" : "]");
  stv_buf_puts(b, tail);
}

/* The report's header: schema, source, period, window, ratios. */
static void json_head(const struct stv_report *r, struct stv_buf *b) {
  const struct stv_report_totals *t = &r->totals;
  int pit = r->opts.point_in_time;
  char ts[40];
  stv_buf_puts(b, "{\n  \"schema\": \"stevedore.io/cost-report/v1\",\n  ");
  stv_buf_printf(b, "\"complete\": %s,\n  ", r->complete ? "true" : "false");
  jstr(b, "source", r->opts.source);
  stv_buf_puts(b, ",\n  ");
  jstr(b, "by", r->by_label);
  stv_buf_puts(b, ",\n  ");
  jstr(b, "currency", r->currency);
  stv_buf_printf(b, ",\n  \"point_in_time\": %s,\n  \"period\": \"%s\",\n  \"period_hours\": ",
                 pit ? "true" : "false", pit ? "month" : "window");
  stv_buf_printf(b, "%.10g,\n  \"window\": {", pit ? STV_HOURS_PER_MONTH : t->hours);
  if (r->window_start != 0) {
    stv_buf_printf(b, "\"start\": \"%s\", ", iso_time(r->window_start, ts, sizeof(ts)));
    stv_buf_printf(b, "\"end\": \"%s\", ", iso_time(r->window_end, ts, sizeof(ts)));
  } else {
    stv_buf_puts(b, "\"start\": null, \"end\": null, ");
  }
  jnum(b, "hours", t->hours);
  stv_buf_printf(b, ", \"steps\": %zu},\n", r->nsteps);
  stv_buf_printf(b, "  \"ratios\": {\"cpu_core_hour\": %.10g, \"ram_gib_hour\": %.10g, \"gpu_hour\": %.10g},\n",
                 r->opts.ratio_cpu, r->opts.ratio_ram, r->opts.ratio_gpu);
}

/* "shared" and "totals". */
static void json_totals(const struct stv_report *r, struct stv_buf *b, double h) {
  const struct stv_report_totals *t = &r->totals;
  size_t i;
  stv_buf_printf(b, "  \"shared\": {\"mode\": \"%s\", \"namespaces\": [", shared_mode_name(r));
  for (i = 0; i < r->opts.nshared; i++) {
    if (i) stv_buf_puts(b, ", ");
    stv_buf_json_str(b, r->opts.shared_namespaces[i]);
  }
  stv_buf_puts(b, "], ");
  jnum(b, "overhead_hourly", r->opts.overhead_hourly);
  stv_buf_puts(b, ", \"costs\": [");
  for (i = 0; i < r->nshared_ns; i++) {
    stv_buf_puts(b, i ? ", {" : "{");
    jfields(b, &r->shared_ns[i], shared_ns_fields, NFIELDS(shared_ns_fields), h);
    stv_buf_puts(b, "}");
  }
  stv_buf_puts(b, "]},\n  \"totals\": {");
  jfields(b, t, totals_cents_fields, NFIELDS(totals_cents_fields), h);
  stv_buf_puts(b, ", ");
  jmoney(b, "total", t->node_cents + t->overhead_cents);
  stv_buf_printf(b, ", \"reconciled\": %s, ", t->reconciled ? "true" : "false");
  jnum(b, "difference", t->difference);
  stv_buf_puts(b, ",\n             \"hourly\": {");
  jfields(b, t, totals_hourly_fields, NFIELDS(totals_hourly_fields), h);
  stv_buf_puts(b, "},\n             ");
  jnum(b, "node_hours", t->node_hours);
  stv_buf_printf(b, ", \"pods_costed\": %zu, \"pods_pending\": %zu, \"pods_on_unpriced_nodes\": %zu, "
                    "\"pods_on_missing_nodes\": %zu},\n",
                 r->pods_costed, r->pods_pending, r->pods_unpriced, r->pods_no_node);
}

/* "rightsize": the controllers and the repack. */
static void json_rightsize(const struct stv_report *r, struct stv_buf *b, double h) {
  const struct stv_report_repack *rp = &r->repack;
  size_t i;
  stv_buf_puts(b, ",\n  \"rightsize\": {");
  jnum(b, "margin", r->opts.margin);
  stv_buf_puts(b, ", \"controllers\": [");
  for (i = 0; i < r->nrightsize; i++) {
    const struct stv_rightsize_row *x = &r->rightsize[i];
    stv_buf_puts(b, i ? ",\n    {" : "\n    {");
    jfields(b, x, rightsize_names, NFIELDS(rightsize_names), h);
    stv_buf_printf(b, ", \"under_requested\": %s, \"under_cpu\": %s, \"under_memory\": %s, ",
                   x->under_cpu || x->under_ram ? "true" : "false", x->under_cpu ? "true" : "false",
                   x->under_ram ? "true" : "false");
    jnum(b, "replicas", x->replicas);
    stv_buf_puts(b, ",\n     ");
    jnum(b, "cpu_request", x->cpu_req);
    stv_buf_puts(b, ", ");
    jeff(b, "cpu_p95", x->cpu_p95);
    stv_buf_puts(b, ", ");
    jeff(b, "cpu_max", x->cpu_p95 >= 0 ? x->cpu_max : -1);
    stv_buf_puts(b, ", ");
    jnum(b, "cpu_suggested", x->cpu_suggest);
    stv_buf_puts(b, ", ");
    jfields(b, x, rightsize_memory, NFIELDS(rightsize_memory), h);
    stv_buf_puts(b, "}");
  }
  stv_buf_puts(b, r->nrightsize ? "\n  ],\n  \"repack\": " : "],\n  \"repack\": ");
  if (!rp->done) {
    stv_buf_puts(b, "null");
  } else {
    stv_buf_puts(b, "{");
    jnum(b, "current_hourly", rp->current_hourly);
    stv_buf_puts(b, ", ");
    jnum(b, "suggested_hourly", rp->suggested_hourly);
    stv_buf_printf(b, ", \"current_nodes\": %zu, \"suggested_nodes\": %zu, \"current_unschedulable\": %zu, "
                      "\"suggested_unschedulable\": %zu, ",
                   rp->current_nodes, rp->suggested_nodes, rp->current_unschedulable, rp->suggested_unschedulable);
    jnum(b, "monthly_saving", rp->monthly_saving);
    stv_buf_puts(b, "}");
  }
  if (rp->note[0]) {
    stv_buf_puts(b, ", ");
    jstr(b, "note", rp->note);
  }
  stv_buf_puts(b, "}");
}

int stv_report_render_json(const struct stv_report *r, struct stv_buf *b, struct stv_err *err) {
  double h = hours_of(r);
  size_t i;

  json_head(r, b);
  json_totals(r, b, h);
  jarray(b, "rows", r->rows, r->nrows, sizeof(*r->rows), row_fields, NFIELDS(row_fields), h, ",\n");
  jarray(b, "unpriced_nodes", r->unpriced, r->nunpriced, sizeof(*r->unpriced), unpriced_fields,
         NFIELDS(unpriced_fields), h, ",\n");
  jarray(b, "default_priced_nodes", r->default_priced, r->ndefault_priced, sizeof(*r->default_priced),
         default_priced_fields, NFIELDS(default_priced_fields), h, ",\n");
  if (r->opts.default_rates) {
    stv_buf_puts(b, "  \"default_prices\": {");
    jfields(b, &r->opts, default_prices_fields, NFIELDS(default_prices_fields), h);
    stv_buf_puts(b, "},\n");
  } else {
    stv_buf_puts(b, "  \"default_prices\": null,\n");
  }
  stv_buf_puts(b, "  \"notes\": [");
  for (i = 0; i < r->nnotes; i++) {
    stv_buf_puts(b, i ? ",\n    " : "\n    ");
    stv_buf_json_str(b, r->notes[i]);
  }
  stv_buf_puts(b, r->nnotes ? "\n  ]" : "]");
  if (r->opts.catalog != NULL) {
    char prices[600];
    const struct stv_catalog *c = r->opts.catalog;
    stv_buf_puts(b, ",\n  \"prices\": {\"summary\": ");
    stv_buf_json_str(b, stv_catalog_describe(c, prices, sizeof(prices)));
    stv_buf_puts(b, ", \"catalog\": ");
    stv_buf_json_str(b, c->origin != NULL ? c->origin : "");
    if (c->data_date != NULL) {
      stv_buf_puts(b, ", \"dataDate\": ");
      stv_buf_json_str(b, c->data_date);
    }
    stv_buf_puts(b, "}");
  }
  if (r->opts.rightsize) json_rightsize(r, b, h);
  stv_buf_puts(b, "\n}\n");
  return done(b, err);
}

/* ---------------------------------------------------------------------- */
/* Dispatch                                                               */

int stv_report_render(const struct stv_report *r, enum stv_report_format f, struct stv_buf *out,
                      struct stv_err *err) {
  if (!r->finished) return stv_err_set(err, STV_EINVAL, "the report is not finished");
  switch (f) {
  case STV_REPORT_TABLE:
    return stv_report_render_table(r, out, err);
  case STV_REPORT_CSV:
    return stv_report_render_csv(r, out, err);
  case STV_REPORT_JSON:
    return stv_report_render_json(r, out, err);
  case STV_REPORT_HTML:
    return stv_report_render_html(r, out, err);
  }
  return stv_err_set(err, STV_EINVAL, "unknown output format");
}
