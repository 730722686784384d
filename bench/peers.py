#!/usr/bin/env python3
"""Stevedore against the Karpenter-like and Cluster-Autoscaler-like baselines.

    python3 bench/peers.py [--pods 5000,20000] [--dir /tmp/stevedore-peers]
                           [--repeat 3] [--build build] [--jobs 2]
                           [--seeds 20] [--no-check]
    python3 bench/peers.py --strip-constraints IN.json OUT.json

For each size, generates (once, kept in --dir) a minified Karpenter-mix
snapshot (bench/gen_karpenter.py --compact, seed 1) and a generic-only copy
of it (every pod's topologySpreadConstraints, podAffinity and
podAntiAffinity removed; requests, labels and node affinity kept), runs
`stv-peers --emit-plans` on both (Stevedore's stv_pack, the Karpenter-like
and the Cluster-Autoscaler-like policy on the same loaded problem, each the
best of --repeat runs), and checks every emitted plan with the independent
checker (tests/checker.py, against the catalogue as stv-peers loaded it, so
allocatable resources and prices are checked too). Then it does the same on
--seeds randomised cases of tests/gen_snapshot.py (existing nodes, taints,
DaemonSets, reserved counts, GPUs, every inter-pod rule), under the
capacity-type settings the feasibility tests use, checking the three plans
of each.

Prints the machine, one comparison table (cost as a ratio to Stevedore's)
and the checker's verdicts; exits 1 when any plan is infeasible or a run
fails. --strip-constraints writes the generic-only copy of one snapshot and
exits.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)
from common import machine, sweep_parser  # noqa: E402

POLICIES = ("stevedore", "karpenter", "ca")
POLICY_LABEL = {"stevedore": "stevedore", "karpenter": "karpenter-like", "ca": "ca-like"}
# The capacity-type settings of tests/test_feasibility.py, by seed.
CT_SETTINGS = [None, "on-demand", "spot", "spot,on-demand", "reserved,spot,on-demand"]


def strip_constraints(src, dst):
    """Writes a copy of snapshot src without inter-pod constraints.

    Removes spec.topologySpreadConstraints and spec.affinity.podAffinity /
    podAntiAffinity from every Pod (in a List or a single object); node
    affinity, selectors, tolerations, requests and labels are kept, so the
    pods and their classes stay the same apart from those rules. Returns the
    number of pods changed.
    """
    with open(src) as f:
        doc = json.load(f)
    items = doc.get("items") if isinstance(doc, dict) and "items" in doc else [doc]
    changed = 0
    for it in items:
        if not isinstance(it, dict) or it.get("kind") != "Pod":
            continue
        spec = it.get("spec") or {}
        hit = spec.pop("topologySpreadConstraints", None) is not None
        aff = spec.get("affinity")
        if isinstance(aff, dict):
            hit = (aff.pop("podAffinity", None) is not None) | hit
            hit = (aff.pop("podAntiAffinity", None) is not None) | hit
            if not aff:
                spec.pop("affinity")
        changed += hit
    tmp = dst + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(tmp, dst)
    return changed


def run_peers(exe, snapshots, out_dir, repeat, catalog=None, cts=None, config=None):
    cmd = [exe]
    if config:
        cmd += ["--config", config]
    for s in snapshots:
        cmd += ["--snapshot", s]
    if catalog:
        cmd += ["--catalog", catalog]
    if cts:
        cmd += ["--capacity-types", cts]
    cmd += ["--repeat", str(repeat), "--emit-plans", out_dir, "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-2000:]))
    return json.loads(p.stdout)


def check(snapshots, catalog, plan, cts=None, config=None):
    """Runs tests/checker.py; returns (ok, seconds, first lines of its verdict)."""
    cmd = [sys.executable, os.path.join(ROOT, "tests", "checker.py")] + list(snapshots)
    if config:
        cmd += ["--config", config]
    cmd += ["--catalog", catalog, "--plan", plan]
    if cts:
        cmd += ["--capacity-types", cts]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    lines = [l for l in p.stdout.splitlines() if l.startswith("VIOLATION")][:5]
    if p.returncode == 0:
        return True, dt, "feasible"
    return False, dt, "exit %d: %s" % (p.returncode, "; ".join(lines) or p.stderr.strip()[-500:])


def main():
    ap = sweep_parser(__doc__, "5000,20000", "/tmp/stevedore-peers", 3)
    ap.add_argument("--jobs", type=int, default=2, help="checker runs in parallel")
    ap.add_argument("--seeds", type=int, default=20, help="randomised cases of tests/gen_snapshot.py (0: none)")
    ap.add_argument("--no-check", action="store_true", help="skip tests/checker.py")
    ap.add_argument("--strip-constraints", nargs=2, metavar=("IN", "OUT"),
                    help="only write the generic-only copy of IN to OUT")
    args = ap.parse_args()
    if args.strip_constraints:
        n = strip_constraints(*args.strip_constraints)
        print("%d pods stripped of inter-pod constraints" % n)
        return 0
    exe = os.path.join(args.build, "bench", "stv-peers")
    if not os.access(exe, os.X_OK):
        sys.stderr.write("peers.py: %s not found; build first (meson setup build && ninja -C build)\n" % exe)
        return 2
    os.makedirs(args.dir, exist_ok=True)
    print("machine: " + machine())
    rows = []    # (mix, pods, result of stv-peers)
    checks = []  # (label, snapshots, catalog, plan, cts)
    for n in [int(x) for x in args.pods.split(",") if x]:
        mix = os.path.join(args.dir, "karpenter-%d-compact.json" % n)
        if not os.path.exists(mix):
            subprocess.run([sys.executable, os.path.join(HERE, "gen_karpenter.py"), "--pods", str(n), "--seed", "1",
                            "--compact", "--out", mix], check=True, stderr=subprocess.DEVNULL)
        generic = os.path.join(args.dir, "karpenter-%d-generic.json" % n)
        if not os.path.exists(generic):
            strip_constraints(mix, generic)
        for name, snap in (("karpenter mix", mix), ("generic only", generic)):
            out = os.path.join(args.dir, "plans-%s-%d" % (name.split()[0], n))
            r = run_peers(exe, [snap], out, args.repeat)
            rows.append((name, n, r))
            for pol in POLICIES:
                checks.append(("%s %d %s" % (name, n, POLICY_LABEL[pol]), [snap], os.path.join(out, "catalog.json"),
                               os.path.join(out, pol + ".json"), None))

    print()
    print("| input | pods | policy | new nodes | $/h | x Stevedore | ms (best of %d) | unschedulable |" % args.repeat)
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, n, r in rows:
        for p in r["policies"]:
            print("| %s | %s | %s | %s | %.2f | %.2f | %.1f | %d |" % (
                name, "{:,}".format(n), p["policy"], "{:,}".format(p["new_nodes"]), p["hourly_cost"], p["ratio"],
                p["ms"], p["unschedulable"]))
        print("| %s | %s | (Stevedore's lower bound) | | %.2f | %.2f | | |" % (
            name, "{:,}".format(n), r["policies"][0]["lower_bound"],
            r["policies"][0]["lower_bound"] / r["policies"][0]["hourly_cost"] if r["policies"][0]["hourly_cost"] else 0))
    print()
    for name, n, r in rows:
        pol = {p["policy"]: p for p in r["policies"]}
        k, c = pol["karpenter-like"], pol["ca-like"]
        print("%s %s: karpenter-like %d queue passes, %s node Add attempts; ca-like %d scale-up loops, %s node group "
              "estimates" % (name, "{:,}".format(n), k["rounds"], "{:,}".format(k["evaluations"]), c["rounds"],
                             "{:,}".format(c["evaluations"])))
    sys.stdout.flush()

    seed_rows = []
    if args.seeds > 0:
        import gen_snapshot  # tests/gen_snapshot.py
        base = os.path.join(args.dir, "seeds")
        os.makedirs(base, exist_ok=True)
        for seed in range(args.seeds):
            d = os.path.join(base, "seed-%d" % seed)
            os.makedirs(d, exist_ok=True)
            paths, cat = gen_snapshot.write_case(seed, d, split=seed % 4 == 3)
            cts = CT_SETTINGS[seed % len(CT_SETTINGS)]
            r = run_peers(exe, paths, os.path.join(d, "plans"), 1, catalog=cat, cts=cts)
            seed_rows.append((seed, cts, r))
            for pol in POLICIES:
                checks.append(("seed %d (%s) %s" % (seed, cts or "default", POLICY_LABEL[pol]), paths, cat,
                               os.path.join(d, "plans", pol + ".json"), cts))
        totals = {p: [0, 0, 0.0, 0] for p in POLICY_LABEL.values()}
        for _, _, r in seed_rows:
            for p in r["policies"]:
                t = totals[p["policy"]]
                t[0] += p["placed"]
                t[1] += p["new_nodes"]
                t[2] += p["hourly_cost"]
                t[3] += p["withdrawn"]
        print()
        print("tests/gen_snapshot.py seeds 0..%d (%d pending pods in all):" % (
            args.seeds - 1, sum(r["pending"] for _, _, r in seed_rows)))
        for pol, (placed, nodes, cost, wd) in totals.items():
            print("  %-15s placed %5d  new nodes %5d  $/h %9.3f  withdrawn %d" % (pol, placed, nodes, cost, wd))

    failed = 0
    if not args.no_check:
        print()
        print("checker (tests/checker.py) on every emitted plan:")
        sys.stdout.flush()
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            futs = [ex.submit(check, snaps, cat, plan, cts) for _, snaps, cat, plan, cts in checks]
            for (label, _, _, plan, _), f in zip(checks, futs):
                ok, dt, msg = f.result()
                if not ok:
                    failed += 1
                if not ok or not label.startswith("seed"):
                    print("  %-40s %-9s %6.1f s  %s" % (label, "feasible" if ok else "FAILED", dt,
                                                       "" if ok else msg + " (" + plan + ")"))
                sys.stdout.flush()
        nseed = sum(1 for c in checks if c[0].startswith("seed"))
        if nseed:
            print("  seed plans: %d checked, %d infeasible" % (
                nseed, sum(1 for (l, *_), f in zip(checks, futs) if l.startswith("seed") and not f.result()[0])))
        print("%d plans checked, %d infeasible" % (len(checks), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError) as e:
        sys.stderr.write("peers.py: %s\n" % e)
        sys.exit(1)
