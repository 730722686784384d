#!/usr/bin/env python3
"""Synthetic kube-state-metrics and cAdvisor series in a real Prometheus.

Used by tests/test_prom_integration.py (a small known cluster at 1-minute
resolution) and bench/prom_bench.py (thousands of pods at 5-minute
resolution):

- `small_cluster(t0)` describes three days of a three-node cluster whose
  pods come and go mid-window, and returns its series (every sample kept, so
  that a test can compute what Prometheus will answer);
- `write_openmetrics()` writes series as OpenMetrics text, one file per
  2-hour TSDB block (promtool 2.42 re-reads its whole input once per 2-hour
  block it writes, so one file per block keeps the backfill linear);
- `backfill()` runs `promtool tsdb create-blocks-from openmetrics` on each;
- `Prometheus` starts `prometheus` on a free loopback port over the blocks,
  waits until /-/ready answers, and stops it.

Series follow kube-state-metrics v2 and the kubelet's cAdvisor endpoint as
scraped by kube-prometheus: label names as documented in
docs/prometheus.md (namespace, pod, container, node, resource, unit, uid,
created_by_kind, created_by_name, owner_kind, owner_name,
owner_is_controller, label_*), plus job and instance.

    python3 tests/prom_fixture.py DIR     writes, backfills and serves the
                                          small cluster until interrupted
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

BLOCK = 7200  # seconds: promtool's block length
MIB = 1024 * 1024
GIB = 1024 * MIB


def tools_available():
    """True when both `prometheus` and `promtool` are on PATH."""
    return shutil.which("prometheus") is not None and shutil.which("promtool") is not None


class Series:
    """One time series: metric name, labels, and samples as [(t, v)]."""

    __slots__ = ("name", "labels", "samples")

    def __init__(self, name, labels, samples=None):
        self.name = name
        self.labels = labels
        self.samples = samples if samples is not None else []

    def key(self):
        return self.name + "{" + ",".join('%s="%s"' % (k, v) for k, v in sorted(self.labels.items())) + "}"


def fmt_value(v):
    """A sample value as OpenMetrics text: integers without a fraction."""
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _label_text(labels):
    # Prometheus drops labels with empty values; so does the text here.
    return ",".join('%s="%s"' % (k, v) for k, v in labels.items() if v != "")


def write_openmetrics(series, out_dir, families=None):
    """Writes series into out_dir as one OpenMetrics file per 2-hour block.

    series: an iterable of Series. families: {metric name: "gauge"}; other
    families are written without a TYPE line (OpenMetrics' "unknown").
    Returns the files written, in time order.
    """
    os.makedirs(out_dir, exist_ok=True)
    by_block = {}
    # Group samples per block, then per family, then per series.
    for s in series:
        text = None
        cur_block = None
        lines = []
        for t, v in s.samples:
            b = int(t) // BLOCK
            if b != cur_block:
                if lines:
                    by_block.setdefault(cur_block, {}).setdefault(s.name, []).append("".join(lines))
                lines = []
                cur_block = b
                if text is None:
                    text = s.name + "{" + _label_text(s.labels) + "} "
            lines.append("%s%s %d\n" % (text, fmt_value(v), int(t)))
        if lines:
            by_block.setdefault(cur_block, {}).setdefault(s.name, []).append("".join(lines))
    files = []
    for b in sorted(by_block):
        path = os.path.join(out_dir, "block-%d.om" % b)
        with open(path, "w") as f:
            for name in sorted(by_block[b]):
                kind = (families or {}).get(name)
                if kind == "gauge":
                    f.write("# TYPE %s gauge\n" % name)
                f.write("".join(by_block[b][name]))
            f.write("# EOF\n")
        files.append(path)
    return files


def backfill(files, data_dir, jobs=2):
    """Runs promtool on each OpenMetrics file, writing blocks into data_dir."""
    os.makedirs(data_dir, exist_ok=True)
    pending = list(files)
    running = []
    while pending or running:
        while pending and len(running) < jobs:
            path = pending.pop(0)
            p = subprocess.Popen(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", path, data_dir],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            running.append((path, p))
        path, p = running.pop(0)
        out, _ = p.communicate()
        if p.returncode != 0:
            for _, q in running:
                q.kill()
            raise RuntimeError("promtool failed on %s: %s" % (path, out.strip()[-2000:]))


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Prometheus:
    """A `prometheus` server on a free loopback port over data_dir.

    Use as a context manager, or call start() and stop(). Its own
    configuration scrapes nothing; retention is 100 years so that old
    backfilled blocks stay. compact=False keeps the 2-hour blocks as they
    are (no background compaction while a benchmark runs).
    """

    def __init__(self, data_dir, compact=True, extra_args=()):
        self.data_dir = data_dir
        self.compact = compact
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.url = None
        self.log_path = os.path.join(data_dir, "prometheus.log")
        self._log = None

    def start(self, timeout=120):
        config = os.path.join(self.data_dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n")
        last_err = None
        for _attempt in range(3):
            self.port = free_port()
            self.url = "http://127.0.0.1:%d" % self.port
            argv = ["prometheus", "--config.file=" + config, "--storage.tsdb.path=" + self.data_dir,
                    "--web.listen-address=127.0.0.1:%d" % self.port, "--storage.tsdb.retention.time=100y",
                    "--log.level=warn"]
            if not self.compact:
                argv += ["--storage.tsdb.min-block-duration=2h", "--storage.tsdb.max-block-duration=2h"]
            argv += self.extra_args
            self._log = open(self.log_path, "a")
            self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as e:
                last_err = e
                self.stop()
        raise last_err

    def _wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited with %d: %s" % (self.proc.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("prometheus not ready after %ds: %s" % (timeout, self.log_tail()))

    def log_tail(self, n=20):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# The small cluster

# Instance types of tests/data/prom/catalog.json, with what kubelet reports
# as allocatable (cores, bytes).
NODE_TYPES = {
    "m5.xlarge": (3.92, 14162 * MIB),
    "m5.large": (1.93, 6903 * MIB),
    "c5.xlarge": (3.92, 6584 * MIB),
}


class Node:
    def __init__(self, name, itype, zone, ct_label, ct_value, start, end, provider):
        self.name, self.itype, self.zone = name, itype, zone
        self.ct_label, self.ct_value = ct_label, ct_value
        self.start, self.end = start, end  # samples at start, start+res, ... < end
        self.provider = provider
        self.cpu, self.mem = NODE_TYPES[itype]


class Container:
    """A container: requests (None for none), and usage as functions of time."""

    def __init__(self, name, cpu_req, mem_req, cpu_rate, mem_use):
        self.name = name
        self.cpu_req, self.mem_req = cpu_req, mem_req
        self.cpu_rate = cpu_rate  # f(hour index) -> cores, constant within each hour
        self.mem_use = mem_use    # f(t) -> bytes


class Pod:
    """A pod: created (pending from created until scheduled), running until
    finished, then (when succeeded) kept by the API server until deleted."""

    def __init__(self, ns, name, owner_kind, owner_name, node, created, scheduled, finished, deleted, containers,
                 labels=None, succeeded=False, creator=None):
        self.ns, self.name = ns, name
        self.owner_kind, self.owner_name = owner_kind, owner_name
        self.creator = creator or (owner_kind, owner_name)
        self.node = node
        self.created, self.scheduled, self.finished, self.deleted = created, scheduled, finished, deleted
        self.containers = containers
        self.labels = labels or {}
        self.succeeded = succeeded
        self.uid = "%08x-0000-4000-8000-%012x" % (zlib.crc32((ns + "/" + name).encode()), len(name))


def cpu_counter(rate_of_hour, start, times):
    """Counter values at times (from start, where it is 0) for a rate that
    is constant within each clock hour."""
    out = []
    acc = 0.0
    prev = start
    for t in times:
        # integrate from prev to t, hour by hour
        x = prev
        while x < t:
            hour_end = (x // 3600 + 1) * 3600
            y = min(t, hour_end)
            acc += rate_of_hour(x // 3600) * (y - x)
            x = y
        prev = t
        out.append(acc)
    return out


def small_cluster(t0, days=3, res=60):
    """The cluster of the integration test: (nodes, pods, end)."""
    D, H, M = 86400, 3600, 60
    end = t0 + days * D
    nodes = [
        Node("node-a", "m5.xlarge", "us-east-1a", "label_karpenter_sh_capacity_type", "on-demand", t0, end + res,
             "aws:///us-east-1a/i-0a0000000000000a1"),
        Node("node-b", "m5.large", "us-east-1b", "label_karpenter_sh_capacity_type", "spot", t0, end + res,
             "aws:///us-east-1b/i-0b0000000000000b2"),
        Node("node-c", "c5.xlarge", "us-east-1c", "label_eks_amazonaws_com_capacityType", "ON_DEMAND",
             t0 + D + 6 * H, t0 + 2 * D + 18 * H, "aws:///us-east-1c/i-0c0000000000000c3"),
    ]

    def web(i):
        return [Container("app", 0.5, 512 * MIB, lambda h, i=i: 0.3 + 0.1 * ((h * 7 + i * 3) % 5),
                          lambda t, i=i: (400 + 50 * ((t // 3600 + i) % 4)) * MIB),
                Container("istio-proxy", 0.1, 128 * MIB, lambda h: 0.02, lambda t: 60 * MIB)]

    rs = "web-6d4cf56db6"
    web_labels = {"app": "web", "pod_template_hash": "6d4cf56db6", "team": "storefront"}
    pods = [
        Pod("shop", rs + "-2xk9p", "ReplicaSet", rs, "node-a", t0, t0, end + res, end + res, web(0), web_labels),
        Pod("shop", rs + "-7bqlm", "ReplicaSet", rs, "node-a", t0, t0, end + res, end + res, web(1), web_labels),
        Pod("shop", rs + "-z8w4r", "ReplicaSet", rs, "node-b", t0, t0, end + res, end + res, web(2), web_labels),
        # a replica added and removed mid-window, at times off the 5-minute grid
        Pod("shop", rs + "-q5r2t", "ReplicaSet", rs, "node-c", t0 + D + 6 * H + 7 * M, t0 + D + 6 * H + 7 * M,
            t0 + D + 20 * H + 33 * M, t0 + D + 20 * H + 33 * M, web(3), web_labels),
        Pod("analytics", "etl-0", "StatefulSet", "etl", "node-a", t0, t0, end + res, end + res,
            [Container("worker", 1.0, 2 * GIB, lambda h: 0.5 + 0.25 * (h % 5),
                       lambda t: int(1.5 * GIB + 0.25 * GIB * ((t // 3600) % 5)))], {"app": "etl"}),
        Pod("analytics", "etl-1", "StatefulSet", "etl", "node-c", t0 + D + 6 * H + 10 * M, t0 + D + 6 * H + 10 * M,
            t0 + 2 * D + 17 * H + 50 * M, t0 + 2 * D + 17 * H + 50 * M,
            [Container("worker", 1.0, 2 * GIB, lambda h: 0.75, lambda t: int(1.75 * GIB))], {"app": "etl"}),
        # BestEffort: no requests, costed by what it uses
        Pod("ci", "runner-0", "StatefulSet", "runner", "node-b", t0, t0, end + res, end + res,
            [Container("runner", None, None, lambda h: 0.1, lambda t: 200 * MIB)], {"app": "runner"}),
        # pending for 12 minutes, then running on node-a for a while
        Pod("ci", "build-7f9c-abc12", "Job", "build-7f9c", "node-a", t0 + 2 * D + 3 * H, t0 + 2 * D + 3 * H + 12 * M,
            t0 + 2 * D + 5 * H, t0 + 2 * D + 5 * H,
            [Container("build", 1.5, 3 * GIB, lambda h: 1.2, lambda t: int(2.8 * GIB))], {"app": "build"}),
    ]
    # A nightly CronJob: 40 minutes of work at 02:00, then the finished pod
    # stays (phase Succeeded, requests still exported) for 30 minutes.
    for d in range(days):
        start = t0 + d * D + 2 * H
        name = "report-%d" % (28950000 + d * 1440)
        pods.append(Pod("analytics", name + "-x%dq7" % d, "Job", name, "node-b", start, start, start + 40 * M,
                        start + 70 * M,
                        [Container("report", 0.25, GIB, lambda h: 0.2, lambda t: 800 * MIB)],
                        {"app": "report"}, succeeded=True))
    return nodes, pods, end


def cluster_series(nodes, pods, t0, end, res=60):
    """Every series of the cluster between t0 and end (inclusive), as a list.

    kube-state-metrics series carry job="kube-state-metrics" and its
    instance; cAdvisor series job="kubelet", metrics_path, the node as
    instance and node, the container's id, image and name, plus the pod's
    own cgroup (container="") and pause container (container="POD"), which
    queries must leave out. Some series come twice, as from a second
    kube-state-metrics replica (requests in "shop" on the second day) or a
    second scrape job (cAdvisor in "analytics"): each container counts once.
    """
    ksm = {"job": "kube-state-metrics", "instance": "10.0.0.5:8080"}
    out = []

    def grid(a, b):
        a = max(a, t0)
        a = t0 + -(-(a - t0) // res) * res
        return range(a, min(b, end + res), res)

    for n in nodes:
        ts = list(grid(n.start, n.end))
        labels = dict(ksm, node=n.name, label_node_kubernetes_io_instance_type=n.itype,
                      label_topology_kubernetes_io_zone=n.zone, label_topology_kubernetes_io_region="us-east-1",
                      label_kubernetes_io_hostname=n.name, label_kubernetes_io_arch="amd64")
        labels[n.ct_label] = n.ct_value
        out.append(Series("kube_node_labels", labels, [(t, 1) for t in ts]))
        out.append(Series("kube_node_info", dict(ksm, node=n.name, provider_id=n.provider,
                                                  kubelet_version="v1.29.3", container_runtime_version="containerd://1.7.11"),
                          [(t, 1) for t in ts]))
        for res_name, unit, v in (("cpu", "core", n.cpu), ("memory", "byte", n.mem), ("pods", "integer", 58)):
            out.append(Series("kube_node_status_allocatable", dict(ksm, node=n.name, resource=res_name, unit=unit),
                              [(t, v) for t in ts]))

    for p in pods:
        life = list(grid(p.created, p.deleted))
        pend = [t for t in life if t < p.scheduled]
        run = [t for t in life if p.scheduled <= t < p.finished]
        after = [t for t in life if t >= p.finished]
        base = dict(ksm, namespace=p.ns, pod=p.name, uid=p.uid)
        ck, cn = p.creator
        for ts, node in ((pend, ""), (run + after, p.node)):
            if ts:
                out.append(Series("kube_pod_info", dict(base, node=node, created_by_kind=ck, created_by_name=cn,
                                                        host_ip="10.0.1.%d" % (len(p.name) % 200),
                                                        pod_ip="10.1.0.%d" % (len(p.ns) + 3), priority_class=""),
                                  [(t, 1) for t in ts]))
        out.append(Series("kube_pod_owner", dict(base, owner_kind=p.owner_kind, owner_name=p.owner_name,
                                                 owner_is_controller="true"), [(t, 1) for t in life]))
        lab = dict(base)
        for k, v in p.labels.items():
            lab["label_" + k] = v
        out.append(Series("kube_pod_labels", lab, [(t, 1) for t in life]))
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            def val(t, phase=phase):
                if t < p.scheduled:
                    return 1 if phase == "Pending" else 0
                if t < p.finished:
                    return 1 if phase == "Running" else 0
                return 1 if phase == ("Succeeded" if p.succeeded else "Running") else 0
            out.append(Series("kube_pod_status_phase", dict(base, phase=phase), [(t, val(t)) for t in life]))
        for c in p.containers:
            for res_name, unit, v in (("cpu", "core", c.cpu_req), ("memory", "byte", c.mem_req)):
                if v is None:
                    continue
                for ts, node in ((pend, ""), (run + after, p.node)):
                    if ts:
                        out.append(Series("kube_pod_container_resource_requests",
                                          dict(base, container=c.name, node=node, resource=res_name, unit=unit),
                                          [(t, v) for t in ts]))
                        if p.ns == "shop":
                            # a second kube-state-metrics replica, scraped on the second day
                            dup = [t for t in ts if t0 + 86400 <= t < t0 + 2 * 86400]
                            if dup:
                                out.append(Series("kube_pod_container_resource_requests",
                                                  dict(base, container=c.name, node=node, resource=res_name,
                                                       unit=unit, instance="10.0.0.6:8080"),
                                                  [(t, v) for t in dup]))
        if run:
            cad = {"job": "kubelet", "metrics_path": "/metrics/cadvisor", "instance": p.node, "node": p.node,
                   "namespace": p.ns, "pod": p.name}
            cgroup = "/kubepods/burstable/pod" + p.uid
            total_cpu = [0.0] * len(run)
            total_mem = [0] * len(run)
            for c in p.containers:
                lab = dict(cad, container=c.name, id=cgroup + "/" + c.name, image="registry.example/" + c.name + ":1",
                           name=c.name + "-" + p.name)
                cpu = cpu_counter(c.cpu_rate, run[0], run)
                mem = [c.mem_use(t) for t in run]
                out.append(Series("container_cpu_usage_seconds_total", dict(lab, cpu="total"), list(zip(run, cpu))))
                out.append(Series("container_memory_working_set_bytes", lab, list(zip(run, mem))))
                if p.ns == "analytics":
                    # the same cAdvisor series from a second scrape job
                    out.append(Series("container_cpu_usage_seconds_total", dict(lab, cpu="total", job="cadvisor"),
                                      list(zip(run, cpu))))
                    out.append(Series("container_memory_working_set_bytes", dict(lab, job="cadvisor"),
                                      list(zip(run, mem))))
                total_cpu = [a + b for a, b in zip(total_cpu, cpu)]
                total_mem = [a + b for a, b in zip(total_mem, mem)]
            pause = dict(cad, container="POD", id=cgroup + "/pause", image="registry.k8s.io/pause:3.9",
                         name="POD-" + p.name)
            out.append(Series("container_cpu_usage_seconds_total", dict(pause, cpu="total"),
                              list(zip(run, cpu_counter(lambda h: 0.001, run[0], run)))))
            out.append(Series("container_memory_working_set_bytes", pause, [(t, 512 * 1024) for t in run]))
            pod_cg = dict(cad, container="", id=cgroup)
            out.append(Series("container_cpu_usage_seconds_total", dict(pod_cg, cpu="total"),
                              list(zip(run, total_cpu))))
            out.append(Series("container_memory_working_set_bytes", pod_cg, list(zip(run, total_mem))))
    return out


FAMILIES = {
    "kube_node_labels": "gauge", "kube_node_info": "gauge", "kube_node_status_allocatable": "gauge",
    "kube_pod_info": "gauge", "kube_pod_owner": "gauge", "kube_pod_labels": "gauge",
    "kube_pod_status_phase": "gauge", "kube_pod_container_resource_requests": "gauge",
    "container_memory_working_set_bytes": "gauge",
}


def build(work_dir, t0, days=3, res=60):
    """Writes and backfills the small cluster under work_dir/tsdb.
    Returns (nodes, pods, end, series, data_dir)."""
    nodes, pods, end = small_cluster(t0, days, res)
    series = cluster_series(nodes, pods, t0, end, res)
    files = write_openmetrics(series, os.path.join(work_dir, "om"), FAMILIES)
    data_dir = os.path.join(work_dir, "tsdb")
    backfill(files, data_dir)
    shutil.rmtree(os.path.join(work_dir, "om"), ignore_errors=True)
    return nodes, pods, end, series, data_dir


def main():
    if not tools_available():
        print("prometheus and promtool are needed (apt-get install prometheus)", file=sys.stderr)
        return 2
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="stv-prom-")
    t0 = 1736121600  # 2025-01-06T00:00:00Z
    _, _, end, _, data_dir = build(work, t0)
    with Prometheus(data_dir) as prom:
        print("prometheus at %s over %s; data from %d to %d; ^C to stop" % (prom.url, data_dir, t0, end))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
