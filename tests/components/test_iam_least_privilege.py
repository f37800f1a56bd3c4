"""Least privilege across every shipped stack: no data action on a ``*`` resource in any role policy."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from hybrid_ai_platform.cli.synth import Plan
from tests.plan_helpers import of_type, statements

DATA_SERVICES = ("s3", "kms", "sqs")
"""Services whose actions touch data; they must always name exact resources."""
POLICY_TYPES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def data_actions_on_wildcards(policy_json: str) -> list[str]:
    """``Allow`` statements granting an s3/kms/sqs action on a resource that is ``*``."""
    problems = []
    for statement in statements(policy_json):
        if statement.get("Effect") != "Allow":
            continue
        actions = [a for a in _as_list(statement.get("Action", [])) if a.split(":")[0] in DATA_SERVICES or a == "*"]
        resources = _as_list(statement.get("Resource", []))
        if actions and any(r == "*" for r in resources):
            problems.append(f"{statement.get('Sid', '?')}: {actions} on *")
    return problems


def test_the_check_catches_a_data_action_on_a_wildcard() -> None:
    # GIVEN a policy granting kms:Decrypt on "*"
    bad = '{"Statement": [{"Sid": "Bad", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}'
    ok = '{"Statement": [{"Sid": "Ok", "Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"}]}'
    # THEN it is reported and a metadata action on "*" is not
    assert data_actions_on_wildcards(bad) == ["Bad: ['kms:Decrypt'] on *"]
    assert data_actions_on_wildcards(ok) == []


def test_no_role_policy_grants_a_data_action_on_a_wildcard_resource(any_stack_plan: Plan) -> None:
    # GIVEN every inline role policy and managed policy in the stack
    policies = [r for t in POLICY_TYPES for r in of_type(any_stack_plan, t)]
    assert policies
    # WHEN each statement is checked
    problems = {p.name: data_actions_on_wildcards(p.inputs["policy"]) for p in policies}
    # THEN no s3/kms/sqs action is allowed on "*"
    assert {name: found for name, found in problems.items() if found} == {}


def test_every_pod_identity_role_is_scoped_to_one_service_account(any_stack_plan: Plan) -> None:
    # GIVEN every role that EKS Pod Identity may assume
    for role in of_type(any_stack_plan, "aws:iam/role:Role"):
        trust = statements(role.inputs["assumeRolePolicy"])
        principals = [s.get("Principal", {}).get("Service") for s in trust]
        if "pods.eks.amazonaws.com" not in principals:
            continue
        # THEN its trust names the cluster, namespace and service account
        condition = trust[0]["Condition"]["StringEquals"]
        assert {
            "aws:RequestTag/eks-cluster-arn",
            "aws:RequestTag/kubernetes-namespace",
            "aws:RequestTag/kubernetes-service-account",
        } <= set(condition), role.name


# -- HeadObject on an absent key: 404 or 403 ---------------------------------------------------------
# moto answers 404 whatever the policy; AWS answers 404 only to a caller with s3:ListBucket on the bucket,
# else 403 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html). A HeadObject request has
# no s3:prefix in its context, so a ListBucket statement conditioned on s3:prefix does not count.


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _allows(statement: dict[str, Any], action: str, resource: str) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    actions = _as_list(statement.get("Action", []))
    resources = _as_list(statement.get("Resource", []))
    return any(_matches(a, action) for a in actions) and any(_matches(r, resource) for r in resources)


def absent_key_status(policy: list[dict[str, Any]], bucket_arn: str, key: str) -> int:
    """The HTTP status AWS answers a caller with ``policy`` for HeadObject/GetObject on an absent ``key``."""
    if not any(_allows(s, "s3:GetObject", f"{bucket_arn}/{key}") and "Condition" not in s for s in policy):
        return 403
    can_list = any(_allows(s, "s3:ListBucket", bucket_arn) and "Condition" not in s for s in policy)
    return 404 if can_list else 403


def test_the_status_check_tells_a_prefix_conditioned_list_from_a_bucket_list() -> None:
    # GIVEN read access to a prefix, once with a prefix-conditioned list and once with a bucket list
    get = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/p/*"}
    conditioned = {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::b",
        "Condition": {"StringLike": {"s3:prefix": ["p/*"]}},
    }
    unconditioned = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}
    # THEN only the bucket list turns the absent key's 403 into 404, and nothing helps outside the prefix
    assert absent_key_status([get, conditioned], "arn:aws:s3:::b", "p/missing") == 403
    assert absent_key_status([get, unconditioned], "arn:aws:s3:::b", "p/missing") == 404
    assert absent_key_status([get, unconditioned], "arn:aws:s3:::b", "other/missing") == 403


def _policy(plan: Plan, name: str) -> list[dict[str, Any]]:
    return statements(next(r for r in plan.resources if r.name == name).inputs["policy"])


def test_the_nightly_batch_job_sees_404_for_an_output_it_has_not_written_yet(prod_plan: Plan) -> None:
    # GIVEN the batch-scoring role and the output key its first write checks with HeadObject
    features = f"arn:aws:s3:::{next(r for r in prod_plan.resources if r.name == 'feature-store-bucket').id}"
    env = {e["name"]: e["value"] for e in _batch_env(prod_plan)}
    key = f"{env['OUTPUT_PREFIX']}dt=2026-11-27/part-0.parquet"
    # THEN AWS would answer 404 (write it) rather than 403 (exit 1 every night)
    assert absent_key_status(_policy(prod_plan, "nightly-fraud-scores-identity-policy"), features, key) == 404


def _batch_env(plan: Plan) -> list[dict[str, Any]]:
    cron = next(r for r in of_type(plan, "kubernetes:batch/v1:CronJob"))
    return cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]


@pytest.mark.parametrize("fn", ["transactions", "transactions-backfill"])
def test_the_lambda_sees_404_for_absent_landing_and_feature_keys(prod_plan: Plan, fn: str) -> None:
    # GIVEN the function's role and environment
    policy = _policy(prod_plan, f"{fn}-role-policy")
    env = next(r for r in prod_plan.resources if r.name == f"{fn}-function").inputs["environment"]["variables"]
    landing = f"arn:aws:s3:::{env['LANDING_BUCKET']}"
    features = f"arn:aws:s3:::{env['FEATURE_BUCKET']}"
    # THEN a key delivered URL-encoded answers 404 (so the decoded-key fallback runs), and so does the
    # manifest the write-once check looks for before processing
    assert absent_key_status(policy, landing, f"{env['LANDING_PREFIX']}a+b.csv") == 404
    assert absent_key_status(policy, features, f"{env['MANIFEST_PREFIX']}x.json") == 404
