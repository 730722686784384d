"""EC2 (API version 2016-11-15) for the AWS emulator: DescribeInstances,
DescribeSpotPriceHistory, DescribeInstanceTypeOfferings,
DescribeLaunchTemplateVersions and DescribeReservedInstances, with the
filters and pagination of the API reference, answering in the namespace
http://ec2.amazonaws.com/doc/2016-11-15/.
"""

import re
import time

from aws_wire import AwsError, Items, page, parse_time, timestamp

VERSION = "2016-11-15"
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$")
PRODUCTS = ("Linux/UNIX", "Linux/UNIX (Amazon VPC)")


def _bad_token():
    return AwsError(400, "InvalidNextToken", "The token 'NextToken' is invalid or expired.")


def _bad_filter(name):
    return AwsError(400, "InvalidParameterValue", "The filter '%s' is invalid" % name)


def _match_filters(filters, fields_of):
    """A predicate over items: every filter matches (values OR'ed, '*' and
    '?' as wildcards, as EC2 takes them). fields_of(item) -> {name: [values]}."""
    compiled = []
    for name, values in filters:
        pats = [re.compile("^" + re.escape(v).replace(r"\*", ".*").replace(r"\?", ".") + "$") for v in values]
        compiled.append((name, pats))

    def ok(item):
        fields = fields_of(item)
        for name, pats in compiled:
            have = fields.get(name)
            if have is None and name.startswith("tag:"):
                have = []
            if not any(p.match(str(h)) for p in pats for h in have):
                return False
        return True
    return ok


def _check_names(filters, allowed):
    for name, values in filters:
        if name not in allowed and not (name.startswith("tag:") and "tag:" in allowed):
            raise _bad_filter(name)
        if not values:
            raise AwsError(400, "InvalidParameterValue", "The filter '%s' has no values" % name)


INSTANCE_FILTERS = ("instance-id", "instance-type", "instance-state-name", "instance-state-code",
                    "availability-zone", "instance-lifecycle", "private-dns-name", "private-ip-address",
                    "tag-key", "tag-value", "tag:", "vpc-id", "subnet-id")


def _instance_tags(cloud, inst):
    tags = [("aws:autoscaling:groupName", inst.group)] if inst.group else []
    grp = cloud.groups.get(inst.group)
    if grp is not None:
        tags += [(k, v) for k, v, prop in grp.tags if prop]
        if grp.launch_template is not None:
            tags.append(("aws:ec2launchtemplate:id", grp.launch_template["id"]))
    return tags


def _instance_fields(cloud, inst):
    tags = _instance_tags(cloud, inst)
    f = {"instance-id": [inst.id], "instance-type": [inst.type], "instance-state-name": [inst.state],
         "instance-state-code": [STATE_CODES[inst.state]], "availability-zone": [inst.zone],
         "instance-lifecycle": ["spot"] if inst.spot else [], "private-dns-name": [inst.dns],
         "private-ip-address": [inst.ip], "tag-key": [k for k, _ in tags], "tag-value": [v for _, v in tags],
         "vpc-id": ["vpc-0a1b2c3d4e5f60718"], "subnet-id": [_subnet(cloud, inst.zone)]}
    for k, v in tags:
        f.setdefault("tag:" + k, []).append(v)
    return f


def _subnet(cloud, zone):
    return "subnet-%08x" % ((cloud.zones.index(zone) if zone in cloud.zones else 0) + 0x0a1b2c3d)


def _instance_doc(cloud, inst):
    shape = cloud.shapes[inst.type]
    running = inst.state == "running"
    return {"instanceId": inst.id, "imageId": "ami-0c2b8ca1dad447f8a",
            "instanceState": {"code": STATE_CODES[inst.state], "name": inst.state},
            "privateDnsName": inst.dns if inst.state != "terminated" else "", "dnsName": "",
            "reason": "" if inst.state != "terminated" else "User initiated", "amiLaunchIndex": 0,
            "productCodes": Items(), "instanceType": inst.type, "launchTime": timestamp(inst.launch_time),
            "placement": {"availabilityZone": inst.zone, "groupName": "", "tenancy": "default"},
            "monitoring": {"state": "disabled"}, "subnetId": _subnet(cloud, inst.zone),
            "vpcId": "vpc-0a1b2c3d4e5f60718",
            "privateIpAddress": inst.ip if inst.state != "terminated" else None,
            "sourceDestCheck": True, "groupSet": Items([{"groupId": "sg-0a1b2c3d4e5f60718",
                                                         "groupName": "eks-cluster-sg"}]),
            "architecture": shape.arch, "rootDeviceType": "ebs", "rootDeviceName": "/dev/xvda",
            "blockDeviceMapping": Items(), "instanceLifecycle": "spot" if inst.spot else None,
            "spotInstanceRequestId": ("sir-" + inst.id[3:11]) if inst.spot else None,
            "virtualizationType": "hvm", "clientToken": inst.id[2:] + "-asg",
            "tagSet": Items({"key": k, "value": v} for k, v in _instance_tags(cloud, inst)),
            "hypervisor": "xen", "networkInterfaceSet": Items(), "ebsOptimized": running,
            "enaSupport": True, "cpuOptions": {"coreCount": max(1, shape.vcpu // 2),
                                               "threadsPerCore": 2 if shape.vcpu > 1 else 1},
            "metadataOptions": {"state": "applied", "httpTokens": "required", "httpPutResponseHopLimit": 2,
                                "httpEndpoint": "enabled"}}


def describe_instances(cloud, p):
    ids = p.numbered("InstanceId")
    filters = p.ec2_filters()
    _check_names(filters, INSTANCE_FILTERS)
    if ids and p.get("MaxResults") is not None:
        raise AwsError(400, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the "
                       "parameter maxResults")
    p.boolean("DryRun", False)
    with cloud.lock:
        for iid in ids:
            if not INSTANCE_ID.match(iid):
                raise AwsError(400, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"" % iid)
        missing = [iid for iid in ids if iid not in cloud.instances]
        if missing:
            raise AwsError(400, "InvalidInstanceID.NotFound", "The instance ID%s '%s' do%s not exist"
                           % ("s" if len(missing) > 1 else "", ", ".join(missing), "" if len(missing) > 1 else "es"))
        ok = _match_filters(filters, lambda i: _instance_fields(cloud, i))
        insts = [i for i in cloud.instances.values() if (not ids or i.id in ids) and ok(i)]
        chunk, nxt = page(insts, p, "NextToken", "MaxResults", 1000, 1000, _bad_token(), lo=5)
        # One reservation per instance, as an Auto Scaling launch makes them.
        res = Items({"reservationId": "r-0" + i.id[3:19], "ownerId": cloud.account, "groupSet": Items(),
                     "instancesSet": Items([_instance_doc(cloud, i)]),
                     "requesterId": "940372691376"} for i in chunk)
        return {"reservationSet": res, "nextToken": nxt}


def _spot_history(cloud):
    """Two prices per pool: the current one (an hour before start) and the
    one before it (a day earlier, 5% higher)."""
    t_now = cloud.started - 3600
    out = []
    for itype in sorted(cloud.shapes):
        for zone in cloud.zones:
            if (itype, zone) in cloud.unavailable:
                continue
            price = cloud.spot_price(itype, zone)
            if price is None:
                continue
            for prod in PRODUCTS:
                out.append((itype, zone, prod, price, t_now))
                out.append((itype, zone, prod, round(price * 1.05, 6), t_now - 86400))
    return out


def describe_spot_price_history(cloud, p):
    types = p.numbered("InstanceType")
    products = p.numbered("ProductDescription")
    zone = p.get("AvailabilityZone")
    filters = p.ec2_filters()
    _check_names(filters, ("availability-zone", "instance-type", "product-description", "spot-price", "timestamp"))
    start = p.get("StartTime")
    end = p.get("EndTime")
    start = parse_time(start, "StartTime") if start else None
    end = parse_time(end, "EndTime") if end else time.time()
    p.boolean("DryRun", False)
    for t in types:
        if t not in cloud.shapes:
            raise AwsError(400, "InvalidParameterValue", "The following supplied instance types do not exist: "
                           "[%s]" % t)
    for prod in products:
        if prod not in PRODUCTS + ("SUSE Linux", "Windows", "Red Hat Enterprise Linux", "Linux/UNIX (Amazon VPC)"):
            raise AwsError(400, "InvalidParameterValue", "Invalid product description: %s" % prod)
    if zone is not None and zone not in cloud.zones:
        raise AwsError(400, "InvalidParameterValue", "Invalid availability zone: [%s]" % zone)
    with cloud.lock:
        rows = _spot_history(cloud)
    rows = [r for r in rows if (not types or r[0] in types) and (not products or r[2] in products)
            and (zone is None or r[1] == zone) and r[4] <= end]
    if start is not None:
        # The prices in effect from start on: those after it and the last before it, per pool.
        latest_before = {}
        for r in rows:
            if r[4] < start and (r[:3] not in latest_before or latest_before[r[:3]][4] < r[4]):
                latest_before[r[:3]] = r
        rows = [r for r in rows if r[4] >= start or latest_before.get(r[:3]) is r]
    ok = _match_filters(filters, lambda r: {"instance-type": [r[0]], "availability-zone": [r[1]],
                                            "product-description": [r[2]], "spot-price": ["%.6f" % r[3]],
                                            "timestamp": [timestamp(r[4])]})
    rows = [r for r in rows if ok(r)]
    rows.sort(key=lambda r: (-r[4], r[0], r[1], r[2]))
    chunk, nxt = page(rows, p, "NextToken", "MaxResults", 1000, 10000, _bad_token())
    return {"spotPriceHistorySet": Items({"availabilityZone": r[1], "instanceType": r[0],
                                          "productDescription": r[2], "spotPrice": "%.6f" % r[3],
                                          "timestamp": timestamp(r[4])} for r in chunk),
            "nextToken": nxt or ""}


def describe_instance_type_offerings(cloud, p):
    loc = p.get("LocationType", "region")
    if loc not in ("region", "availability-zone", "availability-zone-id"):
        raise AwsError(400, "InvalidParameterValue", "Value (%s) for parameter locationType is invalid. Valid "
                       "values are region, availability-zone, availability-zone-id." % loc)
    filters = p.ec2_filters()
    _check_names(filters, ("location", "instance-type"))
    p.boolean("DryRun", False)
    with cloud.lock:
        rows = []
        for itype in sorted(cloud.shapes):
            if loc == "region":
                rows.append((itype, cloud.region))
                continue
            for n, zone in enumerate(cloud.zones):
                if (itype, zone) not in cloud.unavailable:
                    rows.append((itype, zone if loc == "availability-zone" else "use1-az%d" % (n + 1)))
    ok = _match_filters(filters, lambda r: {"instance-type": [r[0]], "location": [r[1]]})
    rows = [r for r in rows if ok(r)]
    chunk, nxt = page(rows, p, "NextToken", "MaxResults", 1000, 1000, _bad_token())
    return {"instanceTypeOfferingSet": Items({"instanceType": t, "locationType": loc, "location": where}
                                             for t, where in chunk), "nextToken": nxt}


def describe_launch_template_versions(cloud, p):
    lt_id, lt_name = p.get("LaunchTemplateId"), p.get("LaunchTemplateName")
    versions = p.numbered("LaunchTemplateVersion")
    if (lt_id is None) == (lt_name is None):
        raise AwsError(400, "InvalidParameterCombination", "Specify either a launch template ID or a launch "
                       "template name.")
    p.ec2_filters()
    p.get("MaxResults")
    p.get("NextToken")
    with cloud.lock:
        lts = [g.launch_template for g in cloud.groups.values() if g.launch_template is not None and
               (g.launch_template["id"] == lt_id or g.launch_template["name"] == lt_name)]
    if not lts:
        raise AwsError(400, "InvalidLaunchTemplateId.NotFound" if lt_id else "InvalidLaunchTemplateName.NotFoundException",
                       "The specified launch template, with template %s %s, does not exist."
                       % ("ID" if lt_id else "name", lt_id or lt_name))
    lt = lts[0]
    for v in versions:
        if v not in ("$Latest", "$Default", "1"):
            raise AwsError(400, "InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version "
                           "%s for template %s" % (v, lt["id"]))
    data = {"imageId": "ami-0c2b8ca1dad447f8a"}
    if lt["instanceType"]:
        data["instanceType"] = lt["instanceType"]
    return {"launchTemplateVersionSet": Items([{"launchTemplateId": lt["id"], "launchTemplateName": lt["name"],
                                                "versionNumber": 1, "createTime": timestamp(cloud.started),
                                                "defaultVersion": True, "launchTemplateData": data}])}


def describe_reserved_instances(cloud, p):
    p.numbered("ReservedInstancesId")
    filters = p.ec2_filters()
    _check_names(filters, ("state", "instance-type", "availability-zone", "scope", "product-description"))
    p.get("OfferingClass")
    p.get("OfferingType")
    p.boolean("DryRun", False)
    with cloud.lock:
        rows = list(cloud.reserved)
    ok = _match_filters(filters, lambda r: {"state": [r["state"]], "instance-type": [r["instanceType"]],
                                            "availability-zone": [r.get("availabilityZone", "")],
                                            "scope": [r["scope"]], "product-description": [r["productDescription"]]})
    return {"reservedInstancesSet": Items(r for r in rows if ok(r))}


ACTIONS = {
    "DescribeInstances": describe_instances,
    "DescribeSpotPriceHistory": describe_spot_price_history,
    "DescribeInstanceTypeOfferings": describe_instance_type_offerings,
    "DescribeLaunchTemplateVersions": describe_launch_template_versions,
    "DescribeReservedInstances": describe_reserved_instances,
}
