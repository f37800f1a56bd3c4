"""System test: each shipped stack's plan deployed into a moto server with IAM on, its real workloads run in it.

For dev, staging and prod, ``hybrid_ai_platform.cli.synth.synthesize(stack).to_json()`` (the plan ``blueprint plan``
prints) is deployed by ``tests/system/deploy.py`` into one moto server (a separate process, IAM
authentication on for every request after the deployer's bootstrap). Then the real workload code runs in
this process, each under the role the plan gives it (STS ``AssumeRole`` in moto: moto evaluates the
identity policies of an assumed-role session, checked below by a denied call) and with the environment the
plan gives it (the function's variables, the CronJob's and the Deployment's container env):

- a landing upload -> S3's EventBridge notification -> the rule -> its SQS target -> the preprocessing
  handler (``lambda_src/preprocessing/handler.py``, driven by the event-source-mapping harness with the
  function role's credentials, as Lambda's ESM uses the execution role) -> Parquet in the feature store ->
  the batch-scoring job (``python -m inference_server batch``) -> scores that join back to their input rows
  by the model signature's key columns;
- the inference server's model repository loading the published model through the model role;
- each function's schedule (the rule's ``Scheduled Event`` delivered to its target queue as EventBridge
  would) and a poison message reaching the DLQ after ``maxReceiveCount``.

moto's S3 -> EventBridge delivery works in server mode, but it spells ``detail.object.eTag`` (AWS: ``etag``),
and its delivery to an SQS target drops ``account``. The test observes moto's copies (proof that notification,
rule pattern and target are wired, and that ``PutEvents`` of AWS's documented event is routed by the deployed
rules to exactly that queue), discards them, and delivers AWS's documented event, so the handler only sees
AWS's shape.

Which layer covers which risk (the same table, with doc links, is in docs/system-checks.md, "What the system
test covers, and what only the checks cover"):

=========================================================  ==================================================
risk                                                       covered by
=========================================================  ==================================================
role lacks an action/resource a workload calls             system test (moto enforces identity policies)
IAM condition other than StringEquals (``s3:prefix``       system test's own evaluator on every List call a
StringLike on a List call)                                 workload made (moto ignores these conditions)
HEAD/GET of a missing key answers 403, not 404 (no         system test's own check on every 404 a workload
unconditioned ``s3:ListBucket``)                           received (moto answers 404 to anyone)
``kms:ViaService`` / KMS key policy / SSE-KMS              system checks only (moto never consults KMS here)
resource policies (bucket, queue ``aws:SourceArn``)        system test: each schedule's target queue policy
                                                           admits its rule; the rest: system checks
rule pattern vs. the event AWS sends                       system test: moto's matcher on AWS's documented
                                                           event (no TestEventPattern in moto) and PutEvents
event shape the handler receives (``etag``, ``account``)   system test delivers AWS's documented shape only
moto matching every event to pattern-less (schedule)       ignored: those copies are discarded unjudged
rules; moto's extra ``Object Tags Added``
EventBridge -> Lambda targets                              system checks (moto cannot deliver to Lambda);
                                                           the test asserts the rules target SQS only
ESM ``batchItemFailures``                                  system test's ESM harness (moto's ESM ignores it)
SQS batch actions authorised by their single actions       system test's moto server (moto_server.py)
trust policy: service principal / pod identity tags        system test's own assertion (the service's
                                                           AssumeRole is emulated unauthenticated)
env each workload validates, prefixes, producers           system test (real code) and system checks
GPU capacity, NetworkPolicies, EKS version, alarms,        system checks only
Kubernetes schemas
=========================================================  ==================================================
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import io
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.handlers
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from tests.conftest import SHIPPED_STACKS, shipped_plan
from tests.e2e.test_workload_contracts import EXAMPLE_SIGNATURE, _model_for, k8s_env
from tests.lambda_src.esm_harness import SqsEventSourceMapping, documented_event, scheduled_event
from tests.system.conftest import MotoServer
from tests.system.deploy import QUEUE, ROLE, RULE, TARGET, Deployment, deploy

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "lambda_src" / "samples"
SAMPLE_FILES = ("transactions_sample.csv", "transactions_sample.jsonl.gz")
FUNCTION = "aws:lambda/function:Function"
ESM = "aws:lambda/eventSourceMapping:EventSourceMapping"
CRONJOB = "kubernetes:batch/v1:CronJob"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
# The harness's own variables: where AWS is, and X-Ray (not emulated) off. Everything else is the plan's.
HARNESS_ENV = {"POWERTOOLS_TRACE_DISABLED": "true"}


# -- recording every S3 call a workload makes -----------------------------------------------------------


@dataclass
class S3Call:
    """One S3 request: who made it (the workload's role), what, and the HTTP status moto answered."""

    role: str
    operation: str
    bucket: str
    key: str | None
    prefix: str | None
    status: int = 0


@dataclass
class Recorder:
    """Collects :class:`S3Call`s from every botocore session created while installed."""

    role: str = "deployer"
    calls: list[S3Call] = field(default_factory=list)

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append(
            S3Call(self.role, model.name, params.get("Bucket", ""), params.get("Key"), params.get("Prefix"))
        )

    def after(self, http_response: Any, model: Any, **_: Any) -> None:
        if self.calls and self.calls[-1].operation == model.name and not self.calls[-1].status:
            self.calls[-1].status = http_response.status_code


# -- the deployed stack --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None

    def env(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        if self.token:
            env["AWS_SESSION_TOKEN"] = self.token
        return env


@functools.cache
def make_client(server: MotoServer, region: str, creds: Credentials, service: str) -> Any:
    """A boto3 client of ``creds`` on the moto server (cached: building a client costs ~0.2 s)."""
    session: Any = boto3.session.Session()
    return session.client(
        service,
        region_name=region,
        endpoint_url=server.endpoint,
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.token,
    )


@dataclass
class System:
    stack: str
    server: MotoServer
    deployment: Deployment
    admin: Credentials
    recorder: Recorder
    monkeypatch: pytest.MonkeyPatch

    @property
    def region(self) -> str:
        return self.deployment.region

    def client(self, service: str, creds: Credentials | None = None) -> Any:
        return make_client(self.server, self.region, creds or self.admin, service)

    def assume(self, role: dict[str, Any]) -> Credentials:
        """Session credentials of ``role``, as the service its trust policy names obtains them.

        AWS authorises that ``AssumeRole`` by the role's trust policy (a service principal, which no
        identity in moto can be): the call is made unauthenticated, and the tests assert the trust policy.
        """
        self.server.allow_unauthenticated(1)
        creds = self.client("sts").assume_role(
            RoleArn=self.deployment.real_of(role, "arn"), RoleSessionName=f"system-{uuid.uuid4().hex[:8]}"
        )["Credentials"]
        return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    @contextmanager
    def running_as(self, role: dict[str, Any], env: dict[str, str]) -> Iterator[Credentials]:
        """The process environment of a workload: ``env`` (the plan's), its role's credentials, moto."""
        creds = self.assume(role)
        with pytest.MonkeyPatch.context() as mp:
            for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_DEFAULT_REGION"):
                mp.delenv(name, raising=False)
            for name, value in {**env, **creds.env(), "AWS_ENDPOINT_URL": self.server.endpoint}.items():
                mp.setenv(name, value)
            mp.setenv("AWS_DEFAULT_REGION", env.get("AWS_REGION", self.region))
            previous, self.recorder.role = self.recorder.role, role["id"]
            try:
                yield creds
            finally:
                self.recorder.role = previous

    def role_policies(self, role: dict[str, Any]) -> list[dict[str, Any]]:
        """The statements of the role's inline policies as deployed (read back from moto)."""
        iam = self.client("iam")
        name = self.deployment.real_of(role, "id")
        if iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            raise AssertionError(f"{name}: managed policies are not evaluated by this test's own checks")
        statements: list[dict[str, Any]] = []
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            document = json.loads(document) if isinstance(document, str) else document
            found = document["Statement"]
            statements += found if isinstance(found, list) else [found]
        return statements


@contextmanager
def deployed_system(name: str, plan: dict[str, Any], moto_server: MotoServer) -> Iterator[System]:
    """``plan`` deployed into an empty moto (IAM on) by an admin deployer identity, with every S3 call recorded."""
    moto_server.reset()
    # the deployer's bootstrap: the only unauthenticated requests are these three
    moto_server.allow_unauthenticated(3)
    boot = boto3.session.Session().client(
        "iam", region_name="us-east-1", endpoint_url=moto_server.endpoint, aws_access_key_id="boot",
        aws_secret_access_key="boot",
    )  # fmt: skip
    boot.create_user(UserName="deployer")
    boot.put_user_policy(UserName="deployer", PolicyName="admin", PolicyDocument=ADMIN_POLICY)
    key = boot.create_access_key(UserName="deployer")["AccessKey"]
    admin = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    recorder = Recorder()
    with pytest.MonkeyPatch.context() as mp:
        # every botocore session created from now on (the workloads create their own) reports its S3 calls
        mp.setattr(
            botocore.handlers,
            "BUILTIN_HANDLERS",
            [
                *botocore.handlers.BUILTIN_HANDLERS,
                ("before-parameter-build.s3", recorder.before),
                ("after-call.s3", recorder.after),
            ],
        )
        mp.setattr(boto3, "DEFAULT_SESSION", None)
        region = next(r for r in plan["resources"] if r["type"] == "pulumi:providers:aws")["inputs"]["region"]
        deployment = deploy(plan, lambda service: make_client(moto_server, region, admin, service))
        yield System(name, moto_server, deployment, admin, recorder, mp)


@pytest.fixture(scope="module", params=SHIPPED_STACKS)
def system(request: pytest.FixtureRequest, moto_server: MotoServer) -> Iterator[System]:
    """The stack's plan deployed into an empty moto (IAM on), with an admin deployer identity."""
    with deployed_system(request.param, shipped_plan(request.param).to_json(), moto_server) as deployed:
        yield deployed


# -- plan navigation -----------------------------------------------------------------------------------


def of_type(system: System, type_token: str) -> list[dict[str, Any]]:
    return system.deployment.of_type(type_token)


def function_role(system: System, function: dict[str, Any]) -> dict[str, Any]:
    role = system.deployment.dependency(function, "role", ROLE)
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    # the trust policy admits the Lambda service (asserted here: AssumeRole is emulated unauthenticated)
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}], role["name"]
    return role


def pod_role(system: System, workload: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """The role Pod Identity gives the pods of ``workload``: through the association of its service account."""
    namespace = workload["inputs"]["metadata"]["namespace"]
    account = pod["serviceAccountName"]
    [association] = [
        a
        for a in system.deployment.of_type(POD_IDENTITY)
        if a["inputs"]["namespace"] == namespace and a["inputs"]["serviceAccount"] == account
    ]
    role = system.deployment.dependency(association, "roleArn", ROLE)
    [statement] = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    tags = statement["Condition"]["StringEquals"]
    assert tags["aws:RequestTag/kubernetes-namespace"] == namespace
    assert tags["aws:RequestTag/kubernetes-service-account"] == account
    return role


def function_env(system: System, function: dict[str, Any]) -> dict[str, str]:
    env = dict(system.deployment.resolve(function, "environment")["variables"])
    return {**env, **HARNESS_ENV, "AWS_REGION": system.region}  # AWS_REGION: set by the Lambda runtime


def queue_of(system: System, function: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The function's event source mapping and the queue it reads."""
    [esm] = [e for e in of_type(system, ESM) if function["urn"] in e["property_dependencies"].get("functionName", [])]
    assert esm["inputs"]["functionResponseTypes"] == ["ReportBatchItemFailures"]  # what the harness emulates
    return esm, system.deployment.dependency(esm, "eventSourceArn", QUEUE)


def targets_of(system: System, queue: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(rule, target) pairs whose target is ``queue``."""
    pairs = []
    for target in of_type(system, TARGET):
        if queue["urn"] in target["property_dependencies"].get("arn", []):
            pairs.append((system.deployment.dependency(target, "rule", RULE), target))
    return pairs


@contextmanager
def lambda_runtime(system: System, function: dict[str, Any]) -> Iterator[tuple[Any, Credentials]]:
    """The handler module, imported in the function's planned environment under its role."""
    with system.running_as(function_role(system, function), function_env(system, function)) as creds:
        from preprocessing.config import get_settings
        from preprocessing.storage import s3_client
        from preprocessing.sweep import sqs_client

        for cached in (get_settings, s3_client, sqs_client):
            cached.cache_clear()
        # a fresh import: Powertools reads the environment at init (other tests' module is put back after)
        previous = sys.modules.pop("preprocessing.handler", None)
        try:
            yield importlib.import_module("preprocessing.handler"), creds
        finally:
            for cached in (get_settings, s3_client, sqs_client):
                cached.cache_clear()
            sys.modules.pop("preprocessing.handler", None)
            if previous is not None:
                sys.modules["preprocessing.handler"] = previous
                import preprocessing

                preprocessing.handler = previous  # type: ignore[attr-defined]


def esm_for(system: System, function: dict[str, Any], handler: Any, creds: Credentials) -> SqsEventSourceMapping:
    esm, queue = queue_of(system, function)
    # Lambda's ESM polls with the execution role; one ReceiveMessage returns at most 10 messages
    return SqsEventSourceMapping(
        system.client("sqs", creds),
        system.deployment.real_of(queue, "url"),
        system.deployment.real_of(queue, "arn"),
        handler.lambda_handler,
        batch_size=min(int(esm["inputs"]["batchSize"]), 10),
    )


def receive_all(system: System, queue: dict[str, Any], only: Any = None) -> list[dict[str, Any]]:
    """Receive and delete the visible messages of ``queue`` (admin) for which ``only(body)`` holds (default:
    all); the others are made visible again, untouched."""
    sqs = system.client("sqs")
    url = system.deployment.real_of(queue, "url")
    taken, kept = [], []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
        for m in messages:
            body = json.loads(m["Body"])
            if only is None or only(body):
                taken.append(body)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            else:
                kept.append(m["ReceiptHandle"])
    for handle in kept:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return taken


def upload(system: System, function: dict[str, Any], sample: str, name: str) -> dict[str, Any]:
    """Upload a sample under the function's landing prefix; returns the documented S3 event for it."""
    env = function_env(system, function)
    bucket, key = env["LANDING_BUCKET"], f"{env['LANDING_PREFIX']}{name}/{sample}"
    body = (SAMPLES / sample).read_bytes()
    put = system.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return documented_event(
        "s3_object_created_aws_doc",
        **{
            "id": str(uuid.uuid4()),
            "account": system.deployment.account,
            "region": system.region,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail.bucket.name": bucket,
            "detail.object.key": key,
            "detail.object.size": len(body),
            "detail.object.etag": put["ETag"].strip('"'),
            "detail.object.version-id": put["VersionId"],
        },
    )


def matches_everything_in_moto(system: System, queue: dict[str, Any]) -> bool:
    """moto matches every event to a rule without an event pattern (a schedule rule), which AWS never does,
    and sends an extra ``Object Tags Added`` per upload: such a queue's extra copies are discarded unjudged."""
    return any("eventPattern" not in rule["inputs"] for rule, _ in targets_of(system, queue))


def deliver(system: System, event: dict[str, Any], queue: dict[str, Any]) -> None:
    """Route ``event`` (AWS's documented shape) through the plan's rules, and deliver it to ``queue`` as
    EventBridge delivers to an SQS target without input transform: the event, unchanged, as the body.

    The routing is moto's: ``PutEvents`` on the default bus, then exactly ``queue`` (of all the stack's queues)
    must hold moto's copy. moto's copy is discarded (its default target template drops ``account``), and the
    documented event is sent in its place.
    """
    response = system.client("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
                "Time": datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
            }
        ]
    )
    assert response["FailedEntryCount"] == 0, response
    for other in of_type(system, QUEUE):
        routed = [m["detail"] for m in receive_all(system, other, lambda m: m["detail"] == event["detail"])]
        if other is queue:
            assert event["detail"] in routed, f"{event['detail-type']} did not reach {other['name']}"
        elif not matches_everything_in_moto(system, other):
            assert event["detail"] not in routed, f"{event['detail-type']} routed to {other['name']}"
    for _rule, target in targets_of(system, queue):
        assert not {"input", "inputPath", "inputTransformer"} & set(target["inputs"]), target["name"]
    system.client("sqs").send_message(QueueUrl=system.deployment.real_of(queue, "url"), MessageBody=json.dumps(event))


# -- our own IAM evaluation where moto is weaker than AWS -------------------------------------------------


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in ([patterns] if isinstance(patterns, str) else patterns))


def allows(statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, str | None]) -> bool:
    """Whether an Allow statement grants ``action`` on ``resource`` with the request ``context`` (condition
    keys; ``None`` = absent). Operators other than StringEquals/StringLike make this evaluator fail: it never
    guesses. (No Deny statements in workload roles: asserted.)"""
    granted = False
    for s in statements:
        assert s["Effect"] == "Allow", s
        if not _matches(s["Action"], action) or not _matches(s["Resource"], resource):
            continue
        ok = True
        for operator, conditions in s.get("Condition", {}).items():
            assert operator in ("StringEquals", "StringLike"), f"{operator} is not evaluated by this test"
            for key, expected in conditions.items():
                actual = context.get(key)
                values = [expected] if isinstance(expected, str) else expected
                if actual is None:
                    ok = False
                elif operator == "StringEquals":
                    ok = ok and actual in values
                else:
                    ok = ok and _matches(values, actual)
        granted = granted or ok
    return granted


LIST_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
}


@functools.cache
def tolerant_of_403() -> tuple[tuple[str, str], ...]:
    """(operation, key pattern) of every declared S3 call whose code treats 403 and 404 alike
    (``missing_key: "403-or-404"`` in the workloads' ``aws_calls.py``): AWS's 403 for those is handled."""
    import re

    found = []
    for module in ("preprocessing.aws_calls", "inference_server.aws_calls"):
        for calls in importlib.import_module(module).WORKLOADS.values():
            for call in calls:
                if call.get("missing_key") == "403-or-404" and call["call"].startswith("s3:"):
                    key = str(call["resource"]).split(":::", 1)[-1].split("/", 1)[-1]
                    found.append((call["call"].removeprefix("s3:"), re.sub(r"\$\{[^}]*\}", "*", key)))
    return tuple(found)


def assert_aws_would_answer_the_same(system: System, calls: list[S3Call]) -> None:
    """Every S3 call of a workload, judged as AWS would where moto does not.

    - a 404 for a missing key: AWS answers 404 only to a caller with ``s3:ListBucket`` on the bucket, else 403
      (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html, "Permissions"); a List request's
      ``s3:prefix`` condition never applies to a HEAD/GET, so only an unconditioned grant counts;
    - a List call: its ``s3:prefix`` condition (StringLike, ignored by moto) with the prefix actually sent.
    """
    roles = {r["id"]: r for r in of_type(system, ROLE)}
    for call in calls:
        if call.role not in roles:
            continue
        statements = system.role_policies(roles[call.role])
        bucket_arn = f"arn:aws:s3:::{call.bucket}"
        tolerated = any(
            call.operation == operation and fnmatch.fnmatchcase(call.key or "", pattern)
            for operation, pattern in tolerant_of_403()
        )
        if call.status == 404 and not tolerated:
            assert allows(statements, "s3:ListBucket", bucket_arn, {"s3:prefix": None}), (
                f"{call.role}: {call.operation} s3://{call.bucket}/{call.key} relied on a 404, but AWS answers 403 "
                "without an unconditioned s3:ListBucket on the bucket"
            )
        if call.operation in LIST_ACTIONS:
            assert allows(statements, LIST_ACTIONS[call.operation], bucket_arn, {"s3:prefix": call.prefix or ""}), (
                f"{call.role}: {call.operation} s3://{call.bucket}/{call.prefix} is denied by the role's conditions"
            )


# -- the tests -----------------------------------------------------------------------------------------


def test_the_plan_is_deployed_exactly_as_planned(system: System) -> None:
    """What moto holds is the plan: read back, not trusted from the deployer."""
    d = system.deployment
    s3, sqs, events, iam = (system.client(s) for s in ("s3", "sqs", "events", "iam"))
    for record in d.of_type("aws:s3/bucketVersioning:BucketVersioning"):
        bucket = d.resolve(record, "bucket")
        status = record["inputs"]["versioningConfiguration"]["status"]
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == status
    for record in d.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
        [rule] = s3.get_bucket_encryption(Bucket=d.resolve(record, "bucket"))["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        [planned] = d.resolve(record, "rules")
        default = planned["applyServerSideEncryptionByDefault"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == default["sseAlgorithm"]
        assert rule["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID") == default.get("kmsMasterKeyId")
        if "kmsMasterKeyId" in default:  # the plan's key, mapped to the key moto created
            key = d.dependency(record, "rules", "aws:kms/key:Key")
            assert default["kmsMasterKeyId"] == d.real_of(key, "arn")
    # (moto's GetBucketNotificationConfiguration omits EventBridgeConfiguration: the chain test proves the
    # planned notification by moto's own delivery of the upload's event instead)
    for queue in d.of_type(QUEUE):
        attrs = sqs.get_queue_attributes(QueueUrl=d.real_of(queue, "url"), AttributeNames=["All"])["Attributes"]
        assert attrs["VisibilityTimeout"] == str(queue["inputs"].get("visibilityTimeoutSeconds", 30))
        assert attrs["MessageRetentionPeriod"] == str(queue["inputs"]["messageRetentionSeconds"])
        if "redrivePolicy" in queue["inputs"]:
            redrive = json.loads(attrs["RedrivePolicy"])
            planned = json.loads(queue["inputs"]["redrivePolicy"])
            assert redrive["maxReceiveCount"] == planned["maxReceiveCount"]
            assert redrive["deadLetterTargetArn"] == d.real_of(d.dependency(queue, "redrivePolicy", QUEUE), "arn")
    for rule in d.of_type(RULE):
        described = events.describe_rule(Name=d.real_of(rule, "id"))
        if "eventPattern" in rule["inputs"]:
            assert json.loads(described["EventPattern"]) == json.loads(d.resolve(rule, "eventPattern"))
        assert described.get("ScheduleExpression") == rule["inputs"].get("scheduleExpression")
        assert described["State"] == rule["inputs"]["state"]
        deployed = events.list_targets_by_rule(Rule=d.real_of(rule, "id"))["Targets"]
        planned_targets = [t for t in d.of_type(TARGET) if rule["urn"] in t["property_dependencies"]["rule"]]
        assert sorted(t["Arn"] for t in deployed) == sorted(d.resolve(t, "arn") for t in planned_targets)
        # EventBridge -> Lambda is what moto cannot deliver: the shipped rules target queues only
        assert all(":sqs:" in t["Arn"] for t in deployed)
    for role in d.of_type(ROLE):
        name = d.real_of(role, "id")
        planned = {
            p["inputs"].get("name", p["name"]): json.loads(d.resolve(p, "policy"))
            for p in d.of_type("aws:iam/rolePolicy:RolePolicy")
            if role["urn"] in p["property_dependencies"]["role"]
        }
        deployed_policies = {}
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            deployed_policies[policy] = json.loads(document) if isinstance(document, str) else document
        assert deployed_policies == planned
        attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
        assert attached == {
            a["inputs"]["policyArn"]
            for a in d.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if role["urn"] in a["property_dependencies"]["role"]
        }


def test_rule_patterns_match_the_event_aws_documents(system: System) -> None:
    """Each object-created rule, judged by EventBridge matching (moto's matcher; moto does not implement
    TestEventPattern) on the event AWS documents: its own prefix matches, a sibling prefix does not."""
    from moto.events.models import EventPattern

    for function in of_type(system, FUNCTION):
        env = function_env(system, function)
        _, queue = queue_of(system, function)
        pattern_rules = [r for r, _ in targets_of(system, queue) if "eventPattern" in r["inputs"]]
        assert pattern_rules, f"{function['name']}: no rule delivers Object Created to its queue"
        for rule in pattern_rules:
            pattern = EventPattern.load(system.deployment.resolve(rule, "eventPattern"))

            def event(bucket: str, key: str) -> Any:
                return documented_event(
                    "s3_object_created_aws_doc", **{"detail.bucket.name": bucket, "detail.object.key": key}
                )

            landing, prefix = env["LANDING_BUCKET"], env["LANDING_PREFIX"]
            assert pattern.matches_event(event(landing, f"{prefix}2026/11/28/a.csv"))
            assert not pattern.matches_event(event(landing, f"{prefix.rstrip('/')}-other/a.csv"))
            assert not pattern.matches_event(event(f"{landing}-other", f"{prefix}a.csv"))


def test_a_landing_upload_becomes_scores_that_join_back_to_their_rows(system: System, tmp_path: Path) -> None:
    d = system.deployment
    functions = of_type(system, FUNCTION)
    system.recorder.calls.clear()
    # GIVEN one sample uploaded under each function's landing prefix
    uploaded: dict[str, str] = {}
    for i, function in enumerate(functions):
        event = upload(system, function, SAMPLE_FILES[i % 2], f"upload-{i}")
        # THEN moto's own S3 -> EventBridge -> SQS delivery reached this function's queue (wiring proven); it
        # carries moto's eTag spelling, so it is discarded and AWS's shape is delivered instead
        key = event["detail"]["object"]["key"]
        for other in of_type(system, QUEUE):
            copies = receive_all(system, other, lambda m, key=key: m["detail"].get("object", {}).get("key") == key)
            delivered = [m for m in copies if m["detail-type"] == "Object Created"]
            keys = [m["detail"]["object"]["key"] for m in delivered]
            if other is queue_of(system, function)[1]:
                assert key in keys and all("eTag" in m["detail"]["object"] for m in delivered)
            elif not matches_everything_in_moto(system, other):
                assert key not in keys, f"{key} reached {other['name']}"
        deliver(system, event, queue_of(system, function)[1])
        uploaded[function["urn"]] = event["detail"]["object"]["key"]

    # WHEN each function's event source mapping drains its queue under the function's role and environment
    for function in functions:
        with lambda_runtime(system, function) as (handler, creds):
            polls = esm_for(system, function, handler, creds).drain(deadline_seconds=15)
        # THEN the one message was processed, nothing failed
        assert [p.failed for p in polls] == [[]], polls
        assert all(p.invocation_error is None for p in polls)

    # AND every S3 answer the functions relied on is the one AWS would give their roles (moto answers 404 to
    # anyone and ignores s3:prefix conditions); put-if-absent's HEAD relies on 404s
    assert any(c.status == 404 for c in system.recorder.calls)
    assert_aws_would_answer_the_same(system, system.recorder.calls)
    system.recorder.calls.clear()

    # AND the feature store holds Parquet partitions and a manifest per upload
    env = function_env(system, functions[0])
    feature_bucket = env["FEATURE_BUCKET"]
    s3 = system.client("s3")
    manifests = s3.list_objects_v2(Bucket=feature_bucket, Prefix=env["MANIFEST_PREFIX"])["Contents"]
    sources = {
        json.loads(s3.get_object(Bucket=feature_bucket, Key=m["Key"])["Body"].read())["source"]["key"]
        for m in manifests
    }
    assert sources == set(uploaded.values())

    # WHEN each batch job runs with its CronJob's environment under its role, on the model it names
    from inference_server import batch
    from inference_server.signature import ModelSignature

    signature = ModelSignature.parse(EXAMPLE_SIGNATURE.read_bytes(), str(EXAMPLE_SIGNATURE))
    jobs = of_type(system, CRONJOB)
    assert jobs
    for job in jobs:
        spec = d.resolve(job, "spec")
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        [container] = pod["containers"]
        job_env = {**k8s_env(container), "MODEL_CACHE_DIR": str(tmp_path / job["name"])}  # the emptyDir mount
        settings = batch.BatchSettings.from_env(job_env, date_arg="2024-05-06")
        publish_model(system, settings.model, signature)
        days = sorted(
            {
                k["Key"].split("/")[1]
                for k in s3.list_objects_v2(Bucket=feature_bucket, Prefix=settings.input_prefix + "dt=")["Contents"]
            }
        )
        batch_date = days[-1].removeprefix("dt=")
        with system.running_as(pod_role(system, job, pod), job_env):
            status = batch.main(["--date", batch_date])
        assert status == batch.EXIT_OK
        # THEN every input row of the window has exactly one score, joined by the signature's key columns
        settings = batch.BatchSettings.from_env(job_env, date_arg=batch_date)
        keys = list(signature.key_names)
        inputs = read_parquet(s3, feature_bucket, [settings.input_partition_for(day) for day in settings.dates], keys)
        scores = read_parquet(s3, feature_bucket, [settings.output_partition_for(day) for day in settings.dates], None)
        assert inputs.num_rows > 0
        assert scores.num_rows == inputs.num_rows
        [score] = [c for c in scores.column_names if c.startswith("score")]  # the model's [N, 1] output
        joined = inputs.join(scores.select([*keys, score]), keys=keys, join_type="inner")
        assert joined.num_rows == inputs.num_rows
        assert joined.column(score).null_count == 0

    # AND so is every S3 answer the batch jobs relied on
    assert_aws_would_answer_the_same(system, system.recorder.calls)


def read_parquet(s3: Any, bucket: str, prefixes: list[str], columns: list[str] | None) -> pa.Table:
    tables = []
    for prefix in prefixes:
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            relative = obj["Key"][len(prefix) :]
            if relative.endswith(".parquet") and not relative.startswith(("_", ".")):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                tables.append(pq.read_table(io.BytesIO(body), columns=columns))
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


def publish_model(system: System, model: Any, signature: Any) -> None:
    """Publish ``model.onnx`` and ``signature.json`` where the model settings name them (as the publish
    commands do), as the publisher (admin)."""
    location = model.model_repository
    s3 = system.client("s3")
    body = _model_for(signature)
    s3.put_object(Bucket=location.bucket, Key=location.key_for(model.model_name, model.model_version), Body=body)
    s3.put_object(
        Bucket=location.bucket,
        Key=location.key_for(model.model_name, model.model_version, "signature.json"),
        Body=EXAMPLE_SIGNATURE.read_bytes(),
    )


def test_each_inference_server_loads_its_model_through_its_role(system: System, tmp_path: Path) -> None:
    import numpy as np
    from inference_server.config import Settings
    from inference_server.model import LoadedModel
    from inference_server.repository import ModelRepository
    from inference_server.signature import ModelSignature

    signature = ModelSignature.parse(EXAMPLE_SIGNATURE.read_bytes(), str(EXAMPLE_SIGNATURE))
    deployments = of_type(system, DEPLOYMENT)
    assert deployments
    system.recorder.calls.clear()
    for deployment in deployments:
        pod = system.deployment.resolve(deployment, "spec")["template"]["spec"]
        [container] = pod["containers"]
        env = {**k8s_env(container), "MODEL_CACHE_DIR": str(tmp_path / deployment["name"])}
        settings = Settings.from_env(env)
        publish_model(system, settings, signature)
        # GIVEN the server's repository with a client of the Deployment's role and environment
        with system.running_as(pod_role(system, deployment, pod), env) as creds:
            client = system.client("s3", creds)
            repository = ModelRepository(settings.model_repository, settings.model_cache_dir, client=client)
            # WHEN it fetches the model THEN it loads and scores
            path = repository.fetch(settings.model_name, settings.model_version)
            model = LoadedModel.load(path, settings.model_name, settings.model_version)
            width = len(signature.inputs[0].columns)
            [out] = model.run({"INPUT0": np.zeros((1, width), dtype=np.float32)}, ["score"])
            assert out.shape == (1, 1)
            # AND the role is enforced: the server's identity may not read the feature store (this also
            # shows that moto evaluates an assumed-role session's policies)
            feature_bucket = next(
                b for b in of_type(system, "aws:s3/bucket:Bucket") if b["name"] == "feature-store-bucket"
            )
            with pytest.raises(ClientError) as denied:
                client.list_objects_v2(Bucket=feature_bucket["id"], Prefix="")
            assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert_aws_would_answer_the_same(system, [c for c in system.recorder.calls if c.status != 403])


def test_each_schedule_sweeps_its_function_landing_prefix(system: System) -> None:
    """A function has a schedule exactly when it has a sweep queue; each schedule's Scheduled Event, delivered
    to its target queue as EventBridge would, makes the function enqueue and process the previous day."""
    d = system.deployment
    swept = 0
    system.recorder.calls.clear()
    for function in of_type(system, FUNCTION):
        env = function_env(system, function)
        _, queue = queue_of(system, function)
        schedules = [(r, t) for r, t in targets_of(system, queue) if "scheduleExpression" in r["inputs"]]
        # a schedule delivers Scheduled Events the handler can only serve with SWEEP_QUEUE_URL = its own queue
        assert bool(schedules) == ("SWEEP_QUEUE_URL" in env), function["name"]
        if not schedules:
            continue
        assert env["SWEEP_QUEUE_URL"] == d.real_of(queue, "url")
        # GIVEN an object landed under the prefix (its own event is consumed: the sweep must find it alone)
        event = upload(system, function, SAMPLE_FILES[0], "late")
        receive_all(system, queue)
        landed = system.client("s3").head_object(Bucket=env["LANDING_BUCKET"], Key=event["detail"]["object"]["key"])[
            "LastModified"
        ]
        for rule, target in schedules:
            rule_arn = d.real_of(rule, "arn")
            # the queue's policy admits EventBridge for this rule (moto ignores resource policies)
            [policy] = [
                p
                for p in d.of_type("aws:sqs/queuePolicy:QueuePolicy")
                if queue["urn"] in p["property_dependencies"]["queueUrl"]
            ]
            [send] = [s for s in json.loads(d.resolve(policy, "policy"))["Statement"] if s["Effect"] == "Allow"]
            assert send["Principal"] == {"Service": "events.amazonaws.com"} and send["Action"] == "sqs:SendMessage"
            assert rule_arn in send["Condition"]["ArnEquals"]["aws:SourceArn"]
            # WHEN the rule fires the next day: its target has no input transform, so the event goes unchanged
            assert not {"input", "inputPath", "inputTransformer"} & set(target["inputs"])
            tick = scheduled_event(rule_arn, landed + timedelta(days=1))
            tick["account"], tick["region"] = d.account, system.region
            system.client("sqs").send_message(QueueUrl=d.real_of(queue, "url"), MessageBody=json.dumps(tick))
            with lambda_runtime(system, function) as (handler, creds):
                polls = esm_for(system, function, handler, creds).drain(deadline_seconds=15)
            # THEN the tick and one message per object version landed that day were processed, none failed
            versions = system.client("s3").list_object_versions(
                Bucket=env["LANDING_BUCKET"], Prefix=env["LANDING_PREFIX"]
            )["Versions"]
            assert sum(len(p.received) for p in polls) == 1 + len(versions), polls
            assert not any(p.failed for p in polls), polls
            s3 = system.client("s3")
            manifests = s3.list_objects_v2(Bucket=env["FEATURE_BUCKET"], Prefix=env["MANIFEST_PREFIX"])["Contents"]
            sources = {
                json.loads(s3.get_object(Bucket=env["FEATURE_BUCKET"], Key=m["Key"])["Body"].read())["source"]["key"]
                for m in manifests
            }
            assert event["detail"]["object"]["key"] in sources
            swept += 1
    if swept:
        assert any(c.operation == "ListObjectVersions" for c in system.recorder.calls)
    assert_aws_would_answer_the_same(system, system.recorder.calls)


def test_a_poison_message_reaches_the_dlq_after_max_receive_count(system: System) -> None:
    d = system.deployment
    for function in of_type(system, FUNCTION):
        env = function_env(system, function)
        _, queue = queue_of(system, function)
        dlq = d.dependency(queue, "redrivePolicy", QUEUE)
        max_receives = json.loads(queue["inputs"]["redrivePolicy"])["maxReceiveCount"]
        # GIVEN the documented event of an object that does not exist, through the rule
        missing = documented_event(
            "s3_object_created_aws_doc",
            **{
                "account": d.account,
                "region": system.region,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "detail.bucket.name": env["LANDING_BUCKET"],
                "detail.object.key": f"{env['LANDING_PREFIX']}never-uploaded.csv",
            },
        )
        deliver(system, missing, queue)
        sqs_admin = system.client("sqs")
        url = d.real_of(queue, "url")
        failures = 0
        with lambda_runtime(system, function) as (handler, creds):
            esm = esm_for(system, function, handler, creds)
            esm.sqs = tap = ReceiptTap(esm.sqs)
            for _ in range(max_receives + 2):
                result = esm.poll()
                failures += len(result.failed)
                if not result.received:
                    break
                # the planned visibility timeout elapses (emulated: the failed message is made visible again)
                for message_id in result.failed:
                    sqs_admin.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=tap.handles[message_id], VisibilityTimeout=0
                    )
        # THEN the handler failed it maxReceiveCount times and SQS moved it to the DLQ
        assert failures == max_receives
        [dead] = receive_all(system, dlq)
        assert dead["detail"]["object"]["key"] == missing["detail"]["object"]["key"]


class ReceiptTap:
    """An SQS client that remembers the receipt handle of every message it received."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.handles: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def receive_message(self, **kwargs: Any) -> Any:
        response = self.client.receive_message(**kwargs)
        for message in response.get("Messages", []):
            self.handles[message["MessageId"]] = message["ReceiptHandle"]
        return response
