"""An Indexed Job's share of the files, and when a day is complete across all shares.

The CronJob's Job runs ``completions`` pods in Indexed completion mode (at most ``parallelism`` at once);
Kubernetes gives each pod its index in ``JOB_COMPLETION_INDEX``
(https://kubernetes.io/docs/tasks/job/indexed-parallel-processing-static/) and the job passes the total as
``BATCH_COMPLETIONS``. Every pod lists the whole window and scores the files of its share only:

* **Share**: a file belongs to index ``SHA-256(key) mod completions`` (:func:`share_of`). It depends on
  the key and the number of shares only, not on the listing's order or on which other files exist, so two
  pods that list at slightly different times (a late file landing between them) still agree on every
  file: none is scored twice or missed because of it. The price is balance: shares are equal only on
  average (with F files over N shares, each gets F/N give or take about sqrt(F/N)).
* **Overlaps and retries** are exact through the per-file idempotency of :mod:`~inference_server.batch.job`
  (skip what is recorded, conditional writes; a write that loses a race to an identical output is a skip).
* **Completion**: with ``completions`` > 1 no pod sees the whole day's results, so each pod, once every file
  of its share of a day succeeded, writes a *share record* ``${OUTPUT_PREFIX}dt=<day>/_shares/<i>-of-<n>.json``
  (deterministic content: the model version and, per file, its source key and ETag, output key and rows;
  rewritten only when it changed). Then it reads the records of all ``n`` shares: when they cover every file
  of the day's current listing with its current ETag and the configured model version, the day is complete
  and this pod writes the day's manifest (the same bytes a single pod would write) and emits the day's drift
  (over the whole day, the same sample a single pod uses). Each pod writes its record before reading the
  others' and S3 reads are strongly consistent
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel), so the last pod
  to finish always sees every record; two pods finishing together may both write the identical manifest.
  With ``completions`` = 1 nothing of this happens: no share records, today's single-pod behaviour.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from inference_server.batch.settings import BatchSettings
from inference_server.batch.storage import _NOT_FOUND, SourceFile, _error_code, put_if_changed

if TYPE_CHECKING:
    from inference_server.batch.job import FileResult, ModelInfo

SHARES_DIR = "_shares"


def share_of(key: str, completions: int) -> int:
    """The index (0 to ``completions`` - 1) whose share ``key`` is: its SHA-256, as a number, mod
    ``completions``. Stable across processes and Python versions (unlike :func:`hash`)."""
    if completions == 1:
        return 0
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % completions


def owns(settings: BatchSettings, source: SourceFile) -> bool:
    """Whether this process (``settings.completion_index``) scores ``source``."""
    return share_of(source.key, settings.completions) == settings.completion_index


def record_key(settings: BatchSettings, day: date, index: int) -> str:
    """``${OUTPUT_PREFIX}dt=<day>/_shares/<index>-of-<completions>.json``."""
    return f"{settings.output_partition_for(day)}{SHARES_DIR}/{index}-of-{settings.completions}.json"


def record_body(info: ModelInfo, results: Sequence[FileResult]) -> bytes:
    """The deterministic share record of one day: the model version and each file's outcome."""
    document = {
        "model": {"name": info.model.name, "version": info.model.version},
        "files": [
            {"source_key": r.source.key, "source_etag": r.source.etag, "output_key": r.output_key, "rows": r.rows}
            for r in sorted(results, key=lambda r: r.source.key)
        ],
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def write_record(
    client: Any, settings: BatchSettings, info: ModelInfo, day: date, results: Sequence[FileResult]
) -> bool:
    """Write this share's record of ``day`` (every file of the share succeeded) unless an identical one
    exists; returns whether it was written."""
    key = record_key(settings, day, settings.completion_index)
    return put_if_changed(client, settings.feature_bucket, key, record_body(info, results))


def _read_record(client: Any, settings: BatchSettings, day: date, index: int) -> dict[str, Any] | None:
    try:
        body = client.get_object(Bucket=settings.feature_bucket, Key=record_key(settings, day, index))["Body"].read()
    except Exception as exc:
        if _error_code(exc) in _NOT_FOUND:
            return None
        raise
    document: dict[str, Any] = json.loads(body)
    return document


def day_results(
    client: Any, settings: BatchSettings, info: ModelInfo, day: date, inputs: Sequence[SourceFile]
) -> tuple[list[FileResult] | None, list[int]]:
    """The results of every input of ``day`` (its current listing) when the share records cover them all
    for the configured model version, else ``None``; and the indexes whose record is missing or stale."""
    from inference_server.batch.job import FileResult

    waiting: list[int] = []
    results: list[FileResult] = []
    by_share: dict[int, list[SourceFile]] = {}
    for source in inputs:
        by_share.setdefault(share_of(source.key, settings.completions), []).append(source)
    for index in range(settings.completions):
        record = _read_record(client, settings, day, index)
        model = (record or {}).get("model", {})
        if record is None or (model.get("name"), model.get("version")) != (info.model.name, info.model.version):
            waiting.append(index)
            continue
        done = {(f["source_key"], f["source_etag"]): f for f in record.get("files", [])}
        for source in by_share.get(index, []):
            entry = done.get((source.key, source.etag))
            if entry is None:
                waiting.append(index)
                break
            results.append(FileResult(source, str(entry["output_key"]), "skipped", int(entry["rows"])))
    return (None if waiting else results), waiting
