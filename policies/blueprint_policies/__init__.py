"""Hybrid AI Platform policy pack: residency, tagging, budget and security baseline.

The pack is a CrossGuard (``pulumi_policy``) pack. It judges resources exactly as the Pulumi
engine hands them over (camelCase engine property names) and never imports the library's
components. Modules:

- :mod:`blueprint_policies.framework`: policy metadata, the base classes and the registry.
- :mod:`blueprint_policies.rules`: one policy per module.
- :mod:`blueprint_policies.exceptions`: exceptions as code (``policies/exceptions/<env>.yaml``).
- :mod:`blueprint_policies.cost`: the monthly cost estimate shared with the CLI.
- :mod:`blueprint_policies.testing`: fixtures for policy authors' tests.
"""

PACK_NAME = "hybrid-ai-platform-policies"
"""Name of the pack as the engine reports it (also in ``PulumiPolicy.yaml``)."""
