"""The Amazon EKS Kubernetes versions this library offers, with their support dates.

One source for everything that depends on the cluster's minor version: the table lives in
``components/data/eks_versions.json`` (shipped as package data), with the AWS documentation
page it was read from and the date it was checked. Each row gives the EKS release date, the end
of standard and of extended support (the EKS Kubernetes release calendar,
https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html), and the
cluster-autoscaler image tag and Helm chart version that match the minor version (the
autoscaler's minor must equal the cluster's).

Config validation accepts only versions in this table (``cluster.kubernetes_version``), and
the cluster autoscaler takes its image tag and chart version from it. Add a row when EKS
releases a version; do not edit a row's dates without re-checking the calendar.

>>> lookup("1.36").standard_support_end.isoformat()
'2027-08-02'
>>> days_of_standard_support_left("1.34", datetime.date(2026, 11, 28))
4
>>> lookup("1.20") is None
True
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

DATA_FILE = "eks_versions.json"
"""The table's file name in ``components/data/``."""


@dataclass(frozen=True)
class EksVersion:
    """One Kubernetes minor version on Amazon EKS."""

    version: str
    """Minor version, e.g. ``1.36``."""
    released: datetime.date
    """Amazon EKS release date (UTC)."""
    standard_support_end: datetime.date
    """End of standard support (UTC); from this day on the cluster is in extended support, or,
    with ``upgrade_policy: STANDARD``, is upgraded by EKS."""
    extended_support_end: datetime.date
    """End of extended support (UTC)."""
    cluster_autoscaler_image_tag: str
    """cluster-autoscaler image tag of the same minor, e.g. ``v1.36.1``."""
    cluster_autoscaler_chart_version: str
    """cluster-autoscaler Helm chart version used with that image, e.g. ``9.59.0``."""


def _row(raw: Mapping[str, Any]) -> EksVersion:
    return EksVersion(
        version=str(raw["version"]),
        released=datetime.date.fromisoformat(raw["released"]),
        standard_support_end=datetime.date.fromisoformat(raw["standard_support_end"]),
        extended_support_end=datetime.date.fromisoformat(raw["extended_support_end"]),
        cluster_autoscaler_image_tag=str(raw["cluster_autoscaler_image_tag"]),
        cluster_autoscaler_chart_version=str(raw["cluster_autoscaler_chart_version"]),
    )


def load_table() -> dict[str, Any]:
    """The raw JSON document (``source``, ``checked``, ``notes``, ``versions``)."""
    text = (
        resources.files(__package__ or "hybrid_ai_platform.components")
        .joinpath("data", DATA_FILE)
        .read_text(encoding="utf-8")
    )
    document: dict[str, Any] = json.loads(text)
    return document


def _versions() -> Mapping[str, EksVersion]:
    rows = [_row(raw) for raw in load_table()["versions"]]
    ordered = sorted(rows, key=lambda row: tuple(int(part) for part in row.version.split(".")))
    return MappingProxyType({row.version: row for row in ordered})


EKS_VERSIONS: Mapping[str, EksVersion] = _versions()
"""Every offered version by minor version string, oldest first (read-only)."""
SOURCE_URL: str = load_table()["source"]
"""The AWS documentation page the dates were read from."""
CHECKED: datetime.date = datetime.date.fromisoformat(load_table()["checked"])
"""When the table was last checked against :data:`SOURCE_URL`."""


def lookup(version: str) -> EksVersion | None:
    """The table's row for ``version`` (``1.36``), or ``None`` when it is not offered."""
    return EKS_VERSIONS.get(version)


def days_of_standard_support_left(version: str, today: datetime.date) -> int | None:
    """Days from ``today`` until ``version`` leaves standard support; negative once it has left.

    ``0`` means standard support ends today. ``None`` when the version is not in the table.
    """
    row = lookup(version)
    if row is None:
        return None
    return (row.standard_support_end - today).days
