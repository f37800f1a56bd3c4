"""Batch scoring: ``python -m inference_server batch [--date YYYY-MM-DD]``.

The same image that serves the model online scores one day of a feature set offline (the
``BatchScoringJob`` CronJob runs it with the argument ``batch``):

1. The model is loaded exactly like the server does it (:class:`~inference_server.repository.ModelRepository`
   with size/ETag verification into ``MODEL_CACHE_DIR``, execution provider chosen by
   :func:`~inference_server.model.choose_providers`).
2. ``s3://$FEATURE_BUCKET/${INPUT_PREFIX}dt=<date>/`` is listed (paginated). Every ``*.parquet`` object is an
   input, except keys with a path segment starting with ``_`` or ``.`` inside the partition (other dates
   and the feature set's ``_quarantine/``, ``_manifests/`` and ``_scores/`` prefixes are never listed).
3. Each input is read with ``GetObject(IfMatch=<listed ETag>)``, its feature columns are selected (see
   :func:`resolve_features`), cast to the model's input datatype and scored ``MAX_BATCH_SIZE`` rows per
   ONNX Runtime run, ``BATCH_CHUNK_ROWS`` rows at a time (read, score, encode), so memory is bounded by
   the object size plus one chunk.
4. One Parquet per input goes to ``s3://$FEATURE_BUCKET/${OUTPUT_PREFIX}dt=<date>/<input-stem>.parquet``
   with the entity key, the event timestamp, ``PASSTHROUGH_COLUMNS``, ``model_name``, ``model_version``
   and one column per model output (``<output>`` for ``[N]`` outputs, ``<output>_<i>`` for ``[N, C]``).
   Lineage (source key/ETag, model version/ETag, code version, row count, content SHA-256) is in the S3
   user metadata and, as JSON, in the Parquet schema metadata under ``lineage``.
5. Idempotency: the output key is deterministic. An existing output whose metadata records the same
   source ETag, model name and model version is left alone (the source is not even read); an output for
   another source ETag or model version is replaced with ``PutObject(IfMatch=<its ETag>)``; a new output
   is written with ``PutObject(IfNoneMatch="*")``. Last, ``${OUTPUT_PREFIX}dt=<date>/_manifest.json``
   (deterministic content: files, row counts, model, code version) is written unless an identical one is
   there already. It is the commit marker: it exists only when every input of the day was scored.

Exit status: 0 success (also when the partition holds no input: "nothing to score"), 1 runtime failure
(S3, a corrupt file, a model that cannot be loaded: the Job retries and the retry skips what is done),
2 configuration error (the message names the variable; no traceback).

Logs are JSON lines on stdout (``ts``, ``level``, ``logger``, ``message``, ``event`` and counts/timings).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import re
import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from inference_server import SERVER_NAME, __version__
from inference_server.config import ConfigError, S3Location, Settings
from inference_server.model import LoadedModel, ModelLoadError, TensorSpec, choose_providers
from inference_server.repository import MODEL_FILE, ModelRepository

LOG = logging.getLogger("inference_server.batch")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

DEFAULT_CHUNK_ROWS = 4096
DEFAULT_ENTITY_KEY = "account_id"
DEFAULT_EVENT_TIMESTAMP = "event_timestamp"
MANIFEST_NAME = "_manifest.json"
MODEL_NAME_COLUMN = "model_name"
MODEL_VERSION_COLUMN = "model_version"

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_PRECONDITION = frozenset({"412", "PreconditionFailed"})


class BatchError(RuntimeError):
    """A runtime failure of the batch (exit status 1): the Job retries it."""


# ---------------------------------------------------------------------------------------------------------
# Configuration


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def parse_batch_date(raw: str, source: str) -> date:
    """Parse ``YYYY-MM-DD``; raises :class:`ConfigError` naming ``source`` (``--date`` or ``BATCH_DATE``)."""
    value = raw.strip()
    if not _DATE_RE.match(value):
        raise ConfigError(f"{source} must be a date YYYY-MM-DD, got {raw!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{source} must be a valid date YYYY-MM-DD, got {raw!r}") from None


@dataclass(frozen=True)
class BatchSettings:
    """Validated batch-scoring settings.

    Attributes (environment variable, default):
        model: the model settings shared with the server (``MODEL_REPOSITORY``, ``MODEL_NAME``,
            ``MODEL_VERSION``, ``MODEL_CACHE_DIR``, ``ORT_EXECUTION_PROVIDERS``, ``MAX_BATCH_SIZE`` = rows
            per ONNX Runtime run, ``LOG_LEVEL``; see :class:`~inference_server.config.Settings`).
        feature_bucket: ``FEATURE_BUCKET`` (required), the feature-store bucket.
        input_prefix: ``INPUT_PREFIX`` (required), ``<feature_set>/``; partitions are ``dt=YYYY-MM-DD/``.
        output_prefix: ``OUTPUT_PREFIX`` (required), e.g. ``<feature_set>/_scores/<model>/``.
        feature_set: ``FEATURE_SET`` (default: the first segment of ``INPUT_PREFIX``); ``INPUT_PREFIX`` must
            start with ``<FEATURE_SET>/``.
        batch_date: ``--date`` or ``BATCH_DATE`` (default: yesterday, UTC).
        job_name: ``BATCH_JOB_NAME`` (default ``manual``), recorded in logs and lineage.
        chunk_rows: ``BATCH_CHUNK_ROWS`` (default ``4096``), rows read, scored and encoded at a time.
        feature_columns: ``FEATURE_COLUMNS`` (default: every numeric/boolean column except the entity key,
            the event timestamp and the passthrough columns, in file order), comma-separated, for models
            with a single ``[N, K]`` input.
        entity_key: ``ENTITY_KEY_COLUMN`` (default ``account_id``, the ``transactions`` feature set's).
        event_timestamp: ``EVENT_TIMESTAMP_COLUMN`` (default ``event_timestamp``).
        passthrough_columns: ``PASSTHROUGH_COLUMNS`` (default none), extra source columns copied to the
            output, e.g. ``transaction_id``.
        code_version: ``CODE_VERSION`` (default ``hybrid-ai-inference-server/<package version>``).
    """

    model: Settings
    feature_bucket: str
    input_prefix: str
    output_prefix: str
    feature_set: str
    batch_date: date
    job_name: str = "manual"
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    feature_columns: tuple[str, ...] | None = None
    entity_key: str = DEFAULT_ENTITY_KEY
    event_timestamp: str = DEFAULT_EVENT_TIMESTAMP
    passthrough_columns: tuple[str, ...] = ()
    code_version: str = f"{SERVER_NAME}/{__version__}"

    @property
    def input_partition(self) -> str:
        """``${INPUT_PREFIX}dt=<date>/``: the prefix listed for inputs."""
        return f"{self.input_prefix}dt={self.batch_date.isoformat()}/"

    @property
    def output_partition(self) -> str:
        """``${OUTPUT_PREFIX}dt=<date>/``: where the scores and the manifest go."""
        return f"{self.output_prefix}dt={self.batch_date.isoformat()}/"

    @property
    def manifest_key(self) -> str:
        """``${OUTPUT_PREFIX}dt=<date>/_manifest.json``."""
        return self.output_partition + MANIFEST_NAME

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], date_arg: str | None = None, now: datetime | None = None
    ) -> BatchSettings:
        """Build settings from ``env`` (and ``--date``); raises :class:`ConfigError` listing every problem.

        ``now`` (default: the current time) only matters when neither ``--date`` nor ``BATCH_DATE`` is set.
        """
        errors: list[str] = []
        model: Settings | None = None
        try:
            model = Settings.from_env(env)
        except ConfigError as exc:
            errors.append(str(exc).removeprefix("invalid inference server configuration: "))

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                errors.append(f"{name} is required")
            return value

        bucket = required("FEATURE_BUCKET")
        if bucket:
            try:
                S3Location.parse(f"s3://{bucket}")
            except ValueError:
                errors.append(f"FEATURE_BUCKET must be an S3 bucket name, got {bucket!r}")

        def prefix(name: str) -> str:
            value = required(name)
            if value and (not value.endswith("/") or value.startswith("/") or "//" in value):
                errors.append(f"{name} must be a key prefix ending in '/' without a leading '/', got {value!r}")
            return value

        input_prefix = prefix("INPUT_PREFIX")
        output_prefix = prefix("OUTPUT_PREFIX")
        if (
            input_prefix
            and output_prefix
            and (output_prefix == input_prefix or output_prefix.startswith(input_prefix + "dt="))
        ):
            errors.append(
                f"OUTPUT_PREFIX {output_prefix!r} must not be INPUT_PREFIX or lie inside its dt= partitions "
                f"(scores would become inputs); use e.g. {input_prefix}_scores/<model>/"
            )
        feature_set = env.get("FEATURE_SET", "").strip() or input_prefix.split("/", 1)[0]
        if input_prefix and not input_prefix.startswith(feature_set + "/"):
            errors.append(f"INPUT_PREFIX {input_prefix!r} must start with FEATURE_SET + '/' ({feature_set}/)")

        batch_date = date(1970, 1, 1)
        try:
            if date_arg is not None:
                batch_date = parse_batch_date(date_arg, "--date")
            elif env.get("BATCH_DATE", "").strip():
                batch_date = parse_batch_date(env["BATCH_DATE"], "BATCH_DATE")
            else:
                batch_date = ((now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=1)).date()
        except ConfigError as exc:
            errors.append(str(exc))

        chunk_raw = env.get("BATCH_CHUNK_ROWS", "").strip()
        chunk_rows = DEFAULT_CHUNK_ROWS
        if chunk_raw:
            try:
                chunk_rows = int(chunk_raw)
            except ValueError:
                errors.append(f"BATCH_CHUNK_ROWS must be an integer, got {chunk_raw!r}")
            else:
                if not 1 <= chunk_rows <= 1_048_576:
                    errors.append(f"BATCH_CHUNK_ROWS must be between 1 and 1048576, got {chunk_raw!r}")

        feature_columns: tuple[str, ...] | None = None
        if env.get("FEATURE_COLUMNS", "").strip():
            feature_columns = _csv(env["FEATURE_COLUMNS"])
            if len(set(feature_columns)) != len(feature_columns):
                errors.append(f"FEATURE_COLUMNS lists a column twice: {env['FEATURE_COLUMNS']!r}")
        entity_key = env.get("ENTITY_KEY_COLUMN", "").strip() or DEFAULT_ENTITY_KEY
        event_timestamp = env.get("EVENT_TIMESTAMP_COLUMN", "").strip() or DEFAULT_EVENT_TIMESTAMP
        passthrough = _csv(env.get("PASSTHROUGH_COLUMNS", ""))
        if entity_key == event_timestamp:
            errors.append("ENTITY_KEY_COLUMN and EVENT_TIMESTAMP_COLUMN must differ")
        reserved = {entity_key, event_timestamp, MODEL_NAME_COLUMN, MODEL_VERSION_COLUMN}
        if bad := sorted(reserved.intersection(passthrough)):
            errors.append(f"PASSTHROUGH_COLUMNS must not repeat {', '.join(bad)} (always written)")
        code_version = env.get("CODE_VERSION", "").strip() or f"{SERVER_NAME}/{__version__}"
        job_name = env.get("BATCH_JOB_NAME", "").strip() or "manual"

        if errors or model is None:
            raise ConfigError("invalid batch scoring configuration: " + "; ".join(errors))
        return cls(
            model=model,
            feature_bucket=bucket,
            input_prefix=input_prefix,
            output_prefix=output_prefix,
            feature_set=feature_set,
            batch_date=batch_date,
            job_name=job_name,
            chunk_rows=chunk_rows,
            feature_columns=feature_columns,
            entity_key=entity_key,
            event_timestamp=event_timestamp,
            passthrough_columns=passthrough,
            code_version=code_version,
        )


# ---------------------------------------------------------------------------------------------------------
# Feature selection and scoring


def _is_numeric(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_boolean(data_type))


@dataclass(frozen=True)
class FeatureMapping:
    """How a file's columns feed the model.

    ``matrix`` is the name of the single ``[N, K]`` input fed with ``columns`` in order, or ``None`` when
    every model input is fed from the column of the same name (``columns`` = the input names).
    """

    columns: tuple[str, ...]
    matrix: str | None = None


def resolve_features(model: LoadedModel, schema: pa.Schema, settings: BatchSettings, source: str) -> FeatureMapping:
    """Decide which columns of ``schema`` feed which model inputs; raises :class:`ConfigError`.

    * One input per feature column: every model input is named like a column and has shape ``[N]`` or
      ``[N, 1]``; each is fed from its column.
    * Otherwise the model must have a single ``[N, K]`` input, fed with ``FEATURE_COLUMNS`` in order or, when
      unset, every numeric/boolean column except the entity key, the event timestamp and the passthrough
      columns (file order). The count must equal ``K`` (any count when ``K`` is dynamic).
    """
    names = set(schema.names)
    for variable, column in (
        ("ENTITY_KEY_COLUMN", settings.entity_key),
        ("EVENT_TIMESTAMP_COLUMN", settings.event_timestamp),
    ):
        if column not in names:
            raise ConfigError(f"{variable} column {column!r} is not in {source} (columns: {', '.join(schema.names)})")
    if missing := [c for c in settings.passthrough_columns if c not in names]:
        raise ConfigError(f"PASSTHROUGH_COLUMNS names {', '.join(missing)}, not in {source}")

    inputs = model.inputs
    per_column = all(
        spec.name in names and (len(spec.shape) == 1 or (len(spec.shape) == 2 and spec.shape[1] in (1, -1)))
        for spec in inputs
    )
    if per_column and not (len(inputs) == 1 and settings.feature_columns is not None):
        for spec in inputs:
            _check_column_type(schema, spec.name, spec, "the feature set's schema")
        return FeatureMapping(columns=tuple(spec.name for spec in inputs))
    if len(inputs) != 1 or len(inputs[0].shape) != 2:
        described = ", ".join(f"{s.name} {list(s.shape)}" for s in inputs)
        raise ConfigError(
            f"model inputs ({described}) fit neither batch layout: one input per feature column (named like "
            f"columns of {source}, shape [N] or [N, 1]) or a single [N, K] input"
        )
    spec = inputs[0]
    width = spec.shape[1]
    if settings.feature_columns is not None:
        columns = settings.feature_columns
        if missing := [c for c in columns if c not in names]:
            raise ConfigError(f"FEATURE_COLUMNS names {', '.join(missing)}, not in {source}")
        chosen_by = f"FEATURE_COLUMNS names {len(columns)} ({', '.join(columns)})"
    else:
        excluded = {settings.entity_key, settings.event_timestamp, *settings.passthrough_columns}
        columns = tuple(f.name for f in schema if f.name not in excluded and _is_numeric(f.type))
        chosen_by = (
            f"{source} has {len(columns)} numeric columns besides the entity key, event timestamp and "
            f"passthrough columns ({', '.join(columns)}); set FEATURE_COLUMNS to the model's columns in order"
        )
    if not columns or (width != -1 and len(columns) != width):
        raise ConfigError(f"model input {spec.name!r} takes K={width} features per row but {chosen_by}")
    for column in columns:
        _check_column_type(schema, column, spec, "FEATURE_COLUMNS")
    return FeatureMapping(columns=columns, matrix=spec.name)


def _check_column_type(schema: pa.Schema, column: str, spec: TensorSpec, variable: str) -> None:
    data_type = schema.field(column).type
    ok = (
        (pa.types.is_string(data_type) or pa.types.is_large_string(data_type))
        if spec.datatype.is_bytes
        else (_is_numeric(data_type))
    )
    if not ok:
        raise ConfigError(
            f"column {column!r} ({data_type}) cannot feed model input {spec.name!r} ({spec.datatype.v2}); "
            f"check {variable}"
        )


def _column_values(column: pa.Array | pa.ChunkedArray, spec: TensorSpec, name: str) -> np.ndarray:
    """A column as a 1-D array of the input's dtype (nulls become NaN for floating inputs)."""
    dtype = spec.datatype.numpy
    if spec.datatype.is_bytes:
        return np.array(column.to_pylist(), dtype=object)
    if column.null_count:
        if dtype.kind != "f":
            raise BatchError(
                f"column {name!r} has {column.null_count} nulls; model input {spec.name!r} is "
                f"{spec.datatype.v2} (only floating-point inputs take nulls, as NaN)"
            )
        column = column.cast(pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False)).astype(dtype, copy=False)


def build_feeds(model: LoadedModel, mapping: FeatureMapping, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
    """Model inputs for every row of ``batch`` (dim 0 = rows), cast to the inputs' datatypes."""
    if mapping.matrix is not None:
        spec = model.input_by_name[mapping.matrix]
        matrix = np.empty((batch.num_rows, len(mapping.columns)), dtype=spec.datatype.numpy)
        for j, column in enumerate(mapping.columns):
            matrix[:, j] = _column_values(batch.column(column), spec, column)
        return {spec.name: matrix}
    feeds: dict[str, np.ndarray] = {}
    for spec in model.inputs:
        values = _column_values(batch.column(spec.name), spec, spec.name)
        feeds[spec.name] = values if len(spec.shape) == 1 else values.reshape(-1, 1)
    return feeds


def run_rows(model: LoadedModel, max_batch_size: int) -> tuple[int, bool]:
    """Rows per ONNX Runtime run and whether runs must be padded to exactly that many (fixed dim 0)."""
    fixed = {s.shape[0] for s in model.inputs if s.shape and s.shape[0] > 0}
    if len(fixed) == 1:
        return fixed.pop(), True
    return max_batch_size, False


def score(model: LoadedModel, feeds: dict[str, np.ndarray], rows: int, max_batch_size: int) -> dict[str, np.ndarray]:
    """Run the model over ``rows`` rows, at most ``max_batch_size`` (or the fixed dim 0) per run.

    Returns every output concatenated along dim 0. With zero rows a one-row probe of zeros gives the
    output shapes and datatypes, and empty arrays of those are returned.
    """
    names = [s.name for s in model.outputs]
    step, pad = run_rows(model, max_batch_size)
    if rows == 0:
        probe = {
            name: np.full((1, *value.shape[1:]), "" if value.dtype == object else 0, dtype=value.dtype)
            for name, value in feeds.items()
        }
        result = score(model, probe, 1, max_batch_size)
        return {name: value[:0] for name, value in result.items()}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, rows, step):
        count = min(step, rows - start)
        run_feeds = {name: value[start : start + count] for name, value in feeds.items()}
        if pad and count < step:
            run_feeds = {
                name: np.concatenate([value, np.repeat(value[-1:], step - count, axis=0)])
                for name, value in run_feeds.items()
            }
        outputs = model.run(run_feeds, names)
        for name, value in zip(names, outputs, strict=True):
            if value.ndim == 0 or value.shape[0] != (step if pad else count):
                raise BatchError(
                    f"model output {name!r} has shape {list(value.shape)} for a {count}-row run; batch scoring "
                    "needs outputs whose first dimension is the row count"
                )
            parts[name].append(value[:count])
    return {name: np.concatenate(chunks) if len(chunks) > 1 else chunks[0] for name, chunks in parts.items()}


def output_columns(outputs: Mapping[str, np.ndarray]) -> dict[str, pa.Array]:
    """``<output>`` for ``[N]`` outputs, ``<output>_<i>`` for ``[N, C]`` (higher ranks are flattened row-wise)."""
    columns: dict[str, pa.Array] = {}
    for name, value in outputs.items():
        if value.ndim == 1:
            columns[name] = _to_arrow(value)
            continue
        flat = value.reshape(value.shape[0], -1)
        for i in range(flat.shape[1]):
            columns[f"{name}_{i}"] = _to_arrow(flat[:, i])
    return columns


def _to_arrow(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array(values.tolist())
    return pa.array(np.ascontiguousarray(values))


# ---------------------------------------------------------------------------------------------------------
# S3


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
    """One input object of the partition."""

    key: str
    etag: str
    size: int
    relative: str  # key below the input partition, e.g. ``part-0.parquet``


def list_inputs(client: Any, settings: BatchSettings) -> tuple[list[SourceFile], list[str]]:
    """The partition's Parquet inputs (sorted by key) and the keys ignored there (``_``/``.``, not Parquet)."""
    partition = settings.input_partition
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
            inputs.append(SourceFile(key, str(item["ETag"]).strip('"'), int(item["Size"]), relative))
    inputs.sort(key=lambda f: f.key)
    return inputs, ignored


# ---------------------------------------------------------------------------------------------------------
# The job


@dataclass
class FileResult:
    """What happened to one input: ``written`` or ``skipped`` (already scored), with its row count."""

    source: SourceFile
    output_key: str
    status: str
    rows: int
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """The loaded model and the identity recorded in lineage."""

    model: LoadedModel
    uri: str
    etag: str


def _log(level: int, event: str, message: str, **fields: Any) -> None:
    LOG.log(level, message, extra={"fields": {"event": event, **fields}})


def load_model(settings: BatchSettings, client: Any) -> ModelInfo:
    """Download (or reuse the verified cache of) the model and create its session, like the server does."""
    model_settings = settings.model
    repository = ModelRepository(model_settings.model_repository, model_settings.model_cache_dir, client=client)
    started = time.perf_counter()
    path = repository.fetch(model_settings.model_name, model_settings.model_version)
    model = LoadedModel.load(
        path, model_settings.model_name, model_settings.model_version, model_settings.execution_providers
    )
    etag = _cached_etag(path)
    _log(
        logging.INFO,
        "model_loaded",
        f"model {model.name!r} version {model.version!r} loaded from {model_settings.model_uri} on {model.provider}",
        model_uri=model_settings.model_uri,
        model_etag=etag,
        provider=model.provider,
        providers=model.providers,
        inputs=[s.metadata() for s in model.inputs],
        outputs=[s.metadata() for s in model.outputs],
        seconds=round(time.perf_counter() - started, 3),
    )
    return ModelInfo(model=model, uri=model_settings.model_uri, etag=etag)


def _cached_etag(path: Path) -> str:
    meta = path.with_name(MODEL_FILE + ".meta.json")
    try:
        return str(json.loads(meta.read_text()).get("etag", ""))
    except (OSError, ValueError):
        return ""


def _lineage(settings: BatchSettings, info: ModelInfo, source: SourceFile) -> dict[str, str]:
    return {
        "source-bucket": settings.feature_bucket,
        "source-key": urllib.parse.quote(source.key, safe="/="),
        "source-etag": source.etag,
        "feature-set": settings.feature_set,
        "batch-date": settings.batch_date.isoformat(),
        "batch-job": settings.job_name,
        "model-name": info.model.name,
        "model-version": info.model.version,
        "model-etag": info.etag,
        "code-version": settings.code_version,
    }


def _iter_batches(parquet: pq.ParquetFile, columns: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    produced = False
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
        produced = True
        yield batch
    if not produced:  # an empty file still gets an (empty) output with the full schema
        schema = pa.schema([parquet.schema_arrow.field(c) for c in columns])
        yield pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)


def score_file(client: Any, settings: BatchSettings, info: ModelInfo, source: SourceFile) -> FileResult:
    """Score one input object into its output object (or skip it when already scored); see the module doc."""
    bucket = settings.feature_bucket
    output_key = settings.output_partition + source.relative
    model = info.model
    existing = _head(client, bucket, output_key)
    if existing is not None:
        meta = existing.get("Metadata", {})
        if (
            meta.get("source-etag") == source.etag
            and meta.get("model-name") == model.name
            and meta.get("model-version") == model.version
        ):
            return FileResult(source, output_key, "skipped", int(meta.get("row-count", "0") or 0))

    timings: dict[str, float] = {}
    started = time.perf_counter()
    try:
        response = client.get_object(Bucket=bucket, Key=source.key, IfMatch=f'"{source.etag}"')
    except Exception as exc:
        if _error_code(exc) in _PRECONDITION:
            raise BatchError(f"s3://{bucket}/{source.key} changed while the batch ran (ETag {source.etag})") from exc
        raise
    body = response["Body"].read()
    try:
        parquet = pq.ParquetFile(pa.BufferReader(body))
    except (pa.ArrowException, OSError) as exc:
        raise BatchError(f"s3://{bucket}/{source.key} is not a readable Parquet file: {exc}") from exc
    timings["read_s"] = time.perf_counter() - started

    uri = f"s3://{bucket}/{source.key}"
    mapping = resolve_features(model, parquet.schema_arrow, settings, uri)
    keep = [settings.entity_key, settings.event_timestamp, *settings.passthrough_columns]
    needed = list(dict.fromkeys([*keep, *mapping.columns]))
    lineage = _lineage(settings, info, source)
    sink = pa.BufferOutputStream()
    writer: pq.ParquetWriter | None = None
    rows = 0
    score_s = 0.0
    try:
        for batch in _iter_batches(parquet, needed, settings.chunk_rows):
            t0 = time.perf_counter()
            feeds = build_feeds(model, mapping, batch)
            outputs = output_columns(score(model, feeds, batch.num_rows, settings.model.max_batch_size))
            score_s += time.perf_counter() - t0
            columns: dict[str, pa.Array | pa.ChunkedArray] = {name: batch.column(name) for name in keep}
            columns[MODEL_NAME_COLUMN] = pa.array([model.name] * batch.num_rows, pa.string())
            columns[MODEL_VERSION_COLUMN] = pa.array([model.version] * batch.num_rows, pa.string())
            if clash := sorted(set(columns).intersection(outputs)):
                raise ConfigError(f"model output column(s) {', '.join(clash)} clash with carried-over columns")
            columns.update(outputs)
            table = pa.table(columns)
            if writer is None:
                schema = table.schema.with_metadata({"lineage": json.dumps(lineage, sort_keys=True)})
                writer = pq.ParquetWriter(sink, schema, compression="zstd")
            elif not table.schema.equals(writer.schema, check_metadata=False):
                raise BatchError(f"{uri}: output schema changed between chunks ({table.schema} vs {writer.schema})")
            writer.write_table(table)
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    timings["score_s"] = score_s
    data = sink.getvalue().to_pybytes()

    t0 = time.perf_counter()
    metadata = {**lineage, "row-count": str(rows), "content-sha256": hashlib.sha256(data).hexdigest()}
    put: dict[str, Any] = {
        "Bucket": bucket,
        "Key": output_key,
        "Body": data,
        "ContentType": "application/vnd.apache.parquet",
        "Metadata": metadata,
    }
    if existing is None:
        put["IfNoneMatch"] = "*"
    else:
        put["IfMatch"] = str(existing.get("ETag", ""))
    try:
        client.put_object(**put)
    except Exception as exc:
        if _error_code(exc) in _PRECONDITION:
            raise BatchError(f"s3://{bucket}/{output_key} was written concurrently by another run") from exc
        raise
    timings["write_s"] = time.perf_counter() - t0
    return FileResult(source, output_key, "written", rows, {k: round(v, 4) for k, v in timings.items()})


def manifest_body(settings: BatchSettings, info: ModelInfo, results: Sequence[FileResult]) -> bytes:
    """The deterministic manifest JSON (no wall-clock fields: an unchanged re-run yields the same bytes)."""
    document = {
        "batch_date": settings.batch_date.isoformat(),
        "feature_bucket": settings.feature_bucket,
        "feature_set": settings.feature_set,
        "input_prefix": settings.input_partition,
        "output_prefix": settings.output_partition,
        "job_name": settings.job_name,
        "code_version": settings.code_version,
        "model": {"name": info.model.name, "version": info.model.version, "uri": info.uri, "etag": info.etag},
        "counts": {"files": len(results), "rows": sum(r.rows for r in results)},
        "files": [
            {"source_key": r.source.key, "source_etag": r.source.etag, "output_key": r.output_key, "rows": r.rows}
            for r in results
        ],
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def write_manifest(client: Any, settings: BatchSettings, body: bytes) -> bool:
    """Write the manifest unless an identical one exists; returns whether it was written."""
    digest = hashlib.sha256(body).hexdigest()
    existing = _head(client, settings.feature_bucket, settings.manifest_key)
    if existing is not None and existing.get("Metadata", {}).get("content-sha256") == digest:
        return False
    client.put_object(
        Bucket=settings.feature_bucket,
        Key=settings.manifest_key,
        Body=body,
        ContentType="application/json",
        Metadata={"content-sha256": digest},
    )
    return True


def run(settings: BatchSettings, client: Any | None = None) -> list[FileResult]:
    """Score the partition of ``settings.batch_date``; returns one result per input.

    Raises :class:`ConfigError` (model/provider/columns do not fit: exit 2) or any other exception for a
    runtime failure (exit 1). Every input is attempted before a per-file failure is raised, so a retry has
    less left to do; the manifest is written only when all inputs succeeded.
    """
    import onnxruntime as ort

    client = client or s3_client()
    try:
        choose_providers(settings.model.execution_providers, ort.get_available_providers())
    except ModelLoadError as exc:
        raise ConfigError(str(exc)) from None
    started = time.perf_counter()
    _log(
        logging.INFO,
        "batch_started",
        f"scoring s3://{settings.feature_bucket}/{settings.input_partition} with model "
        f"{settings.model.model_name!r} version {settings.model.model_version!r}",
        batch_date=settings.batch_date.isoformat(),
        job_name=settings.job_name,
        input=f"s3://{settings.feature_bucket}/{settings.input_partition}",
        output=f"s3://{settings.feature_bucket}/{settings.output_partition}",
        chunk_rows=settings.chunk_rows,
        run_rows=settings.model.max_batch_size,
    )
    info = load_model(settings, client)
    t0 = time.perf_counter()
    inputs, ignored = list_inputs(client, settings)
    _log(
        logging.INFO,
        "inputs_listed",
        f"{len(inputs)} input file(s) under s3://{settings.feature_bucket}/{settings.input_partition}",
        files=len(inputs),
        bytes=sum(f.size for f in inputs),
        ignored=len(ignored),
        seconds=round(time.perf_counter() - t0, 3),
    )
    if not inputs:
        _log(
            logging.INFO,
            "nothing_to_score",
            f"nothing to score: no Parquet input under s3://{settings.feature_bucket}/{settings.input_partition}",
            batch_date=settings.batch_date.isoformat(),
        )
    results: list[FileResult] = []
    failures: list[tuple[SourceFile, Exception]] = []
    for source in inputs:
        try:
            result = score_file(client, settings, info, source)
        except ConfigError:
            raise
        except Exception as exc:
            failures.append((source, exc))
            LOG.error(
                "failed to score s3://%s/%s: %s",
                settings.feature_bucket,
                source.key,
                exc,
                exc_info=True,
                extra={"fields": {"event": "file_failed", "source_key": source.key, "error": type(exc).__name__}},
            )
            continue
        results.append(result)
        total = sum(result.seconds.values())
        _log(
            logging.INFO,
            f"file_{result.status}",
            f"{result.status} s3://{settings.feature_bucket}/{result.output_key} ({result.rows} rows)",
            source_key=source.key,
            source_etag=source.etag,
            output_key=result.output_key,
            rows=result.rows,
            **result.seconds,
            **({"rows_per_s": round(result.rows / total)} if total > 0 else {}),
        )
    elapsed = time.perf_counter() - started
    written = [r for r in results if r.status == "written"]
    summary: dict[str, Any] = {
        "batch_date": settings.batch_date.isoformat(),
        "files": len(inputs),
        "written": len(written),
        "skipped": len(results) - len(written),
        "failed": len(failures),
        "rows": sum(r.rows for r in results),
        "rows_scored": sum(r.rows for r in written),
        "seconds": round(elapsed, 3),
    }
    if failures:
        _log(logging.ERROR, "batch_failed", f"{len(failures)} of {len(inputs)} file(s) failed", **summary)
        first = failures[0][1]
        raise BatchError(f"{len(failures)} of {len(inputs)} input file(s) failed; first: {first}") from first
    manifest_written = write_manifest(client, settings, manifest_body(settings, info, results))
    rate = summary["rows_scored"] / elapsed if elapsed > 0 else math.inf
    _log(
        logging.INFO,
        "batch_finished",
        f"batch {settings.batch_date.isoformat()} done: {summary['written']} written, {summary['skipped']} "
        f"already scored, {summary['rows']} rows; manifest {'written' if manifest_written else 'unchanged'}",
        manifest_key=settings.manifest_key,
        manifest_written=manifest_written,
        rows_per_s=round(rate) if math.isfinite(rate) else None,
        **summary,
    )
    return results


# ---------------------------------------------------------------------------------------------------------
# Command line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the record's ``fields`` and
    ``exception`` (formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str) -> None:
    """Send the ``inference_server`` loggers to stdout as JSON lines at ``level`` (idempotent)."""
    logger = logging.getLogger("inference_server")
    logger.setLevel(level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)


def build_parser() -> argparse.ArgumentParser:
    """``batch [--date YYYY-MM-DD]``."""
    parser = argparse.ArgumentParser(
        prog="python -m inference_server batch",
        description="Score one dt= partition of a feature set with the configured model (see container_src/README.md).",
    )
    parser.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="partition to score (default: BATCH_DATE, else yesterday in UTC)",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    client: Any | None = None,
    now: datetime | None = None,
) -> int:
    """Run the batch; returns the exit status (0 ok, 1 runtime failure, 2 configuration error).

    ``argv`` are the arguments after ``batch`` (default: none), ``env`` defaults to ``os.environ``,
    ``client`` to a new boto3 S3 client (also used for the model), ``now`` to the current time.
    """
    args = build_parser().parse_args(list(argv) if argv is not None else [])
    environment = os.environ if env is None else env
    try:
        settings = BatchSettings.from_env(environment, args.date, now)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.model.log_level)
    try:
        run(settings, client)
    except ConfigError as exc:
        _log(logging.ERROR, "configuration_error", str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:
        LOG.error("batch failed: %s", exc, exc_info=True, extra={"fields": {"event": "batch_error"}})
        return EXIT_FAILURE
    return EXIT_OK
