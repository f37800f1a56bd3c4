"""Hybrid AI Platform policy pack: residency, tagging, budget and security baseline.

The pack is a CrossGuard (``pulumi_policy``) pack. It judges resources exactly as the Pulumi
engine hands them over (camelCase engine property names) and never imports the library's
components. Modules:

- :mod:`hybrid_ai_platform.policies.framework`: policy metadata, the base classes and the registry.
- :mod:`hybrid_ai_platform.policies.rules`: one policy per module.
- :mod:`hybrid_ai_platform.policies.exceptions`: exceptions as code (``policies/exceptions/<env>.yaml``).
- :mod:`hybrid_ai_platform.policies.cost`: the monthly cost estimate shared with the CLI.
- :mod:`hybrid_ai_platform.policies.testing`: fixtures for policy authors' tests.
"""

PACK_NAME = "hybrid-ai-platform-policies"
"""Name of the pack as the engine reports it (also in ``PulumiPolicy.yaml``)."""
