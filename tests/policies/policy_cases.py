"""One happy-path argument set per policy, and the one-field change that breaks it (AWSGuard style).

``CASES[name]`` builds the arguments for a variant: ``"pass"``, ``"fail"`` or ``"na"``
(not applicable; ``None`` when the policy always applies). ``config`` is merged into the
policy config, so tests can add ``exceptionsFile``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hybrid_ai_platform.policies.testing import policy_resource, provider, resource_args, stack_args
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from tests.policies.rules import support

Args = ResourceValidationArgs | StackValidationArgs
Builder = Callable[[str, dict[str, Any]], Args]

REGIONS = {"allowedRegions": ["eu-central-1", "eu-west-1"]}
TAGS = {
    "environment": "prod",
    "owner": "ml-platform",
    "cost-center": "cc-4711",
    "data-classification": "restricted",
    "managed-by": "pulumi/hybrid-ai-platform-blueprints",
}
KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


@dataclass(frozen=True)
class Case:
    """How to build each variant of a policy's arguments and what its failure says."""

    build: Builder
    failure: str
    """A substring of the failing variant's violation message."""
    config: dict[str, Any]
    has_na: bool = True


def _deny_tls(bucket: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def bucket_family(
    name: str, purpose: str, log_bucket: PolicyResource | None, change: dict[str, Any] | None = None
) -> list[PolicyResource]:
    """A bucket with every v7 sibling as ArtifactBucket creates it; ``change`` edits or drops (None) siblings."""
    change = change or {}
    props: dict[str, Any] = {"tags": {**TAGS, "purpose": purpose}}
    if purpose == "models":
        props["objectLockEnabled"] = True
    bucket = policy_resource("aws:s3/bucket:Bucket", {**props, **change.get("bucket", {})}, f"{name}-bucket")
    dep = {"bucket": [bucket]}
    sse = (
        {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN} if log_bucket is not None else {"sseAlgorithm": "AES256"}
    )
    siblings: dict[str, tuple[str, dict[str, Any], dict[str, list[PolicyResource]]]] = {
        "public-access": (
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            {
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            dep,
        ),
        "encryption": (
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            {"rules": [{"applyServerSideEncryptionByDefault": sse, "bucketKeyEnabled": True}]},
            dep,
        ),
        "policy": (
            "aws:s3/bucketPolicy:BucketPolicy",
            {"policy": _deny_tls(name)},
            {"bucket": [bucket], "policy": [bucket]},
        ),
        "versioning": (
            "aws:s3/bucketVersioning:BucketVersioning",
            {"versioningConfiguration": {"status": "Enabled"}},
            dep,
        ),
        "ownership": (
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            {"rule": {"objectOwnership": "BucketOwnerEnforced"}},
            dep,
        ),
    }
    if log_bucket is not None:
        siblings["access-logging"] = (
            "aws:s3/bucketLogging:BucketLogging",
            {"targetBucket": log_bucket.name, "targetPrefix": f"{name}/"},
            {"bucket": [bucket], "targetBucket": [log_bucket]},
        )
    if purpose == "models":
        siblings["object-lock"] = (
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            {"objectLockEnabled": "Enabled", "rule": {"defaultRetention": {"days": 30, "mode": "COMPLIANCE"}}},
            dep,
        )
    resources = [bucket]
    for suffix, (type_, sibling_props, deps) in siblings.items():
        if suffix in change and change[suffix] is None:
            continue
        merged = {**sibling_props, **(change.get(suffix) or {})}
        resources.append(policy_resource(type_, {"bucket": name, **merged}, f"{name}-{suffix}", deps))
    return resources


def storage(change: dict[str, Any] | None = None, purpose: str = "landing") -> list[PolicyResource]:
    """A log bucket plus a data bucket logging to it; ``change`` applies to the data bucket."""
    logs = bucket_family("access-logs", "access-logs", None)
    return logs + bucket_family("data", purpose, logs[0], change)


def _stack(resources: list[PolicyResource], config: dict[str, Any]) -> StackValidationArgs:
    return stack_args(resources, config)


def _res(type_: str, props: dict[str, Any], name: str = "r") -> Callable[[dict[str, Any]], ResourceValidationArgs]:
    return lambda config: resource_args(type_, props, name=name, config=config)


def _variants(
    passing: Callable[[dict[str, Any]], Args],
    failing: Callable[[dict[str, Any]], Args],
    na: Callable[[dict[str, Any]], Args] | None = None,
) -> Builder:
    def build(variant: str, config: dict[str, Any]) -> Args:
        chosen = {"pass": passing, "fail": failing, "na": na}[variant]
        assert chosen is not None, f"no {variant} variant"
        return chosen(config)

    return build


def _provider_stack(region: str | None) -> Callable[[dict[str, Any]], Args]:
    def build(config: dict[str, Any]) -> Args:
        props = {"region": region} if region else {}
        aws = policy_resource("pulumi:providers:aws", props, "aws", with_provider=False)
        topic = policy_resource("aws:sns/topic:Topic", {}, "topic", provider_resource=provider(region))
        return _stack([aws, topic], config)

    return build


def _replication(dest_region: str) -> Callable[[dict[str, Any]], Args]:
    def build(config: dict[str, Any]) -> Args:
        source = policy_resource("aws:s3/bucket:Bucket", {}, "source")
        dest = policy_resource("aws:s3/bucket:Bucket", {}, "replica", provider_resource=provider(dest_region, "dr"))
        role = policy_resource("aws:iam/role:Role", {}, "replication-role")
        rules = [{"id": "all", "status": "Enabled", "destination": {"bucket": "arn:aws:s3:::replica"}}]
        replication = policy_resource(
            "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
            {"bucket": "source", "role": "arn", "rules": rules},
            "replication",
            {"bucket": [source], "rules": [dest], "role": [role]},
        )
        return _stack([source, dest, role, replication], config)

    return build


def _node_groups(max_size: int, instance: str = "g5.xlarge") -> Callable[[dict[str, Any]], Args]:
    def build(config: dict[str, Any]) -> Args:
        group = policy_resource(
            "aws:eks/nodeGroup:NodeGroup",
            {"instanceTypes": [instance], "scalingConfig": {"minSize": 0, "desiredSize": 1, "maxSize": max_size}},
            "gpu",
        )
        system = policy_resource(
            "aws:eks/nodeGroup:NodeGroup",
            {"instanceTypes": ["m7i.large"], "scalingConfig": {"minSize": 2, "desiredSize": 2, "maxSize": 20}},
            "system",
        )
        return _stack([group, system], config)

    return build


def _queues(redrive: bool, rbif: bool = True) -> Callable[[dict[str, Any]], Args]:
    def build(config: dict[str, Any]) -> Args:
        dlq = policy_resource("aws:sqs/queue:Queue", {"kmsMasterKeyId": KEY_ARN}, "work-dlq")
        props: dict[str, Any] = {"kmsMasterKeyId": KEY_ARN}
        deps: dict[str, list[PolicyResource]] = {}
        if redrive:
            props["redrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": "arn:aws:sqs:eu-central-1:123456789012:work-dlq", "maxReceiveCount": 5}
            )
            deps["redrivePolicy"] = [dlq]
        queue = policy_resource("aws:sqs/queue:Queue", props, "work-queue", deps)
        function = policy_resource("aws:lambda/function:Function", {"runtime": "python3.12"}, "work-function")
        mapping = policy_resource(
            "aws:lambda/eventSourceMapping:EventSourceMapping",
            {
                "eventSourceArn": "arn:aws:sqs:eu-central-1:123456789012:work-queue",
                "functionName": "work",
                "functionResponseTypes": ["ReportBatchItemFailures"] if rbif else [],
                "scalingConfig": {"maximumConcurrency": 5},
            },
            "work-trigger",
            {"eventSourceArn": [queue], "functionName": [function]},
        )
        return _stack([dlq, queue, function, mapping], config)

    return build


def _deployment(
    container_change: dict[str, Any] | None = None, kind: str = "Deployment"
) -> Callable[[dict[str, Any]], Args]:
    container: dict[str, Any] = {
        "name": "server",
        "image": "123456789012.dkr.ecr.eu-central-1.amazonaws.com/fraud-scorer:1.4.0",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": 1}, "requests": {"cpu": "2"}},
    }
    for key, value in (container_change or {}).items():
        if key == "securityContext":
            container["securityContext"] = {**container["securityContext"], **value}
        else:
            container[key] = value
    pod = {"spec": {"containers": [container]}}
    if kind == "CronJob":
        props = {"spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": pod}}}}
        return _res("kubernetes:batch/v1:CronJob", props, "job")
    return _res("kubernetes:apps/v1:Deployment", {"spec": {"template": pod}}, "server")


def _iam(document: dict[str, Any], type_: str = "aws:iam/rolePolicy:RolePolicy") -> Callable[[dict[str, Any]], Args]:
    return _res(type_, {"role": "r", "policy": json.dumps(document)}, "role-policy")


def _statement(**fields: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **fields}]}


_FUNCTION = {
    "runtime": "python3.12",
    "memorySize": 1024,
    "timeout": 60,
    "reservedConcurrentExecutions": 5,
    "tracingConfig": {"mode": "Active"},
    "environment": {"variables": {"FEATURE_BUCKET": "features-1"}},
}
_CLUSTER = {
    "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True, "subnetIds": ["subnet-1"]},
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}},
    "enabledClusterLogTypes": ["api", "audit", "authenticator"],
}
_TEMPLATE = {
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1, "httpEndpoint": "enabled"},
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 200, "volumeType": "gp3"}}],
}
_GROUP = {"instanceTypes": ["m7i.large"], "scalingConfig": {"minSize": 1, "desiredSize": 2, "maxSize": 3}}
_ALLOW_EVENTS = {
    "Effect": "Allow",
    "Principal": {"Service": "events.amazonaws.com"},
    "Action": "sqs:SendMessage",
    "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:events:eu-central-1:123456789012:rule/x"}},
}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def _pss(pod_change: dict[str, Any] | None = None, container_change: dict[str, Any] | None = None) -> Builder:
    """Pass: a restricted Deployment; fail: the change applied (pod-level and/or first container)."""
    passing = support.restricted_pod()
    failing = support.with_container(passing, container_change) if container_change else passing
    failing = support.with_pod(failing, **pod_change) if pod_change else failing
    return _variants(
        lambda config: support.workload("Deployment", passing, config=config),
        lambda config: support.workload("Deployment", failing, config=config),
        lambda config: support.helm("nvidia-device-plugin", {}, config=config),
    )


PSS_CASES: dict[str, Case] = {
    "k8s-pss-host-process": Case(
        _pss(container_change={"securityContext": {"windowsOptions": {"hostProcess": True}}}), "hostProcess=true", {}
    ),
    "k8s-pss-host-namespaces": Case(_pss({"hostNetwork": True}), "the pod sets hostNetwork=true", {}),
    "k8s-pss-capabilities": Case(
        _pss(container_change={"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}), "adds ['SYS_ADMIN']", {}
    ),
    "k8s-pss-host-path-volumes": Case(
        _pss({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}), "mounts host path /", {}
    ),
    "k8s-pss-host-ports": Case(
        _pss(container_change={"ports": [{"containerPort": 80, "hostPort": 80}]}), "binds host port 80", {}
    ),
    "k8s-pss-apparmor": Case(
        _pss({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}), "appArmorProfile.type=Unconfined", {}
    ),
    "k8s-pss-selinux": Case(
        _pss(container_change={"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}),
        "seLinuxOptions.type=spc_t",
        {},
    ),
    "k8s-pss-proc-mount": Case(
        _pss(container_change={"securityContext": {"procMount": "Unmasked"}}), "procMount=Unmasked", {}
    ),
    "k8s-pss-seccomp": Case(
        _pss(container_change={"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
        "seccompProfile.type=Unconfined",
        {},
    ),
    "k8s-pss-sysctls": Case(
        _pss({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}), "sysctl kernel.msgmax", {}
    ),
    "k8s-pss-probe-host": Case(
        _pss(container_change={"livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}}),
        "livenessProbe.httpGet.host is 10.0.0.1",
        {},
    ),
    "k8s-pss-volume-types": Case(
        _pss({"volumes": [{"name": "share", "nfs": {"server": "fs", "path": "/"}}]}), "is of type nfs", {}
    ),
    "k8s-pss-privilege-escalation": Case(
        _pss(container_change={"securityContext": {"allowPrivilegeEscalation": True}}),
        "does not set allowPrivilegeEscalation=false",
        {},
    ),
    "k8s-pss-run-as-non-root-user": Case(_pss({"securityContext": {"runAsUser": 0}}), "the pod sets runAsUser=0", {}),
}


def _log_groups(kms: bool) -> Callable[[dict[str, Any]], Args]:
    def build(config: dict[str, Any]) -> Args:
        key = policy_resource("aws:kms/key:Key", {"enableKeyRotation": True}, "stack-key")
        props: dict[str, Any] = {"retentionInDays": 90, **({"kmsKeyId": KEY_ARN} if kms else {})}
        group = policy_resource("aws:cloudwatch/logGroup:LogGroup", props, "logs", {"kmsKeyId": [key]} if kms else {})
        return _stack([key, group], config)

    return build


def _repositories(scan: bool) -> Callable[[dict[str, Any]], Args]:
    def build(config: dict[str, Any]) -> Args:
        props = {"name": "app", "imageScanningConfiguration": {"scanOnPush": scan}}
        return _stack([policy_resource("aws:ecr/repository:Repository", props, "repo")], config)

    return build


def _security_group(cidrs: list[str]) -> Callable[[dict[str, Any]], Args]:
    def build(config: dict[str, Any]) -> Args:
        group = policy_resource("aws:ec2/securityGroup:SecurityGroup", {"vpcId": "vpc-1"}, "api")
        rules = [
            policy_resource(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                {"securityGroupId": "sg-1", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": cidr},
                f"rule-{i}",
                {"securityGroupId": [group]},
            )
            for i, cidr in enumerate(cidrs)
        ]
        return _stack([group, *rules], config)

    return build


_TRUST_SERVICE = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}

EXTRA_CASES: dict[str, Case] = {
    "iam-trust-not-public": Case(
        _variants(
            _res("aws:iam/role:Role", {"assumeRolePolicy": json.dumps({"Statement": [_TRUST_SERVICE]})}, "role"),
            _res(
                "aws:iam/role:Role",
                {"assumeRolePolicy": json.dumps({"Statement": [{**_TRUST_SERVICE, "Principal": {"AWS": "*"}}]})},
                "role",
            ),
        ),
        "lets any principal assume it",
        {},
    ),
    "network-no-world-ingress": Case(
        _variants(_security_group(["10.0.0.0/8"]), _security_group(["0.0.0.0/1", "128.0.0.0/1"])),
        "admits tcp 443 from the IPv4 internet",
        {},
        has_na=False,
    ),
    "kms-key-rotation": Case(
        _variants(
            _res("aws:kms/key:Key", {"enableKeyRotation": True}),
            _res("aws:kms/key:Key", {"enableKeyRotation": False}),
            _res("aws:kms/key:Key", {"customerMasterKeySpec": "HMAC_256", "keyUsage": "GENERATE_VERIFY_MAC"}),
        ),
        "does not rotate its key material",
        {},
    ),
    "ecr-tag-immutability": Case(
        _variants(
            _res("aws:ecr/repository:Repository", {"imageTagMutability": "IMMUTABLE"}),
            _res("aws:ecr/repository:Repository", {"imageTagMutability": "MUTABLE"}),
        ),
        "a pushed tag can be overwritten",
        {},
    ),
    "ecr-image-scanning": Case(
        _variants(_repositories(True), _repositories(False)), "does not scan images on push", {}, has_na=False
    ),
    "s3-no-public-acl-grants": Case(
        _variants(
            _res("aws:s3/bucketAcl:BucketAcl", {"bucket": "b", "acl": "private"}),
            _res("aws:s3/bucketAcl:BucketAcl", {"bucket": "b", "acl": "public-read"}),
        ),
        "uses the canned ACL public-read",
        {},
    ),
    "logs-retention": Case(
        _variants(
            _res("aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 90}),
            _res("aws:cloudwatch/logGroup:LogGroup", {}),
        ),
        "keeps events forever",
        {},
    ),
    "logs-encrypted-with-stack-key": Case(
        _variants(_log_groups(True), _log_groups(False)), "no kmsKeyId", {}, has_na=False
    ),
}


CASES: dict[str, Case] = {
    # -- residency ------------------------------------------------------------------------------
    "residency-provider-region": Case(
        _variants(_provider_stack("eu-central-1"), _provider_stack("us-east-1")),
        "uses region us-east-1, outside the allowed regions",
        REGIONS,
        has_na=False,
    ),
    "residency-resource-region": Case(
        _variants(
            _res("aws:s3/bucket:Bucket", {"region": "eu-west-1"}),
            _res("aws:s3/bucket:Bucket", {"region": "us-east-1"}),
            _res("aws:s3/bucket:Bucket", {}),
        ),
        "is placed in us-east-1",
        REGIONS,
    ),
    "residency-s3-replication": Case(
        _variants(_replication("eu-west-1"), _replication("us-west-2")),
        "copies data to bucket 'replica' in us-west-2",
        REGIONS,
        has_na=False,
    ),
    "residency-kms-replica-region": Case(
        _variants(
            _res("aws:kms/replicaKey:ReplicaKey", {"primaryKeyArn": KEY_ARN, "region": "eu-west-1"}),
            _res("aws:kms/replicaKey:ReplicaKey", {"primaryKeyArn": KEY_ARN, "region": "ap-south-1"}),
        ),
        "replicates key material to ap-south-1",
        REGIONS,
    ),
    "residency-kms-single-region": Case(
        _variants(_res("aws:kms/key:Key", {"multiRegion": False}), _res("aws:kms/key:Key", {"multiRegion": True})),
        "is a multi-region key",
        {},
    ),
    # -- tagging --------------------------------------------------------------------------------
    "tags-required": Case(
        _variants(
            _res("aws:sqs/queue:Queue", {"tags": TAGS}),
            _res(
                "aws:sqs/queue:Queue",
                {"tags": {**{k: v for k, v in TAGS.items() if k != "cost-center"}, "Cost-Center": "cc-4711"}},
            ),
        ),
        "tag key 'Cost-Center' must be spelled exactly 'cost-center'",
        {},
    ),
    "tags-allowed-values": Case(
        _variants(
            _res("aws:sqs/queue:Queue", {"tags": TAGS}),
            _res("aws:sqs/queue:Queue", {"tags": {**TAGS, "environment": "qa"}}),
        ),
        "tag 'environment' has value 'qa'; allowed: ['prod']",
        {"allowedValues": {"environment": ["prod"], "cost-center": ["cc-*"]}},
    ),
    # -- budget ---------------------------------------------------------------------------------
    "budget-instance-types": Case(
        _variants(
            _res("aws:eks/nodeGroup:NodeGroup", _GROUP),
            _res("aws:eks/nodeGroup:NodeGroup", _with(_GROUP, instanceTypes=["p5.48xlarge"])),
            _res("aws:eks/nodeGroup:NodeGroup", {"scalingConfig": _GROUP["scalingConfig"]}),
        ),
        "uses instance type p5.48xlarge",
        {"allowedInstanceTypes": ["m7i.*", "g5.xlarge"]},
    ),
    "budget-node-group-max-size": Case(
        _variants(
            _res("aws:eks/nodeGroup:NodeGroup", _GROUP),
            _res(
                "aws:eks/nodeGroup:NodeGroup",
                _with(_GROUP, scalingConfig={"minSize": 1, "desiredSize": 2, "maxSize": 9}),
            ),
            _res("aws:eks/nodeGroup:NodeGroup", {"instanceTypes": ["m7i.large"]}),
        ),
        "may scale to 9 nodes; the cap here is 4",
        {"maxNodeGroupSize": 4},
    ),
    "budget-gpu-total": Case(
        _variants(_node_groups(4), _node_groups(5)),
        "GPU node groups can reach 5 GPUs (gpu: 5 x 1); the cap here is 4",
        {"maxTotalGpus": 4},
        has_na=False,
    ),
    "budget-lambda-limits": Case(
        _variants(
            _res("aws:lambda/function:Function", _FUNCTION),
            _res("aws:lambda/function:Function", _with(_FUNCTION, memorySize=8192)),
        ),
        "has memory 8192MB; the cap here is 4096MB",
        {},
    ),
    "budget-sqs-maximum-concurrency": Case(
        _variants(
            _res(
                "aws:lambda/eventSourceMapping:EventSourceMapping",
                {"eventSourceArn": "arn:aws:sqs:eu-central-1:1:q", "scalingConfig": {"maximumConcurrency": 5}},
            ),
            _res(
                "aws:lambda/eventSourceMapping:EventSourceMapping", {"eventSourceArn": "arn:aws:sqs:eu-central-1:1:q"}
            ),
            _res(
                "aws:lambda/eventSourceMapping:EventSourceMapping",
                {"eventSourceArn": "arn:aws:kinesis:eu-central-1:1:stream/s"},
            ),
        ),
        "reads SQS without scalingConfig.maximumConcurrency",
        {},
    ),
    "placement-cost": Case(
        # the fail variant is tests/policies/test_placement.py's BIG case in eu-central-1 (the test provider's
        # region): 50M requests of 1 s at 2048 MB arm64, $1,343.34 on Lambda; cluster 14 nodes x $0.05 x 730 = 511.00
        # plus 0.1 x m7i.large $0.1210 x 730 = 8.83: $519.83, so (1343.34 - 519.83) / 519.83 = 158% more
        _variants(
            _res("aws:lambda/function:Function", _with(_FUNCTION, memorySize=512), name="small"),
            _res("aws:lambda/function:Function", _with(_FUNCTION, memorySize=2048, architectures=["arm64"]), "big"),
        ),
        "function 'big' costs $1,343.34/month on Lambda, 158% more than cluster at $519.83/month (threshold 20%)",
        {
            "usage": {
                "functions": {"big": {"requests_per_month": 50_000_000, "average_duration_ms": 1000}},
                "cluster": {"spot_price_per_hour": 0.05},
            }
        },
        has_na=False,
    ),
    "budget-monthly-cost": Case(
        lambda variant, config: _stack(
            [policy_resource("aws:kms/key:Key", {}, "key")],
            {**config, "monthlyLimitUsd": 10 if variant == "pass" else 0.5},
        ),
        "estimated monthly cost $1.00 is above the ceiling $0.50; largest: key $1.00",
        {},
        has_na=False,
    ),
    "budget-required": Case(
        _variants(
            lambda config: _stack(
                [
                    policy_resource(
                        "aws:budgets/budget:Budget",
                        {"budgetType": "COST", "limitAmount": "100", "notifications": [{"threshold": 80}]},
                        "budget",
                    )
                ],
                config,
            ),
            lambda config: _stack([policy_resource("aws:kms/key:Key", {}, "key")], config),
        ),
        "the stack has no aws:budgets/budget:Budget",
        {},
        has_na=False,
    ),
    # -- S3 -------------------------------------------------------------------------------------
    "s3-public-access-block": Case(
        _variants(lambda c: _stack(storage(), c), lambda c: _stack(storage({"public-access": None}), c)),
        "bucket 'data-bucket' has no public access block",
        {},
        has_na=False,
    ),
    "s3-encryption": Case(
        _variants(
            lambda c: _stack(storage(), c),
            lambda c: _stack(
                storage(
                    {"encryption": {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}}
                ),
                c,
            ),
        ),
        "bucket 'data-bucket' is encrypted with AES256, not SSE-KMS",
        {},
        has_na=False,
    ),
    "s3-tls-only": Case(
        _variants(
            lambda c: _stack(storage(), c),
            lambda c: _stack(
                storage({"policy": {"policy": json.dumps({"Version": "2012-10-17", "Statement": []})}}), c
            ),
        ),
        "bucket 'data-bucket': its policy does not deny requests without TLS",
        {},
        has_na=False,
    ),
    "s3-no-public-principal": Case(
        _variants(
            _res("aws:s3/bucketPolicy:BucketPolicy", {"policy": _deny_tls("data")}),
            _res(
                "aws:s3/bucketPolicy:BucketPolicy",
                {"policy": json.dumps(_statement(Sid="Open", Principal="*", Action="s3:GetObject", Resource="*"))},
            ),
        ),
        "statement Open allows everyone ('*') without a condition",
        {},
    ),
    "s3-versioning": Case(
        _variants(
            lambda c: _stack(storage(), c),
            lambda c: _stack(storage({"versioning": {"versioningConfiguration": {"status": "Suspended"}}}), c),
        ),
        "bucket 'data-bucket' versioning is Suspended, not Enabled",
        {},
        has_na=False,
    ),
    "s3-acls-disabled": Case(
        _variants(
            lambda c: _stack(storage(), c),
            lambda c: _stack(storage({"ownership": {"rule": {"objectOwnership": "ObjectWriter"}}}), c),
        ),
        "bucket 'data-bucket' keeps ACLs enabled (ObjectWriter)",
        {},
        has_na=False,
    ),
    "s3-access-logging": Case(
        _variants(lambda c: _stack(storage(), c), lambda c: _stack(storage({"access-logging": None}), c)),
        "bucket 'data-bucket' has no server access logging",
        {},
        has_na=False,
    ),
    "s3-model-registry-object-lock": Case(
        _variants(
            lambda c: _stack(storage(purpose="models"), c),
            lambda c: _stack(storage({"object-lock": None}, purpose="models"), c),
            lambda c: _stack(storage(), c),
        ),
        "model registry bucket 'data-bucket' has no default Object Lock retention",
        {},
    ),
    # -- SQS ------------------------------------------------------------------------------------
    "sqs-encryption": Case(
        _variants(_res("aws:sqs/queue:Queue", {"kmsMasterKeyId": KEY_ARN}), _res("aws:sqs/queue:Queue", {})),
        "queue 'r' is not encrypted with a KMS key",
        {},
    ),
    "sqs-dead-letter-queue": Case(
        _variants(_queues(redrive=True), _queues(redrive=False)),
        "queue 'work-queue' has no dead-letter queue",
        {},
        has_na=False,
    ),
    "sqs-queue-policy-not-public": Case(
        _variants(
            _res(
                "aws:sqs/queuePolicy:QueuePolicy",
                {"policy": json.dumps({"Statement": [{**_ALLOW_EVENTS, "Sid": "Rule"}]})},
            ),
            _res(
                "aws:sqs/queuePolicy:QueuePolicy",
                {
                    "policy": json.dumps(
                        {
                            "Statement": [
                                {
                                    "Sid": "Open",
                                    "Effect": "Allow",
                                    "Principal": {"AWS": "*"},
                                    "Action": "sqs:SendMessage",
                                }
                            ]
                        }
                    )
                },
            ),
        ),
        "statement Open allows '*' without a condition",
        {},
    ),
    # -- Lambda ---------------------------------------------------------------------------------
    "lambda-tracing-active": Case(
        _variants(
            _res("aws:lambda/function:Function", _FUNCTION),
            _res("aws:lambda/function:Function", _with(_FUNCTION, tracingConfig={"mode": "PassThrough"})),
        ),
        "tracing mode is PassThrough, not Active",
        {},
    ),
    "lambda-failure-handling": Case(
        _variants(_queues(redrive=True), _queues(redrive=True, rbif=False)),
        "SQS trigger 'work-trigger' does not report batch item failures",
        {},
        has_na=False,
    ),
    "lambda-no-secrets-in-environment": Case(
        _variants(
            _res("aws:lambda/function:Function", _FUNCTION),
            _res("aws:lambda/function:Function", _with(_FUNCTION, environment={"variables": {"DB_PASSWORD": "x"}})),
        ),
        "environment variable DB_PASSWORD looks like a secret",
        {},
    ),
    "lambda-supported-runtime": Case(
        _variants(
            _res("aws:lambda/function:Function", _FUNCTION),
            _res("aws:lambda/function:Function", _with(_FUNCTION, runtime="python3.8")),
            _res("aws:lambda/function:Function", {"packageType": "Image"}),
        ),
        "uses runtime python3.8",
        {},
    ),
    # -- EKS ------------------------------------------------------------------------------------
    "eks-endpoint-not-public": Case(
        _variants(
            _res("aws:eks/cluster:Cluster", _CLUSTER),
            _res(
                "aws:eks/cluster:Cluster",
                _with(_CLUSTER, vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}),
            ),
        ),
        "public endpoint is on and open to ['0.0.0.0/0']",
        {},
    ),
    "eks-secrets-encryption": Case(
        _variants(
            _res("aws:eks/cluster:Cluster", _CLUSTER),
            _res("aws:eks/cluster:Cluster", {k: v for k, v in _CLUSTER.items() if k != "encryptionConfig"}),
        ),
        "does not encrypt Kubernetes secrets",
        {},
    ),
    "eks-control-plane-logging": Case(
        _variants(
            _res("aws:eks/cluster:Cluster", _CLUSTER),
            _res("aws:eks/cluster:Cluster", _with(_CLUSTER, enabledClusterLogTypes=["api"])),
        ),
        "does not log audit, authenticator",
        {},
    ),
    "eks-node-imdsv2": Case(
        _variants(
            _res("aws:ec2/launchTemplate:LaunchTemplate", _TEMPLATE),
            _res(
                "aws:ec2/launchTemplate:LaunchTemplate",
                _with(_TEMPLATE, metadataOptions={"httpTokens": "required", "httpPutResponseHopLimit": 2}),
            ),
        ),
        "metadata hop limit is 2",
        {},
    ),
    "eks-no-ssh": Case(
        _variants(
            _res("aws:eks/nodeGroup:NodeGroup", _GROUP),
            _res("aws:eks/nodeGroup:NodeGroup", _with(_GROUP, remoteAccess={"ec2SshKey": "ops"})),
        ),
        "opens SSH through remoteAccess",
        {},
    ),
    # -- IAM ------------------------------------------------------------------------------------
    "iam-no-wildcard-action": Case(
        _variants(
            _iam(_statement(Sid="Read", Action=["s3:GetObject"], Resource="arn:aws:s3:::b/*")),
            _iam(_statement(Sid="All", Action="*", Resource="arn:aws:s3:::b/*")),
        ),
        "statement All allows every action ('*')",
        {},
    ),
    "iam-no-wildcard-resource-for-data": Case(
        _variants(
            _iam(_statement(Sid="Traces", Action=["xray:PutTraceSegments"], Resource="*")),
            _iam(_statement(Sid="Read", Action=["s3:GetObject", "xray:PutTraceSegments"], Resource="*")),
        ),
        "statement Read allows s3:GetObject on every resource ('*')",
        {},
    ),
    "iam-no-admin-managed-policies": Case(
        _variants(
            _res(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
            ),
            _res(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            ),
        ),
        "attaches arn:aws:iam::aws:policy/AdministratorAccess",
        {},
    ),
    # -- Kubernetes -----------------------------------------------------------------------------
    "k8s-run-as-non-root": Case(
        _variants(_deployment(), _deployment({"securityContext": {"runAsNonRoot": False, "runAsUser": 0}})),
        "'server': container 'server' sets runAsNonRoot=false and may run as root",
        {},
    ),
    "k8s-no-privileged": Case(
        _variants(_deployment(kind="CronJob"), _deployment({"securityContext": {"privileged": True}}, kind="CronJob")),
        "'job': container 'server' is privileged",
        {},
    ),
    "k8s-read-only-root-filesystem": Case(
        _variants(_deployment(), _deployment({"securityContext": {"readOnlyRootFilesystem": False}})),
        "has a writable root filesystem",
        {},
    ),
    "k8s-resource-limits": Case(
        _variants(_deployment(), _deployment({"resources": {"requests": {"cpu": "1"}}})),
        "container 'server' of 'server' has no cpu or memory limit",
        {},
    ),
    **PSS_CASES,
    **EXTRA_CASES,
}
