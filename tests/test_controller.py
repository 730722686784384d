#!/usr/bin/env python3
"""`stevedore controller` as a whole binary against the API emulator
(tests/kubeapi/emulator.py with --scheduler --kubelet, over TLS with a
bearer token): pending pods arrive, the controller scales the sim provider,
Node objects with sim:/// provider ids appear, the emulator binds the pods
and every pod runs; TriggeredScaleUp and NotTriggerScaleUp Events; a
restart adopts the sim's Nodes and launches nothing twice; --dry-run
creates no Node; SIGTERM exits 0 and releases the Lease; /metrics,
/healthz and /readyz answer; a broken kubeconfig, a bad --config and an
unbuilt provider exit 2 with a clear message.

    python3 tests/test_controller.py [path/to/stevedore]
"""

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

TOKEN = "ctl-token"


class Cluster(object):
    """The emulator in a process of its own, and a client for its API."""

    def __init__(self, tmp):
        self.dir = tempfile.mkdtemp(dir=tmp)
        ready = os.path.join(self.dir, "ready.json")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "kubeapi", "emulator.py"), "--port", "0", "--ready-file", ready,
             "--token", TOKEN, "--tls-dir", os.path.join(self.dir, "tls"), "--scheduler", "--kubelet",
             "--kubeconfig-out", self.kubeconfig],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 30
        while not os.path.exists(ready):
            assert time.time() < end and self.proc.poll() is None, "the emulator did not start"
            time.sleep(0.05)
        with open(ready) as f:
            info = json.load(f)
        self.url = info["url"]
        self.ctx = ssl.create_default_context(cafile=info["ca_file"])

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + TOKEN)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def items(self, path):
        code, doc = self.api("GET", path)
        assert code == 200, (path, code, doc)
        return doc["items"]

    def pod(self, name, cpu="1", memory="1Gi"):
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "nginx",
                                         "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}
        code, doc = self.api("POST", "/api/v1/namespaces/default/pods", body)
        assert code == 201, (code, doc)

    def events(self, reason):
        return [e for e in self.items("/api/v1/namespaces/default/events") if e.get("reason") == reason]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


class Controller(object):
    """One `stevedore controller` process; its log goes to a file."""

    def __init__(self, binary, cluster, *extra):
        self.log = os.path.join(cluster.dir, "controller-%d.log" % time.time_ns())
        self.port = None
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen(
            [binary, "controller", "--kubeconfig", cluster.kubeconfig, "--metrics-address", "127.0.0.1:0",
             "--sim-launch-delay", "1s", "--batch-idle", "300ms", "--lease-namespace", "default",
             "--log-format", "json"] + list(extra),
            stdout=self.out, stderr=self.out)
        self.wait_for(lambda: self.port is not None, "the controller to start", self.find_port)

    def lines(self):
        out = []
        with open(self.log) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"msg": line.strip()})
        return out

    def find_port(self):
        for line in self.lines():
            if line.get("msg") == "started":
                self.port = line["metrics_port"]

    def wait_for(self, cond, what, poll=None, secs=40):
        end = time.time() + secs
        while True:
            if poll:
                poll()
            if cond():
                return
            assert self.proc.poll() is None, "the controller exited (%s) waiting for %s:\n%s" % (
                self.proc.returncode, what, open(self.log).read()[-3000:])
            assert time.time() < end, "timed out waiting for %s; log:\n%s" % (what, open(self.log).read()[-3000:])
            time.sleep(0.1)

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=40)
        self.out.close()
        return rc


def sim_nodes(cluster):
    return [n for n in cluster.items("/api/v1/nodes") if n.get("spec", {}).get("providerID", "").startswith("sim:///")]


def running(cluster, names):
    pods = {p["metadata"]["name"]: p for p in cluster.items("/api/v1/namespaces/default/pods")}
    return all(n in pods and pods[n].get("status", {}).get("phase") == "Running" for n in names)


def run_fail(binary, *args):
    p = subprocess.run([binary, "controller"] + list(args), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stderr


def main(argv):
    binary = os.path.abspath(argv[0]) if argv else os.path.abspath("build/controller/stevedore")
    t = Runner()
    tmp = tempfile.mkdtemp(prefix="stv-controller-")
    clusters = []

    def cluster():
        c = Cluster(tmp)
        clusters.append(c)
        return c

    def scales_the_sim_until_every_pod_runs_then_stops_cleanly():
        c = cluster()
        ctl = Controller(binary, c)
        ctl.wait_for(lambda: ctl.get("/readyz")[0] == 200, "/readyz 200")
        assert ctl.get("/healthz")[0] == 200
        names = ["web-%d" % i for i in range(4)]
        for n in names:
            c.pod(n)
        ctl.wait_for(lambda: running(c, names), "every pod Running")
        nodes = sim_nodes(c)
        assert 1 <= len(nodes) <= 4, [n["metadata"]["name"] for n in nodes]
        for n in nodes:
            pid = n["spec"]["providerID"]
            zone = n["metadata"]["labels"]["topology.kubernetes.io/zone"]
            assert pid.startswith("sim:///%s/" % zone), pid
            assert n["metadata"]["labels"]["node.kubernetes.io/instance-type"]
        ctl.wait_for(lambda: len(c.events("TriggeredScaleUp")) >= 1, "a TriggeredScaleUp Event")
        ev = c.events("TriggeredScaleUp")[0]
        assert ev["type"] == "Normal" and ev["message"].startswith("pod triggered scale-up: group sim-"), ev
        assert ev["involvedObject"]["kind"] == "Pod" and ev["involvedObject"]["name"] in names, ev
        ctl.wait_for(lambda: "stevedore_nodes{" in ctl.get("/metrics")[1], "the node gauges")
        code, text = ctl.get("/metrics")
        assert code == 200, code
        for want in ("stevedore_leader 1", "stevedore_decision_duration_seconds_count 1", "stevedore_ready 1",
                     "stevedore_sim_node_writes_total{verb=\"create\",result=\"ok\"} %d" % len(nodes),
                     "stevedore_nodes{pool=\"\",capacity_type=\"%s\"}" % nodes[0]["metadata"]["labels"][
                         "stevedore.io/capacity-type"]):
            assert want in text, (want, [x for x in text.splitlines() if not x.startswith("#")])
        lines = ctl.lines()
        decisions = [x for x in lines if x.get("msg") == "decision"]
        assert any(x["kind"] == "scale_up" for x in decisions), decisions
        reconciled = [x for x in lines if x.get("msg") == "reconciled"]
        assert reconciled and reconciled[0]["decision_ms"] > 0, reconciled
        assert ctl.stop() == 0
        code, lease = c.api("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/stevedore")
        assert code == 200 and lease["spec"].get("holderIdentity", "") == "", lease

        # A restart adopts the Nodes and plans the pods onto them: nothing launched twice.
        before = sorted(n["metadata"]["name"] for n in nodes)
        again = Controller(binary, c, "--log-level", "debug")
        again.wait_for(lambda: any(x.get("msg") == "acting" for x in again.lines()), "the restart to act")
        time.sleep(3)
        assert sorted(n["metadata"]["name"] for n in sim_nodes(c)) == before
        adopted = [x for x in again.lines() if x.get("msg") == "sim node adopted"]
        assert len(adopted) == len(before), adopted
        assert not any(x.get("kind") == "scale_up" for x in again.lines()), again.lines()
        # A new pod after the restart: a new Node gets a new id, not an adopted one.
        c.pod("late")
        again.wait_for(lambda: running(c, ["late"]), "the late pod Running")
        # It may fit the room the first wave left (nodes are larger since
        # burstable types are not used by default), or get one new Node.
        after = sorted(n["metadata"]["name"] for n in sim_nodes(c))
        assert set(before) <= set(after) and len(after) - len(before) <= 1, (before, after)
        assert again.stop() == 0

    def leaves_a_pod_no_offering_can_hold_pending_with_a_not_trigger_scale_up_event():
        c = cluster()
        ctl = Controller(binary, c, "--leader-elect=false", "--instance-types", "m5.large,m5.xlarge")
        ctl.wait_for(lambda: ctl.get("/readyz")[0] == 200, "/readyz 200")
        c.pod("huge", cpu="64")
        ctl.wait_for(lambda: len(c.events("NotTriggerScaleUp")) >= 1, "a NotTriggerScaleUp Event")
        ev = c.events("NotTriggerScaleUp")[0]
        assert ev["involvedObject"]["name"] == "huge", ev
        assert ev["message"].startswith("pod didn't trigger scale-up: "), ev
        assert sim_nodes(c) == []
        code, _ = c.api("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/stevedore")
        assert code == 404, "--leader-elect=false must not touch the Lease"
        assert ctl.stop() == 0

    def keeps_a_node_pool_within_its_limits_from_the_configuration():
        c = cluster()
        conf = os.path.join(c.dir, "stevedore.yaml")
        with open(conf, "w") as f:
            f.write("nodePools:\n  - name: web\n    instanceFamilies: [m5]\n    labels: {team: web}\n"
                    "    limits: {nodes: 1}\n")
        ctl = Controller(binary, c, "--config", conf)
        ctl.wait_for(lambda: ctl.get("/readyz")[0] == 200, "/readyz 200")
        for n in ("big-1", "big-2", "big-3"):
            c.pod(n, cpu="50")  # one per m5 node at most (m5.24xlarge: 96 cpu)
        ctl.wait_for(lambda: len(c.events("NotTriggerScaleUp")) >= 2, "NotTriggerScaleUp on the pods over the limit")
        ctl.wait_for(lambda: len(sim_nodes(c)) == 1 and sum(running(c, [n]) for n in ("big-1", "big-2", "big-3")) == 1,
                     "one node, one pod on it")
        time.sleep(1.5)
        nodes = sim_nodes(c)
        assert len(nodes) == 1, [n["metadata"]["name"] for n in nodes]
        labels = nodes[0]["metadata"]["labels"]
        assert labels["stevedore.io/node-pool"] == "web" and labels["team"] == "web", labels
        assert labels["node.kubernetes.io/instance-type"].startswith("m5."), labels
        for ev in c.events("NotTriggerScaleUp"):
            assert "node pool limit of 1 nodes" in ev["message"], ev
        assert ctl.stop() == 0

    def dry_run_decides_and_records_but_creates_no_node():
        c = cluster()
        ctl = Controller(binary, c, "--dry-run")
        ctl.wait_for(lambda: ctl.get("/readyz")[0] == 200, "/readyz 200")
        c.pod("dry-1")
        ctl.wait_for(lambda: any(x.get("msg") == "dry run: would scale" for x in ctl.lines()), "a would-scale line")
        ctl.wait_for(lambda: len(c.events("TriggeredScaleUp")) >= 1, "a TriggeredScaleUp Event")
        assert c.events("TriggeredScaleUp")[0]["message"].endswith("(dry run)")
        time.sleep(2.5)  # longer than the launch delay
        assert c.items("/api/v1/nodes") == []
        assert ctl.stop() == 0

    def bad_configuration_exits_2_with_a_clear_message():
        d = tempfile.mkdtemp(dir=tmp)
        bad = os.path.join(d, "bad.yaml")
        with open(bad, "w") as f:
            f.write("limits:\n  nodes: 2.5\n")
        rc, err = run_fail(binary, "--config", bad, "--kubeconfig", os.path.join(d, "none"))
        assert rc == 2 and "bad.yaml:2:10: limits.nodes: expected a whole number, got 2.5" in err, (rc, err)
        broken = os.path.join(d, "kubeconfig")
        with open(broken, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
        rc, err = run_fail(binary, "--kubeconfig", broken)
        assert rc == 2 and broken in err, (rc, err)
        rc, err = run_fail(binary, "--kubeconfig", broken, "--context", "nope")
        assert rc == 2 and "nope" in err, (rc, err)
        # --catalog: the provider's settings are checked before anything is read from a cluster
        # (without it, choosing the nodes' region needs a kubeconfig first).
        rc, err = run_fail(binary, "--provider", "aws", "--catalog", "aws:us-east-1")
        assert rc == 2 and "--cluster-name is required" in err, (rc, err)
        rc, err = run_fail(binary, "--provider", "gcp", "--catalog", "gcp:us-east1")
        assert rc == 2 and "--cluster-name" in err and "gcp.namePrefix" in err, (rc, err)
        rc, err = run_fail(binary, "--leader-elect=maybe")
        assert rc == 2 and "expected true or false" in err, (rc, err)
        rc, err = run_fail(binary, "--bogus")
        assert rc == 2 and "unknown option" in err, (rc, err)
        p = subprocess.run([binary, "controller", "--help"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and "--leader-elect" in p.stdout and "--dry-run" in p.stdout

    try:
        t.run("scales the sim until every pod runs, stops cleanly, and a restart launches nothing twice",
              scales_the_sim_until_every_pod_runs_then_stops_cleanly)
        t.run("leaves a pod no offering can hold pending with a NotTriggerScaleUp Event",
              leaves_a_pod_no_offering_can_hold_pending_with_a_not_trigger_scale_up_event)
        t.run("keeps a node pool within its limits from the configuration",
              keeps_a_node_pool_within_its_limits_from_the_configuration)
        t.run("--dry-run decides and records but creates no Node", dry_run_decides_and_records_but_creates_no_node)
        t.run("bad configuration exits 2 with a clear message", bad_configuration_exits_2_with_a_clear_message)
    finally:
        for c in clusters:
            c.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
