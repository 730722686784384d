#!/usr/bin/env python3
"""The aws provider (cloud/aws*.c) against the AWS emulator
(tests/cloudemu/aws.py), whose SigV4 check is botocore's signer: group
discovery by tag, mixed-instances offerings, scale up, deleting a chosen
instance, throttling retried, insufficient capacity reported and the
offering left out, expired credentials refreshed, each credential source of
the SDKs' chain, malformed answers, the least-privilege policy of
docs/cloud-aws.md against the calls the emulator saw, and no secret in any
output. The provider runs in tests/aws_drive (built beside stevedore).

    python3 tests/test_cloud_aws.py BUILD/controller/stevedore [test_name...]
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_cloudemu_aws as emu_tests  # noqa: E402  (its Env, scenario helpers and botocore check)
import clitest  # noqa: E402

Env, wait = emu_tests.Env, emu_tests.wait
KEY_ID, SECRET, ROLE, WEB_TOKEN, POD_TOKEN = (emu_tests.KEY_ID, emu_tests.SECRET, emu_tests.ROLE,
                                               emu_tests.WEB_TOKEN, emu_tests.POD_TOKEN)
CLUSTER = emu_tests.CLUSTER
STEVEDORE = None
DRIVE = None
SEEN_PERMISSIONS = set()
SECRETS = [SECRET, WEB_TOKEN, POD_TOKEN]


def group(name, **kw):
    return emu_tests._group(name, **kw)


def scenario():
    spot = group("ng-spot", launchTemplate=None, mixedInstancesPolicy={
        "launchTemplate": {"name": "lt-spot"},
        "overrides": [{"instanceType": "m5.large"}, {"instanceType": "m5a.large"}],
        "instancesDistribution": {"onDemandBaseCapacity": 0, "onDemandPercentageAboveBaseCapacity": 0,
                                  "spotAllocationStrategy": "price-capacity-optimized"}},
        tags={"k8s.io/cluster-autoscaler/enabled": "true", "k8s.io/cluster-autoscaler/" + CLUSTER: "owned",
              "k8s.io/cluster-autoscaler/node-template/label/stevedore.io/node-pool": "batch"})
    spot.pop("launchTemplate")
    od = group("ng-od", maxSize=4, tags={
        "stevedore.io/cluster/" + CLUSTER: "owned",
        "k8s.io/cluster-autoscaler/node-template/label/node.kubernetes.io/instance-type": "m5.large"},
        instances=[{"zone": "us-east-1a", "instanceType": "m5.large"}], desiredCapacity=1, minSize=1)
    other = group("ng-other", tags={"k8s.io/cluster-autoscaler/enabled": "true",
                                    "k8s.io/cluster-autoscaler/prod": "owned"})
    half = group("ng-half", tags={"k8s.io/cluster-autoscaler/" + CLUSTER: "owned"})  # no enabled tag
    many = [group("ng-%02d" % i) for i in range(120)]  # over one page of 100
    return {"zones": ["us-east-1a", "us-east-1b", "us-east-1c"], "groups": [spot, od, other, half] + many}


def base_env(env, extra=None):
    home = os.path.join(env.dir, "home")
    os.makedirs(home, exist_ok=True)
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "AWS_ENDPOINT_URL": env.emu.url,
         "AWS_CA_BUNDLE": env.emu.ca_file, "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
         "AWS_DRIVE_POLL": "0.5"}
    e.update(extra or {})
    return e


def keys():
    return {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}


def drive(env, ops, extra=None, status=0, cluster=CLUSTER):
    """Runs aws_drive with ops; returns (outcomes by op in order, events, stderr)."""
    p = subprocess.run([DRIVE, cluster] + ops, env=base_env(env, extra), capture_output=True, text=True, timeout=120)
    for s in SECRETS:
        assert s not in p.stdout and s not in p.stderr, "a secret appears in the output"
    for c in env.calls():
        if c.get("permission") and c.get("credentialSource"):
            SEEN_PERMISSIONS.add(c["permission"])
    assert p.returncode == status, "aws_drive exited %d, not %d:\n%s\n%s" % (p.returncode, status, p.stdout,
                                                                              p.stderr)
    results, events = [], []
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    for i, d in enumerate(lines):
        if "op" in d:
            data = lines[i + 1] if i + 1 < len(lines) and "op" not in lines[i + 1] and "event" not in lines[
                i + 1] else {}
            d.update(data)
            results.append(d)
        elif "event" in d:
            events.append(d)
    return results, events, p.stderr


def ok(r):
    assert r["code"] == "OK", "%s failed: %s %s" % (r["op"], r["code"], r["message"])
    return r


def test_discovers_the_clusters_groups_by_tag_across_pages_with_their_offerings():
    with Env(scenario()) as env:
        (r,), _, _ = drive(env, ["groups"], keys())
        ok(r)
        ids = sorted(g["id"] for g in r["groups"])
        assert "ng-other" not in ids and "ng-half" not in ids, ids
        assert "ng-spot" in ids and "ng-od" in ids and "ng-119" in ids and len(ids) == 122, len(ids)
        spot = [g for g in r["groups"] if g["id"] == "ng-spot"][0]
        assert spot["pool"] == "batch", spot
        assert sorted(map(tuple, spot["offerings"])) == sorted(
            (t, z, "spot") for t in ("m5.large", "m5a.large") for z in ("us-east-1a", "us-east-1b")), spot
        od = [g for g in r["groups"] if g["id"] == "ng-od"][0]
        assert (od["min"], od["max"], od["desired"]) == (1, 4, 1), od
        assert sorted(map(tuple, od["offerings"])) == [("m5.large", z, "on-demand")
                                                       for z in ("us-east-1a", "us-east-1b")], od
        pages = [c for c in env.calls("DescribeAutoScalingGroups")]
        assert len(pages) >= 2, "the second page was not asked for (%d calls)" % len(pages)


def test_scales_up_lists_instances_and_reports_them_running():
    with Env(scenario()) as env:
        res, events, _ = drive(env, ["groups", "desired=ng-od:3", "wait=3", "instances"], keys())
        ok(res[1])
        st = [g for g in env.state()["groups"] if g["name"] == "ng-od"][0]
        assert st["desiredCapacity"] == 3, st
        insts = [i for i in ok(res[2])["instances"] if i["group"] == "ng-od"]
        assert len(insts) == 3 and all(i["id"].startswith("aws:///us-east-1") for i in insts), insts
        running = [e for e in events if e["event"] == "running" and e["group"] == "ng-od"]
        assert len(running) == 2, events  # the one already running was there at the first look
        res, _, _ = drive(env, ["groups", "desired=ng-od:5"], keys())
        assert res[1]["code"] == "STV_EINVAL" and "[1, 4]" in res[1]["message"], res[1]


def test_deletes_a_chosen_instance_and_lowers_desired_and_refuses_strangers():
    with Env(scenario()) as env:
        res, _, _ = drive(env, ["groups", "desired=ng-od:3", "wait=2", "instances"], keys())
        insts = [i["id"] for i in res[2]["instances"] if i["group"] == "ng-od"]
        victim = insts[1]
        res, _, _ = drive(env, ["delete=ng-od:" + victim, "delete=ng-od:aws:///us-east-1a/i-0123456789abcdef0",
                                "delete=ng-od:gce://p/z/n"], keys())
        ok(res[0])
        assert res[1]["code"] == "STV_ENOTFOUND" and "nothing deleted" in res[1]["message"], res[1]
        assert res[2]["code"] == "STV_EINVAL" and "not an AWS provider id" in res[2]["message"], res[2]
        vid = victim.rsplit("/", 1)[1]
        st = wait(lambda: [g for g in env.state()["groups"] if g["name"] == "ng-od" and vid not in g["instances"]],
                  "the instance to leave the group")[0]
        assert st["desiredCapacity"] == 2 and len(st["instances"]) == 2, st
        term = env.calls("TerminateInstanceInAutoScalingGroup")
        assert len(term) == 1, term


def test_retries_throttling_with_backoff_and_reports_it_when_it_persists():
    with Env(scenario()) as env:
        env.faults(throttle=3)
        (r,), _, _ = drive(env, ["groups"], keys())
        ok(r)
        codes = [c["code"] for c in env.calls("DescribeAutoScalingGroups")]
        assert codes[:3] == ["Throttling"] * 3 and codes[3] is None, codes
        env.faults(throttle=50, throttle_match="DescribeInstances")
        res, _, _ = drive(env, ["groups", "instances"], keys())
        assert res[1]["code"] == "STV_ETHROTTLED" and "DescribeInstances" in res[1]["message"], res[1]
        env.faults(clear=True)
        env.faults(server_error=2)
        (r,), _, _ = drive(env, ["groups"], keys())
        ok(r)


def test_capacity_failure_is_an_event_and_the_offering_is_left_out():
    with Env(scenario()) as env:
        env.faults(capacity=["m5.large/us-east-1a"])
        res, events, _ = drive(env, ["groups", "desired=ng-spot:1", "wait=4", "groups"], keys())
        ok(res[1])
        failed = [e for e in events if e["event"] == "launch_failed"]
        assert failed and failed[0]["code"] == "STV_ECAPACITY" and failed[0]["group"] == "ng-spot", events
        assert failed[0]["type"] == "m5.large" and failed[0]["zone"] == "us-east-1a", failed[0]
        spot = [g for g in ok(res[2])["groups"] if g["id"] == "ng-spot"][0]
        offers = set(map(tuple, spot["offerings"]))
        assert ("m5.large", "us-east-1a", "spot") not in offers and ("m5a.large", "us-east-1a", "spot") in offers, \
            offers


def prices_scenario():
    doc = scenario()
    doc["spotPrices"] = {"m5.large/us-east-1a": 0.0123}  # unlike any price in pricing/data
    doc["reservedInstances"] = [
        {"instanceType": "m5.large", "instanceCount": 3, "availabilityZone": "us-east-1a", "hourlyPrice": 0.05},
        {"instanceType": "m5.large", "instanceCount": 1, "availabilityZone": "us-east-1a", "hourlyPrice": 0.09},
        {"instanceType": "m5a.large", "instanceCount": 2, "fixedPrice": 876.0, "hourlyPrice": 0},
        {"instanceType": "m5a.large", "instanceCount": 5, "hourlyPrice": 0.01, "state": "retired"}]
    return doc


def spot_now(env, types):
    """The emulator's spot prices in effect now, read with botocore (not our code)."""
    import time as _time
    rows = env.client("ec2").describe_spot_price_history(
        InstanceTypes=types, ProductDescriptions=["Linux/UNIX"], StartTime=_time.time())["SpotPriceHistory"]
    return {(h["InstanceType"], h["AvailabilityZone"]): float(h["SpotPrice"]) for h in rows}


def test_prices_are_the_spot_history_now_and_the_reservations_hourly():
    with Env(prices_scenario()) as env:
        (r,), _, err = drive(env, ["prices"], keys())
        ok(r)
        assert r["source"] == "DescribeSpotPriceHistory, DescribeReservedInstances", r["source"]
        spot = {(q[0], q[2]): q[3] for q in r["quotes"] if q[1] == "spot"}
        want = spot_now(env, ["m5.large", "m5a.large"])
        # Every group type of the cluster: ng-spot's overrides, ng-od's m5.large, the 120 groups' m5.large.
        assert spot == want, (spot, want)
        assert spot[("m5.large", "us-east-1a")] == 0.0123, spot
        assert all(q[4] == -1 and q[5] > 0 for q in r["quotes"] if q[1] == "spot"), r["quotes"]
        rsv = sorted((q[0], q[2], round(q[3], 6), q[4]) for q in r["quotes"] if q[1] == "reserved")
        # us-east-1a: (3 x 0.05 + 1 x 0.09) / 4; the regional all-upfront one: 876 / 8760 h; the retired one out.
        assert rsv == [("m5.large", "us-east-1a", 0.06, 4), ("m5a.large", None, 0.1, 2)], rsv
        sent = env.calls("DescribeSpotPriceHistory")
        assert sent and all(c["code"] is None for c in sent), sent


def test_stevedore_prices_live_shows_the_emulators_spot_and_reservations_over_the_embedded_figures():
    import time as _time
    with Env(prices_scenario()) as env:
        args = [STEVEDORE, "prices", "--live", "--provider", "aws", "--cluster-name", CLUSTER, "--catalog",
                "aws:us-east-1", "--output", "json", "--type", "m5.large", "--type", "m5a.large"]
        p = subprocess.run(args, env=base_env(env, keys()), capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        for s in SECRETS:
            assert s not in p.stdout and s not in p.stderr, "a secret appears in the output"
        for c in env.calls():
            if c.get("permission") and c.get("credentialSource"):
                SEEN_PERMISSIONS.add(c["permission"])
        doc = json.loads(p.stdout)
        assert doc["prices"]["liveSource"] == "DescribeSpotPriceHistory, DescribeReservedInstances", doc["prices"]
        rows = {(o["instanceType"], o["capacityType"], o["zone"]): o for o in doc["offerings"]}
        want = spot_now(env, ["m5.large", "m5a.large"])
        for (t, z), price in want.items():
            o = rows[(t, "spot", z)]
            assert o["source"] == "live" and abs(o["price"] - price) < 1e-9, (o, price)
        assert rows[("m5.large", "spot", "us-east-1a")]["price"] == 0.0123
        r = rows[("m5.large", "reserved", "us-east-1a")]
        assert (r["source"], r["count"], round(r["price"], 6)) == ("live", 4, 0.06), r
        assert abs(r["asOf"] - _time.time()) < 120, r  # the reservations held as of the read
        assert all(o["source"] == "embedded" for k, o in rows.items() if k[1] == "on-demand"), rows
        # Not permitted to read reservations: the spot figures still live, a warning naming the permission.
        env.faults(deny=["DescribeReservedInstances"])
        p = subprocess.run(args, env=base_env(env, keys()), capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        doc = json.loads(p.stdout)
        assert doc["prices"]["liveSource"] == "DescribeSpotPriceHistory", doc["prices"]
        assert "ec2:DescribeReservedInstances" in p.stderr, p.stderr


def test_prices_without_the_reservations_permission_keep_the_spot_figures_and_say_so():
    with Env(prices_scenario()) as env:
        env.faults(deny=["DescribeReservedInstances"])
        (r,), _, err = drive(env, ["prices"], keys())
        ok(r)
        assert r["source"] == "DescribeSpotPriceHistory", r["source"]
        assert not [q for q in r["quotes"] if q[1] == "reserved"], r["quotes"]
        assert [q for q in r["quotes"] if q[1] == "spot"], r["quotes"]
        assert "reservations not read" in err and "ec2:DescribeReservedInstances" in err, err
        env.faults(deny=["DescribeSpotPriceHistory"])
        (r,), _, err = drive(env, ["prices"], keys())
        ok(r)
        assert r["source"] == "DescribeReservedInstances" and all(q[1] == "reserved" for q in r["quotes"]), r
        assert "spot prices not read" in err and "ec2:DescribeSpotPriceHistory" in err, err
        env.faults(deny=["DescribeReservedInstances", "DescribeSpotPriceHistory"])
        (r,), _, err = drive(env, ["prices"], keys())
        assert r["code"] == "STV_EUNSUPPORTED" and "DescribeSpotPriceHistory" in r["message"], r
        env.faults(deny=[])
        before = len(env.calls("DescribeReservedInstances"))
        (r,), _, err = drive(env, ["prices"], dict(keys(), AWS_DRIVE_RESERVATIONS="0"))
        ok(r)
        assert r["source"] == "DescribeSpotPriceHistory", r["source"]
        assert len(env.calls("DescribeReservedInstances")) == before, "reservations read though turned off"


def test_offerings_are_narrowed_to_the_zones_that_offer_the_type_and_each_drop_is_named():
    doc = scenario()
    doc["unavailableOfferings"] = ["m5a.large/us-east-1b"]
    with Env(doc) as env:
        (r,), _, err = drive(env, ["groups"], keys())
        spot = [g for g in ok(r)["groups"] if g["id"] == "ng-spot"][0]
        assert sorted(map(tuple, spot["offerings"])) == [("m5.large", "us-east-1a", "spot"),
                                                         ("m5.large", "us-east-1b", "spot"),
                                                         ("m5a.large", "us-east-1a", "spot")], spot
        drops = [line for line in err.splitlines() if "offering dropped" in line]
        assert len(drops) == 1 and "m5a.large" in drops[0] and "us-east-1b" in drops[0] and "ng-spot" in drops[0], \
            err
        asked = env.calls("DescribeInstanceTypeOfferings")
        assert len(asked) == 1, asked
        # Read once for the listings that follow (kept 10 minutes).
        res, _, _ = drive(env, ["groups", "groups"], keys())
        assert len(env.calls("DescribeInstanceTypeOfferings")) == 2, "read again within its lifetime"
        # Not permitted: nothing narrowed, and a warning names the permission.
        env.faults(deny=["DescribeInstanceTypeOfferings"])
        (r,), _, err = drive(env, ["groups"], keys())
        spot = [g for g in ok(r)["groups"] if g["id"] == "ng-spot"][0]
        assert ("m5a.large", "us-east-1b", "spot") in set(map(tuple, spot["offerings"])), spot
        assert "zone availability not read" in err and "ec2:DescribeInstanceTypeOfferings" in err, err


def lc_group(name="ng-lc", spot=None, **kw):
    lc = {"name": "lc-" + name, "instanceType": "c5.xlarge"}
    if spot is not None:
        lc["spotPrice"] = spot
    g = group(name, launchConfiguration=lc, **kw)
    g.pop("launchTemplate")
    return g


def test_launch_configuration_groups_scale_from_zero_with_its_type_and_spot_price():
    doc = {"zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
           "groups": [lc_group("ng-lc"), lc_group("ng-lc-spot", spot=0.3), lc_group("ng-lc-x")]}
    doc["groups"][2]["launchConfiguration"]["name"] = "lc-ng-lc"  # two groups, one configuration
    with Env(doc) as env:
        res, events, err = drive(env, ["groups", "desired=ng-lc-spot:1", "wait=4", "instances"], keys())
        groups = {g["id"]: sorted(map(tuple, g["offerings"])) for g in ok(res[0])["groups"]}
        assert groups["ng-lc"] == [("c5.xlarge", z, "on-demand") for z in ("us-east-1a", "us-east-1b")], groups
        assert groups["ng-lc-spot"] == [("c5.xlarge", z, "spot") for z in ("us-east-1a", "us-east-1b")], groups
        assert groups["ng-lc-x"] == groups["ng-lc"], groups
        assert len(env.calls("DescribeLaunchConfigurations")) == 2, "one call per configuration"
        ok(res[1])
        inst = ok(res[2])["instances"]
        assert len(inst) == 1 and inst[0]["type"] == "c5.xlarge" and inst[0]["capacity"] == "spot", inst


def test_malformed_answer_is_an_error_naming_the_action():
    with Env(scenario()) as env:
        env.faults(malformed=1)
        (r,), _, _ = drive(env, ["groups"], keys())
        assert r["code"] == "STV_EPARSE" and "DescribeAutoScalingGroups" in r["message"], r


def test_web_identity_credentials_and_their_refresh_after_expiry():
    with Env(scenario()) as env:
        extra = {"AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": env.web_token}
        res, _, err = drive(env, ["groups", "instances"], extra)
        ok(res[0])
        ok(res[1])
        assert "credentials=\"web identity\"" in err or "credentials=web" in err, err
        sts = env.calls("AssumeRoleWithWebIdentity")
        assert len(sts) == 1, sts
        # Every session expires now: the next call is refused, the adapter refreshes once and goes on.
        res, _, err = drive(env, ["groups", "wait=0.2", "desired=ng-od:2"], extra)
        ok(res[1])
        assert res[1]["op"] == "desired=ng-od:2", res
        env.faults(expire_credentials=True)
        env.control("DELETE", "/_emu/calls")
        res, _, _ = drive(env, ["groups"], extra)
        ok(res[0])
        # The token file is read again at each refresh: a wrong token is refused by STS, and said so.
        wrong = env._write("wrong-token", "not-the-token")
        (r,), _, _ = drive(env, ["groups"], dict(extra, AWS_WEB_IDENTITY_TOKEN_FILE=wrong))
        assert r["code"] != "OK" and "AssumeRoleWithWebIdentity" in r["message"], r


def test_expired_session_in_flight_is_refreshed_once_and_the_call_goes_on():
    with Env(scenario()) as env:
        extra = {"AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": env.web_token, "AWS_DRIVE_POLL": "100"}
        # groups, then the sessions expire while the process holds its credentials, then another call.
        p = subprocess.Popen([DRIVE, CLUSTER, "groups", "wait=2", "groups"], env=base_env(env, extra),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait(lambda: env.calls("DescribeAutoScalingGroups"), "the first listing")
        env.faults(expire_credentials=True)
        out, err = p.communicate(timeout=60)
        outs = [json.loads(x) for x in out.splitlines() if x.startswith('{"op"')]
        assert [o["code"] for o in outs] == ["OK", "OK"], out + err
        codes = [c["code"] for c in env.calls()]
        assert codes.count("ExpiredToken") == 1, codes
        assert len(env.calls("AssumeRoleWithWebIdentity")) == 2
        assert "refreshing" in err, err


def test_static_keys_that_expire_are_reported_with_their_source():
    with Env(scenario()) as env:
        (r,), _, _ = drive(env, ["groups"], {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": "wrong"})
        assert r["code"] != "OK" and "environment" in r["message"], r


def test_pod_identity_container_credentials():
    with Env(scenario()) as env:
        extra = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": env.emu.info()["pod_identity_url"],
                 "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": env.pod_token}
        (r,), _, err = drive(env, ["groups"], extra)
        ok(r)
        srcs = {c["credentialSource"] for c in env.calls("DescribeAutoScalingGroups")}
        assert srcs == {"pod-identity"} or all("pod" in (s or "") for s in srcs), srcs


def test_shared_files_profile_with_region():
    with Env(scenario()) as env:
        d = env.dir
        with open(os.path.join(d, "credentials"), "w") as f:
            f.write("[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n"
                    "[ops]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (KEY_ID, SECRET))
        with open(os.path.join(d, "config"), "w") as f:
            f.write("[default]\nregion = eu-west-1\n[profile ops]\nregion = us-east-1\n")
        extra = {"AWS_SHARED_CREDENTIALS_FILE": os.path.join(d, "credentials"),
                 "AWS_CONFIG_FILE": os.path.join(d, "config"), "AWS_PROFILE": "ops", "AWS_REGION": ""}
        (r,), _, err = drive(env, ["groups"], extra)
        ok(r)
        assert "profile ops" in err and "region_from=" in err, err


def test_instance_metadata_v2_role_credentials():
    with Env(scenario()) as env:
        extra = {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": env.emu.metadata_url}
        (r,), _, err = drive(env, ["groups"], extra)
        ok(r)
        assert "instance metadata" in err, err


def test_missing_region_cluster_name_or_credentials_is_a_clear_error():
    with Env(scenario()) as env:
        _, _, err = drive(env, ["groups"], dict(keys(), AWS_REGION=""), status=2)
        assert "no region" in err and "AWS_REGION" in err, err
        _, _, err = drive(env, ["groups"], keys(), status=2, cluster="")
        assert "--cluster-name is required" in err, err
        _, _, err = drive(env, ["groups"], {"AWS_ACCESS_KEY_ID": KEY_ID}, status=2)
        assert "AWS_SECRET_ACCESS_KEY" in err, err
        _, _, err = drive(env, ["groups"], {}, status=2)
        assert "no credentials" in err and "AWS_EC2_METADATA_DISABLED" in err, err


def e2e_scenario():
    g = group("ng-workers", maxSize=6, availabilityZones=["us-east-1a"],
              launchTemplate={"name": "lt-workers", "instanceType": "m5.large"})
    return {"zones": ["us-east-1a", "us-east-1b", "us-east-1c"], "groups": [g]}


def test_controller_scales_a_group_nodes_register_pods_run_and_a_restart_does_not_double():
    import ctltest
    with ctltest.Scene(STEVEDORE, "aws-e2e") as sc:
        with Env(e2e_scenario(), launch_delay=4.0, kube_url=sc.emu.url, kube_token=sc.token_of("tester"),
                 kube_ca=sc.emu.ca_file) as env:
            saved = dict(os.environ)
            os.environ.update(base_env(env, keys()))
            os.environ.pop("AWS_DRIVE_POLL", None)
            try:
                ctl = sc.controller("r0", "--provider", "aws", "--cluster-name", CLUSTER, "--catalog",
                                    "aws:us-east-1", "--leader-elect=false")
                sc.create_pods(*[ctltest.pod("web-%d" % i, cpu="1200m", memory="2Gi") for i in range(3)])
                sc.wait_for("a scale-up", lambda: env.calls("SetDesiredCapacity"), timeout=60)
                first = [g for g in env.state()["groups"] if g["name"] == "ng-workers"][0]["desiredCapacity"]
                # Restart while the instances are still launching: what is in flight comes from desired
                # versus the instances, and the group is not raised again for the same pods.
                ctl.kill()
                ctl.start()
                sc.wait_for("every pod running", lambda: sc.all_running(3), timeout=90)
                rebuilds = [r["text"] for r in ctl.records("decision") if r.get("kind") == "rebuild"]
                sc.check(len(rebuilds) == 2 and "; 0 nodes in flight" not in rebuilds[1],
                         "the restart did not find the launches in flight: %s" % rebuilds)
                nodes = [n for n in sc.nodes() if n["spec"].get("providerID", "").startswith("aws:///us-east-1a/i-")]
                sc.check(len(nodes) == first, "%d aws nodes for desired %d" % (len(nodes), first))
                final = [g for g in env.state()["groups"] if g["name"] == "ng-workers"][0]["desiredCapacity"]
                sc.check(final == first, "desired went from %d to %d after the restart" % (first, final))
                for s in SECRETS:
                    sc.check(s not in ctl.log(), "a secret appears in the controller's log")
                for c in env.calls():
                    if c.get("permission") and c.get("credentialSource"):
                        SEEN_PERMISSIONS.add(c["permission"])
            finally:
                os.environ.clear()
                os.environ.update(saved)


def test_controller_without_catalog_or_nodes_takes_the_catalogue_of_aws_region():
    """No --catalog and a cluster without nodes: AWS_REGION names the catalogue (not the default)."""
    import ctltest
    with ctltest.Scene(STEVEDORE, "aws-region") as sc:
        with Env(e2e_scenario()) as env:
            saved = dict(os.environ)
            os.environ.update(base_env(env, keys()))
            os.environ["AWS_REGION"] = "eu-west-1"
            try:
                ctl = ctltest.Controller(sc, "r0", list(ctltest.FAST) + [
                    "--lease-namespace", sc.lease_ns, "--provider", "aws", "--cluster-name", CLUSTER,
                    "--leader-elect=false", "--dry-run"])
                sc.controllers.append(ctl)
                ctl.start()
                sc.wait_for("the catalogue line", lambda: ctl.records("catalogue of the provider's region"),
                            timeout=60)
                rec = ctl.records("catalogue of the provider's region")[0]
                sc.check(rec.get("catalog") == "aws:eu-west-1" and "AWS_REGION" in rec.get("reason", ""), rec)
                ctl.must_run = False
                ctl.kill()
            finally:
                os.environ.clear()
                os.environ.update(saved)


def ctl_log(sc):
    return "".join(c.log() for c in sc.controllers)


def test_controller_scales_a_launch_configuration_group_from_zero_and_its_pods_run():
    import ctltest
    doc = {"zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
           "groups": [lc_group("ng-legacy", maxSize=4, availabilityZones=["us-east-1b"])]}
    with ctltest.Scene(STEVEDORE, "aws-lc") as sc:
        with Env(doc, launch_delay=2.0, kube_url=sc.emu.url, kube_token=sc.token_of("tester"),
                 kube_ca=sc.emu.ca_file) as env:
            saved = dict(os.environ)
            os.environ.update(base_env(env, keys()))
            # The region, the endpoints and the CA from the configuration's aws: block, not the environment.
            for k in ("AWS_DRIVE_POLL", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_CA_BUNDLE"):
                os.environ.pop(k, None)
            config = os.path.join(env.dir, "stevedore.yaml")
            with open(config, "w") as f:
                f.write("aws:\n  region: us-east-1\n  endpoint: %s\n  ec2Endpoint: %s\n  caFile: %s\n"
                        % (env.emu.url, env.emu.url, env.emu.ca_file))
            try:
                sc.controller("r0", "--provider", "aws", "--cluster-name", CLUSTER, "--catalog", "aws:us-east-1",
                              "--leader-elect=false", "--config", config)
                sc.create_pods(*[ctltest.pod("legacy-%d" % i, cpu="1500m", memory="3Gi") for i in range(2)])
                sc.wait_for("every pod running", lambda: sc.all_running(2), timeout=90)
                nodes = [n for n in sc.nodes() if n["spec"].get("providerID", "").startswith("aws:///us-east-1b/i-")]
                sc.check(nodes and all(n["metadata"]["labels"].get("node.kubernetes.io/instance-type") == "c5.xlarge"
                                       for n in nodes), "the nodes are not the launch configuration's c5.xlarge")
                sc.check(len(env.calls("DescribeLaunchConfigurations")) >= 1, "the launch configuration was not read")
                sc.check("aws.region of the configuration" in ctl_log(sc), "the region did not come from aws.region")
                sc.check(env.calls("SetDesiredCapacity"), "the group was never scaled")
                names = {n["metadata"]["name"] for n in nodes}
                sc.check(all(p["spec"].get("nodeName") in names for p in sc.pods()),
                         "a pod runs elsewhere than on the group's nodes: %s" % [p["spec"].get("nodeName")
                                                                                   for p in sc.pods()])
                for c in env.calls():
                    if c.get("permission") and c.get("credentialSource"):
                        SEEN_PERMISSIONS.add(c["permission"])
            finally:
                os.environ.clear()
                os.environ.update(saved)


def policy_actions():
    text = open(os.path.join(os.path.dirname(HERE), "docs", "cloud-aws.md")).read()
    m = re.search(r"<!-- iam-policy -->\s*```json\n(.*?)```", text, re.S)
    assert m, "docs/cloud-aws.md has no ```json block after <!-- iam-policy -->"
    doc = json.loads(m.group(1))
    acts = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow", st
        a = st["Action"]
        acts.update([a] if isinstance(a, str) else a)
    return acts


def test_zz_every_call_made_is_in_the_documented_policy():
    """Runs last: the permissions of every signed call of the tests above."""
    granted = policy_actions()
    assert SEEN_PERMISSIONS, "no call was seen"
    missing = sorted(SEEN_PERMISSIONS - granted)
    assert not missing, "calls without a permission in docs/cloud-aws.md: %s" % ", ".join(missing)
    unused = sorted(granted - SEEN_PERMISSIONS)
    if unused:
        print("    note: granted and not used by these tests: %s" % ", ".join(unused))


def main():
    global STEVEDORE, DRIVE
    STEVEDORE = os.path.abspath(sys.argv[1])
    DRIVE = os.path.join(os.path.dirname(os.path.dirname(STEVEDORE)), "tests", "aws_drive")
    r = clitest.Runner()
    only = [a for a in sys.argv[2:] if a.startswith("test_")]
    for name in sorted(n for n in globals() if n.startswith("test_")):
        if not only or name in only:
            r.run(name, globals()[name])
    shutil.rmtree(emu_tests.TLS, ignore_errors=True)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
