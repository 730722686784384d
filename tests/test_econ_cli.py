#!/usr/bin/env python3
"""`stevedore recommend` and the economics of new nodes (docs/optimizer.md,
"Economics"), end to end on the Karpenter mix and the AWS catalogue:
burstable types only where a pool allows them, unlimited mode's surplus
credits in the plan's cost and JSON, standard mode's baseline cpu, the
per-node cost (nodeCost, --node-cost), and bad configuration. Every plan is
checked by the independent checker, which recomputes the credits; and the
checker is shown to catch plans that get them wrong.

    python3 tests/test_econ_cli.py [build/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

import checker  # noqa: E402

BURSTABLE = ("t2", "t3", "t3a", "t4g")


class Cli(object):
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="stv-econ-")
        self.snap = os.path.join(self.tmp, "karpenter.json")
        self.catalog = os.path.join(self.tmp, "aws.json")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_karpenter.py"), "--pods", "300",
                        "--out", self.snap], check=True, stderr=subprocess.DEVNULL)
        subprocess.run([sys.executable, os.path.join(ROOT, "pricing", "gen_catalog.py"), "--json", "-o",
                        self.catalog, "aws:us-east-1", os.path.join(ROOT, "pricing", "data", "aws-us-east-1.csv")],
                       check=True)
        self.inp = checker.load_inputs([self.snap], self.catalog)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, args):
        p = subprocess.run([self.binary] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
        return p.returncode, p.stdout, p.stderr

    def plan(self, config=None, extra=(), output="json"):
        args = ["recommend", "--snapshot", self.snap, "--catalog", self.catalog, "--capacity-types",
                "on-demand", "--time-limit", "2", "--quiet", "--output", output]
        if config is not None:
            args += ["--config", config]
        args += list(extra)
        rc, out, err = self.run(args)
        assert rc == 0, "stevedore %s: exit %d\n%s" % (" ".join(args), rc, err[-2000:])
        return json.loads(out) if output == "json" else out

    def check(self, plan, pools=None, node_cost=0.0):
        res = checker.check_plan(self.inp, plan, ["on-demand"], pools=pools, node_cost=node_cost)
        assert res.ok, "checker:\n%s" % "\n".join(res.violations[:20])
        return res


def family(node):
    return (node.get("instance_type") or "").split(".")[0]


def new_nodes(plan):
    return [n for n in plan["nodes"] if n["new"]]


def econ_tests(t, cli):
    unlimited = {"name": "burst", "instanceFamilies": ["t3", "t4g"],
                 "burstable": {"allowed": True, "mode": "unlimited"}}
    standard = dict(unlimited, burstable={"allowed": True, "mode": "standard"})

    def no_burstable_by_default():
        plan = cli.plan()
        assert new_nodes(plan), "no new nodes"
        bad = [n["instance_type"] for n in new_nodes(plan) if family(n) in BURSTABLE]
        assert not bad, "burstable types without a pool allowing them: %s" % bad[:5]
        for n in new_nodes(plan):
            assert n["credit_cost"] == 0 and n["node_cost"] == 0, n
            assert abs(n["hourly_cost"] - n["price"]) < 1e-9, n
        cli.check(plan)
    t.run("recommend: no burstable type is a new node unless a pool allows it", no_burstable_by_default)

    def unlimited_pays_credits():
        cfg = cli.write("unl.yaml", "nodePools:\n  - name: burst\n    instanceFamilies: [t3, t4g]\n"
                        "    burstable: {allowed: true, mode: unlimited}\n")
        plan = cli.plan(cfg)
        nodes = new_nodes(plan)
        assert nodes and all(family(n) in ("t3", "t4g") for n in nodes), [n["instance_type"] for n in nodes][:5]
        credits = sum(n["credit_cost"] for n in nodes)
        assert credits > 0, "no node pays surplus credits on the Karpenter mix"
        total = sum(n["hourly_cost"] for n in nodes)
        assert abs(total - plan["summary"]["new_nodes_hourly_cost"]) < 1e-6 * max(1, total)
        assert abs(total - sum(n["price"] for n in nodes) - credits) < 1e-6 * max(1, total)
        cli.check(plan, pools=[unlimited])
        # The checker recomputes the credits: a node that hides them is caught.
        bad = copy.deepcopy(plan)
        n = next(x for x in new_nodes(bad) if x["credit_cost"] > 0)
        n["hourly_cost"] -= n["credit_cost"]
        n["credit_cost"] = 0
        assert "cost" in checker.check_plan(cli.inp, bad, ["on-demand"], pools=[unlimited]).rules()
        # Without the pool's permission the same plan breaks the rules.
        assert "burstable" in checker.check_plan(cli.inp, plan, ["on-demand"],
                                                 pools=[dict(unlimited, burstable={"allowed": False})]).rules()
        table = cli.plan(cfg, output="table")
        assert "burstable surplus credits" in table, table[-1500:]
    t.run("recommend: unlimited mode counts surplus credits in each node's cost, the summary and the table",
          unlimited_pays_credits)

    def standard_offers_the_baseline():
        cfg = cli.write("std.yaml", "nodePools:\n  - name: burst\n    instanceFamilies: [t3, t4g]\n"
                        "    burstable: {allowed: true, mode: standard}\n")
        plan = cli.plan(cfg)
        nodes = new_nodes(plan)
        assert nodes and all(n["credit_cost"] == 0 for n in nodes)
        cli.check(plan, pools=[standard])
        # Under unlimited rules' full cpu, the same pods need fewer nodes.
        unl = cli.plan(cli.write("unl2.yaml", "nodePools:\n  - name: burst\n    instanceFamilies: [t3, t4g]\n"
                                 "    burstable: {allowed: true, mode: unlimited}\n"))
        assert len(new_nodes(unl)) < len(nodes), (len(new_nodes(unl)), len(nodes))
        # Checked under standard rules, the unlimited plan's nodes hold more than their baseline.
        assert "resources" in checker.check_plan(cli.inp, unl, ["on-demand"], pools=[standard]).rules()
    t.run("recommend: standard mode gives a burstable node only its baseline cpu", standard_offers_the_baseline)

    def node_cost_everywhere():
        plan = cli.plan(extra=["--node-cost", "0.05"])
        nodes = new_nodes(plan)
        assert all(abs(n["node_cost"] - 0.05) < 1e-12 for n in nodes)
        assert abs(plan["summary"]["new_nodes_hourly_cost"] - sum(n["price"] for n in nodes) - 0.05 * len(nodes)) < 1e-6
        cli.check(plan, node_cost=0.05)
        assert "cost" in checker.check_plan(cli.inp, plan, ["on-demand"]).rules()
        base = cli.plan()
        assert len(nodes) <= len(new_nodes(base)), (len(nodes), len(new_nodes(base)))
        # A pool's own nodeCost wins over the top-level one.
        cfg = cli.write("nc.yaml", "nodeCost: 0.05\nnodePools:\n  - name: p\n    nodeCost: 0.01\n")
        plan = cli.plan(cfg)
        assert all(abs(n["node_cost"] - 0.01) < 1e-12 for n in new_nodes(plan))
        cli.check(plan, pools=[{"name": "p", "nodeCost": 0.01}], node_cost=0.05)
    t.run("recommend: the per-node cost is on every new node and in the total; a pool's own wins",
          node_cost_everywhere)

    def bad_config():
        for text, needles in (
                ("nodePools:\n  - name: p\n    burstable: {allowed: true, mode: unlimted}\n",
                 [":3:", "nodePools[0].burstable.mode", "unknown mode \"unlimted\"", "standard or unlimited"]),
                ("nodeCost: -0.1\n", [":1:", "nodeCost"]),
                ("nodePools:\n  - name: p\n    nodeCost: -1\n", [":3:", "nodePools[0].nodeCost"]),
                ("nodePools:\n  - name: p\n    burstable: yes\n", [":3:", "nodePools[0].burstable"]),
                ("nodePools:\n  - name: p\n    burstable: {mode: standard}\n",
                 ["nodePools[0].burstable.allowed", "missing"])):
            cfg = cli.write("bad.yaml", text)
            rc, out, err = cli.run(["recommend", "--snapshot", cli.snap, "--config", cfg])
            assert rc == 2 and out == "", (rc, out[:200], err)
            assert err.startswith("stevedore recommend: " + cfg + ":"), err
            for n in needles:
                assert n in err, "%r not in %r" % (n, err)
        rc, out, err = cli.run(["recommend", "--snapshot", cli.snap, "--node-cost", "-1"])
        assert rc == 2 and "--node-cost" in err, err
    t.run("recommend: a misspelt mode or a negative nodeCost is an error at file:line:column", bad_config)

    def pool_node_limit():
        cfg = cli.write("lim.yaml", "nodePools:\n  - name: web\n    instanceFamilies: [m5]\n"
                        "    limits: {nodes: 3}\n")
        plan = cli.plan(cfg)
        assert 0 < len(new_nodes(plan)) <= 3, len(new_nodes(plan))
        assert plan["unschedulable"], "a 3-node pool placed all 300 pods"
        for u in plan["unschedulable"]:
            assert "pending: pool web is at its limit of 3 nodes" in u["reason"], u
        # The checker does not model node limits: its completeness rule (a pod left
        # out must fit on no new node) does not apply; everything else does.
        res = checker.check_plan(cli.inp, plan, ["on-demand"], completeness=False,
                                 pools=[{"name": "web", "instanceFamilies": ["m5"]}])
        assert res.ok, "\n".join(res.violations[:10])
    t.run("recommend: a pool's limits.nodes caps its new nodes and names itself as the reason", pool_node_limit)


def find_binary(argv):
    if argv:
        return os.path.abspath(argv[0])
    for p in ("build/stevedore", "build/controller/stevedore"):
        if os.access(p, os.X_OK):
            return os.path.abspath(p)
    return os.path.abspath("build/stevedore")


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    if not os.access(binary, os.X_OK):
        print("FAIL binary %s is executable" % binary)
        print("0 passed, 1 failed")
        return 1
    cli = Cli(binary)
    econ_tests(t, cli)
    shutil.rmtree(cli.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
