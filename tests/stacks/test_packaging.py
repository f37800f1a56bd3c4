"""The project's own packaging builds without warnings (issue 12: no warnings from `pip install -e`).

setuptools warns "Package '<x>.data' is absent from the `packages` configuration" for every directory
it installs files from that is not itself a listed package; that was the warning of every install.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_data_directory_is_a_listed_package_with_its_data() -> None:
    # GIVEN the setuptools configuration and the data directories of the installed packages
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    package_dir = setuptools["package-dir"]

    def directory_of(package: str) -> Path:  # setuptools' package-dir mapping, "" = "." for the rest
        return ROOT / package_dir.get(package, package.replace(".", "/"))

    data_dirs = {
        f"{package}.data": directory_of(package) / "data"
        for package in packages
        if (directory_of(package) / "data").is_dir()
    }
    assert {
        "hybrid_ai_platform.components.data",
        "hybrid_ai_platform.cli.data",
        "hybrid_ai_platform.policies.data",
    } <= set(data_dirs)
    # THEN each is a package of its own whose package-data globs ship every file in it (no warning)
    for name, directory in data_dirs.items():
        assert name in packages, f"{name} is not in [tool.setuptools].packages: setuptools warns on every build"
        globs = setuptools["package-data"].get(name, [])
        for path in directory.iterdir():
            if path.is_dir():  # a data sub-directory is a package of its own, checked the same way
                sub = f"{name}.{path.name}"
                assert sub in packages, f"{sub} is not in [tool.setuptools].packages"
                sub_globs = setuptools["package-data"].get(sub, [])
                assert all(any(f.match(g) for g in sub_globs) for f in path.iterdir()), f"{sub} data not shipped"
                continue
            assert any(path.match(g) for g in globs), f"{path.relative_to(ROOT)} is not package data of {name}"
    # AND no package-data key names a directory that is not a listed package
    assert set(setuptools["package-data"]) <= packages
