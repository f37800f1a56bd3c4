"""Cold import of the handler (issue 17, goal 2): the X-Ray SDK only when tracing is on, same tracing then.

Each case runs in a fresh interpreter, since what matters is what ``import preprocessing.handler`` loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from lambda_support import PROJECT_ROOT, lambda_environment

_PROBE = """
import json, sys
import preprocessing.handler as h
from aws_lambda_powertools import Tracer
print(json.dumps({
    "xray_imported": "aws_xray_sdk" in sys.modules,
    "batch_imported": "aws_lambda_powertools.utilities.batch" in sys.modules,
    "real_tracer": isinstance(h.tracer, Tracer),
    "handler_wrapped": hasattr(h.lambda_handler, "__wrapped__") and h.lambda_handler.__wrapped__ is not None,
}))
"""


def _probe(env_overrides: dict[str, str | None]) -> dict[str, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_"))}
    env |= lambda_environment()
    for name, value in env_overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["PYTHONPATH"] = str(PROJECT_ROOT / "lambda_src")
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"POWERTOOLS_TRACE_DISABLED": "true", "LAMBDA_TASK_ROOT": "/var/task"}, id="disabled-by-env"),
        pytest.param({"POWERTOOLS_TRACE_DISABLED": None, "LAMBDA_TASK_ROOT": None}, id="outside-lambda"),
        pytest.param(
            {"POWERTOOLS_TRACE_DISABLED": None, "LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"},
            id="sam-local",
        ),
    ],
)
def test_tracing_off_imports_neither_the_xray_sdk_nor_the_batch_utility(overrides: dict[str, str | None]) -> None:
    # GIVEN an environment in which Powertools disables tracing
    # WHEN the handler is imported in a fresh interpreter
    seen = _probe(overrides)
    # THEN the X-Ray SDK and the batch utility stay unimported, and no real Tracer exists
    assert seen["xray_imported"] is False
    assert seen["batch_imported"] is False
    assert seen["real_tracer"] is False


def test_tracing_on_uses_powertools_tracer_as_before() -> None:
    # GIVEN the deployed function's environment: in Lambda, Active tracing, no POWERTOOLS_TRACE_DISABLED
    seen = _probe({"POWERTOOLS_TRACE_DISABLED": None, "LAMBDA_TASK_ROOT": "/var/task"})
    # THEN the handler holds a real Powertools Tracer wrapping the entry point and the record handler
    assert seen["real_tracer"] is True
    assert seen["xray_imported"] is True
    assert seen["handler_wrapped"] is True


def test_make_tracer_follows_powertools_rule_for_every_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools import Tracer
    from preprocessing.tracing import NoTracer, make_tracer

    cases = [
        {"POWERTOOLS_TRACE_DISABLED": "1", "LAMBDA_TASK_ROOT": "/var/task"},
        {"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": "/var/task"},
        {"LAMBDA_TASK_ROOT": "/var/task"},
        {"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"},
        {},
    ]
    for case in cases:
        for name in ("POWERTOOLS_TRACE_DISABLED", "LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in case.items():
            monkeypatch.setenv(name, value)
        # WHEN both decide, THEN ours is a real tracer exactly when Powertools' would be enabled
        expected_enabled = not Tracer._is_tracer_disabled()
        assert isinstance(make_tracer(), NoTracer) is (not expected_enabled), case


def test_the_inert_tracer_leaves_functions_and_errors_untouched() -> None:
    from preprocessing.tracing import NoTracer

    tracer = NoTracer()

    def boom(x: int) -> int:
        raise ValueError(x)

    # WHEN decorated either way, THEN the very function comes back (so exceptions and results are unchanged)
    assert tracer.capture_method(boom) is boom
    assert tracer.capture_lambda_handler(capture_response=False)(boom) is boom
    with pytest.raises(ValueError, match="3"):
        tracer.capture_method()(boom)(3)
