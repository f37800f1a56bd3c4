"""The built wheel alone is the library: a fresh virtualenv outside the repository runs the examples and the CLI.

The wheel is built from a copy of the sources the distribution ships (``pip wheel --no-deps
--no-build-isolation`` with this environment's setuptools, nothing downloaded) and installed with
``--no-deps`` into a virtualenv made with ``--without-pip`` in a temporary directory. The dependencies
(pulumi, pulumi-aws, ...) come from this environment's site-packages, listed as a path line in a ``.pth``
file: ``site`` adds such a directory to ``sys.path`` but does not execute the ``.pth`` files inside it
(https://docs.python.org/3/library/site.html), so the editable install's import hook never loads and
nothing of the working tree is importable. The test checks that, then runs both examples under the mock
runtime and ``blueprint --root <repo> plan`` through the fresh interpreter, with the working directory
outside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from hybrid_ai_platform import __version__
from hybrid_ai_platform.cli.synth import Plan

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SOURCES = ("pyproject.toml", "README.md", "hybrid_ai_platform", "components", "policies/blueprint_policies")
pytestmark = pytest.mark.xdist_group("wheel")


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # the sources the distribution ships, copied, so the build never writes into the working tree
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SHIPPED_SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("dist")
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", out, source, cwd=out
    )
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel, cwd=venv.parent)
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=venv.parent).stdout
    # this environment's dependencies as a path line (its own .pth files, the editable finder among them, stay inert)
    dependencies = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()}
    Path(purelib.strip(), "dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    return python


def test_wheel_ships_the_library_and_its_data_but_not_the_repository(wheel: Path) -> None:
    assert wheel.name == f"hybrid_ai_platform_blueprints-{__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "hybrid_ai_platform/py.typed" in names
    assert "hybrid_ai_platform/components/__init__.py" in names
    assert "hybrid_ai_platform/policies/rules/__init__.py" in names
    assert "hybrid_ai_platform/testing.py" in names
    data = {
        "hybrid_ai_platform/components/data": ROOT / "components" / "data",
        "hybrid_ai_platform/cli/data": ROOT / "hybrid_ai_platform" / "cli" / "data",
        "hybrid_ai_platform/cli/data/crd_schemas": ROOT / "hybrid_ai_platform" / "cli" / "data" / "crd_schemas",
        "hybrid_ai_platform/policies/data": ROOT / "policies" / "blueprint_policies" / "data",
    }
    for packaged, directory in data.items():
        files = sorted(directory.glob("*.json"))
        assert files, f"{directory} has no data files"
        missing = [f.name for f in files if f"{packaged}/{f.name}" not in names]
        assert not missing, f"{packaged} is missing {missing}"
    tops = {n.split("/")[0] for n in names}
    assert tops == {"hybrid_ai_platform", f"hybrid_ai_platform_blueprints-{__version__}.dist-info"}
    assert not [n for n in names if "/tests/" in n or "/stacks/" in n or n.endswith(".pyc")]


def test_fresh_venv_imports_only_the_installed_wheel(fresh_python: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import importlib.util, json, sys
        import hybrid_ai_platform.components as c
        print(json.dumps({
            "components": c.__file__,
            "top_level_components": importlib.util.find_spec("components") is not None,
            "stacks": importlib.util.find_spec("stacks") is not None,
            "editable_finder": any("editable" in type(f).__name__.lower() or "editable" in repr(f).lower()
                                   for f in sys.meta_path),
        }))
        """
    )
    found = json.loads(run(fresh_python, "-c", script, cwd=tmp_path).stdout)
    venv = fresh_python.parent.parent
    assert Path(found["components"]).is_relative_to(venv), found["components"]
    assert found == {**found, "top_level_components": False, "stacks": False, "editable_finder": False}
    failed = subprocess.run([fresh_python, "-c", "import components"], cwd=tmp_path, capture_output=True, text=True)
    assert failed.returncode == 1 and "ModuleNotFoundError: No module named 'components'" in failed.stderr


def test_fresh_venv_runs_both_examples_and_plans_the_repository(
    fresh_python: Path, tmp_path: Path, dev_plan: Plan
) -> None:
    # GIVEN the examples copied outside the repository, and the built Lambda package they deploy
    examples = shutil.copytree(ROOT / "examples", tmp_path / "examples")
    manifest = ROOT / "build" / "lambda" / "arm64" / "manifest.json"
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from hybrid_ai_platform.testing import run_project
        key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        gpu = run_project(Path({str(examples / "gpu-node-group")!r}), stack="prod", config={{
            "aws:region": "eu-west-1", "clusterName": "shared-prod", "kmsKeyArn": key,
            "nodeRoleArn": "arn:aws:iam::123456789012:role/nodes", "subnetIds": ["subnet-0aaa1111bbbb2222c"]}})
        pre = run_project(Path({str(examples / "preprocessing-pipeline")!r}), stack="dev", config={{
            "aws:region": "eu-west-1", "kmsKeyArn": key, "lambdaManifest": {str(manifest)!r}}})
        (group,) = gpu.of_type("aws:eks/nodeGroup:NodeGroup")
        (function,) = pre.of_type("aws:lambda/function:Function")
        print(json.dumps({{
            "gpu_types": sorted(r.type for r in gpu.resources),
            "cluster": group.inputs["clusterName"],
            "taints": group.inputs["taints"],
            "pre_types": sorted({{r.type for r in pre.resources}}),
            "function": function.inputs["name"],
            "function_key": function.inputs["kmsKeyArn"],
            "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("components", "stacks")),
        }}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    examples_run = subprocess.Popen(
        [fresh_python, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    blueprint = fresh_python.parent / "blueprint"
    plan_file = tmp_path / "dev.json"
    plan = run(
        blueprint, "--root", ROOT, "plan", "--stack", "dev", "--format", "json", "--output", plan_file,
        cwd=tmp_path, env={**env, "BLUEPRINT_TODAY": "2026-11-28"},
    )  # fmt: skip
    out, err = examples_run.communicate()
    assert examples_run.returncode == 0, err
    found = json.loads(out)
    # THEN the GPU example made its node group on the named cluster, tainted for GPU workloads only
    assert found["gpu_types"] == [
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:eks/nodeGroup:NodeGroup",
        "hybrid-ai:compute:GpuNodeGroup",
    ]
    assert found["cluster"] == "shared-prod"
    assert found["taints"] == [{"effect": "NO_SCHEDULE", "key": "nvidia.com/gpu", "value": "true"}]
    # AND the preprocessing example its pipeline on the given key
    assert {"hybrid-ai:preprocessing:PreprocessingPipeline", "aws:lambda/function:Function"} <= set(found["pre_types"])
    assert found["function"] == "dev-transactions" and found["function_key"].endswith("1234567890ab")
    assert found["modules"] == []
    # AND the installed CLI planned the repository's dev stack: the same resources as the in-process synthesis
    assert plan.returncode == 0
    document = json.loads(plan_file.read_text())
    assert document["stack"] == "dev"
    assert [r["urn"] for r in document["resources"]] == sorted(r.urn for r in dev_plan.resources)
