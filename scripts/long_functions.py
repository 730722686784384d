#!/usr/bin/env python3
"""Lists C functions longer than a limit (issue 9: none over about 150 lines).

Usage: scripts/long_functions.py [--max N] [--all] FILE_OR_DIR...

Prints one line per function over the limit, "file:line name length", where
line is the line of the function's name and length counts the lines from
there to the closing brace. Directories are searched for *.c files. Exits 1
when any function is over the limit, 2 on a usage error, 0 otherwise. With
--all it prints every function (longest first) and still exits by the limit.

The scan is textual: it strips comments, string and character literals and
preprocessor lines, then takes each top-level brace block whose header ends
in a parameter list as a function. That is enough for this project's C,
which the .clang-format keeps regular; it is not a C parser.
"""

import os
import re
import sys

IDENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\($")


def strip(text):
    """Blanks comments, literals and preprocessor lines, keeping newlines."""
    out = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == "#":
            # A directive, with its backslash continuations.
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
            continue
        if c == "/" and text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
            continue
        out.append(c)
        if c == "\n":
            line_start = True
        elif not c.isspace():
            line_start = False
        i += 1
    return "".join(out)


def functions(path):
    """Yields (line, name, length) for each function defined in path."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = strip(f.read())
    depth = 0
    header_start = 0  # offset where the current top-level header begins
    start = None
    for i, c in enumerate(text):
        if c == "{":
            if depth == 0:
                start = None
                header = text[header_start:i].rstrip()
                # A definition's header ends with its parameter list.
                if header.endswith(")") and "=" not in header:
                    depth_p, j = 0, len(header) - 1
                    while j >= 0:
                        if header[j] == ")":
                            depth_p += 1
                        elif header[j] == "(":
                            depth_p -= 1
                            if depth_p == 0:
                                break
                        j -= 1
                    m = IDENT.search(header[: j + 1])
                    if m:
                        pos = header_start + m.start(1)
                        start = (text.count("\n", 0, pos) + 1, m.group(1))
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if start:
                    end_line = text.count("\n", 0, i) + 1
                    yield start[0], start[1], end_line - start[0] + 1
                start = None
                header_start = i + 1
        elif c == ";" and depth == 0:
            header_start = i + 1


def c_files(args):
    for arg in args:
        if os.path.isdir(arg):
            for root, _, names in sorted(os.walk(arg)):
                for name in sorted(names):
                    if name.endswith(".c"):
                        yield os.path.join(root, name)
        else:
            yield arg


def main(argv):
    limit, show_all, paths = 150, False, []
    args = iter(argv)
    for a in args:
        if a == "--max":
            try:
                limit = int(next(args))
            except (StopIteration, ValueError):
                print("long_functions.py: --max needs a number", file=sys.stderr)
                return 2
        elif a == "--all":
            show_all = True
        elif a.startswith("-"):
            print(f"long_functions.py: unknown option {a}", file=sys.stderr)
            return 2
        else:
            paths.append(a)
    if not paths:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    rows, over = [], 0
    for path in c_files(paths):
        try:
            for line, name, length in functions(path):
                if length > limit:
                    over += 1
                if show_all or length > limit:
                    rows.append((length, path, line, name))
        except OSError as e:
            print(f"long_functions.py: {path}: {e.strerror}", file=sys.stderr)
            return 2
    for length, path, line, name in sorted(rows, key=lambda r: (-r[0], r[1], r[2])):
        print(f"{path}:{line} {name} {length}")
    if over:
        print(f"{over} function(s) over {limit} lines", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # e.g. piped into head
        sys.exit(1)
