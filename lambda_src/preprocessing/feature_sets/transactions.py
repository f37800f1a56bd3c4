"""Reference feature set: card-transaction features for fraud scoring.

Raw rows (CSV or JSON Lines) carry one card transaction each; the output has one row per valid transaction,
keyed by ``account_id`` (entity) and ``event_timestamp`` (UTC), with per-transaction features and
per-account statistics computed *within the object* (the object is the unit of work, so the result does
not depend on which other objects were processed before).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from preprocessing.feature_sets import BuildContext, FeatureSet

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION = "1"

#: ISO 18245 merchant category codes with elevated fraud rates (quasi-cash, wire transfer, gambling,
#: digital goods, crypto/non-financial institutions, jewellery).
HIGH_RISK_MCC: frozenset[str] = frozenset({"4829", "5944", "5967", "6051", "6211", "7995", "5816"})

#: Hours (UTC, ``0 <= h < NIGHT_END_HOUR``) counted as night.
NIGHT_END_HOUR = 6


Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# Normalisation and checks are pydantic-core constraints (no Python callbacks), so validation stays in Rust.
CountryCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z]{3}$")]
#: Card-present ``pos``/``atm``, card-not-present ``ecom``/``moto`` (mail/telephone order).
Channel = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^(pos|ecom|atm|moto)$")]
CHANNELS = ("pos", "ecom", "atm", "moto")


class TransactionRow(BaseModel):
    """One raw card transaction as it lands in ``raw/transactions/``.

    Unknown extra columns are ignored; ``currency`` and the country codes are upper-cased and ``channel``
    lower-cased before validation. ``timestamp`` must carry a UTC offset (naive times are rejected because
    they cannot be placed in a ``dt=`` partition unambiguously).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    transaction_id: Identifier
    account_id: Identifier
    amount: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
    currency: CurrencyCode
    merchant_category: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{4}$")]
    merchant_country: CountryCode
    card_country: CountryCode
    channel: Channel
    timestamp: Annotated[AwareDatetime, Field(ge=datetime(2000, 1, 1, tzinfo=UTC))]


def output_schema() -> pa.Schema:
    """The Parquet schema of the feature table (schema version :data:`SCHEMA_VERSION`)."""
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [
            pa.field("transaction_id", pa.string(), nullable=False),
            pa.field("account_id", pa.string(), nullable=False),
            pa.field("event_timestamp", ts, nullable=False),
            pa.field("created_timestamp", ts, nullable=False),
            pa.field("amount", pa.float64(), nullable=False),
            pa.field("currency", pa.string(), nullable=False),
            pa.field("merchant_category", pa.string(), nullable=False),
            pa.field("channel", pa.string(), nullable=False),
            pa.field("amount_log", pa.float64(), nullable=False),
            pa.field("is_foreign", pa.bool_(), nullable=False),
            pa.field("is_high_risk_mcc", pa.bool_(), nullable=False),
            pa.field("is_card_present", pa.bool_(), nullable=False),
            pa.field("hour_of_day", pa.int8(), nullable=False),
            pa.field("day_of_week", pa.int8(), nullable=False),
            pa.field("is_weekend", pa.bool_(), nullable=False),
            pa.field("is_night", pa.bool_(), nullable=False),
            pa.field("account_txn_count", pa.int32(), nullable=False),
            pa.field("account_amount_mean", pa.float64(), nullable=False),
            pa.field("amount_zscore", pa.float64(), nullable=False),
            pa.field("seconds_since_prev_txn", pa.float64(), nullable=True),
        ],
        metadata={b"feature_set": b"transactions", b"schema_version": SCHEMA_VERSION.encode()},
    )


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


FEATURE_SET = FeatureSet(
    name="transactions",
    schema_version=SCHEMA_VERSION,
    row_model=TransactionRow,
    entity_key="account_id",
    event_timestamp="event_timestamp",
    created_timestamp="created_timestamp",
    unique_key="transaction_id",
    build=build_features,
    output_schema=output_schema,
    description="Card-transaction features for fraud scoring, keyed by account_id.",
)
