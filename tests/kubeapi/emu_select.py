"""Label selectors, field selectors and quantities, as the apiserver reads them.

parse_labels() reads the string form of ?labelSelector= (k8s.io/apimachinery
labels.Parse: =, ==, !=, in, notin, exists, !key, gt, lt); from_label_selector()
turns a metav1.LabelSelector object (matchLabels, matchExpressions) into the
same requirements; parse_fields() reads ?fieldSelector= (=, ==, != with
backslash escapes). Errors raise ValueError with the apiserver's wording.
"""

import decimal
import re

_KEY = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _split_top(s):
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _check_key(key, whole):
    if not _KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise ValueError("unable to parse requirement: invalid label key \"%s\" in selector \"%s\"" % (key, whole))


def _check_value(v, whole):
    if len(v) > 63 or not _VALUE.match(v):
        raise ValueError("unable to parse requirement: invalid label value: \"%s\" in selector \"%s\"" % (v, whole))


def parse_labels(s):
    """Requirements (key, op, [values]) of a label selector string."""
    reqs = []
    s = s.strip()
    if not s:
        return reqs
    for part in _split_top(s):
        p = part.strip()
        m = re.match(r"^(\S+)\s+(in|notin)\s*\((.*)\)$", p)
        if m:
            key, op = m.group(1), m.group(2)
            values = [v.strip() for v in m.group(3).split(",")] if m.group(3).strip() else []
            _check_key(key, s)
            for v in values:
                _check_value(v, s)
            reqs.append((key, op, values))
            continue
        m = re.match(r"^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(.*)$", p)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3).strip()
            _check_key(key, s)
            if op in ("<", ">"):
                if not re.match(r"^-?\d+$", value):
                    raise ValueError("unable to parse requirement: for 'Gt', 'Lt' operators, the value "
                                     "must be an integer in selector \"%s\"" % s)
                reqs.append((key, "gt" if op == ">" else "lt", [value]))
                continue
            _check_value(value, s)
            reqs.append((key, "!=" if op == "!=" else "=", [value]))
            continue
        if p.startswith("!"):
            _check_key(p[1:].strip(), s)
            reqs.append((p[1:].strip(), "!", []))
            continue
        if p:
            _check_key(p, s)
            reqs.append((p, "exists", []))
            continue
        raise ValueError("found '', expected: identifier in selector \"%s\"" % s)
    return reqs


def from_label_selector(sel):
    """Requirements of a metav1.LabelSelector object; None matches nothing
    (a nil selector), {} matches everything."""
    if sel is None:
        return None
    reqs = [(k, "=", [v]) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for e in sel.get("matchExpressions") or []:
        op = ops.get(e.get("operator"))
        if op is None:
            raise ValueError("\"%s\" is not a valid label selector operator" % e.get("operator"))
        reqs.append((e.get("key", ""), op, list(e.get("values") or [])))
    return reqs


def match_labels(reqs, labels):
    if reqs is None:
        return False
    labels = labels or {}
    for key, op, values in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and not (has and v == values[0]):
            return False
        if op == "!=" and has and v == values[0]:
            return False
        if op == "in" and not (has and v in values):
            return False
        if op == "notin" and has and v in values:
            return False
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
        if op in ("gt", "lt"):
            try:
                n = int(v)
            except (TypeError, ValueError):
                return False
            if (op == "gt" and not n > int(values[0])) or (op == "lt" and not n < int(values[0])):
                return False
    return True


def _unescape_split(s, seps):
    """Split s at the first unescaped separator from seps; returns (left, sep,
    right) with escapes in left kept for the caller."""
    i = 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        for sep in seps:
            if s.startswith(sep, i):
                return s[:i], sep, s[i + len(sep):]
        i += 1
    return s, None, ""


def _unescape(s):
    return re.sub(r"\\(.)", r"\1", s)


def parse_fields(s):
    """Requirements (field, op, value) of a field selector string."""
    reqs = []
    if not s.strip():
        return reqs
    rest = s
    while True:
        term, sep, rest2 = _unescape_split(rest, [","])
        left, op, right = _unescape_split(term, ["!=", "==", "="])
        if op is None:
            raise ValueError("invalid selector: '%s'; can't understand '%s'" % (s, term))
        reqs.append((_unescape(left).strip(), "!=" if op == "!=" else "=", _unescape(right)))
        if sep is None:
            break
        rest = rest2
    return reqs


_SUFFIX = {"n": decimal.Decimal("1e-9"), "u": decimal.Decimal("1e-6"), "m": decimal.Decimal("1e-3"), "": 1,
           "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18,
           "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_QTY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


def quantity(q):
    """A resource.Quantity string as a Decimal; raises ValueError."""
    if isinstance(q, (int, float)):
        return decimal.Decimal(str(q))
    m = _QTY.match(str(q).strip())
    if not m:
        raise ValueError("quantities must match the regular expression "
                         "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': %r" % q)
    n = decimal.Decimal(m.group(1))
    if m.group(2):
        return n * (decimal.Decimal(10) ** int(m.group(2)[1:]))
    return n * decimal.Decimal(_SUFFIX[m.group(3) or ""])
