"""The policy pack's per-stack config, derived from the stack file: one source for each setting.

``policies/config/<stack>.json`` is what ``pulumi preview --policy-pack-config`` reads. It is
generated, never edited (``blueprint policy-config --stack S --write``, or ``make policy-config``
for every stack; ``tests/policies/test_policy_config_generated.py`` fails when a committed file is
stale). It joins two sources:

- the **guardrails** of the stack's environment, ``policies/guardrails/<environment>.json``: each
  policy's enforcement level and its caps (allowed instance types, node-group and GPU ceilings,
  Lambda limits, tag patterns). They are the policy owner's, not the stack's. A stack whose
  ``environment`` has no guardrails file gets ``dev``'s (:data:`DEFAULT_GUARDRAILS`), and the
  plan says so in a note;
- the **stack's own settings**, read from its config and never copied by hand:
  ``budget-monthly-cost.monthlyLimitUsd`` (``budget.monthly_limit_usd``) and ``usage``
  (``usage``), the residency policies' ``allowedRegions`` (``allowed_regions``), the
  ``environment`` tag value ``tags-allowed-values`` admits (``environment``), and every policy's
  ``exceptionsFile`` (``exceptions/<stack>.yaml`` when it exists, else none).

``blueprint plan`` evaluates the pack with this derived config, so a budget of $10 against a $224
estimate fails the plan, whatever an old copy of the file says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hybrid_ai_platform.config import PROJECT_NAMESPACE

from .analyzer import PolicyConfigError

DEFAULT_GUARDRAILS = "dev"
"""Guardrails used for an ``environment`` without its own ``policies/guardrails/<environment>.json``."""

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
"""CrossGuard's enforcement levels."""
STACK_OWNED = {
    "monthlyLimitUsd": "budget.monthly_limit_usd",
    "usage": "usage",
    "allowedRegions": "allowed_regions",
    "exceptionsFile": "policies/exceptions/<stack>.yaml",
}
"""Policy properties derived from the stack, which a guardrails file must not set (one source)."""

RESIDENCY_POLICIES = (
    "residency-provider-region",
    "residency-resource-region",
    "residency-s3-replication",
    "residency-kms-replica-region",
)
"""Policies whose ``allowedRegions`` is the stack's ``allowed_regions``."""


def guardrails_file(environment: str, root: Path) -> Path:
    """``policies/guardrails/<environment>.json``, or the :data:`DEFAULT_GUARDRAILS` file when absent."""
    directory = root / "policies" / "guardrails"
    path = directory / f"{environment}.json"
    return path if path.is_file() else directory / f"{DEFAULT_GUARDRAILS}.json"


def has_guardrails(root: Path) -> bool:
    """Whether ``root`` derives policy configs (a checkout from before this module reads the files)."""
    return (root / "policies" / "guardrails").is_dir()


def _load_guardrails(path: Path, root: Path) -> dict[str, Any]:
    label = path.relative_to(root) if path.is_relative_to(root) else path
    if not path.is_file():
        raise PolicyConfigError(f"no guardrails file {label}")
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyConfigError(f"{label} is not UTF-8 text (byte {exc.start})") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PolicyConfigError(f"{label} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PolicyConfigError(f"{label}: $: the top level must be an object of '<policy>: {{enforcementLevel, ...}}'")
    for name, entry in document.items():
        where = f"{label}: $[{json.dumps(name)}]"
        if not isinstance(entry, dict):
            raise PolicyConfigError(f"{where}: must be an object with 'enforcementLevel', not {type(entry).__name__}")
        level = entry.get("enforcementLevel")
        if level not in ENFORCEMENT_LEVELS:
            raise PolicyConfigError(
                f"{where}.enforcementLevel: {json.dumps(level)} is not one of {', '.join(ENFORCEMENT_LEVELS)}"
            )
        for key, field in STACK_OWNED.items():
            if key in entry:
                raise PolicyConfigError(
                    f"{where}.{key}: comes from the stack file ({field}), not the guardrails; remove it here"
                )
    return document


def derive_policy_config(stack: str, raw_config: dict[str, Any], root: Path) -> dict[str, Any]:
    """The policy pack config of ``stack`` from its raw config (``namespace:key`` → value, as in the
    plan document's ``config``) and its environment's guardrails.

    Raises ``hybrid_ai_platform.config.ConfigError`` for invalid stack config and
    :class:`hybrid_ai_platform.cli.analyzer.PolicyConfigError` for a missing or malformed guardrails file.
    """
    from .quotas import config_from_stack_config

    config = config_from_stack_config(stack, raw_config)
    environment = config.environment
    guardrails = _load_guardrails(guardrails_file(environment, root), root)
    exceptions = f"exceptions/{stack}.yaml"
    exceptions_file = exceptions if (root / "policies" / exceptions).is_file() else ""
    usage = raw_config.get(f"{PROJECT_NAMESPACE}:usage")
    derived: dict[str, dict[str, Any]] = {
        "budget-monthly-cost": {
            "monthlyLimitUsd": _number(config.budget.monthly_limit_usd),
            **({"usage": usage} if usage else {}),
        },
        **{name: {"allowedRegions": list(config.allowed_regions)} for name in RESIDENCY_POLICIES},
        "placement-cost": {**({"usage": usage} if usage else {})},
    }
    out: dict[str, Any] = {}
    for name, entry in guardrails.items():
        policy = {**entry, **derived.get(name, {})}
        if name == "tags-allowed-values":
            policy["allowedValues"] = {"environment": [environment], **dict(entry.get("allowedValues") or {})}
        if exceptions_file:
            policy["exceptionsFile"] = exceptions_file
        out[name] = policy
    return out


def _number(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def render_policy_config(config: dict[str, Any]) -> str:
    """The file text: two-space JSON and a final newline, as committed."""
    return json.dumps(config, indent=2) + "\n"


__all__ = [
    "DEFAULT_GUARDRAILS",
    "derive_policy_config",
    "guardrails_file",
    "has_guardrails",
    "render_policy_config",
]
