"""Registry of feature sets, keyed by the ``FEATURE_SET`` environment variable.

A feature set is one module in this package whose name is the feature set's name (``-`` written as
``_``) and which defines a module-level ``FEATURE_SET: FeatureSet``. Nothing else has to change to add one:
:func:`get_feature_set` imports the module on demand, so only the configured feature set is ever loaded.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    import pyarrow as pa

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class UnknownFeatureSetError(LookupError):
    """``FEATURE_SET`` names no module in :mod:`preprocessing.feature_sets`."""


@dataclass(frozen=True)
class BuildContext:
    """What a feature set's ``build`` may use besides the rows.

    ``created_timestamp`` is the source object's S3 ``LastModified`` (UTC): deterministic for one object
    version, so a re-run produces identical output.
    """

    created_timestamp: datetime


@dataclass(frozen=True)
class ColumnarCodec:
    """The columnar fast path of a feature set (optional): validation and features over whole columns.

    Attributes:
        validate: ``(table) -> (normalized, ok)``: ``table`` holds the object's CSV columns as strings;
            ``ok`` marks the rows the columns prove valid, and ``normalized`` holds their values as the row
            model would produce them (same column layout as :attr:`from_models`). Rows not marked ``ok``
            are validated by :attr:`FeatureSet.row_model`, which decides them and words their errors, so a
            check may be stricter than the model but never looser (tests hold it to the model).
            ``normalized`` is ``None`` when no row can be proven valid (e.g. a column is missing).
        from_models: ``(valid_models) -> table`` in the same layout as ``normalized``.
        build_table: ``(normalized, context, rows) -> pyarrow.Table``: the features of the rows of
            ``normalized`` that ``rows`` (indices, or ``None`` for all) selects, exactly
            :attr:`FeatureSet.output_schema`, whatever the order of those rows;
            ``FeatureSet.build(models, ctx)`` must equal ``build_table(from_models(models), ctx, None)``.
            A row's features may depend on the other rows of its entity (``FeatureSet.entity_key``) in the
            object, never on other entities' rows: the streaming pipeline builds entities in groups.
        sort_keys: the columns ``build_table``'s output is sorted by, ascending, a key unique per row,
            starting with ``FeatureSet.event_timestamp`` (the streaming pipeline merges groups in this
            order and writes partitions as they complete). Defaults to ``()``: the object's rows are
            built in one group, in memory.
    """

    validate: Callable[[pa.Table], tuple[pa.Table | None, pa.ChunkedArray | pa.Array]]
    from_models: Callable[[Sequence[Any]], pa.Table]
    build_table: Callable[[pa.Table, BuildContext, pa.Array | None], pa.Table]
    sort_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeatureSet:
    """A feature set: how raw rows are validated and turned into a feature table.

    Attributes:
        name: the ``FEATURE_SET`` value and the output prefix (``<name>/``).
        schema_version: bump it whenever the row model or the output columns change; it is part of the
            deterministic output name, so a new schema version re-processes objects into new files.
        row_model: pydantic model one input row must satisfy (invalid rows go to the quarantine).
        entity_key: output column holding the entity (join) key, e.g. for Feast's ``FileSource``.
        event_timestamp: output column holding the tz-aware UTC event time; it drives the ``dt=`` partition.
        created_timestamp: output column holding the ingestion time (or ``None`` if the set has none).
        unique_key: row-model field that must be unique within one object (later duplicates are
            quarantined), or ``None`` for no check.
        build: ``(valid_rows, context) -> pyarrow.Table`` computing the features; must return a table with
            exactly :attr:`output_schema` and be deterministic.
        output_schema: ``() -> pyarrow.Schema`` (a callable so pyarrow is only imported when needed).
        description: one line for docs and manifests.
        columnar: the columnar fast path for CSV objects. Defaults to ``None``: every row is validated
            by :attr:`row_model` and built with :attr:`build`.
    """

    name: str
    schema_version: str
    row_model: type[BaseModel]
    entity_key: str
    event_timestamp: str
    created_timestamp: str | None
    unique_key: str | None
    build: Callable[[Sequence[Any], BuildContext], pa.Table]
    output_schema: Callable[[], pa.Schema]
    description: str = ""
    columnar: ColumnarCodec | None = None


def module_name_for(name: str) -> str:
    """The module implementing feature set ``name`` (``-`` becomes ``_``).

    Raises:
        UnknownFeatureSetError: ``name`` is not a valid feature set name.
    """
    if not _NAME.match(name):
        raise UnknownFeatureSetError(f"invalid feature set name {name!r}: expected {_NAME.pattern}")
    return f"{__name__}.{name.replace('-', '_')}"


def available_feature_sets() -> list[str]:
    """Module names of every feature set shipped in this package, sorted."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


@cache
def get_feature_set(name: str) -> FeatureSet:
    """Import and return the feature set registered under ``name``.

    Raises:
        UnknownFeatureSetError: no such module, or it does not define a matching ``FEATURE_SET``.
    """
    module_name = module_name_for(name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UnknownFeatureSetError(
            f"unknown feature set {name!r}; available: {', '.join(available_feature_sets()) or 'none'}"
        ) from exc
    feature_set = getattr(module, "FEATURE_SET", None)
    if not isinstance(feature_set, FeatureSet) or feature_set.name != name:
        raise UnknownFeatureSetError(f"module {module_name} must define FEATURE_SET = FeatureSet(name={name!r}, ...)")
    return feature_set
