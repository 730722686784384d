#!/usr/bin/env python3
"""Generate a cluster snapshot shaped like the output of

    kubectl get nodes,pods,poddisruptionbudgets -A -o json

whose pending pods follow the pod mix of Karpenter's scheduling benchmark
(sigs.k8s.io/karpenter, pkg/controllers/provisioning/scheduling/
scheduling_benchmark_test.go, makeDiversePods with numTypes = 5 as in recent
versions; older versions had a sixth class, hostname pod affinity):

    1/5 generic                 labels {my-label: <a..g>}
    1/5 zonal topology spread   maxSkew 1, topology.kubernetes.io/zone, DoNotSchedule
    1/5 hostname topology spread maxSkew 1, kubernetes.io/hostname, DoNotSchedule
    1/5 zonal pod affinity      required, topology.kubernetes.io/zone, selects its own
                                labels {my-affininity: <a..g>} (key spelled as in Karpenter)
    1/5 hostname anti-affinity  required, kubernetes.io/hostname, labels and selector
                                {app: nginx}, so these pods repel each other
    the remainder (count mod 5) generic, as in Karpenter

As in Karpenter, cpu (100m, 250m, 500m, 1000m, 1500m), memory (100Mi, 256Mi,
512Mi, 1024Mi, 2048Mi, 4096Mi) and the label value (a..g) are drawn uniformly
and independently for every pod (not per deployment), from a generator seeded
with --seed, in Karpenter's call order (labels, [selector], cpu, memory). The
stream is Python's, not Go's math/rand, so the draws have the same distribution
but not the same sequence. Karpenter draws the topology-spread selector
independently of the pod's own label; here the selector is the pod's own
my-label by default (--independent-spread-selectors restores Karpenter's draw).

Pods with identical scheduling-relevant content (class, label, selector, cpu,
memory) form one Deployment/ReplicaSet, placed in one of --namespaces namespaces;
inter-pod constraints therefore apply within a namespace (--namespaces 1 keeps
all pods together as in Karpenter's test).

Output is written as a stream (items rendered from per-ReplicaSet templates),
with kubectl's layout: sorted keys, four-space indentation, items ordered as
the API server lists them (nodes, then pods by namespace/name, then PDBs).
"""

import argparse
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (KubectlListWriter, Template, k8s_suffix, kubectl_dumps,  # noqa: E402
                    managed_fields, rand_uid, rfc3339)

# --- Karpenter's benchmark distributions -------------------------------------

KARPENTER_CPU_M = [100, 250, 500, 1000, 1500]
KARPENTER_MEM_MI = [100, 256, 512, 1024, 2048, 4096]
KARPENTER_LABEL_VALUES = ["a", "b", "c", "d", "e", "f", "g"]

ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"

CLASSES = ["generic", "zone-spread", "host-spread", "zone-affinity", "host-anti-affinity"]

# --- cosmetic material --------------------------------------------------------

BASE_TIME = 1730707200  # 2024-11-04T08:00:00Z, fixed so output is reproducible
REGION = "us-east-1"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
ZONE_IDS = {"us-east-1a": "use1-az4", "us-east-1b": "use1-az6", "us-east-1c": "use1-az1"}

NAMESPACE_WORDS = ["checkout", "payments", "catalog", "search", "identity", "shipping",
                   "analytics", "notifications", "recommendations", "inventory", "orders",
                   "pricing", "reviews", "media", "billing", "ledger", "fraud", "support",
                   "gateway", "reporting"]
COMPONENT_WORDS = ["cart", "session", "profile", "quote", "invoice", "refund", "ledger",
                   "index", "crawler", "ranker", "feed", "mailer", "sms", "push", "thumbnail",
                   "transcoder", "auth", "token", "audit", "export", "import", "sync",
                   "webhook", "scheduler", "rules", "tax", "currency", "stock", "warehouse",
                   "label", "tracker", "geo", "rates", "coupon", "loyalty", "ads", "bidder",
                   "metrics", "events", "graph"]
ROLES = ["api", "worker", "web", "grpc", "consumer", "cache", "frontend", "processor"]
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

INSTANCE_TYPES = [
    # name, vCPU, GiB, max pods (EKS ENI limit), arch
    ("m5.large", 2, 8, 29, "amd64"),
    ("m5.xlarge", 4, 16, 58, "amd64"),
    ("m5.2xlarge", 8, 32, 58, "amd64"),
    ("m5.4xlarge", 16, 64, 234, "amd64"),
    ("c5.xlarge", 4, 8, 58, "amd64"),
    ("c5.2xlarge", 8, 16, 58, "amd64"),
    ("r5.xlarge", 4, 32, 58, "amd64"),
    ("m6g.xlarge", 4, 16, 58, "arm64"),
    ("m6g.2xlarge", 8, 32, 58, "arm64"),
]
KUBELET_VERSION = "v1.30.4-eks-a737599"
KUBE_PROXY_IMAGE = ("602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:"
                    "v1.30.3-minimal-eksbuild.5")

POD_LIST_KEYS = {
    "spec.containers": ("name",),
    "spec.containers.env": ("name",),
    "spec.containers.ports": ("containerPort", "protocol"),
    "spec.containers.volumeMounts": ("mountPath",),
    "spec.volumes": ("name",),
    "spec.topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "metadata.ownerReferences": ("uid",),
}
POD_ATOMIC = {
    "spec.containers.env.valueFrom.fieldRef",
    "spec.containers.env.valueFrom.resourceFieldRef",
    "spec.containers.securityContext.capabilities.drop",
    "spec.containers.command",
    "spec.containers.args",
    "spec.topologySpreadConstraints.labelSelector",
    "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution",
    "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
    "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
    "spec.tolerations",
    "metadata.ownerReferences[]",
}


# --- quantities ------------------------------------------------------------------

SHOW_MANAGED_FIELDS = True  # cleared by --no-managed-fields


def strip(obj):
    """Drop metadata.managedFields when asked to (kubectl >= 1.21 hides them
    unless --show-managed-fields is given)."""
    if not SHOW_MANAGED_FIELDS:
        obj["metadata"].pop("managedFields", None)
    return obj


def cpu_str(m):
    """Canonical form the API server returns: 1000m -> "1", 1500m -> "1500m"."""
    return str(m // 1000) if m % 1000 == 0 else f"{m}m"


def mem_str(mi):
    return f"{mi // 1024}Gi" if mi % 1024 == 0 else f"{mi}Mi"


# --- deployments (one ReplicaSet template each) -----------------------------------

class Deployment:
    __slots__ = ("cls", "ns", "name", "rs_name", "rs_uid", "hash", "labels", "sel_value",
                 "cpu_m", "mem_mi", "qos", "image", "image_id", "component", "pods",
                 "bound_pods", "created", "template_pending", "template_bound", "port")


class NameBook:
    """Unique, realistic Deployment names per namespace."""

    def __init__(self, rng):
        self.rng = rng
        self.used = set()

    def take(self, ns):
        for _ in range(100):
            name = f"{self.rng.choice(COMPONENT_WORDS)}-{self.rng.choice(ROLES)}"
            if (ns, name) not in self.used:
                break
        else:
            base = name
            i = 2
            while (ns, f"{base}-{i}") in self.used:
                i += 1
            name = f"{base}-{i}"
        self.used.add((ns, name))
        return name


def make_deployment(rng, names, namespaces, cls, label_value, sel_value, cpu_m, mem_mi,
                    created):
    d = Deployment()
    d.cls = cls
    d.ns = rng.choice(namespaces)
    d.name = names.take(d.ns)
    d.hash = k8s_suffix(rng, rng.choice((9, 10)))
    d.rs_name = f"{d.name}-{d.hash}"
    d.rs_uid = rand_uid(rng)
    d.labels = {
        "app.kubernetes.io/name": d.name,
        "workload-class": cls,
    }
    if cls == "host-anti-affinity":
        d.labels["app"] = "nginx"
    elif cls == "zone-affinity":
        d.labels["my-affininity"] = label_value
    elif label_value is not None:
        d.labels["my-label"] = label_value
    d.sel_value = sel_value
    d.cpu_m = cpu_m
    d.mem_mi = mem_mi
    r = rng.random()
    d.qos = "Guaranteed" if r < 0.25 else ("Burstable2x" if r < 0.5 else "Burstable")
    d.component = d.name.split("-")[0]
    d.image = f"{REGISTRY}/{d.ns}/{d.name}:v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    d.image_id = (f"{REGISTRY}/{d.ns}/{d.name}@sha256:"
                  + "".join(rng.choice("0123456789abcdef") for _ in range(64)))
    d.port = rng.choice((8080, 8000, 3000, 9000))
    d.pods = 0
    d.bound_pods = 0
    d.created = created
    d.template_pending = None
    d.template_bound = None
    return d


def request_values(d, cpu_m, mem_mi):
    """Requests and limits of one pod of d as strings: {RCPU, RMEM, LCPU, LMEM}."""
    return {"RCPU": cpu_str(cpu_m), "RMEM": mem_str(mem_mi),
            "LCPU": cpu_str((2 if d.qos == "Burstable2x" else 1) * cpu_m),
            "LMEM": mem_str((2 if d.qos == "Burstable2x" else 1) * mem_mi)}


def container_resources(d):
    """The container's resources; with per-pod requests (d.cpu_m None) the
    values are @@RCPU@@-style placeholders filled in for every pod."""
    if d.cpu_m is None:
        v = {k: f"@@{k}@@" for k in ("RCPU", "RMEM", "LCPU", "LMEM")}
    else:
        v = request_values(d, d.cpu_m, d.mem_mi)
    req = {"cpu": v["RCPU"], "memory": v["RMEM"]}
    if d.qos == "Guaranteed":
        lim = dict(req)
    elif d.qos == "Burstable2x":
        lim = {"cpu": v["LCPU"], "memory": v["LMEM"]}
    else:
        lim = {"memory": v["RMEM"]}
    return {"limits": lim, "requests": req}


def qos_class(d):
    return "Guaranteed" if d.qos == "Guaranteed" else "Burstable"


def scheduling_constraints(d):
    """spec fields carrying the Karpenter constraint of the class."""
    if d.cls == "zone-spread" or d.cls == "host-spread":
        key = ZONE_KEY if d.cls == "zone-spread" else HOST_KEY
        return {"topologySpreadConstraints": [{
            "labelSelector": {"matchLabels": {"my-label": d.sel_value}},
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "DoNotSchedule",
        }]}
    if d.cls == "zone-affinity":
        return {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"my-affininity": d.labels["my-affininity"]}},
            "topologyKey": ZONE_KEY,
        }]}}}
    if d.cls == "host-anti-affinity":
        return {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": "nginx"}},
            "topologyKey": HOST_KEY,
        }]}}}
    return {}


KUBE_API_ACCESS = "kube-api-access-@@KAA@@"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def kube_api_access_volume():
    return {
        "name": KUBE_API_ACCESS,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}],
                               "name": "kube-root-ca.crt"}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1",
                                                         "fieldPath": "metadata.namespace"},
                                            "path": "namespace"}]}},
            ],
        },
    }


DEFAULT_TOLERATIONS = [
    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
     "tolerationSeconds": 300},
    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists",
     "tolerationSeconds": 300},
]


def deployment_pod_template(d, bound, n_nodes, compact):
    """A Pod of ReplicaSet d with placeholders for per-pod values."""
    res = container_resources(d)
    env = [
        {"name": "APP_ENV", "value": "production"},
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                        "fieldPath": "metadata.name"}}},
    ]
    probe = {"failureThreshold": 3,
             "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
             "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1}
    container = {
        "env": env,
        "image": d.image,
        "imagePullPolicy": "IfNotPresent",
        "livenessProbe": probe,
        "name": d.component,
        "ports": [{"containerPort": d.port, "name": "http", "protocol": "TCP"}],
        "readinessProbe": dict(probe, httpGet={"path": "/readyz", "port": "http",
                                               "scheme": "HTTP"}),
        "resources": res,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    template_spec = {
        "containers": [container],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
    }
    template_spec.update(scheduling_constraints(d))
    labels = dict(d.labels)
    labels["pod-template-hash"] = d.hash
    annotations = {"prometheus.io/scrape": "true"}
    meta_for_fields = {
        "annotations": annotations,
        "generateName": d.rs_name + "-",
        "labels": labels,
        "ownerReferences": [{"uid": d.rs_uid}],
    }
    cm_fields = managed_fields({"metadata": meta_for_fields, "spec": template_spec},
                               POD_LIST_KEYS, POD_ATOMIC)
    managed = [{
        "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": cm_fields,
        "manager": "kube-controller-manager", "operation": "Update", "time": "@@CTS@@",
    }]

    # admission-added fields (not in the ReplicaSet's managed fields)
    spec = dict(template_spec)
    c = dict(container)
    c["volumeMounts"] = [{"mountPath": SA_MOUNT, "name": KUBE_API_ACCESS, "readOnly": True}]
    spec["containers"] = [c]
    spec["volumes"] = [kube_api_access_volume()]
    spec["tolerations"] = DEFAULT_TOLERATIONS
    spec["priority"] = 0
    spec["preemptionPolicy"] = "PreemptLowerPriority"

    if bound:
        spec["nodeName"] = "@@NODE@@"
        status = running_status(d.component, d.image, d.image_id, qos_class(d))
        managed.append(kubelet_status_fields())
    else:
        if n_nodes == 0:
            msg = "no nodes available to schedule pods"
        else:
            msg = (f"0/{n_nodes} nodes are available: {n_nodes} Insufficient cpu, "
                   f"{n_nodes} Insufficient memory. preemption: 0/{n_nodes} nodes are "
                   f"available: {n_nodes} No preemption victims found for incoming pod.")
        status = {
            "conditions": [{"lastProbeTime": None, "lastTransitionTime": "@@STS@@",
                            "message": msg, "reason": "Unschedulable", "status": "False",
                            "type": "PodScheduled"}],
            "phase": "Pending",
            "qosClass": qos_class(d),
        }
        managed.append({
            "apiVersion": "v1", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:conditions": {".": {}, 'k:{"type":"PodScheduled"}': {
                ".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:message": {},
                "f:reason": {}, "f:status": {}, "f:type": {}}}}},
            "manager": "kube-scheduler", "operation": "Update", "subresource": "status",
            "time": "@@STS@@",
        })

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "annotations": annotations,
            "creationTimestamp": "@@CTS@@",
            "generateName": d.rs_name + "-",
            "labels": labels,
            "managedFields": managed,
            "name": "@@NAME@@",
            "namespace": d.ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": True,
                                 "controller": True, "kind": "ReplicaSet",
                                 "name": d.rs_name, "uid": d.rs_uid}],
            "resourceVersion": "@@RV@@",
            "uid": "@@UID@@",
        },
        "spec": spec,
        "status": status,
    }
    return Template(strip(pod), compact)


def running_status(cname, image, image_id, qos):
    cond = [
        ("PodReadyToStartContainers", "@@START@@"),
        ("Initialized", "@@START@@"),
        ("Ready", "@@READY@@"),
        ("ContainersReady", "@@READY@@"),
        ("PodScheduled", "@@CTS@@"),
    ]
    return {
        "conditions": [{"lastProbeTime": None, "lastTransitionTime": t, "status": "True",
                        "type": ty} for ty, t in cond],
        "containerStatuses": [{
            "containerID": "containerd://@@CID@@",
            "image": image,
            "imageID": image_id,
            "lastState": {},
            "name": cname,
            "ready": True,
            "restartCount": 0,
            "started": True,
            "state": {"running": {"startedAt": "@@START@@"}},
        }],
        "hostIP": "@@HOSTIP@@",
        "hostIPs": [{"ip": "@@HOSTIP@@"}],
        "phase": "Running",
        "podIP": "@@PODIP@@",
        "podIPs": [{"ip": "@@PODIP@@"}],
        "qosClass": qos,
        "startTime": "@@START@@",
    }


def kubelet_status_fields():
    cond = {}
    for ty in ("ContainersReady", "Initialized", "PodReadyToStartContainers", "Ready"):
        cond['k:{"type":"%s"}' % ty] = {".": {}, "f:lastProbeTime": {},
                                        "f:lastTransitionTime": {}, "f:status": {},
                                        "f:type": {}}
    return {
        "apiVersion": "v1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:status": {
            "f:conditions": cond,
            "f:containerStatuses": {},
            "f:hostIP": {},
            "f:hostIPs": {},
            "f:phase": {},
            "f:podIP": {},
            "f:podIPs": {".": {}, 'k:{"ip":"@@PODIP@@"}': {".": {}, "f:ip": {}}},
            "f:startTime": {},
        }},
        "manager": "kubelet", "operation": "Update", "subresource": "status",
        "time": "@@READY@@",
    }


# --- DaemonSet (kube-proxy-like) -------------------------------------------------------

def daemonset_pod_template(ds_uid, rev_hash, compact):
    labels = {"controller-revision-hash": rev_hash, "k8s-app": "kube-proxy",
              "pod-template-generation": "1"}
    container = {
        "command": ["kube-proxy", "--v=2", "--config=/var/lib/kube-proxy-config/config",
                    "--hostname-override=$(NODE_NAME)"],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {
            "apiVersion": "v1", "fieldPath": "spec.nodeName"}}}],
        "image": KUBE_PROXY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "name": "kube-proxy",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"privileged": True},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"mountPath": "/var/log", "name": "varlog"},
            {"mountPath": "/run/xtables.lock", "name": "xtables-lock"},
            {"mountPath": "/lib/modules", "name": "lib-modules", "readOnly": True},
            {"mountPath": "/var/lib/kube-proxy/", "name": "kubeconfig"},
            {"mountPath": "/var/lib/kube-proxy-config/", "name": "config"},
        ],
    }
    # The DaemonSet controller adds the matchFields term that pins each pod
    # to its node (pkg/controller/daemon/util.ReplaceDaemonSetPodNodeNameNodeAffinity).
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{
            "matchExpressions": [
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
            ],
            "matchFields": [{"key": "metadata.name", "operator": "In",
                             "values": ["@@NODE@@"]}],
        }]}}}
    tolerations = [{"operator": "Exists"}] + [
        {"effect": e, "key": f"node.kubernetes.io/{k}", "operator": "Exists"}
        for k, e in (("not-ready", "NoExecute"), ("unreachable", "NoExecute"),
                     ("disk-pressure", "NoSchedule"), ("memory-pressure", "NoSchedule"),
                     ("pid-pressure", "NoSchedule"), ("unschedulable", "NoSchedule"),
                     ("network-unavailable", "NoSchedule"))]
    volumes = [
        {"hostPath": {"path": "/var/log", "type": ""}, "name": "varlog"},
        {"hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"},
         "name": "xtables-lock"},
        {"hostPath": {"path": "/lib/modules", "type": ""}, "name": "lib-modules"},
        {"configMap": {"defaultMode": 420, "name": "kube-proxy"}, "name": "kubeconfig"},
        {"configMap": {"defaultMode": 420, "name": "kube-proxy-config"}, "name": "config"},
    ]
    template_spec = {
        "affinity": affinity,
        "containers": [container],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "hostNetwork": True,
        "priorityClassName": "system-node-critical",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "kube-proxy",
        "serviceAccountName": "kube-proxy",
        "terminationGracePeriodSeconds": 30,
        "tolerations": tolerations,
        "volumes": volumes,
    }
    cm_fields = managed_fields({"metadata": {"generateName": "kube-proxy-", "labels": labels,
                                             "ownerReferences": [{"uid": ds_uid}]},
                                "spec": template_spec}, POD_LIST_KEYS, POD_ATOMIC)
    spec = dict(template_spec)
    c = dict(container)
    c["volumeMounts"] = container["volumeMounts"] + [
        {"mountPath": SA_MOUNT, "name": KUBE_API_ACCESS, "readOnly": True}]
    spec["containers"] = [c]
    spec["volumes"] = volumes + [kube_api_access_volume()]
    spec["nodeName"] = "@@NODE@@"
    spec["priority"] = 2000001000
    spec["preemptionPolicy"] = "PreemptLowerPriority"
    status = running_status("kube-proxy", KUBE_PROXY_IMAGE,
                            KUBE_PROXY_IMAGE.split(":")[0] + "@sha256:"
                            "2fbbb5d8a2c4bb1c2b1b0b12d21b9e8c6b51a5d24a7d0d1d0e5f4bfbd0d4c2aa",
                            "Burstable")
    status["podIP"] = "@@HOSTIP@@"
    status["podIPs"] = [{"ip": "@@HOSTIP@@"}]
    kubelet = kubelet_status_fields()
    kubelet["fieldsV1"]["f:status"]["f:podIPs"] = {
        ".": {}, 'k:{"ip":"@@HOSTIP@@"}': {".": {}, "f:ip": {}}}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "creationTimestamp": "@@CTS@@",
            "generateName": "kube-proxy-",
            "labels": labels,
            "managedFields": [
                {"apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": cm_fields,
                 "manager": "kube-controller-manager", "operation": "Update",
                 "time": "@@CTS@@"},
                kubelet,
            ],
            "name": "@@NAME@@",
            "namespace": "kube-system",
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": True,
                                 "controller": True, "kind": "DaemonSet",
                                 "name": "kube-proxy", "uid": ds_uid}],
            "resourceVersion": "@@RV@@",
            "uid": "@@UID@@",
        },
        "spec": spec,
        "status": status,
    }
    return Template(strip(pod), compact)


# --- nodes -----------------------------------------------------------------------------

def eks_allocatable(vcpu, gib, max_pods):
    """Capacity and allocatable as an EKS AL2023 node reports them."""
    cap_mem_ki = int(gib * 1024 * 1024 * 0.9535)  # what the kernel leaves visible
    cores_m = vcpu * 1000
    reserved = 60 + (10 if vcpu > 1 else 0) + 5 * min(max(vcpu - 2, 0), 2) \
        + 2.5 * max(vcpu - 4, 0)
    alloc_cpu = f"{cores_m - int(reserved)}m"
    alloc_mem_ki = cap_mem_ki - (255 + 11 * max_pods) * 1024 - 100 * 1024
    capacity = {"cpu": str(vcpu), "ephemeral-storage": "83873772Ki",
                "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                "memory": f"{cap_mem_ki}Ki", "pods": str(max_pods)}
    allocatable = {"cpu": alloc_cpu, "ephemeral-storage": "76224326324",
                   "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                   "memory": f"{alloc_mem_ki}Ki", "pods": str(max_pods)}
    return capacity, allocatable, cores_m - int(reserved), alloc_mem_ki * 1024


def make_node(rng, idx, used_ips):
    itype = rng.choice(INSTANCE_TYPES)
    name_t, vcpu, gib, max_pods, arch = itype
    zone = ZONES[idx % 3] if rng.random() < 0.8 else rng.choice(ZONES)
    subnet = 16 + 4 * ZONES.index(zone)  # a /14 of the VPC per zone
    while True:
        ip = f"10.{subnet + rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(4, 254)}"
        if ip not in used_ips:
            used_ips.add(ip)
            break
    name = f"ip-{ip.replace('.', '-')}.ec2.internal"
    instance_id = "i-0" + "".join(rng.choice("0123456789abcdef") for _ in range(16))
    capacity, allocatable, cpu_m, mem_b = eks_allocatable(vcpu, gib, max_pods)
    created = BASE_TIME - 86400 * 3 - rng.randint(0, 86400 * 10)
    nodegroup = f"general-{arch}"
    labels = {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/instance-type": name_t,
        "beta.kubernetes.io/os": "linux",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "eks.amazonaws.com/nodegroup": nodegroup,
        "eks.amazonaws.com/nodegroup-image": "ami-0c1d2e3f4a5b6c7d8" if arch == "amd64"
        else "ami-0a9b8c7d6e5f40312",
        "failure-domain.beta.kubernetes.io/region": REGION,
        "failure-domain.beta.kubernetes.io/zone": zone,
        "k8s.io/cloud-provider-aws": "3b3c1d2a9e5f4c6d8e7f0a1b2c3d4e5f",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": name_t,
        "topology.k8s.aws/zone-id": ZONE_IDS[zone],
        "topology.kubernetes.io/region": REGION,
        "topology.kubernetes.io/zone": zone,
    }
    ts = rfc3339(created)
    ready_ts = rfc3339(created + 25)
    hb = rfc3339(BASE_TIME + 7200 - rng.randint(0, 200))
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": ip,
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "creationTimestamp": ts,
            "labels": labels,
            "managedFields": [
                {"apiVersion": "v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:annotations": {
                     ".": {}, "f:alpha.kubernetes.io/provided-node-ip": {},
                     "f:volumes.kubernetes.io/controller-managed-attach-detach": {}},
                     "f:labels": {".": {}, **{f"f:{k}": {} for k in labels
                                              if not k.startswith(("topology.k8s.aws",
                                                                   "k8s.io/"))}}},
                     "f:spec": {"f:providerID": {}}},
                 "manager": "kubelet", "operation": "Update", "time": ts},
                {"apiVersion": "v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:annotations": {"f:node.alpha.kubernetes.io/ttl": {}}}},
                 "manager": "kube-controller-manager", "operation": "Update", "time": ready_ts},
                {"apiVersion": "v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:k8s.io/cloud-provider-aws": {},
                                                          "f:topology.k8s.aws/zone-id": {}}}},
                 "manager": "aws-cloud-controller-manager", "operation": "Update",
                 "time": ready_ts},
                {"apiVersion": "v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:status": {"f:allocatable": {"f:ephemeral-storage": {}},
                                           "f:conditions": {
                     'k:{"type":"%s"}' % c[0]: {"f:lastHeartbeatTime": {},
                                                "f:lastTransitionTime": {}, "f:message": {},
                                                "f:reason": {}, "f:status": {}}
                     for c in conditions}, "f:images": {}, "f:nodeInfo": {"f:bootID": {}}}},
                 "manager": "kubelet", "operation": "Update", "subresource": "status",
                 "time": hb},
            ],
            "name": name,
            "resourceVersion": str(1000000 + rng.randint(0, 8000000)),
            "uid": rand_uid(rng),
        },
        "spec": {"providerID": f"aws:///{zone}/{instance_id}"},
        "status": {
            "addresses": [{"address": ip, "type": "InternalIP"},
                          {"address": name, "type": "InternalDNS"},
                          {"address": name, "type": "Hostname"}],
            "allocatable": allocatable,
            "capacity": capacity,
            "conditions": [{"lastHeartbeatTime": hb, "lastTransitionTime": ready_ts if c[0] == "Ready"
                            else ts, "message": c[3], "reason": c[2], "status": c[1],
                            "type": c[0]} for c in conditions],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": [
                {"names": [KUBE_PROXY_IMAGE.split(":")[0] + "@sha256:2fbbb5d8a2c4bb1c2b1b0b12d21b9e8c6b51a5d24a7d0d1d0e5f4bfbd0d4c2aa",
                           KUBE_PROXY_IMAGE], "sizeBytes": 30358614},
                {"names": ["602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni@sha256:"
                           "9fd0a8e2b4e6c31d14a1b8f0c5d7e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6",
                           "602401143452.dkr.ecr.us-east-1.amazonaws.com/amazon-k8s-cni:v1.18.3-eksbuild.2"],
                 "sizeBytes": 42106722},
                {"names": ["602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/pause@sha256:"
                           "529cf6b1b6e5b76e901abc43aee825badbd93f9c5ee5f1e316d46a83abbce5a2",
                           "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/pause:3.5"],
                 "sizeBytes": 298689},
            ],
            "nodeInfo": {
                "architecture": arch,
                "bootID": rand_uid(rng),
                "containerRuntimeVersion": "containerd://1.7.22",
                "kernelVersion": "6.1.109-118.189.amzn2023." + ("x86_64" if arch == "amd64"
                                                              else "aarch64"),
                "kubeProxyVersion": KUBELET_VERSION,
                "kubeletVersion": KUBELET_VERSION,
                "machineID": "ec2" + "".join(rng.choice("0123456789abcdef") for _ in range(29)),
                "operatingSystem": "linux",
                "osImage": "Amazon Linux 2023.5.20241001",
                "systemUUID": "ec2" + "".join(rng.choice("0123456789abcdef") for _ in range(5))
                + "-" + rand_uid(rng)[9:],
            },
        },
    }
    return {"name": name, "ip": ip, "cpu_m": cpu_m, "mem_b": mem_b, "max_pods": max_pods,
            "created": created, "subnet": subnet, "obj": strip(node)}


# --- PodDisruptionBudgets ----------------------------------------------------------------

def make_pdb(rng, d, rv):
    expected = d.pods + d.bound_pods
    healthy = d.bound_pods
    kind = rng.choice(("maxUnavailable", "minAvailable%", "minAvailable"))
    if kind == "maxUnavailable":
        spec_v = {"maxUnavailable": 1}
        desired = max(expected - 1, 0)
    elif kind == "minAvailable%":
        spec_v = {"minAvailable": "50%"}
        desired = math.ceil(expected * 0.5)
    else:
        spec_v = {"minAvailable": 1}
        desired = min(1, expected)
    allowed = max(healthy - desired, 0)
    ts = rfc3339(d.created)
    status_ts = rfc3339(BASE_TIME + 7000)
    spec = {"selector": {"matchLabels": {"app.kubernetes.io/name": d.name}}}
    spec.update(spec_v)
    return strip({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "annotations": {"meta.helm.sh/release-name": d.name,
                            "meta.helm.sh/release-namespace": d.ns},
            "creationTimestamp": ts,
            "generation": 1,
            "labels": {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/name": d.name},
            "managedFields": [
                {"apiVersion": "policy/v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {
                     "f:annotations": {".": {}, "f:meta.helm.sh/release-name": {},
                                       "f:meta.helm.sh/release-namespace": {}},
                     "f:labels": {".": {}, "f:app.kubernetes.io/managed-by": {},
                                  "f:app.kubernetes.io/name": {}}},
                     "f:spec": {**{f"f:{k}": {} for k in spec_v},
                                "f:selector": {}}},
                 "manager": "helm", "operation": "Update", "time": ts},
                {"apiVersion": "policy/v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:status": {"f:conditions": {".": {}, 'k:{"type":"DisruptionAllowed"}': {
                     ".": {}, "f:lastTransitionTime": {}, "f:message": {}, "f:observedGeneration": {},
                     "f:reason": {}, "f:status": {}, "f:type": {}}},
                     "f:currentHealthy": {}, "f:desiredHealthy": {}, "f:disruptionsAllowed": {},
                     "f:expectedPods": {}, "f:observedGeneration": {}}},
                 "manager": "kube-controller-manager", "operation": "Update",
                 "subresource": "status", "time": status_ts},
            ],
            "name": d.name,
            "namespace": d.ns,
            "resourceVersion": str(rv),
            "uid": rand_uid(rng),
        },
        "spec": spec,
        "status": {
            "conditions": [{"lastTransitionTime": status_ts, "message": "",
                            "observedGeneration": 1,
                            "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
                            "status": "True" if allowed > 0 else "False",
                            "type": "DisruptionAllowed"}],
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "disruptionsAllowed": allowed,
            "expectedPods": expected,
            "observedGeneration": 1,
        },
    })


# --- main ------------------------------------------------------------------------------

def namespace_names(k):
    out = []
    for i in range(k):
        w = NAMESPACE_WORDS[i % len(NAMESPACE_WORDS)]
        out.append(w if i < len(NAMESPACE_WORDS) else f"{w}-{i // len(NAMESPACE_WORDS) + 1}")
    return out


def karpenter_mix(n_pods, rng, independent_selectors):
    """(class, label value, selector value, cpu m, memory Mi) per pending pod, in
    Karpenter's order and call sequence."""
    lv = KARPENTER_LABEL_VALUES
    out = []
    fifth = n_pods // 5

    def generic(n):
        for _ in range(n):
            label = rng.choice(lv)
            out.append(("generic", label, None, rng.choice(KARPENTER_CPU_M),
                        rng.choice(KARPENTER_MEM_MI)))

    def spread(n, cls):
        for _ in range(n):
            label = rng.choice(lv)
            sel = rng.choice(lv) if independent_selectors else label
            out.append((cls, label, sel, rng.choice(KARPENTER_CPU_M),
                        rng.choice(KARPENTER_MEM_MI)))

    def affinity(n):
        for _ in range(n):
            label = rng.choice(lv)
            out.append(("zone-affinity", label, label, rng.choice(KARPENTER_CPU_M),
                        rng.choice(KARPENTER_MEM_MI)))

    def anti(n):
        for _ in range(n):
            out.append(("host-anti-affinity", None, None, rng.choice(KARPENTER_CPU_M),
                        rng.choice(KARPENTER_MEM_MI)))

    generic(fifth)
    spread(fifth, "zone-spread")
    spread(fifth, "host-spread")
    affinity(fifth)
    anti(fifth)
    generic(n_pods - len(out))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Write a kubectl-style snapshot (nodes, pods, PDBs) whose pending pods "
                    "follow Karpenter's scheduling-benchmark mix.")
    ap.add_argument("--pods", type=int, default=20000, help="pending pods (default 20000)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ap.add_argument("--out", default="-", help="output file (default stdout)")
    ap.add_argument("--namespaces", type=int, default=10,
                    help="namespaces the pending deployments are spread over (default 10)")
    ap.add_argument("--nodes", type=int, default=0,
                    help="existing Ready nodes, each with a kube-proxy DaemonSet pod and some "
                         "bound Running pods (default 0)")
    ap.add_argument("--pdbs", type=int, nargs="?", const=5, default=0,
                    help="PodDisruptionBudgets to add (bare --pdbs: 5; default 0)")
    ap.add_argument("--compact", action="store_true",
                    help="write the same content minified (as `kubectl ... -o json | jq -c`) "
                         "instead of kubectl's indented layout")
    ap.add_argument("--no-managed-fields", action="store_true",
                    help="omit metadata.managedFields, as kubectl >= 1.21 prints objects "
                         "unless --show-managed-fields is given")
    ap.add_argument("--independent-spread-selectors", action="store_true",
                    help="draw the topology-spread selector value independently of the pod's "
                         "label, as Karpenter's benchmark code does")
    ap.add_argument("--independent-requests", action="store_true",
                    help="Karpenter's own draw: every pod of a Deployment draws its cpu and "
                         "memory requests on its own (a Deployment is its class, label and "
                         "selector), with Karpenter's selector draw "
                         "(implies --independent-spread-selectors)")
    args = ap.parse_args(argv)
    if args.pods < 0 or args.nodes < 0 or args.namespaces < 1 or args.pdbs < 0:
        ap.error("--pods/--nodes/--pdbs must be >= 0 and --namespaces >= 1")

    global SHOW_MANAGED_FIELDS
    SHOW_MANAGED_FIELDS = not args.no_managed_fields
    t0 = time.perf_counter()
    rng_k = random.Random(args.seed)                    # Karpenter draws
    rng_meta = random.Random(f"meta-{args.seed}")       # names, uids of pending pods
    rng_nodes = random.Random(f"nodes-{args.seed}")     # nodes and bound pods
    rng_pdb = random.Random(f"pdb-{args.seed}")

    namespaces = namespace_names(args.namespaces)
    names = NameBook(rng_meta)

    # pending pods -> deployments
    independent = args.independent_requests
    mix = karpenter_mix(args.pods, rng_k, args.independent_spread_selectors or independent)
    deployments = {}
    dep_list = []
    pending = []  # (ns, name, dep index, uid, rv, cts, sts, kaa)
    used_names = set()
    span = 7200  # pending pods were created over the last two hours
    rv = 40000000
    for j, (cls, label, sel, cpu_m, mem_mi) in enumerate(mix):
        # per-pod requests: a Deployment is its class, label and selector only
        key = (cls, label, sel) if independent else (cls, label, sel, cpu_m, mem_mi)
        di = deployments.get(key)
        cts = BASE_TIME + (j * span) // max(len(mix), 1)
        if di is None:
            d = make_deployment(rng_meta, names, namespaces, cls, label, sel,
                                None if independent else cpu_m,
                                None if independent else mem_mi, cts - 60)
            di = deployments[key] = len(dep_list)
            dep_list.append(d)
        d = dep_list[di]
        d.pods += 1
        while True:
            pname = f"{d.rs_name}-{k8s_suffix(rng_meta)}"
            if (d.ns, pname) not in used_names:
                used_names.add((d.ns, pname))
                break
        rv += 3
        pending.append((d.ns, pname, di, rand_uid(rng_meta), rv, cts,
                        cts + 1 + rng_meta.randint(0, 2), k8s_suffix(rng_meta),
                        request_values(d, cpu_m, mem_mi) if independent else None))

    # existing nodes, DaemonSet pods and bound pods
    nodes = []
    bound = []  # (ns, name, dep index or -1 for kube-proxy, values dict)
    used_ips = set()
    for i in range(args.nodes):
        nodes.append(make_node(rng_nodes, i, used_ips))
    existing = []
    if nodes:
        names_b = NameBook(rng_nodes)
        names_b.used = set(names.used)
        for _ in range(max(8, len(nodes))):
            d = make_deployment(rng_nodes, names_b, namespaces, "existing", None, None,
                                rng_nodes.choice(KARPENTER_CPU_M),
                                rng_nodes.choice(KARPENTER_MEM_MI),
                                BASE_TIME - 86400 * 20 - rng_nodes.randint(0, 86400 * 30))
            d.labels.pop("workload-class")
            d.labels["app.kubernetes.io/version"] = d.image.rsplit(":", 1)[1]
            existing.append(d)
    ds_uid = rand_uid(rng_nodes)
    ds_hash = k8s_suffix(rng_nodes, 9)
    pod_ips = set(used_ips)

    def pod_ip(node):
        while True:
            ip = (f"10.{node['subnet'] + rng_nodes.randint(0, 3)}."
                  f"{rng_nodes.randint(0, 255)}.{rng_nodes.randint(4, 254)}")
            if ip not in pod_ips:
                pod_ips.add(ip)
                return ip

    def bound_values(node, name, created):
        return {
            "NAME": name, "UID": rand_uid(rng_nodes),
            "RV": str(1000000 + rng_nodes.randint(0, 30000000)),
            "CTS": rfc3339(created), "START": rfc3339(created + 2),
            "READY": rfc3339(created + 14),
            "NODE": node["name"], "HOSTIP": node["ip"],
            "CID": "".join(rng_nodes.choice("0123456789abcdef") for _ in range(64)),
            "KAA": k8s_suffix(rng_nodes),
        }

    for node in nodes:
        name = f"kube-proxy-{k8s_suffix(rng_nodes)}"
        vals = bound_values(node, name, node["created"] + 5)
        vals["PODIP"] = node["ip"]
        bound.append(("kube-system", name, -1, vals))
        cpu_left = node["cpu_m"] - 100
        mem_left = node["mem_b"] - 128 * 2**20
        frac = rng_nodes.uniform(0.3, 0.7)
        cpu_budget = int(node["cpu_m"] * frac) - 100
        mem_budget = int(node["mem_b"] * frac) - 128 * 2**20
        slots = node["max_pods"] - 1
        misses = 0
        while slots > 0 and misses < 40:
            ei = rng_nodes.randrange(len(existing))
            d = existing[ei]
            c, m = d.cpu_m, d.mem_mi * 2**20
            if c > cpu_budget or m > mem_budget or c > cpu_left or m > mem_left:
                misses += 1
                continue
            misses = 0
            cpu_budget -= c
            mem_budget -= m
            cpu_left -= c
            mem_left -= m
            slots -= 1
            d.bound_pods += 1
            pname = f"{d.rs_name}-{k8s_suffix(rng_nodes)}"
            while (d.ns, pname) in used_names:
                pname = f"{d.rs_name}-{k8s_suffix(rng_nodes)}"
            used_names.add((d.ns, pname))
            created = max(node["created"], d.created) + rng_nodes.randint(60, 86400)
            vals = bound_values(node, pname, created)
            vals["PODIP"] = pod_ip(node)
            bound.append((d.ns, pname, len(dep_list) + ei, vals))

    # PDBs
    pdbs = []
    if args.pdbs:
        # about half on deployments that have running pods (when there are
        # nodes), the rest on pending ones; always among the larger deployments
        def largest(ds, k):
            ds = sorted(ds, key=lambda d: (-(d.pods + d.bound_pods), d.ns, d.name))
            return rng_pdb.sample(ds[:4 * k], min(k, len(ds)))
        running = [d for d in existing if d.bound_pods]
        n_run = min(len(running), args.pdbs // 2 if dep_list else args.pdbs)
        chosen = largest(running, n_run) + largest(dep_list, args.pdbs - n_run)
        for i, d in enumerate(sorted(chosen, key=lambda d: (d.ns, d.name))):
            pdbs.append(make_pdb(rng_pdb, d, 39000000 + 17 * i))

    # ---- write -------------------------------------------------------------------------
    fp = sys.stdout if args.out == "-" else open(args.out, "w", buffering=1 << 20)
    w = KubectlListWriter(fp, args.compact)
    w.begin()
    node_bytes = 0
    for node in sorted(nodes, key=lambda n: n["name"]):
        text = kubectl_dumps(node["obj"], args.compact)
        node_bytes += len(text)
        w.item(text)

    all_deps = dep_list + existing
    ds_template = daemonset_pod_template(ds_uid, ds_hash, args.compact) if nodes else None
    n_nodes = len(nodes)

    pods = [(p[0], p[1], 0, i) for i, p in enumerate(pending)]
    pods += [(b[0], b[1], 1, i) for i, b in enumerate(bound)]
    pods.sort()
    pending_bytes = pending_ws = 0
    bound_bytes = 0
    for ns, pname, is_bound, i in pods:
        if is_bound:
            _, _, di, vals = bound[i]
            if di < 0:
                t = ds_template
            else:
                d = all_deps[di]
                if d.template_bound is None:
                    d.template_bound = deployment_pod_template(d, True, n_nodes, args.compact)
                t = d.template_bound
            text = t.fill(vals)
            bound_bytes += len(text)
        else:
            _, _, di, uid, prv, cts, sts, kaa, reqs = pending[i]
            d = dep_list[di]
            if d.template_pending is None:
                d.template_pending = deployment_pod_template(d, False, n_nodes, args.compact)
            vals = {"NAME": pname, "UID": uid, "RV": str(prv), "CTS": rfc3339(cts),
                    "STS": rfc3339(sts), "KAA": kaa}
            if reqs:
                vals.update(reqs)
            text = d.template_pending.fill(vals)
            pending_bytes += len(text)
            pending_ws += d.template_pending.whitespace
        w.item(text)

    for pdb in pdbs:
        w.item(kubectl_dumps(pdb, args.compact))
    w.end()
    if fp is not sys.stdout:
        fp.close()
    else:
        fp.flush()
    dt = time.perf_counter() - t0

    counts = {c: 0 for c in CLASSES}
    for m in mix:
        counts[m[0]] += 1
    err = sys.stderr
    print(f"gen_karpenter: {len(pending)} pending pods ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
          f"{len(dep_list)} deployments in {len(namespaces)} namespaces; "
          f"{len(nodes)} nodes, {len(bound)} bound pods, {len(pdbs)} PDBs", file=err)
    if pending:
        print(f"gen_karpenter: average pending pod {pending_bytes / len(pending):.0f} bytes "
              f"as written, {(pending_bytes - pending_ws) / len(pending):.0f} bytes minified",
              file=err)
    if bound:
        print(f"gen_karpenter: average bound pod {bound_bytes / len(bound):.0f} bytes, "
              f"average node {node_bytes / len(nodes):.0f} bytes", file=err)
    print(f"gen_karpenter: {w.bytes} bytes written in {dt:.2f} s", file=err)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into head
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
