"""Credentials and Signature Version 4 for the AWS emulator.

Every signed request is checked by botocore: the request is rebuilt as a
botocore.awsrequest.AWSRequest with the headers its SignedHeaders names, signed
by botocore.auth.SigV4Auth with the secret the access key id maps to, the
region and service of its credential scope and the X-Amz-Date it carries,
and the two Authorization headers compared. A mismatch is 403
SignatureDoesNotMatch with the canonical request and string to sign botocore
computed, as AWS words it.

Static keys (AKIA...) are configured; session credentials (ASIA... with a
session token and an expiry) are issued by STS AssumeRoleWithWebIdentity,
the EKS Pod Identity container endpoint and the IMDSv2 instance role, all
served here (aws_sts.py).
"""

import datetime
import hashlib
import secrets
import threading
import time

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
except ImportError:  # aws.py re-executes under Debian's python3 first
    botocore = None

from aws_wire import AwsError

DEFAULT_KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
SKEW = 15 * 60  # AWS refuses a signature older or newer than 15 minutes
_HEX = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _key_id(prefix):
    return prefix + "".join(secrets.choice(_HEX) for _ in range(16))


class Credential(object):
    def __init__(self, key_id, secret, token=None, expires=None, arn=None, source="static"):
        self.key_id, self.secret, self.token, self.expires = key_id, secret, token, expires
        self.arn, self.source = arn, source

    def expired(self, now):
        return self.expires is not None and now >= self.expires


class Keys(object):
    """Access key id -> Credential, for static keys and issued sessions."""

    def __init__(self, account):
        self.account = account
        self.lock = threading.Lock()
        self.by_id = {}

    def add_static(self, key_id, secret):
        arn = "arn:aws:iam::%s:user/stevedore-test" % self.account
        with self.lock:
            self.by_id[key_id] = Credential(key_id, secret, arn=arn)

    def issue(self, arn, duration, source):
        c = Credential(_key_id("ASIA"), secrets.token_urlsafe(30)[:40], secrets.token_urlsafe(96),
                       time.time() + duration, arn, source)
        with self.lock:
            self.by_id[c.key_id] = c
        return c

    def expire_sessions(self):
        """The expire_credentials fault: every session issued so far ends now."""
        now = time.time()
        with self.lock:
            n = 0
            for c in self.by_id.values():
                if c.token is not None:
                    c.expires = min(c.expires, now - 1)
                    n += 1
            return n

    def get(self, key_id):
        with self.lock:
            return self.by_id.get(key_id)

    def dump(self):
        with self.lock:
            return [{"accessKeyId": c.key_id, "source": c.source, "arn": c.arn,
                     "expires": c.expires, "session": c.token is not None} for c in self.by_id.values()]


def parse_authorization(value):
    """AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
    SignedHeaders=a;b, Signature=hex -> dict, or None when malformed."""
    if not value.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256 "):].split(","):
        k, eq, v = part.strip().partition("=")
        if not eq:
            return None
        fields[k] = v
    cred = fields.get("Credential", "").split("/")
    if len(cred) != 5 or cred[4] != "aws4_request" or not fields.get("SignedHeaders") or \
            not fields.get("Signature"):
        return None
    return {"key_id": cred[0], "date": cred[1], "region": cred[2], "service": cred[3],
            "signed_headers": fields["SignedHeaders"].split(";"), "signature": fields["Signature"]}


def _amz_time(text):
    try:
        d = datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError):
        return None
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()


def _signer_error(service, code, message):
    """InvalidClientTokenId (Auto Scaling, STS) is AuthFailure (401) in EC2."""
    if service == "ec2" and code == "InvalidClientTokenId":
        return AwsError(401, "AuthFailure", "AWS was not able to validate the provided access credentials")
    return AwsError(403, code, message)


def verify(keys, region, method, url, headers, body, now=None):
    """Checks the SigV4 Authorization of a request; returns (credential,
    service) or raises AwsError as the service would answer. headers: the
    received (name, value) pairs."""
    if botocore is None:
        raise AwsError(500, "InternalFailure", "the emulator needs botocore: apt-get install python3-botocore",
                       sender=False)
    now = time.time() if now is None else now
    lower = {}
    for k, v in headers:
        lower.setdefault(k.lower(), []).append(v)
    auth = (lower.get("authorization") or [""])[0]
    if not auth:
        raise AwsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
    a = parse_authorization(auth)
    if a is None:
        raise AwsError(400, "IncompleteSignature", "Authorization header requires 'Credential', 'Signature' "
                       "and 'SignedHeaders' parameters separated by commas. Authorization=%s"
                       % auth.split(" ")[0])
    service = a["service"]
    amz_date = (lower.get("x-amz-date") or [None])[0]
    t = _amz_time(amz_date)
    if t is None:
        raise AwsError(400, "IncompleteSignature", "Authorization header requires existence of either a "
                       "'X-Amz-Date' or a 'Date' header.")
    if "x-amz-date" not in a["signed_headers"] or "host" not in a["signed_headers"]:
        raise _signer_error(service, "SignatureDoesNotMatch", "'Host' or 'X-Amz-Date' must be a signed header")
    if abs(now - t) > SKEW:
        raise _signer_error(service, "SignatureDoesNotMatch", "Signature expired: %s is now earlier than %s "
                            "(%s - 15 min.)" % (amz_date, _fmt(now - SKEW), _fmt(now))
                            if t < now else "Signature not yet current: %s is still later than %s (%s + 15 min.)"
                            % (amz_date, _fmt(now + SKEW), _fmt(now)))
    if a["date"] != amz_date[:8]:
        raise _signer_error(service, "SignatureDoesNotMatch", "Date in Credential scope does not match YYYYMMDD "
                            "from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'."
                            % (a["date"], amz_date[:8], amz_date))
    if a["region"] != region:
        raise _signer_error(service, "SignatureDoesNotMatch", "Credential should be scoped to a valid region. "
                            "The emulated region is %s, the credential scope says '%s'." % (region, a["region"]))
    cred = keys.get(a["key_id"])
    if cred is None:
        raise _signer_error(service, "InvalidClientTokenId", "The security token included in the request is invalid.")
    token = (lower.get("x-amz-security-token") or [None])[0]
    if cred.token is not None:
        if token is None:
            raise _signer_error(service, "InvalidClientTokenId", "The security token included in the request is "
                                "invalid. (a session access key id %s... needs its X-Amz-Security-Token)"
                                % a["key_id"][:8])
        if token != cred.token:
            raise _signer_error(service, "InvalidClientTokenId", "The security token included in the request is "
                                "invalid.")
        if cred.expired(now):
            raise AwsError(400, "ExpiredToken", "The security token included in the request is expired")
    elif token is not None:
        raise _signer_error(service, "InvalidClientTokenId", "The security token included in the request is invalid.")
    _compare(cred, a, method, url, lower, body, amz_date, service)
    return cred, service


def _fmt(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _compare(cred, a, method, url, lower, body, amz_date, service):
    signed = {}
    for name in a["signed_headers"]:
        if name not in lower:
            raise _signer_error(service, "SignatureDoesNotMatch", "The request signature we calculated does not "
                                "match the signature you provided: the signed header '%s' is not in the request."
                                % name)
        signed[name] = ",".join(lower[name])
    req = botocore.awsrequest.AWSRequest(method=method, url=url, headers=signed, data=body)
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(cred.key_id, cred.secret, cred.token),
                                     a["service"], a["region"])
    # SigV4Auth.add_auth with the request's own time instead of now.
    req.context["timestamp"] = amz_date
    signer._modify_request_before_signing(req)
    if "x-amz-security-token" not in a["signed_headers"] and "X-Amz-Security-Token" in req.headers:
        del req.headers["X-Amz-Security-Token"]  # sent but not signed: botocore would have signed it
    canonical = signer.canonical_request(req)
    to_sign = signer.string_to_sign(req, canonical)
    signer._inject_signature_to_request(req, signer.signature(to_sign, req))
    expected = req.headers["Authorization"]
    got = "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s" % (
        a["key_id"], a["date"], a["region"], a["service"], ";".join(a["signed_headers"]), a["signature"])
    if not secrets.compare_digest(expected, got):
        raise _signer_error(service, "SignatureDoesNotMatch",
                            "The request signature we calculated does not match the signature you provided. "
                            "Check your AWS Secret Access Key and signing method. Consult the service "
                            "documentation for details.\n\nThe Canonical String for this request should have "
                            "been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n" % (canonical, to_sign))


def read_token_file(path, what):
    """The current content of a token file (re-read on every call: kubelet
    rotates projected service account tokens)."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise AwsError(500, "InternalFailure", "the emulator cannot read its %s %s: %s" % (what, path, e),
                       sender=False)


def fingerprint(text):
    """A short digest of a secret, for logs that must not hold the secret."""
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else ""

