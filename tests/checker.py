#!/usr/bin/env python3
"""Independent feasibility checker for stevedore plans.

A second implementation of the kube-scheduler filter rules, written from the
Kubernetes documentation and the upstream plugin semantics (NodeResourcesFit,
NodeUnschedulable, NodeAffinity, TaintToleration, InterPodAffinity,
PodTopologySpread, sidecar containers of KEP-753). It shares nothing with the
packer: it reads the same snapshot and catalogue files and the JSON plan the
binary printed, rebuilds the final cluster state and reports every rule the
plan breaks.

Library use:
    inputs = load_inputs([snapshot paths], catalog_path)   # or build_inputs()
    result = check_plan(inputs, plan_dict, capacity_types=[...])
    result.violations  -> list of "[rule] message" strings (empty = feasible)
    result.notes       -> list of informational strings

Command line:
    checker.py SNAPSHOT... --catalog CATALOG.json --plan PLAN.json
               [--capacity-types reserved,on-demand] [--no-completeness]
               [--repack]   (a `recommend --mode repack` plan: check_repack)
               [--repack-system-pods]  (the plan was made with that flag)
               [--scheduler-names LIST] [--expendable-pods-priority-cutoff N]
                            (as given to `stevedore recommend`)
Exit 0 when the plan is feasible, 1 with every violation printed otherwise,
2 when the checker's own inputs cannot be read.

What is checked (each violation is tagged with its rule):
  format, accounting   every pending non-DaemonSet pod (phase Pending, no
                       nodeName) exactly once in nodes[].pods or
                       unschedulable[]; nothing else listed
  summary, cost        counts, currency, sum of new nodes' costs, each new
                       node's price equal to its catalogue offering, its
                       hourly_cost = price + node_cost (the pool's nodeCost,
                       else check_plan's node_cost) + credit_cost, the
                       credits recomputed from the catalogue's burstable
                       baseline and the cpu requested on the node, lower
                       bound <= cost
  burstable            a burstable type only in a pool that allows one; in
                       standard mode its allocatable cpu is vCPUs x baseline
  offering, capacityType, reserved
                       the offering exists for type/zone/capacity type, the
                       capacity type is allowed, reserved counts respected
  labels, nodes        new nodes carry exactly the documented labels; names
                       unique; existing nodes exist, listed once, non-empty
  pool, taints         with node pools (check_plan's pools): a new node names
                       its pool (stevedore.io/node-pool and "pool"), the pool
                       admits its offering (families, sizes, architectures,
                       zones, capacity types), it carries the pool's labels
                       and exactly the pool's taints, which the pods on it
                       must tolerate; without pools: no pool, no taints
  resources            per node and resource: bound non-terminal pods (or,
                       on a new node, one copy of every DaemonSet that would
                       land there) + added pods <= allocatable, pod slots
                       included; effective requests with init containers,
                       sidecars (KEP-753), overhead and limits-only defaults
  cordon, nodeSelector, nodeAffinity, taint
                       NodeUnschedulable (tolerating the unschedulable taint
                       allows it), nodeSelector, required node affinity
                       (all six operators, matchFields metadata.name),
                       NoSchedule/NoExecute taints, including the
                       NoSchedule taints the node lifecycle controller keeps
                       for node conditions (Ready False/Unknown, Memory/
                       Disk/PID pressure, NetworkUnavailable) and for
                       spec.unschedulable when the snapshot lacks them
                       (CONDITION_TAINTS); a pod annotated
                       stevedore.io/spot: "false" has NotIn requirements on
                       every spot label (SPOT_LABELS) ANDed into its
                       required node affinity
  hostPort             NodePorts: a placed pod asks for no host port
                       (regular containers; hostNetwork makes containerPort
                       a host port) that a pod on its node holds (bound, a
                       DaemonSet copy on a new node, or placed) with the
                       same protocol and an overlapping hostIP (equal, or
                       either 0.0.0.0/unset); the completeness probe counts
                       the DaemonSet copies' ports
  podAntiAffinity      every pair of pods in the final state, at least one
                       of them placed by the plan: neither's required
                       anti-affinity term may select the other in a shared
                       topology domain (so existing pods' terms count too)
  podAffinity          a scheduling order must exist in which each placed
                       pod finds, for every term, a pod matching all its
                       terms in its domain, or uses the first-pod exception
  topologySpread       DoNotSchedule constraints, in the final state, with
                       minDomains, nodeAffinityPolicy, nodeTaintsPolicy and
                       matchLabelKeys
  headroom             virtual pods (stevedore-headroom/headroom-N, described by
                       summary.headroom.units) each listed at most once and
                       never as unschedulable; counts, totals and hourly cost
                       of summary.headroom recomputed; with check_plan's
                       headroom, the units recomputed from the snapshot; the
                       virtual pods are then checked like placed pods
  reason               unschedulable pods carry a non-empty reason
  notPlanned           a pending pod kube-scheduler will not take (non-empty
                       spec.schedulingGates; spec.schedulerName not in
                       check_plan's scheduler_names) or Cluster Autoscaler
                       would not scale up for (spec.priority below
                       priority_cutoff; status.nominatedNodeName naming a
                       node of the snapshot, whose requests then count on
                       that node) is listed once in not_planned[] with that
                       category and a reason, nowhere else
  cutoff               no pod of priority below the cutoff on a new node
  preemption           each preemptions[] entry: a planned pending pod that
                       may preempt (preemptionPolicy not Never) placed on
                       that existing node; every victim bound there, not a
                       DaemonSet's or static pod, not terminal, of strictly
                       lower priority, evicted once (a victim, pending
                       again, may preempt in a later entry); the node's "preempts"
                       lists exactly its victims; the victims leave the
                       node (the resource check then proves the preemptor
                       fits) and each is accounted for: placed, unschedulable,
                       or not planned below the cutoff
  completeness         an unschedulable pod with only node-level
                       constraints must not fit alone on a fresh node of an
                       allowed, still available offering

  volumes              a placed pod's claims: bound volumes' node affinity
                       and zone labels (VolumeZone, beta keys falling back
                       to GA ones), WaitForFirstConsumer classes'
                       allowedTopologies, local (no-provisioner) volumes
                       available on the node; claims unbound in Immediate
                       mode or missing keep the pod unplaced; per node and
                       CSI driver, distinct attached volumes (bound and
                       placed pods) <= CSINode allocatable.count (existing
                       nodes) or the per-type limit (new nodes)

Not checked: optimality beyond that completeness probe; preferred (soft)
rules and ScheduleAnyway (but see check_repack); other filters the packer
does not model;
DaemonSet copies on new nodes are not counted by inter-pod rules; with an
embedded catalogue (no file) new nodes' prices and allocatable are unknown,
so only what the plan states about them is checked.

Python 3 standard library only.
"""

import json
import os
import math
import re
import sys
from fractions import Fraction

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
ARCH = "kubernetes.io/arch"
OS = "kubernetes.io/os"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
CAPACITY_TYPE = "stevedore.io/capacity-type"
KARPENTER_CAPACITY_TYPE = "karpenter.sh/capacity-type"
EKS_CAPACITY_TYPE = "eks.amazonaws.com/capacityType"
GKE_SPOT = "cloud.google.com/gke-spot"
NODE_POOL = "stevedore.io/node-pool"
NS_NAME_LABEL = "kubernetes.io/metadata.name"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"

CAPACITY_TYPES = ("reserved", "spot", "on-demand")
DEFAULT_CAPACITY_TYPES = ("reserved", "spot", "on-demand")

COST_EPS = 1e-6

DEFAULT_SCHEDULER = "default-scheduler"
# Cluster Autoscaler's --expendable-pods-priority-cutoff default.
DEFAULT_PRIORITY_CUTOFF = -10


class InputError(Exception):
    """The checker's own inputs (snapshot, catalogue, plan file) are unusable."""


# --------------------------------------------------------------------------
# Quantities (k8s.io/apimachinery resource.Quantity), exact with Fraction.

_BINARY_SUFFIX = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30,
                  "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}
_DECIMAL_SUFFIX = {"n": Fraction(1, 10 ** 9), "u": Fraction(1, 10 ** 6),
                   "m": Fraction(1, 1000), "": Fraction(1), "k": Fraction(10 ** 3),
                   "M": Fraction(10 ** 6), "G": Fraction(10 ** 9),
                   "T": Fraction(10 ** 12), "P": Fraction(10 ** 15),
                   "E": Fraction(10 ** 18)}
_QTY_RE = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$", re.S)
_EXP_RE = re.compile(r"^[eE]([+-]?[0-9]+)$")
# Largest value a Quantity holds without losing precision (int64 nanos are
# not required here; the binary rejects what does not fit in 63 bits).
_QTY_MAX = Fraction((1 << 63) - 1)


def parse_quantity(text, allow_negative=False):
    """Parses a Kubernetes quantity string into an exact Fraction.

    Grammar (resource.Quantity): <sign><digits>[.<digits>]<suffix> where the
    suffix is a binary SI suffix (Ki..Ei), a decimal SI suffix (n u m "" k M
    G T P E) or a decimal exponent (e<int> / E<int>). Raises ValueError.
    """
    if not isinstance(text, str):
        raise ValueError("quantity is not a string: %r" % (text,))
    m = _QTY_RE.match(text)
    if not m or text != text.strip():
        raise ValueError("invalid quantity %r" % text)
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3), m.group(4)
    frac = frac or ""
    if not whole and not frac:
        raise ValueError("invalid quantity %r" % text)
    value = Fraction(int(whole or "0"))
    if frac:
        value += Fraction(int(frac), 10 ** len(frac))
    if suffix in _BINARY_SUFFIX:
        value *= _BINARY_SUFFIX[suffix]
    elif suffix in _DECIMAL_SUFFIX:
        value *= _DECIMAL_SUFFIX[suffix]
    else:
        em = _EXP_RE.match(suffix)
        if not em:
            raise ValueError("invalid quantity %r" % text)
        exp = int(em.group(1))
        if abs(exp) > 40:
            raise ValueError("quantity out of range %r" % text)
        value *= Fraction(10) ** exp
    if sign == "-":
        value = -value
    if value < 0 and not allow_negative:
        raise ValueError("negative quantity %r" % text)
    if abs(value) > _QTY_MAX:
        raise ValueError("quantity out of range %r" % text)
    return value


def ceil_fraction(f):
    return -((-f.numerator) // f.denominator)


def to_units(resource, value):
    """cpu in millicores, everything else in whole units, both rounded up."""
    if resource == "cpu":
        return ceil_fraction(value * 1000)
    return ceil_fraction(value)


def units_str(resource, v):
    return "%dm" % v if resource == "cpu" else str(v)


# --------------------------------------------------------------------------
# Effective pod requests (NodeResourcesFit computePodResourceRequest).

def _add(dst, src):
    for k, v in src.items():
        dst[k] = dst.get(k, Fraction(0)) + v


def _max_into(dst, src):
    for k, v in src.items():
        if v > dst.get(k, Fraction(0)):
            dst[k] = v


def container_requests(container):
    """Requests of one container; a limit without a request is the request
    (API defaulting)."""
    res = container.get("resources") or {}
    req = {}
    for k, v in (res.get("requests") or {}).items():
        req[k] = parse_quantity(v)
    for k, v in (res.get("limits") or {}).items():
        if k not in req:
            req[k] = parse_quantity(v)
    return req


def pod_requests(spec):
    """Effective request of a pod spec, in units (cpu millicores).

    max(sum(regular containers) + sum(sidecars),
        max over init containers i of (req(i) + sidecars declared before i))
    + spec.overhead. Sidecars are initContainers with restartPolicy Always.
    """
    total = {}
    for c in spec.get("containers") or []:
        _add(total, container_requests(c))
    sidecars = {}
    init_max = {}
    for c in spec.get("initContainers") or []:
        r = container_requests(c)
        if c.get("restartPolicy") == "Always":
            _add(total, r)
            _add(sidecars, r)
            _max_into(init_max, sidecars)
        else:
            tmp = dict(r)
            _add(tmp, sidecars)
            _max_into(init_max, tmp)
    _max_into(total, init_max)
    for k, v in (spec.get("overhead") or {}).items():
        total[k] = total.get(k, Fraction(0)) + parse_quantity(v)
    return {k: to_units(k, v) for k, v in total.items() if v != 0}


def resource_list_units(rl):
    return {k: to_units(k, parse_quantity(v)) for k, v in (rl or {}).items()}


# --------------------------------------------------------------------------
# Selectors.

def label_selector_matches(sel, labels):
    """metav1.LabelSelector: None matches nothing, {} matches everything."""
    if sel is None:
        return False
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        key, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In":
            if key not in labels or labels[key] not in vals:
                return False
        elif op == "NotIn":
            if key in labels and labels[key] in vals:
                return False
        elif op == "Exists":
            if key not in labels:
                return False
        elif op == "DoesNotExist":
            if key in labels:
                return False
        else:
            raise InputError("unknown label selector operator %r" % op)
    return True


_INT_RE = re.compile(r"^[+-]?[0-9]+$")


def _node_requirement_matches(e, value_present, value):
    op, vals = e.get("operator"), e.get("values") or []
    if op == "In":
        return value_present and value in vals
    if op == "NotIn":
        return not value_present or value not in vals
    if op == "Exists":
        return value_present
    if op == "DoesNotExist":
        return not value_present
    if op in ("Gt", "Lt"):
        if not value_present or len(vals) != 1:
            return False
        if not _INT_RE.match(value) or not _INT_RE.match(vals[0]):
            return False
        a, b = int(value), int(vals[0])
        return a > b if op == "Gt" else a < b
    raise InputError("unknown node selector operator %r" % op)


def node_selector_term_matches(term, labels, node_name, ignore_fields=False):
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if ignore_fields:
        fields = []
        if not exprs:
            return True
    elif not exprs and not fields:
        return False  # an empty term matches no objects
    for e in exprs:
        key = e.get("key")
        if not _node_requirement_matches(e, key in labels, labels.get(key)):
            return False
    for e in fields:
        if e.get("key") != "metadata.name":
            return False
        if node_name is None:
            return False
        if not _node_requirement_matches(e, True, node_name):
            return False
    return True


def required_node_affinity(spec):
    aff = ((spec.get("affinity") or {}).get("nodeAffinity") or {})
    return aff.get("requiredDuringSchedulingIgnoredDuringExecution")


def node_affinity_matches(spec, labels, node_name, ignore_fields=False):
    """spec.nodeSelector AND required node affinity (OR of terms)."""
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    req = required_node_affinity(spec)
    if req is None:
        return True
    for term in req.get("nodeSelectorTerms") or []:
        if node_selector_term_matches(term, labels, node_name, ignore_fields):
            return True
    return False


def toleration_tolerates(tol, taint):
    if tol.get("effect") and tol.get("effect") != taint.get("effect"):
        return False
    if tol.get("key") and tol.get("key") != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (tol.get("value") or "") == (taint.get("value") or "")
    return False


def untolerated_taint(tolerations, taints, effects=("NoSchedule", "NoExecute")):
    for t in taints:
        if t.get("effect") not in effects:
            continue
        if not any(toleration_tolerates(tol, t) for tol in tolerations):
            return t
    return None


# --------------------------------------------------------------------------
# Model.

# A pod annotated stevedore.io/spot: "false" must not run on spot capacity:
# Stevedore reads it as a NotIn on each label that marks a spot node.
SPOT_ANNOTATION = "stevedore.io/spot"
SPOT_LABELS = ((CAPACITY_TYPE, "spot"), (KARPENTER_CAPACITY_TYPE, "spot"),
               (EKS_CAPACITY_TYPE, "SPOT"), (GKE_SPOT, "true"),
               ("cloud.google.com/gke-preemptible", "true"),
               ("kubernetes.azure.com/scalesetpriority", "spot"))


def with_spot_opt_out(spec):
    """spec with the spot opt-out ANDed into its required node affinity: the
    NotIn requirements are added to every non-empty nodeSelectorTerm (an
    empty term matches nothing and stays so), or make the only term."""
    spec = json.loads(json.dumps(spec))
    exprs = [{"key": k, "operator": "NotIn", "values": [v]} for k, v in SPOT_LABELS]
    aff = spec.setdefault("affinity", {}) or {}
    spec["affinity"] = aff
    na = aff.setdefault("nodeAffinity", {}) or {}
    aff["nodeAffinity"] = na
    req = na.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not req or not req.get("nodeSelectorTerms"):
        na["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchExpressions": exprs}]}
        return spec
    for t in req["nodeSelectorTerms"]:
        if t.get("matchExpressions") or t.get("matchFields"):
            t["matchExpressions"] = list(t.get("matchExpressions") or []) + exprs
    return spec


def unmovable_reason(obj):
    """Why the what-if repack must leave this pod where it is (DaemonSet
    pods aside), or None: a static (mirror) pod, local storage (emptyDir or
    hostPath), stevedore.io/do-not-disrupt: "true", or no owner at all."""
    meta = obj.get("metadata") or {}
    ann = meta.get("annotations") or {}
    if "kubernetes.io/config.mirror" in ann:
        return "mirror pod"
    for v in (obj.get("spec") or {}).get("volumes") or []:
        if isinstance(v, dict) and ("emptyDir" in v or "hostPath" in v):
            return "local storage"
    if ann.get("stevedore.io/do-not-disrupt") == "true":
        return "do-not-disrupt"
    if not meta.get("ownerReferences"):
        return "bare pod"
    return None


# --------------------------------------------------------------------------
# Host ports (the NodePorts filter) and the node lifecycle controller's taints.

# The NoSchedule taint the node lifecycle controller puts on a node for a
# condition in a given status (TaintNodesByCondition).
CONDITION_TAINTS = {
    ("Ready", "False"): "node.kubernetes.io/not-ready",
    ("Ready", "Unknown"): "node.kubernetes.io/unreachable",
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
}


def node_taints_seen_by_scheduler(obj):
    """spec.taints plus the NoSchedule taints the node lifecycle controller
    adds for the node's conditions and for spec.unschedulable, when the
    snapshot does not show them yet."""
    spec = obj.get("spec") or {}
    taints = list(spec.get("taints") or [])
    want = []
    for c in (obj.get("status") or {}).get("conditions") or []:
        key = CONDITION_TAINTS.get((c.get("type"), c.get("status")))
        if key is not None:
            want.append(key)
    if spec.get("unschedulable"):
        want.append(UNSCHEDULABLE_TAINT)
    for key in want:
        if not any(t.get("key") == key and t.get("effect") == "NoSchedule" for t in taints):
            taints.append({"key": key, "effect": "NoSchedule"})
    return taints


def wanted_host_ports(spec):
    """The (protocol, hostPort, hostIP) a pod holds on its node: the ports of
    its regular containers with a hostPort (defaulted to containerPort under
    hostNetwork), protocol TCP and hostIP 0.0.0.0 when unset."""
    out = set()
    for c in spec.get("containers") or []:
        for port in c.get("ports") or []:
            hp = port.get("hostPort") or 0
            if not hp and spec.get("hostNetwork"):
                hp = port.get("containerPort") or 0
            if not hp:
                continue
            out.add((port.get("protocol") or "TCP", int(hp), port.get("hostIP") or "0.0.0.0"))
    return out


def host_port_clash(mine, theirs):
    """The first of mine that theirs already holds, or None. A wildcard
    hostIP (0.0.0.0) overlaps every address of the same port and protocol."""
    for proto, port, ip in sorted(mine):
        for proto2, port2, ip2 in theirs:
            if proto != proto2 or port != port2:
                continue
            if ip == ip2 or ip == "0.0.0.0" or ip2 == "0.0.0.0":
                return (proto, port, ip)
    return None


class Pod(object):
    __slots__ = ("ns", "name", "key", "labels", "spec", "node_name", "phase",
                 "ds_uid", "req", "tolerations", "aff_terms", "anti_terms",
                 "spread", "terminating", "source", "unmovable", "host_ports",
                 "priority", "preempt_never", "gated", "scheduler", "nominated", "mirror")

    def __init__(self, obj, source):
        meta = obj.get("metadata") or {}
        self.ns = meta.get("namespace") or "default"
        self.name = meta.get("name")
        if not isinstance(self.name, str) or not self.name:
            raise InputError("%s: pod without metadata.name" % source)
        self.key = self.ns + "/" + self.name
        self.labels = dict(meta.get("labels") or {})
        self.terminating = bool(meta.get("deletionTimestamp"))
        self.spec = obj.get("spec") or {}
        if (meta.get("annotations") or {}).get(SPOT_ANNOTATION) == "false":
            self.spec = with_spot_opt_out(self.spec)
        self.node_name = self.spec.get("nodeName") or None
        self.phase = (obj.get("status") or {}).get("phase") or ""
        self.ds_uid = None
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == "DaemonSet":
                self.ds_uid = ref.get("uid") or (self.ns + "/" + str(ref.get("name")))
        self.source = source
        self.unmovable = unmovable_reason(obj)
        try:
            self.req = pod_requests(self.spec)
        except ValueError as e:
            raise InputError("%s: pod %s: %s" % (source, self.key, e))
        self.tolerations = list(self.spec.get("tolerations") or [])
        aff = self.spec.get("affinity") or {}
        pa = (aff.get("podAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution") or []
        pan = (aff.get("podAntiAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution") or []
        self.aff_terms = [AffinityTerm(t, self.ns) for t in pa]
        self.anti_terms = [AffinityTerm(t, self.ns) for t in pan]
        self.spread = [c for c in self.spec.get("topologySpreadConstraints") or []
                       if c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"]
        self.host_ports = wanted_host_ports(self.spec)
        # Scheduling: priority (0 when absent), preemption policy, gates,
        # scheduler, nomination; a static pod is never a preemption victim.
        self.priority = self.spec.get("priority") or 0
        self.preempt_never = self.spec.get("preemptionPolicy") == "Never"
        self.gated = bool(self.spec.get("schedulingGates"))
        self.scheduler = self.spec.get("schedulerName") or DEFAULT_SCHEDULER
        self.nominated = (obj.get("status") or {}).get("nominatedNodeName") or None
        self.mirror = "kubernetes.io/config.mirror" in (meta.get("annotations") or {})

    @property
    def terminal(self):
        return self.phase in ("Succeeded", "Failed")

    @property
    def pending(self):
        return self.phase in ("Pending", "") and not self.node_name


class AffinityTerm(object):
    """A required PodAffinityTerm with its namespace semantics resolved."""

    def __init__(self, term, owner_ns):
        self.selector = term.get("labelSelector")
        self.key = term.get("topologyKey")
        nss = term.get("namespaces") or []
        self.ns_selector = term.get("namespaceSelector")
        if not nss and self.ns_selector is None:
            self.namespaces = {owner_ns}
        else:
            self.namespaces = set(nss)
        self.raw = term

    def matches(self, pod, ns_labels):
        if pod.ns in self.namespaces or (
                self.ns_selector is not None
                and label_selector_matches(self.ns_selector, ns_labels(pod.ns))):
            return label_selector_matches(self.selector, pod.labels)
        return False


class Node(object):
    __slots__ = ("name", "labels", "taints", "alloc", "unschedulable", "new",
                 "instance_type", "zone", "capacity_type", "price", "index", "burst", "credits")

    def __init__(self, name, labels, taints, alloc, unschedulable, new):
        self.name = name
        self.labels = labels
        self.taints = taints
        self.alloc = alloc  # dict resource -> units, or None when unknown
        self.unschedulable = unschedulable
        self.new = new
        self.instance_type = self.zone = self.capacity_type = None
        self.price = None
        self.burst, self.credits = None, 0.0  # unlimited burstable: (baseline m, surplus price)
        self.index = -1


class Inputs(object):
    """Snapshot(s) and catalogue, parsed."""

    def __init__(self):
        self.nodes = {}          # name -> Node (existing)
        self.node_order = []
        self.pods = []           # every Pod object
        self.ns_labels_extra = {}
        self.catalog = None      # dict or None (embedded catalogue)
        self.catalog_types = {}  # name -> instance type dict
        self.ds = {}             # uid -> representative Pod
        self.ds_order = []
        self.pools = None        # name -> node pool dict, or None
        self.node_cost = 0.0     # per new node-hour unless its pool says otherwise

    def ns_labels(self, ns):
        d = {NS_NAME_LABEL: ns}
        d.update(self.ns_labels_extra.get(ns, {}))
        return d


def _iter_objects(doc, source):
    if isinstance(doc, dict) and isinstance(doc.get("items"), list) and \
            doc.get("kind", "List").endswith("List"):
        # A typed list (PodList, NodeList: the API's own shape) gives its
        # items, which carry no kind, the list's kind without "List".
        item_kind = doc.get("kind", "List")[:-4]
        for i, it in enumerate(doc["items"]):
            if not isinstance(it, dict):
                raise InputError("%s: items[%d] is not an object" % (source, i))
            if item_kind and it.get("kind") is None:
                it = dict(it, kind=item_kind)
            for sub in _iter_objects(it, "%s: items[%d]" % (source, i)):
                yield sub
    elif isinstance(doc, dict):
        yield doc, source
    else:
        raise InputError("%s: not a JSON object" % source)


_QUANTITY_MAPS = ("requests", "limits", "allocatable", "capacity", "overhead")


def _quantities_as_text(obj, in_map=False):
    """A copy of obj where numbers given for quantities (cpu: 2 in YAML, or
    a JSON number) are the decimal text the API would read them as."""
    if isinstance(obj, dict):
        return {k: (repr(v) if in_map and isinstance(v, (int, float)) and not isinstance(v, bool)
                    else _quantities_as_text(v, k in _QUANTITY_MAPS))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_quantities_as_text(v) for v in obj]
    return obj


def _rv_newer(new, old):
    """Whether resourceVersion new is newer than old: as integers when both
    are, else the one read last."""
    try:
        return int(new) >= int(old)
    except (TypeError, ValueError):
        return True


_DEDUPED_KINDS = ("Pod", "Node", "PodDisruptionBudget", "Namespace", "PersistentVolumeClaim",
                  "PersistentVolume", "StorageClass", "CSINode")


def _dedupe(objects):
    """The same object (kind, namespace, name) read twice: once when
    identical, else the newer resourceVersion, in the place of the first."""
    out, where = [], {}
    for obj, src in objects:
        meta = obj.get("metadata") or {}
        kind = obj.get("kind")
        ns = meta.get("namespace") or ""
        if kind in ("Pod", "PodDisruptionBudget", "PersistentVolumeClaim") and not ns:
            ns = "default"
        if kind in ("Node", "Namespace", "PersistentVolume", "StorageClass", "CSINode"):
            ns = ""
        key = (kind, ns, meta.get("name"))
        if kind not in _DEDUPED_KINDS or key not in where:
            if kind in _DEDUPED_KINDS:
                where[key] = len(out)
            out.append((obj, src))
            continue
        old = out[where[key]][0]
        old_meta = old.get("metadata") or {}
        if _rv_newer(meta.get("resourceVersion"), old_meta.get("resourceVersion")):
            out[where[key]] = (obj, src)
    return out


def build_inputs(snapshot_docs, catalog):
    """snapshot_docs: list of (name, parsed JSON); catalog: dict or None."""
    inp = Inputs()
    objects = []
    for name, doc in snapshot_docs:
        # Quantities live in Pods and Nodes; a CSINode's allocatable.count is a plain integer.
        objects.extend((_quantities_as_text(o) if isinstance(o, dict) and o.get("kind") in ("Pod", "Node") else o,
                        src) for o, src in _iter_objects(doc, name))
    for obj, src in _dedupe(objects):
        kind = obj.get("kind")
        if kind == "Node":
            meta = obj.get("metadata") or {}
            nname = meta.get("name")
            spec = obj.get("spec") or {}
            status = obj.get("status") or {}
            try:
                if status.get("allocatable") is not None:
                    alloc = resource_list_units(status.get("allocatable"))
                elif status.get("capacity") is not None:
                    alloc = resource_list_units(status.get("capacity"))
                else:
                    # kube-scheduler sees zero allocatable: no pod fits.
                    alloc = {"cpu": 0, "memory": 0, "pods": 0}
            except ValueError as e:
                raise InputError("%s: node %s: %s" % (src, nname, e))
            n = Node(nname, dict(meta.get("labels") or {}),
                     node_taints_seen_by_scheduler(obj), alloc,
                     bool(spec.get("unschedulable")), False)
            n.instance_type = n.labels.get(INSTANCE_TYPE)
            n.zone = n.labels.get(ZONE)
            if nname in inp.nodes:
                raise InputError("%s: duplicate node %s" % (src, nname))
            inp.nodes[nname] = n
            inp.node_order.append(nname)
        elif kind == "Pod":
            inp.pods.append(Pod(obj, src))
        elif kind == "Namespace":
            meta = obj.get("metadata") or {}
            inp.ns_labels_extra[meta.get("name")] = dict(meta.get("labels") or {})
        else:
            add_storage_object(inp, obj)
    for p in inp.pods:
        if p.ds_uid is not None and p.ds_uid not in inp.ds:
            inp.ds[p.ds_uid] = p
            inp.ds_order.append(p.ds_uid)
    inp.catalog = catalog
    if catalog is not None:
        for t in catalog.get("instance_types") or []:
            inp.catalog_types[t.get("name")] = t
    return inp


def load_json(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError("%s: %s" % (path, e.strerror or e))
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError("%s: invalid JSON: %s" % (path, e))


def load_documents(path):
    """The documents of a snapshot path: a JSON file, a YAML file (several
    documents), or a `kubectl cluster-info dump --output-directory` tree
    (nodes.json, <namespace>/pods.json, <namespace>/poddisruptionbudgets.json)."""
    if os.path.isdir(path):
        out = []
        for top in sorted(os.listdir(path)):
            full = os.path.join(path, top)
            if os.path.isdir(full):
                for sub in sorted(os.listdir(full)):
                    if os.path.splitext(sub)[0] in ("pods", "poddisruptionbudgets") and \
                            os.path.splitext(sub)[1] in (".json", ".yaml", ".yml"):
                        out.extend(load_documents(os.path.join(full, sub)))
            elif os.path.splitext(top)[0] == "nodes":
                out.extend(load_documents(full))
        return out
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError("%s: %s" % (path, e.strerror or e))
    text = data.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if path.endswith((".yaml", ".yml")) or (not path.endswith(".json") and not text.startswith("{")):
        import yaml  # python3-yaml
        try:
            return [(path, d) for d in yaml.safe_load_all(data) if d is not None]
        except yaml.YAMLError as e:
            raise InputError("%s: invalid YAML: %s" % (path, e))
    return [(path, load_json(path))]


def load_inputs(snapshot_paths, catalog_path):
    docs = [d for p in snapshot_paths for d in load_documents(p)]
    catalog = load_json(catalog_path) if catalog_path else None
    return build_inputs(docs, catalog)


# --------------------------------------------------------------------------
# Catalogue helpers.

def type_allocatable(t):
    """Allocatable of a catalogue type in units, or None when not given."""
    if not t.get("allocatable"):
        return None
    alloc = resource_list_units(t["allocatable"])
    return alloc


def capacity_type_labels(provider, capacity_type):
    """The well-known equivalents of stevedore.io/capacity-type a new node
    carries: Karpenter's always, EKS's on aws, GKE's spot label on gcp."""
    out = {CAPACITY_TYPE: capacity_type, KARPENTER_CAPACITY_TYPE: capacity_type}
    if provider == "aws":
        out[EKS_CAPACITY_TYPE] = "SPOT" if capacity_type == "spot" else "ON_DEMAND"
    if provider == "gcp" and capacity_type == "spot":
        out[GKE_SPOT] = "true"
    return out


def expected_new_node_labels(catalog, t, zone, capacity_type, name, pool=None):
    """pool: None, or a dict with "name" and "labels" (a node pool)."""
    labels = dict(t.get("labels") or {})
    if pool is not None:
        labels.update(pool.get("labels") or {})
        labels[NODE_POOL] = pool["name"]
    labels.update({
        ARCH: t.get("arch") or "amd64",
        OS: "linux",
        INSTANCE_TYPE: t.get("name"),
        ZONE: zone,
        REGION: catalog.get("region"),
        HOSTNAME: name,
    })
    labels.update(capacity_type_labels(catalog.get("provider"), capacity_type))
    return labels


def instance_family(provider, type_name):
    """(family, size) of an instance type name: split at the first '.' on
    aws (m5.2xlarge), the first '-' on gcp (n2-standard-4), the first of
    either elsewhere."""
    seps = {"aws": ".", "gcp": "-"}.get(provider, ".-")
    for i, ch in enumerate(type_name):
        if ch in seps:
            return type_name[:i], type_name[i + 1:]
    return type_name, ""


def pool_admits(pool, catalog, t, zone, capacity_type):
    """Whether node pool (a dict shaped like a nodePools entry of the
    configuration file) admits this offering; None when it does, else why."""
    fam, size = instance_family(catalog.get("provider"), t.get("name"))
    for key, value in (("instanceFamilies", fam), ("instanceSizes", size),
                       ("architectures", t.get("arch") or "amd64"), ("zones", zone),
                       ("capacityTypes", capacity_type)):
        allowed = pool.get(key)
        if allowed and value not in allowed:
            return "%s %r not in the pool's %s %s" % (key, value, key, allowed)
    return None


def pool_taints(pool):
    return [{"key": x["key"], "value": x.get("value") or "", "effect": x["effect"]}
            for x in (pool.get("taints") or [])]


def find_offering(t, zone, capacity_type):
    for o in t.get("offerings") or []:
        if o.get("zone") == zone and o.get("capacity_type") == capacity_type:
            return o
    return None


# --------------------------------------------------------------------------
# The check.

class Result(object):
    def __init__(self):
        self.violations = []
        self.notes = []

    def v(self, rule, msg):
        self.violations.append("[%s] %s" % (rule, msg))

    def note(self, msg):
        self.notes.append(msg)

    @property
    def ok(self):
        return not self.violations

    def rules(self):
        return {x[1:x.index("]")] for x in self.violations}


def ds_lands_on(ds_pod, node):
    """Would a copy of this DaemonSet run on node? (matchFields ignored)"""
    if not node_affinity_matches(ds_pod.spec, node.labels, node.name, ignore_fields=True):
        return False
    return untolerated_taint(ds_pod.tolerations, node.taints) is None


def static_fit(pod, node, inp):
    """NodeUnschedulable, NodeAffinity (nodeSelector + required) and
    TaintToleration. Returns None or (rule, reason)."""
    if node.unschedulable:
        t = {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
        if not any(toleration_tolerates(tol, t) for tol in pod.tolerations):
            return ("cordon", "node %s is cordoned (spec.unschedulable)" % node.name)
    for k, v in (pod.spec.get("nodeSelector") or {}).items():
        if node.labels.get(k) != v:
            return ("nodeSelector", "node %s: nodeSelector %s=%s not matched (node has %r)"
                    % (node.name, k, v, node.labels.get(k)))
    req = required_node_affinity(pod.spec)
    if req is not None:
        terms = req.get("nodeSelectorTerms") or []
        if not any(node_selector_term_matches(t, node.labels, node.name) for t in terms):
            return ("nodeAffinity", "node %s matches no required nodeSelectorTerm"
                    % node.name)
    t = untolerated_taint(pod.tolerations, node.taints)
    if t is not None:
        return ("taint", "node %s has untolerated taint %s=%s:%s"
                % (node.name, t.get("key"), t.get("value", ""), t.get("effect")))
    return None


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def not_planned_category(p, inp, scheduler_names, cutoff):
    """Why a pod without a node is left out of a plan, or None when it is planned."""
    if p.gated:
        return "scheduling_gated"
    if scheduler_names is not None and p.scheduler not in scheduler_names:
        return "other_scheduler"
    if p.priority < cutoff:
        return "below_priority_cutoff"
    if p.nominated and p.nominated in inp.nodes:
        return "nominated"
    return None


def check_plan(inp, plan, capacity_types=DEFAULT_CAPACITY_TYPES, completeness=True, pools=None,
               headroom=None, scheduler_names=(DEFAULT_SCHEDULER,),
               priority_cutoff=DEFAULT_PRIORITY_CUTOFF, node_cost=0.0):
    """Checks plan (parsed JSON) against inp. Returns a Result.

    pools: the node pools new nodes come from (a list of dicts shaped like
    the configuration file's nodePools entries), or None for the default
    pool. A new node of a pool must carry stevedore.io/node-pool and the
    pool's labels, be admitted by its filters, and has the pool's taints.

    headroom: the headroom asked for (a dict shaped like the configuration
    file's headroom: manual units and automatic percentage), or None. When
    given, the plan's summary.headroom.units must be what it asks for (the
    automatic unit recomputed here from the snapshot). Whether given or not,
    the virtual pods the plan lists are checked like placed pods (resources,
    taints, the rules of other pods) and its headroom summary is recounted.

    node_cost: the money per node-hour every new node carries unless its
    pool says otherwise (nodeCost, --node-cost). Each new node's
    hourly_cost must be its catalogue price + node_cost + credit_cost, the
    credits recomputed from the catalogue's burstable baseline (below)."""
    r = Result()
    inp.pools = {p["name"]: p for p in pools} if pools else None
    inp.node_cost = node_cost
    capacity_types = list(capacity_types)
    if not isinstance(plan, dict):
        r.v("format", "plan is not a JSON object")
        return r
    summary = plan.get("summary")
    pnodes = plan.get("nodes")
    punsched = plan.get("unschedulable")
    if not isinstance(summary, dict):
        r.v("format", "plan has no summary object")
        summary = {}
    if not isinstance(pnodes, list):
        r.v("format", "plan.nodes is not an array")
        pnodes = []
    if not isinstance(punsched, list):
        r.v("format", "plan.unschedulable is not an array")
        punsched = []

    pods_by_key = {}
    for p in inp.pods:
        pods_by_key.setdefault(p.key, p)
    virtual = _headroom_pods(r, inp, summary, headroom)  # key -> Pod
    hplaced = []       # (Pod, Node) of headroom's virtual pods
    pending = [p for p in inp.pods if p.pending and p.ds_uid is None]
    # Pods left out (category by key), then preemption victims pending again.
    expect_np = {}
    for p in pending:
        cat = not_planned_category(p, inp, scheduler_names, priority_cutoff)
        if cat is not None:
            expect_np[p.key] = cat
    pending = [p for p in pending if p.key not in expect_np]
    victims = _check_preemptions(r, inp, plan, pods_by_key, pending, priority_cutoff,
                                 scheduler_names, expect_np)
    pending = pending + [pods_by_key[k] for k in victims if k not in expect_np]
    pending_keys = {p.key for p in pending}

    # ---- nodes of the plan
    final_nodes = [inp.nodes[n] for n in inp.node_order]
    for i, n in enumerate(final_nodes):
        n.index = i
    placed = []        # (Pod, Node)
    seen = {}          # pod key -> where
    new_nodes = []
    plan_existing = set()
    reserved_used = {}
    names = set(inp.node_order)
    catalog = inp.catalog

    def account(key, where):
        if not isinstance(key, str):
            r.v("accounting", "%s lists a non-string pod %r" % (where, key))
            return None
        if key in virtual and key not in pods_by_key:
            if key in seen:
                r.v("headroom", "virtual pod %s appears twice (%s and %s)" % (key, seen[key], where))
                return None
            if where.startswith("unschedulable"):
                r.v("headroom", "virtual pod %s is listed as unschedulable" % key)
                return None
            seen[key] = where
            return virtual[key]
        if key not in pending_keys:
            p = pods_by_key.get(key)
            if p is None:
                r.v("accounting", "%s lists unknown pod %s" % (where, key))
            elif p.ds_uid is not None:
                r.v("accounting", "%s lists DaemonSet pod %s" % (where, key))
            else:
                r.v("accounting", "%s lists pod %s which is not pending" % (where, key))
            return None
        if key in seen:
            r.v("accounting", "pod %s appears twice (%s and %s)" % (key, seen[key], where))
            return None
        seen[key] = where
        return pods_by_key[key]

    for idx, pn in enumerate(pnodes):
        if not isinstance(pn, dict):
            r.v("format", "nodes[%d] is not an object" % idx)
            continue
        name = pn.get("name")
        where = "nodes[%d] %s" % (idx, name)
        if not isinstance(name, str) or not name:
            r.v("format", "nodes[%d] has no name" % idx)
            continue
        pods = pn.get("pods")
        if not isinstance(pods, list):
            r.v("format", "%s: pods is not an array" % where)
            pods = []
        if pn.get("new") is True:
            if name in names:
                r.v("nodes", "%s: new node name clashes with another node" % where)
                continue
            names.add(name)
            node = _new_node(r, inp, pn, where, capacity_types, reserved_used)
            if node is None:
                continue
            node.index = len(final_nodes)
            final_nodes.append(node)
            new_nodes.append(node)
            if not pods:
                r.v("nodes", "%s: new node receives no pods" % where)
        elif pn.get("new") is False:
            node = inp.nodes.get(name)
            if node is None:
                r.v("nodes", "%s: existing node not in the snapshot" % where)
                continue
            if name in plan_existing:
                r.v("nodes", "%s: existing node listed twice" % where)
                continue
            plan_existing.add(name)
            if not pods:
                r.v("nodes", "%s: existing node listed without pods" % where)
        else:
            r.v("format", "%s: 'new' is not a boolean" % where)
            continue
        for key in pods:
            p = account(key, where)
            if p is not None:
                (hplaced if key in virtual and key not in pods_by_key else placed).append((p, node))

    for idx, u in enumerate(punsched):
        if not isinstance(u, dict):
            r.v("format", "unschedulable[%d] is not an object" % idx)
            continue
        key = u.get("pod")
        account(key, "unschedulable[%d]" % idx)
        reason = u.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            r.v("reason", "unschedulable pod %s has no reason" % key)
    for p in pending:
        if p.key not in seen:
            r.v("accounting", "pending pod %s is neither placed nor unschedulable" % p.key)
    _check_not_planned(r, plan, expect_np, seen)
    _check_preemptors_placed(r, plan, placed, pnodes)
    # Below the cutoff, a pod never causes a new node (whatever else is wrong).
    for pn in pnodes:
        if isinstance(pn, dict) and pn.get("new") is True:
            for key in pn.get("pods") or []:
                p = pods_by_key.get(key) if isinstance(key, str) else None
                if p is not None and p.priority < priority_cutoff:
                    r.v("cutoff", "pod %s of priority %d (below the cutoff %d) is on new node %s"
                        % (p.key, p.priority, priority_cutoff, pn.get("name")))

    # ---- summary
    _check_summary(r, summary, inp, pending, placed, punsched, new_nodes)
    _check_sched_summary(r, summary, plan, victims)
    _check_headroom_summary(r, summary, virtual, hplaced)
    # From here on, headroom's virtual pods are pods like the others.
    placed = placed + hplaced

    # ---- final state
    bound = []  # (Pod, Node) of existing non-terminal bound pods
    for p in inp.pods:
        if p.node_name and not p.terminal and p.node_name in inp.nodes and p.key not in victims:
            bound.append((p, inp.nodes[p.node_name]))
    on_node = {}
    for p, n in bound:
        on_node.setdefault(n.index, []).append(p)
    # A nominated pod holds room on its node (Cluster Autoscaler's view).
    for p in inp.pods:
        if expect_np.get(p.key) == "nominated":
            on_node.setdefault(inp.nodes[p.nominated].index, []).append(p)
    added_on = {}
    for p, n in placed:
        added_on.setdefault(n.index, []).append(p)

    for p, n in placed:
        bad = static_fit(p, n, inp)
        if bad is not None:
            r.v(bad[0], "pod %s: %s" % (p.key, bad[1]))

    _check_resources(r, inp, final_nodes, on_node, added_on)
    _check_credits(r, inp, final_nodes, added_on)
    _check_host_ports(r, inp, final_nodes, on_node, added_on)
    _check_anti_affinity(r, inp, bound, placed)
    _check_affinity(r, inp, bound, placed)
    _check_spread(r, inp, final_nodes, bound, placed)
    check_volumes(r, inp, final_nodes, bound, placed, punsched)
    if completeness:
        _check_completeness(r, inp, punsched, pods_by_key, bound, placed,
                            capacity_types, reserved_used)
    return r


# --------------------------------------------------------------------------
# Pods not planned, and preemption

def _check_preemptions(r, inp, plan, pods_by_key, pending, cutoff, scheduler_names, expect_np):
    """Checks plan.preemptions; returns {victim key: preemptor key}. Victims
    below the cutoff (or of another scheduler) go into expect_np."""
    victims = {}
    pre = plan.get("preemptions", [])
    if not isinstance(pre, list):
        r.v("format", "plan.preemptions is not an array")
        return victims
    planned = {p.key for p in pending}
    preemptors = set()
    for idx, e in enumerate(pre):
        where = "preemptions[%d]" % idx
        if not isinstance(e, dict) or not isinstance(e.get("victims"), list):
            r.v("format", "%s is not an object with a victims array" % where)
            continue
        q = pods_by_key.get(e.get("pod"))
        node = e.get("node")
        # A victim of an earlier preemption is pending again and may preempt in turn.
        if q is None or (q.key not in planned and (q.key not in victims or q.key in expect_np)):
            r.v("preemption", "%s: preemptor %r is not a planned pending pod" % (where, e.get("pod")))
            continue
        if q.key in preemptors:
            r.v("preemption", "%s: %s preempts twice" % (where, q.key))
        preemptors.add(q.key)
        if q.preempt_never:
            r.v("preemption", "%s: %s has preemptionPolicy Never" % (where, q.key))
        if node not in inp.nodes:
            r.v("preemption", "%s: node %r is not an existing node" % (where, node))
        if e.get("priority") != q.priority:
            r.v("preemption", "%s: priority %r, the pod has %d" % (where, e.get("priority"), q.priority))
        if not e["victims"]:
            r.v("preemption", "%s: no victims" % where)
        for k in e["victims"]:
            v = pods_by_key.get(k)
            if v is None:
                r.v("preemption", "%s: unknown victim %r" % (where, k))
                continue
            if k in victims:
                r.v("preemption", "%s: %s is evicted twice" % (where, k))
                continue
            if v.node_name != node or v.terminal:
                r.v("preemption", "%s: victim %s is not running on %s" % (where, k, node))
            if v.ds_uid is not None or v.mirror:
                r.v("preemption", "%s: victim %s is a DaemonSet or static pod" % (where, k))
            if not v.priority < q.priority:
                r.v("preemption", "%s: victim %s has priority %d, not below %s's %d"
                    % (where, k, v.priority, q.key, q.priority))
            victims[k] = q.key
            if scheduler_names is not None and v.scheduler not in scheduler_names:
                expect_np[k] = "other_scheduler"
            elif v.priority < cutoff:
                expect_np[k] = "below_priority_cutoff"
    # Each existing node's "preempts" is exactly its victims.
    want = {}
    for e in pre:
        if isinstance(e, dict) and isinstance(e.get("victims"), list):
            want.setdefault(e.get("node"), set()).update(x for x in e["victims"] if isinstance(x, str))
    for pn in plan.get("nodes") or []:
        if not isinstance(pn, dict):
            continue
        got = pn.get("preempts")
        if got is None:
            got = []
        if not isinstance(got, list):
            r.v("format", "node %s: preempts is not an array" % pn.get("name"))
            continue
        if pn.get("new") is True and got:
            r.v("preemption", "new node %s preempts pods" % pn.get("name"))
        exp = want.pop(pn.get("name"), set()) if pn.get("new") is False else set()
        if set(got) != exp or len(got) != len(set(got)):
            r.v("preemption", "node %s: preempts %r, the preemptions evict %r"
                % (pn.get("name"), sorted(got), sorted(exp)))
    for n, ks in want.items():
        r.v("preemption", "node %s evicts %r but is not listed in nodes[]" % (n, sorted(ks)))
    return victims


def _check_preemptors_placed(r, plan, placed, pnodes):
    where = {p.key: n.name for p, n in placed}
    for e in plan.get("preemptions") or []:
        if isinstance(e, dict) and e.get("pod") in where and where[e["pod"]] != e.get("node"):
            r.v("preemption", "preemptor %s is placed on %s, not on %s where it preempts"
                % (e["pod"], where[e["pod"]], e.get("node")))
        elif isinstance(e, dict) and e.get("pod") not in where:
            r.v("preemption", "preemptor %s is not placed" % e.get("pod"))
    # A victim may come back to its node: later preemptions there, or pods
    # the scheduler's queue would have put there going elsewhere in the
    # plan, can leave room for it. That is legal, so it is not checked.


def _check_not_planned(r, plan, expect_np, seen):
    np = plan.get("not_planned", [])
    if not isinstance(np, list):
        r.v("format", "plan.not_planned is not an array")
        np = []
    listed = set()
    for idx, e in enumerate(np):
        if not isinstance(e, dict):
            r.v("format", "not_planned[%d] is not an object" % idx)
            continue
        k = e.get("pod")
        if k not in expect_np:
            r.v("notPlanned", "not_planned[%d]: %r is planned, not a pod to leave out" % (idx, k))
            continue
        if k in listed:
            r.v("notPlanned", "not_planned[%d]: %s listed twice" % (idx, k))
        listed.add(k)
        if k in seen:
            r.v("notPlanned", "%s is in not_planned and also in %s" % (k, seen[k]))
        if e.get("category") != expect_np[k]:
            r.v("notPlanned", "not_planned[%d]: %s has category %r, expected %r"
                % (idx, k, e.get("category"), expect_np[k]))
        if not isinstance(e.get("reason"), str) or not e["reason"].strip():
            r.v("reason", "not_planned[%d]: %s has no reason" % (idx, k))
    for k in sorted(set(expect_np) - listed):
        r.v("notPlanned", "%s (%s) is not listed in not_planned" % (k, expect_np[k]))


def _check_sched_summary(r, s, plan, victims):
    for field, value in (("not_planned_pods", len(plan.get("not_planned") or [])),
                         ("preemptions", len(plan.get("preemptions") or [])),
                         ("preempted_pods", len(victims))):
        # Absent (a plan written before these fields existed) means none.
        if s.get(field, 0) != value:
            r.v("summary", "summary.%s is %r, expected %r" % (field, s.get(field), value))


# --------------------------------------------------------------------------
# Headroom: virtual pods in namespace stevedore-headroom, named headroom-1...

HEADROOM_NS = "stevedore-headroom"
MIB = 1 << 20


def expected_headroom_units(inp, spec):
    """[(count, cpu millicores, memory bytes, automatic)] for a headroom
    spec shaped like the configuration file's: manual units with a count
    (default 1), then P% of the allocatable cpu and memory of the existing
    nodes that are not cordoned, as pods of 1 cpu and the cluster's mean
    memory per cpu rounded up to a MiB (P taken to 4 decimals)."""
    units = []
    for u in spec.get("manual") or []:
        count = u.get("count", 1)
        if count == 0:
            continue
        units.append((count, to_units("cpu", parse_quantity(str(u.get("cpu", "0")))),
                      to_units("memory", parse_quantity(str(u.get("memory", "0")))), False))
    auto = spec.get("automatic")
    if auto:
        ppm = round(Fraction(str(auto).rstrip("%")) * 10000)
        nodes = [n for n in inp.nodes.values() if not n.unschedulable and n.alloc]
        cpu = sum(n.alloc.get("cpu", 0) for n in nodes)
        mem = sum(n.alloc.get("memory", 0) for n in nodes)
        if ppm > 0 and cpu > 0:
            tcpu = ceil_fraction(Fraction(cpu * ppm, 10 ** 6))
            tmem = ceil_fraction(Fraction(mem * ppm, 10 ** 6))
            unit_mem = ceil_fraction(Fraction(mem * 1000, cpu * MIB)) * MIB
            count = max(ceil_fraction(Fraction(tcpu, 1000)),
                        ceil_fraction(Fraction(tmem, unit_mem)) if unit_mem else 0)
            if count > 0:
                units.append((count, 1000, unit_mem, True))
    return units


def _virtual_pod(i, cpu, mem):
    return Pod({"metadata": {"name": "headroom-%d" % i, "namespace": HEADROOM_NS},
                "spec": {"containers": [{"name": "headroom", "resources": {"requests": {
                    "cpu": "%dm" % cpu, "memory": str(mem)}}}]},
                "status": {"phase": "Pending"}}, "plan: headroom")


def _headroom_pods(r, inp, summary, spec):
    """The virtual pods the plan's summary.headroom.units describe, by key."""
    hs = summary.get("headroom")
    units = []
    if hs is not None:
        if not isinstance(hs, dict) or not isinstance(hs.get("units"), list):
            r.v("headroom", "summary.headroom is not an object with units")
            return {}
        for i, u in enumerate(hs["units"]):
            try:
                units.append((int(u["count"]), to_units("cpu", parse_quantity(u["cpu"])),
                              to_units("memory", parse_quantity(u["memory"])), u.get("automatic") is True))
            except (KeyError, TypeError, ValueError) as e:
                r.v("headroom", "summary.headroom.units[%d] is malformed: %s" % (i, e))
                return {}
    if spec is not None:
        want = expected_headroom_units(inp, spec)
        if units != want:
            r.v("headroom", "headroom units %s, expected %s (count, millicores, bytes, automatic)"
                % (units, want))
    out = {}
    i = 1
    taken = {q.key for q in inp.pods if q.ns == HEADROOM_NS}
    for count, cpu, mem, _ in units:
        for _ in range(count):
            p = _virtual_pod(i, cpu, mem)
            if p.key in taken:
                r.v("headroom", "virtual pod %s clashes with a pod of the snapshot" % p.key)
            out[p.key] = p
            i += 1
    return out


def _check_headroom_summary(r, s, virtual, hplaced):
    hs = s.get("headroom")
    if hs is None:
        if hplaced:
            r.v("headroom", "virtual pods placed but no summary.headroom")
        return
    if not isinstance(hs, dict):
        return

    def want(field, value):
        if hs.get(field) != value:
            r.v("headroom", "summary.headroom.%s is %r, expected %r" % (field, hs.get(field), value))
    want("pods", len(virtual))
    want("placed", len(hplaced))
    want("unplaced", len(virtual) - len(hplaced))
    want("on_existing_nodes", len([1 for p, n in hplaced if not n.new]))
    want("on_new_nodes", len([1 for p, n in hplaced if n.new]))
    for res in ("cpu", "memory"):
        total = sum(p.req.get(res, 0) for p in virtual.values())
        try:
            got = to_units(res, parse_quantity(hs.get(res)))
        except ValueError:
            got = None
        if got != total:
            r.v("headroom", "summary.headroom.%s is %r, the virtual pods ask for %s"
                % (res, hs.get(res), units_str(res, total)))
    # Cost: each new node's price x min(1, sum over its virtual pods of the
    # larger of their cpu and memory shares of its allocatable).
    share = {}
    known = True
    for p, n in hplaced:
        if not n.new:
            continue
        if n.alloc is None or not _num(n.price):
            known = False
            continue
        sh = []
        for res in ("cpu", "memory"):
            if n.alloc.get(res):
                sh.append(Fraction(p.req.get(res, 0), n.alloc[res]))
        share.setdefault(n.name, [n, Fraction(0)])[1] += max(sh) if sh else 0
    cost = sum(n.price * float(min(Fraction(1), x)) for n, x in share.values())
    got = hs.get("hourly_cost")
    if not _num(got):
        r.v("headroom", "summary.headroom.hourly_cost is %r" % (got,))
    elif known and abs(got - cost) > COST_EPS * max(1.0, abs(cost)):
        r.v("headroom", "summary.headroom.hourly_cost %r, but its share of the new nodes costs %r" % (got, cost))


def _new_node(r, inp, pn, where, capacity_types, reserved_used):
    name = pn["name"]
    itype = pn.get("instance_type")
    zone = pn.get("zone")
    ct = pn.get("capacity_type")
    cost = pn.get("hourly_cost")
    if ct not in CAPACITY_TYPES:
        r.v("capacityType", "%s: unknown capacity type %r" % (where, ct))
    elif ct not in capacity_types:
        r.v("capacityType", "%s: capacity type %s not allowed (allowed: %s)"
            % (where, ct, ",".join(capacity_types)))
    if not _num(cost) or cost < 0:
        r.v("cost", "%s: hourly_cost %r is not a non-negative number" % (where, cost))
        cost = None
    labels = pn.get("labels")
    if not isinstance(labels, dict):
        r.v("labels", "%s: labels is not an object" % where)
        labels = {}
    pool, taints = None, []
    pname = labels.get(NODE_POOL)
    if inp.pools is None:
        if pname is not None or pn.get("pool") is not None:
            r.v("pool", "%s: node pool %r but no pools are configured" % (where, pname or pn.get("pool")))
    else:
        pool = inp.pools.get(pname)
        if pool is None:
            r.v("pool", "%s: label %s=%r names no configured pool" % (where, NODE_POOL, pname))
        else:
            taints = pool_taints(pool)
            if pn.get("pool") != pname:
                r.v("pool", "%s: pool %r but label %s=%r" % (where, pn.get("pool"), NODE_POOL, pname))
    listed = pn.get("taints", [])
    if not isinstance(listed, list) or \
            sorted(json.dumps(x, sort_keys=True) for x in listed) != \
            sorted(json.dumps(x, sort_keys=True) for x in taints):
        r.v("taints", "%s: taints %r, expected %r" % (where, listed, taints))
    if inp.catalog is None:
        # Embedded catalogue: check what can be checked without it.
        node = Node(name, dict(labels), taints, None, False, True)
        node.instance_type, node.zone, node.capacity_type, node.price = itype, zone, ct, cost
        for k, v in ((HOSTNAME, name), (ZONE, zone), (INSTANCE_TYPE, itype),
                     (CAPACITY_TYPE, ct), (KARPENTER_CAPACITY_TYPE, ct), (OS, "linux")):
            if labels.get(k) != v:
                r.v("labels", "%s: label %s=%r, expected %r" % (where, k, labels.get(k), v))
        for k in (ARCH, REGION):
            if k not in labels:
                r.v("labels", "%s: label %s missing" % (where, k))
        return node
    t = inp.catalog_types.get(itype)
    if t is None:
        r.v("offering", "%s: instance type %r not in the catalogue" % (where, itype))
        return None
    off = find_offering(t, zone, ct)
    if off is None:
        r.v("offering", "%s: %s has no %s offering in zone %r" % (where, itype, ct, zone))
    else:
        price = off.get("price")
        listed = pn.get("price", cost)
        if listed is not None and _num(price) and abs(listed - price) > COST_EPS * max(1.0, abs(price)):
            r.v("cost", "%s: price %r but the catalogue price of %s %s %s is %r"
                % (where, listed, itype, zone, ct, price))
        if "count" in off:
            k = (itype, zone, ct)
            reserved_used[k] = reserved_used.get(k, 0) + 1
            if reserved_used[k] > off["count"]:
                r.v("reserved", "%s: more than %d nodes of %s %s %s"
                    % (where, off["count"], itype, zone, ct))
    if pool is not None:
        why = pool_admits(pool, inp.catalog, t, zone, ct)
        if why is not None:
            r.v("pool", "%s: pool %s does not admit %s %s %s: %s" % (where, pool["name"], itype, zone, ct, why))
    exp = expected_new_node_labels(inp.catalog, t, zone, ct, name, pool)
    for k in zone_alias_keys(inp):
        exp.setdefault(k, zone)
    for k, v in sorted(exp.items()):
        if labels.get(k) != v:
            r.v("labels", "%s: label %s=%r, expected %r" % (where, k, labels.get(k), v))
    for k in sorted(labels):
        if k not in exp:
            r.v("labels", "%s: unexpected label %s=%r" % (where, k, labels[k]))
    alloc = type_allocatable(t)
    if alloc is None:
        r.note("%s: catalogue gives no allocatable for %s; resources not checked"
               % (where, itype))
    node = Node(name, exp, taints, alloc, False, True)
    node.instance_type, node.zone, node.capacity_type = itype, zone, ct
    node.price = off.get("price") if off else cost
    _node_economics(r, inp, pn, where, t, pool, node)
    return node


def _node_economics(r, inp, pn, where, t, pool, node):
    """The per-node cost and burstable rules of new node pn (docs/optimizer.md,
    "Economics"): a burstable type only where its pool allows one; in
    standard mode (or without a surplus price) the node offers vCPUs x
    baseline of cpu; in unlimited mode its surplus credits are checked
    later, by _check_credits, against the cpu its pods request. node.price
    becomes the node's whole hourly cost as the plan lists it."""
    want_nc = inp.node_cost
    if pool is not None and _num(pool.get("nodeCost")):
        want_nc = pool["nodeCost"]
    nc, credits, cost = pn.get("node_cost", 0), pn.get("credit_cost", 0), pn.get("hourly_cost")
    if not _num(nc) or abs(nc - want_nc) > COST_EPS:
        r.v("cost", "%s: node_cost %r, expected %r" % (where, nc, want_nc))
        nc = want_nc
    if not _num(credits) or credits < 0:
        r.v("cost", "%s: credit_cost %r is not a non-negative number" % (where, credits))
        credits = 0
    node.burst, node.credits = None, credits
    burst = t.get("burstable")
    if burst is None:
        if credits > COST_EPS:
            r.v("cost", "%s: credit_cost %r on %s, which is not burstable" % (where, credits, t["name"]))
    else:
        allow = (pool or {}).get("burstable") or {}
        mode = allow.get("mode", "standard") if allow.get("allowed") is True else None
        vcpu_m = parse_quantity(str(t["capacity"]["cpu"])) * 1000
        base_m = int(math.floor(float(vcpu_m) * burst["baseline"] + 0.5))
        if mode is None:
            r.v("burstable", "%s: %s is a burstable type, but %s allows none"
                % (where, t["name"], "pool %s" % pool["name"] if pool else "the default pool"))
        elif mode == "unlimited" and _num(burst.get("surplus_price")) and burst["surplus_price"] > 0:
            node.burst = (base_m, burst["surplus_price"])
        elif node.alloc is not None and node.alloc.get("cpu", 0) > base_m:
            node.alloc = dict(node.alloc)
            node.alloc["cpu"] = base_m
        if node.burst is None and credits > COST_EPS:
            r.v("cost", "%s: credit_cost %r, but %s runs in standard mode" % (where, credits, t["name"]))
    if _num(node.price) and _num(cost) and abs(cost - (node.price + nc + credits)) > COST_EPS * max(1.0, cost):
        r.v("cost", "%s: hourly_cost %r is not price %r + node_cost %r + credit_cost %r"
            % (where, cost, node.price, nc, credits))
    if _num(node.price):
        node.price += nc + credits


def _check_credits(r, inp, final_nodes, added_on):
    """Each unlimited-mode burstable node's credit_cost: the surplus price per
    vCPU-hour of the cpu its pods and DaemonSet copies request above vCPUs x
    baseline (pods taken to use their requests all the time)."""
    for n in final_nodes:
        if not n.new or n.burst is None:
            continue
        base_m, surplus = n.burst
        daemons = [inp.ds[u] for u in inp.ds_order if ds_lands_on(inp.ds[u], n)]
        cpu = sum(p.req.get("cpu", 0) for p in daemons + list(added_on.get(n.index) or []))
        want = surplus * max(0, cpu - base_m) / 1000.0
        if abs(n.credits - want) > COST_EPS * max(1.0, want):
            r.v("cost", "node %s: credit_cost %r, but %dm of requested cpu above a baseline of %dm "
                "at %r per vCPU-hour is %r" % (n.name, n.credits, cpu, base_m, surplus, want))


def _check_summary(r, s, inp, pending, placed, punsched, new_nodes):
    def want(field, value):
        got = s.get(field)
        if not _num(got) or got != value:
            r.v("summary", "summary.%s is %r, expected %r" % (field, got, value))
    want("pending_pods", len(pending))
    want("placed_pods", len(placed))
    want("unschedulable_pods", len(punsched))
    want("new_nodes", len(new_nodes))
    cost = s.get("new_nodes_hourly_cost")
    listed = 0.0
    for n in new_nodes:
        if _num(n.price):
            listed += n.price
    if not _num(cost):
        r.v("summary", "summary.new_nodes_hourly_cost is %r" % (cost,))
    elif abs(cost - listed) > COST_EPS * max(1.0, len(new_nodes), abs(listed)):
        r.v("cost", "summary.new_nodes_hourly_cost %r but the new nodes cost %r"
            % (cost, listed))
    lb = s.get("lower_bound_hourly_cost")
    if lb is not None:
        if not _num(lb) or lb < -COST_EPS:
            r.v("summary", "summary.lower_bound_hourly_cost is %r" % (lb,))
        elif _num(cost) and lb > cost + COST_EPS:
            r.v("cost", "lower bound %r exceeds the plan's cost %r" % (lb, cost))
    if inp.catalog is not None:
        cur = inp.catalog.get("currency", "USD")
        if s.get("currency") != cur:
            r.v("summary", "summary.currency %r, catalogue says %r" % (s.get("currency"), cur))
    elif not isinstance(s.get("currency"), str):
        r.v("summary", "summary.currency missing")


def _check_resources(r, inp, final_nodes, on_node, added_on):
    for n in final_nodes:
        added = added_on.get(n.index)
        if not added:
            continue
        if n.alloc is None:
            continue
        base = on_node.get(n.index, []) if not n.new else []
        daemons = []
        if n.new:
            daemons = [inp.ds[u] for u in inp.ds_order if ds_lands_on(inp.ds[u], n)]
        used = {}
        for p in base + daemons + added:
            for k, v in p.req.items():
                used[k] = used.get(k, 0) + v
        checked = set()
        for p in added + daemons:
            checked.update(k for k, v in p.req.items() if v > 0)
        for k in sorted(checked):
            cap = n.alloc.get(k, 0)
            if used.get(k, 0) > cap:
                r.v("resources", "node %s: %s requested %s > allocatable %s "
                    "(%d existing pods, %d DaemonSet copies, %d added pods)"
                    % (n.name, k, units_str(k, used[k]), units_str(k, cap),
                       len(base), len(daemons), len(added)))
        npods = len(base) + len(daemons) + len(added)
        if "pods" in n.alloc and npods > n.alloc["pods"]:
            r.v("resources", "node %s: %d pods > allocatable pods %d"
                % (n.name, npods, n.alloc["pods"]))


def _check_host_ports(r, inp, final_nodes, on_node, added_on):
    """NodePorts: no pod the plan adds asks for a host port that a pod
    already on the node (bound, a DaemonSet copy on a new node, or added
    before it) holds on an overlapping hostIP."""
    for n in final_nodes:
        added = added_on.get(n.index)
        if not added:
            continue
        holders = []
        if n.new:
            holders = [("DaemonSet copy " + inp.ds[u].key, inp.ds[u].host_ports)
                       for u in inp.ds_order if ds_lands_on(inp.ds[u], n)]
        else:
            holders = [(p.key, p.host_ports) for p in on_node.get(n.index, [])]
        for p in added:
            for who, ports in holders:
                clash = host_port_clash(p.host_ports, ports)
                if clash is not None:
                    r.v("hostPort", "node %s: pod %s asks for host port %d/%s on %s, which %s holds"
                        % (n.name, p.key, clash[1], clash[0], clash[2], who))
                    break
            holders.append((p.key, p.host_ports))


def _same_domain(na, nb, key):
    va = na.labels.get(key)
    return va is not None and va == nb.labels.get(key)


def _check_anti_affinity(r, inp, bound, placed):
    everyone = [(p, n, False) for p, n in bound] + [(p, n, True) for p, n in placed]
    reported = set()
    for a, na, anew in everyone:
        if not a.anti_terms:
            continue
        for ti, term in enumerate(a.anti_terms):
            for b, nb, bnew in everyone:
                if b is a or not (anew or bnew):
                    continue
                if not _same_domain(na, nb, term.key):
                    continue
                if not term.matches(b, inp.ns_labels):
                    continue
                pair = (a.key, b.key, ti)
                if pair in reported:
                    continue
                reported.add(pair)
                r.v("podAntiAffinity",
                    "pod %s on %s and pod %s on %s share %s=%s but %s's "
                    "anti-affinity term %d selects %s"
                    % (a.key, na.name, b.key, nb.name, term.key,
                       na.labels.get(term.key), a.key, ti, b.key))


def _matches_all(terms, pod, inp):
    return all(t.matches(pod, inp.ns_labels) for t in terms)


def _check_affinity(r, inp, bound, placed):
    """Required pod affinity of placed pods, in some scheduling order.

    A pod P on node N passes when N has every term's topology key and, for
    each term, some pod already present that matches ALL of P's terms runs in
    N's domain of that key; or, when no present pod on a node with one of the
    keys matches all of P's terms, P matches its own terms (the first pod of
    a self-affine group). The order is searched greedily: pods that can use
    the first-pod exception go first (adding pods only ever removes that
    possibility), then pods whose terms are met; affinity-free pods last.
    """
    todo = [(p, n) for p, n in placed if p.aff_terms]
    if not todo:
        return
    present = list(bound)
    free = [(p, n) for p, n in placed if not p.aff_terms]
    everyone = bound + placed
    # candidates[i] = indices (into everyone) of pods matching all terms of todo[i]
    cand = []
    for p, n in todo:
        cand.append([j for j, (q, m) in enumerate(everyone)
                     if q is not p and _matches_all(p.aff_terms, q, inp)])
    index_of = {}
    for j, (q, m) in enumerate(everyone):
        index_of[id(q)] = j
    in_state = set(index_of[id(q)] for q, m in present)
    remaining = list(range(len(todo)))
    self_match = [_matches_all(p.aff_terms, p, inp) for p, n in todo]

    def has_keys(i):
        p, n = todo[i]
        return all(t.key in n.labels for t in p.aff_terms)

    def normal_ok(i):
        p, n = todo[i]
        if not has_keys(i):
            return False
        for t in p.aff_terms:
            v = n.labels[t.key]
            if not any(j in in_state and everyone[j][1].labels.get(t.key) == v
                       for j in cand[i]):
                return False
        return True

    def exception_ok(i):
        p, n = todo[i]
        if not self_match[i] or not has_keys(i):
            return False
        keys = [t.key for t in p.aff_terms]
        for j in cand[i]:
            if j in in_state and any(k in everyone[j][1].labels for k in keys):
                return False
        return True

    def add(i):
        remaining.remove(i)
        in_state.add(index_of[id(todo[i][0])])

    progress = True
    while remaining and progress:
        progress = False
        for i in list(remaining):
            if exception_ok(i) and not normal_ok(i):
                add(i)
                progress = True
                break
        if progress:
            continue
        for i in list(remaining):
            if normal_ok(i):
                add(i)
                progress = True
        if not progress:
            # affinity-free placed pods may satisfy the rest
            added_free = False
            for q, m in free:
                j = index_of[id(q)]
                if j not in in_state:
                    in_state.add(j)
                    added_free = True
            progress = added_free
    for i in remaining:
        p, n = todo[i]
        if not has_keys(i):
            missing = [t.key for t in p.aff_terms if t.key not in n.labels]
            r.v("podAffinity", "pod %s on %s: node lacks topology key(s) %s"
                % (p.key, n.name, ",".join(missing)))
            continue
        r.v("podAffinity",
            "pod %s on %s (%s): required pod affinity not satisfied in any "
            "scheduling order (%d pods match all its terms%s)"
            % (p.key, n.name,
               ",".join("%s=%s" % (t.key, n.labels.get(t.key)) for t in p.aff_terms),
               len(cand[i]), "" if self_match[i] else "; it does not match its own terms"))


def _spread_selector_matches(c, pod, target):
    sel = c.get("labelSelector")
    if sel is None:
        return False
    keys = c.get("matchLabelKeys") or []
    if keys:
        sel = dict(sel)
        exprs = list(sel.get("matchExpressions") or [])
        for k in keys:
            if k in pod.labels:
                exprs.append({"key": k, "operator": "In", "values": [pod.labels[k]]})
        sel["matchExpressions"] = exprs
    return label_selector_matches(sel, target.labels)


def _spread_selector_empty(c, pod):
    sel = c.get("labelSelector") or {}
    if sel.get("matchLabels") or sel.get("matchExpressions"):
        return False
    return not any(k in pod.labels for k in c.get("matchLabelKeys") or [])


def _spread_eligible(pod, c, node, all_keys):
    for k in all_keys:
        if k not in node.labels:
            return False
    if c.get("nodeAffinityPolicy", "Honor") == "Honor":
        if not node_affinity_matches(pod.spec, node.labels, node.name):
            return False
    if c.get("nodeTaintsPolicy", "Ignore") == "Honor":
        taints = list(node.taints)
        if node.unschedulable and not any(t.get("key") == UNSCHEDULABLE_TAINT for t in taints):
            taints.append({"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"})
        if untolerated_taint(pod.tolerations, taints) is not None:
            return False
    return True


def _check_spread(r, inp, final_nodes, bound, placed):
    """DoNotSchedule topologySpreadConstraints of placed pods, final state.

    For a placed pod P matching its constraint's selector, on node N in
    domain D: count(D) - min over eligible domains <= maxSkew, where counts
    are pods in P's namespace matching the selector on eligible nodes
    (nodes passing P's node affinity per nodeAffinityPolicy, taints per
    nodeTaintsPolicy, carrying every constraint's topology key) and min is 0
    when there are fewer eligible domains than minDomains.
    """
    everyone = [(p, n) for p, n in bound if not p.terminating] + list(placed)
    cache = {}
    reported = set()
    for p, n in placed:
        if not p.spread:
            continue
        all_keys = [c.get("topologyKey") for c in p.spread]
        for ci, c in enumerate(p.spread):
            key = c.get("topologyKey")
            if key not in n.labels:
                r.v("topologySpread", "pod %s on %s: node lacks topology key %s"
                    % (p.key, n.name, key))
                continue
            # A pod its own selector does not match is held to the same
            # bound, without counting itself (kube-scheduler's selfMatchNum).
            if _spread_selector_empty(c, p):
                # kube-scheduler counts no pods for an empty selector: the
                # skew is at most 1 whatever the placement
                continue
            ck = json.dumps([p.ns, p.labels if c.get("matchLabelKeys") else None,
                             c, all_keys, p.spec.get("nodeSelector"),
                             required_node_affinity(p.spec), p.tolerations],
                            sort_keys=True)
            st = cache.get(ck)
            if st is None:
                eligible = [m for m in final_nodes if _spread_eligible(p, c, m, all_keys)]
                elig_idx = {m.index for m in eligible}
                counts = {}
                for m in eligible:
                    counts.setdefault(m.labels[key], 0)
                for q, m in everyone:
                    if m.index in elig_idx and q.ns == p.ns and \
                            _spread_selector_matches(c, p, q):
                        counts[m.labels[key]] += 1
                min_domains = c.get("minDomains") or 1
                mn = min(counts.values()) if counts else 0
                if len(counts) < min_domains:
                    mn = 0
                st = (elig_idx, counts, mn)
                cache[ck] = st
            elig_idx, counts, mn = st
            if n.index not in elig_idx:
                r.v("topologySpread", "pod %s on %s: node is not an eligible domain of "
                    "its own spread constraint %d" % (p.key, n.name, ci))
                continue
            d = n.labels[key]
            skew = counts.get(d, 0) - mn
            if skew > c.get("maxSkew", 1):
                tag = (ck, d)
                if tag in reported:
                    continue
                reported.add(tag)
                r.v("topologySpread",
                    "pod %s on %s: %s=%s has %d matching pods, min over %d eligible "
                    "domains is %d: skew %d > maxSkew %d"
                    % (p.key, n.name, key, d, counts.get(d, 0), len(counts), mn,
                       skew, c.get("maxSkew", 1)))


def _check_completeness(r, inp, punsched, pods_by_key, bound, placed,
                        capacity_types, reserved_used):
    """An unschedulable pod with only node-level constraints that would fit
    alone on a fresh node of some allowed offering is a packer miss."""
    if inp.catalog is None:
        return
    everyone = [p for p, n in bound] + [p for p, n in placed]
    zone_anti = [(q, t) for q in everyone for t in q.anti_terms if t.key != HOSTNAME]
    for u in punsched:
        if not isinstance(u, dict):
            continue
        p = pods_by_key.get(u.get("pod"))
        if p is None or not p.pending or p.ds_uid is not None:
            continue
        if p.aff_terms or p.spread or any(t.key != HOSTNAME for t in p.anti_terms):
            continue
        req = required_node_affinity(p.spec)
        if req is not None and any(t.get("matchFields") for t in req.get("nodeSelectorTerms") or []):
            continue
        if any(t.matches(p, inp.ns_labels) for q, t in zone_anti):
            continue
        if pod_volumes(inp, p).blocked:
            continue
        fit = _fits_fresh_node(inp, p, capacity_types, reserved_used)
        if fit is not None:
            r.v("completeness", "pod %s is unschedulable (%s) but fits alone on a new %s"
                % (p.key, u.get("reason"), fit))


def _fits_fresh_node(inp, p, capacity_types, reserved_used):
    for t in inp.catalog.get("instance_types") or []:
        alloc = type_allocatable(t)
        if alloc is None:
            continue
        for o in t.get("offerings") or []:
            ct, zone = o.get("capacity_type"), o.get("zone")
            if ct not in capacity_types:
                continue
            if "count" in o and reserved_used.get((t.get("name"), zone, ct), 0) >= o["count"]:
                continue
            for pool in (list(inp.pools.values()) if inp.pools else [None]):
                if pool is not None and pool_admits(pool, inp.catalog, t, zone, ct) is not None:
                    continue
                fit = _fits_probe(inp, p, t, zone, ct, pool, alloc)
                if fit is not None:
                    return fit
    return None


def _fits_probe(inp, p, t, zone, ct, pool, alloc):
    """Where p fits alone on a fresh node of this offering and pool, or None."""
    name = "completeness-probe"
    labels = expected_new_node_labels(inp.catalog, t, zone, ct, name, pool)
    for k in zone_alias_keys(inp):
        labels.setdefault(k, zone)
    node = Node(name, labels, pool_taints(pool) if pool else [], alloc, False, True)
    if not node_affinity_matches(p.spec, labels, None):
        return None
    if any(c(node) for c in pod_volumes(inp, p).checks):
        return None
    if untolerated_taint(p.tolerations, node.taints) is not None:
        return None
    daemons = [inp.ds[u] for u in inp.ds_order if ds_lands_on(inp.ds[u], node)]
    if any(host_port_clash(p.host_ports, d.host_ports) for d in daemons):
        return None
    used = dict(p.req)
    for d in daemons:
        for k, v in d.req.items():
            used[k] = used.get(k, 0) + v
    if any(v > 0 and used[k] > alloc.get(k, 0) for k, v in p.req.items()):
        return None
    if 1 + len(daemons) > alloc.get("pods", 1 << 60):
        return None
    return "%s in %s (%s%s)" % (t.get("name"), zone, ct, ", pool " + pool["name"] if pool else "")


# --------------------------------------------------------------------------
# Storage: VolumeBinding, VolumeZone and NodeVolumeLimits (CSI), written
# from the plugins' documented behaviour (kube-scheduler default profile).

VOLUME_ZONE_KEYS = ("topology.kubernetes.io/zone", "topology.kubernetes.io/region",
                    "failure-domain.beta.kubernetes.io/zone",
                    "failure-domain.beta.kubernetes.io/region")
BETA_TO_GA = {"failure-domain.beta.kubernetes.io/zone": "topology.kubernetes.io/zone",
              "failure-domain.beta.kubernetes.io/region": "topology.kubernetes.io/region"}
# In-tree plugin and volume source names -> the CSI driver that serves them.
MIGRATED = {"kubernetes.io/aws-ebs": "ebs.csi.aws.com",
            "kubernetes.io/gce-pd": "pd.csi.storage.gke.io",
            "kubernetes.io/azure-disk": "disk.csi.azure.com",
            "kubernetes.io/azure-file": "file.csi.azure.com",
            "kubernetes.io/cinder": "cinder.csi.openstack.org",
            "kubernetes.io/vsphere-volume": "csi.vsphere.vmware.com",
            "kubernetes.io/portworx-volume": "pxd.portworx.com"}
INTREE_SOURCES = {"awsElasticBlockStore": ("volumeID", "ebs.csi.aws.com"),
                  "gcePersistentDisk": ("pdName", "pd.csi.storage.gke.io"),
                  "azureDisk": ("diskName", "disk.csi.azure.com"),
                  "cinder": ("volumeID", "cinder.csi.openstack.org"),
                  "vsphereVolume": ("volumePath", "csi.vsphere.vmware.com")}


def add_storage_object(inp, obj):
    """Keeps PVCs, PVs, StorageClasses and CSINodes; True when obj was one."""
    if not hasattr(inp, "pvcs"):
        inp.pvcs, inp.pvs, inp.scs, inp.csinodes = {}, {}, {}, {}
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if kind == "PersistentVolumeClaim":
        inp.pvcs[(meta.get("namespace") or "default", name)] = obj
    elif kind == "PersistentVolume":
        inp.pvs[name] = obj
    elif kind == "StorageClass":
        inp.scs[name] = obj
    elif kind == "CSINode":
        inp.csinodes[name] = obj
    else:
        return False
    return True


def _class_of(obj):
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    if "volume.beta.kubernetes.io/storage-class" in ann:
        return ann["volume.beta.kubernetes.io/storage-class"]
    return (obj.get("spec") or {}).get("storageClassName")


def _default_class(inp):
    best = None
    for name, sc in sorted(inp.scs.items()):
        ann = (sc.get("metadata") or {}).get("annotations") or {}
        if "true" not in (ann.get("storageclass.kubernetes.io/is-default-class"),
                          ann.get("storageclass.beta.kubernetes.io/is-default-class")):
            continue
        created = (sc.get("metadata") or {}).get("creationTimestamp") or ""
        if best is None or created > best[0]:
            best = (created, name)
    return best[1] if best else None


def _attachable(src):
    """(driver, handle) of an attachable source (PV spec or pod volume), or None."""
    if src.get("csi"):
        return (MIGRATED.get(src["csi"].get("driver"), src["csi"].get("driver")),
                src["csi"].get("volumeHandle"))
    for field, (idf, driver) in INTREE_SOURCES.items():
        if src.get(field):
            return (driver, src[field].get(idf))
    return None


class PodVolumes(object):
    """What a pod's volumes demand: blocked (a reason no node can take it),
    node checks (callables node -> reason or None), attachments."""

    def __init__(self):
        self.blocked = None
        self.checks = []
        self.attach = []      # (driver, unique key)
        self.unchecked = False


def _pv_affinity_check(pv):
    terms = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get(
        "nodeSelectorTerms")
    if terms is None:
        return None
    name = pv["metadata"]["name"]

    def check(node):
        # Volume binding sees only the node's labels: matchFields never match.
        if any(node_selector_term_matches(t, node.labels, None) for t in terms):
            return None
        return "volume node affinity conflict (PersistentVolume %s)" % name
    return check


def _pv_zone_check(pv):
    labels = (pv.get("metadata") or {}).get("labels") or {}
    want = [(k, set(v.split("__"))) for k, v in labels.items() if k in VOLUME_ZONE_KEYS]
    if not want:
        return None
    name = pv["metadata"]["name"]

    def check(node):
        if not any(k in node.labels for k in VOLUME_ZONE_KEYS):
            return None
        for k, vals in want:
            v = node.labels.get(k)
            if v is None and k in BETA_TO_GA:
                v = node.labels.get(BETA_TO_GA[k])
            if v is None or v not in vals:
                return "no available volume zone (PersistentVolume %s: %s in %s)" % (
                    name, k, sorted(vals))
        return None
    return check


def _topology_check(sc):
    topo = sc.get("allowedTopologies")
    if not topo:
        return None

    def check(node):
        for t in topo:
            if all(node.labels.get(e.get("key")) in (e.get("values") or [])
                   for e in t.get("matchLabelExpressions") or []):
                return None
        return "outside allowedTopologies of StorageClass %s" % sc["metadata"]["name"]
    return check


def _local_pv_check(inp, sc, pod, claim):
    pvs = []
    for pv in inp.pvs.values():
        spec = pv.get("spec") or {}
        ref = spec.get("claimRef") or {}
        mine = ref.get("name") == claim and (ref.get("namespace") or "default") == pod.ns
        free = not ref and (pv.get("status") or {}).get("phase") == "Available"
        if _class_of(pv) == sc["metadata"]["name"] and (mine or free):
            pvs.append(pv)
    if not pvs:
        return None, "no available PersistentVolume of class %s" % sc["metadata"]["name"]
    checks = [_pv_affinity_check(pv) for pv in pvs]
    if any(c is None for c in checks):
        return None, None

    def check(node):
        if any(c(node) is None for c in checks):
            return None
        return "no available local PersistentVolume of class %s on the node" % sc["metadata"]["name"]
    return check, None


def pod_volumes(inp, pod):
    add_storage_object(inp, {})
    pv_ = PodVolumes()
    for i, vol in enumerate(pod.spec.get("volumes") or []):
        if vol.get("persistentVolumeClaim"):
            claim, eph_class, ephemeral = vol["persistentVolumeClaim"].get("claimName"), None, False
        elif vol.get("ephemeral"):
            claim = "%s-%s" % (pod.name, vol.get("name"))
            tmpl = (vol["ephemeral"].get("volumeClaimTemplate") or {}).get("spec") or {}
            eph_class, ephemeral = tmpl.get("storageClassName"), True
        else:
            a = _attachable(vol)
            if a is not None:
                pv_.attach.append((a[0], a[1] or "%s/%s/%d" % (pod.ns, pod.name, i)))
            continue
        pvc = inp.pvcs.get((pod.ns, claim))
        if pvc is None and not ephemeral:
            if not inp.pvcs:
                pv_.unchecked = True
            else:
                pv_.blocked = pv_.blocked or "claim %s not found" % claim
            continue
        if pvc is not None and (pvc.get("metadata") or {}).get("deletionTimestamp"):
            pv_.blocked = pv_.blocked or "claim %s is being deleted" % claim
            continue
        vname = ((pvc or {}).get("spec") or {}).get("volumeName")
        if vname:
            pv = inp.pvs.get(vname)
            if pv is None:
                if not inp.pvs:
                    pv_.unchecked = True
                else:
                    pv_.blocked = pv_.blocked or "claim %s bound to missing PV %s" % (claim, vname)
                continue
            for c in (_pv_affinity_check(pv), _pv_zone_check(pv)):
                if c is not None:
                    pv_.checks.append(c)
            a = _attachable(pv.get("spec") or {})
            if a is not None:
                pv_.attach.append((a[0], "pv/" + vname))
            continue
        cls = _class_of(pvc) if pvc is not None else eph_class
        if cls is None:
            cls = _default_class(inp)
        if not inp.scs and cls is None:
            pv_.unchecked = True
            continue
        sc = inp.scs.get(cls) if cls else None
        if sc is None and cls and not inp.scs:
            pv_.unchecked = True
            continue
        if sc is None or sc.get("volumeBindingMode") != "WaitForFirstConsumer":
            pv_.blocked = pv_.blocked or "claim %s unbound, Immediate binding" % claim
            continue
        if sc.get("provisioner") == "kubernetes.io/no-provisioner":
            c, why = _local_pv_check(inp, sc, pod, claim)
            if why:
                pv_.blocked = pv_.blocked or why
            elif c is not None:
                pv_.checks.append(c)
            continue
        c = _topology_check(sc)
        if c is not None:
            pv_.checks.append(c)
        prov = sc.get("provisioner")
        pv_.attach.append((MIGRATED.get(prov, prov), "claim/%s/%s" % (pod.ns, claim)))
    return pv_


# Attach limits of new nodes, written from the drivers' documentation:
# EBS 39 on Xen families, 25 on Nitro (kube-scheduler's long-time default);
# GCE PD 15 on shared-core types, 127 otherwise, Hyperdisk families by vCPU;
# Azure 2 per vCPU within [2, 32] (a conservative rule).
_AWS_XEN = {"c1", "c3", "c4", "d2", "g2", "g3", "g3s", "h1", "i2", "i3", "m1", "m2", "m3", "m4",
            "p2", "p3", "r3", "r4", "t1", "t2", "x1", "x1e"}
_GCP_SHARED = {"e2-micro", "e2-small", "e2-medium", "f1-micro", "g1-small"}
_GCP_GEN4 = {"c4", "c4a", "c4d", "n4", "n4a", "n4d", "h4d", "m4"}


def _type_vcpu(inp, type_name):
    t = inp.catalog_types.get(type_name) if inp.catalog else None
    if not t:
        return None
    cpu = (t.get("capacity") or {}).get("cpu")
    if cpu is None:
        return None
    return int(math.ceil(parse_quantity(str(cpu))))


def new_node_attach_limit(inp, node, driver):
    """The attach limit of driver on a new node, or None for none."""
    reported = {}
    for n in inp.nodes.values():
        lim = existing_attach_limit(inp, n, driver)
        if lim is not None:
            reported.setdefault(n.instance_type, []).append(lim)
    if node.instance_type in reported:
        return max(reported[node.instance_type])
    provider = (inp.catalog or {}).get("provider")
    if provider is None:  # an embedded catalogue: the driver's own cloud
        provider = {"ebs.csi.aws.com": "aws", "pd.csi.storage.gke.io": "gcp",
                    "disk.csi.azure.com": "azure"}.get(driver)
    t = node.instance_type or ""
    if provider == "aws" and driver == "ebs.csi.aws.com":
        if t == "i3.metal":
            return 25
        return 39 if t.split(".")[0] in _AWS_XEN else 25
    vcpu = _type_vcpu(inp, t)
    if vcpu is None and provider == "gcp" and re.search(r"-(\d+)$", t):
        vcpu = int(re.search(r"-(\d+)$", t).group(1))  # n2-standard-8: 8 vCPUs
    if provider == "gcp" and driver == "pd.csi.storage.gke.io":
        if t in _GCP_SHARED:
            return 15
        if t.split("-")[0] in _GCP_GEN4 and vcpu is not None:
            for top, lim in ((2, 7), (8, 15), (32, 31), (144, 63)):
                if vcpu <= top:
                    return lim
            return 127
        return 127
    if provider == "azure" and driver == "disk.csi.azure.com" and vcpu is not None:
        return max(2, min(2 * vcpu, 32))
    every = [v for vs in reported.values() for v in vs]
    return min(every) if every else None


def zone_alias_keys(inp):
    """CSI drivers' topologyKeys (CSINodes) that carry the zone on every
    existing node that has them; kubelet sets them on a node when the driver
    registers, so new nodes carry them too, with their zone."""
    fixed = getattr(inp, "zone_alias_keys_fixed", None)
    if fixed is not None:
        return fixed
    # The block-storage drivers' keys count even without CSINodes.
    keys = {"topology.ebs.csi.aws.com/zone", "topology.gke.io/zone",
            "topology.disk.csi.azure.com/zone"}
    for cn in getattr(inp, "csinodes", {}).values():
        for d in ((cn.get("spec") or {}).get("drivers") or []):
            keys.update(d.get("topologyKeys") or [])
    out = []
    for k in sorted(keys - set(VOLUME_ZONE_KEYS)):
        having = [n for n in inp.nodes.values() if k in n.labels]
        zone_of = lambda n: n.labels.get(ZONE, n.labels.get("failure-domain.beta.kubernetes.io/zone"))
        if having and all(n.labels[k] == zone_of(n) for n in having):
            out.append(k)
    return out


def existing_attach_limit(inp, node, driver):
    """CSINode spec.drivers[name=driver].allocatable.count, or None."""
    cn = getattr(inp, "csinodes", {}).get(node.name)
    for d in ((cn or {}).get("spec") or {}).get("drivers") or []:
        if d.get("name") == driver and (d.get("allocatable") or {}).get("count") is not None:
            return d["allocatable"]["count"]
    return None


def check_volumes(r, inp, final_nodes, bound, placed, punsched):
    """Placed pods on nodes their volumes allow; blocked pods not placed;
    attachments per node and driver within the node's limit, counting each
    distinct volume once per node as kube-scheduler does."""
    add_storage_object(inp, {})
    vols = {}
    for p, n in placed:
        v = vols[p.key] = pod_volumes(inp, p)
        if v.blocked:
            r.v("volumes", "pod %s is placed on %s but %s" % (p.key, n.name, v.blocked))
        for c in v.checks:
            why = c(n)
            if why:
                r.v("volumes", "pod %s on node %s: %s" % (p.key, n.name, why))
    attached = {}
    for p, n in list(bound) + list(placed):
        v = vols.get(p.key) or pod_volumes(inp, p)
        for driver, key in v.attach:
            attached.setdefault((n.index, driver), set()).add(key)
    by_index = {n.index: n for n in final_nodes}
    for (idx, driver), keys in sorted(attached.items()):
        n = by_index.get(idx)
        if n is None or not any(pn is n for _, pn in placed):
            continue
        lim = new_node_attach_limit(inp, n, driver) if n.new else existing_attach_limit(inp, n, driver)
        if lim is not None and len(keys) > lim:
            r.v("volumes", "node %s: %d volumes of CSI driver %s attached > limit %d"
                % (n.name, len(keys), driver, lim))
    for u in punsched:
        p = None
        if isinstance(u, dict):
            p = next((q for q in inp.pods if q.key == u.get("pod")), None)
        if p is not None and pod_volumes(inp, p).blocked and not u.get("reason"):
            r.v("volumes", "pod %s is blocked by its claims but has no reason" % p.key)


# --------------------------------------------------------------------------
# Command line.

def parse_capacity_types(s):
    out = [x.strip() for x in s.split(",") if x.strip()]
    for x in out:
        if x not in CAPACITY_TYPES:
            raise InputError("unknown capacity type %r" % x)
    return out


ZONE_KEYS = (ZONE, "failure-domain.beta.kubernetes.io/zone")
SYSTEM_PRIORITY_CLASSES = ("system-node-critical", "system-cluster-critical")


def system_pod_reason(p):
    """Why the repack keeps pod p by default as a system pod, or None: a
    system-node-critical / system-cluster-critical priority class, a
    priority of 2000000000 or more, or a controller-owned pod in
    kube-system."""
    pc = p.spec.get("priorityClassName")
    if pc in SYSTEM_PRIORITY_CLASSES:
        return "%s priority" % pc
    prio = p.spec.get("priority")
    if isinstance(prio, int) and not isinstance(prio, bool) and prio >= 2000000000:
        return "priority %d" % prio
    if p.ns == "kube-system" and p.unmovable != "bare pod":
        return "kube-system controller pod"
    return None


def _merged_term_selector(term, pod):
    """The term's labelSelector with matchLabelKeys (In) and
    mismatchLabelKeys (NotIn) merged with pod's values, or None."""
    sel = term.get("labelSelector")
    if sel is None:
        return None
    exprs = list(sel.get("matchExpressions") or [])
    for keys, op in ((term.get("matchLabelKeys"), "In"), (term.get("mismatchLabelKeys"), "NotIn")):
        for k in keys or []:
            if k in pod.labels:
                exprs.append({"key": k, "operator": op, "values": [pod.labels[k]]})
    out = dict(sel)
    out["matchExpressions"] = exprs
    return out


def promote_zone_preferences(p):
    """The repack's policy for a pod it moves: a ScheduleAnyway spread on
    the zone key becomes DoNotSchedule; a preferred pod anti-affinity term on
    the zone key that selects the pod itself within its own namespace
    becomes a DoNotSchedule zone spread of maxSkew 1 over the same selector,
    any other a required anti-affinity term. Returns how many were
    promoted."""
    n = 0
    for c in p.spec.get("topologySpreadConstraints") or []:
        if c.get("whenUnsatisfiable") == "ScheduleAnyway" and c.get("topologyKey") in ZONE_KEYS:
            c2 = dict(c)
            c2["whenUnsatisfiable"] = "DoNotSchedule"
            p.spread.append(c2)
            n += 1
    pan = ((p.spec.get("affinity") or {}).get("podAntiAffinity") or {}).get(
        "preferredDuringSchedulingIgnoredDuringExecution") or []
    for w in pan:
        t = (w or {}).get("podAffinityTerm") or {}
        if t.get("topologyKey") not in ZONE_KEYS:
            continue
        n += 1
        sel = _merged_term_selector(t, p)
        nss = t.get("namespaces") or []
        own_ns = t.get("namespaceSelector") is None and all(x == p.ns for x in nss)
        nonempty = sel is not None and bool(sel.get("matchLabels") or sel.get("matchExpressions"))
        if nonempty and own_ns and label_selector_matches(sel, p.labels):
            p.spread.append({"maxSkew": 1, "topologyKey": t["topologyKey"],
                             "whenUnsatisfiable": "DoNotSchedule", "labelSelector": sel})
        else:
            t2 = dict(t)
            if sel is not None:
                t2["labelSelector"] = sel
            p.anti_terms.append(AffinityTerm(t2, p.ns))
    return n


def check_repack(inp, plan, capacity_types=DEFAULT_CAPACITY_TYPES, system_pods=False,
                 priority_cutoff=DEFAULT_PRIORITY_CUTOFF):
    """Checks a `recommend --mode repack` plan. inp is changed: the nodes the
    plan removes are dropped and their pods made pending, as the plan sees
    the cluster, before the plan itself is checked with check_plan. Besides
    check_plan's rules: the nodes split exactly into keep, remove and
    replace; no removed node holds an unmovable pod; pods_moved per node;
    the new nodes are exactly the replacements and additions; the proposed
    cost is the current one less the removed nodes plus the new ones; the
    monthly saving is 730 hours of the difference; no pod is left
    unschedulable (a pod that fits nowhere keeps its node). Unless
    system_pods (--repack-system-pods), no removed node holds a system pod
    (system_pod_reason). Moved pods keep their preferred zone-level rules as
    required ones (promote_zone_preferences), checked with the plan."""
    r = Result()
    rp = plan.get("repack") if isinstance(plan, dict) else None
    if not isinstance(rp, dict):
        r.v("repack", "plan has no repack object")
        return r
    if (plan.get("summary") or {}).get("mode") != "repack":
        r.v("repack", "summary.mode is not \"repack\"")
    for k in ("current_hourly_cost", "proposed_hourly_cost", "monthly_savings"):
        if not _num(rp.get(k)):
            r.v("format", "repack.%s is not a number" % k)
            return r
    for k in ("remove", "replace", "add", "keep", "unpriced_nodes", "pdb_warnings"):
        if not isinstance(rp.get(k), list):
            r.v("format", "repack.%s is not an array" % k)
            return r
    removed = {}
    for k in ("remove", "replace"):
        for e in rp[k]:
            if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not _num(e.get("hourly_cost")):
                r.v("format", "repack.%s has a malformed entry %r" % (k, e))
                continue
            if e["name"] in removed:
                r.v("repack", "node %s removed twice" % e["name"])
            removed[e["name"]] = e
            if k == "replace" and not isinstance(e.get("with"), dict):
                r.v("format", "repack.replace %s has no 'with'" % e["name"])
    keep = set()
    for name in rp["keep"]:
        if name in keep or name in removed:
            r.v("repack", "node %s listed twice" % name)
        keep.add(name)
    for name in inp.node_order:
        if name not in keep and name not in removed:
            r.v("repack", "node %s is neither kept nor removed" % name)
    for name in list(keep) + list(removed):
        if name not in inp.nodes:
            r.v("repack", "node %s is not in the snapshot" % name)
    for e in rp["unpriced_nodes"]:
        if not isinstance(e, dict) or e.get("name") not in keep:
            r.v("repack", "unpriced node %r is not kept" % (e,))
    moved = {}
    promoted = 0
    if "system_pods_moved" in rp and rp["system_pods_moved"] is not bool(system_pods):
        r.v("repack", "repack.system_pods_moved is %r, expected %r" % (rp["system_pods_moved"], bool(system_pods)))
    for p in inp.pods:
        if p.terminal:
            continue
        if not p.node_name:
            p.phase = "Succeeded"  # pending pods are left out of the what-if
            continue
        if p.node_name not in removed:
            continue
        if p.ds_uid is None:
            if p.unmovable:
                r.v("repack", "node %s is removed but holds %s (%s)" % (p.node_name, p.key, p.unmovable))
            elif not system_pods and system_pod_reason(p):
                r.v("repack", "node %s is removed but holds system pod %s (%s)"
                    % (p.node_name, p.key, system_pod_reason(p)))
            moved[p.node_name] = moved.get(p.node_name, 0) + 1
            promoted += 1 if promote_zone_preferences(p) else 0
            p.phase = "Pending"
        else:
            p.phase = "Succeeded"
        p.node_name = None
    for name, e in removed.items():
        if e.get("pods_moved") != moved.get(name, 0):
            r.v("repack", "node %s: pods_moved %r, but %d movable pods are on it"
                % (name, e.get("pods_moved"), moved.get(name, 0)))
    # New nodes carry the CSI zone labels of the cluster as read, before the
    # removed nodes are dropped from it.
    inp.zone_alias_keys_fixed = zone_alias_keys(inp)
    for name in removed:
        if name in inp.nodes:
            del inp.nodes[name]
    inp.node_order = [n for n in inp.node_order if n not in removed]
    new = {pn.get("name"): pn for pn in plan.get("nodes") or []
           if isinstance(pn, dict) and pn.get("new") is True}
    listed = [e["with"].get("name") for e in rp["replace"] if isinstance(e.get("with"), dict)]
    listed += [e.get("name") for e in rp["add"] if isinstance(e, dict)]
    if sorted(map(str, listed)) != sorted(map(str, new)):
        r.v("repack", "replacements and additions %s are not the plan's new nodes %s"
            % (sorted(map(str, listed)), sorted(map(str, new))))
    new_cost = sum(pn.get("hourly_cost") or 0 for pn in new.values())
    gone = sum(e["hourly_cost"] for e in removed.values() if _num(e.get("hourly_cost")))
    want = rp["current_hourly_cost"] - gone + new_cost
    if abs(want - rp["proposed_hourly_cost"]) > 1e-6 * max(1.0, abs(want)):
        r.v("cost", "proposed_hourly_cost %r, expected current - removed + new = %r"
            % (rp["proposed_hourly_cost"], want))
    want = (rp["current_hourly_cost"] - rp["proposed_hourly_cost"]) * 730
    if abs(want - rp["monthly_savings"]) > 1e-6 * max(1.0, abs(want)):
        r.v("cost", "monthly_savings %r, expected %r" % (rp["monthly_savings"], want))
    if "zone_preferences_kept" in rp and rp["zone_preferences_kept"] != promoted:
        r.v("repack", "repack.zone_preferences_kept is %r, but %d moved pods have preferred zone rules"
            % (rp["zone_preferences_kept"], promoted))
    if plan.get("unschedulable"):
        r.v("repack", "pods left unschedulable: a pod that fits nowhere must keep its node")
    # Evicted pods go back to their own scheduler: every one is planned,
    # except those below the priority cutoff (absent for scale-down).
    sub = check_plan(inp, plan, capacity_types, completeness=False, scheduler_names=None,
                     priority_cutoff=priority_cutoff)
    r.violations.extend(sub.violations)
    r.notes.extend(sub.notes)
    return r


def load_config(path):
    """The parts of a configuration file (YAML) the checker uses: nodePools, nodeCost."""
    try:
        import yaml
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except (OSError, ImportError) as e:
        raise InputError("--config %s: %s" % (path, e))
    except Exception as e:  # yaml.YAMLError and its kin
        raise InputError("--config %s: not YAML: %s" % (path, e))
    if not isinstance(doc, dict):
        raise InputError("--config %s: not a mapping" % path)
    return doc


def main(argv):
    snapshots, catalog, plan_path = [], None, None
    cts = list(DEFAULT_CAPACITY_TYPES)
    completeness = True
    repack = False
    system_pods = False
    scheduler_names = (DEFAULT_SCHEDULER,)
    cutoff = DEFAULT_PRIORITY_CUTOFF
    config, node_cost = {}, None
    args = list(argv)
    i = 0
    try:
        while i < len(args):
            a = args[i]
            if a in ("-h", "--help"):
                print(__doc__)
                return 0
            if a in ("--catalog", "--plan", "--capacity-types", "--snapshot", "--scheduler-names",
                     "--expendable-pods-priority-cutoff", "--config", "--node-cost"):
                if i + 1 >= len(args):
                    raise InputError("%s needs a value" % a)
                v = args[i + 1]
                i += 2
                if a == "--catalog":
                    catalog = v
                elif a == "--plan":
                    plan_path = v
                elif a == "--snapshot":
                    snapshots.append(v)
                elif a == "--config":
                    config = load_config(v)
                elif a == "--node-cost":
                    try:
                        node_cost = float(v)
                    except ValueError:
                        raise InputError("--node-cost: %r is not a number" % v)
                elif a == "--scheduler-names":
                    scheduler_names = tuple(x for x in v.split(","))
                    if not all(scheduler_names):
                        raise InputError("--scheduler-names: empty name in %r" % v)
                elif a == "--expendable-pods-priority-cutoff":
                    try:
                        cutoff = int(v)
                    except ValueError:
                        raise InputError("--expendable-pods-priority-cutoff: %r is not a whole number" % v)
                else:
                    cts = parse_capacity_types(v)
                continue
            if a == "--no-completeness":
                completeness = False
            elif a == "--repack":
                repack = True
            elif a == "--repack-system-pods":
                system_pods = True
            elif a.startswith("--"):
                raise InputError("unknown option %s" % a)
            else:
                snapshots.append(a)
            i += 1
        if not snapshots or not plan_path:
            raise InputError("usage: checker.py SNAPSHOT... --catalog CATALOG.json "
                             "--plan PLAN.json [--capacity-types LIST]")
        inp = load_inputs(snapshots, catalog)
        plan = load_json(plan_path)
        if repack:
            res = check_repack(inp, plan, cts, system_pods, priority_cutoff=cutoff)
        else:
            res = check_plan(inp, plan, cts, completeness, scheduler_names=scheduler_names,
                             priority_cutoff=cutoff, pools=config.get("nodePools"),
                             node_cost=node_cost if node_cost is not None else config.get("nodeCost", 0.0))
    except InputError as e:
        sys.stderr.write("checker: %s\n" % e)
        return 2
    for n in res.notes:
        print("note: %s" % n)
    for v in res.violations:
        print("VIOLATION %s" % v)
    if res.violations:
        print("%d violation(s)" % len(res.violations))
        return 1
    print("feasible")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
