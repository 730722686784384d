/*
 * io: Stevedore's one I/O layer. Everything that waits on the network runs
 * on one libuv loop owned by the caller; HTTP goes through libcurl's multi
 * socket interface driven by that loop (curl tells which sockets to watch
 * and when to wake it, the loop tells curl what became ready), so a request
 * never blocks the loop and any number of them, short queries and
 * long-lived streams alike, share one thread and one connection pool.
 * Design: docs/io.md.
 *
 * Callbacks run on the loop thread, from uv_run. If a function taking a
 * callback returns an error, the callback is never called.
 */
#ifndef STV_IO_H
#define STV_IO_H

#include <stddef.h>

#include <uv.h>

#include "base.h"

/* ---------------------------------------------------------------------- */
/* HTTP client                                                            */

/* One client per loop: the libcurl multi handle and its connection pool. */
struct stv_http;
/* One request in flight, owned by the client until its done callback returns. */
struct stv_http_req;

/* How a request ended, beyond its code: for messages that say what to check. */
enum stv_http_failure {
  STV_HTTP_OK = 0,   /* an answer came (any HTTP status) */
  STV_HTTP_CONNECT,  /* the server could not be reached */
  STV_HTTP_RESOLVE,  /* the host name did not resolve */
  STV_HTTP_TIMEOUT,  /* no complete answer within the timeout */
  STV_HTTP_URL,      /* the URL is malformed or its scheme not allowed */
  STV_HTTP_LOST,     /* the connection broke before the answer was complete */
  STV_HTTP_TLS,      /* TLS handshake or certificate verification failed */
  STV_HTTP_BODY,     /* the body callback stopped the transfer */
  STV_HTTP_TOOBIG,   /* the body grew over max_body */
  STV_HTTP_CANCELED, /* stv_http_cancel or stv_http_close */
  STV_HTTP_OTHER     /* anything else libcurl reported */
};

/* What the done callback receives; borrowed for the call. */
struct stv_http_result {
  /*
   * 0 when an answer came, whatever its HTTP status; else a negative code:
   * -errno from connect (-ECONNREFUSED), STV_ETIMEDOUT, STV_EINVAL (bad URL),
   * STV_ELIMIT (over max_body), -ECANCELED, STV_ENOMEM, the body callback's
   * code, or STV_EIO.
   */
  int code;
  enum stv_http_failure failure;
  long status;       /* HTTP status, 0 when none was received */
  int connected;     /* 1 when a connection was made (a timeout after it is a slow server) */
  size_t bytes;      /* body bytes handed to the body callback */
  const char *error; /* human detail ("" when code is 0): libcurl's words or strerror */
};

/*
 * Called with each piece of the body as it arrives (data borrowed for the
 * call; pieces split anywhere). Returns 0 to go on; STV_HTTP_PAUSE to stop
 * reading this answer until stv_http_resume (the same bytes are offered
 * again then); or a negative STV_ code to end the request, which is then
 * reported to the done callback with that code and failure STV_HTTP_BODY.
 */
typedef int (*stv_http_body_cb)(void *ctx, struct stv_http_req *req, const char *data, size_t len);
#define STV_HTTP_PAUSE 1

/*
 * Called exactly once per request that stv_http_request accepted, when it
 * ends for whatever reason; res is borrowed for the call. req is freed when
 * the callback returns. The callback may start and cancel requests.
 */
typedef void (*stv_http_done_cb)(void *ctx, struct stv_http_req *req, const struct stv_http_result *res);

/* TLS settings; every pointer borrowed (copied by stv_http_request). */
struct stv_http_tls {
  const char *ca_file;   /* PEM bundle to verify the server with; NULL: the system's */
  const char *cert_file; /* client certificate (PEM), or NULL */
  const char *key_file;  /* its key (PEM); NULL: in cert_file */
  int insecure;          /* 1: do not verify the server's certificate or name */
  /* In-memory PEM (a kubeconfig's *-data fields), used instead of the file when set. */
  const char *ca_pem; /* CA bundle */
  size_t ca_pem_len;
  const char *cert_pem; /* client certificate */
  size_t cert_pem_len;
  const char *key_pem; /* its key */
  size_t key_pem_len;
};

/*
 * Called with each header line of the answer as it arrives ("Retry-After:
 * 5", without the line break; the status line too; data borrowed for the
 * call). Returns 0 to go on or a negative STV_ code to end the request, as
 * the body callback does.
 */
typedef int (*stv_http_header_cb)(void *ctx, struct stv_http_req *req, const char *line, size_t len);

/* One request; every pointer borrowed, copied by stv_http_request. */
struct stv_http_opts {
  const char *url;    /* http:// or https:// only */
  const char *method; /* NULL: GET, or POST when body is set */
  const char *body;   /* request body, or NULL */
  size_t body_len;
  const char *const *headers; /* "Name: value" lines, NULL-terminated; or NULL */
  long timeout_ms;            /* the whole transfer; 0: none (watch streams) */
  long connect_timeout_ms;    /* 0: 30 s, or timeout_ms when smaller */
  size_t max_body;            /* largest body accepted; 0: no cap */
  struct stv_http_tls tls;
  stv_http_body_cb on_body; /* may be NULL: the body is dropped */
  stv_http_done_cb on_done; /* required */
  void *ctx;                /* handed to the callbacks */
  stv_http_header_cb on_header; /* may be NULL: headers are not looked at */
  /* AWS Signature Version 4 by libcurl (CURLOPT_AWS_SIGV4), e.g.
   * "aws:amz:us-east-1:autoscaling"; NULL: unsigned. The key pair is userpwd. */
  const char *aws_sigv4;
  const char *userpwd; /* "user:password" (CURLOPT_USERPWD); NULL: none. A secret: never logged */
};

/*
 * Creates a client on loop (borrowed; it must outlive the client). The
 * program calls curl_global_init once from main before any client exists
 * (and curl_global_cleanup at the end); the layer never does. Returns 0 or
 * STV_ENOMEM with err filled.
 */
int stv_http_new(struct stv_http **out, uv_loop_t *loop, struct stv_err *err);

/*
 * Ends every request still in flight (each done callback is called, now,
 * with -ECANCELED), closes the client's handles and frees it once libuv has
 * closed them: run the loop afterwards until it has nothing left (uv_run
 * returns 0). Not from inside one of the client's callbacks. h may be NULL.
 */
void stv_http_close(struct stv_http *h);

/*
 * Starts a request. *out (may be NULL) receives a handle valid until the
 * done callback returns. Returns 0, or STV_EINVAL (no URL or done callback;
 * a header line with a line break), STV_EUNSUPPORTED (libcurl lacks an
 * option), STV_ENOMEM or STV_EIO, with err filled; then no callback is
 * called.
 */
int stv_http_request(struct stv_http *h, const struct stv_http_opts *o, struct stv_http_req **out,
                     struct stv_err *err);

/*
 * Ends a request in flight: its done callback follows from the loop (never
 * from inside this call) with -ECANCELED and failure STV_HTTP_CANCELED, and
 * no more body. Cancelling twice is harmless. May be called from any of
 * the client's callbacks, including the request's own body callback.
 */
void stv_http_cancel(struct stv_http_req *req);

/* Reads a paused answer again (see STV_HTTP_PAUSE). Returns 0 or STV_EIO. */
int stv_http_resume(struct stv_http_req *req);

/*
 * The HTTP status of the answer so far (0 before the status line): in the
 * body callback, to tell an error document from the data expected.
 */
long stv_http_req_status(const struct stv_http_req *req);

/* Requests in flight on the client. */
size_t stv_http_pending(const struct stv_http *h);

#endif
