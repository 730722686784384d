/*
 * Tests of the HTML cost report (pricing/report_html.c). Reports are built
 * by hand from their public fields, so these tests depend on the renderer
 * only; tests/test_html_render.py renders a real report in a browser.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "pricing.h"

/* One group of a fixture: hourly own costs and hourly usage. */
struct group_spec {
  const char *name;
  double cpu, ram, gpu;    /* own cost per hour */
  double cpu_req, cpu_use; /* cores */
  double ram_req, ram_use; /* GiB */
  double pods;
};

#define FIXTURE_MAX 64

/* A report and the arrays it points to. */
struct fixture {
  struct stv_report r;
  struct stv_report_row rows[FIXTURE_MAX];
  struct stv_report_unpriced unpriced[4];
  struct stv_report_shared_ns shared_ns[2];
  char *notes[4];
};

static int64_t cents_of(double v, double factor) {
  return (int64_t)llround(v * factor * 100.0);
}

/*
 * Fills f with a finished report of groups g[0..n): shared_hourly spread
 * evenly, idle_hourly idle; point-in-time (one step of one hour, monthly
 * headline) when pit, else a window of `hours`. Cents add up exactly.
 */
static void fixture_init(struct fixture *f, const struct group_spec *g, size_t n, double shared_hourly,
                         double idle_hourly, int pit, double hours) {
  struct stv_report *r = &f->r;
  struct stv_report_totals *t = &r->totals;
  double factor = pit ? STV_HOURS_PER_MONTH : 1.0, allocated = 0;
  size_t i;
  memset(f, 0, sizeof(*f));
  r->opts.point_in_time = pit;
  r->opts.by = STV_BY_NAMESPACE;
  r->opts.source = "snapshot cluster.json";
  r->by_label = "namespace";
  r->currency = "USD";
  r->rows = f->rows;
  r->nrows = n;
  r->complete = 1;
  r->finished = 1;
  r->nsteps = pit ? 1 : (size_t)hours;
  r->window_start = 1764169200; /* 2025-11-26 15:00 UTC */
  r->window_end = r->window_start + (int64_t)(3600 * (pit ? 1 : hours));
  for (i = 0; i < n; i++) allocated += g[i].cpu + g[i].ram + g[i].gpu;
  for (i = 0; i < n; i++) {
    struct stv_report_row *row = &f->rows[i];
    double h = pit ? 1 : hours, own = g[i].cpu + g[i].ram + g[i].gpu;
    row->group = g[i].name;
    row->cpu_cost = g[i].cpu;
    row->ram_cost = g[i].ram;
    row->gpu_cost = g[i].gpu;
    row->shared_cost = shared_hourly / (double)n;
    row->total = own + row->shared_cost;
    row->idle_share = allocated > 0 ? idle_hourly * own / allocated : 0;
    row->cpu_req_core_h = g[i].cpu_req * h;
    row->cpu_use_core_h = g[i].cpu_use * h;
    row->ram_req_gib_h = g[i].ram_req * h;
    row->ram_use_gib_h = g[i].ram_use * h;
    row->cpu_efficiency = g[i].cpu_req > 0 ? g[i].cpu_use / g[i].cpu_req : -1;
    row->ram_efficiency = g[i].ram_req > 0 ? g[i].ram_use / g[i].ram_req : -1;
    row->efficiency = row->cpu_efficiency >= 0 ? (row->cpu_efficiency + row->ram_efficiency) / 2 : -1;
    row->hours = h;
    row->pods = g[i].pods;
    row->cpu_cents = cents_of(g[i].cpu, factor);
    row->ram_cents = cents_of(g[i].ram, factor);
    row->gpu_cents = cents_of(g[i].gpu, factor);
    row->shared_cents = cents_of(row->shared_cost, factor);
    row->total_cents = row->cpu_cents + row->ram_cents + row->gpu_cents + row->shared_cents;
    row->idle_share_cents = cents_of(row->idle_share, factor);
    t->allocated += own;
    t->cpu_cost += g[i].cpu;
    t->ram_cost += g[i].ram;
    t->gpu_cost += g[i].gpu;
    t->allocated_cents += row->cpu_cents + row->ram_cents + row->gpu_cents;
    t->shared_cents += row->shared_cents;
    r->pods_costed += (size_t)g[i].pods;
  }
  t->shared = shared_hourly;
  t->idle = idle_hourly;
  t->cpu_idle = idle_hourly * 0.6;
  t->ram_idle = idle_hourly * 0.4;
  t->idle_cents = cents_of(idle_hourly, factor);
  t->node_cost = t->allocated + t->shared + t->idle;
  t->node_cents = t->allocated_cents + t->shared_cents + t->idle_cents;
  t->reconciled = 1;
  t->hours = pit ? 1 : hours;
  t->node_hours = pit ? 12 : 12 * hours;
  f->shared_ns[0].ns = "kube-system";
  f->shared_ns[0].cost = shared_hourly;
  f->shared_ns[0].cents = t->shared_cents;
  r->shared_ns = f->shared_ns;
  r->nshared_ns = 1;
}

/* Adds an unpriced node to f and marks the report incomplete. */
static void fixture_unpriced(struct fixture *f, const char *node, const char *type, const char *reason) {
  struct stv_report_unpriced *u = &f->unpriced[f->r.nunpriced++];
  u->node = node;
  u->instance_type = type;
  snprintf(u->reason, sizeof(u->reason), "%s", reason);
  u->hours = 1;
  u->pods = 3;
  f->r.unpriced = f->unpriced;
  f->r.pods_unpriced += 3;
  f->r.complete = 0;
}

/* Renders f into a NUL-terminated string (caller frees) or NULL. */
static char *render(const struct fixture *f) {
  struct stv_buf b;
  struct stv_err err = {0, ""};
  stv_buf_init(&b);
  if (stv_report_render_html(&f->r, &b, &err) != 0 || b.data == NULL) {
    fprintf(stderr, "  render failed: %s\n", err.msg);
    stv_buf_close(&b);
    return NULL;
  }
  return b.data; /* ownership passes to the caller: stv_free */
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0, len = strlen(needle);
  const char *p = hay;
  while ((p = strstr(p, needle)) != NULL) {
    n++;
    p += len;
  }
  return n;
}

/* Case-insensitive strstr, for markup that must not appear in any case. */
static int contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] && (hay[i] | 0x20) == (needle[i] | 0x20)) i++;
    if (i == n) return 1;
  }
  return 0;
}

static const struct group_spec five[] = {
    {"checkout", 1.20, 0.40, 0, 12, 7.5, 48, 30, 24}, {"search", 0.90, 0.55, 0, 9, 3.1, 64, 51, 18},
    {"payments", 0.60, 0.20, 0, 6, 4.8, 24, 20, 10},  {"ml-training", 0.30, 0.10, 2.85, 4, 3.9, 32, 29, 2},
    {"web", 0.25, 0.08, 0, 3, 0.6, 8, 3, 6},
};

TEST(should_escape_hostile_group_names) {
  static const struct group_spec g[] = {
      {"<script>alert(\"x\")</script>", 1, 0.5, 0, 2, 1, 4, 2, 3},
      {"o'brien & \"co\" <b>", 0.5, 0.2, 0, 1, 0.5, 2, 1, 1},
      {"<img src=x onerror=alert(1)>", 0.2, 0.1, 0, 1, 0.5, 2, 1, 1},
  };
  struct fixture f;
  char *html;
  fixture_init(&f, g, 3, 0.1, 0.3, 1, 1);
  f.r.opts.source = "snapshot \"<evil>.json\"";
  f.r.currency = "<X>";
  html = render(&f);
  CHECK(html != NULL);
  CHECK(!contains_nocase(html, "<script"));
  CHECK(!contains_nocase(html, "<img"));
  CHECK(strstr(html, "\"co\" <b>") == NULL);
  CHECK(!contains_nocase(html, "<evil>"));
  CHECK(!contains_nocase(html, "<x>"));
  CHECK_STR_CONTAINS(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
  CHECK_STR_CONTAINS(html, "o&#39;brien &amp; &quot;co&quot; &lt;b&gt;");
  CHECK_STR_CONTAINS(html, "&lt;img src=x onerror=alert(1)&gt;");
  CHECK_STR_CONTAINS(html, "snapshot &quot;&lt;evil&gt;.json&quot;");
  CHECK_STR_CONTAINS(html, "&lt;X&gt;");
  stv_free(html);
}

TEST(should_escape_a_hostile_grouping_key_and_unpriced_node) {
  struct fixture f;
  char *html;
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  f.r.opts.by = STV_BY_LABEL;
  f.r.by_label = "label:<team>";
  fixture_unpriced(&f, "node-\"<1>\"", "<m9>", "no offering for <m9>");
  html = render(&f);
  CHECK(html != NULL);
  CHECK(!contains_nocase(html, "<team>"));
  CHECK(!contains_nocase(html, "<1>"));
  CHECK(!contains_nocase(html, "<m9>"));
  CHECK_STR_CONTAINS(html, "Cost by label:&lt;team&gt;");
  CHECK_STR_CONTAINS(html, "node-&quot;&lt;1&gt;&quot;");
  stv_free(html);
}

TEST(should_be_one_self_contained_page_without_scripts_or_remote_resources) {
  struct fixture f;
  char *html, *p;
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
  CHECK_STR_CONTAINS(html, "<meta charset=\"utf-8\">");
  CHECK_STR_CONTAINS(html, "<style>");
  CHECK_EQ_INT(count(html, "</html>"), 1);
  CHECK(!contains_nocase(html, "<script"));
  CHECK(!contains_nocase(html, "<link"));
  CHECK(!contains_nocase(html, "@import"));
  CHECK(!contains_nocase(html, "url("));
  CHECK(!contains_nocase(html, "<img"));
  /* The only URL is the SVG namespace, which is a name, not a fetch. */
  for (p = strstr(html, "http"); p != NULL; p = strstr(p + 1, "http"))
    CHECK(strncmp(p, "http://www.w3.org/2000/svg", 26) == 0);
  stv_free(html);
}

TEST(should_list_every_group_in_the_table) {
  static const char *names[] = {
      "checkout",  "search",        "payments", "ml-training", "web",           "auth",    "inventory",
      "analytics", "monitoring",    "logging",  "batch",       "notifications", "recs",    "staging",
      "dev",       "data-pipeline", "cart",     "email",       "media",         "reports", "__unallocated__"};
  struct group_spec g[21];
  struct fixture f;
  char *html, cell[128];
  size_t i;
  for (i = 0; i < 21; i++) {
    memset(&g[i], 0, sizeof(g[i]));
    g[i].name = names[i];
    g[i].cpu = 2.0 - 0.09 * (double)i;
    g[i].ram = 0.5;
    g[i].cpu_req = g[i].cpu_use = g[i].ram_req = g[i].ram_use = 1;
    g[i].pods = 2;
  }
  fixture_init(&f, g, 21, 0.2, 0.5, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  for (i = 0; i < 21; i++) {
    snprintf(cell, sizeof(cell), "<td class=\"l name\">%s</td>", names[i]);
    CHECK_STR_CONTAINS(html, cell);
  }
  /* Groups, plus the three summary rows. */
  CHECK_EQ_INT(count(html, "<tr><td class=\"l name\">"), 21);
  CHECK_STR_CONTAINS(html, "All namespaces");
  CHECK_STR_CONTAINS(html, "Total node cost");
  stv_free(html);
}

TEST(should_draw_one_bar_per_shown_group_plus_shared_and_idle) {
  struct fixture f;
  char *html;
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  CHECK_EQ_INT(count(html, "<svg "), 1);
  CHECK_EQ_INT(count(html, "<g class=\"bar\""), 7);
  CHECK_EQ_INT(count(html, "data-kind=\"group\""), 5);
  CHECK_EQ_INT(count(html, "data-kind=\"other\""), 0);
  CHECK_EQ_INT(count(html, "data-kind=\"shared\""), 1);
  CHECK_EQ_INT(count(html, "data-kind=\"idle\""), 1);
  /* Stacked: ml-training has cpu, memory and gpu segments. */
  CHECK_STR_CONTAINS(html, "fill=\"#3566c9\"");
  CHECK_STR_CONTAINS(html, "fill=\"#1fa393\"");
  CHECK_STR_CONTAINS(html, "fill=\"#8e4ec6\"");
  CHECK_STR_CONTAINS(html, "fill=\"#e8a33d\"");
  CHECK_STR_CONTAINS(html, "fill=\"#a7b0bd\"");
  CHECK_STR_CONTAINS(html, ">GPU</li>");
  stv_free(html);
}

TEST(should_fold_groups_beyond_the_top_fifteen_into_one_other_bar) {
  struct group_spec g[20];
  struct fixture f;
  char *html, name[20][16];
  size_t i;
  for (i = 0; i < 20; i++) {
    memset(&g[i], 0, sizeof(g[i]));
    snprintf(name[i], sizeof(name[i]), "team-%02zu", i);
    g[i].name = name[i];
    g[i].cpu = 3.0 - 0.1 * (double)i;
    g[i].ram = 1;
    g[i].pods = 1;
  }
  fixture_init(&f, g, 20, 0.2, 0.5, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  CHECK_EQ_INT(count(html, "data-kind=\"group\""), 15);
  CHECK_EQ_INT(count(html, "data-kind=\"other\""), 1);
  CHECK_STR_CONTAINS(html, "5 other namespaces");
  CHECK(strstr(html, ">team-14</text>") != NULL);
  CHECK(strstr(html, ">team-15</text>") == NULL);
  stv_free(html);

  /* One group past the top is drawn itself, not as "1 other". */
  fixture_init(&f, g, 16, 0.2, 0.5, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  CHECK_EQ_INT(count(html, "data-kind=\"group\""), 16);
  CHECK_EQ_INT(count(html, "data-kind=\"other\""), 0);
  stv_free(html);
}

TEST(should_leave_the_shared_row_out_of_the_group_bars) {
  static const struct group_spec g[] = {{STV_REPORT_SHARED, 0, 0, 0, 0, 0, 0, 0, 0}};
  struct fixture f;
  char *html;
  fixture_init(&f, g, 1, 0.4, 0.3, 1, 1);
  f.r.pods_costed = 4; /* the shared namespace's pods */
  html = render(&f);
  CHECK(html != NULL);
  CHECK_EQ_INT(count(html, "data-kind=\"group\""), 0);
  CHECK_EQ_INT(count(html, "data-kind=\"shared\""), 1);
  CHECK_STR_CONTAINS(html, "<td class=\"l name\">__shared__</td>");
  stv_free(html);
}

TEST(should_cut_long_names_in_the_middle_in_the_chart_and_keep_them_whole_elsewhere) {
  /* 35 characters: 12 two-byte, 10 one-byte, 13 two-byte. */
  static const char accented[] =
      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
      "xxxxxxxxxx"
      "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3"
      "\xbc";
  static const struct group_spec g[] = {
      {"payments/Deployment/thumbnail-processor", 1, 0.5, 0, 1, 1, 1, 1, 1},
      {accented, 0.5, 0.5, 0, 1, 1, 1, 1, 1},
      {"exactly-twenty-six-chars-x", 0.2, 0.1, 0, 1, 1, 1, 1, 1},
  };
  struct fixture f;
  char *html;
  fixture_init(&f, g, 3, 0.1, 0.1, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  /* The head and the tail stay, so the controller's name can be read. */
  CHECK_STR_CONTAINS(html, ">payments/Dep\xe2\x80\xa6"
                           "ail-processor</text>");
  CHECK_STR_CONTAINS(html, "<title>payments/Deployment/thumbnail-processor:");
  CHECK_STR_CONTAINS(html, "<td class=\"l name\">payments/Deployment/thumbnail-processor</td>");
  /* Cut on character boundaries, not bytes. */
  CHECK_STR_CONTAINS(html, ">\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xc3\xa9\xc3\xa9\xe2\x80\xa6\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3"
                           "\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc</text>");
  CHECK_STR_CONTAINS(html, ">exactly-twenty-six-chars-x</text>");
  stv_free(html);
}

TEST(should_render_a_clear_no_pods_page_for_an_empty_report) {
  struct fixture f;
  char *html;
  fixture_init(&f, NULL, 0, 0, 1.25, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  CHECK_STR_CONTAINS(html, "id=\"no-pods\"");
  CHECK_STR_CONTAINS(html, "No pods to allocate");
  CHECK_STR_CONTAINS(html, "the whole $912.50 is idle");
  CHECK(strstr(html, "<svg") == NULL);
  CHECK(strstr(html, "<table") == NULL);
  CHECK_EQ_INT(count(html, "</html>"), 1);
  stv_free(html);
}

TEST(should_warn_prominently_about_unpriced_nodes) {
  struct fixture f;
  char *html, *warn, *chart;
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  fixture_unpriced(&f, "ip-10-0-1-7", "x9.mega", "no price for x9.mega (on-demand) in us-east-1a");
  fixture_unpriced(&f, "ip-10-0-2-9", NULL, "no instance type label");
  html = render(&f);
  CHECK(html != NULL);
  CHECK_STR_CONTAINS(html, "2 nodes could not be priced: this report is incomplete");
  CHECK_STR_CONTAINS(html, "<td class=\"l name\">ip-10-0-1-7</td><td class=\"l\">x9.mega</td>");
  CHECK_STR_CONTAINS(html, "no price for x9.mega (on-demand) in us-east-1a");
  CHECK_STR_CONTAINS(html, "<td class=\"l name\">ip-10-0-2-9</td><td class=\"l\">unknown</td>");
  /* Above the figures, where it cannot be missed. */
  warn = strstr(html, "id=\"unpriced\"");
  chart = strstr(html, "id=\"chart\"");
  CHECK(warn != NULL && chart != NULL && warn < chart);
  CHECK(warn < strstr(html, "class=\"cards\""));
  stv_free(html);

  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  CHECK(strstr(html, "id=\"unpriced\"") == NULL);
  stv_free(html);
}

TEST(should_print_headline_amounts_from_cents_exactly) {
  struct fixture f;
  char *html;
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  /* checkout cpu: 1.20 x 730 = 876.00; payments total 0.82 x 730 + 0.02 x 730. */
  f.rows[0].cpu_cents = 123456789;
  html = render(&f);
  CHECK(html != NULL);
  CHECK_STR_CONTAINS(html, "<td>$1,234,567.89</td>");
  CHECK_STR_CONTAINS(html, "<td>$146.00</td>"); /* payments ram: 0.20 x 730 */
  stv_free(html);
}

TEST(should_show_monthly_projection_beside_hourly_rates_for_a_snapshot) {
  struct fixture f;
  char *html;
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  CHECK_STR_CONTAINS(html, "Snapshot at <b>2025-11-26 15:00 UTC</b>");
  CHECK_STR_CONTAINS(html, "<th>Total /month</th><th>Total /hour</th>");
  CHECK_STR_CONTAINS(html, "<small> /month</small>");
  /* 7.43 own + 0.10 shared + 0.30 idle = 7.83 an hour, 5,715.90 a month. */
  CHECK_STR_CONTAINS(html, "$5,715.90<small> /month</small>");
  CHECK_STR_CONTAINS(html, "$7.8300 per hour");
  stv_free(html);
}

TEST(should_show_window_totals_without_a_monthly_projection) {
  struct fixture f;
  char *html;
  fixture_init(&f, five, 5, 0.1, 0.3, 0, 168);
  html = render(&f);
  CHECK(html != NULL);
  CHECK_STR_CONTAINS(html,
                     "Window of <b>7.0 days (168 h)</b>, 2025-11-26 15:00 UTC &ndash; 2025-12-03 15:00 UTC");
  CHECK_STR_CONTAINS(html, "<th>Total</th><th>Share</th>");
  CHECK_STR_CONTAINS(html, "<th>Hours</th>");
  CHECK(strstr(html, "/month") == NULL);
  CHECK(strstr(html, "Total /hour") == NULL);
  stv_free(html);
}

TEST(should_say_reconciled_to_the_cent_or_warn_when_not) {
  struct fixture f;
  char *html;
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  CHECK_STR_CONTAINS(html, "class=\"recon ok\"");
  CHECK_STR_CONTAINS(html, "Reconciled to the cent");
  stv_free(html);

  f.r.totals.reconciled = 0;
  f.r.totals.difference = 0.0123;
  html = render(&f);
  CHECK(html != NULL);
  CHECK(strstr(html, "Reconciled to the cent") == NULL);
  CHECK_STR_CONTAINS(html, "Does not reconcile");
  CHECK_STR_CONTAINS(html, "$0.0123");
  stv_free(html);
}

TEST(should_hide_gpu_columns_when_nothing_costs_gpu) {
  static const struct group_spec g[] = {{"a", 1, 0.5, 0, 1, 1, 1, 1, 1}, {"b", 0.5, 0.2, 0, 1, 1, 1, 1, 1}};
  struct fixture f;
  char *html;
  fixture_init(&f, g, 2, 0.1, 0.1, 1, 1);
  html = render(&f);
  CHECK(html != NULL);
  CHECK(strstr(html, "<th>GPU</th>") == NULL);
  CHECK(strstr(html, ">GPU</li>") == NULL);
  stv_free(html);
}

TEST(should_write_other_currencies_with_their_symbol_or_code) {
  struct fixture f;
  char *html;
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  f.r.currency = "EUR";
  html = render(&f);
  CHECK(html != NULL);
  CHECK_STR_CONTAINS(html, "\xe2\x82\xac"
                           "5,715.90");
  stv_free(html);
  f.r.currency = "CHF";
  html = render(&f);
  CHECK(html != NULL);
  CHECK_STR_CONTAINS(html, "5,715.90 CHF");
  stv_free(html);
}

TEST(should_list_notes_escaped) {
  struct fixture f;
  char *html, note[] = "3 pods had <no> usage";
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  f.notes[0] = note;
  f.r.notes = f.notes;
  f.r.nnotes = 1;
  html = render(&f);
  CHECK(html != NULL);
  CHECK_STR_CONTAINS(html, "<li>3 pods had &lt;no&gt; usage</li>");
  stv_free(html);
}

TEST(should_return_enomem_and_keep_the_buffer_sound_when_allocation_fails) {
  struct fixture f;
  long n;
  int rc = -1;
  fixture_init(&f, five, 5, 0.1, 0.3, 1, 1);
  for (n = 0; n < 200 && rc != 0; n++) {
    struct stv_buf b;
    struct stv_err err = {0, ""};
    stv_buf_init(&b);
    stv_alloc_fail_after(n);
    rc = stv_report_render_html(&f.r, &b, &err);
    stv_alloc_fail_after(-1);
    if (rc != 0) {
      CHECK_EQ_INT(rc, STV_ENOMEM);
      CHECK_EQ_INT(err.code, STV_ENOMEM);
    } else {
      CHECK_STR_CONTAINS(b.data, "</html>");
    }
    stv_buf_close(&b);
  }
  CHECK_EQ_INT(rc, 0);
}

TEST(should_render_what_the_engine_computes) {
  static const struct stv_cost_node nodes[] = {
      {.name = "node-a",
       .instance_type = "m5.large",
       .cpu_cores = 2,
       .ram_bytes = 8.0 * 1073741824,
       .price = 0.096},
      {.name = "node-b",
       .instance_type = "x9.mega",
       .cpu_cores = 4,
       .ram_bytes = 16.0 * 1073741824,
       .price = -1},
  };
  static const struct stv_cost_pod pods[] = {
      {.ns = "team-a",
       .name = "web-1",
       .node = "node-a",
       .cpu_req = 0.5,
       .ram_req = 2.0 * 1073741824,
       .cpu_use = -1,
       .ram_use = -1},
      {.ns = "<team-b>",
       .name = "api-1",
       .node = "node-a",
       .cpu_req = 0.25,
       .ram_req = 1.0 * 1073741824,
       .cpu_use = -1,
       .ram_use = -1},
      {.ns = "kube-system",
       .name = "dns-1",
       .node = "node-a",
       .cpu_req = 0.1,
       .ram_req = 0.1 * 1073741824,
       .cpu_use = -1,
       .ram_use = -1},
      {.ns = "team-a",
       .name = "web-2",
       .node = "node-b",
       .cpu_req = 0.5,
       .ram_req = 2.0 * 1073741824,
       .cpu_use = -1,
       .ram_use = -1},
  };
  struct stv_cost_step step = {1.0, 1764169200, nodes, 2, pods, 4};
  struct stv_report_opts o;
  struct stv_report r;
  struct stv_err err = {0, ""};
  struct stv_buf b;
  int rc;
  memset(&o, 0, sizeof(o));
  memset(&r, 0, sizeof(r));
  o.point_in_time = 1;
  o.source = "snapshot test";
  stv_buf_init(&b);
  rc = stv_report_init(&r, &o, &err);
  if (rc == 0) rc = stv_report_add_step(&r, &step, &err);
  if (rc == 0) rc = stv_report_finish(&r, &err);
  if (rc == 0) rc = stv_report_render_html(&r, &b, &err);
  if (rc != 0) fprintf(stderr, "  %s\n", err.msg);
  CHECK_EQ_INT(rc, 0);
  /* node-a: 0.096 an hour, 70.08 a month; node-b has no price. */
  CHECK_EQ_INT(r.totals.node_cents, 7008);
  CHECK_STR_CONTAINS(b.data, "$70.08<small> /month</small>");
  CHECK_STR_CONTAINS(b.data, "$0.0960 per hour &middot; 1 priced node");
  CHECK_STR_CONTAINS(b.data, "1 node could not be priced");
  CHECK_STR_CONTAINS(b.data, "<td class=\"l name\">node-b</td>");
  CHECK_STR_CONTAINS(b.data, "<td class=\"l name\">team-a</td>");
  CHECK_STR_CONTAINS(b.data, "<td class=\"l name\">&lt;team-b&gt;</td>");
  CHECK_STR_CONTAINS(b.data, "<b>kube-system</b>");
  CHECK(strstr(b.data, "<team-b>") == NULL);
  CHECK_EQ_INT(count(b.data, "data-kind=\"group\""), 2);
  CHECK_EQ_INT(r.totals.reconciled, 1);
  CHECK_STR_CONTAINS(b.data, "Reconciled to the cent");
  stv_buf_close(&b);
  stv_report_close(&r);
}
