#!/usr/bin/env python3
"""A Google Cloud emulator for Stevedore's GCP adapter (cloud/gcp*.c):
the Compute Engine REST API v1 for managed instance groups, the OAuth 2.0
token endpoint of service-account keys (the JWT bearer grant, verified
with python3-google-auth) and the GCE metadata server's token and project
id. Python 3 standard library only, apart from google-auth for checking
assertions. docs/cloud-emulators.md ("GCP") describes what it serves.

    python3 tests/cloudemu/gcp.py --setup setup.json [--port 0] [--tls-dir D]
        [--kube-url URL --kube-token T --kube-ca F] [--launch-delay 1]

What it checks on every request: the method and path as the Compute
reference documents them, a Bearer token it issued and that has not
expired, the query and body parameters (size, instances, requestId),
and, when permissions are granted (setup "permissions"), the IAM
permission of each call; refusals are 4xx in Google's JSON error format.
Each call is logged with its permission (GET /_emu/calls). Faults are
switched with POST /_emu/faults (see Faults); GET /_emu/state dumps the
groups and instances.

With --kube-url the emulator plays the kubelet of the instances it
launches: once an instance is RUNNING it creates its Node (GKE's labels,
providerID gce://PROJECT/ZONE/NAME, capacity from pricing/data/) in the
Kubernetes API at that URL, and deletes it with the instance.
"""

import argparse
import base64
import csv
import hashlib
import http.server
import json
import os
import random
import re
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHAPES_CSV = os.path.join(ROOT, "pricing", "data", "gcp-us-east1.csv")
TOKEN_TTL = 3600
COMPUTE_SCOPES = ("https://www.googleapis.com/auth/compute", "https://www.googleapis.com/auth/cloud-platform")
BILLING_SCOPES = ("https://www.googleapis.com/auth/cloud-billing.readonly",
                  "https://www.googleapis.com/auth/cloud-billing", "https://www.googleapis.com/auth/cloud-platform")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GI, MI = 1 << 30, 1 << 20

# The IAM permission of each Compute call (the "permissions" of the
# Compute Engine IAM reference for each method).
PERMISSIONS = {
    "instanceGroupManagers.get": "compute.instanceGroupManagers.get",
    "instanceGroupManagers.list": "compute.instanceGroupManagers.list",
    "instanceGroupManagers.aggregatedList": "compute.instanceGroupManagers.list",
    "instanceGroupManagers.resize": "compute.instanceGroupManagers.update",
    "instanceGroupManagers.deleteInstances": "compute.instanceGroupManagers.update",
    "instanceGroupManagers.listManagedInstances": "compute.instanceGroupManagers.get",
    "instanceTemplates.get": "compute.instanceTemplates.get",
    "zoneOperations.get": "compute.zoneOperations.get",
    "zoneOperations.wait": "compute.zoneOperations.get",
    "regionOperations.get": "compute.regionOperations.get",
    "regionOperations.wait": "compute.regionOperations.get",
    "autoscalers.list": "compute.autoscalers.list",  # gcloud's describe asks; Stevedore does not
}


class GoogleError(Exception):
    """An error answer in Google's JSON format."""

    STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
              409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
              503: "UNAVAILABLE"}

    def __init__(self, code, reason, message, headers=None):
        Exception.__init__(self, message)
        self.code, self.reason, self.message, self.headers = code, reason, message, headers or {}

    def doc(self):
        return {"error": {"code": self.code, "message": self.message, "status": self.STATUS.get(self.code, "UNKNOWN"),
                          "errors": [{"message": self.message, "domain": "global" if self.code != 429
                                      else "usageLimits", "reason": self.reason}]}}


def gke_reserved_cpu(m):
    """Millicores GKE reserves on a node of m millicores (as pricing/catalog.c)."""
    def tier(lo, width):
        return max(0, min(m - lo, width))
    cdiv = lambda a, b: -(-a // b)  # noqa: E731
    return (cdiv(tier(0, 1000) * 6, 100) + cdiv(tier(1000, 1000), 100) + cdiv(tier(2000, 2000), 200)
            + cdiv(tier(4000, 1 << 62), 400))


def gke_reserved_memory(b):
    def tier(lo, width):
        return max(0, min(b - lo, width))
    cdiv = lambda a, c: -(-a // c)  # noqa: E731
    return (cdiv(tier(0, 4 * GI), 4) + cdiv(tier(4 * GI, 4 * GI), 5) + cdiv(tier(8 * GI, 8 * GI), 10)
            + cdiv(tier(16 * GI, 112 * GI) * 6, 100) + cdiv(tier(128 * GI, 1 << 62), 50))


def load_shapes():
    shapes = {}
    with open(SHAPES_CSV) as f:
        for row in csv.DictReader(f):
            shapes[row["machine_type"]] = (float(row["vcpu"]), float(row["memory_gib"]))
    return shapes


def machine_family(mt):
    return mt.split("-", 1)[0]


def arch_of(mt):
    return "arm64" if machine_family(mt) in ("t2a", "c4a") else "amd64"


# The Cloud Billing Catalog API ----------------------------------------------

BILLING_SERVICE = "6F81-5844-456A"  # Compute Engine
REGIONS_CSV = os.path.join(ROOT, "pricing", "data", "regions", "gcp.csv")
SKU_PAGE = 5000
SKU_TIME = "2026-08-03T07:00:00Z"  # when the figures of pricing/data were last refreshed (its README)
# The words before "Core"/"Ram" in the descriptions of each family's SKUs
# where they differ from "FAMILY Instance" (the catalogue's own quirks).
SKU_STEMS = {"n1": "N1 Predefined Instance", "c2": "Compute optimized", "m1": "Memory-optimized Instance",
             "n2d": "N2D AMD Instance", "c2d": "C2D AMD Instance", "t2d": "T2D AMD Instance",
             "t2a": "T2A Arm Instance"}
SKU_GEO = {"us-east1": "South Carolina", "us-central1": "Iowa", "us-east4": "Virginia", "us-west1": "Oregon",
           "europe-west1": "Belgium", "europe-west3": "Frankfurt", "europe-west4": "Netherlands",
           "asia-northeast1": "Tokyo"}
SHARED_CORE = {"e2-micro": 0.25, "e2-small": 0.5, "e2-medium": 1.0}


def region_rows(region):
    """(machine type, vCPUs, GiB, GPUs, on-demand, spot or None) of region in pricing/data/regions/gcp.csv."""
    with open(REGIONS_CSV) as f:
        return [(r["machine_type"], float(r["vcpu"]), float(r["memory_gib"]), int(r["gpu_count"] or 0),
                 float(r["od_usd_h"]), float(r["spot_usd_h"]) if r["spot_usd_h"] else None)
                for r in csv.DictReader(f) if r["region"] == region]


def fit_family(rows):
    """The core and GiB prices that best reproduce rows' (vCPUs, GiB, price), least squares on the relative
    error; a family of one memory ratio has no unique answer: its memory then costs 0.134 x a core per
    GiB (N2's ratio)."""
    a = b = d = e = f = 0.0
    for v, m, p in rows:
        w = 1.0 / (p * p)
        a, b, d, e, f = a + w * v * v, b + w * v * m, d + w * m * m, e + w * v * p, f + w * m * p
    det = a * d - b * b
    if abs(det) > 1e-9 * max(a * d, 1e-30):
        core, ram = (e * d - b * f) / det, (a * f - b * e) / det
        if core > 0 and ram > 0:
            return core, ram
    k = 0.134
    num = sum(p * (v + k * m) / (p * p) for v, m, p in rows)
    den = sum((v + k * m) ** 2 / (p * p) for v, m, p in rows)
    core = num / den
    return core, k * core


def money(x):
    """A google.type.Money of USD x."""
    units = int(x)
    return {"currencyCode": "USD", "units": str(units), "nanos": int(round((x - units) * 1e9))}


def sku_doc(sku_id, desc, group, usage, regions, unit, price):
    """A SKU as services.skus.list returns it."""
    ram = unit == "GiBy.h"
    return {"name": "services/%s/skus/%s" % (BILLING_SERVICE, sku_id), "skuId": sku_id, "description": desc,
            "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute",
                         "resourceGroup": group, "usageType": usage},
            "serviceRegions": list(regions),
            "pricingInfo": [{"summary": "", "pricingExpression": {
                "usageUnit": unit, "displayQuantity": 1, "usageUnitDescription": "gibibyte hour" if ram else "hour",
                "baseUnit": "By.s" if ram else "s", "baseUnitDescription": "byte second" if ram else "second",
                "baseUnitConversionFactor": 3865470566400 if ram else 3600,
                "tieredRates": [{"startUsageAmount": 0, "unitPrice": money(price)}]},
                "currencyConversionRate": 1, "effectiveTime": SKU_TIME}],
            "serviceProviderName": "Google", "geoTaxonomy": {"type": "REGIONAL", "regions": list(regions)}}


def region_skus(region):
    """The Compute SKUs of region: each predefined family's core and RAM prices, on demand and spot, fitted to
    the region's machine types in pricing/data (GPU, local-SSD and shared-core types left out of the fit);
    f1-micro and g1-small priced whole; and the SKUs a reader must pass over (custom, sole-tenant,
    commitment, network)."""
    fams = {}
    whole = {}
    for mt, v, m, gpu, od, spot in region_rows(region):
        if mt in ("f1-micro", "g1-small"):
            whole[mt] = (od, spot)
            continue
        if gpu or "lssd" in mt or mt in SHARED_CORE:
            continue
        fam = machine_family(mt)
        fams.setdefault(fam, ([], []))
        fams[fam][0].append((v, m, od))
        if spot is not None:
            fams[fam][1].append((v, m, spot))
    geo = SKU_GEO.get(region, region)
    skus = []

    def add(desc, group, usage, unit, price, regions=(region,)):
        h = hashlib.sha1(("%s/%s/%s" % (region, desc, usage)).encode()).hexdigest()[:12].upper()
        skus.append(sku_doc("%s-%s-%s" % (h[:4], h[4:8], h[8:12]), desc, group, usage, regions, unit, price))
    for fam in sorted(fams):
        stem = SKU_STEMS.get(fam, fam.upper() + " Instance")
        group_core, group_ram = ("N1Standard", "N1Standard") if fam == "n1" else ("CPU", "RAM")
        for usage, prefix, rows in (("OnDemand", "", fams[fam][0]), ("Preemptible", "Spot Preemptible ",
                                                                       fams[fam][1])):
            if not rows:
                continue
            core, ram = fit_family(rows)
            add("%s%s Core running in %s" % (prefix, stem, geo), group_core, usage, "h", core)
            add("%s%s Ram running in %s" % (prefix, stem, geo), group_ram, usage, "GiBy.h", ram)
            if usage == "OnDemand":  # what the reader must pass over
                add("%s Custom Instance Core running in %s" % (fam.upper(), geo), "CPU", usage, "h", core * 1.05)
                add("Commitment v1: %s Cpu in %s for 1 Year" % (fam.upper(), geo), "CPU", "Commit1Yr", "h",
                    core * 0.63)
    for mt, (od, spot) in sorted(whole.items()):
        desc = "Micro Instance with burstable CPU" if mt == "f1-micro" else "Small Instance with 1 VCPU"
        group = "F1Micro" if mt == "f1-micro" else "G1Small"
        add("%s running in %s" % (desc, geo), group, "OnDemand", "h", od)
        if spot is not None:
            add("Spot Preemptible %s running in %s" % (desc, geo), group, "Preemptible", "h", spot)
    add("Network Internet Egress from %s to Americas" % geo, "PremiumInternetEgress", "OnDemand", "GiBy", 0.12)
    add("N2 Sole Tenancy Instance Core running in %s" % geo, "CPU", "OnDemand", "h", 0.05)
    return skus


class Faults(object):
    """Switched by POST /_emu/faults (fields optional, merged):
    throttle N             the next N Compute calls answer 429 rateLimitExceeded (Retry-After 1);
    capacity "TYPE/ZONE"   (or a list) resizes that would launch TYPE in ZONE end in an
                           operation error ZONE_RESOURCE_POOL_EXHAUSTED, size unchanged;
    stockout "TYPE/ZONE"   (or a list) instances of TYPE in ZONE stay CREATING with
                           lastAttempt.errors ZONE_RESOURCE_POOL_EXHAUSTED (a MIG's stockout);
    quota N                the next N resizes end in an operation error QUOTA_EXCEEDED;
    expire_credentials     every access token issued so far expires now (401 on use);
    malformed N            the next N Compute answers are a 200 with a body that is not JSON;
    server_error N         the next N Compute calls answer 503 backendError;
    billing_throttle N     the next N skus.list calls answer 429 RESOURCE_EXHAUSTED (Retry-After 1);
    billing_malformed N    the next N skus.list answers are a 200 with a body that is not JSON;
    billing_forbidden      skus.list answers 403 accessNotConfigured (the Cloud Billing API not enabled in
                           the project) until set false."""

    def __init__(self):
        self.throttle = self.quota = self.malformed = self.server_error = 0
        self.billing_throttle = self.billing_malformed = 0
        self.billing_forbidden = False
        self.capacity, self.stockout = set(), set()

    def update(self, doc):
        for k in ("throttle", "quota", "malformed", "server_error", "billing_throttle", "billing_malformed"):
            if k in doc:
                if not isinstance(doc[k], int) or doc[k] < 0:
                    raise GoogleError(400, "invalid", "faults.%s: a count >= 0" % k)
                setattr(self, k, doc[k])
        for k in ("capacity", "stockout"):
            if k in doc:
                v = doc[k]
                v = [v] if isinstance(v, str) else v
                if not isinstance(v, list) or not all(isinstance(x, str) and "/" in x for x in v):
                    raise GoogleError(400, "invalid", "faults.%s: \"TYPE/ZONE\" or a list of them" % k)
                setattr(self, k, set(v))
        if "billing_forbidden" in doc:
            if not isinstance(doc["billing_forbidden"], bool):
                raise GoogleError(400, "invalid", "faults.billing_forbidden: true or false")
            self.billing_forbidden = doc["billing_forbidden"]
        unknown = set(doc) - {"throttle", "quota", "malformed", "server_error", "capacity", "stockout",
                              "expire_credentials", "billing_throttle", "billing_malformed", "billing_forbidden"}
        if unknown:
            raise GoogleError(400, "invalid", "faults: unknown field(s) %s" % ", ".join(sorted(unknown)))

    def take(self, name):
        n = getattr(self, name)
        if n > 0:
            setattr(self, name, n - 1)
            return True
        return False

    def doc(self):
        return {"throttle": self.throttle, "quota": self.quota, "malformed": self.malformed,
                "server_error": self.server_error, "capacity": sorted(self.capacity),
                "stockout": sorted(self.stockout), "billing_throttle": self.billing_throttle,
                "billing_malformed": self.billing_malformed, "billing_forbidden": self.billing_forbidden}


class Emulator(object):
    """The emulator's state; start() serves it on 127.0.0.1:port."""

    def __init__(self, setup, port=0, tls_dir=None, kube_url=None, kube_token=None, kube_ca=None,
                 launch_delay=1.0, op_delay=0.3, token_ttl=TOKEN_TTL, verbose=False):
        self.lock = threading.RLock()
        self.port, self.tls_dir, self.verbose = port, tls_dir, verbose
        self.kube_url, self.kube_token, self.kube_ca = kube_url, kube_token, kube_ca
        self.launch_delay, self.op_delay, self.token_ttl = launch_delay, op_delay, token_ttl
        self.shapes = load_shapes()
        self.faults = Faults()
        self.tokens = {}  # access token -> (expiry, who)
        self.calls = []   # {"method", "permission", "path", "status", "who"}
        self.operations = {}  # name -> operation doc (mutable)
        self.requests = {}  # requestId -> operation name
        self.instances = {}  # name -> instance dict
        self.stopping = threading.Event()
        self.server = None
        self.ca_file = None
        self.load(setup)

    # Setup -----------------------------------------------------------------

    def load(self, setup):
        """setup: {"project", "permissions": [..] (absent: all granted),
        "serviceAccounts": [{"client_email", "certificate" (PEM)}],
        "templates": [{"name", "region"?, "machineType", "provisioningModel" STANDARD|SPOT|
                       "preemptible", "nodePool", "nodeLabels", "nodeTaints": ["k=v:Effect"]}],
        "groups": [{"name", "zone" | "region" + "zones", "template", "targetSize",
                    "baseInstanceName"?}],
        "billingRegions": ["us-east1"] (the default): the regions whose Compute SKUs skus.list serves,
        "skuPageSize": 5000 (the default): the most SKUs on one page, whatever pageSize asks}"""
        self.project = setup.get("project", "stevedore-test")
        self.skus = []
        self.sku_page = int(setup.get("skuPageSize", SKU_PAGE))
        for region in setup.get("billingRegions", ["us-east1"]):
            skus = region_skus(region)
            if not skus:
                raise ValueError("billingRegions: %s has no rows in %s" % (region, REGIONS_CSV))
            self.skus += skus
        self.permissions = set(setup["permissions"]) if "permissions" in setup else None
        self.service_accounts = {sa["client_email"]: sa["certificate"] for sa in setup.get("serviceAccounts", [])}
        self.templates, self.groups = {}, {}
        for t in setup.get("templates", []):
            if t["machineType"] not in self.shapes:
                raise ValueError("template %s: machine type %s not in %s" % (t["name"], t["machineType"], SHAPES_CSV))
            self.templates[t["name"]] = t
        for g in setup.get("groups", []):
            if g["template"] not in self.templates:
                raise ValueError("group %s: no template %s" % (g["name"], g["template"]))
            zones = [g["zone"]] if "zone" in g else list(g["zones"])
            region = g.get("region") or g["zone"].rsplit("-", 1)[0]
            self.groups[g["name"]] = {"name": g["name"], "zonal": "zone" in g, "zones": zones, "region": region,
                                      "template": g["template"], "targetSize": int(g.get("targetSize", 0)),
                                      "base": g.get("baseInstanceName", re.sub(r"-grp$", "", g["name"])),
                                      "id": str(random.randrange(10 ** 17, 10 ** 18)),
                                      "creationTimestamp": rfc3339(time.time())}

    # Links -----------------------------------------------------------------

    def base(self):
        return "%s://127.0.0.1:%d/compute/v1/projects/%s" % ("https" if self.tls_dir else "http", self.port,
                                                              self.project)

    def scope_of(self, g):
        return "zones/%s" % g["zones"][0] if g["zonal"] else "regions/%s" % g["region"]

    def group_link(self, g):
        return "%s/%s/instanceGroupManagers/%s" % (self.base(), self.scope_of(g), g["name"])

    def template_link(self, t):
        if t.get("region"):
            return "%s/regions/%s/instanceTemplates/%s" % (self.base(), t["region"], t["name"])
        return "%s/global/instanceTemplates/%s" % (self.base(), t["name"])

    def instance_link(self, inst):
        return "%s/zones/%s/instances/%s" % (self.base(), inst["zone"], inst["name"])

    # Documents -------------------------------------------------------------

    def group_doc(self, g):
        t = self.templates[g["template"]]
        members = [i for i in self.instances.values() if i["group"] == g["name"]]
        actions = {k: 0 for k in ("abandoning", "creating", "creatingWithoutRetries", "deleting", "none",
                                  "recreating", "refreshing", "restarting", "resuming", "starting", "stopping",
                                  "suspending", "verifying")}
        for i in members:
            key = {"NONE": "none", "CREATING": "creating", "DELETING": "deleting"}[i["currentAction"]]
            actions[key] += 1
        d = {"kind": "compute#instanceGroupManager", "id": g["id"], "creationTimestamp": g["creationTimestamp"],
             "name": g["name"], "instanceTemplate": self.template_link(t),
             "versions": [{"instanceTemplate": self.template_link(t), "targetSize": {"calculated": g["targetSize"]}}],
             "instanceGroup": self.group_link(g).replace("instanceGroupManagers", "instanceGroups"),
             "baseInstanceName": g["base"], "fingerprint": base64.b64encode(os.urandom(8)).decode(),
             "currentActions": actions, "status": {"isStable": actions["none"] == len(members),
                                                   "versionTarget": {"isReached": True}},
             "targetSize": g["targetSize"], "selfLink": self.group_link(g),
             "updatePolicy": {"type": "OPPORTUNISTIC", "instanceRedistributionType": "NONE",
                              "minimalAction": "REPLACE", "maxSurge": {"fixed": 0, "calculated": 0},
                              "maxUnavailable": {"fixed": 1, "calculated": 1}, "replacementMethod": "SUBSTITUTE"}}
        if g["zonal"]:
            d["zone"] = "%s/zones/%s" % (self.base(), g["zones"][0])
        else:
            d["region"] = "%s/regions/%s" % (self.base(), g["region"])
            d["distributionPolicy"] = {"zones": [{"zone": "%s/zones/%s" % (self.base(), z)} for z in g["zones"]],
                                       "targetShape": "EVEN"}
        return d

    def template_doc(self, t):
        sched = {"onHostMaintenance": "TERMINATE" if t.get("provisioningModel") == "SPOT" else "MIGRATE",
                 "automaticRestart": t.get("provisioningModel") != "SPOT" and not t.get("preemptible"),
                 "preemptible": bool(t.get("preemptible")) or t.get("provisioningModel") == "SPOT"}
        if t.get("provisioningModel"):
            sched["provisioningModel"] = t["provisioningModel"]
        if t.get("provisioningModel") == "SPOT":
            sched["instanceTerminationAction"] = "STOP"
        labels = {"goog-gke-node": "", "goog-k8s-cluster-name": "stevedore"}
        env_labels = dict(self.gke_labels(t), **t.get("nodeLabels", {}))
        autoscaler_env = "node_labels=%s;node_taints=%s;os=linux;os_distribution=cos" % (
            ",".join("%s=%s" % kv for kv in sorted(env_labels.items())), ",".join(t.get("nodeTaints", [])))
        kube_env = "\n".join(["CLUSTER_NAME: stevedore", "AUTOSCALER_ENV_VARS: " + autoscaler_env,
                              "KUBELET_ARGS: --v=2 --node-labels=%s" % ",".join(
                                  "%s=%s" % kv for kv in sorted(env_labels.items())),
                              "KUBERNETES_MASTER_NAME: 10.0.0.2"])
        d = {"kind": "compute#instanceTemplate", "id": str(abs(hash(t["name"])) % 10 ** 18),
             "creationTimestamp": rfc3339(0), "name": t["name"], "selfLink": self.template_link(t),
             "properties": {"machineType": t["machineType"], "canIpForward": False, "tags": {"items": ["gke-node"]},
                            "labels": labels, "scheduling": sched,
                            "metadata": {"kind": "compute#metadata", "fingerprint": "Kp2bEzQ8mGc=",
                                         "items": [{"key": "kube-env", "value": kube_env},
                                                   {"key": "cluster-name", "value": "stevedore"}]},
                            "disks": [{"kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": "READ_WRITE",
                                       "boot": True, "autoDelete": True,
                                       "initializeParams": {"diskSizeGb": "100", "diskType": "pd-balanced"}}],
                            "networkInterfaces": [{"kind": "compute#networkInterface",
                                                   "network": "%s/global/networks/default" % self.base()}]}}
        if t.get("region"):
            d["region"] = "%s/regions/%s" % (self.base(), t["region"])
        return d

    def gke_labels(self, t):
        out = {"cloud.google.com/gke-nodepool": t.get("nodePool", t["name"]),
               "cloud.google.com/machine-family": machine_family(t["machineType"]),
               "cloud.google.com/gke-os-distribution": "cos", "cloud.google.com/gke-boot-disk": "pd-balanced"}
        if t.get("provisioningModel") == "SPOT":
            out["cloud.google.com/gke-spot"] = "true"
            out["cloud.google.com/gke-provisioning"] = "spot"
        elif t.get("preemptible"):
            out["cloud.google.com/gke-preemptible"] = "true"
            out["cloud.google.com/gke-provisioning"] = "preemptible"
        else:
            out["cloud.google.com/gke-provisioning"] = "standard"
        return out

    def managed_doc(self, inst):
        d = {"instance": self.instance_link(inst), "id": inst["id"], "currentAction": inst["currentAction"],
             "name": inst["name"], "version": {"instanceTemplate": self.template_link(
                 self.templates[self.groups[inst["group"]]["template"]])}}
        if inst["status"] is not None:
            d["instanceStatus"] = inst["status"]
        if inst.get("error"):
            d["lastAttempt"] = {"errors": {"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": inst["error"]}]}}
        return d

    def state(self):
        with self.lock:
            return {"project": self.project,
                    "groups": {n: {"targetSize": g["targetSize"], "zones": g["zones"], "template": g["template"]}
                               for n, g in self.groups.items()},
                    "instances": {n: {k: i[k] for k in ("group", "zone", "status", "currentAction", "error")}
                                  for n, i in self.instances.items()},
                    "faults": self.faults.doc(),
                    "operations": len(self.operations), "tokens": len(self.tokens)}

    # Operations ------------------------------------------------------------

    def new_operation(self, kind, g, scope, request_id, error=None, user="stevedore"):
        name = "operation-%d-%s" % (int(time.time() * 1000), uuid.uuid4().hex[:12])
        link = "%s/%s/operations/%s" % (self.base(), scope, name)
        op = {"kind": "compute#operation", "id": str(random.randrange(10 ** 17, 10 ** 18)), "name": name,
              "operationType": kind, "targetLink": self.group_link(g), "targetId": g["id"], "status": "RUNNING",
              "user": user, "progress": 0, "insertTime": rfc3339(time.time()), "startTime": rfc3339(time.time()),
              "selfLink": link}
        if scope.startswith("zones/"):
            op["zone"] = "%s/%s" % (self.base(), scope)
        else:
            op["region"] = "%s/%s" % (self.base(), scope)
        op["_done_at"], op["_error"] = time.time() + self.op_delay, error
        self.operations[name] = op
        if request_id:
            self.requests[request_id] = name
        return op

    def op_view(self, op):
        if op["status"] != "DONE" and time.time() >= op["_done_at"]:
            op["status"], op["progress"], op["endTime"] = "DONE", 100, rfc3339(time.time())
            if op["_error"]:
                code, msg, http_code = op["_error"]
                op["error"] = {"errors": [{"code": code, "message": msg}]}
                op["httpErrorStatusCode"], op["httpErrorMessage"] = http_code, "SERVICE UNAVAILABLE" \
                    if http_code == 503 else "FORBIDDEN"
        return {k: v for k, v in op.items() if not k.startswith("_")}

    # Instances -------------------------------------------------------------

    def launch(self, g, n):
        """n new instances of g, spread over its zones (the emptiest first)."""
        t = self.templates[g["template"]]
        for _ in range(n):
            counts = {z: 0 for z in g["zones"]}
            for i in self.instances.values():
                if i["group"] == g["name"] and i["zone"] in counts:
                    counts[i["zone"]] += 1
            zone = min(g["zones"], key=lambda z: (counts[z], g["zones"].index(z)))
            name = "%s-%s" % (g["base"], "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                                                 for _ in range(4)))
            stock = "%s/%s" % (t["machineType"], zone) in self.faults.stockout
            self.instances[name] = {"name": name, "group": g["name"], "zone": zone,
                                    "id": str(random.randrange(10 ** 17, 10 ** 18)),
                                    "status": None if stock else "PROVISIONING", "currentAction": "CREATING",
                                    "error": ("The zone 'projects/%s/zones/%s' does not have enough resources "
                                              "available to fulfill the request. Try a different zone, or try "
                                              "again later." % (self.project, zone)) if stock else None,
                                    "running_at": time.time() + self.launch_delay, "node": False}

    def tick(self):
        """Advances instances: PROVISIONING -> RUNNING after the launch
        delay (Node created), DELETING -> gone (Node deleted)."""
        todo = []
        with self.lock:
            now = time.time()
            for name, i in list(self.instances.items()):
                if i["currentAction"] == "CREATING" and i["error"] is None and now >= i["running_at"]:
                    i["status"], i["currentAction"] = "RUNNING", "NONE"
                    todo.append(("create", i))
                elif i["currentAction"] == "DELETING" and now >= i["gone_at"]:
                    del self.instances[name]
                    todo.append(("delete", i))
        for what, i in todo:
            if self.kube_url:
                self.kube_node(what, i)

    def ticker(self):
        while not self.stopping.wait(0.1):
            try:
                self.tick()
            except Exception as e:  # keep ticking; say why
                self.log("tick failed: %s" % e)

    def node_doc(self, i):
        g = self.groups[i["group"]]
        t = self.templates[g["template"]]
        mt = t["machineType"]
        vcpu, mem_gib = self.shapes[mt]
        cpu_m, mem_b = int(vcpu * 1000), int(mem_gib * GI)
        alloc_cpu = cpu_m - gke_reserved_cpu(cpu_m)
        alloc_mem = max(0, mem_b - gke_reserved_memory(mem_b) - 100 * MI)
        ct = "spot" if t.get("provisioningModel") == "SPOT" or t.get("preemptible") else "on-demand"
        labels = {"node.kubernetes.io/instance-type": mt, "beta.kubernetes.io/instance-type": mt,
                  "topology.kubernetes.io/zone": i["zone"], "topology.kubernetes.io/region": g["region"],
                  "failure-domain.beta.kubernetes.io/zone": i["zone"],
                  "kubernetes.io/arch": arch_of(mt), "kubernetes.io/os": "linux", "kubernetes.io/hostname": i["name"],
                  "karpenter.sh/capacity-type": ct, "topology.gke.io/zone": i["zone"]}
        labels.update(self.gke_labels(t))
        labels.update(t.get("nodeLabels", {}))
        taints = []
        for s in t.get("nodeTaints", []):
            kv, eff = s.rsplit(":", 1)
            k, _, v = kv.partition("=")
            taints.append(dict({"key": k, "effect": eff}, **({"value": v} if v else {})))
        ts = rfc3339(time.time())
        res = {"cpu": "%dm" % alloc_cpu, "memory": "%dKi" % (alloc_mem // 1024), "pods": "110",
               "ephemeral-storage": "47060071478"}
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": i["name"], "labels": labels,
                             "annotations": {"container.googleapis.com/instance_id": i["id"]}},
                "spec": dict({"providerID": "gce://%s/%s/%s" % (self.project, i["zone"], i["name"]),
                              "podCIDR": "10.64.%d.0/24" % random.randrange(256)}, **({"taints": taints} if taints else {})),
                "status": {"capacity": {"cpu": str(int(vcpu)) if vcpu == int(vcpu) else "%dm" % cpu_m,
                                        "memory": "%dKi" % (mem_b // 1024), "pods": "110",
                                        "ephemeral-storage": "98831908Ki"},
                           "allocatable": res,
                           "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                           "message": "kubelet is posting ready status. AppArmor enabled",
                                           "lastHeartbeatTime": ts, "lastTransitionTime": ts}],
                           "nodeInfo": {"architecture": arch_of(mt), "operatingSystem": "linux",
                                        "kubeletVersion": "v1.29.6-gke.1038001",
                                        "osImage": "Container-Optimized OS from Google"}}}

    def kube_node(self, what, i):
        """Creates or deletes the Node of instance i in the Kubernetes API,
        trying for up to 20 s."""
        path = "/api/v1/nodes" if what == "create" else "/api/v1/nodes/" + i["name"]
        body = json.dumps(self.node_doc(i)).encode() if what == "create" else None
        ctx = ssl.create_default_context(cafile=self.kube_ca) if self.kube_ca else None
        end = time.time() + 20
        while not self.stopping.is_set():
            req = urllib.request.Request(self.kube_url.rstrip("/") + path, data=body,
                                         method="POST" if what == "create" else "DELETE")
            req.add_header("Content-Type", "application/json")
            if self.kube_token:
                req.add_header("Authorization", "Bearer " + self.kube_token)
            try:
                urllib.request.urlopen(req, context=ctx, timeout=10).read()
                self.log("node %s: %sd" % (i["name"], what))
                return
            except urllib.error.HTTPError as e:
                if (what == "create" and e.code == 409) or (what == "delete" and e.code == 404):
                    return
                err = "%d %s" % (e.code, e.read()[:200])
            except (OSError, ValueError) as e:
                err = str(e)
            if time.time() > end:
                self.log("node %s: cannot %s it: %s" % (i["name"], what, err))
                return
            time.sleep(0.3)

    # Serving ---------------------------------------------------------------

    def log(self, msg):
        if self.verbose:
            sys.stderr.write("gcp-emulator: %s\n" % msg)

    def start(self):
        ctx = None
        if self.tls_dir:
            sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kubeapi"))
            import emu_tls
            self.ca_file, _ = emu_tls.make_ca(self.tls_dir)
            crt, key = emu_tls.make_cert(self.tls_dir, "gcp-server", "localhost", server=True)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(crt, key)
        self.server = Server(self, ("127.0.0.1", self.port), ctx)
        self.port = self.server.server_address[1]
        for fn in (self.server.serve_forever, self.ticker):
            threading.Thread(target=fn, daemon=True).start()
        return self

    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls_dir else "http", self.port)

    def stop(self):
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def rfc3339(t):
    """Compute's timestamps: "2024-05-01T10:20:30.123-07:00" (here UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime(t))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emu, address, ctx):
        self.emu, self.ctx = emu, ctx
        http.server.ThreadingHTTPServer.__init__(self, address, Handler)

    def finish_request(self, request, client_address):
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ctx is not None:
                request.settimeout(30)
                request = self.ctx.wrap_socket(request, server_side=True)
                request.settimeout(None)
            Handler(request, client_address, self)
        except (ConnectionError, ssl.SSLError, OSError):
            pass


# Request handling -----------------------------------------------------------

SCOPE = r"(?P<scope>(?:zones|regions)/[a-z0-9-]+)"
ROUTES = [  # (method, path regex below /compute/v1/projects/P/, method name)
    ("GET", r"aggregated/instanceGroupManagers", "instanceGroupManagers.aggregatedList"),
    ("GET", SCOPE + r"/instanceGroupManagers", "instanceGroupManagers.list"),
    ("GET", SCOPE + r"/instanceGroupManagers/(?P<name>[a-z0-9-]+)", "instanceGroupManagers.get"),
    ("POST", SCOPE + r"/instanceGroupManagers/(?P<name>[a-z0-9-]+)/resize", "instanceGroupManagers.resize"),
    ("POST", SCOPE + r"/instanceGroupManagers/(?P<name>[a-z0-9-]+)/deleteInstances",
     "instanceGroupManagers.deleteInstances"),
    ("POST", SCOPE + r"/instanceGroupManagers/(?P<name>[a-z0-9-]+)/listManagedInstances",
     "instanceGroupManagers.listManagedInstances"),
    ("GET", r"zones/[a-z0-9-]+/autoscalers", "autoscalers.list"),
    ("GET", r"regions/[a-z0-9-]+/autoscalers", "autoscalers.list"),
    ("GET", r"global/instanceTemplates/(?P<name>[a-z0-9-]+)", "instanceTemplates.get"),
    ("GET", r"regions/(?P<region>[a-z0-9-]+)/instanceTemplates/(?P<name>[a-z0-9-]+)", "instanceTemplates.get"),
    ("GET", r"zones/(?P<zone>[a-z0-9-]+)/operations/(?P<op>[a-z0-9-]+)", "zoneOperations.get"),
    ("POST", r"zones/(?P<zone>[a-z0-9-]+)/operations/(?P<op>[a-z0-9-]+)/wait", "zoneOperations.wait"),
    ("GET", r"regions/(?P<region>[a-z0-9-]+)/operations/(?P<op>[a-z0-9-]+)", "regionOperations.get"),
    ("POST", r"regions/(?P<region>[a-z0-9-]+)/operations/(?P<op>[a-z0-9-]+)/wait", "regionOperations.wait"),
]
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
MAX_RESULTS = 500


def page(items, q):
    """items[offset: offset + maxResults] and the next page's token."""
    try:
        n = int(q.get("maxResults", MAX_RESULTS))
        off = int(base64.urlsafe_b64decode(q["pageToken"]).decode()) if q.get("pageToken") else 0
    except (ValueError, TypeError):
        raise GoogleError(400, "invalid", "Invalid value for field 'pageToken' or 'maxResults'.")
    if n <= 0 or n > MAX_RESULTS:
        raise GoogleError(400, "invalid", "Invalid value for field 'maxResults': %d. Must be in [1, 500]." % n)
    nxt = base64.urlsafe_b64encode(str(off + n).encode()).decode() if off + n < len(items) else None
    return items[off:off + n], nxt


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gcp-emulator"

    def log_message(self, fmt, *args):
        self.server.emu.log(fmt % args)

    def send(self, code, body, ctype="application/json; charset=UTF-8", headers=None):
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if not isinstance(body, str)
                                                      else body.encode())
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def json_body(self):
        raw = self.body()
        if not raw:
            return {}
        try:
            doc = json.loads(raw)
        except ValueError as e:
            raise GoogleError(400, "parseError", "Invalid JSON payload received. %s" % e)
        if not isinstance(doc, dict):
            raise GoogleError(400, "parseError", "Invalid JSON payload received. Expected an object.")
        return doc

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, verb):
        emu = self.server.emu
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        try:
            if u.path.startswith("/_emu/"):
                return self.control(verb, u.path[len("/_emu/"):])
            if u.path == "/" or u.path.startswith("/computeMetadata/"):
                return self.metadata(u.path, q)
            if u.path == "/token" and verb == "POST":
                return self.token()
            if u.path == "/v1/services/%s/skus" % BILLING_SERVICE and verb == "GET":
                return self.skus(q)
            prefix = "/compute/v1/projects/"
            if not u.path.startswith(prefix):
                raise GoogleError(404, "notFound", "The requested URL %s was not found on this server." % u.path)
            project, _, rest = u.path[len(prefix):].partition("/")
            for method, pattern, name in ROUTES:
                m = re.fullmatch(pattern, rest)
                if m and method == verb:
                    return self.compute(name, project, m.groupdict(), q, u.path)
            raise GoogleError(404, "notFound", "The requested URL %s was not found on this server." % u.path)
        except GoogleError as e:
            self.send(e.code, e.doc(), headers=e.headers)
        except (KeyError, ValueError, TypeError) as e:  # a request the emulator cannot read: say so, do not hang up
            err = GoogleError(400, "invalid", "the emulator cannot handle this request: %s: %s"
                              % (type(e).__name__, e))
            self.send(400, err.doc())

    # Control ---------------------------------------------------------------

    def control(self, verb, what):
        emu = self.server.emu
        with emu.lock:
            if what == "faults" and verb == "POST":
                doc = self.json_body()
                emu.faults.update(doc)
                if doc.get("expire_credentials"):
                    emu.tokens = {t: (0, who) for t, (_, who) in emu.tokens.items()}
                return self.send(200, emu.faults.doc())
            if what == "faults" and verb == "GET":
                return self.send(200, emu.faults.doc())
            if what == "calls" and verb == "GET":
                return self.send(200, emu.calls)
            if what == "calls" and verb == "DELETE":
                emu.calls = []
                return self.send(200, {})
            if what == "group" and verb == "POST":  # set a group's size out of band: {"name", "targetSize"}
                doc = self.json_body()
                g = emu.groups[doc["name"]]
                self.apply_size(g, int(doc["targetSize"]))
                return self.send(200, emu.group_doc(g))
        if what == "state" and verb == "GET":
            return self.send(200, emu.state())
        raise GoogleError(404, "notFound", "no control endpoint %s %s" % (verb, what))

    # Metadata server and token endpoint ------------------------------------

    def metadata(self, path, q):
        emu = self.server.emu
        hdr = {"Metadata-Flavor": "Google"}
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.send(403, "Missing required header: Metadata-Flavor\n", "text/html", hdr)
        if path == "/":
            return self.send(200, "computeMetadata/\n", "application/text", hdr)
        # The default account, by alias or by its email.
        path = re.sub(r"^(/computeMetadata/v1/instance/service-accounts/)stevedore@[a-z0-9-]+\.iam\.gserviceaccount\.com",
                      r"\1default", path)
        sa = "/computeMetadata/v1/instance/service-accounts/default"
        if path == "/computeMetadata/v1/project/project-id":
            return self.send(200, emu.project, "application/text", hdr)
        if path in (sa, sa + "/") and q.get("recursive") == "true":
            return self.send(200, {"aliases": ["default"], "email": "stevedore@%s.iam.gserviceaccount.com"
                                   % emu.project, "scopes": list(COMPUTE_SCOPES)}, "application/json", hdr)
        if path == sa + "/token":
            with emu.lock:
                tok = self.issue("metadata")
            return self.send(200, {"access_token": tok, "expires_in": emu.token_ttl, "token_type": "Bearer"},
                             "application/json", hdr)
        if path == sa + "/email":
            return self.send(200, "stevedore@%s.iam.gserviceaccount.com" % emu.project, "application/text", hdr)
        return self.send(404, "Not Found\n", "text/html", hdr)

    def issue(self, who):
        emu = self.server.emu
        tok = "ya29.emu-" + uuid.uuid4().hex + uuid.uuid4().hex
        emu.tokens[tok] = (time.time() + emu.token_ttl, who)
        return tok

    def token(self):
        """The JWT bearer grant (RFC 7523) as oauth2.googleapis.com/token
        takes it; the assertion verified with google-auth."""
        emu = self.server.emu
        form = dict(urllib.parse.parse_qsl(self.body().decode("utf-8", "replace")))

        def refuse(err, desc):
            self.send(400, {"error": err, "error_description": desc})
        if form.get("grant_type") != JWT_BEARER:
            return refuse("unsupported_grant_type", "Invalid grant_type: %s" % form.get("grant_type", ""))
        assertion = form.get("assertion", "")
        try:
            from google.auth import jwt as gjwt
            unverified = gjwt.decode(assertion, verify=False)
            iss = unverified.get("iss")
            cert = emu.service_accounts.get(iss)
            if cert is None:
                return refuse("invalid_grant", "Invalid JWT Signature.")  # Google's words for an unknown key
            claims = gjwt.decode(assertion, certs=cert, audience=emu.url() + "/token")
        except ValueError as e:
            return refuse("invalid_grant", "Invalid JWT: %s" % e)
        if claims.get("exp", 0) - claims.get("iat", 0) > 3600:
            return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                          "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        scopes = str(claims.get("scope", "")).split()
        if not any(s in COMPUTE_SCOPES or s in BILLING_SCOPES for s in scopes):
            return refuse("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        with emu.lock:
            tok = self.issue(iss)
        self.send(200, {"access_token": tok, "expires_in": emu.token_ttl, "token_type": "Bearer"})

    # Cloud Billing Catalog API ---------------------------------------------

    def bearer(self):
        """Who the request's access token belongs to, or None (absent, unknown, expired). Under the lock."""
        emu = self.server.emu
        auth = self.headers.get("Authorization", "")
        exp, who = emu.tokens.get(auth[7:], (None, None)) if auth.startswith("Bearer ") else (None, None)
        return who if exp is not None and exp >= time.time() else None

    def skus(self, q):
        """services.skus.list of Compute Engine: the public catalogue (no IAM permission; an access token or
        an API key, here a token), pageSize (<= 5000) and pageToken, currencyCode USD only."""
        emu = self.server.emu
        with emu.lock:
            entry = {"method": "cloudbilling.services.skus.list", "permission": None, "path": self.path,
                     "status": 0, "requestId": None, "who": self.bearer()}
            emu.calls.append(entry)
            try:
                if entry["who"] is None:
                    raise GoogleError(401, "authError", "Request had invalid authentication credentials. Expected "
                                      "OAuth 2 access token, login cookie or other valid authentication credential.",
                                      {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
                if emu.faults.billing_forbidden:
                    raise GoogleError(403, "accessNotConfigured", "Cloud Billing API has not been used in project %s "
                                      "before or it is disabled. Enable it by visiting https://console.developers."
                                      "google.com/apis/api/cloudbilling.googleapis.com/overview?project=%s then "
                                      "retry." % (emu.project, emu.project))
                if emu.faults.take("billing_throttle"):
                    raise GoogleError(429, "rateLimitExceeded", "Quota exceeded for quota metric 'Read requests' "
                                      "of service 'cloudbilling.googleapis.com'.", {"Retry-After": "1"})
                if q.get("currencyCode", "USD") != "USD":
                    raise GoogleError(400, "badRequest", "the emulator serves currencyCode USD only")
                try:
                    size = int(q.get("pageSize", SKU_PAGE))
                    off = int(base64.urlsafe_b64decode(q["pageToken"]).decode()) if q.get("pageToken") else 0
                except (ValueError, TypeError):
                    raise GoogleError(400, "badRequest", "Invalid page token or page size.")
                if size <= 0 or size > SKU_PAGE or off < 0 or off > len(emu.skus):
                    raise GoogleError(400, "badRequest", "Invalid page token or page size.")
            except GoogleError as e:
                entry["status"] = e.code
                raise
            entry["status"] = 200
            malformed = emu.faults.take("billing_malformed")
            size = min(size, emu.sku_page)
            items = emu.skus[off:off + size]
            nxt = base64.urlsafe_b64encode(str(off + size).encode()).decode() if off + size < len(emu.skus) else ""
        if malformed:
            return self.send(200, b'{"skus": [{"name": "services/')
        self.send(200, {"skus": items, "nextPageToken": nxt})

    # Compute ---------------------------------------------------------------

    def compute(self, name, project, args, q, path):
        emu = self.server.emu
        perm = PERMISSIONS[name]
        auth = self.headers.get("Authorization", "")
        who = None
        with emu.lock:
            entry = {"method": name, "permission": perm, "path": path, "status": 0,
                     "requestId": q.get("requestId")}
            emu.calls.append(entry)
            if auth.startswith("Bearer "):
                exp, who = emu.tokens.get(auth[7:], (None, None))
                if exp is not None and exp < time.time():
                    who = None
            entry["who"] = who
            try:
                if who is None:
                    raise GoogleError(401, "authError", "Request had invalid authentication credentials. Expected "
                                      "OAuth 2 access token, login cookie or other valid authentication credential.",
                                      {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
                if project != emu.project:
                    raise GoogleError(404, "notFound", "The resource 'projects/%s' was not found" % project)
                if emu.permissions is not None and perm not in emu.permissions:
                    raise GoogleError(403, "forbidden", "Required '%s' permission for 'projects/%s'" % (perm, project))
                if emu.faults.take("throttle"):
                    raise GoogleError(429, "rateLimitExceeded", "Rate Limit Exceeded", {"Retry-After": "1"})
                if emu.faults.take("server_error"):
                    raise GoogleError(503, "backendError", "Backend Error")
                code, doc = getattr(self, "c_" + name.replace(".", "_"))(args, q)
            except GoogleError as e:
                entry["status"] = e.code
                raise
            entry["status"] = code
            malformed = emu.faults.take("malformed")
        if name.endswith(".wait") and doc.get("status") != "DONE":
            end = time.time() + 30
            while time.time() < end and doc.get("status") != "DONE":
                time.sleep(0.05)
                with emu.lock:
                    doc = emu.op_view(emu.operations[doc["name"]])
        self.send(code, b'{"kind": "compute#operation", "status": ' if malformed else doc)

    def group(self, args):
        emu = self.server.emu
        g = emu.groups.get(args["name"])
        if g is None or emu.scope_of(g) != args["scope"]:
            raise GoogleError(404, "notFound", "The resource 'projects/%s/%s/instanceGroupManagers/%s' was not "
                              "found" % (emu.project, args["scope"], args["name"]))
        return g

    def c_instanceGroupManagers_aggregatedList(self, args, q):
        emu = self.server.emu
        groups = sorted(emu.groups.values(), key=lambda g: (emu.scope_of(g), g["name"]))
        items, nxt = page(groups, q)
        out = {}
        for g in items:
            out.setdefault(emu.scope_of(g), {"instanceGroupManagers": []})["instanceGroupManagers"].append(
                emu.group_doc(g))
        for z in ("zones/us-east1-b", "zones/us-east1-c", "zones/us-east1-d"):
            out.setdefault(z, {"warning": {"code": "NO_RESULTS_ON_PAGE", "message": "There are no results for "
                                           "scope '%s' on this page." % z, "data": [{"key": "scope", "value": z}]}})
        doc = {"kind": "compute#instanceGroupManagerAggregatedList", "id": "projects/%s/aggregated/"
               "instanceGroupManagers" % emu.project, "items": out,
               "selfLink": "%s/aggregated/instanceGroupManagers" % emu.base()}
        if nxt:
            doc["nextPageToken"] = nxt
        return 200, doc

    def c_instanceGroupManagers_list(self, args, q):
        emu = self.server.emu
        groups = sorted((g for g in emu.groups.values() if emu.scope_of(g) == args["scope"]), key=lambda g: g["name"])
        items, nxt = page(groups, q)
        doc = {"kind": "compute#instanceGroupManagerList", "id": "projects/%s/%s/instanceGroupManagers"
               % (emu.project, args["scope"]), "items": [emu.group_doc(g) for g in items],
               "selfLink": "%s/%s/instanceGroupManagers" % (emu.base(), args["scope"])}
        if nxt:
            doc["nextPageToken"] = nxt
        return 200, doc

    def c_instanceGroupManagers_get(self, args, q):
        return 200, self.server.emu.group_doc(self.group(args))

    def request_id(self, q):
        rid = q.get("requestId")
        if rid is not None and not UUID_RE.match(rid):
            raise GoogleError(400, "invalid", "Invalid value for field 'requestId': '%s'. The request ID must be a "
                              "valid UUID." % rid)
        emu = self.server.emu
        if rid and rid in emu.requests:
            return rid, emu.op_view(emu.operations[emu.requests[rid]])
        return rid, None

    def apply_size(self, g, size):
        emu = self.server.emu
        live = [i for i in emu.instances.values() if i["group"] == g["name"] and i["currentAction"] != "DELETING"]
        g["targetSize"] = size
        if size > len(live):
            emu.launch(g, size - len(live))
        for i in sorted(live, key=lambda i: (i["currentAction"] != "CREATING", i["name"]))[:max(0, len(live) - size)]:
            i["currentAction"], i["status"], i["gone_at"] = "DELETING", "STOPPING", time.time() + 0.5

    def c_instanceGroupManagers_resize(self, args, q):
        emu = self.server.emu
        g = self.group(args)
        rid, seen = self.request_id(q)
        if seen is not None:
            return 200, seen
        try:
            size = int(q["size"])
        except (KeyError, ValueError):
            raise GoogleError(400, "required", "Required parameter 'size' is missing or not an integer.")
        if size < 0 or size > 1000:
            raise GoogleError(400, "invalid", "Invalid value for field 'size': '%d'. Must be in [0, 1000]." % size)
        mt = emu.templates[g["template"]]["machineType"]
        error = None
        if size > g["targetSize"]:
            short = [z for z in g["zones"] if "%s/%s" % (mt, z) in emu.faults.capacity]
            if short and len(short) == len(g["zones"]):
                error = ("ZONE_RESOURCE_POOL_EXHAUSTED", "The zone 'projects/%s/zones/%s' does not have enough "
                         "resources available to fulfill the request.  '(resource type:compute)'."
                         % (emu.project, short[0]), 503)
            elif emu.faults.take("quota"):
                error = ("QUOTA_EXCEEDED", "Quota 'CPUS' exceeded.  Limit: 24.0 in region %s." % g["region"], 403)
        if error is None:
            self.apply_size(g, size)
        return 200, emu.op_view(emu.new_operation("compute.instanceGroupManagers.resize", g, args["scope"], rid,
                                                  error, self.caller()))

    def caller(self):
        return "stevedore@%s.iam.gserviceaccount.com" % self.server.emu.project

    def c_instanceGroupManagers_deleteInstances(self, args, q):
        emu = self.server.emu
        g = self.group(args)
        rid, seen = self.request_id(q)
        if seen is not None:
            return 200, seen
        doc = self.json_body()
        urls = doc.get("instances")
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise GoogleError(400, "required", "Required field 'instances' not specified or not a list of strings.")
        if not isinstance(doc.get("skipInstancesOnValidationError", False), bool):
            raise GoogleError(400, "invalid", "Invalid value for field 'skipInstancesOnValidationError'.")
        picked = []
        for u in urls:
            m = re.search(r"(?:^|/)zones/([a-z0-9-]+)/instances/([a-z0-9-]+)$", u)
            if not m:
                raise GoogleError(400, "invalid", "Invalid value for field 'instances': '%s'. The URL is malformed."
                                  % u)
            i = emu.instances.get(m.group(2))
            if i is None or i["zone"] != m.group(1):
                raise GoogleError(404, "notFound", "The resource 'projects/%s/zones/%s/instances/%s' was not found"
                                  % (emu.project, m.group(1), m.group(2)))
            if i["group"] != g["name"]:
                raise GoogleError(400, "invalid", "Instance '%s' is not a member of the instance group '%s'."
                                  % (u, g["name"]))
            picked.append(i)
        for i in picked:
            if i["currentAction"] != "DELETING":
                g["targetSize"] -= 1
                i["currentAction"], i["status"], i["gone_at"] = "DELETING", "STOPPING", time.time() + 0.5
        return 200, emu.op_view(emu.new_operation("compute.instanceGroupManagers.deleteInstances", g,
                                                  args["scope"], rid, None, self.caller()))

    def c_instanceGroupManagers_listManagedInstances(self, args, q):
        emu = self.server.emu
        g = self.group(args)
        members = sorted((i for i in emu.instances.values() if i["group"] == g["name"]), key=lambda i: i["name"])
        items, nxt = page(members, q)
        doc = {"managedInstances": [emu.managed_doc(i) for i in items]}
        if nxt:
            doc["nextPageToken"] = nxt
        return 200, doc

    def c_autoscalers_list(self, args, q):
        """No MIG here has an autoscaler (Stevedore is the autoscaler)."""
        return 200, {"kind": "compute#autoscalerList", "items": [], "selfLink": self.path}

    def c_instanceTemplates_get(self, args, q):
        emu = self.server.emu
        t = emu.templates.get(args["name"])
        if t is None or t.get("region") != args.get("region"):
            where = "regions/%s" % args["region"] if args.get("region") else "global"
            raise GoogleError(404, "notFound", "The resource 'projects/%s/%s/instanceTemplates/%s' was not found"
                              % (emu.project, where, args["name"]))
        return 200, emu.template_doc(t)

    def operation(self, args, q):
        emu = self.server.emu
        op = emu.operations.get(args["op"])
        scope = "zones/%s" % args["zone"] if args.get("zone") else "regions/%s" % args["region"]
        if op is None or not op["selfLink"].endswith("/%s/operations/%s" % (scope, args["op"])):
            raise GoogleError(404, "notFound", "The resource 'projects/%s/%s/operations/%s' was not found"
                              % (emu.project, scope, args["op"]))
        return 200, emu.op_view(op)

    c_zoneOperations_get = c_zoneOperations_wait = operation
    c_regionOperations_get = c_regionOperations_wait = operation

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setup", required=True, help="JSON file: project, templates, groups (see Emulator.load)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-dir", help="serve HTTPS with a throwaway CA made there (ca.crt)")
    ap.add_argument("--kube-url")
    ap.add_argument("--kube-token")
    ap.add_argument("--kube-ca")
    ap.add_argument("--launch-delay", type=float, default=1.0, help="seconds from CREATING to RUNNING")
    ap.add_argument("--op-delay", type=float, default=0.3, help="seconds an operation stays RUNNING")
    ap.add_argument("--token-ttl", type=int, default=TOKEN_TTL, help="lifetime of the access tokens issued, s")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    with open(a.setup) as f:
        setup = json.load(f)
    emu = Emulator(setup, a.port, a.tls_dir, a.kube_url, a.kube_token, a.kube_ca, a.launch_delay, a.op_delay,
                   a.token_ttl, a.verbose).start()
    print("gcp emulator on %s" % emu.url(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emu.stop()


if __name__ == "__main__":
    main()
