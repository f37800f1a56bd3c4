"""BatchScoringJob: a GPU CronJob that scores a feature set with a served model's image.

Batch-entry-point contract (the image of ``container_src/`` implements it; docs/batch-scoring.md):
the container runs the image's entrypoint (``python -m inference_server``) with the arguments
:data:`BATCH_ARGS` (``batch``). In that mode the process loads
``MODEL_REPOSITORY``/``MODEL_NAME``/``MODEL_VERSION`` like the server plus the version's
``signature.json`` (input columns, their order and types, pass-through key columns), reads the Parquet
files of the last ``LOOKBACK_DAYS`` partitions under ``s3://$FEATURE_BUCKET/$INPUT_PREFIX`` (the
feature-store layout ``<feature_set>/dt=YYYY-MM-DD/*.parquet``, ending yesterday, UTC), writes scores
to ``s3://$FEATURE_BUCKET/$OUTPUT_PREFIX``, and exits 0 on success, 1 on a runtime failure (the Job
retries up to ``backoff_limit`` times), 2 on a configuration error and 3 on a contract error (no
retry: :data:`NON_RETRIABLE_EXIT_CODES` fail the Job at once through its ``podFailurePolicy``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from . import validation as check
from .artifact_bucket import ArtifactBucket
from .aws_rules import cron_schedule_problem
from .inference_service import (
    EMF_AGENT_ENDPOINT,
    InferenceService,
    gpu_resources,
    model_environment,
    scratch_volumes,
    selector_labels,
)
from .kubernetes import (
    api_fields,
    gpu_scheduling,
    object_meta,
    restricted_container_security_context,
    restricted_pod_security_context,
)
from .observability import AlarmRule, DashboardRow, FailureMode, Metric, Widget
from .pod_identity import PodIdentityRole, PodIdentityRoleArgs

BATCH_ARGS = ("batch",)
"""Arguments that switch the inference image to batch scoring (see the module docstring)."""
NON_RETRIABLE_EXIT_CODES = (2, 3)
"""Exit statuses of batch mode that a retry cannot fix: 2 configuration error, 3 contract error
(``signature.json`` missing or not fitting the model or the day's files)."""
DRIFT_METRICS_NAMESPACE = "HybridAiPlatform/Drift"
"""CloudWatch namespace of the job's drift EMF metrics (``inference_server/drift.py``)."""
SCORES_SUBPREFIX = "_scores"
"""Scores go to ``<feature_set>/_scores/<model>/`` inside the feature set's own prefix."""


FEATURE_SET_PATTERN = check.FEATURE_SET_PATTERN
"""Feature-set names: the top-level prefix of the feature store the job reads and writes under."""


@dataclass(frozen=True)
class BatchScoringJobArgs:
    """Inputs of :class:`BatchScoringJob`. Checked at construction: a bad value raises naming the field."""

    name: str
    """Job name: the CronJob and ServiceAccount name (3 to 32 lower-case letters, digits and dashes). Required."""
    service: InferenceService
    """The model's :class:`InferenceService`: the job runs its image, model version, batching settings and
    resources, in its namespace (its NetworkPolicies apply), on its cluster, reading its registry prefix.
    Required."""
    feature_set: str
    """Feature set the job reads (``<feature_set>/dt=YYYY-MM-DD/``) and writes scores under
    (``<feature_set>/_scores/<model>/``). Required."""
    feature_store: ArtifactBucket
    """Feature store (read and write ``<feature_set>/`` only). Required."""
    tags: Mapping[str, str]
    """Required tags for the AWS children. Required."""
    schedule: str = "0 2 * * *"
    """Cron schedule (UTC), five fields. Defaults to 02:00 every night."""
    deadline_seconds: int = 7200
    """``activeDeadlineSeconds`` of each run, 60 to 86400. Defaults to 2 hours."""
    backoff_limit: int = 2
    """Pod retries of a failed run before the Job fails (runtime failures only: exit status 2 and 3 fail
    the Job at once), 0 to 10. Defaults to 2."""
    lookback_days: int = 3
    """Daily partitions each run scores, ending at yesterday (UTC), 1 to 31; passed as ``LOOKBACK_DAYS``.
    Defaults to 3."""
    completions: int = 1
    """Shares each run's files are split into (the Indexed Job's ``completions``, 1 to 100; the pod of index
    ``i`` scores the files whose key hashes to ``i``; passed as ``BATCH_COMPLETIONS``). At least
    ``parallelism``. Defaults to 1: one pod scores every file."""
    parallelism: int = 1
    """Pods of a run at once (the Job's ``parallelism``, 1 to ``completions``), each holding the model's GPUs.
    Defaults to 1."""
    drift_psi_threshold: float | None = 0.25
    """Alarm when a scored day's population stability index, of any feature or of the scores, exceeds this
    (above 0, at most 10). Defaults to 0.25 (the usual "significant shift" line); ``None`` turns the
    drift alarms off."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the CronJob waits for besides the service's namespace. Defaults to none."""

    def __post_init__(self) -> None:
        check.check_name(self, "name", self.name)
        check.check_pattern(
            self, "feature_set", self.feature_set, FEATURE_SET_PATTERN, "a feature-set name (lower-case, digits, _)"
        )
        check.check_mapping(self, "tags", self.tags)
        check.check_type(self, "schedule", self.schedule, str)
        problem = cron_schedule_problem(self.schedule)
        if problem:
            check.fail(self, "schedule", problem)
        check.check_int(self, "deadline_seconds", self.deadline_seconds, 60, 86400)
        check.check_int(self, "backoff_limit", self.backoff_limit, 0, 10)
        check.check_int(self, "lookback_days", self.lookback_days, 1, 31)
        check.check_int(self, "completions", self.completions, 1, 100)
        check.check_int(self, "parallelism", self.parallelism, 1, self.completions)
        if self.drift_psi_threshold is not None:
            check.check_number(self, "drift_psi_threshold", self.drift_psi_threshold, 0.0, 10.0)
            if self.drift_psi_threshold <= 0:
                check.fail(self, "drift_psi_threshold", f"{self.drift_psi_threshold} must be above 0")
        check.check_type(self, "service", self.service, InferenceService)

    @property
    def model(self) -> str:
        """Name of the model the job scores with (the service's)."""
        return self.service.args.model_name


class BatchScoringJob(pulumi.ComponentResource):
    """A ``batch/v1`` CronJob on GPU nodes with its own least-privilege identity.

    Children: ServiceAccount ``<job>`` (no API token), a :class:`PodIdentityRole` that can read
    the model's registry prefix and read/write ``s3://<feature-store>/<feature_set>/`` (with the
    stack key through S3 only), and the CronJob: ``concurrencyPolicy: Forbid``, UTC schedule,
    ``activeDeadlineSeconds`` and ``backoffLimit`` from config, Indexed completion mode with
    ``completions`` and ``parallelism`` from config (:func:`indexed_job_fields`), finished Jobs cleaned after a
    day, the same restricted security context, GPU toleration/selector/limit and scratch
    volumes as the server, and the model environment plus ``FEATURE_BUCKET``, ``FEATURE_SET``,
    ``INPUT_PREFIX``, ``OUTPUT_PREFIX``, ``LOOKBACK_DAYS``, ``BATCH_COMPLETIONS`` and ``BATCH_JOB_NAME``. Its
    ``podFailurePolicy`` fails the Job at once on exit status 2 or 3 (retrying cannot fix a
    configuration or contract error, and each retry holds a GPU) and does not count pods disrupted by
    preemption, eviction or node drain against ``backoffLimit``.

    Example::

        BatchScoringJob("nightly-fraud-scores", BatchScoringJobArgs(name="nightly-fraud-scores",
            service=fraud_scorer, feature_set="transactions", feature_store=features, tags=tags))
    """

    cron_job: k8s.batch.v1.CronJob
    identity: PodIdentityRole

    def __init__(self, name: str, args: BatchScoringJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:inference:BatchScoringJob", name, None, opts)
        job, service = args, args.service
        model = service.args
        ns = service.namespace_name
        labels = {**selector_labels(model.model_name, component="batch-scoring"), "hybrid-ai/batch-job": job.name}
        depends_on = [service.namespace, *args.depends_on]
        k8s_child = pulumi.ResourceOptions(parent=self, provider=model.provider, depends_on=depends_on)
        feature_prefix = f"{job.feature_set}/"
        output_prefix = f"{feature_prefix}{SCORES_SUBPREFIX}/{model.model_name}/"

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=object_meta(job.name, ns, labels),
            automount_service_account_token=False,
            opts=k8s_child,
        )
        model_prefix = f"{model.registry_prefix}/{model.model_name}/"
        statements = [
            *_sid("ReadOwnModel", model.model_registry.read_statements(model_prefix)),
            # The job HeadObjects output keys before writing them: it must see 404, not 403, for an absent key.
            *_sid("ReadOwnFeatures", args.feature_store.read_statements(feature_prefix, head_missing_keys=True)),
            *_sid("WriteOwnFeatures", args.feature_store.write_statements(feature_prefix)),
        ]
        self.identity = PodIdentityRole(
            f"{name}-identity",
            PodIdentityRoleArgs(
                cluster_name=model.cluster.name,
                cluster_arn=model.cluster.arn,
                namespace=ns,
                service_account=job.name,
                statements=statements,
                description=(
                    f"Batch job {job.name}: read model {model.model_name}, read/write features {feature_prefix}"
                ),
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        volumes, mounts = scratch_volumes()
        environment = [
            *model_environment(model, model.model_registry.name, model.registry_prefix, model.region),
            {"name": "FEATURE_BUCKET", "value": args.feature_store.name},
            {"name": "FEATURE_SET", "value": job.feature_set},
            {"name": "INPUT_PREFIX", "value": feature_prefix},
            {"name": "OUTPUT_PREFIX", "value": output_prefix},
            {"name": "LOOKBACK_DAYS", "value": str(job.lookback_days)},
            # The Indexed Job's share count; Kubernetes sets JOB_COMPLETION_INDEX in each pod.
            {"name": "BATCH_COMPLETIONS", "value": str(job.completions)},
            {"name": "BATCH_JOB_NAME", "value": job.name},
            # Drift PSI metrics (inference_server/drift.py) as EMF to the CloudWatch agent.
            {"name": "METRICS_CLUSTER_NAME", "value": model.cluster.name},
            {"name": "AWS_EMF_AGENT_ENDPOINT", "value": EMF_AGENT_ENDPOINT},
        ]
        annotations = {"hybrid-ai/model-version": model.version}
        self.cron_job = k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata=object_meta(job.name, ns, labels, annotations),
            spec=api_fields(
                {
                    "schedule": job.schedule,
                    "timeZone": "Etc/UTC",
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": 3600,
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 3,
                    "jobTemplate": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "activeDeadlineSeconds": job.deadline_seconds,
                            **indexed_job_fields(job),
                            "podFailurePolicy": pod_failure_policy(),
                            "ttlSecondsAfterFinished": 86400,
                            "template": {
                                "metadata": {"labels": labels, "annotations": annotations},
                                "spec": {
                                    "serviceAccountName": job.name,
                                    "automountServiceAccountToken": False,
                                    "restartPolicy": "Never",
                                    "securityContext": restricted_pod_security_context(),
                                    **gpu_scheduling(),
                                    "containers": [
                                        {
                                            "name": "batch",
                                            "image": service.image,
                                            "imagePullPolicy": "IfNotPresent",
                                            "args": list(BATCH_ARGS),
                                            "env": environment,
                                            "resources": gpu_resources(model),
                                            "securityContext": restricted_container_security_context(),
                                            "volumeMounts": mounts,
                                        }
                                    ],
                                    "volumes": volumes,
                                },
                            },
                        },
                    },
                }
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=model.provider,
                depends_on=[
                    service_account,
                    *([self.identity.association] if self.identity.association else []),
                    *depends_on,
                ],
            ),
        )
        self.register_outputs({"role_arn": self.identity.arn, "namespace": ns, "name": job.name})


def indexed_job_fields(job: BatchScoringJobArgs) -> dict[str, object]:
    """``completionMode: Indexed`` with ``completions`` and ``parallelism`` from the Args, and the retry budget.

    Kubernetes gives each pod of an Indexed Job its index in ``JOB_COMPLETION_INDEX``
    (https://kubernetes.io/docs/tasks/job/indexed-parallel-processing-static/, stable since 1.24); the
    container scores its share of the files (``inference_server/batch/shares.py``). With one completion the
    Job keeps ``backoffLimit``: exactly today's single pod. With more, ``backoffLimitPerIndex`` (GA in
    Kubernetes 1.33: https://kubernetes.io/blog/2025/05/13/kubernetes-v1-33-jobs-backoff-limit-per-index-goes-ga/;
    our clusters run 1.36) gives each index ``backoff_limit`` retries of its own, so one failing share
    cannot use up the others' retries or stop them early; ``backoffLimit`` is then left out (it defaults to
    2147483647 when ``backoffLimitPerIndex`` is set:
    https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/job-v1/). The Job still fails if any index
    failed, and the podFailurePolicy's ``FailJob`` on exit status 2 or 3 still stops every index at once.
    """
    fields: dict[str, object] = {
        "completionMode": "Indexed",
        "completions": job.completions,
        "parallelism": job.parallelism,
    }
    if job.completions == 1:
        fields["backoffLimit"] = job.backoff_limit
    else:
        fields["backoffLimitPerIndex"] = job.backoff_limit
    return fields


def pod_failure_policy() -> dict[str, object]:
    """Fail the Job on :data:`NON_RETRIABLE_EXIT_CODES` of the ``batch`` container; ignore disruptions.

    Pod failure policy is stable since Kubernetes 1.31 and needs ``restartPolicy: Never``
    (https://kubernetes.io/docs/tasks/job/pod-failure-policy/). ``status`` is spelt out because
    Kubernetes before 1.34 requires it in ``onPodConditions`` (the ``system-kubernetes-schema``
    check found it). ``DisruptionTarget`` marks pods
    deleted by preemption, API-initiated eviction or taint-based eviction (e.g. a Spot reclaim drain),
    which should be retried without using up ``backoffLimit``.
    """
    return {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "batch", "operator": "In", "values": list(NON_RETRIABLE_EXIT_CODES)},
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        ]
    }


def _sid(prefix: str, statements: Sequence[Mapping[str, object]]) -> list[Mapping[str, object]]:
    return [{"Sid": f"{prefix}{i}", **s} for i, s in enumerate(statements)]


# Observability: drift of the scored data against the model version's training profile ------------------


def drift_metric(cluster_name: pulumi.Input[str], job: BatchScoringJobArgs, name: str) -> Metric:
    """A drift metric the job emits (``MaxFeaturePSI``, ``ScorePSI``) with its exact dimension set."""
    dimensions = {"ClusterName": cluster_name, "Model": job.model, "BatchJob": job.name}
    return Metric(DRIFT_METRICS_NAMESPACE, name, dimensions, "None")


def batch_job_failure_modes(
    job: BatchScoringJobArgs, cluster_name: pulumi.Input[str], setting: str = "drift_psi_threshold"
) -> list[FailureMode]:
    """The scored data drifts from the training data: features, or the scores themselves.

    The job emits each day's population stability index after scoring (``inference_server/drift.py``);
    the alarms take the day's maximum and fire above ``drift_psi_threshold``. ``setting`` is where the
    threshold is configured, named in each failure mode (the stack program passes
    ``inference.batch_jobs[<i>].drift_psi_threshold``). Defaults to ``drift_psi_threshold``.
    """
    component = f"batch-job/{job.name}"
    field = setting
    threshold = job.drift_psi_threshold

    def rule(name: str) -> AlarmRule | None:
        if threshold is None:
            return None
        return AlarmRule(drift_metric(cluster_name, job, name), "Maximum", "GreaterThanThreshold", threshold, 86400)

    return [
        FailureMode(
            component,
            "feature-drift",
            f"a scored day's features drifted from model {job.model}'s training data (PSI above {threshold})",
            "find the feature in the job's drift log line (FeaturePSI per feature on the dashboard); check the "
            "preprocessing code version and the source data, then retrain or roll back the model",
            field,
            rule("MaxFeaturePSI"),
        ),
        FailureMode(
            component,
            "score-drift",
            f"the distribution of model {job.model}'s scores moved away from its training scores (PSI above "
            f"{threshold})",
            "compare with feature drift; if the features are stable, suspect the model version or image",
            field,
            rule("ScorePSI"),
        ),
    ]


def batch_job_dashboard_row(job: BatchScoringJobArgs, cluster_name: str) -> DashboardRow:
    """Drift of one batch job: the day's maximum feature PSI and score PSI, and PSI per feature."""
    schema = f"{{{DRIFT_METRICS_NAMESPACE},BatchJob,ClusterName,Feature,Model}}"
    return DashboardRow(
        f"Batch job {job.name} (model {job.model}, feature set {job.feature_set}): drift",
        widgets=(
            Widget(
                f"PSI (alarm above {job.drift_psi_threshold})",
                (
                    (drift_metric(cluster_name, job, "MaxFeaturePSI"), "Maximum"),
                    (drift_metric(cluster_name, job, "ScorePSI"), "Maximum"),
                ),
                width=12,
            ),
        ),
        search_widgets=(
            (
                "PSI per feature",
                f'SEARCH(\'{schema} MetricName="FeaturePSI" BatchJob="{job.name}" '
                f"ClusterName=\"{cluster_name}\"', 'Maximum', 86400)",
            ),
        ),
    )
