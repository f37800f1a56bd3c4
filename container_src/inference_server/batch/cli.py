"""Command line: ``python -m inference_server batch [--date YYYY-MM-DD]``, JSON logs, exit statuses."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from inference_server.batch.job import _log, run
from inference_server.batch.settings import EXIT_CONFIG, EXIT_CONTRACT, EXIT_FAILURE, EXIT_OK, LOG, BatchSettings
from inference_server.config import ConfigError
from inference_server.signature import ContractError


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


class _StdoutHandler(logging.StreamHandler):
    """A stream handler writing to whatever ``sys.stdout`` is when a record is emitted, not the stream it was
    when the handler was made: a handler installed once (``configure_logging`` is idempotent) must not keep
    writing to a stream that was replaced and closed since (an embedding program's, a test runner's)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(level: str) -> None:
    """Send the ``inference_server`` loggers to stdout as JSON lines at ``level`` (idempotent)."""
    logger = logging.getLogger("inference_server")
    logger.setLevel(level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = _StdoutHandler()
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
