"""Realistic mock outputs for the offline plan.

Pulumi's mock runtime asks :class:`PlanMocks` for the id and output state of every resource
and for the result of every provider function call. The answers look like AWS's: S3 bucket
names valid as bucket names, ARNs in the stack's region and the fixed test account
:data:`TEST_ACCOUNT`, availability zones of the region, and the caller identity. Every
answer is derived from the resource's URN with a hash, so two runs give identical plans.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

TEST_ACCOUNT = "123456789012"
"""The AWS account id every mock ARN uses."""

MODEL_REGISTRY_BUCKET = ("aws:s3/bucket:Bucket", "model-registry-bucket")
"""Type and logical name of the stack's model-registry bucket (``stacks/program.py``): the mocked
ECR repositories record its mock name, as a deployed stack's repositories do."""


@dataclass(frozen=True)
class AccountState:
    """What the mocked account already holds: the answers of the artifact look-ups.

    The default is the steady state after the first deploy and publication: every model's ECR
    repository exists (tagged with the registry bucket and as serving) and holds every image tag,
    and every registry key exists, so the plan shows the whole stack.
    """

    repositories: bool = True
    """The stack's ECR repositories exist. False on a fresh account. Defaults to true."""
    serving: bool = True
    """The repositories carry ``serving=true`` (an earlier update created the workloads). Defaults to true."""
    unpublished: frozenset[str] = frozenset()
    """Artifacts that do not exist: images as ``<repository name>:<tag>``, model versions as
    registry keys (``models/<model>/<version>/model.onnx``). Defaults to none."""


FRESH_ACCOUNT = AccountState(repositories=False, serving=False)
"""A fresh account: no repository, no image, no model version (``blueprint plan --fresh-account``)."""


def _digest(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _physical_name(logical: str, urn: str, max_len: int, lower: bool = False, sep: str = "-") -> str:
    """Pulumi auto-naming: ``<logical>-<7 hex>``, trimmed to the service's limit."""
    suffix = _digest(urn, length=7)
    base = re.sub(r"[^a-z0-9-]" if lower else r"[^A-Za-z0-9_-]", "-", logical.lower() if lower else logical)
    base = base[: max_len - len(suffix) - 1].strip("-") or "r"
    return f"{base}{sep}{suffix}"


class PlanMocks(pulumi.runtime.Mocks):
    """Mocks that answer like AWS in ``region`` for account :data:`TEST_ACCOUNT`."""

    def __init__(self, region: str, account: AccountState | None = None) -> None:
        self.region = region
        self.partition = "aws"
        self.account = account or AccountState()

    # -- helpers ------------------------------------------------------------------------------

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        """An ARN of ``service`` in the stack's region and the test account."""
        return ":".join(
            ["arn", self.partition, service, self.region if region else "", TEST_ACCOUNT if account else "", resource]
        )

    # -- resources ----------------------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        """Return a realistic physical id and output state for a resource."""
        inputs = dict(args.inputs)
        urn_key = f"{args.typ}::{args.name}"
        read_id = getattr(args, "resource_id", None)
        if read_id and args.typ.startswith("aws:"):
            # `Resource.get(name, id)` reads an existing resource: AWS names it by that id (a role's name, a
            # cluster's name), so its physical name and ARN come from the id, not from the logical name.
            inputs.setdefault("name", read_id)
        if args.typ.startswith("pulumi:providers:"):
            return str(uuid.UUID(hex=hashlib.md5(urn_key.encode()).hexdigest())), inputs  # noqa: S324 - id only
        handler = _HANDLERS.get(args.typ)
        if handler is not None:
            rid, extra = handler(self, args.name, urn_key, inputs)
        else:
            rid, extra = self._generic(args.typ, args.name, urn_key, inputs)
        state = {**inputs, **extra}
        state.setdefault("id", rid)
        if args.typ.startswith("aws:") and "tags" in inputs:
            state.setdefault("tags_all", inputs.get("tags"))
            state.setdefault("tagsAll", inputs.get("tags"))
        return rid, state

    def _generic(self, typ: str, name: str, urn_key: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        package, module, kind = [*typ.split(":"), "", ""][:3]
        if package == "kubernetes":
            metadata = dict(inputs.get("metadata") or {})
            metadata.setdefault("name", _physical_name(name, urn_key, 63, lower=True))
            namespace = metadata.get("namespace")
            rid = f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
            return rid, {"metadata": metadata}
        if package != "aws":
            return f"{name}-{_digest(urn_key)}", {}
        service = module.split("/")[0]
        resource = re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()
        rid = f"{resource}-{_digest(urn_key, length=17)}"
        return rid, {"arn": self.arn(service, f"{resource}/{rid}")}

    # -- function calls -----------------------------------------------------------------------

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        """Answer data-source calls (caller identity, region, AZs, partition) like AWS."""
        function = args.token
        if function == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": TEST_ACCOUNT,
                "arn": f"arn:aws:iam::{TEST_ACCOUNT}:user/offline-plan",
                "userId": "AIDAOFFLINEPLAN000000",
                "id": TEST_ACCOUNT,
            }, []
        if function == "aws:index/getRegion:getRegion":
            return {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": self.region,
            }, []
        if function == "aws:ec2/getVpc:getVpc":  # a brought VPC: its primary CIDR
            vpc_id = str(args.args.get("id"))
            return {"id": vpc_id, "cidrBlock": "10.90.0.0/16", "arn": self.arn("ec2", f"vpc/{vpc_id}")}, []
        if function == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "id": "aws",
                "reverseDnsPrefix": "com.amazonaws",
            }, []
        if function in _ARTIFACT_LOOKUPS:
            return self._artifact(function, dict(args.args))
        if function == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = "abc" if not self.region.startswith("us-east-1") else "abcdef"
            names = [f"{self.region}{c}" for c in letters]
            zone_prefix = {"eu": "euw", "us": "use"}.get(self.region[:2], self.region[:3])
            return {
                "names": names,
                "zoneIds": [f"{zone_prefix}1-az{i + 1}" for i in range(len(names))],
                "id": self.region,
                "state": "available",
            }, []
        return {}, []

    def _artifact(self, function: str, args: dict[str, Any]) -> tuple[dict[Any, Any], list[tuple[str, str]]]:
        """ECR repository and image, S3 object look-ups, answered from :attr:`account`.

        A missing thing fails like the provider does ("couldn't find resource"), which the
        program catches; an existing one answers with the fields the program reads.
        """
        account = self.account
        if function == "aws:ecr/getRepository:getRepository":
            name = str(args.get("name"))
            if not account.repositories:
                return {}, [("name", f"reading ECR Repository ({name}): couldn't find resource")]
            registry = _physical_name(MODEL_REGISTRY_BUCKET[1], "::".join(MODEL_REGISTRY_BUCKET), 63, lower=True)
            return {
                "id": name,
                "name": name,
                "arn": self.arn("ecr", f"repository/{name}"),
                "registryId": TEST_ACCOUNT,
                "repositoryUrl": f"{TEST_ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{name}",
                "tags": {"model-registry-bucket": registry, "serving": "true" if account.serving else "false"},
            }, []
        if function == "aws:ecr/getImage:getImage":
            reference = f"{args.get('repositoryName')}:{args.get('imageTag')}"
            if not account.repositories or reference in account.unpublished:
                return {}, [("imageTag", f"reading ECR Image ({reference}): couldn't find resource")]
            return {
                "id": reference,
                "imageDigest": "sha256:" + hashlib.sha256(reference.encode()).hexdigest(),
                "imageTag": args.get("imageTag"),
                "repositoryName": args.get("repositoryName"),
                "registryId": TEST_ACCOUNT,
            }, []
        key = str(args.get("key"))
        if key in account.unpublished:
            return {}, [("key", f"reading S3 Object ({args.get('bucket')}/{key}): couldn't find resource")]
        return {
            "id": f"{args.get('bucket')}/{key}",
            "bucket": args.get("bucket"),
            "key": key,
            "contentType": "application/octet-stream",
            "versionId": _digest(key, length=32),
        }, []


_ARTIFACT_LOOKUPS = frozenset(
    {"aws:ecr/getRepository:getRepository", "aws:ecr/getImage:getImage", "aws:s3/getObject:getObject"}
)

Handler = Callable[[PlanMocks, str, str, dict[str, Any]], tuple[str, dict[str, Any]]]


def _bucket(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket = inputs.get("bucket") or _physical_name(name, urn, 63, lower=True)
    return bucket, {
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{m.region}.amazonaws.com",
        "region": m.region,
        "hostedZoneId": "Z1BKCTXD74EZPE",
    }


def _sided(name_key: str = "bucket") -> Handler:
    def handler(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return str(inputs.get(name_key) or name), {}

    return handler


def _kms_key(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key_id = str(uuid.UUID(hex=hashlib.sha256(urn.encode()).hexdigest()[:32]))
    return key_id, {"keyId": key_id, "arn": m.arn("kms", f"key/{key_id}")}


def _kms_alias(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    alias = inputs.get("name") or f"alias/{_physical_name(name, urn, 250)}"
    return alias, {"name": alias, "arn": m.arn("kms", alias)}


def _named(service: str, arn_path: str, max_len: int, id_is: str = "name", lower: bool = False) -> Handler:
    def handler(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        physical = inputs.get("name") or _physical_name(name, urn, max_len, lower=lower)
        arn = m.arn(service, arn_path.format(name=physical), region=service not in {"iam", "budgets"})
        if service == "budgets":
            arn = f"arn:aws:budgets::{TEST_ACCOUNT}:budget/{physical}"
        out: dict[str, Any] = {"name": physical, "arn": arn}
        if service == "iam":
            out["uniqueId"] = "AROA" + _digest(urn, length=17).upper()
        rid = arn if id_is == "arn" else physical
        return rid, out

    return handler


def _queue(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    fifo = bool(inputs.get("fifoQueue"))
    queue = inputs.get("name") or _physical_name(name, urn, 75 if fifo else 80) + (".fifo" if fifo else "")
    url = f"https://sqs.{m.region}.amazonaws.com/{TEST_ACCOUNT}/{queue}"
    return url, {"name": queue, "url": url, "arn": m.arn("sqs", queue)}


def _function(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    fn = inputs.get("name") or _physical_name(name, urn, 64)
    arn = m.arn("lambda", f"function:{fn}")
    return fn, {
        "name": fn,
        "arn": arn,
        "qualifiedArn": f"{arn}:$LATEST",
        "invokeArn": f"arn:aws:apigateway:{m.region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        "version": "$LATEST",
    }


def _log_group(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    group = inputs.get("name") or _physical_name(name, urn, 512)
    return group, {"name": group, "arn": m.arn("logs", f"log-group:{group}")}


def _rule(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rule = inputs.get("name") or _physical_name(name, urn, 64)
    bus = inputs.get("eventBusName") or "default"
    rid = rule if bus == "default" else f"{bus}/{rule}"
    path = f"rule/{rule}" if bus == "default" else f"rule/{bus}/{rule}"
    return rid, {"name": rule, "arn": m.arn("events", path)}


def _topic(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    topic = inputs.get("name") or _physical_name(name, urn, 256)
    arn = m.arn("sns", topic)
    return arn, {"name": topic, "arn": arn}


def _ec2(prefix: str, arn_kind: str) -> Handler:
    def handler(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        rid = f"{prefix}-{_digest(urn, length=17)}"
        out: dict[str, Any] = {"arn": m.arn("ec2", f"{arn_kind}/{rid}"), "ownerId": TEST_ACCOUNT}
        if prefix == "vpc":
            out.update(
                {
                    "defaultSecurityGroupId": f"sg-{_digest(urn, 'sg', length=17)}",
                    "mainRouteTableId": f"rtb-{_digest(urn, 'rtb', length=17)}",
                }
            )
        if prefix == "lt":
            out["latestVersion"] = 1
            out["defaultVersion"] = 1
        return rid, out

    return handler


def _eks_cluster(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    cluster = inputs.get("name") or _physical_name(name, urn, 100)
    oidc = _digest(urn, length=32).upper()
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n").decode()
    vpc_config = dict(inputs.get("vpcConfig") or {})
    vpc_config.setdefault("clusterSecurityGroupId", f"sg-{_digest(urn, 'cluster-sg', length=17)}")
    vpc_config.setdefault("vpcId", f"vpc-{_digest(urn, 'vpc', length=17)}")
    return cluster, {
        "name": cluster,
        "arn": m.arn("eks", f"cluster/{cluster}"),
        "endpoint": f"https://{oidc}.gr7.{m.region}.eks.amazonaws.com",
        "certificateAuthority": {"data": ca},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{m.region}.amazonaws.com/id/{oidc}"}]}],
        "status": "ACTIVE",
        "platformVersion": "eks.1",
        "vpcConfig": vpc_config,
    }


def _node_group(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    group = inputs.get("nodeGroupName") or _physical_name(name, urn, 63)
    cluster = inputs.get("clusterName", "cluster")
    return f"{cluster}:{group}", {
        "nodeGroupName": group,
        "arn": m.arn("eks", f"nodegroup/{cluster}/{group}/{_digest(urn, length=8)}"),
        "status": "ACTIVE",
    }


def _ecr(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    repo = inputs.get("name") or _physical_name(name, urn, 256, lower=True)
    return repo, {
        "name": repo,
        "arn": m.arn("ecr", f"repository/{repo}"),
        "registryId": TEST_ACCOUNT,
        "repositoryUrl": f"{TEST_ACCOUNT}.dkr.ecr.{m.region}.amazonaws.com/{repo}",
    }


def _alarm(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    alarm = inputs.get("name") or _physical_name(name, urn, 255)
    return alarm, {"name": alarm, "arn": m.arn("cloudwatch", f"alarm:{alarm}")}


def _eks_addon(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    cluster, addon = inputs.get("clusterName", "cluster"), inputs.get("addonName", name)
    return f"{cluster}:{addon}", {
        "arn": m.arn("eks", f"addon/{cluster}/{addon}/{_digest(urn, length=8)}"),
        "addonVersion": inputs.get("addonVersion") or "v1.0.0-eksbuild.1",
    }


def _pod_identity_association(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    cluster, association = inputs.get("clusterName", "cluster"), f"a-{_digest(urn, length=17)}"
    return f"{cluster},{association}", {
        "associationId": association,
        "associationArn": m.arn("eks", f"podidentityassociation/{cluster}/{association}"),
    }


def _access_entry(m: PlanMocks, name: str, urn: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    cluster, principal = inputs.get("clusterName", "cluster"), str(inputs.get("principalArn", ""))
    role = principal.rsplit("/", 1)[-1]
    return f"{cluster}:{principal}", {
        "accessEntryArn": m.arn("eks", f"access-entry/{cluster}/role/{TEST_ACCOUNT}/{role}/{_digest(urn, length=8)}"),
        "type": inputs.get("type") or "STANDARD",
    }


_HANDLERS: dict[str, Handler] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketVersioning:BucketVersioning": _sided(),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _sided(),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _sided(),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _sided(),
    "aws:s3/bucketPolicy:BucketPolicy": _sided(),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _sided(),
    "aws:s3/bucketLogging:BucketLogging": _sided(),
    "aws:s3/bucketNotification:BucketNotification": _sided(),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": _sided(),
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:iam/role:Role": _named("iam", "role/{name}", 64),
    "aws:iam/policy:Policy": _named("iam", "policy/{name}", 128, id_is="arn"),
    "aws:sqs/queue:Queue": _queue,
    "aws:lambda/function:Function": _function,
    "aws:lambda/layerVersion:LayerVersion": _named("lambda", "layer:{name}:1", 140, id_is="arn"),
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/eventRule:EventRule": _rule,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:sns/topic:Topic": _topic,
    "aws:budgets/budget:Budget": _named("budgets", "budget/{name}", 100),
    "aws:ec2/vpc:Vpc": _ec2("vpc", "vpc"),
    "aws:ec2/subnet:Subnet": _ec2("subnet", "subnet"),
    "aws:ec2/internetGateway:InternetGateway": _ec2("igw", "internet-gateway"),
    "aws:ec2/natGateway:NatGateway": _ec2("nat", "natgateway"),
    "aws:ec2/eip:Eip": _ec2("eipalloc", "elastic-ip"),
    "aws:ec2/routeTable:RouteTable": _ec2("rtb", "route-table"),
    "aws:ec2/securityGroup:SecurityGroup": _ec2("sg", "security-group"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _ec2("vpce", "vpc-endpoint"),
    "aws:ec2/vpcPeeringConnection:VpcPeeringConnection": _ec2("pcx", "vpc-peering-connection"),
    "aws:ec2/launchTemplate:LaunchTemplate": _ec2("lt", "launch-template"),
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:ecr/repository:Repository": _ecr,
    "aws:eks/addon:Addon": _eks_addon,
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": _pod_identity_association,
    "aws:eks/accessEntry:AccessEntry": _access_entry,
}
