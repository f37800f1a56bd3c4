"""logs-encrypted-with-stack-key: kmsKeyId names a KMS key of the stack (joined by property dependency)."""

from __future__ import annotations

from hybrid_ai_platform.policies.testing import UNKNOWN, policy_resource, stack_args

from tests.policies.rules.support import assert_waived, check

NAME = "logs-encrypted-with-stack-key"
KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"


def _resources(kms: object = KEY_ARN, from_key: bool = True) -> list:
    key = policy_resource("aws:kms/key:Key", {"enableKeyRotation": True}, "stack-key")
    props = {"retentionInDays": 90} if kms is None else {"retentionInDays": 90, "kmsKeyId": kms}
    deps = {"kmsKeyId": [key]} if from_key and kms is not None else {}
    return [key, policy_resource("aws:cloudwatch/logGroup:LogGroup", props, "lg", deps)]


def test_stack_key_passes() -> None:
    assert check(NAME, stack_args(_resources())).passed


def test_no_key_fails() -> None:
    assert check(NAME, stack_args(_resources(None))).messages == [
        "log group 'lg' is not encrypted with a customer-managed key (no kmsKeyId)"
    ]


def test_key_from_outside_the_stack_fails_unless_allowed() -> None:
    (message,) = check(NAME, stack_args(_resources(KEY_ARN, from_key=False))).messages
    assert "not a KMS key of the stack nor in allowedKeyArns" in message
    assert check(NAME, stack_args(_resources(KEY_ARN, from_key=False), {"allowedKeyArns": [KEY_ARN]})).passed


def test_unknown_key_skips_the_group_and_no_group_is_nothing_to_judge() -> None:
    assert check(NAME, stack_args(_resources(UNKNOWN, from_key=False))).passed
    assert check(NAME, stack_args([policy_resource("aws:s3/bucket:Bucket", {}, "b")])).passed


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: stack_args(_resources(None), config), exceptions_file)
