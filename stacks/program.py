"""The stack program: read the typed config, compose the components.

``pulumi up -s <env>`` and the offline ``blueprint plan`` both run :func:`main`.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws
from hybrid_ai_platform.components.alarms import Alarms, AlarmsArgs
from hybrid_ai_platform.components.artifact_bucket import ArtifactBucket, ArtifactBucketArgs, ObjectLockArgs
from hybrid_ai_platform.components.aws_rules import bounded_name
from hybrid_ai_platform.components.budget import Budget, BudgetArgs
from hybrid_ai_platform.components.config import ConfigError, PlatformConfig, load_platform_config
from hybrid_ai_platform.components.encryption_key import EncryptionKey, EncryptionKeyArgs
from hybrid_ai_platform.components.preprocessing import (
    LambdaPackage,
    PreprocessingPipeline,
    PreprocessingPipelineArgs,
    environment_size_problems,
    feature_set_failure_modes,
    pipeline_dashboard_row,
    pipeline_failure_modes,
    unknown_feature_sets,
)

from .context import StackContext

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_BUILD_DIR = REPO_ROOT / "build" / "lambda"
"""Where ``make package`` writes ``<arch>/manifest.json`` and the archives."""


def main() -> None:
    """Validate the config (before any resource), then build the whole stack."""
    config = load_platform_config()
    packages: dict[str, LambdaPackage] = {
        arch: LambdaPackage.from_manifest(LAMBDA_BUILD_DIR / arch / "manifest.json")
        for arch in sorted({fn.architecture for fn in config.preprocessing.functions})
    }
    # A feature set the deployed code does not contain would fail every record: reject it before any resource.
    problems = unknown_feature_sets(
        config.preprocessing.functions, packages, LAMBDA_BUILD_DIR.relative_to(REPO_ROOT).as_posix()
    )
    problems += environment_size_problems(config.preprocessing.functions, config.region)
    if problems:
        raise ConfigError(pulumi.get_stack(), problems)
    ctx = build_data_plane(config, packages)
    from .inference import build_inference_platform

    build_inference_platform(ctx)
    build_observability(ctx)
    for key, value in sorted(ctx.outputs.items()):
        pulumi.export(key, value)


def build_data_plane(config: PlatformConfig, packages: dict[str, LambdaPackage]) -> StackContext:
    """Key, buckets, preprocessing pipelines, alarms and budget."""
    tags = config.required_tags()
    provider = aws.Provider("aws", region=config.region)
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    stack = pulumi.get_stack()

    key = EncryptionKey(
        "stack-key",
        EncryptionKeyArgs(
            account_id=account_id,
            region=config.region,
            tags=tags,
            key_arn=config.encryption.key_arn,
            deletion_window_days=config.encryption.deletion_window_days,
            rotation_period_days=config.encryption.rotation_period_days,
            alias=f"{pulumi.get_project()}-{stack}",
        ),
        opts=opts,
    )
    storage = config.storage
    common = {
        "tags": tags,
        "region": config.region,
        "noncurrent_version_expiration_days": storage.noncurrent_version_expiration_days,
        "abort_incomplete_multipart_upload_days": storage.abort_incomplete_multipart_upload_days,
        "force_destroy": storage.force_destroy,
    }
    log_bucket = ArtifactBucket(
        "access-logs",
        ArtifactBucketArgs(
            kms_key_arn=None,
            purpose="access-logs",
            access_log_target=True,
            account_id=account_id,
            current_version_expiration_days=storage.access_log_retention_days,
            **common,  # type: ignore[arg-type]
        ),
        opts=opts,
    )
    landing = ArtifactBucket(
        "landing",
        ArtifactBucketArgs(
            kms_key_arn=key.arn,
            purpose="landing",
            log_bucket=log_bucket,
            eventbridge_notifications=True,
            **common,  # type: ignore[arg-type]
        ),
        opts=opts,
    )
    feature_store = ArtifactBucket(
        "feature-store",
        ArtifactBucketArgs(kms_key_arn=key.arn, purpose="features", log_bucket=log_bucket, **common),  # type: ignore[arg-type]
        opts=opts,
    )
    model_registry = ArtifactBucket(
        "model-registry",
        ArtifactBucketArgs(
            kms_key_arn=key.arn,
            purpose="models",
            log_bucket=log_bucket,
            object_lock=ObjectLockArgs(mode=config.object_lock_mode, days=storage.model_registry.retention_days),
            **common,  # type: ignore[arg-type]
        ),
        opts=opts,
    )
    ctx = StackContext(
        config=config,
        provider=provider,
        account_id=account_id,
        tags=tags,
        key=key,
        log_bucket=log_bucket,
        landing=landing,
        feature_store=feature_store,
        model_registry=model_registry,
    )

    pipelines = [
        PreprocessingPipeline(
            fn.name,
            PreprocessingPipelineArgs(
                function=fn,
                landing=landing,
                feature_store=feature_store,
                kms_key_arn=key.arn,
                package=packages[fn.architecture],
                account_id=account_id,
                region=config.region,
                tags=tags,
                function_name=bounded_name(f"{ctx.name}-{fn.name}", 64),
            ),
            opts=opts,
        )
        for fn in config.preprocessing.functions
    ]
    ctx.pipelines = pipelines
    ctx.alarms = Alarms(
        "alerts",
        AlarmsArgs(kms_key_arn=key.arn, account_id=account_id, tags=tags, emails=config.alarms.emails),
        opts=opts,
    )
    ctx.failure_modes.extend(
        mode for index, p in enumerate(pipelines) for mode in pipeline_failure_modes(p, index, config.alarms)
    )
    ctx.failure_modes.extend(feature_set_failure_modes(pipelines, config.preprocessing))
    ctx.dashboard_rows.extend(pipeline_dashboard_row(p) for p in pipelines)
    Budget(
        "budget",
        BudgetArgs(
            monthly_limit_usd=config.budget.monthly_limit_usd,
            filter_tags={"environment": tags["environment"], "cost-center": tags["cost-center"]},
            tags=tags,
            topic_arn=ctx.alarms.topic.arn,
            emails=config.budget.emails,
            actual_thresholds_percent=config.budget.actual_thresholds_percent,
            forecast_thresholds_percent=config.budget.forecast_thresholds_percent,
            depends_on=[ctx.alarms.topic_policy],
        ),
        opts=opts,
    )
    ctx.outputs.update(
        {
            "kms_key_arn": key.arn,
            "landing_bucket": landing.name,
            "feature_store_bucket": feature_store.name,
            "model_registry_bucket": model_registry.name,
            "model_registry_uri": pulumi.Output.concat(
                "s3://", model_registry.name, "/", storage.model_registry.prefix
            ),
            "access_log_bucket": log_bucket.name,
            "alerts_topic_arn": ctx.alarms.topic.arn,
            "preprocessing_functions": {p._name: p.function.name for p in pipelines if p.function is not None},
        }
    )
    return ctx


def build_observability(ctx: StackContext) -> None:
    """The plane: an alarm per declared failure mode, one dashboard, and the declarations as stack outputs.

    ``failure_modes`` (every declared mode and the alarm that watches it, or none) is what the
    alarm-coverage system check judges; ``slos`` are the models' objectives (their rollback criteria,
    docs/rollback.md).
    """
    assert ctx.alarms is not None
    ctx.alarms.watch(ctx.failure_modes)
    dashboard = ctx.alarms.dashboard(
        f"{ctx.name}-overview", ctx.config.region, ctx.dashboard_rows, ctx.config.budget.monthly_limit_usd
    )
    ctx.outputs.update(
        {
            "dashboard_name": dashboard.dashboard_name,
            "failure_modes": [mode.record() for mode in ctx.failure_modes],
            "slos": {
                model.name: {
                    "availability_target": model.slo.availability_target,
                    "latency_target_ms": model.slo.latency_target_ms,
                    "latency_percentile": model.slo.latency_percentile,
                    "window_days": model.slo.window_days,
                    "alarms": [m.alarm_name for m in ctx.failure_modes if m.component == f"model/{model.name}"],
                }
                for model in ctx.config.inference.models
            },
        }
    )
