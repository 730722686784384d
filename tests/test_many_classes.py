#!/usr/bin/env python3
"""The heuristic on many pod classes, through the binary.

    python3 tests/test_many_classes.py [build/controller/stevedore]

Karpenter's own mix draws every pod's requests on its own, so a few
Deployments make hundreds of classes that share a handful of placement keys
(signature and requests), with hostname anti-affinity and spread between
them (docs/packer.md, "Cost with many pod classes"). On 1,500 such pods
(bench/gen_karpenter.py --independent-requests, two seeds) and on the
deployment-grouped mix, the heuristic's plan (--time-limit 0) must pass the
independent checker (tests/checker.py: every kube-scheduler filter rule,
every pending pod placed or reported), and the same input must give the
same plan byte for byte.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import checker  # noqa: E402
from clitest import Runner  # noqa: E402


def main(argv):
    exe = argv[0] if argv else os.path.join(ROOT, "build", "controller", "stevedore")
    tmp = tempfile.mkdtemp(prefix="stv-classes-")
    t = Runner()

    def snapshot(name, seed, *extra):
        path = os.path.join(tmp, name)
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_karpenter.py"), "--pods", "1500",
                        "--seed", str(seed), "--compact", "--no-managed-fields", "--out", path] + list(extra),
                       check=True, stderr=subprocess.DEVNULL)
        return path

    def recommend(snap):
        r = subprocess.run([exe, "recommend", "--snapshot", snap, "--quiet", "--output", "json",
                            "--time-limit", "0"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr)
        return r.stdout

    def feasible_and_repeatable(snap):
        out = recommend(snap)
        plan = json.loads(out)
        res = checker.check_plan(checker.load_inputs([snap], None), plan,
                                 list(checker.DEFAULT_CAPACITY_TYPES))
        assert not res.violations, "%d violation(s):\n%s" % (len(res.violations),
                                                              "\n".join(res.violations[:15]))
        s = plan["summary"]
        assert s["placed_pods"] + s["unschedulable_pods"] == s["pending_pods"] == 1500, s
        assert s["placed_pods"] > 0, s
        assert recommend(snap) == out, "a second run gave another plan"
        return plan

    def classes(snap):
        """Pods of distinct namespace, labels and requests: a lower bound on the classes."""
        with open(snap) as f:
            items = json.load(f)["items"]
        return len({(i["metadata"]["namespace"], json.dumps(i["metadata"].get("labels"), sort_keys=True),
                     json.dumps([c.get("resources") for c in i["spec"]["containers"]], sort_keys=True))
                    for i in items if i.get("kind") == "Pod"})

    def should_plan_independent_requests_feasibly_and_the_same_twice():
        for seed in (3, 11):
            snap = snapshot("ind%d.json" % seed, seed, "--independent-requests")
            assert classes(snap) > 300, "only %d classes: not the mix this test is about" % classes(snap)
            feasible_and_repeatable(snap)

    def should_plan_the_grouped_mix_feasibly_and_the_same_twice():
        feasible_and_repeatable(snapshot("grp.json", 3))

    for name, fn in sorted(locals().items()):
        if name.startswith("should_"):
            t.run(name, fn)
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
