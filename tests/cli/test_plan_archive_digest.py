"""Archives in the plan carry the SHA-256 of their file, read once per file version (issue 17, goal 4).

A Lambda layer is tens of MB and every function of a stack names it: the digest is computed in chunks and
remembered per file version, and a rebuilt file (new content, size or modification time) gets its new digest.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pulumi
import pytest

from hybrid_ai_platform.cli.synth import _plain


def _digest_in_plan(path: Path, root: Path) -> str:
    shown = _plain({"code": pulumi.FileArchive(str(path))}, root)
    return str(shown["code"]["archive"]["sha256"])


def test_an_archive_shows_the_digest_of_its_current_content(tmp_path: Path) -> None:
    # GIVEN a package file planned once
    package = tmp_path / "build" / "layer.zip"
    package.parent.mkdir()
    package.write_bytes(b"first build" * 100_000)
    assert _digest_in_plan(package, tmp_path) == hashlib.sha256(package.read_bytes()).hexdigest()
    # WHEN it is rebuilt with the same size and a later modification time, THEN the plan shows the new digest
    package.write_bytes(b"other build" * 100_000)
    stat = package.stat()
    os.utime(package, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert _digest_in_plan(package, tmp_path) == hashlib.sha256(b"other build" * 100_000).hexdigest()
    # AND a rebuild of another size does too
    package.write_bytes(b"third")
    assert _digest_in_plan(package, tmp_path) == hashlib.sha256(b"third").hexdigest()
    # AND the path is shown relative to the project root, as before
    shown = _plain({"code": pulumi.FileArchive(str(package))}, tmp_path)
    assert shown["code"]["archive"]["path"] == "build/layer.zip"


def test_a_file_is_read_once_per_version_and_a_rebuild_with_a_pinned_mtime_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the digests counted as they are computed
    import hybrid_ai_platform.cli.synth as synth

    reads: list[str] = []
    original = hashlib.file_digest

    def counting(stream: Any, digest: str) -> Any:
        reads.append(stream.name)
        return original(stream, digest)

    monkeypatch.setattr(synth.hashlib, "file_digest", counting)
    package = tmp_path / "layer.zip"
    package.write_bytes(b"first build" * 1000)
    pinned = package.stat().st_mtime_ns
    # WHEN many resources name the same file THEN it is read once
    for _ in range(5):
        _digest_in_plan(package, tmp_path)
    assert len(reads) == 1
    # AND a reproducible rebuild (same size, modification time set back to the pinned one) is read again: its
    # status-change time moved, and the plan shows the new content's digest
    package.write_bytes(b"other build" * 1000)
    os.utime(package, ns=(pinned, pinned))
    assert _digest_in_plan(package, tmp_path) == hashlib.sha256(b"other build" * 1000).hexdigest()
    assert len(reads) == 2
