#!/usr/bin/env python3
"""Run `stevedore recommend` on bin-packing instances with known optima.

Instances (see README.md of the data directory, by default
../shared/data/bench next to the repository, or $STEVEDORE_BENCH_DATA):

  bpplib/<set>/*.txt    1-D BPPLIB: n, capacity, n weights;
                        bpplib/optimum.tsv: set, instance, lower_bound, upper_bound
  vbp/triplet/*/*.vbp   vector packing (VPSolver format): d, d capacities, m kinds,
                        then per kind d weights and a demand;
                        vbp/triplet_known.tsv: instance_name, LB, OPT, best_* ...

Each instance becomes a snapshot (one pending pod per item, namespace "bench",
pods item-0 .. item-<n-1>) and a catalogue with a single node type "bin" whose
capacity is the bin, priced 1.0 per hour, so that cost = number of nodes.
Dimension 1 is cpu in millicores, 2 memory in bytes, 3 ephemeral-storage,
4.. example.com/r4, example.com/r5, ...; the node's "pods" capacity is the
number of items so that the pod slot never binds, and a 1-D bin gets 1Pi of
memory that no item asks for. A few vector items have small negative weights,
which no Kubernetes request can express: they are read as 0 (the report counts
the instances concerned).

For every run the answer is checked: all pods placed exactly once, none
unschedulable, and no node loaded beyond the bin in any dimension.
"""

import argparse
import concurrent.futures
import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import add_run_options, default_data_dir, parse_run_args, repo_root  # noqa: E402

NAMESPACE = "bench"
VECTOR_SETS = ("triplet",)
SET_ALIASES = {"vbp": "triplet"}


# --- instances -------------------------------------------------------------------

class Instance:
    __slots__ = ("set", "name", "path", "dims", "capacity", "kinds", "n_items",
                 "lb", "ub", "extra", "clamped")

    def __init__(self, set_name, name, path):
        self.set = set_name
        self.name = name
        self.path = path
        self.dims = 0
        self.capacity = []
        self.kinds = []   # [(weights tuple, count)]
        self.n_items = 0
        self.lb = None
        self.ub = None
        self.extra = {}
        self.clamped = 0

    @property
    def proven(self):
        return self.lb is not None and self.lb == self.ub

    def items(self):
        """Weights per item, in file order (kinds expanded by their demand)."""
        for w, count in self.kinds:
            for _ in range(count):
                yield w


def _ints(path):
    with open(path) as fp:
        return [int(float(t)) for t in fp.read().split()]


def load_bpp(inst):
    t = _ints(inst.path)
    n, cap = t[0], t[1]
    weights = t[2:]
    if len(weights) != n:
        raise ValueError(f"{inst.path}: expected {n} weights, found {len(weights)}")
    inst.dims = 1
    inst.capacity = [cap]
    # consecutive equal weights form one kind (keeps file order)
    kinds = []
    for w in weights:
        if kinds and kinds[-1][0] == (w,):
            kinds[-1][1] += 1
        else:
            kinds.append([(w,), 1])
    inst.kinds = [(w, c) for w, c in kinds]
    inst.n_items = n


def load_vbp(inst):
    t = _ints(inst.path)
    d = t[0]
    cap = t[1:1 + d]
    m = t[1 + d]
    body = t[2 + d:]
    if len(body) != m * (d + 1):
        raise ValueError(f"{inst.path}: expected {m} kinds of {d}+1 numbers, "
                         f"found {len(body)} numbers")
    inst.dims = d
    inst.capacity = cap
    inst.kinds = []
    for k in range(m):
        row = body[k * (d + 1):(k + 1) * (d + 1)]
        # A few triplet items carry small negative weights (-1, -2), which a
        # Kubernetes request cannot express: they are read as 0, which can
        # only make the instance easier (counted in inst.clamped).
        if any(w < 0 for w in row[:d]):
            inst.clamped += 1
        inst.kinds.append((tuple(max(w, 0) for w in row[:d]), row[d]))
    inst.n_items = sum(c for _, c in inst.kinds)


def discover(data_dir):
    """{set name: [Instance, ...]} in a fixed order (tsv order)."""
    sets = {}
    opt_tsv = os.path.join(data_dir, "bpplib", "optimum.tsv")
    if os.path.exists(opt_tsv):
        with open(opt_tsv, newline="") as fp:
            for row in csv.DictReader(fp, delimiter="\t"):
                s = row["set"]
                inst = Instance(s, row["instance"],
                                os.path.join(data_dir, "bpplib", s, row["instance"]))
                inst.lb = int(row["lower_bound"])
                inst.ub = int(row["upper_bound"])
                sets.setdefault(s, []).append(inst)
    known = os.path.join(data_dir, "vbp", "triplet_known.tsv")
    if os.path.exists(known):
        root = os.path.join(data_dir, "vbp", "triplet")
        files = {}
        for dirpath, _, names in os.walk(root):
            for f in names:
                if f.endswith(".vbp"):
                    files[f[:-4]] = os.path.join(dirpath, f)
        with open(known, newline="") as fp:
            for row in csv.DictReader(fp, delimiter="\t"):
                name = row["instance_name"]
                if name not in files:
                    raise FileNotFoundError(f"{name}.vbp not found under {root}")
                inst = Instance("triplet", name, files[name])
                inst.lb = int(row["LB"])
                opt = row.get("OPT", "")
                inst.ub = int(opt) if opt not in ("", "NA", "-") else None
                if inst.ub is None:
                    inst.ub = int(row.get("best_overall") or 0) or None
                inst.extra = {k: int(v) for k, v in row.items()
                              if k.startswith("best_") and v.strip().lstrip("-").isdigit()}
                sets.setdefault("triplet", []).append(inst)
    return sets


def pick(instances, limit):
    """Up to limit instances spread evenly over the (ordered) list."""
    if not limit or limit >= len(instances):
        return list(instances)
    n = len(instances)
    return [instances[(i * n) // limit] for i in range(limit)]


# --- conversion ------------------------------------------------------------------

def resource_names(d):
    base = ["cpu", "memory", "ephemeral-storage"]
    return base[:d] + [f"example.com/r{k}" for k in range(4, d + 1)]


def quantity(dim, value):
    return f"{value}m" if dim == 0 else str(value)


def requests_for(weights, names):
    return {names[k]: quantity(k, w) for k, w in enumerate(weights)}


def snapshot_obj(inst):
    names = resource_names(inst.dims)
    extended = [n for n in names if "/" in n]
    items = []
    i = 0
    for weights, count in inst.kinds:
        req = requests_for(weights, names)
        res = {"requests": req}
        if extended:  # extended resources must have limits equal to requests
            res["limits"] = {n: req[n] for n in extended}
        container = {"image": "registry.k8s.io/pause:3.9", "name": "item", "resources": res}
        for _ in range(count):
            items.append({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"item-{i}",
                    "namespace": NAMESPACE,
                    "uid": str(uuid.uuid5(uuid.NAMESPACE_URL,
                                          f"stevedore-bench:{inst.set}/{inst.name}/{i}")),
                },
                "spec": {"containers": [container], "restartPolicy": "Always",
                         "schedulerName": "default-scheduler"},
                "status": {"conditions": [{"reason": "Unschedulable", "status": "False",
                                           "type": "PodScheduled"}],
                           "phase": "Pending"},
            })
            i += 1
    return {"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": ""}}


def catalog_obj(inst):
    names = resource_names(inst.dims)
    cap = {names[k]: quantity(k, c) for k, c in enumerate(inst.capacity)}
    # Every real node type has memory; a 1-D instance asks none of it.
    cap.setdefault("memory", "1Pi")
    cap["pods"] = str(inst.n_items)
    return {
        "provider": "bench",
        "region": "r",
        "currency": "USD",
        "instance_types": [{
            "name": "bin",
            "arch": "amd64",
            "capacity": cap,
            "allocatable": dict(cap),
            "offerings": [{"capacity_type": "on-demand", "zone": "z1", "price": 1.0}],
        }],
    }


def write_instance(inst, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, os.path.splitext(inst.name)[0])
    snap, cat = base + ".snapshot.json", base + ".catalog.json"
    with open(snap, "w") as fp:
        json.dump(snapshot_obj(inst), fp, separators=(",", ":"))
        fp.write("\n")
    with open(cat, "w") as fp:
        json.dump(catalog_obj(inst), fp, indent=2)
        fp.write("\n")
    return snap, cat


# --- running and checking ----------------------------------------------------------

def check_answer(inst, ans):
    """Problems found in a recommend answer (empty list when all is well)."""
    problems = []
    summ = ans.get("summary") or {}
    n = inst.n_items
    if summ.get("pending_pods") != n:
        problems.append(f"pending_pods {summ.get('pending_pods')} != {n}")
    if summ.get("placed_pods") != n:
        problems.append(f"placed_pods {summ.get('placed_pods')} != {n}")
    if summ.get("unschedulable_pods", 0) != 0:
        problems.append(f"unschedulable_pods {summ.get('unschedulable_pods')}")
    if ans.get("unschedulable"):
        problems.append(f"{len(ans['unschedulable'])} unschedulable entries, first: "
                        f"{ans['unschedulable'][0]}")
    weights = [None] * n
    i = 0
    for w, c in inst.kinds:
        for _ in range(c):
            weights[i] = w
            i += 1
    seen = [False] * n
    new_nodes = 0
    for node in ans.get("nodes") or []:
        if not node.get("new", False):
            continue
        new_nodes += 1
        if node.get("instance_type") != "bin":
            problems.append(f"node {node.get('name')}: instance_type {node.get('instance_type')}")
        load = [0] * inst.dims
        for ref in node.get("pods") or []:
            ns, _, name = ref.partition("/")
            if ns != NAMESPACE or not name.startswith("item-") or not name[5:].isdigit() \
                    or int(name[5:]) >= n:
                problems.append(f"node {node.get('name')}: unknown pod {ref}")
                continue
            k = int(name[5:])
            if seen[k]:
                problems.append(f"pod {ref} placed twice")
            seen[k] = True
            for dim in range(inst.dims):
                load[dim] += weights[k][dim]
        over = [dim for dim in range(inst.dims) if load[dim] > inst.capacity[dim]]
        if over:
            problems.append(f"node {node.get('name')}: over capacity in dimension(s) "
                            f"{[d + 1 for d in over]}: {load} > {inst.capacity}")
    missing = seen.count(False)
    if missing:
        problems.append(f"{missing} pods not on any new node")
    cost = summ.get("new_nodes_hourly_cost")
    if isinstance(cost, (int, float)) and abs(cost - new_nodes) > 1e-6:
        problems.append(f"new_nodes_hourly_cost {cost} != {new_nodes} nodes at price 1.0")
    if summ.get("new_nodes") != new_nodes:
        problems.append(f"summary.new_nodes {summ.get('new_nodes')} != {new_nodes} new nodes listed")
    return problems


def ffd_nodes(inst):
    """Plain first-fit decreasing, the baseline run beside stevedore: items
    sorted by the sum of their sizes relative to the bin, each into the
    first open bin where it fits in every dimension."""
    cap = inst.capacity
    items = []
    for weights, count in inst.kinds:
        key = sum(w / c for w, c in zip(weights, cap) if c)
        items.extend([(key, weights)] * count)
    items.sort(key=lambda kv: -kv[0])
    bins = []
    for _, w in items:
        for b in bins:
            if all(b[k] + w[k] <= cap[k] for k in range(len(cap))):
                for k in range(len(cap)):
                    b[k] += w[k]
                break
        else:
            bins.append(list(w))
    return len(bins)


def run_one(inst, args, work_dir):
    out_dir = os.path.join(work_dir, inst.set)
    res = {"set": inst.set, "instance": inst.name, "dims": inst.dims, "items": inst.n_items,
           "lower_bound": inst.lb, "upper_bound": inst.ub, "proven": inst.proven}
    res.update(inst.extra)
    res["clamped_kinds"] = inst.clamped
    if not args.convert_only:
        res["ffd_nodes"] = ffd_nodes(inst)
    snap, cat = write_instance(inst, out_dir)
    res["snapshot"] = snap
    res["catalog"] = cat
    if args.convert_only:
        res["status"] = "converted"
        return res
    cmd = [args.stevedore, "recommend", "--snapshot", snap, "--catalog", cat,
           "--output", "json"] + args.extra
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=args.timeout)
    except subprocess.TimeoutExpired:
        res.update(status="timeout", seconds=time.perf_counter() - t0)
        return res
    except OSError as e:
        res.update(status="error", seconds=0.0, error=str(e))
        return res
    res["seconds"] = time.perf_counter() - t0
    if proc.returncode != 0:
        res.update(status="error", exit_code=proc.returncode,
                   error=proc.stderr.decode(errors="replace").strip()[-500:])
        return res
    try:
        ans = json.loads(proc.stdout)
    except ValueError as e:
        res.update(status="error", error=f"output is not JSON: {e}")
        return res
    summ = ans.get("summary") or {}
    res["nodes"] = summ.get("new_nodes")
    res["cost"] = summ.get("new_nodes_hourly_cost")
    res["reported_lower_bound_cost"] = summ.get("lower_bound_hourly_cost")
    res["unschedulable"] = summ.get("unschedulable_pods")
    problems = check_answer(inst, ans)
    res["problems"] = problems
    res["status"] = "ok" if not problems else "invalid"
    return res


# --- reporting -----------------------------------------------------------------------

def aggregate(rows):
    ok = [r for r in rows if r.get("status") == "ok"]
    proven = [r for r in ok if r["proven"]]
    nodes = sum(r["nodes"] for r in proven)
    opt = sum(r["upper_bound"] for r in proven)
    gaps = [(r["nodes"] - r["upper_bound"]) / r["upper_bound"] * 100.0 for r in proven
            if r["upper_bound"]]
    times = sorted(r["seconds"] for r in rows if "seconds" in r)
    ffd = sum(r.get("ffd_nodes", 0) for r in proven)
    # The share at the optimum counts every instance with a proven optimum,
    # runs that failed included (as misses).
    proven_all = sum(1 for r in rows if r["proven"])
    at_opt = sum(1 for r in proven if r["nodes"] == r["upper_bound"])
    agg = {
        "ffd_nodes": ffd,
        "ffd_over_pct": (ffd - opt) / opt * 100.0 if opt and ffd else None,
        "instances": len(rows),
        "ok": len(ok),
        "failed": len(rows) - len(ok),
        "proven": len(proven),
        "nodes": nodes,
        "optimum": opt,
        "over_pct": (nodes - opt) / opt * 100.0 if opt else None,
        "mean_gap_pct": sum(gaps) / len(gaps) if gaps else None,
        "at_optimum": at_opt,
        "at_optimum_pct": at_opt / proven_all * 100.0 if proven_all else None,
        "below_optimum": sum(1 for r in proven if r["nodes"] < r["upper_bound"]),
        "max_seconds": times[-1] if times else None,
        "median_seconds": median(times),
        "total_seconds": sum(times) if times else None,
    }
    best = [r for r in proven if "best_overall" in r]
    if best:
        agg["best_overall_in_literature"] = sum(r["best_overall"] for r in best)
    return agg


def median(sorted_values):
    n = len(sorted_values)
    if not n:
        return None
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2.0


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(title, groups, out):
    hdr = (f"{'':<16}{'inst':>6}{'ok':>6}{'nodes':>9}{'optimum':>9}{'% over':>8}"
           f"{'mean gap%':>10}{'at opt':>8}{'at opt%':>8}{'med s':>8}{'max s':>9}"
           f"{'total s':>10}{'FFD':>9}{'FFD %':>8}")
    print(title, file=out)
    print(hdr, file=out)
    for name, a in groups:
        print(f"{name:<16}{a['instances']:>6}{a['ok']:>6}{a['nodes']:>9}{a['optimum']:>9}"
              f"{fmt(a['over_pct'], '.2f'):>8}{fmt(a['mean_gap_pct'], '.2f'):>10}"
              f"{a['at_optimum']:>8}{fmt(a['at_optimum_pct'], '.1f'):>8}"
              f"{fmt(a['median_seconds'], '.3f'):>8}{fmt(a['max_seconds'], '.3f'):>9}"
              f"{fmt(a['total_seconds'], '.2f'):>10}{a['ffd_nodes']:>9}"
              f"{fmt(a['ffd_over_pct'], '.2f'):>8}", file=out)


def report(results, sets_order, out):
    by_set = {}
    for r in results:
        by_set.setdefault(r["set"], []).append(r)
    summary = {"sets": {}, "groups": {}}
    groups = []
    for s in sets_order:
        rows = by_set.get(s, [])
        if not rows:
            continue
        a = aggregate(rows)
        summary["sets"][s] = a
        groups.append((s, a))
    if groups:
        print_table("Per set (nodes and optimum summed over runs that passed the checks and "
                    "have a proven optimum):", groups, out)
        print("  % over: (sum nodes - sum optima) / sum optima; mean gap%: (nodes - opt) / opt "
              "averaged over instances;\n  at opt: instances with nodes = the proven optimum "
              "(% of the instances with one, failed runs as misses);\n  med s / max s: median / "
              "maximum wall time of one `stevedore recommend` process; FFD: first-fit decreasing",
              file=out)
    if len(groups) > 1:
        one_d = [r for r in results if r["set"] not in VECTOR_SETS]
        rows = []
        if one_d and len(one_d) != len(results):
            summary["bpplib_1d"] = aggregate(one_d)
            rows.append(("all 1-D", summary["bpplib_1d"]))
        total = aggregate(results)
        summary["total"] = total
        rows.append(("all", total))
        print_table("", rows, out)
    for s in sets_order:
        if s not in VECTOR_SETS or s not in by_set:
            continue
        dims = sorted({r["dims"] for r in by_set[s]})
        g = []
        for d in dims:
            a = aggregate([r for r in by_set[s] if r["dims"] == d])
            summary["groups"][f"{s}/{d}-D"] = a
            g.append((f"{s} {d}-D", a))
        print("", file=out)
        print_table(f"{s} by dimension (gap = (nodes - OPT) / OPT):", g, out)
        lit = [(name, a.get("best_overall_in_literature")) for name, a in g]
        if any(v is not None for _, v in lit):
            print("  best heuristic result in Mommessin et al. (sum of best_overall): "
                  + ", ".join(f"{n}: {v}" for n, v in lit if v is not None), file=out)
    unproven = [r for r in results if not r["proven"]]
    if unproven:
        print("\nInstances without a proven optimum (not in the sums):", file=out)
        for r in unproven:
            print(f"  {r['set']}/{r['instance']}: LB {r['lower_bound']} UB {r['upper_bound']} "
                  f"nodes {r.get('nodes', '-')} ({r.get('status')})", file=out)
    failed = [r for r in results if r.get("status") not in ("ok", "converted")]
    if failed:
        print(f"\nFLAGGED: {len(failed)} run(s) failed or gave an invalid answer:", file=out)
        for r in failed:
            why = r.get("error") or "; ".join(r.get("problems", [])[:3]) or r.get("status")
            print(f"  {r['set']}/{r['instance']}: {r.get('status')}: {why}", file=out)
    below = [r for r in results if r.get("status") == "ok" and r["proven"]
             and r["nodes"] < r["upper_bound"]]
    if below:
        print(f"\nFLAGGED: {len(below)} answer(s) below the proven optimum "
              "(check the conversion):", file=out)
        for r in below:
            print(f"  {r['set']}/{r['instance']}: {r['nodes']} < {r['upper_bound']}", file=out)
    return summary


# --- main ------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Bin-packing benchmark: BPPLIB 1-D sets and the vector 'triplet' set, "
                    "run through `stevedore recommend` and compared with the optimum.")
    ap.add_argument("--data", default=default_data_dir(),
                    help="benchmark data directory (default: %(default)s)")
    ap.add_argument("--sets", default="",
                    help="comma-separated subset of sets (default: all); 'vbp' is an alias "
                         "of 'triplet'")
    ap.add_argument("--limit", type=int, default=0,
                    help="at most N instances per set, spread evenly over the set")
    ap.add_argument("--jobs", type=int, default=1,
                    help="parallel runs (default 1, as timing matters)")
    ap.add_argument("--stevedore", default=os.path.join(repo_root(), "build", "controller", "stevedore"),
                    help="stevedore binary (default: %(default)s)")
    add_run_options(ap)
    ap.add_argument("--keep", help="keep the converted files in this directory")
    ap.add_argument("--convert-only", action="store_true",
                    help="only convert the instances (use with --keep to inspect them)")
    ap.add_argument("--list", action="store_true", help="list the sets and exit")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-instance progress")
    full_argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_run_args(ap, full_argv)

    sets = discover(args.data)
    if not sets:
        ap.error(f"no instances found under {args.data}")
    if args.list:
        for s, insts in sets.items():
            print(f"{s}\t{len(insts)}")
        return 0
    wanted = list(sets)
    if args.sets:
        wanted = []
        for s in args.sets.split(","):
            s = SET_ALIASES.get(s.strip(), s.strip())
            if s not in sets:
                ap.error(f"unknown set {s!r}; known: {', '.join(sets)}")
            if s not in wanted:
                wanted.append(s)
    if args.jobs < 1:
        ap.error("--jobs must be >= 1")
    if not args.convert_only and not os.access(args.stevedore, os.X_OK):
        ap.error(f"stevedore binary not found or not executable: {args.stevedore} "
                 "(build it, pass --stevedore, or use --convert-only)")

    todo = []
    for s in wanted:
        for inst in pick(sets[s], args.limit):
            (load_vbp if inst.path.endswith(".vbp") else load_bpp)(inst)
            todo.append(inst)

    work_dir = args.keep or tempfile.mkdtemp(prefix="stevedore-bench-")
    os.makedirs(work_dir, exist_ok=True)
    results = [None] * len(todo)
    t_start = time.perf_counter()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
            futs = {ex.submit(run_one, inst, args, work_dir): i for i, inst in enumerate(todo)}
            done = 0
            for fut in concurrent.futures.as_completed(futs):
                i = futs[fut]
                r = fut.result()
                results[i] = r
                done += 1
                if not args.quiet:
                    if r["status"] == "converted":
                        line = f"{r['items']} items, {r['dims']}-D"
                    elif r["status"] == "ok":
                        line = (f"{r['nodes']} nodes (opt {r['upper_bound']}) "
                                f"{r['seconds']:.3f} s")
                    else:
                        line = r["status"].upper()
                    print(f"[{done}/{len(todo)}] {r['set']}/{r['instance']}: {line}",
                          file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    wall = time.perf_counter() - t_start

    if not args.keep:
        for r in results:
            r.pop("snapshot", None)
            r.pop("catalog", None)

    out = sys.stdout
    if args.convert_only:
        print(f"converted {len(results)} instances"
              + (f" into {work_dir}" if args.keep else " (use --keep DIR to keep them)"),
              file=out)
        summary = {}
    else:
        summary = report(results, wanted, out)
        print(f"\n{len(results)} runs, jobs {args.jobs}, wall {wall:.1f} s; "
              f"stevedore {args.stevedore} recommend ... "
              f"{' '.join(shlex.quote(a) for a in args.extra)}".rstrip(), file=out)

    if args.json_out:
        doc = {
            "command": [os.path.basename(sys.argv[0])] + full_argv,
            "stevedore": args.stevedore,
            "extra_args": args.extra,
            "data": os.path.abspath(args.data),
            "jobs": args.jobs,
            "wall_seconds": wall,
            "summary": summary,
            "results": results,
        }
        with open(args.json_out, "w") as fp:
            json.dump(doc, fp, indent=2)
            fp.write("\n")

    bad = [r for r in results if r["status"] not in ("ok", "converted")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
