"""Helm values: each ``kubernetes:helm.sh/v3:Release`` of the plan against its pinned chart.

Helm validates the merged values against the chart's ``values.schema.json`` when the chart ships
one (https://helm.sh/docs/topics/charts/#schema-files), and refuses the install otherwise only at
``pulumi up``. Without a schema Helm validates nothing: a misspelt key (``nodeSelecter``) is
silently ignored and the add-on runs with the chart's default. This check judges both in the plan,
from the pinned chart's own archive (``<chart>-<version>.tgz``, as ``helm pull`` or ``helm repo``
caches it), looked up in the directories of ``BLUEPRINT_HELM_CHARTS`` (``os.pathsep``-separated),
then in Helm's repository cache (``$HELM_CACHE_HOME/repository``, by default
``~/.cache/helm/repository``: https://helm.sh/docs/faq/installing/#xdg-base-directory-support).
The library ships no copy of any chart.

* ``values.schema.json`` in the archive: the merged values (the chart's defaults, then the
  release's values) must validate against it (mandatory).
* ``values.yaml`` in the archive: every key the release sets must be a key the chart knows: at the
  top level, and inside chart-defined maps (a map whose default is non-empty). Maps that pass
  Kubernetes objects or free-form flags through to a template (:data:`FREE_FORM`), and maps whose
  default is empty, accept any key. An unknown key is mandatory.
* A release whose chart archive is not found, or whose chart ships no schema, gets an advisory
  "not validated" finding, so nothing is silently unchecked. To validate offline, fetch the pinned
  charts once: ``helm pull autoscaler/cluster-autoscaler --version <v> -d <dir>`` and
  ``helm pull nvdp/nvidia-device-plugin --version <v> -d <dir>``, then ``BLUEPRINT_HELM_CHARTS=<dir>``.

Neither pinned chart ships a schema today: ``nvidia-device-plugin`` 0.17.1 (a ``values.schema.json``
exists only on unreleased branches of NVIDIA/k8s-device-plugin) and ``cluster-autoscaler`` 9.59.0.
"""

from __future__ import annotations

import functools
import json
import os
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from . import CheckContext, Finding, check

RELEASE = "kubernetes:helm.sh/v3:Release"
CHARTS_ENV = "BLUEPRINT_HELM_CHARTS"
"""Directories (``os.pathsep``-separated) searched first for ``<chart>-<version>.tgz``."""
FREE_FORM = frozenset(
    {
        "affinity", "annotations", "additionalLabels", "containerSecurityContext", "extraArgs", "labels",
        "nodeSelector", "podAnnotations", "podLabels", "podSecurityContext", "resources", "securityContext",
        "tolerations",
    }
)  # fmt: skip
"""Keys whose value a chart passes through as a Kubernetes object or as free-form flags
(``extraArgs``: any cluster-autoscaler flag), so their sub-keys are not the chart's to know."""
CONFIG_FIELD = {
    "cluster-autoscaler": "cluster.kubernetes_version",
    "nvidia-device-plugin": "cluster.gpu_node_groups",
    "keda": "inference.models",
}
"""The stack-config field that decides each chart's release (the autoscaler's chart version comes
from the cluster's Kubernetes version; the device plugin exists for the GPU node groups; KEDA scales
the models)."""


def chart_dirs() -> list[Path]:
    """Where chart archives are looked up: ``BLUEPRINT_HELM_CHARTS``, then Helm's repository cache."""
    dirs = [Path(p) for p in os.environ.get(CHARTS_ENV, "").split(os.pathsep) if p]
    cache = os.environ.get("HELM_CACHE_HOME") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "helm"
    )
    dirs.append(Path(cache) / "repository")
    return dirs


def chart_files(chart: str, version: str) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None] | None:
    """``(values.yaml, values.schema.json)`` of the chart archive (either may be None), or None when
    no ``<chart>-<version>.tgz`` is found."""
    return _chart_files(chart, version, tuple(chart_dirs()))


def _member_text(tar: tarfile.TarFile, name: str) -> str | None:
    """A regular file of the archive as text, or None when the archive has no such file."""
    try:
        member = tar.getmember(name)
    except KeyError:
        return None
    handle = tar.extractfile(member) if member.isfile() else None
    return handle.read().decode("utf-8") if handle else None


@functools.cache
def _chart_files(
    chart: str, version: str, dirs: tuple[Path, ...]
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None] | None:
    import yaml

    for directory in dirs:
        archive = directory / f"{chart}-{version}.tgz"
        if not archive.is_file():
            continue
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}

            def read(
                name: str, tar: tarfile.TarFile = tar, members: dict[str, tarfile.TarInfo] = members
            ) -> str | None:
                member = members.get(f"{chart}/{name}")
                handle = tar.extractfile(member) if member else None
                return handle.read().decode("utf-8") if handle else None

            values_text, schema_text = read("values.yaml"), read("values.schema.json")
        values = yaml.safe_load(values_text) if values_text is not None else None
        defaults = values if isinstance(values, Mapping) else ({} if values_text is not None else None)
        schema = json.loads(schema_text) if schema_text is not None else None
        return defaults, schema
    return None


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
        "components/nvidia_device_plugin.py) as the chart's values.yaml documents it."
    ),
    severity="high",
    resource_types=(RELEASE,),
)
def helm_values(context: CheckContext) -> Iterator[Finding]:
    """Validate every release's values against its pinned chart's archive."""
    for release in context.resources(RELEASE):
        inputs = release.inputs
        chart, version = str(inputs.get("chart")), str(inputs.get("version"))
        values = inputs.get("values") or {}
        field = CONFIG_FIELD.get(chart)
        files = chart_files(chart, version)
        if files is None:
            yield Finding(
                f"chart archive {chart}-{version}.tgz not found (helm pull it into {CHARTS_ENV} or Helm's "
                "repository cache); its values are not validated",
                field=field,
                resource=release,
                enforcement="advisory",
            )
            continue
        defaults, schema = files
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
