"""Archives in the plan carry the SHA-256 of their file, read once per file version (issue 17, goal 4).

A Lambda layer is tens of MB and every function of a stack names it: the digest is computed in chunks and
remembered per file version, and a rebuilt file (new content, size or modification time) gets its new digest.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pulumi

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
