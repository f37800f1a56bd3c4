"""Data sections: ``tags``, ``encryption`` and ``storage`` (with the model registry)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hybrid_ai_platform.components import aws_rules
from hybrid_ai_platform.components.artifact_bucket import ArtifactBucketArgs
from hybrid_ai_platform.components.encryption_key import EncryptionKeyArgs
from hybrid_ai_platform.contracts import REQUIRED_TAG_KEYS

from .base import KmsKeyArn, _Model, args_default


class TagsConfig(_Model):
    """The stack's required cost-allocation and governance tags."""

    owner: str = Field(min_length=1, max_length=256)
    """Team or person accountable for the stack (tag ``owner``). Required."""
    cost_center: str = Field(min_length=1, max_length=256)
    """Cost centre billed for the stack (tag ``cost-center``). Required."""
    data_classification: Literal["public", "internal", "confidential", "restricted"] = "confidential"
    """Highest classification of data the stack holds (tag ``data-classification``).
    Defaults to ``confidential``, the safe assumption for training and feature data."""
    extra: dict[str, str] = Field(default_factory=dict)
    """Additional tags added to every taggable resource. Defaults to none. Keys may not start
    with ``aws:`` nor replace a required tag."""

    @field_validator("owner", "cost_center")
    @classmethod
    def _tag_value(cls, value: str) -> str:
        problem = aws_rules.tag_problem("tag", value)
        if problem:
            raise ValueError(problem.replace("tag 'tag'", "the tag value"))
        return value

    @field_validator("extra")
    @classmethod
    def _extra_tags(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = set(REQUIRED_TAG_KEYS)
        problems = []
        for key, tag_value in value.items():
            problem = aws_rules.tag_problem(key, tag_value)
            if problem:
                problems.append(problem)
            elif key in reserved:
                problems.append(f"tag key '{key}' is set by the library; set it through its own field")
        limit = aws_rules.MAX_TAGS_PER_RESOURCE - aws_rules.LIBRARY_TAGS_PER_RESOURCE
        if len(value) > limit:
            problems.append(
                f"{len(value)} extra tags; AWS allows {aws_rules.MAX_TAGS_PER_RESOURCE} tags per resource and the "
                f"library adds up to {aws_rules.LIBRARY_TAGS_PER_RESOURCE}, so at most {limit} extra tags fit"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return value


class EncryptionConfig(_Model):
    """The stack's customer-managed KMS key."""

    key_arn: KmsKeyArn | None = args_default(EncryptionKeyArgs, "key_arn")
    """Bring your own key: the ARN of an existing symmetric KMS key in the stack's region.
    Defaults to none, which creates a key for the stack with rotation on."""
    deletion_window_days: int = Field(default=args_default(EncryptionKeyArgs, "deletion_window_days"), ge=7, le=30)
    """Waiting period before a created key is deleted. Defaults to 30 days (the maximum)."""
    rotation_period_days: int = Field(default=args_default(EncryptionKeyArgs, "rotation_period_days"), ge=90, le=2560)
    """Automatic rotation period of a created key. Defaults to 365 days."""


class ModelRegistryConfig(_Model):
    """Object Lock and layout of the model-registry bucket."""

    prefix: str = Field(default="models", pattern=r"^[a-z0-9][a-z0-9-_/]*[a-z0-9]$")
    """Key prefix of the Triton-style model repository
    (``<prefix>/<model>/<version>/model.onnx``). Defaults to ``models``."""
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    """Default Object Lock retention mode. Defaults to ``COMPLIANCE`` in prod (nobody, root
    included, can delete a published model version before retention ends) and ``GOVERNANCE``
    elsewhere (privileged users can override)."""
    retention_days: int = Field(default=30, ge=1, le=36500)
    """Default Object Lock retention of each published object version. Defaults to 30 days."""


class StorageConfig(_Model):
    """Controls shared by the landing, feature-store and model-registry buckets."""

    noncurrent_version_expiration_days: int = Field(
        default=args_default(ArtifactBucketArgs, "noncurrent_version_expiration_days"), ge=1, le=3650
    )
    """Days after which a noncurrent object version is expired. Defaults to 90."""
    abort_incomplete_multipart_upload_days: int = Field(
        default=args_default(ArtifactBucketArgs, "abort_incomplete_multipart_upload_days"), ge=1, le=365
    )
    """Days after which an unfinished multipart upload is aborted. Defaults to 7."""
    access_log_retention_days: int = Field(default=365, ge=1, le=3650)
    """Days server-access-log objects are kept in the log bucket. Defaults to 365."""
    force_destroy: bool = args_default(ArtifactBucketArgs, "force_destroy")
    """Named opt-out: let ``pulumi destroy`` delete non-empty buckets. Defaults to false, so
    data is never deleted by an infrastructure change. Not allowed in prod."""
    model_registry: ModelRegistryConfig = Field(default_factory=ModelRegistryConfig)
    """Model-registry layout and Object Lock. Defaults as documented on its fields."""
