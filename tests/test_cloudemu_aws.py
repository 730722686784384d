#!/usr/bin/env python3
"""The AWS emulator (tests/cloudemu/aws.py) against clients nobody here
wrote: the AWS CLI and botocore, and curl's SigV4 signer (libcurl's, which
the C adapter uses).

    python3 tests/test_cloudemu_aws.py [build/controller/stevedore] [test_name ...]

(the binary argument is accepted, as by every Python test in
tests/meson.build, and not used). The AWS CLI is $AWS_CLI, Debian's
/usr/bin/aws (package awscli) and the first `aws` on PATH when that is
another one: each found runs the CLI tests. botocore is this interpreter's
(else the test re-executes under Debian's /usr/bin/python3 with
python3-botocore). A missing client is a failure naming the package, never
a skip.

Prints "PASS name" / "FAIL name" per test and ends with "N passed, N failed".
"""

import base64
import functools
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM_PYTHON = "/usr/bin/python3"


def _ensure_botocore():
    try:
        import botocore  # noqa: F401
    except ImportError:
        if os.path.exists(SYSTEM_PYTHON) and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON):
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
        print("FAIL botocore\n    botocore is missing: apt-get install python3-botocore\n0 passed, 1 failed")
        sys.exit(1)


if __name__ == "__main__":
    _ensure_botocore()

import botocore  # noqa: E402
import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.config  # noqa: E402
import botocore.credentials  # noqa: E402
import botocore.exceptions  # noqa: E402
import botocore.parsers  # noqa: E402
import botocore.session  # noqa: E402
import botocore.utils  # noqa: E402

sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "cloudemu"))
sys.path.insert(0, os.path.join(HERE, "kubeapi"))
import aws  # noqa: E402
import clitest  # noqa: E402
import emulator  # noqa: E402

TLS = tempfile.mkdtemp(prefix="aws-emu-test-tls-")
KEY_ID, SECRET = "AKIAEMULATORTEST0001", "emulator/test/secret/key/0123456789abcdef"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9." + base64.urlsafe_b64encode(json.dumps(
    {"sub": "system:serviceaccount:kube-system:stevedore", "aud": "sts.amazonaws.com"}).encode()).decode().rstrip(
    "=") + ".c2lnbmF0dXJl"
POD_TOKEN = "eks-pod-identity-token-for-tests"
ROLE = "arn:aws:iam::111122223333:role/stevedore-controller"
CLUSTER = "demo"


def _group(name, **kw):
    g = {"name": name, "minSize": 0, "maxSize": 10, "desiredCapacity": 0,
         "availabilityZones": ["us-east-1a", "us-east-1b"],
         "launchTemplate": {"name": "lt-" + name, "instanceType": "m5.large"},
         "tags": {"k8s.io/cluster-autoscaler/enabled": "true", "k8s.io/cluster-autoscaler/" + CLUSTER: "owned"}}
    g.update(kw)
    return g


def scenario():
    groups = [_group("ng-%d" % i) for i in range(5)]
    groups.append(_group("other-cluster", tags={"k8s.io/cluster-autoscaler/enabled": "true",
                                                  "k8s.io/cluster-autoscaler/prod": "owned"}))
    groups.append(_group("ng-spot", minSize=1, desiredCapacity=1, launchTemplate=None, mixedInstancesPolicy={
        "launchTemplate": {"name": "lt-spot"},
        "overrides": [{"instanceType": "m5.large"}, {"instanceType": "m5a.large"}, {"instanceType": "m6i.large"}],
        "instancesDistribution": {"onDemandBaseCapacity": 1, "onDemandPercentageAboveBaseCapacity": 0,
                                  "spotAllocationStrategy": "lowest-price"}},
        tags={"k8s.io/cluster-autoscaler/enabled": "true", "k8s.io/cluster-autoscaler/" + CLUSTER: "owned",
              "k8s.io/cluster-autoscaler/node-template/label/workload": "batch",
              "k8s.io/cluster-autoscaler/node-template/taint/dedicated": "batch:NoSchedule"},
        instances=[{"zone": "us-east-1a", "instanceType": "m5.large"}]))
    for g in groups:
        if g.get("launchTemplate") is None:
            g.pop("launchTemplate", None)
    return {"zones": ["us-east-1a", "us-east-1b", "us-east-1c"], "groups": groups,
            "spotPrices": {"m5a.large/us-east-1b": 0.011, "m5a.large/us-east-1a": 0.012},
            "reservedInstances": [{"instanceType": "m5.large", "instanceCount": 3}]}


class Env(object):
    """A fresh emulator per test, its files in a temporary directory."""

    def __init__(self, doc=None, kube=None, **kw):
        self.dir = tempfile.mkdtemp(prefix="aws-emu-test-")
        self.groups = os.path.join(self.dir, "groups.json")
        with open(self.groups, "w") as f:
            json.dump(doc if doc is not None else scenario(), f)
        self.web_token = self._write("web-token", WEB_TOKEN)
        self.pod_token = self._write("pod-token", POD_TOKEN)
        args = dict(groups=self.groups, access_keys=[(KEY_ID, SECRET)], tls_dir=TLS, role_arn=ROLE,
                    web_identity_token_file=self.web_token, pod_identity_token_file=self.pod_token,
                    launch_delay=0.3, terminate_delay=0.2, launch_retry=30.0)
        if kube is not None:
            args.update(kube_url=kube.url, kube_token="kube-token", kube_ca=kube.ca_file)
        args.update(kw)
        self.emu = aws.AwsEmulator(**args)
        self.ctx = None

    def _write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def __enter__(self):
        self.emu.start()
        self.ctx = ssl.create_default_context(cafile=self.emu.ca_file)
        return self

    def __exit__(self, *exc):
        self.emu.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, service, key_id=KEY_ID, secret=SECRET, token=None, retries=0, mode="standard", **cfg):
        s = botocore.session.get_session()
        conf = botocore.config.Config(retries={"total_max_attempts": retries + 1, "mode": mode}, **cfg)
        return s.create_client(service, region_name="us-east-1", endpoint_url=self.emu.url, verify=self.emu.ca_file,
                               aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
                               config=conf)

    def control(self, method, path, doc=None):
        data = json.dumps(doc).encode() if doc is not None else None
        req = urllib.request.Request(self.emu.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            return json.loads(r.read())

    def faults(self, **doc):
        return self.control("POST", "/_emu/faults", doc)

    def calls(self, action=None):
        items = self.control("GET", "/_emu/calls")["items"]
        return [c for c in items if action is None or c.get("action") == action]

    def state(self):
        return self.control("GET", "/_emu/state")

    def group_instances(self, name, lifecycle=None):
        st = self.state()
        ids = [g for g in st["groups"] if g["name"] == name][0]["instances"]
        return [i for i in st["instances"] if i["id"] in ids and (lifecycle is None or i["lifecycle"] == lifecycle)]


def wait(pred, what, timeout=15.0):
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(0.1)


def client_error(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], \
            e.response["Error"].get("Message", "")
    raise AssertionError("%s succeeded; an error was expected" % getattr(fn, "__name__", fn))


# The AWS CLI ------------------------------------------------------------------


def find_clis():
    found, seen = [], set()
    for cand in (os.environ.get("AWS_CLI"), "/usr/bin/aws", shutil.which("aws")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            real = os.path.realpath(cand)
            if real not in seen:
                seen.add(real)
                found.append(cand)
    if not found:
        raise AssertionError("no AWS CLI found: install the Debian package awscli (or set AWS_CLI)")
    return found


def cli_version(cli):
    out = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=60)
    text = (out.stdout + out.stderr).strip()
    parts = {}
    for word in text.split():
        name, _, ver = word.partition("/")
        if ver:
            parts[name] = tuple(int(x) for x in ver.split(".")[:3] if x.isdigit())
    return text, parts


def cli_reads_endpoint_env(cli):
    """AWS_ENDPOINT_URL and the per-service variables came with AWS CLI
    2.13.0 and, in version 1, with botocore 1.31.0."""
    _, v = cli_version(cli)
    if v.get("aws-cli", (0,))[0] >= 2:
        return v["aws-cli"] >= (2, 13, 0)
    return v.get("botocore", (0,)) >= (1, 31, 0)


def botocore_reads_endpoint_env():
    v = tuple(int(x) for x in botocore.__version__.split(".")[:3])
    return v >= (1, 31, 0)


def cli_env(env, extra=None):
    home = os.path.join(env.dir, "home")
    os.makedirs(home, exist_ok=True)
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "AWS_ACCESS_KEY_ID": KEY_ID,
         "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1", "AWS_CA_BUNDLE": env.emu.ca_file,
         "AWS_PAGER": "", "AWS_CONFIG_FILE": os.path.join(home, "config"),
         "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"), "AWS_EC2_METADATA_DISABLED": "true",
         "LANG": "C.UTF-8"}
    for k in ("PYENV_ROOT", "PYENV_VERSION"):
        if k in os.environ:
            e[k] = os.environ[k]
    for k, v in (extra or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def cli(env, cli_path, args, extra_env=None, endpoint=True, ok=True):
    argv = [cli_path] + (["--endpoint-url", env.emu.url] if endpoint else []) + args + ["--output", "json"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=cli_env(env, extra_env))
    if ok and p.returncode != 0:
        raise AssertionError("%s failed (exit %d):\n%s" % (" ".join(argv), p.returncode, p.stderr[-2000:]))
    if not ok:
        if p.returncode == 0:
            raise AssertionError("%s succeeded; an error was expected:\n%s" % (" ".join(argv), p.stdout[-500:]))
        return p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else {}


def each_cli(fn):
    """Runs fn(env, cli) for every AWS CLI found, each with a fresh emulator."""
    for c in find_clis():
        with Env() as env:
            try:
                fn(env, c)
            except AssertionError as e:
                raise AssertionError("%s: %s" % (cli_version(c)[0], e))


def test_cli_describe_groups_auto_paginates_and_filters_by_tag():
    def run(env, c):
        out = cli(env, c, ["autoscaling", "describe-auto-scaling-groups", "--page-size", "2"])
        names = [g["AutoScalingGroupName"] for g in out["AutoScalingGroups"]]
        assert names == ["ng-0", "ng-1", "ng-2", "ng-3", "ng-4", "other-cluster", "ng-spot"], names
        pages = env.calls("DescribeAutoScalingGroups")
        assert len(pages) == 4 and all(p["status"] == 200 for p in pages), pages
        out = cli(env, c, ["autoscaling", "describe-auto-scaling-groups", "--filters",
                           "Name=tag-key,Values=k8s.io/cluster-autoscaler/" + CLUSTER,
                           "Name=tag:k8s.io/cluster-autoscaler/enabled,Values=true"])
        names = sorted(g["AutoScalingGroupName"] for g in out["AutoScalingGroups"])
        assert names == ["ng-0", "ng-1", "ng-2", "ng-3", "ng-4", "ng-spot"], names
        spot = [g for g in out["AutoScalingGroups"] if g["AutoScalingGroupName"] == "ng-spot"][0]
        dist = spot["MixedInstancesPolicy"]["InstancesDistribution"]
        assert dist["OnDemandBaseCapacity"] == 1 and dist["SpotAllocationStrategy"] == "lowest-price", dist
        assert [o["InstanceType"] for o in spot["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]] == \
            ["m5.large", "m5a.large", "m6i.large"]
        assert spot["Instances"][0]["LifecycleState"] == "InService", spot["Instances"]
    each_cli(run)


def test_cli_set_desired_capacity_launches_and_terminate_shrinks():
    def run(env, c):
        cli(env, c, ["autoscaling", "set-desired-capacity", "--auto-scaling-group-name", "ng-1",
                     "--desired-capacity", "3"])
        wait(lambda: len(env.group_instances("ng-1", "InService")) == 3, "3 instances in service")
        zones = sorted(i["zone"] for i in env.group_instances("ng-1"))
        assert zones == ["us-east-1a", "us-east-1a", "us-east-1b"], zones  # spread over the group's zones
        victim = env.group_instances("ng-1")[0]["id"]
        out = cli(env, c, ["autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", victim,
                           "--should-decrement-desired-capacity"])
        assert out["Activity"]["StatusCode"] == "InProgress" and victim in out["Activity"]["Description"], out
        assert "shrinking the capacity from 3 to 2" in out["Activity"]["Cause"], out
        wait(lambda: victim not in [i["id"] for i in env.group_instances("ng-1")], "the instance to go")
        other = env.group_instances("ng-1")[0]["id"]
        cli(env, c, ["autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", other,
                     "--no-should-decrement-desired-capacity"])
        wait(lambda: len(env.group_instances("ng-1", "InService")) == 2 and
             other not in [i["id"] for i in env.group_instances("ng-1")], "a replacement")
        err = cli(env, c, ["autoscaling", "set-desired-capacity", "--auto-scaling-group-name", "ng-1",
                           "--desired-capacity", "11"], ok=False)
        assert "(ValidationError)" in err and "New SetDesiredCapacity value 11 is above max value 10 for the " \
            "AutoScalingGroup." in err, err
    each_cli(run)


def test_cli_ec2_describe_instances_and_spot_price_history():
    def run(env, c):
        out = cli(env, c, ["ec2", "describe-instances", "--filters",
                           "Name=tag:aws:autoscaling:groupName,Values=ng-spot"])
        insts = [i for r in out["Reservations"] for i in r["Instances"]]
        assert len(insts) == 1 and insts[0]["Placement"]["AvailabilityZone"] == "us-east-1a", insts
        assert insts[0]["State"]["Name"] == "running" and "InstanceLifecycle" not in insts[0], insts
        out = cli(env, c, ["ec2", "describe-spot-price-history", "--instance-types", "m5a.large",
                           "--product-descriptions", "Linux/UNIX", "--start-time",
                           time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())])
        prices = {(h["AvailabilityZone"], h["SpotPrice"]) for h in out["SpotPriceHistory"]}
        assert ("us-east-1b", "0.011000") in prices and ("us-east-1a", "0.012000") in prices, prices
        assert len(out["SpotPriceHistory"]) == 3, out  # the price in effect now, one per zone
        out = cli(env, c, ["ec2", "describe-instance-type-offerings", "--location-type", "availability-zone",
                           "--filters", "Name=instance-type,Values=m5.large,c6g.large"])
        assert len(out["InstanceTypeOfferings"]) == 6, out
    each_cli(run)


def test_cli_sts_assume_role_with_web_identity_then_uses_the_session():
    def run(env, c):
        out = cli(env, c, ["sts", "assume-role-with-web-identity", "--role-arn", ROLE, "--role-session-name",
                           "stevedore", "--web-identity-token", "file://" + env.web_token])
        cred = out["Credentials"]
        assert cred["AccessKeyId"].startswith("ASIA") and cred["SessionToken"], out
        assert out["SubjectFromWebIdentityToken"] == "system:serviceaccount:kube-system:stevedore", out
        session = {"AWS_ACCESS_KEY_ID": cred["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": cred["SecretAccessKey"],
                   "AWS_SESSION_TOKEN": cred["SessionToken"]}
        who = cli(env, c, ["sts", "get-caller-identity"], session)
        assert who["Arn"] == "arn:aws:sts::111122223333:assumed-role/stevedore-controller/stevedore", who
        env.faults(expire_credentials=True)
        err = cli(env, c, ["autoscaling", "describe-auto-scaling-groups"], session, ok=False)
        assert "(ExpiredToken)" in err, err
        err = cli(env, c, ["sts", "assume-role-with-web-identity", "--role-arn", ROLE, "--role-session-name",
                           "stevedore", "--web-identity-token", "not-the-token"], ok=False)
        assert "(InvalidIdentityToken)" in err, err
    each_cli(run)


def test_cli_no_verify_ssl_and_a_wrong_secret_is_refused():
    def run(env, c):
        out = cli(env, c, ["--no-verify-ssl", "autoscaling", "describe-auto-scaling-groups",
                           "--auto-scaling-group-names", "ng-2"], {"AWS_CA_BUNDLE": ""})
        assert [g["AutoScalingGroupName"] for g in out["AutoScalingGroups"]] == ["ng-2"], out
        err = cli(env, c, ["autoscaling", "describe-auto-scaling-groups"], {"AWS_SECRET_ACCESS_KEY": "wrong"},
                  ok=False)
        assert "(SignatureDoesNotMatch)" in err and "The Canonical String for this request should have been" in err, err
    each_cli(run)


def test_cli_endpoint_and_credentials_from_the_environment():
    """AWS_ENDPOINT_URL (and the per-service variables) with the keys,
    region and CA from the environment, as the adapter's users set them; a
    CLI older than those variables gets --endpoint-url and the rest from
    the environment."""
    def run(env, c):
        if cli_reads_endpoint_env(c):
            extra = {"AWS_ENDPOINT_URL": "https://127.0.0.1:1", "AWS_ENDPOINT_URL_AUTO_SCALING": env.emu.url,
                     "AWS_ENDPOINT_URL_EC2": env.emu.url, "AWS_ENDPOINT_URL_STS": env.emu.url,
                     "AWS_REGION": "us-east-1"}  # the CLI reads AWS_DEFAULT_REGION, the SDKs AWS_REGION
            out = cli(env, c, ["autoscaling", "describe-auto-scaling-groups", "--max-items", "1"], extra,
                      endpoint=False)
            assert out["AutoScalingGroups"][0]["AutoScalingGroupName"] == "ng-0", out
            out = cli(env, c, ["ec2", "describe-instances"], extra, endpoint=False)
            assert len(out["Reservations"]) == 1, out
            out = cli(env, c, ["sts", "get-caller-identity"], {"AWS_ENDPOINT_URL": env.emu.url}, endpoint=False)
            assert out["Account"] == "111122223333", out
        else:
            out = cli(env, c, ["sts", "get-caller-identity"])
            assert out["Arn"] == "arn:aws:iam::111122223333:user/stevedore-test", out
        assert env.calls()[-1]["accessKeyId"] == KEY_ID
    each_cli(run)


# botocore ---------------------------------------------------------------------


def test_botocore_endpoint_and_credentials_from_the_environment():
    """A botocore session configured only by the environment, as the
    adapter's users set it: AWS_ENDPOINT_URL_* where this botocore reads them
    (1.31.0 on), else the endpoint given and the rest from the environment."""
    with Env() as env:
        saved = dict(os.environ)
        try:
            os.environ.update({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
                               "AWS_DEFAULT_REGION": "us-east-1", "AWS_CA_BUNDLE": env.emu.ca_file,
                               "AWS_ENDPOINT_URL": "https://127.0.0.1:1", "AWS_ENDPOINT_URL_EC2": env.emu.url,
                               "AWS_ENDPOINT_URL_AUTO_SCALING": env.emu.url, "AWS_ENDPOINT_URL_STS": env.emu.url,
                               "AWS_CONFIG_FILE": os.path.join(env.dir, "none"),
                               "AWS_SHARED_CREDENTIALS_FILE": os.path.join(env.dir, "none")})
            s = botocore.session.Session()
            kw = {} if botocore_reads_endpoint_env() else {"endpoint_url": env.emu.url}
            assert s.create_client("autoscaling", **kw).describe_auto_scaling_groups()["AutoScalingGroups"]
            assert s.create_client("ec2", **kw).describe_instances()["Reservations"]
            assert s.create_client("sts", **kw).get_caller_identity()["Account"] == "111122223333"
        finally:
            os.environ.clear()
            os.environ.update(saved)
        assert [c["service"] for c in env.calls()] == ["autoscaling", "ec2", "sts"], env.calls()


def test_botocore_groups_pagination_filters_and_instances():
    with Env() as env:
        asg = env.client("autoscaling")
        pages = list(asg.get_paginator("describe_auto_scaling_groups").paginate(
            Filters=[{"Name": "tag-key", "Values": ["k8s.io/cluster-autoscaler/" + CLUSTER]}],
            PaginationConfig={"PageSize": 4}))
        assert [len(p["AutoScalingGroups"]) for p in pages] == [4, 2], pages
        assert client_error(asg.describe_auto_scaling_groups, NextToken="bm90IGEgdG9rZW4")[0] == "InvalidNextToken"
        code, status, msg = client_error(asg.describe_auto_scaling_groups, Filters=[{"Name": "color", "Values": ["x"]}])
        assert (code, status) == ("ValidationError", 400) and "color" in msg, msg
        asg.set_desired_capacity(AutoScalingGroupName="ng-spot", DesiredCapacity=4, HonorCooldown=False)
        wait(lambda: len(env.group_instances("ng-spot", "InService")) == 4, "4 instances")
        insts = asg.describe_auto_scaling_instances()["AutoScalingInstances"]
        spot_group = [i for i in insts if i["AutoScalingGroupName"] == "ng-spot"]
        assert len(spot_group) == 4 and all(i["LifecycleState"] == "InService" for i in spot_group), insts
        ec2 = env.client("ec2")
        res = ec2.describe_instances(Filters=[{"Name": "instance-lifecycle", "Values": ["spot"]}])
        spot = [i for r in res["Reservations"] for i in r["Instances"]]
        # Base capacity 1 on-demand, 0% above: three spot, the cheapest pools (m5a.large in b, then a).
        assert len(spot) == 3 and all(i["InstanceType"] == "m5a.large" for i in spot), spot
        assert sorted(i["Placement"]["AvailabilityZone"] for i in spot) == ["us-east-1a", "us-east-1b",
                                                                            "us-east-1b"], spot
        ids = [i["InstanceId"] for i in spot]
        assert all(len(i) == 19 and i.startswith("i-0") for i in ids), ids
        pages = list(ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5}))
        assert sum(len(p["Reservations"]) for p in pages) == 4
        code, _, msg = client_error(ec2.describe_instances, InstanceIds=["i-0123456789abcdef0"])
        assert code == "InvalidInstanceID.NotFound" and "i-0123456789abcdef0" in msg, msg
        assert client_error(ec2.describe_instances, InstanceIds=["i-zz"])[0] == "InvalidInstanceID.Malformed"
        assert client_error(ec2.describe_instances, Filters=[{"Name": "flavour", "Values": ["x"]}])[0] == \
            "InvalidParameterValue"
        tpl = ec2.describe_launch_template_versions(LaunchTemplateName="lt-ng-0", Versions=["$Latest"])
        assert tpl["LaunchTemplateVersions"][0]["LaunchTemplateData"]["InstanceType"] == "m5.large", tpl
        ri = ec2.describe_reserved_instances(Filters=[{"Name": "state", "Values": ["active"]}])
        assert ri["ReservedInstances"][0]["InstanceCount"] == 3, ri


def test_botocore_spot_history_and_offerings_paginate():
    with Env() as env:
        ec2 = env.client("ec2")
        pages = list(ec2.get_paginator("describe_spot_price_history").paginate(
            InstanceTypes=["m5.large", "c6g.large"], ProductDescriptions=["Linux/UNIX"],
            PaginationConfig={"PageSize": 5}))
        rows = [h for p in pages for h in p["SpotPriceHistory"]]
        assert len(pages) == 3 and len(rows) == 12, (len(pages), len(rows))  # 2 types x 3 zones x 2 times
        assert rows[0]["Timestamp"] >= rows[-1]["Timestamp"], "newest first"
        one = ec2.describe_spot_price_history(InstanceTypes=["m5a.large"], AvailabilityZone="us-east-1b",
                                              StartTime=time.time() - 7200)["SpotPriceHistory"]
        # From two hours ago: the price set an hour before start, and the one in effect before it.
        assert [(h["AvailabilityZone"], h["SpotPrice"]) for h in one if h["ProductDescription"] == "Linux/UNIX"] \
            == [("us-east-1b", "0.011000"), ("us-east-1b", "0.011550")], one
        code, _, _ = client_error(ec2.describe_spot_price_history, InstanceTypes=["m99.huge"])
        assert code == "InvalidParameterValue"
        offers = [o for p in ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="availability-zone", PaginationConfig={"PageSize": 1000}) for o in p["InstanceTypeOfferings"]]
        assert len(offers) == 3 * len(env.emu.cloud.shapes), len(offers)


def test_botocore_capacity_fault_fails_the_activity_and_moves_on():
    with Env() as env:
        env.faults(capacity=["m5.large/us-east-1a"])
        asg = env.client("autoscaling")
        asg.set_desired_capacity(AutoScalingGroupName="ng-3", DesiredCapacity=2)
        wait(lambda: len(env.group_instances("ng-3", "InService")) == 2, "2 instances elsewhere")
        zones = sorted(i["zone"] for i in env.group_instances("ng-3"))
        assert zones == ["us-east-1b", "us-east-1b"], zones
        acts = asg.describe_scaling_activities(AutoScalingGroupName="ng-3")["Activities"]
        failed = [a for a in acts if a["StatusCode"] == "Failed"]
        assert failed and "InsufficientInstanceCapacity" in failed[0]["StatusMessage"], acts
        assert "m5.large" in failed[0]["StatusMessage"] and "us-east-1a" in failed[0]["StatusMessage"]
        ok = [a for a in acts if a["StatusCode"] == "Successful"]
        assert len(ok) == 2, acts
        # Every pool of the group failed: it stays short, as AWS leaves it.
        env.faults(capacity=["m5.large/us-east-1a", "m5.large/us-east-1b"])
        asg.set_desired_capacity(AutoScalingGroupName="ng-4", DesiredCapacity=1)
        time.sleep(1.0)
        assert env.group_instances("ng-4") == [], env.group_instances("ng-4")
        assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["ng-4"])["AutoScalingGroups"][0][
            "DesiredCapacity"] == 1


def test_botocore_throttling_is_retried_by_its_retry_handler():
    with Env() as env:
        env.faults(throttle=2)
        asg = env.client("autoscaling", retries=3)
        out = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["ng-0"])
        assert len(out["AutoScalingGroups"]) == 1
        assert out["ResponseMetadata"]["RetryAttempts"] == 2, out["ResponseMetadata"]
        codes = [c["code"] for c in env.calls("DescribeAutoScalingGroups")]
        assert codes == ["Throttling", "Throttling", None], codes
        env.faults(throttle=1)
        code, status, msg = client_error(env.client("autoscaling").describe_auto_scaling_groups)
        assert (code, status, msg) == ("Throttling", 400, "Rate exceeded"), (code, status, msg)
        env.faults(throttle=1, throttle_match="ec2")
        env.client("autoscaling").describe_auto_scaling_groups()  # not throttled: the fault is for EC2
        code, status, _ = client_error(env.client("ec2").describe_instances)
        assert (code, status) == ("RequestLimitExceeded", 503), (code, status)
        env.faults(server_error=1)
        out = env.client("ec2", retries=2).describe_instances()
        assert out["ResponseMetadata"]["RetryAttempts"] == 1, out["ResponseMetadata"]
        env.faults(server_error=1)
        code, status, _ = client_error(env.client("autoscaling").describe_auto_scaling_groups)
        assert (code, status) == ("InternalFailure", 500), (code, status)


def test_botocore_malformed_and_slow_answers():
    with Env() as env:
        env.faults(malformed=1)
        try:
            env.client("autoscaling").describe_auto_scaling_groups()
            raise AssertionError("a half XML document was parsed")
        except botocore.parsers.ResponseParserError as e:
            assert "Unable to parse" in str(e) or "parse" in str(e).lower(), e
        env.faults(delay_ms=1500)
        try:
            env.client("ec2", read_timeout=0.5, connect_timeout=2).describe_instances()
            raise AssertionError("a slow answer did not time out")
        except botocore.exceptions.ReadTimeoutError:
            pass
        env.faults(clear=True)
        assert env.control("GET", "/_emu/faults")["delay_ms"] == 0


def _signed(env, service, body, key_id=KEY_ID, secret=SECRET, token=None, when=None, tamper=None):
    """A request signed by botocore's SigV4Auth at time `when` (default now)."""
    req = botocore.awsrequest.AWSRequest(method="POST", url=env.emu.url + "/", data=body,
                                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key_id, secret, token), service, "us-east-1")
    if when is None:
        signer.add_auth(req)
    else:
        req.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
        signer._modify_request_before_signing(req)
        canonical = signer.canonical_request(req)
        signer._inject_signature_to_request(req, signer.signature(signer.string_to_sign(req, canonical), req))
    data = tamper(body) if tamper else body
    r = urllib.request.Request(env.emu.url + "/", data=data.encode(), method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, context=env.ctx, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_signature_checks_refuse_what_aws_refuses():
    with Env() as env:
        body = "Action=DescribeAutoScalingGroups&Version=2011-01-01"
        assert _signed(env, "autoscaling", body)[0] == 200
        status, text = _signed(env, "autoscaling", body, tamper=lambda b: b + "&MaxRecords=1")
        assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in text and "<Type>Sender</Type>" in text, text
        status, text = _signed(env, "autoscaling", body, when=time.time() - 20 * 60)
        assert status == 403 and "Signature expired" in text, text
        status, text = _signed(env, "autoscaling", body, key_id="AKIANOTAKEY000000000")
        assert status == 403 and "<Code>InvalidClientTokenId</Code>" in text, text
        status, text = _signed(env, "ec2", "Action=DescribeInstances&Version=2016-11-15", key_id="AKIANOTAKEY000000000")
        assert status == 401 and "<Response><Errors><Error><Code>AuthFailure</Code>" in text and "<RequestID>" in text
        status, text = _signed(env, "ec2", "Action=DescribeInstances&Version=2011-01-01")
        assert status == 400 and "NoSuchVersion" in text, text
        status, text = _signed(env, "autoscaling", "Action=LaunchRockets&Version=2011-01-01")
        assert status == 400 and "<Code>InvalidAction</Code>" in text, text
        status, text = _signed(env, "autoscaling", body + "&Colour=blue")
        assert status == 400 and "Colour" in text, text
        status, text = _signed(env, "autoscaling", "Action=SetDesiredCapacity&Version=2011-01-01&"
                               "AutoScalingGroupName=ng-0&DesiredCapacity=2&HonourCooldown=true")
        assert status == 400 and "HonourCooldown" in text, text
        assert [g["desiredCapacity"] for g in env.state()["groups"] if g["name"] == "ng-0"] == [0], "changed anyway"
        # Session credentials without, then with, their token.
        sts = env.client("sts")
        cred = sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="s1",
                                                 WebIdentityToken=WEB_TOKEN)["Credentials"]
        status, text = _signed(env, "autoscaling", body, cred["AccessKeyId"], cred["SecretAccessKey"])
        assert status == 403 and "InvalidClientTokenId" in text, text
        status, _ = _signed(env, "autoscaling", body, cred["AccessKeyId"], cred["SecretAccessKey"],
                            cred["SessionToken"])
        assert status == 200
        code, status, _ = client_error(env.client("autoscaling", cred["AccessKeyId"], cred["SecretAccessKey"],
                                                  "forged-token").describe_auto_scaling_groups)
        assert (code, status) == ("InvalidClientTokenId", 403)


def _model_errors(elem, shape, path, errors):
    """Every element of a response is a member of botocore's output shape,
    lists use the entry tag the model gives and scalars parse as their type:
    botocore's parser ignores what it does not know, so this is checked here."""
    tag = elem.tag.split("}")[-1]
    if shape.type_name == "structure":
        names = {m.serialization.get("name", n): m for n, m in shape.members.items()}
        for child in elem:
            ctag = child.tag.split("}")[-1]
            if ctag not in names:
                errors.append("%s/%s: not in the model's %s (members: %s)" % (path, ctag, shape.name,
                                                                               ", ".join(sorted(names))))
            else:
                _model_errors(child, names[ctag], path + "/" + ctag, errors)
    elif shape.type_name == "list":
        entry = shape.member.serialization.get("name", "member")
        for child in elem:
            ctag = child.tag.split("}")[-1]
            if ctag != entry:
                errors.append("%s/%s: list entries of %s are <%s>" % (path, ctag, shape.name, entry))
            _model_errors(child, shape.member, path + "/" + ctag, errors)
    else:
        if len(elem):
            errors.append("%s: %s is a %s, not a structure" % (path, tag, shape.type_name))
        text = elem.text or ""
        try:
            if shape.type_name in ("integer", "long"):
                int(text)
            elif shape.type_name in ("double", "float"):
                float(text)
            elif shape.type_name == "boolean" and text not in ("true", "false"):
                raise ValueError(text)
            elif shape.type_name == "timestamp":
                botocore.utils.parse_timestamp(text)
            elif getattr(shape, "enum", None) and text not in shape.enum:
                raise ValueError("%r not one of %s" % (text, shape.enum))
        except ValueError as e:
            errors.append("%s: %s value %r: %s" % (path, shape.type_name, text, e))


MODEL_CASES = [
    ("autoscaling", "DescribeAutoScalingGroups", "MaxRecords=3"),
    ("autoscaling", "DescribeAutoScalingGroups", "AutoScalingGroupNames.member.1=ng-spot"),
    ("autoscaling", "DescribeAutoScalingInstances", ""),
    ("autoscaling", "DescribeScalingActivities", "AutoScalingGroupName=ng-0"),
    ("autoscaling", "TerminateInstanceInAutoScalingGroup", "InstanceId=%(iid)s&ShouldDecrementDesiredCapacity=false"),
    ("autoscaling", "SetDesiredCapacity", "AutoScalingGroupName=ng-0&DesiredCapacity=2"),
    ("ec2", "DescribeInstances", ""),
    ("ec2", "DescribeSpotPriceHistory", "InstanceType.1=m5.large&MaxResults=5"),
    ("ec2", "DescribeInstanceTypeOfferings", "LocationType=availability-zone&MaxResults=5"),
    ("ec2", "DescribeLaunchTemplateVersions", "LaunchTemplateName=lt-ng-0"),
    ("ec2", "DescribeReservedInstances", ""),
    ("sts", "GetCallerIdentity", ""),
    ("sts", "AssumeRoleWithWebIdentity", "RoleArn=%(role)s&RoleSessionName=model-check&WebIdentityToken=%(token)s"),
]


def test_responses_match_botocore_service_models():
    import xml.etree.ElementTree as ET
    versions = {"autoscaling": "2011-01-01", "ec2": "2016-11-15", "sts": "2011-06-15"}
    session = botocore.session.get_session()
    with Env() as env:
        env.client("autoscaling").set_desired_capacity(AutoScalingGroupName="ng-spot", DesiredCapacity=3)
        wait(lambda: len(env.group_instances("ng-spot", "InService")) == 3, "3 instances")
        env.faults(capacity="m5.large/us-east-1a")
        env.client("autoscaling").set_desired_capacity(AutoScalingGroupName="ng-0", DesiredCapacity=1)
        wait(lambda: env.group_instances("ng-0"), "ng-0 to launch in its other zone")
        values = {"iid": env.group_instances("ng-spot")[1]["id"], "role": urllib.parse.quote(ROLE, safe=""),
                  "token": WEB_TOKEN}
        errors = []
        for service, action, params in MODEL_CASES:
            body = "Action=%s&Version=%s" % (action, versions[service]) + ("&" + params % values if params else "")
            status, text = _signed(env, service, body)
            assert status == 200, (action, text)
            op = session.get_service_model(service).operation_model(action)
            root = ET.fromstring(text)
            assert root.tag.split("}")[-1] == action + "Response", root.tag
            if service == "ec2":
                result = root
                errors += ["%s: no requestId" % action] if root.find("{*}requestId") is None else []
                result.remove(root.find("{*}requestId"))
            else:
                result = root.find("{*}%sResult" % action)
                assert root.find("{*}ResponseMetadata/{*}RequestId") is not None, text
                if op.output_shape is None:
                    assert result is None, text
                    continue
            _model_errors(result, op.output_shape, action, errors)
            assert len(text) > 80 and (op.output_shape is None or len(result)), (action, text)
        assert not errors, "\n".join(errors)


def test_botocore_launch_configuration_group_upfront_reservation_and_denied_action():
    """A group with a launch configuration (SpotPrice: spot), a reservation
    paid upfront, an action denied: read with botocore and the AWS CLI, the
    raw answers checked against botocore's service models."""
    import xml.etree.ElementTree as ET
    lc = _group("ng-lc", launchConfiguration={"name": "lc-legacy", "instanceType": "c5.xlarge", "spotPrice": 0.2})
    lc.pop("launchTemplate")
    doc = {"groups": [lc], "reservedInstances": [{"instanceType": "c5.xlarge", "instanceCount": 2,
                                                   "availabilityZone": "us-east-1b", "fixedPrice": 876.0,
                                                   "hourlyPrice": 0}]}
    with Env(doc) as env:
        asg, ec2 = env.client("autoscaling"), env.client("ec2")
        (got,) = asg.describe_launch_configurations(LaunchConfigurationNames=["lc-legacy"])["LaunchConfigurations"]
        assert (got["InstanceType"], got["SpotPrice"]) == ("c5.xlarge", "0.2"), got
        (grp,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["ng-lc"])["AutoScalingGroups"]
        assert grp["LaunchConfigurationName"] == "lc-legacy" and "LaunchTemplate" not in grp, grp
        asg.set_desired_capacity(AutoScalingGroupName="ng-lc", DesiredCapacity=1)
        wait(lambda: env.group_instances("ng-lc", "InService"), "the launch configuration's instance")
        (inst,) = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        assert (inst["InstanceType"], inst.get("InstanceLifecycle")) == ("c5.xlarge", "spot"), inst
        (ri,) = ec2.describe_reserved_instances(Filters=[{"Name": "state", "Values": ["active"]}])["ReservedInstances"]
        assert (ri["FixedPrice"], ri["Duration"], ri["OfferingType"], ri["Scope"], ri["RecurringCharges"]) == \
            (876.0, 31536000, "All Upfront", "Availability Zone", []), ri
        session = botocore.session.get_session()
        errors = []
        for service, action, body in [
                ("autoscaling", "DescribeLaunchConfigurations", "Action=DescribeLaunchConfigurations&Version=2011-01-01"),
                ("ec2", "DescribeReservedInstances", "Action=DescribeReservedInstances&Version=2016-11-15")]:
            status, text = _signed(env, service, body)
            assert status == 200, text
            root = ET.fromstring(text)
            result = root.find("{*}%sResult" % action) if service == "autoscaling" else root
            if service == "ec2":
                result.remove(root.find("{*}requestId"))
            _model_errors(result, session.get_service_model(service).operation_model(action).output_shape, action,
                          errors)
        assert not errors, "\n".join(errors)
        env.faults(deny=["DescribeReservedInstances"])
        code, _, _ = client_error(ec2.describe_reserved_instances)
        assert code == "UnauthorizedOperation", code
        for c in find_clis()[:1]:
            out = cli(env, c, ["autoscaling", "describe-launch-configurations"])
            assert out["LaunchConfigurations"][0]["LaunchConfigurationName"] == "lc-legacy", out


def test_curl_sigv4_signature_is_accepted():
    """libcurl's signer (curl --aws-sigv4, what CURLOPT_AWS_SIGV4 does in the
    C adapter) agrees with botocore's, with and without a session token."""
    curl = shutil.which("curl")
    assert curl, "curl is missing: apt-get install curl"
    with Env() as env:
        def run(service, body, user, token=None):
            argv = [curl, "-sS", "--cacert", env.emu.ca_file, "--aws-sigv4", "aws:amz:us-east-1:" + service,
                    "--user", user, "-H", "Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                    "--data", body, "-w", "\n%{http_code}", env.emu.url + "/"]
            if token:
                argv[1:1] = ["-H", "X-Amz-Security-Token: " + token]
            p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, p.stderr
            text, _, code = p.stdout.rpartition("\n")
            return int(code), text
        code, text = run("autoscaling", "Action=DescribeAutoScalingGroups&Version=2011-01-01&MaxRecords=2",
                         KEY_ID + ":" + SECRET)
        assert code == 200 and text.count("<AutoScalingGroupName>") == 2, text
        code, text = run("ec2", "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Aaws%3Aautoscaling"
                         "%3AgroupName&Filter.1.Value.1=ng-spot", KEY_ID + ":" + SECRET)
        assert code == 200 and "<instanceLifecycle>" not in text and "<instanceId>i-0" in text, text
        # A body over 1 KiB: curl may send Expect: 100-continue (not signed) and wait for the 100.
        names = "".join("&AutoScalingGroupNames.member.%d=group-with-a-long-name-%03d" % (i + 1, i) for i in range(40))
        code, text = run("autoscaling", "Action=DescribeAutoScalingGroups&Version=2011-01-01" + names +
                         "&AutoScalingGroupNames.member.41=ng-4", KEY_ID + ":" + SECRET)
        assert code == 200 and text.count("<AutoScalingGroupName>") == 1 and "ng-4" in text, text
        code, text = run("autoscaling", "Action=DescribeAutoScalingGroups&Version=2011-01-01", KEY_ID + ":nope")
        assert code == 403 and "SignatureDoesNotMatch" in text, text
        cred = env.client("sts").assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="curl",
                                                               WebIdentityToken=WEB_TOKEN)["Credentials"]
        code, text = run("sts", "Action=GetCallerIdentity&Version=2011-06-15",
                         cred["AccessKeyId"] + ":" + cred["SecretAccessKey"], cred["SessionToken"])
        assert code == 200 and "assumed-role/stevedore-controller/curl" in text, text


def test_credential_chain_web_identity_pod_identity_and_imds():
    with Env() as env:
        s = botocore.session.get_session()
        creator = functools.partial(s.create_client, endpoint_url=env.emu.url, verify=env.emu.ca_file,
                                    region_name="us-east-1")
        fetcher = botocore.credentials.AssumeRoleWithWebIdentityCredentialFetcher(
            client_creator=creator, web_identity_token_loader=botocore.utils.FileWebIdentityTokenLoader(env.web_token),
            role_arn=ROLE)
        c = fetcher.fetch_credentials()
        assert c["access_key"].startswith("ASIA") and c["token"], c.keys()
        asg = env.client("autoscaling", c["access_key"], c["secret_key"], c["token"])
        assert len(asg.describe_auto_scaling_groups()["AutoScalingGroups"]) == 7
        env.faults(expire_credentials=True)
        code, status, msg = client_error(asg.describe_auto_scaling_groups)
        assert (code, status) == ("ExpiredToken", 400) and "expired" in msg, (code, status, msg)
        code, status, _ = client_error(env.client("ec2", c["access_key"], c["secret_key"], c["token"]).describe_instances)
        assert (code, status) == ("ExpiredToken", 400), (code, status)
        c = botocore.credentials.AssumeRoleWithWebIdentityCredentialFetcher(  # a new session works again
            client_creator=creator, web_identity_token_loader=botocore.utils.FileWebIdentityTokenLoader(env.web_token),
            role_arn=ROLE).fetch_credentials()
        assert env.client("autoscaling", c["access_key"], c["secret_key"], c["token"]).describe_auto_scaling_groups()
        bad = botocore.credentials.AssumeRoleWithWebIdentityCredentialFetcher(
            client_creator=creator, web_identity_token_loader=lambda: WEB_TOKEN,
            role_arn="arn:aws:iam::111122223333:role/someone-else")
        try:
            bad.fetch_credentials()
            raise AssertionError("another role was assumed")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "AccessDenied", e.response
        # EKS Pod Identity: the container provider with the token.
        fetcher = botocore.utils.ContainerMetadataFetcher()
        url = env.emu.metadata_url + "/v1/credentials"
        doc = fetcher.retrieve_full_uri(url, headers={"Authorization": POD_TOKEN})
        assert doc["AccessKeyId"].startswith("ASIA") and doc["Expiration"].endswith("Z"), doc
        ec2 = env.client("ec2", doc["AccessKeyId"], doc["SecretAccessKey"], doc["Token"])
        assert ec2.describe_instances()["Reservations"]
        try:
            fetcher.retrieve_full_uri(url, headers={"Authorization": "wrong"})
            raise AssertionError("a wrong pod identity token was taken")
        except botocore.exceptions.MetadataRetrievalError as e:
            assert "cannot be validated" in str(e) or "401" in str(e), e
        # IMDSv2: token, role name, credentials.
        imds = botocore.utils.InstanceMetadataFetcher(timeout=2, num_attempts=1, base_url=env.emu.metadata_url)
        creds = imds.retrieve_iam_role_credentials()
        assert creds["role_name"] == "stevedore-node" and creds["access_key"].startswith("ASIA"), creds.keys()
        sts = env.client("sts", creds["access_key"], creds["secret_key"], creds["token"])
        assert sts.get_caller_identity()["Arn"].endswith("assumed-role/stevedore-node/i-0123456789abcdef0")
        v1 = urllib.request.Request(env.emu.metadata_url + "/latest/meta-data/iam/security-credentials/")
        try:
            urllib.request.urlopen(v1, timeout=5)
            raise AssertionError("an IMDSv1 GET without a token was answered")
        except urllib.error.HTTPError as e:
            assert e.code == 401
        sources = {c["source"] for c in env.state()["credentials"]}
        assert sources == {"static", "web-identity", "pod-identity", "imds"}, sources


def _kube(kube, method, path, doc=None):
    ctx = ssl.create_default_context(cafile=kube.ca_file)
    req = urllib.request.Request(kube.url + path, method=method, data=json.dumps(doc).encode() if doc else None,
                                 headers={"Authorization": "Bearer kube-token", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read())


def test_nodes_registered_in_kubernetes_and_removed():
    kube = emulator.Emulator(tokens=["kube-token"], tls_dir=os.path.join(TLS, "kube")).start()
    try:
        with Env(kube=kube) as env:
            api = env.client("autoscaling")

            def nodes():
                return {n["metadata"]["name"]: n for n in _kube(kube, "GET", "/api/v1/nodes")["items"]}
            seeded = wait(lambda: nodes(), "the seeded instance's Node")
            assert len(seeded) == 1
            api.set_desired_capacity(AutoScalingGroupName="ng-spot", DesiredCapacity=2)
            ns = wait(lambda: len(nodes()) == 2 and nodes(), "a second Node")
            inst = [i for i in env.group_instances("ng-spot") if i["spot"]][0]
            node = ns[inst["privateDnsName"]]
            lab = node["metadata"]["labels"]
            assert node["spec"]["providerID"] == "aws:///%s/%s" % (inst["zone"], inst["id"]), node["spec"]
            assert lab["node.kubernetes.io/instance-type"] == inst["type"] and \
                lab["topology.kubernetes.io/zone"] == inst["zone"], lab
            assert lab["topology.kubernetes.io/region"] == "us-east-1" and lab["kubernetes.io/arch"] == "amd64"
            assert lab["eks.amazonaws.com/capacityType"] == "SPOT" and lab["workload"] == "batch", lab
            assert node["spec"]["taints"] == [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]
            shape = env.emu.cloud.shapes[inst["type"]]
            assert node["status"]["allocatable"]["cpu"] == shape.alloc_cpu and \
                node["status"]["allocatable"]["pods"] == str(shape.max_pods), node["status"]
            assert [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]["status"] == "True"
            api.terminate_instance_in_auto_scaling_group(InstanceId=inst["id"], ShouldDecrementDesiredCapacity=True)
            wait(lambda: inst["privateDnsName"] not in nodes(), "the Node to go")
            assert env.state()["kubeErrors"] == []
    finally:
        kube.stop()


def test_a_pending_pod_runs_on_the_node_a_scale_up_registers():
    """With the Kubernetes emulator's scheduler and kubelet: the Node the
    AWS emulator registers is one kube-scheduler's filters take (Ready,
    allocatable, labels), and the seeded node's taint keeps the pod off it."""
    kube = emulator.Emulator(tokens=["kube-token"], tls_dir=os.path.join(TLS, "kube"), scheduler=True,
                             kubelet=True).start()
    try:
        with Env(kube=kube) as env:
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
                   "spec": {"nodeSelector": {"node.kubernetes.io/instance-type": "m5.large"},
                            "containers": [{"name": "c", "image": "nginx",
                                            "resources": {"requests": {"cpu": "1500m", "memory": "4Gi"}}}]}}
            _kube(kube, "POST", "/api/v1/namespaces/default/pods", pod)
            wait(lambda: _kube(kube, "GET", "/api/v1/nodes")["items"], "the seeded node")
            time.sleep(1.0)
            got = _kube(kube, "GET", "/api/v1/namespaces/default/pods/web")
            assert not got["spec"].get("nodeName"), "bound to the tainted node: %s" % got["spec"]
            env.client("autoscaling").set_desired_capacity(AutoScalingGroupName="ng-2", DesiredCapacity=1)
            running = wait(lambda: _kube(kube, "GET", "/api/v1/namespaces/default/pods/web")["status"].get(
                "phase") == "Running" and _kube(kube, "GET", "/api/v1/namespaces/default/pods/web"),
                "the pod to run", timeout=20)
            inst = env.group_instances("ng-2")[0]
            assert running["spec"]["nodeName"] == inst["privateDnsName"], (running["spec"], inst)
    finally:
        kube.stop()


def _launches(dist, n, overrides=("m6i.large", "m5a.large", "t3.large"), zones=("us-east-1a", "us-east-1b")):
    """The (type, zone, spot) of n launches of a mixed group, driven by the
    scaling loop's own clock."""
    import aws_state
    cloud = aws_state.Cloud(launch_delay=0, launch_retry=5)
    cloud.load_doc({"groups": [{"name": "g", "minSize": 0, "maxSize": 20, "availabilityZones": list(zones),
                                "mixedInstancesPolicy": {"overrides": [{"instanceType": t} for t in overrides],
                                                         "instancesDistribution": dist}}]}, "test")
    cloud.set_desired("g", n)
    for step in range(n + 2):  # one launch per pass is enough to see the order
        cloud.tick(1000.0 + step)
    return [(i.type, i.zone, i.spot) for i in cloud.groups["g"].instances]


def test_launch_choice_follows_the_instances_distribution():
    got = _launches({"onDemandBaseCapacity": 2, "onDemandPercentageAboveBaseCapacity": 50,
                     "spotAllocationStrategy": "lowest-price"}, 6)
    # Two on-demand for the base, then half of the rest, rounded up: od, spot, od, spot.
    assert [sp for _, _, sp in got] == [False, False, False, True, False, True], got
    # On-demand "prioritized": the first override; spot "lowest-price": the cheapest (t3.large).
    assert {t for t, _, sp in got if not sp} == {"m6i.large"} and {t for t, _, sp in got if sp} == {"t3.large"}, got
    assert [z for _, z, _ in got] == ["us-east-1a", "us-east-1b"] * 3, got  # zones balanced
    got = _launches({"onDemandPercentageAboveBaseCapacity": 0, "spotAllocationStrategy": "capacity-optimized"}, 2)
    assert got == [("m6i.large", "us-east-1a", True), ("m6i.large", "us-east-1b", True)], got
    got = _launches({"onDemandAllocationStrategy": "lowest-price"}, 1)
    assert got == [("t3.large", "us-east-1a", False)], got  # all on-demand by default, the cheapest
    import aws_state
    cloud = aws_state.Cloud(launch_delay=0, launch_retry=5)
    cloud.load_doc({"groups": [{"name": "g", "minSize": 0, "maxSize": 4, "desiredCapacity": 4,
                                "launchTemplate": {"instanceType": "m5.large"}}]}, "test")
    cloud.tick(1000.0)
    cloud.set_desired("g", 1)
    cloud.tick(1001.0)
    left = [i for i in cloud.groups["g"].instances if i.lifecycle == "InService"]
    # Scale-in takes the newest of the fullest zone (ties: the group's first zone) each time:
    # a, b, c, a launched; the second a, then the first a, then b go.
    assert [i.zone for i in left] == ["us-east-1c"] and left[0] is cloud.groups["g"].instances[2], \
        [(i.zone, i.lifecycle) for i in cloud.groups["g"].instances]


def test_bad_scenarios_and_faults_are_named():
    cases = [
        ({"groups": [{"name": "g", "minSize": 0}]}, "groups[0] (g): the field maxSize is missing"),
        ({"groups": [{"name": "g", "minSize": 3, "maxSize": 1, "launchTemplate": {"instanceType": "m5.large"}}]},
         "expected 0 <= minSize (3) <= desiredCapacity (3) <= maxSize (1)"),
        ({"groups": [{"name": "g", "minSize": 0, "maxSize": 1, "launchTemplate": {"instanceType": "m9.gigantic"}}]},
         "launchTemplate: unknown instanceType m9.gigantic"),
        ({"groups": [{"name": "g", "minSize": 0, "maxSize": 1, "mixedInstancesPolicy": {
            "overrides": [{"instanceType": "m5.large"}], "instancesDistribution": {"spotAllocationStrategy": "cheap"}}}]},
         "instancesDistribution.spotAllocationStrategy must be one of"),
        ({"spotPrices": {"m5.large": 0.1}}, "spotPrices[m5.large]: expected INSTANCE-TYPE/ZONE"),
        ({"colour": "blue"}, "unknown field colour"),
    ]
    d = tempfile.mkdtemp(prefix="aws-emu-bad-")
    try:
        for i, (doc, want) in enumerate(cases):
            path = os.path.join(d, "bad%d.json" % i)
            with open(path, "w") as f:
                json.dump(doc, f)
            p = subprocess.run([sys.executable, os.path.join(HERE, "cloudemu", "aws.py"), "--groups", path,
                                "--insecure-http"], capture_output=True, text=True, timeout=60)
            assert p.returncode == 1 and path in p.stderr and want in p.stderr, (want, p.returncode, p.stderr)
        with Env() as env:
            for bad, want in (({"thunder": 1}, "unknown fault thunder"), ({"throttle": -1}, "throttle must be"),
                              ({"capacity": "m5.large/mars-1a"}, "zone mars-1a is not one of")):
                try:
                    env.faults(**bad)
                    raise AssertionError("fault %r was taken" % bad)
                except urllib.error.HTTPError as e:
                    assert e.code == 400 and want in json.loads(e.read())["error"], bad
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    r = clitest.Runner()
    names = [n for n in sorted(globals()) if n.startswith("test_")]
    only = [a for a in sys.argv[1:] if a.startswith("test_")]
    for name in names:
        if not only or name in only:
            r.run(name, globals()[name])
    shutil.rmtree(TLS, ignore_errors=True)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
