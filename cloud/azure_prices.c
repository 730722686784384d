/*
 * The Azure provider's live prices (docs/prices-live.md): the Retail
 * Prices API, public and without credentials:
 *
 *   GET {pricesEndpoint}/api/retail/prices?api-version=2023-01-01-preview
 *       &$filter=serviceName eq 'Virtual Machines' and armRegionName eq 'REGION'
 *                and priceType eq 'Consumption'
 *
 * answered in pages of Items, the next one at NextPageLink. Of the meters,
 * Linux ones only: a productName with "Windows" is left out, and so is a
 * meterName with "Low Priority" (the old priority, not Spot); a skuName
 * ending in " Spot" is the spot price, the others the on-demand (list)
 * price. armSkuName is the size as the catalogue names it
 * (Standard_D2s_v5). Prices are per hour, USD, for every zone of the
 * region (the API has no zonal prices).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure_internal.h"
#include "cloud.h"
#include "log.h"
#include "pricing.h"

#define API_VERSION "2023-01-01-preview"
#define MAX_PAGES   2000
#define SOURCE      "Azure Retail Prices API"

/* ---------------------------------------------------------------------- */
/* A page (pure: the fuzz target drives it)                               */

static const char *str_field(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Reads item i into *it; returns 1 to keep it, 0 to leave it out (counted), or an STV_ error. */
static int read_item(struct stv__az_prices_page *pg, const cJSON *o, size_t i, const char *what,
                     struct stv__az_price *it, struct stv_err *err) {
  const char *sku = str_field(o, "armSkuName"), *sku_name = str_field(o, "skuName");
  const char *product = str_field(o, "productName"), *meter = str_field(o, "meterName");
  const char *unit = str_field(o, "unitOfMeasure"), *type = str_field(o, "type");
  const char *currency = str_field(o, "currencyCode"), *start = str_field(o, "effectiveStartDate");
  const cJSON *price = cJSON_GetObjectItemCaseSensitive(o, "retailPrice");
  int64_t secs = 0;
  int32_t nanos = 0;
  if (!cJSON_IsObject(o)) return stv_err_set(err, STV_EPARSE, "%s: Items[%zu]: not an object", what, i);
  if (sku == NULL || sku_name == NULL || product == NULL || meter == NULL || unit == NULL || currency == NULL)
    return stv_err_set(err, STV_EPARSE,
                       "%s: Items[%zu]: armSkuName, skuName, productName, meterName, unitOfMeasure and "
                       "currencyCode must be strings",
                       what, i);
  if (!cJSON_IsNumber(price) || !isfinite(price->valuedouble))
    return stv_err_set(err, STV_EPARSE, "%s: Items[%zu] (%.80s): retailPrice: not a number", what, i, sku);
  if (strcmp(currency, "USD") != 0)
    return stv_err_set(err, STV_EPARSE, "%s: Items[%zu] (%.80s): currencyCode %.10s: expected USD", what, i,
                       sku, currency);
  if (start != NULL && stv_parse_time(start, &secs, &nanos, NULL) != 0)
    return stv_err_set(err, STV_EPARSE,
                       "%s: Items[%zu] (%.80s): effectiveStartDate %.40s: not an RFC 3339 time", what, i, sku,
                       start);
  if (strstr(product, "Windows") != NULL) {
    pg->windows++;
    return 0;
  }
  if (strstr(meter, "Low Priority") != NULL) {
    pg->low_priority++;
    return 0;
  }
  if ((type != NULL && strcmp(type, "Consumption") != 0) || strcmp(unit, "1 Hour") != 0 || sku[0] == '\0') {
    pg->other++;
    return 0;
  }
  it->sku = sku;
  it->spot = ends_with(sku_name, " Spot");
  it->price = price->valuedouble;
  it->as_of = start != NULL && secs > 0 ? (double)secs : 0;
  return 1;
}

int stv__az_read_prices(struct stv__az_prices_page *pg, const char *what, const char *body, size_t len,
                        struct stv_err *err) {
  const cJSON *items, *next;
  size_t n, i;
  memset(pg, 0, sizeof(*pg));
  pg->doc = cJSON_ParseWithLength(body, len);
  if (pg->doc == NULL) return stv_err_set(err, STV_EPARSE, "%s: the answer is not JSON", what);
  items = cJSON_GetObjectItemCaseSensitive(pg->doc, "Items");
  next = cJSON_GetObjectItemCaseSensitive(pg->doc, "NextPageLink");
  if (!cJSON_IsArray(items)) return stv_err_set(err, STV_EPARSE, "%s: Items: missing or not an array", what);
  if (next != NULL && !cJSON_IsNull(next) && !cJSON_IsString(next))
    return stv_err_set(err, STV_EPARSE, "%s: NextPageLink: not a string or null", what);
  pg->next_link = cJSON_IsString(next) && next->valuestring[0] != '\0' ? next->valuestring : NULL;
  n = (size_t)cJSON_GetArraySize(items);
  if (n > 0 && (pg->items = stv_calloc(n, sizeof(*pg->items))) == NULL)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (i = 0; i < n; i++) {
    int rc = read_item(pg, cJSON_GetArrayItem(items, (int)i), i, what, &pg->items[pg->n], err);
    if (rc < 0) return rc;
    pg->n += (size_t)rc;
  }
  return 0;
}

void stv__az_prices_page_free(struct stv__az_prices_page *pg) {
  cJSON_Delete(pg->doc);
  stv_free(pg->items);
  memset(pg, 0, sizeof(*pg));
}

/* ---------------------------------------------------------------------- */
/* The fetch                                                              */

struct stv__az_prices {
  struct stv_cloud_caller *caller; /* borrowed */
  struct stv_clock *clock;         /* borrowed */
  char *endpoint, *ca_file;
  long timeout_ms;
  struct fetch *jobs;
};

struct fetch {
  struct stv__az_prices *p;
  struct fetch *prev, *next;
  const struct stv_catalog *base;
  stv_cloud_prices_cb cb;
  void *ctx;
  char *url;
  char what[96];
  int pages;
  struct stv_timer timer; /* a failure found before any call: answered on the next tick */
  struct stv_price_quote *q;
  size_t n, cap;
  struct stv_strpool pool; /* the quotes' type names */
  size_t windows, low_priority, other, unknown;
  int code;
  char msg[STV_ERR_MSG_MAX];
};

int stv__az_prices_new(struct stv__az_prices **out, struct stv_cloud_caller *caller, struct stv_clock *clock,
                       const char *endpoint, const char *ca_file, long timeout_ms, struct stv_err *err) {
  struct stv__az_prices *p;
  size_t n;
  *out = NULL;
  if (strncmp(endpoint, "https://", 8) != 0 && strncmp(endpoint, "http://", 7) != 0)
    return stv_err_set(err, STV_EINVAL, "azure: pricesEndpoint %.200s: not an http:// or https:// URL",
                       endpoint);
  if ((p = stv_calloc(1, sizeof(*p))) == NULL || (p->endpoint = stv_strdup(endpoint)) == NULL ||
      (ca_file != NULL && (p->ca_file = stv_strdup(ca_file)) == NULL)) {
    stv__az_prices_free(p);
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  n = strlen(p->endpoint);
  while (n > 0 && p->endpoint[n - 1] == '/') p->endpoint[--n] = '\0';
  p->caller = caller;
  p->clock = clock;
  p->timeout_ms = timeout_ms;
  *out = p;
  return 0;
}

static void fetch_free(struct fetch *f) {
  struct stv__az_prices *p = f->p;
  stv_clock_stop(p->clock, &f->timer);
  if (f->prev != NULL)
    f->prev->next = f->next;
  else
    p->jobs = f->next;
  if (f->next != NULL) f->next->prev = f->prev;
  stv_free(f->url);
  stv_free(f->q);
  stv_strpool_close(&f->pool);
  stv_free(f);
}

void stv__az_prices_free(struct stv__az_prices *p) {
  if (p == NULL) return;
  while (p->jobs != NULL) fetch_free(p->jobs);
  stv_free(p->endpoint);
  stv_free(p->ca_file);
  stv_free(p);
}

/* Answers the caller and frees f: r->code 0 with the quotes, or f->code and f->msg. */
static void finish(struct fetch *f) {
  struct stv_cloud_result r;
  memset(&r, 0, sizeof(r));
  r.code = f->code;
  r.message = f->code != 0 ? f->msg : "";
  if (f->code == 0) {
    if (f->windows + f->low_priority + f->other + f->unknown > 0)
      stv_log(STV_LOG_INFO, "azure retail prices: meters left out", STV_LOG_STR("region", f->base->region),
              STV_LOG_INT("windows", f->windows), STV_LOG_INT("low_priority", f->low_priority),
              STV_LOG_INT("other_units_or_types", f->other),
              STV_LOG_INT("sizes_not_in_catalogue", f->unknown), STV_LOG_INT("quotes", f->n),
              STV_LOG_INT("pages", f->pages));
    f->cb(f->ctx, &r, SOURCE, f->q, f->n);
  } else {
    f->cb(f->ctx, &r, SOURCE, NULL, 0);
  }
  fetch_free(f);
}

static void fail(struct fetch *f, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(struct fetch *f, int code, const char *fmt, ...) {
  va_list ap;
  f->code = code;
  va_start(ap, fmt);
  vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
  va_end(ap);
}

static int add_quote(struct fetch *f, const struct stv__az_price *it) {
  struct stv_price_quote *q;
  const char *name;
  if (stv_catalog_find(f->base, it->sku) == NULL) {
    f->unknown++;
    return 0;
  }
  if (f->n == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 256;
    struct stv_price_quote *v = stv_realloc(f->q, cap * sizeof(*v));
    if (v == NULL) return STV_ENOMEM;
    f->q = v;
    f->cap = cap;
  }
  if ((name = stv_strpool_get(&f->pool, it->sku)) == NULL) return STV_ENOMEM;
  q = &f->q[f->n++];
  q->instance_type = name;
  q->capacity_type = it->spot ? STV_CT_SPOT : STV_CT_ON_DEMAND;
  q->zone = NULL;
  q->price = it->price;
  q->count = -1;
  q->as_of = it->as_of;
  return 0;
}

static int start_page(struct fetch *f);

static void on_page(void *ctx, const struct stv_cloud_reply *r) {
  struct fetch *f = ctx;
  struct stv__az_prices_page pg;
  struct stv_err err = {0, ""};
  size_t i;
  int rc = 0;
  if (r->code != 0) {
    fail(f, r->code, "%s: %s", f->what, r->error);
    finish(f);
    return;
  }
  if (r->status != 200) {
    fail(f, r->status == 404 ? STV_ENOTFOUND : STV_EIO, "%s: HTTP %ld: %.200s", f->what, r->status, r->body);
    finish(f);
    return;
  }
  rc = stv__az_read_prices(&pg, f->what, r->body, r->len, &err);
  for (i = 0; rc == 0 && i < pg.n; i++) rc = add_quote(f, &pg.items[i]);
  if (rc != 0) {
    fail(f, rc, "%s", err.msg[0] ? err.msg : "out of memory");
    stv__az_prices_page_free(&pg);
    finish(f);
    return;
  }
  f->windows += pg.windows;
  f->low_priority += pg.low_priority;
  f->other += pg.other;
  if (pg.next_link == NULL) {
    stv__az_prices_page_free(&pg);
    finish(f);
    return;
  }
  /* The next page must be the same API: a link elsewhere is not followed. */
  if (strncmp(pg.next_link, f->p->endpoint, strlen(f->p->endpoint)) != 0 ||
      strncmp(pg.next_link + strlen(f->p->endpoint), "/api/retail/prices?", 19) != 0) {
    fail(f, STV_EPARSE, "%s: NextPageLink %.200s: not a page of the prices endpoint %.200s", f->what,
         pg.next_link, f->p->endpoint);
    stv__az_prices_page_free(&pg);
    finish(f);
    return;
  }
  stv_free(f->url);
  f->url = stv_strdup(pg.next_link);
  stv__az_prices_page_free(&pg);
  if (start_page(f) != 0) finish(f);
}

/* Starts the call for f->url; on failure sets f's code and returns it (the caller finishes f). */
static int start_page(struct fetch *f) {
  struct stv_cloud_call_opts o;
  struct stv_err err = {0, ""};
  int rc;
  if (f->url == NULL) {
    fail(f, STV_ENOMEM, "%s: out of memory", f->what);
    return f->code;
  }
  if (++f->pages > MAX_PAGES) {
    fail(f, STV_ELIMIT, "%s: more than %d pages: the filter is not the region's virtual machines", f->what,
         MAX_PAGES);
    return f->code;
  }
  snprintf(f->what, sizeof(f->what), "azure retail prices %.40s page %d", f->base->region, f->pages);
  memset(&o, 0, sizeof(o));
  o.what = f->what;
  o.url = f->url;
  o.tls.ca_file = f->p->ca_file;
  o.timeout_ms = f->p->timeout_ms;
  if ((rc = stv_cloud_call(f->p->caller, &o, on_page, f, &err)) != 0) {
    fail(f, rc, "%s", err.msg);
    return rc;
  }
  return 0;
}

static void answer_later(struct stv_timer *t) {
  finish(t->data);
}

/* The first page's URL: the region's Linux and Windows virtual machine meters, pay as you go. */
static char *first_url(const struct stv__az_prices *p, const char *region) {
  size_t n = strlen(p->endpoint) + strlen(region) + 256;
  char *u = stv_malloc(n);
  if (u != NULL)
    snprintf(u, n,
             "%s/api/retail/prices?api-version=" API_VERSION
             "&$filter=serviceName%%20eq%%20%%27Virtual%%20Machines%%27%%20and%%20armRegionName%%20eq%%20%%"
             "27%s%%27"
             "%%20and%%20priceType%%20eq%%20%%27Consumption%%27",
             p->endpoint, region);
  return u;
}

static int valid_region(const char *s) {
  size_t i;
  if (s == NULL || s[0] == '\0' || strlen(s) > 40) return 0;
  for (i = 0; s[i]; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))) return 0;
  return 1;
}

int stv__az_prices_fetch(struct stv__az_prices *p, const struct stv_catalog *base, stv_cloud_prices_cb cb,
                         void *ctx) {
  struct fetch *f = stv_calloc(1, sizeof(*f));
  if (f == NULL) return STV_ENOMEM;
  f->p = p;
  f->base = base;
  f->cb = cb;
  f->ctx = ctx;
  f->timer.data = f;
  stv_strpool_init(&f->pool);
  f->next = p->jobs;
  if (p->jobs != NULL) p->jobs->prev = f;
  p->jobs = f;
  snprintf(f->what, sizeof(f->what), "azure retail prices");
  if (base->provider == NULL || strcmp(base->provider, "azure") != 0)
    fail(f, STV_EINVAL, "%s: the catalogue is a %s one, not azure", f->what,
         base->provider ? base->provider : "?");
  else if (!valid_region(base->region))
    fail(f, STV_EINVAL, "%s: the catalogue's region %.60s is not an Azure region name", f->what,
         base->region ? base->region : "(none)");
  else if ((f->url = first_url(p, base->region)) != NULL && start_page(f) == 0)
    return 0;
  else if (f->code == 0)
    fail(f, STV_ENOMEM, "%s: %s", f->what, "out of memory");
  /* answered after the call returns, as every answer */
  if (stv_clock_start(p->clock, &f->timer, 0, answer_later, f) != 0) {
    fetch_free(f);
    return STV_ENOMEM;
  }
  return 0;
}
