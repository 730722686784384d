"""The resource verbs of the emulator: list, watch, get, create, update,
patch, delete and deletecollection, and the pods/binding and pods/eviction
subresources; serve() is called by the HTTP handler with a routed request.
"""

import copy
import json
import queue
import select
import time

import emu_kinds
import emu_patch
import emu_select
import emu_table
from emu_store import (ApiError, bad_request, decode_continue, encode_continue, expired, invalid, key_string,
                       matches)

JSON = "application/json"


def _q(query, name, default=None):
    return query.get(name, [default])[0]


def serve(h, verb, req, query):
    res = req.res
    as_table = emu_table.wants_table(h.headers.get("Accept"))
    include = _q(query, "includeObject", "Metadata")
    if include not in ("None", "Metadata", "Object"):
        raise bad_request('includeObject: Unsupported value: "%s": supported values: "None", "Metadata", "Object"'
                          % include)
    if verb == "GET" and req.name is None:
        if _q(query, "watch", "").lower() in ("1", "true"):
            return watch(h, req, query, include if as_table else None)
        doc, objs = list_objects(h.server.emu.store, req, query, with_objects=True)
        if as_table:
            doc = emu_table.table(res, objs, doc["metadata"], include)
        return h.send_json(200, doc)
    if verb == "DELETE" and req.name is None:
        return delete_collection(h, req, query)
    if verb == "POST" and req.name is None:
        return create(h, req, query)
    if req.name is None:
        raise method_not_allowed()
    if verb == "GET" and req.sub in (None, "status"):
        obj = h.server.emu.store.get(res, req.ns, req.name)
        if as_table:
            return h.send_json(200, emu_table.table(res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                                    include))
        return h.send_json(200, emu_kinds.view(res, obj))
    if verb == "POST" and req.sub in ("binding", "eviction"):
        return subresource(h, req, read_json(h))
    if verb == "PUT" and req.sub in (None, "status", "finalize"):
        return update(h, req, read_json(h))
    if verb == "PATCH" and req.sub in (None, "status"):
        return patch(h, req)
    if verb == "DELETE" and req.sub is None:
        return delete(h, req, query)
    raise method_not_allowed()


def method_not_allowed():
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def read_json(h):
    ctype = h.headers.get("Content-Type", JSON).split(";")[0].strip()
    body = h.read_body()
    if ctype not in (JSON, ""):
        raise ApiError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - accepted '
                       'media types include: application/json')
    try:
        doc = json.loads(body or b"null")
    except ValueError as e:
        raise bad_request("the body of the request could not be decoded as JSON: %s" % e)
    if not isinstance(doc, dict):
        raise bad_request("the body of the request is not a JSON object")
    return doc


def _check_type(req, obj, kind=None, api_version=None):
    kind = kind or req.res.kind
    api_version = api_version or req.res.api_version
    if obj.get("apiVersion") not in (None, "", api_version):
        raise bad_request("the API version in the data (%s) does not match the expected API version (%s)"
                          % (obj.get("apiVersion"), api_version))
    if obj.get("kind") not in (None, "", kind):
        raise bad_request("%s in version \"%s\" cannot be handled as a %s: no kind \"%s\" is registered for "
                          "version \"%s\"" % (obj.get("kind"), api_version, kind, obj.get("kind"), api_version))
    obj["apiVersion"], obj["kind"] = api_version, kind


def _stored(req, obj):
    """A body of this resource's group version as it is stored."""
    if req.res.store == "events" and req.res.group == "events.k8s.io":
        return emu_kinds.event_from_group(obj)
    return obj


def _selectors(query):
    try:
        labels = emu_select.parse_labels(_q(query, "labelSelector", "") or "")
        fields = emu_select.parse_fields(_q(query, "fieldSelector", "") or "")
    except ValueError as e:
        raise bad_request(str(e))
    return labels, fields


def _filter(req, objs, labels, fields):
    try:
        return [o for o in objs if matches(req.res, o, req.ns, labels, fields)]
    except KeyError as e:
        raise bad_request("field label not supported: %s" % e.args[0])


def _list_state(store, req, rv_param, match, limit, cont):
    """(objects, resourceVersion) a list request is served from."""
    res = req.res
    if cont:
        if rv_param not in (None, ""):
            raise bad_request("specifying resource version is not allowed when using continue")
        rv, start = decode_continue(cont)
        if rv == -1:
            return store.items(res.store), store.rv, start
        objs = store.items_at(res.store, rv)
        if objs is None:
            raise expired("The provided continue parameter is too old to display a consistent list result. You "
                          "can start a new list without the continue parameter, or use the continue token in this "
                          "response to retrieve the remainder of the results. Continuing with the provided token "
                          "results in an inconsistent list - objects that were created, modified, or deleted "
                          "between the time the first chunk was returned and now may show up in the list.",
                          encode_continue(-1, start))
        return objs, rv, start
    if match and rv_param in (None, ""):
        raise bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if match not in (None, "", "Exact", "NotOlderThan"):
        raise bad_request('resourceVersionMatch "%s" is not supported: use "Exact" or "NotOlderThan"' % match)
    if rv_param in (None, "", "0"):
        if match == "Exact":
            raise bad_request('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
        return store.items(res.store), store.rv, ""
    try:
        rv = int(rv_param)
    except ValueError:
        raise bad_request('invalid resource version "%s"' % rv_param)
    with store.lock:
        wait_for_rv(store, rv)
        if match == "Exact" or (not match and limit):
            objs = store.items_at(res.store, rv)
            if objs is None:
                raise expired("too old resource version: %d (%d)" % (rv, store.floor))
            return objs, rv, ""
        return store.items(res.store), store.rv, ""


TOO_LARGE_WAIT = 3.0  # seconds, the watch cache's blockTimeout


def wait_for_rv(store, rv):
    """Wait (the store's lock held) until the store has reached
    resourceVersion rv, at most TOO_LARGE_WAIT seconds, as the watch cache
    does; then 504 "Too large resource version"."""
    end = time.time() + TOO_LARGE_WAIT
    while rv > store.rv:
        left = end - time.time()
        if left <= 0:
            raise ApiError(504, "Timeout", "Too large resource version: %d, current: %d" % (rv, store.rv),
                           {"causes": [{"reason": "ResourceVersionTooLarge",
                                        "message": "Too large resource version"}], "retryAfterSeconds": 1})
        store.changed.wait(left)


def list_objects(store, req, query, with_objects=False):
    """The list of a collection: selectors, limit/continue, resourceVersion
    and resourceVersionMatch as the apiserver reads them."""
    labels, fields = _selectors(query)
    try:
        limit = int(_q(query, "limit", "0") or 0)
    except ValueError:
        raise bad_request("limit: invalid value %r" % _q(query, "limit"))
    rv_param = _q(query, "resourceVersion")
    cont = _q(query, "continue", "")
    if rv_param == "0" and not cont:
        limit = 0  # served from the watch cache, which ignores limit
    with store.lock:
        objs, rv, start = _list_state(store, req, rv_param, _q(query, "resourceVersionMatch"), limit, cont)
    objs = _filter(req, objs, labels, fields)
    if start:
        objs = [o for o in objs if _key(o) > start]
    meta = {"resourceVersion": str(rv)}
    if limit > 0 and len(objs) > limit:
        rest = len(objs) - limit
        objs = objs[:limit]
        meta["continue"] = encode_continue(rv, _key(objs[-1]))
        if not labels and not fields:
            meta["remainingItemCount"] = rest
    doc = list_doc(req, objs, meta)
    return (doc, objs) if with_objects else doc


def list_doc(req, objs, meta):
    """A <Kind>List of objects: its items carry no kind and apiVersion, as a
    real list's items."""
    items = []
    for o in objs:
        v = copy.copy(emu_kinds.view(req.res, o))
        v.pop("apiVersion", None)
        v.pop("kind", None)
        items.append(v)
    return {"kind": req.res.kind + "List", "apiVersion": req.res.api_version, "metadata": meta, "items": items}


def _key(obj):
    m = obj["metadata"]
    return key_string((m.get("namespace", ""), m["name"]))


def _write_chunk(h, data):
    h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _event_line(req, etype, obj, table_include=None):
    """One watch event; with table_include set (a Table watch), its object is
    a Table of one row."""
    if table_include is not None:
        out = emu_table.table(req.res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                              table_include)
    else:
        out = emu_kinds.view(req.res, obj)
    return json.dumps({"type": etype, "object": out}, separators=(",", ":")).encode() + b"\n"


def _translate(req, ev, labels, fields):
    """The event a watcher with these selectors sees for a write, or None:
    an object entering the selection arrives as ADDED, one leaving it as
    DELETED."""
    now = matches(req.res, ev.obj, req.ns, labels, fields)
    before = ev.prev is not None and matches(req.res, ev.prev, req.ns, labels, fields)
    if ev.type == "ADDED":
        return "ADDED" if now else None
    if ev.type == "DELETED":
        return "DELETED" if before or now else None
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    return "DELETED" if before else None


# A BOOKMARK's object is an empty object of the kind, serialized as the
# apiserver's typed Go structs come out: zero values of the fields that
# are not omitempty, such as a pod's "containers":null.
_NODE_INFO = ["machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
              "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture"]
BOOKMARK_BODY = {
    "pods": {"spec": {"containers": None}, "status": {}},
    "nodes": {"spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                                     "nodeInfo": {k: "" for k in _NODE_INFO}}},
    "poddisruptionbudgets": {"spec": {}, "status": {"disruptionsAllowed": 0, "currentHealthy": 0,
                                                    "desiredHealthy": 0, "expectedPods": 0}},
    "leases": {"spec": {}},
    "namespaces": {"spec": {}, "status": {}},
}


def _bookmark(req, rv, extra_annotations=None):
    meta = {"resourceVersion": str(rv), "creationTimestamp": None}
    if extra_annotations:
        meta["annotations"] = extra_annotations
    obj = {"kind": req.res.kind, "apiVersion": req.res.api_version, "metadata": meta}
    obj.update(copy.deepcopy(BOOKMARK_BODY.get(req.res.plural, {})))
    return json.dumps({"type": "BOOKMARK", "object": obj}, separators=(",", ":")).encode() + b"\n"


CLIENT_CHECK = 1.0  # seconds between checks that an idle watch's client is still there


def _client_gone(h):
    """Whether the client of a watch closed its end: a client sends nothing
    on a watch connection, so anything readable is its end of stream."""
    try:
        readable, _, _ = select.select([h.connection], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def watch(h, req, query, table_include=None):
    """A chunked stream of watch events, one JSON object per line."""
    emu = h.server.emu
    store = emu.store
    labels, fields = _selectors(query)
    _filter(req, [], labels, fields)
    for o in store.items(req.res.store)[:1]:
        _filter(req, [o], labels, fields)  # an unsupported field selector is a 400 before the stream starts
    rv_param = _q(query, "resourceVersion", "")
    bookmarks = _q(query, "allowWatchBookmarks", "").lower() in ("1", "true")
    initial_flag = _q(query, "sendInitialEvents", "").lower()
    try:
        from_rv = int(rv_param) if rv_param not in ("", "0") else None
    except ValueError:
        raise bad_request('invalid resource version "%s"' % rv_param)
    initial = from_rv is None if initial_flag == "" else initial_flag in ("1", "true")
    timeout = float(_q(query, "timeoutSeconds", "0") or 0) or emu.watch_timeout
    close_after = emu.faults.watch_close_after
    if from_rv is not None:
        with store.lock:
            wait_for_rv(store, from_rv)
    h.send_response(200)
    h.send_header("Content-Type", JSON)
    h.send_header("Transfer-Encoding", "chunked")
    h.send_header("Cache-Control", "no-cache, private")
    h.send_header("Audit-Id", h.audit_id)
    h.end_headers()
    h.status_code = 200
    h.audit("GET", h.path.split("?")[0], h.path.split("?", 1)[1] if "?" in h.path else "")
    try:
        w, replay, start_rv = store.watch(req.res.store, from_rv, initial)
    except ApiError as e:
        _write_chunk(h, json.dumps({"type": "ERROR", "object": e.status()}, separators=(",", ":")).encode()
                     + b"\n")
        h.wfile.write(b"0\r\n\r\n")
        return
    sent = 0
    last_rv = from_rv or start_rv
    deadline = time.time() + timeout
    next_bookmark = time.time() + emu.faults.bookmark_interval
    try:
        for ev in replay:
            if close_after and sent >= close_after:
                break
            etype = _translate(req, ev, labels, fields)
            if etype:
                _write_chunk(h, _event_line(req, etype, ev.obj, table_include))
                sent += 1
        if initial_flag in ("1", "true") and bookmarks:
            _write_chunk(h, _bookmark(req, start_rv, {"k8s.io/initial-events-end": "true"}))
        last_rv = max(last_rv, start_rv if initial else last_rv)
        if replay:
            last_rv = max(last_rv, max(ev.rv for ev in replay))
        while not (close_after and sent >= close_after):
            now = time.time()
            if now >= deadline:
                break
            wait = min(deadline - now, CLIENT_CHECK)
            if bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            try:
                ev = w.queue.get(timeout=wait)
            except queue.Empty:
                ev = False
                if _client_gone(h):
                    break
            if ev is None:
                break  # the emulator restarts or stops
            if ev:
                last_rv = ev.rv
                etype = _translate(req, ev, labels, fields)
                if etype:
                    _write_chunk(h, _event_line(req, etype, ev.obj, table_include))
                    sent += 1
            if bookmarks and time.time() >= next_bookmark:
                with store.lock:
                    rv = store.rv if w.queue.empty() else last_rv
                _write_chunk(h, _bookmark(req, rv))
                next_bookmark = time.time() + emu.faults.bookmark_interval
        h.wfile.write(b"0\r\n\r\n")
    finally:
        store.unwatch(w)


def create(h, req, query):
    emu = h.server.emu
    store = emu.store
    res = req.res
    obj = read_json(h)
    if res.plural == "bindings":
        name = (obj.get("metadata") or {}).get("name", "")
        _check_type(req, obj)
        emu_kinds.bind(store, req.ns, name, obj)
        return h.send_json(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                 "code": 201})
    _check_type(req, obj)
    meta = obj.setdefault("metadata", {})
    h.object_name = str(meta.get("name") or "")
    if res.namespaced:
        if meta.get("namespace") not in (None, "", req.ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                              "request")
        emu_kinds.require_namespace(store, req.ns)
    obj = _stored(req, obj)
    emu_kinds.prepare_create(res, obj)
    if _q(query, "dryRun") == "All":
        return h.send_json(201, emu_kinds.view(res, obj))
    with store.lock:
        out = store.create(res, req.ns or "", obj)
    h.send_json(201, emu_kinds.view(res, out))


def _merge_for_update(req, old, new):
    """What a PUT or PATCH may change: the main resource leaves status alone,
    the status subresource changes only status."""
    res = req.res
    if req.sub == "status":
        out = copy.deepcopy(old)
        out["status"] = new.get("status")
        out["metadata"]["resourceVersion"] = new.get("metadata", {}).get("resourceVersion")
        return out
    if req.sub == "finalize":
        out = copy.deepcopy(old)
        out["spec"] = new.get("spec")
        return out
    if res.status:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    return new


def update(h, req, obj):
    store = h.server.emu.store
    _check_type(req, obj)
    meta = obj.setdefault("metadata", {})
    if meta.get("name") not in (None, req.name):
        raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                          % (meta.get("name"), req.name))
    meta["name"] = req.name
    if req.res.namespaced and meta.get("namespace") not in (None, "", req.ns):
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
    obj = _stored(req, obj)
    with store.lock:
        if req.sub is None and req.res.create_on_update and \
                (req.ns or "", req.name) not in store.tables[req.res.store]:
            if req.ns:
                emu_kinds.require_namespace(store, req.ns)
            emu_kinds.prepare_create(req.res, obj)
            return h.send_json(201, emu_kinds.view(req.res, store.create(req.res, req.ns or "", obj)))
        old = store.get(req.res, req.ns, req.name)
        if req.sub is None and not meta.get("resourceVersion") and not req.res.unconditional:
            raise invalid(req.res, req.name, "metadata.resourceVersion",
                          "Invalid value: 0x0: must be specified for an update")
        new = _merge_for_update(req, old, obj)
        out = store.put(req.res, req.ns, req.name, new, new.get("metadata", {}).get("resourceVersion"),
                        new.get("metadata", {}).get("uid"))
    h.send_json(200, emu_kinds.view(req.res, out))


def patch(h, req):
    store = h.server.emu.store
    ctype = h.headers.get("Content-Type", "").split(";")[0].strip()
    body = h.read_body()
    if ctype not in emu_patch.PATCH_TYPES:
        raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                       "media types include: %s" % ", ".join(emu_patch.PATCH_TYPES))
    with store.lock:
        old = store.get(req.res, req.ns, req.name)
        try:
            patched = emu_patch.apply(ctype, emu_kinds.view(req.res, old), body)
        except emu_patch.PatchError as e:
            raise ApiError(422 if ctype == "application/json-patch+json" else 400,
                           "Invalid" if ctype == "application/json-patch+json" else "BadRequest", str(e))
        if not isinstance(patched, dict):
            raise bad_request("the patch does not leave an object")
        _check_type(req, patched)
        patched = _stored(req, patched)
        pmeta = patched.setdefault("metadata", {})
        if pmeta.get("name") != req.name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (pmeta.get("name"), req.name))
        precondition = pmeta.get("resourceVersion")
        if precondition == old["metadata"]["resourceVersion"]:
            precondition = None
        new = _merge_for_update(req, old, patched)
        out = store.put(req.res, req.ns, req.name, new, precondition, None)
    h.send_json(200, emu_kinds.view(req.res, out))


def _delete_options(h, query):
    body = h.read_body()
    opts = {}
    if body:
        try:
            opts = json.loads(body)
        except ValueError as e:
            raise bad_request("DeleteOptions could not be decoded: %s" % e)
    if _q(query, "gracePeriodSeconds") is not None:
        opts["gracePeriodSeconds"] = int(_q(query, "gracePeriodSeconds"))
    if _q(query, "dryRun") is not None:
        opts["dryRun"] = [_q(query, "dryRun")]
    return opts


def delete(h, req, query):
    store = h.server.emu.store
    opts = _delete_options(h, query)
    pre = opts.get("preconditions") or {}
    if "All" in (opts.get("dryRun") or []):
        obj = store.get(req.res, req.ns, req.name)
        return h.send_json(200, emu_kinds.view(req.res, obj))
    obj, gone = store.delete(req.res, req.ns, req.name, pre.get("resourceVersion"), pre.get("uid"))
    if not gone or req.res.plural in ("pods", "namespaces"):
        return h.send_json(200 if gone else 202, emu_kinds.view(req.res, obj))
    details = {"name": req.name, "kind": req.res.plural, "uid": obj["metadata"]["uid"]}
    if req.res.group:
        details["group"] = req.res.group
    h.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": details})


def delete_collection(h, req, query):
    if "deletecollection" not in req.res.verbs:
        raise method_not_allowed()
    store = h.server.emu.store
    _delete_options(h, query)
    labels, fields = _selectors(query)
    with store.lock:
        objs = _filter(req, store.items(req.res.store), labels, fields)
        for o in objs:
            store.delete(req.res, o["metadata"].get("namespace", ""), o["metadata"]["name"])
        rv = store.rv
    h.send_json(200, list_doc(req, objs, {"resourceVersion": str(rv)}))


def subresource(h, req, body):
    store = h.server.emu.store
    if req.sub == "binding":
        _check_type(req, body, "Binding", "v1")
        emu_kinds.bind(store, req.ns, req.name, body)
    else:
        if body.get("apiVersion") not in (None, "policy/v1", "policy/v1beta1"):
            raise bad_request("unsupported Eviction apiVersion %s: use policy/v1" % body.get("apiVersion"))
        if body.get("kind") not in (None, "Eviction"):
            raise bad_request("the body of a pods/eviction request must be an Eviction, not %s" % body.get("kind"))
        emu_kinds.evict(store, req.ns, req.name, body)
    h.send_json(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
