#!/usr/bin/env python3
"""The Kubernetes API emulator (tests/kubeapi/) against clients nobody here
wrote, and its protocol and fault modes seen on the wire.

    python3 tests/test_kubeapi_emulator.py [build/controller/stevedore]

(the binary argument is accepted, as by every Python test in
tests/meson.build, and not used). Real clients: kubectl (found as $KUBECTL,
else Debian's /usr/bin/kubectl from kubernetes-client, else the first
kubectl on PATH) and the official Python client (Debian's
python3-kubernetes, run with /usr/bin/python3 in a subprocess). A missing
client is a failure naming the package to install, never a skip.

Prints "PASS name" / "FAIL name" per test and ends with "N passed, N failed".
"""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "kubeapi"))
import clitest  # noqa: E402
import emulator  # noqa: E402

DATA = os.path.join(HERE, "data", "kubeapi")
TOKEN = "emulator-test-token"
SYSTEM_PYTHON = "/usr/bin/python3"


def find_kubectl():
    """$KUBECTL, else Debian's kubectl, else the first on PATH."""
    for cand in (os.environ.get("KUBECTL"), "/usr/bin/kubectl", shutil.which("kubectl")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise AssertionError("no kubectl found: install the Debian package kubernetes-client "
                         "(or set KUBECTL to a kubectl binary)")


class Api(object):
    """A small HTTP client for the emulator: TLS verified against its CA."""

    def __init__(self, emu, token=TOKEN, cert=None):
        self.emu = emu
        self.token = token
        self.ctx = None
        if emu.ca_file:
            self.ctx = ssl.create_default_context(cafile=emu.ca_file)
            if cert:
                self.ctx.load_cert_chain(*cert)

    def conn(self, timeout=10):
        if self.ctx:
            return http.client.HTTPSConnection("127.0.0.1", self.emu.port, context=self.ctx, timeout=timeout)
        return http.client.HTTPConnection("127.0.0.1", self.emu.port, timeout=timeout)

    def call(self, method, path, body=None, ctype="application/json", headers=None):
        c = self.conn()
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h["Content-Type"] = ctype
        c.request(method, path, data, h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw.decode()
        return r.status, doc, r

    def ok(self, method, path, body=None, ctype="application/json", want=(200, 201)):
        code, doc, _ = self.call(method, path, body, ctype)
        assert code in want, "%s %s: expected %s, got %d %s" % (method, path, want, code, doc)
        return doc

    def watch(self, path, timeout=10):
        """Open a watch; returns (response, iterator over event dicts)."""
        c = self.conn(timeout)
        c.request("GET", path, headers={"Authorization": "Bearer " + self.token})
        r = c.getresponse()

        def events():
            while True:
                line = r.readline()
                if not line:
                    return
                yield json.loads(line)
        return r, events()

    def faults(self, doc):
        code, out, _ = self.call("POST", "/_emulator/faults", doc)
        assert code == 200, out
        return out


def pod(name, labels=None, cpu="100m", memory="64Mi", **spec):
    p = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": name}},
         "spec": {"containers": [{"name": "c", "image": "nginx:1.25",
                                  "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}
    p["spec"].update(spec)
    return p


def node(name, cpu="2", memory="4Gi", ready=True, **spec):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": dict(spec),
            "status": {"capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
                       "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


class Env(object):
    """One emulator per test, stopped afterwards."""

    def __init__(self, **kw):
        kw.setdefault("tokens", [TOKEN])
        self.emu = emulator.Emulator(**kw).start()
        self.api = Api(self.emu)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.emu.stop()


def wait_for(fn, what, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


# Protocol ------------------------------------------------------------------


def test_discovery_lists_the_served_kinds_with_verbs_and_short_names():
    with Env() as env:
        a = env.api
        assert a.ok("GET", "/version")["major"] == "1"
        assert a.ok("GET", "/api")["versions"] == ["v1"]
        core = {r["name"]: r for r in a.ok("GET", "/api/v1")["resources"]}
        for name in ("pods", "nodes", "namespaces", "events", "persistentvolumeclaims", "persistentvolumes",
                     "bindings", "pods/binding", "pods/eviction", "pods/status", "nodes/status", "configmaps"):
            assert name in core, "/api/v1 lacks %s" % name
        assert core["pods"]["shortNames"] == ["po"] and core["nodes"]["shortNames"] == ["no"]
        assert core["pods/eviction"]["group"] == "policy" and core["pods/eviction"]["kind"] == "Eviction"
        assert "watch" in core["pods"]["verbs"] and core["nodes"]["namespaced"] is False
        groups = {g["name"]: g for g in a.ok("GET", "/apis")["groups"]}
        for g in ("policy", "coordination.k8s.io", "events.k8s.io", "storage.k8s.io", "apps"):
            assert g in groups and groups[g]["preferredVersion"]["version"] == "v1", g
        pdb = a.ok("GET", "/apis/policy/v1")["resources"][0]
        assert pdb["name"] == "poddisruptionbudgets" and pdb["shortNames"] == ["pdb"]
        leases = a.ok("GET", "/apis/coordination.k8s.io/v1")["resources"]
        assert leases[0]["kind"] == "Lease" and leases[0]["namespaced"]
        code, st, _ = a.call("GET", "/apis/example.com/v1/widgets")
        assert code == 404 and st["kind"] == "Status" and st["reason"] == "NotFound", st


def test_missing_or_wrong_credentials_get_401_and_a_client_certificate_is_a_user():
    with Env() as env:
        for token in (None, "wrong"):
            code, st, _ = Api(env.emu, token).call("GET", "/api/v1/pods")
            assert code == 401 and st["reason"] == "Unauthorized", (token, code, st)
        cert = env.emu.issue_client_cert("alice", "alice", ["ops", "dev"])
        code, doc, _ = Api(env.emu, None, cert).call("GET", "/api/v1/nodes")
        assert code == 200 and doc["kind"] == "NodeList", (code, doc)
        audit = env.api.ok("GET", "/_emulator/audit")["items"]
        assert audit[-1]["user"] == "alice" and audit[-1]["path"] == "/api/v1/nodes", audit[-1]
        assert audit[-1]["groups"] == ["ops", "dev", "system:authenticated"], audit[-1]
        env.api.faults({"tokens": ["rotated"]})  # a service-account token rotation
        assert env.api.call("GET", "/api/v1/pods")[0] == 401
        assert Api(env.emu, "rotated").call("GET", "/api/v1/pods")[0] == 200
        code, st, _ = env.api.call("POST", "/_emulator/faults", {"tokens": "rotated"})
        assert code == 400 and "tokens must be a list" in st["message"], st


def test_plain_http_needs_the_explicit_flag():
    with Env() as env:
        s = socket.create_connection(("127.0.0.1", env.emu.port), timeout=5)
        s.sendall(b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            got = s.recv(100)
        except ConnectionResetError:
            got = b""
        s.close()
        assert not got.startswith(b"HTTP/1.1 200"), "a TLS emulator answered plain HTTP: %r" % got
    p = subprocess.run([sys.executable, os.path.join(HERE, "kubeapi", "emulator.py"), "--insecure-http",
                        "--tls-dir", "/tmp/x"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode != 0 and b"--insecure-http serves plain HTTP" in p.stderr, p.stderr


def test_create_get_update_conflict_and_delete_follow_the_apiserver():
    with Env() as env:
        a = env.api
        created = a.ok("POST", "/api/v1/namespaces/default/pods", pod("web"), want=(201,))
        meta = created["metadata"]
        assert meta["uid"] and meta["creationTimestamp"] and int(meta["resourceVersion"]) > 0
        assert created["status"]["phase"] == "Pending" and created["spec"]["schedulerName"] == "default-scheduler"
        code, st, _ = a.call("POST", "/api/v1/namespaces/default/pods", pod("web"))
        assert code == 409 and st["reason"] == "AlreadyExists" and st["message"] == 'pods "web" already exists', st
        code, st, _ = a.call("POST", "/api/v1/namespaces/nowhere/pods", pod("web"))
        assert code == 404 and st["message"] == 'namespaces "nowhere" not found', st
        fresh = a.ok("GET", "/api/v1/namespaces/default/pods/web")
        fresh["metadata"]["labels"]["tier"] = "front"
        updated = a.ok("PUT", "/api/v1/namespaces/default/pods/web", fresh)
        assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
        code, st, _ = a.call("PUT", "/api/v1/namespaces/default/pods/web", fresh)  # stale resourceVersion
        assert code == 409 and st["reason"] == "Conflict" and "the object has been modified" in st["message"], st
        gone = a.ok("DELETE", "/api/v1/namespaces/default/pods/web")
        assert gone["metadata"]["name"] == "web"
        code, st, _ = a.call("GET", "/api/v1/namespaces/default/pods/web")
        assert code == 404 and st["details"] == {"name": "web", "kind": "pods"}, st
        code, st, _ = a.call("POST", "/api/v1/namespaces/default/pods", {"kind": "Pod", "metadata": {"name": "x"},
                                                                        "spec": {}})
        assert code == 422 and st["reason"] == "Invalid" and "spec.containers" in st["message"], st


def test_a_status_update_changes_only_status_and_a_main_update_leaves_status():
    with Env() as env:
        a = env.api
        a.ok("POST", "/api/v1/nodes", node("n1"))
        n = a.ok("GET", "/api/v1/nodes/n1")
        n["spec"]["unschedulable"] = True
        n["status"]["allocatable"]["cpu"] = "64"
        out = a.ok("PUT", "/api/v1/nodes/n1", n)
        assert out["spec"]["unschedulable"] is True and out["status"]["allocatable"]["cpu"] == "2", out
        out["status"]["allocatable"]["cpu"] = "3"
        out["spec"]["unschedulable"] = False
        st = a.ok("PUT", "/api/v1/nodes/n1/status", out)
        assert st["status"]["allocatable"]["cpu"] == "3" and st["spec"]["unschedulable"] is True, st


def test_table_output_and_content_negotiation():
    with Env() as env:
        a = env.api
        a.ok("POST", "/api/v1/nodes", node("n1"))
        table = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
        code, doc, _ = a.call("GET", "/api/v1/nodes", headers=table)
        assert code == 200 and doc["kind"] == "Table" and doc["apiVersion"] == "meta.k8s.io/v1", doc
        assert [c["name"] for c in doc["columnDefinitions"]] == ["Name", "Status", "Roles", "Age", "Version"]
        assert doc["rows"][0]["cells"][:2] == ["n1", "Ready"]
        assert doc["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
        code, doc, _ = a.call("GET", "/api/v1/nodes/n1?includeObject=None", headers=table)
        assert code == 200 and "object" not in doc["rows"][0], doc
        code, doc, _ = a.call("GET", "/api/v1/namespaces?includeObject=Object", headers=table)
        assert [c["name"] for c in doc["columnDefinitions"]] == ["Name", "Created At"]
        assert doc["rows"][0]["object"]["kind"] == "Namespace", doc["rows"][0]
        code, st, _ = a.call("GET", "/api/v1/nodes?includeObject=All", headers=table)
        assert code == 400 and "includeObject" in st["message"], st
        code, st, _ = a.call("GET", "/api/v1/nodes", headers={"Accept": "application/vnd.kubernetes.protobuf"})
        assert code == 406 and st["reason"] == "NotAcceptable", st
        assert a.call("GET", "/api/v1/nodes", headers={"Accept": "application/json"})[1]["kind"] == "NodeList"


def _seed(a, n):
    a.ok("POST", "/api/v1/namespaces", {"metadata": {"name": "pages"}})
    for i in range(n):
        a.ok("POST", "/api/v1/namespaces/pages/pods", pod("p%02d" % i, {"app": "a" if i % 2 else "b"}))


def test_list_pages_are_one_consistent_snapshot_and_an_old_continue_is_410():
    with Env() as env:
        a = env.api
        _seed(a, 7)
        first = a.ok("GET", "/api/v1/namespaces/pages/pods?limit=3")
        assert [p["metadata"]["name"] for p in first["items"]] == ["p00", "p01", "p02"]
        assert first["metadata"]["remainingItemCount"] == 4 and "kind" not in first["items"][0]
        a.ok("POST", "/api/v1/namespaces/pages/pods", pod("p99"))
        a.ok("DELETE", "/api/v1/namespaces/pages/pods/p05")
        names, cont = [], first["metadata"]["continue"]
        while cont:
            page = a.ok("GET", "/api/v1/namespaces/pages/pods?limit=3&continue=" + cont)
            assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
            names += [p["metadata"]["name"] for p in page["items"]]
            cont = page["metadata"].get("continue")
        assert names == ["p03", "p04", "p05", "p06"], names
        a.faults({"compact": True})
        code, st, _ = a.call("GET", "/api/v1/namespaces/pages/pods?limit=3&continue=" + first["metadata"]["continue"])
        assert code == 410 and st["reason"] == "Expired" and st["metadata"]["continue"], st
        assert "continue parameter is too old" in st["message"]
        rest = a.ok("GET", "/api/v1/namespaces/pages/pods?limit=10&continue=" + st["metadata"]["continue"])
        assert [p["metadata"]["name"] for p in rest["items"]] == ["p03", "p04", "p06", "p99"], rest["items"]
        code, st, _ = a.call("GET", "/api/v1/pods?continue=garbage")
        assert code == 400, st


def test_list_resource_version_semantics():
    with Env() as env:
        a = env.api
        _seed(a, 3)
        rv = a.ok("GET", "/api/v1/namespaces/pages/pods")["metadata"]["resourceVersion"]
        a.ok("DELETE", "/api/v1/namespaces/pages/pods/p00")
        old = a.ok("GET", "/api/v1/namespaces/pages/pods?resourceVersion=%s&resourceVersionMatch=Exact" % rv)
        assert len(old["items"]) == 3 and old["metadata"]["resourceVersion"] == rv
        now = a.ok("GET", "/api/v1/namespaces/pages/pods?resourceVersion=%s&resourceVersionMatch=NotOlderThan" % rv)
        assert len(now["items"]) == 2 and int(now["metadata"]["resourceVersion"]) > int(rv)
        code, st, _ = a.call("GET", "/api/v1/pods?resourceVersion=999999&resourceVersionMatch=NotOlderThan")
        assert code == 504 and st["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge", st
        code, st, _ = a.call("GET", "/api/v1/pods?watch=1&resourceVersion=999999")
        assert code == 504 and st["message"].startswith("Too large resource version: 999999, current: "), st
        ahead = str(int(now["metadata"]["resourceVersion"]) + 1)  # reached while the list waits
        threading.Timer(0.5, lambda: a.ok("POST", "/api/v1/namespaces/pages/pods", pod("later"))).start()
        got = a.ok("GET", "/api/v1/namespaces/pages/pods?resourceVersion=%s&resourceVersionMatch=NotOlderThan"
                   % ahead)
        assert "later" in [p["metadata"]["name"] for p in got["items"]], got["items"]
        code, st, _ = a.call("GET", "/api/v1/pods?resourceVersionMatch=Exact")
        assert code == 400 and "forbidden unless resourceVersion" in st["message"], st
        a.faults({"compact": True})
        code, st, _ = a.call("GET", "/api/v1/pods?resourceVersion=%s&resourceVersionMatch=Exact" % rv)
        assert code == 410 and st["reason"] == "Expired", st
        assert len(a.ok("GET", "/api/v1/pods?resourceVersion=0")["items"]) == 3


def test_label_and_field_selectors():
    with Env() as env:
        a = env.api
        _seed(a, 4)
        names = lambda q: [p["metadata"]["name"] for p in a.ok("GET", "/api/v1/pods?" + q)["items"]]  # noqa
        assert names("labelSelector=app%3Da") == ["p01", "p03"]
        assert names("labelSelector=app+in+(a,b),app!%3Da") == ["p00", "p02"]
        assert names("labelSelector=!app") == []
        assert names("fieldSelector=metadata.name%3Dp02") == ["p02"]
        assert names("fieldSelector=status.phase%3DPending,spec.nodeName%3D") == ["p00", "p01", "p02", "p03"]
        assert names("fieldSelector=spec.schedulerName!%3Ddefault-scheduler") == []
        assert names("fieldSelector=metadata.namespace%3Ddefault") == []
        code, st, _ = a.call("GET", "/api/v1/pods?fieldSelector=spec.bogus%3Dx")
        assert code == 400 and st["message"] == "field label not supported: spec.bogus", st
        code, st, _ = a.call("GET", "/api/v1/pods?labelSelector=a+in+b")
        assert code == 400, st


def test_watch_from_a_resource_version_replays_and_selectors_turn_leaving_into_deleted():
    with Env(bookmark_interval=0.3) as env:
        a = env.api
        rv = a.ok("POST", "/api/v1/namespaces/default/pods", pod("w1", {"app": "x"}))["metadata"]["resourceVersion"]
        a.ok("POST", "/api/v1/namespaces/default/pods", pod("w2", {"app": "x"}))
        r, events = a.watch("/api/v1/namespaces/default/pods?watch=1&labelSelector=app%%3Dx&resourceVersion=%s"
                            "&allowWatchBookmarks=true&timeoutSeconds=3" % rv)
        assert r.status == 200 and r.getheader("Transfer-Encoding") == "chunked"
        first = next(events)
        assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "w2"
        assert first["object"]["kind"] == "Pod" and first["object"]["apiVersion"] == "v1"
        a.ok("PATCH", "/api/v1/namespaces/default/pods/w1", {"metadata": {"labels": {"app": "y"}}},
             "application/merge-patch+json")
        ev = next(events)
        assert ev["type"] == "DELETED" and ev["object"]["metadata"]["name"] == "w1", ev
        assert ev["object"]["metadata"]["labels"] == {"app": "y"}
        types, t0 = [], time.time()
        for ev in events:
            types.append(ev["type"])
            if ev["type"] == "BOOKMARK":
                assert ev["object"]["kind"] == "Pod" and int(ev["object"]["metadata"]["resourceVersion"]) >= int(rv)
                assert ev["object"]["spec"] == {"containers": None}, ev  # as the apiserver's typed object
        assert "BOOKMARK" in types and set(types) == {"BOOKMARK"}, types
        assert 1.5 < time.time() - t0 < 6, "timeoutSeconds=3 ended the stream after %.1fs" % (time.time() - t0)


def test_watch_without_resource_version_starts_with_synthetic_added_events():
    with Env() as env:
        a = env.api
        a.ok("POST", "/api/v1/nodes", node("n1"))
        _, events = a.watch("/api/v1/nodes?watch=true&timeoutSeconds=1")
        evs = list(events)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [("ADDED", "n1")], evs


def test_a_watch_whose_client_went_away_is_forgotten():
    with Env() as env:
        for _ in range(3):
            c = env.api.conn()
            c.request("GET", "/api/v1/pods?watch=1", headers={"Authorization": "Bearer " + TOKEN})
            assert c.getresponse().status == 200
            c.close()
        wait_for(lambda: not env.emu.store.watchers, "the emulator to drop the watches of closed connections", 5)


def test_a_too_old_watch_gets_a_410_error_event_as_the_apiserver_sends_it():
    with Env(history=5) as env:
        a = env.api
        rv = a.ok("POST", "/api/v1/namespaces/default/pods", pod("a"))["metadata"]["resourceVersion"]
        for i in range(8):
            a.ok("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c%d" % i}})
        r, events = a.watch("/api/v1/pods?watch=1&resourceVersion=%s" % rv)
        evs = list(events)
        assert r.status == 200 and len(evs) == 1 and evs[0]["type"] == "ERROR", evs
        st = evs[0]["object"]
        assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired", st
        assert st["message"].startswith("too old resource version: %s (" % rv), st


def test_injected_429_and_500_answers_then_recovery():
    with Env() as env:
        a = env.api
        a.faults({"fail_requests": {"count": 2, "code": 429, "retry_after": 3}})
        code, st, r = a.call("GET", "/api/v1/pods")
        assert code == 429 and r.getheader("Retry-After") == "3" and st["details"]["retryAfterSeconds"] == 3, st
        assert a.call("GET", "/api/v1/pods")[0] == 429
        assert a.call("GET", "/api/v1/pods")[0] == 200
        a.faults({"fail_requests": {"count": 1, "code": 500, "path_contains": "/nodes"}})
        assert a.call("GET", "/api/v1/pods")[0] == 200
        code, st, _ = a.call("GET", "/api/v1/nodes")
        assert code == 500 and st["reason"] == "InternalError", st
        assert a.call("GET", "/api/v1/nodes")[0] == 200
        a.faults({"fail_requests": {"count": 1, "code": 503, "retry_after": 2, "verb": "POST"}})
        assert a.call("GET", "/api/v1/nodes")[0] == 200
        code, st, r = a.call("POST", "/api/v1/nodes", node("n9"))
        assert code == 503 and st["reason"] == "ServiceUnavailable" and r.getheader("Retry-After") == "2", st
        assert a.call("POST", "/api/v1/nodes", node("n9"))[0] == 201


def test_a_watch_is_closed_after_k_events_and_a_restart_drops_every_watch():
    with Env() as env:
        a = env.api
        rv = a.ok("GET", "/api/v1/configmaps")["metadata"]["resourceVersion"]
        for i in range(5):
            a.ok("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c%d" % i}})
        a.faults({"watch_close_after": 2})
        _, events = a.watch("/api/v1/configmaps?watch=1&resourceVersion=" + rv)
        got = [e["object"]["metadata"]["name"] for e in events]
        assert got == ["c0", "c1"], got
        a.faults({"watch_close_after": 0})
        r, events = a.watch("/api/v1/configmaps?watch=1&timeoutSeconds=30")
        for _ in range(5):
            next(events)
        t0 = time.time()
        threading.Timer(0.3, lambda: a.faults({"restart": {"down_seconds": 1}})).start()
        try:
            rest = list(events)
        except OSError:  # the connection cut mid-record: dropped as well
            rest = []
        assert rest == [] and time.time() - t0 < 5
        s = socket.create_connection(("127.0.0.1", env.emu.port), timeout=5)
        refused = s.recv(10) == b""  # closed at once while down
        s.close()
        assert refused, "a connection during the down window was served"
        # Back after the down window; on a loaded machine the listener may
        # take longer than the second to serve TLS again: poll, do not sleep.
        deadline, back, last = time.time() + 20, None, None
        while back is None and time.time() < deadline:
            time.sleep(0.3)
            try:
                back = a.ok("GET", "/api/v1/configmaps")
            except (OSError, AssertionError) as e:  # ssl.SSLError is an OSError
                last = e
        assert back is not None, "the emulator did not come back after its restart: %r" % (last,)
        assert len(back["items"]) == 5, "state lost across the restart"


def test_the_audit_log_says_what_rbac_would_authorize_each_request_by():
    with Env() as env:
        a = env.api
        a.ok("DELETE", "/_emulator/audit")
        a.ok("GET", "/api/v1")
        a.ok("POST", "/api/v1/nodes", node("n1"))
        a.ok("GET", "/api/v1/nodes/n1")
        a.ok("PATCH", "/api/v1/nodes/n1/status", {"status": {"phase": "x"}}, "application/merge-patch+json")
        a.ok("POST", "/api/v1/namespaces/default/pods", pod("p"))
        a.ok("POST", "/api/v1/namespaces/default/pods/p/binding",
             {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"name": "n1"}})
        r, events = a.watch("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases?watch=1&timeoutSeconds=1")
        list(events)
        a.ok("GET", "/api/v1/pods?limit=5")
        a.ok("DELETE", "/api/v1/namespaces/default/pods")
        a.ok("DELETE", "/api/v1/nodes/n1")
        a.faults({"fail_requests": {"count": 1, "code": 429, "path_contains": "/nodes"}})
        assert a.call("POST", "/api/v1/nodes", node("n2"))[0] == 429
        items = a.ok("GET", "/_emulator/audit")["items"]
        assert [e["requestInfo"]["name"] for e in items if e["verb"] == "POST" and e["path"] == "/api/v1/nodes"] == \
            ["n1", "n2"], "a create's name, also of one refused by a fault"
        assert items[-1]["code"] == 429 and items[-1]["user"] == items[1]["user"], items[-1]
        got = [(e["requestInfo"]["verb"], e["requestInfo"].get("apiGroup"), e["requestInfo"].get("resource"),
                e["requestInfo"].get("subresource"), e["requestInfo"].get("namespace"))
               for e in items[:-1]]
        assert got == [("get", None, None, None, None),
                       ("create", "", "nodes", "", ""), ("get", "", "nodes", "", ""),
                       ("patch", "", "nodes", "status", ""), ("create", "", "pods", "", "default"),
                       ("create", "", "pods", "binding", "default"),
                       ("watch", "coordination.k8s.io", "leases", "", "kube-system"),
                       ("list", "", "pods", "", ""), ("deletecollection", "", "pods", "", "default"),
                       ("delete", "", "nodes", "", "")], got


def test_the_control_endpoint_names_what_is_wrong_with_a_request():
    with Env() as env:
        a = env.api
        code, st, _ = a.call("POST", "/_emulator/faults", {"steal_lease": {"namespace": "default"}})
        assert code == 400 and "steal_lease" in st["message"] and "'name'" in st["message"], st
        code, st, _ = a.call("POST", "/_emulator/faults", {"fail_requests": {"count": "many"}})
        assert code == 400 and "fail_requests" in st["message"] and "many" in st["message"], st
        code, st, _ = a.call("POST", "/_emulator/faults", b"[1]")
        assert code == 400 and "must be a JSON object" in st["message"], st
        code, st, _ = a.call("POST", "/_emulator/faults", {"steal_lease": {"name": "nope"}})
        assert code == 404 and st["message"] == 'leases.coordination.k8s.io "nope" not found', st
        code, st, _ = a.call("POST", "/_emulator/state", {"items": [{"kind": "Widget", "metadata": {"name": "w"}}]})
        assert code == 400 and "items[0] w" in st["message"], st
        assert a.call("GET", "/_emulator/nothing")[0] == 404
        a.ok("POST", "/_emulator/state", {"kind": "List", "items": [node("loaded")]})
        assert [n["metadata"]["name"] for n in a.ok("GET", "/api/v1/nodes")["items"]] == ["loaded"]
        dump = a.ok("GET", "/_emulator/state")
        assert any(o["kind"] == "Node" and o["metadata"]["name"] == "loaded" for o in dump["items"])


def test_the_scheduler_binds_what_fits_and_says_why_the_rest_does_not():
    with Env(scheduler=True, kubelet=True) as env:
        a = env.api
        a.ok("POST", "/api/v1/nodes", node("small", cpu="1"))
        a.ok("POST", "/api/v1/nodes", node("cordoned", cpu="8", unschedulable=True))
        a.ok("POST", "/api/v1/nodes", node("tainted", cpu="8", taints=[{"key": "gpu", "value": "yes",
                                                                          "effect": "NoSchedule"}]))
        a.ok("POST", "/api/v1/namespaces/default/pods", pod("fits", cpu="500m"))
        a.ok("POST", "/api/v1/namespaces/default/pods", pod("big", cpu="4"))
        ok = wait_for(lambda: a.ok("GET", "/api/v1/namespaces/default/pods/fits")["status"]["phase"] == "Running"
                      and a.ok("GET", "/api/v1/namespaces/default/pods/fits"), "fits to run")
        assert ok["spec"]["nodeName"] == "small"
        assert {c["type"]: c["status"] for c in ok["status"]["conditions"]}["PodScheduled"] == "True"

        def unsched():
            p = a.ok("GET", "/api/v1/namespaces/default/pods/big")
            return next((c for c in p["status"].get("conditions", []) if c["type"] == "PodScheduled"), None)
        cond = wait_for(unsched, "big to be marked unschedulable")
        assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
        assert cond["message"] == ("0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint "
                                   "{gpu: yes}, 1 node(s) were unschedulable."), cond["message"]
        a.ok("PATCH", "/api/v1/nodes/cordoned", {"spec": {"unschedulable": False}},
             "application/strategic-merge-patch+json")
        wait_for(lambda: a.ok("GET", "/api/v1/namespaces/default/pods/big")["spec"].get("nodeName") == "cordoned",
                 "big to land on the uncordoned node")
        a.ok("DELETE", "/api/v1/nodes/small")
        wait_for(lambda: a.call("GET", "/api/v1/namespaces/default/pods/fits")[0] == 404,
                 "the pod of a deleted node to go")


def test_a_node_registered_not_ready_takes_pods_once_its_status_says_ready():
    """The flow of a provider that registers nodes through the API, as kwok
    and the sim provider do: create the Node, then mark it Ready."""
    with Env(scheduler=True, kubelet=True) as env:
        a = env.api
        a.ok("POST", "/api/v1/namespaces/default/pods", pod("waits", cpu="1"))
        cond = wait_for(lambda: next((c for c in a.ok("GET", "/api/v1/namespaces/default/pods/waits")["status"]
                                      .get("conditions", []) if c["type"] == "PodScheduled"), None), "unschedulable")
        assert cond["message"] == "no nodes available to schedule pods", cond
        a.ok("POST", "/api/v1/nodes", node("fresh", cpu="2", ready=False))
        wait_for(lambda: "untolerated taint {node.kubernetes.io/not-ready: }" in json.dumps(
            a.ok("GET", "/api/v1/namespaces/default/pods/waits")["status"]), "the not-ready message")
        ready = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
        a.ok("PATCH", "/api/v1/nodes/fresh/status", ready, "application/strategic-merge-patch+json")
        got = wait_for(lambda: (lambda p: p["status"]["phase"] == "Running" and p)(
            a.ok("GET", "/api/v1/namespaces/default/pods/waits")), "the pod to run on the new node")
        assert got["spec"]["nodeName"] == "fresh"


def test_the_scheduler_keeps_required_inter_pod_affinity_and_anti_affinity():
    """kube-scheduler's InterPodAffinity filter: one pod of an anti-affinity
    group per hostname (also against a pod bound in the same pass), a pod
    with affinity beside its peer, and the words of its three reasons."""
    def anti(group, key="kubernetes.io/hostname"):
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": key, "labelSelector": {"matchLabels": {"group": group}}}]}}
    with Env(scheduler=True, kubelet=True) as env:
        a = env.api
        for n in ("n1", "n2"):
            a.ok("POST", "/api/v1/nodes", node(n, cpu="8"))
        for i in range(3):
            a.ok("POST", "/api/v1/namespaces/default/pods", pod("db-%d" % i, {"group": "db"}, affinity=anti("db")))

        def placed():
            pods = {p["metadata"]["name"]: p for p in a.ok("GET", "/api/v1/namespaces/default/pods")["items"]}
            return all(p["spec"].get("nodeName") or p["status"].get("conditions") for p in pods.values()) and pods
        pods = wait_for(placed, "the db pods to be bound or explained")
        hosts = sorted(p["spec"]["nodeName"] for p in pods.values() if p["spec"].get("nodeName"))
        assert hosts == ["n1", "n2"], hosts
        left = [p for p in pods.values() if not p["spec"].get("nodeName")]
        assert len(left) == 1
        msg = next(c["message"] for c in left[0]["status"]["conditions"] if c["type"] == "PodScheduled")
        assert msg == "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.", msg
        # A pod without terms that an existing pod's anti-affinity selects.
        a.ok("POST", "/api/v1/namespaces/default/pods", pod("intruder", {"group": "db"}))
        msg = wait_for(lambda: next((c.get("message") for c in a.ok(
            "GET", "/api/v1/namespaces/default/pods/intruder")["status"].get("conditions", [])
            if c["type"] == "PodScheduled"), None), "the intruder to be explained")
        assert msg == "0/2 nodes are available: 2 node(s) didn't satisfy existing pods anti-affinity rules.", msg
        # Affinity: beside the pod labelled web, in namespace default only.
        web_node = pods["db-0"]["spec"].get("nodeName") or pods["db-1"]["spec"]["nodeName"]
        a.ok("POST", "/api/v1/namespaces/default/pods", pod("web", {"role": "web"}, nodeName=web_node))
        aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"role": "web"}}}]}}
        a.ok("POST", "/api/v1/namespaces/default/pods", pod("sidecar", {"role": "side"}, affinity=aff))
        got = wait_for(lambda: a.ok("GET", "/api/v1/namespaces/default/pods/sidecar")["spec"].get("nodeName"),
                       "the sidecar to be bound")
        assert got == web_node, got
        a.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
        a.ok("POST", "/api/v1/namespaces/other/pods", pod("lonely", {"role": "x"}, affinity=aff))
        msg = wait_for(lambda: next((c.get("message") for c in a.ok(
            "GET", "/api/v1/namespaces/other/pods/lonely")["status"].get("conditions", [])
            if c["type"] == "PodScheduled"), None), "the lonely pod to be explained")
        assert msg == "0/2 nodes are available: 2 node(s) didn't match pod affinity rules.", msg


def test_the_projects_example_snapshot_loads_and_its_pending_pods_are_explained():
    with Env(load=os.path.join(HERE, "..", "examples", "snapshot.json"), scheduler=True) as env:
        a = env.api
        assert len(a.ok("GET", "/api/v1/nodes")["items"]) == 4
        pending = a.ok("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3D")["items"]
        assert len(pending) == 36, len(pending)

        def explained():
            pods = a.ok("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3D")["items"]
            msgs = [c.get("message") for p in pods for c in p["status"].get("conditions", [])
                    if c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"]
            return len(msgs) == len(pods) and msgs
        msgs = wait_for(explained, "every pending pod to carry an Unschedulable condition")
        assert all(m.startswith("0/4 nodes are available: ") for m in msgs), set(msgs)


def test_eviction_honours_the_pod_disruption_budget():
    with Env(scheduler=True, kubelet=True) as env:
        a = env.api
        a.ok("POST", "/api/v1/nodes", node("n1", cpu="4"))
        for i in range(2):
            a.ok("POST", "/api/v1/namespaces/default/pods", pod("web%d" % i, {"app": "web"}))
        a.ok("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
             {"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
        wait_for(lambda: a.ok("GET", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web")
                 .get("status", {}).get("currentHealthy") == 2, "the PDB to see two healthy pods")
        ev = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web0", "namespace": "default"}}
        st = a.ok("POST", "/api/v1/namespaces/default/pods/web0/eviction", ev)
        assert st["status"] == "Success"
        pdb = a.ok("GET", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web")["status"]
        assert pdb["disruptionsAllowed"] == 0 and pdb["expectedPods"] == 1, pdb
        ev["metadata"]["name"] = "web1"
        code, st, _ = a.call("POST", "/api/v1/namespaces/default/pods/web1/eviction", ev)
        assert code == 429 and st["reason"] == "TooManyRequests", st
        assert st["message"] == "Cannot evict pod as it would violate the pod's disruption budget.", st
        assert st["details"]["causes"][0]["message"] == ("The disruption budget web needs 1 healthy pods and has 1 "
                                                          "currently"), st


def test_binding_assigns_once():
    with Env() as env:
        a = env.api
        a.ok("POST", "/api/v1/namespaces/default/pods", pod("p"))
        b = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}}
        assert a.ok("POST", "/api/v1/namespaces/default/pods/p/binding", b, want=(201,))["status"] == "Success"
        got = a.ok("GET", "/api/v1/namespaces/default/pods/p")
        assert got["spec"]["nodeName"] == "n1"
        code, st, _ = a.call("POST", "/api/v1/namespaces/default/bindings", b)
        assert code == 409 and 'is already assigned to node "n1"' in st["message"], st


def test_events_of_both_groups_are_one_table():
    with Env() as env:
        a = env.api
        a.ok("POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
            "metadata": {"name": "scale.1"}, "eventTime": "2026-12-07T10:00:00.000000Z", "type": "Normal",
            "reason": "TriggeredScaleUp", "action": "ScaleUp", "note": "pod triggered scale-up: [pool 0->1]",
            "reportingController": "stevedore", "reportingInstance": "stevedore-0",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "p"}})
        core = a.ok("GET", "/api/v1/namespaces/default/events")["items"][0]
        assert core["message"] == "pod triggered scale-up: [pool 0->1]" and core["involvedObject"]["name"] == "p"
        assert core["reportingComponent"] == "stevedore"
        sel = a.ok("GET", "/api/v1/events?fieldSelector=involvedObject.kind%3DPod,reason%3DTriggeredScaleUp")
        assert len(sel["items"]) == 1
        code, st, _ = a.call("POST", "/apis/events.k8s.io/v1/namespaces/default/events",
                             {"metadata": {"name": "bad"}, "reason": "X"})
        assert code == 422 and "eventTime" in st["message"], st


def test_leases_need_a_resource_version_to_update_and_may_be_created_by_put():
    with Env() as env:
        a = env.api
        path = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/ctl"
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "ctl"},
                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
        code, got, _ = a.call("PUT", path, lease)
        assert code == 201 and got["spec"]["holderIdentity"] == "a", (code, got)
        lease["spec"]["holderIdentity"] = "b"
        code, st, _ = a.call("PUT", path, lease)
        assert code == 422 and "metadata.resourceVersion" in st["message"], st
        lease["metadata"]["resourceVersion"] = got["metadata"]["resourceVersion"]
        assert a.ok("PUT", path, lease)["spec"]["holderIdentity"] == "b"
        code, st, _ = a.call("PUT", "/api/v1/nodes/absent", node("absent"))
        assert code == 404, st


def test_patch_formats():
    with Env() as env:
        a = env.api
        p = pod("m")
        p["spec"]["containers"].append({"name": "side", "image": "envoy:1", "env": [{"name": "A", "value": "1"}]})
        a.ok("POST", "/api/v1/namespaces/default/pods", p)
        path = "/api/v1/namespaces/default/pods/m"
        out = a.ok("PATCH", path, {"spec": {"containers": [{"name": "side", "env": [{"name": "B", "value": "2"}]}]},
                                   "metadata": {"finalizers": ["x/y"]}}, "application/strategic-merge-patch+json")
        side = out["spec"]["containers"][1]
        assert [c["name"] for c in out["spec"]["containers"]] == ["c", "side"] and side["image"] == "envoy:1"
        assert side["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}], side
        out = a.ok("PATCH", path, {"spec": {"containers": [{"name": "side", "$patch": "delete"}]},
                                   "$setElementOrder/finalizers": ["x/y"]}, "application/strategic-merge-patch+json")
        assert [c["name"] for c in out["spec"]["containers"]] == ["c"]
        out = a.ok("PATCH", path, [{"op": "add", "path": "/metadata/labels/z", "value": "1"},
                                   {"op": "test", "path": "/metadata/name", "value": "m"}],
                   "application/json-patch+json")
        assert out["metadata"]["labels"]["z"] == "1"
        code, st, _ = a.call("PATCH", path, [{"op": "test", "path": "/metadata/name", "value": "q"}],
                             "application/json-patch+json")
        assert code == 422, st
        out = a.ok("PATCH", path, {"metadata": {"labels": {"z": None}}}, "application/merge-patch+json")
        assert "z" not in out["metadata"]["labels"]
        stale = {"metadata": {"resourceVersion": "2", "labels": {"q": "1"}}}
        code, st, _ = a.call("PATCH", path, stale, "application/merge-patch+json")
        assert code == 409 and st["reason"] == "Conflict", st
        code, st, _ = a.call("PATCH", path, b"a: b", "application/apply-patch+yaml")
        assert code == 415, st
        # A finalizer holds the delete until an update clears it.
        code, got, _ = a.call("DELETE", path)
        assert code == 202 and got["metadata"]["deletionTimestamp"], (code, got)
        a.ok("PATCH", path, {"metadata": {"finalizers": None}}, "application/merge-patch+json")
        assert a.call("GET", path)[0] == 404


def test_strategic_merge_directives():
    import emu_patch
    sm = emu_patch.strategic_merge
    node = {"metadata": {"finalizers": ["a", "b"]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "DiskPressure", "status": "False"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
            "spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]}}
    out = sm(node, {"status": {"conditions": [{"type": "Ready", "status": "True"}]},
                    "spec": {"taints": [{"key": "y", "effect": "NoExecute"}]}})
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                           {"type": "DiskPressure", "status": "False"}], out
    assert out["spec"]["taints"] == [{"key": "y", "effect": "NoExecute"}], "taints have no merge key: replaced"
    out = sm(node, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"]["finalizers"] == ["b"], out
    out = sm(node, {"status": {"conditions": [{"$patch": "replace"}, {"type": "Ready", "status": "Unknown"}]}})
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "Unknown"}], out
    out = sm(node, {"status": {"$retainKeys": ["addresses"], "addresses": [{"type": "InternalIP", "address": "x"}]}})
    assert out["status"] == {"addresses": [{"type": "InternalIP", "address": "x"}]}, out
    out = sm(node, {"status": {"$setElementOrder/conditions": [{"type": "DiskPressure"}, {"type": "Ready"}]}})
    assert [c["type"] for c in out["status"]["conditions"]] == ["DiskPressure", "Ready"], out
    out = sm(node, {"spec": {"$patch": "replace", "unschedulable": True}})
    assert out["spec"] == {"unschedulable": True}, out
    try:
        sm(node, {"status": {"conditions": [{"status": "True"}]}})
    except emu_patch.PatchError as e:
        assert "does not contain declared merge key: type" in str(e), e
    else:
        raise AssertionError("a list element without its merge key was accepted")
    assert node["status"]["conditions"][0]["status"] == "False", "the original was changed"


def test_load_starts_with_objects_and_bad_files_name_the_item():
    with Env(load=os.path.join(DATA, "cluster.json")) as env:
        a = env.api
        nodes = a.ok("GET", "/api/v1/nodes")["items"]
        assert len(nodes) == 2 and nodes[0]["status"]["allocatable"]["cpu"] == "3910m"
        pods = a.ok("GET", "/api/v1/pods?fieldSelector=status.phase%3DPending")["items"]
        assert [p["metadata"]["name"] for p in pods] == ["report-6f5d4c3b2-x7r4t"]
        assert a.ok("GET", "/api/v1/namespaces/shop")["status"]["phase"] == "Active"
        pdb = a.ok("GET", "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/checkout")
        assert pdb["status"]["disruptionsAllowed"] == 1, pdb["status"]
    bad = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"kind": "List", "items": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}},
                                         {"apiVersion": "example.com/v1", "kind": "Widget",
                                          "metadata": {"name": "w"}}]}, bad)
    bad.close()
    try:
        p = subprocess.run([sys.executable, os.path.join(HERE, "kubeapi", "emulator.py"), "--insecure-http",
                            "--load", bad.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        err = p.stderr.decode()
        assert p.returncode == 1 and "%s: items[1] w: apiVersion 'example.com/v1' kind 'Widget' is not served" \
            % bad.name in err, err
    finally:
        os.unlink(bad.name)


def test_the_command_line_emulator_writes_its_ready_file_and_issues_client_certificates():
    tmp = tempfile.mkdtemp(prefix="emu-cli-")
    ready = os.path.join(tmp, "ready.json")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "kubeapi", "emulator.py"), "--port", "0",
                             "--ready-file", ready, "--token", TOKEN, "--tls-dir", os.path.join(tmp, "tls"),
                             "--client-cert", "ctl:stevedore:system:masters",
                             "--kubeconfig-out", os.path.join(tmp, "kubeconfig")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        info = wait_for(lambda: os.path.exists(ready) and json.load(open(ready)), "the ready file", 30)
        assert info["url"] == "https://127.0.0.1:%d" % info["port"] and os.path.exists(info["ca_file"])
        crt = os.path.join(tmp, "tls", "ctl.crt")
        wait_for(lambda: os.path.exists(crt), "the client certificate")
        out = subprocess.run(["curl", "-sS", "--cacert", info["ca_file"], "--cert", crt,
                              "--key", os.path.join(tmp, "tls", "ctl.key"), info["url"] + "/api/v1/namespaces"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        doc = json.loads(out.stdout)
        assert doc["kind"] == "NamespaceList", out.stdout
        kubectl = find_kubectl()
        got = subprocess.run([kubectl, "--kubeconfig", os.path.join(tmp, "kubeconfig"), "get", "namespaces",
                              "-o", "name"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                             env=dict(os.environ, HOME=tmp))
        assert got.returncode == 0 and "namespace/kube-system" in got.stdout.decode(), got
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr.read()


# kubectl -------------------------------------------------------------------


class Kubectl(object):
    """kubectl with a kubeconfig written by kubectl config itself.

    Debian 12's kubectl 1.20 (kubernetes-client) panics in `config
    set-credentials` (its json-iterator/reflect2 predate the Go it is built
    with), so with kubectl before 1.21 the user is written with `kubectl
    config set users.u.FIELD` instead; an exec stanza that version cannot
    write (nor can 1.22 to 1.27 write exec.interactiveMode) is added to the
    kubeconfig as `kubectl config view --raw -o json` shows it."""

    def __init__(self, emu, cert=None, exec_version=None):
        self.bin = find_kubectl()
        self.dir = tempfile.mkdtemp(prefix="emu-kubectl-")
        self.kubeconfig = os.path.join(self.dir, "config")
        self.env = dict(os.environ, HOME=self.dir, KUBECONFIG=self.kubeconfig)
        self.v = self.version()
        self.run("config", "set-cluster", "emu", "--server=" + emu.url, "--certificate-authority=" + emu.ca_file,
                 "--embed-certs=true")
        if cert:
            self.set_user({"client-certificate": cert[0], "client-key": cert[1]})
        elif exec_version:
            self.exec_log = os.path.join(self.dir, "exec.log")
            self.set_exec(exec_version, [os.path.join(HERE, "kubeapi", "exec_credential.py"), TOKEN, "--log",
                                         self.exec_log])
        else:
            self.set_user({"token": TOKEN})
        self.run("config", "set-context", "emu", "--cluster=emu", "--user=u")
        self.run("config", "use-context", "emu")

    def version(self):
        """(major, minor) of this kubectl."""
        v = json.loads(self.run("version", "--client", "-o", "json"))["clientVersion"]
        return int(v["major"]), int("".join(ch for ch in v["minor"] if ch.isdigit()))

    def set_user(self, fields):
        if self.v >= (1, 21):
            self.run("config", "set-credentials", "u", *["--%s=%s" % kv for kv in sorted(fields.items())])
        else:
            for k, v in sorted(fields.items()):
                self.run("config", "set", "users.u." + k, v)

    def set_exec(self, api_version, args):
        if self.v >= (1, 21):
            self.run("config", "set-credentials", "u", "--exec-command=" + sys.executable,
                     "--exec-api-version=" + api_version, *["--exec-arg=" + a for a in args])
            if not api_version.endswith("/v1"):
                return
            if self.v >= (1, 28):
                self.run("config", "set-credentials", "u", "--exec-interactive-mode=Never")
                return
        else:
            self.set_user({"token": "placeholder"})
        cfg = json.loads(self.run("config", "view", "--raw", "-o", "json"))
        user = next(u for u in cfg["users"] if u["name"] == "u")["user"]
        user.pop("token", None)
        user.setdefault("exec", {"command": sys.executable, "args": args, "apiVersion": api_version})
        user["exec"]["interactiveMode"] = "Never"
        with open(self.kubeconfig, "w") as f:
            json.dump(cfg, f)

    def run(self, *args, **kw):
        p = subprocess.run([self.bin] + list(args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=kw.get("timeout", 60), input=kw.get("input"))
        if kw.get("check", True):
            assert p.returncode == 0, "kubectl %s: exit %d\n%s%s" % (" ".join(args), p.returncode,
                                                                     p.stdout.decode(), p.stderr.decode())
        return p.stdout.decode()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _kubectl_round(env, k):
    a = env.api
    a.ok("POST", "/api/v1/nodes", node("n1"))
    a.ok("POST", "/api/v1/namespaces/default/pods", pod("p0"))
    doc = json.loads(k.run("get", "pods", "-A", "-o", "json"))
    assert [p["metadata"]["name"] for p in doc["items"]] == ["p0"], doc
    nodes = k.run("get", "nodes").split()
    assert nodes[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"] and nodes[5:7] == ["n1", "Ready"], nodes
    assert k.run("get", "no", "-o", "name").split() == ["node/n1"]
    pods = k.run("get", "pods", "-o", "wide").split("\n")
    assert pods[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], pods
    assert pods[1].split()[:3] == ["p0", "0/1", "Pending"], pods
    assert "node/n1 cordoned" in k.run("cordon", "n1")
    assert a.ok("GET", "/api/v1/nodes/n1")["spec"]["unschedulable"] is True
    assert "Ready,SchedulingDisabled" in k.run("get", "node", "n1")
    cm = os.path.join(k.dir, "cm.json")
    with open(cm, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "default"},
                   "data": {"a": "1", "b": "2"}}, f)
    assert "configmap/conf created" in k.run("apply", "--validate=false", "-f", cm)
    with open(cm, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf", "namespace": "default"},
                   "data": {"a": "10"}}, f)
    assert "configmap/conf configured" in k.run("apply", "--validate=false", "-f", cm)
    got = a.ok("GET", "/api/v1/namespaces/default/configmaps/conf")
    assert got["data"] == {"a": "10"}, got["data"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]
    a.ok("POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
        "metadata": {"name": "p0.scale"}, "eventTime": "2026-12-07T10:00:00.000000Z", "type": "Normal",
        "reason": "TriggeredScaleUp", "action": "ScaleUp", "note": "pod triggered scale-up",
        "reportingController": "stevedore", "reportingInstance": "stevedore-0",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "p0"}})
    shown = k.run("get", "events")  # the apiserver's columns, from the emulator's Table output
    assert shown.split()[:6] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], shown
    assert "TriggeredScaleUp" in shown and "pod/p0" in shown and "pod triggered scale-up" in shown, shown
    ev = json.loads(k.run("get", "events", "-o", "json"))["items"]
    assert [(e["reason"], e["message"], e["involvedObject"]["name"]) for e in ev] == \
        [("TriggeredScaleUp", "pod triggered scale-up", "p0")], ev
    assert 'pod "p0" deleted' in k.run("delete", "pod", "p0")
    assert a.call("GET", "/api/v1/namespaces/default/pods/p0")[0] == 404


def test_kubectl_get_cordon_apply_delete_with_a_bearer_token():
    with Env() as env:
        k = Kubectl(env.emu)
        try:
            _kubectl_round(env, k)
        finally:
            k.close()


def test_kubectl_get_cordon_apply_delete_with_a_client_certificate():
    with Env(tokens=[]) as env:
        env.api.token = None
        env.api.ctx.load_cert_chain(*env.emu.issue_client_cert("admin", "admin", ["system:masters"]))
        k = Kubectl(env.emu, env.emu.issue_client_cert("kubectl", "jane", ["ops"]))
        try:
            _kubectl_round(env, k)
            users = {e["user"] for e in env.api.ok("GET", "/_emulator/audit")["items"]}
            assert "jane" in users, users
        finally:
            k.close()


def test_kubectl_drain_evicts_and_stops_at_the_disruption_budget():
    with Env(scheduler=True, kubelet=True) as env:
        a = env.api
        a.ok("POST", "/api/v1/nodes", node("n1", cpu="4"))
        for i in range(2):
            a.ok("POST", "/api/v1/namespaces/default/pods", pod("web%d" % i, {"app": "web"}))
        a.ok("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
             {"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
        wait_for(lambda: a.ok("GET", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web")
                 .get("status", {}).get("currentHealthy") == 2, "the PDB to see two healthy pods")
        k = Kubectl(env.emu)
        try:
            p = subprocess.run([k.bin, "drain", "n1", "--force", "--ignore-daemonsets", "--timeout=7s"], env=k.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        finally:
            k.close()
        err = p.stderr.decode()
        assert p.returncode != 0 and "Cannot evict pod as it would violate the pod's disruption budget." in err, err
        left = [x["metadata"]["name"] for x in a.ok("GET", "/api/v1/pods")["items"]]
        assert len(left) == 1 and a.ok("GET", "/api/v1/nodes/n1")["spec"]["unschedulable"] is True, left
        evictions = [e for e in a.ok("GET", "/_emulator/audit")["items"] if e["path"].endswith("/eviction")]
        assert {e["code"] for e in evictions} == {201, 429}, evictions


def test_kubectl_authenticates_through_an_exec_credential_plugin():
    for version in ("client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1"):
        with Env() as env:
            k = Kubectl(env.emu, exec_version=version)
            try:
                if version.endswith("/v1") and k.v < (1, 22):
                    # kubectl before 1.22 knows only v1beta1 and must say so.
                    p = subprocess.run([k.bin, "get", "nodes"], env=k.env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, timeout=60)
                    assert p.returncode != 0 and b"client.authentication.k8s.io/v1" in p.stderr, p.stderr
                    continue
                env.api.ok("POST", "/api/v1/nodes", node("n-exec"))
                assert "n-exec" in k.run("get", "nodes"), version
                with open(k.exec_log) as f:
                    calls = f.read().splitlines()
                assert calls and calls[0].startswith(version + " "), (version, calls)
                assert json.loads(calls[0].split(" ", 1)[1])["apiVersion"] == version, calls
            finally:
                k.close()


def test_kubectl_get_watch_receives_a_change_made_during_the_watch():
    with Env() as env:
        k = Kubectl(env.emu)
        try:
            env.api.ok("POST", "/api/v1/namespaces/default/pods", pod("before"))
            proc = subprocess.Popen([k.bin, "get", "pods", "-w", "-o", "name", "--request-timeout=0"], env=k.env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                wait_for(lambda: any(e["path"] == "/api/v1/namespaces/default/pods" and "watch" in e["query"]
                                     for e in env.api.ok("GET", "/_emulator/audit")["items"]), "kubectl to watch")
                env.api.ok("POST", "/api/v1/namespaces/default/pods", pod("during"))
                time.sleep(1.0)
            finally:
                proc.terminate()
                out, err = proc.communicate(10)
            assert b"pod/before" in out and b"pod/during" in out, (out, err)
        finally:
            k.close()


# python3-kubernetes ----------------------------------------------------------


def pyclient(env, check):
    if not os.path.exists(SYSTEM_PYTHON):
        raise AssertionError("%s is missing: install the Debian packages python3 and python3-kubernetes"
                             % SYSTEM_PYTHON)
    p = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "kubeapi", "pyclient_check.py"), env.emu.url,
                        env.emu.ca_file, TOKEN, check], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    out = p.stdout.decode().strip().splitlines()
    assert p.returncode == 0 and out, "python3-kubernetes check %s: exit %d\n%s\n%s" % (
        check, p.returncode, p.stdout.decode(), p.stderr.decode()[-2000:])
    return json.loads(out[-1])


def test_python_client_pages_through_a_list_with_limit_and_continue():
    with Env() as env:
        out = pyclient(env, "paginate")
        assert out["pages"] == 3 and out["names"] == ["p%d" % i for i in range(7)], out


def test_python_client_watches_from_a_resource_version_with_bookmarks_and_sees_410():
    with Env(bookmark_interval=0.5) as env:
        out = pyclient(env, "watch")
        assert out["events"] == [["ADDED", "w2"], ["MODIFIED", "w1"], ["DELETED", "w2"]], out
        assert out["bookmarks"] >= 2, out
        assert out["gone"][0] == 410 and "too old resource version" in out["gone"][1], out


def test_python_client_takes_renews_and_loses_a_lease():
    with Env() as env:
        out = pyclient(env, "lease")
        assert out["second_create"] == 409 and out["renewed"] and out["stale_update"] == [409, "Conflict"], out
        assert out["holder"] == "replica-a"
        env.api.faults({"steal_lease": {"namespace": "kube-system", "name": "stevedore", "holder": "replica-b"}})
        out = pyclient(env, "lease_lost")
        assert out["holder"] == "replica-b" and out["renew"] == [409, "Conflict"] and out["transitions"] == 1, out


def test_python_client_leader_election_module_acquires_the_lock():
    with Env() as env:
        out = pyclient(env, "leader")
        assert out["led"] and out["holder"] == "replica-a", out


def test_python_client_binds_and_evicts_under_a_disruption_budget():
    with Env() as env:
        out = pyclient(env, "binding_eviction")
        assert out["binding_status"] == 201 and out["node"] == "py-node", out
        assert out["evict_guarded"] == [429, "Cannot evict pod as it would violate the pod's disruption budget."]
        assert out["evict_free"] == 201 and "bound" not in out["pods_left"], out


def main():
    r = clitest.Runner()
    names = [n for n in sorted(globals()) if n.startswith("test_")]
    only = [a for a in sys.argv[1:] if a.startswith("test_")]
    for name in names:
        if not only or name in only:
            r.run(name, globals()[name])
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
