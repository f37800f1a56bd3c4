"""Benchmark of the offline plan: synthesis, policy analysis over gRPC, cost estimate.

Prints, per shipped stack: resources, synthesis time (median of N runs), resources per
second, the policy pack's analysis time (one pack process per run, started as the CLI does,
and with the process reused), the cost estimate time, and the peak RSS of this process.
Then the goals of issue 17: the wall time of ``blueprint plan --stack prod`` as a user runs it (a
fresh CLI process; the policy pack starts while the program synthesizes), and the same for a stack at
ten times the workloads (50 functions, 20 models: ``bench/fixtures/scale_stack.py``, not a shipped
stack) with its resources per second and its peak RSS.
Run: ``.venv/bin/python bench/bench_plan.py [--runs N]`` (needs ``make package``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybrid_ai_platform.policies.cost import estimate

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))

from scale_stack import FUNCTIONS, MODELS, STACK, make_scale_root

from hybrid_ai_platform.cli.analyzer import PolicyPackProcess, load_policy_config, pack_env, run_policy_pack
from hybrid_ai_platform.cli.synth import PROJECT_ROOT, synthesize

STACKS = ("dev", "staging", "prod")
PROD_GOAL_S = 2.0
SCALE_RATIO_GOAL = 3.5
SCALE_RSS_GOAL_MB = 400


def cli_plan(stack: str, root: Path) -> tuple[float, float, int]:
    """One ``blueprint plan`` in a fresh process: (wall s, peak RSS MB of the CLI process, resources)."""
    out = Path(tempfile.mkdtemp()) / "plan.json"
    argv = [sys.executable, "-m", "hybrid_ai_platform.cli", "--root", str(root)]
    argv += ["plan", "--stack", stack, "--format", "json"]
    argv += ["--output", str(out), "--no-fail-on-violations"]
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(
            f"blueprint plan --stack {stack} failed: {process.stderr.read().decode() if process.stderr else ''}"
        )
    import json

    resources = len(json.loads(out.read_text())["resources"])
    return elapsed, usage.ru_maxrss / 1024, resources


def goals(runs: int) -> None:
    """The plan goals of issue 17, each printed with its goal."""
    prod = [cli_plan("prod", PROJECT_ROOT) for _ in range(runs)]
    prod_s = statistics.median(p[0] for p in prod)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_scale_root(Path(tmp))
        scale = [cli_plan(STACK, root) for _ in range(max(1, runs // 2))]
    scale_s = statistics.median(p[0] for p in scale)
    scale_rss = max(p[1] for p in scale)
    ratio = scale_s / prod_s

    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"

    print(f"\n== blueprint plan, fresh CLI process (median of {runs}; policy pack started beside synthesis)")
    for label, count, seconds, rss in (
        ("prod", prod[0][2], prod_s, prod[0][1]),
        ("scale", scale[0][2], scale_s, scale_rss),
    ):
        print(
            f"{label + ':':6} {count:5d} resources {seconds:6.2f} s {count / seconds:6.0f} res/s peak RSS {rss:4.0f} MB"
        )
    print(f"  ({FUNCTIONS} functions, {MODELS} models: bench/fixtures/scale_stack.py)")
    print(f"prod plan wall time {prod_s:.2f} s (goal <= {PROD_GOAL_S} s: {verdict(prod_s <= PROD_GOAL_S)})")
    print(f"scale/prod time {ratio:.2f}x (goal <= {SCALE_RATIO_GOAL}x: {verdict(ratio <= SCALE_RATIO_GOAL)})")
    print(
        f"scale peak RSS {scale_rss:.0f} MB (goal <= {SCALE_RSS_GOAL_MB} MB: {verdict(scale_rss <= SCALE_RSS_GOAL_MB)})"
    )


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median wall time in seconds over ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(stack: str, runs: int) -> str:
    """One table row for ``stack``."""
    synth_s, plan = timed(lambda: synthesize(stack), runs)
    document = plan.to_json()
    count = len(document["resources"])
    pack_s, _ = timed(lambda: run_policy_pack(document, stack, PROJECT_ROOT), max(1, runs // 2))
    config, config_file = load_policy_config(stack, PROJECT_ROOT)
    with PolicyPackProcess(PROJECT_ROOT / "policies", env=pack_env(document, stack)) as pack:
        reused_s, _ = timed(lambda: pack.analyze(document, stack, config, config_file), runs)
    usage = document["config"].get("hybrid-ai-platform:usage", {})
    region = document["config"]["aws:region"]
    cost_s, _ = timed(lambda: estimate(document["resources"], region, usage), runs)
    return (
        f"{stack:8} {count:9d} {synth_s:8.2f} {count / synth_s:7.0f} {pack_s:7.2f} {reused_s:8.2f} {cost_s * 1000:8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (default 5)")
    runs = parser.parse_args().runs
    print(f"{'stack':8} {'resources':>9} {'synth s':>8} {'res/s':>7} {'pack s':>7} {'reused s':>8} {'cost ms':>8}")
    for stack in STACKS:
        print(measure(stack, runs))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mib:.0f} MiB (runs per measurement: {runs})")
    goals(runs)


if __name__ == "__main__":
    main()
