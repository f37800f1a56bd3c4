"""The row-wise preprocessing path as it was before the columnar one (issue 17), kept as the reference.

Verbatim copy of ``validate_rows``, ``build_features`` and ``transform`` from before the change: one pydantic
validation per row and Python per-account statistics. The equivalence tests compare the production path's
outputs with this one's byte for byte. Not imported by production code.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
from preprocessing.feature_sets import BuildContext, FeatureSet
from preprocessing.feature_sets.transactions import HIGH_RISK_MCC, NIGHT_END_HOUR, TransactionRow, output_schema
from preprocessing.lineage import Lineage
from preprocessing.pipeline import PartitionFile, Transformed
from preprocessing.readers import RawRow, read_rows
from pydantic import ValidationError

PARQUET_COMPRESSION = "zstd"
_EPOCH = date(1970, 1, 1)
_MICROS_PER_DAY = 86_400_000_000


def build_features(rows: Sequence[TransactionRow], context: BuildContext) -> pa.Table:
    """Compute the feature table for the valid rows of one object.

    Output rows are sorted by ``(event_timestamp, transaction_id)``. Definitions:

    - ``amount_log = ln(1 + amount)``; ``is_foreign = merchant_country != card_country``;
    - ``hour_of_day``/``day_of_week`` (Monday = 0) in UTC; ``is_weekend``: Saturday or Sunday;
      ``is_night``: ``hour_of_day < 6``; ``is_card_present``: channel ``pos`` or ``atm``;
    - per account within the object: ``account_txn_count``, ``account_amount_mean`` and
      ``amount_zscore = (amount - mean) / population stddev`` (``0.0`` when the stddev is 0, e.g. a single
      transaction); ``seconds_since_prev_txn``: gap to the account's previous transaction in the object
      (null for its first).

    Column work is vectorised with ``pyarrow.compute``; only the per-account statistics loop in Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ts_type = pa.timestamp("us", tz="UTC")
    raw = pa.table(
        {
            "transaction_id": pa.array([r.transaction_id for r in rows], pa.string()),
            "account_id": pa.array([r.account_id for r in rows], pa.string()),
            # pyarrow converts aware datetimes to UTC itself.
            "event_timestamp": pa.array([r.timestamp for r in rows], ts_type),
            "amount": pa.array([r.amount for r in rows], pa.float64()),
            "currency": pa.array([r.currency for r in rows], pa.string()),
            "merchant_category": pa.array([r.merchant_category for r in rows], pa.string()),
            "merchant_country": pa.array([r.merchant_country for r in rows], pa.string()),
            "card_country": pa.array([r.card_country for r in rows], pa.string()),
            "channel": pa.array([r.channel for r in rows], pa.string()),
        }
    )
    raw = raw.take(pc.sort_indices(raw, sort_keys=[("event_timestamp", "ascending"), ("transaction_id", "ascending")]))

    accounts: list[str] = raw["account_id"].to_pylist()
    amounts: list[float] = raw["amount"].to_pylist()
    micros: list[int] = raw["event_timestamp"].cast(pa.int64()).to_pylist()
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for account, amount in zip(accounts, amounts, strict=True):
        sums[account] += amount
        counts[account] += 1
    means = {account: sums[account] / counts[account] for account in counts}
    squares: dict[str, float] = defaultdict(float)
    for account, amount in zip(accounts, amounts, strict=True):
        squares[account] += (amount - means[account]) ** 2
    stds = {account: math.sqrt(squares[account] / counts[account]) for account in counts}
    previous: dict[str, int] = {}
    gaps: list[float | None] = []
    zscores: list[float] = []
    for account, amount, micro in zip(accounts, amounts, micros, strict=True):
        prev = previous.get(account)
        gaps.append(None if prev is None else (micro - prev) / 1_000_000)
        previous[account] = micro
        std = stds[account]
        zscores.append((amount - means[account]) / std if std > 0 else 0.0)

    # Naive UTC wall-clock time: hour/weekday without needing a time-zone database.
    wall = raw["event_timestamp"].cast(pa.timestamp("us"))
    hours = pc.hour(wall).cast(pa.int8())
    weekdays = pc.day_of_week(wall).cast(pa.int8())  # Monday = 0
    n = raw.num_rows
    columns = {
        "transaction_id": raw["transaction_id"],
        "account_id": raw["account_id"],
        "event_timestamp": raw["event_timestamp"],
        "created_timestamp": pa.array([context.created_timestamp.astimezone(UTC)] * n, ts_type),
        "amount": raw["amount"],
        "currency": raw["currency"],
        "merchant_category": raw["merchant_category"],
        "channel": raw["channel"],
        "amount_log": pc.log1p(raw["amount"]),
        "is_foreign": pc.not_equal(raw["merchant_country"], raw["card_country"]),
        "is_high_risk_mcc": pc.is_in(raw["merchant_category"], value_set=pa.array(sorted(HIGH_RISK_MCC))),
        "is_card_present": pc.is_in(raw["channel"], value_set=pa.array(["atm", "pos"])),
        "hour_of_day": hours,
        "day_of_week": weekdays,
        "is_weekend": pc.greater_equal(weekdays, pa.scalar(5, pa.int8())),
        "is_night": pc.less(hours, pa.scalar(NIGHT_END_HOUR, pa.int8())),
        "account_txn_count": pa.array([counts[a] for a in accounts], pa.int32()),
        "account_amount_mean": pa.array([means[a] for a in accounts], pa.float64()),
        "amount_zscore": pa.array(zscores, pa.float64()),
        "seconds_since_prev_txn": pa.array(gaps, pa.float64()),
    }
    schema = output_schema()
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _error_summary(errors: Sequence[dict[str, Any]]) -> str:
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "row"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _quarantine_record(row: RawRow, errors: list[dict[str, Any]], lineage: Lineage) -> dict[str, Any]:
    return {
        "row_number": row.row_number,
        "line": row.line,
        "error": _error_summary(errors),
        "errors": errors,
        "raw": row.data if row.data is not None else row.raw,
        "source_bucket": lineage.source_bucket,
        "source_key": lineage.source_key,
        "source_version_id": lineage.source_version_id,
    }


def validate_rows(
    feature_set: FeatureSet, rows: Sequence[RawRow], lineage: Lineage
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Split rows into validated models and quarantine records (in input order).

    Rows repeating the feature set's ``unique_key`` are quarantined after their first occurrence.
    """
    rejected: dict[int, list[dict[str, Any]]] = {}
    candidates: list[int] = []
    for index, row in enumerate(rows):
        if row.data is None:
            rejected[index] = [{"loc": ["row"], "msg": row.decode_error or "undecodable", "type": "decode_error"}]
        else:
            candidates.append(index)

    # One pydantic-core call per row: a failing row costs one exception and nothing is validated twice.
    validate = feature_set.row_model.model_validate
    models: list[Any] = []
    accepted: list[int] = []
    for index in candidates:
        try:
            models.append(validate(rows[index].data))
        except ValidationError as exc:
            rejected[index] = [
                {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
            continue
        accepted.append(index)
    candidates = accepted

    valid: list[Any] = []
    if feature_set.unique_key:
        seen: dict[Any, int] = {}
        for index, model in zip(candidates, models, strict=True):
            value = getattr(model, feature_set.unique_key)
            if value in seen:
                rejected[index] = [
                    {
                        "loc": [feature_set.unique_key],
                        "msg": f"duplicate {feature_set.unique_key} {value!r} (first at row {seen[value]})",
                        "type": "duplicate",
                    }
                ]
                continue
            seen[value] = rows[index].row_number
            valid.append(model)
    else:
        valid = list(models)

    quarantined = [_quarantine_record(rows[i], rejected[i], lineage) for i in sorted(rejected)]
    return valid, quarantined


def partition_table(table: pa.Table, timestamp_column: str) -> list[tuple[str, pa.Table]]:
    """Split ``table`` by the UTC date of ``timestamp_column``: sorted ``[("YYYY-MM-DD", slice), ...]``."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    micros = table[timestamp_column].cast("int64")
    days = pc.floor(pc.divide(pc.cast(micros, "float64"), float(_MICROS_PER_DAY))).cast("int64")
    result = []
    for day in sorted(pc.unique(days).to_pylist()):
        day_str = (_EPOCH + timedelta(days=int(day))).isoformat()
        result.append((day_str, table.filter(pc.equal(days, day))))
    return result


def to_parquet(table: pa.Table, lineage: Lineage) -> bytes:
    """Serialise ``table`` as Parquet (zstd), embedding the lineage JSON under the ``lineage`` key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    metadata = dict(table.schema.metadata or {})
    metadata[b"lineage"] = json.dumps(lineage.as_dict(), sort_keys=True).encode()
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(metadata), sink, compression=PARQUET_COMPRESSION)
    return bytes(sink.getvalue().to_pybytes())


def transform(
    key: str, payload: bytes, feature_set: FeatureSet, lineage: Lineage, created_timestamp: datetime
) -> Transformed:
    """Decode, validate and featurise one object's bytes; nothing is read from or written to S3.

    Raises:
        preprocessing.readers.UnreadableObjectError: the object as a whole cannot be decoded.
    """
    input_format, rows = read_rows(key, payload)
    valid, quarantined = validate_rows(feature_set, rows, lineage)
    partitions: list[PartitionFile] = []
    if valid:
        table = build_features(valid, BuildContext(created_timestamp=created_timestamp.astimezone(UTC)))
        for day, part in partition_table(table, feature_set.event_timestamp):
            partitions.append(PartitionFile(partition=f"dt={day}", rows=part.num_rows, body=to_parquet(part, lineage)))
    result = Transformed(input_format.value, len(rows), partitions, quarantined)
    if result.rows_valid + len(quarantined) != len(rows):  # pragma: no cover - invariant guard
        raise AssertionError(f"row accounting broken: {result.rows_valid} + {len(quarantined)} != {len(rows)}")
    return result
