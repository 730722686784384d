#!/usr/bin/env python3
"""A Kubernetes API server emulator for tests: the real wire protocol
(discovery, list with pagination and resourceVersion, chunked watch with
bookmarks and 410 Gone, create/get/update/patch/delete, pods/binding,
pods/eviction with PodDisruptionBudgets, Events, Leases) over TLS with
bearer tokens and client certificates, with faults tests can switch on at
run time. Python 3 standard library and the openssl command only.

    python3 tests/kubeapi/emulator.py --port 0 --ready-file F --token T
        [--tls-dir DIR] [--client-ca FILE] [--insecure-http] [--scheduler]
        [--kubelet] [--load FILE] [--history N] [--bookmark-interval S]

Or, in a Python test: emu = Emulator(tokens=["t"]).start(); ...; emu.stop().
docs/kubeapi-emulator.md describes what it implements and where it differs
from a real apiserver.
"""

import argparse
import base64
import copy
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import emu_api  # noqa: E402
import emu_kinds  # noqa: E402
import emu_patch  # noqa: E402
import emu_resources  # noqa: E402
import emu_store  # noqa: E402
import emu_table  # noqa: E402
import emu_tls  # noqa: E402
from emu_store import ApiError, Store, bad_request  # noqa: E402

JSON = "application/json"


class LoadError(Exception):
    pass


class Faults(object):
    """Faults switched by flags or POST /_emulator/faults (all fields
    optional; a field absent keeps its value):
      fail_requests: {"count": N, "code": 500|429|503|..., "retry_after": S,
                      "path_contains": "...", "verb": "GET"}  answer the next
                      N matching API requests with that error
      watch_close_after: K   end every watch after K events (0: never)
      bookmark_interval: S   seconds between BOOKMARK events
      delay_ms: D            delay every API request by D ms
      tokens: [T, ...]       the bearer tokens accepted from now on
    and the one-shot actions: compact (true), restart (true or
    {"down_seconds": S}), steal_lease ({"namespace", "name", "holder"})."""

    def __init__(self):
        self.lock = threading.Lock()
        self.fail_count = 0
        self.fail_code = 500
        self.retry_after = 1
        self.fail_path = ""
        self.fail_verb = ""
        self.watch_close_after = 0
        self.bookmark_interval = 5.0
        self.delay_ms = 0
        self.down_until = 0.0

    def doc(self):
        with self.lock:
            return {"fail_requests": {"count": self.fail_count, "code": self.fail_code,
                                      "retry_after": self.retry_after, "path_contains": self.fail_path,
                                      "verb": self.fail_verb},
                    "watch_close_after": self.watch_close_after, "bookmark_interval": self.bookmark_interval,
                    "delay_ms": self.delay_ms, "down_seconds_left": max(0.0, self.down_until - time.time())}

    def take(self, verb, path):
        """The injected error for this request, if one is due."""
        with self.lock:
            if self.fail_count <= 0 or (self.fail_path and self.fail_path not in path) or \
                    (self.fail_verb and self.fail_verb.upper() != verb):
                return None
            self.fail_count -= 1
            code, after = self.fail_code, self.retry_after
        if code == 429:
            return ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                            {"retryAfterSeconds": after}, {"Retry-After": str(after)})
        if code == 503:
            return ApiError(503, "ServiceUnavailable", "The server is currently unable to handle the request "
                            "(injected fault)", {"retryAfterSeconds": after}, {"Retry-After": str(after)})
        return ApiError(code, "InternalError", "Internal error occurred: injected fault",
                        {"causes": [{"message": "injected fault"}]})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, emu, address):
        self.emu = emu
        self.conns = set()
        self.conns_lock = threading.Lock()
        http.server.ThreadingHTTPServer.__init__(self, address, Handler)

    def verify_request(self, request, client_address):
        # While "down" after an injected restart, connections are closed at once.
        return time.time() >= self.emu.faults.down_until

    def finish_request(self, request, client_address):
        try:
            # Headers and body leave in separate writes: without this, Nagle's
            # algorithm and the client's delayed ACK cost 40 ms a request.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.emu.ssl_context is not None:
                request.settimeout(30)
                request = self.emu.ssl_context.wrap_socket(request, server_side=True)
                request.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            self.emu.log("TLS handshake with %s failed: %s" % (client_address[0], e))
            request.close()
            return
        with self.conns_lock:
            self.conns.add(request)
        try:
            Handler(request, client_address, self)
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            with self.conns_lock:
                self.conns.discard(request)
            try:
                request.close()
            except OSError:
                pass

    def drop_connections(self, keep=None):
        with self.conns_lock:
            conns = [c for c in self.conns if c is not keep]
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass


class Emulator(object):
    """The emulator: start() binds and serves on a thread; stop() ends it.

    tls_dir holds (or gets) ca.crt/ca.key and the server certificate; client
    certificates signed by client_ca (default: that CA) authenticate as their
    CN. Plain HTTP needs insecure_http=True."""

    def __init__(self, host="127.0.0.1", port=0, tokens=(), tls_dir=None, client_ca=None, insecure_http=False,
                 history=1000, scheduler=False, kubelet=False, load=None, bookmark_interval=5.0,
                 watch_timeout=1800, verbose=False, audit_limit=100000):
        self.host = host
        self.port = port
        self.set_tokens(tokens)
        self.insecure_http = insecure_http
        self.verbose = verbose
        self.watch_timeout = watch_timeout
        self.store = Store(history)
        self.store.hooks.extend([emu_kinds.pdb_hook, emu_kinds.namespace_hook])
        self.faults = Faults()
        self.faults.bookmark_interval = bookmark_interval
        self.audit = []
        self.audit_limit = audit_limit
        self.audit_lock = threading.Lock()
        self.tmp = None
        self.ssl_context = None
        self.tls_dir = tls_dir
        self.client_ca = client_ca
        self.ca_file = None
        self.server = None
        self.thread = None
        self.threads = []
        self.stopping = threading.Event()
        self.run_scheduler = scheduler
        self.run_kubelet = kubelet
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.store.create(emu_kinds.NAMESPACES, "", self._namespace(ns))
        if load:
            self.load_file(load)
        self.store.floor = self.store.rv

    def set_tokens(self, tokens):
        """Accept these bearer tokens from now on (the n-th is user
        token-user-n); the old ones are refused, as after a rotation."""
        if isinstance(tokens, str) or not all(isinstance(t, str) and t for t in tokens):
            raise ValueError("tokens must be a list of non-empty strings")
        self.tokens = {t: "token-user-%d" % i for i, t in enumerate(tokens)}

    @staticmethod
    def _namespace(name):
        obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        emu_kinds.prepare_create(emu_kinds.NAMESPACES, obj)
        return obj

    def log(self, msg):
        if self.verbose:
            sys.stderr.write("kubeapi-emulator: %s\n" % msg)

    # Lifecycle -------------------------------------------------------------

    def _setup_tls(self):
        if self.insecure_http:
            return
        if self.tls_dir is None:
            self.tmp = tempfile.mkdtemp(prefix="kubeapi-emu-")
            self.tls_dir = self.tmp
        self.ca_file, _ = emu_tls.make_ca(self.tls_dir)
        crt, key = emu_tls.make_cert(self.tls_dir, "server", "kube-apiserver", server=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        ctx.set_alpn_protocols(["http/1.1"])
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(self.client_ca or self.ca_file)
        self.ssl_context = ctx

    def start(self):
        self._setup_tls()
        self.server = Server(self, (self.host, self.port))
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="kubeapi-emulator", daemon=True)
        self.thread.start()
        if self.run_scheduler or self.run_kubelet:
            import emu_sched
        if self.run_scheduler:
            self._spawn(emu_sched.scheduler_loop)
        if self.run_kubelet:
            self._spawn(emu_sched.kubelet_loop)
        return self

    def _spawn(self, fn):
        t = threading.Thread(target=fn, args=(self.store, self.stopping), daemon=True, name=fn.__name__)
        t.start()
        self.threads.append(t)

    def stop(self):
        self.stopping.set()
        with self.store.lock:
            self.store.changed.notify_all()
        if self.server is not None:
            self.store.close_watchers()
            self.server.shutdown()
            self.server.drop_connections()
            self.server.server_close()
        for t in self.threads:
            t.join(5)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%d" % ("http" if self.insecure_http else "https", host, self.port)

    def issue_client_cert(self, name, user, groups=()):
        """A client certificate for user (CN) and groups (O), signed by the
        emulator's CA; returns (crt, key) paths."""
        return emu_tls.make_cert(self.tls_dir, name, user, groups)

    def info(self):
        return {"url": self.url, "port": self.port, "ca_file": self.ca_file, "tls_dir": self.tls_dir,
                "resourceVersion": str(self.store.rv), "pid": os.getpid()}

    def write_kubeconfig(self, path, token=None, cert=None):
        """A kubeconfig (block YAML, as kubectl writes it) for this emulator:
        the CA embedded, the user a bearer token or a client certificate
        (crt, key) by path; written to a temporary name, then renamed."""
        user = []
        if token:
            user.append("    token: %s" % token)
        elif cert:
            user += ["    client-certificate: %s" % cert[0], "    client-key: %s" % cert[1]]
        else:
            raise ValueError("a kubeconfig needs a token or a client certificate")
        cluster = ["    server: %s" % self.url]
        if self.ca_file:
            with open(self.ca_file, "rb") as f:
                cluster.insert(0, "    certificate-authority-data: %s" % base64.b64encode(f.read()).decode())
        lines = ["apiVersion: v1", "kind: Config", "clusters:", "- cluster:"] + cluster + [
            "  name: emulator", "contexts:", "- context:", "    cluster: emulator", "    user: emulator",
            "  name: emulator", "current-context: emulator", "preferences: {}", "users:", "- name: emulator",
            "  user:"] + user
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)

    # State -----------------------------------------------------------------

    def load_file(self, path):
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise LoadError("%s: %s" % (path, e))
        self.load_doc(doc, path)

    def load_doc(self, doc, where):
        """Add the objects of a List (kubectl get -o json, or a snapshot)
        as they are: uid, timestamps and status kept."""
        items = doc.get("items") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            raise LoadError("%s: expected a List object with an items array" % where)
        for i, obj in enumerate(items):
            if not isinstance(obj, dict):
                raise LoadError("%s: items[%d]: not an object" % (where, i))
            res = emu_resources.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
            meta = obj.get("metadata") or {}
            if res is None or res.plural == "bindings":
                raise LoadError("%s: items[%d] %s: apiVersion %r kind %r is not served by the emulator"
                                % (where, i, meta.get("name", "?"), obj.get("apiVersion"), obj.get("kind")))
            if not meta.get("name"):
                raise LoadError("%s: items[%d] %s: metadata.name is missing" % (where, i, obj.get("kind")))
            obj = copy.deepcopy(obj)
            if res.store == "events" and res.group:
                obj = emu_kinds.event_from_group(obj)
            ns = meta.get("namespace", "default") if res.namespaced else ""
            with self.store.lock:
                if ns and ("", ns) not in self.store.tables[emu_kinds.NAMESPACES.store]:
                    self.store.create(emu_kinds.NAMESPACES, "", self._namespace(ns))
                key = (ns, meta["name"])
                old = self.store.tables[res.store].get(key)
                obj["metadata"].setdefault("uid", str(uuid.uuid4()))
                obj["metadata"].setdefault("creationTimestamp", emu_kinds.now_rfc3339())
                obj["metadata"].setdefault("generation", 1)
                if ns:
                    obj["metadata"]["namespace"] = ns
                self.store._commit(res.store, "MODIFIED" if old else "ADDED", key, obj, old)

    # Control endpoint ----------------------------------------------------------

    def apply_faults(self, doc, keep=None):
        """POST /_emulator/faults: see class Faults. A restart drops every
        connection but keep (the one asking, closed after its answer)."""
        if "tokens" in doc:
            self.set_tokens(doc["tokens"])
        f = self.faults
        with f.lock:
            fr = doc.get("fail_requests")
            if fr is not None:
                f.fail_count = int(fr.get("count", 1))
                f.fail_code = int(fr.get("code", 500))
                f.retry_after = int(fr.get("retry_after", 1))
                f.fail_path = fr.get("path_contains", "")
                f.fail_verb = fr.get("verb", "")
            if "watch_close_after" in doc:
                f.watch_close_after = int(doc["watch_close_after"] or 0)
            if "bookmark_interval" in doc:
                f.bookmark_interval = float(doc["bookmark_interval"])
            if "delay_ms" in doc:
                f.delay_ms = int(doc["delay_ms"])
        if doc.get("compact"):
            self.store.compact()
        lease = doc.get("steal_lease")
        if lease:
            self.steal_lease(lease.get("namespace", "default"), lease["name"], lease.get("holder", "thief"))
        restart = doc.get("restart")
        if restart:
            down = float(restart.get("down_seconds", 0)) if isinstance(restart, dict) else 0.0
            with f.lock:
                f.down_until = time.time() + down
            self.store.close_watchers()
            self.server.drop_connections(keep)

    def steal_lease(self, ns, name, holder):
        res = emu_resources.find("coordination.k8s.io", "v1", "leases")
        with self.store.lock:
            lease = copy.deepcopy(self.store.get(res, ns, name))
            spec = lease.setdefault("spec", {})
            spec["holderIdentity"] = holder
            spec["acquireTime"] = spec["renewTime"] = emu_store.now_micro()
            spec["leaseTransitions"] = spec.get("leaseTransitions", 0) + 1
            self.store.put(res, ns, name, lease)

    def record(self, entry):
        with self.audit_lock:
            if len(self.audit) < self.audit_limit:
                self.audit.append(entry)


class Request(object):
    """One parsed API request: the resource, namespace, name, subresource."""

    def __init__(self, res, ns, name, sub, group, version):
        self.res, self.ns, self.name, self.sub = res, ns, name, sub
        self.group, self.version = group, version


def route(path):
    """Parse /api/v1/... or /apis/<g>/<v>/... into a Request, or raise 404."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise not_found_path()
    ns = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise not_found_path()
    res = emu_resources.find(group, version, rest[0])
    if res is None or (ns is not None and not res.namespaced):
        raise not_found_path()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and res.sub(sub) is None:
        raise not_found_path()
    return Request(res, ns, name, sub, group, version)


def _body_name(body):
    """metadata.name of a JSON request body, or ""."""
    try:
        doc = json.loads(body) if body else None
        return str(((doc or {}).get("metadata") or {}).get("name") or "") if isinstance(doc, dict) else ""
    except ValueError:
        return ""


def request_info(method, path, query, object_name=""):
    """What RBAC authorizes a request by, as the apiserver's RequestInfo
    has it: verb (get, list, watch, create, update, patch, delete,
    deletecollection), apiGroup, apiVersion, resource, subresource,
    namespace and name; a path that is not a resource (discovery, /version)
    has isResourceRequest false and the method in lower case as its verb.
    A create's name is its body's metadata.name (objectRef.name in the
    apiserver's audit events), given as object_name."""
    try:
        req = route(path)
    except ApiError:
        return {"isResourceRequest": False, "verb": method.lower(), "path": path}
    q = urllib.parse.parse_qs(query or "")
    if method in ("GET", "HEAD"):
        watch = q.get("watch", [""])[0].lower() in ("1", "true")
        verb = "get" if req.name else "watch" if watch else "list"
    elif method == "DELETE":
        verb = "delete" if req.name else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
    ns = req.ns or (req.name if req.res.plural == "namespaces" else "")
    return {"isResourceRequest": True, "verb": verb, "apiGroup": req.group, "apiVersion": req.version,
            "resource": req.res.plural, "subresource": req.sub or "", "namespace": ns or "",
            "name": req.name or (object_name if verb == "create" else "")}


def not_found_path():
    return ApiError(404, "NotFound", "the server could not find the requested resource",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def _bool(q, name):
    return q.get(name, [""])[0].lower() in ("1", "true")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubeapi-emulator"

    def log_message(self, fmt, *args):
        self.server.emu.log("%s %s" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    # Plumbing -------------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send_json(self, code, obj, headers=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", self.audit_id)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.status_code = code

    def send_error_status(self, e):
        self.send_json(e.code, e.status(), e.headers)

    def user(self):
        """(user, groups) of the request, or None when unauthenticated."""
        emu = self.server.emu
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            tok = auth[len("Bearer "):].strip()
            if tok in emu.tokens:
                return emu.tokens[tok], ["system:authenticated"]
            return None
        if isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert()
            if cert:
                cn, groups = None, []
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            cn = v
                        elif k == "organizationName":
                            groups.append(v)
                if cn:
                    return cn, groups + ["system:authenticated"]
        if emu.insecure_http and not emu.tokens:
            return "system:anonymous", ["system:unauthenticated"]
        return None

    def dispatch(self, verb):
        self.audit_id = str(uuid.uuid4())
        self.status_code = 0
        self.recorded = False
        self.who, self.groups = None, []  # a connection carries several requests, each authenticated anew
        self.object_name = ""  # a create's metadata.name, for the audit
        emu = self.server.emu
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query, keep_blank_values=True)
        try:
            if path.startswith("/_emulator/"):
                return self.control(verb, path)
            if path in ("/healthz", "/livez", "/readyz"):
                return self.send_text(200, "ok")
            who = self.user()
            if who is None:
                self.read_body()
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self.who, self.groups = who  # the audit names the user of an injected failure too
            if emu.faults.delay_ms:
                time.sleep(emu.faults.delay_ms / 1000.0)
            fault = emu.faults.take(verb, path)
            if fault is not None:
                self.object_name = _body_name(self.read_body())
                raise fault
            self.api(verb, path, query, who)
        except ApiError as e:
            self.send_error_status(e)
        except (emu_patch.PatchError, ValueError) as e:
            self.send_error_status(bad_request(str(e)))
        finally:
            self.audit(verb, path, url.query)

    def audit(self, verb, path, query):
        """Record a request in the audit log (GET /_emulator/audit) once:
        when a watch starts streaming, else when the answer is sent."""
        if not self.recorded and path.startswith("/api"):
            self.recorded = True
            self.server.emu.record({"time": time.time(), "verb": verb, "path": path, "query": query,
                                    "code": self.status_code, "user": self.who,
                                    "groups": self.groups, "requestInfo": request_info(verb, path, query,
                                                                                       self.object_name)})

    def send_text(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.status_code = code

    def control(self, verb, path):
        body = self.read_body()
        try:
            doc = json.loads(body) if body else {}
        except ValueError as e:
            raise bad_request("%s: the body is not JSON: %s" % (path, e))
        if not isinstance(doc, dict):
            raise bad_request("%s: the body must be a JSON object" % path)
        try:
            return self._control(verb, path, doc)
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise bad_request("%s: bad request body %s: %r" % (path, json.dumps(doc), e))

    def _control(self, verb, path, doc):
        emu = self.server.emu
        if path == "/_emulator/faults" and verb == "POST":
            emu.apply_faults(doc, self.connection)
            return self.send_json(200, emu.faults.doc(), {"Connection": "close"} if doc.get("restart") else None)
        if path == "/_emulator/faults" and verb == "GET":
            return self.send_json(200, emu.faults.doc())
        if path == "/_emulator/state" and verb == "GET":
            return self.send_json(200, emu.store.dump())
        if path == "/_emulator/state" and verb == "POST":
            try:
                emu.load_doc(doc, "POST /_emulator/state")
            except LoadError as e:
                raise bad_request(str(e))
            return self.send_json(200, {"resourceVersion": str(emu.store.rv)})
        if path == "/_emulator/audit" and verb == "GET":
            with emu.audit_lock:
                return self.send_json(200, {"items": list(emu.audit)})
        if path == "/_emulator/audit" and verb == "DELETE":
            with emu.audit_lock:
                emu.audit = []
            return self.send_json(200, {"items": []})
        if path == "/_emulator/info" and verb == "GET":
            return self.send_json(200, emu.info())
        raise not_found_path()

    # The API ---------------------------------------------------------------

    def api(self, verb, path, query, who):
        self.who, self.groups = who
        if path in ("/version", "/version/") and verb == "GET":
            return self.send_json(200, emu_resources.VERSION)
        if path.rstrip("/") == "/api" and verb == "GET":
            return self.send_json(200, emu_resources.api_versions("%s:%d" % (self.server.emu.host,
                                                                                  self.server.emu.port)))
        if path.rstrip("/") == "/apis" and verb == "GET":
            return self.send_json(200, emu_resources.api_group_list())
        parts = [p for p in path.split("/") if p]
        if verb == "GET" and len(parts) == 2 and parts[0] == "apis":
            doc = emu_resources.api_group(parts[1])
            if doc is None:
                raise not_found_path()
            return self.send_json(200, doc)
        if verb == "GET" and (parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis")):
            doc = emu_resources.resource_list(*(("", "v1") if parts[0] == "api" else (parts[1], parts[2])))
            if doc is None:
                raise not_found_path()
            return self.send_json(200, doc)
        req = route(path)
        accept = self.headers.get("Accept", "")
        if accept and not emu_table.wants_table(accept) and \
                not any(a.split(";")[0].strip() in (JSON, "*/*", "application/*") and "as=" not in a
                        for a in accept.split(",")):
            raise ApiError(406, "NotAcceptable", "only the following media types are accepted: application/json, "
                           + emu_table.TABLE_MEDIA)
        emu_api.serve(self, verb, req, query)


def _write_ready(path, info):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Kubernetes API server emulator (tests/kubeapi, "
                                 "docs/kubeapi-emulator.md)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--ready-file", help="write {url, port, ca_file, tls_dir} here once listening")
    ap.add_argument("--token", action="append", default=[], help="accepted bearer token (repeatable)")
    ap.add_argument("--tls-dir", help="where ca.crt/ca.key (reused if present) and server.crt go")
    ap.add_argument("--client-ca", help="CA bundle for client certificates (default: the tls dir's ca.crt)")
    ap.add_argument("--client-cert", action="append", default=[], metavar="NAME:USER[:GROUP,...]",
                    help="issue NAME.crt/NAME.key in the tls dir for USER (repeatable)")
    ap.add_argument("--insecure-http", action="store_true", help="serve plain HTTP (no TLS)")
    ap.add_argument("--kubeconfig-out", help="write a kubeconfig for the first --token (else the first "
                    "--client-cert) here before the ready file")
    ap.add_argument("--history", type=int, default=1000, help="writes kept for watches (default 1000)")
    ap.add_argument("--bookmark-interval", type=float, default=5.0)
    ap.add_argument("--watch-timeout", type=float, default=1800, help="longest watch without timeoutSeconds")
    ap.add_argument("--scheduler", action="store_true", help="bind pending pods to nodes")
    ap.add_argument("--kubelet", action="store_true", help="start bound pods (Running, Ready) on Ready nodes")
    ap.add_argument("--load", help="a List (kubectl get -o json, or a snapshot) to start with")
    ap.add_argument("--fail-requests", type=int, default=0, help="answer the first N API requests with an error")
    ap.add_argument("--fail-code", type=int, default=500)
    ap.add_argument("--retry-after", type=int, default=1)
    ap.add_argument("--watch-close-after", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    if a.insecure_http and (a.tls_dir or a.client_ca or a.client_cert):
        ap.error("--insecure-http serves plain HTTP: --tls-dir, --client-ca and --client-cert need TLS")
    try:
        emu = Emulator(a.host, a.port, a.token, a.tls_dir, a.client_ca, a.insecure_http, a.history, a.scheduler,
                       a.kubelet, a.load, a.bookmark_interval, a.watch_timeout, a.verbose)
        emu.apply_faults({"fail_requests": {"count": a.fail_requests, "code": a.fail_code,
                                            "retry_after": a.retry_after},
                          "watch_close_after": a.watch_close_after})
        emu.start()
        for spec in a.client_cert:
            fields = spec.split(":")
            if len(fields) < 2 or not fields[0] or not fields[1]:
                raise LoadError("--client-cert %r: expected NAME:USER[:GROUP,...]" % spec)
            emu.issue_client_cert(fields[0], fields[1], fields[2].split(",") if len(fields) > 2 else ())
    except (LoadError, emu_tls.TlsError, OSError) as e:
        sys.stderr.write("kubeapi-emulator: %s\n" % e)
        return 1
    if a.kubeconfig_out:
        try:
            cert = None
            if a.client_cert and not a.token:
                name = a.client_cert[0].split(":")[0]
                cert = (os.path.join(emu.tls_dir, name + ".crt"), os.path.join(emu.tls_dir, name + ".key"))
            emu.write_kubeconfig(a.kubeconfig_out, a.token[0] if a.token else None, cert)
        except (OSError, ValueError) as e:
            sys.stderr.write("kubeapi-emulator: --kubeconfig-out %s: %s\n" % (a.kubeconfig_out, e))
            emu.stop()
            return 1
    if a.ready_file:
        _write_ready(a.ready_file, emu.info())
    print("kubeapi-emulator listening on %s" % emu.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
