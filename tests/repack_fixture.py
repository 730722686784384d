"""Builders of small cluster snapshots for the what-if repack tests."""


def node(name, itype="c.large", zone="us-east-1a", ct=None, cpu="4", mem="16Gi", unschedulable=False):
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
              "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "us-east-1",
              "node.kubernetes.io/instance-type": itype}
    if ct:
        labels["karpenter.sh/capacity-type"] = ct
    alloc = {"cpu": cpu, "memory": mem, "pods": "110", "ephemeral-storage": "20Gi"}
    spec = {"unschedulable": True} if unschedulable else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": spec,
            "status": {"allocatable": alloc, "capacity": dict(alloc)}}


def pod(name, node_name=None, cpu="1", mem="1Gi", ns="default", owner="ReplicaSet", labels=None,
        annotations=None, volumes=None, app="web"):
    meta = {"name": name, "namespace": ns, "labels": dict(labels or {"app": app})}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner, "name": app + "-rs",
                                    "uid": "uid-" + app + "-" + owner, "controller": True}]
    if annotations:
        meta["annotations"] = annotations
    spec = {"containers": [{"name": "c", "image": "x",
                            "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}
    if volumes:
        spec["volumes"] = volumes
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": "Running" if node_name else "Pending"}}


def pdb(name, app, ns="default", min_available=None, max_unavailable=None):
    spec = {"selector": {"matchLabels": {"app": app}}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def half_empty(n=10):
    """n c.large nodes (4 cpu), each holding two 1-cpu pods of a Deployment."""
    items = []
    for i in range(n):
        items.append(node("n%02d" % i))
        for k in range(2):
            items.append(pod("web-%02d-%d" % (i, k), "n%02d" % i))
    return items


def snapshot(items):
    return {"apiVersion": "v1", "kind": "List", "items": items}
