#!/usr/bin/env python3
"""Host ports (NodePorts), the node lifecycle controller's condition taints
and the cordon toleration (NodeUnschedulable), end to end: `recommend -o
json` and `recommend --mode repack` on the snapshots of
tests/data/realworld/ports/ and small inline ones, every plan verified by the
independent checker (tests/checker.py), and the checker shown to reject
plans that break each rule.

    python3 tests/test_sched_ports.py [build/controller/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checker  # noqa: E402
import repack_fixture as fx  # noqa: E402
from test_cli import Runner, Cli, find_binary, TINY  # noqa: E402

PORTS = os.path.join(HERE, "data", "realworld", "ports")
HOSTPORTS = os.path.join(PORTS, "hostports.json")
CONDITIONS = os.path.join(PORTS, "conditions.json")
RESERVED_KEY = "stevedore.io/host-port"


def check(snapshots, plan):
    inp = checker.load_inputs(snapshots, TINY)
    return checker.check_plan(inp, plan, list(checker.DEFAULT_CAPACITY_TYPES))


def feasible(snapshots, plan):
    res = check(snapshots, plan)
    assert res.ok, "checker: plan not feasible:\n%s\nplan: %s" % (
        "\n".join(res.violations), json.dumps(plan, indent=1)[:3000])


def where(plan):
    """pod key -> node name."""
    return {k: n["name"] for n in plan["nodes"] for k in n["pods"]}


def unsched(plan):
    return {u["pod"]: u["reason"] for u in plan["unschedulable"]}


def move(plan, key, to):
    """A copy of plan with pod key moved onto node to (an existing name or
    a node of the plan)."""
    p = copy.deepcopy(plan)
    for n in p["nodes"]:
        if key in n["pods"]:
            n["pods"].remove(key)
    p["nodes"] = [n for n in p["nodes"] if n["pods"] or n["name"] == to]
    for n in p["nodes"]:
        if n["name"] == to:
            n["pods"].append(key)
            return p
    p["nodes"].append({"name": to, "new": False, "pods": [key]})
    return p


def port(host_port, proto=None, ip=None, container_port=None):
    d = {"containerPort": container_port or host_port}
    if host_port:
        d["hostPort"] = host_port
    if proto:
        d["protocol"] = proto
    if ip:
        d["hostIP"] = ip
    return d


def with_ports(p, ports, host_network=False):
    p["spec"]["containers"][0]["ports"] = ports
    if host_network:
        p["spec"]["hostNetwork"] = True
    return p


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    cli = Cli(binary)

    def plan_of(path, extra=()):
        return cli.plan([path], extra=list(extra))

    # ---- host ports

    def three_on_8080():
        items = [with_ports(fx.pod("web-%d" % i, cpu="100m", mem="128Mi"), [port(8080)])
                 for i in range(3)]
        path = cli.write("three8080.json", fx.snapshot(items))
        plan = plan_of(path)
        feasible([path], plan)
        w = where(plan)
        assert len(w) == 3 and len(set(w.values())) == 3, "pods share a node: %s" % w
    t.run("three pending pods asking host port 8080 get three nodes", three_on_8080)

    def realworld_ports():
        rc, out, err = cli.run(["recommend", "--snapshot", HOSTPORTS, "--catalog", TINY,
                                "--output", "json"])
        assert rc == 0, err
        plan = json.loads(out)
        feasible([HOSTPORTS], plan)
        w, u = where(plan), unsched(plan)
        ing = [k for k in w if k.startswith("ingress-nginx/")]
        assert len(ing) == 3, w
        assert len({w[k] for k in ing}) == 3, "ingress replicas share a node: %s" % w
        assert "ip-10-0-1-10.ec2.internal" not in {w[k] for k in ing}, \
            "an ingress replica went where the running one holds ports 80 and 443: %s" % w
        assert "monitoring/prometheus-agent-0" in u, "9100/TCP is held by node-exporter everywhere: %s" % w
        assert "host port 9100/TCP" in u["monitoring/prometheus-agent-0"], u
        assert "logging/syslog-udp-6f7d8-2ll8c" in w, "9100/UDP does not clash with 9100/TCP: %s" % u
        anyd = w.get("kube-system/dns-cache-any-5f6b7-ccccc")
        assert anyd is not None, u
        for k in ("kube-system/dns-cache-5f6b7-aaaaa", "kube-system/dns-cache-5f6b7-bbbbb"):
            assert k in w and w[k] != anyd, "53/UDP on 0.0.0.0 shares a node with %s: %s" % (k, w)
        assert RESERVED_KEY not in out and RESERVED_KEY not in err, "reserved keys leak into output"
        rc, out, err = cli.run(["recommend", "--snapshot", HOSTPORTS, "--catalog", TINY])
        assert rc == 0, err
        assert RESERVED_KEY not in out and RESERVED_KEY not in err, "reserved keys leak into the table"
        assert "host port 9100/TCP" in out + err, out + err
    t.run("running and DaemonSet pods hold their host ports; overlap by protocol and hostIP",
          realworld_ports)

    def specific_ips():
        node = fx.node("n1", cpu="4", mem="16Gi")
        a = with_ports(fx.pod("dns-a", cpu="100m", mem="64Mi", app="dns-a"), [port(53, "UDP", "10.0.0.1")])
        b = with_ports(fx.pod("dns-b", cpu="100m", mem="64Mi", app="dns-b"), [port(53, "UDP", "10.0.0.2")])
        path = cli.write("ips.json", fx.snapshot([node, a, b]))
        plan = plan_of(path)
        feasible([path], plan)
        w = where(plan)
        assert w == {"default/dns-a": "n1", "default/dns-b": "n1"}, \
            "distinct specific hostIPs share a node: %s" % w
        b2 = with_ports(fx.pod("dns-b", cpu="100m", mem="64Mi", app="dns-b"), [port(53, "UDP", "10.0.0.1")])
        path = cli.write("ips2.json", fx.snapshot([node, a, b2]))
        plan = plan_of(path)
        feasible([path], plan)
        w = where(plan)
        assert len(set(w.values())) == 2, "the same hostIP twice on one node: %s" % w
    t.run("pods on one port with distinct specific hostIPs share a node, equal ones do not", specific_ips)

    def host_network_default():
        node = fx.node("n1", cpu="4", mem="16Gi")
        ds = with_ports(fx.pod("exporter-n1", "n1", cpu="100m", mem="64Mi", owner="DaemonSet", app="exporter"),
                        [port(9100)], host_network=True)
        p = with_ports(fx.pod("agent", cpu="100m", mem="64Mi", app="agent"), [port(0, container_port=9100)],
                       host_network=True)
        q = with_ports(fx.pod("plain", cpu="100m", mem="64Mi", app="plain"), [port(0, container_port=9100)])
        path = cli.write("hostnet.json", fx.snapshot([node, ds, p, q]))
        plan = plan_of(path)
        feasible([path], plan)
        w, u = where(plan), unsched(plan)
        assert w.get("default/plain") == "n1", "a containerPort alone asks for no host port: %s %s" % (w, u)
        assert "default/agent" in u, "hostNetwork makes containerPort 9100 a host port: %s" % w
    t.run("hostNetwork makes containerPort a host port; a containerPort alone asks nothing",
          host_network_default)

    def checker_rejects_port_clash():
        plan = plan_of(HOSTPORTS)
        w = where(plan)
        ing = sorted(k for k in w if k.startswith("ingress-nginx/"))
        bad = move(plan, ing[0], w[ing[1]])
        res = check([HOSTPORTS], bad)
        assert "hostPort" in res.rules(), res.violations
        bad = move(plan, "monitoring/prometheus-agent-0", "ip-10-0-1-10.ec2.internal")
        bad["unschedulable"] = [x for x in bad["unschedulable"] if x["pod"] != "monitoring/prometheus-agent-0"]
        res = check([HOSTPORTS], bad)
        assert any("hostPort" in v and "node-exporter" in v for v in res.violations), res.violations
    t.run("the checker rejects two pods on one host port, and a port a running pod holds",
          checker_rejects_port_clash)

    def repack_keeps_ports_apart():
        items = []
        for i in range(4):
            items.append(fx.node("n%d" % i))
            items.append(with_ports(fx.pod("lb-%d" % i, "n%d" % i, cpu="500m", mem="512Mi", app="lb"),
                                    [port(8080)]))
        path = cli.write("repack.json", fx.snapshot(items))
        plan = cli.plan([path], extra=["--mode", "repack", "--time-limit", "1",
                                       "--capacity-types", "reserved,on-demand"])
        inp = checker.load_inputs([path], TINY)
        res = checker.check_repack(inp, plan)
        assert res.ok, "\n".join(res.violations)
        # Every pod that moves lands on a node of its own.
        rp = plan["repack"]
        kept = {e["name"] for e in rp["keep"]}
        per_node = {}
        for n in plan["nodes"]:
            per_node[n["name"]] = len(n["pods"]) + (1 if n["name"] in kept else 0)
        assert all(v == 1 for v in per_node.values()), "host port 8080 twice on a node: %s" % plan["nodes"]
    t.run("the what-if repack keeps pods of one host port on separate nodes", repack_keeps_ports_apart)

    def report_hides_reserved_keys():
        with open(HOSTPORTS) as f:
            snap = json.load(f)
        for it in snap["items"]:
            if it["kind"] == "Node":
                it["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "c.large"
        path = cli.write("report.json", snap)
        rc, out, err = cli.run(["report", "--snapshot", path, "--catalog", TINY,
                                "--by", "label:" + RESERVED_KEY + ":TCP/80", "-o", "json"])
        assert rc == 0, err
        groups = [r["group"] for r in json.loads(out)["rows"]]
        assert groups == ["__unallocated__"], "a reserved key grouped pods: %s" % groups
        rc, out, err = cli.run(["report", "--snapshot", path, "--catalog", TINY, "--by", "label:app.kubernetes.io/name"])
        assert rc == 0, err
        assert RESERVED_KEY not in out + err, out + err
    t.run("the cost report never groups by a reserved host-port key", report_hides_reserved_keys)

    # ---- node conditions and cordons

    def realworld_conditions():
        plan = plan_of(CONDITIONS)
        feasible([CONDITIONS], plan)
        w, u = where(plan), unsched(plan)
        assert not u, u
        ready = "ip-10-0-2-1.ec2.internal"
        for k, n in w.items():
            if k.startswith("shop/web-"):
                assert n == ready or n.startswith("stevedore-"), \
                    "%s placed on %s, which its taints or conditions keep it off" % (k, n)
        assert w["kube-system/cni-repair-0"] in ("ip-10-0-2-2.ec2.internal", "ip-10-0-2-8.ec2.internal"), w
        assert w["ops/drain-helper-0"] == "ip-10-0-2-7.ec2.internal", w
        assert w["shop/cache-warmer-0"] == "ip-10-0-2-4.ec2.internal", w
        rc, out, err = cli.run(["recommend", "--snapshot", CONDITIONS, "--catalog", TINY, "-o", "json"])
        assert rc == 0, err
        want = ("stevedore recommend: note: 6 nodes tainted by their conditions "
                "(ip-10-0-2-2.ec2.internal (not-ready), ip-10-0-2-3.ec2.internal (unreachable), "
                "ip-10-0-2-4.ec2.internal (memory-pressure), ...) take only pods that tolerate those taints")
        assert want in err, "want %r on stderr:\n%s" % (want, err)
        rc, out, err = cli.run(["recommend", "--snapshot", CONDITIONS, "--catalog", TINY, "-q"])
        assert rc == 0 and "note:" not in err, err
    t.run("not-ready, unreachable, pressured and cordoned nodes take only the pods tolerating them",
          realworld_conditions)

    def checker_rejects_condition_nodes():
        plan = plan_of(CONDITIONS)
        web = sorted(k for k in where(plan) if k.startswith("shop/web-"))[0]
        for node, rule in (("ip-10-0-2-2.ec2.internal", "taint"), ("ip-10-0-2-3.ec2.internal", "taint"),
                           ("ip-10-0-2-5.ec2.internal", "taint"), ("ip-10-0-2-6.ec2.internal", "taint"),
                           ("ip-10-0-2-7.ec2.internal", "cordon")):
            res = check([CONDITIONS], move(plan, web, node))
            assert rule in res.rules(), "%s on %s: %s" % (web, node, res.violations)
    t.run("the checker rejects pods on nodes whose conditions taint them, and on a cordoned node",
          checker_rejects_condition_nodes)

    def cordon_toleration_inline():
        node = fx.node("c1", unschedulable=True)
        p = fx.pod("tolerant", cpu="1", mem="1Gi", app="tolerant")
        p["spec"]["tolerations"] = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                     "effect": "NoSchedule"}]
        q = fx.pod("plain", cpu="1", mem="1Gi", app="plain")
        path = cli.write("cordon.json", fx.snapshot([node, p, q]))
        plan = plan_of(path)
        feasible([path], plan)
        w = where(plan)
        assert w["default/tolerant"] == "c1", w
        assert w["default/plain"] != "c1", w
    t.run("a cordoned node takes a pod tolerating node.kubernetes.io/unschedulable, and no other",
          cordon_toleration_inline)

    # ---- bad input

    def bad_input():
        cases = [
            (with_ports(fx.pod("p"), [port(70000)]),
             "items[0] Pod default/p: spec.containers[0].ports[0].hostPort: 70000 is not a port"),
            (with_ports(fx.pod("p"), [port(80, "HTTP")]),
             "items[0] Pod default/p: spec.containers[0].ports[0].protocol: unknown protocol \"HTTP\""),
        ]
        n = fx.node("n1")
        n["status"]["conditions"] = [{"type": "Ready", "status": "Maybe"}]
        cases.append((n, "items[0] Node n1: status.conditions[0].status: unknown status \"Maybe\""))
        n = fx.node("n1")
        n["status"]["conditions"] = [{"status": "True"}]
        cases.append((n, "items[0] Node n1: status.conditions[0].type: missing"))
        for i, (obj, msg) in enumerate(cases):
            path = cli.write("bad%d.json" % i, fx.snapshot([obj]))
            rc, out, err = cli.run(["recommend", "--snapshot", path, "--catalog", TINY])
            assert rc != 0, "accepted: %s" % json.dumps(obj)[:300]
            assert path in err and msg in err, "want %r in:\n%s" % (msg, err)
    t.run("bad ports and conditions are errors naming the file, item and field", bad_input)

    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
