"""A small kube-scheduler and kubelet for the emulator (--scheduler,
--kubelet).

The scheduler binds pending pods (spec.schedulerName default-scheduler, no
spec.nodeName) in priority order, then oldest first, to Ready nodes that
pass kube-scheduler's main filters: spec.unschedulable, taints with effect
NoSchedule or NoExecute against the pod's tolerations, nodeSelector and
required node affinity, cpu, memory, ephemeral-storage, extended
resources and the pod count against allocatable minus the requests of the
pods already there, and required inter-pod affinity and anti-affinity (the
pod's own terms and the anti-affinity terms of the pods already placed,
over any topologyKey). Among the nodes that pass it takes the least allocated
(kube-scheduler's default score). A pod no node takes gets PodScheduled=False,
reason Unschedulable, and kube-scheduler's message ("0/3 nodes are available:
1 node(s) were unschedulable, 2 Insufficient cpu.").

The kubelet starts bound pods on Ready nodes (phase Running, conditions
Initialized, Ready, ContainersReady, PodScheduled, hostIP and podIP) and,
as the pod garbage collector does, deletes pods bound to nodes that no
longer exist.
"""

import copy
import decimal

import emu_kinds
import emu_resources
import emu_select
from emu_store import ApiError, now_rfc3339

PODS = emu_resources.find("", "v1", "pods")
NODES = emu_resources.find("", "v1", "nodes")
PERIOD = 0.2


def pod_requests(pod):
    """Requests of a pod: the larger of its containers' sum and any init
    container, plus overhead; and one pod."""
    spec = pod.get("spec", {})
    total = {}
    for c in spec.get("containers") or []:
        for k, v in ((c.get("resources") or {}).get("requests") or {}).items():
            total[k] = total.get(k, 0) + emu_select.quantity(v)
    for c in spec.get("initContainers") or []:
        for k, v in ((c.get("resources") or {}).get("requests") or {}).items():
            total[k] = max(total.get(k, 0), emu_select.quantity(v))
    for k, v in (spec.get("overhead") or {}).items():
        total[k] = total.get(k, 0) + emu_select.quantity(v)
    total["pods"] = total.get("pods", 0) + 1
    return total


def _tolerates(tolerations, taint):
    for t in tolerations or []:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t.get("key") == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _affinity_ok(pod, node):
    labels = node["metadata"].get("labels") or {}
    for k, v in (pod["spec"].get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    req = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not req:
        return True
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!", "Gt": "gt", "Lt": "lt"}
    for term in req.get("nodeSelectorTerms") or []:
        reqs = [(e.get("key"), ops.get(e.get("operator"), "?"), e.get("values") or [])
                for e in term.get("matchExpressions") or []]
        fields_ok = all((node["metadata"]["name"] in (e.get("values") or [])) == (e.get("operator") == "In")
                        for e in term.get("matchFields") or [])
        if (reqs or term.get("matchFields")) and fields_ok and emu_select.match_labels(reqs, labels):
            return True
    return False


def _taint_reason(pod, node):
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(pod["spec"].get("tolerations"),
                                                                                 taint):
            return "node(s) had untolerated taint {%s: %s}" % (taint.get("key"), taint.get("value", ""))
    if not emu_kinds.is_ready(node):
        taint = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
        if not _tolerates(pod["spec"].get("tolerations"), taint):
            return "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
    return None


def _required(pod, kind):
    """The required terms of a pod's podAffinity or podAntiAffinity."""
    return (((pod["spec"].get("affinity") or {}).get(kind) or {})
            .get("requiredDuringSchedulingIgnoredDuringExecution") or [])


def _term_selects(term, owner, other, ns_labels):
    """Whether an affinity term of owner selects the pod other: its
    namespaces (the owner's when neither namespaces nor namespaceSelector
    is set) and its labelSelector (none selects nothing)."""
    ns = other["metadata"].get("namespace", "")
    names, sel = term.get("namespaces") or [], term.get("namespaceSelector")
    if not names and sel is None:
        names = [owner["metadata"].get("namespace", "")]
    in_ns = ns in names or (sel is not None and
                            emu_select.match_labels(emu_select.from_label_selector(sel), ns_labels.get(ns)))
    return in_ns and emu_select.match_labels(emu_select.from_label_selector(term.get("labelSelector")),
                                             other["metadata"].get("labels"))


def _same_domain(a, b, key):
    la, lb = a["metadata"].get("labels") or {}, b["metadata"].get("labels") or {}
    return bool(key) and key in la and key in lb and la[key] == lb[key]


def _interpod_reason(pod, node, placed, ns_labels):
    """kube-scheduler's InterPodAffinity filter, its three checks in its
    order: placed is [(pod, node)] of the pods already bound (or bound
    earlier in this pass)."""
    terms = _required(pod, "podAffinity")
    if terms:
        matched = [any(_term_selects(t, pod, o, ns_labels) for o, _ in placed) for t in terms]
        # The first pod of a group that selects itself may go anywhere.
        first = not any(matched) and all(_term_selects(t, pod, pod, ns_labels) for t in terms)
        if not first and not all(any(_same_domain(on, node, t.get("topologyKey")) and
                                     _term_selects(t, pod, o, ns_labels) for o, on in placed) for t in terms):
            return "node(s) didn't match pod affinity rules"
    for term in _required(pod, "podAntiAffinity"):
        if any(_same_domain(on, node, term.get("topologyKey")) and _term_selects(term, pod, o, ns_labels)
               for o, on in placed):
            return "node(s) didn't match pod anti-affinity rules"
    for other, onode in placed:
        for term in _required(other, "podAntiAffinity"):
            if _same_domain(onode, node, term.get("topologyKey")) and _term_selects(term, other, pod, ns_labels):
                return "node(s) didn't satisfy existing pods anti-affinity rules"
    return None


def _reasons(pod, want, node, used, placed=(), ns_labels=None):
    """Why a node cannot take a pod (kube-scheduler's words), [] if it can."""
    if node.get("spec", {}).get("unschedulable"):
        t = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
        if not _tolerates(pod["spec"].get("tolerations"), t):
            return ["node(s) were unschedulable"]
    taint = _taint_reason(pod, node)
    if taint:
        return [taint]
    if not _affinity_ok(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    alloc = node.get("status", {}).get("allocatable") or {}
    out = []
    for k, v in sorted(want.items()):
        if v <= 0:
            continue
        have = emu_select.quantity(alloc.get(k, "0"))
        if used.get(k, 0) + v > have:
            out.append("Too many pods" if k == "pods" else "Insufficient %s" % k)
    if not out and placed:
        why = _interpod_reason(pod, node, placed, ns_labels or {})
        if why:
            out.append(why)
    return out


def _score(want, node, used):
    alloc = node.get("status", {}).get("allocatable") or {}
    free = decimal.Decimal(0)
    for k in ("cpu", "memory"):
        cap = emu_select.quantity(alloc.get(k, "0"))
        if cap > 0:
            free += (cap - used.get(k, 0) - want.get(k, 0)) / cap
    return free


def unschedulable_message(n_nodes, counts):
    if n_nodes == 0:
        return "no nodes available to schedule pods"
    parts = sorted("%d %s" % (n, r) for r, n in counts.items())
    return "0/%d nodes are available: %s." % (n_nodes, ", ".join(parts))


def _usage(store, by_name):
    """Requests in use per node name, and [(pod, node)] of the pods bound
    to existing nodes (for inter-pod affinity)."""
    used, placed = {}, []
    for p in store.items(PODS.store):
        node = p.get("spec", {}).get("nodeName")
        if node and p.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
            u = used.setdefault(node, {})
            for k, v in pod_requests(p).items():
                u[k] = u.get(k, 0) + v
            if node in by_name:
                placed.append((p, by_name[node]))
    return used, placed


def _has_pod_affinity(pod):
    return bool(_required(pod, "podAffinity") or _required(pod, "podAntiAffinity"))


def schedule_once(store):
    """One scheduling pass; returns the number of pods bound."""
    bound = 0
    with store.lock:
        nodes = store.items(NODES.store)
        pending = [p for p in store.items(PODS.store)
                   if not p["spec"].get("nodeName") and p["spec"].get("schedulerName") == "default-scheduler"
                   and not p["metadata"].get("deletionTimestamp")
                   and p.get("status", {}).get("phase", "Pending") == "Pending"]
        if not pending:
            return 0
        pending.sort(key=lambda p: (-(p["spec"].get("priority") or 0), p["metadata"]["creationTimestamp"],
                                    p["metadata"]["namespace"], p["metadata"]["name"]))
        by_name = {n["metadata"]["name"]: n for n in nodes}
        used, placed = _usage(store, by_name)
        ns_labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {}
                     for n in store.items(emu_kinds.NAMESPACES.store)}
        for pod in pending:
            want = pod_requests(pod)
            best, counts = None, {}
            # Only pods with inter-pod terms, or placed pods with anti-affinity, make the filter work.
            rel = placed if _has_pod_affinity(pod) else [(p, n) for p, n in placed if _required(p, "podAntiAffinity")]
            for node in nodes:
                name = node["metadata"]["name"]
                why = _reasons(pod, want, node, used.get(name, {}), rel, ns_labels)
                for r in why:
                    counts[r] = counts.get(r, 0) + 1
                if not why and (best is None or _score(want, node, used.get(name, {})) >
                                _score(want, best, used.get(best["metadata"]["name"], {}))):
                    best = node
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if best is not None:
                node_name = best["metadata"]["name"]
                try:
                    emu_kinds.bind(store, ns, name, {"target": {"kind": "Node", "name": node_name}})
                except ApiError:
                    continue
                u = used.setdefault(node_name, {})
                for k, v in want.items():
                    u[k] = u.get(k, 0) + v
                placed.append((pod, best))
                bound += 1
                continue
            msg = unschedulable_message(len(nodes), counts)
            cond = next((c for c in pod.get("status", {}).get("conditions") or []
                         if c.get("type") == "PodScheduled"), None)
            if cond and cond.get("reason") == "Unschedulable" and cond.get("message") == msg:
                continue
            new = copy.deepcopy(pod)
            emu_kinds.set_condition(new.setdefault("status", {}), "PodScheduled", "False", "Unschedulable", msg)
            store.put(PODS, ns, name, new)
    return bound


def kubelet_once(store):
    """Start pods bound to Ready nodes; delete pods whose node is gone."""
    with store.lock:
        nodes = {n["metadata"]["name"]: n for n in store.items(NODES.store)}
        for pod in store.items(PODS.store):
            node_name = pod["spec"].get("nodeName")
            if not node_name:
                continue
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            node = nodes.get(node_name)
            if node is None:
                store.delete(PODS, ns, name)
                continue
            if pod.get("status", {}).get("phase") != "Pending" or not emu_kinds.is_ready(node):
                continue
            new = copy.deepcopy(pod)
            st = new.setdefault("status", {})
            st["phase"] = "Running"
            st["startTime"] = now_rfc3339()
            addrs = node.get("status", {}).get("addresses") or []
            st["hostIP"] = next((a["address"] for a in addrs if a.get("type") == "InternalIP"), "10.0.0.1")
            st["podIP"] = "10.244.%d.%d" % (len(name) % 250, (sum(map(ord, name)) % 250) + 1)
            for ctype in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
                emu_kinds.set_condition(st, ctype, "True")
            st["containerStatuses"] = [{"name": c["name"], "image": c.get("image", ""), "ready": True,
                                        "restartCount": 0, "started": True,
                                        "state": {"running": {"startedAt": st["startTime"]}}}
                                       for c in new["spec"].get("containers") or []]
            store.put(PODS, ns, name, new)


def _loop(store, stopping, once):
    seen = -1
    while not stopping.is_set():
        with store.lock:
            if store.rv == seen:
                store.changed.wait(PERIOD)
            seen = store.rv
        if stopping.is_set():
            return
        once(store)


def scheduler_loop(store, stopping):
    _loop(store, stopping, schedule_once)


def kubelet_loop(store, stopping):
    _loop(store, stopping, kubelet_once)
