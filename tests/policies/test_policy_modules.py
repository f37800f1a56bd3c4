"""Each policy module is named after its policy; rules share helpers only through `_`-prefixed modules."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import hybrid_ai_platform.policies.rules as rules

RULES_DIR = Path(rules.__file__).parent


def _rule_modules() -> list[str]:
    return sorted(i.name for i in pkgutil.iter_modules(rules.__path__) if not i.name.startswith("_"))


def test_every_policy_module_is_named_after_its_policy() -> None:
    modules = _rule_modules()
    assert len(modules) >= 60
    misnamed = {}
    for name in modules:
        policy = importlib.import_module(f"{rules.__name__}.{name}").POLICY
        if name != policy.meta.name.replace("-", "_"):
            misnamed[name] = policy.meta.name
    assert not misnamed, f"rename each module to its policy's name (dashes as underscores): {misnamed}"


def test_rules_import_other_rules_only_through_underscore_modules() -> None:
    policy_modules = set(_rule_modules())
    offenders = []
    for path in sorted(RULES_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            imported: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level == 1 and node.module:  # from .x import y
                    imported.append(node.module.split(".")[0])
                elif node.level == 1:  # from . import x
                    imported += [alias.name for alias in node.names]
                elif node.module and node.module.startswith(f"{rules.__name__}."):
                    imported.append(node.module.removeprefix(f"{rules.__name__}.").split(".")[0])
                elif node.module == rules.__name__:
                    imported += [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                imported += [
                    a.name.removeprefix(f"{rules.__name__}.").split(".")[0]
                    for a in node.names
                    if a.name.startswith(f"{rules.__name__}.")
                ]
            offenders += [f"{path.name} imports {m}" for m in imported if m in policy_modules]
    assert not offenders, f"move what rules share into a `_`-prefixed module: {offenders}"
