"""BP-SYS-006 data chain: a batch job reads what a function writes, what is written is read, and the
model's signature columns exist in the deployed feature set's output schema with the same types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hybrid_ai_platform.cli.checks import data_chain
from hybrid_ai_platform.cli.diff import is_blocking
from hybrid_ai_platform.cli.synth import PROJECT_ROOT, synthesize
from tests.checks.check_helpers import PROJECT, check_findings, document, findings, named, plan_edited, resources

CHECK = "system-data-chain"
CRONJOB = "kubernetes:batch/v1:CronJob"
SIGNATURE = PROJECT_ROOT / "docs" / "examples" / "fraud-scorer.signature.json"


def _signature(tmp_path: Path, change: Any) -> str:
    signature = json.loads(SIGNATURE.read_text())
    change(signature)
    path = tmp_path / "signature.json"
    path.write_text(json.dumps(signature))
    return str(path)


def _models(doc: dict[str, Any]) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = doc["config"][f"{PROJECT}:inference"]["models"]
    return models


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_chains_are_complete_and_their_signature_is_checked(stack: str) -> None:
    # GIVEN a shipped stack (its fraud-scorer declares the published signature) THEN no finding at all,
    # not even the advisory "not checked"
    assert findings(document(stack), CHECK) == []


def test_a_consumer_prefix_nobody_writes_blocks_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN dev whose batch job reads a feature set no preprocessing function computes
    def edit(config: dict[str, Any]) -> None:
        config[f"{PROJECT}:inference"]["batch_jobs"][0]["feature_set"] = "card_payments"

    # WHEN planned
    code, plan = plan_edited(tmp_path, capsys, "dev", edit)
    # THEN blueprint plan fails on a finding naming the CronJob and the job's feature_set
    assert code == 1
    [finding] = [f for f in check_findings(plan, CHECK) if is_blocking(f)]
    assert finding["urn"] == named(plan, "nightly-fraud-scores-cronjob")["urn"]
    assert finding["field"] == "inference.batch_jobs[0].feature_set"
    assert "card_payments/, which no preprocessing function writes" in finding["message"]
    assert "transactions/" in finding["message"]  # what the functions do write


def test_an_external_input_is_not_a_finding() -> None:
    # GIVEN the same job, declared to read data written outside the stack
    inference = document("dev")["config"][f"{PROJECT}:inference"]
    inference["batch_jobs"][0].update(feature_set="card_payments", external_input=True)
    doc = synthesize("dev", overrides={f"{PROJECT}:inference": inference}).to_json()
    # THEN its input is not required to have a writer; the function's feature set is now unread (advisory)
    result = findings(doc, CHECK)
    assert [f["enforcement"] for f in result] == ["advisory"]
    assert result[0]["field"] == "preprocessing.functions[0].terminal"


def test_a_feature_set_nobody_reads_is_advisory_until_declared_terminal() -> None:
    # GIVEN prod without its batch job: both functions write transactions/, nothing reads it
    doc = document("prod")
    doc["resources"] = [r for r in doc["resources"] if r["type"] != CRONJOB]
    result = findings(doc, CHECK)
    # THEN one advisory finding per writing function, naming its terminal field
    assert sorted(f["field"] for f in result) == [
        "preprocessing.functions[0].terminal",
        "preprocessing.functions[1].terminal",
    ]
    assert {f["enforcement"] for f in result} == {"advisory"}
    assert all("is written but no batch job reads it" in f["message"] for f in result)
    # AND declaring the functions terminal silences it
    for function in doc["config"][f"{PROJECT}:preprocessing"]["functions"]:
        function["terminal"] = True
    assert findings(doc, CHECK) == []


def test_a_signature_column_with_another_type_than_the_feature_set_writes_blocks(tmp_path: Path) -> None:
    # GIVEN dev's model signature declaring amount as float32 (the feature set writes double)
    doc = document("dev")

    def change(signature: dict[str, Any]) -> None:
        signature["inputs"][0]["columns"][0] = {"name": "amount", "type": "float"}

    _models(doc)[0]["signature_file"] = _signature(tmp_path, change)
    # WHEN checked
    [finding] = findings(doc, CHECK)
    # THEN the batch job's own contract check, run against the deployed feature set, names the column
    assert is_blocking(finding)
    assert finding["urn"] == resources(doc, CRONJOB)[0]["urn"]
    assert finding["field"] == "inference.models[0].signature_file"
    assert "column 'amount' is double, the signature says float" in finding["message"]
    assert "build/lambda/" in finding["message"]  # judged on the deployed package


def test_a_signature_column_the_feature_set_does_not_write_blocks(tmp_path: Path) -> None:
    doc = document("prod")

    def change(signature: dict[str, Any]) -> None:
        signature["keys"].append({"name": "merchant_country", "type": "string"})

    _models(doc)[0]["signature_file"] = _signature(tmp_path, change)
    [finding] = findings(doc, CHECK)
    assert is_blocking(finding)
    assert "column 'merchant_country' (string) is missing" in finding["message"]


def test_a_signature_for_another_feature_set_blocks_on_the_jobs_feature_set(tmp_path: Path) -> None:
    doc = document("dev")
    _models(doc)[0]["signature_file"] = _signature(tmp_path, lambda s: s.update(feature_set="payments"))
    [finding] = findings(doc, CHECK)
    assert is_blocking(finding) and finding["field"] == "inference.batch_jobs[0].feature_set"
    assert "trained on feature set 'payments'" in finding["message"]


def test_an_invalid_signature_file_blocks(tmp_path: Path) -> None:
    doc = document("dev")
    (tmp_path / "bad.json").write_text("{")
    _models(doc)[0]["signature_file"] = str(tmp_path / "bad.json")
    [finding] = findings(doc, CHECK)
    assert is_blocking(finding) and "is not valid JSON" in finding["message"]


def test_a_model_without_signature_file_is_reported_as_not_checked() -> None:
    doc = document("dev")
    _models(doc)[0].pop("signature_file")
    [finding] = findings(doc, CHECK)
    assert finding["enforcement"] == "advisory"
    assert finding["field"] == "inference.models[0].signature_file"
    assert "not checked" in finding["message"]


def test_missing_planning_dependencies_are_not_checked_rather_than_blocking(tmp_path: Path) -> None:
    # GIVEN a planning environment where pyarrow cannot be imported (a shadowing package that refuses)
    shadow = tmp_path / "shadow"
    (shadow / "pyarrow").mkdir(parents=True)
    (shadow / "pyarrow" / "__init__.py").write_text("raise ImportError('no pyarrow here', name='pyarrow')\n")
    # WHEN the contract is probed THEN it is reported unavailable, naming what to install
    result = data_chain._contract(shadow, PROJECT_ROOT / "container_src", "transactions", SIGNATURE)
    assert result == {"unavailable": "pyarrow is not installed (pip install '.[lambda,server]')"}


def test_a_package_that_cannot_load_its_feature_set_is_an_error(tmp_path: Path) -> None:
    # GIVEN an archive directory whose feature-set registry is broken
    broken = tmp_path / "broken" / "preprocessing" / "feature_sets"
    broken.mkdir(parents=True)
    (broken.parent / "__init__.py").write_text("")
    (broken / "__init__.py").write_text("raise RuntimeError('broken registry')\n")
    result = data_chain._contract(tmp_path / "broken", PROJECT_ROOT / "container_src", "transactions", SIGNATURE)
    assert "RuntimeError: broken registry" in result["error"]


def _prod_config() -> dict[str, Any]:
    return dict(document("prod")["config"])


def _archive() -> Path:
    """The arm64 function archive ``make package`` builds (the shipped functions run on arm64)."""
    return PROJECT_ROOT / "build" / "lambda" / "arm64" / "function.zip"


@pytest.fixture
def cold_probes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The archives of the probe processes started cold (with the archive first), as the check starts them."""
    started: list[Path] = []
    start = data_chain._start_probe

    def counting(container_src: Path, archive: Path | None = None) -> Any:
        if archive is not None:
            started.append(archive)
        return start(container_src, archive)

    monkeypatch.setattr(data_chain, "_start_probe", counting)
    return started


def test_a_warm_probe_answers_as_a_cold_one_and_is_used_once(cold_probes: list[Path]) -> None:
    # GIVEN the answer of a probe started for the request (cold)
    container_src = PROJECT_ROOT / "container_src"
    data_chain._contract.cache_clear()
    cold = data_chain._contract(_archive(), container_src, "transactions", SIGNATURE)
    assert cold.get("problems") == [] and cold.get("signature_feature_set") == "transactions"
    # WHEN a plan of prod (a batch job, a model with a signature_file) warms a probe before its program runs
    data_chain._contract.cache_clear()
    with data_chain.warm_probe(PROJECT_ROOT, _prod_config(), PROJECT):
        assert container_src in data_chain._warm
        cold_probes.clear()
        warm = data_chain._contract(_archive(), container_src, "transactions", SIGNATURE)
        # THEN the check took the warm probe, which gave the same answer, and started no cold one
        assert container_src not in data_chain._warm
    assert warm == cold
    assert cold_probes == []
    data_chain._contract.cache_clear()


def test_an_unused_warm_probe_is_stopped_and_a_stack_without_signatures_warms_none() -> None:
    container_src = PROJECT_ROOT / "container_src"
    # GIVEN prod's config: a probe is warmed, and stopped on exit when no check took it
    with data_chain.warm_probe(PROJECT_ROOT, _prod_config(), PROJECT):
        process = data_chain._warm[container_src]
    assert process.poll() is not None and container_src not in data_chain._warm
    # GIVEN a config without a signature_file: the probe would never run, so none is started
    config = _prod_config()
    for model in config[f"{PROJECT}:inference"]["models"]:
        model.pop("signature_file", None)
    with data_chain.warm_probe(PROJECT_ROOT, config, PROJECT):
        assert container_src not in data_chain._warm


def test_an_archive_that_ships_a_module_the_warm_probe_imported_is_probed_cold(
    tmp_path: Path, cold_probes: list[Path]
) -> None:
    # GIVEN an archive that ships its own (broken) pyarrow, which the Lambda runtime would import first
    shadow = tmp_path / "shadow"
    (shadow / "pyarrow").mkdir(parents=True)
    (shadow / "pyarrow" / "__init__.py").write_text("raise ImportError('no pyarrow here', name='pyarrow')\n")
    # WHEN it is probed while a warm probe (pyarrow already imported from the environment) waits
    with data_chain.warm_probe(PROJECT_ROOT, _prod_config(), PROJECT):
        result = data_chain._contract(shadow, PROJECT_ROOT / "container_src", "transactions", SIGNATURE)
    # THEN the answer is the one of a probe that put the archive first: the archive's pyarrow, from one cold probe
    assert result == {"unavailable": "pyarrow is not installed (pip install '.[lambda,server]')"}
    assert cold_probes == [shadow]


def test_a_warm_probe_missing_an_import_the_archive_ships_answers_as_a_cold_one(
    tmp_path: Path, cold_probes: list[Path]
) -> None:
    # GIVEN contract code that imports a module only the function's archive ships (the Lambda runtime puts the
    # archive first; a warm probe imported before it knew the archive)
    container_src = tmp_path / "container_src"
    (container_src / "inference_server").mkdir(parents=True)
    (container_src / "inference_server" / "__init__.py").write_text("")
    (container_src / "inference_server" / "signature.py").write_text(
        "import shipped_by_the_archive\nclass ContractError(Exception): ...\n"
        "class ModelSignature:\n    @staticmethod\n    def parse(data, path):\n        raise ContractError('parsed')\n"
    )
    archive = tmp_path / "archive"
    (archive / "shipped_by_the_archive").mkdir(parents=True)
    (archive / "shipped_by_the_archive" / "__init__.py").write_text("")
    (archive / "preprocessing").mkdir()
    (archive / "preprocessing" / "__init__.py").write_text("")
    (archive / "preprocessing" / "feature_sets.py").write_text("def get_feature_set(name): ...\n")
    data_chain._contract.cache_clear()
    cold = data_chain._contract(archive, container_src, "transactions", SIGNATURE)
    assert cold == {"error": "parsed"}  # the archive's module was found: the signature was read
    data_chain._contract.cache_clear()
    cold_probes.clear()
    with data_chain.warm_probe(tmp_path, _prod_config(), PROJECT):
        warm = data_chain._contract(archive, container_src, "transactions", SIGNATURE)
    data_chain._contract.cache_clear()
    # THEN the warm probe's answer is the cold one's, not "not installed": it deferred to one cold probe
    assert warm == cold
    assert cold_probes == [archive]
