#!/usr/bin/env python3
"""Runs every test of the suite against one or more build directories and
prints the total as the last line: "N passed, N failed".

    python3 tests/run_all.py build [build-asan ...] [--fuzz build-fuzz]

For each build: every C test program (build/tests/test_*), every Python
whole-binary test (tests/test_*.py, given the build's stevedore), and, for
the first build only, valgrind on the main path. Each program prints
"PASS name" / "FAIL name" lines and its own "N passed, N failed" line.

A build whose directory name holds "tsan" (ThreadSanitizer, scripts/dev
test) runs only C test programs, test_concurrency among them, and not those
in TSAN_SKIP: single-threaded programs whose allocation-failure sweeps take
minutes under ThreadSanitizer and gain nothing from it (the ASan build runs
them). Neither the Python tests nor valgrind run on it.

With --fuzz DIR (a build configured with -Dfuzz=enabled, docs/fuzzing.md),
each libFuzzer target DIR/tests/fuzz/fuzz_* also runs for STV_FUZZ_SECONDS
(default 12) from its seed corpus tests/fuzz/corpus/<target>/; a crash, a
leak, a timeout or a broken property counts as one failed test, and the
input that did it is kept in DIR/fuzz-artifacts/.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"^(\d+) passed, (\d+) failed", re.M)
TSAN_SKIP = {"test_jsonstream", "test_optimize", "test_pack"}


def run(name, argv, env=None, timeout=900):
    t0 = time.time()
    try:
        p = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or "") if isinstance(e.stdout, str) else "", -1
        out += "\ntimed out after %ds" % timeout
    counts = LINE.findall(out)
    if counts:
        passed, failed = int(counts[-1][0]), int(counts[-1][1])
    else:
        passed, failed = (1, 0) if rc == 0 else (0, 1)
    if rc != 0 and failed == 0:
        failed = 1  # a crash after its summary still fails
    status = "ok" if failed == 0 else "FAILED"
    print("%-48s %4d passed %3d failed  %6.1fs  %s" % (name, passed, failed, time.time() - t0, status))
    if failed:
        for line in out.splitlines():
            if line.startswith("FAIL") or "CHECK(" in line or "ERROR" in line or "error" in line.lower():
                print("    " + line[:300])
        tail = out.splitlines()[-15:]
        print("    --- last lines ---")
        for line in tail:
            print("    " + line[:300])
    sys.stdout.flush()
    return passed, failed


def run_fuzz(fdir):
    """Runs every fuzz target of build fdir for a bounded time; returns (passed, failed)."""
    seconds = int(os.environ.get("STV_FUZZ_SECONDS", "12"))
    targets = sorted(t for t in glob.glob(os.path.join(ROOT, fdir, "tests", "fuzz", "fuzz_*"))
                     if os.access(t, os.X_OK) and not t.endswith(".p") and not os.path.isdir(t))
    if not targets:
        print("%-48s %4d passed %3d failed  %6.1fs  %s" % (fdir + ": fuzz targets", 0, 1, 0.0,
                                                          "FAILED (none built: -Dfuzz=enabled?)"))
        return 0, 1
    artifacts = os.path.join(ROOT, fdir, "fuzz-artifacts")
    os.makedirs(artifacts, exist_ok=True)
    total_p = total_f = 0
    for t in targets:
        name = os.path.basename(t)
        seeds = os.path.join(ROOT, "tests", "fuzz", "corpus", name)
        # New inputs go to a scratch directory; the committed corpus is only read.
        scratch = tempfile.mkdtemp(prefix="stv-%s-" % name)
        argv = [t, "-max_total_time=%d" % seconds, "-timeout=20", "-rss_limit_mb=2048",
                "-print_final_stats=1", "-artifact_prefix=%s/%s-" % (artifacts, name), scratch, seeds]
        p, f = run("%s: %s (%ds)" % (fdir, name, seconds), argv, timeout=seconds * 4 + 120)
        shutil.rmtree(scratch, ignore_errors=True)
        total_p += p
        total_f += f
    return total_p, total_f


def main():
    args = sys.argv[1:]
    fuzz_dirs = []
    while "--fuzz" in args:
        i = args.index("--fuzz")
        if i + 1 >= len(args):
            print("usage: run_all.py build [build-asan ...] [--fuzz build-fuzz]", file=sys.stderr)
            return 2
        fuzz_dirs.append(args[i + 1])
        del args[i:i + 2]
    builds = args or ["build"]
    total_p = total_f = 0
    for bi, b in enumerate(builds):
        bdir = os.path.join(ROOT, b)
        exe = os.path.join(bdir, "controller", "stevedore")
        env = dict(os.environ)
        if "asan" in b:
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=86"
            env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=87"
        tsan = "tsan" in b
        if tsan:
            env["TSAN_OPTIONS"] = "halt_on_error=1:exitcode=66:second_deadlock_stack=1"
        for t in sorted(glob.glob(os.path.join(bdir, "tests", "test_*"))):
            if not os.access(t, os.X_OK) or t.endswith((".p", ".py")) or os.path.isdir(t):
                continue
            if tsan and os.path.basename(t) in TSAN_SKIP:
                continue
            p, f = run("%s: %s" % (b, os.path.basename(t)), [t], env=env)
            total_p += p
            total_f += f
        for t in [] if tsan else sorted(glob.glob(os.path.join(ROOT, "tests", "test_*.py"))):
            p, f = run("%s: %s" % (b, os.path.basename(t)), [sys.executable, t, exe], env=env)
            total_p += p
            total_f += f
        if bi == 0 and not tsan and shutil.which("valgrind"):
            p, f = run("%s: valgrind recommend (example)" % b,
                       ["valgrind", "--error-exitcode=3", "--leak-check=full", "--errors-for-leak-kinds=definite",
                        "-q", exe, "recommend", "--snapshot", "examples/snapshot.json", "--output", "json"],
                       env=env)
            total_p += p
            total_f += f
    for fdir in fuzz_dirs:
        p, f = run_fuzz(fdir)
        total_p += p
        total_f += f
    print("%d passed, %d failed" % (total_p, total_f))
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main())
