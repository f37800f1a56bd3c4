"""Feature sets: every Lambda function's ``FEATURE_SET`` is a module of the package it deploys.

The handler imports ``preprocessing.feature_sets.<FEATURE_SET>`` for every record; a name the
archive does not contain fails every record of every invocation, and the failures only show up as
messages parked in the dead-letter queue. The check opens the archive the plan deploys (the
``code`` asset of each ``aws:lambda/function:Function``), so it judges the real artifact, not the
source tree.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath

from ..plandoc import Resource
from . import CheckContext, Finding, check

FUNCTION = "aws:lambda/function:Function"
FEATURE_SET_DIR = PurePosixPath("preprocessing/feature_sets")
"""Where the packaged code keeps its feature-set modules (one module per feature set)."""


def function_config_field(context: CheckContext, function: Resource, key: str) -> str:
    """``preprocessing.functions[<i>].<key>`` for the configured function a Lambda belongs to."""
    variables = (function.inputs.get("environment") or {}).get("variables") or {}
    name = variables.get("POWERTOOLS_SERVICE_NAME")
    functions = (context.config("preprocessing") or {}).get("functions") or []
    for index, entry in enumerate(functions):
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return f"preprocessing.functions[{index}].{key}"
    return f"preprocessing.functions[].{key}"


def packaged_feature_sets(archive: zipfile.ZipFile) -> set[str]:
    """Feature-set module names inside a Lambda function archive."""
    names = set()
    for entry in archive.namelist():
        path = PurePosixPath(entry)
        if path.parent == FEATURE_SET_DIR and path.suffix == ".py" and not path.stem.startswith("_"):
            names.add(path.stem)
    return names


@check(
    name="system-lambda-feature-set-packaged",
    id="BP-SYS-002",
    description=(
        "Each preprocessing function's FEATURE_SET is a feature-set module of the archive it deploys; "
        "otherwise every record fails and ends in the dead-letter queue."
    ),
    remediation=(
        "Set preprocessing.functions[].feature_set to a module of lambda_src/preprocessing/feature_sets/ "
        "(or add the module), then rebuild the package with `make package`."
    ),
    severity="critical",
    resource_types=(FUNCTION,),
)
def feature_set_packaged(context: CheckContext) -> Iterator[Finding]:
    """Open each function's code archive and look for its feature-set module."""
    for function in context.resources(FUNCTION):
        inputs = function.inputs
        feature_set = ((inputs.get("environment") or {}).get("variables") or {}).get("FEATURE_SET")
        archive_path = ((inputs.get("code") or {}).get("archive") or {}).get("path")
        if not feature_set or not archive_path:
            continue  # not a preprocessing function of this library
        where = function_config_field(context, function, "feature_set")
        path = context.root / archive_path
        try:
            with zipfile.ZipFile(path) as archive:
                available = packaged_feature_sets(archive)
        except (OSError, zipfile.BadZipFile) as exc:
            yield Finding(f"cannot open the function's package {archive_path}: {exc}", field=where, resource=function)
            continue
        if feature_set not in available:
            yield Finding(
                f"FEATURE_SET '{feature_set}' is not in the package {archive_path} "
                f"(it has: {', '.join(sorted(available)) or 'none'})",
                field=where,
                resource=function,
            )
