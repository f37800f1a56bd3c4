"""The inference server and batch mode read the names, port and layout in hybrid_ai_platform.contracts.

The workload image is built without the library, so it keeps its own constants; these tests read them (and run
the real settings parser and route table) and compare them with the contracts the components deploy against.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_server import batch, drift
from inference_server.app import create_app
from inference_server.config import ENV_VARS, S3Location, Settings
from inference_server.repository import MODEL_FILE, ModelRepository
from inference_server.signature import SIGNATURE_FILE

from hybrid_ai_platform import contracts

MINIMAL_ENV = {"MODEL_REPOSITORY": "s3://acme-models/models", "MODEL_NAME": "fraud", "MODEL_VERSION": "3"}


def test_server_reads_every_contract_variable() -> None:
    assert set(contracts.SERVER_ENV_VARS) <= ENV_VARS
    assert set(contracts.METRICS_ENV_VARS) <= drift.ENV_VARS


def test_batch_reads_every_contract_variable() -> None:
    assert set(contracts.BATCH_ENV_VARS) <= batch.ENV_VARS


def test_default_port_is_the_serving_port() -> None:
    settings = Settings.from_env(MINIMAL_ENV)
    assert settings.port == contracts.SERVING_PORT
    assert Settings.from_env({**MINIMAL_ENV, "PORT": str(contracts.SERVING_PORT + 1)}).port != contracts.SERVING_PORT


def test_model_repository_layout() -> None:
    assert MODEL_FILE == contracts.MODEL_FILE
    assert SIGNATURE_FILE == contracts.SIGNATURE_FILE
    for prefix in ("models", "registry/models", ""):
        location = S3Location(bucket="acme-models", prefix=prefix)
        for filename in (MODEL_FILE, SIGNATURE_FILE):
            assert location.key_for("fraud", "3", filename) == contracts.model_key(prefix, "fraud", "3", filename)
    settings = Settings.from_env(MINIMAL_ENV)
    assert settings.model_uri == "s3://acme-models/" + contracts.model_key("models", "fraud", "3")


def test_routes_serve_the_contract_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    settings = Settings.from_env({**MINIMAL_ENV, "MODEL_CACHE_DIR": str(tmp_path)})
    app = create_app(settings, repository=ModelRepository(settings.model_repository, settings.model_cache_dir))
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {contracts.METRICS_PATH, contracts.LIVENESS_PATH, contracts.READINESS_PATH} <= paths
