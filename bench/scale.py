#!/usr/bin/env python3
"""Scale benchmark: Karpenter-mix snapshots through the real code path.

    python3 bench/scale.py [--pods 5000,20000,100000] [--dir /tmp/stevedore-scale]
                           [--repeat 5] [--build build]

For each size, generates (once, kept in --dir) a snapshot in kubectl's
indented layout with managedFields (bench/gen_karpenter.py, seed 1), then
runs `stv-bench` on it against the embedded aws:us-east-1 catalogue
(reserved,on-demand): the fastest and median of --repeat packings on the same
model, the time to read the snapshot, and the peak resident memory of the
whole process. It also times `stevedore recommend --output json` end to end,
once, as a user would run it. One table, one run, one machine.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from common import machine, sweep_parser  # noqa: E402


def main():
    ap = sweep_parser(__doc__, "5000,20000,100000", "/tmp/stevedore-scale", 5)
    ap.add_argument("--compact", action="store_true", help="minified snapshots instead of kubectl's layout")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    bench = os.path.join(args.build, "bench", "stv-bench")
    exe = os.path.join(args.build, "controller", "stevedore")
    print("machine: " + machine())
    print("%8s %9s %9s %9s %9s %8s %9s %10s %10s %8s" % (
        "pods", "file MB", "read ms", "pack min", "pack med", "end2end", "RSS MB", "new nodes",
        "cost $/h", "LB $/h"))
    for n in [int(x) for x in args.pods.split(",")]:
        snap = os.path.join(args.dir, "karpenter-%d%s.json" % (n, "-compact" if args.compact else ""))
        if not os.path.exists(snap):
            cmd = [sys.executable, os.path.join(HERE, "gen_karpenter.py"), "--pods", str(n), "--seed", "1",
                   "--out", snap]
            if args.compact:
                cmd.append("--compact")
            subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        out = subprocess.run([bench, "--snapshot", snap, "--repeat", str(args.repeat)], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out)
        t0 = time.perf_counter()
        subprocess.run([exe, "recommend", "--snapshot", snap, "--output", "json", "--quiet"], check=True,
                       stdout=subprocess.DEVNULL)
        e2e = time.perf_counter() - t0
        print("%8d %9.0f %9.0f %9.1f %9.1f %7.2fs %9.1f %10d %10.2f %8.2f" % (
            n, os.path.getsize(snap) / 1e6, r["read_ms"], r["pack_ms_min"], r["pack_ms_median"], e2e,
            r["max_rss_mb"], r["new_nodes"], r["hourly_cost"], r["lower_bound"]))
        if r["unschedulable"]:
            print("         (%d pods unschedulable)" % r["unschedulable"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
