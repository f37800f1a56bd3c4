"""S3 access: a lazily created client, versioned reads and write-once (conditional) puts.

Only the calls the function's IAM role allows are used: ``GetObject``/``GetObjectVersion`` on the landing
prefix, ``PutObject``/``GetObject`` (``HeadObject``) on the feature set's prefix. ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``) is honoured by boto3 itself, which is how tests point the client at moto.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from preprocessing.events import SourceObject
    from preprocessing.readers import ByteStream

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})
_ALREADY_EXISTS = frozenset({"PreconditionFailed", "412"})


class SourceObjectNotFoundError(LookupError):
    """The landing object (version) named by the event does not exist (any more)."""


class SourceObjectChangedError(RuntimeError):
    """Unversioned bucket: the object was overwritten after the event, so its ETag no longer matches."""


@dataclass(frozen=True)
class OpenedObject:
    """A landing object being read: its body as a stream, and the attributes used for lineage."""

    key: str
    stream: ByteStream
    version_id: str | None
    etag: str
    last_modified: datetime
    content_length: int


@dataclass(frozen=True)
class FetchedObject:
    """A landing object's body and the attributes used for lineage."""

    key: str
    body: bytes
    version_id: str | None
    etag: str
    last_modified: datetime
    content_length: int


@lru_cache(maxsize=1)
def s3_client() -> S3Client:
    """The process-wide S3 client, created on first use (keeps ``import boto3`` out of the cold start).

    Retries use botocore's ``standard`` mode with 5 attempts; connect/read timeouts are 5 s / 60 s.
    Tests reset it with ``s3_client.cache_clear()``.
    """
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60)
    return boto3.session.Session().client("s3", config=config)


def _error_code(exc: Exception) -> str:
    response: dict[str, Any] = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or str(status or "")


def open_source_object(client: S3Client, source: SourceObject) -> OpenedObject:
    """Start reading exactly the object version the event names; the body is streamed, never held whole.

    With a version id the read is ``GetObject(VersionId=...)``; without one (unversioned bucket) it is
    ``GetObject(IfMatch=<etag>)`` so that a later overwrite is detected instead of silently processed.

    Raises:
        SourceObjectNotFoundError: no such key/version (under the key as delivered or URL-decoded).
        SourceObjectChangedError: unversioned and the ETag no longer matches.
        botocore.exceptions.ClientError: anything else (e.g. AccessDenied); the message is retried.
    """
    from botocore.exceptions import ClientError

    for key in source.key_candidates():
        kwargs: dict[str, Any] = {"Bucket": source.bucket, "Key": key}
        if source.version_id:
            kwargs["VersionId"] = source.version_id
        elif source.etag:
            kwargs["IfMatch"] = f'"{source.etag}"'
        try:
            response = client.get_object(**kwargs)
        except ClientError as exc:
            code = _error_code(exc)
            if code in _NOT_FOUND:
                continue
            if code in _ALREADY_EXISTS:
                raise SourceObjectChangedError(
                    f"{source.uri} no longer has ETag {source.etag} (overwritten after the event)"
                ) from exc
            raise
        return OpenedObject(
            key=key,
            stream=response["Body"],
            version_id=response.get("VersionId") or source.version_id,
            etag=str(response.get("ETag", source.etag)).strip('"'),
            last_modified=response["LastModified"],
            content_length=int(response.get("ContentLength", 0)),
        )
    version = f" version {source.version_id}" if source.version_id else ""
    raise SourceObjectNotFoundError(f"{source.uri}{version} does not exist")


def fetch_source_object(client: S3Client, source: SourceObject) -> FetchedObject:
    """:func:`open_source_object` with the whole body read into memory.

    Raises:
        The errors of :func:`open_source_object`.
    """
    opened = open_source_object(client, source)
    body = opened.stream.read()
    return FetchedObject(
        key=opened.key,
        body=body,
        version_id=opened.version_id,
        etag=opened.etag,
        last_modified=opened.last_modified,
        content_length=len(body),
    )


def object_exists(client: S3Client, bucket: str, key: str) -> bool:
    """``HeadObject``: ``True`` if ``key`` exists, ``False`` on 404 (needs ``s3:ListBucket`` to get 404)."""
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _error_code(exc) in _NOT_FOUND:
            return False
        raise
    return True


def put_if_absent(
    client: S3Client,
    bucket: str,
    key: str,
    body: bytes,
    *,
    content_type: str,
    metadata: dict[str, str],
) -> bool:
    """Write ``key`` once: return ``True`` if this call created it, ``False`` if it already existed.

    Two guards, because not every S3 implementation (nor every botocore) supports conditional writes:
    a ``HeadObject`` check first, then ``PutObject(IfNoneMatch="*")`` so a concurrent writer loses with
    412. If botocore predates ``IfNoneMatch`` the put is retried without it (the head check still holds).
    A 409 ``ConditionalRequestConflict`` (a concurrent conditional write in flight) is raised, so the
    message is retried rather than committed on an object that may never appear.
    """
    from botocore.exceptions import ClientError, ParamValidationError

    if object_exists(client, bucket, key):
        return False
    kwargs: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "Body": body,
        "ContentType": content_type,
        "Metadata": metadata,
    }
    try:
        client.put_object(**kwargs, IfNoneMatch="*")
    except ParamValidationError:
        client.put_object(**kwargs)
    except ClientError as exc:
        if _error_code(exc) in _ALREADY_EXISTS:
            return False
        raise
    return True


#: Part size of multipart uploads, and the size up to which a file is written with one ``PutObject``.
#: Defaults to 8 MiB: one part in memory at a time (S3 parts are 5 MiB to 5 GiB, at most 10,000 of them:
#: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
PART_BYTES = 8 * 2**20


def put_file_if_absent(
    client: S3Client,
    bucket: str,
    key: str,
    path: Path,
    *,
    content_type: str,
    metadata: dict[str, str],
    part_bytes: int | None = None,
) -> bool:
    """:func:`put_if_absent` for a file, read ``part_bytes`` at a time (a file larger than memory).

    ``part_bytes`` defaults to :data:`PART_BYTES`.

    Up to ``part_bytes`` the file is one :func:`put_if_absent`. Larger, it is a multipart upload whose
    ``CompleteMultipartUpload`` carries ``If-None-Match: *``: S3 then creates the object only if the key
    does not exist (412 otherwise; 409 on a concurrent conditional write, which is raised so the message is
    retried with a new upload). CreateMultipartUpload and UploadPart take no conditional headers; the
    condition is checked when the parts are assembled
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html,
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html). boto3's
    ``upload_file`` cannot pass ``IfNoneMatch`` (not in ``S3Transfer.ALLOWED_UPLOAD_ARGS``,
    https://github.com/boto/boto3/issues/4366), hence the explicit calls. A failed upload is aborted (the
    role has ``s3:AbortMultipartUpload``), so no parts are left behind.
    """
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

    part_bytes = part_bytes or PART_BYTES
    size = path.stat().st_size
    if size <= part_bytes:
        return put_if_absent(client, bucket, key, path.read_bytes(), content_type=content_type, metadata=metadata)
    if object_exists(client, bucket, key):
        return False
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type, Metadata=metadata)[
        "UploadId"
    ]
    try:
        parts: list[dict[str, Any]] = []
        with path.open("rb") as source:
            while chunk := source.read(part_bytes):
                number = len(parts) + 1
                etag = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk)[
                    "ETag"
                ]
                parts.append({"PartNumber": number, "ETag": etag})
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "UploadId": upload_id,
            "MultipartUpload": {"Parts": parts},
        }
        try:
            client.complete_multipart_upload(**kwargs, IfNoneMatch="*")
        except ParamValidationError:  # botocore predating conditional writes: the head check still holds
            client.complete_multipart_upload(**kwargs)
    except ClientError as exc:
        _abort(client, bucket, key, upload_id)
        if _error_code(exc) in _ALREADY_EXISTS:
            return False
        raise
    except (BotoCoreError, OSError):
        _abort(client, bucket, key, upload_id)
        raise
    return True


def _abort(client: S3Client, bucket: str, key: str, upload_id: str) -> None:
    """Best effort: a 409 may already have removed the upload (then AbortMultipartUpload answers 404)."""
    from botocore.exceptions import BotoCoreError, ClientError

    with contextlib.suppress(ClientError, BotoCoreError):
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
