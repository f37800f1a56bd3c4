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
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

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
    return _csv_records(io.StringIO(text, newline=""))


def _csv_records(
    lines: Iterable[str], *, header: list[str] | None = None, row_number: int = 0, line: int = 1
) -> Iterator[RawRow]:
    """:func:`iter_csv_rows` over ``lines``, which start on physical line ``line`` after ``row_number`` records;
    ``header`` given means the header line was already read."""
    reader = csv.reader(lines)
    base = line - 1
    if header is None:
        try:
            header = next(reader)
        except StopIteration:
            return
        header = [name.strip() for name in header]
    width = len(header)
    line = base + reader.line_num + 1
    for record in reader:
        start = line
        line = base + reader.line_num + 1
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
    return _jsonl_records(text.splitlines())


def _jsonl_records(lines: Iterable[str]) -> Iterator[RawRow]:
    row_number = 0
    for line_no, line in enumerate(lines, start=1):
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


# --- Streaming: the same records, read in batches from a byte stream ------------------------------------

#: Bytes of (decompressed) input per batch when streaming. Defaults to 1 MiB: a batch's string columns and the
#: validation temporaries stay a few tens of MB whatever the object's size.
DEFAULT_BATCH_BYTES = 2**20
_MAX_READ_BYTES = 64 * 2**20


class ByteStream(Protocol):
    """What is read from: ``io.BytesIO``, an open file, botocore's ``StreamingBody``."""

    def read(self, size: int | None = ..., /) -> bytes:
        """Up to ``size`` bytes (all that is left when omitted); ``b""`` at the end."""
        ...


@dataclass(slots=True)
class ColumnBatch:
    """Consecutive plain CSV records as string columns: row ``i`` is record ``start + i + 1`` on line
    ``start + i + 2`` (the plain shape has one line per record after the header line)."""

    start: int
    table: pa.Table


@dataclass(slots=True)
class RowBatch:
    """Consecutive records from the row readers (:func:`iter_csv_rows`, :func:`iter_jsonl_rows`)."""

    rows: list[RawRow]


class _Joined:
    """``head`` followed by the rest of ``stream`` (the format sniff consumes the first bytes)."""

    def __init__(self, head: bytes, stream: ByteStream) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if size < 0:
            head, self._head = self._head, b""
            return head + self._stream.read()
        if size <= len(self._head):
            head, self._head = self._head[:size], self._head[size:]
            return head
        head, self._head = self._head, b""
        return head + self._stream.read(size - len(head))


def _byte_chunks(stream: Any, is_gzip: bool, size: int) -> Iterator[bytes]:
    """The decompressed bytes of ``stream`` in pieces of about ``size`` bytes."""
    source: Any = gzip.GzipFile(fileobj=stream, mode="rb") if is_gzip else stream
    try:
        while chunk := source.read(size):
            yield chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableObjectError(f"corrupt gzip stream: {exc}") from exc


def _plain_chunks(head: bytes, stream: ByteStream, size: int) -> Iterator[bytes]:
    if head:
        yield head
    while chunk := stream.read(size):
        yield chunk


def _text_chunks(chunks: Iterator[bytes], *, at_start: bool) -> Iterator[str]:
    """Incrementally decoded UTF-8 (a BOM is stripped only at the start of the object), as ``decode_text``."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8-sig" if at_start else "utf-8")()
    try:
        for chunk in chunks:
            if text := decoder.decode(chunk):
                yield text
        if text := decoder.decode(b"", final=True):
            yield text
    except UnicodeDecodeError as exc:
        raise UnreadableObjectError(f"object is not valid UTF-8: {exc}") from exc


def _has_end(part: str, *, universal: bool) -> bool:
    return part.splitlines()[0] != part if universal else part.endswith(("\n", "\r"))


def _stream_lines(chunks: Iterator[str], *, universal: bool) -> Iterator[str]:
    """Split text chunks into lines with their ends kept, exactly as over the whole text.

    ``universal``: ``str.splitlines`` boundaries (the JSON Lines reader); otherwise ``\\r\\n``, ``\\r`` or
    ``\\n`` (``io.StringIO(newline="")``, which the CSV reader iterates). A line without its end, or ending
    in ``\\r`` (a ``\\n`` may follow in the next chunk), is held back until the next chunk.
    """
    carry = ""
    for chunk in chunks:
        text = carry + chunk
        parts = text.splitlines(keepends=True) if universal else _CSV_LINE.findall(text)
        carry = ""
        if parts and (parts[-1].endswith("\r") or not _has_end(parts[-1], universal=universal)):
            carry = parts.pop()
        yield from parts
    if carry:
        yield carry


_CSV_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _read_head(stream: ByteStream, size: int) -> bytes:
    head = b""
    while len(head) < size and (data := stream.read(size - len(head))):
        head += data
    return head


def iter_batches(
    key: str, stream: ByteStream, *, batch_bytes: int = DEFAULT_BATCH_BYTES
) -> tuple[InputFormat, bool, Iterator[ColumnBatch | RowBatch]]:
    """``(format, is_gzip, batches)``: the records of an object read from ``stream``, in batches.

    A batch holds about ``batch_bytes`` decoded bytes (defaults to :data:`DEFAULT_BATCH_BYTES`).

    The batches hold exactly the records :func:`read_rows` returns, in order, with the same row and line
    numbers: plain CSV runs (the shape :func:`read_csv_table` takes) as :class:`ColumnBatch`; from the first
    piece that is not plain on (quotes, blank lines, a short record, ...), and for JSON Lines, the row
    readers' records as :class:`RowBatch`. Only one batch (plus one read buffer) is held at a time.

    Raises (while iterating):
        UnreadableObjectError: corrupt gzip stream or invalid UTF-8 (as :func:`decode_text`).
    """
    head = _read_head(stream, max(4096, min(batch_bytes, _MAX_READ_BYTES)))  # detection looks at 4 KiB
    fmt, is_gzip = detect_format(key, head)
    size = min(batch_bytes, _MAX_READ_BYTES)
    chunks = _byte_chunks(_Joined(head, stream), is_gzip, size) if is_gzip else _plain_chunks(head, stream, size)
    if fmt is InputFormat.JSONL:
        lines = _stream_lines(_text_chunks(chunks, at_start=True), universal=True)
        records = _jsonl_records(line.splitlines()[0] for line in lines)
        return fmt, is_gzip, _row_batches(records, batch_bytes)
    return fmt, is_gzip, _csv_batches(chunks, batch_bytes)


def _row_batches(records: Iterator[RawRow], batch_bytes: int) -> Iterator[RowBatch]:
    size = max(1, batch_bytes // 128)  # about 128 bytes a record
    batch: list[RawRow] = []
    for row in records:
        batch.append(row)
        if len(batch) >= size:
            yield RowBatch(batch)
            batch = []
    if batch:
        yield RowBatch(batch)


def _csv_batches(chunks: Iterator[bytes], batch_bytes: int) -> Iterator[ColumnBatch | RowBatch]:
    pending = b""  # read, not yet consumed from ``pos`` on (offsets rather than slices: no copies)
    pos = 0
    eof = False

    def fill(size: int) -> None:
        nonlocal pending, pos, eof
        while not eof and len(pending) - pos < size:
            chunk = next(chunks, None)
            if chunk is None:
                eof = True
            elif pos == len(pending):
                pending, pos = chunk, 0
            else:
                pending, pos = pending[pos:] + chunk, 0

    def rest(prefix: bytes) -> Iterator[bytes]:
        yield prefix
        yield from chunks

    fill(batch_bytes)
    while not eof and pending.find(b"\n") < 0:
        fill(2 * len(pending) + 1)
    if pending.startswith(b"\xef\xbb\xbf"):
        pos = 3
    names = _plain_header(pending, pos)
    if names is None:  # not the plain shape from the first line: the row reader takes the whole object
        lines = _stream_lines(_text_chunks(rest(pending), at_start=True), universal=False)
        yield from _row_batches(_csv_records(lines), batch_bytes)
        return
    end = pending.find(b"\n", pos)
    pos = len(pending) if end < 0 else end + 1
    done = 0
    while True:
        fill(batch_bytes)
        cut = pending.rfind(b"\n", pos, pos + batch_bytes)
        while cut < 0:  # a record longer than a batch, or the last record without a line end
            cut = pending.find(b"\n", pos)
            if cut >= 0 or eof:
                break
            fill(2 * (len(pending) - pos) + 1)
        if cut < 0:
            if pos == len(pending):
                return
            cut = len(pending) - 1
        table = _plain_table(pending, names, pos, cut + 1)
        if table is None:  # from here on the row reader (what came before had no quotes: a record boundary)
            lines = _stream_lines(_text_chunks(rest(pending[pos:]), at_start=False), universal=False)
            yield from _row_batches(_csv_records(lines, header=names, row_number=done, line=done + 2), batch_bytes)
            return
        pos = cut + 1
        yield ColumnBatch(done, table)
        done += table.num_rows


def _plain_header(data: bytes, start: int) -> list[str] | None:
    """The header names if ``data[start:]`` starts in the plain shape (see :func:`read_csv_table`), else ``None``."""
    if len(data) <= start or data[start : start + 1] in (b"\n", b"\r"):
        return None
    end = data.find(b"\n", start)
    header_line = data[start:] if end < 0 else data[start : end + 1]
    if b'"' in header_line or b"\x00" in header_line:
        return None
    if header_line.rstrip(b"\n").count(b"\r") != header_line.count(b"\r\n"):
        return None
    try:
        names = [name.strip() for name in header_line.rstrip(b"\n").removesuffix(b"\r").decode("utf-8").split(",")]
    except UnicodeDecodeError:
        return None
    if len(names) < 2 or len(set(names)) != len(names):
        return None
    return names


def _plain_table(data: bytes, names: list[str], start: int, end: int) -> pa.Table | None:
    """``data[start:end]`` (whole records, no header) as string columns if it is in the plain shape, else ``None``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if data.find(b'"', start, end) >= 0 or data.find(b"\x00", start, end) >= 0:
        return None
    if data.find(b"\r", start, end) >= 0 and data.count(b"\r", start, end) != data.count(b"\r\n", start, end):
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data).slice(start, end - start),
            read_options=pacsv.ReadOptions(column_names=names),
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
    lines = data.count(b"\n", start, end) + (data[end - 1 : end] != b"\n")
    if table.num_rows != lines:  # pyarrow skipped blank lines: line numbers would not follow row numbers
        return None
    if end - start > csv.field_size_limit():
        import pyarrow.compute as pc

        longest = max((pc.max(pc.binary_length(col)).as_py() or 0) for col in table.columns)
        if longest > csv.field_size_limit():  # the row reader raises csv.Error on such a field
            return None
    return table
