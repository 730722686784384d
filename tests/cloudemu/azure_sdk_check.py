"""The Azure SDK for Python's side of tests/test_cloudemu_azure.py: run by
/usr/bin/python3 (Debian's python3-azure: azure-mgmt-compute, azure-identity,
msal) against the emulator named by the JSON file in argv[1]. Prints one
line per check, "ok NAME" or "FAIL NAME: why", and exits 1 when any failed.

    /usr/bin/python3 tests/cloudemu/azure_sdk_check.py emu.json
"""

import json
import os
import sys
import traceback
import urllib.request

# This directory holds the emulator's azure.py: keep it from shadowing the SDK's azure package.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
CFG = json.load(open(sys.argv[1]))
os.environ["REQUESTS_CA_BUNDLE"] = CFG["ca_file"]

from azure.core.exceptions import ClientAuthenticationError, DecodeError, HttpResponseError  # noqa: E402
from azure.core.exceptions import ResourceNotFoundError  # noqa: E402
from azure.identity import ClientSecretCredential, ManagedIdentityCredential  # noqa: E402
from azure.mgmt.compute import ComputeManagementClient  # noqa: E402

RG = CFG["resource_group"]
SUB = CFG["subscription"]
HOST = CFG["url"].replace("https://", "")
SCOPE = "https://management.azure.com/.default"
failed = []


def faults(body):
    req = urllib.request.Request(CFG["url"] + "/_emu/faults", data=json.dumps(body).encode(), method="POST")
    import ssl
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=CFG["ca_file"])) as r:
        assert r.status == 200


def check(name):
    def wrap(fn):
        try:
            fn()
            print("ok %s" % name, flush=True)
        except Exception as e:
            failed.append(name)
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            traceback.print_exc(file=sys.stderr)
        return fn
    return wrap


def secret_credential(secret=CFG["client_secret"]):
    return ClientSecretCredential(CFG["tenant"], CFG["client_id"], secret, authority=HOST,
                                  instance_discovery=False)


def client(cred=None, **kw):
    return ComputeManagementClient(cred or secret_credential(), SUB, base_url=CFG["url"], **kw)


def expect(exc_type, fn, code=None):
    try:
        fn()
    except exc_type as e:
        got = getattr(getattr(e, "error", None), "code", None)
        if code is not None and got != code:
            raise AssertionError("%s with code %r, expected %r: %s" % (exc_type.__name__, got, code, e))
        return e
    raise AssertionError("no %s raised" % exc_type.__name__)


@check("client secret token")
def _():
    tok = secret_credential().get_token(SCOPE)
    assert tok.token and tok.expires_on > 0


@check("wrong client secret refused with AADSTS7000215")
def _():
    e = expect(ClientAuthenticationError, lambda: secret_credential("nope").get_token(SCOPE))
    assert "7000215" in str(e), str(e)


@check("managed identity through IMDS")
def _():
    os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = CFG["imds_url"]
    try:
        cred = ManagedIdentityCredential()
        tok = cred.get_token(SCOPE)
        assert tok.token
        names = [s.name for s in client(cred).virtual_machine_scale_sets.list(RG)]
        assert names, names
    finally:
        del os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"]


@check("workload identity through the federated token file")
def _():
    env = {"AZURE_CLIENT_ID": CFG["client_id"], "AZURE_TENANT_ID": CFG["tenant"],
           "AZURE_FEDERATED_TOKEN_FILE": CFG["federated_token_file"], "AZURE_AUTHORITY_HOST": CFG["url"]}
    os.environ.update(env)
    try:
        cred = ManagedIdentityCredential(client_id=CFG["client_id"])
        tok = cred.get_token(SCOPE)
        assert tok.token
    finally:
        for k in env:
            del os.environ[k]


@check("list in a resource group follows nextLink")
def _():
    names = sorted(s.name for s in client().virtual_machine_scale_sets.list(RG))
    assert names == sorted(CFG["expect_names"]), names


@check("list in the subscription")
def _():
    names = sorted(s.name for s in client().virtual_machine_scale_sets.list_all())
    assert set(CFG["expect_names"]) <= set(names), names


@check("get: sku, zones, priority, eviction, max price, tags")
def _():
    ss = client().virtual_machine_scale_sets.get(RG, CFG["spot_name"])
    vmp = ss.virtual_machine_profile
    assert ss.sku.name == "Standard_D4s_v3" and ss.sku.capacity == 0, ss.sku
    assert ss.zones == ["1", "2", "3"], ss.zones
    assert vmp.priority == "Spot" and vmp.eviction_policy == "Delete", (vmp.priority, vmp.eviction_policy)
    assert vmp.billing_profile.max_price == -1, vmp.billing_profile
    assert ss.tags["aks-managed-poolName"] == "spot", ss.tags
    assert ss.tags["k8s.io_cluster-autoscaler_node-template_label_workload"] == "batch", ss.tags


@check("update capacity: the poller follows Azure-AsyncOperation")
def _():
    c = client()
    r = c.virtual_machine_scale_sets.begin_update(RG, CFG["spot_name"], {"sku": {"capacity": 2}}).result()
    assert r.sku.capacity == 2, r.sku
    vms = list(c.virtual_machine_scale_set_vms.list(RG, CFG["spot_name"]))
    assert sorted(v.instance_id for v in vms) == ["0", "1"], [v.instance_id for v in vms]
    assert all(v.os_profile.computer_name.startswith(CFG["spot_name"]) for v in vms)
    assert all(v.provisioning_state in ("Creating", "Succeeded") for v in vms)
    assert sorted(v.zones[0] for v in vms) == ["1", "2"], [v.zones for v in vms]


@check("delete instances")
def _():
    c = client()
    c.virtual_machine_scale_sets.begin_delete_instances(RG, CFG["spot_name"], {"instance_ids": ["0"]}).result()
    ss = c.virtual_machine_scale_sets.get(RG, CFG["spot_name"])
    assert ss.sku.capacity == 1, ss.sku
    vm = c.virtual_machine_scale_set_vms.get(RG, CFG["spot_name"], "0")
    assert vm.provisioning_state == "Deleting", vm.provisioning_state


@check("delete of an unknown instance: 400 InvalidParameter")
def _():
    expect(HttpResponseError, lambda: client().virtual_machine_scale_sets.begin_delete_instances(
        RG, CFG["spot_name"], {"instance_ids": ["99"]}).result(), "InvalidParameter")


@check("unknown scale set: ResourceNotFoundError")
def _():
    expect(ResourceNotFoundError, lambda: client().virtual_machine_scale_sets.get(RG, "nope"), "ResourceNotFound")


@check("unknown api-version: InvalidApiVersionParameter")
def _():
    expect(HttpResponseError, lambda: client(api_version="2015-06-15").virtual_machine_scale_sets.get(
        RG, CFG["spot_name"]), "InvalidApiVersionParameter")


@check("throttled twice: the SDK retries after Retry-After and succeeds")
def _():
    faults({"throttle": 2, "retry_after": 1})
    ss = client().virtual_machine_scale_sets.get(RG, CFG["spot_name"])
    assert ss.name == CFG["spot_name"]


@check("AllocationFailed through the operation")
def _():
    faults({"capacity": [{"sku": "Standard_D4s_v3", "code": "AllocationFailed"}]})
    try:
        expect(HttpResponseError, lambda: client().virtual_machine_scale_sets.begin_update(
            RG, CFG["spot_name"], {"sku": {"capacity": 5}}).result(), "AllocationFailed")
    finally:
        faults({"capacity": []})


@check("SkuNotAvailable and quota (OperationNotAllowed) answered at once with 409")
def _():
    for code in ("SkuNotAvailable", "OperationNotAllowed"):
        faults({"capacity": [{"sku": "Standard_D4s_v3", "code": code}]})
        try:
            e = expect(HttpResponseError, lambda: client().virtual_machine_scale_sets.begin_update(
                RG, CFG["spot_name"], {"sku": {"capacity": 5}}), code)
            assert e.status_code == 409, e.status_code
        finally:
            faults({"capacity": []})


@check("expired token: ExpiredAuthenticationToken")
def _():
    c = client()
    c.virtual_machine_scale_sets.get(RG, CFG["spot_name"])
    faults({"expire_credentials": True})
    e = expect(ClientAuthenticationError, lambda: c.virtual_machine_scale_sets.get(RG, CFG["spot_name"]))
    assert "ExpiredAuthenticationToken" in str(e), str(e)


@check("malformed body: DecodeError")
def _():
    faults({"malformed": 1})
    expect(DecodeError, lambda: client().virtual_machine_scale_sets.get(RG, CFG["spot_name"]))


sys.exit(1 if failed else 0)
