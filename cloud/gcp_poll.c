/*
 * The GCP provider's polling: every poll_interval seconds, once the groups
 * are known, the instances of every group are listed and compared with
 * what the last polls saw; the differences are the provider's events
 * (cloud.h): RUNNING, LAUNCH_FAILED (an instance the MIG keeps failing to
 * create, lastAttempt.errors; it is deleted from the group so that the
 * group's target size drops by one) and TERMINATED.
 */
#include <string.h>

#include "gcp_priv.h"
#include "log.h"

const char *stv__gcp_intern(struct gcp *g, const char *s) {
  return stv_strpool_get(&g->strings, s);
}

static struct known *known_find(struct gcp *g, const char *pid) {
  struct stv_strmap_ent *e = stv_strmap_find(&g->known_map, pid, strlen(pid));
  return e != NULL && e->val > 0 ? &g->known[e->val - 1] : NULL;
}

double stv__gcp_first_seen(struct gcp *g, const char *pid) {
  struct known *k = known_find(g, pid);
  return k != NULL ? k->first_seen : stv_clock_now(g->cloud.clock);
}

void stv__gcp_known_close(struct gcp *g) {
  stv_free(g->known);
  g->known = NULL;
  g->nknown = g->capknown = 0;
  stv_strmap_close(&g->known_map);
}

/* The entry of pid, made when new. */
static struct known *known_get(struct gcp *g, const struct stv_cloud_instance *in) {
  struct known *k = known_find(g, in->provider_id);
  struct stv_strmap_ent *e;
  int added;
  if (k != NULL) return k;
  if (g->nknown == g->capknown) {
    size_t cap = g->capknown ? g->capknown * 2 : 32;
    struct known *v = stv_realloc(g->known, cap * sizeof(*v));
    if (v == NULL) return NULL;
    g->known = v;
    g->capknown = cap;
  }
  k = &g->known[g->nknown];
  memset(k, 0, sizeof(*k));
  if ((k->pid = stv__gcp_intern(g, in->provider_id)) == NULL) return NULL;
  if (stv_strmap_upsert(&g->known_map, &g->strings, k->pid, strlen(k->pid), (uint32_t)g->nknown + 1, &e,
                        &added) != 0)
    return NULL;
  k->first_seen = stv_clock_now(g->cloud.clock);
  g->nknown++;
  return k;
}

static void emit(struct gcp *g, enum stv_cloud_event_kind kind, const struct stv_cloud_instance *in, int code,
                 const char *msg) {
  struct stv_cloud_event ev;
  if (g->cloud.on_event == NULL) return;
  memset(&ev, 0, sizeof(ev));
  ev.kind = kind;
  ev.instance = in;
  ev.code = code;
  ev.message = msg != NULL ? msg : "";
  g->cloud.on_event(g->cloud.event_ctx, &ev);
}

/* Keeps a copy of in whose strings outlive the poll (interned). */
static int remember(struct gcp *g, struct known *k, const struct stv_cloud_instance *in) {
  k->last = *in;
  k->last.provider_id = k->pid;
  k->last.group_id = stv__gcp_intern(g, in->group_id);
  k->last.instance_type = stv__gcp_intern(g, in->instance_type);
  k->last.zone = stv__gcp_intern(g, in->zone);
  return k->last.group_id && k->last.instance_type && k->last.zone ? 0 : STV_ENOMEM;
}

/* Deletes an instance the MIG cannot create, so that the group stops trying and its target drops by one. */
static void reap(struct gcp *g, const struct stv_cloud_instance *in) {
  const struct gcp_group *gr = stv__gcp_group(g, in->group_id);
  const char *ids[1] = {in->provider_id};
  char msg[300], *body;
  struct req *r;
  if (gr == NULL || (r = stv__gcp_req_new(g, REQ_REAP, NULL, NULL)) == NULL) return;
  snprintf(r->group, sizeof(r->group), "%s", gr->id);
  snprintf(r->verb, sizeof(r->verb), "deleting an instance that failed");
  if ((body = stv__gcp_delete_body(g, gr, ids, 1, msg, sizeof(msg))) == NULL) {
    stv__gcp_finish(r, STV_EINVAL, "%s", msg);
    return;
  }
  snprintf(r->msg, sizeof(r->msg), "%s", in->provider_id);
  stv__gcp_mutate(r, gr->id, "instanceGroupManagers.deleteInstances", "deleteInstances", body, NULL);
  stv_free(body);
}

void stv__gcp_reap_done(struct req *r) {
  if (r->code != 0)
    stv_log(STV_LOG_WARN,
            "gcp: deleting an instance that failed to launch did not work; the MIG keeps trying",
            STV_LOG_STR("group", r->group), STV_LOG_STR("error", r->msg));
}

/* Forgets the instances the last poll did not see, reporting each as TERMINATED. */
static void sweep(struct gcp *g) {
  size_t i, j = 0;
  int added;
  struct stv_strmap_ent *e;
  for (i = 0; i < g->nknown; i++) {
    if (g->known[i].gen == g->gen) {
      g->known[j++] = g->known[i];
      continue;
    }
    if (!g->known[i].failed)
      emit(g, STV_CLOUD_EV_TERMINATED, &g->known[i].last, 0, "the instance is gone from its group");
  }
  if (j == g->nknown) return;
  g->nknown = j;
  stv_strmap_close(&g->known_map);
  memset(&g->known_map, 0, sizeof(g->known_map));
  for (i = 0; i < g->nknown; i++)
    if (stv_strmap_upsert(&g->known_map, &g->strings, g->known[i].pid, strlen(g->known[i].pid),
                          (uint32_t)i + 1, &e, &added) != 0)
      break;
}

void stv__gcp_poll_done(struct req *r) {
  struct gcp *g = r->g;
  size_t i;
  char msg[600];
  g->polling = 0;
  if (r->code != 0) {
    stv_log(STV_LOG_WARN, "gcp: polling the instances failed; trying again at the next poll",
            STV_LOG_STR("error", r->msg));
    return;
  }
  if (stv__gcp_describe(r) != 0) return;
  g->gen++;
  for (i = 0; i < r->managed.n; i++) {
    const struct stv__gcp_managed *m = &r->managed.v[i];
    const struct stv_cloud_instance *in = &r->insts[i];
    struct known *k = known_get(g, in);
    if (k == NULL || remember(g, k, in) != 0) return; /* out of memory: the next poll tries again */
    k->gen = g->gen;
    if (m->err_code != NULL && m->action == GCP_ACT_CREATING && !m->running) {
      if (k->failed) continue;
      k->failed = 1;
      snprintf(msg, sizeof(msg), "%s in %s: %s: %s", in->provider_id, in->zone, m->err_code, m->err_message);
      emit(g, STV_CLOUD_EV_LAUNCH_FAILED, &k->last, stv__gcp_op_code(m->err_code, 0), msg);
      reap(g, &k->last);
    } else if (in->state == STV_INSTANCE_RUNNING && !k->running) {
      k->running = 1;
      emit(g, STV_CLOUD_EV_RUNNING, &k->last, 0, "the instance is running");
    }
  }
  sweep(g);
}

static void poll_cb(struct stv_timer *t) {
  struct gcp *g = t->data;
  struct req *r;
  (void)stv_clock_start(g->cloud.clock, &g->poll, g->poll_interval, poll_cb, g);
  if (g->polling || !g->have_groups || g->cloud.on_event == NULL) return;
  if ((r = stv__gcp_req_new(g, REQ_POLL, NULL, NULL)) == NULL) return;
  g->polling = 1;
  stv__gcp_list_instances(r);
}

int stv__gcp_poll_start(struct gcp *g) {
  return stv_clock_start(g->cloud.clock, &g->poll, g->poll_interval, poll_cb, g);
}
