#!/usr/bin/env python3
"""The base layer's rules seen from the command line: every JSON and HTML
document Stevedore writes is valid UTF-8 whatever bytes the names in its
input hold (invalid bytes come out as U+FFFD, and a note says how many);
times are read strictly as RFC 3339; durations take the same units
everywhere.

    python3 tests/test_base_cli.py [build/controller/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402
from test_report_cli import CONFIG, catalog, snapshot  # noqa: E402

DATA = os.path.join(HERE, "data")
FOUR = os.path.join(DATA, "four_pods.json")
TINY = os.path.join(DATA, "tiny_catalog.json")
FFFD = "\ufffd"


def run(binary, args):
    p = subprocess.run([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def write_with_bytes(path, obj, swaps):
    """Writes obj as JSON with each placeholder of swaps replaced by raw bytes."""
    text = json.dumps(obj).encode()
    for placeholder, raw in swaps.items():
        assert placeholder.encode() in text, placeholder
        text = text.replace(placeholder.encode(), raw)
    with open(path, "wb") as f:
        f.write(text)
    return path


def strict_json(raw):
    """Decodes bytes as UTF-8 (raising on any invalid byte) and parses the JSON."""
    return json.loads(raw.decode("utf-8", "strict"))


def main(argv):
    binary = os.path.abspath(argv[0]) if argv else os.path.abspath("build/controller/stevedore")
    t = Runner()
    tmp = tempfile.mkdtemp(prefix="stv-base-")

    with open(FOUR) as f:
        four = json.load(f)
    four["items"][0]["metadata"]["name"] = "POD_NAME"
    bad_four = write_with_bytes(os.path.join(tmp, "four-bad.json"), four, {"POD_NAME": b"web-\xff-0"})

    def recommend_json_is_valid_utf8():
        rc, out, err = run(binary, ["recommend", "--snapshot", bad_four, "--catalog", TINY, "-o", "json"])
        assert rc == 0, err
        plan = strict_json(out)
        pods = [p for n in plan["nodes"] for p in n.get("pods", [])] + plan.get("unschedulable", [])
        names = [p if isinstance(p, str) else json.dumps(p) for p in pods]
        assert any("web-" + FFFD + "-0" in n for n in names), names
        assert "1 byte of invalid UTF-8 in names from the snapshot written as U+FFFD" in err, err

    def recommend_quiet_has_no_note():
        rc, out, err = run(binary, ["recommend", "--snapshot", bad_four, "--catalog", TINY, "-o", "json", "-q"])
        assert rc == 0 and "UTF-8" not in err, err
        strict_json(out)

    def recommend_clean_input_has_no_note():
        rc, out, err = run(binary, ["recommend", "--snapshot", FOUR, "--catalog", TINY, "-o", "json"])
        assert rc == 0 and "UTF-8" not in err, err

    cat = os.path.join(tmp, "catalog.json")
    with open(cat, "w") as f:
        json.dump(catalog(), f)
    cfg = os.path.join(tmp, "config.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG)  # the report: section of the YAML configuration
    snap = snapshot()
    for item in snap["items"]:
        if item["kind"] == "Pod" and item["metadata"]["namespace"] == "team-b":
            item["metadata"]["namespace"] = "NS_NAME"
    # An overlong "/" (c0 af), a lone continuation byte and a surrogate (ed a0 80).
    bad_snap = write_with_bytes(os.path.join(tmp, "snap-bad.json"), snap, {"NS_NAME": b"team-\xc0\xaf-\x80-\xed\xa0\x80"})
    base = ["report", "--snapshot", bad_snap, "--catalog", cat, "--config", cfg, "--no-default-prices"]

    def report_json_is_valid_utf8():
        rc, out, err = run(binary, base + ["-o", "json"])
        assert rc == 0, err
        doc = strict_json(out)
        text = json.dumps(doc, ensure_ascii=False)
        assert "team-" + FFFD * 2 + "-" + FFFD + "-" + FFFD * 3 in text, text[:2000]
        # Two namespace pods, each byte counted where it is written.
        assert "of invalid UTF-8 in names written as U+FFFD" in err, err
        assert any("invalid UTF-8" in n for n in doc.get("notes", [])), doc.get("notes")

    def report_html_is_valid_utf8():
        rc, out, err = run(binary, base + ["-o", "html"])
        assert rc == 0, err
        html = out.decode("utf-8", "strict")
        assert "team-" + FFFD * 2 in html

    def report_end_is_strict_rfc3339():
        for bad, why in (("2024-02-31T00:00:00Z", "no such day in that month"),
                         ("2023-02-29T00:00:00Z", "no such day in that month"),
                         ("2024-05-01T00:00:00", "expected Z or an offset"),
                         ("2024-05-01T25:00:00Z", "no such time of day")):
            rc, out, err = run(binary, ["report", "--prometheus", "http://127.0.0.1:9", "--window", "1d",
                                        "--end", bad, "--catalog", cat])
            assert rc == 2, (bad, rc, err)
            assert ("--end: invalid time \"%s\": %s" % (bad, why)) in err, err

    def durations_share_one_grammar():
        rc, out, err = run(binary, ["report", "--prometheus", "http://127.0.0.1:9", "--window", "1d",
                                    "--step", "7x", "--catalog", cat])
        assert rc == 2 and "invalid duration \"7x\": unknown unit \"x\" (use ms, s, m, h, d, w, y)" in err, err
        rc, out, err = run(binary, ["recommend", "--snapshot", FOUR, "--catalog", TINY, "--time-limit", "7x"])
        assert rc == 2 and "invalid duration \"7x\": unknown unit \"x\" (use ms, s, m, h, d, w, y)" in err, err
        rc, out, err = run(binary, ["recommend", "--snapshot", FOUR, "--catalog", TINY, "--time-limit", "0.5m"])
        assert rc == 0, err

    t.run("recommend -o json writes invalid UTF-8 in a pod name as U+FFFD and notes it", recommend_json_is_valid_utf8)
    t.run("recommend -q keeps the UTF-8 note off standard error", recommend_quiet_has_no_note)
    t.run("recommend on clean names says nothing about UTF-8", recommend_clean_input_has_no_note)
    t.run("report -o json writes invalid UTF-8 in a namespace as U+FFFD, notes it in the report",
          report_json_is_valid_utf8)
    t.run("report -o html is valid UTF-8 too", report_html_is_valid_utf8)
    t.run("report --end refuses impossible dates and times", report_end_is_strict_rfc3339)
    t.run("durations take the same units and errors in report and recommend", durations_share_one_grammar)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
