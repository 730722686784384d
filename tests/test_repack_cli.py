#!/usr/bin/env python3
"""`stevedore recommend --mode repack`, end to end: small snapshots built by
tests/repack_fixture.py, every plan verified by the independent checker
(checker.check_repack).

    python3 tests/test_repack_cli.py [build/controller/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checker  # noqa: E402
import repack_fixture as fx  # noqa: E402
from test_cli import Runner, Cli, find_binary, TINY, close  # noqa: E402


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    cli = Cli(binary)

    def repack(name, items, extra=()):
        path = cli.write(name + ".json", fx.snapshot(items))
        # The fixtures' expectations are for reserved and on-demand capacity.
        plan = cli.plan([path], extra=["--mode", "repack", "--time-limit", "1",
                                       "--capacity-types", "reserved,on-demand"] + list(extra))
        inp = checker.load_inputs([path], TINY)
        res = checker.check_repack(inp, plan)
        assert res.ok, "checker: repack plan not feasible:\n%s\nplan: %s" % (
            "\n".join(res.violations), json.dumps(plan, indent=1)[:4000])
        return path, plan

    def removed(rp):
        return {e["name"] for e in rp["remove"]} | {e["name"] for e in rp["replace"]}

    def half_empty():
        _, plan = repack("half", fx.half_empty(10))
        rp = plan["repack"]
        assert plan["summary"]["mode"] == "repack"
        for k in ("current_hourly_cost", "proposed_hourly_cost", "monthly_savings", "remove", "replace",
                  "add", "keep", "unpriced_nodes", "pdb_warnings"):
            assert k in rp, "repack lacks %s" % k
        assert close(rp["current_hourly_cost"], 1.5), rp["current_hourly_cost"]
        assert rp["proposed_hourly_cost"] < rp["current_hourly_cost"]
        assert rp["monthly_savings"] > 0
        assert close(rp["monthly_savings"], (rp["current_hourly_cost"] - rp["proposed_hourly_cost"]) * 730)
        assert len(removed(rp)) >= 5, rp
        for e in rp["remove"]:
            for k in ("name", "instance_type", "capacity_type", "zone", "hourly_cost", "pods_moved"):
                assert k in e, "remove entry lacks %s: %s" % (k, e)
    t.run("ten half-empty nodes repack onto fewer with a positive monthly saving", half_empty)

    def table():
        path = cli.write("half-t.json", fx.snapshot(fx.half_empty(10)))
        out = cli.ok(["recommend", "-s", path, "-c", TINY, "--mode", "repack", "--time-limit", "0",
                      "--capacity-types", "reserved,on-demand"])
        for w in ("current", "proposed", "Monthly saving: 547.50 USD", "Remove", "Keep"):
            assert w in out, "table lacks %r:\n%s" % (w, out)
    t.run("the table shows current and proposed cost, the saving and the node lists", table)

    def do_not_disrupt():
        items = fx.half_empty(4)
        items.append(fx.pod("precious", "n03", annotations={"stevedore.io/do-not-disrupt": "true"}, app="db"))
        _, plan = repack("dnd", items)
        rp = plan["repack"]
        assert "n03" in rp["keep"], rp
        assert "do-not-disrupt" in rp["keep_reasons"]["n03"], rp["keep_reasons"]
    t.run("a do-not-disrupt pod keeps its node", do_not_disrupt)

    def mirror_local():
        items = fx.half_empty(4)
        items.append(fx.pod("etcd-n02", "n02", owner="Node", app="etcd",
                            annotations={"kubernetes.io/config.mirror": "abc"}))
        items.append(fx.pod("cache", "n01", app="cache", volumes=[{"name": "tmp", "emptyDir": {}}]))
        items.append(fx.pod("logs", "n00", app="logs", volumes=[{"name": "h", "hostPath": {"path": "/var/log"}}]))
        _, plan = repack("mirror", items)
        rp = plan["repack"]
        for n, w in (("n02", "mirror"), ("n01", "local storage"), ("n00", "local storage")):
            assert n in rp["keep"], (n, rp)
            assert w in rp["keep_reasons"][n], rp["keep_reasons"]
        moved = {p for pn in plan["nodes"] for p in pn["pods"]}
        for p in ("default/etcd-n02", "default/cache", "default/logs"):
            assert p not in moved, p
    t.run("mirror and local-storage pods stay, and so do their nodes", mirror_local)

    def bare():
        items = fx.half_empty(3)
        items.append(fx.pod("lonely", "n02", owner=None, app="lonely"))
        _, plan = repack("bare", items)
        assert "n02" in plan["repack"]["keep"]
        assert "no controller owner" in plan["repack"]["keep_reasons"]["n02"]
    t.run("a bare pod (no controller owner) keeps its node", bare)

    def daemonsets():
        items = fx.half_empty(6)
        for i in range(6):
            items.append(fx.pod("agent-%d" % i, "n%02d" % i, cpu="100m", mem="64Mi", owner="DaemonSet",
                                app="agent"))
        _, plan = repack("ds", items)
        rp = plan["repack"]
        moved = {p for pn in plan["nodes"] for p in pn["pods"]}
        assert not any(p.startswith("default/agent-") for p in moved), moved
        assert removed(rp), rp
        for e in rp["remove"] + rp["replace"]:
            assert e["pods_moved"] == 2, e
    t.run("DaemonSet pods are not moved (nor counted as moved)", daemonsets)

    def cordoned():
        items = [fx.node("big", cpu="4"), fx.node("old", unschedulable=True),
                 fx.pod("a", "old"), fx.pod("b", "old"),
                 fx.pod("anchor", "big", app="db", annotations={"stevedore.io/do-not-disrupt": "true"})]
        _, plan = repack("cordon", items)
        rp = plan["repack"]
        assert "old" in removed(rp), rp
        assert "old" not in rp["keep"]
        where = {p: pn["name"] for pn in plan["nodes"] for p in pn["pods"]}
        assert where.get("default/a") == "big" and where.get("default/b") == "big", where
    t.run("a cordoned node is removed and its pods move", cordoned)

    def unpriced():
        items = fx.half_empty(2) + [fx.node("mystery", itype="z.unknown"), fx.pod("m", "mystery")]
        _, plan = repack("unpriced", items)
        rp = plan["repack"]
        names = [e["name"] for e in rp["unpriced_nodes"]]
        assert names == ["mystery"], rp["unpriced_nodes"]
        assert "z.unknown" in rp["unpriced_nodes"][0]["reason"]
        assert "mystery" in rp["keep"]
        assert close(rp["current_hourly_cost"], 0.30), rp  # the unpriced node is not priced at zero
    t.run("an unpriced node is reported and kept as it is", unpriced)

    def unplaceable():
        items = fx.half_empty(3) + [fx.node("huge", itype="c.large", cpu="16", mem="64Gi"),
                                    fx.pod("whale", "huge", cpu="12", app="whale")]
        _, plan = repack("whale", items)
        rp = plan["repack"]
        assert "huge" in rp["keep"], rp
        assert [u["pod"] for u in rp["unplaceable"]] == ["default/whale"], rp["unplaceable"]
        assert rp["unplaceable"][0]["reason"], rp["unplaceable"]
        assert plan["unschedulable"] == []
    t.run("a movable pod that fits nowhere keeps its node and is reported", unplaceable)

    def replace():
        items = []
        for i in range(3):
            items.append(fx.node("b%d" % i, zone="us-east-1b"))
            items.append(fx.pod("w%d" % i, "b%d" % i))
        _, plan = repack("replace", items)
        rp = plan["repack"]
        assert len(rp["replace"]) == 1 and len(rp["remove"]) == 2, rp
        w = rp["replace"][0]["with"]
        for k in ("instance_type", "capacity_type", "zone", "hourly_cost"):
            assert k in w, w
        assert w["zone"] == "us-east-1a"
        assert close(rp["monthly_savings"], 0.30 * 730), rp["monthly_savings"]
    t.run("nodes with no match in the plan are replaced or removed", replace)

    def pdbs():
        items = fx.half_empty(10) + [fx.pdb("web", "web", min_available=19), fx.pdb("easy", "web", max_unavailable="100%")]
        _, plan = repack("pdb", items)
        ws = plan["repack"]["pdb_warnings"]
        assert [w["pdb"] for w in ws] == ["default/web"], ws
        assert ws[0]["disruptions_allowed"] == 1 and ws[0]["pods"] == 20 and ws[0]["pods_moved"] >= 2, ws
    t.run("a PodDisruptionBudget that the moves would exceed is reported", pdbs)

    def pending_left_out():
        items = fx.half_empty(2) + [fx.pod("waiting", None, app="late")]
        _, plan = repack("pending", items)
        assert plan["repack"]["pending_pods_left_out"] == 1
        moved = {p for pn in plan["nodes"] for p in pn["pods"]}
        assert "default/waiting" not in moved
    t.run("pods pending in the snapshot are left out of the what-if", pending_left_out)

    def checker_catches():
        path, plan = repack("tamper", fx.half_empty(4) + [
            fx.pod("precious", "n03", annotations={"stevedore.io/do-not-disrupt": "true"}, app="db")])
        bad = json.loads(json.dumps(plan))
        rp = bad["repack"]
        rp["keep"].remove("n03")
        rp["remove"].append({"name": "n03", "instance_type": "c.large", "capacity_type": "on-demand",
                             "zone": "us-east-1a", "hourly_cost": 0.15, "pods_moved": 3})
        res = checker.check_repack(checker.load_inputs([path], TINY), bad)
        assert not res.ok and any("precious" in v for v in res.violations), res.violations
        bad = json.loads(json.dumps(plan))
        bad["repack"]["monthly_savings"] += 5
        res = checker.check_repack(checker.load_inputs([path], TINY), bad)
        assert any(v.startswith("[cost]") for v in res.violations), res.violations
    t.run("the checker rejects a plan that removes a do-not-disrupt node or misstates the saving", checker_catches)

    def bad_input():
        rc, out, err = cli.run(["recommend", "-s", "/nonexistent.json", "--mode", "repack"])
        assert rc == 2 and out == "" and "/nonexistent.json" in err, (rc, out, err)
        rc, out, err = cli.run(["recommend", "-s", "x.json", "--mode", "shuffle"])
        assert rc == 2 and out == "" and "--mode" in err, (rc, out, err)
        items = fx.half_empty(1)
        items[1]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
        path = cli.write("bad.json", fx.snapshot(items))
        rc, out, err = cli.run(["recommend", "-s", path, "-c", TINY, "--mode", "repack", "-o", "json"])
        assert rc == 2 and out == "", (rc, out, err)
        assert "bad.json" in err and "web-00-0" in err and "cpu" in err, err
    t.run("bad input: error naming file, item and field, exit 2, nothing on stdout", bad_input)

    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
