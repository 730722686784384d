#!/usr/bin/env python3
"""The Alibaba GPU trace (cluster-trace-gpu-v2023) as one batch of pending pods.

    python3 bench/alibaba_gpu.py [--trace CSV] [--dir /tmp/stevedore-alibaba]
                                 [--capacity-types reserved,spot,on-demand]
                                 [--fractional-gpu whole|omit] [--repeat 1]
                                 [--extra-args "--time-limit 10"] [-- ARGS...]

Converts openb_pod_list_default.csv (8,152 pods: cpu_milli, memory_mib,
num_gpu, gpu_milli, gpu_spec, qos, pod_phase, times) into a snapshot of
pending pods (a kubectl `v1` List in kubectl's layout, as gen_karpenter.py
writes), runs

    stevedore recommend --snapshot SNAP --capacity-types LIST --output json [ARGS]

on the embedded AWS catalogue, times the whole process (wall), checks the
plan with the independent checker (tests/checker.py, against the embedded
catalogue written out as JSON by pricing/gen_catalog.py --json, so that
prices and allocatable resources of new nodes are checked) and prints pods,
placed, unschedulable, cost, the lower bound, the gap and the time.

Conversion (see "Optimizer targets" in bench/README.md):

- Every row becomes one pending pod `openb/<name>`, whatever its pod_phase
  (Running, Failed, Pending, Succeeded: the phase the pod ended in during
  the trace, not a reason to leave its request out) and qos (LS, BE,
  Burstable, Guaranteed: Alibaba's classes; every row has cpu and memory
  requests, so none is a Kubernetes BestEffort pod). Both are kept as
  annotations, which do not change how pods are grouped.
- Requests: cpu `<cpu_milli>m`, memory `<memory_mib>Mi` (left out when 0),
  and `nvidia.com/gpu` = num_gpu (as request and limit, as the API requires
  for extended resources). Guaranteed rows get cpu and memory limits equal
  to their requests.
- Fractional GPUs (gpu_milli < 1000, always with num_gpu 1 in this trace):
  Kubernetes' nvidia.com/gpu is an integer resource, so by default such a
  pod requests one whole GPU (`--fractional-gpu whole`); `--fractional-gpu
  omit` leaves these pods out instead. The count is printed.
- gpu_spec (a required GPU model): mapped to nothing. It is empty in every
  row of this file; a non-empty value is counted, printed and ignored, since
  the trace's model names (T4, P100, V100M16, G2, ...) have no counterpart
  in the AWS catalogue's `karpenter.k8s.aws/instance-gpu-name` values.

Before running, every pod is tested alone against the catalogue (allocatable
cpu, memory, nvidia.com/gpu and a pod slot of some type with an offering of
an allowed capacity type): pods that fit nowhere are expected to be listed
as unschedulable, and that count is printed beside the plan's. The same test
gives a naive reference plan, each pod alone on the cheapest offering that
holds it, whose cost is printed too.

Arguments after `--`, and --extra-args (one shell-quoted string), are passed
to `stevedore recommend` unchanged (for example `--time-limit 10`). Exit
status 0 when every run succeeded and every plan is feasible, 1 otherwise.
"""

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import KubectlListWriter, add_run_options, kubectl_dumps, machine, parse_run_args, repo_root  # noqa: E402
from peers import check  # noqa: E402

NAMESPACE = "openb"
GPU = "nvidia.com/gpu"
ANN = "bench.stevedore.io/"
TRACE_NAME = os.path.join("alibaba-gpu-v2023", "openb_pod_list_default.csv")


def default_trace():
    env = os.environ.get("STEVEDORE_TRACE_DATA")
    base = env or os.path.join(os.path.dirname(repo_root()), "shared", "data", "traces")
    return os.path.join(base, TRACE_NAME)


# --- conversion ------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.rows = 0
        self.pods = 0
        self.cpu_pods = 0
        self.gpu_pods = 0
        self.gpus = 0
        self.fractional = 0          # gpu_milli < 1000 among GPU rows
        self.fractional_omitted = 0
        self.gpu_spec = 0            # rows with a non-empty gpu_spec (ignored)
        self.by_phase = {}
        self.by_qos = {}
        self.by_num_gpu = {}


def read_trace(path):
    with open(path, newline="") as fp:
        return list(csv.DictReader(fp))


def pod_obj(row, num_gpu):
    cpu = int(row["cpu_milli"])
    mem = int(row["memory_mib"])
    req = {}
    if cpu > 0:
        req["cpu"] = "%dm" % cpu if cpu % 1000 else str(cpu // 1000)
    if mem > 0:
        req["memory"] = "%dMi" % mem if mem % 1024 else "%dGi" % (mem // 1024)
    res = {"requests": req}
    limits = {}
    if num_gpu > 0:
        req[GPU] = str(num_gpu)
        limits[GPU] = str(num_gpu)
    if row["qos"] == "Guaranteed":
        limits.update({k: v for k, v in req.items() if k in ("cpu", "memory")})
    if limits:
        res["limits"] = limits
    ann = {ANN + "trace": "alibaba-gpu-v2023",
           ANN + "qos": row["qos"],
           ANN + "trace-phase": row["pod_phase"],
           ANN + "gpu-milli": row["gpu_milli"],
           ANN + "creation-time": row["creation_time"]}
    if row.get("gpu_spec"):
        ann[ANN + "gpu-spec"] = row["gpu_spec"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "annotations": ann,
            "labels": {"app": "openb"},
            "name": row["name"],
            "namespace": NAMESPACE,
        },
        "spec": {
            "containers": [{"image": "registry.k8s.io/pause:3.9", "name": "main",
                            "resources": res}],
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
        },
        "status": {
            "conditions": [{"reason": "Unschedulable", "status": "False", "type": "PodScheduled"}],
            "phase": "Pending",
        },
    }


def convert(rows, out_path, fractional="whole", compact=False):
    """Writes the snapshot; returns (Stats, [(name, cpu_m, mem_mib, gpus)])."""
    st = Stats()
    pods = []
    tmp = out_path + ".tmp"
    with open(tmp, "w") as fp:
        w = KubectlListWriter(fp, compact)
        w.begin()
        for row in rows:
            st.rows += 1
            num_gpu = int(row["num_gpu"])
            milli = int(row["gpu_milli"] or 0)
            if row.get("gpu_spec"):
                st.gpu_spec += 1
            if num_gpu > 0 and milli < 1000:
                st.fractional += 1
                if fractional == "omit":
                    st.fractional_omitted += 1
                    continue
            st.pods += 1
            st.by_phase[row["pod_phase"]] = st.by_phase.get(row["pod_phase"], 0) + 1
            st.by_qos[row["qos"]] = st.by_qos.get(row["qos"], 0) + 1
            st.by_num_gpu[num_gpu] = st.by_num_gpu.get(num_gpu, 0) + 1
            if num_gpu > 0:
                st.gpu_pods += 1
                st.gpus += num_gpu
            else:
                st.cpu_pods += 1
            w.item(kubectl_dumps(pod_obj(row, num_gpu), compact))
            pods.append((row["name"], int(row["cpu_milli"]), int(row["memory_mib"]), num_gpu))
        w.end()
    os.replace(tmp, out_path)
    return st, pods


# --- the catalogue, for the checker and the fit test -----------------------------

_SUFFIX = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50,
           "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12}


def quantity_milli(q):
    """A catalogue quantity in thousandths of its unit (the forms gen_catalog.py writes)."""
    q = str(q)
    if q.endswith("m"):
        return int(q[:-1])
    for s, mul in _SUFFIX.items():
        if q.endswith(s):
            return int(float(q[:-len(s)]) * mul * 1000)
    return int(float(q) * 1000)


def write_catalog(spec, out_path):
    """The embedded catalogue `aws:us-east-1` as the JSON the build embeds."""
    provider, _, region = spec.partition(":")
    csv_path = os.path.join(repo_root(), "pricing", "data", "%s-%s.csv" % (provider, region))
    subprocess.run([sys.executable, os.path.join(repo_root(), "pricing", "gen_catalog.py"), "--json",
                    "-o", out_path, spec, csv_path], check=True)


def gpu_types(cat, cts):
    """[(name, gpus, cpu_m, mem_mib, cheapest allowed price)] of types with nvidia GPUs."""
    out = []
    for t in cat["instance_types"]:
        alloc = t.get("allocatable") or t["capacity"]
        if GPU not in alloc:
            continue
        prices = [o["price"] for o in t["offerings"] if o["capacity_type"] in cts]
        if not prices:
            continue
        out.append((t["name"], quantity_milli(alloc[GPU]) // 1000, quantity_milli(alloc["cpu"]),
                    quantity_milli(alloc["memory"]) // (1000 * 2 ** 20), min(prices)))
    return out


def single_pod_fit(cat, cts, pods):
    """Each pod alone against the allowed types (cpu, memory, GPUs, one pod slot).

    Returns (names of pods no type can hold, cost of the naive plan that puts
    every other pod alone on the cheapest allowed offering that holds it)."""
    shapes = []
    for t in cat["instance_types"]:
        prices = [o["price"] for o in t["offerings"] if o["capacity_type"] in cts]
        if not prices:
            continue
        alloc = t.get("allocatable") or t["capacity"]
        if quantity_milli(alloc.get("pods", "110")) < 1000:
            continue
        shapes.append((min(prices), quantity_milli(alloc["cpu"]),
                       quantity_milli(alloc["memory"]) // 1000,
                       quantity_milli(alloc.get(GPU, "0")) // 1000))
    shapes.sort()
    bad = []
    naive = 0.0
    for name, cpu, mem, gpus in pods:
        mem_b = mem * 2 ** 20
        for price, c, m, g in shapes:
            if c >= cpu and m >= mem_b and g >= gpus:
                naive += price
                break
        else:
            bad.append(name)
    return bad, naive


# --- running ---------------------------------------------------------------------

def run_recommend(cmd, timeout):
    """Runs one `stevedore recommend`; returns (seconds, exit code, stdout, stderr)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return time.perf_counter() - t0, p.returncode, p.stdout, p.stderr.decode(errors="replace")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", default=default_trace(), help="pod list CSV (default: %(default)s)")
    ap.add_argument("--dir", default="/tmp/stevedore-alibaba",
                    help="where the snapshot, catalogue and plan are written (default: %(default)s)")
    ap.add_argument("--stevedore", default=os.path.join(repo_root(), "build", "controller", "stevedore"))
    ap.add_argument("--catalog", default="aws:us-east-1",
                    help="embedded catalogue to run on (default: %(default)s)")
    ap.add_argument("--capacity-types", default="reserved,spot,on-demand")
    ap.add_argument("--fractional-gpu", choices=("whole", "omit"), default="whole",
                    help="pods with gpu_milli < 1000: request one whole GPU (default) or leave them out")
    ap.add_argument("--compact", action="store_true", help="minified snapshot instead of kubectl's layout")
    ap.add_argument("--repeat", type=int, default=1, help="runs; the fastest is reported (default 1)")
    ap.add_argument("--no-check", action="store_true", help="skip tests/checker.py")
    add_run_options(ap)
    args = parse_run_args(ap, argv)
    extra = args.extra
    cts = [c.strip() for c in args.capacity_types.split(",") if c.strip()]
    if not os.access(args.stevedore, os.X_OK):
        ap.error("%s not found; build first (meson setup build && ninja -C build)" % args.stevedore)
    os.makedirs(args.dir, exist_ok=True)

    snap = os.path.join(args.dir, "alibaba-gpu-%s%s.json" % (args.fractional_gpu,
                                                           "-compact" if args.compact else ""))
    st, pods = convert(read_trace(args.trace), snap, args.fractional_gpu, args.compact)
    cat_path = os.path.join(args.dir, "catalog-%s.json" % args.catalog.replace(":", "-"))
    write_catalog(args.catalog, cat_path)
    with open(cat_path) as fp:
        cat = json.load(fp)
    nowhere, naive = single_pod_fit(cat, cts, pods)
    types = gpu_types(cat, cts)

    print("machine: " + machine())
    print("trace: %s (%d rows)" % (args.trace, st.rows))
    print("snapshot: %s (%.1f MB), %d pending pods: %d CPU-only, %d with GPUs (%d GPUs); "
          "num_gpu %s" % (snap, os.path.getsize(snap) / 1e6, st.pods, st.cpu_pods, st.gpu_pods, st.gpus,
                          ", ".join("%d: %d" % kv for kv in sorted(st.by_num_gpu.items()))))
    print("  trace phase %s; qos %s" % (
        ", ".join("%s %d" % kv for kv in sorted(st.by_phase.items())),
        ", ".join("%s %d" % kv for kv in sorted(st.by_qos.items()))))
    print("  fractional GPU (gpu_milli < 1000): %d pods, %s" % (
        st.fractional, "each requests 1 whole GPU" if args.fractional_gpu == "whole"
        else "left out (%d)" % st.fractional_omitted))
    print("  gpu_spec non-empty: %d rows (ignored)" % st.gpu_spec)
    print("catalogue: %s, capacity types %s: %d types with %s (most per type: %d)" % (
        args.catalog, ",".join(cts), len(types), GPU, max((t[1] for t in types), default=0)))
    print("  pods no allowed type can hold alone: %d%s" % (
        len(nowhere), (" (" + ", ".join(nowhere[:5]) + (", ..." if len(nowhere) > 5 else "") + ")")
        if nowhere else ""))
    print("  one pod per node, each on the cheapest allowed offering that holds it: %.2f $/h" % naive)

    cmd = [args.stevedore, "recommend", "--snapshot", snap, "--catalog", args.catalog,
           "--capacity-types", ",".join(cts), "--output", "json"] + extra
    print("command: " + " ".join(shlex.quote(c) for c in cmd))
    sys.stdout.flush()
    times = []
    out = None
    for _ in range(max(1, args.repeat)):
        try:
            dt, rc, stdout, stderr = run_recommend(cmd, args.timeout)
        except subprocess.TimeoutExpired:
            print("FAILED: timed out after %.0f s" % args.timeout)
            return 1
        if rc != 0:
            print("FAILED: exit %d: %s" % (rc, stderr.strip()[-1000:]))
            return 1
        times.append(dt)
        out = stdout
    plan_path = snap[:-len(".json")] + ".plan.json"
    with open(plan_path, "wb") as fp:
        fp.write(out)
    plan = json.loads(out)
    s = plan.get("summary") or {}
    cost = s.get("new_nodes_hourly_cost")
    lb = s.get("lower_bound_hourly_cost")
    gap = (cost - lb) / lb * 100.0 if isinstance(cost, (int, float)) and lb else None
    by_type = {}
    for n in plan.get("nodes") or []:
        if n.get("new"):
            key = (n.get("instance_type"), n.get("capacity_type"))
            by_type[key] = by_type.get(key, 0) + 1

    verdict = "not checked"
    ok = True
    if not args.no_check:
        ok, cdt, msg = check([snap], cat_path, plan_path, ",".join(cts))
        verdict = "%s (checker %.1f s)" % ("feasible" if ok else "INFEASIBLE: " + msg, cdt)

    print()
    print("| pods | placed | unschedulable | new nodes | $/h | lower bound $/h | gap % | time s | plan |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print("| %s | %s | %s | %s | %.2f | %s | %s | %.2f | %s |" % (
        "{:,}".format(s.get("pending_pods", 0)), "{:,}".format(s.get("placed_pods", 0)),
        "{:,}".format(s.get("unschedulable_pods", 0)), "{:,}".format(s.get("new_nodes", 0)),
        cost or 0.0, "%.2f" % lb if lb is not None else "-", "%.2f" % gap if gap is not None else "-",
        min(times), verdict))
    if len(times) > 1:
        print("times: " + ", ".join("%.2f" % t for t in times) + " s")
    print("new nodes by type: " + ", ".join(
        "%s %s x%d" % (t, c, k) for (t, c), k in sorted(by_type.items(), key=lambda kv: -kv[1])[:12])
        + (", ..." if len(by_type) > 12 else ""))
    if (s.get("unschedulable_pods") or 0) != len(nowhere):
        print("note: %d pods unschedulable in the plan, %d fit no type alone" % (
            s.get("unschedulable_pods") or 0, len(nowhere)))
    for u in (plan.get("unschedulable") or [])[:3]:
        print("  unschedulable %s: %s" % (u.get("pod"), u.get("reason")))

    if args.json_out:
        doc = {"command": cmd, "machine": machine(), "trace": args.trace, "snapshot": snap,
               "fractional_gpu": args.fractional_gpu, "fractional_pods": st.fractional,
               "gpu_spec_rows": st.gpu_spec, "fit_nowhere": nowhere,
               "one_pod_per_node_hourly_cost": naive, "summary": s, "gap_pct": gap,
               "seconds": times, "feasible": ok if not args.no_check else None,
               "new_nodes_by_type": {"%s/%s" % k: v for k, v in by_type.items()}}
        with open(args.json_out, "w") as fp:
            json.dump(doc, fp, indent=2)
            fp.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
