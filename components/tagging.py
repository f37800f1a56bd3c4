"""Required tags, applied explicitly to every taggable AWS resource.

Engine-side resource transforms are not run by Pulumi's mock runtime, so a tag applied by a
transform would be missing from the offline plan while present in a real deployment. This
library passes tags explicitly instead: each component takes the stack's tags in its args and
sets ``tags=`` on every child that accepts them, so the plan, the policies and the real
engine all see the same values. :func:`is_taggable` tells, from the pulumi-aws SDK itself,
which resource types accept tags; the test suite uses it to prove no taggable resource in a
shipped stack lacks a required tag.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Mapping

from hybrid_ai_platform.contracts import REQUIRED_TAG_KEYS

__all__ = ["REQUIRED_TAG_KEYS", "is_taggable", "merge_tags"]


def merge_tags(base: Mapping[str, str], *more: Mapping[str, str] | None) -> dict[str, str]:
    """Merge tag maps left to right; later maps win, except that required keys keep ``base``'s value.

    >>> merge_tags({"owner": "ml"}, {"owner": "x", "Name": "queue"})
    {'owner': 'ml', 'Name': 'queue'}
    """
    merged: dict[str, str] = dict(base)
    for extra in more:
        for key, value in (extra or {}).items():
            if key in REQUIRED_TAG_KEYS and key in base:
                continue
            merged[key] = value
    return merged


@functools.lru_cache(maxsize=512)
def is_taggable(type_token: str) -> bool:
    """Whether the pulumi-aws resource ``type_token`` (``aws:s3/bucket:Bucket``) accepts ``tags``.

    Reads the resource class's constructor in the installed pulumi-aws SDK. Tokens of other
    packages, and unknown tokens, are not taggable.
    """
    package, _, rest = type_token.partition(":")
    if package != "aws" or ":" not in rest:
        return False
    module_path, _, class_name = rest.partition(":")
    module = module_path.split("/")[0]
    for candidate in (f"pulumi_aws.{module}", f"pulumi_aws.{module}_"):
        try:
            mod = importlib.import_module(candidate)
        except ImportError:
            continue
        cls = getattr(mod, class_name, None)
        if cls is None:
            continue
        init = getattr(cls, "_internal_init", None) or cls.__init__
        return "tags" in inspect.signature(init).parameters
    return False
