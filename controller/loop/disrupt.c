/*
 * The drainer and the emptiness reconciler (disrupt.h,
 * docs/consolidation.md). One timer looks at the cluster every interval:
 * it counts the workload pods of each node (one pass over the store's
 * pods), moves every drain a step, and finds the nodes empty for long
 * enough. A drain's steps are
 *
 *   TAINT -> EVICT -> FIND (its group) -> DELETE (the instance) -> GONE (the Node)
 *                \-> UNTAINT (timeout or refusal) -> left alone
 *
 * and each waits for at most one call at a time per object (the node, or
 * each pod), so a step never blocks the loop: it starts a call and the
 * call's answer, or the next look, moves it on.
 */
#include "disrupt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define POOL_LABEL    "stevedore.io/node-pool"
#define UNTAINT_TRIES 10
#define MESSAGE_MAX   1024
#define SELECT_EVERY  5.0 /* s between two listings of the provider to choose empty nodes */

enum step { S_TAINT, S_EVICT, S_FIND, S_DELETE, S_GONE, S_UNTAINT, S_DONE };

enum pod_state { P_TODO, P_CALLING, P_EVICTED, P_GONE };

struct dpod {
  char *ns, *name;
  enum pod_state state;
  int seen;        /* found on the node in this look */
  int refused;     /* the last answer was a 429 */
  double next_try; /* clock s */
  double delay;    /* the next retry's */
  double gone_by;  /* P_EVICTED: when its grace period and the margin end */
  double grace;    /* its terminationGracePeriodSeconds */
  char last[200];  /* the last refusal or error, for the Event of a failed drain */
};

struct drain {
  char *node, *pid, *group, *why, *pool;
  enum step step;
  int calling; /* a call of the node's (taint, find, delete, delete_node) awaits its answer */
  int ncalls;  /* calls in flight for it, evictions included: it is freed only at 0 */
  int counted; /* its pods were listed by a look since it was tainted */
  int tries;
  double started, deadline, next_try, delay, deleted_at;
  char fail[400]; /* why it is undone */
  struct dpod *pods;
  size_t npods, cap;
  struct drain *next;
};

/* One call in flight: kube calls may outlive the drainer (detached), cloud calls may not. */
struct call {
  struct stv_disrupt *d;
  struct drain *dr;
  size_t pod; /* evictions: the pod's index in dr->pods */
  int cloud;  /* a provider call: its answer never comes once the cloud is closed */
  struct call *prev, *next;
};

/* What the drainer remembers of a node. */
struct nstate {
  double registered_at;
  double empty_since; /* 0: not empty */
  double left_alone_until;
  int blocked;  /* a DisruptionBlocked Event was recorded for this stretch of emptiness */
  int reported; /* dry run: a would-remove was reported for this stretch of emptiness */
  int live;
};

struct stv_disrupt {
  struct stv_disrupt_opts o;
  struct stv_clock *clock;
  struct stv_cloud *cloud;
  const struct stv_disrupt_kube_ops *kube;
  void *kube_impl;
  struct stv_disrupt_view view;
  struct stv_events *events;
  struct stv_timer tick;
  int started, looked;
  struct drain *drains;
  struct call *calls;             /* kube and cloud calls in flight */
  int listing;                    /* selecting: list_groups then list_instances in flight */
  double next_select;             /* no selection before this clock time (provider listings are not free) */
  struct stv_cloud_group *groups; /* the last listing (copies) */
  size_t ngroups;
  /* Node states, by name. */
  struct stv_strpool pool;
  struct stv_strmap names; /* name -> index into ns */
  struct nstate *ns;
  size_t nns, cap_ns, dead_ns;
  struct stv_disrupt_stats st;
};

static void decide(struct stv_disrupt *d, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void decide(struct stv_disrupt *d, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  stv_decision_vemit(d->o.on_decision, d->o.decision_ctx, stv_clock_now(d->clock), kind, fmt, ap);
  va_end(ap);
}

/* Records an Event on obj with the message fmt formats (cut at the API's limit); none without a recorder. */
static void vrecord(struct stv_disrupt *d, const struct stv_event_ref *obj, const char *type,
                    const char *reason, const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static void vrecord(struct stv_disrupt *d, const struct stv_event_ref *obj, const char *type,
                    const char *reason, const char *fmt, va_list ap) {
  char msg[MESSAGE_MAX];
  if (d->events == NULL) return;
  vsnprintf(msg, sizeof(msg), fmt, ap);
  (void)stv_events_record(d->events, obj, type, reason, msg);
}

static void node_event(struct stv_disrupt *d, const char *node, const char *type, const char *reason,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void node_event(struct stv_disrupt *d, const char *node, const char *type, const char *reason,
                       const char *fmt, ...) {
  struct stv_event_ref r = {"Node", "v1", "", node, ""};
  va_list ap;
  va_start(ap, fmt);
  vrecord(d, &r, type, reason, fmt, ap);
  va_end(ap);
}

static void pod_event(struct stv_disrupt *d, const struct dpod *p, const char *type, const char *reason,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void pod_event(struct stv_disrupt *d, const struct dpod *p, const char *type, const char *reason,
                      const char *fmt, ...) {
  struct stv_event_ref r = {"Pod", "v1", p->ns, p->name, ""};
  va_list ap;
  va_start(ap, fmt);
  vrecord(d, &r, type, reason, fmt, ap);
  va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* Options and budgets                                                    */

void stv_disrupt_opts_default(struct stv_disrupt_opts *o) {
  memset(o, 0, sizeof(*o));
  o->empty_for = 30;
  o->drain_timeout = 600;
  o->grace_margin = 15;
  o->retry_initial = 1;
  o->retry_max = 30;
  o->node_gone_wait = 30;
  o->left_alone = 3600;
  o->interval = 1;
  o->budget.nodes = -1;
  o->budget.percent = 10;
  o->emptiness = 1;
}

int64_t stv_disrupt_budget_allowed(const struct stv_disrupt_budget *b, size_t pool_nodes) {
  int64_t n;
  if (b->nodes >= 0) return b->nodes;
  if (b->percent <= 0) return 0;
  n = (int64_t)floor((double)pool_nodes * b->percent / 100.0 + 1e-9);
  return n < 1 ? 1 : n;
}

static int check_opts(const struct stv_disrupt_opts *o, struct stv_err *err) {
  if (!(o->empty_for >= 0 && o->empty_for <= 86400))
    return stv_err_set(err, STV_EINVAL, "disruption.emptyFor must be from 0 to 24h, got %g s", o->empty_for);
  if (!(o->drain_timeout >= 1 && o->drain_timeout <= 86400))
    return stv_err_set(err, STV_EINVAL, "disruption.drainTimeout must be from 1s to 24h, got %g s",
                       o->drain_timeout);
  if (!(o->interval > 0 && o->retry_initial > 0 && o->retry_max >= o->retry_initial && o->grace_margin >= 0 &&
        o->node_gone_wait >= 0 && o->left_alone >= 0))
    return stv_err_set(err, STV_EINVAL,
                       "the drainer's intervals must be positive (retry_max >= retry_initial)");
  if (o->budget.nodes < 0 && !(o->budget.percent >= 0 && o->budget.percent <= 100))
    return stv_err_set(err, STV_EINVAL, "disruption.budget must be from 0%% to 100%%, got %g%%",
                       o->budget.percent);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Node states                                                            */

static struct nstate *nstate_of(struct stv_disrupt *d, const char *name, int create) {
  struct stv_strmap_ent *e = stv_strmap_find(&d->names, name, strlen(name));
  int added;
  if (e != NULL && d->ns[e->val].live) return &d->ns[e->val];
  if (!create) return NULL;
  if (e == NULL) {
    if (d->nns == d->cap_ns && stv_grow((void **)&d->ns, &d->cap_ns, d->nns + 1, sizeof(*d->ns)) != 0)
      return NULL;
    if (stv_strmap_upsert(&d->names, &d->pool, name, strlen(name), (uint32_t)d->nns, &e, &added) != 0)
      return NULL;
    d->nns++;
  } else {
    d->dead_ns--;
  }
  memset(&d->ns[e->val], 0, sizeof(d->ns[e->val]));
  d->ns[e->val].live = 1;
  d->ns[e->val].registered_at = stv_clock_now(d->clock);
  return &d->ns[e->val];
}

void stv_disrupt_node_registered(struct stv_disrupt *d, const char *name) {
  (void)nstate_of(d, name, 1);
}

static struct drain *drain_of(struct stv_disrupt *d, const char *node) {
  struct drain *dr;
  for (dr = d->drains; dr != NULL; dr = dr->next)
    if (dr->step != S_DONE && strcmp(dr->node, node) == 0) return dr;
  return NULL;
}

/*
 * Drops the states of deleted nodes once they outnumber the live ones (a
 * long run sees many node names come and go): a fresh pool, map and array
 * with the live states only. On an allocation failure the old ones stay.
 */
static void nstates_compact(struct stv_disrupt *d) {
  struct stv_strpool pool;
  struct stv_strmap names = {0};
  struct nstate *v = stv_calloc(d->nns - d->dead_ns + 1, sizeof(*v));
  size_t i, n = 0;
  stv_strpool_init(&pool);
  for (i = 0; v != NULL && i < d->names.cap; i++) {
    const struct stv_strmap_ent *e = &d->names.e[i];
    struct stv_strmap_ent *ne;
    int added;
    if (e->key == NULL || !d->ns[e->val].live) continue;
    if (stv_strmap_upsert(&names, &pool, e->key, e->len, (uint32_t)n, &ne, &added) != 0) break;
    v[n++] = d->ns[e->val];
  }
  if (v == NULL || i < d->names.cap) {
    stv_free(v);
    stv_strmap_close(&names);
    stv_strpool_close(&pool);
    return;
  }
  stv_strmap_close(&d->names);
  stv_strpool_close(&d->pool);
  stv_free(d->ns);
  d->names = names;
  d->pool = pool;
  d->ns = v;
  d->nns = d->cap_ns = n;
  d->dead_ns = 0;
}

/* Called from inside the watch's stream (a libcurl callback): no request may start here; the next look
 * finishes a drain whose Node went. */
void stv_disrupt_node_deleted(struct stv_disrupt *d, const char *name) {
  struct nstate *n = nstate_of(d, name, 0);
  if (n != NULL) {
    n->live = 0;
    d->dead_ns++;
  }
  if (d->dead_ns > d->nns / 2 + 64) nstates_compact(d);
}

/* ---------------------------------------------------------------------- */
/* Pods: which ones a drain evicts (the disruption facts of the model)    */

/*
 * DaemonSet, mirror and headroom pods stay with their node
 * (stv_pod_stays_with_node): never evicted, they do not keep a node from
 * being empty. Finished pods hold nothing.
 */
static int pod_finished(const struct stv_pod *p) {
  return p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED;
}

/* ---------------------------------------------------------------------- */
/* Calls                                                                  */

static struct call *call_new(struct stv_disrupt *d, struct drain *dr, size_t pod, int cloud) {
  struct call *c = stv_calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->d = d;
  c->dr = dr;
  c->pod = pod;
  c->cloud = cloud;
  if (dr != NULL) dr->ncalls++;
  c->next = d->calls;
  if (c->next != NULL) c->next->prev = c;
  d->calls = c;
  return c;
}

/* Unlinks c; returns its drainer (NULL when it was freed meanwhile: then the answer is dropped). */
static struct stv_disrupt *call_end(struct call *c) {
  struct stv_disrupt *d = c->d;
  if (d != NULL) {
    if (c->dr != NULL) c->dr->ncalls--;
    if (c->prev != NULL)
      c->prev->next = c->next;
    else
      d->calls = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
  }
  stv_free(c);
  return d;
}

/* A node's call answered: ends its record (*dr its drain); NULL when the drainer was freed meanwhile. */
static struct stv_disrupt *node_answer(void *ctx, struct drain **dr) {
  struct call *c = ctx;
  struct stv_disrupt *d;
  *dr = c->dr;
  if ((d = call_end(c)) != NULL) (*dr)->calling = 0;
  return d;
}

static double backoff(struct stv_disrupt *d, double *delay, double retry_after) {
  double wait = *delay > 0 ? *delay : d->o.retry_initial;
  if (retry_after > wait) wait = retry_after;
  *delay = fmin(wait * 2, d->o.retry_max);
  return stv_clock_now(d->clock) + wait;
}

/* ---------------------------------------------------------------------- */
/* Ending a drain                                                         */

static void drain_free(struct drain *dr) {
  size_t i;
  for (i = 0; i < dr->npods; i++) {
    stv_free(dr->pods[i].ns);
    stv_free(dr->pods[i].name);
  }
  stv_free(dr->pods);
  stv_free(dr->node);
  stv_free(dr->pid);
  stv_free(dr->group);
  stv_free(dr->why);
  stv_free(dr->pool);
  stv_free(dr);
}

static void finish(struct stv_disrupt *d, struct drain *dr, const char *how) {
  dr->step = S_DONE;
  d->st.nodes_drained++;
  decide(d, "drained", "node %s removed (%s): instance %s deleted from group %s; %s", dr->node, dr->why,
         dr->pid, dr->group != NULL ? dr->group : "?", how);
  node_event(d, dr->node, "Normal", "DisruptionTerminated",
             "Node removed (%s): instance %s deleted from group %s (desired size lowered by 1); %s", dr->why,
             dr->pid, dr->group != NULL ? dr->group : "?", how);
}

/* Undoes a drain: the taint goes, the node is left alone, an Event says why (dr->fail). */
static void undo(struct stv_disrupt *d, struct drain *dr) {
  struct nstate *n = nstate_of(d, dr->node, 0);
  d->st.drain_failures++;
  if (n != NULL) n->left_alone_until = stv_clock_now(d->clock) + d->o.left_alone;
  decide(d, "drain_failed", "node %s: %s; removing the taint and leaving it alone for %.0f s", dr->node,
         dr->fail, d->o.left_alone);
  node_event(d, dr->node, "Warning", "FailedDraining",
             "Failed to drain node: %s; taint %s removed, node left alone for %.0f s", dr->fail,
             STV_DISRUPT_TAINT_KEY, d->o.left_alone);
  dr->step = S_UNTAINT;
  dr->tries = 0;
  dr->delay = 0;
  dr->next_try = 0;
}

/* ---------------------------------------------------------------------- */
/* The node's calls: taint, untaint, delete the Node                      */

static void step(struct stv_disrupt *d, struct drain *dr);

static void on_taint(void *ctx, const struct stv_disrupt_result *r) {
  struct drain *dr;
  struct stv_disrupt *d = node_answer(ctx, &dr);
  if (d == NULL) return;
  if (dr->step == S_TAINT) {
    if (r->code == 0) {
      dr->step = S_EVICT;
      dr->delay = 0;
      decide(d, "drain", "node %s tainted %s:NoSchedule; evicting its pods", dr->node, STV_DISRUPT_TAINT_KEY);
    } else if (r->code == STV_ENOTFOUND) {
      snprintf(dr->fail, sizeof(dr->fail), "the Node object is gone");
      dr->step = S_DONE;
      decide(d, "drain_failed", "node %s: %s before it was tainted", dr->node, dr->fail);
    } else {
      snprintf(dr->fail, sizeof(dr->fail), "cannot taint the node: %.300s", r->message);
      dr->next_try = backoff(d, &dr->delay, r->retry_after);
      decide(d, "retry", "node %s: %s", dr->node, dr->fail);
    }
  } else if (dr->step == S_UNTAINT) {
    if (r->code == 0 || r->code == STV_ENOTFOUND || ++dr->tries >= UNTAINT_TRIES) {
      if (r->code != 0 && r->code != STV_ENOTFOUND)
        node_event(d, dr->node, "Warning", "FailedDraining",
                   "Cannot remove the taint %s: %.300s; remove it by hand", STV_DISRUPT_TAINT_KEY,
                   r->message);
      dr->step = S_DONE;
    } else {
      dr->next_try = backoff(d, &dr->delay, r->retry_after);
    }
  }
  step(d, dr);
}

static void on_node_deleted(void *ctx, const struct stv_disrupt_result *r) {
  struct drain *dr;
  struct stv_disrupt *d = node_answer(ctx, &dr);
  if (d == NULL) return;
  if (r->code == 0 || r->code == STV_ENOTFOUND) {
    if (r->code == 0) d->st.nodes_deleted++;
    finish(d, dr,
           r->code == 0 ? "the provider did not delete the Node object: Stevedore deleted it"
                        : "the Node object was gone");
    return;
  }
  dr->next_try = backoff(d, &dr->delay, r->retry_after);
  decide(d, "retry", "node %s: cannot delete the Node object: %.300s", dr->node, r->message);
}

static int node_call(struct stv_disrupt *d, struct drain *dr, int what) {
  struct call *c = call_new(d, dr, 0, 0);
  int rc;
  if (c == NULL) return STV_ENOMEM;
  if (what == 2)
    rc = d->kube->delete_node(d->kube_impl, dr->node, on_node_deleted, c);
  else
    rc = d->kube->taint(d->kube_impl, dr->node, what, on_taint, c);
  if (rc != 0) {
    (void)call_end(c);
    dr->next_try = backoff(d, &dr->delay, 0);
    return rc;
  }
  dr->calling = 1;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Evictions                                                              */

static void on_evict(void *ctx, const struct stv_disrupt_result *r) {
  struct call *c = ctx;
  struct drain *dr = c->dr;
  size_t i = c->pod;
  struct stv_disrupt *d = call_end(c);
  struct dpod *p;
  if (d == NULL) return;
  p = &dr->pods[i];
  if (p->state != P_CALLING) return;
  if (r->code == 0) {
    p->state = P_EVICTED;
    p->gone_by = stv_clock_now(d->clock) + p->grace + d->o.grace_margin;
    d->st.evictions++;
    decide(d, "evict", "pod %s/%s evicted from node %s", p->ns, p->name, dr->node);
    pod_event(d, p, "Normal", "Evicted", "Evicted pod: draining node %s (%s)", dr->node, dr->why);
  } else if (r->code == STV_ENOTFOUND) {
    p->state = P_GONE;
  } else {
    p->state = P_TODO;
    p->next_try = backoff(d, &p->delay, r->retry_after);
    snprintf(p->last, sizeof(p->last), "%.190s", r->message);
    if (r->code == STV_ETHROTTLED) {
      d->st.evictions_refused++;
      if (!p->refused)
        pod_event(d, p, "Normal", "DisruptionBlocked",
                  "Eviction refused (node %s is being drained): %.300s; retrying until the drain times out",
                  dr->node, r->message);
      p->refused = 1;
    } else {
      d->st.eviction_errors++;
      pod_event(d, p, "Warning", "FailedEviction", "Cannot evict pod (node %s is being drained): %.300s",
                dr->node, r->message);
    }
    decide(d, "retry", "pod %s/%s on node %s: eviction %s: %.300s", p->ns, p->name, dr->node,
           r->code == STV_ETHROTTLED ? "refused" : "failed", r->message);
  }
}

static void evict_due(struct stv_disrupt *d, struct drain *dr, double now) {
  size_t i;
  for (i = 0; i < dr->npods; i++) {
    struct dpod *p = &dr->pods[i];
    struct call *c;
    int rc;
    if (p->state != P_TODO || now < p->next_try) continue;
    if ((c = call_new(d, dr, i, 0)) == NULL) return;
    p->state = P_CALLING;
    if ((rc = d->kube->evict(d->kube_impl, p->ns, p->name, on_evict, c)) != 0) {
      (void)call_end(c);
      p->state = P_TODO;
      p->next_try = backoff(d, &p->delay, 0);
      snprintf(p->last, sizeof(p->last), "%s", stv_strerror(rc));
    }
  }
}

/* The evictions step: on to FIND when every pod is gone, or evicted and past its grace period; undone at the
 * deadline while some are not evicted. */
static void evict_step(struct stv_disrupt *d, struct drain *dr, double now) {
  size_t i, left = 0, unevicted = 0, late = 0;
  const struct dpod *first = NULL;
  if (!dr->counted) return; /* its pods are listed by the next look */
  evict_due(d, dr, now);
  for (i = 0; i < dr->npods; i++) {
    const struct dpod *p = &dr->pods[i];
    if (p->state == P_GONE) continue;
    left++;
    if (p->state == P_EVICTED) {
      late += now >= p->gone_by;
    } else {
      unevicted++;
      if (first == NULL) first = p;
    }
  }
  if (left == 0 || (unevicted == 0 && late == left)) {
    if (left > 0)
      decide(d, "drain",
             "node %s: %zu evicted pods still terminating past their grace period; deleting the "
             "instance anyway",
             dr->node, left);
    dr->step = S_FIND;
    dr->delay = 0;
    dr->next_try = 0;
    return;
  }
  if (unevicted > 0 && now >= dr->deadline) {
    snprintf(dr->fail, sizeof(dr->fail), "%zu pod%s not evicted within %.0f s (%s/%s: %.200s)", unevicted,
             unevicted == 1 ? "" : "s", d->o.drain_timeout, first->ns, first->name,
             first->last[0] ? first->last : "no answer yet");
    undo(d, dr);
  }
}

/* ---------------------------------------------------------------------- */
/* The instance                                                           */

static void on_deleted(void *ctx, const struct stv_cloud_result *r) {
  struct drain *dr;
  struct stv_disrupt *d = node_answer(ctx, &dr);
  if (d == NULL) return;
  if (r->code == 0 || r->code == STV_ENOTFOUND) {
    dr->step = S_GONE;
    dr->deleted_at = stv_clock_now(d->clock);
    dr->delay = 0;
    dr->next_try = 0;
    decide(d, "drain", "node %s: instance %s %s", dr->node, dr->pid,
           r->code == 0 ? "deleted" : "already gone");
  } else if (r->code == STV_EINVAL || ++dr->tries >= UNTAINT_TRIES) {
    snprintf(dr->fail, sizeof(dr->fail), "the provider refused to delete instance %s of group %s: %.200s",
             dr->pid, dr->group, r->message);
    undo(d, dr);
  } else {
    dr->next_try = backoff(d, &dr->delay, r->retry_after);
    decide(d, r->code == STV_ETHROTTLED ? "throttled" : "retry", "node %s: deleting instance %s: %.300s",
           dr->node, dr->pid, r->message);
  }
  step(d, dr);
}

static void delete_instance(struct stv_disrupt *d, struct drain *dr) {
  const char *ids[1];
  struct call *c = call_new(d, dr, 0, 1);
  int rc;
  if (c == NULL) return;
  ids[0] = dr->pid;
  if ((rc = d->cloud->ops->delete_instances(d->cloud, dr->group, ids, 1, on_deleted, c)) != 0) {
    (void)call_end(c);
    dr->next_try = backoff(d, &dr->delay, 0);
    decide(d, "retry", "node %s: deleting instance %s: %s", dr->node, dr->pid, stv_strerror(rc));
    return;
  }
  dr->calling = 1;
}

static void on_find(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_instance *v,
                    size_t n) {
  struct drain *dr;
  struct stv_disrupt *d = node_answer(ctx, &dr);
  size_t i;
  if (d == NULL) return;
  if (r->code != 0) {
    dr->next_try = backoff(d, &dr->delay, r->retry_after);
    return;
  }
  for (i = 0; i < n && strcmp(v[i].provider_id, dr->pid) != 0; i++) {
  }
  if (i == n) {
    dr->step = S_GONE; /* the provider has no such instance any more */
    dr->deleted_at = stv_clock_now(d->clock);
    return;
  }
  stv_free(dr->group);
  if ((dr->group = stv_strdup(v[i].group_id)) == NULL) return;
  dr->step = S_DELETE;
  step(d, dr);
}

/* ---------------------------------------------------------------------- */
/* One step of a drain                                                    */

static void step(struct stv_disrupt *d, struct drain *dr) {
  double now = stv_clock_now(d->clock);
  if (dr->calling || dr->step == S_DONE) return;
  switch (dr->step) {
  case S_TAINT:
    if (now >= dr->deadline) {
      d->st.drain_failures++;
      decide(d, "drain_failed", "node %s: %s; giving up", dr->node, dr->fail);
      node_event(d, dr->node, "Warning", "FailedDraining", "Failed to drain node: %s", dr->fail);
      dr->step = S_DONE;
    } else if (now >= dr->next_try) {
      (void)node_call(d, dr, 1);
    }
    break;
  case S_EVICT:
    evict_step(d, dr, now);
    if (dr->step == S_FIND) step(d, dr);
    break;
  case S_FIND:
    if (dr->group != NULL) {
      dr->step = S_DELETE;
      step(d, dr);
    } else if (now >= dr->next_try) {
      struct call *c = call_new(d, dr, 0, 1);
      if (c == NULL) break;
      if (d->cloud->ops->list_instances(d->cloud, on_find, c) != 0) {
        (void)call_end(c);
        dr->next_try = backoff(d, &dr->delay, 0);
      } else {
        dr->calling = 1;
      }
    }
    break;
  case S_DELETE:
    if (now >= dr->next_try) delete_instance(d, dr);
    break;
  case S_GONE:
    if (stv_snapshot_find_node(d->view.store(d->view.ctx), dr->node) < 0)
      finish(d, dr, "the provider deleted the Node object");
    else if (now - dr->deleted_at >= d->o.node_gone_wait && now >= dr->next_try)
      (void)node_call(d, dr, 2);
    break;
  case S_UNTAINT:
    if (now >= dr->next_try) (void)node_call(d, dr, 0);
    break;
  case S_DONE:
    break;
  }
}

/* ---------------------------------------------------------------------- */
/* Starting a drain                                                       */

static struct drain *drain_new(struct stv_disrupt *d, const char *node, const char *pid, const char *group,
                               const char *pool, const char *why) {
  struct drain *dr = stv_calloc(1, sizeof(*dr));
  if (dr == NULL) return NULL;
  dr->node = stv_strdup(node);
  dr->pid = stv_strdup(pid);
  dr->why = stv_strdup(why);
  dr->pool = stv_strdup(pool != NULL ? pool : "");
  dr->group = group != NULL ? stv_strdup(group) : NULL;
  if (dr->node == NULL || dr->pid == NULL || dr->why == NULL || dr->pool == NULL ||
      (group != NULL && dr->group == NULL)) {
    drain_free(dr);
    return NULL;
  }
  dr->started = stv_clock_now(d->clock);
  dr->deadline = dr->started + d->o.drain_timeout;
  snprintf(dr->fail, sizeof(dr->fail), "not tainted yet");
  dr->next = d->drains;
  d->drains = dr;
  d->st.drains_started++;
  decide(d, "drain", "draining node %s (%s)", node, why);
  node_event(d, node, "Normal", "DisruptionTerminating", "Disrupting Node: %s", why);
  step(d, dr);
  return dr;
}

static int start_drain(struct stv_disrupt *d, const struct stv_snapshot *s, size_t i, const char *group,
                       const char *why) {
  const char *pid = d->view.provider_id(d->view.ctx, i);
  if (pid == NULL) return STV_ENOTFOUND;
  if (drain_of(d, s->nodes[i].name) != NULL) return STV_ECONFLICT;
  return drain_new(d, s->nodes[i].name, pid, group, stv_labels_get(&s->nodes[i].labels, POOL_LABEL), why) !=
                 NULL
             ? 0
             : STV_ENOMEM;
}

int stv_disrupt_drain(struct stv_disrupt *d, const char *node, const char *why) {
  const struct stv_snapshot *s = d->view.store(d->view.ctx);
  int32_t i = stv_snapshot_find_node(s, node);
  if (i < 0) return STV_ENOTFOUND;
  if (d->o.dry_run) {
    d->st.would_remove++;
    decide(d, "would_remove", "dry run: would drain and remove node %s (%s)", node, why);
    node_event(d, node, "Normal", "DisruptionDryRun", "Dry run: would disrupt Node: %s", why);
    return 0;
  }
  return start_drain(d, s, (size_t)i, NULL, why);
}

/* ---------------------------------------------------------------------- */
/* The look: pods per node, drains moved on, empty nodes                  */

/* Notes pod p (on node i, drained by dr) in dr's list: new pods join it. */
static void drain_saw(struct drain *dr, const struct stv_pod *p) {
  size_t k;
  struct dpod *q;
  for (k = 0; k < dr->npods; k++)
    if (strcmp(dr->pods[k].name, p->name) == 0 && strcmp(dr->pods[k].ns, p->ns) == 0) {
      if (dr->pods[k].state != P_GONE) dr->pods[k].seen = 1;
      return;
    }
  if (dr->npods == dr->cap && stv_grow((void **)&dr->pods, &dr->cap, dr->npods + 1, sizeof(*dr->pods)) != 0)
    return;
  q = &dr->pods[dr->npods];
  memset(q, 0, sizeof(*q));
  q->ns = stv_strdup(p->ns);
  q->name = stv_strdup(p->name);
  if (q->ns == NULL || q->name == NULL) {
    stv_free(q->ns);
    stv_free(q->name);
    return;
  }
  q->seen = 1;
  q->grace = p->grace > 0 ? p->grace : 0;
  dr->npods++;
}

/*
 * Node index by the address of its name. Every string of a snapshot is
 * interned in its pool, so a pod's spec.nodeName is the very pointer of
 * its node's name: a table keyed by address finds it without hashing the
 * name (the look runs every second over every pod). A miss falls back to
 * stv_snapshot_find_node, so a pool that did not intern both would only be
 * slower. slots holds index + 1; 0 is empty.
 */
struct by_addr {
  uint32_t *slots;
  size_t mask;
};

static size_t addr_hash(const void *p, size_t mask) {
  return (size_t)(((uint64_t)(uintptr_t)p >> 3) * UINT64_C(0x9E3779B97F4A7C15) >> 32) & mask;
}

static int by_addr_init(struct by_addr *t, const struct stv_snapshot *s) {
  size_t cap = 16, i, j;
  while (cap < 2 * s->nnodes) cap *= 2;
  if ((t->slots = stv_calloc(cap, sizeof(*t->slots))) == NULL) return STV_ENOMEM;
  t->mask = cap - 1;
  for (i = 0; i < s->nnodes; i++) {
    for (j = addr_hash(s->nodes[i].name, t->mask); t->slots[j] != 0; j = (j + 1) & t->mask) {
    }
    t->slots[j] = (uint32_t)i + 1;
  }
  return 0;
}

static int32_t by_addr_find(const struct by_addr *t, const struct stv_snapshot *s, const char *name) {
  size_t j;
  for (j = addr_hash(name, t->mask); t->slots[j] != 0; j = (j + 1) & t->mask)
    if (s->nodes[t->slots[j] - 1].name == name) return (int32_t)t->slots[j] - 1;
  return stv_snapshot_find_node(s, name);
}

/*
 * One pass over the store's pods: workload pods per node into count (the
 * store's node order), and the pods of each node under drain into its
 * drain's list; pods not seen any more are gone. Returns 0 or STV_ENOMEM.
 */
static int count_pods(struct stv_disrupt *d, const struct stv_snapshot *s, uint32_t *count,
                      struct drain **by) {
  struct by_addr t;
  struct drain *dr;
  size_t i, k;
  if (by_addr_init(&t, s) != 0) return STV_ENOMEM; /* no look at all: a node must not seem empty */
  for (dr = d->drains; dr != NULL; dr = dr->next) {
    int32_t n = dr->step == S_EVICT ? stv_snapshot_find_node(s, dr->node) : -1;
    if (n >= 0) by[n] = dr;
    if (dr->step == S_EVICT) dr->counted = 1;
    for (k = 0; k < dr->npods; k++) dr->pods[k].seen = 0;
  }
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    int32_t n;
    if (p->node_name == NULL || pod_finished(p) || stv_pod_stays_with_node(s, p)) continue;
    if ((n = by_addr_find(&t, s, p->node_name)) < 0) continue;
    count[n]++;
    if (by[n] != NULL) drain_saw(by[n], p);
  }
  stv_free(t.slots);
  for (dr = d->drains; dr != NULL; dr = dr->next) {
    if (dr->step != S_EVICT) continue;
    for (k = 0; k < dr->npods; k++)
      if (!dr->pods[k].seen && dr->pods[k].state != P_CALLING) dr->pods[k].state = P_GONE;
  }
  return 0;
}

static void select_empty(struct stv_disrupt *d);

/* Frees the drains that are done (none has a call in flight: calls are only made by drains not done). */
static void reap(struct stv_disrupt *d) {
  struct drain **pp = &d->drains;
  while (*pp != NULL) {
    struct drain *dr = *pp;
    if (dr->step == S_DONE && dr->ncalls == 0) {
      *pp = dr->next;
      drain_free(dr);
    } else {
      pp = &dr->next;
    }
  }
}

/* Is any node empty long enough to be a candidate? Updates every node's emptiness. */
static int note_empty(struct stv_disrupt *d, const struct stv_snapshot *s, const uint32_t *count) {
  double now = stv_clock_now(d->clock);
  int busy = d->view.busy != NULL && d->view.busy(d->view.ctx);
  size_t i;
  int any = 0;
  for (i = 0; i < s->nnodes; i++) {
    struct nstate *n = nstate_of(d, s->nodes[i].name, 1);
    if (n == NULL) continue;
    if (count[i] > 0 || drain_of(d, s->nodes[i].name) != NULL) {
      n->empty_since = 0;
      n->reported = n->blocked = 0;
      continue;
    }
    if (n->empty_since == 0) n->empty_since = now;
    if (!busy && now - n->empty_since >= d->o.empty_for && now - n->registered_at >= d->o.empty_for &&
        now >= n->left_alone_until && !n->reported)
      any = 1;
  }
  return any;
}

/*
 * At the first look: a node that carries the taint with no drain of ours
 * was being drained by an earlier leader that stopped; the drain is not
 * resumed (its pods may have been counted on elsewhere): the taint goes.
 */
static void untaint_leftovers(struct stv_disrupt *d, const struct stv_snapshot *s) {
  size_t i, k;
  for (i = 0; i < s->nnodes && !d->o.dry_run; i++) {
    const struct stv_node *n = &s->nodes[i];
    const char *pid = d->view.provider_id(d->view.ctx, i);
    struct drain *dr;
    for (k = 0; k < n->ntaints && strcmp(n->taints[k].key, STV_DISRUPT_TAINT_KEY) != 0; k++) {
    }
    if (k == n->ntaints || drain_of(d, n->name) != NULL) continue;
    if ((dr = stv_calloc(1, sizeof(*dr))) == NULL) return;
    dr->node = stv_strdup(n->name);
    dr->pid = stv_strdup(pid != NULL ? pid : "");
    dr->why = stv_strdup("a drain an earlier leader left");
    dr->pool = stv_strdup("");
    if (dr->node == NULL || dr->pid == NULL || dr->why == NULL || dr->pool == NULL) {
      drain_free(dr);
      return;
    }
    dr->step = S_UNTAINT;
    dr->next = d->drains;
    d->drains = dr;
    decide(d, "drain", "node %s carries %s from a drain an earlier leader left: removing the taint", n->name,
           STV_DISRUPT_TAINT_KEY);
  }
}

static void on_tick(struct stv_timer *t) {
  struct stv_disrupt *d = t->data;
  const struct stv_snapshot *s = d->view.store(d->view.ctx);
  if (!d->looked) {
    d->looked = 1;
    untaint_leftovers(d, s);
  }
  uint32_t *count = stv_calloc(s->nnodes + 1, sizeof(*count));
  struct drain **by = stv_calloc(s->nnodes + 1, sizeof(*by));
  struct drain *dr;
  if (count != NULL && by != NULL && count_pods(d, s, count, by) == 0) {
    for (dr = d->drains; dr != NULL; dr = dr->next) step(d, dr);
    reap(d);
    if (d->o.emptiness && note_empty(d, s, count) && !d->listing && stv_clock_now(d->clock) >= d->next_select)
      select_empty(d);
  }
  stv_free(count);
  stv_free(by);
  if (stv_clock_start(d->clock, &d->tick, d->o.interval, on_tick, d) != 0)
    decide(d, "error", "cannot restart the drainer's timer: out of memory");
}

/* ---------------------------------------------------------------------- */
/* Selection: groups and instances listed, then each candidate checked    */

struct selection {
  struct stv_disrupt *d;
  struct call *call;
};

static const struct stv_cloud_group *group_of(const struct stv_disrupt *d, const char *id) {
  size_t i;
  for (i = 0; i < d->ngroups; i++)
    if (strcmp(d->groups[i].id, id) == 0) return &d->groups[i];
  return NULL;
}

static void groups_clear(struct stv_disrupt *d) {
  size_t i;
  for (i = 0; i < d->ngroups; i++) stv_free((void *)d->groups[i].id);
  stv_free(d->groups);
  d->groups = NULL;
  d->ngroups = 0;
}

/* Nodes of pool (a label value or "") in the store, and drains of it under way. */
static void pool_counts(const struct stv_disrupt *d, const struct stv_snapshot *s, const char *pool,
                        size_t *nodes, size_t *draining) {
  const struct drain *dr;
  size_t i;
  *nodes = *draining = 0;
  for (i = 0; i < s->nnodes; i++) {
    const char *p = stv_labels_get(&s->nodes[i].labels, POOL_LABEL);
    *nodes += strcmp(p != NULL ? p : "", pool) == 0;
  }
  for (dr = d->drains; dr != NULL; dr = dr->next)
    *draining += dr->step != S_DONE && strcmp(dr->pool, pool) == 0;
}

/* Drains under way in group id. */
static int64_t group_draining(const struct stv_disrupt *d, const char *id) {
  const struct drain *dr;
  int64_t n = 0;
  for (dr = d->drains; dr != NULL; dr = dr->next)
    n += dr->step != S_DONE && dr->step != S_UNTAINT && dr->group != NULL && strcmp(dr->group, id) == 0;
  return n;
}

/* Why the empty node i (instance of group g, may be NULL) is kept, or NULL: it may go. */
static const char *kept_because(struct stv_disrupt *d, const struct stv_snapshot *s, size_t i,
                                const struct stv_cloud_group *g, char *buf, size_t size) {
  const char *pool = stv_labels_get(&s->nodes[i].labels, POOL_LABEL);
  const char *why = stv_node_why_undisruptable(&s->nodes[i]);
  size_t nodes, draining;
  int64_t allowed;
  if (why != NULL) return why;
  if (g == NULL) return "its instance belongs to no group of the provider";
  if (g->desired - group_draining(d, g->id) - 1 < g->min) {
    snprintf(buf, size, "group %s is at its minimum size %lld", g->id, (long long)g->min);
    return buf;
  }
  pool_counts(d, s, pool != NULL ? pool : "", &nodes, &draining);
  allowed = stv_disrupt_budget_allowed(&d->o.budget, nodes);
  if ((int64_t)draining >= allowed) {
    snprintf(buf, size,
             "No allowed disruptions due to blocking budget: pool %s allows %lld of its %zu nodes at once, "
             "%zu being disrupted",
             pool != NULL ? pool : "(default)", (long long)allowed, nodes, draining);
    return buf;
  }
  return NULL;
}

static void choose(struct stv_disrupt *d, const struct stv_cloud_instance *v, size_t n) {
  const struct stv_snapshot *s = d->view.store(d->view.ctx);
  double now = stv_clock_now(d->clock);
  char buf[400], why[120];
  size_t i, k;
  if (d->view.busy != NULL && d->view.busy(d->view.ctx)) return;
  for (i = 0; i < s->nnodes; i++) {
    struct nstate *ns = nstate_of(d, s->nodes[i].name, 0);
    const char *pid = d->view.provider_id(d->view.ctx, i), *kept;
    const struct stv_cloud_group *g = NULL;
    if (ns == NULL || ns->empty_since == 0 || ns->reported || now - ns->empty_since < d->o.empty_for ||
        now - ns->registered_at < d->o.empty_for || now < ns->left_alone_until ||
        drain_of(d, s->nodes[i].name))
      continue;
    if (pid == NULL) continue;
    for (k = 0; k < n && strcmp(v[k].provider_id, pid) != 0; k++) {
    }
    if (k < n) g = group_of(d, v[k].group_id);
    if ((kept = kept_because(d, s, i, g, buf, sizeof(buf))) != NULL) {
      if (ns->blocked) continue;
      d->st.blocked++;
      ns->blocked = 1;
      decide(d, "blocked", "empty node %s kept: %s", s->nodes[i].name, kept);
      node_event(d, s->nodes[i].name, "Normal", "DisruptionBlocked", "Empty node kept: %s", kept);
      continue;
    }
    snprintf(why, sizeof(why), "Empty (no workload pods for %.0f s)", now - ns->empty_since);
    if (d->o.dry_run) {
      d->st.would_remove++;
      ns->reported = 1;
      decide(d, "would_remove", "dry run: would drain and remove node %s (%s), instance %s of group %s",
             s->nodes[i].name, why, pid, g->id);
      node_event(d, s->nodes[i].name, "Normal", "DisruptionDryRun",
                 "Dry run: would disrupt Node: %s; instance %s of group %s would be deleted", why, pid,
                 g->id);
      continue;
    }
    (void)start_drain(d, s, i, g->id, why);
  }
}

static void on_sel_instances(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_instance *v,
                             size_t n) {
  struct call *c = ctx;
  struct stv_disrupt *d = call_end(c);
  if (d == NULL) return;
  d->listing = 0;
  if (r->code != 0) {
    decide(d, "retry", "listing the provider's instances to choose empty nodes: %.300s", r->message);
    return;
  }
  choose(d, v, n);
}

static void on_sel_groups(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_group *v,
                          size_t n) {
  struct call *c = ctx;
  struct stv_disrupt *d = call_end(c);
  size_t i;
  if (d == NULL) return;
  groups_clear(d);
  if (r->code != 0 || (d->groups = stv_calloc(n + 1, sizeof(*d->groups))) == NULL) {
    d->listing = 0;
    decide(d, "retry", "listing the provider's groups to choose empty nodes: %.300s",
           r->code != 0 ? r->message : "out of memory");
    return;
  }
  for (i = 0; i < n; i++) {
    d->groups[i] = v[i];
    d->groups[i].offerings = NULL;
    d->groups[i].noffer = 0;
    d->groups[i].pool = NULL;
    if ((d->groups[i].id = stv_strdup(v[i].id)) == NULL) break;
    d->ngroups++;
  }
  if ((c = call_new(d, NULL, 0, 1)) == NULL ||
      d->cloud->ops->list_instances(d->cloud, on_sel_instances, c) != 0) {
    if (c != NULL) (void)call_end(c);
    d->listing = 0;
  }
}

static void select_empty(struct stv_disrupt *d) {
  struct call *c = call_new(d, NULL, 0, 1);
  if (c == NULL) return;
  d->listing = 1;
  d->next_select = stv_clock_now(d->clock) + SELECT_EVERY;
  if (d->cloud->ops->list_groups(d->cloud, on_sel_groups, c) != 0) {
    (void)call_end(c);
    d->listing = 0;
  }
}

/* ---------------------------------------------------------------------- */
/* Life                                                                   */

int stv_disrupt_new(struct stv_disrupt **out, const struct stv_disrupt_opts *o, struct stv_clock *clock,
                    struct stv_cloud *cloud, const struct stv_disrupt_kube_ops *kube, void *kube_impl,
                    const struct stv_disrupt_view *view, struct stv_events *events, struct stv_err *err) {
  struct stv_disrupt *d;
  int rc;
  *out = NULL;
  if ((rc = check_opts(o, err)) != 0) return rc;
  if ((d = stv_calloc(1, sizeof(*d))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  d->o = *o;
  d->clock = clock;
  d->cloud = cloud;
  d->kube = kube;
  d->kube_impl = kube_impl;
  d->view = *view;
  d->events = events;
  stv_strpool_init(&d->pool);
  *out = d;
  return 0;
}

int stv_disrupt_start(struct stv_disrupt *d) {
  if (d->started) return 0;
  d->started = 1;
  return stv_clock_start(d->clock, &d->tick, d->o.interval, on_tick, d);
}

void stv_disrupt_get_stats(const struct stv_disrupt *d, struct stv_disrupt_stats *st) {
  const struct drain *dr;
  *st = d->st;
  st->draining = 0;
  for (dr = d->drains; dr != NULL; dr = dr->next) st->draining += dr->step != S_DONE;
}

int stv_disrupt_busy(const struct stv_disrupt *d) {
  const struct drain *dr;
  if (d->calls != NULL) return 1;
  for (dr = d->drains; dr != NULL; dr = dr->next)
    if (dr->step != S_DONE) return 1;
  return 0;
}

void stv_disrupt_free(struct stv_disrupt *d) {
  if (d == NULL) return;
  stv_clock_stop(d->clock, &d->tick);
  /* Detach the calls in flight: a kube answer that comes later frees its record only. Cloud answers will not
   * come (the cloud was closed first); their records are freed here. */
  while (d->calls != NULL) {
    struct call *c = d->calls;
    d->calls = c->next;
    c->d = NULL;
    c->prev = c->next = NULL;
    if (c->cloud) stv_free(c);
  }
  while (d->drains != NULL) {
    struct drain *dr = d->drains;
    d->drains = dr->next;
    drain_free(dr);
  }
  groups_clear(d);
  stv_strmap_close(&d->names);
  stv_strpool_close(&d->pool);
  stv_free(d->ns);
  stv_free(d);
}
