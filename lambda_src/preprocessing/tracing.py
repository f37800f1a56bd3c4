"""The function's tracer: Powertools' ``Tracer`` when tracing is on, an inert stand-in when it is off.

Creating a ``Tracer`` imports the X-Ray SDK, whose recorder builds botocore clients at import time (about
150 ms of a cold start). Powertools disables tracing (``Tracer._is_tracer_disabled``) when
``POWERTOOLS_TRACE_DISABLED`` is truthy, outside Lambda (no ``LAMBDA_TASK_ROOT``) and under SAM/Chalice
local emulation; in those cases a disabled ``Tracer`` records nothing, so :class:`NoTracer` keeps the same
behaviour without the import. With tracing on (the function's default: X-Ray ``Active`` tracing and no
``POWERTOOLS_TRACE_DISABLED``) this returns a real ``Tracer`` and traces exactly as before.
See https://docs.powertools.aws.dev/lambda/python/latest/core/tracer/ (environment variables).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])


class NoTracer:
    """Stands in for a disabled Powertools ``Tracer``: the decorators return the function unchanged."""

    disabled = True

    @overload
    def capture_method(self, method: F, **options: Any) -> F: ...
    @overload
    def capture_method(self, method: None = None, **options: Any) -> Callable[[F], F]: ...
    def capture_method(self, method: F | None = None, **options: Any) -> F | Callable[[F], F]:
        """Like ``Tracer.capture_method`` with tracing disabled: no subsegment, the method as it is."""
        return method if method is not None else (lambda fn: fn)

    @overload
    def capture_lambda_handler(self, lambda_handler: F, **options: Any) -> F: ...
    @overload
    def capture_lambda_handler(self, lambda_handler: None = None, **options: Any) -> Callable[[F], F]: ...
    def capture_lambda_handler(self, lambda_handler: F | None = None, **options: Any) -> F | Callable[[F], F]:
        """Like ``Tracer.capture_lambda_handler`` with tracing disabled."""
        return lambda_handler if lambda_handler is not None else (lambda fn: fn)

    def put_annotation(self, key: str, value: Any) -> None:
        """No-op, as on a disabled ``Tracer``."""

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        """No-op, as on a disabled ``Tracer``."""


def tracing_enabled() -> bool:
    """Powertools' own decision (``Tracer._is_tracer_disabled``), taken without importing the X-Ray SDK."""
    from aws_lambda_powertools.tracing.tracer import Tracer

    return not Tracer._is_tracer_disabled()


def make_tracer() -> Any:
    """A Powertools ``Tracer`` if :func:`tracing_enabled`, else a :class:`NoTracer`."""
    if tracing_enabled():
        from aws_lambda_powertools import Tracer

        return Tracer()
    return NoTracer()
