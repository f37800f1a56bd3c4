"""Capacity: the GPU pods the plan creates fit the GPU node groups the plan creates.

The config refuses GPU demand above supply (``hybrid_ai_platform/config/``, ``PlatformConfig``), but it
judges what the components *should* produce. This check judges what they *did* produce, from the
plan alone, so a component bug (a Deployment that loses its toleration, an HPA floor above the
configured ``min_replicas``, a node group whose ``maxSize`` is wired to the wrong value) is found:

* **Supply**: each ``aws:eks/nodeGroup:NodeGroup`` whose instance types carry NVIDIA GPUs
  (:data:`hybrid_ai_platform.contracts.GPUS_PER_INSTANCE`) offers ``scalingConfig.maxSize`` x GPUs per
  instance (the smallest, if the group mixes types).
* **Demand**: every Deployment and CronJob pod that requests ``nvidia.com/gpu``: a Deployment runs
  its autoscaler's minimum (HPA ``minReplicas``, KEDA ``minReplicaCount``; else ``spec.replicas``,
  default 1) plus its rolling-update ``maxSurge``
  (an integer, or a percentage rounded up; default 25%), a CronJob runs one Job at a time when its
  ``concurrencyPolicy`` is ``Forbid`` or ``Replace`` (two are counted for ``Allow``), each Job
  ``parallelism`` pods (default 1).
* **Placement**: a pod may land on a group when its ``nodeSelector`` and required node affinity
  match the group's labels and it tolerates every ``NoSchedule``/``NoExecute`` taint of the group
  (Kubernetes semantics: https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/).
  A GPU pod that may land on no GPU group never runs. Demand is checked against supply for every
  set of groups (the pods that may only use those groups must fit their combined GPUs: Hall's
  condition), so groups shared by several workloads are judged as the pool they are.
* **Per pod**: the pod's CPU, memory and GPU requests fit one node of some instance type of a group
  it may land on, after the node's reserved share (:func:`hybrid_ai_platform.config.node_allocatable`, the
  same rule the config uses).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybrid_ai_platform.components.instance_types import UnknownInstanceTypeError
from hybrid_ai_platform.config import cpu_milli, memory_mib, node_allocatable
from hybrid_ai_platform.contracts import GPU_RESOURCE, GPUS_PER_INSTANCE

from ..plandoc import Resource
from . import CheckContext, Finding, check

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRONJOB = "kubernetes:batch/v1:CronJob"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
"""A KEDA ScaledObject owns its target's replicas through an HPA it creates at run time
(``minReplicaCount``, default 0: https://keda.sh/docs/2.19/reference/scaledobject-spec/)."""
GPU = GPU_RESOURCE
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
"""EKS API taint effects and their Kubernetes spelling."""
BATCH_JOB_LABEL = "hybrid-ai/batch-job"


@dataclass(frozen=True)
class Group:
    """A GPU node group as planned."""

    record: Resource
    name: str
    instance_types: tuple[str, ...]
    max_size: int
    labels: Mapping[str, str]
    taints: tuple[tuple[str, str, str], ...]

    @property
    def gpus(self) -> int:
        """GPUs the group can reach at ``maxSize``."""
        return self.max_size * min(GPUS_PER_INSTANCE[t] for t in self.instance_types)


@dataclass(frozen=True)
class Workload:
    """A GPU-requesting pod template and how many of its pods run at once."""

    record: Resource
    kind: str
    name: str
    pods: int
    how: str
    pod_spec: Mapping[str, Any]
    gpus: int
    cpu_milli: int
    memory_mib: float
    entry: str
    """The workload's config entry (``inference.models[<i>]`` or ``inference.batch_jobs[<i>]``)."""


def _groups(context: CheckContext) -> list[Group]:
    """The GPU node groups: those whose every instance type has a known GPU count."""
    return [
        g for g in _all_groups(context) if g.instance_types and all(t in GPUS_PER_INSTANCE for t in g.instance_types)
    ]


def _group_field(context: CheckContext, group: Group, key: str) -> str:
    configured = (context.config("cluster") or {}).get("gpu_node_groups") or []
    for index, entry in enumerate(configured):
        if isinstance(entry, Mapping) and entry.get("name") == group.name:
            return f"cluster.gpu_node_groups[{index}].{key}"
    return f"cluster.gpu_node_groups[].{key}"


_DECIMAL = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def _memory(quantity: str) -> float:
    """A Kubernetes memory quantity in MiB: binary suffixes through the config's
    :func:`~hybrid_ai_platform.config.memory_mib` (one parser), decimal suffixes and plain bytes here."""
    if quantity[-2:] in ("Ki", "Mi", "Gi", "Ti"):
        return memory_mib(quantity)
    if quantity[-1:] in _DECIMAL:
        return float(quantity[:-1]) * _DECIMAL[quantity[-1]] / 2**20
    return float(quantity) / 2**20


def _requests(pod_spec: Mapping[str, Any]) -> tuple[int, int, float]:
    """GPUs, millicores and MiB the pod requests (containers summed; a request defaults to its limit)."""
    gpus, cpu, memory = 0, 0, 0.0
    for container in pod_spec.get("containers") or []:
        resources = container.get("resources") or {}
        merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        gpus += int(merged.get(GPU) or (resources.get("limits") or {}).get(GPU) or 0)
        if "cpu" in merged:
            cpu += cpu_milli(str(merged["cpu"]))
        if "memory" in merged:
            memory += _memory(str(merged["memory"]))
    return gpus, cpu, memory


def _surge(strategy: Mapping[str, Any], replicas: int) -> int:
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(value)


def _entry(context: CheckContext, section: str, name: str) -> str:
    """``inference.<section>[<i>]`` for the entry named ``name``."""
    for index, entry in enumerate((context.config("inference") or {}).get(section) or []):
        if isinstance(entry, Mapping) and entry.get("name") == name:
            return f"inference.{section}[{index}]"
    return f"inference.{section}[]"


def _workloads(context: CheckContext) -> Iterator[Workload]:
    hpas: dict[tuple[Any, Any, Any], Mapping[str, Any]] = {}
    for hpa in context.resources(HPA):
        inputs = hpa.inputs
        target = (inputs.get("spec") or {}).get("scaleTargetRef") or {}
        namespace = (inputs.get("metadata") or {}).get("namespace")
        hpas[(namespace, target.get("kind"), target.get("name"))] = inputs.get("spec") or {}
    for scaled in context.resources(SCALED_OBJECT):
        inputs = scaled.inputs
        spec = inputs.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        namespace = (inputs.get("metadata") or {}).get("namespace")
        floor = {"minReplicas": int(spec.get("minReplicaCount", 0))}
        hpas[(namespace, target.get("kind", "Deployment"), target.get("name"))] = floor
    for record in context.resources(DEPLOYMENT):
        inputs = record.inputs
        meta, spec = inputs.get("metadata") or {}, inputs.get("spec") or {}
        pod_spec = (spec.get("template") or {}).get("spec") or {}
        gpus, cpu, memory = _requests(pod_spec)
        if gpus == 0:
            continue
        scaler = hpas.get((meta.get("namespace"), "Deployment", meta.get("name")))
        replicas = int(scaler.get("minReplicas", 1)) if scaler is not None else int(spec.get("replicas", 1))
        surge = _surge(spec.get("strategy") or {}, replicas)
        source = "autoscaler minimum" if scaler is not None else "replicas"
        yield Workload(
            record, "Deployment", str(meta.get("name")), replicas + surge, f"{replicas} {source} + {surge} surge",
            pod_spec, gpus, cpu, memory, _entry(context, "models", str(meta.get("name"))),
        )  # fmt: skip
    for record in context.resources(CRONJOB):
        inputs = record.inputs
        meta, spec = inputs.get("metadata") or {}, inputs.get("spec") or {}
        job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        pod_spec = (job_spec.get("template") or {}).get("spec") or {}
        gpus, cpu, memory = _requests(pod_spec)
        if gpus == 0:
            continue
        runs = 2 if spec.get("concurrencyPolicy", "Allow") == "Allow" else 1
        parallelism = int(job_spec.get("parallelism", 1))
        job = str((meta.get("labels") or {}).get(BATCH_JOB_LABEL) or meta.get("name"))
        yield Workload(
            record, "CronJob", str(meta.get("name")), runs * parallelism,
            f"{runs} concurrent run(s) x {parallelism} pod(s)", pod_spec, gpus, cpu, memory,
            _entry(context, "batch_jobs", job),
        )  # fmt: skip


def _matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
    value = labels.get(str(key))
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and values:
        try:
            return int(value) > int(values[0]) if operator == "Gt" else int(value) < int(values[0])
        except ValueError:
            return False
    return False


def _tolerates(tolerations: Sequence[Mapping[str, Any]], taint: tuple[str, str, str]) -> bool:
    key, value, effect = taint
    for toleration in tolerations:
        if toleration.get("effect") and toleration.get("effect") != effect:
            continue
        operator = toleration.get("operator", "Equal")
        if operator == "Exists" and toleration.get("key") in (None, "", key):
            return True
        if operator == "Equal" and toleration.get("key") == key and str(toleration.get("value") or "") == value:
            return True
    return False


def may_land_on(pod_spec: Mapping[str, Any], group: Group) -> bool:
    """Whether the scheduler may place the pod on a node of ``group`` (node selector, required node
    affinity, and a toleration for each ``NoSchedule``/``NoExecute`` taint)."""
    selector = pod_spec.get("nodeSelector") or {}
    if any(group.labels.get(str(k)) != str(v) for k, v in selector.items()):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}).get("nodeSelectorTerms")  # fmt: skip
    if required and not any(
        all(_matches(e, group.labels) for e in term.get("matchExpressions") or []) for term in required
    ):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(_tolerates(tolerations, t) for t in group.taints if t[2] in ("NoSchedule", "NoExecute"))


def _fits(workload: Workload, instance_type: str) -> bool:
    try:
        cpu, memory, gpus = node_allocatable(instance_type)
    except UnknownInstanceTypeError:
        return False
    return workload.cpu_milli <= cpu and workload.memory_mib <= memory and workload.gpus <= gpus


@check(
    name="system-gpu-capacity",
    id="BP-SYS-007",
    description=(
        "The GPU pods the plan creates (HPA minimum + rollout surge per Deployment, concurrent CronJob runs) "
        "can be placed on the GPU node groups it creates, within maxSize x GPUs per instance, and each pod fits "
        "one node; otherwise a rollout or the nightly job waits Pending forever."
    ),
    remediation=(
        "Raise cluster.gpu_node_groups[].max_size (or add a group), lower inference.models[].min_replicas or "
        "resources, or fix the workload's nodeSelector/tolerations so it may land on a GPU group."
    ),
    severity="high",
    resource_types=(NODE_GROUP, DEPLOYMENT, CRONJOB),
)
def gpu_capacity(context: CheckContext) -> Iterator[Finding]:
    """Place every GPU workload on the GPU node groups it may use and compare demand with supply."""
    groups = _groups(context)
    eligible: list[tuple[Workload, frozenset[int]]] = []
    for workload in _workloads(context):
        allowed = frozenset(i for i, g in enumerate(groups) if may_land_on(workload.pod_spec, g))
        if not allowed:
            names = ", ".join(g.name for g in groups) or "none"
            yield Finding(
                f"{workload.kind} {workload.name} requests {workload.gpus} GPU per pod but may land on no GPU node "
                f"group (groups: {names}): its nodeSelector, node affinity or tolerations match none",
                field=f"{workload.entry}.{'resources' if workload.kind == 'Deployment' else 'model'}",
                resource=workload.record,
            )
            continue
        if not any(_fits(workload, t) for i in allowed for t in groups[i].instance_types):
            shapes = ", ".join(sorted({t for i in allowed for t in groups[i].instance_types}))
            yield Finding(
                f"{workload.kind} {workload.name} requests {workload.cpu_milli}m CPU, {workload.memory_mib:g} MiB "
                f"and {workload.gpus} GPU per pod, more than one node of {shapes} offers after its reserved share",
                field=f"{workload.entry}.{'resources' if workload.kind == 'Deployment' else 'model'}",
                resource=workload.record,
            )
        eligible.append((workload, allowed))
    # Hall's condition: for every set S of groups, the pods that may only use groups in S fit in S.
    reported: set[frozenset[int]] = set()
    for size in range(1, len(groups) + 1):
        for subset in map(frozenset, itertools.combinations(range(len(groups)), size)):
            if any(r <= subset for r in reported):
                continue
            inside = [(w, a) for w, a in eligible if a <= subset]
            demand = sum(w.pods * w.gpus for w, _ in inside)
            supply = sum(groups[i].gpus for i in subset)
            if not inside or demand <= supply:
                continue
            reported.add(subset)
            detail = "; ".join(f"{w.kind} {w.name}: {w.how} x {w.gpus} GPU" for w, _ in inside)
            members = [groups[i] for i in sorted(subset)]
            supply_text = " + ".join(
                f"{g.name}: maxSize {g.max_size} x {min(GPUS_PER_INSTANCE[t] for t in g.instance_types)}"
                for g in members
            )
            for group in members:
                yield Finding(
                    f"GPU demand {demand} exceeds what node group(s) {supply_text} can reach ({supply}): {detail}",
                    field=_group_field(context, group, "max_size"),
                    resource=group.record,
                )


WORKER_COMPONENT = "preprocessing-worker"
"""``app.kubernetes.io/component`` of the preprocessing workers' pods (components/preprocessing_worker.py)."""


def _all_groups(context: CheckContext) -> list[Group]:
    """Every node group of the plan (CPU and GPU), as :class:`Group` records."""
    groups = []
    for record in context.resources(NODE_GROUP):
        inputs = record.inputs
        taints = tuple(
            (
                str(t.get("key")),
                str(t.get("value") or ""),
                TAINT_EFFECTS.get(str(t.get("effect")), str(t.get("effect"))),
            )
            for t in inputs.get("taints") or []
        )
        groups.append(
            Group(
                record=record,
                name=str(inputs.get("nodeGroupName") or record.name),
                instance_types=tuple(inputs.get("instanceTypes") or ()),
                max_size=int((inputs.get("scalingConfig") or {}).get("maxSize") or 0),
                labels={str(k): str(v) for k, v in (inputs.get("labels") or {}).items()},
                taints=taints,
            )
        )
    return groups


@check(
    name="system-worker-capacity",
    id="BP-SYS-011",
    description=(
        "The preprocessing workers' pods (placement: cluster | auto) may land on a node group the plan creates, "
        "one pod fits one node of it, and their CPU and memory at the scaler's maximum fit the group(s) at maxSize; "
        "otherwise queued objects wait for pods that stay Pending."
    ),
    remediation=(
        "Lower preprocessing.functions[].max_replicas or memory_mb, or run the worker on other capacity "
        "(preprocessing.functions[].worker.capacity: spot | system; raise cluster.system_node_group.max_size)."
    ),
    severity="high",
    resource_types=(NODE_GROUP, DEPLOYMENT, SCALED_OBJECT),
)
def worker_capacity(context: CheckContext) -> Iterator[Finding]:
    """Place each worker Deployment on the node groups it may use; compare its demand at the scaler's maximum."""
    groups = _all_groups(context)
    maxima = {}
    for scaled in context.resources(SCALED_OBJECT):
        inputs = scaled.inputs
        target = ((inputs.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
        maxima[((inputs.get("metadata") or {}).get("namespace"), target)] = int(
            (inputs.get("spec") or {}).get("maxReplicaCount", 100)
        )
    functions = (context.config("preprocessing") or {}).get("functions") or []
    for record in context.resources(DEPLOYMENT):
        inputs = record.inputs
        meta, spec = inputs.get("metadata") or {}, inputs.get("spec") or {}
        if (meta.get("labels") or {}).get("app.kubernetes.io/component") != WORKER_COMPONENT:
            continue
        name = str(meta.get("name"))
        index = next((i for i, f in enumerate(functions) if isinstance(f, Mapping) and f.get("name") == name), "")
        entry = f"preprocessing.functions[{index}]"
        pod_spec = (spec.get("template") or {}).get("spec") or {}
        _, cpu, memory = _requests(pod_spec)
        allowed = [g for g in groups if may_land_on(pod_spec, g)]
        if not allowed:
            yield Finding(
                f"preprocessing worker {name} may land on no node group (groups: "
                f"{', '.join(g.name for g in groups) or 'none'}): its nodeSelector or tolerations match none",
                field=f"{entry}.worker.capacity",
                resource=record,
            )
            continue
        nodes = [(g, node_allocatable(t)) for g in allowed for t in g.instance_types if _known(t)]
        if not any(cpu <= c and memory <= m for _, (c, m, _) in nodes):
            yield Finding(
                f"preprocessing worker {name} requests {cpu}m CPU and {memory:g} MiB per pod, more than one node of "
                f"{', '.join(sorted({t for g in allowed for t in g.instance_types}))} offers after its reserved share",
                field=f"{entry}.memory_mb",
                resource=record,
            )
            continue
        pods = maxima.get((meta.get("namespace"), name), 1)
        # A group's smallest instance type at maxSize is what it can be sure to offer.
        known = [(g, [node_allocatable(t) for t in g.instance_types if _known(t)]) for g in allowed]
        supply_cpu = sum(g.max_size * min(n[0] for n in shapes) for g, shapes in known if shapes)
        supply_memory = sum(g.max_size * min(n[1] for n in shapes) for g, shapes in known if shapes)
        if pods * cpu > supply_cpu or pods * memory > supply_memory:
            yield Finding(
                f"preprocessing worker {name} at its maximum of {pods} pods needs {pods * cpu}m CPU and "
                f"{pods * memory:g} MiB; node group(s) {', '.join(g.name for g in allowed)} offer at most "
                f"{supply_cpu}m and {supply_memory:g} MiB at maxSize",
                field=f"{entry}.max_replicas",
                resource=record,
            )


def _known(instance_type: str) -> bool:
    try:
        node_allocatable(instance_type)
    except UnknownInstanceTypeError:
        return False
    return True
