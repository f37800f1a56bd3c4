"""The components' flat Args: validated at construction, one source for defaults, usable without the stack config."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hybrid_ai_platform.components.alarms import AlarmsArgs
from hybrid_ai_platform.components.artifact_bucket import ArtifactBucketArgs, ObjectLockArgs
from hybrid_ai_platform.components.batch_job import BatchScoringJobArgs
from hybrid_ai_platform.components.budget import BudgetArgs
from hybrid_ai_platform.components.cluster_autoscaler import ClusterAutoscalerArgs
from hybrid_ai_platform.components.encryption_key import EncryptionKeyArgs
from hybrid_ai_platform.components.gpu_node_group import GpuNodeGroupArgs
from hybrid_ai_platform.components.inference_cluster import InferenceClusterArgs
from hybrid_ai_platform.components.inference_service import InferenceServiceArgs
from hybrid_ai_platform.components.keda import KedaArgs
from hybrid_ai_platform.components.network import NetworkArgs
from hybrid_ai_platform.components.nvidia_device_plugin import NvidiaDevicePluginArgs
from hybrid_ai_platform.components.preprocessing import LambdaPackage, PipelineAlarmsArgs, PreprocessingPipelineArgs
from hybrid_ai_platform.components.preprocessing_worker import PreprocessingWorkerArgs
from pydantic import BaseModel

from hybrid_ai_platform.cli.synth import synthesize
from hybrid_ai_platform.config import (
    AlarmsConfig,
    BatchJobConfig,
    BudgetConfig,
    ClusterConfig,
    EncryptionConfig,
    GpuNodeGroupConfig,
    ModelServiceConfig,
    NetworkConfig,
    PreprocessingFunctionConfig,
    PreprocessingWorkerConfig,
    ResourcesConfig,
    SloConfig,
    StorageConfig,
    SystemNodeGroupConfig,
)
from tests.plan_helpers import depends_via, named, of_type

KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
TAGS = {"environment": "dev"}
RESOURCE = object()
"""Stands in for resource-typed fields (cluster, provider, buckets): validation never reads them."""


def gpu_args(**change: Any) -> GpuNodeGroupArgs:
    fields: dict[str, Any] = {
        "name": "gpu-l4",
        "instance_types": ["g6.xlarge"],
        "cluster": RESOURCE,
        "cluster_name": "c",
        "node_role": RESOURCE,
        "subnet_ids": ["subnet-1"],
        "kms_key": KEY,
        "tags": TAGS,
    }
    return GpuNodeGroupArgs(**{**fields, **change})


def service_args(**change: Any) -> InferenceServiceArgs:
    fields: dict[str, Any] = {
        "model_name": "fraud-scorer",
        "version": "3",
        "image_tag": "2026.11.1",
        "cluster": RESOURCE,
        "provider": RESOURCE,
        "account_id": "123456789012",
        "region": "eu-west-1",
        "model_registry": RESOURCE,
        "registry_prefix": "models",
        "kms_key": KEY,
        "repository_name": "p-dev/fraud-scorer",
        "tags": TAGS,
    }
    return InferenceServiceArgs(**{**fields, **change})


def cluster_args(**change: Any) -> InferenceClusterArgs:
    fields: dict[str, Any] = {
        "cluster_name": "p-dev",
        "kubernetes_version": "1.36",
        "region": "eu-west-1",
        "account_id": "123456789012",
        "subnet_ids": ["subnet-1"],
        "kms_key": KEY,
        "tags": TAGS,
    }
    return InferenceClusterArgs(**{**fields, **change})


def job_args(**change: Any) -> BatchScoringJobArgs:
    fields: dict[str, Any] = {
        "name": "nightly",
        "service": RESOURCE,
        "feature_set": "transactions",
        "feature_store": RESOURCE,
        "tags": TAGS,
    }
    return BatchScoringJobArgs(**{**fields, **change})


def network_args(**change: Any) -> NetworkArgs:
    fields: dict[str, Any] = {"tags": TAGS, "region": "eu-west-1", "account_id": "123456789012", "kms_key": KEY}
    return NetworkArgs(**{**fields, **change})


def key_args(**change: Any) -> EncryptionKeyArgs:
    return EncryptionKeyArgs(**{"account_id": "123456789012", "region": "eu-west-1", "tags": TAGS, **change})


def bucket_args(**change: Any) -> ArtifactBucketArgs:
    return ArtifactBucketArgs(**{"tags": TAGS, "region": "eu-west-1", "kms_key": KEY, "purpose": "features", **change})


def lock_args(**change: Any) -> ObjectLockArgs:
    return ObjectLockArgs(**{"mode": "COMPLIANCE", "days": 30, **change})


def budget_args(**change: Any) -> BudgetArgs:
    fields: dict[str, Any] = {"monthly_limit_usd": 100.0, "filter_tags": TAGS, "tags": TAGS, "emails": ["a@b.example"]}
    return BudgetArgs(**{**fields, **change})


def autoscaler_args(**change: Any) -> ClusterAutoscalerArgs:
    fields: dict[str, Any] = {
        "cluster": RESOURCE,
        "cluster_name": "c",
        "kubernetes_version": "1.36",
        "region": "eu-west-1",
        "account_id": "123456789012",
        "tags": TAGS,
        "provider": RESOURCE,
    }
    return ClusterAutoscalerArgs(**{**fields, **change})


def alarms_args(**change: Any) -> AlarmsArgs:
    return AlarmsArgs(**{"kms_key": KEY, "account_id": "123456789012", "tags": TAGS, **change})


def keda_args(**change: Any) -> KedaArgs:
    return KedaArgs(**{"cluster": RESOURCE, "provider": RESOURCE, "tags": TAGS, **change})


def plugin_args(**change: Any) -> NvidiaDevicePluginArgs:
    return NvidiaDevicePluginArgs(**{"provider": RESOURCE, **change})


PACKAGE = LambdaPackage(function_zip=Path("function.zip"), function_base64sha256="h", function_sha256="h")


def pipeline_args(**change: Any) -> PreprocessingPipelineArgs:
    fields: dict[str, Any] = {
        "name": "transactions",
        "feature_set": "transactions",
        "landing_prefix": "raw/transactions/",
        "landing": RESOURCE,
        "feature_store": RESOURCE,
        "kms_key": KEY,
        "package": PACKAGE,
        "account_id": "123456789012",
        "region": "eu-west-1",
        "tags": TAGS,
        "function_name": "p-dev-transactions",
    }
    return PreprocessingPipelineArgs(**{**fields, **change})


def pipeline_alarms_args(**change: Any) -> PipelineAlarmsArgs:
    return PipelineAlarmsArgs(**change)


@pytest.mark.parametrize(
    ("build", "field", "value", "error", "says"),
    [
        (gpu_args, "name", "GPU_L4", ValueError, "a lower-case name"),
        (gpu_args, "instance_types", ["m7i.large"], ValueError, "are not GPU instance types"),
        (gpu_args, "instance_types", ["g5.xlarge", "g6.xlarge"], ValueError, "mix GPU types"),
        (gpu_args, "instance_types", "g6.xlarge", TypeError, "not a list of strings"),
        (gpu_args, "instance_types", [], ValueError, "list at least one"),
        (gpu_args, "ami_type", "AL2_x86_64_GPU", ValueError, "is not one of 'AL2023_x86_64_NVIDIA'"),
        (gpu_args, "capacity_type", "spot", ValueError, "is not one of 'ON_DEMAND', 'SPOT'"),
        (gpu_args, "max_size", 0, ValueError, "below the minimum of 1"),
        (gpu_args, "min_size", True, TypeError, "is a bool, not a int"),
        (gpu_args, "desired_size", 5, ValueError, "must lie between min_size 0 and max_size 2"),
        (gpu_args, "disk_size_gb", 20, ValueError, "below the minimum of 50"),
        (service_args, "model_name", "Fraud", ValueError, "a lower-case name"),
        (service_args, "version", "v3", ValueError, "a model version number"),
        (service_args, "image", "fraud:latest", ValueError, "a full image reference"),
        (service_args, "min_replicas", 5, ValueError, "5 is above max_replicas 4"),
        (service_args, "cpu", "two", ValueError, "a CPU quantity"),
        (service_args, "memory", "8GB", ValueError, "a memory quantity"),
        (service_args, "memory", "1Mi", ValueError, "under 4Mi"),
        (service_args, "gpus", 9, ValueError, "above the maximum of 8"),
        (service_args, "latency_target_ms", 300, ValueError, "is not one of 1, 5"),
        (service_args, "availability_target", 1.0, ValueError, "outside 0.9 to 0.99999"),
        (service_args, "allowed_namespaces", "clients", TypeError, "not a list of strings"),
        (cluster_args, "kubernetes_version", "1.20", ValueError, "not an EKS version this library offers"),
        (cluster_args, "system_instance_types", ["g6.xlarge"], ValueError, "are GPU instance types"),
        (cluster_args, "system_desired_size", 9, ValueError, "must lie between system_min_size 2"),
        (cluster_args, "log_retention_days", 100, ValueError, "is not one of 1, 3"),
        (cluster_args, "addon_versions", {"vpc-cni": "1.19"}, ValueError, "an add-on version"),
        (cluster_args, "addon_versions", {"aws-ebs-csi-driver": "v1.0.0-eksbuild.1"}, ValueError, "is not one of"),
        (cluster_args, "public_endpoint", True, ValueError, "public_access_cidrs: is empty but public_endpoint"),
        (job_args, "schedule", "0 25 * * *", ValueError, "hour"),
        (job_args, "feature_set", "Transactions", ValueError, "a feature-set name"),
        (job_args, "backoff_limit", 11, ValueError, "above the maximum of 10"),
        (job_args, "drift_psi_threshold", 0, ValueError, "must be above 0"),
        (job_args, "service", RESOURCE, TypeError, "not a InferenceService"),
        (network_args, "nat_gateways", "per_az", ValueError, "is not one of 'single', 'one_per_az'"),
        (network_args, "cidr", "10.40.0.0/24", ValueError, "outside the supported VPC sizes"),
        (network_args, "az_count", 7, ValueError, "above the maximum of 6"),
        (network_args, "flow_log_retention_days", 45, ValueError, "is not one of 1, 3"),
        (key_args, "deletion_window_days", 5, ValueError, "below the minimum of 7"),
        (key_args, "key_arn", "alias/mine", ValueError, "a KMS key ARN"),
        (key_args, "alias", "aws/mine", ValueError, "a KMS alias name"),
        (bucket_args, "kms_key", None, ValueError, "is required unless access_log_target is on"),
        (bucket_args, "noncurrent_version_expiration_days", 0, ValueError, "below the minimum of 1"),
        (lock_args, "mode", "governance", ValueError, "is not one of 'GOVERNANCE', 'COMPLIANCE'"),
        (budget_args, "monthly_limit_usd", 0.0, ValueError, "must be above 0"),
        (budget_args, "emails", (), ValueError, "give topic or emails"),
        (budget_args, "actual_thresholds_percent", (80.0, 2000.0), ValueError, "outside 0.0 to 1000.0"),
        (autoscaler_args, "kubernetes_version", "1.20", ValueError, "not in the EKS version table"),
        (alarms_args, "emails", ["ops"], ValueError, "an email address"),
        (keda_args, "chart_version", "latest", ValueError, "a chart version"),
        (plugin_args, "namespace", "GPU", ValueError, "a Kubernetes namespace name"),
        (gpu_args, "kms_key", "alias/stack", ValueError, "a KMS key ARN"),
        (network_args, "kms_key", 42, TypeError, "not an EncryptionKey, an aws.kms.Key or a key ARN"),
        (pipeline_args, "name", "Transactions", ValueError, "a lower-case name"),
        (pipeline_args, "feature_set", "Tx-1", ValueError, "a feature-set name"),
        (pipeline_args, "landing_prefix", "raw", ValueError, "a key prefix ending with '/'"),
        (pipeline_args, "function_name", "x" * 65, ValueError, "a Lambda function name"),
        (pipeline_args, "architecture", "arm", ValueError, "is not one of 'arm64', 'x86_64'"),
        (pipeline_args, "memory_mb", 64, ValueError, "below the minimum of 128"),
        (pipeline_args, "timeout_seconds", 1200, ValueError, "above the maximum of 900"),
        (pipeline_args, "maximum_concurrency", 20, ValueError, "above reserved_concurrency 10"),
        (pipeline_args, "batch_size", 100, ValueError, "batch_size 100 above 10 needs at least 1"),
        (pipeline_args, "log_retention_days", 45, ValueError, "is not one of 1, 3"),
        (pipeline_args, "schedule", "rate(1 hours)", ValueError, "takes the singular unit"),
        (pipeline_args, "environment", {"DB_PASSWORD": "x"}, ValueError, "looks like a secret"),
        (pipeline_args, "environment", {"PAD": "x" * 4000}, ValueError, "Lambda allows 4096"),
        (pipeline_args, "size_threshold_bytes", 1000, ValueError, "only applies to placement 'auto'"),
        (pipeline_args, "package", "build/lambda", TypeError, "not a LambdaPackage"),
        (pipeline_alarms_args, "duration_timeout_ratio", 0.0, ValueError, "must be above 0"),
        (pipeline_alarms_args, "oldest_message_age_seconds", 30, ValueError, "below the minimum of 60"),
    ],
)
def test_bad_args_raise_at_construction_naming_the_field(
    build: Any, field: str, value: Any, error: type[Exception], says: str
) -> None:
    # GIVEN Args that are valid but for one field (the job's stand-in service is only checked last)
    # WHEN constructed THEN one error names the Args class and the field, and says what is wrong
    with pytest.raises(error) as raised:
        build(**{field: value})
    message = str(raised.value)
    owner = build.__annotations__["return"]
    # (a field whose value conflicts with another is reported on the one to fix)
    named_field = {
        (cluster_args, "public_endpoint"): "public_access_cidrs",
        (budget_args, "emails"): "topic",
        (pipeline_args, "batch_size"): "batching_window_seconds",
    }.get((build, field), field)
    assert message.startswith(f"{owner}.{named_field}: "), message
    assert says in message, message


def test_valid_args_construct_and_keep_their_values() -> None:
    args = gpu_args(instance_types=["g6.12xlarge"], capacity_type="SPOT", max_size=3)
    assert (args.gpus_per_node, args.gpu_type, args.capacity_type) == (4, "nvidia-l4", "SPOT")
    assert service_args(image=None, memory="512Mi", cpu="500m").memory == "512Mi"
    assert cluster_args(public_endpoint=True, public_access_cidrs=["203.0.113.0/24"]).public_endpoint


# Config field -> Args field, for every config field that restates a component default.
SAME_DEFAULTS: list[tuple[type[BaseModel], type, dict[str, str]]] = [
    (
        GpuNodeGroupConfig,
        GpuNodeGroupArgs,
        {f: f for f in ("ami_type", "capacity_type", "min_size", "max_size", "desired_size", "disk_size_gb")}
        | {"max_unavailable": "max_unavailable"},
    ),
    (
        SystemNodeGroupConfig,
        InferenceClusterArgs,
        {f: f"system_{f}" for f in ("instance_types", "min_size", "max_size", "desired_size", "disk_size_gb")},
    ),
    (
        ClusterConfig,
        InferenceClusterArgs,
        {
            f: f
            for f in (
                "public_endpoint",
                "public_access_cidrs",
                "admin_role_arns",
                "log_retention_days",
                "addon_versions",
                "create_autoscaling_service_linked_role",
            )
        },
    ),
    (
        ModelServiceConfig,
        InferenceServiceArgs,
        {
            f: f
            for f in (
                "image",
                "min_replicas",
                "max_replicas",
                "target_in_flight_per_pod",
                "allowed_namespaces",
                "max_batch_size",
                "max_queue_delay_ms",
                "model_load_timeout_seconds",
                "images_to_keep",
            )
        },
    ),
    (ResourcesConfig, InferenceServiceArgs, {"cpu": "cpu", "memory": "memory", "gpus": "gpus"}),
    (
        SloConfig,
        InferenceServiceArgs,
        {f: f for f in ("availability_target", "latency_target_ms", "latency_percentile")}
        | {"window_days": "slo_window_days"},
    ),
    (
        BatchJobConfig,
        BatchScoringJobArgs,
        {
            f: f
            for f in (
                "schedule",
                "deadline_seconds",
                "backoff_limit",
                "drift_psi_threshold",
                "lookback_days",
                "completions",
                "parallelism",
            )
        },
    ),
    (
        NetworkConfig,
        NetworkArgs,
        {f: f for f in ("cidr", "flow_log_retention_days", "existing", "peerings")},
    ),
    (
        EncryptionConfig,
        EncryptionKeyArgs,
        {f: f for f in ("key_arn", "deletion_window_days", "rotation_period_days")},
    ),
    (
        StorageConfig,
        ArtifactBucketArgs,
        {
            f: f
            for f in ("noncurrent_version_expiration_days", "abort_incomplete_multipart_upload_days", "force_destroy")
        },
    ),
    (
        BudgetConfig,
        BudgetArgs,
        {f: f for f in ("actual_thresholds_percent", "forecast_thresholds_percent", "emails")},
    ),
    (
        PreprocessingFunctionConfig,
        PreprocessingPipelineArgs,
        {
            f: f
            for f in (
                "architecture",
                "runtime",
                "memory_mb",
                "timeout_seconds",
                "reserved_concurrency",
                "maximum_concurrency",
                "batch_size",
                "batching_window_seconds",
                "max_receive_count",
                "message_retention_seconds",
                "log_retention_days",
                "schedule",
                "environment",
                "placement",
                "size_threshold_bytes",
                "throughput_bytes_per_vcpu_second",
            )
        },
    ),
    (PreprocessingFunctionConfig, PreprocessingWorkerArgs, {"max_replicas": "max_replicas"}),
    (PreprocessingWorkerConfig, PreprocessingWorkerArgs, {"image": "image", "capacity": "capacity"}),
    (
        AlarmsConfig,
        PipelineAlarmsArgs,
        {
            f: f
            for f in (
                "records_failed_threshold",
                "lambda_errors_threshold",
                "lambda_throttles_threshold",
                "duration_timeout_ratio",
                "oldest_message_age_seconds",
                "dlq_oldest_message_age_seconds",
            )
        },
    ),
]


ENVIRONMENT_DEPENDENT = {(NetworkConfig, "az_count"), (NetworkConfig, "nat_gateways")}
"""Config defaults that are not the component's: unset, they resolve per environment (3 AZs and a NAT per AZ in
prod, ``PlatformConfig.az_count`` and ``nat_gateways``), so the stack always passes them."""


def _args_default(args: type, name: str) -> Any:
    [field] = [f for f in dataclasses.fields(args) if f.name == name]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    assert field.default is not dataclasses.MISSING, f"{args.__name__}.{name} has no default"
    return field.default


def _config_default(model: type[BaseModel], name: str) -> Any:
    return model.model_fields[name].get_default(call_default_factory=True)


@pytest.mark.parametrize(("model", "args", "pairs"), SAME_DEFAULTS, ids=lambda v: getattr(v, "__name__", ""))
def test_config_defaults_are_the_component_defaults(model: type[BaseModel], args: type, pairs: dict[str, str]) -> None:
    # THEN every config default the component owns equals the Args default (sequences compared as lists)
    for config_field, args_field in pairs.items():
        expected = _args_default(args, args_field)
        actual = _config_default(model, config_field)
        if isinstance(expected, tuple):
            expected = list(expected)
        assert actual == expected, f"{model.__name__}.{config_field} {actual!r} != {args.__name__}.{args_field}"


def _default_expression(model: type[BaseModel], name: str) -> ast.expr:
    """The expression a config field's default is written as (the value, or ``Field``'s default/default_factory)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(model)))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    [value] = [
        n.value
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id == name and n.value
    ]
    if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "Field":
        [value] = [k.value for k in value.keywords if k.arg in ("default", "default_factory")]
    return value


@pytest.mark.parametrize(("model", "args", "pairs"), SAME_DEFAULTS, ids=lambda v: getattr(v, "__name__", ""))
def test_config_defaults_are_read_from_the_args(model: type[BaseModel], args: type, pairs: dict[str, str]) -> None:
    # GIVEN each config field that mirrors an Args field, and the names its module sees
    namespace = vars(importlib.import_module(model.__module__))
    for config_field, args_field in pairs.items():
        calls = [
            node
            for node in ast.walk(_default_expression(model, config_field))
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "args_default"
        ]
        # THEN its default is args_default(<that Args class>, "<that field>"): written once, in the component
        assert len(calls) == 1, f"{model.__name__}.{config_field} restates its default instead of reading it"
        owner, field = calls[0].args
        assert eval(ast.unparse(owner), namespace) is args, f"{model.__name__}.{config_field}"
        assert ast.literal_eval(field) == args_field, f"{model.__name__}.{config_field}"


def test_config_restates_no_component_default_outside_the_table() -> None:
    # GIVEN the config sections that feed one component each
    for model, args, pairs in SAME_DEFAULTS:
        args_fields = {
            f.name
            for f in dataclasses.fields(args)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
        for name, info in model.model_fields.items():
            if info.is_required() or name in pairs or (model, name) in ENVIRONMENT_DEPENDENT:
                continue
            # THEN a defaulted config field that has a defaulted Args counterpart is in the table
            assert name not in args_fields and f"system_{name}" not in args_fields, f"{model.__name__}.{name}"


def test_the_inference_components_build_from_their_args_alone() -> None:
    # GIVEN a program that composes the components with hand-written Args and no stack config
    import pulumi
    from hybrid_ai_platform.components.artifact_bucket import ArtifactBucket
    from hybrid_ai_platform.components.batch_job import BatchScoringJob
    from hybrid_ai_platform.components.encryption_key import EncryptionKey
    from hybrid_ai_platform.components.gpu_node_group import GpuNodeGroup
    from hybrid_ai_platform.components.inference_cluster import InferenceCluster
    from hybrid_ai_platform.components.inference_service import InferenceService
    from hybrid_ai_platform.components.preprocessing import PreprocessingPipeline
    from hybrid_ai_platform.components.preprocessing_worker import PreprocessingWorker
    from hybrid_ai_platform.components.validation import ArgsError

    from hybrid_ai_platform.cli.synth import PROJECT_ROOT

    def program() -> None:
        account = "123456789012"
        bucket = {"tags": TAGS, "region": "eu-west-1", "kms_key": KEY}
        registry = ArtifactBucket("registry", ArtifactBucketArgs(purpose="models", **bucket))  # type: ignore[arg-type]
        features = ArtifactBucket("features", ArtifactBucketArgs(purpose="features", **bucket))  # type: ignore[arg-type]
        cluster = InferenceCluster("cluster", cluster_args(subnet_ids=["subnet-1", "subnet-2"]))
        group = GpuNodeGroup(
            "gpu-l4", gpu_args(cluster=cluster.cluster, node_role=cluster.node_role, depends_on=cluster.node_ready)
        )
        service = InferenceService(
            "fraud-scorer",
            service_args(
                cluster=cluster.cluster,
                provider=cluster.provider,
                account_id=account,
                model_registry=registry,
                depends_on=[group.node_group],
                node_cidr="10.40.0.0/16",
            ),
        )
        BatchScoringJob("nightly", job_args(service=service, feature_store=features))
        pulumi.export("namespace", service.namespace_name)

        # A preprocessing function on the cluster (its worker) and one on Lambda, with the stack key as a reference
        key = EncryptionKey("key", key_args())
        landing = ArtifactBucket("landing", bucket_args(purpose="landing", kms_key=key, eventbridge_notifications=True))
        on_cluster = PreprocessingPipeline(
            "transactions", pipeline_args(landing=landing, feature_store=features, kms_key=key, placement="cluster")
        )
        on_lambda = PreprocessingPipeline(
            "scores",
            pipeline_args(
                name="scores",
                function_name="p-dev-scores",
                landing_prefix="raw/scores/",
                landing=landing,
                feature_store=features,
                kms_key=key,
                package=LambdaPackage.from_manifest(PROJECT_ROOT / "build/lambda/arm64/manifest.json"),
            ),
        )
        worker = {
            "image_tag": "2026.11.1",
            "cluster": cluster.cluster,
            "provider": cluster.provider,
            "region": "eu-west-1",
            "repository_name": "p-dev/transactions-worker",
            "kms_key": key,
            "tags": TAGS,
        }
        PreprocessingWorker(
            "transactions-worker", PreprocessingWorkerArgs(pipeline=on_cluster, max_replicas=3, **worker)
        )
        with pytest.raises(
            ArgsError, match=r"^PreprocessingWorkerArgs\.pipeline: pipeline scores has placement 'lambda'"
        ):
            PreprocessingWorkerArgs(pipeline=on_lambda, **worker)

    # WHEN synthesized under the mock runtime
    plan = synthesize("dev", program=program)
    # THEN each component registered its resources from its Args
    [gpu] = [g for g in of_type(plan, "aws:eks/nodeGroup:NodeGroup") if g.inputs["nodeGroupName"] == "gpu-l4"]
    assert gpu.inputs["instanceTypes"] == ["g6.xlarge"]
    assert gpu.inputs["labels"]["k8s.amazonaws.com/accelerator"] == "nvidia-l4"
    assert gpu.inputs["scalingConfig"] == {"desiredSize": 0, "maxSize": 2, "minSize": 0}
    system = named(plan, "cluster-system-nodes")
    assert system.inputs["instanceTypes"] == ["m7i.large"]
    assert system.inputs["scalingConfig"] == {"desiredSize": 2, "maxSize": 4, "minSize": 2}
    deployment = of_type(plan, "kubernetes:apps/v1:Deployment")[0]
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}
    cron = of_type(plan, "kubernetes:batch/v1:CronJob")[0]
    assert cron.inputs["metadata"]["namespace"] == "fraud-scorer"
    assert cron.inputs["spec"]["schedule"] == "0 2 * * *"
    batch = cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert batch["image"] == container["image"]
    assert {"name": "MODEL_NAME", "value": "fraud-scorer"} in batch["env"]
    # AND only the Lambda function has a function; the cluster one a worker scaled up to its max_replicas
    [function] = of_type(plan, "aws:lambda/function:Function")
    assert (
        function.inputs["name"] == "p-dev-scores"
        and function.inputs["environment"]["variables"]["POWERTOOLS_SERVICE_NAME"] == "scores"
    )
    [scaled] = [
        r
        for r in of_type(plan, "kubernetes:keda.sh/v1alpha1:ScaledObject")
        if r.inputs["metadata"]["namespace"] == "preprocessing-transactions"
    ]
    assert scaled.inputs["spec"]["maxReplicaCount"] == 3
    # AND every key reference became the key's ARN, with the key as a dependency
    created_key = named(plan, "key-key")
    for queue in ("transactions-queue", "scores-queue", "scores-dlq"):
        assert depends_via(named(plan, queue), "kmsMasterKeyId", created_key), queue
    assert depends_via(function, "kmsKeyArn", created_key)


MULTI_REGION_KEY = "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"


def test_a_multi_region_key_is_accepted_wherever_a_key_arn_is() -> None:
    # GIVEN the ARN of a multi-Region key (its id is mrk- and 32 hex digits) and one with a malformed id
    from pydantic import ValidationError

    from hybrid_ai_platform.config import EncryptionConfig

    bad = "arn:aws:kms:eu-west-1:123456789012:key/mrk-xyz"
    # THEN the key you bring (component Args and stack config) and every kms_key field take it, alike
    assert EncryptionKeyArgs(account_id="123456789012", region="eu-west-1", tags=TAGS, key_arn=MULTI_REGION_KEY)
    assert EncryptionConfig(key_arn=MULTI_REGION_KEY).key_arn == MULTI_REGION_KEY
    # AND the malformed one is refused by both, naming the field
    with pytest.raises(ValueError, match="key_arn"):
        EncryptionKeyArgs(account_id="123456789012", region="eu-west-1", tags=TAGS, key_arn=bad)
    with pytest.raises(ValidationError, match="key_arn"):
        EncryptionConfig(key_arn=bad)


def test_artifacts_looked_up_for_another_model_version_are_refused() -> None:
    from hybrid_ai_platform.components.inference_service import ModelArtifacts
    from hybrid_ai_platform.components.validation import ArgsError

    uri = "s3://registry/models/fraud-scorer/3/model.onnx"
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/p-dev/fraud-scorer:2026.11.1"
    # GIVEN artifacts looked up for this model version and image: accepted
    assert service_args(artifacts=ModelArtifacts(image=image, image_checked=True, model_uri=uri)).artifacts
    # GIVEN artifacts of another version, or of another image tag: refused, naming the field
    for artifacts in (
        ModelArtifacts(image=image, image_checked=True, model_uri=uri.replace("/3/", "/4/")),
        ModelArtifacts(image=image.replace("2026.11.1", "2026.10.1"), image_checked=True, model_uri=uri),
    ):
        with pytest.raises(ArgsError, match=r"^InferenceServiceArgs\.artifacts: were looked up for .* not for this"):
            service_args(artifacts=artifacts)
