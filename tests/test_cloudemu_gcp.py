#!/usr/bin/env python3
"""Fidelity of the GCP emulator (tests/cloudemu/gcp.py), checked with
Google's own client library, which nobody here wrote (python3-google-auth,
a Debian package): service_account.Credentials obtains tokens from the
emulator's token endpoint, which verifies the signed assertions with
google-auth; compute_engine.Credentials obtains them from its metadata
server; requests-based Compute calls with those tokens get the documented
shapes, Google's error format, operations, requestId idempotency and the
faults. gcloud is used where present (it is no Debian package: a skip
says so). A missing python3-google-auth is a failure naming the package.

    python3 tests/test_cloudemu_gcp.py [path/to/stevedore] [test names...]
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "cloudemu"))
sys.path.insert(0, HERE)

import gcpkit  # noqa: E402

HAVE_GOOGLE_AUTH = gcpkit.with_google_auth()
PROJECT = "stv-fidelity"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The metadata server's address is read by google-auth when its modules are
# imported: fix the emulator's port first.
PORT = free_port()
os.environ["GCE_METADATA_HOST"] = os.environ["GCE_METADATA_ROOT"] = "127.0.0.1:%d" % PORT
os.environ["GCE_METADATA_IP"] = "127.0.0.1:%d" % PORT

if HAVE_GOOGLE_AUTH:
    import requests  # noqa: E402
    import google.auth.exceptions  # noqa: E402
    import google.auth.transport.requests  # noqa: E402
    from google.auth import compute_engine  # noqa: E402
    from google.oauth2 import service_account  # noqa: E402

import gcp  # noqa: E402


class World(object):
    """An emulator with two registered keys (and one stranger key of the
    same email as the first, which it must refuse)."""

    def __init__(self, permissions=None, port=0):
        self.tmp = tempfile.mkdtemp(prefix="stv-gcpemu-")
        self.key_path, self.key, cert = gcpkit.make_key(self.tmp, "stevedore", PROJECT)
        _, self.stranger, _ = gcpkit.make_key(self.tmp, "stranger", PROJECT, email=self.key["client_email"])
        setup = gcpkit.setup_doc(PROJECT, [(self.key["client_email"], cert)], permissions)
        self.emu = gcp.Emulator(setup, port=port, launch_delay=0.3, op_delay=0.2).start()
        self.base = self.emu.url() + "/compute/v1/projects/" + PROJECT

    def close(self):
        self.emu.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def sa_creds(self, info=None, scopes=(gcpkit.COMPUTE_SCOPE,)):
        info = dict(info or self.key, token_uri=self.emu.url() + "/token")
        return service_account.Credentials.from_service_account_info(info, scopes=list(scopes))

    def token(self):
        c = self.sa_creds()
        c.refresh(google.auth.transport.requests.Request())
        return c.token

    def call(self, method, path, token, **kw):
        url = path if path.startswith("http") else self.base + "/" + path
        return requests.request(method, url, headers={"Authorization": "Bearer " + token}, timeout=40, **kw)

    def faults(self, doc):
        r = requests.post(self.emu.url() + "/_emu/faults", json=doc, timeout=10)
        assert r.status_code == 200, r.text


def check_error(r, code, reason, status):
    assert r.status_code == code, "%d %s" % (r.status_code, r.text[:300])
    e = r.json()["error"]
    assert e["code"] == code and e["status"] == status and e["errors"][0]["reason"] == reason, e
    assert isinstance(e["message"], str) and e["message"], e


def t_service_account_token(w):
    """google-auth's service-account credentials get a token from the
    emulator (JWT bearer grant verified with the key's certificate), and the
    token works on the Compute API."""
    c = w.sa_creds()
    c.refresh(google.auth.transport.requests.Request())
    assert c.token.startswith("ya29.") and c.valid and c.expiry is not None, (c.token, c.expiry)
    r = w.call("GET", "aggregated/instanceGroupManagers", c.token)
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "compute#instanceGroupManagerAggregatedList"


def t_assertion_verified(w):
    """An assertion signed by another key of the same email, or asking for a
    scope other than Compute's, is refused with the OAuth error format."""
    for info, scopes, err in ((w.stranger, (gcpkit.COMPUTE_SCOPE,), "invalid_grant"),
                              (None, ("https://www.googleapis.com/auth/devstorage.read_only",), "invalid_scope")):
        try:
            w.sa_creds(info, scopes).refresh(google.auth.transport.requests.Request())
        except google.auth.exceptions.RefreshError as e:
            assert err in str(e), e
        else:
            raise AssertionError("a token was issued for %s" % err)


def t_metadata_token(w):
    """google-auth's compute_engine credentials (GKE workload identity's
    way) get a token from the metadata server at GCE_METADATA_HOST; the
    server insists on the Metadata-Flavor header."""
    c = compute_engine.Credentials()
    c.refresh(google.auth.transport.requests.Request())
    assert c.token and c.service_account_email.endswith(".iam.gserviceaccount.com"), c.service_account_email
    r = w.call("GET", "zones/us-east1-b/instanceGroupManagers", c.token)
    assert r.status_code == 200 and r.json()["kind"] == "compute#instanceGroupManagerList", r.text
    r = requests.get(w.emu.url() + "/computeMetadata/v1/project/project-id", timeout=10)
    assert r.status_code == 403, r.status_code
    r = requests.get(w.emu.url() + "/computeMetadata/v1/project/project-id", headers={"Metadata-Flavor": "Google"},
                     timeout=10)
    assert r.status_code == 200 and r.text == PROJECT and r.headers["Metadata-Flavor"] == "Google", r.text


def t_shapes(w):
    """The documents as the Compute reference has them: MIG (zonal and
    regional), template (machineType, scheduling, kube-env), paging."""
    tok = w.token()
    r = w.call("GET", "aggregated/instanceGroupManagers", tok, params={"maxResults": 2})
    doc = r.json()
    assert "nextPageToken" in doc, doc.keys()
    names = []
    while True:
        for scope, v in doc["items"].items():
            if "warning" in v:
                assert v["warning"]["code"] == "NO_RESULTS_ON_PAGE", v
            for m in v.get("instanceGroupManagers", []):
                assert m["kind"] == "compute#instanceGroupManager" and m["selfLink"].endswith(m["name"]), m
                assert isinstance(m["targetSize"], int) and "instanceTemplate" in m, m
                assert ("zone" in m) != ("distributionPolicy" in m), m
                names.append(m["name"])
        if "nextPageToken" not in doc:
            break
        doc = w.call("GET", "aggregated/instanceGroupManagers", tok,
                     params={"maxResults": 2, "pageToken": doc["nextPageToken"]}).json()
    assert len(names) == 4 and len(set(names)) == 4, names
    spot = w.call("GET", "regions/us-east1/instanceGroupManagers/gke-c1-spot-5e6f7a8b-grp", tok).json()
    assert [z["zone"].rsplit("/", 1)[1] for z in spot["distributionPolicy"]["zones"]] == \
        ["us-east1-b", "us-east1-c", "us-east1-d"], spot
    t = w.call("GET", spot["instanceTemplate"], tok).json()
    assert t["properties"]["machineType"] == "e2-standard-4", t
    assert t["properties"]["scheduling"]["provisioningModel"] == "SPOT", t
    env = [i["value"] for i in t["properties"]["metadata"]["items"] if i["key"] == "kube-env"][0]
    assert "AUTOSCALER_ENV_VARS: node_labels=" in env and "cloud.google.com/gke-spot=true" in env, env
    big = w.call("GET", "zones/us-east1-c/instanceGroupManagers/gke-c1-big-9c0d1e2f-grp", tok).json()
    assert "/regions/us-east1/instanceTemplates/" in big["instanceTemplate"], big
    assert w.call("GET", big["instanceTemplate"], tok).status_code == 200


def wait_op(w, tok, op):
    r = w.call("POST", op["selfLink"] + "/wait", tok)
    assert r.status_code == 200, r.text
    return r.json()


def t_resize_and_instances(w):
    """resize returns an Operation (RUNNING, then DONE through wait); the
    MIG launches into its zones; listManagedInstances shows CREATING then
    RUNNING; deleteInstances lowers the target size."""
    tok = w.token()
    path = "regions/us-east1/instanceGroupManagers/gke-c1-spot-5e6f7a8b-grp"
    op = w.call("POST", path + "/resize", tok, params={"size": 3, "requestId": str(uuid.uuid4())}).json()
    assert op["kind"] == "compute#operation" and op["operationType"] == "compute.instanceGroupManagers.resize", op
    assert op["status"] in ("PENDING", "RUNNING", "DONE") and "/regions/us-east1/operations/" in op["selfLink"], op
    done = wait_op(w, tok, op)
    assert done["status"] == "DONE" and "error" not in done, done
    mi = w.call("POST", path + "/listManagedInstances", tok).json()["managedInstances"]
    assert len(mi) == 3 and {m["instance"].split("/zones/")[1].split("/")[0] for m in mi} == \
        {"us-east1-b", "us-east1-c", "us-east1-d"}, mi
    end = time.time() + 10
    while time.time() < end and not all(m["currentAction"] == "NONE" for m in mi):
        time.sleep(0.2)
        mi = w.call("POST", path + "/listManagedInstances", tok).json()["managedInstances"]
    assert all(m["currentAction"] == "NONE" and m["instanceStatus"] == "RUNNING" for m in mi), mi
    gone = mi[0]["instance"].split("/projects/%s/" % PROJECT)[1]
    op = w.call("POST", path + "/deleteInstances", tok, params={"requestId": str(uuid.uuid4())},
                json={"instances": [gone], "skipInstancesOnValidationError": False}).json()
    assert wait_op(w, tok, op)["status"] == "DONE"
    assert w.call("GET", path, tok).json()["targetSize"] == 2
    r = w.call("POST", path + "/deleteInstances", tok, json={"instances": ["zones/us-east1-b/instances/nope"]})
    check_error(r, 404, "notFound", "NOT_FOUND")


def t_request_id(w):
    """The same requestId twice is the same operation, applied once; a
    requestId that is no UUID is refused."""
    tok = w.token()
    path = "zones/us-east1-b/instanceGroupManagers/gke-c1-general-1a2b3c4d-grp"
    rid = str(uuid.uuid4())
    a = w.call("POST", path + "/resize", tok, params={"size": 1, "requestId": rid}).json()
    w.call("POST", path + "/resize", tok, params={"size": 0, "requestId": str(uuid.uuid4())})
    b = w.call("POST", path + "/resize", tok, params={"size": 1, "requestId": rid}).json()
    assert a["name"] == b["name"], (a["name"], b["name"])
    assert w.call("GET", path, tok).json()["targetSize"] == 0
    check_error(w.call("POST", path + "/resize", tok, params={"size": 1, "requestId": "x"}), 400, "invalid",
                "INVALID_ARGUMENT")
    check_error(w.call("POST", path + "/resize", tok), 400, "required", "INVALID_ARGUMENT")


def t_errors_and_faults(w):
    """Google's error format for 401/404/429; capacity and quota faults as
    operation errors; a stockout in lastAttempt; an expired token is 401."""
    tok = w.token()
    path = "zones/us-east1-b/instanceGroupManagers/gke-c1-general-1a2b3c4d-grp"
    check_error(w.call("GET", path, "nope"), 401, "authError", "UNAUTHENTICATED")
    check_error(w.call("GET", "zones/us-east1-b/instanceGroupManagers/missing", tok), 404, "notFound", "NOT_FOUND")
    w.faults({"throttle": 1})
    r = w.call("GET", path, tok)
    check_error(r, 429, "rateLimitExceeded", "RESOURCE_EXHAUSTED")
    assert r.headers.get("Retry-After") == "1", r.headers
    assert w.call("GET", path, tok).status_code == 200
    w.faults({"capacity": "e2-standard-4/us-east1-b", "quota": 0})
    op = wait_op(w, tok, w.call("POST", path + "/resize", tok, params={"size": 2}).json())
    assert op["error"]["errors"][0]["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED", op
    assert w.call("GET", path, tok).json()["targetSize"] == 0
    w.faults({"capacity": [], "quota": 1})
    op = wait_op(w, tok, w.call("POST", path + "/resize", tok, params={"size": 2}).json())
    assert op["error"]["errors"][0]["code"] == "QUOTA_EXCEEDED", op
    w.faults({"stockout": "e2-standard-4/us-east1-b"})
    wait_op(w, tok, w.call("POST", path + "/resize", tok, params={"size": 1}).json())
    mi = w.call("POST", path + "/listManagedInstances", tok).json()["managedInstances"]
    assert mi[0]["currentAction"] == "CREATING" and \
        mi[0]["lastAttempt"]["errors"]["errors"][0]["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED", mi
    w.faults({"stockout": [], "malformed": 1})
    r = w.call("GET", path, tok)
    try:
        r.json()
        raise AssertionError("a malformed body parsed")
    except ValueError:
        pass
    w.faults({"expire_credentials": True})
    check_error(w.call("GET", path, tok), 401, "authError", "UNAUTHENTICATED")
    assert w.call("GET", path, w.token()).status_code == 200


def t_permissions():
    """With a role granted, a call outside it is 403 forbidden, and every
    call is logged with the permission it needed."""
    w = World(permissions=["compute.instanceGroupManagers.list", "compute.instanceGroupManagers.get"])
    try:
        tok = w.token()
        assert w.call("GET", "aggregated/instanceGroupManagers", tok).status_code == 200
        r = w.call("POST", "zones/us-east1-b/instanceGroupManagers/gke-c1-general-1a2b3c4d-grp/resize", tok,
                   params={"size": 1})
        check_error(r, 403, "forbidden", "PERMISSION_DENIED")
        assert "compute.instanceGroupManagers.update" in r.json()["error"]["message"]
        calls = requests.get(w.emu.url() + "/_emu/calls", timeout=10).json()
        assert [c["permission"] for c in calls] == ["compute.instanceGroupManagers.list",
                                                    "compute.instanceGroupManagers.update"], calls
    finally:
        w.close()


def t_gcloud(w):
    """gcloud against the emulator, where it is installed."""
    exe = shutil.which("gcloud")
    if exe is None:
        return "SKIP gcloud is not installed (it is no Debian package); google-auth covered the token exchange"
    env = dict(os.environ, CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=w.emu.url() + "/compute/v1/",
               CLOUDSDK_AUTH_ACCESS_TOKEN=w.token(), CLOUDSDK_CORE_PROJECT=PROJECT)
    def gcloud(*args):
        p = subprocess.run([exe, "compute", "instance-groups", "managed"] + list(args) + ["--format=json"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        assert p.returncode == 0, "gcloud %s: %s" % (" ".join(args), p.stderr.decode()[-500:])
        return json.loads(p.stdout) if p.stdout.strip() else None
    d = gcloud("describe", "gke-c1-big-9c0d1e2f-grp", "--zone", "us-east1-c")
    assert d["name"] == "gke-c1-big-9c0d1e2f-grp" and d["targetSize"] == 0, d
    gcloud("resize", "gke-c1-big-9c0d1e2f-grp", "--zone", "us-east1-c", "--size", "1")
    assert gcloud("describe", "gke-c1-big-9c0d1e2f-grp", "--zone", "us-east1-c")["targetSize"] == 1


def t_billing_skus(w):
    """google-auth's AuthorizedSession (a service-account token with the
    cloud-billing.readonly scope) pages through the Compute SKUs of the
    Cloud Billing Catalog API: every SKU has the documented shape (name
    services/6F81-5844-456A/skus/ID, category, serviceRegions,
    pricingInfo[0].pricingExpression with usageUnit and tieredRates of
    google.type.Money), pages join without loss; no token is 401 in
    Google's format, and the faults answer as documented."""
    creds = w.sa_creds(scopes=["https://www.googleapis.com/auth/cloud-billing.readonly"])
    s = google.auth.transport.requests.AuthorizedSession(creds)
    url = w.emu.url() + "/v1/services/%s/skus" % gcp.BILLING_SERVICE
    skus, token, pages = [], None, 0
    while True:
        params = {"currencyCode": "USD", "pageSize": 50}
        if token:
            params["pageToken"] = token
        r = s.get(url, params=params, timeout=30)
        assert r.status_code == 200, r.text[:300]
        doc = r.json()
        skus += doc["skus"]
        pages += 1
        token = doc.get("nextPageToken")
        if not token:
            break
    assert pages > 1 and len(skus) == len(w.emu.skus), (pages, len(skus), len(w.emu.skus))
    assert len({k["skuId"] for k in skus}) == len(skus), "duplicate skuIds across pages"
    for k in skus:
        assert k["name"] == "services/%s/skus/%s" % (gcp.BILLING_SERVICE, k["skuId"]), k["name"]
        assert set(k["category"]) == {"serviceDisplayName", "resourceFamily", "resourceGroup", "usageType"}, k
        assert k["serviceRegions"] and all(isinstance(x, str) for x in k["serviceRegions"]), k
        pe = k["pricingInfo"][0]["pricingExpression"]
        assert pe["usageUnit"] in ("h", "GiBy.h", "GiBy"), pe
        money = pe["tieredRates"][0]["unitPrice"]
        assert money["currencyCode"] == "USD" and isinstance(money["units"], str) and \
            isinstance(money["nanos"], int) and 0 <= money["nanos"] < 10 ** 9, money
    n2 = [k for k in skus if k["description"] == "N2 Instance Core running in South Carolina"]
    assert len(n2) == 1 and n2[0]["category"]["usageType"] == "OnDemand", n2
    check_error(requests.get(url, timeout=10), 401, "authError", "UNAUTHENTICATED")
    w.faults({"billing_throttle": 1})
    r = s.get(url, timeout=30)
    check_error(r, 429, "rateLimitExceeded", "RESOURCE_EXHAUSTED")
    assert r.headers.get("Retry-After") == "1", r.headers
    w.faults({"billing_forbidden": True})
    check_error(s.get(url, timeout=30), 403, "accessNotConfigured", "PERMISSION_DENIED")
    w.faults({"billing_forbidden": False, "billing_malformed": 1})
    r = s.get(url, timeout=30)
    assert r.status_code == 200, r.status_code
    try:
        r.json()
        raise AssertionError("a malformed answer parsed as JSON")
    except ValueError:
        pass
    check_error(s.get(url, params={"pageToken": "not-a-token!"}, timeout=30), 400, "badRequest",
                "INVALID_ARGUMENT")


def main():
    if not HAVE_GOOGLE_AUTH:
        print("FAIL python3-google-auth is installed (apt-get install python3-google-auth python3-requests)")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    only = [a for a in sys.argv[2:] if not a.startswith("-")]
    w = World(port=PORT)
    tests = [t_service_account_token, t_assertion_verified, t_metadata_token, t_shapes, t_resize_and_instances,
             t_request_id, t_errors_and_faults, t_permissions, t_gcloud, t_billing_skus]
    try:
        for t in tests:
            name = t.__name__[2:]
            if only and name not in only:
                continue
            try:
                out = t(w) if t.__code__.co_argcount else t()
            except Exception as e:
                failed += 1
                why = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
                print("FAIL %s\n    %s" % (name, "\n    ".join(why.strip().splitlines())))
                continue
            if isinstance(out, str) and out.startswith("SKIP"):
                print("SKIP %s: %s" % (name, out[5:]))
            else:
                passed += 1
                print("PASS %s" % name)
            sys.stdout.flush()
    finally:
        w.close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
