#!/usr/bin/env python3
"""`stevedore recommend --kubeconfig` and `stevedore report --kubeconfig`
against the API emulator (tests/kubeapi/emulator.py, in this process, over
TLS with a bearer token): the plan and the report are those of the same
objects read from the file `kubectl get ... -o json` writes; `kubectl
stevedore` runs it as a kubectl plugin; a server that refuses a kind (403)
or does not serve one (404), and broken kubeconfigs, give clear errors.

    python3 tests/test_kube_live.py [path/to/stevedore]
"""

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "kubeapi"))

from clitest import Runner  # noqa: E402
import emulator  # noqa: E402

ROOT = os.path.dirname(HERE)
KINDS = "nodes,pods,poddisruptionbudgets,namespaces,persistentvolumeclaims,persistentvolumes,storageclasses,csinodes"


def find_binary(argv):
    if argv:
        return os.path.abspath(argv[0])
    return os.path.abspath("build/controller/stevedore")


def run(cmd, env=None):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def kubectl_config(path, *args):
    p = run(["kubectl", "config", "--kubeconfig", path] + list(args))
    assert p.returncode == 0, p.stderr


def write_kubeconfig(path, url, ca=None, token="t0ken"):
    """A kubeconfig written by kubectl itself."""
    cluster = ["set-cluster", "emu", "--server=" + url]
    if ca:
        cluster += ["--certificate-authority=" + ca, "--embed-certs=true"]
    kubectl_config(path, *cluster)
    kubectl_config(path, "set-credentials", "tester", "--token=" + token)
    kubectl_config(path, "set-context", "emu", "--cluster=emu", "--user=tester")
    kubectl_config(path, "use-context", "emu")


class Refuser(http.server.BaseHTTPRequestHandler):
    """A server that serves empty lists, except pods (403) and csinodes (404)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, doc):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if "/pods" in self.path and self.server.forbid_pods:
            return self.send(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                                   "code": 403, "message": 'pods is forbidden: User "tester" cannot list resource '
                                   '"pods" in API group "" at the cluster scope'})
        if "/csinodes" in self.path:
            return self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                   "code": 404, "message": "the server could not find the requested resource"})
        self.send(200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []})


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    if not os.access(binary, os.X_OK):
        print("FAIL binary %s is executable" % binary)
        print("0 passed, 1 failed")
        return 1
    if shutil.which("kubectl") is None:
        print("FAIL kubectl is on PATH (Debian: apt-get install kubernetes-client)")
        print("0 passed, 1 failed")
        return 1
    tmp = tempfile.mkdtemp(prefix="stv-kube-live-")
    emu = emulator.Emulator(tokens=["t0ken"], tls_dir=os.path.join(tmp, "tls"),
                            load=os.path.join(ROOT, "examples", "snapshot.json")).start()
    kc = os.path.join(tmp, "kubeconfig")
    write_kubeconfig(kc, emu.url, emu.ca_file)
    dump = os.path.join(tmp, "dump.json")
    p = run(["kubectl", "--kubeconfig", kc, "get", KINDS, "-A", "-o", "json"])
    assert p.returncode == 0, p.stderr
    with open(dump, "w") as f:
        f.write(p.stdout)

    def same_plan_as_the_kubectl_dump():
        # A work budget, not the wall clock, ends the optimizer: the same plan from the same objects
        # whatever the machine's load (the default time limit made them differ under load).
        det = ["--decision-budget", "1s", "--time-limit", "300"]
        live = run([binary, "recommend", "--kubeconfig", kc, "-o", "json"] + det)
        assert live.returncode == 0, live.stderr
        snap = run([binary, "recommend", "--snapshot", dump, "-o", "json"] + det)
        assert snap.returncode == 0, snap.stderr
        a, b = json.loads(live.stdout), json.loads(snap.stdout)
        assert a["summary"]["pending_pods"] == 60, a["summary"]
        assert a == b, "the live plan differs from the plan of the kubectl dump"
    t.run("recommend --kubeconfig plans as the kubectl dump of the same objects", same_plan_as_the_kubectl_dump)

    def same_report_as_the_kubectl_dump():
        live = run([binary, "report", "--kubeconfig", kc, "--context", "emu", "-o", "json"])
        assert live.returncode == 0, live.stderr
        snap = run([binary, "report", "--snapshot", dump, "-o", "json"])
        assert snap.returncode == 0, snap.stderr
        a, b = json.loads(live.stdout), json.loads(snap.stdout)
        assert "live cluster" in json.dumps(a.get("source", a)), a.get("source")
        for d in (a, b):
            d.pop("source", None)
        assert a == b, "the live report differs from the report of the kubectl dump"
    t.run("report --kubeconfig --context reports as the kubectl dump", same_report_as_the_kubectl_dump)

    def kubectl_plugin():
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(binary) + os.pathsep + env.get("PATH", "")
        assert os.path.islink(os.path.join(os.path.dirname(binary), "kubectl-stevedore")), "no kubectl-stevedore link"
        p = run(["kubectl", "stevedore", "recommend", "--kubeconfig", kc, "-o", "json"], env=env)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["summary"]["pending_pods"] == 60
    t.run("kubectl stevedore recommend runs as a kubectl plugin", kubectl_plugin)

    def wrong_token():
        bad = os.path.join(tmp, "bad-token")
        write_kubeconfig(bad, emu.url, emu.ca_file, token="nope")
        p = run([binary, "recommend", "--kubeconfig", bad])
        assert p.returncode != 0
        assert "reading nodes from %s" % emu.url in p.stderr, p.stderr
        assert "401 Unauthorized" in p.stderr, p.stderr
    t.run("a refused token: 401, named", wrong_token)

    def unknown_ca():
        bad = os.path.join(tmp, "no-ca")
        write_kubeconfig(bad, emu.url)
        p = run([binary, "recommend", "--kubeconfig", bad])
        assert p.returncode != 0
        assert "TLS failed" in p.stderr, p.stderr
    t.run("TLS is verified by default", unknown_ca)

    def forbidden_and_not_served():
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuser)
        srv.forbid_pods = True
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        try:
            ref = os.path.join(tmp, "refuser")
            write_kubeconfig(ref, "http://127.0.0.1:%d" % srv.server_address[1])
            p = run([binary, "recommend", "--kubeconfig", ref])
            assert p.returncode != 0
            assert 'cannot list pods (RBAC: grant the verb "list" on "pods")' in p.stderr, p.stderr
            assert "pods is forbidden" in p.stderr, p.stderr
            srv.forbid_pods = False
            p = run([binary, "recommend", "--kubeconfig", ref])
            assert p.returncode == 0, p.stderr
            assert "does not serve csinodes.storage.k8s.io (404)" in p.stderr + p.stdout, p.stderr + p.stdout
        finally:
            srv.shutdown()
            srv.server_close()
    t.run("403 names the resource and verb; a kind not served is left out with a note", forbidden_and_not_served)

    def flag_errors():
        p = run([binary, "recommend"])
        assert p.returncode == 2 and "no --snapshot given" in p.stderr, p.stderr
        p = run([binary, "recommend", "--context", "emu", "--snapshot", dump])
        assert p.returncode == 2 and "--context: only with --kubeconfig" in p.stderr, p.stderr
        p = run([binary, "report", "--kubeconfig", kc, "--snapshot", dump])
        assert p.returncode == 2 and "give it without --snapshot" in p.stderr, p.stderr
        p = run([binary, "recommend", "--kubeconfig", kc, "--context", "nope"])
        assert p.returncode != 0 and 'context "nope" not found' in p.stderr, p.stderr
        p = run([binary, "recommend", "--kubeconfig", os.path.join(tmp, "missing")])
        assert p.returncode != 0 and "missing: cannot read kubeconfig" in p.stderr, p.stderr
    t.run("flag errors: no input, --context alone, both inputs, unknown context, missing file", flag_errors)

    emu.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
