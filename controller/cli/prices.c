/*
 * `stevedore prices`: a catalogue's prices, and with --live the figures
 * the cloud publishes over them, each row saying where it came from and
 * how old it is (docs/prices-live.md).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "clock_uv.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "pricing.h"

#define MAX_TYPES 64

struct opts {
  const char *catalog, *provider, *config, *cluster_name;
  const char *types[MAX_TYPES];
  size_t ntypes;
  int json, live, require_live;
  double timeout;
};

static void usage(FILE *f) {
  fprintf(f,
          "Usage: stevedore prices [options]\n"
          "\n"
          "Prints a catalogue's prices; with --live, the prices the cloud publishes over them\n"
          "(docs/prices-live.md). Each row says its source (embedded, file or live) and age.\n"
          "\n"
          "Options:\n"
          "  --catalog SPEC        an embedded catalogue (aws:REGION, gcp:REGION, azure:REGION) or a\n"
          "                        catalogue file (default " STV_CATALOG_DEFAULT
          "; with --live --provider aws,\n"
          "                        aws:$AWS_REGION when set)\n"
          "  --type NAME           only this instance type (repeat for more)\n"
          "  --output table|json   default table\n"
          "  --live                read the provider's live prices (Azure: the Retail Prices API; AWS: spot\n"
          "                        price history and reservations; GCP: the Cloud Billing Catalog API)\n"
          "  --provider NAME       aws, gcp or azure: with --live, the provider whose prices to read,\n"
          "                        configured as `stevedore controller --provider NAME` is (--config,\n"
          "                        the environment, the same endpoint overrides)\n"
          "  --config FILE         the controller's YAML configuration (azure:, gcp: sections)\n"
          "  --cluster-name NAME   as the controller's flag\n"
          "  --timeout DURATION    how long the live read may take (default 2m)\n"
          "  --require-live        exit 1 when the live read fails (default: print the catalogue's\n"
          "                        own figures with a warning and exit 0)\n"
          "  -h, --help            this help\n");
}

static int bad(const char *flag, const char *value, const char *why) {
  fprintf(stderr, "stevedore prices: %s %s: %s (see stevedore prices --help)\n", flag, value, why);
  return 2;
}

static int with_value(struct opts *o, const char *flag, const char *v) {
  struct stv_err err = {0, ""};
  if (strcmp(flag, "--catalog") == 0)
    o->catalog = v;
  else if (strcmp(flag, "--provider") == 0) {
    if (strcmp(v, "aws") != 0 && strcmp(v, "gcp") != 0 && strcmp(v, "azure") != 0)
      return bad(flag, v, "expected aws, gcp or azure");
    o->provider = v;
  } else if (strcmp(flag, "--config") == 0)
    o->config = v;
  else if (strcmp(flag, "--cluster-name") == 0)
    o->cluster_name = v;
  else if (strcmp(flag, "--type") == 0) {
    if (o->ntypes == MAX_TYPES) return bad(flag, v, "too many --type flags (at most 64)");
    o->types[o->ntypes++] = v;
  } else if (strcmp(flag, "--output") == 0) {
    if (strcmp(v, "table") != 0 && strcmp(v, "json") != 0) return bad(flag, v, "expected table or json");
    o->json = strcmp(v, "json") == 0;
  } else if (strcmp(flag, "--timeout") == 0) {
    if (stv_config_parse_duration(v, &o->timeout, &err) != 0) return bad(flag, v, err.msg);
    if (!(o->timeout >= 1 && o->timeout <= 3600)) return bad(flag, v, "must be from 1s to 1h");
  } else {
    fprintf(stderr, "stevedore prices: unknown option \"%s\" (see stevedore prices --help)\n", flag);
    return 2;
  }
  return 0;
}

/* Returns 0 to run, -1 after --help, or the exit status. */
static int parse(int argc, char **argv, struct opts *o) {
  static const char *const value_flags[] = {"--catalog", "--provider", "--config",  "--cluster-name",
                                            "--type",    "--output",   "--timeout", NULL};
  int i, rc;
  memset(o, 0, sizeof(*o));
  o->timeout = 120;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *eq = strchr(a, '='), *v;
    char flag[32];
    size_t k, n = eq != NULL ? (size_t)(eq - a) : strlen(a);
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return -1;
    }
    if (strcmp(a, "--live") == 0 || strcmp(a, "--require-live") == 0) {
      *(strcmp(a, "--live") == 0 ? &o->live : &o->require_live) = 1;
      continue;
    }
    snprintf(flag, sizeof(flag), "%.*s", (int)(n < sizeof(flag) - 1 ? n : sizeof(flag) - 1), a);
    for (k = 0; value_flags[k] != NULL && strcmp(value_flags[k], flag) != 0; k++) continue;
    if (value_flags[k] == NULL) {
      fprintf(stderr, "stevedore prices: unknown option \"%s\" (see stevedore prices --help)\n", a);
      return 2;
    }
    if (eq != NULL)
      v = eq + 1;
    else if (i + 1 < argc)
      v = argv[++i];
    else {
      fprintf(stderr, "stevedore prices: %s needs a value (see stevedore prices --help)\n", flag);
      return 2;
    }
    if ((rc = with_value(o, flag, v)) != 0) return rc;
  }
  if (o->live && o->provider == NULL) {
    fprintf(stderr, "stevedore prices: --live needs --provider aws, gcp or azure\n");
    return 2;
  }
  if (!o->live && (o->provider != NULL || o->require_live)) {
    fprintf(stderr, "stevedore prices: --provider and --require-live go with --live\n");
    return 2;
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The live read                                                          */

struct live {
  uv_loop_t loop;
  struct stv_uvclock uc;
  uv_timer_t timer;
  struct stv_http *http;
  struct stv_cloud *cloud;
  const struct stv_catalog *base;
  struct stv_catalog *fresh; /* the answer, or NULL */
  int done;
  char why[STV_ERR_MSG_MAX + 64];
};

static void on_prices(void *ctx, const struct stv_cloud_result *r, const char *source,
                      const struct stv_price_quote *q, size_t n) {
  struct live *l = ctx;
  struct stv_err err = {0, ""};
  l->done = 1;
  if (stv__prices_fresh(l->base, r, source, q, n, &l->fresh, NULL, &err) != 0)
    snprintf(l->why, sizeof(l->why), "%s", err.msg);
  uv_stop(&l->loop);
}

static void on_timeout(uv_timer_t *t) {
  struct live *l = t->data;
  uv_stop(&l->loop);
}

static void close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Reads the provider's prices over base; on failure why says what failed. Returns the fresh catalogue or NULL. */
static struct stv_catalog *read_live(const struct opts *o, const struct stv_config *cfg,
                                     const struct stv_catalog *base, char *why, size_t size) {
  struct live *l = stv_calloc(1, sizeof(*l));
  struct stv_err err = {0, ""};
  struct stv_catalog *fresh = NULL;
  int rc;
  if (l == NULL || uv_loop_init(&l->loop) != 0) {
    snprintf(why, size, "out of memory");
    stv_free(l);
    return NULL;
  }
  l->base = base;
  stv_uvclock_init(&l->uc, &l->loop);
  uv_timer_init(&l->loop, &l->timer);
  l->timer.data = l;
  if ((rc = stv_http_new(&l->http, &l->loop, &err)) == 0 &&
      (rc = stv__daemon_open_cloud(o->provider, cfg, o->cluster_name, &l->uc.clock, l->http, &l->cloud,
                                   &err)) == 0) {
    if (l->cloud->ops->fetch_prices == NULL)
      stv_err_set(&err, STV_EUNSUPPORTED, "the %s provider reads no live prices", o->provider);
    else if ((rc = l->cloud->ops->fetch_prices(l->cloud, base, on_prices, l)) == 0) {
      uv_timer_start(&l->timer, on_timeout, (uint64_t)(o->timeout * 1000), 0);
      uv_run(&l->loop, UV_RUN_DEFAULT);
      if (!l->done)
        stv_err_set(&err, STV_ETIMEDOUT, "%s fetch prices: no answer within %g s (--timeout)", o->provider,
                    o->timeout);
      else if (l->fresh == NULL)
        stv_err_set(&err, STV_EIO, "%s", l->why);
    } else if (err.msg[0] == '\0')
      stv_err_set(&err, rc, "%s fetch prices: %s", o->provider, stv_strerror(rc));
  }
  snprintf(why, size, "%s", err.msg);
  fresh = l->fresh;
  if (l->cloud != NULL) l->cloud->ops->close(l->cloud);
  stv_http_close(l->http);
  stv_uvclock_close(&l->uc);
  uv_walk(&l->loop, close_handle, NULL);
  uv_run(&l->loop, UV_RUN_DEFAULT);
  uv_loop_close(&l->loop);
  stv_free(l);
  return fresh;
}

/* ---------------------------------------------------------------------- */
/* Output                                                                 */

static int wanted(const struct opts *o, const char *type) {
  size_t i;
  if (o->ntypes == 0) return 1;
  for (i = 0; i < o->ntypes; i++)
    if (strcmp(o->types[i], type) == 0) return 1;
  return 0;
}

/* Seconds since an embedded catalogue's data date ("2026-06-18"), or -1. */
static double date_age(const char *date, double now) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  if (date == NULL || sscanf(date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3) return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return now - (double)timegm(&tm);
}

/* An offering's source ("live", "embedded", "file") and age in seconds (-1: unknown). */
static const char *row_source(const struct stv_catalog *c, const struct stv_offering *off, double now,
                              double *age) {
  if (off->live) {
    double at = off->as_of > 0 ? off->as_of : c->live_read_at;
    *age = at > 0 ? now - at : -1;
    return "live";
  }
  *age = date_age(c->data_date, now);
  return c->data_date != NULL ? "embedded" : "file";
}

static void human_age(double s, char *buf, size_t size) {
  if (s < 0)
    snprintf(buf, size, "-");
  else if (s < 120)
    snprintf(buf, size, "%.0fs", s);
  else if (s < 7200)
    snprintf(buf, size, "%.0fm", s / 60);
  else if (s < 3 * 86400)
    snprintf(buf, size, "%.0fh", s / 3600);
  else
    snprintf(buf, size, "%.0fd", s / 86400);
}

static void print_table(const struct opts *o, const struct stv_catalog *c, double now) {
  char line[600], age[32];
  size_t i, rows = 0;
  uint32_t k;
  printf("Prices: %s\n", stv_catalog_describe(c, line, sizeof(line)));
  printf("%-28s %-10s %-22s %12s %6s  %-9s %s\n", "TYPE", "CAPACITY", "ZONE", "PRICE/H", "COUNT", "SOURCE",
         "AGE");
  for (i = 0; i < c->ntypes; i++) {
    const struct stv_instance_type *t = &c->types[i];
    if (!wanted(o, t->name)) continue;
    for (k = 0; k < t->noff; k++) {
      const struct stv_offering *off = &t->off[k];
      double a;
      const char *src = row_source(c, off, now, &a);
      char count[24];
      human_age(a, age, sizeof(age));
      if (off->capacity_type == STV_CT_RESERVED)
        snprintf(count, sizeof(count), "%lld", (long long)off->count);
      else
        snprintf(count, sizeof(count), "-");
      printf("%-28s %-10s %-22s %12.6g %6s  %-9s %s\n", t->name, stv_capacity_type_name(off->capacity_type),
             off->zone, off->price, count, src, age);
      rows++;
    }
  }
  if (rows == 0) printf("(no offering of the types asked for)\n");
}

static int print_json(const struct opts *o, const struct stv_catalog *c, double now) {
  cJSON *root = cJSON_CreateObject(), *rows = cJSON_CreateArray(), *prov = cJSON_CreateObject();
  char line[600], *text;
  size_t i;
  uint32_t k;
  cJSON_AddItemToObject(root, "prices", prov);
  cJSON_AddStringToObject(prov, "summary", stv_catalog_describe(c, line, sizeof(line)));
  cJSON_AddStringToObject(prov, "catalog", c->origin != NULL ? c->origin : "");
  if (c->data_date != NULL) cJSON_AddStringToObject(prov, "dataDate", c->data_date);
  if (c->live_source != NULL) {
    cJSON_AddStringToObject(prov, "liveSource", c->live_source);
    cJSON_AddNumberToObject(prov, "liveOfferings", (double)c->live_offerings);
    cJSON_AddNumberToObject(prov, "liveChanged", (double)c->live_changed);
    cJSON_AddNumberToObject(prov, "liveAsOf", c->live_as_of);
  }
  cJSON_AddStringToObject(root, "provider", c->provider);
  cJSON_AddStringToObject(root, "region", c->region);
  cJSON_AddStringToObject(root, "currency", c->currency);
  cJSON_AddItemToObject(root, "offerings", rows);
  for (i = 0; i < c->ntypes; i++) {
    const struct stv_instance_type *t = &c->types[i];
    if (!wanted(o, t->name)) continue;
    for (k = 0; k < t->noff; k++) {
      const struct stv_offering *off = &t->off[k];
      cJSON *r = cJSON_CreateObject();
      double a;
      const char *src = row_source(c, off, now, &a);
      cJSON_AddStringToObject(r, "instanceType", t->name);
      cJSON_AddStringToObject(r, "capacityType", stv_capacity_type_name(off->capacity_type));
      cJSON_AddStringToObject(r, "zone", off->zone);
      cJSON_AddNumberToObject(r, "price", off->price);
      if (off->capacity_type == STV_CT_RESERVED) cJSON_AddNumberToObject(r, "count", (double)off->count);
      cJSON_AddStringToObject(r, "source", src);
      if (off->live && off->as_of > 0) cJSON_AddNumberToObject(r, "asOf", off->as_of);
      if (a >= 0) cJSON_AddNumberToObject(r, "ageSeconds", floor(a));
      cJSON_AddItemToArray(rows, r);
    }
  }
  text = cJSON_Print(root);
  cJSON_Delete(root);
  if (text == NULL) {
    fprintf(stderr, "stevedore prices: out of memory\n");
    return 1;
  }
  printf("%s\n", text);
  cJSON_free(text);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The command                                                            */

/* The catalogue to read: --catalog, else aws:$AWS_REGION for --live --provider aws, else the default. */
static const char *catalog_spec(const struct opts *o, char *buf, size_t size) {
  const char *region = getenv("AWS_REGION");
  if (o->catalog != NULL) return o->catalog;
  if (region == NULL || *region == '\0') region = getenv("AWS_DEFAULT_REGION");
  if (o->live && strcmp(o->provider, "aws") == 0 && region != NULL && *region != '\0') {
    snprintf(buf, size, "aws:%s", region);
    return buf;
  }
  return STV_CATALOG_DEFAULT;
}

static int run(const struct opts *o, struct stv_config *cfg, struct stv_catalog *cat) {
  struct stv_catalog *fresh = NULL;
  char why[STV_ERR_MSG_MAX + 64];
  int rc = 0;
  if (o->live) {
    if (cat->provider == NULL || strcmp(cat->provider, o->provider) != 0) {
      fprintf(
          stderr,
          "stevedore prices: --catalog %s is a %s catalogue; give --catalog %s:REGION with --provider %s\n",
          cat->origin, cat->provider, o->provider, o->provider);
      return 2;
    }
    fresh = read_live(o, cfg, cat, why, sizeof(why));
    if (fresh == NULL) {
      fprintf(stderr,
              "stevedore prices: warning: live prices not read, the catalogue's own figures follow: %s\n",
              why);
      if (o->require_live) return 1;
    }
  }
  if (o->ntypes > 0) {
    size_t i;
    for (i = 0; i < o->ntypes; i++)
      if (stv_catalog_find(cat, o->types[i]) == NULL)
        fprintf(stderr, "stevedore prices: warning: --type %s: not in catalogue %s\n", o->types[i],
                cat->origin);
  }
  if (o->json)
    rc = print_json(o, fresh != NULL ? fresh : cat, (double)time(NULL));
  else
    print_table(o, fresh != NULL ? fresh : cat, (double)time(NULL));
  if (fresh != NULL) {
    stv_catalog_close(fresh);
    stv_free(fresh);
  }
  return rc;
}

int stv_cmd_prices(int argc, char **argv) {
  struct opts o;
  struct stv_config cfg;
  struct stv_catalog cat;
  struct stv_err err = {0, ""};
  char buf[128];
  const char *spec;
  int rc = parse(argc, argv, &o);
  if (rc != 0) return rc < 0 ? 0 : rc;
  stv_log_set_level(STV_LOG_WARN);
  stv_config_init(&cfg);
  if (o.config != NULL && stv_config_load_file(&cfg, o.config, &err) != 0) {
    fprintf(stderr, "stevedore prices: --config: %s\n", err.msg);
    return 2;
  }
  spec = catalog_spec(&o, buf, sizeof(buf));
  if (stv_catalog_load(&cat, spec, &err) != 0) {
    fprintf(stderr, "stevedore prices: --catalog %s\n", err.msg);
    stv_config_close(&cfg);
    return 2;
  }
  rc = run(&o, &cfg, &cat);
  stv_catalog_close(&cat);
  stv_config_close(&cfg);
  return rc;
}
