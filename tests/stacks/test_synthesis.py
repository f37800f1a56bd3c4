"""The offline plan harness records what the engine would receive, deterministically."""

from __future__ import annotations

import re

import pulumi
import pulumi_aws as aws
import pytest

from hybrid_ai_platform.cli.synth import PlanError, synthesize
from tests.conftest import SHIPPED_STACKS, shipped_plan
from tests.plan_helpers import named, of_type


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_each_shipped_stack_synthesizes(stack: str) -> None:
    plan = shipped_plan(stack)
    assert plan.stack == stack and plan.project == "hybrid-ai-platform"
    assert len(plan.resources) > 50
    assert plan.outputs["landing_bucket"] == named(plan, "landing-bucket").id


def test_same_code_gives_byte_identical_json() -> None:
    # GIVEN two independent syntheses of the same stack (the session's and a new one) WHEN dumped THEN the bytes
    # are equal
    assert shipped_plan("dev").dumps() == synthesize("dev").dumps()


def test_records_parent_provider_options_and_property_dependencies(prod_plan) -> None:
    lifecycle = named(prod_plan, "landing-lifecycle")
    component = named(prod_plan, "landing")
    provider = of_type(prod_plan, "pulumi:providers:aws")
    # explicit provider, with its region from stack config
    assert [p.name for p in provider] == ["aws"]
    assert provider[0].inputs["region"] == "eu-central-1"
    assert lifecycle.provider == f"{provider[0].urn}::{provider[0].id}"
    assert lifecycle.parent == component.urn
    assert lifecycle.urn == (
        "urn:pulumi:prod::hybrid-ai-platform::hybrid-ai:storage:ArtifactBucket"
        "$aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration::landing-lifecycle"
    )
    # explicit depends_on is separated from property dependencies
    assert lifecycle.options["depends_on"] == [named(prod_plan, "landing-versioning").urn]
    assert lifecycle.property_dependencies == {"bucket": [named(prod_plan, "landing-bucket").urn]}
    assert set(lifecycle.dependencies) == {
        named(prod_plan, "landing-versioning").urn,
        named(prod_plan, "landing-bucket").urn,
    }
    # top-level components hang off the stack resource
    stack = of_type(prod_plan, "pulumi:pulumi:Stack")[0]
    assert (
        component.parent
        == stack.urn
        == "urn:pulumi:prod::hybrid-ai-platform::pulumi:pulumi:Stack::hybrid-ai-platform-prod"
    )


def test_mock_outputs_look_like_aws_in_the_stack_region(prod_plan) -> None:
    queue = named(prod_plan, "transactions-queue")
    assert re.fullmatch(
        r"https://sqs\.eu-central-1\.amazonaws\.com/123456789012/transactions-queue-[0-9a-f]{7}", queue.id
    )
    key = named(prod_plan, "stack-key-key")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", key.id)
    function = named(prod_plan, "transactions-function")
    assert function.id == "hybrid-ai-platform-prod-transactions"


def test_default_provider_is_recorded_with_config_inputs() -> None:
    # GIVEN a program whose resource names no provider
    def program() -> None:
        aws.sns.Topic("plain", tags={"environment": "dev"})
        pulumi.export("n", 1)

    plan = synthesize("dev", program=program)
    default = [p for p in of_type(plan, "pulumi:providers:aws") if p.options.get("default")]
    # THEN the engine's default provider is there, configured from aws:* stack config
    assert len(default) == 1
    assert default[0].name.startswith("default_7_")
    assert default[0].inputs["region"] == "eu-west-1"
    assert named(plan, "plain").provider == f"{default[0].urn}::{default[0].id}"


def test_secret_outputs_are_masked() -> None:
    def program() -> None:
        pulumi.export("token", pulumi.Output.secret("hunter2"))

    plan = synthesize("dev", program=program)
    assert plan.outputs == {"token": "[secret]"}
    assert "hunter2" not in plan.dumps()


def test_unknown_stack_lists_known_stacks() -> None:
    with pytest.raises(PlanError, match=r"unknown stack 'qa'.*stacks: dev, prod, staging"):
        synthesize("qa")
