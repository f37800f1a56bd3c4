"""Runtime configuration read from the environment the Pulumi component sets.

Everything is validated on first use (not at import) so that a misconfigured function fails its first
invocation with an error that names every missing or inconsistent variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

REQUIRED_VARIABLES: tuple[str, ...] = (
    "LANDING_BUCKET",
    "LANDING_PREFIX",
    "FEATURE_BUCKET",
    "FEATURE_SET",
    "FEATURE_PREFIX",
    "QUARANTINE_PREFIX",
    "MANIFEST_PREFIX",
    "CODE_VERSION",
)


class ConfigurationError(RuntimeError):
    """The function's environment is missing a variable or is internally inconsistent."""


@dataclass(frozen=True)
class Settings:
    """The validated environment of the function.

    All prefixes end with ``/``; ``feature_prefix`` is ``<feature_set>/`` and the quarantine and manifest
    prefixes lie under it, because the function's IAM role may only write below ``<feature_set>/``.
    """

    landing_bucket: str
    landing_prefix: str
    feature_bucket: str
    feature_set: str
    feature_prefix: str
    quarantine_prefix: str
    manifest_prefix: str
    code_version: str
    sweep_queue_url: str | None = None
    """``SWEEP_QUEUE_URL`` (optional): the function's own queue, where a scheduled sweep enqueues one
    ``Object Created`` message per landing object it finds. Set only for functions with a schedule."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``os.environ``).

        Raises:
            ConfigurationError: naming every missing/empty variable, or the inconsistent one.
        """
        env = os.environ if environ is None else environ
        missing = [name for name in REQUIRED_VARIABLES if not env.get(name, "").strip()]
        if missing:
            raise ConfigurationError(
                "preprocessing Lambda is misconfigured: missing required environment variable(s): " + ", ".join(missing)
            )
        settings = cls(
            landing_bucket=env["LANDING_BUCKET"].strip(),
            landing_prefix=env["LANDING_PREFIX"].strip(),
            feature_bucket=env["FEATURE_BUCKET"].strip(),
            feature_set=env["FEATURE_SET"].strip(),
            feature_prefix=env["FEATURE_PREFIX"].strip(),
            quarantine_prefix=env["QUARANTINE_PREFIX"].strip(),
            manifest_prefix=env["MANIFEST_PREFIX"].strip(),
            code_version=env["CODE_VERSION"].strip(),
            sweep_queue_url=env.get("SWEEP_QUEUE_URL", "").strip() or None,
        )
        settings._check_consistency()
        return settings

    def _check_consistency(self) -> None:
        for name, value in (
            ("LANDING_PREFIX", self.landing_prefix),
            ("FEATURE_PREFIX", self.feature_prefix),
            ("QUARANTINE_PREFIX", self.quarantine_prefix),
            ("MANIFEST_PREFIX", self.manifest_prefix),
        ):
            if not value.endswith("/"):
                raise ConfigurationError(f"{name}={value!r} must end with '/'")
        if self.feature_prefix != f"{self.feature_set}/":
            raise ConfigurationError(
                f"FEATURE_PREFIX={self.feature_prefix!r} must be FEATURE_SET + '/' ({self.feature_set + '/'!r})"
            )
        for name, value in (
            ("QUARANTINE_PREFIX", self.quarantine_prefix),
            ("MANIFEST_PREFIX", self.manifest_prefix),
        ):
            if not value.startswith(self.feature_prefix) or value == self.feature_prefix:
                raise ConfigurationError(
                    f"{name}={value!r} must be a sub-prefix of FEATURE_PREFIX={self.feature_prefix!r}"
                )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, validating ``os.environ`` on the first call.

    Tests that change the environment call ``get_settings.cache_clear()``.
    """
    return Settings.from_environ()
