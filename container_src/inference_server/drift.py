"""Drift: each scored day's feature and score distributions against the model version's reference profile.

The **profile** (``drift-profile.json``, published beside ``model.onnx`` and ``signature.json``) is made
from the training data by ``python -m inference_server profile --data train.parquet --signature
signature.json [--model model.onnx] --output drift-profile.json``: for every column the model reads (the
signature's inputs, not its keys) a binned
distribution (numeric: bin edges at the training data's deciles; boolean and string: category shares),
and with ``--model`` the same for each numeric score column the batch job writes (``<output>`` or
``<output>_<i>``), computed by the model over the training data.

After a batch run, :func:`report` reads a sample of each scored day (at most ``DRIFT_SAMPLE_ROWS`` rows,
default 100,000, of the day's inputs and score files, in key order, through ranged reads and counted into the
profile's bins batch by batch, so memory does not grow with the files), computes the **population stability
index** per column, ``PSI = sum((actual - expected) * ln(actual / expected))`` over the profile's bins (shares
floored at 1e-4), and emits EMF (namespace ``HybridAiPlatform/Drift``): ``FeaturePSI`` per feature (dimensions
``ClusterName``, ``Model``, ``BatchJob``, ``Feature``), and ``MaxFeaturePSI`` and ``ScorePSI`` (the largest
over the features and over the scores; dimensions ``ClusterName``, ``Model``, ``BatchJob``), which the stack
alarms on. Rule of thumb: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 a real shift.
A missing profile or a drift failure is logged and never fails the scoring job.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

LOG = logging.getLogger(__name__)
PROFILE_FILE = "drift-profile.json"
NAMESPACE = "HybridAiPlatform/Drift"
ENV_VARS = frozenset({"METRICS_CLUSTER_NAME", "AWS_EMF_AGENT_ENDPOINT", "DRIFT_SAMPLE_ROWS"})
"""The environment variables drift reads (from the process environment)."""
JOB_DIMENSIONS = ("ClusterName", "Model", "BatchJob")
EPSILON = 1e-4
"""Floor of a bin's share, so an empty bin does not make the index infinite."""
DEFAULT_BINS = 10
MAX_CATEGORIES = 20
OTHER = "__other__"
DEFAULT_SAMPLE_ROWS = 100_000


# Profiles -----------------------------------------------------------------------------------------------


def column_profile(values: pa.Array | pa.ChunkedArray, bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """The reference distribution of one column: numeric bins at quantile edges, or category shares."""
    values = values.drop_null() if hasattr(values, "drop_null") else values
    type_ = values.type
    if pa.types.is_boolean(type_) or pa.types.is_string(type_) or pa.types.is_large_string(type_):
        counts = pc.value_counts(values).to_pylist()
        total = sum(c["counts"] for c in counts) or 1
        top = sorted(counts, key=lambda c: (-c["counts"], str(c["values"])))[:MAX_CATEGORIES]
        shares = {str(c["values"]): c["counts"] / total for c in top}
        shares[OTHER] = max(0.0, 1.0 - sum(shares.values()))
        return {"kind": "categorical", "categories": list(shares), "shares": list(shares.values())}
    data = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size == 0:
        raise ValueError("no finite values to profile")
    inner = np.unique(np.quantile(data, [i / bins for i in range(1, bins)]))
    return {"kind": "numeric", "edges": inner.tolist(), "shares": _numeric_shares(data, inner).tolist()}


def _numeric_shares(data: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of ``data`` in the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    index = np.searchsorted(edges, data, side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


class Histogram:
    """Counts of values in one profile entry's bins, accumulated batch by batch.

    :meth:`shares` after any number of :meth:`add` calls equals :func:`shares_of` over all those values at
    once (integer counts are summed, then divided once), so a day is measured in bounded memory.
    """

    def __init__(self, profile: Mapping[str, Any]) -> None:
        self.profile = profile
        self.categorical = profile["kind"] == "categorical"
        self.edges = np.asarray(profile.get("edges", []), dtype=np.float64)
        self.bins = np.zeros(len(self.edges) + 1, dtype=np.int64)
        self.categories: dict[str, int] = {}

    def add(self, values: pa.Array | pa.ChunkedArray) -> Histogram:
        """Count ``values`` (nulls, and for numeric bins non-finite values, are not counted)."""
        if self.categorical:
            for entry in pc.value_counts(values.drop_null()).to_pylist():
                key = str(entry["values"])
                self.categories[key] = self.categories.get(key, 0) + int(entry["counts"])
            return self
        data = np.asarray(values.drop_null().to_numpy(zero_copy_only=False), dtype=np.float64)
        data = data[np.isfinite(data)]
        self.bins += np.bincount(np.searchsorted(self.edges, data, side="left"), minlength=len(self.edges) + 1)
        return self

    def shares(self) -> list[float]:
        """The shares of the counted values in the profile's bins (same order as ``profile['shares']``)."""
        if self.categorical:
            total = sum(self.categories.values()) or 1
            categories = self.profile["categories"]
            known = {k: self.categories.get(k, 0) / total for k in categories if k != OTHER}
            known[OTHER] = max(0.0, 1.0 - sum(known.values()))
            return [known[k] for k in categories]
        counts = self.bins.astype(np.float64)
        result: list[float] = (counts / max(counts.sum(), 1.0)).tolist()
        return result


def shares_of(profile: Mapping[str, Any], values: pa.Array | pa.ChunkedArray) -> list[float]:
    """The shares of ``values`` in ``profile``'s bins (same order as ``profile['shares']``)."""
    return Histogram(profile).add(values).shares()


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two share vectors over the same bins (each share floored at 1e-4)."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def build_profile(
    table: pa.Table, columns: Sequence[str], scores: Mapping[str, np.ndarray] | None = None, bins: int = DEFAULT_BINS
) -> dict[str, Any]:
    """The profile document: one entry per feature column, and per scalar score column."""
    return {
        "profile_version": 1,
        "rows": table.num_rows,
        "features": {name: column_profile(table.column(name), bins) for name in columns},
        "scores": {name: column_profile(pa.array(values), bins) for name, values in (scores or {}).items()},
    }


def compare_counts(
    profile: Mapping[str, Any], counted: Mapping[str, Mapping[str, Histogram]]
) -> dict[str, dict[str, float]]:
    """PSI per feature and per score column from accumulated :class:`Histogram` counts."""
    out: dict[str, dict[str, float]] = {"features": {}, "scores": {}}
    for section in ("features", "scores"):
        for name, reference in profile.get(section, {}).items():
            if name in counted.get(section, {}):
                out[section][name] = round(psi(reference["shares"], counted[section][name].shares()), 6)
    return out


def emf_documents(
    results: Mapping[str, Mapping[str, float]], dimensions: Mapping[str, str], timestamp_ms: int
) -> list[dict[str, Any]]:
    """EMF documents: ``FeaturePSI`` per feature, then ``MaxFeaturePSI`` and ``ScorePSI`` for the job."""
    docs: list[dict[str, Any]] = []

    def doc(metrics: Mapping[str, float], dims: Mapping[str, str]) -> dict[str, Any]:
        return {
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [list(dims)],
                        "Metrics": [{"Name": name, "Unit": "None"} for name in metrics],
                    }
                ],
            },
            **dims,
            **metrics,
        }

    for feature, value in sorted(results["features"].items()):
        docs.append(doc({"FeaturePSI": value}, {**{k: dimensions[k] for k in JOB_DIMENSIONS}, "Feature": feature}))
    summary = {}
    if results["features"]:
        summary["MaxFeaturePSI"] = max(results["features"].values())
    if results["scores"]:
        summary["ScorePSI"] = max(results["scores"].values())
    if summary:
        docs.append(doc(summary, {k: dimensions[k] for k in JOB_DIMENSIONS}))
    return docs


# The batch job's hook -----------------------------------------------------------------------------------


def count_sample(
    files: Iterable[pq.ParquetFile], section: Mapping[str, Any], limit: int
) -> dict[str, Histogram] | None:
    """Counts of the first ``limit`` rows of ``files`` in the bins of ``section``'s columns, read batch by
    batch (memory: one batch; a generator of files is consumed only as far as the sample needs);
    ``None`` when the files hold no rows. A column absent from a
    file counts nothing there; only columns present in some file get a histogram."""
    counts: dict[str, Histogram] = {}
    rows, any_batch = 0, False
    for parquet in files:
        if rows >= limit:
            break
        present = [c for c in section if c in parquet.schema_arrow.names]
        for name in present:
            counts.setdefault(name, Histogram(section[name]))
        for batch in parquet.iter_batches(columns=present, batch_size=min(limit, 65_536)):
            any_batch = True
            batch = batch.slice(0, limit - rows)
            for name in present:
                counts[name].add(batch.column(name))
            rows += batch.num_rows
            if rows >= limit:
                break
    return counts if any_batch else None


def report(
    client: Any, settings: Any, info: Any, results: Sequence[Any], environ: Mapping[str, str] | None = None
) -> None:
    """Compute and emit each scored day's PSI (see the module doc); log and return on any failure."""
    env = os.environ if environ is None else environ
    try:
        _report(client, settings, info, results, env)
    except Exception as exc:  # drift must never fail the scoring job
        LOG.warning("drift not computed: %s: %s", type(exc).__name__, exc)


def _report(client: Any, settings: Any, info: Any, results: Sequence[Any], env: Mapping[str, str]) -> None:
    from inference_server.emf import agent_sink, stdout_sink

    location = settings.model.model_repository
    name, version = settings.model.model_name, settings.model.model_version
    try:
        raw = client.get_object(Bucket=location.bucket, Key=location.key_for(name, version, PROFILE_FILE))["Body"]
    except Exception as exc:
        LOG.warning(
            "no drift profile at %s (%s); drift not computed", location.uri_for(name, version, PROFILE_FILE), exc
        )
        return
    profile = json.loads(raw.read())
    limit = int(env.get("DRIFT_SAMPLE_ROWS", DEFAULT_SAMPLE_ROWS))
    endpoint = env.get("AWS_EMF_AGENT_ENDPOINT")
    sink = agent_sink(endpoint) if endpoint else stdout_sink
    dimensions = {
        "ClusterName": env.get("METRICS_CLUSTER_NAME", "unknown"),
        "Model": name,
        "BatchJob": settings.job_name,
    }
    days: dict[date, list[Any]] = {}
    for result in results:
        days.setdefault(result.source.day, []).append(result)
    import time

    from inference_server.batch.storage import _head, open_parquet

    def inputs(day_results: Sequence[Any]) -> Iterator[pq.ParquetFile]:
        for r in day_results:  # as listed: the ETag the job scored
            yield open_parquet(client, bucket, r.source.key, r.source.size, r.source.etag)

    def outputs(day_results: Sequence[Any]) -> Iterator[pq.ParquetFile]:
        for r in day_results:
            head = _head(client, bucket, r.output_key)
            if head is not None:
                yield open_parquet(client, bucket, r.output_key, int(head["ContentLength"]), None)

    bucket = settings.feature_bucket
    for day, day_results in sorted(days.items()):
        features = count_sample(inputs(day_results), profile["features"], limit)
        if features is None:
            continue
        scores = count_sample(outputs(day_results), profile["scores"], limit) or {}
        values = compare_counts(profile, {"features": features, "scores": scores})
        for document in emf_documents(values, dimensions, int(time.time() * 1000)):
            sink(json.dumps(document, separators=(",", ":")))
        LOG.info(
            "drift of %s: max feature PSI %s, score PSI %s",
            day.isoformat(),
            max(values["features"].values(), default=None),
            max(values["scores"].values(), default=None),
            extra={"fields": {"event": "drift", "batch_date": day.isoformat(), **values}},
        )


# The profile command ------------------------------------------------------------------------------------


def profile_main(argv: Sequence[str]) -> int:
    """``python -m inference_server profile``: write a model version's drift profile from its training data."""
    parser = argparse.ArgumentParser(prog="python -m inference_server profile", description=profile_main.__doc__)
    parser.add_argument("--data", required=True, type=Path, help="training data (Parquet)")
    parser.add_argument("--signature", required=True, type=Path, help="the model version's signature.json")
    parser.add_argument("--model", type=Path, help="model.onnx: also profile its scalar outputs over the data")
    parser.add_argument("--output", required=True, type=Path, help="where to write drift-profile.json")
    parser.add_argument("--bins", type=int, default=DEFAULT_BINS, help=f"numeric bins (default {DEFAULT_BINS})")
    args = parser.parse_args(list(argv))
    from inference_server.signature import ModelSignature

    signature = ModelSignature.parse(args.signature.read_bytes(), str(args.signature))
    table = pq.read_table(args.data)
    features = [c.name for spec in signature.inputs for c in spec.columns]  # the model's inputs, not the keys
    columns = [c for c in features if c in table.column_names]
    missing = sorted(set(features) - set(columns))
    if missing:
        parser.error(f"{args.data} lacks the signature's columns {missing}")
    scores = _training_scores(args.model, signature, table) if args.model else None
    args.output.write_text(json.dumps(build_profile(table, columns, scores, args.bins), indent=2, sort_keys=True))
    print(f"wrote {args.output}: {len(columns)} feature(s), {len(scores or {})} score column(s)")
    return 0


def _training_scores(model_path: Path, signature: Any, table: pa.Table) -> dict[str, np.ndarray]:
    """The model's score columns over ``table``, named as the batch job's score files name them
    (``<output>`` or ``<output>_<i>``: :func:`inference_server.batch.output_columns`)."""
    from inference_server.batch import build_feeds, output_columns, score
    from inference_server.model import LoadedModel

    model = LoadedModel.load(model_path, "profile", "0")
    out: dict[str, list[np.ndarray]] = {}
    for batch in table.select(list(signature.columns)).to_batches(max_chunksize=8192):
        columns = output_columns(score(model, build_feeds(model, signature, batch), batch.num_rows, 1024))
        for name, values in columns.items():
            if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
                out.setdefault(name, []).append(np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64))
    return {name: np.concatenate(parts) for name, parts in out.items()}
