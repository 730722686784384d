#!/usr/bin/env python3
"""The stevedore command line, end to end, on the small cases of tests/data.

    python3 tests/test_cli.py [build/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402,F401

import checker  # noqa: E402

TINY = os.path.join(DATA, "tiny_catalog.json")
NO_SPOT = ["--capacity-types", "reserved,on-demand"]
FOUR = os.path.join(DATA, "four_pods.json")
SINGLE = os.path.join(DATA, "single_pod.json")
NODES = os.path.join(DATA, "cluster_nodes.json")
PODS = os.path.join(DATA, "cluster_pods.json")
HOURS_PER_MONTH = 730



class Cli(object):
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="stv-cli-")

    def run(self, args):
        p = subprocess.run([self.binary] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def ok(self, args):
        rc, out, err = self.run(args)
        assert rc == 0, "stevedore %s: exit %d\nstderr: %s" % (" ".join(args), rc, err[-2000:])
        return out

    def plan(self, snapshots, catalog=TINY, extra=()):
        args = ["recommend"]
        for s in snapshots:
            args += ["--snapshot", s]
        if catalog:
            args += ["--catalog", catalog]
        args += ["--output", "json"] + list(extra)
        out = self.ok(args)
        try:
            return json.loads(out)
        except ValueError as e:
            raise AssertionError("stdout is not JSON (%s): %r" % (e, out[:500]))

    def write(self, name, obj):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(obj, f, indent=1)
        return path


def load(path):
    with open(path) as f:
        return json.load(f)


def feasible(snapshots, plan, catalog=TINY, cts=None):
    inp = checker.load_inputs(snapshots, catalog)
    res = checker.check_plan(inp, plan, cts or list(checker.DEFAULT_CAPACITY_TYPES))
    assert res.ok, "checker: plan not feasible:\n%s\nplan: %s" % (
        "\n".join(res.violations), json.dumps(plan, indent=1)[:3000])


def new_nodes(plan):
    return [n for n in plan["nodes"] if n.get("new")]


def close(a, b, eps=1e-6):
    return abs(a - b) <= eps


def numbers_in(text):
    return [float(x.replace(",", "")) for x in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def find_binary(argv):
    """The binary named on the command line, else build/stevedore, else the
    meson build's build/controller/stevedore."""
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

    def help_():
        rc, out, err = cli.run(["--help"])
        assert rc == 0, "exit %d\n%s" % (rc, err)
        assert "recommend" in out, "usage on stdout lacks the recommend command:\n" + out + err
        rc, out, err = cli.run(["recommend", "--help"])
        assert rc == 0, "recommend --help: exit %d\n%s" % (rc, err)
        for opt in ("--snapshot", "--catalog", "--capacity-types", "--output"):
            assert opt in out, "recommend usage on stdout lacks %s:\n%s" % (opt, out + err)
    t.run("--help and recommend --help exit 0 and show usage", help_)

    def json_schema():
        plan = cli.plan([FOUR])
        s = plan["summary"]
        for k in ("pending_pods", "placed_pods", "unschedulable_pods", "new_nodes",
                  "new_nodes_hourly_cost", "currency"):
            assert k in s, "summary lacks %s: %s" % (k, s)
        assert isinstance(plan["nodes"], list) and isinstance(plan["unschedulable"], list)
        for n in plan["nodes"]:
            for k in ("name", "new", "instance_type", "capacity_type", "zone", "hourly_cost",
                      "labels", "pods"):
                assert k in n, "node lacks %s: %s" % (k, n)
        assert s["currency"] == "USD"
        feasible([FOUR], plan)
    t.run("json output parses, has every field and is feasible", json_schema)

    def cheapest_four():
        plan = cli.plan([FOUR], extra=NO_SPOT)
        nn = new_nodes(plan)
        assert plan["summary"]["pending_pods"] == 4, plan["summary"]
        assert plan["summary"]["placed_pods"] == 4, plan["summary"]
        assert len(nn) == 1 and nn[0]["instance_type"] == "c.large", \
            "4 x 1 cpu: one c.large ($0.15) beats two c.small ($0.20); got %s" % (
                [(n["instance_type"], n["capacity_type"]) for n in nn],)
        assert nn[0]["capacity_type"] == "on-demand"
        assert len(nn[0]["pods"]) == 4
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.15), plan["summary"]
        feasible([FOUR], plan)
    t.run("cheapest type: 4 x 1 cpu -> one 4-cpu node at $0.15", cheapest_four)

    def cheapest_two():
        doc = load(FOUR)
        doc["items"] = doc["items"][:2]
        p = cli.write("two_pods.json", doc)
        plan = cli.plan([p], extra=NO_SPOT)
        nn = new_nodes(plan)
        assert len(nn) == 1 and nn[0]["instance_type"] == "c.small", \
            "2 x 1 cpu: one c.small ($0.10); got %s" % ([n["instance_type"] for n in nn],)
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.1), plan["summary"]
        feasible([p], plan)
    t.run("cheapest type: 2 x 1 cpu -> one 2-cpu node at $0.10", cheapest_two)

    def default_spot():
        plan = cli.plan([FOUR])
        nn = new_nodes(plan)
        assert all(n["capacity_type"] == "spot" for n in nn), \
            "spot is offered by default and cheaper: %s" % ([(n["instance_type"], n["capacity_type"]) for n in nn],)
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.06), plan["summary"]
        again = cli.plan([FOUR], extra=["--capacity-types", "reserved,spot,on-demand"])
        assert again == plan, "the default is not reserved,spot,on-demand"
        feasible([FOUR], plan)
        # on-demand is the fallback where the catalogue has no spot offering
        cat = load(TINY)
        for it in cat["instance_types"]:
            it["offerings"] = [o for o in it["offerings"] if o["capacity_type"] != "spot"]
        cp = cli.write("no_spot_catalog.json", cat)
        plan = cli.plan([FOUR], catalog=cp)
        assert [n["capacity_type"] for n in new_nodes(plan)] == ["on-demand"], plan["nodes"]
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.15), plan["summary"]
        feasible([FOUR], plan, catalog=cp)
    t.run("default capacity types are reserved,spot,on-demand; on-demand where no spot is offered",
          default_spot)

    def spot_only():
        plan = cli.plan([FOUR], extra=["--capacity-types", "spot"])
        nn = new_nodes(plan)
        assert all(n["capacity_type"] == "spot" for n in nn), nn
        assert sorted(n["instance_type"] for n in nn) == ["c.small", "c.small"], \
            "spot: two c.small ($0.06) beat one c.large ($0.07); got %s" % (
                [n["instance_type"] for n in nn],)
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.06), plan["summary"]
        feasible([FOUR], plan, cts=["spot"])
    t.run("--capacity-types spot uses only spot, cheapest mix", spot_only)

    def time_limit_flag():
        for bad in ("abc", "-1", "1e9", ""):
            rc, out, err = cli.run(["recommend", "--snapshot", FOUR, "--time-limit", bad])
            assert rc == 2, "--time-limit %r: exit %d, want 2\n%s" % (bad, rc, err)
            assert out == "", "--time-limit %r: output on stdout: %s" % (bad, out[:200])
            assert "--time-limit" in err, "error does not name the flag: %s" % err
        heur = cli.plan([FOUR], extra=["--time-limit", "0"])
        opt = cli.plan([FOUR], extra=["--time-limit", "2"])
        assert opt["summary"]["new_nodes_hourly_cost"] <= heur["summary"]["new_nodes_hourly_cost"] + 1e-9, \
            (opt["summary"], heur["summary"])
        feasible([FOUR], heur)
        feasible([FOUR], opt)
    t.run("--time-limit: validated; 0 = heuristic only, never cheaper than the optimizer", time_limit_flag)

    def spot_and_on_demand():
        plan = cli.plan([FOUR], extra=["--capacity-types", "spot,on-demand"])
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.06), plan["summary"]
        feasible([FOUR], plan, cts=["spot", "on-demand"])
    t.run("--capacity-types spot,on-demand picks the cheaper spot nodes", spot_and_on_demand)

    def on_demand_only():
        plan = cli.plan([FOUR], extra=["--capacity-types", "on-demand"])
        assert all(n["capacity_type"] == "on-demand" for n in new_nodes(plan))
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.15), plan["summary"]
    t.run("--capacity-types on-demand", on_demand_only)

    def reserved():
        cat = load(TINY)
        cat["instance_types"][0]["offerings"].append(
            {"capacity_type": "reserved", "zone": "us-east-1a", "price": 0.0, "count": 1})
        cp = cli.write("reserved_catalog.json", cat)
        plan = cli.plan([FOUR], catalog=cp, extra=NO_SPOT)
        res = [n for n in new_nodes(plan) if n["capacity_type"] == "reserved"]
        assert len(res) <= 1, "reserved count 1 exceeded: %s" % plan["nodes"]
        # one reserved c.small for free + one on-demand c.small = $0.10
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.1), plan["summary"]
        feasible([FOUR], plan, catalog=cp, cts=["reserved", "on-demand"])
        # with spot (the default): the free reserved c.small + one spot c.small = $0.03
        plan = cli.plan([FOUR], catalog=cp)
        assert len([n for n in new_nodes(plan) if n["capacity_type"] == "reserved"]) == 1, plan["nodes"]
        assert close(plan["summary"]["new_nodes_hourly_cost"], 0.03), plan["summary"]
        feasible([FOUR], plan, catalog=cp)
        plan = cli.plan([FOUR], catalog=cp, extra=["--capacity-types", "on-demand"])
        assert not any(n["capacity_type"] == "reserved" for n in new_nodes(plan))
    t.run("reserved offerings used up to their count", reserved)

    def table():
        plan = cli.plan([FOUR], extra=NO_SPOT)
        hourly = plan["summary"]["new_nodes_hourly_cost"]
        out = cli.ok(["recommend", "--snapshot", FOUR, "--catalog", TINY, "--output", "table"] + NO_SPOT)
        assert not out.lstrip().startswith("{"), "table output looks like JSON"
        assert "c.large" in out, "table lacks the instance type:\n" + out
        nums = numbers_in(out)
        assert 4 in nums, "table lacks the pod count 4:\n" + out
        assert any(close(x, hourly, 0.005) for x in nums), \
            "table lacks the hourly cost %.4f:\n%s" % (hourly, out)
        monthly = hourly * HOURS_PER_MONTH
        assert any(close(x, monthly, 0.01) for x in nums), \
            "table lacks the monthly cost %.2f (= hourly x 730):\n%s" % (monthly, out)
        default = cli.ok(["recommend", "--snapshot", FOUR, "--catalog", TINY] + NO_SPOT)
        assert default == out, "table is not the default output"
    t.run("table output: type, counts, hourly and monthly (x730) cost", table)

    def table_unschedulable():
        doc = load(FOUR)
        huge = copy.deepcopy(doc["items"][0])
        huge["metadata"]["name"] = "giant-0"
        huge["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1000"
        doc["items"].append(huge)
        p = cli.write("with_giant.json", doc)
        out = cli.ok(["recommend", "--snapshot", p, "--catalog", TINY, "--output", "table"])
        assert "giant-0" in out, "table does not list the unschedulable pod:\n" + out
    t.run("table output lists unschedulable pods", table_unschedulable)

    def merge():
        plan = cli.plan([NODES, PODS])
        s = plan["summary"]
        assert s["pending_pods"] == 1, "DaemonSet and terminal pods are not pending: %s" % s
        assert s["new_nodes"] == 0, "api-0 fits worker-1: %s" % plan["nodes"]
        assert len(plan["nodes"]) == 1 and plan["nodes"][0]["name"] == "worker-1", plan["nodes"]
        assert plan["nodes"][0]["new"] is False
        assert plan["nodes"][0]["pods"] == ["default/api-0"], plan["nodes"]
        feasible([NODES, PODS], plan)
        again = cli.plan([PODS, NODES])
        assert again["nodes"] == plan["nodes"], "order of --snapshot files changed the plan"
    t.run("repeated --snapshot files merge (either order)", merge)

    def single_file_existing():
        items = load(NODES)["items"] + load(PODS)["items"]
        p = cli.write("cluster.json", {"apiVersion": "v1", "kind": "List", "items": items})
        plan = cli.plan([p])
        assert [(n["name"], n["new"]) for n in plan["nodes"]] == [("worker-1", False)], \
            "a pending pod that fits an existing node goes there: %s" % plan["nodes"]
        assert plan["summary"]["new_nodes_hourly_cost"] == 0
        feasible([p], plan)
    t.run("a pending pod that fits an existing node goes there", single_file_existing)

    def existing_full():
        doc = load(PODS)
        doc["items"][0]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "3"
        p = cli.write("pods_3cpu.json", doc)
        plan = cli.plan([NODES, p])
        nn = new_nodes(plan)
        assert len(nn) == 1, "3 cpu do not fit the 2.9 cpu left on worker-1: %s" % plan["nodes"]
        assert not [n for n in plan["nodes"] if not n["new"]]
        feasible([NODES, p], plan)
    t.run("a pod that does not fit the existing node gets a new one", existing_full)

    def single_object():
        plan = cli.plan([SINGLE])
        s = plan["summary"]
        assert s["pending_pods"] == 1 and s["placed_pods"] == 1 and s["new_nodes"] == 1, s
        assert new_nodes(plan)[0]["pods"] == ["default/solo"]
        assert new_nodes(plan)[0]["instance_type"] == "c.small"
        feasible([SINGLE], plan)
    t.run("a single-object snapshot (one Pod) works", single_object)

    def unschedulable():
        pod = load(SINGLE)
        pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1000"
        p = cli.write("giant.json", pod)
        plan = cli.plan([p])
        s = plan["summary"]
        assert s["unschedulable_pods"] == 1 and s["new_nodes"] == 0, s
        u = plan["unschedulable"][0]
        assert u["pod"] == "default/solo" and u["reason"].strip(), u
        feasible([p], plan)
    t.run("a pod that fits nowhere is unschedulable with a reason", unschedulable)

    def nothing_pending():
        for fmt in ("json", "table"):
            rc, out, err = cli.run(["recommend", "--snapshot", NODES, "--catalog", TINY,
                                    "--output", fmt])
            assert rc == 0, "exit %d: %s" % (rc, err)
            if fmt == "json":
                plan = json.loads(out)
                assert plan["summary"]["pending_pods"] == 0 and plan["nodes"] == [], plan
    t.run("nothing pending: empty plan", nothing_pending)

    def new_node_labels():
        plan = cli.plan([SINGLE], extra=NO_SPOT)
        n = new_nodes(plan)[0]
        want = {"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": n["instance_type"],
                "topology.kubernetes.io/zone": "us-east-1a",
                "topology.kubernetes.io/region": "us-east-1",
                "kubernetes.io/hostname": n["name"],
                "stevedore.io/capacity-type": "on-demand",
                "karpenter.sh/capacity-type": "on-demand",
                "eks.amazonaws.com/capacityType": "ON_DEMAND",
                "example.com/family": "c"}
        for k, v in want.items():
            assert n["labels"].get(k) == v, "label %s=%r, want %r" % (k, n["labels"].get(k), v)
        assert "cloud.google.com/gke-spot" not in n["labels"], n["labels"]
        plan = cli.plan([SINGLE], extra=["--capacity-types", "spot"])
        n = new_nodes(plan)[0]
        for k, v in (("stevedore.io/capacity-type", "spot"), ("karpenter.sh/capacity-type", "spot"),
                     ("eks.amazonaws.com/capacityType", "SPOT")):
            assert n["labels"].get(k) == v, "spot: label %s=%r, want %r" % (k, n["labels"].get(k), v)
        plan = cli.plan([SINGLE], catalog="gcp:us-east1", extra=["--capacity-types", "spot"])
        n = new_nodes(plan)[0]
        for k, v in (("karpenter.sh/capacity-type", "spot"), ("cloud.google.com/gke-spot", "true")):
            assert n["labels"].get(k) == v, "gcp spot: label %s=%r, want %r" % (k, n["labels"].get(k), v)
        assert "eks.amazonaws.com/capacityType" not in n["labels"], n["labels"]
    t.run("new nodes carry the documented labels (capacity type for Karpenter, EKS, GKE)",
          new_node_labels)

    def spot_opt_out():
        doc = load(FOUR)
        for it in doc["items"][:2]:
            it["metadata"].setdefault("annotations", {})["stevedore.io/spot"] = "false"
        p = cli.write("spot_opt_out.json", doc)
        plan = cli.plan([p], extra=["--capacity-types", "spot,on-demand"])
        where = {k: n for n in new_nodes(plan) for k in n["pods"]}
        for it in doc["items"]:
            key = "default/" + it["metadata"]["name"]
            ct = where[key]["capacity_type"]
            if it["metadata"].get("annotations", {}).get("stevedore.io/spot") == "false":
                assert ct != "spot", "%s opted out of spot but is on %s" % (key, where[key])
        assert any(n["capacity_type"] == "spot" for n in new_nodes(plan)), \
            "the other pods should still go to spot: %s" % plan["nodes"]
        feasible([p], plan, cts=["spot", "on-demand"])
        # A catalogue where c.small is spot only and c.large on-demand only.
        cat = load(TINY)
        cat["instance_types"][0]["offerings"] = [o for o in cat["instance_types"][0]["offerings"]
                                                 if o["capacity_type"] == "spot"]
        cat["instance_types"][1]["offerings"] = [o for o in cat["instance_types"][1]["offerings"]
                                                 if o["capacity_type"] == "on-demand"]
        cp = cli.write("spot_only_small.json", cat)
        plan = cli.plan([p], catalog=cp)
        for n in new_nodes(plan):
            for k in n["pods"]:
                if k in ("default/" + doc["items"][0]["metadata"]["name"],
                         "default/" + doc["items"][1]["metadata"]["name"]):
                    assert n["capacity_type"] == "on-demand" and n["instance_type"] == "c.large", n
        assert plan["summary"]["placed_pods"] == 4, plan["summary"]
        feasible([p], plan, catalog=cp)
        # Spot only: the opted-out pods cannot be placed, and say why.
        plan = cli.plan([p], extra=["--capacity-types", "spot"])
        assert plan["summary"]["unschedulable_pods"] == 2, plan["summary"]
        for u in plan["unschedulable"]:
            assert "spot" in u["reason"], u
        feasible([p], plan, cts=["spot"])
        # An existing spot node (labelled by Karpenter only) is spot too.
        node = copy.deepcopy(load(NODES)["items"][0])
        node["metadata"]["labels"]["karpenter.sh/capacity-type"] = "spot"
        items = [node] + doc["items"]
        q = cli.write("spot_node.json", {"apiVersion": "v1", "kind": "List", "items": items})
        plan = cli.plan([q], extra=["--capacity-types", "on-demand"])
        for n in plan["nodes"]:
            if not n["new"]:
                for k in n["pods"]:
                    assert k not in ("default/" + doc["items"][0]["metadata"]["name"],
                                     "default/" + doc["items"][1]["metadata"]["name"]), n
        assert plan["summary"]["placed_pods"] == 4, plan["summary"]
        feasible([q], plan, cts=["on-demand"])
    t.run("stevedore.io/spot: \"false\" keeps a pod off new and existing spot nodes", spot_opt_out)

    def spot_selector_labels():
        doc = load(FOUR)
        doc["items"][0]["spec"]["nodeSelector"] = {"karpenter.sh/capacity-type": "on-demand"}
        doc["items"][1]["spec"]["nodeSelector"] = {"eks.amazonaws.com/capacityType": "SPOT"}
        p = cli.write("ct_selectors.json", doc)
        plan = cli.plan([p], extra=["--capacity-types", "spot,on-demand"])
        where = {k: n for n in new_nodes(plan) for k in n["pods"]}
        a = where["default/" + doc["items"][0]["metadata"]["name"]]
        b = where["default/" + doc["items"][1]["metadata"]["name"]]
        assert a["capacity_type"] == "on-demand", a
        assert b["capacity_type"] == "spot", b
        feasible([p], plan, cts=["spot", "on-demand"])
    t.run("pods selecting karpenter.sh/capacity-type or eks.amazonaws.com/capacityType get that capacity",
          spot_selector_labels)

    def embedded_default():
        a = cli.ok(["recommend", "--snapshot", FOUR, "--output", "json"])
        b = cli.ok(["recommend", "--snapshot", FOUR, "--catalog", "aws:us-east-1",
                    "--output", "json"])
        assert a == b, "the default catalogue is not aws:us-east-1"
        plan = json.loads(a)
        assert plan["summary"]["placed_pods"] == 4 and plan["summary"]["new_nodes"] >= 1, plan
        feasible([FOUR], plan, catalog=None)
        assert all(n["zone"].startswith("us-east-1") for n in new_nodes(plan)), plan["nodes"]
    t.run("embedded aws:us-east-1 is the default and plans", embedded_default)

    def embedded_gcp():
        plan = cli.plan([FOUR], catalog="gcp:us-east1")
        assert plan["summary"]["placed_pods"] == 4, plan["summary"]
        feasible([FOUR], plan, catalog=None)
        assert all(n["zone"].startswith("us-east1") for n in new_nodes(plan)), plan["nodes"]
    t.run("embedded gcp:us-east1 plans", embedded_gcp)

    def deterministic():
        a = cli.ok(["recommend", "--snapshot", NODES, "--snapshot", FOUR, "--catalog", TINY,
                    "--output", "json"])
        b = cli.ok(["recommend", "--snapshot", NODES, "--snapshot", FOUR, "--catalog", TINY,
                    "--output", "json"])
        assert a == b, "two runs on the same input differ"
    t.run("same input, same output", deterministic)

    shutil.rmtree(cli.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
