"""Bad input never passes silently: malformed stack files and plan files exit 2 with one message
that names the file and the place (line, or JSON path), never a traceback, nothing half-done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import BASE_PLAN, plan_pair, run_cli

from hybrid_ai_platform.cli.synth import PROJECT_ROOT

# --------------------------------------------------------------------------- stack files

BAD_STACK_FILES: dict[str, tuple[bytes, str]] = {
    "duplicate key": (
        b"config:\n  aws:region: eu-west-1\n  aws:region: eu-west-2\n",
        "(line 3, column 3): duplicate key 'aws:region' (first at line 2)",
    ),
    "nested duplicate key": (
        b"config:\n  hybrid-ai-platform:tags:\n    owner: a\n    owner: b\n",
        "(line 4, column 5): duplicate key 'owner' (first at line 3)",
    ),
    "top level is a list": (b"- config\n", "the top level must be a mapping with a 'config:' key, not list"),
    "top level is a string": (b"hello\n", "the top level must be a mapping with a 'config:' key, not str"),
    "config is a list": (b"config: [1, 2]\n", "'config' must be a mapping of '<namespace>:<key>: value', not list"),
    "config is a number": (b"config: 3\n", "'config' must be a mapping of '<namespace>:<key>: value', not int"),
    "integer key": (b"config:\n  1: x\n", "config key 1 is not a string"),
    "boolean key": (b"config:\n  true: x\n", "config key True is not a string"),
    "list key": (b"config:\n  ? [a]\n  : x\n", "(line 2, column 5): a mapping key must be a scalar, not list"),
    "not utf-8": (b"config:\n  aws:region: \xff\n", "is not UTF-8 text (byte 22)"),
    "unclosed flow": (b"config:\n  aws:region: [eu\n", "(line 3, column 1): expected ',' or ']'"),
    "key without namespace": (b"config:\n  region: eu-west-1\n", "config key 'region' needs a namespace"),
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with the real Pulumi.yaml and program, and no stack files yet."""
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    return tmp_path


@pytest.mark.parametrize("case", sorted(BAD_STACK_FILES))
def test_a_malformed_stack_file_exits_2_naming_the_file_and_the_place(
    case: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stack file that is malformed in one way
    content, expected = BAD_STACK_FILES[case]
    (project / "stacks" / "Pulumi.bad.yaml").write_bytes(content)
    # WHEN it is planned
    code, out, err = run_cli(capsys, "--root", str(project), "plan", "--stack", "bad")
    # THEN one error line names the file and the problem, with exit 2, no traceback and no output
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith("blueprint: error: stacks/Pulumi.bad.yaml"), err
    assert expected in err, err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"runtime: python\n", "Pulumi.yaml: 'name' must be the project name"),
        (b"- a\n", "Pulumi.yaml: 'name' must be the project name"),
        (b"name: a\nname: b\n", "Pulumi.yaml (line 2, column 1): duplicate key 'name'"),
    ],
)
def test_a_malformed_project_file_exits_2(
    content: bytes, expected: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a bad Pulumi.yaml and a stack file
    (project / "Pulumi.yaml").write_bytes(content)
    (project / "stacks" / "Pulumi.dev.yaml").write_text("config: {}\n")
    # WHEN planned THEN exit 2 with the problem named
    code, _, err = run_cli(capsys, "--root", str(project), "plan", "--stack", "dev")
    assert code == 2
    assert expected in err, err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- plan files


def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    document, _ = plan_pair()
    node: Any = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return document


BAD_PLANS: dict[str, tuple[Any, str]] = {
    "cost total is a string": (_mutate(["cost", "total_monthly"], "x"), "$.cost.total_monthly: 'x' is not of type"),
    "cost resources not a list": (_mutate(["cost", "resources"], {}), "$.cost.resources: {} is not of type 'array'"),
    "cost line monthly is text": (
        _mutate(["cost", "resources", 0, "monthly"], "12"),
        "$.cost.resources[0].monthly: '12' is not of type",
    ),
    "policies is a list": (_mutate(["policies"], []), "$.policies: [] is not of type 'object'"),
    "violation enforcement unknown": (
        _mutate(["policies", "violations", 0, "enforcement"], "hard"),
        "$.policies.violations[0].enforcement: 'hard' is not one of",
    ),
    "violation without message": (
        _mutate(["policies", "violations", 0], {"policy": "p"}),
        "$.policies.violations[0]: 'message' is a required property",
    ),
    "policy entry without name": (_mutate(["policies", "policies", 0], {}), "$.policies.policies[0]: 'name' is a"),
    "resource inputs a list": (_mutate(["resources", 3, "inputs"], [1]), "$.resources[3].inputs: [1] is not of type"),
    "resource urn a number": (_mutate(["resources", 2, "urn"], 7), "$.resources[2].urn: 7 is not of type 'string'"),
    "resource without type": (_mutate(["resources", 1], {"urn": "u"}), "$.resources[1]: 'type' is a required"),
    "property dependencies not lists": (
        _mutate(["resources", 4, "property_dependencies"], {"bucket": "urn"}),
        "$.resources[4].property_dependencies.bucket: 'urn' is not of type 'array'",
    ),
    "config a list": (_mutate(["config"], ["a"]), "$.config: ['a'] is not of type 'object'"),
    "resources missing": (_mutate(["resources"], None), "$.resources: None is not of type 'array'"),
    "wrong format version": (_mutate(["format_version"], 2), "$.format_version: 1 was expected"),
    "stack empty": (_mutate(["stack"], ""), "$.stack: '' should be non-empty"),
    "top level a list": ([], "$: [] is not of type 'object'"),
    "checks violations not a list": (_mutate(["checks"], {"violations": 3}), "$.checks.violations: 3 is not of type"),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_a_wrong_shape_plan_is_rejected_with_the_json_path_of_the_first_problem(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a plan document wrong in one section
    document, expected = BAD_PLANS[case]
    head = tmp_path / "head.json"
    head.write_text(json.dumps(document))
    # WHEN it is diffed against a good plan
    code, out, err = run_cli(capsys, "diff", str(BASE_PLAN), str(head))
    # THEN nothing is half-diffed: exit 2, no output, the JSON path in the message
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert expected in err, err


def test_a_plan_with_a_repeated_urn_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document, _ = plan_pair()
    document["resources"].append(dict(document["resources"][5]))
    (tmp_path / "p.json").write_text(json.dumps(document))
    code, _, err = run_cli(capsys, "diff", str(BASE_PLAN), str(tmp_path / "p.json"))
    assert code == 2
    assert f"$.resources: URN {document['resources'][5]['urn']!r} appears more than once" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"stack": "\xff"}', "not UTF-8 text (byte 11)"),
        (b"[" * 5000 + b"]" * 5000, "JSON nested deeper than 64 levels"),
        (b'{"a": ' * 100 + b"1" + b"}" * 100, "JSON nested deeper than 64 levels"),
        (b"{", "not valid JSON (line 1"),
        (b"", "not valid JSON (line 1"),
    ],
)
def test_unreadable_plan_files_exit_2(
    content: bytes, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.json").write_bytes(content)
    code, out, err = run_cli(capsys, "diff", str(BASE_PLAN), str(tmp_path / "p.json"))
    assert (code, out) == (2, "")
    assert expected in err, err
    assert "Traceback" not in err


def test_a_directory_as_plan_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "diff", str(BASE_PLAN), str(tmp_path))
    assert code == 2
    assert "is a directory" in err


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a valid plan whose output values hold many brackets inside strings (a deep-looking IAM JSON)
    document, _ = plan_pair()
    document["outputs"]["note"] = "[" * 500 + '\\"{' * 100
    (tmp_path / "p.json").write_text(json.dumps(document))
    # WHEN diffed THEN it is accepted
    code, _, err = run_cli(capsys, "diff", str(BASE_PLAN), str(tmp_path / "p.json"))
    assert code == 0, err
