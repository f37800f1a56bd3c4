"""gRPC protocol encoding: plan-document resources as the engine serializes them into analyzer
requests (``Struct`` properties with asset, archive and secret signatures, options, providers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from ._common import ARCHIVE_SIG, ASSET_SIG, SECRET_SIG, SPECIAL_SIG_KEY


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


def _provider_of(resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The provider resource ``resource`` names (its ``provider`` reference), if the plan holds it."""
    reference = resource.get("provider")
    if not reference:
        return None
    return by_urn.get(str(reference).rsplit("::", 1)[0])


def _provider(resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> Any:
    return _provider_resource(_provider_of(resource, by_urn))


def _provider_resource(provider: Mapping[str, Any] | None) -> Any:
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider["type"],
        properties=to_struct(provider.get("inputs") or {}),
        urn=provider["urn"],
        name=provider["name"],
    )


def _resource_fields(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The fields ``AnalyzeRequest`` and ``AnalyzerResource`` share: type, properties, URN, name, options."""
    return {
        "type": resource["type"],
        "properties": to_struct(resource.get("inputs") or {}),
        "urn": resource["urn"],
        "name": resource["name"],
        "options": _options(resource),
    }


def _analyze_request(resource: Mapping[str, Any], provider: Mapping[str, Any] | None) -> Any:
    """The ``Analyze`` request of one resource with its provider resource (or None)."""
    request = analyzer_pb2.AnalyzeRequest(**_resource_fields(resource))
    provider_resource = _provider_resource(provider)
    if provider_resource is not None:
        request.provider.CopyFrom(provider_resource)
    return request


def _stack_resource(resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> Any:
    result = analyzer_pb2.AnalyzerResource(
        **_resource_fields(resource),
        parent=resource.get("parent") or "",
        dependencies=list(resource.get("dependencies") or []),
    )
    provider = _provider(resource, by_urn)
    if provider is not None:
        result.provider.CopyFrom(provider)
    for key, urns in (resource.get("property_dependencies") or {}).items():
        result.propertyDependencies[key].CopyFrom(analyzer_pb2.AnalyzerPropertyDependencies(urns=list(urns)))
    return result
