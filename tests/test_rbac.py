#!/usr/bin/env python3
"""RBAC of deploy/base against the calls `stevedore controller` makes.

A full scenario runs against the API emulator with its audit log (two
replicas with leader election in the namespace the Deployment runs in,
pods of two namespaces, a scale-up of the sim cloud whose nodes register
through the API, Events (a pod that fits nowhere solved twice, so its
Event is counted up), a SIGTERM that releases the Lease, the other
replica taking over and stopping in turn, then a third replica whose sim
interrupts spot instances, so that a Node is deleted). Every call the replicas made is
taken from the audit log as RBAC sees it (verb, API group, resource,
subresource, namespace); the rules come from `kubectl kustomize
deploy/base` (the ClusterRoles and Roles bound to the controller's
ServiceAccount). Two checks, each failing with the difference listed:
every call is allowed, and no verb is granted that no call used (the issue
asks for exactly the verbs the controller uses).

    python3 tests/test_rbac.py [path/to/stevedore]
"""

import os
import shutil
import subprocess
import sys

import yaml

import ctltest
from ctltest import pod
from test_controller_e2e import lease_flags, wait_unschedulable

DEPLOY_NS = "stevedore"
SERVICE_ACCOUNT = ("stevedore", "stevedore")  # namespace, name
# What Kubernetes' default ClusterRole system:discovery (bound to every
# authenticated user) allows without any rule of ours.
DISCOVERY = ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/",
             "/openapi", "/openapi/*")


def kubectl():
    for k in (os.environ.get("KUBECTL"), "/usr/bin/kubectl", shutil.which("kubectl")):
        if k and os.access(k, os.X_OK):
            return k
    raise AssertionError("no kubectl (Debian: apt-get install kubernetes-client; or set KUBECTL)")


def render():
    p = subprocess.run([kubectl(), "kustomize", os.path.join(ctltest.ROOT, "deploy", "base")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "kubectl kustomize deploy/base failed: %s" % p.stderr
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def grants(docs):
    """The rules bound to the ServiceAccount: a list of (groups, resources,
    verbs, namespace or None for cluster-wide, where)."""
    roles = {}
    for d in docs:
        if d["kind"] in ("ClusterRole", "Role"):
            roles[(d["kind"], d["metadata"].get("namespace") if d["kind"] == "Role" else None,
                   d["metadata"]["name"])] = d.get("rules") or []
    out = []
    for d in docs:
        if d["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and (s.get("namespace"), s.get("name")) == SERVICE_ACCOUNT
                   for s in d.get("subjects") or []):
            continue
        ref = d["roleRef"]
        ns = d["metadata"].get("namespace") if d["kind"] == "RoleBinding" else None
        key = (ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"])
        assert key in roles, "%s %s binds %s %s, which deploy/base does not define" % (
            d["kind"], d["metadata"]["name"], ref["kind"], ref["name"])
        for i, r in enumerate(roles[key]):
            out.append((r.get("apiGroups") or [], r.get("resources") or [], r.get("verbs") or [], ns,
                        "%s %s rules[%d]" % (ref["kind"], ref["name"], i), r.get("nonResourceURLs") or []))
    return out


def allows(rule, call):
    groups, resources, verbs, ns, _, _ = rule
    verb, group, resource, sub, call_ns = call
    name = resource + ("/" + sub if sub else "")
    return (verb in verbs or "*" in verbs) and (group in groups or "*" in groups) and \
        (name in resources or "*" in resources) and (ns is None or (call_ns == ns))


def path_allowed(path, rules):
    pats = list(DISCOVERY) + [u for r in rules for u in r[5]]
    return any(path == p or (p.endswith("*") and path.startswith(p[:-1])) for p in pats)


def scenario_calls(binary):
    """Runs the scenario; returns the set of resource calls and of
    non-resource paths the replicas made."""
    flags, _ = lease_flags(binary)
    with ctltest.Scene(binary, "rbac", lease_ns=DEPLOY_NS) as sc:
        sc.api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": "shop"}})
        pods = [pod("web-%d" % i, cpu="500m", memory="512Mi") for i in range(4)]
        pods += [pod("cart-%d" % i, cpu="1", memory="1Gi", ns="shop") for i in range(2)]
        pods += [pod("huge-0", cpu="64", memory="1Gi", ns="shop")]  # fits nowhere: NotTriggerScaleUp
        a = sc.controller("r0", "--leader-elect=true", *flags)
        b = sc.controller("r1", "--leader-elect=true", *flags)
        sc.wait_for("a replica to hold the Lease", lambda: (sc.holder() in ("r0", "r1"), sc.lease()), timeout=30)
        leader, follower = (a, b) if sc.holder() == "r0" else (b, a)
        for c in (a, b):
            sc.wait_for("%s /readyz 200" % c.identity, lambda: (c.get("/readyz")[0] == 200, c.get("/readyz")),
                        timeout=30)
        sc.create_pods(*pods)
        wait_unschedulable(sc, pods)
        sc.wait_for("all pods Running but huge-0", lambda: sc.all_running(len(pods), {"huge-0"}), timeout=60)
        sc.wait_for("a TriggeredScaleUp Event", lambda: (sc.events("TriggeredScaleUp"), "none"), timeout=20)
        # The pod that fits nowhere is solved again once the nodes in flight
        # registered: its Event is counted up (a PATCH), not made anew.
        sc.wait_for("the NotTriggerScaleUp Event of huge-0 counted up",
                    lambda: (any(e.get("count", 1) >= 2 for e in sc.events("NotTriggerScaleUp")),
                             sc.events("NotTriggerScaleUp")), timeout=30)
        leader.must_run = False
        rc, _ = ctltest.stop_gracefully(leader, 20)
        sc.check(rc == 0, "the leader exited with %s after SIGTERM" % rc)
        sc.wait_for("the follower to take the Lease", lambda: (sc.holder() == follower.identity, sc.lease()),
                    timeout=30)
        follower.must_run = False
        rc, _ = ctltest.stop_gracefully(follower, 20)
        sc.check(rc == 0, "the follower exited with %s after SIGTERM" % rc)
        # A third replica whose sim interrupts spot instances within seconds:
        # it adopts the running nodes, and an interrupted one's Node goes.
        spot = [n["metadata"]["name"] for n in sc.nodes()
                if n["metadata"]["labels"].get("karpenter.sh/capacity-type") == "spot"]
        sc.check(spot, "no spot node to interrupt: %s" % [n["metadata"]["labels"] for n in sc.nodes()])
        # It also drains a node with pods (the drainer's taint, evictions), an on-demand one when there is one.
        held = {}
        for p in sc.pods():
            if p["spec"].get("nodeName"):
                held[p["spec"]["nodeName"]] = held.get(p["spec"]["nodeName"], 0) + 1
        target = sorted(held, key=lambda n: (n in spot, -held[n], n))[0]
        third = sc.controller("r2", "--leader-elect=true", *flags + ["--sim-interruptions-per-hour", "3600",
                                                                     "--sim-interruption-notice", "1s",
                                                                     "--test-drain-node", target])
        sc.wait_for("r2 to take the Lease", lambda: (sc.holder() == "r2", sc.lease()), timeout=30)
        sc.wait_for("an interrupted spot node's Node deleted by r2",
                    lambda: ([e for e in sc.audit() if e["user"] == sc.user_of("r2")
                              and e["requestInfo"]["verb"] == "delete" and e["requestInfo"]["resource"] == "nodes"],
                             [n["metadata"]["name"] for n in sc.nodes()]), timeout=30)
        sc.wait_for("a pod of node %s evicted by r2" % target,
                    lambda: [e for e in sc.audit() if e["user"] == sc.user_of("r2")
                             and e["requestInfo"].get("subresource") == "eviction"], timeout=30)
        third.must_run = False
        rc, _ = ctltest.stop_gracefully(third, 20)
        sc.check(rc == 0, "r2 exited with %s after SIGTERM" % rc)
        users = {sc.user_of("r0"), sc.user_of("r1"), sc.user_of("r2")}
        resource, other = set(), set()
        for e in sc.audit():
            if e["user"] not in users:
                continue
            ri = e["requestInfo"]
            if ri["isResourceRequest"]:
                resource.add((ri["verb"], ri["apiGroup"], ri["resource"], ri["subresource"], ri["namespace"]))
            else:
                other.add(e["path"])
        return resource, other


def fmt_call(c):
    verb, group, resource, sub, ns = c
    return "%s %s%s%s%s" % (verb, (group or "core") + "/", resource, "/" + sub if sub else "",
                            " in namespace " + ns if ns else " (cluster-wide)")


def should_grant_exactly_the_verbs_the_controller_uses(binary):
    rules = grants(render())
    assert rules, "deploy/base binds no rules to the ServiceAccount %s/%s" % SERVICE_ACCOUNT
    calls, paths = scenario_calls(binary)
    print("    the controller's calls:")
    for c in sorted(calls):
        print("      " + fmt_call(c))
    denied = sorted(fmt_call(c) for c in calls if not any(allows(r, c) for r in rules))
    denied += sorted("GET %s (not a discovery path, no nonResourceURLs rule)" % p for p in paths
                     if not path_allowed(p, rules))
    unused = []
    for groups, resources, verbs, ns, where, _ in rules:
        for g in groups:
            for res in resources:
                for v in verbs:
                    r, _, s = res.partition("/")
                    used = any(c[0] == v and c[1] == g and c[2] == r and c[3] == s and (ns is None or c[4] == ns)
                               for c in calls)
                    if not used:
                        unused.append("%s: %s %s/%s%s" % (where, v, g or "core", res,
                                                          " in namespace " + ns if ns else ""))
    msg = []
    if denied:
        msg.append("calls the rules of deploy/base do not allow:\n  " + "\n  ".join(denied))
    if unused:
        msg.append("verbs deploy/base grants that the controller never used:\n  " + "\n  ".join(unused))
    assert not msg, "\n".join(msg)


TESTS = [("should_grant_exactly_the_verbs_the_controller_uses", should_grant_exactly_the_verbs_the_controller_uses)]
# Controller bugs this test still trips over (bugs_ctl.md); empty when none.
KNOWN = {}

if __name__ == "__main__":
    sys.exit(ctltest.run_tests(TESTS, sys.argv, KNOWN))
