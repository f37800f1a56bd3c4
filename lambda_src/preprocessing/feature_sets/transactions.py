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
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from preprocessing.feature_sets import BuildContext, FeatureSet

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION = "1"

#: ISO 18245 merchant category codes with elevated fraud rates (quasi-cash, wire transfer, gambling,
#: digital goods, crypto/non-financial institutions, jewellery).
HIGH_RISK_MCC: frozenset[str] = frozenset({"4829", "5944", "5967", "6051", "6211", "7995", "5816"})

#: Hours (UTC, ``0 <= h < NIGHT_END_HOUR``) counted as night.
NIGHT_END_HOUR = 6


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
CountryCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{2}$")]


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
    currency: Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{3}$")]
    merchant_category: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{4}$")]
    merchant_country: CountryCode
    card_country: CountryCode
    channel: Annotated[Literal["pos", "ecom", "atm", "moto"], BeforeValidator(_lower)]
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
    """
    import pyarrow as pa

    ordered = sorted(rows, key=lambda r: (r.timestamp.astimezone(UTC), r.transaction_id))
    times = [r.timestamp.astimezone(UTC) for r in ordered]

    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for row in ordered:
        sums[row.account_id] += row.amount
        counts[row.account_id] += 1
    means = {acct: sums[acct] / counts[acct] for acct in counts}
    sq: dict[str, float] = defaultdict(float)
    for row in ordered:
        sq[row.account_id] += (row.amount - means[row.account_id]) ** 2
    stds = {acct: math.sqrt(sq[acct] / counts[acct]) for acct in counts}

    previous: dict[str, datetime] = {}
    gaps: list[float | None] = []
    for row, ts in zip(ordered, times, strict=True):
        prev = previous.get(row.account_id)
        gaps.append(None if prev is None else (ts - prev).total_seconds())
        previous[row.account_id] = ts

    zscores = []
    for row in ordered:
        std = stds[row.account_id]
        zscores.append((row.amount - means[row.account_id]) / std if std > 0 else 0.0)

    hours = [ts.hour for ts in times]
    weekdays = [ts.weekday() for ts in times]
    created = context.created_timestamp.astimezone(UTC)
    columns = {
        "transaction_id": [r.transaction_id for r in ordered],
        "account_id": [r.account_id for r in ordered],
        "event_timestamp": times,
        "created_timestamp": [created] * len(ordered),
        "amount": [r.amount for r in ordered],
        "currency": [r.currency for r in ordered],
        "merchant_category": [r.merchant_category for r in ordered],
        "channel": [r.channel for r in ordered],
        "amount_log": [math.log1p(r.amount) for r in ordered],
        "is_foreign": [r.merchant_country != r.card_country for r in ordered],
        "is_high_risk_mcc": [r.merchant_category in HIGH_RISK_MCC for r in ordered],
        "is_card_present": [r.channel in ("pos", "atm") for r in ordered],
        "hour_of_day": hours,
        "day_of_week": weekdays,
        "is_weekend": [d >= 5 for d in weekdays],
        "is_night": [h < NIGHT_END_HOUR for h in hours],
        "account_txn_count": [counts[r.account_id] for r in ordered],
        "account_amount_mean": [means[r.account_id] for r in ordered],
        "amount_zscore": zscores,
        "seconds_since_prev_txn": gaps,
    }
    schema = output_schema()
    return pa.Table.from_arrays([pa.array(columns[f.name], type=f.type) for f in schema], schema=schema)


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
