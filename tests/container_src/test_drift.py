"""Drift: PSI on data with a known shift fires, on data without does not; the batch job emits it after
scoring, from the profile the documented command made, with the dimensions the plan alarms on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from inference_helpers import BUCKET, PREFIX
from inference_server import drift
from test_batch import (  # noqa: F401 - fixtures
    DATE,
    Store,
    classifier_signature,
    feature_table,
    registry,
    store,
)

from tests.conftest import shipped_plan
from tests.plan_helpers import named

THRESHOLD = 0.25


def _shifted(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    """The same rows with amounts three times larger (and their log), more foreign cards."""
    amount = np.asarray(table.column("amount")) * 3 + 200
    rows = table.num_rows
    return (
        table.set_column(table.schema.get_field_index("amount"), "amount", pa.array(amount))
        .set_column(table.schema.get_field_index("amount_log"), "amount_log", pa.array(np.log1p(amount)))
        .set_column(table.schema.get_field_index("is_foreign"), "is_foreign", pa.array(rng.random(rows) < 0.8))
    )


def test_psi_is_near_zero_without_a_shift_and_large_with_one() -> None:
    rng = np.random.default_rng(0)
    reference = drift.column_profile(pa.array(rng.normal(0, 1, 20_000)))
    same = drift.shares_of(reference, pa.array(rng.normal(0, 1, 5_000)))
    moved = drift.shares_of(reference, pa.array(rng.normal(1, 1, 5_000)))
    assert drift.psi(reference["shares"], same) < 0.02
    assert drift.psi(reference["shares"], moved) > THRESHOLD
    categories = drift.column_profile(pa.array(["a"] * 700 + ["b"] * 300))
    assert drift.psi(categories["shares"], drift.shares_of(categories, pa.array(["a"] * 69 + ["b"] * 31))) < 0.01
    assert drift.psi(categories["shares"], drift.shares_of(categories, pa.array(["a"] * 20 + ["b"] * 80))) > THRESHOLD


def _profile_from_training(tmp_path: Path, classifier_bytes: bytes, registry_s3: Any) -> dict[str, Any]:
    """Run the documented profile command on training data and publish the profile beside the model."""
    training = feature_table(3000, seed=10)
    paths = {name: tmp_path / name for name in ("train.parquet", "signature.json", "model.onnx", "profile.json")}
    pq.write_table(training, paths["train.parquet"])
    paths["signature.json"].write_text(json.dumps(classifier_signature()))
    paths["model.onnx"].write_bytes(classifier_bytes)
    from inference_server.__main__ import main

    argv = ["profile", "--data", str(paths["train.parquet"]), "--signature", str(paths["signature.json"])]
    assert main([*argv, "--model", str(paths["model.onnx"]), "--output", str(paths["profile.json"])]) == 0
    body = paths["profile.json"].read_bytes()
    registry_s3.client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/fraud/1/{drift.PROFILE_FILE}", Body=body)
    return json.loads(body)


def _emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    return [line for line in lines if line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == drift.NAMESPACE]


@pytest.mark.parametrize("shift", [False, True])
def test_the_batch_job_emits_psi_that_crosses_the_threshold_only_for_shifted_data(
    shift: bool,
    store: Store,  # noqa: F811
    classifier_bytes: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the model version's profile made by the documented command from its training data
    profile = _profile_from_training(tmp_path, classifier_bytes, store.s3)
    assert set(profile["features"]) == {"amount", "amount_log", "is_foreign", "hour_of_day"}
    assert set(profile["scores"]) == {f"{name}_{i}" for name in ("LOGITS", "PROBS") for i in range(3)}
    # AND a day of data from the same process, or shifted
    rng = np.random.default_rng(5)
    day = feature_table(2000, seed=11)
    store.put_table(f"dt={DATE}/part-a.parquet", _shifted(day, rng) if shift else day)
    capsys.readouterr()
    # WHEN the job scores the day
    monkeypatch.setenv("METRICS_CLUSTER_NAME", "hybrid-ai-platform-prod")  # drift reads the process environment
    monkeypatch.delenv("AWS_EMF_AGENT_ENDPOINT", raising=False)
    assert store.run() == 0
    docs = _emitted(capsys)
    # THEN it emits PSI per feature and the day's maxima, with the alarm's dimensions
    summary = next(d for d in docs if "MaxFeaturePSI" in d)
    assert summary["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["ClusterName", "Model", "BatchJob"]]
    assert (summary["ClusterName"], summary["Model"], summary["BatchJob"]) == (
        "hybrid-ai-platform-prod",
        "fraud",
        "nightly-fraud",
    )
    per_feature = {d["Feature"]: d["FeaturePSI"] for d in docs if "FeaturePSI" in d}
    assert set(per_feature) == set(profile["features"])
    # AND only the shifted day crosses the alarm's threshold, for the features and for the scores
    if shift:
        assert summary["MaxFeaturePSI"] > THRESHOLD and per_feature["amount"] > THRESHOLD
        assert summary["ScorePSI"] > THRESHOLD
    else:
        assert summary["MaxFeaturePSI"] < 0.1 and summary["ScorePSI"] < 0.1


def test_without_a_profile_the_job_still_scores(store: Store, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    store.s3.client.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/fraud/1/{drift.PROFILE_FILE}")  # type: ignore[attr-defined]
    store.put_table(f"dt={DATE}/part-a.parquet", feature_table(50, seed=1))
    assert store.run() == 0
    assert _emitted(capsys) == []


def test_the_plan_alarms_on_what_the_job_emits() -> None:
    # GIVEN prod's drift alarms and the CronJob's environment
    plan = shipped_plan("prod")
    env = {
        e["name"]: e.get("value")
        for e in named(plan, "nightly-fraud-scores-cronjob").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
    }
    for key, metric in (("feature-drift", "MaxFeaturePSI"), ("score-drift", "ScorePSI")):
        alarm = named(plan, f"alerts-batch-job-nightly-fraud-scores-{key}").inputs
        # THEN namespace, metric and dimension values are those drift.report writes from that environment
        assert (alarm["namespace"], alarm["metricName"]) == (drift.NAMESPACE, metric)
        assert alarm["dimensions"] == {
            "ClusterName": env["METRICS_CLUSTER_NAME"],
            "Model": env["MODEL_NAME"],
            "BatchJob": env["BATCH_JOB_NAME"],
        }
        assert list(alarm["dimensions"]) == sorted(drift.JOB_DIMENSIONS) or set(alarm["dimensions"]) == set(
            drift.JOB_DIMENSIONS
        )
        assert (alarm["statistic"], alarm["comparisonOperator"], alarm["threshold"]) == (
            "Maximum",
            "GreaterThanThreshold",
            THRESHOLD,
        )
    assert env["AWS_EMF_AGENT_ENDPOINT"] == "tcp://cloudwatch-agent.amazon-cloudwatch:25888"
