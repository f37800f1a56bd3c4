"""The core-inference half of the stack: network, EKS, GPU nodes, cluster add-ons, model services, batch jobs.

Order: network → cluster (control plane, add-ons, system nodes, Kubernetes provider) → GPU
node groups → NVIDIA device plugin and cluster autoscaler → one InferenceService per model →
one BatchScoringJob per batch job.

Bootstrap: a model's Deployment, Service, KEDA ScaledObject, PDB and its batch jobs are registered only once its
image and model version are published (``InferenceService.artifacts``); a first ``pulumi up``
creates everything else and logs what to publish where, and the next one creates the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from hybrid_ai_platform.components.batch_job import (
    BatchScoringJob,
    BatchScoringJobArgs,
    batch_job_dashboard_row,
    batch_job_failure_modes,
)
from hybrid_ai_platform.components.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from hybrid_ai_platform.components.config import GpuNodeGroupConfig
from hybrid_ai_platform.components.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from hybrid_ai_platform.components.inference_cluster import InferenceCluster, InferenceClusterArgs
from hybrid_ai_platform.components.inference_service import (
    InferenceService,
    InferenceServiceArgs,
    model_dashboard_row,
    model_failure_modes,
)
from hybrid_ai_platform.components.keda import Keda, KedaArgs
from hybrid_ai_platform.components.network import ExistingVpc, Network, NetworkArgs, VpcPeering
from hybrid_ai_platform.components.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from hybrid_ai_platform.components.observability import DashboardRow, FailureMode, Metric, QueryRule
from hybrid_ai_platform.components.preprocessing_worker import (
    PreprocessingWorker,
    PreprocessingWorkerArgs,
    node_group_max_size,
    preprocessing_node_group,
)

from .context import StackContext


def build_inference_platform(ctx: StackContext) -> None:
    """Build the network, cluster, node groups and inference services described by ``ctx.config``."""
    config = ctx.config
    opts = pulumi.ResourceOptions(providers={"aws": ctx.provider})
    cluster_name = ctx.name
    existing = config.network.existing

    network = Network(
        "network",
        NetworkArgs(
            tags=ctx.tags,
            region=config.region,
            account_id=ctx.account_id,
            kms_key_arn=ctx.key.arn,
            cidr=config.network.cidr,
            az_count=config.az_count,
            nat_gateways=config.nat_gateways,
            flow_log_retention_days=config.network.flow_log_retention_days,
            cluster_name=cluster_name,
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
        ),
        opts=opts,
    )

    cluster_cfg = config.cluster
    cluster = InferenceCluster(
        "cluster",
        InferenceClusterArgs(
            cluster_name=cluster_name,
            kubernetes_version=cluster_cfg.kubernetes_version,
            region=config.region,
            account_id=ctx.account_id,
            subnet_ids=network.private_subnet_ids,
            kms_key_arn=ctx.key.arn,
            tags=ctx.tags,
            system_node_group=cluster_cfg.system_node_group,
            admin_role_arns=cluster_cfg.admin_role_arns,
            public_endpoint=cluster_cfg.public_endpoint,
            public_access_cidrs=cluster_cfg.public_access_cidrs,
            log_retention_days=cluster_cfg.log_retention_days,
            addon_versions={str(k): v for k, v in cluster_cfg.addon_versions.items()},
            deletion_protection=config.is_prod,
            deployer_role_arn=cluster_cfg.deployer.role_arn if cluster_cfg.deployer else None,
            deployer_source_security_group_ids=(
                cluster_cfg.deployer.source_security_group_ids if cluster_cfg.deployer else ()
            ),
            deployer_cidrs=cluster_cfg.deployer.cidrs if cluster_cfg.deployer else (),
            create_autoscaling_service_linked_role=cluster_cfg.create_autoscaling_service_linked_role,
        ),
        opts=opts,
    )

    gpu_groups = [
        GpuNodeGroup(
            group.name,
            GpuNodeGroupArgs(
                group=group,
                cluster=cluster.cluster,
                cluster_name=cluster_name,
                node_role_arn=cluster.node_role.arn,
                subnet_ids=network.private_subnet_ids,
                kms_key_arn=ctx.key.arn,
                tags=ctx.tags,
                depends_on=cluster.node_ready,
            ),
            opts=opts,
        )
        for group in cluster_cfg.gpu_node_groups
    ]
    gpu_node_groups: list[pulumi.Resource] = [g.node_group for g in gpu_groups]

    k8s_opts = pulumi.ResourceOptions(providers={"aws": ctx.provider, "kubernetes": cluster.provider})
    device_plugin = NvidiaDevicePlugin(
        "nvidia-device-plugin",
        NvidiaDevicePluginArgs(provider=cluster.provider, depends_on=[cluster.system_node_group]),
        opts=k8s_opts,
    )
    ClusterAutoscaler(
        "cluster-autoscaler",
        ClusterAutoscalerArgs(
            cluster=cluster.cluster,
            cluster_name=cluster_name,
            kubernetes_version=cluster_cfg.kubernetes_version,
            region=config.region,
            account_id=ctx.account_id,
            tags=ctx.tags,
            provider=cluster.provider,
            depends_on=[cluster.system_node_group, cluster.addons["coredns"]],
        ),
        opts=k8s_opts,
    )

    keda = Keda(
        "keda",
        KedaArgs(
            cluster=cluster.cluster,
            provider=cluster.provider,
            tags=ctx.tags,
            depends_on=[cluster.system_node_group, cluster.addons["coredns"], cluster.addons["eks-pod-identity-agent"]],
            sqs_queue_arns=[p.worker_queue.arn for p in ctx.pipelines if p.worker_queue is not None],
        ),
        opts=k8s_opts,
    )
    build_preprocessing_workers(ctx, cluster, keda, network.private_subnet_ids, network.cidr_block, k8s_opts)

    registry_prefix = config.storage.model_registry.prefix
    services: dict[str, InferenceService] = {}
    for model in config.inference.models:
        services[model.name] = InferenceService(
            model.name,
            InferenceServiceArgs(
                model=model,
                cluster=cluster.cluster,
                provider=cluster.provider,
                account_id=ctx.account_id,
                region=config.region,
                model_registry=ctx.model_registry,
                registry_prefix=registry_prefix,
                kms_key_arn=ctx.key.arn,
                repository_name=f"{ctx.name}/{model.name}",
                tags=ctx.tags,
                depends_on=[device_plugin.release, cluster.addons["coredns"], *gpu_node_groups],
                batch_jobs=[job.name for job in config.inference.batch_jobs if job.model == model.name],
                scaler_depends_on=[keda.release],
                node_cidr=network.cidr_block,
            ),
            opts=k8s_opts,
        )

    for index, model in enumerate(config.inference.models):
        ctx.failure_modes.extend(model_failure_modes(model, index, cluster.cluster.name))
        ctx.dashboard_rows.append(model_dashboard_row(model, cluster.cluster.name))
    for index, job in enumerate(config.inference.batch_jobs):
        ctx.failure_modes.extend(batch_job_failure_modes(job, index, cluster.cluster.name))
        ctx.dashboard_rows.append(batch_job_dashboard_row(job, cluster_name))
    ctx.dashboard_rows.extend(gpu_dashboard_row(cluster_name, group) for group in cluster_cfg.gpu_node_groups)
    ctx.failure_modes.extend(
        gpu_failure_mode(cluster_name, group, config.alarms.gpu_temperature_celsius)
        for group in cluster_cfg.gpu_node_groups
    )

    for warning in (config.gpu_peak_shortfall(), config.deployer_route_gaps()):
        if warning:
            pulumi.log.warn(warning)

    models = {m.name: m for m in config.inference.models}
    for job in config.inference.batch_jobs:
        service = services[job.model]
        if not service.artifacts.published:
            continue  # created with its model's workloads, once the image and model version exist
        BatchScoringJob(
            job.name,
            BatchScoringJobArgs(
                job=job,
                model=models[job.model],
                image=service.image,
                namespace=service.namespace_name,
                cluster=cluster.cluster,
                provider=cluster.provider,
                account_id=ctx.account_id,
                region=config.region,
                model_registry=ctx.model_registry,
                registry_prefix=registry_prefix,
                feature_store=ctx.feature_store,
                tags=ctx.tags,
                depends_on=[service.namespace],
            ),
            opts=k8s_opts,
        )

    ctx.outputs.update(
        {
            "vpc_id": network.vpc_id,
            "private_subnet_ids": network.private_subnet_ids,
            "cluster_name": cluster.cluster.name,
            "cluster_endpoint": cluster.cluster.endpoint,
            "cluster_arn": cluster.cluster.arn,
            "kubeconfig": cluster.kubeconfig,  # already a secret
            "gpu_node_groups": {g._name: g.node_group.node_group_name for g in gpu_groups},
            "ecr_repository_urls": {name: s.repository.repository_url for name, s in services.items()},
            "inference_namespaces": {name: s.namespace_name for name, s in services.items()},
            "inference_endpoints": {
                name: f"http://{name}.{s.namespace_name}.svc.cluster.local:8080" for name, s in services.items()
            },
        }
    )
    if network.vpc is not None:  # the peer side routes back to it (network.peerings)
        ctx.outputs["vpc_cidr"] = network.vpc.cidr_block
    if network.peering_connections:
        ctx.outputs["vpc_peering_connection_ids"] = {k: c.id for k, c in network.peering_connections.items()}


GPU_METRICS = ("node_gpu_utilization", "node_gpu_memory_utilization", "node_gpu_temperature")
"""NVIDIA GPU metrics Container Insights with enhanced observability publishes per GPU node (namespace
``ContainerInsights``, dimensions ``ClusterName``, ``GpuDevice``, ``InstanceId``, ``InstanceType``,
``NodeName`` among others), from the DCGM exporter the ``amazon-cloudwatch-observability`` add-on runs
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-enhanced-EKS.html)."""


def gpu_dashboard_row(cluster_name: str, group: GpuNodeGroupConfig) -> DashboardRow:
    """GPU utilisation, memory and temperature of one GPU node group's nodes (selected by instance type:
    Container Insights has no node-group dimension)."""
    types = " OR ".join(f'"{t}"' for t in group.instance_types)
    schema = "{ContainerInsights,ClusterName,GpuDevice,InstanceId,InstanceType,NodeName}"
    return DashboardRow(
        f"GPU node group {group.name} ({', '.join(group.instance_types)}, {group.gpu_type})",
        search_widgets=tuple(
            (
                metric.removeprefix("node_gpu_").replace("_", " "),
                f'SEARCH(\'{schema} MetricName="{metric}" ClusterName="{cluster_name}" '
                f"InstanceType=({types})', 'Average', 300)",
            )
            for metric in GPU_METRICS
        ),
    )


GPU_NODE_DIMENSIONS = ("ClusterName", "GpuDevice", "InstanceId", "InstanceType", "NodeName")
"""The per-GPU dimension set of Container Insights' node GPU metrics (the CloudWatch agent's NVIDIA
test expectations in aws/amazon-cloudwatch-agent-test:
``ClusterName-GpuDevice-InstanceId-InstanceType-NodeName``)."""


def gpu_failure_mode(cluster_name: str, group: GpuNodeGroupConfig, threshold: int | None) -> FailureMode:
    """A GPU of the group runs hot: the hottest GPU's temperature over 15 minutes, by a Metrics Insights query
    on the group's instance types (node ids are only known at run time)."""
    types = " OR ".join(f"InstanceType = '{t}'" for t in group.instance_types)
    # Values are validated config (cluster name, instance types matching [a-z0-9.-]), not user input.
    query = (
        f'SELECT MAX(node_gpu_temperature) FROM SCHEMA("ContainerInsights", {", ".join(GPU_NODE_DIMENSIONS)}) '  # noqa: S608
        f"WHERE ClusterName = '{cluster_name}' AND ({types})"
    )
    metric = Metric("ContainerInsights", "node_gpu_temperature", dict.fromkeys(GPU_NODE_DIMENSIONS, "*"), "None")
    return FailureMode(
        f"gpu-node-group/{group.name}",
        "gpu-hot",
        f"a GPU of {group.name} ({', '.join(group.instance_types)}) reached {threshold} °C for 15 minutes",
        "check the node's GPU utilisation and power on the dashboard; cordon and drain the node if it stays hot "
        "(the autoscaler replaces it)",
        "alarms.gpu_temperature_celsius",
        QueryRule(query, "GreaterThanOrEqualToThreshold", threshold, metric, 300, 3) if threshold is not None else None,
    )


def build_preprocessing_workers(
    ctx: StackContext,
    cluster: InferenceCluster,
    keda: Keda,
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
    node_cidr: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> None:
    """The cluster path of every function with ``placement: cluster | auto`` (docs/placement.md): its worker,
    and the spot CPU node group once if any worker uses ``capacity: spot``."""
    placed = [p for p in ctx.pipelines if p.worker_queue is not None]
    if not placed:
        return
    node_group: list[pulumi.Resource] = []
    spot = [p for p in placed if p.config.worker is not None and p.config.worker.capacity == "spot"]
    if spot:
        node_group.append(
            preprocessing_node_group(
                "preprocessing",
                cluster_name=cluster.cluster.name,
                autoscaler_cluster_name=ctx.name,
                node_role_arn=cluster.node_role.arn,
                subnet_ids=subnet_ids,
                kms_key_arn=ctx.key.arn,
                max_size=node_group_max_size([p.config for p in spot]),
                tags=ctx.tags,
                parent=cluster,
                depends_on=cluster.node_ready,
            )
        )
    for pipeline in placed:
        fn = pipeline.config
        assert pipeline.worker_queue is not None
        PreprocessingWorker(
            f"{fn.name}-worker",
            PreprocessingWorkerArgs(
                function=fn,
                queue=pipeline.worker_queue,
                statements=pipeline.worker_statements,
                environment=pipeline.environment,
                cluster=cluster.cluster,
                provider=cluster.provider,
                region=ctx.config.region,
                repository_name=f"{ctx.name}/{fn.name}-worker",
                kms_key_arn=ctx.key.arn,
                tags=ctx.tags,
                node_cidr=node_cidr,
                depends_on=[
                    cluster.addons["coredns"],
                    *(node_group if fn.worker and fn.worker.capacity == "spot" else []),
                ],
                scaler_depends_on=[keda.release],
            ),
            opts=opts,
        )
