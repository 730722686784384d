#!/usr/bin/env python3
"""The scheduler's volume rules in `stevedore recommend`: VolumeBinding
(bound volumes' node affinity, WaitForFirstConsumer classes'
allowedTopologies, local volumes, unbound Immediate and missing claims),
VolumeZone (zone labels of volumes, beta keys) and NodeVolumeLimits (CSINode
attach counts, per-type limits of new nodes). Each plan is verified by the
independent checker (tests/checker.py); bad storage objects must exit 2
naming the file, the item and the field.

    python3 tests/test_sched_volumes.py [build/controller/stevedore]

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
DATA = os.path.join(HERE, "data", "realworld", "volumes")
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

import checker  # noqa: E402

CLUSTER = os.path.join(DATA, "cluster.json")
CATALOG = os.path.join(DATA, "catalog.json")
ZONE = "topology.kubernetes.io/zone"
EBS_DIM = "attachable-volumes-csi-ebs.csi.aws.com"


class Cli(object):
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="stv-vol-")

    def run(self, args):
        p = subprocess.run([self.binary] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def plan(self, snapshots, catalog=CATALOG, extra=()):
        """Runs recommend -o json; returns (plan, stderr)."""
        args = ["recommend"]
        for s in snapshots:
            args += ["--snapshot", s]
        args += ["--catalog", catalog, "--output", "json"] + list(extra)
        rc, out, err = self.run(args)
        assert rc == 0, "stevedore %s: exit %d\nstderr: %s" % (" ".join(args), rc, err[-2000:])
        try:
            return json.loads(out), err
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


def feasible(snapshots, plan, catalog=CATALOG):
    inp = checker.load_inputs(snapshots, catalog)
    res = checker.check_plan(inp, plan, list(checker.DEFAULT_CAPACITY_TYPES))
    assert res.ok, "checker: plan not feasible:\n%s\nplan: %s" % (
        "\n".join(res.violations), json.dumps(plan, indent=1)[:3000])


def where(plan):
    """pod key -> plan node (dict)."""
    out = {}
    for n in plan["nodes"]:
        for p in n["pods"]:
            out[p] = n
    return out


def unsched(plan):
    return {u["pod"]: u["reason"] for u in plan["unschedulable"]}


def items_named(doc, kind, name):
    return [it for it in doc["items"] if it["kind"] == kind and it["metadata"]["name"] == name]


def one(doc, kind, name):
    found = items_named(doc, kind, name)
    assert len(found) == 1, "%s %s: %d in the fixture" % (kind, name, len(found))
    return found[0]


def item_index(doc, kind, name):
    for i, it in enumerate(doc["items"]):
        if it["kind"] == kind and it["metadata"]["name"] == name:
            return i
    raise AssertionError("%s %s not in the fixture" % (kind, name))


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "controller", "stevedore")
    cli = Cli(binary)
    run = Runner()
    base = load(CLUSTER)

    def bound_volume_node_affinity_keeps_pods_in_its_zone():
        plan, _ = cli.plan([CLUSTER])
        feasible([CLUSTER], plan)
        w = where(plan)
        for i in range(4):
            key = "shop/db-%d" % i
            assert key in w, "%s not placed: %s" % (key, unsched(plan))
            assert w[key]["zone"] == "us-east-1a", "%s in %s" % (key, w[key]["zone"])

    def legacy_beta_zone_label_of_a_volume_restricts_the_zone():
        plan, _ = cli.plan([CLUSTER])
        w = where(plan)
        assert w["shop/legacy-0"]["zone"] == "us-east-1b", w["shop/legacy-0"]
        # Only node-a has room: the beta-labelled volume in us-east-1b must
        # still send the pod to a node of us-east-1b.
        doc = copy.deepcopy(base)
        doc["items"] = [it for it in doc["items"]
                        if not (it["kind"] == "Node" and it["metadata"]["name"] == "node-b")
                        and it["metadata"]["name"] != "node-b"
                        and not (it["kind"] == "Pod" and it["metadata"]["name"] == "local-0")]
        path = cli.write("no_node_b.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        n = where(plan)["shop/legacy-0"]
        assert n["new"] and n["zone"] == "us-east-1b", n

    def a_zone_set_label_allows_each_zone_of_the_set():
        doc = copy.deepcopy(base)
        pv = one(doc, "PersistentVolume", "pv-legacy-0")
        pv["metadata"]["labels"]["failure-domain.beta.kubernetes.io/zone"] = "us-east-1c__us-east-1a"
        path = cli.write("zone_set.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        assert where(plan)["shop/legacy-0"]["zone"] == "us-east-1a", where(plan)["shop/legacy-0"]

    def wait_for_first_consumer_class_honours_allowed_topologies():
        plan, _ = cli.plan([CLUSTER])
        w = where(plan)
        for key in ("shop/web-0", "shop/eph-0"):
            assert key in w, "%s not placed: %s" % (key, unsched(plan))
            assert w[key]["zone"] == "us-east-1b", "%s in %s" % (key, w[key]["zone"])
        # Without the allowedTopologies the pod may go to either zone; with
        # it pointing to us-east-1a it must follow.
        doc = copy.deepcopy(base)
        sc = one(doc, "StorageClass", "gp3")
        sc["allowedTopologies"][0]["matchLabelExpressions"][0]["values"] = ["us-east-1a"]
        path = cli.write("wffc_a.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        assert where(plan)["shop/web-0"]["zone"] == "us-east-1a", where(plan)["shop/web-0"]

    def new_nodes_carry_the_csi_drivers_zone_label_for_allowed_topologies():
        # The class restricts on topology.ebs.csi.aws.com/zone, which kubelet
        # sets when the EBS driver registers: a new node has it too.
        doc = copy.deepcopy(base)
        doc["items"] = [it for it in doc["items"] if it["metadata"]["name"] != "node-b"
                        and it["metadata"]["name"] not in ("local-0", "pv-local-node-b")]
        path = cli.write("no_node_b_wffc.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        n = where(plan).get("shop/web-0")
        assert n is not None, unsched(plan)
        assert n["new"] and n["zone"] == "us-east-1b", n
        assert n["labels"].get("topology.ebs.csi.aws.com/zone") == "us-east-1b", n["labels"]
        # A topology key whose value is not the node's zone is not copied.
        one(doc, "Node", "node-a")["metadata"]["labels"]["topology.ebs.csi.aws.com/zone"] = "elsewhere"
        path = cli.write("not_alias.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        assert "shop/web-0" in unsched(plan), where(plan).get("shop/web-0")
        for n in plan["nodes"]:
            assert "topology.ebs.csi.aws.com/zone" not in n["labels"] or not n["new"], n

    def gke_snapshot_with_the_embedded_gcp_catalogue():
        gke = os.path.join(DATA, "gke.json")
        plan, _ = cli.plan([gke], catalog="gcp:us-east1")
        inp = checker.load_inputs([gke], None)
        res = checker.check_plan(inp, plan, list(checker.DEFAULT_CAPACITY_TYPES))
        assert res.ok, res.violations
        assert plan["summary"]["placed_pods"] == 20, plan["unschedulable"]
        shared = ("e2-micro", "e2-small", "e2-medium", "f1-micro", "g1-small")
        for n in plan["nodes"]:
            assert n["new"] and n["zone"] == "us-east1-c", n
            assert n["labels"].get("topology.gke.io/zone") == "us-east1-c", n["labels"]
            limit = 15 if n["instance_type"] in shared else 127
            assert len(n["pods"]) <= limit, (n["instance_type"], len(n["pods"]))

    def ephemeral_volume_without_class_uses_the_default_class():
        doc = copy.deepcopy(base)
        pod = one(doc, "Pod", "eph-0")
        del pod["spec"]["volumes"][0]["ephemeral"]["volumeClaimTemplate"]["spec"]["storageClassName"]
        sc = one(doc, "StorageClass", "gp3")
        sc["allowedTopologies"][0]["matchLabelExpressions"][0]["values"] = ["us-east-1a"]
        path = cli.write("eph_default.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        assert where(plan)["shop/eph-0"]["zone"] == "us-east-1a", where(plan)["shop/eph-0"]

    def unbound_immediate_claim_leaves_the_pod_unschedulable():
        plan, err = cli.plan([CLUSTER])
        u = unsched(plan)
        assert "shop/imm-0" in u, u
        assert "unbound immediate PersistentVolumeClaims" in u["shop/imm-0"], u["shop/imm-0"]
        assert "data-imm-0" in u["shop/imm-0"], u["shop/imm-0"]
        assert plan["summary"]["volumes"]["blocked_pods"] == 2, plan["summary"]
        assert "cannot be placed until their claims are bound" in err, err
        # Bound, the same claim lets the pod go where its volume is.
        doc = copy.deepcopy(base)
        claim = one(doc, "PersistentVolumeClaim", "data-imm-0")
        claim["spec"]["volumeName"] = "pv-imm-0"
        pv = copy.deepcopy(one(doc, "PersistentVolume", "pv-db-0"))
        pv["metadata"]["name"] = "pv-imm-0"
        pv["spec"]["claimRef"]["name"] = "data-imm-0"
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0][
            "values"] = ["us-east-1b"]
        doc["items"].append(pv)
        path = cli.write("imm_bound.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        assert where(plan)["shop/imm-0"]["zone"] == "us-east-1b", where(plan).get("shop/imm-0")

    def missing_claim_leaves_the_pod_unschedulable_with_its_name():
        plan, _ = cli.plan([CLUSTER])
        u = unsched(plan)
        assert u.get("shop/ghost-0") == 'persistentvolumeclaim "data-ghost-0" not found', u

    def volume_selecting_nodes_by_name_only_matches_no_node():
        # kube-scheduler's volume check sees a node's labels only, so a term
        # with matchFields never matches; the other term still may.
        doc = copy.deepcopy(base)
        pv = one(doc, "PersistentVolume", "pv-db-0")
        field_term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-b"]}]}
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"].append(field_term)
        path = cli.write("fields_or.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        assert where(plan)["shop/db-0"]["zone"] == "us-east-1a", where(plan)["shop/db-0"]
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"] = [field_term]
        path = cli.write("fields_only.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        assert "volume node affinity conflict" in unsched(plan).get("shop/db-0", ""), unsched(plan)

    def claim_being_deleted_leaves_the_pod_unschedulable():
        doc = copy.deepcopy(base)
        one(doc, "PersistentVolumeClaim", "data-web-0")["metadata"]["deletionTimestamp"] = \
            "2026-12-07T10:00:00Z"
        path = cli.write("deleting.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        assert "is being deleted" in unsched(plan).get("shop/web-0", ""), unsched(plan)

    def local_volume_class_without_provisioner_goes_to_the_volume_node():
        plan, _ = cli.plan([CLUSTER])
        assert where(plan)["shop/local-0"]["name"] == "node-b", where(plan).get("shop/local-0")
        doc = copy.deepcopy(base)
        doc["items"] = [it for it in doc["items"] if it["metadata"]["name"] != "pv-local-node-b"]
        path = cli.write("no_local_pv.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        assert "didn't find available persistent volumes" in unsched(plan).get("shop/local-0", ""), \
            unsched(plan)

    def csinode_count_limits_attachments_on_an_existing_node():
        plan, _ = cli.plan([CLUSTER])
        feasible([CLUSTER], plan)
        on_a = [p for p in where(plan) if where(plan)[p]["name"] == "node-a"]
        dbs = [p for p in on_a if p.startswith("shop/db-")]
        # node-a reports 3 EBS attachments and runs a pod with one volume.
        assert len(dbs) == 2, "node-a received %s" % on_a
        assert plan["summary"]["volumes"]["attach_limited_drivers"] == 1, plan["summary"]
        # With a larger count the node takes all four (it has the cpu for them).
        doc = copy.deepcopy(base)
        one(doc, "CSINode", "node-a")["spec"]["drivers"][0]["allocatable"]["count"] = 25
        path = cli.write("count25.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        on_a = [p for p in where(plan) if where(plan)[p]["name"] == "node-a"]
        assert len([p for p in on_a if p.startswith("shop/db-")]) == 4, on_a

    def snapshot_without_csinodes_says_so_and_leaves_existing_nodes_unlimited():
        doc = copy.deepcopy(base)
        doc["items"] = [it for it in doc["items"] if it["kind"] != "CSINode"]
        path = cli.write("no_csinodes.json", doc)
        plan, err = cli.plan([path])
        feasible([path], plan)
        on_a = [p for p in where(plan) if where(plan)[p]["name"] == "node-a"]
        assert len([p for p in on_a if p.startswith("shop/db-")]) == 4, on_a
        assert "no CSINode objects" in err, err
        _, err = cli.plan([CLUSTER])
        assert "no CSINode objects" not in err, err

    def node_without_csinode_count_has_no_limit():
        doc = copy.deepcopy(base)
        del one(doc, "CSINode", "node-a")["spec"]["drivers"][0]["allocatable"]
        path = cli.write("nocount.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        on_a = [p for p in where(plan) if where(plan)[p]["name"] == "node-a"]
        assert len([p for p in on_a if p.startswith("shop/db-")]) == 4, on_a

    def new_nodes_hold_at_most_their_types_attach_limit():
        doc = copy.deepcopy(base)
        template_pv = one(doc, "PersistentVolume", "pv-db-0")
        for i in range(4, 34):
            claim = copy.deepcopy(one(doc, "PersistentVolumeClaim", "data-db-0"))
            claim["metadata"]["name"] = "data-db-%d" % i
            claim["spec"]["volumeName"] = "pv-db-%d" % i
            pv = copy.deepcopy(template_pv)
            pv["metadata"]["name"] = "pv-db-%d" % i
            pv["spec"]["claimRef"]["name"] = "data-db-%d" % i
            pv["spec"]["csi"]["volumeHandle"] = "vol-db-%d" % i
            pod = copy.deepcopy(one(doc, "Pod", "db-0"))
            pod["metadata"]["name"] = "db-%d" % i
            pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = "data-db-%d" % i
            pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "10m"
            doc["items"] += [claim, pv, pod]
        path = cli.write("many.json", doc)
        # Nitro (m5): 25 attachments a node.
        cat = load(CATALOG)
        cat["instance_types"] = [t for t in cat["instance_types"] if t["name"] == "m5.large"]
        m5 = cli.write("m5.json", cat)
        plan, _ = cli.plan([path], catalog=m5)
        feasible([path], plan, catalog=m5)
        new = [n for n in plan["nodes"] if n["new"]]
        dbs = sum(1 for n in new for p in n["pods"] if p.startswith("shop/db-"))
        assert dbs == 32, "%d db pods on new nodes" % dbs
        for n in new:
            assert n["zone"] == "us-east-1a", n
            assert len(n["pods"]) <= 25, "%s holds %d volumes" % (n["name"], len(n["pods"]))
        assert len(new) == 2, "%d new nodes" % len(new)
        # Xen instance types (m4) allow 39: one node holds all 32.
        cat = load(CATALOG)
        cat["instance_types"] = [t for t in cat["instance_types"] if t["name"] == "m4.large"]
        cpath = cli.write("m4.json", cat)
        plan, _ = cli.plan([path], catalog=cpath)
        feasible([path], plan, catalog=cpath)
        new = [n for n in plan["nodes"] if n["new"]]
        assert len(new) == 1 and len(new[0]["pods"]) == 32, [(n["name"], len(n["pods"])) for n in new]

    def claims_not_in_the_snapshot_give_one_note_and_no_constraint():
        doc = copy.deepcopy(base)
        doc["items"] = [it for it in doc["items"]
                        if it["kind"] not in ("PersistentVolumeClaim", "PersistentVolume",
                                              "StorageClass")]
        path = cli.write("no_claims.json", doc)
        plan, err = cli.plan([path])
        feasible([path], plan)
        assert plan["summary"]["unschedulable_pods"] == 0, plan["unschedulable"]
        # 11 pods with claims (10 pending): their claims' objects are gone.
        assert plan["summary"]["volumes"]["unchecked_pods"] == 11, plan["summary"]
        notes = [l for l in err.splitlines() if "could not be checked" in l]
        assert len(notes) == 1, err
        assert "11 pods (10 pending)" in notes[0] and "pvc,pv,storageclass,csinode" in notes[0], notes

    def items_may_come_in_any_order_and_in_several_files():
        plan0, _ = cli.plan([CLUSTER])
        doc = copy.deepcopy(base)
        storage = {"List": None}
        kinds_first = ("PersistentVolume", "StorageClass", "CSINode")
        a = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items":
             [it for it in doc["items"] if it["kind"] in ("Pod",)][::-1]}
        b = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items":
             [it for it in doc["items"] if it["kind"] not in ("Pod",)][::-1]}
        del storage
        pa, pb = cli.write("pods_first.json", a), cli.write("rest.json", b)
        plan1, _ = cli.plan([pa, pb])
        feasible([pa, pb], plan1)
        plan2, _ = cli.plan([pb, pa])
        for p in (plan1, plan2):
            assert p["summary"]["new_nodes_hourly_cost"] == plan0["summary"]["new_nodes_hourly_cost"], \
                (p["summary"], plan0["summary"])
            assert sorted(unsched(p)) == sorted(unsched(plan0)), (unsched(p), unsched(plan0))
            assert {k: n["zone"] for k, n in where(p).items()} == \
                {k: n["zone"] for k, n in where(plan0).items()}
        assert kinds_first

    def pod_affinity_and_volume_affinity_are_both_required():
        doc = copy.deepcopy(base)
        pod = one(doc, "Pod", "db-0")
        pod["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                                       "values": ["m4.large"]}]},
                {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["us-east-1b"]}]}]}}}
        path = cli.write("and.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        n = where(plan)["shop/db-0"]
        # The volume wants us-east-1a; of the pod's terms only m4.large can hold there.
        assert n["new"] and n["instance_type"] == "m4.large" and n["zone"] == "us-east-1a", n

    def too_many_combined_terms_is_an_error_naming_the_pod():
        doc = copy.deepcopy(base)
        pod = one(doc, "Pod", "db-0")
        pod["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "k%d" % i, "operator": "Exists"}]}
                                  for i in range(9)]}}}
        pv = one(doc, "PersistentVolume", "pv-db-0")
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"] = [
            {"matchExpressions": [{"key": "v%d" % i, "operator": "Exists"}]} for i in range(8)]
        path = cli.write("cross.json", doc)
        rc, out, err = cli.run(["recommend", "--snapshot", path, "--catalog", CATALOG])
        assert rc != 0 and out == "", (rc, out)
        assert "%s: items[%d] Pod shop/db-0: spec.volumes[0]: claim data-db-0" % (
            path, item_index(doc, "Pod", "db-0")) in err, err
        assert "72 terms" in err, err

    def bound_pods_volumes_count_as_used_on_their_node():
        # node-a's running pod holds one of the three attachments; with two
        # running pods holding volumes only one db pod fits there.
        doc = copy.deepcopy(base)
        claim = copy.deepcopy(one(doc, "PersistentVolumeClaim", "data-run-a-0"))
        claim["metadata"]["name"] = "data-run-a-1"
        claim["spec"]["volumeName"] = "pv-run-a-1"
        pv = copy.deepcopy(one(doc, "PersistentVolume", "pv-run-a-0"))
        pv["metadata"]["name"] = "pv-run-a-1"
        pv["spec"]["claimRef"]["name"] = "data-run-a-1"
        pod = copy.deepcopy(one(doc, "Pod", "run-a-0"))
        pod["metadata"]["name"] = "run-a-1"
        pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = "data-run-a-1"
        doc["items"] += [claim, pv, pod]
        path = cli.write("two_running.json", doc)
        plan, _ = cli.plan([path])
        feasible([path], plan)
        on_a = [p for p in where(plan) if where(plan)[p]["name"] == "node-a"]
        assert len([p for p in on_a if p.startswith("shop/db-")]) == 1, on_a

    def checker_catches_a_pod_placed_outside_its_volume_zone():
        plan, _ = cli.plan([CLUSTER])
        bad = copy.deepcopy(plan)
        for n in bad["nodes"]:
            if n["name"] == "node-b":
                n["pods"].append("shop/db-3")
            else:
                n["pods"] = [p for p in n["pods"] if p != "shop/db-3"]
        bad["nodes"] = [n for n in bad["nodes"] if n["pods"]]
        inp = checker.load_inputs([CLUSTER], CATALOG)
        res = checker.check_plan(inp, bad, list(checker.DEFAULT_CAPACITY_TYPES))
        assert any(v.startswith("[volumes]") and "shop/db-3" in v for v in res.violations), \
            res.violations
        # ... and too many attachments on node-a.
        bad = copy.deepcopy(plan)
        moved = []
        for n in bad["nodes"]:
            if n["new"]:
                moved += [p for p in n["pods"] if p.startswith("shop/db-")]
                n["pods"] = [p for p in n["pods"] if not p.startswith("shop/db-")]
        for n in bad["nodes"]:
            if n["name"] == "node-a":
                n["pods"] += moved
        bad["nodes"] = [n for n in bad["nodes"] if n["pods"]]
        res = checker.check_plan(checker.load_inputs([CLUSTER], CATALOG), bad,
                                 list(checker.DEFAULT_CAPACITY_TYPES))
        assert any("node node-a: 5 volumes of CSI driver ebs.csi.aws.com" in v
                   for v in res.violations), res.violations

    def checker_catches_a_blocked_pod_placed():
        plan, _ = cli.plan([CLUSTER])
        bad = copy.deepcopy(plan)
        bad["unschedulable"] = [u for u in bad["unschedulable"] if u["pod"] != "shop/imm-0"]
        bad["summary"]["unschedulable_pods"] -= 1
        bad["summary"]["placed_pods"] += 1
        for n in bad["nodes"]:
            if n["name"] == "node-b":
                n["pods"].append("shop/imm-0")
        res = checker.check_plan(checker.load_inputs([CLUSTER], CATALOG), bad,
                                 list(checker.DEFAULT_CAPACITY_TYPES))
        assert any(v.startswith("[volumes]") and "shop/imm-0" in v for v in res.violations), \
            res.violations

    # ---- bad input: exit 2, file, item, kind/name and field on stderr
    def bad(name, mutate, *needles):
        def test():
            doc = copy.deepcopy(base)
            mutate(doc)
            path = cli.write(name + ".json", doc)
            rc, out, err = cli.run(["recommend", "--snapshot", path, "--catalog", CATALOG])
            assert rc == 2, "exit %d (want 2); stderr: %s" % (rc, err)
            assert out == "", out
            assert path in err, "file not named: %s" % err
            for n in needles:
                assert n in err, "%r not in %s" % (n, err)
        return test

    def pv_terms_missing(doc):
        del one(doc, "PersistentVolume", "pv-db-1")["spec"]["nodeAffinity"]["required"][
            "nodeSelectorTerms"]

    def pv_bad_operator(doc):
        one(doc, "PersistentVolume", "pv-db-1")["spec"]["nodeAffinity"]["required"][
            "nodeSelectorTerms"][0]["matchExpressions"][0]["operator"] = "Inside"

    def pv_empty_term(doc):
        one(doc, "PersistentVolume", "pv-db-1")["spec"]["nodeAffinity"]["required"][
            "nodeSelectorTerms"] = [{}]

    def pv_csi_without_handle(doc):
        del one(doc, "PersistentVolume", "pv-db-2")["spec"]["csi"]["volumeHandle"]

    def sc_without_provisioner(doc):
        del one(doc, "StorageClass", "gp3")["provisioner"]

    def sc_bad_mode(doc):
        one(doc, "StorageClass", "gp3")["volumeBindingMode"] = "Lazy"

    def sc_topology_without_values(doc):
        del one(doc, "StorageClass", "gp3")["allowedTopologies"][0]["matchLabelExpressions"][0][
            "values"]

    def csinode_negative(doc):
        one(doc, "CSINode", "node-b")["spec"]["drivers"][0]["allocatable"]["count"] = -1

    def csinode_driver_without_name(doc):
        del one(doc, "CSINode", "node-b")["spec"]["drivers"][0]["name"]

    def pod_claim_without_name(doc):
        del one(doc, "Pod", "web-0")["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]

    def pvc_without_spec(doc):
        del one(doc, "PersistentVolumeClaim", "data-web-0")["spec"]

    def pv_zone_label_empty_zone(doc):
        one(doc, "PersistentVolume", "pv-legacy-0")["metadata"]["labels"][
            "failure-domain.beta.kubernetes.io/zone"] = "us-east-1b__"

    i_pv1 = "items[%d] PersistentVolume pv-db-1" % item_index(base, "PersistentVolume", "pv-db-1")
    i_pv2 = "items[%d] PersistentVolume pv-db-2" % item_index(base, "PersistentVolume", "pv-db-2")
    i_sc = "items[%d] StorageClass gp3" % item_index(base, "StorageClass", "gp3")
    i_cn = "items[%d] CSINode node-b" % item_index(base, "CSINode", "node-b")
    i_web = "items[%d] Pod shop/web-0" % item_index(base, "Pod", "web-0")
    i_pvc = "items[%d] PersistentVolumeClaim shop/data-web-0" % item_index(
        base, "PersistentVolumeClaim", "data-web-0")
    i_leg = "items[%d] PersistentVolume pv-legacy-0" % item_index(base, "PersistentVolume",
                                                                  "pv-legacy-0")
    cases = [
        ("bad_pv_node_affinity_without_terms", pv_terms_missing, i_pv1,
         "spec.nodeAffinity.required.nodeSelectorTerms: missing"),
        ("bad_pv_node_affinity_operator", pv_bad_operator, i_pv1,
         "spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].operator",
         "unknown operator \"Inside\""),
        ("bad_pv_node_affinity_empty_term", pv_empty_term, i_pv1,
         "spec.nodeAffinity.required.nodeSelectorTerms[0]: must have matchExpressions or matchFields"),
        ("bad_pv_csi_without_volume_handle", pv_csi_without_handle, i_pv2,
         "spec.csi.volumeHandle: missing"),
        ("bad_storage_class_without_provisioner", sc_without_provisioner, i_sc,
         "provisioner: missing"),
        ("bad_storage_class_binding_mode", sc_bad_mode, i_sc, "volumeBindingMode",
         "unknown value \"Lazy\""),
        ("bad_storage_class_topology_without_values", sc_topology_without_values, i_sc,
         "allowedTopologies[0].matchLabelExpressions[0].values: missing"),
        ("bad_csinode_negative_count", csinode_negative, i_cn,
         "spec.drivers[0].allocatable.count: must not be negative"),
        ("bad_csinode_driver_without_name", csinode_driver_without_name, i_cn,
         "spec.drivers[0].name: missing"),
        ("bad_pod_claim_without_claim_name", pod_claim_without_name, i_web,
         "spec.volumes[0].persistentVolumeClaim.claimName: missing"),
        ("bad_claim_without_spec", pvc_without_spec, i_pvc, "spec: missing"),
        ("bad_volume_zone_label_with_empty_zone", pv_zone_label_empty_zone, i_leg,
         "metadata.labels.failure-domain.beta.kubernetes.io/zone", "empty zone"),
    ]

    def duplicate_claim_read_once_or_newer_version_kept():
        # Identical copies (a file given twice): read once, the same plan.
        doc = copy.deepcopy(base)
        doc["items"].append(copy.deepcopy(one(doc, "PersistentVolumeClaim", "data-web-0")))
        rc, out, err = cli.run(["recommend", "--snapshot", cli.write("dup.json", doc), "--catalog", CATALOG,
                                "-o", "json"])
        assert rc == 0, (rc, err)
        rc0, out0, _ = cli.run(["recommend", "--snapshot", CLUSTER, "--catalog", CATALOG, "-o", "json"])
        a, b = json.loads(out), json.loads(out0)
        a.pop("notes", None), b.pop("notes", None)
        assert a == b, "an identical duplicate claim changed the plan"
        # Two versions: the newer resourceVersion wins whichever comes first,
        # here moving the claim to a class that binds at once (unschedulable).
        old_v = copy.deepcopy(one(base, "PersistentVolumeClaim", "data-web-0"))
        new_v = copy.deepcopy(old_v)
        old_v["metadata"]["resourceVersion"] = "100"
        new_v["metadata"]["resourceVersion"] = "200"
        new_v["spec"]["storageClassName"] = "standard-immediate"
        for order in ((old_v, new_v), (new_v, old_v)):
            doc = copy.deepcopy(base)
            doc["items"] = [i for i in doc["items"]
                            if not (i["kind"] == "PersistentVolumeClaim" and i["metadata"]["name"] == "data-web-0")]
            doc["items"].extend(copy.deepcopy(list(order)))
            rc, out, err = cli.run(["recommend", "--snapshot", cli.write("dup2.json", doc), "--catalog", CATALOG,
                                    "-o", "json"])
            assert rc == 0, (rc, err)
            plan = json.loads(out)
            why = [u["reason"] for u in plan["unschedulable"] if u["pod"] == "shop/web-0"]
            assert why and "unbound immediate" in why[0], plan["unschedulable"]
            assert any("PersistentVolumeClaim shop/data-web-0" in n and "kept 200" in n for n in plan["notes"]), \
                plan["notes"]
            feasible([cli.write("dup2.json", doc)], plan)

    tests = [
        bound_volume_node_affinity_keeps_pods_in_its_zone,
        legacy_beta_zone_label_of_a_volume_restricts_the_zone,
        a_zone_set_label_allows_each_zone_of_the_set,
        wait_for_first_consumer_class_honours_allowed_topologies,
        ephemeral_volume_without_class_uses_the_default_class,
        new_nodes_carry_the_csi_drivers_zone_label_for_allowed_topologies,
        gke_snapshot_with_the_embedded_gcp_catalogue,
        unbound_immediate_claim_leaves_the_pod_unschedulable,
        missing_claim_leaves_the_pod_unschedulable_with_its_name,
        claim_being_deleted_leaves_the_pod_unschedulable,
        volume_selecting_nodes_by_name_only_matches_no_node,
        local_volume_class_without_provisioner_goes_to_the_volume_node,
        csinode_count_limits_attachments_on_an_existing_node,
        node_without_csinode_count_has_no_limit,
        snapshot_without_csinodes_says_so_and_leaves_existing_nodes_unlimited,
        new_nodes_hold_at_most_their_types_attach_limit,
        claims_not_in_the_snapshot_give_one_note_and_no_constraint,
        items_may_come_in_any_order_and_in_several_files,
        pod_affinity_and_volume_affinity_are_both_required,
        too_many_combined_terms_is_an_error_naming_the_pod,
        bound_pods_volumes_count_as_used_on_their_node,
        checker_catches_a_pod_placed_outside_its_volume_zone,
        checker_catches_a_blocked_pod_placed,
        duplicate_claim_read_once_or_newer_version_kept,
    ]
    try:
        for t in tests:
            run.run(t.__name__, t)
        for case in cases:
            run.run(case[0], bad(case[0], case[1], *case[2:]))
    finally:
        shutil.rmtree(cli.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (run.passed, run.failed))
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
