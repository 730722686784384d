"""The small test runner the whole-binary Python tests share: each test is a
function, run by name; it prints "PASS name" or "FAIL name" with the reason
indented below, and keeps the counts for the closing "N passed, N failed"."""

import sys
import traceback


class Runner(object):
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def report(self, name, ok, msg=""):
        if ok:
            self.passed += 1
            print("PASS %s" % name)
        else:
            self.failed += 1
            print("FAIL %s" % name)
            for line in msg.rstrip().splitlines():
                print("    " + line)
        sys.stdout.flush()

    def run(self, name, fn):
        try:
            fn()
        except AssertionError as e:
            self.report(name, False, str(e))
        except Exception:
            self.report(name, False, traceback.format_exc())
        else:
            self.report(name, True)
