"""The infrastructure and the workload code agree on their contract.

The components hand the Lambda and the inference image their configuration as environment
variables; the workload code validates exactly that environment at start-up. These tests feed
the environment recorded in each shipped stack's plan to the workload code's own validators,
so a renamed variable, a wrong prefix or a mismatched port fails here, before a deployment.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from hybrid_ai_platform.cli.synth import Plan
from tests.conftest import SHIPPED_STACKS, shipped_plan
from tests.plan_helpers import named, of_type, statements

REPO = Path(__file__).resolve().parents[2]


def k8s_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_each_function_environment_satisfies_the_handler_settings(stack: str) -> None:
    from preprocessing.config import Settings

    plan: Plan = shipped_plan(stack)
    functions = of_type(plan, "aws:lambda/function:Function")
    assert functions
    for function in functions:
        # GIVEN the environment the component sets WHEN the handler validates it at start-up
        env = function.inputs["environment"]["variables"]
        settings = Settings.from_environ(env)
        # THEN it is accepted and names the stack's own buckets
        assert settings.landing_bucket == named(plan, "landing-bucket").id
        assert settings.feature_bucket == named(plan, "feature-store-bucket").id
        # and the handler string names a function of the packaged code (read, not imported: importing
        # the handler would build its Powertools objects without the Lambda's environment)
        module, _, attr = function.inputs["handler"].rpartition(".")
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, module
        tree = ast.parse(Path(spec.origin).read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} | {
            t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
        }
        assert attr in defined, f"{module} defines no {attr}"
        # and the role lets the function write exactly where the handler writes
        pipeline = function.name.removesuffix("-function")
        policy = {s["Sid"]: s for s in statements(named(plan, f"{pipeline}-role-policy").inputs["policy"])}
        bucket_arn = f"arn:aws:s3:::{settings.feature_bucket}"
        assert policy["WriteOwnFeatures0"]["Resource"] == f"{bucket_arn}/{settings.feature_prefix}*"
        for prefix in (settings.quarantine_prefix, settings.manifest_prefix):
            assert prefix.startswith(settings.feature_prefix)
        landing_arn = f"arn:aws:s3:::{settings.landing_bucket}"
        assert policy["ReadLanding0"]["Resource"] == f"{landing_arn}/{settings.landing_prefix}*"


def dockerfile_user() -> int:
    match = re.search(r"^USER (\d+)(?::\d+)?$", (REPO / "container_src" / "Dockerfile").read_text(), re.M)
    assert match, "container_src/Dockerfile must set a numeric USER"
    return int(match.group(1))


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_each_inference_deployment_matches_the_server_image(stack: str) -> None:
    from inference_server.app import create_app  # noqa: F401 - the module the image runs
    from inference_server.config import Settings

    plan = shipped_plan(stack)
    deployments = of_type(plan, "kubernetes:apps/v1:Deployment")
    assert deployments
    for deployment in deployments:
        pod = deployment.inputs["spec"]["template"]["spec"]
        [container] = pod["containers"]
        # GIVEN the Deployment's environment WHEN the server validates it THEN it is accepted
        settings = Settings.from_env(k8s_env(container))
        registry = named(plan, "model-registry-bucket").id
        assert settings.model_repository.uri_for(settings.model_name, settings.model_version).startswith(
            f"s3://{registry}/models/{settings.model_name}/"
        )
        # the container port, the probes and the user are the ones the image serves and runs as
        assert [p["containerPort"] for p in container["ports"]] == [settings.port]
        assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert container["securityContext"]["runAsUser"] == dockerfile_user()
        # the model cache the server writes to is a mounted volume (the root filesystem is read-only)
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert str(settings.model_cache_dir) in mounts


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_each_batch_job_environment_satisfies_the_batch_settings(stack: str) -> None:
    from inference_server.batch import BatchSettings

    plan = shipped_plan(stack)
    jobs = of_type(plan, "kubernetes:batch/v1:CronJob")
    assert jobs
    for job in jobs:
        [container] = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        settings = BatchSettings.from_env(k8s_env(container), date_arg="2026-11-24")
        assert container["args"] == ["batch"]
        feature_bucket = named(plan, "feature-store-bucket").id
        assert settings.feature_bucket == feature_bucket
        # scores stay inside the feature set's prefix, the only place the job's role may write
        assert settings.output_prefix.startswith(settings.input_prefix)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_each_batch_job_sets_only_variables_the_batch_code_reads(stack: str) -> None:
    import yaml
    from hybrid_ai_platform.components.batch_job import NON_RETRIABLE_EXIT_CODES
    from inference_server import batch

    from hybrid_ai_platform.config import BatchJobConfig

    plan = shipped_plan(stack)
    raw = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    jobs = raw["hybrid-ai-platform:inference"]["batch_jobs"]
    configured = {job.name: job for job in map(BatchJobConfig.model_validate, jobs)}
    for job in of_type(plan, "kubernetes:batch/v1:CronJob"):
        spec = job.inputs["spec"]["jobTemplate"]["spec"]
        [container] = spec["template"]["spec"]["containers"]
        env = k8s_env(container)
        # GIVEN the CronJob's environment THEN every variable it sets is one the batch code reads (a renamed
        # variable would otherwise be ignored silently and the default used); AWS_* are boto3's own
        own = {name for name in env if not name.startswith("AWS_")}
        assert own <= batch.ENV_VARS, sorted(own - batch.ENV_VARS)
        # and the lookback window from config arrives as the value the code parses
        settings = batch.BatchSettings.from_env(env, date_arg="2026-11-24")
        assert settings.lookback_days == configured[job.inputs["metadata"]["name"]].lookback_days
        assert "LOOKBACK_DAYS" in env
        # and the Job's failure policy knows the code's non-retriable exit statuses
        assert NON_RETRIABLE_EXIT_CODES == (batch.EXIT_CONFIG, batch.EXIT_CONTRACT)
        [fail_rule] = [r for r in spec["podFailurePolicy"]["rules"] if r["action"] == "FailJob"]
        assert fail_rule["onExitCodes"]["containerName"] == container["name"]


EXAMPLE_SIGNATURE = REPO / "docs" / "examples" / "fraud-scorer.signature.json"


def _model_for(signature: Any) -> bytes:
    """A real ONNX model whose inputs are the signature's ([N, K] per input) -> ``score`` [N, 1]."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inputs, inits, partial = [], [], [], []
    for i, entry in enumerate(signature.inputs):
        k = len(entry.columns)
        inputs.append(helper.make_tensor_value_info(entry.name, TensorProto.FLOAT, ["N", k]))
        inits.append(numpy_helper.from_array(np.linspace(-1, 1, k, dtype=np.float32).reshape(k, 1), f"W{i}"))
        nodes.append(helper.make_node("MatMul", [entry.name, f"W{i}"], [f"Z{i}"]))
        partial.append(f"Z{i}")
    nodes.append(helper.make_node("Sum", partial, ["Z"]))
    nodes.append(helper.make_node("Sigmoid", ["Z"], ["score"]))
    graph = helper.make_graph(
        nodes, "signature_model", inputs, [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])], inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_producer_lambda_output_fits_the_batch_jobs_model_signature(stack: str, tmp_path: Path) -> None:
    """Producer and consumer checked together: the real Lambda transform of the shipped sample, through the
    batch job's own contract checks with the reference signature of the model the job runs."""
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.parquet as pq
    from inference_server import batch
    from inference_server.model import LoadedModel
    from inference_server.signature import ModelSignature
    from preprocessing.feature_sets import get_feature_set
    from preprocessing.lineage import Lineage
    from preprocessing.pipeline import transform

    plan = shipped_plan(stack)
    producers = {
        f.inputs["environment"]["variables"]["FEATURE_PREFIX"]: f.inputs["environment"]["variables"]["FEATURE_SET"]
        for f in of_type(plan, "aws:lambda/function:Function")
    }
    signature = ModelSignature.parse(EXAMPLE_SIGNATURE.read_bytes(), str(EXAMPLE_SIGNATURE))
    for job in of_type(plan, "kubernetes:batch/v1:CronJob"):
        [container] = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        settings = batch.BatchSettings.from_env(k8s_env(container), date_arg="2026-11-24")
        # GIVEN the preprocessing function of the same stack that writes the prefix the job reads
        assert settings.input_prefix in producers, f"no preprocessing function writes {settings.input_prefix}"
        feature_set = get_feature_set(producers[settings.input_prefix])
        assert signature.feature_set == settings.feature_set == feature_set.name
        # WHEN the Lambda's real transform turns the shipped sample into its Parquet files
        sample = REPO / "lambda_src" / "samples" / f"{feature_set.name}_sample.csv"
        lineage = Lineage("landing", f"raw/{sample.name}", "v1", "etag", feature_set.name, "1", "code")
        result = transform(sample.name, sample.read_bytes(), feature_set, lineage, datetime(2026, 11, 24, tzinfo=UTC))
        assert result.partitions
        # THEN each file passes the batch job's contract check against the model's signature
        model_path = tmp_path / stack / "model.onnx"
        model_path.parent.mkdir(parents=True)
        model_path.write_bytes(_model_for(signature))
        model = LoadedModel.load(model_path, settings.model.model_name, settings.model.model_version)
        signature.check_model(model.inputs, batch.output_column_names(model), str(EXAMPLE_SIGNATURE))
        for part in result.partitions:
            parquet = pq.ParquetFile(pa.BufferReader(part.body))
            signature.check_schema(parquet.schema_arrow, part.partition)
            # and its rows score, with the key columns present to join the scores back
            table = parquet.read(columns=list(signature.columns))
            [record_batch] = table.combine_chunks().to_batches() or [None]
            feeds = batch.build_feeds(model, signature, record_batch)
            scores = batch.score(model, feeds, record_batch.num_rows, 64)["score"]
            assert scores.shape == (part.rows, 1)
            assert table["transaction_id"].null_count == 0 and table.num_rows == part.rows
