"""Benchmark: one landing object several times larger than the memory it is processed in (issue 15).

    .venv/bin/python bench/bench_large_object.py [--mb 1280] [--source s3|file]

A ``--mb`` MB transactions CSV (7 days, 20,000 accounts, ~0.3% invalid rows) is processed by
``preprocessing.pipeline`` in a child process: with ``--source s3`` (the default) the real
``process_object`` reads it from a moto S3 server (another process) as a stream and writes the features,
quarantine and manifest back (multipart uploads); with ``--source file`` the same streaming transform reads
a local file. The parent reads the child's peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss``, the child
being its only waited-for child at that point) and prints the ratio object size / peak RSS (goal >= 4),
and the throughput (MB/s, rows/s, and bytes per CPU-second of the processing process: the measurement behind
``throughput_bytes_per_vcpu_second``), from which the size up to which an object is sent to the Lambda rather
than a cluster worker is derived (the function's memory must exceed the peak; its vCPU share grows with it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_lambda import ENV as LAMBDA_ENV

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_SRC = ROOT / "lambda_src"
RATIO_GOAL = 4.0
HEADER = (
    b"transaction_id,account_id,amount,currency,merchant_category,merchant_country,card_country,channel,timestamp\n"
)
ENV = LAMBDA_ENV
"""The function's environment, as the Lambda benchmark sets it (one definition)."""


def write_object(path: Path, size: int) -> int:
    """Write a ``size``-byte CSV (unique transaction ids); return its row count."""
    rng = random.Random(7)
    accounts = [f"acct-{i:05d}" for i in range(20_000)]
    start = datetime(2024, 5, 1, tzinfo=UTC)
    rows = 20_000
    block = io.StringIO()
    for i in range(rows):
        amount = "-1" if i % 331 == 0 else f"{rng.lognormvariate(3.4, 1.1):.2f}"
        when = (start + timedelta(seconds=rng.randrange(7 * 86_400))).isoformat().replace("+00:00", "Z")
        block.write(
            f"tx-@@@@@@-{i:06d},{rng.choice(accounts)},{amount},EUR,{rng.choice(('5411', '7995', '5812'))},"
            f"{rng.choice(('DE', 'FR', 'US'))},DE,{rng.choice(('pos', 'ecom', 'atm'))},{when}\n"
        )
    template = block.getvalue().encode()
    written, blocks = len(HEADER), 0
    with path.open("wb") as out:
        out.write(HEADER)
        while written < size:
            out.write(template.replace(b"@@@@@@", b"%06d" % blocks))
            written += len(template)
            blocks += 1
    return blocks * rows


CHILD = """
import json, sys, time, tempfile
from pathlib import Path
from datetime import UTC, datetime
sys.path.insert(0, {src!r})
from preprocessing import pipeline
from preprocessing.feature_sets import get_feature_set
from preprocessing.lineage import Lineage
feature_set = get_feature_set("transactions")
start = time.perf_counter()
if {source!r} == "file":
    path = Path({path!r})
    lineage = Lineage("landing", "raw/transactions/large.csv", "v1", "etag", "transactions", "1", "bench")
    size = path.stat().st_size
    with path.open("rb") as stream, tempfile.TemporaryDirectory() as workdir:
        result = pipeline.stream_transform(
            "large.csv", stream, feature_set, lineage, datetime(2024, 5, 8, tzinfo=UTC),
            buckets=-(-size // pipeline.BUCKET_BYTES), workdir=Path(workdir),
            row_group_rows=pipeline.ROW_GROUP_ROWS,
        )
        rows, valid, quarantined = result.rows_input, result.rows_valid, result.rows_quarantined
else:
    from preprocessing.config import get_settings
    from preprocessing.events import SourceObject
    from preprocessing.storage import s3_client
    source = SourceObject("landing", "raw/transactions/large.csv", {version!r}, {etag!r}, None, None)
    result = pipeline.process_object(source, settings=get_settings(), feature_set=feature_set, client=s3_client())
    assert result.status == "processed", result
    rows, valid, quarantined = result.rows_input, result.rows_valid, result.rows_quarantined
print(json.dumps({{"seconds": time.perf_counter() - start, "rows": rows, "valid": valid,
                  "quarantined": quarantined}}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--mb", type=int, default=1280, help="object size in MiB (1280)")
    parser.add_argument("--source", choices=("s3", "file"), default="s3", help="read from moto S3 or a file (s3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-large-") as tmp:
        path = Path(tmp) / "large.csv"
        rows = write_object(path, args.mb * 2**20)
        size = path.stat().st_size
        env = {**os.environ, **ENV, "PYTHONPATH": str(LAMBDA_SRC), "TMPDIR": tmp}
        server = None
        version = etag = None
        try:
            if args.source == "s3":
                port = free_port()
                env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
                server = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-p", str(port)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                version, etag = _upload(env, path)
            code = CHILD.format(src=str(LAMBDA_SRC), source=args.source, path=str(path), version=version, etag=etag)
            out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
            # The child is the only child waited for so far (the server still runs): its peak RSS and its CPU
            # time alone (user + system, every thread of it).
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            peak = usage.ru_maxrss * 1024
            cpu_seconds = usage.ru_utime + usage.ru_stime
        finally:
            if server is not None:
                server.terminate()
                server.wait()
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    seconds = figures["seconds"]
    assert figures["rows"] == rows, (figures, rows)
    ratio = size / peak
    python = sys.version.split()[0]
    print(f"== large object, source {args.source}: {size / 2**20:,.0f} MiB CSV, {rows:,} rows (python {python})")
    print(f"rows valid {figures['valid']:,}, quarantined {figures['quarantined']:,}")
    print(f"peak RSS of the processing process: {peak / 2**20:,.0f} MiB")
    verdict = "meets" if ratio >= RATIO_GOAL else "MISSES"
    print(f"ratio object size / peak RSS: {ratio:.2f} (goal >= {RATIO_GOAL}: {verdict})")
    print(
        f"throughput: {seconds:.1f} s, {size / 2**20 / seconds:,.1f} MiB/s, {rows / seconds:,.0f} rows/s "
        f"(one process, {os.cpu_count()} CPUs visible, shared machine)"
    )
    # Per CPU-second of the processing process (its user + system time): what one vCPU processes, independent
    # of how much of the machine other processes took; the config's throughput_bytes_per_vcpu_second.
    print(
        f"per CPU-second: {cpu_seconds:.1f} CPU-s, {size / cpu_seconds / 1e6:,.1f} MB/s "
        f"(throughput_bytes_per_vcpu_second {size / cpu_seconds:,.0f})"
    )


def _upload(env: dict[str, str], path: Path) -> tuple[str, str]:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]
    )
    s3 = session.client(
        "s3",
        region_name=env["AWS_DEFAULT_REGION"],
        endpoint_url=env["AWS_ENDPOINT_URL"],
        config=Config(retries={"max_attempts": 10}),
    )
    for _ in range(100):
        try:
            s3.list_buckets()
            break
        except Exception:
            time.sleep(0.1)
    for bucket in ("landing", "features"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": env["AWS_DEFAULT_REGION"]})
    s3.put_bucket_versioning(Bucket="landing", VersioningConfiguration={"Status": "Enabled"})
    s3.upload_file(str(path), "landing", "raw/transactions/large.csv")
    head = s3.head_object(Bucket="landing", Key="raw/transactions/large.csv")
    return str(head["VersionId"]), str(head["ETag"]).strip('"')


if __name__ == "__main__":
    main()
