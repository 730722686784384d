/*
 * The observability endpoint of `stevedore controller`: an HTTP server on
 * libmicrohttpd (its own thread) that answers
 *
 *   GET /metrics   the registry (base/registry.h) in the Prometheus text
 *                  format 0.0.4
 *   GET /healthz   200 "ok" while the process is alive; with a liveness
 *                  limit set (stv_serve_set_liveness), 503 once the
 *                  caller's loop has not sent a heartbeat for longer than
 *                  that limit
 *   GET /readyz    200 "ok" once the caller said it is ready (after the
 *                  first full sync of the cluster cache), 503 before
 *   anything else  404; a method other than GET or HEAD: 405
 *
 * Design: docs/observability.md.
 */
#ifndef STV_SERVE_H
#define STV_SERVE_H

#include "base.h"
#include "registry.h"

struct stv_serve;

/*
 * Starts serving m (borrowed; it must outlive the server) on address
 * (borrowed): "HOST:PORT", ":PORT" (every IPv4 address), "[IPV6]:PORT";
 * HOST a numeric address or a name that resolves (the first address is
 * taken); PORT 0 takes any free port (stv_serve_port says which). Returns
 * 0 with *out set; STV_EINVAL for an address that does not parse or
 * resolve; -errno when the socket cannot be bound ("-EADDRINUSE"); or
 * STV_ENOMEM / STV_EIO. err says which address and why.
 */
int stv_serve_start(struct stv_serve **out, const char *address, struct stv_registry *m, struct stv_err *err);

/* The port the server listens on (the one chosen for port 0). */
int stv_serve_port(const struct stv_serve *s);

/* Marks the process ready (1) or not (0) for /readyz; thread-safe. */
void stv_serve_set_ready(struct stv_serve *s, int ready);

/*
 * Makes /healthz watch the caller's loop: it answers 503, naming how long
 * the loop has been silent, once no stv_serve_heartbeat came for more than
 * limit seconds (> 0; 0 turns the check off, the default). The heartbeat
 * is taken as sent now. Thread-safe.
 */
void stv_serve_set_liveness(struct stv_serve *s, double limit);

/* The caller's loop made progress (a timer on it calls this); thread-safe, lock-free. */
void stv_serve_heartbeat(struct stv_serve *s);

/* Stops the server (waits for its thread; requests in progress end) and
 * frees it. NULL is a no-op. */
void stv_serve_stop(struct stv_serve *s);

#endif
