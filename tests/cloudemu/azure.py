#!/usr/bin/env python3
"""An Azure endpoint for tests: Resource Manager's Microsoft.Compute
virtual machine scale sets, their long-running operations, and the token
endpoints that workloads in Azure use (IMDS managed identity, Microsoft
Entra ID's OAuth2 v2.0 token endpoint for client secrets and federated
workload identity). Python 3 standard library and the openssl command only.
Documented in docs/cloud-emulators.md (section Azure).

    python3 tests/cloudemu/azure.py --port 0 --ready-file F [--tls-dir D]
        [--insecure-http] [--load scalesets.json] [--launch-delay S]
        [--kube-url URL --kube-token T --kube-ca F] [--verbose]

In a Python test:

    emu = azure.AzureEmulator(launch_delay=1).start()
    emu.add_scale_set({"name": "aks-spot-vmss", "sku": "Standard_D4s_v3", ...})
    ... emu.url, emu.ca_file, emu.state(), emu.set_faults({...}) ...
    emu.stop()
"""

import argparse
import base64
import datetime
import http.server
import json
import os
import re
import signal
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kubeapi"))
import emu_tls  # noqa: E402

# The Microsoft.Compute api-versions accepted (the SDK's and the adapter's);
# anything else is 400 InvalidApiVersionParameter, as ARM answers.
COMPUTE_API_VERSIONS = ("2021-07-01", "2022-03-01", "2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01",
                        "2023-09-01", "2024-03-01", "2024-07-01", "2024-11-01")
IMDS_API_VERSIONS = ("2018-02-01", "2019-08-01")
ARM_RESOURCE = "https://management.azure.com/"
ARM_SCOPE = "https://management.azure.com/.default"

# The permission (Azure RBAC action) each call needs: what docs/cloud-azure.md's role must grant.
PERM_VMSS_READ = "Microsoft.Compute/virtualMachineScaleSets/read"
PERM_VMSS_WRITE = "Microsoft.Compute/virtualMachineScaleSets/write"
PERM_VMSS_DELETE_VMS = "Microsoft.Compute/virtualMachineScaleSets/delete/action"
PERM_VM_READ = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read"
PERM_OP_READ = "Microsoft.Compute/locations/operations/read"

# vCPUs and memory (GiB) of the sizes tests use; --shapes adds more (CSV vm_size,vcpu,memory_gib).
SHAPES = {
    "Standard_B2s": (2, 4), "Standard_B4ms": (4, 16),
    "Standard_D2s_v3": (2, 8), "Standard_D4s_v3": (4, 16), "Standard_D8s_v3": (8, 32),
    "Standard_D2s_v5": (2, 8), "Standard_D4s_v5": (4, 16), "Standard_D8s_v5": (8, 32),
    "Standard_D2as_v5": (2, 8), "Standard_D4as_v5": (4, 16),
    "Standard_E2s_v5": (2, 16), "Standard_E4s_v5": (4, 32),
    "Standard_F2s_v2": (2, 4), "Standard_F4s_v2": (4, 8), "Standard_F8s_v2": (8, 16),
}

NODE_LABEL_TAG = "k8s.io_cluster-autoscaler_node-template_label_"
NODE_TAINT_TAG = "k8s.io_cluster-autoscaler_node-template_taint_"


def utc(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0+00:00")


def base36(n, width=6):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while n:
        n, r = divmod(n, 36)
        s = digits[r] + s
    return s.rjust(width, "0")


def template_labels(tags):
    """Node labels from Cluster Autoscaler's node-template tags: '_' stands
    for '/' and '~2' for '_' in the label name."""
    out = {}
    for k, v in tags.items():
        if k.startswith(NODE_LABEL_TAG):
            out[k[len(NODE_LABEL_TAG):].replace("_", "/").replace("~2", "_")] = v
    return out


def template_taints(tags):
    """Taints from node-template taint tags: value 'VALUE:EFFECT'."""
    out = []
    for k, v in sorted(tags.items()):
        if k.startswith(NODE_TAINT_TAG):
            value, _, effect = v.rpartition(":")
            out.append({"key": k[len(NODE_TAINT_TAG):].replace("_", "/").replace("~2", "_"), "value": value,
                        "effect": effect})
    return out


class ArmError(Exception):
    """An answer in ARM's error format: {"error": {"code", "message"}}."""

    def __init__(self, status, code, message, headers=None, details=None):
        Exception.__init__(self, message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.details = details


class AadError(Exception):
    """An answer in Microsoft Entra ID's OAuth2 error format."""

    def __init__(self, status, error, description, aadsts=0):
        Exception.__init__(self, description)
        self.status, self.error, self.description, self.aadsts = status, error, description, aadsts


class ScaleSet(object):
    """One Uniform-orchestration scale set and its instances."""

    def __init__(self, emu, spec):
        def need(key, kind=str):
            if key not in spec or not isinstance(spec[key], kind):
                raise ValueError("scale set %r: field %r: missing or not a %s" % (spec.get("name"), key,
                                                                                  kind.__name__))
            return spec[key]
        self.name = need("name")
        self.rg = spec.get("resourceGroup", emu.resource_group)
        self.location = spec.get("location", emu.location)
        self.sku = need("sku")
        if self.sku not in emu.shapes:
            raise ValueError("scale set %s: sku %r: not a size the emulator knows (add it with --shapes)"
                             % (self.name, self.sku))
        self.capacity = int(spec.get("capacity", 0))
        self.zones = [str(z) for z in spec.get("zones", [])]
        self.priority = spec.get("priority", "Regular")
        if self.priority not in ("Regular", "Spot", "Low"):
            raise ValueError("scale set %s: priority %r: not Regular, Spot or Low" % (self.name, self.priority))
        self.eviction = spec.get("evictionPolicy", "Delete" if self.priority != "Regular" else None)
        self.max_price = spec.get("maxPrice", -1)
        self.tags = dict(spec.get("tags", {}))
        self.vms = {}  # instanceId -> dict
        self.next_id = 0
        self.unique = str(uuid.uuid4())
        self.created = time.time()
        self.provisioning = "Succeeded"
        for _ in range(self.capacity):
            self._new_vm(emu, time.time() - emu.launch_delay)

    def rid(self, emu):
        return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s" % (
            emu.subscription, self.rg, self.name)

    def _new_vm(self, emu, now, failed=False):
        iid = str(self.next_id)
        zone = self.zones[self.next_id % len(self.zones)] if self.zones else None
        self.vms[iid] = {"id": iid, "zone": zone, "state": "Failed" if failed else "Creating", "created": now,
                         "computer": "%s%s" % (self.name, base36(self.next_id)), "vmid": str(uuid.uuid4()),
                         "node": None}
        self.next_id += 1

    def live(self):
        return [v for v in self.vms.values() if v["state"] != "Deleting"]

    def document(self, emu):
        vmp = {"osProfile": {"computerNamePrefix": self.name, "adminUsername": "azureuser",
                             "linuxConfiguration": {"disablePasswordAuthentication": True}},
               "storageProfile": {"imageReference": {"id": "/subscriptions/%s/resourceGroups/AKS-Ubuntu/providers/"
                                                     "Microsoft.Compute/galleries/AKSUbuntu/images/2204gen2containerd"
                                                     % emu.subscription},
                                  "osDisk": {"createOption": "FromImage", "caching": "ReadOnly",
                                             "managedDisk": {"storageAccountType": "Premium_LRS"},
                                             "diskSizeGB": 128}},
               "priority": self.priority}
        if self.priority != "Regular":
            vmp["evictionPolicy"] = self.eviction
            vmp["billingProfile"] = {"maxPrice": self.max_price}
        doc = {"name": self.name, "id": self.rid(emu), "type": "Microsoft.Compute/virtualMachineScaleSets",
               "location": self.location, "tags": self.tags,
               "sku": {"name": self.sku, "tier": "Standard", "capacity": self.capacity},
               "properties": {"singlePlacementGroup": False, "orchestrationMode": "Uniform",
                              "upgradePolicy": {"mode": "Manual"}, "virtualMachineProfile": vmp,
                              "provisioningState": self.provisioning, "overprovision": False,
                              "doNotRunExtensionsOnOverprovisionedVMs": False, "uniqueId": self.unique,
                              "platformFaultDomainCount": 1, "timeCreated": utc(self.created)}}
        if self.zones:
            doc["zones"] = list(self.zones)
        return doc

    def vm_document(self, emu, vm):
        doc = {"name": "%s_%s" % (self.name, vm["id"]), "id": "%s/virtualMachines/%s" % (self.rid(emu), vm["id"]),
               "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines", "location": self.location,
               "tags": self.tags, "instanceId": vm["id"], "sku": {"name": self.sku, "tier": "Standard"},
               "properties": {"latestModelApplied": True, "vmId": vm["vmid"],
                              "hardwareProfile": {}, "provisioningState": vm["state"],
                              "osProfile": {"computerName": vm["computer"], "adminUsername": "azureuser"},
                              "timeCreated": utc(vm["created"])}}
        if vm["zone"] is not None:
            doc["zones"] = [vm["zone"]]
        return doc

    def provider_id(self, emu, vm):
        # As AKS nodes carry it: the resource group lower-cased.
        return ("azure:///subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/"
                "%s/virtualMachines/%s" % (emu.subscription, self.rg.lower(), self.name, vm["id"]))


class Faults(object):
    def __init__(self):
        self.reset()

    def reset(self):
        self.throttle = 0          # the next N ARM calls: 429
        self.retry_after = 1       # seconds, in the 429's Retry-After
        self.server_error = 0      # the next N ARM calls: 500
        self.malformed = 0         # the next N ARM GET answers: a truncated body
        self.capacity = []         # [{"sku", "zone" (or absent), "code", "sync"}]
        self.fail_vms = 0          # the next N new instances end in provisioningState Failed
        self.lro_delay = 0.0       # seconds an operation stays InProgress
        self.token_ttl = 3600      # lifetime of the tokens issued from now on
        self.prices_throttle = 0   # the next N Retail Prices API calls: 429
        self.prices_malformed = 0  # the next N Retail Prices API answers: a truncated body


class AzureEmulator(object):
    def __init__(self, host="127.0.0.1", port=0, tls_dir=None, insecure_http=False, subscription=None,
                 resource_group="MC_stevedore_test_eastus", location="eastus", tenant=None,
                 client_id="11111111-2222-3333-4444-555555555555", client_secret="emu-client-secret",
                 federated_token="emu-federated-token", launch_delay=2.0, delete_delay=1.0, page_size=50,
                 kube_url=None, kube_token=None, kube_ca=None, shapes=None, imds=True, verbose=False):
        self.host, self.port = host, port
        self.imds = imds  # also serve IMDS over plain HTTP on a second port, as 169.254.169.254 does
        self.imds_server = None
        self.imds_url = None
        self.tls_dir, self.insecure_http = tls_dir, insecure_http
        self.subscription = subscription or "8a3c2f1e-0000-4b5d-9e6f-0123456789ab"
        self.resource_group, self.location = resource_group, location
        self.tenant = tenant or "72f988bf-86f1-41af-91ab-2d7cd011db47"
        self.client_id, self.client_secret = client_id, client_secret
        self.federated_tokens = [federated_token] if federated_token else []
        self.launch_delay, self.delete_delay, self.page_size = launch_delay, delete_delay, page_size
        self.kube_url, self.kube_token, self.kube_ca = kube_url, kube_token, kube_ca
        self.shapes = dict(SHAPES)
        self.shapes.update(shapes or {})
        self.verbose = verbose
        self.lock = threading.RLock()
        self.faults = Faults()
        self.scale_sets = {}   # (rg lower, name lower) -> ScaleSet
        self.ops = {}          # operation id -> dict
        self.tokens = {}       # access token -> {"expires", "who"}
        self.calls = []        # every ARM and token call: {"method", "path", "permission", "status", "who"}
        self.prices = RetailPrices()  # the public Retail Prices API (no token, not in calls)
        self.kube_errors = []
        self.seen_request_ids = set()
        self.server = self.thread = self.ticker = None
        self.stopping = threading.Event()
        self.tmp = None
        self.ca_file = None

    def log(self, msg):
        if self.verbose:
            sys.stderr.write("azure-emulator: %s\n" % msg)

    # Lifecycle -------------------------------------------------------------

    def start(self):
        handler = type("Handler", (Handler,), {"emu": self})
        self.server = http.server.ThreadingHTTPServer((self.host, self.port), handler)
        self.server.daemon_threads = True
        scheme = "http"
        if not self.insecure_http:
            if self.tls_dir is None:
                self.tmp = tempfile.mkdtemp(prefix="azure-emu-")
                self.tls_dir = self.tmp
            crt, key = emu_tls.make_cert(self.tls_dir, "server", "localhost", server=True)
            self.ca_file = os.path.join(self.tls_dir, "ca.crt")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(crt, key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_address[1]
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        if self.imds:
            self.imds_server = http.server.ThreadingHTTPServer((self.host, 0), handler)
            self.imds_server.daemon_threads = True
            self.imds_url = "http://127.0.0.1:%d" % self.imds_server.server_address[1]
            threading.Thread(target=self.imds_server.serve_forever, daemon=True).start()
        self.ticker = threading.Thread(target=self._tick_loop, daemon=True)
        self.ticker.start()
        return self

    def stop(self):
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.imds_server is not None:
            self.imds_server.shutdown()
            self.imds_server.server_close()
        if self.ticker is not None:
            self.ticker.join(5)

    # State -----------------------------------------------------------------

    def add_scale_set(self, spec):
        with self.lock:
            ss = ScaleSet(self, spec)
            self.scale_sets[(ss.rg.lower(), ss.name.lower())] = ss
            return ss

    def set_faults(self, body):
        known = {"throttle": int, "retry_after": (int, float), "server_error": int, "malformed": int,
                 "capacity": list, "fail_vms": int, "lro_delay": (int, float), "token_ttl": (int, float),
                 "expire_credentials": bool, "reset": bool, "prices_throttle": int, "prices_malformed": int}
        if not isinstance(body, dict):
            raise ValueError("faults: the body must be a JSON object")
        for k, v in body.items():
            if k not in known or not isinstance(v, known[k]) or isinstance(v, bool) != (known[k] is bool):
                raise ValueError("faults: field %r: unknown or of the wrong type" % k)
        with self.lock:
            if body.get("reset"):
                self.faults.reset()
            for k, v in body.items():
                if k in ("reset", "expire_credentials"):
                    continue
                if k == "capacity":
                    for c in v:
                        if not isinstance(c, dict) or not isinstance(c.get("sku"), str):
                            raise ValueError("faults: capacity: each item needs a sku")
                        c.setdefault("code", "AllocationFailed")
                setattr(self.faults, k, v)
            if body.get("expire_credentials"):
                for t in self.tokens.values():
                    t["expires"] = time.time() - 1

    def state(self):
        with self.lock:
            return {"subscription": self.subscription, "tenant": self.tenant,
                    "scaleSets": [self._state_of(ss) for ss in self.scale_sets.values()],
                    "calls": list(self.calls), "tokens_issued": len(self.tokens),
                    "kube_errors": list(self.kube_errors), "price_calls": self.prices.calls}

    def _state_of(self, ss):
        return {"name": ss.name, "resourceGroup": ss.rg, "sku": ss.sku, "capacity": ss.capacity,
                "zones": ss.zones, "priority": ss.priority, "tags": ss.tags,
                "instances": [{"instanceId": v["id"], "state": v["state"], "zone": v["zone"],
                               "computerName": v["computer"], "providerID": ss.provider_id(self, v),
                               "node": v["node"]} for v in ss.vms.values()]}

    def record(self, method, path, permission, status, who):
        with self.lock:
            self.calls.append({"method": method, "path": path, "permission": permission, "status": status,
                               "who": who})

    # Tokens ----------------------------------------------------------------

    def issue_token(self, who):
        tok = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0." + base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        with self.lock:
            ttl = self.faults.token_ttl
            self.tokens[tok] = {"expires": time.time() + ttl, "who": who}
        return tok, ttl

    def check_bearer(self, header):
        if not header:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is "
                           "missing.", {"WWW-Authenticate": 'Bearer authorization_uri="%s", error="invalid_token"'
                                        % self.authority()})
        m = re.match(r"Bearer (\S+)$", header)
        with self.lock:
            t = self.tokens.get(m.group(1)) if m else None
        if t is None:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.",
                           {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if t["expires"] <= time.time():
            raise ArmError(401, "ExpiredAuthenticationToken",
                           "The access token expiry UTC time '%s' is earlier than current UTC time '%s'."
                           % (utc(t["expires"]), utc()),
                           {"WWW-Authenticate": 'Bearer error="invalid_token", error_description='
                                                '"The access token has expired."'})
        return t["who"]

    def authority(self):
        return "%s/%s" % (self.url, self.tenant)

    # Instances over time ---------------------------------------------------

    def _tick_loop(self):
        while not self.stopping.wait(0.2):
            try:
                self.tick()
            except Exception as e:  # a broken tick must not end the thread silently
                self.kube_errors.append("tick: %s" % e)

    def tick(self):
        now = time.time()
        todo = []
        with self.lock:
            for ss in self.scale_sets.values():
                for vm in list(ss.vms.values()):
                    if vm["state"] == "Creating" and now - vm["created"] >= self.launch_delay:
                        vm["state"] = "Succeeded"
                        todo.append(("create", ss, vm))
                    elif vm["state"] == "Deleting" and now - vm["deleted"] >= self.delete_delay:
                        del ss.vms[vm["id"]]
                        todo.append(("delete", ss, vm))
            for op in self.ops.values():
                if op["status"] == "InProgress" and now >= op["done_at"]:
                    op["status"] = op["final"]
                    op["end"] = now
        if self.kube_url:
            for what, ss, vm in todo:
                self._kubelet(what, ss, vm)

    def _kube(self, method, path, body=None):
        ctx = None
        if self.kube_url.startswith("https"):
            ctx = ssl.create_default_context(cafile=self.kube_ca)
        req = urllib.request.Request(self.kube_url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Content-Type", "application/json")
        if self.kube_token:
            req.add_header("Authorization", "Bearer " + self.kube_token)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def node_of(self, ss, vm):
        cpu, mem = self.shapes[ss.sku]
        pool = ss.tags.get("aks-managed-poolName", ss.name)
        zone = "%s-%s" % (ss.location, vm["zone"]) if vm["zone"] is not None else "0"
        labels = {"kubernetes.io/hostname": vm["computer"], "node.kubernetes.io/instance-type": ss.sku,
                  "beta.kubernetes.io/instance-type": ss.sku, "topology.kubernetes.io/region": ss.location,
                  "topology.kubernetes.io/zone": zone, "failure-domain.beta.kubernetes.io/zone": zone,
                  "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubernetes.azure.com/agentpool": pool,
                  "agentpool": pool, "kubernetes.azure.com/role": "agent",
                  "kubernetes.azure.com/cluster": ss.rg.lower(), "kubernetes.azure.com/mode": "user"}
        if ss.priority != "Regular":
            labels["kubernetes.azure.com/scalesetpriority"] = "spot"
        labels.update(template_labels(ss.tags))
        pods = 110
        # AKS's reservations, roughly: 6% of cpu from 1 core, 750Mi + 25% of the first 4 GiB of memory.
        alloc_cpu = "%dm" % (cpu * 1000 - 60 - max(0, cpu - 1) * 10)
        alloc_mem = "%dKi" % (mem * 1024 * 1024 - 750 * 1024 - min(mem, 4) * 262144)
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": vm["computer"], "labels": labels},
                "spec": {"providerID": ss.provider_id(self, vm), "taints": template_taints(ss.tags)},
                "status": {"capacity": {"cpu": str(cpu), "memory": "%dKi" % (mem * 1024 * 1024), "pods": str(pods)},
                           "allocatable": {"cpu": alloc_cpu, "memory": alloc_mem, "pods": str(pods)},
                           "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                                        "kubeletVersion": "v1.29.4", "osImage": "Ubuntu 22.04.4 LTS"},
                           "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                           "message": "kubelet is posting ready status",
                                           "lastHeartbeatTime": utc()[:19] + "Z",
                                           "lastTransitionTime": utc()[:19] + "Z"}]}}

    def _kubelet(self, what, ss, vm):
        try:
            if what == "create":
                node = self.node_of(ss, vm)
                code = self._kube("POST", "/api/v1/nodes", node)
                if code not in (200, 201, 409):
                    self.kube_errors.append("create node %s: HTTP %d" % (vm["computer"], code))
                    return
                with self.lock:
                    vm["node"] = vm["computer"]
            else:
                code = self._kube("DELETE", "/api/v1/nodes/%s" % vm["computer"])
                if code not in (200, 202, 404):
                    self.kube_errors.append("delete node %s: HTTP %d" % (vm["computer"], code))
        except Exception as e:
            self.kube_errors.append("%s node %s: %s" % (what, vm["computer"], e))

    # ARM -------------------------------------------------------------------

    def scale_set(self, sub, rg, name):
        if sub.lower() != self.subscription.lower():
            raise ArmError(404, "SubscriptionNotFound", "The subscription '%s' could not be found." % sub)
        with self.lock:
            ss = self.scale_sets.get((rg.lower(), name.lower()))
        if ss is None:
            raise ArmError(404, "ResourceNotFound", "The Resource 'Microsoft.Compute/virtualMachineScaleSets/%s' "
                           "under resource group '%s' was not found. For more details please go to "
                           "https://aka.ms/ARMResourceNotFoundFix" % (name, rg))
        return ss

    def new_operation(self, final="Succeeded", error=None):
        oid = str(uuid.uuid4())
        with self.lock:
            self.ops[oid] = {"id": oid, "status": "InProgress", "final": final, "error": error,
                             "start": time.time(), "done_at": time.time() + self.faults.lro_delay, "end": None}
        return oid

    def operation_headers(self, oid, api_version):
        base = "%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/operations/%s" % (
            self.url, self.subscription, self.location, oid)
        return {"Azure-AsyncOperation": "%s?p=%s&api-version=%s" % (base, uuid.uuid4(), api_version),
                "Location": "%s?p=%s&monitor=true&api-version=%s" % (base, uuid.uuid4(), api_version),
                "Azure-AsyncNotification": "Enabled", "Retry-After": "0"}

    def operation_document(self, oid):
        with self.lock:
            op = self.ops.get(oid)
            if op is None:
                raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
            doc = {"startTime": utc(op["start"]), "status": op["status"], "name": op["id"]}
            if op["end"] is not None:
                doc["endTime"] = utc(op["end"])
            if op["status"] == "Failed":
                doc["error"] = op["error"]
            return doc

    def capacity_fault(self, ss, zones):
        for c in self.faults.capacity:
            if c["sku"] == ss.sku and (c.get("zone") is None or str(c["zone"]) in zones or not zones):
                return c
        return None

    def update(self, ss, body, api_version):
        """PATCH {"sku": {"capacity": N}} (and tags): 200 with the updated
        document and an operation to poll, or an ARM error."""
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                           "deserialized: the body is not a JSON object.")
        for k in body:
            if k not in ("sku", "tags", "properties", "identity", "plan", "zones"):
                raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                               "deserialized: Could not find member '%s' on object of type "
                               "'VirtualMachineScaleSetUpdate'." % k)
        sku = body.get("sku", {})
        if "name" in sku and sku["name"] != ss.sku:
            raise ArmError(409, "PropertyChangeNotAllowed", "Changing property 'sku.name' is not allowed.")
        with self.lock:
            if "tags" in body:
                if not isinstance(body["tags"], dict):
                    raise ArmError(400, "InvalidRequestContent", "tags must be an object.")
                ss.tags = dict(body["tags"])
            if "capacity" not in sku:
                return self.new_operation()
            cap = sku["capacity"]
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0 or cap > 1000:
                raise ArmError(400, "InvalidParameter", "The value %r of parameter 'sku.capacity' is out of range. "
                               "The value must be between 0 and 1000, inclusive." % (cap,),
                               details=[{"code": "InvalidParameter", "target": "sku.capacity"}])
            live = ss.live()
            grow = cap - len(live)
            fault = self.capacity_fault(ss, ss.zones) if grow > 0 else None
            if fault is not None and fault.get("code") in ("SkuNotAvailable", "OperationNotAllowed"):
                if fault["code"] == "SkuNotAvailable":
                    msg = ("The requested VM size for resource 'Following SKUs have failed for Capacity "
                           "Restrictions: %s' is currently not available in location '%s'. Please try another size "
                           "or deploy to a different location or different zone." % (ss.sku, ss.location))
                else:
                    msg = ("Operation could not be completed as it results in exceeding approved %s Cores quota. "
                           "Additional details - Deployment Model: Resource Manager, Location: %s, Current Limit: "
                           "%d, Current Usage: %d, Additional Required: %d, (Minimum) New Limit Required: %d."
                           % (ss.sku.split("_")[1] if "_" in ss.sku else ss.sku, ss.location,
                              len(live) * 4, len(live) * 4, grow * 4, (len(live) + grow) * 4))
                raise ArmError(409, fault["code"], msg)
            if fault is not None:
                code = fault["code"]
                msg = {"AllocationFailed": "Allocation failed. We do not have sufficient capacity for the requested "
                                           "VM size in this region. Read more about improving likelihood of "
                                           "allocation success at http://aka.ms/allocation-guidance",
                       "ZonalAllocationFailed": "Allocation failed. We do not have sufficient capacity for the "
                                                "requested VM size in this zone. Read more about improving likelihood "
                                                "of allocation success at http://aka.ms/allocation-guidance"
                       }.get(code, "The operation failed: %s." % code)
                return self.new_operation("Failed", {"code": code, "message": msg})
            now = time.time()
            if grow > 0:
                for _ in range(grow):
                    failed = self.faults.fail_vms > 0
                    self.faults.fail_vms -= 1 if failed else 0
                    ss._new_vm(self, now, failed)
            elif grow < 0:
                # Uniform scale-in without named instances: the highest ids go.
                for vm in sorted(live, key=lambda v: -int(v["id"]))[:-grow]:
                    vm["state"], vm["deleted"] = "Deleting", now
            ss.capacity = cap
            return self.new_operation()

    def delete_instances(self, ss, body):
        if not isinstance(body, dict) or not isinstance(body.get("instanceIds"), list) or not body["instanceIds"]:
            raise ArmError(400, "InvalidParameter", "Required parameter 'instanceIds' is missing (null) or empty.",
                           details=[{"code": "InvalidParameter", "target": "instanceIds"}])
        with self.lock:
            ids = body["instanceIds"]
            for i in ids:
                vm = ss.vms.get(i) if isinstance(i, str) else None
                if vm is None or vm["state"] == "Deleting":
                    raise ArmError(400, "InvalidParameter", "The provided instanceId %s is not an active Virtual "
                                   "Machine Scale Set VM instanceId." % json.dumps(i),
                                   details=[{"code": "InvalidParameter", "target": "instanceIds"}])
            now = time.time()
            for i in ids:
                ss.vms[i]["state"], ss.vms[i]["deleted"] = "Deleting", now
            ss.capacity = max(0, ss.capacity - len(ids))
            return self.new_operation()


def _page(items, query, base_url, page_size):
    skip = 0
    if "$skiptoken" in query:
        try:
            skip = int(query["$skiptoken"])
        except ValueError:
            raise ArmError(400, "InvalidSkipToken", "The $skiptoken %r is invalid." % query["$skiptoken"])
    doc = {"value": items[skip:skip + page_size]}
    if skip + page_size < len(items):
        q = {"api-version": query["api-version"], "$skiptoken": str(skip + page_size)}
        doc["nextLink"] = "%s?%s" % (base_url, urllib.parse.urlencode(q))
    return doc


SEG = r"([^/]+)"
R_SUB = r"/subscriptions/" + SEG
R_RG = R_SUB + r"/resourcegroups/" + SEG
R_VMSS = R_RG + r"/providers/microsoft\.compute/virtualmachinescalesets"
ROUTES = [
    ("GET", re.compile(R_SUB + r"/providers/microsoft\.compute/virtualmachinescalesets$"), "list_all", PERM_VMSS_READ),
    ("GET", re.compile(R_VMSS + r"$"), "list", PERM_VMSS_READ),
    ("GET", re.compile(R_VMSS + "/" + SEG + r"$"), "get", PERM_VMSS_READ),
    ("PATCH", re.compile(R_VMSS + "/" + SEG + r"$"), "update", PERM_VMSS_WRITE),
    ("POST", re.compile(R_VMSS + "/" + SEG + r"/delete$"), "delete_instances", PERM_VMSS_DELETE_VMS),
    ("GET", re.compile(R_VMSS + "/" + SEG + r"/virtualmachines$"), "list_vms", PERM_VM_READ),
    ("GET", re.compile(R_VMSS + "/" + SEG + r"/virtualmachines/" + SEG + r"$"), "get_vm", PERM_VM_READ),
    ("GET", re.compile(R_SUB + r"/providers/microsoft\.compute/locations/" + SEG + r"/operations/" + SEG + r"$"),
     "operation", PERM_OP_READ),
]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    emu = None  # set by AzureEmulator.start

    def log_message(self, fmt, *args):
        self.emu.log(fmt % args)

    def _send(self, status, body, headers=None, ctype="application/json; charset=utf-8"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        raw = self._body()
        try:
            if url.path.startswith("/_emu/"):
                return self._control(method, url.path, raw)
            if url.path == "/metadata/identity/oauth2/token":
                return self._imds(method, query)
            if url.path == "/api/retail/prices":
                return self._retail_prices(method, query)
            if not url.path.lower().startswith("/subscriptions/"):
                return self._aad(method, url.path, raw, query)
            return self._arm(method, url.path, query, raw)
        except ArmError as e:
            err = {"code": e.code, "message": e.message}
            if e.details:
                err["details"] = e.details
            self._send(e.status, {"error": err}, e.headers)
        except AadError as e:
            self._send(e.status, {"error": e.error, "error_description": "AADSTS%d: %s\r\nTrace ID: %s\r\n"
                                  "Correlation ID: %s\r\nTimestamp: %s" % (e.aadsts, e.description, uuid.uuid4(),
                                                                            uuid.uuid4(), utc()[:19] + "Z"),
                                  "error_codes": [e.aadsts], "timestamp": utc()[:19] + "Z",
                                  "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())})

    # Control ---------------------------------------------------------------

    def _control(self, method, path, raw):
        emu = self.emu
        try:
            if method == "GET" and path == "/_emu/state":
                return self._send(200, emu.state())
            if method == "POST" and path == "/_emu/faults":
                emu.set_faults(json.loads(raw or b"{}"))
                return self._send(200, {"ok": True})
            if method == "POST" and path == "/_emu/prices":
                emu.prices.set_overrides(json.loads(raw or b"{}"))
                return self._send(200, {"ok": True})
            if method == "POST" and path == "/_emu/scalesets":
                ss = emu.add_scale_set(json.loads(raw))
                return self._send(201, ss.document(emu))
        except (ValueError, TypeError) as e:
            return self._send(400, {"error": {"code": "BadControlRequest", "message": str(e)}})
        self._send(404, {"error": {"code": "NotFound", "message": "no control endpoint %s %s" % (method, path)}})

    # Retail Prices API -----------------------------------------------------

    def _retail_prices(self, method, query):
        emu = self.emu
        with emu.lock:
            emu.prices.calls += 1
            f = emu.faults
            if f.prices_throttle > 0:
                f.prices_throttle -= 1
                return self._send(429, {"Error": {"Code": "TooManyRequests", "Message": "Too many requests. "
                                                  "Please retry after some time."}}, {"Retry-After": "1"})
            if f.prices_malformed > 0:
                f.prices_malformed -= 1
                return self._send(200, b'{"BillingCurrency":"USD","Items":[{"currencyCode":"US')
        if method != "GET":
            return self._send(405, {"Error": {"Code": "MethodNotAllowed", "Message": "Only GET is supported."}})
        status, body = emu.prices.page(emu.url, query)
        self._send(status, body)

    # Tokens ----------------------------------------------------------------

    def _imds(self, method, query):
        emu = self.emu
        if self.headers.get("Metadata", "").lower() != "true":
            return self._send(400, {"error": "invalid_request",
                                    "error_description": "Required metadata header not specified"})
        if method != "GET" or query.get("api-version") not in IMDS_API_VERSIONS:
            return self._send(400, {"error": "invalid_request",
                                    "error_description": "Required query variable 'api-version' is missing or "
                                                         "unknown"})
        resource = query.get("resource", "")
        if resource.rstrip("/") + "/" != ARM_RESOURCE:
            return self._send(400, {"error": "invalid_resource",
                                    "error_description": "AADSTS500011: The resource principal named %s was not "
                                                         "found in the tenant." % resource})
        tok, ttl = emu.issue_token("managed-identity")
        emu.record(method, "/metadata/identity/oauth2/token", None, 200, "managed-identity")
        now = int(time.time())
        # IMDS gives every number as a string.
        self._send(200, {"access_token": tok, "client_id": emu.client_id, "expires_in": str(int(ttl)),
                         "expires_on": str(now + int(ttl)), "ext_expires_in": str(int(ttl)),
                         "not_before": str(now), "resource": resource, "token_type": "Bearer"})

    def _aad(self, method, path, raw, query):
        emu = self.emu
        t = re.escape(emu.tenant)
        if method == "GET" and re.match(r"/(%s|common|organizations)/v2\.0/\.well-known/openid-configuration$" % t,
                                        path):
            auth = emu.authority()
            return self._send(200, {"token_endpoint": auth + "/oauth2/v2.0/token",
                                    "authorization_endpoint": auth + "/oauth2/v2.0/authorize",
                                    "device_authorization_endpoint": auth + "/oauth2/v2.0/devicecode",
                                    "issuer": "https://login.microsoftonline.com/%s/v2.0" % emu.tenant,
                                    "jwks_uri": auth + "/discovery/v2.0/keys",
                                    "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                                              "private_key_jwt",
                                                                              "client_secret_basic"],
                                    "response_types_supported": ["code", "id_token", "code id_token",
                                                                 "id_token token"],
                                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                                    "tenant_region_scope": "NA", "cloud_instance_name": "microsoftonline.com"})
        if method == "GET" and path == "/common/discovery/instance":
            host = urllib.parse.urlsplit(emu.url).netloc
            return self._send(200, {"tenant_discovery_endpoint": emu.authority() +
                                    "/v2.0/.well-known/openid-configuration", "api-version": "1.1",
                                    "metadata": [{"preferred_network": host, "preferred_cache": host,
                                                  "aliases": [host]}]})
        if not re.match(r"/%s/oauth2/v2\.0/token$" % t, path):
            if re.match(r"/[^/]+/oauth2/v2\.0/token$", path):
                raise AadError(400, "invalid_tenant", "Tenant '%s' not found. Check to make sure you have the "
                               "correct tenant ID and are signing into the correct cloud." % path.split("/")[1],
                               90002)
            return self._send(404, {"error": "not_found", "error_description": "no endpoint %s" % path})
        if method != "POST":
            raise AadError(405, "invalid_request", "The request must be a POST.", 900561)
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            raise AadError(400, "invalid_request", "The request body must contain the following parameter: "
                           "'grant_type'.", 900144)
        form = dict(urllib.parse.parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
        who = self._aad_check(form)
        tok, ttl = emu.issue_token(who)
        emu.record(method, path, None, 200, who)
        self._send(200, {"token_type": "Bearer", "expires_in": int(ttl), "ext_expires_in": int(ttl),
                         "access_token": tok})

    def _aad_check(self, form):
        emu = self.emu
        if form.get("grant_type") != "client_credentials":
            raise AadError(400, "unsupported_grant_type", "The provided value for the input parameter 'grant_type' "
                           "is not valid. Expected client_credentials.", 70003)
        if form.get("scope") != ARM_SCOPE:
            raise AadError(400, "invalid_scope", "The provided value for scope %s is not valid. Client credential "
                           "flows must have a scope value with /.default suffixed to the resource identifier."
                           % form.get("scope"), 1002012)
        if form.get("client_id") != emu.client_id:
            raise AadError(400, "unauthorized_client", "Application with identifier '%s' was not found in the "
                           "directory." % form.get("client_id"), 700016)
        if "client_assertion" in form:
            if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
                raise AadError(400, "invalid_request", "client_assertion_type must be "
                               "urn:ietf:params:oauth:client-assertion-type:jwt-bearer.", 50027)
            if form["client_assertion"] not in emu.federated_tokens:
                raise AadError(400, "invalid_client", "AADSTS700024: Client assertion is not within its valid time "
                               "range or does not match a federated identity credential.", 700024)
            return "workload-identity"
        if "client_secret" in form:
            if form["client_secret"] != emu.client_secret:
                raise AadError(401, "invalid_client", "Invalid client secret provided. Ensure the secret being "
                               "sent in the request is the client secret value, not the client secret ID.", 7000215)
            return "client-secret"
        raise AadError(400, "invalid_client", "The request body must contain the following parameter: "
                       "'client_assertion' or 'client_secret'.", 7000218)

    # ARM -------------------------------------------------------------------

    def _arm(self, method, path, query, raw):
        emu = self.emu
        low = path.lower()
        route = None
        for m, rx, name, perm in ROUTES:
            mt = rx.match(low)
            if mt and m == method:
                route = (name, perm, [path[mt.start(i):mt.end(i)] for i in range(1, rx.groups + 1)])
                break
        who = None
        try:
            who = emu.check_bearer(self.headers.get("Authorization"))
            if route is None:
                raise ArmError(404 if not any(rx.match(low) for _, rx, _, _ in ROUTES) else 405,
                               "NotFound" if not any(rx.match(low) for _, rx, _, _ in ROUTES) else
                               "MethodNotAllowed", "No HTTP resource was found that matches the request %s %s."
                               % (method, path))
            api = query.get("api-version")
            if api is None:
                raise ArmError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) "
                               "is required for all requests.")
            if api not in COMPUTE_API_VERSIONS:
                raise ArmError(400, "InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported "
                               "versions are '%s'." % (api, ",".join(COMPUTE_API_VERSIONS)))
            status, body, headers = self._fault(method) or self._route(route, method, path, query, raw, api)
        except ArmError as e:
            emu.record(method, path, route[1] if route else None, e.status, who)
            raise
        emu.record(method, path, route[1], status, who)
        if isinstance(body, bytes):
            return self._send(status, body, headers)
        self._send(status, body, headers)

    def _fault(self, method):
        emu = self.emu
        with emu.lock:
            f = emu.faults
            if f.throttle > 0:
                f.throttle -= 1
                raise ArmError(429, "TooManyRequests", "The request is being throttled as the limit has been "
                               "reached for operation type - Read_30Min. For more information, see - "
                               "https://aka.ms/computethrottling",
                               {"Retry-After": str(int(f.retry_after)),
                                "x-ms-ratelimit-remaining-resource":
                                    "Microsoft.Compute/GetVMScaleSet3Min;0,Microsoft.Compute/GetVMScaleSet30Min;0",
                                "x-ms-ratelimit-remaining-subscription-reads": "0"})
            if f.server_error > 0:
                f.server_error -= 1
                raise ArmError(500, "InternalServerError", "An internal server error occurred. Please retry the "
                               "request.")
            if f.malformed > 0 and method == "GET":
                f.malformed -= 1
                return 200, b'{"value": [{"name": "truncated', {}
        return None

    def _route(self, route, method, path, query, raw, api):
        emu = self.emu
        name, _, args = route
        base_url = emu.url + path
        if name == "operation":
            return 200, emu.operation_document(args[2]), {}
        if name == "list_all":
            if args[0].lower() != emu.subscription.lower():
                raise ArmError(404, "SubscriptionNotFound", "The subscription '%s' could not be found." % args[0])
            with emu.lock:
                items = [ss.document(emu) for ss in emu.scale_sets.values()]
            return 200, _page(items, query, base_url, emu.page_size), {}
        if name == "list":
            if args[0].lower() != emu.subscription.lower():
                raise ArmError(404, "SubscriptionNotFound", "The subscription '%s' could not be found." % args[0])
            with emu.lock:
                items = [ss.document(emu) for ss in emu.scale_sets.values() if ss.rg.lower() == args[1].lower()]
            if not items and not any(ss.rg.lower() == args[1].lower() for ss in emu.scale_sets.values()) \
                    and args[1].lower() != emu.resource_group.lower():
                raise ArmError(404, "ResourceGroupNotFound", "Resource group '%s' could not be found." % args[1])
            return 200, _page(items, query, base_url, emu.page_size), {}
        ss = emu.scale_set(args[0], args[1], args[2])
        if name == "get":
            with emu.lock:
                return 200, ss.document(emu), {}
        if name == "list_vms":
            with emu.lock:
                items = [ss.vm_document(emu, v) for _, v in sorted(ss.vms.items(), key=lambda kv: int(kv[0]))]
            return 200, _page(items, query, base_url, emu.page_size), {}
        if name == "get_vm":
            with emu.lock:
                vm = ss.vms.get(args[3])
                if vm is None:
                    raise ArmError(404, "NotFound", "The entity was not found in this Azure location.")
                return 200, ss.vm_document(emu, vm), {}
        body = self._json(raw)
        if name == "update":
            oid = emu.update(ss, body, api)
            with emu.lock:
                doc = ss.document(emu)
            doc["properties"]["provisioningState"] = "Updating"
            return 200, doc, emu.operation_headers(oid, api)
        if name == "delete_instances":
            oid = emu.delete_instances(ss, body)
            return 202, b"", emu.operation_headers(oid, api)
        raise ArmError(405, "MethodNotAllowed", "%s %s" % (method, path))

    @staticmethod
    def _json(raw):
        try:
            return json.loads(raw or b"null")
        except ValueError as e:
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                           "deserialized: %s" % e)


PRICES_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pricing", "data", "regions",
                          "azure.csv")
PRICES_API_VERSIONS = ("2023-01-01-preview", "2021-10-01-preview")
PRICES_FILTER = re.compile(r"^serviceName eq 'Virtual Machines' and armRegionName eq '([a-z0-9]+)' and "
                           r"priceType eq 'Consumption'$")
# The live figures differ from the embedded ones visibly: this size's Linux list price is 10 % higher, and
# every size has a spot price (the embedded Azure catalogues have none) of 30 % of its list price.
CHANGED_SKU = "Standard_D2s_v5"


def sku_words(sku):
    """Standard_D2s_v5 -> "D2s v5", as the API's skuName and meterName write a size."""
    return sku.split("_", 1)[-1].replace("_", " ")


class RetailPrices(object):
    """The Retail Prices API's answers for the virtual machines of a region, derived from pricing/data's
    embedded figures: per size a Linux meter, a Linux Spot meter, a Linux Low Priority meter and a Windows
    meter, as the real API lists them, in pages of page_size with NextPageLink."""

    def __init__(self, page_size=100):
        self.page_size = page_size
        self.calls = 0
        self.overrides = {}  # sku -> {"on-demand": price, "spot": price}
        self._rows = None

    def set_overrides(self, body):
        if not isinstance(body, dict):
            raise ValueError("prices: the body must be {sku: {\"on-demand\": price, \"spot\": price}}")
        for sku, v in body.items():
            if not isinstance(v, dict) or not all(k in ("on-demand", "spot") and isinstance(x, (int, float))
                                                  for k, x in v.items()):
                raise ValueError("prices: %s: expected {\"on-demand\": price, \"spot\": price}" % sku)
            self.overrides.setdefault(sku, {}).update(v)

    def rows(self):
        if self._rows is None:
            rows = {}
            with open(PRICES_CSV) as f:
                header = f.readline().strip().split(",")
                ir, isku, iod = header.index("region"), header.index("vm_size"), header.index("od_usd_h")
                for line in f:
                    c = line.rstrip("\n").split(",")
                    if c[iod]:
                        rows.setdefault(c[ir], []).append((c[isku], float(c[iod])))
            self._rows = rows
        return self._rows

    def items(self, region):
        out = []
        for sku, od in self.rows().get(region, []):
            if sku == CHANGED_SKU:
                od = round(od * 1.1, 6)
            ov = self.overrides.get(sku, {})
            od = ov.get("on-demand", od)
            spot = ov.get("spot", round(od * 0.3, 6))
            words = sku_words(sku)
            series = "Virtual Machines %s Series" % words.split(" ")[0].rstrip("0123456789-")
            for product, sku_name, meter, price in (
                    (series, words, words, od),
                    (series, words + " Spot", words + " Spot", spot),
                    (series, words + " Low Priority", words + " Low Priority", round(od * 0.2, 6)),
                    (series + " Windows", words, words, round(od * 1.5, 6))):
                out.append({"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price,
                            "unitPrice": price, "armRegionName": region, "location": region,
                            "effectiveStartDate": "2026-11-01T00:00:00Z",
                            "meterId": str(uuid.uuid5(uuid.NAMESPACE_URL, region + "/" + product + "/" + meter)),
                            "meterName": meter, "productId": "DZH318Z0BQ4L", "skuId": "DZH318Z0BQ4L/00TG",
                            "productName": product, "skuName": sku_name, "serviceName": "Virtual Machines",
                            "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute", "unitOfMeasure": "1 Hour",
                            "type": "Consumption", "isPrimaryMeterRegion": True, "armSkuName": sku})
        return out

    def page(self, base_url, query):
        bad = (400, {"Error": {"Code": "BadRequest", "Message": "Invalid OData parameters supplied"}})
        api = query.get("api-version")
        if api is not None and api not in PRICES_API_VERSIONS:
            return 400, {"Error": {"Code": "BadRequest", "Message": "Invalid api-version %s" % api}}
        m = PRICES_FILTER.match(query.get("$filter", ""))
        try:
            skip = int(query.get("$skip", "0"))
        except ValueError:
            return bad
        if m is None or skip < 0:
            return bad
        items = self.items(m.group(1))
        chunk = items[skip:skip + self.page_size]
        nxt = None
        if skip + self.page_size < len(items):
            q = {"$filter": query["$filter"], "$skip": str(skip + self.page_size)}
            if api is not None:
                q["api-version"] = api
            nxt = base_url + "/api/retail/prices?" + urllib.parse.urlencode(q, safe="$", quote_via=urllib.parse.quote)
        return 200, {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                     "Items": chunk, "NextPageLink": nxt, "Count": len(chunk)}


def load_shapes(path):
    out = {}
    with open(path) as f:
        header = f.readline().strip().split(",")
        try:
            iname, icpu, imem = header.index("vm_size"), header.index("vcpu"), header.index("memory_gib")
        except ValueError:
            raise SystemExit("azure-emulator: %s: the header needs vm_size, vcpu and memory_gib" % path)
        for n, line in enumerate(f, 2):
            cols = line.rstrip("\n").split(",")
            try:
                out[cols[iname]] = (int(float(cols[icpu])), int(float(cols[imem])))
            except (ValueError, IndexError):
                continue  # sizes without published shapes are left out: a scale set of one is refused by name
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Azure scale set and token endpoint emulator for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ready-file")
    ap.add_argument("--tls-dir")
    ap.add_argument("--insecure-http", action="store_true")
    ap.add_argument("--load", help="JSON: {\"scaleSets\": [...]} (the fields of POST /_emu/scalesets)")
    ap.add_argument("--launch-delay", type=float, default=2.0)
    ap.add_argument("--delete-delay", type=float, default=1.0)
    ap.add_argument("--page-size", type=int, default=50)
    ap.add_argument("--subscription")
    ap.add_argument("--resource-group", default="MC_stevedore_test_eastus")
    ap.add_argument("--location", default="eastus")
    ap.add_argument("--tenant")
    ap.add_argument("--client-id", default="11111111-2222-3333-4444-555555555555")
    ap.add_argument("--client-secret", default="emu-client-secret")
    ap.add_argument("--federated-token", default="emu-federated-token")
    ap.add_argument("--kube-url")
    ap.add_argument("--kube-token")
    ap.add_argument("--kube-ca")
    ap.add_argument("--shapes")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    emu = AzureEmulator(port=a.port, tls_dir=a.tls_dir, insecure_http=a.insecure_http, subscription=a.subscription,
                        resource_group=a.resource_group, location=a.location, tenant=a.tenant,
                        client_id=a.client_id, client_secret=a.client_secret, federated_token=a.federated_token,
                        launch_delay=a.launch_delay, delete_delay=a.delete_delay, page_size=a.page_size,
                        kube_url=a.kube_url, kube_token=a.kube_token, kube_ca=a.kube_ca,
                        shapes=load_shapes(a.shapes) if a.shapes else None, verbose=a.verbose)
    if a.load:
        try:
            with open(a.load) as f:
                doc = json.load(f)
            for i, spec in enumerate(doc.get("scaleSets", [])):
                try:
                    emu.add_scale_set(spec)
                except ValueError as e:
                    raise SystemExit("azure-emulator: %s: scaleSets[%d]: %s" % (a.load, i, e))
        except (OSError, ValueError) as e:
            raise SystemExit("azure-emulator: %s: %s" % (a.load, e))
    emu.start()
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"url": emu.url, "port": emu.port, "imds_url": emu.imds_url, "ca_file": emu.ca_file, "subscription": emu.subscription,
                       "tenant": emu.tenant, "resource_group": emu.resource_group, "pid": os.getpid()}, f)
        os.rename(tmp, a.ready_file)
    print("azure-emulator listening on %s" % emu.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
