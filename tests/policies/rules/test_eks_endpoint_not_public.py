"""eks-endpoint-not-public: the public endpoint's CIDR list judged by its union."""

from __future__ import annotations

import pytest
from hybrid_ai_platform.policies.testing import UNKNOWN, resource_args

from tests.policies.rules.support import assert_waived, check

NAME = "eks-endpoint-not-public"


def _cluster(cidrs: list[str] | None, public: bool | None = True, config: dict | None = None):
    vpc: dict = {"subnetIds": ["subnet-1"]}
    if public is not None:
        vpc["endpointPublicAccess"] = public
    if cidrs is not None:
        vpc["publicAccessCidrs"] = cidrs
    return resource_args("aws:eks/cluster:Cluster", {"vpcConfig": vpc}, name="c", config=config)


@pytest.mark.parametrize("cidrs", [["203.0.113.0/24"], ["198.51.100.7/32", "2001:db8::/32"], ["0.0.0.0/1"]])
def test_private_or_listed_cidrs_pass(cidrs: list[str]) -> None:
    assert check(NAME, _cluster(None, public=False)).passed
    assert check(NAME, _cluster(cidrs)).passed


@pytest.mark.parametrize(
    ("cidrs", "internet"),
    [
        (["0.0.0.0/0"], "IPv4"),
        (["0.0.0.0/1", "128.0.0.0/1"], "IPv4"),
        (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"], "IPv4"),
        (["::/0"], "IPv6"),
        (["2000::/4", "3000::/4"], "IPv6"),
        (["0.0.0.0/1", "128.0.0.1/1"], "IPv4"),
    ],
)
def test_a_union_that_covers_the_internet_fails(cidrs: list[str], internet: str) -> None:
    (message,) = check(NAME, _cluster(cidrs)).messages
    assert f"cover the {internet} internet" in message


def test_every_public_range_without_the_private_ones_is_the_internet() -> None:
    # 0.0.0.0/0 minus 10.0.0.0/8: everything routable is still listed
    cidrs = [
        "0.0.0.0/5",
        "8.0.0.0/7",
        "11.0.0.0/8",
        "12.0.0.0/6",
        "16.0.0.0/4",
        "32.0.0.0/3",
        "64.0.0.0/2",
        "128.0.0.0/1",
    ]
    assert "IPv4 internet" in check(NAME, _cluster(cidrs)).messages[0]


def test_unset_public_access_defaults_open() -> None:
    assert "no publicAccessCidrs" in check(NAME, _cluster(None, public=None)).messages[0]


def test_not_applicable_to_other_types_and_unknown_lists() -> None:
    assert check(NAME, resource_args("aws:eks/nodeGroup:NodeGroup", {})).not_applicable
    assert check(NAME, _cluster(UNKNOWN)).not_applicable  # type: ignore[arg-type]


def test_exception_waives(exceptions_file) -> None:
    assert_waived(NAME, lambda config: _cluster(["0.0.0.0/1", "128.0.0.0/1"], config=config), exceptions_file)
