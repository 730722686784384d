#!/usr/bin/env python3
"""Turns the price lists under pricing/data/ into Stevedore catalogues.

The build runs this script to produce a C source that embeds each catalogue
as JSON text in the format of docs/catalog.md, so that the one loader in
pricing/catalog.c reads embedded and user-supplied catalogues alike:

    gen_catalog.py -o embedded_catalogs.c \
        aws:us-east-1 data/aws-us-east-1.csv gcp:us-east1 data/gcp-us-east1.csv

With --json, it writes one catalogue as a JSON document instead, a starting
point for a hand-maintained catalogue:

    gen_catalog.py --json -o aws.json aws:us-east-1 data/aws-us-east-1.csv

The provider part of each name ("aws", "gcp") selects the CSV reader. The
output is deterministic: the same CSV always gives the same bytes.
"""

import argparse
import csv
import json
import math
import os
import re
import sys

# The CSVs carry no per-zone data, so every type is offered at the same
# price in three zones of the region: the first three zones, which exist in
# every account (AWS maps zone names per account; GKE regions have b, c, d).
AWS_ZONES = {"us-east-1": ["us-east-1a", "us-east-1b", "us-east-1c"]}
GCP_ZONES = {"us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"]}

# Root volume each node is given, as its ephemeral-storage capacity:
# Karpenter's default EC2NodeClass block device (20 GiB gp3) on AWS and the
# default GKE boot disk (100 GB, which GCE sizes in GiB) on GCP. The loader
# derives allocatable from it (kubelet's default nodefs eviction threshold).
AWS_ROOT_VOLUME = "20Gi"
GCP_BOOT_DISK = "100Gi"

# Spot Instance Advisor interruption buckets, as the midpoint of each range.
AWS_INTERRUPTION = {
    "<5%": 0.025,
    "5-10%": 0.075,
    "10-15%": 0.125,
    "15-20%": 0.175,
    ">20%": 0.25,
}

# Burstable types: the share of each vCPU a type sustains (its baseline)
# and the price per vCPU-hour of the surplus credits an unlimited-mode
# instance spends above it. AWS: "Key concepts and definitions for
# burstable performance instances" (EC2 User Guide, the credit table: CPU
# credits earned per hour / 60 / vCPUs) and the Unlimited-mode rates of the
# EC2 On-Demand pricing page (Linux). T2 differs from T3/T3a/T4g in its
# larger sizes (1 vCPU for nano to small, and xlarge/2xlarge sustain 22.5%
# and 17% of each vCPU), and T4g's surplus rate is lower.
AWS_BASELINE = {
    "t2": {"nano": 0.05, "micro": 0.10, "small": 0.20, "medium": 0.20,
           "large": 0.30, "xlarge": 0.225, "2xlarge": 0.17},
    "t3": {"nano": 0.05, "micro": 0.10, "small": 0.20, "medium": 0.20,
           "large": 0.30, "xlarge": 0.40, "2xlarge": 0.40},
}
AWS_BASELINE["t3a"] = AWS_BASELINE["t3"]
AWS_BASELINE["t4g"] = AWS_BASELINE["t3"]
AWS_SURPLUS_PRICE = {"t2": 0.05, "t3": 0.05, "t3a": 0.05, "t4g": 0.04}

# GCP's shared-core E2 types: 2 vCPUs, of which they sustain 0.25, 0.5 and
# 1 (Compute Engine "General-purpose machine family", E2 shared-core); the
# CSV lists the sustained figure as vcpu. They burst above it only for short
# periods, with no surplus rate to pay, so they have no surplus_price.
GCP_SHARED_CORE = {"e2-micro": 0.25, "e2-small": 0.5, "e2-medium": 1.0}
GCP_SHARED_CORE_VCPUS = 2

# gpu_name values of the AWS CSV by manufacturer, and the extended resource
# each manufacturer's device plugin advertises. Inferentia/Trainium
# (aws.amazon.com/neuron) and Gaudi (habana.ai/gaudi) devices would map here
# too, but the CSV gives no accelerator count for inf*, trn* or dl* types.
AWS_GPU_MAKERS = {
    "nvidia": {"a100", "a10g", "b200", "b300", "h100", "h200", "l4", "l40s",
               "rtx-pro-4500", "rtx-pro-server-6000", "t4", "t4g", "v100"},
    "amd": {"radeon-pro-v520"},
    "aws": {"inferentia", "inferentia2", "trainium", "trainium2"},
    "habana": {"gaudi", "gaudi-hl-205"},
}
GPU_RESOURCE = {
    "nvidia": "nvidia.com/gpu",
    "amd": "amd.com/gpu",
    "aws": "aws.amazon.com/neuron",
    "habana": "habana.ai/gaudi",
}

# GCP ARM (Axion, Ampere Altra) machine families; the rest are x86-64.
GCP_ARM_FAMILIES = {"c4a", "n4a", "t2a"}
# GPU model attached to each GCP accelerator-optimized family, named as GKE's
# cloud.google.com/gke-accelerator label names it. Every GCP GPU is NVIDIA.
GCP_ACCELERATORS = {
    "a2": "nvidia-tesla-a100",
    "a3": "nvidia-h100-80gb",
    "g2": "nvidia-l4",
    "g4": "nvidia-rtx-pro-6000",
}

AWS_COLUMNS = ["instance_type", "arch", "vcpu", "memory_gib", "gpu_count",
               "gpu_name", "od_usd_h_us_east_1", "spot_savings_pct",
               "interruption_bucket", "spot_est_usd_h", "alloc_cpu",
               "alloc_memory", "max_pods"]
GCP_COLUMNS = ["machine_type", "vcpu", "memory_gib", "gpu_count",
               "od_usd_h_us_east1", "spot_usd_h_us_east1"]

SOURCES = {
    "aws": "pricing/data/aws-us-east-1.csv (see pricing/data/README.md)",
    "gcp": "pricing/data/gcp-us-east1.csv (see pricing/data/README.md)",
}


class DataError(Exception):
    pass


def read_csv(path, columns):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError("%s: missing columns %s" % (path, ", ".join(missing)))
        rows = []
        for lineno, row in enumerate(reader, start=2):
            row["_where"] = "%s:%d" % (path, lineno)
            rows.append(row)
        return rows


def number(row, col, allow_empty=False):
    text = row[col].strip()
    if text == "":
        if allow_empty:
            return None
        raise DataError("%s: %s: empty" % (row["_where"], col))
    try:
        value = float(text)
    except ValueError:
        raise DataError("%s: %s: not a number %r" % (row["_where"], col, text))
    if not math.isfinite(value) or value < 0:
        raise DataError("%s: %s: must be a non-negative number" % (row["_where"], col))
    return value


def whole(row, col):
    value = number(row, col)
    if value != int(value):
        raise DataError("%s: %s: not a whole number" % (row["_where"], col))
    return int(value)


def cpu_quantity(vcpu):
    """vCPUs as a quantity: "2", or "250m" for shared-core machine types."""
    milli = round(vcpu * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else "%dm" % milli


def memory_mib(gib):
    """GiB from the CSV (rounded to three decimals there) to whole MiB."""
    return int(round(gib * 1024))


def price(value):
    # Round away binary noise (0.1 + 0.2) without losing listed precision.
    return float("%.10g" % value)


def aws_family(name):
    """Karpenter's instance-category/-generation split of a family name."""
    m = re.match(r"^([a-z]+)(-[0-9]+tb)?([0-9]+)", name)
    return (m.group(1), m.group(3)) if m else (None, None)


def zone_offerings(zones, capacity_type, usd_h, **extra):
    """One offering per zone at hourly price usd_h (none when usd_h is None),
    each with the members of extra after the price."""
    if usd_h is None:
        return []
    return [dict({"capacity_type": capacity_type, "zone": z, "price": price(usd_h)}, **extra) for z in zones]


def aws_catalog(region, path):
    zones = AWS_ZONES.get(region)
    if zones is None:
        raise DataError("no zones known for aws region %s" % region)
    maker_of = {g: m for m, names in AWS_GPU_MAKERS.items() for g in names}
    types = []
    for row in read_csv(path, AWS_COLUMNS):
        name = row["instance_type"].strip()
        where = row["_where"]
        offerings = zone_offerings(zones, "on-demand", number(row, "od_usd_h_us_east_1", allow_empty=True))
        saving = number(row, "spot_savings_pct", allow_empty=True)
        if saving:
            spot = number(row, "spot_est_usd_h")
            bucket = row["interruption_bucket"].strip()
            if bucket not in AWS_INTERRUPTION:
                raise DataError("%s: interruption_bucket: unknown %r" % (where, bucket))
            offerings += zone_offerings(zones, "spot", spot, interruption_rate=AWS_INTERRUPTION[bucket])
        if not offerings:
            continue  # neither price is published for this region
        arch = row["arch"].strip()
        if arch not in ("amd64", "arm64"):
            raise DataError("%s: arch: unknown %r" % (where, arch))
        vcpu = number(row, "vcpu")
        mem = memory_mib(number(row, "memory_gib"))
        pods = whole(row, "max_pods")
        gpus = whole(row, "gpu_count")
        gpu_name = row["gpu_name"].strip()

        capacity = {"cpu": cpu_quantity(vcpu), "memory": "%dMi" % mem,
                    "ephemeral-storage": AWS_ROOT_VOLUME, "pods": str(pods)}
        allocatable = {"cpu": row["alloc_cpu"].strip(),
                       "memory": row["alloc_memory"].strip(), "pods": str(pods)}
        family, _, size = name.partition(".")
        labels = {
            "karpenter.k8s.aws/instance-cpu": cpu_quantity(vcpu),
            "karpenter.k8s.aws/instance-family": family,
            "karpenter.k8s.aws/instance-memory": str(mem),
            "karpenter.k8s.aws/instance-size": size,
        }
        category, generation = aws_family(family)
        if category is not None:
            labels["karpenter.k8s.aws/instance-category"] = category
            labels["karpenter.k8s.aws/instance-generation"] = generation
        if gpu_name:
            maker = maker_of.get(gpu_name)
            if maker is None:
                raise DataError("%s: gpu_name: unknown %r (add it to AWS_GPU_MAKERS)"
                                % (where, gpu_name))
            labels["karpenter.k8s.aws/instance-gpu-name"] = gpu_name
            labels["karpenter.k8s.aws/instance-gpu-manufacturer"] = maker
            if gpus > 0:
                # Fractional GPUs (g6f: gpu_count 0) get no whole device.
                res = GPU_RESOURCE[maker]
                capacity[res] = str(gpus)
                allocatable[res] = str(gpus)
                labels["karpenter.k8s.aws/instance-gpu-count"] = str(gpus)
        elif gpus > 0:
            raise DataError("%s: gpu_count %d without gpu_name" % (where, gpus))
        t = {"name": name, "arch": arch, "capacity": capacity,
             "allocatable": allocatable,
             "labels": dict(sorted(labels.items())),
             "offerings": offerings}
        if family in AWS_BASELINE:
            base = AWS_BASELINE[family].get(size)
            if base is None:
                raise DataError("%s: no baseline known for burstable size %r (add it to AWS_BASELINE)"
                                % (where, name))
            t["burstable"] = {"baseline": base, "surplus_price": AWS_SURPLUS_PRICE[family]}
        types.append(t)
    return {"provider": "aws", "region": region, "currency": "USD",
            "source": SOURCES["aws"], "instance_types": types}


def gcp_catalog(region, path):
    zones = GCP_ZONES.get(region)
    if zones is None:
        raise DataError("no zones known for gcp region %s" % region)
    types = []
    for row in read_csv(path, GCP_COLUMNS):
        name = row["machine_type"].strip()
        where = row["_where"]
        offerings = (zone_offerings(zones, "on-demand", number(row, "od_usd_h_us_east1", allow_empty=True)) +
                     zone_offerings(zones, "spot", number(row, "spot_usd_h_us_east1", allow_empty=True)))
        if not offerings:
            continue
        family = name.split("-", 1)[0]
        vcpu = number(row, "vcpu")
        burstable = None
        if name in GCP_SHARED_CORE:
            if vcpu != GCP_SHARED_CORE[name]:
                raise DataError("%s: vcpu %g, but %s sustains %g of its %d vCPUs"
                                % (where, vcpu, name, GCP_SHARED_CORE[name], GCP_SHARED_CORE_VCPUS))
            burstable = {"baseline": vcpu / GCP_SHARED_CORE_VCPUS}
            vcpu = GCP_SHARED_CORE_VCPUS
        mem = memory_mib(number(row, "memory_gib"))
        gpus = whole(row, "gpu_count")
        capacity = {"cpu": cpu_quantity(vcpu), "memory": "%dMi" % mem,
                    "ephemeral-storage": GCP_BOOT_DISK}
        labels = {
            "cloud.google.com/machine-family": family,
            "stevedore.io/instance-family": family,
            "stevedore.io/instance-memory": str(mem),
        }
        if vcpu == int(vcpu):
            labels["stevedore.io/instance-cpu"] = str(int(vcpu))
        if gpus > 0:
            accel = GCP_ACCELERATORS.get(family)
            if accel is None:
                raise DataError("%s: no GPU model known for family %r" % (where, family))
            capacity["nvidia.com/gpu"] = str(gpus)
            labels["cloud.google.com/gke-accelerator"] = accel
            labels["stevedore.io/instance-gpu-name"] = accel
            labels["stevedore.io/instance-gpu-count"] = str(gpus)
        t = {"name": name,
             "arch": "arm64" if family in GCP_ARM_FAMILIES else "amd64",
             "capacity": capacity,
             "labels": dict(sorted(labels.items())),
             "offerings": offerings}
        if burstable is not None:
            t["burstable"] = burstable
        types.append(t)
    return {"provider": "gcp", "region": region, "currency": "USD",
            "source": SOURCES["gcp"], "instance_types": types}


READERS = {"aws": aws_catalog, "gcp": gcp_catalog}


def build(spec, path):
    provider, sep, region = spec.partition(":")
    if not sep or provider not in READERS or not region:
        raise DataError("bad catalogue name %r (expected aws:<region> or gcp:<region>)"
                        % spec)
    cat = READERS[provider](region, path)
    names = [t["name"] for t in cat["instance_types"]]
    if len(set(names)) != len(names):
        raise DataError("%s: duplicate instance type names" % path)
    cat["instance_types"].sort(key=lambda t: t["name"])
    return cat


def to_json_lines(cat):
    """The catalogue as JSON text, one instance type per line."""
    dump = lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=True)
    head = {k: v for k, v in cat.items() if k != "instance_types"}
    lines = [dump(head)[:-1] + ',"instance_types":[']
    types = cat["instance_types"]
    for i, t in enumerate(types):
        lines.append(dump(t) + ("," if i + 1 < len(types) else ""))
    lines.append("]}")
    return lines


def c_string(text):
    out = []
    for ch in text:
        if ch in "\\\"?":  # '?' too, so that no trigraph can form
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append("\\%03o" % ord(ch))
    return '"' + "".join(out) + '"'


def to_c(cats, inputs):
    """The C source: each catalogue's JSON as a byte array.

    A byte array rather than a string literal: ISO C only promises string
    literals of 4095 bytes, and -Woverlength-strings (part of -Wpedantic)
    rejects longer ones at any warning level that enables it.
    """
    out = ["/*",
           " * Embedded catalogues, generated by pricing/gen_catalog.py from",
           ]
    for spec, path in inputs:
        out.append(" * %s (%s)." % (os.path.basename(path), spec))
    out += [" * Do not edit: change the CSV or the script and rebuild. To read",
            " * a catalogue, run gen_catalog.py --json.",
            " */",
            '#include "internal.h"',
            ""]
    for i, cat in enumerate(cats):
        data = ("\n".join(to_json_lines(cat)) + "\n").encode("ascii")
        out.append("static const unsigned char catalog_%d[%d] = {" % (i, len(data)))
        for k in range(0, len(data), 24):
            out.append("    " + ",".join(str(b) for b in data[k:k + 24]) + ",")
        out.append("};")
        out.append("")
    out.append("const struct stv__embedded_catalog stv__embedded_catalogs[] = {")
    for i, (spec, _) in enumerate(inputs):
        out.append("    {%s, (const char *)catalog_%d, sizeof(catalog_%d)},"
                   % (c_string(spec), i, i))
    out.append("    {0, 0, 0}};")
    out.append("")
    return "\n".join(out)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--json", action="store_true",
                    help="write one catalogue as JSON instead of C")
    ap.add_argument("pairs", nargs="+", metavar="NAME CSV")
    args = ap.parse_args(argv)
    if len(args.pairs) % 2:
        ap.error("expected NAME CSV pairs")
    inputs = list(zip(args.pairs[0::2], args.pairs[1::2]))
    if args.json and len(inputs) != 1:
        ap.error("--json writes exactly one catalogue")
    try:
        cats = [build(spec, path) for spec, path in inputs]
    except (DataError, OSError) as e:
        print("gen_catalog.py: %s" % e, file=sys.stderr)
        return 1
    text = "\n".join(to_json_lines(cats[0])) + "\n" if args.json else to_c(cats, inputs)
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
