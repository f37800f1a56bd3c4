"""Server configuration read from environment variables.

The InferenceService Kubernetes Deployment sets ``MODEL_REPOSITORY``, ``MODEL_NAME``, ``MODEL_VERSION``,
``PORT``, ``MAX_BATCH_SIZE``, ``MAX_QUEUE_DELAY_MS`` and ``MODEL_CACHE_DIR``; the other variables are
optional overrides. Every value is validated up front so that a misconfigured pod fails at start with one
clear message instead of misbehaving later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")

ENV_VARS = frozenset(
    {
        "MODEL_REPOSITORY",
        "MODEL_NAME",
        "MODEL_VERSION",
        "HOST",
        "PORT",
        "MAX_BATCH_SIZE",
        "MAX_QUEUE_DELAY_MS",
        "MODEL_CACHE_DIR",
        "ORT_EXECUTION_PROVIDERS",
        "SESSION_WORKERS",
        "GRACEFUL_SHUTDOWN_TIMEOUT_S",
        "MODEL_LOAD_RETRY_MAX_S",
        "MAX_REQUEST_BYTES",
        "LOG_LEVEL",
    }
)
"""Every environment variable :meth:`Settings.from_env` reads (the Deployment must set no other of its own)."""


class ConfigError(ValueError):
    """Raised when an environment variable is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class S3Location:
    """An ``s3://bucket/prefix`` location; ``prefix`` has no leading or trailing slash (may be empty)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """Parse ``s3://bucket[/prefix]``; raises :class:`ValueError` with a readable message."""
        if not uri.startswith("s3://"):
            raise ValueError(f"must be an s3:// URI (e.g. s3://acme-models/models), got {uri!r}")
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not _BUCKET_RE.match(bucket):
            raise ValueError(f"invalid S3 bucket name {bucket!r} in {uri!r}")
        return cls(bucket=bucket, prefix=prefix.strip("/"))

    def key_for(self, model: str, version: str, filename: str = "model.onnx") -> str:
        """Object key of ``<prefix>/<model>/<version>/<filename>`` (Triton model-repository layout)."""
        parts = [p for p in (self.prefix, model, version, filename) if p]
        return "/".join(parts)

    def uri_for(self, model: str, version: str, filename: str = "model.onnx") -> str:
        """Full ``s3://`` URI of a model file, for log and error messages."""
        return f"s3://{self.bucket}/{self.key_for(model, version, filename)}"


@dataclass(frozen=True)
class Settings:
    """Validated server settings.

    Attributes (environment variable, default):
        model_repository: ``MODEL_REPOSITORY`` (required), S3 prefix of a Triton-layout model repository.
        model_name: ``MODEL_NAME`` (required), ``[A-Za-z0-9][A-Za-z0-9._-]*``.
        model_version: ``MODEL_VERSION`` (required), a version directory such as ``1``.
        host: ``HOST`` (default ``0.0.0.0``).
        port: ``PORT`` (default ``8080``).
        max_batch_size: ``MAX_BATCH_SIZE`` (default ``32``), most rows combined into one session run.
        max_queue_delay_ms: ``MAX_QUEUE_DELAY_MS`` (default ``5``), an upper bound that applies only while
            the model is busy: while a session run is in flight and another slot is free, a partial batch
            waits at most this long to fill. A request never waits while the model is idle, and requests
            queued behind a busy model go as one batch when a run finishes (inference_server/batcher.py).
            ``0`` disables dynamic batching.
        model_cache_dir: ``MODEL_CACHE_DIR`` (default ``/var/cache/models``), writable download cache.
        execution_providers: ``ORT_EXECUTION_PROVIDERS`` (default: CUDA if available, then CPU),
            comma-separated ONNX Runtime provider names.
        session_workers: ``SESSION_WORKERS`` (default ``2``), threads running ONNX Runtime sessions.
        graceful_shutdown_s: ``GRACEFUL_SHUTDOWN_TIMEOUT_S`` (default ``25``), how long SIGTERM waits for
            in-flight requests (keep below the pod's ``terminationGracePeriodSeconds``, 30 by default).
        load_retry_max_s: ``MODEL_LOAD_RETRY_MAX_S`` (default ``60``), cap of the load-retry backoff.
        max_request_bytes: ``MAX_REQUEST_BYTES`` (default 64 MiB), largest request body (after
            decompression); larger bodies get 413.
        log_level: ``LOG_LEVEL`` (default ``INFO``).
    """

    model_repository: S3Location
    model_name: str
    model_version: str
    host: str = "0.0.0.0"  # noqa: S104 - a container server listens on all interfaces
    port: int = 8080
    max_batch_size: int = 32
    max_queue_delay_ms: float = 5.0
    model_cache_dir: Path = Path("/var/cache/models")
    execution_providers: tuple[str, ...] | None = None
    session_workers: int = 2
    graceful_shutdown_s: float = 25.0
    load_retry_max_s: float = 60.0
    max_request_bytes: int = 64 * 1024 * 1024
    log_level: str = "INFO"

    @property
    def batching_enabled(self) -> bool:
        """Dynamic batching is on when ``MAX_QUEUE_DELAY_MS > 0`` and ``MAX_BATCH_SIZE > 1``."""
        return self.max_queue_delay_ms > 0 and self.max_batch_size > 1

    @property
    def model_uri(self) -> str:
        """``s3://`` URI of the served ``model.onnx``."""
        return self.model_repository.uri_for(self.model_name, self.model_version)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping; raises :class:`ConfigError` listing every problem."""
        errors: list[str] = []

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                errors.append(f"{name} is required")
            return value

        def number(name: str, default: float, lo: float, hi: float, integer: bool) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(int(raw)) if integer else float(raw)
            except ValueError:
                kind = "an integer" if integer else "a number"
                errors.append(f"{name} must be {kind}, got {raw!r}")
                return default
            if not lo <= value <= hi:
                errors.append(f"{name} must be between {lo:g} and {hi:g}, got {raw!r}")
                return default
            return value

        repo_raw = required("MODEL_REPOSITORY")
        repository = S3Location(bucket="invalid", prefix="")
        if repo_raw:
            try:
                repository = S3Location.parse(repo_raw)
            except ValueError as exc:
                errors.append(f"MODEL_REPOSITORY {exc}")
        name = required("MODEL_NAME")
        if name and not _SEGMENT_RE.match(name):
            errors.append(f"MODEL_NAME must match [A-Za-z0-9][A-Za-z0-9._-]*, got {name!r}")
        version = required("MODEL_VERSION")
        if version and not _SEGMENT_RE.match(version):
            errors.append(f"MODEL_VERSION must match [A-Za-z0-9][A-Za-z0-9._-]* (e.g. 1), got {version!r}")

        port = int(number("PORT", 8080, 1, 65535, integer=True))
        max_batch = int(number("MAX_BATCH_SIZE", 32, 1, 4096, integer=True))
        delay = number("MAX_QUEUE_DELAY_MS", 5.0, 0, 10_000, integer=False)
        workers = int(number("SESSION_WORKERS", 2, 1, 64, integer=True))
        grace = number("GRACEFUL_SHUTDOWN_TIMEOUT_S", 25.0, 0, 3600, integer=False)
        retry_max = number("MODEL_LOAD_RETRY_MAX_S", 60.0, 0.1, 3600, integer=False)
        max_request = int(number("MAX_REQUEST_BYTES", 64 * 1024 * 1024, 1024, 2**34, integer=True))

        cache_raw = env.get("MODEL_CACHE_DIR", "").strip() or "/var/cache/models"
        cache_dir = Path(cache_raw)
        if not cache_dir.is_absolute():
            errors.append(f"MODEL_CACHE_DIR must be an absolute path, got {cache_raw!r}")

        providers: tuple[str, ...] | None = None
        providers_raw = env.get("ORT_EXECUTION_PROVIDERS", "").strip()
        if providers_raw:
            providers = tuple(p.strip() for p in providers_raw.split(",") if p.strip())
            bad = [p for p in providers if not p.endswith("ExecutionProvider")]
            if not providers or bad:
                errors.append(
                    "ORT_EXECUTION_PROVIDERS must be a comma-separated list of ONNX Runtime provider names "
                    f"such as CUDAExecutionProvider,CPUExecutionProvider; got {providers_raw!r}"
                )

        log_level = (env.get("LOG_LEVEL", "").strip() or "INFO").upper()
        if log_level not in _LOG_LEVELS:
            errors.append(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}")

        host = env.get("HOST", "").strip() or "0.0.0.0"  # noqa: S104

        if errors:
            raise ConfigError("invalid inference server configuration: " + "; ".join(errors))
        return cls(
            model_repository=repository,
            model_name=name,
            model_version=version,
            host=host,
            port=port,
            max_batch_size=max_batch,
            max_queue_delay_ms=delay,
            model_cache_dir=cache_dir,
            execution_providers=providers,
            session_workers=workers,
            graceful_shutdown_s=grace,
            load_retry_max_s=retry_max,
            max_request_bytes=max_request,
            log_level=log_level,
        )
