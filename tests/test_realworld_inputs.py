#!/usr/bin/env python3
"""The input shapes real clusters and tools produce, end to end: raw API
lists whose items carry no kind, YAML (also several documents, and on
standard input), `kubectl cluster-info dump` directories, a pod list without
nodes, pods bound to nodes missing from the snapshot, the same object read
twice, a node without allocatable or capacity, and broken YAML. Plans are
verified by the independent checker (tests/checker.py, which reads the same
files by its own means); `report` runs on the same inputs.

    python3 tests/test_realworld_inputs.py [build/controller/stevedore]

The inputs are under tests/data/realworld/inputs/ (see its README.md).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
IN = os.path.join(DATA, "realworld", "inputs")
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

import checker  # noqa: E402

TINY = os.path.join(DATA, "tiny_catalog.json")
AWS = "aws:us-east-1"


def f(name):
    return os.path.join(IN, name)


class Cli(object):
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="stv-inputs-")

    def run(self, args, stdin=None):
        p = subprocess.run([self.binary] + list(args), input=stdin, capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def ok(self, args, stdin=None):
        rc, out, err = self.run(args, stdin)
        assert rc == 0, "stevedore %s: exit %d\nstderr: %s" % (" ".join(args), rc, err[-2000:])
        return out, err

    def fail(self, args, needles, status=2):
        rc, out, err = self.run(args)
        assert rc == status, "stevedore %s: exit %d, expected %d\nstderr: %s" % (" ".join(args), rc, status, err)
        assert out == "", "stdout not empty on error: %r" % out[:300]
        assert err.startswith("stevedore ") and err.count("\n") == 1, "stderr: %r" % err
        for n in needles:
            assert n in err, "%r not in the message: %s" % (n, err)
        return err

    def plan(self, snapshots, extra=(), stdin=None):
        args = ["recommend"]
        for s in snapshots:
            args += ["--snapshot", s]
        out, err = self.ok(args + ["--catalog", TINY, "--output", "json"] + list(extra), stdin)
        return json.loads(out), err

    def report(self, snapshots):
        args = ["report"]
        for s in snapshots:
            args += ["--snapshot", s]
        out, err = self.ok(args + ["--catalog", AWS, "--output", "json"])
        return json.loads(out), err

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as fh:
            fh.write(text)
        return path


def feasible(snapshots, plan):
    inp = checker.load_inputs(snapshots, TINY)
    res = checker.check_plan(inp, plan, list(checker.DEFAULT_CAPACITY_TYPES))
    assert res.ok, "checker: plan not feasible:\n%s" % "\n".join(res.violations)
    return inp


def placed(plan):
    return sorted(p for n in plan["nodes"] for p in n["pods"])


def pending_in(inp):
    return sorted(p.key for p in inp.pods if p.pending and p.ds_uid is None)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build", "controller", "stevedore")
    c = Cli(binary)
    t = Runner()

    def raw_lists():
        snaps = [f("raw-nodes.json"), f("raw-pods.json")]
        plan, err = c.plan(snaps)
        inp = feasible(snaps, plan)
        assert plan["summary"]["pending_pods"] == 3, plan["summary"]
        assert placed(plan) == pending_in(inp) == ["shop/web-7f9c5d8b6-4jq2p", "shop/web-7f9c5d8b6-9tl5x",
                                                   "shop/web-7f9c5d8b6-hx7rd"], placed(plan)
        on_existing = [n for n in plan["nodes"] if not n.get("new")]
        assert {n["name"] for n in on_existing} <= {"ip-10-0-1-17.ec2.internal", "ip-10-0-2-41.ec2.internal"}
        assert "1 finished pod" in err, err
        rep, _ = c.report(snaps)
        assert rep["totals"]["pods_costed"] == 2 and rep["totals"]["pods_pending"] == 3, rep["totals"]
        assert rep["totals"]["node_hours"] == 2, rep["totals"]
    t.run("kind-less items of raw API lists (kubectl get --raw /api/v1/nodes, /api/v1/pods)", raw_lists)

    def kubectl_list_still_needs_kinds():
        doc = json.load(open(f("raw-pods.json")))
        doc["kind"] = "List"
        p = c.write("plain-list.json", json.dumps(doc))
        c.fail(["recommend", "--snapshot", p, "--catalog", TINY], ["plain-list.json: items[0]", "kind: missing"])
    t.run("a plain List (kubectl's) still needs a kind per item", kubectl_list_still_needs_kinds)

    def dump_directory():
        d = f("eks-dump")
        plan, err = c.plan([d])
        inp = feasible([d], plan)
        assert plan["summary"]["pending_pods"] == 3, plan["summary"]
        assert placed(plan) == pending_in(inp), (placed(plan), pending_in(inp))
        assert "skipped 11 files of the cluster-info dump" in err, err
        assert any("cluster-info dump" in n for n in plan["notes"]), plan["notes"]
        # The DaemonSet pods of the dump count on their nodes: aws-node is reserved, not planned.
        assert not any("aws-node" in p for p in placed(plan)), placed(plan)
        rep, rerr = c.report([d])
        assert rep["totals"]["pods_costed"] == 4 and rep["totals"]["pods_pending"] == 3, rep["totals"]
        assert rep["totals"]["node_hours"] == 2, rep["totals"]
        assert "cluster-info dump" in rerr, rerr
    t.run("kubectl cluster-info dump --output-directory tree (EKS)", dump_directory)

    def dump_to_stdout():
        # The default `kubectl cluster-info dump`: JSON documents one after the other, container
        # logs between them. Read as the directory is, the log blocks skipped and counted.
        s = f("eks-dump-stdout.txt")
        ps, err = c.plan([s])
        pd, _ = c.plan([f("eks-dump")])
        assert {k: v for k, v in ps.items() if k != "notes"} == {k: v for k, v in pd.items() if k != "notes"}
        assert "7 container log blocks of the cluster-info dump" in err, err
        with open(s) as fh:
            text = fh.read()
        pin, _ = c.plan(["-"], stdin=text)
        assert pin["nodes"] == ps["nodes"]
        cut = c.write("cut.txt", text[:text.rindex("==== END")])
        c.fail(["recommend", "--snapshot", cut, "--catalog", TINY],
               ["cut.txt document 15: truncated in the container log block that starts at line"])
        junk = c.write("junk.txt", text.replace("==== START logs for container main of pod default/batch",
                                                "=== START logs for container main of pod default/batch", 1))
        c.fail(["recommend", "--snapshot", junk, "--catalog", TINY], ["junk.txt document 8: trailing garbage after the document at line 452, column 1"])
        rep, rerr = c.report([s])
        assert rep["totals"]["pods_costed"] == 4 and "container log blocks" in rerr, (rep["totals"], rerr)
    t.run("kubectl cluster-info dump to standard output: documents and log blocks", dump_to_stdout)

    def not_a_dump_directory():
        d = os.path.join(c.tmp, "just-a-dir")
        os.makedirs(os.path.join(d, "default"), exist_ok=True)
        shutil.copy(f("team-pods.json"), os.path.join(d, "default", "pods.json"))
        c.fail(["recommend", "--snapshot", d, "--catalog", TINY], ["just-a-dir", "no nodes.json"])
        c.fail(["report", "--snapshot", d, "--catalog", AWS], ["just-a-dir", "no nodes.json"])
    t.run("a directory that is not a cluster-info dump", not_a_dump_directory)

    def yaml_equals_json():
        ys = [f("minikube-nodes.yaml"), f("minikube-pods.yaml")]
        js = [f("minikube-nodes.json"), f("minikube-pods.json")]
        py, _ = c.plan(ys)
        pj, _ = c.plan(js)
        assert py == pj, "YAML and JSON of the same objects give different plans"
        feasible(ys, py)
        assert py["summary"]["pending_pods"] == 3, py["summary"]
        # The minikube node has no instance type to price: report on the EKS nodes, where the
        # minikube pods are bound to a node missing from the snapshot.
        ry, _ = c.report([f("raw-nodes.json"), f("minikube-pods.yaml")])
        rj, _ = c.report([f("raw-nodes.json"), f("minikube-pods.json")])
        assert ry["totals"] == rj["totals"] and ry["notes"] == rj["notes"], (ry["totals"], rj["totals"])
        assert ry["totals"]["pods_on_missing_nodes"] == 3 and ry["totals"]["pods_pending"] == 3, ry["totals"]
    t.run("kubectl get -o yaml (minikube) reads as its JSON does", yaml_equals_json)

    def yaml_on_stdin():
        with open(f("minikube-pods.yaml")) as fh:
            text = fh.read()
        ps, _ = c.plan([f("minikube-nodes.yaml"), "-"], stdin=text)
        pf, _ = c.plan([f("minikube-nodes.yaml"), f("minikube-pods.yaml")])
        assert ps == pf
        # Told by content: a YAML file without a telling extension.
        p = c.write("pods.txt", text)
        pt, _ = c.plan([f("minikube-nodes.yaml"), p])
        assert pt == pf
    t.run("YAML on standard input and without extension, told by content", yaml_on_stdin)

    def multi_document_yaml():
        plan, _ = c.plan([f("multi-doc.yaml")])
        inp = feasible([f("multi-doc.yaml")], plan)
        assert placed(plan) == pending_in(inp) == ["demo/solo", "demo/worker-0", "demo/worker-1"], placed(plan)
    t.run("a YAML stream of several documents (Node, PodList, Pod, empty)", multi_document_yaml)

    def pods_without_nodes():
        plan, err = c.plan([f("team-pods.json")])
        feasible([f("team-pods.json")], plan)
        assert plan["summary"]["pending_pods"] == 3 and plan["summary"]["placed_pods"] == 3
        assert all(n.get("new") for n in plan["nodes"])
        assert "existing capacity was not given" in err, err
        assert any("existing capacity was not given" in n for n in plan["notes"]), plan["notes"]
        # Quiet keeps stderr empty; the JSON still says it.
        out, qerr = c.ok(["recommend", "--snapshot", f("team-pods.json"), "--catalog", TINY, "-o", "json", "-q"])
        assert qerr == "" and any("existing capacity" in n for n in json.loads(out)["notes"])
    t.run("a pod list without nodes (kubectl get pods -n team -o json)", pods_without_nodes)

    def pods_on_missing_nodes():
        snaps = [f("raw-nodes.json"), f("raw-pods.json"), f("pods-missing-node.json")]
        plan, err = c.plan(snaps)
        feasible(snaps, plan)
        assert plan["summary"]["pending_pods"] == 3, plan["summary"]
        assert not any("gone" in p or "worker" in p for p in placed(plan)), placed(plan)
        assert "4 pods are bound to nodes missing from the snapshot" in err, err
        assert "shop/api-6d4b9c7f5-gone1 on ip-10-0-3-99.ec2.internal" in err, err
        assert "left out of the plan" in err, err
        assert any("4 pods are bound" in n for n in plan["notes"]), plan["notes"]
        # The what-if repack leaves them out too, and does not count them as pending.
        out, _ = c.ok(["recommend", "--mode", "repack", "--catalog", AWS, "-o", "json"] +
                      [a for s in snaps for a in ("--snapshot", s)])
        doc = json.loads(out)
        assert doc["repack"]["pending_pods_left_out"] == 3, doc["repack"]
        assert any("4 pods are bound" in n for n in doc["notes"]), doc["notes"]
        rep, _ = c.report(snaps)
        notes = " ".join(rep["notes"])
        assert "4 pods are bound to nodes missing" in notes and "not attributed to any priced node" in notes, notes
        assert rep["totals"]["pods_on_missing_nodes"] == 4, rep["totals"]
    t.run("pods bound to nodes missing from the snapshot: a note, in recommend and report", pods_on_missing_nodes)

    def duplicates():
        once, _ = c.plan([f("raw-nodes.json"), f("raw-pods.json")])
        twice, err = c.plan([f("raw-nodes.json"), f("raw-pods.json"), f("raw-pods.json"), f("raw-nodes.json")])
        assert once["nodes"] == twice["nodes"] and once["summary"]["pending_pods"] == twice["summary"]["pending_pods"]
        assert "identical duplicates (read once)" in err, err
        snaps = [f("raw-nodes.json"), f("raw-pods.json"), f("raw-pods-newer.json")]
        plan, err = c.plan(snaps)
        inp = feasible(snaps, plan)
        assert plan["summary"]["pending_pods"] == 2, plan["summary"]
        assert "shop/web-7f9c5d8b6-4jq2p" not in placed(plan)
        assert pending_in(inp) == placed(plan)
        assert "Pod shop/web-7f9c5d8b6-4jq2p (resourceVersion 2001, then 2107: kept 2107)" in err, err
        # Read in the other order the newer still wins.
        back, _ = c.plan([f("raw-nodes.json"), f("raw-pods-newer.json"), f("raw-pods.json")])
        assert back["summary"]["pending_pods"] == 2, back["summary"]
        rep1, _ = c.report([f("raw-nodes.json"), f("raw-pods.json")])
        rep2, _ = c.report([f("raw-nodes.json"), f("raw-pods.json"), f("raw-pods.json")])
        assert rep1["totals"] == rep2["totals"], (rep1["totals"], rep2["totals"])
    t.run("the same pod or node twice: once when identical, else the newer resourceVersion", duplicates)

    def node_without_capacity():
        snaps = [f("node-no-capacity.json"), f("team-pods.json")]
        plan, err = c.plan(snaps)
        feasible(snaps, plan)
        assert all(n.get("new") for n in plan["nodes"] if n["pods"]), plan["nodes"]
        assert "ip-10-0-5-5.ec2.internal) read as full" in err, err
        rep, _ = c.report([f("raw-nodes.json"), f("node-no-capacity.json")])
        assert any("read as full" in n for n in rep["notes"]), rep["notes"]
    t.run("a node with neither allocatable nor capacity is full, with a note", node_without_capacity)

    def yaml_errors():
        c.fail(["recommend", "--snapshot", f("bad-syntax.yaml"), "--catalog", TINY],
               ["bad-syntax.yaml:7:4: YAML syntax error"])
        c.fail(["recommend", "--snapshot", f("bad-quantity.yaml"), "--catalog", TINY],
               ["bad-quantity.yaml:67:16: items[1] Pod shop/web-2: spec.containers[0].resources.requests.cpu: "
                "invalid quantity \"2x\""])
        # canary: yes is a boolean in YAML 1.1, as sigs.k8s.io/yaml reads it: not a label value.
        c.fail(["recommend", "--snapshot", f("bad-label.yaml"), "--catalog", TINY],
               ["bad-label.yaml:9:15: items[0] Pod shop/flag-1: metadata.labels.canary: not a string"])
        c.fail(["report", "--snapshot", f("bad-quantity.yaml"), "--catalog", AWS],
               ["bad-quantity.yaml:67:16: items[1] Pod shop/web-2", "requests.cpu"])
    t.run("YAML errors name file:line:column and the field", yaml_errors)

    def yaml_bad_inputs():
        cases = [
            ("tabs.yaml", "apiVersion: v1\nkind: List\nitems:\n\t- kind: Pod\n", ["tabs.yaml:4:1", "YAML syntax error"]),
            ("dupkey.yaml", "kind: Pod\nmetadata:\n  name: a\n  name: b\n", ["dupkey.yaml:4:3", "duplicate key \"name\""]),
            ("alias.yaml", "kind: Pod\nmetadata: *nowhere\n", ["alias.yaml:2:11", "unknown alias"]),
            ("scalar.yaml", "just a string\n", ["scalar.yaml:1:1", "not a mapping"]),
            ("seq.yaml", "- kind: Pod\n", ["seq.yaml:1:1", "not a mapping"]),
            ("items.yaml", "kind: List\nitems: {a: 1}\n", ["items.yaml:2:8", "\"items\" is not a sequence"]),
            ("item.yaml", "kind: List\nitems:\n- 42\n", ["item.yaml:3:3", "items[0]: not a mapping"]),
            ("inf.yaml", "kind: Pod\nmetadata: {name: a}\nspec: {priority: .inf}\n", ["inf.yaml:3:18", "no JSON form"]),
            ("empty.yaml", "", ["empty.yaml: empty file"]),
            ("complexkey.yaml", "? [a, b]\n: c\n", ["complexkey.yaml:1:3", "key must be a scalar"]),
            ("deep.yaml", "a: " + "[" * 1200 + "]" * 1200 + "\n", ["deep.yaml:", "nested deeper than 1000"]),
            ("binary.yaml", "kind: Pod\nmetadata: {name: \"\x01\x02\"}\n", ["binary.yaml"]),
            ("nokind.yaml", "kind: List\nitems:\n- metadata: {name: a}\n", ["nokind.yaml:3:3: items[0]", "kind: missing"]),
        ]
        for name, text, needles in cases:
            p = c.write(name, text)
            c.fail(["recommend", "--snapshot", p, "--catalog", TINY], needles)
        # A billion laughs: aliases expand past the document's budget, refused rather than exhausting memory.
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in range(1, 9):
            lines.append("a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)))
        p = c.write("laughs.yaml", "\n".join(lines) + "\n")
        c.fail(["recommend", "--snapshot", p, "--catalog", TINY], ["laughs.yaml:", "aliases expand to more than 1048576 values"])
    t.run("bad YAML: tabs, duplicate keys, aliases, wrong shapes, depth, alias bombs", yaml_bad_inputs)

    def yaml_scalar_typing():
        # Quoted numbers stay strings (quantities), plain ones are numbers; 0x10 is 16 and 1_000m a string.
        text = ("apiVersion: v1\nkind: PodList\nitems:\n"
                "- metadata: {name: a, namespace: t, labels: {v: \"true\", n: \"1\"}}\n"
                "  spec:\n    containers:\n    - name: c\n"
                "      resources: {requests: {cpu: 0x2, memory: \"1Gi\"}}\n"
                "- metadata: {name: b, namespace: t}\n"
                "  spec:\n    containers:\n    - name: c\n"
                "      resources: {requests: {cpu: '1500m', memory: 1e9}}\n")
        p = c.write("typed.yaml", text)
        plan, _ = c.plan([p])
        feasible([p], plan)
        assert plan["summary"]["pending_pods"] == 2
        p2 = c.write("typed-bad.yaml", text.replace("cpu: 0x2", "cpu: 1_000x"))
        c.fail(["recommend", "--snapshot", p2, "--catalog", TINY], ["typed-bad.yaml:8:35", "invalid quantity \"1_000x\""])
    t.run("YAML scalars typed as sigs.k8s.io/yaml types them", yaml_scalar_typing)

    def every_error_names_the_file():
        for args, needle in [
            (["recommend", "--snapshot", f("bad-quantity.yaml"), "--catalog", TINY], "bad-quantity.yaml"),
            (["recommend", "--snapshot", os.path.join(c.tmp, "nope.yaml"), "--catalog", TINY], "nope.yaml"),
            (["report", "--snapshot", os.path.join(c.tmp, "nope.json"), "--catalog", AWS], "nope.json"),
        ]:
            c.fail(args, [needle])
        p = c.write("stdin-bad.yaml", "kind: Pod\nmetadata: {name: [}\n")
        with open(p) as fh:
            rc, out, err = c.run(["recommend", "--snapshot", "-", "--catalog", TINY], stdin=fh.read())
        assert rc == 2 and "<stdin>:2:" in err, err
    t.run("every error names the file (stdin as <stdin>)", every_error_names_the_file)

    shutil.rmtree(c.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main())
