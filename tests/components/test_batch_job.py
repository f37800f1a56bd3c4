"""BatchScoringJob: a GPU CronJob with its own least-privilege identity over one feature set."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from hybrid_ai_platform.cli.synth import PROJECT_ROOT, Plan, synthesize
from hybrid_ai_platform.config import ConfigError
from tests.plan_helpers import named, statements


def _job_spec(plan: Plan) -> dict[str, Any]:
    return named(plan, "nightly-fraud-scores-cronjob").inputs["spec"]


def _container(plan: Plan) -> dict[str, Any]:
    [container] = _job_spec(plan)["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return container


def test_batch_runs_never_overlap_and_are_bounded(prod_plan: Plan) -> None:
    spec = _job_spec(prod_plan)
    assert spec["schedule"] == "0 2 * * *"
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 7200
    assert job["backoffLimit"] == 2
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_batch_job_runs_the_models_image_in_batch_mode_on_gpu_nodes(prod_plan: Plan) -> None:
    container = _container(prod_plan)
    pod = _job_spec(prod_plan)["jobTemplate"]["spec"]["template"]["spec"]
    url = prod_plan.outputs["ecr_repository_urls"]["fraud-scorer"]
    assert container["image"] == f"{url}:1.4.0"
    assert container["args"] == ["batch"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["serviceAccountName"] == "nightly-fraud-scores"
    assert named(prod_plan, "nightly-fraud-scores-cronjob").inputs["metadata"]["namespace"] == "fraud-scorer"


def test_batch_pods_have_the_same_hardening_as_the_server(prod_plan: Plan) -> None:
    container = _container(prod_plan)
    pod = _job_spec(prod_plan)["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/var/cache/models", "/tmp"}


def test_batch_environment_names_the_model_and_the_feature_set(prod_plan: Plan) -> None:
    env = {e["name"]: e["value"] for e in _container(prod_plan)["env"]}
    assert env["FEATURE_BUCKET"] == prod_plan.outputs["feature_store_bucket"]
    assert env["FEATURE_SET"] == "transactions"
    assert env["INPUT_PREFIX"] == "transactions/"
    assert env["OUTPUT_PREFIX"] == "transactions/_scores/fraud-scorer/"
    assert (env["MODEL_NAME"], env["MODEL_VERSION"]) == ("fraud-scorer", "3")
    # the lookback window defaults to three days of partitions
    assert env["LOOKBACK_DAYS"] == "3"
    # no column variables: the columns come from the model's signature.json
    assert not {"FEATURE_COLUMNS", "ENTITY_KEY_COLUMN", "EVENT_TIMESTAMP_COLUMN", "PASSTHROUGH_COLUMNS"} & set(env)


def _dev_with_job(**job: object) -> Plan:
    overrides = {
        "hybrid-ai-platform:inference": {
            "models": [{"name": "fraud-scorer", "version": "3", "image_tag": "1.4.0", "min_replicas": 1}],
            "batch_jobs": [{"name": "nightly", "model": "fraud-scorer", "feature_set": "transactions", **job}],
        }
    }
    return synthesize("dev", overrides=overrides)


def test_lookback_days_from_config_reaches_the_container() -> None:
    plan = _dev_with_job(lookback_days=7)
    [container] = named(plan, "nightly-cronjob").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert {e["name"]: e["value"] for e in container["env"]}["LOOKBACK_DAYS"] == "7"


@pytest.mark.parametrize("value", [0, 32])
def test_lookback_days_out_of_range_is_refused_naming_the_field(value: int) -> None:
    with pytest.raises(ConfigError, match=r"inference\.batch_jobs\[0\]\.lookback_days"):
        _dev_with_job(lookback_days=value)


def test_configuration_and_contract_errors_fail_the_job_without_retries(prod_plan: Plan) -> None:
    # GIVEN the Job template WHEN the container exits 2 (configuration) or 3 (contract) THEN the Job fails
    # at once instead of retrying backoffLimit times on a GPU node; disruptions do not count as failures
    job = _job_spec(prod_plan)["jobTemplate"]["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # required by podFailurePolicy
    [container] = job["template"]["spec"]["containers"]
    fail, ignore = job["podFailurePolicy"]["rules"]
    assert fail == {
        "action": "FailJob",
        "onExitCodes": {"containerName": container["name"], "operator": "In", "values": [2, 3]},
    }
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def test_batch_role_reads_its_model_and_reads_writes_only_its_feature_set(prod_plan: Plan) -> None:
    # GIVEN the batch job's role policy
    policy = statements(named(prod_plan, "nightly-fraud-scores-identity-policy").inputs["policy"])
    features = prod_plan.outputs["feature_store_bucket"]
    registry = prod_plan.outputs["model_registry_bucket"]
    # THEN object access is limited to the model prefix (read) and the feature set (read and write)
    object_resources = {
        s["Resource"] for s in policy if isinstance(s["Action"], list) and s["Action"][0].startswith("s3:")
    }
    assert object_resources == {
        f"arn:aws:s3:::{registry}/models/fraud-scorer/*",
        f"arn:aws:s3:::{features}/transactions/*",
    }
    writes = [s for s in policy if "s3:PutObject" in s["Action"]]
    assert [w["Resource"] for w in writes] == [f"arn:aws:s3:::{features}/transactions/*"]


def test_batch_role_is_bound_to_the_jobs_service_account(prod_plan: Plan) -> None:
    association = named(prod_plan, "nightly-fraud-scores-identity-association")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "fraud-scorer",
        "nightly-fraud-scores",
    )


def test_batch_job_for_an_unknown_model_is_refused() -> None:
    overrides = {
        "hybrid-ai-platform:inference": {
            "models": [{"name": "fraud-scorer", "version": "3", "image_tag": "1.4.0", "min_replicas": 1}],
            "batch_jobs": [{"name": "nightly", "model": "missing-model", "feature_set": "transactions"}],
        }
    }
    with pytest.raises(ConfigError, match="missing-model"):
        synthesize("dev", overrides=overrides)


def test_the_job_is_indexed_with_one_completion_by_default(prod_plan: Plan) -> None:
    # GIVEN the shipped config (no completions/parallelism) THEN one indexed pod, today's retry budget
    job = _job_spec(prod_plan)["jobTemplate"]["spec"]
    assert (job["completionMode"], job["completions"], job["parallelism"]) == ("Indexed", 1, 1)
    assert job["backoffLimit"] == 2 and "backoffLimitPerIndex" not in job
    assert {e["name"]: e["value"] for e in _container(prod_plan)["env"]}["BATCH_COMPLETIONS"] == "1"


def test_completions_and_parallelism_from_config_make_an_indexed_job_with_retries_per_index() -> None:
    # GIVEN a job split into 4 shares, 2 pods at a time, 3 retries, on dev with a GPU group that holds them
    cluster = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"][
        "hybrid-ai-platform:cluster"
    ]
    cluster["gpu_node_groups"][0]["max_size"] = 4
    job_entry = {"name": "nightly", "model": "fraud-scorer", "feature_set": "transactions"}
    model = {"name": "fraud-scorer", "version": "3", "image_tag": "1.4.0", "min_replicas": 1}
    overrides = {
        "hybrid-ai-platform:cluster": cluster,
        "hybrid-ai-platform:inference": {
            "models": [model],
            "batch_jobs": [{**job_entry, "completions": 4, "parallelism": 2, "backoff_limit": 3}],
        },
    }
    plan = synthesize("dev", overrides=overrides)
    job = named(plan, "nightly-cronjob").inputs["spec"]["jobTemplate"]["spec"]
    # THEN the Job is Indexed with those counts, each index has its own 3 retries (no shared budget that
    # one failing share could use up), and exit statuses 2 and 3 still fail the whole Job at once
    assert (job["completionMode"], job["completions"], job["parallelism"]) == ("Indexed", 4, 2)
    assert job["backoffLimitPerIndex"] == 3 and "backoffLimit" not in job
    assert job["podFailurePolicy"]["rules"][0] == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "batch", "operator": "In", "values": [2, 3]},
    }
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # required by backoffLimitPerIndex
    # AND the container learns the share count (Kubernetes sets JOB_COMPLETION_INDEX itself)
    [container] = job["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["BATCH_COMPLETIONS"] == "4" and "JOB_COMPLETION_INDEX" not in env


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"completions": 2, "parallelism": 3}, r"batch_jobs\[0\]\.parallelism: .*must not exceed completions \(2\)"),
        ({"completions": 0}, r"batch_jobs\[0\]\.completions"),
        ({"parallelism": 0}, r"batch_jobs\[0\]\.parallelism"),
        ({"completions": 101}, r"batch_jobs\[0\]\.completions"),
    ],
)
def test_bad_completions_or_parallelism_are_refused_naming_the_field(job: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _dev_with_job(**job)
