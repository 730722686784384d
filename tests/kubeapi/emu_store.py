"""The emulator's object store: etcd's role in a real cluster.

Objects are JSON dicts kept per table (Res.store) and key (namespace, name).
A stored object is never changed in place: every write builds a new dict,
so history entries, watch queues and responses can share them. One global
resourceVersion counter increases with every write, as etcd's revision does.
The last `window` writes are kept as history (type, new object, previous
object), which serves watches from an older resourceVersion and lists at an
exact resourceVersion (by undoing the writes made since); anything older than
the window, or than the last compaction, is gone (410).
"""

import collections
import copy
import datetime
import json
import queue
import threading
import uuid

import emu_select


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ApiError(Exception):
    """An error answered as a metav1.Status object."""

    def __init__(self, code, reason, message, details=None, headers=None, metadata=None):
        Exception.__init__(self, message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.metadata = metadata or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": dict(self.metadata), "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            st["details"] = self.details
        return st


def _details(res, name):
    d = {"name": name, "kind": res.plural}
    if res.group:
        d["group"] = res.group
    return d


def not_found(res, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (res.qualified(), name), _details(res, name))


def already_exists(res, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified(), name), _details(res, name))


def conflict(res, name, why="the object has been modified; please apply your changes to the latest version "
                            "and try again"):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s' % (res.qualified(), name, why),
                    _details(res, name))


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def invalid(res, name, field, message):
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s: %s' % (res.kind, name, field, message),
                    dict(_details(res, name), causes=[{"reason": "FieldValueInvalid", "message": message,
                                                       "field": field}]))


def expired(message, cont=None):
    meta = {"continue": cont} if cont else {}
    return ApiError(410, "Expired", message, metadata=meta)


def key_string(key):
    """The key an object sorts by, as etcd orders its keys: "ns/name", or
    "name" for a cluster-scoped object."""
    return "%s/%s" % key if key[0] else key[1]


Event = collections.namedtuple("Event", "rv store type obj prev")


class Watcher(object):
    """A registered watch: the store puts every write of its table (and a
    None on shutdown) into its queue, under the store's lock."""

    def __init__(self, store_key):
        self.store_key = store_key
        self.queue = queue.SimpleQueue()


class Store(object):
    def __init__(self, window=1000):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 1
        self.tables = collections.defaultdict(dict)
        self.history = collections.deque()
        self.window = window
        self.floor = 1  # a watch or exact list from rv >= floor can be served
        self.watchers = set()
        self.hooks = []  # functions (store, event) run after each write, under the lock
        self.in_hook = False

    # Writes --------------------------------------------------------------

    def _commit(self, store_key, etype, key, obj, prev):
        """Record one write: obj is the new object (for DELETED the last state),
        prev the previous one. Returns the object as stored."""
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        if etype == "DELETED":
            self.tables[store_key].pop(key, None)
        else:
            self.tables[store_key][key] = obj
        ev = Event(self.rv, store_key, etype, obj, prev)
        self.history.append(ev)
        while len(self.history) > self.window:
            self.floor = self.history.popleft().rv
        for w in list(self.watchers):
            if w.store_key == store_key:
                w.queue.put(ev)
        if not self.in_hook:
            self.in_hook = True
            try:
                for hook in self.hooks:
                    hook(self, ev)
            finally:
                self.in_hook = False
        self.changed.notify_all()
        return obj

    def create(self, res, ns, obj):
        with self.lock:
            meta = obj.setdefault("metadata", {})
            name = meta.get("name")
            key = (ns or "", name)
            if key in self.tables[res.store]:
                raise already_exists(res, name)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            if ns:
                meta["namespace"] = ns
            for f in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"):
                meta.pop(f, None)
            return self._commit(res.store, "ADDED", key, obj, None)

    def get(self, res, ns, name):
        with self.lock:
            obj = self.tables[res.store].get((ns or "", name))
            if obj is None:
                raise not_found(res, name)
            return obj

    def put(self, res, ns, name, obj, precondition_rv=None, precondition_uid=None):
        """Replace an object: resourceVersion (when given) must match, or 409
        Conflict. Keeps the fields a client cannot change (uid,
        creationTimestamp) and counts generation up when anything outside
        metadata and status changed."""
        with self.lock:
            key = (ns or "", name)
            old = self.tables[res.store].get(key)
            if old is None:
                raise not_found(res, name)
            if precondition_rv not in (None, "") and precondition_rv != old["metadata"]["resourceVersion"]:
                raise conflict(res, name)
            if precondition_uid not in (None, "") and precondition_uid != old["metadata"]["uid"]:
                raise conflict(res, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                               % (precondition_uid, old["metadata"]["uid"]))
            meta = obj.setdefault("metadata", {})
            for f in ("uid", "creationTimestamp", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if f in old["metadata"]:
                    meta[f] = old["metadata"][f]
                else:
                    meta.pop(f, None)
            meta["name"] = name
            strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status")}  # noqa: E731
            meta["generation"] = old["metadata"].get("generation", 1) + (0 if strip(obj) == strip(old) else 1)
            probe = copy.deepcopy(obj)
            probe["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            if probe == old:
                return old  # a no-op update writes nothing, as the apiserver does
            if old["metadata"].get("deletionTimestamp") and not meta.get("finalizers"):
                return self._commit(res.store, "DELETED", key, obj, old)
            return self._commit(res.store, "MODIFIED", key, obj, old)

    def delete(self, res, ns, name, precondition_rv=None, precondition_uid=None):
        """Delete an object; one with finalizers only gets its
        deletionTimestamp and goes when an update empties the finalizers.
        Returns (object, gone)."""
        with self.lock:
            key = (ns or "", name)
            old = self.tables[res.store].get(key)
            if old is None:
                raise not_found(res, name)
            if precondition_rv and precondition_rv != old["metadata"]["resourceVersion"]:
                raise conflict(res, name, "Precondition failed: ResourceVersion in precondition: %s, "
                               "ResourceVersion in object meta: %s"
                               % (precondition_rv, old["metadata"]["resourceVersion"]))
            if precondition_uid and precondition_uid != old["metadata"]["uid"]:
                raise conflict(res, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                               % (precondition_uid, old["metadata"]["uid"]))
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionTimestamp"):
                    return old, False
                obj = copy.deepcopy(old)
                obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._commit(res.store, "MODIFIED", key, obj, old), False
            return self._commit(res.store, "DELETED", key, old, old), True

    def compact(self):
        """Forget all history: every older resourceVersion is now 410 Gone."""
        with self.lock:
            self.history.clear()
            self.floor = self.rv

    # Reads ---------------------------------------------------------------

    def items(self, store_key, ns=None):
        """Current objects of a table, sorted by key as etcd returns them."""
        with self.lock:
            return [o for k, o in sorted(self.tables[store_key].items(), key=lambda kv: key_string(kv[0]))
                    if ns is None or k[0] == ns]

    def items_at(self, store_key, rv):
        """Objects of a table as they were at resourceVersion rv, or None when
        rv is older than the history kept."""
        with self.lock:
            if rv < self.floor:
                return None
            table = dict(self.tables[store_key])
            for ev in reversed(self.history):
                if ev.rv <= rv:
                    break
                if ev.store != store_key:
                    continue
                meta = ev.obj["metadata"]
                key = (meta.get("namespace", ""), meta["name"])
                if ev.type == "ADDED":
                    table.pop(key, None)
                else:
                    table[key] = ev.prev
            return [o for k, o in sorted(table.items(), key=lambda kv: key_string(kv[0]))]

    def watch(self, store_key, from_rv, initial):
        """Register a watcher from resourceVersion from_rv (None: now).
        Returns (watcher, replay events, current rv); replay holds the
        history after from_rv, or synthetic ADDED events of the current
        objects when initial is set. Raises ApiError 410 when from_rv is too
        old."""
        with self.lock:
            replay = []
            if initial:
                replay = [Event(int(o["metadata"]["resourceVersion"]), store_key, "ADDED", o, None)
                          for o in self.items(store_key)]
            elif from_rv is not None:
                if from_rv < self.floor:
                    raise expired("too old resource version: %d (%d)" % (from_rv, self.floor))
                replay = [ev for ev in self.history if ev.rv > from_rv and ev.store == store_key]
            w = Watcher(store_key)
            self.watchers.add(w)
            return w, replay, self.rv

    def unwatch(self, w):
        with self.lock:
            self.watchers.discard(w)

    def close_watchers(self):
        with self.lock:
            for w in self.watchers:
                w.queue.put(None)

    def dump(self):
        with self.lock:
            items = []
            for store_key in sorted(self.tables):
                items.extend(copy.deepcopy(o) for o in self.items(store_key))
            return {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": str(self.rv)},
                    "items": items}


def matches(res, obj, ns, label_reqs, field_reqs):
    """Whether an object passes a request's namespace and selectors."""
    import emu_resources
    meta = obj.get("metadata", {})
    if ns and meta.get("namespace", "") != ns:
        return False
    if label_reqs and not emu_select.match_labels(label_reqs, meta.get("labels")):
        return False
    for field, op, value in field_reqs or []:
        have = emu_resources.field_value(res, obj, field)
        if (op == "=" and have != value) or (op == "!=" and have == value):
            return False
    return True


def encode_continue(rv, start):
    import base64
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token):
    import base64
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
        if doc.get("v") != "meta.k8s.io/v1" or not isinstance(doc.get("rv"), int):
            raise ValueError
        return doc["rv"], str(doc.get("start", ""))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion (version "
                          "meta.k8s.io/v1)")
