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
   options and provider.

Inputs are serialized as the engine sends them: plain JSON into a protobuf ``Struct``, assets
and archives as maps with Pulumi's signature key, secrets as secret-wrapped values.

The result is the ``policies`` section of the plan document (``docs/plan-format.md``).

Example::

    from hybrid_ai_platform.cli.analyzer import run_policy_pack
    from hybrid_ai_platform.cli.synth import PROJECT_ROOT, synthesize

    section = run_policy_pack(synthesize("prod").to_json(), "prod", PROJECT_ROOT)
    blocking = section["summary"]["mandatory"]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

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


def _pack_settings(pack_dir: Path) -> dict[str, Any]:
    manifest = pack_dir / "PulumiPolicy.yaml"
    if not manifest.is_file():
        raise PolicyPackError(f"{manifest} not found: the policy pack needs its PulumiPolicy.yaml")
    settings: dict[str, Any] = yaml.safe_load(manifest.read_text()) or {}
    return settings


def _python_for(pack_dir: Path, settings: Mapping[str, Any]) -> str:
    """The interpreter the language host would use: the ``virtualenv`` runtime option, else ours."""
    runtime = settings.get("runtime")
    options = runtime.get("options", {}) if isinstance(runtime, Mapping) else {}
    virtualenv = options.get("virtualenv") if isinstance(options, Mapping) else None
    if virtualenv:
        venv = Path(virtualenv)
        venv = venv if venv.is_absolute() else pack_dir / venv
        for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
            if candidate.exists():
                return str(candidate)
    return sys.executable


class PolicyPackProcess:
    """A running policy pack process and its analyzer client. Use as a context manager.

    One process serves any number of sequential runs (tests start it once per session).
    """

    def __init__(self, pack_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.pack_dir = pack_dir.resolve()
        self.settings = _pack_settings(self.pack_dir)
        self.name = str(self.settings.get("name") or "policy-pack")
        self.version = str(self.settings.get("version") or "0.0.0")
        python = _python_for(self.pack_dir, self.settings)
        process_env = dict(os.environ)
        process_env.update(env or {})
        process_env["PYTHONUNBUFFERED"] = "1"
        self._stderr: list[str] = []
        try:
            self.process = subprocess.Popen(
                [python, "-u", str(self.pack_dir)],
                cwd=self.pack_dir,
                env=process_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as exc:
            raise PolicyPackError(f"could not start the policy pack with {python}: {exc}") from None
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.port = self._read_port()
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{self.port}", options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)]
        )
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self._lock = threading.Lock()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)
            del self._stderr[:-200]

    def stderr_tail(self, lines: int = 30) -> str:
        """The last lines the pack wrote to stderr."""
        return "".join(self._stderr[-lines:]).strip()

    def _read_port(self) -> int:
        assert self.process.stdout is not None
        result: dict[str, str] = {}

        def read() -> None:
            assert self.process.stdout is not None
            result["line"] = self.process.stdout.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(STARTUP_TIMEOUT_SECONDS)
        line = result.get("line", "").strip()
        if not line.isdigit():
            self.close()
            time.sleep(0.05)
            detail = self.stderr_tail() or "(no output)"
            reason = "did not print its port" if reader.is_alive() else f"printed {line!r} instead of its port"
            raise PolicyPackError(
                f"policy pack {self.pack_dir} failed to start: it {reason} within {STARTUP_TIMEOUT_SECONDS:.0f} s.\n"
                f"{detail}\nRun `{sys.executable} -u {self.pack_dir}` to see the error."
            )
        return int(line)

    def close(self) -> None:
        """Stop the pack process (and close the channel)."""
        channel = getattr(self, "channel", None)
        if channel is not None:
            channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> PolicyPackProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- protocol -----------------------------------------------------------------------------

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=RPC_TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if method == "Handshake" and code == grpc.StatusCode.UNIMPLEMENTED:
                return None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise PolicyPackError(
                f"policy pack {self.name} failed in {method}: {details}\n{self.stderr_tail()}"
            ) from None

    def analyze(
        self, plan_document: Mapping[str, Any], stack: str, config: Mapping[str, Any], config_file: str
    ) -> dict[str, Any]:
        """Run the whole protocol for one plan; return the ``policies`` section."""
        with self._lock:
            return self._analyze(plan_document, stack, config, config_file)

    def _analyze(
        self, plan_document: Mapping[str, Any], stack: str, config: Mapping[str, Any], config_file: str
    ) -> dict[str, Any]:
        self._call(
            "Handshake",
            analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address="", root_directory=str(self.pack_dir), program_directory=str(self.pack_dir)
            ),
        )
        self._call("GetPluginInfo", empty_pb2.Empty())
        info = self._call("GetAnalyzerInfo", empty_pb2.Empty())
        reconciled = reconcile_config(info, config)
        self._call("Configure", configure_request(reconciled))
        project = str(plan_document.get("project") or "project")
        stack_config = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in (plan_document.get("config") or {}).items()
        }
        self._call(
            "ConfigureStack",
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=stack, project=project, organization="organization", dry_run=True, config=stack_config
            ),
        )
        resources = list(plan_document.get("resources") or [])
        by_urn = {r["urn"]: r for r in resources}
        diagnostics: list[Any] = []
        for resource in resources:
            request = analyzer_pb2.AnalyzeRequest(
                type=resource["type"],
                properties=to_struct(resource.get("inputs") or {}),
                urn=resource["urn"],
                name=resource["name"],
                options=_options(resource),
            )
            provider = _provider(resource, by_urn)
            if provider is not None:
                request.provider.CopyFrom(provider)
            diagnostics.extend(self._call("Analyze", request).diagnostics)
        stack_request = analyzer_pb2.AnalyzeStackRequest(resources=[_stack_resource(r, by_urn) for r in resources])
        diagnostics.extend(self._call("AnalyzeStack", stack_request).diagnostics)
        return build_section(self.name, self.version, config_file, info, reconciled, diagnostics, by_urn)


# -- config ---------------------------------------------------------------------------------------


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


# -- serialization --------------------------------------------------------------------------------


def engine_value(value: Any) -> Any:
    """A plan-document value as the engine serializes it (assets, archives, secrets)."""
    if isinstance(value, Mapping):
        if set(value) == {"secret"}:
            return {SPECIAL_SIG_KEY: SECRET_SIG, "value": engine_value(value["secret"])}
        if set(value) == {"archive"} and isinstance(value["archive"], Mapping):
            archive = value["archive"]
            if "assets" in archive:
                return {
                    SPECIAL_SIG_KEY: ARCHIVE_SIG,
                    "assets": {k: engine_value(v) for k, v in archive["assets"].items()},
                }
            if "path" in archive:
                return {SPECIAL_SIG_KEY: ARCHIVE_SIG, "path": archive["path"]}
        if set(value) == {"asset"} and isinstance(value["asset"], Mapping):
            asset = value["asset"]
            for key in ("path", "text", "uri"):
                if key in asset:
                    return {SPECIAL_SIG_KEY: ASSET_SIG, key: asset[key]}
        return {str(k): engine_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [engine_value(v) for v in value]
    return value


def to_struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    """Properties as the ``Struct`` of an analyzer request."""
    struct = struct_pb2.Struct()
    struct.update(engine_value(properties))
    return struct


def _options(resource: Mapping[str, Any]) -> Any:
    options = resource.get("options") or {}
    timeouts = options.get("custom_timeouts") or {}
    result = analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(options.get("protect")),
        ignoreChanges=list(options.get("ignore_changes") or []),
        deleteBeforeReplace=bool(options.get("delete_before_replace")),
        deleteBeforeReplaceDefined="delete_before_replace" in options,
        additionalSecretOutputs=list(options.get("additional_secret_outputs") or []),
        aliases=[],
        parent=resource.get("parent") or "",
    )
    if timeouts:
        result.customTimeouts.CopyFrom(
            analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
                create=_seconds(timeouts.get("create")),
                update=_seconds(timeouts.get("update")),
                delete=_seconds(timeouts.get("delete")),
            )
        )
    return result


def _seconds(value: Any) -> float:
    text = str(value or "").strip()
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    if text and text[-1] in units:
        try:
            return float(text[:-1]) * units[text[-1]]
        except ValueError:
            return 0.0
    return 0.0


def _provider(resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> Any:
    reference = resource.get("provider")
    if not reference:
        return None
    provider_urn = str(reference).rsplit("::", 1)[0]
    provider = by_urn.get(provider_urn)
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider["type"],
        properties=to_struct(provider.get("inputs") or {}),
        urn=provider["urn"],
        name=provider["name"],
    )


def _stack_resource(resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> Any:
    result = analyzer_pb2.AnalyzerResource(
        type=resource["type"],
        properties=to_struct(resource.get("inputs") or {}),
        urn=resource["urn"],
        name=resource["name"],
        options=_options(resource),
        parent=resource.get("parent") or "",
        dependencies=list(resource.get("dependencies") or []),
    )
    provider = _provider(resource, by_urn)
    if provider is not None:
        result.provider.CopyFrom(provider)
    for key, urns in (resource.get("property_dependencies") or {}).items():
        result.propertyDependencies[key].CopyFrom(analyzer_pb2.AnalyzerPropertyDependencies(urns=list(urns)))
    return result


# -- result ---------------------------------------------------------------------------------------


def _policy_metadata(policy: Any, enforcement: str) -> dict[str, Any]:
    equivalents: dict[str, list[str]] = {"checkov": [], "cdk_nag": [], "trivy": []}
    meta: dict[str, Any] = {"id": None, "category": None, "waivable": True}
    resource_types: set[str] = set()
    for tag in policy.tags:
        key, _, value = tag.partition(":")
        if key == "checkov":
            equivalents["checkov"].append(value)
        elif key == "cdk-nag":
            equivalents["cdk_nag"].append(value)
        elif key == "trivy":
            equivalents["trivy"].append(value)
        elif key == "type":
            resource_types.add(value)
        elif key in ("id", "category"):
            meta[key] = value
        elif tag == "non-waivable":
            meta["waivable"] = False
    return {
        "name": policy.name,
        "id": meta["id"],
        "category": meta["category"],
        "description": policy.description,
        "severity": _SEVERITY.get(policy.severity, "unspecified"),
        "enforcement": enforcement,
        "remediation": policy.remediation_steps,
        "equivalents": equivalents,
        "waivable": meta["waivable"],
        "resource_types": sorted(resource_types),
    }


def _message(diagnostic: Any) -> str:
    message = str(diagnostic.message)
    description = str(diagnostic.description)
    if description and message.startswith(description):
        message = message[len(description) :].lstrip("\n")
    return message or description


def build_section(
    pack: str,
    version: str,
    config_file: str,
    info: Any,
    reconciled: Mapping[str, Mapping[str, Any]],
    diagnostics: Iterable[Any],
    by_urn: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The ``policies`` section from the analyzer's info and diagnostics."""
    policies = {
        p.name: _policy_metadata(
            p, str(reconciled.get(p.name, {}).get("enforcementLevel", _ENFORCEMENT[p.enforcementLevel]))
        )
        for p in info.policies
    }
    violations = []

    def record(policy: str, urn: str | None, message: str, enforcement: str, exception: Any) -> dict[str, Any]:
        meta = policies.get(policy, {})
        resource = by_urn.get(urn) if urn else None
        return {
            "policy": policy,
            "urn": urn,
            "resource_name": resource["name"] if resource else None,
            "resource_type": resource["type"] if resource else None,
            "message": message,
            "severity": meta.get("severity", "unspecified"),
            "enforcement": enforcement,
            "remediation": meta.get("remediation"),
            "exception": exception,
        }

    for diagnostic in diagnostics:
        message = _message(diagnostic)
        urn = str(diagnostic.urn) or None
        if diagnostic.policyName == EXCEPTIONS_POLICY and WAIVED_MARKER in message:
            payload = json.loads(message.split(WAIVED_MARKER, 1)[1])
            original = str(payload["policy"])
            enforcement = str(policies.get(original, {}).get("enforcement", "mandatory"))
            violations.append(
                record(original, payload.get("urn"), str(payload["message"]), enforcement, payload["exception"])
            )
            continue
        violations.append(
            record(str(diagnostic.policyName), urn, message, _ENFORCEMENT[diagnostic.enforcementLevel], None)
        )
    violations.sort(key=lambda v: (v["policy"], v["urn"] or "", v["message"]))
    summary = {
        "mandatory": sum(
            1 for v in violations if v["enforcement"] in ("mandatory", "remediate") and not v["exception"]
        ),
        "advisory": sum(1 for v in violations if v["enforcement"] == "advisory" and not v["exception"]),
        "excepted": sum(1 for v in violations if v["exception"]),
    }
    return {
        "pack": pack,
        "version": version,
        "config_file": config_file,
        "policies": [policies[name] for name in sorted(policies)],
        "violations": violations,
        "summary": summary,
    }


def pack_env(plan_document: Mapping[str, Any], stack: str) -> dict[str, str]:
    """The environment the engine gives a policy pack (``constructEnv``)."""
    config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (plan_document.get("config") or {}).items()}
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
    from .policyconfig import derive_policy_config, has_guardrails

    if has_guardrails(root):
        # One source: the stack's own budget, regions and usage, with its environment's guardrails.
        config = derive_policy_config(stack, dict(plan_document.get("config") or {}), root)
        config_file = f"policies/config/{stack}.json"
    else:  # a checkout from before the policy config was derived (pr-check's base side)
        config, config_file = load_policy_config(stack, root)
    if pack is not None:
        return pack.analyze(plan_document, stack, config, config_file)
    with PolicyPackProcess(root / "policies", env=pack_env(plan_document, stack)) as process:
        return process.analyze(plan_document, stack, config, config_file)


__all__ = [
    "PolicyConfigError",
    "PolicyPackError",
    "PolicyPackProcess",
    "configure_request",
    "engine_value",
    "load_policy_config",
    "pack_env",
    "reconcile_config",
    "run_policy_pack",
    "to_struct",
]
