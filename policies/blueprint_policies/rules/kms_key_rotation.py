"""Customer-managed symmetric KMS keys rotate their key material."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get, truthy
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-KMS-001",
    name="kms-key-rotation",
    description="Every customer-managed symmetric encryption KMS key enables automatic rotation, at most every "
    "maxRotationDays. Asymmetric and HMAC keys cannot rotate automatically and are not applicable.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=("aws:kms/key:Key",),
    remediation="Set enable_key_rotation=True (hybrid_ai_platform.components.EncryptionKey does) and "
    "rotation_period_in_days within the limit.",
    equivalents=Equivalents(checkov=("CKV_AWS_7",), cdk_nag=("AwsSolutions-KMS5",), trivy=("AVD-AWS-0065",)),
    config={
        "maxRotationDays": {
            "type": "integer",
            "minimum": 90,
            "maximum": 2560,
            "default": 365,
            "description": "Longest rotation period accepted (KMS allows 90-2560 days). Defaults to 365.",
        }
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report symmetric keys without rotation or with a too long period.

    Automatic rotation is supported only for symmetric encryption keys (key spec SYMMETRIC_DEFAULT, usage
    ENCRYPT_DECRYPT): https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
    """
    spec = str(get(args.props, "customerMasterKeySpec") or "SYMMETRIC_DEFAULT")
    usage = str(get(args.props, "keyUsage") or "ENCRYPT_DECRYPT")
    if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
        args.not_applicable(f"key spec {spec} / usage {usage}: KMS rotates only symmetric encryption keys")
    if not truthy(get(args.props, "enableKeyRotation")):
        report(f"KMS key '{args.name}' does not rotate its key material (enableKeyRotation is not true)")
        return
    period = get(args.props, "rotationPeriodInDays")
    limit = int(config.get("maxRotationDays") or 365)
    if period is not None and int(period) > limit:
        report(f"KMS key '{args.name}' rotates every {int(period)} days; at most {limit}")


POLICY = ResourcePolicy(META, check)
