/*
 * Tests of the Kubernetes client's configuration (controller/kube/
 * kubeconfig.c): kubeconfigs written by kubectl itself (`kubectl config
 * set-cluster/set-credentials/set-context/use-context`), KUBECONFIG's
 * merge, relative paths, exec credential plugins
 * (tests/data/kubeconfig/exec-plugin.sh), the in-cluster configuration,
 * and broken kubeconfigs, each with its error.
 */
#include "harness.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubeclient.h"

#define DATA STV_SOURCE_ROOT "/tests/data/kubeconfig"

static char tmp[256];

/* A fresh temporary folder per test, in tmp. */
static void fresh_dir(void) {
  char cmd[300];
  if (tmp[0] != '\0') {
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp);
  }
  snprintf(tmp, sizeof(tmp), "/tmp/stv-kubeconfig-XXXXXX");
  if (mkdtemp(tmp) == NULL) abort();
}

/* Runs a shell command built printf-style; returns its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  return system(cmd);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f == NULL) abort();
  fputs(text, f);
  fclose(f);
}

static char *slurp(const char *path, size_t *len) {
  char *s = NULL;
  if (stv_read_file(path, 0, &s, len, NULL) != 0) return NULL;
  return s;
}

static int count_lines(const char *path) {
  size_t len;
  char *s = slurp(path, &len);
  int n = 0;
  for (size_t i = 0; s != NULL && i < len; i++) n += s[i] == '\n';
  stv_free(s);
  return n;
}

/* kubectl config --kubeconfig F ... */
#define KC(file, args) sh("kubectl config --kubeconfig '%s/%s' %s >/dev/null", tmp, file, args)

TEST(should_need_kubectl_on_path) {
  CHECK(sh("kubectl version --client >/dev/null 2>&1") == 0); /* Debian: kubernetes-client */
}

TEST(should_resolve_a_kubeconfig_written_by_kubectl_with_embedded_certificates_and_a_token) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  char path[512], args[1024];
  size_t ca_len;
  char *ca = slurp(DATA "/ca.crt", &ca_len);
  fresh_dir();
  snprintf(
      args, sizeof(args),
      "set-cluster prod --server=https://10.0.0.1:6443/ --certificate-authority=%s/ca.crt --embed-certs=true",
      DATA);
  CHECK(KC("config", args) == 0);
  CHECK(KC("config", "set-credentials admin --token=s3cr3t") == 0);
  CHECK(KC("config", "set-context prod-admin --cluster=prod --user=admin --namespace=team-a") == 0);
  CHECK(KC("config", "use-context prod-admin") == 0);
  snprintf(path, sizeof(path), "%s/config", tmp);
  CHECK_EQ_INT(stv_kube_config_load(&c, path, NULL, &err), 0);
  CHECK(strcmp(c->server, "https://10.0.0.1:6443") == 0); /* the trailing '/' dropped */
  CHECK(strcmp(c->context, "prod-admin") == 0);
  CHECK(strcmp(c->cluster, "prod") == 0 && strcmp(c->user, "admin") == 0);
  CHECK(strcmp(c->nspace, "team-a") == 0);
  CHECK(ca != NULL && c->ca_pem != NULL && c->ca_pem_len == ca_len && memcmp(c->ca_pem, ca, ca_len) == 0);
  CHECK(c->ca_file == NULL && !c->insecure);
  CHECK_EQ_INT(stv_kube_config_refresh(c, 0, &err), 0);
  CHECK(c->token != NULL && strcmp(c->token, "s3cr3t") == 0);
  stv_kube_config_free(c);
  stv_free(ca);
}

TEST(should_resolve_client_certificate_files_and_data_written_by_kubectl) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  char path[512], args[1024];
  size_t crt_len;
  char *crt = slurp(DATA "/client.crt", &crt_len);
  fresh_dir();
  CHECK(KC("config", "set-cluster c --server=https://k.example:443 --insecure-skip-tls-verify=true") == 0);
  snprintf(args, sizeof(args),
           "set-credentials files --client-certificate=%s/client.crt --client-key=%s/client.key", DATA, DATA);
  CHECK(KC("config", args) == 0);
  snprintf(args, sizeof(args),
           "set-credentials embedded --client-certificate=%s/client.crt --client-key=%s/client.key "
           "--embed-certs=true",
           DATA, DATA);
  CHECK(KC("config", args) == 0);
  CHECK(KC("config", "set-context f --cluster=c --user=files") == 0);
  CHECK(KC("config", "set-context e --cluster=c --user=embedded") == 0);
  snprintf(path, sizeof(path), "%s/config", tmp);
  CHECK_EQ_INT(stv_kube_config_load(&c, path, "f", &err), 0);
  CHECK(c->insecure == 1);
  CHECK(c->cert_file != NULL && strcmp(c->cert_file, DATA "/client.crt") == 0);
  CHECK(c->key_file != NULL && strcmp(c->key_file, DATA "/client.key") == 0);
  CHECK(strcmp(c->nspace, "default") == 0);
  stv_kube_config_free(c);
  CHECK_EQ_INT(stv_kube_config_load(&c, path, "e", &err), 0);
  CHECK(c->cert_file == NULL && c->cert_pem != NULL && c->cert_pem_len == crt_len);
  CHECK(memcmp(c->cert_pem, crt, crt_len) == 0);
  CHECK(c->key_pem != NULL && strstr(c->key_pem, "PRIVATE KEY") != NULL);
  stv_kube_config_free(c);
  stv_free(crt);
}

TEST(should_resolve_relative_paths_against_the_kubeconfig_folder) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  char path[512], text[1024], want[512];
  fresh_dir();
  CHECK(sh("mkdir -p '%s/sub/certs' && cp %s/ca.crt '%s/sub/certs/' && echo ' tok-from-file ' > '%s/sub/tok'",
           tmp, DATA, tmp, tmp) == 0);
  snprintf(text, sizeof(text),
           "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
           "clusters:\n- name: c\n  cluster:\n    server: https://h:6443\n    certificate-authority: "
           "certs/ca.crt\n"
           "users:\n- name: u\n  user:\n    tokenFile: tok\n"
           "contexts:\n- name: x\n  context: {cluster: c, user: u}\n");
  snprintf(path, sizeof(path), "%s/sub/kc", tmp);
  write_file(path, text);
  CHECK_EQ_INT(stv_kube_config_load(&c, path, NULL, &err), 0);
  snprintf(want, sizeof(want), "%s/sub/certs/ca.crt", tmp);
  CHECK(c->ca_file != NULL && strcmp(c->ca_file, want) == 0);
  CHECK_EQ_INT(stv_kube_config_refresh(c, 0, &err), 0);
  CHECK(strcmp(c->token, "tok-from-file") == 0);
  /* The token file is replaced, as the kubelet rotates it: read again. */
  CHECK(sh("echo rotated > '%s/sub/tok.new' && mv '%s/sub/tok.new' '%s/sub/tok'", tmp, tmp, tmp) == 0);
  CHECK_EQ_INT(stv_kube_config_refresh(c, 0, &err), 0);
  CHECK(strcmp(c->token, "rotated") == 0);
  stv_kube_config_free(c);
}

TEST(should_merge_kubeconfig_files_as_kubectl_does) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  char env[1200];
  const char *old = getenv("KUBECONFIG");
  char *saved = old ? stv_strdup(old) : NULL;
  fresh_dir();
  /* a: cluster shared at A's address, context ctx-a current. */
  CHECK(KC("a", "set-cluster shared --server=https://a.example:6443") == 0);
  CHECK(KC("a", "set-credentials ua --token=ta") == 0);
  CHECK(KC("a", "set-context ctx-a --cluster=shared --user=ua") == 0);
  CHECK(KC("a", "use-context ctx-a") == 0);
  /* b: the same cluster name elsewhere (ignored: a is first), its own context and user. */
  CHECK(KC("b", "set-cluster shared --server=https://b.example:6443") == 0);
  CHECK(KC("b", "set-credentials ub --token=tb") == 0);
  CHECK(KC("b", "set-credentials ua --token=ignored") == 0);
  CHECK(KC("b", "set-context ctx-b --cluster=shared --user=ub --namespace=nb") == 0);
  CHECK(KC("b", "use-context ctx-b") == 0);
  snprintf(env, sizeof(env), "%s/missing:%s/a::%s/b", tmp, tmp, tmp); /* missing files are skipped */
  setenv("KUBECONFIG", env, 1);
  CHECK_EQ_INT(stv_kube_config_load(&c, NULL, NULL, &err), 0);
  CHECK(strcmp(c->context, "ctx-a") == 0 && strcmp(c->server, "https://a.example:6443") == 0);
  stv_kube_config_refresh(c, 0, &err);
  CHECK(strcmp(c->token, "ta") == 0);
  stv_kube_config_free(c);
  CHECK_EQ_INT(stv_kube_config_load(&c, NULL, "ctx-b", &err), 0);
  CHECK(strcmp(c->server, "https://a.example:6443") == 0); /* the first file's "shared" */
  CHECK(strcmp(c->nspace, "nb") == 0);
  stv_kube_config_refresh(c, 0, &err);
  CHECK(strcmp(c->token, "tb") == 0);
  stv_kube_config_free(c);
  /* kubectl agrees: its view of the merged files. */
  CHECK(sh("kubectl config view -o jsonpath='{.clusters[0].cluster.server} {.current-context}' > '%s/view'",
           tmp) == 0);
  {
    size_t len;
    char path[512], *v;
    snprintf(path, sizeof(path), "%s/view", tmp);
    v = slurp(path, &len);
    CHECK(v != NULL && strcmp(v, "https://a.example:6443 ctx-a") == 0);
    stv_free(v);
  }
  if (saved)
    setenv("KUBECONFIG", saved, 1);
  else
    unsetenv("KUBECONFIG");
  stv_free(saved);
}

/* Writes a kubeconfig whose user runs exec-plugin.sh (written by kubectl), into tmp/config. */
static int exec_kubeconfig(const char *mode) {
  char args[1024];
  if (KC("config", "set-cluster c --server=https://h:6443") != 0) return -1;
  snprintf(args, sizeof(args),
           "set-credentials plug --exec-command=%s/exec-plugin.sh "
           "--exec-api-version=client.authentication.k8s.io/v1 "
           "--exec-arg=client.authentication.k8s.io/v1 --exec-arg=w1 --exec-env=FOO=bar "
           "--exec-interactive-mode=%s",
           DATA, mode);
  if (KC("config", args) != 0) return -1;
  if (KC("config", "set-context x --cluster=c --user=plug") != 0) return -1;
  return KC("config", "use-context x");
}

TEST(should_run_an_exec_plugin_and_cache_its_token_until_it_expires) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  char path[512], count[512];
  fresh_dir();
  CHECK(exec_kubeconfig("Never") == 0);
  snprintf(path, sizeof(path), "%s/config", tmp);
  snprintf(count, sizeof(count), "%s/count", tmp);
  setenv("STV_PLUGIN_COUNT", count, 1);
  setenv("STV_PLUGIN_MODE", "token", 1);
  setenv("STV_PLUGIN_EXPIRY", "2099-01-01T00:00:00Z", 1);
  CHECK_EQ_INT(stv_kube_config_load(&c, path, NULL, &err), 0);
  CHECK_EQ_INT(stv_kube_config_refresh(c, 0, &err), 0);
  CHECK(c->token != NULL && strcmp(c->token, "tok-bar-w1") == 0);
  CHECK_EQ_INT(stv_kube_config_refresh(c, 0, &err), 0); /* cached: not run again */
  CHECK_EQ_INT(count_lines(count), 1);
  CHECK_EQ_INT(stv_kube_config_refresh(c, 1, &err), 0); /* the server said 401: run again */
  CHECK_EQ_INT(count_lines(count), 2);
  setenv("STV_PLUGIN_EXPIRY", "2001-01-01T00:00:00+02:00", 1); /* expired: run each time */
  CHECK_EQ_INT(stv_kube_config_refresh(c, 1, &err), 0);
  CHECK_EQ_INT(stv_kube_config_refresh(c, 0, &err), 0);
  CHECK_EQ_INT(count_lines(count), 4);
  setenv("STV_PLUGIN_MODE", "cert", 1);
  CHECK_EQ_INT(stv_kube_config_refresh(c, 1, &err), 0);
  {
    const char *cert, *key;
    size_t cl, kl;
    stv_kube_config_exec_pem(c, &cert, &cl, &key, &kl);
    CHECK(cert != NULL && strcmp(cert, "CERT-PEM") == 0 && key != NULL && strcmp(key, "KEY-PEM") == 0);
    CHECK(c->token == NULL);
  }
  stv_kube_config_free(c);
  unsetenv("STV_PLUGIN_COUNT");
  unsetenv("STV_PLUGIN_EXPIRY");
  setenv("STV_PLUGIN_MODE", "token", 1);
}

TEST(should_report_a_failing_exec_plugin_with_its_status_and_stderr) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  char path[512];
  fresh_dir();
  CHECK(exec_kubeconfig("IfAvailable") == 0);
  snprintf(path, sizeof(path), "%s/config", tmp);
  CHECK_EQ_INT(stv_kube_config_load(&c, path, NULL, &err), 0);
  setenv("STV_PLUGIN_MODE", "fail", 1);
  CHECK(stv_kube_config_refresh(c, 0, &err) != 0);
  CHECK_STR_CONTAINS(err.msg, path);
  CHECK_STR_CONTAINS(err.msg,
                     "user \"plug\": exec plugin \"" DATA "/exec-plugin.sh\" exited with status 255: "
                     "exec-plugin.sh: no credentials for profile test");
  setenv("STV_PLUGIN_MODE", "badjson", 1);
  CHECK(stv_kube_config_refresh(c, 0, &err) == STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "printed no ExecCredential JSON object");
  setenv("STV_PLUGIN_MODE", "wrongversion", 1);
  CHECK(stv_kube_config_refresh(c, 0, &err) == STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "answered apiVersion \"client.authentication.k8s.io/v1alpha1\"");
  setenv("STV_PLUGIN_MODE", "token", 1);
  stv_kube_config_free(c);
  /* A plugin that does not exist. */
  CHECK(KC("config", "set-credentials plug --exec-command=no-such-plugin-stv") == 0);
  CHECK_EQ_INT(stv_kube_config_load(&c, path, NULL, &err), 0);
  CHECK(stv_kube_config_refresh(c, 0, &err) != 0);
  CHECK_STR_CONTAINS(err.msg, "exec plugin \"no-such-plugin-stv\" cannot be run: ");
  stv_kube_config_free(c);
}

TEST(should_refuse_a_v1_exec_plugin_without_interactive_mode_as_kubectl_does) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  char path[512];
  fresh_dir();
  CHECK(exec_kubeconfig("Never") == 0);
  CHECK(sh("sed -i '/interactiveMode/d' '%s/config'", tmp) == 0);
  snprintf(path, sizeof(path), "%s/config", tmp);
  CHECK_EQ_INT(stv_kube_config_load(&c, path, NULL, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "user \"plug\": exec.interactiveMode: missing");
}

/* Loads text as a kubeconfig; returns the code, the message in err. */
static int load_text(const char *text, const char *context, struct stv_err *err) {
  struct stv_kube_config *c = NULL;
  char path[512];
  int rc;
  snprintf(path, sizeof(path), "%s/broken", tmp);
  write_file(path, text);
  rc = stv_kube_config_load(&c, path, context, err);
  stv_kube_config_free(c);
  return rc;
}

#define GOOD_CLUSTER "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
#define GOOD_CONTEXT "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"

TEST(should_name_the_file_entry_and_field_of_a_broken_kubeconfig) {
  struct stv_err err = {0};
  fresh_dir();
  CHECK_EQ_INT(load_text(GOOD_CLUSTER GOOD_CONTEXT "users:\n- name: u\n  user: {token: t}\n", "nope", &err),
               STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "broken: context \"nope\" not found");
  CHECK_EQ_INT(load_text(GOOD_CLUSTER GOOD_CONTEXT "users: []\n", NULL, &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "context \"x\": user \"u\" not found");
  CHECK_EQ_INT(load_text("clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
                         "    certificate-authority-data: 'not*base64'\n" GOOD_CONTEXT
                         "users:\n- name: u\n  user: {token: t}\n",
                         NULL, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "broken: cluster \"c\": certificate-authority-data: not valid base64");
  CHECK(load_text(GOOD_CLUSTER GOOD_CONTEXT
                  "users:\n- name: u\n  user:\n    client-certificate: /no/such.crt\n"
                  "    client-key: /no/such.key\n",
                  NULL, &err) == -ENOENT);
  CHECK_STR_CONTAINS(err.msg,
                     "broken: user \"u\": client-certificate: /no/such.crt: No such file or directory");
  CHECK_EQ_INT(load_text("clusters: [\n  - name: c\n  cluster: {\n", NULL, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "broken:");
  CHECK_EQ_INT(load_text("clusters:\n- name: c\n  cluster: {server: ftp://h}\n" GOOD_CONTEXT, NULL, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "cluster \"c\": server: \"ftp://h\" is not an http:// or https:// URL");
  CHECK_EQ_INT(load_text(GOOD_CLUSTER "users:\n- name: u\n  user: {token: t}\n", NULL, &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "no current-context is set");
  CHECK_EQ_INT(load_text(GOOD_CLUSTER GOOD_CONTEXT
                         "users:\n- name: u\n  user: {token: t, username: a, password: b}\n",
                         NULL, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "user \"u\": more than one of token/tokenFile, username/password and exec");
  CHECK_EQ_INT(load_text(GOOD_CLUSTER GOOD_CONTEXT
                         "users:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n",
                         NULL, &err),
               STV_EUNSUPPORTED);
  CHECK_STR_CONTAINS(err.msg, "auth-provider: \"gcp\" is not supported");
  CHECK_EQ_INT(load_text(GOOD_CLUSTER GOOD_CONTEXT "users:\n- name: u\n  user: {token: 12}\n", NULL, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "user \"u\": token: not a string");
}

TEST(should_refuse_a_missing_kubeconfig_named_on_the_command_line) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  CHECK_EQ_INT(stv_kube_config_load(&c, "/no/such/kubeconfig", NULL, &err), -ENOENT);
  CHECK_STR_CONTAINS(err.msg, "/no/such/kubeconfig: cannot read kubeconfig: No such file or directory");
}

TEST(should_read_the_in_cluster_configuration_with_an_ipv6_host) {
  struct stv_kube_config *c = NULL;
  struct stv_err err = {0};
  char sa[512];
  fresh_dir();
  snprintf(sa, sizeof(sa), "%s/sa", tmp);
  CHECK(sh("mkdir '%s' && cp %s/ca.crt '%s/' && printf 'jwt-1' > '%s/token' && printf 'kube-system\\n' > "
           "'%s/namespace'",
           sa, DATA, sa, sa, sa) == 0);
  unsetenv("KUBERNETES_SERVICE_HOST");
  CHECK_EQ_INT(stv_kube_config_in_cluster(&c, sa, &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "KUBERNETES_SERVICE_HOST");
  setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  CHECK_EQ_INT(stv_kube_config_in_cluster(&c, sa, &err), 0);
  CHECK(strcmp(c->server, "https://[fd00:10:96::1]:443") == 0);
  CHECK(strcmp(c->token, "jwt-1") == 0 && strcmp(c->nspace, "kube-system") == 0);
  /* The kubelet swaps the ..data symlink; a rename does the same for stat. */
  CHECK(sh("printf 'jwt-2' > '%s/token.new' && mv '%s/token.new' '%s/token'", sa, sa, sa) == 0);
  CHECK_EQ_INT(stv_kube_config_refresh(c, 0, &err), 0);
  CHECK(strcmp(c->token, "jwt-2") == 0);
  stv_kube_config_free(c);
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST(should_decode_base64_through_openssl) {
  char *out;
  size_t len;
  CHECK_EQ_INT(stv_kube_base64_decode("aGVsbG8=", &out, &len), 0);
  CHECK(len == 5 && strcmp(out, "hello") == 0);
  stv_free(out);
  CHECK_EQ_INT(stv_kube_base64_decode("aGVs\nbG8h", &out, &len), 0);
  CHECK(len == 6 && strcmp(out, "hello!") == 0);
  stv_free(out);
  CHECK_EQ_INT(stv_kube_base64_decode("aGVsbG8", &out, &len), STV_EPARSE);
  CHECK_EQ_INT(stv_kube_base64_decode("a*==", &out, &len), STV_EPARSE);
  CHECK_EQ_INT(stv_kube_base64_decode("", &out, &len), 0);
  CHECK(len == 0);
  stv_free(out);
  if (tmp[0] != '\0') sh("rm -rf '%s'", tmp);
}
