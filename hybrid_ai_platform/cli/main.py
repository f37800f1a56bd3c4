"""blueprint: offline plan of a stack with policies and cost, diffs, and the local PR check.

Commands:
  plan --stack S      synthesize a stack offline, evaluate the policy pack and the system checks,
                      estimate the cost
                      (--fresh-account: the first deploy, before any model artifact is published)
  diff BASE HEAD      compare two ``plan --format json`` documents
  pr-check --base REF plan every stack at REF and at the working tree (or --head REF) and diff
  preflight --stack S compare the stack's quota and prerequisite needs with the AWS account
                      (read-only calls with your credentials; the only command that reaches AWS)
  policy-config --stack S
                      print (--write: write) policies/config/<S>.json, derived from the stack file and
                      policies/guardrails/<environment>.json (--check: exit 1 when the file is stale)
  advise --stack S    price each preprocessing function on Lambda and on the cluster, its cheapest
                      placement and break-even rate (--chart FILE.svg, --measured FUNCTION=FILE)
  stacks              list the shipped stacks

Formats (``--format``): text (coloured on a terminal unless NO_COLOR is set), json, markdown
(the sticky PR comment), sarif (GitHub code scanning), junit (test reports).

Exit codes: 0 success; 1 unexcepted mandatory policy violations or system-check findings (``plan``
and ``pr-check`` by default, ``diff`` with ``--fail-on-violations``; ``preflight`` when a quota or
prerequisite is short); 2 user error (unknown stack, bad config, missing build, missing or invalid
file, unknown git ref, no AWS credentials); anything else is a bug and prints a
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import itertools
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from hybrid_ai_platform.components.preprocessing import PackageError
from hybrid_ai_platform.config import ConfigError

from .advise import AdviseInputError
from .analyzer import PolicyConfigError
from .checks import CheckInputError, warmed
from .diff import DiffInputError, StackDiff, diff_plans, load_plan
from .mocks import FRESH_ACCOUNT
from .plandoc import PlanDocument
from .prcheck import PrCheckError, add_policies_and_cost, pr_check
from .preflight import PreflightError
from .quotas import add_quotas, stack_config
from .report import FORMATS, render_diff, render_plan
from .synth import PROJECT_ROOT, PlanError, StackFiles, available_stacks, no_full_collections, synthesize

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2


class OutputError(Exception):
    """The output file cannot be written: exit 2."""


def use_color(fmt: str, output: str | None, stream: TextIO | None = None) -> bool:
    """Colour only for text on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    stream = stream or sys.stdout
    return fmt == "text" and not output and stream.isatty() and not os.environ.get("NO_COLOR")


def _emit(text: str, output: str | None) -> None:
    if output:
        path = Path(output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    else:
        sys.stdout.write(text)


def _warn(notes: Sequence[str]) -> None:
    for note in notes:
        print(f"blueprint: warning: {note}", file=sys.stderr)


NOTED_FORMATS = {"plan": ("text", "markdown"), "diff": ("text", "json", "markdown")}
"""Formats whose report carries the notes itself: on standard output they are not repeated on stderr."""


def _warn_unless_shown(notes: Sequence[str], kind: str, fmt: str, output: str | None) -> None:
    """Notes go to stderr once: only when the report does not show them on the terminal already."""
    if output or fmt not in NOTED_FORMATS[kind]:
        _warn(notes)


def _progress(message: str) -> None:
    """A progress line on a terminal's stderr (never in pipes, files or tests), so a first plan is not silent."""
    if sys.stderr.isatty():
        print(f"blueprint: {message}...", file=sys.stderr, flush=True)


def plan_document(stack: str, root: Path, fresh_account: bool = False) -> tuple[PlanDocument, list[str]]:
    """The enriched plan document of a stack (typed; ``to_json()`` is ``plan --format json``) and the
    notes about missing stages.

    ``fresh_account`` plans the first deploy: no model artifact is published yet, so the
    workloads that wait for them are absent (defaults to false: the steady state).
    """
    _progress(f"running the stack program of '{stack}' offline (mock runtime)")
    pack = EarlyPolicyPack(stack, root)  # its process starts and imports while the program synthesizes
    # so do the system checks' probe processes (only for a config that validates: else synthesis stops at once)
    warm = warmed(root, pack.files.config, pack.files.project) if pack.available and pack.files else None
    with warm or contextlib.nullcontext():
        try:
            plan = synthesize(
                stack,
                root=root,
                account=FRESH_ACCOUNT if fresh_account else None,
                on_resource=pack.offer if pack.available else None,
            )
            _warn([f"program: {w}" for w in plan.warnings])
            document = PlanDocument.from_json(plan.to_json())  # typed from here to the renderers
            _progress(
                f"{len(plan.resources)} resources; evaluating the policy pack and system checks, estimating the cost"
            )
            notes = add_policies_and_cost(document, stack, root, pack=pack if pack.available else None)
        finally:
            pack.close()
    add_quotas(document)
    return document, notes


STREAM_BATCH = 32
"""Resources :meth:`EarlyPolicyPack.offer` hands the pack at a time."""
HELPER_FROM_RESOURCES = 1000
"""Registered resources from which a plan starts a second pack process, to share ``AnalyzeStack`` (see
``PolicyPackProcess.analyze``): from the 50-function stack's 1,808 resources it takes ~0.2 s off the plan (6.34 to
6.16 s, medians of 6 side by side); on prod's 250 the start-up would cost more than it saves."""
HELPER_WAIT_SECONDS = 2.0
"""How long the analysis waits for a helper still starting when the program ends; then it runs without it (the
helper is stopped when the pack is closed)."""


class EarlyPolicyPack:
    """The stack's policy pack process, started in a background thread before synthesis.

    The pack's environment (``pack_env``) needs only the stack's config and project, which the stack
    files give before the program runs, so the pack's start-up (a Python process importing Pulumi and
    the policies) overlaps synthesis instead of following it. Errors are deferred: a pack that fails to
    start raises its ``PolicyPackError`` from :meth:`analyze`, where a pack started after synthesis would
    have raised it, so a bad stack or config still reports first. ``available`` is false when the pack
    cannot be started early at all (no analyzer module, unreadable stack files) or the stack's config
    does not validate (synthesis then stops with the config error, and no process was started for
    nothing): the caller then runs the pack the usual way.

    Once up, the pack is configured and analyzes the resources :meth:`offer` hands it while the program
    still registers them, as the engine does (``PolicyPackProcess.stream``); :meth:`analyze` then reuses
    those diagnostics for the resources the finished plan shows unchanged.
    """

    def __init__(self, stack: str, root: Path) -> None:
        import queue

        self._process: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._offered: queue.SimpleQueue[Any] = queue.SimpleQueue()
        """Batches of ``(resource, provider, call or None)`` for the stream's thread; None ends the stream."""
        self._batch: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        self._batch_lock = threading.Lock()
        self._stopping = False
        self._count = itertools.count(1)
        self._helper: Any = None
        self._helper_thread: threading.Thread | None = None
        self._pack_dir = root / "policies"
        self._env: dict[str, str] = {}
        self.files: StackFiles | None = None
        """The stack's files, when they could be read (else synthesis reports why)."""
        try:
            from .analyzer import PolicyPackProcess, pack_env, stack_policy_config
            from .analyzer.config import engine_config
            from .synth import read_stack_files

            files = read_stack_files(stack, root)
        except (ImportError, PlanError):
            return
        self.files = files
        try:  # a config the program will refuse needs no pack: don't start a process only to stop it
            from .quotas import config_from_stack_config

            config_from_stack_config(stack, files.config)
        except Exception:  # synthesis reports the same problem, with its full message
            return
        config = {key: files.config[key] for key in sorted(files.config)}
        env = self._env = pack_env({"config": config, "project": files.project}, stack)

        def start() -> None:
            try:
                self._process = PolicyPackProcess(self._pack_dir, env=env)
            except BaseException as exc:  # re-raised by analyze(), in the caller's thread
                self._error = exc
                return
            try:
                policy_config, _ = stack_policy_config(stack, config, root)
            except Exception:  # analyze() reports it, where a pack started after synthesis would
                return
            stack_config = engine_config(config)
            offered = (item for batch in iter(self._offered.get, None) for item in batch if not self._stopping)
            self._process.stream(offered, files.project, stack, stack_config, policy_config)

        self._thread = threading.Thread(target=start, name=f"policy-pack-{stack}", daemon=True)
        self._thread.start()

    def _start_helper(self) -> None:
        from .analyzer import PolicyPackProcess

        try:
            self._helper = PolicyPackProcess(self._pack_dir, env=self._env)
        except BaseException:  # the pack process alone gives the same result
            self._helper = None

    @property
    def available(self) -> bool:
        """Whether a pack process is being started (else the caller starts one itself)."""
        return self._thread is not None

    def offer(self, resource: dict[str, Any], provider: dict[str, Any] | None) -> None:
        """Hand the pack a resource the program registered, as the plan shows it, with its provider resource.

        Called from the program's threads. Resources go to the pack in batches of :data:`STREAM_BATCH`: once the
        pack is configured, their ``Analyze`` calls are sent from here (the program's thread holds the interpreter
        lock; a hand-off to the stream's thread would wait for it), and the stream's thread collects the answers.
        One hand-off per batch, not per resource: each wakes the stream's thread, which then takes the interpreter
        lock from the program (with :data:`~.analyzer.process.STREAM_IN_FLIGHT` raised to match, batching took about
        0.4 s off the scale benchmark's synthesis)."""
        with self._batch_lock:
            self._batch.append((resource, provider))
            if len(self._batch) >= STREAM_BATCH:
                self._hand_over()
        if next(self._count) == HELPER_FROM_RESOURCES and self._error is None and not self._stopping:  # large
            self._helper_thread = threading.Thread(target=self._start_helper, name="policy-pack-helper", daemon=True)
            self._helper_thread.start()

    def _hand_over(self, send: bool = True) -> None:
        """Send the batch's ``Analyze`` calls (if ``send`` and the pack is configured) and queue it for the stream's
        thread, which sends what was not; called with the batch lock held, so batches reach the stream in the order
        they were offered."""
        process = self._process
        sending = send and process is not None and not self._stopping
        batch = []
        for resource, provider in self._batch:
            sent = None
            if sending and process.streaming.is_set():  # a failed stream clears it: send no more
                try:
                    sent = process.send(resource, provider)
                except Exception:  # never the program's failure: the stream sends it again and reports what fails
                    sending = False
            batch.append((resource, provider, sent))
        self._batch = []
        self._offered.put(batch)

    def _end_stream(self) -> None:
        """End the stream (the program has ended, or the plan is being closed): the last, partial batch goes to the
        stream's thread unsent, then the end of the stream."""
        with self._batch_lock:
            if self._batch:
                self._hand_over(send=False)
            self._offered.put(None)

    def _wait(self) -> Any:
        self._end_stream()  # the program has finished: the stream ends after what it registered
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._process

    def analyze(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """``PolicyPackProcess.analyze`` on the early process (waiting for it to be up), with the helper process
        when one was started."""
        process = self._wait()
        if self._helper_thread is not None:  # it has had the rest of the program's run to start: wait a little more
            self._helper_thread.join(HELPER_WAIT_SECONDS)
        helper = None if self._helper_thread is None or self._helper_thread.is_alive() else self._helper
        return dict(process.analyze(*args, helper=helper, **kwargs))

    def close(self) -> None:
        """Stop the pack process, if it started."""
        self._stopping = True  # what is still offered is not analyzed
        self._end_stream()
        if self._thread is not None:
            self._thread.join()
        if self._process is not None:
            self._process.close()
            self._process = None
        if self._helper_thread is not None:
            self._helper_thread.join()
        if self._helper is not None:
            self._helper.close()
            self._helper = None


def _plan(args: argparse.Namespace) -> int:
    document, notes = plan_document(args.stack, args.root, fresh_account=args.fresh_account)
    _warn_unless_shown(notes, "plan", args.format, args.output)
    _emit(render_plan(args.format, document, color=use_color(args.format, args.output), notes=notes), args.output)
    return EXIT_VIOLATIONS if document.blocking and args.fail_on_violations else EXIT_OK


def _exit_for(diffs: Sequence[StackDiff], fail_on_violations: bool) -> int:
    blocking = sum(len(d.policies.blocking) for d in diffs)
    return EXIT_VIOLATIONS if blocking and fail_on_violations else EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    base, head = load_plan(args.base), load_plan(args.head)
    try:
        result = diff_plans(base, head, base_label=str(args.base), head_label=str(args.head))
    except DiffInputError as exc:
        raise DiffInputError(str(exc)) from None
    _warn_unless_shown(result.notes, "diff", args.format, args.output)
    color = use_color(args.format, args.output)
    _emit(render_diff(args.format, [result], color=color), args.output)
    return _exit_for([result], args.fail_on_violations)


def _pr_check(args: argparse.Namespace) -> int:
    stacks = [s.strip() for s in args.stacks.split(",") if s.strip()] if args.stacks else None
    result = pr_check(args.base, args.head, stacks, root=args.root, plans_dir=args.plans_dir)
    _warn_unless_shown(result.notes, "diff", args.format, args.output)
    color = use_color(args.format, args.output)
    _emit(render_diff(args.format, result.diffs, color=color, notes=result.notes), args.output)
    return _exit_for(result.diffs, args.fail_on_violations)


def _preflight(args: argparse.Namespace) -> int:
    # boto3 is imported inside hybrid_ai_platform.cli.preflight, only by the one command that calls AWS.
    from . import preflight

    config = stack_config(args.stack, args.root)
    result = preflight.run_preflight(args.stack, config, preflight.boto3_clients(config.region))
    render = preflight.render_json if args.format == "json" else preflight.render_text
    _emit(render(result), args.output)
    return EXIT_VIOLATIONS if result.short else EXIT_OK


def _policy_config(args: argparse.Namespace) -> int:
    from .policyconfig import derive_policy_config, render_policy_config
    from .synth import read_stack_files

    files = read_stack_files(args.stack, args.root)
    text = render_policy_config(derive_policy_config(args.stack, files.config, args.root))
    path = args.root / "policies" / "config" / f"{args.stack}.json"
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            print(
                f"blueprint: {path.relative_to(args.root)} is stale: run `blueprint policy-config --stack "
                f"{args.stack} --write` (or `make policy-config`)",
                file=sys.stderr,
            )
            return EXIT_VIOLATIONS
        return EXIT_OK
    _emit(text, str(path) if args.write else args.output)
    return EXIT_OK


def _stacks(args: argparse.Namespace) -> int:
    for name in available_stacks(args.root):
        print(name)
    return EXIT_OK


def _version() -> str:
    """The library's version (:data:`hybrid_ai_platform.__version__`, the one source)."""
    from hybrid_ai_platform import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="blueprint", description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--root",
        type=Path,
        default=PROJECT_ROOT,
        help="project directory holding Pulumi.yaml (default: the nearest one at or above the current directory)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def formats(command: argparse.ArgumentParser, default: str) -> None:
        command.add_argument("--format", "-f", choices=FORMATS, default=default, help=f"output format ({default})")
        command.add_argument("--output", "-o", help="write to this file instead of standard output")

    def fail_flag(command: argparse.ArgumentParser, default: bool, subject: str) -> None:
        command.add_argument(
            "--fail-on-violations",
            action=argparse.BooleanOptionalAction,
            default=default,
            help=f"exit 1 when {subject} unexcepted mandatory policy violations or blocking system-check findings "
            f"(default: {'on' if default else 'off'})",
        )

    plan = sub.add_parser("plan", help="synthesize a stack offline, evaluate policies and system checks, estimate cost")
    plan.add_argument("--stack", "-s", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    plan.add_argument(
        "--fresh-account",
        action="store_true",
        help="plan the first deploy: no image or model version published yet (default: all published)",
    )
    formats(plan, "text")
    fail_flag(plan, True, "the plan has")
    plan.set_defaults(handler=_plan)

    diff = sub.add_parser("diff", help="compare two `plan --format json` documents of one stack")
    diff.add_argument("base", type=Path, help="the base plan (JSON)")
    diff.add_argument("head", type=Path, help="the head plan (JSON)")
    formats(diff, "text")
    fail_flag(diff, False, "the head plan has")
    diff.set_defaults(handler=_diff)

    check = sub.add_parser("pr-check", help="plan and diff every stack between two git revisions (the PR comment)")
    check.add_argument("--base", required=True, help="git ref of the base (e.g. origin/main)")
    check.add_argument("--head", help="git ref of the head (default: the working tree, uncommitted changes included)")
    check.add_argument("--stacks", help="comma-separated stacks (default: every stack of the head)")
    check.add_argument("--plans-dir", type=Path, help="also keep the plans as DIR/{base,head}/<stack>.json")
    formats(check, "markdown")
    fail_flag(check, True, "a head stack has")
    check.set_defaults(handler=_pr_check)

    flight = sub.add_parser(
        "preflight", help="compare the stack's quota and prerequisite needs with the AWS account (read-only)"
    )
    flight.add_argument("--stack", "-s", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    flight.add_argument("--format", "-f", choices=("text", "json"), default="text", help="output format (text)")
    flight.add_argument("--output", "-o", help="write to this file instead of standard output")
    flight.set_defaults(handler=_preflight)

    policy = sub.add_parser(
        "policy-config",
        help="print the policy pack config derived from a stack file (--write: into policies/config/<stack>.json)",
    )
    policy.add_argument("--stack", "-s", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    mode = policy.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write policies/config/<stack>.json")
    mode.add_argument("--check", action="store_true", help="exit 1 when policies/config/<stack>.json is stale")
    mode.add_argument("--output", "-o", help="write to this file instead of standard output")
    policy.set_defaults(handler=_policy_config)

    from .advise import add_parser as add_advise_parser

    add_advise_parser(sub)

    stacks = sub.add_parser("stacks", help="list the shipped stacks")
    stacks.set_defaults(handler=_stacks)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``blueprint`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    # A plan's objects live until it is rendered: no full-heap collections meanwhile (see no_full_collections).
    paused = no_full_collections() if args.handler is _plan else contextlib.nullcontext()
    try:
        with paused:
            code: int = args.handler(args)
    except (
        PlanError,
        ConfigError,
        PackageError,
        DiffInputError,
        PrCheckError,
        OutputError,
        CheckInputError,
        PolicyConfigError,
        PreflightError,
        AdviseInputError,
    ) as exc:
        print(f"blueprint: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if argv is None:
        # The process's own command line (the console script, ``python -m``): it exits next. Frozen objects
        # are left out of the interpreter's final collections, which would otherwise walk the whole heap of
        # the plan and the provider modules once more (most of a second) only to free memory at exit.
        gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
