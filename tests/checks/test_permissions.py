"""BP-SYS-005 permissions: each workload's declared AWS calls are allowed to the role the plan gives it.

Each defect is re-introduced into a copy of a shipped stack's plan; the evaluator's IAM semantics are
tested on small policies below."""

from __future__ import annotations

import copy
import datetime
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from hybrid_ai_platform.cli.checks import run_checks
from hybrid_ai_platform.cli.checks.iam import ANY, Policy, Request, evaluate
from hybrid_ai_platform.cli.diff import is_blocking
from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from tests.conftest import SHIPPED_STACKS, placed_prod_plan, shipped_plan

CHECK = "system-workload-permissions"
TODAY = datetime.date(2026, 11, 28)


def _document(stack: str) -> dict[str, Any]:
    return copy.deepcopy(shipped_plan(stack).to_json())


def _findings(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in run_checks(document, PROJECT_ROOT, TODAY)["violations"] if v["policy"] == CHECK]


def _record(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in document["resources"] if r["name"] == name and r["custom"])


def _edit_policy(document: dict[str, Any], name: str, edit: Any) -> dict[str, Any]:
    record = _record(document, name)
    policy = json.loads(record["inputs"]["policy"])
    edit({s.get("Sid"): s for s in policy["Statement"]}, policy)
    record["inputs"]["policy"] = json.dumps(policy)
    return record


def _function_index(document: dict[str, Any], name: str) -> int:
    names = [f["name"] for f in document["config"]["hybrid-ai-platform:preprocessing"]["functions"]]
    return names.index(name)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_have_no_permission_finding(stack: str) -> None:
    assert _findings(_document(stack)) == []


def test_a_prefix_conditioned_list_bucket_before_a_head_blocks_403_instead_of_404() -> None:
    # GIVEN prod's function role with s3:ListBucket on the landing bucket narrowed to its landing prefix
    document = _document("prod")

    def narrow(statements: dict[str, Any], _: Any) -> None:
        statements["ReadLanding1"]["Condition"] = {"StringLike": {"s3:prefix": ["raw/transactions/*"]}}

    _edit_policy(document, "transactions-role-policy", narrow)
    # WHEN checked
    findings = _findings(document)
    # THEN the role is named, with the call that needs 404, the failed condition and the landing field
    role = _record(document, "transactions-role")
    assert [(f["urn"], is_blocking(f)) for f in findings] == [(role["urn"], True)]
    finding = findings[0]
    assert finding["field"] == f"preprocessing.functions[{_function_index(document, 'transactions')}].landing_prefix"
    assert (
        "function hybrid-ai-platform-prod-transactions: s3:ListBucket on arn:aws:s3:::landing-bucket-"
        in finding["message"]
    )
    assert "s3:GetObject of a missing key answers 404 only with s3:ListBucket" in finding["message"]
    assert "condition StringLike s3:prefix [raw/transactions/*] not met (request: absent)" in finding["message"]


def test_a_missing_kms_decrypt_blocks_for_the_batch_job() -> None:
    # GIVEN prod's batch-job role without kms:Decrypt on the stack key (feature reads are SSE-KMS)
    document = _document("prod")

    def drop_decrypt(statements: dict[str, Any], policy: dict[str, Any]) -> None:
        # (any kms:Decrypt on the key via S3 would do: the model and feature statements name the same key)
        policy["Statement"] = [
            s for s in policy["Statement"] if s.get("Sid") not in ("ReadOwnModel2", "ReadOwnFeatures2")
        ]
        statements["WriteOwnFeatures1"]["Action"] = ["kms:GenerateDataKey"]

    _edit_policy(document, "nightly-fraud-scores-identity-policy", drop_decrypt)
    findings = _findings(document)
    role = _record(document, "nightly-fraud-scores-identity-role")
    assert findings and {f["urn"] for f in findings} == {role["urn"]} and all(is_blocking(f) for f in findings)
    [features] = [f for f in findings if "/transactions/dt=*/*" in f["message"]]
    assert features["field"] == "inference.batch_jobs[0].feature_set"
    assert features["message"].startswith(
        "batch fraud-scorer/nightly-fraud-scores (service account nightly-fraud-scores): kms:Decrypt on arn:aws:kms:"
    )
    assert "(for s3:GetObject of arn:aws:s3:::feature-store-bucket-" in features["message"]
    assert "SSE-KMS with this key" in features["message"]
    # AND the model's reads are named on the model field
    model = [f for f in findings if "/models/fraud-scorer/3/model.onnx" in f["message"]]
    assert model and {f["field"] for f in model} == {"inference.batch_jobs[0].model"}


def test_a_kms_grant_without_the_s3_via_service_condition_value_blocks() -> None:
    # GIVEN the server role's kms:Decrypt limited to SQS (the wrong service): reads of the model fail
    document = _document("dev")

    def wrong_service(statements: dict[str, Any], _: Any) -> None:
        statements["ReadOwnModel2"]["Condition"] = {
            "StringEquals": {"kms:ViaService": "sqs.eu-central-1.amazonaws.com"}
        }

    _edit_policy(document, "fraud-scorer-identity-policy", wrong_service)
    [finding] = _findings(document)
    assert finding["urn"] == _record(document, "fraud-scorer-identity-role")["urn"]
    assert finding["field"] == "inference.models[0]"
    assert "kms:ViaService [sqs.eu-central-1.amazonaws.com] not met (request: s3." in finding["message"]


def test_a_wrong_prefix_blocks_naming_the_write() -> None:
    # GIVEN prod's function role writing to another feature set's prefix than the function's FEATURE_PREFIX
    document = _document("prod")

    def other_prefix(statements: dict[str, Any], _: Any) -> None:
        statements["WriteOwnFeatures0"]["Resource"] = statements["WriteOwnFeatures0"]["Resource"].replace(
            "/transactions/*", "/transaction/*"
        )

    _edit_policy(document, "transactions-role-policy", other_prefix)
    findings = _findings(document)
    # THEN every write call the code makes under the prefix is reported: the single put, the three calls of a
    # multipart upload (large outputs; authorized as s3:PutObject) and its abort, each on the role and naming
    # the function's feature set
    calls = {f["message"].split("(for ", 1)[1].split(":", 2)[1] for f in findings}
    multipart = {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"}
    assert calls == {"PutObject", *multipart}
    for finding in findings:
        assert finding["urn"] == _record(document, "transactions-role")["urn"]
        assert finding["field"] == f"preprocessing.functions[{_function_index(document, 'transactions')}].feature_set"
        action = "s3:AbortMultipartUpload" if "(for s3:AbortMultipartUpload" in finding["message"] else "s3:PutObject"
        assert f"{action} on arn:aws:s3:::feature-store-bucket-" in finding["message"]
        assert "is not allowed by role transactions-role: no statement matches" in finding["message"]
    assert any(
        "/transactions/* (for s3:PutObject: write features, quarantine and manifest once" in f["message"]
        for f in findings
    )


def test_a_bucket_policy_deny_wins_over_the_role() -> None:
    # GIVEN a bucket policy that denies puts without an explicit SSE header (the code relies on default encryption)
    document = _document("prod")

    def deny(_: dict[str, Any], policy: dict[str, Any]) -> None:
        bucket = policy["Statement"][0]["Resource"][0]
        policy["Statement"].append(
            {
                "Sid": "DenyUnencryptedPuts",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{bucket}/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            }
        )

    _edit_policy(document, "feature-store-policy", deny)
    findings = _findings(document)
    # THEN every writer of the feature store is denied, by name of the statement
    assert {f["resource_name"] for f in findings} == {
        "transactions-role",
        "transactions-backfill-role",
        "nightly-fraud-scores-identity-role",
    }
    assert all(
        "explicitly denied by feature-store-policy statement DenyUnencryptedPuts" in f["message"] for f in findings
    )


def test_a_schedule_without_send_message_blocks_on_the_schedule_field() -> None:
    document = _document("prod")
    _edit_policy(
        document,
        "transactions-backfill-role-policy",
        lambda _, p: p.update(Statement=[s for s in p["Statement"] if s.get("Sid") != "SweepEnqueuesOnOwnQueue"]),
    )
    [finding] = _findings(document)
    assert finding["field"] == f"preprocessing.functions[{_function_index(document, 'transactions-backfill')}].schedule"
    assert "sqs:SendMessage on arn:aws:sqs:eu-central-1:123456789012:transactions-backfill-queue-" in finding["message"]


def test_a_pod_without_pod_identity_blocks() -> None:
    document = _document("dev")
    document["resources"] = [r for r in document["resources"] if r["name"] != "fraud-scorer-identity-association"]
    [finding] = _findings(document)
    assert finding["resource_type"] == "kubernetes:apps/v1:Deployment" and is_blocking(finding)
    assert "no Pod Identity association" in finding["message"]


def test_a_missing_environment_variable_is_named() -> None:
    document = _document("dev")
    function = _record(document, "transactions-function")
    del function["inputs"]["environment"]["variables"]["LANDING_BUCKET"]
    findings = _findings(document)
    assert findings and all(f["urn"] == function["urn"] for f in findings)
    assert "the workload's environment has no LANDING_BUCKET" in findings[0]["message"]


# --------------------------------------------------------------------------- the evaluator's IAM semantics

ROLE = "arn:aws:iam::111122223333:role/worker"


def _allowed(
    statements: list[dict[str, Any]], request: Request, resource_policy: list[dict[str, Any]] | None = None
) -> bool:
    policies = [Policy("identity", {"Statement": statements})]
    if resource_policy is not None:
        policies.append(Policy("resource", {"Statement": resource_policy}, resource_policy=True))
    return evaluate(request, policies, principal_arn=ROLE, account="111122223333").allowed


def test_a_grant_on_one_day_does_not_cover_every_day() -> None:
    # a run-time wildcard in the request must be covered for every value it can take
    day = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/tx/dt=2026-11-27/*"}]
    every = [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/tx/*"}]
    one_char = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/tx/dt=?/*"}]
    request = Request("s3:GetObject", f"arn:aws:s3:::b/tx/dt={ANY}/{ANY}")
    assert not _allowed(day, request)
    assert _allowed(every, request)
    assert not _allowed(one_char, request)


def test_not_action_not_resource_and_explicit_deny() -> None:
    request = Request("s3:PutObject", "arn:aws:s3:::b/tx/a")
    assert _allowed([{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}], request)
    assert not _allowed([{"Effect": "Allow", "NotAction": "s3:Put*", "Resource": "*"}], request)
    assert _allowed([{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/secret/*"}], request)
    assert not _allowed([{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/tx/*"}], request)
    deny = {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::b/tx/{ANY}"}
    assert not _allowed([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, deny], request)
    # a Deny on one day applies to a request that may address any day
    wildcard = Request("s3:PutObject", f"arn:aws:s3:::b/tx/dt={ANY}/x")
    one_day = {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/tx/dt=2026-01-01/*"}
    assert not _allowed([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, one_day], wildcard)


@pytest.mark.parametrize(
    ("operator", "values", "context", "expected"),
    [
        ("StringEquals", ["s3.eu-west-1.amazonaws.com"], {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}, True),
        ("StringEquals", ["s3.eu-west-1.amazonaws.com"], {}, False),
        ("StringEqualsIfExists", ["x"], {}, True),
        ("StringNotEquals", ["x"], {}, True),
        ("StringLike", ["tx/*"], {"s3:prefix": f"tx/dt={ANY}/"}, True),
        ("StringLike", ["tx/dt=2026*"], {"s3:prefix": f"tx/dt={ANY}/"}, False),
        ("StringNotLike", ["tx/dt=2026*"], {"s3:prefix": f"tx/dt={ANY}/"}, False),
        (
            "ArnLike",
            ["arn:aws:events:*:111122223333:rule/*"],
            {"aws:SourceArn": "arn:aws:events:eu-west-1:111122223333:rule/r"},
            True,
        ),
        (
            "ArnEquals",
            ["arn:aws:events:eu-west-1:111122223333:rule/other"],
            {"aws:SourceArn": "arn:aws:events:eu-west-1:111122223333:rule/r"},
            False,
        ),
        ("ForAnyValue:StringEquals", ["a", "b"], {"aws:TagKeys": ["c", "b"]}, True),
        ("ForAnyValue:StringEquals", ["a"], {}, False),
        ("ForAllValues:StringEquals", ["a", "b"], {"aws:TagKeys": ["a", "c"]}, False),
        ("ForAllValues:StringEquals", ["a", "b"], {}, True),
        ("Null", ["false"], {"s3:if-none-match": "*"}, True),
        ("Null", ["false"], {}, False),
        ("NumericLessThan", ["5"], {"s3:max-keys": "1"}, False),
    ],
)
def test_condition_operators(operator: str, values: list[str], context: dict[str, Any], expected: bool) -> None:
    key = next(
        iter(context),
        "kms:ViaService" if "Equals" in operator and not operator.startswith("For") else "s3:if-none-match",
    )
    if operator.startswith("For"):
        key = "aws:TagKeys"
    elif operator.startswith("String") and "Like" in operator:
        key = "s3:prefix"
    elif operator.startswith("Arn"):
        key = "aws:SourceArn"
    elif operator.startswith("Numeric"):
        key = "s3:max-keys"
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {operator: {key: values}}}
    assert _allowed([statement], Request("s3:ListBucket", "arn:aws:s3:::b", context)) is expected


def test_a_resource_policy_grants_only_to_the_principal_it_names() -> None:
    request = Request("sqs:SendMessage", "arn:aws:sqs:eu-west-1:111122223333:q")
    to_role = [{"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sqs:SendMessage", "Resource": "*"}]
    to_service = [
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "*",
        }
    ]
    assert _allowed([], request, to_role)
    assert not _allowed([], request, to_service)


def test_the_lambda_poller_needs_the_queue_and_its_key() -> None:
    # GIVEN dev's function role without sqs:DeleteMessage on its queue (Lambda's poller deletes handled messages)
    document = _document("dev")

    def drop_delete(statements: dict[str, Any], _: Any) -> None:
        statements["ConsumeOwnQueue"]["Action"].remove("sqs:DeleteMessage")

    _edit_policy(document, "transactions-role-policy", drop_delete)
    [finding] = _findings(document)
    assert finding["urn"] == _record(document, "transactions-role")["urn"]
    assert "sqs:DeleteMessage on arn:aws:sqs:" in finding["message"]
    assert "Lambda's poller for event source mapping transactions-queue-trigger" in finding["message"]


def test_a_misspelt_declaration_key_is_refused_not_ignored(tmp_path: Path) -> None:
    # GIVEN a package whose aws_calls.py says "missing-key" (a typo that would silently drop the 404 rule)
    document = _document("dev")
    function = _record(document, "transactions-function")
    source = PROJECT_ROOT / function["inputs"]["code"]["archive"]["path"]
    target = tmp_path / "function.zip"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            body = old.read(item)
            if item.filename == "preprocessing/aws_calls.py":
                body = body.replace(b'"missing_key": "404"', b'"missing-key": "404"', 1)
            new.writestr(item, body)
    function["inputs"]["code"]["archive"]["path"] = str(target)
    [finding] = _findings(document)
    assert finding["urn"] == function["urn"] and is_blocking(finding)
    assert "has unknown key(s) missing-key" in finding["message"]


def test_a_cluster_worker_whose_pod_identity_role_lacks_a_write_blocks_naming_the_worker_role() -> None:
    # GIVEN prod with transactions on `auto`: its cluster worker runs the same code under a Pod Identity role
    document = copy.deepcopy(placed_prod_plan().to_json())
    assert _findings(copy.deepcopy(document)) == []

    def other_prefix(statements: dict[str, Any], _: Any) -> None:
        statements["WriteOwnFeatures0"]["Resource"] = statements["WriteOwnFeatures0"]["Resource"].replace(
            "/transactions/*", "/transaction/*"
        )

    # WHEN only the worker's role writes under another prefix (the Lambda role is untouched)
    _edit_policy(document, "transactions-worker-identity-policy", other_prefix)
    findings = _findings(document)
    # THEN the worker's writes are reported on the worker's role, and nothing on the function's
    worker_role = _record(document, "transactions-worker-identity-role")["urn"]
    assert findings and {f["urn"] for f in findings} == {worker_role}
    assert any("(for s3:PutObject" in f["message"] for f in findings)
