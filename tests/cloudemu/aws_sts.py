"""Where the AWS emulator's session credentials come from: STS (API version
2011-06-15: AssumeRoleWithWebIdentity, GetCallerIdentity), the EKS Pod
Identity container credentials endpoint and the IMDSv2 instance role, so
that the SDKs' whole credential chain can be tested.

- AssumeRoleWithWebIdentity is unsigned (as in AWS); RoleArn must be the
  configured role (--role-arn), the WebIdentityToken the content of the
  configured token file (--web-identity-token-file, read on every call).
- Pod Identity: GET on the configured path (default /v1/credentials) of the
  metadata listener with Authorization: the content of
  --pod-identity-token-file; JSON AccessKeyId/SecretAccessKey/Token/
  AccountId/Expiration.
- IMDSv2: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
  (1..21600) gives a token; GETs under /latest/ need it in
  X-aws-ec2-metadata-token (IMDSv1 GETs without it get 401, as with
  HttpTokens=required). Credentials under
  /latest/meta-data/iam/security-credentials/<role>; also
  placement/region, placement/availability-zone, instance-id and
  /latest/dynamic/instance-identity/document.
"""

import base64
import json
import re
import secrets
import time

from aws_wire import AwsError, timestamp

VERSION = "2011-06-15"
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")


class Identity(object):
    """The configured identities: role for web identity and Pod Identity, the
    instance role for IMDS, the session length."""

    def __init__(self, account, role_arn=None, web_token_file=None, pod_token_file=None,
                 instance_role="stevedore-node", duration=3600):
        self.account = account
        self.role_arn = role_arn or "arn:aws:iam::%s:role/stevedore-controller" % account
        self.web_token_file, self.pod_token_file = web_token_file, pod_token_file
        self.instance_role, self.duration = instance_role, duration
        self.imds_tokens = {}  # token -> expiry


def _read(path, what):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise AwsError(500, "InternalFailure", "the emulator cannot read its %s %s: %s" % (what, path, e.strerror),
                       sender=False)


def _assumed_arn(role_arn, session):
    m = ROLE_ARN.match(role_arn)
    return "arn:aws:sts::%s:assumed-role/%s/%s" % (m.group(1), m.group(2), session)


def _subject(token):
    """The sub claim of a JWT, when the token is one (as a projected service
    account token is); the token is never echoed."""
    try:
        payload = token.split(".")[1]
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(doc.get("sub", "")), doc.get("aud")
    except (IndexError, ValueError, AttributeError):
        return "", None


def assume_role_with_web_identity(ctx, p):
    ident, keys = ctx.identity, ctx.keys
    role = p.required("RoleArn")
    session = p.required("RoleSessionName")
    token = p.required("WebIdentityToken")
    duration = p.integer("DurationSeconds", ident.duration, 900, 43200)
    p.get("ProviderId")
    p.get("Policy")
    p.members("PolicyArns")
    if not ROLE_ARN.match(role):
        raise AwsError(400, "ValidationError", "%s is invalid" % role)
    if not SESSION_NAME.match(session):
        raise AwsError(400, "ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed "
                       "to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*" % session)
    if ident.web_token_file is None:
        raise AwsError(400, "InvalidIdentityToken", "No OpenIDConnect provider found in your account for this "
                       "token (the emulator was started without --web-identity-token-file)")
    if token != _read(ident.web_token_file, "web identity token file"):
        raise AwsError(400, "InvalidIdentityToken", "Couldn't verify the web identity token: it is not the token "
                       "this account trusts (the content of the configured token file)")
    if role != ident.role_arn:
        raise AwsError(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    arn = _assumed_arn(role, session)
    cred = keys.issue(arn, duration, "web-identity")
    sub, aud = _subject(token)
    return {"SubjectFromWebIdentityToken": sub or "system:serviceaccount:kube-system:stevedore",
            "Audience": aud if isinstance(aud, str) else "sts.amazonaws.com",
            "AssumedRoleUser": {"Arn": arn, "AssumedRoleId": "AROA3XFRBF535PLBIFPI4:" + session},
            "Credentials": {"SessionToken": cred.token, "SecretAccessKey": cred.secret,
                            "Expiration": timestamp(cred.expires), "AccessKeyId": cred.key_id},
            "Provider": "arn:aws:iam::%s:oidc-provider/oidc.eks.%s.amazonaws.com/id/EXAMPLED539D4633E53DE1B71"
                        "EXAMPLE" % (ident.account, ctx.region)}


def get_caller_identity(ctx, p):
    cred = ctx.credential
    arn = cred.arn or "arn:aws:iam::%s:user/stevedore-test" % ctx.identity.account
    return {"UserId": cred.key_id if cred.token is None else "AROA3XFRBF535PLBIFPI4:" + arn.rsplit("/", 1)[-1],
            "Account": ctx.identity.account, "Arn": arn}


ACTIONS = {
    "AssumeRoleWithWebIdentity": assume_role_with_web_identity,
    "GetCallerIdentity": get_caller_identity,
}
UNSIGNED = ("AssumeRoleWithWebIdentity",)


def _json_credentials(cred, imds):
    doc = {"AccessKeyId": cred.key_id, "SecretAccessKey": cred.secret, "Token": cred.token,
           "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cred.expires))}
    if imds:
        doc = dict({"Code": "Success", "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "Type": "AWS-HMAC"}, **doc)
    else:
        doc["AccountId"] = cred.arn.split(":")[4]
    return doc


def pod_identity(ctx, headers):
    """GET on the Pod Identity path: (status, JSON document)."""
    ident = ctx.identity
    if ident.pod_token_file is None:
        return 404, {"code": "NotFound", "message": "the emulator was started without --pod-identity-token-file"}
    got = headers.get("Authorization")
    if not got:
        return 400, {"code": "InvalidParameter", "message": "Authorization header is missing"}
    if got != _read(ident.pod_token_file, "pod identity token file"):
        return 401, {"code": "AccessDeniedException",
                     "message": "Service account token cannot be validated (not the content of the token file)"}
    m = ROLE_ARN.match(ident.role_arn)
    arn = "arn:aws:sts::%s:assumed-role/%s/eks-stevedore-%s" % (m.group(1), m.group(2), secrets.token_hex(4))
    return 200, _json_credentials(ctx.keys.issue(arn, ident.duration, "pod-identity"), False)


def imds(ctx, method, path, headers):
    """One IMDS request: (status, content type, body)."""
    ident = ctx.identity
    now = time.time()
    if method == "PUT" and path == "/latest/api/token":
        if headers.get("X-Forwarded-For"):
            return 403, "text/plain", "Forbidden"
        ttl = headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return 400, "text/plain", "Bad Request: X-aws-ec2-metadata-token-ttl-seconds must be 1..21600"
        token = secrets.token_urlsafe(40)
        ident.imds_tokens[token] = now + int(ttl)
        return 200, "text/plain", token
    if method != "GET" or not path.startswith("/latest/"):
        return 405 if path.startswith("/latest/") else 404, "text/plain", "Not Found"
    token = headers.get("X-aws-ec2-metadata-token")
    if token is None or ident.imds_tokens.get(token, 0) <= now:
        return 401, "text/plain", "Unauthorized"
    base = "/latest/meta-data/iam/security-credentials/"
    zone = ctx.cloud.zones[0]
    fixed = {base: ident.instance_role, "/latest/meta-data/placement/region": ctx.region,
             "/latest/meta-data/placement/availability-zone": zone,
             "/latest/meta-data/instance-id": "i-0123456789abcdef0",
             "/latest/dynamic/instance-identity/document": json.dumps(
                 {"accountId": ident.account, "region": ctx.region, "availabilityZone": zone,
                  "instanceId": "i-0123456789abcdef0", "instanceType": "m5.large", "architecture": "x86_64"})}
    if path in fixed:
        return 200, "text/plain", fixed[path]
    if path == base + ident.instance_role:
        arn = "arn:aws:sts::%s:assumed-role/%s/i-0123456789abcdef0" % (ident.account, ident.instance_role)
        return 200, "text/plain", json.dumps(_json_credentials(ctx.keys.issue(arn, ident.duration, "imds"), True))
    return 404, "text/plain", "Not Found"
