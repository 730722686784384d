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
        assert s["lower_bound_kind"] == "resources", s
        assert s["gap"] > 0.10, s
        c = codes(plan)
        assert "hostname_rules" in c, c
        assert "existing_room" in c, c
        hr = [r for r in s["gap_reasons"] if r["code"] == "hostname_rules"][0]
        assert hr["text"].startswith("3 pods on new nodes"), hr
        out, _ = cli.ok(base)
        for w in ("Cost 0.3000 USD/hour; lower bound 0.1500 USD/hour (a resource-only bound that ignores",
                  "the plan is at most 100.0% above the cheapest possible",
                  "The gap is large; the likely reasons:",
                  "- 3 pods on new nodes have hostname anti-affinity"):
            assert w in out, "table lacks %r:\n%s" % (w, out)
        assert "Proven lower bound for these pods" not in out, out
    t.run("a loose resource bound says what it is and names hostname rules and existing room", loose_bound_named)

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
        assert "the optimizer did not run (--time-limit 0)" in out, out
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
        assert "the optimizer's bound over whole-node packings" in out, out
        assert "likely reasons" not in out, out
    t.run("with nothing kept aside the optimizer's pattern bound is named and the gap explained by nothing",
          pattern_bound_tight)

    def demo_reasons():
        plan = cli.json(["recommend", "--snapshot", os.path.join(ROOT, "examples", "snapshot.json")])
        c = codes(plan)
        assert plan["summary"]["gap"] > 0.5, plan["summary"]
        for k in ("hostname_rules", "zone_rules", "existing_room"):
            assert k in c, c
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

    def yaml_report_config():
        cli.fails(["report", "--snapshot", ANTI, "--config", os.path.join(ROOT, "examples", "stevedore.yaml")], 2,
                  ["stevedore.yaml: looks like YAML; this file must be JSON", "docs/report.md"])
    t.run("recommend's YAML configuration given to report --config is named as YAML", yaml_report_config)

    def yaml_metrics():
        path = cli.write("usage.yaml", "apiVersion: metrics.k8s.io/v1beta1\nkind: PodMetricsList\nitems: []\n")
        cli.fails(["report", "--snapshot", ANTI, "--metrics", path], 2,
                  [path + ": looks like YAML; this file must be JSON", "metrics.k8s.io"])
        rc, out, err = cli.run(["report", "--snapshot", ANTI, "--metrics", "-"],
                               stdin="apiVersion: metrics.k8s.io/v1beta1\nkind: PodMetricsList\nitems: []\n")
        assert rc == 2 and out == "", (rc, out, err)
    t.run("a YAML metrics file is named as YAML", yaml_metrics)


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
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
