"""The ``blueprint`` command line: offline synthesis, the policy pack driver, system checks, diff and reports.

Entry point: :func:`hybrid_ai_platform.cli.main.main` (``blueprint`` on the path, or
``python -m hybrid_ai_platform.cli``).
"""
