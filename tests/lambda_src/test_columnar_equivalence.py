"""The columnar preprocessing path against the row-wise one it replaced (issue 17, goal 1).

``rowwise_reference`` is the pre-change code verbatim: one pydantic validation per row. The production
``transform`` must produce the same Parquet bytes, the same quarantine records and the same row counts, and
its columnar checks must never accept a row the row model rejects nor normalise a value differently.
"""

from __future__ import annotations

import gzip
import io
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pytest
import rowwise_reference
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lambda_support import SAMPLES
from preprocessing.feature_sets import get_feature_set
from preprocessing.feature_sets.transactions import TransactionRow, rows_to_table, validate_columns
from preprocessing.lineage import Lineage
from preprocessing.pipeline import transform
from preprocessing.readers import iter_csv_rows, read_csv_table
from pydantic import ValidationError

FEATURE_SET = get_feature_set("transactions")
LINEAGE = Lineage("landing", "raw/transactions/x.csv", "v1", "etag", "transactions", "1", "code")
CREATED = datetime(2024, 5, 5, 12, tzinfo=UTC)
FIELDS = list(TransactionRow.model_fields)


def _assert_same(key: str, payload: bytes) -> None:
    new = transform(key, payload, FEATURE_SET, LINEAGE, CREATED)
    old = rowwise_reference.transform(key, payload, FEATURE_SET, LINEAGE, CREATED)
    assert (new.input_format, new.rows_input) == (old.input_format, old.rows_input)
    assert new.quarantined == old.quarantined
    assert [(p.partition, p.rows) for p in new.partitions] == [(p.partition, p.rows) for p in old.partitions]
    assert [p.body for p in new.partitions] == [p.body for p in old.partitions]


@pytest.mark.parametrize("name", ["transactions_sample.csv", "transactions_sample.jsonl.gz"])
def test_shipped_samples_give_the_same_outputs_as_the_row_path(name: str) -> None:
    # GIVEN a shipped sample (valid and invalid rows), WHEN transformed, THEN byte-identical outputs
    _assert_same(f"raw/transactions/{name}", (SAMPLES / name).read_bytes())


def _messy_value(rng: random.Random, field: str, good: str) -> str:
    """``good`` or one of the near misses the columnar checks must hand to the row model."""
    variants: dict[str, list[str]] = {
        "transaction_id": ["", "   ", " padded ", "\tx\t", "ü-id", "x" * 64, "x" * 65, "a\x1fb"],
        "account_id": ["acct-00001 ", "", "acct-ß"],
        "amount": ["-1", "0", "0.00", "1000000", "1000000.01", "1e3", " 12.5", "12_5", "nan", "inf", "007.5", "3."],
        "currency": ["eur", " usd ", "EURO", "E1R", "€UR", ""],
        "merchant_category": ["541", "54111", " 5411", "٥٤١١", "abcd"],
        "merchant_country": ["de", "D", "DEU", " fr"],
        "card_country": ["us", "U$"],
        "channel": ["POS", " Ecom ", "moto", "web", ""],
        "timestamp": [
            "2024-05-03T10:00:00",
            "2024-02-30T10:00:00Z",
            "2024-02-29T23:59:59.123456+05:30",
            "2023-02-29T00:00:00Z",
            "1999-12-31T23:00:00-02:00",
            "1999-12-31T23:59:59Z",
            "2024-05-03 10:00:00Z",
            "2024-05-03T24:00:00Z",
            "2024-05-03T10:00:00.1234567Z",
            "2024-05-03T10:00:00+14:00",
            "1714730400",
            "not a date",
        ],
    }
    return rng.choice(variants[field]) if rng.random() < 0.35 else good


def _generated_csv(rows: int, seed: int, *, messy: float) -> bytes:
    rng = random.Random(seed)
    start = datetime(2024, 5, 3, 22, tzinfo=UTC)
    out = io.StringIO()
    out.write(",".join(FIELDS) + ",extra\n")
    for i in range(rows):
        when = start + timedelta(seconds=rng.randrange(14_400), microseconds=rng.choice((0, 0, 250_000)))
        good = {
            "transaction_id": f"tx-{rng.randrange(rows * 4 // 5):06d}",  # some duplicates
            "account_id": f"acct-{rng.randrange(40):05d}",
            "amount": f"{rng.lognormvariate(3.4, 1.1):.{rng.choice((0, 1, 2, 4))}f}",
            "currency": "EUR",
            "merchant_category": rng.choice(("5411", "7995", "5812")),
            "merchant_country": rng.choice(("DE", "FR")),
            "card_country": "DE",
            "channel": rng.choice(("pos", "ecom", "atm")),
            "timestamp": when.isoformat().replace("+00:00", rng.choice(("Z", "+00:00"))),
        }
        values = [_messy_value(rng, f, good[f]) if rng.random() < messy else good[f] for f in FIELDS]
        out.write(",".join(values) + f",{i}\n")
    return out.getvalue().encode()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_data_with_invalid_rows_gives_the_same_outputs(seed: int) -> None:
    # GIVEN 3,000 rows, about a third with a near-miss value and some duplicate ids
    payload = _generated_csv(3_000, seed, messy=0.3)
    assert read_csv_table(payload, is_gzip=False) is not None  # the columnar path is the one under test
    # WHEN transformed, THEN byte-identical outputs and the same quarantine (reasons name their field)
    _assert_same("raw/transactions/x.csv", payload)
    _assert_same("raw/transactions/x.csv.gz", gzip.compress(payload, mtime=0))


@pytest.mark.parametrize(
    "mutation",
    [
        pytest.param(lambda text: text.replace("\n", "\n\n", 3), id="blank-lines"),
        pytest.param(lambda text: text.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda text: text.replace(",EUR,", ',"EUR",', 5), id="quoted"),
        pytest.param(lambda text: text.replace(",DE,", ",DE,x,", 2), id="too-many-fields"),
        pytest.param(lambda text: text.replace(",ecom,", ",", 2), id="too-few-fields"),
        pytest.param(lambda text: "\ufeff" + text, id="bom"),
        pytest.param(lambda text: text.replace("transaction_id,", "transaction_id,account_id,", 1), id="dup-header"),
        pytest.param(lambda text: text.replace("channel,", "", 1).replace(",pos,", ",", 50), id="missing-column"),
    ],
)
def test_every_csv_shape_gives_the_same_outputs(mutation: Any) -> None:
    # GIVEN a CSV in a shape the columnar reader declines (or takes), WHEN transformed, THEN identical outputs
    payload = mutation(_generated_csv(400, 7, messy=0.1).decode()).encode()
    _assert_same("raw/transactions/x.csv", payload)


_TEXT = st.text(alphabet=st.sampled_from(list(" \t\x1f,aZ09-+:.TzeE\u00a0ü\u0660")), max_size=8)


def _mostly(good: st.SearchStrategy[str], near_miss: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Nine draws in ten from ``good``, so whole rows are often valid and the accept side is exercised."""
    return st.tuples(st.integers(0, 9), good, near_miss).map(lambda t: t[2] if t[0] == 0 else t[1])


@st.composite
def _timestamp(draw: st.DrawFn) -> str:
    year = draw(st.integers(1998, 2400))
    month = draw(st.integers(0, 13))
    day = draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 24)), draw(st.integers(0, 60)), draw(st.integers(0, 60))
    frac = draw(st.sampled_from(["", ".5", ".123456", ".1234567", ".000001"]))
    zone = draw(st.sampled_from(["Z", "z", "+00:00", "-23:59", "+24:00", "+05:30", "-00:00", "+0530", ""]))
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{frac}{zone}"


_VALID_TIMESTAMP = st.builds(
    lambda when, zone: when.replace(tzinfo=zone).isoformat().replace("+00:00", "Z"),
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2400, 12, 31)),
    st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=23, minutes=59))]),
)


_ROW = st.fixed_dictionaries(
    {
        "transaction_id": _mostly(st.text(st.characters(max_codepoint=127), max_size=70), st.text(max_size=8)),
        "account_id": _mostly(
            st.sampled_from(["acct-1", " acct-1\t", "\x1facct"]), st.sampled_from(["a\u00a0", "x" * 65])
        ),
        "amount": _mostly(
            st.one_of(
                st.floats(min_value=0, max_value=1_100_000).map(repr),
                st.decimals(min_value=0, max_value=1_000_001, places=6).map(str),
                st.integers(0, 1_000_001).map(str),
            ),
            _TEXT,
        ),
        "currency": _mostly(st.sampled_from(["EUR", " USD\t"]), st.sampled_from(["eur", "EURO", "E1R", "ÉUR", ""])),
        "merchant_category": _mostly(st.sampled_from(["5411", " 7995 "]), st.sampled_from(["541", "٥٤١١", "54a1"])),
        "merchant_country": _mostly(st.sampled_from(["DE", " FR"]), st.sampled_from(["de", "D", "DEU", " "])),
        "card_country": _mostly(st.sampled_from(["DE", " FR\t"]), st.sampled_from(["de", "D", "ÉS"])),
        "channel": _mostly(st.sampled_from(["pos", " atm ", "ecom", "moto"]), st.sampled_from(["POS", "web", ""])),
        "timestamp": _mostly(_VALID_TIMESTAMP, st.one_of(_timestamp(), _TEXT)),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_ROW, min_size=1, max_size=6))
def test_columnar_checks_accept_only_what_the_row_model_accepts_with_the_same_values(
    rows: list[dict[str, str]],
) -> None:
    # GIVEN random rows near every constraint's edge, as CSV string columns
    table = pa.table({name: pa.array([r[name] for r in rows], pa.string()) for name in FIELDS})
    # WHEN checked in columns
    normalized, ok = validate_columns(table)
    assert normalized is not None
    event(f"rows proven valid in columns: {min(sum(ok.to_pylist()), 3)}+")
    for index, accepted in enumerate(ok.to_pylist()):
        if not accepted:
            continue  # the row model decides (and words the errors)
        # THEN every accepted row is one the model accepts, normalised to the same values
        try:
            model = TransactionRow.model_validate(rows[index])
        except ValidationError as exc:  # pragma: no cover - the failure this test exists to catch
            pytest.fail(f"columns accepted a row the model rejects: {rows[index]!r}: {exc}")
        assert normalized.slice(index, 1).to_pylist() == rows_to_table([model]).to_pylist()


def test_columnar_checks_take_the_common_shapes_without_the_row_model() -> None:
    # GIVEN ordinary valid rows (Z and offset times, fractions, padding the model strips)
    rows = [
        ["tx-1", "acct-1", "12.50", "EUR", "5411", "DE", "DE", "pos", "2024-05-03T10:00:00Z"],
        ["tx-2", " acct-2 ", "1000000", "USD", "7995", "US", "FR", "ecom", "2024-02-29T23:59:59.5+05:30"],
        ["tx-3", "acct-3", "0.01", "GBP ", " 5812", "GB", "GB", " atm\t", "2000-01-01T00:00:00-00:00"],
    ]
    table = pa.table({name: pa.array([r[i] for r in rows]) for i, name in enumerate(FIELDS)})
    # WHEN checked, THEN all are proven valid in columns (the fast path is really taken)
    _, ok = validate_columns(table)
    assert ok.to_pylist() == [True, True, True]


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(
        st.lists(st.text(alphabet=st.sampled_from(list('ab 1\t"\r\x00é')), max_size=3), min_size=1, max_size=4),
        max_size=6,
    ),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_the_columnar_reader_yields_exactly_the_row_readers_records(
    cells: list[list[str]], ending: str, bom: bool
) -> None:
    # GIVEN arbitrary CSV text (ragged records, quotes, blank lines, odd line ends)
    text = ("\ufeff" if bom else "") + ending.join(["h1,h2,h3", *(",".join(c) for c in cells)]) + ending
    # WHEN the columnar reader takes it
    table = read_csv_table(text.encode(), is_gzip=False)
    if table is None:
        return  # declined: the row reader handles it
    # THEN it holds the row reader's records, numbered row i+1 on line i+2
    records = list(iter_csv_rows(text.removeprefix("\ufeff")))
    assert table.to_pylist() == [r.data for r in records]
    assert [(r.row_number, r.line) for r in records] == [(i + 1, i + 2) for i in range(len(records))]
