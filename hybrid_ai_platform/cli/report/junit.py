"""JUnit XML: one test case per policy (or system check) x resource it evaluates.

The pack reports only violations, so which resources a policy evaluated comes from its metadata:

1. ``resource_types`` of the policy's entry in the plan's ``policies`` section (the pack's
   ``Meta.resource_types``, sent as ``type:`` tags): every resource of those types is a case. An
   empty list means the policy judges the stack as a whole.
2. Fallback, only for plan documents written by a pack that does not declare ``resource_types``
   (the key is absent): the types of the resources it reported a violation for, together with the
   type its name announces (:data:`NAME_PREFIX_TYPES`: ``s3-…`` → S3 buckets, ``sqs-…`` → queues,
   ``eks-…`` → clusters, ...). This guess is coarse (``tags-…`` or ``iam-…`` policies judge far
   more types than their prefix says); it is kept so older plan documents still render.

A resource the policy reported a violation for is always a case, even when its type is not among
the evaluated ones, so no violation is lost. A policy with no case from either rule (stack-wide,
or no resource of its types in the plan), or with a stack-level violation, gets one case named
``(stack)``, so every policy of the pack appears once at least.

A case fails (``<failure type="mandatory|remediate">``) exactly when a violation for it blocks
(:func:`hybrid_ai_platform.cli.plandoc.is_blocking`: mandatory or remediate, not waived; all its
unwaived messages in the body), is skipped when every violation is waived by an exception, and
passes otherwise: a case with only advisory violations passes with them in its ``<system-out>``
(an advisory violation warns, it never fails a build). Stack-level violations are judged on the
``(stack)`` case the same way. Suites are per stack
(``blueprint.<stack>``); classnames are ``<stack>.<policy>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from ..plandoc import PlanDocument, Rule, Violation

NAME_PREFIX_TYPES: dict[str, tuple[str, ...]] = {
    "s3": ("aws:s3/bucket:Bucket",),
    "sqs": ("aws:sqs/queue:Queue",),
    "sns": ("aws:sns/topic:Topic",),
    "lambda": ("aws:lambda/function:Function",),
    "kms": ("aws:kms/key:Key",),
    "eks": ("aws:eks/cluster:Cluster",),
    "nodegroup": ("aws:eks/nodeGroup:NodeGroup",),
    "gpu": ("aws:eks/nodeGroup:NodeGroup",),
    "ecr": ("aws:ecr/repository:Repository",),
    "iam": ("aws:iam/role:Role",),
    "logs": ("aws:cloudwatch/logGroup:LogGroup",),
    "vpc": ("aws:ec2/vpc:Vpc",),
    "k8s": ("kubernetes:apps/v1:Deployment",),
    "kubernetes": ("kubernetes:apps/v1:Deployment",),
    "budget": ("aws:budgets/budget:Budget",),
}
"""First word of a policy name → resource types it evaluates (fallback for packs without ``resource_types``)."""
STACK_CASE = "(stack)"


def evaluated_types(policy: Rule, violations: Sequence[Violation]) -> list[str]:
    """Resource types a policy evaluated (see the module docstring)."""
    if policy.resource_types is not None:
        return sorted(set(policy.resource_types))
    types = {v.resource_type for v in violations if v.urn and v.resource_type}
    first = policy.name.split("-")[0].lower()
    types.update(NAME_PREFIX_TYPES.get(first, ()))
    return sorted(types)


def _describe(v: Violation) -> str:
    return f"[{v.enforcement}/{v.severity}] {v.message}\nremediation: {v.remediation}\nurn: {v.urn}"


def _suite(document: PlanDocument) -> ET.Element:
    stack = document.stack
    violations = document.violations
    policies = {p.name: p for p in document.rules}
    for v in violations:
        policies.setdefault(v.policy, Rule(name=v.policy))
    resources = sorted((r for r in document.resources if r.custom), key=lambda r: r.urn)
    suite = ET.Element("testsuite", name=f"blueprint.{stack}")
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for name in sorted(policies):
        mine = [v for v in violations if v.policy == name]
        by_urn: dict[str | None, list[Violation]] = {}
        for v in mine:
            by_urn.setdefault(v.urn, []).append(v)
        types = set(evaluated_types(policies[name], mine))
        cases: list[tuple[str, str | None]] = [
            (f"{r.name} ({r.type})", r.urn) for r in resources if r.type in types or r.urn in by_urn
        ]
        known = {urn for _, urn in cases}
        for orphan in sorted(u for u in by_urn if u is not None and u not in known):
            first = by_urn[orphan][0]
            cases.append((f"{first.resource_name or orphan} ({first.resource_type})", orphan))
        if not cases or None in by_urn:
            cases.insert(0, (STACK_CASE, None))
        for case_name, urn in cases:
            case = ET.SubElement(suite, "testcase", classname=f"{stack}.{name}", name=case_name, time="0")
            counts["tests"] += 1
            found = by_urn.get(urn, [])
            blocking = [v for v in found if v.blocking]
            advisory = [v for v in found if not v.waived and not v.blocking]
            if blocking:
                enforcement = blocking[0].enforcement
                failure = ET.SubElement(case, "failure", message=blocking[0].message, type=enforcement)
                failure.text = "\n".join(_describe(v) for v in blocking + advisory)
                counts["failures"] += 1
            elif advisory:  # passes: an advisory violation warns, it never blocks
                ET.SubElement(case, "system-out").text = "\n".join(_describe(v) for v in advisory)
            elif found:
                reasons = "; ".join(str((v.exception or {}).get("reason")) for v in found)
                ET.SubElement(case, "skipped", message=f"waived by exception: {reasons}")
                counts["skipped"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("errors", "0")
    if document.policies is None:
        ET.SubElement(suite, "system-out").text = "policies were not evaluated for this plan"
    return suite


def render(documents: Sequence[PlanDocument | dict[str, Any]]) -> str:
    """A ``<testsuites>`` document with one suite per plan document."""
    root = ET.Element("testsuites", name="blueprint policies")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for document in documents:
        suite = _suite(PlanDocument.coerce(document))
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
