/*
 * The Event recorder (controller/loop/events.h): deduplication, the spam
 * filters and the fan-out limit, on the virtual clock with a recording sink.
 */
#include "harness.h"

#include "clock.h"
#include "events.h"

struct sink {
  int creates, updates;
  char last_name[300];
  char last_message[1100];
  int32_t last_count;
};

static void s_create(void *p, const struct stv_event *ev) {
  struct sink *s = p;
  s->creates++;
  snprintf(s->last_name, sizeof(s->last_name), "%s", ev->name);
  snprintf(s->last_message, sizeof(s->last_message), "%s", ev->message);
  s->last_count = ev->count;
}

static void s_update(void *p, const struct stv_event *ev) {
  struct sink *s = p;
  s->updates++;
  s->last_count = ev->count;
}

static const struct stv_event_sink_ops sink_ops = {.create = s_create, .update = s_update};

static struct stv_events *recorder(struct stv_vclock *vc, struct sink *s, uint32_t max_objects) {
  struct stv_events_config c = {0};
  struct stv_events *e = NULL;
  struct stv_err err = {0};
  stv_events_config_default(&c);
  c.sink_ops = &sink_ops;
  c.sink = s;
  if (max_objects) c.max_objects = max_objects;
  if (stv_events_new(&e, &vc->clock, &c, &err) != 0) return NULL;
  return e;
}

static struct stv_event_ref pod(const char *name) {
  struct stv_event_ref r = {.kind = "Pod", .api_version = "v1", .namespace = "shop", .name = name, .uid = name};
  return r;
}

/* Records one TriggeredScaleUp on each of the pods p-FROM .. p-(TO-1);
 * every `tick` pods (0: never) the clock moves on a second. */
static void record_distinct(struct stv_events *e, struct stv_vclock *vc, int from, int to, int tick) {
  char name[32];
  int i;
  for (i = from; i < to; i++) {
    struct stv_event_ref p;
    snprintf(name, sizeof(name), "p-%d", i);
    p = pod(name);
    stv_events_record(e, &p, "Normal", "TriggeredScaleUp", "pod triggered scale-up");
    if (tick && i % tick == 0) stv_vclock_run_until(vc, vc->now + 1);
  }
}

TEST(should_fold_the_same_event_on_the_same_pod_into_one_with_a_count) {
  struct stv_vclock vc;
  struct sink s = {0};
  struct stv_events *e;
  struct stv_event_ref p = pod("web-1");
  stv_vclock_init(&vc, 0);
  e = recorder(&vc, &s, 0);
  CHECK(e != NULL);
  CHECK(stv_events_record(e, &p, "Normal", "NotTriggerScaleUp", "no pool fits") == 0);
  stv_vclock_run_until(&vc, 60);
  CHECK(stv_events_record(e, &p, "Normal", "NotTriggerScaleUp", "no pool fits") == 0);
  CHECK_EQ_INT(s.creates, 1);
  CHECK_EQ_INT(s.updates, 1);
  CHECK_EQ_INT(s.last_count, 2);
  CHECK(strncmp(s.last_name, "web-1.", 6) == 0);
  CHECK_EQ_INT(strlen(s.last_name), 6 + 16);
  /* Another message is another Event. */
  CHECK(stv_events_record(e, &p, "Normal", "NotTriggerScaleUp", "max nodes reached") == 0);
  CHECK_EQ_INT(s.creates, 2);
  /* After the similarity window the same message is a new Event again. */
  stv_vclock_run_until(&vc, 60 + 601);
  CHECK(stv_events_record(e, &p, "Normal", "NotTriggerScaleUp", "no pool fits") == 0);
  CHECK_EQ_INT(s.creates, 3);
  CHECK_EQ_INT(s.last_count, 1);
  stv_events_free(e);
  stv_vclock_close(&vc);
}

TEST(should_limit_one_object_to_its_burst_then_one_event_per_five_minutes) {
  struct stv_vclock vc;
  struct sink s = {0};
  struct stv_events *e;
  struct stv_event_ref p = pod("web-1");
  struct stv_events_stats st;
  char msg[32];
  int i, limited = 0;
  stv_vclock_init(&vc, 0);
  e = recorder(&vc, &s, 0);
  CHECK(e != NULL);
  for (i = 0; i < 40; i++) {
    snprintf(msg, sizeof(msg), "attempt %d", i);
    if (stv_events_record(e, &p, "Warning", "ScaleUpFailed", msg) == STV_ELIMIT) limited++;
  }
  CHECK_EQ_INT(s.creates, 25);
  CHECK_EQ_INT(limited, 15);
  stv_vclock_run_until(&vc, 300);
  CHECK(stv_events_record(e, &p, "Warning", "ScaleUpFailed", "later") == 0);
  CHECK(stv_events_record(e, &p, "Warning", "ScaleUpFailed", "later still") == STV_ELIMIT);
  stv_events_stats(e, &st);
  CHECK_EQ_INT(st.created, 26);
  CHECK_EQ_INT(st.rate_limited, 16);
  stv_events_free(e);
  stv_vclock_close(&vc);
}

TEST(should_write_at_most_ten_events_for_ten_thousand_pods_sharing_a_reason) {
  struct stv_vclock vc;
  struct sink s = {0};
  struct stv_events *e;
  struct stv_event_ref *pods = calloc(10000, sizeof(*pods));
  char (*names)[16] = calloc(10000, 16);
  struct stv_events_stats st;
  size_t i, n;
  CHECK(pods && names);
  for (i = 0; i < 10000; i++) {
    snprintf(names[i], 16, "batch-%zu", i);
    pods[i] = pod(names[i]);
  }
  stv_vclock_init(&vc, 0);
  e = recorder(&vc, &s, 0);
  CHECK(e != NULL);
  n = stv_events_record_many(e, pods, 10000, "Normal", "NotTriggerScaleUp",
                             "pod didn't trigger scale-up: no node pool offers 64 GPUs");
  CHECK_EQ_INT(n, 10);
  CHECK_EQ_INT(s.creates, 10);
  CHECK_STR_CONTAINS(s.last_message, "(and 9990 more pods)");
  stv_events_stats(e, &st);
  CHECK_EQ_INT(st.fanned_out, 9990);
  /* The next loop folds into the same ten Events. */
  stv_vclock_run_until(&vc, 10);
  n = stv_events_record_many(e, pods, 10000, "Normal", "NotTriggerScaleUp",
                             "pod didn't trigger scale-up: no node pool offers 64 GPUs");
  CHECK_EQ_INT(n, 10);
  CHECK_EQ_INT(s.creates, 10);
  CHECK_EQ_INT(s.updates, 10);
  stv_events_free(e);
  stv_vclock_close(&vc);
  free(pods);
  free(names);
}

TEST(should_bound_the_whole_recorder_with_the_global_bucket) {
  struct stv_vclock vc;
  struct sink s = {0};
  struct stv_events *e;
  stv_vclock_init(&vc, 0);
  e = recorder(&vc, &s, 0);
  CHECK(e != NULL);
  record_distinct(e, &vc, 0, 500, 0);
  CHECK_EQ_INT(s.creates, 100); /* the burst */
  stv_vclock_run_until(&vc, 1);
  record_distinct(e, &vc, 500, 600, 0);
  CHECK_EQ_INT(s.creates, 110); /* ten more after one second */
  stv_events_free(e);
  stv_vclock_close(&vc);
}

TEST(should_cut_long_messages_to_the_api_limit_on_a_character_boundary) {
  struct stv_vclock vc;
  struct sink s = {0};
  struct stv_events *e;
  struct stv_event_ref p = pod("web-1");
  char msg[3000];
  size_t i;
  for (i = 0; i + 2 < sizeof(msg); i += 2) {
    msg[i] = (char)0xc3; /* "é", two bytes */
    msg[i + 1] = (char)0xa9;
  }
  msg[i] = '\0';
  stv_vclock_init(&vc, 0);
  e = recorder(&vc, &s, 0);
  CHECK(e != NULL);
  CHECK(stv_events_record(e, &p, "Warning", "ScaleUpFailed", msg) == 0);
  CHECK_EQ_INT(strlen(s.last_message), 1024);
  CHECK(stv_utf8_valid(s.last_message, strlen(s.last_message)));
  stv_events_free(e);
  stv_vclock_close(&vc);
}

TEST(should_keep_memory_bounded_over_many_distinct_objects) {
  struct stv_vclock vc;
  struct sink s = {0};
  struct stv_events *e;
  stv_vclock_init(&vc, 0);
  e = recorder(&vc, &s, 0);
  CHECK(e != NULL);
  record_distinct(e, &vc, 0, 100000, 10);
  CHECK(s.creates > 90000);
  {
    struct stv_events_stats st;
    stv_events_stats(e, &st);
    CHECK(st.keys <= 4096);
    CHECK(st.keys > 0);
  }
  stv_events_free(e);
  stv_vclock_close(&vc);
}

TEST(should_refuse_a_recorder_without_a_sink) {
  struct stv_vclock vc;
  struct stv_events_config c = {0};
  struct stv_events *e = NULL;
  struct stv_err err = {0};
  stv_vclock_init(&vc, 0);
  stv_events_config_default(&c);
  CHECK(stv_events_new(&e, &vc.clock, &c, &err) == STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "no sink");
  stv_vclock_close(&vc);
}
