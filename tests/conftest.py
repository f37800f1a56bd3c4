"""Shared fixtures: offline plans of the shipped stacks, synthesized once per test run."""

from __future__ import annotations

import fcntl
import functools
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from hypothesis import settings

from hybrid_ai_platform.cli.synth import Plan, synthesize

SHIPPED_STACKS = ("dev", "staging", "prod")

# Property tests assert what holds for every generated input, never how fast one example runs: Hypothesis's
# default 200 ms deadline per example turns a loaded CI machine into a failure (seen at load average 14).
settings.register_profile("blueprint", deadline=None)
settings.load_profile("blueprint")


def _run_directory(run: str) -> Path:
    """Where the xdist workers of test run ``run`` share the shipped plans."""
    return Path(tempfile.gettempdir()) / f"hybrid-ai-platform-test-plans-{run}"


@functools.cache
def shipped_plan(stack: str) -> Plan:
    """The plan of a shipped stack (cached: synthesis runs once per stack per test run).

    Under pytest-xdist the workers share it: the first worker that needs a stack's plan synthesizes it
    while the others wait for it, and they read it back (pickled) instead of synthesizing it again.
    Without xdist, or when the shared copy cannot be read or written, the process synthesizes it itself.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return synthesize(stack)
    directory = _run_directory(run)
    try:
        directory.mkdir(exist_ok=True)
        with open(directory / f"{stack}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            shared = directory / f"{stack}.pickle"
            if shared.is_file():
                plan: Plan = pickle.loads(shared.read_bytes())
                return plan
            plan = synthesize(stack)
            partial = shared.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(plan))
            partial.replace(shared)
            return plan
    except OSError:
        return synthesize(stack)


_RUNS: list[str] = []


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """(xdist controller) Remember the run's id, to remove the workers' shared plans at the end."""
    _RUNS.append(node.workerinput["testrunuid"])


def pytest_unconfigure(config: pytest.Config) -> None:
    for run in set(_RUNS):
        shutil.rmtree(_run_directory(run), ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def one_botocore_loader() -> Iterator[None]:
    """Every botocore session the tests create (theirs, and those the code under test creates for itself, e.g.
    the Lambda handler's and the system test's workloads') reads AWS's service models through one loader, so
    each model file is parsed once per process, not once per botocore session (0.1 to 0.3 s of JSON parsing per
    session). The loader only reads botocore's bundled data files: clients, requests and answers are the same."""
    shared = botocore.loaders.create_loader()

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        return shared if search_path_string is None else botocore.loaders.create_loader(search_path_string)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(botocore.session, "create_loader", create_loader)
        yield


@pytest.fixture(params=SHIPPED_STACKS)
def any_stack_plan(request: pytest.FixtureRequest) -> Plan:
    """Each shipped stack's plan in turn."""
    return shipped_plan(request.param)


@pytest.fixture
def prod_plan() -> Plan:
    """The prod stack's plan."""
    return shipped_plan("prod")


@pytest.fixture
def dev_plan() -> Plan:
    """The dev stack's plan."""
    return shipped_plan("dev")


PLACED_THRESHOLD = 10_000
"""``transactions``' size threshold in :func:`placed_prod_plan` (set, so tests do not restate the derivation;
the shipped samples, 2,829 and 21,523 bytes, fall on both sides of it)."""


@functools.cache
def placed_prod_plan() -> Plan:
    """prod with ``transactions`` on ``auto`` (threshold :data:`PLACED_THRESHOLD`) and ``transactions-backfill``
    on ``cluster`` (on the system nodes): one synthesis covers both placements, shared by the component tests
    and the system test of ``auto`` (cached per process)."""
    import copy

    preprocessing = copy.deepcopy(shipped_plan("prod").config["hybrid-ai-platform:preprocessing"])
    functions = {f["name"]: f for f in preprocessing["functions"]}
    functions["transactions"].update(
        placement="auto", size_threshold_bytes=PLACED_THRESHOLD, worker={"image_tag": "2026-11-28.1"}
    )
    functions["transactions-backfill"].update(
        placement="cluster", worker={"image_tag": "2026-11-28.1", "capacity": "system"}
    )
    return synthesize("prod", overrides={"hybrid-ai-platform:preprocessing": preprocessing})
