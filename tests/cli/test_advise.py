"""``blueprint advise``, the chart outputs, and the PR comment's placement advice (docs/placement.md)."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hybrid_ai_platform.policies.placement import ClusterAssumptions, FunctionProfile, advise_function

from hybrid_ai_platform.cli import advise
from hybrid_ai_platform.cli.diff import diff_plans
from hybrid_ai_platform.cli.main import main
from hybrid_ai_platform.cli.report import jsondoc, markdown, text
from hybrid_ai_platform.cli.synth import PROJECT_ROOT

DATA = Path(__file__).parent / "data"
SVG = "{http://www.w3.org/2000/svg}"


def test_advise_dev_text_table(capsys: pytest.CaptureFixture[str]) -> None:
    # dev: transactions 50,000 requests of 1,500 ms, 1024 MB arm64 in eu-west-1 (stacks/Pulumi.dev.yaml).
    # Lambda: 50,000 x (0.2e-6 + 1.5 x 1 x 0.0000133334) = 50,000 x 0.0000202001 = $1.01.
    # Cluster (defaults): spot m7i.large 0.1120 x 0.40 = 0.0448/h -> 32.704 a node-month; fixed 0.1 x 0.112 x 730 =
    # 8.176; first step 40.88; break-even 40.88 / 0.0000202001 = 2,023,752 (one node carries 2 x 0.7 x 2,628,000
    # / 1.5 = 2,452,800 requests, so it is on the first step).
    assert main(["--root", str(PROJECT_ROOT), "advise", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("transactions"))
    assert row.split() == ["transactions", "50,000", "lambda", "$1.01", "lambda", "$1.01", "2,023,752"]


def test_advise_json_and_measured_power_tuning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tuning = tmp_path / "tuning.json"
    tuning.write_text(json.dumps({"results": {"power": "512", "cost": 1e-7, "duration": 300.0}}), encoding="utf-8")
    args = ["--root", str(PROJECT_ROOT), "advise", "--stack", "dev", "-f", "json"]
    args += ["--measured", f"transactions={tuning}"]
    assert main(args) == 0
    entry = json.loads(capsys.readouterr().out)["functions"][0]
    # 50,000 x (0.2e-6 + 0.3 x 0.5 x 0.0000133334) = 50,000 x 0.00000220001 = $0.11
    assert entry["usage"]["memory_mb"] == 512 and entry["usage"]["duration_ms"] == 300
    assert entry["monthly"]["lambda"] == 0.11
    assert entry["calibrated_from"] == [str(tuning)]


@pytest.mark.parametrize(
    ("measured", "message"),
    [
        ("transactions", "--measured 'transactions': write FUNCTION=FILE"),
        ("nosuch={file}", "no preprocessing function 'nosuch' in stack dev (functions: transactions)"),
        ("transactions={missing}", "cannot read the file"),
        ("transactions={file}", "neither AWS Lambda Power Tuning output"),
    ],
)
def test_advise_bad_measured_exits_2_with_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], measured: str, message: str
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"something": 1}', encoding="utf-8")
    value = measured.format(file=other, missing=tmp_path / "missing.json")
    assert main(["--root", str(PROJECT_ROOT), "advise", "--stack", "dev", "--measured", value]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


BIG = FunctionProfile("big", requests_per_month=50_000_000, duration_ms=1000, memory_mb=2048, architecture="arm64")


def test_mermaid_xychart_has_one_line_per_placement_and_names_the_break_even() -> None:
    advice = advise_function(BIG, ClusterAssumptions(spot_price_per_hour=0.05), "us-east-1")
    chart = advise.mermaid_chart(advice)
    lines = chart.splitlines()
    assert lines[0] == "xychart-beta"
    labels = re.fullmatch(r"    x-axis \[(.*)\]", lines[2])
    assert labels and len(labels.group(1).split(", ")) == 11
    series = [line for line in lines if line.startswith("    line [")]
    assert len(series) == 3 and all(len(s.split(", ")) == 11 for s in series)
    # x runs to twice the larger of 50M and the break-even: 100M in 10 steps; Lambda at 10M is 10M x a = 268.67
    assert series[0].split(", ")[1] == "268.67"
    assert "break-even 1.63M requests/month" in lines[1]
    assert re.fullmatch(r'    y-axis "USD per month" 0 --> \d+', lines[3])


def test_svg_chart_parses_and_marks_the_break_even(tmp_path: Path) -> None:
    advice = advise_function(BIG, ClusterAssumptions(spot_price_per_hour=0.05), "us-east-1")
    [path] = advise.write_charts(tmp_path / "chart.svg", [advice])
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    lines = root.findall(f"{SVG}polyline")
    assert [e.get("data-placement") for e in lines] == ["lambda", "lambda-provisioned", "cluster"]
    assert all(len(e.get("points", "").split()) == 41 for e in lines)
    marker = root.find(f"{SVG}line[@class='break-even']")
    assert marker is not None
    # x axis 70..620 px for 0..100M requests: 1,632,438.55 requests sits at 70 + 550 x 0.0163 = 79.0
    assert float(marker.get("x1", "0")) == pytest.approx(70 + 550 * 1_632_438.55 / 100_000_000, abs=0.1)
    assert any("break-even 1,632,439" in (t.text or "") for t in root.iter(f"{SVG}text"))


def _plan_with(requests: int, placement: str = "lambda") -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(json.loads((DATA / "base.json").read_text(encoding="utf-8")))
    config = document["config"]
    config["hybrid-ai-platform:preprocessing"] = {
        "functions": [{"name": "orders", "memory_mb": 1024, "architecture": "arm64", "placement": placement}]
    }
    usage = config.setdefault("hybrid-ai-platform:usage", {})
    usage["functions"] = {"orders": {"requests_per_month": requests, "average_duration_ms": 1000}}
    return document


def test_pr_comment_shows_a_break_even_crossing() -> None:
    # eu-central-1, 1024 MB arm64, 1 s: a = 0.2e-6 + 1 x 1 x 0.0000133334 = 0.0000135334 per request.
    # Cluster (defaults): spot 0.1210 x 0.40 = 0.0484/h -> 35.332 a node-month, fixed 0.1 x 0.121 x 730 = 8.833.
    # (first step 35.332 + 8.833 = 44.165, printed $44.16: the float sum is 44.16499...)
    # Base 1,000,000 requests: Lambda $13.53 < cluster $44.16 (1 node). Head 3,500,000: peak 1.3318/s, pods
    # ceil(1.3318 / 0.7) = 2, 1 node: $44.16 < Lambda 3.5M x a = $47.37. Break-even 44.165 / 0.0000135334 = 3,263,408.
    diff = diff_plans(_plan_with(1_000_000), _plan_with(3_500_000))
    comment = markdown.render_diff([diff])
    assert (
        "`orders` crosses its break-even point (3,263,408 requests/month): 1,000,000 → 3,500,000 requests/month; "
        "the cheaper side moves from lambda to cluster (Lambda on-demand $47.37 vs cluster $44.16 per month at the "
        "new rate)"
    ) in comment
    # Lambda $47.37 is (47.37 - 44.17) / 44.17 = 7% over the cluster: under the 20% threshold, not reported
    assert "💸" not in comment
    assert "Placement: `orders` crosses" in text.render_diff([diff])


def test_json_diff_carries_the_placement_facts_the_comment_states() -> None:
    # the crossing of test_pr_comment_shows_a_break_even_crossing: 1,000,000 -> 3,500,000 requests/month,
    # Lambda $13.53 -> $47.37 (3.5M x 0.0000135334), cluster $44.16 at the head rate, break-even 3,263,408
    diff = diff_plans(_plan_with(1_000_000), _plan_with(3_500_000))
    section = json.loads(jsondoc.render_diff([diff]))["stacks"][0]["placement"]
    assert section["threshold_percent"] == 20
    [entry] = section["functions"]
    assert entry["function"] == "orders"
    assert entry["placement"] == {"before": "lambda", "after": "lambda"}
    assert entry["monthly"] == {"before": 13.53, "after": 47.37}
    assert entry["requests_per_month"] == {"before": 1_000_000, "after": 3_500_000}
    assert entry["cheapest"] == {"placement": "cluster", "monthly": 44.16}
    assert entry["break_even_requests_per_month"] == 3_263_408
    assert entry["cheaper_side"] == {"before": "lambda", "after": "cluster"} and entry["crossed_break_even"] is True
    # unrounded (47.3669 - 44.165) / 44.165 = 7.25%, 7.2 to one decimal: under the 20% threshold, so the only
    # message is the crossing, as in the comment
    assert entry["overspend_percent"] == 7.2
    assert [(c["kind"], c["function"]) for c in section["changes"]] == [("crossing", "orders")]
    assert section["changes"][0]["message"] in markdown.render_diff([diff])


def test_json_diff_reports_a_function_moved_to_the_cluster_and_nothing_for_an_untouched_one() -> None:
    # 7,000,000 requests: Lambda $94.73, cluster 2 nodes $79.50 (see the costlier test below); moving the
    # function to the cluster makes its placement the cheapest: a placement change without a crossing
    base, head = _plan_with(7_000_000), _plan_with(7_000_000, placement="cluster")
    section = diff_plans(base, head).to_json()["placement"]
    [entry] = section["functions"]
    assert entry["placement"] == {"before": "lambda", "after": "cluster"}
    assert entry["monthly"] == {"before": 94.73, "after": 79.5}
    assert entry["crossed_break_even"] is False and entry["overspend_percent"] == 0
    # 79.50 - 94.73 = -15.23 a month; the comment says the same, in the same words
    message = (
        "`orders` moves from lambda to cluster: $94.73 → $79.50 per month (-$15.23); "
        "the cheapest is cluster at $79.50/month"
    )
    assert section["changes"] == [{"kind": "moved", "function": "orders", "message": message}]
    assert f"🚚 {message}" in markdown.render_diff([diff_plans(base, head)])
    # an unchanged function is not the change's to report
    assert diff_plans(head, head).to_json()["placement"] == {"threshold_percent": 20, "functions": [], "changes": []}


def test_json_diff_placement_is_null_when_a_side_cannot_be_priced() -> None:
    head = _plan_with(1_000_000)
    head["config"]["hybrid-ai-platform:usage"]["cluster"] = {"node_type": "m9z.huge"}  # no price for it
    assert diff_plans(_plan_with(1_000_000), head).to_json()["placement"] is None


def test_pr_comment_reports_a_costlier_placement_over_the_threshold() -> None:
    # Head 7,000,000 requests: Lambda 7M x 0.0000135334 = $94.73; peak 2.6636/s, pods ceil(3.805) = 4, 2 nodes:
    # 2 x 35.332 + 8.833 = $79.50; Lambda is (94.73 - 79.50) / 79.50 = 19% costlier: under 20%, reported at 10%
    base, head = _plan_with(1_000_000), _plan_with(7_000_000)
    assert "💸" not in markdown.render_diff([diff_plans(base, head)])
    head["config"]["hybrid-ai-platform:usage"]["placement_threshold_percent"] = 10
    changes = advise.placement_changes(base, head)
    costlier = [c for c in changes if c.kind == "costlier"]
    assert [c.message for c in costlier] == [
        "`orders` on lambda costs $94.73/month, 19% more than cluster at $79.50/month (threshold 10%)"
    ]
    # nothing changed for the function: nothing to report, whatever its overspend
    assert advise.placement_changes(head, head) == []
