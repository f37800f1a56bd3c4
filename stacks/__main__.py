"""Pulumi entry point: ``pulumi up -s <env>`` runs this file (``main: stacks/`` in Pulumi.yaml)."""

from stacks.program import main

main()
