#!/usr/bin/env python3
"""Whole-binary tests of the limits and checked sums that keep small inputs
from asking for unbounded work or overflowing a sum (found by fuzzing):
headroom totals past 64 bits, usage given as a JSON number too large for a
quantity, a pod's usage summed over its containers, too many node pools or
headroom units or virtual pods in a config file, and YAML nested too deep.
Each bad input must exit non-zero, print nothing on stdout and name the
file, the place and the key.

    python3 tests/test_limits.py [build/controller/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

TINY = os.path.join(DATA, "tiny_catalog.json")
FOUR = os.path.join(DATA, "four_pods.json")
EXAMPLE = os.path.join(ROOT, "examples", "snapshot.json")
# A pod of examples/snapshot.json that runs on a node, for usage figures.
USAGE_NS, USAGE_POD = "checkout", "metrics-worker-6q7r4q264-m7pk6"


class Cli(object):
    def __init__(self, binary, tmp):
        self.binary = binary
        self.tmp = tmp

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text if isinstance(text, str) else json.dumps(text))
        return path

    def run(self, args, timeout=120):
        t0 = time.time()
        p = subprocess.run([self.binary] + args, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.time() - t0

    def fails(self, args, *needles):
        rc, out, err, secs = self.run(args)
        assert rc != 0, "expected a failure, got exit 0; stdout: %s" % out[:400]
        assert rc < 128 and rc > 0, "exit %d (a crash?): %s" % (rc, err[-800:])
        assert out == "", "stdout not empty on failure: %s" % out[:400]
        for n in needles:
            assert n in err, "%r not in stderr: %s" % (n, err)
        return err, secs

    def ok(self, args):
        rc, out, err, _ = self.run(args)
        assert rc == 0, "exit %d: %s" % (rc, err[-800:])
        return out, err


def recommend(config, *extra):
    return ["recommend", "--snapshot", FOUR, "--catalog", TINY, "--config", config, "--time-limit", "0"] + list(extra)


def metrics(*containers):
    return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": [
        {"metadata": {"name": USAGE_POD, "namespace": USAGE_NS},
         "containers": [{"name": "c%d" % i, "usage": {"cpu": cpu, "memory": mem}}
                        for i, (cpu, mem) in enumerate(containers)]}]}


def main(argv):
    binary = os.path.abspath(argv[0]) if argv else os.path.join(ROOT, "build", "controller", "stevedore")
    t = Runner()
    tmp = tempfile.mkdtemp(prefix="stv-limits-")
    c = Cli(binary, tmp)

    def should_refuse_headroom_whose_memory_in_all_overflows_64_bits():
        err, _ = c.fails(["recommend", "--snapshot", FOUR, "--catalog", TINY, "--time-limit", "0",
                          "--headroom-count", "2", "--headroom-memory", "9223372036854775807", "-o", "json"],
                         "headroom: 2 virtual pods", "more memory than 64 bits hold")

    def should_refuse_headroom_units_of_a_config_whose_cpu_in_all_overflows():
        cfg = c.write("hr-cpu.yaml", "headroom:\n  manual:\n"
                      "    - {count: 3, cpu: \"4611686018427387\"}\n")
        c.fails(recommend(cfg), "more cpu than 64 bits hold")

    def should_sum_headroom_exactly_when_it_fits():
        out, _ = c.ok(["recommend", "--snapshot", FOUR, "--catalog", TINY, "--time-limit", "0", "-o", "json",
                       "--headroom-count", "3", "--headroom-memory", "3Gi", "--headroom-cpu", "250m"])
        h = json.loads(out)["summary"]["headroom"]
        assert h["pods"] == 3 and h["memory"] == "9Gi" and h["cpu"] == "750m", h

    def report(met):
        return ["report", "--snapshot", EXAMPLE, "--metrics", met, "--rightsize"]

    def should_refuse_usage_given_as_a_json_number_too_large_for_a_quantity():
        for name, number in (("big", "9223372036854775808"), ("huge", "1e30")):
            text = json.dumps(metrics(("1", 0))).replace('"memory": 0', '"memory": ' + number)
            met = c.write("usage-%s.json" % name, text)
            c.fails(report(met), met, "items[0] PodMetrics %s/%s" % (USAGE_NS, USAGE_POD),
                    "containers[0].usage.memory", "too large")

    def should_refuse_usage_too_large_as_a_string_and_as_a_number_alike():
        for v in ("9223372036854775808", 9223372036854775808):
            met = c.write("usage-same.json", metrics(("1", v)))
            c.fails(report(met), "containers[0].usage.memory", "too large")

    def should_accept_usage_given_as_a_json_number_in_range():
        met = c.write("usage-number.json", metrics((0.25, 268435456)))
        out, _ = c.ok(report(met) + ["-o", "json"])
        doc = json.loads(out)
        assert doc["complete"] is True, doc.get("notes")

    def should_refuse_a_pods_usage_whose_sum_over_containers_overflows():
        # Each value fits on its own (in millis); the pod's sum does not.
        met = c.write("usage-sum.json", metrics(("1", "9000000000000000"), ("1", "9000000000000000")))
        c.fails(report(met), "containers[1].usage.memory", "summed over its containers")

    def should_refuse_a_suggestion_too_large_to_repack():
        # 9e15 cores fits a quantity in millis; with the 20 % margin it no longer does.
        met = c.write("usage-cpu.json", metrics(("9000000000000000", "1Gi")))
        c.fails(report(met), "rightsize: Deployment %s/metrics-worker:" % USAGE_NS, "too large to re-pack")

    def pools(n):
        return "nodePools:\n" + "".join("  - name: p%d\n    capacityTypes: [on-demand]\n" % i for i in range(n))

    def should_refuse_more_node_pools_than_the_limit_naming_the_line_and_key():
        cfg = c.write("pools-21.yaml", pools(21))
        # The 21st pool starts on line 2 + 20 x 2.
        c.fails(recommend(cfg), "pools-21.yaml:42:5: nodePools[20]: 21 node pools, more than 20")

    def should_accept_as_many_node_pools_as_the_limit():
        cfg = c.write("pools-20.yaml", pools(20))
        out, _ = c.ok(recommend(cfg, "-o", "json"))
        assert json.loads(out)["summary"]

    def should_refuse_more_headroom_units_than_the_limit():
        cfg = c.write("hr-units.yaml", "headroom:\n  manual:\n" +
                      "".join("    - {count: 1, cpu: %dm}\n" % (100 + i) for i in range(33)))
        c.fails(recommend(cfg), "hr-units.yaml:35:7: headroom.manual[32]: 33 headroom units, more than 32")

    def should_refuse_more_virtual_pods_in_all_than_the_limit():
        cfg = c.write("hr-pods.yaml", "headroom:\n  manual:\n" +
                      "".join("    - {count: 20000, cpu: %dm}\n" % (100 + i) for i in range(3)))
        c.fails(recommend(cfg), "hr-pods.yaml:5:15: headroom.manual[2].count:",
                "60000 virtual pods so far, more than 50000")

    def should_refuse_more_virtual_pods_in_all_from_the_flags():
        c.fails(["recommend", "--snapshot", FOUR, "--catalog", TINY, "--time-limit", "0",
                 "--headroom-count", "50001", "--headroom-cpu", "100m"],
                "headroom: 50001 virtual pods asked for", "more than 50000")

    def should_refuse_yaml_nested_too_deep_within_seconds():
        cfg = c.write("brackets.yaml", "[" * 200000)
        _, secs = c.fails(recommend(cfg), "brackets.yaml:1:33: lists and mappings nested more than 32 deep")
        assert secs < 10, "took %.1f s" % secs

    def should_read_yaml_nested_to_the_limit_to_its_schema_error():
        cfg = c.write("deep-ok.yaml", "spot: " + "[" * 31 + "]" * 31 + "\n")
        err, _ = c.fails(recommend(cfg), "deep-ok.yaml:1:7: spot: expected a mapping")
        assert "nested" not in err, err

    for name, fn in sorted(locals().items()):
        if name.startswith("should_"):
            t.run(name, fn)
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
