"""What the data-plane part of the program hands to the rest of it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
from hybrid_ai_platform.components.alarms import Alarms
from hybrid_ai_platform.components.artifact_bucket import ArtifactBucket
from hybrid_ai_platform.components.encryption_key import EncryptionKey
from hybrid_ai_platform.components.inference_service import ModelArtifacts
from hybrid_ai_platform.components.observability import DashboardRow, FailureMode
from hybrid_ai_platform.components.preprocessing import PreprocessingPipeline

from hybrid_ai_platform.config import PlatformConfig


@dataclass
class StackContext:
    """Shared pieces of one stack: config, provider, account, key, buckets, tags, alerts."""

    config: PlatformConfig
    provider: aws.Provider
    account_id: pulumi.Output[str]
    tags: dict[str, str]
    key: EncryptionKey
    log_bucket: ArtifactBucket
    landing: ArtifactBucket
    feature_store: ArtifactBucket
    model_registry: ArtifactBucket
    alarms: Alarms | None = None
    outputs: dict[str, pulumi.Input[object]] = field(default_factory=dict)
    failure_modes: list[FailureMode] = field(default_factory=list)
    """Every component's declared failure modes, in build order (the observability plane alarms on each)."""
    dashboard_rows: list[DashboardRow] = field(default_factory=list)
    """Every component's dashboard row, in build order."""
    pipelines: list[PreprocessingPipeline] = field(default_factory=list)
    """The preprocessing pipelines, in config order (the cluster half adds their workers)."""

    model_artifacts: dict[str, ModelArtifacts] = field(default_factory=dict)
    """Each model's published artifacts by model name, looked up before the other resources are declared
    (:func:`stacks.args.model_artifacts`)."""

    @property
    def name(self) -> str:
        """``<project>-<stack>``: prefix of physical names that must be unique per account."""
        return stack_prefix()


def stack_prefix() -> str:
    """``<project>-<stack>``: prefix of physical names that must be unique per account."""
    return f"{pulumi.get_project()}-{pulumi.get_stack()}"
