"""The configuration reference in docs/ is generated from the models and kept current."""

from pathlib import Path

from hybrid_ai_platform.cli.configdoc import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_reference_is_current() -> None:
    # GIVEN the committed reference WHEN regenerated from the config models THEN nothing changed
    stale = "docs/configuration.md is stale: run `python -m hybrid_ai_platform.cli.configdoc > docs/configuration.md`"
    assert DOC.read_text() == render(), stale


def test_reference_documents_every_field_with_its_default() -> None:
    text = render()
    assert "| `timeout_seconds` | int | `120` |" in text
    assert "## `preprocessing.functions`" in text
    assert "| `monthly_limit_usd` | float | **required** |" in text
