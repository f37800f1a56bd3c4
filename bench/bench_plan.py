"""Benchmark of the offline plan: synthesis, policy analysis over gRPC, cost estimate.

Prints, per shipped stack: resources, synthesis time (median of N runs), resources per
second, the policy pack's analysis time (one pack process per run, started as the CLI does,
and with the process reused), the cost estimate time, and the peak RSS of this process.
Run: ``.venv/bin/python bench/bench_plan.py [--runs N]`` (needs ``make package``).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

from blueprint_policies.cost import estimate

from blueprint.analyzer import PolicyPackProcess, load_policy_config, pack_env, run_policy_pack
from blueprint.synth import REPO_ROOT, synthesize

STACKS = ("dev", "staging", "prod")


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
    pack_s, _ = timed(lambda: run_policy_pack(document, stack, REPO_ROOT), max(1, runs // 2))
    config, config_file = load_policy_config(stack, REPO_ROOT)
    with PolicyPackProcess(REPO_ROOT / "policies", env=pack_env(document, stack)) as pack:
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


if __name__ == "__main__":
    main()
