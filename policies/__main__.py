"""Entry point of the policy pack, as the Pulumi CLI starts it: ``python <pack dir>``.

The CLI's Python language host runs the pack directory with the virtualenv named in
``PulumiPolicy.yaml`` (the project's ``../.venv``), where the library is installed; the rules are the
installed package :mod:`hybrid_ai_platform.policies`. Relative ``exceptionsFile`` paths in the policy
config resolve against this directory. ``PolicyPack`` starts the analyzer gRPC server, prints its port on
stdout and serves until killed.
"""

from __future__ import annotations

import gc
from pathlib import Path

from hybrid_ai_platform.policies import PACK_NAME, exceptions
from hybrid_ai_platform.policies.conversions import share_property_conversions
from hybrid_ai_platform.policies.framework import pack_policies
from pulumi_policy import EnforcementLevel, PolicyPack

exceptions.PACK_DIR = Path(__file__).resolve().parent
share_property_conversions()  # pulumi_policy converts a resource's properties once per policy; once is enough
policies = list(pack_policies())
# What is loaded by now (Pulumi, gRPC, the policies: some 50,000 objects) lives as long as the process. Left to the
# collector, every full collection walks it again, and an AnalyzeStack of a large stack allocates enough to trigger
# several (on the 1,808-resource benchmark stack, half the pack's share took 0.62 s, 0.50 s frozen). Frozen, they are
# never walked by any collection (nor collected); what the calls allocate is collected as usual (full collections
# come sooner, as they are counted against the unfrozen objects, but each walks only those).
gc.collect()
gc.freeze()

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=policies,
    description="Data residency, tagging, budget and security baseline for the Hybrid AI Platform Blueprints.",
    provider="aws",
    tags=["residency", "tagging", "budget", "security"],
)
