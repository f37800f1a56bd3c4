"""Settings from environment variables: defaults, validation, S3 layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_server.config import ConfigError, S3Location, Settings
from inference_server.model import ModelLoadError, choose_providers

BASE = {"MODEL_REPOSITORY": "s3://acme-models/models", "MODEL_NAME": "fraud", "MODEL_VERSION": "3"}


def test_defaults_apply_when_only_the_required_variables_are_set() -> None:
    # GIVEN only the three required variables WHEN parsed THEN documented defaults apply
    settings = Settings.from_env(BASE)
    assert settings.port == 8080
    assert settings.max_batch_size == 32 and settings.max_queue_delay_ms == 5
    assert settings.batching_enabled
    assert settings.model_cache_dir == Path("/var/cache/models")
    assert settings.execution_providers is None
    assert settings.model_uri == "s3://acme-models/models/fraud/3/model.onnx"


def test_zero_queue_delay_disables_batching_and_provider_override_is_parsed() -> None:
    settings = Settings.from_env({**BASE, "MAX_QUEUE_DELAY_MS": "0", "ORT_EXECUTION_PROVIDERS": "CPUExecutionProvider"})
    assert not settings.batching_enabled
    assert settings.execution_providers == ("CPUExecutionProvider",)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MODEL_REPOSITORY is required; MODEL_NAME is required; MODEL_VERSION is required"),
        ({**BASE, "MODEL_REPOSITORY": "https://bucket/x"}, "must be an s3:// URI"),
        ({**BASE, "MODEL_REPOSITORY": "s3://A_B/x"}, "invalid S3 bucket name"),
        ({**BASE, "MODEL_NAME": "../etc"}, "MODEL_NAME must match"),
        ({**BASE, "MODEL_VERSION": "1/../2"}, "MODEL_VERSION must match"),
        ({**BASE, "PORT": "http"}, "PORT must be an integer"),
        ({**BASE, "PORT": "70000"}, "PORT must be between 1 and 65535"),
        ({**BASE, "MAX_BATCH_SIZE": "0"}, "MAX_BATCH_SIZE must be between"),
        ({**BASE, "MAX_QUEUE_DELAY_MS": "-1"}, "MAX_QUEUE_DELAY_MS must be between"),
        ({**BASE, "MODEL_CACHE_DIR": "relative/dir"}, "MODEL_CACHE_DIR must be an absolute path"),
        ({**BASE, "ORT_EXECUTION_PROVIDERS": "cuda"}, "ORT_EXECUTION_PROVIDERS must be"),
        ({**BASE, "LOG_LEVEL": "chatty"}, "LOG_LEVEL must be one of"),
    ],
)
def test_invalid_environment_is_rejected_with_a_clear_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Settings.from_env(env)


def test_s3_layout_follows_the_triton_model_repository() -> None:
    assert S3Location.parse("s3://acme-models/").key_for("m", "1") == "m/1/model.onnx"
    assert S3Location.parse("s3://acme-models/a/b/").key_for("m", "2") == "a/b/m/2/model.onnx"


def test_cuda_is_preferred_when_available_else_cpu() -> None:
    assert choose_providers(None, ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert choose_providers(None, ["AzureExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(("CUDAExecutionProvider",), ["CUDAExecutionProvider", "CPUExecutionProvider"]) == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    with pytest.raises(ModelLoadError, match="TensorrtExecutionProvider"):
        choose_providers(("TensorrtExecutionProvider",), ["CPUExecutionProvider"])
