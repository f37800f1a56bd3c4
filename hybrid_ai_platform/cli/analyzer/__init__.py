"""Run the CrossGuard policy pack over a plan, exactly as the Pulumi engine drives it.

:func:`run_policy_pack` starts the pack the way the CLI's Python language host does
(``<virtualenv>/bin/python -u <pack dir>``, working directory the pack directory, the
``virtualenv`` option of ``PulumiPolicy.yaml`` resolved against it), reads the gRPC port the
pack prints on stdout, and talks to it over the analyzer protocol
(``pulumi.runtime.proto.analyzer_pb2``):

1. ``Handshake`` (tolerated as unimplemented, as the engine does for older packs),
   ``GetPluginInfo`` and ``GetAnalyzerInfo`` (policy metadata);
2. ``Configure``: the engine's reconciliation of ``policies/config/<stack>.json`` (schema
   defaults, then ``all``, then per-policy values; validated against each policy's JSON
   schema), sent as ``PolicyConfig`` (enforcement level + properties ``Struct``);
   ``ConfigureStack`` with the stack, project and config;
3. ``Analyze`` for every resource with its provider (``AnalyzerProviderResource``), then
   ``AnalyzeStack`` with every resource, its parent, dependencies, property dependencies,
   options and provider. ``blueprint plan`` sends the ``Analyze`` calls while the program still
   registers the resources, as the engine does (:meth:`PolicyPackProcess.stream`).

Inputs are serialized as the engine sends them: plain JSON into a protobuf ``Struct``, assets
and archives as maps with Pulumi's signature key, secrets as secret-wrapped values.

The result is the ``policies`` section of the plan document (``docs/plan-format.md``).

Modules: :mod:`.process` (the pack process and the protocol's calls), :mod:`.encoding` (resources
as analyzer requests), :mod:`.result` (the ``policies`` section), :mod:`.config` (policy config
and the pack's environment); every public name is importable from this package.

Example::

    from hybrid_ai_platform.cli.analyzer import run_policy_pack
    from hybrid_ai_platform.cli.synth import PROJECT_ROOT, synthesize

    section = run_policy_pack(synthesize("prod").to_json(), "prod", PROJECT_ROOT)
    blocking = section["summary"]["mandatory"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._common import (
    ARCHIVE_SIG,
    ASSET_SIG,
    EXCEPTIONS_POLICY,
    RPC_TIMEOUT_SECONDS,
    SECRET_SIG,
    SPECIAL_SIG_KEY,
    STARTUP_TIMEOUT_SECONDS,
    WAIVED_MARKER,
    PolicyConfigError,
    PolicyPackError,
)
from .config import configure_request, load_policy_config, pack_env, reconcile_config
from .encoding import engine_value, to_struct
from .process import PolicyPackProcess
from .result import build_section


def run_policy_pack(
    plan_document: dict[str, Any], stack: str, root: Path, pack: PolicyPackProcess | None = None
) -> dict[str, Any]:
    """Run ``root/policies`` over a plan document; return its ``policies`` section.

    Starts one pack process for the run (or reuses ``pack``, which tests start once per
    session), configures it with the config :func:`hybrid_ai_platform.cli.policyconfig.derive_policy_config` derives
    from the plan's stack config (what ``policies/config/<stack>.json`` holds, generated from the same
    function) and analyzes every resource.
    Raises :class:`PolicyPackError` when the pack cannot start, its config is invalid or a
    call fails. Violations are sorted by policy, URN and message.
    """
    config, config_file = stack_policy_config(stack, dict(plan_document.get("config") or {}), root)
    if pack is not None:
        return pack.analyze(plan_document, stack, config, config_file)
    with PolicyPackProcess(root / "policies", env=pack_env(plan_document, stack)) as process:
        return process.analyze(plan_document, stack, config, config_file)


def stack_policy_config(stack: str, stack_config: dict[str, Any], root: Path) -> tuple[dict[str, Any], str]:
    """The policy config :func:`run_policy_pack` sends for a stack's config (``namespace:key`` → value), and the
    file it is reported as: derived from the stack config and the environment's guardrails, or, in a checkout
    without guardrails, read from ``policies/config/<stack>.json``."""
    from ..policyconfig import derive_policy_config, has_guardrails

    if has_guardrails(root):
        # One source: the stack's own budget, regions and usage, with its environment's guardrails.
        return derive_policy_config(stack, stack_config, root), f"policies/config/{stack}.json"
    # a checkout from before the policy config was derived (pr-check's base side)
    return load_policy_config(stack, root)


__all__ = [
    "ARCHIVE_SIG",
    "ASSET_SIG",
    "EXCEPTIONS_POLICY",
    "RPC_TIMEOUT_SECONDS",
    "SECRET_SIG",
    "SPECIAL_SIG_KEY",
    "STARTUP_TIMEOUT_SECONDS",
    "WAIVED_MARKER",
    "PolicyConfigError",
    "PolicyPackError",
    "PolicyPackProcess",
    "build_section",
    "configure_request",
    "engine_value",
    "load_policy_config",
    "pack_env",
    "reconcile_config",
    "run_policy_pack",
    "stack_policy_config",
    "to_struct",
]
