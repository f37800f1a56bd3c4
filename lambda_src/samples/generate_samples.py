"""Regenerate the sample landing files (deterministic: fixed seed, gzip mtime 0).

    python lambda_src/samples/generate_samples.py

Writes ``transactions_sample.csv`` (300 data rows, 8 of them invalid on purpose) and
``transactions_sample.jsonl.gz`` (120 lines, 3 of them invalid). Not part of the deployment package.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = [
    "transaction_id",
    "account_id",
    "amount",
    "currency",
    "merchant_category",
    "merchant_country",
    "card_country",
    "channel",
    "timestamp",
]
COUNTRIES = {"DE": "EUR", "FR": "EUR", "GB": "GBP", "US": "USD", "NL": "EUR", "PL": "PLN"}
MCCS = ["5411", "5812", "5541", "4111", "5999", "5732", "7011", "4829", "7995", "6051", "5944", "5311"]
CHANNELS = ["pos", "pos", "pos", "ecom", "ecom", "atm", "moto"]


def _rows(seed: int, count: int, prefix: str, start: datetime) -> list[dict[str, str]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not security
    accounts = [(f"acct-{rng.randrange(10_000, 99_999)}", rng.choice(list(COUNTRIES))) for _ in range(40)]
    rows = []
    for i in range(count):
        account, home = rng.choice(accounts)
        merchant_country = home if rng.random() < 0.85 else rng.choice(list(COUNTRIES))
        when = start + timedelta(seconds=rng.randrange(0, 2 * 86_400))
        rows.append(
            {
                "transaction_id": f"{prefix}-{i:06d}",
                "account_id": account,
                "amount": f"{min(rng.lognormvariate(3.4, 1.1), 9_000):.2f}",
                "currency": COUNTRIES[merchant_country],
                "merchant_category": rng.choice(MCCS),
                "merchant_country": merchant_country,
                "card_country": home,
                "channel": rng.choice(CHANNELS),
                "timestamp": when.isoformat().replace("+00:00", "Z"),
            }
        )
    return rows


def make_csv() -> bytes:
    """300 rows over 2024-05-03/04 (UTC), with 8 invalid rows at fixed positions."""
    rows = _rows(7, 300, "tx-csv", datetime(2024, 5, 3, tzinfo=UTC))
    rows[10]["amount"] = "-12.50"  # not > 0
    rows[25]["currency"] = "EURO"  # not ISO 4217
    rows[40]["timestamp"] = ""  # missing
    rows[55]["timestamp"] = "2024-05-03T10:15:00"  # naive: no UTC offset
    rows[70]["channel"] = "telepathy"  # unknown channel
    rows[85]["amount"] = "twelve"  # not a number
    rows[100]["transaction_id"] = rows[99]["transaction_id"]  # duplicate within the object
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for index, row in enumerate(rows):
        if index == 120:  # too many fields
            buf.write(",".join(row.values()) + ",EXTRA\n")
            continue
        writer.writerow(row)
    return buf.getvalue().encode()


def make_jsonl_gz() -> bytes:
    """120 JSON lines (numbers as JSON numbers), 3 invalid lines, gzip with mtime 0."""
    rows = _rows(11, 117, "tx-jsonl", datetime(2024, 5, 4, 12, tzinfo=UTC))
    lines = []
    for row in rows:
        record: dict[str, object] = dict(row)
        record["amount"] = float(row["amount"])
        record["device_id"] = "dev-1"  # extra field: ignored
        lines.append(json.dumps(record, sort_keys=True))
    lines.insert(30, '{"transaction_id": "tx-jsonl-broken", "amount": ')  # invalid JSON
    lines.insert(60, '["not", "an", "object"]')  # not an object
    lines.insert(90, json.dumps({"transaction_id": "tx-jsonl-x", "account_id": "acct-1"}))  # missing fields
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def main() -> None:
    """Write both sample files next to this script."""
    (HERE / "transactions_sample.csv").write_bytes(make_csv())
    (HERE / "transactions_sample.jsonl.gz").write_bytes(make_jsonl_gz())


if __name__ == "__main__":
    main()
