"""Whether a set of CIDRs, taken together, is open to the internet (union, not one-by-one).

One implementation, shared with the stack config: :func:`hybrid_ai_platform.contracts.world_open`.
"""

from __future__ import annotations

from hybrid_ai_platform.contracts import INTERNET_V6, NOT_INTERNET_V4, world_open
from hybrid_ai_platform.contracts import parse_cidrs as parse

__all__ = ["INTERNET_V6", "NOT_INTERNET_V4", "parse", "world_open"]
