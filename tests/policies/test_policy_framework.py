"""Metadata, registry, unknown values, exceptions file validation and the per-stack config files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hybrid_ai_platform.policies import exceptions as exc
from hybrid_ai_platform.policies.framework import (
    DuplicatePolicyError,
    Meta,
    ResourcePolicy,
    check_unique,
    pack_policies,
)
from hybrid_ai_platform.policies.rules import (
    budget_gpu_total,
    lambda_tracing_active,
    s3_public_access_block,
    tags_required,
)
from hybrid_ai_platform.policies.testing import UNKNOWN, policy_resource, provider, resource_args, run, stack_args
from pulumi_policy import Severity

from hybrid_ai_platform.cli.analyzer import WAIVED_MARKER
from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from tests.policies.policy_cases import CASES, TAGS, storage

POLICIES = pack_policies()
STACKS = ("dev", "staging", "prod")
STACK_LEVEL = {"budget-gpu-total", "budget-monthly-cost", "policy-exceptions"}
"""Policies that judge the stack as a whole: the only ones allowed an empty ``resource_types``."""
TYPE_TOKEN = re.compile(r"[a-z][a-z0-9-]*:[A-Za-z0-9/._-]*:[A-Za-z][A-Za-z0-9_]*")
"""``<package>:<module>:<Type>``, as in ``aws:s3/bucket:Bucket`` or ``pulumi:providers:aws``."""
UNJUDGED_CANDIDATES = (
    "aws:nosuch/thing:Thing",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:ec2/vpc:Vpc",
    "kubernetes:core/v1:ConfigMap",
)
"""Types to run a resource policy on that it must not judge (every one absent from its list)."""


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.meta.name)
def test_every_policy_carries_its_metadata(policy) -> None:
    meta = policy.meta
    assert re.fullmatch(r"BP-[A-Z0-9]+-\d{3}", meta.id)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", meta.name)
    assert meta.description.endswith(".") and len(meta.description) > 20
    assert meta.remediation and meta.severity is not None and meta.enforcement is not None
    assert meta.category in {"residency", "tagging", "budget", "security", "governance"}
    assert policy.config_schema is not None and "exceptionsFile" in policy.config_schema.properties
    assert policy.remediation_steps == meta.remediation
    assert f"id:{meta.id}" in policy.tags
    if meta.category == "residency":
        assert not meta.waivable and "non-waivable" in policy.tags


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.meta.name)
def test_every_policy_declares_the_resource_types_it_judges(policy) -> None:
    types = policy.meta.resource_types
    assert isinstance(types, tuple)
    if policy.meta.name in STACK_LEVEL:
        assert not isinstance(policy, ResourcePolicy)
    else:
        assert types, f"{policy.meta.name} declares no resource_types and is not in STACK_LEVEL"
    assert len(set(types)) == len(types)
    assert [t for t in types if not TYPE_TOKEN.fullmatch(t)] == []
    assert [f"type:{t}" for t in sorted(types)] == [t for t in policy.tags if t.startswith("type:")]


@pytest.mark.parametrize("policy", [p for p in POLICIES if isinstance(p, ResourcePolicy)], ids=lambda p: p.meta.name)
def test_resource_policy_is_not_applicable_to_a_type_it_does_not_declare(policy) -> None:
    # GIVEN a resource of a type outside the policy's declared resource_types
    others = [t for t in UNJUDGED_CANDIDATES if t not in policy.meta.resource_types]
    assert others
    for other in others:
        # WHEN the policy runs on it THEN it is not applicable (the declaration is the filter)
        outcome = run(policy, resource_args(other, {"tags": {}, "region": "us-east-1"}))
        assert outcome.violations == [] and "is not judged by" in (outcome.not_applicable or ""), other


@pytest.mark.parametrize("policy", [p for p in POLICIES if isinstance(p, ResourcePolicy)], ids=lambda p: p.meta.name)
def test_resource_policy_handles_every_type_it_declares(policy) -> None:
    # GIVEN a bare resource of each declared type WHEN the policy runs THEN its check runs without error
    config = CASES[policy.meta.name].config
    for resource_type in policy.meta.resource_types:
        outcome = run(policy, resource_args(resource_type, {}, config=config))
        assert "is not judged by" not in (outcome.not_applicable or ""), resource_type


@pytest.mark.parametrize("name", sorted(set(CASES)), ids=str)
def test_violations_name_resources_of_the_declared_types(name: str) -> None:
    # GIVEN the policy's failing case WHEN it runs THEN every resource it reports is of a declared type
    policy = next(p for p in POLICIES if p.meta.name == name)
    outcome = run(policy, CASES[name].build("fail", dict(CASES[name].config)))
    assert outcome.violations
    reported = {urn.split("::")[2].rsplit("$", 1)[-1] for _, urn in outcome.violations if urn}
    assert reported <= set(policy.meta.resource_types), reported


def _meta(resource_types: tuple[str, ...]) -> Meta:
    return Meta(
        id="BP-GOV-999",
        name="test-policy",
        description="A test policy.",
        severity=Severity.LOW,
        remediation="None.",
        category="governance",
        resource_types=resource_types,
    )


def test_meta_refuses_a_wildcard_resource_type() -> None:
    with pytest.raises(ValueError, match="no wildcards"):
        _meta(("*",))


def test_resource_policy_without_resource_types_is_refused() -> None:
    meta = _meta(())
    with pytest.raises(ValueError, match="must list the resource_types"):
        ResourcePolicy(meta, lambda *_: None)


def test_security_policies_name_their_equivalents() -> None:
    # a security policy names its Checkov/cdk-nag/Trivy equivalents, or the standard control it implements
    missing = [
        p.meta.name
        for p in POLICIES
        if p.meta.category == "security" and not p.meta.equivalents.to_tags() and not p.meta.standard
    ]
    assert missing == []


def test_pod_security_policies_name_their_pss_control() -> None:
    pss = [p for p in POLICIES if "kubernetes:helm.sh/v3:Release" in p.meta.resource_types]
    assert len(pss) == 16
    assert all(p.meta.standard.startswith("Kubernetes Pod Security Standards (") for p in pss)
    assert all(f"standard:{p.meta.standard}" in p.meta.tags() for p in pss)


def test_registry_rejects_duplicate_names_and_ids() -> None:
    with pytest.raises(DuplicatePolicyError, match="used twice"):
        check_unique([POLICIES[0], POLICIES[0]])


def test_exceptions_policy_runs_last() -> None:
    assert POLICIES[-1].meta.name == "policy-exceptions"


def test_waived_marker_is_shared_with_the_analyzer() -> None:
    assert WAIVED_MARKER == exc.WAIVED_MARKER


def test_unknown_value_makes_a_resource_policy_not_applicable() -> None:
    # GIVEN a function whose tracing mode is unknown during preview
    args = resource_args("aws:lambda/function:Function", {"tracingConfig": {"mode": UNKNOWN}})
    # WHEN the policy runs THEN it is not applicable, not violated
    outcome = run(lambda_tracing_active.POLICY, args)
    assert outcome.violations == [] and "preview" in (outcome.not_applicable or "")


def test_unknown_value_skips_one_resource_of_a_stack_policy() -> None:
    # GIVEN one bucket whose public access block is unknown and one without any block
    bare = policy_resource("aws:s3/bucket:Bucket", {"tags": TAGS}, "bare-bucket")
    resources = [*storage({"public-access": {"blockPublicAcls": UNKNOWN}}), bare]
    outcome = run(s3_public_access_block.POLICY, stack_args(resources))
    # THEN only the known violation is reported
    assert outcome.messages == ["bucket 'bare-bucket' has no public access block"]


def test_provider_default_tags_count_as_tags() -> None:
    args = resource_args("aws:sqs/queue:Queue", {"tags": {"owner": "x"}}, provider_resource=provider(default_tags=TAGS))
    assert run(tags_required.POLICY, args).passed


def test_gpu_total_reads_the_instance_type_from_the_launch_template() -> None:
    template = policy_resource("aws:ec2/launchTemplate:LaunchTemplate", {"instanceType": "p5.48xlarge"}, "lt")
    group = policy_resource(
        "aws:eks/nodeGroup:NodeGroup", {"scalingConfig": {"maxSize": 2}}, "gpu", {"launchTemplate": [template]}
    )
    outcome = run(budget_gpu_total.POLICY, stack_args([template, group], {"maxTotalGpus": 8}))
    assert outcome.messages == ["GPU node groups can reach 16 GPUs (gpu: 2 x 8); the cap here is 8"]


def test_exceptions_file_errors_name_the_field() -> None:
    with pytest.raises(exc.ExceptionsFileError) as error:
        exc.parse_exceptions(
            {
                "exceptions": [
                    {
                        "policy": "s3-versioning",
                        "resource": "x",
                        "reason": "short",
                        "owner": "o",
                        "ticket": "T",
                        "expires": "someday",
                    }
                ]
            }
        )
    assert any(p.startswith("exceptions.0.reason") for p in error.value.problems)
    assert any(p.startswith("exceptions.0.expires") for p in error.value.problems)


def test_exception_selector_matches_urn_or_name_glob() -> None:
    entry = exc.PolicyException(
        policy="p", resource="landing-*", reason="ten characters", owner="o", ticket="T", expires="2030-01-01"
    )
    assert entry.matches("urn:pulumi:s::p::aws:s3/bucket:Bucket::landing-bucket", "landing-bucket")
    assert not entry.matches("urn:pulumi:s::p::aws:s3/bucket:Bucket::models-bucket", "models-bucket")
    assert not entry.matches(None, None)


def test_invalid_exceptions_file_is_reported_by_the_audit_policy(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("exceptions: [{policy: s3-versioning}]\n")
    audit = next(p for p in POLICIES if p.meta.name == "policy-exceptions")
    outcome = run(audit, stack_args([], {"exceptionsFile": str(path)}))
    assert len(outcome.messages) == 1 and "exceptions file is invalid" in outcome.messages[0]


def test_audit_policy_flags_unknown_refused_and_expired_exceptions(exceptions_file) -> None:
    base = {"resource": "*", "reason": "ten characters", "owner": "o", "ticket": "T"}
    path = exceptions_file(
        {**base, "policy": "no-such-policy", "expires": "2030-01-01"},
        {**base, "policy": "residency-provider-region", "expires": "2030-01-01"},
        {**base, "policy": "s3-versioning", "expires": "2020-01-01"},
    )
    audit = next(p for p in POLICIES if p.meta.name == "policy-exceptions")
    messages = run(audit, stack_args([], {"exceptionsFile": path})).messages
    assert "names no policy" in messages[0] and "refused" in messages[1] and "expired on 2020-01-01" in messages[2]


@pytest.mark.parametrize("stack", STACKS)
def test_config_lists_every_policy_with_its_exceptions_file(stack: str) -> None:
    config = json.loads((PROJECT_ROOT / "policies" / "config" / f"{stack}.json").read_text())
    assert set(config) == {p.meta.name for p in POLICIES}
    for entry in config.values():
        assert entry["exceptionsFile"] == f"exceptions/{stack}.yaml"
        assert entry["enforcementLevel"] in {"advisory", "mandatory", "disabled"}
    exc.load_exceptions(f"exceptions/{stack}.yaml")


@pytest.mark.parametrize("stack", STACKS)
def test_cost_usage_and_ceiling_agree_with_the_stack_config(stack: str) -> None:
    # GIVEN the stack config (what components read) and the pack config (what the pack reads)
    stack_config = yaml.safe_load((PROJECT_ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    pack_config = json.loads((PROJECT_ROOT / "policies" / "config" / f"{stack}.json").read_text())[
        "budget-monthly-cost"
    ]
    # THEN the usage assumptions and the ceiling are the same numbers
    assert pack_config["usage"] == stack_config["hybrid-ai-platform:usage"]
    assert pack_config["monthlyLimitUsd"] == stack_config["hybrid-ai-platform:budget"]["monthly_limit_usd"]


@pytest.mark.parametrize("stack", STACKS)
def test_allowed_regions_agree_with_the_stack_config(stack: str) -> None:
    stack_config = yaml.safe_load((PROJECT_ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    pack_config = json.loads((PROJECT_ROOT / "policies" / "config" / f"{stack}.json").read_text())
    assert (
        pack_config["residency-provider-region"]["allowedRegions"] == stack_config["hybrid-ai-platform:allowed_regions"]
    )


def test_a_resource_judged_again_keeps_only_its_latest_waivers() -> None:
    # GIVEN waivers recorded for a resource by one policy, and for another resource
    import datetime as _dt

    from hybrid_ai_platform.policies import exceptions as exc

    exc.drain_waived()
    waiver = exc.PolicyException(
        policy="s3-versioning",
        resource="models",
        reason="replicated elsewhere until the migration",
        owner="ml-platform",
        ticket="OPS-1",
        expires=_dt.date(2099, 1, 1),
    )
    models, logs = "urn:pulumi:dev::p::aws:s3/bucket:Bucket::models", "urn:pulumi:dev::p::aws:s3/bucket:Bucket::logs"
    earlier = exc.WaivedViolation("s3-versioning", models, "versioning off", waiver)
    other = exc.WaivedViolation("s3-versioning", logs, "versioning off", waiver)
    later = exc.WaivedViolation("s3-versioning", models, "versioning suspended", waiver)
    exc.record_waived(earlier)
    exc.record_waived(other)
    # WHEN the policy judges the first resource again (forgetting what it recorded for it) and records anew
    exc.forget_waived("s3-versioning", models)
    exc.record_waived(later)
    # THEN only the latest judgement's waivers are drained, with the other resource's
    assert exc.drain_waived() == [other, later]
    assert exc.drain_waived() == []
