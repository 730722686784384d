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
               [--scheduler-names LIST] [--expendable-pods-priority-cutoff N]
                            (as given to `stevedore recommend`)
Exit 0 when the plan is feasible, 1 with every violation printed otherwise,
2 when the checker's own inputs cannot be read.

What is checked (each violation is tagged with its rule):
  format, accounting   every pending non-DaemonSet pod (phase Pending, no
                       nodeName) exactly once in nodes[].pods or
                       unschedulable[]; nothing else listed
  summary, cost        counts, currency, sum of new nodes' prices, each new
                       node's price equal to its catalogue offering, lower
                       bound <= cost
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
                       NoSchedule/NoExecute taints; a pod annotated
                       stevedore.io/spot: "false" has NotIn requirements on
                       every spot label (SPOT_LABELS) ANDed into its
                       required node affinity
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

Not checked: optimality beyond that completeness probe; preferred (soft)
rules and ScheduleAnyway; host ports, volumes and other filters the packer
does not model; pods whose spread selector does not select themselves;
DaemonSet copies on new nodes are not counted by inter-pod rules; with an
embedded catalogue (no file) new nodes' prices and allocatable are unknown,
so only what the plan states about them is checked.

Python 3 standard library only.
"""

import json
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


class Pod(object):
    __slots__ = ("ns", "name", "key", "labels", "spec", "node_name", "phase",
                 "ds_uid", "req", "tolerations", "aff_terms", "anti_terms",
                 "spread", "terminating", "source", "unmovable",
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
                 "instance_type", "zone", "capacity_type", "price", "index")

    def __init__(self, name, labels, taints, alloc, unschedulable, new):
        self.name = name
        self.labels = labels
        self.taints = taints
        self.alloc = alloc  # dict resource -> units, or None when unknown
        self.unschedulable = unschedulable
        self.new = new
        self.instance_type = self.zone = self.capacity_type = None
        self.price = None
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

    def ns_labels(self, ns):
        d = {NS_NAME_LABEL: ns}
        d.update(self.ns_labels_extra.get(ns, {}))
        return d


def _iter_objects(doc, source):
    if isinstance(doc, dict) and isinstance(doc.get("items"), list) and \
            doc.get("kind", "List").endswith("List"):
        for i, it in enumerate(doc["items"]):
            if not isinstance(it, dict):
                raise InputError("%s: items[%d] is not an object" % (source, i))
            for sub in _iter_objects(it, "%s: items[%d]" % (source, i)):
                yield sub
    elif isinstance(doc, dict):
        yield doc, source
    else:
        raise InputError("%s: not a JSON object" % source)


def build_inputs(snapshot_docs, catalog):
    """snapshot_docs: list of (name, parsed JSON); catalog: dict or None."""
    inp = Inputs()
    for name, doc in snapshot_docs:
        for obj, src in _iter_objects(doc, name):
            kind = obj.get("kind")
            if kind == "Node":
                meta = obj.get("metadata") or {}
                nname = meta.get("name")
                spec = obj.get("spec") or {}
                try:
                    alloc = resource_list_units((obj.get("status") or {}).get("allocatable"))
                except ValueError as e:
                    raise InputError("%s: node %s: %s" % (src, nname, e))
                n = Node(nname, dict(meta.get("labels") or {}),
                         list(spec.get("taints") or []), alloc,
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


def load_inputs(snapshot_paths, catalog_path):
    docs = [(p, load_json(p)) for p in snapshot_paths]
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
               priority_cutoff=DEFAULT_PRIORITY_CUTOFF):
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
    taints, the rules of other pods) and its headroom summary is recounted."""
    r = Result()
    inp.pools = {p["name"]: p for p in pools} if pools else None
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
    _check_anti_affinity(r, inp, bound, placed)
    _check_affinity(r, inp, bound, placed)
    _check_spread(r, inp, final_nodes, bound, placed)
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
        if cost is not None and _num(price) and abs(cost - price) > COST_EPS * max(1.0, abs(price)):
            r.v("cost", "%s: hourly_cost %r but the catalogue price of %s %s %s is %r"
                % (where, cost, itype, zone, ct, price))
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
    return node


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
            if not _spread_selector_matches(c, p, p):
                continue
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
    node = Node(name, labels, pool_taints(pool) if pool else [], alloc, False, True)
    if not node_affinity_matches(p.spec, labels, None):
        return None
    if untolerated_taint(p.tolerations, node.taints) is not None:
        return None
    daemons = [inp.ds[u] for u in inp.ds_order if ds_lands_on(inp.ds[u], node)]
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
# Command line.

def parse_capacity_types(s):
    out = [x.strip() for x in s.split(",") if x.strip()]
    for x in out:
        if x not in CAPACITY_TYPES:
            raise InputError("unknown capacity type %r" % x)
    return out


def check_repack(inp, plan, capacity_types=DEFAULT_CAPACITY_TYPES,
                 priority_cutoff=DEFAULT_PRIORITY_CUTOFF):
    """Checks a `recommend --mode repack` plan. inp is changed: the nodes the
    plan removes are dropped and their pods made pending, as the plan sees
    the cluster, before the plan itself is checked with check_plan. Besides
    check_plan's rules: the nodes split exactly into keep, remove and
    replace; no removed node holds an unmovable pod; pods_moved per node;
    the new nodes are exactly the replacements and additions; the proposed
    cost is the current one less the removed nodes plus the new ones; the
    monthly saving is 730 hours of the difference; no pod is left
    unschedulable (a pod that fits nowhere keeps its node)."""
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
            moved[p.node_name] = moved.get(p.node_name, 0) + 1
            p.phase = "Pending"
        else:
            p.phase = "Succeeded"
        p.node_name = None
    for name, e in removed.items():
        if e.get("pods_moved") != moved.get(name, 0):
            r.v("repack", "node %s: pods_moved %r, but %d movable pods are on it"
                % (name, e.get("pods_moved"), moved.get(name, 0)))
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
    if plan.get("unschedulable"):
        r.v("repack", "pods left unschedulable: a pod that fits nowhere must keep its node")
    # Evicted pods go back to their own scheduler: every one is planned,
    # except those below the priority cutoff (absent for scale-down).
    sub = check_plan(inp, plan, capacity_types, completeness=False, scheduler_names=None,
                     priority_cutoff=priority_cutoff)
    r.violations.extend(sub.violations)
    r.notes.extend(sub.notes)
    return r


def main(argv):
    snapshots, catalog, plan_path = [], None, None
    cts = list(DEFAULT_CAPACITY_TYPES)
    completeness = True
    repack = False
    scheduler_names = (DEFAULT_SCHEDULER,)
    cutoff = DEFAULT_PRIORITY_CUTOFF
    args = list(argv)
    i = 0
    try:
        while i < len(args):
            a = args[i]
            if a in ("-h", "--help"):
                print(__doc__)
                return 0
            if a in ("--catalog", "--plan", "--capacity-types", "--snapshot", "--scheduler-names",
                     "--expendable-pods-priority-cutoff"):
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
            res = check_repack(inp, plan, cts, priority_cutoff=cutoff)
        else:
            res = check_plan(inp, plan, cts, completeness, scheduler_names=scheduler_names,
                             priority_cutoff=cutoff)
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
