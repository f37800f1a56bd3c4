"""InferenceService: one model served on the GPU nodes, with its namespace, identity, image and guard rails.

The Deployment runs the inference image of ``container_src/`` (Open Inference Protocol / KServe
V2 REST on port 8080, UID 10001) with the model pinned by version in the stack config: changing
``version`` or ``image_tag`` changes the pod template, so Kubernetes rolls the pods one at a
time (``maxUnavailable: 0``, ``maxSurge: 1``) and a new pod only receives traffic once its
readiness probe says the model is loaded. Rolling back is setting the previous values (see
``docs/rollback.md``); earlier model versions stay in the Object-Locked registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from hybrid_ai_platform.contracts import (
    EMF_AGENT_PORT,
    GPU_RESOURCE,
    LIVENESS_PATH,
    MEMORY_QUANTITY,
    READINESS_PATH,
    ROLLOUT_MAX_SURGE,
    SERVING_PORT,
    SLO_LATENCY_TARGETS_MS,
    cpu_milli,
    memory_mib,
)

from . import validation as check
from .artifact_bucket import ArtifactBucket
from .encryption_key import KmsKey, check_kms_key, kms_key_arn
from .iam import Statement
from .image_repository import image_repository
from .keda import SCALED_OBJECT_API, TRIGGER_AUTHENTICATION
from .kubernetes import (
    api_fields,
    default_deny_and_aws_egress,
    gpu_scheduling,
    object_meta,
    restricted_container_security_context,
    restricted_namespace,
    restricted_pod_security_context,
)
from .observability import BurnRateSlo, DashboardRow, FailureMode, Metric, Widget
from .pod_identity import PodIdentityRole, PodIdentityRoleArgs

PORT = SERVING_PORT
"""The server's HTTP port (image contract: :data:`hybrid_ai_platform.contracts.SERVING_PORT`)."""
MODEL_CACHE_DIR = "/var/cache/models"
"""Writable model-download cache (an emptyDir; the root filesystem is read-only)."""
TERMINATION_GRACE_SECONDS = 40
"""Pod termination grace period; the server drains for ``GRACEFUL_SHUTDOWN_TIMEOUT_S`` (25 s) within it."""
METRICS_SCRAPER_NAMESPACE = "amazon-cloudwatch"
"""Namespace of the platform's metrics scraper: the CloudWatch agent that the
``amazon-cloudwatch-observability`` EKS add-on installs runs in ``amazon-cloudwatch``
(https://docs.aws.amazon.com/eks/latest/userguide/amazon-cloudwatch-observability.html). It may
reach the serving port, where the server exposes ``/metrics``."""
EMF_AGENT_ENDPOINT = f"tcp://cloudwatch-agent.{METRICS_SCRAPER_NAMESPACE}:{EMF_AGENT_PORT}"
"""Where the server sends its EMF documents: the add-on's ``cloudwatch-agent`` Service."""
REGISTRY_BUCKET_TAG = "model-registry-bucket"
"""ECR repository tag naming the model-registry bucket the model's versions are published to.
The program reads it back (``aws.ecr.get_repository``) to check a version before serving it: the
bucket's name is generated, so it is not known to the program until the repository records it."""
SERVING_TAG = "serving"
"""ECR repository tag: ``true`` once an update has created the model's workloads. A later check
that finds an artifact missing then fails the update instead of deleting a running service."""
PROVIDER_NOT_FOUND = "couldn't find resource"
"""The AWS provider's wording when a data source's lookup found nothing."""
NOT_FOUND_MARKERS: dict[str, tuple[str, ...]] = {
    "repository": ("RepositoryNotFoundException", PROVIDER_NOT_FOUND),
    "image": ("ImageNotFoundException", PROVIDER_NOT_FOUND),
    "object": ("NoSuchKey", "api error NotFound", "StatusCode: 404", PROVIDER_NOT_FOUND),
}
"""Per lookup, the substrings of a data-source error that mean "does not exist": the AWS error code
of that call, or the provider's not-found wording. Anything else (access denied, throttling, a
missing bucket, a network error) fails the update with its text instead of deferring workloads."""


INFERENCE_METRICS_NAMESPACE = "HybridAiPlatform/Inference"
"""CloudWatch namespace of the server's EMF metrics (``inference_server/emf.py``)."""
MODEL_METRICS = {
    "Requests": "Count",
    "ServerErrors": "Count",
    "SlowRequests": "Count",
    "Latency": "Milliseconds",
    "InFlight": "Count",
    "QueueDepth": "Count",
    "BatchSize": "Count",
}
"""The server's EMF metrics and units. ``ServerErrors`` counts 5xx answers, ``SlowRequests`` answers
slower than ``SLO_LATENCY_TARGET_MS``. Dimensions: ``ClusterName`` and ``Model``."""


def model_metric(cluster_name: pulumi.Input[str], model: str, name: str) -> Metric:
    """One of the server's EMF metrics with the exact dimension set it writes (``ClusterName``, ``Model``)."""
    return Metric(INFERENCE_METRICS_NAMESPACE, name, {"ClusterName": cluster_name, "Model": model}, MODEL_METRICS[name])


def model_failure_modes(
    model: InferenceServiceArgs, cluster_name: pulumi.Input[str], setting: str = ""
) -> list[FailureMode]:
    """The model's SLOs as failure modes: availability and latency error budgets burning too fast.

    ``setting`` is where the objectives are configured, prefixed to the field each failure mode names (the
    stack program passes ``inference.models[<i>].slo``). Defaults to none: the Args field names
    (``availability_target``, ``latency_target_ms``)."""
    slo = model
    at = f"{setting}." if setting else ""
    component = f"model/{model.model_name}"

    def metric(name: str) -> Metric:
        return model_metric(cluster_name, model.model_name, name)

    availability = BurnRateSlo(
        "availability",
        slo.availability_target,
        slo.slo_window_days,
        metric("Requests"),
        metric("ServerErrors"),
        f"{slo.availability_target:.3%} of requests answered without a server error over {slo.slo_window_days} days",
    )
    latency = BurnRateSlo(
        "latency",
        slo.latency_percentile / 100,
        slo.slo_window_days,
        metric("Requests"),
        metric("SlowRequests"),
        f"p{slo.latency_percentile:g} latency <= {slo.latency_target_ms} ms over {slo.slo_window_days} days",
    )
    return [
        FailureMode(
            component,
            "slo-availability",
            f"the availability error budget ({availability.description}) burns too fast",
            "if a rollout is under way or just finished, roll back (docs/rollback.md); else check pod restarts, "
            "model load failures and GPU health",
            f"{at}availability_target",
            availability,
        ),
        FailureMode(
            component,
            "slo-latency",
            f"the latency error budget ({latency.description}) burns too fast",
            "check queue depth, in-flight requests and replicas at max; roll back a rollout that brought it",
            f"{at}latency_target_ms",
            latency,
        ),
    ]


def model_dashboard_row(model: InferenceServiceArgs, cluster_name: pulumi.Input[str]) -> DashboardRow:
    """Traffic, errors, latency, load and batching of one model."""

    def metric(name: str) -> Metric:
        return model_metric(cluster_name, model.model_name, name)

    return DashboardRow(
        f"Model {model.model_name} (version {model.version}, image {model.image_tag})",
        widgets=(
            Widget(
                "Requests and errors",
                ((metric("Requests"), "Sum"), (metric("ServerErrors"), "Sum"), (metric("SlowRequests"), "Sum")),
            ),
            Widget(
                f"Latency (target p{model.latency_percentile:g} <= {model.latency_target_ms} ms)",
                ((metric("Latency"), "p50"), (metric("Latency"), f"p{model.latency_percentile:g}")),
            ),
            Widget(
                "Load and batching",
                ((metric("InFlight"), "Maximum"), (metric("QueueDepth"), "Maximum"), (metric("BatchSize"), "Average")),
            ),
        ),
    )


def selector_labels(model: str, component: str = "inference-server") -> dict[str, str]:
    """Labels that select a model's pods (stable across versions)."""
    return {"app.kubernetes.io/name": model, "app.kubernetes.io/component": component}


def model_environment(
    model: InferenceServiceArgs, registry_bucket: pulumi.Input[str], registry_prefix: str, region: str
) -> list[dict[str, Any]]:
    """The image's environment contract for ``model`` (shared by the server and batch jobs)."""
    return [
        {"name": "MODEL_REPOSITORY", "value": pulumi.Output.concat("s3://", registry_bucket, "/", registry_prefix)},
        {"name": "MODEL_NAME", "value": model.model_name},
        {"name": "MODEL_VERSION", "value": model.version},
        {"name": "PORT", "value": str(PORT)},
        {"name": "MAX_BATCH_SIZE", "value": str(model.max_batch_size)},
        {"name": "MAX_QUEUE_DELAY_MS", "value": str(model.max_queue_delay_ms)},
        {"name": "MODEL_CACHE_DIR", "value": MODEL_CACHE_DIR},
        {"name": "GRACEFUL_SHUTDOWN_TIMEOUT_S", "value": "25"},
        {"name": "AWS_REGION", "value": region},
        {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
    ]


def gpu_resources(model: InferenceServiceArgs) -> dict[str, dict[str, str]]:
    """Requests equal limits (Guaranteed QoS), with the GPU count."""
    amounts = {"cpu": model.cpu, "memory": model.memory, GPU_RESOURCE: str(model.gpus)}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def scratch_volumes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """emptyDir volumes and mounts for the model cache and ``/tmp`` (the root filesystem is read-only)."""
    volumes = [
        {"name": "model-cache", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    mounts = [
        {"name": "model-cache", "mountPath": MODEL_CACHE_DIR},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, private to the pod
    ]
    return volumes, mounts


def _sid(prefix: str, statements: Sequence[Statement]) -> list[Statement]:
    return [{"Sid": f"{prefix}{i}", **s} for i, s in enumerate(statements)]


class ArtifactCheckError(pulumi.RunError):
    """A model's artifacts could not be checked, or a serving model's artifact is gone: stop the update."""


@dataclass(frozen=True)
class ModelArtifacts:
    """What a model's workloads need before their pods can become ready, and what is published.

    The Deployment, Service, ScaledObject, PDB and the model's batch jobs are created only once both exist:
    a pod without its image or model version never becomes ready, so Pulumi, which waits for a
    Deployment to become available, would time out the update.
    """

    image: str
    """The image reference the pods run (``<repository url>:<image_tag>``, or the ``image`` override)."""
    image_checked: bool
    """Whether the image is checked: false for an ``image`` override outside the stack's repository."""
    model_uri: str
    """Where the model version goes: ``s3://<registry>/<prefix>/<model>/<version>/model.onnx`` (the
    bucket as a ``pulumi stack output`` expression until the repository records it)."""
    missing: tuple[str, ...] = ()
    """The artifacts not found: ``image`` and/or ``model``. Defaults to none (all published)."""

    @property
    def published(self) -> bool:
        """Whether every artifact exists, so the workloads can be created."""
        return not self.missing

    def publish_commands(self) -> list[str]:
        """The commands that publish the missing artifacts, in order."""
        commands = []
        if "image" in self.missing:
            commands.append(f"docker push {self.image}")
        if "model" in self.missing:
            commands.extend(self.model_publish_commands())
        return commands

    def model_publish_commands(self) -> list[str]:
        """Upload a model version: ``model.onnx`` and its input contract ``signature.json`` beside it
        (batch jobs refuse to score without the signature; docs/batch-scoring.md)."""
        quote = '"' if self.model_uri.endswith('"') else ""  # a shell expression until the registry is known
        directory = self.model_uri.removesuffix(quote).removesuffix("model.onnx")
        signature_uri = f"{directory}signature.json{quote}"
        return [f"aws s3 cp model.onnx {self.model_uri}", f"aws s3 cp signature.json {signature_uri}"]


def _not_found(lookup: str, error: Exception) -> bool:
    text = str(error)
    return any(marker in text for marker in NOT_FOUND_MARKERS[lookup])


@dataclass(frozen=True)
class ModelRelease:
    """A model version and the image that serves it: what :func:`check_model_artifacts` looks up (an
    :class:`InferenceServiceArgs` has the same four fields)."""

    model_name: str
    """Model name: the registry's ``<model>`` path segment."""
    version: str
    """Pinned model version."""
    image_tag: str
    """Image tag in the model's ECR repository."""
    image: str | None = None
    """Full image reference override. Defaults to none: the model's ECR repository at ``image_tag``."""


def check_model_artifacts(
    model: ModelRelease | InferenceServiceArgs,
    repository_name: str,
    registry_prefix: str,
    region: str,
    opts: pulumi.InvokeOptions,
) -> ModelArtifacts:
    """Look up, at preview time, whether ``model``'s image and model version are published.

    Uses the direct (synchronous) form of provider functions, whose plain results may decide
    which resources the program registers
    (https://www.pulumi.com/docs/iac/concepts/functions/provider-functions/): the model's ECR
    repository (``aws.ecr.get_repository``; absent on a fresh account), the image tag in it
    (``aws.ecr.get_image``; skipped for an ``image`` override), and
    ``<prefix>/<model>/<version>/model.onnx`` in the registry bucket the repository's
    :data:`REGISTRY_BUCKET_TAG` names (``aws.s3.get_object``, which reads metadata only for a
    binary object). A "not found" answer marks the artifact missing; any other error raises
    :class:`ArtifactCheckError`, as does a missing artifact of a model already serving
    (:data:`SERVING_TAG`): the update stops instead of deleting a running service.

    A direct-form invoke pumps the event loop, running whatever is ready, until its answer arrives, and then pads
    the loop's ready queue back to its length with placeholder handles (``pulumi.runtime.sync_await``), a cost
    that grows with the resources already declared: a program with many models looks their artifacts up before it
    declares other resources and passes them as :attr:`InferenceServiceArgs.artifacts` (the stack program does).
    """
    key = f"{registry_prefix}/{model.model_name}/{model.version}/model.onnx"
    try:
        repository = aws.ecr.get_repository(name=repository_name, opts=opts)
    except Exception as exc:
        if not _not_found("repository", exc):
            raise ArtifactCheckError(
                f"{model.model_name}: cannot look up ECR repository {repository_name}: {exc}"
            ) from None
        repository = None
    tags = dict((repository.tags if repository else None) or {})
    if repository is not None:
        repository_url = repository.repository_url
    else:
        account = aws.get_caller_identity(opts=opts).account_id
        repository_url = f"{account}.dkr.ecr.{region}.amazonaws.com/{repository_name}"
    bucket = tags.get(REGISTRY_BUCKET_TAG)
    model_uri = (
        f"s3://{bucket}/{key}"
        if bucket
        else f'"$(pulumi stack output model_registry_uri)/{model.model_name}/{model.version}/model.onnx"'
    )
    image = model.image or f"{repository_url}:{model.image_tag}"
    missing = []
    if not model.image:
        if repository is None:
            missing.append("image")
        else:
            try:
                aws.ecr.get_image(repository_name=repository_name, image_tag=model.image_tag, opts=opts)
            except Exception as exc:
                if not _not_found("image", exc):
                    raise ArtifactCheckError(f"{model.model_name}: cannot look up image {image}: {exc}") from None
                missing.append("image")
    if not bucket:
        missing.append("model")
    else:
        try:
            aws.s3.get_object(bucket=bucket, key=key, opts=opts)
        except Exception as exc:
            if not _not_found("object", exc):
                raise ArtifactCheckError(f"{model.model_name}: cannot look up s3://{bucket}/{key}: {exc}") from None
            missing.append("model")
    artifacts = ModelArtifacts(image=image, image_checked=not model.image, model_uri=model_uri, missing=tuple(missing))
    if missing and tags.get(SERVING_TAG) == "true":
        raise ArtifactCheckError(
            f"{model.model_name} is serving, but its {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not "
            f"published; the update stops instead of deleting the running service. Publish first: "
            f"{'; '.join(artifacts.publish_commands())}; or pin a published image_tag/version."
        )
    return artifacts


@dataclass(frozen=True)
class InferenceServiceArgs:
    """Inputs of :class:`InferenceService`: one model and where it runs. Checked at construction: a bad
    value raises naming the field."""

    model_name: str
    """Model name: the registry's ``<model>`` path segment, the namespace, ServiceAccount and Deployment
    name (3 to 32 lower-case letters, digits and dashes). Required."""
    version: str
    """Pinned model version (Triton layout: a number). Changing it rolls the Deployment. Required."""
    image_tag: str
    """Pinned, immutable image tag in the model's ECR repository. Required."""
    cluster: aws.eks.Cluster
    """Cluster of the Pod Identity association. Required."""
    provider: k8s.Provider
    """Provider of the cluster. Required."""
    account_id: pulumi.Input[str]
    """Stack account. Required."""
    region: str
    """Stack region. Required."""
    model_registry: ArtifactBucket
    """The model registry; the pod may read only ``<registry_prefix>/<model>/``. Required."""
    registry_prefix: str
    """Model-repository prefix in the registry (``models``). Required."""
    kms_key: KmsKey
    """Stack key (an :class:`~.encryption_key.EncryptionKey` or ``aws.kms.Key``, or the ARN of a key you bring):
    encrypts the ECR repository. Required."""
    repository_name: str
    """ECR repository name, e.g. ``hybrid-ai-platform-prod/fraud-scorer``. Required."""
    tags: Mapping[str, str]
    """Required tags for the AWS children. Required."""
    image: str | None = None
    """Full image reference override (``registry/repo:tag`` or ``@sha256:``). Defaults to none: the
    created ECR repository at ``image_tag``."""
    min_replicas: int = 2
    """Scaler minimum (KEDA ScaledObject), 1 to 100. Defaults to 2 (with a PodDisruptionBudget of 1
    unavailable)."""
    max_replicas: int = 4
    """Scaler maximum (KEDA ScaledObject), 1 to 100 and at least ``min_replicas``. Defaults to 4."""
    target_in_flight_per_pod: int = 8
    """Scaling target: in-flight requests per pod (KEDA scales on the servers' ``InFlight`` metric; CPU is
    not the load signal of GPU inference), 1 to 1000. Defaults to 8."""
    cpu: str = "2"
    """CPU request and limit (requests equal limits: Guaranteed QoS), e.g. ``2`` or ``500m``. Defaults to ``2``."""
    memory: str = "8Gi"
    """Memory request and limit, a Kubernetes quantity (``8Gi``, ``4G``, ``512Mi``), at least 4Mi.
    Defaults to ``8Gi``."""
    gpus: int = 1
    """``nvidia.com/gpu`` request and limit, 1 to 8. Defaults to 1."""
    allowed_namespaces: Sequence[str] = ()
    """Namespaces allowed to call the model on its serving port (NetworkPolicy). Defaults to none:
    default deny (the metrics scraper's namespace is always admitted)."""
    max_batch_size: int = 32
    """Server-side dynamic batching: largest batch, 1 to 1024. Defaults to 32."""
    max_queue_delay_ms: int = 5
    """Server-side dynamic batching: longest wait to fill a batch, 0 to 1000 ms. Defaults to 5 ms."""
    model_load_timeout_seconds: int = 600
    """How long the startup probe waits for the model to download and load before the container is
    restarted, 30 to 3600 s. Defaults to 600 s (GPU nodes scaling from zero pull large images)."""
    images_to_keep: int = 30
    """Tagged images the ECR lifecycle policy keeps (older ones expire; untagged images expire after a
    day), 5 to 1000. Defaults to 30, so recent releases stay available for rollback."""
    availability_target: float = 0.999
    """Availability SLO: share of requests answered without a server error (5xx), 0.9 to 0.99999.
    Defaults to 0.999."""
    latency_target_ms: int = 250
    """Latency SLO threshold in milliseconds, one of the server's latency histogram bounds
    (:data:`~hybrid_ai_platform.contracts.SLO_LATENCY_TARGETS_MS`). Defaults to 250 ms."""
    latency_percentile: float = 99.0
    """Percentile of requests that must be answered within ``latency_target_ms``, 50 to 99.99.
    Defaults to 99 (p99 <= 250 ms)."""
    slo_window_days: int = 30
    """The SLOs' rolling window, 7 to 90 days; burn-rate thresholds are computed from it. Defaults to 30 days."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the workload waits for (GPU node groups, device plugin). Defaults to none."""
    batch_jobs: Sequence[str] = ()
    """Batch jobs that run this model's image: they wait for the same artifacts, and the
    bootstrap record lists them. Defaults to none."""
    node_cidr: pulumi.Input[str] | None = None
    """The nodes' address range (the VPC CIDR). The CloudWatch agent of the ``amazon-cloudwatch-observability``
    add-on runs in the host network, so a NetworkPolicy reaches it only by an ``ipBlock`` of node addresses
    (https://kubernetes.io/docs/concepts/services-networking/network-policies/#networkpolicy-and-hostnetwork-pods):
    the EMF egress on 25888 goes to this range. Defaults to none: no EMF egress, so the model's metrics,
    SLO alarms and load-based scaling receive nothing (the stack program always sets it)."""
    scaler_depends_on: Sequence[pulumi.Resource] = ()
    """What the KEDA ScaledObject waits for (the KEDA release, which installs its CRDs). Defaults to none."""
    artifacts: ModelArtifacts | None = None
    """This model version's artifacts as :func:`check_model_artifacts` found them before the program declared
    its resources, looked up with this ``repository_name``, ``registry_prefix`` and ``region`` (checked: the model
    name, version and image tag or ``image`` they were looked up for). Defaults to none: the component looks them
    up when it is constructed."""

    def __post_init__(self) -> None:
        check_kms_key(self, "kms_key", self.kms_key)
        check.check_name(self, "model_name", self.model_name)
        check.check_pattern(self, "version", self.version, r"[0-9]+", "a model version number (Triton layout)")
        check.check_pattern(
            self, "image_tag", self.image_tag, r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "a Docker image tag"
        )
        if self.image is not None:
            check.check_pattern(
                self,
                "image",
                self.image,
                r"[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})",
                "a full image reference (registry/repository:tag or @sha256:<digest>)",
            )
        check.check_type(self, "region", self.region, str)
        check.check_type(self, "registry_prefix", self.registry_prefix, str)
        check.check_type(self, "repository_name", self.repository_name, str)
        check.check_mapping(self, "tags", self.tags)
        check.check_int(self, "min_replicas", self.min_replicas, 1, 100)
        check.check_int(self, "max_replicas", self.max_replicas, 1, 100)
        if self.min_replicas > self.max_replicas:
            check.fail(self, "min_replicas", f"{self.min_replicas} is above max_replicas {self.max_replicas}")
        check.check_int(self, "target_in_flight_per_pod", self.target_in_flight_per_pod, 1, 1000)
        check.check_pattern(self, "cpu", self.cpu, r"\d+(\.\d+)?m?", "a CPU quantity such as 2 or 500m")
        if cpu_milli(self.cpu) < 1:
            check.fail(self, "cpu", f"{self.cpu!r} is no CPU; request at least 1m")
        check.check_pattern(self, "memory", self.memory, MEMORY_QUANTITY, "a memory quantity such as 8Gi or 512Mi")
        if memory_mib(self.memory) < 4:
            check.fail(self, "memory", f"{self.memory!r} is under 4Mi, less than any container needs")
        check.check_int(self, "gpus", self.gpus, 1, 8)
        check.check_strings(self, "allowed_namespaces", self.allowed_namespaces)
        for namespace in self.allowed_namespaces:
            check.check_name(self, "allowed_namespaces", namespace)
        check.check_int(self, "max_batch_size", self.max_batch_size, 1, 1024)
        check.check_int(self, "max_queue_delay_ms", self.max_queue_delay_ms, 0, 1000)
        check.check_int(self, "model_load_timeout_seconds", self.model_load_timeout_seconds, 30, 3600)
        check.check_int(self, "images_to_keep", self.images_to_keep, 5, 1000)
        check.check_number(self, "availability_target", self.availability_target, 0.9, 0.99999)
        check.check_type(self, "latency_target_ms", self.latency_target_ms, int)
        check.check_choice(self, "latency_target_ms", self.latency_target_ms, SLO_LATENCY_TARGETS_MS)
        check.check_number(self, "latency_percentile", self.latency_percentile, 50.0, 99.99)
        check.check_int(self, "slo_window_days", self.slo_window_days, 7, 90)
        check.check_strings(self, "batch_jobs", self.batch_jobs)
        if self.artifacts is not None:
            check.check_type(self, "artifacts", self.artifacts, ModelArtifacts)
            wanted = f"/{self.model_name}/{self.version}/model.onnx"
            image = self.image or f":{self.image_tag}"
            if not self.artifacts.model_uri.rstrip('"').endswith(wanted) or not self.artifacts.image.endswith(image):
                check.fail(
                    self,
                    "artifacts",
                    f"were looked up for {self.artifacts.image} and {self.artifacts.model_uri}, not for this model "
                    f"version ({wanted.lstrip('/')}, image {image.lstrip(':')}); look them up with this Args' "
                    "model_name, version, image_tag and image, or leave artifacts unset",
                )

    @property
    def kms_key_arn(self) -> pulumi.Input[str]:
        """The ARN of ``kms_key``."""
        return kms_key_arn(self.kms_key)


class InferenceService(pulumi.ComponentResource):
    """A model server: namespace, identity, image repository, Deployment, Service, scaler, PDB, NetworkPolicies.

    - **Namespace** ``<model>``, Pod Security ``restricted`` (enforce, audit, warn).
    - **Identity**: ServiceAccount ``<model>`` (no API token automounted: the server never calls
      the Kubernetes API; the Pod Identity webhook projects its own audience-bound token) bound
      by EKS Pod Identity to a role that can only read ``s3://<registry>/<prefix>/<model>/``
      and decrypt with the stack key through S3.
    - **ECR repository**: immutable tags, scan on push, KMS-encrypted with the stack key, a
      lifecycle policy expiring untagged images after a day and keeping the last
      ``images_to_keep`` tagged ones.
    - **Deployment**: the pinned image and model version, one or more GPUs on tainted GPU nodes,
      restricted security context with a read-only root filesystem, emptyDirs for the model
      cache and ``/tmp``, liveness/readiness on the V2 health endpoints, a startup probe allowing
      ``model_load_timeout_seconds`` for the model to load, requests equal limits, zone spread,
      rolling update 0 unavailable / 1 surge.
    - **Service** (ClusterIP 8080), **KEDA ScaledObject** (in-flight requests per pod, from CloudWatch;
      KEDA owns the HPA), **PDB** (max 1 unavailable).
    - **NetworkPolicies**: default deny in and out; ingress on 8080 only from
      ``allowed_namespaces`` and from the metrics scraper's namespace
      (:data:`METRICS_SCRAPER_NAMESPACE`, for ``/metrics``); egress only to cluster DNS, the Pod
      Identity agent and HTTPS to public addresses (S3, STS).

    **Bootstrap.** The repository, namespace, identity and network policies are always created.
    The Deployment, Service, ScaledObject and PDB are created only once :func:`check_model_artifacts`
    finds the image and the model version published; until then the program logs what to
    publish where (``pulumi.log.warn``) and the ``bootstrap`` output records what waits.

    Example::

        InferenceService("fraud-scorer", InferenceServiceArgs(model_name="fraud-scorer", version="3",
            image_tag="2026.11.1", cluster=c.cluster,
            provider=c.provider, account_id=acct, region="eu-central-1", model_registry=registry,
            registry_prefix="models", kms_key=key,
            repository_name="hybrid-ai-platform-prod/fraud-scorer", tags=tags))
    """

    namespace: k8s.core.v1.Namespace
    service_account: k8s.core.v1.ServiceAccount
    identity: PodIdentityRole
    repository: aws.ecr.Repository
    artifacts: ModelArtifacts
    """The image and model version the workloads need, and which of them are published."""
    deployment: k8s.apps.v1.Deployment | None
    """The Deployment; None while the artifacts are not published."""
    service: k8s.core.v1.Service | None
    """The Service; None while the artifacts are not published."""
    image: pulumi.Output[str]
    """The image reference the pods run."""
    namespace_name: str
    """The namespace (the model name)."""
    args: InferenceServiceArgs
    """The Args it was built from (a :class:`~hybrid_ai_platform.components.batch_job.BatchScoringJob` runs
    the same model with them)."""

    def __init__(self, name: str, args: InferenceServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:inference:InferenceService", name, None, opts)
        self.args = args
        model = args
        tags = dict(args.tags)
        ns = model.model_name
        self.namespace_name = ns
        aws_child = pulumi.ResourceOptions(parent=self)
        k8s_child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        labels = {**selector_labels(model.model_name), "app.kubernetes.io/part-of": "hybrid-ai-platform"}

        # Artifacts: checked before anything is registered (the repository's tags record the result)
        self.artifacts = (
            args.artifacts
            if args.artifacts is not None
            else check_model_artifacts(
                model, args.repository_name, args.registry_prefix, args.region, pulumi.InvokeOptions(parent=self)
            )
        )

        # Image repository -----------------------------------------------------------------------
        self.repository = image_repository(
            name,
            args.repository_name,
            args.kms_key_arn,
            {
                **tags,
                "model": model.model_name,
                REGISTRY_BUCKET_TAG: args.model_registry.name,
                SERVING_TAG: "true" if self.artifacts.published else "false",
            },
            images_to_keep=model.images_to_keep,
            opts=aws_child,
        )
        self.image = (
            pulumi.Output.from_input(model.image)
            if model.image
            else pulumi.Output.concat(self.repository.repository_url, ":", model.image_tag)
        )

        # Namespace and identity --------------------------------------------------------------------
        self.namespace = restricted_namespace(name, ns, labels, k8s_child)
        ns_child = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.namespace])
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=object_meta(model.model_name, ns, labels),
            automount_service_account_token=False,
            opts=ns_child,
        )
        model_prefix = f"{args.registry_prefix}/{model.model_name}/"
        self.identity = PodIdentityRole(
            f"{name}-identity",
            PodIdentityRoleArgs(
                cluster_name=args.cluster.name,
                cluster_arn=args.cluster.arn,
                namespace=ns,
                service_account=model.model_name,
                statements=_sid("ReadOwnModel", args.model_registry.read_statements(model_prefix)),
                description=f"Inference server of {model.model_name}: read s3://<registry>/{model_prefix} only",
                tags=tags,
            ),
            opts=aws_child,
        )

        self._network_policies(name, model, ns, selector_labels(model.model_name), ns_child, args.node_cidr)
        deferred = [f"{name}-{suffix}" for suffix in ("deployment", "service", "scaledobject", "pdb")]
        self.deployment = None
        self.service = None
        if self.artifacts.published:
            self._workload(name, args, labels, ns_child)
        else:
            pulumi.log.warn(self._waiting_message(args), resource=self)

        self.register_outputs(
            {
                "namespace": ns,
                "repository_url": self.repository.repository_url,
                "image": self.image,
                "role_arn": self.identity.arn,
                "service": pulumi.Output.concat(model.model_name, ".", ns, ".svc.cluster.local:", str(PORT)),
                "bootstrap": self._bootstrap_record(deferred, args.batch_jobs),
            }
        )

    def _waiting_message(self, args: InferenceServiceArgs) -> str:
        """What to publish where before the workloads can be created (logged by ``pulumi up``)."""
        artifacts = self.artifacts
        jobs = "".join(f", batch job {job}" for job in args.batch_jobs)
        steps = [*artifacts.publish_commands(), "pulumi up   (again: it creates the deferred resources)"]
        numbered = " ".join(f"({i}) {step}" for i, step in enumerate(steps, start=1))
        return (
            f"{args.model_name}: {' and '.join(artifacts.missing)} not published yet, so its Deployment, Service, "
            f"ScaledObject, PodDisruptionBudget{jobs} wait (pods without them never become ready). Created now: ECR "
            f"repository {args.repository_name}, namespace, service account, Pod Identity role, network "
            f"policies. Publish, then deploy again: {numbered}"
        )

    def _bootstrap_record(self, deferred: list[str], jobs: Sequence[str]) -> dict[str, Any]:
        """The ``bootstrap`` output: what waits for which artifact (the offline plan's ``bootstrap`` section)."""
        artifacts = self.artifacts
        return {
            "model": self.namespace_name,
            "status": "serving" if artifacts.published else "waiting",
            "deferred_resources": deferred,
            "deferred_batch_jobs": list(jobs),
            "artifacts": [
                {
                    "kind": "image",
                    "reference": artifacts.image,
                    "checked": artifacts.image_checked,
                    "published": "image" not in artifacts.missing,
                    "publish": f"docker push {artifacts.image}",
                },
                {
                    "kind": "model",
                    "reference": artifacts.model_uri,
                    "checked": True,
                    "published": "model" not in artifacts.missing,
                    "publish": " && ".join(artifacts.model_publish_commands()),
                },
            ],
        }

    def _workload(
        self, name: str, args: InferenceServiceArgs, labels: dict[str, str], ns_child: pulumi.ResourceOptions
    ) -> None:
        """Deployment, Service, ScaledObject and PDB: created once the image and model version are published."""
        model = args
        ns = self.namespace_name
        volumes, mounts = scratch_volumes()
        selector = selector_labels(model.model_name)
        probe_period = 10
        annotations = {"hybrid-ai/model-version": model.version, "hybrid-ai/image-tag": model.image_tag}
        container = {
            "name": "server",
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
            "env": [
                *model_environment(model, args.model_registry.name, args.registry_prefix, args.region),
                # EMF metrics (inference_server/emf.py): their ClusterName dimension and the SLO's slow-request line.
                {"name": "METRICS_CLUSTER_NAME", "value": args.cluster.name},
                {"name": "SLO_LATENCY_TARGET_MS", "value": str(model.latency_target_ms)},
                {"name": "AWS_EMF_AGENT_ENDPOINT", "value": EMF_AGENT_ENDPOINT},
            ],
            "resources": gpu_resources(model),
            "securityContext": restricted_container_security_context(),
            "volumeMounts": mounts,
            "startupProbe": {
                "httpGet": {"path": READINESS_PATH, "port": "http"},
                "periodSeconds": probe_period,
                "timeoutSeconds": 3,
                "failureThreshold": math.ceil(model.model_load_timeout_seconds / probe_period),
            },
            "livenessProbe": {
                "httpGet": {"path": LIVENESS_PATH, "port": "http"},
                "periodSeconds": 10,
                "timeoutSeconds": 3,
                "failureThreshold": 3,
            },
            "readinessProbe": {
                "httpGet": {"path": READINESS_PATH, "port": "http"},
                "periodSeconds": 5,
                "timeoutSeconds": 3,
                "failureThreshold": 3,
            },
        }
        pod_spec = {
            "serviceAccountName": model.model_name,
            "automountServiceAccountToken": False,
            "securityContext": restricted_pod_security_context(),
            **gpu_scheduling(),
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector},
                }
            ],
            "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
            "containers": [container],
            "volumes": volumes,
        }
        # Pulumi waits for the rollout: a GPU node may first have to scale up from zero, then the
        # image is pulled and the model loaded, so allow the load time plus 15 minutes.
        rollout_timeout = f"{math.ceil((model.model_load_timeout_seconds + 900) / 60)}m"
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=object_meta(model.model_name, ns, labels, annotations),
            spec=api_fields(
                {
                    "selector": {"matchLabels": selector},
                    "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": model.model_load_timeout_seconds + 300,
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": ROLLOUT_MAX_SURGE},
                    },
                    "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec},
                },
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[
                    self.namespace,
                    self.service_account,
                    *([self.identity.association] if self.identity.association else []),
                    *args.depends_on,
                ],
                custom_timeouts=pulumi.CustomTimeouts(create=rollout_timeout, update=rollout_timeout),
            ),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=object_meta(model.model_name, ns, labels),
            spec=api_fields(
                {
                    "type": "ClusterIP",
                    "selector": selector,
                    "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
                }
            ),
            opts=ns_child,
        )
        self._scaler(name, args, labels)
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=object_meta(model.model_name, ns, labels),
            spec=api_fields({"maxUnavailable": 1, "selector": {"matchLabels": selector}}),
            opts=ns_child,
        )

    def _scaler(self, name: str, args: InferenceServiceArgs, labels: dict[str, str]) -> None:
        """A KEDA ScaledObject: in-flight requests per pod (the servers' ``InFlight`` EMF metric, summed over
        the pods each minute, divided by the replicas) against ``target_in_flight_per_pod``
        (components/keda.py). KEDA creates and owns the HPA (``min_replicas`` to ``max_replicas``)."""
        model = args
        ns = self.namespace_name
        in_flight = model_metric(args.cluster.name, model.model_name, "InFlight")
        auth = k8s.apiextensions.CustomResource(
            f"{name}-trigger-auth",
            api_version=SCALED_OBJECT_API,
            kind="TriggerAuthentication",
            metadata=object_meta(TRIGGER_AUTHENTICATION, ns, labels),
            spec={"podIdentity": {"provider": "aws"}},
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.provider, depends_on=[self.namespace, *args.scaler_depends_on]
            ),
        )
        dimensions = sorted(in_flight.dimensions.items())
        k8s.apiextensions.CustomResource(
            f"{name}-scaledobject",
            api_version=SCALED_OBJECT_API,
            kind="ScaledObject",
            metadata=object_meta(model.model_name, ns, labels),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": model.model_name},
                "minReplicaCount": model.min_replicas,
                "maxReplicaCount": model.max_replicas,
                "pollingInterval": 30,
                "cooldownPeriod": 300,
                "advanced": {
                    "horizontalPodAutoscalerConfig": {
                        "name": model.model_name,
                        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
                    }
                },
                "triggers": [
                    {
                        "type": "aws-cloudwatch",
                        # Each pod writes its InFlight gauge once a minute on its own timer, so a Sum per
                        # minute counts a pod 0, 1 or 2 times; the Average of the samples is the in-flight
                        # requests per pod, compared as a Value with the per-pod target. The end offset and
                        # window leave room for the agent's flush and CloudWatch ingestion, so the latest
                        # datapoint exists instead of falling back to minMetricValue
                        # (https://keda.sh/docs/latest/scalers/aws-cloudwatch/).
                        "metricType": "Value",
                        "authenticationRef": {"name": TRIGGER_AUTHENTICATION},
                        "metadata": {
                            "namespace": in_flight.namespace,
                            "metricName": in_flight.name,
                            "dimensionName": ";".join(key for key, _ in dimensions),
                            "dimensionValue": pulumi.Output.all(*(value for _, value in dimensions)).apply(";".join),
                            "metricStat": "Average",
                            "metricStatPeriod": "60",
                            "metricCollectionTime": "300",
                            "metricEndTimeOffset": "120",
                            "targetMetricValue": str(model.target_in_flight_per_pod),
                            "minMetricValue": "0",
                            "awsRegion": args.region,
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[*([self.deployment] if self.deployment else []), auth, *args.scaler_depends_on],
            ),
        )

    @staticmethod
    def _network_policies(
        name: str,
        model: InferenceServiceArgs,
        ns: str,
        selector: dict[str, str],
        opts: pulumi.ResourceOptions,
        node_cidr: pulumi.Input[str] | None = None,
    ) -> None:
        default_deny_and_aws_egress(name, ns, node_cidr, opts)
        if model.allowed_namespaces:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-allow-callers",
                metadata={"name": "allow-inference-callers", "namespace": ns},
                spec=api_fields(
                    {
                        "podSelector": {"matchLabels": selector},
                        "policyTypes": ["Ingress"],
                        "ingress": [
                            {
                                "from": [
                                    {
                                        "namespaceSelector": {
                                            "matchExpressions": [
                                                {
                                                    "key": "kubernetes.io/metadata.name",
                                                    "operator": "In",
                                                    "values": sorted(model.allowed_namespaces),
                                                }
                                            ]
                                        }
                                    }
                                ],
                                "ports": [{"protocol": "TCP", "port": PORT}],
                            }
                        ],
                    }
                ),
                opts=opts,
            )
        # The server serves /metrics on its one port. Kubelet probes need no rule: the VPC CNI's
        # network policy agent always admits the node's own IP
        # (https://github.com/aws/aws-network-policy-agent/pull/65, in VPC CNI 1.15.1+).
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-metrics-scraper",
            metadata={"name": "allow-metrics-scraper", "namespace": ns},
            spec=api_fields(
                {
                    "podSelector": {"matchLabels": selector},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {"kubernetes.io/metadata.name": METRICS_SCRAPER_NAMESPACE}
                                    }
                                }
                            ],
                            "ports": [{"protocol": "TCP", "port": PORT}],
                        }
                    ],
                }
            ),
            opts=opts,
        )
