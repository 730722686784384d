"""The kubelet role of the AWS emulator (--kube-url): an instance that
becomes running registers its Node in the Kubernetes API (the emulator of
tests/kubeapi/), as an EKS node does; a terminated instance's Node is
deleted.

The Node: name = the instance's private DNS name (ip-10-0-0-5.ec2.internal,
as EKS names nodes), spec.providerID aws:///<zone>/<instance id>, the labels
a real EKS node carries (kubernetes.io/hostname, node.kubernetes.io/
instance-type, topology.kubernetes.io/zone and region, kubernetes.io/arch,
kubernetes.io/os, eks.amazonaws.com/capacityType ON_DEMAND or SPOT, their
beta. forms) plus the group's node-template labels and taints from its
k8s.io/cluster-autoscaler/node-template/label/<key> and .../taint/<key>
(value:Effect) tags, capacity and allocatable from the instance type's row
in pricing/data/aws-us-east-1.csv, condition Ready=True.
"""

import http.client
import json
import ssl
import time
import urllib.parse

LABEL_TAG = "k8s.io/cluster-autoscaler/node-template/label/"
TAINT_TAG = "k8s.io/cluster-autoscaler/node-template/taint/"


class KubeError(Exception):
    pass


def _mi_to_ki(q):
    """"6903Mi" -> "7068672Ki" (allocatable memory in the kubelet's unit)."""
    if q.endswith("Mi"):
        return "%dKi" % (int(q[:-2]) * 1024)
    return q


def node_document(cloud, inst, grp):
    shape = cloud.shapes[inst.type]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    labels = {"kubernetes.io/hostname": inst.dns, "node.kubernetes.io/instance-type": inst.type,
              "beta.kubernetes.io/instance-type": inst.type, "topology.kubernetes.io/zone": inst.zone,
              "failure-domain.beta.kubernetes.io/zone": inst.zone, "topology.kubernetes.io/region": cloud.region,
              "failure-domain.beta.kubernetes.io/region": cloud.region, "kubernetes.io/arch": shape.k8s_arch,
              "beta.kubernetes.io/arch": shape.k8s_arch, "kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux",
              "eks.amazonaws.com/capacityType": "SPOT" if inst.spot else "ON_DEMAND"}
    taints = []
    for k, v, _ in (grp.tags if grp is not None else []):
        if k.startswith(LABEL_TAG) and len(k) > len(LABEL_TAG):
            labels[k[len(LABEL_TAG):]] = v
        elif k.startswith(TAINT_TAG) and len(k) > len(TAINT_TAG):
            value, _, effect = v.rpartition(":")
            taints.append({"key": k[len(TAINT_TAG):], "value": value, "effect": effect or "NoSchedule"})
    capacity = {"cpu": str(shape.vcpu), "memory": "%dKi" % (shape.memory_mib * 1024), "pods": str(shape.max_pods),
                "ephemeral-storage": "83873772Ki"}
    alloc = {"cpu": shape.alloc_cpu, "memory": _mi_to_ki(shape.alloc_memory), "pods": str(shape.max_pods),
             "ephemeral-storage": "76224326324"}
    if shape.gpus:
        capacity["nvidia.com/gpu"] = alloc["nvidia.com/gpu"] = str(shape.gpus)
    spec = {"providerID": "aws:///%s/%s" % (inst.zone, inst.id)}
    if taints:
        spec["taints"] = taints
    cond = [{"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": now,
             "lastTransitionTime": now} for t, r, m in (
        ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
    cond.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                 "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now})
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": inst.dns, "labels": labels,
                         "annotations": {"alpha.kubernetes.io/provided-node-ip": inst.ip}},
            "spec": spec,
            "status": {"capacity": capacity, "allocatable": alloc, "conditions": cond,
                       "addresses": [{"type": "InternalIP", "address": inst.ip},
                                     {"type": "InternalDNS", "address": inst.dns},
                                     {"type": "Hostname", "address": inst.dns}],
                       "nodeInfo": {"architecture": shape.k8s_arch, "operatingSystem": "linux",
                                    "kubeletVersion": "v1.29.0-eks-5e0fdde", "kubeProxyVersion": "v1.29.0-eks-5e0fdde",
                                    "containerRuntimeVersion": "containerd://1.7.11",
                                    "osImage": "Amazon Linux 2", "kernelVersion": "5.10.205-195.807.amzn2.x86_64",
                                    "machineID": inst.id.replace("-", "") + "0" * 13,
                                    "systemUUID": "ec2" + inst.id[2:], "bootID": inst.id}}}


class Kube(object):
    """A small client of the Kubernetes API for Node create/delete."""

    def __init__(self, url, token=None, ca_file=None):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise KubeError("--kube-url %r: expected http(s)://HOST:PORT" % url)
        self.host, self.port, self.tls = u.hostname, u.port or (443 if u.scheme == "https" else 80), u.scheme == "https"
        self.token = token
        self.ctx = None
        if self.tls:
            try:
                self.ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
            except (OSError, ssl.SSLError) as e:
                raise KubeError("--kube-ca %s: %s" % (ca_file, e))

    def _call(self, method, path, doc=None):
        if self.tls:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
        else:
            c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        body = None
        if doc is not None:
            body = json.dumps(doc).encode()
            h["Content-Type"] = "application/json"
        try:
            c.request(method, path, body, h)
            r = c.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException) as e:
            raise KubeError("%s %s: %s" % (method, path, e))
        finally:
            c.close()

    def create_node(self, doc):
        status, body = self._call("POST", "/api/v1/nodes", doc)
        if status == 409:
            return  # registered before (an emulator restart, a retry)
        if status != 201:
            raise KubeError("POST /api/v1/nodes %s: HTTP %d: %s" % (doc["metadata"]["name"], status, body[:300]))

    def delete_node(self, name):
        status, body = self._call("DELETE", "/api/v1/nodes/" + urllib.parse.quote(name))
        if status not in (200, 202, 404):
            raise KubeError("DELETE /api/v1/nodes/%s: HTTP %d: %s" % (name, status, body[:300]))
