"""Least privilege across every shipped stack: no data action on a ``*`` resource in any role policy."""

from __future__ import annotations

from typing import Any

from blueprint.synth import Plan
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
