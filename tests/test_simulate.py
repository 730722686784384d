#!/usr/bin/env python3
"""Whole-binary tests of `stevedore simulate` (docs/simulate.md).

    python3 tests/test_simulate.py build/controller/stevedore

The built-in run and its time budget, the JSON contract, --compare's four
policies, cost against node-hours and the cost curve, limits that leave
pods pending with a reason, scenario errors that name the file, line and
field, determinism under a seed, the shipped trace scenario, and the HTML
page (rendered in headless chromium when it is installed).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Runner  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "build/controller/stevedore")
TRACE = os.path.join(ROOT, "controller/simulate/scenarios/alibaba-2017-batch.yaml")
FIELDS = ["name", "cost", "node_hours", "pod_wait_p50_s", "pod_wait_p99_s", "unscheduled_pods", "scale_ups",
          "evictions"]
POLICIES = ["stevedore", "static-peak", "karpenter-like", "cluster-autoscaler-like"]
TMP = tempfile.mkdtemp(prefix="stv-simulate-")


def run(*args, timeout=120):
    return subprocess.run([EXE, "simulate"] + list(args), capture_output=True, text=True, timeout=timeout)


def run_json(*args):
    p = run("--output", "json", "--quiet", *args)
    assert p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr)
    return json.loads(p.stdout)


def scenario(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


SMALL = """name: small
duration: 2h
catalog: aws:us-east-1
capacityTypes: [on-demand]
instanceTypes: [m5.large, m5.xlarge]
zones: [us-east-1a]
deployments:
  - name: web
    cpu: 500m
    memory: 1Gi
    replicas:
      - {at: 0s, count: 10}
      - {at: 1h, count: 2}
jobs:
  - name: batch
    cpu: "1"
    memory: 2Gi
    count: 8
    at: 10m
    duration: 20m
"""


def test_builtin_run_takes_under_ten_seconds():
    # The target is for an optimised build; a sanitizer build (run_all.py sets their options) runs the
    # same code several times slower, so it gets a looser bound.
    sanitized = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ
    budget = 60 if sanitized else 10
    t0 = time.monotonic()
    p = run()
    wall = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert wall < budget, "took %.1f s (budget %d s)" % (wall, budget)
    assert "built-in-demo" in p.stdout and "stevedore" in p.stdout, p.stdout
    # The timeline goes to standard error, a line per decision.
    assert " scale_up " in p.stderr and " solve " in p.stderr, p.stderr[:2000]


def test_json_has_the_contract_fields():
    d = run_json()
    assert d["scenario"] == "built-in-demo"
    assert d["duration_s"] == 4 * 3600
    assert [p["name"] for p in d["policies"]] == ["stevedore"]
    for k in FIELDS:
        assert k in d["policies"][0], k
    p = d["policies"][0]
    assert p["cost"] > 0 and p["node_hours"] > 0 and p["scale_ups"] > 0
    assert p["pod_wait_p50_s"] <= p["pod_wait_p99_s"] <= p["pod_wait_max_s"]


def test_compare_runs_four_policies_on_the_same_workload():
    d = run_json("--compare")
    assert [p["name"] for p in d["policies"]] == POLICIES
    pods = {p["pods"] for p in d["policies"]}
    assert len(pods) == 1, pods
    static = d["policies"][1]
    assert static["scale_ups"] == 0 and static["node_hours_by_capacity_type"]["spot"] == 0
    for p in d["policies"]:
        for k in FIELDS:
            assert k in p, (p["name"], k)


def test_cost_matches_node_hours_and_the_cost_curve():
    d = run_json("--compare")
    for p in d["policies"]:
        by_ct = sum(p["cost_by_capacity_type"].values())
        assert abs(by_ct - p["cost"]) < 1e-6 * (1 + p["cost"]), (p["name"], by_ct, p["cost"])
        hours = sum(p["node_hours_by_capacity_type"].values())
        assert abs(hours - p["node_hours"]) < 1e-6 * (1 + hours), (p["name"], hours)
        # The hourly cost sampled each minute, integrated, comes back to the cost.
        s = p["samples"]
        curve = sum(x["cost_per_hour"] * (b["t"] - x["t"]) / 3600 for x, b in zip(s, s[1:]))
        curve += s[-1]["cost_per_hour"] * (d["duration_s"] - s[-1]["t"]) / 3600
        assert abs(curve - p["cost"]) <= 0.05 * p["cost"] + 0.05, (p["name"], curve, p["cost"])
    # The static cluster is priced at one rate for the whole run: cost = rate x hours.
    static = d["policies"][1]
    rate = static["samples"][0]["cost_per_hour"]
    assert abs(static["cost"] - rate * d["duration_s"] / 3600) < 1e-6 * (1 + static["cost"])


def test_a_node_limit_leaves_pods_pending_and_says_why():
    path = scenario("limited.yaml", SMALL + "limits:\n  nodes: 2\n")
    p = run("--scenario", path, "--output", "json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["policies"][0]["unscheduled_pods"] > 0 or d["policies"][0]["pod_wait_max_s"] > 600, d["policies"][0]
    assert "the cluster limit of 2 nodes would be crossed" in p.stderr, p.stderr[-3000:]
    assert max(x["nodes"] for x in d["policies"][0]["samples"]) <= 2


def test_a_budget_caps_the_hourly_cost():
    path = scenario("budget.yaml", SMALL + "limits:\n  costPerHour: 0.3\n")
    d = run_json("--scenario", path)
    assert max(x["cost_per_hour"] for x in d["policies"][0]["samples"]) <= 0.3 + 1e-9


def test_a_bad_field_names_the_file_line_and_field():
    bad = SMALL.replace("duration: 20m", "duration: 20x")
    path = scenario("bad.yaml", bad)
    p = run("--scenario", path)
    assert p.returncode != 0
    line = bad.splitlines().index("    duration: 20x") + 1
    assert "bad.yaml:%d: jobs[0].duration" % line in p.stderr, p.stderr
    assert "unknown unit" in p.stderr, p.stderr


def test_an_unknown_field_is_an_error_not_ignored():
    path = scenario("typo.yaml", SMALL.replace("    count: 8", "    cuont: 8"))
    p = run("--scenario", path)
    assert p.returncode != 0
    assert "typo.yaml:" in p.stderr and 'unknown field "cuont"' in p.stderr, p.stderr


def test_a_missing_scenario_file_is_an_error():
    p = run("--scenario", os.path.join(TMP, "nope.yaml"))
    assert p.returncode != 0 and "nope.yaml" in p.stderr, p.stderr


def test_an_instance_type_not_in_the_catalogue_is_named():
    path = scenario("type.yaml", SMALL.replace("[m5.large, m5.xlarge]", "[m5.large, m9.huge]"))
    p = run("--scenario", path)
    assert p.returncode != 0 and '"m9.huge" is not in catalogue aws:us-east-1' in p.stderr, p.stderr


def strip_wall(d):
    for p in d["policies"]:
        p.pop("wall_s")
        p.pop("max_decision_ms")
    return d


def test_a_seed_repeats_a_run_exactly():
    # The baselines are deterministic; stevedore's optimizer has a wall-time budget, so its plans may
    # differ on a loaded machine (docs/simulate.md): only its workload is compared.
    a = strip_wall(run_json("--seed", "7", "--compare"))
    b = strip_wall(run_json("--seed", "7", "--compare"))
    assert a["policies"][1:] == b["policies"][1:]
    assert a["policies"][0]["pods"] == b["policies"][0]["pods"]
    assert a["seed"] == 7


def test_the_shipped_trace_scenario_runs():
    d = run_json("--scenario", TRACE)
    p = d["policies"][0]
    assert d["scenario"].startswith("alibaba-2017"), d["scenario"]
    assert p["pods"] > 100 and p["scale_ups"] > 0
    assert p["unscheduled_pods"] == 0, p


def test_html_is_one_page_with_both_curves():
    p = run("--compare", "--output", "html", "--quiet")
    assert p.returncode == 0, p.stderr
    html = p.stdout
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 2
    assert html.count("<polyline") == 8  # four policies, two charts
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "<script" not in html
    path = os.path.join(TMP, "simulate.html")
    with open(path, "w") as f:
        f.write(html)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("    (chromium is not installed: the page was not rendered)")
        return
    from test_html_render import decode_png_rgb
    png = os.path.join(TMP, "simulate.png")
    profile = tempfile.mkdtemp(prefix="stv-chromium-")
    env = dict(os.environ, HOME=profile)
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LD_PRELOAD"):
        env.pop(k, None)
    argv = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + profile, "--screenshot=" + png,
            "--window-size=1000,900", "file://" + path]
    try:
        c = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert c.returncode == 0 and os.path.isfile(png), c.stderr[-500:]
    with open(png, "rb") as f:
        _, _, rows = decode_png_rgb(f.read())
    pixels = set()
    for row in rows:
        for i in range(0, len(row), 3):
            pixels.add(tuple(row[i:i + 3]))
    # The stevedore curve's colour (controller/simulate/html.c) is drawn.
    assert (0x35, 0x66, 0xC9) in pixels, "no stevedore curve in the screenshot"


def main():
    r = Runner()
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and callable(fn):
            r.run(name, fn)
    shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
