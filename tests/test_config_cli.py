#!/usr/bin/env python3
"""`stevedore recommend --config FILE` end to end: settings from the YAML
file and the flags that override them, node pools (labels, taints, filters)
on new nodes, headroom (virtual pods) in the JSON and table outputs, and bad
configuration files. Every plan is checked by the independent checker.

    python3 tests/test_config_cli.py [build/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import copy
import json
import os
import subprocess
import sys
import tempfile
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402,F401

import checker  # noqa: E402

TINY = os.path.join(DATA, "tiny_catalog.json")
FOUR = os.path.join(DATA, "four_pods.json")
NODES = os.path.join(DATA, "cluster_nodes.json")
EXAMPLE_SNAPSHOT = os.path.join(ROOT, "examples", "snapshot.json")
EXAMPLE_CONFIG = os.path.join(ROOT, "examples", "stevedore.yaml")
HEADROOM_NS = "stevedore-headroom"



class Cli(object):
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="stv-cfg-")

    def run(self, args):
        p = subprocess.run([self.binary] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def ok(self, args):
        rc, out, err = self.run(args)
        assert rc == 0, "stevedore %s: exit %d\nstderr: %s" % (" ".join(args), rc, err[-2000:])
        return out

    def plan(self, snapshots, catalog=TINY, config=None, extra=()):
        args = ["recommend"]
        for s in snapshots:
            args += ["--snapshot", s]
        if catalog:
            args += ["--catalog", catalog]
        if config:
            args += ["--config", config]
        args += ["--output", "json"] + list(extra)
        out = self.ok(args)
        try:
            return json.loads(out)
        except ValueError as e:
            raise AssertionError("stdout is not JSON (%s): %r" % (e, out[:500]))

    def write(self, name, content):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            if isinstance(content, str):
                f.write(content)
            else:
                json.dump(content, f, indent=1)
        return path

    def expect_error(self, args, needles):
        rc, out, err = self.run(args)
        assert rc == 2, "exit %d, expected 2\nstdout: %s\nstderr: %s" % (rc, out[:500], err)
        assert out == "", "stdout not empty on error: %r" % out[:500]
        for n in needles:
            assert n in err, "stderr lacks %r:\n%s" % (n, err)
        assert err.startswith("stevedore recommend: "), err
        assert len(err.strip().splitlines()) == 1, "expected one line on stderr:\n" + err
        return err


def load(path):
    with open(path) as f:
        return json.load(f)


def feasible(snapshots, plan, catalog=TINY, cts=None, pools=None, headroom=None):
    inp = checker.load_inputs(snapshots, catalog)
    res = checker.check_plan(inp, plan, cts or list(checker.DEFAULT_CAPACITY_TYPES), pools=pools,
                             headroom=headroom)
    assert res.ok, "checker: plan not feasible:\n%s\nplan: %s" % (
        "\n".join(res.violations), json.dumps(plan, indent=1)[:3000])


def new_nodes(plan):
    return [n for n in plan["nodes"] if n.get("new")]


def close(a, b, eps=1e-6):
    return abs(a - b) <= eps


def pod(name, cpu="1", memory="256Mi", **spec):
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": "default", "labels": {"app": name.rsplit("-", 1)[0]}},
         "spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
         "status": {"phase": "Pending"}}
    p["spec"].update(spec)
    return p


def snapshot(items):
    return {"apiVersion": "v1", "kind": "List", "items": items}


def find_binary(argv):
    if argv:
        return os.path.abspath(argv[0])
    for p in ("build/stevedore", "build/controller/stevedore"):
        if os.access(p, os.X_OK):
            return os.path.abspath(p)
    return os.path.abspath("build/stevedore")


def config_tests(t, cli):
    def capacity_types_from_file():
        cfg = cli.write("od.yaml", "capacityTypes: [on-demand]\ntimeLimit: 500ms\n")
        plan = cli.plan([FOUR], config=cfg)
        assert [n["capacity_type"] for n in new_nodes(plan)] == ["on-demand"], plan["nodes"]
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.15), plan["summary"]
        feasible([FOUR], plan, cts=["on-demand"])
        plan = cli.plan([FOUR], config=cfg, extra=["--capacity-types", "spot"])
        assert all(n["capacity_type"] == "spot" for n in new_nodes(plan)), plan["nodes"]
        feasible([FOUR], plan, cts=["spot"])
        out = cli.ok(["recommend", "--snapshot", FOUR, "--catalog", TINY, "--config", cfg])
        assert "capacity types on-demand" in out, out
    t.run("capacityTypes from the file; --capacity-types overrides it", capacity_types_from_file)

    def spot_policy_from_file():
        cfg = cli.write("nospot.yaml", "spot:\n  maxShare: 0\n  restartCost: 0.5\n")
        plan = cli.plan([FOUR], config=cfg)
        assert not any(n["capacity_type"] == "spot" for n in new_nodes(plan)), plan["nodes"]
        feasible([FOUR], plan)
        plan = cli.plan([FOUR], config=cfg, extra=["--spot-max-share", "1"])
        assert all(n["capacity_type"] == "spot" for n in new_nodes(plan)), plan["nodes"]
        plan = cli.plan([FOUR], extra=["--spot-max-share", "0"])
        assert not any(n["capacity_type"] == "spot" for n in new_nodes(plan)), plan["nodes"]
        for flag in ("--spot-max-pool-fraction", "--spot-restart-cost"):
            cli.plan([FOUR], extra=[flag, "0.5"])
    t.run("spot.maxShare from the file; --spot-max-share overrides it", spot_policy_from_file)

    def time_limit_forms():
        for v in ("0", "2", "500ms", "1.5s", "1m"):
            cli.plan([FOUR], extra=["--time-limit", v])
        cfg = cli.write("tl.yaml", "timeLimit: 0\n")
        cli.plan([FOUR], config=cfg, extra=["--time-limit", "250ms"])
    t.run("--time-limit and timeLimit take seconds or durations", time_limit_forms)

    def bad_flags():
        base = ["recommend", "--snapshot", FOUR, "--catalog", TINY]
        cli.expect_error(base + ["--time-limit", "2d"], ["--time-limit: 2d is out of range (0 to 86400 s)"])
        cli.expect_error(base + ["--time-limit", "2x"], ["--time-limit: invalid duration \"2x\": unknown unit \"x\""])
        cli.expect_error(base + ["--spot-max-share", "1.5"], ["--spot-max-share: 1.5 is out of range"])
        cli.expect_error(base + ["--spot-max-pool-fraction", "x"], ["--spot-max-pool-fraction: \"x\" is not a number"])
        cli.expect_error(base + ["--spot-restart-cost", "-1"], ["--spot-restart-cost:"])
        cli.expect_error(base + ["--headroom-cpu", "2x"], ["--headroom-cpu: invalid quantity \"2x\""])
        cli.expect_error(base + ["--headroom-memory", "-1Gi"], ["--headroom-memory: negative quantity"])
        cli.expect_error(base + ["--headroom-count", "1.5", "--headroom-cpu", "1"],
                         ["--headroom-count: \"1.5\" is not a whole number"])
        cli.expect_error(base + ["--headroom-count", "2"], ["needs --headroom-cpu or --headroom-memory"])
        cli.expect_error(base + ["--headroom-automatic", "120%"], ["--headroom-automatic: 120% is out of range"])
        cli.expect_error(base + ["--capacity-types", "spto"],
                         ["--capacity-types: unknown capacity type \"spto\" (expected reserved, spot, on-demand)"])
    t.run("bad override flags: exit 2, nothing on stdout, the flag named", bad_flags)

    def bad_files():
        base = ["recommend", "--snapshot", FOUR, "--catalog", TINY, "--config"]
        cases = [
            ("syntax.yaml", "spot:\n  maxShare: [1\n", ["syntax.yaml:3:1: YAML syntax error"]),
            ("list.yaml", "- capacityTypes\n", ["list.yaml:1:1: the document must be a mapping of settings"]),
            ("empty.yaml", "", ["empty.yaml:1:1: empty file"]),
            ("unknown.yaml", "spot:\n  maxshare: 1\n", ["unknown.yaml:2:3: spot: unknown key \"maxshare\""]),
            ("ct.yaml", "nodePools:\n  - name: general\n    capacityTypes: [spot, spto]\n",
             ["ct.yaml:3:27: nodePools[0].capacityTypes[1]: unknown capacity type \"spto\" "
              "(expected reserved, spot, on-demand)"]),
            ("qty.yaml", "headroom:\n  manual: [{cpu: 1x}]\n", ["qty.yaml:2:18: headroom.manual[0].cpu: invalid quantity"]),
            ("pct.yaml", "headroom: {automatic: ten}\n", ["pct.yaml:1:23: headroom.automatic: \"ten\" is not a percentage"]),
            ("dur.yaml", "timeLimit: soon\n", ["dur.yaml:1:12: timeLimit: invalid duration \"soon\": expected a number before \"soon\""]),
        ]
        for name, text, needles in cases:
            p = cli.write(name, text)
            cli.expect_error(base + [p], [p] + needles)
        cli.expect_error(base + [os.path.join(cli.tmp, "missing.yaml")], ["missing.yaml: cannot read"])
        cli.expect_error(base + [cli.tmp], ["cannot read"])
    t.run("bad configuration files: exit 2, nothing on stdout, file:line:column and key", bad_files)

    # Two pools over the tiny catalogue: "web" (c.large only, tainted and
    # labelled) and "small" (c.small only).
    pools = [
        {"name": "web", "instanceSizes": ["large"], "labels": {"team": "web"},
         "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]},
        {"name": "small", "instanceSizes": ["small"], "capacityTypes": ["on-demand"]},
    ]
    pool_yaml = ("nodePools:\n"
                 "  - name: web\n"
                 "    instanceSizes: [large]\n"
                 "    labels: {team: web}\n"
                 "    taints:\n"
                 "      - {key: dedicated, value: web, effect: NoSchedule}\n"
                 "  - name: small\n"
                 "    instanceFamilies: [c]\n"
                 "    instanceSizes: [small]\n"
                 "    capacityTypes: [on-demand]\n")
    pools[1]["instanceFamilies"] = ["c"]

    def pool_labels_and_taints():
        cfg = cli.write("pools.yaml", pool_yaml)
        tol = [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}]
        items = [pod("web-%d" % i, cpu="1", nodeSelector={"team": "web"}, tolerations=tol) for i in range(3)]
        items += [pod("plain-%d" % i, cpu="1") for i in range(3)]
        snap = cli.write("pool_pods.json", snapshot(items))
        plan = cli.plan([snap], config=cfg)
        assert plan["summary"]["placed_pods"] == 6, plan
        for n in new_nodes(plan):
            assert n["pool"] in ("web", "small"), n
            assert n["labels"]["stevedore.io/node-pool"] == n["pool"], n
            if n["pool"] == "web":
                assert n["instance_type"] == "c.large", n
                assert n["labels"]["team"] == "web", n
                assert n["taints"] == [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}], n
                assert all(k.startswith("default/web-") for k in n["pods"]), \
                    "a pod without the toleration is on the tainted pool: %s" % n
            else:
                assert n["instance_type"] == "c.small" and n["capacity_type"] == "on-demand", n
                assert n["taints"] == [] and "team" not in n["labels"], n
                assert all(k.startswith("default/plain-") for k in n["pods"]), n
        feasible([snap], plan, pools=pools)
        out = cli.ok(["recommend", "--snapshot", snap, "--catalog", TINY, "--config", cfg])
        assert "POOL" in out and " web" in out and " small" in out, out
    t.run("node pools: labels and taints on new nodes, pods without the toleration kept off",
          pool_labels_and_taints)

    def only_tainted_pool():
        cfg = cli.write("tainted.yaml", "nodePools:\n  - name: web\n    taints: "
                                        "[{key: dedicated, effect: NoExecute}]\n")
        tol = [{"key": "dedicated", "operator": "Exists"}]
        items = [pod("tol-0", tolerations=tol), pod("plain-0")]
        snap = cli.write("tainted_pods.json", snapshot(items))
        plan = cli.plan([snap], config=cfg)
        assert plan["summary"]["placed_pods"] == 1, plan["summary"]
        assert [u["pod"] for u in plan["unschedulable"]] == ["default/plain-0"], plan["unschedulable"]
        assert "taint" in plan["unschedulable"][0]["reason"], plan["unschedulable"]
        feasible([snap], plan, pools=[{"name": "web", "taints": [{"key": "dedicated", "effect": "NoExecute"}]}])
    t.run("a pod that tolerates no pool's taint is unschedulable, with the taint as reason", only_tainted_pool)

    def checker_flags_pool_breaches():
        cfg = cli.write("pools2.yaml", pool_yaml)
        tol = [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}]
        items = [pod("web-0", nodeSelector={"team": "web"}, tolerations=tol), pod("plain-0")]
        snap = cli.write("pool_pods2.json", snapshot(items))
        plan = cli.plan([snap], config=cfg)
        feasible([snap], plan, pools=pools)
        inp = checker.load_inputs([snap], TINY)
        bad = copy.deepcopy(plan)
        for n in new_nodes(bad):
            if n["pool"] == "web":
                n["taints"] = []
        assert "taints" in checker.check_plan(inp, bad, pools=pools).rules()
        bad = copy.deepcopy(plan)
        web = [n for n in new_nodes(bad) if n["pool"] == "web"][0]
        small = [n for n in new_nodes(bad) if n["pool"] == "small"][0]
        web["pods"], small["pods"] = small["pods"], web["pods"]
        assert "taint" in checker.check_plan(inp, bad, pools=pools).rules()
        assert "pool" in checker.check_plan(inp, plan, pools=None).rules()
    t.run("checker: a missing pool taint, a pod on a tainted pool, an unexpected pool are flagged",
          checker_flags_pool_breaches)

    def empty_pool_note():
        cfg = cli.write("nomatch.yaml", "nodePools:\n  - name: arm\n    architectures: [arm64]\n"
                                        "  - name: any\n")
        rc, out, err = cli.run(["recommend", "--snapshot", FOUR, "--catalog", TINY, "--config", cfg,
                                "--output", "json"])
        assert rc == 0, err
        assert "node pool arm admits no offering" in err, err
        assert "node pool any" not in err, err
        plan = json.loads(out)
        assert all(n["pool"] == "any" for n in new_nodes(plan)), plan["nodes"]
        rc, out, err = cli.run(["recommend", "--snapshot", FOUR, "--catalog", TINY, "--config", cfg, "-q"])
        assert rc == 0 and err == "", err
    t.run("a pool that admits no offering gets a note on stderr", empty_pool_note)

    def shipped_example():
        plan = cli.plan([EXAMPLE_SNAPSHOT], catalog=None, config=EXAMPLE_CONFIG,
                        extra=["--time-limit", "2s"])
        nn = new_nodes(plan)
        assert nn, plan["summary"]
        for n in nn:
            assert n["pool"] in ("general", "batch"), n
            fam = n["instance_type"].split(".")[0]
            if n["pool"] == "general":
                assert fam in ("m5", "c5", "r5") and n["zone"] in ("us-east-1a", "us-east-1b"), n
                assert n["labels"]["team"] == "web", n
            else:
                assert fam in ("c6g", "c7g") and n["capacity_type"] == "spot", n
        hr = plan["summary"]["headroom"]
        assert hr["pods"] > 2 and hr["units"][0] == {"count": 2, "cpu": "2", "memory": "4Gi", "automatic": False}, hr
        assert hr["units"][-1]["automatic"] is True, hr
    t.run("the shipped examples/stevedore.yaml plans the shipped snapshot", shipped_example)


def headroom_tests(t, cli):
    node = load(NODES)["items"][0]  # worker-1: 4 cpu, 16Gi; 100m and 64Mi used by a DaemonSet pod

    def manual_on_existing_room():
        cfg = cli.write("hr.yaml", "headroom:\n  manual:\n    - {count: 2, cpu: \"1\", memory: 1Gi}\n")
        items = [copy.deepcopy(node), pod("app-0", cpu="1")]
        snap = cli.write("hr_existing.json", snapshot(items))
        plan = cli.plan([snap], config=cfg)
        s = plan["summary"]
        assert s["pending_pods"] == 1 and s["placed_pods"] == 1 and s["unschedulable_pods"] == 0, s
        assert s["new_nodes"] == 0, "existing room holds the app and the headroom: %s" % plan["nodes"]
        hr = s["headroom"]
        assert hr == {"pods": 2, "placed": 2, "unplaced": 0, "cpu": "2", "memory": "2Gi",
                      "on_existing_nodes": 2, "on_new_nodes": 0, "hourly_cost": 0,
                      "units": [{"count": 2, "cpu": "1", "memory": "1Gi", "automatic": False}]}, hr
        pods = plan["nodes"][0]["pods"]
        assert sorted(pods) == ["default/app-0", "stevedore-headroom/headroom-1",
                                "stevedore-headroom/headroom-2"], pods
        feasible([snap], plan, headroom={"manual": [{"count": 2, "cpu": "1", "memory": "1Gi"}]})
        out = cli.ok(["recommend", "--snapshot", snap, "--catalog", TINY, "--config", cfg])
        assert "Pending pods: 1 " in out, out
        assert "Headroom: 2 virtual pods, 2 cpu, 2Gi memory: 2 on existing nodes, 0 on 0 new nodes, costing " \
               "0.0000 USD/hour" in out, out
    t.run("manual headroom: virtual pods take existing room first, not counted as pods", manual_on_existing_room)

    def manual_on_new_nodes():
        plan = cli.plan([FOUR], extra=["--capacity-types", "on-demand", "--headroom-count", "2",
                                       "--headroom-cpu", "2", "--headroom-memory", "4Gi"])
        s = plan["summary"]
        assert s["pending_pods"] == 4 and s["placed_pods"] == 4, s
        hr = s["headroom"]
        assert hr["pods"] == 2 and hr["placed"] == 2 and hr["on_new_nodes"] == 2, hr
        assert hr["cpu"] == "4" and hr["memory"] == "8Gi", hr
        # 4 + 4 cpu on c.large (4 cpu, $0.15): two nodes; headroom's share is
        # the dominant share (cpu) of what it takes on them.
        assert close(s["new_nodes_hourly_cost"], 0.30), s
        assert close(hr["hourly_cost"], 0.15), hr
        listed = [k for n in plan["nodes"] for k in n["pods"] if k.startswith("stevedore-headroom/")]
        assert sorted(listed) == ["stevedore-headroom/headroom-1", "stevedore-headroom/headroom-2"], listed
        feasible([FOUR], plan, cts=["on-demand"],
                 headroom={"manual": [{"count": 2, "cpu": "2", "memory": "4Gi"}]})
        out = cli.ok(["recommend", "--snapshot", FOUR, "--catalog", TINY, "--capacity-types", "on-demand",
                      "--headroom-count", "2", "--headroom-cpu", "2", "--headroom-memory", "4Gi"])
        assert "HEADROOM" in out and "Headroom: 2 virtual pods, 4 cpu, 8Gi memory: 0 on existing nodes, " \
               "2 on " in out and "costing 0.1500 USD/hour" in out, out
    t.run("manual headroom on new nodes: cost is its share of them; table line", manual_on_new_nodes)

    def automatic():
        items = [copy.deepcopy(node), pod("app-0", cpu="500m")]
        snap = cli.write("hr_auto.json", snapshot(items))
        plan = cli.plan([snap], extra=["--headroom-automatic", "50%"])
        hr = plan["summary"]["headroom"]
        # 50% of 4 cpu and 16Gi: 2 pods of 1 cpu and 4Gi (16Gi / 4 cpu)
        assert hr["units"] == [{"count": 2, "cpu": "1", "memory": "4Gi", "automatic": True}], hr
        assert hr["pods"] == 2 and hr["placed"] == 2, hr
        feasible([snap], plan, headroom={"automatic": "50%"})
        cfg = cli.write("hr_auto.yaml", "headroom:\n  automatic: 10%\n  manual: [{cpu: 100m}]\n")
        plan = cli.plan([snap], config=cfg)
        hr = plan["summary"]["headroom"]
        # 10% of 4000m is 400m, of 16Gi 1638.4Mi: 1 pod of 1 cpu, 4Gi
        assert hr["units"] == [{"count": 1, "cpu": "100m", "memory": "0", "automatic": False},
                               {"count": 1, "cpu": "1", "memory": "4Gi", "automatic": True}], hr
        feasible([snap], plan, headroom={"automatic": "10%", "manual": [{"cpu": "100m"}]})
        plan = cli.plan([snap], config=cfg, extra=["--headroom-count", "0", "--headroom-automatic", "0"])
        assert "headroom" not in plan["summary"], plan["summary"]
        plan = cli.plan([FOUR], extra=["--headroom-automatic", "20%"])
        assert "headroom" not in plan["summary"], "no existing nodes, no automatic headroom: %s" % plan["summary"]
    t.run("automatic headroom: P% of existing cpu and memory as 1-cpu pods; flags override the file", automatic)

    def unplaced():
        plan = cli.plan([FOUR], extra=["--headroom-cpu", "64"])
        s = plan["summary"]
        hr = s["headroom"]
        assert hr["pods"] == 1 and hr["placed"] == 0 and hr["unplaced"] == 1, hr
        assert "cpu" in hr["unplaced_reason"], hr
        assert s["unschedulable_pods"] == 0 and plan["unschedulable"] == [], plan
        assert s["placed_pods"] == 4, s
        feasible([FOUR], plan, headroom={"manual": [{"cpu": "64"}]})
        out = cli.ok(["recommend", "--snapshot", FOUR, "--catalog", TINY, "--headroom-cpu", "64"])
        assert "1 could not be placed" in out and "Unschedulable" not in out, out
    t.run("headroom that fits nowhere is reported in the headroom summary, not as unschedulable", unplaced)

    def tainted_pools_and_headroom():
        cfg = cli.write("hr_taint.yaml", "nodePools:\n  - name: only\n    taints: [{key: k, effect: NoSchedule}]\n"
                                        "headroom:\n  manual: [{cpu: 1}]\n")
        plan = cli.plan([FOUR], config=cfg)
        hr = plan["summary"]["headroom"]
        assert hr["unplaced"] == 1 and "taint" in hr["unplaced_reason"], hr
    t.run("headroom pods tolerate no taint", tainted_pools_and_headroom)

    def reserved_namespace():
        items = [pod("x")]
        items[0]["metadata"]["namespace"] = HEADROOM_NS
        snap = cli.write("hr_ns.json", snapshot(items))
        cli.plan([snap])  # fine without headroom
        cli.expect_error(["recommend", "--snapshot", snap, "--catalog", TINY, "--headroom-cpu", "1"],
                         ["Pod stevedore-headroom/x: namespace stevedore-headroom is reserved"])
    t.run("a snapshot pod in namespace stevedore-headroom conflicts with headroom", reserved_namespace)

    def checker_catches_headroom_breaches():
        items = [copy.deepcopy(node), pod("app-0", cpu="1")]
        snap = cli.write("hr_chk.json", snapshot(items))
        spec = {"manual": [{"count": 2, "cpu": "1", "memory": "1Gi"}]}
        plan = cli.plan([snap], extra=["--headroom-count", "2", "--headroom-cpu", "1", "--headroom-memory", "1Gi"])
        inp = checker.load_inputs([snap], TINY)
        assert checker.check_plan(inp, plan, headroom=spec).ok
        bad = copy.deepcopy(plan)
        bad["summary"]["headroom"]["units"][0]["cpu"] = "3"  # 3 x 2 + 1 > 3.9 cpu left
        r = checker.check_plan(inp, bad)
        assert "resources" in r.rules() and "headroom" in r.rules(), r.violations
        bad = copy.deepcopy(plan)
        del bad["summary"]["headroom"]
        assert "accounting" in checker.check_plan(inp, bad).rules()
        r = checker.check_plan(inp, plan, headroom={"manual": [{"count": 3, "cpu": "1", "memory": "1Gi"}]})
        assert "headroom" in r.rules(), r.violations
        bad = copy.deepcopy(plan)
        bad["summary"]["placed_pods"] += 2
        assert "summary" in checker.check_plan(inp, bad).rules()
        bad = copy.deepcopy(plan)
        bad["unschedulable"].append({"pod": "stevedore-headroom/headroom-1", "reason": "x"})
        assert "headroom" in checker.check_plan(inp, bad).rules()
    t.run("checker: headroom pods over capacity, missing summary, wrong units or counts are flagged",
          checker_catches_headroom_breaches)


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    if not os.access(binary, os.X_OK):
        print("FAIL binary %s is executable" % binary)
        print("0 passed, 1 failed")
        return 1
    cli = Cli(binary)
    config_tests(t, cli)
    headroom_tests(t, cli)
    shutil.rmtree(cli.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
