"""The public API: `hybrid_ai_platform.components.__all__` names every component, its Args and their value types."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import subprocess
import sys

import hybrid_ai_platform.components as public
import pulumi


def _component_classes() -> dict[str, type]:
    """Every ComponentResource defined in a module of the package (what the public API must cover)."""
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(public.__path__):
        module = importlib.import_module(f"{public.__name__}.{info.name}")
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, pulumi.ComponentResource)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found[name] = obj
    return found


def test_every_component_and_its_args_is_exported() -> None:
    components = _component_classes()
    assert len(components) >= 14
    for name, cls in components.items():
        assert name in public.__all__, f"component {name} is not in hybrid_ai_platform.components.__all__"
        args = inspect.signature(cls.__init__).parameters["args"].annotation
        args_name = args if isinstance(args, str) else args.__name__
        assert args_name == f"{name}Args", f"{name} takes {args_name}"
        assert args_name in public.__all__, f"{args_name} is not exported"
        assert getattr(public, name) is cls


def test_every_exported_name_resolves_to_the_submodule_object() -> None:
    assert len(public.__all__) == len(set(public.__all__))
    for name in public.__all__:
        value = getattr(public, name)
        module = importlib.import_module(value.__module__)
        assert getattr(module, name) is value
        assert value.__doc__, f"{name} has no docstring"
    # the value types the exported Args take are exported too (ObjectLockArgs, ExistingVpc, VpcPeering, ...)
    for name in [n for n in public.__all__ if n.endswith("Args") and dataclasses.is_dataclass(getattr(public, n))]:
        module = importlib.import_module(getattr(public, name).__module__)
        for field in dataclasses.fields(getattr(public, name)):
            hint = str(field.type)
            local = [t for t in vars(module) if t in hint and inspect.isclass(vars(module)[t])]
            for type_name in local:
                cls = vars(module)[type_name]
                if dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__:
                    assert type_name in public.__all__, f"{name}.{field.name} takes {type_name}, which is not exported"


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        public.NoSuchComponent  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchComponent" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_package_imports_no_provider_sdk() -> None:
    code = (
        "import sys, hybrid_ai_platform.components; "
        "print(sorted(m for m in ('pulumi_aws', 'pulumi_kubernetes', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
