"""``_find_duplicates``: later repeats of the unique key are dropped and reported, whatever the chunking, and
a null key is a value like any other (the shortcut for an all-distinct column must not skip it)."""

from __future__ import annotations

import pyarrow as pa
from preprocessing.pipeline import _INDEX, _LINE, _find_duplicates


def _table(keys: list[str | None], chunks: int = 1) -> pa.Table:
    table = pa.table({"k": pa.array(keys, pa.string()), _INDEX: list(range(len(keys)))})
    table = table.append_column(_LINE, pa.array([i + 2 for i in range(len(keys))], pa.int64()))
    if chunks > 1:
        step = max(1, len(keys) // chunks)
        table = pa.concat_tables([table.slice(i, step) for i in range(0, len(keys), step)])
    return table


def test_distinct_keys_come_back_as_they_are() -> None:
    table = _table(["a", "b", "c", "d"], chunks=2)
    kept, duplicates = _find_duplicates(table, "k")
    assert kept is table and duplicates == []


def test_later_repeats_are_dropped_and_reported_with_the_first_row_number() -> None:
    kept, duplicates = _find_duplicates(_table(["a", "b", "a", "c", "b"], chunks=3), "k")
    assert kept["k"].to_pylist() == ["a", "b", "c"]
    assert duplicates == [(2, 4, "a", 1), (4, 6, "b", 2)]


def test_a_repeated_null_key_is_a_duplicate_and_a_single_one_is_not() -> None:
    kept, duplicates = _find_duplicates(_table(["a", None, "b", None]), "k")
    assert kept["k"].to_pylist() == ["a", None, "b"] and duplicates == [(3, 5, None, 2)]
    kept, duplicates = _find_duplicates(_table([None, "a", "b"]), "k")
    assert kept["k"].to_pylist() == [None, "a", "b"] and duplicates == []
