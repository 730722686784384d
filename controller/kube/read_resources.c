/*
 * Resources: Kubernetes quantities as strings or JSON numbers, resource
 * lists (a container's, a node's allocatable), and a pod's effective
 * requests as kube-scheduler computes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_internal.h"

/*
 * Reads a quantity given as a string or, as the API also accepts, a JSON
 * number, which is formatted with the fewest digits that read back as the
 * same double (so 0.1 stays "0.1") before being parsed exactly.
 */
static int read_quantity(struct rd *r, const cJSON *c, const struct jpath *p, int milli, int64_t *out) {
  char num[40];
  const char *text;
  struct stv_err qe = {0, ""};
  struct qbuf q;
  int rc, prec;
  if (stv__jtype_is(c, JT_STRING)) {
    text = c->valuestring;
  } else if (cJSON_IsNumber(c)) {
    for (prec = 15; prec <= 17; prec++) {
      snprintf(num, sizeof(num), "%.*g", prec, c->valuedouble);
      if (strtod(num, NULL) == c->valuedouble) break;
    }
    text = num;
  } else {
    return stv__fail(r, STV_EPARSE, p, "not a quantity (a string or a number)");
  }
  if ((rc = stv_quantity_parse(text, milli, out, &qe)) != 0)
    return stv__fail(r, rc, p, "%s", qe.msg[0] != '\0' ? qe.msg : stv_strerror(rc));
  if (*out < 0) return stv__fail(r, STV_EINVAL, p, "negative quantity \"%s\"", stv__quote(text, &q));
  return 0;
}

/*
 * Reads a ResourceList (obj may be NULL) into out, one dimension per name:
 * cpu in millicores and the rest in whole units, rounded up, or every
 * resource in thousandths when all_milli is set. Names present in skip
 * (when not NULL) are checked but left out. A zero amount of a name not
 * yet known adds no dimension: it changes nothing.
 */
int stv__read_reslist(struct rd *r, const cJSON *obj, const struct jpath *p, const cJSON *skip, int all_milli,
                      struct resv *out) {
  const cJSON *c;
  cJSON_ArrayForEach(c, obj) {
    struct jpath pc = {p, c->string, 0};
    int64_t v = 0;
    int k, rc;
    rc = read_quantity(r, c, &pc, all_milli || strcmp(c->string, "cpu") == 0, &v);
    if (rc != 0) return rc;
    if (skip != NULL && stv__member(skip, c->string) != NULL) continue;
    k = stv_resnames_index(&r->s->res, &r->s->pool, c->string, 0);
    if (k == STV_ENOTFOUND) {
      if (v == 0) continue;
      k = stv_resnames_index(&r->s->res, &r->s->pool, c->string, 1);
    }
    if (k == STV_ELIMIT)
      return stv__fail(r, STV_ELIMIT, &pc, "more than %d distinct resource names", STV_MAX_RES);
    if (k < 0) return stv__oom(r);
    out->v[k] = v;
    out->has |= UINT32_C(1) << k;
  }
  return 0;
}

/*
 * A container's requests in thousandths of a unit: requests[r], else
 * limits[r] (the API's defaulting).
 */
static int read_container(struct rd *r, const cJSON *c, const struct jpath *p, struct resv *out,
                          int *sidecar) {
  struct jpath pr = {p, "resources", 0};
  struct jpath preq = {&pr, "requests", 0}, plim = {&pr, "limits", 0};
  const cJSON *res, *req, *lim;
  const char *policy;
  int rc;
  memset(out, 0, sizeof(*out));
  *sidecar = 0;
  if (!cJSON_IsObject(c)) return stv__fail(r, STV_EPARSE, p, "not an object");
  if ((rc = stv__get(r, c, "resources", p, JT_OBJECT, &res)) != 0) return rc;
  if ((rc = stv__get(r, res, "requests", &pr, JT_OBJECT, &req)) != 0) return rc;
  if ((rc = stv__get(r, res, "limits", &pr, JT_OBJECT, &lim)) != 0) return rc;
  if ((rc = stv__read_reslist(r, req, &preq, NULL, 1, out)) != 0) return rc;
  if ((rc = stv__read_reslist(r, lim, &plim, req, 1, out)) != 0) return rc;
  if ((rc = stv__get_str(r, c, "restartPolicy", p, &policy)) != 0) return rc;
  *sidecar = policy != NULL && strcmp(policy, "Always") == 0;
  return 0;
}

static int res_add(struct rd *r, const struct jpath *p, int64_t *a, int64_t b) {
  if (b > INT64_MAX - *a) return stv__fail(r, STV_ERANGE, p, "total requests overflow 64 bits");
  *a += b;
  return 0;
}

static int resv_add(struct rd *r, const struct jpath *p, struct resv *a, const struct resv *b) {
  int k;
  for (k = 0; k < STV_MAX_RES; k++) {
    int rc = res_add(r, p, &a->v[k], b->v[k]);
    if (rc != 0) return rc;
  }
  a->has |= b->has;
  return 0;
}

static void resv_max(struct resv *a, const struct resv *b) {
  int k;
  for (k = 0; k < STV_MAX_RES; k++)
    if (b->v[k] > a->v[k]) a->v[k] = b->v[k];
  a->has |= b->has;
}

/* Resources that pod-level spec.resources may set (KEP-2837). */
static int pod_level_resource(const char *name) {
  return strcmp(name, "cpu") == 0 || strcmp(name, "memory") == 0 || strncmp(name, "hugepages-", 10) == 0;
}

/*
 * Effective requests, as kube-scheduler computes them (component-helpers
 * resource.PodRequests, KEP-753): per resource the larger of the sum over
 * regular and sidecar containers and, for each regular init container, its
 * request plus the sidecars started before it; then pod-level requests
 * where set, plus overhead, plus the pod's slot. Amounts are added up in
 * thousandths and rounded up to whole units (cpu: millicores) at the end,
 * as the scheduler adds exact quantities and rounds their total.
 */
int stv__pod_requests(struct rd *r, const cJSON *spec, const struct jpath *ps, int64_t req[STV_MAX_RES]) {
  struct jpath pc = {ps, "containers", 0}, pi = {ps, "initContainers", 0};
  struct jpath pr = {ps, "resources", 0}, po = {ps, "overhead", 0};
  struct jpath preq = {&pr, "requests", 0}, plim = {&pr, "limits", 0};
  struct resv sum, side, init, c, use, podreq, podlim, over;
  const cJSON *containers, *inits, *res, *rq, *lm, *ov, *e;
  long i;
  int k, rc, sidecar;

  memset(&sum, 0, sizeof(sum));
  memset(&side, 0, sizeof(side));
  memset(&init, 0, sizeof(init));
  memset(&podreq, 0, sizeof(podreq));
  memset(&podlim, 0, sizeof(podlim));
  memset(&over, 0, sizeof(over));
  if ((rc = stv__get(r, spec, "containers", ps, JT_ARRAY, &containers)) != 0) return rc;
  if ((rc = stv__get(r, spec, "initContainers", ps, JT_ARRAY, &inits)) != 0) return rc;
  i = 0;
  cJSON_ArrayForEach(e, containers) {
    struct jpath pe = {&pc, NULL, i++};
    if ((rc = read_container(r, e, &pe, &c, &sidecar)) != 0) return rc;
    if ((rc = resv_add(r, &pc, &sum, &c)) != 0) return rc;
  }
  i = 0;
  cJSON_ArrayForEach(e, inits) {
    struct jpath pe = {&pi, NULL, i++};
    if ((rc = read_container(r, e, &pe, &c, &sidecar)) != 0) return rc;
    if (sidecar) {
      if ((rc = resv_add(r, &pi, &sum, &c)) != 0) return rc;
      if ((rc = resv_add(r, &pi, &side, &c)) != 0) return rc;
      use = side;
    } else {
      use = c;
      if ((rc = resv_add(r, &pi, &use, &side)) != 0) return rc;
    }
    resv_max(&init, &use);
  }
  resv_max(&sum, &init);

  /* Pod-level requests replace the containers' sum where set; a pod-level
     limit stands in for a request that neither the pod nor a container
     sets, as the API server's defaulting does. */
  if ((rc = stv__get(r, spec, "resources", ps, JT_OBJECT, &res)) != 0) return rc;
  if ((rc = stv__get(r, res, "requests", &pr, JT_OBJECT, &rq)) != 0) return rc;
  if ((rc = stv__get(r, res, "limits", &pr, JT_OBJECT, &lm)) != 0) return rc;
  if ((rc = stv__read_reslist(r, rq, &preq, NULL, 1, &podreq)) != 0) return rc;
  if ((rc = stv__read_reslist(r, lm, &plim, NULL, 1, &podlim)) != 0) return rc;
  for (k = 0; k < r->s->res.n; k++) {
    uint32_t bit = UINT32_C(1) << k;
    if (!pod_level_resource(r->s->res.name[k])) continue;
    if (podreq.has & bit)
      sum.v[k] = podreq.v[k];
    else if (!(sum.has & bit) && (podlim.has & bit))
      sum.v[k] = podlim.v[k];
  }

  if ((rc = stv__get(r, spec, "overhead", ps, JT_OBJECT, &ov)) != 0) return rc;
  if ((rc = stv__read_reslist(r, ov, &po, NULL, 1, &over)) != 0) return rc;
  if ((rc = resv_add(r, &po, &sum, &over)) != 0) return rc;
  for (k = 0; k < STV_MAX_RES; k++)
    req[k] = k == STV_RES_CPU ? sum.v[k] : sum.v[k] / 1000 + (sum.v[k] % 1000 != 0);
  req[STV_RES_PODS] = 1;
  return 0;
}
