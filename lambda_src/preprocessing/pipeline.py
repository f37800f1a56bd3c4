"""The per-object pipeline: read -> validate -> features -> Parquet partitions -> write once + manifest.

:func:`transform` is the pure, S3-free part (bytes in, Parquet bytes and quarantine records out);
:func:`process_object` wraps it with the reads, write-once puts and the manifest that commits the object.

Write order is outputs, quarantine, then the manifest. The manifest is the commit marker: if it exists the
object version was fully processed and a redelivery is a no-op; if a previous attempt died before it, the
retry finds its outputs already written (same deterministic keys, put-if-absent) and completes the commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from preprocessing.feature_sets import BuildContext, FeatureSet
from preprocessing.lineage import Lineage
from preprocessing.readers import (
    DEFAULT_BATCH_BYTES,
    ByteStream,
    ColumnBatch,
    InputFormat,
    RawRow,
    RowBatch,
    iter_batches,
)
from preprocessing.spill import Buckets, Runs, bucket_ids, split_by
from preprocessing.storage import (
    OpenedObject,
    object_exists,
    open_source_object,
    put_file_if_absent,
    put_if_absent,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from mypy_boto3_s3 import S3Client

    from preprocessing.config import Settings
    from preprocessing.events import SourceObject

MANIFEST_VERSION = 1
PARQUET_COMPRESSION = "zstd"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
#: Objects whose decoded size is estimated at most this are processed in memory, in one batch (as before
#: streaming). Defaults to 32 MiB; larger objects stream through buckets in a scratch directory.
IN_MEMORY_BYTES = 32 * 2**20
#: Decoded input bytes per bucket when streaming: what memory holds at once besides a batch (4 MiB).
BUCKET_BYTES = 4 * 2**20
#: Most buckets (open files) one object is spread over: Lambda allows 1,024 file descriptors
#: (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). Objects above
#: ``MAX_BUCKETS * BUCKET_BYTES`` (2 GiB) get larger buckets, so their memory grows slowly with their size.
MAX_BUCKETS = 512
#: Assumed expansion of a gzip object when estimating its decoded size (CSV/JSON text compresses 4-8x).
GZIP_EXPANSION = 8
#: Rows per Parquet row group when streaming (65,536, ~10 MB buffered; pyarrow's default, 1,048,576, is ~150 MB).
ROW_GROUP_ROWS = 65_536
_EPOCH = date(1970, 1, 1)
_T = TypeVar("_T")
_R = TypeVar("_R")
_MICROS_PER_DAY = 86_400_000_000


class WrongSourceError(ValueError):
    """The event names an object outside the landing bucket/prefix this function is subscribed to."""


@dataclass(frozen=True)
class PartitionFile:
    """One Parquet file of the output, for one ``dt=`` partition."""

    partition: str
    rows: int
    body: bytes | None = field(default=None, repr=False)
    path: Path | None = None

    @property
    def size(self) -> int:
        """Bytes in the file."""
        return len(self.body) if self.body is not None else self.path.stat().st_size if self.path else 0

    @property
    def sha256(self) -> str:
        """Hex sha256 of the file's bytes (``body``, or the file at ``path``)."""
        if self.body is not None:
            return hashlib.sha256(self.body).hexdigest()
        assert self.path is not None
        with self.path.open("rb") as source:
            return hashlib.file_digest(source, "sha256").hexdigest()


@dataclass
class Transformed:
    """Result of :func:`transform`: Parquet partitions plus the rejected rows, with row accounting.

    The quarantine is either ``quarantined`` (in memory) or the JSON Lines file ``quarantine_path`` (when
    :func:`stream_transform` had a ``workdir``); ``quarantine_rows`` counts it either way.
    """

    input_format: str
    rows_input: int
    partitions: list[PartitionFile]
    quarantined: list[dict[str, Any]]
    quarantine_path: Path | None = None
    quarantine_rows: int = -1

    def __post_init__(self) -> None:
        if self.quarantine_rows < 0:
            self.quarantine_rows = len(self.quarantined)

    @property
    def rows_valid(self) -> int:
        """Rows written to Parquet."""
        return sum(p.rows for p in self.partitions)

    @property
    def rows_quarantined(self) -> int:
        """Rows written to the quarantine."""
        return self.quarantine_rows


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


def _day_slices(table: pa.Table, timestamp_column: str) -> list[tuple[str, pa.Table]]:
    """:func:`partition_table` for a table sorted by ``timestamp_column``: zero-copy slices."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    micros = table[timestamp_column].cast("int64")
    days = pc.floor(pc.divide(pc.cast(micros, "float64"), float(_MICROS_PER_DAY))).cast("int64")
    result = []
    start = 0
    for entry in pc.value_counts(days).to_pylist():  # in order of appearance: ascending
        result.append(
            ((_EPOCH + timedelta(days=int(entry["values"]))).isoformat(), table.slice(start, entry["counts"]))
        )
        start += entry["counts"]
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
    key: str,
    payload: bytes,
    feature_set: FeatureSet,
    lineage: Lineage,
    created_timestamp: datetime,
    *,
    batch_bytes: int | None = None,
    buckets: int = 1,
) -> Transformed:
    """Decode, validate and featurise one object's bytes in memory; nothing is read from or written to S3.

    ``batch_bytes`` and ``buckets`` are :func:`stream_transform`'s (``batch_bytes`` defaults to the whole
    object: one batch); the result does not depend on them.

    Raises:
        preprocessing.readers.UnreadableObjectError: the object as a whole cannot be decoded.
    """
    batch = batch_bytes or max(len(payload) // 2 + 1, DEFAULT_BATCH_BYTES)  # two batches validate in parallel
    return stream_transform(
        key, io.BytesIO(payload), feature_set, lineage, created_timestamp, batch_bytes=batch, buckets=buckets
    )


_INDEX = "__index"
_LINE = "__line"
_JSON = "__json"


def _rejection(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in errors]


def _validate_column_batch(
    feature_set: FeatureSet, batch: ColumnBatch, lineage: Lineage
) -> tuple[list[pa.Table], list[dict[str, Any]]]:
    """Valid rows (normalized layout plus ``__index``/``__line``) and quarantine records of one CSV batch.

    Rows the feature set's columnar checks cannot prove valid are validated by its row model (which words
    their errors). Duplicates of ``unique_key`` are left in: they are only known over the whole object.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    codec = feature_set.columnar
    assert codec is not None
    columns, start = batch.table, batch.start
    normalized, ok = codec.validate(columns)
    parts: list[pa.Table] = []
    if normalized is not None:
        ok = ok.combine_chunks() if isinstance(ok, pa.ChunkedArray) else ok
        valid_count = pc.sum(ok).as_py() or 0
        bad_indices: list[int] = (
            [] if valid_count == columns.num_rows else pc.indices_nonzero(pc.invert(ok)).to_pylist()
        )
        if valid_count == columns.num_rows:
            fast = normalized
            index = _arange(start, columns.num_rows)
        else:
            fast = normalized.filter(ok)
            index = pc.add(pc.indices_nonzero(ok).cast(pa.int64()), start)
        if valid_count:
            parts.append(fast.append_column(_INDEX, index).append_column(_LINE, pc.add(index, 2)))
    else:
        bad_indices = list(range(columns.num_rows))
    quarantined: list[dict[str, Any]] = []
    if bad_indices:
        validate = feature_set.row_model.model_validate
        models: list[Any] = []
        model_indices: list[int] = []
        for local, data in zip(bad_indices, columns.take(bad_indices).to_pylist(), strict=True):
            index = start + local
            try:
                models.append(validate(data))
            except ValidationError as exc:
                errors = exc.errors(include_url=False, include_context=False, include_input=False)
                row = RawRow(index + 1, index + 2, data)
                quarantined.append(_quarantine_record(row, _rejection(errors), lineage))
                continue
            model_indices.append(index)
        if models:
            indices = pa.array(model_indices, pa.int64())
            parts.append(
                codec.from_models(models).append_column(_INDEX, indices).append_column(_LINE, pc.add(indices, 2))
            )
    return parts, quarantined


def _validate_row_batch(
    feature_set: FeatureSet, batch: RowBatch, lineage: Lineage
) -> tuple[list[pa.Table], list[dict[str, Any]], list[tuple[int, dict[str, Any]]]]:
    """As :func:`_validate_column_batch` for the row readers' records; also the valid rows' raw data."""
    import pyarrow as pa

    codec = feature_set.columnar
    assert codec is not None
    validate = feature_set.row_model.model_validate
    models: list[Any] = []
    indices: list[int] = []
    lines: list[int] = []
    raw: list[tuple[int, dict[str, Any]]] = []
    quarantined: list[dict[str, Any]] = []
    for row in batch.rows:
        if row.data is None:
            decode = [{"loc": ["row"], "msg": row.decode_error or "undecodable", "type": "decode_error"}]
            quarantined.append(_quarantine_record(row, decode, lineage))
            continue
        try:
            models.append(validate(row.data))
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            quarantined.append(_quarantine_record(row, _rejection(errors), lineage))
            continue
        indices.append(row.row_number - 1)
        lines.append(row.line)
        raw.append((row.row_number - 1, row.data))
    parts = []
    if models:
        table = codec.from_models(models)
        parts.append(
            table.append_column(_INDEX, pa.array(indices, pa.int64())).append_column(_LINE, pa.array(lines, pa.int64()))
        )
    return parts, quarantined, raw


def _arange(start: int, count: int) -> pa.Array:
    """``start, start + 1, ..., start + count - 1`` as int64 (without a Python list)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ones = pa.repeat(pa.scalar(1, pa.int64()), count)
    return pc.add(pc.cumulative_sum(ones), start - 1) if count else pa.array([], pa.int64())


class _RawStore:
    """The raw data of valid rows, for the quarantine records of ``unique_key`` duplicates (found last)."""

    def __init__(self, directory: Path | None) -> None:
        self._columns = Buckets(1, directory, "raw-columns")
        self._starts: list[tuple[int, int, int]] = []  # (first index, rows, position in the stored table)
        self._stored = 0
        self._rows = Buckets(1, directory, "raw-rows")

    def add_columns(self, batch: ColumnBatch) -> None:
        """Keep a CSV batch's string columns."""
        self._starts.append((batch.start, batch.table.num_rows, self._stored))
        self._stored += batch.table.num_rows
        self._columns.add(0, batch.table)

    def add_rows(self, raw: list[tuple[int, dict[str, Any]]]) -> None:
        """Keep ``(index, data)`` of valid rows from the row readers."""
        import pyarrow as pa

        if raw:
            self._rows.add(
                0,
                pa.table(
                    {
                        _INDEX: pa.array([i for i, _ in raw], pa.int64()),
                        _JSON: pa.array([json.dumps(d) for _, d in raw], pa.string()),
                    }
                ),
            )

    def get(self, indices: list[int]) -> dict[int, dict[str, Any]]:
        """``{index: raw data}`` for ``indices`` (call once, at the end)."""
        import bisect

        import pyarrow as pa
        import pyarrow.compute as pc

        self._columns.close()
        self._rows.close()
        found: dict[int, dict[str, Any]] = {}
        columns = self._columns.read(0)
        if columns is not None:
            firsts = [s[0] for s in self._starts]
            hits: list[tuple[int, int]] = []
            for index in indices:
                at = bisect.bisect_right(firsts, index) - 1
                if at >= 0 and index < self._starts[at][0] + self._starts[at][1]:
                    hits.append((index, self._starts[at][2] + index - self._starts[at][0]))
            taken = columns.take([position for _, position in hits]).to_pylist()
            found.update((index, data) for (index, _), data in zip(hits, taken, strict=True))
        rows = self._rows.read(0)
        if rows is not None:
            wanted = pa.array(indices, pa.int64())
            picked = rows.filter(pc.is_in(rows[_INDEX], value_set=wanted))
            for index, text in zip(picked[_INDEX].to_pylist(), picked[_JSON].to_pylist(), strict=True):
                found[index] = json.loads(text)
        return found


def _find_duplicates(table: pa.Table, key: str) -> tuple[pa.Table, list[tuple[int, int, Any, int]]]:
    """Drop the rows repeating ``key`` after its first occurrence (in input order).

    Returns the kept rows and ``(index, line, value, first row number)`` of each dropped row.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table[key]
    # Hashing into the unique values is several times faster than count_distinct's kernel (profiled: it
    # was a fifth of a 100k-row transform); a null would count as a value here, hence the null check.
    if column.null_count == 0 and len(pc.unique(column)) == table.num_rows:
        return table, []
    table = table.take(pc.sort_indices(table[_INDEX]))
    seen: dict[Any, int] = {}
    keep: list[bool] = []
    duplicates: list[tuple[int, int, Any, int]] = []
    for index, line, value in zip(
        table[_INDEX].to_pylist(), table[_LINE].to_pylist(), table[key].to_pylist(), strict=True
    ):
        if value in seen:
            duplicates.append((index, line, value, seen[value]))
            keep.append(False)
            continue
        seen[value] = index + 1
        keep.append(True)
    return table.filter(pa.array(keep)), duplicates


class _PartitionWriter:
    """Writes globally sorted feature rows into one Parquet file per ``dt=`` partition, one file at a time.

    ``row_group_rows`` bounds the rows buffered before a row group is written; ``None`` buffers a whole
    partition and writes it as :func:`to_parquet` does (same bytes).
    """

    def __init__(self, lineage: Lineage, timestamp_column: str, directory: Path | None, row_group_rows: int | None):
        self._lineage = lineage
        self._column = timestamp_column
        self._directory = directory
        self._row_group_rows = row_group_rows
        self._day: str | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._rows = 0
        self._writer: Any = None
        self._sink: Any = None
        self.partitions: list[PartitionFile] = []

    def add(self, table: pa.Table) -> None:
        """Append rows sorted after every row added before."""
        for day, part in _day_slices(table, self._column):
            if day != self._day:
                self._finish()
                self._day = day
            self._buffer.append(part)
            self._buffered += part.num_rows
            while self._row_group_rows is not None and self._buffered >= self._row_group_rows:
                self._flush(self._row_group_rows)

    def _flush(self, rows: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffered = pa.concat_tables(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        group, rest = buffered.slice(0, rows), buffered.slice(rows)
        group = group.combine_chunks()
        metadata = dict(group.schema.metadata or {})
        metadata[b"lineage"] = json.dumps(self._lineage.as_dict(), sort_keys=True).encode()
        group = group.replace_schema_metadata(metadata)
        if self._writer is None:
            if self._directory is None:
                self._sink = pa.BufferOutputStream()
            else:
                self._sink = pa.OSFile(str(self._directory / f"dt={self._day}.parquet"), "wb")
            self._writer = pq.ParquetWriter(self._sink, group.schema, compression=PARQUET_COMPRESSION)
        self._writer.write_table(group)
        self._rows += group.num_rows
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows

    def _finish(self) -> None:
        if self._day is None:
            return
        if self._buffered:
            self._flush(self._buffered)
        self._writer.close()
        partition = f"dt={self._day}"
        if self._directory is None:
            body = bytes(self._sink.getvalue().to_pybytes())
            self.partitions.append(PartitionFile(partition=partition, rows=self._rows, body=body))
        else:
            self._sink.close()
            path = self._directory / f"{partition}.parquet"
            self.partitions.append(PartitionFile(partition=partition, rows=self._rows, path=path))
        self._writer = self._sink = self._day = None
        self._rows = 0

    def close(self) -> list[PartitionFile]:
        """Finish the last partition; the partitions in ``dt`` order."""
        self._finish()
        return self.partitions


def stream_transform(
    key: str,
    stream: ByteStream,
    feature_set: FeatureSet,
    lineage: Lineage,
    created_timestamp: datetime,
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    buckets: int = 1,
    workdir: Path | None = None,
    row_group_rows: int | None = None,
) -> Transformed:
    """:func:`transform` for an object read from ``stream`` in batches, with memory bounded by the batch.

    1. Read ``batch_bytes`` of records at a time (:func:`preprocessing.readers.iter_batches`); validate them
       (invalid rows go to the quarantine) and append the valid, normalized rows to ``buckets`` buckets by
       a hash of ``unique_key``.
    2. Per bucket: drop the later repeats of ``unique_key`` (quarantined) and re-bucket the rows by
       ``entity_key``.
    3. Per bucket: build the features (``ColumnarCodec.build_table`` depends only on the rows of one entity,
       so a bucket holding whole entities gets exactly its rows' features) into a sorted run.
    4. Merge the runs in output order and write each ``dt=`` partition as it completes.

    ``buckets`` defaults to 1: everything in one bucket (objects that fit in memory). With ``workdir``,
    buckets, runs and outputs are files there (``PartitionFile.path``, ``Transformed.quarantine_path``)
    and a bucket is what memory holds; otherwise they stay in memory. ``row_group_rows`` defaults to
    ``None``: one row group per partition file (as :func:`to_parquet`); with a number, row groups of at most
    that many rows, so a partition larger than memory can be written. Outputs are identical whatever
    ``batch_bytes`` and ``buckets`` are.

    Raises:
        preprocessing.readers.UnreadableObjectError: the object as a whole cannot be decoded.
    """
    context = BuildContext(created_timestamp=created_timestamp.astimezone(UTC))
    input_format, _, batches = iter_batches(key, stream, batch_bytes=batch_bytes)
    codec = feature_set.columnar
    if codec is None:
        return _transform_rows(input_format, batches, feature_set, lineage, context)
    time_sorted = codec.sort_keys[:1] == (feature_set.event_timestamp,)
    if not time_sorted:  # groups could not be merged partition by partition
        buckets, workdir, row_group_rows = 1, None, None
    by_key = Buckets(buckets, workdir, "valid")
    raw = _RawStore(workdir)
    rejected = _Quarantine(workdir, "rejected")
    rows_input = 0
    key_column = feature_set.unique_key
    release = _releaser(workdir is not None)

    def validate(batch: ColumnBatch | RowBatch) -> tuple[list[pa.Table], list[dict[str, Any]], Any]:
        if isinstance(batch, ColumnBatch):
            return (*_validate_column_batch(feature_set, batch, lineage), None)
        return _validate_row_batch(feature_set, batch, lineage)

    for batch, (parts, quarantined, raw_rows) in _overlapped(validate, batches):
        release()
        if isinstance(batch, ColumnBatch):
            rows_input += batch.table.num_rows
            if key_column:
                raw.add_columns(batch)
        else:
            rows_input += len(batch.rows)
            if key_column:
                raw.add_rows(raw_rows)
        rejected.extend(quarantined)
        for part in parts:
            if buckets == 1 or not key_column:
                by_key.add(0, part)
            else:
                for bucket, piece in split_by(part, bucket_ids(part[key_column], buckets)):
                    by_key.add(bucket, piece)
    by_key.close()

    by_entity = Buckets(buckets, workdir, "entity")
    duplicates: list[tuple[int, int, Any, int]] = []
    for bucket in range(buckets):
        release()
        table = by_key.read(bucket)
        if table is None:
            continue
        if key_column:
            table, found = _find_duplicates(table, key_column)
            duplicates += found
        if buckets == 1:
            by_entity.add(0, table)
        else:
            for target, piece in split_by(table, bucket_ids(table[feature_set.entity_key], buckets)):
                by_entity.add(target, piece)
    by_entity.close()

    runs = Runs(workdir)
    for bucket in range(buckets):
        release()
        table = by_entity.read(bucket)
        if table is not None:
            runs.add(codec.build_table(table.drop_columns([_INDEX, _LINE]), context, None))

    partitions: list[PartitionFile]
    if len(runs) == 1 and workdir is None and row_group_rows is None:
        (table,) = (next(run) for run in runs.iterators())
        partitions = _encode_partitions(table, feature_set.event_timestamp, lineage, time_sorted=time_sorted)
    else:
        writer = _PartitionWriter(lineage, feature_set.event_timestamp, workdir, row_group_rows)
        for piece in runs.merged(codec.sort_keys):
            release()
            writer.add(piece)
        partitions = writer.close()

    duplicates.sort()
    raw_of = raw.get([d[0] for d in duplicates]) if duplicates else {}
    quarantine = rejected.merged(
        (
            index,
            _quarantine_record(
                RawRow(index + 1, line, raw_of[index]),
                [
                    {
                        "loc": [key_column],
                        "msg": f"duplicate {key_column} {value!r} (first at row {first})",
                        "type": "duplicate",
                    }
                ],
                lineage,
            ),
        )
        for index, line, value, first in duplicates
    )
    result = Transformed(input_format.value, rows_input, partitions, *quarantine)
    if result.rows_valid + result.rows_quarantined != rows_input:  # pragma: no cover - invariant guard
        raise AssertionError(f"row accounting broken: {result.rows_valid} + {result.rows_quarantined} != {rows_input}")
    return result


def _overlapped(fn: Callable[[_T], _R], items: Iterable[_T]) -> Iterator[tuple[_T, _R]]:
    """``(item, fn(item))`` in order, with ``fn`` running on two threads while the next item is produced.

    Arrow's kernels release the GIL, so reading one batch and validating two overlap on the function's
    vCPUs; at most two batches are in flight (memory stays bounded by the batch).
    """
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        window: deque[tuple[_T, Future[_R]]] = deque()
        for item in items:
            window.append((item, pool.submit(fn, item)))
            if len(window) >= 2:
                done, future = window.popleft()
                yield done, future.result()
        while window:
            done, future = window.popleft()
            yield done, future.result()


def _releaser(active: bool) -> Callable[[], None]:
    """A call that returns the memory Arrow's allocator keeps cached to the OS (``MemoryPool.release_unused``),
    so the streaming path's resident memory tracks what it holds, not its high-water mark per thread.

    When ``active`` (spilling), Arrow's default pool becomes jemalloc if this pyarrow has it: measured with
    bench/bench_large_object.py, mimalloc (pyarrow's default) keeps ~60 MB more resident for the same
    allocations. Process-wide from then on; both are Arrow's own allocators.
    """
    if not active:
        return lambda: None
    import pyarrow as pa

    with contextlib.suppress(NotImplementedError):  # pyarrow built without jemalloc
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    pool = pa.default_memory_pool()
    calls = itertools.count()

    def release() -> None:  # purging is not free: every 16th call (batch, bucket or merge step)
        if next(calls) % 16 == 0:
            pool.release_unused()

    return release


class _Quarantine:
    """Quarantine records in row order: in memory, or as the JSON Lines body in a file under ``workdir``."""

    def __init__(self, directory: Path | None, name: str) -> None:
        self._directory = directory
        self._records: list[dict[str, Any]] = []
        self._path = None if directory is None else directory / f"{name}.jsonl"
        self._file = None if self._path is None else self._path.open("w", encoding="utf-8")
        self.count = 0

    def extend(self, records: list[dict[str, Any]]) -> None:
        """Append records whose row numbers follow every record appended before."""
        self.count += len(records)
        if self._file is None:
            self._records.extend(records)
            return
        self._file.writelines(_quarantine_line(r) for r in records)

    def merged(self, later: Iterable[tuple[int, dict[str, Any]]]) -> tuple[list[dict[str, Any]], Path | None, int]:
        """``(records, path, count)``: these records with ``later`` (``(index, record)`` in index order)
        merged in row order; ``path`` is the JSON Lines file (``records`` empty) when there is a directory."""
        extra = list(later)
        count = self.count + len(extra)
        if self._file is None or self._path is None:
            if not extra:
                return self._records, None, count
            merged = sorted(self._records + [r for _, r in extra], key=lambda r: r["row_number"])
            return merged, None, count
        self._file.close()
        if count == 0:
            return [], None, 0
        path = self._path.with_name("quarantine.jsonl")
        with self._path.open(encoding="utf-8") as source, path.open("w", encoding="utf-8") as sink:
            pending = iter(extra)
            nxt = next(pending, None)
            for line in source:
                row_number = json.loads(line)["row_number"]
                while nxt is not None and nxt[0] + 1 < row_number:
                    sink.write(_quarantine_line(nxt[1]))
                    nxt = next(pending, None)
                sink.write(line)
            while nxt is not None:
                sink.write(_quarantine_line(nxt[1]))
                nxt = next(pending, None)
        self._path.unlink()
        return [], path, count


def _quarantine_line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, default=str) + "\n"


def _encode_partitions(
    table: pa.Table, timestamp_column: str, lineage: Lineage, *, time_sorted: bool = False
) -> list[PartitionFile]:
    """Every ``dt=`` partition of ``table`` as Parquet bytes (:func:`to_parquet`).

    ``time_sorted``: ``table`` is sorted by ``timestamp_column`` (partitions are then slices of it).
    """
    days = _day_slices(table, timestamp_column) if time_sorted else partition_table(table, timestamp_column)
    # Each partition is encoded on its own (Arrow releases the GIL), so several use the function's vCPUs.
    if len(days) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(days), os.cpu_count() or 1)) as pool:
            bodies = list(pool.map(lambda day: to_parquet(day[1], lineage), days))
    else:
        bodies = [to_parquet(part, lineage) for _, part in days]
    return [
        PartitionFile(partition=f"dt={day}", rows=part.num_rows, body=body)
        for (day, part), body in zip(days, bodies, strict=True)
    ]


def _transform_rows(
    input_format: InputFormat,
    batches: Iterable[ColumnBatch | RowBatch],
    feature_set: FeatureSet,
    lineage: Lineage,
    context: BuildContext,
) -> Transformed:
    """A feature set without a columnar codec: every row through its row model, the object in memory."""
    rows: list[RawRow] = []
    for batch in batches:
        if isinstance(batch, RowBatch):
            rows += batch.rows
        else:
            rows += [
                RawRow(batch.start + i + 1, batch.start + i + 2, data) for i, data in enumerate(batch.table.to_pylist())
            ]
    valid, quarantined = validate_rows(feature_set, rows, lineage)
    table = feature_set.build(valid, context) if valid else None
    partitions = (
        [] if table is None or not table.num_rows else _encode_partitions(table, feature_set.event_timestamp, lineage)
    )
    return Transformed(input_format.value, len(rows), partitions, quarantined, None, len(quarantined))


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
    manifest_key = manifest_key_for(settings, lineage)
    if object_exists(client, settings.feature_bucket, manifest_key):
        return ObjectResult(status="duplicate", source_uri=source.uri, manifest_key=manifest_key)

    opened = open_source_object(client, source)
    if opened.key != source.key:
        lineage = replace(lineage, source_key=opened.key)
    lineage = replace(lineage, source_version_id=lineage.source_version_id or opened.version_id)
    gzip_key = opened.key.lower().endswith((".gz", ".gzip"))
    estimate = opened.content_length * (GZIP_EXPANSION if gzip_key else 1)
    if estimate <= IN_MEMORY_BYTES:  # the common case: one batch, everything in memory
        result = stream_transform(
            opened.key,
            opened.stream,
            feature_set,
            lineage,
            opened.last_modified,
            batch_bytes=max(estimate * 2, DEFAULT_BATCH_BYTES),
        )
        return _commit(client, settings, feature_set, source, opened, lineage, result, manifest_key)
    with tempfile.TemporaryDirectory(prefix="preprocessing-") as workdir:
        result = stream_transform(
            opened.key,
            opened.stream,
            feature_set,
            lineage,
            opened.last_modified,
            buckets=min(-(-estimate // BUCKET_BYTES), MAX_BUCKETS),
            workdir=Path(workdir),
            row_group_rows=ROW_GROUP_ROWS,
        )
        return _commit(client, settings, feature_set, source, opened, lineage, result, manifest_key)


def _commit(
    client: S3Client,
    settings: Settings,
    feature_set: FeatureSet,
    source: SourceObject,
    opened: OpenedObject,
    lineage: Lineage,
    result: Transformed,
    manifest_key: str,
) -> ObjectResult:
    """Write the outputs, then the quarantine, then the manifest (the commit marker), each write-once."""
    base_name = lineage.base_name
    bucket = settings.feature_bucket
    written = 0
    outputs: list[dict[str, Any]] = []
    for part in result.partitions:
        out_key = f"{settings.feature_prefix}{part.partition}/{base_name}.parquet"
        sha256 = part.sha256
        metadata = lineage.s3_metadata(**{"row-count": str(part.rows), "content-sha256": sha256})
        if part.body is not None:
            written += put_if_absent(
                client, bucket, out_key, part.body, content_type=PARQUET_CONTENT_TYPE, metadata=metadata
            )
        else:
            assert part.path is not None
            written += put_file_if_absent(
                client, bucket, out_key, part.path, content_type=PARQUET_CONTENT_TYPE, metadata=metadata
            )
        outputs.append({"key": out_key, "partition": part.partition, "rows": part.rows, "sha256": sha256})

    quarantine_key = None
    if result.rows_quarantined:
        quarantine_key = f"{settings.quarantine_prefix}{base_name}.jsonl"
        metadata = lineage.s3_metadata(**{"row-count": str(result.rows_quarantined)})
        if result.quarantine_path is None:
            body = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in result.quarantined).encode()
            written += put_if_absent(
                client, bucket, quarantine_key, body, content_type="application/x-ndjson", metadata=metadata
            )
        else:
            written += put_file_if_absent(
                client,
                bucket,
                quarantine_key,
                result.quarantine_path,
                content_type="application/x-ndjson",
                metadata=metadata,
            )

    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "lineage": lineage.as_dict(),
        "source": {
            "bucket": source.bucket,
            "key": opened.key,
            "version_id": lineage.source_version_id,
            "etag": source.etag,
            "size": opened.content_length,
            "last_modified": opened.last_modified.astimezone(UTC).isoformat(),
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
            "quarantined": result.rows_quarantined,
        },
        "outputs": outputs,
        "quarantine": None if quarantine_key is None else {"key": quarantine_key, "rows": result.rows_quarantined},
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
        rows_quarantined=result.rows_quarantined,
        output_keys=[o["key"] for o in outputs],
        quarantine_key=quarantine_key,
        objects_written=written + committed,
    )
