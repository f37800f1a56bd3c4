"""A plan pauses the collector's full collections and restores them after (issue 17, goal 4)."""

from __future__ import annotations

import gc
import threading

from hybrid_ai_platform.cli.synth import no_full_collections


def test_full_collections_pause_inside_overlapping_blocks_and_resume_after_the_last() -> None:
    before = gc.get_threshold()
    entered, release = threading.Event(), threading.Event()

    def other_plan() -> None:
        with no_full_collections():
            entered.set()
            release.wait(timeout=30)

    # GIVEN a plan in another thread inside its block
    worker = threading.Thread(target=other_plan)
    worker.start()
    assert entered.wait(timeout=30)
    # WHEN this thread's block starts and ends while the other is still inside
    with no_full_collections():
        inside = gc.get_threshold()
    between = gc.get_threshold()
    release.set()
    worker.join(timeout=30)
    # THEN the young generations keep their thresholds, the oldest is paused until the last block ends
    assert inside[:2] == before[:2] and inside[2] > 10**9
    assert between == inside
    assert gc.get_threshold() == before
    # AND an exception leaves the thresholds restored too
    try:
        with no_full_collections():
            raise RuntimeError("synthesis failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
