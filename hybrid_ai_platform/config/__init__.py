"""Typed platform configuration, validated once before any resource is registered.

The stack files (``stacks/Pulumi.<env>.yaml``) hold one key per section under the project's
namespace (``hybrid-ai-platform:environment``, ``hybrid-ai-platform:tags``, ...), plus the AWS
provider's ``aws:region``. :func:`load_platform_config` reads them through ``pulumi.Config`` and
validates them against :class:`PlatformConfig`. Every problem is collected into one
:class:`ConfigError` that names each bad field as a dotted path, with the value given and what
is allowed, for example::

    preprocessing.functions[0].timeout_seconds: 1200 is above the Lambda maximum of 900

Unknown keys are rejected (typos are caught), and every default is the secure one.

One module per section: :mod:`.base` (namespace, errors, shared field types), :mod:`.data` (tags,
encryption, storage), :mod:`.preprocessing`, :mod:`.network`, :mod:`.cluster`, :mod:`.inference`,
:mod:`.governance` (alarms, budget, usage) and :mod:`.platform` (:class:`PlatformConfig`, loading).
"""

from __future__ import annotations

from hybrid_ai_platform.components.instance_types import node_allocatable
from hybrid_ai_platform.components.preprocessing import DEFAULT_FRESHNESS_WINDOW_MINUTES
from hybrid_ai_platform.contracts import (
    EVENTBRIDGE_NUMERIC_MAX,
    LAMBDA_MB_PER_VCPU,
    LOG_RETENTION_DAYS,
    MEMORY_QUANTITY,
    NODE_RESERVED_MEMORY_MIB,
    PREPROCESSING_THROUGHPUT_BYTES_PER_VCPU_SECOND,
    ROLLOUT_MAX_SURGE,
    SIZE_THRESHOLD_SAFETY_FACTOR,
    SLO_LATENCY_TARGETS_MS,
    EksAddonName,
    cpu_milli,
    memory_mib,
)

from .base import (
    AWS_REGION_PATTERN,
    PROJECT_NAMESPACE,
    ConfigError,
    Email,
    Environment,
    FeatureSetName,
    KmsKeyArn,
    LogRetentionDays,
    Name,
    RoleArn,
)
from .cluster import (
    ClusterConfig,
    DeployerConfig,
    GpuNodeGroupConfig,
    InstanceType,
    SecurityGroupId,
    SystemNodeGroupConfig,
)
from .data import EncryptionConfig, ModelRegistryConfig, StorageConfig, TagsConfig
from .governance import AlarmsConfig, BudgetConfig, FunctionUsage, UsageConfig
from .inference import (
    BatchJobConfig,
    InferenceConfig,
    ModelServiceConfig,
    ResourcesConfig,
    SloConfig,
)
from .network import ExistingVpcConfig, NetworkConfig, PeeringConfig
from .platform import (
    PROVIDER_NAMESPACES,
    PlatformConfig,
    config_key_problems,
    format_validation_error,
    load_platform_config,
    parse_platform_config,
)
from .preprocessing import (
    FreshnessWindow,
    PreprocessingConfig,
    PreprocessingFunctionConfig,
    PreprocessingWorkerConfig,
)

__all__ = [
    "AWS_REGION_PATTERN",
    "DEFAULT_FRESHNESS_WINDOW_MINUTES",
    "EVENTBRIDGE_NUMERIC_MAX",
    "LAMBDA_MB_PER_VCPU",
    "LOG_RETENTION_DAYS",
    "MEMORY_QUANTITY",
    "NODE_RESERVED_MEMORY_MIB",
    "PREPROCESSING_THROUGHPUT_BYTES_PER_VCPU_SECOND",
    "PROJECT_NAMESPACE",
    "PROVIDER_NAMESPACES",
    "ROLLOUT_MAX_SURGE",
    "SIZE_THRESHOLD_SAFETY_FACTOR",
    "SLO_LATENCY_TARGETS_MS",
    "AlarmsConfig",
    "BatchJobConfig",
    "BudgetConfig",
    "ClusterConfig",
    "ConfigError",
    "DeployerConfig",
    "EksAddonName",
    "Email",
    "EncryptionConfig",
    "Environment",
    "ExistingVpcConfig",
    "FeatureSetName",
    "FreshnessWindow",
    "FunctionUsage",
    "GpuNodeGroupConfig",
    "InferenceConfig",
    "InstanceType",
    "KmsKeyArn",
    "LogRetentionDays",
    "ModelRegistryConfig",
    "ModelServiceConfig",
    "Name",
    "NetworkConfig",
    "PeeringConfig",
    "PlatformConfig",
    "PreprocessingConfig",
    "PreprocessingFunctionConfig",
    "PreprocessingWorkerConfig",
    "ResourcesConfig",
    "RoleArn",
    "SecurityGroupId",
    "SloConfig",
    "StorageConfig",
    "SystemNodeGroupConfig",
    "TagsConfig",
    "UsageConfig",
    "config_key_problems",
    "cpu_milli",
    "format_validation_error",
    "load_platform_config",
    "memory_mib",
    "node_allocatable",
    "parse_platform_config",
]
