"""The preprocessing function reads the variable names in hybrid_ai_platform.contracts, and the component sets them.

The Lambda package is built without the library, so it keeps its own list; this test compares it with the
contracts and runs the function's real settings parser on the environment the component builds.
"""

from __future__ import annotations

import pytest
from hybrid_ai_platform.components.preprocessing import function_environment
from preprocessing.config import REQUIRED_VARIABLES, ConfigurationError, Settings

from hybrid_ai_platform import contracts

FEATURE_SET = "transactions"


def _environment(sweep_queue_url: str, scheduled: bool = False) -> dict[str, str]:
    env = function_environment(
        name="transactions",
        feature_set=FEATURE_SET,
        landing_prefix="raw/tx/",
        environment={},
        scheduled=scheduled,
        landing_bucket="acme-landing",
        feature_bucket="acme-features",
        code_version="abc123",
        metrics_namespace="HybridAI/Preprocessing",
        sweep_queue_url=sweep_queue_url,
    )
    return {k: str(v) for k, v in env.items()}


def test_required_variables_are_the_contract() -> None:
    assert tuple(REQUIRED_VARIABLES) == contracts.PREPROCESSING_ENV_VARS


def test_component_sets_exactly_the_contract_variables() -> None:
    env = _environment("")
    assert set(env) == {*contracts.PREPROCESSING_ENV_VARS, *contracts.POWERTOOLS_ENV_VARS}


@pytest.mark.parametrize("missing", contracts.PREPROCESSING_ENV_VARS)
def test_the_function_refuses_an_environment_without_a_contract_variable(missing: str) -> None:
    env = _environment("")
    del env[missing]
    with pytest.raises(ConfigurationError, match=missing):
        Settings.from_environ(env)


def test_the_function_accepts_the_component_environment_and_reads_the_sweep_queue() -> None:
    url = "https://sqs.eu-central-1.amazonaws.com/123456789012/dev-transactions"
    env = _environment(url, scheduled=True)
    assert env[contracts.PREPROCESSING_SWEEP_QUEUE_VAR] == url
    settings = Settings.from_environ(env)
    assert settings.sweep_queue_url == url
    assert settings.feature_set == FEATURE_SET


def test_the_worker_derives_its_batch_budget_from_the_visibility_timeout_the_stack_sets() -> None:
    from preprocessing.worker import VISIBILITY_TO_TIMEOUT

    assert VISIBILITY_TO_TIMEOUT == contracts.VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT
