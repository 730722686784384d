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
 * Requests are fire and forget: a failure is logged and counted
 * (stevedore_sim_node_writes_total); an instance whose Node could not be
 * created is given up by the reconciler after --max-provision-time.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "sim.h"

struct stv__simnodes {
  struct stv_kube *kube;
  const struct stv_catalog *cat;
  struct stv_snapshot snap; /* the templates' strings */
  struct stv_templates tmpl;
  struct stv_metric *writes;
  size_t in_flight;
};

struct req {
  struct stv__simnodes *s;
  int create;
  char name[256];
};

static void count(struct stv__simnodes *s, const char *verb, const char *result) {
  const char *values[2] = {verb, result};
  if (s->writes != NULL) stv__dmetrics_add(s->writes, values, 1);
}

static void done(void *ctx, int rc, cJSON *body, const struct stv_kube_error *ke, const struct stv_err *err) {
  struct req *r = ctx;
  struct stv__simnodes *s = r->s;
  (void)body;
  s->in_flight--;
  if (rc == 0) {
    count(s, r->create ? "create" : "delete", "ok");
    stv_log(STV_LOG_INFO, r->create ? "sim node created" : "sim node deleted", STV_LOG_STR("node", r->name));
  } else if (!r->create && rc == STV_ENOTFOUND) {
    count(s, "delete", "gone");
  } else if (r->create && rc == STV_ECONFLICT) {
    /* 409 AlreadyExists: an earlier leader registered it; the cache has it. */
    count(s, "create", "exists");
    stv_log(STV_LOG_INFO, "sim node exists already", STV_LOG_STR("node", r->name));
  } else {
    count(s, r->create ? "create" : "delete", "error");
    stv_log(STV_LOG_WARN, r->create ? "cannot create sim node" : "cannot delete sim node",
            STV_LOG_STR("node", r->name), STV_LOG_INT("status", ke != NULL ? ke->status : 0),
            STV_LOG_STR("error", err != NULL ? err->msg : stv_strerror(rc)));
  }
  stv_free(r);
}

int stv__simnodes_new(struct stv__simnodes **out, struct stv_kube *k, const struct stv_catalog *cat,
                      unsigned capacity_types, const struct stv_node_pool *pools, size_t npools,
                      struct stv_metric *writes, struct stv_err *err) {
  struct stv__simnodes *s = stv_calloc(1, sizeof(*s));
  int rc;
  *out = NULL;
  if (s == NULL) return stv_err_set(err, STV_ENOMEM, "sim nodes: out of memory");
  s->kube = k;
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

void stv__simnodes_register(struct stv__simnodes *s, const struct stv_cloud_instance *inst, const char *pool) {
  const struct stv_template *tm = stv_sim_find_template(s->tmpl.v, s->tmpl.n, inst, pool);
  const struct stv_instance_type *type = stv_catalog_find(s->cat, inst->instance_type);
  struct stv_err err = {0, ""};
  struct req *r;
  cJSON *node;
  if (tm == NULL || type == NULL) {
    count(s, "create", "error");
    stv_log(STV_LOG_ERROR, "cannot build the Node of a sim instance: no template for its offering",
            STV_LOG_STR("instance", inst->provider_id), STV_LOG_STR("type", inst->instance_type),
            STV_LOG_STR("zone", inst->zone), STV_LOG_STR("pool", pool));
    return;
  }
  if ((node = stv_sim_node_json(inst, type, tm, stv_wall_time(), &err)) == NULL) {
    count(s, "create", "error");
    stv_log(STV_LOG_ERROR, "cannot build the Node of a sim instance", STV_LOG_STR("instance", inst->provider_id),
            STV_LOG_STR("error", err.msg));
    return;
  }
  if ((r = stv_calloc(1, sizeof(*r))) == NULL) {
    cJSON_Delete(node);
    count(s, "create", "error");
    stv_log(STV_LOG_ERROR, "out of memory creating a sim node", STV_LOG_STR("instance", inst->provider_id));
    return;
  }
  r->s = s;
  r->create = 1;
  (void)stv_sim_node_name(inst->provider_id, r->name, sizeof(r->name));
  if (stv_kube_create(s->kube, "/api/v1/nodes", node, done, r, &err) != 0) {
    count(s, "create", "error");
    stv_log(STV_LOG_WARN, "cannot create sim node", STV_LOG_STR("node", r->name), STV_LOG_STR("error", err.msg));
    stv_free(r);
  } else {
    s->in_flight++;
  }
  cJSON_Delete(node);
}

void stv__simnodes_remove(struct stv__simnodes *s, const char *pid) {
  struct stv_err err = {0, ""};
  struct req *r = stv_calloc(1, sizeof(*r));
  char path[400];
  if (r == NULL) {
    stv_log(STV_LOG_ERROR, "out of memory deleting a sim node", STV_LOG_STR("instance", pid));
    return;
  }
  r->s = s;
  if (stv_sim_node_name(pid, r->name, sizeof(r->name)) != 0) {
    stv_log(STV_LOG_WARN, "not a sim provider id; no Node to delete", STV_LOG_STR("instance", pid));
    stv_free(r);
    return;
  }
  snprintf(path, sizeof(path), "/api/v1/nodes/%s", r->name);
  if (stv_kube_delete(s->kube, path, done, r, &err) != 0) {
    count(s, "delete", "error");
    stv_log(STV_LOG_WARN, "cannot delete sim node", STV_LOG_STR("node", r->name), STV_LOG_STR("error", err.msg));
    stv_free(r);
    return;
  }
  s->in_flight++;
}

size_t stv__simnodes_in_flight(const struct stv__simnodes *s) {
  return s->in_flight;
}

void stv__simnodes_free(struct stv__simnodes *s) {
  if (s == NULL) return;
  stv_templates_close(&s->tmpl);
  stv_snapshot_close(&s->snap);
  stv_free(s);
}
