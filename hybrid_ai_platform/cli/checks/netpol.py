"""A small evaluator of Kubernetes ``networking.k8s.io/v1`` NetworkPolicy semantics.

No maintained Python library evaluates NetworkPolicies offline (PyPI has generators and
visualisers, e.g. ``kube-netpol``, not an evaluator of "may A reach B on port P"), so this module
implements the rules of https://kubernetes.io/docs/concepts/services-networking/network-policies/:

* A policy selects the pods of its namespace that match its ``podSelector`` (``{}``: all of them).
* ``policyTypes`` defaults to ``["Ingress"]``, plus ``"Egress"`` when the policy has an ``egress``
  section. A pod selected by at least one policy of a type is *isolated* for that direction; an
  isolated pod admits only what at least one of those policies' rules allows (policies are
  additive: there is no deny rule). A pod no policy selects is not isolated.
* A rule admits a connection when one of its peers matches (no ``from``/``to``, or an empty list:
  every peer) and one of its ports matches (no ``ports``: every port). A port entry matches the
  protocol (default TCP) and the port: a number (with ``endPort``, a range) or a name resolved
  against the destination pod's container ports.
* A peer with only ``podSelector`` selects pods of the policy's own namespace; with only
  ``namespaceSelector``, every pod of the matching namespaces; with both *in the same element*,
  pods matching the pod selector in matching namespaces (AND). Separate elements are OR.
  ``ipBlock`` (CIDR minus ``except``) matches addresses outside the pod network (the node-local
  Pod Identity agent, say); it is not matched against pod IPs, which the plan does not know and
  which the Kubernetes documentation leaves to the implementation.
* A label selector is ``matchLabels`` AND ``matchExpressions`` (``In``, ``NotIn``, ``Exists``,
  ``DoesNotExist``); a namespace always carries ``kubernetes.io/metadata.name: <name>``.

A connection is allowed when the source's egress allows it and the destination's ingress admits it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection: a pod (namespace, its labels, pod labels, named ports) or an IP."""

    namespace: str | None = None
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    named_ports: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    """Container port name -> (number, protocol), for a destination pod."""
    ip: str | None = None

    @property
    def is_pod(self) -> bool:
        """Whether this end is a pod (else an address outside the pod network)."""
        return self.namespace is not None

    def all_namespace_labels(self) -> dict[str, str]:
        """The namespace's labels including the automatic ``kubernetes.io/metadata.name``."""
        return {**self.namespace_labels, NAMESPACE_NAME_LABEL: str(self.namespace)}


def pod(
    namespace: str,
    labels: Mapping[str, str] | None = None,
    namespace_labels: Mapping[str, str] | None = None,
    named_ports: Mapping[str, tuple[int, str]] | None = None,
) -> Endpoint:
    """A pod endpoint."""
    return Endpoint(namespace, dict(labels or {}), dict(namespace_labels or {}), dict(named_ports or {}))


def address(ip: str) -> Endpoint:
    """An IP endpoint outside the pod network."""
    return Endpoint(ip=ip)


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector matches ``labels`` (``{}`` matches everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def policy_types(spec: Mapping[str, Any]) -> set[str]:
    """The policy's ``policyTypes``, with the API's default when it is unset."""
    types = spec.get("policyTypes")
    if types:
        return set(types)
    return {"Ingress", "Egress"} if "egress" in spec else {"Ingress"}


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if other.is_pod or other.ip is None:
            return False
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(other.ip)
        if ip not in ipaddress.ip_network(block.get("cidr"), strict=False):
            return False
        return not any(ip in ipaddress.ip_network(e, strict=False) for e in block.get("except") or [])
    if not other.is_pod:
        return False
    has_ns, has_pod = "namespaceSelector" in peer, "podSelector" in peer
    if has_ns:
        if not selector_matches(peer.get("namespaceSelector"), other.all_namespace_labels()):
            return False
    elif other.namespace != policy_namespace:
        return False
    return not has_pod or selector_matches(peer.get("podSelector"), other.pod_labels)


def _port_matches(entry: Mapping[str, Any], port: int, protocol: str, destination: Endpoint) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str) and not wanted.isdigit():
        named = destination.named_ports.get(wanted)
        return named is not None and named == (port, protocol)
    low = int(wanted)
    high = int(entry.get("endPort") or low)
    return low <= port <= high


def _rule_admits(
    rule: Mapping[str, Any], peers_key: str, policy_namespace: str, other: Endpoint, port: int, protocol: str,
    destination: Endpoint,
) -> bool:  # fmt: skip
    peers = rule.get(peers_key)
    if peers and not any(_peer_matches(p, policy_namespace, other) for p in peers):
        return False
    ports = rule.get("ports")
    return not ports or any(_port_matches(p, port, protocol, destination) for p in ports)


@dataclass(frozen=True)
class Policy:
    """A NetworkPolicy: its namespace and spec."""

    namespace: str
    spec: Mapping[str, Any]

    def selects(self, endpoint: Endpoint) -> bool:
        """Whether the policy applies to the pod ``endpoint``."""
        return (
            endpoint.is_pod
            and endpoint.namespace == self.namespace
            and selector_matches(self.spec.get("podSelector"), endpoint.pod_labels)
        )


def _direction_allows(
    policies: Sequence[Policy], direction: str, subject: Endpoint, other: Endpoint, port: int, protocol: str,
    destination: Endpoint,
) -> bool:  # fmt: skip
    applicable = [p for p in policies if p.selects(subject) and direction in policy_types(p.spec)]
    if not applicable:
        return True  # not isolated in this direction
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(
        _rule_admits(rule, peers_key, policy.namespace, other, port, protocol, destination)
        for policy in applicable
        for rule in policy.spec.get(rules_key) or []
    )


def allowed(policies: Iterable[Policy], source: Endpoint, destination: Endpoint, port: int, protocol: str) -> bool:
    """Whether ``source`` may open a connection to ``destination`` on ``port``/``protocol``."""
    policies = list(policies)
    egress = not source.is_pod or _direction_allows(
        policies, "Egress", source, destination, port, protocol, destination
    )
    ingress = not destination.is_pod or _direction_allows(
        policies, "Ingress", destination, source, port, protocol, destination
    )
    return egress and ingress
