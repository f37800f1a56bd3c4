"""Identity policies of IAM resources (KMS key, bucket and queue policies are resource policies: not here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blueprint_policies.props import get, policy_document, statements

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
            document = policy_document(inline.get("policy"))
            found += [
                (f"{inline.get('name', 'inline')}/{s.get('Sid') or i}", s) for i, s in enumerate(statements(document))
            ]
    return found
