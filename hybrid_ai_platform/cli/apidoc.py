"""Generate ``docs/api.md``, the reference of the public API, from the docstrings.

Every name in ``hybrid_ai_platform.components.__all__`` is documented: each component (its type token,
constructor, docstring and public attributes) followed by its Args (every field with its type as written,
its default and its docstring, which states the default as behaviour), then the value types and errors.
Fields and attribute docstrings are read from the class source (the string literal after each annotated
attribute), so dataclass and pydantic Args are documented alike. A test fails when the committed file is
stale; regenerate with ``python -m hybrid_ai_platform.cli.apidoc > docs/api.md``.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

import pulumi

import hybrid_ai_platform.components as public

MODULE = "hybrid_ai_platform.components"


@dataclass(frozen=True)
class Member:
    """One annotated attribute of a class, as written in its source."""

    name: str
    annotation: str
    default: str | None
    """The default as written (``None`` when required)."""
    doc: str


def _default_of(value: ast.expr | None) -> str | None:
    """The default an attribute's assigned value gives, as source text; None when there is none."""
    if value is None:
        return None
    if isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", "")) in ("field", "Field"):
        for keyword in value.keywords:
            if keyword.arg == "default":
                return ast.unparse(keyword.value)
            if keyword.arg == "default_factory":
                factory = ast.unparse(keyword.value)
                return {"list": "[]", "dict": "{}", "tuple": "()", "set": "set()"}.get(factory, f"{factory}()")
        if value.args and not (isinstance(value.args[0], ast.Constant) and value.args[0].value is Ellipsis):
            return ast.unparse(value.args[0])
        return None
    return ast.unparse(value)


def members(cls: type) -> list[Member]:
    """The class's own annotated attributes in source order, each with the docstring that follows it."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    found: list[Member] = []
    body = node.body
    for index, statement in enumerate(body):
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        name = statement.target.id
        if name.startswith("_") or "ClassVar" in ast.unparse(statement.annotation):
            continue
        following = body[index + 1] if index + 1 < len(body) else None
        doc = ""
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            doc = inspect.cleandoc(following.value.value)
        found.append(Member(name, ast.unparse(statement.annotation), _default_of(statement.value), doc))
    return found


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def markdown(text: str) -> str:
    """A reStructuredText docstring as Markdown: inline literals and roles as code, ``::`` blocks fenced."""
    text = _ROLE.sub(lambda m: f"``{m.group(1)}``", text).replace("``", "`")
    out: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            index += 1
            block: list[str] = []
            while index < len(lines) and (not lines[index].strip() or lines[index].startswith((" ", "\t"))):
                block.append(lines[index])
                index += 1
            while block and not block[-1].strip():
                block.pop()
            out += ["", "```python", *textwrap.dedent("\n".join(block)).strip("\n").splitlines(), "```", ""]
            continue
        out.append(line)
        index += 1
    return "\n".join(out).strip()


def _cell(text: str) -> str:
    """Text for one Markdown table cell: one line, pipes escaped."""
    return " ".join(markdown(text).split()).replace("|", "\\|") if text else ""


def _table(rows: list[Member], with_default: bool) -> list[str]:
    if with_default:
        lines = ["| Field | Type | Default | Description |", "| - | - | - | - |"]
        for m in rows:
            default = "**required**" if m.default is None else f"`{m.default}`"
            lines.append(f"| `{m.name}` | `{_cell(m.annotation)}` | {default} | {_cell(m.doc)} |")
    else:
        lines = ["| Attribute | Type | Description |", "| - | - | - |"]
        lines += [f"| `{m.name}` | `{_cell(m.annotation)}` | {_cell(m.doc)} |" for m in rows]
    return [*lines, ""]


def _type_token(cls: type) -> str | None:
    """The Pulumi type token the component registers (the first argument of its ``super().__init__``)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            return str(node.args[0].value)
    return None


def _signature(function: Any) -> str:
    """``(name: annotation = default, ...) -> annotation`` with annotations as written (they are strings under
    ``from __future__ import annotations``) and defaults as their ``repr``."""
    signature = inspect.signature(function)

    def text(annotation: Any) -> str:
        return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)

    parameters = []
    for parameter in signature.parameters.values():
        part = parameter.name
        if parameter.annotation is not inspect.Parameter.empty:
            part += f": {text(parameter.annotation)}"
        if parameter.default is not inspect.Parameter.empty:
            part += f" = {parameter.default!r}"
        parameters.append(part)
    result = (
        "" if signature.return_annotation is inspect.Signature.empty else f" -> {text(signature.return_annotation)}"
    )
    return f"({', '.join(parameters)}){result}"


def _section(name: str, obj: Any, level: str = "##") -> list[str]:
    lines = [f"{level} `{name}`", ""]
    if isinstance(obj, type) and issubclass(obj, pulumi.ComponentResource):
        token = _type_token(obj)
        args = f"{name}Args" if f"{name}Args" in public.__all__ else "..."
        lines += [f"`{name}(name: str, args: {args}, opts: pulumi.ResourceOptions | None = None)`", ""]
        if token:
            lines += [f"Pulumi type: `{token}`", ""]
    if inspect.isfunction(obj):
        return [*lines, f"`{name}{_signature(obj)}`", "", markdown(inspect.getdoc(obj) or ""), ""]
    lines += [markdown(inspect.getdoc(obj) or ""), ""]
    fields = members(obj)
    if fields:
        is_component = isinstance(obj, type) and issubclass(obj, pulumi.ComponentResource)
        lines += _table(fields, with_default=not is_component)
    return lines


def render() -> str:
    """The Markdown reference of every public name."""
    names = list(public.__all__)
    objects = {name: getattr(public, name) for name in names}
    components = sorted(
        n for n, o in objects.items() if isinstance(o, type) and issubclass(o, pulumi.ComponentResource)
    )
    args = {f"{n}Args" for n in components if f"{n}Args" in objects}
    errors = sorted(n for n, o in objects.items() if isinstance(o, type) and issubclass(o, BaseException))
    functions = sorted(n for n, o in objects.items() if inspect.isfunction(o))
    values = sorted(set(names) - set(components) - args - set(errors) - set(functions))
    lines = [
        "# API reference: `hybrid_ai_platform.components`",
        "",
        "<!-- Generated by `python -m hybrid_ai_platform.cli.apidoc > docs/api.md`; do not edit. -->",
        "",
        f"Every name below is exported by `{MODULE}` (its `__all__`); anything else is internal. Each component",
        "is built as `Component(name, ComponentArgs(...), opts)`; its Args follow it. See `examples/` for",
        "whole programs and `hybrid_ai_platform.testing` to test yours offline.",
        "",
        "## Contents",
        "",
    ]
    for name in [*components, *values, *functions, *errors]:
        lines.append(
            f"- [`{name}`](#{name.lower()})"
            + (f" and [`{name}Args`](#{name.lower()}args)" if name in components and f"{name}Args" in args else "")
        )
    lines.append("")
    lines += ["# Components", ""]
    for name in components:
        lines += _section(name, objects[name])
        if f"{name}Args" in args:
            lines += _section(f"{name}Args", objects[f"{name}Args"], "###")
    lines += ["# Value types", ""]
    for name in values:
        lines += _section(name, objects[name])
    lines += ["# Functions", ""]
    for name in functions:
        lines += _section(name, objects[name])
    lines += ["# Errors", ""]
    for name in errors:
        lines += _section(name, objects[name])
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
