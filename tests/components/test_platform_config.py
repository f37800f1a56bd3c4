"""Typed platform config: validation happens once, before any resource, with one clear error."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hybrid_ai_platform.components import instance_types
from hypothesis import given
from hypothesis import strategies as st

from hybrid_ai_platform.cli.synth import read_stack_files, synthesize
from hybrid_ai_platform.config import ConfigError, Environment, parse_platform_config
from hybrid_ai_platform.contracts import GPUS_PER_INSTANCE
from tests.conftest import shipped_plan

BASE: dict[str, Any] = {
    "environment": "prod",
    "region": "eu-central-1",
    "allowed_regions": ["eu-central-1"],
    "tags": {"owner": "ml", "cost_center": "cc-1"},
    "budget": {"monthly_limit_usd": 1000},
    "preprocessing": {
        "functions": [{"name": "transactions", "feature_set": "transactions", "landing_prefix": "raw/tx/"}]
    },
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """BASE with one dotted path set (list indexes as ``[0]``)."""
    raw = copy.deepcopy(BASE)
    node: Any = raw
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return raw


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_platform_config(raw, "prod")
    return info.value.problems


def test_happy_path_has_secure_defaults() -> None:
    # GIVEN the minimal prod config WHEN it is parsed
    config = parse_platform_config(BASE, "prod")
    # THEN the defaults are the secure, HA ones for prod
    assert config.environment == Environment.PROD
    assert config.az_count == 3
    assert config.nat_gateways == "one_per_az"
    assert config.object_lock_mode == "COMPLIANCE"
    assert config.cluster.public_endpoint is False
    assert config.storage.force_destroy is False
    assert config.tags.data_classification == "confidential"
    fn = config.preprocessing.functions[0]
    assert (fn.architecture, fn.maximum_concurrency <= fn.reserved_concurrency) == ("arm64", True)


def test_dev_defaults_are_cheap() -> None:
    config = parse_platform_config({**BASE, "environment": "dev"}, "dev")
    assert (config.az_count, config.nat_gateways, config.object_lock_mode) == (2, "single", "GOVERNANCE")


def test_timeout_above_lambda_maximum_names_field_value_and_limit() -> None:
    problems = problems_of(with_change("preprocessing.functions[0].timeout_seconds", 1200))
    assert problems == ["preprocessing.functions[0].timeout_seconds: 1200 is above the Lambda maximum of 900"]


def test_every_bad_field_is_reported_together() -> None:
    # GIVEN three independent mistakes
    raw = with_change("preprocessing.functions[0].memory_mb", 64)
    raw["tags"]["owner"] = ""
    raw["budget"]["monthly_limit_usd"] = -5
    # WHEN parsed THEN one error lists all three, each by dotted path with the value given
    problems = problems_of(raw)
    assert len(problems) == 3
    assert any(p.startswith("preprocessing.functions[0].memory_mb: 64 ") for p in problems)
    assert any(p.startswith('tags.owner: "" ') for p in problems)
    assert any(p.startswith("budget.monthly_limit_usd: -5 ") for p in problems)


def test_unknown_key_is_a_typo_error() -> None:
    problems = problems_of(with_change("preprocessing.functions[0].memroy_mb", 512))
    assert len(problems) == 1
    assert problems[0].startswith("preprocessing.functions[0].memroy_mb: unknown key; did you mean 'memory_mb'? ")
    assert "allowed keys: name, feature_set, landing_prefix, architecture, runtime, memory_mb," in problems[0]


def test_region_must_be_allowed() -> None:
    problems = problems_of({**BASE, "region": "us-east-1"})
    assert problems == ["aws:region: 'us-east-1' is not in allowed_regions ['eu-central-1']"]


def test_every_cross_field_problem_is_reported_by_its_own_field() -> None:
    raw = {**with_change("storage.force_destroy", True), "region": "us-east-1"}
    assert problems_of(raw) == [
        "aws:region: 'us-east-1' is not in allowed_regions ['eu-central-1']",
        "storage.force_destroy: true is not allowed in prod (it lets a destroy delete data)",
    ]


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("preprocessing.functions[0].maximum_concurrency", 50, "above reserved_concurrency"),
        ("preprocessing.functions[0].batch_size", 100, "needs batching_window_seconds"),
        ("preprocessing.functions[0].log_retention_days", 10, "not a CloudWatch Logs retention period"),
        ("preprocessing.functions[0].schedule", "every hour", "not an EventBridge schedule"),
        ("preprocessing.functions[0].environment", {"DB_PASSWORD": "x"}, "looks like a secret"),
        ("preprocessing.functions[0].landing_prefix", "raw/tx", "should match"),
        ("storage.force_destroy", True, "storage.force_destroy: true is not allowed in prod"),
        ("cluster.public_access_cidrs", ["0.0.0.0/0"], "opens the API server to every address"),
        (
            "encryption.key_arn",
            "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
            "stack's region",
        ),
    ],
)
def test_rejects_unsafe_or_impossible_values(path: str, value: Any, fragment: str) -> None:
    problems = problems_of(with_change(path, value))
    assert any(fragment in p for p in problems), problems


def test_overlapping_landing_prefixes_are_rejected() -> None:
    raw = copy.deepcopy(BASE)
    raw["preprocessing"]["functions"].append(
        {"name": "transactions-all", "feature_set": "all", "landing_prefix": "raw/"}
    )
    assert any("overlap" in p for p in problems_of(raw))


@given(timeout=st.integers(min_value=1, max_value=900))
def test_any_lambda_timeout_within_limits_is_accepted(timeout: int) -> None:
    config = parse_platform_config(with_change("preprocessing.functions[0].timeout_seconds", timeout), "prod")
    assert config.preprocessing.functions[0].timeout_seconds == timeout


def test_bad_stack_config_fails_before_any_resource_is_registered() -> None:
    # GIVEN the shipped prod stack with a timeout above the maximum
    override = {
        "hybrid-ai-platform:preprocessing": {
            "functions": [
                {
                    "name": "transactions",
                    "feature_set": "transactions",
                    "landing_prefix": "raw/x/",
                    "timeout_seconds": 1200,
                }
            ]
        },
        "hybrid-ai-platform:colour": "blue",
    }
    # WHEN synthesized THEN one ConfigError names both problems, and nothing was created
    with pytest.raises(ConfigError) as info:
        synthesize("prod", overrides=override)
    message = str(info.value)
    assert "preprocessing.functions[0].timeout_seconds: 1200 is above the Lambda maximum of 900" in message
    assert "colour: unknown key 'hybrid-ai-platform:colour'" in message
    assert "stacks/Pulumi.prod.yaml" in message


def test_missing_region_is_reported() -> None:
    with pytest.raises(ConfigError) as info:
        synthesize("dev", overrides={"aws:region": None})
    assert any(p.startswith("aws:region: is required") for p in info.value.problems)


# GPU capacity: replicas, rollout surge and batch jobs must fit the GPU node groups -----------------


def gpu_stack(max_size: int, instance_type: str = "g4dn.xlarge", **model: Any) -> dict[str, Any]:
    """BASE with one GPU group, one model and one nightly batch job of that model."""
    raw = copy.deepcopy(BASE)
    raw["cluster"] = {"gpu_node_groups": [{"name": "gpu", "instance_types": [instance_type], "max_size": max_size}]}
    raw["inference"] = {
        "models": [{"name": "fraud-scorer", "version": "3", "image_tag": "1.4.0", "min_replicas": 1, **model}],
        "batch_jobs": [{"name": "nightly", "model": "fraud-scorer", "feature_set": "transactions"}],
    }
    return raw


def test_a_gpu_pool_that_cannot_hold_the_service_its_surge_and_the_job_is_refused() -> None:
    # GIVEN dev's old shape: one single-GPU node, a 1-replica service and a nightly job
    problems = problems_of(gpu_stack(max_size=1, max_replicas=1))
    # THEN the field is named with what it gives and what the workloads need
    assert problems == [
        "cluster.gpu_node_groups[0].max_size: 1 gives 1 GPU; models need 3 (fraud-scorer: 1 min replicas + 1 "
        "rollout surge; batch job nightly: 1); raise max_size to 3 or lower inference.models[].min_replicas"
    ]
    # AND three nodes are enough
    parse_platform_config(gpu_stack(max_size=3, max_replicas=1), "prod")


def test_multi_gpu_pods_count_each_of_their_gpus() -> None:
    # GIVEN a 2-GPU model on 4-GPU nodes: (1 + 1 surge) x 2 + job 2 = 6 GPUs
    raw = gpu_stack(max_size=1, instance_type="g5.12xlarge", resources={"gpus": 2, "cpu": "4", "memory": "16Gi"})
    [problem] = problems_of(raw)
    assert problem.startswith("cluster.gpu_node_groups[0].max_size: 1 gives 4 GPUs; models need 6 (")
    parse_platform_config(
        gpu_stack(max_size=2, instance_type="g5.12xlarge", resources={"gpus": 2, "cpu": "4", "memory": "16Gi"}),
        "prod",
    )


@pytest.mark.parametrize(
    ("resources", "fits"),
    [
        ({"cpu": "3500m", "memory": "14Gi"}, True),  # within g4dn.xlarge's 4 vCPU / 16 GiB less kube-reserved
        ({"cpu": "4", "memory": "8Gi"}, False),  # all 4 vCPUs: kube-reserved takes 80m
        ({"cpu": "2", "memory": "16Gi"}, False),  # all 16 GiB: kube-reserved and eviction take 355 MiB
        ({"cpu": "2", "memory": "8Gi", "gpus": 2}, False),  # two GPUs on a one-GPU instance
    ],
)
def test_a_pod_that_fits_no_gpu_instance_type_is_refused(resources: dict[str, Any], fits: bool) -> None:
    raw = gpu_stack(max_size=10, resources=resources)
    if fits:
        parse_platform_config(raw, "prod")
        return
    [problem] = [p for p in problems_of(raw) if p.startswith("inference.models[0].resources:")]
    assert "fit no configured GPU instance type (g4dn.xlarge: 4 vCPU, 16 GiB, 1 GPU" in problem


def test_models_without_gpu_node_groups_are_refused() -> None:
    raw = gpu_stack(max_size=1)
    raw["cluster"] = {}
    assert problems_of(raw) == [
        "cluster.gpu_node_groups: is empty, but inference.models ['fraud-scorer'] need GPU nodes; add a GPU node group"
    ]


def test_every_gpu_instance_type_has_vcpus_and_memory_in_the_instance_table() -> None:
    for instance_type in GPUS_PER_INSTANCE:
        assert instance_types.vcpus(instance_type) >= 4
        assert instance_types.memory_gib(instance_type) >= 16


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_dev_and_staging_gpu_groups_hold_the_hpa_peak_surge_and_jobs(stack: str) -> None:
    # GIVEN the shipped dev/staging config WHEN the HPA is at max_replicas, a rollout surges and the job runs
    config = shipped_plan(stack).config
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("hybrid-ai-platform:")}
    parsed = parse_platform_config({**raw, "region": config["aws:region"]}, stack)
    # THEN everything fits the GPU pool
    needed, _ = parsed.gpu_demand(peak=True)
    assert needed <= parsed.gpu_capacity()
    assert parsed.gpu_peak_shortfall() is None


def test_a_pool_below_the_hpa_peak_is_a_warning_the_program_logs() -> None:
    # GIVEN prod with its GPU pool cut to 10 nodes: the floor (7 GPUs) fits, the HPA peak
    # (6 + 4 replicas, 2 surge, 1 job = 13) does not
    cluster = copy.deepcopy(read_stack_files("prod").config["hybrid-ai-platform:cluster"])
    cluster["gpu_node_groups"][0]["max_size"] = 10
    plan = synthesize("prod", overrides={"hybrid-ai-platform:cluster": cluster})
    warnings = [w for w in plan.warnings if "HPA peak" in w]
    # THEN `pulumi up` warns with both numbers instead of refusing the stack
    assert warnings == [
        "the GPU node groups reach 10 GPUs but the HPA peak needs 13 (fraud-scorer: 6 max replicas + 1 rollout "
        "surge; churn-predictor: 4 max replicas + 1 rollout surge; batch job nightly-fraud-scores: 1): pods above "
        "the pool stay pending; raise cluster.gpu_node_groups[].max_size to serve the peak"
    ]


def test_shipped_stacks_hold_their_hpa_peak_without_a_warning() -> None:
    for stack in ("dev", "staging", "prod"):
        assert [w for w in shipped_plan(stack).warnings if "HPA peak" in w] == [], stack
