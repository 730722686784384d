/*
 * The GCP provider's live prices (cloud.h fetch_prices): the Compute
 * Engine SKUs of the Cloud Billing Catalog API (GET
 * {billingEndpoint}/v1/services/6F81-5844-456A/skus, every page, in USD)
 * read into unit prices per machine family (gcp_parse.c), then a price per
 * machine type of the catalogue: vCPUs x the family's core price + GiB x
 * its memory price, on-demand (usageType OnDemand) and spot (Preemptible).
 * docs/cloud-gcp.md has the mapping and how it compares with the embedded
 * figures.
 *
 * Types the SKUs cannot price this way are left out and said so in one
 * warning: a family without core and memory SKUs in the region, types with
 * GPUs (the GPU is its own SKU) and -lssd types (local SSDs too).
 */
#include <stdio.h>
#include <string.h>

#include "gcp_priv.h"
#include "log.h"

#define SKU_PAGE_SIZE "5000"      /* the API's largest page */
#define SKU_MAX_BODY  (64u << 20) /* a page of 5000 SKUs is a few MiB */
#define SKU_TOKEN_MAX 2048
#define SOURCE        "Cloud Billing Catalog API"

static void skus_page(struct req *r, const char *body, size_t len);

static void skus_next(struct req *r) {
  struct gcp *g = r->g;
  char url[SKU_TOKEN_MAX + 512];
  snprintf(url, sizeof(url),
           "%s/v1/services/" STV__GCP_COMPUTE_SERVICE "/skus?currencyCode=USD&pageSize=" SKU_PAGE_SIZE "%s%s",
           g->billing, r->page != NULL ? "&pageToken=" : "", r->page != NULL ? r->page : "");
  r->max_body = SKU_MAX_BODY;
  stv__gcp_call(r, "cloudbilling services.skus.list", "GET", url, NULL, skus_page);
}

/* Makes r's quotes from its rates: on-demand and spot of each type the rates price (every zone). */
static int make_quotes(struct req *r) {
  static const enum stv_capacity_type cts[] = {STV_CT_ON_DEMAND, STV_CT_SPOT};
  size_t i, k;
  r->quotes = stv_calloc(2 * r->nptypes + 1, sizeof(*r->quotes));
  if (r->quotes == NULL) return STV_ENOMEM;
  for (i = 0; i < r->nptypes; i++) {
    const struct price_type *t = &r->ptypes[i];
    if (t->left_out) continue;
    for (k = 0; k < 2; k++) {
      struct stv_price_quote *q = &r->quotes[r->nquotes];
      if (stv__gcp_type_price(&r->rates, t->name, t->vcpus, t->gib, cts[k], &q->price, &q->as_of) != 0)
        continue;
      q->instance_type = t->name;
      q->capacity_type = cts[k];
      q->zone = NULL;
      q->count = -1;
      r->nquotes++;
    }
  }
  return 0;
}

/* Whether the space-separated list holds the word w[0..n). */
static int has_word(const char *list, const char *w, size_t n) {
  const char *p = list;
  while (*p != '\0') {
    size_t len = strcspn(p, " ");
    if (len == n && strncmp(p, w, n) == 0) return 1;
    p += len;
    while (*p == ' ') p++;
  }
  return 0;
}

/* Says, in one warning, which of the catalogue's types the SKUs left without a live price, and why. */
static void warn_left_out(struct req *r) {
  char fams[300] = "", special[300] = "";
  size_t i, nfam = 0, nspecial = 0, fl = 0, sl = 0, k;
  for (i = 0; i < r->nptypes; i++) {
    const struct price_type *t = &r->ptypes[i];
    int priced = 0;
    for (k = 0; k < r->nquotes && !priced; k++) priced = r->quotes[k].instance_type == t->name;
    if (priced) continue;
    if (t->left_out) {
      nspecial++;
      if (sl + 1 < sizeof(special))
        sl += (size_t)snprintf(special + sl, sizeof(special) - sl, "%s%s", sl ? " " : "", t->name);
    } else {
      size_t flen = strcspn(t->name, "-");
      nfam++;
      if (fl + 1 < sizeof(fams) && !has_word(fams, t->name, flen))
        fl += (size_t)snprintf(fams + fl, sizeof(fams) - fl, "%s%.*s", fl ? " " : "", (int)flen, t->name);
    }
  }
  if (nfam + nspecial == 0) return;
  stv_log(STV_LOG_WARN,
          "gcp: live prices leave out some of the catalogue's types; their embedded prices stay",
          STV_LOG_STR("region", r->region), STV_LOG_INT("no_core_and_ram_skus", nfam),
          STV_LOG_STR("families", fams), STV_LOG_INT("gpu_or_local_ssd", nspecial),
          STV_LOG_STR("gpu_or_local_ssd_types", special));
}

static void skus_page(struct req *r, const char *body, size_t len) {
  struct stv_err err = {0, ""};
  char *next = NULL;
  stv_free(r->page);
  r->page = NULL;
  if (stv__gcp_read_skus(body, len, r->region, &r->rates, &next, &err) != 0) {
    stv__gcp_finish(r, err.code == STV_ENOMEM ? STV_ENOMEM : STV_EIO, "%s: %s", r->what, err.msg);
    return;
  }
  if (next != NULL && strlen(next) > SKU_TOKEN_MAX) {
    stv_free(next);
    stv__gcp_finish(r, STV_EIO, "%s: nextPageToken: longer than %d bytes", r->what, SKU_TOKEN_MAX);
    return;
  }
  if ((r->page = next) != NULL) {
    skus_next(r);
    return;
  }
  if (make_quotes(r) != 0) {
    stv__gcp_finish(r, STV_ENOMEM, "%s: out of memory", r->what);
    return;
  }
  if (r->nquotes == 0) {
    stv__gcp_finish(r, STV_ENOTFOUND,
                    "%s: none of the %zu SKUs read prices a machine type of the catalogue in %s (no Compute "
                    "core and memory SKUs of its families there)",
                    r->what, r->rates.seen, r->region);
    return;
  }
  warn_left_out(r);
  stv__gcp_finish(r, 0, NULL);
}

void stv__gcp_prices_deliver(struct req *r, const struct stv_cloud_result *res) {
  char source[160];
  snprintf(source, sizeof(source), SOURCE " (services/" STV__GCP_COMPUTE_SERVICE "/skus, %s)", r->region);
  if (res->code != 0)
    ((stv_cloud_prices_cb)r->cb)(r->ctx, res, source, NULL, 0);
  else
    ((stv_cloud_prices_cb)r->cb)(r->ctx, res, source, r->quotes, r->nquotes);
}

/* The vCPUs, GiB and whether the SKUs price type t (no GPU, no local SSD), into p; name interned. */
static int price_type_of(struct gcp *g, const struct stv_instance_type *t, struct price_type *p) {
  uint32_t i;
  memset(p, 0, sizeof(*p));
  if ((p->name = stv__gcp_intern(g, t->name)) == NULL) return STV_ENOMEM;
  for (i = 0; i < t->nres; i++) {
    const struct stv_resource *res = &t->capacity[i];
    if (strcmp(res->name, "cpu") == 0)
      p->vcpus = (double)res->value / 1000.0;
    else if (strcmp(res->name, "memory") == 0)
      p->gib = (double)res->value / (double)(1u << 30);
    else if (strstr(res->name, "gpu") != NULL && res->value > 0)
      p->left_out = 1;
  }
  if (strstr(t->name, "lssd") != NULL) p->left_out = 1; /* -lssd, -standardlssd, -highlssd */
  return 0;
}

int stv__gcp_fetch_prices(struct stv_cloud *c, const struct stv_catalog *base, stv_cloud_prices_cb cb,
                          void *ctx) {
  struct gcp *g = c->impl;
  struct req *r;
  size_t i;
  if ((r = stv__gcp_req_new(g, REQ_PRICES, (void *)cb, ctx)) == NULL) return STV_ENOMEM;
  snprintf(r->what, sizeof(r->what), "cloudbilling services.skus.list");
  if (base == NULL || base->provider == NULL || strcmp(base->provider, "gcp") != 0 || base->region == NULL ||
      base->region[0] == '\0' || strlen(base->region) >= sizeof(r->region)) {
    stv__gcp_finish(
        r, STV_EINVAL,
        "gcp live prices: the catalogue is %s%s%s, not a GCP region's (give --catalog gcp:REGION)",
        base != NULL && base->provider ? base->provider : "(no provider)", base != NULL ? ":" : "",
        base != NULL && base->region ? base->region : "");
    return 0;
  }
  snprintf(r->region, sizeof(r->region), "%s", base->region);
  if ((r->ptypes = stv_calloc(base->ntypes + 1, sizeof(*r->ptypes))) == NULL) {
    stv__gcp_finish(r, STV_ENOMEM, "gcp live prices: out of memory");
    return 0;
  }
  for (i = 0; i < base->ntypes; i++)
    if (price_type_of(g, &base->types[i], &r->ptypes[r->nptypes++]) != 0) {
      stv__gcp_finish(r, STV_ENOMEM, "gcp live prices: out of memory");
      return 0;
    }
  skus_next(r);
  return 0;
}
