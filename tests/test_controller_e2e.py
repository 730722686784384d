#!/usr/bin/env python3
"""End to end: `stevedore controller --provider sim` against the API
emulator (tests/kubeapi/, scheduler and kubelet on, no nodes at first).
Pending pods of several shapes arrive; the controller scales the sim cloud,
whose nodes register as Node objects; the emulator's scheduler binds and its
kubelet runs every pod. Then two replicas with leader election: one acts,
the leader is killed midway and at rest, the other takes over and nothing
is launched twice; and SIGTERM releases the Lease. docs/testing.md says
what each test waits for and the rules it checks.

    python3 tests/test_controller_e2e.py [path/to/stevedore] [test names...]
"""

import math
import re
import signal
import subprocess
import sys
import time

import ctltest
from ctltest import pod, sim_nodes

WELL_KNOWN = ("node.kubernetes.io/instance-type", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
              "karpenter.sh/capacity-type", "kubernetes.io/arch", "kubernetes.io/os", "kubernetes.io/hostname")


def workload(prefix=""):
    """18 pods of five shapes: plain web and api pods, pods pinned to zone
    us-east-1b, pods that need on-demand capacity, and a database group
    with required hostname anti-affinity (one per node)."""
    ps = [pod("%sweb-%d" % (prefix, i), cpu="500m", memory="512Mi") for i in range(6)]
    ps += [pod("%sapi-%d" % (prefix, i), cpu="1", memory="2Gi") for i in range(4)]
    ps += [pod("%szoneb-%d" % (prefix, i), cpu="250m", memory="256Mi",
               node_selector={"topology.kubernetes.io/zone": "us-east-1b"}) for i in range(3)]
    ps += [pod("%sondemand-%d" % (prefix, i), cpu="1", memory="1Gi",
               node_selector={"karpenter.sh/capacity-type": "on-demand"}) for i in range(2)]
    ps += [pod("%sdb-%d" % (prefix, i), cpu="500m", memory="1Gi", anti_group=prefix + "db") for i in range(3)]
    return ps


def allowed_nodes(planned):
    """The rule a live run is held to against `stevedore recommend`'s plan
    of the same pending pods: at most the plan's node count plus a third
    (at least two). The emulator's scheduler, like kube-scheduler, binds
    pods to the least allocated node as nodes register one by one, not
    where the plan put them, so a few pods can be left over for a second,
    small scale-up (docs/testing.md)."""
    return planned + max(2, int(math.ceil(planned / 3.0)))


def first_decision(sc, ctl):
    """The nodes in flight after the controller's first decision with
    nothing in flight before: the `inflight` field of its first
    `reconciled` log line."""
    def seen():
        recs = [r for r in ctl.records("reconciled") if r.get("inflight")]
        return bool(recs), recs
    return sc.wait_for("a reconciled log line of controller %s" % ctl.identity, seen, timeout=30)[0]["inflight"]


def hourly_cost(nodes):
    total = 0.0
    for n in nodes:
        lb = n["metadata"]["labels"]
        total += ctltest.price_of(lb["node.kubernetes.io/instance-type"], lb["karpenter.sh/capacity-type"],
                                  lb["topology.kubernetes.io/zone"])
    return total


def wait_unschedulable(sc, pods):
    """Until the emulator's scheduler has seen each of pods: marked it
    Unschedulable (what the controller reacts to) or bound it to free room."""
    want = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods}

    def marked():
        got = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in sc.pods()
               if ctltest._sched_message(p) or p["spec"].get("nodeName")}
        return want <= got, "not yet seen by the scheduler: %s" % sorted(want - got)[:8]
    sc.wait_for("%d pods seen by the scheduler" % len(want), marked, timeout=30)


def plan_while_paused(sc, ctl, pods):
    """Creates pods while the acting controller is stopped (SIGSTOP), waits
    until they are marked Unschedulable and asks `stevedore recommend` for
    its plan of them, then lets the controller go on (SIGCONT): the plan
    sees the cluster as the controller will, without its new nodes."""
    ctl.signal(signal.SIGSTOP)
    try:
        sc.create_pods(*pods)
        wait_unschedulable(sc, pods)
        return sc.recommend()
    finally:
        ctl.signal(signal.SIGCONT)


def check_wave(sc, what, before, plan, names):
    """The nodes created since before (a set of names): as many as the plan
    allows, none when it needs none. Returns them, the plan's count and how
    many hold none of the wave's pods (names)."""
    now = sim_nodes(sc.nodes())
    new = [n for n in now if n["metadata"]["name"] not in before]
    sc.check(before <= {n["metadata"]["name"] for n in now}, "%s: nodes that were there went away" % what)
    want = plan["summary"]["new_nodes"]
    sc.check((want == 0) == (len(new) == 0) and len(new) <= allowed_nodes(want),
             "%s: %d new nodes for a plan of %d (allowed %d)" % (what, len(new), want, allowed_nodes(want)))
    hosts = {p["spec"].get("nodeName") for p in sc.pods() if p["metadata"]["name"] in names}
    return new, want, len([n for n in new if n["metadata"]["name"] not in hosts])


def check_sim_nodes(sc, plan):
    """Every Node is a sim node: name sim-ZONE-ID, providerID sim:///ZONE/ID
    of its zone label, Ready, the template's labels (those of the plan's new
    node of the same offering, hostname aside). Returns them and how many
    hold no pod (the scheduler binds where it likes as nodes register one
    by one, so a planned node can be left empty and a leftover pod get
    another: the node-count rule bounds that)."""
    nodes = sc.nodes()
    sims = sim_nodes(nodes)
    sc.check(len(sims) == len(nodes), "nodes that are not sim nodes: %s"
             % [n["metadata"]["name"] for n in nodes if n not in sims])
    planned = {}
    for n in plan["nodes"]:
        if n["new"]:
            lb = dict(n["labels"])
            lb.pop("kubernetes.io/hostname", None)
            planned[(n["instance_type"], n["capacity_type"], n["zone"])] = lb
    keys = set(next(iter(planned.values())).keys()) if planned else set()
    used = {p["spec"].get("nodeName") for p in sc.pods()}
    empty = len([n for n in sims if n["metadata"]["name"] not in used])
    for n in sims:
        name, lb = n["metadata"]["name"], dict(n["metadata"].get("labels") or {})
        pid = n["spec"]["providerID"]
        m = re.match(r"^sim:///([a-z0-9-]+)/(\d+)$", pid)
        sc.check(m is not None, "node %s: providerID %r is not sim:///ZONE/ID" % (name, pid))
        missing = [k for k in WELL_KNOWN if k not in lb]
        sc.check(not missing, "node %s lacks the labels %s: %s" % (name, missing, lb))
        sc.check(m.group(1) == lb["topology.kubernetes.io/zone"],
                 "node %s: providerID zone %s, label zone %s" % (name, m.group(1), lb["topology.kubernetes.io/zone"]))
        sc.check(lb["kubernetes.io/hostname"] == name, "node %s: hostname label %s" % (name, lb["kubernetes.io/hostname"]))
        sc.check(ctltest.node_ready(n), "node %s is not Ready: %s" % (name, n["status"].get("conditions")))
        lb.pop("kubernetes.io/hostname")
        offer = (lb["node.kubernetes.io/instance-type"], lb["karpenter.sh/capacity-type"],
                 lb["topology.kubernetes.io/zone"])
        if offer in planned:
            sc.check(lb == planned[offer], "node %s: labels %s differ from the template's %s"
                     % (name, lb, planned[offer]))
        else:
            sc.check(set(lb) == keys, "node %s: label keys %s differ from a template's %s"
                     % (name, sorted(lb), sorted(keys)))
    return sims, empty


def scale_up_events(sc, names):
    """TriggeredScaleUp Events: every one is about a pod among names."""
    evs = sc.events("TriggeredScaleUp")
    about = {e["involvedObject"].get("name") for e in evs}
    stray = about - set(names)
    sc.check(not stray, "TriggeredScaleUp Events about pods not in the workload: %s" % sorted(stray))
    return evs


def should_scale_up_for_pods_of_several_shapes_and_again_only_for_late_pods(binary):
    with ctltest.Scene(binary, "e2e") as sc:
        pods = workload()
        # And one pod that no instance type can hold: it stays Pending, with
        # a NotTriggerScaleUp Event, and buys nothing.
        huge = pod("huge-0", cpu="64", memory="1Gi")
        sc.create_pods(*pods + [huge])
        wait_unschedulable(sc, pods + [huge])
        plan = sc.recommend()
        sc.check(plan["summary"]["placed_pods"] == len(pods), "recommend places every pod but one: %s"
                 % plan["summary"])
        planned = plan["summary"]["new_nodes"]
        ctl = sc.controller("r0", "--leader-elect=true")
        decided = first_decision(sc, ctl)
        sc.check(abs(decided - planned) <= 1, "the controller's first decision asked for %d nodes, recommend planned "
                 "%d for the same pods (within one: the optimizer's budget is 1 s, not 10 s)" % (decided, planned))
        sc.wait_for("all %d pods Running but huge-0" % len(pods),
                    lambda: sc.all_running(len(pods) + 1, ignore={"huge-0"}), timeout=60)
        def about_huge():
            evs = [e for e in sc.events("NotTriggerScaleUp") if e["involvedObject"].get("name") == "huge-0"]
            return bool(evs), evs
        nots = sc.wait_for("a NotTriggerScaleUp Event about huge-0", about_huge, timeout=20)
        # Cluster Autoscaler records NotTriggerScaleUp as a Normal Event (its
        # scale_up status processor), with a message of why.
        sc.check(all(e["type"] == "Normal" and e.get("message") for e in nots),
                 "NotTriggerScaleUp is not a Normal Event with a message: %s" % nots)
        sims, empty = check_sim_nodes(sc, plan)
        cost, plan_cost = hourly_cost(sims), plan["summary"]["new_nodes_hourly_cost"]
        sc.check(len(sims) <= allowed_nodes(planned),
                 "%d sim nodes for a plan of %d (allowed %d)" % (len(sims), planned, allowed_nodes(planned)))
        dearest = max(n["hourly_cost"] for n in plan["nodes"] if n["new"])
        cost_cap = plan_cost + (allowed_nodes(planned) - planned) * dearest
        sc.check(cost <= cost_cap + 1e-9, "hourly cost %.4f, plan %.4f: over the %.4f allowed (the extra nodes "
                 "allowed at the plan's dearest price, %.4f)" % (cost, plan_cost, cost_cap, dearest))
        sc.check(len(sc.node_creates()) == len(sims), "nodes created %d, nodes now %d: one was removed"
                 % (len(sc.node_creates()), len(sims)))
        evs = scale_up_events(sc, [p["metadata"]["name"] for p in pods])
        sc.check(evs, "no TriggeredScaleUp Event")
        print("    first wave: %d pods, first decision %d nodes, %d in all ($%.4f/h, %d holding no pod); recommend "
              "planned %d ($%.4f/h); %d TriggeredScaleUp"
              % (len(pods), decided, len(sims), cost, empty, planned, plan_cost, len(evs)))

        # Later pods that the free room cannot hold: a second scale-up, for them only.
        late = [pod("late-%d" % i, cpu="1500m", memory="2Gi") for i in range(3)]
        before = {n["metadata"]["name"] for n in sims}
        plan2 = plan_while_paused(sc, sc.controllers[0], late)
        total = len(pods) + len(late) + 1
        sc.wait_for("all %d pods Running but huge-0" % (total - 1), lambda: sc.all_running(total, {"huge-0"}),
                    timeout=60)
        new, want, idle = check_wave(sc, "second wave", before, plan2, [p["metadata"]["name"] for p in late])
        print("    second wave: %d pods, %d new nodes (%d without a late pod); recommend planned %d"
              % (len(late), len(new), idle, want))


# Two replicas -------------------------------------------------------------------


def lease_flags(binary):
    """Short lease timings when the command has the flags (lease, renew
    deadline, retry period), else client-go's defaults 15 s, 10 s, 2 s."""
    out = subprocess.run([binary, "controller", "--help"], capture_output=True, text=True, timeout=30)
    if "--lease-duration" in out.stdout + out.stderr:
        return ["--lease-duration", "5s", "--renew-deadline", "4s", "--retry-period", "1s"], (5.0, 1.0)
    return [], (15.0, 2.0)


def takeover_bound(timing, released=False):
    """Seconds within which a follower must hold the Lease: the lease
    duration (not when released) plus a retry period with client-go's jitter
    (x 2.2), plus 2 s for a loaded machine."""
    lease, retry = timing
    return (0 if released else lease) + retry * 2.2 + 2.0


def two_replicas(sc, binary, *extra):
    flags, timing = lease_flags(binary)
    a = sc.controller("r0", "--leader-elect=true", *(flags + list(extra)))
    b = sc.controller("r1", "--leader-elect=true", *(flags + list(extra)))
    holder = sc.wait_for("a replica to hold the Lease", lambda: (sc.holder() in ("r0", "r1"), sc.holder()),
                         timeout=30)
    return (a, b) if holder == "r0" else (b, a), timing


def only_the_leader_acts(sc, leader, follower):
    writes = sc.writes_by(follower.identity)
    sc.check(not writes, "the follower %s wrote besides the Lease: %s"
             % (follower.identity, [(e["verb"], e["path"], e["code"]) for e in writes[:10]]))
    sc.check(sc.holder() == leader.identity, "the Lease holder is %s, not %s" % (sc.holder(), leader.identity))


def wait_takeover(sc, new, timing, t_kill, released=False):
    bound = takeover_bound(timing, released)
    sc.wait_for("%s to take the Lease" % new.identity, lambda: (sc.holder() == new.identity, sc.lease()),
                timeout=bound + 10)
    took = time.time() - t_kill
    sc.check(took <= bound, "%s took the Lease %.1f s after the leader went; the bound is %.1f s"
             % (new.identity, took, bound))
    return took


def should_take_over_after_the_leader_is_killed_midway_and_at_rest_without_launching_twice(binary):
    with ctltest.Scene(binary, "failover") as sc:
        pods = workload()
        sc.create_pods(*pods)
        wait_unschedulable(sc, pods)
        planned = sc.recommend()["summary"]["new_nodes"]
        # A longer launch delay: the leader is killed after its scale-up was
        # requested (its first Node created) and before the nodes are Ready.
        (leader, follower), timing = two_replicas(sc, binary, "--sim-launch-delay", "4s")
        sc.wait_for("the leader's first scale-up", lambda: (len(sc.node_creates()) > 0 or
                                                            len(sc.events("TriggeredScaleUp")) > 0, "none yet"),
                    timeout=30)
        only_the_leader_acts(sc, leader, follower)
        ready = [n["metadata"]["name"] for n in sc.nodes() if ctltest.node_ready(n)]
        leader.must_run = False
        leader.kill()
        t_kill = time.time()
        took = wait_takeover(sc, follower, timing, t_kill)
        sc.wait_for("all %d pods Running after the failover" % len(pods), lambda: sc.all_running(len(pods)),
                    timeout=60)
        created = sc.node_creates()
        sc.check(len(created) <= allowed_nodes(planned),
                 "%d nodes created across the failover for a plan of %d (allowed %d): capacity asked twice"
                 % (len(created), planned, allowed_nodes(planned)))
        print("    midway (%d nodes Ready at the kill): takeover in %.1f s, %d nodes created in all, plan %d"
              % (len(ready), took, len(created), planned))

        # At rest: the old leader comes back as a follower, the new one is killed.
        leader.must_run = True
        leader.start()
        sc.wait_for("the restarted replica to be ready", lambda: (leader.get("/readyz")[0] == 200,
                                                                  leader.get("/readyz")), timeout=30)
        follower.must_run = False
        follower.kill()
        took = wait_takeover(sc, leader, timing, time.time())
        more = [pod("after-%d" % i, cpu="1500m", memory="2Gi") for i in range(2)]
        before = {n["metadata"]["name"] for n in sim_nodes(sc.nodes())}
        plan3 = plan_while_paused(sc, leader, more)
        sc.wait_for("all pods Running after the second failover", lambda: sc.all_running(len(pods) + len(more)),
                    timeout=60)
        new, want, _ = check_wave(sc, "after the failover at rest", before, plan3,
                                  [p["metadata"]["name"] for p in more])
        print("    at rest: takeover in %.1f s, %d nodes for the 2 later pods (plan %d)" % (took, len(new), want))


def should_release_the_lease_on_sigterm_and_the_follower_takes_over_within_a_retry_period(binary):
    with ctltest.Scene(binary, "sigterm") as sc:
        (leader, follower), timing = two_replicas(sc, binary, "--shutdown-timeout", "5s")
        sc.wait_for("the follower to be ready", lambda: (follower.get("/readyz")[0] == 200, follower.get("/readyz")),
                    timeout=30)
        leader.must_run = False
        rc, took = ctltest.stop_gracefully(leader, 5 + 10)
        sc.check(rc == 0, "the leader exited with %s %.1f s after SIGTERM (want 0 within 5 s + 10 s)" % (rc, took))
        t_exit = time.time()
        lease = sc.lease()
        spec = (lease or {}).get("spec", {})
        sc.check(spec.get("holderIdentity") in (None, "", follower.identity) or spec.get("leaseDurationSeconds") == 1,
                 "after SIGTERM the Lease still names %s: %s" % (spec.get("holderIdentity"), lease))
        took2 = wait_takeover(sc, follower, timing, t_exit, released=True)
        print("    leader exited 0 in %.1f s; follower took over %.1f s later" % (took, took2))


TESTS = [(f.__name__, f) for f in (
    should_scale_up_for_pods_of_several_shapes_and_again_only_for_late_pods,
    should_take_over_after_the_leader_is_killed_midway_and_at_rest_without_launching_twice,
    should_release_the_lease_on_sigterm_and_the_follower_takes_over_within_a_retry_period)]
# Controller bugs these tests still trip over (bugs_ctl.md); empty when none.
KNOWN = {}

if __name__ == "__main__":
    sys.exit(ctltest.run_tests(TESTS, sys.argv, KNOWN))
