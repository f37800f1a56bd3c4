"""Policy config: the engine's reconciliation and validation of the stack's policy config, the
``Configure`` request, the environment the engine gives a pack, and ``policies/config/<stack>.json``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from ._common import _ENFORCEMENT, _ENFORCEMENT_PROTO, PolicyConfigError


def reconcile_config(info: Any, given: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The engine's ``ReconcilePolicyPackConfig``: defaults, ``all``, per-policy; then validation.

    Returns ``{policy: {"enforcementLevel": str, "properties": dict}}``. Raises
    :class:`PolicyConfigError` listing every invalid value.
    """
    result: dict[str, dict[str, Any]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        properties = (
            json_format.MessageToDict(policy.configSchema.properties) if policy.HasField("configSchema") else {}
        )
        schemas[policy.name] = {"type": "object", "properties": properties}
        if policy.HasField("configSchema") and policy.configSchema.required:
            schemas[policy.name]["required"] = list(policy.configSchema.required)
        defaults = {k: v["default"] for k, v in properties.items() if isinstance(v, dict) and "default" in v}
        result[policy.name] = {"enforcementLevel": _ENFORCEMENT[policy.enforcementLevel], "properties": defaults}
    problems: list[str] = []
    normalized: dict[str, dict[str, Any]] = {}
    for key, value in given.items():
        if isinstance(value, str):
            normalized[key] = {"enforcementLevel": value}
        elif isinstance(value, Mapping):
            normalized[key] = dict(value)
        else:
            problems.append(f"{key}: {value!r} is neither an enforcement level nor an object")
    all_level = normalized.get("all", {}).get("enforcementLevel")
    if all_level is not None:
        for entry in result.values():
            entry["enforcementLevel"] = all_level
    for key, value in normalized.items():
        if key == "all":
            continue
        if key not in result:
            problems.append(f"{key}: no policy of this name in the pack (known: {', '.join(sorted(result))})")
            continue
        entry = result[key]
        level = value.pop("enforcementLevel", None)
        if level is not None:
            entry["enforcementLevel"] = level
        entry["properties"].update(value)
    for key, entry in result.items():
        if entry["enforcementLevel"] not in _ENFORCEMENT_PROTO:
            problems.append(
                f"{key}: '{entry['enforcementLevel']}' is not an enforcement level "
                f"({', '.join(sorted(_ENFORCEMENT_PROTO))})"
            )
    problems.extend(_validate(schemas, result))
    if problems:
        raise PolicyConfigError("invalid policy pack config:\n" + "\n".join(f"  - {p}" for p in problems))
    return result


def _validate(schemas: Mapping[str, Mapping[str, Any]], config: Mapping[str, Mapping[str, Any]]) -> list[str]:
    problems = []
    for name, schema in schemas.items():
        validator = jsonschema.Draft7Validator(schema)
        for error in sorted(validator.iter_errors(config[name]["properties"]), key=lambda e: list(e.path)):
            where = ".".join(str(p) for p in error.path) or "(config)"
            problems.append(f"{name}.{where}: {error.message}")
    return problems


def configure_request(reconciled: Mapping[str, Mapping[str, Any]]) -> Any:
    """``ConfigureAnalyzerRequest`` as the engine sends it."""
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, entry in reconciled.items():
        policy_config = analyzer_pb2.PolicyConfig(enforcementLevel=_ENFORCEMENT_PROTO[entry["enforcementLevel"]])
        policy_config.properties.update(entry["properties"])
        request.policyConfig[name].CopyFrom(policy_config)
    return request


def engine_config(config: Mapping[str, Any] | None) -> dict[str, str]:
    """A stack's config as the engine passes it to a pack: every value a string, structured ones as JSON.
    The one spelling of it: streamed results are reused only while it is equal."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()}


def pack_env(plan_document: Mapping[str, Any], stack: str) -> dict[str, str]:
    """The environment the engine gives a policy pack (``constructEnv``)."""
    config = engine_config(plan_document.get("config"))
    return {
        "PULUMI_CONFIG": json.dumps(config),
        "PULUMI_PROJECT": str(plan_document.get("project") or ""),
        "PULUMI_STACK": stack,
        "PULUMI_ORGANIZATION": "organization",
        "PULUMI_DRY_RUN": "true",
    }


def load_policy_config(stack: str, root: Path) -> tuple[dict[str, Any], str]:
    """``policies/config/<stack>.json`` and its path relative to ``root``."""
    path = root / "policies" / "config" / f"{stack}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.json"))) or "none"
        raise PolicyConfigError(f"no policy config {path} for stack '{stack}' (configs: {known})")
    try:
        config = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyConfigError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PolicyConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise PolicyConfigError(
            f"{path}: the top level must be an object of '<policy>: <level or config>', not {type(config).__name__}"
        )
    return config, str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
