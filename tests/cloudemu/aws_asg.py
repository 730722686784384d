"""Auto Scaling (API version 2011-01-01) for the AWS emulator: the actions,
their parameters as the API reference gives them, and the response
documents in the namespace http://autoscaling.amazonaws.com/doc/2011-01-01/.
"""

from aws_wire import AwsError, Members, page, timestamp

VERSION = "2011-01-01"


def _bad_token():
    return AwsError(400, "InvalidNextToken", "The token provided is invalid.")


def _template_spec(lt):
    return {"LaunchTemplateId": lt["id"], "LaunchTemplateName": lt["name"], "Version": lt["version"]}


def _tags(grp):
    return Members({"ResourceId": grp.name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
                    "PropagateAtLaunch": p} for k, v, p in grp.tags)


def _instance(grp, i, with_group=False):
    doc = {"InstanceId": i.id, "InstanceType": i.type}
    if with_group:
        doc["AutoScalingGroupName"] = grp.name
    doc.update({"AvailabilityZone": i.zone, "LifecycleState": i.lifecycle,
                "HealthStatus": "HEALTHY" if with_group else "Healthy",
                "ProtectedFromScaleIn": i.protected})
    if grp.launch_configuration is not None:
        doc["LaunchConfigurationName"] = grp.launch_configuration["name"]
    else:
        doc["LaunchTemplate"] = _template_spec(grp.launch_template)
    return doc


def _group(cloud, grp):
    doc = {"AutoScalingGroupName": grp.name, "AutoScalingGroupARN": grp.arn}
    if grp.launch_configuration is not None:
        doc["LaunchConfigurationName"] = grp.launch_configuration["name"]
    elif grp.distribution is None:
        doc["LaunchTemplate"] = _template_spec(grp.launch_template)
    else:
        d = grp.distribution
        doc["MixedInstancesPolicy"] = {
            "LaunchTemplate": {"LaunchTemplateSpecification": _template_spec(grp.launch_template),
                               "Overrides": Members({"InstanceType": o["instanceType"],
                                                     "WeightedCapacity": o["weightedCapacity"]}
                                                    for o in grp.overrides)},
            "InstancesDistribution": {"OnDemandAllocationStrategy": d["onDemandAllocationStrategy"],
                                      "OnDemandBaseCapacity": d["onDemandBaseCapacity"],
                                      "OnDemandPercentageAboveBaseCapacity": d["onDemandPercentageAboveBaseCapacity"],
                                      "SpotAllocationStrategy": d["spotAllocationStrategy"],
                                      "SpotInstancePools": d["spotInstancePools"]
                                      if d["spotAllocationStrategy"] == "lowest-price" else None,
                                      "SpotMaxPrice": d["spotMaxPrice"]}}
    doc.update({"MinSize": grp.min, "MaxSize": grp.max, "DesiredCapacity": grp.desired, "DefaultCooldown": 300,
                "AvailabilityZones": Members(grp.zones), "LoadBalancerNames": Members(),
                "TargetGroupARNs": Members(), "HealthCheckType": "EC2", "HealthCheckGracePeriod": 300,
                "Instances": Members(_instance(grp, i) for i in grp.instances),
                "CreatedTime": timestamp(grp.created), "SuspendedProcesses": Members(),
                "VPCZoneIdentifier": ",".join("subnet-%08x" % (cloud.zones.index(z) + 0x0a1b2c3d) for z in grp.zones),
                "EnabledMetrics": Members(), "Tags": _tags(grp), "TerminationPolicies": Members(["Default"]),
                "NewInstancesProtectedFromScaleIn": False,
                "ServiceLinkedRoleARN": "arn:aws:iam::%s:role/aws-service-role/autoscaling.amazonaws.com/"
                                        "AWSServiceRoleForAutoScaling" % cloud.account,
                "CapacityRebalance": False})
    return doc


def _tag_filter(filters):
    """Filters tag-key, tag-value, tag:<key> (values OR'ed, filters AND'ed)."""
    checks = []
    for name, values in filters:
        if not values:
            raise AwsError(400, "ValidationError", "The filter %s has no values" % name)
        if name == "tag-key":
            checks.append(lambda g, vs=values: any(k in vs for k, _, _ in g.tags))
        elif name == "tag-value":
            checks.append(lambda g, vs=values: any(v in vs for _, v, _ in g.tags))
        elif name.startswith("tag:") and len(name) > 4:
            checks.append(lambda g, key=name[4:], vs=values: any(k == key and v in vs for k, v, _ in g.tags))
        elif name == "auto-scaling-group":
            checks.append(lambda g, vs=values: g.name in vs)
        else:
            raise AwsError(400, "ValidationError", "Filter name '%s' is invalid. Valid filters are "
                           "auto-scaling-group, tag-key, tag-value and tag:<key>." % name)
    return checks


def describe_auto_scaling_groups(cloud, p):
    names = p.members("AutoScalingGroupNames")
    checks = _tag_filter(p.asg_filters())
    with cloud.lock:
        groups = [g for g in cloud.groups.values() if (not names or g.name in names)]
        groups = [g for g in groups if all(c(g) for c in checks)]
        chunk, nxt = _page(p, groups, 50, 100)
        return {"AutoScalingGroups": Members(_group(cloud, g) for g in chunk), "NextToken": nxt}


def _page(p, items, default, hi):
    return page(items, p, "NextToken", "MaxRecords", default, hi, _bad_token())


def set_desired_capacity(cloud, p):
    name = p.required("AutoScalingGroupName")
    desired = p.integer("DesiredCapacity", lo=0)
    if desired is None:
        p.required("DesiredCapacity")
    p.boolean("HonorCooldown", False)
    p.check_unknown()  # before anything changes
    cloud.set_desired(name, desired)
    return None


def _activity(a):
    return {"ActivityId": a.id, "AutoScalingGroupName": a.group, "Description": a.description, "Cause": a.cause,
            "StartTime": timestamp(a.start), "EndTime": timestamp(a.end) if a.end else None,
            "StatusCode": a.status, "StatusMessage": a.message, "Progress": a.progress,
            "Details": "{\"Subnet ID\":\"subnet-0a1b2c3d\",\"Availability Zone\":\"\"}"}


def terminate_instance(cloud, p):
    iid = p.required("InstanceId")
    decrement = p.get("ShouldDecrementDesiredCapacity")
    if decrement is None:
        p.required("ShouldDecrementDesiredCapacity")
    decrement = p.boolean("ShouldDecrementDesiredCapacity")
    p.check_unknown()
    act = cloud.terminate_instance(iid, decrement)
    return {"Activity": _activity(act)}


def describe_auto_scaling_instances(cloud, p):
    ids = p.members("InstanceIds")
    with cloud.lock:
        rows = []
        for grp in cloud.groups.values():
            for i in grp.instances:
                if not ids or i.id in ids:
                    rows.append((grp, i))
        chunk, nxt = _page(p, rows, 50, 50)
        return {"AutoScalingInstances": Members(_instance(g, i, True) for g, i in chunk), "NextToken": nxt}


def describe_scaling_activities(cloud, p):
    name = p.get("AutoScalingGroupName")
    ids = p.members("ActivityIds")
    p.boolean("IncludeDeletedGroups", False)
    with cloud.lock:
        acts = [a for a in reversed(cloud.activities)
                if (not name or a.group == name) and (not ids or a.id in ids)]
        chunk, nxt = _page(p, acts, 100, 100)
        return {"Activities": Members(_activity(a) for a in chunk), "NextToken": nxt}


def _launch_configuration(cloud, lc):
    doc = {"LaunchConfigurationName": lc["name"],
           "LaunchConfigurationARN": "arn:aws:autoscaling:%s:%s:launchConfiguration:%s:launchConfigurationName/%s"
           % (cloud.region, cloud.account, lc["uuid"], lc["name"]),
           "ImageId": "ami-0c2b8ca1dad447f8a", "SecurityGroups": Members(["sg-0a1b2c3d4e5f60718"]),
           "ClassicLinkVPCSecurityGroups": Members(), "UserData": "", "InstanceType": lc["instanceType"],
           "KernelId": "", "RamdiskId": "", "BlockDeviceMappings": Members(),
           "InstanceMonitoring": {"Enabled": True}}
    if lc["spotPrice"] is not None:
        doc["SpotPrice"] = lc["spotPrice"]
    doc.update({"CreatedTime": timestamp(lc["created"]), "EbsOptimized": False})
    return doc


def describe_launch_configurations(cloud, p):
    names = p.members("LaunchConfigurationNames")
    if len(names) > 50:
        raise AwsError(400, "ValidationError", "1 validation error detected: Value at 'launchConfigurationNames' "
                       "failed to satisfy constraint: Member must have length less than or equal to 50")
    with cloud.lock:
        seen, lcs = set(), []
        for g in cloud.groups.values():
            lc = g.launch_configuration
            if lc is not None and lc["name"] not in seen and (not names or lc["name"] in names):
                seen.add(lc["name"])
                lcs.append(lc)
        lcs.sort(key=lambda lc: lc["name"])
        chunk, nxt = _page(p, lcs, 50, 100)
        return {"LaunchConfigurations": Members(_launch_configuration(cloud, lc) for lc in chunk), "NextToken": nxt}


ACTIONS = {
    "DescribeLaunchConfigurations": describe_launch_configurations,
    "DescribeAutoScalingGroups": describe_auto_scaling_groups,
    "SetDesiredCapacity": set_desired_capacity,
    "TerminateInstanceInAutoScalingGroup": terminate_instance,
    "DescribeAutoScalingInstances": describe_auto_scaling_instances,
    "DescribeScalingActivities": describe_scaling_activities,
}
