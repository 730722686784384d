#!/usr/bin/env python3
"""`stevedore report --prometheus` against a real Prometheus.

    python3 tests/test_prom_integration.py build/controller/stevedore

Backfills three days of a small known cluster (tests/prom_fixture.py: three
nodes, one of which comes and goes; pods in three namespaces that start,
stop, wait pending, finish and linger) into a Prometheus started on a free
loopback port, runs `stevedore report --prometheus ... --window 3d --step
5m --output json` over it, and checks the figures against a computation by
hand from the same samples: Prometheus' evaluation (lookback, rate with its
extrapolation, sum by) and the cost model of pricing/report.h, written out
again here independently. Then the failures: an unreachable server, a
window without data, a Prometheus error passed through, a server too slow
for --timeout, and a window only partly covered by data.

Prints "PASS name" / "FAIL name" per test and ends with "N passed, N
failed". Without prometheus and promtool installed it prints a SKIP line and
"0 passed, 0 failed" and exits 0 (scripts/dev installs them for CI).
"""
import bisect
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import prom_fixture as fx  # noqa: E402

T0 = 1736121600  # 2025-01-06T00:00:00Z
STEP = 300
LOOKBACK = 300  # Prometheus' default lookback delta
CATALOG = os.path.join(HERE, "data", "prom", "catalog.json")
RATIO_CPU, RATIO_RAM = 0.031611, 0.004237  # pricing/report.h STV_RATIO_*
GIB = 1024.0 ** 3

results = []


def test(fn):
    results.append(fn)
    return fn


# ---------------------------------------------------------------------------
# Prometheus 2.x evaluation, written out from its documented semantics

class Samples:
    def __init__(self, series):
        self.s = series
        self.ts = [t for t, _ in series.samples]
        self.vs = [v for _, v in series.samples]

    def instant(self, t):
        """The latest sample in [t - lookback, t] (both ends included in 2.x)."""
        i = bisect.bisect_right(self.ts, t) - 1
        if i >= 0 and self.ts[i] >= t - LOOKBACK:
            return self.vs[i]
        return None

    def rate(self, t, rng):
        """rate(x[rng]) at t: promql/functions.go extrapolatedRate (2.x)."""
        lo = bisect.bisect_left(self.ts, t - rng)
        hi = bisect.bisect_right(self.ts, t)
        pts = list(zip(self.ts[lo:hi], self.vs[lo:hi]))
        if len(pts) < 2:
            return None
        result = pts[-1][1] - pts[0][1]
        prev = pts[0][1]
        for _, v in pts[1:]:
            if v < prev:
                result += prev
            prev = v
        to_start = float(pts[0][0] - (t - rng))
        to_end = float(t - pts[-1][0])
        sampled = float(pts[-1][0] - pts[0][0])
        avg = sampled / (len(pts) - 1)
        if result > 0 and pts[0][1] >= 0:
            to_zero = sampled * (pts[0][1] / result)
            if to_zero < to_start:
                to_start = to_zero
        threshold = avg * 1.1
        interval = sampled
        interval += to_start if to_start < threshold else avg / 2
        interval += to_end if to_end < threshold else avg / 2
        return result * (interval / sampled) / rng


def hand_report(series, start, end, catalog):
    """What the report should say, from the samples: per namespace cost and
    core-hours, node cost, pod-step counts."""
    by = {}
    for s in series:
        by.setdefault(s.name, []).append(Samples(s))
    prices = {}
    for it in catalog["instance_types"]:
        for o in it["offerings"]:
            prices[(it["name"], o["capacity_type"], o["zone"])] = o["price"]

    def pods_of(name):
        out = {}
        for x in by.get(name, []):
            out.setdefault((x.s.labels["namespace"], x.s.labels["pod"]), []).append(x)
        return out

    req_by_pod = pods_of("kube_pod_container_resource_requests")
    phase_by_pod = pods_of("kube_pod_status_phase")
    cpu_by_pod = pods_of("container_cpu_usage_seconds_total")
    mem_by_pod = pods_of("container_memory_working_set_bytes")
    info_node = {}
    for x in by["kube_pod_info"]:
        if x.s.labels.get("node"):
            info_node[(x.s.labels["namespace"], x.s.labels["pod"])] = x.s.labels["node"]
    node_labels = {x.s.labels["node"]: x.s.labels for x in by["kube_node_labels"]}
    alloc = {}
    for x in by["kube_node_status_allocatable"]:
        alloc.setdefault(x.s.labels["node"], {})[x.s.labels["resource"]] = x
    pods = set(req_by_pod) | set(cpu_by_pod) | set(mem_by_pod)

    h = STEP / 3600.0
    rng = max(STEP, LOOKBACK)
    ns_cost, ns_cpu_use, ns_cpu_req = {}, {}, {}
    node_cost = 0.0
    costed = pending = 0
    steps_with_data = 0
    for t in range(start + STEP, end + 1, STEP):
        # nodes present: allocatable visible
        nodes = {}
        for n, res in alloc.items():
            cpu = res["cpu"].instant(t) if "cpu" in res else None
            mem = res["memory"].instant(t) if "memory" in res else None
            if cpu is None and mem is None:
                continue
            lab = node_labels[n]
            ct = lab.get("label_karpenter_sh_capacity_type") or \
                {"ON_DEMAND": "on-demand", "SPOT": "spot"}[lab["label_eks_amazonaws_com_capacityType"]]
            price = prices[(lab["label_node_kubernetes_io_instance_type"], ct, lab["label_topology_kubernetes_io_zone"])]
            cores, ram = cpu or 0.0, mem or 0.0
            wc, wr = cores * RATIO_CPU, ram / GIB * RATIO_RAM
            nodes[n] = {"price": price, "cores": cores, "ram": ram,
                        "cpu_part": price * wc / (wc + wr), "ram_part": price - price * wc / (wc + wr),
                        "a_cpu": 0.0, "a_ram": 0.0, "pods": []}
        step_pods = []
        for key in sorted(pods):
            # requests: sum by (namespace, pod, node, resource) ... unless the pod finished
            finished = any(x.instant(t) == 1 for x in phase_by_pod.get(key, [])
                           if x.s.labels["phase"] in ("Succeeded", "Failed"))
            groups = {}
            seen = set()  # each container once, whichever scrape reported it
            if not finished:
                for x in req_by_pod.get(key, []):
                    v = x.instant(t)
                    ckey = (x.s.labels.get("node", ""), x.s.labels["resource"], x.s.labels["container"])
                    if v is not None and ckey not in seen:
                        seen.add(ckey)
                        g = groups.setdefault(x.s.labels.get("node", ""), {})
                        g[x.s.labels["resource"]] = g.get(x.s.labels["resource"], 0.0) + v
            req = {}
            node = None
            named = sorted(n for n in groups if n)
            for res in ("cpu", "memory"):
                for n in named + ([""] if "" in groups else []):
                    if res in groups[n]:
                        req[res] = groups[n][res]
                        if n and node is None:
                            node = n
                        break
            have_pending = "" in groups and node is None
            rates = {}
            for x in cpu_by_pod.get(key, []):
                r = x.rate(t, rng) if x.s.labels["container"] not in ("", "POD") else None
                if r is not None:
                    rates.setdefault(x.s.labels["container"], r)
            cpu_use = sum(rates.values()) if rates else None
            mems = {}
            for x in mem_by_pod.get(key, []):
                m = x.instant(t) if x.s.labels["container"] not in ("", "POD") else None
                if m is not None:
                    mems.setdefault(x.s.labels["container"], m)
            mem_use = sum(mems.values()) if mems else None
            if not req and not groups and cpu_use is None and mem_use is None:
                continue
            step_pods.append(key)
            if have_pending:
                pending += 1
                continue
            if node is None:
                node = info_node.get(key)
            if node not in nodes:
                continue
            cpu_req, ram_req = req.get("cpu", 0.0), req.get("memory", 0.0)
            cpu_a = cpu_use if cpu_use is not None and cpu_use > cpu_req else cpu_req
            ram_a = mem_use if mem_use is not None and mem_use > ram_req else ram_req
            nd = nodes[node]
            nd["a_cpu"] += cpu_a
            nd["a_ram"] += ram_a
            nd["pods"].append((key, cpu_a, ram_a, cpu_req, cpu_use))
        if nodes or step_pods:
            steps_with_data += 1
        for nd in nodes.values():
            node_cost += nd["price"] * h
            s_cpu = nd["cores"] / nd["a_cpu"] if nd["a_cpu"] > nd["cores"] else 1.0
            s_ram = nd["ram"] / nd["a_ram"] if nd["a_ram"] > nd["ram"] else 1.0
            for key, cpu_a, ram_a, cpu_req, cpu_use in nd["pods"]:
                cost = cpu_a * s_cpu * nd["cpu_part"] / nd["cores"] * h + ram_a * s_ram * nd["ram_part"] / nd["ram"] * h
                ns = key[0]
                ns_cost[ns] = ns_cost.get(ns, 0.0) + cost
                ns_cpu_req[ns] = ns_cpu_req.get(ns, 0.0) + cpu_req * h
                if cpu_use is not None:
                    ns_cpu_use[ns] = ns_cpu_use.get(ns, 0.0) + cpu_use * h
                costed += 1
    return {"ns_cost": ns_cost, "ns_cpu_use": ns_cpu_use, "ns_cpu_req": ns_cpu_req, "node_cost": node_cost,
            "costed": costed, "pending": pending, "steps_with_data": steps_with_data}


# ---------------------------------------------------------------------------
# Running stevedore

EXE = None
PROM = None
SERIES = None
END = None
HAND = None
REPORT = None


def run(*args, timeout=120):
    p = subprocess.run([EXE, "report"] + list(args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def report_args(url, end, window="3d", step="5m", *extra):
    return ["--prometheus", url, "--window", window, "--step", step, "--end", str(end), "--catalog", CATALOG,
            "--output", "json"] + list(extra)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main_report():
    global REPORT
    if REPORT is None:
        rc, out, err = run(*report_args(PROM.url, END))
        check(rc == 0, "exit %d: %s" % (rc, err))
        REPORT = json.loads(out)
    return REPORT


@test
def should_cost_each_namespace_as_the_hand_computation_does_to_the_cent():
    rep = main_report()
    rows = {r["group"]: r for r in rep["rows"]}
    check(set(rows) == set(HAND["ns_cost"]), "groups %s, expected %s" % (sorted(rows), sorted(HAND["ns_cost"])))
    for ns, want in sorted(HAND["ns_cost"].items()):
        got = rows[ns]["total_cost"]
        check(abs(got - want) <= 0.0100001, "%s: report %.2f, by hand %.4f" % (ns, got, want))
    # the namespaces differ enough that a mix-up would show
    check(len({round(v, 2) for v in HAND["ns_cost"].values()}) == 3, "namespace costs not distinct")


@test
def should_pass_requests_and_usage_through_as_prometheus_evaluates_them():
    rows = {r["group"]: r for r in main_report()["rows"]}
    for ns in HAND["ns_cost"]:
        want_use, got_use = HAND["ns_cpu_use"].get(ns, 0.0), rows[ns]["cpu_usage_core_hours"]
        want_req, got_req = HAND["ns_cpu_req"].get(ns, 0.0), rows[ns]["cpu_request_core_hours"]
        check(abs(got_use - want_use) <= 1e-6 * max(1.0, want_use),
              "%s: cpu usage %.9g core-hours, by hand %.9g" % (ns, got_use, want_use))
        check(abs(got_req - want_req) <= 1e-6 * max(1.0, want_req),
              "%s: cpu requests %.9g core-hours, by hand %.9g" % (ns, got_req, want_req))
    # the BestEffort runner is costed by its usage: ci uses more than it requests
    check(rows["ci"]["cpu_usage_core_hours"] > rows["ci"]["cpu_request_core_hours"], "ci usage not counted")


@test
def should_price_every_node_step_including_the_node_that_came_and_went():
    rep = main_report()
    got = rep["totals"]["node_cost"]
    check(abs(got - HAND["node_cost"]) <= 0.0100001, "node cost %.2f, by hand %.4f" % (got, HAND["node_cost"]))
    # node-c lived 36 hours of the 72: without it the figure would be lower
    check(rep["totals"]["node_hours"] > 144 + 35, "node hours %s" % rep["totals"]["node_hours"])
    check(rep["unpriced_nodes"] == [], "unpriced nodes: %s" % rep["unpriced_nodes"])


@test
def should_count_pending_pods_without_costing_them():
    t = main_report()["totals"]
    check(t["pods_pending"] == HAND["pending"] and HAND["pending"] > 0,
          "pending pod-steps %d, by hand %d" % (t["pods_pending"], HAND["pending"]))
    check(t["pods_costed"] == HAND["costed"], "costed pod-steps %d, by hand %d" % (t["pods_costed"], HAND["costed"]))
    check(t["pods_on_missing_nodes"] == 0, "pods on missing nodes: %d" % t["pods_on_missing_nodes"])


@test
def should_mark_a_fully_covered_window_complete():
    rep = main_report()
    check(rep["complete"] is True, "complete is %s; notes %s" % (rep["complete"], rep["notes"]))
    check(rep["window"]["steps"] == 864 and rep["window"]["hours"] == 72, "window %s" % rep["window"])
    check(rep["window"]["start"] == "2025-01-06T00:00:00Z" and rep["window"]["end"] == "2025-01-09T00:00:00Z",
          "window %s" % rep["window"])


@test
def should_mark_a_window_partly_without_data_incomplete_and_say_so():
    rc, out, err = run(*report_args(PROM.url, END + 86400))
    check(rc == 0, "exit %d: %s" % (rc, err))
    rep = json.loads(out)
    check(rep["complete"] is False, "complete is %s" % rep["complete"])
    notes = " ".join(rep["notes"])
    check("287 of 864 steps" in notes and "had no data" in notes and "to 2025-01-09T00:05Z" in notes,
          "notes: %s" % notes)
    check("incomplete" in err, "stderr: %s" % err)


@test
def should_fail_clearly_when_prometheus_is_unreachable():
    port = fx.free_port()  # nothing listens there
    url = "http://127.0.0.1:%d" % port
    rc, out, err = run(*report_args(url, END))
    check(rc != 0, "exit 0")
    check(out == "", "stdout not empty: %r" % out[:200])
    check("prometheus %s: cannot connect: Connection refused" % url in err, "stderr: %s" % err)


@test
def should_fail_clearly_for_a_window_without_data():
    end = T0 - 30 * 86400
    rc, out, err = run(*report_args(PROM.url, end))
    check(rc != 0, "exit 0")
    check(out == "", "stdout not empty: %r" % out[:200])
    check("no data for kube_pod_container_resource_requests between 2024-12-04T00:00Z and 2024-12-07T00:00Z" in err,
          "stderr: %s" % err)


class FakeHandler(http.server.BaseHTTPRequestHandler):
    """Answers the label-values request like Prometheus, /api/v1/series with
    no series, and every query with the server's `answer` (status, body)
    after `delay` seconds."""

    def log_message(self, *args):
        pass

    def _reply(self, status, body):
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass

    def do_GET(self):
        if self.path.startswith("/api/v1/label/__name__/values"):
            names = ["kube_pod_container_resource_requests", "kube_node_status_allocatable", "kube_pod_info",
                     "container_cpu_usage_seconds_total"]
            self._reply(200, json.dumps({"status": "success", "data": names}))
        else:
            self._reply(404, "404 page not found\n")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        time.sleep(self.server.delay)
        if self.path.startswith("/api/v1/series"):
            self._reply(200, '{"status":"success","data":[]}')
        else:
            self._reply(*self.server.answer)


class FakeServer:
    def __init__(self, answer, delay=0.0):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHandler)
        self.httpd.daemon_threads = True
        self.httpd.answer = answer
        self.httpd.delay = delay
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@test
def should_pass_a_prometheus_error_through():
    # A real error answer, recorded from the Prometheus under test.
    data = urllib.parse.urlencode({"query": "sum by (namespace (kube_pod_info", "start": str(T0),
                                   "end": str(T0 + 3600), "step": "300"}).encode()
    try:
        urllib.request.urlopen(PROM.url + "/api/v1/query_range", data=data, timeout=30)
        raise AssertionError("Prometheus accepted a malformed query")
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    doc = json.loads(body)
    check(status == 400 and doc["errorType"] == "bad_data", "recorded %d %s" % (status, body))
    with FakeServer((status, body)) as fake:
        rc, out, err = run(*report_args(fake.url, END))
    check(rc != 0, "exit 0")
    check(out == "", "stdout not empty")
    check("prometheus: query " in err and ": bad_data: " + doc["error"] in err, "stderr: %s" % err)


@test
def should_say_what_a_non_prometheus_answer_was():
    with FakeServer((502, "<html><body><h1>502 Bad Gateway</h1></body></html>")) as fake:
        rc, out, err = run(*report_args(fake.url, END))
    check(rc != 0 and out == "", "exit %d" % rc)
    check("HTTP 502: <html><body><h1>502 Bad Gateway</h1></body></html>" in err, "stderr: %s" % err)


@test
def should_time_out_clearly_on_a_slow_server():
    with FakeServer((200, '{"status":"success","data":{"resultType":"matrix","result":[]}}'), delay=5) as fake:
        t = time.time()
        rc, out, err = run(*(report_args(fake.url, END) + ["--timeout", "1"]))
        took = time.time() - t
    check(rc != 0 and out == "", "exit %d" % rc)
    check("timed out" in err and "within 1 s" in err, "stderr: %s" % err)
    check(took < 4.5, "took %.1f s" % took)


@test
def should_reject_a_malformed_answer():
    with FakeServer((200, '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},'
                          '"values":[[1736121900,"0.5"]}]}}')) as fake:
        rc, out, err = run(*report_args(fake.url, END))
    check(rc != 0 and out == "", "exit %d" % rc)
    check("malformed answer: data.result[0]" in err, "stderr: %s" % err)


def main():
    global EXE, PROM, SERIES, END, HAND
    if len(sys.argv) < 2:
        print("usage: test_prom_integration.py STEVEDORE", file=sys.stderr)
        return 2
    EXE = os.path.abspath(sys.argv[1])
    if not fx.tools_available():
        print("SKIP test_prom_integration: prometheus and promtool are not installed "
              "(apt-get install prometheus; scripts/dev test installs it)")
        print("0 passed, 0 failed")
        return 0
    work = tempfile.mkdtemp(prefix="stv-prom-test-")
    passed = failed = 0
    try:
        nodes, pods, END, SERIES, data_dir = fx.build(work, T0)
        with open(CATALOG) as f:
            catalog = json.load(f)
        HAND = hand_report(SERIES, END - 3 * 86400, END, catalog)
        with fx.Prometheus(data_dir) as prom:
            PROM = prom
            for fn in results:
                try:
                    fn()
                    print("PASS %s" % fn.__name__)
                    passed += 1
                except Exception as e:  # a failed check or a crash: this test fails
                    print("FAIL %s: %s" % (fn.__name__, e))
                    failed += 1
                sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
