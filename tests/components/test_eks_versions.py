"""The dated EKS version table: its loader API and that it ships as package data."""

from __future__ import annotations

import datetime
import fnmatch
import tomllib
from pathlib import Path

import pytest
from hybrid_ai_platform.components import eks_versions
from hybrid_ai_platform.components.eks_versions import EKS_VERSIONS, EksVersion, days_of_standard_support_left, lookup

ROOT = Path(__file__).resolve().parents[2]


def test_lookup_returns_the_row_of_an_offered_version_and_none_otherwise() -> None:
    row = lookup("1.35")
    assert isinstance(row, EksVersion)
    assert row.standard_support_end == datetime.date(2027, 3, 27)
    assert row.extended_support_end == datetime.date(2028, 3, 27)
    assert lookup("1.99") is None
    assert lookup("") is None


@pytest.mark.parametrize(
    ("version", "today", "left"),
    [
        ("1.34", datetime.date(2026, 11, 28), 4),
        ("1.34", datetime.date(2026, 12, 2), 0),
        ("1.33", datetime.date(2026, 11, 28), -122),
        ("1.36", datetime.date(2026, 11, 28), 247),
    ],
)
def test_days_of_standard_support_left_counts_down_and_goes_negative_once_ended(
    version: str, today: datetime.date, left: int
) -> None:
    assert days_of_standard_support_left(version, today) == left


def test_days_left_of_an_unknown_version_is_none() -> None:
    assert days_of_standard_support_left("1.20", datetime.date(2026, 11, 28)) is None


def test_the_table_is_read_only_and_oldest_first() -> None:
    assert list(EKS_VERSIONS) == sorted(EKS_VERSIONS, key=lambda v: tuple(int(p) for p in v.split(".")))
    with pytest.raises(TypeError):
        EKS_VERSIONS["9.99"] = EKS_VERSIONS["1.36"]  # type: ignore[index]


def test_the_table_records_its_source_and_when_it_was_checked() -> None:
    source, checked = eks_versions.SOURCE_URL, eks_versions.CHECKED
    assert source == "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html"
    assert checked == datetime.date(2026, 11, 28)


def test_the_data_file_ships_as_package_data() -> None:
    # GIVEN the data files under components/data and the package-data globs of pyproject.toml
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"].get("hybrid_ai_platform.components.data", [])
    data_files = sorted(p.name for p in (ROOT / "components" / "data").iterdir())
    # THEN every data file is matched by a glob of the data package, so an installed package can load the table
    assert "eks_versions.json" in data_files
    for path in data_files:
        assert any(fnmatch.fnmatch(path, pattern) for pattern in globs), f"{path} is not package data"
    assert {"hybrid_ai_platform.components", "hybrid_ai_platform.components.data"} <= set(
        pyproject["tool"]["setuptools"]["packages"]
    )
