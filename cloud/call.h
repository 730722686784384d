/*
 * One cloud API call, shared by the cloud adapters (AWS, GCP, Azure): one
 * HTTP request through io/io.h with a timeout, the answer's body collected
 * up to a cap, and retries with exponential backoff and full jitter when
 * the cloud throttles or fails transiently (HTTP 429, 5xx, a connection
 * that broke or timed out, or whatever the adapter's classifier calls
 * throttling, such as AWS's 400 "Throttling"), honouring Retry-After.
 * Waiting between attempts runs on the provider's stv_clock, so that the
 * same code runs on the wall clock and on a test's virtual clock.
 *
 * What is not here, on purpose: credentials. Each adapter keeps its own
 * token or key cache, refreshes it before expiry and hands the current
 * secret in the options of each call (an expired token found in an answer
 * is the adapter's to refresh and call again).
 *
 * Callbacks run on the loop thread, never from inside stv_cloud_call.
 */
#ifndef STV_CLOUD_CALL_H
#define STV_CLOUD_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "clock.h"
#include "io.h"

struct stv_cloud_caller;

/* The retry policy of a caller; zero fields take the defaults. */
struct stv_cloud_retry {
  int max_attempts;       /* attempts in all, default 5 */
  double base_delay;      /* seconds, default 0.2: the first backoff is uniform in [0, base) */
  double max_delay;       /* seconds, default 20: the cap of one backoff */
  double max_retry_after; /* seconds, default 60: a longer Retry-After ends the call as throttled */
};

/*
 * The classifier's view of one answer: the adapter decides whether a
 * non-2xx answer is throttling (retry), transient (retry) or final. Returns
 * STV_ETHROTTLED or STV_EIO to retry, or 0 to hand the answer to the
 * callback as it is. May be NULL: then 429 is throttling, 500/502/503/504
 * transient and everything else final.
 */
typedef int (*stv_cloud_classify_fn)(void *ctx, long status, const char *body, size_t len);

/* One call; every pointer borrowed (copied by stv_cloud_call). */
struct stv_cloud_call_opts {
  const char *what; /* for messages: "autoscaling DescribeAutoScalingGroups" */
  const char *url;
  const char *method; /* NULL: GET, or POST with a body */
  const char *body;
  size_t body_len;
  const char *const *headers; /* NULL-terminated, or NULL */
  const char *aws_sigv4;      /* see struct stv_http_opts */
  const char *userpwd;        /* a secret: never logged */
  struct stv_http_tls tls;
  long timeout_ms; /* of each attempt; 0: 30 s */
  size_t max_body; /* 0: 8 MiB */
  stv_cloud_classify_fn classify;
};

/* How the call ended; borrowed for the callback. */
struct stv_cloud_reply {
  /*
   * 0 when an answer came that the classifier did not retry (any HTTP
   * status: the adapter reads status and body); STV_ETHROTTLED when the
   * last attempt was still throttled (retry_after set when the cloud said);
   * or the transport's code (STV_ETIMEDOUT, -ECONNREFUSED, STV_ELIMIT over
   * max_body, STV_EIO) after the last attempt.
   */
  int code;
  long status;
  const char *body; /* NUL-terminated; "" when none */
  size_t len;
  int attempts;
  double retry_after; /* seconds the cloud asked to wait, 0: it did not say */
  const char *error;  /* "" when code is 0: what failed, naming the call ("... : timed out after 30 s") */
};

typedef void (*stv_cloud_reply_cb)(void *ctx, const struct stv_cloud_reply *r);

/*
 * Creates a caller on http and clock (both borrowed; they must outlive
 * it). seed drives the jitter (0: from the clock and the address of the
 * caller). retry may be NULL (defaults). Returns 0 or STV_ENOMEM.
 */
int stv_cloud_caller_new(struct stv_cloud_caller **out, struct stv_http *http, struct stv_clock *clock,
                         const struct stv_cloud_retry *retry, uint64_t seed, struct stv_err *err);

/*
 * Abandons every call in flight (their callbacks never run) and frees the
 * caller. The loop must run afterwards so that libcurl's cancellations
 * complete. c may be NULL.
 */
void stv_cloud_caller_free(struct stv_cloud_caller *c);

/*
 * Starts a call. Returns 0 (cb runs exactly once, from the loop) or
 * STV_EINVAL / STV_ENOMEM with err filled (cb never runs).
 */
int stv_cloud_call(struct stv_cloud_caller *c, const struct stv_cloud_call_opts *o, stv_cloud_reply_cb cb,
                   void *ctx, struct stv_err *err);

/* Calls in flight, waiting or on the wire. */
size_t stv_cloud_caller_pending(const struct stv_cloud_caller *c);

/*
 * The backoff before attempt n + 1 (n >= 1 attempts made): uniform in
 * [0, min(max_delay, base_delay * 2^(n-1))) from the caller's generator,
 * and at least retry_after when the cloud gave one. Exposed for tests.
 */
double stv_cloud_backoff(struct stv_cloud_caller *c, int n, double retry_after);

/* Parses a Retry-After value (seconds, or an HTTP date taken relative to
 * now_unix); returns seconds >= 0, or -1 when unreadable. */
double stv_cloud_parse_retry_after(const char *v, size_t len, double now_unix);

#endif
