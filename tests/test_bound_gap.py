#!/usr/bin/env python3
"""The lower bound on the Karpenter mix means something: on 1,000 pods of
bench/gen_karpenter.py's mix (hostname anti-affinity and spread, zone spread
and zone affinity), on demand, the reported bound (the better of the
pattern bound and the resource-only one) is within a loose threshold of the
plan, so that a regression in the bounds shows. Since burstable types are
priced with their surplus credits (and not used unless a pool allows them),
the resource bound alone is about 9 % below the plan on this mix; it was
47 % when burstables' cheap vCPUs made it loose. The threshold is loose because the bound's
share of the budget is wall time and the machine may be loaded; a binary
built with AddressSanitizer runs several times slower, so there only the
bound's soundness (at most the plan's cost) is checked.

    python3 tests/test_bound_gap.py [build/controller/stevedore]
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

GAP_MAX = 0.30  # 8.7 to 17 % measured (load 2 to 15 on 2 cores); the resource bound alone: 9 %


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    exe = os.path.abspath(args[0]) if args else os.path.join(ROOT, "build", "controller", "stevedore")
    t = Runner()
    with open(exe, "rb") as f:
        sanitized = b"__asan_init" in f.read()
    tmp = tempfile.mkdtemp(prefix="stv-gap-")
    snap = os.path.join(tmp, "k1000.json")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_karpenter.py"), "--pods", "1000",
                    "--seed", "1", "--compact", "--no-managed-fields", "--out", snap],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def run(extra):
        r = subprocess.run([exe, "recommend", "--snapshot", snap, "-q", "-o", "json"] + extra,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
        assert r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr)
        return json.loads(r.stdout)["summary"]

    def on_demand():
        s = run(["--capacity-types", "reserved,on-demand", "--time-limit", "20"])
        assert s["placed_pods"] == 1000, s
        assert s["lower_bound_hourly_cost"] <= s["new_nodes_hourly_cost"] + 1e-9, s
        if sanitized:
            return
        assert s["lower_bound_kind"] in ("relaxed-patterns", "patterns", "resources"), s
        assert s["gap"] <= GAP_MAX, "gap %.1f%% above %.0f%%: %s" % (100 * s["gap"], 100 * GAP_MAX, s)
    t.run("Karpenter mix, 1,000 pods on demand: the bound within 30% of the plan", on_demand)

    def heuristic_only():
        # Without the optimizer only the resource bound is computed.
        s = run(["--capacity-types", "reserved,on-demand", "--time-limit", "0"])
        assert s["lower_bound_kind"] == "resources", s
        assert 0 <= s["gap"] <= GAP_MAX, s
    t.run("Karpenter mix, 1,000 pods, --time-limit 0: the resource bound alone", heuristic_only)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
