#!/usr/bin/env python3
"""Runs every test of the suite against one or more build directories and
prints the total as the last line: "N passed, N failed".

    python3 tests/run_all.py [-j N] build [build-asan ...] [--fuzz build-fuzz]

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

With -j N (default: STV_TEST_JOBS, else 3), N tests run at a time (many
sleep on timers, so three keep two cores busy); the longest known ones
start first. Each test's output is kept to itself and its lines are
printed in the order above, whatever order they finish in, so the report
reads as a serial run's; -j 1 is the serial run. The last line is the
total, "N passed, N failed", either way.
"""
import concurrent.futures
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINE = re.compile(r"^(\d+) passed, (\d+) failed", re.M)
TSAN_SKIP = {"test_jsonstream", "test_optimize", "test_pack"}


def run(name, argv, env=None, timeout=900):
    """Runs one test program; returns (passed, failed, report): the report is
    its result line and, when it failed, the lines that say why."""
    t0 = time.time()
    # Output to a file and the test in a process group of its own, killed once the test ends: a
    # helper it leaves behind (a server a failed check did not stop) neither holds a pipe open,
    # which would keep this runner waiting, nor outlives the run.
    with tempfile.TemporaryFile(mode="w+", errors="replace") as log:
        p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            rc = p.wait(timeout)
            late = ""
        except subprocess.TimeoutExpired:
            rc, late = -1, "\ntimed out after %ds" % timeout
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass  # the group is gone: nothing left behind
        p.wait()
        log.seek(0)
        out = log.read() + late
    counts = LINE.findall(out)
    if counts:
        passed, failed = int(counts[-1][0]), int(counts[-1][1])
    else:
        passed, failed = (1, 0) if rc == 0 else (0, 1)
    if rc != 0 and failed == 0:
        failed = 1  # a crash after its summary still fails
    status = "ok" if failed == 0 else "FAILED"
    lines = ["%-48s %4d passed %3d failed  %6.1fs  %s" % (name, passed, failed, time.time() - t0, status)]
    if failed:
        for line in out.splitlines():
            if line.startswith("FAIL") or "CHECK(" in line or "ERROR" in line or "error" in line.lower():
                lines.append("    " + line[:300])
        lines.append("    --- last lines ---")
        lines.extend("    " + line[:300] for line in out.splitlines()[-15:])
    return passed, failed, "\n".join(lines)


# Tests that take longest (seconds of one parallel run of `build` on the loaded
# development machine, docs/testing.md): started first so that the short ones
# fill the gaps. Unknown tests weigh 0; a sanitizer build's weigh double.
WEIGHT = {"test_anytime": 300, "test_kubeclient": 200, "test_jsonstream": 160, "test_optimize": 120,
          "test_anytime.py": 100, "test_sched_priority.py": 100, "test_controller_faults.py": 70, "valgrind": 70,
          "test_controller.py": 60, "test_report_cli.py": 55, "test_simulate.py": 55, "test_kubeconfig": 55,
          "test_controller_e2e.py": 50, "test_kubeapi_emulator.py": 50, "test_sched_volumes.py": 45,
          "test_cache": 45, "test_controller_ops.py": 40, "test_kubeloop": 30, "test_clock": 25,
          "test_concurrency": 25, "test_rbac.py": 25}


class Job(object):
    """One test to run: its place in the report, its weight, and a thunk."""

    def __init__(self, index, weight, fn):
        self.index, self.weight, self.fn = index, weight, fn
        self.result = None


def run_jobs(jobs, nworkers):
    """Runs jobs nworkers at a time, heaviest first, and prints each report
    in index order as soon as it and every one before it are done. Returns
    (passed, failed)."""
    done = threading.Condition()
    total = [0, 0]

    def work(job):
        r = job.fn()
        with done:
            job.result = r
            done.notify()

    order = sorted(jobs, key=lambda j: (-j.weight, j.index))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, nworkers)) as pool:
        futures = [pool.submit(work, j) for j in order]
        for job in jobs:
            with done:
                while job.result is None:
                    done.wait()
            for r in job.result:
                total[0] += r[0]
                total[1] += r[1]
                print(r[2])
                sys.stdout.flush()
        for f in futures:
            f.result()  # re-raises what a worker raised
    return total[0], total[1]


def fuzz_jobs(fdir, first):
    """The jobs running every fuzz target of build fdir for a bounded time,
    numbered from first."""
    seconds = int(os.environ.get("STV_FUZZ_SECONDS", "12"))
    targets = sorted(t for t in glob.glob(os.path.join(ROOT, fdir, "tests", "fuzz", "fuzz_*"))
                     if os.access(t, os.X_OK) and not t.endswith(".p") and not os.path.isdir(t))
    if not targets:
        line = "%-48s %4d passed %3d failed  %6.1fs  %s" % (fdir + ": fuzz targets", 0, 1, 0.0,
                                                           "FAILED (none built: -Dfuzz=enabled?)")
        return [Job(first, 0, lambda: [(0, 1, line)])]
    artifacts = os.path.join(ROOT, fdir, "fuzz-artifacts")
    os.makedirs(artifacts, exist_ok=True)

    def one(t):
        name = os.path.basename(t)
        seeds = os.path.join(ROOT, "tests", "fuzz", "corpus", name)
        # New inputs go to a scratch directory; the committed corpus is only read.
        scratch = tempfile.mkdtemp(prefix="stv-%s-" % name)
        argv = [t, "-max_total_time=%d" % seconds, "-timeout=20", "-rss_limit_mb=2048",
                "-print_final_stats=1", "-artifact_prefix=%s/%s-" % (artifacts, name), scratch, seeds]
        try:
            return [run("%s: %s (%ds)" % (fdir, name, seconds), argv, timeout=seconds * 4 + 120)]
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return [Job(first + i, seconds, (lambda t=t: one(t))) for i, t in enumerate(targets)]


def build_jobs(bi, b, first):
    """The jobs of build directory b (the bi-th given), numbered from first."""
    bdir = os.path.join(ROOT, b)
    exe = os.path.join(bdir, "controller", "stevedore")
    env = dict(os.environ)
    if "asan" in b:
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=86"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=87"
    tsan = "tsan" in b
    if tsan:
        env["TSAN_OPTIONS"] = "halt_on_error=1:exitcode=66:second_deadlock_stack=1"
    todo = []
    for t in sorted(glob.glob(os.path.join(bdir, "tests", "test_*"))):
        if not os.access(t, os.X_OK) or t.endswith((".p", ".py")) or os.path.isdir(t):
            continue
        if tsan and os.path.basename(t) in TSAN_SKIP:
            continue
        todo.append(("%s: %s" % (b, os.path.basename(t)), os.path.basename(t), [t]))
    for t in [] if tsan else sorted(glob.glob(os.path.join(ROOT, "tests", "test_*.py"))):
        todo.append(("%s: %s" % (b, os.path.basename(t)), os.path.basename(t), [sys.executable, t, exe]))
    if bi == 0 and not tsan and shutil.which("valgrind"):
        todo.append(("%s: valgrind recommend (example)" % b, "valgrind",
                     ["valgrind", "--error-exitcode=3", "--leak-check=full", "--errors-for-leak-kinds=definite",
                      "-q", exe, "recommend", "--snapshot", "examples/snapshot.json", "--output", "json"]))
    # A sanitizer build runs each test several times slower: its tests weigh more.
    scale = 1 if "asan" not in b and not tsan else 2
    return [Job(first + i, WEIGHT.get(base, 0) * scale, (lambda name=name, argv=argv: [run(name, argv, env=env)]))
            for i, (name, base, argv) in enumerate(todo)]


def usage():
    print("usage: run_all.py [-j N] build [build-asan ...] [--fuzz build-fuzz]", file=sys.stderr)
    return 2


def main():
    args = sys.argv[1:]
    fuzz_dirs = []
    nworkers = int(os.environ.get("STV_TEST_JOBS", "3") or "3")
    while "--fuzz" in args:
        i = args.index("--fuzz")
        if i + 1 >= len(args):
            return usage()
        fuzz_dirs.append(args[i + 1])
        del args[i:i + 2]
    while "-j" in args:
        i = args.index("-j")
        if i + 1 >= len(args) or not args[i + 1].isdigit() or int(args[i + 1]) < 1:
            return usage()
        nworkers = int(args[i + 1])
        del args[i:i + 2]
    builds = args or ["build"]
    jobs = []
    for bi, b in enumerate(builds):
        jobs += build_jobs(bi, b, len(jobs))
    for fdir in fuzz_dirs:
        jobs += fuzz_jobs(fdir, len(jobs))
    total_p, total_f = run_jobs(jobs, nworkers)
    print("%d passed, %d failed" % (total_p, total_f))
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main())
