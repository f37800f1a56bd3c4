"""Identity policies of IAM resources (KMS key, bucket and queue policies are resource policies: not here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybrid_ai_platform.policies.props import as_list, get, policy_document, statements

POLICY_FIELDS = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
IDENTITY_TYPES = (*POLICY_FIELDS, "aws:iam/role:Role")


def identity_statements(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(label, statement)`` of the resource's identity policies (a role's inline policies too)."""
    found: list[tuple[str, dict[str, Any]]] = []
    if resource_type in POLICY_FIELDS:
        document = policy_document(get(props, POLICY_FIELDS[resource_type]))
        found += [(str(s.get("Sid") or f"#{i}"), s) for i, s in enumerate(statements(document))]
    elif resource_type == "aws:iam/role:Role":
        for inline in get(props, "inlinePolicies") or []:
            if not isinstance(inline, Mapping):
                continue
            document = policy_document(inline.get("policy"))
            found += [
                (f"{inline.get('name', 'inline')}/{s.get('Sid') or i}", s) for i, s in enumerate(statements(document))
            ]
    return found


def full_service_wildcard(action: str) -> bool:
    """``*``, ``*:*`` or ``service:*``: every action (of every service, or of one service).

    Partial patterns such as ``s3:Get*`` are not full wildcards: Checkov's CKV_AWS_62/63 flag only
    ``*``, and ``iam-no-wildcard-resource-for-data`` judges the resources such a pattern reaches.
    """
    action = action.strip()
    if action in ("*", "*:*"):
        return True
    service, _, name = action.partition(":")
    return bool(service) and name.strip("*") == "" and name != ""


def wildcard_resource(resource: str) -> bool:
    """Whether a Resource element reaches every resource of a service in the account (or beyond).

    ``*``; an ARN whose resource part is only wildcards (``arn:aws:sqs:eu-central-1:123456789012:*``,
    ``arn:aws:s3:::*``); a resource type followed by only wildcards (``key/*``, ``table/*``,
    ``function:*``, ``log-group:*``); S3 object ARNs on any bucket (``arn:aws:s3:::*/*``).
    A bucket's objects (``arn:aws:s3:::bucket/*``) or a named prefix (``queue-*``) are scoped.
    """
    resource = resource.strip()
    if resource.strip("*") == "":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    service, resource_part = parts[2], parts[5]
    if resource_part.strip("*") == "":
        return True
    if service == "s3":
        bucket = resource_part.split("/", 1)[0]
        return bucket.strip("*?") == ""
    for separator in ("/", ":"):
        head, sep, tail = resource_part.partition(separator)
        if sep and head and tail.replace("/", "").replace(":", "").strip("*") == "":
            return True
    return False


def statement_actions(statement: Mapping[str, Any]) -> list[str]:
    """The statement's Action entries as strings."""
    return [str(a) for a in as_list(statement.get("Action"))]


def statement_resources(statement: Mapping[str, Any]) -> list[str]:
    """The statement's Resource entries as strings."""
    return [str(r) for r in as_list(statement.get("Resource"))]
