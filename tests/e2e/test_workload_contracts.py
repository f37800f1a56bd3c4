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

from blueprint.synth import Plan
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
