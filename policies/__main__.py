"""Entry point of the policy pack, as the Pulumi CLI starts it: ``python <pack dir>``.

The CLI's Python language host runs the pack directory with the virtualenv named in
``PulumiPolicy.yaml`` (the project's ``../.venv``), where the library is installed; the rules are the
installed package :mod:`hybrid_ai_platform.policies`. Relative ``exceptionsFile`` paths in the policy
config resolve against this directory. ``PolicyPack`` starts the analyzer gRPC server, prints its port on
stdout and serves until killed.
"""

from __future__ import annotations

from pathlib import Path

from hybrid_ai_platform.policies import PACK_NAME, exceptions
from hybrid_ai_platform.policies.conversions import share_property_conversions
from hybrid_ai_platform.policies.framework import pack_policies
from pulumi_policy import EnforcementLevel, PolicyPack

exceptions.PACK_DIR = Path(__file__).resolve().parent
share_property_conversions()  # pulumi_policy converts a resource's properties once per policy; once is enough

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(pack_policies()),
    description="Data residency, tagging, budget and security baseline for the Hybrid AI Platform Blueprints.",
    provider="aws",
    tags=["residency", "tagging", "budget", "security"],
)
