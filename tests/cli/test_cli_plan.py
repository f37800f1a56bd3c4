"""``blueprint plan``: deterministic JSON, clear user errors (exit 2, no traceback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_helpers import run_cli

from tests.plan_helpers import link_stack_program

REPO = Path(__file__).resolve().parents[2]


def _plan_json(seed: str) -> bytes:
    env = dict(os.environ, PYTHONHASHSEED=seed, NO_COLOR="1")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hybrid_ai_platform.cli",
            "plan",
            "--stack",
            "dev",
            "--format",
            "json",
            "--no-fail-on-violations",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def test_plan_json_is_byte_identical_across_runs() -> None:
    # GIVEN two separate processes with different hash seeds
    first, second = _plan_json("1"), _plan_json("2")
    # THEN the documents are byte-identical
    assert first == second
    assert first.startswith(b'{\n  "format_version": 1,')


def _broken_root(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    link_stack_program(root)
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    for stack_file in (REPO / "stacks").glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, root / "stacks" / stack_file.name)
    document = yaml.safe_load((root / "stacks" / "Pulumi.dev.yaml").read_text())
    document["config"]["hybrid-ai-platform:preprocessing"]["functions"][0]["memory_mb"] = "lots"
    (root / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    return root


def test_bad_config_exits_2_with_the_field_named_and_no_traceback(tmp_path: Path, capsys) -> None:
    # GIVEN a copy of the project whose dev stack has a non-numeric Lambda memory size
    root = _broken_root(tmp_path)
    # WHEN planned
    code, out, err = run_cli(capsys, "--root", str(root), "plan", "--stack", "dev")
    # THEN exit 2, one error naming the field, no traceback, nothing on stdout
    assert code == 2
    assert out == ""
    assert err.startswith("blueprint: error:") and "memory_mb" in err
    assert "Traceback" not in err


def test_unknown_stack_exits_2_listing_the_known_stacks(capsys) -> None:
    code, _, err = run_cli(capsys, "plan", "--stack", "nope")
    assert code == 2
    assert "unknown stack 'nope'" in err and "dev" in err


@pytest.mark.parametrize("argv", [["plan"], ["diff", "only-one.json"], ["plan", "--stack", "dev", "-f", "yaml"]])
def test_usage_errors_exit_2(capsys, argv) -> None:
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and "usage:" in err


def test_text_colour_follows_tty_and_no_color(monkeypatch) -> None:
    from hybrid_ai_platform.cli.main import use_color

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color("text", None, Tty())  # type: ignore[arg-type]
    assert not use_color("text", "out.txt", Tty())  # type: ignore[arg-type]
    assert not use_color("json", None, Tty())  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color("text", None, Tty())  # type: ignore[arg-type]
