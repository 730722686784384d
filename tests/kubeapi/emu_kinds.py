"""What the apiserver does per kind beyond storing: defaulting and light
validation on create, the events.k8s.io/v1 view of core Events, the pod
binding and eviction subresources, and the PodDisruptionBudget status (the
disruption controller's job, done here after every write of a pod or PDB).
"""

import copy
import math
import random
import re

import emu_resources
import emu_select
from emu_store import ApiError, bad_request, conflict, invalid, not_found, now_rfc3339

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PODS = emu_resources.find("", "v1", "pods")
PDBS = emu_resources.find("policy", "v1", "poddisruptionbudgets")
NAMESPACES = emu_resources.find("", "v1", "namespaces")


def check_name(res, obj):
    """Fill metadata.name from generateName and validate it (422 Invalid)."""
    meta = obj.setdefault("metadata", {})
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789")
                                                      for _ in range(5))
    name = meta.get("name") or ""
    if not name:
        raise invalid(res, name, "metadata.name", "Required value: name or generateName is required")
    pattern, limit = (_LABEL, 63) if res.plural == "namespaces" else (_SUBDOMAIN, 253)
    if len(name) > limit or not pattern.match(name):
        raise invalid(res, name, "metadata.name",
                      'Invalid value: "%s": a lowercase RFC 1123 %s must consist of lower case alphanumeric '
                      "characters, '-' or '.', and must start and end with an alphanumeric character"
                      % (name, "label" if limit == 63 else "subdomain"))


def _qos(pod):
    cs = pod.get("spec", {}).get("containers") or []
    req = [c.get("resources", {}).get("requests") or {} for c in cs]
    lim = [c.get("resources", {}).get("limits") or {} for c in cs]
    if not any(r.get(k) for r in req + lim for k in ("cpu", "memory")):
        return "BestEffort"
    for r, l in zip(req, lim):
        for k in ("cpu", "memory"):
            if not l.get(k) or emu_select.quantity(r.get(k, l[k])) != emu_select.quantity(l[k]):
                return "Burstable"
    return "Guaranteed"


def default_pod(pod):
    spec = pod.setdefault("spec", {})
    name = pod["metadata"]["name"]
    if not spec.get("containers"):
        raise invalid(PODS, name, "spec.containers", "Required value")
    for i, c in enumerate(spec["containers"]):
        if not c.get("name"):
            raise invalid(PODS, name, "spec.containers[%d].name" % i, "Required value")
        if not c.get("image"):
            raise invalid(PODS, name, "spec.containers[%d].image" % i, "Required value")
        res = c.setdefault("resources", {})
        for k, v in (res.get("limits") or {}).items():
            res.setdefault("requests", {}).setdefault(k, v)
        try:
            for k, v in list((res.get("requests") or {}).items()) + list((res.get("limits") or {}).items()):
                emu_select.quantity(v)
        except ValueError as e:
            raise invalid(PODS, name, "spec.containers[%d].resources" % i, str(e))
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("imagePullPolicy", "Always" if c["image"].endswith(":latest") or ":" not in
                     c["image"].split("/")[-1] else "IfNotPresent")
    for k, v in (("schedulerName", "default-scheduler"), ("restartPolicy", "Always"),
                 ("dnsPolicy", "ClusterFirst"), ("terminationGracePeriodSeconds", 30),
                 ("securityContext", {}), ("enableServiceLinks", True), ("preemptionPolicy", "PreemptLowerPriority"),
                 ("serviceAccountName", "default")):
        spec.setdefault(k, v)
    spec.setdefault("priority", 0)
    spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in spec["tolerations"]):
            spec["tolerations"].append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                        "tolerationSeconds": 300})
    pod["status"] = {"phase": "Pending", "qosClass": _qos(pod)}


def prepare_create(res, obj):
    """Defaults and validation of a create, per kind (raises ApiError)."""
    check_name(res, obj)
    if res.plural == "pods":
        default_pod(obj)
    elif res.status and res.plural != "nodes":
        obj.pop("status", None)  # nodes are the one kind whose status a create may set
    if res.plural == "namespaces":
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    if res.plural == "events" and res.group == "events.k8s.io":
        # obj is in its stored (core v1) form already; errors name the events.k8s.io/v1 fields.
        for field, stored in (("eventTime", "eventTime"), ("reportingController", "reportingComponent"),
                              ("reportingInstance", "reportingInstance"), ("action", "action"),
                              ("reason", "reason")):
            if not obj.get(stored):
                raise invalid(res, obj["metadata"]["name"], field, "Required value")
    if res.plural == "events" and obj.get("type") not in (None, "", "Normal", "Warning"):
        raise invalid(res, obj["metadata"]["name"], "type",
                      'Unsupported value: "%s": supported values: "Normal", "Warning"' % obj.get("type"))


# core v1 Event field <-> events.k8s.io/v1 Event field
_EVENT_FIELDS = [("involvedObject", "regarding"), ("message", "note"), ("source", "deprecatedSource"),
                 ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
                 ("count", "deprecatedCount"), ("reportingComponent", "reportingController")]
_EVENT_COMMON = ["metadata", "eventTime", "series", "action", "reason", "related", "reportingInstance", "type"]


def _convert_event(obj, renames, api_version):
    out = {k: copy.deepcopy(obj[k]) for k in _EVENT_COMMON if k in obj}
    for src, dst in renames:
        if src in obj:
            out[dst] = copy.deepcopy(obj[src])
    out["apiVersion"], out["kind"] = api_version, "Event"
    return out


def event_to_group(obj):
    """A stored (core v1) Event as events.k8s.io/v1 shows it."""
    return _convert_event(obj, _EVENT_FIELDS, "events.k8s.io/v1")


def event_from_group(obj):
    """An events.k8s.io/v1 Event as it is stored (core v1)."""
    return _convert_event(obj, [(new, core) for core, new in _EVENT_FIELDS], "v1")


def view(res, obj):
    """An object as a resource's group version shows it."""
    if res.store == "events" and res.group == "events.k8s.io":
        return event_to_group(obj)
    return obj


def is_ready(obj):
    for c in obj.get("status", {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def set_condition(status, ctype, value, reason="", message=""):
    """Set one condition of a status; keeps lastTransitionTime when the
    condition's status does not change."""
    conds = status.setdefault("conditions", [])
    old = next((c for c in conds if c.get("type") == ctype), None)
    cond = {"type": ctype, "status": value, "lastProbeTime": None,
            "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == value else now_rfc3339()}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    if old:
        conds[conds.index(old)] = cond
    else:
        conds.append(cond)


def bind(store, ns, name, binding):
    """The pods/binding subresource: assign a pending pod to a node."""
    with store.lock:
        pod = store.get(PODS, ns, name)
        target = binding.get("target") or {}
        if not target.get("name"):
            raise invalid(PODS, name, "target.name", "Required value")
        if target.get("kind") not in (None, "", "Node"):
            raise invalid(PODS, name, "target.kind", 'Invalid value: "%s": must be empty or "Node"'
                          % target.get("kind"))
        if pod["metadata"].get("deletionTimestamp"):
            raise conflict(PODS, name, "pod %s is being deleted, cannot be assigned to a host" % name)
        if pod["spec"].get("nodeName"):
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on pods/binding "%s": pod %s is already '
                           'assigned to node "%s"' % (name, name, pod["spec"]["nodeName"]),
                           {"name": name, "kind": "pods/binding"})
        new = copy.deepcopy(pod)
        new["spec"]["nodeName"] = target["name"]
        annotations = (binding.get("metadata") or {}).get("annotations")
        if annotations:
            new["metadata"].setdefault("annotations", {}).update(annotations)
        set_condition(new.setdefault("status", {}), "PodScheduled", "True")
        return store.put(PODS, ns, name, new)


def _pdbs_for(store, pod):
    out = []
    for pdb in store.items(PDBS.store, pod["metadata"]["namespace"]):
        reqs = emu_select.from_label_selector(pdb.get("spec", {}).get("selector"))
        if reqs and emu_select.match_labels(reqs, pod["metadata"].get("labels")):
            out.append(pdb)
    return out


def evict(store, ns, name, eviction):
    """The pods/eviction subresource: delete a pod unless a
    PodDisruptionBudget forbids it (429 TooManyRequests)."""
    if (eviction.get("metadata") or {}).get("name") not in (None, name):
        raise bad_request("name in URL does not match name in Eviction object")
    with store.lock:
        pod = store.get(PODS, ns, name)
        phase = pod.get("status", {}).get("phase")
        if phase not in ("Succeeded", "Failed", "Pending") and not pod["metadata"].get("deletionTimestamp"):
            pdbs = _pdbs_for(store, pod)
            if len(pdbs) > 1:
                raise ApiError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the "
                               "eviction subresource does not support.")
            if pdbs:
                st = pdbs[0].get("status", {})
                if st.get("disruptionsAllowed", 0) <= 0:
                    raise ApiError(429, "TooManyRequests",
                                   "Cannot evict pod as it would violate the pod's disruption budget.",
                                   {"causes": [{"reason": "DisruptionBudget", "message":
                                                "The disruption budget %s needs %d healthy pods and has %d "
                                                "currently" % (pdbs[0]["metadata"]["name"],
                                                               st.get("desiredHealthy", 0),
                                                               st.get("currentHealthy", 0))}]})
        opts = eviction.get("deleteOptions") or {}
        pre = opts.get("preconditions") or {}
        store.delete(PODS, ns, name, pre.get("resourceVersion"), pre.get("uid"))


def _scaled(value, expected, round_up):
    if isinstance(value, str) and value.endswith("%"):
        f = int(value[:-1]) * expected / 100.0
        return int(math.ceil(f) if round_up else math.floor(f))
    return int(value)


def pdb_status(store, pdb):
    """The status the disruption controller would compute for a PDB."""
    spec = pdb.get("spec", {})
    ns = pdb["metadata"]["namespace"]
    reqs = emu_select.from_label_selector(spec.get("selector"))
    pods = [p for p in store.items(PODS.store, ns)
            if reqs and emu_select.match_labels(reqs, p["metadata"].get("labels"))
            and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
    expected = len(pods)
    healthy = sum(1 for p in pods if is_ready(p) and not p["metadata"].get("deletionTimestamp"))
    if "minAvailable" in spec:
        desired = _scaled(spec["minAvailable"], expected, True)
    elif "maxUnavailable" in spec:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected, True))
    else:
        desired = expected
    allowed = max(0, healthy - desired)
    st = {"observedGeneration": pdb["metadata"].get("generation", 1), "disruptionsAllowed": allowed,
          "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected}
    status = copy.deepcopy(pdb.get("status") or {})
    status.update(st)
    set_condition(status, "DisruptionAllowed", "True" if allowed > 0 else "False",
                  "SufficientPods" if allowed > 0 else "InsufficientPods")
    for c in status["conditions"]:
        c.pop("lastProbeTime", None)
        c["observedGeneration"] = st["observedGeneration"]
        c.setdefault("message", "")
    return status


def pdb_hook(store, ev):
    """After a write of a pod or PDB, bring the namespace's PDB statuses up
    to date (each change is a write of its own, as the controller makes)."""
    if ev.store not in (PODS.store, PDBS.store) or ev.type == "DELETED" and ev.store == PDBS.store:
        return
    ns = ev.obj["metadata"].get("namespace", "")
    for pdb in store.items(PDBS.store, ns):
        status = pdb_status(store, pdb)
        if status != pdb.get("status"):
            new = copy.deepcopy(pdb)
            new["status"] = status
            store._commit(PDBS.store, "MODIFIED", (ns, pdb["metadata"]["name"]), new, pdb)


def namespace_hook(store, ev):
    """Deleting a namespace deletes what is in it, as the namespace
    controller does."""
    if ev.store != NAMESPACES.store or ev.type != "DELETED":
        return
    ns = ev.obj["metadata"]["name"]
    for table in list(store.tables):
        for key, obj in list(store.tables[table].items()):
            if key[0] == ns:
                store._commit(table, "DELETED", key, obj, obj)


def require_namespace(store, ns):
    with store.lock:
        if ("", ns) not in store.tables[NAMESPACES.store]:
            raise not_found(NAMESPACES, ns)


