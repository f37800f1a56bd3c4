"""The per-object pipeline: read -> validate -> features -> Parquet partitions -> write once + manifest.

:func:`transform` is the pure, S3-free part (bytes in, Parquet bytes and quarantine records out);
:func:`process_object` wraps it with the reads, write-once puts and the manifest that commits the object.

Write order is outputs, quarantine, then the manifest. The manifest is the commit marker: if it exists the
object version was fully processed and a redelivery is a no-op; if a previous attempt died before it, the
retry finds its outputs already written (same deterministic keys, put-if-absent) and completes the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from preprocessing.feature_sets import BuildContext, FeatureSet
from preprocessing.lineage import Lineage
from preprocessing.readers import InputFormat, RawRow, detect_format, read_csv_table, read_rows
from preprocessing.storage import fetch_source_object, object_exists, put_if_absent

if TYPE_CHECKING:
    import pyarrow as pa
    from mypy_boto3_s3 import S3Client

    from preprocessing.config import Settings
    from preprocessing.events import SourceObject

MANIFEST_VERSION = 1
PARQUET_COMPRESSION = "zstd"
_EPOCH = date(1970, 1, 1)
_MICROS_PER_DAY = 86_400_000_000


class WrongSourceError(ValueError):
    """The event names an object outside the landing bucket/prefix this function is subscribed to."""


@dataclass(frozen=True)
class PartitionFile:
    """One Parquet file of the output, for one ``dt=`` partition."""

    partition: str
    rows: int
    body: bytes

    @property
    def sha256(self) -> str:
        """Hex sha256 of the file's bytes."""
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class Transformed:
    """Result of :func:`transform`: Parquet partitions plus the rejected rows, with row accounting."""

    input_format: str
    rows_input: int
    partitions: list[PartitionFile]
    quarantined: list[dict[str, Any]]

    @property
    def rows_valid(self) -> int:
        """Rows written to Parquet."""
        return sum(p.rows for p in self.partitions)


@dataclass
class ObjectResult:
    """What :func:`process_object` did for one event.

    ``status`` is ``"processed"`` or ``"duplicate"`` (manifest already present: nothing was written).
    """

    status: str
    source_uri: str
    manifest_key: str
    rows_input: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    output_keys: list[str] = field(default_factory=list)
    quarantine_key: str | None = None
    objects_written: int = 0


def _error_summary(errors: Sequence[dict[str, Any]]) -> str:
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "row"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _quarantine_record(row: RawRow, errors: list[dict[str, Any]], lineage: Lineage) -> dict[str, Any]:
    return {
        "row_number": row.row_number,
        "line": row.line,
        "error": _error_summary(errors),
        "errors": errors,
        "raw": row.data if row.data is not None else row.raw,
        "source_bucket": lineage.source_bucket,
        "source_key": lineage.source_key,
        "source_version_id": lineage.source_version_id,
    }


def validate_rows(
    feature_set: FeatureSet, rows: Sequence[RawRow], lineage: Lineage
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Split rows into validated models and quarantine records (in input order).

    Rows repeating the feature set's ``unique_key`` are quarantined after their first occurrence.
    """
    rejected: dict[int, list[dict[str, Any]]] = {}
    candidates: list[int] = []
    for index, row in enumerate(rows):
        if row.data is None:
            rejected[index] = [{"loc": ["row"], "msg": row.decode_error or "undecodable", "type": "decode_error"}]
        else:
            candidates.append(index)

    # One pydantic-core call per row: a failing row costs one exception and nothing is validated twice.
    validate = feature_set.row_model.model_validate
    models: list[Any] = []
    accepted: list[int] = []
    for index in candidates:
        try:
            models.append(validate(rows[index].data))
        except ValidationError as exc:
            rejected[index] = [
                {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
            continue
        accepted.append(index)
    candidates = accepted

    valid: list[Any] = []
    if feature_set.unique_key:
        seen: dict[Any, int] = {}
        for index, model in zip(candidates, models, strict=True):
            value = getattr(model, feature_set.unique_key)
            if value in seen:
                rejected[index] = [
                    {
                        "loc": [feature_set.unique_key],
                        "msg": f"duplicate {feature_set.unique_key} {value!r} (first at row {seen[value]})",
                        "type": "duplicate",
                    }
                ]
                continue
            seen[value] = rows[index].row_number
            valid.append(model)
    else:
        valid = list(models)

    quarantined = [_quarantine_record(rows[i], rejected[i], lineage) for i in sorted(rejected)]
    return valid, quarantined


def validate_columns(
    feature_set: FeatureSet, columns: pa.Table, lineage: Lineage, context: BuildContext
) -> tuple[pa.Table | None, list[dict[str, Any]]]:
    """Columnar :func:`validate_rows` plus ``build`` for a CSV read by :func:`read_csv_table`.

    Returns the feature table (``None`` when no row is valid) and the quarantine records, exactly as the
    row path would: rows the feature set's columnar checks cannot prove valid are validated by its row model
    (which words their errors), and ``unique_key`` duplicates are quarantined after their first occurrence.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    codec = feature_set.columnar
    assert codec is not None
    normalized, ok = codec.validate(columns)
    ok_indices = pc.indices_nonzero(ok) if normalized is not None else pa.array([], pa.uint64())
    bad_indices: list[int] = (
        pc.indices_nonzero(pc.invert(ok)).to_pylist() if normalized is not None else list(range(columns.num_rows))
    )
    rejected: dict[int, list[dict[str, Any]]] = {}
    slow_models: list[Any] = []
    slow_indices: list[int] = []
    raw_of: dict[int, dict[str, Any]] = {}
    if bad_indices:
        validate = feature_set.row_model.model_validate
        for index, data in zip(bad_indices, columns.take(bad_indices).to_pylist(), strict=True):
            raw_of[index] = data
            try:
                slow_models.append(validate(data))
            except ValidationError as exc:
                rejected[index] = [
                    {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
                    for err in exc.errors(include_url=False, include_context=False, include_input=False)
                ]
                continue
            slow_indices.append(index)

    key = feature_set.unique_key
    # The common case: every valid row was proven in columns and none repeats the key: nothing is copied here.
    if (
        normalized is not None
        and not slow_models
        and len(ok_indices)
        and (not key or pc.count_distinct(normalized[key].take(ok_indices)).as_py() == len(ok_indices))
    ):
        quarantined = [
            _quarantine_record(RawRow(index + 1, index + 2, raw_of[index]), rejected[index], lineage)
            for index in sorted(rejected)
        ]
        return codec.build_table(normalized, context, ok_indices), quarantined

    parts = []
    if normalized is not None and len(ok_indices):
        parts.append((normalized.filter(ok), ok_indices.cast(pa.int64())))
    if slow_models:
        parts.append((codec.from_models(slow_models), pa.array(slow_indices, pa.int64())))
    valid: pa.Table | None = None
    if parts:
        valid = pa.concat_tables([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        indices = pa.chunked_array([p[1] for p in parts]).combine_chunks()
        if len(parts) > 1:  # back to input order, so "first occurrence" means the same as row by row
            order = pc.sort_indices(indices)
            valid, indices = valid.take(order), indices.take(order)
        if key and pc.count_distinct(valid[key]).as_py() != valid.num_rows:
            seen: dict[Any, int] = {}
            keep: list[bool] = []
            duplicates: list[tuple[int, Any]] = []
            for index, value in zip(indices.to_pylist(), valid[key].to_pylist(), strict=True):
                if value in seen:
                    duplicates.append((index, value))
                    keep.append(False)
                    continue
                seen[value] = index + 1
                keep.append(True)
            dup_raw = columns.take([i for i, _ in duplicates]).to_pylist()
            for (index, value), data in zip(duplicates, dup_raw, strict=True):
                raw_of[index] = data
                rejected[index] = [
                    {
                        "loc": [key],
                        "msg": f"duplicate {key} {value!r} (first at row {seen[value]})",
                        "type": "duplicate",
                    }
                ]
            valid = valid.filter(pa.array(keep))
    quarantined = [
        _quarantine_record(RawRow(index + 1, index + 2, raw_of[index]), rejected[index], lineage)
        for index in sorted(rejected)
    ]
    if valid is None or valid.num_rows == 0:
        return None, quarantined
    return codec.build_table(valid, context, None), quarantined


def partition_table(table: pa.Table, timestamp_column: str) -> list[tuple[str, pa.Table]]:
    """Split ``table`` by the UTC date of ``timestamp_column``: sorted ``[("YYYY-MM-DD", slice), ...]``."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    micros = table[timestamp_column].cast("int64")
    days = pc.floor(pc.divide(pc.cast(micros, "float64"), float(_MICROS_PER_DAY))).cast("int64")
    result = []
    for day in sorted(pc.unique(days).to_pylist()):
        day_str = (_EPOCH + timedelta(days=int(day))).isoformat()
        result.append((day_str, table.filter(pc.equal(days, day))))
    return result


def to_parquet(table: pa.Table, lineage: Lineage) -> bytes:
    """Serialise ``table`` as Parquet (zstd), embedding the lineage JSON under the ``lineage`` key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = dict(table.schema.metadata or {})
    metadata[b"lineage"] = json.dumps(lineage.as_dict(), sort_keys=True).encode()
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(metadata), sink, compression=PARQUET_COMPRESSION)
    return bytes(sink.getvalue().to_pybytes())


def transform(
    key: str, payload: bytes, feature_set: FeatureSet, lineage: Lineage, created_timestamp: datetime
) -> Transformed:
    """Decode, validate and featurise one object's bytes; nothing is read from or written to S3.

    Raises:
        preprocessing.readers.UnreadableObjectError: the object as a whole cannot be decoded.
    """
    context = BuildContext(created_timestamp=created_timestamp.astimezone(UTC))
    table: pa.Table | None = None
    columns = None
    if feature_set.columnar is not None:
        input_format, is_gzip = detect_format(key, payload)
        if input_format is InputFormat.CSV:
            columns = read_csv_table(payload, is_gzip=is_gzip)
    if columns is not None:
        input_format = InputFormat.CSV
        rows_input = columns.num_rows
        table, quarantined = validate_columns(feature_set, columns, lineage, context)
    else:
        input_format, rows = read_rows(key, payload)
        rows_input = len(rows)
        valid, quarantined = validate_rows(feature_set, rows, lineage)
        if valid:
            table = feature_set.build(valid, context)
    partitions: list[PartitionFile] = []
    if table is not None and table.num_rows:
        days = partition_table(table, feature_set.event_timestamp)
        # Each partition is encoded on its own (Arrow releases the GIL), so several use the function's vCPUs.
        if len(days) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(len(days), os.cpu_count() or 1)) as pool:
                bodies = list(pool.map(lambda day: to_parquet(day[1], lineage), days))
        else:
            bodies = [to_parquet(part, lineage) for _, part in days]
        for (day, part), body in zip(days, bodies, strict=True):
            partitions.append(PartitionFile(partition=f"dt={day}", rows=part.num_rows, body=body))
    result = Transformed(input_format.value, rows_input, partitions, quarantined)
    if result.rows_valid + len(quarantined) != rows_input:  # pragma: no cover - invariant guard
        raise AssertionError(f"row accounting broken: {result.rows_valid} + {len(quarantined)} != {rows_input}")
    return result


def check_source(source: SourceObject, settings: Settings) -> None:
    """Reject objects outside ``LANDING_BUCKET``/``LANDING_PREFIX`` (the role could not read them anyway).

    Raises:
        WrongSourceError: bucket or key prefix differs.
    """
    if source.bucket != settings.landing_bucket:
        raise WrongSourceError(f"{source.uri}: bucket is not the landing bucket {settings.landing_bucket!r}")
    if not any(k.startswith(settings.landing_prefix) for k in source.key_candidates()):
        raise WrongSourceError(f"{source.uri}: key is not under LANDING_PREFIX {settings.landing_prefix!r}")


def manifest_key_for(settings: Settings, lineage: Lineage) -> str:
    """``<MANIFEST_PREFIX><stem>-<digest>.json``."""
    return f"{settings.manifest_prefix}{lineage.base_name}.json"


def process_object(
    source: SourceObject, *, settings: Settings, feature_set: FeatureSet, client: S3Client
) -> ObjectResult:
    """Process one landing object version end to end, idempotently.

    Raises:
        WrongSourceError, preprocessing.storage.SourceObjectNotFoundError,
        preprocessing.storage.SourceObjectChangedError, preprocessing.readers.UnreadableObjectError,
        botocore.exceptions.ClientError: the message must be retried (and eventually dead-lettered).
    """
    check_source(source, settings)
    lineage = Lineage(
        source_bucket=source.bucket,
        source_key=source.key,
        source_version_id=source.version_id,
        source_etag=source.etag,
        feature_set=feature_set.name,
        schema_version=feature_set.schema_version,
        code_version=settings.code_version,
    )
    base_name = lineage.base_name
    manifest_key = manifest_key_for(settings, lineage)
    if object_exists(client, settings.feature_bucket, manifest_key):
        return ObjectResult(status="duplicate", source_uri=source.uri, manifest_key=manifest_key)

    fetched = fetch_source_object(client, source)
    if fetched.key != source.key:
        lineage = replace(lineage, source_key=fetched.key)
    lineage = replace(lineage, source_version_id=lineage.source_version_id or fetched.version_id)
    result = transform(fetched.key, fetched.body, feature_set, lineage, fetched.last_modified)

    bucket = settings.feature_bucket
    written = 0
    outputs: list[dict[str, Any]] = []
    for part in result.partitions:
        out_key = f"{settings.feature_prefix}{part.partition}/{base_name}.parquet"
        metadata = lineage.s3_metadata(**{"row-count": str(part.rows), "content-sha256": part.sha256})
        written += put_if_absent(
            client,
            bucket,
            out_key,
            part.body,
            content_type="application/vnd.apache.parquet",
            metadata=metadata,
        )
        outputs.append({"key": out_key, "partition": part.partition, "rows": part.rows, "sha256": part.sha256})

    quarantine_key = None
    if result.quarantined:
        quarantine_key = f"{settings.quarantine_prefix}{base_name}.jsonl"
        body = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in result.quarantined).encode()
        metadata = lineage.s3_metadata(**{"row-count": str(len(result.quarantined))})
        written += put_if_absent(
            client, bucket, quarantine_key, body, content_type="application/x-ndjson", metadata=metadata
        )

    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "lineage": lineage.as_dict(),
        "source": {
            "bucket": source.bucket,
            "key": fetched.key,
            "version_id": lineage.source_version_id,
            "etag": source.etag,
            "size": fetched.content_length,
            "last_modified": fetched.last_modified.astimezone(UTC).isoformat(),
            "sequencer": source.sequencer,
        },
        "feature_set": {
            "name": feature_set.name,
            "schema_version": feature_set.schema_version,
            "entity_key": feature_set.entity_key,
            "event_timestamp": feature_set.event_timestamp,
            "created_timestamp": feature_set.created_timestamp,
        },
        "input_format": result.input_format,
        "rows": {
            "input": result.rows_input,
            "valid": result.rows_valid,
            "quarantined": len(result.quarantined),
        },
        "outputs": outputs,
        "quarantine": None if quarantine_key is None else {"key": quarantine_key, "rows": len(result.quarantined)},
    }
    committed = put_if_absent(
        client,
        bucket,
        manifest_key,
        json.dumps(manifest, sort_keys=True, indent=2).encode(),
        content_type="application/json",
        metadata=lineage.s3_metadata(),
    )
    return ObjectResult(
        status="processed" if committed else "duplicate",
        source_uri=source.uri,
        manifest_key=manifest_key,
        rows_input=result.rows_input,
        rows_valid=result.rows_valid,
        rows_quarantined=len(result.quarantined),
        output_keys=[o["key"] for o in outputs],
        quarantine_key=quarantine_key,
        objects_written=written + committed,
    )
