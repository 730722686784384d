"""Server-side Table output (meta.k8s.io/v1 Table), which kubectl asks for
with Accept: application/json;as=Table;v=v1;g=meta.k8s.io: the columns
`kubectl get` prints for pods, nodes and events as the apiserver's
printers make them, and Name plus Created At for every other kind.
Each row carries the object as PartialObjectMetadata (includeObject=Metadata,
the default), the whole object (Object) or nothing (None).
"""

import datetime

import emu_kinds

TABLE_MEDIA = "application/json;as=Table;v=v1;g=meta.k8s.io"


def wants_table(accept):
    """Whether an Accept header prefers a meta.k8s.io/v1 Table."""
    for part in (accept or "").split(","):
        params = {}
        fields = [f.strip() for f in part.split(";")]
        for f in fields[1:]:
            if "=" in f:
                k, v = f.split("=", 1)
                params[k.strip()] = v.strip()
        if fields[0] in ("application/json", "*/*"):
            return params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") == "v1"
    return False


def _col(name, ctype="string", fmt="", priority=0, description=""):
    return {"name": name, "type": ctype, "format": fmt, "description": description, "priority": priority}


def _age(ts):
    """The apiserver's short human age: 45s, 12m, 5h, 3d."""
    if not ts:
        return "<unknown>"
    try:
        t = datetime.datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<invalid>"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 0:
        return "<invalid>"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= 2 * size:
            return "%d%s" % (s // size, unit)
    return "%ds" % s


def _pod_row(p):
    st = p.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((p.get("spec") or {}).get("containers") or [])
    ready = sum(1 for c in cs if c.get("ready"))
    status = st.get("reason") or st.get("phase") or "Unknown"
    if p["metadata"].get("deletionTimestamp"):
        status = "Terminating"
    restarts = sum(c.get("restartCount", 0) for c in cs)
    return ["%d/%d" % (ready, total), status, restarts, _age(p["metadata"].get("creationTimestamp")),
            st.get("podIP") or "<none>", (p.get("spec") or {}).get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>", "<none>"]


def _node_row(n):
    status = "Ready" if emu_kinds.is_ready(n) else "NotReady"
    if (n.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = n["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    return [status, ",".join(roles) or "<none>", _age(n["metadata"].get("creationTimestamp")),
            ((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")]


def _event_row(e):
    inv = e.get("involvedObject") or {}
    seen = e.get("lastTimestamp") or e.get("eventTime") or e["metadata"].get("creationTimestamp")
    return [_age(seen), e.get("type", ""), e.get("reason", ""), "%s/%s" % (inv.get("kind", "").lower(),
                                                                         inv.get("name", "")),
            e.get("message", "")]


COLUMNS = {
    ("", "pods"): ([_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts", "integer"),
                    _col("Age"), _col("IP", priority=1), _col("Node", priority=1),
                    _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)], _pod_row),
    ("", "nodes"): ([_col("Name", fmt="name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version")],
                    _node_row),
    ("", "events"): ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")],
                     _event_row),
}


def _row_object(res, obj, include):
    if include == "None":
        return None
    if include == "Object":
        return emu_kinds.view(res, obj)
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(res, objs, list_meta, include="Metadata", headers=True):
    """A Table of objects (stored form) of one resource."""
    cols, row = COLUMNS.get((res.group, res.plural), (None, None))
    rows = []
    for o in objs:
        if cols is None:
            cells = [o["metadata"]["name"], o["metadata"].get("creationTimestamp")]
        elif res.plural == "events":
            cells = row(o)
        else:
            cells = [o["metadata"]["name"]] + row(o)
        r = {"cells": cells}
        ro = _row_object(res, o, include)
        if ro is not None:
            r["object"] = ro
        rows.append(r)
    if cols is None:
        cols = [_col("Name", fmt="name"), _col("Created At", fmt="date")]
    doc = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "rows": rows}
    if headers:
        doc["columnDefinitions"] = cols
    return doc
