#!/usr/bin/env python3
"""An AWS emulator for tests: the Query APIs of Auto Scaling (2011-01-01),
EC2 (2016-11-15) and STS (2011-06-15) on one HTTPS endpoint, every request
checked (action, version, parameters, Signature Version 4 through botocore's
signer), answers and errors in each service's own XML; instances launched
and terminated behind the groups' desired capacity and, with --kube-url,
registered as Nodes; the credential sources of the SDKs' chain (web
identity, EKS Pod Identity, IMDSv2) on a plain HTTP metadata listener;
faults switched at run time. Python 3 standard library, botocore and the
openssl command.

    python3 tests/cloudemu/aws.py --port 0 --ready-file F [--groups FILE]
        [--region R] [--access-key ID:SECRET] [--tls-dir DIR | --insecure-http]
        [--kube-url URL [--kube-token T] [--kube-ca F]] ...

Or, in a Python test: emu = AwsEmulator(groups="f.json").start(); ...;
emu.stop(). docs/cloud-emulators.md describes it.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
SYSTEM_PYTHON = "/usr/bin/python3"


def _ensure_botocore():
    """The signature check needs botocore: run under Debian's python3 (with
    python3-botocore) when this interpreter lacks it."""
    try:
        import botocore  # noqa: F401
        return
    except ImportError:
        pass
    if os.path.exists(SYSTEM_PYTHON) and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    sys.stderr.write("aws-emulator: botocore is missing: apt-get install python3-botocore\n")
    sys.exit(1)


if __name__ == "__main__":
    _ensure_botocore()

import http.server  # noqa: E402
import ssl  # noqa: E402

import aws_asg  # noqa: E402
import aws_auth  # noqa: E402
import aws_ec2  # noqa: E402
import aws_kube  # noqa: E402
import aws_state  # noqa: E402
import aws_sts  # noqa: E402
import aws_wire  # noqa: E402
from aws_wire import AwsError  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kubeapi"))
import emu_tls  # noqa: E402
from emulator import _write_ready  # noqa: E402  (the Kubernetes API emulator's: written, then renamed)

SERVICES = {"autoscaling": (aws_asg.VERSION, aws_asg.ACTIONS, aws_wire.ASG_NS),
            "ec2": (aws_ec2.VERSION, aws_ec2.ACTIONS, aws_wire.EC2_NS),
            "sts": (aws_sts.VERSION, aws_sts.ACTIONS, aws_wire.STS_NS)}
MAX_BODY = 1 << 20


class Faults(object):
    """Switched by POST /_emu/faults (fields optional; absent keeps the value):
      throttle: N            the next N API requests are throttled
                             (Auto Scaling/STS 400 Throttling, EC2 503
                             RequestLimitExceeded)
      throttle_match: S      only requests whose service or action is S
      server_error: N        the next N answer 500 InternalFailure
                             (EC2: InternalError)
      malformed: N           the next N successful answers are cut in half
      delay_ms: M            every API answer waits M ms
      capacity: "TYPE/ZONE" or a list of them (null or [] clears): launches
                             there fail with InsufficientInstanceCapacity
      expire_credentials: true   every session credential issued so far
                             expires now
      deny: ["ACTION", ...]  those actions are refused as a role without
                             the permission is (EC2 403
                             UnauthorizedOperation, Auto Scaling 403
                             AccessDenied); null or [] clears
      clear: true            all of the above off
    """

    def __init__(self):
        self.throttle = self.server_error = self.malformed = self.delay_ms = 0
        self.throttle_match = None
        self.deny = []

    def doc(self, cloud):
        return {"throttle": self.throttle, "throttle_match": self.throttle_match, "server_error": self.server_error,
                "malformed": self.malformed, "delay_ms": self.delay_ms, "deny": list(self.deny),
                "capacity": sorted("%s/%s" % p for p in cloud.capacity_faults)}


class Context(object):
    """What an action sees besides its parameters."""

    def __init__(self, emu, credential):
        self.cloud, self.keys, self.identity, self.region = emu.cloud, emu.keys, emu.identity, emu.region
        self.credential = credential


class AwsEmulator(object):
    def __init__(self, host="127.0.0.1", port=0, region="us-east-1", account="111122223333", groups=None,
                 access_keys=(aws_auth.DEFAULT_KEY,), tls_dir=None, insecure_http=False, role_arn=None,
                 web_identity_token_file=None, pod_identity_token_file=None, pod_identity_path="/v1/credentials",
                 instance_role="stevedore-node", session_duration=3600, launch_delay=1.0, terminate_delay=0.5,
                 launch_retry=10.0, kube_url=None, kube_token=None, kube_ca=None, metadata_port=0, verbose=False):
        self.host, self.port, self.region = host, port, region
        self.cloud = aws_state.Cloud(region, account, launch_delay, terminate_delay, launch_retry)
        if groups:
            self.cloud.load(groups)
        self.keys = aws_auth.Keys(account)
        for key_id, secret in access_keys:
            self.keys.add_static(key_id, secret)
        self.identity = aws_sts.Identity(account, role_arn, web_identity_token_file, pod_identity_token_file,
                                         instance_role, session_duration)
        self.pod_identity_path = pod_identity_path
        self.tls_dir, self.insecure_http, self.ca_file = tls_dir, insecure_http, None
        self.metadata_port = metadata_port
        self.kube = aws_kube.Kube(kube_url, kube_token, kube_ca) if kube_url else None
        self.verbose = verbose
        self.faults = Faults()
        self.fault_lock = threading.Lock()
        self.calls, self.calls_lock = [], threading.Lock()
        self.kube_errors = []
        self.node_deletes = []  # Nodes of terminated instances still to delete
        self.servers, self.threads = [], []
        self.stopping = threading.Event()
        self._tmp_tls = None

    # Life ------------------------------------------------------------------

    def start(self):
        api = _Server((self.host, self.port), ApiHandler, self)
        if not self.insecure_http:
            if self.tls_dir is None:
                import tempfile
                self._tmp_tls = tempfile.mkdtemp(prefix="aws-emu-tls-")
                self.tls_dir = self._tmp_tls
            self.ca_file, _ = emu_tls.make_ca(self.tls_dir)
            crt, key = emu_tls.make_cert(self.tls_dir, "server", "localhost", server=True)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(crt, key)
            api.socket = ctx.wrap_socket(api.socket, server_side=True)
        self.port = api.server_address[1]
        meta = _Server((self.host, self.metadata_port), MetadataHandler, self)
        self.metadata_port = meta.server_address[1]
        self.servers = [api, meta]
        for s in self.servers:
            self._spawn(s.serve_forever)
        self._spawn(self._loop)
        return self

    def _spawn(self, fn):
        t = threading.Thread(target=fn, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self):
        self.stopping.set()
        for s in self.servers:
            s.shutdown()
            s.server_close()
        for t in self.threads:
            t.join(5)
        if self._tmp_tls:
            import shutil
            shutil.rmtree(self._tmp_tls, ignore_errors=True)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("http" if self.insecure_http else "https", self.port)

    @property
    def metadata_url(self):
        return "http://127.0.0.1:%d" % self.metadata_port

    def info(self):
        key_id, secret = self.keys.first_static()
        return {"url": self.url, "port": self.port, "ca_file": self.ca_file, "tls_dir": self.tls_dir,
                "metadata_url": self.metadata_url,
                "pod_identity_url": self.metadata_url + self.pod_identity_path,
                "region": self.region, "account": self.identity.account, "role_arn": self.identity.role_arn,
                "access_key_id": key_id, "secret_access_key": secret, "pid": os.getpid()}

    def log(self, msg):
        if self.verbose:
            sys.stderr.write("aws-emulator: %s\n" % msg)

    def _loop(self):
        """The scaling loop: every 0.1 s, launches, terminations and Nodes."""
        while not self.stopping.wait(0.1):
            for event, inst in self.cloud.tick():
                if self.kube is None:
                    continue
                if event == "running":
                    self._register(inst)
                elif inst.node:
                    self.node_deletes.append(inst.node)
                    inst.node = None
            if self.node_deletes:
                self._delete_nodes()

    def _register(self, inst):
        with self.cloud.lock:
            doc = aws_kube.node_document(self.cloud, inst, self.cloud.groups.get(inst.group))
        try:
            self.kube.create_node(doc)
            with self.cloud.lock:
                inst.node = doc["metadata"]["name"]
        except aws_kube.KubeError as e:
            self._kube_error(e)
            with self.cloud.lock:
                inst.notified = False  # the next pass registers it again

    def _delete_nodes(self):
        left = []
        for name in self.node_deletes:
            try:
                self.kube.delete_node(name)
            except aws_kube.KubeError as e:
                self._kube_error(e)
                left.append(name)
        self.node_deletes = left

    def _kube_error(self, e):
        self.kube_errors.append(str(e))
        self.log("kubelet: %s (tried again)" % e)

    # Faults and the call log ----------------------------------------------

    def apply_faults(self, doc):
        known = {"throttle", "throttle_match", "server_error", "malformed", "delay_ms", "capacity",
                 "expire_credentials", "deny", "clear"}
        for k in doc:
            if k not in known:
                raise ValueError("unknown fault %s (known: %s)" % (k, ", ".join(sorted(known))))
        with self.fault_lock:
            f = self.faults
            if doc.get("clear"):
                f.__init__()
                with self.cloud.lock:
                    self.cloud.capacity_faults = set()
            for k in ("throttle", "server_error", "malformed", "delay_ms"):
                if k in doc:
                    if isinstance(doc[k], bool) or not isinstance(doc[k], int) or doc[k] < 0:
                        raise ValueError("%s must be a non-negative integer, not %r" % (k, doc[k]))
                    setattr(f, k, doc[k])
            if "throttle_match" in doc:
                f.throttle_match = doc["throttle_match"]
            if "deny" in doc:
                deny = doc["deny"] or []
                if not isinstance(deny, list) or not all(isinstance(a, str) and a for a in deny):
                    raise ValueError("deny must be a list of action names, not %r" % (deny,))
                f.deny = list(deny)
            if "capacity" in doc:
                pools = doc["capacity"] or []
                pools = [pools] if isinstance(pools, str) else pools
                with self.cloud.lock:
                    self.cloud.capacity_faults = set(
                        self.cloud.pool(p, "POST /_emu/faults: capacity") for p in pools)
        if doc.get("expire_credentials"):
            self.keys.expire_sessions()
        return self.faults.doc(self.cloud)

    def take_fault(self, service, action):
        """The injected error for this request, if any."""
        with self.fault_lock:
            f = self.faults
            if action in f.deny:
                if service == "ec2":
                    return AwsError(403, "UnauthorizedOperation", "You are not authorized to perform this "
                                    "operation. User: arn:aws:sts::111122223333:assumed-role/stevedore is not "
                                    "authorized to perform: ec2:%s" % action)
                return AwsError(403, "AccessDenied", "User: arn:aws:sts::111122223333:assumed-role/stevedore is "
                                "not authorized to perform: %s:%s" % (service, action))
            if f.throttle and (f.throttle_match in (None, service, action)):
                f.throttle -= 1
                if service == "ec2":
                    return AwsError(503, "RequestLimitExceeded", "Request limit exceeded.")
                return AwsError(400, "Throttling", "Rate exceeded")
            if f.server_error:
                f.server_error -= 1
                if service == "ec2":
                    return AwsError(500, "InternalError", "An internal error has occurred", sender=False)
                return AwsError(500, "InternalFailure", "An internal error occurred.", sender=False)
        return None

    def take_malformed(self):
        with self.fault_lock:
            if self.faults.malformed:
                self.faults.malformed -= 1
                return True
        return False

    def record(self, entry):
        with self.calls_lock:
            self.calls.append(entry)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, emu):
        self.emu = emu
        http.server.ThreadingHTTPServer.__init__(self, address, handler)

    def handle_error(self, request, client_address):
        """A client gone mid-answer is a line in the verbose log; anything
        else a traceback."""
        err = sys.exc_info()[1]
        if isinstance(err, (ConnectionError, ssl.SSLError, TimeoutError)):
            self.emu.log("%s:%d: connection lost: %s" % (client_address[0], client_address[1], err))
        elif not self.emu.stopping.is_set():
            http.server.ThreadingHTTPServer.handle_error(self, request, client_address)


class _Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        self.server.emu.log(fmt % args)

    def read_body(self):
        n = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise AwsError(400, "MalformedQueryString", "chunked request bodies are not supported here")
        if n is None:
            return b""
        if not n.isdigit() or int(n) > MAX_BODY:
            raise AwsError(400, "MalformedQueryString", "bad Content-Length %r" % n)
        return self.rfile.read(int(n))

    def send(self, status, ctype, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, doc):
        self.send(status, "application/json", json.dumps(doc, indent=1).encode())


class ApiHandler(_Base):
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_emu/"):
            return self.control(url.path)
        emu = self.server.emu
        request_id = aws_wire.new_request_id()
        service, action, entry = "autoscaling", None, {"time": time.time()}
        try:
            body = self.read_body()
            if self.command not in ("GET", "POST"):
                raise AwsError(405, "UnsupportedHttpVerb", "The Query API takes GET and POST, not %s" % self.command)
            pairs = self._pairs(url, body)
            action = dict(pairs).get("Action")
            service = self._error_format(pairs)
            if not action:
                raise AwsError(400, "MissingAction", "Missing Action")
            service, cred = self._authenticate(pairs, action, body)
            entry.update({"service": service, "action": action, "permission": "%s:%s" % (service, action),
                          "accessKeyId": cred.key_id if cred else None,
                          "credentialSource": cred.source if cred else None})
            version, actions, ns = SERVICES[service]
            got = dict(pairs).get("Version")
            if got != version:
                raise AwsError(400, "NoSuchVersion" if got else "MissingParameter",
                               "The requested version (%s) of service %s does not exist" % (got, service) if got else
                               "The request must contain the parameter Version")
            if action not in actions:
                raise AwsError(400, "InvalidAction", "The action %s is not valid for this web service." % action)
            if emu.faults.delay_ms:
                time.sleep(emu.faults.delay_ms / 1000.0)
            fault = emu.take_fault(service, action)
            if fault is not None:
                raise fault
            out = self._run(service, action, actions[action], pairs, cred, ns, request_id)
            if emu.take_malformed():
                out = out[:len(out) // 2]
            entry.update({"status": 200, "code": None})
            self.send(200, aws_wire.XML, out, [("x-amzn-RequestId", request_id)])
        except AwsError as e:
            entry.update({"status": e.status, "code": e.code, "service": entry.get("service", service),
                          "action": action})
            emu.log("%s %s: %d %s: %s" % (service, action, e.status, e.code, e.message.splitlines()[0]))
            self.send(e.status, aws_wire.XML, aws_wire.error_document(service, e, request_id),
                      [("x-amzn-RequestId", request_id)])
        except Exception as e:  # a bug of the emulator: a 500 the test sees, the traceback on stderr
            traceback.print_exc()
            err = AwsError(500, "InternalFailure", "aws-emulator bug: %s: %s (traceback on its stderr)"
                           % (type(e).__name__, e), sender=False)
            entry.update({"status": 500, "code": err.code, "service": service, "action": action})
            self.send(500, aws_wire.XML, aws_wire.error_document(service, err, request_id))
        emu.record(entry)

    def _pairs(self, url, body):
        text = url.query
        if self.command == "POST":
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise AwsError(400, "MalformedQueryString", "Content-Type must be application/x-www-form-urlencoded "
                               "for a Query API request, not %r" % ctype)
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise AwsError(400, "MalformedQueryString", "the body is not UTF-8")
            if url.query:
                raise AwsError(400, "MalformedQueryString", "parameters in both the URL and the body")
        try:
            return urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
        except ValueError as e:
            raise AwsError(400, "MalformedQueryString", "the query string cannot be parsed: %s" % e)

    def _error_format(self, pairs):
        """The service whose error document a refusal uses: the signature's
        credential scope, else the Version parameter's service."""
        a = aws_auth.parse_authorization(self.headers.get("Authorization", ""))
        if a is not None and a["service"] in SERVICES:
            return a["service"]
        version = dict(pairs).get("Version")
        return next((name for name, (v, _, _) in SERVICES.items() if v == version), "autoscaling")

    def _authenticate(self, pairs, action, body):
        emu = self.server.emu
        if "Authorization" not in self.headers and action in aws_sts.UNSIGNED:
            return "sts", None
        scheme = "http" if emu.insecure_http else "https"
        host = self.headers.get("Host", "127.0.0.1:%d" % emu.port)
        cred, service = aws_auth.verify(emu.keys, emu.region, self.command, "%s://%s%s" % (scheme, host, self.path),
                                        self.headers.items(), body)
        if service not in SERVICES:
            raise AwsError(400, "InvalidAction", "The emulator serves the services autoscaling, ec2 and sts; the "
                           "credential scope names '%s'" % service)
        return service, cred

    def _run(self, service, action, fn, pairs, cred, ns, request_id):
        emu = self.server.emu
        params = aws_wire.Params(pairs, "InvalidParameterValue" if service == "ec2" else "ValidationError")
        result = fn(Context(emu, cred), params) if service == "sts" else fn(emu.cloud, params)
        params.check_unknown()
        if service == "ec2":
            return aws_wire.ec2_response(action, result, request_id)
        return aws_wire.query_response(action, ns, result, request_id)

    def control(self, path):
        emu = self.server.emu
        try:
            raw = self.read_body()
            doc = json.loads(raw) if raw else {}
            if not isinstance(doc, dict):
                raise ValueError("the body must be a JSON object")
            if path == "/_emu/faults" and self.command == "POST":
                return self.send_json(200, emu.apply_faults(doc))
            if path == "/_emu/faults" and self.command == "GET":
                return self.send_json(200, emu.faults.doc(emu.cloud))
            if path == "/_emu/state" and self.command == "GET":
                state = emu.cloud.dump()
                state.update({"credentials": emu.keys.dump(), "kubeErrors": list(emu.kube_errors)})
                return self.send_json(200, state)
            if path == "/_emu/state" and self.command == "POST":
                emu.cloud.load_doc(doc, "POST /_emu/state")
                return self.send_json(200, {"groups": sorted(emu.cloud.groups)})
            if path == "/_emu/calls" and self.command == "GET":
                with emu.calls_lock:
                    return self.send_json(200, {"items": list(emu.calls)})
            if path == "/_emu/calls" and self.command == "DELETE":
                with emu.calls_lock:
                    emu.calls = []
                return self.send_json(200, {"items": []})
            if path == "/_emu/info" and self.command == "GET":
                return self.send_json(200, emu.info())
            return self.send_json(404, {"error": "no such control endpoint: %s %s (GET/POST /_emu/faults, "
                                                 "GET/POST /_emu/state, GET/DELETE /_emu/calls, GET /_emu/info)"
                                                 % (self.command, path)})
        except (ValueError, aws_state.ScenarioError, AwsError) as e:
            return self.send_json(400, {"error": "%s %s: %s" % (self.command, path, e)})


class MetadataHandler(_Base):
    """Plain HTTP: IMDSv2 under /latest/ and the Pod Identity endpoint."""

    def do_GET(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def dispatch(self):
        emu = self.server.emu
        path = urllib.parse.urlsplit(self.path).path
        ctx = Context(emu, None)
        try:
            self.read_body()
            if path == emu.pod_identity_path and self.command == "GET":
                status, doc = aws_sts.pod_identity(ctx, self.headers)
                emu.record({"time": time.time(), "service": "eks-auth", "action": "AssumeRoleForPodIdentity",
                            "permission": "eks-auth:AssumeRoleForPodIdentity", "status": status})
                return self.send_json(status, doc)
            status, ctype, text = aws_sts.imds(ctx, self.command, path, self.headers)
            if path.startswith("/latest/meta-data/iam/"):
                emu.record({"time": time.time(), "service": "imds", "action": "%s %s" % (self.command, path),
                            "permission": None, "status": status})
            return self.send(status, ctype, text.encode())
        except AwsError as e:
            return self.send_json(e.status, {"code": e.code, "message": e.message})


def _access_key(text):
    key_id, sep, secret = text.partition(":")
    if not sep or not key_id or not secret:
        raise argparse.ArgumentTypeError("expected ACCESS_KEY_ID:SECRET, got %r" % text)
    return key_id, secret


def main(argv=None):
    ap = argparse.ArgumentParser(description="AWS emulator: Auto Scaling, EC2, STS, IMDSv2 and Pod Identity "
                                 "(tests/cloudemu, docs/cloud-emulators.md)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--metadata-port", type=int, default=0, help="IMDS and Pod Identity (plain HTTP); 0 picks one")
    ap.add_argument("--ready-file", help="write {url, port, ca_file, metadata_url, ...} here once listening")
    ap.add_argument("--groups", help="the scenario: groups, zones, offerings, prices (JSON)")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--account", default="111122223333")
    ap.add_argument("--access-key", action="append", type=_access_key, default=[], metavar="ID:SECRET",
                    help="a static access key (repeatable; default %s)" % aws_auth.DEFAULT_KEY[0])
    ap.add_argument("--tls-dir", help="where ca.crt/ca.key (reused if present) and server.crt go")
    ap.add_argument("--insecure-http", action="store_true", help="serve the API over plain HTTP")
    ap.add_argument("--role-arn", help="the role web identity and Pod Identity assume")
    ap.add_argument("--web-identity-token-file", help="the token AssumeRoleWithWebIdentity accepts")
    ap.add_argument("--pod-identity-token-file", help="the token the Pod Identity endpoint accepts")
    ap.add_argument("--pod-identity-path", default="/v1/credentials")
    ap.add_argument("--instance-role", default="stevedore-node", help="the IMDS instance role name")
    ap.add_argument("--session-duration", type=int, default=3600, help="seconds session credentials last")
    ap.add_argument("--launch-delay", type=float, default=1.0, help="seconds from Pending to InService")
    ap.add_argument("--terminate-delay", type=float, default=0.5)
    ap.add_argument("--launch-retry", type=float, default=10.0, help="seconds before a failed pool is tried again")
    ap.add_argument("--kube-url", help="register launched instances as Nodes in this Kubernetes API")
    ap.add_argument("--kube-token")
    ap.add_argument("--kube-ca")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    if a.insecure_http and a.tls_dir:
        ap.error("--insecure-http serves plain HTTP: --tls-dir needs TLS")
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # the server threads inherit the mask
    try:
        emu = AwsEmulator(a.host, a.port, a.region, a.account, a.groups, a.access_key or [aws_auth.DEFAULT_KEY],
                          a.tls_dir, a.insecure_http, a.role_arn, a.web_identity_token_file,
                          a.pod_identity_token_file, a.pod_identity_path, a.instance_role, a.session_duration,
                          a.launch_delay, a.terminate_delay, a.launch_retry, a.kube_url, a.kube_token, a.kube_ca,
                          a.metadata_port, a.verbose).start()
    except (aws_state.ScenarioError, aws_kube.KubeError, emu_tls.TlsError, OSError, ValueError) as e:
        sys.stderr.write("aws-emulator: %s\n" % e)
        return 1
    if a.ready_file:
        _write_ready(a.ready_file, emu.info())
    print("aws-emulator listening on %s (metadata %s)" % (emu.url, emu.metadata_url), flush=True)
    signal.sigwait(stop_signals)
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
