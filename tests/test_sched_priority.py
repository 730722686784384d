#!/usr/bin/env python3
"""Pods kube-scheduler will not schedule, pod priority and preemption, end to
end: `stevedore recommend -o json` on the snapshots of
tests/data/realworld/priority (and variants made from them here), each plan
verified by the independent checker (tests/checker.py).

    python3 tests/test_sched_priority.py [build/controller/stevedore]

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
DATA = os.path.join(HERE, "data")
PRIO = os.path.join(DATA, "realworld", "priority")
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

import checker  # noqa: E402

TINY = os.path.join(DATA, "tiny_catalog.json")
PREEMPTION = os.path.join(PRIO, "preemption.json")
NOT_PLANNED = os.path.join(PRIO, "not_planned.json")


def load(path):
    with open(path) as f:
        return json.load(f)


def item(doc, kind, name):
    for it in doc["items"]:
        if it["kind"] == kind and it["metadata"]["name"] == name:
            return it
    raise AssertionError("no %s %s in the snapshot" % (kind, name))


class Cli(object):
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="stv-prio-")
        self.n = 0

    def run(self, args):
        p = subprocess.run([self.binary] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def write(self, obj, ext="json"):
        self.n += 1
        path = os.path.join(self.tmp, "snap%d.%s" % (self.n, ext))
        with open(path, "w") as f:
            if isinstance(obj, str):
                f.write(obj)
            else:
                json.dump(obj, f, indent=1)
        return path

    def plan(self, snap, extra=(), scheduler_names=(checker.DEFAULT_SCHEDULER,),
             cutoff=checker.DEFAULT_PRIORITY_CUTOFF):
        """Plans snap (a path or a document), checks the plan; returns (plan, stderr)."""
        path = snap if isinstance(snap, str) else self.write(snap)
        args = ["recommend", "--snapshot", path, "--catalog", TINY, "--output", "json",
                "--time-limit", "0"] + list(extra)
        rc, out, err = self.run(args)
        assert rc == 0, "stevedore %s: exit %d\n%s" % (" ".join(args), rc, err)
        plan = json.loads(out)
        res = check(path, plan, scheduler_names, cutoff)
        assert res.ok, "checker: plan not feasible:\n%s\nplan: %s" % (
            "\n".join(res.violations), json.dumps(plan, indent=1)[:4000])
        return plan, err


def check(path, plan, scheduler_names=(checker.DEFAULT_SCHEDULER,),
          cutoff=checker.DEFAULT_PRIORITY_CUTOFF):
    inp = checker.load_inputs([path], TINY)
    return checker.check_plan(inp, plan, list(checker.DEFAULT_CAPACITY_TYPES),
                              scheduler_names=scheduler_names, priority_cutoff=cutoff)


def where(plan):
    """pod key -> (node name, new) for every placed pod."""
    return {k: (n["name"], n["new"]) for n in plan["nodes"] for k in n["pods"]}


def not_planned(plan):
    return {e["pod"]: e["category"] for e in plan["not_planned"]}


def main(argv):
    binary = os.path.abspath(argv[0]) if argv else os.path.abspath("build/controller/stevedore")
    t = Runner()
    if not os.access(binary, os.X_OK):
        print("FAIL binary %s is executable" % binary)
        print("0 passed, 1 failed")
        return 1
    cli = Cli(binary)

    # ---- pods the scheduler will not take

    def listed_not_planned():
        plan, err = cli.plan(NOT_PLANNED)
        assert not_planned(plan) == {
            "ml/train-0": "scheduling_gated", "hpc/sim-0": "other_scheduler",
            "kube-system/overprovisioning-0": "below_priority_cutoff",
            "shop/search-0": "nominated"}, plan["not_planned"]
        s = plan["summary"]
        assert s["not_planned_pods"] == 4 and s["unschedulable_pods"] == 0, s
        assert s["pending_pods"] == 1 and s["placed_pods"] == 1, s
        assert plan["unschedulable"] == [], plan["unschedulable"]
        for e in plan["not_planned"]:
            assert e["reason"], e
        assert "kueue.x-k8s.io/admission" in [e for e in plan["not_planned"]
                                              if e["pod"] == "ml/train-0"][0]["reason"]
        assert "4 pending pods are not planned" in err and "1 gated" in err, err
    t.run("gated, other-scheduler, expendable and nominated pods are listed as not planned, "
          "not unschedulable", listed_not_planned)

    def nominated_holds_room():
        # search-0 (2 cpu) is nominated to node-c (4 cpu, 1 used): api-0 (2 cpu)
        # no longer fits there and gets a new node.
        plan, _ = cli.plan(NOT_PLANNED)
        assert where(plan)["shop/api-0"][1] is True, plan["nodes"]
        # Nominated to a node that is gone: an ordinary pending pod, planned.
        doc = load(NOT_PLANNED)
        item(doc, "Pod", "search-0")["status"]["nominatedNodeName"] = "node-gone"
        plan, _ = cli.plan(doc)
        assert "shop/search-0" in where(plan), plan
        assert "shop/search-0" not in not_planned(plan), plan["not_planned"]
    t.run("a pod nominated to an existing node holds room there and is not planned; "
          "nominated to a missing node it is planned", nominated_holds_room)

    def gated_buys_nothing():
        doc = load(NOT_PLANNED)
        doc["items"] = [i for i in doc["items"] if i["metadata"]["name"] in ("node-c", "train-0")]
        item(doc, "Pod", "train-0")["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "64"
        plan, _ = cli.plan(doc)
        assert plan["summary"]["new_nodes"] == 0 and plan["nodes"] == [], plan
        assert not_planned(plan) == {"ml/train-0": "scheduling_gated"}, plan
        # Without the gate the same pod is planned (here: fits nowhere).
        del item(doc, "Pod", "train-0")["spec"]["schedulingGates"]
        plan, _ = cli.plan(doc)
        assert plan["not_planned"] == [] and len(plan["unschedulable"]) == 1, plan
        # An empty gate list is no gate.
        item(doc, "Pod", "train-0")["spec"]["schedulingGates"] = []
        plan, _ = cli.plan(doc)
        assert plan["not_planned"] == [], plan
    t.run("a gated pod buys no node, even one that fits nowhere; an empty gate list is no gate",
          gated_buys_nothing)

    def scheduler_names_flag():
        plan, _ = cli.plan(NOT_PLANNED, extra=["--scheduler-names", "default-scheduler,volcano"],
                           scheduler_names=("default-scheduler", "volcano"))
        assert "hpc/sim-0" in where(plan), plan
        assert "hpc/sim-0" not in not_planned(plan), plan
        # Only volcano: the default scheduler's pods are left out too.
        plan, _ = cli.plan(NOT_PLANNED, extra=["--scheduler-names", "volcano"],
                           scheduler_names=("volcano",))
        np = not_planned(plan)
        assert np.get("shop/api-0") == "other_scheduler", np
        assert "hpc/sim-0" in where(plan), plan
    t.run("--scheduler-names decides whose pods are planned", scheduler_names_flag)

    def config_keys():
        cfg = cli.write("schedulerNames: [default-scheduler, volcano]\n"
                        "expendablePodsPriorityCutoff: -1000\n", "yaml")
        plan, _ = cli.plan(NOT_PLANNED, extra=["--config", cfg],
                           scheduler_names=("default-scheduler", "volcano"), cutoff=-1000)
        np = not_planned(plan)
        assert "hpc/sim-0" not in np and "kube-system/overprovisioning-0" not in np, np
        # The flag overrides the file.
        plan, _ = cli.plan(NOT_PLANNED, extra=["--config", cfg, "--expendable-pods-priority-cutoff",
                                               "-10"],
                           scheduler_names=("default-scheduler", "volcano"), cutoff=-10)
        assert not_planned(plan).get("kube-system/overprovisioning-0") == "below_priority_cutoff"
        for bad, msg in (("expendablePodsPriorityCutoff: low\n", "not a whole number"),
                         ("expendablePodsPriorityCutoff: 1.5\n", "not a whole number"),
                         ("expendablePodsPriorityCutoff: 3000000000\n", "out of range"),
                         ("schedulerNames: []\n", "empty list"),
                         ("schedulerNames: [\"\"]\n", "must not be empty")):
            path = cli.write(bad, "yaml")
            rc, out, err = cli.run(["recommend", "--snapshot", NOT_PLANNED, "--catalog", TINY,
                                    "--config", path])
            assert rc == 2 and out == "", (bad, rc, out)
            assert path in err and msg in err, (bad, err)
    t.run("schedulerNames and expendablePodsPriorityCutoff in the configuration file",
          config_keys)

    # ---- the expendable cutoff

    def cutoff_flag():
        plan, _ = cli.plan(NOT_PLANNED, extra=["--expendable-pods-priority-cutoff", "-1000"],
                           cutoff=-1000)
        w = where(plan)
        assert "kube-system/overprovisioning-0" not in not_planned(plan), plan
        # 8 cpu fits on no type of the tiny catalogue's: unschedulable, not left out.
        assert w.get("kube-system/overprovisioning-0") or \
            "kube-system/overprovisioning-0" in [u["pod"] for u in plan["unschedulable"]], plan
        # A priority equal to the cutoff is not below it.
        doc = load(NOT_PLANNED)
        item(doc, "Pod", "overprovisioning-0")["spec"]["priority"] = -10
        plan, _ = cli.plan(doc)
        assert "kube-system/overprovisioning-0" not in not_planned(plan), plan
        item(doc, "Pod", "overprovisioning-0")["spec"]["priority"] = -11
        plan, _ = cli.plan(doc)
        assert not_planned(plan).get("kube-system/overprovisioning-0") == "below_priority_cutoff"
    t.run("--expendable-pods-priority-cutoff: strictly below it buys no node (default -10)",
          cutoff_flag)

    def expendable_takes_no_free_room():
        # Cluster Autoscaler drops expendable pods before it simulates: they
        # are not placed even where room is free.
        doc = load(NOT_PLANNED)
        item(doc, "Pod", "overprovisioning-0")["spec"]["containers"][0]["resources"]["requests"][
            "cpu"] = "100m"
        plan, _ = cli.plan(doc)
        assert "kube-system/overprovisioning-0" not in where(plan), plan
        assert not_planned(plan)["kube-system/overprovisioning-0"] == "below_priority_cutoff"
    t.run("an expendable pod is not placed on free room either (as Cluster Autoscaler)",
          expendable_takes_no_free_room)

    # ---- preemption

    def preempts_lowest():
        plan, err = cli.plan(PREEMPTION)
        assert plan["preemptions"] == [{"pod": "shop/checkout-0", "priority": 1000000,
                                        "node": "node-a", "victims": ["batch/report-2"],
                                        "pdb_violations": 0}], plan["preemptions"]
        a = [n for n in plan["nodes"] if n["name"] == "node-a"][0]
        assert a["preempts"] == ["batch/report-2"] and "shop/checkout-0" in a["pods"], a
        w = where(plan)
        # The victim is pending again and gets a new node (it fits nowhere else).
        assert w["batch/report-2"][1] is True, w
        s = plan["summary"]
        assert s["preemptions"] == 1 and s["preempted_pods"] == 1 and s["pending_pods"] == 2, s
        assert "preempts 1 pod of lower priority on node node-a" in err, err
    t.run("a pending pod that fits nowhere preempts the fewest lower-priority pods on an existing "
          "node; the victim is planned again", preempts_lowest)

    def never_policy():
        doc = load(PREEMPTION)
        item(doc, "Pod", "checkout-0")["spec"]["preemptionPolicy"] = "Never"
        plan, _ = cli.plan(doc)
        assert plan["preemptions"] == [] and plan["summary"]["preempted_pods"] == 0, plan
        assert where(plan)["shop/checkout-0"][1] is True, plan["nodes"]
    t.run("preemptionPolicy: Never does not preempt; the pod gets a new node", never_policy)

    def equal_priority():
        doc = load(PREEMPTION)
        for name in ("report-1", "report-2", "cart-0", "ledger-0"):
            item(doc, "Pod", name)["spec"]["priority"] = 1000000
        plan, _ = cli.plan(doc)
        assert plan["preemptions"] == [], plan["preemptions"]
        # No spec.priority at all is priority 0: a priority-0 pod preempts nothing either.
        doc = load(PREEMPTION)
        for it in doc["items"]:
            if it["kind"] == "Pod":
                it["spec"].pop("priority", None)
        plan, _ = cli.plan(doc)
        assert plan["preemptions"] == [], plan["preemptions"]
    t.run("pods of the same priority (or none) are never victims", equal_priority)

    def pdb_minimised():
        # node-a's pods now share the preemptor's priority, so only node-b's
        # ledger pod (under a budget allowing no disruption) can go. The
        # budget is broken, as the scheduler allows.
        doc = load(PREEMPTION)
        for name in ("report-1", "report-2", "cart-0"):
            item(doc, "Pod", name)["spec"]["priority"] = 1000000
        plan, _ = cli.plan(doc)
        assert plan["preemptions"] == [{"pod": "shop/checkout-0", "priority": 1000000,
                                        "node": "node-b", "victims": ["ledger/ledger-0"],
                                        "pdb_violations": 1}], plan["preemptions"]
        # With node-a possible again, the node without a violation wins even
        # though node-b needs one victim as well.
        plan, _ = cli.plan(PREEMPTION)
        assert plan["preemptions"][0]["node"] == "node-a", plan["preemptions"]
        # A budget that allows the disruption: node-b ties with node-a on
        # violations, victims' priorities and count; the first node wins.
        doc = load(PREEMPTION)
        pdb = item(doc, "PodDisruptionBudget", "ledger")
        pdb["spec"] = {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "ledger"}}}
        pdb["status"]["disruptionsAllowed"] = 1
        plan, _ = cli.plan(doc)
        assert plan["preemptions"][0]["node"] == "node-a" and \
            plan["preemptions"][0]["pdb_violations"] == 0, plan["preemptions"]
        # The scheduler reads status.disruptionsAllowed, not the spec: a
        # status allowing one disruption makes node-b's eviction no violation.
        for name in ("report-1", "report-2", "cart-0"):
            item(doc, "Pod", name)["spec"]["priority"] = 1000000
        pdb["spec"] = {"minAvailable": 1, "selector": {"matchLabels": {"app": "ledger"}}}
        plan, _ = cli.plan(doc)
        assert [(e["node"], e["pdb_violations"]) for e in plan["preemptions"]] == [("node-b", 0)], \
            plan["preemptions"]
        # Without a status the budget is computed from the snapshot: 1 healthy,
        # 1 wanted, none allowed.
        del pdb["status"]
        plan, _ = cli.plan(doc)
        assert [(e["node"], e["pdb_violations"]) for e in plan["preemptions"]] == [("node-b", 1)], \
            plan["preemptions"]
    t.run("PodDisruptionBudget violations are minimised across nodes but allowed",
          pdb_minimised)

    def lowest_victims_chosen():
        # node-b's ledger pod drops to priority 10, below node-a's victim's
        # 100; violations come first, so node-a still wins; without the
        # budget node-b wins on the lower victim priority.
        doc = load(PREEMPTION)
        item(doc, "Pod", "ledger-0")["spec"]["priority"] = 10
        plan, _ = cli.plan(doc)
        assert plan["preemptions"][0]["node"] == "node-a", plan["preemptions"]
        doc["items"] = [i for i in doc["items"] if i["kind"] != "PodDisruptionBudget"]
        plan, _ = cli.plan(doc)
        assert plan["preemptions"][0]["node"] == "node-b" and \
            plan["preemptions"][0]["victims"] == ["ledger/ledger-0"], plan["preemptions"]
    t.run("among candidate nodes: fewest budget violations, then the lowest highest victim "
          "priority", lowest_victims_chosen)

    def reprieve_highest_first():
        # Victims of different priorities on one node: the preemptor needs one
        # of them gone; the lower-priority one goes, the other is reprieved.
        doc = load(PREEMPTION)
        item(doc, "Pod", "report-1")["spec"]["priority"] = 50
        plan, _ = cli.plan(doc)
        assert plan["preemptions"][0]["victims"] == ["batch/report-1"], plan["preemptions"]
    t.run("victims are reprieved highest priority first", reprieve_highest_first)

    def daemonset_and_static_never_victims():
        doc = load(PREEMPTION)
        doc["items"] = [i for i in doc["items"] if i["metadata"]["name"] not in ("node-b", "ledger-0")]
        item(doc, "Pod", "cart-0")["spec"]["priority"] = 1000000
        for name in ("report-1", "report-2"):
            p = item(doc, "Pod", name)
            p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "DaemonSet",
                                                 "name": "log-agent", "uid": "ds-log-agent-0001",
                                                 "controller": True}]
        plan, _ = cli.plan(doc)
        assert plan["preemptions"] == [], plan["preemptions"]
        doc = load(PREEMPTION)
        doc["items"] = [i for i in doc["items"] if i["metadata"]["name"] not in ("node-b", "ledger-0")]
        item(doc, "Pod", "cart-0")["spec"]["priority"] = 1000000
        for name in ("report-1", "report-2"):
            p = item(doc, "Pod", name)
            p["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "0123456789abcdef",
                                            "kubernetes.io/config.source": "file"}
            p["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node",
                                                 "name": "node-a", "uid": "node-a-uid",
                                                 "controller": True}]
        plan, _ = cli.plan(doc)
        assert plan["preemptions"] == [], plan["preemptions"]
        assert where(plan)["shop/checkout-0"][1] is True, plan["nodes"]
    t.run("DaemonSet and static (mirror) pods are never victims", daemonset_and_static_never_victims)

    def anti_affinity_of_others():
        # cart-0 on node-a repels checkout pods (required anti-affinity on the
        # hostname): the scheduler filters node-a out, so node-b's ledger pod
        # goes, budget or not.
        doc = load(PREEMPTION)
        item(doc, "Pod", "cart-0")["spec"]["affinity"] = {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"app": "checkout"}},
                "namespaces": ["shop"],
                "topologyKey": "kubernetes.io/hostname"}]}}
        plan, _ = cli.plan(doc)
        assert [(e["node"], e["victims"], e["pdb_violations"]) for e in plan["preemptions"]] == \
            [("node-b", ["ledger/ledger-0"], 1)], plan["preemptions"]
    t.run("a node where a staying pod's anti-affinity repels the preemptor is no candidate",
          anti_affinity_of_others)

    def random_cases():
        # Seeded random clusters (tests/gen_snapshot.py) with random
        # priorities, policies, gates and schedulers: every plan passes the
        # checker, and some preempt.
        import random
        import gen_snapshot
        npre = nnp = 0
        for seed in range(1, 41):
            snap, cat = gen_snapshot.generate(seed)
            rng = random.Random(seed * 7919)
            for it in snap["items"]:
                if it.get("kind") != "Pod":
                    continue
                sp = it.setdefault("spec", {})
                sp["priority"] = rng.choice([-100, -10, 0, 0, 10, 100, 1000, 100000])
                if rng.random() < 0.15:
                    sp["preemptionPolicy"] = "Never"
                if not sp.get("nodeName"):
                    if rng.random() < 0.05:
                        sp["schedulingGates"] = [{"name": "example.com/gate"}]
                    if rng.random() < 0.05:
                        sp["schedulerName"] = "other"
            path, cpath = cli.write(snap), cli.write(cat)
            rc, out, err = cli.run(["recommend", "--snapshot", path, "--catalog", cpath, "-o", "json",
                                    "--time-limit", "0.2", "-q"])
            assert rc == 0, "seed %d: exit %d: %s" % (seed, rc, err)
            plan = json.loads(out)
            res = checker.check_plan(checker.load_inputs([path], cpath), plan)
            assert res.ok, "seed %d:\n%s" % (seed, "\n".join(res.violations))
            npre += len(plan["preemptions"])
            nnp += len(plan["not_planned"])
        assert npre >= 5 and nnp >= 20, (npre, nnp)
    t.run("random clusters with priorities: every plan passes the checker", random_cases)

    def victims_preempt_in_turn():
        # checkout-0 evicts report-2 (100) on node-a; report-2, pending again,
        # fits in no free room and evicts ledger-0 (10) on node-b, breaking
        # its budget as nothing else would do; ledger-0 gets a new node.
        doc = load(PREEMPTION)
        item(doc, "Pod", "ledger-0")["spec"]["priority"] = 10
        plan, err = cli.plan(doc)
        assert [(e["pod"], e["node"], e["victims"], e["pdb_violations"]) for e in plan["preemptions"]] == [
            ("shop/checkout-0", "node-a", ["batch/report-2"], 0),
            ("batch/report-2", "node-b", ["ledger/ledger-0"], 1)], plan["preemptions"]
        w = where(plan)
        assert w["batch/report-2"] == ("node-b", False) and w["ledger/ledger-0"][1] is True, w
        s = plan["summary"]
        assert s["preemptions"] == 2 and s["preempted_pods"] == 2 and s["pending_pods"] == 3 and \
            s["placed_pods"] == 3, s
    t.run("a victim, pending again, preempts in turn", victims_preempt_in_turn)

    def expendable_victim():
        doc = load(PREEMPTION)
        for name in ("report-1", "report-2"):
            item(doc, "Pod", name)["spec"]["priority"] = -100
        plan, _ = cli.plan(doc)
        assert plan["preemptions"][0]["victims"] == ["batch/report-2"], plan["preemptions"]
        assert not_planned(plan) == {"batch/report-2": "below_priority_cutoff"}, plan
        assert "batch/report-2" not in where(plan), plan
        assert plan["summary"]["new_nodes"] == 0, plan["summary"]
        reason = plan["not_planned"][0]["reason"]
        assert "preempted by shop/checkout-0 on node node-a" in reason, reason
    t.run("a victim below the cutoff is listed as not planned and buys no node", expendable_victim)

    def free_room_first():
        # Room freed on node-b (ledger-0 gone): no preemption, the pod just fits.
        doc = load(PREEMPTION)
        doc["items"] = [i for i in doc["items"] if i["metadata"]["name"] != "ledger-0"]
        plan, _ = cli.plan(doc)
        assert plan["preemptions"] == [] and where(plan)["shop/checkout-0"] == ("node-b", False), plan
        # Higher priorities take free room first: a second, lower-priority
        # pending pod that would take node-b does not push checkout-0 into
        # preempting.
        extra = copy.deepcopy(item(doc, "Pod", "checkout-0"))
        extra["metadata"]["name"] = "aaa-low"
        extra["metadata"]["uid"] = "uid-aaa-low"
        extra["spec"]["priority"] = 0
        doc["items"].insert(2, extra)
        plan, _ = cli.plan(doc)
        w = where(plan)
        assert w["shop/checkout-0"] == ("node-b", False), w
        assert plan["preemptions"] == [], plan["preemptions"]
    t.run("preemption only for pods that fit in no free room; higher priorities take free room "
          "first", free_room_first)

    def table_sections():
        rc, out, err = cli.run(["recommend", "--snapshot", PREEMPTION, "--catalog", TINY,
                                "--time-limit", "0", "-q"])
        assert rc == 0 and err == "", (rc, err)
        assert "Preemptions on existing nodes" in out and \
            "shop/checkout-0 (priority 1000000) on node-a evicts batch/report-2 (100)" in out, out
        rc, out, err = cli.run(["recommend", "--snapshot", NOT_PLANNED, "--catalog", TINY,
                                "--time-limit", "0"])
        assert rc == 0, err
        assert "Not planned" in out and "hpc/sim-0: spec.schedulerName is \"volcano\"" in out, out
        assert "unschedulable: 0    not planned: 4\n" in out, out
    t.run("the table shows preemptions and the pods not planned", table_sections)

    # ---- the what-if repack

    def repack_mode():
        # Evicted pods return to their own scheduler (volcano's is moved like
        # any); a pod below the cutoff needs no place (Cluster Autoscaler's
        # scale-down counts it as absent); nothing preempts.
        doc = load(PREEMPTION)
        item(doc, "Pod", "report-1")["spec"]["priority"] = -100
        item(doc, "Pod", "ledger-0")["spec"]["schedulerName"] = "volcano"
        path = cli.write(doc)
        rc, out, err = cli.run(["recommend", "--snapshot", path, "--catalog", TINY, "--mode", "repack",
                                "-o", "json", "--time-limit", "0"])
        assert rc == 0, err
        plan = json.loads(out)
        assert not_planned(plan) == {"batch/report-1": "below_priority_cutoff"}, plan["not_planned"]
        assert "ledger/ledger-0" in where(plan), plan["nodes"]
        assert plan["preemptions"] == [], plan["preemptions"]
        res = checker.check_repack(checker.load_inputs([path], TINY), plan)
        assert res.ok, res.violations
        # The checker notices a moved pod of another scheduler left out.
        bad = copy.deepcopy(plan)
        for n in bad["nodes"]:
            if "ledger/ledger-0" in n["pods"]:
                n["pods"].remove("ledger/ledger-0")
        res = checker.check_repack(checker.load_inputs([path], TINY), bad)
        assert "accounting" in res.rules(), res.violations
    t.run("--mode repack: every scheduler's pods move, pods below the cutoff need no place, no "
          "preemption", repack_mode)

    # ---- the checker catches wrong plans

    def checker_catches():
        plan, _ = cli.plan(PREEMPTION)
        cases = []
        p = copy.deepcopy(plan)  # victim of the preemptor's own priority
        doc = load(PREEMPTION)
        item(doc, "Pod", "report-2")["spec"]["priority"] = 1000000
        cases.append(("preemption", doc, p))
        p = copy.deepcopy(plan)  # victim forgotten
        for n in p["nodes"]:
            if "batch/report-2" in n["pods"]:
                n["pods"].remove("batch/report-2")
        p["nodes"] = [n for n in p["nodes"] if n["pods"]]
        cases.append(("accounting", None, p))
        p = copy.deepcopy(plan)  # eviction not shown on the node
        for n in p["nodes"]:
            n.pop("preempts", None)
        cases.append(("preemption", None, p))
        p = copy.deepcopy(plan)  # preemption with no victims: the pod does not fit
        p["preemptions"][0]["victims"] = []
        for n in p["nodes"]:
            n.pop("preempts", None)
        cases.append(("resources", None, p))
        doc = load(PREEMPTION)  # preemptionPolicy Never
        item(doc, "Pod", "checkout-0")["spec"]["preemptionPolicy"] = "Never"
        cases.append(("preemption", doc, copy.deepcopy(plan)))
        np, _ = cli.plan(NOT_PLANNED)
        p = copy.deepcopy(np)  # a gated pod placed
        p["not_planned"] = [e for e in p["not_planned"] if e["pod"] != "ml/train-0"]
        p["summary"]["not_planned_pods"] -= 1
        p["nodes"][0]["pods"].append("ml/train-0")
        cases.append(("notPlanned", None, p))
        p = copy.deepcopy(np)  # wrong category
        p["not_planned"][0]["category"] = "other_scheduler"
        cases.append(("notPlanned", None, p))
        p = copy.deepcopy(np)  # an expendable pod on a new node
        p["not_planned"] = [e for e in p["not_planned"]
                            if e["pod"] != "kube-system/overprovisioning-0"]
        p["summary"]["not_planned_pods"] -= 1
        p["nodes"][0]["pods"].append("kube-system/overprovisioning-0")
        cases.append(("cutoff", None, p))
        for rule, doc, p in cases:
            src = PREEMPTION if p.get("preemptions") or rule in ("preemption", "accounting",
                                                                "resources") else NOT_PLANNED
            path = cli.write(doc) if doc is not None else src
            res = check(path, p)
            assert rule in res.rules(), "expected [%s], got %r" % (rule, res.violations)
    t.run("the checker flags illegal preemptions, lost victims and misplaced not-planned pods",
          checker_catches)

    def checker_command_line():
        plan, _ = cli.plan(NOT_PLANNED, extra=["--scheduler-names", "default-scheduler,volcano"],
                           scheduler_names=("default-scheduler", "volcano"))
        path = cli.write(plan)
        base = [sys.executable, os.path.join(HERE, "checker.py"), NOT_PLANNED, "--catalog", TINY,
                "--plan", path]
        p = subprocess.run(base, stdout=subprocess.PIPE, universal_newlines=True)
        assert p.returncode == 1 and "[notPlanned] hpc/sim-0 (other_scheduler)" in p.stdout, p.stdout
        p = subprocess.run(base + ["--scheduler-names", "default-scheduler,volcano"],
                           stdout=subprocess.PIPE, universal_newlines=True)
        assert p.returncode == 0 and "feasible" in p.stdout, p.stdout
        p = subprocess.run(base + ["--scheduler-names", "default-scheduler,volcano",
                                   "--expendable-pods-priority-cutoff", "-1000"],
                           stdout=subprocess.PIPE, universal_newlines=True)
        assert p.returncode == 1 and "overprovisioning-0" in p.stdout, p.stdout
    t.run("checker.py takes --scheduler-names and --expendable-pods-priority-cutoff",
          checker_command_line)

    # ---- bad input

    def bad_input():
        for mutate, field, msg in (
                (lambda p: p["spec"].__setitem__("priority", "high"), "spec.priority",
                 "not a number"),
                (lambda p: p["spec"].__setitem__("priority", 2 ** 40), "spec.priority",
                 "not a 32-bit integer"),
                (lambda p: p["spec"].__setitem__("preemptionPolicy", "Sometimes"),
                 "spec.preemptionPolicy", "unknown policy \"Sometimes\""),
                (lambda p: p["spec"].__setitem__("schedulingGates", [{"nom": "x"}]),
                 "spec.schedulingGates[0].name", "missing"),
                (lambda p: p["spec"].__setitem__("schedulingGates", {"name": "x"}),
                 "spec.schedulingGates", "not an array"),
                (lambda p: p["spec"].__setitem__("schedulerName", 7), "spec.schedulerName",
                 "not a string"),
                (lambda p: p["status"].__setitem__("nominatedNodeName", ["node-a"]),
                 "status.nominatedNodeName", "not a string")):
            doc = load(PREEMPTION)
            mutate(item(doc, "Pod", "checkout-0"))
            path = cli.write(doc)
            rc, out, err = cli.run(["recommend", "--snapshot", path, "--catalog", TINY])
            assert rc == 2 and out == "", (field, rc, out)
            assert "Pod shop/checkout-0: %s" % field in err and msg in err and path in err, \
                (field, err)
        for flag, value, msg in (("--expendable-pods-priority-cutoff", "low", "not a whole number"),
                                 ("--expendable-pods-priority-cutoff", "99999999999", "out of range"),
                                 ("--scheduler-names", "default-scheduler,,x", "empty scheduler name"),
                                 ("--scheduler-names", "", "empty scheduler name")):
            rc, out, err = cli.run(["recommend", "--snapshot", PREEMPTION, "--catalog", TINY,
                                    flag, value])
            assert rc == 2 and out == "" and flag in err and msg in err, (flag, value, rc, err)
    t.run("bad priority, preemptionPolicy, schedulingGates, schedulerName and flags are errors "
          "naming the field", bad_input)

    def deterministic():
        a = cli.run(["recommend", "--snapshot", PREEMPTION, "--catalog", TINY, "-o", "json"])
        b = cli.run(["recommend", "--snapshot", PREEMPTION, "--catalog", TINY, "-o", "json"])
        assert a == b and a[0] == 0, "two runs differ"
    t.run("same input, same plan (with the optimizer)", deterministic)

    shutil.rmtree(cli.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
