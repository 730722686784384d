#!/usr/bin/env python3
"""Randomised (seeded) cluster snapshots and instance catalogues.

    gen_snapshot.py --seed N --out DIR [--split]

writes DIR/snapshot.json (a v1 List as `kubectl get nodes,pods,
poddisruptionbudgets -A -o json` prints it; with --split the nodes go to
DIR/nodes.json and everything else to DIR/snapshot.json) and
DIR/catalog.json (always with allocatable). As a library:
generate(seed) -> (snapshot_list, catalog) and write_case(seed, dir, split).

What a case holds, each part drawn at random:
  * a catalogue of 5-30 instance types over 2-3 zones: amd64 and arm64,
    labels (family, integer generation, size), on-demand, spot (with
    interruption rates) and reserved offerings (with counts), hugepages on
    some types, at least one GPU type;
  * 0-6 existing nodes, some cordoned (spec.unschedulable + taint), some
    tainted (NoSchedule, NoExecute, PreferNoSchedule), with bound pods,
    DaemonSet pods, terminal pods and pods still Pending on their node;
  * 1-3 DaemonSets, some restricted by nodeSelector or affinity;
  * pending pods of several Deployments: random requests in every quantity
    spelling, limits-only containers, init containers, sidecars, overhead,
    cpu/memory/ephemeral-storage/nvidia.com/gpu/hugepages-2Mi; nodeSelector,
    node affinity with every operator and matchFields, tolerations,
    hostname/zone (anti-)affinity with namespaces and namespaceSelector,
    topology spread on hostname/zone with minDomains, inclusion policies,
    matchLabelKeys, selectors that miss the pod itself or are empty;
    and pods that cannot fit anywhere;
  * host ports on some Deployments and DaemonSets (wildcard and specific
    hostIPs, TCP and UDP), node conditions on some existing nodes (with or
    without the lifecycle controller's NoSchedule taint yet), and
    tolerations of those taints and of cordons (add_ports_and_conditions,
    drawn from a generator of its own).
"""

import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402  (predicates, only to keep generated states realistic)

REGION = "us-east-1"
ALL_ZONES = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
NAMESPACES = ["default", "team-a", "team-b"]
MI = 1 << 20
GI = 1 << 30


# --------------------------------------------------------------------------
# Quantity spellings (all exact in millicores / bytes).

def cpu_qty(rng, milli):
    """A spelling of milli millicores."""
    forms = ["%dm" % milli]
    if milli % 1000 == 0:
        forms += [str(milli // 1000)]
        if milli >= 1000:
            forms.append("%d000m" % (milli // 1000))
    if milli % 100 == 0:
        forms.append("%g" % (milli / 1000.0))
    if milli % 10 == 0 and milli < 1000:
        forms.append("0.%03d" % milli)
    if milli % 50 == 0:
        forms.append("%de-3" % milli)
    return rng.choice(forms)


def mem_qty(rng, nbytes):
    """A spelling of nbytes bytes."""
    forms = [str(nbytes)]
    if nbytes % GI == 0:
        forms.append("%dGi" % (nbytes // GI))
    if nbytes % MI == 0:
        forms.append("%dMi" % (nbytes // MI))
        if (nbytes // MI) % 512 == 0:
            forms.append("%gGi" % (nbytes / float(GI)))
    if nbytes % 1024 == 0:
        forms.append("%dKi" % (nbytes // 1024))
    if nbytes % 1000000 == 0:
        forms.append("%dM" % (nbytes // 1000000))
        forms.append("%de6" % (nbytes // 1000000))
    if nbytes % 1000 == 0:
        forms.append("%dk" % (nbytes // 1000))
    if nbytes % 1000000000 == 0:
        forms.append("%dG" % (nbytes // 1000000000))
    return rng.choice(forms)


# --------------------------------------------------------------------------
# Catalogue.

FAMILIES = [
    # name, arch, GiB per cpu, gpu
    ("m5", "amd64", 4, 0), ("c5", "amd64", 2, 0), ("r5", "amd64", 8, 0),
    ("m6g", "arm64", 4, 0), ("c6g", "arm64", 2, 0), ("t3", "amd64", 4, 0),
    ("m7i", "amd64", 4, 0), ("x2", "amd64", 16, 0),
]
SIZES = [(1, "medium"), (2, "large"), (4, "xlarge"), (8, "2xlarge"),
         (16, "4xlarge"), (32, "8xlarge"), (48, "12xlarge"), (64, "16xlarge"),
         (96, "24xlarge")]


def _alloc_of(cpu, mem_bytes, pods):
    cpu_m = cpu * 1000 - (60 + 10 * cpu)
    mem = mem_bytes - (255 + 11 * pods) * MI
    if mem < 256 * MI:
        mem = mem_bytes // 2
    return cpu_m, mem


def gen_catalog(rng):
    nz = rng.choice([2, 2, 3, 3])
    zones = sorted(rng.sample(ALL_ZONES, nz))
    ntypes = rng.randint(5, 30)
    types = []
    names = set()
    gpu_done = False
    tries = 0
    while len(types) < ntypes and tries < 1000:
        tries += 1
        make_gpu = (not gpu_done and (len(types) == ntypes - 1 or rng.random() < 0.1))
        if make_gpu:
            fam, arch, gib, _ = ("g4dn", "amd64", 4, 1)
            cpu, size = rng.choice([(4, "xlarge"), (8, "2xlarge"), (16, "4xlarge"), (48, "12xlarge")])
            gpus = {4: 1, 8: 1, 16: 2, 48: 4}[cpu]
        else:
            fam, arch, gib, _ = rng.choice(FAMILIES)
            cpu, size = rng.choice(SIZES[:7] if rng.random() < 0.8 else SIZES)
            gpus = 0
        name = "%s.%s" % (fam, size)
        if name in names:
            continue
        names.add(name)
        if make_gpu:
            gpu_done = True
        mem = cpu * gib * GI
        pods = rng.choice([8, 17, 29, 58, 110]) if cpu <= 4 else rng.choice([58, 110, 234])
        cpu_m, mem_alloc = _alloc_of(cpu, mem, pods)
        eph = rng.choice([20, 50, 100]) * GI
        capacity = {"cpu": str(cpu), "memory": "%dMi" % (mem // MI), "pods": str(pods),
                    "ephemeral-storage": "%dGi" % (eph // GI)}
        allocatable = {"cpu": "%dm" % cpu_m, "memory": "%dMi" % (mem_alloc // MI),
                       "pods": str(pods),
                       "ephemeral-storage": "%dGi" % (eph // GI - 2)}
        if rng.random() < 0.2:
            hp = rng.choice([64, 256, 1024]) * MI
            capacity["hugepages-2Mi"] = "%dMi" % (hp // MI)
            allocatable["hugepages-2Mi"] = "%dMi" % (hp // MI)
        if gpus:
            capacity["nvidia.com/gpu"] = str(gpus)
            allocatable["nvidia.com/gpu"] = str(gpus)
        gen = {"m5": 5, "c5": 5, "r5": 5, "m6g": 6, "c6g": 6, "t3": 3, "m7i": 7,
               "x2": 2, "g4dn": 4}[fam]
        labels = {"example.com/family": fam, "example.com/generation": str(gen),
                  "example.com/size": size}
        if gpus:
            labels["example.com/gpu"] = "true"
        base = round(cpu * rng.uniform(0.03, 0.06) * (gib / 4.0) ** 0.4 * (1 + 2 * gpus), 4)
        base = max(base, 0.005)
        offerings = []
        tz = zones if rng.random() < 0.8 else sorted(rng.sample(zones, rng.randint(1, len(zones))))
        for z in tz:
            if rng.random() < 0.92:
                offerings.append({"capacity_type": "on-demand", "zone": z,
                                  "price": round(base * rng.uniform(0.98, 1.05), 5)})
            if rng.random() < 0.7:
                offerings.append({"capacity_type": "spot", "zone": z,
                                  "price": round(base * rng.uniform(0.25, 0.5), 5),
                                  "interruption_rate": round(rng.uniform(0.02, 0.25), 3)})
            if rng.random() < 0.15:
                offerings.append({"capacity_type": "reserved", "zone": z,
                                  "price": rng.choice([0.0, round(base * 0.6, 5)]),
                                  "count": rng.randint(1, 3)})
        if not offerings:
            offerings.append({"capacity_type": "on-demand", "zone": tz[0], "price": base})
        types.append({"name": name, "arch": arch, "capacity": capacity,
                      "allocatable": allocatable, "labels": labels,
                      "offerings": offerings})
    return {"provider": "aws", "region": REGION, "currency": "USD",
            "instance_types": types}, zones


# --------------------------------------------------------------------------
# Objects.

def _uid(rng):
    return "%08x-%04x-%04x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16),
                                         rng.getrandbits(16), rng.getrandbits(16),
                                         rng.getrandbits(48))


def make_node(rng, name, itype, zone, cpu_m, mem, pods, labels_extra, arch="amd64",
              unschedulable=False, taints=None, extra_alloc=None):
    labels = {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone,
              "topology.kubernetes.io/region": REGION, "kubernetes.io/arch": arch,
              "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": itype}
    labels.update(labels_extra)
    alloc = {"cpu": cpu_qty(rng, cpu_m), "memory": mem_qty(rng, mem), "pods": str(pods),
             "ephemeral-storage": "%dGi" % rng.choice([18, 48, 98])}
    alloc.update(extra_alloc or {})
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels, "uid": _uid(rng)},
            "spec": {},
            "status": {"allocatable": alloc, "capacity": dict(alloc),
                       "conditions": [{"type": "Ready", "status": "True"}]}}
    if unschedulable:
        node["spec"]["unschedulable"] = True
    if taints:
        node["spec"]["taints"] = taints
    return node


def make_pod(name, ns, labels, spec, phase="Pending", node=None, owner=None):
    meta = {"name": name, "namespace": ns, "labels": dict(labels)}
    if owner:
        meta["ownerReferences"] = [owner]
    spec = json.loads(json.dumps(spec))
    if node:
        spec["nodeName"] = node
    status = {"phase": phase}
    if phase == "Pending" and not node:
        status["conditions"] = [{"type": "PodScheduled", "status": "False",
                                 "reason": "Unschedulable"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": status}


def container(rng, name, cpu_m=None, mem=None, limits_only=False, extra=None):
    req = {}
    if cpu_m is not None:
        req["cpu"] = cpu_qty(rng, cpu_m)
    if mem is not None:
        req["memory"] = mem_qty(rng, mem)
    req.update(extra or {})
    c = {"name": name, "image": "registry.example.com/%s:1.0" % name}
    if limits_only:
        c["resources"] = {"limits": req}
    elif req:
        res = {"requests": req}
        if rng.random() < 0.3:
            lim = dict(req)
            if "cpu" in lim and rng.random() < 0.5:
                lim["cpu"] = cpu_qty(rng, 2 * (cpu_m or 0) or 1000)
            res["limits"] = lim
        c["resources"] = res
    else:
        c["resources"] = {}
    return c


def rand_cpu(rng, big=False):
    if big:
        return rng.choice([1000, 2000, 3000, 4000, 6000])
    return rng.choice([50, 100, 100, 200, 250, 300, 500, 500, 750, 1000, 1500, 2000])


def rand_mem(rng, big=False):
    if big:
        return rng.choice([2, 4, 8, 12, 16]) * GI
    if rng.random() < 0.15:
        return rng.choice([100, 250, 500, 1000]) * 1000000
    return rng.choice([32, 64, 128, 128, 256, 256, 512, 768, 1024, 2048]) * MI


# --------------------------------------------------------------------------
# The cluster.

def gen_daemonsets(rng):
    out = []
    n = rng.randint(1, 3)
    names = rng.sample(["node-exporter", "fluent-bit", "kube-proxy", "csi-node",
                        "gpu-device-plugin", "arm-agent"], n)
    for name in names:
        spec = {"containers": [container(rng, name, rand_cpu(rng) // 4 + 10,
                                         rng.choice([32, 64, 100, 128]) * MI)],
                "tolerations": [{"operator": "Exists"}]}
        if name == "gpu-device-plugin":
            spec["nodeSelector"] = {"example.com/gpu": "true"}
        elif name == "arm-agent":
            spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}]}}}
        elif rng.random() < 0.3:
            spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "example.com/generation", "operator": "Gt", "values": ["3"]}]}]}}}
        if rng.random() < 0.3:
            spec["initContainers"] = [container(rng, "init-" + name, 100, 16 * MI)]
        out.append({"name": name, "uid": _uid(rng), "spec": spec,
                    "labels": {"app.kubernetes.io/name": name, "ds": name}})
    return out


def ds_matches(ds, labels):
    spec = ds["spec"]
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    aff = (spec.get("affinity") or {}).get("nodeAffinity")
    if aff:
        for e in aff["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]:
            v = labels.get(e["key"])
            if e["operator"] == "In" and v not in e["values"]:
                return False
            if e["operator"] == "Gt" and (v is None or not v.isdigit() or int(v) <= int(e["values"][0])):
                return False
    return True


def ds_pod(ds, idx, node_name, bound=True):
    spec = json.loads(json.dumps(ds["spec"]))
    field_term = {"matchFields": [{"key": "metadata.name", "operator": "In",
                                   "values": [node_name]}]}
    aff = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    req = aff.get("requiredDuringSchedulingIgnoredDuringExecution")
    if req:
        for t in req["nodeSelectorTerms"]:
            t["matchFields"] = field_term["matchFields"]
    else:
        aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [field_term]}
    owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": ds["name"],
             "uid": ds["uid"], "controller": True}
    return make_pod("%s-%05d" % (ds["name"], idx), "kube-system", ds["labels"], spec,
                    phase="Running" if bound else "Pending",
                    node=node_name if bound else None, owner=owner)


class Ctx(object):
    pass


def gen_existing(rng, ctx):
    items = []
    nnodes = rng.choice([0, 1, 2, 3, 3, 4, 5, 6])
    ctx.nodes = []
    gen_pod = [0]

    def pname(prefix):
        gen_pod[0] += 1
        return "%s-%d" % (prefix, gen_pod[0])

    for i in range(nnodes):
        zone = rng.choice(ctx.zones)
        cpu = rng.choice([2, 4, 8, 16])
        itype_known = rng.random() < 0.7
        t = rng.choice(ctx.catalog["instance_types"]) if itype_known else None
        if t is not None and "nvidia.com/gpu" not in t["allocatable"]:
            itype, arch = t["name"], t["arch"]
            extra = dict(t["labels"])
        else:
            itype, arch = "legacy.%dx" % cpu, "amd64"
            extra = {"example.com/family": "legacy", "example.com/generation": str(rng.randint(1, 4))}
        if rng.random() < 0.4:
            extra["example.com/pool"] = rng.choice(["general", "batch"])
        extra["stevedore.io/capacity-type"] = "on-demand"
        cordoned = rng.random() < 0.2
        taints = []
        if cordoned:
            taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                           "timeAdded": "2024-01-01T00:00:00Z"})
        r = rng.random()
        if r < 0.15:
            taints.append({"key": "dedicated", "value": "batch", "effect": "NoSchedule"})
        elif r < 0.25:
            taints.append({"key": "example.com/maintenance", "effect": "NoExecute"})
        elif r < 0.35:
            taints.append({"key": "example.com/soft", "value": "x", "effect": "PreferNoSchedule"})
        name = "ip-10-0-%d-%d.ec2.internal" % (rng.randint(0, 255), 10 + i)
        cpu_m = cpu * 1000 - 70 - 10 * cpu
        mem = cpu * 4 * GI - 600 * MI
        pods = rng.choice([8, 29, 58, 110])
        node = make_node(rng, name, itype, zone, cpu_m, mem, pods, extra, arch=arch,
                         unschedulable=cordoned, taints=taints)
        items.append(node)
        labels = node["metadata"]["labels"]
        ctx.nodes.append(labels)
        ctx.node_objs.append(node)
        used_cpu = 0
        used_mem = 0
        # DaemonSet pods
        for ds in ctx.daemonsets:
            if ds_matches(ds, labels):
                items.append(ds_pod(ds, rng.randint(0, 99999), name))
                used_cpu += 300
                used_mem += 300 * MI
        # Existing workload
        for _ in range(rng.randint(0, 5)):
            c = rng.choice([100, 200, 250, 500])
            m = rng.choice([64, 128, 256, 512]) * MI
            if used_cpu + c > cpu_m * 0.8 or used_mem + m > mem * 0.8:
                break
            used_cpu += c
            used_mem += m
            kind = rng.random()
            ns = rng.choice(NAMESPACES)
            labels_p = {"app": rng.choice(["cache", "db", "api", "worker"]), "tier": "backend"}
            spec = {"containers": [container(rng, "main", c, m)]}
            tol = [{"operator": "Exists"}]
            spec["tolerations"] = tol
            if labels_p["app"] == "db" and rng.random() < 0.7:
                spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": rng.choice(ctx.app_names + ["db"])}},
                     "topologyKey": rng.choice(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]),
                     "namespaceSelector": {}}]}}
            phase = "Running"
            if kind < 0.1:
                phase = "Pending"  # bound, not yet started: still uses capacity
            items.append(make_pod(pname(labels_p["app"]), ns, labels_p, spec, phase=phase,
                                  node=name,
                                  owner={"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                         "name": labels_p["app"] + "-rs", "uid": _uid(rng)}))
        # Terminal pods with huge requests: must be ignored.
        if rng.random() < 0.4:
            spec = {"containers": [container(rng, "job", cpu_m * 4, mem * 4)],
                    "restartPolicy": "Never"}
            items.append(make_pod(pname("job"), "default", {"job": "x", "app": "web"}, spec,
                                  phase=rng.choice(["Succeeded", "Failed"]), node=name))
    return items


def _sel(rng, app):
    if rng.random() < 0.5:
        return {"matchLabels": {"app": app}}
    return {"matchExpressions": [{"key": "app", "operator": "In", "values": [app]}]}


def gen_deployment(rng, ctx, di):
    ns = rng.choice(NAMESPACES)
    app = ctx.app_names[di]
    replicas = rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 12])
    labels = {"app": app, "pod-template-hash": "%06x" % rng.getrandbits(24)}
    if rng.random() < 0.3:
        labels["tier"] = rng.choice(["frontend", "backend"])
    big = rng.random() < 0.15
    spec = {"containers": []}
    ncont = rng.choice([1, 1, 1, 2, 3])
    for ci in range(ncont):
        extra = {}
        if rng.random() < 0.2:
            extra["ephemeral-storage"] = mem_qty(rng, rng.choice([256 * MI, GI, 2 * GI, 5 * GI]))
        cpu = rand_cpu(rng, big) if rng.random() < 0.95 else None
        mem = rand_mem(rng, big) if rng.random() < 0.95 else None
        spec["containers"].append(container(rng, "c%d" % ci, cpu, mem,
                                            limits_only=rng.random() < 0.15, extra=extra))
    # GPU
    if rng.random() < 0.12:
        spec["containers"][0].setdefault("resources", {}).setdefault("limits", {})[
            "nvidia.com/gpu"] = str(rng.choice([1, 1, 2]))
        if rng.random() < 0.5:
            spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists",
                                    "effect": "NoSchedule"}]
    # hugepages (requests == limits, with memory)
    if rng.random() < 0.1:
        hp = "%dMi" % rng.choice([2, 4, 32, 64])
        rl = {"hugepages-2Mi": hp, "memory": "128Mi", "cpu": "100m"}
        spec["containers"].append({"name": "hp", "image": "registry.example.com/hp:1",
                                   "resources": {"requests": dict(rl), "limits": dict(rl)}})
    # init containers and sidecars, interleaved
    inits = []
    for k in range(rng.choice([0, 0, 1, 2, 3])):
        sidecar = rng.random() < 0.45
        c = container(rng, "init%d" % k, rand_cpu(rng, rng.random() < 0.2),
                      rand_mem(rng), limits_only=rng.random() < 0.1)
        if sidecar:
            c["restartPolicy"] = "Always"
        inits.append(c)
    if inits:
        spec["initContainers"] = inits
    if rng.random() < 0.15:
        spec["overhead"] = {"cpu": cpu_qty(rng, rng.choice([100, 250])),
                            "memory": mem_qty(rng, rng.choice([64, 120]) * MI)}
        spec["runtimeClassName"] = "kata"
    # node selection
    node_labels = ctx.nodes + [dict(t["labels"], **{"kubernetes.io/arch": t["arch"]})
                               for t in ctx.catalog["instance_types"]]
    r = rng.random()
    if r < 0.1:
        spec["nodeSelector"] = {"kubernetes.io/arch": rng.choice(["amd64", "arm64"])}
    elif r < 0.18:
        spec["nodeSelector"] = {"example.com/family": rng.choice(node_labels).get(
            "example.com/family", "m5")}
    elif r < 0.22:
        spec["nodeSelector"] = {"topology.kubernetes.io/zone": rng.choice(ctx.zones),
                                "kubernetes.io/os": "linux"}
    elif r < 0.25 and ctx.nodes:
        spec["nodeSelector"] = {"example.com/pool": rng.choice(["general", "batch"])}
    aff = {}
    if rng.random() < 0.35:
        terms = []
        for _ in range(rng.choice([1, 1, 2])):
            exprs = []
            for _ in range(rng.choice([1, 1, 2])):
                op = rng.choice(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"])
                if op == "In":
                    exprs.append({"key": "topology.kubernetes.io/zone", "operator": "In",
                                  "values": rng.sample(ctx.zones, rng.randint(1, len(ctx.zones)))})
                elif op == "NotIn":
                    t = rng.choice(ctx.catalog["instance_types"])
                    exprs.append({"key": rng.choice(["node.kubernetes.io/instance-type",
                                                     "example.com/family"]),
                                  "operator": "NotIn",
                                  "values": [t["name"], t["labels"]["example.com/family"]]})
                elif op == "Exists":
                    exprs.append({"key": rng.choice(["example.com/generation", "example.com/pool",
                                                     "example.com/size"]),
                                  "operator": "Exists"})
                elif op == "DoesNotExist":
                    exprs.append({"key": rng.choice(["example.com/gpu", "example.com/pool"]),
                                  "operator": "DoesNotExist"})
                else:
                    exprs.append({"key": "example.com/generation", "operator": op,
                                  "values": [str(rng.randint(2, 7))]})
            terms.append({"matchExpressions": exprs})
        if ctx.node_names and rng.random() < 0.15:
            terms.append({"matchFields": [{"key": "metadata.name",
                                           "operator": rng.choice(["In", "NotIn"]),
                                           "values": [rng.choice(ctx.node_names)]}]})
        aff["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution":
                               {"nodeSelectorTerms": terms}}
    # tolerations
    r = rng.random()
    tols = spec.setdefault("tolerations", [])
    if r < 0.15:
        tols.append({"key": "dedicated", "operator": "Equal", "value": "batch",
                     "effect": "NoSchedule"})
    elif r < 0.22:
        tols.append({"key": "example.com/maintenance", "operator": "Exists",
                     "effect": "NoExecute", "tolerationSeconds": 300})
    elif r < 0.26:
        tols.append({"operator": "Exists"})
    elif r < 0.3:
        tols.append({"key": "dedicated", "operator": "Exists"})
    if not tols:
        del spec["tolerations"]
    # inter-pod (anti-)affinity
    r = rng.random()
    hostname, zone = "kubernetes.io/hostname", "topology.kubernetes.io/zone"
    if r < 0.15:
        aff["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": _sel(rng, app), "topologyKey": hostname}]}
    elif r < 0.2:
        aff["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": _sel(rng, app), "topologyKey": zone}]}
    elif r < 0.25:
        other = rng.choice(["cache", "db", "api", "worker"] + ctx.app_names)
        term = {"labelSelector": _sel(rng, other), "topologyKey": rng.choice([hostname, zone])}
        nsr = rng.random()
        if nsr < 0.3:
            term["namespaceSelector"] = {}
        elif nsr < 0.5:
            term["namespaces"] = rng.sample(NAMESPACES, 2)
        elif nsr < 0.7:
            term["namespaceSelector"] = {"matchLabels": {
                "kubernetes.io/metadata.name": rng.choice(NAMESPACES)}}
        elif nsr < 0.8 and ctx.with_namespaces:
            term["namespaceSelector"] = {"matchExpressions": [
                {"key": "team", "operator": "In", "values": ["a", "b"]}]}
        aff["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    elif r < 0.3:
        term = {"labelSelector": _sel(rng, "cache"), "topologyKey": zone}
        if rng.random() < 0.6:
            term["namespaceSelector"] = {}
        aff["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    elif r < 0.34:
        aff["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": _sel(rng, app), "topologyKey": rng.choice([zone, hostname])}]}
        replicas = min(replicas, 4)
    elif r < 0.40 and di > 0:
        # affinity to an earlier pending deployment (it must go first)
        aff["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchExpressions": [
                {"key": "app", "operator": "In", "values": ctx.apps[:]}]},
             "topologyKey": zone, "namespaceSelector": {}}]}
    if aff:
        spec["affinity"] = aff
    # topology spread
    r = rng.random()
    if r < 0.3:
        tsc = []
        for key in rng.sample([zone, hostname], rng.choice([1, 1, 2])):
            c = {"maxSkew": rng.choice([1, 1, 2, 3]), "topologyKey": key,
                 "whenUnsatisfiable": "DoNotSchedule", "labelSelector": _sel(rng, app)}
            if key == zone and rng.random() < 0.3:
                c["minDomains"] = rng.choice([2, 3, 4])
            if rng.random() < 0.15:
                c["nodeTaintsPolicy"] = "Honor"
            if rng.random() < 0.1:
                c["nodeAffinityPolicy"] = "Ignore"
            if rng.random() < 0.1:
                c["matchLabelKeys"] = ["pod-template-hash"]
            tsc.append(c)
        if rng.random() < 0.3:
            tsc.append({"maxSkew": 1, "topologyKey": zone,
                        "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": _sel(rng, app)})
        # Rarer shapes, drawn from a generator of their own so that the
        # seeds' other draws stay as they were: a selector that does not
        # select the pod itself (another deployment's pods), and an empty
        # one (kube-scheduler counts no pods for it).
        more = random.Random(hash(rng.getstate()[1]))
        r2 = more.random()
        if r2 < 0.1 and ctx.apps:
            tsc[0]["labelSelector"] = {"matchLabels": {"app": more.choice(ctx.apps)}}
            tsc[0].pop("matchLabelKeys", None)
        elif r2 < 0.15:
            tsc[0]["labelSelector"] = {}
            tsc[0].pop("matchLabelKeys", None)
        spec["topologySpreadConstraints"] = tsc
    # impossible
    r = rng.random()
    if r < 0.04:
        spec["containers"][0]["resources"] = {"requests": {"cpu": "500", "memory": "1Gi"}}
    elif r < 0.07:
        spec["nodeSelector"] = {"example.com/nonexistent": "x"}
    elif r < 0.09:
        spec["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "64"}}
    elif r < 0.11:
        spec["containers"][0].setdefault("resources", {}).setdefault("requests", {})[
            "example.com/fpga"] = "1"
    ctx.apps.append(app)
    running = []
    if ctx.node_objs and rng.random() < 0.35:
        running = running_replicas(rng, ctx, spec, rng.randint(1, 3))
    owner_uid = _uid(rng)
    pods = []
    bare = rng.random() < 0.1
    for k in range(replicas):
        owner = None if bare else {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                   "name": app + "-" + labels["pod-template-hash"],
                                   "uid": owner_uid, "controller": True}
        node = running[k] if k < len(running) else None
        pods.append(make_pod("%s-%s-%05d" % (app, labels["pod-template-hash"], k), ns,
                             labels, spec, owner=owner, node=node,
                             phase="Running" if node else "Pending"))
    return pods


def running_replicas(rng, ctx, spec, want):
    """Existing nodes for up to `want` already-running replicas of spec: a
    Deployment caught mid scale-up. Each on its own node, where the spec's
    node-level constraints hold and its requests fit what is left."""
    req = checker.pod_requests(spec)
    anti = (spec.get("affinity") or {}).get("podAntiAffinity")
    aff = (spec.get("affinity") or {}).get("podAffinity")
    zones_used = set()
    out = []
    nodes = list(ctx.node_objs)
    rng.shuffle(nodes)
    for node in nodes:
        if len(out) >= want:
            break
        name = node["metadata"]["name"]
        labels = node["metadata"]["labels"]
        zone = labels["topology.kubernetes.io/zone"]
        if not checker.node_affinity_matches(spec, labels, name):
            continue
        if checker.untolerated_taint(spec.get("tolerations") or [],
                                     node["spec"].get("taints") or []) is not None:
            continue
        if anti and zone in zones_used:
            continue
        if aff and out and zone not in zones_used:
            continue
        free = ctx.free[name]
        if any(v > free.get(k, 0) for k, v in req.items()) or free["pods"] < 1:
            continue
        for k, v in req.items():
            free[k] -= v
        free["pods"] -= 1
        zones_used.add(zone)
        out.append(name)
        if aff:
            want = 1 if any(t.get("topologyKey") == "kubernetes.io/hostname"
                            for t in aff["requiredDuringSchedulingIgnoredDuringExecution"]) else want
    return out


HOST_PORT_CHOICES = [
    [{"containerPort": 8080, "hostPort": 8080}],
    [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP", "hostIP": "0.0.0.0"}],
    [{"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}],
    [{"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.2"}],
    [{"containerPort": 53, "hostPort": 53, "protocol": "UDP"}],
    [{"containerPort": 9100, "hostPort": 9100}],
    [{"containerPort": 9100, "hostPort": 9100, "protocol": "UDP"}],
    [{"containerPort": 80, "hostPort": 80}, {"containerPort": 443, "hostPort": 443},
     {"containerPort": 8443}],
]

CONDITION_CHOICES = [
    ("Ready", "False", "node.kubernetes.io/not-ready"),
    ("Ready", "Unknown", "node.kubernetes.io/unreachable"),
    ("MemoryPressure", "True", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
    ("NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"),
]


def add_ports_and_conditions(seed, items):
    """Host ports on some Deployments and DaemonSets, node conditions (with
    or without the lifecycle controller's taint yet) on some existing nodes,
    and tolerations of those taints and of cordons on some Deployments.
    Drawn from a generator of their own, so that the rest of every seed's
    case is what it was before these were added."""
    xr = random.Random("ports-and-conditions-%d" % seed)
    for it in items:
        if it["kind"] != "Node":
            continue
        conds = {"Ready": "True", "MemoryPressure": "False", "DiskPressure": "False",
                 "PIDPressure": "False"}
        taint = None
        if xr.random() < 0.3:
            ctype, status, taint = xr.choice(CONDITION_CHOICES)
            conds[ctype] = status
        it["status"]["conditions"] = [{"type": k, "status": v} for k, v in sorted(conds.items())]
        if taint and xr.random() < 0.5:
            it["spec"].setdefault("taints", []).append({"key": taint, "effect": "NoSchedule"})
    ds_ports = {}
    groups = {}
    for it in items:
        if it["kind"] != "Pod":
            continue
        refs = it["metadata"].get("ownerReferences") or []
        ds = [r["name"] for r in refs if r.get("kind") == "DaemonSet"]
        if ds:
            if ds[0] not in ds_ports:
                ds_ports[ds[0]] = xr.choice(HOST_PORT_CHOICES) if xr.random() < 0.3 else None
            if ds_ports[ds[0]]:
                it["spec"]["containers"][0]["ports"] = json.loads(json.dumps(ds_ports[ds[0]]))
            continue
        key = (it["metadata"]["namespace"], it["metadata"]["labels"].get("app"))
        groups.setdefault(key, []).append(it)
    for key in sorted(groups, key=lambda k: (k[0], k[1] or "")):
        r = xr.random()
        ports = xr.choice(HOST_PORT_CHOICES) if r < 0.3 else None
        tol = []
        if xr.random() < 0.15:
            tol.append({"key": xr.choice(CONDITION_CHOICES)[2], "operator": "Exists", "effect": "NoSchedule"})
        if xr.random() < 0.1:
            tol.append({"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"})
        for it in groups[key]:
            if ports:
                it["spec"]["containers"][0]["ports"] = json.loads(json.dumps(ports))
            if tol:
                it["spec"]["tolerations"] = (it["spec"].get("tolerations") or []) + json.loads(json.dumps(tol))


def generate(seed):
    rng = random.Random(seed)
    ctx = Ctx()
    ctx.catalog, ctx.zones = gen_catalog(rng)
    ctx.daemonsets = gen_daemonsets(rng)
    ctx.apps = []
    ctx.with_namespaces = rng.random() < 0.3
    ndep = rng.randint(2, 8)
    ctx.app_names = ["%s-%d" % (rng.choice(["web", "api", "batch", "ml", "cron", "search"]), di)
                     for di in range(ndep)]
    ctx.node_objs = []
    items = gen_existing(rng, ctx)
    ctx.free = {}
    for n in ctx.node_objs:
        free = checker.resource_list_units(n["status"]["allocatable"])
        ctx.free[n["metadata"]["name"]] = free
    for it in items:
        node = (it.get("spec") or {}).get("nodeName")
        if it["kind"] == "Pod" and node and it["status"]["phase"] not in ("Succeeded", "Failed"):
            free = ctx.free[node]
            for k, v in checker.pod_requests(it["spec"]).items():
                free[k] = free.get(k, 0) - v
            free["pods"] -= 1
    ctx.node_names = [it["metadata"]["name"] for it in items if it["kind"] == "Node"]
    for di in range(ndep):
        items.extend(gen_deployment(rng, ctx, di))
    # a pending DaemonSet pod (overhead, never workload)
    if ctx.node_names and rng.random() < 0.3:
        items.append(ds_pod(ctx.daemonsets[0], 99999, rng.choice(ctx.node_names), bound=False))
    if ctx.with_namespaces:
        for ns, team in (("team-a", "a"), ("team-b", "b"), ("default", "core")):
            items.append({"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": ns, "labels": {
                              "kubernetes.io/metadata.name": ns, "team": team}}})
    if rng.random() < 0.5:
        items.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                      "metadata": {"name": "pdb-0", "namespace": "default"},
                      "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "cache"}}}})
    add_ports_and_conditions(seed, items)
    rng.shuffle(items)
    snap = {"apiVersion": "v1", "kind": "List", "items": items,
            "metadata": {"resourceVersion": ""}}
    return snap, ctx.catalog


def write_case(seed, out_dir, split=False):
    """Writes the case; returns (snapshot paths, catalog path)."""
    snap, catalog = generate(seed)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    if split:
        nodes = [it for it in snap["items"] if it["kind"] == "Node"]
        rest = [it for it in snap["items"] if it["kind"] != "Node"]
        p = os.path.join(out_dir, "nodes.json")
        with open(p, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": nodes}, f, indent=1)
        paths.append(p)
        snap = dict(snap, items=rest)
    p = os.path.join(out_dir, "snapshot.json")
    with open(p, "w") as f:
        json.dump(snap, f, indent=1)
    paths.append(p)
    cp = os.path.join(out_dir, "catalog.json")
    with open(cp, "w") as f:
        json.dump(catalog, f, indent=1)
    return paths, cp


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--split", action="store_true",
                    help="nodes in nodes.json, the rest in snapshot.json")
    a = ap.parse_args(argv)
    paths, cp = write_case(a.seed, a.out, a.split)
    for p in paths + [cp]:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
