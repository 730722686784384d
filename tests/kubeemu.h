/*
 * The Kubernetes API emulator (tests/kubeapi/emulator.py) for C tests:
 * started as a subprocess on a free port over TLS (a bearer token
 * "good-token" and a client certificate "alice"), a kubeconfig for it, a
 * client on a libuv loop, and a loop runner with a deadline. Include after
 * harness.h (with STV_TEST_CURL defined).
 */
#ifndef STV_TEST_KUBEEMU_H
#define STV_TEST_KUBEEMU_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kubeclient.h"

#define DATA STV_SOURCE_ROOT "/tests/data/kubeconfig"
#define EMULATOR STV_SOURCE_ROOT "/tests/kubeapi/emulator.py"

struct emu {
  pid_t pid;
  char dir[128];
  char url[128];
  char ca[256];
  char kubeconfig[256];
};

static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  return system(cmd);
}

static inline double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Reads the string member key of the JSON file path into out. */
static inline int json_member(const char *path, const char *key, char *out, size_t size) {
  char *text = NULL;
  size_t len;
  cJSON *o, *v;
  int rc = -1;
  if (stv_read_file(path, 0, &text, &len, NULL) != 0) return -1;
  o = cJSON_ParseWithLength(text, len);
  v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (cJSON_IsString(v)) rc = snprintf(out, size, "%s", v->valuestring) < (int)size ? 0 : -1;
  cJSON_Delete(o);
  stv_free(text);
  return rc;
}

/* Starts the emulator with extra arguments (a NULL-terminated list); 0 when it is ready. */
static inline int emu_start(struct emu *e, const char *const *extra) {
  char ready[256], tls[256];
  const char *argv[32];
  int n = 0;
  memset(e, 0, sizeof(*e));
  snprintf(e->dir, sizeof(e->dir), "/tmp/stv-kubeclient-XXXXXX");
  if (mkdtemp(e->dir) == NULL) return -1;
  snprintf(ready, sizeof(ready), "%s/ready", e->dir);
  snprintf(tls, sizeof(tls), "%s/tls", e->dir);
  argv[n++] = "python3";
  argv[n++] = EMULATOR;
  argv[n++] = "--port";
  argv[n++] = "0";
  argv[n++] = "--ready-file";
  argv[n++] = ready;
  argv[n++] = "--tls-dir";
  argv[n++] = tls;
  argv[n++] = "--token";
  argv[n++] = "good-token";
  argv[n++] = "--client-cert";
  argv[n++] = "alice:alice";
  for (int i = 0; extra != NULL && extra[i] != NULL && n < 30; i++) argv[n++] = extra[i];
  argv[n] = NULL;
  if ((e->pid = fork()) == 0) {
    /* A test that fails returns before emu_stop: the emulator goes with the test program. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    execvp("python3", (char *const *)argv);
    _exit(127);
  }
  /* Up to 60 s: a deadline for a failure, not the expected time (about a second; more than 15 s when
   * tests run in parallel on a loaded machine, docs/testing.md). */
  for (int i = 0; i < 1200; i++) {
    struct stat st;
    int status;
    if (stat(ready, &st) == 0) break;
    if (waitpid(e->pid, &status, WNOHANG) == e->pid) return -1;
    usleep(50000);
  }
  if (json_member(ready, "url", e->url, sizeof(e->url)) != 0 || json_member(ready, "ca_file", e->ca, sizeof(e->ca)))
    return -1;
  snprintf(e->kubeconfig, sizeof(e->kubeconfig), "%s/kubeconfig", e->dir);
  return 0;
}

static inline void emu_stop(struct emu *e) {
  int status;
  if (e->pid > 0) {
    kill(e->pid, SIGTERM);
    waitpid(e->pid, &status, 0);
  }
  if (e->dir[0] != '\0') sh("rm -rf '%s'", e->dir);
  e->pid = 0;
}

/* POSTs json to the emulator's control endpoint (/_emulator/...). */
static inline int emu_ctl(const struct emu *e, const char *path, const char *json) {
  return sh("curl -sf --cacert '%s' -X POST -H 'Content-Type: application/json' -d '%s' '%s%s' >/dev/null", e->ca,
            json, e->url, path);
}

/* Writes a kubeconfig for the emulator: user "token" (a bearer token) by default, or as given. */
static inline int emu_kubeconfig(const struct emu *e, const char *user_yaml) {
  FILE *f = fopen(e->kubeconfig, "w");
  if (f == NULL) return -1;
  fprintf(f,
          "apiVersion: v1\nkind: Config\ncurrent-context: emu\n"
          "clusters:\n- name: emu\n  cluster:\n    server: %s\n    certificate-authority: %s\n"
          "contexts:\n- name: emu\n  context: {cluster: emu, user: u}\n"
          "users:\n- name: u\n  user:\n%s",
          e->url, e->ca, user_yaml ? user_yaml : "    token: good-token\n");
  fclose(f);
  return 0;
}

struct env {
  uv_loop_t loop;
  struct stv_kube *k;
};

static inline int env_open(struct env *v, const struct emu *e) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  if (uv_loop_init(&v->loop) != 0) return -1;
  if (stv_kube_config_load(&c, e->kubeconfig, NULL, &err) != 0) {
    fprintf(stderr, "  %s\n", err.msg);
    return -1;
  }
  return stv_kube_new(&v->k, &v->loop, c, &err);
}

/* Frees the client and checks that the loop closes with nothing left. */
static inline int env_close(struct env *v) {
  stv_kube_free(v->k);
  while (uv_run(&v->loop, UV_RUN_DEFAULT) != 0) {
  }
  return uv_loop_close(&v->loop);
}

static inline void tick(uv_timer_t *t) { (void)t; }

/* Runs the loop until *flag is set or secs pass; returns *flag. */
static inline int run_until(struct env *v, const int *flag, double secs) {
  uv_timer_t t;
  double end = now_s() + secs;
  uv_timer_init(&v->loop, &t);
  uv_timer_start(&t, tick, 20, 20);
  while (!*flag && now_s() < end) uv_run(&v->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&v->loop, UV_RUN_NOWAIT);
  return *flag;
}

#endif
