"""Fetch ``model.onnx`` from an S3 Triton-layout model repository into a verified local cache.

Layout: ``s3://<bucket>/<prefix>/<model>/<version>/model.onnx``. The object is streamed (``GetObject``
with ``IfMatch`` on the ETag seen by ``HeadObject``, so a concurrent overwrite cannot produce a mixed
file) into a temporary file next to its final path, verified, fsynced and atomically renamed to
``<MODEL_CACHE_DIR>/<model>/<version>/model.onnx``. A sidecar ``model.onnx.meta.json`` records the ETag
and size; a cached file is reused only when it still matches the object's current ETag and size *and*
its content re-verifies.

Verification (strongest available):

* single-part upload without SSE-KMS/SSE-C: the ETag is the MD5 of the content;
* multipart upload (ETag ``<md5-of-part-md5s>-<n>``): the part size is read with
  ``HeadObject(PartNumber=1)`` and the multipart ETag is recomputed;
* otherwise (SSE-KMS/SSE-C, or unknown part size) a full-object ``ChecksumSHA256`` or ``ChecksumCRC32``
  is used when S3 reports one, else only the size is verified (logged as a warning).

The size is always verified. boto3 resolves credentials, region and ``AWS_ENDPOINT_URL`` itself; this
module never overrides them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference_server.config import S3Location

LOG = logging.getLogger(__name__)
CHUNK = 1024 * 1024
MODEL_FILE = "model.onnx"


class ModelNotFoundError(FileNotFoundError):
    """The model object does not exist (or is not readable) in the repository."""


class VerificationError(ValueError):
    """Downloaded (or cached) bytes do not match the object's size or checksum."""


@dataclass(frozen=True)
class ObjectInfo:
    """What ``HeadObject`` says about the model object."""

    uri: str
    size: int
    etag: str  # without quotes
    part_size: int | None = None  # multipart uploads only, when determinable
    etag_is_md5: bool = True  # False under SSE-KMS / SSE-C
    sha256: str | None = None  # base64, full-object checksum
    crc32: str | None = None  # base64, full-object checksum

    @property
    def parts(self) -> int:
        """Number of parts encoded in a multipart ETag (0 for a single-part upload)."""
        _, dash, count = self.etag.partition("-")
        return int(count) if dash and count.isdigit() else 0

    def method(self) -> str:
        """Name of the verification used: ``md5``, ``multipart-md5``, ``sha256``, ``crc32`` or ``size``."""
        if self.etag_is_md5 and self.parts == 0:
            return "md5"
        if self.etag_is_md5 and self.part_size:
            return "multipart-md5"
        if self.sha256:
            return "sha256"
        if self.crc32:
            return "crc32"
        return "size"


class _Digest:
    """Incrementally computes what :meth:`ObjectInfo.method` needs."""

    def __init__(self, info: ObjectInfo) -> None:
        self.info = info
        self.kind = info.method()
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._part = hashlib.md5(usedforsecurity=False)
        self._part_fill = 0
        self._part_digests: list[bytes] = []
        self._sha = hashlib.sha256()
        self._crc = 0

    def update(self, data: bytes) -> None:
        self.size += len(data)
        if self.kind == "md5":
            self._md5.update(data)
        elif self.kind == "multipart-md5":
            part_size = self.info.part_size or 1
            view = memoryview(data)
            while view:
                take = min(len(view), part_size - self._part_fill)
                self._part.update(view[:take])
                self._part_fill += take
                view = view[take:]
                if self._part_fill == part_size:
                    self._part_digests.append(self._part.digest())
                    self._part = hashlib.md5(usedforsecurity=False)
                    self._part_fill = 0
        elif self.kind == "sha256":
            self._sha.update(data)
        elif self.kind == "crc32":
            self._crc = zlib.crc32(data, self._crc)

    def verify(self) -> None:
        info = self.info
        if self.size != info.size:
            raise VerificationError(f"{info.uri}: got {self.size} bytes, S3 reports {info.size}")
        if self.kind == "md5":
            got = self._md5.hexdigest()
            if got != info.etag:
                raise VerificationError(f"{info.uri}: MD5 {got} does not match ETag {info.etag}")
        elif self.kind == "multipart-md5":
            digests = list(self._part_digests)
            if self._part_fill:
                digests.append(self._part.digest())
            combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
            got = f"{combined}-{len(digests)}"
            if got != info.etag:
                raise VerificationError(f"{info.uri}: multipart ETag {got} does not match {info.etag}")
        elif self.kind == "sha256":
            got = base64.b64encode(self._sha.digest()).decode()
            if got != info.sha256:
                raise VerificationError(f"{info.uri}: SHA-256 {got} does not match {info.sha256}")
        elif self.kind == "crc32":
            got = base64.b64encode(self._crc.to_bytes(4, "big")).decode()
            if got != info.crc32:
                raise VerificationError(f"{info.uri}: CRC32 {got} does not match {info.crc32}")


def verify_file(path: Path, info: ObjectInfo) -> None:
    """Verify a local file against ``info``; raises :class:`VerificationError`."""
    digest = _Digest(info)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    digest.verify()


def _is_not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound", "NoSuchBucket", "403", "AccessDenied"}


class ModelRepository:
    """Downloads and caches model files. ``client`` is a boto3 S3 client (created lazily by default)."""

    def __init__(self, location: S3Location, cache_dir: Path, client: Any | None = None) -> None:
        self.location = location
        self.cache_dir = cache_dir
        self._client = client

    @property
    def client(self) -> Any:
        """The boto3 S3 client; ``AWS_ENDPOINT_URL``/``AWS_REGION`` etc. are honoured by boto3."""
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def head(self, model: str, version: str) -> ObjectInfo:
        """``HeadObject`` the model file; raises :class:`ModelNotFoundError` when it does not exist."""
        key = self.location.key_for(model, version, MODEL_FILE)
        uri = self.location.uri_for(model, version, MODEL_FILE)
        try:
            head = self.client.head_object(Bucket=self.location.bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:
            if _is_not_found(exc):
                raise ModelNotFoundError(f"model not found (or not readable) at {uri}: {exc}") from exc
            raise
        etag = str(head.get("ETag", "")).strip('"')
        etag_is_md5 = head.get("ServerSideEncryption") not in ("aws:kms", "aws:kms:dsse") and not head.get(
            "SSECustomerAlgorithm"
        )
        full_object = head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT" and "-" not in etag
        info = ObjectInfo(
            uri=uri,
            size=int(head["ContentLength"]),
            etag=etag,
            etag_is_md5=etag_is_md5,
            sha256=head.get("ChecksumSHA256") if full_object else None,
            crc32=head.get("ChecksumCRC32") if full_object else None,
        )
        if info.parts and etag_is_md5:
            try:
                part = self.client.head_object(Bucket=self.location.bucket, Key=key, PartNumber=1)
                info = ObjectInfo(**{**info.__dict__, "part_size": int(part["ContentLength"])})
            except Exception as exc:  # the part size is a nice-to-have; fall back to size only
                LOG.warning("cannot read the part size of %s (%s)", uri, exc)
        return info

    def local_path(self, model: str, version: str) -> Path:
        """Cache path ``<cache_dir>/<model>/<version>/model.onnx``."""
        return self.cache_dir / model / version / MODEL_FILE

    def fetch(self, model: str, version: str) -> Path:
        """Return a verified local copy of the model file, downloading it unless a valid copy is cached."""
        info = self.head(model, version)
        target = self.local_path(model, version)
        meta = target.with_name(MODEL_FILE + ".meta.json")
        if info.method() == "size":
            LOG.warning(
                "%s: ETag is not an MD5 (SSE-KMS/SSE-C or unknown multipart part size) and S3 reports no "
                "full-object checksum; verifying the size only",
                info.uri,
            )
        if self._cached_ok(target, meta, info):
            LOG.info("using cached %s for %s (verified by %s)", target, info.uri, info.method())
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".model.onnx.", suffix=".part")
        tmp = Path(tmp_name)
        handle = os.fdopen(fd, "wb")
        try:
            digest = _Digest(info)
            response = self.client.get_object(
                Bucket=self.location.bucket,
                Key=self.location.key_for(model, version, MODEL_FILE),
                IfMatch=f'"{info.etag}"',
            )
            with handle:
                for chunk in response["Body"].iter_chunks(CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            digest.verify()
            os.replace(tmp, target)
            meta_tmp = meta.with_name(meta.name + ".tmp")
            meta_tmp.write_text(json.dumps({"uri": info.uri, "etag": info.etag, "size": info.size}))
            os.replace(meta_tmp, meta)
        except BaseException:
            handle.close()
            tmp.unlink(missing_ok=True)
            raise
        LOG.info("downloaded %s (%d bytes, verified by %s) to %s", info.uri, info.size, info.method(), target)
        return target

    @staticmethod
    def _cached_ok(target: Path, meta: Path, info: ObjectInfo) -> bool:
        if not target.is_file() or not meta.is_file():
            return False
        try:
            recorded = json.loads(meta.read_text())
        except (OSError, ValueError):
            return False
        if recorded.get("etag") != info.etag or recorded.get("size") != info.size:
            LOG.info("cached %s is stale (object changed); downloading again", target)
            return False
        try:
            verify_file(target, info)
        except VerificationError as exc:
            LOG.warning("cached %s failed verification (%s); downloading again", target, exc)
            return False
        return True
