"""Pod specs of every pod-bearing object the plan can create, and the Pod Security Standards helpers.

The Kubernetes Pod Security Standards (https://kubernetes.io/docs/concepts/security/pod-security-standards/)
judge a pod spec: its pod-level ``securityContext`` and every container of ``containers``,
``initContainers`` and ``ephemeralContainers``. The plan holds pod specs at three nestings: a Pod's
``spec``, a controller's ``spec.template.spec`` and a CronJob's ``spec.jobTemplate.spec.template.spec``.

Helm releases: the plan shows a release's ``values``, not the manifests the chart renders from them.
For the charts in :data:`HELM_CHARTS` the values name the pod and container security contexts, so the
security-context controls are judged from them; anything else a chart renders (volumes, host
namespaces, ports, probes) is not visible in the plan and is *not applicable* with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hybrid_ai_platform.policies.props import get
from pulumi_policy import ResourceValidationArgs

POD_SPEC_PATHS = {
    "kubernetes:apps/v1:Deployment": "spec.template",
    "kubernetes:apps/v1:StatefulSet": "spec.template",
    "kubernetes:apps/v1:DaemonSet": "spec.template",
    "kubernetes:apps/v1:ReplicaSet": "spec.template",
    "kubernetes:batch/v1:Job": "spec.template",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template",
    "kubernetes:core/v1:Pod": "",
    "kubernetes:core/v1:ReplicationController": "spec.template",
    "kubernetes:core/v1:PodTemplate": "template",
}
"""Workload types and where their pod template (``metadata`` + ``spec``) is; ``""``: the object is the pod."""

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
"""A Helm release: judged from its values for the charts of :data:`HELM_CHARTS`."""

HELM_CHARTS: dict[str, tuple[str, str]] = {
    # chart name -> (values path of the pod securityContext, values path of the container securityContext)
    # kubernetes/autoscaler charts/cluster-autoscaler values.yaml: `securityContext` (pod),
    # `containerSecurityContext` (the one container).
    "cluster-autoscaler": ("securityContext", "containerSecurityContext"),
}
"""Charts whose values show the security contexts of the pods they render."""

WORKLOAD_TYPES = tuple(POD_SPEC_PATHS)
PSS_TYPES = (*WORKLOAD_TYPES, HELM_RELEASE)
"""What the Pod Security Standards policies judge."""

CONTAINER_LISTS = (
    ("initContainers", "init container"),
    ("containers", "container"),
    ("ephemeralContainers", "ephemeral container"),
)


@dataclass(frozen=True)
class PodView:
    """One pod spec as the plan shows it."""

    spec: dict[str, Any]
    metadata: dict[str, Any]
    partial: str | None = None
    """Why only the security contexts are visible (a Helm release), else ``None``."""

    @property
    def security_context(self) -> dict[str, Any]:
        """The pod-level securityContext (empty when unset)."""
        value = self.spec.get("securityContext")
        return value if isinstance(value, dict) else {}

    @property
    def windows(self) -> bool:
        """``spec.os.name == windows`` (the restricted profile exempts such pods from some Linux controls)."""
        return str((self.spec.get("os") or {}).get("name", "")).lower() == "windows"

    def containers(self) -> list[tuple[str, dict[str, Any]]]:
        """``(label, container)`` for init, regular and ephemeral containers."""
        found = []
        for key, kind in CONTAINER_LISTS:
            for container in self.spec.get(key) or []:
                if isinstance(container, dict):
                    found.append((f"{kind} '{container.get('name', '?')}'", container))
        return found

    def volumes(self) -> list[dict[str, Any]]:
        """The pod's volumes."""
        return [v for v in self.spec.get("volumes") or [] if isinstance(v, dict)]


def container_context(container: Mapping[str, Any]) -> dict[str, Any]:
    """A container's securityContext (empty when unset)."""
    value = container.get("securityContext")
    return value if isinstance(value, dict) else {}


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload (empty when absent)."""
    path = POD_SPEC_PATHS[resource_type]
    spec = get(props, f"{path}.spec" if path else "spec") or {}
    return spec if isinstance(spec, dict) else {}


def pod_view(args: ResourceValidationArgs, needs_full_spec: bool) -> PodView:
    """The pod spec the resource creates; not applicable when the plan does not show what the control judges.

    ``needs_full_spec``: the control reads more than the security contexts (volumes, host
    namespaces, ports, probes), which a Helm release's values do not show.
    """
    if args.resource_type == HELM_RELEASE:
        chart = str(get(args.props, "chart") or "")
        chart_name = chart.rsplit("/", 1)[-1]
        if chart_name not in HELM_CHARTS:
            args.not_applicable(
                f"Helm chart '{chart}': the plan shows its values, not the pod spec it renders; "
                "judge the rendered manifests (helm template) instead"
            )
        if needs_full_spec:
            args.not_applicable(
                f"Helm chart '{chart}': only the security contexts are visible in its values, not the rest "
                "of the pod spec this control judges"
            )
        pod_path, container_path = HELM_CHARTS[chart_name]
        values = get(args.props, "values") or {}
        spec: dict[str, Any] = {"containers": [{"name": chart_name}]}
        if isinstance(get(values, pod_path), dict):
            spec["securityContext"] = get(values, pod_path)
        if isinstance(get(values, container_path), dict):
            spec["containers"][0]["securityContext"] = get(values, container_path)
        return PodView(spec, {}, partial=f"values of Helm chart '{chart_name}'")
    path = POD_SPEC_PATHS[args.resource_type]
    spec = get(args.props, f"{path}.spec" if path else "spec") or {}
    metadata = get(args.props, f"{path}.metadata" if path else "metadata") or {}
    return PodView(spec if isinstance(spec, dict) else {}, metadata if isinstance(metadata, dict) else {})


def containers(spec: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(kind/name, container)`` for init, regular and ephemeral containers."""
    return PodView(dict(spec), {}).containers()


def effective(pod: PodView, container: Mapping[str, Any], field: str) -> Any:
    """A container's setting with the pod's as fallback (container-level wins, as the kubelet applies them)."""
    own = container_context(container).get(field)
    return own if own is not None else pod.security_context.get(field)


PodCheck = Callable[[PodView, Callable[[str], None]], None]


def pss_check(
    needs_full_spec: bool, judge: PodCheck
) -> Callable[[ResourceValidationArgs, Mapping[str, Any], Callable[[str], None]], None]:
    """A resource check that runs ``judge(pod, report)`` with messages prefixed by the resource name."""

    def check(args: ResourceValidationArgs, config: Mapping[str, Any], report: Callable[[str], None]) -> None:
        pod = pod_view(args, needs_full_spec)
        judge(pod, lambda message: report(f"'{args.name}': {message}"))

    return check
