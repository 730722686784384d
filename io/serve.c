/*
 * The observability endpoint (io/serve.h) on libmicrohttpd. The listening
 * socket is made here (socket, bind, listen) and handed to the daemon, so
 * that a failure to bind says exactly why ("Address already in use") and
 * port 0 is read back with getsockname. The daemon runs its own polling
 * thread; the handler reads the metrics registry, which is thread-safe.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "serve.h"

struct stv_serve {
  struct MHD_Daemon *d;
  struct stv_registry *m;
  int fd, port;
  _Atomic int ready;
  /* Liveness: the last heartbeat and the longest silence allowed, monotonic ms (limit 0: no check). */
  _Atomic int64_t beat_ms, limit_ms;
};

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits "HOST:PORT" / "[V6]:PORT" into host (size bytes) and port text. */
static int split_address(const char *address, char *host, size_t size, const char **port,
                         struct stv_err *err) {
  const char *colon;
  size_t hlen;
  if (address[0] == '[') {
    const char *close = strchr(address, ']');
    if (close == NULL || close[1] != ':')
      return stv_err_set(err, STV_EINVAL, "address \"%s\": an IPv6 address is written [ADDR]:PORT", address);
    hlen = (size_t)(close - address - 1);
    colon = close + 1;
    address++;
  } else {
    colon = strrchr(address, ':');
    if (colon == NULL)
      return stv_err_set(err, STV_EINVAL, "address \"%s\": expected HOST:PORT (\":9090\" for every address)",
                         address);
    hlen = (size_t)(colon - address);
  }
  if (hlen >= size) return stv_err_set(err, STV_EINVAL, "address \"%s\": host name too long", address);
  memcpy(host, address, hlen);
  host[hlen] = '\0';
  *port = colon + 1;
  return 0;
}

/* Resolves address into a listening socket; *fd and *port set. */
static int listen_on(const char *address, int *fd, int *port, struct stv_err *err) {
  char host[256], *end;
  const char *port_text = "";
  struct addrinfo hints, *res = NULL;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  long p;
  int rc, s = -1, one = 1;
  rc = split_address(address, host, sizeof(host), &port_text, err);
  if (rc != 0) return rc;
  p = strtol(port_text, &end, 10);
  if (port_text[0] < '0' || port_text[0] > '9' || *end != '\0' || p < 0 || p > 65535)
    return stv_err_set(err, STV_EINVAL, "address \"%s\": port \"%s\" is not a number from 0 to 65535",
                       address, port_text);
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if (host[0] == '\0') hints.ai_family = AF_INET;
  rc = getaddrinfo(host[0] == '\0' ? NULL : host, port_text, &hints, &res);
  if (rc != 0)
    return stv_err_set(err, STV_EINVAL, "address \"%s\": cannot resolve \"%s\": %s", address, host,
                       gai_strerror(rc));
  s = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  if (s < 0) {
    rc = -errno;
    goto out;
  }
  (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(s, res->ai_addr, res->ai_addrlen) != 0 || listen(s, 64) != 0 ||
      getsockname(s, (struct sockaddr *)&ss, &sl) != 0) {
    rc = -errno;
    goto out;
  }
  *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                         : ((struct sockaddr_in *)&ss)->sin_port);
  *fd = s;
  s = -1;
out:
  if (rc != 0)
    stv_err_set(err, rc, "address \"%s\": cannot listen: %s%s", address, stv_strerror(rc),
                rc == -EADDRINUSE ? " (another process has this port; choose another with --metrics-address)"
                                  : "");
  if (s >= 0) close(s);
  freeaddrinfo(res);
  return rc;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body,
                             size_t len, int owned) {
  struct MHD_Response *r;
  enum MHD_Result ok;
  if (owned)
    r = MHD_create_response_from_buffer_with_free_callback(len, body, stv_free);
  else
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
  if (r == NULL) {
    if (owned) stv_free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text) {
  return reply(conn, status, "text/plain; charset=utf-8", (char *)text, strlen(text), 0);
}

/* /healthz: 200 while the caller's loop beats within its limit (or none is set), else 503 saying so. */
static enum MHD_Result reply_health(struct stv_serve *s, struct MHD_Connection *conn) {
  int64_t limit = atomic_load(&s->limit_ms), quiet;
  char *body;
  int len;
  if (limit <= 0 || (quiet = monotonic_ms() - atomic_load(&s->beat_ms)) <= limit)
    return reply_text(conn, MHD_HTTP_OK, "ok\n");
  if ((body = stv_malloc(256)) == NULL) return MHD_NO;
  len = snprintf(body, 256,
                 "not alive: the controller's event loop has not run for %.1f s (the limit is %.1f s); "
                 "it is stuck or starved of cpu\n",
                 (double)quiet / 1e3, (double)limit / 1e3);
  if (len < 0 || len > 255) len = len < 0 ? 0 : 255;
  return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body, (size_t)len, 1);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  struct stv_serve *s = cls;
  (void)version;
  (void)upload;
  (void)con_cls;
  if (*upload_size != 0) {
    *upload_size = 0; /* a body is not wanted: drop it, answer when it ends */
    return MHD_YES;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET\n");
  if (strcmp(url, "/healthz") == 0) return reply_health(s, conn);
  if (strcmp(url, "/readyz") == 0) {
    if (atomic_load(&s->ready)) return reply_text(conn, MHD_HTTP_OK, "ok\n");
    return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "not ready: the controller has not finished its first full sync of the cluster\n");
  }
  if (strcmp(url, "/metrics") == 0) {
    struct stv_buf b;
    stv_buf_init(&b);
    b.max = 64u << 20;
    if (stv_registry_write(s->m, &b) != 0 || b.data == NULL) {
      stv_buf_close(&b);
      return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot write the metrics: out of memory\n");
    }
    return reply(conn, MHD_HTTP_OK, STV_METRICS_CONTENT_TYPE, b.data, b.len, 1);
  }
  return reply_text(conn, MHD_HTTP_NOT_FOUND,
                    "not found: this server answers /metrics, /healthz and /readyz\n");
}

int stv_serve_start(struct stv_serve **out, const char *address, struct stv_registry *m, struct stv_err *err) {
  struct stv_serve *s;
  int rc;
  *out = NULL;
  s = stv_calloc(1, sizeof(*s));
  if (s == NULL) return stv_err_set(err, STV_ENOMEM, "metrics server: out of memory");
  s->m = m;
  rc = listen_on(address, &s->fd, &s->port, err);
  if (rc != 0) {
    stv_err_prefix(err, "metrics server");
    stv_free(s);
    return rc;
  }
  s->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, handle, s, MHD_OPTION_LISTEN_SOCKET,
                          (MHD_socket)s->fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
  if (s->d == NULL) {
    close(s->fd);
    stv_free(s);
    return stv_err_set(err, STV_EIO, "metrics server on %s: libmicrohttpd could not start its thread",
                       address);
  }
  *out = s;
  return 0;
}

int stv_serve_port(const struct stv_serve *s) {
  return s->port;
}

void stv_serve_set_ready(struct stv_serve *s, int ready) {
  atomic_store(&s->ready, ready != 0);
}

void stv_serve_set_liveness(struct stv_serve *s, double limit) {
  atomic_store(&s->beat_ms, monotonic_ms());
  atomic_store(&s->limit_ms, limit > 0 ? (int64_t)(limit * 1e3 + 0.5) : 0);
}

void stv_serve_heartbeat(struct stv_serve *s) {
  atomic_store(&s->beat_ms, monotonic_ms());
}

void stv_serve_stop(struct stv_serve *s) {
  if (s == NULL) return;
  MHD_stop_daemon(s->d); /* joins the thread; the listening socket is ours */
  close(s->fd);
  stv_free(s);
}
