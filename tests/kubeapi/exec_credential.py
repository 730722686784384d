#!/usr/bin/env python3
"""A client-go exec credential plugin for tests: prints an ExecCredential
with a bearer token, as `aws eks get-token` and `gke-gcloud-auth-plugin` do.

    exec_credential.py TOKEN [--api-version client.authentication.k8s.io/v1]
                       [--log FILE] [--expire-in SECONDS]

The apiVersion is the one the kubeconfig asked for (client-go passes the
request, with that apiVersion, in KUBERNETES_EXEC_INFO); --api-version
overrides it. --log appends one line per call, so a test can count how often
a client ran the plugin. Exit 1 with a message on stderr when no token is
given.
"""

import datetime
import json
import os
import sys


def main(argv):
    args = list(argv)
    version, log, expire = None, None, None
    for flag in ("--api-version", "--log", "--expire-in"):
        if flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                sys.stderr.write("exec_credential.py: %s needs a value\n" % flag)
                return 1
            value = args[i + 1]
            del args[i:i + 2]
            if flag == "--api-version":
                version = value
            elif flag == "--log":
                log = value
            else:
                expire = int(value)
    if len(args) != 1 or not args[0]:
        sys.stderr.write("usage: exec_credential.py TOKEN [--api-version V] [--log FILE] [--expire-in S]\n")
        return 1
    info = {}
    if os.environ.get("KUBERNETES_EXEC_INFO"):
        info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
    version = version or info.get("apiVersion") or "client.authentication.k8s.io/v1"
    status = {"token": args[0]}
    if expire is not None:
        at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=expire)
        status["expirationTimestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if log:
        with open(log, "a") as f:
            f.write("%s %s\n" % (version, json.dumps(info, sort_keys=True)))
    json.dump({"kind": "ExecCredential", "apiVersion": version, "spec": info.get("spec", {}), "status": status},
              sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
