"""Architecture diagram of a plan (or of a diff) as a Mermaid flowchart.

The diagram is built from the plan's dependency data, not from resource names:

- **nodes** are the resources a reviewer reasons about: triggers (EventBridge rules, schedules),
  queues, functions, buckets, repositories, the cluster, node groups and workloads
  (Deployments, Jobs, Helm releases);
- **configuration resources are collapsed** into the node they configure, found through the
  property that names it (bucket versioning/encryption/policy → ``bucket``; queue policies →
  ``queueUrl``; subnets → ``vpcId``; ...); IAM roles and launch templates fold into the node
  that uses them (``role``, ``nodeRoleArn``, ``launchTemplate``);
- **connector resources become edges**: an event target joins its ``rule`` to its ``arn``, an
  event source mapping joins ``eventSourceArn`` to ``functionName``, a Lambda permission joins
  ``sourceArn`` to ``function``, a role policy joins the role's user to every resource its
  ``policy`` names (dotted, labelled ``iam``);
- every other property dependency (and explicit ``depends_on``) between two shown nodes is an
  edge from the dependency to the dependent, except data-flow properties that point the other
  way (a function's ``environment`` → the buckets it writes, a queue's ``redrivePolicy`` → its DLQ);
- nodes are grouped in subgraphs by their top-level ComponentResource.

For a diff, the union of both plans is drawn and nodes get the classes ``added``, ``changed``,
``replaced`` or ``removed`` (a node is changed when any resource collapsed into it changed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .plandoc import PlanDocument, Resource

HIDDEN_TYPES = (
    "pulumi:",
    "aws:cloudwatch/logGroup:",
    "aws:cloudwatch/metricAlarm:",
    "aws:budgets/",
    "aws:kms/",
    "aws:sns/",
    "aws:ec2/eip:",
)
"""Cross-cutting resources that would connect to everything (keys, alarms, topics)."""

COLLAPSE_INTO: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket": ("bucket",),
    "aws:sqs/queuePolicy:": ("queueUrl",),
    "aws:sqs/redriveAllowPolicy:": ("queueUrl",),
    "aws:lambda/functionEventInvokeConfig:": ("functionName",),
    "aws:ecr/lifecyclePolicy:": ("repository",),
    "aws:ecr/repositoryPolicy:": ("repository",),
    "aws:eks/addon:": ("clusterName",),
    "aws:eks/accessEntry:": ("clusterName",),
    "aws:eks/accessPolicyAssociation:": ("clusterName",),
    "aws:eks/podIdentityAssociation:": ("clusterName",),
    "aws:iam/openIdConnectProvider:": ("url",),
    "aws:ec2/subnet:": ("vpcId",),
    "aws:ec2/routeTable:": ("vpcId",),
    "aws:ec2/route:": ("routeTableId",),
    "aws:ec2/routeTableAssociation:": ("routeTableId", "subnetId"),
    "aws:ec2/internetGateway:": ("vpcId",),
    "aws:ec2/natGateway:": ("subnetId",),
    "aws:ec2/securityGroup:": ("vpcId",),
    "aws:ec2/securityGroupRule:": ("securityGroupId",),
    "aws:vpc/securityGroupIngressRule:": ("securityGroupId",),
    "aws:vpc/securityGroupEgressRule:": ("securityGroupId",),
    "aws:ec2/vpcEndpoint:": ("vpcId",),
    "aws:ec2/flowLog:": ("vpcId",),
}
"""Type prefix → properties naming the node the resource configures (first match wins).
``aws:s3/bucket`` matches every bucket sub-resource; the bucket itself is kept (it has no such property)."""

USED_BY: dict[str, tuple[tuple[str, str], ...]] = {
    "aws:iam/role:": (
        ("aws:lambda/function:", "role"),
        ("aws:eks/nodeGroup:", "nodeRoleArn"),
        ("aws:eks/cluster:", "roleArn"),
        ("aws:eks/podIdentityAssociation:", "roleArn"),
    ),
    "aws:ec2/launchTemplate:": (("aws:eks/nodeGroup:", "launchTemplate"),),
}
"""Types folded into the resource that uses them: (user type prefix, user property)."""

CONNECTORS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "aws:cloudwatch/eventTarget:": (("rule",), ("arn",), ""),
    "aws:lambda/eventSourceMapping:": (("eventSourceArn",), ("functionName",), ""),
    "aws:lambda/permission:": (("sourceArn",), ("function",), ""),
    "aws:s3/bucketNotification:": (("bucket",), ("lambdaFunctions", "queues", "topics"), ""),
    "aws:iam/rolePolicy:": (("role",), ("policy",), "iam"),
    "aws:iam/rolePolicyAttachment:": (("role",), ("policyArn",), "iam"),
}
"""Types drawn as edges: (source properties, target properties, edge label)."""

REVERSED: tuple[tuple[str, str], ...] = (
    ("aws:lambda/function:", "environment"),
    ("aws:sqs/queue:", "redrivePolicy"),
    ("aws:scheduler/schedule:", "target"),
    ("aws:lambda/functionEventInvokeConfig:", "destinationConfig"),
    ("aws:s3/bucketLogging:", "targetBucket"),
)
"""(type prefix, property): the dependent sends data to the dependency (edge points at it)."""

SHOWN_KUBERNETES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:helm.sh/v3:Release",
    "kubernetes:helm.sh/v4:Chart",
)
"""Kubernetes workloads drawn as nodes; other Kubernetes objects fold into a workload of the same
component (Service, autoscaler, disruption budget, ...) or are left out when there is none."""

SHAPES: tuple[tuple[str, str, str, str], ...] = (
    ("aws:s3/bucket:Bucket", "S3 bucket", "[(", ")]"),
    ("aws:sqs/queue:Queue", "SQS queue", "[[", "]]"),
    ("aws:lambda/function:Function", "Lambda", "([", "])"),
    ("aws:cloudwatch/eventRule:EventRule", "EventBridge rule", "{{", "}}"),
    ("aws:scheduler/schedule:Schedule", "EventBridge schedule", "{{", "}}"),
    ("aws:eks/cluster:Cluster", "EKS cluster", "[", "]"),
    ("aws:eks/nodeGroup:NodeGroup", "node group", "[/", "/]"),
    ("aws:ecr/repository:Repository", "ECR repository", "[(", ")]"),
    ("aws:ec2/vpc:Vpc", "VPC", "[", "]"),
    ("kubernetes:apps/v1:Deployment", "Deployment", "[\\", "/]"),
    ("kubernetes:batch/v1:Job", "Job", "[\\", "/]"),
    ("kubernetes:batch/v1:CronJob", "CronJob", "[\\", "/]"),
    ("kubernetes:helm.sh/v3:Release", "Helm release", "[", "]"),
)

CLASS_DEFS = {
    "added": "fill:#e6ffec,stroke:#1a7f37,stroke-width:2px",
    "changed": "fill:#fff8c5,stroke:#9a6700,stroke-width:2px",
    "replaced": "fill:#fbefff,stroke:#8250df,stroke-width:2px",
    "removed": "fill:#ffebe9,stroke:#cf222e,stroke-width:2px,stroke-dasharray:4 3",
}


@dataclass
class Graph:
    """Nodes (URN → label), membership (member URN → node URN), edges and subgraphs."""

    nodes: dict[str, str] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    groups: dict[str, str] = field(default_factory=dict)
    """node URN → top-level component label (absent: outside any component)."""
    types: dict[str, str] = field(default_factory=dict)


def _starts(type_token: str, prefixes: Iterable[str]) -> bool:
    return any(type_token.startswith(p) for p in prefixes)


def _kind(type_token: str) -> tuple[str, str, str]:
    for token, label, opening, closing in SHAPES:
        if type_token == token:
            return label, opening, closing
    return type_token.split(":")[-1], "[", "]"


def _top_component(resource: Resource, by_urn: dict[str, Resource]) -> str | None:
    label = None
    urn = resource.parent
    while urn and urn in by_urn:
        parent = by_urn[urn]
        if parent.is_component:
            label = f"{parent.name} ({parent.type.split(':')[-1]})"
        urn = parent.parent
    return label


def build_graph(document: PlanDocument | Mapping[str, Any]) -> Graph:
    """The collapsed resource graph of one plan document."""
    document = PlanDocument.coerce(document)
    resources = [r for r in document.resources if r.custom]
    by_urn = {r.urn: r for r in document.resources}
    graph = Graph()
    deps = {r.urn: r.property_dependencies or {} for r in resources}

    def prop_targets(urn: str, props: Iterable[str]) -> list[str]:
        out: list[str] = []
        for prop in props:
            out.extend(deps.get(urn, {}).get(prop, []))
        return out

    # 1. owner of each resource: itself (node), another node (collapsed), or none (hidden/connector)
    parent_of: dict[str, str] = {}
    for r in resources:
        t = r.type
        if _starts(t, HIDDEN_TYPES) or _starts(t, CONNECTORS):
            continue
        collapse = next((props for prefix, props in COLLAPSE_INTO.items() if t.startswith(prefix)), None)
        if collapse and t != "aws:s3/bucket:Bucket":
            targets = prop_targets(r.urn, collapse)
            if targets:
                parent_of[r.urn] = targets[0]
            continue
        used_by = next((users for prefix, users in USED_BY.items() if t.startswith(prefix)), None)
        if used_by is not None:
            users = sorted(
                u.urn
                for u in resources
                for user_type, prop in used_by
                if u.type.startswith(user_type) and r.urn in deps[u.urn].get(prop, [])
            )
            if users:
                parent_of[r.urn] = users[0]
            continue
        if t.startswith("kubernetes:") and t not in SHOWN_KUBERNETES:
            workloads = sorted(w.urn for w in resources if w.type in SHOWN_KUBERNETES and w.parent == r.parent)
            if workloads:
                parent_of[r.urn] = workloads[0]
            continue
        graph.nodes[r.urn] = r.name
        graph.types[r.urn] = t
        group = _top_component(r, by_urn)
        if group:
            graph.groups[r.urn] = group

    def owner(urn: str, seen: frozenset[str] = frozenset()) -> str | None:
        if urn in graph.nodes:
            return urn
        if urn in parent_of and urn not in seen:
            return owner(parent_of[urn], seen | {urn})
        return None

    for r in resources:
        node = owner(r.urn)
        if node:
            graph.members[r.urn] = node

    def add(source: str | None, target: str | None, label: str = "") -> None:
        if source and target and source != target:
            graph.edges.add((source, target, label))

    # 2. edges
    for r in resources:
        t, urn = r.type, r.urn
        connector = next((spec for prefix, spec in CONNECTORS.items() if t.startswith(prefix)), None)
        if connector:
            source_props, target_props, label = connector
            for s in prop_targets(urn, source_props):
                for d in prop_targets(urn, target_props):
                    add(owner(s), owner(d), label)
            continue
        me = graph.members.get(urn)
        if not me:
            continue
        for prop, urns in sorted(deps[urn].items()):
            reverse = any(t.startswith(p) and prop == q for p, q in REVERSED)
            for dep in urns:
                if reverse:
                    add(me, owner(dep))
                else:
                    add(owner(dep), me)
        for dep in (r.options or {}).get("depends_on") or []:
            dep_type = by_urn[dep].type if dep in by_urn else ""
            if not _starts(dep_type, CONNECTORS):
                add(owner(dep), me)
    plain = {(s, t) for s, t, label in graph.edges if not label}
    graph.edges = {
        (s, t, label) for s, t, label in graph.edges if not label or ((s, t) not in plain and (t, s) not in plain)
    }
    return graph


def _ids(urns: Iterable[str], names: dict[str, str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    used: set[str] = set()
    for urn in sorted(urns):
        base = re.sub(r"[^A-Za-z0-9_]", "_", names[urn]) or "node"
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate)
        ids[urn] = candidate
    return ids


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def render_mermaid(
    base: PlanDocument | Mapping[str, Any] | None,
    head: PlanDocument | Mapping[str, Any],
    status: dict[str, str] | None = None,
    focus: bool = False,
) -> str:
    """A ``flowchart LR`` of ``head`` (union with ``base`` when given) with change classes.

    ``status`` maps resource URNs to ``added``/``changed``/``replaced``/``removed``. With
    ``focus``, only changed nodes and their direct neighbours are drawn (for large stacks).
    """
    graph = build_graph(head)
    if base is not None:
        old = build_graph(base)
        for urn, name in old.nodes.items():
            if urn not in graph.nodes:
                graph.nodes[urn] = name
                graph.types[urn] = old.types[urn]
                if urn in old.groups:
                    graph.groups[urn] = old.groups[urn]
        for member, member_node in old.members.items():
            graph.members.setdefault(member, member_node)
        graph.edges |= {e for e in old.edges if e[0] in graph.nodes and e[1] in graph.nodes}
    node_class: dict[str, str] = {}
    rank = {"removed": 4, "added": 3, "replaced": 2, "changed": 1}
    for urn, state in sorted((status or {}).items()):
        node = graph.members.get(urn)
        if node is None:
            continue
        if node != urn and state in ("added", "removed"):
            state = "changed"  # a collapsed member appearing/disappearing changes its node
        if rank[state] > rank.get(node_class.get(node, ""), 0):
            node_class[node] = state
    if focus:
        keep = set(node_class)
        keep |= {t for s, t, _ in graph.edges if s in node_class} | {s for s, t, _ in graph.edges if t in node_class}
        graph.nodes = {u: n for u, n in graph.nodes.items() if u in keep}
        graph.edges = {e for e in graph.edges if e[0] in keep and e[1] in keep}
    ids = _ids(graph.nodes, graph.nodes)
    lines = ["flowchart LR"]
    grouped: dict[str | None, list[str]] = {}
    for urn in graph.nodes:
        grouped.setdefault(graph.groups.get(urn), []).append(urn)

    def node_line(urn: str) -> str:
        kind, opening, closing = _kind(graph.types[urn])
        return f'{ids[urn]}{opening}"{_label(graph.nodes[urn])}<br/><small>{_label(kind)}</small>"{closing}'

    for index, group in enumerate(sorted(grouped, key=lambda g: (g is not None, g or ""))):
        members = sorted(grouped[group], key=lambda u: ids[u])
        if group is None:
            lines.extend(f"  {node_line(u)}" for u in members)
            continue
        lines.append(f'  subgraph g{index}["{_label(group)}"]')
        lines.extend(f"    {node_line(u)}" for u in members)
        lines.append("  end")
    for source, target, label in sorted(graph.edges, key=lambda e: (ids[e[0]], ids[e[1]], e[2])):
        arrow = f"-.->|{label}|" if label else "-->"
        lines.append(f"  {ids[source]} {arrow} {ids[target]}")
    if node_class:
        for name, style in CLASS_DEFS.items():
            if name in node_class.values():
                lines.append(f"  classDef {name} {style}")
        for state in CLASS_DEFS:
            chosen = sorted(ids[u] for u, s in node_class.items() if s == state)
            if chosen:
                lines.append(f"  class {','.join(chosen)} {state}")
    return "\n".join(lines) + "\n"


def diff_status(changes: Iterable[Any]) -> dict[str, str]:
    """URN → diagram class for :class:`hybrid_ai_platform.cli.diff.ResourceChange` objects."""
    mapping = {"create": "added", "delete": "removed", "update": "changed", "replace": "replaced"}
    return {c.urn: mapping[c.action] for c in changes}
