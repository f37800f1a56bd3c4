"""ecr-tag-immutability: MUTABLE (the default) fails; exclusions may not cover every tag."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check

NAME = "ecr-tag-immutability"


def _repo(config: dict | None = None, **props):
    return resource_args("aws:ecr/repository:Repository", {"name": "app", **props}, name="repo", config=config)


def test_immutable_passes() -> None:
    assert check(NAME, _repo(imageTagMutability="IMMUTABLE")).passed
    filters = [{"filter": "latest", "filterType": "WILDCARD"}]
    assert check(
        NAME, _repo(imageTagMutability="IMMUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=filters)
    ).passed


@pytest.mark.parametrize(
    "props", [{}, {"imageTagMutability": "MUTABLE"}, {"imageTagMutability": "MUTABLE_WITH_EXCLUSION"}]
)
def test_mutable_forms_fail(props: dict) -> None:
    (message,) = check(NAME, _repo(**props)).messages
    assert "a pushed tag can be overwritten" in message


def test_exclusion_of_every_tag_fails() -> None:
    filters = [{"filter": "*", "filterType": "WILDCARD"}]
    outcome = check(
        NAME, _repo(imageTagMutability="IMMUTABLE_WITH_EXCLUSION", imageTagMutabilityExclusionFilters=filters)
    )
    assert outcome.messages == ["repository 'repo' excludes every tag (['*']) from immutability"]


def test_not_applicable_to_other_types_and_unknown_values() -> None:
    assert check(NAME, resource_args("aws:ecr/lifecyclePolicy:LifecyclePolicy", {})).not_applicable
    assert check(NAME, _repo(imageTagMutability=UNKNOWN)).not_applicable


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: _repo(config), exceptions_file)
