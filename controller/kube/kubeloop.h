/*
 * The loop's parts (controller/loop/) wired to the API server through the
 * Kubernetes client: the Lease store of leader election (lease.c) and the
 * sink of the Event recorder (eventsink.c).
 */
#ifndef STV_KUBELOOP_H
#define STV_KUBELOOP_H

#include "events.h"
#include "kubeclient.h"
#include "leader.h"

/*
 * The Lease `name` in namespace `ns`, kept as coordination.k8s.io/v1:
 * GET, POST and PUT with the resourceVersion read (a stale one is 409,
 * STV_ECONFLICT). Times are written as MicroTime (RFC 3339, 6 digits).
 */
struct stv_kube_lease_store {
  struct stv_kube *kube; /* borrowed */
  char ns[64];
  char name[254];
  char path[512]; /* .../namespaces/NS/leases/NAME */
  char coll[400]; /* .../namespaces/NS/leases */
};

/* Fills s for the Lease ns/name. STV_EINVAL when a name is not a DNS name. */
int stv_kube_lease_store_init(struct stv_kube_lease_store *s, struct stv_kube *kube, const char *ns,
                              const char *name, struct stv_err *err);

extern const struct stv_lease_store_ops stv_kube_lease_store_ops;

/*
 * Reads the fields of a Lease object into *out. Returns 0, or STV_EPARSE
 * naming the field that is malformed ("spec.renewTime: invalid time ...").
 */
int stv_kube_lease_from_json(const cJSON *obj, struct stv_lease *out, struct stv_err *err);

/* The Lease object for l (owned by the caller, cJSON_Delete), or NULL. */
cJSON *stv_kube_lease_to_json(const struct stv_lease *l, const char *ns, const char *name);

/*
 * Writes Events as core v1 Events: POST on create, a merge PATCH of count
 * and lastTimestamp on update, in the involved object's namespace
 * ("default" for cluster-scoped objects, as kubectl and client-go do).
 * Fire and forget: failures are counted and the last one kept.
 */
struct stv_kube_event_sink {
  struct stv_kube *kube; /* borrowed */
  char component[64];    /* source.component and reportingComponent: "stevedore" */
  char instance[254];    /* reportingInstance: the pod name */
  uint64_t sent, failed, in_flight;
  char last_error[STV_ERR_MSG_MAX];
};

void stv_kube_event_sink_init(struct stv_kube_event_sink *s, struct stv_kube *kube, const char *component,
                              const char *instance);

extern const struct stv_event_sink_ops stv_kube_event_sink_ops;

/* The Event object for ev (owned by the caller), with times from the wall clock now. */
cJSON *stv_kube_event_to_json(const struct stv_event *ev, const char *component, const char *instance);

#endif
