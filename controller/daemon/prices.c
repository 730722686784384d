/*
 * Live prices in the controller (docs/prices-live.md): the quotes a
 * provider's fetch_prices answers laid over the catalogue
 * (stv__prices_fresh, shared with `stevedore prices`), and the refresher
 * that reads them when the controller starts acting and then every
 * prices.refresh, hands each new catalogue to the reconciler, and keeps
 * the metrics stevedore_price_refresh_total{result},
 * stevedore_prices_live_offerings and stevedore_prices_age_seconds.
 * Everything here runs on the loop thread.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "pricing.h"

int stv__prices_fresh(const struct stv_catalog *base, const struct stv_cloud_result *r, const char *source,
                      const struct stv_price_quote *q, size_t n, struct stv_catalog **out,
                      struct stv_quote_stats *st, struct stv_err *err) {
  struct stv_quote_stats local;
  struct stv_catalog *c;
  int rc;
  *out = NULL;
  if (st == NULL) st = &local;
  memset(st, 0, sizeof(*st));
  if (r->code != 0)
    return stv_err_set(err, r->code, "%s", r->message[0] ? r->message : stv_strerror(r->code));
  if ((c = stv_calloc(1, sizeof(*c))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  if ((rc = stv_catalog_apply_quotes(c, base, q, n, source, st, err)) != 0) {
    stv_free(c);
    return rc;
  }
  if (st->unknown_types > 0 || st->unknown_zones > 0)
    stv_log(STV_LOG_WARN, "live prices for types or zones the catalogue does not have: left out",
            STV_LOG_STR("source", source != NULL ? source : ""), STV_LOG_STR("catalog", base->origin),
            STV_LOG_INT("unknown_types", st->unknown_types), STV_LOG_INT("unknown_zones", st->unknown_zones),
            STV_LOG_INT("quotes", st->quotes));
  *out = c;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The refresher                                                          */

struct stv__prices {
  struct stv_metric *total, *live, *age;
  struct stv_cloud *cloud; /* borrowed while started */
  struct stv_clock *clock;
  struct stv_timer timer;
  const struct stv_catalog *base; /* the embedded or file catalogue the quotes go over */
  double refresh;
  const char *provider;
  stv__prices_hand_fn hand;
  void *ctx;
  int started, fetching;
  unsigned gen, fetch_gen; /* started or stopped since: an answer of an earlier start is not this one's */
  const struct stv_catalog *cur; /* in use (the last handed, or base) */
};

int stv__prices_new(struct stv__prices **out, struct stv_registry *reg, struct stv_err *err) {
  static const char *const result[] = {"result", NULL};
  struct stv__prices *r = stv_calloc(1, sizeof(*r));
  int rc;
  *out = NULL;
  if (r == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  if ((rc = stv_registry_register(reg, STV_METRIC_COUNTER, "stevedore_price_refresh_total",
                                  "Reads of the provider's live prices, by result (ok, error).", result, NULL,
                                  0, &r->total, err)) != 0 ||
      (rc = stv_registry_register(reg, STV_METRIC_GAUGE, "stevedore_prices_live_offerings",
                                  "Offerings of the catalogue in use whose price is live (read from the "
                                  "provider) rather than embedded.",
                                  NULL, NULL, 0, &r->live, err)) != 0 ||
      (rc = stv_registry_register(
           reg, STV_METRIC_GAUGE, "stevedore_prices_age_seconds",
           "Age of the prices in use: seconds since the live prices were read, or since "
           "the embedded catalogue's data date.",
           NULL, NULL, 0, &r->age, err)) != 0) {
    stv_free(r);
    return rc;
  }
  stv__dmetrics_add(r->total, (const char *const[]){"ok"}, 0);
  stv__dmetrics_add(r->total, (const char *const[]){"error"}, 0);
  *out = r;
  return 0;
}

/* Seconds since the prices of c were read: the live read, else the embedded data date; -1: unknown. */
static double prices_age(const struct stv_catalog *c, double now) {
  struct tm tm;
  if (c->live_source != NULL && c->live_read_at > 0) return now - c->live_read_at;
  memset(&tm, 0, sizeof(tm));
  if (c->data_date == NULL || sscanf(c->data_date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return now - (double)timegm(&tm);
}

void stv__prices_tick(struct stv__prices *r) {
  double age;
  if (r == NULL || r->cur == NULL) return;
  age = prices_age(r->cur, (double)time(NULL));
  stv__dmetrics_set(r->live, NULL, (double)r->cur->live_offerings);
  if (age >= 0) stv__dmetrics_set(r->age, NULL, floor(age));
}

static void log_in_use(const char *msg, const struct stv_catalog *c, const struct stv_quote_stats *st) {
  char line[600];
  stv_log(STV_LOG_INFO, msg, STV_LOG_STR("prices", stv_catalog_describe(c, line, sizeof(line))),
          STV_LOG_STR("catalog", c->origin != NULL ? c->origin : ""),
          STV_LOG_STR("data_date", c->data_date != NULL ? c->data_date : ""),
          STV_LOG_STR("live_source", c->live_source != NULL ? c->live_source : ""),
          STV_LOG_INT("live_offerings", c->live_offerings), STV_LOG_INT("changed", c->live_changed),
          STV_LOG_NUM("as_of", c->live_as_of), STV_LOG_INT("quotes", st != NULL ? st->quotes : 0));
}

static void fetch(struct stv__prices *r);

static void timer_cb(struct stv_timer *t) {
  fetch(t->data);
}

static void schedule(struct stv__prices *r) {
  if (!r->started || !(r->refresh > 0)) return;
  if (stv_clock_start(r->clock, &r->timer, r->refresh, timer_cb, r) != 0)
    stv_log(STV_LOG_WARN, "cannot arm the price refresh timer (out of memory): live prices stay as they are");
}

static void on_prices(void *ctx, const struct stv_cloud_result *res, const char *source,
                      const struct stv_price_quote *q, size_t n) {
  struct stv__prices *r = ctx;
  struct stv_catalog *fresh = NULL;
  struct stv_quote_stats st;
  struct stv_err err = {0, ""};
  if (!r->started || !r->fetching || r->fetch_gen != r->gen) return; /* an answer to an earlier start */
  r->fetching = 0;
  if (stv__prices_fresh(r->base, res, source, q, n, &fresh, &st, &err) != 0) {
    char line[600];
    stv__dmetrics_add(r->total, (const char *const[]){"error"}, 1);
    stv_log(STV_LOG_WARN, "live prices not read: the current prices stay",
            STV_LOG_STR("call", "fetch_prices"), STV_LOG_STR("provider", r->provider),
            STV_LOG_STR("error", err.msg),
            STV_LOG_STR("prices", stv_catalog_describe(r->cur, line, sizeof(line))));
  } else {
    stv__dmetrics_add(r->total, (const char *const[]){"ok"}, 1);
    r->cur = fresh;
    log_in_use("prices in use", fresh, &st);
    r->hand(r->ctx, fresh);
  }
  stv__prices_tick(r);
  schedule(r);
}

static void fetch(struct stv__prices *r) {
  int rc;
  if (!r->started || r->fetching) return;
  r->fetching = 1;
  r->fetch_gen = r->gen;
  if ((rc = r->cloud->ops->fetch_prices(r->cloud, r->base, on_prices, r)) != 0) {
    r->fetching = 0;
    stv__dmetrics_add(r->total, (const char *const[]){"error"}, 1);
    stv_log(STV_LOG_WARN, "live prices not read: the current prices stay",
            STV_LOG_STR("call", "fetch_prices"), STV_LOG_STR("provider", r->provider),
            STV_LOG_STR("error", stv_strerror(rc)));
    schedule(r);
  }
}

void stv__prices_start(struct stv__prices *r, struct stv_cloud *cloud, struct stv_clock *clock,
                       const struct stv_catalog *base, const struct stv_catalog *cur, double refresh,
                       stv__prices_hand_fn hand, void *ctx) {
  stv__prices_stop(r);
  r->cloud = cloud;
  r->clock = clock;
  r->base = base;
  r->cur = cur;
  r->refresh = refresh;
  r->provider = cloud->ops->name;
  r->hand = hand;
  r->ctx = ctx;
  r->timer.data = r;
  r->gen++;
  r->started = 1;
  stv__prices_tick(r);
  if (cloud->ops->fetch_prices == NULL) {
    log_in_use("prices in use", cur, NULL);
    stv_log(STV_LOG_INFO, "live prices: the provider publishes none; the catalogue's figures stay",
            STV_LOG_STR("provider", r->provider));
    r->started = 0;
    return;
  }
  if (!(refresh > 0)) {
    log_in_use("prices in use", cur, NULL);
    stv_log(STV_LOG_INFO, "live prices: not read (prices.refresh is 0)",
            STV_LOG_STR("provider", r->provider));
    r->started = 0;
    return;
  }
  log_in_use("prices in use until the live prices answer (the first decisions may use these)", cur, NULL);
  fetch(r);
}

void stv__prices_stop(struct stv__prices *r) {
  if (r == NULL || !r->started) return;
  if (r->clock != NULL) stv_clock_stop(r->clock, &r->timer);
  r->started = 0;
  r->fetching = 0;
  r->cloud = NULL;
  r->gen++;
}

void stv__prices_free(struct stv__prices *r) {
  stv__prices_stop(r);
  stv_free(r);
}
