"""Kubernetes access to an EKS cluster: an exec-credential kubeconfig and shared pod settings.

The kubeconfig holds no credential: ``kubectl`` and the Pulumi Kubernetes provider run
``aws eks get-token`` for every session, as the caller's AWS identity, so the AWS CLI must be
on the ``PATH`` of whoever runs ``pulumi up``, and that identity needs an EKS access entry
(``cluster.admin_role_arns``). The document is still exported as a secret: it names the
cluster's endpoint and CA.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from hybrid_ai_platform.contracts import (
    EMF_AGENT_PORT,
    GPU_PRESENT_LABEL,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    POD_IDENTITY_AGENT_PORT,
)

PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
"""Excluded from the HTTPS egress rule: pods reach AWS public endpoints (S3 through the gateway
endpoint, STS), never in-VPC or link-local addresses on 443."""
POD_IDENTITY_AGENT = "169.254.170.23/32"
"""The EKS Pod Identity agent (a host-network DaemonSet) that serves credentials on
:data:`~hybrid_ai_platform.contracts.POD_IDENTITY_AGENT_PORT`."""
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
"""The exec-credential API version ``aws eks get-token`` answers with."""

NON_ROOT_UID = 10001
"""UID and GID the inference image runs as (``USER 10001:10001`` in container_src/Dockerfile)."""


def kubeconfig_document(cluster_name: str, endpoint: str, ca_data: str, region: str) -> dict[str, Any]:
    """The kubeconfig of one EKS cluster as a mapping; users authenticate with
    ``aws eks get-token --cluster-name <name> --region <region>``."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [
            {
                "name": cluster_name,
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API_VERSION,
                        "command": "aws",
                        "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }


def kubeconfig(
    cluster_name: pulumi.Input[str], endpoint: pulumi.Input[str], ca_data: pulumi.Input[str], region: str
) -> pulumi.Output[str]:
    """:func:`kubeconfig_document` rendered as JSON (valid YAML) once the cluster exists, marked secret."""

    def render(values: list[Any]) -> str:
        name, server, ca = values
        return json.dumps(kubeconfig_document(name, server, ca, region), sort_keys=True)

    return pulumi.Output.secret(pulumi.Output.all(cluster_name, endpoint, ca_data).apply(render))


def restricted_pod_security_context() -> dict[str, Any]:
    """Pod-level security context meeting the ``restricted`` Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": NON_ROOT_UID,
        "runAsGroup": NON_ROOT_UID,
        "fsGroup": NON_ROOT_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security_context() -> dict[str, Any]:
    """Container-level security context meeting the ``restricted`` Pod Security Standard,
    with a read-only root filesystem."""
    return {
        "runAsNonRoot": True,
        "runAsUser": NON_ROOT_UID,
        "runAsGroup": NON_ROOT_UID,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def gpu_scheduling() -> dict[str, Any]:
    """Pod-spec fields that put a pod on GPU nodes: the taint toleration and the node selector."""
    return {
        "tolerations": [
            {"key": GPU_TAINT_KEY, "operator": "Equal", "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}
        ],
        "nodeSelector": {GPU_PRESENT_LABEL: "true"},
    }


def restricted_namespace(
    name: str, namespace: str, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Namespace:
    """``<name>-namespace``: the namespace ``namespace`` enforcing, auditing and warning on the ``restricted`` Pod
    Security Standard at the cluster's latest version, with ``labels``."""
    restricted = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    return k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata={
            "name": namespace,
            "labels": {**restricted, "pod-security.kubernetes.io/enforce-version": "latest", **labels},
        },
        opts=opts,
    )


def object_meta(
    name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> k8s.meta.v1.ObjectMetaArgsDict:
    """``metadata`` of a namespaced object with an explicit name (no auto-naming suffix)."""
    meta: k8s.meta.v1.ObjectMetaArgsDict = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def api_fields(value: dict[str, Any]) -> Any:
    """Hand over an object fragment written with the Kubernetes API's own camelCase field names.

    The SDK's ``*ArgsDict`` types spell fields in snake_case and translate them; fragments here
    use the API's names, which the provider receives unchanged (what ``kubectl`` would show),
    so they are passed untyped rather than cast to a TypedDict whose keys they do not use.
    """
    return value


def default_deny_and_aws_egress(
    name: str, namespace: str, node_cidr: pulumi.Input[str] | None, opts: pulumi.ResourceOptions
) -> None:
    """``<name>-default-deny`` (no ingress, no egress) and ``<name>-allow-egress`` in ``namespace``: egress only to
    CoreDNS, the Pod Identity agent, the CloudWatch agent's EMF port on the nodes (when ``node_cidr`` is given)
    and public addresses on 443 (AWS APIs). The workload's own ingress rules are the caller's."""
    k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny",
        metadata={"name": "default-deny-all", "namespace": namespace},
        spec=api_fields({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        opts=opts,
    )
    # EMF metrics to the CloudWatch agent, a host-network DaemonSet: its Service resolves to node addresses, which
    # only an ipBlock admits (a namespaceSelector does not match host-network pods).
    emf = (
        [{"to": [{"ipBlock": {"cidr": node_cidr}}], "ports": [{"protocol": "TCP", "port": EMF_AGENT_PORT}]}]
        if node_cidr is not None
        else []
    )
    # DNS: the rule names CoreDNS's pods; the network policy controller also admits the kube-dns
    # Service's ClusterIP for them (https://github.com/aws/aws-network-policy-agent/issues/230).
    k8s.networking.v1.NetworkPolicy(
        f"{name}-allow-egress",
        metadata={"name": "allow-dns-aws-apis", "namespace": namespace},
        spec=api_fields(
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    },
                    {
                        "to": [{"ipBlock": {"cidr": POD_IDENTITY_AGENT}}],
                        "ports": [{"protocol": "TCP", "port": POD_IDENTITY_AGENT_PORT}],
                    },
                    *emf,
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_RANGES)}}],
                        "ports": [{"protocol": "TCP", "port": 443}],
                    },
                ],
            }
        ),
        opts=opts,
    )
