/*
 * The sim provider's nodes in the API server, as kwok makes them: when a
 * sim instance starts running (STV_CLOUD_EV_RUNNING, after
 * --sim-launch-delay) its Node is created through the API, Ready at once;
 * when the instance is terminated its Node is deleted.
 *
 * Why Ready at creation rather than NotReady at launch and Ready after the
 * delay: a NotReady node carries the node.kubernetes.io/not-ready taint
 * that the node lifecycle controller adds, the cache reads it as capacity
 * the pending pods cannot use, and the reconciler would plan new nodes for
 * the very pods the launching instance is for (a second scale-up). Until
 * the Node exists the instance counts as in flight, which is what it is.
 * A leader that loses the Lease during the launch delay takes its pending
 * instances with it (the provider is closed): their Nodes are never
 * created, and the next leader plans those pods again, once.
 *
 * A write that fails is logged, counted (stevedore_sim_node_writes_total)
 * and tried again (below) while the replica acts.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "sim.h"

#define RETRY_MIN_S 0.5 /* first delay after a failed write without Retry-After, doubling */
#define RETRY_MAX_S 30.0

struct req;

struct stv__simnodes {
  struct stv_kube *kube;
  struct stv_clock *clock;
  const struct stv_catalog *cat;
  struct stv_snapshot snap; /* the templates' strings */
  struct stv_templates tmpl;
  struct stv_metric *writes;
  struct req *reqs; /* every write in flight or waiting to be tried again */
  size_t in_flight;
  uint64_t rng; /* the jitter of retries */
};

/*
 * One Node write, kept until it is done: a create that fails (429, 5xx,
 * the API server down) is tried again after Retry-After, or after a
 * backoff of 0.5 s doubling to 30 s with jitter, as long as the replica
 * acts; a kubelet keeps trying to register too. A create answered 409
 * AlreadyExists is done (an earlier leader made it). A delete asked for
 * while its create is in flight is sent when the create ends.
 */
struct req {
  struct stv__simnodes *s;
  struct req *prev, *next;
  int create, in_flight, waiting, cancelled, delete_after, attempts;
  cJSON *obj; /* the Node, for a create */
  struct stv_timer timer;
  char name[256];
};

static void count(struct stv__simnodes *s, const char *verb, const char *result) {
  const char *values[2] = {verb, result};
  if (s->writes != NULL) stv__dmetrics_add(s->writes, values, 1);
}

static void finish(struct req *r) {
  struct stv__simnodes *s = r->s;
  if (r->prev != NULL)
    r->prev->next = r->next;
  else
    s->reqs = r->next;
  if (r->next != NULL) r->next->prev = r->prev;
  cJSON_Delete(r->obj);
  stv_free(r);
}

static void write_node(struct req *r);

static void retry_cb(struct stv_timer *t) {
  struct req *r = t->data;
  r->waiting = 0;
  write_node(r);
}

/* Tries r again later, or gives up when the clock has no room. */
static void retry(struct req *r, double retry_after, const char *why) {
  struct stv__simnodes *s = r->s;
  double delay = retry_after;
  if (!(delay > 0)) {
    int k = r->attempts < 10 ? r->attempts : 10;
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    delay = RETRY_MIN_S * (double)(1u << k);
    if (delay > RETRY_MAX_S) delay = RETRY_MAX_S;
    delay *= 1 + (double)(s->rng >> 11) / 9007199254740992.0;
  }
  r->attempts++;
  stv_log(STV_LOG_WARN, r->create ? "cannot create sim node; retrying" : "cannot delete sim node; retrying",
          STV_LOG_STR("node", r->name), STV_LOG_INT("attempt", r->attempts), STV_LOG_NUM("retry_in_s", delay),
          STV_LOG_STR("error", why));
  if (stv_clock_start(s->clock, &r->timer, delay, retry_cb, r) != 0) {
    stv_log(STV_LOG_ERROR, "out of memory: sim node write given up", STV_LOG_STR("node", r->name));
    finish(r);
    return;
  }
  r->waiting = 1;
}

static void done(void *ctx, int rc, cJSON *body, const struct stv_kube_error *ke, const struct stv_err *err) {
  struct req *r = ctx;
  struct stv__simnodes *s = r->s;
  const char *verb = r->create ? "create" : "delete";
  (void)body;
  s->in_flight--;
  r->in_flight = 0;
  if (rc == 0) {
    count(s, verb, "ok");
    stv_log(STV_LOG_INFO, r->create ? "sim node created" : "sim node deleted", STV_LOG_STR("node", r->name));
  } else if (!r->create && rc == STV_ENOTFOUND) {
    count(s, verb, "gone");
  } else if (r->create && rc == STV_ECONFLICT) {
    /* 409 AlreadyExists: an earlier leader registered it; the cache has it. */
    count(s, verb, "exists");
    stv_log(STV_LOG_INFO, "sim node exists already", STV_LOG_STR("node", r->name));
  } else {
    count(s, verb, "error");
    if (!r->cancelled && !r->delete_after) {
      retry(r, ke != NULL ? ke->retry_after : 0, err != NULL ? err->msg : stv_strerror(rc));
      return;
    }
  }
  if (r->delete_after && !r->cancelled) {
    /* The instance went while its Node was being created: delete what may now exist. */
    r->create = 0;
    r->delete_after = 0;
    r->attempts = 0;
    write_node(r);
    return;
  }
  finish(r);
}

static void write_node(struct req *r) {
  struct stv__simnodes *s = r->s;
  struct stv_err err = {0, ""};
  char path[400];
  int rc;
  if (r->create) {
    rc = stv_kube_create(s->kube, "/api/v1/nodes", r->obj, done, r, &err);
  } else {
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", r->name);
    rc = stv_kube_delete(s->kube, path, done, r, &err);
  }
  if (rc != 0) {
    count(s, r->create ? "create" : "delete", "error");
    retry(r, 0, err.msg);
    return;
  }
  r->in_flight = 1;
  s->in_flight++;
}

static struct req *req_new(struct stv__simnodes *s, int create, const char *pid) {
  struct req *r = stv_calloc(1, sizeof(*r));
  if (r == NULL) return NULL;
  r->s = s;
  r->create = create;
  if (stv_sim_node_name(pid, r->name, sizeof(r->name)) != 0) {
    stv_free(r);
    return NULL;
  }
  r->next = s->reqs;
  if (r->next != NULL) r->next->prev = r;
  s->reqs = r;
  return r;
}

int stv__simnodes_new(struct stv__simnodes **out, struct stv_kube *k, struct stv_clock *clock,
                      const struct stv_catalog *cat, unsigned capacity_types,
                      const struct stv_node_pool *pools, size_t npools, struct stv_metric *writes,
                      struct stv_err *err) {
  struct stv__simnodes *s = stv_calloc(1, sizeof(*s));
  int rc;
  *out = NULL;
  if (s == NULL) return stv_err_set(err, STV_ENOMEM, "sim nodes: out of memory");
  s->kube = k;
  s->clock = clock;
  s->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(stv_monotonic_seconds() * 1e9);
  s->cat = cat;
  s->writes = writes;
  if ((rc = stv_snapshot_init(&s->snap)) != 0) {
    stv_free(s);
    return stv_err_set(err, rc, "sim nodes: out of memory");
  }
  if ((rc = stv_templates_build_pools(&s->tmpl, cat, &s->snap, capacity_types, pools, npools, err)) != 0) {
    stv_snapshot_close(&s->snap);
    stv_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void stv__simnodes_register(struct stv__simnodes *s, const struct stv_cloud_instance *inst,
                            const char *pool) {
  const struct stv_template *tm = stv_sim_find_template(s->tmpl.v, s->tmpl.n, inst, pool);
  const struct stv_instance_type *type = stv_catalog_find(s->cat, inst->instance_type);
  struct stv_err err = {0, ""};
  struct req *r;
  if (tm == NULL || type == NULL) {
    count(s, "create", "error");
    stv_log(STV_LOG_ERROR, "cannot build the Node of a sim instance: no template for its offering",
            STV_LOG_STR("instance", inst->provider_id), STV_LOG_STR("type", inst->instance_type),
            STV_LOG_STR("zone", inst->zone), STV_LOG_STR("pool", pool));
    return;
  }
  if ((r = req_new(s, 1, inst->provider_id)) == NULL ||
      (r->obj = stv_sim_node_json(inst, type, tm, stv_wall_time(), &err)) == NULL) {
    count(s, "create", "error");
    stv_log(STV_LOG_ERROR, "cannot build the Node of a sim instance",
            STV_LOG_STR("instance", inst->provider_id),
            STV_LOG_STR("error", err.msg[0] ? err.msg : "out of memory or not a sim provider id"));
    if (r != NULL) finish(r);
    return;
  }
  write_node(r);
}

void stv__simnodes_remove(struct stv__simnodes *s, const char *pid) {
  struct req *r;
  char name[256];
  if (stv_sim_node_name(pid, name, sizeof(name)) != 0) {
    stv_log(STV_LOG_WARN, "not a sim provider id; no Node to delete", STV_LOG_STR("instance", pid));
    return;
  }
  for (r = s->reqs; r != NULL; r = r->next) {
    if (!r->create || strcmp(r->name, name) != 0 || r->cancelled) continue;
    if (r->waiting) { /* never created: nothing to delete */
      stv_clock_stop(s->clock, &r->timer);
      finish(r);
      return;
    }
    r->delete_after = 1; /* in flight: delete once it ends */
    return;
  }
  if ((r = req_new(s, 0, pid)) == NULL) {
    stv_log(STV_LOG_ERROR, "out of memory deleting a sim node", STV_LOG_STR("instance", pid));
    return;
  }
  write_node(r);
}

void stv__simnodes_stop(struct stv__simnodes *s) {
  struct req *r, *next;
  if (s == NULL) return;
  for (r = s->reqs; r != NULL; r = next) {
    next = r->next;
    if (r->in_flight) {
      r->cancelled = 1; /* its answer ends it */
    } else {
      if (r->waiting) stv_clock_stop(s->clock, &r->timer);
      finish(r);
    }
  }
}

size_t stv__simnodes_in_flight(const struct stv__simnodes *s) {
  return s->in_flight;
}

void stv__simnodes_free(struct stv__simnodes *s) {
  if (s == NULL) return;
  stv__simnodes_stop(s);
  while (s->reqs != NULL) finish(s->reqs); /* only after the client ended them: none is in flight */
  stv_templates_close(&s->tmpl);
  stv_snapshot_close(&s->snap);
  stv_free(s);
}
