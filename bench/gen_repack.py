#!/usr/bin/env python3
"""Generate a snapshot for the what-if repack bench (`stevedore recommend
--mode repack`): an existing cluster of on-demand nodes of a few AWS types
(allocatable as in the embedded aws:us-east-1 catalogue) across three zones,
each holding one DaemonSet pod and bound Deployment pods drawn from
Karpenter's benchmark cpu and memory mix until the node's cpu is --fill
full, so the cluster is spread thinly. A share of the pods cannot move
(--do-not-disrupt, --local-storage), which keeps their nodes.

    python3 bench/gen_repack.py --nodes 500 --fill 0.35 --out /tmp/repack.json
"""

import argparse
import json
import random
import sys

# name: (allocatable cpu millicores, memory MiB, pods), from pricing/data/aws-us-east-1.csv
TYPES = {
    "m5.large": (1930, 6903, 29),
    "m5.xlarge": (3920, 14162, 58),
    "m5.2xlarge": (7910, 29317, 58),
    "c5.xlarge": (3920, 6584, 58),
    "r5.large": (1930, 14481, 29),
}
# --large: bigger nodes, ~30 pods each at a 0.6 fill (the consolidation bench's 1,000 nodes / 30,000 pods)
TYPES_LARGE = {
    "m5.4xlarge": (15890, 57691, 234),
    "m5.8xlarge": (31850, 118312, 234),
    "c5.9xlarge": (35840, 65269, 234),
}
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
CPU_M = [100, 250, 500, 1000, 1500]
MEM_MI = [100, 256, 512, 1024, 2048, 4096]


def node(name, itype, zone, types=TYPES):
    cpu, mem, pods = types[itype]
    alloc = {"cpu": "%dm" % cpu, "memory": "%dMi" % mem, "pods": str(pods), "ephemeral-storage": "18Gi"}
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
              "node.kubernetes.io/instance-type": itype, "topology.kubernetes.io/zone": zone,
              "topology.kubernetes.io/region": "us-east-1", "karpenter.sh/capacity-type": "on-demand"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": {},
            "status": {"allocatable": alloc, "capacity": dict(alloc)}}


def pod(name, ns, node_name, cpu, mem, owner_kind, owner, annotations=None, volumes=None):
    meta = {"name": name, "namespace": ns, "labels": {"app": owner},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner,
                                 "uid": "uid-" + owner, "controller": True}]}
    if annotations:
        meta["annotations"] = annotations
    spec = {"nodeName": node_name,
            "containers": [{"name": "c", "image": "app",
                            "resources": {"requests": {"cpu": "%dm" % cpu, "memory": "%dMi" % mem}}}]}
    if volumes:
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Running"}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--fill", type=float, default=0.35, help="cpu fill of each node (default 0.35)")
    ap.add_argument("--do-not-disrupt", type=float, default=0.01, help="share of pods marked do-not-disrupt")
    ap.add_argument("--local-storage", type=float, default=0.01, help="share of pods with an emptyDir")
    ap.add_argument("--large", action="store_true", help="the large types (TYPES_LARGE) instead")
    ap.add_argument("--fill-min", type=float, default=None,
                    help="draw each node's fill between this and --fill (default: every node at --fill)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="-")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    nodes, pods = [], []
    seq = 0
    types = TYPES_LARGE if a.large else TYPES
    for i in range(a.nodes):
        itype = rnd.choice(sorted(types))
        name = "node-%05d" % i
        nodes.append(node(name, itype, rnd.choice(ZONES), types))
        cpu_cap, mem_cap, slots = types[itype]
        fill = a.fill if a.fill_min is None else rnd.uniform(a.fill_min, a.fill)
        pods.append(pod("agent-%05d" % i, "kube-system", name, 100, 128, "DaemonSet", "agent"))
        cpu, mem, n = 100, 128, 1
        while cpu < fill * cpu_cap and n < slots:
            c, m = rnd.choice(CPU_M), rnd.choice(MEM_MI)
            if cpu + c > cpu_cap or mem + m > mem_cap:
                break
            ann, vol = None, None
            x = rnd.random()
            if x < a.do_not_disrupt:
                ann = {"stevedore.io/do-not-disrupt": "true"}
            elif x < a.do_not_disrupt + a.local_storage:
                vol = [{"name": "scratch", "emptyDir": {}}]
            owner = "app-%d-%d" % (c, m)
            pods.append(pod("%s-%06d" % (owner, seq), "ns-%d" % (seq % 10), name, c, m, "ReplicaSet", owner,
                            ann, vol))
            seq += 1
            cpu, mem, n = cpu + c, mem + m, n + 1
    doc = {"apiVersion": "v1", "kind": "List", "items": nodes + pods}
    out = sys.stdout if a.out == "-" else open(a.out, "w")
    json.dump(doc, out, separators=(",", ":"))
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
