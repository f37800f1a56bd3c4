"""BP-SYS-009 Helm values: the releases' values against the pinned charts' vendored files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from blueprint.checks import helm_values
from blueprint.diff import is_blocking
from components.nvidia_device_plugin import CHART as DEVICE_PLUGIN_CHART
from components.nvidia_device_plugin import CHART_VERSION as DEVICE_PLUGIN_VERSION
from tests.checks.check_helpers import document, findings, named

CHECK = "system-helm-values"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_releases_have_only_the_not_validated_notes(stack: str) -> None:
    # GIVEN a shipped stack THEN no blocking finding, and each release says its types are not validated
    result = findings(document(stack), CHECK)
    assert not [f for f in result if is_blocking(f)]
    assert sorted(f["resource_name"] for f in result) == ["cluster-autoscaler-release", "nvidia-device-plugin-release"]
    assert all("ships no values.schema.json" in f["message"] for f in result)


def test_a_misspelt_top_level_value_blocks_naming_the_release_and_field() -> None:
    # GIVEN prod whose device-plugin release spells nodeSelector wrong (Helm would ignore it)
    doc = document("prod")
    release = named(doc, "nvidia-device-plugin-release")
    values = release["inputs"]["values"]
    values["nodeSelecter"] = values.pop("nodeSelector")
    result = [f for f in findings(doc, CHECK) if is_blocking(f)]
    assert len(result) == 1
    assert result[0]["urn"] == release["urn"]
    assert result[0]["field"] == "cluster.gpu_node_groups"
    assert "values.nodeSelecter is not a value of chart nvidia-device-plugin 0.17.1" in result[0]["message"]


def test_a_misspelt_nested_value_blocks_but_free_form_maps_accept_any_key() -> None:
    doc = document("dev")
    release = named(doc, "cluster-autoscaler-release")
    values = release["inputs"]["values"]
    values["extraArgs"]["max-node-provision-time"] = "15m"  # any autoscaler flag
    values["containerSecurityContext"]["procMount"] = "Default"  # a Kubernetes object passed through
    assert not [f for f in findings(doc, CHECK) if is_blocking(f)]
    values["image"]["tg"] = values["image"].pop("tag")
    [finding] = [f for f in findings(doc, CHECK) if is_blocking(f)]
    assert finding["field"] == "cluster.kubernetes_version"
    assert "values.image.tg is not a value of chart cluster-autoscaler 9.59.0" in finding["message"]


def test_a_chart_version_without_vendored_files_is_not_validated_advisory() -> None:
    doc = document("dev")
    named(doc, "nvidia-device-plugin-release")["inputs"]["version"] = "0.99.0"
    result = [f for f in findings(doc, CHECK) if f["resource_name"] == "nvidia-device-plugin-release"]
    assert [(f["enforcement"], "not validated" in f["message"]) for f in result] == [("advisory", True)]


def test_a_value_of_the_wrong_type_blocks_when_the_chart_ships_a_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a chart version that ships a values.schema.json (vendored into a test data dir)
    version = "0.17.1-schema-test"
    defaults = yaml.safe_load(
        (helm_values.DATA_DIR / f"{DEVICE_PLUGIN_CHART}-{DEVICE_PLUGIN_VERSION}.values.yaml").read_text()
    )
    (tmp_path / f"{DEVICE_PLUGIN_CHART}-{version}.values.yaml").write_text(yaml.safe_dump(defaults))
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"priorityClassName": {"type": "string"}, "devicePlugin": {
            "type": "object", "properties": {"enabled": {"type": "boolean"}}, "required": ["enabled"]}},
    }  # fmt: skip
    (tmp_path / f"{DEVICE_PLUGIN_CHART}-{version}.values.schema.json").write_text(json.dumps(schema))
    monkeypatch.setattr(helm_values, "DATA_DIR", tmp_path)
    doc = document("prod")
    release = named(doc, "nvidia-device-plugin-release")
    release["inputs"]["version"] = version
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


def test_merge_coalesces_maps_and_replaces_the_rest() -> None:
    defaults = {"a": {"b": 1, "c": [1]}, "d": 1}
    assert helm_values.merge(defaults, {"a": {"c": [2]}, "e": 3}) == {"a": {"b": 1, "c": [2]}, "d": 1, "e": 3}
