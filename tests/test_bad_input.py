#!/usr/bin/env python3
"""Bad input to `stevedore recommend`: every case must exit 2, print nothing
on stdout and name the file, the item and the field on stderr.

    python3 tests/test_bad_input.py [build/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import copy
import json
import os
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Runner  # noqa: E402



def good_snapshot():
    """items[0] Node n1, items[1] Pod default/ok-0, items[2] Pod team-a/web-5."""
    return {
        "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
        "items": [
            {"apiVersion": "v1", "kind": "Node",
             "metadata": {"name": "n1", "labels": {
                 "kubernetes.io/hostname": "n1", "topology.kubernetes.io/zone": "us-east-1a",
                 "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}},
             "spec": {},
             "status": {"allocatable": {"cpu": "1930m", "memory": "6903Mi", "pods": "29"},
                        "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"}}},
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "ok-0", "namespace": "default", "labels": {"app": "ok"}},
             "spec": {"containers": [{"name": "c", "resources": {
                 "requests": {"cpu": "100m", "memory": "64Mi"}}}]},
             "status": {"phase": "Pending"}},
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "web-5", "namespace": "team-a", "labels": {"app": "web"}},
             "spec": {
                 "initContainers": [{"name": "init", "resources": {
                     "limits": {"cpu": "200m", "memory": "32Mi"}}}],
                 "containers": [{"name": "web", "resources": {
                     "requests": {"cpu": "250m", "memory": "128Mi"},
                     "limits": {"cpu": "500m", "memory": "128Mi"}}}],
                 "affinity": {
                     "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                         "nodeSelectorTerms": [{"matchExpressions": [
                             {"key": "kubernetes.io/arch", "operator": "In",
                              "values": ["amd64"]}]}]}},
                     "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                         {"labelSelector": {"matchExpressions": [
                             {"key": "app", "operator": "In", "values": ["web"]}]},
                          "topologyKey": "kubernetes.io/hostname"}]}}},
             "status": {"phase": "Pending"}},
        ]}


def good_catalog():
    return {"provider": "aws", "region": "us-east-1", "currency": "USD",
            "instance_types": [
                {"name": "m5.large", "arch": "amd64",
                 "capacity": {"cpu": "2", "memory": "8192Mi", "pods": "29"},
                 "allocatable": {"cpu": "1930m", "memory": "6903Mi", "pods": "29"},
                 "labels": {"example.com/family": "m5"},
                 "offerings": [
                     {"capacity_type": "on-demand", "zone": "us-east-1a", "price": 0.096},
                     {"capacity_type": "spot", "zone": "us-east-1a", "price": 0.0326,
                      "interruption_rate": 0.175}]}]}


class Case(object):
    def __init__(self, binary, tmp):
        self.binary = binary
        self.tmp = tmp

    def write(self, name, content):
        path = os.path.join(self.tmp, name)
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(path, mode) as f:
            if isinstance(content, (dict, list)):
                json.dump(content, f, indent=1)
            else:
                f.write(content)
        return path

    def run(self, args):
        p = subprocess.run([self.binary] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")

    def expect_error(self, args, needles):
        rc, out, err = self.run(args)
        where = "command: stevedore %s\nexit %d\nstdout: %r\nstderr: %r" % (
            " ".join(args), rc, out[:500], err[:1000])
        assert rc == 2, "expected exit 2\n" + where
        assert out == "", "expected nothing on stdout\n" + where
        assert err.strip(), "expected a message on stderr\n" + where
        missing = [n for n in needles if n not in err]
        assert not missing, "stderr does not mention %s\n%s" % (
            ", ".join(repr(m) for m in missing), where)


def snapshot_with(mutate):
    s = good_snapshot()
    mutate(s)
    return s


def find_binary(argv):
    """The binary named on the command line, else build/stevedore, else the
    meson build's build/controller/stevedore."""
    if argv:
        return os.path.abspath(argv[0])
    for p in ("build/stevedore", "build/controller/stevedore"):
        if os.access(p, os.X_OK):
            return os.path.abspath(p)
    return os.path.abspath("build/stevedore")


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    if not os.access(binary, os.X_OK):
        print("FAIL binary %s is executable" % binary)
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="stv-bad-")
    c = Case(binary, tmp)
    cat = c.write("catalog.json", good_catalog())

    def rec(*paths, extra=()):
        args = ["recommend"]
        for p in paths:
            args += ["--snapshot", p]
        return args + ["--catalog", cat] + list(extra)

    def sanity():
        p = c.write("good.json", good_snapshot())
        rc, out, err = c.run(rec(p, extra=["--output", "json"]))
        assert rc == 0, "the unmodified snapshot must be accepted: exit %d\n%s" % (rc, err)
        json.loads(out)
    t.run("the good snapshot is accepted (baseline)", sanity)

    # ---- malformed JSON
    text = json.dumps(good_snapshot(), indent=1)

    def truncated():
        p = c.write("truncated.json", text[:len(text) // 2])
        c.expect_error(rec(p), ["truncated.json"])
    t.run("truncated JSON", truncated)

    def garbage():
        p = c.write("garbage.json", "this is not JSON at all {]")
        c.expect_error(rec(p), ["garbage.json"])
    t.run("garbage instead of JSON", garbage)

    def binary_garbage():
        p = c.write("binary.json", bytes(range(256)) * 4)
        c.expect_error(rec(p), ["binary.json"])
    t.run("binary garbage", binary_garbage)

    def empty():
        p = c.write("empty.json", "")
        c.expect_error(rec(p), ["empty.json"])
    t.run("empty file", empty)

    def not_object_item():
        p = c.write("item.json", snapshot_with(lambda s: s["items"].__setitem__(1, 42)))
        c.expect_error(rec(p), ["item.json", "items[1]"])
    t.run("item that is not an object", not_object_item)

    def items_not_array():
        p = c.write("items.json", {"apiVersion": "v1", "kind": "List", "items": {"a": 1}})
        c.expect_error(rec(p), ["items.json", "items"])
    t.run("items that is not an array", items_not_array)

    def top_level_array():
        p = c.write("array.json", [1, 2, 3])
        c.expect_error(rec(p), ["array.json"])
    t.run("top-level JSON array", top_level_array)

    # ---- quantities
    cpu_path = "spec.containers[0].resources.requests.cpu"

    def set_cpu(v):
        def m(s):
            s["items"][2]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = v
        return m

    for label, value in (("12x", "12x"), ("empty string", ""), ("1e999", "1e999"),
                         ("negative", "-1"), ("suffix only", "Mi"), ("two dots", "1.2.3")):
        def q(value=value, label=label):
            name = "qty-%s.json" % label.replace(" ", "-")
            p = c.write(name, snapshot_with(set_cpu(value)))
            c.expect_error(rec(p), [name, "items[2]", "web-5", cpu_path])
        t.run("invalid quantity %s" % label, q)

    def qty_message():
        p = c.write("snapshot.json", snapshot_with(set_cpu("12x")))
        c.expect_error(rec(p), ["snapshot.json", "items[2]", "team-a/web-5", cpu_path, "12x"])
    t.run("invalid quantity message names file, item, pod, field and value", qty_message)

    def non_string_qty():
        p = c.write("nonstring.json", snapshot_with(set_cpu(True)))
        c.expect_error(rec(p), ["nonstring.json", "items[2]", cpu_path])
    t.run("non-string quantity (boolean)", non_string_qty)

    def object_qty():
        p = c.write("objqty.json", snapshot_with(set_cpu({"value": 1})))
        c.expect_error(rec(p), ["objqty.json", "items[2]", cpu_path])
    t.run("non-string quantity (object)", object_qty)

    def limit_qty():
        def m(s):
            s["items"][2]["spec"]["initContainers"][0]["resources"]["limits"]["memory"] = "32Q"
        p = c.write("limit.json", snapshot_with(m))
        c.expect_error(rec(p), ["limit.json", "items[2]",
                                "spec.initContainers[0].resources.limits.memory"])
    t.run("invalid quantity in an init container's limits", limit_qty)

    def overhead_qty():
        def m(s):
            s["items"][1]["spec"]["overhead"] = {"cpu": "lots"}
        p = c.write("overhead.json", snapshot_with(m))
        c.expect_error(rec(p), ["overhead.json", "items[1]", "spec.overhead.cpu"])
    t.run("invalid quantity in spec.overhead", overhead_qty)

    def node_qty():
        def m(s):
            s["items"][0]["status"]["allocatable"]["memory"] = "6903MiB"
        p = c.write("nodeqty.json", snapshot_with(m))
        c.expect_error(rec(p), ["nodeqty.json", "items[0]", "status.allocatable.memory"])
    t.run("invalid quantity in a node's allocatable", node_qty)

    # ---- structure
    def missing_name():
        def m(s):
            del s["items"][2]["metadata"]["name"]
        p = c.write("noname.json", snapshot_with(m))
        c.expect_error(rec(p), ["noname.json", "items[2]", "metadata.name"])
    t.run("missing metadata.name", missing_name)

    def node_missing_name():
        def m(s):
            del s["items"][0]["metadata"]["name"]
        p = c.write("nonodename.json", snapshot_with(m))
        c.expect_error(rec(p), ["nonodename.json", "items[0]", "metadata.name"])
    t.run("node without metadata.name", node_missing_name)

    def containers_not_array():
        def m(s):
            s["items"][2]["spec"]["containers"] = {"name": "web"}
        p = c.write("containers.json", snapshot_with(m))
        c.expect_error(rec(p), ["containers.json", "items[2]", "spec.containers"])
    t.run("spec.containers not an array", containers_not_array)

    def labels_not_object():
        def m(s):
            s["items"][1]["metadata"]["labels"] = ["app", "ok"]
        p = c.write("labels.json", snapshot_with(m))
        c.expect_error(rec(p), ["labels.json", "items[1]", "metadata.labels"])
    t.run("metadata.labels not an object", labels_not_object)

    def name_not_string():
        def m(s):
            s["items"][1]["metadata"]["name"] = 17
        p = c.write("namenum.json", snapshot_with(m))
        c.expect_error(rec(p), ["namenum.json", "items[1]", "metadata.name"])
    t.run("metadata.name not a string", name_not_string)

    def unknown_node_operator():
        def m(s):
            s["items"][2]["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
                "matchExpressions"][0]["operator"] = "Maybe"
        p = c.write("nodeop.json", snapshot_with(m))
        c.expect_error(rec(p), ["nodeop.json", "items[2]",
                                "nodeSelectorTerms[0].matchExpressions[0].operator", "Maybe"])
    t.run("unknown operator in node affinity", unknown_node_operator)

    def unknown_pod_operator():
        def m(s):
            s["items"][2]["spec"]["affinity"]["podAntiAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"][
                "matchExpressions"][0]["operator"] = "Gt"
        p = c.write("podop.json", snapshot_with(m))
        c.expect_error(rec(p), ["podop.json", "items[2]", "podAntiAffinity",
                                "matchExpressions[0].operator"])
    t.run("unknown operator in pod anti-affinity label selector", unknown_pod_operator)

    def second_file():
        good = c.write("first.json", good_snapshot())
        doc = snapshot_with(set_cpu("12x"))
        del doc["items"][:2]  # pods only: web-5 is items[0] here
        bad = c.write("second.json", doc)
        c.expect_error(rec(good, bad), ["second.json", "items[0]", "web-5", cpu_path])
    t.run("error in the second --snapshot file names that file", second_file)

    # ---- files
    def missing_file():
        p = os.path.join(tmp, "does-not-exist.json")
        c.expect_error(rec(p), ["does-not-exist.json"])
    t.run("missing snapshot file", missing_file)

    def directory():
        d = os.path.join(tmp, "a-directory")
        os.makedirs(d, exist_ok=True)
        c.expect_error(rec(d), ["a-directory"])
    t.run("snapshot path is a directory", directory)

    # ---- catalogue
    def unknown_catalog():
        p = c.write("ok.json", good_snapshot())
        c.expect_error(["recommend", "--snapshot", p, "--catalog", "azure:westeurope9"],
                       ["azure:westeurope9", "did you mean westeurope?"])
    t.run("unknown --catalog", unknown_catalog)

    def missing_catalog():
        p = c.write("ok.json", good_snapshot())
        cp = os.path.join(tmp, "no-such-catalog.json")
        c.expect_error(["recommend", "--snapshot", p, "--catalog", cp], ["no-such-catalog.json"])
    t.run("missing catalogue file", missing_catalog)

    def catalog_not_json():
        p = c.write("ok.json", good_snapshot())
        cp = c.write("badcat.json", '{"provider": "aws", "instance_types": [')
        c.expect_error(["recommend", "--snapshot", p, "--catalog", cp], ["badcat.json"])
    t.run("catalogue file that is not JSON", catalog_not_json)

    def catalog_bad_qty():
        p = c.write("ok.json", good_snapshot())
        bad = good_catalog()
        bad["instance_types"][0]["allocatable"]["cpu"] = "fast"
        cp = c.write("qtycat.json", bad)
        c.expect_error(["recommend", "--snapshot", p, "--catalog", cp],
                       ["qtycat.json", "instance_types[0]", "allocatable.cpu"])
    t.run("catalogue with an invalid quantity", catalog_bad_qty)

    def catalog_bad_price():
        p = c.write("ok.json", good_snapshot())
        bad = good_catalog()
        bad["instance_types"][0]["offerings"][1]["price"] = "cheap"
        cp = c.write("pricecat.json", bad)
        c.expect_error(["recommend", "--snapshot", p, "--catalog", cp],
                       ["pricecat.json", "instance_types[0]", "offerings[1]", "price"])
    t.run("catalogue with a non-numeric price", catalog_bad_price)

    def catalog_no_types():
        p = c.write("ok.json", good_snapshot())
        cp = c.write("notypes.json", {"provider": "aws", "region": "us-east-1",
                                      "instance_types": "none"})
        c.expect_error(["recommend", "--snapshot", p, "--catalog", cp],
                       ["notypes.json", "instance_types"])
    t.run("catalogue whose instance_types is not an array", catalog_no_types)

    # ---- flags
    def bad_capacity_types():
        p = c.write("ok.json", good_snapshot())
        c.expect_error(rec(p, extra=["--capacity-types", "spot,bogus"]), ["bogus"])
    t.run("unknown --capacity-types value", bad_capacity_types)

    def bad_output():
        p = c.write("ok.json", good_snapshot())
        c.expect_error(rec(p, extra=["--output", "yaml"]), ["yaml"])
    t.run("unknown --output", bad_output)

    def unknown_flag():
        p = c.write("ok.json", good_snapshot())
        c.expect_error(rec(p, extra=["--frobnicate"]), ["--frobnicate"])
    t.run("unknown flag", unknown_flag)

    def flag_without_value():
        p = c.write("ok.json", good_snapshot())
        c.expect_error(["recommend", "--snapshot", p, "--catalog"], ["--catalog"])
    t.run("flag without its value", flag_without_value)

    def no_snapshot():
        c.expect_error(["recommend", "--catalog", cat], ["--snapshot"])
    t.run("recommend without --snapshot", no_snapshot)

    def unknown_command():
        c.expect_error(["frobnicate"], ["frobnicate"])
    t.run("unknown command", unknown_command)

    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
