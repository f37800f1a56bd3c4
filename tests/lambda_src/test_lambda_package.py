"""Behaviour of ``lambda_src/package.py``: reproducible zips, exclusions, the dependency cache, limits.

The pip step is replaced by a fake installer that lays out a small tree resembling a real install, so these
tests are fast and offline; ``make package`` exercises the real pip install.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from lambda_support import PROJECT_ROOT

FAKE_SITE = {
    "mypkg/__init__.py": b"VALUE = 1\n",
    "mypkg/core.py": b"def f():\n    return 2\n",
    "mypkg/__pycache__/core.cpython-312.pyc": b"\x00bytecode",
    "mypkg/tests/test_core.py": b"def test(): pass\n",
    "mypkg-1.0.dist-info/METADATA": b"Name: mypkg\n",
    "mypkg-1.0.dist-info/RECORD": b"mypkg/__init__.py,,\n",
    "mypkg-1.0.dist-info/INSTALLER": b"pip\n",
    "boto3/__init__.py": b"",
    "botocore/__init__.py": b"",
    "botocore-1.0.dist-info/METADATA": b"Name: botocore\n",
    "bin/mypkg-cli": b"#!/usr/bin/python\n",
    "pyarrow/__init__.py": b"",
    "pyarrow/lib.cpython-312-x86_64-linux-gnu.so": b"\x7fELF lib",
    "pyarrow/libarrow.so.2600": b"\x7fELF arrow",
    "pyarrow/libarrow_python.so": b"\x7fELF dup",
    "pyarrow/libarrow_python.so.2600": b"\x7fELF py",
    "pyarrow/libarrow_python.so.2600.1.0": b"\x7fELF dup",
    "pyarrow/libarrow_flight.so.2600": b"\x7fELF flight",
    "pyarrow/_flight.cpython-312-x86_64-linux-gnu.so": b"\x7fELF flight",
    "pyarrow/_s3fs.cpython-312-x86_64-linux-gnu.so": b"\x7fELF s3",
    "pyarrow/libarrow_s3.so.2600": b"\x7fELF s3",
    "pyarrow/include/arrow/api.h": b"// header\n",
    "pyarrow/lib.pyx": b"# cython\n",
}
KEPT_IN_LAYER = {
    "python/mypkg/__init__.py",
    "python/mypkg/core.py",
    "python/mypkg-1.0.dist-info/METADATA",
    "python/pyarrow/__init__.py",
    "python/pyarrow/lib.cpython-312-x86_64-linux-gnu.so",
    "python/pyarrow/libarrow.so.2600",
    "python/pyarrow/libarrow_python.so.2600",
}


@pytest.fixture(scope="module")
def package() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lambda_package", PROJECT_ROOT / "lambda_src" / "package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["lambda_package"] = module
    spec.loader.exec_module(module)
    return module


class FakeInstaller:
    """Stands in for ``pip install --target``; counts its calls."""

    def __init__(self, mtime: int = 1_700_000_000) -> None:
        self.calls = 0
        self.mtime = mtime

    def __call__(self, requirements: Path, target: Path, arch: str, python_version: str) -> None:
        self.calls += 1
        for rel, content in FAKE_SITE.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            os.utime(path, (self.mtime, self.mtime))
            path.chmod(0o600 if self.calls % 2 else 0o775)


def copy_sources(destination: Path, mtime: int) -> Path:
    """A copy of lambda_src/preprocessing with a stray bytecode cache and the given mtimes."""
    root = destination / "src"
    shutil.copytree(PROJECT_ROOT / "lambda_src" / "preprocessing", root / "preprocessing",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    cache = root / "preprocessing" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "handler.cpython-312.pyc").write_bytes(b"\x00")
    for path in root.rglob("*"):
        os.utime(path, (mtime, mtime))
    return root


def build_once(package: ModuleType, tmp: Path, mtime: int, installer: FakeInstaller) -> tuple[Path, dict]:
    tmp.mkdir(parents=True, exist_ok=True)
    requirements = tmp / "requirements.txt"
    requirements.write_text("mypkg==1.0\n")
    out = tmp / "out"
    manifest = package.build(
        "x86_64", out, requirements=requirements, source_root=copy_sources(tmp, mtime),
        installer=installer, log=lambda _line: None,
    )  # fmt: skip
    return out / "x86_64", manifest


def test_identical_sources_build_byte_identical_zips(package: ModuleType, tmp_path: Path) -> None:
    # GIVEN two builds of the same sources and dependencies, made at different times with different modes
    first_dir, first = build_once(package, tmp_path / "a", 1_600_000_000, FakeInstaller(1_600_000_000))
    second_dir, second = build_once(package, tmp_path / "b", 1_700_000_000, FakeInstaller(1_700_000_000))
    # THEN the zips, their hashes and the manifests are identical
    for name in ("function.zip", "layer.zip", "manifest.json"):
        assert (first_dir / name).read_bytes() == (second_dir / name).read_bytes(), name
    assert first == second
    # AND the manifest follows the contract, with Lambda's CodeSha256 encoding
    raw = hashlib.sha256((first_dir / "function.zip").read_bytes()).digest()
    assert first["function_sha256"] == raw.hex()
    assert first["function_base64sha256"] == base64.b64encode(raw).decode()
    assert first["function_zip"] == "function.zip" and first["layer_zip"] == "layer.zip"
    assert first["zipped_bytes"] == sum((first_dir / n).stat().st_size for n in ("function.zip", "layer.zip"))
    assert json.loads((first_dir / "manifest.json").read_text()) == first


def test_zip_entries_are_sorted_with_fixed_dates_and_modes(package: ModuleType, tmp_path: Path) -> None:
    # WHEN a package is built
    arch_dir, _ = build_once(package, tmp_path, 1_650_000_000, FakeInstaller())
    # THEN every entry has the 1980-01-01 date, a fixed Unix mode and no extra field, in sorted order
    for name in ("function.zip", "layer.zip"):
        with zipfile.ZipFile(arch_dir / name) as archive:
            infos = archive.infolist()
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            expected = 0o755 if ".so" in info.filename else 0o644
            assert info.external_attr >> 16 == 0o100000 | expected, info.filename
            assert info.extra == b""


def test_function_zip_holds_only_our_package_without_caches(package: ModuleType, tmp_path: Path) -> None:
    # WHEN a package is built
    arch_dir, _ = build_once(package, tmp_path, 1_650_000_000, FakeInstaller())
    with zipfile.ZipFile(arch_dir / "function.zip") as archive:
        names = archive.namelist()
    # THEN function.zip has the handler at preprocessing/handler.py and no bytecode, samples or build script
    assert "preprocessing/handler.py" in names
    assert "preprocessing/feature_sets/transactions.py" in names
    assert all(n.startswith("preprocessing/") and n.endswith(".py") for n in names)


def test_layer_leaves_out_runtime_packages_caches_tests_and_unused_pyarrow_parts(
    package: ModuleType, tmp_path: Path
) -> None:
    # WHEN a package is built from a dependency tree containing things Lambda must not get
    arch_dir, _ = build_once(package, tmp_path, 1_650_000_000, FakeInstaller())
    with zipfile.ZipFile(arch_dir / "layer.zip") as archive:
        names = set(archive.namelist())
    # THEN only the needed files remain, under python/
    assert names == KEPT_IN_LAYER
    assert package.exclusion_reason("boto3/__init__.py") == "provided by the Lambda runtime"
    assert package.exclusion_reason("pyarrow/libarrow_flight.so.2600") == "pyarrow: Arrow Flight RPC"
    assert package.exclusion_reason("pydantic/main.py") is None


def test_dependency_install_is_cached_until_requirements_change(package: ModuleType, tmp_path: Path) -> None:
    # GIVEN a first build
    installer = FakeInstaller()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("mypkg==1.0\n")
    source = copy_sources(tmp_path, 1_650_000_000)
    kwargs = {
        "requirements": requirements,
        "source_root": source,
        "installer": installer,
        "log": lambda _l: None,
    }
    first = package.build("x86_64", tmp_path / "out", **kwargs)
    # WHEN building again with unchanged requirements, THEN pip is not run and the result is unchanged
    assert package.build("x86_64", tmp_path / "out", **kwargs) == first
    assert installer.calls == 1
    # WHEN the requirements change, THEN the dependencies are reinstalled
    requirements.write_text("mypkg==1.1\n")
    package.build("x86_64", tmp_path / "out", **kwargs)
    assert installer.calls == 2
    # AND another architecture has its own cache
    package.build("arm64", tmp_path / "out", **kwargs)
    assert installer.calls == 3


def test_oversized_package_is_refused(package: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a 50 MB limit lowered below the layer's size
    monkeypatch.setattr(package, "MAX_ZIP_BYTES", 64)
    # WHEN building, THEN the build fails naming the zip that does not fit
    with pytest.raises(package.PackageTooLargeError, match=r"layer\.zip"):
        build_once(package, tmp_path, 1_650_000_000, FakeInstaller())


def test_manifest_lists_the_feature_sets_the_function_zip_contains(package: ModuleType, tmp_path: Path) -> None:
    # GIVEN the sources plus one more feature set module and a private helper module
    source = copy_sources(tmp_path, 1_700_000_000)
    feature_sets = source / "preprocessing" / "feature_sets"
    (feature_sets / "clicks.py").write_text("FEATURE_SET = None\n")
    (feature_sets / "_shared.py").write_text("")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("mypkg==1.0\n")
    # WHEN built
    manifest = package.build(
        "x86_64", tmp_path / "out", requirements=requirements, source_root=source,
        installer=FakeInstaller(), log=lambda _line: None,
    )  # fmt: skip
    # THEN the manifest names exactly the public feature-set modules, and each is in the function zip
    assert manifest["feature_sets"] == ["clicks", "transactions"]
    with zipfile.ZipFile(tmp_path / "out" / "x86_64" / "function.zip") as archive:
        names = set(archive.namelist())
    for name in manifest["feature_sets"]:
        assert f"preprocessing/feature_sets/{name}.py" in names
    written = json.loads((tmp_path / "out" / "x86_64" / "manifest.json").read_text())
    assert written["feature_sets"] == manifest["feature_sets"]
