"""Datatype mapping between the Open Inference Protocol (V2), NumPy and ONNX / ONNX Runtime.

V2 datatypes: ``BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES``.
``BYTES`` maps to the ONNX ``string`` element type; its binary wire format is, per element, a 4-byte
little-endian length followed by the raw bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

import numpy as np


@dataclass(frozen=True)
class DataType:
    """One V2 datatype with its ONNX Runtime type string, ONNX ``TensorProto`` enum and NumPy dtype."""

    v2: str
    ort_type: str
    onnx_elem_type: int
    numpy: np.dtype[np.generic]

    @property
    def is_bytes(self) -> bool:
        """True for ``BYTES`` (variable-size elements)."""
        return self.v2 == "BYTES"

    @property
    def itemsize(self) -> int:
        """Bytes per element in the binary wire format (0 for ``BYTES``)."""
        return 0 if self.is_bytes else self.numpy.itemsize


_TYPES: Final[tuple[DataType, ...]] = (
    DataType("BOOL", "tensor(bool)", 9, np.dtype(np.bool_)),
    DataType("UINT8", "tensor(uint8)", 2, np.dtype("<u1")),
    DataType("UINT16", "tensor(uint16)", 4, np.dtype("<u2")),
    DataType("UINT32", "tensor(uint32)", 12, np.dtype("<u4")),
    DataType("UINT64", "tensor(uint64)", 13, np.dtype("<u8")),
    DataType("INT8", "tensor(int8)", 3, np.dtype("<i1")),
    DataType("INT16", "tensor(int16)", 5, np.dtype("<i2")),
    DataType("INT32", "tensor(int32)", 6, np.dtype("<i4")),
    DataType("INT64", "tensor(int64)", 7, np.dtype("<i8")),
    DataType("FP16", "tensor(float16)", 10, np.dtype("<f2")),
    DataType("FP32", "tensor(float)", 1, np.dtype("<f4")),
    DataType("FP64", "tensor(double)", 11, np.dtype("<f8")),
    DataType("BYTES", "tensor(string)", 8, np.dtype(np.object_)),
)

BY_V2: Final[dict[str, DataType]] = {t.v2: t for t in _TYPES}
BY_ORT: Final[dict[str, DataType]] = {t.ort_type: t for t in _TYPES}
BY_ONNX: Final[dict[int, DataType]] = {t.onnx_elem_type: t for t in _TYPES}


def from_ort(ort_type: str) -> DataType:
    """Map an ONNX Runtime type string such as ``tensor(float)``; raises :class:`KeyError` if unsupported."""
    return BY_ORT[ort_type]


def serialize_bytes(array: np.ndarray) -> bytes:
    """Serialize a BYTES tensor (row-major) as length-prefixed elements; ``str`` elements become UTF-8."""
    chunks: list[bytes] = []
    for item in array.reshape(-1):
        raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
        chunks.append(struct.pack("<I", len(raw)))
        chunks.append(raw)
    return b"".join(chunks)


def deserialize_bytes(buffer: bytes | memoryview, count: int) -> list[bytes]:
    """Parse exactly ``count`` length-prefixed elements filling ``buffer``; raises :class:`ValueError`."""
    view = memoryview(buffer)
    items: list[bytes] = []
    offset = 0
    while offset < len(view):
        if offset + 4 > len(view):
            raise ValueError("truncated BYTES element length prefix")
        (length,) = struct.unpack_from("<I", view, offset)
        offset += 4
        if offset + length > len(view):
            raise ValueError("BYTES element length exceeds the tensor's binary data")
        items.append(bytes(view[offset : offset + length]))
        offset += length
    if len(items) != count:
        raise ValueError(f"binary BYTES data holds {len(items)} elements, shape needs {count}")
    return items
