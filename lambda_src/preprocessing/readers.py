"""Decode a landing object into raw rows: CSV or JSON Lines, optionally gzip-compressed.

The format is taken from the key suffix (``.csv``, ``.jsonl``/``.ndjson``/``.json``, each optionally followed
by ``.gz``/``.gzip``); gzip is also recognised by its magic bytes whatever the suffix, and a key without a
known suffix is sniffed (first non-blank byte ``{`` means JSON Lines, anything else CSV).

Rows that cannot be decoded (a JSON line that is not an object, a CSV record with too many fields) are not
dropped: they are yielded as :class:`RawRow` with ``decode_error`` set so that they reach the quarantine.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

GZIP_MAGIC = b"\x1f\x8b"


class InputFormat(StrEnum):
    """Supported row encodings."""

    CSV = "csv"
    JSONL = "jsonl"


class UnreadableObjectError(ValueError):
    """The object as a whole cannot be decoded (corrupt gzip, not UTF-8, unknown format)."""


@dataclass(slots=True)
class RawRow:
    """One input record before validation.

    ``row_number`` counts data records from 1 (the CSV header is not a record); ``line`` is the physical line
    in the decompressed text where the record starts. ``data`` is ``None`` when ``decode_error`` is set, and
    ``raw`` then holds the undecodable text.
    """

    row_number: int
    line: int
    data: dict[str, Any] | None
    decode_error: str | None = None
    raw: str | None = field(default=None, repr=False)


_SUFFIXES: tuple[tuple[str, InputFormat], ...] = (
    (".csv", InputFormat.CSV),
    (".jsonl", InputFormat.JSONL),
    (".ndjson", InputFormat.JSONL),
    (".json", InputFormat.JSONL),
)


def detect_format(key: str, payload: bytes) -> tuple[InputFormat, bool]:
    """Return ``(format, is_gzip)`` for an object.

    ``payload`` is the raw (possibly compressed) body; only its first bytes are inspected.
    """
    lowered = key.lower()
    is_gzip = payload[:2] == GZIP_MAGIC
    for gz_suffix in (".gz", ".gzip"):
        if lowered.endswith(gz_suffix):
            lowered = lowered[: -len(gz_suffix)]
            break
    for suffix, fmt in _SUFFIXES:
        if lowered.endswith(suffix):
            return fmt, is_gzip
    head = _decompress(payload[:4096], partial=True) if is_gzip else payload[:4096]
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return (InputFormat.JSONL if stripped.startswith(b"{") else InputFormat.CSV), is_gzip


def _decompress(payload: bytes, *, partial: bool = False) -> bytes:
    if partial:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
    try:
        return gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableObjectError(f"corrupt gzip stream: {exc}") from exc


def decode_text(payload: bytes, *, is_gzip: bool) -> str:
    """Decompress (if gzip) and decode UTF-8, accepting and stripping a BOM.

    Raises:
        UnreadableObjectError: corrupt gzip or invalid UTF-8.
    """
    data = _decompress(payload) if is_gzip else payload
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableObjectError(f"object is not valid UTF-8: {exc}") from exc


def iter_csv_rows(text: str) -> Iterator[RawRow]:
    """Yield the records of a CSV text with a header line.

    Blank lines are skipped. A record with more fields than the header is a decode error; one with fewer
    has the missing fields absent (so validation reports them as missing).
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [name.strip() for name in header]
    width = len(header)
    row_number = 0
    line = reader.line_num + 1
    for record in reader:
        start = line
        line = reader.line_num + 1
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        row_number += 1
        if len(record) > width:
            yield RawRow(
                row_number,
                start,
                None,
                decode_error=f"record has {len(record)} fields, header has {width}",
                raw=",".join(record),
            )
            continue
        yield RawRow(row_number, start, dict(zip(header, record, strict=False)))


def iter_jsonl_rows(text: str) -> Iterator[RawRow]:
    """Yield the records of a JSON Lines text; blank lines are skipped."""
    row_number = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row_number += 1
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRow(row_number, line_no, None, decode_error=f"invalid JSON: {exc.msg}", raw=line)
            continue
        if not isinstance(value, dict):
            yield RawRow(
                row_number,
                line_no,
                None,
                decode_error=f"expected a JSON object, got {type(value).__name__}",
                raw=line,
            )
            continue
        yield RawRow(row_number, line_no, value)


def read_rows(key: str, payload: bytes) -> tuple[InputFormat, list[RawRow]]:
    """Decode a whole object into its rows.

    Raises:
        UnreadableObjectError: the object cannot be decompressed or decoded as text.
    """
    fmt, is_gzip = detect_format(key, payload)
    text = decode_text(payload, is_gzip=is_gzip)
    rows = list(iter_csv_rows(text) if fmt is InputFormat.CSV else iter_jsonl_rows(text))
    return fmt, rows


def read_csv_table(payload: bytes, *, is_gzip: bool) -> pa.Table | None:
    """The CSV object as a table of string columns, when its rows are exactly what :func:`iter_csv_rows` yields.

    That is the case for the plain shape nearly every object has: no quote characters (so no record spans
    lines), no blank lines, ``\n`` or ``\r\n`` line ends, a header of distinct names, and every record as
    wide as the header. Row ``i`` (from 0) is then record number ``i + 1`` on line ``i + 2``, and its values
    are the strings :func:`iter_csv_rows` would give. Anything else returns ``None`` (the caller falls back
    to the row reader, which handles every shape and words every error).

    Raises:
        UnreadableObjectError: corrupt gzip stream (as :func:`decode_text`).
    """
    data = _decompress(payload) if is_gzip else payload
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data or data[:1] in (b"\n", b"\r") or b'"' in data or b"\x00" in data:
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    end = data.find(b"\n")
    header_line = (data if end < 0 else data[:end]).removesuffix(b"\r")
    try:
        names = [name.strip() for name in header_line.decode("utf-8").split(",")]
    except UnicodeDecodeError:
        return None
    if len(names) < 2 or len(set(names)) != len(names):
        return None

    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(quote_char=False, double_quote=False, escape_char=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):  # a record not as wide as the header, invalid UTF-8, ...
        return None
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if table.num_rows + 1 != lines:  # pyarrow skipped blank lines: line numbers would not follow row numbers
        return None
    if len(data) > csv.field_size_limit():
        import pyarrow.compute as pc

        longest = max((pc.max(pc.binary_length(col)).as_py() or 0) for col in table.columns)
        if longest > csv.field_size_limit():  # the row reader raises csv.Error on such a field
            return None
    return table
