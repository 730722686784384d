#!/usr/bin/env python3
"""scripts/long_functions.py, the finder of C functions over the length limit
(docs/architecture.md, "Size of files and functions"): what it counts as a
function and its length, what it skips, and its exit status.

    python3 tests/test_long_functions.py [build/controller/stevedore]

The binary is not used (run_all.py passes it to every Python test). Prints
"PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on any
failure.
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clitest import Runner  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(HERE), "scripts", "long_functions.py")


def body(n):
    """n statement lines."""
    return "".join("  x += %d;\n" % i for i in range(n))


# long_one: the name on line 9, 1 + 160 + 1 lines. The others are short or not functions.
SOURCE = (
    "#include <stdio.h>\n"                                    # 1
    "#define BRACES \"{{{\" /* { */\n"                         # 2
    "struct s { int a; };\n"                                  # 3
    "static const int table[] = {1, 2, 3};\n"                 # 4
    "/* a comment with a { brace\n"                           # 5
    "   over lines } */\n"                                    # 6
    "static int\n"                                            # 7
    "  /* between */\n"                                       # 8
    "long_one(int x) {\n"                                     # 9
    + body(160) +
    "}\n"
    "int short_one(const char *s) {\n"
    "  const char *t = \"}\";\n"
    "  char c = '{';\n"
    "  return s[0] == c && t[0];\n"
    "}\n"
)


def scan(args, text=SOURCE):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.c")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([sys.executable, SCRIPT] + args + [d], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        return p.returncode, p.stdout.replace(path, "x.c"), p.stderr


def should_report_a_function_over_the_limit_with_its_line_and_length():
    rc, out, err = scan([])
    assert rc == 1, (rc, out, err)
    assert out == "x.c:9 long_one 162\n", out
    assert "1 function(s) over 150 lines" in err, err


def should_pass_when_every_function_is_within_the_limit():
    rc, out, err = scan(["--max", "162"])
    assert rc == 0 and out == "", (rc, out, err)


def should_list_every_function_longest_first_with_all():
    rc, out, _ = scan(["--all", "--max", "1000"])
    assert rc == 0, rc
    assert out == "x.c:9 long_one 162\nx.c:171 short_one 5\n", out


def should_refuse_a_bad_option():
    rc, _, err = scan(["--max", "many"])
    assert rc == 2 and "--max needs a number" in err, (rc, err)


def should_find_no_function_over_the_limit_in_the_project():
    """The rule of docs/architecture.md, kept: no function over about 150 lines."""
    root = os.path.dirname(HERE)
    dirs = [os.path.join(root, d) for d in ("base", "io", "packer", "pricing", "controller", "cloud")]
    p = subprocess.run([sys.executable, SCRIPT] + dirs, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def should_find_no_source_file_over_1500_lines_in_the_project():
    root = os.path.dirname(HERE)
    long_files = []
    for d in ("base", "io", "packer", "pricing", "controller", "cloud"):
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            for n in names:
                if n.endswith((".c", ".h")):
                    path = os.path.join(dirpath, n)
                    with open(path, encoding="utf-8", errors="replace") as f:
                        lines = sum(1 for _ in f)
                    if lines > 1500:
                        long_files.append("%s: %d lines" % (os.path.relpath(path, root), lines))
    assert not long_files, long_files


def main():
    r = Runner()
    for name, fn in sorted(globals().items()):
        if name.startswith("should_"):
            r.run(name, fn)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
