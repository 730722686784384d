#!/usr/bin/env python3
"""The Azure provider (cloud/azure*.c) end to end: `stevedore controller
--provider azure` against the Kubernetes API emulator (scheduler and kubelet
on, no nodes) and the Azure emulator (tests/cloudemu/azure.py), which
registers a Node for each virtual machine it runs. Pending pods -> a scale
set's capacity raised -> Nodes with AKS's labels and the azure:/// provider
id -> pods Running; a restart does not scale up twice; an AllocationFailed
operation sends the controller to another offering; throttling is retried;
an expired token is refreshed; workload identity and managed identity get
tokens; the permissions used are those docs/cloud-azure.md grants; no
secret reaches the log.

    python3 tests/test_cloud_azure.py [path/to/stevedore] [test names...]
"""

import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "cloudemu"))
import ctltest  # noqa: E402
from ctltest import pod  # noqa: E402
import azure as azemu  # noqa: E402  (tests/cloudemu/azure.py)

CLUSTER = "stv-e2e"
SPOT = "aks-spot-31415926-vmss"
GENERAL = "aks-general-31415926-vmss"
OTHER = "aks-other-31415926-vmss"  # not tagged for this cluster: never touched

# The catalogue of the test: the two sizes, with the allocatable the emulator's nodes report.
CATALOG = {"provider": "azure", "region": "eastus", "currency": "USD", "source": "stevedore azure e2e test",
           "instance_types": [
               {"name": "Standard_D4s_v3", "arch": "amd64", "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "allocatable": {"cpu": "3910m", "memory": "14960640Ki", "pods": "110"},
                "offerings": [{"capacity_type": "spot", "zone": "eastus-%d" % z, "price": 0.04 + z * 0.001}
                              for z in (1, 2, 3)] +
                             [{"capacity_type": "on-demand", "zone": "eastus-1", "price": 0.192}]},
               {"name": "Standard_D2s_v3", "arch": "amd64", "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                "allocatable": {"cpu": "1930m", "memory": "7096320Ki", "pods": "110"},
                "offerings": [{"capacity_type": "on-demand", "zone": "eastus-1", "price": 0.096}]}]}


def managed_tags(pool, extra=None):
    t = {"aks-managed-poolName": pool, "k8s.io_cluster-autoscaler_enabled": "true",
         "k8s.io_cluster-autoscaler_" + CLUSTER: "owned", "min": "0", "max": "10"}
    t.update(extra or {})
    return t


class Azure(object):
    """The Azure emulator of a scene, its scale sets, the controller's
    configuration file and credentials."""

    def __init__(self, sc, launch_delay=1.0):
        self.sc = sc
        self.emu = azemu.AzureEmulator(launch_delay=launch_delay, delete_delay=0.5, kube_url=sc.emu.url,
                                       kube_token=sc.token_of("tester"), kube_ca=sc.emu.ca_file).start()
        e = self.emu
        e.add_scale_set({"name": SPOT, "sku": "Standard_D4s_v3", "zones": ["1", "2", "3"], "priority": "Spot",
                         "tags": managed_tags("spot", {"k8s.io_cluster-autoscaler_node-template_label_team": "data"})})
        e.add_scale_set({"name": GENERAL, "sku": "Standard_D2s_v3", "zones": ["1"], "tags": managed_tags("general")})
        e.add_scale_set({"name": OTHER, "sku": "Standard_D2s_v3", "zones": ["1"],
                         "tags": {"aks-managed-poolName": "other", "k8s.io_cluster-autoscaler_enabled": "true",
                                  "k8s.io_cluster-autoscaler_another-cluster": "owned"}})
        with open(sc.catalog, "w") as f:
            json.dump(CATALOG, f)
        self.config = os.path.join(sc.tmp, "azure.yaml")
        with open(self.config, "w") as f:
            f.write("azure:\n  subscriptionId: %s\n  resourceGroup: %s\n  resourceManagerEndpoint: %s\n"
                    "  authorityHost: %s\n  imdsEndpoint: %s\n  caFile: %s\n  clusterName: %s\n"
                    "  pollInterval: 200ms\n  watchInterval: 1s\n"
                    % (e.subscription, e.resource_group, e.url, e.url, e.imds_url, e.ca_file, CLUSTER))
        # Live prices are read in test_live_prices only: elsewhere the test catalogue's figures decide.
        with open(self.config) as f:
            base = f.read()
        with open(self.config, "w") as f:
            f.write(base + "prices:\n  refresh: 0s\n")
        self.live_config = os.path.join(sc.tmp, "azure-live.yaml")
        with open(self.live_config, "w") as f:
            f.write(base.replace("azure:\n", "azure:\n  pricesEndpoint: %s\n" % e.url, 1) + "prices:\n  refresh: 1h\n")
        self.fed = os.path.join(sc.tmp, "azure-identity-token")
        with open(self.fed, "w") as f:
            f.write(e.federated_tokens[0] + "\n")
        self.credentials("secret")

    def credentials(self, kind):
        """The environment the controllers start with: client secret, workload identity or managed identity."""
        for k in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                  "AZURE_AUTHORITY_HOST", "AZURE_SUBSCRIPTION_ID"):
            os.environ.pop(k, None)
        if kind in ("secret", "workload"):
            os.environ["AZURE_TENANT_ID"] = self.emu.tenant
            os.environ["AZURE_CLIENT_ID"] = self.emu.client_id
        if kind == "secret":
            os.environ["AZURE_CLIENT_SECRET"] = self.emu.client_secret
        if kind == "workload":
            os.environ["AZURE_FEDERATED_TOKEN_FILE"] = self.fed

    def controller(self, identity="r0", *args):
        return self.sc.controller(identity, "--provider", "azure", "--config", self.config, *args)

    def scale_set(self, name):
        return [s for s in self.emu.state()["scaleSets"] if s["name"] == name][0]

    def capacity(self, name):
        return self.scale_set(name)["capacity"]

    def stop(self):
        self.emu.stop()
        self.credentials(None)


def azure_nodes(sc):
    return [n for n in sc.nodes() if (n["spec"].get("providerID") or "").startswith("azure:///")]


def check_no_secrets(sc, az, ctl):
    """Neither the client secret, the federated token nor any access token the emulator issued is in the log."""
    log = ctl.log()
    secrets = [az.emu.client_secret, az.emu.federated_tokens[0]] + list(az.emu.tokens)
    leaked = [s[:12] + "..." for s in secrets if s and s in log]
    sc.check(not leaked, "secrets in the controller's log: %s" % leaked)


def role_actions():
    """The actions of the custom role in docs/cloud-azure.md (its JSON block)."""
    with open(os.path.join(ctltest.ROOT, "docs", "cloud-azure.md")) as f:
        text = f.read()
    m = re.search(r"```json\n(\{\s*\"Name\": \"Stevedore autoscaler\".*?)\n```", text, re.S)
    assert m, "docs/cloud-azure.md has no ```json block with the role \"Stevedore autoscaler\""
    role = json.loads(m.group(1))
    return set(role["Actions"]), role


def check_permissions(sc, az):
    actions, role = role_actions()
    used = {c["permission"] for c in az.emu.state()["calls"] if c["permission"]}
    sc.check(used <= actions, "calls made without a permission in docs/cloud-azure.md's role: %s"
             % sorted(used - actions))
    sc.check(role.get("NotActions") == [] and role.get("AssignableScopes"), "the role's NotActions/AssignableScopes")
    unused = sorted(actions - used)
    if unused:
        print("    permissions granted and not used in this run: %s" % unused)


def test_scale_up(binary):
    """Pending pods -> the spot scale set grows -> Nodes with AKS labels -> pods Running; a restart adds nothing."""
    with ctltest.Scene(binary, "azure-up") as sc:
        az = Azure(sc)
        try:
            ctl = az.controller()
            sc.create_pods(*[pod("web-%d" % i, cpu="1", memory="1Gi") for i in range(6)])
            sc.wait_for("6 pods running", lambda: sc.all_running(6), timeout=90)
            nodes = azure_nodes(sc)
            sc.check(nodes, "no Node with an azure:/// provider id")
            spot = az.capacity(SPOT)
            sc.check(spot >= 2, "the spot scale set was not grown: %s" % az.emu.state()["scaleSets"])
            sc.check(az.capacity(OTHER) == 0, "a scale set of another cluster was scaled")
            for n in nodes:
                lb = n["metadata"]["labels"]
                pid = n["spec"]["providerID"]
                sc.check(re.match(r"azure:///subscriptions/[^/]+/resourceGroups/mc_stevedore_test_eastus/providers/"
                                  r"Microsoft.Compute/virtualMachineScaleSets/aks-[a-z]+-31415926-vmss/"
                                  r"virtualMachines/\d+$", pid), "provider id %s" % pid)
                if SPOT in pid:
                    sc.check(lb.get("kubernetes.azure.com/scalesetpriority") == "spot"
                             and lb.get("kubernetes.azure.com/agentpool") == "spot" and lb.get("team") == "data",
                             "labels of %s: %s" % (n["metadata"]["name"], lb))
            # Restarted in the middle of nothing: the same sizes, nothing launched twice.
            before = {s["name"]: s["capacity"] for s in az.emu.state()["scaleSets"]}
            ctl.kill()
            ctl.start()  # the same identity: it holds the Lease still and acts at once
            sc.wait_for("the restarted controller acting", lambda: len(ctl.records("acting")) >= 2, timeout=40)
            time.sleep(4)
            after = {s["name"]: s["capacity"] for s in az.emu.state()["scaleSets"]}
            sc.check(before == after, "a restart changed the scale sets: %s -> %s" % (before, after))
            sc.check(sc.all_running(6)[0], "pods not running after the restart")
            check_no_secrets(sc, az, ctl)
            check_permissions(sc, az)
        finally:
            az.stop()


def test_allocation_failed(binary):
    """AllocationFailed for the spot size: the operation fails, the controller plans on the other scale set."""
    with ctltest.Scene(binary, "azure-alloc") as sc:
        az = Azure(sc)
        try:
            az.emu.set_faults({"capacity": [{"sku": "Standard_D4s_v3", "code": "AllocationFailed"}]})
            ctl = az.controller()
            sc.create_pods(*[pod("api-%d" % i, cpu="500m", memory="512Mi") for i in range(4)])
            sc.wait_for("4 pods running", lambda: sc.all_running(4), timeout=120)
            sc.check(az.capacity(SPOT) == 0, "the spot scale set grew despite AllocationFailed")
            sc.check(az.capacity(GENERAL) >= 1, "the general scale set did not take the pods")
            failed = [r for r in ctl.records("azure call failed") if "AllocationFailed" in json.dumps(r)]
            sc.check(failed, "no log line of the AllocationFailed operation:\n%s" % ctl.tail(30))
            check_no_secrets(sc, az, ctl)
        finally:
            az.stop()


def test_throttled_and_expired(binary):
    """429s with Retry-After are retried; an expired token is refreshed; workload identity's file is used."""
    with ctltest.Scene(binary, "azure-faults") as sc:
        az = Azure(sc)
        try:
            az.credentials("workload")
            ctl = az.controller()
            sc.wait_for("the controller acting", lambda: ctl.records("acting"), timeout=30)
            # Its first token, issued before the fault expires it ("acting" comes before the first call).
            sc.wait_for("the controller's first token", lambda: az.emu.state()["tokens_issued"] >= 1, timeout=30)
            issued = az.emu.state()["tokens_issued"]
            az.emu.set_faults({"throttle": 3, "retry_after": 1, "expire_credentials": True})
            sc.create_pods(*[pod("job-%d" % i, cpu="1", memory="1Gi") for i in range(3)])
            sc.wait_for("3 pods running", lambda: sc.all_running(3), timeout=120)
            calls = az.emu.state()["calls"]
            sc.check(sum(1 for c in calls if c["status"] == 429) == 3, "not three throttled calls")
            # The expired token is refused once and replaced; unless leadership moved meanwhile (a loaded
            # machine), which makes a new provider with a token of its own.
            refused = any(c["status"] == 401 for c in calls) and ctl.records("azure token refused; fetching a new one")
            sc.check(refused or len(ctl.records("acting")) > 1, "the expired token was never refused and replaced")
            sc.check(az.emu.state()["tokens_issued"] > issued, "no new token after the old one expired")
            sc.check(all(c["who"] in (None, "workload-identity") for c in calls),
                     "a call not made with the workload identity token: %s"
                     % {c["who"] for c in calls})
            check_no_secrets(sc, az, ctl)
        finally:
            az.stop()


def test_failed_vm_and_malformed(binary):
    """A virtual machine that ends Failed is reported, deleted (capacity lowered) and planned again; a malformed
    answer is an error naming the call, and the controller carries on."""
    with ctltest.Scene(binary, "azure-failed") as sc:
        az = Azure(sc)
        try:
            az.emu.set_faults({"fail_vms": 1, "malformed": 1, "lro_delay": 3})
            ctl = az.controller()
            sc.create_pods(*[pod("batch-%d" % i, cpu="1", memory="1Gi") for i in range(2)])
            sc.wait_for("2 pods running", lambda: sc.all_running(2), timeout=120)
            st = az.scale_set(SPOT)
            sc.check(all(i["state"] != "Failed" for i in st["instances"]), "the failed VM is still there: %s" % st)
            deletes = [c for c in az.emu.state()["calls"] if c["path"].endswith("/delete") and c["status"] == 202]
            sc.check(deletes, "the failed VM was not deleted")
            sc.check(ctl.records("launch failed"), "no launch failed log line:\n%s" % ctl.tail(20))
            bad = [r for r in ctl.records("azure call failed") if "not JSON" in r.get("error", "")]
            sc.check(bad and "azure list" in bad[0]["error"], "no error naming the call with the malformed answer")
            check_no_secrets(sc, az, ctl)
            check_permissions(sc, az)
        finally:
            az.stop()


def test_managed_identity(binary):
    """Managed identity through IMDS (azure.imdsEndpoint): lists the scale sets and scales one."""
    with ctltest.Scene(binary, "azure-imds") as sc:
        az = Azure(sc)
        try:
            az.credentials("managed")
            ctl = az.controller()
            sc.create_pods(pod("one", cpu="1", memory="1Gi"))
            sc.wait_for("1 pod running", lambda: sc.all_running(1), timeout=90)
            whos = {c["who"] for c in az.emu.state()["calls"]}
            sc.check(whos <= {None, "managed-identity"} and "managed-identity" in whos, "callers: %s" % whos)
            check_no_secrets(sc, az, ctl)
        finally:
            az.stop()


def test_live_prices(binary):
    """azure.pricesEndpoint: the controller reads the Retail Prices API of the catalogue's region when it
    starts acting, logs the prices in use (the test catalogue's, then with the live figures: the emulator's
    spot prices of Standard_D4s_v3 replace the file's), and scales up with them."""
    with ctltest.Scene(binary, "azure-prices") as sc:
        az = Azure(sc)
        try:
            ctl = sc.controller("r0", "--provider", "azure", "--config", az.live_config)

            def live():
                recs = [r for r in ctl.records("prices in use") if r.get("live_source") == "Azure Retail Prices API"]
                return bool(recs), ctl.tail(5)
            sc.wait_for("the live prices logged", live, timeout=60)
            rec = [r for r in ctl.records("prices in use") if r.get("live_source") == "Azure Retail Prices API"][0]
            # D4s_v3: on-demand in eastus-1 (the same price) and spot in 3 zones (changed); D2s_v3: on-demand
            # (the same), and spot added in eastus-1
            sc.check(rec["live_offerings"] == 6 and rec["changed"] == 4 and rec["catalog"] == sc.catalog,
                     "the log line: %s" % rec)
            sc.check(("%s, 6 live figures" % ("catalogue file " + sc.catalog)) in rec["prices"], rec["prices"])
            sc.check(az.emu.state()["price_calls"] >= 1, "the emulator saw no prices call")
            sc.create_pods(pod("one", cpu="1", memory="1Gi"))
            sc.wait_for("1 pod running", lambda: sc.all_running(1), timeout=90)
            sc.check((ctl.metric("stevedore_price_refresh_total", result="ok") or 0) >= 1, "refresh counted")
            check_no_secrets(sc, az, ctl)
        finally:
            az.stop()


def test_bad_configuration(binary):
    """No subscription: exit 2 naming the setting; a bad endpoint URL: the file, line and key."""
    with ctltest.Scene(binary, "azure-conf") as sc:
        cfg = os.path.join(sc.tmp, "bad.yaml")
        with open(cfg, "w") as f:
            f.write("azure:\n  resourceGroup: rg\n")
        os.environ.pop("AZURE_SUBSCRIPTION_ID", None)
        ctl = sc.controller("r0", "--provider", "azure", "--config", cfg)
        ctl.must_run = False
        rc = ctl.wait_exit(30)
        sc.check(rc == 2 and "subscriptionId" in ctl.log() and "AZURE_SUBSCRIPTION_ID" in ctl.log(),
                 "exit %s: %s" % (rc, ctl.tail(5)))
        with open(cfg, "w") as f:
            f.write("azure:\n  subscriptionId: s\n  resourceManagerEndpoint: management.azure.com\n")
        ctl = sc.controller("r1", "--provider", "azure", "--config", cfg)
        ctl.must_run = False
        rc = ctl.wait_exit(30)
        sc.check(rc == 2 and "bad.yaml:3" in ctl.log() and "resourceManagerEndpoint" in ctl.log(),
                 "exit %s: %s" % (rc, ctl.tail(5)))


def test_region_of_the_scale_sets(binary):
    """No --catalog and a cluster without nodes: the scale sets' location names the catalogue (azure:eastus,
    from their zones eastus-N), not the default aws:us-east-1."""
    with ctltest.Scene(binary, "azure-region") as sc:
        az = Azure(sc)
        try:
            ctl = ctltest.Controller(sc, "r0", list(ctltest.FAST) + [
                "--lease-namespace", sc.lease_ns, "--provider", "azure", "--config", az.config, "--dry-run"])
            sc.controllers.append(ctl)
            ctl.start()
            sc.wait_for("the catalogue line", lambda: ctl.records("catalogue of the provider's region"), timeout=60)
            rec = ctl.records("catalogue of the provider's region")[0]
            sc.check(rec.get("catalog") == "azure:eastus" and "zone eastus-" in rec.get("reason", ""), rec)
            ctl.must_run = False
            ctl.kill()
        finally:
            az.stop()


if __name__ == "__main__":
    sys.exit(ctltest.run_tests([("scale_up", test_scale_up), ("allocation_failed", test_allocation_failed),
                                ("throttled_and_expired", test_throttled_and_expired),
                                ("failed_vm_and_malformed", test_failed_vm_and_malformed),
                                ("managed_identity", test_managed_identity),
                                ("live_prices", test_live_prices),
                                ("bad_configuration", test_bad_configuration),
                                ("region", test_region_of_the_scale_sets)], sys.argv))
