"""The three patch formats of PATCH requests.

- application/merge-patch+json: RFC 7386 (maps merge, null deletes, lists
  replace).
- application/json-patch+json: RFC 6902 (add, remove, replace, move, copy,
  test) on RFC 6901 pointers.
- application/strategic-merge-patch+json: Kubernetes' strategic merge for
  the fields of the built-in kinds the emulator serves. Lists with a patch
  merge key merge element by element (MERGE_KEYS: containers by name,
  conditions by type, ...), finalizers merge as a set, other lists replace;
  the directives $patch (replace, merge, delete), $retainKeys,
  $deleteFromPrimitiveList/<field> and $setElementOrder/<field> are honoured.

Each function returns a new document and raises PatchError with a message
in the apiserver's words.
"""

import copy
import json

# Field name -> merge key, from the patchMergeKey tags of k8s.io/api.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type", "addresses": "type",
    "ownerReferences": "uid", "topologySpreadConstraints": "topologyKey", "resourceClaims": "name",
    "schedulingGates": "name", "containerStatuses": "name", "initContainerStatuses": "name",
    "ephemeralContainerStatuses": "name", "podIPs": "ip", "hostIPs": "ip",
}
# Lists of scalars merged as sets (patchStrategy "merge" on a []string).
SET_LISTS = {"finalizers"}


class PatchError(Exception):
    pass


def merge_patch(doc, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r: it must start with /" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts, path):
    cur = doc
    for p in parts:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise PatchError("doc is missing path: \"%s\": missing value" % path)
    return cur


def _index(lst, p, path, adding):
    if p == "-" and adding:
        return len(lst)
    if not p.isdigit() or int(p) > len(lst) or (not adding and int(p) >= len(lst)):
        raise PatchError("Unable to access invalid index: %s: invalid index referenced" % p)
    return int(p)


def _add(doc, path, value):
    parts = _pointer(path)
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, True), value)
    else:
        raise PatchError("doc is missing path: \"%s\": missing value" % path)
    return doc


def _remove(doc, path):
    parts = _pointer(path)
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1] if parts else ""
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, path, False))
    raise PatchError("Unable to remove nonexistent key: %s: missing value" % last)


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _walk(doc, _pointer(path), path)
            if path == "":
                doc = copy.deepcopy(op.get("value"))
            else:
                _remove(doc, path)
                doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_walk(doc, _pointer(op.get("from", "")), op.get("from", "")))
            if kind == "move":
                _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _walk(doc, _pointer(path), path) != op.get("value"):
                raise PatchError("testing value %s failed: test failed" % path)
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return doc


def _merge_key(field, items):
    if field == "ports":
        for it in items:
            if isinstance(it, dict) and "containerPort" in it:
                return "containerPort"
        return "port"
    return MERGE_KEYS.get(field)


def _merge_list(field, orig, patch):
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [p for p in patch if not (isinstance(p, dict) and p.get("$patch") == "replace")]
    if field in SET_LISTS:
        out = list(orig or [])
        out.extend(p for p in patch if p not in out)
        return out
    key = _merge_key(field, list(orig or []) + list(patch))
    if key is None:
        return copy.deepcopy(patch)
    out = copy.deepcopy(list(orig or []))
    for p in patch:
        if not isinstance(p, dict) or key not in p:
            raise PatchError("map: %s does not contain declared merge key: %s" % (json.dumps(p), key))
        at = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == p[key]), None)
        if p.get("$patch") == "delete":
            if at is not None:
                out.pop(at)
            continue
        if at is None:
            out.append(strategic_merge({}, p))
        else:
            out[at] = strategic_merge(out[at], p)
    return out


def _order(lst, order, key):
    def rank(item):
        for i, o in enumerate(order):
            if (key and isinstance(item, dict) and isinstance(o, dict) and item.get(key) == o.get(key)) \
                    or item == o:
                return i
        return len(order)
    return sorted(lst, key=rank)


def strategic_merge(orig, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge", "delete"):
        raise PatchError("Unknown patch type: %s in map: %s" % (directive, json.dumps(patch)))
    out = copy.deepcopy(orig) if isinstance(orig, dict) else {}
    orders = {}
    for k, v in patch.items():
        if k == "$patch":
            continue
        if k == "$retainKeys":
            out = {kk: vv for kk, vv in out.items() if kk in v or kk in patch}
        elif k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            out[field] = [x for x in out.get(field, []) if x not in v]
        elif k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
        elif v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            if v.get("$patch") == "delete":
                out.pop(k, None)
            else:
                out[k] = strategic_merge(out.get(k), v)
        elif isinstance(v, list):
            out[k] = _merge_list(k, out.get(k) if isinstance(out.get(k), list) else [], v)
        else:
            out[k] = copy.deepcopy(v)
    for field, order in orders.items():
        if isinstance(out.get(field), list):
            out[field] = _order(out[field], order, _merge_key(field, out[field]))
    return out


def apply(content_type, doc, body):
    """Apply a patch body (bytes) of the given media type to doc."""
    try:
        patch = json.loads(body or b"null")
    except ValueError as e:
        raise PatchError("error decoding patch: %s" % e)
    if content_type == "application/merge-patch+json":
        return merge_patch(doc, patch)
    if content_type == "application/json-patch+json":
        return json_patch(doc, patch)
    if content_type == "application/strategic-merge-patch+json":
        if not isinstance(patch, dict):
            raise PatchError("json: cannot unmarshal %s into Go value of type map[string]interface {}"
                             % type(patch).__name__)
        return strategic_merge(doc, patch)
    raise ValueError(content_type)


PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")
