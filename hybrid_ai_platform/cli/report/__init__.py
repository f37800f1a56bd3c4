"""Renderers of plans and diffs: one module per output format.

``render_plan(fmt, document)`` and ``render_diff(fmt, diffs)`` dispatch to
:mod:`.text`, :mod:`.jsondoc`, :mod:`.markdown`, :mod:`.sarif` and :mod:`.junit`.

Example::

    >>> from hybrid_ai_platform.cli.report import money
    >>> money(1234.5), money(-3, signed=True)
    ('$1,234.50', '-$3.00')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..diff import StackDiff
from ..plandoc import PlanDocument

FORMATS = ("text", "json", "markdown", "sarif", "junit")
"""Output formats of ``plan``, ``diff`` and ``pr-check``."""


def money(value: float | None, signed: bool = False, currency: str = "USD") -> str:
    """``$1,234.56`` (``+$1.00``/``-$1.00`` when ``signed``); ``n/a`` for an unknown amount."""
    if value is None:
        return "n/a"
    symbol = "$" if currency == "USD" else f"{currency} "
    sign = ""
    if signed:
        sign = "+" if value > 0 else "-" if value < 0 else "±"
    elif value < 0:
        sign = "-"
    return f"{sign}{symbol}{abs(value):,.2f}"


def render_plan(
    fmt: str, document: PlanDocument | Mapping[str, Any], *, color: bool = False, notes: Sequence[str] = ()
) -> str:
    """Render one plan document (with its optional ``policies`` and ``cost`` sections), typed
    (:class:`~hybrid_ai_platform.cli.plandoc.PlanDocument`) or as its JSON."""
    from . import jsondoc, junit, markdown, sarif, text

    document = PlanDocument.coerce(document)
    if fmt == "text":
        return text.render_plan(document, color=color, notes=notes)
    if fmt == "json":
        return jsondoc.render_plan(document)
    if fmt == "markdown":
        return markdown.render_plan(document, notes=notes)
    if fmt == "sarif":
        return sarif.render([(document, None)])
    if fmt == "junit":
        return junit.render([document])
    raise ValueError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")


def render_diff(fmt: str, diffs: Sequence[StackDiff], *, color: bool = False, notes: Sequence[str] = ()) -> str:
    """Render the diffs of one or more stacks."""
    from . import jsondoc, junit, markdown, sarif, text

    if fmt == "text":
        return text.render_diff(diffs, color=color, notes=notes)
    if fmt == "json":
        return jsondoc.render_diff(diffs, notes=notes)
    if fmt == "markdown":
        return markdown.render_diff(diffs, notes=notes)
    if fmt == "sarif":
        return sarif.render([(d.head, d) for d in diffs])
    if fmt == "junit":
        return junit.render([d.head for d in diffs])
    raise ValueError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
