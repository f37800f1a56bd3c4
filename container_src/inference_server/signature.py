"""The model's input contract: ``signature.json``, published beside ``model.onnx``.

Layout (Triton-style model repository, one immutable directory per version)::

    s3://<registry>/<prefix>/<model>/<version>/model.onnx
    s3://<registry>/<prefix>/<model>/<version>/signature.json

The signature says which feature-table columns feed which ONNX input, in which order and with which
Arrow types, and which key columns are copied to every score row so scores join back to their input
rows. It is the single source of the columns: the batch job's configuration carries none (the columns
belong to the model version, which is published once and never changes, not to the deployment).

Example (``docs/examples/fraud-scorer.signature.json`` is the one for the ``transactions`` feature set)::

    {
      "signature_version": 1,
      "feature_set": "transactions",
      "inputs": [
        {"name": "INPUT0", "datatype": "FP32",
         "columns": [{"name": "amount", "type": "double"}, {"name": "is_foreign", "type": "bool"}]}
      ],
      "keys": [{"name": "transaction_id", "type": "string"},
               {"name": "event_timestamp", "type": "timestamp[us, tz=UTC]"}]
    }

Checks, all made before anything is scored (:class:`ContractError`, batch exit status 3):

* the document itself (:meth:`ModelSignature.parse`): JSON, known fields only, unique names, Arrow types
  that exist;
* against the ONNX model (:meth:`ModelSignature.check_model`): the same input names, the same V2
  datatypes, rank 1 (``[N]``, one column) or rank 2 (``[N, K]``, exactly ``K`` columns unless ``K`` is
  dynamic), column types that can be cast to the input (numbers and booleans for numeric inputs, strings
  for ``BYTES``); key names must not clash with the output columns;
* against each input file's Parquet schema (:meth:`ModelSignature.check_schema`): every feature and key
  column present with exactly the declared Arrow type (the file's column order and extra columns do not
  matter: columns are selected by name).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from inference_server.datatypes import BY_V2

if TYPE_CHECKING:
    import pyarrow as pa

    from inference_server.model import TensorSpec

SIGNATURE_FILE = "signature.json"
"""File name of the signature in the model version directory (beside ``model.onnx``)."""
MODEL_NAME_COLUMN = "model_name"
MODEL_VERSION_COLUMN = "model_version"
RESERVED_COLUMNS = frozenset({MODEL_NAME_COLUMN, MODEL_VERSION_COLUMN})
"""Output columns the batch job always writes; keys must not use these names."""

_TIMESTAMP_RE = re.compile(r"^timestamp\[(s|ms|us|ns)(?:, tz=([^\]]+))?\]$")
_INTEGER_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_SIMPLE_TYPES: tuple[str, ...] = (
    *("bool", "float16", "float32", "float64", "halffloat", "float", "double", "string", "utf8"),
    *("large_string", "large_utf8", "date32", "date64", "binary", *_INTEGER_TYPES),
)

ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class ContractError(ValueError):
    """The model's signature is missing or invalid, or it does not fit the model or the input data."""


def arrow_type(text: str) -> pa.DataType:
    """Parse an Arrow type name as ``str(pyarrow type)`` prints it (``double``, ``int8``, ``bool``,
    ``string``, ``timestamp[us, tz=UTC]``, ...); raises :class:`ValueError` for anything else."""
    import pyarrow as pa

    value = text.strip()
    if match := _TIMESTAMP_RE.match(value):
        return pa.timestamp(match.group(1), tz=match.group(2))
    if value == "date32[day]":
        return pa.date32()
    if value == "date64[ms]":
        return pa.date64()
    if value in _SIMPLE_TYPES:
        return pa.type_for_alias(value)
    raise ValueError(
        f"unsupported Arrow type {text!r}; use a name as pyarrow prints it: bool, int8..int64, uint8..uint64, "
        "float (float32), double (float64), string, timestamp[us, tz=UTC], date32[day]"
    )


def _is_numeric(data_type: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_boolean(data_type))


def _is_string(data_type: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(data_type) or pa.types.is_large_string(data_type))


class ColumnSpec(BaseModel):
    """One column of the feature table, with the Arrow type the input files must have."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: ColumnName
    """Column name in the Parquet files. Required."""
    type: str
    """Arrow type as pyarrow prints it (``double``, ``int8``, ``bool``, ``string``, ``timestamp[us, tz=UTC]``);
    normalised (``float64`` becomes ``double``). Required."""

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return str(arrow_type(value))


class InputSpec(BaseModel):
    """One ONNX model input and the columns that feed it, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: ColumnName
    """The ONNX input name. Required."""
    datatype: str
    """The input's V2 datatype (``FP32``, ``INT64``, ``BYTES``, ...); must equal the ONNX input's. Required."""
    columns: list[ColumnSpec] = Field(min_length=1)
    """The columns of the input's last axis, in order: one for an ``[N]`` input, ``K`` for ``[N, K]``.
    Values are cast to ``datatype`` (booleans become 0/1; nulls become NaN for floating-point inputs and
    fail the file otherwise). Required."""

    @field_validator("datatype")
    @classmethod
    def _known_datatype(cls, value: str) -> str:
        if value not in BY_V2:
            raise ValueError(f"{value!r} is not a V2 datatype ({', '.join(BY_V2)})")
        return value

    @field_validator("columns")
    @classmethod
    def _unique_columns(cls, value: list[ColumnSpec]) -> list[ColumnSpec]:
        names = [c.name for c in value]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"lists column(s) {', '.join(duplicates)} more than once")
        return value


class ModelSignature(BaseModel):
    """The document in ``signature.json`` (version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    signature_version: Literal[1]
    """Format version of this document. Required: ``1``."""
    feature_set: ColumnName | None = None
    """The feature set the model was trained on. Defaults to none (any); when set, a batch job for another
    feature set stops with a contract error."""
    inputs: list[InputSpec] = Field(min_length=1)
    """One entry per ONNX input. Required."""
    keys: list[ColumnSpec] = Field(min_length=1)
    """Pass-through key columns copied to every score row, in this order, so scores join back to their
    input rows (include the feature set's unique key, e.g. ``transaction_id``). Required, at least one."""

    @model_validator(mode="after")
    def _unique(self) -> ModelSignature:
        inputs = [i.name for i in self.inputs]
        if duplicates := sorted({n for n in inputs if inputs.count(n) > 1}):
            raise ValueError(f"inputs: input(s) {', '.join(duplicates)} declared more than once")
        keys = [k.name for k in self.keys]
        if duplicates := sorted({n for n in keys if keys.count(n) > 1}):
            raise ValueError(f"keys: column(s) {', '.join(duplicates)} listed more than once")
        if reserved := sorted(RESERVED_COLUMNS.intersection(keys)):
            raise ValueError(f"keys: {', '.join(reserved)} is written by the batch job itself; rename the column")
        declared: dict[str, str] = {}
        for column in [*(c for i in self.inputs for c in i.columns), *self.keys]:
            if declared.setdefault(column.name, column.type) != column.type:
                raise ValueError(
                    f"column {column.name!r} is declared with two types ({declared[column.name]}, {column.type})"
                )
        return self

    @classmethod
    def parse(cls, raw: bytes, source: str) -> ModelSignature:
        """Parse and validate ``signature.json`` bytes; raises :class:`ContractError` naming ``source``."""
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ContractError(f"{source} is not valid JSON: {exc}") from None
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or '(document)'}: {error['msg']}" for error in exc.errors()
            )
            raise ContractError(f"{source} is not a valid model signature: {problems}") from None

    @property
    def key_names(self) -> tuple[str, ...]:
        """The pass-through key columns, in output order."""
        return tuple(k.name for k in self.keys)

    @property
    def columns(self) -> dict[str, str]:
        """Every column the job reads (keys first, then features) with its declared Arrow type."""
        result = {k.name: k.type for k in self.keys}
        for spec in self.inputs:
            result.update({c.name: c.type for c in spec.columns})
        return result

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of this signature (recorded in lineage)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def check_model(self, inputs: Sequence[TensorSpec], output_columns: Iterable[str], source: str) -> None:
        """Check the signature against the ONNX model's inputs and output column names.

        Raises :class:`ContractError` listing every mismatch.
        """
        problems: list[str] = []
        model_inputs = {s.name: s for s in inputs}
        declared = {i.name: i for i in self.inputs}
        if missing := [n for n in model_inputs if n not in declared]:
            problems.append(f"model input(s) {', '.join(missing)} have no entry in inputs")
        if unknown := [n for n in declared if n not in model_inputs]:
            problems.append(
                f"inputs names {', '.join(unknown)}, not an input of the model (inputs: {', '.join(model_inputs)})"
            )
        for name, entry in declared.items():
            spec = model_inputs.get(name)
            if spec is None:
                continue
            where = f"inputs[{name}]"
            if entry.datatype != spec.datatype.v2:
                problems.append(f"{where}.datatype is {entry.datatype}, the model's input is {spec.datatype.v2}")
            rank = len(spec.shape)
            count = len(entry.columns)
            if rank == 1 and count != 1:
                problems.append(f"{where}: the model's input has shape {list(spec.shape)} (one column), got {count}")
            elif rank == 2 and spec.shape[1] != -1 and spec.shape[1] != count:
                problems.append(
                    f"{where}: the model's input has shape {list(spec.shape)} (K={spec.shape[1]} columns), "
                    f"the signature lists {count}"
                )
            elif rank not in (1, 2):
                problems.append(
                    f"{where}: the model's input has shape {list(spec.shape)}; batch scoring feeds [N] or [N, K]"
                )
            for column in entry.columns:
                data_type = arrow_type(column.type)
                fits = _is_string(data_type) if spec.datatype.is_bytes else _is_numeric(data_type)
                if not fits:
                    problems.append(
                        f"{where}: column {column.name!r} ({column.type}) cannot feed a {spec.datatype.v2} input"
                    )
        if clash := sorted(set(self.key_names).intersection(output_columns)):
            problems.append(f"keys {', '.join(clash)} clash with the model's output columns")
        if problems:
            raise ContractError(f"{source} does not fit the model: " + "; ".join(problems))

    def schema_problems(self, schema: pa.Schema) -> list[str]:
        """What in ``schema`` (a Parquet file's Arrow schema) breaks the signature; empty when it fits."""
        problems: list[str] = []
        for name, expected in self.columns.items():
            index = schema.get_field_index(name)
            if index < 0:
                problems.append(f"column {name!r} ({expected}) is missing")
            elif str(schema.field(index).type) != expected:
                problems.append(f"column {name!r} is {schema.field(index).type}, the signature says {expected}")
        return problems

    def check_schema(self, schema: pa.Schema, source: str) -> None:
        """Raise :class:`ContractError` when ``schema`` (of the file ``source``) does not fit."""
        if problems := self.schema_problems(schema):
            raise ContractError(f"{source} does not match the model signature: " + "; ".join(problems))


def json_schema_text() -> str:
    """The JSON Schema of ``signature.json`` as published in ``docs/model-signature.schema.json``.

    Regenerate with ``python -c "from inference_server.signature import json_schema_text as s;
    print(s(), end='')" > docs/model-signature.schema.json`` (from ``container_src/``).
    """
    schema = ModelSignature.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "signature.json (model input contract, published beside model.onnx)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
