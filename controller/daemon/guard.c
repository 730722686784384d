/*
 * The provider guard: the stv_cloud the reconciler is given is this one,
 * with the real provider inside. It does three things a bare provider
 * cannot:
 *
 * - counts every answer in stevedore_cloud_calls_total{provider,
 *   operation, code} and the errors among them, with every failed launch,
 *   in stevedore_cloud_call_errors_total (a dry run's answers are not
 *   counted: no call was made);
 * - with --dry-run, keeps every call that would change the cloud
 *   (set_desired, delete_instances) from reaching it: the call is logged
 *   ("would scale ...") and answered with success on the next tick, as a
 *   provider's answer would come (never from inside the call);
 * - shuts at once when the replica stops leading: the provider inside is
 *   closed (its callbacks never run) and every later call is refused, while
 *   the reconciler that holds this stv_cloud may still be waiting for a
 *   solve on the worker thread.
 *
 * Each call in flight has a record (its caller's callback and context) in
 * a list, so that shutting frees them all: the provider inside abandons
 * its callbacks on close, and the guard must not leak what they carried.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

enum kind { K_GROUPS, K_INSTANCES, K_DONE };

struct call {
  struct stv__guard *g;
  struct call *prev, *next;
  enum kind kind;
  const char *op; /* list_groups, list_instances, set_desired, delete_instances */
  union {
    stv_cloud_groups_cb groups;
    stv_cloud_instances_cb instances;
    stv_cloud_done_cb done;
  } cb;
  void *ctx;
  struct stv_timer timer; /* dry run: the answer on the next tick */
};

struct stv__guard {
  struct stv_cloud cloud; /* what the reconciler holds */
  struct stv_cloud *inner;
  const char *name; /* inner's ops->name (static), for labels after it is closed */
  int dry_run, shut;
  struct stv_metric *calls_total, *errors;
  struct call *calls;
};

/* Counts one answer of operation op: every one in calls, the failed ones in errors too. */
static void count(struct stv__guard *g, const char *op, int code) {
  const char *values[3];
  values[0] = g->name;
  values[1] = op;
  values[2] = code == 0 ? "ok" : stv_err_name(code);
  if (g->calls_total != NULL) stv__dmetrics_add(g->calls_total, values, 1);
  if (g->errors != NULL && code != 0) stv__dmetrics_add(g->errors, values, 1);
}

static struct call *call_new(struct stv__guard *g, enum kind kind, const char *op, void *ctx) {
  struct call *c = stv_calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->g = g;
  c->kind = kind;
  c->op = op;
  c->ctx = ctx;
  c->next = g->calls;
  if (c->next != NULL) c->next->prev = c;
  g->calls = c;
  return c;
}

static void call_free(struct call *c) {
  struct stv__guard *g = c->g;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    g->calls = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  stv_free(c);
}

/* ---- answers from the provider inside ---------------------------------- */

static void on_groups(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_group *v,
                      size_t n) {
  struct call *c = ctx;
  stv_cloud_groups_cb cb = c->cb.groups;
  void *cctx = c->ctx;
  count(c->g, c->op, r->code);
  call_free(c);
  cb(cctx, r, v, n);
}

static void on_instances(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_instance *v,
                         size_t n) {
  struct call *c = ctx;
  stv_cloud_instances_cb cb = c->cb.instances;
  void *cctx = c->ctx;
  count(c->g, c->op, r->code);
  call_free(c);
  cb(cctx, r, v, n);
}

static void on_done(void *ctx, const struct stv_cloud_result *r) {
  struct call *c = ctx;
  stv_cloud_done_cb cb = c->cb.done;
  void *cctx = c->ctx;
  count(c->g, c->op, r->code);
  call_free(c);
  cb(cctx, r);
}

static void on_event(void *ctx, const struct stv_cloud_event *ev) {
  struct stv__guard *g = ctx;
  if (g->shut) return;
  if (ev->kind == STV_CLOUD_EV_LAUNCH_FAILED) count(g, "launch", ev->code != 0 ? ev->code : STV_ECAPACITY);
  if (g->cloud.on_event != NULL) g->cloud.on_event(g->cloud.event_ctx, ev);
}

/* ---- the operations ---------------------------------------------------- */

static int g_list_groups(struct stv_cloud *cl, stv_cloud_groups_cb cb, void *ctx) {
  struct stv__guard *g = cl->impl;
  struct call *c;
  int rc;
  if (g->shut) return -ECANCELED;
  if ((c = call_new(g, K_GROUPS, "list_groups", ctx)) == NULL) return STV_ENOMEM;
  c->cb.groups = cb;
  if ((rc = g->inner->ops->list_groups(g->inner, on_groups, c)) != 0) {
    count(g, c->op, rc);
    call_free(c);
  }
  return rc;
}

static int g_list_instances(struct stv_cloud *cl, stv_cloud_instances_cb cb, void *ctx) {
  struct stv__guard *g = cl->impl;
  struct call *c;
  int rc;
  if (g->shut) return -ECANCELED;
  if ((c = call_new(g, K_INSTANCES, "list_instances", ctx)) == NULL) return STV_ENOMEM;
  c->cb.instances = cb;
  if ((rc = g->inner->ops->list_instances(g->inner, on_instances, c)) != 0) {
    count(g, c->op, rc);
    call_free(c);
  }
  return rc;
}

/* Dry run: the success answer, on the next tick. */
static void dry_answer(struct stv_timer *t) {
  struct call *c = t->data;
  struct stv_cloud_result r = {0, "", 0};
  stv_cloud_done_cb cb = c->cb.done;
  void *cctx = c->ctx;
  call_free(c);
  cb(cctx, &r);
}

static int dry_call(struct stv__guard *g, const char *op, stv_cloud_done_cb cb, void *ctx) {
  struct call *c = call_new(g, K_DONE, op, ctx);
  int rc;
  if (c == NULL) return STV_ENOMEM;
  c->cb.done = cb;
  if ((rc = stv_clock_start(g->cloud.clock, &c->timer, 0, dry_answer, c)) != 0) call_free(c);
  return rc;
}

static int g_set_desired(struct stv_cloud *cl, const char *group_id, int64_t desired, stv_cloud_done_cb cb,
                         void *ctx) {
  struct stv__guard *g = cl->impl;
  struct call *c;
  int rc;
  if (g->shut) return -ECANCELED;
  if (g->dry_run) {
    stv_log(STV_LOG_INFO, "dry run: would scale", STV_LOG_STR("provider", g->name),
            STV_LOG_STR("group", group_id), STV_LOG_INT("desired", desired));
    return dry_call(g, "set_desired", cb, ctx);
  }
  if ((c = call_new(g, K_DONE, "set_desired", ctx)) == NULL) return STV_ENOMEM;
  c->cb.done = cb;
  if ((rc = g->inner->ops->set_desired(g->inner, group_id, desired, on_done, c)) != 0) {
    count(g, c->op, rc);
    call_free(c);
  }
  return rc;
}

static int g_delete_instances(struct stv_cloud *cl, const char *group_id, const char *const *ids, size_t n,
                              stv_cloud_done_cb cb, void *ctx) {
  struct stv__guard *g = cl->impl;
  struct call *c;
  int rc;
  if (g->shut) return -ECANCELED;
  if (g->dry_run) {
    stv_log(STV_LOG_INFO, "dry run: would delete instances", STV_LOG_STR("provider", g->name),
            STV_LOG_STR("group", group_id), STV_LOG_INT("count", n),
            STV_LOG_STR("first", n > 0 ? ids[0] : ""));
    return dry_call(g, "delete_instances", cb, ctx);
  }
  if ((c = call_new(g, K_DONE, "delete_instances", ctx)) == NULL) return STV_ENOMEM;
  c->cb.done = cb;
  if ((rc = g->inner->ops->delete_instances(g->inner, group_id, ids, n, on_done, c)) != 0) {
    count(g, c->op, rc);
    call_free(c);
  }
  return rc;
}

static void g_close(struct stv_cloud *cl) {
  stv__guard_free(cl->impl);
}

static const struct stv_cloud_ops guard_ops = {
    .name = "guard",
    .list_groups = g_list_groups,
    .list_instances = g_list_instances,
    .set_desired = g_set_desired,
    .delete_instances = g_delete_instances,
    .close = g_close,
};

/* ---- life -------------------------------------------------------------- */

int stv__guard_new(struct stv__guard **out, struct stv_cloud *inner, int dry_run, struct stv_metric *calls,
                   struct stv_metric *errors) {
  struct stv__guard *g = stv_calloc(1, sizeof(*g));
  *out = NULL;
  if (g == NULL) {
    inner->ops->close(inner);
    return STV_ENOMEM;
  }
  g->inner = inner;
  g->name = inner->ops->name;
  g->dry_run = dry_run;
  g->calls_total = calls;
  g->errors = errors;
  g->cloud.ops = &guard_ops;
  g->cloud.impl = g;
  g->cloud.clock = inner->clock;
  inner->on_event = on_event;
  inner->event_ctx = g;
  *out = g;
  return 0;
}

struct stv_cloud *stv__guard_cloud(struct stv__guard *g) {
  return &g->cloud;
}

struct stv_cloud *stv__guard_inner(struct stv__guard *g) {
  return g->inner;
}

void stv__guard_shut(struct stv__guard *g) {
  if (g->shut) return;
  g->shut = 1;
  /* The provider inside abandons its callbacks: free what they carried. */
  g->inner->ops->close(g->inner);
  while (g->calls != NULL) {
    struct call *c = g->calls;
    if (c->kind == K_DONE && g->dry_run) stv_clock_stop(g->cloud.clock, &c->timer);
    call_free(c);
  }
}

void stv__guard_free(struct stv__guard *g) {
  if (g == NULL) return;
  stv__guard_shut(g);
  stv_free(g);
}
