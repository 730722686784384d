"""What the whole-binary tests of `stevedore controller` share
(tests/test_controller_e2e.py, test_controller_faults.py, test_rbac.py):
an API emulator (tests/kubeapi/emulator.py) in this process, over TLS,
with one bearer token per controller replica so that its audit log says
which replica made each call; controller processes with their logs in
files; a small JSON client for the test's own calls; pod builders; and
waiting with deadlines that, when they run out, say what was awaited,
what was last seen and the last 50 lines of every controller's log.

Every process a Scene starts is killed when the Scene ends, whatever
happened (and at interpreter exit, should a test escape the Scene).

    with ctltest.Scene(binary, "e2e") as sc:
        ctl = sc.controller("a", "--batch-idle", "0.2s")
        sc.create_pods(ctltest.pod("web-0", cpu="500m"))
        sc.wait_for("every pod Running", lambda: sc.all_running())
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "kubeapi"))

import emulator  # noqa: E402

ROOT = os.path.dirname(HERE)
LEASE_NS = "kube-system"
LEASE_NAME = "stevedore"
# Short delays, so that the whole set stays within minutes on a loaded
# two-core machine (docs/testing.md).
FAST = ["--provider", "sim", "--sim-launch-delay", "1s", "--batch-idle", "0.2s", "--batch-max", "2s",
        "--lease-name", LEASE_NAME, "--log-format", "json", "--log-level", "debug"]
# Deadlines are generous: they bound a failure, not the expected time.
SLOW = float(os.environ.get("STV_TEST_SLOW", "1"))
LIVE = []  # every process started and not yet reaped


def _offerings(od, spot):
    """On-demand and spot offerings in three zones; spot a little dearer in
    us-east-1c, so that the plans are not ties."""
    out = []
    for i, z in enumerate(("us-east-1a", "us-east-1b", "us-east-1c")):
        out.append({"capacity_type": "on-demand", "zone": z, "price": od})
        out.append({"capacity_type": "spot", "zone": z, "price": round(spot * (1 + 0.05 * i), 6)})
    return out


# A small catalogue (docs/catalog.md), the same for the controller and for
# `stevedore recommend`, so that the node counts and costs compare and a
# solve is quick.
CATALOG = {"provider": "aws", "region": "us-east-1", "currency": "USD", "source": "stevedore e2e tests",
           "instance_types": [
               {"name": "m5.large", "arch": "amd64", "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"},
                "allocatable": {"cpu": "1930m", "memory": "6903Mi", "pods": "29"},
                "offerings": _offerings(0.096, 0.035)},
               {"name": "m5.xlarge", "arch": "amd64", "capacity": {"cpu": "4", "memory": "16Gi", "pods": "58"},
                "allocatable": {"cpu": "3920m", "memory": "14162Mi", "pods": "58"},
                "offerings": _offerings(0.192, 0.070)},
               {"name": "c5.large", "arch": "amd64", "capacity": {"cpu": "2", "memory": "4Gi", "pods": "29"},
                "allocatable": {"cpu": "1930m", "memory": "3190Mi", "pods": "29"},
                "offerings": _offerings(0.085, 0.031)},
               {"name": "r5.large", "arch": "amd64", "capacity": {"cpu": "2", "memory": "16Gi", "pods": "29"},
                "allocatable": {"cpu": "1930m", "memory": "14162Mi", "pods": "29"},
                "offerings": _offerings(0.126, 0.040)}]}


def price_of(instance_type, capacity_type, zone):
    """The catalogue's hourly price of an offering."""
    for t in CATALOG["instance_types"]:
        if t["name"] == instance_type:
            for o in t["offerings"]:
                if o["capacity_type"] == capacity_type and o["zone"] == zone:
                    return o["price"]
    raise AssertionError("no offering %s %s %s in the test catalogue" % (instance_type, capacity_type, zone))


def _kill_all():
    for p in list(LIVE):
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_kill_all)


def find_binary(argv):
    return os.path.abspath(argv[1] if len(argv) > 1 else "build/controller/stevedore")


class Api(object):
    """A JSON client of the emulator for the test's own calls (one TLS
    connection, made again after the emulator drops it)."""

    def __init__(self, emu, token):
        self.emu, self.token, self.conn = emu, token, None
        self.ctx = ssl.create_default_context(cafile=emu.ca_file)

    def _connect(self):
        self.conn = http.client.HTTPSConnection("127.0.0.1", self.emu.port, context=self.ctx, timeout=20)

    def call(self, method, path, body=None, ctype="application/json"):
        """Returns (code, document); retries once on a dropped connection
        and, while the emulator is down after an injected restart, for up
        to 20 s."""
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        end = time.time() + 20 * SLOW
        while True:
            try:
                if self.conn is None:
                    self._connect()
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn = None
                if time.time() > end:
                    raise
                time.sleep(0.2)
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = {"raw": raw.decode("utf-8", "replace")}
        return r.status, doc

    def ok(self, method, path, body=None, ctype="application/json"):
        code, doc = self.call(method, path, body, ctype)
        assert code in (200, 201), "%s %s: %d %s" % (method, path, code, json.dumps(doc)[:500])
        return doc

    def control(self, method, what, body=None):
        """The emulator's control endpoint (/_emulator/WHAT)."""
        return self.ok(method, "/_emulator/" + what, body)


def pod(name, cpu="500m", memory="512Mi", ns="default", labels=None, node_selector=None, anti_group=None,
        priority=None):
    """A pending pod of the default scheduler; anti_group puts it in a
    required hostname anti-affinity group of that name."""
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {"app": name.rsplit("-", 1)[0]})},
         "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9",
                                  "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}
    if node_selector:
        p["spec"]["nodeSelector"] = dict(node_selector)
    if anti_group:
        p["metadata"]["labels"]["anti"] = anti_group
        p["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"anti": anti_group}}}]}}
    if priority is not None:
        p["spec"]["priority"] = priority
    return p


class Controller(object):
    """One `stevedore controller` process; its standard output and error go
    to a log file."""

    def __init__(self, scene, identity, args):
        self.scene, self.identity = scene, identity
        self.token = scene.token_of(identity)
        self.kubeconfig = os.path.join(scene.tmp, "kubeconfig-" + identity)
        scene.emu.write_kubeconfig(self.kubeconfig, token=self.token)
        self.log_path = os.path.join(scene.tmp, "controller-%s.log" % identity)
        # Port 0: the kernel picks a free one, which the "started" log line names.
        self.argv = [scene.binary, "controller", "--kubeconfig", self.kubeconfig, "--identity", identity,
                     "--metrics-address", "127.0.0.1:0"] + list(args)
        self.proc = None
        self.starts = 0
        self.must_run = True  # a wait fails when it exits; tests that stop it clear this

    def start(self):
        self.starts += 1
        log = open(self.log_path, "a")
        log.write("### start %d: %s\n" % (self.starts, " ".join(self.argv)))
        log.flush()
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=ROOT, start_new_session=True)
        log.close()
        LIVE.append(self.proc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def kill(self):
        """SIGKILL, reaped."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            if self.proc in LIVE:
                LIVE.remove(self.proc)

    def wait_exit(self, timeout):
        """The exit status, or None if it is still running after timeout s."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.proc in LIVE:
            LIVE.remove(self.proc)
        return rc

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def records(self, msg):
        """The JSON log lines (--log-format json) whose msg is msg, parsed."""
        out = []
        for line in self.log().splitlines():
            if line.startswith("{") and ('"msg":"%s"' % msg) in line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def tail(self, n=50):
        return "\n".join(self.log().splitlines()[-n:])

    def metric(self, name, **labels):
        """The sum of the samples of a metric on /metrics whose labels
        include labels (values compared as strings), or None if the
        endpoint does not answer."""
        code, body = self.get("/metrics")
        if code != 200:
            return None
        total = 0.0
        for line in body.splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            mname, _, rest = head.partition("{")
            if mname != name:
                continue
            got = dict(kv.split("=", 1) for kv in rest.rstrip("}").split(",") if "=" in kv)
            if all(got.get(k, "").strip('"') == str(v) for k, v in labels.items()):
                total += float(value)
        return total

    def metrics_port(self):
        """The metrics port of the latest start, from its "started" log
        line, or None before that line is written."""
        recs = self.log().split("### start %d:" % self.starts)[-1]
        for line in recs.splitlines():
            if line.startswith("{") and '"msg":"started"' in line:
                return json.loads(line).get("metrics_port")
        return None

    def get(self, path):
        """(status, body) of GET path on its metrics address, or (0, why)."""
        port = self.metrics_port()
        if not port:
            return 0, "no \"started\" log line with the metrics port yet"
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read().decode("utf-8", "replace")
            c.close()
            return r.status, body
        except OSError as e:
            return 0, str(e)


class Scene(object):
    """An emulator (scheduler and kubelet on, no nodes), its kubeconfigs,
    the test's client and the controllers started in it."""

    def __init__(self, binary, name, scheduler=True, kubelet=True, lease_ns=LEASE_NS, **emu_kw):
        self.binary, self.name, self.lease_ns = binary, name, lease_ns
        self.identities = ["tester"]
        self.emu_kw = dict(emu_kw, scheduler=scheduler, kubelet=kubelet)
        self.controllers = []
        self.tmp = None
        self.emu = None

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="stv-%s-" % self.name)
        # One token per identity: the audit log's user names the replica.
        tokens = ["tok-%d-%s" % (i, n) for i, n in enumerate(["tester"] + ["r%d" % i for i in range(8)])]
        self.emu = emulator.Emulator(tokens=tokens, tls_dir=os.path.join(self.tmp, "tls"), **self.emu_kw).start()
        self.api = Api(self.emu, tokens[0])
        if self.api.call("GET", "/api/v1/namespaces/" + self.lease_ns)[0] == 404:
            self.api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                        "metadata": {"name": self.lease_ns}})
        self.catalog = os.path.join(self.tmp, "catalog.json")
        with open(self.catalog, "w") as f:
            json.dump(CATALOG, f, indent=1)
        return self

    def __exit__(self, etype, exc, tb):
        for c in self.controllers:
            c.kill()
        self.emu.stop()
        if etype is None or not os.environ.get("STV_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            sys.stdout.write("    (kept %s)\n" % self.tmp)
        return False

    def token_of(self, identity):
        if identity not in self.identities:
            self.identities.append(identity)
        i = self.identities.index(identity)
        names = ["tester"] + ["r%d" % k for k in range(8)]
        return "tok-%d-%s" % (i, names[i])

    def user_of(self, identity):
        """The emulator's user name for a replica's token."""
        return self.emu.tokens[self.token_of(identity)]

    def controller(self, identity, *args, start=True):
        c = Controller(self, identity, list(FAST) + ["--catalog", self.catalog, "--lease-namespace", self.lease_ns]
                       + list(args))
        self.controllers.append(c)
        return c.start() if start else c

    # Waiting -----------------------------------------------------------------

    def logs(self, n=50):
        out = []
        for c in self.controllers:
            state = "running" if c.alive() else "exited %s" % (c.proc.returncode if c.proc else "never started")
            out.append("--- last %d lines of controller %s (%s), %s ---\n%s"
                       % (n, c.identity, state, c.log_path, c.tail(n)))
        return "\n".join(out)

    def fail(self, msg):
        raise AssertionError("%s\n%s" % (msg, self.logs()))

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)

    def wait_for(self, what, fn, timeout=30, every=0.2):
        """Polls fn() until it returns (truthy, detail), then returns
        detail; or a truthy value other than a pair, then returns it. After timeout seconds (scaled by
        STV_TEST_SLOW) fails with what, the last detail and the logs."""
        end = time.time() + timeout * SLOW
        t0 = time.time()
        last = None
        while True:
            v = fn()
            ok, last = v if isinstance(v, tuple) and len(v) == 2 else (bool(v), v)
            if ok:
                return last
            if time.time() > end:
                self.fail("timed out after %.1f s waiting for %s; last seen: %s"
                          % (time.time() - t0, what, _short(last)))
            for c in self.controllers:
                if c.proc is not None and c.proc.poll() is not None and c.must_run:
                    self.fail("controller %s exited with %s while waiting for %s"
                              % (c.identity, c.proc.returncode, what))
            time.sleep(every)

    # The cluster, through the API ---------------------------------------------

    def create_pods(self, *pods):
        for p in pods:
            self.api.ok("POST", "/api/v1/namespaces/%s/pods" % p["metadata"]["namespace"], p)

    def pods(self):
        return self.api.ok("GET", "/api/v1/pods")["items"]

    def nodes(self):
        return self.api.ok("GET", "/api/v1/nodes")["items"]

    def lease_path(self):
        return "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s" % (self.lease_ns, LEASE_NAME)

    def lease(self):
        code, doc = self.api.call("GET", self.lease_path())
        return doc if code == 200 else None

    def holder(self):
        lease = self.lease()
        return (lease or {}).get("spec", {}).get("holderIdentity") or None

    def events(self, reason=None):
        q = "?fieldSelector=" + urllib.parse.quote("reason=" + reason) if reason else ""
        return self.api.ok("GET", "/api/v1/events" + q)["items"]

    def audit(self):
        return self.api.control("GET", "audit")["items"]

    def node_creates(self, identity=None):
        """Node objects created (201) so far, by anyone or by one replica."""
        user = self.user_of(identity) if identity else None
        return [e for e in self.audit() if e["verb"] == "POST" and e["path"] == "/api/v1/nodes"
                and e["code"] == 201 and (user is None or e["user"] == user)]

    def writes_by(self, identity, exclude_lease=True):
        """The writes (not GET) one replica made, Lease calls left out."""
        user = self.user_of(identity)
        return [e for e in self.audit() if e["user"] == user and e["verb"] != "GET"
                and not (exclude_lease and "/leases" in e["path"])]

    def all_running(self, expect, ignore=()):
        """(ok, detail): every pod Running but those named in ignore (pods
        no node can hold), and expect of them in all."""
        pods = self.pods()
        waiting = ["%s/%s %s %s" % (p["metadata"]["namespace"], p["metadata"]["name"],
                                    p["status"].get("phase"), _sched_message(p))
                   for p in pods if p["status"].get("phase") != "Running" and p["metadata"]["name"] not in ignore]
        return len(pods) == expect and not waiting, "%d pods, not running: %s" % (len(pods), waiting[:8])

    def recommend(self, *args):
        """`stevedore recommend --kubeconfig` of the cluster now (JSON)."""
        kc = os.path.join(self.tmp, "kubeconfig-tester")
        self.emu.write_kubeconfig(kc, token=self.token_of("tester"))
        p = subprocess.run([self.binary, "recommend", "--kubeconfig", kc, "--catalog", self.catalog, "-o", "json",
                            "-q"] + list(args),
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, "recommend failed (%d): %s" % (p.returncode, p.stderr[-2000:])
        return json.loads(p.stdout)


def _sched_message(p):
    for c in p["status"].get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return "(%s)" % c.get("message")
    return ""


def _short(v, n=1500):
    s = v if isinstance(v, str) else json.dumps(v, default=str)
    return s if len(s) <= n else s[:n] + "..."


def sim_nodes(nodes):
    return [n for n in nodes if (n.get("spec", {}).get("providerID") or "").startswith("sim:///")]


def node_ready(n):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in n.get("status", {}).get("conditions") or [])


def stop_gracefully(ctl, timeout):
    """SIGTERM; returns (exit status or None, seconds taken)."""
    t0 = time.time()
    ctl.signal(signal.SIGTERM)
    rc = ctl.wait_exit(timeout)
    return rc, time.time() - t0


class Skip(Exception):
    """A test that cannot pass until a filed controller bug is fixed; its
    message names the bug (docs/testing.md)."""


def run_tests(tests, argv, known=None):
    """Runs the named test functions (all, or those named on the command
    line after the binary) with the shared runner; returns the exit code.
    known maps a test's name to a controller bug filed in bugs_ctl.md that
    it still trips over: its failure is then shown as SKIP with the bug and
    the first lines of the failure, not counted (a pass is a pass)."""
    known = known or {}
    from clitest import Runner
    binary = find_binary(argv)
    r = Runner()
    if not os.access(binary, os.X_OK):
        print("FAIL binary %s is executable" % binary)
        print("0 passed, 1 failed")
        return 1
    only = [a for a in argv[2:] if not a.startswith("-")]
    skipped = 0
    for name, fn in tests:
        if only and name not in only:
            continue
        t0 = time.time()
        try:
            fn(binary)
        except Skip as e:
            skipped += 1
            print("SKIP %s\n    %s" % (name, e))
        except Exception as e:
            why = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            if name in known:
                skipped += 1
                print("SKIP %s\n    known controller bug, filed: %s\n    %s"
                      % (name, known[name], "\n    ".join(why.splitlines()[:3])))
            else:
                r.report(name, False, why)
                # One line run_all.py shows (it prints the lines that start with FAIL).
                print("FAIL %s: %s" % (name, why.strip().splitlines()[0][:400] if why.strip() else "?"))
        else:
            r.report(name, True)
        sys.stdout.write("    (%.1f s)\n" % (time.time() - t0))
        sys.stdout.flush()
    if skipped:
        print("%d skipped (each names the controller bug filed for it)" % skipped)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0
