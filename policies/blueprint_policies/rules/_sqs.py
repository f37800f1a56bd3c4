"""SQS helpers shared by the queue and Lambda policies."""

from __future__ import annotations

import json

from hybrid_ai_platform.policies.props import get
from pulumi_policy import PolicyResource


def redrive_target(queue: PolicyResource) -> str | None:
    """The ``deadLetterTargetArn`` of a queue's redrive policy."""
    policy = get(queue.props, "redrivePolicy")
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except json.JSONDecodeError:
            return None
    if isinstance(policy, dict) and policy.get("deadLetterTargetArn"):
        return str(policy["deadLetterTargetArn"])
    return None
