/*
 * Tests for the HTTP client of the I/O layer (io/io.h) against a small
 * HTTP/1.1 server on a libuv TCP handle in the same loop, on a free
 * loopback port. The server answers by path:
 *   /echo          "<method> <path> auth=<Authorization> body=<body>"
 *   /barrier       holds each request until BARRIER of them are open, then
 *                  answers them all "ok" (only concurrent requests pass)
 *   /stream        a chunked answer: "first\n", 150 ms later "second\n",
 *                  150 ms later the end
 *   /slow          never answers
 *   /big           1 MiB of 'x'
 *   /status/503    HTTP 503 "unavailable"
 * and closes a connection that does not start like HTTP (a TLS handshake).
 * Each test runs its loop until the client and the server are closed and
 * checks that the loop closes cleanly (no handle left behind).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define STV_TEST_CURL 1 /* harness.h: libcurl set up once by main */
#include "harness.h"
#include "io.h"

#define BARRIER  4
#define BIG_SIZE (1024 * 1024)

struct srv;

struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  struct srv *s;
  struct conn *next; /* s->conns */
  char buf[16384];
  size_t len;
  int answered, closing, open_handles, step;
};

struct srv {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int port;
  struct conn *conns;
  struct conn *waiting[BARRIER];
  int nwaiting;
  int stream_sent; /* pieces of /stream written so far */
  int requests;    /* requests read */
};

static void conn_freed(uv_handle_t *h) {
  struct conn *c = h->data;
  if (--c->open_handles == 0) {
    struct conn **p = &c->s->conns;
    while (*p != c) p = &(*p)->next;
    *p = c->next;
    free(c);
  }
}

static void conn_close(struct conn *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, conn_freed);
  uv_close((uv_handle_t *)&c->tcp, conn_freed);
}

static void wrote(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

/* Writes text (copied) to the connection. */
static void conn_write(struct conn *c, const char *text, size_t len) {
  uv_write_t *w;
  uv_buf_t b;
  if (c->closing) return;
  w = malloc(sizeof(*w) + len);
  memcpy(w + 1, text, len);
  b = uv_buf_init((char *)(w + 1), (unsigned)len);
  if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, wrote) != 0) free(w);
}

static void shut(uv_shutdown_t *sh, int status) {
  struct conn *c = sh->data;
  (void)status;
  free(sh);
  conn_close(c);
}

/* Closes the connection once what was written has left. */
static void conn_end(struct conn *c) {
  uv_shutdown_t *sh = malloc(sizeof(*sh));
  sh->data = c;
  if (c->closing || uv_shutdown(sh, (uv_stream_t *)&c->tcp, shut) != 0) {
    free(sh);
    conn_close(c);
  }
}

static void answer(struct conn *c, int status, const char *body, size_t len) {
  char head[256];
  int n = snprintf(
      head, sizeof(head),
      "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
      status, status == 200 ? "OK" : "Service Unavailable", len);
  conn_write(c, head, (size_t)n);
  conn_write(c, body, len);
  conn_end(c);
}

static void stream_next(uv_timer_t *t) {
  struct conn *c = t->data;
  if (c->step == 0) {
    conn_write(c, "7\r\nsecond\n\r\n", 12);
    c->s->stream_sent = 2;
    c->step = 1;
    uv_timer_start(&c->timer, stream_next, 150, 0);
  } else {
    conn_write(c, "0\r\n\r\n", 5);
    c->s->stream_sent = 3;
    conn_end(c);
  }
}

/* The value of header name in the request head, copied into out. */
static void header_value(const char *head, const char *name, char *out, size_t size) {
  const char *p = strstr(head, name), *e;
  out[0] = '\0';
  if (p == NULL) return;
  p += strlen(name);
  while (*p == ' ') p++;
  e = strstr(p, "\r\n");
  snprintf(out, size, "%.*s", (int)(e - p), p);
}

/* Answers once the whole request (head and body) has been read. */
static void serve(struct conn *c) {
  char method[16], path[256], auth[256], cl[32], body[4096 + 256];
  char *end = strstr(c->buf, "\r\n\r\n");
  size_t head_len, body_len;
  if (end == NULL) return;
  *end = '\0';
  header_value(c->buf, "\r\nContent-Length:", cl, sizeof(cl));
  head_len = (size_t)(end - c->buf) + 4;
  body_len = (size_t)atol(cl);
  if (c->len < head_len + body_len) {
    *end = '\r';
    return;
  }
  c->answered = 1;
  c->s->requests++;
  if (sscanf(c->buf, "%15s %255s", method, path) != 2) {
    conn_close(c);
    return;
  }
  if (strcmp(path, "/echo") == 0) {
    int n;
    header_value(c->buf, "\r\nAuthorization:", auth, sizeof(auth));
    n = snprintf(body, sizeof(body), "%s %s auth=%s body=%.*s", method, path, auth, (int)body_len, end + 4);
    answer(c, 200, body, (size_t)n);
  } else if (strcmp(path, "/barrier") == 0) {
    c->s->waiting[c->s->nwaiting++] = c;
    if (c->s->nwaiting == BARRIER) {
      int i;
      for (i = 0; i < BARRIER; i++) answer(c->s->waiting[i], 200, "ok", 2);
      c->s->nwaiting = 0;
    }
  } else if (strcmp(path, "/stream") == 0) {
    const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    conn_write(c, head, strlen(head));
    conn_write(c, "6\r\nfirst\n\r\n", 11);
    c->s->stream_sent = 1;
    uv_timer_start(&c->timer, stream_next, 150, 0);
  } else if (strcmp(path, "/big") == 0) {
    char *big = malloc(BIG_SIZE);
    memset(big, 'x', BIG_SIZE);
    answer(c, 200, big, BIG_SIZE);
    free(big);
  } else if (strcmp(path, "/status/503") == 0) {
    answer(c, 503, "unavailable", 11);
  } else if (strcmp(path, "/slow") != 0) {
    answer(c, 200, "unknown path", 12);
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  struct conn *c = h->data;
  (void)suggested;
  *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  struct conn *c = st->data;
  (void)b;
  if (n < 0) {
    conn_close(c);
    return;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  if (c->len > 0 && (c->buf[0] < 'A' || c->buf[0] > 'Z')) {
    conn_close(c); /* not HTTP: a TLS handshake, say */
    return;
  }
  if (!c->answered) serve(c);
}

static void on_conn(uv_stream_t *l, int status) {
  struct srv *s = l->data;
  struct conn *c;
  if (status != 0) return;
  c = calloc(1, sizeof(*c));
  c->s = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  c->next = s->conns;
  s->conns = c;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

static int srv_start(struct srv *s, uv_loop_t *loop) {
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = sizeof(got);
  memset(s, 0, sizeof(*s));
  s->loop = loop;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  if (uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0) != 0 ||
      uv_listen((uv_stream_t *)&s->listener, 64, on_conn) != 0 ||
      uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len) != 0)
    return -1;
  s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
  return 0;
}

static void srv_stop(struct srv *s) {
  struct conn *c;
  uv_close((uv_handle_t *)&s->listener, NULL);
  for (c = s->conns; c != NULL; c = c->next) conn_close(c);
}

/* One finished request as the done callback saw it. */
struct got {
  int done, code, connected, canceled_inside;
  enum stv_http_failure failure;
  long status;
  size_t bytes, calls;
  char body[4096];
  size_t len;
  char error[256];
  int stream_sent_at_first; /* the server's pieces written when the first arrived */
  int body_rc;              /* what the body callback returns */
  int cancel_in_body;
  int pause_first; /* pause once, resumed by a timer */
  int paused;
  int resume_rc; /* 1 when stv_http_resume returned 0 */
  struct stv_http_req *req;
  struct srv *s;
  uint64_t t_done;
  uv_loop_t *loop;
};

static int got_body(void *ctx, struct stv_http_req *req, const char *data, size_t len) {
  struct got *g = ctx;
  if (g->calls++ == 0 && g->s != NULL) g->stream_sent_at_first = g->s->stream_sent;
  if (g->pause_first && !g->paused) {
    g->paused = 1;
    return STV_HTTP_PAUSE;
  }
  if (g->cancel_in_body) stv_http_cancel(req);
  if (g->body_rc != 0) return g->body_rc;
  if (g->len + len < sizeof(g->body)) {
    memcpy(g->body + g->len, data, len);
    g->len += len;
    g->body[g->len] = '\0';
  }
  return 0;
}

static void got_done(void *ctx, struct stv_http_req *req, const struct stv_http_result *res) {
  struct got *g = ctx;
  (void)req;
  g->done++;
  g->code = res->code;
  g->failure = res->failure;
  g->status = res->status;
  g->connected = res->connected;
  g->bytes = res->bytes;
  g->t_done = g->loop != NULL ? uv_now(g->loop) : 0;
  snprintf(g->error, sizeof(g->error), "%s", res->error);
}

/* A loop, a server and a client for one test. */
struct fx {
  uv_loop_t loop;
  struct srv srv;
  struct stv_http *http;
  char url[128];
};

static int fx_start(struct fx *f) {
  struct stv_err err;
  if (uv_loop_init(&f->loop) != 0 || srv_start(&f->srv, &f->loop) != 0) return -1;
  snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->srv.port);
  return stv_http_new(&f->http, &f->loop, &err);
}

/* Closes everything; returns uv_loop_close's code (0: nothing left open). */
static int fx_stop(struct fx *f) {
  stv_http_close(f->http);
  srv_stop(&f->srv);
  while (uv_run(&f->loop, UV_RUN_DEFAULT) != 0) {
  }
  return uv_loop_close(&f->loop);
}

static int start_get(struct fx *f, const char *path, struct got *g, long timeout_ms, size_t max_body) {
  struct stv_http_opts o;
  struct stv_err err;
  char url[256];
  snprintf(url, sizeof(url), "%s%s", f->url, path);
  memset(&o, 0, sizeof(o));
  o.url = url;
  o.timeout_ms = timeout_ms;
  o.max_body = max_body;
  o.on_body = got_body;
  o.on_done = got_done;
  o.ctx = g;
  g->s = &f->srv;
  g->loop = &f->loop;
  return stv_http_request(f->http, &o, &g->req, &err);
}

/* Runs the loop until every one of n requests is done (or 10 s pass). */
static void wait_all(struct fx *f, struct got *g, size_t n) {
  uint64_t t0 = uv_now(&f->loop);
  for (;;) {
    size_t i, left = 0;
    for (i = 0; i < n; i++) left += g[i].done == 0;
    if (left == 0 || uv_now(&f->loop) - t0 > 10000) return;
    uv_run(&f->loop, UV_RUN_ONCE);
  }
}

TEST(should_send_headers_and_a_post_body_and_read_the_answer) {
  struct fx f;
  struct got g;
  struct stv_http_opts o;
  struct stv_err err;
  const char *headers[] = {"Authorization: Bearer s3cret", NULL};
  char url[256];
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  snprintf(url, sizeof(url), "%s/echo", f.url);
  memset(&o, 0, sizeof(o));
  o.url = url;
  o.headers = headers;
  o.body = "a=1&b=2";
  o.body_len = 7;
  o.timeout_ms = 5000;
  o.on_body = got_body;
  o.on_done = got_done;
  o.ctx = &g;
  CHECK(stv_http_request(f.http, &o, NULL, &err) == 0);
  CHECK_EQ_INT(stv_http_pending(f.http), 1);
  wait_all(&f, &g, 1);
  CHECK_EQ_INT(g.done, 1);
  CHECK_EQ_INT(g.code, 0);
  CHECK_EQ_INT(g.status, 200);
  CHECK(strcmp(g.body, "POST /echo auth=Bearer s3cret body=a=1&b=2") == 0);
  CHECK_EQ_INT(g.bytes, strlen(g.body));
  CHECK_EQ_INT(stv_http_pending(f.http), 0);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_run_requests_concurrently) {
  struct fx f;
  struct got g[BARRIER];
  size_t i;
  memset(g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  /* The server answers none until all are open: one at a time would time out. */
  for (i = 0; i < BARRIER; i++) CHECK(start_get(&f, "/barrier", &g[i], 5000, 0) == 0);
  wait_all(&f, g, BARRIER);
  for (i = 0; i < BARRIER; i++) {
    CHECK_EQ_INT(g[i].done, 1);
    CHECK_EQ_INT(g[i].code, 0);
    CHECK_EQ_INT(g[i].status, 200);
    CHECK(strcmp(g[i].body, "ok") == 0);
  }
  CHECK_EQ_INT(f.srv.requests, BARRIER);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_deliver_a_streamed_answer_as_it_arrives) {
  struct fx f;
  struct got g;
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  CHECK(start_get(&f, "/stream", &g, 5000, 0) == 0);
  wait_all(&f, &g, 1);
  CHECK_EQ_INT(g.code, 0);
  CHECK(strcmp(g.body, "first\nsecond\n") == 0);
  /* The first piece came before the server had written the second. */
  CHECK_EQ_INT(g.stream_sent_at_first, 1);
  CHECK(g.calls >= 2);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

static void resume_later(uv_timer_t *t) {
  struct got *g = t->data;
  g->resume_rc = stv_http_resume(g->req) == 0 ? 1 : -1;
}

TEST(should_offer_paused_bytes_again_on_resume) {
  struct fx f;
  struct got g;
  uv_timer_t t;
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  g.pause_first = 1;
  CHECK(start_get(&f, "/stream", &g, 5000, 0) == 0);
  uv_timer_init(&f.loop, &t);
  t.data = &g;
  uv_timer_start(&t, resume_later, 500, 0); /* after the server has written everything */
  wait_all(&f, &g, 1);
  uv_close((uv_handle_t *)&t, NULL);
  CHECK_EQ_INT(g.code, 0);
  CHECK_EQ_INT(g.paused, 1);
  CHECK_EQ_INT(g.resume_rc, 1);
  CHECK(strcmp(g.body, "first\nsecond\n") == 0);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_time_out_a_request_without_an_answer) {
  struct fx f;
  struct got g;
  uint64_t t0;
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  t0 = uv_now(&f.loop);
  CHECK(start_get(&f, "/slow", &g, 300, 0) == 0);
  wait_all(&f, &g, 1);
  CHECK_EQ_INT(g.done, 1);
  CHECK_EQ_INT(g.code, STV_ETIMEDOUT);
  CHECK_EQ_INT(g.failure, STV_HTTP_TIMEOUT);
  CHECK_EQ_INT(g.connected, 1);
  CHECK(g.t_done - t0 >= 250 && g.t_done - t0 < 3000);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_report_a_refused_connection_with_its_errno) {
  struct fx f;
  struct got g;
  struct stv_http_opts o;
  struct stv_err err;
  uv_tcp_t probe;
  struct sockaddr_in a;
  struct sockaddr_storage got;
  int len = sizeof(got);
  char url[128];
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  /* A port that was free a moment ago and has nobody listening. */
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(&f.loop, &probe);
  CHECK(uv_tcp_bind(&probe, (const struct sockaddr *)&a, 0) == 0);
  CHECK(uv_tcp_getsockname(&probe, (struct sockaddr *)&got, &len) == 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", ntohs(((struct sockaddr_in *)&got)->sin_port));
  uv_close((uv_handle_t *)&probe, NULL);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  memset(&o, 0, sizeof(o));
  o.url = url;
  o.timeout_ms = 5000;
  o.on_done = got_done;
  o.ctx = &g;
  CHECK(stv_http_request(f.http, &o, NULL, &err) == 0);
  wait_all(&f, &g, 1);
  CHECK_EQ_INT(g.code, -ECONNREFUSED);
  CHECK_EQ_INT(g.failure, STV_HTTP_CONNECT);
  CHECK_EQ_INT(g.connected, 0);
  CHECK_EQ_INT(g.status, 0);
  CHECK_STR_CONTAINS(g.error, "refused");
  CHECK_EQ_INT(fx_stop(&f), 0);
}

static void cancel_later(uv_timer_t *t) {
  struct got *g = t->data;
  stv_http_cancel(g->req);
  g->canceled_inside = g->done; /* the done callback must not have run yet */
  stv_http_cancel(g->req);      /* twice is harmless */
}

TEST(should_cancel_a_request_in_flight) {
  struct fx f;
  struct got g, other;
  uv_timer_t t;
  memset(&g, 0, sizeof(g));
  memset(&other, 0, sizeof(other));
  CHECK(fx_start(&f) == 0);
  CHECK(start_get(&f, "/slow", &g, 0, 0) == 0); /* no timeout: only the cancel ends it */
  CHECK(start_get(&f, "/echo", &other, 5000, 0) == 0);
  uv_timer_init(&f.loop, &t);
  t.data = &g;
  uv_timer_start(&t, cancel_later, 200, 0);
  wait_all(&f, &g, 1);
  wait_all(&f, &other, 1);
  uv_close((uv_handle_t *)&t, NULL);
  CHECK_EQ_INT(g.done, 1);
  CHECK_EQ_INT(g.canceled_inside, 0);
  CHECK_EQ_INT(g.code, -ECANCELED);
  CHECK_EQ_INT(g.failure, STV_HTTP_CANCELED);
  /* The other request is untouched. */
  CHECK_EQ_INT(other.code, 0);
  CHECK_EQ_INT(other.status, 200);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_cancel_from_the_body_callback) {
  struct fx f;
  struct got g;
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  g.cancel_in_body = 1;
  CHECK(start_get(&f, "/stream", &g, 5000, 0) == 0);
  wait_all(&f, &g, 1);
  CHECK_EQ_INT(g.done, 1);
  CHECK_EQ_INT(g.code, -ECANCELED);
  CHECK_EQ_INT(g.calls, 1);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_refuse_a_body_over_its_cap) {
  struct fx f;
  struct got small, large;
  memset(&small, 0, sizeof(small));
  memset(&large, 0, sizeof(large));
  CHECK(fx_start(&f) == 0);
  CHECK(start_get(&f, "/big", &small, 5000, 64 * 1024) == 0);
  CHECK(start_get(&f, "/big", &large, 5000, 2 * BIG_SIZE) == 0);
  wait_all(&f, &small, 1);
  wait_all(&f, &large, 1);
  CHECK_EQ_INT(small.code, STV_ELIMIT);
  CHECK_EQ_INT(small.failure, STV_HTTP_TOOBIG);
  CHECK(small.bytes <= 64 * 1024);
  CHECK_STR_CONTAINS(small.error, "larger than the limit");
  CHECK_EQ_INT(large.code, 0);
  CHECK_EQ_INT(large.bytes, BIG_SIZE);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_end_a_request_with_the_body_callbacks_error) {
  struct fx f;
  struct got g;
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  g.body_rc = STV_EPARSE;
  CHECK(start_get(&f, "/echo", &g, 5000, 0) == 0);
  wait_all(&f, &g, 1);
  CHECK_EQ_INT(g.code, STV_EPARSE);
  CHECK_EQ_INT(g.failure, STV_HTTP_BODY);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_pass_an_http_error_status_as_an_answer) {
  struct fx f;
  struct got g;
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  CHECK(start_get(&f, "/status/503", &g, 5000, 0) == 0);
  wait_all(&f, &g, 1);
  CHECK_EQ_INT(g.code, 0);
  CHECK_EQ_INT(g.status, 503);
  CHECK(strcmp(g.body, "unavailable") == 0);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_refuse_bad_requests_without_calling_back) {
  struct fx f;
  struct got g;
  struct stv_http_opts o;
  struct stv_err err;
  const char *headers[] = {"X-Evil: a\r\nHost: elsewhere", NULL};
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  memset(&o, 0, sizeof(o));
  o.url = f.url;
  o.headers = headers;
  o.on_done = got_done;
  o.ctx = &g;
  CHECK_EQ_INT(stv_http_request(f.http, &o, NULL, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "header 0 must be one line");
  o.headers = NULL;
  o.on_done = NULL;
  CHECK_EQ_INT(stv_http_request(f.http, &o, NULL, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_http_pending(f.http), 0);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(g.done, 0);
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_cancel_what_is_in_flight_on_close) {
  struct fx f;
  struct got g;
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  CHECK(start_get(&f, "/slow", &g, 0, 0) == 0);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(fx_stop(&f), 0);
  CHECK_EQ_INT(g.done, 1);
  CHECK_EQ_INT(g.code, -ECANCELED);
}

TEST(should_fail_tls_clearly_against_a_server_without_it) {
  struct fx f;
  struct got plain, badca;
  struct stv_http_opts o;
  struct stv_err err;
  char url[128];
  memset(&plain, 0, sizeof(plain));
  memset(&badca, 0, sizeof(badca));
  CHECK(fx_start(&f) == 0);
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/echo", f.srv.port);
  memset(&o, 0, sizeof(o));
  o.url = url;
  o.timeout_ms = 5000;
  o.on_done = got_done;
  o.ctx = &plain;
  o.tls.insecure = 1; /* even unverified, a server without TLS cannot shake hands */
  CHECK(stv_http_request(f.http, &o, NULL, &err) == 0);
  o.ctx = &badca;
  o.tls.insecure = 0;
  o.tls.ca_file = STV_SOURCE_ROOT "/tests/data/no-such-ca.pem";
  CHECK(stv_http_request(f.http, &o, NULL, &err) == 0);
  wait_all(&f, &plain, 1);
  wait_all(&f, &badca, 1);
  CHECK_EQ_INT(plain.code, STV_EIO);
  CHECK_EQ_INT(plain.failure, STV_HTTP_TLS);
  CHECK_EQ_INT(badca.code, STV_EIO);
  CHECK_EQ_INT(badca.failure, STV_HTTP_TLS);
  CHECK(badca.error[0] != '\0');
  CHECK_EQ_INT(fx_stop(&f), 0);
}

TEST(should_return_enomem_without_calling_back_when_allocation_fails) {
  struct fx f;
  struct got g;
  struct stv_http *h = NULL;
  struct stv_err err;
  memset(&g, 0, sizeof(g));
  CHECK(fx_start(&f) == 0);
  stv_alloc_fail_after(0);
  CHECK_EQ_INT(stv_http_new(&h, &f.loop, &err), STV_ENOMEM);
  CHECK(h == NULL);
  stv_alloc_fail_after(0);
  CHECK_EQ_INT(start_get(&f, "/echo", &g, 5000, 0), STV_ENOMEM);
  stv_alloc_fail_after(-1);
  CHECK_EQ_INT(stv_http_pending(f.http), 0);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(g.done, 0);
  CHECK_EQ_INT(fx_stop(&f), 0);
}
