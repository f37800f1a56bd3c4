"""IAM policy documents built from statements whose values may be Outputs.

Documents are rendered with :meth:`pulumi.Output.json_dumps`, not with the
``aws.iam.get_policy_document`` data source, so the offline plan shows the exact JSON the
engine sends and no provider call is needed. Statement order and key order are preserved,
so the rendered JSON is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

Statement = Mapping[str, Any]
"""One IAM statement; values may be ``pulumi.Input``."""


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """Render ``statements`` as an IAM policy JSON string (``Version`` 2012-10-17)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [dict(s) for s in statements]})


def service_assume_role_policy(service: str, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """Trust policy letting ``service`` (e.g. ``lambda.amazonaws.com``) assume a role.

    Adds an ``aws:SourceAccount`` condition so only the stack's account can use the trust
    (confused-deputy protection).
    """
    return policy_document(
        [
            {
                "Sid": "AssumeFromService",
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": ["sts:AssumeRole"],
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ]
    )


def deny_insecure_transport(resources: Sequence[pulumi.Input[str]], action: str) -> Statement:
    """The TLS-only statement: deny ``action`` to everyone when ``aws:SecureTransport`` is false."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": list(resources),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
