#!/usr/bin/env python3
"""End to end: `stevedore controller --provider gcp` against the Kubernetes
API emulator (tests/kubeapi/, scheduler and kubelet on, no nodes) and the
GCP emulator (tests/cloudemu/gcp.py) playing the kubelet of the instances
it launches. Pending pods -> a MIG resized -> Nodes registered with
providerID gce://PROJECT/ZONE/NAME and GKE's labels -> pods Running. Then
the cloud saying no: capacity exhausted in every zone of a machine type
(another offering is chosen), throttling (retried), tokens expired
(refreshed); a controller restarted in the middle of a scale-up (no second
scale-up); the calls made compared with the role in docs/cloud-gcp.md;
and no token or key in the controller's log.

    python3 tests/test_cloud_gcp.py [path/to/stevedore] [test names...]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "cloudemu"))
sys.path.insert(0, HERE)

import gcpkit  # noqa: E402

HAVE_GOOGLE_AUTH = gcpkit.with_google_auth()

import ctltest  # noqa: E402
import gcp  # noqa: E402
from ctltest import pod  # noqa: E402

PROJECT = "stv-e2e"
ZONES = ("us-east1-b", "us-east1-c", "us-east1-d")
GKE_LABELS = ("cloud.google.com/gke-nodepool", "cloud.google.com/gke-provisioning", "node.kubernetes.io/instance-type",
              "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "kubernetes.io/arch",
              "kubernetes.io/hostname")


def catalog():
    """The two machine types of the emulator's node pools, on-demand and
    spot in three zones (allocatable from the catalogue's GKE overhead
    model, as the emulator's kubelet reports it)."""
    def offers(od, spot):
        return [o for z in ZONES for o in ({"capacity_type": "on-demand", "zone": z, "price": od},
                                           {"capacity_type": "spot", "zone": z, "price": spot})]
    return {"provider": "gcp", "region": "us-east1", "currency": "USD", "source": "stevedore gcp e2e tests",
            "instance_types": [
                {"name": "e2-standard-4", "arch": "amd64", "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                 "offerings": offers(0.134, 0.040)},
                {"name": "n2-standard-8", "arch": "amd64", "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                 "offerings": offers(0.388, 0.094)}]}


class Cloud(object):
    """A Scene (the Kubernetes API emulator) with the GCP emulator beside
    it, a catalogue, a configuration and a service-account key."""

    def __init__(self, binary, name, key=True, permissions=True, launch_delay=1.0, tls=False, extra=()):
        self.sc = ctltest.Scene(binary, name).__enter__()
        try:
            self.key_path, self.key, cert = gcpkit.make_key(self.sc.tmp, "stevedore", PROJECT)
            perms = gcpkit.doc_permissions(ROOT) if permissions else None
            setup = gcpkit.setup_doc(PROJECT, [(self.key["client_email"], cert)], perms, ZONES)
            self.emu = gcp.Emulator(setup, kube_url="https://127.0.0.1:%d" % self.sc.emu.port,
                                    kube_token=self.sc.token_of("tester"), kube_ca=self.sc.emu.ca_file,
                                    launch_delay=launch_delay, op_delay=0.3,
                                    tls_dir=os.path.join(self.sc.tmp, "gcp-tls") if tls else None).start()
        except Exception:
            self.sc.__exit__(None, None, None)
            raise
        self.catalog = os.path.join(self.sc.tmp, "gcp-catalog.json")
        with open(self.catalog, "w") as f:
            json.dump(catalog(), f)
        self.config = os.path.join(self.sc.tmp, "config.yaml")
        lines = ["gcp:", "  project: %s" % PROJECT, "  computeEndpoint: %s/compute/v1" % self.emu.url(),
                 "  billingEndpoint: %s" % self.emu.url(),  # live prices from the emulator, never the network
                 "  namePrefix: gke-c1-", "  maxSize: 10", "  pollInterval: 1s"]
        if tls:
            lines += ["  caFile: %s" % self.emu.ca_file]
        lines += list(extra)
        if key:
            lines += ["  credentialsFile: %s" % self.key_path, "  tokenEndpoint: %s/token" % self.emu.url()]
        else:
            lines += ["  metadataHost: 127.0.0.1:%d" % self.emu.port]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def close(self):
        self.emu.stop()
        self.sc.__exit__(None, None, None)

    def controller(self, identity, *args, start=True, catalog=True):
        argv = ["--provider", "gcp", "--config", self.config] + (["--catalog", self.catalog] if catalog else []) + [
                "--batch-idle", "0.2s",
                "--batch-max", "2s", "--lease-name", ctltest.LEASE_NAME, "--lease-namespace", self.sc.lease_ns,
                "--log-format", "json", "--log-level", "debug"] + list(args)
        c = ctltest.Controller(self.sc, identity, argv)
        self.sc.controllers.append(c)
        return c.start() if start else c

    def state(self):
        return self.emu.state()

    def faults(self, doc):
        with self.emu.lock:
            self.emu.faults.update(doc)
            if doc.get("expire_credentials"):
                self.emu.tokens = {t: (0, who) for t, (_, who) in self.emu.tokens.items()}

    def targets(self):
        return {n: g["targetSize"] for n, g in self.state()["groups"].items()}

    def gcp_nodes(self):
        return [n for n in self.sc.nodes() if n["spec"].get("providerID", "").startswith("gce://")]

    def check_secrets(self, ctl):
        """No access token, key or assertion in the controller's log."""
        log = ctl.log()
        with self.emu.lock:
            tokens = list(self.emu.tokens)
        secret_lines = [l for l in self.key["private_key"].splitlines() if len(l) > 20]
        for s in tokens + secret_lines + [self.key["private_key_id"]]:
            assert s not in log, "a secret (%s...) is in the controller's log" % s[:12]
        assert "eyJhbGciOi" not in log, "a signed assertion is in the controller's log"


def workload(prefix, n=6, cpu="1", memory="2Gi"):
    return [pod("%s-%d" % (prefix, i), cpu=cpu, memory=memory) for i in range(n)]


def settle(cl, ctl, n_pods):
    sc = cl.sc
    sc.wait_for("every pod Running", lambda: sc.all_running(n_pods), timeout=90)


def t_scale_up(binary):
    """Pods pending -> a MIG of the cluster resized -> Nodes with gce://
    provider ids and GKE's labels -> every pod Running; the other
    cluster's MIG is left alone; tokens from the metadata server (GKE
    workload identity's way)."""
    cl = Cloud(binary, "gcp-up", key=False)
    try:
        ctl = cl.controller("r1")
        cl.sc.create_pods(*workload("web"))
        settle(cl, ctl, 6)
        nodes = cl.gcp_nodes()
        assert nodes, "no gce:// node registered"
        for n in nodes:
            pid = n["spec"]["providerID"]
            assert pid.startswith("gce://%s/us-east1-" % PROJECT) and pid.endswith("/" + n["metadata"]["name"]), pid
            missing = [k for k in GKE_LABELS if k not in n["metadata"]["labels"]]
            assert not missing, "node %s lacks %s" % (n["metadata"]["name"], missing)
        t = cl.targets()
        assert t["gke-other-pool-12345678-grp"] == 0, t
        assert sum(t.values()) == len(nodes), (t, len(nodes))
        calls = [c for c in cl.emu.calls if c["method"] == "instanceGroupManagers.resize"]
        assert calls and all(c["requestId"] for c in calls), calls
        cl.check_secrets(ctl)
    finally:
        cl.close()


def t_cloud_says_no(binary):
    """Throttling at start (retried); a malformed answer (an error naming
    the call, then listed again); e2-standard-4 exhausted in every zone
    (the resize operation fails with ZONE_RESOURCE_POOL_EXHAUSTED: the
    controller plans n2-standard-8 instead); tokens expired mid-run
    (refreshed with the key file's JWT bearer grant)."""
    cl = Cloud(binary, "gcp-no", key=True)
    try:
        cl.faults({"throttle": 3, "malformed": 1, "capacity": ["e2-standard-4/%s" % z for z in ZONES]})
        ctl = cl.controller("r1")
        cl.sc.create_pods(*workload("web"))
        settle(cl, ctl, 6)
        t = cl.targets()
        assert t["gke-c1-big-9c0d1e2f-grp"] > 0 and t["gke-c1-general-1a2b3c4d-grp"] == 0 and \
            t["gke-c1-spot-5e6f7a8b-grp"] == 0, t
        throttled = [c for c in cl.emu.calls if c["status"] == 429]
        assert len(throttled) == 3, throttled
        cut = [r for r in ctl.records("decision") if "not JSON" in r.get("text", "")]
        assert cut and "aggregatedList" in cut[0]["text"], "no decision names the malformed answer:\n" + \
            "\n".join(ctl.tail(30))
        failed = [r for r in ctl.records("decision") if "insufficient capacity" in r.get("text", "")]
        assert failed, "no decision says insufficient capacity:\n" + "\n".join(ctl.tail(30))
        issued = len(cl.emu.tokens)
        cl.faults({"expire_credentials": True, "capacity": []})
        cl.sc.create_pods(*workload("more", n=3, cpu="2", memory="4Gi"))
        settle(cl, ctl, 9)
        assert len(cl.emu.tokens) > issued, "no new token after the old ones expired"
        assert any(c["status"] == 401 for c in cl.emu.calls), "no call met the expired token"
        cl.check_secrets(ctl)
    finally:
        cl.close()


def t_stockout(binary):
    """A stockout the MIG reports in lastAttempt.errors: the instance is
    deleted from the group (its target drops), the launch counts as
    failed, and the pods land on another offering."""
    cl = Cloud(binary, "gcp-stock", key=True)
    try:
        cl.faults({"stockout": ["e2-standard-4/%s" % z for z in ZONES]})
        ctl = cl.controller("r1")
        cl.sc.create_pods(*workload("web", n=4))
        settle(cl, ctl, 4)
        assert cl.targets()["gke-c1-big-9c0d1e2f-grp"] > 0, cl.targets()
        assert ctl.records("decision") and any(r.get("kind") == "launch_failed" for r in ctl.records("decision")), \
            "no launch_failed decision:\n" + "\n".join(ctl.tail(30))
        assert any(c["method"] == "instanceGroupManagers.deleteInstances" for c in cl.emu.calls)
        stuck = [i for i in cl.state()["instances"].values() if i["error"]]
        assert not stuck, "instances left failing in their MIG: %s" % stuck
    finally:
        cl.close()


def t_restart(binary):
    """Killed right after its first scale-up, before any node registers,
    a restarted controller counts the instances in flight and does not
    scale up again."""
    cl = Cloud(binary, "gcp-restart", key=True, launch_delay=6.0)
    try:
        ctl = cl.controller("r1")
        cl.sc.create_pods(*workload("web"))
        cl.sc.wait_for("a resize", lambda: sum(cl.targets().values()) > 0, timeout=60)
        time.sleep(1.0)  # the operation completes
        ctl.must_run = False
        ctl.kill()
        first = cl.targets()
        assert not cl.gcp_nodes(), "a node registered already: the launch delay is too short for this test"
        ctl2 = cl.controller("r1")
        settle(cl, ctl2, 6)
        assert cl.targets() == first, "scaled up again after the restart: %s then %s" % (first, cl.targets())
    finally:
        cl.close()


def t_permissions(binary):
    """The emulator grants exactly the role of docs/cloud-gcp.md (a call
    outside it is 403 and fails the scale-up); afterwards every permission
    used is in the role, and the ones never used are reported."""
    cl = Cloud(binary, "gcp-perm", key=True)
    try:
        ctl = cl.controller("r1")
        cl.sc.create_pods(*workload("web", n=3))
        settle(cl, ctl, 3)
        role = set(gcpkit.doc_permissions(ROOT))
        used = {c["permission"] for c in cl.emu.calls if c["permission"]}  # the price catalogue needs none
        denied = [c for c in cl.emu.calls if c["status"] == 403]
        assert not denied, "calls outside the documented role: %s" % denied
        assert used <= role, used - role
        unused = sorted(role - used)
        if unused:
            sys.stdout.write("    permissions in the role this run did not use: %s\n" % ", ".join(unused))
    finally:
        cl.close()


def t_tls(binary):
    """Every call over HTTPS (the Compute API, the token endpoint) with the
    emulator's throwaway CA trusted through gcp.caFile: pods pending ->
    resized -> Running. Then a controller given another CA stops at its
    first call with an error naming the endpoint and the certificate."""
    cl = Cloud(binary, "gcp-tls", key=True, tls=True)
    try:
        assert cl.emu.url().startswith("https://")
        ctl = cl.controller("r1")
        cl.sc.create_pods(*workload("web", n=3))
        settle(cl, ctl, 3)
        assert cl.gcp_nodes(), "no gce:// node registered"
        ok = [c for c in cl.emu.calls if c["status"] == 200]
        assert ok, "no call reached the emulator"
        ctl.must_run = False
        ctl.kill()
        # Another CA: the kube emulator's, which did not sign the GCP emulator's certificate.
        with open(cl.config) as f:
            text = f.read()
        with open(cl.config, "w") as f:
            f.write(text.replace(cl.emu.ca_file, cl.sc.emu.ca_file))
        ctl2 = cl.controller("r2")
        cl.sc.create_pods(*workload("more", n=1))

        def cert_lines():
            return [line for line in ctl2.log().splitlines() if "certificate" in line.lower()]
        cl.sc.wait_for("a log line naming the certificate failure", cert_lines, timeout=60)
        line = cert_lines()[0]
        assert "127.0.0.1:%d" % cl.emu.port in line, "the endpoint is not named: " + line
        ctl2.must_run = False
        ctl2.kill()
    finally:
        cl.close()


def t_region(binary):
    """No --catalog and no nodes: the catalogue is the region of the MIGs'
    zones (gcp:us-east1), listed through the provider; with gcp.region
    set, that region (gcp:europe-west4), without a call."""
    for extra, spec, why in (([], "gcp:us-east1", "zone us-east1-"),
                             (["  region: europe-west4"], "gcp:europe-west4", "gcp.region")):
        cl = Cloud(binary, "gcp-region", key=True, extra=extra)
        try:
            ctl = cl.controller("r1", catalog=False)
            cl.sc.wait_for("the catalogue line", lambda: ctl.records("catalogue of the provider's region"),
                           timeout=60)
            rec = ctl.records("catalogue of the provider's region")[0]
            assert rec.get("catalog") == spec and why in rec.get("reason", ""), rec
            ctl.must_run = False
            ctl.kill()
        finally:
            cl.close()


def sku_price(emu, desc):
    """The unit price of the us-east1 SKU described desc, from the emulator's own documents."""
    k = [k for k in emu.skus if k["description"] == desc and "us-east1" in k["serviceRegions"]]
    assert len(k) == 1, (desc, len(k))
    m = k[0]["pricingInfo"][0]["pricingExpression"]["tieredRates"][0]["unitPrice"]
    return int(m["units"]) + m["nanos"] / 1e9


def t_prices(binary):
    """`stevedore prices --live --provider gcp` against the emulator's
    Cloud Billing Catalog API (SKUs of us-east1 and europe-west4, pages of
    40): the live figures are the emulator's SKUs' (vCPUs x core + GiB x
    RAM; e2-micro a quarter core), spot from the Preemptible SKUs, GPU types
    keep their embedded figures, the source is named; throttling is retried;
    a 403 (the API not enabled) and a malformed page fall back to the
    embedded figures with a warning naming the call (exit 0; 1 with
    --require-live); no token or key in the output."""
    tmp = tempfile.mkdtemp(prefix="stv-gcp-prices-")
    key_path, key, cert = gcpkit.make_key(tmp, "stevedore", PROJECT)
    setup = gcpkit.setup_doc(PROJECT, [(key["client_email"], cert)], None, ZONES)
    setup["billingRegions"] = ["europe-west4", "us-east1"]
    setup["skuPageSize"] = 40
    emu = gcp.Emulator(setup).start()
    cfg = os.path.join(tmp, "config.yaml")
    with open(cfg, "w") as f:
        f.write("gcp:\n  project: %s\n  computeEndpoint: %s/compute/v1\n  billingEndpoint: %s\n"
                "  credentialsFile: %s\n  tokenEndpoint: %s/token\n  namePrefix: gke-c1-\n"
                % (PROJECT, emu.url(), emu.url(), key_path, emu.url()))

    def prices(*extra):
        argv = [binary, "prices", "--live", "--provider", "gcp", "--catalog", "gcp:us-east1", "--config", cfg,
                "--output", "json", "--type", "n2-standard-4", "--type", "e2-micro", "--type", "a2-highgpu-1g"]
        p = subprocess.run(argv + list(extra), capture_output=True, text=True, timeout=120)
        for secret in [t for t in emu.tokens] + [key["private_key_id"]]:
            assert secret not in p.stdout + p.stderr, "a secret in the output of stevedore prices"
        return p
    try:
        emu.faults.update({"billing_throttle": 2})
        p = prices()
        assert p.returncode == 0, p.stderr
        doc = json.loads(p.stdout)
        assert "Cloud Billing Catalog API" in doc["prices"]["liveSource"], doc["prices"]
        got = {(o["instanceType"], o["capacityType"], o["zone"]): o for o in doc["offerings"]}
        core, ram = sku_price(emu, "N2 Instance Core running in South Carolina"), \
            sku_price(emu, "N2 Instance Ram running in South Carolina")
        o = got[("n2-standard-4", "on-demand", "us-east1-b")]
        assert o["source"] == "live" and abs(o["price"] - (4 * core + 16 * ram)) < 1e-6, (o, core, ram)
        score = sku_price(emu, "Spot Preemptible N2 Instance Core running in South Carolina")
        sram = sku_price(emu, "Spot Preemptible N2 Instance Ram running in South Carolina")
        o = got[("n2-standard-4", "spot", "us-east1-c")]
        assert o["source"] == "live" and abs(o["price"] - (4 * score + 16 * sram)) < 1e-6, o
        ecore, eram = sku_price(emu, "E2 Instance Core running in South Carolina"), \
            sku_price(emu, "E2 Instance Ram running in South Carolina")
        o = got[("e2-micro", "on-demand", "us-east1-d")]
        assert o["source"] == "live" and abs(o["price"] - (0.25 * ecore + 1 * eram)) < 1e-6, o
        assert got[("a2-highgpu-1g", "on-demand", "us-east1-b")]["source"] == "embedded"
        assert "gpu_or_local_ssd" in p.stderr, p.stderr
        lists = [c for c in emu.calls if c["method"] == "cloudbilling.services.skus.list"]
        assert sum(1 for c in lists if c["status"] == 429) == 2, lists
        assert sum(1 for c in lists if c["status"] == 200) > 2, "no paging: %s" % lists
        assert all("currencyCode=USD" in c["path"] for c in lists), lists

        emu.faults.update({"billing_forbidden": True})
        p = prices()
        assert p.returncode == 0 and "accessNotConfigured" in p.stderr and "skus.list" in p.stderr, p.stderr
        assert all(o["source"] == "embedded" for o in json.loads(p.stdout)["offerings"])
        p = prices("--require-live")
        assert p.returncode == 1, (p.returncode, p.stderr)
        emu.faults.update({"billing_forbidden": False, "billing_malformed": 1})
        p = prices()
        assert p.returncode == 0 and "not JSON" in p.stderr and "skus.list" in p.stderr, p.stderr
    finally:
        emu.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if not HAVE_GOOGLE_AUTH:
        print("FAIL python3-google-auth is installed (apt-get install python3-google-auth python3-requests)")
        print("0 passed, 1 failed")
        return 1
    tests = [("scale_up", t_scale_up), ("cloud_says_no", t_cloud_says_no), ("stockout", t_stockout),
             ("restart", t_restart), ("permissions", t_permissions), ("tls", t_tls), ("region", t_region),
             ("prices", t_prices)]
    return ctltest.run_tests(tests, sys.argv)


if __name__ == "__main__":
    sys.exit(main())
