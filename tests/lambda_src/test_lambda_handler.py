"""Behaviour of ``preprocessing.handler.lambda_handler`` against moto S3 (``mock_aws``)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import itertools
import json
import math
import statistics
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq
import pytest
from esm_harness import FakeLambdaContext, body_of, eventbridge_s3_object_created, sqs_lambda_record
from lambda_support import FEATURE_BUCKET, LANDING_BUCKET, SAMPLES

CSV_KEY = "raw/transactions/2024/05/03/transactions_sample.csv"
JSONL_KEY = "raw/transactions/2024/05/04/transactions_sample.jsonl.gz"
# 0-based data-row indices that generate_samples.py made invalid in the CSV sample.
CSV_BAD_INDICES = {10, 25, 40, 55, 70, 85, 100, 120}
EXPECTED_COLUMNS = [
    "transaction_id",
    "account_id",
    "event_timestamp",
    "created_timestamp",
    "amount",
    "currency",
    "merchant_category",
    "channel",
    "amount_log",
    "is_foreign",
    "is_high_risk_mcc",
    "is_card_present",
    "hour_of_day",
    "day_of_week",
    "is_weekend",
    "is_night",
    "account_txn_count",
    "account_amount_mean",
    "amount_zscore",
    "seconds_since_prev_txn",
]


def expected_digest(bucket: str, key: str, version_id: str, etag: str) -> str:
    identity = "\n".join((bucket, key, version_id, etag.strip('"'), "transactions", "1"))
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def put_landing(s3: Any, key: str, body: bytes) -> dict[str, Any]:
    response = s3.put_object(Bucket=LANDING_BUCKET, Key=key, Body=body)
    return {"version_id": response["VersionId"], "etag": response["ETag"].strip('"'), "size": len(body)}


def record_for(key: str, info: dict[str, Any], message_id: str, bucket: str = LANDING_BUCKET) -> dict[str, Any]:
    event = eventbridge_s3_object_created(
        bucket, key, version_id=info["version_id"], etag=info["etag"], size=info["size"]
    )
    return sqs_lambda_record(body_of(event), message_id=message_id)


def feature_objects(s3: Any) -> dict[str, dict[str, Any]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=FEATURE_BUCKET)
    return {o["Key"]: o for page in pages for o in page.get("Contents", [])}


def read_parquet(s3: Any, key: str) -> Any:
    return pq.read_table(io.BytesIO(s3.get_object(Bucket=FEATURE_BUCKET, Key=key)["Body"].read()))


@pytest.fixture
def batch(s3: Any) -> dict[str, Any]:
    """GIVEN a CSV and a gzip JSONL object in the landing bucket and a batch mixing good and bad messages."""
    csv_info = put_landing(s3, CSV_KEY, (SAMPLES / "transactions_sample.csv").read_bytes())
    jsonl_info = put_landing(s3, JSONL_KEY, (SAMPLES / "transactions_sample.jsonl.gz").read_bytes())
    missing = {
        "version_id": "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "size": 1,
    }
    ec2_event = eventbridge_s3_object_created(LANDING_BUCKET, CSV_KEY, version_id="v", etag="e", size=1)
    ec2_event["source"] = "aws.ec2"
    records = [
        record_for(CSV_KEY, csv_info, "msg-csv"),
        sqs_lambda_record("this is not an EventBridge event", message_id="msg-garbage"),
        record_for(JSONL_KEY, jsonl_info, "msg-jsonl"),
        record_for("raw/transactions/2024/05/05/gone.csv", missing, "msg-missing"),
        record_for("other/prefix/transactions.csv", csv_info, "msg-wrong-prefix"),
        record_for(CSV_KEY, csv_info, "msg-wrong-bucket", bucket="someone-elses-bucket"),
        sqs_lambda_record(json.dumps(ec2_event), message_id="msg-not-s3"),
    ]
    return {"csv": csv_info, "jsonl": jsonl_info, "event": {"Records": records}}


def invoke(handler_module: Any, event: dict[str, Any]) -> dict[str, Any]:
    return handler_module.lambda_handler(event, FakeLambdaContext())


def test_mixed_batch_reports_exactly_the_unprocessable_messages(handler_module: Any, batch: dict[str, Any]) -> None:
    # WHEN the batch is handled
    response = invoke(handler_module, batch["event"])
    # THEN only the messages that cannot be processed are retried; the good objects are not held back
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed == {"msg-garbage", "msg-missing", "msg-wrong-prefix", "msg-wrong-bucket", "msg-not-s3"}


def test_good_objects_become_partitioned_parquet_with_computed_features(
    handler_module: Any, batch: dict[str, Any], s3: Any
) -> None:
    # WHEN the batch is handled
    invoke(handler_module, batch["event"])
    # THEN each object's valid rows land under <feature-set>/dt=YYYY-MM-DD/<stem>-<digest>.parquet
    csv_digest = expected_digest(LANDING_BUCKET, CSV_KEY, batch["csv"]["version_id"], batch["csv"]["etag"])
    jsonl_digest = expected_digest(LANDING_BUCKET, JSONL_KEY, batch["jsonl"]["version_id"], batch["jsonl"]["etag"])
    parquet_keys = sorted(k for k in feature_objects(s3) if k.endswith(".parquet"))
    assert parquet_keys == sorted(
        [
            f"transactions/dt=2024-05-03/transactions_sample-{csv_digest}.parquet",
            f"transactions/dt=2024-05-04/transactions_sample-{csv_digest}.parquet",
            f"transactions/dt=2024-05-04/transactions_sample-{jsonl_digest}.parquet",
            f"transactions/dt=2024-05-05/transactions_sample-{jsonl_digest}.parquet",
            f"transactions/dt=2024-05-06/transactions_sample-{jsonl_digest}.parquet",
        ]
    )
    csv_tables = [read_parquet(s3, k) for k in parquet_keys if csv_digest in k]
    jsonl_tables = [read_parquet(s3, k) for k in parquet_keys if jsonl_digest in k]
    assert all(t.column_names == EXPECTED_COLUMNS for t in csv_tables + jsonl_tables)
    assert sum(t.num_rows for t in csv_tables) == 300 - len(CSV_BAD_INDICES)
    assert sum(t.num_rows for t in jsonl_tables) == 117
    # AND each file holds only its partition's day, in UTC
    for key, table in zip([k for k in parquet_keys if csv_digest in k], csv_tables, strict=True):
        day = key.split("dt=")[1][:10]
        assert {ts.date().isoformat() for ts in table.column("event_timestamp").to_pylist()} == {day}

    # AND the features of sampled rows match an independent computation from the raw CSV
    raw = list(csv.DictReader(io.StringIO((SAMPLES / "transactions_sample.csv").read_text())))
    valid = [r for i, r in enumerate(raw) if i not in CSV_BAD_INDICES]
    rows_by_id = {r["transaction_id"]: r for t in csv_tables for r in t.to_pylist()}
    account = max({r["account_id"] for r in valid}, key=lambda a: sum(r["account_id"] == a for r in valid))
    account_amounts = [float(r["amount"]) for r in valid if r["account_id"] == account]
    mean, std = statistics.fmean(account_amounts), statistics.pstdev(account_amounts)
    samples = [valid[0], *[r for r in valid if r["account_id"] == account][:2]]
    for raw_row in samples:
        out = rows_by_id[raw_row["transaction_id"]]
        when = datetime.fromisoformat(raw_row["timestamp"].replace("Z", "+00:00")).astimezone(UTC)
        amount = float(raw_row["amount"])
        assert out["amount_log"] == pytest.approx(math.log1p(amount))
        assert out["is_foreign"] is (raw_row["merchant_country"] != raw_row["card_country"])
        assert out["hour_of_day"] == when.hour
        assert out["is_weekend"] is (when.weekday() >= 5)
        assert out["event_timestamp"] == when
        assert out["day_of_week"] == when.weekday()
        assert out["is_night"] is (when.hour < 6)
        assert out["is_high_risk_mcc"] is (
            raw_row["merchant_category"] in {"4829", "5944", "5967", "6051", "6211", "7995", "5816"}
        )
    for raw_row in samples[1:]:
        out = rows_by_id[raw_row["transaction_id"]]
        assert out["account_txn_count"] == len(account_amounts)
        assert out["account_amount_mean"] == pytest.approx(mean)
        assert out["amount_zscore"] == pytest.approx((float(raw_row["amount"]) - mean) / std)
    # AND the gap to the account's previous transaction is measured in event-time order
    times = sorted(
        datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) for r in valid if r["account_id"] == account
    )
    gaps = sorted(
        r["seconds_since_prev_txn"]
        for r in rows_by_id.values()
        if r["account_id"] == account and r["seconds_since_prev_txn"] is not None
    )
    assert gaps == sorted((b - a).total_seconds() for a, b in itertools.pairwise(times))


def test_outputs_carry_lineage_in_metadata_and_manifest(handler_module: Any, batch: dict[str, Any], s3: Any) -> None:
    # WHEN the batch is handled
    invoke(handler_module, batch["event"])
    # THEN every Parquet object records its source version, ETag, schema and code version
    info = batch["csv"]
    digest = expected_digest(LANDING_BUCKET, CSV_KEY, info["version_id"], info["etag"])
    key = f"transactions/dt=2024-05-03/transactions_sample-{digest}.parquet"
    metadata = s3.head_object(Bucket=FEATURE_BUCKET, Key=key)["Metadata"]
    assert metadata["source-bucket"] == LANDING_BUCKET
    assert metadata["source-key"] == CSV_KEY
    assert metadata["source-version-id"] == info["version_id"]
    assert metadata["source-etag"] == info["etag"]
    assert metadata["schema-version"] == "1"
    assert metadata["code-version"] == "0" * 64
    # AND the manifest lists the same lineage, the outputs and the row accounting
    manifest_key = f"transactions/_manifests/transactions_sample-{digest}.json"
    manifest = json.loads(s3.get_object(Bucket=FEATURE_BUCKET, Key=manifest_key)["Body"].read())
    assert manifest["source"]["version_id"] == info["version_id"]
    assert manifest["source"]["etag"] == info["etag"]
    assert manifest["source"]["key"] == CSV_KEY
    assert manifest["lineage"]["schema_version"] == "1"
    assert manifest["lineage"]["code_version"] == "0" * 64
    assert manifest["rows"] == {"input": 300, "valid": 292, "quarantined": 8}
    assert [o["key"] for o in manifest["outputs"]] == [
        f"transactions/dt=2024-05-03/transactions_sample-{digest}.parquet",
        key.replace("2024-05-03", "2024-05-04"),
    ]
    assert manifest["feature_set"]["entity_key"] == "account_id"
    # AND the Parquet file embeds the lineage too
    table = read_parquet(s3, key)
    assert json.loads(table.schema.metadata[b"lineage"])["source_version_id"] == info["version_id"]


def test_invalid_rows_are_quarantined_with_row_number_and_reason(
    handler_module: Any, batch: dict[str, Any], s3: Any
) -> None:
    # WHEN the batch is handled
    invoke(handler_module, batch["event"])
    # THEN the CSV's 8 invalid rows are in one JSON-lines quarantine object, each with its reason
    info = batch["csv"]
    digest = expected_digest(LANDING_BUCKET, CSV_KEY, info["version_id"], info["etag"])
    body = s3.get_object(Bucket=FEATURE_BUCKET, Key=f"transactions/_quarantine/transactions_sample-{digest}.jsonl")
    lines = [json.loads(line) for line in body["Body"].read().decode().splitlines()]
    assert [q["row_number"] for q in lines] == sorted(i + 1 for i in CSV_BAD_INDICES)
    reasons = {q["row_number"]: q["error"] for q in lines}
    assert reasons[11].startswith("amount:")
    assert reasons[26].startswith("currency:")
    assert "timezone" in reasons[56]
    assert reasons[101].startswith("transaction_id: duplicate")
    assert "10 fields" in reasons[121]
    assert all(q["source_version_id"] == info["version_id"] for q in lines)
    assert lines[0]["raw"]["amount"] == "-12.50"
    # AND the gzip JSONL's 3 undecodable/invalid lines are quarantined as well
    jdigest = expected_digest(LANDING_BUCKET, JSONL_KEY, batch["jsonl"]["version_id"], batch["jsonl"]["etag"])
    jbody = s3.get_object(Bucket=FEATURE_BUCKET, Key=f"transactions/_quarantine/transactions_sample-{jdigest}.jsonl")
    jlines = [json.loads(line) for line in jbody["Body"].read().decode().splitlines()]
    assert [q["row_number"] for q in jlines] == [31, 61, 91]
    assert jlines[0]["error"].startswith("row: invalid JSON")


def test_redelivery_is_idempotent(handler_module: Any, batch: dict[str, Any], s3: Any) -> None:
    # GIVEN the batch was processed once
    invoke(handler_module, batch["event"])
    before = feature_objects(s3)
    # WHEN SQS redelivers the two good messages (new message ids, same S3 events)
    records = batch["event"]["Records"]
    redelivered = [dict(records[0], messageId="msg-csv-again"), dict(records[2], messageId="msg-jsonl-again")]
    response = invoke(handler_module, {"Records": redelivered})
    # THEN both succeed and nothing is written or rewritten
    assert response["batchItemFailures"] == []
    after = feature_objects(s3)
    assert after.keys() == before.keys()
    assert {k: v["ETag"] for k, v in after.items()} == {k: v["ETag"] for k, v in before.items()}
    assert {k: v["LastModified"] for k, v in after.items()} == {k: v["LastModified"] for k, v in before.items()}


def test_retry_after_a_crash_before_the_manifest_completes_without_duplicates(
    handler_module: Any, batch: dict[str, Any], s3: Any
) -> None:
    # GIVEN a previous attempt wrote the outputs but died before committing the manifest
    invoke(handler_module, batch["event"])
    info = batch["csv"]
    digest = expected_digest(LANDING_BUCKET, CSV_KEY, info["version_id"], info["etag"])
    manifest_key = f"transactions/_manifests/transactions_sample-{digest}.json"
    manifest_before = s3.get_object(Bucket=FEATURE_BUCKET, Key=manifest_key)["Body"].read()
    s3.delete_object(Bucket=FEATURE_BUCKET, Key=manifest_key)
    before = feature_objects(s3)
    # WHEN the message is delivered again
    response = invoke(handler_module, {"Records": [batch["event"]["Records"][0]]})
    # THEN the same manifest is committed, and the outputs are neither duplicated nor rewritten
    assert response["batchItemFailures"] == []
    after = feature_objects(s3)
    assert set(after) == set(before) | {manifest_key}
    assert all(after[k]["LastModified"] == before[k]["LastModified"] for k in before)
    assert s3.get_object(Bucket=FEATURE_BUCKET, Key=manifest_key)["Body"].read() == manifest_before


def test_object_whose_rows_are_all_invalid_still_succeeds(handler_module: Any, s3: Any) -> None:
    # GIVEN a gzip CSV (suffix .csv.gz) whose only rows are invalid
    body = gzip.compress(b"transaction_id,account_id,amount\nt1,a1,-1\nt2,a2,abc\n", mtime=0)
    info = put_landing(s3, "raw/transactions/bad.csv.gz", body)
    # WHEN it is handled
    response = invoke(handler_module, {"Records": [record_for("raw/transactions/bad.csv.gz", info, "m1")]})
    # THEN the message succeeds, both rows are quarantined and no Parquet is written
    assert response["batchItemFailures"] == []
    keys = feature_objects(s3)
    assert not [k for k in keys if k.endswith(".parquet")]
    (quarantine_key,) = [k for k in keys if k.startswith("transactions/_quarantine/")]
    lines = s3.get_object(Bucket=FEATURE_BUCKET, Key=quarantine_key)["Body"].read().decode().splitlines()
    assert len(lines) == 2


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_missing_environment_variable_is_named(handler_module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the function is deployed without FEATURE_BUCKET
    from preprocessing.config import ConfigurationError, get_settings

    monkeypatch.delenv("FEATURE_BUCKET")
    get_settings.cache_clear()
    # WHEN it is invoked, THEN it fails the whole invocation with an error naming the variable
    with pytest.raises(ConfigurationError, match="FEATURE_BUCKET"):
        invoke(handler_module, {"Records": [sqs_lambda_record("{}", message_id="m")]})
