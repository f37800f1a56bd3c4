"""Process management: start the pack as the language host does, read its port, speak the
analyzer protocol's calls in order (``Handshake`` ... ``AnalyzeStack``), stop it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from ._common import EXCEPTIONS_POLICY, RPC_TIMEOUT_SECONDS, STARTUP_TIMEOUT_SECONDS, PolicyPackError
from .config import configure_request, engine_config, reconcile_config
from .encoding import _analyze_request, _provider_of, _stack_resource
from .result import build_section

STREAM_IN_FLIGHT = 64
"""The stream's window: calls taken off the producer's items (sent by the producer, or by
:meth:`PolicyPackProcess.stream` itself) whose answers it has not collected, from which it awaits the oldest answer;
the pack serves 4 at a time. Two of ``blueprint plan``'s batches (``hybrid_ai_platform.cli.main.STREAM_BATCH``), so
that while the pack keeps up the stream's thread waits about once per batch, not once per call."""


def _only(config: Mapping[str, Any], reconciled: Mapping[str, Mapping[str, Any]], enabled: set[str]) -> dict[str, Any]:
    """The policy config ``config`` with every policy outside ``enabled`` disabled (the others as reconciled)."""
    result = dict(config)
    for name in reconciled:
        if name not in enabled:
            entry = result.get(name)
            result[name] = {**entry, "enforcementLevel": "disabled"} if isinstance(entry, Mapping) else "disabled"
    return result


def _pack_settings(pack_dir: Path) -> dict[str, Any]:
    manifest = pack_dir / "PulumiPolicy.yaml"
    if not manifest.is_file():
        raise PolicyPackError(f"{manifest} not found: the policy pack needs its PulumiPolicy.yaml")
    settings: dict[str, Any] = yaml.safe_load(manifest.read_text()) or {}
    return settings


def _python_for(pack_dir: Path, settings: Mapping[str, Any]) -> str:
    """The interpreter the language host would use: the ``virtualenv`` runtime option, else ours."""
    runtime = settings.get("runtime")
    options = runtime.get("options", {}) if isinstance(runtime, Mapping) else {}
    virtualenv = options.get("virtualenv") if isinstance(options, Mapping) else None
    if virtualenv:
        venv = Path(virtualenv)
        venv = venv if venv.is_absolute() else pack_dir / venv
        for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
            if candidate.exists():
                return str(candidate)
    return sys.executable


class PolicyPackProcess:
    """A running policy pack process and its analyzer client. Use as a context manager.

    One process serves any number of sequential runs (tests start it once per session).
    """

    def __init__(self, pack_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.pack_dir = pack_dir.resolve()
        self.settings = _pack_settings(self.pack_dir)
        self.name = str(self.settings.get("name") or "policy-pack")
        self.version = str(self.settings.get("version") or "0.0.0")
        python = _python_for(self.pack_dir, self.settings)
        process_env = dict(os.environ)
        process_env.update(env or {})
        process_env["PYTHONUNBUFFERED"] = "1"
        self._stderr: list[str] = []
        try:
            self.process = subprocess.Popen(
                [python, "-u", str(self.pack_dir)],
                cwd=self.pack_dir,
                env=process_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as exc:
            raise PolicyPackError(f"could not start the policy pack with {python}: {exc}") from None
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.port = self._read_port()
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{self.port}", options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)]
        )
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self._lock = threading.Lock()
        self._streamed: dict[str, tuple[Mapping[str, Any], Mapping[str, Any] | None, list[Any]]] = {}
        """Diagnostics of the resources :meth:`stream` analyzed, by URN, with the resource and provider sent."""
        self.streaming = threading.Event()
        """Set while :meth:`stream` runs on a configured pack: :meth:`send` may be called from other threads."""
        self._streamed_setup: tuple[Any, ...] | None = None
        """What :meth:`stream` configured the pack with (project, stack, stack config, policy config) and the
        analyzer info and reconciled config it got back."""

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)
            del self._stderr[:-200]

    def stderr_tail(self, lines: int = 30) -> str:
        """The last lines the pack wrote to stderr."""
        return "".join(self._stderr[-lines:]).strip()

    def _read_port(self) -> int:
        assert self.process.stdout is not None
        result: dict[str, str] = {}

        def read() -> None:
            assert self.process.stdout is not None
            result["line"] = self.process.stdout.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(STARTUP_TIMEOUT_SECONDS)
        line = result.get("line", "").strip()
        if not line.isdigit():
            self.close()
            time.sleep(0.05)
            detail = self.stderr_tail() or "(no output)"
            reason = "did not print its port" if reader.is_alive() else f"printed {line!r} instead of its port"
            raise PolicyPackError(
                f"policy pack {self.pack_dir} failed to start: it {reason} within {STARTUP_TIMEOUT_SECONDS:.0f} s.\n"
                f"{detail}\nRun `{sys.executable} -u {self.pack_dir}` to see the error."
            )
        return int(line)

    def close(self) -> None:
        """Stop the pack process (and close the channel)."""
        channel = getattr(self, "channel", None)
        if channel is not None:
            channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> PolicyPackProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- protocol -----------------------------------------------------------------------------

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=RPC_TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            return self._failed(method, exc)

    def _start(self, method: str, request: Any) -> Any:
        """Send a call without waiting for its answer; :meth:`_result` reads it."""
        return getattr(self.stub, method).future(request, timeout=RPC_TIMEOUT_SECONDS)

    def _result(self, method: str, call: Any) -> Any:
        """The response of a call started with ``future()``, or the same error as :meth:`_call`."""
        try:
            return call.result()
        except grpc.RpcError as exc:
            return self._failed(method, exc)

    def _failed(self, method: str, exc: grpc.RpcError) -> None:
        """None for a pack without ``Handshake`` (older packs); otherwise raise :class:`PolicyPackError`."""
        code = exc.code() if hasattr(exc, "code") else None
        if method == "Handshake" and code == grpc.StatusCode.UNIMPLEMENTED:
            return None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        raise PolicyPackError(f"policy pack {self.name} failed in {method}: {details}\n{self.stderr_tail()}") from None

    def analyze(
        self,
        plan_document: Mapping[str, Any],
        stack: str,
        config: Mapping[str, Any],
        config_file: str,
        helper: PolicyPackProcess | None = None,
    ) -> dict[str, Any]:
        """Run the whole protocol for one plan; return the ``policies`` section. ``helper``, another process of the
        same pack, takes half of the stack policies' ``AnalyzeStack`` work (defaults to None: this process alone;
        the result is the same)."""
        with self._lock:
            return self._analyze(plan_document, stack, config, config_file, helper)

    def send(self, resource: Mapping[str, Any], provider: Mapping[str, Any] | None) -> Any:
        """Send ``Analyze`` for a resource from the caller's thread, without waiting; hand the returned call to
        :meth:`stream` with the resource (only while :attr:`streaming` is set)."""
        return self._start("Analyze", _analyze_request(resource, provider))

    def stream(
        self,
        resources: Iterable[tuple[Mapping[str, Any], Mapping[str, Any] | None, Any]],
        project: str,
        stack: str,
        stack_config: Mapping[str, Any],
        config: Mapping[str, Any],
    ) -> None:
        """Analyze resources while the program still registers them, as the engine does in a preview.

        The engine calls ``Analyze`` for each resource as its registration arrives (``stepGenerator.generateSteps``
        in pkg/resource/deploy/step_generator.go sends every registered resource to each analyzer before its step
        is run: https://github.com/pulumi/pulumi/blob/master/pkg/resource/deploy/step_generator.go), once the pack
        is configured, which needs only the project and the stack's config. ``resources`` yields each resource as
        the plan document will show it, its provider resource (or None) and the call :meth:`send` made for it
        (or None: sent here), until it ends; the pack works on them in its own process while the program runs.
        :meth:`analyze` of the finished plan document with the same project, stack config and policy config then
        reuses each diagnostic whose resource and provider are equal to the ones sent here, and sends the rest;
        it alone reports errors (a failed call here stops the stream).
        """
        with self._lock:
            self._streamed, self._streamed_setup = {}, None
            stack_config = dict(stack_config)
            try:
                info, reconciled = self._configure(project, stack, stack_config, config)
            except PolicyPackError:
                for _ in resources:  # drain: the producer does not wait on a failed stream
                    pass
                return
            self._streamed_setup = (project, stack, stack_config, dict(config), info, reconciled)
            self.streaming.set()
            # Calls are pipelined: the producer sends what it registers itself, with send(), once the pack is
            # configured (the program's thread holds the GIL most of the time: a hand-off to this thread for each
            # call would wait for it, and the pack would fall behind); what it did not send is sent here, up to
            # STREAM_IN_FLIGHT before the oldest answer is awaited.
            in_flight: deque[tuple[Mapping[str, Any], Mapping[str, Any] | None, Any]] = deque()
            failed = False

            def collect() -> None:
                nonlocal failed
                resource, provider, call = in_flight.popleft()
                try:
                    diagnostics = self._result("Analyze", call).diagnostics
                except PolicyPackError:
                    failed = True
                    self.streaming.clear()  # the producer stops sending: analyze() sends what was not answered
                    return
                if not failed:
                    self._streamed[str(resource["urn"])] = (resource, provider, list(diagnostics))

            try:
                for resource, provider, sent in resources:
                    if failed:
                        continue  # drain: the producer does not wait on a failed stream
                    call = sent if sent is not None else self.send(resource, provider)
                    in_flight.append((resource, provider, call))
                    while len(in_flight) >= STREAM_IN_FLIGHT or (in_flight and in_flight[0][2].done()):
                        collect()
                while in_flight:
                    collect()
            finally:
                self.streaming.clear()

    def _configure(
        self, project: str, stack: str, stack_config: Mapping[str, str], config: Mapping[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        """``Handshake`` ... ``ConfigureStack``: the analyzer's info and the reconciled policy config."""
        self._call(
            "Handshake",
            analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address="", root_directory=str(self.pack_dir), program_directory=str(self.pack_dir)
            ),
        )
        self._call("GetPluginInfo", empty_pb2.Empty())
        info = self._call("GetAnalyzerInfo", empty_pb2.Empty())
        reconciled = reconcile_config(info, config)
        self._call("Configure", configure_request(reconciled))
        self._call(
            "ConfigureStack",
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=stack, project=project, organization="organization", dry_run=True, config=dict(stack_config)
            ),
        )
        return info, reconciled

    def _analyze_stack(
        self,
        request: Any,
        setup: tuple[str, str, Mapping[str, str], Mapping[str, Any], Any, Mapping[str, Mapping[str, Any]]],
        helper: PolicyPackProcess | None,
    ) -> list[Any]:
        """``AnalyzeStack``'s diagnostics; with a ``helper`` (another process of the same pack), its stack policies
        are shared between the two processes, which run at once.

        ``pulumi_policy`` converts every resource once per stack policy, so on a large stack AnalyzeStack is most
        of the pack's time after the program ends, on one core. The helper is configured with every other stack
        policy (by name) and this process with the rest, each through the protocol's ``Configure`` (the others
        ``disabled``: the servicer then skips them), both with ``policy-exceptions``, which reports the waived
        violations its own process recorded; its other findings (the exceptions file's audit) are the same in
        both and are kept once. This process is configured as before afterwards. A helper that fails leaves its
        share to this process, with the same result. ``setup`` is (project, stack, stack config, policy config,
        info, reconciled).
        """
        project, stack, stack_config, config, info, reconciled = setup
        shared = sorted(
            p.name
            for p in info.policies
            if p.policy_type == analyzer_pb2.POLICY_TYPE_STACK
            and p.name != EXCEPTIONS_POLICY
            and reconciled.get(p.name, {}).get("enforcementLevel") != "disabled"
        )
        if helper is None or len(shared) < 2:
            return list(self._call("AnalyzeStack", request).diagnostics)
        theirs = set(shared[0::2])
        try:
            with helper._lock:
                helper._configure(project, stack, stack_config, _only(config, reconciled, theirs | {EXCEPTIONS_POLICY}))
                their_call = helper._start("AnalyzeStack", request)
        except PolicyPackError:
            return list(self._call("AnalyzeStack", request).diagnostics)
        ours = self._analyze_stack_with(request, info, _only(config, reconciled, set(reconciled) - theirs), reconciled)
        try:
            their = list(helper._result("AnalyzeStack", their_call).diagnostics)
        except PolicyPackError:
            # Our policy-exceptions has drained the waivers recorded so far (the Analyze calls' among them): the
            # helper's share runs here, with policy-exceptions again for the waivers its policies record.
            their = self._analyze_stack_with(
                request, info, _only(config, reconciled, theirs | {EXCEPTIONS_POLICY}), reconciled
            )
        audit = {d.SerializeToString(deterministic=True) for d in ours if d.policyName == EXCEPTIONS_POLICY}
        return ours + [
            d
            for d in their
            if not (d.policyName == EXCEPTIONS_POLICY and d.SerializeToString(deterministic=True) in audit)
        ]

    def _analyze_stack_with(
        self, request: Any, info: Any, config: Mapping[str, Any], reconciled: Mapping[str, Mapping[str, Any]]
    ) -> list[Any]:
        """``AnalyzeStack`` under ``config``; the pack is configured with ``reconciled`` again afterwards. A failure to
        restore it is not reported: it would hide the call's own error, and every later use configures the pack
        (a stream, or an analysis that did not follow one)."""
        self._call("Configure", configure_request(reconcile_config(info, config)))
        try:
            return list(self._call("AnalyzeStack", request).diagnostics)
        finally:
            with contextlib.suppress(PolicyPackError):
                self._call("Configure", configure_request(reconciled))

    def _analyze(
        self,
        plan_document: Mapping[str, Any],
        stack: str,
        config: Mapping[str, Any],
        config_file: str,
        helper: PolicyPackProcess | None,
    ) -> dict[str, Any]:
        project = str(plan_document.get("project") or "project")
        stack_config = engine_config(plan_document.get("config"))
        streamed, setup = self._streamed, self._streamed_setup
        self._streamed, self._streamed_setup = {}, None
        if setup is not None and setup[:4] == (project, stack, stack_config, dict(config)):
            info, reconciled = setup[4], setup[5]
        else:
            streamed = {}
            info, reconciled = self._configure(project, stack, stack_config, config)
        resources = list(plan_document.get("resources") or [])
        by_urn = {r["urn"]: r for r in resources}
        diagnostics: list[Any] = []
        for resource in resources:
            provider = _provider_of(resource, by_urn)
            sent = streamed.get(resource["urn"])
            if sent is not None and sent[0] == resource and sent[1] == provider:
                diagnostics.extend(sent[2])
                continue
            diagnostics.extend(self._call("Analyze", _analyze_request(resource, provider)).diagnostics)
        stack_request = analyzer_pb2.AnalyzeStackRequest(resources=[_stack_resource(r, by_urn) for r in resources])
        setup = (project, stack, stack_config, dict(config), info, reconciled)
        diagnostics.extend(self._analyze_stack(stack_request, setup, helper))
        return build_section(self.name, self.version, config_file, info, reconciled, diagnostics, by_urn)
