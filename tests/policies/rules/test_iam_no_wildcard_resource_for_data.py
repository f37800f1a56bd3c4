"""iam-no-wildcard-resource-for-data: data actions on every resource, however the resource is written."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.rules._iam import wildcard_resource
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check, document

NAME = "iam-no-wildcard-resource-for-data"


def _policy(statement: dict, type_: str = "aws:iam/policy:Policy", config: dict | None = None):
    return resource_args(type_, {"role": "r", "policy": document(statement)}, name="p", config=config)


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:s3:::model-registry/models/*",
        "arn:aws:s3:::model-registry",
        "arn:aws:sqs:eu-central-1:123456789012:work-queue",
        "arn:aws:sqs:eu-central-1:123456789012:work-*",
        "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555",
        "arn:aws:ssm:eu-central-1:123456789012:parameter/app/*",
        "arn:aws:logs:eu-central-1:123456789012:log-group:/aws/lambda/f:log-stream:*",
    ],
)
def test_named_resources_pass(resource: str) -> None:
    statement = {"Effect": "Allow", "Action": ["s3:GetObject", "sqs:SendMessage", "kms:Decrypt"], "Resource": resource}
    assert check(NAME, _policy(statement)).passed


def test_non_data_actions_on_star_pass() -> None:
    statement = {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "ec2:DescribeInstances"], "Resource": "*"}
    assert check(NAME, _policy(statement)).passed


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        "arn:aws:s3:::*",
        "arn:aws:s3:::*/*",
        "arn:*:s3:::*",
        "arn:aws:kms:eu-central-1:123456789012:key/*",
        "arn:aws:kms:*:*:*",
        "arn:aws:sqs:eu-central-1:123456789012:*",
        "arn:aws:dynamodb:eu-central-1:123456789012:table/*",
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:*",
        "arn:aws:lambda:eu-central-1:123456789012:function:*",
    ],
)
def test_every_spelling_of_every_resource_fails(resource: str) -> None:
    statement = {
        "Sid": "Data",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "kms:Decrypt"],
        "Resource": ["arn:aws:s3:::b/*", resource],
    }
    (message,) = check(NAME, _policy(statement)).messages
    assert "statement Data allows kms:Decrypt, s3:GetObject on" in message and resource in message


def test_wildcard_actions_count_as_data_actions() -> None:
    assert check(NAME, _policy({"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::*/*"})).messages
    assert check(NAME, _policy({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::*"})).messages


def test_not_resource_with_allow_fails() -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}
    assert "NotResource" in check(NAME, _policy(statement, "aws:iam/rolePolicy:RolePolicy")).messages[0]


def test_role_inline_policy_is_judged() -> None:
    inline = [
        {
            "name": "i",
            "policy": document({"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:eu-central-1:1:*"}),
        }
    ]
    assert check(NAME, resource_args("aws:iam/role:Role", {"inlinePolicies": inline})).messages


def test_wildcard_resource_reads_arns_precisely() -> None:
    assert wildcard_resource("arn:aws:s3:::*") and wildcard_resource("arn:aws:s3:::*/*")
    assert not wildcard_resource("arn:aws:s3:::bucket/*")
    assert not wildcard_resource("arn:aws:eks:eu-central-1:1:nodegroup/cluster/*/*")


def test_not_applicable_to_other_types_and_unknown_documents() -> None:
    assert check(NAME, resource_args("aws:sqs/queuePolicy:QueuePolicy", {"policy": "{}"})).not_applicable
    assert check(NAME, resource_args("aws:iam/rolePolicy:RolePolicy", {"policy": UNKNOWN})).not_applicable


def test_exception_waives(exceptions_file) -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::*/*"}
    assert_waived(NAME, lambda config: _policy(statement, config=config), exceptions_file)
