"""BP-SYS-009 Helm values: the releases' values against the pinned charts' own archives.

The library ships no copy of any chart: the check reads ``<chart>-<version>.tgz`` from
``BLUEPRINT_HELM_CHARTS`` or Helm's repository cache. These tests build small chart archives of
their own (a ``values.yaml`` that knows the keys the components set, and optionally a schema).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_ai_platform.cli.checks import helm_values
from hybrid_ai_platform.cli.diff import is_blocking
from tests.checks.check_helpers import document, findings, named

CHECK = "system-helm-values"
RELEASES = ("cluster-autoscaler-release", "keda-release", "nvidia-device-plugin-release")
"""The Helm releases every shipped stack plans."""


def _known(values: Any) -> Any:
    """A chart default that knows every key of ``values`` (maps kept as maps, leaves as placeholders)."""
    if isinstance(values, Mapping):
        return {k: _known(v) for k, v in values.items()}
    return values


def _chart(directory: Path, chart: str, version: str, values: Mapping[str, Any], schema: Any = None) -> None:
    """Write ``<chart>-<version>.tgz`` holding ``<chart>/values.yaml`` (and ``values.schema.json``)."""
    files = {f"{chart}/Chart.yaml": yaml.safe_dump({"name": chart, "version": version})}
    files[f"{chart}/values.yaml"] = yaml.safe_dump(dict(values))
    if schema is not None:
        files[f"{chart}/values.schema.json"] = json.dumps(schema)
    with tarfile.open(directory / f"{chart}-{version}.tgz", "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty chart directory as BLUEPRINT_HELM_CHARTS, and an empty Helm cache."""
    monkeypatch.setenv(helm_values.CHARTS_ENV, str(tmp_path))
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "cache"))
    helm_values._chart_files.cache_clear()
    return tmp_path


def _release_charts(doc: dict[str, Any], directory: Path, **schemas: Any) -> None:
    for name in RELEASES:
        inputs = named(doc, name)["inputs"]
        _chart(directory, inputs["chart"], inputs["version"], _known(inputs["values"]), schemas.get(inputs["chart"]))


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_without_the_chart_archives_the_releases_are_advisory_not_validated(stack: str, charts: Path) -> None:
    # GIVEN a shipped stack and no chart archive anywhere THEN each release says it is not validated
    result = findings(document(stack), CHECK)
    assert sorted(f["resource_name"] for f in result) == list(RELEASES)
    assert all(f["enforcement"] == "advisory" and "not found" in f["message"] for f in result)


def test_a_misspelt_top_level_value_blocks_naming_the_release_and_field(charts: Path) -> None:
    # GIVEN prod's charts available, and a device-plugin release that spells nodeSelector wrong
    doc = document("prod")
    _release_charts(doc, charts)
    release = named(doc, "nvidia-device-plugin-release")
    values = release["inputs"]["values"]
    values["nodeSelecter"] = values.pop("nodeSelector")
    # THEN one blocking finding names the release, the config field and the key Helm would ignore
    result = [f for f in findings(doc, CHECK) if is_blocking(f)]
    assert len(result) == 1
    assert result[0]["urn"] == release["urn"]
    assert result[0]["field"] == "cluster.gpu_node_groups"
    version = release["inputs"]["version"]
    assert f"values.nodeSelecter is not a value of chart nvidia-device-plugin {version}" in result[0]["message"]


def test_a_misspelt_nested_value_blocks_but_free_form_maps_accept_any_key(charts: Path) -> None:
    doc = document("dev")
    _release_charts(doc, charts)
    release = named(doc, "cluster-autoscaler-release")
    values = release["inputs"]["values"]
    values["extraArgs"]["max-node-provision-time"] = "15m"  # any autoscaler flag
    values["containerSecurityContext"]["procMount"] = "Default"  # a Kubernetes object passed through
    assert not [f for f in findings(doc, CHECK) if is_blocking(f)]
    values["image"]["tg"] = values["image"].pop("tag")
    [finding] = [f for f in findings(doc, CHECK) if is_blocking(f)]
    assert finding["field"] == "cluster.kubernetes_version"
    assert "values.image.tg is not a value of chart cluster-autoscaler" in finding["message"]


def test_a_value_of_the_wrong_type_blocks_when_the_chart_ships_a_schema(charts: Path) -> None:
    # GIVEN a device-plugin chart archive that ships a values.schema.json
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"priorityClassName": {"type": "string"}, "devicePlugin": {
            "type": "object", "properties": {"enabled": {"type": "boolean"}}, "required": ["enabled"]}},
    }  # fmt: skip
    doc = document("prod")
    release = named(doc, "nvidia-device-plugin-release")
    defaults = {**_known(release["inputs"]["values"]), "priorityClassName": "", "devicePlugin": {"enabled": True}}
    _chart(charts, release["inputs"]["chart"], release["inputs"]["version"], defaults, schema)
    # WHEN the values are valid THEN nothing (not even the advisory note)
    assert [f for f in findings(doc, CHECK) if f["urn"] == release["urn"]] == []
    # WHEN a value has the wrong type THEN a blocking finding with its path
    release["inputs"]["values"]["priorityClassName"] = 7
    [finding] = [f for f in findings(doc, CHECK) if f["urn"] == release["urn"]]
    assert is_blocking(finding)
    assert "values.priorityClassName: 7 is not of type 'string'" in finding["message"]
    # AND the release's values are merged over the chart's defaults first, as Helm does
    release["inputs"]["values"]["priorityClassName"] = "x"
    release["inputs"]["values"]["devicePlugin"] = {"enabled": "yes"}
    [finding] = [f for f in findings(doc, CHECK) if f["urn"] == release["urn"]]
    assert "values.devicePlugin.enabled: 'yes' is not of type 'boolean'" in finding["message"]


def test_a_chart_without_a_schema_is_advisory_for_types(charts: Path) -> None:
    doc = document("dev")
    _release_charts(doc, charts)
    result = findings(doc, CHECK)
    assert all(f["enforcement"] == "advisory" and "ships no values.schema.json" in f["message"] for f in result)
    assert len(result) == len(RELEASES)


def test_helms_repository_cache_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the chart only in Helm's cache ($HELM_CACHE_HOME/repository)
    monkeypatch.delenv(helm_values.CHARTS_ENV, raising=False)
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path))
    (tmp_path / "repository").mkdir()
    helm_values._chart_files.cache_clear()
    _chart(tmp_path / "repository", "demo", "1.0.0", {"a": 1})
    # THEN its values are found
    assert helm_values.chart_files("demo", "1.0.0") == ({"a": 1}, None)
    assert helm_values.chart_files("demo", "2.0.0") is None


def test_merge_coalesces_maps_and_replaces_the_rest() -> None:
    defaults = {"a": {"b": 1, "c": [1]}, "d": 1}
    assert helm_values.merge(defaults, {"a": {"c": [2]}, "e": 3}) == {"a": {"b": 1, "c": [2]}, "d": 1, "e": 3}
