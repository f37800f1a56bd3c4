"""Benchmark of the preprocessing Lambda (prints figures; not a test).

    .venv/bin/python bench/bench_lambda.py [--rows 100000] [--runs 7]

1. Cold import of ``preprocessing.handler`` in fresh interpreters (median of ``--runs``), tracing off and on,
   against
   ``import boto3`` alone and an empty interpreter.
2. Rows per second for one ``--rows``-row CSV object: the handler's processing path (decode, columnar
   validation, features, Parquet per partition; and the full handler invocation against moto S3) against a
   bare ``pyarrow.csv.read_csv`` + ``pyarrow.parquet.write_table`` of the same bytes.
3. The deployment package sizes, if ``build/lambda/<arch>/manifest.json`` exists (``make package``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_SRC = ROOT / "lambda_src"
sys.path.insert(0, str(LAMBDA_SRC))

ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "LANDING_BUCKET": "landing",
    "LANDING_PREFIX": "raw/transactions/",
    "FEATURE_BUCKET": "features",
    "FEATURE_SET": "transactions",
    "FEATURE_PREFIX": "transactions/",
    "QUARANTINE_PREFIX": "transactions/_quarantine/",
    "MANIFEST_PREFIX": "transactions/_manifests/",
    "CODE_VERSION": "bench",
    "POWERTOOLS_SERVICE_NAME": "preprocessing",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


#: Tracing on, as in the deployed function (X-Ray Active tracing, in Lambda, no POWERTOOLS_TRACE_DISABLED).
TRACING_ON = {"POWERTOOLS_TRACE_DISABLED": None, "LAMBDA_TASK_ROOT": str(LAMBDA_SRC)}
IMPORT_GOAL = 1.5
THROUGHPUT_GOAL = 3.0


def cold_import_ms(statement: str, runs: int, overrides: dict[str, str | None] | None = None) -> tuple[float, float]:
    """Median (import ms measured in-process, whole process ms) over ``runs`` fresh interpreters."""
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    env = {**os.environ, **ENV, "PYTHONPATH": str(LAMBDA_SRC), "PYTHONDONTWRITEBYTECODE": "0"}
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)  # warm .pyc
    inner, outer = [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
        outer.append((time.perf_counter() - start) * 1000)
        inner.append(float(out.stdout.strip()))
    return statistics.median(inner), statistics.median(outer)


def make_csv(rows: int, seed: int = 42) -> bytes:
    """A ``rows``-row transactions CSV over two days (about 0.3% invalid rows)."""
    rng = random.Random(seed)
    accounts = [f"acct-{i:05d}" for i in range(2_000)]
    start = datetime(2024, 5, 3, tzinfo=UTC)
    buf = io.StringIO()
    buf.write(
        "transaction_id,account_id,amount,currency,merchant_category,merchant_country,card_country,channel,timestamp\n"
    )
    for i in range(rows):
        amount = "-1" if i % 331 == 0 else f"{rng.lognormvariate(3.4, 1.1):.2f}"
        when = (start + timedelta(seconds=rng.randrange(172_800))).isoformat().replace("+00:00", "Z")
        country = rng.choice(("DE", "FR", "US"))
        buf.write(
            f"tx-{i:08d},{rng.choice(accounts)},{amount},EUR,{rng.choice(('5411', '7995', '5812'))},"
            f"{country},DE,{rng.choice(('pos', 'ecom', 'atm'))},{when}\n"
        )
    return buf.getvalue().encode()


def best_of(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_throughput(rows: int, repeat: int) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from preprocessing.feature_sets import get_feature_set
    from preprocessing.lineage import Lineage
    from preprocessing.pipeline import transform

    payload = make_csv(rows)
    feature_set = get_feature_set("transactions")
    lineage = Lineage("landing", "raw/transactions/bench.csv", "v1", "etag", "transactions", "1", "bench")
    created = datetime(2024, 5, 5, tzinfo=UTC)

    def ours() -> None:
        transform("bench.csv", payload, feature_set, lineage, created)

    def bare() -> None:
        table = pacsv.read_csv(io.BytesIO(payload))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")

    t_ours, t_bare = best_of(ours, repeat), best_of(bare, repeat)
    ratio = t_ours / t_bare
    print(f"\n== throughput, {rows:,} rows ({len(payload) / 1e6:.1f} MB CSV), best of {repeat}")
    print(f"processing path (decode+validate+features+parquet): {t_ours:7.3f} s  {rows / t_ours:>12,.0f} rows/s")
    print(f"bare pyarrow read_csv + write_table:                {t_bare:7.3f} s  {rows / t_bare:>12,.0f} rows/s")
    verdict = "meets" if ratio <= THROUGHPUT_GOAL else "MISSES"
    print(f"ratio: {ratio:.2f}x the bare pyarrow time (goal <= {THROUGHPUT_GOAL}x: {verdict})")

    from moto import mock_aws

    os.environ.update(ENV)
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="eu-west-1")
        for bucket in ("landing", "features"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket="landing", VersioningConfiguration={"Status": "Enabled"})
        put = s3.put_object(Bucket="landing", Key="raw/transactions/bench.csv", Body=payload)
        from preprocessing.handler import lambda_handler

        event = {
            "version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2024-05-05T00:00:00Z", "region": "eu-west-1", "resources": [],
            "detail": {
                "version": "0", "bucket": {"name": "landing"},
                "object": {"key": "raw/transactions/bench.csv", "size": len(payload),
                           "etag": put["ETag"].strip('"'), "version-id": put["VersionId"]},
                "request-id": "r", "requester": "123456789012", "reason": "PutObject",
            },
        }  # fmt: skip
        record = {
            "messageId": "m", "receiptHandle": "r", "body": json.dumps(event), "attributes": {
                "ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "s",
                "ApproximateFirstReceiveTimestamp": "0"},
            "messageAttributes": {}, "md5OfBody": "0", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:q", "awsRegion": "eu-west-1",
        }  # fmt: skip

        class Ctx:
            function_name, memory_limit_in_mb, aws_request_id = "bench", 1024, "req"
            invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:bench"

        start = time.perf_counter()
        response = lambda_handler({"Records": [record]}, Ctx())
        elapsed = time.perf_counter() - start
        assert response == {"batchItemFailures": []}, response
    label = "full handler invocation (moto S3 get/put incl.):"
    print(f"{label:<52}{elapsed:7.3f} s  {rows / elapsed:>12,.0f} rows/s")


def package_sizes(build_dir: Path) -> None:
    print(f"\n== deployment package ({build_dir})")
    found = False
    for manifest_path in sorted(build_dir.glob("*/manifest.json")):
        found = True
        m = json.loads(manifest_path.read_text())
        if not {"arch", "zipped_bytes", "unzipped_bytes"} <= m.keys():
            print(f"{manifest_path}: not a package.py manifest (missing arch/sizes); run `make package`")
            continue
        arch_dir = manifest_path.parent
        parts = []
        for key in ("function_zip", "layer_zip"):
            if m.get(key):
                parts.append(f"{m[key]} {(arch_dir / m[key]).stat().st_size / 2**20:.2f} MiB")
        print(
            f"{m['arch']:>7}: {', '.join(parts)}; total {m['zipped_bytes'] / 2**20:.2f} MiB zipped, "
            f"{m['unzipped_bytes'] / 2**20:.2f} MiB unzipped (limits: 50 MiB per zip, 250 MiB unzipped)"
        )
    if not found:
        print("no build found: run `make package` (python lambda_src/package.py --arch arm64 --out build/lambda)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the throughput object (100000)")
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per import figure (7)")
    parser.add_argument("--repeat", type=int, default=9, help="throughput repetitions, best taken (9)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "lambda", help="(build/lambda)")
    args = parser.parse_args()

    print(f"== cold import, median of {args.runs} fresh interpreters (python {sys.version.split()[0]})")
    handler = "import preprocessing.handler"
    first_use = "import preprocessing.handler, preprocessing.pipeline, pyarrow.parquet, boto3"
    figures: dict[str, float] = {}
    for label, statement, overrides in (
        ("empty interpreter", "pass", None),
        ("import boto3", "import boto3", None),
        ("handler, tracing off", handler, None),
        ("handler, tracing on (X-Ray)", handler, TRACING_ON),
        ("handler + first-use, tracing off", first_use, None),
        ("handler + first-use, tracing on", first_use, TRACING_ON),
    ):
        inner, outer = cold_import_ms(statement, args.runs, overrides)
        figures[label] = inner
        print(f"{label:<34} import {inner:7.1f} ms   process total {outer:7.1f} ms")
    boto3_ms = figures["import boto3"]
    ratio = figures["handler, tracing off"] / boto3_ms
    verdict = "meets" if ratio <= IMPORT_GOAL else "MISSES"
    print(f"ratio handler, tracing off: {ratio:.2f}x import boto3 (goal <= {IMPORT_GOAL}x: {verdict})")
    # Issue 17's goal 2: tracing's cost is paid only when tracing is on, so the tracing-on ratio is shown, not judged.
    ratio = figures["handler, tracing on (X-Ray)"] / boto3_ms
    print(
        f"ratio handler, tracing on (X-Ray): {ratio:.2f}x import boto3 (not judged: the cost of tracing, paid only "
        "with tracing on; the X-Ray SDK's recorder builds botocore clients at import)"
    )
    bench_throughput(args.rows, args.repeat)
    package_sizes(args.build_dir)


if __name__ == "__main__":
    main()
