"""Batch scoring (``python -m inference_server batch``) against moto S3 with real ONNX models.

Layout used throughout: model registry ``s3://acme-models/models/<model>/<version>/model.onnx``, feature
store ``s3://acme-features/<feature_set>/dt=YYYY-MM-DD/*.parquet`` (one fresh feature set per test), scores
under ``<feature_set>/_scores/<model>/dt=YYYY-MM-DD/``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from inference_helpers import AWS_ENV, BUCKET, PREFIX, S3, build_classifier, free_socket, wait_until
from inference_server import batch
from inference_server.config import ConfigError
from onnx import TensorProto, helper

FEATURES_BUCKET = "acme-features"
DATE = "2026-11-24"
CONTAINER_SRC = Path(__file__).resolve().parents[2] / "container_src"
MATRIX_COLUMNS = ["amount", "amount_log", "is_foreign", "hour_of_day"]  # the classifier's columns, in order
KEYS = ["transaction_id", "account_id", "event_timestamp"]
TS_TYPE = "timestamp[us, tz=UTC]"
KEY_SPECS = [
    {"name": "transaction_id", "type": "string"},
    {"name": "account_id", "type": "string"},
    {"name": "event_timestamp", "type": TS_TYPE},
]


def classifier_signature(**overrides: Any) -> dict[str, Any]:
    """The signature of the test classifier: INPUT0 FP32 [N, 4] fed by MATRIX_COLUMNS, keyed by KEYS."""
    types = {"amount": "double", "amount_log": "double", "is_foreign": "bool", "hour_of_day": "int8"}
    document: dict[str, Any] = {
        "signature_version": 1,
        "inputs": [
            {"name": "INPUT0", "datatype": "FP32", "columns": [{"name": c, "type": types[c]} for c in MATRIX_COLUMNS]}
        ],
        "keys": KEY_SPECS,
    }
    document.update(overrides)
    return document


def put_signature(s3: S3, model: str, version: str, document: dict[str, Any] | bytes) -> None:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    s3.client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{model}/{version}/signature.json", Body=body)  # type: ignore[attr-defined]


def build_per_column_model() -> bytes:
    """One input per feature column: ``amount`` [N] and ``hour_of_day`` [N, 1] (FP32) -> ``score`` [N]."""
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["hour_of_day", "FLAT"], ["HOUR"]),
            helper.make_node("Mul", ["amount", "WA"], ["A"]),
            helper.make_node("Mul", ["HOUR", "WH"], ["H"]),
            helper.make_node("Add", ["A", "H"], ["Z"]),
            helper.make_node("Sigmoid", ["Z"], ["score"]),
        ],
        "per_column",
        [
            helper.make_tensor_value_info("amount", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("hour_of_day", TensorProto.FLOAT, ["N", 1]),
        ],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        initializer=[
            helper.make_tensor("FLAT", TensorProto.INT64, [1], [-1]),
            helper.make_tensor("WA", TensorProto.FLOAT, [], [0.01]),
            helper.make_tensor("WH", TensorProto.FLOAT, [], [-0.1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def feature_table(rows: int, seed: int) -> pa.Table:
    """A small table shaped like the ``transactions`` feature set (ids, timestamps, numeric features)."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 24, tzinfo=UTC)
    ts = pa.timestamp("us", tz="UTC")
    amount = rng.uniform(1, 500, rows)
    return pa.table(
        {
            "transaction_id": pa.array([f"t{seed}-{i}" for i in range(rows)]),
            "account_id": pa.array([f"acct-{i % 7}" for i in range(rows)]),
            "event_timestamp": pa.array([start + timedelta(seconds=97 * i) for i in range(rows)], ts),
            "created_timestamp": pa.array([start] * rows, ts),
            "amount": pa.array(amount, pa.float64()),
            "currency": pa.array(["EUR"] * rows),
            "amount_log": pa.array(np.log1p(amount), pa.float64()),
            "is_foreign": pa.array(rng.random(rows) < 0.3),
            "hour_of_day": pa.array(rng.integers(0, 24, rows), pa.int8()),
        }
    )


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@dataclass
class Store:
    """One test's feature set in the moto feature store, plus an S3 client that counts PutObject calls."""

    s3: S3
    feature_set: str
    cache_dir: Path
    client: Any
    puts: list[str]

    @property
    def output_prefix(self) -> str:
        return f"{self.feature_set}/_scores/fraud/"

    def put(self, key: str, body: bytes) -> str:
        return str(self.client.put_object(Bucket=FEATURES_BUCKET, Key=key, Body=body)["ETag"]).strip('"')

    def put_table(self, relative: str, table: pa.Table) -> str:
        return self.put(f"{self.feature_set}/{relative}", parquet_bytes(table))

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "MODEL_REPOSITORY": f"s3://{BUCKET}/{PREFIX}",
            "MODEL_NAME": "fraud",
            "MODEL_VERSION": "1",
            "MODEL_CACHE_DIR": str(self.cache_dir),
            "FEATURE_BUCKET": FEATURES_BUCKET,
            "FEATURE_SET": self.feature_set,
            "INPUT_PREFIX": f"{self.feature_set}/",
            "OUTPUT_PREFIX": self.output_prefix,
            "BATCH_JOB_NAME": "nightly-fraud",
            "MAX_BATCH_SIZE": "8",
            "BATCH_CHUNK_ROWS": "16",
            "LOOKBACK_DAYS": "1",
            **extra,
        }

    def run(self, *argv: str, **extra: str) -> int:
        return batch.main(list(argv) or ["--date", DATE], env=self.env(**extra), client=self.client)

    def keys(self, prefix: str) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=FEATURES_BUCKET, Prefix=prefix)
        return sorted(o["Key"] for o in listing.get("Contents", []))

    def read_output(self, relative: str) -> tuple[pa.Table, dict[str, Any]]:
        key = f"{self.output_prefix}dt={DATE}/{relative}"
        response = self.client.get_object(Bucket=FEATURES_BUCKET, Key=key)
        return pq.read_table(io.BytesIO(response["Body"].read())), response

    def manifest(self, day: str = DATE) -> dict[str, Any]:
        key = f"{self.output_prefix}dt={day}/_manifest.json"
        return json.loads(self.client.get_object(Bucket=FEATURES_BUCKET, Key=key)["Body"].read())


@pytest.fixture(scope="module")
def registry(s3: S3, classifier_bytes: bytes) -> S3:
    """The classifier (4 features -> LOGITS/PROBS [N, 3]) as model ``fraud`` version 1, and the feature bucket."""
    s3.put_model("fraud", "1", classifier_bytes)
    put_signature(s3, "fraud", "1", classifier_signature())
    s3.client.create_bucket(Bucket=FEATURES_BUCKET)
    return s3


@pytest.fixture
def store(registry: S3, tmp_path: Path) -> Iterator[Store]:
    client = boto3.client("s3", endpoint_url=registry.endpoint, region_name="us-east-1")
    puts: list[str] = []
    client.meta.events.register("provide-client-params.s3.PutObject", lambda params, **_: puts.append(params["Key"]))
    yield Store(registry, f"tx-{uuid.uuid4().hex[:8]}", tmp_path / "cache", client, puts)


@pytest.fixture
def day(store: Store) -> dict[str, pa.Table]:
    """Two feature files for DATE, plus what must be ignored: another date, `_`/`.` keys, a non-Parquet key."""
    tables = {"part-a.parquet": feature_table(50, seed=1), "part-b.parquet": feature_table(23, seed=2)}
    for name, table in tables.items():
        store.put_table(f"dt={DATE}/{name}", table)
    junk = parquet_bytes(feature_table(5, seed=3))
    store.put_table("dt=2026-11-23/part-old.parquet", feature_table(5, seed=4))
    store.put(f"{store.feature_set}/_quarantine/part-a.parquet", junk)
    store.put(f"{store.feature_set}/_manifests/part-a.json", b"{}")
    store.put(f"{store.feature_set}/dt={DATE}/_tmp/part-c.parquet", junk)
    store.put(f"{store.feature_set}/dt={DATE}/.part-d.parquet", junk)
    store.put(f"{store.feature_set}/dt={DATE}/README.txt", b"not parquet")
    store.puts.clear()
    return tables


def direct_scores(model_bytes: bytes, table: pa.Table) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    matrix = np.column_stack([table[c].to_numpy().astype(np.float32) for c in MATRIX_COLUMNS])
    logits, probs = session.run(["LOGITS", "PROBS"], {"INPUT0": matrix})
    return {"LOGITS": logits, "PROBS": probs}


def test_scores_every_input_of_the_date_into_deterministic_keys_matching_onnxruntime(
    store: Store, day: dict[str, pa.Table], classifier_bytes: bytes
) -> None:
    # GIVEN two feature files for the date (50 and 23 rows; 16-row chunks, 8-row runs) and junk around them
    # WHEN the batch scores that date in-process
    assert store.run() == 0
    # THEN exactly one output per input exists at the deterministic key, plus the manifest written last
    out = f"{store.output_prefix}dt={DATE}/"
    assert store.keys(store.output_prefix) == [f"{out}_manifest.json", f"{out}part-a.parquet", f"{out}part-b.parquet"]
    assert store.puts[-1] == f"{out}_manifest.json"
    for name, source in day.items():
        table, response = store.read_output(name)
        # THEN the scores equal a direct onnxruntime run on the same rows, flattened as <output>_<i>
        expected = direct_scores(classifier_bytes, source)
        for output, values in expected.items():
            got = np.column_stack([table[f"{output}_{i}"].to_numpy() for i in range(3)])
            np.testing.assert_allclose(got, values, rtol=1e-6, atol=1e-6)
        # THEN the signature's key columns are carried over (its order, rows in input order), then the model
        for column in KEYS:
            assert table[column].equals(source[column])
        assert table.column_names[:5] == [*KEYS, "model_name", "model_version"]
        assert set(table["model_name"].to_pylist()) == {"fraud"} and set(table["model_version"].to_pylist()) == {"1"}
        # THEN lineage is in the object metadata and the Parquet schema metadata
        meta = response["Metadata"]
        source_key = f"{store.feature_set}/dt={DATE}/{name}"
        source_etag = store.client.head_object(Bucket=FEATURES_BUCKET, Key=source_key)["ETag"].strip('"')
        assert meta["source-key"] == source_key and meta["source-etag"] == source_etag
        assert meta["model-name"] == "fraud" and meta["model-version"] == "1" and meta["model-etag"]
        assert meta["code-version"].startswith("hybrid-ai-inference-server/")
        assert meta["row-count"] == str(source.num_rows) and meta["batch-date"] == DATE
        assert meta["source-sha256"] == hashlib.sha256(parquet_bytes(source)).hexdigest()
        assert json.loads(table.schema.metadata[b"lineage"])["source-etag"] == source_etag
    manifest = store.manifest()
    assert manifest["counts"] == {"files": 2, "rows": 73}
    assert [f["output_key"] for f in manifest["files"]] == [f"{out}part-a.parquet", f"{out}part-b.parquet"]
    assert manifest["model"]["version"] == "1"


def test_rerun_writes_nothing_when_outputs_exist_for_the_same_source_and_model_version(
    store: Store, day: dict[str, pa.Table]
) -> None:
    # GIVEN a date that was scored already
    assert store.run() == 0
    before = {k: store.client.head_object(Bucket=FEATURES_BUCKET, Key=k) for k in store.keys(store.output_prefix)}
    store.puts.clear()
    # WHEN the batch runs again for the same date and model version
    assert store.run() == 0
    # THEN it puts nothing (outputs and manifest unchanged)
    assert store.puts == []
    for key, head in before.items():
        again = store.client.head_object(Bucket=FEATURES_BUCKET, Key=key)
        assert (again["ETag"], again["LastModified"]) == (head["ETag"], head["LastModified"])


def test_new_model_version_or_changed_source_replaces_the_stale_outputs(
    store: Store, day: dict[str, pa.Table], classifier_bytes: bytes
) -> None:
    # GIVEN a date scored by version 1, then one source object rewritten
    assert store.run() == 0
    store.put_table(f"dt={DATE}/part-b.parquet", feature_table(11, seed=9))
    store.puts.clear()
    # WHEN the batch runs again THEN only the changed file and the manifest are rewritten
    assert store.run() == 0
    out = f"{store.output_prefix}dt={DATE}/"
    assert store.puts == [f"{out}part-b.parquet", f"{out}_manifest.json"]
    assert store.manifest()["counts"] == {"files": 2, "rows": 61}
    # WHEN a new model version scores the same date THEN every output is replaced and records version 2
    store.s3.put_model("fraud", "2", classifier_bytes)
    put_signature(store.s3, "fraud", "2", classifier_signature())
    store.puts.clear()
    assert store.run(MODEL_VERSION="2") == 0
    assert len(store.puts) == 3
    table, response = store.read_output("part-a.parquet")
    assert set(table["model_version"].to_pylist()) == {"2"} and response["Metadata"]["model-version"] == "2"
    assert store.manifest()["model"]["version"] == "2"


def test_inputs_are_fed_from_the_signature_columns_when_the_model_has_one_input_per_column(
    store: Store, day: dict[str, pa.Table]
) -> None:
    # GIVEN a model with inputs `amount` [N] and `hour_of_day` [N, 1] whose signature maps them to columns
    model_bytes = build_per_column_model()
    store.s3.put_model("percol", "1", model_bytes)
    put_signature(
        store.s3,
        "percol",
        "1",
        classifier_signature(
            inputs=[
                {"name": "amount", "datatype": "FP32", "columns": [{"name": "amount", "type": "double"}]},
                {"name": "hour_of_day", "datatype": "FP32", "columns": [{"name": "hour_of_day", "type": "int8"}]},
            ]
        ),
    )
    # WHEN it scores the date
    assert store.run(MODEL_NAME="percol", OUTPUT_PREFIX=f"{store.feature_set}/_scores/percol/") == 0
    # THEN each input was fed from its column, cast to FP32, and the [N] output is one column
    key = f"{store.feature_set}/_scores/percol/dt={DATE}/part-a.parquet"
    table = pq.read_table(io.BytesIO(store.client.get_object(Bucket=FEATURES_BUCKET, Key=key)["Body"].read()))
    source = day["part-a.parquet"]
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (expected,) = session.run(
        ["score"],
        {
            "amount": source["amount"].to_numpy().astype(np.float32),
            "hour_of_day": source["hour_of_day"].to_numpy().astype(np.float32).reshape(-1, 1),
        },
    )
    np.testing.assert_allclose(table["score"].to_numpy(), expected, rtol=1e-6)


def test_columns_are_fed_in_signature_order_whatever_the_file_order_and_extra_columns(
    store: Store, classifier_bytes: bytes
) -> None:
    # GIVEN a file whose columns are shuffled, with extra numeric columns between the features
    source = feature_table(40, seed=5)
    rng = np.random.default_rng(0)
    shuffled = source.append_column("noise", pa.array(rng.random(40))).append_column(
        "account_txn_count", pa.array(rng.integers(1, 9, 40), pa.int32())
    )
    order = ["hour_of_day", "noise", "is_foreign", "transaction_id", "amount_log", "account_txn_count", "amount"]
    order += [c for c in shuffled.column_names if c not in order]
    store.put_table(f"dt={DATE}/part-x.parquet", shuffled.select(order))
    # WHEN the batch scores it
    assert store.run() == 0
    # THEN the model saw exactly the signature's columns in the signature's order
    table, _ = store.read_output("part-x.parquet")
    expected = direct_scores(classifier_bytes, source)["PROBS"]
    got = np.column_stack([table[f"PROBS_{i}"].to_numpy() for i in range(3)])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert table["transaction_id"].equals(source["transaction_id"])


SIGNATURE_CASES = [
    pytest.param(None, "no model signature at s3://acme-models/models/fraud/v-[0-9a-f]+/signature.json", id="missing"),
    pytest.param(b"{not json", "signature.json is not valid JSON", id="not-json"),
    pytest.param(classifier_signature(signature_version=2), "signature_version: Input should be 1", id="version"),
    pytest.param(classifier_signature(extra="x"), "extra: Extra inputs are not permitted", id="unknown-field"),
    pytest.param(classifier_signature(keys=[]), "keys: List should have at least 1 item", id="no-keys"),
    pytest.param(
        classifier_signature(keys=[{"name": "account_id", "type": "varchar"}]),
        "keys.0.type: Value error, unsupported Arrow type 'varchar'",
        id="bad-type",
    ),
    pytest.param(
        classifier_signature(keys=[{"name": "model_version", "type": "string"}]),
        "model_version is written by the batch job itself",
        id="reserved-key",
    ),
    pytest.param(
        classifier_signature(keys=[{"name": "LOGITS_0", "type": "double"}]),
        "keys LOGITS_0 clash with the model's output columns",
        id="key-clashes-with-output",
    ),
    pytest.param(
        classifier_signature(
            inputs=[{"name": "INPUT0", "datatype": "FP32", "columns": [{"name": "amount", "type": "double"}] * 1}]
        ),
        r"inputs\[INPUT0\]: the model's input has shape \[-1, 4\] \(K=4 columns\), the signature lists 1",
        id="column-count",
    ),
    pytest.param(
        classifier_signature(
            inputs=[
                {
                    "name": "INPUT0",
                    "datatype": "FP64",
                    "columns": [{"name": c, "type": "double"} for c in ("amount", "amount_log", "a", "b")],
                }
            ]
        ),
        r"inputs\[INPUT0\].datatype is FP64, the model's input is FP32",
        id="datatype",
    ),
    pytest.param(
        classifier_signature(
            inputs=[
                {
                    "name": "features",
                    "datatype": "FP32",
                    "columns": [{"name": c, "type": "double"} for c in ("amount", "amount_log", "a", "b")],
                }
            ]
        ),
        "model input.s. INPUT0 have no entry in inputs; inputs names features, not an input of the model",
        id="input-name",
    ),
    pytest.param(
        classifier_signature(
            inputs=[
                {
                    "name": "INPUT0",
                    "datatype": "FP32",
                    "columns": [{"name": c, "type": "string"} for c in ("currency", "amount_log", "a", "b")],
                }
            ]
        ),
        r"column 'currency' \(string\) cannot feed a FP32 input",
        id="string-feeds-numeric",
    ),
    pytest.param(
        classifier_signature(feature_set="payments"),
        "is for feature set 'payments', this job scores",
        id="feature-set",
    ),
]


@pytest.mark.parametrize(("document", "message"), SIGNATURE_CASES)
def test_a_missing_or_unfit_signature_exits_3_before_anything_is_scored(
    store: Store,
    day: dict[str, pa.Table],
    capsys: pytest.CaptureFixture[str],
    document: dict[str, Any] | bytes | None,
    message: str,
) -> None:
    # GIVEN a new version of the classifier published with a missing or broken signature.json
    version = f"v-{uuid.uuid4().hex[:8]}"
    store.s3.put_model("fraud", version, build_classifier())
    if document is not None:
        put_signature(store.s3, "fraud", version, document)
    # WHEN the batch runs THEN it exits 3 with one line naming the problem, and writes nothing
    assert store.run(MODEL_VERSION=version) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err
    assert store.puts == []


HOUR = 8  # index of hour_of_day in feature_table()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["amount_log"]), "column 'amount_log' \\(double\\) is missing"),
        (
            lambda t: t.set_column(HOUR, "hour_of_day", t["hour_of_day"].cast("int64")),
            "column 'hour_of_day' is int64, the signature says int8",
        ),
        (lambda t: t.drop_columns(["transaction_id"]), "column 'transaction_id' \\(string\\) is missing"),
    ],
)
def test_a_file_that_breaks_the_signature_stops_the_job_before_anything_is_scored(
    store: Store,
    day: dict[str, pa.Table],
    capsys: pytest.CaptureFixture[str],
    change: Any,
    message: str,
) -> None:
    # GIVEN a day where one file (sorted last, so good files come first) does not match the signature
    store.put_table(f"dt={DATE}/part-z.parquet", change(feature_table(9, seed=6)))
    store.puts.clear()
    # WHEN the batch runs THEN it exits 3 naming the file and the column, and scores nothing at all
    assert store.run() == 3
    err = capsys.readouterr().err
    assert "1 of 3 input file(s) do not match the model signature" in err and "part-z.parquet" in err, err
    assert re.search(message, err), err
    assert store.puts == []
    assert store.keys(store.output_prefix) == []


@pytest.mark.parametrize("variable", batch.OBSOLETE_VARIABLES)
def test_column_variables_of_earlier_versions_are_refused(
    store: Store, capsys: pytest.CaptureFixture[str], variable: str
) -> None:
    # GIVEN a job still configured with a column variable: one source of the columns is the signature
    assert batch.main(["--date", DATE], env=store.env(**{variable: "amount"}), client=store.client) == 2
    err = capsys.readouterr().err
    assert f"{variable} is no longer read" in err and "signature.json" in err, err


@pytest.mark.parametrize(
    ("remove", "extra", "message"),
    [
        ("FEATURE_BUCKET", {}, "FEATURE_BUCKET is required"),
        ("MODEL_NAME", {}, "MODEL_NAME is required"),
        (None, {"OUTPUT_PREFIX": "x/dt=2026-11-24/"}, "OUTPUT_PREFIX .* must not be INPUT_PREFIX"),
        (None, {"INPUT_PREFIX": "transactions"}, "INPUT_PREFIX must be a key prefix ending in '/'"),
        (None, {"BATCH_CHUNK_ROWS": "0"}, "BATCH_CHUNK_ROWS must be between 1 and 1048576"),
        (None, {"LOOKBACK_DAYS": "0"}, "LOOKBACK_DAYS must be between 1 and 31"),
        (None, {"LOOKBACK_DAYS": "three"}, "LOOKBACK_DAYS must be an integer"),
        (None, {"BATCH_DATE": "24.11.2026"}, "BATCH_DATE must be a date YYYY-MM-DD"),
        (None, {"ORT_EXECUTION_PROVIDERS": "TensorrtExecutionProvider"}, "TensorrtExecutionProvider"),
    ],
)
def test_invalid_environment_exits_2_naming_the_variable(
    store: Store, capsys: pytest.CaptureFixture[str], remove: str | None, extra: dict[str, str], message: str
) -> None:
    env = store.env(**extra)
    if "OUTPUT_PREFIX" in extra:
        env["INPUT_PREFIX"] = "x/"
        env["FEATURE_SET"] = "x"
    if remove:
        env.pop(remove)
    argv = [] if "BATCH_DATE" in extra else ["--date", DATE]
    assert batch.main(argv, env=env, client=store.client) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err, err


def test_invalid_date_argument_exits_2() -> None:
    assert batch.main(["--date", "2026-02-30"], env={}) == 2


def test_date_defaults_to_yesterday_utc_and_date_argument_beats_batch_date(store: Store) -> None:
    now = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
    assert batch.BatchSettings.from_env(store.env(), now=now).batch_date == date(2026, 11, 24)
    env = store.env(BATCH_DATE="2026-01-02")
    assert batch.BatchSettings.from_env(env, now=now).batch_date == date(2026, 1, 2)
    settings = batch.BatchSettings.from_env(env, "2026-03-04", now=now)
    assert settings.batch_date == date(2026, 3, 4)
    assert settings.input_partition == f"{store.feature_set}/dt=2026-03-04/"
    assert settings.manifest_key == f"{store.output_prefix}dt=2026-03-04/_manifest.json"
    with pytest.raises(ConfigError, match="--date must be a valid date"):
        batch.BatchSettings.from_env(env, "2026-13-01")


def test_a_date_without_inputs_succeeds_with_nothing_to_score(
    store: Store, day: dict[str, pa.Table], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a date with no feature files (only other dates and `_` prefixes exist)
    caplog.set_level(logging.INFO, logger="inference_server")
    # WHEN the batch runs for it THEN it exits 0, says so, and commits an empty manifest
    assert store.run("--date", "2026-11-22") == 0
    events = {getattr(r, "fields", {}).get("event"): r for r in caplog.records}
    assert "nothing to score" in events["nothing_to_score"].getMessage()
    assert events["batch_finished"].fields["files"] == 0  # type: ignore[attr-defined]
    assert store.manifest("2026-11-22")["counts"] == {"files": 0, "rows": 0}


def test_a_corrupt_input_exits_1_after_scoring_the_others_and_withholds_the_manifest(
    store: Store, day: dict[str, pa.Table]
) -> None:
    # GIVEN a partition where one .parquet object is not Parquet
    store.put(f"{store.feature_set}/dt={DATE}/part-0-broken.parquet", b"PAR1 definitely not parquet")
    store.puts.clear()
    # WHEN the batch runs THEN it exits 1 (the Job retries), the good files are scored, no manifest is written
    assert store.run() == 1
    out = f"{store.output_prefix}dt={DATE}/"
    assert store.keys(store.output_prefix) == [f"{out}part-a.parquet", f"{out}part-b.parquet"]


def test_a_missing_model_exits_1(store: Store, day: dict[str, pa.Table]) -> None:
    assert store.run(MODEL_VERSION="404") == 1
    assert store.puts == []


def test_cli_runs_the_batch_as_a_process_with_json_logs(store: Store, day: dict[str, pa.Table]) -> None:
    # GIVEN the process environment the CronJob sets, reaching moto through AWS_ENDPOINT_URL
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODEL_", "MAX_", "FEATURE_"))}
    env.update(AWS_ENV)
    env.update(store.env(AWS_ENDPOINT_URL=store.s3.endpoint))
    # WHEN `python -m inference_server batch --date ...` runs from container_src/
    proc = subprocess.run(
        [sys.executable, "-m", "inference_server", "batch", "--date", DATE],
        cwd=CONTAINER_SRC,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # THEN it exits 0, every stdout line is JSON, and the final line counts the work
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    finished = next(line for line in lines if line.get("event") == "batch_finished")
    assert finished["written"] == 2 and finished["rows"] == 73 and finished["failed"] == 0
    assert any(line.get("event") == "model_loaded" and line["provider"] for line in lines)
    out = f"{store.output_prefix}dt={DATE}/"
    assert store.keys(store.output_prefix) == [f"{out}_manifest.json", f"{out}part-a.parquet", f"{out}part-b.parquet"]


def test_a_late_file_for_an_earlier_day_is_scored_by_a_later_run_within_the_lookback_window(
    store: Store, day: dict[str, pa.Table]
) -> None:
    # GIVEN the run for 2026-11-23 is done (one file), then a file for 2026-11-23 lands late
    assert store.run("--date", "2026-11-23", LOOKBACK_DAYS="3") == 0
    assert store.manifest("2026-11-23")["counts"]["files"] == 1
    late = feature_table(12, seed=11)
    store.put_table("dt=2026-11-23/part-late.parquet", late)
    store.puts.clear()
    # WHEN the next night's run scores 2026-11-24 with a three-day lookback
    assert store.run("--date", DATE, LOOKBACK_DAYS="3") == 0
    # THEN the late file is scored into its own day, and that day's manifest now lists it
    late_out = f"{store.output_prefix}dt=2026-11-23/part-late.parquet"
    assert late_out in store.puts
    old_manifest = store.manifest("2026-11-23")
    assert old_manifest["counts"] == {"files": 2, "rows": 5 + 12}
    assert store.manifest(DATE)["counts"] == {"files": 2, "rows": 73}
    # and the file already scored for 2026-11-23 was not touched again
    assert f"{store.output_prefix}dt=2026-11-23/part-old.parquet" not in store.puts


def test_the_lookback_window_ends_lookback_days_back(store: Store, day: dict[str, pa.Table]) -> None:
    # GIVEN files for 2026-11-23 and 2026-11-24 WHEN 2026-11-25 runs with a one-day window
    assert store.run("--date", "2026-11-25", LOOKBACK_DAYS="2") == 0
    # THEN only 2026-11-24 (inside the window) is scored; 2026-11-23 (outside) is not
    out_keys = store.keys(store.output_prefix)
    assert f"{store.output_prefix}dt=2026-11-24/part-a.parquet" in out_keys
    assert not [k for k in out_keys if "dt=2026-11-23" in k]
    assert batch.BatchSettings.from_env(store.env(LOOKBACK_DAYS="3"), DATE).dates == (
        date(2026, 11, 22),
        date(2026, 11, 23),
        date(2026, 11, 24),
    )


def test_a_reupload_with_the_same_content_is_not_scored_twice(
    store: Store, day: dict[str, pa.Table], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a scored day, then part-a re-uploaded byte for byte as a multipart upload: same content, new ETag
    # (as with SSE-KMS, where S3's ETag is not the content's MD5 and a re-upload changes it)
    assert store.run() == 0
    out = f"{store.output_prefix}dt={DATE}/part-a.parquet"
    before = store.client.head_object(Bucket=FEATURES_BUCKET, Key=out)
    key = f"{store.feature_set}/dt={DATE}/part-a.parquet"
    old_etag = store.client.head_object(Bucket=FEATURES_BUCKET, Key=key)["ETag"]
    upload = store.client.create_multipart_upload(Bucket=FEATURES_BUCKET, Key=key)
    part = store.client.upload_part(
        Bucket=FEATURES_BUCKET,
        Key=key,
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=parquet_bytes(day["part-a.parquet"]),
    )
    store.client.complete_multipart_upload(
        Bucket=FEATURES_BUCKET,
        Key=key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    assert store.client.head_object(Bucket=FEATURES_BUCKET, Key=key)["ETag"] != old_etag
    store.puts.clear()
    caplog.set_level(logging.INFO, logger="inference_server")
    # WHEN the batch runs again
    assert store.run() == 0
    # THEN the output is neither rescored nor rewritten; only the manifest records the new ETag
    assert store.puts == [f"{store.output_prefix}dt={DATE}/_manifest.json"]
    after = store.client.head_object(Bucket=FEATURES_BUCKET, Key=out)
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    events = [getattr(r, "fields", {}).get("event") for r in caplog.records]
    assert events.count("file_unchanged") == 1 and events.count("file_skipped") == 1


KEEP_POOLS_ALIVE: list[pa.MemoryPool] = []


@pytest.fixture
def separate_s3(classifier_bytes: bytes) -> Iterator[Any]:
    """A moto S3 server in its own process (so tracing this process's memory does not count moto's), with
    the classifier and its signature as fraud/1 and the feature bucket; yields a client for it."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, **AWS_ENV}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")

        def up() -> bool:
            try:
                client.list_buckets()
            except Exception:
                return False
            return True

        assert wait_until(up, timeout=30), "moto_server did not start"
        for bucket in (BUCKET, FEATURES_BUCKET):
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/fraud/1/model.onnx", Body=classifier_bytes)
        client.put_object(
            Bucket=BUCKET, Key=f"{PREFIX}/fraud/1/signature.json", Body=json.dumps(classifier_signature()).encode()
        )
        yield client
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_memory_stays_bounded_by_the_chunk_not_the_file(separate_s3: Any, store: Store) -> None:
    # GIVEN one ~22 MB input file of incompressible features
    rows = 1_000_000
    rng = np.random.default_rng(3)
    start = datetime(2026, 11, 24, tzinfo=UTC)
    table = pa.table(
        {
            "transaction_id": pa.array(np.arange(rows).astype(str)),
            "account_id": pa.array(np.full(rows, "a")),
            "event_timestamp": pa.array(np.full(rows, start), pa.timestamp("us", tz="UTC")),
            "amount": pa.array(rng.random(rows)),
            "amount_log": pa.array(rng.random(rows)),
            "is_foreign": pa.array(rng.random(rows) < 0.5),
            "hour_of_day": pa.array(rng.integers(0, 24, rows), pa.int8()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=65_536)
    body = sink.getvalue()
    assert len(body) > 20_000_000
    separate_s3.put_object(Bucket=FEATURES_BUCKET, Key=f"{store.feature_set}/dt={DATE}/big.parquet", Body=body)
    del table
    env = store.env(BATCH_CHUNK_ROWS="4096", MAX_BATCH_SIZE="4096")
    # WHEN the batch scores it, 4096 rows at a time, while this process's Python allocations are traced
    # and Arrow allocates from a pool of its own
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    KEEP_POOLS_ALIVE.append(pool)  # buffers allocated from it may be freed after the test
    saved = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    tracemalloc.start()
    try:
        assert batch.main(["--date", DATE], env=env, client=separate_s3) == 0
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(saved)
    # THEN the job never held the file (or its output) in memory: each peak is a fraction of the file
    assert python_peak < len(body) / 4, f"Python peak {python_peak} bytes for a {len(body)}-byte file"
    assert pool.max_memory() < len(body) / 4, f"Arrow peak {pool.max_memory()} bytes for a {len(body)}-byte file"
    key = f"{store.output_prefix}dt={DATE}/big.parquet"
    output = pq.read_table(io.BytesIO(separate_s3.get_object(Bucket=FEATURES_BUCKET, Key=key)["Body"].read()))
    assert output.num_rows == rows


# -- the declared AWS calls (inference_server/aws_calls.py) cannot drift from the code ---------------------


def _record_calls(client: Any) -> list[tuple[str, str, dict[str, Any]]]:
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def hook(params: dict[str, Any], event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        calls.append((service, operation, dict(params)))

    client.meta.events.register("provide-client-params", hook)
    return calls


def _undeclared_and_unused(
    declared: tuple[dict[str, Any], ...], calls: list[tuple[str, str, dict[str, Any]]], env: dict[str, str]
) -> tuple[list[Any], list[str]]:
    from hybrid_ai_platform.cli.checks.permissions import declares

    undeclared = [
        (o, p.get("Key") or p.get("Prefix"))
        for s, o, p in calls
        if not any(declares(d, s, o, p, env) for d in declared)
    ]
    unused = [
        f"{d['call']} {d['resource']}" for d in declared if not any(declares(d, s, o, p, env) for s, o, p in calls)
    ]
    return undeclared, unused


def test_every_call_the_batch_and_the_server_make_is_declared_and_every_declaration_is_made(
    store: Store, day: dict[str, pa.Table], tmp_path: Path
) -> None:
    from inference_server.aws_calls import WORKLOADS
    from inference_server.config import S3Location
    from inference_server.repository import ModelRepository

    # GIVEN the batch's S3 client recording every call WHEN it scores a day, then re-runs it (outputs exist)
    calls = _record_calls(store.client)
    assert store.run() == 0
    assert store.run() == 0
    # AND as the two indexes of an Indexed Job (share records: written, then read across indexes)
    for index in ("0", "1"):
        assert store.run(BATCH_COMPLETIONS="2", JOB_COMPLETION_INDEX=index) == 0
    # THEN every call is declared for the batch workload, and every batch declaration was made
    assert _undeclared_and_unused(WORKLOADS["batch"], calls, store.env()) == ([], [])
    assert any(o == "PutObject" and p.get("IfNoneMatch") == "*" for _, o, p in calls)
    # GIVEN the server's model load through a recording client WHEN it fetches its model version
    client = boto3.client("s3", endpoint_url=store.s3.endpoint, region_name="us-east-1")
    server_calls = _record_calls(client)
    env = store.env()
    ModelRepository(S3Location.parse(env["MODEL_REPOSITORY"]), tmp_path / "server-cache", client).fetch("fraud", "1")
    # THEN the server's declaration is exactly what it did
    assert _undeclared_and_unused(WORKLOADS["server"], server_calls, env) == ([], [])


def test_the_log_handler_follows_stdout_when_it_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the batch's logging configured while stdout was one stream, which was then closed and replaced
    # (configure_logging is idempotent: a second run in the same process keeps the first handler)
    from inference_server.batch.cli import configure_logging

    logger = logging.getLogger("inference_server")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logger.level)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", first)
    configure_logging("INFO")
    first.close()
    monkeypatch.setattr(sys, "stdout", second)
    configure_logging("INFO")
    # WHEN a record is logged THEN it reaches the current stdout as one JSON line, without a logging error
    errors: list[BaseException] = []
    monkeypatch.setattr(logging, "raiseExceptions", True)
    monkeypatch.setattr(logging.Handler, "handleError", lambda self, record: errors.append(sys.exc_info()[1]))  # type: ignore[arg-type,return-value]
    logging.getLogger("inference_server.batch").info("scored")
    assert errors == []
    assert json.loads(second.getvalue())["message"] == "scored"
