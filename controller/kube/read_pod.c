/*
 * Pods: requests (read_resources.c), labels, owner, node selector and
 * affinity, pod (anti-)affinity, tolerations, topology spread, the spot
 * opt-out, host ports (the NodePorts filter), the scheduling fields
 * (priority, preemption policy, gates, scheduler name, nominated node) and
 * the volumes that bind the pod to nodes (recorded by read_storage.c).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_internal.h"

/* ---------------------------------------------------------------------- */
/* Pod scheduling constraints                                             */

/*
 * Merges matchLabelKeys (op In) or mismatchLabelKeys (op NotIn) into sel
 * as "key op (the pod's value)", as kube-apiserver does when it admits the
 * pod; keys the pod has no label for are ignored, and a requirement already
 * there (merged by the API server) is not repeated. sel has room for them.
 */
static int merge_label_keys(struct rd *r, const cJSON *keys, const struct jpath *p, enum stv_op op,
                            const struct stv_labels *self, struct stv_selector *sel) {
  const cJSON *k;
  uint32_t i;
  int rc;
  if ((rc = stv__check_strings(r, keys, p)) != 0) return rc;
  cJSON_ArrayForEach(k, keys) {
    const char *value = stv_labels_get(self, k->valuestring);
    const char *key;
    int dup = 0;
    if (value == NULL) continue;
    if ((key = stv__intern(r, k->valuestring)) == NULL) return stv__oom(r);
    for (i = 0; i < sel->n && !dup; i++) {
      const struct stv_requirement *q = &sel->reqs[i];
      dup = q->key == key && q->op == op && q->nvalues == 1 && q->values[0] == value;
    }
    if (dup) continue;
    if ((rc = stv__one_value_req(r, key, op, value, &sel->reqs[sel->n])) != 0) return rc;
    sel->n++;
  }
  return 0;
}

/*
 * Required node affinity. For a DaemonSet pod the matchFields on
 * metadata.name that the DaemonSet controller adds to pin the pod to its
 * node are dropped, with the terms that held nothing else, so that the
 * class describes the DaemonSet's template.
 */
static int read_node_affinity(struct rd *r, const cJSON *affinity, const struct jpath *pa, int daemonset,
                              struct stv_node_affinity *out) {
  struct jpath pn = {pa, "nodeAffinity", 0};
  struct jpath pr = {&pn, "requiredDuringSchedulingIgnoredDuringExecution", 0};
  struct jpath pt = {&pr, "nodeSelectorTerms", 0};
  const cJSON *na, *req, *terms;
  int rc;

  out->n = 0;
  out->terms = NULL;
  if ((rc = stv__get(r, affinity, "nodeAffinity", pa, JT_OBJECT, &na)) != 0) return rc;
  if ((rc = stv__get(r, na, "requiredDuringSchedulingIgnoredDuringExecution", &pn, JT_OBJECT, &req)) != 0)
    return rc;
  if (req == NULL) return 0;
  if ((rc = stv__get(r, req, "nodeSelectorTerms", &pr, JT_ARRAY, &terms)) != 0) return rc;
  return stv__read_selector_terms(r, terms, &pt, daemonset ? TERMS_DAEMONSET : TERMS_POD, out);
}

/* A required pod affinity or anti-affinity term (an element of stv__read_list; self: the pod's labels). */
static int read_pod_term(struct rd *r, const cJSON *t, const struct jpath *p, const void *self, void *slot) {
  struct jpath pls = {p, "labelSelector", 0}, pmk = {p, "matchLabelKeys", 0};
  struct jpath pmm = {p, "mismatchLabelKeys", 0}, pns = {p, "namespaces", 0};
  struct jpath pnss = {p, "namespaceSelector", 0};
  struct stv_pod_term *pt = slot;
  const cJSON *ls, *mk, *mm, *nsl, *nss;
  const char *topo;
  int rc;
  if ((rc = stv__get(r, t, "labelSelector", p, JT_OBJECT, &ls)) != 0) return rc;
  if ((rc = stv__get(r, t, "matchLabelKeys", p, JT_ARRAY, &mk)) != 0) return rc;
  if ((rc = stv__get(r, t, "mismatchLabelKeys", p, JT_ARRAY, &mm)) != 0) return rc;
  if ((rc = stv__get(r, t, "namespaces", p, JT_ARRAY, &nsl)) != 0) return rc;
  if ((rc = stv__get(r, t, "namespaceSelector", p, JT_OBJECT, &nss)) != 0) return rc;
  if ((rc = stv__need_str(r, t, "topologyKey", p, &topo)) != 0) return rc;
  if (ls == NULL) {
    pt->match_none = 1;
  } else {
    rc = stv__read_label_selector(r, ls, &pls, stv__array_len(mk) + stv__array_len(mm), &pt->sel);
    if (rc != 0) return rc;
    if ((rc = merge_label_keys(r, mk, &pmk, STV_OP_IN, self, &pt->sel)) != 0) return rc;
    if ((rc = merge_label_keys(r, mm, &pmm, STV_OP_NOT_IN, self, &pt->sel)) != 0) return rc;
  }
  if ((pt->topology_key = stv__intern(r, topo)) == NULL) return stv__oom(r);
  if ((rc = stv__check_strings(r, nsl, &pns)) != 0) return rc;
  if (nsl != NULL && nsl->child != NULL) {
    const cJSON *e;
    pt->namespaces = stv__scratch(r, stv__array_len(nsl), sizeof(*pt->namespaces));
    if (pt->namespaces == NULL) return stv__oom(r);
    cJSON_ArrayForEach(e, nsl) {
      if ((pt->namespaces[pt->nns] = stv__intern(r, e->valuestring)) == NULL) return stv__oom(r);
      pt->nns++;
    }
  }
  if (nss != NULL) {
    pt->has_ns_sel = 1;
    if ((rc = stv__read_label_selector(r, nss, &pnss, 0, &pt->ns_sel)) != 0) return rc;
  }
  return 0;
}

/* A topologySpreadConstraints element (of stv__read_list; self: the pod's labels). */
static int read_spread(struct rd *r, const cJSON *c, const struct jpath *p, const void *self, void *slot) {
  struct jpath pms = {p, "maxSkew", 0}, pmd = {p, "minDomains", 0};
  struct jpath pls = {p, "labelSelector", 0}, pmk = {p, "matchLabelKeys", 0};
  struct stv_spread *sp = slot;
  const cJSON *ls, *mk;
  const char *topo;
  int present, choice, rc;
  if ((rc = stv__get_int32(r, c, "maxSkew", p, &present, &sp->max_skew)) != 0) return rc;
  if (!present) return stv__fail(r, STV_EPARSE, &pms, "missing");
  if (sp->max_skew < 1) return stv__fail(r, STV_EINVAL, &pms, "must be at least 1");
  if ((rc = stv__need_str(r, c, "topologyKey", p, &topo)) != 0) return rc;
  if ((sp->topology_key = stv__intern(r, topo)) == NULL) return stv__oom(r);
  rc = stv__read_choice(r, c, "whenUnsatisfiable", p, "DoNotSchedule", "ScheduleAnyway", -1, &choice);
  if (rc != 0) return rc;
  sp->do_not_schedule = choice == 0;
  if ((rc = stv__get_int32(r, c, "minDomains", p, &present, &sp->min_domains)) != 0) return rc;
  if (present && sp->min_domains < 1) return stv__fail(r, STV_EINVAL, &pmd, "must be at least 1");
  if (present && !sp->do_not_schedule)
    return stv__fail(r, STV_EINVAL, &pmd,
                     "set with whenUnsatisfiable ScheduleAnyway; the API server accepts minDomains "
                     "only with DoNotSchedule (remove minDomains or make the constraint DoNotSchedule)");
  rc = stv__read_choice(r, c, "nodeAffinityPolicy", p, "Honor", "Ignore", 0, &choice);
  if (rc != 0) return rc;
  sp->honor_node_affinity = choice == 0;
  rc = stv__read_choice(r, c, "nodeTaintsPolicy", p, "Honor", "Ignore", 1, &choice);
  if (rc != 0) return rc;
  sp->honor_taints = choice == 0;
  if ((rc = stv__get(r, c, "labelSelector", p, JT_OBJECT, &ls)) != 0) return rc;
  if ((rc = stv__get(r, c, "matchLabelKeys", p, JT_ARRAY, &mk)) != 0) return rc;
  if (ls == NULL) {
    sp->match_none = 1;
  } else {
    if ((rc = stv__read_label_selector(r, ls, &pls, stv__array_len(mk), &sp->sel)) != 0) return rc;
    if ((rc = merge_label_keys(r, mk, &pmk, STV_OP_IN, self, &sp->sel)) != 0) return rc;
  }
  return 0;
}

/* A tolerations element (of stv__read_list). */
static int read_toleration(struct rd *r, const cJSON *c, const struct jpath *p, const void *ctx, void *slot) {
  struct jpath po = {p, "operator", 0}, pv = {p, "value", 0}, pe = {p, "effect", 0};
  struct stv_toleration *t = slot;
  const char *key, *op, *value, *effect;
  struct qbuf q;
  int rc;
  (void)ctx;
  if ((rc = stv__get_str(r, c, "key", p, &key)) != 0) return rc;
  if ((rc = stv__get_str(r, c, "operator", p, &op)) != 0) return rc;
  if ((rc = stv__get_str(r, c, "value", p, &value)) != 0) return rc;
  if ((rc = stv__get_str(r, c, "effect", p, &effect)) != 0) return rc;
  if (op == NULL || *op == '\0' || strcmp(op, "Equal") == 0) {
    t->exists = 0;
  } else if (strcmp(op, "Exists") == 0) {
    t->exists = 1;
  } else {
    return stv__fail(r, STV_EINVAL, &po, "unknown operator \"%s\" (Exists or Equal)", stv__quote(op, &q));
  }
  if ((key == NULL || *key == '\0') && !t->exists)
    return stv__fail(r, STV_EINVAL, &po, "must be Exists when key is empty");
  if (t->exists && value != NULL && *value != '\0')
    return stv__fail(r, STV_EINVAL, &pv, "must be empty when operator is Exists");
  if ((rc = stv__parse_effect(r, effect, &pe, 1, &t->effect)) != 0) return rc;
  t->key = NULL;
  if (key != NULL && *key != '\0' && (t->key = stv__intern(r, key)) == NULL) return stv__oom(r);
  t->value = NULL;
  if (!t->exists && (t->value = stv__intern(r, value != NULL ? value : "")) == NULL) return stv__oom(r);
  return 0;
}

static int has_true(struct rd *r, const cJSON *ann, const struct jpath *pa, const char *key, int *out) {
  const char *v;
  int rc = stv__get_str(r, ann, key, pa, &v);
  *out = v != NULL && strcmp(v, "true") == 0;
  return rc;
}

/*
 * The annotations a disruption decision reads (docs/consolidation.md): the
 * do-not-disrupt family, Cluster Autoscaler's safe-to-evict either way, and
 * controller.kubernetes.io/pod-deletion-cost (a 32-bit integer, as the API
 * server checks).
 */
static int read_disruption(struct rd *r, const cJSON *ann, const struct jpath *pa, struct stv_pod *pod) {
  static const char cost_key[] = "controller.kubernetes.io/pod-deletion-cost";
  struct jpath pcost = {pa, cost_key, 0};
  const char *v, *cost;
  struct qbuf q;
  int rc, flag;

  if ((rc = has_true(r, ann, pa, "stevedore.io/do-not-disrupt", &flag)) != 0) return rc;
  if (flag) pod->disrupt |= STV_PD_DND_STEVEDORE;
  if ((rc = has_true(r, ann, pa, "karpenter.sh/do-not-disrupt", &flag)) != 0) return rc;
  if (flag) pod->disrupt |= STV_PD_DND_KARPENTER;
  if ((rc = stv__get_str(r, ann, "cluster-autoscaler.kubernetes.io/safe-to-evict", pa, &v)) != 0) return rc;
  if (v != NULL && strcmp(v, "false") == 0) pod->disrupt |= STV_PD_DND_CA;
  if (v != NULL && strcmp(v, "true") == 0) pod->disrupt |= STV_PD_SAFE_TO_EVICT;
  if (pod->disrupt & (STV_PD_DND_STEVEDORE | STV_PD_DND_KARPENTER | STV_PD_DND_CA))
    pod->flags |= STV_POD_DO_NOT_DISRUPT;
  if ((rc = stv__get_str(r, ann, cost_key, pa, &cost)) != 0) return rc;
  if (cost != NULL) {
    char *end;
    long long x;
    errno = 0;
    x = strtoll(cost, &end, 10);
    if (*cost == '\0' || *end != '\0' || errno != 0 || x < INT32_MIN || x > INT32_MAX || cost[0] == ' ')
      return stv__fail(r, STV_EINVAL, &pcost, "\"%s\" is not a 32-bit integer (the API server refuses it)",
                       stv__quote(cost, &q));
    pod->deletion_cost = (int32_t)x;
    pod->disrupt |= STV_PD_HAS_DELETION_COST;
  }
  return 0;
}

/*
 * Whether volume v is local storage that an eviction loses, as Cluster
 * Autoscaler's drain rules judge it: a hostPath, or an emptyDir whose
 * medium is not Memory.
 */
static int is_local_volume(struct rd *r, const cJSON *v, const struct jpath *pv, int *out) {
  struct jpath pe = {pv, "emptyDir", 0};
  const cJSON *ed;
  const char *medium;
  int rc;
  *out = stv__member(v, "hostPath") != NULL;
  if ((rc = stv__get(r, v, "emptyDir", pv, JT_OBJECT, &ed)) != 0) return rc;
  if (ed == NULL) return 0;
  if ((rc = stv__get_str(r, ed, "medium", &pe, &medium)) != 0) return rc;
  if (medium == NULL || strcmp(medium, "Memory") != 0) *out = 1;
  return 0;
}

/* spec.terminationGracePeriodSeconds: absent is the default; a negative one the API server makes 1. */
static int read_grace(struct rd *r, const cJSON *spec, struct stv_pod *pod) {
  int present, rc;
  rc = stv__get_int32(r, spec, "terminationGracePeriodSeconds", &P_SPEC, &present, &pod->grace);
  if (rc != 0) return rc;
  if (!present) pod->grace = STV_GRACE_DEFAULT;
  if (pod->grace < 0) pod->grace = 1;
  return 0;
}

/* The owner: the ownerReferences entry with controller: true, else the first. */
static const cJSON *pick_owner(const cJSON *refs, long *index) {
  const cJSON *e;
  long i = 0;
  cJSON_ArrayForEach(e, refs) {
    if (cJSON_IsObject(e) && cJSON_IsTrue(stv__member(e, "controller"))) {
      *index = i;
      return e;
    }
    i++;
  }
  *index = 0;
  return refs != NULL ? refs->child : NULL;
}

/*
 * The pod's owner: owner_kind/owner_name, and for a DaemonSet the class's
 * daemonset flag and owner_uid (the DaemonSet's uid, or "<ns>/<name>" in
 * hand-written snapshots that lack uids).
 */
static int read_owner(struct rd *r, const cJSON *meta, struct stv_pod *pod, struct stv_class *c) {
  struct jpath prefs = {&P_METADATA, "ownerReferences", 0}, po = {&prefs, NULL, 0};
  const cJSON *refs, *owner;
  const char *okind, *oname, *ouid;
  long oi;
  int rc;

  if ((rc = stv__get(r, meta, "ownerReferences", &P_METADATA, JT_ARRAY, &refs)) != 0) return rc;
  pod->disrupt |= STV_PD_NO_CONTROLLER;
  if ((owner = pick_owner(refs, &oi)) == NULL) return 0;
  po.idx = oi;
  if (!cJSON_IsObject(owner)) return stv__fail(r, STV_EPARSE, &po, "not an object");
  if (cJSON_IsTrue(stv__member(owner, "controller"))) pod->disrupt &= (uint8_t)~STV_PD_NO_CONTROLLER;
  if ((rc = stv__need_str(r, owner, "kind", &po, &okind)) != 0) return rc;
  if ((rc = stv__need_str(r, owner, "name", &po, &oname)) != 0) return rc;
  if ((rc = stv__get_str(r, owner, "uid", &po, &ouid)) != 0) return rc;
  if ((pod->owner_kind = stv__intern(r, okind)) == NULL) return stv__oom(r);
  if ((pod->owner_name = stv__intern(r, oname)) == NULL) return stv__oom(r);
  if (strcmp(okind, "DaemonSet") != 0) return 0;
  c->daemonset = 1;
  if (ouid != NULL && *ouid != '\0') {
    c->owner_uid = stv__intern(r, ouid);
  } else {
    size_t len = strlen(pod->ns) + strlen(oname) + 2;
    char *buf = stv__scratch(r, len, 1);
    if (buf == NULL) return stv__oom(r);
    snprintf(buf, len, "%s/%s", pod->ns, oname);
    c->owner_uid = stv__intern(r, buf);
  }
  return c->owner_uid != NULL ? 0 : stv__oom(r);
}

/*
 * A preferred pod anti-affinity element (of stv__read_list; self: the
 * pod's labels): its podAffinityTerm, read as a required term is. The
 * weight must be 1..100, as the API server checks; it is not kept.
 */
static int read_preferred_term(struct rd *r, const cJSON *w, const struct jpath *p, const void *self,
                               void *slot) {
  struct jpath pw = {p, "weight", 0}, pt = {p, "podAffinityTerm", 0};
  const cJSON *term;
  int32_t weight;
  int present, rc;
  if ((rc = stv__get_int32(r, w, "weight", p, &present, &weight)) != 0) return rc;
  if (!present) return stv__fail(r, STV_EPARSE, &pw, "missing");
  if (weight < 1 || weight > 100)
    return stv__fail(r, STV_EINVAL, &pw, "%d is out of range (1 to 100)", (int)weight);
  if ((rc = stv__get(r, w, "podAffinityTerm", p, JT_OBJECT, &term)) != 0) return rc;
  if (term == NULL) return stv__fail(r, STV_EPARSE, &pt, "missing");
  return read_pod_term(r, term, &pt, self, slot);
}

/* spec.priorityClassName (the repack keeps system-critical pods); spec.priority is read with the
 * scheduling fields (read_scheduling). */
static int read_priority(struct rd *r, const cJSON *spec, struct stv_pod *pod) {
  const char *pc;
  int rc;
  if ((rc = stv__get_str(r, spec, "priorityClassName", &P_SPEC, &pc)) != 0) return rc;
  if (pc != NULL && *pc != '\0' && (pod->priority_class = stv__intern(r, pc)) == NULL) return stv__oom(r);
  return 0;
}

/* nodeSelector, required node and pod (anti-)affinity, tolerations, spread. */
static int read_constraints(struct rd *r, const cJSON *spec, struct stv_class *c) {
  struct jpath paff = {&P_SPEC, "affinity", 0};
  struct jpath ppa = {&paff, "podAffinity", 0}, pan = {&paff, "podAntiAffinity", 0};
  struct jpath ppar = {&ppa, "requiredDuringSchedulingIgnoredDuringExecution", 0};
  struct jpath panr = {&pan, "requiredDuringSchedulingIgnoredDuringExecution", 0};
  struct jpath pns = {&P_SPEC, "nodeSelector", 0}, ptol = {&P_SPEC, "tolerations", 0};
  struct jpath psp = {&P_SPEC, "topologySpreadConstraints", 0};
  const cJSON *nsel, *aff, *pa, *an, *par, *anr, *tols, *spreads;
  struct stv_labels nsmap;
  int rc;

  if ((rc = stv__get(r, spec, "nodeSelector", &P_SPEC, JT_OBJECT, &nsel)) != 0) return rc;
  if ((rc = stv__read_string_map(r, nsel, &pns, &nsmap)) != 0) return rc;
  if ((rc = stv__map_to_reqs(r, &nsmap, 0, &c->node_selector)) != 0) return rc;
  if ((rc = stv__get(r, spec, "affinity", &P_SPEC, JT_OBJECT, &aff)) != 0) return rc;
  if ((rc = read_node_affinity(r, aff, &paff, c->daemonset, &c->affinity)) != 0) return rc;
  if ((rc = stv__get(r, aff, "podAffinity", &paff, JT_OBJECT, &pa)) != 0) return rc;
  rc = stv__get(r, pa, "requiredDuringSchedulingIgnoredDuringExecution", &ppa, JT_ARRAY, &par);
  if (rc != 0) return rc;
  c->aff = stv__read_list(r, par, &ppar, sizeof(*c->aff), read_pod_term, &c->labels, &c->naff, &rc);
  if (rc != 0) return rc;
  if ((rc = stv__get(r, aff, "podAntiAffinity", &paff, JT_OBJECT, &an)) != 0) return rc;
  rc = stv__get(r, an, "requiredDuringSchedulingIgnoredDuringExecution", &pan, JT_ARRAY, &anr);
  if (rc != 0) return rc;
  c->anti = stv__read_list(r, anr, &panr, sizeof(*c->anti), read_pod_term, &c->labels, &c->nanti, &rc);
  if (rc != 0) return rc;
  {
    struct jpath panp = {&pan, "preferredDuringSchedulingIgnoredDuringExecution", 0};
    const cJSON *anp;
    rc = stv__get(r, an, "preferredDuringSchedulingIgnoredDuringExecution", &pan, JT_ARRAY, &anp);
    if (rc != 0) return rc;
    c->panti =
        stv__read_list(r, anp, &panp, sizeof(*c->panti), read_preferred_term, &c->labels, &c->npanti, &rc);
    if (rc != 0) return rc;
  }
  if ((rc = stv__get(r, spec, "tolerations", &P_SPEC, JT_ARRAY, &tols)) != 0) return rc;
  c->tol = stv__read_list(r, tols, &ptol, sizeof(*c->tol), read_toleration, NULL, &c->ntol, &rc);
  if (rc != 0) return rc;
  if ((rc = stv__get(r, spec, "topologySpreadConstraints", &P_SPEC, JT_ARRAY, &spreads)) != 0) return rc;
  c->spread = stv__read_list(r, spreads, &psp, sizeof(*c->spread), read_spread, &c->labels, &c->nspread, &rc);
  return rc;
}

/*
 * The labels that mark a node as spot capacity, by the provisioners and
 * clouds the reader knows (see capacity_type in read_node.c), with their spot value.
 */
static const char *const spot_labels[][2] = {
    {"stevedore.io/capacity-type", "spot"},       {"karpenter.sh/capacity-type", "spot"},
    {"eks.amazonaws.com/capacityType", "SPOT"},   {"cloud.google.com/gke-spot", "true"},
    {"cloud.google.com/gke-preemptible", "true"}, {"kubernetes.azure.com/scalesetpriority", "spot"}};
#define NSPOT_LABELS (sizeof(spot_labels) / sizeof(spot_labels[0]))

/*
 * A pod annotated stevedore.io/spot: "false" opts out of spot capacity: its
 * class gets "key NotIn (spot value)" for each label above, ANDed with its
 * nodeSelector, so that it matches no spot node, new (which carries
 * stevedore.io/capacity-type) or existing (labelled by any of them), while
 * a node without these labels still matches.
 */
static int add_spot_opt_out(struct rd *r, struct stv_selector *sel) {
  struct stv_requirement *reqs = stv__scratch(r, (size_t)sel->n + NSPOT_LABELS, sizeof(*reqs));
  size_t i;
  if (reqs == NULL) return stv__oom(r);
  if (sel->n > 0) memcpy(reqs, sel->reqs, sel->n * sizeof(*reqs));
  for (i = 0; i < NSPOT_LABELS; i++) {
    const char *key = stv__intern(r, spot_labels[i][0]), *value = stv__intern(r, spot_labels[i][1]);
    int rc;
    if (key == NULL || value == NULL) return stv__oom(r);
    if ((rc = stv__one_value_req(r, key, STV_OP_NOT_IN, value, &reqs[sel->n + i])) != 0) return rc;
  }
  sel->reqs = reqs;
  sel->n += (uint32_t)NSPOT_LABELS;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Host ports (the NodePorts filter)                                      */

/* One host port a pod asks for, normalised: protocol TCP when absent,
 * hostIP "0.0.0.0" (every address) when absent or empty. */
struct host_port {
  const char *proto;
  int32_t port;
  const char *ip; /* interned */
};

/*
 * Interns STV_HOST_PORT_LABEL_PREFIX "<proto>/<port>", then "@<ip>" when ip
 * is not NULL; NULL when out of memory. The hostIP is kept as written: the
 * scheduler compares it as a string.
 */
static const char *host_port_key(struct rd *r, const struct host_port *hp, const char *ip) {
  size_t len = sizeof(STV_HOST_PORT_LABEL_PREFIX) + 16 + (ip != NULL ? strlen(ip) + 1 : 0);
  char *buf = stv__scratch(r, len, 1);
  if (buf == NULL) return NULL;
  snprintf(buf, len, "%s%s/%d%s%s", STV_HOST_PORT_LABEL_PREFIX, hp->proto, (int)hp->port,
           ip != NULL ? "@" : "", ip != NULL ? ip : "");
  return stv__intern(r, buf);
}

/* Reads spec.containers[i].ports[j] into *out; out->port is 0 when it asks for no host port. */
static int read_host_port(struct rd *r, const cJSON *port, const struct jpath *p, int host_network,
                          struct host_port *out) {
  static const char *const protos[] = {"TCP", "UDP", "SCTP"};
  struct jpath php = {p, "hostPort", 0}, pcp = {p, "containerPort", 0}, ppr = {p, "protocol", 0};
  const char *proto, *ip;
  int32_t hp, cp;
  int has_hp, has_cp, rc;
  unsigned k;
  struct qbuf q;

  out->port = 0;
  if (!cJSON_IsObject(port)) return stv__fail(r, STV_EPARSE, p, "not an object");
  if ((rc = stv__get_int32(r, port, "hostPort", p, &has_hp, &hp)) != 0) return rc;
  if ((rc = stv__get_int32(r, port, "containerPort", p, &has_cp, &cp)) != 0) return rc;
  if ((rc = stv__get_str(r, port, "protocol", p, &proto)) != 0) return rc;
  if ((rc = stv__get_str(r, port, "hostIP", p, &ip)) != 0) return rc;
  if (has_hp && (hp < 0 || hp > 65535))
    return stv__fail(r, STV_EINVAL, &php, "%d is not a port (1 to 65535, or 0 for none)", (int)hp);
  if (has_cp && (cp < 1 || cp > 65535))
    return stv__fail(r, STV_EINVAL, &pcp, "%d is not a port (1 to 65535)", (int)cp);
  /* With hostNetwork the API server defaults hostPort to containerPort. */
  if (host_network && hp == 0) {
    if (!has_cp) return stv__fail(r, STV_EPARSE, &pcp, "missing (spec.hostNetwork makes it a host port)");
    hp = cp;
  }
  if (hp == 0) return 0;
  if (proto == NULL || *proto == '\0') proto = "TCP";
  for (k = 0; k < sizeof(protos) / sizeof(protos[0]); k++)
    if (strcmp(proto, protos[k]) == 0) break;
  if (k == sizeof(protos) / sizeof(protos[0]))
    return stv__fail(r, STV_EINVAL, &ppr, "unknown protocol \"%s\" (TCP, UDP or SCTP)",
                     stv__quote(proto, &q));
  out->proto = protos[k];
  out->port = hp;
  if ((out->ip = stv__intern(r, ip != NULL && *ip != '\0' ? ip : "0.0.0.0")) == NULL) return stv__oom(r);
  return 0;
}

/*
 * Appends to terms[*n] the anti-affinity term "pods with label key, in any
 * namespace, not on this node", unless it is there already; terms has room.
 */
static int host_port_term(struct rd *r, const char *key, struct stv_pod_term *terms, uint32_t *n) {
  struct stv_requirement *req;
  uint32_t i;
  for (i = 0; i < *n; i++)
    if (terms[i].sel.n == 1 && terms[i].sel.reqs[0].key == key && terms[i].has_ns_sel) return 0;
  if ((req = stv__scratch(r, 1, sizeof(*req))) == NULL) return stv__oom(r);
  req->key = key;
  req->op = STV_OP_EXISTS;
  memset(&terms[*n], 0, sizeof(terms[*n]));
  terms[*n].sel.n = 1;
  terms[*n].sel.reqs = req;
  if ((terms[*n].topology_key = stv__intern(r, "kubernetes.io/hostname")) == NULL) return stv__oom(r);
  terms[*n].has_ns_sel = 1; /* namespaceSelector {}: pods of every namespace */
  (*n)++;
  return 0;
}

/*
 * Host ports, as kube-scheduler's NodePorts filter sees them (Kubernetes
 * 1.29 to 1.31: the ports of spec.containers; init containers' ports,
 * sidecars' included, are not counted). Two pods conflict on a node when
 * they ask for the same port and protocol and their hostIPs overlap: equal,
 * or either one "0.0.0.0" (every address). The class carries each port as
 * reserved labels, "<prefix><proto>/<port>" and "<prefix><proto>/<port>@<ip>"
 * (STV_HOST_PORT_LABEL_PREFIX: a key the API rejects, so no real pod has
 * it), and as required anti-affinity terms on kubernetes.io/hostname over
 * every namespace: for hostIP 0.0.0.0 against any pod holding the port,
 * for a specific IP against pods holding it on that IP or on 0.0.0.0. The
 * packer's hostname anti-affinity, which counts bound pods and the
 * DaemonSets of new nodes, then keeps such pods apart exactly as NodePorts
 * does.
 */
static int read_host_ports(struct rd *r, const cJSON *spec, struct stv_class *c) {
  struct jpath pc = {&P_SPEC, "containers", 0};
  const cJSON *containers, *e, *ports, *port;
  struct host_port *hp = NULL;
  struct stv_label *kv;
  struct stv_pod_term *terms;
  uint32_t nhp = 0, cap = 0, nkv, nterms, i, j;
  int host_network, rc;
  long ci = 0;

  if ((rc = stv__get_bool(r, spec, "hostNetwork", &P_SPEC, &host_network)) != 0) return rc;
  if ((rc = stv__get(r, spec, "containers", &P_SPEC, JT_ARRAY, &containers)) != 0) return rc;
  cJSON_ArrayForEach(e, containers) {
    struct jpath pe = {&pc, NULL, ci++};
    if (!cJSON_IsObject(e)) return stv__fail(r, STV_EPARSE, &pe, "not an object");
    if ((rc = stv__get(r, e, "ports", &pe, JT_ARRAY, &ports)) != 0) return rc;
    cap += stv__array_len(ports);
  }
  if (cap == 0) return 0;
  if ((hp = stv__scratch(r, cap, sizeof(*hp))) == NULL) return stv__oom(r);
  ci = 0;
  cJSON_ArrayForEach(e, containers) {
    struct jpath pe = {&pc, NULL, ci++};
    struct jpath pp = {&pe, "ports", 0};
    long pi = 0;
    ports = stv__member(e, "ports");
    cJSON_ArrayForEach(port, ports) {
      struct jpath pj = {&pp, NULL, pi++};
      struct host_port x;
      if ((rc = read_host_port(r, port, &pj, host_network, &x)) != 0) return rc;
      if (x.port == 0) continue;
      for (i = 0; i < nhp; i++)
        if (hp[i].port == x.port && hp[i].proto == x.proto && hp[i].ip == x.ip) break;
      if (i == nhp) hp[nhp++] = x;
    }
  }
  if (nhp == 0) return 0;

  /* Labels: the pod's own, then two per port (duplicates dropped below). */
  if ((kv = stv__scratch(r, (size_t)c->labels.n + 2 * nhp, sizeof(*kv))) == NULL) return stv__oom(r);
  if (c->labels.n > 0) memcpy(kv, c->labels.kv, c->labels.n * sizeof(*kv));
  nkv = c->labels.n;
  for (i = 0; i < nhp; i++) {
    const char *keys[2];
    keys[0] = host_port_key(r, &hp[i], NULL);
    keys[1] = host_port_key(r, &hp[i], hp[i].ip);
    if (keys[0] == NULL || keys[1] == NULL) return stv__oom(r);
    for (j = 0; j < 2; j++) {
      uint32_t k;
      for (k = 0; k < nkv && kv[k].key != keys[j]; k++) continue;
      if (k < nkv) continue;
      kv[nkv].key = keys[j];
      if ((kv[nkv].value = stv__intern(r, "")) == NULL) return stv__oom(r);
      nkv++;
    }
  }
  qsort(kv, nkv, sizeof(*kv), stv__label_cmp);
  c->labels.kv = kv;
  c->labels.n = nkv;

  /* Anti-affinity terms: the pod's own, then at most two per port. */
  if ((terms = stv__scratch(r, (size_t)c->nanti + 2 * nhp, sizeof(*terms))) == NULL) return stv__oom(r);
  if (c->nanti > 0) memcpy(terms, c->anti, c->nanti * sizeof(*terms));
  nterms = c->nanti;
  for (i = 0; i < nhp; i++) {
    const char *any = stv__intern(r, "0.0.0.0");
    const char *key;
    if (any == NULL) return stv__oom(r);
    if (hp[i].ip == any) {
      if ((key = host_port_key(r, &hp[i], NULL)) == NULL) return stv__oom(r);
      if ((rc = host_port_term(r, key, terms, &nterms)) != 0) return rc;
      continue;
    }
    if ((key = host_port_key(r, &hp[i], hp[i].ip)) == NULL) return stv__oom(r);
    if ((rc = host_port_term(r, key, terms, &nterms)) != 0) return rc;
    if ((key = host_port_key(r, &hp[i], any)) == NULL) return stv__oom(r);
    if ((rc = host_port_term(r, key, terms, &nterms)) != 0) return rc;
  }
  c->anti = terms;
  c->nanti = nterms;
  return 0;
}

/*
 * What decides whether and how the scheduler takes a pending pod:
 * spec.priority (set by the Priority admission plugin from the
 * PriorityClass; 0 when absent), spec.preemptionPolicy, the first entry of
 * spec.schedulingGates, spec.schedulerName and status.nominatedNodeName.
 * The priority is part of the pod's class.
 */
static int read_scheduling(struct rd *r, const cJSON *spec, const cJSON *status, struct stv_pod *pod,
                           struct stv_class *c) {
  struct jpath pgates = {&P_SPEC, "schedulingGates", 0};
  struct jpath ppol = {&P_SPEC, "preemptionPolicy", 0};
  const cJSON *gates, *g;
  const char *policy, *sched, *nominated;
  struct qbuf q;
  int present, rc;
  long i = 0;

  if ((rc = stv__get_int32(r, spec, "priority", &P_SPEC, &present, &pod->priority)) != 0) return rc;
  pod->has_priority = (uint8_t)present;
  c->priority = pod->priority;
  if ((rc = stv__get_str(r, spec, "preemptionPolicy", &P_SPEC, &policy)) != 0) return rc;
  if (policy != NULL && strcmp(policy, "Never") == 0)
    pod->preempt_never = 1;
  else if (policy != NULL && strcmp(policy, "PreemptLowerPriority") != 0)
    return stv__fail(r, STV_EINVAL, &ppol, "unknown policy \"%s\" (expected PreemptLowerPriority or Never)",
                     stv__quote(policy, &q));
  if ((rc = stv__get(r, spec, "schedulingGates", &P_SPEC, JT_ARRAY, &gates)) != 0) return rc;
  cJSON_ArrayForEach(g, gates) {
    struct jpath pg = {&pgates, NULL, i++};
    const char *name;
    if (!cJSON_IsObject(g)) return stv__fail(r, STV_EPARSE, &pg, "not an object");
    if ((rc = stv__need_str(r, g, "name", &pg, &name)) != 0) return rc;
    if (pod->first_gate == NULL && (pod->first_gate = stv__intern(r, name)) == NULL) return stv__oom(r);
  }
  if ((rc = stv__get_str(r, spec, "schedulerName", &P_SPEC, &sched)) != 0) return rc;
  if (sched != NULL && *sched != '\0' && (pod->scheduler_name = stv__intern(r, sched)) == NULL)
    return stv__oom(r);
  if ((rc = stv__get_str(r, status, "nominatedNodeName", &P_STATUS, &nominated)) != 0) return rc;
  if (nominated != NULL && *nominated != '\0' && (pod->nominated_node = stv__intern(r, nominated)) == NULL)
    return stv__oom(r);
  return 0;
}

/*
 * The volumes of a newer version of pod pod_index replace the older's: its
 * record leaves the list (a file's duplicate) and the new one, if any, is
 * pushed (the cache takes it at once, stv__cache_take_pod_volumes).
 */
static int replace_pod_volumes(struct rd *r, const cJSON *vols, uint32_t pod_index) {
  struct stv_snapshot_volumes *vs = r->s->volumes;
  struct vol_pod **pp;
  for (pp = vs != NULL ? &vs->pods : NULL; pp != NULL && *pp != NULL; pp = &(*pp)->next) {
    if ((*pp)->pod == pod_index) {
      *pp = (*pp)->next;
      vs->npods--;
      break;
    }
  }
  return stv__record_pod_volumes(r, vols, pod_index);
}

int stv__read_pod(struct rd *r, const cJSON *item, const cJSON *meta) {
  static const char *const phases[] = {"Pending", "Running", "Succeeded", "Failed", "Unknown"};
  struct jpath pann = {&P_METADATA, "annotations", 0};
  struct jpath pphase = {&P_STATUS, "phase", 0};
  struct jpath pvol = {&P_SPEC, "volumes", 0};
  const cJSON *status, *spec, *labels, *ann, *vols, *v;
  const char *phase, *node_name, *spot;
  struct stv_class c;
  struct stv_pod pod;
  struct qbuf q;
  size_t len;
  char *buf;
  int rc, flag;
  unsigned i;

  memset(&c, 0, sizeof(c));
  memset(&pod, 0, sizeof(pod));
  pod.node = -1;
  if ((rc = stv__get(r, item, "status", NULL, JT_OBJECT, &status)) != 0) return rc;
  if ((rc = stv__get_str(r, status, "phase", &P_STATUS, &phase)) != 0) return rc;
  pod.phase = STV_PHASE_PENDING;
  if (phase != NULL && *phase != '\0') {
    for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
      if (strcmp(phase, phases[i]) == 0) break;
    if (i == sizeof(phases) / sizeof(phases[0]))
      return stv__fail(r, STV_EINVAL, &pphase, "unknown phase \"%s\"", stv__quote(phase, &q));
    pod.phase = (uint8_t)i;
  }
  if (pod.phase == STV_PHASE_SUCCEEDED || pod.phase == STV_PHASE_FAILED) {
    if (r->stats != NULL) r->stats->finished_pods++;
    return 0;
  }

  if ((pod.ns = c.ns = stv__intern(r, r->ns)) == NULL) return stv__oom(r);
  if ((pod.name = stv__intern(r, r->name)) == NULL) return stv__oom(r);
  len = strlen(pod.ns);
  if ((buf = stv__scratch(r, len + strlen(pod.name) + 2, 1)) == NULL) return stv__oom(r);
  memcpy(buf, pod.ns, len); /* "<ns>/<name>" */
  buf[len] = '/';
  strcpy(buf + len + 1, pod.name);
  if ((c.example = stv__intern(r, buf)) == NULL) return stv__oom(r);

  if ((rc = stv__get(r, meta, "labels", &P_METADATA, JT_OBJECT, &labels)) != 0) return rc;
  if ((rc = stv__read_string_map(r, labels, &P_LABELS, &c.labels)) != 0) return rc;
  if ((rc = stv__get(r, meta, "annotations", &P_METADATA, JT_OBJECT, &ann)) != 0) return rc;
  if (stv__member(ann, "kubernetes.io/config.mirror") != NULL) pod.flags |= STV_POD_MIRROR;
  if ((rc = stv__get_str(r, ann, "stevedore.io/spot", &pann, &spot)) != 0) return rc;
  if ((rc = read_disruption(r, ann, &pann, &pod)) != 0) return rc;
  if ((rc = read_owner(r, meta, &pod, &c)) != 0) return rc;

  if ((rc = stv__get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if (spec == NULL) return stv__fail(r, STV_EPARSE, &P_SPEC, "missing");
  if ((rc = stv__pod_requests(r, spec, &P_SPEC, c.req)) != 0) return rc;
  if ((rc = read_scheduling(r, spec, status, &pod, &c)) != 0) return rc;

  /* Binding: resolved now when the node is known, else by stv_snapshot_finish. */
  if ((rc = stv__get_str(r, spec, "nodeName", &P_SPEC, &node_name)) != 0) return rc;
  if (node_name != NULL && *node_name != '\0') {
    if ((pod.node_name = stv__intern(r, node_name)) == NULL) return stv__oom(r);
    pod.node = stv_snapshot_find_node(r->s, pod.node_name);
  }

  /* Volumes on the node's disk. */
  if ((rc = stv__get(r, spec, "volumes", &P_SPEC, JT_ARRAY, &vols)) != 0) return rc;
  i = 0;
  cJSON_ArrayForEach(v, vols) {
    struct jpath pv = {&pvol, NULL, (long)i++};
    if (!cJSON_IsObject(v)) return stv__fail(r, STV_EPARSE, &pv, "not an object");
    if ((rc = is_local_volume(r, v, &pv, &flag)) != 0) return rc;
    if (flag) pod.flags |= STV_POD_LOCAL_STORAGE;
  }
  if ((rc = read_grace(r, spec, &pod)) != 0) return rc;

  if ((rc = read_constraints(r, spec, &c)) != 0) return rc;
  if ((rc = read_priority(r, spec, &pod)) != 0) return rc;
  pod.terminating = stv__member(meta, "deletionTimestamp") != NULL;
  if (spot != NULL && strcmp(spot, "false") == 0 && (rc = add_spot_opt_out(r, &c.node_selector)) != 0)
    return rc;
  if ((rc = read_host_ports(r, spec, &c)) != 0) return rc;
  if ((rc = stv_snapshot_intern_class(r->s, &c, &pod.cls)) != 0) return stv__fail_rc(r, rc);
  if (r->replace >= 0) {
    r->s->pods[r->replace] = pod;
    if ((rc = replace_pod_volumes(r, vols, (uint32_t)r->replace)) != 0) return rc;
    if (r->stats != NULL) r->stats->replaced_pod = r->replace;
    return 0;
  }
  if ((rc = stv_snapshot_add_pod(r->s, &pod)) != 0) return stv__fail_rc(r, rc);
  if ((rc = stv__record_pod_volumes(r, vols, (uint32_t)(r->s->npods - 1))) != 0) return rc;
  if (r->stats != NULL) r->stats->pods++;
  return 0;
}
