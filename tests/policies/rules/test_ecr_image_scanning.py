"""ecr-image-scanning: repository scanOnPush, or the registry scanning configuration's filters when one exists."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.rules.ecr_image_scanning import matches
from hybrid_ai_platform.policies.testing import UNKNOWN, policy_resource, stack_args

from tests.policies.rules.support import assert_waived, check

NAME = "ecr-image-scanning"


def _repo(scan: object = True, name: str = "platform/fraud-scorer"):
    props: dict = {"name": name}
    if scan is not None:
        props["imageScanningConfiguration"] = {"scanOnPush": scan}
    return policy_resource("aws:ecr/repository:Repository", props, name.replace("/", "-"))


def _registry(scan_type: str, *rules: tuple[str, list[str]]):
    props = {
        "scanType": scan_type,
        "rules": [
            {"scanFrequency": f, "repositoryFilters": [{"filter": x, "filterType": "WILDCARD"} for x in fs]}
            for f, fs in rules
        ],
    }
    return policy_resource("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration", props, "scanning")


def test_scan_on_push_or_a_matching_registry_rule_passes() -> None:
    assert check(NAME, stack_args([_repo()])).passed
    assert check(NAME, stack_args([_repo(False), _registry("ENHANCED", ("CONTINUOUS_SCAN", ["platform/*"]))])).passed
    assert check(NAME, stack_args([_repo(False), _registry("BASIC", ("SCAN_ON_PUSH", ["fraud"]))])).passed


@pytest.mark.parametrize("scan", [False, None, "false"])
def test_repository_without_scanning_fails(scan: object) -> None:
    assert check(NAME, stack_args([_repo(scan)])).messages == [
        "repository 'platform-fraud-scorer' does not scan images on push"
    ]


@pytest.mark.parametrize("scan_type", ["BASIC", "ENHANCED"])
def test_registry_configuration_overrides_the_repository_setting(scan_type: str) -> None:
    registry = _registry(scan_type, ("SCAN_ON_PUSH", ["other-*"]), ("MANUAL", ["*"]))
    (message,) = check(NAME, stack_args([_repo(True), registry])).messages
    assert f"matches no scan-on-push or continuous rule of the {scan_type}" in message


def test_filter_semantics_follow_ecr() -> None:
    # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-filters.html (table)
    names = ["prod", "repo-prod", "prod-repo", "repo-prod-repo", "prodrepo"]
    assert [matches(n, "prod") for n in names] == [True] * 5
    assert [matches(n, "*prod") for n in names] == [True, True, False, False, False]
    assert [matches(n, "prod*") for n in names] == [True, False, True, False, True]
    assert [matches(n, "prod*repo") for n in names] == [False, False, True, False, True]


def test_unknown_values_skip_the_repository_and_no_repository_is_nothing_to_judge() -> None:
    assert check(NAME, stack_args([_repo(UNKNOWN)])).passed
    assert check(NAME, stack_args([policy_resource("aws:s3/bucket:Bucket", {}, "b")])).passed


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: stack_args([_repo(False)], config), exceptions_file)
