"""iam-no-wildcard-action: every action, of every service or of one, however written and wherever it lives."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check, document

NAME = "iam-no-wildcard-action"
IDENTITY = {
    "aws:iam/rolePolicy:RolePolicy": "role",
    "aws:iam/policy:Policy": "name",
    "aws:iam/userPolicy:UserPolicy": "user",
    "aws:iam/groupPolicy:GroupPolicy": "group",
}


def _policy(type_: str, *statements: dict, config: dict | None = None):
    return resource_args(type_, {IDENTITY[type_]: "x", "policy": document(*statements)}, name="p", config=config)


def _role(*statements: dict):
    inline = [{"name": "inline", "policy": document(*statements)}]
    return resource_args("aws:iam/role:Role", {"assumeRolePolicy": "{}", "inlinePolicies": inline}, name="role")


@pytest.mark.parametrize("type_", IDENTITY)
def test_named_and_partial_actions_pass_everywhere(type_: str) -> None:
    statement = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:List*"], "Resource": "arn:aws:s3:::b/*"}
    assert check(NAME, _policy(type_, statement)).passed


@pytest.mark.parametrize("action", ["*", ["s3:GetObject", "*"], "*:*"])
@pytest.mark.parametrize("type_", IDENTITY)
def test_every_action_fails(type_: str, action: object) -> None:
    outcome = check(NAME, _policy(type_, {"Sid": "All", "Effect": "Allow", "Action": action, "Resource": "*"}))
    assert outcome.messages == ["'p' statement All allows every action ('*')"]


@pytest.mark.parametrize("action", ["s3:*", "iam:*", "kms:**", " sqs:* "])
def test_service_wide_wildcard_fails(action: str) -> None:
    (message,) = check(
        NAME, _policy("aws:iam/policy:Policy", {"Effect": "Allow", "Action": action, "Resource": "*"})
    ).messages
    assert "allows every action of a service" in message and action.strip() in message


def test_not_action_with_allow_fails_and_deny_is_fine() -> None:
    allow = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "*", "NotAction": "s3:GetObject", "Resource": "*"}
    assert "NotAction" in check(NAME, _policy("aws:iam/rolePolicy:RolePolicy", allow)).messages[0]
    assert check(NAME, _policy("aws:iam/rolePolicy:RolePolicy", deny)).passed


def test_role_inline_policies_are_judged() -> None:
    assert check(NAME, _role({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})).messages


def test_not_applicable_to_other_types_and_unknown_documents() -> None:
    assert check(NAME, resource_args("aws:s3/bucketPolicy:BucketPolicy", {"policy": "{}"})).not_applicable
    assert check(NAME, resource_args("aws:iam/policy:Policy", {"policy": UNKNOWN})).not_applicable


def test_exception_waives(exceptions_file) -> None:
    statement = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    assert_waived(NAME, lambda config: _policy("aws:iam/policy:Policy", statement, config=config), exceptions_file)
