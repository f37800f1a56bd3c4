"""``blueprint diff``: resources, property paths, replacements, cost, policies, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import BASE_PLAN, HEAD_PLAN, by_name, clone, plan_pair, run_cli

from hybrid_ai_platform.cli.diff import diff_plans, property_changes, replace_paths


def _change(result, name):
    matches = [c for c in result.resources if c.name == name]
    assert len(matches) == 1, name
    return matches[0]


def test_counts_added_changed_replaced_removed_and_unchanged_resources() -> None:
    # GIVEN the fixed pair (1 ECR repository added, 2 schedule resources removed, ...)
    base, head = plan_pair()
    # WHEN they are diffed
    result = diff_plans(base, head)
    # THEN each action is counted and the rest is unchanged
    assert (result.count("create"), result.count("update"), result.count("replace"), result.count("delete")) == (
        1,
        5,
        1,
        2,
    )
    assert result.unchanged == len(base["resources"]) - 1 - 8  # minus the stack and the 8 changed/removed
    assert _change(result, "inference-server").action == "create"
    assert {c.name for c in result.resources if c.action == "delete"} == {
        "transactions-backfill-schedule",
        "transactions-backfill-schedule-target",
    }


def test_marks_a_gpu_instance_type_change_as_forcing_replacement_but_not_a_scaling_change() -> None:
    # GIVEN the node group's instance type and max size changed
    result = diff_plans(*plan_pair())
    # WHEN the node group's change is inspected
    change = _change(result, "gpu-l4-nodes")
    # THEN it is a replacement caused by instanceTypes only, with nested paths
    assert change.action == "replace"
    by_path = {p.path: p for p in change.changes}
    assert by_path["instanceTypes[0]"].replaces and by_path["instanceTypes[0]"].reason == "provider schema"
    assert not by_path["scalingConfig.maxSize"].replaces
    assert (by_path["scalingConfig.maxSize"].before, by_path["scalingConfig.maxSize"].after) == (6, 8)


def test_keys_list_elements_by_a_stable_name_and_diffs_json_policies_inside() -> None:
    result = diff_plans(*plan_pair())
    # THEN the container is addressed by name, the IAM action by value
    deployment = {p.path for p in _change(result, "fraud-scorer").changes}
    assert "spec.template.spec.containers[name=server].image" in deployment
    policy = [p.path for p in _change(result, "transactions-role-policy").changes]
    assert policy == ['policy.Statement[Sid=ConsumeOwnQueue].Action["sqs:DeleteMessageBatch"]']


def test_deployment_selector_change_replaces_and_replace_on_changes_option_is_honoured() -> None:
    # GIVEN a Deployment selector change, and a queue whose plan asks to replace on any change
    base, head = plan_pair()
    head = clone(head)
    by_name(head, "fraud-scorer")["inputs"]["spec"]["selector"]["matchLabels"]["app"] = "fraud"
    by_name(head, "transactions-dlq")["options"]["replace_on_changes"] = ["messageRetentionSeconds"]
    by_name(base, "transactions-dlq")["options"]["replace_on_changes"] = ["messageRetentionSeconds"]
    by_name(head, "transactions-dlq")["inputs"]["messageRetentionSeconds"] = 60
    # WHEN diffed
    result = diff_plans(base, head)
    # THEN both are replacements, each with its reason
    assert _change(result, "fraud-scorer").action == "replace"
    dlq = _change(result, "transactions-dlq")
    assert dlq.action == "replace"
    assert dlq.changes[0].reason == "replace_on_changes option"


def test_replace_table_covers_the_types_the_library_creates() -> None:
    assert "objectLockEnabled" in replace_paths("aws:s3/bucket:Bucket")
    assert {"amiType", "instanceTypes", "capacityType", "nodeGroupName", "subnetIds"} <= set(
        replace_paths("aws:eks/nodeGroup:NodeGroup")
    )
    assert {"name", "vpcConfig.subnetIds", "encryptionConfig"} <= set(replace_paths("aws:eks/cluster:Cluster"))
    assert {"name", "fifoQueue"} <= set(replace_paths("aws:sqs/queue:Queue"))
    assert replace_paths("aws:kms/key:Key")[0] == "multiRegion"
    assert "name" in replace_paths("aws:ecr/repository:Repository")
    assert {"metadata.name", "metadata.namespace", "spec.selector"} <= set(
        replace_paths("kubernetes:apps/v1:Deployment")
    )


def test_property_changes_report_added_and_removed_keys() -> None:
    changes = property_changes({"a": {"b": 1}}, {"a": {"c": 2}})
    assert [c[0] for c in changes] == ["a.b", "a.c"]


def test_cost_before_after_and_delta_per_resource_and_in_total() -> None:
    result = diff_plans(*plan_pair())
    assert (result.cost.before, result.cost.after, result.cost.delta) == (3688.68, 5578.42, 1889.74)
    lines = {x.name: x for x in result.cost.lines}
    assert lines["gpu-l4-nodes"].delta == 1813.9
    assert lines["inference-server"].before == 0.0
    assert _change(result, "transactions-function").cost_after == 266.67


def test_new_and_fixed_violations_are_compared_by_policy_urn_and_message() -> None:
    result = diff_plans(*plan_pair())
    assert sorted(v.policy for v in result.policies.new) == [
        "ecr-image-scanning",
        "s3-bucket-versioning",
        "system-kubernetes-schema",  # system-check findings are diffed like violations
    ]
    assert [v.policy for v in result.policies.fixed] == ["budget-configured"]
    # the excepted mandatory-looking advisory and the unchanged advisory do not block
    assert len(result.policies.blocking) == 3


def test_fail_on_violations_exits_1_when_head_has_unexcepted_mandatory_violations(capsys) -> None:
    code, _, _ = run_cli(capsys, "diff", str(BASE_PLAN), str(HEAD_PLAN), "--fail-on-violations", "-f", "json")
    assert code == 1


def test_diff_of_a_plan_with_itself_exits_0_and_reports_nothing(capsys) -> None:
    code, out, _ = run_cli(capsys, "diff", str(BASE_PLAN), str(BASE_PLAN), "--fail-on-violations", "-f", "json")
    document = json.loads(out)
    assert code == 0
    assert document["stacks"][0]["resources"] == []
    assert document["blocking"] == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ('{"format_version": 1, "stack": "prod"}', "not a plan document ($: 'resources' is a required property)"),
        ("[]", "not a plan document"),
    ],
)
def test_unusable_plan_file_exits_2_naming_the_file_without_traceback(
    tmp_path: Path, capsys, content, expected
) -> None:
    # GIVEN a missing or broken base file
    bad = tmp_path / "broken.json"
    if content is not None:
        bad.write_text(content)
    # WHEN diffed
    code, out, err = run_cli(capsys, "diff", str(bad), str(HEAD_PLAN))
    # THEN exit 2 with one clear line naming the file
    assert code == 2
    assert out == ""
    assert str(bad) in err and expected in err
    assert "Traceback" not in err


def test_plans_of_different_stacks_are_a_user_error(tmp_path: Path, capsys) -> None:
    base, _ = plan_pair()
    base["stack"] = "dev"
    other = tmp_path / "dev.json"
    other.write_text(json.dumps(base))
    code, _, err = run_cli(capsys, "diff", str(other), str(HEAD_PLAN))
    assert code == 2 and "same stack" in err
