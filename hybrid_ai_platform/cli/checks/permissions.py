"""Permissions: every AWS call a workload's code makes is allowed to the role the plan gives it.

Each workload ships the calls it makes as data beside its code (``WORKLOADS`` in ``aws_calls.py``:
the Lambda package's ``preprocessing/aws_calls.py``, loaded from the archive the plan deploys; the
container's ``container_src/inference_server/aws_calls.py`` for the inference server Deployments and the
batch-scoring CronJobs). For each workload in the plan the check

1. resolves the declared resource patterns with the environment the plan gives it (the Lambda's
   variables, the container's ``env``), skipping calls whose ``requires`` variable is unset;
2. finds its role: the Lambda's ``role``; for a pod, the Pod Identity association of its namespace and
   service account;
3. turns each call into the IAM requests AWS authorizes: ``HeadObject`` is ``s3:GetObject``
   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html), a ``VersionId`` adds
   ``s3:GetObjectVersion`` (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html),
   ``ListObjectsV2`` is ``s3:ListBucket`` with ``s3:prefix``, ``ListObjectVersions`` is
   ``s3:ListBucketVersions``, ``SendMessageBatch`` is ``sqs:SendMessage``; a call that relies on 404 for a
   missing key needs ``s3:ListBucket`` on the bucket with no ``s3:prefix`` in the request (S3 answers 403
   otherwise, same page as HeadObject); reading or writing data encrypted with a KMS key needs
   ``kms:Decrypt`` / ``kms:GenerateDataKey`` with ``kms:ViaService`` = ``s3.<region>.amazonaws.com`` and the
   encryption context ``aws:s3:arn`` = the bucket ARN with an S3 Bucket Key, else the object ARN
   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html), and for an SQS producer
   ``kms:GenerateDataKey`` and ``kms:Decrypt`` via ``sqs.<region>.amazonaws.com``
   (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html);
   conditional writes set ``s3:if-none-match`` / ``s3:if-match``
   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html);
4. evaluates each request (:mod:`hybrid_ai_platform.cli.checks.iam`) against the role's inline and customer-managed
   policies in the plan, the bucket or queue policy, and the KMS key policy, with their conditions.

A call not allowed is a blocking finding naming the role, the workload, the call and why.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..plandoc import Resource
from . import CheckContext, Finding, check
from .iam import ANY, Policy, Request, account_trusts_iam, display, evaluate, parse
from .triggers import config_field
from .workload_code import DeclarationError, attribute, lambda_archive, load_from_archive, load_from_source

FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "aws:iam/policy:Policy"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRONJOB = "kubernetes:batch/v1:CronJob"
BUCKET_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
KMS_KEY = "aws:kms/key:Key"
KMS_ALIAS = "aws:kms/alias:Alias"
CONTAINER_DECLARATION = "container_src/inference_server/aws_calls.py"
"""Where the inference image's declaration lives in the source tree (the image is built from it)."""
POD_MODES = {"inference-server": "server", "batch-scoring": "batch", "preprocessing-worker": "worker"}
"""``app.kubernetes.io/component`` label of a pod template → workload in the image's declaration."""
WORKER_DECLARATION = "lambda_src/preprocessing/aws_calls.py"
"""Where the preprocessing worker image's declaration lives (``lambda_src/Dockerfile.worker`` copies it)."""
POD_DECLARATIONS = {"server": CONTAINER_DECLARATION, "batch": CONTAINER_DECLARATION, "worker": WORKER_DECLARATION}
"""Pod workload → the source file of its image's ``WORKLOADS``."""

CALL_ACTIONS: dict[str, tuple[str, ...]] = {
    "s3:GetObject": ("s3:GetObject",),
    "s3:HeadObject": ("s3:GetObject",),
    "s3:PutObject": ("s3:PutObject",),
    # Multipart upload permissions: https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
    "s3:CreateMultipartUpload": ("s3:PutObject",),
    "s3:UploadPart": ("s3:PutObject",),
    "s3:CompleteMultipartUpload": ("s3:PutObject",),
    "s3:AbortMultipartUpload": ("s3:AbortMultipartUpload",),
    "s3:ListObjectsV2": ("s3:ListBucket",),
    "s3:ListObjects": ("s3:ListBucket",),
    "s3:ListObjectVersions": ("s3:ListBucketVersions",),
    "s3:DeleteObject": ("s3:DeleteObject",),
    "sqs:SendMessage": ("sqs:SendMessage",),
    "sqs:SendMessageBatch": ("sqs:SendMessage",),
    "sqs:ReceiveMessage": ("sqs:ReceiveMessage",),
    "sqs:DeleteMessage": ("sqs:DeleteMessage",),
    "sqs:DeleteMessageBatch": ("sqs:DeleteMessage",),
    "sqs:GetQueueAttributes": ("sqs:GetQueueAttributes",),
}
"""API operation → the IAM actions AWS authorizes it with (one request each)."""
DECLARATION_KEYS = frozenset(
    {"call", "resource", "context", "version_id", "missing_key", "kms", "conditional", "requires", "why"}
)
"""Keys a declared call may have (docs/system-checks.md); any other is a typo the check refuses."""
DECLARATION_VALUES: dict[str, tuple[Any, ...]] = {
    "missing_key": (None, "404", "403-or-404"),
    "kms": (None, "decrypt", "encrypt"),
    "version_id": (None, False, True),
}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\|([a-z0-9-]+))?\}")


@dataclass(frozen=True)
class Workload:
    """A workload of the plan: its record, environment, role ARN and declared calls."""

    label: str
    record: Resource
    env: Mapping[str, str]
    role_arn: str | None
    calls: tuple[Mapping[str, Any], ...]
    fields: Mapping[str, str]
    """Config field per kind of call: ``default`` and, by variable name, the field that decides it."""


class _UnresolvedError(LookupError):
    pass


def _filter(value: str, name: str) -> str:
    if name == "queue-arn":
        match = re.fullmatch(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(\d{12})/([^/]+)", value)
        if not match:
            raise _UnresolvedError(f"{value!r} is not an SQS queue URL")
        return f"arn:aws:sqs:{match.group(1)}:{match.group(2)}:{match.group(3)}"
    if name in ("s3-bucket", "s3-key-prefix"):
        match = re.fullmatch(r"s3://([^/]+)/?(.*)", value)
        if not match:
            raise _UnresolvedError(f"{value!r} is not an s3:// URI")
        if name == "s3-bucket":
            return match.group(1)
        prefix = match.group(2).strip("/")
        return f"{prefix}/" if prefix else ""
    raise _UnresolvedError(f"unknown placeholder filter |{name}")


def resolve(pattern: str, env: Mapping[str, str]) -> str:
    """Substitute ``${NAME}`` / ``${NAME|filter}``; a ``*`` of the pattern (not of a value) is a run-time wildcard."""

    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(pattern):
        parts.append(pattern[position : match.start()].replace("*", ANY))
        value = str(env.get(match.group(1)) or "")
        if not value:
            raise _UnresolvedError(f"the workload's environment has no {match.group(1)}")
        parts.append(_filter(value, match.group(2)) if match.group(2) else value)
        position = match.end()
    parts.append(pattern[position:].replace("*", ANY))
    return "".join(parts)


# ------------------------------------------------------------------ workloads of the plan


def _declaration(module: types.ModuleType, name: str) -> tuple[Mapping[str, Any], ...]:
    workloads = attribute(module, "WORKLOADS")
    calls = workloads.get(name) if isinstance(workloads, Mapping) else None
    if not isinstance(calls, tuple | list) or not all(isinstance(c, Mapping) and c.get("call") for c in calls):
        raise DeclarationError(f"{module.__file__}: WORKLOADS[{name!r}] must be a sequence of calls with a 'call'")
    for index, call in enumerate(calls):
        where = f"{module.__file__}: WORKLOADS[{name!r}][{index}] ({call['call']})"
        if unknown := sorted(set(call) - DECLARATION_KEYS):
            raise DeclarationError(
                f"{where} has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(DECLARATION_KEYS))}"
            )
        for key, allowed in DECLARATION_VALUES.items():
            if call.get(key) not in allowed:
                raise DeclarationError(f"{where}: {key}={call.get(key)!r} is not one of {allowed}")
    return tuple(calls)


def _lambda_workloads(context: CheckContext) -> Iterator[Workload | Finding]:
    for function in context.resources(FUNCTION):
        inputs = function.inputs
        package = str(inputs.get("handler") or "").split(".", 1)[0]
        archive = lambda_archive(context.root, function)
        if not package or archive is None:
            continue
        env = ((inputs.get("environment") or {}).get("variables")) or {}
        try:
            calls = _declaration(load_from_archive(archive, f"{package}/aws_calls.py"), "handler")
        except DeclarationError as exc:
            yield Finding(f"function {inputs.get('name')}: {exc}", config_field(context, function, None), function)
            continue
        calls = calls + _poller_calls(context, inputs)
        fields = {
            "default": config_field(context, function, None),
            "LANDING_": config_field(context, function, "landing_prefix"),
            "FEATURE_": config_field(context, function, "feature_set"),
            "SWEEP_": config_field(context, function, "schedule"),
        }
        yield Workload(f"function {inputs.get('name')}", function, env, inputs.get("role"), calls, fields)


ESM = "aws:lambda/eventSourceMapping:EventSourceMapping"
POLLER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
"""What Lambda's SQS poller calls with the function's role (and kms:Decrypt for an SSE-KMS queue):
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html (execution role permissions)."""


def _poller_calls(context: CheckContext, function_inputs: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """Calls Lambda's event source mapping makes with the function's role: not in the code, so not declared."""
    name = str(function_inputs.get("name") or "")
    calls: list[Mapping[str, Any]] = []
    for mapping in context.resources(ESM):
        inputs = mapping.inputs
        target = str(inputs.get("functionName") or "")
        source = str(inputs.get("eventSourceArn") or "")
        if source.startswith("arn:aws:sqs:") and name and (target == name or target.endswith(f":function:{name}")):
            for index, action in enumerate(POLLER_ACTIONS):
                calls.append(
                    {
                        "call": action,
                        "resource": source,
                        "kms": "decrypt" if index == 0 else None,
                        "why": f"Lambda's poller for event source mapping {mapping.name}",
                    }
                )
    return tuple(calls)


def _pod_spec(record: Resource) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    spec = record.inputs.get("spec") or {}
    if record.type == CRONJOB:
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template") or {}
    return template.get("metadata") or {}, template.get("spec") or {}


def _pod_workloads(context: CheckContext) -> Iterator[Workload | Finding]:
    records = [*context.resources(DEPLOYMENT), *context.resources(CRONJOB)]
    associations = list(context.resources(POD_IDENTITY))
    modules: dict[str, types.ModuleType] = {}
    for record in records:
        metadata = record.inputs.get("metadata") or {}
        template_meta, pod = _pod_spec(record)
        component = ((template_meta.get("labels") or {}) | (metadata.get("labels") or {})).get(
            "app.kubernetes.io/component"
        )
        mode = POD_MODES.get(str(component))
        if mode is None:
            continue
        name, namespace = str(metadata.get("name")), str(metadata.get("namespace") or "default")
        field = _worker_field(context, name) if mode == "worker" else _inference_field(context, mode, name)
        try:
            source = POD_DECLARATIONS[mode]
            module = modules.get(source) or load_from_source(context.root / source)
            modules[source] = module
            calls = _declaration(module, mode)
        except DeclarationError as exc:
            yield Finding(f"{mode} {namespace}/{name}: {exc}", field["default"], record)
            continue
        containers = pod.get("containers") or []
        env = (
            {str(e.get("name")): str(e.get("value")) for e in (containers[0].get("env") or []) if "value" in e}
            if containers
            else {}
        )
        account = str(pod.get("serviceAccountName") or "default")
        role = next(
            (
                str(a.inputs.get("roleArn"))
                for a in associations
                if a.inputs.get("namespace") == namespace and a.inputs.get("serviceAccount") == account
            ),
            None,
        )
        yield Workload(f"{mode} {namespace}/{name} (service account {account})", record, env, role, calls, field)


def _worker_field(context: CheckContext, name: str) -> dict[str, str]:
    """``preprocessing.functions[<i>]`` of the function a worker Deployment (named after it) runs."""
    entries = (context.config("preprocessing") or {}).get("functions") or []
    index = next((i for i, e in enumerate(entries) if isinstance(e, Mapping) and e.get("name") == name), "")
    return {"default": f"preprocessing.functions[{index}]"}


def _inference_field(context: CheckContext, mode: str, name: str) -> dict[str, str]:
    inference = context.config("inference") or {}
    key = "models" if mode == "server" else "batch_jobs"
    entries = inference.get(key) or []
    index = next((i for i, e in enumerate(entries) if isinstance(e, Mapping) and e.get("name") == name), "")
    base = f"inference.{key}[{index}]"
    if mode == "server":
        return {"default": base}
    return {
        "default": base,
        "MODEL_": f"{base}.model",
        "FEATURE_": f"{base}.feature_set",
        "INPUT_": f"{base}.feature_set",
        "OUTPUT_": f"{base}.feature_set",
    }


# ------------------------------------------------------------------ the plan's policies


@dataclass
class _Plan:
    context: CheckContext
    region: str

    def role(self, arn: str) -> Resource | None:
        name = arn.rsplit("/", 1)[-1]
        return next(
            (r for r in self.context.resources(ROLE) if name in (r.id, r.inputs.get("name"))),
            None,
        )

    def role_policies(self, role: Resource) -> tuple[list[Policy], list[str]]:
        """The role's inline and customer-managed policies; AWS-managed ARNs it cannot read are listed."""
        name = str(role.id or role.inputs.get("name"))
        policies = [
            Policy(str(p.name), parse(p.inputs.get("policy") or "{}"))
            for p in self.context.resources(ROLE_POLICY)
            if p.inputs.get("role") == name
        ]
        for inline in role.inputs.get("inlinePolicies") or []:
            if isinstance(inline, Mapping) and inline.get("policy"):
                policies.append(Policy(f"{role.name}#{inline.get('name')}", parse(inline["policy"])))
        arns = [
            str(a.inputs.get("policyArn")) for a in self.context.resources(ATTACHMENT) if a.inputs.get("role") == name
        ] + [str(a) for a in role.inputs.get("managedPolicyArns") or []]
        unread = []
        for arn in arns:
            managed = next(
                (
                    m
                    for m in self.context.resources(MANAGED_POLICY)
                    if arn.rsplit("/", 1)[-1] in (m.id, m.inputs.get("name"))
                ),
                None,
            )
            if managed is not None:
                policies.append(Policy(str(managed.name), parse(managed.inputs.get("policy") or "{}")))
            else:
                unread.append(arn)
        return policies, unread

    def _by_input(self, type_: str, key: str, value: str) -> Resource | None:
        return next((r for r in self.context.resources(type_) if r.inputs.get(key) == value), None)

    def bucket_policy(self, bucket: str) -> list[Policy]:
        record = self._by_input(BUCKET_POLICY, "bucket", bucket)
        return [Policy(str(record.name), parse(record.inputs["policy"]), True)] if record else []

    def bucket_key(self, bucket: str, account: str) -> tuple[str | None, bool]:
        """The KMS key ARN a bucket encrypts new objects with (None: not SSE-KMS) and whether a Bucket Key is on."""
        record = self._by_input(BUCKET_SSE, "bucket", bucket)
        for rule in (record.inputs if record else {}).get("rules") or []:
            default = rule.get("applyServerSideEncryptionByDefault") or {}
            if str(default.get("sseAlgorithm", "")).startswith("aws:kms"):
                return self.key_arn(default.get("kmsMasterKeyId"), account), bool(rule.get("bucketKeyEnabled"))
        return None, False

    def queue(self, arn: str) -> Resource | None:
        name = arn.rsplit(":", 1)[-1]
        return next((q for q in self.context.resources(QUEUE) if str(q.id or "").endswith(f"/{name}")), None)

    def queue_policy(self, queue: Resource) -> list[Policy]:
        record = self._by_input(QUEUE_POLICY, "queueUrl", str(queue.id))
        return [Policy(str(record.name), parse(record.inputs["policy"]), True)] if record else []

    def key_arn(self, key: Any, account: str) -> str | None:
        if not key:
            return None  # the AWS managed aws/s3 key: its key policy allows the account's principals
        key = str(key)
        if key.startswith("alias/aws/"):
            return None
        if key.startswith("alias/") or ":alias/" in key:
            alias = self._by_input(KMS_ALIAS, "name", key.rsplit(":", 1)[-1])
            key = str((alias.inputs if alias else {}).get("targetKeyId") or key)
        if key.startswith("arn:"):
            return str(key)
        return f"arn:aws:kms:{self.region}:{account}:key/{key}"

    def key_policy(self, arn: str) -> Mapping[str, Any] | None:
        key_id = arn.rsplit("/", 1)[-1]
        record = next((k for k in self.context.resources(KMS_KEY) if k.id == key_id), None)
        raw = (record.inputs if record else {}).get("policy")
        return parse(raw) if raw else None


# ------------------------------------------------------------------ requests of a call


@dataclass(frozen=True)
class _Need:
    request: Request
    resource_policies: tuple[Policy, ...]
    why: str
    key_policy: Mapping[str, Any] | None = None


def _needs(plan: _Plan, call: Mapping[str, Any], env: Mapping[str, str], base: Mapping[str, str]) -> list[_Need]:
    operation = str(call["call"])
    resource = resolve(str(call.get("resource") or "*"), env)
    extra = {k: resolve(str(v), env) for k, v in (call.get("context") or {}).items()}
    actions = list(CALL_ACTIONS.get(operation, (operation,)))
    if call.get("version_id"):
        actions.append("s3:GetObjectVersion")
    conditionals = call.get("conditional") or ()
    variants = [conditionals] if isinstance(conditionals, str) else list(conditionals) or ["none"]
    needs: list[_Need] = []
    service = operation.split(":", 1)[0]
    bucket = resource.split(":::", 1)[1].split("/", 1)[0] if service == "s3" and ":::" in resource else None
    resource_policies: tuple[Policy, ...] = tuple(plan.bucket_policy(bucket)) if bucket else ()
    queue = plan.queue(resource) if service == "sqs" else None
    if queue is not None:
        resource_policies = tuple(plan.queue_policy(queue))
    for action in actions:
        for variant in variants:
            context = dict(base) | extra
            if variant == "if-none-match":
                context["s3:if-none-match"] = "*"
            elif variant == "if-match":
                context["s3:if-match"] = ANY
            needs.append(
                _Need(
                    Request(action, resource, context),
                    resource_policies,
                    f"{operation}: {call['why']}" if call.get("why") else operation,
                )
            )
    if call.get("missing_key") == "404" and bucket:
        needs.append(
            _Need(
                Request("s3:ListBucket", f"arn:aws:s3:::{bucket}", dict(base)),
                resource_policies,
                f"{operation} of a missing key answers 404 only with s3:ListBucket on the bucket for any prefix "
                "(no s3:prefix condition); without it S3 answers 403 and the code fails instead of treating "
                "the key as absent",
            )
        )
    kms = call.get("kms")
    if kms and bucket:
        key, bucket_key = plan.bucket_key(bucket, str(base.get("aws:PrincipalAccount")))
        if key:
            context = dict(base) | {
                "kms:ViaService": f"s3.{plan.region}.amazonaws.com",
                "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{bucket}" if bucket_key else resource,
            }
            action = "kms:Decrypt" if kms == "decrypt" else "kms:GenerateDataKey"
            why = f"{operation} of {display(resource)}, SSE-KMS with this key"
            needs.append(_Need(Request(action, key, context), (), why, plan.key_policy(key)))
    if kms and queue is not None:
        key = plan.key_arn(queue.inputs.get("kmsMasterKeyId"), str(base.get("aws:PrincipalAccount")))
        if key:
            context = dict(base) | {
                "kms:ViaService": f"sqs.{plan.region}.amazonaws.com",
                "kms:EncryptionContext:aws:sqs:arn": resource,
            }
            queue_actions = ("kms:Decrypt",) if kms == "decrypt" else ("kms:GenerateDataKey", "kms:Decrypt")
            for action in queue_actions:
                why = f"{operation} on {display(resource)}, SSE-KMS with this key"
                needs.append(_Need(Request(action, key, context), (), why, plan.key_policy(key)))
    return needs


def _field(workload: Workload, call: Mapping[str, Any]) -> str:
    text = str(call.get("resource") or "") + " " + " ".join(map(str, (call.get("context") or {}).values()))
    for prefix, field in workload.fields.items():
        if prefix != "default" and f"${{{prefix}" in text:
            return field
    return workload.fields["default"]


@check(
    name="system-workload-permissions",
    id="BP-SYS-005",
    description=(
        "Every AWS call a workload's code declares (aws_calls.py beside the code) is allowed to the role the "
        "plan gives it, evaluated with IAM conditions, explicit denies, the bucket/queue and KMS key policies, "
        "and S3's 403-instead-of-404 rule for a missing key without s3:ListBucket."
    ),
    remediation=(
        "Grant the call in the role's policy (components/: the component that builds the role) with the "
        "resource and conditions the call really uses, or change the workload's environment in the stack "
        "config field named by the finding; if the code changed, update its aws_calls.py."
    ),
    severity="critical",
    resource_types=(FUNCTION, DEPLOYMENT, CRONJOB, ROLE, ROLE_POLICY, POD_IDENTITY),
)
def workload_permissions(context: CheckContext) -> Iterator[Finding]:
    """Evaluate each declared call of each workload against its role."""
    region = context.document.region or ""
    plan = _Plan(context, region)
    for item in [*_lambda_workloads(context), *_pod_workloads(context)]:
        if isinstance(item, Finding):
            yield item
            continue
        yield from _judge(plan, item)


def _judge(plan: _Plan, workload: Workload) -> Iterator[Finding]:
    if not workload.role_arn:
        yield Finding(
            f"{workload.label} makes AWS calls but the plan gives it no role (no Pod Identity association for "
            "its namespace and service account)",
            workload.fields["default"],
            workload.record,
        )
        return
    role = plan.role(workload.role_arn)
    if role is None:
        yield Finding(
            f"{workload.label}: its role {workload.role_arn} is not created by this plan, so its permissions "
            "cannot be checked",
            workload.fields["default"],
            workload.record,
            enforcement="advisory",
        )
        return
    policies, unread = plan.role_policies(role)
    account = workload.role_arn.split(":")[4] if workload.role_arn.count(":") >= 5 else ""
    base = {
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": workload.role_arn,
        "aws:PrincipalAccount": account,
        "aws:RequestedRegion": plan.region,
    }
    for call in workload.calls:
        required = call.get("requires")
        if required and not str(workload.env.get(str(required)) or "").strip():
            continue
        try:
            needs = _needs(plan, call, workload.env, base)
        except _UnresolvedError as exc:
            yield Finding(
                f"{workload.label}: cannot resolve {call['call']} on {call.get('resource')}: {exc}",
                _field(workload, call),
                workload.record,
            )
            continue
        for need in needs:
            request = need.request
            decision = evaluate(
                request, [*policies, *need.resource_policies], principal_arn=workload.role_arn, account=account
            )
            if decision.allowed and need.key_policy is not None:
                key_decision = evaluate(
                    request,
                    [Policy("key policy", need.key_policy, True)],
                    principal_arn=workload.role_arn,
                    account=account,
                )
                if not key_decision.allowed and not account_trusts_iam(need.key_policy, request.action, account):
                    decision = key_decision
            if decision.allowed:
                continue
            unread_note = f" (attached policies not in the plan, not evaluated: {', '.join(unread)})" if unread else ""
            yield Finding(
                f"{workload.label}: {request.action} on {display(request.resource)} (for {need.why}) is not allowed "
                f"by role {role.name}: {decision.reason}{unread_note}",
                _field(workload, call),
                role,
            )


# ------------------------------------------------------------------ keeping declarations honest (tests)


def called_resource(service: str, params: Mapping[str, Any]) -> str:
    """The ARN a recorded botocore call addresses (S3: bucket or object; SQS: the queue)."""
    if service == "s3":
        key = params.get("Key")
        return f"arn:aws:s3:::{params.get('Bucket')}" + (f"/{key}" if key else "")
    if service == "sqs":
        return _filter(str(params.get("QueueUrl")), "queue-arn")
    return "*"


def _fullmatch(pattern: str, value: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split(ANY))
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def declares(
    declared: Mapping[str, Any], service: str, operation: str, params: Mapping[str, Any], env: Mapping[str, str]
) -> bool:
    """Whether a declared call covers one call the code made (operation, resource, prefix, headers).

    Used by the workloads' tests, which record every botocore call (``provide-client-params``) and require
    each to be declared, and each declaration to be exercised.
    """
    if declared.get("call") != f"{service}:{operation}":
        return False
    if not _fullmatch(resolve(str(declared.get("resource") or "*"), env), called_resource(service, params)):
        return False
    context = {k: resolve(str(v), env) for k, v in (declared.get("context") or {}).items()}
    if "s3:prefix" in context and not _fullmatch(context["s3:prefix"], str(params.get("Prefix", ""))):
        return False
    if params.get("VersionId") and not declared.get("version_id"):
        return False
    conditional = declared.get("conditional") or ()
    variants = {conditional} if isinstance(conditional, str) else set(conditional)
    if operation == "PutObject":
        used = "if-none-match" if "IfNoneMatch" in params else "if-match" if "IfMatch" in params else "none"
        if used != "none" and used not in variants:
            return False
    return True
