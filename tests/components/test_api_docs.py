"""docs/api.md is generated from the public API's docstrings and kept current."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import hybrid_ai_platform.components as public

from hybrid_ai_platform.cli.apidoc import members, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_api_reference_is_current() -> None:
    # GIVEN the committed reference WHEN regenerated from the docstrings THEN nothing changed
    stale = "docs/api.md is stale: run `python -m hybrid_ai_platform.cli.apidoc > docs/api.md`"
    assert DOC.read_text() == render(), stale


def test_reference_documents_every_public_name_and_every_args_field() -> None:
    text = render()
    for name in public.__all__:
        assert f"`{name}`" in text and f"(#{name.lower()})" in text, f"{name} is not documented"
    for name in [n for n in public.__all__ if dataclasses.is_dataclass(getattr(public, n))]:
        documented = [m.name for m in members(getattr(public, name))]
        assert documented == [f.name for f in dataclasses.fields(getattr(public, name))], name
    # a field with a default shows it; a required field says so; the docstring follows
    assert "| `noncurrent_version_expiration_days` | `int` | `90` | Expire noncurrent versions" in text
    assert "| `purpose` | `BucketPurpose` | **required** |" in text
    # a component shows its constructor and Pulumi type token
    assert "`GpuNodeGroup(name: str, args: GpuNodeGroupArgs, opts: pulumi.ResourceOptions | None = None)`" in text
    assert "Pulumi type: `hybrid-ai:compute:GpuNodeGroup`" in text


def test_every_args_field_documents_itself() -> None:
    undocumented = [
        f"{name}.{m.name}"
        for name in public.__all__
        if dataclasses.is_dataclass(getattr(public, name))
        for m in members(getattr(public, name))
        if not m.doc
    ]
    assert not undocumented, f"fields without a docstring: {undocumented}"
