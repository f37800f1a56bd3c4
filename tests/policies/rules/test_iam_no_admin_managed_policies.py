"""iam-no-admin-managed-policies: AWS-managed policies judged by what they grant, on every attachment form."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check

NAME = "iam-no-admin-managed-policies"
ATTACHMENTS = [
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "policyArn"),
    ("aws:iam/userPolicyAttachment:UserPolicyAttachment", "policyArn"),
    ("aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "policyArn"),
    ("aws:iam/policyAttachment:PolicyAttachment", "policyArn"),
]


def _attach(type_: str, field: str, arn: str, config: dict | None = None):
    return resource_args(type_, {field: arn, "roles": ["r"]}, name="a", config=config)


@pytest.mark.parametrize(("type_", "field"), ATTACHMENTS)
def test_narrow_managed_and_customer_policies_pass(type_: str, field: str) -> None:
    for arn in (
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        "arn:aws:iam::123456789012:policy/AdministratorAccess",  # customer-managed: judged by its document
    ):
        assert check(NAME, _attach(type_, field, arn)).passed


@pytest.mark.parametrize(("type_", "field"), ATTACHMENTS)
@pytest.mark.parametrize(
    ("policy", "grants"),
    [
        ("AdministratorAccess", "Action '*'"),
        ("PowerUserAccess", "NotAction"),
        ("IAMFullAccess", "iam:*"),
        ("AmazonS3FullAccess", "<service>:*"),
        ("AWSLambda_FullAccess", "<service>:*"),
        ("job-function/SystemAdministrator", "broad write"),
        ("ReadOnlyAccess", "s3:Get*"),
        ("AmazonS3ReadOnlyAccess", "every bucket"),
    ],
)
def test_broad_managed_policies_fail_on_every_attachment(type_: str, field: str, policy: str, grants: str) -> None:
    (message,) = check(NAME, _attach(type_, field, f"arn:aws:iam::aws:policy/{policy}")).messages
    assert policy in message and grants in message


def test_govcloud_partition_and_role_managed_policy_arns() -> None:
    role = resource_args(
        "aws:iam/role:Role", {"managedPolicyArns": ["arn:aws-us-gov:iam::aws:policy/AdministratorAccess"]}
    )
    assert check(NAME, role).messages
    exclusive = resource_args(
        "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
        {"roleName": "r", "policyArns": ["arn:aws:iam::aws:policy/AmazonSQSFullAccess"]},
    )
    assert check(NAME, exclusive).messages


def test_not_applicable_to_other_types_and_unknown_arns() -> None:
    assert check(NAME, resource_args("aws:iam/rolePolicy:RolePolicy", {"policy": "{}"})).not_applicable
    assert check(NAME, _attach(*ATTACHMENTS[0], UNKNOWN)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(
        NAME,
        lambda config: _attach(*ATTACHMENTS[0], "arn:aws:iam::aws:policy/PowerUserAccess", config),
        exceptions_file,
    )
