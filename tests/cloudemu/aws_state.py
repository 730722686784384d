"""The emulated account: Auto Scaling groups, EC2 instances, scaling
activities, and the background loop that launches and terminates instances
to follow each group's desired capacity.

A scenario file (--groups FILE, JSON) seeds it; see docs/cloud-emulators.md
for its fields. Every error names the file, the group and the field.

How a launch is chosen (documented simplifications of Auto Scaling):
- zone: the group's zone with the fewest live instances (ties: the order of
  AvailabilityZones), skipping pools that failed in the last
  --launch-retry seconds;
- purchase option: on-demand while the group's on-demand instances number
  fewer than OnDemandBaseCapacity, then on-demand for
  OnDemandPercentageAboveBaseCapacity percent of the rest, rounded up as AWS
  does; spot otherwise (a group without a MixedInstancesPolicy is all
  on-demand);
- type: on-demand "prioritized" takes the first override, "lowest-price" the
  cheapest on-demand price; spot "lowest-price" and "price-capacity-optimized"
  take the cheapest spot price in the zone, "capacity-optimized" and
  "capacity-optimized-prioritized" the first override;
- scale-in (SetDesiredCapacity lower): the newest instance of the zone with
  the most instances is terminated, unless protected from scale-in.
Every instance counts 1 towards the desired capacity (WeightedCapacity is
reported but not used).
"""

import csv
import json
import os
import secrets
import threading
import time
import uuid

from aws_wire import AwsError, Items

HERE = os.path.dirname(os.path.abspath(__file__))
CATALOGUE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "pricing", "data", "aws-us-east-1.csv")
SPOT_ALLOCATION = ("lowest-price", "capacity-optimized", "capacity-optimized-prioritized",
                   "price-capacity-optimized")
ON_DEMAND_ALLOCATION = ("prioritized", "lowest-price")


class ScenarioError(Exception):
    pass


class Shape(object):
    def __init__(self, row):
        self.name = row["instance_type"]
        self.arch = "arm64" if row["arch"] == "arm64" else "x86_64"
        self.k8s_arch = "arm64" if row["arch"] == "arm64" else "amd64"
        self.vcpu = int(row["vcpu"])
        self.memory_mib = int(round(float(row["memory_gib"]) * 1024))
        # Some types have no published price: no spot history, sorted last.
        self.od_price = float(row["od_usd_h_us_east_1"]) if row["od_usd_h_us_east_1"] else None
        spot = row["spot_est_usd_h"] or row["od_usd_h_us_east_1"]
        self.spot_price = float(spot) if spot else None
        self.alloc_cpu, self.alloc_memory = row["alloc_cpu"], row["alloc_memory"]
        self.max_pods = int(row["max_pods"])
        self.gpus = int(row["gpu_count"] or 0)


def load_shapes(path=CATALOGUE):
    shapes = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            shapes[row["instance_type"]] = Shape(row)
    return shapes


class Instance(object):
    def __init__(self, iid, group, itype, zone, spot, now, index):
        self.id, self.group, self.type, self.zone, self.spot = iid, group, itype, zone, spot
        self.launch_time = now
        self.state = "pending"  # EC2: pending, running, shutting-down, terminated
        self.lifecycle = "Pending"  # Auto Scaling: Pending, InService, Terminating, Terminated
        self.protected = False
        self.ip = "10.0.%d.%d" % (index // 250 % 250, index % 250 + 4)
        self.node = None  # the Node name registered in Kubernetes, if any
        self.state_since = now

    @property
    def dns(self):
        return "ip-%s.ec2.internal" % self.ip.replace(".", "-")


class Group(object):
    def __init__(self, name, region, account):
        self.name = name
        self.arn = "arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s" % (
            region, account, uuid.uuid4(), name)
        self.min = self.max = self.desired = 0
        self.zones = []
        self.launch_template = None  # {"id", "name", "version", "instanceType"}
        self.launch_configuration = None  # {"name", "instanceType", "spotPrice", "created"}: no template then
        self.overrides = []  # [{"instanceType", "weightedCapacity"}]
        self.distribution = None  # None: not a mixed instances group
        self.tags = []  # [(key, value, propagate)]
        self.instances = []  # live and terminating Instance, launch order
        self.created = time.time()
        self.failed_pools = {}  # (type, zone) -> time of the failed launch
        self.next_try = 0.0

    def live(self):
        return [i for i in self.instances if i.lifecycle in ("Pending", "InService")]


class Activity(object):
    def __init__(self, group, description, cause, status, now, message=None):
        self.id = str(uuid.uuid4())
        self.group, self.description, self.cause = group, description, cause
        self.status, self.message, self.start, self.end = status, message, now, None
        self.progress = 100 if status in ("Successful", "Failed") else 0
        if self.progress == 100:
            self.end = now


def _need(doc, key, kind, where):
    if key not in doc:
        raise ScenarioError("%s: the field %s is missing" % (where, key))
    v = doc[key]
    if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise ScenarioError("%s: the field %s must be an integer, not %r" % (where, key, v))
    if kind is str and not (isinstance(v, str) and v):
        raise ScenarioError("%s: the field %s must be a non-empty string, not %r" % (where, key, v))
    if kind is list and not isinstance(v, list):
        raise ScenarioError("%s: the field %s must be a list, not %r" % (where, key, v))
    return v


class Cloud(object):
    """The whole account; every method that reads or changes state takes
    self.lock."""

    def __init__(self, region="us-east-1", account="111122223333", launch_delay=1.0, terminate_delay=0.5,
                 launch_retry=10.0, shapes=None):
        self.region, self.account = region, account
        self.launch_delay, self.terminate_delay, self.launch_retry = launch_delay, terminate_delay, launch_retry
        self.shapes = shapes if shapes is not None else load_shapes()
        self.lock = threading.RLock()
        self.groups = {}  # name -> Group, in creation order
        self.instances = {}  # id -> Instance (terminated ones stay, as EC2 lists them for a while)
        self.activities = []  # newest last
        self.zones = [region + z for z in "abc"]
        self.unavailable = set()  # (type, zone) not offered
        self.spot_overrides = {}  # (type, zone) -> price
        self.capacity_faults = set()  # (type, zone) that fail to launch
        self.counter = 0
        self.started = time.time()
        self.reserved = []  # DescribeReservedInstances items
        self.listeners = []  # fn(event, instance) for "running" and "terminated"

    # Scenario -------------------------------------------------------------

    def load(self, path):
        try:
            with open(path) as f:
                doc = json.load(f)
        except OSError as e:
            raise ScenarioError("%s: %s" % (path, e.strerror))
        except ValueError as e:
            raise ScenarioError("%s: not JSON: %s" % (path, e))
        self.load_doc(doc, path)

    def load_doc(self, doc, where):
        if not isinstance(doc, dict):
            raise ScenarioError("%s: the scenario must be a JSON object" % where)
        known = {"zones", "groups", "unavailableOfferings", "spotPrices", "reservedInstances"}
        for k in doc:
            if k not in known:
                raise ScenarioError("%s: unknown field %s (known: %s)" % (where, k, ", ".join(sorted(known))))
        with self.lock:
            if "zones" in doc:
                zones = _need(doc, "zones", list, where)
                if not zones or not all(isinstance(z, str) and z.startswith(self.region) for z in zones):
                    raise ScenarioError("%s: zones must be a non-empty list of zones of %s, not %r"
                                        % (where, self.region, zones))
                self.zones = list(zones)
            for i, pool in enumerate(doc.get("unavailableOfferings", [])):
                self.unavailable.add(self.pool(pool, "%s: unavailableOfferings[%d]" % (where, i)))
            for pool, price in (doc.get("spotPrices") or {}).items():
                w = "%s: spotPrices[%s]" % (where, pool)
                if isinstance(price, bool) or not isinstance(price, (int, float)) or price <= 0:
                    raise ScenarioError("%s: the price must be a positive number, not %r" % (w, price))
                self.spot_overrides[self.pool(pool, w)] = float(price)
            for i, r in enumerate(doc.get("reservedInstances") or []):
                self.reserved.append(self._reservation(r, "%s: reservedInstances[%d]" % (where, i)))
            for i, g in enumerate(_need(doc, "groups", list, where) if "groups" in doc else []):
                self._load_group(g, "%s: groups[%d]" % (where, i))

    def pool(self, text, where):
        """"m5.large/us-east-1a" -> ("m5.large", "us-east-1a"), checked."""
        if not isinstance(text, str) or text.count("/") != 1:
            raise ScenarioError("%s: expected INSTANCE-TYPE/ZONE (e.g. m5.large/%sa), not %r"
                                % (where, self.region, text))
        itype, zone = text.split("/")
        if itype not in self.shapes:
            raise ScenarioError("%s: unknown instance type %s" % (where, itype))
        if zone not in self.zones:
            raise ScenarioError("%s: zone %s is not one of %s" % (where, zone, ", ".join(self.zones)))
        return itype, zone

    def _reservation(self, r, where):
        if not isinstance(r, dict):
            raise ScenarioError("%s: a reservation must be an object" % where)
        itype = _need(r, "instanceType", str, where)
        if itype not in self.shapes:
            raise ScenarioError("%s: unknown instanceType %s" % (where, itype))
        count = _need(r, "instanceCount", int, where)
        hourly = r.get("hourlyPrice", round(self.shapes[itype].od_price * 0.6, 4))
        if isinstance(hourly, bool) or not isinstance(hourly, (int, float)) or hourly < 0:
            raise ScenarioError("%s: hourlyPrice must be a non-negative number" % where)
        zone = r.get("availabilityZone")
        if zone is not None and zone not in self.zones:
            raise ScenarioError("%s: availabilityZone %s is not one of %s" % (where, zone, ", ".join(self.zones)))
        fixed = r.get("fixedPrice", 0.0)
        if isinstance(fixed, bool) or not isinstance(fixed, (int, float)) or fixed < 0:
            raise ScenarioError("%s: fixedPrice must be a non-negative number" % where)
        duration = r.get("duration", 31536000)
        if duration not in (31536000, 94608000):
            raise ScenarioError("%s: duration must be 31536000 (1 year) or 94608000 (3 years)" % where)
        kind = "No Upfront" if not fixed else ("All Upfront" if not hourly else "Partial Upfront")
        start = self.started - 86400 * 30
        charges = [{"frequency": "Hourly", "amount": hourly}] if hourly or not fixed else []
        return {"reservedInstancesId": str(uuid.uuid4()), "instanceType": itype, "availabilityZone": zone,
                "start": _iso(start), "end": _iso(start + duration), "duration": duration, "usagePrice": 0.0,
                "fixedPrice": float(fixed), "instanceCount": count, "productDescription": "Linux/UNIX",
                "state": r.get("state", "active"), "instanceTenancy": "default", "currencyCode": "USD",
                "offeringType": kind, "recurringCharges": Items(charges),
                "offeringClass": r.get("offeringClass", "standard"),
                "scope": "Availability Zone" if zone else "Region"}

    def _load_group(self, g, where):
        if not isinstance(g, dict):
            raise ScenarioError("%s: a group must be a JSON object" % where)
        known = {"name", "minSize", "maxSize", "desiredCapacity", "availabilityZones", "launchTemplate",
                 "launchConfiguration",
                 "mixedInstancesPolicy", "tags", "instances"}
        for k in g:
            if k not in known:
                raise ScenarioError("%s: unknown field %s (known: %s)" % (where, k, ", ".join(sorted(known))))
        name = _need(g, "name", str, where)
        where = "%s (%s)" % (where, name)
        if name in self.groups:
            raise ScenarioError("%s: a group of that name exists already" % where)
        grp = Group(name, self.region, self.account)
        grp.min, grp.max = _need(g, "minSize", int, where), _need(g, "maxSize", int, where)
        grp.desired = g.get("desiredCapacity", grp.min)
        if isinstance(grp.desired, bool) or not isinstance(grp.desired, int):
            raise ScenarioError("%s: the field desiredCapacity must be an integer" % where)
        if not 0 <= grp.min <= grp.desired <= grp.max:
            raise ScenarioError("%s: expected 0 <= minSize (%d) <= desiredCapacity (%d) <= maxSize (%d)"
                                % (where, grp.min, grp.desired, grp.max))
        grp.zones = g.get("availabilityZones") or list(self.zones)
        for z in grp.zones:
            if z not in self.zones:
                raise ScenarioError("%s: availabilityZones: %r is not one of %s" % (where, z, ", ".join(self.zones)))
        self._load_template(grp, g, where)
        tags = g.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise ScenarioError("%s: tags must be an object of strings (key: value)" % where)
        grp.tags = [(k, v, True) for k, v in tags.items()]
        self.groups[name] = grp
        for j, inst in enumerate(g.get("instances") or []):
            self._seed_instance(grp, inst, "%s: instances[%d]" % (where, j))
        if len(grp.live()) > grp.desired:
            raise ScenarioError("%s: %d instances given, more than desiredCapacity %d"
                                % (where, len(grp.live()), grp.desired))

    def _load_template(self, grp, g, where):
        mixed = g.get("mixedInstancesPolicy")
        lt = g.get("launchTemplate")
        lc = g.get("launchConfiguration")
        if [mixed, lt, lc].count(None) != 2:
            raise ScenarioError("%s: give exactly one of launchTemplate, mixedInstancesPolicy and launchConfiguration"
                                % where)
        if lc is not None:
            grp.launch_configuration = self._launch_configuration(lc, where + ": launchConfiguration", grp.name)
            return
        if lt is not None:
            if not isinstance(lt, dict):
                raise ScenarioError("%s: launchTemplate must be an object" % where)
            itype = _need(lt, "instanceType", str, where + ": launchTemplate")
            if itype not in self.shapes:
                raise ScenarioError("%s: launchTemplate: unknown instanceType %s" % (where, itype))
            grp.launch_template = self._template(lt, where + ": launchTemplate", grp.name)
            return
        if not isinstance(mixed, dict):
            raise ScenarioError("%s: mixedInstancesPolicy must be an object" % where)
        w = where + ": mixedInstancesPolicy"
        grp.launch_template = self._template(mixed.get("launchTemplate") or {}, w + ": launchTemplate", grp.name)
        for i, o in enumerate(_need(mixed, "overrides", list, w)):
            if not isinstance(o, dict) or o.get("instanceType") not in self.shapes:
                raise ScenarioError("%s: overrides[%d]: instanceType must be a known instance type, not %r"
                                    % (w, i, o.get("instanceType") if isinstance(o, dict) else o))
            grp.overrides.append({"instanceType": o["instanceType"],
                                  "weightedCapacity": str(o.get("weightedCapacity", "1"))})
        if not grp.overrides:
            raise ScenarioError("%s: overrides must list at least one instance type" % w)
        d = mixed.get("instancesDistribution") or {}
        dist = {"onDemandAllocationStrategy": d.get("onDemandAllocationStrategy", "prioritized"),
                "onDemandBaseCapacity": d.get("onDemandBaseCapacity", 0),
                "onDemandPercentageAboveBaseCapacity": d.get("onDemandPercentageAboveBaseCapacity", 100),
                "spotAllocationStrategy": d.get("spotAllocationStrategy", "lowest-price"),
                "spotInstancePools": d.get("spotInstancePools", 2),
                "spotMaxPrice": d.get("spotMaxPrice", "")}
        if dist["onDemandAllocationStrategy"] not in ON_DEMAND_ALLOCATION:
            raise ScenarioError("%s: instancesDistribution.onDemandAllocationStrategy must be one of %s"
                                % (w, ", ".join(ON_DEMAND_ALLOCATION)))
        if dist["spotAllocationStrategy"] not in SPOT_ALLOCATION:
            raise ScenarioError("%s: instancesDistribution.spotAllocationStrategy must be one of %s"
                                % (w, ", ".join(SPOT_ALLOCATION)))
        for k in ("onDemandBaseCapacity", "onDemandPercentageAboveBaseCapacity", "spotInstancePools"):
            if isinstance(dist[k], bool) or not isinstance(dist[k], int) or dist[k] < 0:
                raise ScenarioError("%s: instancesDistribution.%s must be a non-negative integer" % (w, k))
        if dist["onDemandPercentageAboveBaseCapacity"] > 100:
            raise ScenarioError("%s: instancesDistribution.onDemandPercentageAboveBaseCapacity must be 0..100" % w)
        grp.distribution = dist

    def _launch_configuration(self, lc, where, group):
        if not isinstance(lc, dict):
            raise ScenarioError("%s: must be an object" % where)
        for k in lc:
            if k not in ("name", "instanceType", "spotPrice"):
                raise ScenarioError("%s: unknown field %s (known: instanceType, name, spotPrice)" % (where, k))
        itype = _need(lc, "instanceType", str, where)
        if itype not in self.shapes:
            raise ScenarioError("%s: unknown instanceType %s" % (where, itype))
        spot = lc.get("spotPrice")
        if spot is not None and (isinstance(spot, bool) or not isinstance(spot, (int, float)) or spot <= 0):
            raise ScenarioError("%s: spotPrice must be a positive number (the most paid per hour)" % where)
        name = lc.get("name", "lc-" + group)
        if not isinstance(name, str) or not name:
            raise ScenarioError("%s: name must be a non-empty string" % where)
        return {"name": name, "instanceType": itype, "spotPrice": None if spot is None else "%g" % spot,
                "created": time.time(), "uuid": str(uuid.uuid4())}

    def _template(self, lt, where, group):
        name = lt.get("name", "lt-" + group)
        if not isinstance(name, str) or not name:
            raise ScenarioError("%s: name must be a non-empty string" % where)
        return {"id": lt.get("id", "lt-0" + secrets.token_hex(8)), "name": name,
                "version": str(lt.get("version", "$Latest")), "instanceType": lt.get("instanceType")}

    def _seed_instance(self, grp, doc, where):
        if not isinstance(doc, dict):
            raise ScenarioError("%s: an instance must be an object" % where)
        itype = doc.get("instanceType") or self.group_types(grp)[0]
        if itype not in self.group_types(grp):
            raise ScenarioError("%s: instanceType %s is not one the group launches (%s)"
                                % (where, itype, ", ".join(self.group_types(grp))))
        zone = doc.get("zone", grp.zones[0])
        if zone not in grp.zones:
            raise ScenarioError("%s: zone %s is not one of the group's zones" % (where, zone))
        inst = self._new_instance(grp, itype, zone, bool(doc.get("spot", False)), time.time())
        inst.state, inst.lifecycle = "running", "InService"
        inst.state_since = 0.0  # a seeded instance registers its Node at once
        inst.notified = False

    # Instances ------------------------------------------------------------

    def _new_instance(self, grp, itype, zone, spot, now):
        self.counter += 1
        iid = "i-0" + secrets.token_hex(8)  # 17 hex digits after "i-", as EC2 gives them
        inst = Instance(iid, grp.name, itype, zone, spot, now, self.counter)
        inst.notified = True  # pending: nothing to tell until it runs
        grp.instances.append(inst)
        self.instances[iid] = inst
        return inst

    def group_types(self, grp):
        if grp.overrides:
            return [o["instanceType"] for o in grp.overrides]
        if grp.launch_configuration is not None:
            return [grp.launch_configuration["instanceType"]]
        return [grp.launch_template["instanceType"]]

    def spot_price(self, itype, zone):
        if (itype, zone) in self.spot_overrides:
            return self.spot_overrides[(itype, zone)]
        idx = self.zones.index(zone) if zone in self.zones else 0
        if self.shapes[itype].spot_price is None:
            return None
        return round(self.shapes[itype].spot_price * (1 + 0.02 * idx), 6)

    def _purchase_spot(self, grp):
        d = grp.distribution
        if d is None:  # a launch configuration with a SpotPrice launches spot only
            return bool(grp.launch_configuration and grp.launch_configuration["spotPrice"])
        live = grp.live()
        od = sum(1 for i in live if not i.spot)
        if od < d["onDemandBaseCapacity"]:
            return False
        above = len(live) + 1 - d["onDemandBaseCapacity"]
        od_above = od - d["onDemandBaseCapacity"]
        want_od = -(-above * d["onDemandPercentageAboveBaseCapacity"] // 100)  # rounded up
        return od_above >= want_od

    def _choose(self, grp, now):
        """(type, zone, spot) for the next launch, or None when every pool
        failed recently."""
        spot = self._purchase_spot(grp)
        counts = {z: 0 for z in grp.zones}
        for i in grp.live():
            counts[i.zone] = counts.get(i.zone, 0) + 1
        types = self.group_types(grp)
        ok = lambda t, z: (t, z) not in self.unavailable and \
            now - grp.failed_pools.get((t, z), -1e18) >= self.launch_retry  # noqa: E731
        for zone in sorted(grp.zones, key=lambda z: (counts[z], grp.zones.index(z))):
            cands = [t for t in types if ok(t, zone)]
            if not cands:
                continue
            d = grp.distribution
            if spot and d is not None and d["spotAllocationStrategy"] in ("lowest-price", "price-capacity-optimized"):
                cands.sort(key=lambda t: _or_inf(self.spot_price(t, zone)))
            elif not spot and d is not None and d["onDemandAllocationStrategy"] == "lowest-price":
                cands.sort(key=lambda t: _or_inf(self.shapes[t].od_price))
            return cands[0], zone, spot
        return None

    def tick(self, now=None):
        """One pass of the scaling loop; returns the instances whose state
        changed as [(event, instance)] for the kubelet role."""
        now = time.time() if now is None else now
        events = []
        with self.lock:
            for grp in self.groups.values():
                self._advance(grp, now, events)
                self._scale(grp, now)
        return events

    def _advance(self, grp, now, events):
        for inst in list(grp.instances):
            if inst.lifecycle == "Pending" and now - inst.state_since >= self.launch_delay:
                inst.lifecycle, inst.state, inst.state_since = "InService", "running", now
                events.append(("running", inst))
            elif inst.lifecycle == "InService" and not inst.notified:
                inst.notified = True
                events.append(("running", inst))
            elif inst.lifecycle == "Terminating" and now - inst.state_since >= self.terminate_delay:
                inst.lifecycle, inst.state, inst.state_since = "Terminated", "terminated", now
                grp.instances.remove(inst)
                events.append(("terminated", inst))

    def _scale(self, grp, now):
        live = grp.live()
        if len(live) < grp.desired and now >= grp.next_try:
            for _ in range(grp.desired - len(live)):
                if not self._launch_one(grp, now):
                    grp.next_try = now + self.launch_retry
                    break
        elif len(live) > grp.desired:
            for _ in range(len(live) - grp.desired):
                victim = self._scale_in_victim(grp)
                if victim is None:
                    break
                self._terminate(grp, victim, now, "an instance was taken out of service in response to a "
                                "difference between desired and actual capacity, shrinking the capacity from "
                                "%d to %d." % (len(grp.live()), len(grp.live()) - 1))

    def _launch_one(self, grp, now):
        choice = self._choose(grp, now)
        if choice is None:
            return False
        itype, zone, spot = choice
        cause = ("At %s an instance was started in response to a difference between desired and actual "
                 "capacity, increasing the capacity from %d to %d." % (_iso(now), len(grp.live()), len(grp.live()) + 1))
        if (itype, zone) in self.capacity_faults:
            grp.failed_pools[(itype, zone)] = now
            what = "Spot" if spot else "On-Demand"
            msg = ("Could not launch %s Instances. InsufficientInstanceCapacity - We currently do not have "
                   "sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working "
                   "on provisioning additional capacity. You can currently get %s capacity by not specifying an "
                   "Availability Zone in your request or choosing %s. Launching EC2 instance failed."
                   % (what, itype, zone, itype, ", ".join(z for z in grp.zones if z != zone) or "another zone"))
            self.activities.append(Activity(grp.name, "Launching a new EC2 instance.  Status Reason: " + msg,
                                            cause, "Failed", now, msg))
            return self._choose(grp, now) is not None  # another pool may still take it this pass
        inst = self._new_instance(grp, itype, zone, spot, now)
        self.activities.append(Activity(grp.name, "Launching a new EC2 instance: %s" % inst.id, cause,
                                        "Successful", now))
        return True

    def _scale_in_victim(self, grp):
        live = [i for i in grp.live() if not i.protected]
        if not live:
            return None
        counts = {}
        for i in live:
            counts[i.zone] = counts.get(i.zone, 0) + 1
        zone = max(counts, key=lambda z: (counts[z], -grp.zones.index(z) if z in grp.zones else 0))
        return [i for i in live if i.zone == zone][-1]

    def _terminate(self, grp, inst, now, cause):
        inst.lifecycle, inst.state, inst.state_since = "Terminating", "shutting-down", now
        act = Activity(grp.name, "Terminating EC2 instance: %s" % inst.id, "At %s %s" % (_iso(now), cause),
                       "InProgress", now)
        self.activities.append(act)
        return act

    def terminate_instance(self, iid, decrement, now=None):
        """TerminateInstanceInAutoScalingGroup; returns the Activity."""
        now = time.time() if now is None else now
        with self.lock:
            inst = self.instances.get(iid)
            if inst is None or inst.group is None or inst.lifecycle == "Terminated":
                raise AwsError(400, "ValidationError", "Instance Id not found - No managed instance found for "
                               "instance ID: %s" % iid)
            grp = self.groups[inst.group]
            if inst.lifecycle == "Terminating":
                act = [a for a in self.activities if a.description.endswith(iid)][-1]
                return act
            if decrement:
                if grp.desired - 1 < grp.min:
                    raise AwsError(400, "ValidationError", "Currently, desiredSize equals minSize (%d). "
                                   "Terminating instance without replacement will violate group's min size "
                                   "constraint. Either set shouldDecrementDesiredCapacity flag to false or lower "
                                   "group's min size." % grp.min)
                grp.desired -= 1
                cause = ("instance %s was taken out of service in response to a user request, shrinking the "
                         "capacity from %d to %d." % (iid, grp.desired + 1, grp.desired))
            else:
                cause = ("instance %s was taken out of service in response to a user request." % iid)
            return self._terminate(grp, inst, now, cause)

    def set_desired(self, name, desired):
        with self.lock:
            grp = self.groups.get(name)
            if grp is None:
                raise AwsError(400, "ValidationError", "AutoScalingGroup name not found - AutoScalingGroup '%s' "
                               "not found" % name)
            if desired > grp.max:
                raise AwsError(400, "ValidationError", "New SetDesiredCapacity value %d is above max value %d for "
                               "the AutoScalingGroup." % (desired, grp.max))
            if desired < grp.min:
                raise AwsError(400, "ValidationError", "New SetDesiredCapacity value %d is below min value %d for "
                               "the AutoScalingGroup." % (desired, grp.min))
            grp.desired = desired
            grp.next_try = 0.0

    def dump(self):
        with self.lock:
            return {"region": self.region, "zones": self.zones,
                    "capacityFaults": sorted("%s/%s" % p for p in self.capacity_faults),
                    "groups": [{"name": g.name, "minSize": g.min, "maxSize": g.max, "desiredCapacity": g.desired,
                                "zones": g.zones, "instances": [i.id for i in g.instances]}
                               for g in self.groups.values()],
                    "instances": [{"id": i.id, "group": i.group, "type": i.type, "zone": i.zone, "spot": i.spot,
                                   "state": i.state, "lifecycle": i.lifecycle, "node": i.node,
                                   "privateDnsName": i.dns} for i in self.instances.values()],
                    "activities": [{"id": a.id, "group": a.group, "status": a.status, "description": a.description,
                                    "message": a.message} for a in self.activities]}


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _or_inf(price):
    return float("inf") if price is None else price
