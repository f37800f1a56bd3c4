"""``lambda_src/Dockerfile.worker`` (no Docker here): parsed for the properties the cluster relies on."""

from __future__ import annotations

import json
import re
from importlib.metadata import requires
from pathlib import Path

from lambda_support import PROJECT_ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LAMBDA_SRC = PROJECT_ROOT / "lambda_src"
DOCKERFILE = LAMBDA_SRC / "Dockerfile.worker"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: comments dropped, continuation lines joined."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#")))
    out = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
    return out


def _pins(name: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (LAMBDA_SRC / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            assert len(requirement.specifier) == 1 and next(iter(requirement.specifier)).operator == "=="
            pins[canonicalize_name(requirement.name)] = next(iter(requirement.specifier)).version
    return pins


def test_the_base_is_a_slim_python_312_or_313_pinned_to_a_patch_release() -> None:
    steps = instructions()
    [base] = [args for keyword, args in steps if keyword == "FROM"]
    default = dict(args.split("=", 1) for keyword, args in steps if keyword == "ARG" and "=" in args)
    image = default[base.strip("${}")] if base.startswith("${") else base
    assert re.fullmatch(r"python:3\.1[23]\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", image), image


def test_it_runs_as_a_numeric_non_root_user_with_the_worker_as_entry_point() -> None:
    steps = instructions()
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), users
    [entrypoint] = [args for keyword, args in steps if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["python", "-m", "preprocessing.worker"]
    # the USER comes after every RUN (nothing runs as root after it, nothing is installed as the user)
    positions = [i for i, (keyword, _) in enumerate(steps) if keyword in ("USER", "RUN")]
    assert steps[positions[-1]][0] == "USER"


def test_it_installs_the_pinned_closure_binary_only_and_copies_only_the_package() -> None:
    steps = instructions()
    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "pip install --no-deps --only-binary=:all:" in runs
    assert "requirements.txt" in runs and "requirements-worker.txt" in runs
    copies = [args.split() for keyword, args in steps if keyword in ("COPY", "ADD")]
    assert {keyword for keyword, _ in steps} >= {"COPY"} and "ADD" not in {keyword for keyword, _ in steps}
    assert sorted(src for *sources, _ in copies for src in sources) == [
        "preprocessing/",
        "requirements-worker.txt",
        "requirements.txt",
    ]
    # no architecture baked in: the same Dockerfile builds arm64 and amd64
    assert "--platform" not in " ".join(args for _, args in steps)
    assert not re.search(r"aarch64|arm64|x86_64|amd64", runs)


def test_it_is_read_only_root_compatible_and_holds_no_secrets() -> None:
    steps = instructions()
    env = " ".join(args for keyword, args in steps if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "HOME=/tmp" in env
    assert "WORKER_HEARTBEAT_FILE=/tmp/" in env
    assert "compileall" in " ".join(args for keyword, args in steps if keyword == "RUN")
    names = [name for keyword, args in steps if keyword in ("ENV", "ARG") for name in re.findall(r"(\w+)=", args)]
    assert names and not [n for n in names if re.search(r"SECRET|PASSWORD|TOKEN|ACCESS_KEY|CREDENTIAL", n)]


def test_the_two_requirement_files_are_a_complete_closure_and_add_exactly_the_lambda_runtimes_packages() -> None:
    from package import RUNTIME_PROVIDED

    lambda_pins, worker_pins = _pins("requirements.txt"), _pins("requirements-worker.txt")
    assert not set(lambda_pins) & set(worker_pins)
    top_level = {"python-dateutil": "dateutil"}
    assert {top_level.get(name, name) for name in worker_pins} == set(RUNTIME_PROVIDED)
    pinned = set(lambda_pins) | set(worker_pins)
    missing = {}
    for name in pinned:
        for line in requires(name) or []:
            requirement = Requirement(line)
            applies = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
            if applies and canonicalize_name(requirement.name) not in pinned:
                missing[name] = requirement.name
    assert missing == {}
