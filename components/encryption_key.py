"""EncryptionKey: the stack's customer-managed KMS key, or a key you bring.

Every component that encrypts takes its key as a reference, ``kms_key``: the :class:`EncryptionKey` you
built (or a ``pulumi_aws.kms.Key``), or the ARN of a key you bring (a string or an Output). The Args
resolve it to an ARN (:func:`kms_key_arn`), so the component depends on the key resource either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

import pulumi
import pulumi_aws as aws

from hybrid_ai_platform.contracts import KMS_KEY_ARN_PATTERN

from . import validation as check
from .iam import Statement, policy_document


@dataclass(frozen=True)
class EncryptionKeyArgs:
    """Inputs of :class:`EncryptionKey`. Checked at construction: a bad value raises naming the field."""

    account_id: pulumi.Input[str]
    """Account that owns the key; its root principal administers it. Required."""
    region: str
    """The stack's region; service principals are scoped to it. Required."""
    tags: Mapping[str, str]
    """Tags for the key. Required (the stack's required tags)."""
    key_arn: str | None = None
    """Bring your own key: use this key ARN and create nothing. Defaults to none (a key is created)."""
    deletion_window_days: int = 30
    """Waiting period before a created key is deleted, 7 to 30 days. Defaults to 30 days."""
    rotation_period_days: int = 365
    """Rotation period of a created key (rotation is always on), 90 to 2560 days. Defaults to 365 days."""
    alias: str | None = None
    """Alias name without ``alias/``. Defaults to the component name."""
    service_principals: tuple[str, ...] = field(default=("cloudwatch.amazonaws.com", "budgets.amazonaws.com"))
    """Services allowed to generate data keys and decrypt on behalf of this account
    (``aws:SourceAccount``). Defaults to CloudWatch and Budgets, which publish to the encrypted
    alerts topic."""
    eventbridge_to_sqs: bool = True
    """Let EventBridge use the key for the SSE-KMS queues it delivers to (rule targets and their
    dead-letter queues): any queue of this account in the stack region, by ``aws:SourceArn``.
    Defaults to on."""

    def __post_init__(self) -> None:
        check.check_type(self, "region", self.region, str)
        check.check_mapping(self, "tags", self.tags)
        if self.key_arn is not None:
            _check_key_arn(self, "key_arn", self.key_arn)
        # The ranges the stack config applies (KMS: deletion waiting period 7-30 days, rotation period 90-2560 days).
        check.check_int(self, "deletion_window_days", self.deletion_window_days, 7, 30)
        check.check_int(self, "rotation_period_days", self.rotation_period_days, 90, 2560)
        # "alias/" + name is 1-256 of A-Za-z0-9/_- and may not start with alias/aws/
        # (https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html).
        if self.alias is not None:
            check.check_pattern(self, "alias", self.alias, r"(?!aws/)[A-Za-z0-9/_-]{1,250}", "a KMS alias name")
        check.check_strings(self, "service_principals", self.service_principals)
        check.check_type(self, "eventbridge_to_sqs", self.eventbridge_to_sqs, bool)


class EncryptionKey(pulumi.ComponentResource):
    """A symmetric KMS key, rotation on, single-region, with a least-privilege key policy.

    The key policy lets the account administer the key through IAM, lets CloudWatch Logs use
    it for this account's log groups in the stack region, lets EventBridge use it for this
    account's queues in the stack region (``aws:SourceArn``), and lets the listed service
    principals use it on behalf of this account only (``aws:SourceAccount``). With
    ``key_arn`` set nothing is created and :attr:`arn` is that key.

    Example::

        key = EncryptionKey("stack-key", EncryptionKeyArgs(account_id=acct, region="eu-west-1", tags=tags))
    """

    arn: pulumi.Output[str]
    """The key ARN."""
    key: aws.kms.Key | None
    """The created key, or None when a key was brought."""

    def __init__(self, name: str, args: EncryptionKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:security:EncryptionKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.key_arn:
            self.key = None
            self.arn = pulumi.Output.from_input(args.key_arn)
        else:
            self.key = aws.kms.Key(
                f"{name}-key",
                description=f"Customer-managed key for {pulumi.get_project()}/{pulumi.get_stack()}",
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                multi_region=False,
                enable_key_rotation=True,
                rotation_period_in_days=args.rotation_period_days,
                deletion_window_in_days=args.deletion_window_days,
                policy=self._key_policy(args),
                tags=dict(args.tags),
                opts=child,
            )
            aws.kms.Alias(
                f"{name}-alias", name=f"alias/{args.alias or name}", target_key_id=self.key.key_id, opts=child
            )
            self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})

    @staticmethod
    def _key_policy(args: EncryptionKeyArgs) -> pulumi.Output[str]:
        account = args.account_id
        statements: list[Statement] = [
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account, ":root")},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogsForThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{args.region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": pulumi.Output.concat(
                            "arn:aws:logs:", args.region, ":", account, ":log-group:*"
                        )
                    }
                },
            },
        ]
        if args.eventbridge_to_sqs:
            # EventBridge delivering to an SSE-KMS queue: SQS calls KMS on behalf of events.amazonaws.com.
            # aws:SourceArn is "the ARN of the resource making a service-to-service request"
            # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourcearn):
            # for an EventBridge delivery that is the rule, as in the queue policies EventBridge documents
            # for SQS targets (ArnEquals aws:SourceArn = rule ARN), not the queue. The SQS key-management
            # guide lists CloudWatch Events among the services that send aws:SourceArn to encrypted queues
            # and keeps aws:SourceAccount for when the ARN is not known
            # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
            # Both are required: this account's rules in this region, created after the key (matched by pattern).
            statements.append(
                {
                    "Sid": "EventBridgeRulesOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account},
                        "ArnLike": {
                            "aws:SourceArn": pulumi.Output.concat(
                                "arn:aws:events:", args.region, ":", account, ":rule/*"
                            )
                        },
                    },
                }
            )
        if args.service_principals:
            statements.append(
                {
                    "Sid": "ServicesOnBehalfOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": sorted(args.service_principals)},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            )
        return policy_document(statements)


KmsKey = Union[EncryptionKey, aws.kms.Key, pulumi.Input[str]]  # noqa: UP007 - evaluated at runtime
"""What a ``kms_key`` Args field takes: a key the program created (:class:`EncryptionKey`, ``aws.kms.Key``)
or the ARN of a key you bring."""


def kms_key_arn(key: KmsKey) -> pulumi.Input[str]:
    """The ARN of ``key`` (a created key's ``arn`` output, so whatever uses it depends on the key)."""
    if isinstance(key, (EncryptionKey, aws.kms.Key)):
        return key.arn
    return key


def check_kms_key(owner: object, field: str, value: object) -> None:
    """``value`` is a key reference, an Output (known at deployment) or a KMS key ARN string."""
    if isinstance(value, (EncryptionKey, aws.kms.Key, pulumi.Output)):
        return
    if not isinstance(value, str):
        raise TypeError(
            f"{type(owner).__name__}.{field}: {value!r} is a {type(value).__name__}, not an EncryptionKey, an "
            "aws.kms.Key or a key ARN"
        )
    _check_key_arn(owner, field, value)


def _check_key_arn(owner: object, field: str, value: object) -> None:
    check.check_pattern(
        owner, field, value, KMS_KEY_ARN_PATTERN, "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"
    )
