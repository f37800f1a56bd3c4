"""Deterministic deployment packages for the preprocessing Lambda.

    python lambda_src/package.py --arch arm64|x86_64 --out build/lambda [--no-verify] [--force]

Produces, under ``<out>/<arch>/``:

- ``function.zip``: our code only (``preprocessing/``), at the zip root (the handler is
  ``preprocessing.handler.lambda_handler``);
- ``layer.zip``: the pinned dependencies of ``requirements.txt`` under ``python/`` (a Lambda layer);
- ``manifest.json``: file names, sha256 (hex) and Lambda-style base64 sha256 of each zip, sizes, and
  ``feature_sets``: the feature sets the function zip contains (what ``FEATURE_SET`` may name; the stack
  program rejects a configured feature set that is not listed).

Identical inputs give byte-identical zips: entries sorted, timestamps fixed at 1980-01-01 00:00, modes
fixed (0644, 0755 for shared objects), no extra attributes, one compression level. The ``pip install``
step is skipped while ``requirements.txt``, the architecture and the Python version are unchanged (stamp
file ``<out>/<arch>/.deps.stamp`` next to the installed tree ``<out>/<arch>/.deps/``).

Left out of the layer (see :func:`exclusion_reason`): what the python3.12 runtime already provides
(boto3, botocore, s3transfer, urllib3, python-dateutil, six), bytecode caches, console scripts, tests,
pip bookkeeping, C/Cython sources and headers, and the parts of pyarrow this function never loads (Flight,
the S3/GCS/Azure/HDFS filesystems, ORC, the C++ test module and link-time duplicates of shared objects).
``--verify`` (default when the host can run the target) proves the trimmed tree still imports and runs
the processing path, in an isolated Python 3.12 that sees nothing but the two zips.
"""

from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import json
import os
import pkgutil
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_REQUIREMENTS = HERE / "requirements.txt"
PACKAGE_NAME = "preprocessing"
PYTHON_VERSION = "3.12"
#: Lambda architecture -> manylinux machine name. manylinux_2_28 is listed too because recent pyarrow
#: releases ship only manylinux_2_28 wheels; the python3.12 runtime (Amazon Linux 2023, glibc 2.34) runs them.
ARCHES: dict[str, str] = {"arm64": "aarch64", "x86_64": "x86_64"}
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 6
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
#: Bump when the pip invocation changes, so cached dependency trees are rebuilt.
STAMP_VERSION = 2

#: Top-level names the python3.12 Lambda runtime provides; never shipped even if pip brings them.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six"})
_RUNTIME_DIST = re.compile(r"^(boto3|botocore|s3transfer|urllib3|python_dateutil|six)-[^/]*\.dist-info$")
_PIP_BOOKKEEPING = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_SOURCE_SUFFIXES = frozenset({".pyx", ".pxd", ".pxi", ".h", ".hpp", ".cc", ".cpp", ".c", ".cmake", ".pc"})
#: pyarrow files this function never loads, with the reason. ``lib.so`` and the compute/parquet modules
#: link libarrow_{acero,dataset,substrait} directly, so those stay; these are only loaded on demand.
_PYARROW_TRIM: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(include|src|includes|tests)/"), "C++/Cython headers, sources and tests"),
    (
        re.compile(r"^(_flight\..*|flight\.py|lib(arrow_flight|arrow_python_flight)\.so.*)$"),
        "Arrow Flight RPC",
    ),
    (
        re.compile(r"^(_s3fs|_gcsfs|_azurefs|_hdfs)\..*\.so$|^libarrow_s3\.so.*$"),
        "remote filesystems (boto3 is used)",
    ),
    (re.compile(r"^(_orc|_dataset_orc)\..*\.so$|^orc\.py$"), "ORC format"),
    (re.compile(r"^_pyarrow_cpp_tests\..*$"), "C++ test module"),
    (re.compile(r"^lib[\w]+\.so(\.\d+\.\d+\.\d+)?$"), "link-time duplicate of a shared object (SONAME kept)"),
)


class PackageTooLargeError(RuntimeError):
    """A zip exceeds Lambda's 50 MB direct-upload limit or the unzipped total exceeds 250 MB."""


def exclusion_reason(relpath: str, *, dependency: bool = True) -> str | None:
    """Why ``relpath`` (POSIX, relative to the install root) is left out of the package, or ``None``.

    ``dependency=False`` applies only the rules for our own code (caches).
    """
    path = PurePosixPath(relpath)
    parts = path.parts
    if "__pycache__" in parts or path.suffix in (".pyc", ".pyo"):
        return "bytecode cache"
    if not dependency:
        return None
    top = parts[0]
    if top in RUNTIME_PROVIDED or _RUNTIME_DIST.match(top):
        return "provided by the Lambda runtime"
    if top == "bin":
        return "console scripts"
    if top.endswith(".dist-info") and path.name in _PIP_BOOKKEEPING:
        return "pip bookkeeping"
    if len(parts) > 2 and ("tests" in parts[1:-1] or "test" in parts[1:-1]):
        return "tests"
    if path.suffix in _SOURCE_SUFFIXES:
        return "C/Cython sources and headers"
    if top == "pyarrow" and len(parts) > 1:
        inner = "/".join(parts[1:])
        for pattern, reason in _PYARROW_TRIM:
            if pattern.search(inner):
                return f"pyarrow: {reason}"
    return None


def _walk(root: Path) -> Iterable[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            yield full.relative_to(root).as_posix(), full


def collect(root: Path, *, dependency: bool, prefix: str = "") -> tuple[list[tuple[str, Path]], dict[str, int]]:
    """Files to package under ``root`` as sorted ``[(arcname, path)]``, and the bytes excluded per reason."""
    kept: list[tuple[str, Path]] = []
    excluded: dict[str, int] = {}
    for rel, full in _walk(root):
        reason = exclusion_reason(rel, dependency=dependency)
        if reason is None:
            kept.append((prefix + rel, full))
        else:
            excluded[reason] = excluded.get(reason, 0) + full.stat().st_size
    kept.sort(key=lambda item: item[0])
    return kept, excluded


def feature_sets_in(source_root: Path) -> list[str]:
    """Feature sets shipped under ``<source_root>/preprocessing/feature_sets/``, sorted.

    The same rule as ``preprocessing.feature_sets.available_feature_sets`` (one module per feature set,
    modules starting with ``_`` are private), read from the files so nothing is imported.
    """
    directory = Path(source_root) / PACKAGE_NAME / "feature_sets"
    return sorted(info.name for info in pkgutil.iter_modules([str(directory)]) if not info.name.startswith("_"))


def write_deterministic_zip(files: Iterable[tuple[str, Path]], destination: Path) -> int:
    """Write ``files`` to ``destination`` reproducibly; return the total uncompressed size.

    Entries are written in the given order (callers pass them sorted) with a fixed date, fixed Unix modes
    (0755 for ``*.so*``, 0644 otherwise), no directory entries and no extra fields.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_suffix(destination.suffix + ".tmp")
    total = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for arcname, path in files:
            info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE_TIME)
            mode = 0o755 if re.search(r"\.so(\.|$)", arcname) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = path.stat().st_size
            total += info.file_size
            with (
                path.open("rb") as source,
                archive.open(info, "w", force_zip64=info.file_size > 2**31) as sink,
            ):
                shutil.copyfileobj(source, sink, 1024 * 1024)
    tmp.replace(destination)
    return total


def _digests(path: Path) -> tuple[str, str]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest(), base64.b64encode(digest.digest()).decode()


def pip_install(requirements: Path, target: Path, arch: str, python_version: str) -> None:
    """Install the pinned closure in ``requirements`` for the Lambda platform into ``target``.

    ``--no-deps``: requirements.txt lists every package itself (so nothing the runtime provides is pulled
    in); ``--no-compile``: no ``.pyc`` (Lambda compiles on import into /tmp-less memory anyway).
    """
    machine = ARCHES[arch]
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--no-compile", "--only-binary=:all:", "--implementation", "cp",
        "--python-version", python_version,
        "--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_28_{machine}",
        "--target", str(target), "-r", str(requirements),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)


def _stamp_for(requirements: Path, arch: str, python_version: str) -> str:
    return json.dumps(
        {
            "stamp_version": STAMP_VERSION,
            "requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
            "arch": arch,
            "python_version": python_version,
        },
        sort_keys=True,
    )


def ensure_dependencies(
    requirements: Path,
    arch_dir: Path,
    arch: str,
    python_version: str,
    installer: Callable[[Path, Path, str, str], None],
    *,
    force: bool = False,
) -> tuple[Path, bool]:
    """Return ``(site_dir, installed_now)``; runs ``installer`` only when the stamp is missing or stale."""
    site = arch_dir / ".deps"
    stamp_file = arch_dir / ".deps.stamp"
    stamp = _stamp_for(requirements, arch, python_version)
    if not force and site.is_dir() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return site, False
    if site.exists():
        shutil.rmtree(site)
    stamp_file.unlink(missing_ok=True)
    site.mkdir(parents=True)
    installer(requirements, site, arch, python_version)
    stamp_file.write_text(stamp)
    return site, True


def _find_python(version: str) -> str | None:
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


_VERIFY_SCRIPT = r"""
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2] + "/python"]
from datetime import datetime, timezone
from pathlib import Path
import pyarrow, pyarrow.parquet as pq, pyarrow.compute
import preprocessing.events
from preprocessing.feature_sets import get_feature_set
from preprocessing.lineage import Lineage
from preprocessing.pipeline import transform
assert pyarrow.__file__.startswith(sys.argv[2]), pyarrow.__file__
fs = get_feature_set("transactions")
lineage = Lineage("b", "raw/k.csv", "v", "e", fs.name, fs.schema_version, "verify")
sample = Path(sys.argv[3])
out = transform(sample.name, sample.read_bytes(), fs, lineage, datetime(2024, 1, 1, tzinfo=timezone.utc))
for part in out.partitions:
    assert pq.read_table(pyarrow.BufferReader(part.body)).num_rows == part.rows
print(f"verified: {out.rows_valid} rows -> {len(out.partitions)} partitions, pyarrow {pyarrow.__version__}")
"""


def verify(arch: str, function_zip: Path, layer_zip: Path | None, python: str) -> str:
    """Unpack both zips and run the processing path on the sample in an isolated ``python`` (``-I -S``).

    Returns the verifier's output line. Raises ``subprocess.CalledProcessError`` if it fails.
    """
    with tempfile.TemporaryDirectory(prefix=f"lambda-verify-{arch}-") as tmp:
        func_dir, layer_dir = Path(tmp, "function"), Path(tmp, "layer")
        with zipfile.ZipFile(function_zip) as archive:
            archive.extractall(func_dir)
        layer_dir.joinpath("python").mkdir(parents=True)
        if layer_zip is not None:
            with zipfile.ZipFile(layer_zip) as archive:
                archive.extractall(layer_dir)
        sample = HERE / "samples" / "transactions_sample.csv"
        result = subprocess.run(
            [python, "-I", "-S", "-c", _VERIFY_SCRIPT, str(func_dir), str(layer_dir), str(sample)],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()


def _host_arch() -> str | None:
    machine = platform.machine().lower()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine)


def build(
    arch: str,
    out_dir: Path,
    *,
    requirements: Path = DEFAULT_REQUIREMENTS,
    source_root: Path = HERE,
    python_version: str = PYTHON_VERSION,
    installer: Callable[[Path, Path, str, str], None] = pip_install,
    verify_with: str | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build ``<out_dir>/<arch>/{function.zip,layer.zip,manifest.json}`` and return the manifest.

    Args:
        arch: ``arm64`` or ``x86_64``.
        out_dir: output root (the CLI default is ``build/lambda``).
        requirements: pinned dependency closure (default ``lambda_src/requirements.txt``).
        source_root: directory holding the ``preprocessing`` package (default ``lambda_src/``).
        python_version: target interpreter version for wheel selection (default ``3.12``).
        installer: the dependency install step (default :func:`pip_install`; tests pass a fake).
        verify_with: a Python 3.12 interpreter to run :func:`verify` with, or ``None`` to skip.
        force: reinstall dependencies even if the stamp matches (default ``False``).
        log: where progress lines go (default ``print``).

    Raises:
        ValueError: unknown ``arch``. PackageTooLargeError: a Lambda size limit would be exceeded.
    """
    if arch not in ARCHES:
        raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(ARCHES)}")
    arch_dir = Path(out_dir) / arch
    arch_dir.mkdir(parents=True, exist_ok=True)
    site, installed = ensure_dependencies(requirements, arch_dir, arch, python_version, installer, force=force)
    log(f"[{arch}] dependencies: {'installed' if installed else 'cached (requirements unchanged)'} in {site}")

    code_files, _ = collect(Path(source_root) / PACKAGE_NAME, dependency=False, prefix=f"{PACKAGE_NAME}/")
    dep_files, excluded = collect(site, dependency=True, prefix="python/")

    function_zip = arch_dir / "function.zip"
    layer_zip = arch_dir / "layer.zip"
    function_unzipped = write_deterministic_zip(code_files, function_zip)
    layer_unzipped = 0
    if dep_files:
        layer_unzipped = write_deterministic_zip(dep_files, layer_zip)
    else:
        layer_zip.unlink(missing_ok=True)

    function_sha, function_b64 = _digests(function_zip)
    manifest: dict[str, Any] = {
        "arch": arch,
        "python_version": python_version,
        "handler": f"{PACKAGE_NAME}.handler.lambda_handler",
        "function_zip": function_zip.name,
        "function_sha256": function_sha,
        "function_base64sha256": function_b64,
        "layer_zip": None,
        "layer_sha256": None,
        "layer_base64sha256": None,
        "unzipped_bytes": function_unzipped + layer_unzipped,
        "zipped_bytes": function_zip.stat().st_size,
        "feature_sets": feature_sets_in(source_root),
    }
    if dep_files:
        layer_sha, layer_b64 = _digests(layer_zip)
        manifest.update(
            layer_zip=layer_zip.name,
            layer_sha256=layer_sha,
            layer_base64sha256=layer_b64,
            zipped_bytes=manifest["zipped_bytes"] + layer_zip.stat().st_size,
        )
    (arch_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    mib = 1024 * 1024
    log(
        f"[{arch}] function.zip {function_zip.stat().st_size / mib:.2f} MiB zipped / "
        f"{function_unzipped / mib:.2f} MiB unzipped ({len(code_files)} files) sha256 {function_sha[:16]}…"
    )
    if dep_files:
        log(
            f"[{arch}] layer.zip    {layer_zip.stat().st_size / mib:.2f} MiB zipped / "
            f"{layer_unzipped / mib:.2f} MiB unzipped ({len(dep_files)} files) "
            f"sha256 {manifest['layer_sha256'][:16]}…"
        )
    for reason, size in sorted(excluded.items()):
        log(f"[{arch}]   left out {size / mib:7.2f} MiB: {reason}")
    log(
        f"[{arch}] total {manifest['zipped_bytes'] / mib:.2f} MiB zipped / "
        f"{manifest['unzipped_bytes'] / mib:.2f} MiB unzipped"
    )

    too_big = [p.name for p in (function_zip, layer_zip) if p.exists() and p.stat().st_size > MAX_ZIP_BYTES]
    if too_big:
        raise PackageTooLargeError(f"{', '.join(too_big)} exceed(s) the 50 MB direct-upload limit")
    if manifest["unzipped_bytes"] > MAX_UNZIPPED_BYTES:
        raise PackageTooLargeError(f"function + layer unzip to {manifest['unzipped_bytes']} bytes > 250 MB")

    if verify_with is not None:
        log(f"[{arch}] {verify(arch, function_zip, layer_zip if dep_files else None, verify_with)}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; see the module docstring. Returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--arch", choices=sorted(ARCHES), default="arm64", help="Lambda architecture (arm64)")
    parser.add_argument("--out", type=Path, default=Path("build/lambda"), help="output root (build/lambda)")
    parser.add_argument("--requirements", type=Path, default=DEFAULT_REQUIREMENTS, help="pinned requirements")
    parser.add_argument("--force", action="store_true", help="reinstall dependencies even if cached")
    parser.add_argument("--no-verify", action="store_true", help="skip the import/processing check of the built zips")
    args = parser.parse_args(argv)
    verify_with = None
    if not args.no_verify:
        if _host_arch() != args.arch:
            print(f"[{args.arch}] verify skipped: host is {platform.machine()}")
        else:
            verify_with = _find_python(PYTHON_VERSION)
            if verify_with is None:
                print(f"[{args.arch}] verify skipped: no python{PYTHON_VERSION} found")
    try:
        build(args.arch, args.out, requirements=args.requirements, verify_with=verify_with, force=args.force)
    except (PackageTooLargeError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or ""
        print(f"error: {exc}\n{detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
