"""Constants and the function's environment for the preprocessing Lambda tests.

A uniquely named module (not ``conftest``) so test folders importing their own helpers never clash.
"""

from __future__ import annotations

from pathlib import Path

from esm_harness import REGION

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT_ROOT / "lambda_src" / "samples"
LANDING_BUCKET = "hybrid-ai-landing-test"
FEATURE_BUCKET = "hybrid-ai-features-test"
LANDING_PREFIX = "raw/transactions/"
FEATURE_SET = "transactions"


def lambda_environment() -> dict[str, str]:
    """The environment the Pulumi component sets, plus fake credentials for moto."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "LANDING_BUCKET": LANDING_BUCKET,
        "LANDING_PREFIX": LANDING_PREFIX,
        "FEATURE_BUCKET": FEATURE_BUCKET,
        "FEATURE_SET": FEATURE_SET,
        "FEATURE_PREFIX": f"{FEATURE_SET}/",
        "QUARANTINE_PREFIX": f"{FEATURE_SET}/_quarantine/",
        "MANIFEST_PREFIX": f"{FEATURE_SET}/_manifests/",
        "CODE_VERSION": "0" * 64,
        "POWERTOOLS_SERVICE_NAME": "preprocessing",
        "POWERTOOLS_METRICS_NAMESPACE": "HybridAI/Test",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
