"""The one mapping from the stack config (:class:`PlatformConfig`) to each component's flat Args.

The components know nothing of the stack files: each takes its own typed, validated Args. This module
is the only place that reads a config section and fills in Args, so a config field and the Args field it
feeds sit side by side; :mod:`stacks.program` and :mod:`stacks.inference` call it and compose the
components. Resources the program created (cluster, node role, buckets, services) are passed as objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws
from hybrid_ai_platform.components.alarms import Alarms
from hybrid_ai_platform.components.artifact_bucket import ArtifactBucket, ArtifactBucketArgs, ObjectLockArgs
from hybrid_ai_platform.components.aws_rules import bounded_name
from hybrid_ai_platform.components.batch_job import BatchScoringJobArgs
from hybrid_ai_platform.components.budget import BudgetArgs
from hybrid_ai_platform.components.cluster_autoscaler import ClusterAutoscalerArgs
from hybrid_ai_platform.components.encryption_key import EncryptionKey, EncryptionKeyArgs
from hybrid_ai_platform.components.gpu_node_group import GpuNodeGroupArgs
from hybrid_ai_platform.components.inference_cluster import InferenceCluster, InferenceClusterArgs
from hybrid_ai_platform.components.inference_service import (
    InferenceService,
    InferenceServiceArgs,
    ModelArtifacts,
    ModelRelease,
    check_model_artifacts,
)
from hybrid_ai_platform.components.network import ExistingVpc, Network, NetworkArgs, VpcPeering
from hybrid_ai_platform.components.preprocessing import (
    LambdaPackage,
    PipelineAlarmsArgs,
    PreprocessingPipeline,
    PreprocessingPipelineArgs,
    environment_size_problem,
)
from hybrid_ai_platform.components.preprocessing_worker import PreprocessingWorkerArgs

from hybrid_ai_platform.config import (
    BatchJobConfig,
    GpuNodeGroupConfig,
    ModelServiceConfig,
    PlatformConfig,
    PreprocessingFunctionConfig,
)
from hybrid_ai_platform.contracts import BucketPurpose

from .context import StackContext, stack_prefix


def encryption_key_args(
    config: PlatformConfig, account_id: pulumi.Input[str], tags: dict[str, str]
) -> EncryptionKeyArgs:
    """``encryption``: the stack key (or the one brought in ``key_arn``), aliased ``<project>-<stack>``."""
    return EncryptionKeyArgs(
        account_id=account_id,
        region=config.region,
        tags=tags,
        key_arn=config.encryption.key_arn,
        deletion_window_days=config.encryption.deletion_window_days,
        rotation_period_days=config.encryption.rotation_period_days,
        alias=f"{pulumi.get_project()}-{pulumi.get_stack()}",
    )


def artifact_bucket_args(
    config: PlatformConfig,
    tags: dict[str, str],
    account_id: pulumi.Input[str],
    purpose: BucketPurpose,
    key: EncryptionKey | None,
    log_bucket: ArtifactBucket | None,
) -> ArtifactBucketArgs:
    """One of the stack's four buckets from ``storage``: ``access-logs`` (SSE-S3, the access-log target,
    current versions expire), ``landing`` (EventBridge notifications), ``features``, ``models`` (Object
    Lock when configured). The data buckets log to ``log_bucket`` and use the stack ``key``."""
    storage = config.storage
    return ArtifactBucketArgs(
        tags=tags,
        region=config.region,
        kms_key=key,
        purpose=purpose,
        log_bucket=log_bucket,
        eventbridge_notifications=purpose == BucketPurpose.LANDING,
        object_lock=(
            ObjectLockArgs(mode=config.object_lock_mode, days=storage.model_registry.retention_days)
            if purpose == BucketPurpose.MODELS
            else None
        ),
        noncurrent_version_expiration_days=storage.noncurrent_version_expiration_days,
        abort_incomplete_multipart_upload_days=storage.abort_incomplete_multipart_upload_days,
        force_destroy=storage.force_destroy,
        access_log_target=purpose == "access-logs",
        account_id=account_id if purpose == "access-logs" else None,
        current_version_expiration_days=storage.access_log_retention_days if purpose == "access-logs" else None,
    )


def budget_args(config: PlatformConfig, tags: dict[str, str], alarms: Alarms) -> BudgetArgs:
    """``budget``, filtered on the stack's ``environment`` and ``cost-center`` tags, alerting to the
    alarms topic (after its policy lets AWS Budgets publish)."""
    return BudgetArgs(
        monthly_limit_usd=config.budget.monthly_limit_usd,
        filter_tags={"environment": tags["environment"], "cost-center": tags["cost-center"]},
        tags=tags,
        topic=alarms.topic,
        emails=config.budget.emails,
        actual_thresholds_percent=config.budget.actual_thresholds_percent,
        forecast_thresholds_percent=config.budget.forecast_thresholds_percent,
        depends_on=[alarms.topic_policy],
    )


def network_args(config: PlatformConfig, ctx: StackContext) -> NetworkArgs:
    """The VPC (or the one brought in ``network.existing``) and its peerings."""
    existing = config.network.existing
    return NetworkArgs(
        tags=ctx.tags,
        region=config.region,
        account_id=ctx.account_id,
        kms_key=ctx.key,
        cidr=config.network.cidr,
        az_count=config.az_count,
        nat_gateways=config.nat_gateways,
        flow_log_retention_days=config.network.flow_log_retention_days,
        cluster_name=ctx.name,
        existing=(
            ExistingVpc(
                vpc_id=existing.vpc_id,
                private_subnet_ids=existing.private_subnet_ids,
                private_route_table_ids=existing.private_route_table_ids,
            )
            if existing
            else None
        ),
        peerings=[
            VpcPeering(
                name=p.name,
                peer_vpc_id=p.peer_vpc_id,
                peer_cidr=p.peer_cidr,
                peer_owner_id=p.peer_owner_id,
                peer_region=p.peer_region,
            )
            for p in config.network.peerings
        ],
    )


def inference_cluster_args(config: PlatformConfig, ctx: StackContext, network: Network) -> InferenceClusterArgs:
    """``cluster`` (control plane, access, add-ons, system nodes); deletion protection in prod."""
    cluster = config.cluster
    system = cluster.system_node_group
    deployer = cluster.deployer
    return InferenceClusterArgs(
        cluster_name=ctx.name,
        kubernetes_version=cluster.kubernetes_version,
        region=config.region,
        account_id=ctx.account_id,
        subnet_ids=network.private_subnet_ids,
        kms_key=ctx.key,
        tags=ctx.tags,
        system_instance_types=tuple(system.instance_types),
        system_min_size=system.min_size,
        system_max_size=system.max_size,
        system_desired_size=system.desired_size,
        system_disk_size_gb=system.disk_size_gb,
        admin_role_arns=cluster.admin_role_arns,
        public_endpoint=cluster.public_endpoint,
        public_access_cidrs=cluster.public_access_cidrs,
        log_retention_days=cluster.log_retention_days,
        addon_versions=dict(cluster.addon_versions),
        deletion_protection=config.is_prod,
        deployer_role_arn=deployer.role_arn if deployer else None,
        deployer_source_security_group_ids=deployer.source_security_group_ids if deployer else (),
        deployer_cidrs=deployer.cidrs if deployer else (),
        create_autoscaling_service_linked_role=cluster.create_autoscaling_service_linked_role,
    )


def gpu_node_group_args(
    group: GpuNodeGroupConfig, ctx: StackContext, cluster: InferenceCluster, network: Network
) -> GpuNodeGroupArgs:
    """One entry of ``cluster.gpu_node_groups``; it joins after the node role's policies and the CNI."""
    return GpuNodeGroupArgs(
        name=group.name,
        instance_types=tuple(group.instance_types),
        cluster=cluster.cluster,
        cluster_name=ctx.name,
        node_role=cluster.node_role,
        subnet_ids=network.private_subnet_ids,
        kms_key=ctx.key,
        tags=ctx.tags,
        ami_type=group.ami_type,
        capacity_type=group.capacity_type,
        min_size=group.min_size,
        max_size=group.max_size,
        desired_size=group.desired_size,
        disk_size_gb=group.disk_size_gb,
        max_unavailable=group.max_unavailable,
        depends_on=cluster.node_ready,
    )


def cluster_autoscaler_args(
    config: PlatformConfig, ctx: StackContext, cluster: InferenceCluster
) -> ClusterAutoscalerArgs:
    """The autoscaler of ``cluster.kubernetes_version``, on the system nodes once CoreDNS runs."""
    return ClusterAutoscalerArgs(
        cluster=cluster.cluster,
        cluster_name=ctx.name,
        kubernetes_version=config.cluster.kubernetes_version,
        region=config.region,
        account_id=ctx.account_id,
        tags=ctx.tags,
        provider=cluster.provider,
        depends_on=[cluster.system_node_group, cluster.addons["coredns"]],
    )


def model_repository_name(model: ModelServiceConfig) -> str:
    """The model's ECR repository: ``<project>-<stack>/<model>``."""
    return f"{stack_prefix()}/{model.name}"


def model_artifacts(config: PlatformConfig, provider: aws.Provider) -> dict[str, ModelArtifacts]:
    """Every model's artifacts by model name (:func:`check_model_artifacts` through ``provider``), looked up
    while the program has declared nothing else: a direct-form invoke pads the event loop's ready queue back to
    the length it had, so the same lookups after the data plane's resources cost time in proportion to them."""
    opts = pulumi.InvokeOptions(provider=provider)
    return {
        model.name: check_model_artifacts(
            ModelRelease(model.name, model.version, model.image_tag, model.image),
            model_repository_name(model),
            config.storage.model_registry.prefix,
            config.region,
            opts,
        )
        for model in config.inference.models
    }


def inference_service_args(
    model: ModelServiceConfig,
    config: PlatformConfig,
    ctx: StackContext,
    cluster: InferenceCluster,
    network: Network,
    depends_on: Sequence[pulumi.Resource],
    scaler_depends_on: Sequence[pulumi.Resource],
) -> InferenceServiceArgs:
    """One entry of ``inference.models``, with its resources and SLOs flattened; the ECR repository is
    ``<project>-<stack>/<model>``."""
    return InferenceServiceArgs(
        model_name=model.name,
        version=model.version,
        image_tag=model.image_tag,
        cluster=cluster.cluster,
        provider=cluster.provider,
        account_id=ctx.account_id,
        region=config.region,
        model_registry=ctx.model_registry,
        registry_prefix=config.storage.model_registry.prefix,
        kms_key=ctx.key,
        repository_name=model_repository_name(model),
        tags=ctx.tags,
        image=model.image,
        min_replicas=model.min_replicas,
        max_replicas=model.max_replicas,
        target_in_flight_per_pod=model.target_in_flight_per_pod,
        cpu=model.resources.cpu,
        memory=model.resources.memory,
        gpus=model.resources.gpus,
        allowed_namespaces=tuple(model.allowed_namespaces),
        max_batch_size=model.max_batch_size,
        max_queue_delay_ms=model.max_queue_delay_ms,
        model_load_timeout_seconds=model.model_load_timeout_seconds,
        images_to_keep=model.images_to_keep,
        availability_target=model.slo.availability_target,
        latency_target_ms=model.slo.latency_target_ms,
        latency_percentile=model.slo.latency_percentile,
        slo_window_days=model.slo.window_days,
        depends_on=depends_on,
        batch_jobs=[job.name for job in config.inference.batch_jobs if job.model == model.name],
        scaler_depends_on=scaler_depends_on,
        artifacts=ctx.model_artifacts.get(model.name),
        node_cidr=network.cidr_block,
    )


def batch_scoring_job_args(job: BatchJobConfig, ctx: StackContext, service: InferenceService) -> BatchScoringJobArgs:
    """One entry of ``inference.batch_jobs``, run with its model's ``service``."""
    return BatchScoringJobArgs(
        name=job.name,
        service=service,
        feature_set=job.feature_set,
        feature_store=ctx.feature_store,
        tags=ctx.tags,
        schedule=job.schedule,
        deadline_seconds=job.deadline_seconds,
        backoff_limit=job.backoff_limit,
        lookback_days=job.lookback_days,
        completions=job.completions,
        parallelism=job.parallelism,
        drift_psi_threshold=job.drift_psi_threshold,
    )


def preprocessing_problems(config: PlatformConfig, packages: Mapping[str, LambdaPackage], build_dir: str) -> list[str]:
    """What the Lambda packages and Lambda itself would refuse in ``preprocessing.functions``, one
    ``preprocessing.functions[<i>].<field>: ...`` line each (the ConfigError format), before any resource:

    - a ``feature_set`` the function's package does not contain (naming the available ones and both fixes;
      functions whose architecture has no package are skipped: the package loader reports those);
    - an ``environment`` that, with the variables the library adds, exceeds Lambda's 4 KB.
    """
    problems = []
    for index, fn in enumerate(config.preprocessing.functions):
        at = f"preprocessing.functions[{index}]"
        package = packages.get(fn.architecture)
        if package is not None and fn.feature_set not in package.feature_sets:
            available = ", ".join(package.feature_sets) or "none"
            problems.append(
                f"{at}.feature_set: '{fn.feature_set}' is not a feature set of the Lambda package "
                f"{build_dir}/{fn.architecture} (available: {available}); use one of those, or add "
                f"lambda_src/preprocessing/feature_sets/{fn.feature_set}.py and run `make package`"
            )
    for index, fn in enumerate(config.preprocessing.functions):
        problem = environment_size_problem(
            name=fn.name,
            feature_set=fn.feature_set,
            landing_prefix=fn.landing_prefix,
            environment=fn.environment,
            scheduled=fn.schedule is not None,
            region=config.region,
        )
        if problem:
            problems.append(f"preprocessing.functions[{index}].environment: {problem}")
    return problems


def pipeline_alarms_args(config: PlatformConfig) -> PipelineAlarmsArgs:
    """The ``alarms`` thresholds every preprocessing pipeline alarms on."""
    alarms = config.alarms
    return PipelineAlarmsArgs(
        records_failed_threshold=alarms.records_failed_threshold,
        lambda_errors_threshold=alarms.lambda_errors_threshold,
        lambda_throttles_threshold=alarms.lambda_throttles_threshold,
        duration_timeout_ratio=alarms.duration_timeout_ratio,
        oldest_message_age_seconds=alarms.oldest_message_age_seconds,
        dlq_oldest_message_age_seconds=alarms.dlq_oldest_message_age_seconds,
    )


def preprocessing_pipeline_args(
    fn: PreprocessingFunctionConfig, ctx: StackContext, package: LambdaPackage
) -> PreprocessingPipelineArgs:
    """One entry of ``preprocessing.functions``, between the stack's landing bucket and feature store; the
    function is ``<project>-<stack>-<name>`` (bounded to Lambda's 64 characters)."""
    return PreprocessingPipelineArgs(
        name=fn.name,
        feature_set=fn.feature_set,
        landing_prefix=fn.landing_prefix,
        landing=ctx.landing,
        feature_store=ctx.feature_store,
        kms_key=ctx.key,
        package=package,
        account_id=ctx.account_id,
        region=ctx.config.region,
        tags=ctx.tags,
        function_name=bounded_name(f"{ctx.name}-{fn.name}", 64),
        architecture=fn.architecture,
        runtime=fn.runtime,
        memory_mb=fn.memory_mb,
        timeout_seconds=fn.timeout_seconds,
        reserved_concurrency=fn.reserved_concurrency,
        maximum_concurrency=fn.maximum_concurrency,
        batch_size=fn.batch_size,
        batching_window_seconds=fn.batching_window_seconds,
        max_receive_count=fn.max_receive_count,
        message_retention_seconds=fn.message_retention_seconds,
        log_retention_days=fn.log_retention_days,
        schedule=fn.schedule,
        environment=dict(fn.environment),
        placement=fn.placement,
        size_threshold_bytes=fn.size_threshold_bytes,
        throughput_bytes_per_vcpu_second=fn.throughput_bytes_per_vcpu_second,
        alarms=pipeline_alarms_args(ctx.config),
    )


def preprocessing_worker_args(
    fn: PreprocessingFunctionConfig,
    pipeline: PreprocessingPipeline,
    ctx: StackContext,
    cluster: InferenceCluster,
    node_cidr: pulumi.Input[str],
    depends_on: Sequence[pulumi.Resource],
    scaler_depends_on: Sequence[pulumi.Resource],
) -> PreprocessingWorkerArgs:
    """The cluster worker of a function with ``placement: cluster | auto`` (its ``worker`` block); the ECR
    repository is ``<project>-<stack>/<name>-worker``."""
    worker = fn.worker
    assert worker is not None  # the config requires it with these placements
    return PreprocessingWorkerArgs(
        pipeline=pipeline,
        image_tag=worker.image_tag,
        cluster=cluster.cluster,
        provider=cluster.provider,
        region=ctx.config.region,
        repository_name=f"{ctx.name}/{fn.name}-worker",
        kms_key=ctx.key,
        tags=ctx.tags,
        image=worker.image,
        capacity=worker.capacity,
        max_replicas=fn.max_replicas,
        node_cidr=node_cidr,
        depends_on=depends_on,
        scaler_depends_on=scaler_depends_on,
    )
