"""Benchmark nightly batch scoring at scale: rows/s and peak memory for a day much larger than memory.

Starts a moto S3 server on 127.0.0.1 (a process of its own), uploads a small ONNX model (16 features -> 2-class softmax,
dynamic batch dim) with its ``signature.json`` and drift profile, and writes one day of Parquet feature files
(incompressible float64 features in pyarrow's default row groups, as a producer would write them). Then runs
the real job, ``python -m inference_server batch``, as subprocesses against it:

1. one pod (``BATCH_COMPLETIONS=1``): the day's rows/s, and the process's peak RSS (``VmHWM`` of its own
   image, read at exit: ``ru_maxrss`` would count the pages of this process it was forked from) against the
   day's in-memory (Arrow) size.
   Goal: day size / peak RSS >= 4, i.e. a day at least four times the pod's memory is scored.
2. with ``--pair``, the same day (fresh outputs) as an Indexed Job of 2 completions, both indexes at once:
   rows/s of the pair and the peak RSS of the larger index. On a 2-core machine with moto on the same cores
   this shows that the shares work at scale, not a speed-up: on a cluster each index has its own node.

Stops by itself in under a minute. ``--files`` and ``--rows-per-file`` size the day.

    .venv/bin/python bench/bench_batch.py [--files 8] [--rows-per-file 1400000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
FEATURES = [f"f{i:02d}" for i in range(16)]
MODELS, FEATURE_BUCKET, FEATURE_SET, DATE = "bench-models", "bench-features", "bench", "2026-11-27"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
GOAL = 4.0


def build_model() -> bytes:
    """``INPUT0`` FP32 [N, 16] -> ``PROBS`` [N, 2] (a linear layer and softmax)."""
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["INPUT0", "W", "B"], ["Z"]),
            helper.make_node("Softmax", ["Z"], ["PROBS"], axis=-1),
        ],
        "linear",
        [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["N", len(FEATURES)])],
        [helper.make_tensor_value_info("PROBS", TensorProto.FLOAT, ["N", 2])],
        initializer=[
            numpy_helper.from_array(rng.standard_normal((len(FEATURES), 2)).astype(np.float32) / 4, "W"),
            numpy_helper.from_array(np.zeros(2, np.float32), "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


def signature() -> dict[str, object]:
    return {
        "signature_version": 1,
        "inputs": [
            {"name": "INPUT0", "datatype": "FP32", "columns": [{"name": c, "type": "double"} for c in FEATURES]}
        ],
        "keys": [{"name": "row_id", "type": "int64"}],
    }


def day_file(index: int, rows: int) -> pa.Table:
    rng = np.random.default_rng(100 + index)
    columns: dict[str, pa.Array] = {"row_id": pa.array(np.arange(rows, dtype=np.int64) + index * rows)}
    for name in FEATURES:
        columns[name] = pa.array(rng.standard_normal(rows))
    return pa.table(columns)


def drift_profile(sample: pa.Table) -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "container_src"))
    from inference_server import drift

    return drift.build_profile(sample, FEATURES)


JOB = """
import atexit, re, sys
from inference_server.__main__ import main

def report():  # VmHWM: this process image's peak RSS (ru_maxrss would include the forked parent's pages)
    status = open("/proc/self/status").read()
    print("VmHWM", re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1), file=sys.stderr)

atexit.register(report)
sys.exit(main(["batch", "--date", sys.argv[1]]))
"""


def run_job(env: dict[str, str], indexes: list[int], completions: int) -> tuple[float, list[int]]:
    """Run ``python -m inference_server batch`` (its ``main``) once per index, all at once; returns the wall
    time and each process's peak RSS in bytes."""
    started = time.perf_counter()
    procs = []
    for index in indexes:
        child_env = {**env, "BATCH_COMPLETIONS": str(completions), "JOB_COMPLETION_INDEX": str(index)}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", JOB, DATE],
                cwd=ROOT / "container_src",
                env=child_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    peaks = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"batch job failed ({proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
        peaks.append(int(err.rsplit("VmHWM", 1)[1].split()[0]) * 1024)
    return time.perf_counter() - started, peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--rows-per-file", type=int, default=1_400_000)
    parser.add_argument("--row-group-rows", type=int, default=None, help="default: pyarrow's (1Mi rows)")
    parser.add_argument("--chunk-rows", default="65536", help="BATCH_CHUNK_ROWS")
    parser.add_argument("--no-drift", action="store_true", help="do not publish a drift profile")
    parser.add_argument("--pair", action="store_true", help="also run the day as 2 indexes at once")
    args = parser.parse_args()
    os.environ.update(AWS_ENV)
    # moto in a process of its own, like S3 is elsewhere: the job's CPU and memory are its own
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-p", str(port)],
        env={**os.environ, **AWS_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    try:
        for _ in range(300):
            try:
                s3.list_buckets()
                break
            except Exception:
                time.sleep(0.1)
        for bucket in (MODELS, FEATURE_BUCKET):
            s3.create_bucket(Bucket=bucket)
        version = "models/linear/1/"
        s3.put_object(Bucket=MODELS, Key=version + "model.onnx", Body=build_model())
        s3.put_object(Bucket=MODELS, Key=version + "signature.json", Body=json.dumps(signature()).encode())
        t0 = time.perf_counter()
        arrow_bytes = parquet_bytes = rows = 0
        with tempfile.TemporaryDirectory() as scratch:
            for index in range(args.files):
                table = day_file(index, args.rows_per_file)
                if index == 0 and not args.no_drift:
                    profile = drift_profile(table.slice(0, 200_000))
                    s3.put_object(Bucket=MODELS, Key=version + "drift-profile.json", Body=json.dumps(profile).encode())
                path = Path(scratch) / f"part-{index:03d}.parquet"
                pq.write_table(table, path, row_group_size=args.row_group_rows)  # default: pyarrow's
                arrow_bytes += table.nbytes
                rows += table.num_rows
                parquet_bytes += path.stat().st_size
                del table
                s3.upload_file(str(path), FEATURE_BUCKET, f"{FEATURE_SET}/dt={DATE}/{path.name}")
                path.unlink()
        print(
            f"day: {args.files} files, {rows:,} rows, {arrow_bytes / 2**20:,.0f} MiB in memory (Arrow), "
            f"{parquet_bytes / 2**20:,.0f} MiB as Parquet (made in {time.perf_counter() - t0:.1f} s)"
        )
        with tempfile.TemporaryDirectory() as cache:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "BATCH_", "JOB_"))},
                **AWS_ENV,
                "AWS_ENDPOINT_URL": endpoint,
                "MODEL_REPOSITORY": f"s3://{MODELS}/models",
                "MODEL_NAME": "linear",
                "MODEL_VERSION": "1",
                "MODEL_CACHE_DIR": cache,
                "ORT_EXECUTION_PROVIDERS": "CPUExecutionProvider",
                "FEATURE_BUCKET": FEATURE_BUCKET,
                "INPUT_PREFIX": f"{FEATURE_SET}/",
                "LOOKBACK_DAYS": "1",
                "BATCH_CHUNK_ROWS": args.chunk_rows,
                "MAX_BATCH_SIZE": "4096",
                "BATCH_JOB_NAME": "bench",
            }
            single_s, [single_peak] = run_job({**env, "OUTPUT_PREFIX": f"{FEATURE_SET}/_scores/one/"}, [0], 1)
            if args.pair:
                pair_s, pair_peaks = run_job({**env, "OUTPUT_PREFIX": f"{FEATURE_SET}/_scores/two/"}, [0, 1], 2)
        for prefix in ("one", "two") if args.pair else ("one",):
            listing = s3.list_objects_v2(Bucket=FEATURE_BUCKET, Prefix=f"{FEATURE_SET}/_scores/{prefix}/dt={DATE}/")
            keys = [o["Key"] for o in listing.get("Contents", [])]
            assert sum(k.endswith(".parquet") for k in keys) == args.files and any("_manifest" in k for k in keys)
    finally:
        server.terminate()
        server.wait(timeout=30)
    ratio = arrow_bytes / single_peak
    print(f"one pod:      {rows / single_s:>12,.0f} rows/s ({single_s:.1f} s), peak RSS {single_peak / 2**20:,.0f} MiB")
    if args.pair:
        print(
            f"2 indexes:    {rows / pair_s:>12,.0f} rows/s ({pair_s:.1f} s), peak RSS {max(pair_peaks) / 2**20:,.0f} "
            f"MiB per pod (x{single_s / pair_s:.2f} the one pod's rate; both share {os.cpu_count()} cores and one moto)"
        )
    verdict = "ok" if ratio >= GOAL else "BELOW GOAL"
    print(
        f"day in memory / peak RSS: {ratio:.1f} (goal >= {GOAL:g}: {verdict}); "
        f"day as Parquet / peak RSS: {parquet_bytes / single_peak:.1f}"
    )
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
