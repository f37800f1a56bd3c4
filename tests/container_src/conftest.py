"""Fixtures for the inference server tests: ONNX models built with onnx.helper, a moto S3 server on
127.0.0.1, and the inference server itself running under uvicorn in a background thread."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from inference_helpers import (
    AWS_ENV,
    BUCKET,
    S3,
    RunningServer,
    build_classifier,
    build_echo,
    start_server,
    wait_ready,
)
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="session")
def classifier_bytes() -> bytes:
    return build_classifier()


@pytest.fixture(scope="session")
def echo_bytes() -> bytes:
    return build_echo()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    """A moto S3 server on 127.0.0.1 with the bucket ``acme-models``; reached through its endpoint URL."""
    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield S3(endpoint, client)
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def classifier_server(
    s3: S3, classifier_bytes: bytes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The classifier model (version 1) served with dynamic batching (max 32 rows, 20 ms delay)."""
    s3.put_model("classifier", "1", classifier_bytes)
    server = start_server(
        s3,
        tmp_path_factory.mktemp("cache"),
        "classifier",
        MAX_BATCH_SIZE="32",
        MAX_QUEUE_DELAY_MS="20",
    )
    wait_ready(server)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def unbatched_server(
    s3: S3, classifier_bytes: bytes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The classifier model served with dynamic batching disabled (MAX_QUEUE_DELAY_MS=0)."""
    s3.put_model("classifier", "1", classifier_bytes)
    server = start_server(s3, tmp_path_factory.mktemp("cache"), "classifier", MAX_QUEUE_DELAY_MS="0")
    wait_ready(server)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def echo_server(s3: S3, echo_bytes: bytes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The all-datatypes echo model (version 3), batching on."""
    s3.put_model("echo", "3", echo_bytes)
    server = start_server(s3, tmp_path_factory.mktemp("cache"), "echo", version="3")
    wait_ready(server)
    yield server
    server.stop()
