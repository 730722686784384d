/*
 * Kubernetes Events from the controller (TriggeredScaleUp, NotTriggerScaleUp,
 * ScaleUpFailed, ...), recorded the way client-go's EventCorrelator does it
 * so that a cluster with 10,000 pending pods does not get 10,000 Events a
 * loop:
 *
 * - Deduplication: the same object, type, reason and message within the
 *   similarity window (10 min) is one Event whose count and last time are
 *   updated, not a new Event.
 * - A per-object spam filter: a token bucket per involved object (burst
 *   25, one token per 5 min, client-go's defaults) bounds what one pod can
 *   cost the API server.
 * - A global token bucket (burst 100, 10 per second by default) bounds the
 *   whole recorder.
 * - Fan-out limit: stv_events_record_many() records an Event on at most
 *   `max_objects` of the objects that share a reason and message (the
 *   first ones given), and says in each message how many more share it.
 *
 * What is dropped is counted (stv_events_stats), never silently lost. The
 * recorder keeps at most `max_keys` deduplication keys (client-go: 4,096);
 * keys older than the window are forgotten.
 *
 * Writing is a sink's job (the Kubernetes client's adapter POSTs core v1
 * Events and PATCHes their count; tests and `simulate` record them), fire
 * and forget: a sink that cannot write counts it in its own metrics.
 */
#ifndef STV_EVENTS_H
#define STV_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "clock.h"

/* The involved object. Strings are borrowed for the call. */
struct stv_event_ref {
  const char *kind;       /* "Pod", "Node" */
  const char *api_version; /* "v1" */
  const char *namespace;  /* "" for cluster-scoped objects */
  const char *name;
  const char *uid; /* may be "" when unknown */
};

struct stv_event {
  struct stv_event_ref obj;
  const char *name;    /* the Event's own name: "<object name>.<16 hex digits>", as client-go makes it */
  const char *type;    /* "Normal" or "Warning" */
  const char *reason;  /* UpperCamelCase */
  const char *message; /* at most 1,024 bytes (the API's limit), valid UTF-8 */
  int32_t count;       /* 1 when created; more on updates */
  double first_time;   /* on the recorder's clock */
  double last_time;
};

struct stv_event_sink_ops {
  /* A new Event. */
  void (*create)(void *sink, const struct stv_event *ev);
  /* An Event created before, seen again: count and last_time changed. */
  void (*update)(void *sink, const struct stv_event *ev);
};

struct stv_events_config {
  double similar_window;    /* seconds; default 600 */
  double burst;             /* global bucket size; default 100 */
  double qps;               /* global refill per second; default 10 */
  double object_burst;      /* per involved object; default 25 */
  double object_refill;     /* seconds per token; default 300 */
  size_t max_keys;          /* deduplication keys kept; default 4096 */
  uint32_t max_objects;     /* stv_events_record_many fan-out; default 10 */
  const struct stv_event_sink_ops *sink_ops;
  void *sink;
};

struct stv_events_stats {
  uint64_t created;     /* new Events handed to the sink */
  uint64_t updated;     /* count updates handed to the sink */
  uint64_t deduplicated; /* recordings folded into an existing Event */
  uint64_t rate_limited; /* recordings dropped by a token bucket */
  uint64_t fanned_out;   /* objects left out by the fan-out limit */
  size_t keys;           /* deduplication keys held now (at most max_keys) */
};

struct stv_events;

/* Fills the defaults above into a zeroed config. */
void stv_events_config_default(struct stv_events_config *c);

/* Creates a recorder on clock (borrowed). Returns 0, STV_EINVAL for a
 * config without a sink or with non-positive limits, or STV_ENOMEM. */
int stv_events_new(struct stv_events **out, struct stv_clock *clock, const struct stv_events_config *cfg,
                   struct stv_err *err);
void stv_events_free(struct stv_events *e);

/*
 * Records one Event on obj. Returns 0 when it was created or folded into
 * an existing one, STV_ELIMIT when a token bucket dropped it, STV_ENOMEM.
 */
int stv_events_record(struct stv_events *e, const struct stv_event_ref *obj, const char *type, const char *reason,
                      const char *message);

/*
 * Records the same type, reason and message on each of objs[0..n), but on
 * at most cfg.max_objects of them; when n is larger, each message ends with
 * " (and N more pods)" (the kind in lower case, plural). Returns the number
 * of Events created or updated.
 */
size_t stv_events_record_many(struct stv_events *e, const struct stv_event_ref *objs, size_t n, const char *type,
                              const char *reason, const char *message);

void stv_events_stats(const struct stv_events *e, struct stv_events_stats *out);

#endif
