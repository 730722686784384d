#!/usr/bin/env python3
"""Cost report benchmark: `stevedore report` on a large running cluster.

    python3 bench/report_bench.py [--pods 100000] [--dir /tmp/stevedore-report]
                                  [--repeat 3] [--build build] [--compact]
                                  [--managed-fields]

Generates (once, kept in --dir) a snapshot of a running cluster in kubectl's
layout (`kubectl get nodes,pods -A -o json`: keys sorted, four-space
indentation) and the matching metrics.k8s.io PodMetricsList, then times the
whole `stevedore report` process on them (--snapshot, --metrics, JSON
output; then --by controller and --rightsize) and reads its peak resident
memory (wait4 ru_maxrss). "read only" is `stevedore recommend` on the same
snapshot (no pending pods: reading it is all it does), the share of the
snapshot reader. One table, one machine.

The cluster: N Running pods (default 100,000) of Deployments (ReplicaSet
owners, pod-template-hash), StatefulSets and a kube-proxy-like DaemonSet,
in 40 namespaces, each pod as the API server returns it (metadata with
labels, annotations, ownerReferences; managedFields only with
--managed-fields, as kubectl 1.21+ prints by default; spec with a container, probes, volumes, tolerations;
status with conditions and containerStatuses), on m5/c5/r5/m6g nodes in
three zones, about a third spot (Karpenter's label), about 15 pods per
node. Seeded: the same arguments give the same bytes.
"""
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from common import machine, sweep_parser  # noqa: E402

NODE_TYPES = [  # name, cpu, memory GiB, arch
    ("m5.xlarge", 4, 16, "amd64"), ("m5.2xlarge", 8, 32, "amd64"), ("c5.2xlarge", 8, 16, "amd64"),
    ("r5.xlarge", 4, 32, "amd64"), ("m6g.2xlarge", 8, 32, "arm64")]
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
CPU = [50, 100, 250, 500]
MEM = [128, 256, 512, 1024, 2048]
HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def node_obj(i, rnd):
    t = NODE_TYPES[i % len(NODE_TYPES)]
    zone = ZONES[i % 3]
    name = "ip-10-%d-%d-%d.ec2.internal" % (i // 65536, (i // 256) % 256, i % 256)
    ct = "spot" if i % 3 == 0 else "on-demand"
    labels = {
        "beta.kubernetes.io/arch": t[3], "beta.kubernetes.io/instance-type": t[0], "beta.kubernetes.io/os": "linux",
        "failure-domain.beta.kubernetes.io/region": "us-east-1", "failure-domain.beta.kubernetes.io/zone": zone,
        "karpenter.sh/capacity-type": ct, "karpenter.sh/nodepool": "default", "kubernetes.io/arch": t[3],
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": t[0],
        "topology.kubernetes.io/region": "us-east-1", "topology.kubernetes.io/zone": zone}
    alloc_cpu = t[1] * 1000 - 80 - (t[1] - 1) * 10
    alloc_mem = t[2] * 1024 - 600 - t[2] * 40
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"annotations": {"alpha.kubernetes.io/provided-node-ip": "10.0.0.1",
                                     "node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
                     "creationTimestamp": "2024-05-01T00:00:00Z", "labels": labels, "name": name,
                     "resourceVersion": str(1000 + i), "uid": "node-uid-%08d" % i},
        "spec": {"providerID": "aws:///%s/i-%017x" % (zone, i)},
        "status": {"addresses": [{"address": "10.0.0.1", "type": "InternalIP"},
                                 {"address": name, "type": "Hostname"}],
                   "allocatable": {"cpu": "%dm" % alloc_cpu, "ephemeral-storage": "95551679124",
                                   "memory": "%dMi" % alloc_mem, "pods": "110"},
                   "capacity": {"cpu": str(t[1]), "ephemeral-storage": "104845292Ki",
                                "memory": "%dGi" % t[2], "pods": "110"},
                   "conditions": [{"lastHeartbeatTime": "2024-05-01T00:00:00Z",
                                   "lastTransitionTime": "2024-05-01T00:00:00Z",
                                   "message": "kubelet is posting ready status", "reason": "KubeletReady",
                                   "status": "True", "type": "Ready"}],
                   "nodeInfo": {"architecture": t[3], "containerRuntimeVersion": "containerd://1.7.11",
                                "kernelVersion": "6.1.72", "kubeletVersion": "v1.29.0",
                                "operatingSystem": "linux", "osImage": "Amazon Linux 2023"}}}, \
        (alloc_cpu, alloc_mem)


def pod_obj(ns, name, node, cpu_m, mem_mi, owner, labels, managed, seq):
    c = {"image": "registry.example.com/%s:1.%d" % (labels.get("app", "x"), seq % 7),
         "imagePullPolicy": "IfNotPresent", "name": "app",
         "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
         "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {
             "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
         "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                           "failureThreshold": 3, "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
         "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
                            "failureThreshold": 3, "periodSeconds": 5, "successThreshold": 1, "timeoutSeconds": 1},
         "resources": {"limits": {"memory": "%dMi" % (mem_mi * 2)},
                       "requests": {"cpu": "%dm" % cpu_m, "memory": "%dMi" % mem_mi}},
         "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
         "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                           "name": "kube-api-access-%s" % name[-5:], "readOnly": True}]}
    meta = {"annotations": {"example.com/cost-center": "cc-%d" % (hash(ns) % 9),
                            "kubectl.kubernetes.io/restartedAt": "2024-05-01T00:00:00Z"},
            "creationTimestamp": "2024-05-01T00:00:00Z", "generateName": name[:-5], "labels": labels,
            "name": name, "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": True, "controller": True,
                                 "kind": owner[0], "name": owner[1], "uid": "owner-uid-%s" % owner[1]}],
            "resourceVersion": str(200000 + seq), "uid": "pod-uid-%010d" % seq}
    if managed:
        meta["managedFields"] = [
            {"apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {
                "f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}},
                               "f:ownerReferences": {".": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}},
             "manager": "kube-controller-manager", "operation": "Update", "time": "2024-05-01T00:00:00Z"},
            {"apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {
                "f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:podIP": {}}},
             "manager": "kubelet", "operation": "Update", "subresource": "status",
             "time": "2024-05-01T00:00:05Z"}]
    spec = {"containers": [c], "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "nodeName": node,
            "preemptionPolicy": "PreemptLowerPriority", "priority": 0, "restartPolicy": "Always",
            "schedulerName": "default-scheduler", "securityContext": {}, "serviceAccount": "default",
            "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
            "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "tolerationSeconds": 300},
                            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable",
                             "operator": "Exists", "tolerationSeconds": 300}],
            "volumes": [{"name": "kube-api-access-%s" % name[-5:], "projected": {
                "defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607,
                                                                         "path": "token"}}]}}]}
    status = {"conditions": [{"lastProbeTime": None, "lastTransitionTime": "2024-05-01T00:00:05Z",
                              "status": "True", "type": t} for t in
                             ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
              "containerStatuses": [{"containerID": "containerd://%064x" % seq, "image": c["image"],
                                     "imageID": "registry.example.com/app@sha256:%064x" % (seq % 97),
                                     "lastState": {}, "name": "app", "ready": True, "restartCount": 0,
                                     "started": True,
                                     "state": {"running": {"startedAt": "2024-05-01T00:00:05Z"}}}],
              "hostIP": "10.0.0.1", "phase": "Running", "podIP": "10.1.%d.%d" % (seq // 256 % 256, seq % 256),
              "podIPs": [{"ip": "10.1.%d.%d" % (seq // 256 % 256, seq % 256)}], "qosClass": "Burstable",
              "startTime": "2024-05-01T00:00:00Z"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def suffix(rnd, n):
    return "".join(rnd.choice(HASH_ALPHABET) for _ in range(n))


def unique(seq):
    """Five characters of the hash alphabet, distinct for each seq (< 27^5)."""
    out = ""
    for _ in range(5):
        out += HASH_ALPHABET[seq % 27]
        seq //= 27
    return out


def generate(npods, snap_path, metrics_path, compact, managed, seed=1):
    rnd = random.Random(seed)
    dump = (lambda o: json.dumps(o, sort_keys=True, separators=(",", ":"))) if compact else \
        (lambda o: json.dumps(o, sort_keys=True, indent=4))
    # Nodes, enough for the pods at about half their cpu.
    nodes, free = [], []
    mean_cpu = sum(CPU) / len(CPU)
    nnodes = max(3, int(npods * mean_cpu / 0.5 / 5600 * 1.1))
    for i in range(nnodes):
        obj, (acpu, amem) = node_obj(i, rnd)
        nodes.append(obj)
        free.append([acpu * (0.3 + 0.4 * rnd.random()), amem])
    sep = ",\n" if not compact else ","
    with open(snap_path, "w") as sf, open(metrics_path, "w") as mf:
        sf.write('{"apiVersion": "v1", "items": [' + ("\n" if not compact else ""))
        mf.write('{"apiVersion":"metrics.k8s.io/v1beta1","kind":"PodMetricsList","metadata":{},"items":[')
        first = True
        for n in nodes:
            sf.write(("" if first else sep) + dump(n))
            first = False
        seq, nm = 0, 0
        ni = 0
        # One DaemonSet pod per node.
        for n in nodes:
            if seq >= npods:
                break
            name = "kube-proxy-" + unique(seq)
            p = pod_obj("kube-system", name, n["metadata"]["name"], 100, 128, ("DaemonSet", "kube-proxy"),
                        {"k8s-app": "kube-proxy", "controller-revision-hash": "7d9f8c6b5"}, managed, seq)
            sf.write(sep + dump(p))
            mf.write(("" if nm == 0 else ",") + json.dumps({"metadata": {"name": name, "namespace": "kube-system"},
                                                             "timestamp": "2024-05-01T00:00:00Z", "window": "30s",
                                                             "containers": [{"name": "app", "usage": {
                                                                 "cpu": "%dn" % rnd.randint(1000000, 90000000),
                                                                 "memory": "%dKi" % rnd.randint(20000, 90000)}}]}))
            nm += 1
            seq += 1
        dep = 0
        while seq < npods:
            ns = "team-%02d" % (dep % 40)
            sts = dep % 10 == 9
            app = "svc-%d" % dep
            replicas = min(npods - seq, rnd.choice([1, 2, 3, 5, 10, 20, 50, 100]))
            cpu_m, mem_mi = rnd.choice(CPU), rnd.choice(MEM)
            h = suffix(rnd, 10)
            labels = {"app": app, "team": "team-%d" % (dep % 13)}
            if sts:
                owner = ("StatefulSet", app)
            else:
                owner = ("ReplicaSet", "%s-%s" % (app, h))
                labels["pod-template-hash"] = h
            for r in range(replicas):
                name = "%s-%d" % (app, r) if sts else "%s-%s-%s" % (app, h, unique(seq))
                # A node with room (first fit from a moving start).
                for k in range(len(nodes)):
                    j = (ni + k) % len(nodes)
                    if free[j][0] >= cpu_m and free[j][1] >= mem_mi:
                        break
                else:
                    j = ni % len(nodes)
                free[j][0] -= cpu_m
                free[j][1] -= mem_mi
                ni = (j + 1) % len(nodes)
                p = pod_obj(ns, name, nodes[j]["metadata"]["name"], cpu_m, mem_mi, owner, labels, managed, seq)
                sf.write(sep + dump(p))
                use_cpu = int(cpu_m * 1e6 * rnd.uniform(0.05, 1.6))
                use_mem = int(mem_mi * 1024 * rnd.uniform(0.2, 1.3))
                mf.write("," + json.dumps({"metadata": {"name": name, "namespace": ns},
                                           "timestamp": "2024-05-01T00:00:00Z", "window": "30s",
                                           "containers": [{"name": "app", "usage": {"cpu": "%dn" % use_cpu,
                                                                                    "memory": "%dKi" % use_mem}}]}))
                seq += 1
            dep += 1
        sf.write(("\n" if not compact else "") + '], "kind": "List", "metadata": {"resourceVersion": ""}}\n')
        mf.write("]}\n")
    return len(nodes)


def timed(argv):
    """Wall time and peak RSS (MB) of one run of argv."""
    t0 = time.time()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(argv[0], argv)
    _, status, ru = os.wait4(pid, 0)
    wall = time.time() - t0
    if status != 0:
        raise SystemExit("failed (status %d): %s" % (status, " ".join(argv)))
    return wall, ru.ru_maxrss / 1024.0


def main():
    ap = sweep_parser(__doc__, "100000", "/tmp/stevedore-report", 3)
    ap.add_argument("--compact", action="store_true", help="minified snapshot instead of kubectl's layout")
    ap.add_argument("--managed-fields", action="store_true",
                    help="with managedFields (kubectl --show-managed-fields); kubectl 1.21+ leaves them out")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    exe = os.path.join(args.build, "controller", "stevedore")
    print("machine: " + machine())
    print("%8s %7s %8s %8s %15s %15s %11s %8s %15s" % ("pods", "nodes", "snap MB", "usage MB", "namespace s",
                                                       "controller s", "rightsize s", "RSS MB", "read only s"))
    print("%8s %7s %8s %8s %15s %15s %11s %8s %15s" % ("", "", "", "", "min / median", "min / median", "", "",
                                                       "min / median"))
    for n in [int(x) for x in args.pods.split(",")]:
        tag = "%d%s%s" % (n, "-compact" if args.compact else "", "-mf" if args.managed_fields else "")
        snap = os.path.join(args.dir, "cluster-%s.json" % tag)
        usage = os.path.join(args.dir, "usage-%s.json" % tag)
        meta = snap + ".nodes"
        if not os.path.exists(snap) or not os.path.exists(usage) or not os.path.exists(meta):
            sys.stderr.write("generating %s ...\n" % snap)
            nn = generate(n, snap, usage, args.compact, args.managed_fields)
            with open(meta, "w") as f:
                f.write("%d\n" % nn)
        with open(meta) as f:
            nnodes = int(f.read())
        base = [exe, "report", "--snapshot", snap, "--metrics", usage, "-q"]
        results = {}
        rss = 0.0
        read_only = [exe, "recommend", "--snapshot", snap, "-q", "--output", "json"]
        for label, extra in (("namespace", ["--output", "json"]), ("controller", ["--by", "controller"]),
                             ("rightsize", ["--rightsize"]), ("read", None)):
            times = []
            for _ in range(args.repeat if label != "rightsize" else 1):
                wall, r = timed(base + extra if extra is not None else read_only)
                times.append(wall)
                rss = max(rss, r) if label == "namespace" else rss
            times.sort()
            results[label] = (times[0], times[len(times) // 2])
        print("%8d %7d %8.0f %8.0f %7.2f / %5.2f %7.2f / %5.2f %11.2f %8.1f %7.2f / %5.2f" % (
            n, nnodes, os.path.getsize(snap) / 1e6, os.path.getsize(usage) / 1e6,
            results["namespace"][0], results["namespace"][1], results["controller"][0], results["controller"][1],
            results["rightsize"][0], rss, results["read"][0], results["read"][1]))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
