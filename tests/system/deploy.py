"""A small deployer: the AWS records of an offline plan (``blueprint plan --format json``), created in moto.

Only what the system test exercises is deployed: KMS keys, S3 buckets with their versioning, default
encryption and EventBridge notifications, SQS queues with their attributes, redrive and policies, EventBridge
rules and their targets, IAM roles with their inline policies and managed-policy attachments. Every other
record (EKS, VPC, alarms, Kubernetes objects, the Lambda function itself) is not created: the workloads run
in the test process instead, with the environment and the role the plan gives them.

Inputs are passed exactly as planned. Each translator consumes the input keys it knows and fails on any
other, so a planned setting can never be dropped silently. References between records are resolved through
the plan: for an input whose ``property_dependencies`` name other records, every planned identifier of those
records (their mock id, URL or ARN) is replaced by what moto returned for them; an identifier of another
record that is not declared as a dependency is an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]

KMS_KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"

IGNORED_INPUTS = frozenset({"tags"})
"""Inputs no translator applies (tags do not change behaviour)."""


class DeployError(AssertionError):
    """A record could not be deployed exactly as planned."""


@dataclass
class Deployment:
    """What was created: per plan URN, the mapping of its planned identifiers to moto's."""

    plan: dict[str, Any]
    clients: Callable[[str], Any]
    region: str
    account: str
    records: dict[str, Record] = field(default_factory=dict)
    identifiers: dict[str, dict[str, str]] = field(default_factory=dict)
    real: dict[str, dict[str, str]] = field(default_factory=dict)

    # -- look-ups ---------------------------------------------------------------------------------

    def of_type(self, type_token: str) -> list[Record]:
        """Plan records of one type, in plan order."""
        return [r for r in self.plan["resources"] if r["type"] == type_token]

    def named(self, name: str) -> Record:
        """The one plan record with logical name ``name``."""
        [record] = [r for r in self.plan["resources"] if r["name"] == name]
        return record

    def dependency(self, record: Record, prop: str, type_token: str | None = None) -> Record:
        """The one record ``record``'s input ``prop`` came from (of ``type_token`` when given)."""
        urns = [u for u in record["property_dependencies"].get(prop, []) if u in self.records]
        if type_token is not None:
            urns = [u for u in urns if self.records[u]["type"] == type_token]
        if len(urns) != 1:
            raise DeployError(f"{record['name']}.{prop} depends on {len(urns)} records of {type_token}: {urns}")
        return self.records[urns[0]]

    def real_of(self, record: Record, what: str) -> str:
        """What moto returned for ``record`` (``id``, ``arn`` or ``url``)."""
        return self.real[record["urn"]][what]

    def resolve(self, record: Record, prop: str) -> Any:
        """``record``'s planned input ``prop`` with the identifiers of its dependencies mapped to moto's."""
        mapping: dict[str, str] = {}
        for urn in record["property_dependencies"].get(prop, []):
            mapping.update(self.identifiers.get(urn, {}))
        value = _substitute(record["inputs"][prop], mapping)
        undeclared = {
            planned
            for urn, ids in self.identifiers.items()
            if urn not in record["property_dependencies"].get(prop, [])
            for planned, real in ids.items()
            if planned != real and planned in json.dumps(value)
        }
        if undeclared:
            raise DeployError(f"{record['name']}.{prop} names {sorted(undeclared)} without a property dependency")
        return value

    def created(self, record: Record, planned: dict[str, str], real: dict[str, str]) -> None:
        """Remember moto's identifiers of ``record`` (``planned``/``real``: ``id``, ``arn``, ``url``)."""
        self.identifiers[record["urn"]] = {planned[k]: real[k] for k in planned}
        self.real[record["urn"]] = real


def _substitute(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        for planned in sorted(mapping, key=len, reverse=True):
            value = value.replace(planned, mapping[planned])
        return value
    if isinstance(value, list):
        return [_substitute(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, mapping) for k, v in value.items()}
    return value


def _inputs(deployment: Deployment, record: Record, known: set[str]) -> dict[str, Any]:
    """The record's inputs (resolved), failing on any input this deployer would not apply."""
    unknown = set(record["inputs"]) - known - IGNORED_INPUTS
    if unknown:
        raise DeployError(f"{record['type']} {record['name']}: inputs {sorted(unknown)} are not deployed")
    return {k: deployment.resolve(record, k) for k in record["inputs"] if k in known}


# -- translators ---------------------------------------------------------------------------------------


def _kms_key(d: Deployment, r: Record) -> None:
    i = _inputs(
        d,
        r,
        {
            "customerMasterKeySpec",
            "deletionWindowInDays",  # applies when the key is destroyed
            "description",
            "enableKeyRotation",
            "keyUsage",
            "multiRegion",
            "policy",
            "rotationPeriodInDays",
        },
    )
    kms = d.clients("kms")
    meta = kms.create_key(
        Description=i["description"],
        KeyUsage=i["keyUsage"],
        KeySpec=i["customerMasterKeySpec"],
        Policy=i["policy"],
        MultiRegion=i["multiRegion"],
    )["KeyMetadata"]
    if i.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=meta["KeyId"], RotationPeriodInDays=i["rotationPeriodInDays"])
    planned_arn = f"arn:aws:kms:{d.region}:{d.account}:key/{r['id']}"
    d.created(r, {"id": r["id"], "arn": planned_arn}, {"id": meta["KeyId"], "arn": meta["Arn"]})


def _bucket(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"forceDestroy", "objectLockEnabled"})
    kwargs: dict[str, Any] = {"Bucket": r["id"], "ObjectLockEnabledForBucket": bool(i.get("objectLockEnabled"))}
    if d.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": d.region}
    d.clients("s3").create_bucket(**kwargs)
    arn = f"arn:aws:s3:::{r['id']}"
    d.created(r, {"id": r["id"], "arn": arn}, {"id": r["id"], "arn": arn})


def _versioning(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"bucket", "versioningConfiguration"})
    config = dict(i["versioningConfiguration"])
    status = config.pop("status")
    if config:
        raise DeployError(f"{r['name']}: versioning settings {sorted(config)} are not deployed")
    d.clients("s3").put_bucket_versioning(Bucket=i["bucket"], VersioningConfiguration={"Status": status})


def _encryption(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"bucket", "rules"})
    rules = []
    for rule in i["rules"]:
        default = rule["applyServerSideEncryptionByDefault"]
        by_default = {"SSEAlgorithm": default["sseAlgorithm"]}
        if "kmsMasterKeyId" in default:
            by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        rules.append({"ApplyServerSideEncryptionByDefault": by_default, "BucketKeyEnabled": rule["bucketKeyEnabled"]})
    d.clients("s3").put_bucket_encryption(Bucket=i["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})


def _notification(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"bucket", "eventbridge"})
    config: dict[str, Any] = {"EventBridgeConfiguration": {}} if i.get("eventbridge") else {}
    d.clients("s3").put_bucket_notification_configuration(Bucket=i["bucket"], NotificationConfiguration=config)


_QUEUE_ATTRIBUTES = {
    "delaySeconds": "DelaySeconds",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "maxMessageSize": "MaximumMessageSize",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "redrivePolicy": "RedrivePolicy",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
}


def _queue(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, set(_QUEUE_ATTRIBUTES))
    attributes = {_QUEUE_ATTRIBUTES[k]: str(v).lower() if isinstance(v, bool) else str(v) for k, v in i.items()}
    name = r["id"].rsplit("/", 1)[1]  # the planned id is the queue URL
    sqs = d.clients("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    planned_arn = f"arn:aws:sqs:{d.region}:{d.account}:{name}"
    d.created(r, {"id": r["id"], "arn": planned_arn}, {"id": url, "arn": arn, "url": url})


def _queue_policy(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"policy", "queueUrl"})
    d.clients("sqs").set_queue_attributes(QueueUrl=i["queueUrl"], Attributes={"Policy": i["policy"]})


def _redrive_allow(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"queueUrl", "redriveAllowPolicy"})
    d.clients("sqs").set_queue_attributes(
        QueueUrl=i["queueUrl"], Attributes={"RedriveAllowPolicy": i["redriveAllowPolicy"]}
    )


def _role(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"assumeRolePolicy", "description", "maxSessionDuration"})
    role = d.clients("iam").create_role(
        RoleName=r["id"],
        AssumeRolePolicyDocument=i["assumeRolePolicy"],
        Description=i.get("description", ""),
        MaxSessionDuration=i.get("maxSessionDuration", 3600),
    )["Role"]
    planned_arn = f"arn:aws:iam::{d.account}:role/{r['id']}"
    d.created(r, {"id": r["id"], "arn": planned_arn}, {"id": role["RoleName"], "arn": role["Arn"]})


def _role_policy(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"policy", "role", "name"})
    d.clients("iam").put_role_policy(
        RoleName=i["role"], PolicyName=i.get("name", r["name"]), PolicyDocument=i["policy"]
    )


def _attachment(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"policyArn", "role"})
    d.clients("iam").attach_role_policy(RoleName=i["role"], PolicyArn=i["policyArn"])


def _rule(d: Deployment, r: Record) -> None:
    i = _inputs(d, r, {"description", "eventPattern", "scheduleExpression", "state"})
    kwargs: dict[str, Any] = {"Name": r["id"], "State": i["state"], "Description": i.get("description", "")}
    if "eventPattern" in i:
        kwargs["EventPattern"] = i["eventPattern"]
    if "scheduleExpression" in i:
        kwargs["ScheduleExpression"] = i["scheduleExpression"]
    arn = d.clients("events").put_rule(**kwargs)["RuleArn"]
    planned_arn = f"arn:aws:events:{d.region}:{d.account}:rule/{r['id']}"
    d.created(r, {"id": r["id"], "arn": planned_arn}, {"id": r["id"], "arn": arn})


def _target(d: Deployment, r: Record) -> None:
    i = _inputs(
        d, r, {"arn", "deadLetterConfig", "input", "inputPath", "inputTransformer", "retryPolicy", "rule", "targetId"}
    )
    target: dict[str, Any] = {"Id": i.get("targetId", r["name"]), "Arn": i["arn"]}
    if "deadLetterConfig" in i:
        target["DeadLetterConfig"] = {"Arn": i["deadLetterConfig"]["arn"]}
    if "retryPolicy" in i:
        target["RetryPolicy"] = {
            "MaximumRetryAttempts": i["retryPolicy"]["maximumRetryAttempts"],
            "MaximumEventAgeInSeconds": i["retryPolicy"]["maximumEventAgeInSeconds"],
        }
    if "input" in i:
        target["Input"] = i["input"]
    if "inputPath" in i:
        target["InputPath"] = i["inputPath"]
    if "inputTransformer" in i:
        target["InputTransformer"] = {
            "InputPathsMap": i["inputTransformer"].get("inputPaths", {}),
            "InputTemplate": i["inputTransformer"]["inputTemplate"],
        }
    response = d.clients("events").put_targets(Rule=i["rule"], Targets=[target])
    if response.get("FailedEntryCount"):
        raise DeployError(f"{r['name']}: {response['FailedEntries']}")


TRANSLATORS: dict[str, Callable[[Deployment, Record], None]] = {
    KMS_KEY: _kms_key,
    BUCKET: _bucket,
    VERSIONING: _versioning,
    ENCRYPTION: _encryption,
    NOTIFICATION: _notification,
    QUEUE: _queue,
    QUEUE_POLICY: _queue_policy,
    REDRIVE_ALLOW: _redrive_allow,
    ROLE: _role,
    ROLE_POLICY: _role_policy,
    ATTACHMENT: _attachment,
    RULE: _rule,
    TARGET: _target,
}
"""The record types this deployer creates, and how."""


def deploy(plan: dict[str, Any], clients: Callable[[str], Any]) -> Deployment:
    """Create the plan's records of :data:`TRANSLATORS` types in dependency order; ``clients(service)`` gives
    a boto3 client of the deploying identity."""
    [provider] = [r for r in plan["resources"] if r["type"] == "pulumi:providers:aws"]
    deployment = Deployment(plan, clients, region=provider["inputs"]["region"], account=_account(plan))
    pending = [r for r in plan["resources"] if r["type"] in TRANSLATORS]
    deployment.records = {r["urn"]: r for r in pending}
    done: set[str] = set()
    while pending:
        ready = [
            r
            for r in pending
            if all(
                u in done or u not in deployment.records for urns in r["property_dependencies"].values() for u in urns
            )
        ]
        if not ready:
            raise DeployError(f"dependency cycle among {[r['name'] for r in pending]}")
        for record in ready:
            TRANSLATORS[record["type"]](deployment, record)
            done.add(record["urn"])
        pending = [r for r in pending if r["urn"] not in done]
    return deployment


def _account(plan: dict[str, Any]) -> str:
    from hybrid_ai_platform.cli.mocks import TEST_ACCOUNT

    return TEST_ACCOUNT
