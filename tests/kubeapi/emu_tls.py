"""Certificates for the emulator, made with the openssl command line.

make_ca() makes a certificate authority in a directory (ca.crt, ca.key) or
reuses the one already there; make_cert() issues a server certificate
(subjectAltName localhost, 127.0.0.1, ::1) or a client certificate whose
subject CN is the user name and whose O entries are the groups, as the
apiserver reads client certificates. Keys are ECDSA P-256: quick to make.
"""

import os
import subprocess


class TlsError(Exception):
    pass


def _run(args, cwd):
    try:
        p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except FileNotFoundError:
        raise TlsError("the openssl command is missing: install the Debian package openssl")
    if p.returncode != 0:
        raise TlsError("%s failed: %s" % (" ".join(args[:3]), p.stderr.decode(errors="replace").strip()))


_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def make_ca(directory):
    """The CA of a directory, made if missing; returns (ca.crt, ca.key)."""
    os.makedirs(directory, exist_ok=True)
    crt, key = os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key")
    if not (os.path.exists(crt) and os.path.exists(key)):
        _run(["openssl", "req", "-x509"] + _KEY + ["-keyout", key, "-out", crt, "-days", "3650",
              "-subj", "/CN=stevedore-kubeapi-emulator-ca",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], directory)
    return crt, key


def make_cert(directory, name, cn, groups=(), server=False):
    """Issue <name>.crt and <name>.key in directory, signed by its CA;
    returns (crt, key)."""
    ca_crt, ca_key = make_ca(directory)
    crt, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    csr, ext = os.path.join(directory, name + ".csr"), os.path.join(directory, name + ".ext")
    subj = "/CN=%s" % cn + "".join("/O=%s" % g for g in groups)
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
        if server:
            f.write("extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    _run(["openssl", "req", "-new"] + _KEY + ["-keyout", key, "-out", csr, "-subj", subj], directory)
    _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
          "-out", crt, "-days", "365", "-extfile", ext], directory)
    os.unlink(csr)
    os.unlink(ext)
    return crt, key
