"""Shared helpers for the benchmark scripts (Python 3 standard library only).

- KubectlListWriter streams a `kubectl get ... -o json` style List to a file
  without holding the whole document in memory.
- machine() describes the machine a figure was measured on; split_passthrough()
  cuts a command line at "--" (what follows goes to `stevedore recommend`).
- Template renders a JSON object once (kubectl layout: keys sorted, four-space
  indentation) and then fills per-object placeholders with plain string joins,
  which is what makes 100,000 realistic pods cheap to write.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import uuid

# Alphabet of k8s.io/apimachinery/pkg/util/rand.String (no vowels, no 0/1/3):
# used for generateName suffixes, pod-template-hash and similar names.
K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

ITEM_INDENT = " " * 8  # depth of an element of "items" in kubectl's layout


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_data_dir():
    env = os.environ.get("STEVEDORE_BENCH_DATA")
    if env:
        return env
    return os.path.join(os.path.dirname(repo_root()), "shared", "data", "bench")


def machine():
    """The first lines of lscpu, or /proc/cpuinfo's model name when lscpu is missing."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        keep = ("Architecture", "CPU(s):", "Model name", "Thread(s) per core", "Core(s) per socket",
                "Socket(s)", "Hypervisor vendor", "CPU max MHz", "BogoMIPS")
        lines = [" ".join(l.split()) for l in out.splitlines() if l.strip().startswith(keep)]
        if lines:
            return "; ".join(lines) + "; " + platform.platform()
    except (OSError, subprocess.CalledProcessError):
        pass
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, %s" % (cpu, os.cpu_count() or 0, platform.platform())


def sweep_parser(doc, pods, workdir, repeat):
    """The command line every benchmark over snapshot sizes shares: --pods (sizes,
    comma-separated), --dir (where generated snapshots are kept), --repeat and
    --build (the build directory), with these defaults; add the rest to it."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", default=pods)
    ap.add_argument("--dir", default=workdir)
    ap.add_argument("--repeat", type=int, default=repeat)
    ap.add_argument("--build", default=os.path.join(repo_root(), "build"))
    return ap


def add_run_options(ap, timeout_help="seconds allowed per run (default 600)"):
    """--extra-args, --timeout and --json-out: how a script runs `stevedore recommend`
    and where its figures go. parse_run_args reads them."""
    ap.add_argument("--extra-args", default="",
                    help="extra arguments for `stevedore recommend`, as one shell-quoted string "
                         "(--extra-args='--time-limit 2'); arguments after -- are passed too")
    ap.add_argument("--timeout", type=float, default=600.0, help=timeout_help)
    ap.add_argument("--json-out", help="write the figures as JSON to this file")


def parse_run_args(ap, argv):
    """Parses argv (default: sys.argv[1:]) up to "--"; args.extra is --extra-args
    split as the shell does, then what follows "--"."""
    argv, passthrough = split_passthrough(argv)
    args = ap.parse_args(argv)
    args.extra = shlex.split(args.extra_args) + passthrough
    return args


def split_passthrough(argv):
    """(the arguments before "--", those after it) of argv (default: sys.argv[1:])."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        return argv, []
    k = argv.index("--")
    return argv[:k], argv[k + 1:]


def k8s_suffix(rng, n=5):
    return "".join(rng.choice(K8S_ALPHABET) for _ in range(n))


def rand_uid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rfc3339(ts):
    """Seconds since the epoch -> '2024-11-04T08:00:00Z' (UTC, whole seconds)."""
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def kubectl_dumps(obj, compact=False, indent_prefix=ITEM_INDENT):
    """JSON text as kubectl prints it (sorted keys, 4-space indent), with every
    line shifted right by indent_prefix so it can sit inside "items".
    compact=True gives the same content without whitespace (as `jq -c`)."""
    if compact:
        return json.dumps(obj, separators=(",", ":"), sort_keys=True)
    text = json.dumps(obj, indent=4, sort_keys=True)
    if indent_prefix:
        text = indent_prefix + text.replace("\n", "\n" + indent_prefix)
    return text


def minified_len(obj):
    return len(json.dumps(obj, separators=(",", ":"), sort_keys=True))


_PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")


class Template:
    """A JSON object rendered once, with @@NAME@@ placeholders left inside
    string values (and in managedFields keys). fill() substitutes the
    placeholders; values must be JSON-safe (no quotes, backslashes or control
    characters), which holds for names, uids, IPs and timestamps.

    whitespace is the number of layout bytes (indentation, newlines) in the
    rendered text, so len(fill(...)) - whitespace is the minified size."""

    def __init__(self, obj, compact=False):
        text = kubectl_dumps(obj, compact)
        self.whitespace = len(text) - minified_len(obj)
        parts = _PLACEHOLDER.split(text)
        # parts alternates literal, name, literal, name, ..., literal
        self.literals = parts[0::2]
        self.names = parts[1::2]

    def fill(self, values):
        out = [None] * (2 * len(self.names) + 1)
        lits = self.literals
        out[0] = lits[0]
        for i, name in enumerate(self.names):
            out[2 * i + 1] = values[name]
            out[2 * i + 2] = lits[i + 1]
        return "".join(out)


class KubectlListWriter:
    """Writes {"apiVersion": "v1", "items": [...], "kind": "List",
    "metadata": {"resourceVersion": ""}} exactly in kubectl's layout (or
    minified), one item at a time. Items are passed as text rendered by
    kubectl_dumps or Template with the same compact setting."""

    def __init__(self, fp, compact=False):
        self.fp = fp
        self.compact = compact
        self.count = 0
        self.bytes = 0

    def begin(self):
        self._w('{"apiVersion":"v1","items":[' if self.compact
                else '{\n    "apiVersion": "v1",\n    "items": [')

    def item(self, text):
        if self.compact:
            self._w("," + text if self.count else text)
        else:
            self._w(",\n" if self.count else "\n")
            self._w(text)
        self.count += 1

    def end(self):
        if self.compact:
            self._w('],"kind":"List","metadata":{"resourceVersion":""}}\n')
            return
        self._w("\n    ],\n" if self.count else "],\n")
        self._w('    "kind": "List",\n    "metadata": {\n'
                '        "resourceVersion": ""\n    }\n}\n')

    def _w(self, s):
        self.fp.write(s)
        self.bytes += len(s)


def managed_fields(obj, list_keys, atomic, path="", depth=0):
    """fieldsV1 set (structured-merge-diff) for a plain JSON object.

    list_keys maps a dotted path (list elements contribute no path segment)
    to the tuple of key fields of an associative list; atomic is a set of
    dotted paths whose value is owned as a whole (rendered as {}); "path[]"
    in atomic renders the elements of an associative list as {} (as for
    ownerReferences). Lists not named in list_keys are atomic too."""
    out = {}
    if depth >= 2 and obj:  # the object itself and metadata/spec/status carry no "."
        out["."] = {}
    for key, val in obj.items():
        p = f"{path}.{key}" if path else key
        fk = "f:" + key
        if p in atomic or not isinstance(val, (dict, list)):
            out[fk] = {}
        elif isinstance(val, dict):
            out[fk] = managed_fields(val, list_keys, atomic, p, depth + 1) if val else {}
        else:
            keys = list_keys.get(p)
            if keys is None:
                out[fk] = {}
                continue
            sub = {} if p in _NO_DOT_LISTS else {".": {}}
            for el in val:
                kv = ",".join(f'"{k}":{json.dumps(el[k], separators=(",", ":"))}'
                              for k in keys)
                sub["k:{" + kv + "}"] = ({} if p + "[]" in atomic else
                                         managed_fields(el, list_keys, atomic, p, 2))
            out[fk] = sub
    return out


# Lists that are required fields of their parent: structured-merge-diff does
# not record the list itself ("."), only its elements.
_NO_DOT_LISTS = {"spec.containers", "containers"}
