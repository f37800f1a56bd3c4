"""kms-key-rotation: symmetric customer-managed keys rotate; asymmetric and HMAC keys cannot."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check

NAME = "kms-key-rotation"


def _key(config: dict | None = None, **props):
    return resource_args("aws:kms/key:Key", props, name="k", config=config)


def test_rotating_symmetric_key_passes() -> None:
    assert check(NAME, _key(enableKeyRotation=True)).passed
    assert check(
        NAME, _key(enableKeyRotation=True, rotationPeriodInDays=90, customerMasterKeySpec="SYMMETRIC_DEFAULT")
    ).passed


@pytest.mark.parametrize("props", [{}, {"enableKeyRotation": False}, {"enableKeyRotation": "false"}])
def test_key_without_rotation_fails(props: dict) -> None:
    assert check(NAME, _key(**props)).messages == [
        "KMS key 'k' does not rotate its key material (enableKeyRotation is not true)"
    ]


def test_too_long_period_fails() -> None:
    assert check(NAME, _key(enableKeyRotation=True, rotationPeriodInDays=730)).messages == [
        "KMS key 'k' rotates every 730 days; at most 365"
    ]
    assert check(NAME, _key({"maxRotationDays": 730}, enableKeyRotation=True, rotationPeriodInDays=730)).passed


@pytest.mark.parametrize(
    ("spec", "usage"),
    [("RSA_2048", "ENCRYPT_DECRYPT"), ("ECC_NIST_P256", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC")],
)
def test_asymmetric_and_hmac_keys_are_not_applicable(spec: str, usage: str) -> None:
    outcome = check(NAME, _key(customerMasterKeySpec=spec, keyUsage=usage))
    assert outcome.not_applicable and "only symmetric encryption keys" in outcome.not_applicable


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("aws:kms/alias:Alias", {})).not_applicable
    assert check(NAME, _key(enableKeyRotation=UNKNOWN)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: _key(config), exceptions_file)
