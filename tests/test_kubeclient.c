/*
 * Tests of the Kubernetes client (controller/kube/kubeclient.c,
 * reflector.c) against the API emulator (tests/kubeapi/emulator.py),
 * started as a subprocess on a free port over TLS, with a bearer token and
 * with a client certificate; and against a hostile server (a few lines of
 * Python here) that answers truncated JSON, non-JSON and a 50 MB item.
 */
#define STV_TEST_CURL 1 /* harness.h: libcurl set up once by main */
#include "harness.h"

#include "kubeemu.h"

/* ---------------------------------------------------------------------- */
/* Plain requests                                                         */

struct answer {
  int done, rc;
  long status;
  char reason[48];
  double retry_after;
  char msg[STV_ERR_MSG_MAX];
  char name[128];
  int items;
};

static void on_answer(void *ctx, int rc, cJSON *body, const struct stv_kube_error *ke,
                      const struct stv_err *err) {
  struct answer *a = ctx;
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(body, "metadata");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
  a->done = 1;
  a->rc = rc;
  a->status = ke ? ke->status : 0;
  if (ke) snprintf(a->reason, sizeof(a->reason), "%s", ke->reason);
  a->retry_after = ke ? ke->retry_after : 0;
  snprintf(a->msg, sizeof(a->msg), "%s", rc && err ? err->msg : "");
  if (cJSON_IsString(name)) snprintf(a->name, sizeof(a->name), "%s", name->valuestring);
}

static int count_item(void *ctx, const cJSON *item, struct stv_err *err) {
  struct answer *a = ctx;
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
  (void)err;
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ConfigMap") != 0) return -1;
  a->items++;
  return 0;
}

/* Makes n ConfigMaps cm-0 .. cm-(n-1) in namespace ns through the control endpoint. */
static int make_configmaps(const struct emu *e, const char *ns, const char *prefix, int n) {
  char doc[16384];
  size_t off = (size_t)snprintf(doc, sizeof(doc), "{\"kind\":\"List\",\"items\":[");
  for (int i = 0; i < n && off < sizeof(doc) - 200; i++)
    off +=
        (size_t)snprintf(doc + off, sizeof(doc) - off,
                         "%s{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s-%d\","
                         "\"namespace\":\"%s\"},\"data\":{\"k\":\"v\"}}",
                         i ? "," : "", prefix, i, ns);
  snprintf(doc + off, sizeof(doc) - off, "]}");
  return emu_ctl(e, "/_emulator/state", doc);
}

TEST(should_get_create_patch_and_delete_with_status_errors_kept) {
  struct emu e;
  struct env v = {0};
  struct answer a = {0};
  struct stv_err err = {0};
  cJSON *cm = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c1\"},"
                          "\"data\":{\"a\":\"1\"}}");
  cJSON *patch = cJSON_Parse("{\"data\":{\"b\":\"2\"}}");
  CHECK(emu_start(&e, NULL) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0 && env_open(&v, &e) == 0);
  CHECK_EQ_INT(stv_kube_create(v.k, "/api/v1/namespaces/default/configmaps", cm, on_answer, &a, &err), 0);
  CHECK(run_until(&v, &a.done, 10) && a.rc == 0 && strcmp(a.name, "c1") == 0);
  memset(&a, 0, sizeof(a));
  CHECK_EQ_INT(stv_kube_create(v.k, "/api/v1/namespaces/default/configmaps", cm, on_answer, &a, &err), 0);
  CHECK(run_until(&v, &a.done, 10));
  CHECK_EQ_INT(a.rc, STV_ECONFLICT);
  CHECK(a.status == 409 && strcmp(a.reason, "AlreadyExists") == 0);
  CHECK_STR_CONTAINS(a.msg, "POST ");
  CHECK_STR_CONTAINS(a.msg, "/api/v1/namespaces/default/configmaps: 409 AlreadyExists");
  memset(&a, 0, sizeof(a));
  CHECK_EQ_INT(stv_kube_patch(v.k, "/api/v1/namespaces/default/configmaps/c1", STV_KUBE_MERGE_PATCH, patch,
                              on_answer, &a, &err),
               0);
  CHECK(run_until(&v, &a.done, 10) && a.rc == 0);
  memset(&a, 0, sizeof(a));
  CHECK_EQ_INT(stv_kube_delete(v.k, "/api/v1/namespaces/default/configmaps/c1", on_answer, &a, &err), 0);
  CHECK(run_until(&v, &a.done, 10) && a.rc == 0);
  memset(&a, 0, sizeof(a));
  CHECK_EQ_INT(stv_kube_get(v.k, "/api/v1/namespaces/default/configmaps/c1", on_answer, &a, &err), 0);
  CHECK(run_until(&v, &a.done, 10));
  CHECK_EQ_INT(a.rc, STV_ENOTFOUND);
  CHECK(a.status == 404 && strcmp(a.reason, "NotFound") == 0);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
  cJSON_Delete(cm);
  cJSON_Delete(patch);
}

TEST(should_list_page_by_page_when_there_are_more_items_than_the_page_size) {
  struct emu e;
  struct env v = {0};
  struct answer a = {0};
  struct stv_kube_error ke;
  struct stv_err err = {0};
  char cmd_out[256];
  CHECK(emu_start(&e, NULL) == 0);
  CHECK(make_configmaps(&e, "paged", "cm", 23) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0 && env_open(&v, &e) == 0);
  CHECK(sh("curl -sf --cacert '%s' -X DELETE '%s/_emulator/audit' >/dev/null", e.ca, e.url) == 0);
  CHECK_EQ_INT(
      stv_kube_list_sync(v.k, &v.loop, "/api/v1/namespaces/paged/configmaps", 5, count_item, &a, &ke, &err),
      0);
  CHECK_EQ_INT(a.items, 23);
  /* Five pages: the first without continue, four following it. */
  snprintf(cmd_out, sizeof(cmd_out), "%s/pages", e.dir);
  CHECK(sh("curl -sf --cacert '%s' '%s/_emulator/audit' | python3 -c \"import json,sys; "
           "a=json.load(sys.stdin)['items'];"
           " print(sum(1 for x in a if 'limit=5' in x['query']), sum(1 for x in a if 'continue=' in "
           "x['query']))\""
           " > '%s'",
           e.ca, e.url, cmd_out) == 0);
  {
    char *t = NULL;
    size_t len;
    CHECK(stv_read_file(cmd_out, 0, &t, &len, NULL) == 0);
    CHECK(strcmp(t, "5 4\n") == 0);
    stv_free(t);
  }
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

TEST(should_report_401_clearly_and_retry_once_with_a_fresh_exec_credential) {
  struct emu e;
  struct env v = {0};
  struct answer a = {0};
  struct stv_err err = {0};
  char user[1024], count[256];
  const char *extra[] = {"--token", "tok-run-2", NULL};
  CHECK(emu_start(&e, extra) == 0);
  CHECK(emu_kubeconfig(&e, "    token: wrong-token\n") == 0 && env_open(&v, &e) == 0);
  CHECK_EQ_INT(stv_kube_get(v.k, "/api/v1/nodes", on_answer, &a, &err), 0);
  CHECK(run_until(&v, &a.done, 10));
  CHECK_EQ_INT(a.rc, -EACCES);
  CHECK(a.status == 401);
  CHECK_STR_CONTAINS(a.msg, "/api/v1/nodes: 401 Unauthorized: the API server refused the credentials");
  CHECK_EQ_INT(env_close(&v), 0);
  /* An exec plugin whose first token the server refuses: run again on the 401, then accepted. */
  snprintf(count, sizeof(count), "%s/count", e.dir);
  setenv("STV_PLUGIN_COUNT", count, 1);
  setenv("STV_PLUGIN_MODE", "numbered", 1);
  snprintf(
      user, sizeof(user),
      "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: %s/exec-plugin.sh\n"
      "      args: [client.authentication.k8s.io/v1beta1]\n",
      DATA);
  memset(&a, 0, sizeof(a));
  CHECK(emu_kubeconfig(&e, user) == 0 && env_open(&v, &e) == 0);
  CHECK_EQ_INT(stv_kube_get(v.k, "/api/v1/nodes", on_answer, &a, &err), 0);
  CHECK(run_until(&v, &a.done, 10));
  CHECK_EQ_INT(a.rc, 0);
  CHECK_EQ_INT(env_close(&v), 0);
  unsetenv("STV_PLUGIN_COUNT");
  unsetenv("STV_PLUGIN_MODE");
  emu_stop(&e);
}

static void count_tick(uv_timer_t *t) {
  (*(int *)t->data)++;
}

TEST(should_run_a_slow_exec_plugin_off_the_loop) {
  struct emu e;
  struct env v = {0};
  struct answer a = {0}, b = {0};
  struct stv_err err = {0};
  char user[1024];
  uv_timer_t t;
  int ticks = 0;
  const char *extra[] = {"--token", "tok-slow-x", NULL};
  CHECK(emu_start(&e, extra) == 0);
  setenv("STV_PLUGIN_SLEEP", "1", 1);
  setenv("STV_PLUGIN_MODE", "token", 1);
  snprintf(user, sizeof(user),
           "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: %s/exec-plugin.sh\n"
           "      args: [client.authentication.k8s.io/v1, x]\n      env: [{name: FOO, value: slow}]\n"
           "      interactiveMode: Never\n",
           DATA);
  CHECK(emu_kubeconfig(&e, user) == 0 && env_open(&v, &e) == 0);
  uv_timer_init(&v.loop, &t);
  t.data = &ticks;
  uv_timer_start(&t, count_tick, 20, 20);
  /* Two requests wait for one run of the plugin. */
  CHECK_EQ_INT(stv_kube_get(v.k, "/api/v1/nodes", on_answer, &a, &err), 0);
  CHECK_EQ_INT(stv_kube_get(v.k, "/api/v1/namespaces", on_answer, &b, &err), 0);
  CHECK(run_until(&v, &a.done, 20) && run_until(&v, &b.done, 20));
  uv_close((uv_handle_t *)&t, NULL);
  unsetenv("STV_PLUGIN_SLEEP");
  CHECK_EQ_INT(a.rc, 0);
  CHECK_EQ_INT(b.rc, 0);
  CHECK(ticks >= 25); /* the loop went on turning while the plugin slept a second */
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

TEST(should_authenticate_with_a_client_certificate_from_files_and_from_data) {
  struct emu e;
  struct env v = {0};
  struct answer a = {0};
  struct stv_kube_error ke;
  struct stv_err err = {0};
  char user[8192], tls[200], *crt = NULL, *key = NULL;
  size_t len;
  CHECK(emu_start(&e, NULL) == 0);
  snprintf(tls, sizeof(tls), "%s/tls", e.dir);
  snprintf(user, sizeof(user), "    client-certificate: %s/alice.crt\n    client-key: %s/alice.key\n", tls,
           tls);
  CHECK(emu_kubeconfig(&e, user) == 0 && env_open(&v, &e) == 0);
  CHECK_EQ_INT(stv_kube_list_sync(v.k, &v.loop, "/api/v1/configmaps", 0, NULL, NULL, &ke, &err), 0);
  CHECK_EQ_INT(env_close(&v), 0);
  /* The same as -data fields (PEM handed to libcurl in memory). */
  CHECK(sh("cd '%s' && printf '    client-certificate-data: %%s\\n    client-key-data: %%s\\n' $(base64 -w0 "
           "alice.crt) "
           "$(base64 -w0 alice.key) > user.yaml",
           tls) == 0);
  snprintf(user, sizeof(user), "%s/user.yaml", tls);
  CHECK(stv_read_file(user, 0, &crt, &len, NULL) == 0);
  CHECK(emu_kubeconfig(&e, crt) == 0 && env_open(&v, &e) == 0);
  CHECK_EQ_INT(stv_kube_get(v.k, "/api/v1/namespaces/default", on_answer, &a, &err), 0);
  CHECK(run_until(&v, &a.done, 10) && a.rc == 0 && strcmp(a.name, "default") == 0);
  CHECK_EQ_INT(env_close(&v), 0);
  stv_free(crt);
  stv_free(key);
  emu_stop(&e);
}

/* ---------------------------------------------------------------------- */
/* Reflector                                                              */

struct seen {
  struct env *v;
  int synced, added, modified, deleted, errors;
  int names[64]; /* ADDED count per "w-<i>" */
  int target;    /* stop once this many w-* were added */
  int done;
  double last_retry;
  char last_err[STV_ERR_MSG_MAX];
  void (*after_sync)(struct seen *s);
  const struct emu *e;
};

static int on_event(void *ctx, enum stv_watch_event t, const cJSON *obj, const char *rv) {
  struct seen *s = ctx;
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
  int i;
  (void)rv;
  if (t == STV_WATCH_ADDED) s->added++;
  if (t == STV_WATCH_MODIFIED) s->modified++;
  if (t == STV_WATCH_DELETED) s->deleted++;
  if (t == STV_WATCH_ADDED && cJSON_IsString(name) && sscanf(name->valuestring, "w-%d", &i) == 1 && i >= 0 &&
      i < 64) {
    s->names[i]++;
    int all = 1;
    for (int j = 0; j < s->target; j++) all &= s->names[j] > 0;
    if (s->target > 0 && all) s->done = 1;
  }
  return 0;
}

static void on_synced(void *ctx, const char *rv) {
  struct seen *s = ctx;
  (void)rv;
  s->synced++;
  if (s->synced == 1 && s->after_sync != NULL) s->after_sync(s);
}

static void on_error(void *ctx, const struct stv_err *err, double retry_in) {
  struct seen *s = ctx;
  s->errors++;
  s->last_retry = retry_in;
  snprintf(s->last_err, sizeof(s->last_err), "%s", err->msg);
}

static const struct stv_reflector_opts fast = {.path = "/api/v1/namespaces/w/configmaps",
                                               .page_limit = 4,
                                               .watch_timeout_s = 30,
                                               .backoff_min_s = 0.05,
                                               .backoff_max_s = 0.2,
                                               .jitter = -1};

static struct stv_reflector *start_reflector(struct seen *s, const struct stv_reflector_opts *o) {
  struct stv_reflector *r = NULL;
  struct stv_err err = {0};
  struct stv_reflector_cbs cbs = {
      .on_event = on_event, .on_synced = on_synced, .on_error = on_error, .ctx = s};
  if (stv_reflector_start(&r, s->v->k, o, &cbs, &err) != 0) fprintf(stderr, "  %s\n", err.msg);
  return r;
}

struct creator {
  struct env *v;
  int next, n;
};

/* Creates w-0 .. w-(n-1) one after another through the client. */
static void create_next(void *ctx, int rc, cJSON *body, const struct stv_kube_error *ke,
                        const struct stv_err *err) {
  struct creator *c = ctx;
  char doc[256];
  cJSON *cm;
  struct stv_err e2 = {0};
  (void)body, (void)ke;
  if (rc != 0) fprintf(stderr, "  create: %s\n", err->msg);
  if (c->next >= c->n) return;
  snprintf(doc, sizeof(doc),
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"w-%d\"}}", c->next++);
  cm = cJSON_Parse(doc);
  if (stv_kube_create(c->v->k, "/api/v1/namespaces/w/configmaps", cm, create_next, c, &e2) != 0)
    fprintf(stderr, "  create: %s\n", e2.msg);
  cJSON_Delete(cm);
}

static struct creator creator;

static void create_after_sync(struct seen *s) {
  creator.v = s->v;
  creator.next = 0;
  create_next(&creator, 0, NULL, NULL, NULL);
}

TEST(should_list_then_watch_and_receive_an_object_created_after_the_list) {
  struct emu e;
  struct env v = {0};
  struct seen s = {.v = &v, .target = 1, .after_sync = create_after_sync};
  struct stv_reflector *r;
  struct stv_reflector_stats st;
  CHECK(emu_start(&e, NULL) == 0);
  CHECK(make_configmaps(&e, "w", "old", 9) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0 && env_open(&v, &e) == 0);
  creator.n = 1;
  CHECK((r = start_reflector(&s, &fast)) != NULL);
  CHECK(run_until(&v, &s.done, 20));
  stv_reflector_get_stats(r, &st);
  CHECK_EQ_INT(s.synced, 1);
  CHECK_EQ_INT(s.added, 10); /* 9 from the list (three pages), 1 from the watch */
  CHECK_EQ_INT(st.lists, 1);
  CHECK_EQ_INT(st.events, 1);
  stv_reflector_stop(r);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

TEST(should_resume_a_dropped_watch_from_the_last_resource_version_without_losing_or_repeating_events) {
  struct emu e;
  struct env v = {0};
  struct seen s = {.v = &v, .target = 12, .after_sync = create_after_sync};
  struct stv_reflector *r;
  struct stv_reflector_stats st;
  const char *extra[] = {"--watch-close-after", "2", "--bookmark-interval", "0.3", NULL};
  CHECK(emu_start(&e, extra) == 0);
  CHECK(make_configmaps(&e, "w", "seed", 1) == 0); /* namespace w */
  CHECK(emu_kubeconfig(&e, NULL) == 0 && env_open(&v, &e) == 0);
  creator.n = 12;
  CHECK((r = start_reflector(&s, &fast)) != NULL);
  CHECK(run_until(&v, &s.done, 30));
  {
    int never = 0;
    run_until(&v, &never, 1.0); /* an idle watch: bookmarks arrive every 0.3 s */
  }
  for (int i = 0; i < 12; i++) CHECK_EQ_INT(s.names[i], 1);
  stv_reflector_get_stats(r, &st);
  CHECK_EQ_INT(st.lists, 1); /* resumed, never relisted */
  CHECK_EQ_INT(st.events, 12);
  CHECK(st.watches >= 6);
  CHECK(st.bookmarks > 0);
  CHECK_EQ_INT(s.added, 13);
  stv_reflector_stop(r);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

static const struct emu *gone_emu;

/* While the loop is blocked here: a write elsewhere, history compacted, the watch dropped. */
static void compact_after_sync(struct seen *s) {
  (void)s;
  usleep(1200 * 1000); /* the watch is older than a second: its end is not "very short" */
  make_configmaps(gone_emu, "elsewhere", "x", 1);
  emu_ctl(gone_emu, "/_emulator/faults", "{\"compact\":true}");
  emu_ctl(gone_emu, "/_emulator/faults", "{\"restart\":true}");
}

static void wait_second_sync(void *ctx, const char *rv) {
  struct seen *s = ctx;
  on_synced(ctx, rv);
  if (s->synced == 2) s->done = 1;
}

TEST(should_relist_when_the_watch_answers_410_gone) {
  struct emu e;
  struct env v = {0};
  struct seen s = {.v = &v, .after_sync = compact_after_sync};
  struct stv_reflector *r = NULL;
  struct stv_reflector_stats st;
  struct stv_err err = {0};
  struct stv_reflector_cbs cbs = {
      .on_event = on_event, .on_synced = wait_second_sync, .on_error = on_error, .ctx = &s};
  const char *extra[] = {"--bookmark-interval", "60", NULL};
  CHECK(emu_start(&e, extra) == 0);
  gone_emu = &e;
  CHECK(make_configmaps(&e, "w", "w", 3) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0 && env_open(&v, &e) == 0);
  CHECK_EQ_INT(stv_reflector_start(&r, v.k, &fast, &cbs, &err), 0);
  CHECK(run_until(&v, &s.done, 30));
  stv_reflector_get_stats(r, &st);
  CHECK_EQ_INT(st.gone, 1);
  CHECK_EQ_INT(st.lists, 2);
  CHECK_EQ_INT(s.added, 3);    /* the first list */
  CHECK_EQ_INT(s.modified, 3); /* the relist: the same objects again, reported as updates */
  CHECK_EQ_INT(s.deleted, 0);
  stv_reflector_stop(r);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

static void stop_on_sync(void *ctx, const char *rv) {
  struct seen *s = ctx;
  on_synced(ctx, rv);
  s->done = 1;
}

TEST(should_retry_500_with_backoff_and_wait_the_retry_after_of_429) {
  struct emu e;
  struct env v = {0};
  struct seen s = {.v = &v};
  struct stv_reflector *r = NULL;
  struct stv_reflector_stats st;
  struct stv_err err = {0};
  struct stv_reflector_cbs cbs = {
      .on_event = on_event, .on_synced = stop_on_sync, .on_error = on_error, .ctx = &s};
  double t0;
  CHECK(emu_start(&e, NULL) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0 && env_open(&v, &e) == 0);
  CHECK(emu_ctl(&e, "/_emulator/faults", "{\"fail_requests\":{\"count\":3,\"code\":500}}") == 0);
  CHECK_EQ_INT(stv_reflector_start(&r, v.k, &fast, &cbs, &err), 0);
  CHECK(run_until(&v, &s.done, 20));
  stv_reflector_get_stats(r, &st);
  CHECK_EQ_INT(st.errors, 3);
  CHECK(st.last_delay_s > 0.19 && st.last_delay_s < 0.21); /* 0.05, 0.1, then 0.2: the cap */
  CHECK_STR_CONTAINS(s.last_err, "/api/v1/namespaces/w/configmaps?limit=4: 500");
  stv_reflector_stop(r);
  /* 429 with Retry-After: 1 waits a second, whatever the backoff says. */
  memset(&s, 0, sizeof(s));
  s.v = &v;
  CHECK(emu_ctl(&e, "/_emulator/faults",
                "{\"fail_requests\":{\"count\":1,\"code\":429,\"retry_after\":1}}") == 0);
  t0 = now_s();
  CHECK_EQ_INT(stv_reflector_start(&r, v.k, &fast, &cbs, &err), 0);
  CHECK(run_until(&v, &s.done, 20));
  stv_reflector_get_stats(r, &st);
  CHECK_EQ_INT(st.throttled, 1);
  CHECK(st.last_delay_s == 1.0 && now_s() - t0 >= 1.0);
  CHECK_STR_CONTAINS(s.last_err, "429 TooManyRequests");
  stv_reflector_stop(r);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

TEST(should_back_off_as_client_go_by_default) {
  struct emu e;
  struct env v = {0};
  struct seen s = {.v = &v};
  struct stv_reflector *r = NULL;
  struct stv_reflector_stats st;
  struct stv_err err = {0};
  struct stv_reflector_cbs cbs = {
      .on_event = on_event, .on_synced = stop_on_sync, .on_error = on_error, .ctx = &s};
  CHECK(emu_start(&e, NULL) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0 && env_open(&v, &e) == 0);
  CHECK(emu_ctl(&e, "/_emulator/faults", "{\"fail_requests\":{\"count\":1,\"code\":503}}") == 0);
  CHECK_EQ_INT(
      stv_reflector_start(&r, v.k, &(struct stv_reflector_opts){.path = "/api/v1/nodes"}, &cbs, &err), 0);
  CHECK(run_until(&v, &s.done, 20));
  stv_reflector_get_stats(r, &st);
  CHECK_EQ_INT(st.errors, 1);
  CHECK(st.last_delay_s >= 0.8 && st.last_delay_s < 1.6); /* 0.8 s times 1 + jitter 1.0 * U[0,1) */
  stv_reflector_stop(r);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

/* ---------------------------------------------------------------------- */
/* A hostile server                                                       */

static const char hostile_py[] =
    "import http.server,sys,json\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "  protocol_version='HTTP/1.1'\n"
    "  def log_message(self,*a): pass\n"
    "  def send(self,code,body,ctype='application/json'):\n"
    "    self.send_response(code); self.send_header('Content-Type',ctype)\n"
    "    self.send_header('Content-Length',str(len(body))); self.end_headers(); self.wfile.write(body)\n"
    "  def do_GET(self):\n"
    "    p=self.path\n"
    "    if p.startswith('/trunc'): return "
    "self.send(200,b'{\"kind\":\"PodList\",\"items\":[{\"metadata\":')\n"
    "    if p.startswith('/text'): return self.send(200,b'<html>hello</html>','text/html')\n"
    "    if p.startswith('/oops'): return self.send(500,b'<html>Internal Server Error</html>','text/html')\n"
    "    big=lambda: b'{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"7\"},\"items\":[{"
    "\"metadata\":{\"name\":\"big\"},\"data\":{\"k\":\"'+b'x'*(50<<20)+b'\"}}]}'\n"
    "    if p.startswith('/big') and 'watch=1' not in p: return self.send(200,big())\n"
    "    if (p.startswith('/mal') or p.startswith('/cut')) and 'watch=1' not in p: return self.send(200,"
    "b'{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"7\"},\"items\":[]}')\n"
    "    ev=lambda n: b'{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"'+n+b'\","
    "\"resourceVersion\":\"9\"}}}\\n'\n"
    "    if p.startswith('/mal'): return self.send(200,ev(b'w-0')+b'{\"type\":\"ADDED\",\"object\":"
    "{\"metadata\":{\"name\":\"w-1\",}}}\\n'+ev(b'w-2'))\n"
    "    if p.startswith('/cut'): return self.send(200,ev(b'w-0')+ev(b'w-1')[:40])\n"
    "    if p.startswith('/big'):\n"
    "      "
    "ev=b'{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"8\"},\"data\":"
    "{\"k\":\"'+b'y'*(50<<20)+b'\"}}}\\n'\n"
    "      return self.send(200,ev)\n"
    "    self.send(404,b'{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\",\"message\":\"no\"}')\n"
    "s=http.server.ThreadingHTTPServer(('127.0.0.1',0),H)\n"
    "open(sys.argv[1]+'.tmp','w').write(str(s.server_address[1]))\n"
    "import os; os.rename(sys.argv[1]+'.tmp',sys.argv[1])\n"
    "s.serve_forever()\n";

/* Starts the hostile server in a new directory and writes a kubeconfig for it; returns 0 or -1. */
static int hostile_start(struct emu *e) {
  char port_file[256], script[256], *port = NULL;
  size_t len;
  FILE *f;
  snprintf(e->dir, sizeof(e->dir), "/tmp/stv-hostile-XXXXXX");
  if (mkdtemp(e->dir) == NULL) return -1;
  snprintf(script, sizeof(script), "%s/hostile.py", e->dir);
  snprintf(port_file, sizeof(port_file), "%s/port", e->dir);
  if ((f = fopen(script, "w")) == NULL) return -1;
  fputs(hostile_py, f);
  fclose(f);
  if ((e->pid = fork()) == 0) {
    /* A test that fails returns before emu_stop: the server goes with the test program. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (freopen("/dev/null", "w", stderr) == NULL) _exit(126); /* the resets the test causes */
    execlp("python3", "python3", script, port_file, (char *)NULL);
    _exit(127);
  }
  /* Up to 60 s, as emu_start: a deadline for a failure, not the expected time. */
  for (int i = 0; i < 1200 && access(port_file, R_OK) != 0; i++) usleep(50000);
  if (stv_read_file(port_file, 0, &port, &len, NULL) != 0) return -1;
  snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%s", port);
  stv_free(port);
  snprintf(e->kubeconfig, sizeof(e->kubeconfig), "%s/kubeconfig", e->dir);
  if ((f = fopen(e->kubeconfig, "w")) == NULL) return -1;
  fprintf(f,
          "current-context: h\nclusters: [{name: h, cluster: {server: '%s'}}]\n"
          "contexts: [{name: h, context: {cluster: h, user: u}}]\nusers: [{name: u, user: {token: t}}]\n",
          e->url);
  fclose(f);
  return 0;
}

TEST(should_give_clear_errors_for_hostile_answers_and_never_crash) {
  struct emu e = {0};
  struct env v = {0};
  struct answer a = {0};
  struct stv_kube_error ke;
  struct stv_err err = {0};
  struct seen s = {.v = &v};
  struct stv_reflector *r = NULL;
  struct stv_reflector_cbs cbs = {
      .on_event = on_event, .on_synced = on_synced, .on_error = on_error, .ctx = &s};
  CHECK(hostile_start(&e) == 0);
  CHECK(env_open(&v, &e) == 0);
  CHECK(stv_kube_list_sync(v.k, &v.loop, "/trunc", 0, NULL, NULL, &ke, &err) == STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "/trunc?limit=500: 200: the answer is not a JSON object");
  CHECK(stv_kube_list_sync(v.k, &v.loop, "/text", 0, NULL, NULL, &ke, &err) == STV_EPARSE);
  CHECK(stv_kube_list_sync(v.k, &v.loop, "/oops", 0, NULL, NULL, &ke, &err) == STV_EIO);
  CHECK_STR_CONTAINS(err.msg, "/oops?limit=500: 500 error");
  /* A 50 MB item: read whole under the default cap, refused clearly under a smaller one. */
  a.items = 0;
  CHECK_EQ_INT(stv_kube_list_sync(v.k, &v.loop, "/big", 0, count_item, &a, &ke, &err), 0);
  CHECK_EQ_INT(a.items, 1);
  memset(&a, 0, sizeof(a));
  CHECK_EQ_INT(stv_kube_request(v.k, &(struct stv_kube_call){.path = "/big", .max_body = 16 << 20}, on_answer,
                                &a, &err),
               0);
  CHECK(run_until(&v, &a.done, 30));
  CHECK_EQ_INT(a.rc, STV_ELIMIT);
  CHECK_STR_CONTAINS(a.msg, "GET http://127.0.0.1:");
  CHECK_STR_CONTAINS(a.msg, "the answer is too large");
  /* A watch event over the reflector's cap: a clear error, then a retry. */
  CHECK_EQ_INT(
      stv_reflector_start(&r, v.k,
                          &(struct stv_reflector_opts){
                              .path = "/big", .max_event = 8 << 20, .backoff_min_s = 5, .jitter = -1},
                          &cbs, &err),
      0);
  CHECK(run_until(&v, &s.errors, 120));
  CHECK_STR_CONTAINS(s.last_err,
                     "watch /big: event 1 (begun at line 1, column 1) is larger than the limit of "
                     "8388608 bytes (8 MiB)");
  stv_reflector_stop(r);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

/* Stops after the second error. */
static void on_error_twice(void *ctx, const struct stv_err *err, double retry_in) {
  struct seen *s = ctx;
  on_error(ctx, err, retry_in);
  if (s->errors == 2) s->done = 1;
}

TEST(should_apply_the_events_before_a_malformed_or_cut_one_and_then_retry_from_there) {
  struct emu e = {0};
  struct env v = {0};
  struct seen s = {.v = &v};
  struct stv_reflector *r = NULL;
  struct stv_reflector_stats st;
  struct stv_err err = {0};
  struct stv_reflector_cbs cbs = {
      .on_event = on_event, .on_synced = on_synced, .on_error = on_error_twice, .ctx = &s};
  struct stv_reflector_opts o = {.path = "/mal", .backoff_min_s = 0.05, .jitter = -1};
  CHECK(hostile_start(&e) == 0);
  CHECK(env_open(&v, &e) == 0);
  /* Event 2 is malformed: event 1 is applied, event 3 never, and the watch is retried (twice here). */
  CHECK_EQ_INT(stv_reflector_start(&r, v.k, &o, &cbs, &err), 0);
  CHECK(run_until(&v, &s.done, 30));
  stv_reflector_get_stats(r, &st);
  stv_reflector_stop(r);
  CHECK_STR_CONTAINS(s.last_err, "watch /mal: event 2: malformed JSON at line 2, column 52: expected '\"'");
  CHECK_EQ_INT(s.names[0], 2);
  CHECK_EQ_INT(s.names[1] + s.names[2], 0);
  CHECK_EQ_INT(st.events, 2);
  CHECK_EQ_INT(st.lists, 1); /* resumed from resourceVersion 9, not relisted */
  /* The body ends inside event 2: event 1 is applied, then the cut is an error. */
  memset(&s, 0, sizeof(s));
  s.v = &v;
  o.path = "/cut";
  CHECK_EQ_INT(stv_reflector_start(&r, v.k, &o, &cbs, &err), 0);
  CHECK(run_until(&v, &s.done, 30));
  stv_reflector_stop(r);
  CHECK_STR_CONTAINS(s.last_err, "watch /cut: truncated inside event 2 (begun at line 2, column 1)");
  CHECK_EQ_INT(s.names[0], 2);
  CHECK_EQ_INT(s.names[1], 0);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}

/* The data of the big ConfigMap the watch saw, and whether it was as sent. */
static size_t big_seen_len;
static int big_seen_ok;

static int on_big_event(void *ctx, enum stv_watch_event t, const cJSON *obj, const char *rv) {
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(data, "k");
  if (t == STV_WATCH_ADDED && cJSON_IsString(k)) {
    size_t n = strlen(k->valuestring);
    big_seen_len = n;
    /* 300,000 bytes: "é" (2 bytes), "\"" and "}" in turn, as written below. */
    big_seen_ok = n == 300000;
    for (size_t i = 0; big_seen_ok && i < n; i += 4)
      big_seen_ok = memcmp(k->valuestring + i, "\xc3\xa9\"}", 4) == 0;
  }
  return on_event(ctx, t, obj, rv);
}

/* After the first list: a ConfigMap of 300 KB, far over a network read, through the client. */
static void create_big_after_sync(struct seen *s) {
  struct stv_err err = {0};
  cJSON *cm = cJSON_Parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"w-0\"}}");
  char *v = malloc(300001);
  if (cm == NULL || v == NULL) return;
  for (size_t i = 0; i < 300000; i += 4) memcpy(v + i, "\xc3\xa9\"}", 4);
  v[300000] = '\0';
  cJSON_AddItemToObject(cm, "data", cJSON_CreateObject());
  cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(cm, "data"), "k", v);
  if (stv_kube_create(s->v->k, "/api/v1/namespaces/w/configmaps", cm, create_next, &creator, &err) != 0)
    fprintf(stderr, "  create: %s\n", err.msg);
  free(v);
  cJSON_Delete(cm);
}

TEST(should_receive_a_watch_event_spread_over_many_network_reads) {
  struct emu e;
  struct env v = {0};
  struct seen s = {.v = &v, .target = 1, .after_sync = create_big_after_sync};
  struct stv_reflector *r = NULL;
  struct stv_reflector_stats st;
  struct stv_err err = {0};
  struct stv_reflector_cbs cbs = {
      .on_event = on_big_event, .on_synced = on_synced, .on_error = on_error, .ctx = &s};
  CHECK(emu_start(&e, NULL) == 0);
  CHECK(make_configmaps(&e, "w", "seed", 2) == 0);
  CHECK(emu_kubeconfig(&e, NULL) == 0 && env_open(&v, &e) == 0);
  creator.v = &v;
  creator.n = creator.next = 0; /* create_next only reports */
  CHECK_EQ_INT(stv_reflector_start(&r, v.k, &fast, &cbs, &err), 0);
  CHECK(run_until(&v, &s.done, 30));
  stv_reflector_get_stats(r, &st);
  stv_reflector_stop(r);
  CHECK_EQ_INT(big_seen_len, 300000);
  CHECK(big_seen_ok);
  CHECK_EQ_INT(st.events, 1);
  CHECK_EQ_INT(s.errors, 0);
  CHECK_EQ_INT(env_close(&v), 0);
  emu_stop(&e);
}
