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
from dataclasses import replace

import pulumi
from hybrid_ai_platform.components.batch_job import (
    BatchScoringJob,
    batch_job_dashboard_row,
    batch_job_failure_modes,
)
from hybrid_ai_platform.components.cluster_autoscaler import ClusterAutoscaler
from hybrid_ai_platform.components.gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
from hybrid_ai_platform.components.inference_cluster import InferenceCluster
from hybrid_ai_platform.components.inference_service import (
    InferenceService,
    model_dashboard_row,
    model_failure_modes,
)
from hybrid_ai_platform.components.keda import Keda, KedaArgs
from hybrid_ai_platform.components.network import Network
from hybrid_ai_platform.components.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from hybrid_ai_platform.components.observability import DashboardRow, FailureMode, Metric, QueryRule
from hybrid_ai_platform.components.preprocessing_worker import (
    PreprocessingWorker,
    node_group_max_size,
    preprocessing_node_group,
)

from hybrid_ai_platform.contracts import SERVING_PORT

from . import args
from .context import StackContext


def build_inference_platform(ctx: StackContext) -> None:
    """Build the network, cluster, node groups and inference services described by ``ctx.config``."""
    config = ctx.config
    opts = pulumi.ResourceOptions(providers={"aws": ctx.provider})
    cluster_name = ctx.name
    network = Network("network", args.network_args(config, ctx), opts=opts)
    cluster = InferenceCluster("cluster", args.inference_cluster_args(config, ctx, network), opts=opts)
    gpu_group_args = [
        args.gpu_node_group_args(group, ctx, cluster, network) for group in config.cluster.gpu_node_groups
    ]
    gpu_groups = [GpuNodeGroup(group.name, group, opts=opts) for group in gpu_group_args]
    gpu_node_groups: list[pulumi.Resource] = [g.node_group for g in gpu_groups]

    k8s_opts = pulumi.ResourceOptions(providers={"aws": ctx.provider, "kubernetes": cluster.provider})
    device_plugin = NvidiaDevicePlugin(
        "nvidia-device-plugin",
        NvidiaDevicePluginArgs(provider=cluster.provider, depends_on=[cluster.system_node_group]),
        opts=k8s_opts,
    )
    ClusterAutoscaler("cluster-autoscaler", args.cluster_autoscaler_args(config, ctx, cluster), opts=k8s_opts)

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

    services: dict[str, InferenceService] = {}
    for model in config.inference.models:
        service_args = args.inference_service_args(
            model,
            config,
            ctx,
            cluster,
            network,
            depends_on=[device_plugin.release, cluster.addons["coredns"], *gpu_node_groups],
            scaler_depends_on=[keda.release],
        )
        services[model.name] = InferenceService(model.name, service_args, opts=k8s_opts)

    for index, model in enumerate(config.inference.models):
        service_args = services[model.name].args
        ctx.failure_modes.extend(
            model_failure_modes(service_args, cluster.cluster.name, f"inference.models[{index}].slo")
        )
        ctx.dashboard_rows.append(model_dashboard_row(service_args, cluster.cluster.name))
    job_args = [args.batch_scoring_job_args(job, ctx, services[job.model]) for job in config.inference.batch_jobs]
    for index, job in enumerate(job_args):
        ctx.failure_modes.extend(
            batch_job_failure_modes(job, cluster.cluster.name, f"inference.batch_jobs[{index}].drift_psi_threshold")
        )
        ctx.dashboard_rows.append(batch_job_dashboard_row(job, cluster_name))
    ctx.dashboard_rows.extend(gpu_dashboard_row(cluster_name, group) for group in gpu_group_args)
    ctx.failure_modes.extend(
        gpu_failure_mode(cluster_name, group, config.alarms.gpu_temperature_celsius) for group in gpu_group_args
    )

    for warning in (config.gpu_peak_shortfall(), config.deployer_route_gaps()):
        if warning:
            pulumi.log.warn(warning)

    for job in job_args:
        if not job.service.artifacts.published:
            continue  # created with its model's workloads, once the image and model version exist
        BatchScoringJob(job.name, job, opts=k8s_opts)

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
                name: f"http://{name}.{s.namespace_name}.svc.cluster.local:{SERVING_PORT}"
                for name, s in services.items()
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


def gpu_dashboard_row(cluster_name: str, group: GpuNodeGroupArgs) -> DashboardRow:
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


def gpu_failure_mode(cluster_name: str, group: GpuNodeGroupArgs, threshold: int | None) -> FailureMode:
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
    functions = {fn.name: fn for fn in ctx.config.preprocessing.functions}
    workers = [
        args.preprocessing_worker_args(
            functions[p.args.name],
            p,
            ctx,
            cluster,
            node_cidr,
            depends_on=[cluster.addons["coredns"]],
            scaler_depends_on=[keda.release],
        )
        for p in ctx.pipelines
        if p.worker_queue is not None
    ]
    if not workers:
        return
    spot = [w for w in workers if w.capacity == "spot"]
    if spot:
        node_group = preprocessing_node_group(
            "preprocessing",
            cluster_name=cluster.cluster.name,
            autoscaler_cluster_name=ctx.name,
            node_role_arn=cluster.node_role.arn,
            subnet_ids=subnet_ids,
            kms_key_arn=ctx.key.arn,
            max_size=node_group_max_size(spot),
            tags=ctx.tags,
            parent=cluster,
            depends_on=cluster.node_ready,
        )
        # Spot workers wait for their node group too.
        workers = [replace(w, depends_on=[*w.depends_on, node_group]) if w.capacity == "spot" else w for w in workers]
    for worker in workers:
        PreprocessingWorker(f"{worker.pipeline.args.name}-worker", worker, opts=opts)
