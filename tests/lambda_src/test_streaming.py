"""The streaming pipeline (issue 15): an object larger than a batch, read in batches and built in buckets,
gives exactly the outputs of the whole-object path and of the frozen row-wise reference."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import rowwise_reference
from lambda_support import FEATURE_BUCKET, LANDING_BUCKET, SAMPLES
from preprocessing.feature_sets import get_feature_set
from preprocessing.lineage import Lineage
from preprocessing.pipeline import Transformed, stream_transform, transform
from preprocessing.readers import ColumnBatch, RowBatch, iter_batches, read_rows
from test_columnar_equivalence import _generated_csv

FEATURE_SET = get_feature_set("transactions")
LINEAGE = Lineage("landing", "raw/transactions/x.csv", "v1", "etag", "transactions", "1", "code")
CREATED = datetime(2024, 5, 5, 12, tzinfo=UTC)
SMALL_BATCH = 4096  # bytes: a 1,200-row CSV (~120 KB) takes about thirty batches


def _outputs(result: Transformed) -> tuple[object, ...]:
    return (
        result.input_format,
        result.rows_input,
        result.quarantined,
        [(p.partition, p.rows, p.body) for p in result.partitions],
    )


def _csv() -> bytes:
    # invalid rows, duplicate ids (some in other batches than their first occurrence), 40 accounts, 2 days
    return _generated_csv(1_200, 5, messy=0.2)


@pytest.mark.parametrize(
    ("key", "payload"),
    [
        pytest.param("x.csv", _csv(), id="plain-csv"),
        pytest.param("x.csv.gz", gzip.compress(_csv(), mtime=0), id="gzip-csv"),
        # a quote two thirds in: the columnar batches before it, the row reader from its batch on
        pytest.param("x.csv", _csv()[:80_000] + _csv()[80_000:].replace(b",EUR,", b',"EUR",', 3), id="quote-late"),
        pytest.param("x.csv", _csv().replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param("x.jsonl.gz", (SAMPLES / "transactions_sample.jsonl.gz").read_bytes(), id="jsonl"),
    ],
)
def test_an_object_larger_than_a_batch_gives_the_whole_object_outputs(key: str, payload: bytes) -> None:
    # GIVEN an object many batches long
    _, _, batches = iter_batches(key, io.BytesIO(payload), batch_bytes=SMALL_BATCH)
    assert len(list(batches)) > 3
    # WHEN it is processed in small batches and 4 buckets, and as a whole (one batch, one bucket)
    streamed = transform(key, payload, FEATURE_SET, LINEAGE, CREATED, batch_bytes=SMALL_BATCH, buckets=4)
    whole = transform(key, payload, FEATURE_SET, LINEAGE, CREATED, batch_bytes=len(payload) * 20, buckets=1)
    # THEN the Parquet bytes, the quarantine and the counts are identical, and those of the row-wise reference
    assert _outputs(streamed) == _outputs(whole)
    reference = rowwise_reference.transform(key, payload, FEATURE_SET, LINEAGE, CREATED)
    assert _outputs(whole) == (
        reference.input_format,
        reference.rows_input,
        reference.quarantined,
        [(p.partition, p.rows, p.body) for p in reference.partitions],
    )
    assert any(r["errors"][0]["type"] == "duplicate" for r in streamed.quarantined) or key.endswith("jsonl.gz")


def test_batches_hold_exactly_the_row_readers_records() -> None:
    # GIVEN a CSV whose late part is not plain (quotes), read in small batches
    payload = _csv()[:60_000] + _csv()[60_000:].replace(b",DE,", b',"DE",', 5)
    _, _, batches = iter_batches("x.csv", io.BytesIO(payload), batch_bytes=SMALL_BATCH)
    records = []
    kinds = set()
    for batch in batches:
        kinds.add(type(batch))
        if isinstance(batch, ColumnBatch):
            records += [(batch.start + i + 1, batch.start + i + 2, d) for i, d in enumerate(batch.table.to_pylist())]
        else:
            records += [(r.row_number, r.line, r.data) for r in batch.rows]
    # THEN both kinds occur and the records (numbers, lines, values) are the row reader's
    assert kinds == {ColumnBatch, RowBatch}
    assert records == [(r.row_number, r.line, r.data) for r in read_rows("x.csv", payload)[1]]


def test_spilled_to_files_the_outputs_are_the_same_bytes(tmp_path: Path) -> None:
    # GIVEN the object processed with buckets, runs and outputs as files in a work directory (20 runs: merged
    # in rounds)
    payload = _csv()
    spilled = stream_transform(
        "x.csv",
        io.BytesIO(payload),
        FEATURE_SET,
        LINEAGE,
        CREATED,
        batch_bytes=SMALL_BATCH,
        buckets=20,
        workdir=tmp_path,
    )
    whole = transform("x.csv", payload, FEATURE_SET, LINEAGE, CREATED)
    # THEN the files hold the in-memory bytes, and the quarantine file is its JSON Lines body
    assert [(p.partition, p.rows, p.path.read_bytes() if p.path else None) for p in spilled.partitions] == [
        (p.partition, p.rows, p.body) for p in whole.partitions
    ]
    assert spilled.quarantine_path is not None
    expected = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in whole.quarantined)
    assert spilled.quarantine_path.read_text() == expected
    assert spilled.rows_quarantined == len(whole.quarantined)
    # AND nothing but the outputs is left in the work directory (buckets and runs are removed once read)
    outputs = {p.path for p in spilled.partitions} | {spilled.quarantine_path}
    assert set(tmp_path.iterdir()) == outputs


def test_bounded_row_groups_keep_the_rows(tmp_path: Path) -> None:
    # GIVEN row groups of at most 100 rows
    payload = _csv()
    bounded = stream_transform(
        "x.csv", io.BytesIO(payload), FEATURE_SET, LINEAGE, CREATED, buckets=2, workdir=tmp_path, row_group_rows=100
    )
    whole = transform("x.csv", payload, FEATURE_SET, LINEAGE, CREATED)
    assert max(p.rows for p in whole.partitions) > 200
    for part, reference in zip(bounded.partitions, whole.partitions, strict=True):
        assert part.path is not None and reference.body is not None
        parquet = pq.ParquetFile(part.path)
        # THEN each file has row groups of at most 100 rows, and the same rows and metadata
        assert parquet.metadata.num_row_groups == -(-part.rows // 100)
        expected = pq.read_table(io.BytesIO(reference.body))
        assert parquet.read().equals(expected)
        assert parquet.schema_arrow.metadata == expected.schema.metadata


def _stored(s3: Any, bucket: str) -> dict[str, tuple[bytes, str, dict[str, str], bool]]:
    """Every object in ``bucket``: body, content type, user metadata, and whether it was uploaded in parts."""
    found = {}
    for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        got = s3.get_object(Bucket=bucket, Key=entry["Key"])
        multipart = "-" in got["ETag"]  # a multipart upload's ETag ends in -<parts>
        found[entry["Key"]] = (got["Body"].read(), got["ContentType"], got["Metadata"], multipart)
    return found


def test_a_large_object_streams_from_s3_and_commits_the_same_objects(
    s3: Any, lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from preprocessing import pipeline, storage
    from preprocessing.config import get_settings
    from preprocessing.events import SourceObject

    # GIVEN a landing object (120 KB: invalid rows, duplicates, two days), processed the in-memory way
    payload = _csv()
    put = s3.put_object(Bucket=LANDING_BUCKET, Key="raw/transactions/big.csv", Body=payload)
    source = SourceObject(
        LANDING_BUCKET, "raw/transactions/big.csv", put["VersionId"], put["ETag"].strip('"'), None, None
    )
    settings = get_settings()

    def run() -> pipeline.ObjectResult:
        return pipeline.process_object(source, settings=settings, feature_set=FEATURE_SET, client=storage.s3_client())

    assert run().status == "processed"
    in_memory = _stored(s3, FEATURE_BUCKET)
    assert not any(multipart for *_, multipart in in_memory.values())
    for key in in_memory:
        s3.delete_object(Bucket=FEATURE_BUCKET, Key=key)
    # WHEN the limits make it a large object: 8 buckets spilled to disk, outputs uploaded in 4 KiB parts
    monkeypatch.setattr(pipeline, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(pipeline, "BUCKET_BYTES", 16 * 1024)
    monkeypatch.setattr(storage, "PART_BYTES", 4 * 1024)
    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1024)  # S3's 5 MiB, scaled down with the parts
    result = run()
    streamed = _stored(s3, FEATURE_BUCKET)
    # THEN the same objects (bytes, content type, metadata) are committed, the large ones uploaded in parts
    assert result.status == "processed"
    assert {k: v[:3] for k, v in streamed.items()} == {k: v[:3] for k, v in in_memory.items()}
    assert any(multipart for *_, multipart in streamed.values())
    # AND a redelivery is a no-op; a retry after a crash before the manifest writes only the manifest
    assert run().status == "duplicate"
    s3.delete_object(Bucket=FEATURE_BUCKET, Key=result.manifest_key)
    retried = run()
    assert (retried.status, retried.objects_written) == ("processed", 1)
    assert {k: v[:3] for k, v in _stored(s3, FEATURE_BUCKET).items()} == {k: v[:3] for k, v in in_memory.items()}


def test_a_multipart_upload_loses_to_an_existing_key_and_leaves_no_parts(
    s3: Any, lambda_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preprocessing import storage

    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1024)
    path = tmp_path / "out.parquet"
    path.write_bytes(b"x" * 10_000)
    client = storage.s3_client()
    key = "transactions/dt=2024-05-03/out.parquet"

    # GIVEN a concurrent writer that creates the key while this upload's parts are in flight
    def concurrent_writer(**_: Any) -> None:
        s3.put_object(Bucket=FEATURE_BUCKET, Key=key, Body=b"first")

    client.meta.events.register_first("before-call.s3.CompleteMultipartUpload", concurrent_writer)
    try:
        # WHEN the file is written put-if-absent in parts
        created = storage.put_file_if_absent(
            client, FEATURE_BUCKET, key, path, content_type="application/octet-stream", metadata={}, part_bytes=4096
        )
    finally:
        client.meta.events.unregister("before-call.s3.CompleteMultipartUpload", concurrent_writer)
    # THEN the conditional CompleteMultipartUpload loses (412): the first object stays and no upload is left
    assert created is False
    assert s3.get_object(Bucket=FEATURE_BUCKET, Key=key)["Body"].read() == b"first"
    assert s3.list_multipart_uploads(Bucket=FEATURE_BUCKET).get("Uploads", []) == []
