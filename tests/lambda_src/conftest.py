"""Fixtures for the preprocessing Lambda tests (environment, moto S3, the handler module)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from esm_harness import REGION
from lambda_support import FEATURE_BUCKET, LANDING_BUCKET, lambda_environment


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
