/*
 * `stevedore controller`: the object that owns the loop and everything on
 * it (daemon.h, docs/controller.md).
 *
 * Life of a replica. Start: the configuration, the catalogue, the
 * reconciler's options (checked by making a reconciler once) and the
 * kubeconfig are read, and a failure there is the only one that ends the
 * process (exit 2). Then the metrics endpoint, the Kubernetes client, the
 * Event recorder, the cluster cache (its reflectors list then watch) and,
 * with --leader-elect, the elector start on one libuv loop. The replica
 * *acts* (provider, reconciler) only while it leads and once the cache has
 * synced; it stops acting the moment it stops leading, the provider closed
 * first so that no callback of it runs after. SIGTERM or SIGINT: no new
 * work, the reconciler's batch and calls in flight get --shutdown-timeout
 * to finish, then the Lease is released and everything freed.
 *
 * The reconciler's solve runs on libuv's thread pool through a runner that
 * wraps the worker-thread runner: it times the reconcile, and when the
 * replica stopped acting while a solve was running, it frees the detached
 * reconciler then instead of applying a plan nobody may act on.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "aws.h"
#include "cache.h"
#include "disrupt.h"
#include "clock_uv.h"
#include "daemon.h"
#include "gcp.h"
#include "kubeloop.h"
#include "log.h"
#include "loop.h"
#include "provider.h"
#include "serve.h"
#include "sim.h"

#define TICK_MS     1000 /* metrics refresh; a retry of acting after a failed start */
#define BEAT_MS     1000 /* the loop's heartbeat for /healthz */
#define DRAIN_MS    50   /* shutdown: how often to look whether the reconciler is idle */
#define SCALED_MAX  900  /* the scale-ups named in one TriggeredScaleUp message */
#define COMBOS_MAX  64   /* (pool, capacity type) series of the node gauges */
#define REASONS_MAX 32   /* distinct reasons that get a NotTriggerScaleUp per solve */
/* /healthz fails once the loop has not beaten for 3 periods plus a margin for a slow callback. */
#define LIVENESS_S (3 * BEAT_MS / 1000.0 + 2)
/* How often the reconciler looks for nodes overdue (--max-provision-time): a give-up is at most this late. */
#define HOUSEKEEPING_S 1.0

enum {
  SLOT_SCALE_UPS,
  SLOT_REQUESTED,
  SLOT_CUT,
  SLOT_GIVEN_UP,
  SLOT_CACHE_EVENTS,
  SLOT_CACHE_ERRORS,
  SLOT_COMPACTIONS,
  SLOT_EV_CREATED,
  SLOT_EV_UPDATED,
  SLOT_EV_DEDUP,
  SLOT_EV_LIMITED,
  SLOT_EV_FANNED,
  SLOT_EV_FAILED,
  SLOT_LOG_DROPPED,
  SLOT_WATCH, /* 3 per cache kind from here */
  SLOT_DRAINED = SLOT_WATCH + 3 * STV_CACHE_NKINDS,
  SLOT_EVICTED,
  SLOT_REFUSED,
  SLOT_EVICT_ERRORS,
  SLOT_DRAIN_FAILURES
};

struct combo {
  char pool[64], ct[16];
};

struct daemon {
  const struct stv_daemon_opts *o;
  uv_loop_t loop;
  struct stv_uvclock uc;
  struct stv_config cfg;
  struct stv_catalog cat;
  char catalog_spec[128]; /* --catalog, or the one of the nodes' region */
  const char **pool_names; /* the configuration's pools, for the sim provider */
  struct stv_pool_limits *pool_limits;
  struct stv_provision_opts popts;
  struct stv__dmetrics m;
  struct stv_serve *serve;
  struct stv_kube *kube;
  struct stv_kube_event_sink sink;
  struct stv_events *events;
  struct stv_cache *cache;
  struct stv_cluster_view view;
  struct stv_kube_lease_store lease;
  struct stv_leader *leader;
  struct stv__simnodes *simnodes;
  struct stv_http *cloud_http; /* the cloud adapters' HTTP client; NULL for sim */
  struct stv__prices *prices;  /* the live price refresher (prices.c) */
  struct stv_catalog *live;    /* the last live catalogue (d->cat with the provider's prices), or NULL */
  /* Acting. */
  struct stv_solve_runner uvrunner, runner;
  struct stv_solve_job *job; /* the solve on the worker thread */
  void (*job_done)(struct stv_solve_job *job);
  double job_at;
  struct stv_provision *prov, *orphan;
  struct stv_disrupt *disrupt; /* the drainer and emptiness reconciler, while acting */
  struct stv_disrupt_opts dopts;
  struct stv__guard *guard, *orphan_guard;
  struct stv_cache_hooks fwd; /* stv_cache_provision_hooks of prov */
  int collecting;             /* inside the reconciler's apply: collect its scale-ups */
  /* The pending pods of the last copy of the cluster a solve was given. */
  struct stv_strpool seen_pool;
  struct stv_event_ref *seen;
  size_t nseen;
  char scaled[SCALED_MAX + 100];
  /* State. */
  int leading, synced, stopping, stage;
  int recheck; /* a node registered: look again at what is still pending once the scheduler settled */
  double registered_at; /* monotonic s of the last registration */
  double stop_at;
  uv_signal_t sigterm, sigint;
  uv_timer_t tick, drain, beat;
  int blocked; /* --test-block-loop done */
  int test_drained; /* --test-drain-node started */
  uint64_t failed_logged; /* Event writes failed, as last logged */
  struct combo combos[COMBOS_MAX];
  size_t ncombos;
  char identity[STV_LEASE_HOLDER_MAX + 1];
};

static void maybe_act(struct daemon *d);
static void stop_acting(struct daemon *d, const char *why);

/* ---------------------------------------------------------------------- */
/* Decisions and Events                                                   */

static void on_decision(void *ctx, const struct stv_decision *dec) {
  struct daemon *d = ctx;
  enum stv_log_level lv = strcmp(dec->kind, "error") == 0 ? STV_LOG_WARN : STV_LOG_INFO;
  stv_log(lv, "decision", STV_LOG_STR("kind", dec->kind), STV_LOG_STR("text", dec->text),
          STV_LOG_BOOL("dry_run", d->o->dry_run));
  if (d->collecting && strcmp(dec->kind, "scale_up") == 0) {
    size_t len = strlen(d->scaled);
    if (len < SCALED_MAX)
      snprintf(d->scaled + len, sizeof(d->scaled) - len, "%s%.*s", len ? "; " : "", (int)(SCALED_MAX - len),
               dec->text);
  }
}

static struct stv_event_ref pod_ref(const char *ns, const char *name) {
  struct stv_event_ref r = {"Pod", "v1", ns, name, ""};
  return r;
}

/*
 * NotTriggerScaleUp on every pod the last solve left pending, one
 * aggregated recording per distinct reason (the recorder caps the fan-out
 * and says how many more share it), as Cluster Autoscaler words it.
 */
static void events_not_triggered(struct daemon *d, const struct stv_pending_reason *r, size_t n) {
  struct stv_event_ref *refs = n > 0 ? stv_calloc(n, sizeof(*refs)) : NULL;
  const char *done[REASONS_MAX];
  size_t ndone = 0, i, j, k;
  char msg[1024];
  if (refs == NULL) return;
  for (i = 0; i < n && ndone < REASONS_MAX; i++) {
    for (j = 0; j < ndone && strcmp(done[j], r[i].reason) != 0; j++) {
    }
    if (j < ndone) continue;
    done[ndone++] = r[i].reason;
    for (j = i, k = 0; j < n; j++)
      if (strcmp(r[j].reason, r[i].reason) == 0) refs[k++] = pod_ref(r[j].ns, r[j].name);
    snprintf(msg, sizeof(msg), "pod didn't trigger scale-up: %s", r[i].reason);
    (void)stv_events_record_many(d->events, refs, k, "Normal", "NotTriggerScaleUp", msg);
  }
  stv_free(refs);
}

/*
 * TriggeredScaleUp on the pods a scale-up is for: the pending pods of the
 * copy of the cluster the solve was given that it did not leave pending
 * (the reconciler does not say which new node each pod was planned on, so
 * a pod planned on a registered or in-flight node in the same solve gets
 * it too).
 */
static void events_triggered(struct daemon *d, const struct stv_pending_reason *r, size_t n) {
  struct stv_strpool pool;
  struct stv_strmap left = {0};
  struct stv_event_ref *refs = stv_calloc(d->nseen + 1, sizeof(*refs));
  struct stv_strmap_ent *e;
  size_t i, k = 0;
  char key[600], msg[1024];
  int added;
  stv_strpool_init(&pool);
  for (i = 0; refs != NULL && i < n; i++) {
    int len = snprintf(key, sizeof(key), "%s/%s", r[i].ns, r[i].name);
    if (len > 0 && (size_t)len < sizeof(key) &&
        stv_strmap_upsert(&left, &pool, key, (size_t)len, 1, &e, &added) != 0)
      goto out;
  }
  for (i = 0; refs != NULL && i < d->nseen; i++) {
    int len = snprintf(key, sizeof(key), "%s/%s", d->seen[i].namespace, d->seen[i].name);
    if (len > 0 && (size_t)len < sizeof(key) && stv_strmap_find(&left, key, (size_t)len) != NULL) continue;
    refs[k++] = d->seen[i];
  }
  snprintf(msg, sizeof(msg), "pod triggered scale-up: %.*s%s", SCALED_MAX, d->scaled,
           d->o->dry_run ? " (dry run)" : "");
  if (k > 0) (void)stv_events_record_many(d->events, refs, k, "Normal", "TriggeredScaleUp", msg);
out:
  stv_free(refs);
  stv_strmap_close(&left);
  stv_strpool_close(&pool);
}

/* ---------------------------------------------------------------------- */
/* The solve runner: the worker thread's, timed                           */

static void runner_done(struct stv_solve_job *job) {
  struct daemon *d = job->timer.data;
  struct stv_provision_stats before, after;
  const struct stv_pending_reason *reasons;
  double solve_s = job->solve_s, took;
  int rc = job->rc;
  size_t n;
  job->done = d->job_done;
  d->job = NULL;
  if (d->orphan != NULL) {
    /* The replica stopped acting during the solve: drop the plan with its reconciler. */
    stv_provision_free(d->orphan);
    stv__guard_free(d->orphan_guard);
    d->orphan = NULL;
    d->orphan_guard = NULL;
    maybe_act(d);
    return;
  }
  stv_provision_get_stats(d->prov, &before);
  d->collecting = 1;
  d->scaled[0] = '\0';
  job->done(job); /* the reconciler applies the plan; job is freed */
  d->collecting = 0;
  took = stv_monotonic_seconds() - d->job_at;
  {
    static const char *const prov[] = {"provisioning"};
    struct stv_series *se;
    if (stv_metric_series(d->m.reconcile, prov, &se) == 0) stv_series_observe(se, took);
  }
  if (rc != 0) return;
  stv_provision_get_stats(d->prov, &after);
  stv__dmetrics_observe(d->m.solve, solve_s);
  stv__dmetrics_observe(d->m.decision, after.last_decision_s);
  stv_log(STV_LOG_INFO, "reconciled", STV_LOG_NUM("decision_ms", after.last_decision_s * 1e3),
          STV_LOG_NUM("solve_ms", solve_s * 1e3), STV_LOG_NUM("reconcile_ms", took * 1e3),
          STV_LOG_INT("scale_ups", after.scale_ups - before.scale_ups),
          STV_LOG_INT("nodes_requested", after.nodes_requested - before.nodes_requested),
          STV_LOG_INT("inflight", after.inflight), STV_LOG_BOOL("dry_run", d->o->dry_run));
  n = stv_provision_pending(d->prov, &reasons);
  events_not_triggered(d, reasons, n);
  if (d->scaled[0] != '\0') events_triggered(d, reasons, n);
}

static int runner_submit(struct stv_solve_runner *r, struct stv_solve_job *job) {
  struct daemon *d = r->impl;
  int rc;
  if (d->stopping) return -ECANCELED; /* shutting down: no new solve (the reconciler logs it) */
  d->job = job;
  d->job_done = job->done;
  d->job_at = stv_monotonic_seconds();
  job->done = runner_done;
  job->timer.data = d; /* the runner's own field: the worker-thread runner leaves it alone */
  if ((rc = d->uvrunner.ops->submit(&d->uvrunner, job)) != 0) {
    job->done = d->job_done;
    d->job = NULL;
  }
  return rc;
}

static const struct stv_solve_runner_ops runner_ops = {.submit = runner_submit};

static void seen_clear(struct daemon *d) {
  stv_free(d->seen);
  d->seen = NULL;
  d->nseen = 0;
  stv_strpool_close(&d->seen_pool);
  stv_strpool_init(&d->seen_pool);
}

/* The cluster view: the cache's copy, with its pending pods noted for the Events of the decision. */
static int view_snapshot(void *ctx, struct stv_snapshot *s, const char ***node_ids, struct stv_err *err) {
  struct daemon *d = ctx;
  size_t i;
  int rc = stv_cache_snapshot(d->cache, s, node_ids, err);
  seen_clear(d);
  if (rc != 0) return rc;
  if ((d->seen = stv_calloc(s->npods + 1, sizeof(*d->seen))) == NULL) return 0; /* Events only: not fatal */
  for (i = 0; i < s->npods; i++) {
    const char *ns, *name;
    if (s->pods[i].node_name != NULL) continue;
    ns = stv_strpool_get(&d->seen_pool, s->pods[i].ns);
    name = stv_strpool_get(&d->seen_pool, s->pods[i].name);
    if (ns == NULL || name == NULL) break;
    d->seen[d->nseen++] = pod_ref(ns, name);
  }
  return 0;
}

/*
 * The view's cheap question: is any pod in the store without a node? No
 * copy; a pod deleted but still stored counts, which only costs a copy.
 * With none, the decision sees no pending pod: none is noted for Events.
 */
static int view_has_pending(void *ctx) {
  struct daemon *d = ctx;
  const struct stv_snapshot *s = stv_cache_store(d->cache);
  size_t i;
  for (i = 0; i < s->npods; i++)
    if (s->pods[i].node_name == NULL) return 1;
  seen_clear(d);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The provider's events                                                  */

static void on_cloud_event(void *ctx, const struct stv_cloud_event *ev) {
  struct daemon *d = ctx;
  const struct stv_cloud_instance *in = ev->instance;
  if (ev->kind == STV_CLOUD_EV_LAUNCH_FAILED || ev->kind == STV_CLOUD_EV_INTERRUPTION)
    stv_log(STV_LOG_WARN, ev->kind == STV_CLOUD_EV_LAUNCH_FAILED ? "launch failed" : "spot interruption",
            STV_LOG_STR("group", in->group_id), STV_LOG_STR("instance", in->provider_id),
            STV_LOG_STR("message", ev->message));
  if (d->simnodes != NULL && d->guard != NULL && in->provider_id != NULL) {
    if (ev->kind == STV_CLOUD_EV_RUNNING)
      stv__simnodes_register(d->simnodes, in, stv_sim_group_pool(stv__guard_inner(d->guard), in->group_id));
    else if (ev->kind == STV_CLOUD_EV_TERMINATED)
      stv__simnodes_remove(d->simnodes, in->provider_id);
  }
  if (d->prov != NULL) stv_provision_cloud_event(d->prov, ev);
}

/* ---------------------------------------------------------------------- */
/* Acting: the provider and the reconciler, while leading and synced      */

/* The Azure provider's settings: the configuration's azure: block; --cluster-name wins over azure.clusterName. */
static void azure_config(const struct stv_config *cfg, const char *cluster_name, struct stv_azure_config *ac) {
  const struct stv_azure_settings *a = &cfg->azure;
  memset(ac, 0, sizeof(*ac));
  ac->subscription_id = a->subscription_id;
  ac->resource_group = a->resource_group;
  ac->resource_manager_endpoint = a->resource_manager_endpoint;
  ac->authority_host = a->authority_host;
  ac->imds_endpoint = a->imds_endpoint;
  ac->cluster_name = cluster_name != NULL ? cluster_name : a->cluster_name;
  ac->api_version = a->api_version;
  ac->ca_file = a->ca_file;
  ac->poll_interval = a->poll_interval;
  ac->watch_interval = a->watch_interval;
  ac->prices_endpoint = a->prices_endpoint;
}

/* The GCP provider's settings (cloud/gcp.h) from the configuration's gcp: section. */
static void gcp_opts(const struct stv_config *cfg, struct stv_gcp_opts *go) {
  const struct stv_gcp_config *c = &cfg->gcp;
  stv_gcp_opts_default(go);
  go->project = c->project;
  go->compute_endpoint = c->compute_endpoint;
  go->token_endpoint = c->token_endpoint;
  go->credentials_file = c->credentials_file;
  go->metadata_host = c->metadata_host;
  go->name_prefix = c->name_prefix;
  go->ca_file = c->ca_file;
  go->billing_endpoint = c->billing_endpoint;
  go->min_size = c->min_size;
  if (c->max_size > 0) go->max_size = c->max_size;
  if (c->poll_interval > 0) go->poll_interval = c->poll_interval;
}

/* The AWS provider's settings (cloud/aws.h) from the configuration's aws: section. */
static void aws_opts(const struct stv_config *cfg, struct stv_aws_opts *o) {
  const struct stv_aws_config *c = &cfg->aws;
  stv_aws_opts_default(o);
  o->region = c->region;
  o->endpoint = c->endpoint;
  o->autoscaling_endpoint = c->autoscaling_endpoint;
  o->ec2_endpoint = c->ec2_endpoint;
  o->sts_endpoint = c->sts_endpoint;
  o->ca_file = c->ca_file;
  o->reservations = c->reservations;
  o->spot_prices = c->spot_prices;
}

static const char *provider_name(enum stv_daemon_provider p) {
  static const char *const names[] = {"sim", "aws", "gcp", "azure"};
  return names[p];
}

int stv__daemon_open_cloud(const char *name, const struct stv_config *cfg, const char *cluster_name,
                           struct stv_clock *clock, struct stv_http *http, struct stv_cloud **out,
                           struct stv_err *err) {
  struct stv_cloud_config cc;
  struct stv_azure_config ac;
  struct stv_gcp_opts go;
  struct stv_aws_opts ao;
  memset(&cc, 0, sizeof(cc));
  cc.clock = clock;
  cc.http = http;
  cc.cluster_name = cluster_name;
  azure_config(cfg, cluster_name, &ac);
  cc.azure = &ac;
  gcp_opts(cfg, &go);
  cc.gcp = &go;
  aws_opts(cfg, &ao);
  cc.aws = &ao;
  return stv_cloud_open(name, &cc, out, err);
}

/* A cloud adapter (--provider aws...): it rebuilds what is in flight from the cloud itself. */
static int new_cloud(struct daemon *d, struct stv_cloud **out, struct stv_err *err) {
  return stv__daemon_open_cloud(provider_name(d->o->provider), &d->cfg, d->o->cluster_name, &d->uc.clock,
                                d->cloud_http, out, err);
}

/* A sim provider on the wall clock, with the Nodes an earlier run registered adopted. */
static int new_provider(struct daemon *d, int adopt, struct stv_cloud **out, struct stv_err *err) {
  const struct stv_snapshot *s = adopt ? stv_cache_store(d->cache) : NULL;
  struct stv_sim_opts so;
  struct stv_sim_ice ice;
  size_t i;
  int rc;
  if (d->o->provider != STV_PROVIDER_SIM) return new_cloud(d, out, err);
  stv_sim_opts_default(&so);
  so.catalog = &d->cat;
  so.capacity_types = d->popts.capacity_types;
  so.launch_delay = d->o->sim_launch_delay;
  so.pools = d->pool_names;
  so.npools = d->cfg.npools;
  so.seed = d->o->sim_seed;
  so.throttle_rate = d->o->sim_throttle_rate;
  so.interruptions_per_hour = d->o->sim_interruptions_per_hour;
  so.interruption_notice = d->o->sim_interruption_notice;
  so.prices_file = d->o->sim_prices;
  if (d->o->sim_ice_rate > 0) {
    ice.instance_type = ice.zone = NULL;
    ice.capacity_type = -1;
    ice.rate = d->o->sim_ice_rate;
    ice.from = 0;
    ice.until = INFINITY;
    so.ice = &ice;
    so.nice = 1;
  }
  if ((rc = stv_sim_new(out, &d->uc.clock, &so, err)) != 0) return rc;
  for (i = 0; s != NULL && i < s->nnodes; i++) {
    const struct stv_node *n = &s->nodes[i];
    const char *pid = stv_cache_node_provider_id(d->cache, i);
    enum stv_capacity_type ct = STV_CT_ON_DEMAND;
    struct stv_err e = {0, ""};
    if (pid == NULL || strncmp(pid, "sim:///", 7) != 0) continue;
    if (n->capacity_type != NULL && stv_capacity_type_parse(n->capacity_type, &ct) != 0)
      ct = STV_CT_ON_DEMAND;
    if (n->instance_type == NULL)
      stv_err_set(&e, STV_EINVAL, "the node has no node.kubernetes.io/instance-type label");
    else
      (void)stv_sim_adopt(*out, pid, stv_labels_get(&n->labels, "stevedore.io/node-pool"), n->instance_type,
                          ct, &e);
    if (e.code != 0)
      stv_log(STV_LOG_WARN, "sim node not adopted: the provider will not count it",
              STV_LOG_STR("node", n->name), STV_LOG_STR("error", e.msg));
    else
      stv_log(STV_LOG_DEBUG, "sim node adopted", STV_LOG_STR("node", n->name), STV_LOG_STR("instance", pid));
  }
  return 0;
}

/* Makes the guarded provider and the reconciler on it (not started). */
static int new_reconciler(struct daemon *d, int adopt, struct stv_provision **p, struct stv__guard **g,
                          struct stv_err *err) {
  struct stv_cloud *inner;
  int rc;
  *p = NULL;
  if ((rc = new_provider(d, adopt, &inner, err)) != 0) return rc;
  if ((rc = stv__guard_new(g, inner, d->o->dry_run, d->m.cloud_calls, d->m.cloud_errors)) != 0)
    return stv_err_set(err, rc, "out of memory");
  stv__guard_cloud(*g)->on_event = on_cloud_event;
  stv__guard_cloud(*g)->event_ctx = d;
  if ((rc = stv_provision_new(p, &d->popts, &d->uc.clock, stv__guard_cloud(*g), d->live ? d->live : &d->cat,
                              &d->view, &d->runner, err)) != 0) {
    stv__guard_free(*g);
    *g = NULL;
  }
  return rc;
}

/* A catalogue the reconciler let go: freed unless it is the embedded one or the one in use. */
static void release_catalog(void *ctx, const struct stv_catalog *old) {
  struct daemon *d = ctx;
  struct stv_catalog *c = (struct stv_catalog *)old;
  if (old == &d->cat || old == d->live) return;
  stv_catalog_close(c);
  stv_free(c);
}

/* The refresher read new prices: the reconciler decides with them from its next batch on. */
static void hand_prices(void *ctx, struct stv_catalog *fresh) {
  struct daemon *d = ctx;
  struct stv_catalog *old = d->live;
  d->live = fresh;
  if (d->prov != NULL)
    stv_provision_set_catalog(d->prov, fresh, release_catalog, d);
  else
    release_catalog(d, old);
}

/* The drainer's view: the cache's store, no copy. */
static const struct stv_snapshot *dview_store(void *ctx) {
  struct daemon *d = ctx;
  return stv_cache_store(d->cache);
}

static const char *dview_pid(void *ctx, size_t i) {
  struct daemon *d = ctx;
  return stv_cache_node_provider_id(d->cache, i);
}

/* The provisioner is deciding or has nodes in flight: pending pods may be headed for an empty node. */
static int dview_busy(void *ctx) {
  struct daemon *d = ctx;
  struct stv_provision_stats st;
  if (d->prov == NULL) return 1;
  stv_provision_get_stats(d->prov, &st);
  return stv_provision_busy(d->prov) || st.inflight > 0 || d->job != NULL;
}

static int new_disrupt(struct daemon *d, struct stv_cloud *cloud, struct stv_disrupt **out, struct stv_err *err) {
  struct stv_disrupt_view v = {dview_store, dview_pid, dview_busy, d};
  return stv_disrupt_new(out, &d->dopts, &d->uc.clock, cloud, &stv__drainkube_ops, d->kube, &v, d->events, err);
}

/* The drainer and emptiness reconciler on the guarded provider; the nodes there are count from now. */
static void start_disrupt(struct daemon *d) {
  const struct stv_snapshot *s = stv_cache_store(d->cache);
  struct stv_err err = {0, ""};
  size_t i;
  if (new_disrupt(d, stv__guard_cloud(d->guard), &d->disrupt, &err) != 0 ||
      stv_disrupt_start(d->disrupt) != 0) {
    stv_log(STV_LOG_ERROR, "cannot start the drainer: no node will be removed", STV_LOG_STR("error", err.msg));
    stv_disrupt_free(d->disrupt);
    d->disrupt = NULL;
    return;
  }
  for (i = 0; i < s->nnodes; i++) stv_disrupt_node_registered(d->disrupt, s->nodes[i].name);
}

static void start_acting(struct daemon *d) {
  const struct stv_snapshot *s = stv_cache_store(d->cache);
  struct stv_err err = {0, ""};
  size_t i;
  int rc;
  if ((rc = new_reconciler(d, 1, &d->prov, &d->guard, &err)) != 0) {
    stv_log(STV_LOG_ERROR, "cannot start the reconciler; retrying", STV_LOG_STR("error", err.msg));
    return;
  }
  stv_cache_provision_hooks(&d->fwd, d->prov);
  for (i = 0; i < s->nnodes; i++)
    stv_provision_node_registered(d->prov, s->nodes[i].name, stv_cache_node_provider_id(d->cache, i));
  if ((rc = stv_provision_start(d->prov)) != 0) {
    stv_log(STV_LOG_ERROR, "the provider did not list its groups; retrying",
            STV_LOG_STR("error", stv_strerror(rc)));
    stop_acting(d, "start failed");
    return;
  }
  for (i = 0; i < s->npods; i++)
    if (s->pods[i].node_name == NULL)
      stv_provision_pod_unschedulable(d->prov, s->pods[i].ns, s->pods[i].name);
  stv__prices_start(d->prices, stv__guard_inner(d->guard), &d->uc.clock, &d->cat, d->live ? d->live : &d->cat,
                    d->cfg.prices_refresh, hand_prices, d);
  start_disrupt(d);
  stv__dmetrics_set(d->m.leader, NULL, 1);
  stv_log(STV_LOG_INFO, "acting", STV_LOG_STR("identity", d->identity), STV_LOG_INT("nodes", s->nnodes),
          STV_LOG_INT("pods", s->npods), STV_LOG_BOOL("dry_run", d->o->dry_run));
}

static void maybe_act(struct daemon *d) {
  if (d->leading && d->synced && d->prov == NULL && d->orphan == NULL && !d->stopping) start_acting(d);
}

/* Stops acting at once: the provider closed first (none of its callbacks runs after), then the reconciler. */
static void stop_acting(struct daemon *d, const char *why) {
  if (d->prov == NULL) return;
  stv__prices_stop(d->prices);
  stv__guard_shut(d->guard);
  stv_disrupt_free(d->disrupt); /* after the provider closed: none of its answers comes */
  d->disrupt = NULL;
  if (d->job != NULL) {
    d->orphan = d->prov;
    d->orphan_guard = d->guard;
  } else {
    stv_provision_free(d->prov);
    stv__guard_free(d->guard);
  }
  d->prov = NULL;
  d->guard = NULL;
  memset(&d->fwd, 0, sizeof(d->fwd));
  stv__simnodes_stop(d->simnodes); /* a replica that does not act writes no Node */
  stv__dmetrics_set(d->m.leader, NULL, 0);
  stv_log(STV_LOG_INFO, "stopped acting", STV_LOG_STR("why", why));
}

/* ---------------------------------------------------------------------- */
/* The cache's and the elector's news                                     */

static void h_unschedulable(void *ctx, const char *ns, const char *name) {
  struct daemon *d = ctx;
  if (d->prov != NULL && !d->stopping) d->fwd.pod_unschedulable(d->fwd.ctx, ns, name);
}

static void h_gone(void *ctx, const char *ns, const char *name) {
  struct daemon *d = ctx;
  if (d->prov != NULL) d->fwd.pod_gone(d->fwd.ctx, ns, name);
}

static void h_registered(void *ctx, const char *name, const char *pid) {
  struct daemon *d = ctx;
  if (d->prov == NULL) return;
  d->fwd.node_registered(d->fwd.ctx, name, pid);
  if (d->disrupt != NULL) stv_disrupt_node_registered(d->disrupt, name);
  d->recheck = 1;
  d->registered_at = stv_monotonic_seconds();
}

/*
 * The reconciler batches a pod once, when kube-scheduler first says it is
 * unschedulable, and plans it onto new nodes; but the scheduler may then
 * bind other pods onto those nodes (it places pods its own way) and leave
 * this one pending, saying so again only if its message changes. So once
 * every node in flight has registered and --batch-max has passed since the
 * last registration (the scheduler has bound what it can), a solve looks
 * at what is still pending, as Cluster Autoscaler's next scan would.
 */
static void recheck_pending(struct daemon *d) {
  const struct stv_snapshot *s = stv_cache_store(d->cache);
  struct stv_provision_stats st;
  size_t i;
  if (!d->recheck || d->prov == NULL || d->stopping || stv_provision_busy(d->prov)) return;
  stv_provision_get_stats(d->prov, &st);
  if (st.inflight > 0 || stv_monotonic_seconds() - d->registered_at < d->o->batch_max) return;
  d->recheck = 0;
  for (i = 0; i < s->npods; i++)
    if (s->pods[i].node_name == NULL) {
      stv_provision_poke(d->prov, "pods still pending after the nodes planned for them registered");
      return;
    }
}

static void h_deleted(void *ctx, const char *name, const char *pid) {
  struct daemon *d = ctx;
  if (d->prov != NULL) d->fwd.node_deleted(d->fwd.ctx, name, pid);
  if (d->disrupt != NULL) stv_disrupt_node_deleted(d->disrupt, name);
}

static void h_synced(void *ctx) {
  struct daemon *d = ctx;
  const struct stv_snapshot *s = stv_cache_store(d->cache);
  d->synced = 1;
  stv_serve_set_ready(d->serve, 1);
  stv__dmetrics_set(d->m.ready, NULL, 1);
  stv_log(STV_LOG_INFO, "cache synced", STV_LOG_INT("nodes", s->nnodes), STV_LOG_INT("pods", s->npods));
  maybe_act(d);
}

static void h_error(void *ctx, const struct stv_err *err) {
  (void)ctx;
  stv_log(STV_LOG_WARN, "object left out of the cache", STV_LOG_STR("error", err->msg));
}

static void h_watch_error(void *ctx, const struct stv_err *err, double retry_in) {
  (void)ctx;
  stv_log(STV_LOG_WARN, "list or watch failed; retrying", STV_LOG_STR("error", err->msg),
          STV_LOG_NUM("retry_in_s", retry_in));
}

static void l_start(void *ctx) {
  struct daemon *d = ctx;
  d->leading = 1;
  stv_log(STV_LOG_INFO, "leading", STV_LOG_STR("identity", d->identity));
  maybe_act(d);
}

static void l_stop(void *ctx) {
  struct daemon *d = ctx;
  d->leading = 0;
  stv_log(STV_LOG_INFO, "not leading any more", STV_LOG_STR("identity", d->identity));
  stop_acting(d, "lost the lease");
}

static void l_new_leader(void *ctx, const char *holder) {
  struct daemon *d = ctx;
  stv_log(STV_LOG_INFO, "lease holder", STV_LOG_STR("holder", holder[0] ? holder : "(none)"),
          STV_LOG_BOOL("self", strcmp(holder, d->identity) == 0));
}

/* ---------------------------------------------------------------------- */
/* Metrics                                                                */

static void set_combo(struct daemon *d, const char *pool, const char *ct, double nodes, double cost) {
  const char *values[2] = {pool, ct};
  stv__dmetrics_set(d->m.nodes, values, nodes);
  stv__dmetrics_set(d->m.cost, values, cost);
}

/* Nodes and their hourly cost by pool and capacity type; a pair seen once stays, at 0 when gone. */
static void node_gauges(struct daemon *d) {
  const struct stv_snapshot *s = stv_cache_store(d->cache);
  double nodes[COMBOS_MAX] = {0}, cost[COMBOS_MAX] = {0};
  size_t i, j;
  for (i = 0; i < s->nnodes; i++) {
    const struct stv_node *n = &s->nodes[i];
    const char *pool = stv_labels_get(&n->labels, "stevedore.io/node-pool");
    const char *ct = n->capacity_type != NULL ? n->capacity_type : "unknown";
    enum stv_capacity_type c;
    double price = 0;
    int mean;
    if (pool == NULL) pool = "";
    for (j = 0; j < d->ncombos; j++)
      if (strcmp(d->combos[j].pool, pool) == 0 && strcmp(d->combos[j].ct, ct) == 0) break;
    if (j == d->ncombos) {
      if (j == COMBOS_MAX) continue;
      snprintf(d->combos[j].pool, sizeof(d->combos[j].pool), "%s", pool);
      snprintf(d->combos[j].ct, sizeof(d->combos[j].ct), "%s", ct);
      d->ncombos++;
    }
    nodes[j] += 1;
    if (n->instance_type != NULL && n->capacity_type != NULL && stv_capacity_type_parse(ct, &c) == 0 &&
        stv_catalog_price(&d->cat, n->instance_type, c, n->zone, &price, &mean, NULL, 0) == 0)
      cost[j] += price;
  }
  for (j = 0; j < d->ncombos; j++) set_combo(d, d->combos[j].pool, d->combos[j].ct, nodes[j], cost[j]);
}

/* The drainer's counters; a new drainer (after a change of leader) starts its slots again. */
static void disrupt_metrics(struct daemon *d) {
  struct stv__dmetrics *m = &d->m;
  struct stv_disrupt_stats ds;
  const char *values[1];
  if (d->disrupt == NULL) {
    stv__dmetrics_set(m->draining, NULL, 0);
    return;
  }
  stv_disrupt_get_stats(d->disrupt, &ds);
  stv__dmetrics_set(m->draining, NULL, (double)ds.draining);
  stv__dmetrics_count(m, SLOT_DRAINED, m->nodes_drained, NULL, (double)ds.nodes_drained);
  stv__dmetrics_count(m, SLOT_DRAIN_FAILURES, m->drain_failures, NULL, (double)ds.drain_failures);
  values[0] = "evicted";
  stv__dmetrics_count(m, SLOT_EVICTED, m->evictions, values, (double)ds.evictions);
  values[0] = "refused_pdb";
  stv__dmetrics_count(m, SLOT_REFUSED, m->evictions, values, (double)ds.evictions_refused);
  values[0] = "error";
  stv__dmetrics_count(m, SLOT_EVICT_ERRORS, m->evictions, values, (double)ds.eviction_errors);
}

static void refresh_metrics(struct daemon *d) {
  struct stv__dmetrics *m = &d->m;
  const struct stv_snapshot *s = stv_cache_store(d->cache);
  struct stv_cache_stats cs;
  struct stv_events_stats es;
  const char *values[1];
  size_t i, pending = 0;
  int k;
  for (i = 0; i < s->npods; i++) pending += s->pods[i].node_name == NULL;
  stv__dmetrics_set(m->pending, NULL, (double)pending);
  node_gauges(d);
  if (d->prov != NULL) {
    struct stv_provision_stats ps;
    stv_provision_get_stats(d->prov, &ps);
    stv__dmetrics_set(m->inflight, NULL, (double)ps.inflight);
    stv__dmetrics_count(m, SLOT_SCALE_UPS, m->scale_ups, NULL, (double)ps.scale_ups);
    stv__dmetrics_count(m, SLOT_REQUESTED, m->nodes_requested, NULL, (double)ps.nodes_requested);
    stv__dmetrics_count(m, SLOT_CUT, m->nodes_cut, NULL, (double)ps.nodes_cut);
    stv__dmetrics_count(m, SLOT_GIVEN_UP, m->given_up, NULL, (double)ps.given_up);
  } else {
    stv__dmetrics_set(m->inflight, NULL, 0);
  }
  disrupt_metrics(d);
  stv_cache_get_stats(d->cache, &cs);
  stv__dmetrics_count(m, SLOT_CACHE_EVENTS, m->cache_events, NULL, (double)cs.events);
  stv__dmetrics_count(m, SLOT_CACHE_ERRORS, m->cache_errors, NULL, (double)cs.errors);
  stv__dmetrics_count(m, SLOT_COMPACTIONS, m->cache_compactions, NULL, (double)cs.compactions);
  for (k = 0; k < STV_CACHE_NKINDS; k++) {
    struct stv_reflector_stats rs;
    stv_cache_reflector_stats(d->cache, (enum stv_cache_kind)k, &rs);
    values[0] = stv_cache_kind_resource((enum stv_cache_kind)k);
    stv__dmetrics_count(m, SLOT_WATCH + 3 * k, m->watch_restarts, values,
                        rs.watches > 1 ? rs.watches - 1.0 : 0);
    stv__dmetrics_count(m, SLOT_WATCH + 3 * k + 1, m->watch_relists, values,
                        rs.lists > 1 ? rs.lists - 1.0 : 0);
    stv__dmetrics_count(m, SLOT_WATCH + 3 * k + 2, m->watch_errors, values, (double)rs.errors);
  }
  stv_events_stats(d->events, &es);
  values[0] = "created";
  stv__dmetrics_count(m, SLOT_EV_CREATED, m->events, values, (double)es.created);
  values[0] = "updated";
  stv__dmetrics_count(m, SLOT_EV_UPDATED, m->events, values, (double)es.updated);
  values[0] = "deduplicated";
  stv__dmetrics_count(m, SLOT_EV_DEDUP, m->events, values, (double)es.deduplicated);
  values[0] = "rate_limited";
  stv__dmetrics_count(m, SLOT_EV_LIMITED, m->events, values, (double)es.rate_limited);
  values[0] = "fanned_out";
  stv__dmetrics_count(m, SLOT_EV_FANNED, m->events, values, (double)es.fanned_out);
  stv__dmetrics_count(m, SLOT_EV_FAILED, m->event_writes_failed, NULL, (double)d->sink.failed);
  if (d->sink.failed > d->failed_logged) {
    stv_log(STV_LOG_WARN, "Event writes failed", STV_LOG_INT("failed", d->sink.failed - d->failed_logged),
            STV_LOG_STR("last_error", d->sink.last_error));
    d->failed_logged = d->sink.failed;
  }
  stv__dmetrics_count(m, SLOT_LOG_DROPPED, m->log_dropped, NULL, (double)stv_log_dropped());
}

/* The loop is alive: /healthz says so while this runs on time; the test hook blocks it once here. */
static void beat_cb(uv_timer_t *t) {
  struct daemon *d = t->data;
  stv_serve_heartbeat(d->serve);
  stv__prices_tick(d->prices);
  if (d->o->test_block_loop > 0 && d->synced && !d->blocked) {
    struct timespec ts;
    d->blocked = 1;
    ts.tv_sec = (time_t)d->o->test_block_loop;
    ts.tv_nsec = (long)((d->o->test_block_loop - (double)ts.tv_sec) * 1e9);
    stv_log(STV_LOG_WARN, "test hook: blocking the loop thread",
            STV_LOG_NUM("seconds", d->o->test_block_loop));
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    stv_log(STV_LOG_WARN, "test hook: the loop thread runs again");
  }
}

static void tick_cb(uv_timer_t *t) {
  struct daemon *d = t->data;
  refresh_metrics(d);
  maybe_act(d); /* after a failed start */
  recheck_pending(d);
  if (d->o->test_drain_node != NULL && d->disrupt != NULL && !d->test_drained &&
      stv_disrupt_drain(d->disrupt, d->o->test_drain_node, "requested by --test-drain-node") == 0)
    d->test_drained = 1;
}

/* ---------------------------------------------------------------------- */
/* Shutdown                                                               */

static void leader_released(void *ctx) {
  struct daemon *d = ctx;
  d->stage = 3;
}

/* Work in flight: a solve on the worker, or a scale request awaiting the provider's answer. */
static int in_flight(const struct daemon *d) {
  return d->prov != NULL && (d->job != NULL || stv__guard_busy(d->guard));
}

/*
 * The stages: 0 waits (up to --shutdown-timeout) for the solve and the
 * scale requests in flight to end (a batch still open is dropped: its pods
 * stay pending for the next leader, and no new solve starts); 1 stops
 * acting and releases the Lease; 2 waits for the release; 3 stops the
 * loop, and stv_daemon_run frees everything.
 */
static void drain_cb(uv_timer_t *t) {
  struct daemon *d = t->data;
  double waited = stv_monotonic_seconds() - d->stop_at;
  if (d->stage == 0) {
    if (in_flight(d) && waited < d->o->shutdown_timeout) return;
    if (in_flight(d))
      stv_log(STV_LOG_WARN, "shutdown timeout: abandoning the reconciler's work in flight",
              STV_LOG_NUM("waited_s", waited));
    stop_acting(d, "shutting down");
    d->stage = 1;
  }
  if (d->stage == 1) {
    d->stage = 2;
    if (d->leader != NULL)
      stv_leader_stop(d->leader, leader_released, d);
    else
      d->stage = 3;
  }
  if (d->stage == 2 && waited > d->o->shutdown_timeout + 5) {
    stv_log(STV_LOG_WARN, "the Lease release did not finish; exiting without it");
    d->stage = 3;
  }
  if (d->stage == 3) {
    uv_timer_stop(&d->drain);
    uv_stop(&d->loop);
  }
}

static void on_signal(uv_signal_t *h, int signum) {
  struct daemon *d = h->data;
  if (d->stopping) {
    stv_log(STV_LOG_INFO, "signal again: still shutting down", STV_LOG_STR("signal", strsignal(signum)));
    return;
  }
  d->stopping = 1;
  d->stop_at = stv_monotonic_seconds();
  stv_serve_set_ready(d->serve, 0);
  stv_log(STV_LOG_INFO, "shutting down", STV_LOG_STR("signal", strsignal(signum)),
          STV_LOG_NUM("timeout_s", d->o->shutdown_timeout));
  if (uv_timer_start(&d->drain, drain_cb, 0, DRAIN_MS) != 0) uv_stop(&d->loop);
}

/* ---------------------------------------------------------------------- */
/* Start                                                                  */

void stv_daemon_opts_default(struct stv_daemon_opts *o) {
  memset(o, 0, sizeof(*o));
  o->provider = STV_PROVIDER_SIM;
  o->catalog = NULL;
  o->metrics_address = "0.0.0.0:8080";
  o->batch_idle = 1;
  o->batch_max = 10;
  o->decision_budget = 1;
  o->max_provision = 900;
  o->sim_launch_delay = 30;
  o->shutdown_timeout = 10;
  o->leader_elect = 1;
  o->lease_duration = 15;
  o->renew_deadline = 10;
  o->retry_period = 2;
  o->sim_seed = 1;
  o->sim_interruption_notice = 120;
  o->lease_name = "stevedore";
  o->empty_for = -1;
  o->drain_timeout = -1;
}

/* This replica's name in the Lease: --identity, POD_NAME, else host name + "_" + 8 random hex digits. */
static void make_identity(struct daemon *d) {
  const char *v = d->o->identity != NULL ? d->o->identity : getenv("POD_NAME");
  char host[200] = "stevedore";
  uint32_t r = 0;
  if (v != NULL && *v != '\0') {
    snprintf(d->identity, sizeof(d->identity), "%s", v);
    return;
  }
  if (gethostname(host, sizeof(host) - 1) != 0) snprintf(host, sizeof(host), "stevedore");
  if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
    r = (uint32_t)stv_monotonic_seconds() ^ (uint32_t)getpid();
  snprintf(d->identity, sizeof(d->identity), "%s_%08x", host, r);
}

/* The drainer's options from the configuration's disruption: and the flags; checked by making one on g. */
static int disrupt_opts(struct daemon *d, struct stv__guard *g, struct stv_err *err) {
  const struct stv_disruption_config *c = &d->cfg.disruption;
  struct stv_disrupt_opts *o = &d->dopts;
  struct stv_disrupt *probe = NULL;
  int rc;
  stv_disrupt_opts_default(o);
  o->empty_for = d->o->empty_for >= 0 ? d->o->empty_for : c->empty_for;
  o->drain_timeout = d->o->drain_timeout >= 0 ? d->o->drain_timeout : c->drain_timeout;
  o->budget.nodes = c->budget_nodes;
  o->budget.percent = c->budget_percent;
  if (d->o->disruption_budget != NULL &&
      (rc = stv_config_parse_budget(d->o->disruption_budget, &o->budget.nodes, &o->budget.percent, err)) != 0)
    return stv_err_prefix(err, "--disruption-budget");
  o->emptiness = c->emptiness;
  o->dry_run = d->o->dry_run;
  o->on_decision = on_decision;
  o->decision_ctx = d;
  if ((rc = new_disrupt(d, stv__guard_cloud(g), &probe, err)) != 0) return rc;
  stv_disrupt_free(probe);
  return 0;
}

/* The reconciler's options from the configuration and the flags; checked by making a reconciler once. */
static int reconciler_opts(struct daemon *d, struct stv_err *err) {
  const struct stv_daemon_opts *o = d->o;
  struct stv_provision_opts *po = &d->popts;
  struct stv_provision *p = NULL;
  struct stv__guard *g = NULL;
  size_t i, k = 0;
  int rc;
  stv_provision_opts_default(po);
  po->batch_idle = o->batch_idle;
  po->batch_max = o->batch_max;
  po->decision_budget = o->decision_budget;
  po->max_provision = o->max_provision;
  /* Overdue nodes are looked for every HOUSEKEEPING_S: a give-up comes at most that late. */
  po->housekeeping = HOUSEKEEPING_S;
  po->capacity_types = o->capacity_types != 0 ? o->capacity_types : d->cfg.capacity_types;
  po->pools = d->cfg.pools;
  po->npools = d->cfg.npools;
  po->instance_types = o->instance_types;
  po->ninstance_types = o->ninstance_types;
  po->zones = o->zones;
  po->nzones = o->nzones;
  po->headroom = d->cfg.headroom;
  po->nheadroom = d->cfg.nheadroom;
  po->headroom_percent = d->cfg.headroom_percent;
  po->cluster = d->cfg.limits;
  po->spot = d->cfg.spot;
  po->node_cost = d->cfg.node_cost;
  /* Percent to a fraction, as `recommend` reads it; 0 % (the optimum only) is the packer's negative. */
  po->gap_tolerance = d->cfg.gap_tolerance > 0 ? d->cfg.gap_tolerance / 100 : -1;
  po->on_decision = on_decision;
  po->decision_ctx = d;
  d->pool_limits = stv_calloc(d->cfg.npools + 1, sizeof(*d->pool_limits));
  d->pool_names = stv_calloc(d->cfg.npools + 1, sizeof(*d->pool_names));
  if (d->pool_limits == NULL || d->pool_names == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (i = 0; i < d->cfg.npools; i++) {
    d->pool_names[i] = d->cfg.pools[i].name;
    d->pool_limits[k].pool = d->cfg.pools[i].name;
    d->pool_limits[k++].limits = d->cfg.pools[i].limits;
  }
  po->pool_limits = d->pool_limits;
  po->npool_limits = k;
  if ((rc = new_reconciler(d, 0, &p, &g, err)) != 0) return rc;
  stv_provision_free(p);
  if ((rc = disrupt_opts(d, g, err)) != 0) {
    stv__guard_free(g);
    return rc;
  }
  stv__guard_free(g);
  return 0;
}

/* A cluster without nodes: the catalogue of the provider's region (its configuration's, else its groups'). */
static int provider_region(struct daemon *d, char *why, size_t size, int *found, struct stv_err *err) {
  struct stv_cloud *c = NULL;
  int rc;
  *found = stv__daemon_configured_region(d->o->provider, &d->cfg, d->catalog_spec, sizeof(d->catalog_spec), why, size);
  if (*found) return 0;
  if ((rc = stv_http_new(&d->cloud_http, &d->loop, err)) != 0 || (rc = new_cloud(d, &c, err)) != 0) return rc;
  *found = stv__daemon_groups_region(c, d->o->provider, &d->loop, d->catalog_spec, sizeof(d->catalog_spec), why, size);
  c->ops->close(c);
  if (!*found) snprintf(d->catalog_spec, sizeof(d->catalog_spec), "%s", STV_CATALOG_DEFAULT);
  return 0;
}

/* Loads what the flags name; every failure here is the user's to fix (exit 2). */
static int load_inputs(struct daemon *d, struct stv_kube_config **kc, struct stv_err *err) {
  const struct stv_daemon_opts *o = d->o;
  int rc;
  if (o->config != NULL && (rc = stv_config_load_file(&d->cfg, o->config, err)) != 0) return rc;
  if (o->catalog != NULL) {
    snprintf(d->catalog_spec, sizeof(d->catalog_spec), "%s", o->catalog);
  } else {
    char why[300];
    int from_nodes, from_provider = 0;
    rc = stv__daemon_region_catalog(o->kubeconfig, o->context, d->catalog_spec, sizeof(d->catalog_spec), why,
                                    sizeof(why), &from_nodes, err);
    if (rc != 0) return rc;
    if (!from_nodes && o->provider != STV_PROVIDER_SIM &&
        (rc = provider_region(d, why, sizeof(why), &from_provider, err)) != 0)
      return rc;
    stv_log(from_nodes || from_provider ? STV_LOG_INFO : STV_LOG_WARN,
            from_nodes      ? "catalogue of the nodes' region"
            : from_provider ? "catalogue of the provider's region"
                            : "catalogue: the default (give --catalog)",
            STV_LOG_STR("catalog", d->catalog_spec), STV_LOG_STR("reason", why));
  }
  if ((rc = stv_catalog_load(&d->cat, d->catalog_spec, err)) != 0) {
    stv_err_prefix(err, "--catalog %s", d->catalog_spec);
    return rc;
  }
  /* The cloud adapters' client, before reconciler_opts checks the provider's settings (region, cluster name,
   * credential source): a mistake there is an exit, not a retry loop. */
  if (o->provider != STV_PROVIDER_SIM && d->cloud_http == NULL && (rc = stv_http_new(&d->cloud_http, &d->loop, err)) != 0)
    return rc;
  if ((rc = reconciler_opts(d, err)) != 0) return rc;
  if ((rc = stv_kube_config_load(kc, o->kubeconfig, o->context, err)) != 0) return rc;
  return 0;
}

static int start_services(struct daemon *d, struct stv_err *err) {
  const struct stv_daemon_opts *o = d->o;
  struct stv_events_config ec;
  struct stv_cache_hooks h;
  const char *ns;
  int rc;
  if ((rc = stv__dmetrics_init(&d->m, err)) != 0) return rc;
  if ((rc = stv__prices_new(&d->prices, d->m.reg, err)) != 0) return rc;
  if ((rc = stv_serve_start(&d->serve, o->metrics_address, d->m.reg, err)) != 0) {
    stv_err_prefix(err, "--metrics-address");
    return rc;
  }
  stv_kube_event_sink_init(&d->sink, d->kube, "stevedore", d->identity);
  stv_events_config_default(&ec);
  ec.sink_ops = &stv_kube_event_sink_ops;
  ec.sink = &d->sink;
  if ((rc = stv_events_new(&d->events, &d->uc.clock, &ec, err)) != 0) return rc;
  if (o->provider == STV_PROVIDER_SIM && !o->dry_run &&
      (rc = stv__simnodes_new(&d->simnodes, d->kube, &d->uc.clock, &d->cat, d->popts.capacity_types,
                              d->cfg.pools, d->cfg.npools, d->m.node_writes, err)) != 0)
    return rc;
  memset(&h, 0, sizeof(h));
  h.pod_unschedulable = h_unschedulable;
  h.pod_gone = h_gone;
  h.node_registered = h_registered;
  h.node_deleted = h_deleted;
  h.synced = h_synced;
  h.error = h_error;
  h.watch_error = h_watch_error;
  h.ctx = d;
  if ((rc = stv_cache_new(&d->cache, &h)) != 0) return stv_err_set(err, rc, "out of memory");
  d->view.snapshot = view_snapshot;
  d->view.ctx = d;
  d->view.has_pending = view_has_pending;
  if ((rc = stv_cache_start(d->cache, d->kube, 0, err)) != 0) return rc;
  if (o->leader_elect) {
    struct stv_leader_config lc = {0};
    ns = o->lease_namespace != NULL ? o->lease_namespace : getenv("POD_NAMESPACE");
    if (ns == NULL || *ns == '\0') ns = stv_kube_config_of(d->kube)->nspace;
    if ((rc = stv_kube_lease_store_init(&d->lease, d->kube, ns, o->lease_name, err)) != 0) {
      stv_err_prefix(err, "--lease-namespace / --lease-name");
      return rc;
    }
    stv_leader_config_default(&lc);
    lc.identity = d->identity;
    lc.lease_duration = o->lease_duration;
    lc.renew_deadline = o->renew_deadline;
    lc.retry_period = o->retry_period;
    lc.wall_time = stv_wall_time;
    lc.store_ops = &stv_kube_lease_store_ops;
    lc.store = &d->lease;
    lc.on_start = l_start;
    lc.on_stop = l_stop;
    lc.on_new_leader = l_new_leader;
    lc.ctx = d;
    if ((rc = stv_leader_new(&d->leader, &d->uc.clock, &lc, err)) != 0) {
      stv_err_prefix(err, "--identity, --lease-duration, --renew-deadline, --retry-period");
      return rc;
    }
  } else {
    d->leading = 1;
  }
  stv_log(STV_LOG_INFO, "started", STV_LOG_STR("identity", d->identity),
          STV_LOG_STR("server", stv_kube_config_of(d->kube)->server), STV_LOG_STR("provider", provider_name(o->provider)),
          STV_LOG_BOOL("dry_run", o->dry_run), STV_LOG_BOOL("leader_elect", o->leader_elect),
          STV_LOG_INT("metrics_port", stv_serve_port(d->serve)), STV_LOG_STR("catalog", d->catalog_spec),
          STV_LOG_NUM("liveness_s", LIVENESS_S));
  return 0;
}

static int start_handles(struct daemon *d) {
  int rc;
  d->sigterm.data = d->sigint.data = d->tick.data = d->drain.data = d->beat.data = d;
  if ((rc = uv_signal_init(&d->loop, &d->sigterm)) != 0 || (rc = uv_signal_init(&d->loop, &d->sigint)) != 0 ||
      (rc = uv_timer_init(&d->loop, &d->tick)) != 0 || (rc = uv_timer_init(&d->loop, &d->drain)) != 0 ||
      (rc = uv_timer_init(&d->loop, &d->beat)) != 0)
    return rc;
  stv_serve_set_liveness(d->serve, LIVENESS_S);
  if ((rc = uv_signal_start(&d->sigterm, on_signal, SIGTERM)) != 0 ||
      (rc = uv_signal_start(&d->sigint, on_signal, SIGINT)) != 0 ||
      (rc = uv_timer_start(&d->tick, tick_cb, TICK_MS, TICK_MS)) != 0 ||
      (rc = uv_timer_start(&d->beat, beat_cb, BEAT_MS, BEAT_MS)) != 0)
    return rc;
  return 0;
}

static void close_handle(uv_handle_t *h) {
  if (h->loop != NULL && !uv_is_closing(h)) uv_close(h, NULL);
}

/* Frees everything d holds, in the order the owners' contracts ask. */
static void teardown(struct daemon *d, int handles) {
  stop_acting(d, "exiting");
  stv__simnodes_stop(d->simnodes);
  stv_cache_free(d->cache);
  stv_kube_free(d->kube); /* the callbacks of requests in flight run now, cancelled */
  stv_leader_free(d->leader);
  stv_events_free(d->events);
  stv_http_close(d->cloud_http); /* after the provider: its calls were abandoned */
  d->cloud_http = NULL;
  while (d->orphan != NULL && uv_run(&d->loop, UV_RUN_ONCE) != 0) {
  }
  stv_uvclock_close(&d->uc);
  if (handles) {
    close_handle((uv_handle_t *)&d->sigterm);
    close_handle((uv_handle_t *)&d->sigint);
    close_handle((uv_handle_t *)&d->tick);
    close_handle((uv_handle_t *)&d->drain);
    close_handle((uv_handle_t *)&d->beat);
  }
  while (uv_run(&d->loop, UV_RUN_DEFAULT) != 0) {
  }
  (void)uv_loop_close(&d->loop);
  stv__simnodes_free(d->simnodes);
  stv_serve_stop(d->serve);
  stv__dmetrics_close(&d->m);
  stv__prices_free(d->prices);
  if (d->live != NULL) {
    stv_catalog_close(d->live);
    stv_free(d->live);
  }
  stv_free(d->pool_limits);
  stv_free((void *)d->pool_names);
  stv_catalog_close(&d->cat);
  stv_config_close(&d->cfg);
  stv_free(d->seen);
  stv_strpool_close(&d->seen_pool);
}

int stv_daemon_run(const struct stv_daemon_opts *o, struct stv_err *err) {
  struct daemon *d = stv_calloc(1, sizeof(*d));
  struct stv_kube_config *kc = NULL;
  int rc, handles = 0;
  if (d == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  d->o = o;
  stv_config_init(&d->cfg);
  memset(&d->cat, 0, sizeof(d->cat));
  if ((rc = uv_loop_init(&d->loop)) != 0) {
    stv_free(d);
    return stv_err_set(err, STV_EIO, "cannot start the event loop: %s", uv_strerror(rc));
  }
  stv_uvclock_init(&d->uc, &d->loop);
  stv_strpool_init(&d->seen_pool);
  stv_solve_runner_uv_init(&d->uvrunner, &d->loop);
  d->runner.ops = &runner_ops;
  d->runner.impl = d;
  make_identity(d);
  if ((rc = load_inputs(d, &kc, err)) != 0) goto out;
  rc = stv_kube_new(&d->kube, &d->loop, kc, err); /* takes kc */
  if (rc != 0) goto out;
  if ((rc = start_services(d, err)) != 0) goto out;
  handles = 1;
  if ((rc = start_handles(d)) != 0) {
    rc = stv_err_set(err, STV_EIO, "cannot set up signals and timers: %s", uv_strerror(rc));
    goto out;
  }
  stv__dmetrics_set(d->m.leader, NULL, 0);
  maybe_act(d);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  stv_log(STV_LOG_INFO, "stopped", STV_LOG_STR("identity", d->identity));
out:
  teardown(d, handles);
  stv_free(d);
  return rc;
}
