/*
 * HTTP on the libuv loop through libcurl's multi socket interface (see io.h
 * and docs/io.md).
 *
 * libcurl says, through the socket callback, which sockets it wants watched
 * for what, and, through the timer callback, when it next needs to run; a
 * uv_poll handle per socket and one uv_timer carry that out, and each time
 * one fires curl_multi_socket_action does the work that became possible
 * without waiting. Finished transfers are then collected with
 * curl_multi_info_read and their done callbacks called. Nothing here calls
 * curl_multi_perform, curl_multi_poll or curl_easy_perform: the loop is the
 * only place that waits.
 *
 * libcurl forbids removing an easy handle from inside its own callbacks, so
 * a cancelled request is put on a list that a zero-delay timer (reap)
 * completes from the loop.
 */
#include "io.h"

#include <errno.h>
#include <string.h>

#include <curl/curl.h>

/* A socket libcurl asked to watch. */
struct sock {
  uv_poll_t poll;
  struct stv_http *h;
  curl_socket_t fd;
  struct sock *prev, *next; /* h->socks, while open */
};

struct stv_http_req {
  struct stv_http *h;
  struct stv_http_req *prev, *next; /* h->reqs */
  struct stv_http_req *reap_next;   /* h->reap, once cancelled */
  CURL *easy;
  struct curl_slist *headers;
  stv_http_body_cb on_body;
  stv_http_done_cb on_done;
  stv_http_header_cb on_header;
  void *ctx;
  size_t max_body, bytes;
  int body_rc; /* the body callback's code, or STV_ELIMIT over max_body */
  int toobig;
  int canceled;
  int added; /* on the multi handle */
  char errbuf[CURL_ERROR_SIZE];
};

struct stv_http {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer; /* libcurl's next timeout */
  uv_timer_t reap;  /* completes cancelled requests from the loop */
  struct stv_http_req *reqs;
  struct stv_http_req *reap_list;
  struct sock *socks;
  size_t pending;
  int open_handles; /* uv handles not yet closed: when 0 after close, free */
  int closing;
};

static void check_done(struct stv_http *h);

/* Frees the client once every handle it opened is closed. */
static void handle_closed(uv_handle_t *uh) {
  struct stv_http *h = uh->data;
  if (uh->type == UV_POLL) stv_free(uh);
  if (--h->open_handles == 0 && h->closing) {
    stv_free(h);
  }
}

static void sock_close(struct sock *k) {
  struct stv_http *h = k->h;
  if (k->prev != NULL)
    k->prev->next = k->next;
  else
    h->socks = k->next;
  if (k->next != NULL) k->next->prev = k->prev;
  uv_poll_stop(&k->poll);
  uv_close((uv_handle_t *)&k->poll, handle_closed); /* poll is the first member: frees k */
}

static void on_poll(uv_poll_t *p, int status, int events) {
  struct sock *k = (struct sock *)p;
  struct stv_http *h = k->h;
  int flags = 0, running;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  /* k may be closed inside: libcurl removes sockets it is done with. */
  curl_multi_socket_action(h->multi, k->fd, flags, &running);
  check_done(h);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
  struct stv_http *h = userp;
  struct sock *k = socketp;
  int events = 0;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (k != NULL) {
      sock_close(k);
      curl_multi_assign(h->multi, s, NULL);
    }
    return 0;
  }
  if (k == NULL) {
    if ((k = stv_calloc(1, sizeof(*k))) == NULL) return -1;
    if (uv_poll_init_socket(h->loop, &k->poll, s) != 0) {
      stv_free(k);
      return -1;
    }
    k->poll.data = h;
    k->h = h;
    k->fd = s;
    k->next = h->socks;
    if (h->socks != NULL) h->socks->prev = k;
    h->socks = k;
    h->open_handles++;
    curl_multi_assign(h->multi, s, k);
  }
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  return uv_poll_start(&k->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_timeout(uv_timer_t *t) {
  struct stv_http *h = t->data;
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(h);
}

/* libcurl's timer callback: only arms the uv timer; the work runs from the loop. */
static int on_timer_set(CURLM *multi, long timeout_ms, void *userp) {
  struct stv_http *h = userp;
  (void)multi;
  if (timeout_ms < 0) return uv_timer_stop(&h->timer) == 0 ? 0 : -1;
  return uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct stv_http_req *r = ud;
  size_t n = size * nmemb;
  int rc;
  if (r->canceled || r->body_rc != 0) return 0;
  if (r->max_body != 0 && n > r->max_body - r->bytes) {
    r->body_rc = STV_ELIMIT;
    r->toobig = 1;
    return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
  }
  if (r->on_body != NULL) {
    rc = r->on_body(r->ctx, r, ptr, n);
    if (rc == STV_HTTP_PAUSE) return CURL_WRITEFUNC_PAUSE;
    if (rc < 0) {
      r->body_rc = rc;
      return 0;
    }
  }
  r->bytes += n;
  return r->canceled ? 0 : n;
}

/* How each libcurl result that is not plain STV_HTTP_OTHER / STV_EIO is told. */
static const struct {
  CURLcode res;
  enum stv_http_failure failure;
  int code;
} curl_failures[] = {
    {CURLE_COULDNT_CONNECT, STV_HTTP_CONNECT, STV_EIO},
    {CURLE_COULDNT_RESOLVE_HOST, STV_HTTP_RESOLVE, STV_EIO},
    {CURLE_COULDNT_RESOLVE_PROXY, STV_HTTP_RESOLVE, STV_EIO},
    {CURLE_OPERATION_TIMEDOUT, STV_HTTP_TIMEOUT, STV_ETIMEDOUT},
    {CURLE_URL_MALFORMAT, STV_HTTP_URL, STV_EINVAL},
    {CURLE_UNSUPPORTED_PROTOCOL, STV_HTTP_URL, STV_EINVAL},
    {CURLE_OUT_OF_MEMORY, STV_HTTP_OTHER, STV_ENOMEM},
    {CURLE_GOT_NOTHING, STV_HTTP_LOST, STV_EIO},
    {CURLE_RECV_ERROR, STV_HTTP_LOST, STV_EIO},
    {CURLE_SEND_ERROR, STV_HTTP_LOST, STV_EIO},
    {CURLE_PARTIAL_FILE, STV_HTTP_LOST, STV_EIO},
    {CURLE_SSL_CONNECT_ERROR, STV_HTTP_TLS, STV_EIO},
    {CURLE_PEER_FAILED_VERIFICATION, STV_HTTP_TLS, STV_EIO},
    {CURLE_SSL_CERTPROBLEM, STV_HTTP_TLS, STV_EIO},
    {CURLE_SSL_CIPHER, STV_HTTP_TLS, STV_EIO},
    {CURLE_SSL_CACERT_BADFILE, STV_HTTP_TLS, STV_EIO},
    {CURLE_SSL_ISSUER_ERROR, STV_HTTP_TLS, STV_EIO},
    {CURLE_SSL_CRL_BADFILE, STV_HTTP_TLS, STV_EIO},
};

/* The code, failure and detail of a transfer libcurl ended with res. */
static void classify(struct stv_http_req *r, CURLcode res, struct stv_http_result *out) {
  long oe = 0;
  size_t i;
  curl_off_t connect_us = 0;
  out->error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(res);
  curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
  out->connected = connect_us > 0;
  if (res == CURLE_OK) {
    out->code = 0;
    out->failure = STV_HTTP_OK;
    out->error = "";
    return;
  }
  if (r->body_rc != 0) {
    out->code = r->body_rc;
    out->failure = r->toobig ? STV_HTTP_TOOBIG : STV_HTTP_BODY;
    out->error = r->toobig ? "the answer is larger than the limit set for it" : stv_strerror(r->body_rc);
    return;
  }
  out->failure = STV_HTTP_OTHER;
  out->code = STV_EIO;
  for (i = 0; i < sizeof(curl_failures) / sizeof(curl_failures[0]); i++) {
    if (curl_failures[i].res == res) {
      out->failure = curl_failures[i].failure;
      out->code = curl_failures[i].code;
      break;
    }
  }
  if (res == CURLE_COULDNT_CONNECT) {
    /* The system's reason (connection refused, no route) says more. */
    curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oe);
    if (oe > 0 && oe < 4096) {
      out->code = -(int)oe;
      out->error = stv_strerror(-(int)oe);
    }
  }
}

/* Takes r off the client, calls its done callback with res and frees it. */
static void complete(struct stv_http_req *r, struct stv_http_result *res) {
  struct stv_http *h = r->h;
  if (r->added) curl_multi_remove_handle(h->multi, r->easy);
  r->added = 0;
  if (r->prev != NULL)
    r->prev->next = r->next;
  else
    h->reqs = r->next;
  if (r->next != NULL) r->next->prev = r->prev;
  h->pending--;
  res->bytes = r->bytes;
  r->on_done(r->ctx, r, res);
  curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->headers);
  stv_free(r);
}

static void complete_canceled(struct stv_http_req *r) {
  struct stv_http_result res;
  memset(&res, 0, sizeof(res));
  res.code = -ECANCELED;
  res.failure = STV_HTTP_CANCELED;
  res.error = "canceled";
  res.status = stv_http_req_status(r);
  complete(r, &res);
}

/* Completes the transfers libcurl has finished. */
static void check_done(struct stv_http *h) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
    struct stv_http_req *r = NULL;
    struct stv_http_result res;
    CURLcode cc;
    if (m->msg != CURLMSG_DONE) continue;
    cc = m->data.result; /* m is invalid once the handle is removed */
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    if (r == NULL || r->canceled) continue; /* reap completes it */
    memset(&res, 0, sizeof(res));
    classify(r, cc, &res);
    res.status = stv_http_req_status(r);
    complete(r, &res);
  }
}

static void on_reap(uv_timer_t *t) {
  struct stv_http *h = t->data;
  while (h->reap_list != NULL) {
    struct stv_http_req *r = h->reap_list;
    h->reap_list = r->reap_next;
    complete_canceled(r);
  }
}

int stv_http_new(struct stv_http **out, uv_loop_t *loop, struct stv_err *err) {
  struct stv_http *h;
  *out = NULL;
  if ((h = stv_calloc(1, sizeof(*h))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  h->loop = loop;
  /* libcurl's global state is the program's: main calls curl_global_init (io.h). */
  if ((h->multi = curl_multi_init()) == NULL) {
    stv_free(h);
    return stv_err_set(err, STV_ENOMEM, "libcurl: cannot start: out of memory");
  }
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  uv_timer_init(loop, &h->timer);
  uv_timer_init(loop, &h->reap);
  h->timer.data = h;
  h->reap.data = h;
  h->open_handles = 2;
  *out = h;
  return 0;
}

void stv_http_close(struct stv_http *h) {
  if (h == NULL || h->closing) return;
  h->closing = 1;
  h->reap_list = NULL;
  while (h->reqs != NULL) complete_canceled(h->reqs);
  curl_multi_cleanup(h->multi); /* closes the pooled connections */
  h->multi = NULL;
  while (h->socks != NULL) sock_close(h->socks);
  uv_timer_stop(&h->timer);
  uv_timer_stop(&h->reap);
  uv_close((uv_handle_t *)&h->timer, handle_closed);
  uv_close((uv_handle_t *)&h->reap, handle_closed);
}

/* Hands one header line, without its line break, to the request's header callback. */
static size_t on_header(char *data, size_t size, size_t n, void *userp) {
  struct stv_http_req *r = userp;
  size_t len = size * n, l = len;
  int rc;
  if (r->canceled) return len;
  while (l > 0 && (data[l - 1] == '\n' || data[l - 1] == '\r')) l--;
  if ((rc = r->on_header(r->ctx, r, data, l)) < 0) {
    r->body_rc = rc;
    return 0; /* libcurl ends the transfer: CURLE_WRITE_ERROR */
  }
  return len;
}

/* Hands the in-memory PEM blobs to libcurl, which copies them. */
static CURLcode set_pem(CURL *e, const struct stv_http_opts *o) {
  struct curl_blob b = {.flags = CURL_BLOB_COPY};
  CURLcode cc = CURLE_OK;
  if (o->tls.ca_pem != NULL) {
    b.data = (void *)o->tls.ca_pem;
    b.len = o->tls.ca_pem_len;
    cc = curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
  }
  if (cc == CURLE_OK && o->tls.cert_pem != NULL) {
    b.data = (void *)o->tls.cert_pem;
    b.len = o->tls.cert_pem_len;
    cc = curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
    if (cc == CURLE_OK) cc = curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (cc == CURLE_OK && o->tls.key_pem != NULL) {
    b.data = (void *)o->tls.key_pem;
    b.len = o->tls.key_pem_len;
    cc = curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
    if (cc == CURLE_OK) cc = curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  }
  return cc;
}

/* Sets the options of one request; returns 0 or an STV_ code with err filled. */
static int setup(struct stv_http_req *r, const struct stv_http_opts *o, struct stv_err *err) {
  CURL *e = r->easy;
  long connect_ms = 30000;
  const char *method = o->method;
  CURLcode cc = CURLE_OK;
  size_t i;

  for (i = 0; o->headers != NULL && o->headers[i] != NULL; i++) {
    struct curl_slist *l;
    if (strpbrk(o->headers[i], "\r\n") != NULL)
      return stv_err_set(err, STV_EINVAL, "http: header %zu must be one line", i);
    if ((l = curl_slist_append(r->headers, o->headers[i])) == NULL)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    r->headers = l;
  }
  if (o->timeout_ms > 0 && o->timeout_ms < connect_ms) connect_ms = o->timeout_ms;
  if (o->connect_timeout_ms > 0) connect_ms = o->connect_timeout_ms;
  if (curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK ||
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
      curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
      curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
      curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 0L) != CURLE_OK ||
      curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) != CURLE_OK ||
      curl_easy_setopt(e, CURLOPT_USERAGENT, "stevedore") != CURLE_OK ||
      curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
      curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
      (r->headers != NULL && curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK))
    return stv_err_set(err, STV_EUNSUPPORTED, "libcurl: an option this program needs is not supported");
  if (o->tls.ca_file != NULL) cc = curl_easy_setopt(e, CURLOPT_CAINFO, o->tls.ca_file);
  if (cc == CURLE_OK && o->tls.cert_file != NULL) cc = curl_easy_setopt(e, CURLOPT_SSLCERT, o->tls.cert_file);
  if (cc == CURLE_OK && o->tls.key_file != NULL) cc = curl_easy_setopt(e, CURLOPT_SSLKEY, o->tls.key_file);
  if (cc == CURLE_OK) cc = set_pem(e, o);
  if (cc == CURLE_OK && o->on_header != NULL) cc = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  if (cc == CURLE_OK && o->on_header != NULL) cc = curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  if (cc == CURLE_OK && o->tls.insecure) cc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
  if (cc == CURLE_OK && o->tls.insecure) cc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  if (cc == CURLE_OK) cc = curl_easy_setopt(e, CURLOPT_URL, o->url);
  if (cc == CURLE_OK && o->aws_sigv4 != NULL) cc = curl_easy_setopt(e, CURLOPT_AWS_SIGV4, o->aws_sigv4);
  if (cc == CURLE_OK && o->userpwd != NULL) cc = curl_easy_setopt(e, CURLOPT_USERPWD, o->userpwd);
  if (cc == CURLE_OK && o->body != NULL) {
    cc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    if (cc == CURLE_OK) cc = curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body);
  } else if (cc == CURLE_OK && method != NULL && strcmp(method, "POST") == 0) {
    cc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    if (cc == CURLE_OK) cc = curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, "");
  }
  if (cc == CURLE_OK && method != NULL && strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
    cc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  if (cc == CURLE_OUT_OF_MEMORY) return stv_err_set(err, STV_ENOMEM, "out of memory");
  if (cc != CURLE_OK) return stv_err_set(err, STV_EUNSUPPORTED, "libcurl: %s", curl_easy_strerror(cc));
  return 0;
}

int stv_http_request(struct stv_http *h, const struct stv_http_opts *o, struct stv_http_req **out,
                     struct stv_err *err) {
  struct stv_http_req *r = NULL;
  CURLMcode mc;
  int rc;

  if (out != NULL) *out = NULL;
  if (h->closing) return stv_err_set(err, STV_EINVAL, "http: the client is closing");
  if (o->url == NULL || *o->url == '\0') return stv_err_set(err, STV_EINVAL, "http: no URL");
  if (o->on_done == NULL) return stv_err_set(err, STV_EINVAL, "http: %s: no done callback", o->url);
  if (o->method != NULL && strcmp(o->method, "GET") == 0 && o->body != NULL)
    return stv_err_set(err, STV_EINVAL, "http: %s: a GET request has no body", o->url);
  if ((r = stv_calloc(1, sizeof(*r))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  r->h = h;
  r->on_body = o->on_body;
  r->on_done = o->on_done;
  r->on_header = o->on_header;
  r->ctx = o->ctx;
  r->max_body = o->max_body;
  if ((r->easy = curl_easy_init()) == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "libcurl: cannot start a request: out of memory");
    goto out;
  }
  if ((rc = setup(r, o, err)) != 0) goto out;
  if ((mc = curl_multi_add_handle(h->multi, r->easy)) != CURLM_OK) {
    rc = stv_err_set(err, mc == CURLM_OUT_OF_MEMORY ? STV_ENOMEM : STV_EIO, "libcurl: %s",
                     curl_multi_strerror(mc));
    goto out;
  }
  r->added = 1;
  r->next = h->reqs;
  if (h->reqs != NULL) h->reqs->prev = r;
  h->reqs = r;
  h->pending++;
  if (out != NULL) *out = r;
  return 0;
out:
  if (r->easy != NULL) curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->headers);
  stv_free(r);
  return rc;
}

void stv_http_cancel(struct stv_http_req *r) {
  struct stv_http *h;
  if (r == NULL || r->canceled) return;
  h = r->h;
  r->canceled = 1;
  r->reap_next = h->reap_list;
  h->reap_list = r;
  uv_timer_start(&h->reap, on_reap, 0, 0);
}

int stv_http_resume(struct stv_http_req *r) {
  if (r->canceled) return 0;
  return curl_easy_pause(r->easy, CURLPAUSE_CONT) == CURLE_OK ? 0 : STV_EIO;
}

long stv_http_req_status(const struct stv_http_req *r) {
  long status = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

size_t stv_http_pending(const struct stv_http *h) {
  return h->pending;
}
