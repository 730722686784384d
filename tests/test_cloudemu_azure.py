#!/usr/bin/env python3
"""Fidelity of the Azure emulator (tests/cloudemu/azure.py), checked with a
client nobody here wrote: the Azure SDK for Python (Debian's python3-azure:
azure-mgmt-compute, azure-identity, msal), run by /usr/bin/python3 in a
subprocess (tests/cloudemu/azure_sdk_check.py). Then the emulator's own
checks that the SDK does not reach: requests refused in ARM's and Entra
ID's formats, the control endpoint, and the Nodes it registers with the
Kubernetes API emulator.

    python3 tests/test_cloudemu_azure.py [path/to/stevedore] [test names...]
"""

import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "cloudemu"))
sys.path.insert(0, os.path.join(HERE, "kubeapi"))
import azure as azemu  # noqa: E402  (tests/cloudemu/azure.py, not the SDK)
from clitest import Runner  # noqa: E402

SYSTEM_PYTHON = "/usr/bin/python3"
SPOT = "aks-spot-28173645-vmss"
REGULAR = "aks-general-28173645-vmss"
SMALL = "aks-small-28173645-vmss"


def scale_sets(emu):
    emu.add_scale_set({"name": SPOT, "sku": "Standard_D4s_v3", "capacity": 0, "zones": ["1", "2", "3"],
                       "priority": "Spot", "evictionPolicy": "Delete", "maxPrice": -1,
                       "tags": {"aks-managed-poolName": "spot", "k8s.io_cluster-autoscaler_enabled": "true",
                                "k8s.io_cluster-autoscaler_node-template_label_workload": "batch",
                                "min": "0", "max": "10"}})
    emu.add_scale_set({"name": REGULAR, "sku": "Standard_D2s_v3", "capacity": 1, "zones": ["1"],
                       "tags": {"aks-managed-poolName": "general"}})
    emu.add_scale_set({"name": SMALL, "sku": "Standard_B2s", "capacity": 0,
                       "tags": {"aks-managed-poolName": "small"}})


class Http(object):
    """Plain requests to the emulator, for what the SDK cannot send."""

    def __init__(self, emu):
        self.emu = emu
        self.ctx = ssl.create_default_context(cafile=emu.ca_file)

    def call(self, method, path, body=None, headers=None, form=False, base=None):
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request((base or self.emu.url) + path, data=data, method=method)
        req.add_header("Content-Type", "application/x-www-form-urlencoded" if form else "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self.ctx if (base or self.emu.url).startswith("https")
                                        else None, timeout=10) as r:
                raw = r.read()
                return r.status, dict(r.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, dict(e.headers), json.loads(raw) if raw else None

    def token(self):
        emu = self.emu
        st, _, doc = self.call("POST", "/%s/oauth2/v2.0/token" % emu.tenant, form=True,
                               body="grant_type=client_credentials&client_id=%s&client_secret=%s&scope=%s"
                               % (emu.client_id, emu.client_secret, "https%3A%2F%2Fmanagement.azure.com%2F.default"))
        assert st == 200, (st, doc)
        return doc["access_token"]


def vmss_path(emu, name=""):
    return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets%s" % (
        emu.subscription, emu.resource_group, "/" + name if name else "")


def test_sdk():
    if not os.path.exists(SYSTEM_PYTHON):
        raise AssertionError("%s is missing: install python3-azure (scripts/dev test_packages)" % SYSTEM_PYTHON)
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import azure.mgmt.compute, azure.identity, msal"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert probe.returncode == 0, ("the Azure SDK is not installed for %s (apt-get install python3-azure): %s"
                                   % (SYSTEM_PYTHON, probe.stdout.decode()[-400:]))
    tmp = tempfile.mkdtemp(prefix="azure-sdk-")
    emu = azemu.AzureEmulator(launch_delay=0.2, delete_delay=60, page_size=2).start()
    try:
        scale_sets(emu)
        fed = os.path.join(tmp, "token")
        with open(fed, "w") as f:
            f.write(emu.federated_tokens[0])
        cfg = {"url": emu.url, "imds_url": emu.imds_url, "ca_file": emu.ca_file, "tenant": emu.tenant,
               "subscription": emu.subscription, "resource_group": emu.resource_group, "client_id": emu.client_id,
               "client_secret": emu.client_secret, "federated_token_file": fed, "spot_name": SPOT,
               "expect_names": [SPOT, REGULAR, SMALL]}
        path = os.path.join(tmp, "emu.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "cloudemu", "azure_sdk_check.py"), path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        out = p.stdout.decode()
        print(out.rstrip())
        assert p.returncode == 0 and "FAIL" not in out, "the SDK checks failed:\n%s\n%s" % (
            out, p.stderr.decode()[-3000:])
        assert out.count("ok ") >= 16, out
        calls = emu.state()["calls"]
        assert any(c["status"] == 429 for c in calls), "no throttled call recorded"
    finally:
        emu.stop()


def test_refusals():
    emu = azemu.AzureEmulator(launch_delay=0.2).start()
    try:
        scale_sets(emu)
        h = Http(emu)
        st, hd, doc = h.call("GET", vmss_path(emu, SPOT) + "?api-version=2023-09-01")
        assert st == 401 and doc["error"]["code"] == "AuthenticationFailed", (st, doc)
        assert "WWW-Authenticate" in hd, hd
        st, _, doc = h.call("GET", vmss_path(emu, SPOT) + "?api-version=2023-09-01",
                            headers={"Authorization": "Bearer forged"})
        assert st == 401 and doc["error"]["code"] == "InvalidAuthenticationToken", (st, doc)
        auth = {"Authorization": "Bearer " + h.token()}
        st, _, doc = h.call("GET", vmss_path(emu, SPOT), headers=auth)
        assert st == 400 and doc["error"]["code"] == "MissingApiVersionParameter", (st, doc)
        st, _, doc = h.call("PATCH", vmss_path(emu, SPOT) + "?api-version=2023-09-01", {"sku": {"capacity": -1}},
                            headers=auth)
        assert st == 400 and doc["error"]["code"] == "InvalidParameter", (st, doc)
        assert doc["error"]["details"][0]["target"] == "sku.capacity", doc
        st, _, doc = h.call("PATCH", vmss_path(emu, SPOT) + "?api-version=2023-09-01", {"capacity": 3},
                            headers=auth)
        assert st == 400 and doc["error"]["code"] == "InvalidRequestContent", (st, doc)
        st, hd, doc = h.call("PATCH", vmss_path(emu, SPOT) + "?api-version=2023-09-01", {"sku": {"capacity": 2}},
                             headers=auth)
        assert st == 200 and "Azure-AsyncOperation" in hd and "Location" in hd, (st, hd)
        assert doc["properties"]["provisioningState"] == "Updating", doc
        op = hd["Azure-AsyncOperation"][len(emu.url):]
        st, _, doc = h.call("GET", op, headers=auth)
        assert st == 200 and doc["status"] in ("InProgress", "Succeeded"), (st, doc)
        st, _, doc = h.call("POST", vmss_path(emu, SPOT) + "/delete?api-version=2023-09-01", {"instanceIds": []},
                            headers=auth)
        assert st == 400 and doc["error"]["code"] == "InvalidParameter", (st, doc)
        # Entra ID: a wrong scope, an unknown client, a bad assertion; IMDS without its header.
        for body, err in (("grant_type=client_credentials&client_id=%s&client_secret=x&scope=foo" % emu.client_id,
                           "invalid_scope"),
                          ("grant_type=client_credentials&client_id=nobody&client_secret=x&scope=%s"
                           % azemu.ARM_SCOPE, "unauthorized_client"),
                          ("grant_type=client_credentials&client_id=%s&scope=%s&client_assertion=forged&"
                           "client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer"
                           % (emu.client_id, azemu.ARM_SCOPE), "invalid_client")):
            st, _, doc = h.call("POST", "/%s/oauth2/v2.0/token" % emu.tenant, body=body, form=True)
            assert st in (400, 401) and doc["error"] == err, (body, st, doc)
            assert doc["error_codes"] and doc["error_description"].startswith("AADSTS"), doc
        st, _, doc = h.call("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
                            "https://management.azure.com/", base=emu.imds_url)
        assert st == 400 and doc["error"] == "invalid_request", (st, doc)
        st, _, doc = h.call("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
                            "https://management.azure.com/", base=emu.imds_url, headers={"Metadata": "true"})
        assert st == 200 and isinstance(doc["expires_in"], str) and doc["token_type"] == "Bearer", (st, doc)
        st, _, doc = h.call("POST", "/_emu/faults", {"throttle": "x"})
        assert st == 400 and "throttle" in doc["error"]["message"], (st, doc)
        perms = {c["permission"] for c in emu.state()["calls"] if c["permission"]}
        assert azemu.PERM_VMSS_WRITE in perms and azemu.PERM_OP_READ in perms, perms
    finally:
        emu.stop()


def test_kubelet():
    """With --kube-url the emulator registers a Node per running instance
    (AKS's labels, the azure:/// providerID) and deletes it with the
    instance."""
    import emulator
    kube = emulator.Emulator(tokens=["kt"], insecure_http=True).start()
    emu = azemu.AzureEmulator(launch_delay=0.3, delete_delay=0.3, kube_url=kube.url, kube_token="kt").start()
    try:
        scale_sets(emu)
        h = Http(emu)
        auth = {"Authorization": "Bearer " + h.token()}
        st, _, _ = h.call("PATCH", vmss_path(emu, SPOT) + "?api-version=2023-09-01", {"sku": {"capacity": 1}},
                          headers=auth)
        assert st == 200
        node = None
        for _ in range(100):
            try:
                node = json.loads(urllib.request.urlopen(urllib.request.Request(
                    kube.url + "/api/v1/nodes/%s000000" % SPOT, headers={"Authorization": "Bearer kt"})).read())
                break
            except urllib.error.HTTPError as e:
                assert e.code == 404, e
            time.sleep(0.1)
        assert node is not None, "no Node registered: %s" % emu.state()["kube_errors"]
        lb = node["metadata"]["labels"]
        assert lb["kubernetes.azure.com/agentpool"] == "spot", lb
        assert lb["kubernetes.azure.com/scalesetpriority"] == "spot", lb
        assert lb["node.kubernetes.io/instance-type"] == "Standard_D4s_v3", lb
        assert lb["topology.kubernetes.io/zone"] == "eastus-1", lb
        assert lb["workload"] == "batch", lb
        want = ("azure:///subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/"
                "%s/virtualMachines/0" % (emu.subscription, emu.resource_group.lower(), SPOT))
        assert node["spec"]["providerID"] == want, node["spec"]
        st, _, _ = h.call("POST", vmss_path(emu, SPOT) + "/delete?api-version=2023-09-01", {"instanceIds": ["0"]},
                          headers=auth)
        assert st == 202, st
        for _ in range(100):
            try:
                urllib.request.urlopen(urllib.request.Request(kube.url + "/api/v1/nodes/%s000000" % SPOT,
                                                              headers={"Authorization": "Bearer kt"}))
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the Node was not deleted with its instance")
        assert not emu.state()["kube_errors"], emu.state()["kube_errors"]
    finally:
        emu.stop()
        kube.stop()


def test_command_line():
    """The command line: a ready file, a bad --load named by file and item."""
    tmp = tempfile.mkdtemp(prefix="azure-cli-")
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        json.dump({"scaleSets": [{"name": "x", "sku": "Standard_Nope"}]}, f)
    p = subprocess.run([sys.executable, os.path.join(HERE, "cloudemu", "azure.py"), "--load", bad],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    err = p.stderr.decode()
    assert p.returncode != 0 and bad in err and "scaleSets[0]" in err and "Standard_Nope" in err, err
    ready = os.path.join(tmp, "ready.json")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "cloudemu", "azure.py"), "--port", "0",
                             "--ready-file", ready, "--tls-dir", tmp], stdout=subprocess.PIPE)
    try:
        for _ in range(300):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        doc = json.load(open(ready))
        assert doc["url"].startswith("https://") and os.path.exists(doc["ca_file"]), doc
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def main():
    r = Runner()
    only = [a for a in sys.argv[2:] if not a.startswith("-")]
    for name, fn in (("sdk", test_sdk), ("refusals", test_refusals), ("kubelet", test_kubelet),
                     ("command_line", test_command_line)):
        if not only or name in only:
            r.run(name, fn)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
