#!/usr/bin/env python3
"""`stevedore recommend` against the Karpenter-like and CA-like baselines on the Karpenter mix.

    python3 bench/karpenter_vs.py [--pods 5000,20000] [--dir /tmp/stevedore-karpenter-vs]
                                  [--capacity-types LIST] [--repeat 1]
                                  [--check-baselines] [--no-check]
                                  [--extra-args "--time-limit 10"] [-- ARGS...]

For each size, generates (once, kept in --dir) the minified Karpenter-mix
snapshot that bench/peers.py uses (gen_karpenter.py --compact, seed 1),
then:

- runs the `stevedore recommend` binary on it as a user would
  (`--snapshot SNAP --output json [--capacity-types LIST] [ARGS]`, ARGS from
  --extra-args and from after `--`, e.g. `--time-limit 10`), timing the
  whole process (reading included; the fastest of --repeat);
- runs stv-peers on the same snapshot (--emit-plans), which loads the same
  problem and times the Karpenter-like and Cluster-Autoscaler-like policies
  (packer/peers.h) on it, in memory (reading excluded);
- checks the binary's plan with tests/checker.py against the catalogue as
  stv-peers loaded it (catalog.json: allocatable and prices included), and
  the baselines' plans too with --check-baselines (a 20,000-pod plan takes
  the checker minutes);

and prints one table per size with cost, the ratio to the Karpenter-like
cost (the target: at most 0.90), the lower bound the binary reports, and
times, then the verdict on each part of the target (ratio <= 0.90, plan
feasible, time under 10 s). Exit status 0 when every run succeeded and every
checked plan is feasible (a missed target is reported, not an error), 1
otherwise.
"""
import argparse
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from common import add_run_options, machine, parse_run_args  # noqa: E402
from peers import check, run_peers  # noqa: E402

TARGET_RATIO = 0.90
TARGET_SECONDS = 10.0


def snapshot(dir_, n):
    path = os.path.join(dir_, "karpenter-%d-compact.json" % n)
    if not os.path.exists(path):
        tmp = path + ".tmp"
        subprocess.run([sys.executable, os.path.join(HERE, "gen_karpenter.py"), "--pods", str(n), "--seed", "1",
                        "--compact", "--out", tmp], check=True, stderr=subprocess.DEVNULL)
        os.replace(tmp, path)
    return path


def run_ours(cmd, repeat, timeout):
    """Runs the binary --repeat times; returns (fastest seconds, all seconds, stdout of the last run)."""
    times, out = [], None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(shlex.quote(c) for c in cmd), p.returncode,
                                                     p.stderr.decode(errors="replace").strip()[-1000:]))
        times.append(dt)
        out = p.stdout
    return min(times), times, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", default="5000,20000")
    ap.add_argument("--dir", default="/tmp/stevedore-karpenter-vs")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--capacity-types", default="",
                    help="passed to both the binary and stv-peers (default: the binary's, reserved,on-demand)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of the binary and of each baseline; the fastest is reported (default 1)")
    ap.add_argument("--check-baselines", action="store_true",
                    help="check the Karpenter-like and CA-like plans too (minutes at 20,000 pods)")
    ap.add_argument("--no-check", action="store_true", help="skip tests/checker.py")
    ap.add_argument("--config", default=None,
                    help="a configuration file (node pools, nodeCost) given to the binary, stv-peers and the "
                         "checker alike, so that every policy sees the same catalogue restriction")
    ap.add_argument("--jobs", type=int, default=2, help="checker runs in parallel (default 2)")
    add_run_options(ap, timeout_help="seconds allowed per run of the binary")
    args = parse_run_args(ap, argv)
    extra = args.extra
    exe = os.path.join(args.build, "controller", "stevedore")
    peers = os.path.join(args.build, "bench", "stv-peers")
    for p in (exe, peers):
        if not os.access(p, os.X_OK):
            sys.stderr.write("karpenter_vs.py: %s not found; build first (meson setup build && ninja -C build)\n" % p)
            return 2
    os.makedirs(args.dir, exist_ok=True)
    cts = args.capacity_types or None
    print("machine: " + machine())
    sys.stdout.flush()

    sizes = [int(x) for x in args.pods.split(",") if x]
    rows = []
    checks = []  # (label, snapshot, catalog, plan)
    for n in sizes:
        snap = snapshot(args.dir, n)
        out_dir = os.path.join(args.dir, "plans-%d" % n)
        base = run_peers(peers, [snap], out_dir, args.repeat, cts=cts, config=args.config)
        cmd = [exe, "recommend", "--snapshot", snap, "--output", "json"]
        if cts:
            cmd += ["--capacity-types", cts]
        if args.config:
            cmd += ["--config", args.config]
        cmd += extra
        best, times, out = run_ours(cmd, args.repeat, args.timeout)
        plan_path = os.path.join(out_dir, "recommend.json")
        with open(plan_path, "wb") as f:
            f.write(out)
        ours = json.loads(out)["summary"]
        cat = os.path.join(out_dir, "catalog.json")
        checks.append(("%d recommend" % n, snap, cat, plan_path))
        if args.check_baselines:
            for pol in ("karpenter", "ca"):
                checks.append(("%d %s-like" % (n, pol), snap, cat, os.path.join(out_dir, pol + ".json")))
        rows.append({"pods": n, "command": cmd, "seconds": best, "all_seconds": times, "ours": ours,
                     "baselines": {p["policy"]: p for p in base["policies"]}})

    verdicts = {}
    if not args.no_check:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            futs = {c[0]: ex.submit(check, [c[1]], c[2], c[3], cts, args.config) for c in checks}
            for label, f in futs.items():
                verdicts[label] = f.result()

    def verdict(label):
        if label not in verdicts:
            return "not checked"
        ok, dt, msg = verdicts[label]
        return ("feasible" if ok else "INFEASIBLE: " + msg) + " (%.0f s)" % dt

    failed = sum(1 for ok, _, _ in verdicts.values() if not ok)
    for r in rows:
        n, s, b = r["pods"], r["ours"], r["baselines"]
        k = b["karpenter-like"]["hourly_cost"]
        print()
        print("Karpenter mix, %s pods (capacity types %s); ours: %s" % (
            "{:,}".format(n), cts or "reserved,on-demand",
            " ".join(shlex.quote(c) for c in r["command"][1:])))
        print("| policy | new nodes | $/h | x Karpenter-like | lower bound $/h | time | unschedulable | plan |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        lb = s.get("lower_bound_hourly_cost")
        print("| stevedore recommend | %s | %.2f | %.3f | %s | %.2f s (process) | %d | %s |" % (
            "{:,}".format(s["new_nodes"]), s["new_nodes_hourly_cost"], s["new_nodes_hourly_cost"] / k if k else 0,
            "%.2f" % lb if lb is not None else "-", r["seconds"], s["unschedulable_pods"],
            verdict("%d recommend" % n)))
        for pol, key in (("karpenter-like", "karpenter"), ("ca-like", "ca")):
            p = b[pol]
            print("| %s | %s | %.2f | %.3f | | %.1f ms (in memory) | %d | %s |" % (
                pol, "{:,}".format(p["new_nodes"]), p["hourly_cost"], p["hourly_cost"] / k if k else 0, p["ms"],
                p["unschedulable"], verdict("%d %s-like" % (n, key))))
        sp = b["stevedore"]
        ratio = s["new_nodes_hourly_cost"] / k if k else float("inf")
        ok_plan = verdicts.get("%d recommend" % n, (None,))[0]
        r["ratio_to_karpenter_like"] = ratio
        r["feasible"] = ok_plan
        print("stv-peers' own stv_pack on the loaded problem: %s nodes, %.2f $/h, %.1f ms" % (
            "{:,}".format(sp["new_nodes"]), sp["hourly_cost"], sp["ms"]))
        print("target (cost <= %.2f x Karpenter-like, plan feasible, under %.0f s): ratio %.3f %s; plan %s; "
              "%.2f s %s" % (TARGET_RATIO, TARGET_SECONDS, ratio, "met" if ratio <= TARGET_RATIO else "NOT met",
                             {True: "feasible", False: "INFEASIBLE", None: "not checked"}[ok_plan], r["seconds"],
                             "met" if r["seconds"] < TARGET_SECONDS else "NOT met"))
    if verdicts:
        print()
        print("%d plans checked, %d infeasible" % (len(verdicts), failed))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"machine": machine(), "capacity_types": cts, "extra_args": extra, "rows": rows,
                       "checks": {k: {"feasible": v[0], "seconds": v[1], "verdict": v[2]}
                                  for k, v in verdicts.items()}}, f, indent=2)
            f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        sys.stderr.write("karpenter_vs.py: %s\n" % e)
        sys.exit(1)
