#!/usr/bin/env python3
"""The metrics endpoint (io/serve.c, base/metrics.c) checked by the real
Prometheus tools: tests/metrics_demo serves the controller's metric
families on a free loopback port; `promtool check metrics` lints the
exposition, and a real `prometheus` scrapes it and answers queries over
what it scraped (label values with quotes, backslashes, a newline and
UTF-8 among them).

    python3 tests/test_metrics_endpoint.py build/tests/metrics_demo
    python3 tests/test_metrics_endpoint.py build/controller/stevedore

(given stevedore, as tests/run_all.py does, it takes the metrics_demo of
the same build directory).

Prints "PASS name" / "FAIL name" per test and "N passed, N failed".
Without promtool and prometheus those tests print SKIP (apt-get install
prometheus; scripts/dev test installs it)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prom_fixture as fx  # noqa: E402
from clitest import Runner  # noqa: E402

DEMO = None


class Demo:
    """metrics_demo on 127.0.0.1:0, driven through its stdin."""

    def __enter__(self):
        self.proc = subprocess.Popen([DEMO, "127.0.0.1:0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            raise AssertionError("metrics_demo did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "ok\n"

    def get(self, path):
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode("utf-8")

    def __exit__(self, *exc):
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=20)
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert rc == 0, "metrics_demo exited %d" % rc


def should_serve_health_readiness_and_404():
    with Demo() as d:
        assert d.get("/healthz")[0] == 200
        status, _, body = d.get("/readyz")
        assert status == 503 and "not ready" in body, (status, body)
        d.send("ready")
        assert d.get("/readyz")[0] == 200
        status, _, body = d.get("/metrics/extra")
        assert status == 404, status


def should_serve_the_text_format_with_its_content_type():
    with Demo() as d:
        status, ctype, body = d.get("/metrics")
        assert status == 200, status
        assert ctype == "text/plain; version=0.0.4; charset=utf-8", ctype
        assert "# TYPE stevedore_nodes gauge\n" in body, body
        assert 'stevedore_nodes{pool="gpu \\"a\\\\b\\"\\nz caf\u00e9",capacity_type="reserved"} 1\n' in body, body
        d.send("tick")
        d.send("tick")
        body = d.get("/metrics")[2]
        assert 'stevedore_cloud_calls_total{provider="sim",operation="set_desired",code="ok"} 2\n' in body, body
        assert "stevedore_decision_duration_seconds_count 2\n" in body, body


def should_pass_promtool_check_metrics():
    with Demo() as d:
        d.send("tick")
        body = d.get("/metrics")[2]
    p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "promtool check metrics: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)


def query(prom_url, expr):
    url = prom_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def should_be_scraped_by_a_real_prometheus():
    work = tempfile.mkdtemp(prefix="stv-metrics-test-")
    proc = None
    try:
        with Demo() as d:
            d.send("tick")
            port = fx.free_port()
            config = os.path.join(work, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: stevedore\n"
                        "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % d.port)
            log = open(os.path.join(work, "prometheus.log"), "w")
            proc = subprocess.Popen(["prometheus", "--config.file=" + config,
                                     "--storage.tsdb.path=" + os.path.join(work, "data"),
                                     "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
                                    stdout=log, stderr=subprocess.STDOUT)
            prom = "http://127.0.0.1:%d" % port
            deadline = time.time() + 90
            nodes = []
            while time.time() < deadline:
                assert proc.poll() is None, "prometheus exited %d" % proc.returncode
                try:
                    up = query(prom, 'up{job="stevedore"}')
                    nodes = query(prom, 'stevedore_nodes{capacity_type="reserved"}')
                    if up and up[0]["value"][1] == "1" and nodes:
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.5)
            assert nodes, "prometheus never scraped stevedore_nodes; log:\n" + open(log.name).read()
            assert nodes[0]["metric"]["pool"] == 'gpu "a\\b"\nz caf\u00e9', nodes[0]["metric"]
            cost = query(prom, 'sum(stevedore_hourly_cost{pool="default"})')
            assert abs(float(cost[0]["value"][1]) - 0.744) < 1e-9, cost
            p99 = query(prom, "histogram_quantile(0.99, stevedore_decision_duration_seconds_bucket)")
            assert 0.01 < float(p99[0]["value"][1]) <= 0.05, p99
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def main():
    global DEMO
    if len(sys.argv) != 2:
        print("usage: test_metrics_endpoint.py METRICS_DEMO|STEVEDORE", file=sys.stderr)
        return 2
    DEMO = os.path.abspath(sys.argv[1])
    if os.path.basename(DEMO) != "metrics_demo":
        DEMO = os.path.join(os.path.dirname(os.path.dirname(DEMO)), "tests", "metrics_demo")
    if not os.access(DEMO, os.X_OK):
        print("FAIL setup: %s is not built (ninja -C BUILD tests/metrics_demo)" % DEMO)
        print("0 passed, 1 failed")
        return 1
    r = Runner()
    r.run("should_serve_health_readiness_and_404", should_serve_health_readiness_and_404)
    r.run("should_serve_the_text_format_with_its_content_type", should_serve_the_text_format_with_its_content_type)
    if shutil.which("promtool") is None or shutil.which("prometheus") is None:
        print("SKIP promtool and prometheus tests: not installed (apt-get install prometheus; scripts/dev test "
              "installs it)")
    else:
        r.run("should_pass_promtool_check_metrics", should_pass_promtool_check_metrics)
        r.run("should_be_scraped_by_a_real_prometheus", should_be_scraped_by_a_real_prometheus)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
