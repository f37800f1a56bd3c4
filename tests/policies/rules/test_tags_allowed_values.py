"""tags-allowed-values: values from the allowed list (wildcards) or matching a pattern from the config."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check

NAME = "tags-allowed-values"
CONFIG = {
    "allowedValues": {"environment": ["prod"], "cost-center": ["cc-*"]},
    "allowedPatterns": {"cost-center": "^cc-[0-9]{4,}$", "owner": "^[a-z][a-z0-9-]*[a-z0-9]$"},
}


def _topic(tags: dict, config: dict | None = None):
    return resource_args("aws:sns/topic:Topic", {"tags": tags}, name="t", config={**CONFIG, **(config or {})})


def test_values_in_the_list_and_matching_the_patterns_pass() -> None:
    assert check(NAME, _topic({"environment": "prod", "cost-center": "cc-4711", "owner": "ml-platform"})).passed


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"cost-center": "cc-"}, "tag 'cost-center' has value 'cc-'; it must match ^cc-[0-9]{4,}$"),
        ({"cost-center": "cc-12ab"}, "it must match"),
        ({"owner": "ML Platform"}, "tag 'owner' has value 'ML Platform'; it must match"),
        ({"owner": ""}, "tag 'owner' has value ''"),
        ({"environment": "production"}, "tag 'environment' has value 'production'; allowed: ['prod']"),
    ],
)
def test_values_outside_the_list_or_pattern_fail(tags: dict, expected: str) -> None:
    messages = check(NAME, _topic(tags)).messages
    assert messages and expected in messages[0]


def test_pattern_must_match_the_whole_value() -> None:
    assert check(NAME, _topic({"cost-center": "xcc-4711"})).messages
    assert check(NAME, _topic({"cost-center": "cc-4711 "})).messages


def test_key_case_is_exact_for_pattern_keys_too() -> None:
    assert check(NAME, _topic({"Owner": "ml-platform"})).messages == [
        "tag key 'Owner' must be spelled exactly 'owner' (tag policies compare keys by case)"
    ]


def test_not_applicable_without_config_untaggable_types_or_unknown_tags() -> None:
    outcome = check(NAME, resource_args("aws:sns/topic:Topic", {"tags": {}}, config={}))
    assert outcome.not_applicable
    assert check(NAME, resource_args("aws:iam/rolePolicy:RolePolicy", {}, config=CONFIG)).not_applicable
    assert check(NAME, _topic(UNKNOWN)).not_applicable  # type: ignore[arg-type]


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: _topic({"owner": "Bob"}, config), exceptions_file)
