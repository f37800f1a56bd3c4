"""Reference feature set: card-transaction features for fraud scoring.

Raw rows (CSV or JSON Lines) carry one card transaction each; the output has one row per valid transaction,
keyed by ``account_id`` (entity) and ``event_timestamp`` (UTC), with per-transaction features and
per-account statistics computed *within the object* (the object is the unit of work, so the result does
not depend on which other objects were processed before).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from preprocessing.feature_sets import BuildContext, ColumnarCodec, FeatureSet

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


def rows_to_table(rows: Sequence[TransactionRow]) -> pa.Table:
    """The validated rows as the normalized input table :func:`build_table` takes (input order kept)."""
    import pyarrow as pa

    ts_type = pa.timestamp("us", tz="UTC")
    return pa.table(
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


def build_features(rows: Sequence[TransactionRow], context: BuildContext) -> pa.Table:
    """Compute the feature table for the valid rows of one object (see :func:`build_table`)."""
    return build_table(rows_to_table(rows), context)


def _per_group(codes: pa.Array, values: pa.Array, groups: int) -> tuple[pa.Array, pa.Array]:
    """``(sum, count)`` of ``values`` per group code ``0..groups-1``, summed in row order.

    One thread, so each group's floats are added sequentially in row order: bit-identical to a Python loop.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    grouped = (
        pa.table({"c": codes, "v": values}).group_by("c", use_threads=False).aggregate([("v", "sum"), ("v", "count")])
    )
    order = pc.sort_indices(grouped["c"])
    sums = grouped["v_sum"].take(order).combine_chunks()
    counts = grouped["v_count"].take(order).combine_chunks()
    if len(sums) != groups:  # pragma: no cover - invariant guard
        raise AssertionError("group codes are not dense")
    return sums, counts


def build_table(raw: pa.Table, context: BuildContext, rows: pa.Array | None = None) -> pa.Table:
    """Compute the feature table from the normalized valid rows (:func:`rows_to_table`'s layout).

    ``rows`` selects the valid rows of ``raw`` by index; defaults to ``None``: every row.

    Output rows are sorted by ``(event_timestamp, transaction_id)``. Definitions:

    - ``amount_log = ln(1 + amount)``; ``is_foreign = merchant_country != card_country``;
    - ``hour_of_day``/``day_of_week`` (Monday = 0) in UTC; ``is_weekend``: Saturday or Sunday;
      ``is_night``: ``hour_of_day < 6``; ``is_card_present``: channel ``pos`` or ``atm``;
    - per account within the object: ``account_txn_count``, ``account_amount_mean`` and
      ``amount_zscore = (amount - mean) / population stddev`` (``0.0`` when the stddev is 0, e.g. a single
      transaction); ``seconds_since_prev_txn``: gap to the account's previous transaction in the object
      (null for its first).

    Everything is vectorised with ``pyarrow.compute``; per-account sums add in output-row order, the order
    the former Python loop used, so the floats are the same bits.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ts_type = pa.timestamp("us", tz="UTC")
    keys = raw.select(["event_timestamp", "transaction_id"])
    order = pc.sort_indices(
        keys if rows is None else keys.take(rows),
        sort_keys=[("event_timestamp", "ascending"), ("transaction_id", "ascending")],
    )
    if rows is not None:
        order = rows.take(order)
    is_foreign = pc.not_equal(raw["merchant_country"], raw["card_country"]).take(order)
    kept = ["transaction_id", "account_id", "event_timestamp", "amount", "currency", "merchant_category", "channel"]
    raw = raw.select(kept).take(order).combine_chunks()
    n = raw.num_rows
    encoded = raw["account_id"].chunk(0).dictionary_encode() if n else pa.array([], pa.string()).dictionary_encode()
    codes = encoded.indices
    groups = len(encoded.dictionary)
    amounts = raw["amount"].combine_chunks()
    sums, counts = _per_group(codes, amounts, groups)
    means = pc.divide(sums, pc.cast(counts, pa.float64()))
    row_means = means.take(codes)
    deviations = pc.subtract(amounts, row_means)
    squares, _ = _per_group(codes, pc.power(deviations, 2.0), groups)
    stds = pc.sqrt(pc.divide(squares, pc.cast(counts, pa.float64())))
    row_stds = stds.take(codes)
    zscores = pc.if_else(pc.greater(row_stds, 0.0), pc.divide(deviations, row_stds), 0.0)

    # Gap to the account's previous transaction: a stable sort by account keeps time order within one.
    micros = raw["event_timestamp"].combine_chunks().cast(pa.int64())
    by_account = pc.sort_indices(codes)
    grouped_micros = micros.take(by_account)
    grouped_codes = codes.take(by_account)
    same_account = pc.equal(pc.pairwise_diff(grouped_codes), 0)
    gaps_grouped = pc.if_else(
        same_account,
        pc.divide(pc.cast(pc.pairwise_diff(grouped_micros), pa.float64()), 1_000_000.0),
        pa.scalar(None, pa.float64()),
    )
    gaps = gaps_grouped.take(pc.inverse_permutation(by_account.cast(pa.int64())))

    # Naive UTC wall-clock time: hour/weekday without needing a time-zone database.
    wall = raw["event_timestamp"].cast(pa.timestamp("us"))
    hours = pc.hour(wall).cast(pa.int8())
    weekdays = pc.day_of_week(wall).cast(pa.int8())  # Monday = 0
    columns = {
        "transaction_id": raw["transaction_id"],
        "account_id": raw["account_id"],
        "event_timestamp": raw["event_timestamp"],
        "created_timestamp": pa.repeat(pa.scalar(context.created_timestamp.astimezone(UTC), ts_type), n),
        "amount": raw["amount"],
        "currency": raw["currency"],
        "merchant_category": raw["merchant_category"],
        "channel": raw["channel"],
        "amount_log": pc.log1p(raw["amount"]),
        "is_foreign": is_foreign,
        "is_high_risk_mcc": pc.is_in(raw["merchant_category"], value_set=pa.array(sorted(HIGH_RISK_MCC))),
        "is_card_present": pc.is_in(raw["channel"], value_set=pa.array(["atm", "pos"])),
        "hour_of_day": hours,
        "day_of_week": weekdays,
        "is_weekend": pc.greater_equal(weekdays, pa.scalar(5, pa.int8())),
        "is_night": pc.less(hours, pa.scalar(NIGHT_END_HOUR, pa.int8())),
        "account_txn_count": counts.take(codes).cast(pa.int32()),
        "account_amount_mean": row_means,
        "amount_zscore": zscores,
        "seconds_since_prev_txn": gaps,
    }
    schema = output_schema()
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema).combine_chunks()


# --- Columnar validation -------------------------------------------------------------------------------
# Each check accepts a subset of what TransactionRow accepts and yields the value the model would produce;
# anything else goes to the row model (tests/lambda_src/test_columnar_equivalence.py holds them to it).
# Identifiers must be ASCII, where the model's Unicode-aware strip and length act as their ASCII forms.
_WHITESPACE = " \t\n\x0b\x0c\r"
_AMOUNT = r"^(0|[1-9][0-9]{0,6})(\.[0-9]{1,15})?$"
_TIMESTAMP = (
    r"^(?P<y>[2-9][0-9]{3})-(?P<mo>0[1-9]|1[0-2])-(?P<d>0[1-9]|[12][0-9]|3[01])"
    r"T(?P<h>[01][0-9]|2[0-3]):(?P<mi>[0-5][0-9]):(?P<s>[0-5][0-9])(?:\.(?P<f>[0-9]{1,6}))?"
    r"(?:Z|(?P<sign>[+-])(?P<oh>[01][0-9]|2[0-3]):(?P<om>[0-5][0-9]))$"
)
_MIN_MICROS = int((datetime(2000, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000


def _calendar_micros(values: pa.Array, ok: pa.Array) -> pa.Array:
    """Micros since the epoch of the ``ok`` rows of ``values`` (all match :data:`_TIMESTAMP`), by arithmetic.

    Rows whose day does not exist in their month (``2024-02-30``) come back null.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = pc.extract_regex(pc.if_else(ok, values, "2000-01-01T00:00:00Z"), _TIMESTAMP)

    def num(name: str, default: str = "0") -> pa.Array:
        field = parts.field(name)
        return pc.cast(pc.if_else(pc.equal(field, ""), default, field), pa.int64())

    year, month, day = num("y"), num("mo"), num("d")
    hour, minute, second = num("h"), num("mi"), num("s")
    micro = pc.cast(pc.utf8_rpad(parts.field("f"), 6, "0"), pa.int64())
    sign = pc.if_else(pc.equal(parts.field("sign"), "-"), -1, 1)
    off_h, off_m = num("oh"), num("om")

    def div(a: Any, b: int) -> pa.Array:  # floor division: every operand here is non-negative
        return pc.divide(a, b)

    def rem(a: Any, b: int) -> pa.Array:
        return pc.subtract(a, pc.multiply(div(a, b), b))

    leap = pc.or_(pc.and_(pc.equal(rem(year, 4), 0), pc.not_equal(rem(year, 100), 0)), pc.equal(rem(year, 400), 0))
    month_days = pa.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int64())
    dim = pc.add(month_days.take(month), pc.cast(pc.and_(leap, pc.equal(month, 2)), pa.int64()))
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil, years >= 2000).
    y = pc.subtract(year, pc.cast(pc.less_equal(month, 2), pa.int64()))
    era = div(y, 400)
    yoe = pc.subtract(y, pc.multiply(era, 400))
    shifted = pc.if_else(pc.greater(month, 2), pc.subtract(month, 3), pc.add(month, 9))
    doy = pc.subtract(pc.add(div(pc.add(pc.multiply(shifted, 153), 2), 5), day), 1)
    doe = pc.add(pc.subtract(pc.add(pc.multiply(yoe, 365), div(yoe, 4)), div(yoe, 100)), doy)
    days = pc.subtract(pc.add(pc.multiply(era, 146097), doe), 719468)
    seconds = pc.add(pc.add(pc.multiply(days, 86400), pc.multiply(hour, 3600)), pc.add(pc.multiply(minute, 60), second))
    offset = pc.multiply(sign, pc.add(pc.multiply(off_h, 3600), pc.multiply(off_m, 60)))
    micros = pc.add(pc.multiply(pc.subtract(seconds, offset), 1_000_000), micro)
    return pc.if_else(pc.less_equal(day, dim), micros, pa.scalar(None, pa.int64()))


def _column_timestamp(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``(micros since the epoch, ok)`` for ISO 8601 strings with a UTC offset (``Z`` or ``±HH:MM``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ok = pc.match_substring_regex(values, _TIMESTAMP)
    parsed = values if pc.all(ok).as_py() else pc.if_else(ok, values, "2000-01-01T00:00:00Z")
    try:  # Arrow's ISO 8601 cast; it fails as a whole on a day the month lacks
        micros = pc.cast(parsed, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    except pa.ArrowInvalid:
        micros = _calendar_micros(values, ok)
    ok = pc.and_(ok, pc.greater_equal(micros, _MIN_MICROS))
    return pc.if_else(ok, micros, 0), pc.fill_null(ok, False)


def validate_columns(table: pa.Table) -> tuple[pa.Table | None, pa.Array]:
    """Columnar checks of :class:`TransactionRow` over CSV string columns (see ``ColumnarCodec.validate``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    if any(name not in table.column_names for name in TransactionRow.model_fields):
        return None, pa.repeat(pa.scalar(False), n)
    raw = {name: table[name] for name in TransactionRow.model_fields}
    strings = {name: pc.ascii_trim(raw[name], _WHITESPACE) for name in raw if name not in ("amount", "timestamp")}
    checks = []
    for name in ("transaction_id", "account_id"):
        length = pc.binary_length(strings[name])
        checks += [pc.string_is_ascii(raw[name]), pc.greater_equal(length, 1), pc.less_equal(length, 64)]
    # pydantic-core matches the pattern before it changes case, so to_upper/to_lower never make a row valid.
    for name, width in (("currency", 3), ("merchant_country", 2), ("card_country", 2)):
        name_ok = [pc.equal(pc.binary_length(strings[name]), width), pc.ascii_is_alpha(strings[name])]
        checks += [*name_ok, pc.ascii_is_upper(strings[name])]
    checks += [
        pc.equal(pc.binary_length(strings["merchant_category"]), 4),
        pc.ascii_is_decimal(strings["merchant_category"]),
    ]
    checks.append(pc.is_in(strings["channel"], value_set=pa.array(list(CHANNELS))))

    amount_ok = pc.match_substring_regex(raw["amount"], _AMOUNT)
    amounts = raw["amount"] if pc.all(amount_ok).as_py() else pc.if_else(amount_ok, raw["amount"], "0")
    amount = pc.cast(amounts, pa.float64())
    checks += [amount_ok, pc.greater(amount, 0.0), pc.less_equal(amount, 1_000_000.0)]
    micros, ts_ok = _column_timestamp(raw["timestamp"].combine_chunks())
    checks.append(ts_ok)
    ok = checks[0]
    for check in checks[1:]:
        ok = pc.and_(ok, check)
    normalized = pa.table(
        {
            "transaction_id": strings["transaction_id"],
            "account_id": strings["account_id"],
            "event_timestamp": pc.cast(micros, pa.timestamp("us", tz="UTC")),
            "amount": amount,
            "currency": strings["currency"],
            "merchant_category": strings["merchant_category"],
            "merchant_country": strings["merchant_country"],
            "card_country": strings["card_country"],
            "channel": strings["channel"],
        }
    )
    return normalized, pc.fill_null(ok, False)


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
    columnar=ColumnarCodec(
        validate=validate_columns,
        from_models=rows_to_table,
        build_table=build_table,
        sort_keys=("event_timestamp", "transaction_id"),
    ),
)
