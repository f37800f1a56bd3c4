"""What every part of the analyzer driver shares: errors, the engine's signature keys, the
enforcement and severity tables, time limits."""

from __future__ import annotations

from pulumi.runtime.proto import analyzer_pb2

SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - Pulumi's secret signature, not a secret
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"

WAIVED_MARKER = "waived-violation: "
"""Mirrors ``hybrid_ai_platform.policies.exceptions.WAIVED_MARKER`` (a test keeps them equal)."""
EXCEPTIONS_POLICY = "policy-exceptions"
"""The pack's advisory policy that reports waived violations."""

STARTUP_TIMEOUT_SECONDS = 60.0
RPC_TIMEOUT_SECONDS = 120.0

_ENFORCEMENT = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
    analyzer_pb2.REMEDIATE: "remediate",
}
_ENFORCEMENT_PROTO = {v: k for k, v in _ENFORCEMENT.items()}
_SEVERITY = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "unspecified",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


class PolicyPackError(Exception):
    """The pack could not be started, configured or run; the message says why and what to do."""


class PolicyConfigError(PolicyPackError):
    """The stack's policy config is missing, not a JSON object, or fails the pack's schemas: a user
    error (``blueprint`` exits 2)."""
