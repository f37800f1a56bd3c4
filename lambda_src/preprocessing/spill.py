"""Bounded-memory building blocks of the streaming pipeline: hash buckets spilled to disk, sorted runs and
their merge.

Everything here works on Arrow tables and Arrow IPC files in a scratch directory (``/tmp`` in Lambda: its
ephemeral storage, 512 MB by default and configurable up to 10,240 MB,
https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html). Memory is bounded by
one bucket (:class:`Buckets`) or one batch per run (:func:`merge_sorted`), not by the object.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

#: Rows the merge holds across all runs (one record batch per run): 65,536 rows, ~10 MB of features.
MERGE_ROWS = 65_536
#: Runs merged at once. More runs are merged in rounds (runs of runs), so a merge step touches at most
#: this many pieces: the work per row stays constant however many runs there are.
FAN_IN = 8


def bucket_ids(column: pa.ChunkedArray | pa.Array, buckets: int) -> pa.Array:
    """A bucket ``0..buckets-1`` for each value of ``column``: equal values share a bucket (in this process).

    The dictionary of the column's distinct values is hashed in Python (Arrow has no scalar hash kernel),
    so the cost is per distinct value.
    """
    import pyarrow as pa

    encoded = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    encoded = encoded.dictionary_encode()
    per_value = pa.array([hash(v) % buckets for v in encoded.dictionary.to_pylist()], pa.int32())
    return per_value.take(encoded.indices)


def split_by(table: pa.Table, ids: pa.Array) -> Iterator[tuple[int, pa.Table]]:
    """``(id, rows of table with that id)`` for each id present, rows in their original order."""
    import pyarrow.compute as pc

    order = pc.array_sort_indices(ids)  # stable
    ordered = table.take(order)
    sorted_ids = ids.take(order)
    start = 0
    for entry in pc.value_counts(sorted_ids).to_pylist():
        yield entry["values"], ordered.slice(start, entry["counts"])
        start += entry["counts"]
    # value_counts lists values in order of first appearance, which for sorted ids is ascending.


class Buckets:
    """``count`` append-only tables: in memory when ``directory`` is ``None``, else one Arrow IPC file each."""

    def __init__(self, count: int, directory: Path | None, name: str) -> None:
        self.count = count
        self._directory = directory
        self._name = name
        self._memory: list[list[pa.Table]] = [[] for _ in range(count)]
        self._writers: dict[int, Any] = {}
        self._schema: pa.Schema | None = None

    def _path(self, bucket: int) -> Path:
        assert self._directory is not None
        return self._directory / f"{self._name}-{bucket:04d}.arrow"

    def add(self, bucket: int, table: pa.Table) -> None:
        """Append ``table`` to ``bucket``."""
        import pyarrow as pa

        if table.num_rows == 0:
            return
        if self._schema is None:
            self._schema = table.schema
        if self._directory is None:
            self._memory[bucket].append(table)
            return
        writer = self._writers.get(bucket)
        if writer is None:
            writer = self._writers[bucket] = pa.ipc.new_stream(str(self._path(bucket)), self._schema, options=_ipc())
        writer.write_table(table)

    def close(self) -> None:
        """Finish the files (call once, before :meth:`read`)."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def read(self, bucket: int) -> pa.Table | None:
        """All rows appended to ``bucket``, in append order, then released (``None`` when there were none)."""
        import pyarrow as pa

        if self._directory is None:
            parts, self._memory[bucket] = self._memory[bucket], []
            return None if not parts else parts[0] if len(parts) == 1 else pa.concat_tables(parts)
        path = self._path(bucket)
        if not path.exists():
            return None
        with pa.OSFile(str(path)) as source:
            table = pa.ipc.open_stream(source).read_all()
        path.unlink()
        return table


class Runs:
    """Sorted tables kept for :func:`merge_sorted`: in memory, or each as an Arrow IPC file."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._batch_rows = MERGE_ROWS // FAN_IN
        self._tables: list[pa.Table] = []
        self._paths: list[Path] = []

    def add(self, table: pa.Table) -> None:
        """Keep one sorted table."""
        import pyarrow as pa

        if self._directory is None:
            self._tables.append(table)
            return
        path = self._directory / f"run-{len(self._paths):04d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema, options=_ipc()) as writer:
            for batch in table.to_batches(max_chunksize=self._batch_rows):
                writer.write_batch(batch)
        self._paths.append(path)

    def __len__(self) -> int:
        return len(self._tables) + len(self._paths)

    def iterators(self) -> list[Iterator[pa.Table]]:
        """One iterator of consecutive pieces per run."""
        if self._directory is None:
            return [iter([t]) for t in self._tables]
        return [_read_run(path) for path in self._paths]

    def merged(self, keys: Sequence[str]) -> Iterator[pa.Table]:
        """All runs merged ascending by ``keys`` (:func:`merge_sorted`), in rounds of :data:`FAN_IN` runs."""
        import pyarrow as pa

        if self._directory is not None:
            round_number = 0
            while len(self._paths) > FAN_IN:
                round_number += 1
                merged: list[Path] = []
                for start in range(0, len(self._paths), FAN_IN):
                    group = self._paths[start : start + FAN_IN]
                    path = self._directory / f"run-{round_number}-{len(merged):04d}.arrow"
                    writer = None
                    with pa.OSFile(str(path), "wb") as sink:
                        for piece in merge_sorted([_read_run(p) for p in group], keys):
                            if writer is None:
                                writer = pa.ipc.new_file(sink, piece.schema, options=_ipc())
                            for batch in piece.to_batches(max_chunksize=self._batch_rows):
                                writer.write_batch(batch)
                        if writer is not None:
                            writer.close()
                    merged.append(path)
                self._paths = merged
        return merge_sorted(self.iterators(), keys)


def _ipc() -> pa.ipc.IpcWriteOptions:
    """Spill files are LZ4-compressed Arrow IPC: about a quarter of the scratch space, at little CPU."""
    import pyarrow as pa

    return pa.ipc.IpcWriteOptions(compression="lz4")


def _read_run(path: Path) -> Iterator[pa.Table]:
    import pyarrow as pa

    with pa.OSFile(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield pa.Table.from_batches([reader.get_batch(i)])
    path.unlink()


def _at_most(table: pa.Table, keys: Sequence[str], bound: tuple[Any, ...]) -> pa.Array:
    """Rows of ``table`` whose ``keys`` tuple is ``<=`` ``bound`` (lexicographically)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    result: pa.Array | None = None
    for position in reversed(range(len(keys))):
        column = table[keys[position]]
        value = pa.scalar(bound[position], column.type)
        less = pc.less(column, value)
        tail = pc.less_equal(column, value) if result is None else pc.and_(pc.equal(column, value), result)
        result = pc.or_(less, tail)
    assert result is not None
    return result


def merge_sorted(runs: list[Iterator[pa.Table]], keys: Sequence[str]) -> Iterator[pa.Table]:
    """Merge runs each sorted ascending by ``keys`` into one ascending sequence of tables.

    Each step takes, from every run's current piece, the rows not greater than the smallest of the pieces'
    last keys (a prefix of each piece, all of one piece), and sorts that union: memory is one piece per run.
    Equal keys from different runs come out in run order.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    heads: list[pa.Table | None] = [_next_piece(run) for run in runs]
    while True:
        active = [i for i, head in enumerate(heads) if head is not None]
        if not active:
            return
        if len(active) == 1:
            i = active[0]
            head = heads[i]
            while head is not None:
                yield head
                head = _next_piece(runs[i])
            return
        bound = min(
            tuple(head[key][head.num_rows - 1].as_py() for key in keys)
            for head in (heads[i] for i in active)
            if head is not None
        )
        taken = []
        for i in active:
            head = heads[i]
            assert head is not None
            count = pc.sum(pc.cast(_at_most(head, keys, bound), pa.int64())).as_py() or 0
            if count:
                taken.append(head.slice(0, count))
            heads[i] = head.slice(count) if count < head.num_rows else _next_piece(runs[i])
        union = pa.concat_tables(taken)
        yield union.take(pc.sort_indices(union, sort_keys=[(key, "ascending") for key in keys]))


def _next_piece(run: Iterator[pa.Table]) -> pa.Table | None:
    for piece in run:
        if piece.num_rows:
            return piece
    return None
