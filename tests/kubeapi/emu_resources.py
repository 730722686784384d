"""The kinds the Kubernetes API emulator serves, and its discovery documents.

One table (RESOURCES) says, for every resource, its group, version, plural
and singular names, kind, whether it is namespaced, its verbs, short names
and subresources; discovery (/api, /api/v1, /apis, /apis/<g>/<v>) and path
routing are both derived from it, so they cannot disagree.
"""

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
VERSION = {
    "major": "1",
    "minor": "29",
    "gitVersion": "v1.29.0-stevedore-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.21.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class Res(object):
    """One resource: where it lives in the URL space and how it is stored.

    store is the key of the shared object table: core v1 events and
    events.k8s.io/v1 events are two views of one table, as in a real
    apiserver. status is True when a status subresource exists, so that
    updates of the main resource leave .status alone and /status updates
    leave everything else alone."""

    def __init__(self, group, version, plural, singular, kind, namespaced, verbs=None, short=(),
                 status=False, subresources=(), store=None, categories=(), unconditional=True,
                 create_on_update=False):
        self.group = group
        self.version = version
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.namespaced = namespaced
        self.verbs = verbs or ALL_VERBS
        self.short = list(short)
        self.status = status
        self.subresources = list(subresources)  # (name, kind, group, version, verbs)
        if status:
            self.subresources.append(("status", kind, "", "", ["get", "patch", "update"]))
        self.store = store or "%s/%s" % (group, plural)
        self.categories = list(categories)
        # The registry strategy's AllowUnconditionalUpdate and AllowCreateOnUpdate.
        self.unconditional = unconditional
        self.create_on_update = create_on_update

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def group_version(self):
        return self.api_version

    def sub(self, name):
        for s in self.subresources:
            if s[0] == name:
                return s
        return None

    def qualified(self):
        """The resource name as the apiserver's messages spell it: "pods",
        "poddisruptionbudgets.policy"."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural


_NS_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]

RESOURCES = [
    Res("", "v1", "bindings", "binding", "Binding", True, verbs=["create"]),
    Res("", "v1", "configmaps", "configmap", "ConfigMap", True, short=["cm"]),
    Res("", "v1", "events", "event", "Event", True, short=["ev"], store="events", create_on_update=True),
    Res("", "v1", "namespaces", "namespace", "Namespace", False, verbs=_NS_VERBS, short=["ns"], status=True,
        subresources=[("finalize", "Namespace", "", "", ["update"])]),
    Res("", "v1", "nodes", "node", "Node", False, short=["no"], status=True),
    Res("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", True,
        short=["pvc"], status=True),
    Res("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", False, short=["pv"], status=True),
    Res("", "v1", "pods", "pod", "Pod", True, short=["po"], status=True, categories=["all"],
        subresources=[("binding", "Binding", "", "", ["create"]),
                      ("eviction", "Eviction", "policy", "v1", ["create"])]),
    Res("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, short=["ds"], status=True,
        categories=["all"]),
    Res("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, short=["rs"], status=True,
        categories=["all"]),
    Res("coordination.k8s.io", "v1", "leases", "lease", "Lease", True, unconditional=False, create_on_update=True),
    Res("events.k8s.io", "v1", "events", "event", "Event", True, short=["ev"], store="events",
        create_on_update=True),
    Res("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True,
        short=["pdb"], status=True),
    Res("storage.k8s.io", "v1", "csinodes", "csinode", "CSINode", False),
    Res("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", False, short=["sc"]),
]

# The order /apis lists its groups in, as an apiserver orders them.
GROUP_ORDER = ["apps", "events.k8s.io", "policy", "storage.k8s.io", "coordination.k8s.io"]


def find(group, version, plural):
    for r in RESOURCES:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None


def by_kind(api_version, kind):
    for r in RESOURCES:
        if r.api_version == api_version and r.kind == kind:
            return r
    return None


def group_versions():
    return sorted({(r.group, r.version) for r in RESOURCES if r.group},
                  key=lambda gv: GROUP_ORDER.index(gv[0]) if gv[0] in GROUP_ORDER else 99)


def api_versions(server_address):
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name, version):
    gv = {"groupVersion": "%s/%s" % (name, version), "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def api_group_list():
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, v) for g, v in group_versions()]}


def api_group(name):
    for g, v in group_versions():
        if g == name:
            doc = _group(g, v)
            doc.update({"kind": "APIGroup", "apiVersion": "v1"})
            return doc
    return None


def resource_list(group, version):
    """The APIResourceList of one group version, or None if it is not served."""
    out = []
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": list(r.verbs)}
        if r.short:
            entry["shortNames"] = list(r.short)
        if r.categories:
            entry["categories"] = list(r.categories)
        out.append(entry)
        for name, kind, sgroup, sversion, verbs in r.subresources:
            sub = {"name": "%s/%s" % (r.plural, name), "singularName": "", "namespaced": r.namespaced,
                   "kind": kind, "verbs": list(verbs)}
            if sgroup:
                sub["group"] = sgroup
                sub["version"] = sversion
            out.append(sub)
    if not out:
        return None
    gv = "%s/%s" % (group, version) if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": sorted(out, key=lambda e: e["name"])}


# Field selectors each kind supports besides metadata.name and
# metadata.namespace (the apiserver's field label conversion functions);
# each maps to a function of the object.
def _get(obj, path, default=""):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict) or p not in cur:
            return default
        cur = cur[p]
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return "" if cur is None else str(cur)


FIELDS = {
    "pods": ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"],
    "nodes": ["spec.unschedulable"],
    "namespaces": ["status.phase"],
    "events": ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"],
    "persistentvolumeclaims": [],
    "persistentvolumes": [],
}


def field_value(res, obj, field):
    """The value of a field selector's field for this object; raises KeyError
    for a field the kind does not support (the apiserver answers 400)."""
    if field in ("metadata.name", "metadata.namespace"):
        return _get(obj, field)
    if field in FIELDS.get(res.plural, []) and res.group == "":
        if res.plural == "pods" and field == "spec.hostNetwork":
            return _get(obj, field) or "false"
        if res.plural == "events" and field == "source":
            return _get(obj, "source.component") or _get(obj, "reportingComponent")
        return _get(obj, field)
    raise KeyError(field)
