"""Feeds and scoring: a record batch of the signature's columns in, the model's score columns out."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from inference_server.batch.settings import BatchError
from inference_server.model import LoadedModel, TensorSpec
from inference_server.signature import ModelSignature


def build_feeds(model: LoadedModel, signature: ModelSignature, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
    """Model inputs for every row of ``batch`` (dim 0 = rows) from the signature's columns, in its order,
    cast to the inputs' datatypes (``[N]`` inputs get a vector, ``[N, K]`` inputs a matrix)."""
    feeds: dict[str, np.ndarray] = {}
    for entry in signature.inputs:
        spec = model.input_by_name[entry.name]
        if len(spec.shape) == 1:
            column = entry.columns[0].name
            feeds[spec.name] = _column_values(batch.column(column), spec, column)
            continue
        matrix = np.empty((batch.num_rows, len(entry.columns)), dtype=spec.datatype.numpy)
        for j, column_spec in enumerate(entry.columns):
            matrix[:, j] = _column_values(batch.column(column_spec.name), spec, column_spec.name)
        feeds[spec.name] = matrix
    return feeds


def output_column_names(model: LoadedModel) -> list[str]:
    """The score columns a model writes (as far as its static output shapes tell; see :func:`output_columns`)."""
    names: list[str] = []
    for spec in model.outputs:
        if len(spec.shape) <= 1:
            names.append(spec.name)
        elif all(d > 0 for d in spec.shape[1:]):
            names.extend(f"{spec.name}_{i}" for i in range(math.prod(spec.shape[1:])))
    return names


def _column_values(column: pa.Array | pa.ChunkedArray, spec: TensorSpec, name: str) -> np.ndarray:
    """A column as a 1-D array of the input's dtype (nulls become NaN for floating inputs)."""
    dtype = spec.datatype.numpy
    if spec.datatype.is_bytes:
        return np.array(column.to_pylist(), dtype=object)
    if column.null_count:
        if dtype.kind != "f":
            raise BatchError(
                f"column {name!r} has {column.null_count} nulls; model input {spec.name!r} is "
                f"{spec.datatype.v2} (only floating-point inputs take nulls, as NaN)"
            )
        column = column.cast(pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False)).astype(dtype, copy=False)


def run_rows(model: LoadedModel, max_batch_size: int) -> tuple[int, bool]:
    """Rows per ONNX Runtime run and whether runs must be padded to exactly that many (fixed dim 0)."""
    fixed = {s.shape[0] for s in model.inputs if s.shape and s.shape[0] > 0}
    if len(fixed) == 1:
        return fixed.pop(), True
    return max_batch_size, False


def score(model: LoadedModel, feeds: dict[str, np.ndarray], rows: int, max_batch_size: int) -> dict[str, np.ndarray]:
    """Run the model over ``rows`` rows, at most ``max_batch_size`` (or the fixed dim 0) per run.

    Returns every output concatenated along dim 0. With zero rows a one-row probe of zeros gives the
    output shapes and datatypes, and empty arrays of those are returned.
    """
    names = [s.name for s in model.outputs]
    step, pad = run_rows(model, max_batch_size)
    if rows == 0:
        probe = {
            name: np.full((1, *value.shape[1:]), "" if value.dtype == object else 0, dtype=value.dtype)
            for name, value in feeds.items()
        }
        result = score(model, probe, 1, max_batch_size)
        return {name: value[:0] for name, value in result.items()}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, rows, step):
        count = min(step, rows - start)
        run_feeds = {name: value[start : start + count] for name, value in feeds.items()}
        if pad and count < step:
            run_feeds = {
                name: np.concatenate([value, np.repeat(value[-1:], step - count, axis=0)])
                for name, value in run_feeds.items()
            }
        outputs = model.run(run_feeds, names)
        for name, value in zip(names, outputs, strict=True):
            if value.ndim == 0 or value.shape[0] != (step if pad else count):
                raise BatchError(
                    f"model output {name!r} has shape {list(value.shape)} for a {count}-row run; batch scoring "
                    "needs outputs whose first dimension is the row count"
                )
            parts[name].append(value[:count])
    return {name: np.concatenate(chunks) if len(chunks) > 1 else chunks[0] for name, chunks in parts.items()}


def output_columns(outputs: Mapping[str, np.ndarray]) -> dict[str, pa.Array]:
    """``<output>`` for ``[N]`` outputs, ``<output>_<i>`` for ``[N, C]`` (higher ranks are flattened row-wise)."""
    columns: dict[str, pa.Array] = {}
    for name, value in outputs.items():
        if value.ndim == 1:
            columns[name] = _to_arrow(value)
            continue
        flat = value.reshape(value.shape[0], -1)
        for i in range(flat.shape[1]):
            columns[f"{name}_{i}"] = _to_arrow(flat[:, i])
    return columns


def _to_arrow(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array(values.tolist())
    return pa.array(np.ascontiguousarray(values))
