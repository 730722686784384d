#!/usr/bin/env python3
"""Times `stevedore report --prometheus` over a week of a 5,000-pod cluster.

Generates synthetic kube-state-metrics and cAdvisor series (default: 5,000
pods in 25 namespaces, 100 Deployments of 50 pods, on 125 nodes, for 7 days
at 5-minute resolution, with one Deployment in seven rolled to new pods each
day), backfills them block by block with `promtool tsdb create-blocks-from
openmetrics` (tests/prom_fixture.py), starts Prometheus on a free loopback
port over them, and runs

    stevedore report --prometheus URL --window 7d --step 5m --end END --output json

--runs times, printing the wall time, peak RSS and CPU time of stevedore and
the CPU time Prometheus spent answering. Needs `prometheus` and `promtool`
(Debian: apt-get install prometheus).

    python3 bench/prom_bench.py [--pods 5000] [--days 7] [--dir DIR] [--runs 3]

With --dir the TSDB is kept there and reused by later runs with the same
--pods, --days and --seed.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import prom_fixture as fx  # noqa: E402

RES = 300  # seconds between samples
T0 = 1736121600  # 2025-01-06T00:00:00Z, Monday
MIB = 1024 * 1024

# (instance type, capacity type, cores, memory bytes) of the embedded aws:us-east-1 catalogue
NODE_KINDS = [("m5.4xlarge", "on-demand", 15.89, 57591 * MIB),
              ("m5.4xlarge", "spot", 15.89, 57591 * MIB),
              ("c5.4xlarge", "on-demand", 15.89, 27533 * MIB),
              ("r5.2xlarge", "spot", 7.91, 61231 * MIB)]
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
KSM = 'job="kube-state-metrics",instance="10.0.0.5:8080"'


class BenchPod:
    __slots__ = ("ns", "name", "rs", "node", "start", "end", "cpu_req", "mem_req", "base", "seed", "texts",
                 "counter", "uid")


def make_cluster(pods, days, seed):
    rng = random.Random(seed)
    nnodes = max(3, (pods + 39) // 40)
    nodes = []
    for i in range(nnodes):
        itype, ct, cpu, mem = NODE_KINDS[i % len(NODE_KINDS)]
        nodes.append(("ip-10-0-%d-%d.ec2.internal" % (i // 250, i % 250), itype, ct, ZONES[i % 3], cpu, mem))
    ndep = max(1, pods // 50)
    end = T0 + days * 86400
    out = []
    for d in range(ndep):
        ns = "team-%02d" % (d % 25)
        app = "svc-%03d" % d
        cpu_req = rng.choice([0.1, 0.25, 0.5, 1.0])
        mem_req = rng.choice([128, 256, 512, 1024, 2048]) * MIB
        replicas = 50 if d < ndep - 1 else pods - 50 * (ndep - 1)
        # roll times: one Deployment in seven each day, at an hour of its own
        rolls = [T0 + day * 86400 + (d % 24) * 3600 for day in range(1, days) if d % 7 == day % 7]
        bounds = [T0 - RES] + rolls + [end + RES]
        for gen in range(len(bounds) - 1):
            rs = "%s-%s" % (app, "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(10)))
            for r in range(replicas):
                p = BenchPod()
                p.ns, p.rs = ns, rs
                p.name = "%s-%s" % (rs, "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)))
                p.node = nodes[(d * 50 + r) % nnodes][0]
                p.start, p.end = bounds[gen], bounds[gen + 1]
                p.cpu_req, p.mem_req = cpu_req, mem_req
                p.base = cpu_req * rng.uniform(0.3, 1.3)
                p.seed = rng.randrange(24)
                p.uid = "%032x" % rng.getrandbits(128)
                p.texts = None
                p.counter = 0.0
                out.append(p)
    return nodes, out, end


def pod_texts(p):
    base = 'namespace="%s",pod="%s",uid="%s"' % (p.ns, p.name, p.uid)
    cad = ('container_cpu_usage_seconds_total{job="kubelet",metrics_path="/metrics/cadvisor",instance="%s",'
           'node="%s",namespace="%s",pod="%s",container="app",cpu="total",image="registry.example/%s:1",'
           'id="/kubepods/burstable/pod%s/app"} ') % (p.node, p.node, p.ns, p.name, p.rs, p.uid)
    mem = cad.replace("container_cpu_usage_seconds_total", "container_memory_working_set_bytes", 1).replace(
        ',cpu="total"', "", 1)
    return {
        "req_cpu": 'kube_pod_container_resource_requests{%s,%s,container="app",node="%s",resource="cpu",unit="core"} '
                   % (KSM, base, p.node),
        "req_mem": 'kube_pod_container_resource_requests{%s,%s,container="app",node="%s",resource="memory",'
                   'unit="byte"} ' % (KSM, base, p.node),
        "info": 'kube_pod_info{%s,%s,node="%s",created_by_kind="ReplicaSet",created_by_name="%s",host_ip="10.0.1.1",'
                'pod_ip="10.1.0.1",priority_class=""} ' % (KSM, base, p.node, p.rs),
        "owner": 'kube_pod_owner{%s,%s,owner_kind="ReplicaSet",owner_name="%s",owner_is_controller="true"} '
                 % (KSM, base, p.rs),
        "labels": 'kube_pod_labels{%s,%s,label_app="%s",label_pod_template_hash="%s"} '
                  % (KSM, base, p.rs.rsplit("-", 1)[0], p.rs.rsplit("-", 1)[1]),
        "phase": 'kube_pod_status_phase{%s,%s,phase="Running"} ' % (KSM, base),
        "cpu": cad,
        "mem": mem,
    }


def write_block(path, b, nodes, pods):
    """Writes the samples of 2-hour block b (seconds [b*7200, b*7200+7200))."""
    lo, hi = b * fx.BLOCK, (b + 1) * fx.BLOCK
    fam = {k: [] for k in ("node_labels", "node_info", "alloc", "req", "info", "owner", "labels", "phase", "cpu",
                           "mem")}
    ts_all = list(range(lo, hi, RES))
    for name, itype, ct, zone, cpu, mem in nodes:
        ts = ts_all
        lab = ('kube_node_labels{%s,node="%s",label_node_kubernetes_io_instance_type="%s",'
               'label_topology_kubernetes_io_zone="%s",label_karpenter_sh_capacity_type="%s",'
               'label_kubernetes_io_arch="amd64"} ') % (KSM, name, itype, zone, ct)
        fam["node_labels"].append("".join("%s1 %d\n" % (lab, t) for t in ts))
        inf = 'kube_node_info{%s,node="%s",provider_id="aws:///%s/i-%s"} ' % (KSM, name, zone, name[-6:])
        fam["node_info"].append("".join("%s1 %d\n" % (inf, t) for t in ts))
        for r, u, v in (("cpu", "core", cpu), ("memory", "byte", mem)):
            a = 'kube_node_status_allocatable{%s,node="%s",resource="%s",unit="%s"} ' % (KSM, name, r, u)
            fam["alloc"].append("".join("%s%s %d\n" % (a, fx.fmt_value(v), t) for t in ts))
    for p in pods:
        if p.end <= lo or p.start >= hi:
            continue
        ts = [t for t in ts_all if p.start <= t < p.end]
        if not ts:
            continue
        if p.texts is None:
            p.texts = pod_texts(p)
        x = p.texts
        fam["req"].append("".join("%s%s %d\n" % (x["req_cpu"], fx.fmt_value(p.cpu_req), t) for t in ts))
        fam["req"].append("".join("%s%d %d\n" % (x["req_mem"], p.mem_req, t) for t in ts))
        for k in ("info", "owner", "labels", "phase"):
            fam[k].append("".join("%s1 %d\n" % (x[k], t) for t in ts))
        lines_c, lines_m = [], []
        for t in ts:
            h = t // 3600
            lines_c.append("%s%r %d\n" % (x["cpu"], p.counter, t))
            p.counter += p.base * (0.6 + 0.2 * ((h + p.seed) % 5)) * RES
            lines_m.append("%s%d %d\n" % (x["mem"], int(p.mem_req * (0.5 + 0.1 * ((h + p.seed) % 6))), t))
        fam["cpu"].append("".join(lines_c))
        fam["mem"].append("".join(lines_m))
        if p.end <= hi:
            p.texts = None  # done with it
    types = {"node_labels": "kube_node_labels", "node_info": "kube_node_info", "alloc": "kube_node_status_allocatable",
             "req": "kube_pod_container_resource_requests", "info": "kube_pod_info", "owner": "kube_pod_owner",
             "labels": "kube_pod_labels", "phase": "kube_pod_status_phase",
             "mem": "container_memory_working_set_bytes"}
    with open(path, "w") as f:
        for k, chunks in fam.items():
            if not chunks:
                continue
            if k in types:
                f.write("# TYPE %s gauge\n" % types[k])
            f.write("".join(chunks))
        f.write("# EOF\n")


def build_tsdb(data_dir, pods, days, seed):
    nodes, plist, end = make_cluster(pods, days, seed)
    om_dir = os.path.join(data_dir, "..", "om-tmp")
    os.makedirs(om_dir, exist_ok=True)
    os.makedirs(data_dir, exist_ok=True)
    first, last = (T0 - RES) // fx.BLOCK, end // fx.BLOCK
    t = time.time()
    samples_note = 0
    running = []
    for b in range(first, last + 1):
        path = os.path.join(om_dir, "block-%d.om" % b)
        write_block(path, b, nodes, plist)
        samples_note += os.path.getsize(path)
        running.append((path, subprocess.Popen(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", path,
                                                data_dir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                               text=True)))
        while len(running) >= 2 or (b == last and running):
            path, p = running.pop(0)
            out, _ = p.communicate()
            if p.returncode != 0:
                raise RuntimeError("promtool failed on %s: %s" % (path, out[-2000:]))
            os.unlink(path)
        sys.stderr.write("\r  backfilled block %d of %d (%.0f s)" % (b - first + 1, last - first + 1,
                                                                     time.time() - t))
        sys.stderr.flush()
    sys.stderr.write("\n")
    shutil.rmtree(om_dir, ignore_errors=True)
    return len(nodes), len(plist), end, samples_note, time.time() - t


def proc_cpu(pid):
    """User + system CPU seconds of a process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def run_once(exe, url, end, days, step):
    argv = [exe, "report", "--prometheus", url, "--window", "%dd" % days, "--step", step, "--end", str(end),
            "--output", "json"]
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    t = time.time()
    p = subprocess.Popen(argv, stdout=out, stderr=err)
    # Peak RSS from /proc (VmHWM, reset by exec): getrusage's ru_maxrss would
    # count the forked copy of this Python process before the exec.
    hwm = 0
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid != 0:
            break
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.02)
    wall = time.time() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    return {"rc": p.returncode, "wall": wall, "rss_mb": hwm / 1024.0, "cpu": ru.ru_utime + ru.ru_stime,
            "stdout": out.read().decode(), "stderr": err.read().decode()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--step", default="5m")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", help="keep (and reuse) the TSDB here")
    ap.add_argument("--stevedore", default=os.path.join(ROOT, "build", "controller", "stevedore"))
    ap.add_argument("--compact", action="store_true",
                    help="let Prometheus compact the 2-hour blocks first (waits until it is done)")
    a = ap.parse_args()
    if not fx.tools_available():
        print("prometheus and promtool are needed (apt-get install prometheus)", file=sys.stderr)
        return 2
    work = a.dir or tempfile.mkdtemp(prefix="stv-prom-bench-")
    data_dir = os.path.join(work, "tsdb")
    marker = os.path.join(work, "built.json")
    want = {"pods": a.pods, "days": a.days, "seed": a.seed, "res": RES}
    try:
        have = json.load(open(marker)) if os.path.exists(marker) else None
        if have is None or {k: have.get(k) for k in want} != want:
            shutil.rmtree(data_dir, ignore_errors=True)
            print("generating %d pods x %d days at %d s and backfilling into %s" % (a.pods, a.days, RES, data_dir))
            nnodes, npods, end, nbytes, took = build_tsdb(data_dir, a.pods, a.days, a.seed)
            have = dict(want, nodes=nnodes, pod_instances=npods, end=end, om_bytes=nbytes, backfill_s=round(took, 1))
            json.dump(have, open(marker, "w"))
        print("cluster: %(pods)d pods at a time (%(pod_instances)d over the window), %(nodes)d nodes, "
              "%(days)d days at %(res)d s; OpenMetrics %(om_bytes)d bytes, backfilled in %(backfill_s)s s" % have)
        with fx.Prometheus(data_dir, compact=a.compact) as prom:
            if a.compact:
                wait_compaction(data_dir)
            blocks = len([d for d in os.listdir(data_dir) if len(d) == 26])
            print("prometheus %s over %d blocks" % (prom.url, blocks))
            print("%-5s %9s %10s %9s %14s %s" % ("run", "wall s", "peak MB", "cpu s", "prometheus s", "report"))
            for i in range(a.runs):
                c0 = proc_cpu(prom.proc.pid)
                r = run_once(a.stevedore, prom.url, have["end"], a.days, a.step)
                pc = proc_cpu(prom.proc.pid) - c0
                if r["rc"] != 0:
                    print("run %d failed (%d): %s" % (i + 1, r["rc"], r["stderr"].strip()))
                    return 1
                rep = json.loads(r["stdout"])
                print("%-5d %9.2f %10.1f %9.2f %14.2f complete=%s steps=%d rows=%d total=%s pods_costed=%d"
                      % (i + 1, r["wall"], r["rss_mb"], r["cpu"], pc, rep["complete"], rep["window"]["steps"],
                         len(rep["rows"]), rep["totals"]["total"], rep["totals"]["pods_costed"]))
                sys.stdout.flush()
    finally:
        if not a.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def wait_compaction(data_dir, quiet_s=90, limit_s=1800):
    """Waits until the number of blocks has not changed for quiet_s seconds."""
    t = time.time()
    last, since = None, time.time()
    while time.time() - t < limit_s:
        n = len([d for d in os.listdir(data_dir) if len(d) == 26 and not d.endswith(".tmp")])
        if n != last:
            last, since = n, time.time()
        elif time.time() - since >= quiet_s:
            return
        time.sleep(5)


if __name__ == "__main__":
    sys.exit(main())
