"""Node launch templates require IMDSv2 with a hop limit of 1."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hybrid_ai_platform.policies.framework import Equivalents, Meta, ResourcePolicy
from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs, Severity

META = Meta(
    id="BP-EKS-004",
    name="eks-node-imdsv2",
    description="Launch templates require IMDSv2 (httpTokens required) with a hop limit of at most 1, so pods "
    "cannot reach the node's credentials.",
    severity=Severity.HIGH,
    category="security",
    resource_types=("aws:ec2/launchTemplate:LaunchTemplate",),
    remediation="Set metadata_options={'http_tokens': 'required', 'http_put_response_hop_limit': 1, "
    "'http_endpoint': 'enabled'} on the aws.ec2.LaunchTemplate.",
    equivalents=Equivalents(checkov=("CKV_AWS_79", "CKV_AWS_341"), trivy=("AVD-AWS-0130",)),
    config={
        "maxHopLimit": {"type": "integer", "minimum": 1, "maximum": 64, "default": 1, "description": "Defaults to 1."}
    },
)


def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
    """Report optional tokens and a hop limit above the maximum (AWS defaults: optional, 1 or 2)."""
    options = get(args.props, "metadataOptions") or {}
    if options.get("httpEndpoint") == "disabled":
        return
    if options.get("httpTokens") != "required":
        report(f"launch template '{args.name}' allows IMDSv1 (httpTokens is {options.get('httpTokens') or 'unset'})")
    limit = options.get("httpPutResponseHopLimit")
    cap = int(config.get("maxHopLimit", 1))
    if limit is None or int(limit) > cap:
        report(
            f"launch template '{args.name}' metadata hop limit is {int(limit) if limit is not None else 'unset'}; "
            f"set {cap} so containers cannot reach the instance role"
        )


POLICY = ResourcePolicy(META, check)
