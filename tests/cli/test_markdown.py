"""The sticky PR comment: marker, summary first, details collapsed, GitHub's size limit."""

from __future__ import annotations

from cli_helpers import by_name, clone, plan_pair

from hybrid_ai_platform.cli.diff import diff_plans
from hybrid_ai_platform.cli.report import render_diff
from hybrid_ai_platform.cli.report.markdown import GITHUB_COMMENT_LIMIT, MARKER, size


def test_comment_starts_with_the_marker_and_the_summary_row() -> None:
    text = render_diff("markdown", [diff_plans(*plan_pair())])
    lines = text.splitlines()
    assert lines[0] == MARKER
    row = next(line for line in lines if line.startswith("| `prod`"))
    assert row == "| `prod` | 1 | 5 | 1 | 2 | 24 | $3,688.68 | $5,578.42 | +$1,889.74 | 3 (⛔ 3 blocking) | 1 |"
    assert text.index("| `prod`") < text.index("<details")
    assert "```mermaid" in text and "Truncated" not in text


def _huge_pair(copies: int = 400):
    base, head = plan_pair()
    function = by_name(base, "transactions-function")
    for i in range(copies):  # many changed functions, each with a long property change
        old = clone(function)
        old["urn"] = old["urn"] + f"-{i:04d}"
        old["name"] = f"fn-{i:04d}"
        new = clone(old)
        new["inputs"]["description"] = "x" * 300 + str(i)
        base["resources"].append(old)
        head["resources"].append(new)
    return base, head


def test_an_oversized_comment_drops_details_from_the_bottom_keeps_the_summary_and_says_so() -> None:
    # GIVEN a diff whose full report is far above GitHub's limit
    result = diff_plans(*_huge_pair())
    full = render_diff("markdown", [result])  # fit() is applied inside; compare with a larger limit
    from hybrid_ai_platform.cli.report.markdown import render_diff as markdown_diff

    untruncated = markdown_diff([result], limit=10_000_000)
    assert size(untruncated) > GITHUB_COMMENT_LIMIT
    # WHEN rendered for GitHub
    text = full
    # THEN it fits, keeps the marker and the summary, says it truncated, and keeps the top details
    assert size(text) <= GITHUB_COMMENT_LIMIT
    assert text.startswith(MARKER)
    assert "| `prod` | 1 | 405 | 1 | 2 |" in text
    assert "**Truncated:**" in text and "detail items are not shown" in text
    assert "Architecture (prod)" in text  # the diagram section is near the top, it survives
    assert "more not shown (truncated)" in text
    assert text.count("<details") == text.count("</details>")  # no half-open blocks
