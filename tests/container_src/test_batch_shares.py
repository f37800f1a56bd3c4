"""Batch scoring at scale: an Indexed Job's shares, the day's completion across shares, overlapping writers,
streamed drift counts and chunked scoring equal to the whole-table computation.

Runs the real job (``batch.main``/``batch.score_file``) against moto S3 with the test classifier; fixtures
and helpers come from test_batch.py (hence F811: the fixtures are parameters named like the imports).
"""
# ruff: noqa: F811

from __future__ import annotations

import io
import json
import logging
import math
import random
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from inference_helpers import BUCKET, PREFIX
from inference_server import batch, drift
from inference_server.batch import shares
from inference_server.batch.storage import open_parquet
from inference_server.signature import ModelSignature
from test_batch import (  # noqa: F401 - fixtures
    DATE,
    FEATURES_BUCKET,
    MATRIX_COLUMNS,
    Store,
    classifier_signature,
    feature_table,
    parquet_bytes,
    put_signature,
    registry,
    store,
)

SIZES = [7, 40, 23, 1, 31, 16, 50, 9]


def _day(store: Store, seed: int = 0) -> dict[str, pa.Table]:
    tables = {f"part-{i:02d}.parquet": feature_table(rows, seed=seed + i) for i, rows in enumerate(SIZES)}
    for name, table in tables.items():
        store.put_table(f"dt={DATE}/{name}", table)
    store.puts.clear()
    return tables


# -- shares ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("completions", [1, 2, 3, 7])
def test_every_file_is_in_exactly_one_share_whatever_the_listing_order(completions: int) -> None:
    keys = [f"transactions/dt=2026-11-{d:02d}/part-{uuid.UUID(int=random.Random(i).getrandbits(128))}.parquet"
            for i, d in enumerate([24] * 300 + [23] * 100)]  # fmt: skip
    assignment = {key: shares.share_of(key, completions) for key in keys}
    # THEN each key has one index in range, the shares' union is every key, and shuffling changes nothing
    assert set(assignment.values()) <= set(range(completions))
    groups = [{k for k, i in assignment.items() if i == index} for index in range(completions)]
    assert sum(len(g) for g in groups) == len(keys) and set().union(*groups) == set(keys)
    shuffled = keys[:]
    random.Random(5).shuffle(shuffled)
    assert {key: shares.share_of(key, completions) for key in shuffled} == assignment
    # AND the shares are roughly even (400 keys: within 5 standard deviations of 400/n)
    mean = len(keys) / completions
    assert all(abs(len(g) - mean) <= 5 * math.sqrt(mean) + 1 for g in groups), [len(g) for g in groups]


def test_a_files_share_does_not_depend_on_the_other_files() -> None:
    # GIVEN a key WHEN files are added or removed around it THEN its index stays (no miss, no double score)
    key = "transactions/dt=2026-11-24/part-late.parquet"
    assert shares.share_of(key, 4) == shares.share_of(key, 4)
    assert [shares.share_of(key, 1)] == [0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"BATCH_COMPLETIONS": "3"}, "JOB_COMPLETION_INDEX is required when BATCH_COMPLETIONS is 3"),
        ({"BATCH_COMPLETIONS": "3", "JOB_COMPLETION_INDEX": "3"}, "JOB_COMPLETION_INDEX must be between 0 and 2"),
        ({"BATCH_COMPLETIONS": "0", "JOB_COMPLETION_INDEX": "0"}, "BATCH_COMPLETIONS must be between 1 and 1000"),
        ({"BATCH_COMPLETIONS": "two"}, "BATCH_COMPLETIONS must be an integer"),
        ({"JOB_COMPLETION_INDEX": "1"}, "JOB_COMPLETION_INDEX must be between 0 and 0"),
    ],
)
def test_a_bad_share_environment_exits_2_naming_the_variable(
    store: Store, capsys: pytest.CaptureFixture[str], extra: dict[str, str], message: str
) -> None:
    assert batch.main(["--date", DATE], env=store.env(**extra), client=store.client) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def _outputs(store: Store) -> list[str]:
    return [k for k in store.puts if k.endswith(".parquet")]


def test_an_indexed_job_scores_each_file_once_and_the_last_index_writes_the_single_pod_manifest(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a day of 8 files and a job of 3 completions
    tables = _day(store)
    out = f"{store.output_prefix}dt={DATE}/"
    caplog.set_level(logging.INFO, logger="inference_server")
    # WHEN indexes 2, 0 and 1 run one after the other
    for position, index in enumerate((2, 0, 1)):
        assert store.run(BATCH_COMPLETIONS="3", JOB_COMPLETION_INDEX=str(index)) == 0
        manifest_there = f"{out}_manifest.json" in store.keys(out)
        # THEN only the last to finish finds the day complete and writes its manifest
        assert manifest_there == (position == 2)
    # THEN every file was scored exactly once, by the index its key hashes to
    written = _outputs(store)
    assert sorted(written) == sorted(f"{out}{name}" for name in tables)
    events = [getattr(r, "fields", {}) for r in caplog.records]
    incomplete = [e for e in events if e.get("event") == "day_incomplete"]
    assert len(incomplete) == 2
    # THEN each index recorded its share, and the records name the index and the total
    assert {k for k in store.keys(out) if "/_shares/" in k} == {f"{out}_shares/{i}-of-3.json" for i in range(3)}
    # WHEN a single pod runs the same day afterwards THEN it finds everything done and the manifest
    # byte-identical to the one it would write: it puts nothing
    store.puts.clear()
    assert store.run() == 0
    assert store.puts == []
    assert store.manifest()["counts"] == {"files": len(SIZES), "rows": sum(SIZES)}


def test_a_failed_index_withholds_the_manifest_and_its_retry_completes_the_day(store: Store) -> None:
    # GIVEN a day where one file is corrupt, in the share of some index
    _day(store)
    broken = f"{store.feature_set}/dt={DATE}/part-99-broken.parquet"
    store.put(broken, b"PAR1 not parquet")
    bad_index = shares.share_of(broken, 2)
    out = f"{store.output_prefix}dt={DATE}/"
    # WHEN both indexes run THEN the bad one exits 1 (retried on its own), the other succeeds, no manifest
    statuses = {i: store.run(BATCH_COMPLETIONS="2", JOB_COMPLETION_INDEX=str(i)) for i in (1 - bad_index, bad_index)}
    assert statuses == {bad_index: 1, 1 - bad_index: 0}
    assert f"{out}_manifest.json" not in store.keys(out)
    # WHEN the file is fixed and the failed index is retried THEN the retry completes the day
    store.put_table(f"dt={DATE}/part-99-broken.parquet", feature_table(3, seed=99))
    assert store.run(BATCH_COMPLETIONS="2", JOB_COMPLETION_INDEX=str(bad_index)) == 0
    assert store.manifest()["counts"] == {"files": len(SIZES) + 1, "rows": sum(SIZES) + 3}


def test_two_writers_of_the_same_file_produce_one_output_and_no_failure(store: Store) -> None:
    # GIVEN one input both writers saw as not yet scored (a share overlap, or a retry racing its original)
    store.put_table(f"dt={DATE}/part-a.parquet", feature_table(30, seed=1))
    settings = batch.BatchSettings.from_env(store.env(), DATE)
    info = batch.load_model(settings, store.client)
    [source], _ = batch.list_inputs(store.client, settings, settings.batch_date)
    first = batch.classify(store.client, settings, info, source)
    second = batch.classify(store.client, settings, info, source)
    assert isinstance(first, batch.Pending) and isinstance(second, batch.Pending)
    store.puts.clear()
    # WHEN both score it THEN the first writes, the second's conditional write loses and finds the same
    # content recorded: it is a skip, not a failure
    assert batch.score_file(store.client, settings, info, first).status == "written"
    key = first.output_key
    head = store.client.head_object(Bucket=FEATURES_BUCKET, Key=key)
    result = batch.score_file(store.client, settings, info, second)
    assert (result.status, result.rows) == ("skipped", 30)
    # THEN one output exists, written once, unchanged by the loser
    again = store.client.head_object(Bucket=FEATURES_BUCKET, Key=key)
    assert (again["ETag"], again["LastModified"]) == (head["ETag"], head["LastModified"])
    assert store.puts == [key, key]  # two attempts, one of them refused by S3 (If-None-Match)


def test_a_losing_writer_with_different_content_still_fails(store: Store) -> None:
    # GIVEN a pending input WHEN another writer put a different output at its key meanwhile
    store.put_table(f"dt={DATE}/part-a.parquet", feature_table(30, seed=1))
    settings = batch.BatchSettings.from_env(store.env(), DATE)
    info = batch.load_model(settings, store.client)
    [source], _ = batch.list_inputs(store.client, settings, settings.batch_date)
    pending = batch.classify(store.client, settings, info, source)
    assert isinstance(pending, batch.Pending)
    store.put(pending.output_key, b"someone else's bytes")
    # THEN the job does not claim the work done: the write conflict is a runtime failure (exit 1, retried)
    with pytest.raises(batch.BatchError, match="written concurrently by another run"):
        batch.score_file(store.client, settings, info, pending)


# -- streaming equals the whole-table computation ----------------------------------------------------------


def test_chunked_scoring_writes_the_rows_and_schema_of_the_whole_table_computation(store: Store) -> None:
    # GIVEN the same files under two feature sets
    tables = _day(store)
    other = f"tx-{uuid.uuid4().hex[:8]}"
    for name, table in tables.items():
        store.put(f"{other}/dt={DATE}/{name}", parquet_bytes(table))
    # WHEN one is scored 3 rows per chunk and 2 per ONNX run, the other with the whole file in one chunk
    assert store.run(BATCH_CHUNK_ROWS="3", MAX_BATCH_SIZE="2") == 0
    whole = {"FEATURE_SET": other, "INPUT_PREFIX": f"{other}/", "OUTPUT_PREFIX": f"{other}/_scores/fraud/"}
    assert store.run(BATCH_CHUNK_ROWS="1048576", MAX_BATCH_SIZE="1024", **whole) == 0
    # THEN every output has the same schema and the same rows
    for name in tables:
        chunked, _ = store.read_output(name)
        body = store.client.get_object(Bucket=FEATURES_BUCKET, Key=f"{other}/_scores/fraud/dt={DATE}/{name}")
        reference = pq.read_table(io.BytesIO(body["Body"].read()))
        assert chunked.schema.remove_metadata() == reference.schema.remove_metadata()
        assert chunked.num_rows == reference.num_rows == tables[name].num_rows
        assert chunked.combine_chunks().equals(reference.combine_chunks().cast(chunked.schema))


def _old_shares(profile: dict[str, Any], values: pa.Array | pa.ChunkedArray) -> list[float]:
    """The pre-streaming computation (whole column at once), kept here as the reference."""
    if profile["kind"] == "categorical":
        counts = {str(c["values"]): c["counts"] for c in pc.value_counts(values.drop_null()).to_pylist()}
        total = sum(counts.values()) or 1
        known = {k: counts.get(k, 0) / total for k in profile["categories"] if k != drift.OTHER}
        known[drift.OTHER] = max(0.0, 1.0 - sum(known.values()))
        return [known[k] for k in profile["categories"]]
    data = np.asarray(values.drop_null().to_numpy(zero_copy_only=False), dtype=np.float64)
    data = data[np.isfinite(data)]
    edges = np.asarray(profile["edges"], dtype=np.float64)
    bins = np.bincount(np.searchsorted(edges, data, side="left"), minlength=len(edges) + 1).astype(np.float64)
    result: list[float] = (bins / max(bins.sum(), 1.0)).tolist()
    return result


@pytest.mark.parametrize("limit", [10_000, 150])
def test_streamed_drift_counts_equal_the_whole_table_psi(tmp_path: Any, limit: int) -> None:
    # GIVEN a profile from training data and a day of files with nulls, NaNs, a missing column and
    # unseen categories, written in small row groups
    profile = drift.build_profile(feature_table(2000, seed=1), [*MATRIX_COLUMNS, "currency"])
    rng = np.random.default_rng(4)
    files = []
    for i, rows in enumerate([120, 5, 77, 64]):
        table = feature_table(rows, seed=20 + i)
        amount = np.asarray(table["amount"]) * (1 + i)
        amount[rng.random(rows) < 0.1] = np.nan
        mask = rng.random(rows) < 0.1
        table = table.set_column(4, "amount", pa.array(amount, mask=mask))
        table = table.set_column(5, "currency", pa.array(rng.choice(["EUR", "USD", "GBP"], rows)))
        if i == 2:
            table = table.drop_columns(["hour_of_day"])
        path = tmp_path / f"part-{i}.parquet"
        pq.write_table(table, path, row_group_size=16)
        files.append(path)
    # WHEN PSI is computed the old way (first `limit` rows as one table) and streamed batch by batch
    whole = pa.concat_tables([pq.read_table(p) for p in files], promote_options="default").slice(0, limit)
    old = {
        name: round(drift.psi(reference["shares"], _old_shares(reference, whole.column(name))), 6)
        for name, reference in profile["features"].items()
        if name in whole.column_names
    }
    counted = drift.count_sample((pq.ParquetFile(p) for p in files), profile["features"], limit)
    assert counted is not None
    streamed = drift.compare_counts(profile, {"features": counted, "scores": {}})
    # THEN the indexes are identical, column by column
    assert streamed == {"features": old, "scores": {}}
    assert set(old) == {*MATRIX_COLUMNS, "currency"}


def test_ranged_reads_fetch_the_columns_read_not_the_object(store: Store) -> None:
    # GIVEN a 20,000-row file in row groups WHEN one column of it is read through ranged GetObjects
    table = feature_table(20_000, seed=3)
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=4096)
    body = sink.getvalue()
    key = f"{store.feature_set}/dt={DATE}/big.parquet"
    etag = store.put(key, body)
    fetched: list[int] = []
    store.client.meta.events.register(
        "after-call.s3.GetObject", lambda parsed, **_: fetched.append(int(parsed["ContentLength"]))
    )
    parquet = open_parquet(store.client, FEATURES_BUCKET, key, len(body), etag)
    column = pa.concat_arrays([b.column(0) for b in parquet.iter_batches(columns=["hour_of_day"])])
    # THEN the values are the file's, and far fewer bytes than the object were fetched
    assert column.equals(table["hour_of_day"].combine_chunks())
    assert sum(fetched) < len(body) / 4, (sum(fetched), len(body))


def test_the_last_index_emits_the_drift_of_the_whole_day_equal_to_a_single_pods(
    store: Store,
    classifier_bytes: bytes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # GIVEN model `fraudidx` with a drift profile, and the same day under two feature sets
    model = f"fraudidx{uuid.uuid4().hex[:6]}"
    store.s3.put_model(model, "1", classifier_bytes)
    put_signature(store.s3, model, "1", classifier_signature())
    training = feature_table(2000, seed=1)
    (tmp_path / "model.onnx").write_bytes(classifier_bytes)
    signature = ModelSignature.parse(json.dumps(classifier_signature()).encode(), "signature.json")
    scores = drift._training_scores(tmp_path / "model.onnx", signature, training)
    profile = drift.build_profile(training, MATRIX_COLUMNS, scores)
    store.s3.client.put_object(  # type: ignore[attr-defined]
        Bucket=BUCKET, Key=f"{PREFIX}/{model}/1/{drift.PROFILE_FILE}", Body=json.dumps(profile).encode()
    )
    tables = _day(store, seed=40)
    other = f"tx-{uuid.uuid4().hex[:8]}"
    for name, table in tables.items():
        store.put(f"{other}/dt={DATE}/{name}", parquet_bytes(table))
    monkeypatch.delenv("AWS_EMF_AGENT_ENDPOINT", raising=False)
    env = {"MODEL_NAME": model, "OUTPUT_PREFIX": f"{store.feature_set}/_scores/{model}/"}
    capsys.readouterr()

    def psi_lines() -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]
        return [x for x in lines if "MaxFeaturePSI" in x]

    # WHEN a 2-index job scores one copy: only the index that completes the day emits drift
    assert store.run(BATCH_COMPLETIONS="2", JOB_COMPLETION_INDEX="0", **env) == 0
    assert psi_lines() == []
    assert store.run(BATCH_COMPLETIONS="2", JOB_COMPLETION_INDEX="1", **env) == 0
    [indexed] = psi_lines()
    # AND a single pod scores the other copy
    single_env = {"MODEL_NAME": model, "FEATURE_SET": other, "INPUT_PREFIX": f"{other}/"}
    assert store.run(OUTPUT_PREFIX=f"{other}/_scores/{model}/", **single_env) == 0
    [single] = psi_lines()
    # THEN the day's PSI is the same whichever way it was scored
    assert indexed["MaxFeaturePSI"] == single["MaxFeaturePSI"] and indexed["ScorePSI"] == single["ScorePSI"]
    assert re.fullmatch(r"\d+\.\d+", str(indexed["MaxFeaturePSI"]))
