"""Diff two plan documents (``blueprint plan --format json``): resources, properties, cost, policies.

:func:`diff_plans` compares a base and a head plan of the same stack by URN:

- resources added, removed, updated in place and replaced, each with a property-level diff
  (nested paths like ``scalingConfig.maxSize``; lists of objects keyed by a stable field such
  as ``name`` when every element has a distinct one; lists of distinct scalars that grow or
  shrink by value (``Action["sqs:ChangeMessageVisibility"]``); other lists by index; JSON
  strings such as IAM policies are parsed and diffed inside);
- which changed properties force a replacement: the curated table
  ``hybrid_ai_platform/cli/data/replace_properties.json`` (the provider schema's replace-on-change inputs)
  plus ``options.replace_on_changes`` recorded in the plan;
- the monthly cost before, after and delta, per resource and in total (``cost`` sections);
- policy violations that are new and that are fixed, identified by policy + URN + message;
- the placement facts of the preprocessing functions the change touches: placement and monthly cost
  on both sides, break-even crossings, placements costlier than the threshold
  (:func:`hybrid_ai_platform.cli.advise.placement_diff`, the PR comment's "Placement advice").

Both sides are typed (:class:`~hybrid_ai_platform.cli.plandoc.PlanDocument`; a JSON side is validated
against ``data/plan.schema.json`` first, then typed).

Example::

    >>> base = {"format_version": 1, "stack": "dev", "resources": []}
    >>> head = {"format_version": 1, "stack": "dev", "resources": [
    ...     {"urn": "urn:pulumi:dev::p::aws:sqs/queue:Queue::q", "type": "aws:sqs/queue:Queue",
    ...      "name": "q", "custom": True, "inputs": {}}]}
    >>> [c.action for c in diff_plans(base, head).resources]
    ['create']
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import plandoc
from .plandoc import STACK_TYPE, PlanDocument, Resource, Rule, Violation

if TYPE_CHECKING:
    from .advise import PlacementDiff

Action = Literal["create", "update", "replace", "delete"]

DATA_DIR = Path(__file__).resolve().parent / "data"
STABLE_LIST_KEYS = ("name", "key", "id", "Sid", "sid", "containerName", "mountPath", "port")
"""Fields that identify an element of a list of objects (first one unique in both lists wins)."""

_MISSING: Any = object()


class DiffInputError(Exception):
    """A plan file is missing or is not a plan document: print it, exit 2."""


@dataclass(frozen=True)
class PropertyChange:
    """One changed leaf (or subtree added/removed) of a resource's inputs."""

    path: str
    before: Any
    after: Any
    replaces: bool = False
    """Whether this change forces the resource to be replaced."""
    reason: str | None = None
    """Why it replaces: ``provider schema`` or ``replace_on_changes option``."""

    def to_json(self) -> dict[str, Any]:
        """JSON form (absent values are ``null`` with a ``kind``)."""
        kind = "changed"
        if self.before is _MISSING:
            kind = "added"
        elif self.after is _MISSING:
            kind = "removed"
        return {
            "path": self.path,
            "kind": kind,
            "before": None if self.before is _MISSING else self.before,
            "after": None if self.after is _MISSING else self.after,
            "replaces": self.replaces,
            "reason": self.reason,
        }

    @property
    def added(self) -> bool:
        """The property is new in head."""
        return self.before is _MISSING

    @property
    def removed(self) -> bool:
        """The property is gone in head."""
        return self.after is _MISSING


@dataclass
class ResourceChange:
    """A resource that is created, updated, replaced or deleted."""

    urn: str
    type: str
    name: str
    action: Action
    changes: list[PropertyChange] = field(default_factory=list)
    cost_before: float | None = None
    cost_after: float | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "action": self.action,
            "changes": [c.to_json() for c in self.changes],
            "cost_before": self.cost_before,
            "cost_after": self.cost_after,
        }


@dataclass
class CostLine:
    """Monthly cost of one resource on both sides."""

    urn: str
    name: str
    type: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        """``after - before``, rounded to cents."""
        return round(self.after - self.before, 2)


@dataclass
class CostDiff:
    """Monthly cost before and after; ``None`` totals when a side has no ``cost`` section."""

    currency: str
    before: float | None
    after: float | None
    lines: list[CostLine]
    """Resources whose cost differs, largest absolute delta first."""

    @property
    def delta(self) -> float | None:
        """Total delta, or ``None`` when either side is unknown."""
        if self.before is None or self.after is None:
            return None
        return round(self.after - self.before, 2)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "currency": self.currency,
            "before": self.before,
            "after": self.after,
            "delta": self.delta,
            "resources": [
                {"urn": x.urn, "name": x.name, "type": x.type, "before": x.before, "after": x.after, "delta": x.delta}
                for x in self.lines
            ],
        }


def is_blocking(violation: dict[str, Any] | Violation) -> bool:
    """A mandatory (or remediate) violation without an exception: it blocks a deployment.

    The one definition is :func:`hybrid_ai_platform.cli.plandoc.is_blocking`; this name stays for callers."""
    return plandoc.is_blocking(violation)


def violation_key(violation: Violation) -> tuple[str, str, str]:
    """Identity of a violation across plans: policy + URN + message (:attr:`Violation.key`)."""
    return violation.key


@dataclass
class PolicyDiff:
    """Policy violations and system-check findings new in head, fixed since base, and those still present."""

    evaluated_base: bool
    evaluated_head: bool
    new: list[Violation]
    fixed: list[Violation]
    unchanged: list[Violation]
    policies: list[Rule]
    """Policy and system-check metadata (head's, else base's)."""

    @property
    def head_violations(self) -> list[Violation]:
        """Every violation in head (new and unchanged), in a stable order."""
        return sorted(self.new + self.unchanged, key=violation_key)

    @property
    def blocking(self) -> list[Violation]:
        """Head's unexcepted mandatory violations."""
        return [v for v in self.head_violations if v.blocking]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "evaluated": {"base": self.evaluated_base, "head": self.evaluated_head},
            "new": [v.to_json() for v in self.new],
            "fixed": [v.to_json() for v in self.fixed],
            "unchanged": [v.to_json() for v in self.unchanged],
            "blocking": len(self.blocking),
        }


@dataclass
class StackDiff:
    """The whole difference between two plans of one stack."""

    stack: str
    project: str
    base_label: str
    head_label: str
    resources: list[ResourceChange]
    unchanged: int
    cost: CostDiff
    policies: PolicyDiff
    base: PlanDocument
    head: PlanDocument
    notes: list[str] = field(default_factory=list)
    """Things the reader must know (e.g. a side without policies or cost)."""
    placement: PlacementDiff | None = None
    """Preprocessing functions the change touches, their placement and cost on both sides, break-even
    crossings (:func:`hybrid_ai_platform.cli.advise.placement_diff`); ``None`` when a side cannot be priced."""

    def count(self, action: Action) -> int:
        """How many resources have this action."""
        return sum(1 for r in self.resources if r.action == action)

    def to_json(self) -> dict[str, Any]:
        """JSON form (the plans themselves are left out)."""
        return {
            "stack": self.stack,
            "project": self.project,
            "base": self.base_label,
            "head": self.head_label,
            "summary": {
                "create": self.count("create"),
                "update": self.count("update"),
                "replace": self.count("replace"),
                "delete": self.count("delete"),
                "unchanged": self.unchanged,
            },
            "resources": [r.to_json() for r in self.resources],
            "cost": self.cost.to_json(),
            "policies": self.policies.to_json(),
            "placement": None if self.placement is None else self.placement.to_json(),
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- loading


MAX_PLAN_DEPTH = 64
"""Deepest JSON nesting a plan file may have (a real plan stays well under 20 levels)."""


def _depth(text: str) -> int:
    """Deepest bracket nesting of JSON text, outside strings (checked before parsing, so a hostile
    file cannot exhaust the parser's recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_plan(path: Path | str) -> PlanDocument:
    """Read a plan document: validated against ``data/plan.schema.json``, then typed. Raise
    :class:`DiffInputError` naming the file (and, for a document of the wrong shape, the JSON path of
    the first problem) when it is unusable."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DiffInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DiffInputError(f"{path}: is a directory, not a plan file") from None
    except UnicodeDecodeError as exc:
        raise DiffInputError(f"{path}: not UTF-8 text (byte {exc.start}); plan files are UTF-8 JSON") from None
    except OSError as exc:
        raise DiffInputError(f"{path}: cannot read ({exc.strerror})") from None
    if _depth(text) > MAX_PLAN_DEPTH:
        raise DiffInputError(f"{path}: JSON nested deeper than {MAX_PLAN_DEPTH} levels; not a plan document")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DiffInputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    problem = plan_document_problem(document)
    if problem:
        raise DiffInputError(f"{path}: not a plan document ({problem}); make one with `blueprint plan --format json`")
    return PlanDocument.from_json(document)


@functools.cache
def _plan_validator() -> Any:
    import jsonschema

    schema = json.loads((Path(__file__).parent / "data" / "plan.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def plan_document_problem(document: Any) -> str | None:
    """Why ``document`` is not a usable plan document (the first problem, with its JSON path), or ``None``.

    The shape is ``hybrid_ai_platform/cli/data/plan.schema.json``: what diffing and rendering rely on."""
    errors = sorted(_plan_validator().iter_errors(document), key=lambda e: (list(e.absolute_path), e.message))
    if not errors:
        counts = Counter(r["urn"] for r in document["resources"])
        repeated = sorted(u for u, n in counts.items() if n > 1)
        return f"$.resources: URN {repeated[0]!r} appears more than once" if repeated else None
    first = errors[0]
    message = first.message if len(first.message) <= 200 else first.message[:199] + "…"
    return f"{first.json_path}: {message}"


# --------------------------------------------------------------------------- replacement table


@functools.cache
def replace_table() -> dict[str, tuple[str, ...]]:
    """Type token (or fnmatch pattern) → replace-on-change property paths."""
    data = json.loads((DATA_DIR / "replace_properties.json").read_text(encoding="utf-8"))
    return {k: tuple(v) for k, v in data["types"].items()}


def replace_paths(type_token: str) -> tuple[str, ...]:
    """Property paths whose change replaces a resource of ``type_token`` (schema table)."""
    table = replace_table()
    paths: list[str] = []
    for pattern, props in table.items():
        if pattern == type_token or (any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(type_token, pattern)):
            paths.extend(props)
    return tuple(dict.fromkeys(paths))


_INDEX = re.compile(r"\[[^\]]*\]")


def _covers(prop: str, path: str) -> bool:
    """Whether a change at ``path`` is at or below property ``prop`` (list positions ignored)."""
    plain = _INDEX.sub("", path)
    prop = _INDEX.sub("", prop)
    return prop == "*" or plain == prop or plain.startswith(prop + ".")


def replacement_reason(type_token: str, path: str, replace_on_changes: list[str]) -> str | None:
    """Why a change at ``path`` forces a replacement, or ``None`` when it is an in-place update."""
    if any(_covers(p, path) for p in replace_on_changes):
        return "replace_on_changes option"
    if any(_covers(p, path) for p in replace_paths(type_token)):
        return "provider schema"
    return None


# --------------------------------------------------------------------------- property diff


def _maybe_json(value: Any) -> Any:
    """Parse strings holding a JSON object or array (IAM policies, event patterns)."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _list_key(before: list[Any], after: list[Any]) -> str | None:
    """A field that identifies each element of both lists, if any."""
    items = before + after
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for key in STABLE_LIST_KEYS:
        if (
            all(isinstance(x.get(key), str | int) for x in items)
            and len({x[key] for x in before}) == len(before)
            and len({x[key] for x in after}) == len(after)
        ):
            return key
    return None


def _scalar_set(values: list[Any]) -> bool:
    """A list of distinct strings or numbers (compared as a set when its length changes)."""
    return all(isinstance(x, str | int | float) for x in values) and len(set(values)) == len(values)


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def property_changes(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Changed leaves between two input values: ``(path, before, after)`` (absent = sentinel)."""
    if before == after:
        return []
    before_v, after_v = _maybe_json(before), _maybe_json(after)
    if isinstance(before_v, dict) and isinstance(after_v, dict):
        if set(before_v) == {"secret"} and set(after_v) == {"secret"}:
            return [(path, "[secret]", "[secret]")]
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(before_v) | set(after_v)):
            out.extend(property_changes(before_v.get(key, _MISSING), after_v.get(key, _MISSING), _join(path, str(key))))
        return out
    if isinstance(before_v, list) and isinstance(after_v, list):
        key = _list_key(before_v, after_v)
        out = []
        if key:
            old = {x[key]: x for x in before_v}
            new = {x[key]: x for x in after_v}
            order = [x[key] for x in before_v] + [x[key] for x in after_v if x[key] not in old]
            for k in order:
                out.extend(property_changes(old.get(k, _MISSING), new.get(k, _MISSING), f"{path}[{key}={k}]"))
            return out
        if len(before_v) != len(after_v) and _scalar_set(before_v) and _scalar_set(after_v):
            old_set, new_set = set(before_v), set(after_v)
            out.extend((f"{path}[{json.dumps(x)}]", x, _MISSING) for x in before_v if x not in new_set)
            out.extend((f"{path}[{json.dumps(x)}]", _MISSING, x) for x in after_v if x not in old_set)
            return out
        for i in range(max(len(before_v), len(after_v))):
            b = before_v[i] if i < len(before_v) else _MISSING
            a = after_v[i] if i < len(after_v) else _MISSING
            out.extend(property_changes(b, a, f"{path}[{i}]"))
        return out
    return [(path, before, after)]


# --------------------------------------------------------------------------- whole diff


def _name(resource: Resource) -> str:
    return resource.name or resource.urn.split("::")[-1]


def _resource_changes(base: PlanDocument, head: PlanDocument) -> tuple[list[ResourceChange], int]:
    old = {r.urn: r for r in base.resources if r.type != STACK_TYPE}
    new = {r.urn: r for r in head.resources if r.type != STACK_TYPE}
    changes: list[ResourceChange] = []
    unchanged = 0
    for urn in sorted(set(old) | set(new)):
        before, after = old.get(urn), new.get(urn)
        if before is None and after is not None:
            changes.append(ResourceChange(urn, after.type, _name(after), "create"))
            continue
        if after is None and before is not None:
            changes.append(ResourceChange(urn, before.type, _name(before), "delete"))
            continue
        assert before is not None and after is not None
        raw = property_changes(before.inputs or {}, after.inputs or {})
        replace_on = list((after.options or {}).get("replace_on_changes") or [])
        props = []
        for path, b, a in raw:
            reason = replacement_reason(after.type, path, replace_on)
            props.append(PropertyChange(path, b, a, reason is not None, reason))
        for option in ("protect", "delete_before_replace", "retain_on_delete", "ignore_changes", "replace_on_changes"):
            b = (before.options or {}).get(option, _MISSING)
            a = (after.options or {}).get(option, _MISSING)
            if b != a:
                props.append(PropertyChange(f"options.{option}", b, a))
        if not props:
            unchanged += 1
            continue
        action: Action = "replace" if any(p.replaces for p in props) else "update"
        changes.append(ResourceChange(urn, after.type, _name(after), action, props))
    return changes, unchanged


def _cost_total(document: PlanDocument) -> float | None:
    if document.cost is None or document.cost.total_monthly is None:
        return None
    return round(float(document.cost.total_monthly), 2)


def _cost_diff(base: PlanDocument, head: PlanDocument, changes: list[ResourceChange]) -> CostDiff:
    old = base.cost.by_urn() if base.cost else {}
    new = head.cost.by_urn() if head.cost else {}
    section = head.cost or base.cost
    currency = section.currency if section else "USD"
    lines = []
    for urn in sorted(set(old) | set(new)):
        b = round(float(old[urn].monthly or 0.0), 2) if urn in old else 0.0
        a = round(float(new[urn].monthly or 0.0), 2) if urn in new else 0.0
        if b != a:
            record = new.get(urn) or old[urn]
            lines.append(CostLine(urn, record.name or urn.split("::")[-1], record.type, b, a))
    lines.sort(key=lambda x: (-abs(x.delta), x.urn))
    for change in changes:
        if urn_cost := old.get(change.urn):
            change.cost_before = round(float(urn_cost.monthly or 0.0), 2)
        if urn_cost := new.get(change.urn):
            change.cost_after = round(float(urn_cost.monthly or 0.0), 2)
    return CostDiff(str(currency), _cost_total(base), _cost_total(head), lines)


def _policy_diff(base: PlanDocument, head: PlanDocument) -> PolicyDiff:
    old = {v.key: v for v in base.violations}
    new = {v.key: v for v in head.violations}
    return PolicyDiff(
        evaluated_base=base.policies is not None,
        evaluated_head=head.policies is not None,
        new=[new[k] for k in sorted(set(new) - set(old))],
        fixed=[old[k] for k in sorted(set(old) - set(new))],
        unchanged=[new[k] for k in sorted(set(new) & set(old))],
        policies=list(head.rules or base.rules),
    )


def _typed(document: PlanDocument | dict[str, Any], label: str) -> PlanDocument:
    """A side of the diff, typed; a JSON side is validated first (its problem names ``label``)."""
    if isinstance(document, PlanDocument):
        return document
    problem = plan_document_problem(document)
    if problem:
        raise DiffInputError(f"{label}: not a plan document ({problem})")
    return PlanDocument.from_json(document)


def diff_plans(
    base: PlanDocument | dict[str, Any],
    head: PlanDocument | dict[str, Any],
    base_label: str = "base",
    head_label: str = "head",
) -> StackDiff:
    """Compare two plan documents of the same stack (see the module docstring): typed, or their JSON
    (validated against ``data/plan.schema.json``, then typed)."""
    from .advise import placement_diff

    base, head = _typed(base, base_label), _typed(head, head_label)
    if base.stack != head.stack:
        raise DiffInputError(
            f"{base_label} is stack '{base.stack}' but {head_label} is stack '{head.stack}'; "
            "diff plans of the same stack"
        )
    changes, unchanged = _resource_changes(base, head)
    cost = _cost_diff(base, head, changes)
    policies = _policy_diff(base, head)
    notes = []
    for label, document in ((base_label, base), (head_label, head)):
        if document.policies is None:
            notes.append(f"{label} has no `policies` section: its violations are unknown")
        if document.cost is None:
            notes.append(f"{label} has no `cost` section: its cost is unknown")
        if document.checks is None:
            notes.append(f"{label} has no `checks` section: its system-check findings are unknown")
    return StackDiff(
        stack=head.stack,
        project=head.project or "",
        base_label=base_label,
        head_label=head_label,
        resources=changes,
        unchanged=unchanged,
        cost=cost,
        policies=policies,
        base=base,
        head=head,
        notes=notes,
        placement=placement_diff(base, head),
    )
