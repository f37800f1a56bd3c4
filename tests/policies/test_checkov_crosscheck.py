"""The pack and Checkov agree, for every policy that names a Checkov equivalent, on a pass and a fail fixture.

Each fixture is written once as the pack sees it (Pulumi type and properties) and once as Checkov scans it
(a Kubernetes manifest rendered from the same pod spec; Terraform HCL or a CloudFormation template whose
attributes mirror the properties; a Pulumi stack of a bucket and its v7 siblings becomes the same Terraform
resources connected by references, which Checkov's graph checks join as the pack's stack policies do). Checkov
runs once for all fixtures, from its own tool virtualenv
(`make checkov-venv`: checkov's pins would downgrade the project's boto3/botocore, networkx and packaging,
so it is not a dev dependency). Agreement: the pack passes exactly when none of the policy's Checkov
checks fails on that resource or its siblings, and at least one of them judged one of them.

Cases where the pack is deliberately stricter than Checkov (a union of CIDRs covering the internet, an
``s3:*`` statement on ``arn:aws:s3:::*``, PSS controls Checkov has no check for) are tested in the policies'
own test files, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hybrid_ai_platform.policies.framework import pack_policies
from hybrid_ai_platform.policies.testing import policy_resource, resource_args, run, stack_args
from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from tests.policies.rules.support import restricted_pod, with_container, with_pod, workload, workload_props

# one module-scoped setup for all its tests: keep them on one xdist worker
pytestmark = pytest.mark.xdist_group("checkov")

CHECKOV = Path(os.environ.get("BLUEPRINT_CHECKOV") or PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov")
POLICIES = {p.meta.name: p for p in pack_policies()}

NOT_CROSS_CHECKED = {
    "residency-s3-replication": "Checkov's CKV_AWS_144 asks whether a bucket replicates at all, the pack where "
    "replication copies data to (the destination's region): no fixture fails both",
}
"""Policies that name a Checkov equivalent but have no fixture here yet, and why."""

Args = ResourceValidationArgs | StackValidationArgs


@dataclass(frozen=True)
class Fixture:
    """One resource as the pack and as Checkov see it, and whether both must pass it."""

    policy: str
    name: str
    passes: bool
    ours: Callable[[], Args]
    framework: str
    """``kubernetes``, ``terraform`` or ``cloudformation``."""
    checkov_type: str
    body: dict[str, Any]
    siblings: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    """Further Terraform resources ``(type, name, body)`` rendered with this one and judged with it."""


class Expr(str):
    """An HCL expression written as is (a reference such as ``aws_s3_bucket.b.id``)."""


class HclMap(dict[str, Any]):
    """An HCL map attribute (``variables = {...}``), not a nested block."""


FIXTURES: list[Fixture] = []


def k8s(policy: str, name: str, passes: bool, spec: dict[str, Any]) -> None:
    """A Deployment fixture from one pod spec."""
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "apps"}}
    props = workload_props("Deployment", spec)
    props["spec"]["selector"] = {"matchLabels": {"app": "w"}}
    FIXTURES.append(
        Fixture(
            policy,
            name,
            passes,
            lambda: workload("Deployment", spec),
            "kubernetes",
            "Deployment",
            {**manifest, **props},
        )
    )


def tf(
    policy: str,
    name: str,
    passes: bool,
    ours: Callable[[], Args],
    checkov_type: str,
    body: dict[str, Any],
    siblings: tuple[tuple[str, str, dict[str, Any]], ...] = (),
) -> None:
    """A Terraform fixture."""
    FIXTURES.append(Fixture(policy, name, passes, ours, "terraform", checkov_type, body, siblings))


def cfn(
    policy: str, name: str, passes: bool, ours: Callable[[], Args], checkov_type: str, body: dict[str, Any]
) -> None:
    """A CloudFormation fixture."""
    FIXTURES.append(Fixture(policy, name, passes, ours, "cloudformation", checkov_type, body))


def _res(type_: str, props: dict[str, Any]) -> Callable[[], Args]:
    return lambda: resource_args(type_, props, name="r")


def _doc(**statement: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]})


# -- Kubernetes -------------------------------------------------------------------------------------
RESTRICTED = restricted_pod()
k8s("k8s-pss-host-namespaces", "hostns-ok", True, RESTRICTED)
k8s("k8s-pss-host-namespaces", "hostns-pid", False, with_pod(RESTRICTED, hostPID=True))
k8s("k8s-pss-host-namespaces", "hostns-net", False, with_pod(RESTRICTED, hostNetwork=True))
k8s("k8s-no-privileged", "priv-ok", True, RESTRICTED)
k8s("k8s-no-privileged", "priv-bad", False, with_container(RESTRICTED, {"securityContext": {"privileged": True}}))
k8s("k8s-pss-capabilities", "caps-ok", True, RESTRICTED)
k8s(
    "k8s-pss-capabilities",
    "caps-bad",
    False,
    with_container(RESTRICTED, {"securityContext": {"capabilities": {"add": ["SYS_ADMIN"], "drop": ["ALL"]}}}),
)
k8s("k8s-pss-host-path-volumes", "hostpath-ok", True, RESTRICTED)
k8s(
    "k8s-pss-host-path-volumes",
    "hostpath-bad",
    False,
    with_pod(RESTRICTED, volumes=[{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]),
)
k8s("k8s-pss-host-ports", "hostport-ok", True, RESTRICTED)
k8s(
    "k8s-pss-host-ports",
    "hostport-bad",
    False,
    with_container(RESTRICTED, {"ports": [{"containerPort": 80, "hostPort": 80}]}),
)
k8s("k8s-pss-seccomp", "seccomp-ok", True, RESTRICTED)
_NO_SECCOMP = with_pod(RESTRICTED, securityContext={"seccompProfile": None})
for _key in ("containers", "initContainers"):
    for _container in _NO_SECCOMP[_key]:
        _container["securityContext"].pop("seccompProfile")
k8s("k8s-pss-seccomp", "seccomp-bad", False, _NO_SECCOMP)
k8s("k8s-pss-privilege-escalation", "escalation-ok", True, RESTRICTED)
k8s(
    "k8s-pss-privilege-escalation",
    "escalation-bad",
    False,
    with_container(RESTRICTED, {"securityContext": {"allowPrivilegeEscalation": True}}),
)
k8s("k8s-run-as-non-root", "nonroot-ok", True, RESTRICTED)
_ROOT = with_container(
    with_pod(RESTRICTED, securityContext={"runAsNonRoot": False, "runAsUser": 0}),
    {"securityContext": {"runAsNonRoot": False, "runAsUser": 0}},
)
_ROOT["initContainers"][0]["securityContext"].update(runAsNonRoot=False, runAsUser=0)
k8s("k8s-run-as-non-root", "nonroot-bad", False, _ROOT)
k8s("k8s-read-only-root-filesystem", "rofs-ok", True, RESTRICTED)
k8s(
    "k8s-read-only-root-filesystem",
    "rofs-bad",
    False,
    with_container(RESTRICTED, {"securityContext": {"readOnlyRootFilesystem": False}}),
)
k8s("k8s-resource-limits", "limits-ok", True, RESTRICTED)
k8s("k8s-resource-limits", "limits-bad", False, with_container(RESTRICTED, {"resources": {"requests": {"cpu": "1"}}}))

# -- IAM --------------------------------------------------------------------------------------------
_NARROW = _doc(Action=["s3:GetObject"], Resource="arn:aws:s3:::bucket/*")
for _policy in ("iam-no-wildcard-action", "iam-no-wildcard-resource-for-data"):
    _slug = _policy.replace("-", "_")
    tf(
        _policy,
        f"{_slug}_ok",
        True,
        _res("aws:iam/policy:Policy", {"policy": _NARROW}),
        "aws_iam_policy",
        {"name": "ok", "policy": _NARROW},
    )
_STAR = _doc(Action="*", Resource="*")
tf(
    "iam-no-wildcard-action",
    "star",
    False,
    _res("aws:iam/policy:Policy", {"policy": _STAR}),
    "aws_iam_policy",
    {"name": "star", "policy": _STAR},
)
_NOT_ACTION = _doc(NotAction="iam:*", Resource="*")
tf(
    "iam-no-wildcard-action",
    "not_action",
    False,
    _res("aws:iam/policy:Policy", {"policy": _NOT_ACTION}),
    "aws_iam_policy",
    {"name": "na", "policy": _NOT_ACTION},
)
_PUT_ANY = _doc(Action=["s3:PutObject"], Resource="*")
tf(
    "iam-no-wildcard-resource-for-data",
    "put_any",
    False,
    _res("aws:iam/policy:Policy", {"policy": _PUT_ANY}),
    "aws_iam_policy",
    {"name": "put", "policy": _PUT_ANY},
)
for _arn, _passes, _slug in (
    ("arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", True, "attach_ok"),
    ("arn:aws:iam::aws:policy/AdministratorAccess", False, "attach_admin"),
):
    tf(
        "iam-no-admin-managed-policies",
        _slug,
        _passes,
        _res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r", "policyArn": _arn}),
        "aws_iam_role_policy_attachment",
        {"role": "r", "policy_arn": _arn},
    )
for _principal, _passes, _slug in (
    ({"Service": "lambda.amazonaws.com"}, True, "trust_ok"),
    ({"AWS": "*"}, False, "trust_any"),
):
    _trust = _doc(Principal=_principal, Action="sts:AssumeRole")
    tf(
        "iam-trust-not-public",
        _slug,
        _passes,
        _res("aws:iam/role:Role", {"assumeRolePolicy": _trust}),
        "aws_iam_role",
        {"name": _slug, "assume_role_policy": _trust},
    )

# -- EKS --------------------------------------------------------------------------------------------
_KEY = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def _cluster(
    slug: str, policy: str, passes: bool, public: bool, cidrs: list[str], encrypted: bool, logs: list[str]
) -> None:
    vpc: dict[str, Any] = {"subnetIds": ["subnet-1"], "endpointPublicAccess": public, "endpointPrivateAccess": True}
    tf_vpc: dict[str, Any] = {
        "subnet_ids": ["subnet-1"],
        "endpoint_public_access": public,
        "endpoint_private_access": True,
    }
    if cidrs:
        vpc["publicAccessCidrs"] = tf_vpc["public_access_cidrs"] = cidrs
    props: dict[str, Any] = {"vpcConfig": vpc, "enabledClusterLogTypes": logs}
    body: dict[str, Any] = {
        "name": slug,
        "role_arn": "arn:aws:iam::123456789012:role/c",
        "vpc_config": tf_vpc,
        "enabled_cluster_log_types": logs,
    }
    if encrypted:
        props["encryptionConfig"] = {"resources": ["secrets"], "provider": {"keyArn": _KEY}}
        body["encryption_config"] = {"resources": ["secrets"], "provider": {"key_arn": _KEY}}
    tf(policy, slug, passes, _res("aws:eks/cluster:Cluster", props), "aws_eks_cluster", body)


_ALL_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
_cluster("endpoint_ok", "eks-endpoint-not-public", True, False, [], True, _ALL_LOGS)
_cluster("endpoint_open", "eks-endpoint-not-public", False, True, ["0.0.0.0/0"], True, _ALL_LOGS)
_cluster("secrets_ok", "eks-secrets-encryption", True, False, [], True, _ALL_LOGS)
_cluster("secrets_plain", "eks-secrets-encryption", False, False, [], False, _ALL_LOGS)
_cluster("logs_ok", "eks-control-plane-logging", True, False, [], True, _ALL_LOGS)
_cluster("logs_api_only", "eks-control-plane-logging", False, False, [], True, ["api"])
for _tokens, _hops, _passes, _slug in (("required", 1, True, "imds_ok"), ("optional", 1, False, "imds_v1")):
    tf(
        "eks-node-imdsv2",
        _slug,
        _passes,
        _res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            {"metadataOptions": {"httpTokens": _tokens, "httpPutResponseHopLimit": _hops, "httpEndpoint": "enabled"}},
        ),
        "aws_launch_template",
        {
            "name": _slug,
            "metadata_options": {
                "http_tokens": _tokens,
                "http_put_response_hop_limit": _hops,
                "http_endpoint": "enabled",
            },
        },
    )
_GROUP_TF = {
    "cluster_name": "c",
    "node_role_arn": "arn:aws:iam::1:role/n",
    "subnet_ids": ["subnet-1"],
    "scaling_config": {"desired_size": 1, "max_size": 2, "min_size": 1},
}
tf(
    "eks-no-ssh",
    "nodes_ok",
    True,
    _res("aws:eks/nodeGroup:NodeGroup", {"instanceTypes": ["m7i.large"]}),
    "aws_eks_node_group",
    {**_GROUP_TF, "node_group_name": "ok"},
)
tf(
    "eks-no-ssh",
    "nodes_ssh",
    False,
    _res("aws:eks/nodeGroup:NodeGroup", {"instanceTypes": ["m7i.large"], "remoteAccess": {"ec2SshKey": "ops"}}),
    "aws_eks_node_group",
    {**_GROUP_TF, "node_group_name": "ssh", "remote_access": {"ec2_ssh_key": "ops"}},
)

# -- keys, images, logs, queues, functions --------------------------------------------------------
for _rotate, _slug in ((True, "key_ok"), (False, "key_static")):
    tf(
        "kms-key-rotation",
        _slug,
        _rotate,
        _res("aws:kms/key:Key", {"enableKeyRotation": _rotate}),
        "aws_kms_key",
        {"enable_key_rotation": _rotate},
    )
for _mutability, _slug in (("IMMUTABLE", "repo_immutable"), ("MUTABLE", "repo_mutable")):
    tf(
        "ecr-tag-immutability",
        _slug,
        _mutability == "IMMUTABLE",
        _res("aws:ecr/repository:Repository", {"imageTagMutability": _mutability}),
        "aws_ecr_repository",
        {"name": _slug, "image_tag_mutability": _mutability},
    )
for _scan, _slug in ((True, "repo_scanned"), (False, "repo_unscanned")):
    _repo = {"name": _slug, "imageScanningConfiguration": {"scanOnPush": _scan}}
    tf(
        "ecr-image-scanning",
        _slug,
        _scan,
        lambda _repo=_repo: stack_args([policy_resource("aws:ecr/repository:Repository", _repo, "repo")]),
        "aws_ecr_repository",
        {"name": _slug, "image_scanning_configuration": {"scan_on_push": _scan}},
    )
for _days, _slug in ((90, "logs_kept"), (None, "logs_forever")):
    tf(
        "logs-retention",
        _slug,
        _days is not None,
        _res("aws:cloudwatch/logGroup:LogGroup", {} if _days is None else {"retentionInDays": _days}),
        "aws_cloudwatch_log_group",
        {"name": _slug, **({} if _days is None else {"retention_in_days": _days})},
    )


def _log_stack(encrypted: bool) -> Callable[[], Args]:
    def build() -> Args:
        key = policy_resource("aws:kms/key:Key", {"enableKeyRotation": True}, "key")
        props = {"retentionInDays": 90, **({"kmsKeyId": _KEY} if encrypted else {})}
        group = policy_resource(
            "aws:cloudwatch/logGroup:LogGroup", props, "lg", {"kmsKeyId": [key]} if encrypted else {}
        )
        return stack_args([key, group])

    return build


tf(
    "logs-encrypted-with-stack-key",
    "logs_cmk",
    True,
    _log_stack(True),
    "aws_cloudwatch_log_group",
    {"name": "cmk", "retention_in_days": 90, "kms_key_id": _KEY},
)
tf(
    "logs-encrypted-with-stack-key",
    "logs_default",
    False,
    _log_stack(False),
    "aws_cloudwatch_log_group",
    {"name": "default", "retention_in_days": 90},
)
tf(
    "sqs-encryption",
    "queue_kms",
    True,
    _res("aws:sqs/queue:Queue", {"kmsMasterKeyId": _KEY}),
    "aws_sqs_queue",
    {"name": "kms", "kms_master_key_id": _KEY},
)
tf(
    "sqs-encryption",
    "queue_plain",
    False,
    _res("aws:sqs/queue:Queue", {"sqsManagedSseEnabled": False}),
    "aws_sqs_queue",
    {"name": "plain", "sqs_managed_sse_enabled": False},
)
_FN_TF = {"role": "arn:aws:iam::1:role/f", "handler": "h.handler", "filename": "f.zip"}
for _policy, _slug, _passes, _runtime, _tracing in (
    ("lambda-tracing-active", "fn_traced", True, "python3.12", {"mode": "Active"}),
    # no tracing_config at all: Checkov's CKV_AWS_50 also accepts mode PassThrough, which the pack refuses
    ("lambda-tracing-active", "fn_untraced", False, "python3.12", None),
    ("lambda-supported-runtime", "fn_current", True, "python3.12", {"mode": "Active"}),
    ("lambda-supported-runtime", "fn_retired", False, "python3.6", {"mode": "Active"}),
):
    _props: dict[str, Any] = {"runtime": _runtime, **({"tracingConfig": _tracing} if _tracing else {})}
    _body: dict[str, Any] = {**_FN_TF, "function_name": _slug, "runtime": _runtime}
    if _tracing:
        _body["tracing_config"] = _tracing
    tf(_policy, _slug, _passes, _res("aws:lambda/function:Function", _props), "aws_lambda_function", _body)


def _sg(cidr: str) -> Callable[[], Args]:
    ingress = [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": [cidr]}]
    return lambda: stack_args([policy_resource("aws:ec2/securityGroup:SecurityGroup", {"ingress": ingress}, "sg")])


for _cidr, _slug in (("10.0.0.0/8", "sg_private"), ("0.0.0.0/0", "sg_world")):
    tf(
        "network-no-world-ingress",
        _slug,
        _cidr != "0.0.0.0/0",
        _sg(_cidr),
        "aws_security_group",
        {"name": _slug, "ingress": [{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": [_cidr]}]},
    )

# -- S3 ACLs (CloudFormation: Checkov judges AccessControl there) ------------------------------------
for _canned, _cfn_acl, _slug in (
    ("private", "Private", "BucketPrivate"),
    ("public-read", "PublicRead", "BucketPublicRead"),
    ("public-read-write", "PublicReadWrite", "BucketPublicWrite"),
):
    cfn(
        "s3-no-public-acl-grants",
        _slug,
        _canned == "private",
        _res("aws:s3/bucket:Bucket", {"acl": _canned}),
        "AWS::S3::Bucket",
        {"AccessControl": _cfn_acl},
    )


# -- S3 buckets and their v7 siblings (Terraform: Checkov joins aws_s3_bucket to its sibling resources) --
_S3 = "aws:s3/bucket:Bucket"
_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
_OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
_LOGGING = "aws:s3/bucketLogging:BucketLogging"
_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"


def _bucket_stack(bucket: dict[str, Any], siblings: tuple[tuple[str, dict[str, Any]], ...]) -> Callable[[], Args]:
    """A stack of one bucket and siblings whose ``bucket`` input was computed from it."""

    def build() -> Args:
        b = policy_resource(_S3, bucket, "bucket")
        rest = [policy_resource(t, p, f"sibling{i}", {"bucket": [b]}) for i, (t, p) in enumerate(siblings)]
        return stack_args([b, *rest])

    return build


def s3(
    policy: str,
    name: str,
    passes: bool,
    sibling: tuple[str, dict[str, Any], str, dict[str, Any]] | None,
    bucket: dict[str, Any] | None = None,
    tf_bucket: dict[str, Any] | None = None,
    pack_only: tuple[tuple[str, dict[str, Any]], ...] = (),
) -> None:
    """A bucket fixture with at most one sibling ``(pulumi type, props, terraform type, body)``.

    ``pack_only`` siblings exist only on the pack side (their Terraform form is inline in ``tf_bucket``).
    """
    pack_siblings = ((sibling[0], sibling[1]),) if sibling else ()
    tf_siblings = (
        (
            (
                sibling[2],
                f"{name}_{sibling[2].removeprefix('aws_s3_bucket_')}",
                {"bucket": Expr(f"aws_s3_bucket.{name}.id"), **sibling[3]},
            ),
        )
        if sibling
        else ()
    )
    tf(
        policy,
        name,
        passes,
        _bucket_stack(bucket or {}, (*pack_siblings, *pack_only)),
        "aws_s3_bucket",
        {"bucket": name.replace("_", "-"), **(tf_bucket or {})},
        tf_siblings,
    )


_ALL_BLOCKED = {
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}


def _pab(**off: bool) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    props = {**_ALL_BLOCKED, **off}
    body = {
        "block_public_acls": props["blockPublicAcls"],
        "block_public_policy": props["blockPublicPolicy"],
        "ignore_public_acls": props["ignorePublicAcls"],
        "restrict_public_buckets": props["restrictPublicBuckets"],
    }
    return (_PAB, props, "aws_s3_bucket_public_access_block", body)


s3("s3-public-access-block", "s3_pab_ok", True, _pab())
s3("s3-public-access-block", "s3_pab_none", False, None)
s3("s3-public-access-block", "s3_pab_acls_off", False, _pab(blockPublicAcls=False))
s3("s3-public-access-block", "s3_pab_restrict_off", False, _pab(restrictPublicBuckets=False))


def _sse(algorithm: str, key: str | None) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    default: dict[str, Any] = {"sseAlgorithm": algorithm, **({"kmsMasterKeyId": key} if key else {})}
    tf_default: dict[str, Any] = {"sse_algorithm": algorithm, **({"kms_master_key_id": key} if key else {})}
    return (
        _SSE,
        {"rules": [{"applyServerSideEncryptionByDefault": default}]},
        "aws_s3_bucket_server_side_encryption_configuration",
        {"rule": {"apply_server_side_encryption_by_default": tf_default}},
    )


# The pack is stricter than CKV_AWS_145 in refusing SSE-KMS with the AWS-managed key (no kms_master_key_id),
# which Checkov passes; it is looser in accepting SSE-S3 on a server-access-log target, which Checkov fails.
s3("s3-encryption", "s3_sse_kms", True, _sse("aws:kms", _KEY))
s3("s3-encryption", "s3_sse_aes", False, _sse("AES256", None))
s3("s3-encryption", "s3_sse_none", False, None)


def _versioning(status: str) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    return (
        _VERSIONING,
        {"versioningConfiguration": {"status": status}},
        "aws_s3_bucket_versioning",
        {"versioning_configuration": {"status": status}},
    )


s3("s3-versioning", "s3_versioned", True, _versioning("Enabled"))
s3("s3-versioning", "s3_suspended", False, _versioning("Suspended"))
s3("s3-versioning", "s3_unversioned", False, None)

# CKV2_AWS_65 judges aws_s3_bucket_ownership_controls only: a bucket with no ownership controls at all, which
# the pack fails, is not judged by Checkov, so it has no fixture here.
for _ownership, _slug in (
    ("BucketOwnerEnforced", "s3_owner_enforced"),
    ("BucketOwnerPreferred", "s3_owner_preferred"),
    ("ObjectWriter", "s3_object_writer"),
):
    s3(
        "s3-acls-disabled",
        _slug,
        _ownership == "BucketOwnerEnforced",
        (
            _OWNERSHIP,
            {"rule": {"objectOwnership": _ownership}},
            "aws_s3_bucket_ownership_controls",
            {"rule": {"object_ownership": _ownership}},
        ),
    )

# The pack exempts a server-access-log target bucket, which CKV_AWS_18 fails.
s3(
    "s3-access-logging",
    "s3_logged",
    True,
    (
        _LOGGING,
        {"targetBucket": "access-logs", "targetPrefix": "b/"},
        "aws_s3_bucket_logging",
        {"target_bucket": "access-logs", "target_prefix": "b/"},
    ),
)
s3("s3-access-logging", "s3_unlogged", False, None)

# CKV_AWS_143 judges only the legacy inline object_lock_configuration block of aws_s3_bucket (a v4+ bucket with
# object_lock_enabled and an aws_s3_bucket_object_lock_configuration is not judged), so the pack's bucket +
# BucketObjectLockConfiguration is rendered in that form. Checkov asks only that the lock be Enabled; the pack
# also requires a default retention (and optionally a mode), which both fixtures have.
_RETENTION = {"defaultRetention": {"mode": "GOVERNANCE", "days": 30}}
_TF_RETENTION = {"default_retention": {"mode": "GOVERNANCE", "days": 30}}
_REGISTRY = {"tags": {"purpose": "models"}}
s3(
    "s3-model-registry-object-lock",
    "s3_registry_locked",
    True,
    None,
    {**_REGISTRY, "objectLockEnabled": True},
    {"object_lock_configuration": {"object_lock_enabled": "Enabled", "rule": _TF_RETENTION}},
    ((_LOCK, {"rule": _RETENTION}),),
)
s3(
    "s3-model-registry-object-lock",
    "s3_registry_unlocked",
    False,
    None,
    _REGISTRY,
    {"object_lock_configuration": {"rule": _TF_RETENTION}},
    ((_LOCK, {"rule": _RETENTION}),),
)

# -- resource policies on buckets and queues ----------------------------------------------------------
# Both tools accept a public principal under a restricting Condition and judge only Allow statements.
_CONDITION = {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}
for _principal, _extra, _passes, _slug in (
    ({"AWS": "arn:aws:iam::123456789012:root"}, {}, True, "account"),
    ("*", {"Condition": _CONDITION}, True, "conditioned"),
    ("*", {}, False, "star"),
    ({"AWS": "*"}, {}, False, "aws_star"),
):
    _bucket_doc = _doc(Principal=_principal, Action="s3:GetObject", Resource="arn:aws:s3:::data/*", **_extra)
    tf(
        "s3-no-public-principal",
        f"bucket_policy_{_slug}",
        _passes,
        _res("aws:s3/bucketPolicy:BucketPolicy", {"bucket": "data", "policy": _bucket_doc}),
        "aws_s3_bucket_policy",
        {"bucket": "data", "policy": _bucket_doc},
    )
    _queue_arn = "arn:aws:sqs:eu-central-1:123456789012:q"
    _queue_doc = _doc(Principal=_principal, Action="sqs:SendMessage", Resource=_queue_arn, **_extra)
    _url = "https://sqs.eu-central-1.amazonaws.com/123456789012/q"
    tf(
        "sqs-queue-policy-not-public",
        f"queue_policy_{_slug}",
        _passes,
        _res("aws:sqs/queuePolicy:QueuePolicy", {"queueUrl": _url, "policy": _queue_doc}),
        "aws_sqs_queue_policy",
        {"queue_url": _url, "policy": _queue_doc},
    )

# -- Lambda failure handling and environment secrets ----------------------------------------------------
# CKV_AWS_116 asks for the function's dead_letter_config only. The pack also accepts an on-failure destination
# (FunctionEventInvokeConfig), and for an SQS-triggered function asks instead for ReportBatchItemFailures and a
# DLQ on the queue; Checkov judges neither, so those cases are tested in policy_cases.py.
_DLQ = "arn:aws:sqs:eu-central-1:123456789012:fn-dlq"
for _dlq, _slug in ((True, "fn_dlq"), (False, "fn_no_dlq")):
    _fn: dict[str, Any] = {"runtime": "python3.12", **({"deadLetterConfig": {"targetArn": _DLQ}} if _dlq else {})}
    tf(
        "lambda-failure-handling",
        _slug,
        _dlq,
        lambda _fn=_fn: stack_args([policy_resource("aws:lambda/function:Function", _fn, "fn")]),
        "aws_lambda_function",
        {
            **_FN_TF,
            "function_name": _slug,
            "runtime": "python3.12",
            **({"dead_letter_config": {"target_arn": _DLQ}} if _dlq else {}),
        },
    )
# CKV_AWS_45 detects secret VALUES (an AWS access key id here, which the pack's value patterns also catch); the
# pack also flags secret-looking NAMES whatever their value (DB_PASSWORD="hunter2"), which Checkov passes, so
# that case is tested in policy_cases.py. AWS_ACCESS_KEY_ID is not a secret-looking name to the pack.
for _variables, _passes, _slug in (
    ({"TABLE": "orders", "LOG_LEVEL": "info"}, True, "fn_env_plain"),
    ({"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}, False, "fn_env_key_id"),
    (
        {
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        },
        False,
        "fn_env_key_pair",
    ),
):
    tf(
        "lambda-no-secrets-in-environment",
        _slug,
        _passes,
        _res("aws:lambda/function:Function", {"runtime": "python3.12", "environment": {"variables": _variables}}),
        "aws_lambda_function",
        {
            **_FN_TF,
            "function_name": _slug,
            "runtime": "python3.12",
            "environment": {"variables": HclMap(_variables)},
        },
    )


# -- rendering and running ----------------------------------------------------------------------------
def _hcl_value(value: Any) -> str:
    if isinstance(value, Expr):
        return str(value)
    if isinstance(value, HclMap):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_hcl_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(_hcl_value(v) for v in value) + "]"


def _hcl_body(props: dict[str, Any], indent: str = "  ") -> list[str]:
    lines = []
    for key, value in props.items():
        blocks = (
            None
            if isinstance(value, HclMap)
            else [value]
            if isinstance(value, dict)
            else value
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
            else None
        )
        if blocks is None:
            lines.append(f"{indent}{key} = {_hcl_value(value)}")
            continue
        for block in blocks:
            lines += [f"{indent}{key} {{", *_hcl_body(block, indent + "  "), f"{indent}}}"]
    return lines


def render(root: Path) -> None:
    """Write every fixture where Checkov scans it."""
    (root / "k8s").mkdir(parents=True)
    (root / "tf").mkdir()
    (root / "cfn").mkdir()
    hcl: list[str] = []
    resources: dict[str, Any] = {}
    for fixture in FIXTURES:
        if fixture.framework == "kubernetes":
            (root / "k8s" / f"{fixture.name}.json").write_text(json.dumps(fixture.body))
        elif fixture.framework == "terraform":
            for type_, name, body in ((fixture.checkov_type, fixture.name, fixture.body), *fixture.siblings):
                hcl += [f'resource "{type_}" "{name}" {{', *_hcl_body(body), "}"]
        else:
            resources[fixture.name] = {"Type": fixture.checkov_type, "Properties": fixture.body}
    (root / "tf" / "main.tf").write_text("\n".join(hcl) + "\n")
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    (root / "cfn" / "template.json").write_text(json.dumps(template))


@pytest.fixture(scope="module")
def checkov_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """``{resource: {check id: PASSED|FAILED}}`` from one Checkov run over every fixture."""
    assert CHECKOV.is_file(), (
        f"Checkov is not installed at {CHECKOV}: run `make checkov-venv` (a separate tool virtualenv; "
        "checkov's pins conflict with the project's) or set BLUEPRINT_CHECKOV to a checkov executable"
    )
    root = tmp_path_factory.mktemp("checkov")
    render(root)
    checks = sorted({c for f in FIXTURES for c in POLICIES[f.policy].meta.equivalents.checkov})
    results: dict[str, dict[str, str]] = {}
    for directory, framework in (("k8s", "kubernetes"), ("tf", "terraform"), ("cfn", "cloudformation")):
        done = subprocess.run(
            [
                str(CHECKOV),
                "-d",
                str(root / directory),
                "--framework",
                framework,
                "--check",
                ",".join(checks),
                "-o",
                "json",
                "--skip-download",
                "--compact",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr[-2000:]
        report = json.loads(done.stdout)
        for entry in report if isinstance(report, list) else [report]:
            for status, key in (("PASSED", "passed_checks"), ("FAILED", "failed_checks")):
                for result in entry.get("results", {}).get(key, []):
                    resource = str(result["resource"]).rsplit(".", 1)[-1]
                    results.setdefault(resource, {})[result["check_id"]] = status
    return results


def test_every_policy_with_a_checkov_equivalent_has_fixtures_or_a_stated_reason() -> None:
    named = {p.meta.name for p in POLICIES.values() if p.meta.equivalents.checkov}
    covered = {f.policy for f in FIXTURES}
    assert named - covered == set(NOT_CROSS_CHECKED)
    for policy in covered:
        assert {f.passes for f in FIXTURES if f.policy == policy} == {True, False}, policy


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f"{f.policy}:{f.name}")
def test_pack_and_checkov_agree(fixture: Fixture, checkov_results: dict[str, dict[str, str]]) -> None:
    ours = run(POLICIES[fixture.policy], fixture.ours())
    assert ours.not_applicable is None, ours.not_applicable
    assert ours.passed is fixture.passes, ours.messages
    wanted = set(POLICIES[fixture.policy].meta.equivalents.checkov)
    names = [fixture.name, *(name for _, name, _ in fixture.siblings)]
    judged: dict[str, str] = {}
    for name in names:
        for check, status in checkov_results.get(name, {}).items():
            if check in wanted and judged.get(check) != "FAILED":
                judged[check] = status
    assert judged, f"none of {sorted(wanted)} judged {names}: {[checkov_results.get(n) for n in names]}"
    assert ("FAILED" not in judged.values()) is fixture.passes, judged
