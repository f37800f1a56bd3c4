"""Test your own Pulumi program offline: run it under Pulumi's mock runtime and look at what it registers.

No Pulumi CLI, no cloud account and no credentials are needed. The mocked provider answers are the ones
``blueprint plan`` uses (ARNs in the given region and the fixed account ``123456789012``, deterministic
names), so a program that builds the library's components gets realistic resource ids and attributes::

    from hybrid_ai_platform.testing import run_program

    def program() -> None:
        GpuNodeGroup("gpu", GpuNodeGroupArgs(...))

    result = run_program(program, config={"aws:region": "eu-west-1"})
    (group,) = result.of_type("aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["taints"][0]["key"] == "nvidia.com/gpu"

Resources that are read rather than created (``aws.eks.Cluster.get(...)``) and provider function calls
(``aws.get_caller_identity()``) are answered by the mocks and not listed. Engine-side behaviour (default
providers, transforms registered with the engine, policy packs) is not applied.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cli.mocks import TEST_ACCOUNT, AccountState
from .cli.synth import PlanError, RecordedResource, load_yaml_file, record_program

__all__ = ["TEST_ACCOUNT", "MockedResource", "ProgramResult", "run_program", "run_project"]


@dataclass(frozen=True)
class MockedResource:
    """One resource the program registered, as the engine would have received it."""

    type: str
    """Pulumi type token, e.g. ``aws:eks/nodeGroup:NodeGroup`` or ``hybrid-ai:compute:GpuNodeGroup``."""
    name: str
    """Logical name."""
    urn: str
    """URN (``urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>``)."""
    parent: str | None
    """The parent's URN; a resource at the top of the program has the stack
    (``urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<project>-<stack>``) as its parent."""
    custom: bool
    """True for a provider resource, False for a component."""
    inputs: dict[str, Any]
    """Input properties as plain JSON values, with the provider's (camelCase) names; secrets are masked as
    ``{"secret": "[secret]"}`` and unknown values (known only after deployment) are absent."""
    options: dict[str, Any]
    """Resource options the engine receives: ``protect``, ``ignore_changes``, ``depends_on``, ..."""

    @classmethod
    def _of(cls, record: RecordedResource) -> MockedResource:
        return cls(
            type=record.type,
            name=record.name,
            urn=record.urn,
            parent=record.parent,
            custom=record.custom,
            inputs=record.inputs,
            options=record.options,
        )


@dataclass(frozen=True)
class ProgramResult:
    """What :func:`run_program` recorded."""

    resources: list[MockedResource]
    """Every registered resource, in URN order (the stack itself left out)."""
    outputs: dict[str, Any]
    """The program's ``pulumi.export`` values; secrets shown as ``[secret]``."""
    warnings: list[str]
    """What the program (or a component) logged with ``pulumi.log.warn``."""

    def of_type(self, type_: str) -> list[MockedResource]:
        """The resources of type token ``type_``, in URN order."""
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> MockedResource:
        """The one resource with logical name ``name``; KeyError when there is none or more than one."""
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}; names: {sorted(r.name for r in self.resources)}")
        return found[0]

    def children(self, parent: MockedResource) -> list[MockedResource]:
        """The resources whose parent is ``parent``."""
        return [r for r in self.resources if r.parent == parent.urn]


def run_program(
    program: Callable[[], None],
    *,
    config: Mapping[str, Any] | None = None,
    project: str = "test",
    stack: str = "test",
    root: Path | None = None,
    account: AccountState | None = None,
) -> ProgramResult:
    """Run ``program`` (a Pulumi program: a function that creates resources) under the mock runtime.

    ``config`` is the stack config the program reads with ``pulumi.Config``, keyed ``namespace:key``
    (``{"aws:region": "eu-west-1", "test:clusterName": "prod"}``); values that are not strings are passed as
    JSON, as the engine does. Defaults to none (the mocks then answer for ``us-east-1``). ``project`` and
    ``stack`` default to ``test``. ``root`` is the directory asset paths are shown relative to; defaults to the
    current directory. ``account`` is what the mocked account already holds (see
    :class:`hybrid_ai_platform.cli.mocks.AccountState`); defaults to every model artifact published.

    Exceptions the program raises (invalid Args, a failed look-up) propagate unchanged. Each call runs in its
    own thread with its own Pulumi settings, so calls do not affect each other.
    """
    recording = record_program(
        program,
        project=project,
        stack=stack,
        config=dict(config or {}),
        root=(root or Path.cwd()).resolve(),
        account=account,
    )
    resources = [
        MockedResource._of(record)
        for record in sorted(recording.monitor.recorded.values(), key=lambda r: r.urn)
        if record.type != "pulumi:pulumi:Stack"
    ]
    return ProgramResult(resources=resources, outputs=recording.outputs, warnings=list(recording.warnings))


def run_project(
    directory: Path,
    *,
    config: Mapping[str, Any] | None = None,
    stack: str = "test",
    account: AccountState | None = None,
) -> ProgramResult:
    """Run the Python Pulumi project in ``directory`` (its ``Pulumi.yaml`` and its ``main``, by default the
    directory's ``__main__.py``) under the mock runtime, as :func:`run_program` does.

    Config keys without a namespace belong to the project, as with ``pulumi config set``: ``{"clusterName":
    "prod"}`` is ``<project>:clusterName``. The program runs as ``pulumi up`` runs it: as ``__main__`` with its
    directory first on ``sys.path`` (restored afterwards). Asset paths are shown relative to ``directory``.
    Raises :class:`hybrid_ai_platform.cli.synth.PlanError` when ``directory`` holds no Pulumi project.
    """
    directory = Path(directory).resolve()
    project_file = directory / "Pulumi.yaml"
    if not project_file.is_file():
        raise PlanError(f"{directory} holds no Pulumi.yaml: pass the directory of a Pulumi project")
    project = load_yaml_file(project_file, "Pulumi.yaml")
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        raise PlanError(f"{project_file}: 'name' (the project name) is required")
    main = directory / str(project.get("main") or ".")
    namespaced = {key if ":" in key else f"{project['name']}:{key}": value for key, value in (config or {}).items()}

    def program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    return run_program(
        program, config=namespaced, project=project["name"], stack=stack, root=directory, account=account
    )
