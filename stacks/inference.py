"""The core-inference half of the stack (network, EKS, GPU nodes, model services).

Issue #3 fills this in; until then the program builds the data plane only.
"""

from __future__ import annotations

from .context import StackContext


def build_inference_platform(ctx: StackContext) -> None:
    """Build the network, cluster, node groups and inference services described by ``ctx.config``."""
    del ctx
