"""Batch settings: the exit statuses, the environment contract and :class:`BatchSettings`."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from inference_server import SERVER_NAME, __version__, drift
from inference_server.config import ENV_VARS as SERVER_ENV_VARS
from inference_server.config import ConfigError, S3Location, Settings
from inference_server.signature import SIGNATURE_FILE

LOG = logging.getLogger("inference_server.batch")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_CONTRACT = 3

DEFAULT_CHUNK_ROWS = 4096
DEFAULT_LOOKBACK_DAYS = 3
MAX_LOOKBACK_DAYS = 31
MANIFEST_NAME = "_manifest.json"

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
        "BATCH_COMPLETIONS",
        "JOB_COMPLETION_INDEX",
    }
)
"""Environment variables batch mode reads besides the server's (:data:`inference_server.config.ENV_VARS`)."""
ENV_VARS = BATCH_ENV_VARS | SERVER_ENV_VARS | drift.ENV_VARS
"""Every environment variable batch mode reads (the CronJob must set no other of its own)."""
OBSOLETE_VARIABLES = ("FEATURE_COLUMNS", "ENTITY_KEY_COLUMN", "EVENT_TIMESTAMP_COLUMN", "PASSTHROUGH_COLUMNS")
"""Column variables of earlier versions: the columns now come from the model's ``signature.json`` only."""

MAX_COMPLETIONS = 1000
"""Upper bound of ``BATCH_COMPLETIONS`` (the config allows far fewer; Kubernetes allows 10^5 indexes)."""

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BatchError(RuntimeError):
    """A runtime failure of the batch (exit status 1): the Job retries it."""


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
        completions: ``BATCH_COMPLETIONS`` (default ``1``: one process scores every file of the window): the
            ``completions`` of the Indexed Job; the files are split into this many shares
            (:mod:`inference_server.batch.shares`).
        completion_index: ``JOB_COMPLETION_INDEX`` (default ``0``; required when ``completions`` > 1),
            which share this process scores. Kubernetes sets it in every pod of an Indexed Job
            (https://kubernetes.io/docs/tasks/job/indexed-parallel-processing-static/).
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
    completions: int = 1
    completion_index: int = 0

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
        completions = integer("BATCH_COMPLETIONS", 1, 1, MAX_COMPLETIONS)
        completion_index = 0
        if env.get("JOB_COMPLETION_INDEX", "").strip():
            completion_index = integer("JOB_COMPLETION_INDEX", 0, 0, completions - 1)
        elif completions > 1:
            errors.append(
                f"JOB_COMPLETION_INDEX is required when BATCH_COMPLETIONS is {completions} (Kubernetes sets it in "
                "the pods of an Indexed Job); set it to the share to score, 0 to BATCH_COMPLETIONS - 1"
            )

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
            completions=completions,
            completion_index=completion_index,
        )
