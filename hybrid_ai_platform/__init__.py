"""Hybrid AI Platform Blueprints: Pulumi components, a CrossGuard policy pack and an offline plan CLI.

The distribution installs one import root, ``hybrid_ai_platform``:

- :mod:`hybrid_ai_platform.components`: the Pulumi components and their Args (the public API);
- :mod:`hybrid_ai_platform.contracts`: facts shared by components, policies and workloads (no dependencies);
- :mod:`hybrid_ai_platform.policies`: the CrossGuard policy pack's rules, cost model and exceptions;
- :mod:`hybrid_ai_platform.cli`: the ``blueprint`` command (plan, diff, pr-check, preflight, ...).

Importing this package imports nothing else.
"""

__version__ = "0.2.0"
"""The library's and the policy pack's version (``policies/PulumiPolicy.yaml`` carries the same)."""

__all__ = ["__version__"]
