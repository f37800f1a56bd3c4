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
7. In an Indexed Job (``BATCH_COMPLETIONS`` > 1), the pod of index ``JOB_COMPLETION_INDEX`` scores only the
   files whose key hashes to it, and the manifest and drift of a day come from the pod that finds every
   share of that day done (:mod:`inference_server.batch.shares`).

Exit status: 0 success (also when the window holds no input: "nothing to score"), 1 runtime failure
(S3, a corrupt file, a model that cannot be loaded: the Job retries and the retry skips what is done),
2 configuration error (the message names the variable), 3 contract error (``signature.json`` missing or
invalid, or it does not fit the model or an input file's schema; nothing was scored, a retry cannot help).

Logs are JSON lines on stdout (``ts``, ``level``, ``logger``, ``message``, ``event`` and counts/timings).

Modules: :mod:`~inference_server.batch.settings` (environment, exit statuses), :mod:`~.scoring` (feeds
and ONNX Runtime runs), :mod:`~.storage` (S3), :mod:`~.shares` (an Indexed Job's share of the files and the
day's completion), :mod:`~.job` (the run), :mod:`~.cli` (``main``). The public names are re-exported here.
"""

from inference_server.batch.cli import JsonFormatter, build_parser, configure_logging, main
from inference_server.batch.job import (
    FileResult,
    ModelInfo,
    Pending,
    check_contract,
    classify,
    load_model,
    load_signature,
    manifest_body,
    run,
    score_file,
    write_manifest,
)
from inference_server.batch.scoring import build_feeds, output_column_names, output_columns, run_rows, score
from inference_server.batch.settings import (
    BATCH_ENV_VARS,
    DEFAULT_CHUNK_ROWS,
    DEFAULT_LOOKBACK_DAYS,
    ENV_VARS,
    EXIT_CONFIG,
    EXIT_CONTRACT,
    EXIT_FAILURE,
    EXIT_OK,
    MANIFEST_NAME,
    MAX_LOOKBACK_DAYS,
    OBSOLETE_VARIABLES,
    BatchError,
    BatchSettings,
    parse_batch_date,
)
from inference_server.batch.storage import SourceFile, list_inputs, read_schema, s3_client, spool

__all__ = [
    "BATCH_ENV_VARS",
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_LOOKBACK_DAYS",
    "ENV_VARS",
    "EXIT_CONFIG",
    "EXIT_CONTRACT",
    "EXIT_FAILURE",
    "EXIT_OK",
    "MANIFEST_NAME",
    "MAX_LOOKBACK_DAYS",
    "OBSOLETE_VARIABLES",
    "BatchError",
    "BatchSettings",
    "FileResult",
    "JsonFormatter",
    "ModelInfo",
    "Pending",
    "SourceFile",
    "build_feeds",
    "build_parser",
    "check_contract",
    "classify",
    "configure_logging",
    "list_inputs",
    "load_model",
    "load_signature",
    "main",
    "manifest_body",
    "output_column_names",
    "output_columns",
    "parse_batch_date",
    "read_schema",
    "run",
    "run_rows",
    "s3_client",
    "score",
    "score_file",
    "spool",
    "write_manifest",
]
