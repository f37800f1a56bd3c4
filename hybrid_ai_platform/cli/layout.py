"""The installed import layout of a checkout, as a directory of links.

The repository keeps its top-level folders (``components/``, ``policies/blueprint_policies/``) and
``pyproject.toml`` maps them into the one import root (``[tool.setuptools.package-dir]``:
``hybrid_ai_platform.components`` is ``components/``). An installed wheel has that layout on disk; a
checkout has it only through the editable install's import hook, which serves one checkout per
virtualenv and which static tools (mypy) do not run. :func:`link_import_tree` builds the installed layout
of any checkout out of symbolic links, so that a directory first on ``PYTHONPATH`` (or mypy's working
directory) imports exactly that checkout's code: ``blueprint pr-check`` plans each git revision with its
own components this way, and ``make lint`` type-checks through it.

    python -m hybrid_ai_platform.cli.layout <checkout> <dest>
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path


def package_dirs(root: Path) -> dict[str, str]:
    """The ``[tool.setuptools.package-dir]`` mapping of ``root/pyproject.toml`` without the ``""`` entry.

    Empty when the file, the table or the mapping is absent (a checkout from before the namespaced layout).
    """
    try:
        document = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    mapping = document.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    return {name: path for name, path in mapping.items() if name} if isinstance(mapping, dict) else {}


def link_import_tree(root: Path, dest: Path) -> list[str]:
    """Make ``dest`` import like ``root`` installed; return the top-level packages linked (none without a mapping).

    A mapped top-level package becomes a link to its folder; each mapped package ``<top>.<sub>`` becomes
    ``dest/<top>/<sub>``, a link to its folder in ``root``; every other entry of ``root/<top>/`` is linked
    beside it. ``dest`` is replaced if it exists.
    """
    mapping = package_dirs(root)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    tops: dict[str, dict[str, Path]] = {}
    for name, path in sorted(mapping.items()):
        top, _, sub = name.partition(".")
        if "." in sub:
            raise ValueError(f"pyproject.toml package-dir '{name}': only '<package>[.<subpackage>]' entries are linked")
        if not sub:  # a top-level package in another folder
            (dest / top).symlink_to((root / path).resolve(), target_is_directory=True)
            continue
        tops.setdefault(top, {})[sub] = (root / path).resolve()
    for top, subs in tops.items():
        package = dest / top
        package.mkdir()
        source = root / top
        if source.is_dir():
            for entry in sorted(source.iterdir()):
                if entry.name != "__pycache__" and entry.name not in subs:
                    (package / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
        for sub, target in subs.items():
            (package / sub).symlink_to(target, target_is_directory=True)
    return sorted({name.partition(".")[0] for name in mapping})


def main(argv: list[str] | None = None) -> int:
    """``python -m hybrid_ai_platform.cli.layout <checkout> <dest>``: build the link tree, print its packages."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m hybrid_ai_platform.cli.layout <checkout> <dest>", file=sys.stderr)
        return 2
    linked = link_import_tree(Path(args[0]), Path(args[1]))
    print(" ".join(linked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
