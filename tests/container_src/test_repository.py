"""Model download from S3: verified, cached, atomically renamed; corrupt data is rejected."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from inference_helpers import BUCKET, PREFIX
from inference_server.config import S3Location
from inference_server.repository import ModelNotFoundError, ModelRepository, VerificationError, verify_file

pytestmark = pytest.mark.e2e  # talks to the moto server

LOCATION = S3Location(BUCKET, PREFIX)


class CorruptingClient:
    """A boto3 S3 client whose GetObject body has one byte flipped (or is truncated)."""

    def __init__(self, client, truncate: bool = False) -> None:
        self.client = client
        self.truncate = truncate
        self.gets = 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def get_object(self, **kwargs):
        self.gets += 1
        data = self.client.get_object(**kwargs)["Body"].read()
        data = data[:-1] if self.truncate else bytes([data[0] ^ 0xFF]) + data[1:]
        from botocore.response import StreamingBody

        return {"Body": StreamingBody(io.BytesIO(data), len(data))}


def test_download_is_verified_cached_and_reused(s3, tmp_path: Path) -> None:
    # GIVEN a single-part model object
    s3.put_model("cached", "1", b"onnx-bytes" * 100)
    repo = ModelRepository(LOCATION, tmp_path, client=CorruptingClient(s3.client))
    repo.client.get_object = s3.client.get_object  # type: ignore[method-assign]
    # WHEN fetched twice
    path = repo.fetch("cached", "1")
    mtime = path.stat().st_mtime_ns
    again = repo.fetch("cached", "1")
    # THEN it lands at <cache>/<model>/<version>/model.onnx, verified by MD5, and the cache is reused
    assert path == tmp_path / "cached" / "1" / "model.onnx" == again
    assert path.read_bytes() == b"onnx-bytes" * 100
    assert again.stat().st_mtime_ns == mtime
    assert repo.head("cached", "1").method() == "md5"
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []


@pytest.mark.parametrize("truncate", [False, True], ids=["flipped-byte", "truncated"])
def test_corrupted_or_short_download_is_rejected_and_not_cached(s3, tmp_path: Path, truncate: bool) -> None:
    # GIVEN S3 returns bytes that differ from the object's ETag / size
    s3.put_model("corrupt", "1", os.urandom(4096))
    repo = ModelRepository(LOCATION, tmp_path, client=CorruptingClient(s3.client, truncate=truncate))
    # WHEN the model is fetched
    with pytest.raises(VerificationError, match="bytes, S3 reports" if truncate else "does not match ETag"):
        repo.fetch("corrupt", "1")
    # THEN nothing (not even a temporary file) is left in the cache
    folder = tmp_path / "corrupt" / "1"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_corrupted_cache_file_is_downloaded_again(s3, tmp_path: Path) -> None:
    # GIVEN a cached model whose bytes were damaged on disk after download
    s3.put_model("damaged", "1", b"A" * 2048)
    client = CorruptingClient(s3.client)
    client.get_object = s3.client.get_object  # type: ignore[method-assign]
    repo = ModelRepository(LOCATION, tmp_path, client=client)
    path = repo.fetch("damaged", "1")
    path.write_bytes(b"B" * 2048)
    # WHEN fetched again THEN the cache fails verification and the good bytes come back
    assert repo.fetch("damaged", "1").read_bytes() == b"A" * 2048


def test_multipart_etag_is_recomputed_with_the_part_size(s3, tmp_path: Path) -> None:
    # GIVEN an 11 MiB model uploaded in 5 MiB parts (ETag "<md5-of-md5s>-3")
    body = os.urandom(11 * 1024 * 1024)
    key = f"{PREFIX}/big/1/model.onnx"
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.client.upload_fileobj(io.BytesIO(body), BUCKET, key, Config=config)
    repo = ModelRepository(LOCATION, tmp_path, client=s3.client)
    info = repo.head("big", "1")
    assert info.parts == 3 and info.part_size == 5 * 1024 * 1024 and info.method() == "multipart-md5"
    # WHEN downloaded THEN it verifies
    path = repo.fetch("big", "1")
    assert path.stat().st_size == len(body)
    # AND a local file differing by one byte fails the multipart check
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
    with pytest.raises(VerificationError, match="multipart ETag"):
        verify_file(damaged, info)


def test_missing_model_raises_not_found_naming_the_uri(s3, tmp_path: Path) -> None:
    # GIVEN no object at the model path
    repo = ModelRepository(LOCATION, tmp_path, client=s3.client)
    # WHEN fetched THEN ModelNotFoundError names the s3 URI
    with pytest.raises(ModelNotFoundError, match=r"s3://acme-models/models/absent/4/model\.onnx"):
        repo.fetch("absent", "4")


def test_default_client_honours_aws_endpoint_url(s3, tmp_path: Path, monkeypatch) -> None:
    # GIVEN only the standard AWS_ENDPOINT_URL pointing at the moto server (no explicit client)
    s3.put_model("env", "1", b"xyz")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    repo = ModelRepository(LOCATION, tmp_path)
    # WHEN fetching THEN boto3 reaches moto through it
    assert repo.fetch("env", "1").read_bytes() == b"xyz"
    assert repo.client.meta.endpoint_url == s3.endpoint
