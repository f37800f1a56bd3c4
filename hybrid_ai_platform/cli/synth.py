"""Offline synthesis: run the real Pulumi program under the mock runtime and record a plan.

:func:`synthesize` loads ``stacks/Pulumi.<stack>.yaml``, runs the stack program exactly as
``pulumi up`` would run it (same entry point, same config keys), with
``pulumi.runtime.set_mocks`` standing in for the engine. A recording resource monitor keeps
what the engine would receive for each resource: URN, type, name, parent, provider
reference, options, full input properties, dependencies and property dependencies. The
engine's default providers are added for resources that name no explicit provider, with the
inputs the engine would give them from the stack config.

Each synthesis runs in its own thread, so its Pulumi settings (context variables) and event
loop never leak into another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import hashlib
import importlib
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

from .bootstrap import section as bootstrap_section
from .mocks import FRESH_ACCOUNT, AccountState, PlanMocks
from .process_settings import SharedSetting

PLAN_FORMAT_VERSION = 1
"""Version of the plan JSON document; bumped on incompatible changes."""


def find_project_root(start: Path | None = None) -> Path:
    """The Pulumi project directory: the nearest directory at or above ``start`` holding ``Pulumi.yaml``.

    ``start`` defaults to the current directory, which is also returned when no directory above it holds a
    ``Pulumi.yaml`` (reading the stack files then reports the missing project file).
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    return here


PROJECT_ROOT = find_project_root()
"""The project directory found from the current directory when the module is imported (see
:func:`find_project_root`); the CLI's ``--root`` overrides it."""


class PlanError(Exception):
    """A user error while synthesizing (unknown stack, bad config): print it, exit 2."""


@dataclass
class RecordedResource:
    """One resource as the engine would have received it."""

    urn: str
    type: str
    name: str
    custom: bool
    id: str | None = None
    parent: str | None = None
    provider: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The resource as it appears in ``plan --format json``."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "id": self.id,
            "parent": self.parent,
            "provider": self.provider,
            "options": self.options,
            "inputs": self.inputs,
            "dependencies": self.dependencies,
            "property_dependencies": self.property_dependencies,
        }


_SECRET_SIG = rpc._special_sig_key
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"


_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def _file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks (a Lambda layer is tens of MB, and functions share it); remembered
    for the file's identity, size, modification and status-change times (a reproducible build pins the
    mtime, not the ctime), so a file shared by many resources is read once per change."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    # hashed under the lock: resources registering at once on the runtime's threads (every function shares the
    # layer) wait for the first reader instead of each reading the file again
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(key)
        if known is None:
            with path.open("rb") as stream:
                known = _DIGESTS[key] = hashlib.file_digest(stream, "sha256").hexdigest()
    return known


def _plain(value: Any, root: Path) -> Any:
    """Turn deserialized Pulumi values into deterministic JSON.

    Assets and archives become their path (relative to ``root``) and SHA-256; secrets are
    masked as ``{"secret": "[secret]"}`` so a plan never carries a secret in clear.
    """
    if isinstance(value, dict):
        if rpc.is_rpc_secret(value):
            return {"secret": "[secret]"}
        return {str(k): _plain(v, root) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_plain(v, root) for v in value]
    if isinstance(value, pulumi.FileArchive | pulumi.FileAsset):
        path = Path(value.path)
        kind = "archive" if isinstance(value, pulumi.FileArchive) else "asset"
        digest = _file_sha256(path) if path.is_file() else None
        shown = str(path.resolve().relative_to(root)) if path.resolve().is_relative_to(root) else str(path)
        return {kind: {"path": shown, "sha256": digest}}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": {"text": value.text}}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {"assets": {k: _plain(v, root) for k, v in sorted(value.assets.items())}}}
    if isinstance(value, pulumi.Resource):
        return {"resource": getattr(value, "_name", "?")}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock resource monitor that also records every registration request."""

    def __init__(self, mocks: pulumi_mocks.Mocks, root: Path) -> None:
        super().__init__(mocks)
        self.root = root
        self.recorded: dict[str, RecordedResource] = {}
        self.stack_outputs: dict[str, Any] = {}
        self.bootstrap: dict[str, dict[str, Any]] = {}
        """Components' ``bootstrap`` outputs by URN (the plan's ``bootstrap`` section)."""
        self.on_record: Callable[[RecordedResource], None] | None = None
        """Called with each resource as it is recorded (in the thread that registers it); defaults to None."""
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine makes them: the parent's whole type chain, the stack left out."""
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != "pulumi:pulumi:Stack":
                type_ = f"{parent_type}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        pulumi_mocks._ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object) if request.type != "pulumi:pulumi:Stack" else {}
        property_dependencies = {
            key: sorted(set(deps.urns)) for key, deps in sorted(request.propertyDependencies.items()) if deps.urns
        }
        implicit = {urn for urns in property_dependencies.values() for urn in urns}
        dependencies = sorted(set(request.dependencies))
        options: dict[str, Any] = {
            "protect": bool(request.protect),
            "ignore_changes": sorted(request.ignoreChanges),
            "depends_on": sorted(set(dependencies) - implicit),
        }
        if request.deleteBeforeReplace:
            options["delete_before_replace"] = True
        if request.replaceOnChanges:
            options["replace_on_changes"] = sorted(request.replaceOnChanges)
        if request.retainOnDelete:
            options["retain_on_delete"] = True
        if request.additionalSecretOutputs:
            options["additional_secret_outputs"] = sorted(request.additionalSecretOutputs)
        if request.importId:
            options["import"] = request.importId
        if request.customTimeouts.create or request.customTimeouts.update or request.customTimeouts.delete:
            options["custom_timeouts"] = {
                "create": request.customTimeouts.create,
                "update": request.customTimeouts.update,
                "delete": request.customTimeouts.delete,
            }
        record = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            id=response.id or None,
            parent=request.parent or None,
            provider=request.provider or None,
            options=options,
            inputs=_plain(inputs, self.root),
            dependencies=dependencies,
            property_dependencies=property_dependencies,
        )
        with self._lock:
            self.recorded[response.urn] = record
        if self.on_record is not None:
            self.on_record(record)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        pulumi_mocks._ensure_event_loop()
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = _plain(rpc.deserialize_properties(request.outputs), self.root)
        elif "bootstrap" in request.outputs.fields:
            outputs = _plain(rpc.deserialize_properties(request.outputs), self.root)
            with self._lock:
                self.bootstrap[request.urn] = outputs["bootstrap"]
        return empty_pb2.Empty()


@dataclass
class StackFiles:
    """The project and stack files a synthesis reads."""

    project: str
    stack: str
    config: dict[str, Any]
    """Raw stack config: ``namespace:key`` → parsed value."""


def available_stacks(root: Path = PROJECT_ROOT) -> list[str]:
    """Stack names with a ``stacks/Pulumi.<name>.yaml`` file."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml"))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate mapping keys (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(
                    None, None, f"a mapping key must be a scalar, not {type(key).__name__}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1}); keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_yaml_file(path: Path, label: str) -> Any:
    """Parse a YAML file strictly (UTF-8, no duplicate keys); raise :class:`PlanError` naming ``label``."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{label} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise PlanError(f"{label}: cannot read ({exc.strerror})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise PlanError(f"{label}{where}: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise PlanError(f"{label} is not valid YAML: {exc}") from None


def read_stack_files(stack: str, root: Path = PROJECT_ROOT, overrides: dict[str, Any] | None = None) -> StackFiles:
    """Read ``Pulumi.yaml`` and ``stacks/Pulumi.<stack>.yaml``; raise :class:`PlanError` for an absent
    or malformed file (not UTF-8, not YAML, duplicate keys, not a mapping, keys without a namespace)."""
    project_file = root / "Pulumi.yaml"
    if not project_file.is_file():
        raise PlanError(f"no Pulumi.yaml in {root}; run blueprint from the project root or pass --root")
    project_doc = load_yaml_file(project_file, "Pulumi.yaml")
    if not isinstance(project_doc, dict) or not isinstance(project_doc.get("name"), str) or not project_doc["name"]:
        raise PlanError("Pulumi.yaml: 'name' must be the project name (a non-empty string)")
    project = project_doc["name"]
    stack_file = root / "stacks" / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = ", ".join(available_stacks(root)) or "none"
        raise PlanError(f"unknown stack '{stack}': there is no stacks/Pulumi.{stack}.yaml (stacks: {known})")
    label = f"stacks/Pulumi.{stack}.yaml"
    document = load_yaml_file(stack_file, label)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise PlanError(f"{label}: the top level must be a mapping with a 'config:' key, not {type(document).__name__}")
    raw_config = document.get("config")
    if raw_config is None:
        raw_config = {}
    if not isinstance(raw_config, dict):
        raise PlanError(
            f"{label}: 'config' must be a mapping of '<namespace>:<key>: value', not {type(raw_config).__name__}"
        )
    bad_keys = [k for k in raw_config if not isinstance(k, str)]
    if bad_keys:
        raise PlanError(f"{label}: config key {bad_keys[0]!r} is not a string; write keys as '{project}:<key>'")
    config = dict(raw_config)
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    for key in config:
        if ":" not in key:
            raise PlanError(f"stacks/Pulumi.{stack}.yaml: config key '{key}' needs a namespace ('{project}:{key}')")
    return StackFiles(project=project, stack=stack, config=config)


def _config_strings(config: dict[str, Any]) -> dict[str, str]:
    """Config values as the engine hands them to the program: strings, objects as JSON."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise PlanError(f"config '{key}' is an encrypted secret; the offline plan needs no secrets, remove it")
        out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def _default_provider(record: RecordedResource, files: StackFiles) -> RecordedResource | None:
    """The engine's default provider of ``record``; None when it names its provider or needs none."""
    if not record.custom or record.provider or record.type.startswith("pulumi:"):
        return None
    package = record.type.split(":")[0]
    version = _package_version(package)
    name = "default_" + version.replace(".", "_") if version else "default"
    urn = f"urn:pulumi:{files.stack}::{files.project}::pulumi:providers:{package}::{name}"
    inputs = {k.split(":", 1)[1]: v for k, v in sorted(files.config.items()) if k.startswith(f"{package}:")}
    if version:
        inputs["version"] = version
    return RecordedResource(
        urn=urn,
        type=f"pulumi:providers:{package}",
        name=name,
        custom=True,
        id=hashlib.sha256(urn.encode()).hexdigest()[:32],
        options={"protect": False, "ignore_changes": [], "depends_on": [], "default": True},
        inputs=inputs,
    )


def _default_providers(monitor: RecordingMonitor, files: StackFiles) -> None:
    """Add the engine's default providers for resources that name no explicit provider."""
    for record in list(monitor.recorded.values()):
        provider = _default_provider(record, files)
        if provider is None:
            continue
        if provider.urn not in monitor.recorded:
            monitor.recorded[provider.urn] = provider
        record.provider = f"{provider.urn}::{monitor.recorded[provider.urn].id}"


def _stack_urn(files: StackFiles) -> str:
    return f"urn:pulumi:{files.stack}::{files.project}::pulumi:pulumi:Stack::{files.project}-{files.stack}"


ResourceListener = Callable[[dict[str, Any], dict[str, Any] | None], None]
"""Called with a resource's JSON as the plan shows it and its provider resource's JSON (or None)."""


def _planned(record: RecordedResource, files: StackFiles, provider: str | None) -> dict[str, Any]:
    """``record``'s JSON as :func:`synthesize` finishes it: parented to the stack, with ``provider``."""
    parent = record.parent
    if parent is None and record.type != "pulumi:pulumi:Stack":
        parent = _stack_urn(files)
    return dataclasses.replace(record, parent=parent, provider=provider).to_json()


def _streamer(monitor: RecordingMonitor, files: StackFiles, listener: ResourceListener) -> None:
    """Hand each resource the program registers to ``listener`` as the plan will show it, with its provider."""

    def offer(record: RecordedResource) -> None:
        default = _default_provider(record, files)
        if default is not None:
            provider: RecordedResource | None = default
            reference: str | None = f"{default.urn}::{default.id}"
        else:
            reference = record.provider
            with monitor._lock:
                provider = monitor.recorded.get(reference.rsplit("::", 1)[0]) if reference else None
        shown = _planned(provider, files, provider.provider) if provider is not None else None
        listener(_planned(record, files, reference), shown)

    monitor.on_record = offer


@functools.cache
def _package_version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(f"pulumi_{package}")
    except metadata.PackageNotFoundError:
        return None


@dataclass
class Plan:
    """A synthesized stack: every resource the engine would see."""

    project: str
    stack: str
    config: dict[str, Any]
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)
    """Sections added by later stages (policies, cost), rendered after ``outputs``."""
    warnings: list[str] = field(default_factory=list)
    """What the program logged with ``pulumi.log.warn`` (``pulumi up`` prints these); not part
    of the plan document."""

    def to_json(self) -> dict[str, Any]:
        """The plan document, sorted so that equal programs give byte-identical output."""
        document: dict[str, Any] = {
            "format_version": PLAN_FORMAT_VERSION,
            "project": self.project,
            "stack": self.stack,
            "config": {k: self.config[k] for k in sorted(self.config)},
            "resources": [r.to_json() for r in sorted(self.resources, key=lambda r: r.urn)],
            "outputs": self.outputs,
        }
        document.update(self.extras)
        return document

    def dumps(self) -> str:
        """Canonical JSON text of :meth:`to_json`."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


Program = Callable[[], None]


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def _program_logger(into: list[str]) -> logging.Logger:
    """A private logger for the mock engine: the program's warnings and errors go to ``into``."""
    logger = logging.getLogger(f"hybrid_ai_platform.cli.synth.program.{id(into)}")
    logger.propagate = False
    logger.handlers = [_Collect(into)]
    logger.setLevel(logging.WARNING)
    return logger


async def _stack_outputs(root: Path) -> dict[str, Any]:
    """The values exported with ``pulumi.export``; secrets are shown as ``[secret]``, never in clear."""
    from pulumi.runtime.settings import get_root_resource

    stack = get_root_resource()
    exported: dict[str, Any] = dict(getattr(stack, "outputs", {}) or {})
    result: dict[str, Any] = {}
    for key in sorted(exported):
        output = pulumi.Output.from_input(exported[key])
        if await output.is_secret():
            result[key] = "[secret]"
        else:
            result[key] = _plain(await output.future(), root)
    return result


def project_program(root: Path) -> Program:
    """The project's own stack program, ``stacks/program.py``'s ``main`` under ``root``, as ``pulumi up`` runs it.

    The program is the project's code, not the library's: its ``stacks`` package is imported from ``root``
    (first on ``sys.path`` while it is imported). Raises :class:`PlanError` when ``root`` has no stack program or a
    ``stacks`` package from another directory is already imported in this process.
    """
    program_file = root / "stacks" / "program.py"
    if not program_file.is_file():
        raise PlanError(f"no stack program in {root}: blueprint plans the project's stacks/program.py (main())")
    loaded = sys.modules.get("stacks")
    loaded_file = getattr(loaded, "__file__", None) if loaded else None
    if loaded_file and Path(loaded_file).resolve().parent != program_file.resolve().parent:
        raise PlanError(
            f"this process already runs the stack program of {Path(loaded_file).parent.parent}; "
            f"plan {root} in a new process"
        )

    def run() -> None:
        if loaded is None:  # import the project's package with its directory first on the path, then restore it
            sys.path.insert(0, str(root.resolve()))
            try:
                importlib.import_module("stacks.program")
            finally:
                sys.path.remove(str(root.resolve()))
        importlib.import_module("stacks.program").main()

    return run


_GC_THRESHOLDS: SharedSetting[tuple[int, int, int]] = SharedSetting(gc.get_threshold, lambda t: gc.set_threshold(*t))


@contextlib.contextmanager
def no_full_collections() -> Iterator[None]:
    """Pause the garbage collector's automatic full (oldest-generation) collections inside the block.

    A synthesis imports provider modules and builds a large, long-lived object graph; each time that
    graph grows by a quarter the collector walks all of it, which costs more than the program itself
    (and grows with the stack: most of a ten-times stack's time). The young generations are still
    collected, so short-lived cycles (futures, tasks) are freed as before; the thresholds are restored
    when the last of any overlapping blocks ends (threads may synthesize at the same time).
    """
    with _GC_THRESHOLDS.held(lambda found: (found[0], found[1], 2**31 - 1)):
        yield


def _no_stack_trace() -> Any:
    from pulumi.runtime.proto import source_pb2

    return source_pb2.StackTrace()


_STACK_TRACES: SharedSetting[Callable[[], Any] | None] = SharedSetting(
    lambda: getattr(pulumi_resource, "_get_stack_trace", None),
    lambda found: setattr(pulumi_resource, "_get_stack_trace", found) if found is not None else None,
)


@contextlib.contextmanager
def no_source_positions() -> Iterator[None]:
    """Registrations inside the block carry no stack trace or source position.

    The Python SDK walks and formats the whole Python stack (``traceback.extract_stack``, which reads every
    frame's source line) for each resource it registers, so that the engine can point its messages at the
    program's line (``pulumi.runtime.resource._get_stack_trace``, sent as ``RegisterResourceRequest.stackTrace``
    and ``sourcePosition``). A plan records inputs, options and dependencies, never those positions, and the walks
    take about 0.3 s of the 1,808-resource benchmark stack's 5 s synthesis. The SDK's function is restored when the
    last overlapping block ends; an SDK without it is left as it is.
    """
    with _STACK_TRACES.held(lambda found: _no_stack_trace if found is not None else None):
        yield


@dataclass
class Recording:
    """What a program registered under the mock runtime (:func:`record_program`)."""

    monitor: RecordingMonitor
    """The monitor: ``recorded`` (resources by URN), ``bootstrap`` (components' bootstrap outputs)."""
    outputs: dict[str, Any]
    """The stack outputs (``pulumi.export``), secrets shown as ``[secret]``."""
    warnings: list[str]
    """What the program logged with ``pulumi.log.warn``."""


def record_program(
    program: Program,
    *,
    project: str,
    stack: str,
    config: dict[str, Any],
    root: Path,
    account: AccountState | None = None,
    watch: Callable[[RecordingMonitor], None] | None = None,
) -> Recording:
    """Run ``program`` under the mock runtime (:class:`PlanMocks`) in a thread of its own and record what it registers.

    ``config`` is the raw stack config (``namespace:key`` → value) the program reads; its ``aws:region``
    (default ``us-east-1``) is the region of the mocked answers. ``watch`` is called with the recording monitor
    before the program runs (defaults to None). Exceptions the program raises are re-raised here.
    """
    region = str(config.get("aws:region") or "us-east-1")
    result: dict[str, Any] = {}
    warnings: list[str] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            pulumi.runtime.set_all_config(_config_strings(config), [])
            monitor = RecordingMonitor(PlanMocks(region, account), root)
            if watch is not None:
                watch(monitor)
            pulumi.runtime.set_mocks(
                monitor.mocks,
                project=project,
                stack=stack,
                preview=True,
                monitor=monitor,
                logger=_program_logger(warnings),
            )
            from pulumi.runtime.stack import run_pulumi_func

            _sync_await(run_pulumi_func(program))
            outputs = _sync_await(_stack_outputs(root))
            result["recording"] = Recording(
                monitor=monitor, outputs=outputs or monitor.stack_outputs, warnings=warnings
            )
        except BaseException as exc:
            result["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"synth-{stack}")
    with no_full_collections(), no_source_positions():
        thread.start()
        thread.join()
    if "error" in result:
        raise result["error"]
    recording: Recording = result["recording"]
    return recording


def synthesize(
    stack: str,
    root: Path = PROJECT_ROOT,
    program: Program | None = None,
    overrides: dict[str, Any] | None = None,
    account: AccountState | None = None,
    *,
    on_resource: ResourceListener | None = None,
) -> Plan:
    """Run the stack program under mocks and return its :class:`Plan`.

    ``overrides`` replaces stack config keys (``namespace:key`` → value; None removes the
    key), which tests use to change one field at a time. ``account`` is what the mocked account
    already holds; it defaults to the steady state (every model artifact published), and
    ``mocks.FRESH_ACCOUNT`` gives a first deploy. ``on_resource`` is called, from the synthesis's threads,
    with each resource the program registers, as the plan will show it, and its provider resource (or None),
    so that its analysis can start while the program still runs (defaults to None). Raises :class:`PlanError`
    for an unknown stack and ``hybrid_ai_platform.config.ConfigError`` for bad config; any other exception is
    a bug.
    """
    files = read_stack_files(stack, root, overrides)
    recording = record_program(
        program or project_program(root),
        project=files.project,
        stack=files.stack,
        config=files.config,
        root=root,
        account=account,
        watch=None if on_resource is None else lambda monitor: _streamer(monitor, files, on_resource),
    )
    monitor = recording.monitor
    _default_providers(monitor, files)
    stack_urn = _stack_urn(files)
    for record in monitor.recorded.values():
        if record.parent is None and record.type != "pulumi:pulumi:Stack":
            record.parent = stack_urn
    return Plan(
        project=files.project,
        stack=files.stack,
        config=files.config,
        resources=list(monitor.recorded.values()),
        outputs=recording.outputs,
        warnings=recording.warnings,
        extras={
            "bootstrap": bootstrap_section(
                monitor.bootstrap,
                monitor.recorded.values(),
                "fresh account" if account == FRESH_ACCOUNT else "published" if account is None else "custom",
            )
        },
    )
