/*
 * Live prices: a catalogue with the figures a cloud publishes (struct
 * stv_price_quote) over the embedded or file ones, and the provenance that
 * says which figures are which (docs/prices-live.md).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "pricing.h"

#define MAX_PRICE 1e6          /* per hour; as the catalogue loader's limit */
#define MAX_COUNT 1000000      /* reserved instances of one offering */
#define MAX_AS_OF 4102444800.0 /* 2100-01-01: a later as_of is a unit mistake (ms, ns) */

/* ---------------------------------------------------------------------- */
/* When the embedded figures were collected (pricing/data/regions/README.md) */

struct data_date {
  const char *prefix; /* a catalogue name or "provider:" */
  const char *date;
};

/* The first entry whose prefix starts the name wins. */
static const struct data_date data_dates[] = {
    {"aws:us-east-1", "2026-07-20"}, /* Karpenter's generated prices */
    {"aws:us-gov-", "2026-07-20"},
    {"aws:", "2025-04-04"}, /* the public EC2 pricing page copy */
    {"gcp:", "2026-08-03"},
    {"azure:", "2026-06-18"}, /* Azure Retail Prices API, via Karpenter's Azure provider */
};

const char *stv__embedded_data_date(const char *name) {
  size_t i;
  for (i = 0; i < sizeof(data_dates) / sizeof(data_dates[0]); i++) {
    if (strncmp(name, data_dates[i].prefix, strlen(data_dates[i].prefix)) == 0) return data_dates[i].date;
  }
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* Copying a catalogue                                                    */

static int oom(struct stv_err *err) {
  return stv_err_set(err, STV_ENOMEM, "out of memory");
}

/* Interns s (may be NULL) in out's pool; *ok cleared when memory runs out. */
static const char *dup_str(struct stv_catalog *out, const char *s, int *ok) {
  const char *r;
  if (s == NULL) return NULL;
  r = stv_strpool_get(&out->pool, s);
  if (r == NULL) *ok = 0;
  return r;
}

static void *dup_mem(struct stv_catalog *out, const void *src, size_t size, int *ok) {
  void *p;
  if (size == 0) return NULL;
  p = stv_arena_alloc(&out->mem, size);
  if (p == NULL) {
    *ok = 0;
    return NULL;
  }
  memcpy(p, src, size);
  return p;
}

static void dup_resources(struct stv_catalog *out, struct stv_resource *r, uint32_t n, int *ok) {
  uint32_t i;
  for (i = 0; r != NULL && i < n; i++) r[i].name = dup_str(out, r[i].name, ok);
}

/* Copies type t into *d (out's strings and arrays), with room for extra more offerings. */
static void dup_type(struct stv_catalog *out, struct stv_instance_type *d, const struct stv_instance_type *t,
                     uint32_t extra, int *ok) {
  uint32_t i;
  *d = *t;
  d->name = dup_str(out, t->name, ok);
  d->arch = dup_str(out, t->arch, ok);
  d->capacity = dup_mem(out, t->capacity, t->nres * sizeof(*t->capacity), ok);
  d->allocatable = dup_mem(out, t->allocatable, t->nres * sizeof(*t->allocatable), ok);
  dup_resources(out, d->capacity, t->nres, ok);
  dup_resources(out, d->allocatable, t->nres, ok);
  d->labels.kv = dup_mem(out, t->labels.kv, t->labels.n * sizeof(*t->labels.kv), ok);
  for (i = 0; d->labels.kv != NULL && i < t->labels.n; i++) {
    d->labels.kv[i].key = dup_str(out, t->labels.kv[i].key, ok);
    d->labels.kv[i].value = dup_str(out, t->labels.kv[i].value, ok);
  }
  d->off = stv_arena_alloc(&out->mem, (size_t)(t->noff + extra) * sizeof(*d->off));
  if (d->off == NULL) {
    *ok = 0;
    d->noff = 0;
    return;
  }
  memcpy(d->off, t->off, t->noff * sizeof(*t->off));
  for (i = 0; i < t->noff; i++) d->off[i].zone = dup_str(out, t->off[i].zone, ok);
}

/* Copies base into out; extra[i] (extra may be NULL) more offerings of room for type i. */
static int copy_catalog(struct stv_catalog *out, const struct stv_catalog *base, const uint32_t *extra,
                        struct stv_err *err) {
  int ok = 1;
  size_t i;
  memset(out, 0, sizeof(*out));
  stv_strpool_init(&out->pool);
  stv_arena_init(&out->mem);
  out->provider = dup_str(out, base->provider, &ok);
  out->region = dup_str(out, base->region, &ok);
  out->currency = dup_str(out, base->currency, &ok);
  out->origin = dup_str(out, base->origin, &ok);
  out->data_date = base->data_date; /* static */
  out->live_source = dup_str(out, base->live_source, &ok);
  out->live_offerings = base->live_offerings;
  out->live_changed = base->live_changed;
  out->live_read_at = base->live_read_at;
  out->live_as_of = base->live_as_of;
  out->left_out = base->left_out;
  out->ntypes = base->ntypes;
  if (base->ntypes > 0) {
    out->types = stv_arena_alloc(&out->mem, base->ntypes * sizeof(*out->types));
    if (out->types == NULL) ok = 0;
  }
  for (i = 0; ok && i < base->ntypes; i++)
    dup_type(out, &out->types[i], &base->types[i], extra != NULL ? extra[i] : 0, &ok);
  if (!ok) {
    stv_catalog_close(out);
    return oom(err);
  }
  return 0;
}

int stv_catalog_copy(struct stv_catalog *out, const struct stv_catalog *base, struct stv_err *err) {
  return copy_catalog(out, base, NULL, err);
}

/* ---------------------------------------------------------------------- */
/* Applying quotes                                                        */

/* Names quote i in messages: "quote 3 (m5.large spot us-east-1a)". */
static void quote_name(const struct stv_price_quote *q, size_t i, char *buf, size_t size) {
  snprintf(buf, size, "quote %zu (%.64s %s %.40s)", i, q->instance_type ? q->instance_type : "(no type)",
           (unsigned)q->capacity_type < STV_CT_COUNT ? stv_capacity_type_name(q->capacity_type)
                                                     : "(bad capacity type)",
           q->zone ? q->zone : "every zone");
}

static int check_quote(const struct stv_price_quote *q, size_t i, const char *source, struct stv_err *err) {
  char name[200];
  const char *src = source != NULL ? source : "live prices";
  quote_name(q, i, name, sizeof(name));
  if (q->instance_type == NULL || q->instance_type[0] == '\0')
    return stv_err_set(err, STV_EINVAL, "%s: %s: instance_type: missing", src, name);
  if ((unsigned)q->capacity_type >= STV_CT_COUNT)
    return stv_err_set(err, STV_EINVAL, "%s: %s: capacity_type: %d is not reserved, spot or on-demand", src,
                       name, (int)q->capacity_type);
  if (q->zone != NULL && q->zone[0] == '\0')
    return stv_err_set(err, STV_EINVAL, "%s: %s: zone: empty (NULL means every zone)", src, name);
  if (!isfinite(q->price)) return stv_err_set(err, STV_EINVAL, "%s: %s: price: not a number", src, name);
  if (q->price < 0) return stv_err_set(err, STV_EINVAL, "%s: %s: price: %g is negative", src, name, q->price);
  if (q->price > MAX_PRICE)
    return stv_err_set(err, STV_EINVAL, "%s: %s: price: %g per hour is not plausible (at most %g)", src, name,
                       q->price, MAX_PRICE);
  if (q->capacity_type == STV_CT_RESERVED && (q->count < 0 || q->count > MAX_COUNT))
    return stv_err_set(err, STV_EINVAL, "%s: %s: count: %lld instances held must be from 0 to %d", src, name,
                       (long long)q->count, MAX_COUNT);
  if (!(q->as_of >= 0 && q->as_of <= MAX_AS_OF))
    return stv_err_set(err, STV_EINVAL, "%s: %s: as_of: %g is not unix seconds from 1970 to 2100", src, name,
                       q->as_of);
  return 0;
}

/* 1 when type t is offered in zone (any capacity type). */
static int type_has_zone(const struct stv_instance_type *t, const char *zone) {
  uint32_t k;
  for (k = 0; k < t->noff; k++) {
    if (strcmp(t->off[k].zone, zone) == 0) return 1;
  }
  return 0;
}

/* 1 when offering k of t is the first of t's offerings in its zone. */
static int first_in_zone(const struct stv_instance_type *t, uint32_t k) {
  uint32_t j;
  for (j = 0; j < k; j++) {
    if (strcmp(t->off[j].zone, t->off[k].zone) == 0) return 0;
  }
  return 1;
}

/* The number of distinct zones among t's first n offerings. */
static uint32_t type_zones(const struct stv_instance_type *t, uint32_t n) {
  uint32_t k, nz = 0;
  for (k = 0; k < n; k++) nz += (uint32_t)first_in_zone(t, k);
  return nz;
}

/*
 * Per quote, the type it prices (index into base->types, or SIZE_MAX), and
 * per type, how many offerings the quotes may add: at most one per zone
 * and capacity type, so room for every zone of every capacity type quoted.
 */
static int plan_room(const struct stv_catalog *base, const struct stv_price_quote *q, size_t n,
                     const char *source, size_t *type_of, uint32_t *extra, struct stv_quote_stats *st,
                     struct stv_err *err) {
  size_t i;
  unsigned char *seen_ct = stv_calloc(base->ntypes ? base->ntypes : 1, 1);
  if (seen_ct == NULL) return oom(err);
  for (i = 0; i < n; i++) {
    const struct stv_instance_type *t;
    unsigned bit = 1u << q[i].capacity_type;
    int rc = check_quote(&q[i], i, source, err);
    if (rc != 0) {
      stv_free(seen_ct);
      return rc;
    }
    type_of[i] = SIZE_MAX;
    t = stv_catalog_find(base, q[i].instance_type);
    if (t == NULL) {
      st->unknown_types++;
      continue;
    }
    if (q[i].zone != NULL && !type_has_zone(t, q[i].zone)) {
      st->unknown_zones++;
      continue;
    }
    type_of[i] = (size_t)(t - base->types);
    if (!(seen_ct[type_of[i]] & bit)) extra[type_of[i]] += type_zones(t, t->noff);
    seen_ct[type_of[i]] |= (unsigned char)bit;
  }
  stv_free(seen_ct);
  return 0;
}

/* The offering of t with capacity type ct in zone, or NULL. */
static struct stv_offering *find_off(struct stv_instance_type *t, enum stv_capacity_type ct,
                                     const char *zone) {
  uint32_t k;
  for (k = 0; k < t->noff; k++) {
    if (t->off[k].capacity_type == ct && strcmp(t->off[k].zone, zone) == 0) return &t->off[k];
  }
  return NULL;
}

/* Applying state: per offering of out, whether this call set it already (bits in marks). */
struct apply {
  struct stv_catalog *out;
  const struct stv_catalog *base;
  struct stv_quote_stats *st;
  const uint32_t *nbase; /* per type: the base's offerings (the rest were added here) */
};

/* Sets offering o of type t (index ti) to price/count from quote q; count_add: add to what this call set. */
static void set_off(struct apply *a, struct stv_offering *o, const struct stv_price_quote *q, int64_t count) {
  if (o->live && o->capacity_type != STV_CT_RESERVED) {
    if (q->as_of < o->as_of) {
      a->st->superseded++;
      return;
    }
    a->st->superseded++;
  }
  if (o->live && o->capacity_type == STV_CT_RESERVED) {
    /* several reservations of one offering: counts add, the price is their weighted mean */
    int64_t total = o->count + count;
    o->price =
        total > 0 ? (o->price * (double)o->count + q->price * (double)count) / (double)total : q->price;
    o->count = total;
    if (q->as_of > 0 && (o->as_of == 0 || q->as_of < o->as_of)) o->as_of = q->as_of;
    a->st->applied++;
    return;
  }
  o->price = q->price;
  if (o->capacity_type == STV_CT_RESERVED) o->count = count;
  o->live = 1;
  o->as_of = q->as_of;
  a->st->applied++;
}

/* Adds an offering of ct in zone to t (room was planned); returns it. */
static struct stv_offering *add_off(struct apply *a, struct stv_instance_type *t, enum stv_capacity_type ct,
                                    const char *zone) {
  struct stv_offering *o = &t->off[t->noff++];
  memset(o, 0, sizeof(*o));
  o->capacity_type = ct;
  o->zone = zone; /* already interned in out's pool */
  o->interruption_rate = -1;
  o->count = ct == STV_CT_RESERVED ? 0 : -1;
  a->st->added++;
  return o;
}

/* A reserved quote replaces the base's offering in its zone; the first quote for it resets it. */
static struct stv_offering *reserved_off(struct apply *a, struct stv_instance_type *t, const char *zone) {
  struct stv_offering *o = find_off(t, STV_CT_RESERVED, zone);
  if (o == NULL) return add_off(a, t, STV_CT_RESERVED, zone);
  if (!o->live) o->count = 0;
  return o;
}

/* Applies q to the offering of its capacity type in zone (interned in out) of t. */
static void apply_zone(struct apply *a, struct stv_instance_type *t, const struct stv_price_quote *q,
                       const char *zone, int64_t count) {
  struct stv_offering *o;
  if (q->capacity_type == STV_CT_RESERVED) {
    set_off(a, reserved_off(a, t, zone), q, count);
    return;
  }
  o = find_off(t, q->capacity_type, zone);
  if (o == NULL) o = add_off(a, t, q->capacity_type, zone);
  set_off(a, o, q, -1);
}

static void apply_one(struct apply *a, size_t ti, const struct stv_price_quote *q) {
  struct stv_instance_type *t = &a->out->types[ti];
  uint32_t nb = a->nbase[ti], k, nz, z = 0;
  if (q->zone != NULL) {
    for (k = 0; k < nb; k++) {
      if (strcmp(t->off[k].zone, q->zone) == 0) break;
    }
    apply_zone(a, t, q, t->off[k].zone, q->count); /* plan_room saw the zone */
    return;
  }
  nz = type_zones(t, nb);
  for (k = 0; k < nb; k++) {
    int64_t share;
    if (!first_in_zone(t, k)) continue;
    share = q->count / nz + ((int64_t)z < q->count % nz ? 1 : 0);
    apply_zone(a, t, q, t->off[k].zone, share);
    z++;
  }
}

/* Counts the live offerings, the changed ones and the oldest as_of into out's provenance. */
static void sum_up(struct stv_catalog *out, const struct stv_catalog *base, const uint32_t *nbase,
                   struct stv_quote_stats *st) {
  size_t i;
  uint32_t k;
  out->live_offerings = out->live_changed = 0;
  out->live_as_of = 0;
  for (i = 0; i < out->ntypes; i++) {
    const struct stv_instance_type *t = &out->types[i];
    for (k = 0; k < t->noff; k++) {
      const struct stv_offering *o = &t->off[k];
      if (!o->live) continue;
      out->live_offerings++;
      if (o->as_of > 0 && (out->live_as_of == 0 || o->as_of < out->live_as_of)) out->live_as_of = o->as_of;
      if (k >= nbase[i] || o->price != base->types[i].off[k].price || o->count != base->types[i].off[k].count)
        out->live_changed++;
    }
  }
  st->changed = out->live_changed;
}

int stv_catalog_apply_quotes(struct stv_catalog *out, const struct stv_catalog *base,
                             const struct stv_price_quote *q, size_t n, const char *source,
                             struct stv_quote_stats *st, struct stv_err *err) {
  struct stv_quote_stats local;
  size_t *type_of = stv_calloc(n ? n : 1, sizeof(*type_of));
  uint32_t *extra = stv_calloc(base->ntypes ? base->ntypes : 1, sizeof(*extra));
  uint32_t *nbase = stv_calloc(base->ntypes ? base->ntypes : 1, sizeof(*nbase));
  struct apply a;
  size_t i;
  int rc;

  memset(out, 0, sizeof(*out));
  if (st == NULL) st = &local;
  memset(st, 0, sizeof(*st));
  st->quotes = n;
  if (type_of == NULL || extra == NULL || nbase == NULL) {
    rc = oom(err);
    goto done;
  }
  rc = plan_room(base, q, n, source, type_of, extra, st, err);
  if (rc == 0) rc = copy_catalog(out, base, extra, err);
  if (rc != 0) goto done;
  for (i = 0; i < base->ntypes; i++) nbase[i] = base->types[i].noff;
  /* live marks from an earlier application are the base's figures now */
  for (i = 0; i < out->ntypes; i++) {
    uint32_t k;
    for (k = 0; k < out->types[i].noff; k++) out->types[i].off[k].live = 0;
  }
  a.out = out;
  a.base = base;
  a.st = st;
  a.nbase = nbase;
  for (i = 0; i < n; i++) {
    if (type_of[i] != SIZE_MAX) apply_one(&a, type_of[i], &q[i]);
  }
  sum_up(out, base, nbase, st);
  {
    int ok = 1;
    out->live_source = dup_str(out, source != NULL ? source : "live prices", &ok);
    if (!ok) {
      stv_catalog_close(out);
      rc = oom(err);
      goto done;
    }
  }
  out->live_read_at = (double)time(NULL);
done:
  stv_free(type_of);
  stv_free(extra);
  stv_free(nbase);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Saying which prices are in use                                         */

const char *stv_catalog_describe(const struct stv_catalog *c, char *buf, size_t size) {
  int w;
  if (c->origin == NULL)
    w = snprintf(buf, size, "catalogue %s:%s", c->provider ? c->provider : "?", c->region ? c->region : "?");
  else if (c->data_date != NULL)
    w = snprintf(buf, size, "embedded catalogue %s (data of %s)", c->origin, c->data_date);
  else
    w = snprintf(buf, size, "catalogue file %s", c->origin);
  if (w < 0 || (size_t)w >= size || c->live_source == NULL) return buf;
  if (c->live_as_of > 0) {
    time_t t = (time_t)c->live_as_of;
    struct tm tm;
    char when[32];
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf + w, size - (size_t)w, ", %zu live figures (%zu changed) from %s as of %s",
             c->live_offerings, c->live_changed, c->live_source, when);
  } else {
    snprintf(buf + w, size - (size_t)w, ", %zu live figures (%zu changed) from %s", c->live_offerings,
             c->live_changed, c->live_source);
  }
  return buf;
}
