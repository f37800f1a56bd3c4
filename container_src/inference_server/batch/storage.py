"""S3: listing a day's inputs, reading footers, spooling objects, conditional reads."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from inference_server.batch.settings import BatchError, BatchSettings

FOOTER_READ_BYTES = 64 * 1024
SPOOL_CHUNK = 1024 * 1024
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_PRECONDITION = frozenset({"412", "PreconditionFailed"})


def s3_client() -> Any:
    """A boto3 S3 client (standard retry mode, 5 attempts); ``AWS_ENDPOINT_URL`` etc. are honoured by boto3."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=120))


def _error_code(exc: Exception) -> str:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code or str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _head(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """``HeadObject``, or ``None`` when the object does not exist."""
    try:
        response: dict[str, Any] = client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if _error_code(exc) in _NOT_FOUND:
            return None
        raise
    return response


@dataclass(frozen=True)
class SourceFile:
    """One input object of a day's partition."""

    key: str
    etag: str
    size: int
    relative: str  # key below the input partition, e.g. ``part-0.parquet``
    day: date


def list_inputs(client: Any, settings: BatchSettings, day: date) -> tuple[list[SourceFile], list[str]]:
    """The Parquet inputs of ``day`` (sorted by key) and the keys ignored there (``_``/``.``, not Parquet)."""
    partition = settings.input_partition_for(day)
    inputs: list[SourceFile] = []
    ignored: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.feature_bucket, Prefix=partition):
        for item in page.get("Contents", []):
            key = str(item["Key"])
            relative = key[len(partition) :]
            segments = relative.split("/")
            if not relative.endswith(".parquet") or any(not s or s[0] in "_." for s in segments):
                ignored.append(key)
                continue
            inputs.append(SourceFile(key, str(item["ETag"]).strip('"'), int(item["Size"]), relative, day))
    inputs.sort(key=lambda f: f.key)
    return inputs, ignored


def _get(client: Any, bucket: str, source: SourceFile, **extra: Any) -> dict[str, Any]:
    """``GetObject(IfMatch=<listed ETag>)``: a file replaced after listing fails instead of mixing versions."""
    try:
        response: dict[str, Any] = client.get_object(Bucket=bucket, Key=source.key, IfMatch=f'"{source.etag}"', **extra)
    except Exception as exc:
        if _error_code(exc) in _PRECONDITION:
            raise BatchError(f"s3://{bucket}/{source.key} changed while the batch ran (ETag {source.etag})") from exc
        raise
    return response


def read_schema(client: Any, bucket: str, source: SourceFile) -> pa.Schema:
    """The Arrow schema of a Parquet object, from its footer only (one or two ranged ``GetObject`` calls).

    Raises :class:`BatchError` when the object is not Parquet.
    """
    uri = f"s3://{bucket}/{source.key}"
    if source.size < 12:
        raise BatchError(f"{uri} is not a readable Parquet file ({source.size} bytes)")
    tail = _get(client, bucket, source, Range=f"bytes=-{min(FOOTER_READ_BYTES, source.size)}")["Body"].read()
    if tail[-4:] != b"PAR1":
        raise BatchError(f"{uri} is not a readable Parquet file (no PAR1 footer magic)")
    (length,) = struct.unpack("<I", tail[-8:-4])
    if length + 8 > source.size:
        raise BatchError(f"{uri} is not a readable Parquet file (footer length {length} exceeds the object)")
    if length + 8 > len(tail):
        tail = _get(client, bucket, source, Range=f"bytes=-{length + 8}")["Body"].read()
    try:
        return pq.ParquetFile(pa.BufferReader(tail[-(length + 8) :])).schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise BatchError(f"{uri} is not a readable Parquet file: {exc}") from exc


def spool(client: Any, bucket: str, source: SourceFile, path: Path) -> str:
    """Stream the object into ``path`` (``SPOOL_CHUNK`` bytes at a time); returns its content SHA-256 (hex)."""
    response = _get(client, bucket, source)
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for chunk in response["Body"].iter_chunks(SPOOL_CHUNK):
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(SPOOL_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def put_if_changed(client: Any, bucket: str, key: str, body: bytes, content_type: str = "application/json") -> bool:
    """``PutObject`` ``body`` unless the object there records the same content SHA-256; returns whether it
    was written (the manifest and the share records: deterministic content, so an unchanged re-run puts
    nothing)."""
    digest = hashlib.sha256(body).hexdigest()
    existing = _head(client, bucket, key)
    if existing is not None and existing.get("Metadata", {}).get("content-sha256") == digest:
        return False
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata={"content-sha256": digest})
    return True


class RangeReader(io.RawIOBase):
    """A read-only, seekable view of one S3 object through ranged ``GetObject`` calls.

    Handed to :class:`pyarrow.parquet.ParquetFile`, it lets pyarrow fetch the footer and then only the
    column chunks it reads (each ``read`` is one ranged request of exactly that many bytes), so memory stays
    bounded by what is read, not by the object's size. ``if_match`` (an ETag) makes every range fail
    instead of mixing versions when the object is replaced meanwhile.
    """

    def __init__(self, client: Any, bucket: str, key: str, size: int, if_match: str | None = None) -> None:
        super().__init__()
        self._client, self._bucket, self._key, self._size = client, bucket, key, size
        self._extra = {"IfMatch": f'"{if_match}"'} if if_match else {}
        self._pos = 0

    def readable(self) -> bool:
        """Always."""
        return True

    def seekable(self) -> bool:
        """Always."""
        return True

    def tell(self) -> int:
        """The current offset."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset`` (from the start, the current offset or the end)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the current offset with one ranged ``GetObject``; 0 at the end."""
        view = memoryview(buffer).cast("B")
        if self._pos >= self._size or len(view) == 0:
            return 0
        end = min(self._pos + len(view), self._size) - 1
        response = self._client.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{end}", **self._extra
        )
        data = response["Body"].read()
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


def open_parquet(client: Any, bucket: str, key: str, size: int, if_match: str | None = None) -> pq.ParquetFile:
    """A :class:`pyarrow.parquet.ParquetFile` over ranged reads of ``s3://bucket/key`` (see
    :class:`RangeReader`), without pre-buffering and with buffered column-chunk reads (pyarrow reads
    ``SPOOL_CHUNK`` bytes of a needed column chunk at a time, whatever the row-group size)."""
    return pq.ParquetFile(RangeReader(client, bucket, key, size, if_match), pre_buffer=False, buffer_size=SPOOL_CHUNK)
