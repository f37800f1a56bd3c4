"""Batch scoring: ``python -m inference_server batch [--date YYYY-MM-DD]``.

The same image that serves the model online scores a feature set offline (the ``BatchScoringJob`` CronJob
runs it with the argument ``batch``). The full contract is in ``docs/batch-scoring.md``; in short:

1. The model is loaded exactly like the server does it (:class:`~inference_server.repository.ModelRepository`
   with size/ETag verification into ``MODEL_CACHE_DIR``, execution provider chosen by
   :func:`~inference_server.model.choose_providers`), and its input contract ``signature.json`` is read from
   the same version directory (:mod:`inference_server.signature`) and checked against the ONNX inputs.
2. The window of ``LOOKBACK_DAYS`` daily partitions ending at the batch date is listed:
   ``s3://$FEATURE_BUCKET/${INPUT_PREFIX}dt=<day>/`` (paginated). Every ``*.parquet`` object is an input,
   except keys with a path segment starting with ``_`` or ``.`` inside the partition (other dates and the
   feature set's ``_quarantine/``, ``_manifests/`` and ``_scores/`` prefixes are never listed).
3. Each input whose output already records its ETag and the model version is done (skipped, not read).
   The Parquet footer of every other input is read (a ranged ``GetObject``) and checked against the
   signature; if any file does not fit, the job stops *before scoring anything* (exit status 3).
4. Each remaining input is streamed to a scratch file while its SHA-256 is computed. When an existing
   output records that same content (the object was re-uploaded unchanged, so only its ETag differs), the
   file is ``unchanged``: not rescored, not rewritten. Otherwise the signature's columns are read
   ``BATCH_CHUNK_ROWS`` rows at a time, cast to the model's input datatypes, scored ``MAX_BATCH_SIZE``
   rows per ONNX Runtime run, and written to a scratch Parquet file, so memory stays bounded whatever
   the size of the file or of the day.
5. One Parquet per input goes to ``s3://$FEATURE_BUCKET/${OUTPUT_PREFIX}dt=<day>/<input-name>`` with the
   signature's key columns, ``model_name``, ``model_version`` and one column per model output (``<output>``
   for ``[N]`` outputs, ``<output>_<i>`` for ``[N, C]``). Lineage (source key/ETag/SHA-256, model
   version/ETag, signature SHA-256, code version, row count, content SHA-256) is in the S3 user metadata
   and, as JSON, in the Parquet schema metadata under ``lineage``. A new output is written with
   ``PutObject(IfNoneMatch="*")``, a replaced one with ``PutObject(IfMatch=<its ETag>)``.
6. Per day, ``${OUTPUT_PREFIX}dt=<day>/_manifest.json`` (deterministic content) is written once every input
   of that day is scored, unless an identical one is there already.

Exit status: 0 success (also when the window holds no input: "nothing to score"), 1 runtime failure
(S3, a corrupt file, a model that cannot be loaded: the Job retries and the retry skips what is done),
2 configuration error (the message names the variable), 3 contract error (``signature.json`` missing or
invalid, or it does not fit the model or an input file's schema; nothing was scored, a retry cannot help).

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
import struct
import sys
import tempfile
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

from inference_server import SERVER_NAME, __version__, drift
from inference_server.config import ENV_VARS as SERVER_ENV_VARS
from inference_server.config import ConfigError, S3Location, Settings
from inference_server.model import LoadedModel, ModelLoadError, TensorSpec, choose_providers
from inference_server.repository import MODEL_FILE, ModelRepository
from inference_server.signature import (
    MODEL_NAME_COLUMN,
    MODEL_VERSION_COLUMN,
    SIGNATURE_FILE,
    ContractError,
    ModelSignature,
)

LOG = logging.getLogger("inference_server.batch")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_CONTRACT = 3

DEFAULT_CHUNK_ROWS = 4096
DEFAULT_LOOKBACK_DAYS = 3
MAX_LOOKBACK_DAYS = 31
MANIFEST_NAME = "_manifest.json"
FOOTER_READ_BYTES = 64 * 1024
SPOOL_CHUNK = 1024 * 1024

BATCH_ENV_VARS = frozenset(
    {
        "FEATURE_BUCKET",
        "INPUT_PREFIX",
        "OUTPUT_PREFIX",
        "FEATURE_SET",
        "BATCH_DATE",
        "LOOKBACK_DAYS",
        "BATCH_JOB_NAME",
        "BATCH_CHUNK_ROWS",
        "CODE_VERSION",
    }
)
"""Environment variables batch mode reads besides the server's (:data:`inference_server.config.ENV_VARS`)."""
ENV_VARS = BATCH_ENV_VARS | SERVER_ENV_VARS | drift.ENV_VARS
"""Every environment variable batch mode reads (the CronJob must set no other of its own)."""
OBSOLETE_VARIABLES = ("FEATURE_COLUMNS", "ENTITY_KEY_COLUMN", "EVENT_TIMESTAMP_COLUMN", "PASSTHROUGH_COLUMNS")
"""Column variables of earlier versions: the columns now come from the model's ``signature.json`` only."""

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_PRECONDITION = frozenset({"412", "PreconditionFailed"})


class BatchError(RuntimeError):
    """A runtime failure of the batch (exit status 1): the Job retries it."""


# ---------------------------------------------------------------------------------------------------------
# Configuration


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

    The columns that feed the model and the key columns copied to the scores are not settings: they come
    from the model version's ``signature.json`` (:mod:`inference_server.signature`).

    Attributes (environment variable, default):
        model: the model settings shared with the server (``MODEL_REPOSITORY``, ``MODEL_NAME``,
            ``MODEL_VERSION``, ``MODEL_CACHE_DIR``, ``ORT_EXECUTION_PROVIDERS``, ``MAX_BATCH_SIZE`` = rows
            per ONNX Runtime run, ``LOG_LEVEL``; see :class:`~inference_server.config.Settings`).
        feature_bucket: ``FEATURE_BUCKET`` (required), the feature-store bucket.
        input_prefix: ``INPUT_PREFIX`` (required), ``<feature_set>/``; partitions are ``dt=YYYY-MM-DD/``.
        output_prefix: ``OUTPUT_PREFIX`` (required), e.g. ``<feature_set>/_scores/<model>/``.
        feature_set: ``FEATURE_SET`` (default: the first segment of ``INPUT_PREFIX``); ``INPUT_PREFIX`` must
            start with ``<FEATURE_SET>/``.
        batch_date: ``--date`` or ``BATCH_DATE`` (default: yesterday, UTC): the newest day of the window.
        lookback_days: ``LOOKBACK_DAYS`` (default ``3``, 1 to 31): how many daily partitions each run scores,
            ending at ``batch_date``, so files landing late for an earlier day are still scored.
        job_name: ``BATCH_JOB_NAME`` (default ``manual``), recorded in logs and lineage.
        chunk_rows: ``BATCH_CHUNK_ROWS`` (default ``4096``), rows read, scored and encoded at a time.
        code_version: ``CODE_VERSION`` (default ``hybrid-ai-inference-server/<package version>``).
    """

    model: Settings
    feature_bucket: str
    input_prefix: str
    output_prefix: str
    feature_set: str
    batch_date: date
    lookback_days: int = DEFAULT_LOOKBACK_DAYS
    job_name: str = "manual"
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    code_version: str = f"{SERVER_NAME}/{__version__}"

    @property
    def dates(self) -> tuple[date, ...]:
        """The days of the window, oldest first, ending at ``batch_date``."""
        return tuple(self.batch_date - timedelta(days=n) for n in reversed(range(self.lookback_days)))

    def input_partition_for(self, day: date) -> str:
        """``${INPUT_PREFIX}dt=<day>/``: the prefix listed for the inputs of ``day``."""
        return f"{self.input_prefix}dt={day.isoformat()}/"

    def output_partition_for(self, day: date) -> str:
        """``${OUTPUT_PREFIX}dt=<day>/``: where the scores and the manifest of ``day`` go."""
        return f"{self.output_prefix}dt={day.isoformat()}/"

    def manifest_key_for(self, day: date) -> str:
        """``${OUTPUT_PREFIX}dt=<day>/_manifest.json``."""
        return self.output_partition_for(day) + MANIFEST_NAME

    @property
    def input_partition(self) -> str:
        """The input partition of ``batch_date``."""
        return self.input_partition_for(self.batch_date)

    @property
    def output_partition(self) -> str:
        """The output partition of ``batch_date``."""
        return self.output_partition_for(self.batch_date)

    @property
    def manifest_key(self) -> str:
        """The manifest key of ``batch_date``."""
        return self.manifest_key_for(self.batch_date)

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

        def integer(name: str, default: int, lo: int, hi: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                errors.append(f"{name} must be an integer, got {raw!r}")
                return default
            if not lo <= value <= hi:
                errors.append(f"{name} must be between {lo} and {hi}, got {raw!r}")
                return default
            return value

        if obsolete := [name for name in OBSOLETE_VARIABLES if env.get(name, "").strip()]:
            errors.append(
                f"{', '.join(obsolete)} {'is' if len(obsolete) == 1 else 'are'} no longer read: the input "
                f"columns and key columns come from {SIGNATURE_FILE} beside model.onnx (docs/batch-scoring.md); "
                "remove the variable"
            )

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

        chunk_rows = integer("BATCH_CHUNK_ROWS", DEFAULT_CHUNK_ROWS, 1, 1_048_576)
        lookback_days = integer("LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS, 1, MAX_LOOKBACK_DAYS)
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
            lookback_days=lookback_days,
            job_name=job_name,
            chunk_rows=chunk_rows,
            code_version=code_version,
        )


# ---------------------------------------------------------------------------------------------------------
# Feeds and scoring


def build_feeds(model: LoadedModel, signature: ModelSignature, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
    """Model inputs for every row of ``batch`` (dim 0 = rows) from the signature's columns, in its order,
    cast to the inputs' datatypes (``[N]`` inputs get a vector, ``[N, K]`` inputs a matrix)."""
    feeds: dict[str, np.ndarray] = {}
    for entry in signature.inputs:
        spec = model.input_by_name[entry.name]
        if len(spec.shape) == 1:
            column = entry.columns[0].name
            feeds[spec.name] = _column_values(batch.column(column), spec, column)
            continue
        matrix = np.empty((batch.num_rows, len(entry.columns)), dtype=spec.datatype.numpy)
        for j, column_spec in enumerate(entry.columns):
            matrix[:, j] = _column_values(batch.column(column_spec.name), spec, column_spec.name)
        feeds[spec.name] = matrix
    return feeds


def output_column_names(model: LoadedModel) -> list[str]:
    """The score columns a model writes (as far as its static output shapes tell; see :func:`output_columns`)."""
    names: list[str] = []
    for spec in model.outputs:
        if len(spec.shape) <= 1:
            names.append(spec.name)
        elif all(d > 0 for d in spec.shape[1:]):
            names.extend(f"{spec.name}_{i}" for i in range(math.prod(spec.shape[1:])))
    return names


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


# ---------------------------------------------------------------------------------------------------------
# The job


@dataclass
class FileResult:
    """What happened to one input.

    ``status``: ``written`` (scored now), ``skipped`` (its output records this ETag and model version:
    not read), ``unchanged`` (re-uploaded with the same content: read and hashed, not rescored).
    """

    source: SourceFile
    output_key: str
    status: str
    rows: int
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """The loaded model, its signature and the identity recorded in lineage."""

    model: LoadedModel
    uri: str
    etag: str
    signature: ModelSignature
    signature_uri: str


@dataclass(frozen=True)
class Pending:
    """An input that is not done yet, with the ``HeadObject`` of its existing output (if any)."""

    source: SourceFile
    output_key: str
    existing: dict[str, Any] | None


def _log(level: int, event: str, message: str, **fields: Any) -> None:
    LOG.log(level, message, extra={"fields": {"event": event, **fields}})


def load_signature(settings: BatchSettings, client: Any, model: LoadedModel) -> tuple[ModelSignature, str]:
    """Read ``signature.json`` beside ``model.onnx`` and check it against the model and the feature set.

    Raises :class:`ContractError` when it is missing, invalid or does not fit.
    """
    location = settings.model.model_repository
    name, version = settings.model.model_name, settings.model.model_version
    uri = location.uri_for(name, version, SIGNATURE_FILE)
    try:
        raw = client.get_object(Bucket=location.bucket, Key=location.key_for(name, version, SIGNATURE_FILE))["Body"]
    except Exception as exc:
        if _error_code(exc) in {*_NOT_FOUND, "403", "AccessDenied"}:
            raise ContractError(
                f"no model signature at {uri} (missing or not readable: {_error_code(exc)}); publish "
                f"{SIGNATURE_FILE} beside {MODEL_FILE} (docs/batch-scoring.md)"
            ) from None
        raise
    signature = ModelSignature.parse(raw.read(), uri)
    signature.check_model(model.inputs, output_column_names(model), uri)
    if signature.feature_set is not None and signature.feature_set != settings.feature_set:
        raise ContractError(
            f"{uri} is for feature set {signature.feature_set!r}, this job scores {settings.feature_set!r} "
            "(FEATURE_SET); point the job at the model's feature set or publish a model version for this one"
        )
    return signature, uri


def load_model(settings: BatchSettings, client: Any) -> ModelInfo:
    """Download (or reuse the verified cache of) the model, create its session like the server does, and
    read and check its signature."""
    model_settings = settings.model
    repository = ModelRepository(model_settings.model_repository, model_settings.model_cache_dir, client=client)
    started = time.perf_counter()
    path = repository.fetch(model_settings.model_name, model_settings.model_version)
    model = LoadedModel.load(
        path, model_settings.model_name, model_settings.model_version, model_settings.execution_providers
    )
    etag = _cached_etag(path)
    signature, signature_uri = load_signature(settings, client, model)
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
        signature_uri=signature_uri,
        keys=list(signature.key_names),
        seconds=round(time.perf_counter() - started, 3),
    )
    return ModelInfo(
        model=model, uri=model_settings.model_uri, etag=etag, signature=signature, signature_uri=signature_uri
    )


def _cached_etag(path: Path) -> str:
    meta = path.with_name(MODEL_FILE + ".meta.json")
    try:
        return str(json.loads(meta.read_text()).get("etag", ""))
    except (OSError, ValueError):
        return ""


def _lineage(settings: BatchSettings, info: ModelInfo, source: SourceFile, source_sha256: str) -> dict[str, str]:
    return {
        "source-bucket": settings.feature_bucket,
        "source-key": urllib.parse.quote(source.key, safe="/="),
        "source-etag": source.etag,
        "source-sha256": source_sha256,
        "feature-set": settings.feature_set,
        "batch-date": source.day.isoformat(),
        "batch-job": settings.job_name,
        "model-name": info.model.name,
        "model-version": info.model.version,
        "model-etag": info.etag,
        "signature-sha256": info.signature.digest(),
        "code-version": settings.code_version,
    }


def _same_model(meta: Mapping[str, str], info: ModelInfo) -> bool:
    return meta.get("model-name") == info.model.name and meta.get("model-version") == info.model.version


def _iter_batches(parquet: pq.ParquetFile, columns: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    produced = False
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
        produced = True
        yield batch
    if not produced:  # an empty file still gets an (empty) output with the full schema
        schema = pa.schema([parquet.schema_arrow.field(c) for c in columns])
        yield pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)


def classify(client: Any, settings: BatchSettings, info: ModelInfo, source: SourceFile) -> FileResult | Pending:
    """A :class:`FileResult` ``skipped`` when the output records this source ETag and model version,
    else :class:`Pending` with the existing output's ``HeadObject`` (``None`` when there is none)."""
    output_key = settings.output_partition_for(source.day) + source.relative
    existing = _head(client, settings.feature_bucket, output_key)
    if existing is not None:
        meta = existing.get("Metadata", {})
        if meta.get("source-etag") == source.etag and _same_model(meta, info):
            return FileResult(source, output_key, "skipped", int(meta.get("row-count", "0") or 0))
    return Pending(source, output_key, existing)


def check_contract(client: Any, settings: BatchSettings, info: ModelInfo, pending: Sequence[Pending]) -> None:
    """Check every pending input's Parquet schema against the signature before anything is scored.

    Raises :class:`ContractError` naming every file that does not fit. A file whose footer cannot be read
    is left to :func:`score_file`, which fails it as a runtime error (exit 1) after the others are scored.
    """
    bad: list[str] = []
    for item in pending:
        uri = f"s3://{settings.feature_bucket}/{item.source.key}"
        try:
            schema = read_schema(client, settings.feature_bucket, item.source)
        except BatchError:
            continue
        if problems := info.signature.schema_problems(schema):
            _log(
                logging.ERROR,
                "contract_violation",
                f"{uri} does not match {info.signature_uri}: {'; '.join(problems)}",
                source_key=item.source.key,
                problems=problems,
            )
            bad.append(f"{uri}: {'; '.join(problems)}")
    if bad:
        shown = " | ".join(bad[:3]) + (f" | ... and {len(bad) - 3} more file(s)" if len(bad) > 3 else "")
        raise ContractError(
            f"{len(bad)} of {len(pending)} input file(s) do not match the model signature {info.signature_uri}; "
            f"nothing was scored: {shown}"
        )


def score_file(client: Any, settings: BatchSettings, info: ModelInfo, item: Pending) -> FileResult:
    """Score one pending input into its output object, or find it unchanged; see the module doc."""
    bucket = settings.feature_bucket
    source, output_key, existing = item.source, item.output_key, item.existing
    model, signature = info.model, info.signature
    uri = f"s3://{bucket}/{source.key}"
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="batch-") as scratch:
        local_in, local_out = Path(scratch) / "input.parquet", Path(scratch) / "output.parquet"
        started = time.perf_counter()
        source_sha256 = spool(client, bucket, source, local_in)
        timings["read_s"] = time.perf_counter() - started
        if existing is not None:
            meta = existing.get("Metadata", {})
            if meta.get("source-sha256") == source_sha256 and _same_model(meta, info):
                rows = int(meta.get("row-count", "0") or 0)
                return FileResult(source, output_key, "unchanged", rows, {k: round(v, 4) for k, v in timings.items()})

        lineage = _lineage(settings, info, source, source_sha256)
        keys = list(signature.key_names)
        needed = list(signature.columns)
        rows = 0
        score_s = 0.0
        # A native file without pre-buffering: pyarrow reads one row group's needed column chunks at a time
        # (pre_buffer=True, pyarrow's default, reads ahead up to the whole file).
        with pa.OSFile(str(local_in)) as handle:
            try:
                parquet = pq.ParquetFile(handle, pre_buffer=False)
            except (pa.ArrowException, OSError) as exc:
                raise BatchError(f"{uri} is not a readable Parquet file: {exc}") from exc
            signature.check_schema(parquet.schema_arrow, uri)
            writer: pq.ParquetWriter | None = None
            try:
                for batch in _iter_batches(parquet, needed, settings.chunk_rows):
                    t0 = time.perf_counter()
                    feeds = build_feeds(model, signature, batch)
                    outputs = output_columns(score(model, feeds, batch.num_rows, settings.model.max_batch_size))
                    score_s += time.perf_counter() - t0
                    columns: dict[str, pa.Array | pa.ChunkedArray] = {name: batch.column(name) for name in keys}
                    columns[MODEL_NAME_COLUMN] = pa.array([model.name] * batch.num_rows, pa.string())
                    columns[MODEL_VERSION_COLUMN] = pa.array([model.version] * batch.num_rows, pa.string())
                    if clash := sorted(set(columns).intersection(outputs)):
                        raise ContractError(
                            f"model output column(s) {', '.join(clash)} clash with the signature's keys"
                        )
                    columns.update(outputs)
                    table = pa.table(columns)
                    if writer is None:
                        schema = table.schema.with_metadata({"lineage": json.dumps(lineage, sort_keys=True)})
                        writer = pq.ParquetWriter(str(local_out), schema, compression="zstd")
                    elif not table.schema.equals(writer.schema, check_metadata=False):
                        raise BatchError(
                            f"{uri}: output schema changed between chunks ({table.schema} vs {writer.schema})"
                        )
                    writer.write_table(table)
                    rows += batch.num_rows
            finally:
                if writer is not None:
                    writer.close()
        timings["score_s"] = score_s

        t0 = time.perf_counter()
        metadata = {**lineage, "row-count": str(rows), "content-sha256": _sha256_file(local_out)}
        condition = {"IfNoneMatch": "*"} if existing is None else {"IfMatch": str(existing.get("ETag", ""))}
        try:
            with local_out.open("rb") as body:
                client.put_object(
                    Bucket=bucket,
                    Key=output_key,
                    Body=body,
                    ContentType="application/vnd.apache.parquet",
                    Metadata=metadata,
                    **condition,
                )
        except Exception as exc:
            if _error_code(exc) in _PRECONDITION:
                raise BatchError(f"s3://{bucket}/{output_key} was written concurrently by another run") from exc
            raise
        timings["write_s"] = time.perf_counter() - t0
    return FileResult(source, output_key, "written", rows, {k: round(v, 4) for k, v in timings.items()})


def manifest_body(settings: BatchSettings, info: ModelInfo, day: date, results: Sequence[FileResult]) -> bytes:
    """The deterministic manifest JSON of ``day`` (no wall-clock fields: an unchanged re-run yields the same
    bytes)."""
    document = {
        "batch_date": day.isoformat(),
        "feature_bucket": settings.feature_bucket,
        "feature_set": settings.feature_set,
        "input_prefix": settings.input_partition_for(day),
        "output_prefix": settings.output_partition_for(day),
        "job_name": settings.job_name,
        "code_version": settings.code_version,
        "model": {"name": info.model.name, "version": info.model.version, "uri": info.uri, "etag": info.etag},
        "signature": {
            "uri": info.signature_uri,
            "sha256": info.signature.digest(),
            "keys": list(info.signature.key_names),
        },
        "counts": {"files": len(results), "rows": sum(r.rows for r in results)},
        "files": [
            {"source_key": r.source.key, "source_etag": r.source.etag, "output_key": r.output_key, "rows": r.rows}
            for r in sorted(results, key=lambda r: r.source.key)
        ],
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def write_manifest(client: Any, settings: BatchSettings, day: date, body: bytes) -> bool:
    """Write the manifest of ``day`` unless an identical one exists; returns whether it was written."""
    digest = hashlib.sha256(body).hexdigest()
    key = settings.manifest_key_for(day)
    existing = _head(client, settings.feature_bucket, key)
    if existing is not None and existing.get("Metadata", {}).get("content-sha256") == digest:
        return False
    client.put_object(
        Bucket=settings.feature_bucket,
        Key=key,
        Body=body,
        ContentType="application/json",
        Metadata={"content-sha256": digest},
    )
    return True


def run(settings: BatchSettings, client: Any | None = None) -> list[FileResult]:
    """Score the window of ``settings.dates``; returns one result per input, oldest day first.

    Raises :class:`ConfigError` (exit 2), :class:`ContractError` (exit 3: the signature is missing or does
    not fit the model or an input's schema; raised before anything is scored) or any other exception for a
    runtime failure (exit 1). Every pending input is attempted before a per-file failure is raised, so a
    retry has less left to do; a day's manifest is written only when all of that day's inputs succeeded.
    """
    import onnxruntime as ort

    client = client or s3_client()
    try:
        choose_providers(settings.model.execution_providers, ort.get_available_providers())
    except ModelLoadError as exc:
        raise ConfigError(str(exc)) from None
    started = time.perf_counter()
    window = f"{settings.dates[0].isoformat()}..{settings.batch_date.isoformat()}"
    _log(
        logging.INFO,
        "batch_started",
        f"scoring s3://{settings.feature_bucket}/{settings.input_prefix}dt={{{window}}}/ with model "
        f"{settings.model.model_name!r} version {settings.model.model_version!r}",
        batch_date=settings.batch_date.isoformat(),
        dates=[d.isoformat() for d in settings.dates],
        lookback_days=settings.lookback_days,
        job_name=settings.job_name,
        input=f"s3://{settings.feature_bucket}/{settings.input_prefix}",
        output=f"s3://{settings.feature_bucket}/{settings.output_prefix}",
        chunk_rows=settings.chunk_rows,
        run_rows=settings.model.max_batch_size,
    )
    info = load_model(settings, client)

    inputs: list[SourceFile] = []
    for day in settings.dates:
        t0 = time.perf_counter()
        found, ignored = list_inputs(client, settings, day)
        inputs.extend(found)
        _log(
            logging.INFO,
            "inputs_listed",
            f"{len(found)} input file(s) under s3://{settings.feature_bucket}/{settings.input_partition_for(day)}",
            batch_date=day.isoformat(),
            files=len(found),
            bytes=sum(f.size for f in found),
            ignored=len(ignored),
            seconds=round(time.perf_counter() - t0, 3),
        )
    if not inputs:
        _log(
            logging.INFO,
            "nothing_to_score",
            f"nothing to score: no Parquet input under s3://{settings.feature_bucket}/{settings.input_prefix} "
            f"for {window}",
            dates=[d.isoformat() for d in settings.dates],
        )

    results: list[FileResult] = []
    pending: list[Pending] = []
    for source in inputs:
        outcome = classify(client, settings, info, source)
        if isinstance(outcome, Pending):
            pending.append(outcome)
        else:
            results.append(outcome)
            _log_result(settings, outcome)
    check_contract(client, settings, info, pending)

    failures: list[tuple[SourceFile, Exception]] = []
    for item in pending:
        try:
            result = score_file(client, settings, info, item)
        except (ConfigError, ContractError):
            raise
        except Exception as exc:
            failures.append((item.source, exc))
            LOG.error(
                "failed to score s3://%s/%s: %s",
                settings.feature_bucket,
                item.source.key,
                exc,
                exc_info=True,
                extra={"fields": {"event": "file_failed", "source_key": item.source.key, "error": type(exc).__name__}},
            )
            continue
        results.append(result)
        _log_result(settings, result)

    failed_days = {source.day for source, _ in failures}
    manifests: dict[str, bool] = {}
    for day in settings.dates:
        if day in failed_days:
            continue
        day_results = [r for r in results if r.source.day == day]
        manifests[day.isoformat()] = write_manifest(
            client, settings, day, manifest_body(settings, info, day, day_results)
        )

    drift.report(client, settings, info, [r for r in results if r.source.day not in failed_days])  # PSI metrics
    elapsed = time.perf_counter() - started
    counts = {status: sum(1 for r in results if r.status == status) for status in ("written", "unchanged", "skipped")}
    summary: dict[str, Any] = {
        "batch_date": settings.batch_date.isoformat(),
        "dates": [d.isoformat() for d in settings.dates],
        "files": len(inputs),
        **counts,
        "failed": len(failures),
        "rows": sum(r.rows for r in results),
        "rows_scored": sum(r.rows for r in results if r.status == "written"),
        "manifests_written": sorted(d for d, written in manifests.items() if written),
        "seconds": round(elapsed, 3),
    }
    if failures:
        _log(logging.ERROR, "batch_failed", f"{len(failures)} of {len(inputs)} file(s) failed", **summary)
        first = failures[0][1]
        raise BatchError(f"{len(failures)} of {len(inputs)} input file(s) failed; first: {first}") from first
    rate = summary["rows_scored"] / elapsed if elapsed > 0 else math.inf
    _log(
        logging.INFO,
        "batch_finished",
        f"batch {window} done: {counts['written']} written, {counts['unchanged']} unchanged, "
        f"{counts['skipped']} already scored, {summary['rows']} rows; "
        f"{len(summary['manifests_written'])} manifest(s) written",
        rows_per_s=round(rate) if math.isfinite(rate) else None,
        **summary,
    )
    return results


def _log_result(settings: BatchSettings, result: FileResult) -> None:
    total = sum(result.seconds.values())
    _log(
        logging.INFO,
        f"file_{result.status}",
        f"{result.status} s3://{settings.feature_bucket}/{result.output_key} ({result.rows} rows)",
        batch_date=result.source.day.isoformat(),
        source_key=result.source.key,
        source_etag=result.source.etag,
        output_key=result.output_key,
        rows=result.rows,
        **result.seconds,
        **({"rows_per_s": round(result.rows / total)} if total > 0 and result.status == "written" else {}),
    )


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
        description="Score the dt= partitions of a feature set (LOOKBACK_DAYS days ending at the date) with the "
        "configured model and its signature.json (see docs/batch-scoring.md).",
    )
    parser.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="newest partition to score (default: BATCH_DATE, else yesterday in UTC)",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    client: Any | None = None,
    now: datetime | None = None,
) -> int:
    """Run the batch; returns the exit status (0 ok, 1 runtime failure, 2 configuration error, 3 contract
    error).

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
    except ContractError as exc:
        _log(logging.ERROR, "contract_error", str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONTRACT
    except Exception as exc:
        LOG.error("batch failed: %s", exc, exc_info=True, extra={"fields": {"event": "batch_error"}})
        return EXIT_FAILURE
    return EXIT_OK
