"""Joining sibling resources in stack policies.

In pulumi-aws v7 a bucket's controls are separate resources (public access block, encryption,
policy, versioning, ownership controls, logging, Object Lock). A stack policy finds a bucket's
siblings through the engine's property dependencies: the sibling's ``bucket`` input was computed
from the bucket resource. That holds both in a real preview (where the bucket name is unknown)
and offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources as importlib_resources
from typing import Any

from pulumi_policy import PolicyResource

from .props import get


class StackIndex:
    """The stack's resources by URN and type, with property-dependency joins."""

    def __init__(self, resources: Iterable[PolicyResource]) -> None:
        self.resources = list(resources)
        self.by_urn = {r.urn: r for r in self.resources}

    def of_type(self, *types: str) -> list[PolicyResource]:
        """Resources of the given types, in stack order."""
        return [r for r in self.resources if r.resource_type in types]

    def dependents(self, target: PolicyResource, resource_type: str, prop: str = "bucket") -> list[PolicyResource]:
        """Resources of ``resource_type`` whose input ``prop`` was computed from ``target``."""
        found = []
        for resource in self.resources:
            if resource.resource_type != resource_type:
                continue
            deps = resource.property_dependencies.get(prop) or []
            if any(dep.urn == target.urn for dep in deps):
                found.append(resource)
        return found

    def sources(self, resource: PolicyResource, prop: str) -> list[PolicyResource]:
        """The resources input ``prop`` of ``resource`` was computed from."""
        return list(resource.property_dependencies.get(prop) or [])


def provider_region(resource: PolicyResource) -> str | None:
    """The region of the resource's provider (``None`` when not set or unknown to the policy)."""
    provider = resource.provider
    if provider is None:
        return None
    region = get(provider.props, "region")
    return str(region) if region else None


def effective_region(resource: PolicyResource) -> str | None:
    """The resource's own ``region`` input (pulumi-aws v7), else its provider's region."""
    region = get(resource.props, "region")
    if region:
        return str(region)
    return provider_region(resource)


@cache
def aws_types() -> Mapping[str, Any]:
    """``data/aws_types.json``: taggable and regional pulumi-aws types (generated, see tools/)."""
    text = importlib_resources.files("hybrid_ai_platform.policies").joinpath("data/aws_types.json").read_text()
    data: dict[str, Any] = json.loads(text)
    data["taggable_set"] = frozenset(data["taggable"])
    data["regional_set"] = frozenset(data["regional"])
    return data


def is_taggable(resource_type: str) -> bool:
    """Whether the pulumi-aws type has a ``tags`` input (or is a Kubernetes object, which is not)."""
    return resource_type in aws_types()["taggable_set"]


def is_regional(resource_type: str) -> bool:
    """Whether the pulumi-aws type has its own ``region`` input."""
    return resource_type in aws_types()["regional_set"]
