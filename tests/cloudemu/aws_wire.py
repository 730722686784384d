"""The AWS Query protocol for the emulator (tests/cloudemu/aws.py): request
parameters as botocore and the AWS SDKs flatten them, XML responses as the
services answer them, and each service's own error document.

Parameters arrive form-encoded (POST body, or the query string of a GET).
Lists come flattened: Auto Scaling and STS as `Name.member.N` (and
`Filters.member.N.Values.member.M`), EC2 as `Name.N` (and
`Filter.N.Value.M`). Responses are built from nested Python values by
xml(): a dict is an element with children in order, a Members/Items list
is an element whose entries are <member>/<item>, None is left out, a bool
is "true"/"false".
"""

import base64
import datetime
import uuid
from xml.sax.saxutils import escape

ASG_NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
XML = "text/xml"


class AwsError(Exception):
    """An error the emulator answers in the service's own format."""

    def __init__(self, status, code, message, sender=True):
        Exception.__init__(self, "%s: %s" % (code, message))
        self.status, self.code, self.message, self.sender = status, code, message, sender


class Members(list):
    """A list serialised as <member> entries (Auto Scaling, STS)."""
    tag = "member"


class Items(list):
    """A list serialised as <item> entries (EC2)."""
    tag = "item"


def _el(name, v, out):
    if v is None:
        return
    if isinstance(v, dict):
        out.append("<%s>" % name)
        for k, x in v.items():
            _el(k, x, out)
        out.append("</%s>" % name)
    elif isinstance(v, (Members, Items)):
        if not v:
            out.append("<%s/>" % name)
            return
        out.append("<%s>" % name)
        for x in v:
            _el(v.tag, x, out)
        out.append("</%s>" % name)
    elif isinstance(v, bool):
        out.append("<%s>%s</%s>" % (name, "true" if v else "false", name))
    else:
        out.append("<%s>%s</%s>" % (name, escape(str(v)), name))


def xml(root, ns, body):
    """One XML document: <root xmlns=ns> with the children of body."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<%s xmlns="%s">' % (root, ns)]
    for k, v in body.items():
        _el(k, v, out)
    out.append("</%s>\n" % root)
    return "".join(out).encode()


def query_response(action, ns, result, request_id):
    """An Auto Scaling or STS answer: <ActionResponse><ActionResult>...
    <ResponseMetadata><RequestId>."""
    body = {}
    if result is not None:
        body[action + "Result"] = result
    body["ResponseMetadata"] = {"RequestId": request_id}
    return xml(action + "Response", ns, body)


def ec2_response(action, result, request_id):
    """An EC2 answer: <ActionResponse><requestId> then the result's fields."""
    body = {"requestId": request_id}
    body.update(result)
    return xml(action + "Response", EC2_NS, body)


def error_document(service, err, request_id):
    """The error body as each service writes it: EC2
    Response/Errors/Error/Code,Message + RequestID; Auto Scaling and STS
    ErrorResponse/Error/Type,Code,Message + RequestId."""
    if service == "ec2":
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code>'
                '<Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>\n'
                % (escape(err.code), escape(err.message), request_id)).encode()
    ns = STS_NS if service == "sts" else ASG_NS
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="%s"><Error><Type>%s</Type>'
            '<Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>\n'
            % (ns, "Sender" if err.sender else "Receiver", escape(err.code), escape(err.message),
               request_id)).encode()


def new_request_id():
    return str(uuid.uuid4())


def timestamp(t):
    """ISO 8601 in UTC with milliseconds, as the services write times."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def parse_time(text, name):
    """An ISO 8601 time parameter (what botocore sends), or a Unix time."""
    s = text.strip()
    try:
        return float(s)
    except ValueError:
        pass
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        d = datetime.datetime.fromisoformat(s)
    except ValueError:
        raise AwsError(400, "InvalidParameterValue", "Value (%s) for parameter %s is invalid. "
                       "Expected an ISO 8601 time." % (text, name))
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


class Params(object):
    """The parameters of one request; each read marks the name used, so
    that leftovers (unknown parameters) can be refused."""

    def __init__(self, pairs, error_code):
        self.p = {}
        for k, v in pairs:
            if k in self.p:
                raise AwsError(400, error_code, "The parameter %s is given more than once" % k)
            self.p[k] = v
        self.used = set(["Action", "Version"])
        self.error_code = error_code

    def get(self, name, default=None):
        self.used.add(name)
        return self.p.get(name, default)

    def required(self, name):
        v = self.get(name)
        if v is None or v == "":
            raise AwsError(400, "MissingParameter" if self.error_code != "ValidationError" else "ValidationError",
                           "The request must contain the parameter %s" % name
                           if self.error_code != "ValidationError" else
                           "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
                           "Member must not be null" % _lower_first(name))
        return v

    def integer(self, name, default=None, lo=None, hi=None):
        v = self.get(name)
        if v is None:
            return default
        try:
            n = int(v)
        except ValueError:
            raise AwsError(400, self.error_code, "Invalid value '%s' for %s: not an integer" % (v, name))
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise AwsError(400, self.error_code, "1 validation error detected: Value '%d' at '%s' failed to "
                           "satisfy constraint: Member must have value %s" % (n, _lower_first(name), _range(lo, hi)))
        return n

    def boolean(self, name, default=None):
        v = self.get(name)
        if v is None:
            return default
        if v.lower() not in ("true", "false"):
            raise AwsError(400, self.error_code, "Invalid value '%s' for %s: expected true or false" % (v, name))
        return v.lower() == "true"

    def members(self, prefix):
        """Auto Scaling/STS list `prefix.member.N`, in N order."""
        return self._numbered(prefix + ".member.")

    def numbered(self, prefix):
        """EC2 list `prefix.N`, in N order."""
        return self._numbered(prefix + ".")

    def _numbered(self, head):
        found = {}
        for k in self.p:
            if k.startswith(head) and k[len(head):].isdigit():
                found[int(k[len(head):])] = self.p[k]
                self.used.add(k)
        return [found[i] for i in sorted(found)]

    def asg_filters(self):
        """Auto Scaling Filters.member.N.Name / .Values.member.M."""
        return self._filters("Filters.member.", "Name", "Values.member.")

    def ec2_filters(self):
        """EC2 Filter.N.Name / Filter.N.Value.M."""
        return self._filters("Filter.", "Name", "Value.")

    def _filters(self, head, name_key, value_head):
        out = {}
        for k in list(self.p):
            if not k.startswith(head):
                continue
            rest = k[len(head):]
            n, _, field = rest.partition(".")
            if not n.isdigit():
                continue
            self.used.add(k)
            f = out.setdefault(int(n), {"name": None, "values": {}})
            if field == name_key:
                f["name"] = self.p[k]
            elif field.startswith(value_head) and field[len(value_head):].isdigit():
                f["values"][int(field[len(value_head):])] = self.p[k]
            else:
                raise AwsError(400, self.error_code, "Unknown parameter: %s" % k)
        result = []
        for n in sorted(out):
            f = out[n]
            if not f["name"]:
                raise AwsError(400, self.error_code, "The filter %d has no Name" % n)
            result.append((f["name"], [f["values"][i] for i in sorted(f["values"])]))
        return result

    def check_unknown(self):
        left = sorted(k for k in self.p if k not in self.used)
        if left:
            code = "UnknownParameter" if self.error_code != "ValidationError" else "ValidationError"
            raise AwsError(400, code, "The parameter %s is not recognized" % left[0])


def _lower_first(s):
    return s[:1].lower() + s[1:]


def _range(lo, hi):
    if lo is not None and hi is not None:
        return "between %d and %d" % (lo, hi)
    if lo is not None:
        return "greater than or equal to %d" % lo
    return "less than or equal to %d" % hi


def page(items, params, token_name, max_name, default_max, hi, bad_token, lo=1):
    """One page of items by NextToken/MaxRecords: (page, next token or
    None). The token is opaque to clients (base64 of the offset and the
    list's size when it was made)."""
    limit = params.integer(max_name, default_max, lo, hi)
    token = params.get(token_name)
    start = 0
    if token:
        try:
            off, _, size = base64.b64decode(token.encode(), validate=True).decode().partition(":")
            start = int(off)
            if start < 0 or not size.isdigit():
                raise ValueError(token)
        except (ValueError, UnicodeDecodeError):
            raise bad_token
    chunk = items[start:start + limit]
    nxt = None
    if start + limit < len(items):
        nxt = base64.b64encode(("%d:%d" % (start + limit, len(items))).encode()).decode()
    return chunk, nxt
