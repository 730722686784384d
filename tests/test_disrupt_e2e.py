#!/usr/bin/env python3
"""End to end: node removal by `stevedore controller --provider sim` against
the API emulator (tests/kubeapi/, scheduler and kubelet on): the drainer and
the emptiness reconciler (docs/consolidation.md, "Draining and emptiness").

- A burst of pods scales the sim cloud up; the pods are deleted (DaemonSet
  pods stay on every node); each empty node is tainted, removed through the
  provider and its Node object goes, after --empty-for and not before.
- A node with a do-not-disrupt annotation is kept, with an Event.
- --dry-run removes nothing and says, in the log and an Event, what it
  would remove.
- A burst, then quiet, twice: up and back down each time.
- A drain of a node whose pod a PodDisruptionBudget protects (0
  disruptions allowed): the eviction is refused (429) and retried until the
  drain timeout; then the taint is removed and a FailedDraining Event says
  why.

    python3 tests/test_disrupt_e2e.py [path/to/stevedore] [test names...]
"""

import sys
import time

import ctltest
from ctltest import pod, sim_nodes

TAINT = "stevedore.io/disrupted"


def ds_pod(name, node):
    """A DaemonSet's pod bound to node (the emulator's kubelet runs it)."""
    p = pod(name, cpu="100m", memory="64Mi", ns="kube-system", labels={"app": "agent"})
    p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                         "uid": "ds-agent-uid", "controller": True}]
    p["spec"]["nodeName"] = node
    return p


def rs_pod(name, cpu="500m", labels=None):
    """A ReplicaSet's pod (it has a controller: it may be evicted)."""
    p = pod(name, cpu=cpu, memory="256Mi", labels=labels)
    p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                         "uid": "rs-web-uid", "controller": True}]
    return p


def scale_up(sc, pods):
    sc.create_pods(*pods)
    sc.wait_for("%d pods Running" % len(pods), lambda: sc.all_running(len(pods)), timeout=90)
    return sim_nodes(sc.nodes())


def delete_pods(sc, names, ns="default"):
    for n in names:
        sc.api.ok("DELETE", "/api/v1/namespaces/%s/pods/%s" % (ns, n))


def node_events(sc, reason):
    return [e for e in sc.events(reason) if e["involvedObject"].get("kind") == "Node"]


def tainted(node):
    return any(t.get("key") == TAINT for t in node.get("spec", {}).get("taints") or [])


def should_remove_empty_nodes_after_the_window_and_ignore_daemonset_pods(binary):
    with ctltest.Scene(binary, "empty") as sc:
        ctl = sc.controller("a", "--empty-for", "4s")
        names = ["web-%d" % i for i in range(6)]
        nodes = scale_up(sc, [rs_pod(n, cpu="1200m") for n in names])
        sc.check(len(nodes) >= 2, "want at least 2 nodes for 6 pods of 1.2 CPU, got %d" % len(nodes))
        agents = [ds_pod("agent-%d" % i, n["metadata"]["name"]) for i, n in enumerate(nodes)]
        sc.create_pods(*agents)
        sc.wait_for("the DaemonSet pods Running", lambda: sc.all_running(len(names) + len(agents)), timeout=30)
        t_quiet = time.time()
        delete_pods(sc, names)
        sc.wait_for("every sim node removed", lambda: (not sim_nodes(sc.nodes()),
                                                       [n["metadata"]["name"] for n in sim_nodes(sc.nodes())]),
                    timeout=90)
        took = time.time() - t_quiet
        sc.check(took >= 4, "the nodes went %.1f s after they were emptied, before --empty-for 4s" % took)
        removed = node_events(sc, "DisruptionTerminating")
        sc.check({e["involvedObject"]["name"] for e in removed} >= {n["metadata"]["name"] for n in nodes},
                 "no DisruptionTerminating Event on every removed node: %s" % [e["message"] for e in removed])
        sc.wait_for("a DisruptionTerminated Event on each removed node",
                    lambda: (len(node_events(sc, "DisruptionTerminated")) >= len(nodes),
                             [e["message"] for e in node_events(sc, "DisruptionTerminated")]), timeout=30)
        evicted = sc.events("Evicted")
        sc.check(not evicted, "pods evicted from empty nodes (DaemonSet pods must stay): %s"
                 % [e["involvedObject"]["name"] for e in evicted])
        sc.wait_for("the drained-nodes metric", lambda: ((ctl.metric("stevedore_nodes_drained_total") or 0)
                                                         >= len(nodes), ctl.metric("stevedore_nodes_drained_total")))
        print("    %d nodes scaled up and removed %.1f s after the pods went" % (len(nodes), took))


def should_keep_a_node_with_a_do_not_disrupt_annotation(binary):
    with ctltest.Scene(binary, "keep") as sc:
        sc.controller("a", "--empty-for", "2s")
        nodes = scale_up(sc, [rs_pod("web-0")])
        name = nodes[0]["metadata"]["name"]
        sc.api.ok("PATCH", "/api/v1/nodes/" + name, {"metadata": {"annotations": {"karpenter.sh/do-not-disrupt":
                                                                                   "true"}}},
                  ctype="application/merge-patch+json")
        delete_pods(sc, ["web-0"])
        ev = sc.wait_for("a DisruptionBlocked Event on node %s" % name,
                         lambda: [e for e in node_events(sc, "DisruptionBlocked")
                                  if e["involvedObject"]["name"] == name], timeout=60)
        time.sleep(3)
        sc.check(any(n["metadata"]["name"] == name for n in sc.nodes()), "node %s was removed" % name)
        print("    kept: %s" % ev[0]["message"])


def should_remove_nothing_in_a_dry_run_and_say_what_it_would_remove(binary):
    with ctltest.Scene(binary, "dry") as sc:
        ctl = sc.controller("a", "--empty-for", "2s")
        nodes = scale_up(sc, [rs_pod("web-0")])
        name = nodes[0]["metadata"]["name"]
        ctl.must_run = False
        rc, _ = ctltest.stop_gracefully(ctl, 20)
        sc.check(rc == 0, "the first controller exited with %s" % rc)
        dry = sc.controller("b", "--empty-for", "2s", "--dry-run")
        delete_pods(sc, ["web-0"])
        ev = sc.wait_for("a DisruptionDryRun Event", lambda: node_events(sc, "DisruptionDryRun"), timeout=60)
        sc.check(ev[0]["involvedObject"]["name"] == name, "dry-run Event on %s, want %s" % (ev[0], name))
        time.sleep(3)
        sc.check(any(n["metadata"]["name"] == name and not tainted(n) for n in sc.nodes()),
                 "the dry run changed node %s" % name)
        sc.check(not [e for e in sc.audit() if e["user"] == sc.user_of("b") and e["verb"] in ("PUT", "DELETE")
                      and "/nodes" in e["path"]], "the dry run wrote a Node")
        sc.check(dry.records("decision") and any(r.get("kind") == "would_remove" for r in dry.records("decision")),
                 "no would_remove decision in the dry run's log")
        print("    dry run: %s" % ev[0]["message"])


def should_retry_a_refused_eviction_then_untaint_the_node_at_the_drain_timeout(binary):
    with ctltest.Scene(binary, "pdb") as sc:
        ctl = sc.controller("a", "--empty-for", "1h")
        nodes = scale_up(sc, [rs_pod("db-0", labels={"app": "db"})])
        name = nodes[0]["metadata"]["name"]
        sc.api.ok("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
                  {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
                   "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}})
        ctl.must_run = False
        rc, _ = ctltest.stop_gracefully(ctl, 20)
        sc.check(rc == 0, "the first controller exited with %s" % rc)
        drainer = sc.controller("b", "--empty-for", "1h", "--drain-timeout", "6s", "--test-drain-node", name)
        sc.wait_for("node %s tainted" % name, lambda: any(n["metadata"]["name"] == name and tainted(n)
                                                          for n in sc.nodes()), timeout=30)
        ev = sc.wait_for("a FailedDraining Event", lambda: node_events(sc, "FailedDraining"), timeout=60)
        sc.wait_for("node %s untainted" % name, lambda: any(n["metadata"]["name"] == name and not tainted(n)
                                                            for n in sc.nodes()), timeout=30)
        refused = drainer.metric("stevedore_evictions_total", result="refused_pdb") or 0
        sc.check(refused >= 2, "want the 429 retried (at least 2 refusals), got %s" % refused)
        sc.check(any(p["metadata"]["name"] == "db-0" and p["status"].get("phase") == "Running" for p in sc.pods()),
                 "the protected pod is not Running any more")
        sc.check(any(n["metadata"]["name"] == name for n in sc.nodes()), "node %s was removed" % name)
        sc.check([e for e in sc.events("DisruptionBlocked") if e["involvedObject"]["name"] == "db-0"],
                 "no DisruptionBlocked Event on the pod whose eviction was refused")
        print("    %d refusals; %s" % (refused, ev[0]["message"]))


def should_scale_up_for_a_burst_and_back_down_when_it_is_quiet_twice(binary):
    with ctltest.Scene(binary, "burst") as sc:
        ctl = sc.controller("a", "--empty-for", "3s")
        for wave in range(2):
            names = ["w%d-%d" % (wave, i) for i in range(4)]
            nodes = scale_up(sc, [rs_pod(n, cpu="1500m") for n in names])
            sc.check(len(nodes) >= 2, "wave %d: want at least 2 nodes for 4 pods of 1.5 CPU, got %d"
                     % (wave, len(nodes)))
            delete_pods(sc, names)
            sc.wait_for("wave %d: every sim node removed" % wave,
                        lambda: (not sim_nodes(sc.nodes()), [n["metadata"]["name"] for n in sim_nodes(sc.nodes())]),
                        timeout=90)
        drained = ctl.metric("stevedore_nodes_drained_total")
        sc.check(drained >= 4, "stevedore_nodes_drained_total %s after two waves" % drained)
        print("    two bursts up and down: %d nodes drained" % drained)


def should_let_kubectl_drain_the_emulator_as_it_drains_an_api_server(binary):
    """The emulator's eviction subresource against the real client: kubectl
    drain cordons, evicts the free pod, and retries the pod a
    PodDisruptionBudget protects (429) until its timeout."""
    import os
    import subprocess
    with ctltest.Scene(binary, "kubectl-drain") as sc:
        sc.api.ok("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                                            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                                                       "conditions": [{"type": "Ready", "status": "True"}]}})
        web, db = rs_pod("web-0"), rs_pod("db-0", labels={"app": "db"})
        for p in (web, db):
            p["spec"]["nodeName"] = "n1"
        sc.create_pods(web, db)
        sc.api.ok("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
                  {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
                   "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}})
        sc.wait_for("both pods Running", lambda: sc.all_running(2), timeout=30)
        kc = os.path.join(sc.tmp, "kubeconfig-kubectl")
        sc.emu.write_kubeconfig(kc, token=sc.api.token)
        r = subprocess.run(["kubectl", "--kubeconfig", kc, "drain", "n1", "--ignore-daemonsets", "--timeout", "8s"],
                           capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        sc.check(r.returncode != 0, "kubectl drain succeeded although a PodDisruptionBudget protects db-0:\n" + out)
        sc.check("pod/web-0 evicted" in out, "kubectl did not evict web-0:\n" + out)
        sc.check("Cannot evict pod as it would violate the pod's disruption budget" in out,
                 "kubectl did not get the 429 of the budget:\n" + out)
        sc.check([p["metadata"]["name"] for p in sc.pods()] == ["db-0"], "pods left: %s" % sc.pods())
        sc.check(sc.nodes()[0]["spec"].get("unschedulable") is True, "kubectl did not cordon n1")
        print("    kubectl drain: web-0 evicted, db-0 refused until the timeout")


TESTS = [(f.__name__, f) for f in (
    should_remove_empty_nodes_after_the_window_and_ignore_daemonset_pods,
    should_keep_a_node_with_a_do_not_disrupt_annotation,
    should_remove_nothing_in_a_dry_run_and_say_what_it_would_remove,
    should_retry_a_refused_eviction_then_untaint_the_node_at_the_drain_timeout,
    should_scale_up_for_a_burst_and_back_down_when_it_is_quiet_twice,
    should_let_kubectl_drain_the_emulator_as_it_drains_an_api_server)]
KNOWN = {}

if __name__ == "__main__":
    sys.exit(ctltest.run_tests(TESTS, sys.argv, KNOWN))
