#!/usr/bin/env python3
"""Whole-binary tests of `stevedore report`: figures against the hand
computation below, every output format, grouping, shared cost, right-sizing,
and bad input (each must exit non-zero, print nothing on stdout and say what
is wrong, naming the file, the item and the field).

    python3 tests/test_report_cli.py [build/controller/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.

The fixture (ratios from the config: 1 per core, 0.25 per GiB, 8 per GPU):

  n1  m.large on-demand z1, 0.20/h: cpu 0.10 (0.05 per core-hour),
      ram 0.10 (0.0125 per GiB-hour)
      kube-system/coredns  req 100m 256Mi, usage 5m 20Mi  -> 0.005 + 0.003125
      team-a/web-...-aaaaa req 500m 1Gi,   usage 800m 512Mi
                           -> max: 0.8 core (0.04) + 1 GiB (0.0125) = 0.0525
      team-a/web-...-bbbbb req 500m 1Gi,   usage 100m 2Gi
                           -> 0.5 core (0.025) + 2 GiB (0.025) = 0.05
      idle: 0.6 core (0.03) + 4.75 GiB (0.059375) = 0.089375
  n2  m.large spot (Karpenter label) z1, 0.08/h: 0.02 per core-hour,
      0.005 per GiB-hour
      team-b/api-0 (StatefulSet api)  req 1 cpu 4Gi, no usage -> 0.04
      team-b/batch-28512345-x (CronJob batch) req 250m -> 0.005
      idle 0.035
  n3  x.unknown: unpriced (not in the catalogue); team-c/lost on it
  team-a/web-...-ccccc pending

  node cost 0.28/h = 204.40/month; shared (kube-system) 0.008125/h spread
  evenly: 0.0040625 each; team-a 0.1065625/h = 77.790625/month,
  team-b 0.0490625/h = 35.815625/month, idle 0.124375/h = 90.79375/month.
"""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Runner  # noqa: E402

MONTH = 730.0



def catalog():
    def t(name, cpu, mem, offerings, extra=None):
        cap = {"cpu": cpu, "memory": mem, "pods": "110"}
        cap.update(extra or {})
        return {"name": name, "arch": "amd64", "capacity": cap, "offerings": offerings}
    return {"provider": "test", "region": "r1", "currency": "USD", "instance_types": [
        t("m.large", "2", "8Gi", [
            {"capacity_type": "on-demand", "zone": "z1", "price": 0.20},
            {"capacity_type": "spot", "zone": "z1", "price": 0.08}]),
        t("g.xlarge", "4", "16Gi", [{"capacity_type": "on-demand", "zone": "z1", "price": 2.0}],
          {"nvidia.com/gpu": "1"}),
    ]}


def node(name, itype, labels=None, provider_id=None):
    l = {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": "z1",
         "node.kubernetes.io/instance-type": itype}
    l.update(labels or {})
    spec = {"providerID": provider_id} if provider_id else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": l}, "spec": spec,
            "status": {"allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                       "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"}}}


def pod(ns, name, node_name, cpu, mem, owner=None, labels=None, annotations=None, phase="Running"):
    meta = {"name": name, "namespace": ns, "labels": labels or {}}
    if annotations:
        meta["annotations"] = annotations
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                    "uid": "uid-" + owner[1], "controller": True}]
    req = {"cpu": cpu}
    if mem:
        req["memory"] = mem
    spec = {"containers": [{"name": "c", "resources": {"requests": req}}]}
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": phase}}


WEB_LABELS = {"app": "web", "pod-template-hash": "5d8f9c7b6d", "team": "red"}
WEB_OWNER = ("ReplicaSet", "web-5d8f9c7b6d")


def snapshot():
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [
        node("n1", "m.large", {"karpenter.sh/capacity-type": "on-demand"}),
        node("n2", "m.large", {"karpenter.sh/capacity-type": "spot"}),
        node("n3", "x.unknown"),
        pod("kube-system", "coredns-6d4cf56db6-abcde", "n1", "100m", "256Mi",
            ("ReplicaSet", "coredns-6d4cf56db6"), {"pod-template-hash": "6d4cf56db6"}),
        pod("team-a", "web-5d8f9c7b6d-aaaaa", "n1", "500m", "1Gi", WEB_OWNER, WEB_LABELS,
            {"example.com/cost-center": "cc-1"}),
        pod("team-a", "web-5d8f9c7b6d-bbbbb", "n1", "500m", "1Gi", WEB_OWNER, WEB_LABELS,
            {"example.com/cost-center": "cc-1"}),
        pod("team-a", "web-5d8f9c7b6d-ccccc", None, "500m", "1Gi", WEB_OWNER, WEB_LABELS, phase="Pending"),
        pod("team-b", "api-0", "n2", "1", "4Gi", ("StatefulSet", "api"), {"app": "api", "team": "blue"}),
        pod("team-b", "batch-28512345-xyz12", "n2", "250m", None, ("Job", "batch-28512345")),
        pod("team-c", "lost", "n3", "1", "1Gi"),
    ]}


def metrics():
    def pm(ns, name, containers):
        return {"metadata": {"name": name, "namespace": ns, "creationTimestamp": "2024-05-01T00:00:00Z"},
                "timestamp": "2024-05-01T00:00:00Z", "window": "30s",
                "containers": [{"name": "c%d" % i, "usage": {"cpu": c, "memory": m}}
                               for i, (c, m) in enumerate(containers)]}
    return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [
        pm("kube-system", "coredns-6d4cf56db6-abcde", [("5m", "20Mi")]),
        pm("team-a", "web-5d8f9c7b6d-aaaaa", [("800000000n", "512Mi")]),
        pm("team-a", "web-5d8f9c7b6d-bbbbb", [("60m", "1Gi"), ("40000000n", "1048576Ki")]),
        pm("gone", "old-pod", [("1m", "1Mi")]),
    ]}


RATIOS = "  ratios: {cpu: 1, ramGiB: 0.25, gpu: 8}\n"
CONFIG = "report:\n" + RATIOS


class Case(object):
    def __init__(self, binary, tmp):
        self.binary = binary
        self.tmp = tmp

    def write(self, name, obj):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            if isinstance(obj, str):
                f.write(obj)
            else:
                json.dump(obj, f, indent=1)
        return path

    def run(self, args):
        p = subprocess.run([self.binary] + args, capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def ok(self, args):
        rc, out, err = self.run(args)
        assert rc == 0, "exit %d for %s\nstderr: %s" % (rc, " ".join(args), err)
        return out, err

    def expect_error(self, args, needles, status=None):
        rc, out, err = self.run(args)
        assert rc != 0, "expected a failure for %s, got exit 0\nstdout: %s" % (" ".join(args), out[:500])
        if status is not None:
            assert rc == status, "exit %d, expected %d; stderr: %s" % (rc, status, err)
        assert out == "", "stdout not empty on error: %r" % out[:300]
        assert err.startswith("stevedore report: "), "stderr: %r" % err
        assert len(err.strip().splitlines()) == 1, "more than one line on stderr: %r" % err
        for n in needles:
            assert n in err, "%r not in stderr: %s" % (n, err)
        return err


def near(a, b, eps=0.011, what=""):
    assert abs(a - b) <= eps, "%s: %r, expected %r" % (what, a, b)


def rows_by_group(doc):
    return {r["group"]: r for r in doc["rows"]}


def check_cents(doc):
    """The identities every report keeps, in whole cents."""
    t = doc["totals"]
    c = lambda x: int(round(x * 100))
    rows = doc["rows"]
    for r in rows:
        assert c(r["cpu_cost"]) + c(r["ram_cost"]) + c(r["gpu_cost"]) + c(r["shared_cost"]) == c(r["total_cost"]), r
    assert sum(c(r["total_cost"]) for r in rows) + c(t["idle"]) == c(t["total"]), t
    assert c(t["allocated"]) + c(t["shared"]) + c(t["idle"]) == c(t["node_cost"]) + c(t["overhead"]), t
    assert c(t["total"]) == c(t["node_cost"]) + c(t["overhead"]), t
    assert t["reconciled"] is True, t


def find_binary(argv):
    if argv:
        return os.path.abspath(argv[0])
    for p in ("build/controller/stevedore", "build/stevedore"):
        if os.access(p, os.X_OK):
            return os.path.abspath(p)
    return os.path.abspath("build/controller/stevedore")


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    if not os.access(binary, os.X_OK):
        print("FAIL binary %s is executable" % binary)
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="stv-report-")
    c = Case(binary, tmp)
    cat = c.write("catalog.json", catalog())
    snap = c.write("snap.json", snapshot())
    met = c.write("usage.json", metrics())
    cfg = c.write("config.yaml", CONFIG)
    # The hand computations below take n3 (x.unknown) as unpriced: no default prices.
    base = ["report", "--snapshot", snap, "--catalog", cat, "--config", cfg, "--no-default-prices"]

    def json_report(*extra):
        out, err = c.ok(base + ["--output", "json"] + list(extra))
        return json.loads(out), err

    def namespace_report():
        doc, _ = json_report("--metrics", met)
        assert doc["schema"] == "stevedore.io/cost-report/v1"
        assert doc["point_in_time"] is True and doc["period"] == "month"
        assert doc["complete"] is False, "n3 is unpriced"
        rows = rows_by_group(doc)
        assert set(rows) == {"team-a", "team-b"}, rows.keys()
        assert doc["rows"][0]["group"] == "team-a"
        near(rows["team-a"]["total_cost"], 77.790625, what="team-a")
        near(rows["team-a"]["cpu_cost"], 0.065 * MONTH, what="team-a cpu")
        near(rows["team-a"]["ram_cost"], 0.0375 * MONTH, what="team-a ram")
        near(rows["team-a"]["shared_cost"], 0.0040625 * MONTH, what="team-a shared")
        near(rows["team-b"]["total_cost"], 35.815625, what="team-b")
        near(doc["totals"]["node_cost"], 204.40, what="node cost")
        near(doc["totals"]["idle"], 90.79375, what="idle")
        near(doc["totals"]["shared"], 0.008125 * MONTH, what="shared")
        near(doc["totals"]["hourly"]["node_cost"], 0.28, 1e-9, "hourly node cost")
        # Efficiency of team-a: cpu 0.9 / 1.0, ram 2.5 GiB / 2 GiB.
        near(rows["team-a"]["cpu_efficiency"], 0.9, 1e-9, "cpu efficiency")
        near(rows["team-a"]["ram_efficiency"], 1.25, 1e-9, "ram efficiency")
        assert rows["team-b"]["cpu_efficiency"] is None
        assert doc["unpriced_nodes"][0]["node"] == "n3"
        assert "x.unknown is not in the catalogue" in doc["unpriced_nodes"][0]["reason"]
        assert doc["totals"]["pods_pending"] == 1 and doc["totals"]["pods_on_unpriced_nodes"] == 1
        assert any("1 pod in the metrics is not in the snapshot" in n for n in doc["notes"]), doc["notes"]
        assert any("usage known for 3 of 6 running pods" in n for n in doc["notes"]), doc["notes"]
        check_cents(doc)
    t.run("namespace report matches the hand computation", namespace_report)

    def table_report():
        out, err = c.ok(base + ["--metrics", met])
        assert "reconciled to the cent" in out, out
        assert "WARNING: this report is INCOMPLETE" in out, out
        assert "n3 (x.unknown): instance type x.unknown is not in the catalogue" in out, out
        assert "TOTAL/MONTH" in out and "team-a" in out
        assert "incomplete" in err, err
        first = [l for l in out.splitlines() if l.startswith("team-")][0]
        assert first.startswith("team-a"), first
    t.run("table says reconciled and incomplete", table_report)

    def csv_report():
        out, _ = c.ok(base + ["--output", "csv"])
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [r["group"] for r in rows] == ["team-a", "team-b", "__idle__"], rows
        total = sum(int(round(float(r["total_monthly"]) * 100)) for r in rows)
        assert total == 20440, total
        # Without usage, team-a is costed by its requests: 1 core (0.05) + 2 GiB (0.025).
        near(float(rows[0]["cpu_monthly"]), 0.05 * MONTH, what="cpu")
    t.run("csv rows and idle add up to the node cost", csv_report)

    def groupings():
        cases = [("label:team", {"red", "blue", "__unallocated__"}),
                 ("annotation:example.com/cost-center", {"cc-1", "__unallocated__"}),
                 ("controller", {"team-a/Deployment/web", "team-b/StatefulSet/api", "team-b/CronJob/batch"}),
                 ("node", {"n1", "n2"})]
        for by, groups in cases:
            doc, _ = json_report("--by", by)
            got = set(rows_by_group(doc))
            assert got == groups, "%s: %s" % (by, got)
            assert doc["by"] == by
            check_cents(doc)
        doc, _ = json_report("--by", "node")
        # By node, the idle share is the node's own idle; without usage n1 allocates
        # 0.008125 + 2 x (0.025 + 0.0125), so 0.116875/h is idle.
        near(rows_by_group(doc)["n1"]["idle_share"], 0.116875 * MONTH, 0.011, "n1 idle")
    t.run("grouping by label, annotation, controller and node", groupings)

    def shared_modes():
        doc, _ = json_report("--metrics", met, "--shared-mode", "proportional", "--overhead", "0.01")
        rows = rows_by_group(doc)
        shared = 0.008125 + 0.01
        near(rows["team-a"]["total_cost"], (0.1025 + shared * 0.1025 / 0.1475) * MONTH, what="team-a")
        near(rows["team-b"]["total_cost"], (0.045 + shared * 0.045 / 0.1475) * MONTH, what="team-b")
        near(doc["totals"]["overhead"], 7.30, what="overhead")
        check_cents(doc)
        doc, _ = json_report("--shared-namespaces", "")
        assert "kube-system" in rows_by_group(doc), "no shared namespaces: kube-system is a group"
        near(doc["totals"]["shared"], 0, what="shared")
        doc, _ = json_report("--shared-namespaces", "kube-system,team-b")
        assert set(rows_by_group(doc)) == {"team-a"}
        check_cents(doc)
    t.run("shared namespaces, modes and overhead", shared_modes)

    def overrides():
        cfg2 = c.write("config2.yaml", "report:\n" + RATIOS +
                       "  prices:\n    nodes: {n1: 0.10}\n    instanceTypes:\n      x.unknown: {on-demand: 0.30}\n")
        out, _ = c.ok(["report", "--snapshot", snap, "--catalog", cat, "--config", cfg2, "-o", "json"])
        doc = json.loads(out)
        assert doc["complete"] is True, doc["unpriced_nodes"]
        near(doc["totals"]["hourly"]["node_cost"], 0.10 + 0.08 + 0.30, 1e-9, "node cost")
        cfg3 = c.write("config3.yaml", "report:\n  providerCapacityTypes:\n    aws:///z1/i-1: spot\n")
        s = snapshot()
        s["items"][0] = node("n1", "m.large", provider_id="aws:///z1/i-1")
        snap2 = c.write("snap-pid.json", s)
        out, _ = c.ok(["report", "--snapshot", snap2, "--catalog", cat, "--config", cfg3, "-o", "json",
                       "--no-default-prices"])
        doc = json.loads(out)
        near(doc["totals"]["hourly"]["node_cost"], 0.08 + 0.08, 1e-9, "spot by provider id")
    t.run("price overrides and capacity types by provider id", overrides)

    def rightsize():
        doc, _ = json_report("--metrics", met, "--rightsize", "--margin", "0.2")
        rs = doc["rightsize"]
        ctl = {(x["namespace"], x["kind"], x["name"]): x for x in rs["controllers"]}
        web = ctl[("team-a", "Deployment", "web")]
        assert rs["controllers"][0] is not None and rs["controllers"][0]["name"] == "web", rs["controllers"][0]
        assert web["under_requested"] is True
        near(web["cpu_p95"], 0.8, 1e-9, "p95")
        near(web["cpu_suggested"], 0.96, 1e-9, "cpu suggestion")
        near(web["memory_suggested"], 2458 * 1048576, 1, "memory suggestion")
        dns = ctl[("kube-system", "Deployment", "coredns")]
        near(dns["cpu_suggested"], 0.006, 1e-9, "coredns cpu")
        assert dns["under_requested"] is False
        assert ("team-b", "StatefulSet", "api") not in ctl, "no usage, no suggestion"
        rp = rs["repack"]
        assert rp is not None and rp["current_nodes"] >= 1, rp
        near(rp["monthly_saving"], (rp["current_hourly"] - rp["suggested_hourly"]) * MONTH, 1e-6, "saving")
        out, _ = c.ok(base + ["--metrics", met, "--rightsize"])
        assert "Right-sizing" in out and "Re-packed on new nodes" in out, out
        line = [l for l in out.splitlines() if "team-a/Deployment/web" in l][0]
        assert line.lstrip().startswith("!"), line
        out, _ = c.ok(base + ["--metrics", met, "--rightsize", "-o", "csv"])
        assert out.startswith("namespace,kind,name,under_requested,"), out
    t.run("right-sizing flags under-requested workloads first and re-packs", rightsize)

    def html():
        rc, out, err = c.run(base + ["--output", "html"])
        if rc == 0:
            assert "<html" in out.lower() and "<svg" in out.lower(), out[:300]
        else:
            assert out == "" and "html" in err, err
    t.run("html output is built in or says it is not", html)

    # ------------------------------------------------------------------
    # Bad input

    def corrupt_metrics():
        bad = c.write("bad-usage.json", '{"kind": "PodMetricsList", "items": [{"metadata": {"name": "a"}, ')
        c.expect_error(base + ["--metrics", bad], ["bad-usage.json", "truncated"], 2)
    t.run("corrupt metrics file", corrupt_metrics)

    def bad_quantity():
        m = metrics()
        m["items"][1]["containers"][0]["usage"]["cpu"] = "12x"
        bad = c.write("bad-qty.json", m)
        c.expect_error(base + ["--metrics", bad],
                       ["bad-qty.json: items[1] PodMetrics team-a/web-5d8f9c7b6d-aaaaa: containers[0].usage.cpu: "
                        "invalid quantity \"12x\""], 2)
        m = metrics()
        del m["items"][2]["containers"][1]["usage"]["memory"]
        bad = c.write("bad-missing.json", m)
        c.expect_error(base + ["--metrics", bad], ["items[2]", "containers[1].usage.memory: missing"], 2)
        m = metrics()
        m["items"][0]["metadata"] = {"namespace": "x"}
        bad = c.write("bad-name.json", m)
        c.expect_error(base + ["--metrics", bad], ["items[0]", "metadata.name: missing"], 2)
        m = metrics()
        m["items"].append(m["items"][0])
        bad = c.write("bad-dup.json", m)
        c.expect_error(base + ["--metrics", bad], ["items[4]", "the same pod twice"], 2)
    t.run("metrics with a bad quantity, a missing field, no name, a duplicate", bad_quantity)

    def metrics_is_snapshot():
        c.expect_error(base + ["--metrics", snap], ["snap.json: items[0]", "kind Node is not PodMetrics"], 2)
        c.expect_error(base + ["--metrics", os.path.join(tmp, "nope.json")], ["nope.json", "cannot open"], 2)
    t.run("metrics file that is a snapshot, or missing", metrics_is_snapshot)

    def bad_options():
        c.expect_error(base + ["--by", "team"], ["--by", "unknown grouping \"team\""], 2)
        c.expect_error(base + ["--by", "label:"], ["--by"], 2)
        c.expect_error(base + ["--output", "xml"], ["--output", "xml"], 2)
        c.expect_error(base + ["--shared-mode", "fair"], ["--shared-mode", "fair"], 2)
        c.expect_error(base + ["--overhead", "-3"], ["--overhead"], 2)
        c.expect_error(base + ["--margin", "0.2"], ["--margin goes with --rightsize"], 2)
        c.expect_error(base + ["--window", "7d"], ["--prometheus"], 2)
        c.expect_error(["report", "--catalog", cat], ["--snapshot"], 2)
        c.expect_error(base + ["--capacity-types", "cheap"], ["cheap"], 2)
        c.expect_error(base + ["--prometheus", "http://127.0.0.1:1"], ["--prometheus", "without --snapshot"], 2)
        c.expect_error(["report", "--prometheus", "http://127.0.0.1:1"], ["--window"], 2)
    t.run("bad options", bad_options)

    def bad_config():
        for content, needle in [
                ("report:\n  pricez: {}\n", "bad-config.yaml:2:3: report: unknown key \"pricez\" (expected prices, "),
                ("report:\n  prices:\n    nodes: {n1: -1}\n",
                 "bad-config.yaml:3:17: report.prices.nodes.n1: -1 is out of range (0 to 1e+09)"),
                ("report:\n  prices:\n    instanceTypes:\n      m.large: {cheap: 1}\n",
                 "bad-config.yaml:4:17: report.prices.instanceTypes.m.large: unknown key \"cheap\" "
                 "(expected reserved, spot, on-demand)"),
                ("report:\n  providerCapacityTypes: {p: maybe}\n",
                 "bad-config.yaml:2:30: report.providerCapacityTypes.p: unknown capacity type \"maybe\""),
                ("report:\n  ratios: {cpu: 0}\n", "bad-config.yaml:2:17: report.ratios.cpu: must be positive"),
                ("report: [\n", "bad-config.yaml:2:1: YAML syntax error")]:
            path = c.write("bad-config.yaml", content)
            c.expect_error(["report", "--snapshot", snap, "--catalog", cat, "--config", path], [needle], 2)
    t.run("bad config files", bad_config)

    def old_json_config():
        # The JSON format report --config read before: refused (exit 2, nothing on stdout) with the
        # new names and the file converted to YAML, which then gives the report the JSON file gave.
        old = {"prices": {"nodes": {"n1": 0.10}, "instance_types": {"x.unknown": {"on-demand": 0.30},
                                                                   "m.large": 0.25}},
               "capacity_types": {"aws:///z1/i-1": "spot"},
               "ratios": {"cpu": 1, "ram_gib": 0.25, "gpu": 8},
               "shared_namespaces": ["kube-system", "team-b"], "shared_mode": "proportional",
               "overhead_hourly": 0.05, "margin": 0.3,
               "default_prices": {"enabled": False, "cpu": 0.5, "ram_gib": 0.01, "gpu": 2,
                                  "spot_cpu": 0.2, "spot_ram_gib": 0.005}}
        path = c.write("old-config.json", old)
        args = ["report", "--snapshot", snap, "--catalog", cat, "--output", "json", "--config"]
        rc, out, err = c.run(args + [path])
        assert rc == 2 and out == "", (rc, out[:300], err)
        for needle in [
            path + ": this is the old JSON report configuration, which is no longer read",
            "report: section of the YAML file that recommend --config reads too",
            "capacity_types is report.providerCapacityTypes", "prices.instance_types is report.prices.instanceTypes",
            "ratios.ram_gib is report.ratios.ramGiB", "default_prices.spot_ram_gib is report.defaultPrices.spotRamGiB",
            "overhead_hourly is report.overheadHourly"]:
            assert needle in err, "%r not in stderr: %s" % (needle, err)
        assert err.startswith("stevedore report: "), err
        snippet = err[err.index("\nreport:\n") + 1:]
        assert snippet.startswith("report:\n  prices:\n    nodes:\n      \"n1\": 0.1\n"), snippet
        new = c.write("converted.yaml", snippet)
        out, _ = c.ok(args + [new])
        doc = json.loads(out)
        assert doc["shared"]["mode"] == "proportional", doc["shared"]
        assert doc["shared"]["namespaces"] == ["kube-system", "team-b"], doc["shared"]
        near(doc["shared"]["overhead_hourly"], 0.05, what="overhead")
        near(doc["totals"]["hourly"]["node_cost"], 0.10 + 0.25 + 0.30, 1e-9, "node cost with the overrides")
        assert doc["default_prices"] is None, doc["default_prices"]
        assert doc["ratios"] == {"cpu_core_hour": 1, "ram_gib_hour": 0.25, "gpu_hour": 8}, doc["ratios"]
        # A JSON file of the new shape is YAML too, and is read.
        path = c.write("new-shape.json", {"report": {"ratios": {"cpu": 1, "ramGiB": 0.25, "gpu": 8}}})
        out, _ = c.ok(args + [path, "--no-default-prices"])
        assert json.loads(out)["ratios"]["ram_gib_hour"] == 0.25
    t.run("the old JSON config is refused with the new names and its YAML conversion, which works",
          old_json_config)

    def bad_snapshot():
        s = snapshot()
        s["items"][4]["spec"]["nodeName"] = "n9"
        path = c.write("snap-missing-node.json", s)
        # Nodes and pods are not listed at the same instant: a note naming the pod, not an error.
        out, _ = c.ok(["report", "--snapshot", path, "--catalog", cat, "--output", "json"])
        notes = " ".join(json.loads(out)["notes"])
        assert "team-a/web-5d8f9c7b6d-aaaaa on n9" in notes and "not attributed" in notes, notes
        s = snapshot()
        s["items"][4]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "lots"
        path = c.write("snap-bad-qty.json", s)
        c.expect_error(["report", "--snapshot", path, "--catalog", cat],
                       ["snap-bad-qty.json: items[4] Pod team-a/web-5d8f9c7b6d-aaaaa", "requests.cpu"], 2)
        s = {"apiVersion": "v1", "kind": "List", "items": [node("n3", "x.unknown")]}
        path = c.write("snap-unpriced.json", s)
        c.expect_error(["report", "--snapshot", path, "--catalog", cat, "--no-default-prices"],
                       ["no node could be priced", "n3", "default rates"])
        path = c.write("snap-empty.json", {"apiVersion": "v1", "kind": "List", "items": []})
        c.expect_error(["report", "--snapshot", path, "--catalog", cat], ["no data"])
    t.run("snapshots: a pod on a missing node is a note; bad quantity, nothing priceable, empty", bad_snapshot)

    def unreachable_prometheus():
        rc, out, err = c.run(["report", "--prometheus", "http://127.0.0.1:1", "--window", "1h", "--step", "5m",
                              "--catalog", cat, "--timeout", "5"])
        assert rc != 0 and out == "", (rc, out[:200])
        assert err.startswith("stevedore report: ") and ("prometheus" in err.lower()), err
    t.run("unreachable prometheus", unreachable_prometheus)

    def empty_metrics():
        path = c.write("empty-usage.json", {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                                            "metadata": {}, "items": []})
        doc, _ = json_report("--metrics", path)
        assert any("lists no pods" in n for n in doc["notes"]), doc["notes"]
    t.run("an empty metrics list is a note, not an error", empty_metrics)

    def stdin_snapshot():
        with open(snap) as f:
            p = subprocess.run([binary, "report", "--snapshot", "-", "--catalog", cat, "--config", cfg, "-o", "json",
                                "-q"], stdin=f, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stderr == "", p.stderr
        check_cents(json.loads(p.stdout))
    t.run("snapshot on standard input, quiet", stdin_snapshot)

    def help_text():
        out, _ = c.ok(["report", "--help"])
        assert "--rightsize" in out and "--prometheus" in out
        out, _ = c.ok(["help"])
        assert "report" in out
    t.run("help", help_text)

    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
