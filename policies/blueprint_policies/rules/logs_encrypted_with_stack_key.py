"""CloudWatch log groups are encrypted with the stack's customer-managed key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, StackPolicy
from hybrid_ai_platform.policies.props import get, skip_unknown
from pulumi_policy import Severity, StackValidationArgs

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
KEY_TYPES = ("aws:kms/key:Key", "aws:kms/replicaKey:ReplicaKey")

META = Meta(
    id="BP-LOG-002",
    name="logs-encrypted-with-stack-key",
    description="Every CloudWatch log group sets kmsKeyId to a customer-managed KMS key of the stack (or one "
    "listed in allowedKeyArns), not the service-owned default.",
    severity=Severity.MEDIUM,
    category="security",
    resource_types=(LOG_GROUP,),
    remediation="Pass the stack key (hybrid_ai_platform.components.EncryptionKey.arn) as kms_key_id; the key "
    "policy must allow logs.<region>.amazonaws.com.",
    equivalents=Equivalents(checkov=("CKV_AWS_158",), trivy=("AVD-AWS-0017",)),
    config={
        "allowedKeyArns": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Key ARNs outside the stack also accepted (e.g. a central logging key). Defaults to none.",
        }
    },
)


def check(args: StackValidationArgs, config: Mapping[str, Any], report: Callable[..., None]) -> None:
    """Report log groups without a key, or with a key that is neither the stack's nor allowed."""
    allowed = {str(a) for a in config.get("allowedKeyArns") or []}
    for group in [r for r in args.resources if r.resource_type == LOG_GROUP]:
        with skip_unknown():
            key = get(group.props, "kmsKeyId")
            if not key:
                report(
                    f"log group '{group.name}' is not encrypted with a customer-managed key (no kmsKeyId)", group.urn
                )
                continue
            sources = group.property_dependencies.get("kmsKeyId") or []
            if any(s.resource_type in KEY_TYPES for s in sources) or str(key) in allowed:
                continue
            report(
                f"log group '{group.name}' uses key {key}, which is not a KMS key of the stack nor in allowedKeyArns",
                group.urn,
            )


POLICY = StackPolicy(META, check)
