"""Open Inference Protocol (V2) request parsing and response encoding, incl. binary tensor data.

Binary tensor data extension: when the ``Inference-Header-Content-Length`` header is present, the body
is that many bytes of JSON followed by the raw tensor bytes of every input carrying a
``parameters.binary_data_size``, concatenated in input order. Outputs are returned in binary when the
request asks for it per output (``outputs[].parameters.binary_data``) or for all outputs
(``parameters.binary_data_output``); tritonclient.http does both by default.

Every problem with a request raises :class:`ApiError` carrying a 4xx status and a message that becomes
the V2 error body ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from inference_server.datatypes import BY_V2, DataType, deserialize_bytes, serialize_bytes
from inference_server.model import TensorSpec

HEADER_LENGTH = "Inference-Header-Content-Length"
# orjson reads integer literals of 20+ digits as floats where json keeps them exact: bodies with a run of 20
# digits take json. (translate + find is C speed; a regex costs as much as json.loads itself.)
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 20


class ApiError(Exception):
    """An error answered with ``{"error": message}`` and ``status`` (400 unless told otherwise)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class InferRequest:
    """A validated inference request: typed input arrays and the outputs to return."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[str]
    binary_outputs: dict[str, bool] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Size of dimension 0 (the batch dimension) of the first input; 1 for scalars."""
        first = next(iter(self.inputs.values()))
        return int(first.shape[0]) if first.ndim else 1

    def group_key(self) -> tuple[object, ...]:
        """Requests with equal keys can be stacked along dim 0: same non-batch shapes and outputs."""
        if len(self.inputs) == 1:
            ((name, array),) = self.inputs.items()
            return (((name, array.shape[1:]),), tuple(self.outputs))
        return (
            tuple((n, a.shape[1:]) for n, a in sorted(self.inputs.items())),
            tuple(self.outputs),
        )


def _split_body(body: bytes, header_length: str | None) -> tuple[Any, memoryview]:
    if header_length is None:
        json_part, binary = body, memoryview(b"")
    else:
        try:
            length = int(header_length)
        except ValueError:
            raise ApiError(f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from None
        if not 0 < length <= len(body):
            raise ApiError(
                f"{HEADER_LENGTH} is {length} but the request body has {len(body)} bytes; "
                "the JSON header length must be between 1 and the body size"
            )
        json_part, binary = body[:length], memoryview(body)[length:]
    if not json_part:
        raise ApiError("request body is empty; expected a JSON inference request")
    try:
        payload = _loads(json_part)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError("inference request must be a JSON object")
    return payload, binary


def _loads(data: bytes) -> Any:
    """``json.loads``, with orjson's faster parser for the documents both read alike.

    orjson is strict RFC 8259; what it refuses (NaN/Infinity literals, a BOM, lone surrogates, numbers
    beyond double range) and integers of 20+ digits go to ``json.loads``, so the result - or the error
    message - is exactly json's.
    """
    if _LONG_RUN not in data.translate(_DIGITS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


# Largest finite value of each float width by itemsize (FP16, FP32; a float64 cast cannot overflow).
_FLOAT_MAX = {2: float(np.finfo(np.float16).max), 4: float(np.finfo(np.float32).max), 8: math.inf}


def _flatten(data: Any, out: list[Any]) -> None:
    if isinstance(data, list):
        for item in data:
            if isinstance(item, list):
                _flatten(item, out)
            else:
                out.append(item)
    else:
        out.append(data)


def _json_array(name: str, data: Any, dtype: DataType, count: int) -> np.ndarray:
    # The element-type checks compare the set of element types (one C-speed pass) instead of testing each.
    if type(data) is list and list not in (types := set(map(type, data))):
        flat: list[Any] = data  # already flat: the common case
    else:
        flat = []
        _flatten(data, flat)
        types = set(map(type, flat))
    if len(flat) != count:
        raise ApiError(f"input {name!r}: data has {len(flat)} elements but its shape needs {count}")
    if dtype.is_bytes:
        if not types <= {str}:
            raise ApiError(f"input {name!r}: BYTES data must be JSON strings")
        return np.array(flat, dtype=object)
    if count == 0:
        return np.zeros(0, dtype=dtype.numpy)
    kind = dtype.numpy.kind
    if kind == "b":
        if not types <= {bool}:
            raise ApiError(f"input {name!r}: BOOL data must be JSON true/false")
        return np.array(flat, dtype=np.bool_)
    if kind in ("i", "u"):
        if not types <= {int}:
            raise ApiError(f"input {name!r}: {dtype.v2} data must be JSON integers")
        try:
            return np.array(flat, dtype=dtype.numpy)
        except OverflowError:
            raise ApiError(f"input {name!r}: value out of range for {dtype.v2}") from None
    if not types <= {int, float}:
        raise ApiError(f"input {name!r}: {dtype.v2} data must be JSON numbers")
    try:
        wide = np.array(flat, dtype=np.float64)
    except OverflowError:
        raise ApiError(f"input {name!r}: value out of range for {dtype.v2}") from None
    limit = _FLOAT_MAX[dtype.numpy.itemsize]
    if -limit < min(flat) and max(flat) < limit:
        # Every number is strictly inside the target's finite range, so the cast cannot overflow (no
        # errstate, no check afterwards). NaN never passes here unseen: min/max skip a NaN unless it
        # comes first, and then the comparison is False; Infinity fails it.
        return wide.astype(dtype.numpy)
    with np.errstate(over="ignore"):
        converted = wide.astype(dtype.numpy)
    if not np.isfinite(converted).all() and (np.isinf(converted) & np.isfinite(wide)).any():
        raise ApiError(f"input {name!r}: value out of range for {dtype.v2}")
    return converted


def _binary_array(name: str, chunk: memoryview, dtype: DataType, count: int) -> np.ndarray:
    if dtype.is_bytes:
        try:
            items = deserialize_bytes(chunk, count)
            texts = [item.decode("utf-8") for item in items]
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            raise ApiError(f"input {name!r}: {exc}") from None
        return np.array(texts, dtype=object)
    expected = count * dtype.itemsize
    if len(chunk) != expected:
        raise ApiError(
            f"input {name!r}: binary_data_size is {len(chunk)} bytes but shape and {dtype.v2} need {expected}"
        )
    return np.frombuffer(chunk, dtype=dtype.numpy).copy()


def _check_shape(name: str, shape: Any, spec: TensorSpec) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise ApiError(f"input {name!r}: 'shape' must be a list of integers")
    if any(d < 0 for d in shape):
        raise ApiError(f"input {name!r}: shape {shape} has a negative dimension")
    if len(shape) != len(spec.shape) or any(want not in (-1, got) for want, got in zip(spec.shape, shape, strict=True)):
        raise ApiError(f"input {name!r}: shape {shape} does not match the model's shape {list(spec.shape)}")
    return tuple(shape)


def _bool_param(params: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ApiError(f"{where}: parameter {key!r} must be a boolean")
    return value


def _params(obj: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    params = obj.get("parameters", {})
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ApiError(f"{where}: 'parameters' must be a JSON object")
    return params


_PLAIN_INPUT_KEYS = frozenset({"name", "shape", "datatype", "data"})


def _plain_request(
    payload: dict[str, Any], inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]
) -> InferRequest | None:
    """The request in its most common shape, with the checks :func:`parse_infer_request` makes, else ``None``.

    The shape: ``{"inputs": [...]}`` (plus a string ``id``), every model input given once as
    ``{"name", "shape", "datatype", "data"}`` with the model's datatype and a matching shape; no
    parameters, no ``outputs``. A request of any other shape, or one that fails a check here, returns
    ``None``, and the general path validates it and words the error; only a JSON data error is raised
    here, the one the general path raises for the same input (``_json_array``).
    """
    if len(payload) == 1:
        request_id = None
    elif len(payload) == 2 and type(request_id := payload.get("id")) is str:
        pass
    else:
        return None
    raw_inputs = payload.get("inputs")
    if type(raw_inputs) is not list or len(raw_inputs) != len(inputs):
        return None
    specs = {s.name: s for s in inputs}
    arrays: dict[str, np.ndarray] = {}
    for item in raw_inputs:
        if type(item) is not dict or item.keys() != _PLAIN_INPUT_KEYS:
            return None
        name, shape = item["name"], item["shape"]
        if type(name) is not str or name in arrays or type(shape) is not list:
            return None
        spec = specs.get(name)
        if spec is None or item["datatype"] != spec.datatype.v2 or len(shape) != len(spec.shape):
            return None
        for want, got in zip(spec.shape, shape, strict=True):
            if type(got) is not int or got < 0 or want not in (-1, got):
                return None
        arrays[name] = _json_array(name, item["data"], spec.datatype, math.prod(shape)).reshape(shape)
    if len(inputs) > 1 and len({a.shape[0] for a in arrays.values() if a.ndim}) > 1:
        return None
    names = [s.name for s in outputs]
    return InferRequest(id=request_id, inputs=arrays, outputs=names, binary_outputs=dict.fromkeys(names, False))


def parse_infer_request(
    body: bytes,
    header_length: str | None,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
) -> InferRequest:
    """Validate a V2 inference request body against the model's inputs and outputs."""
    payload, binary = _split_body(body, header_length)
    if header_length is None:
        plain = _plain_request(payload, inputs, outputs)
        if plain is not None:
            return plain
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ApiError("'id' must be a string")
    params = _params(payload, "request")
    raw_inputs = payload.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ApiError("'inputs' is required and must be a non-empty list")

    specs = {s.name: s for s in inputs}
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for index, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise ApiError(f"inputs[{index}] must be a JSON object")
        name = item.get("name")
        if not isinstance(name, str):
            raise ApiError(f"inputs[{index}]: 'name' is required and must be a string")
        spec = specs.get(name)
        if spec is None:
            raise ApiError(f"unknown input {name!r}; the model's inputs are {sorted(specs)}")
        if name in arrays:
            raise ApiError(f"input {name!r} is given more than once")
        datatype = item.get("datatype")
        if not isinstance(datatype, str) or datatype not in BY_V2:
            raise ApiError(f"input {name!r}: 'datatype' must be one of {', '.join(BY_V2)}")
        if datatype != spec.datatype.v2:
            raise ApiError(f"input {name!r}: datatype {datatype} does not match the model's {spec.datatype.v2}")
        if "shape" not in item:
            raise ApiError(f"input {name!r}: 'shape' is required")
        shape = _check_shape(name, item["shape"], spec)
        count = math.prod(shape)
        in_params = _params(item, f"input {name!r}")
        if in_params.get("shared_memory_region") is not None:
            raise ApiError(f"input {name!r}: the shared-memory extension is not supported")
        size = in_params.get("binary_data_size")
        if size is not None:
            if "data" in item:
                raise ApiError(f"input {name!r}: give either 'data' or binary_data_size, not both")
            if header_length is None:
                raise ApiError(f"input {name!r}: binary_data_size needs the {HEADER_LENGTH} header")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ApiError(f"input {name!r}: binary_data_size must be a non-negative integer")
            if offset + size > len(binary):
                raise ApiError(
                    f"input {name!r}: binary_data_size {size} runs past the end of the request body "
                    f"({len(binary) - offset} binary bytes left)"
                )
            flat = _binary_array(name, binary[offset : offset + size], spec.datatype, count)
            offset += size
        elif "data" in item:
            flat = _json_array(name, item["data"], spec.datatype, count)
        else:
            raise ApiError(f"input {name!r}: 'data' (or binary_data_size) is required")
        arrays[name] = flat.reshape(shape)
    if offset != len(binary):
        raise ApiError(
            f"request body has {len(binary) - offset} bytes of binary data not claimed by any input's binary_data_size"
        )
    missing = [s.name for s in inputs if s.name not in arrays]
    if missing:
        raise ApiError(f"missing input(s) {missing}; the model needs {[s.name for s in inputs]}")
    batch_dims = {a.shape[0] for a in arrays.values() if a.ndim}
    if len(batch_dims) > 1 and all(s.batch_dynamic for s in inputs):
        raise ApiError(f"inputs disagree on the batch dimension (dim 0): {sorted(batch_dims)}")

    default_binary = _bool_param(params, "binary_data_output", "request") or False
    out_specs = {s.name: s for s in outputs}
    raw_outputs = payload.get("outputs")
    names: list[str] = []
    binary_flags: dict[str, bool] = {}
    if raw_outputs is None:
        names = [s.name for s in outputs]
        binary_flags = dict.fromkeys(names, default_binary)
    else:
        if not isinstance(raw_outputs, list):
            raise ApiError("'outputs' must be a list")
        for index, item in enumerate(raw_outputs):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ApiError(f"outputs[{index}] must be an object with a string 'name'")
            name = item["name"]
            if name not in out_specs:
                raise ApiError(f"unknown output {name!r}; the model's outputs are {sorted(out_specs)}")
            if name in binary_flags:
                raise ApiError(f"output {name!r} is requested more than once")
            out_params = _params(item, f"output {name!r}")
            if out_params.get("classification"):
                raise ApiError(f"output {name!r}: the classification extension is not supported")
            if out_params.get("shared_memory_region") is not None:
                raise ApiError(f"output {name!r}: the shared-memory extension is not supported")
            flag = _bool_param(out_params, "binary_data", f"output {name!r}")
            names.append(name)
            binary_flags[name] = default_binary if flag is None else flag
        if not names:
            names = [s.name for s in outputs]
            binary_flags = dict.fromkeys(names, default_binary)
    return InferRequest(id=request_id, inputs=arrays, outputs=names, binary_outputs=binary_flags)


def _json_data(name: str, array: np.ndarray, dtype: DataType) -> list[Any]:
    flat = array.reshape(-1)
    if not dtype.is_bytes:
        return list(flat.tolist())
    data: list[Any] = []
    for item in flat:
        if isinstance(item, bytes):
            try:
                data.append(item.decode("utf-8"))
            except UnicodeDecodeError:
                raise ApiError(f"output {name!r} holds non-UTF-8 bytes; request it with binary_data=true") from None
        else:
            data.append(str(item))
    return data


def _all_finite(data: list[Any], array: np.ndarray) -> bool:
    """True when every number is finite. A finite sum of the floats proves it (an Infinity or NaN makes the
    sum one), in one C-speed pass over the list already built; otherwise numpy checks element-wise."""
    if array.dtype.kind == "f" and math.isfinite(sum(data)):
        return True
    return bool(np.isfinite(array).all())


def _raw_bytes(array: np.ndarray, dtype: DataType) -> bytes:
    if dtype.is_bytes:
        return serialize_bytes(array)
    return np.ascontiguousarray(array, dtype.numpy).tobytes()


def encode_infer_response(
    model_name: str,
    model_version: str,
    request: InferRequest,
    results: Sequence[np.ndarray],
    output_specs: Mapping[str, TensorSpec],
) -> tuple[bytes, dict[str, str]]:
    """Encode results (in ``request.outputs`` order) as a V2 response; returns body and extra headers."""
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    # orjson writes the same JSON values as json.dumps, but NaN/Infinity (json writes NaN, orjson null) and
    # non-ASCII or control characters (json escapes them) must keep json's spelling: those go to json.
    fast_json = request.id is None or (request.id.isascii() and request.id.isprintable())
    for name, array in zip(request.outputs, results, strict=True):
        dtype = output_specs[name].datatype
        entry: dict[str, Any] = {"name": name, "datatype": dtype.v2, "shape": list(array.shape)}
        if request.binary_outputs.get(name, False):
            raw = _raw_bytes(array, dtype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            data = entry["data"] = _json_data(name, array, dtype)
            if dtype.is_bytes or (array.dtype.kind in "fc" and not _all_finite(data, array)):
                fast_json = False
        outputs.append(entry)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": outputs}
    if request.id is not None:
        response["id"] = request.id
    header = orjson.dumps(response) if fast_json else json.dumps(response, separators=(",", ":")).encode()
    if not chunks:
        return header, {"content-type": "application/json"}
    return b"".join([header, *chunks]), {
        "content-type": "application/octet-stream",
        HEADER_LENGTH: str(len(header)),
    }
