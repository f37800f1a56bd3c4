"""Fixtures for the preprocessing Lambda tests (environment, moto S3, the handler module)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from esm_harness import REGION

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / "lambda_src" / "samples"
LANDING_BUCKET = "hybrid-ai-landing-test"
FEATURE_BUCKET = "hybrid-ai-features-test"
LANDING_PREFIX = "raw/transactions/"
FEATURE_SET = "transactions"


def lambda_environment() -> dict[str, str]:
    """The environment the Pulumi component sets, plus fake credentials for moto."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "LANDING_BUCKET": LANDING_BUCKET,
        "LANDING_PREFIX": LANDING_PREFIX,
        "FEATURE_BUCKET": FEATURE_BUCKET,
        "FEATURE_SET": FEATURE_SET,
        "FEATURE_PREFIX": f"{FEATURE_SET}/",
        "QUARANTINE_PREFIX": f"{FEATURE_SET}/_quarantine/",
        "MANIFEST_PREFIX": f"{FEATURE_SET}/_manifests/",
        "CODE_VERSION": "0" * 64,
        "POWERTOOLS_SERVICE_NAME": "preprocessing",
        "POWERTOOLS_METRICS_NAMESPACE": "HybridAI/Test",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def _reset_caches() -> None:
    from preprocessing.config import get_settings
    from preprocessing.storage import s3_client

    get_settings.cache_clear()
    s3_client.cache_clear()


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Set the function's environment (and unset any AWS endpoint/profile from the outer shell)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    env = lambda_environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _reset_caches()
    yield env
    _reset_caches()


@pytest.fixture
def handler_module(lambda_env: dict[str, str]) -> ModuleType:
    """``preprocessing.handler``, imported only once the environment is set (Powertools reads it at init)."""
    return importlib.import_module("preprocessing.handler")


@pytest.fixture
def s3(lambda_env: dict[str, str]) -> Iterator[Any]:
    """A moto-mocked S3 with a versioned landing bucket and the feature bucket."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for bucket in (LANDING_BUCKET, FEATURE_BUCKET):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.put_bucket_versioning(Bucket=LANDING_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client
