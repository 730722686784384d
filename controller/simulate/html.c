/*
 * The HTML page of `stevedore simulate --output html`: one file, no
 * scripts, fonts or network; inline SVG curves of the hourly cost and the
 * node count of each policy over virtual time, then the figures as a
 * table. The house style of the cost report's page (pricing/report_html.c).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "simulate.h"

#define W     860.0
#define H     240.0
#define LEFT  60.0
#define RIGHT 20.0
#define TOP   16.0
#define BOT   34.0

static const char *const colours[] = {"#3566c9", "#a7b0bd", "#1fa393", "#e8a33d"};

/* One chart: value(sample) of every policy, on a shared y scale from 0. */
static void chart(struct stv_buf *b, const char *title, const char *unit, const struct stv_sim_result *r,
                  size_t n, double duration, int cost) {
  double top = 0, x, y;
  size_t i, j;
  int k;
  for (i = 0; i < n; i++)
    for (j = 0; j < r[i].nsamples; j++) {
      double v = cost ? r[i].samples[j].cost_per_hour : r[i].samples[j].nodes;
      if (v > top) top = v;
    }
  if (top <= 0) top = 1;
  top *= 1.1;
  stv_buf_printf(b,
                 "<h2>%s</h2>\n<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                 "aria-label=\"%s\">\n",
                 title, W, H, W, H, title);
  for (k = 0; k <= 4; k++) {
    y = TOP + (H - TOP - BOT) * (1 - k / 4.0);
    stv_buf_printf(b,
                   "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>"
                   "<text x=\"%.0f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">%.*f</text>\n",
                   LEFT, W - RIGHT, y, y, LEFT - 6, y + 4, cost ? 2 : 0, top * k / 4.0);
  }
  for (k = 0; k <= 8; k++) {
    x = LEFT + (W - LEFT - RIGHT) * k / 8.0;
    stv_buf_printf(b, "<text x=\"%.1f\" y=\"%.0f\" class=\"ax\" text-anchor=\"middle\">%.1fh</text>\n", x,
                   H - 12, duration * k / 8.0 / 3600);
  }
  stv_buf_printf(b, "<text x=\"%.0f\" y=\"%.0f\" class=\"ax\">%s</text>\n", LEFT + 4, TOP + 10, unit);
  for (i = 0; i < n; i++) {
    stv_buf_printf(b, "<polyline class=\"line\" stroke=\"%s\" points=\"", colours[i % 4]);
    for (j = 0; j < r[i].nsamples; j++) {
      double v = cost ? r[i].samples[j].cost_per_hour : r[i].samples[j].nodes;
      x = LEFT + (W - LEFT - RIGHT) * r[i].samples[j].t / duration;
      y = TOP + (H - TOP - BOT) * (1 - v / top);
      stv_buf_printf(b, "%.1f,%.1f ", x, y);
    }
    stv_buf_puts(b, "\"/>\n");
  }
  stv_buf_puts(b, "</svg>\n");
}

int stv_sim_render_html(const struct stv_scenario *sc, const char *currency, const struct stv_sim_result *r,
                        size_t n, struct stv_buf *b) {
  size_t i;
  stv_buf_puts(
      b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>stevedore simulate: ");
  stv_buf_html_str(b, sc->name);
  stv_buf_puts(b, "</title>\n<style>\n"
                  "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1c2330}\n"
                  "h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:20px 0 6px}\n"
                  ".sub{color:#5b6474;margin-bottom:12px}\n"
                  "table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #e3e6eb;"
                  "text-align:right}th:first-child,td:first-child{text-align:left}\n"
                  ".grid{stroke:#e3e6eb}.ax{font-size:11px;fill:#5b6474}.line{fill:none;stroke-width:2}\n"
                  ".key{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}\n"
                  "</style></head><body>\n<h1>Simulation: ");
  stv_buf_html_str(b, sc->name);
  stv_buf_printf(b, "</h1>\n<div class=\"sub\">%.1f virtual hours on ", sc->duration / 3600);
  stv_buf_html_str(b, sc->catalog);
  stv_buf_puts(b, ", prices in ");
  stv_buf_html_str(b, currency);
  stv_buf_puts(b, "</div>\n<div>");
  for (i = 0; i < n; i++) {
    stv_buf_printf(b, "<span class=\"key\" style=\"background:%s\"></span>", colours[i % 4]);
    stv_buf_html_str(b, r[i].policy);
    stv_buf_puts(b, " &nbsp; ");
  }
  stv_buf_puts(b, "</div>\n");
  chart(b, "Hourly cost of the nodes", currency, r, n, sc->duration, 1);
  chart(b, "Nodes", "nodes", r, n, sc->duration, 0);
  stv_buf_puts(
      b, "<h2>Figures</h2>\n<table><tr><th>policy</th><th>cost</th><th>node-hours</th><th>spot node-hours"
         "</th><th>wait p50 (s)</th><th>wait p99 (s)</th><th>wait max (s)</th><th>never scheduled</th>"
         "<th>scale-ups</th><th>evictions</th></tr>\n");
  for (i = 0; i < n; i++) {
    stv_buf_puts(b, "<tr><td>");
    stv_buf_html_str(b, r[i].policy);
    stv_buf_printf(
        b,
        "</td><td>%.2f</td><td>%.1f</td><td>%.1f</td><td>%.0f</td><td>%.0f</td><td>%.0f</td><td>%zu</td>"
        "<td>%zu</td><td>%zu</td></tr>\n",
        r[i].cost, r[i].node_hours, r[i].node_hours_by_ct[STV_CT_SPOT], r[i].wait_p50, r[i].wait_p99,
        r[i].wait_max, r[i].unscheduled, r[i].scale_ups, r[i].evictions);
  }
  stv_buf_puts(b, "</table>\n</body></html>\n");
  return b->err;
}
