"""The job: classify each input, check the contract, score, write outputs and manifests."""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from inference_server import drift
from inference_server.batch import shares
from inference_server.batch.scoring import build_feeds, output_column_names, output_columns, score
from inference_server.batch.settings import LOG, BatchError, BatchSettings
from inference_server.batch.storage import (
    _NOT_FOUND,
    _PRECONDITION,
    SPOOL_CHUNK,
    SourceFile,
    _error_code,
    _head,
    _sha256_file,
    list_inputs,
    put_if_changed,
    read_schema,
    s3_client,
    spool,
)
from inference_server.config import ConfigError
from inference_server.model import LoadedModel, ModelLoadError, choose_providers
from inference_server.repository import MODEL_FILE, ModelRepository
from inference_server.signature import (
    MODEL_NAME_COLUMN,
    MODEL_VERSION_COLUMN,
    SIGNATURE_FILE,
    ContractError,
    ModelSignature,
)


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
        # A native file without pre-buffering (pre_buffer=True, pyarrow's default, reads ahead up to the whole
        # file) and with buffered column-chunk reads (buffer_size > 0: pages are read SPOOL_CHUNK bytes at a
        # time instead of each needed column chunk of a row group at once), so memory does not depend on the
        # producer's row-group size either.
        with pa.OSFile(str(local_in)) as handle:
            try:
                parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=SPOOL_CHUNK)
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
            if _error_code(exc) not in _PRECONDITION:
                raise
            # Another pod (an overlapping share, a retry, a second run) wrote this output first. When it
            # records this very content and model version, the work is done: one output, nothing to redo.
            winner = (_head(client, bucket, output_key) or {}).get("Metadata", {})
            if winner.get("source-sha256") == source_sha256 and _same_model(winner, info):
                rows = int(winner.get("row-count", "0") or 0)
                return FileResult(source, output_key, "skipped", rows, {k: round(v, 4) for k, v in timings.items()})
            raise BatchError(f"s3://{bucket}/{output_key} was written concurrently by another run") from exc
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
    return put_if_changed(client, settings.feature_bucket, settings.manifest_key_for(day), body)


def run(settings: BatchSettings, client: Any | None = None) -> list[FileResult]:
    """Score the window of ``settings.dates``; returns one result per input, oldest day first.

    Raises :class:`ConfigError` (exit 2), :class:`ContractError` (exit 3: the signature is missing or does
    not fit the model or an input's schema; raised before anything is scored) or any other exception for a
    runtime failure (exit 1). Every pending input is attempted before a per-file failure is raised, so a
    retry has less left to do; a day's manifest is written only when all of that day's inputs succeeded.
    With ``settings.completions`` > 1 only this index's share of the inputs is scored, and a day's manifest
    and drift come from whichever index finds the day complete (:mod:`inference_server.batch.shares`).
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
        completion_index=settings.completion_index,
        completions=settings.completions,
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

    mine = [source for source in inputs if shares.owns(settings, source)]
    if settings.completions > 1:
        _log(
            logging.INFO,
            "share_selected",
            f"index {settings.completion_index} of {settings.completions}: {len(mine)} of {len(inputs)} file(s)",
            completion_index=settings.completion_index,
            completions=settings.completions,
            files=len(mine),
            files_in_window=len(inputs),
            bytes=sum(f.size for f in mine),
        )

    results: list[FileResult] = []
    pending: list[Pending] = []
    for source in mine:
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
    complete: list[FileResult] = []  # the results of the days whose manifest this process writes
    for day in settings.dates:
        if day in failed_days:
            continue
        day_results = [r for r in results if r.source.day == day]
        if settings.completions > 1:
            shares.write_record(client, settings, info, day, day_results)
            everything, waiting = shares.day_results(client, settings, info, day, [s for s in inputs if s.day == day])
            if everything is None:
                _log(
                    logging.INFO,
                    "day_incomplete",
                    f"{day.isoformat()}: waiting for index(es) {waiting}; the last to finish writes the manifest",
                    batch_date=day.isoformat(),
                    waiting=waiting,
                )
                continue
            day_results = everything
        manifests[day.isoformat()] = write_manifest(
            client, settings, day, manifest_body(settings, info, day, day_results)
        )
        complete.extend(day_results)

    drift.report(client, settings, info, complete)  # PSI metrics of the complete days
    elapsed = time.perf_counter() - started
    counts = {status: sum(1 for r in results if r.status == status) for status in ("written", "unchanged", "skipped")}
    summary: dict[str, Any] = {
        "batch_date": settings.batch_date.isoformat(),
        "dates": [d.isoformat() for d in settings.dates],
        "files": len(mine),
        **counts,
        "failed": len(failures),
        "rows": sum(r.rows for r in results),
        "rows_scored": sum(r.rows for r in results if r.status == "written"),
        "manifests_written": sorted(d for d, written in manifests.items() if written),
        "seconds": round(elapsed, 3),
    }
    if failures:
        _log(logging.ERROR, "batch_failed", f"{len(failures)} of {len(mine)} file(s) failed", **summary)
        first = failures[0][1]
        raise BatchError(f"{len(failures)} of {len(mine)} input file(s) failed; first: {first}") from first
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
