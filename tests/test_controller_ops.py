#!/usr/bin/env python3
"""`stevedore controller` against the API emulator (tests/ctltest.py): what
an operator relies on beyond scaling itself.

- /healthz follows the event loop: the hidden --test-block-loop blocks the
  loop thread once (docs/testing.md); /healthz answers 503 within the
  liveness limit (3 heartbeats of 1 s plus 2 s) and 200 again after, while
  /readyz, answered by the HTTP thread, stays 200.
- The configuration's economics reach the controller's decisions: a node
  pool that does not allow burstable types gets no t3/t4g node (one that
  does gets one, so the catalogue makes them attractive), and a top-level
  nodeCost buys fewer, larger nodes than none (dry runs: the decisions'
  scale-ups are counted).
- A node that does not register within --max-provision-time is given up
  (the decision, the log and stevedore_nodes_given_up_total), its group is
  backed off for 300 s, and the pods get a node of another offering.

    python3 tests/test_controller_ops.py [path/to/stevedore] [test names...]
"""

import json
import os
import re
import sys
import time

import ctltest
from ctltest import pod
from test_controller_e2e import wait_unschedulable

LIVENESS_S = 5.0  # controller/daemon/daemon.c: LIVENESS_S
BLOCK_S = 10.0


def ready(sc, ctl):
    sc.wait_for("controller %s to answer /readyz 200 (first full sync)" % ctl.identity,
                lambda: (ctl.get("/readyz")[0] == 200, ctl.get("/readyz")), timeout=30)


def should_fail_healthz_while_the_loop_is_blocked_and_answer_200_again_after(binary):
    with ctltest.Scene(binary, "health") as sc:
        ctl = sc.controller("r0", "--leader-elect=false", "--test-block-loop", "%gs" % BLOCK_S)
        sc.wait_for("the loop to be blocked (the test hook's log line)",
                    lambda: ctl.records("test hook: blocking the loop thread"), timeout=30)
        t_block = time.time()
        started = [r for r in ctl.records("started")]
        sc.check(started and started[-1].get("liveness_s") == LIVENESS_S,
                 "the started line names the liveness limit %g s: %s" % (LIVENESS_S, started[-1:]))
        code, body = sc.wait_for("/healthz to answer 503 while the loop is blocked",
                                 lambda: (ctl.get("/healthz")[0] == 503, ctl.get("/healthz")),
                                 timeout=BLOCK_S + 5, every=0.1)
        t_fail = time.time() - t_block
        sc.check("event loop has not run" in body and "limit is 5.0 s" in body,
                 "the 503 says why: %r" % body)
        # Not before the limit: the loop's last heartbeat came just before it blocked.
        sc.check(t_fail >= LIVENESS_S - 1.0, "/healthz failed %.1f s into the block, before the %g s limit"
                 % (t_fail, LIVENESS_S))
        # The HTTP thread still answers the rest.
        sc.check(ctl.get("/readyz")[0] == 200, "/readyz stays 200 during the block: %s" % (ctl.get("/readyz"),))
        sc.wait_for("/healthz to answer 200 again once the loop runs",
                    lambda: (ctl.get("/healthz")[0] == 200, ctl.get("/healthz")), timeout=BLOCK_S + 10)
        t_back = time.time() - t_block
        sc.check(ctl.records("test hook: the loop thread runs again"), "the loop says it runs again")
        sc.check(ctl.alive(), "the controller is still running")
        print("    blocked %g s: /healthz 503 from %.1f s, 200 again at %.1f s (limit %g s)"
              % (BLOCK_S, t_fail, t_back, LIVENESS_S))


# An on-demand catalogue in one zone: two m5 sizes (the larger a little dearer per cpu) and two
# burstable types, cheaper than m5.large for memory-bound pods (docs/catalog.md, "Burstable types").
def _od(price):
    return [{"capacity_type": "on-demand", "zone": "us-east-1a", "price": price}]


ECON_CATALOG = {"provider": "aws", "region": "us-east-1", "currency": "USD", "source": "stevedore ops tests",
                "instance_types": [
                    {"name": "m5.large", "arch": "amd64", "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"},
                     "allocatable": {"cpu": "1930m", "memory": "6903Mi", "pods": "29"}, "offerings": _od(0.096)},
                    {"name": "m5.2xlarge", "arch": "amd64",
                     "capacity": {"cpu": "8", "memory": "32Gi", "pods": "58"},
                     "allocatable": {"cpu": "7910m", "memory": "28000Mi", "pods": "58"}, "offerings": _od(0.40)},
                    {"name": "t3.large", "arch": "amd64", "capacity": {"cpu": "2", "memory": "8Gi", "pods": "35"},
                     "allocatable": {"cpu": "1930m", "memory": "6903Mi", "pods": "35"}, "offerings": _od(0.0832),
                     "burstable": {"baseline": 0.3, "surplus_price": 0.05}},
                    {"name": "t4g.large", "arch": "arm64", "capacity": {"cpu": "2", "memory": "8Gi", "pods": "35"},
                     "allocatable": {"cpu": "1930m", "memory": "6903Mi", "pods": "35"}, "offerings": _od(0.0672),
                     "burstable": {"baseline": 0.3, "surplus_price": 0.05}}]}

SCALE_UP = re.compile(r"\+(\d+) nodes? of (\S+) in ")


def planned_by_controller(binary, name, config, pods):
    """Runs a dry-run controller with config (YAML text) on ECON_CATALOG for
    pods created before it starts (one batch); returns {instance type:
    nodes} of its scale-up decisions once it has reconciled."""
    with ctltest.Scene(binary, name) as sc:
        with open(sc.catalog, "w") as f:
            json.dump(ECON_CATALOG, f, indent=1)
        cfg = os.path.join(sc.tmp, "stevedore.yaml")
        with open(cfg, "w") as f:
            f.write(config)
        sc.create_pods(*pods)
        wait_unschedulable(sc, pods)
        ctl = sc.controller("r0", "--leader-elect=false", "--dry-run", "--config", cfg)
        # A dry run counts no scale-up in its statistics, but its plan's nodes are in flight.
        rec = sc.wait_for("the controller's first reconcile with nodes in flight",
                          lambda: [r for r in ctl.records("reconciled") if r.get("inflight")], timeout=60)
        counts = {}
        for r in ctl.records("decision"):
            m = SCALE_UP.search(r.get("text", "")) if r.get("kind") == "scale_up" else None
            if m:
                counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1))
        sc.check(counts, "no scale_up decision parsed from %s" % rec)
        return counts


def memory_pods():
    """Six pods of 100m and 1Gi: a burstable type's baseline (600m) holds them."""
    return [pod("mem-%d" % i, cpu="100m", memory="1Gi") for i in range(6)]


def should_use_no_burstable_type_where_the_node_pool_does_not_allow_them(binary):
    pool = "capacityTypes: [on-demand]\nnodePools:\n  - name: general\n    burstable: {allowed: %s}\n"
    allowed = planned_by_controller(binary, "burst-on", pool % "true", memory_pods())
    denied = planned_by_controller(binary, "burst-off", pool % "false", memory_pods())
    burst = ("t3.large", "t4g.large")
    assert any(t in allowed for t in burst), \
        "with burstables allowed the cheaper t3/t4g should be chosen (else this test shows nothing): %s" % allowed
    assert not any(t in denied for t in burst), "burstables not allowed, yet planned: %s" % denied
    print("    allowed: %s; not allowed: %s" % (allowed, denied))


def should_choose_fewer_larger_nodes_with_a_node_cost(binary):
    pods = [pod("cpu-%d" % i, cpu="900m", memory="1Gi") for i in range(12)]
    base = "capacityTypes: [on-demand]\n"
    plain = planned_by_controller(binary, "nodecost-0", base, pods)
    costly = planned_by_controller(binary, "nodecost-1", base + "nodeCost: 0.1\n", pods)
    n_plain, n_costly = sum(plain.values()), sum(costly.values())
    assert n_costly < n_plain, "nodeCost 0.1 should buy fewer nodes: %d %s vs %d %s without" % (
        n_costly, costly, n_plain, plain)
    assert costly.get("m5.2xlarge", 0) > plain.get("m5.2xlarge", 0), \
        "nodeCost should buy larger nodes: %s vs %s" % (costly, plain)
    print("    without nodeCost %d nodes %s; nodeCost 0.1: %d nodes %s" % (n_plain, plain, n_costly, costly))


def decisions(ctl, kind):
    return [r["text"] for r in ctl.records("decision") if r.get("kind") == kind]


GROUP = re.compile(r"^group (\S+):")


def stamp(ctl, kind, group):
    """The log time (s) of the first decision of kind about group."""
    for r in ctl.records("decision"):
        if r.get("kind") == kind and r.get("text", "").startswith("group %s" % group):
            t = time.strptime(r["ts"][:19], "%Y-%m-%dT%H:%M:%S")
            return time.mktime(t) + float("0" + r["ts"][19:-1])
    raise AssertionError("no %s decision about %s" % (kind, group))


def should_give_up_a_node_not_registered_in_time_back_off_its_group_and_choose_another(binary):
    with ctltest.Scene(binary, "giveup") as sc:
        pods = [pod("web-%d" % i, cpu="500m") for i in range(2)]
        sc.create_pods(*pods)
        wait_unschedulable(sc, pods)
        t0 = time.time()
        ctl = sc.controller("r0", "--leader-elect=false", "--max-provision-time", "3s",
                            "--sim-launch-delay", "30s")
        first = sc.wait_for("a first scale-up", lambda: decisions(ctl, "scale_up"), timeout=60)
        group_a = GROUP.match(first[0]).group(1)
        gave = sc.wait_for("the node of %s to be given up" % group_a,
                           lambda: [t for t in decisions(ctl, "give_up") if t.startswith("group %s:" % group_a)],
                           timeout=30)
        t_give = time.time() - t0
        sc.check("did not register within 3 s" in gave[0], "the give-up says why: %s" % gave[0])
        sc.wait_for("the backoff of %s" % group_a,
                    lambda: [t for t in decisions(ctl, "backoff")
                             if t.startswith("group %s backed off for 300 s" % group_a)], timeout=10)
        other = sc.wait_for("a scale-up of another offering for the pods",
                            lambda: [t for t in decisions(ctl, "scale_up") if GROUP.match(t).group(1) != group_a],
                            timeout=30)
        sc.wait_for("stevedore_nodes_given_up_total to count it",
                    lambda: ((ctl.metric("stevedore_nodes_given_up_total") or 0) >= 1,
                             ctl.metric("stevedore_nodes_given_up_total")), timeout=10)
        # Looked for every second (the controller's housekeeping period): given up at most about 1 s
        # late, where the reconciler's default period of 10 s gives it up 8 to 10 s after the scale-up.
        late = stamp(ctl, "give_up", group_a) - stamp(ctl, "scale_up", group_a)
        sc.check(late < 3 + 4, "given up %.1f s after its scale-up, for a limit of 3 s" % late)
        print("    %s given up %.1f s after its scale-up (%.1f s after start); then %s"
              % (group_a, late, t_give, GROUP.match(other[0]).group(1)))


TESTS = [(f.__name__, f) for f in (
    should_fail_healthz_while_the_loop_is_blocked_and_answer_200_again_after,
    should_use_no_burstable_type_where_the_node_pool_does_not_allow_them,
    should_choose_fewer_larger_nodes_with_a_node_cost,
    should_give_up_a_node_not_registered_in_time_back_off_its_group_and_choose_another)]

if __name__ == "__main__":
    sys.exit(ctltest.run_tests(TESTS, sys.argv))
