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
import zlib

# The CSVs carry no per-zone data, so every type is offered at the same
# price in three zones of the region: the first three zones, which exist in
# every account (AWS maps zone names per account). AWS us-west-1 offers an
# account two zones. GCP regions have zones a, b and c except those below.
# AKS labels a node of a zonal region "<region>-<n>" and one of a region
# without availability zones "0" (Azure's "Azure regions with availability
# zone support" list, 2025).
AWS_ZONES = {"us-west-1": ["us-west-1a", "us-west-1b"]}
GCP_ZONES = {"us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"],
             "europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"]}
AZURE_NO_ZONES = {
    "australiacentral2", "australiasoutheast", "brazilsoutheast", "canadaeast",
    "francesouth", "germanynorth", "jioindiacentral", "jioindiawest",
    "northcentralus", "norwaywest", "southafricawest", "southindia",
    "swedensouth", "switzerlandwest", "uaecentral", "ukwest", "westcentralus",
    "westindia", "westus", "koreasouth", "japanwest", "australiacentral",
}


def region_zones(provider, region):
    """The zones every type of region is offered in."""
    if provider == "aws":
        return AWS_ZONES.get(region, [region + z for z in "abc"])
    if provider == "gcp":
        return GCP_ZONES.get(region, [region + "-" + z for z in "abc"])
    if region in AZURE_NO_ZONES:
        return ["0"]
    return [region + "-" + z for z in "123"]


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

# Azure B-series: the "Base CPU Performance of VM" of Azure's size tables, in
# the 2024 form (a share of each vCPU, 0-100 %): "B-series burstable virtual
# machine sizes" (v1) and the Bsv2, Basv2 and Bpsv2 pages (v2: the same three
# shares for the ts, ls and s sizes of every vCPU count). B-series has no
# unlimited mode to buy, so there is no surplus price.
AZURE_BASELINE_V1 = {"B1ls": 0.05, "B1s": 0.10, "B1ms": 0.20, "B2s": 0.20,
                     "B2ms": 0.30, "B4ms": 0.225, "B8ms": 0.17, "B12ms": 0.17,
                     "B16ms": 0.17, "B20ms": 0.17}
AZURE_BASELINE_V2 = {"ts": 0.20, "ls": 0.30, "s": 0.40}

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
# The GPU model of the regions/aws-shapes-extra.csv families that have GPUs,
# which that file counts but does not name: dl1 carries Habana Gaudi, p3
# NVIDIA V100 (EC2's accelerated computing instance pages).
AWS_EXTRA_GPU_NAME = {"dl1": "gaudi", "p3": "v100"}
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


def aws_type(name, shape, where, maker_of):
    """The instance type name (without offerings) from its shape: a row of
    aws-us-east-1.csv or of regions/aws-shapes-extra.csv. The extra rows
    carry no allocatable or max pods: the loader's overhead model and the
    kubelet's default of 110 pods apply (docs/catalog.md)."""
    arch = shape["arch"].strip()
    if arch not in ("amd64", "arm64"):
        raise DataError("%s: arch: unknown %r" % (where, arch))
    vcpu = number(shape, "vcpu")
    mem = memory_mib(number(shape, "memory_gib"))
    gpus = whole(shape, "gpu_count") if shape["gpu_count"].strip() else 0
    gpu_name = shape.get("gpu_name", "").strip()
    family, _, size = name.partition(".")
    if not gpu_name and gpus > 0:
        gpu_name = AWS_EXTRA_GPU_NAME.get(family, "")

    capacity = {"cpu": cpu_quantity(vcpu), "memory": "%dMi" % mem,
                "ephemeral-storage": AWS_ROOT_VOLUME}
    allocatable = {}
    if shape.get("max_pods", "").strip():
        pods = whole(shape, "max_pods")
        capacity["pods"] = str(pods)
        allocatable = {"cpu": shape["alloc_cpu"].strip(),
                       "memory": shape["alloc_memory"].strip(), "pods": str(pods)}
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
            if allocatable:
                allocatable[res] = str(gpus)
            labels["karpenter.k8s.aws/instance-gpu-count"] = str(gpus)
    elif gpus > 0:
        raise DataError("%s: gpu_count %d without gpu_name" % (where, gpus))
    t = {"name": name, "arch": arch, "capacity": capacity}
    if allocatable:
        t["allocatable"] = allocatable
    t["labels"] = dict(sorted(labels.items()))
    if family in AWS_BASELINE:
        base = AWS_BASELINE[family].get(size)
        if base is None:
            raise DataError("%s: no baseline known for burstable size %r (add it to AWS_BASELINE)"
                            % (where, name))
        t["burstable"] = {"baseline": base, "surplus_price": AWS_SURPLUS_PRICE[family]}
    return t


def with_offerings(t, offerings):
    """t with its offerings, placed before "burstable" as the format's tables list them."""
    out = {k: v for k, v in t.items() if k != "burstable"}
    out["offerings"] = offerings
    if "burstable" in t:
        out["burstable"] = t["burstable"]
    return out


def aws_spot(zones, saving, usd_h, bucket, where):
    """Spot offerings from the Spot Advisor's figures (none without a saving)."""
    if not saving or saving <= 0:
        return []
    if bucket not in AWS_INTERRUPTION:
        raise DataError("%s: interruption_bucket: unknown %r" % (where, bucket))
    return zone_offerings(zones, "spot", usd_h, interruption_rate=AWS_INTERRUPTION[bucket])


def aws_catalog(region, path):
    zones = region_zones("aws", region)
    maker_of = {g: m for m, names in AWS_GPU_MAKERS.items() for g in names}
    types = []
    for row in read_csv(path, AWS_COLUMNS):
        name = row["instance_type"].strip()
        where = row["_where"]
        offerings = zone_offerings(zones, "on-demand", number(row, "od_usd_h_us_east_1", allow_empty=True))
        saving = number(row, "spot_savings_pct", allow_empty=True)
        if saving:
            offerings += aws_spot(zones, saving, number(row, "spot_est_usd_h"),
                                  row["interruption_bucket"].strip(), where)
        if not offerings:
            continue  # neither price is published for this region
        types.append(with_offerings(aws_type(name, row, where, maker_of), offerings))
    return {"provider": "aws", "region": region, "currency": "USD",
            "source": SOURCES["aws"], "instance_types": types}


def gcp_type(name, row, where):
    """The machine type name (without offerings) from its row's shape."""
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
         "labels": dict(sorted(labels.items()))}
    if burstable is not None:
        t["burstable"] = burstable
    return t


def gcp_catalog(region, path):
    zones = region_zones("gcp", region)
    types = []
    for row in read_csv(path, GCP_COLUMNS):
        name = row["machine_type"].strip()
        offerings = (zone_offerings(zones, "on-demand", number(row, "od_usd_h_us_east1", allow_empty=True)) +
                     zone_offerings(zones, "spot", number(row, "spot_usd_h_us_east1", allow_empty=True)))
        if not offerings:
            continue
        types.append(with_offerings(gcp_type(name, row, row["_where"]), offerings))
    return {"provider": "gcp", "region": region, "currency": "USD",
            "source": SOURCES["gcp"], "instance_types": types}


# Azure: the root disk AKS gives a node by default (128 GiB managed OS disk).
AZURE_OS_DISK = "128Gi"
# Azure size names: Standard_<family><vCPUs>[-<constrained>]<features>[_<accel>][_v<n>]
# (Azure's "Virtual machine size naming conventions"); feature "p" is Arm.
AZURE_NAME = re.compile(r"^(Standard|Basic)_([A-Z]+)([0-9]+)([a-z]*)(-[0-9]+)?([a-z]*)((?:_[A-Za-z0-9]+)*)$")
# GPU makers of Azure's GPU series: AMD for NVv4 (Radeon Instinct MI25) and
# NGads V620, NVIDIA for the other NC, ND and NV series.
AZURE_AMD_GPU = re.compile(r"^Standard_(NV[0-9]+as_v4|NG[0-9]+)")


def azure_series(name):
    """The size's series as Azure's pages name it (Standard_D4s_v5: Dsv5),
    its family letters (D) and its feature letters (s)."""
    m = AZURE_NAME.match(name)
    if m is None:
        return None, "", ""
    features = m.group(4) + m.group(6)
    return m.group(2) + features + m.group(7).replace("_", ""), m.group(2), features


def azure_type(name, row, where):
    """The VM size name (without offerings), or None when the data gives it
    no shape (no vCPUs or no memory): it cannot be packed."""
    name = name.strip()
    vcpu = number(row, "vcpu", allow_empty=True)
    gib = number(row, "memory_gib", allow_empty=True)
    if not vcpu or not gib:
        return None
    series, family, features = azure_series(name)
    if series is None:
        raise DataError("%s: vm_size: %r is not an Azure size name" % (where, name))
    mem = memory_mib(gib)
    gpus = whole(row, "gpu_count") if row["gpu_count"].strip() else 0
    capacity = {"cpu": cpu_quantity(vcpu), "memory": "%dMi" % mem,
                "ephemeral-storage": AZURE_OS_DISK}
    labels = {
        "stevedore.io/instance-family": series,
        "stevedore.io/instance-memory": str(mem),
    }
    if vcpu == int(vcpu):
        labels["stevedore.io/instance-cpu"] = str(int(vcpu))
    if gpus > 0:
        res = "amd.com/gpu" if AZURE_AMD_GPU.match(name) else "nvidia.com/gpu"
        capacity[res] = str(gpus)
        labels["stevedore.io/instance-gpu-count"] = str(gpus)
    t = {"name": name, "arch": "arm64" if "p" in features else "amd64",
         "capacity": capacity, "labels": dict(sorted(labels.items()))}
    short = name.split("_", 1)[1]
    if family == "B":
        if short in AZURE_BASELINE_V1:
            t["burstable"] = {"baseline": AZURE_BASELINE_V1[short]}
        elif name.endswith("_v2"):
            kind = re.sub(r"^B[0-9]+[ap]?", "", short[:-3])
            if kind not in AZURE_BASELINE_V2:
                raise DataError("%s: no baseline known for burstable size %r (add it to AZURE_BASELINE_V2)"
                                % (where, name))
            t["burstable"] = {"baseline": AZURE_BASELINE_V2[kind]}
        else:
            raise DataError("%s: no baseline known for burstable size %r (add it to AZURE_BASELINE_V1)"
                            % (where, name))
    return t


AWS_REGION_COLUMNS = ["region", "instance_type", "od_usd_h", "spot_savings_pct", "interruption_bucket"]
AWS_EXTRA_COLUMNS = ["instance_type", "arch", "vcpu", "memory_gib", "gpu_count"]
CLOUD_COLUMNS = {"gcp": ["region", "machine_type", "vcpu", "memory_gib", "gpu_count", "od_usd_h", "spot_usd_h"],
                 "azure": ["region", "vm_size", "vcpu", "memory_gib", "gpu_count", "od_usd_h", "spot_usd_h"]}
REGION_SOURCES = {p: "pricing/data/regions/%s.csv (see pricing/data/README.md)" % p
                  for p in ("aws", "gcp", "azure")}


def by_region(rows):
    out = {}
    for row in rows:
        out.setdefault(row["region"].strip(), []).append(row)
    return out


def new_region(provider, region):
    return {"provider": provider, "region": region, "currency": "USD",
            "source": REGION_SOURCES[provider], "instance_types": [], "left_out": 0}


def aws_regions(datadir, us_east_1_csv):
    """Every region of regions/aws.csv, shapes joined from the us-east-1 CSV
    and regions/aws-shapes-extra.csv; types no source gives an arch are left
    out (counted in left_out)."""
    shapes = {r["instance_type"].strip(): r for r in read_csv(us_east_1_csv, AWS_COLUMNS)}
    for r in read_csv(os.path.join(datadir, "aws-shapes-extra.csv"), AWS_EXTRA_COLUMNS):
        shapes.setdefault(r["instance_type"].strip(), r)
    maker_of = {g: m for m, names in AWS_GPU_MAKERS.items() for g in names}
    out = {}
    rows = read_csv(os.path.join(datadir, "aws.csv"), AWS_REGION_COLUMNS)
    for region, rrows in sorted(by_region(rows).items()):
        cat = out[region] = new_region("aws", region)
        zones = region_zones("aws", region)
        for row in rrows:
            name, where = row["instance_type"].strip(), row["_where"]
            shape = shapes.get(name)
            if shape is None or not shape["arch"].strip():
                cat["left_out"] += 1
                continue
            od = number(row, "od_usd_h")
            text = row["spot_savings_pct"].strip()
            saving = float(text) if text else 0.0  # one source value is negative: no spot estimate
            offerings = zone_offerings(zones, "on-demand", od)
            offerings += aws_spot(zones, saving, od * (100 - saving) / 100,
                                  row["interruption_bucket"].strip(), where)
            t = aws_type(name, shape, shape["_where"], maker_of)
            cat["instance_types"].append(with_offerings(t, offerings))
    return out


def cloud_regions(provider, datadir):
    """Every region of regions/gcp.csv or regions/azure.csv."""
    columns = CLOUD_COLUMNS[provider]
    out = {}
    for region, rrows in sorted(by_region(read_csv(os.path.join(datadir, provider + ".csv"), columns)).items()):
        cat = out[region] = new_region(provider, region)
        zones = region_zones(provider, region)
        for row in rrows:
            name, where = row[columns[1]].strip(), row["_where"]
            t = gcp_type(name, row, where) if provider == "gcp" else azure_type(name, row, where)
            if t is None:
                cat["left_out"] += 1
                continue
            offerings = (zone_offerings(zones, "on-demand", number(row, "od_usd_h")) +
                         zone_offerings(zones, "spot", number(row, "spot_usd_h", allow_empty=True)))
            cat["instance_types"].append(with_offerings(t, offerings))
    return out


READERS = {"aws": aws_catalog, "gcp": gcp_catalog}


def build(spec, path):
    provider, sep, region = spec.partition(":")
    if not sep or provider not in READERS or not region:
        raise DataError("bad catalogue name %r (expected aws:<region> or gcp:<region>)"
                        % spec)
    cat = READERS[provider](region, path)
    check_names(cat, path)
    return cat


def check_names(cat, where):
    """Rejects duplicate type names, then sorts the types by name."""
    names = [t["name"] for t in cat["instance_types"]]
    if len(set(names)) != len(names):
        raise DataError("%s: duplicate instance type names" % where)
    cat["instance_types"].sort(key=lambda t: t["name"])


def to_json_lines(cat):
    """The catalogue as JSON text, one instance type per line."""
    head = {k: v for k, v in cat.items() if k not in ("instance_types", "left_out")}
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


def dump(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def rebuild_offerings(zones, od, spot, rate):
    """The offerings pricing/embedded.c writes for one row: on-demand in every
    zone, then spot in every zone; od, spot and rate are JSON number texts or
    empty. Kept here to check that the encoding loses nothing."""
    out = []
    if od:
        out += [{"capacity_type": "on-demand", "zone": z, "price": json.loads(od)} for z in zones]
    if spot:
        extra = {"interruption_rate": json.loads(rate)} if rate else {}
        out += [dict({"capacity_type": "spot", "zone": z, "price": json.loads(spot)}, **extra) for z in zones]
    return out


def price_row(t, zones, where):
    """(od, spot, rate) texts of type t, whose offerings must be what
    rebuild_offerings gives for them."""
    od = spot = rate = ""
    for o in t["offerings"]:
        text = dump(o["price"])
        if o["capacity_type"] == "on-demand":
            od = text
        else:
            spot = text
            rate = dump(o["interruption_rate"]) if "interruption_rate" in o else ""
    if rebuild_offerings(zones, od, spot, rate) != t["offerings"]:
        raise DataError("%s: %s: offerings do not follow the embedded layout (one price per capacity type, "
                        "every zone of the region)" % (where, t["name"]))
    return od, spot, rate


def encode(specs):
    """The compact form of the catalogues specs ([(name, catalogue)]):

    per provider, the types' JSON without offerings, one line each (the last
    '}' left off), shared by all its regions; per region, a text whose first
    line opens the document, second line lists the zones, and then one line
    per type: "<index delta>,<on-demand>,<spot>,<interruption rate>" (empty
    fields where absent). pricing/embedded.c turns them back into JSON."""
    frags = {}
    for spec, cat in specs:
        seen = frags.setdefault(cat["provider"], {})
        for t in cat["instance_types"]:
            frag = dump({k: v for k, v in t.items() if k != "offerings"})[:-1]
            if seen.setdefault(t["name"], frag) != frag:
                raise DataError("%s: %s: shape or labels differ from another region's" % (spec, t["name"]))
    providers = sorted(frags)
    index = {p: {n: i for i, n in enumerate(sorted(frags[p]))} for p in providers}
    blobs = {p: "".join(frags[p][n] + "\n" for n in sorted(frags[p])) for p in providers}
    regions = []
    for spec, cat in specs:
        head = {k: v for k, v in cat.items() if k not in ("instance_types", "left_out")}
        zones = region_zones(cat["provider"], cat["region"])
        lines = [dump(head)[:-1] + ',"instance_types":[', " ".join(zones)]
        prev = 0
        for t in sorted(cat["instance_types"], key=lambda t: t["name"]):
            i = index[cat["provider"]][t["name"]]
            lines.append("%d,%s,%s,%s" % ((i - prev,) + price_row(t, zones, spec)))
            prev = i
        regions.append((spec, providers.index(cat["provider"]), "\n".join(lines) + "\n",
                        len(cat["instance_types"]), cat.get("left_out", 0)))
    return providers, [blobs[p] for p in providers], regions


def c_bytes(name, data):
    out = ["static const unsigned char %s[%d] = {" % (name, len(data))]
    for k in range(0, len(data), 24):
        out.append("    " + ",".join(str(b) for b in data[k:k + 24]) + ",")
    out += ["};", ""]
    return out


def to_c(specs, inputs):
    """The C source: the compact form (encode) of every catalogue, each piece
    deflated with zlib, as byte arrays.

    Byte arrays rather than string literals: ISO C only promises string
    literals of 4095 bytes, and -Woverlength-strings (part of -Wpedantic)
    rejects longer ones at any warning level that enables it.
    """
    providers, blobs, regions = encode(specs)
    out = ["/*", " * Embedded catalogues, generated by pricing/gen_catalog.py from"]
    out += [" * %s." % path for path in inputs]
    out += [" * Do not edit: change the CSV or the script and rebuild. To read",
            " * a catalogue, run gen_catalog.py --json.",
            " */",
            '#include "internal.h"',
            ""]
    for i, blob in enumerate(blobs):
        out += c_bytes("types_%d" % i, zlib.compress(blob.encode("ascii"), 9))
    for i, (_, _, text, _, _) in enumerate(regions):
        out += c_bytes("region_%d" % i, zlib.compress(text.encode("ascii"), 9))
    out.append("const struct stv__embedded_provider stv__embedded_providers[] = {")
    for i, (p, blob) in enumerate(zip(providers, blobs)):
        out.append("    {%s, types_%d, sizeof(types_%d), %d, %d}," % (c_string(p), i, i, len(blob), blob.count("\n")))
    out.append("    {0, 0, 0, 0, 0}};")
    out.append("")
    out.append("const struct stv__embedded_catalog stv__embedded_catalogs[] = {")
    for i, (spec, p, text, ntypes, left) in enumerate(regions):
        out.append("    {%s, %d, region_%d, sizeof(region_%d), %d, %d, %d},"
                   % (c_string(spec), p, i, i, len(text), ntypes, left))
    out.append("    {0, 0, 0, 0, 0, 0, 0}};")
    out.append("")
    return "\n".join(out)


def all_catalogs(pairs, regions_dir, only=None):
    """[(spec, catalogue)]: the pairs' catalogues first, in order, then every
    region of regions_dir that no pair names, by provider and region (only
    the provider only's, when given)."""
    specs = [(spec, build(spec, path)) for spec, path in pairs]
    if regions_dir is None:
        return specs
    named = {spec for spec, _ in specs}
    us_east_1 = dict(pairs).get("aws:us-east-1")
    if us_east_1 is None:
        raise DataError("--regions needs aws:us-east-1 CSV: the AWS regions take their shapes from it")
    found = {}
    for p in ("aws", "gcp", "azure"):
        if only is None or only == p:
            found[p] = aws_regions(regions_dir, us_east_1) if p == "aws" else cloud_regions(p, regions_dir)
    for p in sorted(found):
        for region, cat in sorted(found[p].items()):
            if "%s:%s" % (p, region) not in named:
                check_names(cat, region)
                specs.append(("%s:%s" % (p, region), cat))
    return specs


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--json", action="store_true",
                    help="write one catalogue as JSON instead of C: the first NAME, or --name")
    ap.add_argument("--name", metavar="NAME",
                    help="with --json: the catalogue to write (aws:eu-west-1 with --regions)")
    ap.add_argument("--regions", metavar="DIR",
                    help="also every region of DIR/aws.csv, gcp.csv and azure.csv")
    ap.add_argument("pairs", nargs="*", metavar="NAME CSV")
    args = ap.parse_args(argv)
    if len(args.pairs) % 2:
        ap.error("expected NAME CSV pairs")
    inputs = list(zip(args.pairs[0::2], args.pairs[1::2]))
    try:
        only = args.name.partition(":")[0] if args.json and args.name else None
        specs = all_catalogs(inputs, args.regions, only)
        if args.json:
            name = args.name or (inputs[0][0] if inputs else None)
            cat = dict(specs).get(name)
            if cat is None:
                raise DataError("no catalogue %s in the inputs" % name)
            text = "\n".join(to_json_lines(cat)) + "\n"
        else:
            paths = [path for _, path in inputs]
            if args.regions:
                paths += [os.path.join(args.regions, f) for f in ("aws.csv", "aws-shapes-extra.csv", "gcp.csv",
                                                                  "azure.csv")]
            text = to_c(specs, [os.path.relpath(p, os.path.dirname(os.path.abspath(__file__))) for p in paths])
    except (DataError, OSError) as e:
        print("gen_catalog.py: %s" % e, file=sys.stderr)
        return 1
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
