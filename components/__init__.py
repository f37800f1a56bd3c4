"""The public API of Hybrid AI Platform Blueprints: Pulumi components and their Args.

Everything listed in ``__all__`` is public and follows the library's version (``CHANGELOG.md``): each
component class (a ``pulumi.ComponentResource``), its frozen ``...Args`` dataclass, and the small value
types those Args take (``ObjectLockArgs``, ``ExistingVpc``, ``VpcPeering``, ``LambdaPackage``, ...) and the
errors the components raise. Build a component the Pulumi way, ``Component(name, ComponentArgs(...), opts)``,
from your own program::

    from hybrid_ai_platform.components import GpuNodeGroup, GpuNodeGroupArgs

Submodules (``hybrid_ai_platform.components.gpu_node_group``, ``.iam``, ``.observability``, ...) and any
name not in ``__all__`` are the library's internals: they may change in any release. ``docs/api.md``
documents every public name (generated from these docstrings by ``python -m hybrid_ai_platform.cli.apidoc``).

Importing this package is cheap: a public name is imported from its submodule (and with it pulumi_aws or
pulumi_kubernetes) the first time it is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .alarms import Alarms, AlarmsArgs
    from .artifact_bucket import ArtifactBucket, ArtifactBucketArgs, ObjectLockArgs
    from .batch_job import BatchScoringJob, BatchScoringJobArgs
    from .budget import Budget, BudgetArgs
    from .cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
    from .encryption_key import EncryptionKey, EncryptionKeyArgs
    from .gpu_node_group import GpuNodeGroup, GpuNodeGroupArgs
    from .inference_cluster import InferenceCluster, InferenceClusterArgs
    from .inference_service import (
        ArtifactCheckError,
        InferenceService,
        InferenceServiceArgs,
        ModelArtifacts,
        ModelRelease,
        check_model_artifacts,
    )
    from .keda import Keda, KedaArgs
    from .network import ExistingVpc, Network, NetworkArgs, VpcPeering
    from .nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
    from .pod_identity import PodIdentityRole, PodIdentityRoleArgs
    from .preprocessing import (
        LambdaPackage,
        PackageError,
        PipelineAlarmsArgs,
        PreprocessingPipeline,
        PreprocessingPipelineArgs,
    )
    from .preprocessing_worker import PreprocessingWorker, PreprocessingWorkerArgs

_EXPORTS: dict[str, str] = {
    # component, its Args, then the value types and errors of that module
    "Alarms": "alarms",
    "AlarmsArgs": "alarms",
    "ArtifactBucket": "artifact_bucket",
    "ArtifactBucketArgs": "artifact_bucket",
    "ObjectLockArgs": "artifact_bucket",
    "BatchScoringJob": "batch_job",
    "BatchScoringJobArgs": "batch_job",
    "Budget": "budget",
    "BudgetArgs": "budget",
    "ClusterAutoscaler": "cluster_autoscaler",
    "ClusterAutoscalerArgs": "cluster_autoscaler",
    "EncryptionKey": "encryption_key",
    "EncryptionKeyArgs": "encryption_key",
    "GpuNodeGroup": "gpu_node_group",
    "GpuNodeGroupArgs": "gpu_node_group",
    "InferenceCluster": "inference_cluster",
    "InferenceClusterArgs": "inference_cluster",
    "InferenceService": "inference_service",
    "InferenceServiceArgs": "inference_service",
    "ArtifactCheckError": "inference_service",
    "ModelArtifacts": "inference_service",
    "ModelRelease": "inference_service",
    "check_model_artifacts": "inference_service",
    "Keda": "keda",
    "KedaArgs": "keda",
    "Network": "network",
    "NetworkArgs": "network",
    "ExistingVpc": "network",
    "VpcPeering": "network",
    "NvidiaDevicePlugin": "nvidia_device_plugin",
    "NvidiaDevicePluginArgs": "nvidia_device_plugin",
    "PodIdentityRole": "pod_identity",
    "PodIdentityRoleArgs": "pod_identity",
    "PreprocessingPipeline": "preprocessing",
    "PreprocessingPipelineArgs": "preprocessing",
    "LambdaPackage": "preprocessing",
    "PipelineAlarmsArgs": "preprocessing",
    "PackageError": "preprocessing",
    "PreprocessingWorker": "preprocessing_worker",
    "PreprocessingWorkerArgs": "preprocessing_worker",
}

__all__ = [
    "Alarms",
    "AlarmsArgs",
    "ArtifactBucket",
    "ArtifactBucketArgs",
    "ArtifactCheckError",
    "BatchScoringJob",
    "BatchScoringJobArgs",
    "Budget",
    "BudgetArgs",
    "ClusterAutoscaler",
    "ClusterAutoscalerArgs",
    "EncryptionKey",
    "EncryptionKeyArgs",
    "ExistingVpc",
    "GpuNodeGroup",
    "GpuNodeGroupArgs",
    "InferenceCluster",
    "InferenceClusterArgs",
    "InferenceService",
    "InferenceServiceArgs",
    "Keda",
    "KedaArgs",
    "LambdaPackage",
    "ModelArtifacts",
    "ModelRelease",
    "Network",
    "NetworkArgs",
    "NvidiaDevicePlugin",
    "NvidiaDevicePluginArgs",
    "ObjectLockArgs",
    "PackageError",
    "PipelineAlarmsArgs",
    "PodIdentityRole",
    "PodIdentityRoleArgs",
    "PreprocessingPipeline",
    "PreprocessingPipelineArgs",
    "PreprocessingWorker",
    "PreprocessingWorkerArgs",
    "VpcPeering",
    "check_model_artifacts",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its submodule on first use (PEP 562) and cache it on the package."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
