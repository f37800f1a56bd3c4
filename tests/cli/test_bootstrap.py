"""The plan's ``bootstrap`` section and ``blueprint plan --fresh-account``: what a first deploy creates,
what waits for which artifact, and how to publish it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cli_helpers import run_cli

from hybrid_ai_platform.cli import bootstrap
from hybrid_ai_platform.cli.report import render_plan

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


# the tests share one run of each dev plan they read (steady state and fresh account): keep them on one worker
pytestmark = pytest.mark.xdist_group("bootstrap")

_PLANS: dict[tuple[str, ...], dict[str, Any]] = {}
"""``blueprint plan --stack dev --format json`` output by extra arguments: each plan is run once per module."""


def _plan(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    if extra not in _PLANS:
        code, out, _ = run_cli(capsys, "plan", "--stack", "dev", "--format", "json", "--no-fail-on-violations", *extra)
        assert code == 0
        _PLANS[extra] = json.loads(out)
    document: dict[str, Any] = copy.deepcopy(_PLANS[extra])
    return document


def test_the_steady_state_plan_lists_what_each_model_creates_first_and_what_waits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN dev's plan (artifacts published)
    document = _plan(capsys)
    [model] = document["bootstrap"]["models"]
    # THEN the model serves, its workloads and its batch job are the deferred part
    assert document["bootstrap"]["account"] == "published"
    assert model["model"] == "fraud-scorer" and model["status"] == "serving"
    assert model["deferred_resources"] == [
        "fraud-scorer-deployment",
        "fraud-scorer-service",
        "fraud-scorer-scaledobject",
        "fraud-scorer-pdb",
    ]
    assert model["deferred_batch_jobs"] == ["nightly-fraud-scores"]
    # AND the rest of the component is created first
    assert {"fraud-scorer-repository", "fraud-scorer-namespace", "fraud-scorer-identity-role"} <= set(
        model["created_first"]
    )
    assert not set(model["deferred_resources"]) & set(model["created_first"])
    # AND each artifact names where it goes and the command that publishes it
    image, weights = model["artifacts"]
    bucket = document["outputs"]["model_registry_bucket"]
    assert image["publish"] == (
        "docker push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/hybrid-ai-platform-dev/fraud-scorer:1.4.0"
    )
    assert weights["publish"] == (
        f"aws s3 cp model.onnx s3://{bucket}/models/fraud-scorer/3/model.onnx && "
        f"aws s3 cp signature.json s3://{bucket}/models/fraud-scorer/3/signature.json"
    )


def test_fresh_account_plan_shows_the_first_deploy(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the steady-state and the fresh-account plans of dev
    steady, fresh = _plan(capsys), _plan(capsys, "--fresh-account")
    # THEN the fresh one lacks exactly the deferred workloads and the batch job's resources
    names = {r["name"] for r in steady["resources"]} - {r["name"] for r in fresh["resources"]}
    [model] = fresh["bootstrap"]["models"]
    assert fresh["bootstrap"]["account"] == "fresh account"
    assert model["status"] == "waiting"
    assert set(model["deferred_resources"]) <= names
    assert all(n.startswith(("fraud-scorer-", "nightly-fraud-scores")) for n in names)
    assert not [r for r in fresh["resources"] if r["type"] == DEPLOYMENT]
    # AND nothing created first is missing
    assert set(model["created_first"]) <= {r["name"] for r in fresh["resources"]}


def test_text_and_markdown_show_the_publish_commands(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the fresh-account plan
    code, text, err = run_cli(capsys, "plan", "--stack", "dev", "--fresh-account", "--no-fail-on-violations")
    assert code == 0
    # THEN the text says the model waits, what is deferred and how to publish, in order
    lines = bootstrap.render_text(_plan(capsys, "--fresh-account"))
    assert lines[0] == "Bootstrap (fresh account): 1 of 1 model(s) waiting for their artifacts"
    assert "\n".join(lines) in text
    assert "batch job nightly-fraud-scores" in text
    assert text.index("docker push") < text.index("aws s3 cp model.onnx")
    # AND the program's own warning (what `pulumi up` prints) was logged
    assert "pulumi up" in err
    markdown = render_plan("markdown", _plan(capsys, "--fresh-account"))
    assert "<summary>Bootstrap (fresh account)</summary>" in markdown
    assert "⏳ waiting (image, model)" in markdown


def test_plans_without_the_section_render_nothing_for_it() -> None:
    assert bootstrap.render_text({"resources": []}) == []
    assert bootstrap.render_markdown({"resources": []}) == ""


@pytest.mark.parametrize(
    ("model_uri", "signature_uri"),
    [
        ("s3://registry/models/m/3/model.onnx", "s3://registry/models/m/3/signature.json"),
        (
            '"$(pulumi stack output model_registry_uri)/m/3/model.onnx"',
            '"$(pulumi stack output model_registry_uri)/m/3/signature.json"',
        ),
    ],
)
def test_the_signature_goes_beside_the_model_whether_the_registry_is_known_or_a_shell_expression(
    model_uri: str, signature_uri: str
) -> None:
    from hybrid_ai_platform.components.inference_service import ModelArtifacts

    # GIVEN a model version not published yet, in an account whose registry is known or not yet created
    artifacts = ModelArtifacts(image="i", image_checked=True, model_uri=model_uri, missing=("model",))
    # THEN the commands upload model.onnx to its URI and signature.json beside it (same directory, same quoting)
    assert artifacts.model_publish_commands() == [
        f"aws s3 cp model.onnx {model_uri}",
        f"aws s3 cp signature.json {signature_uri}",
    ]
