#!/usr/bin/env python3
"""Friendlier answers, end to end: what the plan says about its lower bound
and the gap to it, default prices in the cost report for clusters the
catalogue cannot price, the report's shared row, version flags, the help
text, and plain errors for YAML given where JSON is expected.

    python3 tests/test_friendly.py [build/controller/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure. Inputs: tests/data/realworld/friendly/ (see its README.md).
"""

import copy
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
FRIENDLY = os.path.join(DATA, "realworld", "friendly")
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

TINY = os.path.join(DATA, "tiny_catalog.json")
ANTI = os.path.join(FRIENDLY, "anti-affinity-with-room.json")
KIND = os.path.join(FRIENDLY, "kind-cluster.json")
GIB = 1024.0 ** 3
# OpenCost's default prices (configs/default.json): per vCPU-hour, per GiB-hour, per GPU-hour.
OC_CPU, OC_RAM, OC_GPU = 0.031611, 0.004237, 0.95


class Cli(object):
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="stv-friendly-")

    def run(self, args, stdin=None):
        p = subprocess.run([self.binary] + list(args), input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def ok(self, args):
        rc, out, err = self.run(args)
        assert rc == 0, "stevedore %s: exit %d\nstderr: %s" % (" ".join(args), rc, err[-2000:])
        return out, err

    def json(self, args):
        out, _ = self.ok(list(args) + ["--output", "json"])
        try:
            return json.loads(out)
        except ValueError as e:
            raise AssertionError("stdout is not JSON (%s): %r" % (e, out[:500]))

    def fails(self, args, code, words):
        rc, out, err = self.run(args)
        assert rc == code, "stevedore %s: exit %d, expected %d\nstderr: %s" % (" ".join(args), rc, code, err)
        assert out == "", "output on stdout despite the error: %r" % out[:300]
        for w in words:
            assert w in err, "error lacks %r:\n%s" % (w, err)
        return err

    def write(self, name, obj):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            if isinstance(obj, str):
                f.write(obj)
            else:
                json.dump(obj, f, indent=1)
        return path


def load(path):
    with open(path) as f:
        return json.load(f)


def codes(plan):
    return [r["code"] for r in plan["summary"]["gap_reasons"]]


def find_binary(argv):
    if argv:
        return os.path.abspath(argv[0])
    for p in ("build/controller/stevedore", "build/stevedore"):
        if os.access(p, os.X_OK):
            return os.path.abspath(p)
    return os.path.abspath("build/controller/stevedore")


# ---------------------------------------------------------------------------
# recommend: the gap line


def gap_tests(t, cli):
    base = ["recommend", "--snapshot", ANTI, "--catalog", TINY, "--capacity-types", "on-demand"]

    def loose_bound_named():
        plan = cli.json(base)
        s = plan["summary"]
        assert s["new_nodes"] == 3 and abs(s["new_nodes_hourly_cost"] - 0.3) < 1e-9, s
        # The relaxed pattern bound keeps the anti-affinity (one pod per node)
        # and pools the existing room: 4 pods, 1.33 of them on that room.
        assert s["lower_bound_kind"] == "relaxed-patterns", s
        assert abs(s["lower_bound_hourly_cost"] - 0.8 / 3) < 1e-6, s
        assert s["gap"] > 0.10, s
        c = codes(plan)
        assert "hostname_rules" not in c, c
        assert "existing_room" in c, c
        assert "whole_nodes" in c, c
        out, _ = cli.ok(base)
        flat = " ".join(out.split())  # sentences are wrapped at 100 columns
        for w in ("Cost 0.3000 USD/hour; lower bound 0.2667 USD/hour (a bound over whole-node packings",
                  "The gap is large; the likely reasons:",
                  "- 1 pod went to 1 existing node"):
            assert w in flat, "table lacks %r:\n%s" % (w, out)
        assert max(len(l) for l in out.splitlines() if "bound " in l and "catalog" not in l) <= 100, out
    t.run("a loose relaxed bound says what it is and names the existing room", loose_bound_named)

    def no_rule_no_reason():
        snap = load(ANTI)
        for it in snap["items"]:
            if it["kind"] == "Pod":
                del it["spec"]["affinity"]
        path = cli.write("no-anti.json", snap)
        plan = cli.json(["recommend", "--snapshot", path, "--catalog", TINY, "--capacity-types", "on-demand"])
        assert "hostname_rules" not in codes(plan), plan["summary"]
    t.run("without anti-affinity the hostname reason is not given", no_rule_no_reason)

    def heuristic_only():
        plan = cli.json(base + ["--time-limit", "0"])
        assert "optimizer" not in plan["summary"], plan["summary"]
        assert codes(plan)[0] == "optimizer_off", codes(plan)
        out, _ = cli.ok(base + ["--time-limit", "0"])
        assert "the optimizer did not run (--time-limit 0)" in " ".join(out.split()), out
    t.run("--time-limit 0 names the optimizer not running as a reason", heuristic_only)

    def pattern_bound_tight():
        snap = load(ANTI)
        snap["items"] = [it for it in snap["items"] if it["kind"] != "Node"]
        path = cli.write("no-nodes.json", snap)
        plan = cli.json(["recommend", "--snapshot", path, "--catalog", TINY, "--capacity-types", "on-demand"])
        s = plan["summary"]
        assert s["lower_bound_kind"] == "patterns", s
        assert s["gap"] < 1e-6 and s["gap_reasons"] == [], s
        out, _ = cli.ok(["recommend", "--snapshot", path, "--catalog", TINY, "--capacity-types", "on-demand"])
        assert "the optimizer's bound over whole-node packings" in " ".join(out.split()), out
        assert "likely reasons" not in out, out
    t.run("with nothing kept aside the optimizer's pattern bound is named and the gap explained by nothing",
          pattern_bound_tight)

    def demo_reasons():
        plan = cli.json(["recommend", "--snapshot", os.path.join(ROOT, "examples", "snapshot.json")])
        c = codes(plan)
        assert plan["summary"]["gap"] > 0, plan["summary"]
        for k in ("hostname_rules", "zone_rules", "existing_room"):
            assert k in c, c
        # Without burstable types (not allowed by default) the example buys 5
        # larger nodes, so rounding a few of them up may explain the gap too.
        assert ("whole_nodes" in c) == (plan["summary"]["new_nodes"] <= 10), (c, plan["summary"]["new_nodes"])
    t.run("the shipped example names its spread, anti-affinity and existing-room reasons", demo_reasons)


# ---------------------------------------------------------------------------
# command line: version, help, YAML where JSON is expected


def cli_tests(t, cli):
    def version():
        outs = []
        for args in (["version"], ["--version"], ["-V"]):
            rc, out, err = cli.run(args)
            assert rc == 0 and err == "", "stevedore %s: exit %d, stderr %r" % (args, rc, err)
            assert re.match(r"^stevedore \d+\.\d+\.\d+\n$", out), out
            outs.append(out)
        assert outs[0] == outs[1] == outs[2], outs
        rc, out, _ = cli.run(["--help"])
        assert "-V, --version" in out, out
    t.run("version, --version and -V print the same version", version)

    def time_limit_once():
        out, _ = cli.ok(["recommend", "--help"])
        assert out.count("--time-limit") == 1, out
        assert "--time-limit DURATION" in out, out
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        rows = [l for l in readme.splitlines() if l.startswith("| `--time-limit")]
        assert len(rows) == 1 and "DURATION" in rows[0], rows
    t.run("recommend --help and the README list --time-limit once", time_limit_once)

    yaml = "# prices\nprovider: aws\nregion: us-east-1\ncurrency: USD\ninstance_types: []\n"

    def yaml_catalog():
        path = cli.write("prices.yaml", yaml)
        cli.fails(["recommend", "--snapshot", ANTI, "--catalog", path], 2,
                  [path + ": looks like YAML; this file must be JSON", "docs/catalog.md"])
        broken = cli.write("broken.json", '{"provider": "aws",')
        err = cli.fails(["recommend", "--snapshot", ANTI, "--catalog", broken], 2, ["malformed JSON"])
        assert "YAML" not in err, err
    t.run("a YAML catalogue is refused as YAML, broken JSON as broken JSON", yaml_catalog)

    def one_config_for_both():
        example = os.path.join(ROOT, "examples", "stevedore.yaml")
        doc = cli.json(["report", "--snapshot", ANTI, "--config", example])
        assert doc["shared"]["namespaces"] == ["kube-system", "monitoring"], doc["shared"]
        cli.ok(["recommend", "--snapshot", ANTI, "--config", example])
        old = cli.write("report-config.json", {"shared_namespaces": ["monitoring"]})
        err = cli.fails(["report", "--snapshot", ANTI, "--config", old], 2,
                        [old + ": this is the old JSON report configuration", "docs/report.md",
                         "shared_namespaces is report.sharedNamespaces",
                         "report:\n  sharedNamespaces:\n    - \"monitoring\"\n"])
        assert "looks like YAML" not in err, err
        # Each command checks the whole file, not only its own part.
        bad = cli.write("both.yaml", "timeLimit: soon\nreport:\n  margin: 0.3\n")
        cli.fails(["report", "--snapshot", ANTI, "--config", bad], 2,
                  [bad + ":1:12: timeLimit: invalid duration \"soon\""])
        bad = cli.write("both2.yaml", "timeLimit: 2s\nreport:\n  sharedMode: fair\n")
        cli.fails(["recommend", "--snapshot", ANTI, "--config", bad], 2,
                  [bad + ":3:15: report.sharedMode: unknown mode \"fair\" (expected even, proportional)"])
    t.run("report --config reads recommend's YAML file; the old JSON file is refused with its conversion",
          one_config_for_both)

    def yaml_metrics():
        path = cli.write("usage.yaml", "apiVersion: metrics.k8s.io/v1beta1\nkind: PodMetricsList\nitems: []\n")
        cli.fails(["report", "--snapshot", ANTI, "--metrics", path], 2,
                  [path + ": looks like YAML; this file must be JSON", "metrics.k8s.io"])
        rc, out, err = cli.run(["report", "--snapshot", ANTI, "--metrics", "-"],
                               stdin="apiVersion: metrics.k8s.io/v1beta1\nkind: PodMetricsList\nitems: []\n")
        assert rc == 2 and out == "", (rc, out, err)
    t.run("a YAML metrics file is named as YAML", yaml_metrics)

    def readme_names_test_packages():
        with open(os.path.join(ROOT, "scripts", "dev")) as f:
            dev = f.read()
        pkgs = set()
        for m in re.finditer(r"^test_packages\+?=\(([^)]*)\)", dev, re.M):
            pkgs.update(m.group(1).split())
        assert {"valgrind", "chromium", "prometheus"} <= pkgs, pkgs
        with open(os.path.join(ROOT, "README.md")) as f:
            readme = f.read()
        part = readme[readme.index("the test command installs"):]
        part = part[:part.index("\n\n")]
        for p in pkgs:
            assert "**%s**" % p in part, "README does not say why the tests install %s:\n%s" % (p, part)
        assert re.search(r"about \d+(\.\d+)? GB installed", part), part
    t.run("the README says what the test command installs, why and how large", readme_names_test_packages)

    def docs_name_real_metrics():
        # A metric an operator reads about in docs/ or deploy/ (a dashboard, an alert) must be one the
        # code registers: a renamed metric must not leave its old name in the docs.
        def names(dirs, exts):
            found = set()
            for d in dirs:
                for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
                    for fn in files:
                        if fn.endswith(exts):
                            with open(os.path.join(dirpath, fn), errors="replace") as f:
                                found.update(re.findall(r"\bstevedore_[a-z0-9_]*[a-z0-9]", f.read()))
            return found
        code = names(["base", "io", "cloud", "controller", "packer", "pricing"], (".c", ".h"))
        documented = names(["docs", "deploy"], (".md", ".yaml", ".yml", ".json"))
        missing = sorted(n for n in documented
                         if n not in code and not any(n == c + suffix for c in code
                                                      for suffix in ("_bucket", "_sum", "_count")))
        assert not missing, "named in docs/ or deploy/ but registered nowhere in the code: %s" % missing
    t.run("every metric the docs name is one the code registers", docs_name_real_metrics)


# ---------------------------------------------------------------------------
# report: default prices for nodes nothing else prices


def kind_node_price(cpu=OC_CPU, ram=OC_RAM):
    # kind's nodes: 4 cpu, 8148220Ki of memory allocatable.
    return 4 * cpu + 8148220 * 1024 / GIB * ram


def default_price_tests(t, cli):
    def kind_cluster():
        doc = cli.json(["report", "--snapshot", KIND])
        assert doc["complete"] is True, doc
        assert doc["unpriced_nodes"] == [], doc["unpriced_nodes"]
        names = [d["node"] for d in doc["default_priced_nodes"]]
        assert names == ["kind-control-plane", "kind-worker", "kind-worker2"], names
        for d in doc["default_priced_nodes"]:
            assert d["instance_type"] is None and d["capacity_type"] == "on-demand", d
            assert "no instance type" in d["reason"], d
            assert abs(d["hourly_cost"] - kind_node_price()) < 1e-9, d
        assert doc["default_prices"] == {"cpu": OC_CPU, "ram_gib": OC_RAM, "gpu": OC_GPU,
                                         "spot_cpu": 0.006655, "spot_ram_gib": 0.000892}, doc["default_prices"]
        assert abs(doc["totals"]["hourly"]["node_cost"] - 3 * kind_node_price()) < 1e-6, doc["totals"]
        assert any("3 nodes priced at the default rates" in n for n in doc["notes"]), doc["notes"]
        out, err = cli.ok(["report", "--snapshot", KIND])
        assert "Nodes priced at the default rates (3; per vCPU-hour 0.031611, per GiB-hour 0.004237" in out, out
        assert "  kind-worker (no type, on-demand): 0.1594/h: no instance type" in out, out
        assert "stevedore report: note: 3 nodes priced at the default rates" in err, err
    t.run("a kind cluster without instance types is priced at OpenCost's default rates and says so", kind_cluster)

    def rates_from_flags_and_config():
        doc = cli.json(["report", "--snapshot", KIND, "--default-cpu-price", "0.05", "--default-ram-price", "0.01"])
        assert abs(doc["default_priced_nodes"][0]["hourly_cost"] - kind_node_price(0.05, 0.01)) < 1e-9, doc
        cfg = cli.write("rates.yaml", "report:\n  defaultPrices: {cpu: 0.02, ramGiB: 0.002}\n")
        doc = cli.json(["report", "--snapshot", KIND, "--config", cfg])
        assert abs(doc["default_priced_nodes"][0]["hourly_cost"] - kind_node_price(0.02, 0.002)) < 1e-9, doc
        # The flag overrides the file.
        doc = cli.json(["report", "--snapshot", KIND, "--config", cfg, "--default-cpu-price", "0.05"])
        assert abs(doc["default_priced_nodes"][0]["hourly_cost"] - kind_node_price(0.05, 0.002)) < 1e-9, doc
    t.run("default rates come from --default-*-price and the config's report.defaultPrices",
          rates_from_flags_and_config)

    def turned_off():
        cli.fails(["report", "--snapshot", KIND, "--no-default-prices"], 2,
                  ["no node could be priced (3 unpriced; first: kind-control-plane", "default rates"])
        cfg = cli.write("off.yaml", "report:\n  defaultPrices:\n    enabled: false\n")
        cli.fails(["report", "--snapshot", KIND, "--config", cfg], 2, ["no node could be priced"])
        cli.fails(["report", "--snapshot", KIND, "--no-default-prices", "--default-cpu-price", "1"], 2,
                  ["--no-default-prices: cannot go with"])
        cli.fails(["report", "--snapshot", KIND, "--default-ram-price", "-1"], 2,
                  ["--default-ram-price: \"-1\" is not a non-negative number"])
        bad = cli.write("bad-rates.yaml", "report:\n  defaultPrices: {cpu: 0.02, memory: 0.002}\n")
        cli.fails(["report", "--snapshot", KIND, "--config", bad], 2,
                  ["bad-rates.yaml:2:30: report.defaultPrices: unknown key \"memory\" (expected enabled, cpu, "
                   "ramGiB, gpu, spotCpu, spotRamGiB)"])
    t.run("--no-default-prices and enabled: false leave such nodes unpriced; bad rates are errors", turned_off)

    def mixed_cluster():
        # One node the catalogue prices, one whose type it does not know, one spot node without a type.
        snap = load(KIND)
        snap["items"][1]["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "m5.xlarge"
        snap["items"][1]["metadata"]["labels"]["topology.kubernetes.io/zone"] = "us-east-1a"
        snap["items"][0]["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "z9.imaginary"
        snap["items"][2]["metadata"]["labels"]["karpenter.sh/capacity-type"] = "spot"
        path = cli.write("mixed.json", snap)
        doc = cli.json(["report", "--snapshot", path])
        by = {d["node"]: d for d in doc["default_priced_nodes"]}
        assert sorted(by) == ["kind-control-plane", "kind-worker2"], by
        assert "z9.imaginary is not in the catalogue aws:us-east-1" in by["kind-control-plane"]["reason"], by
        assert by["kind-control-plane"]["instance_type"] == "z9.imaginary", by
        assert by["kind-worker2"]["capacity_type"] == "spot", by
        assert abs(by["kind-worker2"]["hourly_cost"] - kind_node_price(0.006655, 0.000892)) < 1e-9, by
        out = cli.ok(["report", "--snapshot", path, "--output", "html"])[0]
        assert 'id="default-priced"' in out and "2 nodes priced at default rates" in out, out[:3000]
        assert "z9.imaginary" in out
    t.run("in a mixed cluster only the nodes the catalogue cannot price get the default rates, spot at spot rates",
          mixed_cluster)


# ---------------------------------------------------------------------------
# report: the shared row, whole pod counts, plain wording in the HTML page


def table_rows(out):
    """The group rows of a report table: {group: [cells]}."""
    lines = out.splitlines()
    start = [i for i, l in enumerate(lines) if l.startswith("GROUP ")][0]
    rows = {}
    for l in lines[start + 1:]:
        if not l.strip() or l.startswith("(idle)"):
            break
        cells = l.split()
        rows[cells[0]] = cells[1:]
    return rows


def shared_tests(t, cli):
    def whole_pods():
        out, _ = cli.ok(["report", "--snapshot", KIND, "-q"])
        rows = table_rows(out)
        assert rows["shop"][0] == "2" and rows["batch"][0] == "1", rows
        csv, _ = cli.ok(["report", "--snapshot", KIND, "-q", "-o", "csv"])
        line = [l for l in csv.splitlines() if l.startswith("shop,")][0]
        assert line.startswith("shop,2,"), line
    t.run("a snapshot report counts whole pods in the table and the CSV", whole_pods)

    def shared_namespace_shown():
        out, _ = cli.ok(["report", "--snapshot", KIND, "-q"])
        assert re.search(r"Shared cost [\d.]+/month, spread evenly over 2 groups: namespace kube-system [\d.]+ "
                         r"\(6 pods; requests 0\.75 cpu, 0\.332 GiB memory\)", out), out
        doc = cli.json(["report", "--snapshot", KIND])
        ks = doc["shared"]["costs"][0]
        assert ks["namespace"] == "kube-system" and ks["pods"] == 6, ks
        assert abs(ks["cpu_request_core_hours"] - 0.75) < 1e-9, ks
        assert abs(ks["ram_request_gib_hours"] - (70 + 70 + 100 + 50 + 50) / 1024.0) < 1e-9, ks
    t.run("the shared line shows the shared namespace's pods and requests", shared_namespace_shown)

    def nothing_to_spread_to():
        out, _ = cli.ok(["report", "--snapshot", KIND, "-q", "--shared-namespaces", "kube-system,shop"])
        assert "all charged to the only group, batch" in out, out
        assert "over 1 group" not in out, out
        out, _ = cli.ok(["report", "--snapshot", KIND, "-q", "--shared-namespaces", "kube-system,shop,batch"])
        assert "in a row of its own (__shared__): there is no other group to spread it over" in out, out
        assert "over 1 group" not in out, out
        assert table_rows(out)["__shared__"][0] == "9", table_rows(out)
        html, _ = cli.ok(["report", "--snapshot", KIND, "-q", "--shared-namespaces", "kube-system,shop", "-o", "html"])
        assert "all charged to the only namespace" in html, html[:4000]
        assert "spread evenly over the namespaces" not in html
        assert "kube-system</b>" in html and "(6 pods asking for 0.75 CPU and 0.332 GiB of memory)" in html
    t.run("with one group or none the shared cost is not said to be spread", nothing_to_spread_to)

    def plain_html():
        snap = load(KIND)
        snap["items"][1]["metadata"]["labels"]["node.kubernetes.io/instance-type"] = "m5.xlarge"
        path = cli.write("two-unpriced.json", snap)
        html, _ = cli.ok(["report", "--snapshot", path, "-q", "--no-default-prices", "-o", "html"])
        assert 'id="unpriced"' in html, html[:3000]
        assert "pod-step" not in html, [l for l in html.splitlines() if "pod-step" in l]
        assert "and the pods on them are not costed (7 pods)" in html, html[:4000]
    t.run("the HTML page says pods, not pod-steps", plain_html)

    def controller_labels():
        snap = load(KIND)
        for it in snap["items"]:
            if it["kind"] == "Pod" and it["metadata"]["namespace"] == "shop":
                it["metadata"]["namespace"] = "storefront-production"
                it["metadata"]["ownerReferences"][0]["name"] = "checkout-api-frontend-7d9c6b5f4"
                it["metadata"]["labels"]["pod-template-hash"] = "7d9c6b5f4"
        path = cli.write("long-names.json", snap)
        html, _ = cli.ok(["report", "--snapshot", path, "-q", "--by", "controller", "-o", "html"])
        labels = re.findall(r'<text x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)</text>', html)
        assert "storef\u2026/Deployment/\u2026rontend" in labels, labels
        assert "batch/CronJob/report" in labels, labels
        assert "storefront-production/Deployment/checkout-api-frontend" in html  # whole in the table
    t.run("chart labels of controllers keep the kind whole", controller_labels)


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    if not os.access(binary, os.X_OK):
        print("FAIL binary %s is executable" % binary)
        print("0 passed, 1 failed")
        return 1
    cli = Cli(binary)
    gap_tests(t, cli)
    cli_tests(t, cli)
    default_price_tests(t, cli)
    shared_tests(t, cli)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
