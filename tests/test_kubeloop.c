/*
 * Leader election and Events against the API emulator, through the
 * Kubernetes client, on libuv's wall clock (controller/kube/lease.c,
 * eventsink.c): what leader.c and events.c do on the virtual clock in
 * test_leader.c and test_events.c, here over the wire.
 */
#define STV_TEST_CURL 1 /* harness.h: libcurl set up once by main */
#include "harness.h"

#include "kubeemu.h"

#include "clock_uv.h"
#include "kubeloop.h"

struct replica {
  int starts, stops;
};

static void r_start(void *ctx) { ((struct replica *)ctx)->starts++; }
static void r_stop(void *ctx) { ((struct replica *)ctx)->stops++; }

/* Short timings so the test takes seconds (lease 6 s, renew 4 s, retry 1 s),
 * with room for an emulator slowed down by a busy machine. */
static int elector(struct stv_leader **l, struct stv_uvclock *uc, struct stv_kube_lease_store *st,
                   const char *identity, struct replica *r) {
  struct stv_leader_config c = {0};
  struct stv_err err = {0};
  c.identity = identity;
  c.lease_duration = 6;
  c.renew_deadline = 4;
  c.retry_period = 1;
  c.wall_time = stv_wall_time;
  c.store_ops = &stv_kube_lease_store_ops;
  c.store = st;
  c.on_start = r_start;
  c.on_stop = r_stop;
  c.ctx = r;
  if (stv_leader_new(l, &uc->clock, &c, &err) != 0) {
    fprintf(stderr, "  %s\n", err.msg);
    return -1;
  }
  return 0;
}

/* Runs the loop for secs; returns the most replicas seen leading at once. */
static int most_leaders(struct env *v, struct stv_leader *a, struct stv_leader *b, double secs) {
  double end = now_s() + secs;
  int flag = 0, most = 0;
  while (now_s() < end) {
    int n;
    run_until(v, &flag, 0.02);
    n = stv_leader_is_leader(a) + stv_leader_is_leader(b);
    if (n > most) most = n;
  }
  return most;
}

static int lease_holder(const struct emu *e, char *out, size_t size) {
  char cmd[1024];
  FILE *p;
  size_t n;
  snprintf(cmd, sizeof(cmd),
           "curl -sf --cacert '%s' -H 'Authorization: Bearer good-token' "
           "'%s/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/stevedore' | "
           "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"spec\"].get(\"holderIdentity\",\"\"))'",
           e->ca, e->url);
  if ((p = popen(cmd, "r")) == NULL) return -1;
  n = fread(out, 1, size - 1, p);
  out[n] = '\0';
  while (n > 0 && out[n - 1] == '\n') out[--n] = '\0';
  return pclose(p) == 0 ? 0 : -1;
}

static void on_done(void *ctx) { *(int *)ctx = 1; }

TEST(should_elect_one_replica_over_the_api_and_hand_over_when_it_stops) {
  struct emu e;
  struct env v;
  struct stv_uvclock uc;
  struct stv_kube_lease_store st;
  struct stv_leader *a = NULL, *b = NULL;
  struct replica ra = {0}, rb = {0};
  struct stv_err err = {0};
  char holder[300];
  int done = 0;
  CHECK(emu_start(&e, NULL) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0);
  CHECK(env_open(&v, &e) == 0);
  stv_uvclock_init(&uc, &v.loop);
  CHECK(stv_kube_lease_store_init(&st, v.k, "kube-system", "stevedore", &err) == 0);
  CHECK(elector(&a, &uc, &st, "replica-a", &ra) == 0);
  CHECK(elector(&b, &uc, &st, "replica-b", &rb) == 0);
  /* Never two at once, over several renewals; one at the end. */
  CHECK_EQ_INT(most_leaders(&v, a, b, 6), 1);
  CHECK_EQ_INT(stv_leader_is_leader(a) + stv_leader_is_leader(b), 1);
  CHECK(lease_holder(&e, holder, sizeof(holder)) == 0);
  CHECK(strcmp(holder, stv_leader_is_leader(a) ? "replica-a" : "replica-b") == 0);
  {
    struct stv_leader *leader = stv_leader_is_leader(a) ? a : b, *other = leader == a ? b : a;
    stv_leader_stop(leader, on_done, &done);
    CHECK(run_until(&v, &done, 5));
    CHECK(lease_holder(&e, holder, sizeof(holder)) == 0);
    CHECK(strcmp(holder, "") == 0 || strcmp(holder, other == a ? "replica-a" : "replica-b") == 0);
    /* Released: the other takes over within a jittered retry, not a lease duration. */
    {
      double t0 = now_s();
      int f = 0;
      while (!stv_leader_is_leader(other) && now_s() - t0 < 6) run_until(&v, &f, 0.05);
      CHECK(stv_leader_is_leader(other));
      CHECK(now_s() - t0 < 1 + 1.2 + 1); /* a retry, its jitter, and a slow answer; a lease would be 6 s */
    }
    stv_leader_free(leader);
    stv_leader_stop(other, on_done, &done);
    done = 0;
    CHECK(run_until(&v, &done, 5));
    stv_leader_free(other);
  }
  stv_uvclock_close(&uc);
  CHECK(env_close(&v) == 0);
  emu_stop(&e);
}

TEST(should_stop_leading_at_once_when_the_lease_is_stolen_on_the_server) {
  struct emu e;
  struct env v;
  struct stv_uvclock uc;
  struct stv_kube_lease_store st;
  struct stv_leader *a = NULL;
  struct replica ra = {0};
  struct stv_err err = {0};
  int done = 0;
  double t0;
  CHECK(emu_start(&e, NULL) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0);
  CHECK(env_open(&v, &e) == 0);
  stv_uvclock_init(&uc, &v.loop);
  CHECK(stv_kube_lease_store_init(&st, v.k, "kube-system", "stevedore", &err) == 0);
  CHECK(elector(&a, &uc, &st, "replica-a", &ra) == 0);
  t0 = now_s();
  while (!stv_leader_is_leader(a) && now_s() - t0 < 5) run_until(&v, &done, 0.05);
  CHECK(stv_leader_is_leader(a));
  CHECK(emu_ctl(&e, "/_emulator/faults",
                "{\"steal_lease\": {\"namespace\": \"kube-system\", \"name\": \"stevedore\", \"holder\": \"thief\"}}") ==
        0);
  t0 = now_s();
  while (stv_leader_is_leader(a) && now_s() - t0 < 3) run_until(&v, &done, 0.05);
  CHECK(!stv_leader_is_leader(a));
  CHECK(now_s() - t0 < 1 + 1); /* the next renewal reads the thief's record */
  CHECK_EQ_INT(ra.stops, 1);
  CHECK(strcmp(stv_leader_holder(a), "thief") == 0);
  stv_leader_stop(a, on_done, &done);
  done = 0;
  CHECK(run_until(&v, &done, 5));
  stv_leader_free(a);
  stv_uvclock_close(&uc);
  CHECK(env_close(&v) == 0);
  emu_stop(&e);
}

static int event_count(const struct emu *e, const char *ns, char *out, size_t size) {
  char cmd[1024];
  FILE *p;
  size_t n;
  snprintf(cmd, sizeof(cmd),
           "curl -sf --cacert '%s' -H 'Authorization: Bearer good-token' '%s/api/v1/namespaces/%s/events' | "
           "python3 -c 'import json,sys; print(\";\".join(\"%%s/%%s/%%s/%%d\" %% (i[\"involvedObject\"][\"name\"], "
           "i[\"reason\"], i[\"type\"], i.get(\"count\", 0)) for i in json.load(sys.stdin)[\"items\"]))'",
           e->ca, e->url, ns);
  if ((p = popen(cmd, "r")) == NULL) return -1;
  n = fread(out, 1, size - 1, p);
  out[n] = '\0';
  while (n > 0 && out[n - 1] == '\n') out[--n] = '\0';
  return pclose(p) == 0 ? 0 : -1;
}

TEST(should_create_events_and_count_them_up_on_the_api_server) {
  struct emu e;
  struct env v;
  struct stv_uvclock uc;
  struct stv_kube_event_sink sink;
  struct stv_events_config c = {0};
  struct stv_events *rec = NULL;
  struct stv_err err = {0};
  struct stv_event_ref pod = {.kind = "Pod", .api_version = "v1", .namespace = "default", .name = "web-1",
                              .uid = "u-1"};
  char got[2048];
  int flag = 0;
  CHECK(emu_start(&e, NULL) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0);
  CHECK(env_open(&v, &e) == 0);
  stv_uvclock_init(&uc, &v.loop);
  stv_kube_event_sink_init(&sink, v.k, "stevedore", "replica-a");
  stv_events_config_default(&c);
  c.sink_ops = &stv_kube_event_sink_ops;
  c.sink = &sink;
  CHECK(stv_events_new(&rec, &uc.clock, &c, &err) == 0);
  CHECK(stv_events_record(rec, &pod, "Normal", "NotTriggerScaleUp", "pod didn't trigger scale-up: no pool fits") ==
        0);
  run_until(&v, &flag, 1);
  CHECK(stv_events_record(rec, &pod, "Normal", "NotTriggerScaleUp", "pod didn't trigger scale-up: no pool fits") ==
        0);
  while (sink.in_flight > 0) run_until(&v, &flag, 0.05);
  CHECK_EQ_INT(sink.failed, 0);
  CHECK_EQ_INT(sink.sent, 2);
  CHECK(event_count(&e, "default", got, sizeof(got)) == 0);
  CHECK(strcmp(got, "web-1/NotTriggerScaleUp/Normal/2") == 0);
  stv_events_free(rec);
  stv_uvclock_close(&uc);
  CHECK(env_close(&v) == 0);
  emu_stop(&e);
}

TEST(should_read_a_lease_and_refuse_a_malformed_one_naming_the_field) {
  struct stv_lease l;
  struct stv_err err = {0};
  cJSON *o = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"42\"},\"spec\":{"
                         "\"holderIdentity\":\"pod-a\",\"leaseDurationSeconds\":15,\"leaseTransitions\":3,"
                         "\"acquireTime\":\"2026-12-07T10:00:00.000000Z\",\"renewTime\":\"2026-12-07T10:00:05.500000Z\"}}");
  CHECK(o != NULL);
  CHECK(stv_kube_lease_from_json(o, &l, &err) == 0);
  CHECK(strcmp(l.holder, "pod-a") == 0);
  CHECK_EQ_INT(l.duration_s, 15);
  CHECK_EQ_INT(l.transitions, 3);
  CHECK(strcmp(l.resource_version, "42") == 0);
  CHECK(l.renew_time - l.acquire_time > 5.49 && l.renew_time - l.acquire_time < 5.51);
  cJSON_Delete(o);
  o = cJSON_Parse("{\"metadata\":{\"resourceVersion\":\"42\"},\"spec\":{\"renewTime\":\"2026-02-30T00:00:00Z\"}}");
  CHECK(stv_kube_lease_from_json(o, &l, &err) == STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "spec.renewTime");
  cJSON_Delete(o);
  o = cJSON_Parse("{\"metadata\":{\"resourceVersion\":\"42\"},\"spec\":{\"leaseDurationSeconds\":-4}}");
  CHECK(stv_kube_lease_from_json(o, &l, &err) == STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "spec.leaseDurationSeconds");
  cJSON_Delete(o);
}
