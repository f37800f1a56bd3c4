"""The stack program: read the typed config, compose the components.

``pulumi up -s <env>`` and the offline ``blueprint plan`` both run :func:`main`.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws
from hybrid_ai_platform.components.alarms import Alarms, AlarmsArgs
from hybrid_ai_platform.components.artifact_bucket import ArtifactBucket
from hybrid_ai_platform.components.budget import Budget
from hybrid_ai_platform.components.encryption_key import EncryptionKey
from hybrid_ai_platform.components.preprocessing import (
    LambdaPackage,
    PreprocessingPipeline,
    feature_set_failure_modes,
    pipeline_dashboard_row,
    pipeline_failure_modes,
)

from hybrid_ai_platform.config import ConfigError, PlatformConfig, load_platform_config
from hybrid_ai_platform.contracts import BucketPurpose

from . import args
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
    # A feature set the deployed code does not contain would fail every record, an environment above Lambda's
    # limit every deployment: reject them before any resource.
    problems = args.preprocessing_problems(config, packages, LAMBDA_BUILD_DIR.relative_to(REPO_ROOT).as_posix())
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
    artifacts = args.model_artifacts(config, provider)  # first: direct-form lookups cost more the more is declared
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id

    key = EncryptionKey("stack-key", args.encryption_key_args(config, account_id, tags), opts=opts)
    storage = config.storage
    log_bucket = ArtifactBucket(
        "access-logs",
        args.artifact_bucket_args(config, tags, account_id, BucketPurpose.ACCESS_LOGS, None, None),
        opts=opts,
    )
    landing = ArtifactBucket(
        "landing",
        args.artifact_bucket_args(config, tags, account_id, BucketPurpose.LANDING, key, log_bucket),
        opts=opts,
    )
    feature_store = ArtifactBucket(
        "feature-store",
        args.artifact_bucket_args(config, tags, account_id, BucketPurpose.FEATURES, key, log_bucket),
        opts=opts,
    )
    model_registry = ArtifactBucket(
        "model-registry",
        args.artifact_bucket_args(config, tags, account_id, BucketPurpose.MODELS, key, log_bucket),
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
        model_artifacts=artifacts,
    )

    pipelines = [
        PreprocessingPipeline(fn.name, args.preprocessing_pipeline_args(fn, ctx, packages[fn.architecture]), opts=opts)
        for fn in config.preprocessing.functions
    ]
    ctx.pipelines = pipelines
    ctx.alarms = Alarms(
        "alerts",
        AlarmsArgs(kms_key=key, account_id=account_id, tags=tags, emails=config.alarms.emails),
        opts=opts,
    )
    ctx.failure_modes.extend(
        mode
        for index, p in enumerate(pipelines)
        for mode in pipeline_failure_modes(p, f"preprocessing.functions[{index}]", "alarms")
    )
    ctx.failure_modes.extend(
        feature_set_failure_modes(
            pipelines, config.preprocessing.freshness_window_minutes, "preprocessing.freshness_window_minutes"
        )
    )
    ctx.dashboard_rows.extend(pipeline_dashboard_row(p) for p in pipelines)
    Budget("budget", args.budget_args(config, tags, ctx.alarms), opts=opts)
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
