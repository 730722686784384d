#!/usr/bin/env python3
"""How fast the emulator answers, for docs/kubeapi-emulator.md:

    python3 tests/kubeapi/emu_speed.py [PODS]

creates PODS pods (default 2000) over one TLS keep-alive connection, lists
them, then patches 200 of them with a watch open and times each patch until
its event arrives."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import test_kubeapi_emulator as T  # noqa: E402



def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    headers = {"Authorization": "Bearer " + T.TOKEN, "Content-Type": "application/json"}
    with T.Env() as env:
        a = env.api
        c = a.conn()
        t0 = time.time()
        for i in range(n):
            c.request("POST", "/api/v1/namespaces/default/pods", json.dumps(T.pod("p%05d" % i)).encode(), headers)
            r = c.getresponse()
            r.read()
            assert r.status == 201, r.status
        t1 = time.time()
        print("create %d pods over one TLS keep-alive connection: %.0f a second" % (n, n / (t1 - t0)))
        t0 = time.time()
        doc = a.ok("GET", "/api/v1/pods")
        t1 = time.time()
        print("list %d pods: %.0f ms, %d bytes" % (len(doc["items"]), (t1 - t0) * 1000, len(json.dumps(doc))))
        _, events = a.watch("/api/v1/namespaces/default/pods?watch=1&resourceVersion=%s"
                            % doc["metadata"]["resourceVersion"])
        lat = []
        patch = dict(headers, **{"Content-Type": "application/merge-patch+json"})
        for i in range(min(200, n)):
            t0 = time.time()
            c.request("PATCH", "/api/v1/namespaces/default/pods/p%05d" % i,
                      json.dumps({"metadata": {"labels": {"x": "1"}}}).encode(), patch)
            c.getresponse().read()
            next(events)
            lat.append(time.time() - t0)
        lat.sort()
        print("patch until its watch event arrives: p50 %.1f ms, p99 %.1f ms"
              % (lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99) - 1] * 1000))


if __name__ == "__main__":
    main()
