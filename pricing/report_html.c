/*
 * The HTML cost report: one self-contained page (inline CSS and SVG, no
 * scripts, fonts or images) that shows where the money goes at a glance:
 * the headline figures, a bar chart of cost by group with shared and idle
 * cost as bars of their own, and the full table. See docs/report-html.md.
 *
 * Money in the headline unit (the window's cost, or the 730-hour monthly
 * projection of a point-in-time report) is printed from the report's
 * apportioned cents, so every column adds up to its total exactly; hourly
 * figures of a point-in-time report are printed from the unrounded amounts.
 * Every string that comes from the cluster or the command line is escaped.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pricing.h"

/* Groups drawn as bars of their own; the rest share one "other" bar. */
#define HTML_TOP_GROUPS 15
/*
 * Group names longer than HTML_LABEL_HEAD + 1 + HTML_LABEL_TAIL characters
 * are drawn in the chart as their head, "…" and their tail.
 */
#define HTML_LABEL_HEAD 12
#define HTML_LABEL_TAIL 13

/* The bar colours: also the legend's, the split strip's and the test's. */
#define COLOUR_CPU    "#3566c9"
#define COLOUR_RAM    "#1fa393"
#define COLOUR_GPU    "#8e4ec6"
#define COLOUR_SHARED "#e8a33d"
#define COLOUR_IDLE   "#a7b0bd"

/* What every part of the page needs. */
struct page {
  const struct stv_report *r;
  struct stv_buf *b;
  int pit;                 /* point-in-time: hourly rates, monthly headline */
  int hour_decimals;       /* for hourly figures: 4 below 100 an hour, else 2 */
  int gpu;                 /* any gpu cost: show the gpu columns */
  size_t ngroups;          /* rows that are groups (the __shared__ row is not) */
  int64_t all_cents;       /* node + overhead, the whole headline figure */
  struct stv_buf currency; /* the currency code, escaped for HTML */
};

static void put(struct page *p, const char *s) {
  stv_buf_puts(p->b, s);
}

static void putf(struct page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct page *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  stv_buf_vprintf(p->b, fmt, ap);
  va_end(ap);
}

/* Appends s (may be NULL: nothing) escaped for HTML text or attributes. */
static void esc(struct page *p, const char *s) {
  if (s != NULL) stv_buf_html_str(p->b, s);
}

/* ---------------------------------------------------------------------- */
/* Numbers                                                                */

/* The symbol printed before amounts, or NULL to print the code after. */
static const char *currency_symbol(const char *code) {
  if (code == NULL || strcmp(code, "USD") == 0) return "$";
  if (strcmp(code, "EUR") == 0) return "\xe2\x82\xac";
  if (strcmp(code, "GBP") == 0) return "\xc2\xa3";
  return NULL;
}

/* Writes the digits of whole (>= 0) with thousands separators. */
static void group_digits(char *out, size_t size, uint64_t whole) {
  char digits[24], tmp[32];
  int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)whole), i, j = 0;
  for (i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0) tmp[j++] = ',';
    tmp[j++] = digits[i];
  }
  tmp[j] = '\0';
  snprintf(out, size, "%s", tmp);
}

/*
 * Formats units + frac (frac already has its digits) as money in out, as
 * HTML: a code without a symbol is the escaped one. Amounts are at most
 * 26 digits and separators; a code too long for out is cut.
 */
static void money_parts(const struct page *p, char *out, size_t size, int neg, uint64_t units,
                        const char *frac) {
  const char *sym = currency_symbol(p->r->currency);
  const char *code = p->currency.data ? p->currency.data : "";
  char whole[32];
  group_digits(whole, sizeof(whole), units);
  if (sym != NULL)
    snprintf(out, size, "%s%s%s%s%s", neg ? "-" : "", sym, whole, *frac ? "." : "", frac);
  else
    snprintf(out, size, "%s%s%s%s %s", neg ? "-" : "", whole, *frac ? "." : "", frac, code);
}

/* An amount in whole cents, exactly: "$1,234.56". */
static const char *cents_str(const struct page *p, char *out, size_t size, int64_t cents) {
  uint64_t c = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
  char frac[4];
  snprintf(frac, sizeof(frac), "%02u", (unsigned)(c % 100));
  money_parts(p, out, size, cents < 0, c / 100, frac);
  return out;
}

/* An amount with the given decimals: "$0.4312". */
static const char *amount_str(const struct page *p, char *out, size_t size, double v, int decimals) {
  double scale = pow(10.0, decimals), a = fabs(v);
  double whole = floor(a), frac = round((a - whole) * scale);
  char fbuf[24];
  if (!isfinite(v) || a >= 1e15) return snprintf(out, size, "%.0f", v), out; /* never a real bill */
  if (frac >= scale) {
    whole += 1;
    frac = 0;
  }
  snprintf(fbuf, sizeof(fbuf), "%0*.0f", decimals, frac);
  if (decimals == 0) fbuf[0] = '\0';
  money_parts(p, out, size, v < 0 && (whole > 0 || frac > 0), (uint64_t)whole, fbuf);
  return out;
}

/* part as a percentage of whole: "12.3%", "<0.1%", "0%". */
static const char *pct_str(char *out, size_t size, double part, double whole) {
  double v = whole > 0 ? 100.0 * part / whole : 0;
  if (v > 0 && v < 0.05)
    snprintf(out, size, "&lt;0.1%%");
  else
    snprintf(out, size, "%.1f%%", v);
  return out;
}

/* A quantity with two decimals, thousands grouped: "1,234.50". */
static const char *qty_str(char *out, size_t size, double v) {
  char whole[32];
  double r = round(fabs(v) * 100.0);
  group_digits(whole, sizeof(whole), (uint64_t)(r / 100.0));
  snprintf(out, size, "%s%s.%02u", v < 0 && r > 0 ? "-" : "", whole, (unsigned)fmod(r, 100.0));
  return out;
}

/* An amount of a point-in-time report per hour (its step may not be one hour). */
static double per_hour(const struct page *p, double v) {
  return p->r->totals.hours > 0 ? v / p->r->totals.hours : v;
}

/* cpu cores as a Kubernetes quantity ("250m"); "&ndash;" when negative (unknown). */
static const char *cpu_qty(char *out, size_t size, double cores) {
  if (cores < 0) return snprintf(out, size, "&ndash;"), out;
  return stv_quantity_format((int64_t)llround(cores * 1000.0), 1, 0, out, size);
}

/* bytes as a Kubernetes quantity, rounded up to the MiB ("512Mi"); "&ndash;" when negative. */
static const char *ram_qty(char *out, size_t size, double bytes) {
  if (bytes < 0) return snprintf(out, size, "&ndash;"), out;
  return stv_quantity_format((int64_t)ceil(bytes / 1048576.0 - 1e-9) * 1048576, 0, 1, out, size);
}

/* A unix time as "2025-11-26 15:04 UTC", or "" when unknown. */
static const char *time_str(char *out, size_t size, int64_t t) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
    out[0] = '\0';
    return out;
  }
  strftime(out, size, "%Y-%m-%d %H:%M UTC", &tm);
  return out;
}

/* A length of time: "45 min", "36 h", "7.0 days (168 h)". */
static const char *hours_str(char *out, size_t size, double h) {
  if (h < 1)
    snprintf(out, size, "%.0f min", h * 60);
  else if (h < 48)
    snprintf(out, size, "%.4g h", h);
  else
    snprintf(out, size, "%.1f days (%.0f h)", h / 24, h);
  return out;
}

/* ---------------------------------------------------------------------- */
/* Page parts                                                             */

static const char css[] =
    ":root{--ink:#1b2230;--muted:#5b6473;--line:#e4e8ee;--soft:#f5f7fa}\n"
    "*{box-sizing:border-box}\n"
    "html{background:#eef1f5}\n"
    "body{margin:0;color:var(--ink);font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,"
    "\"Helvetica Neue\",Arial,\"DejaVu Sans\",sans-serif;-webkit-print-color-adjust:exact;"
    "print-color-adjust:exact}\n"
    "main{max-width:1240px;margin:0 auto;padding:28px 24px 36px}\n"
    ".brand{font-size:12px;font-weight:600;letter-spacing:.08em;text-transform:uppercase;"
    "color:var(--muted)}\n"
    "h1{font-size:26px;font-weight:650;margin:2px 0 4px;letter-spacing:-.01em}\n"
    "h2{font-size:16px;font-weight:650;margin:0 0 4px}\n"
    ".sub{color:var(--muted)}\n"
    ".sub b{color:var(--ink);font-weight:600}\n"
    ".alert{border:1px solid;border-left-width:5px;border-radius:8px;padding:12px 16px;"
    "margin:16px 0}\n"
    ".alert h2{font-size:15px;margin:0 0 4px}\n"
    ".alert p{margin:0 0 6px}\n"
    ".alert.bad{background:#fef3f2;border-color:#f4c7c2;border-left-color:#d92d20;color:#7a271a}\n"
    ".alert.warn{background:#fffaeb;border-color:#f5dca3;border-left-color:#dc8a0b;color:#7a4510}\n"
    ".alert table{font-size:13px;margin-top:6px}\n"
    ".alert td,.alert th{border-color:rgba(0,0,0,.08);color:inherit}\n"
    ".cards{display:grid;grid-template-columns:1.35fr 1fr 1fr 1fr;gap:12px;margin:20px 0 10px}\n"
    ".card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 18px}\n"
    ".card .k{font-size:12px;font-weight:600;letter-spacing:.05em;text-transform:uppercase;"
    "color:var(--muted)}\n"
    ".card .v{font-size:28px;font-weight:650;margin:2px 0;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}\n"
    ".card .v small{font-size:14px;font-weight:500;color:var(--muted)}\n"
    ".card .s{font-size:13px;color:var(--muted)}\n"
    ".split{display:flex;height:10px;border-radius:5px;overflow:hidden;background:var(--line);"
    "margin:14px 0 6px}\n"
    ".split span{display:block;height:100%}\n"
    ".recon{font-size:13px;color:var(--muted);margin:6px 0 0}\n"
    ".recon.ok::before{content:\"\\2713\";color:#067647;font-weight:700;margin-right:6px}\n"
    ".recon.off{color:#b42318;font-weight:600}\n"
    ".panel{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 20px;"
    "margin:16px 0}\n"
    ".panel .sub{font-size:13px;margin:0 0 10px}\n"
    ".legend{display:flex;flex-wrap:wrap;gap:6px 20px;list-style:none;padding:0;margin:0 0 6px;"
    "font-size:13px;color:var(--muted)}\n"
    ".sw{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:6px;"
    "vertical-align:-1px}\n"
    "svg{display:block;width:100%;height:auto}\n"
    "svg text{font-family:inherit;font-size:13px;fill:var(--ink)}\n"
    "svg .tick{font-size:11px;fill:var(--muted)}\n"
    "svg .val{font-size:12px;fill:var(--muted)}\n"
    "svg .val tspan{fill:var(--ink);font-weight:600}\n"
    "svg .dim{fill:var(--muted)}\n"
    ".empty{text-align:center;padding:36px 0 30px}\n"
    ".empty p{font-size:20px;font-weight:600;margin:0 0 4px}\n"
    "table{width:100%;border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}\n"
    "th{font-size:11.5px;font-weight:600;color:var(--muted);text-align:right;padding:7px 6px;"
    "border-bottom:1px solid #cdd3dc;vertical-align:bottom}\n"
    "td{padding:6px 6px;text-align:right;border-bottom:1px solid var(--line);white-space:nowrap}\n"
    "th.l,td.l{text-align:left}\n"
    "th.g::first-letter{text-transform:uppercase}\n"
    "td.name{white-space:normal;overflow-wrap:anywhere;font-weight:500;min-width:12em}\n"
    "tbody tr:nth-child(even) td{background:var(--soft)}\n"
    "tfoot td{font-weight:600;border-bottom:none}\n"
    "tfoot tr:first-child td{border-top:1px solid #cdd3dc}\n"
    "tfoot tr.grand td{border-top:2px solid var(--ink)}\n"
    "td.tot{font-weight:600}\n"
    ".m{color:var(--muted)}\n"
    ".e-lo{color:#b42318}.e-mid{color:#b54708}.e-ok{color:#067647}\n"
    ".notes{margin:0;padding-left:20px;color:var(--muted);font-size:13px}\n"
    "footer{color:var(--muted);font-size:12px;margin-top:18px}\n"
    "@media print{html{background:#fff}main{max-width:none;padding:0}"
    ".card,.panel{border-color:#c9ced6;break-inside:avoid}tr{break-inside:avoid}"
    "thead{display:table-header-group}@page{margin:12mm}}\n";

/* What the report groups by, for the title and the first column (not escaped). */
static const char *group_noun(const struct stv_report *r) {
  if (r->by_label != NULL && *r->by_label) return r->by_label;
  switch (r->opts.by) {
  case STV_BY_CONTROLLER:
    return "controller";
  case STV_BY_NODE:
    return "node";
  case STV_BY_LABEL:
    return "label";
  case STV_BY_ANNOTATION:
    return "annotation";
  default:
    return "namespace";
  }
}

/* A group in prose ("namespace", "group"): static text, safe in HTML. */
static const char *group_word(const struct stv_report *r, int plural) {
  switch (r->opts.by) {
  case STV_BY_NAMESPACE:
    return plural ? "namespaces" : "namespace";
  case STV_BY_CONTROLLER:
    return plural ? "controllers" : "controller";
  case STV_BY_NODE:
    return plural ? "nodes" : "node";
  default:
    return plural ? "groups" : "group";
  }
}

/* The window or snapshot the report covers, for the heading. */
static void put_when(struct page *p) {
  const struct stv_report *r = p->r;
  char a[40], b[40];
  time_str(a, sizeof(a), r->window_start);
  time_str(b, sizeof(b), r->window_end);
  if (p->pit) {
    /* Without a time, the source (when there is one) says what it is. */
    if (*a)
      putf(p, "Snapshot at <b>%s</b> &middot; ", a);
    else if (r->opts.source == NULL)
      put(p, "Snapshot &middot; ");
  } else {
    char h[48];
    putf(p, "Window of <b>%s</b>", hours_str(h, sizeof(h), r->totals.hours));
    if (*a && *b)
      putf(p, ", %s &ndash; %s", a, b);
    else if (*a)
      putf(p, " from %s", a);
    put(p, " &middot; ");
  }
}

static void put_head(struct page *p) {
  const struct stv_report *r = p->r;
  char when[40];
  put(p, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<meta name=\"color-scheme\" content=\"light\">\n<title>Cost by ");
  esc(p, group_noun(r));
  time_str(when, sizeof(when), r->window_start);
  if (*when) putf(p, " &middot; %s", when);
  put(p, " &middot; Stevedore</title>\n<style>\n");
  put(p, css);
  put(p, "</style>\n</head>\n<body>\n<main>\n");
}

static void put_header(struct page *p) {
  const struct stv_report *r = p->r;
  put(p, "<header>\n<div class=\"brand\">Stevedore cost report</div>\n<h1>Cost by ");
  esc(p, group_noun(r));
  put(p, "</h1>\n<div class=\"sub\">");
  put_when(p);
  put(p, "<b>");
  esc(p, r->currency ? r->currency : "USD");
  put(p, "</b>");
  if (r->opts.source != NULL) {
    put(p, " &middot; ");
    esc(p, r->opts.source);
  }
  if (p->pit) put(p, " &middot; hourly rates, monthly projection of 730 h");
  put(p, "</div>\n</header>\n");
}

/* The head of a table of nodes: Node, Instance type, then the headers in rest. */
static void put_node_table_head(struct page *p, const char *rest) {
  put(p, "<table><thead><tr><th class=\"l\">Node</th><th class=\"l\">Instance type</th>");
  put(p, rest);
  put(p, "</tr></thead><tbody>\n");
}

/* The start of a row of a table of nodes: its name and instance type. */
static void put_node_cells(struct page *p, const char *node, const char *instance_type) {
  put(p, "<tr><td class=\"l name\">");
  esc(p, node);
  put(p, "</td><td class=\"l\">");
  esc(p, instance_type ? instance_type : "unknown");
}

/* The prominent warning when nodes could not be priced. */
static void put_unpriced(struct page *p) {
  const struct stv_report *r = p->r;
  size_t i;
  char h[48];
  if (r->nunpriced == 0) return;
  putf(p,
       "<section class=\"alert bad\" id=\"unpriced\">\n<h2>&#9888; %zu node%s could not be "
       "priced: this report is incomplete</h2>\n<p>Their cost is left out of every figure below, "
       "and the pods on them are not costed",
       r->nunpriced, r->nunpriced == 1 ? "" : "s");
  if (p->pit)
    putf(p, " (%zu pod%s).</p>\n", r->pods_unpriced, r->pods_unpriced == 1 ? "" : "s");
  else
    putf(p, " (%zu pod sample%s: each pod counted once per %s it was seen).</p>\n", r->pods_unpriced,
         r->pods_unpriced == 1 ? "" : "s", "time step");
  put_node_table_head(p, "<th class=\"l\">Reason</th><th>Seen</th><th>Pods</th>");
  for (i = 0; i < r->nunpriced; i++) {
    const struct stv_report_unpriced *u = &r->unpriced[i];
    put_node_cells(p, u->node, u->instance_type);
    put(p, "</td><td class=\"l name\">");
    esc(p, u->reason);
    putf(p, "</td><td>%s</td><td>%zu</td></tr>\n", hours_str(h, sizeof(h), u->hours), u->pods);
  }
  put(p, "</tbody></table>\n</section>\n");
}

/* The notice of nodes priced at the default rates: counted, but at estimated prices. */
static void put_default_priced(struct page *p) {
  const struct stv_report *r = p->r;
  size_t i;
  char h[48];
  if (r->ndefault_priced == 0) return;
  putf(p,
       "<section class=\"alert warn\" id=\"default-priced\">\n<h2>&#9888; %zu node%s priced at default "
       "rates</h2>\n<p>No price override or catalogue offering prices %s, so %s priced at %g per vCPU-hour, "
       "%g "
       "per GiB-hour of memory and %g per GPU-hour (spot nodes: %g and %g), OpenCost's defaults unless set "
       "with "
       "--default-cpu-price, --default-ram-price, --default-gpu-price or the config. Set %s price in the "
       "config "
       "for exact figures.</p>\n",
       r->ndefault_priced, r->ndefault_priced == 1 ? "" : "s", r->ndefault_priced == 1 ? "it" : "them",
       r->ndefault_priced == 1 ? "it is" : "they are", r->opts.default_cpu, r->opts.default_ram,
       r->opts.default_gpu, r->opts.default_spot_cpu, r->opts.default_spot_ram,
       r->ndefault_priced == 1 ? "its" : "their");
  put_node_table_head(p, "<th class=\"l\">Capacity</th><th>Per hour</th><th class=\"l\">Why</th><th>Seen</th>");
  for (i = 0; i < r->ndefault_priced; i++) {
    const struct stv_report_default_priced *d = &r->default_priced[i];
    put_node_cells(p, d->node, d->instance_type);
    put(p, "</td><td class=\"l\">");
    esc(p, d->capacity_type);
    putf(p, "</td><td>%.4f</td><td class=\"l name\">", d->hourly);
    esc(p, d->reason);
    putf(p, "</td><td>%s</td></tr>\n", hours_str(h, sizeof(h), d->hours));
  }
  put(p, "</tbody></table>\n</section>\n");
}

/* The warning for a report that is partial for other reasons than prices. */
static void put_incomplete(struct page *p) {
  if (p->r->complete || p->r->nunpriced > 0) return;
  put(p, "<section class=\"alert warn\" id=\"incomplete\">\n<h2>&#9888; This report is incomplete</h2>\n"
         "<p>Part of the data was missing, so the figures below understate the cost");
  put(p, p->r->nnotes > 0 ? ": see the notes at the end.</p>\n</section>\n" : ".</p>\n</section>\n");
}

/* One headline card. value and sub are HTML already. */
static void put_card(struct page *p, const char *key, const char *colour, const char *value,
                     const char *sub) {
  put(p, "<div class=\"card\"><div class=\"k\">");
  if (colour) putf(p, "<span class=\"sw\" style=\"background:%s\"></span>", colour);
  putf(p, "%s</div><div class=\"v\">%s</div><div class=\"s\">%s</div></div>\n", key, value, sub);
}

/* A headline amount from its cents, with "/month" for a point-in-time report. */
static void headline(const struct page *p, char *out, size_t size, int64_t cents) {
  char m[64];
  cents_str(p, m, sizeof(m), cents);
  if (p->pit)
    snprintf(out, size, "%s<small> /month</small>", m);
  else
    snprintf(out, size, "%s", m);
}

static void put_cards(struct page *p) {
  const struct stv_report *r = p->r;
  const struct stv_report_totals *t = &r->totals;
  char v[160], s[320], a[64], pc[24];
  double all = t->node_cost + t->overhead, whole = (double)p->all_cents;
  put(p, "<section class=\"cards\">\n");

  headline(p, v, sizeof(v), p->all_cents);
  if (p->pit) {
    double nodes = per_hour(p, t->node_hours);
    snprintf(s, sizeof(s), "%s per hour &middot; %.0f priced node%s",
             amount_str(p, a, sizeof(a), per_hour(p, all), p->hour_decimals), nodes, nodes == 1 ? "" : "s");
  } else {
    char h[48];
    snprintf(s, sizeof(s), "over %s &middot; %s/h average", hours_str(h, sizeof(h), t->hours),
             amount_str(p, a, sizeof(a), t->hours > 0 ? all / t->hours : 0, p->hour_decimals));
  }
  if (t->overhead_cents > 0) {
    size_t n = strlen(s);
    char b[64];
    snprintf(s + n, sizeof(s) - n, "<br>nodes %s + overhead %s", cents_str(p, a, sizeof(a), t->node_cents),
             cents_str(p, b, sizeof(b), t->overhead_cents));
  }
  put_card(p, p->pit ? "Total cost" : "Total cost in window", NULL, v, s);

  snprintf(v, sizeof(v), "%s", pct_str(pc, sizeof(pc), (double)t->allocated_cents, whole));
  snprintf(s, sizeof(s), "%s to %zu %s", cents_str(p, a, sizeof(a), t->allocated_cents), p->ngroups,
           group_word(r, p->ngroups != 1));
  put_card(p, "Allocated", COLOUR_CPU, v, s);

  snprintf(v, sizeof(v), "%s", pct_str(pc, sizeof(pc), (double)t->shared_cents, whole));
  if (p->ngroups == 0)
    snprintf(s, sizeof(s), "%s, in a row of its own: no other %s to charge it to",
             cents_str(p, a, sizeof(a), t->shared_cents), group_word(r, 0));
  else if (p->ngroups == 1)
    snprintf(s, sizeof(s), "%s, all charged to the only %s", cents_str(p, a, sizeof(a), t->shared_cents),
             group_word(r, 0));
  else
    snprintf(s, sizeof(s), "%s spread %s over the %s", cents_str(p, a, sizeof(a), t->shared_cents),
             r->opts.shared_mode == STV_SHARED_PROPORTIONAL ? "in proportion to cost" : "evenly",
             group_word(r, 1));
  put_card(p, "Shared", COLOUR_SHARED, v, s);

  snprintf(v, sizeof(v), "%s", pct_str(pc, sizeof(pc), (double)t->idle_cents, whole));
  snprintf(s, sizeof(s), "%s of node capacity no pod uses", cents_str(p, a, sizeof(a), t->idle_cents));
  put_card(p, "Idle", COLOUR_IDLE, v, s);
  put(p, "</section>\n");
}

/* The strip under the cards: cpu, ram, gpu, shared, idle in proportion. */
static void put_split(struct page *p) {
  static const char *const colour[5] = {COLOUR_CPU, COLOUR_RAM, COLOUR_GPU, COLOUR_SHARED, COLOUR_IDLE};
  static const char *const name[5] = {"CPU", "Memory", "GPU", "Shared", "Idle"};
  int64_t part[5] = {0, 0, 0, p->r->totals.shared_cents, p->r->totals.idle_cents};
  double whole = (double)p->all_cents;
  size_t i;
  char pc[24];
  if (p->all_cents <= 0) return;
  /* The rows' own cents add up to the allocated cents. */
  for (i = 0; i < p->r->nrows; i++) {
    part[0] += p->r->rows[i].cpu_cents;
    part[1] += p->r->rows[i].ram_cents;
    part[2] += p->r->rows[i].gpu_cents;
  }
  put(p, "<div class=\"split\" role=\"img\" aria-label=\"Split of the total cost\">");
  for (i = 0; i < 5; i++)
    if (part[i] > 0)
      putf(p, "<span style=\"width:%.3f%%;background:%s\" title=\"%s %s\"></span>",
           100.0 * (double)part[i] / whole, colour[i], name[i],
           pct_str(pc, sizeof(pc), (double)part[i], whole));
  put(p, "</div>\n");
}

static void put_reconciliation(struct page *p) {
  const struct stv_report_totals *t = &p->r->totals;
  char a[64];
  if (t->reconciled) {
    char b[64], c[64], d[64];
    putf(p,
         "<p class=\"recon ok\" id=\"reconciled\">Reconciled to the cent: allocated %s + shared %s"
         " + idle %s = %s %s",
         cents_str(p, a, sizeof(a), t->allocated_cents), cents_str(p, b, sizeof(b), t->shared_cents),
         cents_str(p, c, sizeof(c), t->idle_cents),
         t->overhead_cents > 0 ? "nodes and overhead" : "node cost",
         cents_str(p, d, sizeof(d), p->all_cents));
    if (t->overhead_cents > 0)
      putf(p, " (%s + %s)", cents_str(p, a, sizeof(a), t->node_cents),
           cents_str(p, b, sizeof(b), t->overhead_cents));
    put(p, ".</p>\n");
  } else {
    putf(p,
         "<p class=\"recon off\" id=\"reconciled\">&#9888; Does not reconcile: allocated + shared + "
         "idle differs from the node cost by %s before rounding to cents.</p>\n",
         amount_str(p, a, sizeof(a), t->difference, 4));
  }
}

/* " (6 pods asking for 0.75 CPU and 0.33 GiB)": what a shared namespace runs, in plain words. */
static void put_shared_pods(struct page *p, const struct stv_report_shared_ns *sn) {
  double h = p->r->totals.hours > 0 ? p->r->totals.hours : 1;
  if (p->pit)
    putf(p, " (%.0f pod%s", sn->pods, sn->pods == 1 ? "" : "s");
  else
    putf(p, " (%.1f pods on average", sn->pods);
  putf(p, " asking for %.3g CPU and %.3g GiB of memory", sn->cpu_req_core_h / h, sn->ram_req_gib_h / h);
  if (sn->gpu_h > 0) putf(p, " and %.3g GPU", sn->gpu_h / h);
  put(p, ")");
}

/* The shared namespaces' own cost, before it is spread. */
static void put_shared(struct page *p) {
  const struct stv_report *r = p->r;
  int64_t rest = r->totals.shared_cents;
  size_t i;
  char a[64];
  if (r->nshared_ns == 0 && r->totals.overhead_cents == 0) return;
  put(p, "<p class=\"sub foot\" id=\"shared\">Shared cost, before it is spread: ");
  for (i = 0; i < r->nshared_ns; i++) {
    if (i > 0) put(p, ", ");
    put(p, "<b>");
    esc(p, r->shared_ns[i].ns);
    putf(p, "</b> %s", cents_str(p, a, sizeof(a), r->shared_ns[i].cents));
    put_shared_pods(p, &r->shared_ns[i]);
    rest -= r->shared_ns[i].cents;
  }
  /* The overhead's part is what the namespaces leave, so the list adds up. */
  if (r->totals.overhead_cents > 0)
    putf(p, "%s<b>fixed overhead</b> %s", r->nshared_ns ? ", " : "", cents_str(p, a, sizeof(a), rest));
  put(p, ".</p>\n");
}

/* ---------------------------------------------------------------------- */
/* The chart                                                              */

enum bar_kind { BAR_GROUP, BAR_OTHER, BAR_SHARED, BAR_IDLE };

struct bar {
  enum bar_kind kind;
  const char *name; /* the group; NULL for the others */
  size_t nother;    /* groups in "other" */
  int64_t seg[3];   /* cpu, ram, gpu cents (group and other) */
  int64_t total;    /* cents */
};

/* A "nice" step (1, 2, 2.5 or 5 x 10^k) for about five ticks up to max. */
static double nice_step(double max) {
  double raw = max / 5, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
  if (f <= 1) return mag;
  if (f <= 2) return 2 * mag;
  if (f <= 2.5) return 2.5 * mag;
  if (f <= 5) return 5 * mag;
  return 10 * mag;
}

/* The number of characters of the UTF-8 string s. */
static size_t utf8_len(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80) n++;
  return n;
}

/* The byte offset of character k of the UTF-8 string s (its end if shorter). */
static size_t utf8_offset(const char *s, size_t k) {
  size_t i, chars = 0;
  for (i = 0; s[i] != '\0'; i++)
    if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == k) return i;
  return i;
}

/*
 * s (UTF-8) as a chart label: whole when it fits, else its first and last
 * characters around "…", so that both a namespace's prefix and a
 * controller's name stay readable. out holds HTML_LABEL_MAX bytes.
 */
#define HTML_LABEL_MAX ((HTML_LABEL_HEAD + HTML_LABEL_TAIL) * 4 + 4)
static const char *short_label(char out[HTML_LABEL_MAX], const char *s) {
  size_t n = utf8_len(s), head, tail;
  if (n <= HTML_LABEL_HEAD + 1 + HTML_LABEL_TAIL) {
    snprintf(out, HTML_LABEL_MAX, "%s", s);
    return out;
  }
  head = utf8_offset(s, HTML_LABEL_HEAD);
  tail = utf8_offset(s, n - HTML_LABEL_TAIL);
  snprintf(out, HTML_LABEL_MAX, "%.*s\xe2\x80\xa6%s", (int)head, s, s + tail);
  return out;
}

/*
 * A controller group "namespace/Kind/name" as a chart label: whole when it
 * fits, else with the kind kept whole (up to 20 characters) and the
 * namespace and name cut around it, so that a Deployment stays told apart
 * from a StatefulSet of the same name. Other shapes go to short_label.
 */
#define CTL_LABEL_MAX 320
static const char *controller_label(char out[CTL_LABEL_MAX], const char *s) {
  const char *k = strchr(s, '/'), *name = k ? strchr(k + 1, '/') : NULL;
  size_t n = utf8_len(s), kind_len, ns_len, budget;
  char ns_part[64], kind_part[96], name_part[128];
  if (n <= HTML_LABEL_HEAD + 1 + HTML_LABEL_TAIL || name == NULL) {
    char tmp[HTML_LABEL_MAX];
    snprintf(out, CTL_LABEL_MAX, "%s", short_label(tmp, s));
    return out;
  }
  /* The namespace: its first 6 characters. */
  ns_len = utf8_len(s) - utf8_len(k);
  if (ns_len <= 7)
    snprintf(ns_part, sizeof(ns_part), "%.*s", (int)(k - s), s);
  else
    snprintf(ns_part, sizeof(ns_part), "%.*s\xe2\x80\xa6", (int)utf8_offset(s, 6), s);
  /* The kind: whole up to 20 characters. */
  kind_len = utf8_len(k + 1) - utf8_len(name);
  if (kind_len <= 20)
    snprintf(kind_part, sizeof(kind_part), "%.*s", (int)(name - k - 1), k + 1);
  else
    snprintf(kind_part, sizeof(kind_part), "%.*s\xe2\x80\xa6", (int)utf8_offset(k + 1, 19), k + 1);
  /* The name: its last characters, within what is left of the budget (at least 8). */
  budget = HTML_LABEL_HEAD + 1 + HTML_LABEL_TAIL;
  budget = budget > utf8_len(ns_part) + utf8_len(kind_part) + 2 + 8
               ? budget - utf8_len(ns_part) - utf8_len(kind_part) - 2
               : 8;
  if (utf8_len(name + 1) <= budget)
    snprintf(name_part, sizeof(name_part), "%s", name + 1);
  else
    snprintf(name_part, sizeof(name_part), "\xe2\x80\xa6%s",
             name + 1 + utf8_offset(name + 1, utf8_len(name + 1) - (budget - 1)));
  snprintf(out, CTL_LABEL_MAX, "%s/%s/%s", ns_part, kind_part, name_part);
  return out;
}

static void put_legend(struct page *p) {
  put(p, "<ul class=\"legend\">");
  putf(p, "<li><span class=\"sw\" style=\"background:%s\"></span>CPU</li>", COLOUR_CPU);
  putf(p, "<li><span class=\"sw\" style=\"background:%s\"></span>Memory</li>", COLOUR_RAM);
  if (p->gpu) putf(p, "<li><span class=\"sw\" style=\"background:%s\"></span>GPU</li>", COLOUR_GPU);
  putf(p, "<li><span class=\"sw\" style=\"background:%s\"></span>Shared</li>", COLOUR_SHARED);
  putf(p, "<li><span class=\"sw\" style=\"background:%s\"></span>Idle</li>", COLOUR_IDLE);
  put(p, "</ul>\n");
}

static void put_bar(struct page *p, const struct bar *b, double y, double x0, double scale, double bar_h) {
  static const char *const seg_colour[3] = {COLOUR_CPU, COLOUR_RAM, COLOUR_GPU};
  static const char *const seg_name[3] = {"CPU", "Memory", "GPU"};
  static const char *const kind_name[4] = {"group", "other", "shared", "idle"};
  char label[HTML_LABEL_MAX], a[64], pc[24];
  double x = x0, ty = y + bar_h / 2 + 4.5;
  int i;
  putf(p, "<g class=\"bar\" data-kind=\"%s\">", kind_name[b->kind]);
  /* The tooltip: the full name and the split. */
  put(p, "<title>");
  switch (b->kind) {
  case BAR_GROUP:
    esc(p, b->name);
    break;
  case BAR_OTHER:
    putf(p, "%zu other %s", b->nother, group_word(p->r, b->nother != 1));
    break;
  case BAR_SHARED:
    put(p, "Shared cost");
    break;
  case BAR_IDLE:
    put(p, "Idle cost");
    break;
  }
  putf(p, ": %s", cents_str(p, a, sizeof(a), b->total));
  if (b->kind == BAR_GROUP || b->kind == BAR_OTHER)
    for (i = 0; i < 3; i++)
      if (b->seg[i] > 0 || i < 2) putf(p, "&#10;%s %s", seg_name[i], cents_str(p, a, sizeof(a), b->seg[i]));
  put(p, "</title>");

  putf(p, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\"%s>", x0 - 10, ty,
       b->kind == BAR_GROUP ? "" : " class=\"dim\"");
  switch (b->kind) {
  case BAR_GROUP:
    if (p->r->opts.by == STV_BY_CONTROLLER) {
      char clabel[CTL_LABEL_MAX];
      esc(p, controller_label(clabel, b->name));
    } else {
      esc(p, short_label(label, b->name));
    }
    break;
  case BAR_OTHER:
    putf(p, "%zu other %s", b->nother, group_word(p->r, b->nother != 1));
    break;
  case BAR_SHARED:
    put(p, "Shared");
    break;
  case BAR_IDLE:
    put(p, "Idle");
    break;
  }
  put(p, "</text>");
  if (b->kind == BAR_GROUP || b->kind == BAR_OTHER) {
    for (i = 0; i < 3; i++) {
      double w = (double)b->seg[i] * scale;
      if (w <= 0) continue;
      putf(p, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" fill=\"%s\"/>", x, y, w, bar_h,
           seg_colour[i]);
      x += w;
    }
  } else {
    double w = (double)b->total * scale;
    if (w > 0)
      putf(p, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.0f\" fill=\"%s\"/>", x, y, w, bar_h,
           b->kind == BAR_SHARED ? COLOUR_SHARED : COLOUR_IDLE);
    x += w > 0 ? w : 0;
  }
  putf(p, "<text class=\"val\" x=\"%.2f\" y=\"%.1f\"><tspan>%s</tspan> &#160;%s</text>", x + 8, ty,
       cents_str(p, a, sizeof(a), b->total), pct_str(pc, sizeof(pc), (double)b->total, (double)p->all_cents));
  put(p, "</g>\n");
}

static void put_chart(struct page *p) {
  const struct stv_report *r = p->r;
  struct bar bars[HTML_TOP_GROUPS + 3];
  size_t nbars = 0, shown = 0, i;
  int64_t max = 0;
  const double width = 1100, x0 = 230, right = 190, row_h = 26, bar_h = 18, top = 6;
  double plot_w = width - x0 - right, step, scale, y, height;
  char a[64];
  int decimals, nticks, k;

  memset(bars, 0, sizeof(bars));
  for (i = 0; i < r->nrows; i++) {
    const struct stv_report_row *row = &r->rows[i];
    struct bar *b;
    if (strcmp(row->group, STV_REPORT_SHARED) == 0) continue;
    if (shown < HTML_TOP_GROUPS || (shown == HTML_TOP_GROUPS && p->ngroups == HTML_TOP_GROUPS + 1)) {
      b = &bars[nbars++];
      b->kind = BAR_GROUP;
      b->name = row->group;
    } else {
      b = &bars[nbars - 1];
      if (b->kind != BAR_OTHER) {
        b = &bars[nbars++];
        b->kind = BAR_OTHER;
      }
      b->nother++;
    }
    shown++;
    b->seg[0] += row->cpu_cents;
    b->seg[1] += row->ram_cents;
    b->seg[2] += row->gpu_cents;
    b->total = b->seg[0] + b->seg[1] + b->seg[2];
  }
  bars[nbars].kind = BAR_SHARED;
  bars[nbars++].total = r->totals.shared_cents;
  bars[nbars].kind = BAR_IDLE;
  bars[nbars++].total = r->totals.idle_cents;
  for (i = 0; i < nbars; i++)
    if (bars[i].total > max) max = bars[i].total;

  put(p, "<section class=\"panel\" id=\"chart\">\n<h2>Where the money goes</h2>\n<p class=\"sub\">");
  putf(p,
       "Each %s&rsquo;s own allocation%s, split by resource; the shared cost and the idle capacity as "
       "bars of their own. The bars add up to the total of %s.</p>\n",
       group_word(r, 0), p->pit ? " per month" : " over the window",
       cents_str(p, a, sizeof(a), p->all_cents));
  put_legend(p);

  if (max <= 0) max = 100;
  step = nice_step((double)max);
  if (step < 1) step = 1; /* a cent */
  nticks = (int)ceil((double)max / step);
  scale = plot_w / ((double)nticks * step);
  height = top + (double)nbars * row_h + 12 + 26;
  putf(p,
       "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"Cost by %s\" "
       "xmlns=\"http://www.w3.org/2000/svg\">\n",
       width, height, group_word(r, 0));
  /* Grid and ticks, in cents; labels without cents when the step is whole. */
  decimals = fmod(step, 100.0) == 0 ? 0 : 2;
  for (k = 0; k <= nticks; k++) {
    double v = (double)k * step, x = x0 + v * scale;
    putf(p, "<line x1=\"%.2f\" x2=\"%.2f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"1\"/>", x, x,
         top - 4, top + (double)nbars * row_h + 8, k == 0 ? "#9aa3b1" : "#e4e8ee");
    putf(p, "<text class=\"tick\" x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", x,
         top + (double)nbars * row_h + 26, amount_str(p, a, sizeof(a), v / 100.0, decimals));
  }
  y = top;
  for (i = 0; i < nbars; i++) {
    if (bars[i].kind == BAR_SHARED) {
      /* A rule between the groups and the shared and idle bars. */
      putf(p,
           "<line x1=\"0\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e8ee\" stroke-dasharray=\"3 "
           "3\"/>\n",
           x0 - 6, y + 1, y + 1);
      y += 6;
    }
    put_bar(p, &bars[i], y + (row_h - bar_h) / 2, x0, scale, bar_h);
    y += row_h;
  }
  put(p, "</svg>\n");
  put_shared(p);
  put(p, "</section>\n");
}

/* ---------------------------------------------------------------------- */
/* The table                                                              */

static void put_eff(struct page *p, double e) {
  const char *cls = e < 0.3 ? "e-lo" : e < 0.6 ? "e-mid" : "e-ok";
  if (e < 0)
    put(p, "<td class=\"m\">&ndash;</td>");
  else
    putf(p, "<td class=\"%s\">%.0f%%</td>", cls, 100 * e);
}

/* "requested / used" in units; used is "-" when usage is unknown. */
static void put_req_use(struct page *p, double req, double use, double eff) {
  char a[64];
  putf(p, "<td>%s <span class=\"m\">/ ", qty_str(a, sizeof(a), req));
  putf(p, "%s</span></td>", eff < 0 ? "&ndash;" : qty_str(a, sizeof(a), use));
}

/* A cell of the cost split: a zero amount is a dash, so the others stand out. */
static void put_part_td(struct page *p, int64_t cents) {
  if (cents == 0) {
    put(p, "<td class=\"m\">&ndash;</td>");
  } else {
    char a[64];
    putf(p, "<td>%s</td>", cents_str(p, a, sizeof(a), cents));
  }
}

static void put_money_td(struct page *p, const char *cls, int64_t cents) {
  char a[64];
  if (cls != NULL)
    putf(p, "<td class=\"%s\">%s</td>", cls, cents_str(p, a, sizeof(a), cents));
  else
    putf(p, "<td>%s</td>", cents_str(p, a, sizeof(a), cents));
}

/* Splits total cents over parts in proportion to w (largest remainder). */
static void apportion3(int64_t total, const double w[3], int64_t out[3]) {
  double sum = w[0] + w[1] + w[2], rem[3];
  int64_t given = 0;
  int i, j;
  for (i = 0; i < 3; i++) {
    double exact = sum > 0 ? (double)total * w[i] / sum : (i == 0 ? (double)total : 0);
    out[i] = (int64_t)floor(exact);
    rem[i] = exact - (double)out[i];
    given += out[i];
  }
  for (; given < total; given++) {
    for (j = 0, i = 1; i < 3; i++)
      if (rem[i] > rem[j]) j = i;
    out[j]++;
    rem[j] = -1;
  }
}

/*
 * A summary row of the table's foot (label is plain text); a negative
 * amount leaves its cell empty.
 */
struct foot_row {
  const char *cls, *label;
  int64_t split[3], shared, total, idle_share;
  double hourly;
};

static void put_foot_row(struct page *p, const struct foot_row *f) {
  char pc[24];
  int i;
  if (f->cls != NULL)
    putf(p, "<tr class=\"%s\"><td class=\"l\">", f->cls);
  else
    put(p, "<tr><td class=\"l\">");
  esc(p, f->label);
  put(p, "</td><td></td>");
  for (i = 0; i < 3; i++) {
    if (i == 2 && !p->gpu) continue;
    if (f->split[i] < 0)
      put(p, "<td></td>");
    else
      put_part_td(p, f->split[i]);
  }
  if (f->shared < 0)
    put(p, "<td></td>");
  else
    put_money_td(p, NULL, f->shared);
  put_money_td(p, NULL, f->total);
  if (p->pit) {
    char a[64];
    putf(p, "<td>%s</td>", amount_str(p, a, sizeof(a), per_hour(p, f->hourly), p->hour_decimals));
  }
  putf(p, "<td>%s</td><td></td><td></td><td></td>",
       pct_str(pc, sizeof(pc), (double)f->total, (double)p->all_cents));
  if (f->idle_share < 0)
    put(p, "<td></td>");
  else
    put_money_td(p, "m", f->idle_share);
  if (!p->pit) put(p, "<td></td>");
  put(p, "</tr>\n");
}

static void put_table(struct page *p) {
  const struct stv_report *r = p->r;
  const struct stv_report_totals *t = &r->totals;
  struct foot_row all = {NULL, NULL, {0, 0, 0}, 0, 0, 0, 0}, idle, grand;
  size_t i;
  char a[64], pc[24], label[160];
  double idle_w[3];

  putf(p, "<section class=\"panel\" id=\"table\">\n<h2>All %s</h2>\n<p class=\"sub\">", group_word(r, 1));
  putf(p,
       "%s. Pods are charged the larger of request and usage. %s, requested / used; efficiency is "
       "usage over request. Idle share is what each %s would carry if idle cost were charged back in "
       "proportion to cost (not in the total).</p>\n",
       p->pit ? "Cost per month (730 h) and per hour" : "Cost over the window",
       p->pit ? "CPU in cores and memory in GiB" : "CPU in core-hours and memory in GiB-hours",
       group_word(r, 0));
  put(p, "<table>\n<thead><tr><th class=\"l g\">");
  esc(p, group_noun(r));
  put(p, "</th><th>Pods</th><th>CPU</th><th>Memory</th>");
  if (p->gpu) put(p, "<th>GPU</th>");
  putf(p, "<th>Shared</th><th>Total%s</th>", p->pit ? " /month" : "");
  if (p->pit) put(p, "<th>Total /hour</th>");
  put(p, "<th>Share</th><th>CPU req / used</th><th>Memory req / used</th><th>Efficiency</th>"
         "<th>Idle share</th>");
  if (!p->pit) put(p, "<th>Hours</th>");
  put(p, "</tr></thead>\n<tbody>\n");

  for (i = 0; i < r->nrows; i++) {
    const struct stv_report_row *row = &r->rows[i];
    double cpu_req = row->cpu_req_core_h, cpu_use = row->cpu_use_core_h;
    double ram_req = row->ram_req_gib_h, ram_use = row->ram_use_gib_h;
    if (p->pit && t->hours > 0) {
      cpu_req /= t->hours, cpu_use /= t->hours, ram_req /= t->hours, ram_use /= t->hours;
    }
    put(p, "<tr><td class=\"l name\">");
    esc(p, row->group);
    putf(p, "</td><td>%.4g</td>", row->pods);
    put_part_td(p, row->cpu_cents);
    put_part_td(p, row->ram_cents);
    if (p->gpu) put_part_td(p, row->gpu_cents);
    put_part_td(p, row->shared_cents);
    put_money_td(p, "tot", row->total_cents);
    if (p->pit)
      putf(p, "<td>%s</td>", amount_str(p, a, sizeof(a), per_hour(p, row->total), p->hour_decimals));
    putf(p, "<td>%s</td>", pct_str(pc, sizeof(pc), (double)row->total_cents, (double)p->all_cents));
    put_req_use(p, cpu_req, cpu_use, row->cpu_efficiency);
    put_req_use(p, ram_req, ram_use, row->ram_efficiency);
    put_eff(p, row->efficiency);
    put_money_td(p, "m", row->idle_share_cents);
    if (!p->pit) putf(p, "<td>%.4g h</td>", row->hours);
    put(p, "</tr>\n");
    all.split[0] += row->cpu_cents;
    all.split[1] += row->ram_cents;
    all.split[2] += row->gpu_cents;
    all.shared += row->shared_cents;
    all.total += row->total_cents;
    all.idle_share += row->idle_share_cents;
    all.hourly += row->total;
  }
  put(p, "</tbody>\n<tfoot>\n");
  snprintf(label, sizeof(label), "All %s", group_word(r, 1));
  all.label = label;
  put_foot_row(p, &all);
  idle.cls = NULL;
  idle.label = "Idle";
  idle_w[0] = t->cpu_idle, idle_w[1] = t->ram_idle, idle_w[2] = p->gpu ? t->gpu_idle : 0;
  apportion3(t->idle_cents, idle_w, idle.split);
  idle.shared = -1;
  idle.total = t->idle_cents;
  idle.idle_share = -1;
  idle.hourly = t->idle;
  put_foot_row(p, &idle);
  grand.cls = "grand";
  grand.label = t->overhead_cents > 0 ? "Total (nodes and overhead)" : "Total node cost";
  grand.split[0] = grand.split[1] = grand.split[2] = -1;
  grand.shared = -1;
  grand.total = p->all_cents;
  grand.idle_share = -1;
  grand.hourly = t->node_cost + t->overhead;
  put_foot_row(p, &grand);
  put(p, "</tfoot>\n</table>\n</section>\n");
}

static void put_empty(struct page *p) {
  put(p, "<section class=\"panel empty\" id=\"no-pods\">\n<p>No pods to allocate</p>\n<div class=\"sub\">");
  putf(p, "No running pod was found on a priced node in this %s, so nothing is allocated",
       p->pit ? "snapshot" : "window");
  if (p->all_cents > 0) {
    char a[64];
    putf(p, ": the whole %s is idle", cents_str(p, a, sizeof(a), p->all_cents));
  }
  put(p, ".</div>\n</section>\n");
}

static void put_rightsize(struct page *p) {
  const struct stv_report *r = p->r;
  char a[64], b[64];
  if (r->nrightsize == 0 && !r->repack.done) return;
  put(p, "<section class=\"panel\" id=\"rightsize\">\n<h2>Right-sizing</h2>\n<p class=\"sub\">");
  putf(p, "Requests per pod against observed usage (cpu p95, memory maximum) with %.0f%% headroom.",
       100 * r->opts.margin);
  if (r->repack.done) {
    char m[64];
    putf(p,
         " Re-packed on new nodes: %s/h with current requests (%zu nodes), %s/h with the suggested "
         "ones (%zu nodes), a saving of %s a month.",
         amount_str(p, a, sizeof(a), r->repack.current_hourly, p->hour_decimals), r->repack.current_nodes,
         amount_str(p, b, sizeof(b), r->repack.suggested_hourly, p->hour_decimals), r->repack.suggested_nodes,
         amount_str(p, m, sizeof(m), r->repack.monthly_saving, 2));
  }
  if (r->nrightsize == 0) put(p, " No pod had usage data, so there are no per-controller suggestions.");
  if (r->repack.note[0] != '\0') {
    put(p, " ");
    esc(p, r->repack.note);
  }
  put(p, "</p>\n");
  if (r->nrightsize > 0) {
    char c[64], d[64];
    size_t i;
    put(p, "<table>\n<thead><tr><th class=\"l\">Controller</th><th>Pods</th><th>CPU request</th>"
           "<th>CPU p95</th><th>CPU suggested</th><th>Memory request</th><th>Memory max</th>"
           "<th>Memory suggested</th><th>Saving /month</th></tr></thead>\n<tbody>\n");
    for (i = 0; i < r->nrightsize; i++) {
      const struct stv_rightsize_row *s = &r->rightsize[i];
      put(p, "<tr><td class=\"l name\">");
      esc(p, s->ns);
      put(p, "/");
      esc(p, s->kind);
      put(p, "/");
      esc(p, s->name);
      if (s->under_cpu || s->under_ram) put(p, " <span class=\"e-lo\">(under-requested)</span>");
      putf(p, "</td><td>%.3g</td><td>%s</td>", s->replicas, cpu_qty(a, sizeof(a), s->cpu_req));
      putf(p, "<td>%s</td><td>%s</td>", cpu_qty(b, sizeof(b), s->cpu_p95),
           cpu_qty(c, sizeof(c), s->cpu_suggest));
      putf(p, "<td>%s</td><td>%s</td>", ram_qty(a, sizeof(a), s->ram_req), ram_qty(b, sizeof(b), s->ram_max));
      putf(p, "<td>%s</td><td>%s</td></tr>\n", ram_qty(c, sizeof(c), s->ram_suggest),
           amount_str(p, d, sizeof(d), s->monthly_saving_est, 2));
    }
    put(p, "</tbody>\n</table>\n");
  }
  put(p, "</section>\n");
}

static void put_notes(struct page *p) {
  const struct stv_report *r = p->r;
  size_t i;
  if (r->nnotes == 0) return;
  put(p, "<section class=\"panel\" id=\"notes\">\n<h2>Notes</h2>\n<ul class=\"notes\">\n");
  for (i = 0; i < r->nnotes; i++) {
    put(p, "<li>");
    esc(p, r->notes[i]);
    put(p, "</li>\n");
  }
  put(p, "</ul>\n</section>\n");
}

static void put_footer(struct page *p) {
  const struct stv_report_opts *o = &p->r->opts;
  putf(p,
       "<footer>Generated by stevedore report. Costs follow the OpenCost model: each node&rsquo;s price is "
       "split into CPU, memory and GPU in the ratio %g per core : %g per GiB : %g per GPU, and each pod "
       "is charged the larger of its request and its usage.%s</footer>\n</main>\n</body>\n</html>\n",
       o->ratio_cpu > 0 ? o->ratio_cpu : STV_RATIO_CPU, o->ratio_ram > 0 ? o->ratio_ram : STV_RATIO_RAM,
       o->ratio_gpu > 0 ? o->ratio_gpu : STV_RATIO_GPU,
       p->pit ? " Monthly figures are the hourly rate times 730 hours." : "");
}

/* ---------------------------------------------------------------------- */

/*
 * Appends the finished report r (borrowed) to out (caller-owned) as one HTML
 * page. Returns 0, STV_EINVAL without a report, or out's sticky error
 * (STV_ENOMEM, STV_ELIMIT) with err saying so; on error out holds part of a
 * page, which the caller discards. Contract in report.h.
 */
int stv_report_render_html(const struct stv_report *r, struct stv_buf *out, struct stv_err *err) {
  struct page p;
  size_t i;
  if (r == NULL || out == NULL) return stv_err_set(err, STV_EINVAL, "html report: no report");
  memset(&p, 0, sizeof(p));
  p.r = r;
  p.b = out;
  p.pit = r->opts.point_in_time != 0;
  p.hour_decimals = per_hour(&p, r->totals.node_cost + r->totals.overhead) >= 100 ? 2 : 4;
  p.gpu = r->totals.gpu_cost > 0;
  p.all_cents = r->totals.node_cents + r->totals.overhead_cents;
  stv_buf_init(&p.currency);
  if (currency_symbol(r->currency) == NULL) stv_buf_html_str(&p.currency, r->currency);
  if (p.currency.err != 0) {
    stv_buf_close(&p.currency);
    return stv_err_set(err, STV_ENOMEM, "html report: %s", stv_strerror(STV_ENOMEM));
  }
  for (i = 0; i < r->nrows; i++)
    if (strcmp(r->rows[i].group, STV_REPORT_SHARED) != 0) p.ngroups++;

  put_head(&p);
  put_header(&p);
  put_unpriced(&p);
  put_default_priced(&p);
  put_incomplete(&p);
  put_cards(&p);
  put_split(&p);
  put_reconciliation(&p);
  if (r->nrows == 0 || r->pods_costed == 0) {
    put_empty(&p);
  } else {
    put_chart(&p);
    put_table(&p);
  }
  put_rightsize(&p);
  put_notes(&p);
  put_footer(&p);
  stv_buf_close(&p.currency);
  if (out->err != 0) return stv_err_set(err, out->err, "html report: %s", stv_strerror(out->err));
  return 0;
}
