/*
 * Drives the aws provider for tests/test_cloud_aws.py: opens it from the
 * environment (AWS_* as a user sets them), runs the operations given on
 * the command line one after the other on a libuv loop, and prints each
 * outcome and each provider event as one JSON line.
 *
 *   aws_drive CLUSTER OP...
 *     groups                    list_groups
 *     instances                 list_instances
 *     desired=GROUP:N           set_desired
 *     delete=GROUP:PID[,PID]    delete_instances
 *     prices                    fetch_prices (no base catalogue: every type the groups launch)
 *     wait=SECONDS              let the provider poll, printing its events
 *
 * AWS_DRIVE_SPOT=0 and AWS_DRIVE_RESERVATIONS=0 turn the parts of
 * fetch_prices off (aws.spotPrices, aws.reservations).
 *
 * Exit 0 when every operation ran (whatever its outcome), 2 when the
 * provider could not be opened (the message on stderr).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "aws.h"
#include "base.h"
#include "clock_uv.h"
#include "io.h"
#include "pricing.h"

struct drive {
  uv_loop_t loop;
  struct stv_uvclock uc;
  struct stv_http *http;
  struct stv_cloud *cloud;
  char **ops;
  int nops, next;
  struct stv_timer step;
  char *pids[64];
  size_t npids;
};

static void run_next(struct stv_timer *t);

static void print_result(const char *op, const struct stv_cloud_result *r) {
  struct stv_buf b;
  stv_buf_init(&b);
  stv_buf_printf(&b, "{\"op\":\"%s\",\"code\":\"%s\",\"message\":", op,
                 r->code ? stv_err_name(r->code) : "OK");
  stv_buf_json_str(&b, r->message);
  stv_buf_printf(&b, ",\"retry_after\":%g}", r->retry_after);
  printf("%s\n", b.data);
  fflush(stdout);
  stv_buf_close(&b);
}

static void then(struct drive *d) {
  (void)stv_clock_start(&d->uc.clock, &d->step, 0, run_next, d);
}

static void on_groups(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_group *g,
                      size_t n) {
  struct drive *d = ctx;
  struct stv_buf b;
  size_t i, j;
  print_result("groups", r);
  stv_buf_init(&b);
  stv_buf_puts(&b, "{\"groups\":[");
  for (i = 0; i < n; i++) {
    stv_buf_printf(&b, "%s{\"id\":", i ? "," : "");
    stv_buf_json_str(&b, g[i].id);
    stv_buf_puts(&b, ",\"pool\":");
    if (g[i].pool != NULL)
      stv_buf_json_str(&b, g[i].pool);
    else
      stv_buf_puts(&b, "null");
    stv_buf_printf(&b, ",\"min\":%lld,\"max\":%lld,\"desired\":%lld,\"offerings\":[", (long long)g[i].min,
                   (long long)g[i].max, (long long)g[i].desired);
    for (j = 0; j < g[i].noffer; j++)
      stv_buf_printf(&b, "%s[\"%s\",\"%s\",\"%s\"]", j ? "," : "", g[i].offerings[j].instance_type,
                     g[i].offerings[j].zone, stv_capacity_type_name(g[i].offerings[j].capacity_type));
    stv_buf_puts(&b, "]}");
  }
  stv_buf_puts(&b, "]}");
  printf("%s\n", b.data);
  fflush(stdout);
  stv_buf_close(&b);
  then(d);
}

static void on_prices(void *ctx, const struct stv_cloud_result *r, const char *source,
                      const struct stv_price_quote *q, size_t n) {
  struct drive *d = ctx;
  struct stv_buf b;
  size_t i;
  print_result("prices", r);
  stv_buf_init(&b);
  stv_buf_puts(&b, "{\"source\":");
  stv_buf_json_str(&b, source);
  stv_buf_puts(&b, ",\"quotes\":[");
  for (i = 0; i < n; i++) {
    stv_buf_printf(&b, "%s[\"%s\",\"%s\",", i ? "," : "", q[i].instance_type,
                   stv_capacity_type_name(q[i].capacity_type));
    if (q[i].zone != NULL)
      stv_buf_json_str(&b, q[i].zone);
    else
      stv_buf_puts(&b, "null");
    stv_buf_printf(&b, ",%.6f,%lld,%.0f]", q[i].price, (long long)q[i].count, q[i].as_of);
  }
  stv_buf_puts(&b, "]}");
  printf("%s\n", b.data);
  fflush(stdout);
  stv_buf_close(&b);
  then(d);
}

static const char *state_name(enum stv_cloud_instance_state s) {
  return s == STV_INSTANCE_PENDING ? "pending" : s == STV_INSTANCE_RUNNING ? "running" : "terminating";
}

static void on_instances(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_instance *v,
                         size_t n) {
  struct drive *d = ctx;
  struct stv_buf b;
  size_t i;
  print_result("instances", r);
  stv_buf_init(&b);
  stv_buf_puts(&b, "{\"instances\":[");
  for (i = 0; i < n; i++)
    stv_buf_printf(&b,
                   "%s{\"id\":\"%s\",\"group\":\"%s\",\"type\":\"%s\",\"zone\":\"%s\",\"capacity\":\"%s\","
                   "\"state\":\"%s\"}",
                   i ? "," : "", v[i].provider_id, v[i].group_id, v[i].instance_type, v[i].zone,
                   stv_capacity_type_name(v[i].capacity_type), state_name(v[i].state));
  stv_buf_puts(&b, "]}");
  printf("%s\n", b.data);
  fflush(stdout);
  stv_buf_close(&b);
  then(d);
}

static void on_done(void *ctx, const struct stv_cloud_result *r) {
  struct drive *d = ctx;
  print_result(d->ops[d->next - 1], r);
  then(d);
}

static void on_event(void *ctx, const struct stv_cloud_event *ev) {
  static const char *const kinds[] = {"running", "launch_failed", "interruption", "terminated"};
  const struct stv_cloud_instance *in = ev->instance;
  struct stv_buf b;
  (void)ctx;
  stv_buf_init(&b);
  stv_buf_printf(&b, "{\"event\":\"%s\",\"code\":\"%s\",\"group\":", kinds[ev->kind],
                 ev->code ? stv_err_name(ev->code) : "OK");
  stv_buf_json_str(&b, in->group_id != NULL ? in->group_id : "");
  stv_buf_puts(&b, ",\"id\":");
  stv_buf_json_str(&b, in->provider_id != NULL ? in->provider_id : "");
  stv_buf_puts(&b, ",\"type\":");
  stv_buf_json_str(&b, in->instance_type != NULL ? in->instance_type : "");
  stv_buf_puts(&b, ",\"zone\":");
  stv_buf_json_str(&b, in->zone != NULL ? in->zone : "");
  stv_buf_puts(&b, ",\"message\":");
  stv_buf_json_str(&b, ev->message);
  stv_buf_puts(&b, "}");
  printf("%s\n", b.data);
  fflush(stdout);
  stv_buf_close(&b);
}

static void finish(struct drive *d) {
  d->cloud->ops->close(d->cloud);
  d->cloud = NULL;
  stv_http_close(d->http);
  d->http = NULL;
  stv_uvclock_close(&d->uc);
}

/* Splits "GROUP:REST" in place; returns REST or NULL. */
static char *after_colon(char *s) {
  char *c = strchr(s, ':');
  if (c == NULL) return NULL;
  *c = '\0';
  return c + 1;
}

static int start_op(struct drive *d, char *op, int *waiting) {
  static char group[256];
  char *rest;
  *waiting = 0;
  if (strcmp(op, "groups") == 0) return d->cloud->ops->list_groups(d->cloud, on_groups, d);
  if (strcmp(op, "instances") == 0) return d->cloud->ops->list_instances(d->cloud, on_instances, d);
  if (strcmp(op, "prices") == 0) return d->cloud->ops->fetch_prices(d->cloud, NULL, on_prices, d);
  if (strncmp(op, "desired=", 8) == 0 && (rest = after_colon(strcpy(group, op + 8))) != NULL)
    return d->cloud->ops->set_desired(d->cloud, group, strtoll(rest, NULL, 10), on_done, d);
  if (strncmp(op, "delete=", 7) == 0 && (rest = after_colon(strcpy(group, op + 7))) != NULL) {
    char *save = NULL, *p;
    d->npids = 0;
    for (p = strtok_r(rest, ",", &save); p != NULL && d->npids < 64; p = strtok_r(NULL, ",", &save))
      d->pids[d->npids++] = p;
    return d->cloud->ops->delete_instances(d->cloud, group, (const char *const *)d->pids, d->npids, on_done,
                                           d);
  }
  if (strncmp(op, "wait=", 5) == 0) {
    *waiting = 1;
    return stv_clock_start(&d->uc.clock, &d->step, atof(op + 5), run_next, d);
  }
  fprintf(stderr, "aws_drive: unknown operation \"%s\"\n", op);
  return STV_EINVAL;
}

static void run_next(struct stv_timer *t) {
  struct drive *d = t->data;
  int rc, waiting;
  char name[64];
  if (d->next == d->nops) {
    finish(d);
    return;
  }
  snprintf(name, sizeof(name), "%.60s", d->ops[d->next]);
  rc = start_op(d, d->ops[d->next++], &waiting);
  if (rc != 0) {
    struct stv_cloud_result r = {rc, "the call did not start", 0};
    print_result(name, &r);
    then(d);
  }
}

int main(int argc, char **argv) {
  struct drive d;
  struct stv_aws_opts o;
  struct stv_err err = {0, ""};
  int rc;
  if (argc < 2) {
    fprintf(stderr, "usage: aws_drive CLUSTER OP...\n");
    return 2;
  }
  memset(&d, 0, sizeof(d));
  curl_global_init(CURL_GLOBAL_DEFAULT);
  uv_loop_init(&d.loop);
  stv_uvclock_init(&d.uc, &d.loop);
  if ((rc = stv_http_new(&d.http, &d.loop, &err)) != 0) return 1;
  stv_aws_opts_default(&o);
  o.cluster_name = argv[1];
  o.http = d.http;
  o.poll_interval = getenv("AWS_DRIVE_POLL") != NULL ? atof(getenv("AWS_DRIVE_POLL")) : 1;
  o.unavailable_ttl = 180;
  o.spot_prices = getenv("AWS_DRIVE_SPOT") == NULL || strcmp(getenv("AWS_DRIVE_SPOT"), "0") != 0;
  o.reservations =
      getenv("AWS_DRIVE_RESERVATIONS") == NULL || strcmp(getenv("AWS_DRIVE_RESERVATIONS"), "0") != 0;
  if ((rc = stv_aws_new(&d.cloud, &d.uc.clock, &o, &err)) != 0) {
    fprintf(stderr, "aws_drive: %s\n", err.msg);
    stv_http_close(d.http);
    stv_uvclock_close(&d.uc);
    while (uv_run(&d.loop, UV_RUN_DEFAULT) != 0) {
    }
    uv_loop_close(&d.loop);
    curl_global_cleanup();
    return 2;
  }
  d.cloud->on_event = on_event;
  d.ops = argv + 2;
  d.nops = argc - 2;
  then(&d);
  while (uv_run(&d.loop, UV_RUN_DEFAULT) != 0) {
  }
  uv_loop_close(&d.loop);
  curl_global_cleanup();
  return 0;
}
