"""One policy per module; each module exposes ``POLICY`` (see :func:`hybrid_ai_platform.policies.framework.discover`).

Modules whose name starts with ``_`` hold shared helpers and are not policies.
"""
