"""Kubernetes objects against the Kubernetes API schema of the cluster's version.

Every object the plan creates through pulumi-kubernetes (``kubernetes:<group>/<version>:<Kind>``,
its inputs being the object itself) is validated against the strict OpenAPI-derived JSON schema of
the stack's Kubernetes minor version, as shipped offline by ``kubernetes-validate``
(https://pypi.org/project/kubernetes-validate/). Strict schemas reject unknown fields, so a typo
such as ``securityContext.runAsNonroot`` — which the API server would drop or refuse at
``pulumi up`` — is found in the plan. Helm releases are not Kubernetes objects and are skipped;
their values are checked against the charts' own schemas where those ship one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..plandoc import Resource
from . import CheckContext, Finding, check

PREFIX = "kubernetes:"
SKIPPED_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigGroup")
"""Pulumi types that are not a single Kubernetes object (Helm releases, charts, config groups)."""
CLUSTER = "aws:eks/cluster:Cluster"


def _cluster_version(context: CheckContext) -> str | None:
    versions = {str(c.inputs.get("version")) for c in context.resources(CLUSTER)}
    return versions.pop() if len(versions) == 1 else None


def _objects(context: CheckContext) -> Iterator[Resource]:
    for record in context.document.resources:
        type_ = record.type
        if (
            record.custom
            and type_.startswith(PREFIX)
            and not type_.startswith("kubernetes:pulumi")
            and type_ not in SKIPPED_TYPES
        ):
            yield record


@functools.cache
def _registry(schema_dir: str) -> Any:
    """The shared ``_definitions.json`` of one schema directory, loaded once per process."""
    from kubernetes_validate import utils as kv
    from referencing import Registry, Resource

    definitions = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", schema_dir)
    return Resource.from_contents(definitions) @ Registry()


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> Any:
    """A strict validator for one kind at one Kubernetes minor version (cached: building one resolves
    the schema's references into the 1.6 MB definitions, which dominates the cost).

    Follows ``kubernetes_validate.validate``: the newest shipped schema not newer than ``version``;
    raises ``VersionNotSupportedError`` for a version newer than any shipped, ``FileNotFoundError``
    for a kind without a schema (a custom resource)."""
    import jsonschema
    from kubernetes_validate import utils as kv
    from packaging.version import Version
    from referencing import Resource

    if Version(version) > Version(kv.major_minor(kv.latest_version())):
        raise kv.VersionNotSupportedError(version=version)
    shipped = [v for v in kv.all_versions() if Version(kv.major_minor(v)) <= Version(version)][-1]
    schema_dir = f"v{shipped}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group_version}.json", version)
    registry = Resource.from_contents(schema) @ _registry(schema_dir)
    return jsonschema.Draft202012Validator(schema, registry=registry)


CRD_SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "crd_schemas"
"""Our own schemas of the custom resources the library creates (KEDA's ScaledObject and
TriggerAuthentication), ``<group>-<version>-<kind>.json``, written from the projects' specifications."""


@functools.cache
def _crd_validator(api_version: str, kind: str) -> Any:
    """A validator from :data:`CRD_SCHEMAS` for a custom resource, or None when none is vendored."""
    import jsonschema

    path = CRD_SCHEMAS / f"{api_version.replace('/', '-')}-{kind.lower()}.json"
    if not path.is_file():
        return None
    return jsonschema.Draft202012Validator(json.loads(path.read_text()))


@check(
    name="system-kubernetes-schema",
    id="BP-SYS-003",
    description=(
        "Every Kubernetes object the plan creates is valid against the strict API schema of the cluster's "
        "Kubernetes version; the API server would refuse or silently drop what is not."
    ),
    remediation=(
        "Fix the object's field as the message says (the JSON path points into the object); if the field "
        "is new in Kubernetes, raise cluster.kubernetes_version first."
    ),
    severity="high",
)
def kubernetes_schema(context: CheckContext) -> Iterator[Finding]:
    """Validate each object against the strict schema of its kind at the cluster's version."""
    objects = list(_objects(context))
    version = _cluster_version(context)
    if not objects or version is None:
        return
    from kubernetes_validate import utils as kv

    for record in objects:
        inputs = dict(record.inputs)
        kind, api_version = inputs.get("kind"), inputs.get("apiVersion")
        if not isinstance(kind, str) or not isinstance(api_version, str):
            yield Finding(f"{record.type} has no kind or apiVersion", resource=record)
            continue
        try:
            validator = _crd_validator(api_version, kind) or _validator(version, api_version, kind)
        except FileNotFoundError:
            yield Finding(
                f"no Kubernetes {version} schema for {api_version} {kind} (a custom resource?); not validated",
                resource=record,
                enforcement="advisory",
            )
            continue
        except (kv.VersionNotSupportedError, kv.InvalidSchemaError) as exc:
            yield Finding(f"cannot validate {kind}: {exc.message}", resource=record, enforcement="advisory")
            continue
        for error in sorted(validator.iter_errors(inputs), key=lambda e: list(map(str, e.absolute_path))):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            yield Finding(f"{kind} {path or '.'}: {error.message} (Kubernetes {version} schema)", resource=record)
