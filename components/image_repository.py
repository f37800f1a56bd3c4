"""The ECR repository a workload's image is pushed to, with its lifecycle policy (one definition for the
inference services and the preprocessing workers)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws


def image_repository(
    name: str,
    repository_name: str,
    kms_key_arn: pulumi.Input[str],
    tags: Mapping[str, pulumi.Input[str]],
    images_to_keep: int,
    opts: pulumi.ResourceOptions,
) -> aws.ecr.Repository:
    """``<name>-repository``: immutable tags, scan on push, SSE-KMS with ``kms_key_arn``, never force-deleted;
    and ``<name>-repository-lifecycle``: untagged images expire after a day, the last ``images_to_keep``
    images stay for rollback."""
    repository = aws.ecr.Repository(
        f"{name}-repository",
        name=repository_name,
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration={"scan_on_push": True},
        encryption_configurations=[{"encryption_type": "KMS", "kms_key": kms_key_arn}],
        force_delete=False,
        tags=dict(tags),
        opts=opts,
    )
    aws.ecr.LifecyclePolicy(
        f"{name}-repository-lifecycle",
        repository=repository.name,
        policy=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": "Expire untagged images after 1 day",
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "sinceImagePushed",
                            "countUnit": "days",
                            "countNumber": 1,
                        },
                        "action": {"type": "expire"},
                    },
                    {
                        "rulePriority": 2,
                        "description": f"Keep the last {images_to_keep} images for rollback",
                        "selection": {
                            "tagStatus": "any",
                            "countType": "imageCountMoreThan",
                            "countNumber": images_to_keep,
                        },
                        "action": {"type": "expire"},
                    },
                ]
            },
            sort_keys=True,
        ),
        opts=opts,
    )
    return repository
