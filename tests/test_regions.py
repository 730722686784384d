#!/usr/bin/env python3
"""The embedded catalogues of every region (docs/catalog.md, "Regions"),
end to end through the binary: each region of AWS, GCP and Azure plans a
new node; prices match the figures pricing/data/regions/README.md quotes
from its sources; an unknown region names the nearest ones (exit 2);
without --catalog, recommend and the controller take the catalogue of the
nodes' region label; and a plan in eu-west-1 costs what eu-west-1 charges.

    python3 tests/test_regions.py [build/controller/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

REGIONS = os.path.join(ROOT, "pricing", "data", "regions")


def pending_pod(name, cpu="250m", memory="256Mi", selector=None):
    spec = {"containers": [{"name": "main", "image": "example/app:1",
                            "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}
    if selector:
        spec["nodeSelector"] = selector
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": "uid-" + name},
            "spec": spec, "status": {"phase": "Pending"}}


def node(name, labels, provider_id=None):
    n = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": dict(labels)},
         "spec": {}, "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                                "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                                "conditions": [{"type": "Ready", "status": "True"}]}}
    if provider_id:
        n["spec"]["providerID"] = provider_id
    return n


def embedded_regions():
    """{provider: [regions]} as the CSVs list them."""
    out = {}
    for provider in ("aws", "gcp", "azure"):
        with open(os.path.join(REGIONS, provider + ".csv"), newline="") as f:
            out[provider] = sorted({row["region"] for row in csv.DictReader(f)})
    return out


class Cli(object):
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="stv-regions-")

    def snapshot(self, name, items):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
        return path

    def run(self, args):
        p = subprocess.run([self.binary] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300)
        return p.returncode, p.stdout, p.stderr

    def plan(self, snap, *args):
        rc, out, err = self.run(["recommend", "--snapshot", snap, "--time-limit", "0", "-o", "json"] + list(args))
        assert rc == 0, "recommend %s: exit %d: %s" % (" ".join(args), rc, err)
        return json.loads(out), err

    def price(self, spec, instance_type, capacity_type):
        """The hourly price the plan gives one new node of instance_type."""
        key = "node.kubernetes.io/instance-type"
        snap = self.snapshot("one-%s.json" % instance_type, [pending_pod("p", "100m", "64Mi", {key: instance_type})])
        plan, _ = self.plan(snap, "--catalog", spec, "--capacity-types", capacity_type, "--quiet")
        new = [n for n in plan["nodes"] if n.get("new")]
        assert len(new) == 1, "%s %s %s: expected one new node, got %s" % (spec, instance_type, capacity_type,
                                                                            plan["summary"])
        assert new[0]["instance_type"] == instance_type
        return new[0]["price"]


def check_price(cli, spec, instance_type, capacity_type, want):
    got = cli.price(spec, instance_type, capacity_type)
    assert abs(got - want) < 1e-9, "%s %s %s: price %r, the source says %r" % (spec, instance_type,
                                                                               capacity_type, got, want)


def every_region_plans(cli):
    snap = cli.snapshot("small.json", [pending_pod("p-%d" % i) for i in range(3)])
    count = 0
    for provider, names in sorted(embedded_regions().items()):
        for region in names:
            spec = "%s:%s" % (provider, region)
            plan, _ = cli.plan(snap, "--catalog", spec, "--quiet")
            new = [n for n in plan["nodes"] if n.get("new")]
            assert plan["summary"]["placed_pods"] == 3 and new, "%s placed %s" % (spec, plan["summary"])
            for n in new:
                assert n["labels"]["topology.kubernetes.io/region"] == region, (spec, n["labels"])
                # AKS labels the nodes of a region without availability zones "0".
                ok = n["zone"].startswith(region) or (provider == "azure" and n["zone"] == "0")
                assert ok, "%s: zone %s" % (spec, n["zone"])
            count += 1
    assert count == 34 + 43 + 57, count


def aws_prices(cli):
    check_price(cli, "aws:us-east-1", "m5.large", "on-demand", 0.096)
    check_price(cli, "aws:eu-west-1", "m5.large", "on-demand", 0.107)
    # The Spot Advisor's 57 % saving in eu-west-1: 0.107 x 0.43.
    check_price(cli, "aws:eu-west-1", "m5.large", "spot", 0.04601)
    check_price(cli, "aws:us-gov-west-1", "c5.xlarge", "on-demand", 0.204)


def gcp_prices(cli):
    check_price(cli, "gcp:us-central1", "n2-standard-2", "on-demand", 0.097118)
    check_price(cli, "gcp:us-central1", "n2-standard-2", "spot", 0.04606)
    check_price(cli, "gcp:europe-west4", "e2-standard-4", "on-demand", 0.14754408)
    check_price(cli, "gcp:europe-west4", "e2-standard-4", "spot", 0.070528)


def azure_prices(cli):
    check_price(cli, "azure:eastus", "Standard_D2s_v5", "on-demand", 0.096)
    check_price(cli, "azure:westeurope", "Standard_D4s_v5", "on-demand", 0.23)
    check_price(cli, "azure:japaneast", "Standard_NC24ads_A100_v4", "on-demand", 5.326)


def azure_has_no_spot(cli):
    snap = cli.snapshot("spot.json", [pending_pod("p")])
    rc, out, err = cli.run(["recommend", "--snapshot", snap, "--catalog", "azure:westeurope",
                            "--capacity-types", "spot", "--time-limit", "0", "-o", "json", "--quiet"])
    assert rc == 0, err
    plan = json.loads(out)
    assert plan["summary"]["new_nodes"] == 0 and plan["summary"]["unschedulable_pods"] == 1, plan["summary"]


def burstable_everywhere(cli):
    # Burstable types are only used where a pool allows them; none here, so a pod that
    # selects one stays unplaced in every region: the baseline marks them there too.
    for spec, t in (("aws:eu-west-1", "t3.medium"), ("azure:westeurope", "Standard_B2s"),
                    ("gcp:europe-west4", "e2-medium"), ("azure:eastus", "Standard_B2pls_v2")):
        snap = cli.snapshot("burst.json", [pending_pod("p", "100m", "64Mi",
                                                       {"node.kubernetes.io/instance-type": t})])
        plan, _ = cli.plan(snap, "--catalog", spec, "--quiet")
        assert plan["summary"]["new_nodes"] == 0, "%s %s is not marked burstable: %s" % (spec, t,
                                                                                        plan["summary"])


def nearest_names(cli):
    snap = cli.snapshot("small.json", [pending_pod("p")])
    for spec, want in (("aws:eu-west-9", "did you mean eu-west-1, eu-west-2 or eu-west-3?"),
                       ("gcp:europe-west44", "did you mean europe-west4?"),
                       ("azure:westeurop", "did you mean westeurope?")):
        rc, out, err = cli.run(["recommend", "--snapshot", snap, "--catalog", spec])
        assert rc == 2 and out == "", "%s: exit %d" % (spec, rc)
        assert spec in err and want in err, "%s: %r" % (spec, err)
    rc, _, err = cli.run(["report", "--snapshot", snap, "--catalog", "aws:eu-west-9"])
    assert rc == 2 and "did you mean eu-west-1" in err, (rc, err)


def chosen_from_labels(cli):
    pods = [pending_pod("p-%d" % i, "1500m", "1Gi") for i in range(2)]
    cases = [
        ({"topology.kubernetes.io/region": "eu-west-1"}, "aws:eu-west-1"),
        ({"failure-domain.beta.kubernetes.io/region": "europe-west4"}, "gcp:europe-west4"),
        ({"topology.kubernetes.io/region": "westeurope"}, "azure:westeurope"),
    ]
    for labels, spec in cases:
        snap = cli.snapshot("labelled.json", [node("n-%d" % i, labels) for i in range(2)] + pods)
        plan, err = cli.plan(snap)
        assert "note: catalogue %s: the nodes' region label says" % spec in err, (spec, err)
        region = spec.split(":")[1]
        assert all(n["labels"]["topology.kubernetes.io/region"] == region
                   for n in plan["nodes"] if n.get("new")), spec
    mixed = [node("a", {"topology.kubernetes.io/region": "eu-west-1"}),
             node("b", {"topology.kubernetes.io/region": "eu-west-2"})]
    for items, why in ((mixed, "more than one region (eu-west-1, eu-west-2)"),
                       ([node("a", {})], "no node has a topology.kubernetes.io/region label"),
                       ([node("a", {"topology.kubernetes.io/region": "mars-1"})],
                        "region mars-1 has no embedded catalogue")):
        snap = cli.snapshot("fallback.json", items + pods)
        plan, err = cli.plan(snap)
        assert "note: catalogue aws:us-east-1, the default: " in err and why in err, err
    rc, _, err = cli.run(["recommend", "--snapshot", cli.snapshot("quiet.json", mixed + pods), "--quiet",
                          "--time-limit", "0"])
    assert rc == 0 and "catalogue" not in err, err


def eu_prices_differ(cli):
    example = os.path.join(ROOT, "examples", "snapshot.json")
    us, _ = cli.plan(example, "--catalog", "aws:us-east-1", "--quiet")
    eu, _ = cli.plan(example, "--catalog", "aws:eu-west-1", "--quiet")
    auto, err = cli.plan(example)
    assert "catalogue aws:us-east-1: the nodes' region label says us-east-1" in err, err
    assert auto["summary"] == us["summary"], "the example's nodes are in us-east-1"
    a, b = us["summary"]["new_nodes_hourly_cost"], eu["summary"]["new_nodes_hourly_cost"]
    assert a > 0 and b > 0 and abs(a - b) > 1e-6, (a, b)
    assert all(n["zone"].startswith("eu-west-1") for n in eu["nodes"] if n.get("new"))


def simulate_in_a_region(cli):
    path = os.path.join(cli.tmp, "scenario.yaml")
    with open(path, "w") as f:
        f.write("name: regions\nduration: 30m\nseed: 1\ncatalog: azure:westeurope\n"
                "capacityTypes: [on-demand]\ninstanceTypes: [Standard_D4s_v5]\n"
                "zones: [westeurope-1, westeurope-2]\nsampleEvery: 1m\ndeployments:\n"
                "  - name: web\n    cpu: 500m\n    memory: 1Gi\n    replicas:\n      - {at: 0s, count: 6}\n")
    rc, out, err = cli.run(["simulate", "--scenario", path, "--output", "json", "--quiet"])
    assert rc == 0, err
    run = json.loads(out)
    assert run["catalog"] == "azure:westeurope"
    ours = [p for p in run["policies"] if p["name"] == "stevedore"][0]
    assert ours["pods"] == 6 and ours["unscheduled_pods"] == 0 and ours["node_hours"] > 0, ours
    # Standard_D4s_v5 at westeurope's 0.23 an hour.
    assert abs(ours["cost"] / ours["node_hours"] - 0.23) < 1e-9, ours


def controller_chooses(cli):
    import ctltest
    with ctltest.Scene(cli.binary, "regions", scheduler=False, kubelet=False) as sc:
        for i in range(2):
            sc.api.ok("POST", "/api/v1/nodes", node("eu-%d" % i, {"topology.kubernetes.io/region": "eu-west-1"},
                                                     "aws:///eu-west-1a/i-0%d" % i))
        args = list(ctltest.FAST) + ["--lease-namespace", sc.lease_ns, "--dry-run"]
        c = ctltest.Controller(sc, "r1", args)
        sc.controllers.append(c)
        c.start()
        sc.wait_for("the log names the catalogue of the nodes' region",
                    lambda: c.records("catalogue of the nodes' region"), timeout=60)
        rec = c.records("catalogue of the nodes' region")[0]
        assert rec.get("catalog") == "aws:eu-west-1", rec
        sc.wait_for("the started line", lambda: c.records("started"), timeout=60)
        assert c.records("started")[0].get("catalog") == "aws:eu-west-1"
        c.must_run = False
        c.kill()
        sc.api.ok("POST", "/api/v1/nodes", node("gce-0", {"topology.kubernetes.io/region": "eu-west-1"},
                                                 "gce://project/europe-west4-a/gce-0"))
        c2 = ctltest.Controller(sc, "r2", args)
        sc.controllers.append(c2)
        c2.start()
        sc.wait_for("the log says the default and why",
                    lambda: c2.records("catalogue: the default (give --catalog)"), timeout=60)
        rec = c2.records("catalogue: the default (give --catalog)")[0]
        assert rec.get("catalog") == "aws:us-east-1" and "more than one cloud" in rec.get("reason", ""), rec


def generator_json(cli):
    out = os.path.join(cli.tmp, "eu.json")
    subprocess.run([sys.executable, os.path.join(ROOT, "pricing", "gen_catalog.py"), "--json", "--name",
                    "azure:westeurope", "--regions", REGIONS, "-o", out, "aws:us-east-1",
                    os.path.join(ROOT, "pricing", "data", "aws-us-east-1.csv")], check=True)
    with open(out) as f:
        cat = json.load(f)
    assert cat["region"] == "westeurope" and len(cat["instance_types"]) > 1000
    d4 = [t for t in cat["instance_types"] if t["name"] == "Standard_D4s_v5"][0]
    assert d4["capacity"]["cpu"] == "4" and d4["offerings"][0]["price"] == 0.23, d4
    # The file loads as a user catalogue and plans as the embedded one does.
    snap = cli.snapshot("small.json", [pending_pod("p-%d" % i) for i in range(3)])
    a, _ = cli.plan(snap, "--catalog", out, "--quiet")
    b, _ = cli.plan(snap, "--catalog", "azure:westeurope", "--quiet")
    assert a["summary"] == b["summary"] and a["nodes"] == b["nodes"]


TESTS = [
    ("every region of each cloud loads and plans a new node (34 AWS, 43 GCP, 57 Azure)", every_region_plans),
    ("AWS prices: us-east-1 and eu-west-1 m5.large 0.096 and 0.107 (spot 57 % off), us-gov-west-1 c5.xlarge",
     aws_prices),
    ("GCP prices: us-central1 n2-standard-2, europe-west4 e2-standard-4, on-demand and spot", gcp_prices),
    ("Azure prices: eastus Standard_D2s_v5, westeurope Standard_D4s_v5, japaneast NC24ads_A100_v4", azure_prices),
    ("Azure regions have no spot offerings (the data has no Azure spot prices)", azure_has_no_spot),
    ("burstable types (AWS T, Azure B-series, GCP e2 shared-core) are marked in every region", burstable_everywhere),
    ("an unknown region is an error naming the nearest ones, exit 2 (recommend, report)", nearest_names),
    ("without --catalog, recommend takes the nodes' region label (or the beta one), else the default",
     chosen_from_labels),
    ("examples/snapshot.json is priced differently in eu-west-1 than in us-east-1", eu_prices_differ),
    ("simulate runs a scenario whose catalog is azure:westeurope at its prices", simulate_in_a_region),
    ("without --catalog, the controller takes the nodes' region and providerID cloud, logged", controller_chooses),
    ("gen_catalog.py --json --name writes any region, which plans as the embedded one", generator_json),
]


def main(argv):
    binary = argv[1] if len(argv) > 1 else os.path.join(ROOT, "build", "controller", "stevedore")
    cli = Cli(binary)
    r = Runner()
    for name, fn in TESTS:
        r.run(name, lambda: fn(cli))
    shutil.rmtree(cli.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
