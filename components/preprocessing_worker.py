"""The cluster path of a preprocessing function (``placement: cluster | auto``, docs/placement.md).

The same preprocessing code (``lambda_src/``, ``python -m preprocessing.worker``, image
``lambda_src/Dockerfile.worker``) runs as a Deployment on EKS CPU capacity and consumes the function's
SQS queue, so visibility timeout, redrive, dead-letter queue and alarms are those of the Lambda path.
KEDA's ``aws-sqs-queue`` scaler scales it from zero on the queue's depth
(https://keda.sh/docs/2.21/scalers/aws-sqs/): with ``queueLength`` equal to the messages one pod takes
per receive, and in-flight messages counted (the scaler's default), ``ceil(visible + in flight /
queueLength)`` pods run. The scaler authenticates with the KEDA operator's Pod Identity
(``TriggerAuthentication`` ``podIdentity.provider: aws``,
https://keda.sh/docs/2.21/authentication-providers/aws/), which :class:`~.keda.Keda` grants
``sqs:GetQueueAttributes`` on exactly these queues.

``placement: auto`` splits the landing bucket's ``Object Created`` events by size with EventBridge numeric
matching on ``detail.object.size`` (bytes): ``{"numeric": ["<=", T]}`` to the Lambda queue,
``{"numeric": [">", T]}`` to the cluster queue, so every size matches exactly one rule
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html for the event's ``object.size``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from hybrid_ai_platform.contracts import (
    LAMBDA_MB_PER_VCPU,
    VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT,
    cpu_milli,
    memory_mib,
)

from . import validation as check
from .encryption_key import KmsKey, check_kms_key, kms_key_arn
from .gpu_node_group import NODE_POOL_LABEL
from .image_repository import image_repository
from .inference_service import EMF_AGENT_ENDPOINT
from .instance_types import node_allocatable
from .keda import SCALED_OBJECT_API, TRIGGER_AUTHENTICATION
from .kubernetes import (
    NON_ROOT_UID,
    api_fields,
    default_deny_and_aws_egress,
    object_meta,
    restricted_container_security_context,
    restricted_namespace,
    restricted_pod_security_context,
)
from .pod_identity import PodIdentityRole, PodIdentityRoleArgs

if TYPE_CHECKING:
    from .preprocessing import PreprocessingPipeline

WORKER_COMPONENT = "preprocessing-worker"
"""``app.kubernetes.io/component`` of worker pods: the permission check (BP-SYS-005) maps it to
``WORKLOADS["worker"]`` of ``lambda_src/preprocessing/aws_calls.py``."""
WORKER_MAX_MESSAGES = 10
"""Messages per receive (SQS maximum); also the scaler's ``queueLength``: one pod per full receive."""
WORKER_WAIT_SECONDS = 20
"""Long-poll wait of a receive (SQS maximum)."""
WORKER_HEARTBEAT_FILE = "/tmp/preprocessing-worker.heartbeat"  # noqa: S108 - an emptyDir, private to the pod
PREPROCESSING_NODE_POOL = "preprocessing"
"""``hybrid-ai/node-pool`` label (and taint) of the spot CPU node group the workers run on by default."""
SIZE_FIELD = "detail.object.size"
IMAGE_TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
"""An image tag (Docker's rule: 1 to 128 word characters, dots and dashes, not starting with either)."""
IMAGE_PATTERN = r"^[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$"
"""A full image reference: ``registry[:port]/repository`` and a tag or a ``@sha256:`` digest."""
WorkerCapacity = Literal["spot", "system"]
"""Where worker pods run: the spot CPU node group of the workers, or the system node group."""


def worker_namespace(name: str) -> str:
    """Namespace of a function's worker: ``preprocessing-<name>`` (one per function)."""
    return f"preprocessing-{name}"


def worker_resources(memory_mb: int) -> dict[str, dict[str, str]]:
    """Requests = limits: the function's memory, and its Lambda CPU share (``memory_mb`` / 1769 vCPU, at least
    0.5 vCPU), in millicores."""
    cpu = max(500, math.ceil(memory_mb * 1000 / LAMBDA_MB_PER_VCPU))
    values = {"cpu": f"{cpu}m", "memory": f"{memory_mb}Mi"}
    return {"requests": dict(values), "limits": dict(values)}


def termination_grace_seconds(timeout_seconds: int) -> int:
    """Long-poll wait + a batch's time limit (the function's timeout) + 10 s to delete and exit."""
    return WORKER_WAIT_SECONDS + timeout_seconds + 10


def worker_node_pool(capacity: WorkerCapacity) -> str:
    """The ``hybrid-ai/node-pool`` a worker's pods are scheduled on."""
    return PREPROCESSING_NODE_POOL if capacity == "spot" else "system"


def size_split_patterns(
    bucket: pulumi.Input[str], landing_prefix: str, threshold: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Event patterns of ``auto``'s two rules: (objects of at most ``threshold`` bytes, larger objects).

    ``detail.object.size`` is a JSON number of bytes in S3's ``Object Created`` event; the two numeric
    conditions ``<= T`` and ``> T`` partition the sizes: each object matches exactly one rule.
    """

    def pattern(condition: list[Any]) -> dict[str, Any]:
        return {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": [bucket]},
                "object": {"key": [{"prefix": landing_prefix}], "size": [{"numeric": condition}]},
            },
        }

    return pattern(["<=", threshold]), pattern([">", threshold])


@dataclass(frozen=True)
class PreprocessingWorkerArgs:
    """Inputs of :class:`PreprocessingWorker`. Checked at construction: a bad value raises naming the field."""

    pipeline: PreprocessingPipeline
    """The pipeline whose code the worker runs, built with ``placement`` ``cluster`` or ``auto``: the worker
    consumes its worker queue with its function's environment, memory, timeout and role grants (the Lambda
    role's, from the same builder, :func:`~.preprocessing.pipeline_role_statements`). Required."""
    image_tag: str
    """Pinned, immutable tag of the worker image (``lambda_src/Dockerfile.worker``) in the created ECR
    repository. Required."""
    cluster: aws.eks.Cluster
    """Cluster of the Pod Identity association. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    region: str
    """Stack region. Required."""
    repository_name: str
    """ECR repository of the worker image. Required."""
    kms_key: KmsKey
    """Stack key (an :class:`~.encryption_key.EncryptionKey` or ``aws.kms.Key``, or the ARN of a key you bring):
    encrypts the worker's image repository. Required."""
    tags: Mapping[str, str]
    """Required tags. Required."""
    image: str | None = None
    """Full image reference (``registry/repo:tag`` or ``@sha256:``) to run instead. Defaults to none: the
    created ECR repository at ``image_tag``."""
    capacity: WorkerCapacity = "spot"
    """Where the worker pods run. Defaults to ``spot``: the spot CPU node group of the workers
    (:func:`preprocessing_node_group`, node pool ``preprocessing``), which the pods tolerate. ``system`` runs
    them on the system node group instead (no extra node group; they then compete with the add-ons)."""
    max_replicas: int = 5
    """The most worker pods KEDA scales to, 1 to 100 (the counterpart of the function's maximum concurrency).
    Defaults to 5."""
    node_cidr: pulumi.Input[str] | None = None
    """VPC CIDR: egress to the CloudWatch agent (host network) on 25888. Defaults to none (no EMF egress)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the Deployment waits for (node group, CoreDNS). Defaults to none."""
    scaler_depends_on: Sequence[pulumi.Resource] = ()
    """What the ScaledObject waits for (the KEDA release: its CRDs). Defaults to none."""

    def __post_init__(self) -> None:
        check_kms_key(self, "kms_key", self.kms_key)
        from .preprocessing import PreprocessingPipeline

        check.check_type(self, "pipeline", self.pipeline, PreprocessingPipeline)
        if self.pipeline.worker_queue is None:
            check.fail(
                self,
                "pipeline",
                f"pipeline {self.pipeline.args.name} has placement '{self.pipeline.args.placement}', which leaves "
                "no queue to a worker; build it with placement 'cluster' or 'auto'",
            )
        check.check_pattern(self, "image_tag", self.image_tag, IMAGE_TAG_PATTERN, "an image tag")
        if self.image is not None:
            check.check_pattern(self, "image", self.image, IMAGE_PATTERN, "a full image reference")
        check.check_type(self, "region", self.region, str)
        check.check_type(self, "repository_name", self.repository_name, str)
        check.check_mapping(self, "tags", self.tags)
        check.check_choice(self, "capacity", self.capacity, WorkerCapacity)
        check.check_int(self, "max_replicas", self.max_replicas, 1, 100)

    @property
    def kms_key_arn(self) -> pulumi.Input[str]:
        """The ARN of ``kms_key``."""
        return kms_key_arn(self.kms_key)


class PreprocessingWorker(pulumi.ComponentResource):
    """ECR repository, namespace, Pod Identity role, Deployment, KEDA scaler and network policies of a worker.

    Example::

        PreprocessingWorker("transactions-worker", PreprocessingWorkerArgs(pipeline=transactions,
            image_tag="2026.11.1", cluster=c.cluster, provider=c.provider, region="eu-west-1",
            repository_name="hybrid-ai-platform-prod/transactions-worker", kms_key=key, tags=tags))
    """

    repository: aws.ecr.Repository
    identity: PodIdentityRole
    deployment: k8s.apps.v1.Deployment
    image: pulumi.Output[str]

    def __init__(self, name: str, args: PreprocessingWorkerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:preprocessing:PreprocessingWorker", name, None, opts)
        fn = args.pipeline.args
        worker = args
        queue = args.pipeline.worker_queue
        assert queue is not None  # PreprocessingWorkerArgs refuses a pipeline without one
        tags = dict(args.tags)
        ns = worker_namespace(fn.name)
        selector = {"app.kubernetes.io/name": fn.name, "app.kubernetes.io/component": WORKER_COMPONENT}
        labels = {**selector, "app.kubernetes.io/part-of": "hybrid-ai-platform"}
        aws_child = pulumi.ResourceOptions(parent=self)
        k8s_child = pulumi.ResourceOptions(parent=self, provider=args.provider)

        self.repository = image_repository(
            name,
            args.repository_name,
            args.kms_key_arn,
            {**tags, "preprocessing-function": fn.name},
            images_to_keep=10,
            opts=aws_child,
        )
        self.image = (
            pulumi.Output.from_input(worker.image)
            if worker.image
            else pulumi.Output.concat(self.repository.repository_url, ":", worker.image_tag)
        )

        self.namespace = restricted_namespace(name, ns, labels, k8s_child)
        ns_child = pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[self.namespace])
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=object_meta(fn.name, ns, labels),
            automount_service_account_token=False,
            opts=ns_child,
        )
        self.identity = PodIdentityRole(
            f"{name}-identity",
            PodIdentityRoleArgs(
                cluster_name=args.cluster.name,
                cluster_arn=args.cluster.arn,
                namespace=ns,
                service_account=fn.name,
                statements=list(args.pipeline.worker_statements),
                description=f"Preprocessing worker {fn.name}: the grants of its Lambda role",
                tags=tags,
            ),
            opts=aws_child,
        )
        default_deny_and_aws_egress(name, ns, args.node_cidr, ns_child)

        env = {
            **args.pipeline.environment,
            "QUEUE_URL": queue.url,
            "WORKER_MAX_MESSAGES": str(WORKER_MAX_MESSAGES),
            "WORKER_WAIT_SECONDS": str(WORKER_WAIT_SECONDS),
            "WORKER_TIMEOUT_SECONDS": str(fn.timeout_seconds),
            "WORKER_HEARTBEAT_FILE": WORKER_HEARTBEAT_FILE,
            "AWS_EMF_AGENT_ENDPOINT": EMF_AGENT_ENDPOINT,
            "AWS_REGION": args.region,
        }
        probe = ["python", "-m", "preprocessing.worker", "--probe"]
        container = {
            "name": "worker",
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "env": [{"name": key, "value": value} for key, value in sorted(env.items())],
            "resources": worker_resources(fn.memory_mb),
            "securityContext": restricted_container_security_context(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
            "startupProbe": {"exec": {"command": probe}, "periodSeconds": 5, "failureThreshold": 24},
            "livenessProbe": {"exec": {"command": probe}, "periodSeconds": 30, "failureThreshold": 2},
        }
        pod_security = {**restricted_pod_security_context(), "runAsUser": NON_ROOT_UID, "runAsGroup": NON_ROOT_UID}
        pool = worker_node_pool(worker.capacity)
        scheduling: dict[str, Any] = {"nodeSelector": {NODE_POOL_LABEL: pool}}
        if worker.capacity == "spot":
            scheduling["tolerations"] = [
                {"key": NODE_POOL_LABEL, "operator": "Equal", "value": PREPROCESSING_NODE_POOL, "effect": "NoSchedule"}
            ]
        # Scaled by KEDA: `replicas` is left out (server-side apply then leaves it to KEDA, no drift). The API server
        # defaults it to 1 on creation (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#replicas),
        # so one pod starts until KEDA scales an idle queue to zero;
        # and `pulumi.com/skipAwait` stops Pulumi waiting for a ready pod, which only a queued message and a
        # pushed worker image bring (https://www.pulumi.com/registry/packages/kubernetes/api-docs/apps/v1/deployment/).
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=object_meta(fn.name, ns, labels, {"pulumi.com/skipAwait": "true"}),
            spec=api_fields(
                {
                    "selector": {"matchLabels": selector},
                    "revisionHistoryLimit": 10,
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": fn.name,
                            "automountServiceAccountToken": False,
                            "securityContext": pod_security,
                            **scheduling,
                            "terminationGracePeriodSeconds": termination_grace_seconds(fn.timeout_seconds),
                            "containers": [container],
                            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
                        },
                    },
                }
            ),
            # Scaled from zero: Pulumi must not wait for ready pods that only a queued message brings.
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[
                    self.namespace,
                    service_account,
                    *([self.identity.association] if self.identity.association else []),
                    *args.depends_on,
                ],
            ),
        )
        self._scaler(name, ns, labels, args)
        self.register_outputs(
            {"namespace": ns, "repository_url": self.repository.repository_url, "role_arn": self.identity.arn}
        )

    def _scaler(self, name: str, ns: str, labels: dict[str, str], args: PreprocessingWorkerArgs) -> None:
        fn = args.pipeline.args
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
        k8s.apiextensions.CustomResource(
            f"{name}-scaledobject",
            api_version=SCALED_OBJECT_API,
            kind="ScaledObject",
            metadata=object_meta(fn.name, ns, labels),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": fn.name},
                "minReplicaCount": 0,
                "maxReplicaCount": args.max_replicas,
                "pollingInterval": 15,
                # cooldownPeriod only governs the last step, 1 -> 0, after the trigger was last active; the HPA
                # KEDA creates scales N -> M > 0 (https://keda.sh/docs/latest/reference/scaledobject-spec/). The
                # queue length counts in-flight messages, so the last pod is not removed mid-batch; a pod the HPA
                # removes at N -> M drains on SIGTERM within terminationGracePeriodSeconds, and an unfinished
                # message becomes visible again for another pod.
                "cooldownPeriod": VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT * fn.timeout_seconds,
                "triggers": [
                    {
                        "type": "aws-sqs-queue",
                        "authenticationRef": {"name": TRIGGER_AUTHENTICATION},
                        "metadata": {
                            "queueURLFromEnv": "QUEUE_URL",
                            "queueLength": str(WORKER_MAX_MESSAGES),
                            "awsRegion": args.region,
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.provider, depends_on=[self.deployment, auth, *args.scaler_depends_on]
            ),
        )


PREPROCESSING_INSTANCE_TYPES = ("m7i.large", "m7i.xlarge", "c7i.xlarge")
"""Spot CPU instance types of the preprocessing node group: x86_64 (build the worker image for
``linux/amd64``, whatever the Lambda's architecture), types the shipped stacks' instance-type policy allows,
several so a spot shortage in one pool does not stop the workers. 2-4 vCPU and 8-16 GiB each: a default
worker (1 GiB, 0.58 vCPU) fits several per node."""


def node_group_max_size(workers: Sequence[PreprocessingWorkerArgs]) -> int:
    """Nodes the spot group needs for ``workers`` (the spot ones) at their ``max_replicas``: CPU and memory
    requests summed, divided by what the group's smallest instance type offers pods (``node_allocatable``),
    rounded up; at least 1. The node count bounds the cost: the group scales from zero and back with the
    queues."""
    cpu_node = min(node_allocatable(t)[0] for t in PREPROCESSING_INSTANCE_TYPES)
    memory_node = min(node_allocatable(t)[1] for t in PREPROCESSING_INSTANCE_TYPES)
    requests = [(w.max_replicas, worker_resources(w.pipeline.args.memory_mb)["requests"]) for w in workers]
    cpu = sum(replicas * cpu_milli(request["cpu"]) for replicas, request in requests)
    memory = sum(replicas * memory_mib(request["memory"]) for replicas, request in requests)
    return max(1, math.ceil(cpu / cpu_node), math.ceil(memory / memory_node))


def preprocessing_node_group(
    name: str,
    *,
    cluster_name: pulumi.Input[str],
    autoscaler_cluster_name: str,
    node_role_arn: pulumi.Input[str],
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
    kms_key_arn: pulumi.Input[str],
    max_size: int,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> aws.eks.NodeGroup:
    """The small spot CPU node group of the preprocessing workers: 0 to ``max_size`` nodes
    (:func:`node_group_max_size`), tainted
    ``hybrid-ai/node-pool=preprocessing:NoSchedule`` so only the workers (which tolerate it) land there,
    with the cluster autoscaler's discovery and node-template tags. As for the GPU groups
    (:class:`~.gpu_node_group.GpuNodeGroup`), EKS tags the Auto Scaling group for the autoscaler's discovery itself
    but does not propagate the node group's tags to it (eksctl's Auto Scaling guide,
    https://docs.aws.amazon.com/eks/latest/eksctl/autoscaling.html, "Scaling up from 0"): at zero nodes the
    autoscaler reads the group's label and taint with ``eks:DescribeNodegroup``, and the template tags record the
    same facts on the node group."""
    from .gpu_node_group import node_launch_template

    ami_type = "AL2023_x86_64_STANDARD"
    instance_types = list(PREPROCESSING_INSTANCE_TYPES)
    launch_template = node_launch_template(
        name, ami_type=ami_type, disk_size_gb=20, kms_key_arn=kms_key_arn, tags=tags, parent=parent
    )
    prefix = "k8s.io/cluster-autoscaler"
    return aws.eks.NodeGroup(
        f"{name}-nodes",
        cluster_name=cluster_name,
        node_group_name=PREPROCESSING_NODE_POOL,
        node_role_arn=node_role_arn,
        subnet_ids=subnet_ids,
        ami_type=ami_type,
        capacity_type="SPOT",
        instance_types=instance_types,
        scaling_config={"min_size": 0, "max_size": max_size, "desired_size": 0},
        update_config={"max_unavailable": 1},
        launch_template={"id": launch_template.id, "version": launch_template.latest_version.apply(str)},
        labels={NODE_POOL_LABEL: PREPROCESSING_NODE_POOL},
        taints=[{"key": NODE_POOL_LABEL, "value": PREPROCESSING_NODE_POOL, "effect": "NO_SCHEDULE"}],
        tags={
            **tags,
            f"{prefix}/enabled": "true",
            f"{prefix}/{autoscaler_cluster_name}": "owned",
            f"{prefix}/node-template/label/{NODE_POOL_LABEL}": PREPROCESSING_NODE_POOL,
            f"{prefix}/node-template/taint/{NODE_POOL_LABEL}": f"{PREPROCESSING_NODE_POOL}:NoSchedule",
        },
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=list(depends_on), ignore_changes=["scalingConfig.desiredSize"]
        ),
    )
