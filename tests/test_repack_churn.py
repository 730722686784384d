#!/usr/bin/env python3
"""`stevedore recommend --mode repack --max-moves N / --eviction-price X`:
the churn-aware repack (docs/consolidation.md), end to end on small
snapshots whose best answer is known by hand. Every plan is checked with
the independent checker's rules (checker.py: unmovable pods, static fit,
requests) by check_churn below.

    python3 tests/test_repack_churn.py [build/controller/stevedore]

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

DND = {"stevedore.io/do-not-disrupt": "true"}


def evictable_anyway(p, raw):
    """The churn-aware rules that relax the checker's unmovable_reason (CA's
    drain rules): safe-to-evict "true" allows local storage and a missing
    controller; an emptyDir in memory is not local storage."""
    ann = ((raw.get(p.key) or {}).get("metadata") or {}).get("annotations") or {}
    if ann.get("cluster-autoscaler.kubernetes.io/safe-to-evict") == "true":
        return True
    if p.unmovable == "local storage":
        for v in p.spec.get("volumes") or []:
            if "hostPath" in v or ("emptyDir" in v and (v["emptyDir"] or {}).get("medium") != "Memory"):
                return False
        return True
    return False


def check_churn(inp, plan, raw):
    """Violations of a churn-aware plan: a removed node holding an unmovable
    pod, a node removed twice, a move to a removed node or onto a node whose
    static rules the pod breaks, requests above a node's allocatable once
    every move is made, a pod moved that was not on a removed node, costs
    that do not add up."""
    v = []
    c = plan.get("consolidation")
    if not isinstance(c, dict):
        return ["plan has no consolidation object"]
    removed, new_nodes, saving = {}, {}, 0.0
    for a in c["actions"]:
        gone = 0.0
        for e in a["remove"]:
            if e["name"] in removed:
                v.append("node %s removed twice" % e["name"])
            removed[e["name"]] = a
            gone += e["hourly_cost"]
        add = a["add"]
        if add is not None:
            new_nodes[add["name"]] = add
        if not close(a["saving_hourly"], gone - (add["hourly_cost"] if add else 0.0)):
            v.append("action %r: saving does not add up" % a["remove"])
        saving += a["saving_hourly"]
    if not close(saving, c["saving_hourly"]):
        v.append("saving_hourly %r is not the actions' sum %r" % (c["saving_hourly"], saving))
    dest, pods = {}, {p.key: p for p in inp.pods}
    for a in c["actions"]:
        for m in a["moves"]:
            dest[m["pod"]] = m["to"]
    for p in inp.pods:
        if p.terminal or p.node_name not in removed or p.ds_uid is not None or p.mirror:
            continue
        if p.unmovable and not evictable_anyway(p, raw):
            v.append("node %s is removed but holds %s (%s)" % (p.node_name, p.key, p.unmovable))
        if p.key not in dest:
            v.append("pod %s on removed node %s has no destination" % (p.key, p.node_name))
    used = {}
    for p in inp.pods:
        if p.terminal or p.ds_uid is not None and p.node_name in removed:
            continue
        where = dest.get(p.key, p.node_name)
        if p.key in dest and pods[p.key].node_name not in removed:
            v.append("pod %s moved but its node %s stays" % (p.key, p.node_name))
        if where is None:
            continue
        if where in removed:
            v.append("pod %s ends on removed node %s" % (p.key, where))
            continue
        if where in inp.nodes and p.key in dest:
            bad = checker.static_fit(p, inp.nodes[where], inp)
            if bad:
                v.append("pod %s onto %s: %s" % (p.key, where, bad[1]))
        u = used.setdefault(where, {})
        for r, q in p.req.items():
            u[r] = u.get(r, 0) + q
    for name, u in used.items():
        if name not in inp.nodes:
            if name not in new_nodes:
                v.append("pods sent to %s, which is neither a node nor an added one" % name)
            continue
        alloc = inp.nodes[name].alloc or {}
        for r, q in u.items():
            if r in alloc and q > alloc[r]:
                v.append("node %s: %s requested %d > allocatable %d" % (name, r, q, alloc[r]))
    return v


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    cli = Cli(binary)

    def churn(name, items, extra=(), cts="reserved,on-demand"):
        path = cli.write(name + ".json", fx.snapshot(items))
        plan = cli.plan([path], extra=["--mode", "repack", "--capacity-types", cts] + list(extra))
        raw = {"%s/%s" % (i["metadata"].get("namespace", "default"), i["metadata"]["name"]): i
               for i in items if i["kind"] == "Pod"}
        viol = check_churn(checker.load_inputs([path], TINY), plan, raw)
        assert not viol, "checker: %s\nplan: %s" % ("\n".join(viol), json.dumps(plan, indent=1)[:4000])
        return plan["consolidation"]

    def kept(c):
        return {e["node"]: e["why"] for e in c["kept"]}

    def removed(c):
        return [e["name"] for a in c["actions"] for e in a["remove"]]

    def three():
        """n0 holds one 1-cpu pod, n1 and n2 two each (4-cpu c.large nodes, 0.15/h)."""
        items = [fx.node("n0"), fx.node("n1"), fx.node("n2"), fx.pod("a", "n0", app="a")]
        for i in range(2):
            items += [fx.pod("b%d" % i, "n1", app="b"), fx.pod("c%d" % i, "n2", app="c")]
        return items

    def delete():
        c = churn("delete", three(), ["--eviction-price", "0", "--min-saving", "40"])
        assert removed(c) == ["n0"], c["actions"]
        a = c["actions"][0]
        assert a["kind"] == "delete" and a["add"] is None and a["evictions"] == 1, a
        assert a["moves"] == [{"pod": "default/a", "from": "n0", "to": "n1"}], a["moves"]
        assert close(c["monthly_savings"], 0.15 * 730), c["monthly_savings"]
        assert "n1" in kept(c) and "n2" in kept(c), c["kept"]
        assert c["curve"] == [{"evictions": 1, "monthly_saving": 109.5}], c["curve"]
    t.run("a node whose pods fit on the others is deleted, its pod sent to the fullest node", delete)

    def blocked(annotations, why):
        def f():
            items = three()
            items[3] = fx.pod("a", "n0", app="a", annotations=annotations)
            c = churn("blocked", items, ["--eviction-price", "0", "--min-saving", "40"])
            assert "n0" not in removed(c), c["actions"]
            assert why in kept(c)["n0"], kept(c)
        return f
    t.run("stevedore.io/do-not-disrupt on a pod keeps its node",
          blocked(DND, "stevedore.io/do-not-disrupt"))
    t.run("karpenter.sh/do-not-disrupt on a pod keeps its node",
          blocked({"karpenter.sh/do-not-disrupt": "true"}, "karpenter.sh/do-not-disrupt"))
    t.run("cluster-autoscaler safe-to-evict false on a pod keeps its node",
          blocked({"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}, "safe-to-evict"))

    def local_storage_override():
        items = three()
        items[3] = fx.pod("a", "n0", app="a", volumes=[{"name": "t", "emptyDir": {}}])
        c = churn("local", items, ["--max-moves", "5", "--min-saving", "40"])
        assert "n0" not in removed(c) and "local storage" in kept(c)["n0"], c
        items[3]["metadata"]["annotations"] = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}
        c = churn("local-ok", items, ["--max-moves", "5", "--min-saving", "40"])
        assert removed(c) == ["n0"], c["actions"]
        items[3]["metadata"]["annotations"] = {}
        items[3]["spec"]["volumes"] = [{"name": "t", "emptyDir": {"medium": "Memory"}}]
        c = churn("local-mem", items, ["--max-moves", "5", "--min-saving", "40"])
        assert removed(c) == ["n0"], c["actions"]
    t.run("local storage keeps its node unless safe-to-evict says true or the emptyDir is in memory",
          local_storage_override)

    def node_annotation():
        items = three()
        items[0]["metadata"]["annotations"] = {"cluster-autoscaler.kubernetes.io/scale-down-disabled": "true"}
        c = churn("nodeann", items, ["--eviction-price", "0", "--min-saving", "40"])
        assert "n0" not in removed(c) and "scale-down-disabled" in kept(c)["n0"], c
    t.run("a node annotated scale-down-disabled is kept", node_annotation)

    def pdb_zero():
        items = three()
        b = fx.pdb("a-pdb", "a", max_unavailable=1)
        b["status"] = {"disruptionsAllowed": 0}
        c = churn("pdb", items + [b], ["--eviction-price", "0", "--min-saving", "40"])
        assert "n0" not in removed(c), c["actions"]
        assert "PodDisruptionBudget default/a-pdb allows 0 more evictions" in kept(c)["n0"], kept(c)
        b["status"] = {"disruptionsAllowed": 1}
        c = churn("pdb1", items + [b], ["--eviction-price", "0", "--min-saving", "40"])
        assert removed(c) == ["n0"], c["actions"]
    t.run("a PodDisruptionBudget allowing 0 evictions blocks the node; allowing 1 does not", pdb_zero)

    def spot():
        # "big" (c.large on-demand, 0.15/h) holds two 1-cpu pods; "anchor" is full and stays.
        items = [fx.node("big"), fx.node("anchor"), fx.pod("w0", "big"), fx.pod("w1", "big"),
                 fx.pod("pin", "anchor", cpu="4", app="pin", annotations=DND)]
        c = churn("od", items, ["--eviction-price", "0"], cts="reserved,on-demand")
        assert len(c["actions"]) == 1, c["actions"]
        a = c["actions"][0]
        assert a["kind"] == "replace" and a["add"]["capacity_type"] == "on-demand", a
        assert a["add"]["instance_type"] == "c.small" and close(a["saving_hourly"], 0.05), a
        c = churn("spot", items, ["--eviction-price", "0"], cts="reserved,spot,on-demand")
        a = c["actions"][0]
        assert a["add"]["capacity_type"] == "spot" and a["add"]["instance_type"] == "c.small", a
        assert close(a["saving_hourly"], 0.15 - 0.03), a
        assert all(m["to"] == a["add"]["name"] for m in a["moves"]), a["moves"]
    t.run("a node is replaced by a cheaper one, spot only when spot is allowed", spot)

    def curve():
        items = []
        for i in range(10):
            items.append(fx.node("n%02d" % i))
            for k in range(i % 3 + 1):
                items.append(fx.pod("p%02d-%d" % (i, k), "n%02d" % i, app="w%d" % i))
        full = churn("curve", items, ["--eviction-price", "0"])
        pts = full["curve"]
        assert len(pts) >= 2, full
        for a, b in zip(pts, pts[1:]):
            assert b["evictions"] >= a["evictions"] and b["monthly_saving"] > a["monthly_saving"], pts
        assert pts[-1]["evictions"] == full["evictions"], (pts, full["evictions"])
        lim = churn("curve2", items, ["--max-moves", "3"])
        assert lim["evictions"] <= 3 and lim["actions"], lim
        assert lim["curve"] == pts, (lim["curve"], pts)  # the curve ignores the limit
        priced = churn("curve3", items, ["--eviction-price", "60"])
        for a in priced["actions"]:
            assert a["monthly_saving"] > 60 * a["weighted_evictions"], a
        assert priced["evictions"] < full["evictions"], (priced["evictions"], full["evictions"])
    t.run("the saving-versus-evictions curve is monotone; the limits pick from it", curve)

    def table():
        path = cli.write("table.json", fx.snapshot(three()))
        out = cli.ok(["recommend", "-s", path, "-c", TINY, "--mode", "repack", "--max-moves", "10",
                      "--min-saving", "40", "--capacity-types", "reserved,on-demand"])
        for w in ("churn-aware repack", "at most 10 evictions", "1. delete", "move   default/a: n0 -> n1",
                  "Saving versus evictions", "109.50", "Kept"):
            assert w in out, "table lacks %r:\n%s" % (w, out)
    t.run("the table lists the actions, their moves, the curve and the kept nodes", table)

    def checker_catches():
        items = three()
        items[3] = fx.pod("a", "n0", app="a", annotations=DND)
        path = cli.write("tamper.json", fx.snapshot(items))
        plan = cli.plan([path], extra=["--mode", "repack", "--max-moves", "9", "--min-saving", "40",
                                           "--capacity-types", "reserved,on-demand"])
        raw = {"default/a": items[3]}
        c = plan["consolidation"]
        c["actions"].append({"kind": "delete", "remove": [{"name": "n0", "hourly_cost": 0.15}], "add": None,
                             "saving_hourly": 0.15, "moves": [{"pod": "default/a", "from": "n0", "to": "n2"}]})
        c["saving_hourly"] += 0.15
        viol = check_churn(checker.load_inputs([path], TINY), plan, raw)
        assert any("holds default/a" in x for x in viol), viol
        c["actions"][-1]["moves"][0]["to"] = "n9"
        viol = check_churn(checker.load_inputs([path], TINY), plan, raw)
        assert any("neither a node" in x for x in viol), viol
        items = three()
        path = cli.write("tamper2.json", fx.snapshot(items))
        plan = cli.plan([path], extra=["--mode", "repack", "--max-moves", "9", "--min-saving", "40",
                                           "--capacity-types", "reserved,on-demand"])
        assert plan["consolidation"]["actions"][0]["moves"][0]["to"] == "n1", plan["consolidation"]
        items[3] = fx.pod("a", "n0", app="a", cpu="3")  # the same move, of a pod n1 has no room for
        path = cli.write("tamper3.json", fx.snapshot(items))
        viol = check_churn(checker.load_inputs([path], TINY), plan, {"default/a": items[3]})
        assert any("n1: cpu requested" in x for x in viol), viol
    t.run("the check rejects a plan that removes a do-not-disrupt node or overfills a node", checker_catches)

    def deterministic():
        path = cli.write("det.json", fx.snapshot(fx.half_empty(12)))
        a = cli.plan([path], extra=["--mode", "repack", "--max-moves", "8"])
        b = cli.plan([path], extra=["--mode", "repack", "--max-moves", "8"])
        assert a["consolidation"] == b["consolidation"]
    t.run("the same input gives the same actions", deterministic)

    def bad_flags():
        path = cli.write("bad.json", fx.snapshot(three()))
        for args, want in ((["--max-moves", "3"], "only with --mode repack"),
                           (["--mode", "repack", "--max-moves", "2.5"], "--max-moves"),
                           (["--mode", "repack", "--max-moves", "-1"], "--max-moves"),
                           (["--mode", "repack", "--eviction-price", "x"], "--eviction-price"),
                           (["--mode", "repack", "--min-saving", "150%"], "--min-saving")):
            rc, out, err = cli.run(["recommend", "-s", path, "-c", TINY] + args)
            assert rc == 2 and out == "" and want in err, (args, rc, out, err)
    t.run("bad churn flags exit 2 naming the flag", bad_flags)

    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
