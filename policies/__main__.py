"""Entry point of the policy pack, as the Pulumi CLI starts it: ``python <pack dir>``.

The CLI's Python language host runs the pack directory with the virtualenv named in
``PulumiPolicy.yaml``; ``sys.path[0]`` is then this directory, so ``blueprint_policies`` imports
from here. The same package is importable elsewhere through the project's editable install.
``PolicyPack`` starts the analyzer gRPC server, prints its port on stdout and serves until killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACK_DIR = str(Path(__file__).resolve().parent)
if _PACK_DIR not in sys.path:
    sys.path.insert(0, _PACK_DIR)

from blueprint_policies import PACK_NAME  # noqa: E402
from blueprint_policies.framework import pack_policies  # noqa: E402
from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(pack_policies()),
    description="Data residency, tagging, budget and security baseline for the Hybrid AI Platform Blueprints.",
    provider="aws",
    tags=["residency", "tagging", "budget", "security"],
)
