"""What the GCP tests share (tests/test_cloudemu_gcp.py, tests/test_cloud_gcp.py):
running under a Python that has python3-google-auth (Debian's /usr/bin/python3
when the first python3 on PATH lacks it), throwaway service-account keys made
with the openssl command line, and the emulator's setup documents."""

import json
import os
import subprocess
import sys

SYSTEM_PYTHON = "/usr/bin/python3"
COMPUTE_SCOPE = "https://www.googleapis.com/auth/compute"


def with_google_auth():
    """Re-executes this program under Debian's python3 when google-auth is
    missing here; returns False (the caller skips, saying why) when no
    Python on the machine has it."""
    try:
        import google.auth  # noqa: F401
        return True
    except ImportError:
        pass
    if os.path.exists(SYSTEM_PYTHON) and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) \
            and not os.environ.get("STV_GCP_REEXEC"):
        os.environ["STV_GCP_REEXEC"] = "1"
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    return False


def make_key(directory, name, project, email=None):
    """A service-account key file (RSA 2048, as Google issues them) and the
    certificate the emulator verifies its assertions with. Returns (path
    of the key file, its JSON, the certificate PEM)."""
    key = os.path.join(directory, name + ".pem")
    crt = os.path.join(directory, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", "/CN=" + name], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    email = email or "%s@%s.iam.gserviceaccount.com" % (name, project)
    info = {"type": "service_account", "project_id": project, "private_key_id": os.urandom(20).hex(),
            "private_key": open(key).read(), "client_email": email, "client_id": "1%020d" % 7,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token"}
    path = os.path.join(directory, name + ".json")
    with open(path, "w") as f:
        json.dump(info, f)
    return path, info, open(crt).read()


def setup_doc(project, certs=(), permissions=None, zones=("us-east1-b", "us-east1-c", "us-east1-d"), cluster="c1"):
    """Three GKE-like node pools: on-demand e2-standard-4 (zonal, us-east1-b),
    spot e2-standard-4 (regional over three zones) and on-demand
    n2-standard-8 (zonal, us-east1-c); plus a MIG of another cluster that
    discovery must leave alone."""
    doc = {"project": project,
           "serviceAccounts": [{"client_email": e, "certificate": c} for e, c in certs],
           "templates": [
               {"name": "gke-%s-general-tpl" % cluster, "machineType": "e2-standard-4", "nodePool": "general"},
               {"name": "gke-%s-spot-tpl" % cluster, "machineType": "e2-standard-4", "provisioningModel": "SPOT",
                "nodePool": "spot"},
               {"name": "gke-%s-big-tpl" % cluster, "machineType": "n2-standard-8", "nodePool": "big",
                "region": "us-east1"},
               {"name": "gke-other-tpl", "machineType": "e2-standard-2", "nodePool": "other"}],
           "groups": [
               {"name": "gke-%s-general-1a2b3c4d-grp" % cluster, "zone": zones[0],
                "template": "gke-%s-general-tpl" % cluster},
               {"name": "gke-%s-spot-5e6f7a8b-grp" % cluster, "region": "us-east1", "zones": list(zones),
                "template": "gke-%s-spot-tpl" % cluster},
               {"name": "gke-%s-big-9c0d1e2f-grp" % cluster, "zone": zones[1], "template": "gke-%s-big-tpl" % cluster},
               {"name": "gke-other-pool-12345678-grp", "zone": zones[0], "template": "gke-other-tpl"}]}
    if permissions is not None:
        doc["permissions"] = list(permissions)
    return doc


def doc_permissions(root):
    """The permissions docs/cloud-gcp.md lists in its role (the lines
    between the ```permissions fences)."""
    text = open(os.path.join(root, "docs", "cloud-gcp.md")).read()
    start = text.index("```permissions\n") + len("```permissions\n")
    end = text.index("```", start)
    return [line.strip() for line in text[start:end].splitlines() if line.strip() and not line.startswith("#")]
