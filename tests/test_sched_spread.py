#!/usr/bin/env python3
"""Topology spread in full, and the what-if repack's soft rules and system
pods, end to end: each plan of `stevedore recommend` is verified by the
independent checker (tests/checker.py), and the tests say what the plan must
look like for each field of TopologySpreadConstraint (minDomains,
matchLabelKeys, nodeAffinityPolicy, nodeTaintsPolicy, the topology key,
self-match, an empty selector) and for the repack of an EKS-like cluster
(tests/data/realworld/spread/).

    python3 tests/test_sched_spread.py [build/controller/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checker  # noqa: E402
from test_cli import Runner, Cli, find_binary, TINY  # noqa: E402

DATA = os.path.join(HERE, "data", "realworld", "spread")
CAT3 = os.path.join(DATA, "catalog-3az.json")
EKS = os.path.join(DATA, "eks-cluster.json")
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
Z = ["us-east-1a", "us-east-1b", "us-east-1c"]


def node(name, zone, cpu="4", mem="16Gi", labels=None, taints=None, zone_label=True):
    lb = {HOST: name, "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
          "node.kubernetes.io/instance-type": "m5.xlarge"}
    if zone_label:
        lb[ZONE] = zone
    lb.update(labels or {})
    alloc = {"cpu": cpu, "memory": mem, "pods": "58", "ephemeral-storage": "18Gi"}
    spec = {"taints": taints} if taints else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": lb}, "spec": spec,
            "status": {"allocatable": alloc, "capacity": dict(alloc)}}


def pod(name, node_name=None, ns="shop", labels=None, cpu="500m", mem="512Mi", spread=None,
        node_selector=None, tolerations=None):
    spec = {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}
    if node_name:
        spec["nodeName"] = node_name
    if spread:
        spec["topologySpreadConstraints"] = spread
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    meta = {"name": name, "namespace": ns, "labels": dict(labels or {"app": "web"}),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name.rsplit("-", 1)[0],
                                 "uid": "uid-" + name.rsplit("-", 1)[0], "controller": True}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": "Running" if node_name else "Pending"}}


def spread(max_skew=1, key=ZONE, when="DoNotSchedule", app="web", **kw):
    c = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when}
    if app is not None:
        c["labelSelector"] = {"matchLabels": {"app": app}}
    c.update(kw)
    return [c]


def snapshot(items):
    return {"apiVersion": "v1", "kind": "List", "items": items}


def zones_of(plan, inp_nodes):
    """pod key -> zone of the node the plan puts it on."""
    out = {}
    for n in plan["nodes"]:
        z = n.get("zone") or (n.get("labels") or {}).get(ZONE)
        for k in n["pods"]:
            out[k] = z
    return out


def count_by_zone(zmap, prefix):
    c = {}
    for k, z in zmap.items():
        if k.startswith(prefix):
            c[z] = c.get(z, 0) + 1
    return c


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    cli = Cli(binary)

    def plan(name, items, catalog=CAT3, extra=()):
        path = cli.write(name + ".json", snapshot(items))
        p = cli.plan([path], catalog=catalog, extra=["--time-limit", "1"] + list(extra))
        inp = checker.load_inputs([path], catalog)
        res = checker.check_plan(inp, p, list(checker.DEFAULT_CAPACITY_TYPES))
        assert res.ok, "checker: plan not feasible:\n%s\nplan: %s" % (
            "\n".join(res.violations), json.dumps(p, indent=1)[:3000])
        return p

    def placed(p, prefix):
        return count_by_zone(zones_of(p, None), prefix)

    # ---- minDomains
    def min_domains_above_zones():
        # Three zones can be had, minDomains 5: the global minimum is 0, so
        # no zone may hold more than maxSkew (1) of the four pods.
        items = [pod("web-%d" % i, spread=spread(minDomains=5)) for i in range(4)]
        p = plan("md5", items)
        c = placed(p, "shop/web-")
        assert sorted(c.values()) == [1, 1, 1], c
        assert len(p["unschedulable"]) == 1, p["unschedulable"]
    t.run("minDomains above the eligible zones: a global minimum of 0, one pod per zone", min_domains_above_zones)

    def min_domains_met():
        items = [pod("web-%d" % i, spread=spread(minDomains=3)) for i in range(6)]
        p = plan("md3", items)
        c = placed(p, "shop/web-")
        assert sorted(c.values()) == [2, 2, 2], c
        assert not p["unschedulable"]
    t.run("minDomains met by the zones: an ordinary spread, all placed", min_domains_met)

    def min_domains_schedule_anyway():
        path = cli.write("mdsa.json", snapshot([pod("web-0", spread=spread(when="ScheduleAnyway", minDomains=2))]))
        rc, out, err = cli.run(["recommend", "--snapshot", path, "--catalog", CAT3])
        assert rc == 2, (rc, err)
        assert "web-0" in err and "topologySpreadConstraints[0].minDomains" in err and "DoNotSchedule" in err, err
        assert out == "", out
    t.run("minDomains with ScheduleAnyway is refused as the API server refuses it", min_domains_schedule_anyway)

    def preferred_anti_affinity_errors():
        base = pod("dns-1", ns="kube-system")
        terms = [{"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                                                      "topologyKey": ZONE}},
                 {"weight": 0, "podAffinityTerm": {"topologyKey": ZONE}}]
        base["spec"]["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}
        path = cli.write("w0.json", snapshot([base]))
        rc, out, err = cli.run(["recommend", "--snapshot", path, "--catalog", CAT3])
        assert rc == 2 and out == "", (rc, err)
        assert ("Pod kube-system/dns-1: spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution"
                "[1].weight: 0 is out of range (1 to 100)") in err, err
        terms[1] = {"weight": 5, "podAffinityTerm": {"labelSelector": {"matchExpressions": [
            {"key": "app", "operator": "Bogus"}]}, "topologyKey": ZONE}}
        path = cli.write("w1.json", snapshot([base]))
        rc, out, err = cli.run(["recommend", "--snapshot", path, "--catalog", CAT3])
        assert rc == 2 and out == "", (rc, err)
        assert ("preferredDuringSchedulingIgnoredDuringExecution[1].podAffinityTerm.labelSelector"
                ".matchExpressions[0].operator") in err, err
    t.run("preferred pod anti-affinity is read: a bad weight or selector names its field",
          preferred_anti_affinity_errors)

    # ---- matchLabelKeys
    def match_label_keys(with_keys):
        items = [node("old-a", Z[0], cpu="2", mem="4Gi"), node("b-full", Z[1], cpu="100m", mem="256Mi"),
                 node("c-full", Z[2], cpu="100m", mem="256Mi")]
        for i in range(3):
            items.append(pod("web-old-%d" % i, "old-a", labels={"app": "web", "pod-template-hash": "old"}))
        extra = {"matchLabelKeys": ["pod-template-hash"]} if with_keys else {}
        for i in range(3):
            items.append(pod("web-new-%d" % i, labels={"app": "web", "pod-template-hash": "new"},
                             spread=spread(**extra)))
        return plan("mlk%d" % with_keys, items)

    def match_label_keys_on():
        c = placed(match_label_keys(True), "shop/web-new-")
        assert c == {Z[0]: 1, Z[1]: 1, Z[2]: 1}, c
    t.run("matchLabelKeys: the old revision's pods do not count, the new one spreads 1/1/1",
          match_label_keys_on)

    def match_label_keys_off():
        c = placed(match_label_keys(False), "shop/web-new-")
        assert Z[0] not in c and sum(c.values()) == 3, c
    t.run("without matchLabelKeys the old revision's three pods in us-east-1a keep the new ones out",
          match_label_keys_off)

    def match_label_keys_absent_label():
        # A key the pod has no label for is ignored: the selector stays app=web.
        items = [node("a1", Z[0]), node("b1", Z[1]), node("c1", Z[2])]
        items += [pod("web-old-%d" % i, "a1", labels={"app": "web"}) for i in range(2)]
        items += [pod("web-new-%d" % i, labels={"app": "web"}, spread=spread(matchLabelKeys=["pod-template-hash"]))
                  for i in range(2)]
        c = placed(plan("mlkabsent", items), "shop/web-new-")
        assert c == {Z[1]: 1, Z[2]: 1}, c
    t.run("matchLabelKeys naming a label the pod lacks is ignored", match_label_keys_absent_label)

    # ---- nodeAffinityPolicy
    def affinity_policy(policy):
        items = [node("c-node", Z[2])]
        for i in range(4):
            items.append(pod("web-%d" % i, spread=spread(nodeAffinityPolicy=policy)))
        # The pods may only use zones a and b (required node affinity on the zone).
        for it in items:
            if it["kind"] == "Pod":
                it["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": ZONE, "operator": "In", "values": Z[:2]}]}]}}}
        return plan("nap-" + policy, items)

    def affinity_policy_honor():
        p = affinity_policy("Honor")
        c = placed(p, "shop/web-")
        assert c == {Z[0]: 2, Z[1]: 2}, c
    t.run("nodeAffinityPolicy Honor: the zone the pod may not use is no domain", affinity_policy_honor)

    def affinity_policy_ignore():
        p = affinity_policy("Ignore")
        c = placed(p, "shop/web-")
        assert c == {Z[0]: 1, Z[1]: 1}, c
        assert len(p["unschedulable"]) == 2
    t.run("nodeAffinityPolicy Ignore: an existing node in that zone makes it a domain with 0",
          affinity_policy_ignore)

    # ---- nodeTaintsPolicy
    def taints_policy(policy):
        items = [node("c-gpu", Z[2], taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]),
                 node("a1", Z[0], cpu="8"), node("b1", Z[1], cpu="8")]
        extra = {"nodeTaintsPolicy": policy} if policy else {}
        items += [pod("web-%d" % i, spread=spread(**extra)) for i in range(4)]
        return plan("ntp-%s" % policy, items, extra=["--capacity-types", "reserved"])

    def taints_policy_default():
        # Ignore by default: the tainted node's zone counts, empty, and no
        # new node can be had (reserved only, none in the catalogue).
        p = taints_policy(None)
        c = placed(p, "shop/web-")
        assert c == {Z[0]: 1, Z[1]: 1}, c
        assert len(p["unschedulable"]) == 2
    t.run("nodeTaintsPolicy Ignore (the default): an untolerated node still makes a domain",
          taints_policy_default)

    def taints_policy_honor():
        p = taints_policy("Honor")
        c = placed(p, "shop/web-")
        assert c == {Z[0]: 2, Z[1]: 2}, c
        assert not p["unschedulable"]
    t.run("nodeTaintsPolicy Honor: a node whose taints the pod does not tolerate is no domain",
          taints_policy_honor)

    # ---- the topology key
    def node_without_key():
        items = [node("nolabel", None, cpu="16", mem="64Gi", zone_label=False)]
        items += [pod("web-%d" % i, spread=spread()) for i in range(3)]
        items += [pod("soft-%d" % i, labels={"app": "soft"}, spread=spread(when="ScheduleAnyway", app="soft"))
                  for i in range(2)]
        p = plan("nokey", items)
        on = {n["name"]: n["pods"] for n in p["nodes"]}
        assert not any(k.startswith("shop/web-") for k in on.get("nolabel", [])), on
        assert sorted(on.get("nolabel", [])) == ["shop/soft-0", "shop/soft-1"], on
        assert not p["unschedulable"]
    t.run("a node without the topology key takes no DoNotSchedule pod, ScheduleAnyway ones fit there",
          node_without_key)

    def template_zone_out_of_reach():
        # m5.2xlarge (needed for 6-cpu pods) is offered in us-east-1a and b
        # only: us-east-1c is no domain for these pods, so all four place.
        items = [pod("big-%d" % i, labels={"app": "big"}, cpu="6", mem="8Gi", spread=spread(app="big"))
                 for i in range(4)]
        p = plan("reach", items)
        c = placed(p, "shop/big-")
        assert c == {Z[0]: 2, Z[1]: 2}, c
    t.run("a zone whose templates cannot take the pod is no domain until a node is there",
          template_zone_out_of_reach)

    def terminating_not_counted():
        # Three web pods being deleted in us-east-1a do not count (as in
        # kube-scheduler): the two pending ones take one zone each.
        items = [node("a1", Z[0], cpu="8"), node("b1", Z[1], cpu="600m")]
        for i in range(3):
            old = pod("web-old-%d" % i, "a1")
            old["metadata"]["deletionTimestamp"] = "2024-06-20T10:00:00Z"
            items.append(old)
        items += [pod("web-new-%d" % i, spread=spread()) for i in range(2)]
        p = plan("terminating", items, extra=["--capacity-types", "reserved"])
        assert placed(p, "shop/web-new-") == {Z[0]: 1, Z[1]: 1}, p
        assert not p["unschedulable"]
    t.run("terminating pods do not count in a spread", terminating_not_counted)

    # ---- self-match and empty selectors
    def not_self_matching():
        # client pods spread over the web pods: web has 2 in us-east-1a and
        # none elsewhere, so us-east-1a is 2 over the minimum: no client there.
        items = [node("a1", Z[0], cpu="8"), node("b1", Z[1], cpu="8"), node("c1", Z[2], cpu="8")]
        items += [pod("web-%d" % i, "a1") for i in range(2)]
        items += [pod("client-%d" % i, labels={"app": "client"}, spread=spread(app="web")) for i in range(4)]
        p = plan("selfmatch", items)
        c = placed(p, "shop/client-")
        assert Z[0] not in c and sum(c.values()) == 4, c
    t.run("a pod its own selector does not match is still held to maxSkew", not_self_matching)

    def empty_selector():
        # labelSelector {} counts no pods (kube-scheduler), so the four pods
        # may share the one zone new nodes come from, beside full zones.
        items = [node("b-full", Z[1], cpu="100m", mem="128Mi"), node("c-full", Z[2], cpu="100m", mem="128Mi")]
        items += [pod("web-%d" % i, spread=[{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                                           "labelSelector": {}}]) for i in range(4)]
        p = plan("emptysel", items, catalog=TINY)
        assert placed(p, "shop/web-") == {Z[0]: 4}, placed(p, "shop/web-")
    t.run("an empty labelSelector counts nothing: the spread never binds", empty_selector)

    def selector_matching_all_binds():
        items = [node("b-full", Z[1], cpu="100m", mem="128Mi"), node("c-full", Z[2], cpu="100m", mem="128Mi")]
        items += [pod("web-%d" % i, spread=spread()) for i in range(4)]
        p = plan("fullsel", items, catalog=TINY)
        assert placed(p, "shop/web-") == {Z[0]: 1}, placed(p, "shop/web-")
        assert len(p["unschedulable"]) == 3
    t.run("the same with app=web: the full zones hold the minimum at 0", selector_matching_all_binds)

    # ---- the what-if repack of an EKS-like cluster
    def repack(extra=(), system_pods=False):
        p = cli.plan([EKS], catalog=CAT3, extra=["--mode", "repack", "--time-limit", "1"] + list(extra))
        inp = checker.load_inputs([EKS], CAT3)
        res = checker.check_repack(inp, p, system_pods=system_pods)
        assert res.ok, "checker: repack plan not feasible:\n%s\nplan: %s" % (
            "\n".join(res.violations), json.dumps(p, indent=1)[:4000])
        return p

    def final_zones(p):
        """pod key -> zone after the repack: kept nodes keep their pods."""
        snap = json.load(open(EKS))
        zone = {}
        for it in snap["items"]:
            if it["kind"] == "Node":
                zone[it["metadata"]["name"]] = it["metadata"]["labels"][ZONE]
        keep = set(p["repack"]["keep"])
        out = {}
        for it in snap["items"]:
            if it["kind"] == "Pod" and it["spec"].get("nodeName") in keep:
                out[it["metadata"]["namespace"] + "/" + it["metadata"]["name"]] = zone[it["spec"]["nodeName"]]
        for n in p["nodes"]:
            for k in n["pods"]:
                out[k] = n.get("zone") or zone.get(n["name"])
        return out

    def eks_default():
        p = repack()
        rp = p["repack"]
        assert rp["system_pods_moved"] is False
        assert rp["system_pods_kept"] == 5, rp["system_pods_kept"]
        keep = rp["keep_reasons"]
        for n in ("ip-10-0-1-10.ec2.internal", "ip-10-0-2-10.ec2.internal"):
            assert n in keep and "system-cluster-critical" in keep[n], keep
        fz = final_zones(p)
        dns = [z for k, z in fz.items() if k.startswith("kube-system/coredns-")]
        assert sorted(dns) == [Z[0], Z[1]], dns
        web = count_by_zone(fz, "shop/web-")
        assert sum(web.values()) == 6 and sorted(web.values()) == [2, 2, 2], web
        assert rp["zone_preferences_kept"] == 4, rp["zone_preferences_kept"]
        assert rp["monthly_savings"] > 0
    t.run("EKS repack: coredns and kube-system controllers kept, web still spread 2/2/2 over zones",
          eks_default)

    def eks_notes():
        rc, out, err = cli.run(["recommend", "--snapshot", EKS, "--catalog", CAT3, "--mode", "repack",
                                "--time-limit", "1", "--output", "json"])
        assert rc == 0, err
        assert "note: 5 system pods" in err and "--repack-system-pods" in err, err
        assert "note: 4 moved pods keep their preferred zone" in err, err
    t.run("EKS repack: notes on stderr name the kept system pods and the kept preferences", eks_notes)

    def eks_system_pods():
        p = repack(["--repack-system-pods"], system_pods=True)
        rp = p["repack"]
        assert rp["system_pods_moved"] is True and rp["system_pods_kept"] == 0
        fz = final_zones(p)
        dns = [z for k, z in fz.items() if k.startswith("kube-system/coredns-")]
        assert len(dns) == 2 and dns[0] != dns[1], dns
        web = count_by_zone(fz, "shop/web-")
        assert sorted(web.values()) == [2, 2, 2], web
        moved_dns = sum(1 for n in p["nodes"] for k in n["pods"] if k.startswith("kube-system/coredns-"))
        assert moved_dns == 2, p["nodes"]
    t.run("EKS repack with --repack-system-pods: coredns moves, still one per zone", eks_system_pods)

    def eks_config_key():
        cfg = os.path.join(cli.tmp, "sys.yaml")
        with open(cfg, "w") as f:
            f.write("repack:\n  systemPods: true\n")
        p = repack(["--config", cfg], system_pods=True)
        assert p["repack"]["system_pods_moved"] is True
        with open(cfg, "w") as f:
            f.write("repack:\n  systemPods: yes-please\n")
        rc, out, err = cli.run(["recommend", "--snapshot", EKS, "--catalog", CAT3, "--mode", "repack",
                                "--config", cfg])
        assert rc == 2 and "repack.systemPods" in err and "true or false" in err, (rc, err)
    t.run("config repack.systemPods: true moves system pods; a bad value is refused", eks_config_key)

    def flag_needs_repack():
        rc, out, err = cli.run(["recommend", "--snapshot", EKS, "--catalog", CAT3, "--repack-system-pods"])
        assert rc == 2 and "--mode repack" in err, (rc, err)
    t.run("--repack-system-pods without --mode repack is refused", flag_needs_repack)

    def checker_catches_moved_system_pod():
        # A doctored plan that removes coredns's node must be flagged.
        p = repack(["--repack-system-pods"], system_pods=True)
        inp = checker.load_inputs([EKS], CAT3)
        res = checker.check_repack(inp, p, system_pods=False)
        assert any("system pod" in v for v in res.violations), res.violations
    t.run("the checker flags a plan that moves system pods when that was not asked",
          checker_catches_moved_system_pod)

    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
