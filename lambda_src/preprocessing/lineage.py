"""Deterministic output names and lineage records.

An object version is identified by ``(bucket, key, version id, ETag)``; together with the feature set's
schema version that identity is hashed into every output name, so a redelivered event maps to the same
keys (idempotency) and a schema change maps to new ones.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Characters of the source file name kept in output names (for humans; the digest makes names unique).
STEM_MAX = 48


@dataclass(frozen=True)
class Lineage:
    """Where an output came from and what produced it."""

    source_bucket: str
    source_key: str
    source_version_id: str | None
    source_etag: str
    feature_set: str
    schema_version: str
    code_version: str

    @property
    def digest(self) -> str:
        """32 hex chars of sha256 over bucket/key/version-id/etag/feature set/schema version."""
        identity = "\n".join(
            (
                self.source_bucket,
                self.source_key,
                self.source_version_id or "null",
                self.source_etag,
                self.feature_set,
                self.schema_version,
            )
        )
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]

    @property
    def stem(self) -> str:
        """The source file name without extensions, reduced to ``[A-Za-z0-9._-]``, :data:`STEM_MAX` chars."""
        name = self.source_key.rsplit("/", 1)[-1]
        name = name.split(".", 1)[0] or "object"
        return (_UNSAFE.sub("_", name).strip("._-") or "object")[:STEM_MAX]

    @property
    def base_name(self) -> str:
        """``<stem>-<digest>``: the deterministic file name shared by all outputs of one object version."""
        return f"{self.stem}-{self.digest}"

    def s3_metadata(self, **extra: str) -> dict[str, str]:
        """S3 user metadata (``x-amz-meta-*``); values are ASCII, the key percent-encoded (UTF-8)."""
        metadata = {
            "source-bucket": self.source_bucket,
            "source-key": quote(self.source_key, safe="/"),
            "source-version-id": self.source_version_id or "null",
            "source-etag": self.source_etag,
            "feature-set": self.feature_set,
            "schema-version": self.schema_version,
            "code-version": self.code_version,
        }
        metadata.update(extra)
        return metadata

    def as_dict(self) -> dict[str, str | None]:
        """JSON form used in manifests, quarantine records and Parquet key-value metadata."""
        return {
            "source_bucket": self.source_bucket,
            "source_key": self.source_key,
            "source_version_id": self.source_version_id,
            "source_etag": self.source_etag,
            "feature_set": self.feature_set,
            "schema_version": self.schema_version,
            "code_version": self.code_version,
        }
