"""Reachability: the NetworkPolicies the plan creates let each workload do its job, and no more
is needed to find out than the plan.

For every Deployment and CronJob pod in a namespace that has NetworkPolicies, the policies are
evaluated with Kubernetes semantics (:mod:`hybrid_ai_platform.cli.checks.netpol`) for the connections the
workload cannot run without:

* **DNS**: egress to CoreDNS (``kube-system`` pods labelled ``k8s-app: kube-dns``) on 53/UDP and
  53/TCP (a large answer falls back to TCP).
* **Pod Identity agent**: a pod whose service account has an ``aws:eks/podIdentityAssociation``
  gets its AWS credentials from the node-local agent at ``169.254.170.23`` on TCP 80
  (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html: "The agent uses the
  loopback (localhost) IP address 169.254.170.23 for IPv4"; the SDKs are pointed at
  ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` = ``http://169.254.170.23/v1/credentials``,
  https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html). The agent
  runs in the host network, so only an ``ipBlock`` names it, and a pod isolated for egress cannot
  reach it without one (https://github.com/cilium/cilium/issues/34387 shows the same drop under
  another policy engine; the VPC CNI's engine enforces egress per pod,
  https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy.html).
* **CloudWatch agent (EMF)**: a pod whose containers set ``AWS_EMF_AGENT_ENDPOINT`` sends its metrics
  to the agent of the ``amazon-cloudwatch-observability`` add-on, a host-network DaemonSet: the
  connection lands on a node address (in the plan's VPC CIDR) on the endpoint's port, which only an
  ``ipBlock`` admits
  (https://kubernetes.io/docs/concepts/services-networking/network-policies/#networkpolicy-and-hostnetwork-pods).
  Without it the model's metrics, its SLO alarms and its load-based scaling receive nothing. Judged
  when the plan creates the VPC (a brought VPC's CIDR is not in the plan).
* **Metrics scraper**: ingress to each serving pod's container ports from the scraper's namespace
  (``amazon-cloudwatch``, :data:`hybrid_ai_platform.components.inference_service.METRICS_SCRAPER_NAMESPACE`).
* **Clients**: ingress to the serving port from every namespace in the model's
  ``inference.models[].allowed_namespaces``; and each model admits at least one client namespace
  besides the scraper (a model nobody may call serves nothing).

Namespaces outside the plan (``kube-system``, the scraper's, client namespaces) are taken to have
no policies of their own; their pods are modelled with only the labels the rules rely on
(``kubernetes.io/metadata.name``, CoreDNS's ``k8s-app``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hybrid_ai_platform.components.inference_service import METRICS_SCRAPER_NAMESPACE
from hybrid_ai_platform.components.kubernetes import POD_IDENTITY_AGENT
from hybrid_ai_platform.contracts import POD_IDENTITY_AGENT_PORT

from ..plandoc import Resource
from . import CheckContext, Finding, check
from .netpol import Endpoint, Policy, address, allowed, pod

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRONJOB = "kubernetes:batch/v1:CronJob"
POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
COREDNS = pod("kube-system", {"k8s-app": "kube-dns"})
"""CoreDNS as the EKS add-on labels its pods."""
AGENT = address(POD_IDENTITY_AGENT.split("/")[0])
AGENT_PORT = POD_IDENTITY_AGENT_PORT
VPC = "aws:ec2/vpc:Vpc"
EMF_ENV = "AWS_EMF_AGENT_ENDPOINT"


@dataclass(frozen=True)
class Workload:
    """A pod template of the plan, as an endpoint."""

    record: Resource
    kind: str
    name: str
    namespace: str
    endpoint: Endpoint
    service_account: str | None
    ports: tuple[tuple[int, str], ...]
    emf_port: int | None = None
    """The port of the workload's ``AWS_EMF_AGENT_ENDPOINT`` (``tcp://host:port``), if it sets one."""


def _workloads(context: CheckContext, namespace_labels: Mapping[str, Mapping[str, str]]) -> Iterator[Workload]:
    for record in context.resources(DEPLOYMENT, CRONJOB):
        inputs = record.inputs
        meta, spec = inputs.get("metadata") or {}, inputs.get("spec") or {}
        if record.type == CRONJOB:
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        template = spec.get("template") or {}
        pod_spec = template.get("spec") or {}
        namespace = str(meta.get("namespace") or "default")
        named: dict[str, tuple[int, str]] = {}
        ports: list[tuple[int, str]] = []
        emf_port = None
        for container in pod_spec.get("containers") or []:
            for variable in container.get("env") or []:
                if variable.get("name") == EMF_ENV and ":" in str(variable.get("value") or ""):
                    emf_port = int(str(variable["value"]).rsplit(":", 1)[1])
            for port in container.get("ports") or []:
                entry = (int(port["containerPort"]), str(port.get("protocol", "TCP")))
                ports.append(entry)
                if port.get("name"):
                    named[str(port["name"])] = entry
        labels = (template.get("metadata") or {}).get("labels") or {}
        yield Workload(
            record=record,
            kind=str(inputs.get("kind")),
            name=str(meta.get("name")),
            namespace=namespace,
            endpoint=pod(namespace, labels, namespace_labels.get(namespace), named),
            service_account=pod_spec.get("serviceAccountName"),
            ports=tuple(ports),
            emf_port=emf_port,
        )


def _node(context: CheckContext) -> Endpoint | None:
    """A node address of the plan's VPC (nodes take addresses from its subnets), or None for a brought VPC."""
    for vpc in context.resources(VPC):
        cidr = vpc.inputs.get("cidrBlock")
        if isinstance(cidr, str):
            return address(str(ipaddress.ip_network(cidr)[10]))
    return None


def _model_index(context: CheckContext, namespace: str) -> tuple[int | None, Mapping[str, Any]]:
    """The ``inference.models`` entry whose namespace (its name) is ``namespace``."""
    for index, entry in enumerate((context.config("inference") or {}).get("models") or []):
        if isinstance(entry, Mapping) and entry.get("name") == namespace:
            return index, entry
    return None, {}


def _field(index: int | None, key: str) -> str:
    return f"inference.models[{index if index is not None else ''}].{key}"


@check(
    name="system-network-reachability",
    id="BP-SYS-008",
    description=(
        "The NetworkPolicies of each workload's namespace admit DNS, the Pod Identity agent, the CloudWatch agent "
        "(EMF), the metrics scraper "
        "and the declared client namespaces, and every model admits at least one client; otherwise pods cannot "
        "resolve names or get credentials, metrics go dark, or nobody can call the model."
    ),
    remediation=(
        "Add the missing allow rule to the namespace's policies (components/inference_service.py builds them), or "
        "list the calling namespaces in inference.models[].allowed_namespaces."
    ),
    severity="high",
    resource_types=(NETWORK_POLICY, DEPLOYMENT, CRONJOB),
)
def network_reachability(context: CheckContext) -> Iterator[Finding]:
    """Evaluate the planned policies for the connections each workload needs."""
    policies = [
        Policy(
            str(r.inputs.get("metadata", {}).get("namespace") or "default"),
            r.inputs.get("spec") or {},
        )
        for r in context.resources(NETWORK_POLICY)
    ]
    governed = {p.namespace for p in policies}
    namespace_labels = {
        str(r.inputs.get("metadata", {}).get("name")): r.inputs.get("metadata", {}).get("labels") or {}
        for r in context.resources(NAMESPACE)
    }
    identities = {
        (str(r.inputs.get("namespace")), str(r.inputs.get("serviceAccount")))
        for r in context.resources(POD_IDENTITY_ASSOCIATION)
    }
    node = _node(context)
    for workload in _workloads(context, namespace_labels):
        if workload.namespace not in governed:
            continue
        index, model = _model_index(context, workload.namespace)
        where = f"{workload.kind} {workload.namespace}/{workload.name}"
        dns = [proto for proto in ("UDP", "TCP") if not allowed(policies, workload.endpoint, COREDNS, 53, proto)]
        if dns:
            yield Finding(
                f"{where} may not reach cluster DNS (kube-system/kube-dns) on 53/{' and 53/'.join(dns)}",
                field=_field(index, "name"),
                resource=workload.record,
            )
        if (workload.namespace, str(workload.service_account)) in identities and not allowed(
            policies, workload.endpoint, AGENT, AGENT_PORT, "TCP"
        ):
            yield Finding(
                f"{where} uses Pod Identity (service account {workload.service_account}) but may not reach the "
                f"agent at {AGENT.ip}:{AGENT_PORT}/TCP, so it gets no AWS credentials",
                field=_field(index, "name"),
                resource=workload.record,
            )
        if (
            node is not None
            and workload.emf_port is not None
            and not allowed(policies, workload.endpoint, node, workload.emf_port, "TCP")
        ):
            yield Finding(
                f"{where} sends its metrics (EMF) to the CloudWatch agent, a host-network DaemonSet, but may not "
                f"reach a node address on {workload.emf_port}/TCP (a namespaceSelector does not match host-network "
                "pods; an ipBlock of the nodes' CIDR does)",
                field=_field(index, "name"),
                resource=workload.record,
            )
        if workload.kind != "Deployment" or not workload.ports:
            continue
        scraper = pod(METRICS_SCRAPER_NAMESPACE)
        for port, protocol in workload.ports:
            if not allowed(policies, scraper, workload.endpoint, port, protocol):
                yield Finding(
                    f"{where} does not admit the metrics scraper (namespace {METRICS_SCRAPER_NAMESPACE}) on "
                    f"{port}/{protocol}",
                    field=_field(index, "name"),
                    resource=workload.record,
                )
        declared = [str(n) for n in model.get("allowed_namespaces") or []]
        admitted = []
        for client in declared:
            denied = [
                f"{p}/{proto}"
                for p, proto in workload.ports
                if not allowed(policies, pod(client), workload.endpoint, p, proto)
            ]
            if denied:
                yield Finding(
                    f"{where} does not admit declared client namespace '{client}' on {', '.join(denied)}",
                    field=_field(index, "allowed_namespaces"),
                    resource=workload.record,
                )
            else:
                admitted.append(client)
        if index is not None and not admitted:
            yield Finding(
                f"{where} admits no client namespace (allowed_namespaces: {declared or 'none'}); only the metrics "
                "scraper may reach the model, so nothing can call it",
                field=_field(index, "allowed_namespaces"),
                resource=workload.record,
            )
