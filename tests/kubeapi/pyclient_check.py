"""Checks of the emulator with the official Kubernetes Python client
(Debian's python3-kubernetes), run by tests/test_kubeapi_emulator.py as

    /usr/bin/python3 tests/kubeapi/pyclient_check.py URL CA TOKEN CHECK

(Debian's package installs for /usr/bin/python3, which may not be the
python3 first on PATH). Prints one JSON object with what it saw and exits 0,
or prints the reason and exits 1. CHECK is one of: paginate, watch, lease,
leader, binding_eviction.
"""

import json
import sys
import threading
import time

try:
    from kubernetes import client, watch
    from kubernetes.client.rest import ApiException
except ImportError:
    print("the Python module kubernetes is missing for %s: install the Debian package python3-kubernetes"
          % sys.executable)
    sys.exit(2)


def api_client(url, ca, token):
    cfg = client.Configuration()
    cfg.host = url
    cfg.ssl_ca_cert = ca
    cfg.verify_ssl = True
    cfg.api_key = {"authorization": token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    client.Configuration.set_default(cfg)
    return client.ApiClient(cfg)


def pod(name, labels=None):
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels=labels or {"app": "py"}),
                        spec=client.V1PodSpec(containers=[client.V1Container(
                            name="c", image="nginx:1.25",
                            resources=client.V1ResourceRequirements(requests={"cpu": "100m"}))]))


def check_paginate(api):
    v1 = client.CoreV1Api(api)
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="pages")))
    for i in range(7):
        v1.create_namespaced_pod("pages", pod("p%d" % i))
    names, pages, cont = [], 0, None
    while True:
        kw = {"limit": 3}
        if cont:
            kw["_continue"] = cont
        r = v1.list_pod_for_all_namespaces(**kw)
        pages += 1
        names += [p.metadata.name for p in r.items]
        cont = r.metadata._continue
        if pages == 1:
            v1.create_namespaced_pod("pages", pod("late"))  # not in this consistent list
        if not cont:
            break
    return {"pages": pages, "names": names}


def check_watch(api):
    v1 = client.CoreV1Api(api)
    first = v1.create_namespaced_pod("default", pod("w1"))
    rv = first.metadata.resource_version
    v1.create_namespaced_pod("default", pod("w2"))
    v1.patch_namespaced_pod("w1", "default", {"metadata": {"labels": {"seen": "yes"}}})
    v1.delete_namespaced_pod("w2", "default")
    w = watch.Watch()
    seen, bookmarks = [], 0
    for ev in w.stream(v1.list_namespaced_pod, "default", resource_version=rv, allow_watch_bookmarks=True,
                       timeout_seconds=3):
        if ev["type"] == "BOOKMARK":
            bookmarks += 1
            continue
        seen.append([ev["type"], ev["object"].metadata.name])
    gone = None
    try:
        for ev in watch.Watch().stream(v1.list_namespaced_pod, "default", resource_version="1",
                                       timeout_seconds=2):
            pass
    except ApiException as e:
        gone = [e.status, e.reason]
    return {"events": seen, "bookmarks": bookmarks, "gone": gone}


def _lease(holder, rv=None):
    now = "2026-12-07T10:00:00.000000Z"
    return client.V1Lease(metadata=client.V1ObjectMeta(name="stevedore", resource_version=rv),
                          spec=client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=15,
                                                  acquire_time=now, renew_time=now))


def check_lease(api):
    c = client.CoordinationV1Api(api)
    out = {}
    created = c.create_namespaced_lease("kube-system", _lease("replica-a"))
    try:
        c.create_namespaced_lease("kube-system", _lease("replica-b"))
    except ApiException as e:
        out["second_create"] = e.status
    got = c.read_namespaced_lease("stevedore", "kube-system")
    got.spec.renew_time = "2026-12-07T10:00:02.000000Z"
    renewed = c.replace_namespaced_lease("stevedore", "kube-system", got)
    out["renewed"] = int(renewed.metadata.resource_version) > int(created.metadata.resource_version)
    stale = _lease("replica-b", created.metadata.resource_version)
    try:
        c.replace_namespaced_lease("stevedore", "kube-system", stale)
    except ApiException as e:
        out["stale_update"] = [e.status, json.loads(e.body)["reason"]]
    out["holder"] = c.read_namespaced_lease("stevedore", "kube-system").spec.holder_identity
    return out


def check_lease_lost(api):
    """After the emulator handed the Lease to another holder: the old holder
    sees it lost, and its renewal from the last version it knew conflicts."""
    c = client.CoordinationV1Api(api)
    got = c.read_namespaced_lease("stevedore", "kube-system")
    out = {"holder": got.spec.holder_identity, "transitions": got.spec.lease_transitions}
    mine = _lease("replica-a", str(int(got.metadata.resource_version) - 1))
    try:
        c.replace_namespaced_lease("stevedore", "kube-system", mine)
    except ApiException as e:
        out["renew"] = [e.status, json.loads(e.body)["reason"]]
    return out


def check_leader(api):
    """The client's leaderelection module (a ConfigMap lock in this version)."""
    from kubernetes.leaderelection import electionconfig, leaderelection
    from kubernetes.leaderelection.resourcelock.configmaplock import ConfigMapLock
    led = threading.Event()
    lock = ConfigMapLock("stevedore-leader", "kube-system", "replica-a")
    cfg = electionconfig.Config(lock, lease_duration=4, renew_deadline=3, retry_period=1,
                                onstarted_leading=led.set, onstopped_leading=lambda: None)
    t = threading.Thread(target=leaderelection.LeaderElection(cfg).run, daemon=True)
    t.start()
    ok = led.wait(15)
    cm = client.CoreV1Api(api).read_namespaced_config_map("stevedore-leader", "kube-system")
    record = json.loads(cm.metadata.annotations["control-plane.alpha.kubernetes.io/leader"])
    return {"led": ok, "holder": record["holderIdentity"]}


def check_binding_eviction(api):
    v1 = client.CoreV1Api(api)
    v1.create_node(client.V1Node(metadata=client.V1ObjectMeta(name="py-node")))
    v1.create_namespaced_pod("default", pod("bound", {"app": "guarded"}))
    body = client.V1Binding(metadata=client.V1ObjectMeta(name="bound"),
                            target=client.V1ObjectReference(kind="Node", name="py-node"))
    # The generated client cannot read the Status a binding answers with, a known
    # bug of this version: take the raw response instead.
    r = v1.create_namespaced_pod_binding("bound", "default", body, _preload_content=False)
    out = {"binding_status": r.status, "node": v1.read_namespaced_pod("bound", "default").spec.node_name}
    st = v1.read_namespaced_pod_status("bound", "default")
    st.status.phase = "Running"
    st.status.conditions = [client.V1PodCondition(type="Ready", status="True")]
    v1.replace_namespaced_pod_status("bound", "default", st)
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget("default", client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name="guard"),
        spec=client.V1PodDisruptionBudgetSpec(min_available=1,
                                              selector=client.V1LabelSelector(match_labels={"app": "guarded"}))))
    ev = client.V1Eviction(metadata=client.V1ObjectMeta(name="bound", namespace="default"))
    try:
        v1.create_namespaced_pod_eviction("bound", "default", ev)
    except ApiException as e:
        out["evict_guarded"] = [e.status, json.loads(e.body)["message"]]
    client.PolicyV1Api(api).delete_namespaced_pod_disruption_budget("guard", "default")
    r = v1.create_namespaced_pod_eviction("bound", "default", ev, _preload_content=False)
    out["evict_free"] = r.status
    out["pods_left"] = [p.metadata.name for p in v1.list_namespaced_pod("default").items]
    return out


def main():
    url, ca, token, check = sys.argv[1:5]
    api = api_client(url, ca, token)
    fn = globals().get("check_" + check)
    if fn is None:
        print("unknown check %r" % check)
        return 2
    t0 = time.time()
    try:
        out = fn(api)
    except ApiException as e:
        print("%s: the emulator answered %s %s: %s" % (check, e.status, e.reason, e.body))
        return 1
    out["seconds"] = round(time.time() - t0, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
