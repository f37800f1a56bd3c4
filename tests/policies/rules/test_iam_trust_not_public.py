"""iam-trust-not-public: trust policies that let any principal assume a role."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check, document

NAME = "iam-trust-not-public"


def _role(statement: dict, config: dict | None = None):
    trust = document({"Sid": "Trust", "Effect": "Allow", "Action": "sts:AssumeRole", **statement})
    return resource_args("aws:iam/role:Role", {"assumeRolePolicy": trust}, name="role", config=config)


@pytest.mark.parametrize(
    "statement",
    [
        {"Principal": {"Service": "lambda.amazonaws.com"}},
        {"Principal": {"AWS": "arn:aws:iam::123456789012:root"}},
        {"Principal": {"AWS": "*"}, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}},
        {"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": ["123456789012"]}}},
        {"Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}},
    ],
)
def test_named_principals_or_restricting_conditions_pass(statement: dict) -> None:
    assert check(NAME, _role(statement)).passed


@pytest.mark.parametrize(
    "statement",
    [
        {"Principal": "*"},
        {"Principal": {"AWS": "*"}},
        {"Principal": {"AWS": ["arn:aws:iam::123456789012:root", "*"]}},
        {"Principal": {"AWS": "arn:aws:iam::*:root"}},
        {"Principal": {"AWS": "*"}, "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}}},
        {"Principal": {"AWS": "*"}, "Condition": {"StringLike": {"aws:PrincipalOrgID": "*"}}},
        {"Principal": {"AWS": "*"}, "Condition": {"StringEquals": {"sts:ExternalId": "shared"}}},
    ],
)
def test_any_principal_without_a_restricting_condition_fails(statement: dict) -> None:
    assert check(NAME, _role(statement)).messages == ["role 'role' trust statement Trust lets any principal assume it"]


def test_not_principal_with_allow_fails() -> None:
    (message,) = check(NAME, _role({"NotPrincipal": {"AWS": "arn:aws:iam::1:root"}})).messages
    assert "NotPrincipal" in message


def test_not_applicable_to_other_types_and_unknown_trust() -> None:
    assert check(NAME, resource_args("aws:iam/policy:Policy", {"policy": "{}"})).not_applicable
    assert check(NAME, resource_args("aws:iam/role:Role", {"assumeRolePolicy": UNKNOWN})).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: _role({"Principal": "*"}, config), exceptions_file)
