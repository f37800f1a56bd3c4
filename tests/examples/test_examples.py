"""The consumer programs in examples/ run under the mock runtime through the public testing helper.

Each example is run as `pulumi up` runs it (its Pulumi.yaml and __main__.py) with
:func:`hybrid_ai_platform.testing.run_project`; the assertions name what a consumer relies on.
tests/packaging/test_wheel.py runs the same programs from the installed wheel.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hybrid_ai_platform.components as public
import pytest

from hybrid_ai_platform.testing import TEST_ACCOUNT, ProgramResult, run_project

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
KEY_ARN = f"arn:aws:kms:eu-west-1:{TEST_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

GPU_CONFIG = {
    "aws:region": "eu-west-1",
    "clusterName": "shared-prod",
    "nodeRoleArn": f"arn:aws:iam::{TEST_ACCOUNT}:role/shared-prod-nodes",
    "subnetIds": ["subnet-0aaa1111bbbb2222c", "subnet-0ccc3333dddd4444e"],
    "kmsKeyArn": KEY_ARN,
}


def preprocessing_config() -> dict[str, object]:
    return {
        "aws:region": "eu-west-1",
        "kmsKeyArn": KEY_ARN,
        "lambdaManifest": str(ROOT / "build" / "lambda" / "arm64" / "manifest.json"),
    }


def test_examples_are_pulumi_python_projects_with_a_readme_line() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    examples = sorted(p.parent.name for p in EXAMPLES.glob("*/Pulumi.yaml"))
    assert examples == ["gpu-node-group", "preprocessing-pipeline"]
    for name in examples:
        assert (EXAMPLES / name / "__main__.py").is_file()
        assert f"[`{name}/`]({name}/)" in readme, f"examples/README.md has no line for {name}"


@pytest.mark.parametrize("name", ["gpu-node-group", "preprocessing-pipeline"])
def test_examples_use_only_public_component_names(name: str) -> None:
    # GIVEN the example's imports of the library
    tree = ast.parse((EXAMPLES / name / "__main__.py").read_text())
    imported = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hybrid_ai_platform")
        for alias in node.names
    }
    # THEN every name comes from hybrid_ai_platform.components and is in its __all__ (no stack config)
    assert imported, f"{name} imports nothing from the library"
    for module, symbol in imported:
        assert module == "hybrid_ai_platform.components", f"{name} imports {symbol} from {module}"
        assert symbol in public.__all__, f"{name} imports {symbol}, which is not public"


def run_gpu() -> ProgramResult:
    return run_project(EXAMPLES / "gpu-node-group", config=GPU_CONFIG, stack="prod")


def test_gpu_node_group_example_joins_the_existing_cluster() -> None:
    result = run_gpu()
    # THEN the one component and its node group and launch template, nothing else (the cluster is only read)
    assert sorted(r.type for r in result.resources) == [
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:eks/nodeGroup:NodeGroup",
        "hybrid-ai:compute:GpuNodeGroup",
    ]
    (component,) = result.of_type("hybrid-ai:compute:GpuNodeGroup")
    assert (
        component.parent == "urn:pulumi:prod::gpu-node-group-example::pulumi:pulumi:Stack::gpu-node-group-example-prod"
    )
    (group,) = result.of_type("aws:eks/nodeGroup:NodeGroup")
    (template,) = result.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert group.parent == component.urn and template.parent == component.urn
    # AND the group joins the named cluster with the given role and subnets
    assert group.inputs["clusterName"] == "shared-prod"
    assert group.inputs["nodeRoleArn"] == GPU_CONFIG["nodeRoleArn"]
    assert group.inputs["subnetIds"] == GPU_CONFIG["subnetIds"]
    assert group.inputs["instanceTypes"] == ["g6.xlarge", "g6.2xlarge"]
    # AND only GPU workloads are scheduled on it, and the autoscaler can scale it from zero
    assert group.inputs["taints"] == [{"effect": "NO_SCHEDULE", "key": "nvidia.com/gpu", "value": "true"}]
    assert group.inputs["labels"]["k8s.amazonaws.com/accelerator"] == "nvidia-l4"
    assert group.inputs["tags"]["k8s.io/cluster-autoscaler/shared-prod"] == "owned"
    assert group.inputs["scalingConfig"] == {"desiredSize": 0, "maxSize": 4, "minSize": 0}
    # AND its volumes are encrypted with the given key, IMDSv2 only
    (volume,) = template.inputs["blockDeviceMappings"]
    assert volume["ebs"]["encrypted"] == "true" and volume["ebs"]["kmsKeyId"] == KEY_ARN
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert result.outputs == {"node_group_name": "gpu-l4"}


def test_preprocessing_example_builds_the_pipeline_on_the_given_key() -> None:
    result = run_project(EXAMPLES / "preprocessing-pipeline", config=preprocessing_config(), stack="dev")
    # THEN the pipeline's rule, queues, mapping, function and role exist, under its component
    (pipeline,) = result.of_type("hybrid-ai:preprocessing:PreprocessingPipeline")
    under_pipeline = {r.type for r in result.resources if r.urn.startswith(pipeline.urn.rsplit("::", 1)[0] + "$")}
    assert {
        "aws:cloudwatch/eventRule:EventRule",
        "aws:sqs/queue:Queue",
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "aws:lambda/function:Function",
        "aws:iam/role:Role",
    } <= under_pipeline
    (function,) = result.of_type("aws:lambda/function:Function")
    assert function.inputs["name"] == "dev-transactions"
    assert function.inputs["kmsKeyArn"] == KEY_ARN
    assert function.inputs["architectures"] == ["arm64"]
    assert function.inputs["environment"]["variables"]["LANDING_PREFIX"] == "raw/transactions/"
    # AND both queues are encrypted with the given key
    queues = result.of_type("aws:sqs/queue:Queue")
    assert len(queues) == 2 and all(q.inputs["kmsMasterKeyId"] == KEY_ARN for q in queues)
    # AND the rule matches objects created under the function's prefix of the landing bucket
    (rule,) = result.of_type("aws:cloudwatch/eventRule:EventRule")
    assert '"raw/transactions/"' in rule.inputs["eventPattern"]
    # AND the two buckets are the library's hardened buckets on the same key
    encryption = result.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    keys = {e.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] for e in encryption}
    assert len(encryption) == 2 and keys == {KEY_ARN}
    assert set(result.outputs) == {"queue_url", "function_name"}


def test_run_project_refuses_a_directory_without_a_project(tmp_path: Path) -> None:
    from hybrid_ai_platform.cli.synth import PlanError

    with pytest.raises(PlanError, match=r"holds no Pulumi\.yaml"):
        run_project(tmp_path)
