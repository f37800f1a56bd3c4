"""Helm values: each ``kubernetes:helm.sh/v3:Release`` of the plan against its pinned chart.

Helm validates the merged values against the chart's ``values.schema.json`` when the chart ships
one (https://helm.sh/docs/topics/charts/#schema-files), and refuses the install otherwise only at
``pulumi up``. Without a schema Helm validates nothing: a misspelt key (``nodeSelecter``) is
silently ignored and the add-on runs with the chart's default. This check judges both in the plan,
from files vendored under ``blueprint/data/helm/`` for the pinned versions (see the README there
for their sources and licence):

* ``<chart>-<version>.values.schema.json``: the merged values (the chart's defaults, then the
  release's values) must validate against it (mandatory).
* ``<chart>-<version>.values.yaml``: the chart's default values. Every key the release sets must be
  a key the chart knows: at the top level, and inside chart-defined maps (a map whose default is
  non-empty). Maps that pass Kubernetes objects or free-form flags through to a template
  (:data:`FREE_FORM`), and maps whose default is empty, accept any key. An unknown key is mandatory.
* A release whose chart version has no vendored files, or whose chart ships no schema, gets an
  advisory "not validated" finding, so nothing is silently unchecked.

Neither pinned chart ships a schema today: ``nvidia-device-plugin`` 0.17.1 (a ``values.schema.json``
exists only on unreleased branches of NVIDIA/k8s-device-plugin) and ``cluster-autoscaler`` 9.59.0.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from . import CheckContext, Finding, check

RELEASE = "kubernetes:helm.sh/v3:Release"
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "helm"
"""Vendored chart files: ``<chart>-<version>.values.schema.json`` and ``<chart>-<version>.values.yaml``."""
FREE_FORM = frozenset(
    {
        "affinity", "annotations", "additionalLabels", "containerSecurityContext", "extraArgs", "labels",
        "nodeSelector", "podAnnotations", "podLabels", "podSecurityContext", "resources", "securityContext",
        "tolerations",
    }
)  # fmt: skip
"""Keys whose value a chart passes through as a Kubernetes object or as free-form flags
(``extraArgs``: any cluster-autoscaler flag), so their sub-keys are not the chart's to know."""
CONFIG_FIELD = {"cluster-autoscaler": "cluster.kubernetes_version", "nvidia-device-plugin": "cluster.gpu_node_groups"}
"""The stack-config field that decides each chart's release (the autoscaler's chart version comes
from the cluster's Kubernetes version; the device plugin exists for the GPU node groups)."""


@functools.cache
def _schema(chart: str, version: str) -> Mapping[str, Any] | None:
    path = DATA_DIR / f"{chart}-{version}.values.schema.json"
    if not path.is_file():
        return None
    loaded: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def _defaults(chart: str, version: str) -> Mapping[str, Any] | None:
    path = DATA_DIR / f"{chart}-{version}.values.yaml"
    if not path.is_file():
        return None
    import yaml

    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, Mapping) else {}


def merge(defaults: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values over chart defaults: maps merge key by key, the rest replaces."""
    merged = dict(defaults)
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def unknown_keys(values: Mapping[str, Any], defaults: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Dotted paths of keys in ``values`` that the chart's defaults do not know."""
    for key, value in values.items():
        dotted = f"{path}{key}"
        if key not in defaults:
            yield dotted
            continue
        default = defaults[key]
        if key in FREE_FORM or not isinstance(value, Mapping) or not isinstance(default, Mapping) or not default:
            continue
        yield from unknown_keys(value, default, f"{dotted}.")


@check(
    name="system-helm-values",
    id="BP-SYS-009",
    description=(
        "Each Helm release's values are valid for its pinned chart: against the chart's values.schema.json where "
        "it ships one, and every key known to the chart's values.yaml; Helm silently ignores an unknown key."
    ),
    remediation=(
        "Fix the key or value in the component that builds the release (components/cluster_autoscaler.py, "
        "components/nvidia_device_plugin.py) as the chart's values.yaml documents it; after a chart upgrade, "
        "vendor the new version's files into blueprint/data/helm/."
    ),
    severity="high",
    resource_types=(RELEASE,),
)
def helm_values(context: CheckContext) -> Iterator[Finding]:
    """Validate every release's values against its vendored chart files."""
    for release in context.resources(RELEASE):
        inputs = release.get("inputs") or {}
        chart, version = str(inputs.get("chart")), str(inputs.get("version"))
        values = inputs.get("values") or {}
        field = CONFIG_FIELD.get(chart)
        schema, defaults = _schema(chart, version), _defaults(chart, version)
        if schema is None and defaults is None:
            yield Finding(
                f"chart {chart} {version} has no vendored values or schema in blueprint/data/helm; its values are "
                "not validated",
                field=field,
                resource=release,
                enforcement="advisory",
            )
            continue
        if defaults is not None:
            for key in unknown_keys(values, defaults):
                yield Finding(
                    f"values.{key} is not a value of chart {chart} {version} (Helm would ignore it)",
                    field=field,
                    resource=release,
                )
        if schema is None:
            yield Finding(
                f"chart {chart} {version} ships no values.schema.json; value types are not validated (keys are)",
                field=field,
                resource=release,
                enforcement="advisory",
            )
            continue
        import jsonschema

        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        merged = merge(defaults or {}, values)
        for error in sorted(validator_class(schema).iter_errors(merged), key=lambda e: list(map(str, e.path))):
            path = ".".join(str(p) for p in error.absolute_path) or "(root)"
            yield Finding(
                f"values.{path}: {error.message} (chart {chart} {version} values.schema.json)",
                field=field,
                resource=release,
            )
