"""tags-required: required keys present, exactly spelled, and not empty."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, provider, resource_args

from tests.policies.rules.support import assert_waived, check

NAME = "tags-required"
TAGS = {
    "environment": "prod",
    "owner": "ml-platform",
    "cost-center": "cc-4711",
    "data-classification": "restricted",
    "managed-by": "pulumi/x",
}


def _topic(tags: dict, config: dict | None = None, defaults: dict | None = None):
    return resource_args(
        "aws:sns/topic:Topic",
        {"tags": tags},
        name="t",
        config=config,
        provider_resource=provider(default_tags=defaults),
    )


def test_all_keys_with_values_pass_also_through_provider_default_tags() -> None:
    assert check(NAME, _topic(TAGS)).passed
    assert check(NAME, _topic({}, defaults=TAGS)).passed


@pytest.mark.parametrize("empty", ["", "   "])
def test_present_but_empty_value_fails(empty: str) -> None:
    assert check(NAME, _topic({**TAGS, "owner": empty})).messages == ["required tag 'owner' is empty"]


def test_resource_tag_cannot_blank_a_default_tag() -> None:
    assert check(NAME, _topic({"owner": ""}, defaults=TAGS)).messages == ["required tag 'owner' is empty"]


def test_missing_and_miscased_keys_fail() -> None:
    tags = {k: v for k, v in TAGS.items() if k != "owner"}
    assert check(NAME, _topic(tags)).messages == ["required tag 'owner' is missing"]
    miscased = {**tags, "Owner": "ml-platform"}
    assert "must be spelled exactly 'owner'" in check(NAME, _topic(miscased)).messages[0]


def test_not_applicable_to_untaggable_types_and_unknown_tags() -> None:
    assert check(NAME, resource_args("aws:iam/rolePolicy:RolePolicy", {})).not_applicable
    assert check(NAME, _topic(UNKNOWN)).not_applicable  # type: ignore[arg-type]


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: _topic({**TAGS, "owner": ""}, config), exceptions_file)
