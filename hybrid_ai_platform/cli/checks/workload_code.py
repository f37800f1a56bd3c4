"""Loading what workload code declares about itself (accepted events, AWS calls) for the system checks.

A workload ships its declarations as plain-data modules beside its code (no imports, no pulumi):
``preprocessing/accepts.py`` and ``preprocessing/aws_calls.py`` in the Lambda package,
``inference_server/aws_calls.py`` in the container source. The checks load them from the artifact the
plan deploys where there is one (the Lambda archive) and from the source tree otherwise (the container
image is built from ``container_src/``), and never keep a copy of their content.

Not a check module: it registers nothing.
"""

from __future__ import annotations

import types
import zipfile
from pathlib import Path
from typing import Any

from ..plandoc import Resource


class DeclarationError(ValueError):
    """A declaration module is missing, unreadable or not of the documented shape."""


def _module(source: str, origin: str) -> types.ModuleType:
    module = types.ModuleType(f"_blueprint_declaration_{abs(hash(origin))}")
    module.__file__ = origin
    try:
        exec(compile(source, origin, "exec"), module.__dict__)  # noqa: S102 - the project's own workload code
    except Exception as exc:  # a syntax or runtime error in the declaration is reported, not raised
        raise DeclarationError(f"cannot load {origin}: {type(exc).__name__}: {exc}") from exc
    return module


def load_from_archive(archive_path: Path, member: str) -> types.ModuleType:
    """Load ``member`` (e.g. ``preprocessing/accepts.py``) from a deployment archive, by path."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            source = archive.read(member).decode()
    except KeyError:
        raise DeclarationError(f"the package {archive_path} has no {member}") from None
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise DeclarationError(f"cannot open the package {archive_path}: {exc}") from exc
    return _module(source, f"{archive_path}!{member}")


def load_from_source(path: Path) -> types.ModuleType:
    """Load a declaration module from the source tree, by path."""
    try:
        source = path.read_text()
    except OSError as exc:
        raise DeclarationError(f"cannot read {path}: {exc}") from exc
    return _module(source, str(path))


def lambda_archive(root: Path, function: Resource) -> Path | None:
    """The code archive an ``aws:lambda/function:Function`` record deploys (None when it has none)."""
    path = ((function.inputs.get("code") or {}).get("archive") or {}).get("path")
    return root / path if path else None


def attribute(module: types.ModuleType, name: str) -> Any:
    """``module.<name>``, or :class:`DeclarationError` naming the module."""
    try:
        return getattr(module, name)
    except AttributeError:
        raise DeclarationError(f"{module.__file__} does not define {name}") from None
