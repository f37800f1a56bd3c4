"""One-way imports: the components never import the stack config (``hybrid_ai_platform.config`` maps onto them,
in ``stacks/args.py``), so a program can use every component without the config or its pydantic models."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hybrid_ai_platform.components as public

COMPONENTS = Path(public.__path__[0])


def test_importing_every_component_module_imports_no_stack_config() -> None:
    # GIVEN a fresh interpreter WHEN it imports the package and every one of its modules
    code = (
        "import importlib, pkgutil, sys\n"
        "import hybrid_ai_platform.components as c\n"
        "names = [i.name for i in pkgutil.iter_modules(c.__path__)]\n"
        "for name in names:\n"
        "    importlib.import_module(f'hybrid_ai_platform.components.{name}')\n"
        "print(len(names))\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('hybrid_ai_platform.config'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    count, config_modules = [*out.splitlines(), ""][:2]
    # THEN all of them loaded and none of the config modules did
    assert int(count) >= 20
    assert config_modules == "", f"importing the components imported {config_modules}"


def test_no_component_module_names_the_stack_config_in_an_import() -> None:
    # GIVEN every import statement of the components' source (type-checking-only imports included)
    offenders = []
    for path in sorted(COMPONENTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            offenders += [
                f"{path.name}:{node.lineno} {m}" for m in modules if m.startswith("hybrid_ai_platform.config")
            ]
    # THEN none imports hybrid_ai_platform.config (docstrings may still mention it)
    assert offenders == []
