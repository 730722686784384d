#!/usr/bin/env python3
"""Live prices in `stevedore controller` (docs/prices-live.md): the sim
provider reads its prices from a file at each refresh (--sim-prices), the
refresher hands each new catalogue to the reconciler, and the next decision
uses it: a controller that bought a c5.large node (the cheapest on-demand
type for the pods) buys m5 nodes once a refresh made c5.large dearer. The
log says which prices are in use at each refresh; a bad answer leaves the
prices as they were with a warning naming the call; the metrics
stevedore_price_refresh_total, stevedore_prices_live_offerings and
stevedore_prices_age_seconds follow.

    python3 tests/test_prices_controller.py [build/controller/stevedore] [test names...]
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ctltest  # noqa: E402
from ctltest import pod  # noqa: E402

TYPE_LABEL = "node.kubernetes.io/instance-type"


def write_prices(path, quotes, source="test price feed"):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"source": source, "quotes": quotes}, f)
    os.rename(tmp, path)


def node_types(sc):
    return sorted(n["metadata"]["labels"].get(TYPE_LABEL) for n in sc.nodes())


def in_use(ctl, source="test price feed"):
    return [r for r in ctl.records("prices in use") if r.get("live_source") == source]


def should_buy_another_type_after_a_refresh_made_the_chosen_one_dearer(binary):
    with ctltest.Scene(binary, "prices") as sc:
        feed = os.path.join(sc.tmp, "prices.json")
        write_prices(feed, [])
        config = os.path.join(sc.tmp, "config.yaml")
        with open(config, "w") as f:
            f.write("prices:\n  refresh: 5s\n")
        ctl = sc.controller("r0", "--sim-prices", feed, "--config", config, "--capacity-types", "on-demand")
        sc.wait_for("the first live read logged", lambda: (len(in_use(ctl)) >= 1, ctl.tail(5)), timeout=30)
        first = in_use(ctl)[0]
        sc.check(first["catalog"] == sc.catalog and first["live_offerings"] == 0, "first read: %s" % first)
        sc.check(ctl.records("prices in use until the live prices answer (the first decisions may use these)"),
                 "no line says the first decisions may use the catalogue's own prices")
        sc.create_pods(pod("web-0", cpu="500m"), pod("web-1", cpu="500m"))
        sc.wait_for("2 pods Running", lambda: sc.all_running(2), timeout=60)
        sc.check(node_types(sc) == ["c5.large"], "the cheapest type for the pods is c5.large: %s" % node_types(sc))
        # c5.large now costs more than m5.large in every zone.
        write_prices(feed, [{"instanceType": "c5.large", "capacityType": "on-demand", "price": 0.5,
                             "asOf": 1765000000}])
        sc.wait_for("a refresh with the dearer c5.large",
                    lambda: (any(r["changed"] == 3 for r in in_use(ctl)), ctl.tail(5)), timeout=40)
        rec = [r for r in in_use(ctl) if r["changed"] == 3][0]
        sc.check("3 live figures (3 changed) from test price feed as of 2025-12-06T05:46:40Z" in rec["prices"],
                 "the log line says which prices: %s" % rec["prices"])
        sc.create_pods(pod("big-0", cpu="1500m"), pod("big-1", cpu="1500m"))
        sc.wait_for("4 pods Running", lambda: sc.all_running(4), timeout=60)
        # At the file's prices two c5.large (0.17/h) would hold them; at the live price an m5.xlarge
        # (0.192/h) or two m5.large (0.192/h) do.
        types = node_types(sc)
        sc.check(types.count("c5.large") == 1 and len(types) >= 2 and
                 all(t in ("m5.large", "m5.xlarge") for t in types if t != "c5.large"),
                 "after the refresh the new nodes are m5, not c5.large: %s" % types)
        sc.check((ctl.metric("stevedore_price_refresh_total", result="ok") or 0) >= 2, "refresh ok counted")
        sc.check(ctl.metric("stevedore_prices_live_offerings") == 3, "3 live offerings in the gauge")
        age = ctl.metric("stevedore_prices_age_seconds")
        sc.check(age is not None and 0 <= age < 60, "the prices are seconds old: %s" % age)
        # A bad answer: the prices in use stay, a warning names the call.
        with open(feed, "w") as f:
            f.write("{not json")
        sc.wait_for("a failed refresh warned",
                    lambda: (ctl.records("live prices not read: the current prices stay"), ctl.tail(5)),
                    timeout=40)
        warn = ctl.records("live prices not read: the current prices stay")[0]
        sc.check(warn["call"] == "fetch_prices" and "not JSON with a quotes array" in warn["error"] and
                 "3 live figures" in warn["prices"], "the warning: %s" % warn)
        sc.check((ctl.metric("stevedore_price_refresh_total", result="error") or 0) >= 1, "refresh error counted")
        sc.check(ctl.metric("stevedore_prices_live_offerings") == 3, "the live figures stay")


def should_log_that_a_provider_without_prices_keeps_the_catalogues(binary):
    with ctltest.Scene(binary, "prices-none") as sc:
        ctl = sc.controller("r0")
        sc.wait_for("the prices line", lambda: (ctl.records("prices in use"), ctl.tail(5)), timeout=30)
        rec = ctl.records("prices in use")[0]
        sc.check(rec["prices"] == "catalogue file %s" % sc.catalog and rec["live_source"] == "", "%s" % rec)
        sc.check(ctl.records("live prices: the provider publishes none; the catalogue's figures stay"),
                 "no line says the sim provider publishes no prices")


TESTS = [(f.__name__, f) for f in (should_buy_another_type_after_a_refresh_made_the_chosen_one_dearer,
                                   should_log_that_a_provider_without_prices_keeps_the_catalogues)]

if __name__ == "__main__":
    sys.exit(ctltest.run_tests(TESTS, sys.argv))
