"""The quotas a stack needs: computed from its validated config, listed in the plan, rendered."""

from __future__ import annotations

from typing import Any

import pytest
from hybrid_ai_platform.components.instance_types import UnknownInstanceTypeError, table, vcpus

from hybrid_ai_platform.cli.main import plan_document
from hybrid_ai_platform.cli.quotas import (
    ELASTIC_IPS,
    G_VT_ON_DEMAND,
    G_VT_SPOT,
    LAMBDA_CONCURRENCY,
    NAT_GATEWAYS_PER_AZ,
    P2_P3_P4_SPOT,
    P5_SPOT,
    P_ON_DEMAND,
    STANDARD_ON_DEMAND,
    VPCS_PER_REGION,
    QuotaClassError,
    QuotaNeed,
    QuotaReport,
    ec2_quota,
    quota_needs,
    stack_config,
)
from hybrid_ai_platform.cli.report import markdown, text
from hybrid_ai_platform.cli.synth import PROJECT_ROOT
from hybrid_ai_platform.config import PlatformConfig
from hybrid_ai_platform.contracts import GPUS_PER_INSTANCE


def needs_by_code(config: PlatformConfig) -> dict[str, int]:
    return {n.quota_code: n.needed for n in quota_needs(config).needs}


def with_changes(config: PlatformConfig, **sections: Any) -> PlatformConfig:
    """The config with some sections replaced by validated raw values."""
    raw = config.model_dump(mode="json")
    raw.update(sections)
    return PlatformConfig.model_validate(raw)


def test_prod_needs_its_gpu_system_lambda_and_network_quotas() -> None:
    # GIVEN prod: g6.2xlarge GPU nodes (8 vCPUs each) On-Demand, m7i.xlarge system nodes (4 vCPUs),
    # reserved concurrency on each function, one NAT gateway per AZ
    config = stack_config("prod")
    gpu, system = config.cluster.gpu_node_groups[0], config.cluster.system_node_group
    assert (gpu.instance_types, gpu.capacity_type, system.instance_types) == (
        ["g6.2xlarge"],
        "ON_DEMAND",
        ["m7i.xlarge"],
    )
    assert config.nat_gateways == "one_per_az"
    # WHEN its quota needs are computed
    needs = needs_by_code(config)
    # THEN each quota carries the value the stack needs at its maximum
    assert needs == {
        G_VT_ON_DEMAND.quota_code: gpu.max_size * 8,
        STANDARD_ON_DEMAND.quota_code: system.max_size * 4,
        LAMBDA_CONCURRENCY.quota_code: sum(f.reserved_concurrency for f in config.preprocessing.functions) + 100,
        ELASTIC_IPS.quota_code: config.az_count,
        VPCS_PER_REGION.quota_code: 1,
        NAT_GATEWAYS_PER_AZ.quota_code: 1,
    }


def test_spot_gpu_groups_count_against_the_spot_quota() -> None:
    # GIVEN dev: a SPOT g4dn.xlarge group (4 vCPUs per node) and a single NAT gateway
    config = stack_config("dev")
    gpu = config.cluster.gpu_node_groups[0]
    assert (gpu.instance_types, gpu.capacity_type, config.nat_gateways) == (["g4dn.xlarge"], "SPOT", "single")
    # WHEN its needs are computed
    needs = needs_by_code(config)
    # THEN the G and VT Spot quota is needed, not the On-Demand one; a single NAT needs one EIP
    assert needs[G_VT_SPOT.quota_code] == gpu.max_size * 4
    assert G_VT_ON_DEMAND.quota_code not in needs
    assert needs[ELASTIC_IPS.quota_code] == 1


def test_a_group_with_several_types_counts_its_largest_and_groups_of_one_class_add_up() -> None:
    # GIVEN two On-Demand GPU groups: g5.xlarge/g5.2xlarge up to 4 nodes, g6.4xlarge up to 3
    base = stack_config("prod")
    cluster = base.cluster.model_dump(mode="json")
    cluster["gpu_node_groups"] = [
        {"name": "gpu-a", "instance_types": ["g5.xlarge", "g5.2xlarge"], "max_size": 4},
        {"name": "gpu-b", "instance_types": ["g6.4xlarge"], "max_size": 3},
    ]
    config = with_changes(base, cluster=cluster, usage={})
    # WHEN needs are computed
    need = next(n for n in quota_needs(config).needs if n.quota == G_VT_ON_DEMAND)
    # THEN the group counts 4 x 8 (its largest type) and the other 3 x 16, on one quota, both explained
    assert need.needed == 4 * 8 + 3 * 16
    assert [r.split(":")[0] for r in need.reasons] == ["GPU node group 'gpu-a'", "GPU node group 'gpu-b'"]


@pytest.mark.parametrize(
    ("instance_type", "capacity", "quota"),
    [
        ("p4d.24xlarge", "ON_DEMAND", P_ON_DEMAND),
        ("p5.48xlarge", "ON_DEMAND", P_ON_DEMAND),
        ("p4d.24xlarge", "SPOT", P2_P3_P4_SPOT),
        ("p5.48xlarge", "SPOT", P5_SPOT),
        ("g6e.xlarge", "ON_DEMAND", G_VT_ON_DEMAND),
        ("t3.large", "ON_DEMAND", STANDARD_ON_DEMAND),
    ],
)
def test_instance_families_map_to_their_documented_quota(instance_type: str, capacity: Any, quota: Any) -> None:
    assert ec2_quota(instance_type, capacity) == quota


def test_an_unknown_family_is_refused_not_guessed() -> None:
    with pytest.raises(QuotaClassError, match=r"x2idn\.large"):
        ec2_quota("x2idn.large", "ON_DEMAND")


def test_an_existing_vpc_needs_no_vpc_eip_or_nat_quota() -> None:
    # GIVEN a stack that brings its own VPC
    base = stack_config("dev")
    network = {
        "existing": {
            "vpc_id": "vpc-0123456789abcdef0",
            "private_subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        }
    }
    config = with_changes(base, network=network)
    # WHEN needs are computed
    needs = needs_by_code(config)
    # THEN no network quota is listed
    assert not {VPCS_PER_REGION.quota_code, ELASTIC_IPS.quota_code, NAT_GATEWAYS_PER_AZ.quota_code} & set(needs)


def test_a_system_type_without_a_vcpu_count_is_reported_with_its_field() -> None:
    # GIVEN a system node group of an instance type the vCPU table does not hold
    base = stack_config("dev")
    cluster = base.cluster.model_dump(mode="json")
    cluster["system_node_group"]["instance_types"] = ["m9g.large"]
    config = with_changes(base, cluster=cluster)
    # WHEN needs are computed
    report = quota_needs(config)
    # THEN the problem names the field and the data file; the other needs are still listed
    assert len(report.problems) == 1
    assert report.problems[0].startswith("cluster.system_node_group.instance_types: instance type 'm9g.large'")
    assert "components/data/instance_types.json" in report.problems[0]
    assert G_VT_SPOT.quota_code in {n.quota_code for n in report.needs}


def test_every_gpu_instance_type_the_config_accepts_has_a_vcpu_count() -> None:
    # The table is the single source of vCPUs, with its source and date.
    assert table()["source"] and table()["date"]
    missing = [t for t in GPUS_PER_INSTANCE if t not in table()["vcpus"]]
    assert missing == []
    with pytest.raises(UnknownInstanceTypeError):
        vcpus("m9g.large")


def _plan_totals(document: dict[str, Any]) -> dict[str, int]:
    """What the synthesized resources themselves ask for, counted independently of the config."""
    totals: dict[str, int] = {}
    for resource in document["resources"]:
        inputs = resource["inputs"]
        if resource["type"] == "aws:eks/nodeGroup:NodeGroup":
            capacity = inputs.get("capacityType", "ON_DEMAND")
            biggest = max(vcpus(t) for t in inputs["instanceTypes"])
            code = ec2_quota(inputs["instanceTypes"][0], capacity).quota_code
            totals[code] = totals.get(code, 0) + inputs["scalingConfig"]["maxSize"] * biggest
        elif resource["type"] == "aws:lambda/function:Function":
            code = LAMBDA_CONCURRENCY.quota_code
            totals[code] = totals.get(code, 100) + inputs["reservedConcurrentExecutions"]
        elif resource["type"] == "aws:ec2/eip:Eip":
            totals[ELASTIC_IPS.quota_code] = totals.get(ELASTIC_IPS.quota_code, 0) + 1
        elif resource["type"] == "aws:ec2/vpc:Vpc":
            totals[VPCS_PER_REGION.quota_code] = totals.get(VPCS_PER_REGION.quota_code, 0) + 1
    return totals


def test_the_plan_lists_the_quotas_its_own_resources_use() -> None:
    # GIVEN the prod plan as `blueprint plan` builds it
    document, _ = plan_document("prod", PROJECT_ROOT)
    # WHEN its quotas section is read
    section = document.quotas
    assert section is not None
    listed = {q.quota_code: q.needed for q in section.required}
    # THEN every quota the synthesized node groups, functions, EIPs and VPC use is listed with that value
    for code, total in _plan_totals(document.to_json()).items():
        assert listed[code] == total, code
    # AND the section is sorted and complete (service code, quota code, name, value, why)
    keys = [(q.service_code, q.quota_code) for q in section.required]
    assert keys == sorted(keys)
    assert section.region == "eu-central-1"
    assert section.problems == []
    assert all(q.quota_name and q.reasons for q in section.required)


def test_text_and_markdown_show_each_quota_with_its_code_and_value() -> None:
    # GIVEN a plan document with a quotas section
    report = QuotaReport("eu-central-1", [QuotaNeed(G_VT_ON_DEMAND, 48, ("GPU node group 'gpu': 6 x g6.2xlarge",))])
    document = {"stack": "prod", "project": "p", "resources": [], "quotas": report.to_json()}
    # WHEN it is rendered
    plain = text.render_plan(document)
    table_md = markdown.render_plan(document)
    # THEN both show the quota with its code, the value needed and why, and name the preflight command
    assert "48 vCPUs  ec2/L-DB2E81BA Running On-Demand G and VT instances" in plain
    assert "GPU node group 'gpu': 6 x g6.2xlarge" in plain
    assert "`blueprint preflight --stack prod`" in plain
    assert (
        "| `ec2` | `L-DB2E81BA` | Running On-Demand G and VT instances | 48 vCPUs "
        "| GPU node group 'gpu': 6 x g6.2xlarge |" in table_md
    )
    assert "Quotas needed in `eu-central-1` (1)" in table_md


def test_a_plan_without_the_section_renders_no_quota_lines() -> None:
    document = {"stack": "prod", "project": "p", "resources": []}
    assert "Quotas" not in text.render_plan(document)
    assert "Quotas" not in markdown.render_plan(document)


def test_needs_that_could_not_be_computed_are_shown_in_both_reports() -> None:
    report = QuotaReport("eu-west-1", problems=["cluster.system_node_group.instance_types: instance type 'm9g.large'"])
    document = {"stack": "dev", "project": "p", "resources": [], "quotas": report.to_json()}
    assert "not computed: cluster.system_node_group.instance_types: instance type 'm9g.large'" in text.render_plan(
        document
    )
    assert "Not computed: cluster.system_node_group.instance_types" in markdown.render_plan(document)
