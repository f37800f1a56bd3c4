"""The pull-request check, locally: plan every stack at two git revisions, add policies and
cost, diff them, render the sticky comment.

:func:`pr_check` creates a detached ``git worktree`` per git ref in a temporary directory
(always removed), runs the offline synthesis of each stack in a subprocess of this
interpreter with the worktree as ``--root`` and first on ``sys.path`` (so each side runs its
own program and components), then evaluates the policy pack and the cost model of *this*
checkout on both plans (one yardstick for both sides; each side's own
``policies/config/<stack>.json`` when it has one), and diffs base against head.

The Lambda build (``build/lambda/<arch>/manifest.json``) is not in git: a worktree without it
gets a copy of this checkout's ``build/lambda`` (hard links when possible), and a note says so.

:func:`add_policies_and_cost` is the same enrichment ``blueprint plan`` uses. When the policy
pack (``hybrid_ai_platform.cli.analyzer``) or the cost model (``hybrid_ai_platform.policies.cost``) is not installed,
it says so in the returned notes instead of silently leaving the section out.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .diff import StackDiff, diff_plans
from .layout import link_import_tree
from .plandoc import ChecksSection, CostSection, PlanDocument, PoliciesSection
from .process_settings import SharedSetting
from .synth import available_stacks

WORKING_TREE = "working tree"

_SYNTH_SCRIPT = """
import sys
from pathlib import Path
from hybrid_ai_platform.cli.synth import synthesize
root, stack, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
try:
    plan = synthesize(stack, root=root)
except Exception as exc:
    # the user errors of either side's code (the class names are the contract across revisions and layouts)
    if type(exc).__name__ not in {"PlanError", "ConfigError", "PackageError"}:
        raise
    print(exc, file=sys.stderr)
    sys.exit(2)
out.write_text(plan.dumps(), encoding="utf-8")
"""
"""Run in the worktree by the subprocess: ``root stack output-file``; exit 2 on a user error."""


class PrCheckError(Exception):
    """A user error in the PR check (bad ref, not a git repository, failed synthesis): exit 2."""


# --------------------------------------------------------------------------- policies and cost


def _optional(module: str, attribute: str) -> Callable[..., Any] | str:
    """``module.attribute``, or a sentence saying the module is not installed.

    Only the module's own absence is tolerated; an import error inside it is a bug and raised.
    """
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return f"{module} is not installed"
        raise
    function: Callable[..., Any] = getattr(loaded, attribute)
    return function


CONCURRENT_CHECKS_SWITCH_INTERVAL_SECONDS = 0.0005
"""CPython's thread switch interval while the system checks run beside the pack's calls (default 5 ms). The calls'
thread needs the interpreter lock only for moments, between waits for the pack, but waited up to the interval
each time for the checks' thread to yield it; the 50-function stack's analysis took as long with a second pack
process as without one."""


_SWITCH_INTERVAL: SharedSetting[float] = SharedSetting(sys.getswitchinterval, sys.setswitchinterval)
"""Overlapping analyses (pr-check analyzes stacks in threads at once) hold the short interval together."""


def add_policies_and_cost(document: PlanDocument, stack: str, root: Path, pack: Any = None) -> list[str]:
    """Add the ``policies``, ``checks``, ``cost`` and ``placement`` sections to a plan document in
    place; return notes.

    Policies: ``hybrid_ai_platform.cli.analyzer.run_policy_pack(document, stack, root)``. System checks:
    ``hybrid_ai_platform.cli.checks.run_checks(document, root)``. Cost:
    ``hybrid_ai_platform.policies.cost.estimate(resources, region, usage)`` with the region from
    ``aws:region`` and the usage from ``<project>:usage`` in the plan's config. ``pack`` is a pack
    process already started for this stack (anything with ``analyze``); defaults to ``None``: one is
    started for the run.
    """
    from .checks import run_checks

    notes: list[str] = []
    _refuse_unpriced(document, stack)
    run_policy_pack = _optional("hybrid_ai_platform.cli.analyzer", "run_policy_pack")
    if isinstance(run_policy_pack, str):
        notes.append(f"policies not evaluated: the policy pack is absent ({run_policy_pack})")
        document.checks = ChecksSection.from_json(run_checks(document, root))
    else:
        # The pack works in its own process: its last calls (the resources not yet analyzed, AnalyzeStack) run
        # while this process runs the system checks, which read the resources and the config, never the
        # policies section. A checks error is raised first, as when the two ran one after the other.
        # The pack (a separate process, or another revision's) reads the plan as JSON.
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"policy-pack-{stack}") as executor,
            _SWITCH_INTERVAL.held(lambda _: CONCURRENT_CHECKS_SWITCH_INTERVAL_SECONDS),
        ):
            policies = executor.submit(run_policy_pack, document.to_json(), stack, root, pack=pack)
            try:
                checks = ChecksSection.from_json(run_checks(document, root))
            except BaseException:
                policies.cancel()
                if pack is not None and hasattr(pack, "close"):
                    pack.close()  # its calls fail at once instead of running to the end (an early pack only)
                concurrent.futures.wait([policies])
                raise
            document.policies = PoliciesSection.from_json(policies.result())
        document.checks = checks
        notes.extend(_guardrails_notes(document, root))
    estimate = _optional("hybrid_ai_platform.policies.cost", "estimate")
    if isinstance(estimate, str):
        notes.append(f"cost not estimated: the cost model is absent ({estimate})")
    else:
        usage = document.stack_config("usage") or {}
        region = document.region or "us-east-1"
        resources = [r.to_json() for r in document.resources]  # the cost model lives in the pack: JSON
        document.cost = CostSection.from_json(estimate(resources, region, usage))
        from .advise import add_placement

        notes.extend(add_placement(document))
    return notes


def _refuse_unpriced(document: PlanDocument, stack: str) -> None:
    """Raise ``ConfigError`` naming the field when the stack's region or an instance type it runs has no
    price in the cost model's table: an estimate that prices it at $0 (or at another region's prices)
    would be silently wrong, and the budget policy would judge a wrong number."""
    price_table = _optional("hybrid_ai_platform.policies.cost", "price_table")
    if isinstance(price_table, str):
        return
    from hybrid_ai_platform.config import ConfigError

    from .quotas import config_from_stack_config

    config = config_from_stack_config(stack, dict(document.config or {}))
    table = price_table()
    where = "policies/blueprint_policies/data/prices.json"
    prices = table["regions"].get(config.region)
    if prices is None:
        raise ConfigError(
            stack,
            [
                f"aws:region: '{config.region}' has no prices in {where} (priced: {', '.join(table['regions'])}); "
                "add the region's prices there (with their source) to plan this stack"
            ],
        )
    groups = [("cluster.system_node_group.instance_types", config.cluster.system_node_group.instance_types)] + [
        (f"cluster.gpu_node_groups[{i}].instance_types", g.instance_types)
        for i, g in enumerate(config.cluster.gpu_node_groups)
    ]
    problems = [
        f"{field}: '{t}' has no {config.region} price in {where}; add its On-Demand hourly price (with the source) "
        "so the estimate is not silently $0"
        for field, types in groups
        for t in types
        if t not in prices["ec2_hour"]
    ]
    if problems:
        raise ConfigError(stack, problems)


def _guardrails_notes(document: PlanDocument, root: Path) -> list[str]:
    """A note when the stack's environment has no guardrails of its own and borrows dev's."""
    from .policyconfig import DEFAULT_GUARDRAILS, guardrails_file, has_guardrails

    environment = str(document.stack_config("environment") or "")
    if not has_guardrails(root) or not environment or guardrails_file(environment, root).stem == environment:
        return []
    return [
        f"environment '{environment}' has no policies/guardrails/{environment}.json: the policies use "
        f"{DEFAULT_GUARDRAILS}'s guardrails (copy that file to give it its own)"
    ]


# --------------------------------------------------------------------------- git


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PrCheckError(f"git {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip()


def repository_root(path: Path) -> Path:
    """The top of the git work tree holding ``path``."""
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel"))
    except PrCheckError:
        raise PrCheckError(f"{path} is not inside a git repository; pr-check compares git revisions") from None


def resolve_ref(repo: Path, ref: str) -> str:
    """The commit a ref names; :class:`PrCheckError` naming the ref when it names none."""
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except PrCheckError:
        raise PrCheckError(f"unknown git ref '{ref}' (try `git fetch` or a commit id)") from None


@contextmanager
def worktree(repo: Path, commit: str, parent: Path, label: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` under ``parent``; removed on exit, whatever happens."""
    path = parent / label
    _git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def ensure_build(side_root: Path, build_source: Path) -> str | None:
    """Give a worktree the Lambda build it lacks; return a note when it had to."""
    if (side_root / "build" / "lambda").is_dir():
        return None
    source = build_source / "build" / "lambda"
    if not source.is_dir():
        raise PrCheckError(f"{source} is missing: run `make package` first (the plans need the Lambda build)")
    shutil.copytree(source, side_root / "build" / "lambda", copy_function=_link_or_copy)
    return f"{side_root.name}: reused build/lambda from {build_source} (the worktree has no Lambda build)"


# --------------------------------------------------------------------------- synthesis


def synthesize_in(side_root: Path, stack: str, output: Path, python: str = sys.executable) -> PlanDocument:
    """Synthesize ``stack`` with the code and files of ``side_root`` in a subprocess (its plan JSON is
    the exchange format across revisions), typed."""
    env = dict(os.environ)
    # the side's own import layout first (its components and policies, linked as installed), then the side itself
    imports = output.parent / f"{output.stem}-imports"
    link_import_tree(side_root, imports)
    paths = [str(imports), str(side_root), str(side_root / "policies"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    result = subprocess.run(
        [python, "-c", _SYNTH_SCRIPT, str(side_root), stack, str(output)],
        cwd=side_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        # exit 2 is a user error whose whole message (every bad field) is the point; anything else is a
        # crash, whose last line names the exception
        lines = result.stderr.strip().splitlines()
        detail = "\n".join(lines) if result.returncode == 2 else (lines[-1] if lines else "?")
        raise PrCheckError(f"plan of stack '{stack}' at {side_root.name} failed: {detail}")
    return PlanDocument.from_json(json.loads(output.read_text(encoding="utf-8")))


def empty_plan(project: str, stack: str) -> PlanDocument:
    """The plan of a stack that does not exist on one side (created or deleted by the change)."""
    return PlanDocument.from_json(
        {"format_version": 1, "project": project, "stack": stack, "config": {}, "resources": [], "outputs": {}}
    )


@dataclass
class PrCheckResult:
    """Diffs per stack and the notes a reader needs."""

    diffs: list[StackDiff]
    notes: list[str] = field(default_factory=list)


def pr_check(
    base: str,
    head: str | None = None,
    stacks: Sequence[str] | None = None,
    root: Path | None = None,
    python: str = sys.executable,
    plans_dir: Path | None = None,
) -> PrCheckResult:
    """Plan, evaluate and diff every stack between git ref ``base`` and ``head`` (default: the working tree).

    ``plans_dir`` keeps the enriched plans as ``<plans_dir>/{base,head}/<stack>.json`` (the
    workflow renders SARIF per stack from them with ``blueprint diff``).
    """
    repo = repository_root(root or Path.cwd())
    base_commit = resolve_ref(repo, base)
    head_commit = resolve_ref(repo, head) if head else None
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="blueprint-pr-check-") as tmp:
        parent = Path(tmp)
        with worktree(repo, base_commit, parent, "base") as base_root:
            head_context = worktree(repo, head_commit, parent, "head") if head_commit else None
            head_root = head_context.__enter__() if head_context else repo
            try:
                for side_root in (base_root, head_root):
                    note = ensure_build(side_root, repo)
                    if note:
                        notes.append(note)
                names = list(stacks) if stacks else available_stacks(head_root)
                if not names:
                    raise PrCheckError(f"no stacks/Pulumi.<stack>.yaml at {head or WORKING_TREE}")
                for name in names:
                    if (
                        not (head_root / "stacks" / f"Pulumi.{name}.yaml").is_file()
                        and not (base_root / "stacks" / f"Pulumi.{name}.yaml").is_file()
                    ):
                        raise PrCheckError(f"unknown stack '{name}': no stacks/Pulumi.{name}.yaml on either side")
                jobs = [(side, name) for name in names for side in ("base", "head")]
                sides = {"base": base_root, "head": head_root}

                def run(job: tuple[str, str]) -> PlanDocument | None:
                    side, name = job
                    side_root = sides[side]
                    if not (side_root / "stacks" / f"Pulumi.{name}.yaml").is_file():
                        return None
                    return synthesize_in(side_root, name, parent / f"{side}-{name}.json", python)

                with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 2, 6)) as pool:
                    plans = dict(zip(jobs, pool.map(run, jobs), strict=True))
                project = next((p.project or "" for p in plans.values() if p), "")
                diffs = []
                for name in names:
                    documents: dict[str, PlanDocument] = {}
                    for side in ("base", "head"):
                        document = plans[(side, name)]
                        if document is None:
                            notes.append(f"{name}: the stack does not exist at {side}; compared with an empty plan")
                            documents[side] = empty_plan(project, name)
                            continue
                        config_root = sides[side]
                        if not (config_root / "policies" / "config" / f"{name}.json").is_file():
                            config_root = head_root
                        for note in add_policies_and_cost(document, name, config_root):
                            if note not in notes:
                                notes.append(note)
                        documents[side] = document
                    if plans_dir is not None:
                        for side, document in documents.items():
                            target = plans_dir / side / f"{name}.json"
                            target.parent.mkdir(parents=True, exist_ok=True)
                            target.write_text(
                                json.dumps(document.to_json(), indent=2, ensure_ascii=False) + "\n", "utf-8"
                            )
                    base_label = f"{base} ({base_commit[:10]})"
                    head_label = f"{head} ({head_commit[:10]})" if head and head_commit else WORKING_TREE
                    diffs.append(diff_plans(documents["base"], documents["head"], base_label, head_label))
            finally:
                if head_context:
                    head_context.__exit__(None, None, None)
    return PrCheckResult(diffs, notes)
