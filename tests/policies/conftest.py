"""Fixtures for the policy tests: one pack process per session, exception files, a fixed today."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hybrid_ai_platform.policies import exceptions

from hybrid_ai_platform.cli.analyzer import PolicyPackProcess
from hybrid_ai_platform.cli.synth import PROJECT_ROOT

TODAY = datetime.date(2025, 6, 1)


@pytest.fixture(scope="session")
def pack_process() -> Iterator[PolicyPackProcess]:
    """The real pack, started once for the session as the CLI starts it."""
    with PolicyPackProcess(PROJECT_ROOT / "policies", env={"BLUEPRINT_POLICIES_TODAY": TODAY.isoformat()}) as process:
        yield process


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the pack process runs on one xdist worker (``--dist loadgroup``): the pack starts once."""
    for item in items:
        if "pack_process" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("policy-pack"))


@pytest.fixture(autouse=True)
def fixed_today() -> Iterator[datetime.date]:
    """Exception expiry is judged against a fixed date in tests."""
    exceptions.set_today(TODAY)
    yield TODAY
    exceptions.set_today(None)


@pytest.fixture
def exceptions_file(tmp_path: Path):
    """Write an exceptions YAML file and return its absolute path."""

    def write(*entries: dict[str, object]) -> str:
        path = tmp_path / "exceptions.yaml"
        path.write_text(yaml.safe_dump({"exceptions": list(entries)}))
        return str(path)

    return write
