/*
 * The aws provider's live prices (cloud.h fetch_prices, the contract in
 * docs/prices-live.md and docs/cloud-aws.md "Prices"):
 *
 *   1. the instance types the cluster's groups launch (the groups listed
 *      first when they never were), restricted to those of the base
 *      catalogue;
 *   2. DescribeSpotPriceHistory for them, Linux/UNIX, StartTime now: AWS
 *      answers the price in effect now per (type, zone), page after page;
 *      the latest per (type, zone) is kept;
 *   3. DescribeReservedInstances, state active, Linux/UNIX: one quote per
 *      (type, zone), a regional reservation's zone NULL, its count the
 *      instances held and its price the effective hourly price (upfront
 *      spread over the term plus the hourly charges), averaged over the
 *      reservations of the same (type, zone) by their counts.
 *
 * A part that fails (reservations not permitted, say) leaves the other's
 * figures standing: the callback gets what was read, and a warning says
 * what was left out and why. Only when every part asked for failed does the
 * callback get the failure.
 */
#include <stdio.h>
#include <string.h>

#include "aws_impl.h"
#include "log.h"
#include "pricing.h"

#define TYPES_PER_CALL 100 /* instance types in one DescribeSpotPriceHistory */

struct pooled {      /* one (type, zone) read */
  char *type, *zone; /* zone NULL: a regional reservation */
  double price;      /* spot: the latest; reserved: the count-weighted sum of hourly prices */
  double as_of;
  int64_t count; /* reserved: instances held; spot: -1 */
};

struct prices_op {
  struct ophead h;
  struct aws *a;
  const struct stv_catalog *base;
  stv_cloud_prices_cb cb;
  void *ctx;
  struct stv_timer late; /* answers from the loop when nothing is to be asked */
  char **types;
  size_t ntypes, chunk;
  struct pooled *spot, *rsv;
  size_t nspot, capspot, nrsv, caprsv;
  int asked, failed; /* parts asked for, parts that failed */
  int first_code;
  char first_msg[STV_ERR_MSG_MAX];
  char source[96];
  char start[40]; /* StartTime: now */
};

static void pooled_free(struct pooled *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    stv_free(p[i].type);
    stv_free(p[i].zone);
  }
  stv_free(p);
}

static void prices_op_free(struct prices_op *op) {
  size_t i;
  stv__aws_op_unlink(&op->h);
  stv_clock_stop(op->a->cloud.clock, &op->late);
  for (i = 0; i < op->ntypes; i++) stv_free(op->types[i]);
  stv_free(op->types);
  pooled_free(op->spot, op->nspot);
  pooled_free(op->rsv, op->nrsv);
  stv_free(op);
}

/* The entry of (type, zone) in *v, added when absent; NULL when out of memory. */
static struct pooled *pool_entry(struct pooled **v, size_t *n, size_t *cap, const char *type,
                                 const char *zone) {
  size_t i;
  struct pooled *p;
  for (i = 0; i < *n; i++)
    if (strcmp((*v)[i].type, type) == 0 &&
        ((*v)[i].zone == NULL ? zone == NULL : zone != NULL && strcmp((*v)[i].zone, zone) == 0))
      return &(*v)[i];
  if (stv_grow((void **)v, cap, *n + 1, sizeof(**v)) != 0) return NULL;
  p = &(*v)[*n];
  memset(p, 0, sizeof(*p));
  p->type = stv_strdup(type);
  p->zone = zone != NULL ? stv_strdup(zone) : NULL;
  if (p->type == NULL || (zone != NULL && p->zone == NULL)) {
    stv_free(p->type);
    stv_free(p->zone);
    return NULL;
  }
  p->as_of = -1;
  (*n)++;
  return p;
}

/* Unix seconds of an RFC 3339 time, 0 when unreadable. */
static double unix_time(const char *when) {
  int64_t secs;
  struct stv_err err = {0, ""};
  if (when == NULL || stv_parse_time(when, &secs, NULL, &err) != 0) return 0;
  return (double)secs;
}

/* Notes a failed part: logged at once, and the whole fails when every part asked for did. */
static void part_failed(struct prices_op *op, const char *what, int code, const char *msg) {
  op->failed++;
  if (op->first_code == 0) {
    op->first_code = code;
    snprintf(op->first_msg, sizeof(op->first_msg), "%s", msg);
  }
  stv_log(STV_LOG_WARN, what, STV_LOG_STR("code", stv_err_name(code)), STV_LOG_STR("error", msg));
}

static void note_source(struct prices_op *op, const char *api) {
  size_t k = strlen(op->source);
  snprintf(op->source + k, sizeof(op->source) - k, "%s%s", k > 0 ? ", " : "", api);
}

/* Hands the quotes read to the callback and ends op. */
static void prices_end(struct prices_op *op) {
  struct stv_cloud_result res = {0, "", 0};
  struct stv_price_quote *q = NULL;
  size_t i, n = 0, total = op->nspot + op->nrsv;
  if (op->asked > 0 && op->failed == op->asked) {
    res.code = op->first_code;
    res.message = op->first_msg;
  } else if (total > 0 && (q = stv_calloc(total, sizeof(*q))) == NULL) {
    res.code = STV_ENOMEM;
    res.message = "out of memory gathering the prices";
  }
  for (i = 0; q != NULL && i < op->nspot; i++, n++) {
    q[n].instance_type = op->spot[i].type;
    q[n].capacity_type = STV_CT_SPOT;
    q[n].zone = op->spot[i].zone;
    q[n].price = op->spot[i].price;
    q[n].count = -1;
    q[n].as_of = op->spot[i].as_of;
  }
  for (i = 0; q != NULL && i < op->nrsv; i++, n++) {
    q[n].instance_type = op->rsv[i].type;
    q[n].capacity_type = STV_CT_RESERVED;
    q[n].zone = op->rsv[i].zone;
    q[n].price = op->rsv[i].count > 0 ? op->rsv[i].price / (double)op->rsv[i].count : 0;
    q[n].count = op->rsv[i].count;
    q[n].as_of = op->rsv[i].as_of > 0 ? op->rsv[i].as_of : 0;
  }
  if (res.code == 0)
    stv_log(STV_LOG_INFO, "aws: live prices read", STV_LOG_STR("source", op->source),
            STV_LOG_INT("types", op->ntypes), STV_LOG_INT("spot", op->nspot),
            STV_LOG_INT("reserved", op->nrsv));
  op->cb(op->ctx, &res, res.code == 0 ? op->source : "", res.code == 0 ? q : NULL, res.code == 0 ? n : 0);
  stv_free(q);
  prices_op_free(op);
}

static void late_cb(struct stv_timer *t) {
  prices_end(t->data);
}

/* ---------------------------------------------------------------------- */
/* Reservations                                                           */

/* Whether r applies to the nodes a group launches; a line says why not. */
static int reservation_applies(const struct stv__aws_reservation *r) {
  const char *why = NULL;
  if (strcmp(r->state, "active") != 0)
    why = "not active";
  else if (r->product == NULL || strncmp(r->product, "Linux/UNIX", 10) != 0)
    why = "not for Linux/UNIX";
  else if (r->tenancy != NULL && strcmp(r->tenancy, "default") != 0)
    why = "dedicated tenancy: the groups' instances run on shared hosts";
  else if (r->currency != NULL && strcmp(r->currency, "USD") != 0)
    why = "priced in another currency than the catalogue's USD";
  else if (r->count <= 0)
    why = "holds no instances";
  if (why == NULL) return 1;
  stv_log(STV_LOG_INFO, "aws: reservation left out", STV_LOG_STR("reservation", r->id),
          STV_LOG_STR("type", r->type), STV_LOG_STR("why", why));
  return 0;
}

static void on_reserved(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  struct prices_op *op = r->op;
  struct stv_err err = {0, ""};
  size_t i;
  if (code != 0) {
    part_failed(op,
                "aws: reservations not read; the prices go on without them (grant "
                "ec2:DescribeReservedInstances, or set aws.reservations: false)",
                code, msg);
    prices_end(op);
    return;
  }
  for (i = 0; i < ans->nreservations; i++) {
    const struct stv__aws_reservation *v = &ans->reservations[i];
    const char *zone = v->scope != NULL && strcmp(v->scope, "Region") == 0 ? NULL : v->zone;
    struct pooled *p;
    double hourly;
    if (!reservation_applies(v)) continue;
    if (stv__aws_reservation_hourly(v, &hourly, &err) != 0) {
      part_failed(op, "aws: reservations not read: an answer of DescribeReservedInstances is no price",
                  err.code, err.msg);
      prices_end(op);
      return;
    }
    if ((p = pool_entry(&op->rsv, &op->nrsv, &op->caprsv, v->type, zone)) == NULL) {
      part_failed(op, "aws: reservations not read", STV_ENOMEM, "out of memory");
      prices_end(op);
      return;
    }
    p->count += v->count;
    p->price += hourly * (double)v->count;
    p->as_of = stv_wall_time(); /* the reservations held now: as of this read */
  }
  note_source(op, "DescribeReservedInstances");
  prices_end(op);
}

static void reservations_next(struct prices_op *op) {
  struct req *r;
  if (!op->a->o.reservations) {
    prices_end(op);
    return;
  }
  op->asked++;
  if ((r = stv__aws_req_new(op->a, 1, "DescribeReservedInstances", STV__AWS_RESERVED, on_reserved, op)) ==
      NULL) {
    part_failed(op, "aws: reservations not read", STV_ENOMEM, "out of memory");
    prices_end(op);
    return;
  }
  stv__aws_form(&r->form, "Filter.1.Name", "state");
  stv__aws_form(&r->form, "Filter.1.Value.1", "active");
  stv__aws_form(&r->form, "Filter.2.Name", "product-description");
  stv__aws_form(&r->form, "Filter.2.Value.1", "Linux/UNIX");
  stv__aws_form(&r->form, "Filter.2.Value.2", "Linux/UNIX (Amazon VPC)");
  stv__aws_req_go(r);
}

/* ---------------------------------------------------------------------- */
/* Spot prices                                                            */

static int spot_page(struct prices_op *op, const char *token);

/* The spot part failed: the pages read before the failure are dropped too (a partial listing is no answer). */
static void spot_failed(struct prices_op *op, const char *what, int code, const char *msg) {
  pooled_free(op->spot, op->nspot);
  op->spot = NULL;
  op->nspot = op->capspot = 0;
  part_failed(op, what, code, msg);
  reservations_next(op);
}

static void on_spot(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  struct prices_op *op = r->op;
  size_t i;
  if (code != 0) {
    spot_failed(op, "aws: spot prices not read; the catalogue's spot figures stay", code, msg);
    return;
  }
  for (i = 0; i < ans->nprices; i++) {
    const struct stv__aws_spot_price *s = &ans->prices[i];
    double when = unix_time(s->timestamp);
    struct pooled *p = pool_entry(&op->spot, &op->nspot, &op->capspot, s->type, s->zone);
    if (p == NULL) {
      spot_failed(op, "aws: spot prices not read", STV_ENOMEM, "out of memory");
      return;
    }
    if (when > p->as_of) { /* the latest of the pool */
      p->as_of = when;
      p->price = s->price;
      p->count = -1;
    }
  }
  if (ans->next_token == NULL) {
    op->chunk += TYPES_PER_CALL;
    if (op->chunk >= op->ntypes) {
      note_source(op, "DescribeSpotPriceHistory");
      reservations_next(op);
      return;
    }
  }
  if (spot_page(op, ans->next_token) != 0)
    spot_failed(op, "aws: spot prices not read", STV_ENOMEM, "out of memory");
}

static int spot_page(struct prices_op *op, const char *token) {
  struct req *r = stv__aws_req_new(op->a, 1, "DescribeSpotPriceHistory", STV__AWS_SPOT, on_spot, op);
  size_t i;
  if (r == NULL) return STV_ENOMEM;
  stv__aws_form(&r->form, "ProductDescription.1", "Linux/UNIX");
  for (i = op->chunk; i < op->ntypes && i < op->chunk + TYPES_PER_CALL; i++)
    stv__aws_formf(&r->form, op->types[i], "InstanceType.%zu", i - op->chunk + 1);
  stv__aws_form(&r->form, "StartTime", op->start);
  stv__aws_form(&r->form, "MaxResults", "1000");
  if (token != NULL) stv__aws_form(&r->form, "NextToken", token);
  stv__aws_req_go(r);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The types, then the parts                                              */

static int in_base(const struct stv_catalog *base, const char *type) {
  size_t i;
  if (base == NULL) return 1;
  for (i = 0; i < base->ntypes; i++)
    if (strcmp(base->types[i].name, type) == 0) return 1;
  return 0;
}

/* The types the known groups launch that the catalogue has, each once. */
static int collect_types(struct prices_op *op) {
  struct aws *a = op->a;
  size_t g, t, j, cap = 0;
  for (g = 0; g < a->nknown; g++)
    for (t = 0; t < a->known[g].ntypes; t++) {
      const char *type = a->known[g].types[t];
      for (j = 0; j < op->ntypes && strcmp(op->types[j], type) != 0; j++) {
      }
      if (j < op->ntypes) continue;
      if (!in_base(op->base, type)) {
        stv_log(STV_LOG_INFO, "aws: no spot price asked for a type the catalogue lacks",
                STV_LOG_STR("group", a->known[g].name), STV_LOG_STR("type", type));
        continue;
      }
      if (stv_grow((void **)&op->types, &cap, op->ntypes + 1, sizeof(*op->types)) != 0 ||
          (op->types[op->ntypes] = stv_strdup(type)) == NULL)
        return STV_ENOMEM;
      op->ntypes++;
    }
  return 0;
}

static void prices_go(struct prices_op *op) {
  if (collect_types(op) != 0) {
    part_failed(op, "aws: live prices not read", STV_ENOMEM, "out of memory");
    op->asked = op->failed;
    prices_end(op);
    return;
  }
  if (op->a->o.spot_prices && op->ntypes > 0) {
    op->asked++;
    if (spot_page(op, NULL) != 0) {
      part_failed(op, "aws: spot prices not read", STV_ENOMEM, "out of memory");
      reservations_next(op);
    }
    return;
  }
  if (op->a->o.spot_prices)
    stv_log(STV_LOG_WARN, "aws: no spot price asked: the cluster's groups launch no type of the catalogue",
            STV_LOG_INT("groups", op->a->nknown));
  reservations_next(op);
}

static void go_cb(struct stv_timer *t) {
  prices_go(t->data);
}

static void prices_after_groups(struct groups_op *gop, int code, const char *msg) {
  struct prices_op *op = gop->ctx;
  if (code == 0 && (code = stv__aws_groups_remember(gop)) != 0) msg = "out of memory";
  stv__aws_groups_op_free(gop);
  if (code != 0) {
    char m[STV_ERR_MSG_MAX];
    snprintf(m, sizeof(m), "cannot list the groups whose types to price: %s", msg);
    op->asked = 1;
    part_failed(op, "aws: live prices not read", code, m);
    prices_end(op);
    return;
  }
  prices_go(op);
}

int stv__aws_fetch_prices(struct stv_cloud *c, const struct stv_catalog *base, stv_cloud_prices_cb cb,
                          void *ctx) {
  struct aws *a = c->impl;
  struct prices_op *op = stv_calloc(1, sizeof(*op));
  int rc = 0;
  if (op == NULL) return STV_ENOMEM;
  stv__aws_op_link(a, &op->h, prices_op_free);
  op->a = a;
  op->base = base;
  op->cb = cb;
  op->ctx = ctx;
  stv_format_time(stv_wall_time(), 0, op->start, sizeof(op->start));
  if (!a->o.spot_prices && !a->o.reservations) {
    stv_log_msg(STV_LOG_WARN, "aws: live prices asked for with aws.spotPrices and aws.reservations both off");
    rc = stv_clock_start(a->cloud.clock, &op->late, 0, late_cb, op) == 0 ? 0 : STV_ENOMEM;
  } else if (!a->listed && a->o.spot_prices) {
    rc = stv__aws_groups_op_start(a, NULL, prices_after_groups, op, NULL);
  } else {
    /* Sent from the loop, so that the callback never runs inside this call. */
    rc = stv_clock_start(a->cloud.clock, &op->late, 0, go_cb, op);
  }
  if (rc != 0) prices_op_free(op);
  return rc;
}
