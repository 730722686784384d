/*
 * One cloud API call with retries (see call.h).
 *
 * A call owns copies of everything it sends, so that each attempt sends
 * the same request. Attempts are HTTP requests through io/; between two
 * attempts the call waits on a timer of the provider's clock. Freeing the
 * caller abandons its calls: a call waiting on its timer is freed at once;
 * a call on the wire is cancelled and freed when libcurl reports the
 * cancellation, with no callback.
 */
#define _GNU_SOURCE /* strptime */
#include "call.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_ATTEMPTS        5
#define DEFAULT_BASE            0.2
#define DEFAULT_MAX             20.0
#define DEFAULT_MAX_RETRY_AFTER 60.0
#define DEFAULT_TIMEOUT_MS      30000L
#define DEFAULT_MAX_BODY        ((size_t)8 << 20)

struct stv_cloud_caller {
  struct stv_http *http;
  struct stv_clock *clock;
  struct stv_cloud_retry retry;
  uint64_t rng;
  struct call *calls; /* in flight, a doubly linked list */
  size_t pending;
};

struct call {
  struct stv_cloud_caller *c; /* NULL once abandoned */
  struct call *prev, *next;
  char *what, *url, *method, *body, *aws_sigv4, *userpwd;
  size_t body_len;
  char **headers; /* NULL-terminated copies */
  char *ca_file, *cert_file, *key_file, *ca_pem, *cert_pem, *key_pem;
  struct stv_http_tls tls;
  long timeout_ms;
  size_t max_body;
  stv_cloud_classify_fn classify;
  stv_cloud_reply_cb cb;
  void *ctx;
  struct stv_http_req *req; /* the attempt on the wire, or NULL */
  struct stv_timer timer;   /* the wait before the next attempt */
  int waiting;
  int attempts;
  double retry_after;
  struct stv_buf got; /* the body of the current attempt */
};

static uint64_t next_rand(struct stv_cloud_caller *c) {
  /* xorshift64*: enough for jitter, and repeatable from a seed in tests. */
  uint64_t x = c->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  c->rng = x;
  return x * 0x2545F4914F6CDD1DULL;
}

int stv_cloud_caller_new(struct stv_cloud_caller **out, struct stv_http *http, struct stv_clock *clock,
                         const struct stv_cloud_retry *retry, uint64_t seed, struct stv_err *err) {
  struct stv_cloud_caller *c = stv_calloc(1, sizeof(*c));
  *out = NULL;
  if (c == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  c->http = http;
  c->clock = clock;
  if (retry != NULL) c->retry = *retry;
  if (c->retry.max_attempts <= 0) c->retry.max_attempts = DEFAULT_ATTEMPTS;
  if (!(c->retry.base_delay > 0)) c->retry.base_delay = DEFAULT_BASE;
  if (!(c->retry.max_delay > 0)) c->retry.max_delay = DEFAULT_MAX;
  if (!(c->retry.max_retry_after > 0)) c->retry.max_retry_after = DEFAULT_MAX_RETRY_AFTER;
  if (seed == 0)
    seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c ^ (uint64_t)(stv_clock_now(clock) * 1e6);
  c->rng = seed != 0 ? seed : 0x9E3779B97F4A7C15ULL;
  *out = c;
  return 0;
}

static void call_free(struct call *k) {
  char **h;
  for (h = k->headers; h != NULL && *h != NULL; h++) stv_free(*h);
  stv_free(k->headers);
  stv_free(k->what);
  stv_free(k->url);
  stv_free(k->method);
  stv_free(k->body);
  stv_free(k->aws_sigv4);
  if (k->userpwd != NULL) {
    memset(k->userpwd, 0, strlen(k->userpwd)); /* a secret: do not leave it in freed memory */
    stv_free(k->userpwd);
  }
  stv_free(k->ca_file);
  stv_free(k->cert_file);
  stv_free(k->key_file);
  stv_free(k->ca_pem);
  stv_free(k->cert_pem);
  stv_free(k->key_pem);
  stv_buf_close(&k->got);
  stv_free(k);
}

static void unlink_call(struct call *k) {
  struct stv_cloud_caller *c = k->c;
  if (c == NULL) return;
  if (k->prev != NULL)
    k->prev->next = k->next;
  else
    c->calls = k->next;
  if (k->next != NULL) k->next->prev = k->prev;
  k->prev = k->next = NULL;
  c->pending--;
  k->c = NULL;
}

void stv_cloud_caller_free(struct stv_cloud_caller *c) {
  if (c == NULL) return;
  while (c->calls != NULL) {
    struct call *k = c->calls;
    unlink_call(k);
    if (k->waiting) {
      stv_clock_stop(c->clock, &k->timer);
      call_free(k);
    } else if (k->req != NULL) {
      stv_http_cancel(k->req); /* freed in on_done, which sees k->c == NULL */
    } else {
      call_free(k);
    }
  }
  stv_free(c);
}

size_t stv_cloud_caller_pending(const struct stv_cloud_caller *c) {
  return c->pending;
}

double stv_cloud_backoff(struct stv_cloud_caller *c, int n, double retry_after) {
  double cap = c->retry.base_delay * ldexp(1.0, n > 1 ? (n - 1 < 30 ? n - 1 : 30) : 0);
  double u = (double)(next_rand(c) >> 11) / 9007199254740992.0; /* [0, 1) */
  double d;
  if (cap > c->retry.max_delay) cap = c->retry.max_delay;
  d = u * cap;
  if (retry_after > d) d = retry_after;
  return d;
}

double stv_cloud_parse_retry_after(const char *v, size_t len, double now_unix) {
  char buf[64];
  struct tm tm;
  const char *end;
  size_t i = 0;
  double secs = 0;
  while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r' || v[len - 1] == '\n'))
    len--;
  while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
  if (i == len || len - i >= sizeof(buf)) return -1;
  memcpy(buf, v + i, len - i);
  buf[len - i] = '\0';
  if (buf[0] >= '0' && buf[0] <= '9') {
    for (end = buf; *end >= '0' && *end <= '9'; end++) {
      secs = secs * 10 + (*end - '0');
      if (secs > 1e9) return -1;
    }
    return *end == '\0' ? secs : -1;
  }
  /* An IMF-fixdate: "Wed, 21 Oct 2015 07:28:00 GMT". */
  memset(&tm, 0, sizeof(tm));
  end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == NULL || *end != '\0') return -1;
  secs = (double)timegm(&tm) - now_unix;
  return secs > 0 ? secs : 0;
}

static int default_classify(long status) {
  if (status == 429) return STV_ETHROTTLED;
  if (status == 500 || status == 502 || status == 503 || status == 504) return STV_EIO;
  return 0;
}

static int start_attempt(struct call *k, struct stv_err *err);

static void finish(struct call *k, int code, long status, const char *error) {
  struct stv_cloud_reply r;
  stv_cloud_reply_cb cb = k->cb;
  void *ctx = k->ctx;
  unlink_call(k);
  memset(&r, 0, sizeof(r));
  r.code = code;
  r.status = status;
  r.body = k->got.len > 0 ? k->got.data : "";
  r.len = k->got.len;
  r.attempts = k->attempts;
  r.retry_after = k->retry_after;
  r.error = error != NULL ? error : "";
  cb(ctx, &r);
  call_free(k);
}

static void on_wait(struct stv_timer *t) {
  struct call *k = t->data;
  struct stv_err err = {0, ""};
  int rc;
  k->waiting = 0;
  stv_buf_close(&k->got);
  if ((rc = start_attempt(k, &err)) != 0) finish(k, rc, 0, err.msg);
}

/* Waits before the next attempt, or ends the call when none is left. */
static void retry_or_finish(struct call *k, int code, long status, const char *error) {
  struct stv_cloud_caller *c = k->c;
  double delay;
  if (k->attempts >= c->retry.max_attempts || k->retry_after > c->retry.max_retry_after) {
    finish(k, code, status, error);
    return;
  }
  delay = stv_cloud_backoff(c, k->attempts, k->retry_after);
  k->waiting = 1;
  if (stv_clock_start(c->clock, &k->timer, delay, on_wait, k) != 0) {
    k->waiting = 0;
    finish(k, code, status, error);
  }
}

static int on_body(void *ctx, struct stv_http_req *req, const char *data, size_t len) {
  struct call *k = ctx;
  (void)req;
  return stv_buf_append(&k->got, data, len);
}

static int on_header(void *ctx, struct stv_http_req *req, const char *line, size_t len) {
  struct call *k = ctx;
  static const char name[] = "retry-after:";
  (void)req;
  if (len > sizeof(name) - 1 && strncasecmp(line, name, sizeof(name) - 1) == 0) {
    double s =
        stv_cloud_parse_retry_after(line + sizeof(name) - 1, len - (sizeof(name) - 1), (double)time(NULL));
    if (s >= 0) k->retry_after = s;
  }
  return 0;
}

static void on_done(void *ctx, struct stv_http_req *req, const struct stv_http_result *res) {
  struct call *k = ctx;
  char msg[STV_ERR_MSG_MAX];
  int verdict;
  (void)req;
  k->req = NULL;
  if (k->c == NULL) { /* abandoned */
    call_free(k);
    return;
  }
  if (res->code != 0) {
    if (res->failure == STV_HTTP_TIMEOUT)
      snprintf(msg, sizeof(msg), "%s: no answer within %.0f s (attempt %d)", k->what,
               (double)k->timeout_ms / 1000, k->attempts);
    else
      snprintf(msg, sizeof(msg), "%s: %s (attempt %d)", k->what, res->error, k->attempts);
    /* A body over the cap is final: a retry brings the same body. */
    if (res->code == STV_ELIMIT || res->failure == STV_HTTP_URL || res->failure == STV_HTTP_TLS)
      finish(k, res->code, res->status, msg);
    else
      retry_or_finish(k, res->code, res->status, msg);
    return;
  }
  if (k->got.err != 0) {
    snprintf(msg, sizeof(msg), "%s: %s", k->what, stv_strerror(k->got.err));
    finish(k, k->got.err, res->status, msg);
    return;
  }
  verdict = k->classify != NULL
                ? k->classify(k->ctx, res->status, k->got.len > 0 ? k->got.data : "", k->got.len)
                : default_classify(res->status);
  if (verdict == 0) {
    finish(k, 0, res->status, NULL);
    return;
  }
  snprintf(msg, sizeof(msg), "%s: %s (HTTP %ld, attempt %d)", k->what,
           verdict == STV_ETHROTTLED ? "throttled" : "the service failed", res->status, k->attempts);
  retry_or_finish(k, verdict, res->status, msg);
}

static int start_attempt(struct call *k, struct stv_err *err) {
  struct stv_http_opts o;
  int rc;
  memset(&o, 0, sizeof(o));
  o.url = k->url;
  o.method = k->method;
  o.body = k->body;
  o.body_len = k->body_len;
  o.headers = (const char *const *)k->headers;
  o.aws_sigv4 = k->aws_sigv4;
  o.userpwd = k->userpwd;
  o.tls = k->tls;
  o.timeout_ms = k->timeout_ms;
  o.max_body = k->max_body;
  o.on_body = on_body;
  o.on_header = on_header;
  o.on_done = on_done;
  o.ctx = k;
  k->attempts++;
  k->retry_after = 0;
  stv_buf_init(&k->got);
  if ((rc = stv_http_request(k->c->http, &o, &k->req, err)) != 0) return stv_err_prefix(err, "%s", k->what);
  return 0;
}

/* Copies s (may be NULL) into *dst; returns 0 or STV_ENOMEM. */
static int dup_opt(char **dst, const char *s) {
  *dst = NULL;
  if (s == NULL) return 0;
  return (*dst = stv_strdup(s)) == NULL ? STV_ENOMEM : 0;
}

static int dup_mem(char **dst, const char *s, size_t n) {
  *dst = NULL;
  if (s == NULL) return 0;
  return (*dst = stv_strndup(s, n)) == NULL ? STV_ENOMEM : 0;
}

static int copy_opts(struct call *k, const struct stv_cloud_call_opts *o) {
  size_t n = 0, i;
  if (dup_opt(&k->what, o->what != NULL ? o->what : o->url) || dup_opt(&k->url, o->url) ||
      dup_opt(&k->method, o->method) || dup_mem(&k->body, o->body, o->body_len) ||
      dup_opt(&k->aws_sigv4, o->aws_sigv4) || dup_opt(&k->userpwd, o->userpwd) ||
      dup_opt(&k->ca_file, o->tls.ca_file) || dup_opt(&k->cert_file, o->tls.cert_file) ||
      dup_opt(&k->key_file, o->tls.key_file) || dup_mem(&k->ca_pem, o->tls.ca_pem, o->tls.ca_pem_len) ||
      dup_mem(&k->cert_pem, o->tls.cert_pem, o->tls.cert_pem_len) ||
      dup_mem(&k->key_pem, o->tls.key_pem, o->tls.key_pem_len))
    return STV_ENOMEM;
  k->body_len = o->body != NULL ? o->body_len : 0;
  k->tls = o->tls;
  k->tls.ca_file = k->ca_file;
  k->tls.cert_file = k->cert_file;
  k->tls.key_file = k->key_file;
  k->tls.ca_pem = k->ca_pem;
  k->tls.cert_pem = k->cert_pem;
  k->tls.key_pem = k->key_pem;
  while (o->headers != NULL && o->headers[n] != NULL) n++;
  if ((k->headers = stv_calloc(n + 1, sizeof(*k->headers))) == NULL) return STV_ENOMEM;
  for (i = 0; i < n; i++)
    if ((k->headers[i] = stv_strdup(o->headers[i])) == NULL) return STV_ENOMEM;
  return 0;
}

int stv_cloud_call(struct stv_cloud_caller *c, const struct stv_cloud_call_opts *o, stv_cloud_reply_cb cb,
                   void *ctx, struct stv_err *err) {
  struct call *k;
  int rc;
  if (o->url == NULL || cb == NULL) return stv_err_set(err, STV_EINVAL, "cloud call: no URL or no callback");
  if ((k = stv_calloc(1, sizeof(*k))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  if (copy_opts(k, o) != 0) {
    call_free(k);
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
  k->max_body = o->max_body > 0 ? o->max_body : DEFAULT_MAX_BODY;
  k->classify = o->classify;
  k->cb = cb;
  k->ctx = ctx;
  k->c = c;
  k->next = c->calls;
  if (c->calls != NULL) c->calls->prev = k;
  c->calls = k;
  c->pending++;
  if ((rc = start_attempt(k, err)) != 0) {
    unlink_call(k);
    call_free(k);
    return rc;
  }
  return 0;
}
