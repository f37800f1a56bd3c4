"""GpuNodeGroup: tainted GPU nodes with a hardened launch template, autoscaler tags and the device plugin."""

from __future__ import annotations

import functools

import pytest
from hybrid_ai_platform.components.gpu_node_group import autoscaler_tags

from hybrid_ai_platform.cli.synth import Plan, synthesize
from hybrid_ai_platform.config import ConfigError, GpuNodeGroupConfig
from hybrid_ai_platform.contracts import GPU_FAMILIES, GPU_TYPE_BY_FAMILY, GPUS_PER_INSTANCE
from tests.plan_helpers import depends_via, named, of_type

BOTTLEROCKET_SPOT = {
    "admin_role_arns": ["arn:aws:iam::123456789012:role/platform-admins"],
    "gpu_node_groups": [
        {
            "name": "gpu-spot",
            "instance_types": ["g6.xlarge", "g6.2xlarge"],
            "ami_type": "BOTTLEROCKET_x86_64_NVIDIA",
            "capacity_type": "SPOT",
            "min_size": 0,
            "desired_size": 0,
            "max_size": 3,
            "disk_size_gb": 120,
        }
    ],
}


@functools.cache
def bottlerocket_plan() -> Plan:
    """The dev stack with one Bottlerocket spot GPU group."""
    usage = {"gpu_node_hours_per_month": {"gpu-spot": 60}}
    return synthesize(
        "dev", overrides={"hybrid-ai-platform:cluster": BOTTLEROCKET_SPOT, "hybrid-ai-platform:usage": usage}
    )


def test_gpu_nodes_are_tainted_and_labelled_for_gpu_workloads_only(prod_plan: Plan) -> None:
    group = named(prod_plan, "gpu-l4-nodes")
    assert group.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert group.inputs["labels"]["nvidia.com/gpu.present"] == "true"
    assert group.inputs["labels"]["hybrid-ai/gpu-device-plugin"] == "helm"


def test_prod_gpu_group_uses_the_configured_shape(prod_plan: Plan) -> None:
    group = named(prod_plan, "gpu-l4-nodes")
    assert group.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group.inputs["capacityType"] == "ON_DEMAND"
    assert group.inputs["instanceTypes"] == ["g6.2xlarge"]
    assert group.inputs["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 13}
    assert group.inputs["updateConfig"] == {"maxUnavailable": 1}
    assert group.inputs["nodeGroupName"] == "gpu-l4"


def test_dev_gpu_group_scales_to_zero_on_spot(dev_plan: Plan) -> None:
    group = named(dev_plan, "gpu-small-nodes")
    assert group.inputs["scalingConfig"]["minSize"] == 0
    assert group.inputs["capacityType"] == "SPOT"


def test_autoscaler_owns_the_desired_size(any_stack_plan: Plan) -> None:
    # GIVEN every node group of every shipped stack
    # THEN desired size drift is ignored, in the engine's property-path form
    for group in of_type(any_stack_plan, "aws:eks/nodeGroup:NodeGroup"):
        assert group.options["ignore_changes"] == ["scalingConfig.desiredSize"]


def test_launch_template_requires_imdsv2_with_hop_limit_one_and_encrypts_the_root_volume(prod_plan: Plan) -> None:
    # GIVEN the GPU group's launch template
    template = named(prod_plan, "gpu-l4-lt")
    key = named(prod_plan, "stack-key-key")
    # THEN IMDSv2 is required at hop limit 1, the gp3 root volume is KMS-encrypted at the configured size
    assert template.inputs["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
        "instanceMetadataTags": "disabled",
    }
    [root] = template.inputs["blockDeviceMappings"]
    assert root["deviceName"] == "/dev/xvda"
    assert root["ebs"] == {
        "volumeSize": 200,
        "volumeType": "gp3",
        "encrypted": "true",
        "kmsKeyId": root["ebs"]["kmsKeyId"],
        "deleteOnTermination": "true",
    }
    assert depends_via(template, "blockDeviceMappings", key)


def test_nodes_have_no_ssh_access(any_stack_plan: Plan) -> None:
    for template in of_type(any_stack_plan, "aws:ec2/launchTemplate:LaunchTemplate"):
        assert "keyName" not in template.inputs
    for group in of_type(any_stack_plan, "aws:eks/nodeGroup:NodeGroup"):
        assert "remoteAccess" not in group.inputs
        assert "diskSize" not in group.inputs


def test_instances_volumes_and_interfaces_carry_the_stack_tags(prod_plan: Plan) -> None:
    template = named(prod_plan, "gpu-l4-lt")
    specs = {s["resourceType"]: s["tags"] for s in template.inputs["tagSpecifications"]}
    assert set(specs) == {"instance", "volume", "network-interface"}
    for tags in specs.values():
        assert tags["environment"] == "prod"
        assert tags["cost-center"] == "cc-4711"


def test_node_group_is_tagged_for_autoscaler_discovery_and_scale_from_zero(prod_plan: Plan) -> None:
    tags = named(prod_plan, "gpu-l4-nodes").inputs["tags"]
    prefix = "k8s.io/cluster-autoscaler"
    assert tags[f"{prefix}/enabled"] == "true"
    assert tags[f"{prefix}/hybrid-ai-platform-prod"] == "owned"
    assert tags[f"{prefix}/node-template/label/nvidia.com/gpu.present"] == "true"
    assert tags[f"{prefix}/node-template/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert tags[f"{prefix}/node-template/resources/nvidia.com/gpu"] == "1"


@pytest.mark.parametrize(
    ("instance_type", "gpus"),
    [("g4dn.xlarge", "1"), ("g4dn.12xlarge", "4"), ("g5.48xlarge", "8"), ("p4d.24xlarge", "8"), ("p5.48xlarge", "8")],
)
def test_scale_from_zero_template_advertises_the_instance_types_gpu_count(instance_type: str, gpus: str) -> None:
    assert (
        autoscaler_tags("c", "gpu", [instance_type])["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"]
        == gpus
    )


def test_gpu_table_covers_only_gpu_families() -> None:
    assert {t.split(".")[0] for t in GPUS_PER_INSTANCE} == {"g4dn", "g5", "g6", "g6e", "p4d", "p5"}
    assert set(GPU_TYPE_BY_FAMILY) == set(GPU_FAMILIES)


def test_gpu_nodes_carry_the_accelerator_label_the_autoscaler_waits_on(any_stack_plan: Plan) -> None:
    # GIVEN every GPU node group of every shipped stack
    node_groups = of_type(any_stack_plan, "aws:eks/nodeGroup:NodeGroup")
    groups = [g for g in node_groups if g.inputs["nodeGroupName"] != "system"]
    assert groups
    for group in groups:
        family = group.inputs["instanceTypes"][0].split(".")[0]
        # THEN the node label and the scale-from-zero template tag name the family's GPU type
        assert group.inputs["labels"]["k8s.amazonaws.com/accelerator"] == GPU_TYPE_BY_FAMILY[family]
        assert (
            group.inputs["tags"]["k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator"]
            == GPU_TYPE_BY_FAMILY[family]
        )


def test_prod_l4_group_is_labelled_nvidia_l4(prod_plan: Plan) -> None:
    group = named(prod_plan, "gpu-l4-nodes")
    assert group.inputs["labels"]["k8s.amazonaws.com/accelerator"] == "nvidia-l4"


@pytest.mark.parametrize(
    ("instance_type", "gpu_type"),
    [
        ("g4dn.xlarge", "nvidia-tesla-t4"),
        ("g5.xlarge", "nvidia-a10g"),
        ("g6.2xlarge", "nvidia-l4"),
        ("g6e.xlarge", "nvidia-l40s"),
        ("p4d.24xlarge", "nvidia-tesla-a100"),
    ],
)
def test_accelerator_template_tag_follows_the_instance_family(instance_type: str, gpu_type: str) -> None:
    tags = autoscaler_tags("c", "gpu", [instance_type])
    assert tags["k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator"] == gpu_type


def test_a_group_mixing_gpu_types_is_refused_with_the_field_named() -> None:
    group = {"name": "gpu", "instance_types": ["g5.xlarge", "g6.xlarge"]}
    overrides = {"hybrid-ai-platform:cluster": {"gpu_node_groups": [group]}}
    with pytest.raises(ConfigError) as error:
        synthesize("dev", overrides=overrides)
    [problem] = error.value.problems
    assert problem.startswith("cluster.gpu_node_groups[0].instance_types")
    assert "mix GPU types ['nvidia-a10g', 'nvidia-l4']" in problem


def test_a_group_mixing_gpu_counts_is_refused() -> None:
    with pytest.raises(ValueError, match="mix GPU counts"):
        GpuNodeGroupConfig(name="gpu", instance_types=["g5.xlarge", "g5.12xlarge"])


def test_a_cpu_instance_type_in_a_gpu_group_is_refused_with_the_field_named() -> None:
    overrides = {"hybrid-ai-platform:cluster": {"gpu_node_groups": [{"name": "gpu", "instance_types": ["m7i.large"]}]}}
    with pytest.raises(ConfigError, match=r"cluster\.gpu_node_groups\[0\]\.instance_types"):
        synthesize("dev", overrides=overrides)


def test_bottlerocket_group_encrypts_its_os_and_data_volumes() -> None:
    # GIVEN a Bottlerocket spot group with a 120 GB disk
    plan = bottlerocket_plan()
    template = named(plan, "gpu-spot-lt")
    group = named(plan, "gpu-spot-nodes")
    # THEN the OS volume /dev/xvda and the 120 GB data volume /dev/xvdb are both encrypted
    volumes = {m["deviceName"]: m["ebs"] for m in template.inputs["blockDeviceMappings"]}
    assert set(volumes) == {"/dev/xvda", "/dev/xvdb"}
    assert volumes["/dev/xvdb"]["volumeSize"] == 120
    assert all(v["encrypted"] == "true" and v["kmsKeyId"] for v in volumes.values())
    assert group.inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    assert group.inputs["capacityType"] == "SPOT"
    assert group.inputs["instanceTypes"] == ["g6.xlarge", "g6.2xlarge"]
    # AND the Helm device plugin skips it (Bottlerocket runs its own)
    assert group.inputs["labels"]["hybrid-ai/gpu-device-plugin"] == "bottlerocket"


def test_device_plugin_runs_only_on_gpu_nodes_and_tolerates_their_taint(prod_plan: Plan) -> None:
    release = named(prod_plan, "nvidia-device-plugin-release")
    values = release.inputs["values"]
    assert release.inputs["chart"] == "nvidia-device-plugin"
    assert release.inputs["repositoryOpts"] == {"repo": "https://nvidia.github.io/k8s-device-plugin"}
    assert release.inputs["version"] == "0.17.1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {
            "matchExpressions": [
                {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]},
                {"key": "hybrid-ai/gpu-device-plugin", "operator": "In", "values": ["helm"]},
            ]
        }
    ]
