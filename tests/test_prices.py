#!/usr/bin/env python3
"""`stevedore prices` (docs/prices-live.md): an embedded catalogue's and a
file's prices with each row's source and age, --type and --output json;
bad flags; and with --live --provider azure, the Azure Retail Prices API of
the Azure emulator (tests/cloudemu/azure.py) over the embedded figures:
paging, Windows and Low Priority meters left out, spot prices added, the
emulator's changed list price shown as live; a throttled call retried; a
malformed answer falling back to the embedded figures with a warning (exit
1 only with --require-live).

    python3 tests/test_prices.py [build/controller/stevedore]

Prints "PASS name" / "FAIL name" lines and "N passed, N failed"; exits 1 on
any failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "cloudemu"))
from clitest import Runner  # noqa: E402
import azure as azemu  # noqa: E402  (tests/cloudemu/azure.py)

REGION = "westeurope"


def find_binary(argv):
    for a in argv:
        if not a.startswith("-"):
            return a
    return os.path.join(ROOT, "build", "controller", "stevedore")


def embedded_od(sku, region=REGION):
    with open(azemu.PRICES_CSV) as f:
        f.readline()
        for line in f:
            c = line.rstrip("\n").split(",")
            if c[0] == region and c[1] == sku:
                return float(c[5])
    raise AssertionError("%s %s not in azure.csv" % (region, sku))


class Cli(object):
    def __init__(self, binary):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="stv-prices-")

    def run(self, args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([self.binary, "prices"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=300, env=e)
        return p.returncode, p.stdout, p.stderr

    def json(self, args, env=None):
        rc, out, err = self.run(list(args) + ["--output", "json"], env)
        assert rc == 0, "exit %d: %s" % (rc, err)
        return json.loads(out), err


def embedded_tests(t, cli):
    def table():
        rc, out, err = cli.run(["--catalog", "azure:" + REGION, "--type", "Standard_D2s_v5"])
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[0] == "Prices: embedded catalogue azure:westeurope (data of 2026-06-18)", lines[0]
        assert lines[1].split() == ["TYPE", "CAPACITY", "ZONE", "PRICE/H", "COUNT", "SOURCE", "AGE"], lines[1]
        rows = [r.split() for r in lines[2:]]
        assert len(rows) == 3 and all(r[0] == "Standard_D2s_v5" and r[1] == "on-demand" for r in rows), out
        assert sorted(r[2] for r in rows) == ["westeurope-1", "westeurope-2", "westeurope-3"], out
        assert all(float(r[3]) == embedded_od("Standard_D2s_v5") and r[5] == "embedded" for r in rows), out
        assert all(r[6].endswith("d") for r in rows), out  # months old: days

    def as_json():
        doc, _ = cli.json(["--catalog", "aws:us-east-1", "--type", "m5.large", "--type", "c5.large"])
        assert doc["prices"]["catalog"] == "aws:us-east-1" and doc["prices"]["dataDate"] == "2026-07-20", doc
        assert doc["provider"] == "aws" and doc["region"] == "us-east-1" and doc["currency"] == "USD"
        types = set(o["instanceType"] for o in doc["offerings"])
        assert types == {"m5.large", "c5.large"}, types
        od = [o for o in doc["offerings"] if o["instanceType"] == "m5.large" and o["capacityType"] == "on-demand"]
        assert od and all(o["price"] == 0.096 and o["source"] == "embedded" and o["ageSeconds"] > 0 for o in od)
        assert "liveSource" not in doc["prices"]

    def a_file():
        path = os.path.join(cli.tmp, "mine.json")
        with open(path, "w") as f:
            json.dump({"provider": "azure", "region": "eastus", "instance_types": [
                {"name": "Standard_D2s_v3", "arch": "amd64", "capacity": {"cpu": "2", "memory": "8Gi"},
                 "offerings": [{"capacity_type": "reserved", "zone": "eastus-1", "price": 0.05, "count": 3}]}]}, f)
        rc, out, err = cli.run(["--catalog", path])
        assert rc == 0, err
        assert out.splitlines()[0] == "Prices: catalogue file %s" % path, out
        row = out.splitlines()[2].split()
        assert row == ["Standard_D2s_v3", "reserved", "eastus-1", "0.05", "3", "file", "-"], row

    def bad_flags():
        for args, code, words in (
                (["--output", "yaml"], 2, "--output yaml: expected table or json"),
                (["--catalog", "azure:westeurop"], 2, "westeurope"),
                (["--live"], 2, "--live needs --provider aws, gcp or azure"),
                (["--provider", "azure"], 2, "--provider and --require-live go with --live"),
                (["--live", "--provider", "sim"], 2, "--provider sim: expected aws, gcp or azure"),
                (["--frobnicate"], 2, "unknown option \"--frobnicate\""),
                (["--timeout", "0s"], 2, "--timeout 0s: must be from 1s to 1h"),
                (["--type"], 2, "--type needs a value"),
                (["--live", "--provider", "azure", "--catalog", "aws:us-east-1"], 2,
                 "--catalog aws:us-east-1 is a aws catalogue; give --catalog azure:REGION with --provider azure"),
        ):
            rc, out, err = cli.run(args)
            assert rc == code and words in err, "%s: exit %d, stderr %r" % (args, rc, err)
            assert out == "", out

    def unknown_type_warned():
        rc, out, err = cli.run(["--catalog", "gcp:us-east1", "--type", "m5.large"])
        assert rc == 0 and "--type m5.large: not in catalogue gcp:us-east1" in err, err
        assert "(no offering of the types asked for)" in out, out

    t.run("should_print_an_embedded_catalogues_rows_with_source_and_age", table)
    t.run("should_print_json_with_the_provenance_and_filter_by_type", as_json)
    t.run("should_say_a_catalogue_file_is_the_source", a_file)
    t.run("should_reject_bad_flags_with_exit_2_naming_the_flag", bad_flags)
    t.run("should_warn_of_a_type_the_catalogue_lacks", unknown_type_warned)


class Azure(object):
    def __init__(self, cli):
        self.emu = azemu.AzureEmulator(imds=False).start()
        self.config = os.path.join(cli.tmp, "azure.yaml")
        with open(self.config, "w") as f:
            f.write("azure:\n  subscriptionId: %s\n  resourceManagerEndpoint: %s\n  pricesEndpoint: %s\n"
                    "  caFile: %s\n" % (self.emu.subscription, self.emu.url, self.emu.url,
                                                             self.emu.ca_file))
        self.env = {"AZURE_TENANT_ID": self.emu.tenant, "AZURE_CLIENT_ID": self.emu.client_id,
                    "AZURE_CLIENT_SECRET": self.emu.client_secret}

    def args(self, *more):
        return ["--live", "--provider", "azure", "--config", self.config, "--catalog", "azure:" + REGION] + list(more)


def azure_tests(t, cli):
    az = Azure(cli)
    sku = azemu.CHANGED_SKU

    def live():
        before = az.emu.state()["price_calls"]
        doc, err = cli.json(az.args("--type", sku, "--type", "Standard_D4s_v5"), az.env)
        pages = az.emu.state()["price_calls"] - before
        assert pages > 10, "paged through %d pages only" % pages  # 1,656 sizes x 4 meters / 100
        p = doc["prices"]
        assert p["liveSource"] == "Azure Retail Prices API", p
        assert p["summary"].startswith("embedded catalogue azure:westeurope (data of 2026-06-18), "), p
        assert "from Azure Retail Prices API as of 2026-11-01T00:00:00Z" in p["summary"], p
        od = embedded_od(sku)
        rows = [o for o in doc["offerings"] if o["instanceType"] == sku]
        ond = [o for o in rows if o["capacityType"] == "on-demand"]
        spot = [o for o in rows if o["capacityType"] == "spot"]
        assert len(ond) == 3 and len(spot) == 3, rows
        # the emulator's list price is 10 % above the embedded one; Windows (x1.5) and Low Priority
        # (x0.2) meters are not taken
        assert all(abs(o["price"] - round(od * 1.1, 6)) < 1e-9 and o["source"] == "live" for o in ond), ond
        assert all(abs(o["price"] - round(round(od * 1.1, 6) * 0.3, 6)) < 1e-9 for o in spot), spot
        assert all(o["asOf"] == 1793491200 for o in rows), rows
        d4 = [o for o in doc["offerings"] if o["instanceType"] == "Standard_D4s_v5" and
              o["capacityType"] == "on-demand"]
        assert all(o["price"] == embedded_od("Standard_D4s_v5") and o["source"] == "live" for o in d4), d4
        assert "warning" not in err, err

    def live_table():
        rc, out, err = cli.run(az.args("--type", sku), az.env)
        assert rc == 0, err
        rows = [r.split() for r in out.splitlines()[2:]]
        assert all(r[5] == "live" for r in rows) and len(rows) == 6, out

    def throttled_then_answered():
        az.emu.set_faults({"prices_throttle": 2})
        doc, err = cli.json(az.args("--type", sku), az.env)
        assert doc["prices"]["liveSource"] == "Azure Retail Prices API", err
        assert az.emu.faults.prices_throttle == 0

    def malformed_falls_back():
        az.emu.set_faults({"prices_malformed": 1})
        rc, out, err = cli.run(az.args("--type", sku), az.env)
        assert rc == 0, err
        assert "warning: live prices not read, the catalogue's own figures follow: azure retail prices westeurope " \
               "page 1: the answer is not JSON" in err, err
        rows = [r.split() for r in out.splitlines()[2:]]
        assert len(rows) == 3 and all(r[5] == "embedded" and float(r[3]) == embedded_od(sku) for r in rows), out

    def require_live():
        az.emu.set_faults({"prices_malformed": 1})
        rc, out, err = cli.run(az.args("--require-live"), az.env)
        assert rc == 1 and "the answer is not JSON" in err and out == "", (rc, err)

    def still_throttled():
        az.emu.set_faults({"prices_throttle": 10})
        rc, out, err = cli.run(az.args("--type", sku), az.env)
        az.emu.set_faults({"prices_throttle": 0})
        assert rc == 0 and "warning: live prices not read" in err and "throttled" in err, err
        assert "embedded" in out

    def no_subscription():
        env = dict(az.env)
        path = os.path.join(cli.tmp, "nosub.yaml")
        with open(path, "w") as f:
            f.write("azure:\n  pricesEndpoint: %s\n  caFile: %s\n" % (az.emu.url, az.emu.ca_file))
        env["AZURE_SUBSCRIPTION_ID"] = ""
        rc, out, err = cli.run(["--live", "--provider", "azure", "--config", path, "--catalog", "azure:" + REGION],
                               env)
        assert rc == 0 and "subscriptionId: not set" in err, err

    try:
        t.run("should_read_azure_live_prices_over_the_embedded_ones", live)
        t.run("should_mark_live_rows_in_the_table", live_table)
        t.run("should_retry_a_throttled_prices_call", throttled_then_answered)
        t.run("should_fall_back_to_embedded_prices_on_a_malformed_answer", malformed_falls_back)
        t.run("should_exit_1_with_require_live_when_the_read_fails", require_live)
        t.run("should_fall_back_when_throttling_outlasts_the_retries", still_throttled)
        t.run("should_say_what_is_missing_to_open_the_provider", no_subscription)
    finally:
        az.emu.stop()


def main(argv):
    binary = find_binary(argv)
    t = Runner()
    if not os.access(binary, os.X_OK):
        print("FAIL binary %s is executable" % binary)
        print("0 passed, 1 failed")
        return 1
    cli = Cli(binary)
    embedded_tests(t, cli)
    azure_tests(t, cli)
    shutil.rmtree(cli.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (t.passed, t.failed))
    return 1 if t.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
