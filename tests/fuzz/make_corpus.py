#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/
from the test data (valid inputs and near misses), named <seed>-<sha1>. The
corpora are committed, together with inputs merged in from longer runs
(libFuzzer names those by their sha1 alone), which this script leaves
alone; rerun it after the test data change:

    python3 tests/fuzz/make_corpus.py

Targets that take a leading control byte (fuzz_jsonstream: the chunk size;
fuzz_prom: the result type and piece size) get it prepended here.
"""
import glob
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "tests", "data")
CORPUS = os.path.join(HERE, "corpus")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def put(target, blobs):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name, blob in blobs:
        h = hashlib.sha1(blob).hexdigest()[:12]
        with open(os.path.join(d, "%s-%s" % (name, h)), "wb") as f:
            f.write(blob)


def cut(blob, n):
    """A near miss: the document cut short."""
    return blob[: max(1, len(blob) * n // 4)]


def watch_streams():
    """Watch streams (events one a line) made of the items of small test snapshots, and near misses."""
    import json
    blobs = []
    for i, name in enumerate(["four_pods", "cluster_nodes"]):
        items = json.loads(read(os.path.join(DATA, name + ".json")))["items"]
        lines = [json.dumps({"type": "ADDED", "object": it}, separators=(",", ":")) for it in items]
        lines.append('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"12"}}}')
        lines.append('{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}')
        b = ("\n".join(lines) + "\n").encode()
        blobs += [(name, bytes([i * 37 % 64]) + b), (name + "-cut", bytes([7]) + cut(b, 3)),
                  (name + "-limit", bytes([0x80 | 5]) + b)]
    blobs += [("any", bytes([0x40 | 3]) + b'1 "s\\u00e9" true null -2.5e3[1,[]]{}'),
              ("garbage", bytes([1]) + b'{}\n}{}'), ("deep", bytes([0x40]) + b"[" * 1001)]
    return blobs


def main():
    quantities = ["0", "1", "500m", "1.5Gi", "2e3", "2E-3", "-1", ".5", "5.", "100Mi", "1e-9", "123456789n",
                  "9223372036854775807", "9223372036854775808", "8Ei", "7Ei", "1.0000000001", "12x", "", " 1",
                  "+3k", "1e+30", "0.000000000000000000001", "1Ki", "3u", "4P", "2T", "1G", "1M", "1k", "1m"]
    put("fuzz_quantity", [("q", q.encode()) for q in quantities])

    snaps = [p for p in sorted(glob.glob(os.path.join(DATA, "*.json"))) if "catalog" not in p]
    snaps += [os.path.join(DATA, "realworld", "friendly", "kind-cluster.json"),
              os.path.join(DATA, "realworld", "ports", "hostports.json")]
    snap_blobs = []
    for p in snaps:
        b = read(p)
        if len(b) > 64 * 1024:
            continue
        name = os.path.splitext(os.path.basename(p))[0]
        snap_blobs += [(name, b), (name + "-cut", cut(b, 3))]
    snap_blobs += [("empty-list", b'{"apiVersion":"v1","kind":"List","items":[]}'),
                   ("bom", b'\xef\xbb\xbf{"items":[{}]}'), ("garbage", b'{"items":[{}]} x')]
    put("fuzz_snapshot", snap_blobs)
    put("fuzz_jsonstream", [(n, bytes([i * 37 % 256]) + b) for i, (n, b) in enumerate(snap_blobs)])

    put("fuzz_jsonseq", watch_streams())

    put("fuzz_catalog", [("tiny", read(os.path.join(DATA, "tiny_catalog.json"))),
                         ("tiny-cut", cut(read(os.path.join(DATA, "tiny_catalog.json")), 2)),
                         ("prom-catalog", read(os.path.join(DATA, "prom", "catalog.json")))])

    configs = [("example", read(os.path.join(ROOT, "examples", "stevedore.yaml"))),
               ("pools", b"nodePools:\n  - name: a\n    instanceFamilies: [m5]\n    zones: [z1]\n"
                         b"    labels: {team: web}\n    taints: [{key: k, value: v, effect: NoSchedule}]\n"),
               ("headroom", b"headroom:\n  manual: [{count: 2, cpu: \"2\", memory: 4Gi}]\n  automatic: 10%\n"),
               ("spot", b"spot: {maxShare: 0.5, maxPoolFraction: 0.3, restartCost: 0.1}\ntimeLimit: 500ms\n"),
               ("anchors", b"a: &x [1, 2]\nnodePools: [{name: p, zones: *x}]\n"),
               ("deep", b"spot: " + b"[" * 40),
               ("two-docs", b"timeLimit: 1s\n---\ntimeLimit: 2s\n")]
    put("fuzz_config", configs)

    metrics = (b'{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":['
               b'{"metadata":{"name":"a","namespace":"n"},"containers":[{"name":"c","usage":{"cpu":"5m","memory":"20Mi"}}]},'
               b'{"metadata":{"name":"b"},"containers":[{"name":"c","usage":{"cpu":0.25,"memory":268435456}},'
               b'{"name":"d","usage":{"cpu":"800000000n","memory":"1048576Ki"}}]}]}')
    put("fuzz_metrics", [("list", metrics), ("cut", cut(metrics, 2)),
                         ("big-number", metrics.replace(b"268435456", b"9223372036854775808")),
                         ("single", b'{"kind":"PodMetrics","metadata":{"name":"x"},"containers":[]}')])

    prom = []
    want = {"matrix": 0, "vector": 1, "series": 2, "label_values": 3}
    for p in sorted(glob.glob(os.path.join(DATA, "prom", "*"))):
        name = os.path.splitext(os.path.basename(p))[0]
        if name in ("README", "catalog"):
            continue
        b = read(p)
        t = want.get(name, 0)
        for piece in (0, 7, 63):
            prom.append(("%s-%d" % (name, piece), bytes([(piece << 2) | t]) + b))
    put("fuzz_prom", prom)
    put("fuzz_gcp", gcp_answers())
    put("fuzz_azure_prices", azure_price_pages())


def azure_price_pages():
    """Pages of the Retail Prices API as the Azure emulator serves them, and near misses."""
    import json
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tests", "cloudemu"))
    import azure as azemu
    rp = azemu.RetailPrices(page_size=8)
    q = {"$filter": "serviceName eq 'Virtual Machines' and armRegionName eq 'westeurope' and "
                    "priceType eq 'Consumption'"}
    first = json.dumps(rp.page("https://prices.azure.com", q)[1]).encode()
    last = dict(rp.page("https://prices.azure.com", dict(q, **{"$skip": "6616"}))[1])
    out = [("page", first), ("last", json.dumps(last).encode()), ("cut", cut(first, 2)),
           ("euro", first.replace(b'"USD"', b'"EUR"')), ("nan", first.replace(b'"retailPrice": 0.', b'"retailPrice": -0.')),
           ("empty", b'{"Items": [], "NextPageLink": null}'), ("no-items", b'{"NextPageLink": "x"}')]
    return out


def gcp_sku(desc, unit, nanos, group="CPU"):
    """A Compute SKU of us-east1 as services.skus.list has it."""
    return {"name": "services/6F81-5844-456A/skus/A-1", "skuId": "A-1", "description": desc,
            "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute",
                         "resourceGroup": group, "usageType": "Preemptible" if "Spot" in desc else "OnDemand"},
            "serviceRegions": ["us-east1"],
            "pricingInfo": [{"pricingExpression": {"usageUnit": unit, "tieredRates": [
                {"startUsageAmount": 0, "unitPrice": {"currencyCode": "USD", "units": "0", "nanos": nanos}}]},
                "effectiveTime": "2026-08-03T07:00:00Z"}]}


def gcp_answers():
    """Compute and OAuth answers as the GCP emulator serves them (the first
    byte picks the reader: 0 list, 1 aggregatedList, 2 template, 3 operation,
    4 listManagedInstances, 5 an error, 6 a token, 7 a key file, 8 a Cloud Billing skus.list page), and cut
    ones."""
    import json
    link = "https://compute.googleapis.com/compute/v1/projects/p/"
    mig = {"name": "gke-c1-a-1-grp", "targetSize": 2, "selfLink": link + "zones/us-east1-b/instanceGroupManagers/g",
           "instanceTemplate": link + "global/instanceTemplates/t", "zone": link + "zones/us-east1-b"}
    rmig = dict(mig, selfLink=link + "regions/us-east1/instanceGroupManagers/r", targetSize="3",
                distributionPolicy={"zones": [{"zone": link + "zones/us-east1-c"}]})
    del rmig["zone"]
    docs = [
        ("list", 0, {"items": [mig, rmig], "nextPageToken": "x"}),
        ("aggregated", 1, {"items": {"zones/us-east1-b": {"instanceGroupManagers": [mig]},
                                     "zones/us-east1-c": {"warning": {"code": "NO_RESULTS_ON_PAGE"}}}}),
        ("template", 2, {"properties": {"machineType": "e2-standard-4", "scheduling": {"provisioningModel": "SPOT"},
                                        "metadata": {"items": [{"key": "kube-env", "value":
                                                                "AUTOSCALER_ENV_VARS: node_labels=a=b,"
                                                                "stevedore.io/node-pool=x;node_taints="}]}}}),
        ("operation", 3, {"name": "op", "status": "DONE", "selfLink": link + "zones/z/operations/op",
                          "httpErrorStatusCode": 503,
                          "error": {"errors": [{"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": "m"}]}}),
        ("managed", 4, {"managedInstances": [
            {"instance": link + "zones/z/instances/i-1", "currentAction": "NONE", "instanceStatus": "RUNNING"},
            {"instance": link + "zones/z/instances/i-2", "currentAction": "CREATING",
             "lastAttempt": {"errors": {"errors": [{"code": "QUOTA_EXCEEDED", "message": "q"}]}}}],
            "nextPageToken": "t"}),
        ("error", 5, {"error": {"code": 429, "message": "Rate Limit Exceeded", "status": "RESOURCE_EXHAUSTED",
                                "errors": [{"reason": "rateLimitExceeded", "domain": "usageLimits"}]}}),
        ("token", 6, {"access_token": "ya29.a", "expires_in": 3599, "token_type": "Bearer"}),
        ("key", 7, {"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                    "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
                    "token_uri": "https://oauth2.googleapis.com/token"}),
        ("skus", 8, {"skus": [gcp_sku("N2 Instance Core running in South Carolina", "h", 31611000),
                              gcp_sku("Spot Preemptible E2 Instance Ram running in Americas", "GiBy.h", 1000000),
                              gcp_sku("Micro Instance with burstable CPU running in Americas", "h", 7600000,
                                      "F1Micro")],
                     "nextPageToken": "p2"})]
    out = []
    for name, sel, doc in docs:
        b = json.dumps(doc).encode()
        out += [(name, bytes([sel]) + b), (name + "-cut", bytes([sel]) + cut(b, 2))]
    return out


if __name__ == "__main__":
    main()
