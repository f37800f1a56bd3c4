"""hybrid_ai_platform.contracts: dependency-free, and the one source the components, config and policies read."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from importlib import resources
from typing import Any

import pytest
from hybrid_ai_platform.policies.cost import estimate, gpus_per_instance, price_table
from hybrid_ai_platform.policies.rules import _cidr, tags_required
from hybrid_ai_platform.policies.rules.budget_monthly_cost import META as BUDGET_META

from hybrid_ai_platform import contracts
from hybrid_ai_platform.cli.synth import Plan
from hybrid_ai_platform.config import ConfigError, FunctionUsage, UsageConfig, parse_platform_config
from hybrid_ai_platform.config.base import _check_not_everywhere
from tests.conftest import shipped_plan
from tests.plan_helpers import of_type


def test_importing_contracts_imports_only_the_standard_library() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import hybrid_ai_platform.contracts\n"
        "new = sorted(set(sys.modules) - before)\n"
        "print('\\n'.join(new))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    ours = {m for m in out if m.split(".")[0] == "hybrid_ai_platform"}
    assert ours == {"hybrid_ai_platform", "hybrid_ai_platform.contracts"}
    foreign = [m for m in out if m.split(".")[0] not in sys.stdlib_module_names and m not in ours]
    assert foreign == [], f"contracts imported non-stdlib modules: {foreign}"


def test_the_config_and_the_components_read_the_shared_facts_from_contracts() -> None:
    # GIVEN the facts both the stack config and the components need (quantities, node reservations, Lambda's
    # CPU share, the size-threshold model, retention periods, SLO bounds, add-on names, GPU catalogue)
    from hybrid_ai_platform.components import (
        gpu_node_group,
        inference_cluster,
        inference_service,
        instance_types,
        network,
        preprocessing,
        preprocessing_worker,
    )

    from hybrid_ai_platform import config
    from hybrid_ai_platform.config import base, cluster

    # THEN each name the config and the components use is the contracts object itself, not a copy
    shared = {
        config: (
            "cpu_milli", "memory_mib", "MEMORY_QUANTITY", "NODE_RESERVED_MEMORY_MIB", "LAMBDA_MB_PER_VCPU",
            "EVENTBRIDGE_NUMERIC_MAX", "SIZE_THRESHOLD_SAFETY_FACTOR", "PREPROCESSING_THROUGHPUT_BYTES_PER_VCPU_SECOND",
            "LOG_RETENTION_DAYS", "SLO_LATENCY_TARGETS_MS", "ROLLOUT_MAX_SURGE", "EksAddonName",
        ),
        base: ("LOG_RETENTION_DAYS",),
        cluster: ("gpu_instance_types_problem", "gpu_type", "gpus_per_node", "EksAddonName"),
        gpu_node_group: ("gpu_instance_types_problem", "gpu_type", "gpus_per_node"),
        inference_cluster: ("LOG_RETENTION_DAYS", "EksAddonName", "GPU_FAMILIES"),
        inference_service: (
            "cpu_milli", "memory_mib", "MEMORY_QUANTITY", "SLO_LATENCY_TARGETS_MS", "ROLLOUT_MAX_SURGE",
        ),
        instance_types: ("NODE_RESERVED_MEMORY_MIB", "node_reserved_cpu_milli"),
        network: ("LOG_RETENTION_DAYS",),
        preprocessing: ("LOG_RETENTION_DAYS", "EVENTBRIDGE_NUMERIC_MAX", "derived_size_threshold_bytes"),
        preprocessing_worker: ("LAMBDA_MB_PER_VCPU", "cpu_milli", "memory_mib"),
    }  # fmt: skip
    for module, names in shared.items():
        for name in names:
            assert getattr(module, name) is getattr(contracts, name), f"{module.__name__}.{name}"
    # AND the config's node arithmetic is the components' (one function over the instance-type table)
    assert config.node_allocatable is instance_types.node_allocatable
    assert config.DEFAULT_FRESHNESS_WINDOW_MINUTES == preprocessing.DEFAULT_FRESHNESS_WINDOW_MINUTES


def test_the_size_threshold_model_is_one_function() -> None:
    # GIVEN a function config and the pipeline Args built from the same settings
    from pathlib import Path

    from hybrid_ai_platform.components.preprocessing import LambdaPackage, PreprocessingPipelineArgs

    from hybrid_ai_platform.config import PreprocessingFunctionConfig

    settings = {
        "name": "txn",
        "feature_set": "txn",
        "landing_prefix": "raw/",
        "placement": "auto",
        "timeout_seconds": 10,
    }
    fn = PreprocessingFunctionConfig(**settings, worker={"image_tag": "2026.11.1"})
    package = LambdaPackage(function_zip=Path("f.zip"), function_base64sha256="h", function_sha256="h")
    bucket = object()  # stands in for the buckets: validation never reads them
    args = PreprocessingPipelineArgs(
        **settings,  # type: ignore[arg-type]
        landing=bucket,  # type: ignore[arg-type]
        feature_store=bucket,  # type: ignore[arg-type]
        kms_key="arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555",
        package=package,
        account_id="123456789012",
        region="eu-west-1",
        tags={},
        function_name="dev-txn",
    )
    # THEN both derive the contracts model: a quarter of what 10 s on 1024/1769 vCPU process
    expected = int(contracts.PREPROCESSING_THROUGHPUT_BYTES_PER_VCPU_SECOND * 1024 / 1769 * 10 / 4)
    assert fn.effective_size_threshold_bytes() == args.effective_size_threshold_bytes() == expected
    # AND however fast the code, an object above a quarter of the function's memory goes to the cluster
    assert contracts.derived_size_threshold_bytes(10240, 900, 10**12) == 10240 * 2**20 // 4


# GPU catalogue ---------------------------------------------------------------------------------------------


def test_prices_json_has_no_gpu_count_table() -> None:
    text = resources.files("hybrid_ai_platform.policies").joinpath("data/prices.json").read_text()
    table = json.loads(text)
    assert "gpus_per_instance" not in table

    def int_tables(node: Any, path: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            if (
                node
                and all(k in contracts.GPUS_PER_INSTANCE for k in node)
                and all(type(v) is int for v in node.values())
            ):
                found.append(path)
            for key, value in node.items():
                found += int_tables(value, f"{path}.{key}")
        return found

    assert int_tables(table, "prices") == []


def test_every_priced_gpu_instance_has_a_gpu_count() -> None:
    priced = {t for region in price_table()["regions"].values() for t in region["ec2_hour"]}
    gpu_priced = {t for t in priced if t.split(".")[0] in contracts.GPU_FAMILIES}
    assert gpu_priced, "the price table prices no GPU instance"
    assert gpu_priced <= set(contracts.GPUS_PER_INSTANCE)


def test_cost_model_and_catalogue_agree() -> None:
    for instance_type, count in contracts.GPUS_PER_INSTANCE.items():
        assert gpus_per_instance(instance_type) == count
    assert gpus_per_instance("m7i.large") == 0


def test_every_gpu_family_has_a_gpu_type_and_instances() -> None:
    assert set(contracts.GPU_TYPE_BY_FAMILY) == set(contracts.GPU_FAMILIES)
    families = {t.split(".")[0] for t in contracts.GPUS_PER_INSTANCE}
    assert families == set(contracts.GPU_FAMILIES)


# Tags and bucket purposes ----------------------------------------------------------------------------------


def test_policy_default_tag_keys_are_the_contract() -> None:
    assert list(contracts.REQUIRED_TAG_KEYS) == tags_required.DEFAULT_KEYS


@pytest.mark.parametrize("key", contracts.REQUIRED_TAG_KEYS)
def test_config_refuses_each_required_key_as_an_extra_tag(key: str) -> None:
    raw = {
        "environment": "dev",
        "region": "eu-central-1",
        "allowed_regions": ["eu-central-1"],
        "tags": {"owner": "ml", "cost_center": "cc-1", "extra": {key: "x"}},
        "budget": {"monthly_limit_usd": 100},
    }
    with pytest.raises(ConfigError, match=f"tag key '{key}' is set by the library"):
        parse_platform_config(raw)


def test_shipped_buckets_carry_a_contract_purpose() -> None:
    plan = shipped_plan("dev")
    purposes = [r.inputs["tags"][contracts.PURPOSE_TAG] for r in of_type(plan, "aws:s3/bucket:Bucket")]
    assert sorted(purposes) == sorted(p.value for p in contracts.BucketPurpose)


def test_every_purpose_maps_to_a_usage_storage_key() -> None:
    for purpose in contracts.BucketPurpose:
        assert contracts.STORAGE_KEY_BY_PURPOSE[purpose] in contracts.USAGE_STORAGE_KEYS
    annotation = UsageConfig.model_fields["s3_storage_gb"].annotation
    assert typing.get_args(typing.get_args(annotation)[0]) == contracts.USAGE_STORAGE_KEYS


# Usage schema ----------------------------------------------------------------------------------------------


def test_policy_usage_schema_is_the_contract_and_matches_the_config_model() -> None:
    schema = BUDGET_META.config["usage"]
    assert schema is contracts.USAGE_SCHEMA
    assert set(schema["properties"]) == set(UsageConfig.model_fields)
    function_schema = schema["properties"]["functions"]["additionalProperties"]
    assert set(function_schema["properties"]) == set(FunctionUsage.model_fields)
    assert set(schema["properties"]["s3_storage_gb"]["properties"]) == set(contracts.USAGE_STORAGE_KEYS)


def _resources(plan: Plan) -> list[dict[str, Any]]:
    return [r.to_json() for r in plan.resources]


def test_cost_model_defaults_are_the_config_defaults() -> None:
    """Pricing a plan with no usage equals pricing it with every value at the config model's default."""
    plan = shipped_plan("dev")
    region = str(plan.config["aws:region"])
    functions = {
        str(r.inputs.get("name")): FunctionUsage().model_dump() for r in of_type(plan, "aws:lambda/function:Function")
    }
    assert functions
    defaults = UsageConfig()
    explicit = {
        "functions": functions,
        "sqs_requests_per_month": defaults.sqs_requests_per_month,
        "s3_storage_gb": dict.fromkeys(contracts.USAGE_STORAGE_KEYS, contracts.USAGE_DEFAULT_S3_GB),
        "nat_data_processed_gb": defaults.nat_data_processed_gb,
    }
    assert estimate(_resources(plan), region, {}) == estimate(_resources(plan), region, explicit)


# The whole internet ----------------------------------------------------------------------------------------

CIDR_TABLE: list[list[str]] = [
    ["0.0.0.0/0"],
    ["0.0.0.0/1", "128.0.0.0/1"],
    ["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"],
    ["1.0.0.0/8", "2.0.0.0/7", "4.0.0.0/6", "8.0.0.0/5", "16.0.0.0/4", "32.0.0.0/3", "64.0.0.0/2", "128.0.0.0/1"],
    ["0.0.0.0/1"],
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
    ["203.0.113.10/32"],
    ["::/0"],
    ["::/1", "8000::/1"],
    ["2000::/3"],
    ["2000:0000:0000::/3"],
    ["2000::/4", "3000::/4"],
    ["2000::/4"],
    ["2001:DB8::/32"],
    ["0000:0000:0000:0000:0000:0000:0000:0000/0"],
    ["10.0.0.0/8", "::/0"],
    ["0.0.0.0/0", "::/0"],
    ["fd00::/8", "fc00::/8"],
]


@pytest.mark.parametrize("cidrs", CIDR_TABLE, ids=lambda c: "+".join(c))
def test_config_and_policies_give_the_same_world_open_answer(cidrs: list[str]) -> None:
    policy_open = bool(_cidr.world_open(cidrs))
    try:
        _check_not_everywhere(cidrs, "the API server")
        config_open = False
    except ValueError as exc:
        assert "every address" in str(exc)
        config_open = True
    assert config_open == policy_open
    raw = {
        "environment": "dev",
        "region": "eu-central-1",
        "allowed_regions": ["eu-central-1"],
        "tags": {"owner": "ml", "cost_center": "cc-1"},
        "budget": {"monthly_limit_usd": 100},
        "cluster": {"deployer": {"cidrs": cidrs}},
    }
    if policy_open:
        with pytest.raises(ConfigError, match="opens the API server to every address"):
            parse_platform_config(raw)
    else:
        try:
            parse_platform_config(raw)
        except ConfigError as exc:
            assert "every address" not in str(exc)


def test_the_table_has_both_answers_for_both_families() -> None:
    answers = {tuple(_cidr.world_open(c)) for c in CIDR_TABLE}
    assert {(), ("IPv4",), ("IPv6",), ("IPv4", "IPv6")} <= answers


def test_policy_cidr_module_is_the_contract() -> None:
    assert _cidr.world_open is contracts.world_open
