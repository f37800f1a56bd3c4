"""NvidiaDevicePlugin: the NVIDIA Kubernetes device plugin (Helm chart), on GPU nodes only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from hybrid_ai_platform.contracts import DEVICE_PLUGIN_LABEL, GPU_PRESENT_LABEL, GPU_TAINT_EFFECT, GPU_TAINT_KEY

from . import validation as check

CHART = "nvidia-device-plugin"
CHART_REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"
CHART_VERSION = "0.17.1"
"""Pinned chart (and plugin) version."""
NAMESPACE = "nvidia-device-plugin"


@dataclass(frozen=True)
class NvidiaDevicePluginArgs:
    """Inputs of :class:`NvidiaDevicePlugin`."""

    provider: k8s.Provider
    """Provider of the cluster. Required."""
    chart_version: str = CHART_VERSION
    """Chart version. Defaults to :data:`CHART_VERSION`."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the release waits for (the nodes it runs on). Defaults to none."""
    namespace: str = NAMESPACE
    """Namespace, created by the release. Defaults to ``nvidia-device-plugin``."""

    def __post_init__(self) -> None:
        check.check_pattern(self, "chart_version", self.chart_version, r"\d+\.\d+\.\d+", "a chart version (0.17.0)")
        check.check_pattern(
            self, "namespace", self.namespace, r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a Kubernetes namespace name"
        )


class NvidiaDevicePlugin(pulumi.ComponentResource):
    """A DaemonSet advertising ``nvidia.com/gpu`` on every AL2023 GPU node.

    It tolerates the GPU taint and requires the nodes to be labelled
    ``nvidia.com/gpu.present=true`` and ``hybrid-ai/gpu-device-plugin=helm``, so it never runs
    on CPU nodes nor on Bottlerocket GPU nodes, whose OS runs its own device plugin.

    Example::

        NvidiaDevicePlugin("nvidia-device-plugin", NvidiaDevicePluginArgs(provider=cluster.provider))
    """

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: NvidiaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hybrid-ai:compute:NvidiaDevicePlugin", name, None, opts)
        values = {
            "tolerations": [
                {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT},
                {"key": "CriticalAddonsOnly", "operator": "Exists"},
            ],
            "nodeSelector": {GPU_PRESENT_LABEL: "true"},
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": GPU_PRESENT_LABEL, "operator": "In", "values": ["true"]},
                                    {"key": DEVICE_PLUGIN_LABEL, "operator": "In", "values": ["helm"]},
                                ]
                            }
                        ]
                    }
                }
            },
            "priorityClassName": "system-node-critical",
        }
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name="nvidia-device-plugin",
            chart=CHART,
            version=args.chart_version,
            repository_opts={"repo": CHART_REPOSITORY},
            namespace=args.namespace,
            create_namespace=True,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"release": self.release.name, "namespace": args.namespace})
