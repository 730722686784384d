/*
 * The sim cloud provider (cloud/sim.h, docs/cloud.md).
 *
 * State. An array of groups (one per catalogue offering) with a parallel
 * array of their public descriptions, so that list_groups hands out the
 * array as it is; a map from group name to index. Each group keeps its
 * instances in a list, oldest first. An instance is PENDING, RUNNING or
 * TERMINATING; a launch that will fail for capacity is kept as a "doomed"
 * instance with no provider id, which no listing shows (a real Auto Scaling
 * group has no instance for an activity that fails) but which holds its
 * place in the desired size until it fails. So, for every group:
 *
 *   desired == pending + running + doomed   (TERMINATING ones not counted)
 *
 * Time. Everything happens on the provider's clock: each instance has one
 * timer for its next step (run, fail, interrupt, terminate), each call one
 * timer that delivers its answer, each storm one timer. Events are reported
 * from those timers only, one per timer callback, so that a user callback
 * may call the provider, or close it, without pulling the ground from under
 * a loop.
 *
 * Chance. Three xorshift streams drawn from the seed: launches (capacity
 * failures), calls (throttling) and interruptions, so that turning one
 * fault on does not move the others.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim.h"

enum step { STEP_NONE, STEP_RUN, STEP_FAIL, STEP_INTERRUPT, STEP_NOTICE, STEP_TERMINATE };

struct sim;
struct sim_group;

struct sim_inst {
  struct stv_timer timer; /* its next step */
  struct sim_group *g;
  struct sim_inst *prev, *next; /* the group's list */
  uint64_t id;                  /* 0: doomed */
  enum stv_cloud_instance_state state;
  enum step step;
  int doomed;
  double launch_time, running_since; /* running_since < 0: never ran */
  char provider_id[96];
};

struct sim_group {
  struct sim *sim;
  struct stv_cloud_offering offer;
  double price;
  struct sim_inst *head, *tail;
  int64_t pending, running, doomed;
};

enum call_kind { CALL_GROUPS, CALL_INSTANCES, CALL_DONE, CALL_PRICES };

struct sim_call {
  struct stv_timer timer;
  struct sim *sim;
  struct sim_call *prev, *next;
  enum call_kind kind;
  union {
    stv_cloud_groups_cb groups;
    stv_cloud_instances_cb instances;
    stv_cloud_done_cb done;
    stv_cloud_prices_cb prices;
  } cb;
  void *ctx;
  int code;
  double retry_after;
  char message[512];
};

struct sim_storm {
  struct stv_timer timer;
  struct sim *sim;
  struct stv_sim_storm s; /* strings interned in sim->pool */
};

struct sim {
  struct stv_cloud cloud;
  struct stv_cloud_ops ops; /* sim_ops, with fetch_prices when opts.prices_file is set */
  struct stv_sim_opts o; /* arrays copied, strings interned in pool */
  struct stv_strpool pool;
  struct stv_strmap by_name; /* group id to index */
  struct sim_group *groups;
  struct stv_cloud_group *pub; /* parallel to groups */
  size_t ngroups;
  struct sim_inst **by_id; /* instance id - 1 to live instance, NULL once gone */
  size_t nids, capids;
  struct sim_call *calls; /* awaiting delivery */
  struct sim_storm *storms;
  uint64_t rng_launch, rng_call, rng_interrupt;
  double tokens, tokens_at;
  struct stv_sim_usage usage; /* closed intervals and counts */
};

/* ---- chance ---------------------------------------------------------- */

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A uniform number in [0, 1). */
static double uniform(uint64_t *state) {
  return (double)(splitmix(state) >> 11) / 9007199254740992.0;
}

/* ---- events and clock -------------------------------------------------- */

static struct stv_clock *clk(struct sim *s) {
  return s->cloud.clock;
}
static double now(struct sim *s) {
  return stv_clock_now(s->cloud.clock);
}

static void describe(const struct sim_inst *in, struct stv_cloud_instance *out) {
  out->provider_id = in->doomed ? NULL : in->provider_id;
  out->group_id = in->g->sim->pub[in->g - in->g->sim->groups].id;
  out->instance_type = in->g->offer.instance_type;
  out->zone = in->g->offer.zone;
  out->capacity_type = in->g->offer.capacity_type;
  out->state = in->state;
  out->launch_time = in->launch_time;
}

static void emit(struct sim_inst *in, enum stv_cloud_event_kind kind, int code, const char *msg,
                 double deadline) {
  struct sim *s = in->g->sim;
  struct stv_cloud_instance inst;
  struct stv_cloud_event ev;
  if (s->cloud.on_event == NULL) return;
  describe(in, &inst);
  ev.kind = kind;
  ev.instance = &inst;
  ev.code = code;
  ev.message = msg;
  ev.deadline = deadline;
  s->cloud.on_event(s->cloud.event_ctx, &ev);
}

static void inst_cb(struct stv_timer *t);

/* Sets in's next step after delay seconds. */
static int schedule(struct sim_inst *in, enum step step, double delay) {
  in->step = step;
  return stv_clock_start(clk(in->g->sim), &in->timer, delay, inst_cb, in);
}

/* ---- instances --------------------------------------------------------- */

static void group_pub_sync(struct sim_group *g) {
  struct stv_cloud_group *p = &g->sim->pub[g - g->sim->groups];
  p->desired = g->pending + g->running + g->doomed;
}

static void unlink_inst(struct sim_inst *in) {
  struct sim_group *g = in->g;
  if (in->prev != NULL)
    in->prev->next = in->next;
  else
    g->head = in->next;
  if (in->next != NULL)
    in->next->prev = in->prev;
  else
    g->tail = in->prev;
}

/* Adds the billed time of in, from RUNNING up to `until`, to u. */
static void bill(const struct sim_inst *in, double until, struct stv_sim_usage *u) {
  double hours;
  if (in->running_since < 0 || until <= in->running_since) return;
  hours = (until - in->running_since) / 3600.0;
  u->node_hours[in->g->offer.capacity_type] += hours;
  u->cost[in->g->offer.capacity_type] += hours * in->g->price;
}

/* Takes in out of the group's counts (it no longer holds a place in desired). */
static void uncount(struct sim_inst *in) {
  struct sim_group *g = in->g;
  if (in->doomed)
    g->doomed--;
  else if (in->state == STV_INSTANCE_PENDING)
    g->pending--;
  else if (in->state == STV_INSTANCE_RUNNING)
    g->running--;
  group_pub_sync(g);
}

/* Frees in (already uncounted and out of its timer). */
static void free_inst(struct sim_inst *in) {
  struct sim *s = in->g->sim;
  unlink_inst(in);
  if (in->id != 0) s->by_id[in->id - 1] = NULL;
  stv_clock_stop(clk(s), &in->timer);
  stv_free(in);
}

/* Puts in at the end of g's list (the newest). */
static void append_inst(struct sim_group *g, struct sim_inst *in) {
  in->prev = g->tail;
  if (g->tail != NULL)
    g->tail->next = in;
  else
    g->head = in;
  g->tail = in;
}

/* A running spot instance's interruption, at a time drawn from the Poisson rate (none without one). */
static void schedule_interruption(struct sim_inst *in) {
  struct sim *s = in->g->sim;
  if (in->g->offer.capacity_type == STV_CT_SPOT && s->o.interruptions_per_hour > 0) {
    double u = uniform(&s->rng_interrupt);
    (void)schedule(in, STEP_INTERRUPT, -log1p(-u) * 3600.0 / s->o.interruptions_per_hour);
  }
}

/* Launches one instance in g: PENDING, or doomed when a capacity fault hits. */
static int launch(struct sim_group *g) {
  struct sim *s = g->sim;
  struct sim_inst *in;
  double t = now(s), p = 0;
  size_t i;
  int rc;
  for (i = 0; i < s->o.nice; i++) {
    const struct stv_sim_ice *f = &s->o.ice[i];
    if (f->instance_type != NULL && strcmp(f->instance_type, g->offer.instance_type) != 0) continue;
    if (f->zone != NULL && strcmp(f->zone, g->offer.zone) != 0) continue;
    if (f->capacity_type >= 0 && f->capacity_type != (int)g->offer.capacity_type) continue;
    if (t < f->from || t >= f->until) continue;
    p = 1 - (1 - p) * (1 - f->rate);
  }
  if (s->nids == s->capids && stv_grow((void **)&s->by_id, &s->capids, s->nids + 1, sizeof(*s->by_id)) != 0)
    return STV_ENOMEM;
  in = stv_calloc(1, sizeof(*in));
  if (in == NULL) return STV_ENOMEM;
  in->g = g;
  in->state = STV_INSTANCE_PENDING;
  in->launch_time = t;
  in->running_since = -1;
  in->doomed = p > 0 && uniform(&s->rng_launch) < p;
  if (!in->doomed) {
    s->by_id[s->nids++] = in;
    in->id = s->nids;
    snprintf(in->provider_id, sizeof(in->provider_id), "sim:///%s/%" PRIu64, g->offer.zone, in->id);
  }
  append_inst(g, in);
  if (in->doomed)
    g->doomed++;
  else
    g->pending++;
  group_pub_sync(g);
  s->usage.launched++;
  rc = in->doomed ? schedule(in, STEP_FAIL, s->o.launch_fail_delay)
                  : schedule(in, STEP_RUN, s->o.launch_delay);
  if (rc != 0) {
    uncount(in);
    s->usage.launched--;
    free_inst(in);
  }
  return rc;
}

/* Starts the termination of in: TERMINATING now, gone after `delay`.
 * Returns 0, or STV_ENOMEM when the clock had no room for the timer: in is
 * then ended at once, without an event, rather than left for ever. */
static int terminate(struct sim_inst *in, double delay) {
  int rc;
  uncount(in);
  in->state = STV_INSTANCE_TERMINATING;
  rc = schedule(in, STEP_TERMINATE, delay);
  if (rc != 0) {
    bill(in, now(in->g->sim), &in->g->sim->usage);
    in->g->sim->usage.terminated++;
    free_inst(in);
  }
  return rc;
}

static void run_step(struct sim_inst *in) {
  struct sim *s = in->g->sim;
  struct sim_group *g = in->g;
  char msg[160];
  in->state = STV_INSTANCE_RUNNING;
  in->running_since = now(s);
  g->pending--;
  g->running++;
  in->step = STEP_NONE;
  schedule_interruption(in);
  snprintf(msg, sizeof(msg), "instance %s (%s in %s) is running", in->provider_id, g->offer.instance_type,
           g->offer.zone);
  emit(in, STV_CLOUD_EV_RUNNING, 0, msg, 0);
}

static void fail_step(struct sim_inst *in) {
  struct sim *s = in->g->sim;
  struct sim_group *g = in->g;
  struct stv_cloud_instance inst;
  struct stv_cloud_event ev;
  char msg[200];
  snprintf(
      msg, sizeof(msg),
      "sim: insufficient capacity for %s %s in %s: launch failed; the group's desired size drops back by one",
      g->offer.instance_type, stv_capacity_type_name(g->offer.capacity_type), g->offer.zone);
  describe(in, &inst);
  uncount(in);
  s->usage.launch_failed++;
  free_inst(in);
  if (s->cloud.on_event == NULL) return;
  ev.kind = STV_CLOUD_EV_LAUNCH_FAILED;
  ev.instance = &inst;
  ev.code = STV_ECAPACITY;
  ev.message = msg;
  ev.deadline = 0;
  s->cloud.on_event(s->cloud.event_ctx, &ev);
}

/* A spot interruption notice: the instance goes after the notice; the group
 * launches its replacement now, as an Auto Scaling group with capacity
 * rebalancing does, so its desired size holds. */
static void notice_step(struct sim_inst *in) {
  struct sim *s = in->g->sim;
  struct sim_group *g = in->g;
  char msg[200];
  if (in->state != STV_INSTANCE_RUNNING) return;
  s->usage.interrupted++;
  (void)launch(g); /* without memory for it the group shrinks by one */
  if (terminate(in, s->o.interruption_notice) != 0) return;
  snprintf(msg, sizeof(msg), "sim: spot interruption of %s (%s in %s): terminated in %g s", in->provider_id,
           g->offer.instance_type, g->offer.zone, s->o.interruption_notice);
  emit(in, STV_CLOUD_EV_INTERRUPTION, 0, msg, s->o.interruption_notice);
}

static void terminate_step(struct sim_inst *in) {
  struct sim *s = in->g->sim;
  struct stv_cloud_instance inst;
  struct stv_cloud_event ev;
  char msg[160], pid[96];
  bill(in, now(s), &s->usage);
  s->usage.terminated++;
  memcpy(pid, in->provider_id, sizeof(pid));
  describe(in, &inst);
  inst.provider_id = pid;
  snprintf(msg, sizeof(msg), "instance %s is terminated", pid);
  free_inst(in);
  if (s->cloud.on_event == NULL) return;
  ev.kind = STV_CLOUD_EV_TERMINATED;
  ev.instance = &inst;
  ev.code = 0;
  ev.message = msg;
  ev.deadline = 0;
  s->cloud.on_event(s->cloud.event_ctx, &ev);
}

static void inst_cb(struct stv_timer *t) {
  struct sim_inst *in = t->data;
  enum step step = in->step;
  in->step = STEP_NONE;
  switch (step) {
  case STEP_RUN:
    run_step(in);
    break;
  case STEP_FAIL:
    fail_step(in);
    break;
  case STEP_INTERRUPT:
  case STEP_NOTICE:
    notice_step(in);
    break;
  case STEP_TERMINATE:
    terminate_step(in);
    break;
  case STEP_NONE:
    break;
  }
}

/* ---- calls ------------------------------------------------------------- */

static void call_unlink(struct sim_call *c) {
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    c->sim->calls = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
}

static void deliver_instances(struct sim_call *c, const struct stv_cloud_result *r) {
  struct sim *s = c->sim;
  struct stv_cloud_instance *v = NULL;
  size_t n = 0, i, cap = 0;
  struct stv_cloud_result oom = {STV_ENOMEM, "sim: out of memory listing instances", 0};
  if (r->code == 0) {
    for (i = 0; i < s->nids; i++) cap += s->by_id[i] != NULL;
    v = stv_calloc(cap + 1, sizeof(*v));
    if (v == NULL) r = &oom;
    for (i = 0; v != NULL && i < s->ngroups; i++) {
      struct sim_inst *in;
      for (in = s->groups[i].head; in != NULL; in = in->next)
        if (!in->doomed) describe(in, &v[n++]);
    }
  }
  c->cb.instances(c->ctx, r, v, n);
  stv_free(v);
}

/* ---- live prices (--sim-prices FILE) ------------------------------------ */

static const char *json_str(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Reads quote i of the prices file into q (strings borrowed from the document); 0 or STV_EINVAL with msg. */
static int read_quote(const char *path, const cJSON *o, int i, struct stv_price_quote *q, char *msg, size_t size) {
  const cJSON *price = cJSON_GetObjectItemCaseSensitive(o, "price");
  const cJSON *count = cJSON_GetObjectItemCaseSensitive(o, "count");
  const cJSON *as_of = cJSON_GetObjectItemCaseSensitive(o, "asOf");
  const char *ct = json_str(o, "capacityType");
  q->instance_type = json_str(o, "instanceType");
  q->zone = json_str(o, "zone");
  if (q->instance_type == NULL || ct == NULL || stv_capacity_type_parse(ct, &q->capacity_type) != 0) {
    snprintf(msg, size, "%s: quotes[%d]: instanceType (a string) and capacityType (reserved, spot or on-demand) "
             "are required", path, i);
    return STV_EINVAL;
  }
  if (!cJSON_IsNumber(price) || (count != NULL && !cJSON_IsNumber(count)) ||
      (as_of != NULL && !cJSON_IsNumber(as_of))) {
    snprintf(msg, size, "%s: quotes[%d] (%.60s): price must be a number, count and asOf numbers when given", path,
             i, q->instance_type);
    return STV_EINVAL;
  }
  q->price = price->valuedouble;
  q->count = count != NULL ? (int64_t)count->valuedouble : -1;
  q->as_of = as_of != NULL ? as_of->valuedouble : 0;
  return 0;
}

/* Answers a fetch_prices call from the prices file, read now: {"source": "...", "quotes": [...]}. */
static void deliver_prices(struct sim_call *c, struct stv_cloud_result *r) {
  const char *path = c->sim->o.prices_file;
  struct stv_price_quote *q = NULL;
  struct stv_err err = {0, ""};
  const cJSON *quotes = NULL;
  cJSON *doc = NULL;
  char *text = NULL;
  const char *source = "sim prices file";
  size_t len = 0;
  int i, n = 0;
  if (r->code == 0 && (r->code = stv_read_file(path, 16u << 20, &text, &len, &err)) != 0)
    snprintf(c->message, sizeof(c->message), "sim fetch prices: %.480s", err.msg);
  if (r->code == 0 && ((doc = cJSON_ParseWithLength(text, len)) == NULL ||
                       !cJSON_IsArray(quotes = cJSON_GetObjectItemCaseSensitive(doc, "quotes")))) {
    r->code = STV_EINVAL;
    snprintf(c->message, sizeof(c->message), "sim fetch prices: %s: not JSON with a quotes array", path);
  }
  if (r->code == 0) {
    n = cJSON_GetArraySize(quotes);
    if (json_str(doc, "source") != NULL) source = json_str(doc, "source");
    if (n > 0 && (q = stv_calloc((size_t)n, sizeof(*q))) == NULL) {
      r->code = STV_ENOMEM;
      snprintf(c->message, sizeof(c->message), "sim fetch prices: out of memory");
    }
  }
  for (i = 0; r->code == 0 && i < n; i++)
    r->code = read_quote(path, cJSON_GetArrayItem(quotes, i), i, &q[i], c->message, sizeof(c->message));
  r->message = c->message;
  c->cb.prices(c->ctx, r, source, r->code == 0 ? q : NULL, r->code == 0 ? (size_t)n : 0);
  stv_free(q);
  cJSON_Delete(doc);
  stv_free(text);
}

static void call_cb(struct stv_timer *t) {
  struct sim_call *c = t->data;
  struct stv_cloud_result r;
  call_unlink(c);
  r.code = c->code;
  r.message = c->message;
  r.retry_after = c->retry_after;
  switch (c->kind) {
  case CALL_GROUPS:
    if (r.code == 0)
      c->cb.groups(c->ctx, &r, c->sim->pub, c->sim->ngroups);
    else
      c->cb.groups(c->ctx, &r, NULL, 0);
    break;
  case CALL_INSTANCES:
    deliver_instances(c, &r);
    break;
  case CALL_DONE:
    c->cb.done(c->ctx, &r);
    break;
  case CALL_PRICES:
    deliver_prices(c, &r);
    break;
  }
  stv_free(c);
}

/* Whether this call is throttled: the token bucket, then chance. */
static int throttled(struct sim *s, double *retry_after) {
  double t = now(s);
  if (s->o.api_rate > 0) {
    s->tokens = fmin(s->o.api_burst, s->tokens + (t - s->tokens_at) * s->o.api_rate);
    s->tokens_at = t;
    if (s->tokens < 1) {
      *retry_after = (1 - s->tokens) / s->o.api_rate;
      return 1;
    }
    s->tokens -= 1;
  }
  if (s->o.throttle_rate > 0 && uniform(&s->rng_call) < s->o.throttle_rate) {
    *retry_after = s->o.throttle_retry_after;
    return 1;
  }
  return 0;
}

/* Makes a call record, decides throttling; the caller fills the outcome
 * when c->code is 0, then calls post(). */
static struct sim_call *call_new(struct sim *s, enum call_kind kind, void *ctx) {
  struct sim_call *c = stv_calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->sim = s;
  c->kind = kind;
  c->ctx = ctx;
  if (throttled(s, &c->retry_after)) {
    c->code = STV_ETHROTTLED;
    snprintf(c->message, sizeof(c->message), "sim: Rate exceeded: retry after %.3g s", c->retry_after);
    s->usage.throttled++;
  }
  return c;
}

static int post(struct sim_call *c) {
  struct sim *s = c->sim;
  int rc = stv_clock_start(clk(s), &c->timer, s->o.call_latency, call_cb, c);
  if (rc != 0) {
    stv_free(c);
    return rc;
  }
  c->next = s->calls;
  if (c->next != NULL) c->next->prev = c;
  s->calls = c;
  return 0;
}

static struct sim_group *find_group(struct sim *s, const char *id) {
  struct stv_strmap_ent *e = stv_strmap_find(&s->by_name, id, strlen(id));
  return e == NULL ? NULL : &s->groups[e->val];
}

/* ---- the operations ---------------------------------------------------- */

static int sim_list_groups(struct stv_cloud *cl, stv_cloud_groups_cb cb, void *ctx) {
  struct sim_call *c = call_new(cl->impl, CALL_GROUPS, ctx);
  if (c == NULL) return STV_ENOMEM;
  c->cb.groups = cb;
  return post(c);
}

static int sim_fetch_prices(struct stv_cloud *cl, const struct stv_catalog *base, stv_cloud_prices_cb cb,
                            void *ctx) {
  struct sim_call *c = call_new(cl->impl, CALL_PRICES, ctx);
  (void)base;
  if (c == NULL) return STV_ENOMEM;
  c->cb.prices = cb;
  return post(c);
}

static int sim_list_instances(struct stv_cloud *cl, stv_cloud_instances_cb cb, void *ctx) {
  struct sim_call *c = call_new(cl->impl, CALL_INSTANCES, ctx);
  if (c == NULL) return STV_ENOMEM;
  c->cb.instances = cb;
  return post(c);
}

/* Lowers g to `desired`: doomed launches first, then pending instances,
 * then running ones, newest first, as a group that picks its victims. */
static void shrink(struct sim_group *g, int64_t desired) {
  int pass;
  for (pass = 0; pass < 3; pass++) {
    struct sim_inst *in = g->tail, *prev;
    for (; in != NULL && g->pending + g->running + g->doomed > desired; in = prev) {
      prev = in->prev;
      if (in->state == STV_INSTANCE_TERMINATING) continue;
      if (pass == 0 && in->doomed) {
        uncount(in);
        free_inst(in);
      } else if ((pass == 1 && !in->doomed && in->state == STV_INSTANCE_PENDING) ||
                 (pass == 2 && in->state == STV_INSTANCE_RUNNING)) {
        (void)terminate(in, g->sim->o.terminate_delay);
      }
    }
  }
}

static int sim_set_desired(struct stv_cloud *cl, const char *group_id, int64_t desired, stv_cloud_done_cb cb,
                           void *ctx) {
  struct sim *s = cl->impl;
  struct sim_call *c = call_new(s, CALL_DONE, ctx);
  struct sim_group *g;
  int rc = 0;
  if (c == NULL) return STV_ENOMEM;
  c->cb.done = cb;
  g = c->code == 0 ? find_group(s, group_id) : NULL;
  if (c->code != 0) {
    /* throttled: nothing changes */
  } else if (g == NULL) {
    c->code = STV_ENOTFOUND;
    snprintf(c->message, sizeof(c->message), "sim: set desired size: no instance group named \"%.400s\"",
             group_id);
  } else if (desired < s->pub[g - s->groups].min || desired > s->pub[g - s->groups].max) {
    c->code = STV_EINVAL;
    snprintf(c->message, sizeof(c->message),
             "sim: set desired size of %.300s to %" PRId64 ": outside the group's [min %" PRId64
             ", max %" PRId64 "]",
             group_id, desired, s->pub[g - s->groups].min, s->pub[g - s->groups].max);
  } else {
    while (rc == 0 && g->pending + g->running + g->doomed < desired) rc = launch(g);
    if (rc != 0) {
      stv_free(c);
      return rc; /* what was launched stays launched, as a partial API call would */
    }
    shrink(g, desired);
  }
  return post(c);
}

/* Finds the live instance pid of g, or NULL. */
static struct sim_inst *find_inst(struct sim *s, struct sim_group *g, const char *pid) {
  const char *slash = strrchr(pid, '/');
  char *end;
  unsigned long long id;
  if (strncmp(pid, "sim:///", 7) != 0 || slash == NULL || slash[1] < '0' || slash[1] > '9') return NULL;
  id = strtoull(slash + 1, &end, 10);
  if (*end != '\0' || id == 0 || id > s->nids) return NULL;
  if (s->by_id[id - 1] == NULL || s->by_id[id - 1]->g != g) return NULL;
  return strcmp(s->by_id[id - 1]->provider_id, pid) == 0 ? s->by_id[id - 1] : NULL;
}

static int sim_delete_instances(struct stv_cloud *cl, const char *group_id, const char *const *ids, size_t n,
                                stv_cloud_done_cb cb, void *ctx) {
  struct sim *s = cl->impl;
  struct sim_call *c = call_new(s, CALL_DONE, ctx);
  struct sim_group *g;
  size_t i;
  if (c == NULL) return STV_ENOMEM;
  c->cb.done = cb;
  if (c->code != 0) return post(c);
  g = find_group(s, group_id);
  if (g == NULL) {
    c->code = STV_ENOTFOUND;
    snprintf(c->message, sizeof(c->message), "sim: delete instances: no instance group named \"%.400s\"",
             group_id);
    return post(c);
  }
  for (i = 0; i < n; i++) {
    if (ids[i] == NULL || find_inst(s, g, ids[i]) == NULL) {
      snprintf(
          c->message, sizeof(c->message),
          "sim: delete instances of %.200s: instance \"%.200s\" is not in the group (or is gone); nothing "
          "deleted",
          group_id, ids[i] == NULL ? "(null)" : ids[i]);
      c->code = STV_ENOTFOUND;
      return post(c);
    }
  }
  /* Instances already TERMINATING are left as they are (no second drop of
   * the desired size); the rest go now. */
  for (i = 0; i < n; i++) {
    struct sim_inst *in = find_inst(s, g, ids[i]);
    if (in->state != STV_INSTANCE_TERMINATING) (void)terminate(in, s->o.terminate_delay);
  }
  return post(c);
}

static void sim_close(struct stv_cloud *cl) {
  struct sim *s = cl->impl;
  size_t i;
  while (s->calls != NULL) {
    struct sim_call *c = s->calls;
    stv_clock_stop(clk(s), &c->timer);
    call_unlink(c);
    stv_free(c);
  }
  for (i = 0; i < s->ngroups; i++)
    while (s->groups[i].head != NULL) free_inst(s->groups[i].head);
  for (i = 0; i < s->o.nstorms; i++) stv_clock_stop(clk(s), &s->storms[i].timer);
  stv_free(s->storms);
  stv_free((void *)s->o.ice);
  stv_free((void *)s->o.pools);
  stv_free(s->by_id);
  stv_free(s->groups);
  stv_free(s->pub);
  stv_strmap_close(&s->by_name);
  stv_strpool_close(&s->pool);
  stv_free(s);
}

static const struct stv_cloud_ops sim_ops = {
    .name = "sim",
    .list_groups = sim_list_groups,
    .list_instances = sim_list_instances,
    .set_desired = sim_set_desired,
    .delete_instances = sim_delete_instances,
    .close = sim_close,
};

/* ---- storms ------------------------------------------------------------ */

static int storm_match(const struct sim_storm *st, const struct sim_inst *in) {
  const struct sim_group *g = in->g;
  if (in->state != STV_INSTANCE_RUNNING || in->step == STEP_NOTICE) return 0;
  if (g->offer.capacity_type != STV_CT_SPOT) return 0;
  if (st->s.instance_type != NULL && strcmp(st->s.instance_type, g->offer.instance_type) != 0) return 0;
  return st->s.zone == NULL || strcmp(st->s.zone, g->offer.zone) == 0;
}

/* Picks the storm's victims at random and gives each a notice through its
 * own timer (one event per timer callback). */
static void storm_cb(struct stv_timer *t) {
  struct sim_storm *st = t->data;
  struct sim *s = st->sim;
  struct sim_inst **v;
  size_t n = 0, i, k;
  for (i = 0; i < s->nids; i++)
    if (s->by_id[i] != NULL && storm_match(st, s->by_id[i])) n++;
  if (n == 0) return;
  v = stv_malloc(n * sizeof(*v));
  if (v == NULL) return;
  for (i = 0, k = 0; i < s->nids; i++)
    if (s->by_id[i] != NULL && storm_match(st, s->by_id[i])) v[k++] = s->by_id[i];
  k = st->s.count > 0 ? (size_t)st->s.count : (size_t)ceil(st->s.fraction * (double)n);
  if (k > n) k = n;
  for (i = 0; i < k; i++) {
    size_t j = i + (size_t)(uniform(&s->rng_interrupt) * (double)(n - i));
    struct sim_inst *tmp = v[i];
    v[i] = v[j];
    v[j] = tmp;
    (void)schedule(v[i], STEP_NOTICE, 0);
  }
  stv_free(v);
}

/* ---- construction ------------------------------------------------------ */

void stv_sim_opts_default(struct stv_sim_opts *o) {
  memset(o, 0, sizeof(*o));
  o->max_per_group = 100;
  o->launch_delay = 30;
  o->launch_fail_delay = 5;
  o->seed = 1;
  o->throttle_retry_after = 1;
  o->interruption_notice = 120;
}

static int bad(struct stv_err *err, const char *field, const char *why) {
  return stv_err_set(err, STV_EINVAL, "sim: %s: %s", field, why);
}

static int check_delay(double v, const char *field, struct stv_err *err) {
  if (!(v >= 0) || !isfinite(v)) return bad(err, field, "must be a finite number of seconds >= 0");
  return 0;
}

static int check_rate(double v, const char *field, struct stv_err *err) {
  if (!(v >= 0 && v <= 1)) return bad(err, field, "must be a probability between 0 and 1");
  return 0;
}

/* Checks the fault options and the scalar ones. */
static int check_opts(const struct stv_sim_opts *o, struct stv_err *err) {
  char field[64];
  size_t i;
  int rc;
  if (o->catalog == NULL) return bad(err, "catalog", "a catalogue is required");
  if (o->max_per_group < 0) return bad(err, "max_per_group", "must be >= 0");
  if ((rc = check_delay(o->launch_delay, "launch_delay", err)) != 0 ||
      (rc = check_delay(o->launch_fail_delay, "launch_fail_delay", err)) != 0 ||
      (rc = check_delay(o->terminate_delay, "terminate_delay", err)) != 0 ||
      (rc = check_delay(o->call_latency, "call_latency", err)) != 0 ||
      (rc = check_delay(o->throttle_retry_after, "throttle_retry_after", err)) != 0 ||
      (rc = check_delay(o->interruption_notice, "interruption_notice", err)) != 0 ||
      (rc = check_rate(o->throttle_rate, "throttle_rate", err)) != 0)
    return rc;
  if (!(o->api_rate >= 0) || !isfinite(o->api_rate))
    return bad(err, "api_rate", "must be calls per second >= 0");
  if (o->api_rate > 0 && !(o->api_burst >= 1)) return bad(err, "api_burst", "must be >= 1 with an api_rate");
  if (!(o->interruptions_per_hour >= 0) || !isfinite(o->interruptions_per_hour))
    return bad(err, "interruptions_per_hour", "must be a rate >= 0");
  for (i = 0; i < o->nice; i++) {
    const struct stv_sim_ice *f = &o->ice[i];
    snprintf(field, sizeof(field), "ice[%zu].rate", i);
    if ((rc = check_rate(f->rate, field, err)) != 0) return rc;
    if (f->instance_type != NULL && stv_catalog_find(o->catalog, f->instance_type) == NULL)
      return stv_err_set(err, STV_EINVAL, "sim: ice[%zu].instance_type: \"%s\" is not in the catalogue %s:%s",
                         i, f->instance_type, o->catalog->provider, o->catalog->region);
    if (f->capacity_type >= STV_CT_COUNT || f->capacity_type < -1)
      return stv_err_set(err, STV_EINVAL, "sim: ice[%zu].capacity_type: %d is not a capacity type", i,
                         f->capacity_type);
    if (!(f->until >= f->from))
      return stv_err_set(err, STV_EINVAL, "sim: ice[%zu]: until (%g) is before from (%g)", i, f->until,
                         f->from);
  }
  for (i = 0; i < o->nstorms; i++) {
    const struct stv_sim_storm *st = &o->storms[i];
    snprintf(field, sizeof(field), "storms[%zu].fraction", i);
    if ((rc = check_rate(st->fraction, field, err)) != 0) return rc;
    if (!(st->at >= 0) || !isfinite(st->at))
      return stv_err_set(err, STV_EINVAL, "sim: storms[%zu].at: must be a time >= 0 on the clock", i);
    if (st->count < 0) return stv_err_set(err, STV_EINVAL, "sim: storms[%zu].count: must be >= 0", i);
    if (st->instance_type != NULL && stv_catalog_find(o->catalog, st->instance_type) == NULL)
      return stv_err_set(err, STV_EINVAL,
                         "sim: storms[%zu].instance_type: \"%s\" is not in the catalogue %s:%s", i,
                         st->instance_type, o->catalog->provider, o->catalog->region);
  }
  return 0;
}

/* Interns s (may be NULL) in the pool; *out NULL for NULL. */
static int intern(struct sim *s, const char *str, const char **out) {
  *out = NULL;
  if (str == NULL) return 0;
  *out = stv_strpool_get(&s->pool, str);
  return *out == NULL ? STV_ENOMEM : 0;
}

/* Copies the fault lists and the pool name into s. */
static int copy_opts(struct sim *s, const struct stv_sim_opts *o) {
  struct stv_sim_ice *ice = NULL;
  size_t i;
  int rc = 0;
  s->o = *o;
  s->o.pools = NULL;
  s->o.npools = 0;
  s->o.ice = NULL;
  s->o.nice = 0;
  s->o.storms = NULL;
  s->o.nstorms = 0;
  rc = intern(s, o->prices_file, &s->o.prices_file);
  if (rc != 0) return rc;
  if (o->nice > 0) {
    ice = stv_calloc(o->nice, sizeof(*ice));
    if (ice == NULL) return STV_ENOMEM;
    s->o.ice = ice;
    s->o.nice = o->nice;
    for (i = 0; i < o->nice && rc == 0; i++) {
      ice[i] = o->ice[i];
      rc = intern(s, o->ice[i].instance_type, &ice[i].instance_type);
      if (rc == 0) rc = intern(s, o->ice[i].zone, &ice[i].zone);
    }
  }
  if (rc == 0 && o->nstorms > 0) {
    s->storms = stv_calloc(o->nstorms, sizeof(*s->storms));
    if (s->storms == NULL) return STV_ENOMEM;
    s->o.nstorms = o->nstorms;
    for (i = 0; i < o->nstorms && rc == 0; i++) {
      s->storms[i].sim = s;
      s->storms[i].s = o->storms[i];
      rc = intern(s, o->storms[i].instance_type, &s->storms[i].s.instance_type);
      if (rc == 0) rc = intern(s, o->storms[i].zone, &s->storms[i].s.zone);
    }
  }
  if (rc == 0) rc = intern(s, o->pool, &s->o.pool);
  if (rc == 0 && o->npools > 0) {
    const char **pools = stv_calloc(o->npools, sizeof(*pools));
    if (pools == NULL) return STV_ENOMEM;
    s->o.pools = pools;
    s->o.npools = o->npools;
    for (i = 0; i < o->npools && rc == 0; i++) rc = intern(s, o->pools[i], &pools[i]);
  }
  return rc;
}

/* One group per offering of the catalogue whose capacity type is wanted, per pool. */
static int make_groups(struct sim *s, struct stv_err *err) {
  const struct stv_catalog *cat = s->o.catalog;
  size_t i, n = 0, k = 0, p, npools = s->o.npools > 0 ? s->o.npools : 1;
  uint32_t j;
  char name[512];
  for (i = 0; i < cat->ntypes; i++)
    for (j = 0; j < cat->types[i].noff; j++)
      if (s->o.capacity_types == 0 || (s->o.capacity_types >> cat->types[i].off[j].capacity_type) & 1u) n++;
  if (n == 0)
    return stv_err_set(err, STV_EINVAL, "sim: the catalogue has no offering of the capacity types asked");
  s->groups = stv_calloc(n * npools, sizeof(*s->groups));
  s->pub = stv_calloc(n * npools, sizeof(*s->pub));
  if (s->groups == NULL || s->pub == NULL) return STV_ENOMEM;
  for (p = 0; p < npools; p++) {
    const char *pool = s->o.npools > 0 ? s->o.pools[p] : s->o.pool;
    for (i = 0; i < cat->ntypes; i++) {
      for (j = 0; j < cat->types[i].noff; j++) {
        const struct stv_offering *off = &cat->types[i].off[j];
        struct stv_strmap_ent *e;
        int added, rc;
        if (s->o.capacity_types != 0 && !((s->o.capacity_types >> off->capacity_type) & 1u)) continue;
        if (s->o.npools > 0)
          snprintf(name, sizeof(name), "sim-%s-%s-%s-%s", pool, cat->types[i].name, off->zone,
                   stv_capacity_type_name(off->capacity_type));
        else
          snprintf(name, sizeof(name), "sim-%s-%s-%s", cat->types[i].name, off->zone,
                   stv_capacity_type_name(off->capacity_type));
        rc = stv_strmap_upsert(&s->by_name, &s->pool, name, strlen(name), (uint32_t)k, &e, &added);
        if (rc != 0) return rc;
        s->groups[k].sim = s;
        s->groups[k].offer = (struct stv_cloud_offering){cat->types[i].name, off->zone, off->capacity_type};
        s->groups[k].price = off->price;
        s->pub[k].id = e->key;
        s->pub[k].pool = pool;
        s->pub[k].offerings = &s->groups[k].offer;
        s->pub[k].noffer = 1;
        s->pub[k].min = 0;
        s->pub[k].max = s->o.max_per_group;
        k++;
      }
    }
  }
  s->ngroups = k;
  return 0;
}

int stv_sim_new(struct stv_cloud **out, struct stv_clock *clock, const struct stv_sim_opts *opts,
                struct stv_err *err) {
  struct sim *s = NULL;
  size_t i;
  int rc;
  *out = NULL;
  rc = check_opts(opts, err);
  if (rc != 0) return rc;
  s = stv_calloc(1, sizeof(*s));
  if (s == NULL) return stv_err_set(err, STV_ENOMEM, "sim: out of memory");
  stv_strpool_init(&s->pool);
  s->ops = sim_ops;
  if (opts->prices_file != NULL) s->ops.fetch_prices = sim_fetch_prices;
  s->cloud.ops = &s->ops;
  s->cloud.impl = s;
  s->cloud.clock = clock;
  rc = copy_opts(s, opts);
  if (rc == 0) rc = make_groups(s, err);
  s->rng_launch = opts->seed ^ 0x6c61756e6368ull;
  s->rng_call = opts->seed ^ 0x63616c6cull;
  s->rng_interrupt = opts->seed ^ 0x696e74ull;
  s->tokens = opts->api_burst;
  s->tokens_at = stv_clock_now(clock);
  for (i = 0; rc == 0 && i < s->o.nstorms; i++) {
    double delay = s->storms[i].s.at - stv_clock_now(clock);
    rc = stv_clock_start(clock, &s->storms[i].timer, delay, storm_cb, &s->storms[i]);
  }
  if (rc != 0) {
    if (rc == STV_ENOMEM) stv_err_set(err, rc, "sim: out of memory");
    sim_close(&s->cloud);
    return rc;
  }
  *out = &s->cloud;
  return 0;
}

/* The most instance ids an adopted provider id may name (a guard against a bogus Node). */
#define ADOPT_ID_MAX 10000000ull

int stv_sim_adopt(struct stv_cloud *c, const char *provider_id, const char *pool, const char *instance_type,
                  enum stv_capacity_type ct, struct stv_err *err) {
  struct sim *s;
  struct sim_group *g;
  struct sim_inst *in;
  const char *zone, *slash;
  char name[512], zbuf[128];
  unsigned long long id;
  char *end;
  if (c == NULL || c->ops->close != sim_close) return stv_err_set(err, STV_EINVAL, "sim: adopt: not a sim provider");
  s = c->impl;
  zone = provider_id + 7;
  slash = strncmp(provider_id, "sim:///", 7) == 0 ? strrchr(zone, '/') : NULL;
  if (slash == NULL || slash == zone || (size_t)(slash - zone) >= sizeof(zbuf) || slash[1] < '1' ||
      slash[1] > '9')
    return stv_err_set(err, STV_EINVAL, "sim: adopt: \"%s\" is not a sim provider id (sim:///ZONE/NUMBER)",
                       provider_id);
  id = strtoull(slash + 1, &end, 10);
  if (*end != '\0' || id > ADOPT_ID_MAX)
    return stv_err_set(err, STV_EINVAL, "sim: adopt: \"%s\": the instance number must be 1 to %llu",
                       provider_id, ADOPT_ID_MAX);
  memcpy(zbuf, zone, (size_t)(slash - zone));
  zbuf[slash - zone] = '\0';
  if (s->o.npools > 0)
    snprintf(name, sizeof(name), "sim-%s-%s-%s-%s", pool != NULL ? pool : "", instance_type, zbuf,
             stv_capacity_type_name(ct));
  else
    snprintf(name, sizeof(name), "sim-%s-%s-%s", instance_type, zbuf, stv_capacity_type_name(ct));
  if ((g = find_group(s, name)) == NULL)
    return stv_err_set(err, STV_ENOTFOUND, "sim: adopt %s: no instance group%s%s offers %s %s in %s",
                       provider_id, pool != NULL ? " of node pool " : "", pool != NULL ? pool : "",
                       instance_type, stv_capacity_type_name(ct), zbuf);
  if (id <= s->nids && s->by_id[id - 1] != NULL)
    return stv_err_set(err, STV_ECONFLICT, "sim: adopt %s: the instance is known already", provider_id);
  if (id > s->capids && stv_grow((void **)&s->by_id, &s->capids, (size_t)id, sizeof(*s->by_id)) != 0)
    return stv_err_set(err, STV_ENOMEM, "sim: out of memory");
  if ((in = stv_calloc(1, sizeof(*in))) == NULL) return stv_err_set(err, STV_ENOMEM, "sim: out of memory");
  while (s->nids < id) s->by_id[s->nids++] = NULL;
  s->by_id[id - 1] = in;
  in->g = g;
  in->id = id;
  in->state = STV_INSTANCE_RUNNING;
  in->launch_time = in->running_since = now(s);
  snprintf(in->provider_id, sizeof(in->provider_id), "%s", provider_id);
  append_inst(g, in);
  g->running++;
  group_pub_sync(g);
  schedule_interruption(in);
  return 0;
}

const char *stv_sim_group_pool(struct stv_cloud *c, const char *group_id) {
  struct sim_group *g;
  if (c == NULL || c->ops->close != sim_close || group_id == NULL) return NULL;
  g = find_group(c->impl, group_id);
  return g == NULL ? NULL : ((struct sim *)c->impl)->pub[g - ((struct sim *)c->impl)->groups].pool;
}

int stv_sim_usage(struct stv_cloud *c, struct stv_sim_usage *u) {
  struct sim *s;
  double t;
  size_t i;
  if (c == NULL || c->ops->close != sim_close) return STV_EINVAL;
  s = c->impl;
  t = now(s);
  *u = s->usage;
  u->running = u->pending = 0;
  for (i = 0; i < s->ngroups; i++) {
    struct sim_inst *in;
    u->running += s->groups[i].running;
    u->pending += s->groups[i].pending;
    for (in = s->groups[i].head; in != NULL; in = in->next) bill(in, t, u);
  }
  return 0;
}
