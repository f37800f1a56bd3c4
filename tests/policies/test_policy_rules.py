"""Every policy: passes its happy path, fails on one changed field, is not applicable where it
does not judge, is waived by an exception (refused for non-waivable ones) and enforced again
when the exception expired."""

from __future__ import annotations

import datetime

import pytest
from hybrid_ai_platform.policies.framework import ResourcePolicy, pack_policies
from hybrid_ai_platform.policies.testing import resource_args, run

from tests.policies.policy_cases import CASES

POLICIES = {p.meta.name: p for p in pack_policies()}
JUDGED = sorted(CASES)


def _config(name: str, **extra: object) -> dict[str, object]:
    return {**CASES[name].config, **extra}


def test_every_policy_has_cases() -> None:
    # GIVEN the pack's policies WHEN compared with the case table THEN only the audit policy has none
    assert set(POLICIES) - set(CASES) == {"policy-exceptions"}


@pytest.mark.parametrize("name", JUDGED)
def test_passes_the_happy_path(name: str) -> None:
    # GIVEN the happy-path arguments WHEN the policy runs THEN it applies and reports nothing
    outcome = run(POLICIES[name], CASES[name].build("pass", _config(name)))
    assert outcome.passed, outcome


@pytest.mark.parametrize("name", JUDGED)
def test_fails_when_one_field_changes(name: str) -> None:
    # GIVEN the happy path with one field changed WHEN the policy runs THEN the violation names the problem
    outcome = run(POLICIES[name], CASES[name].build("fail", _config(name)))
    assert outcome.not_applicable is None
    assert any(CASES[name].failure in m for m in outcome.messages), outcome.messages


def _has_specific_na(name: str) -> bool:
    """Whether the case defines its own not-applicable variant (decided at collection time)."""
    try:
        CASES[name].build("na", _config(name))
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("name", [n for n in JUDGED if CASES[n].has_na and isinstance(POLICIES[n], ResourcePolicy)])
def test_is_not_applicable_to_a_resource_it_does_not_judge(name: str) -> None:
    # GIVEN a resource of a type the policy does not judge WHEN it runs THEN it says not applicable
    outcome = run(POLICIES[name], resource_args("pulumi:pulumi:Stack", {}, config=_config(name)))
    assert outcome.not_applicable is not None and not outcome.violations


@pytest.mark.parametrize("name", [n for n in JUDGED if CASES[n].has_na and _has_specific_na(n)])
def test_is_not_applicable_where_it_does_not_judge(name: str) -> None:
    # GIVEN the case's own not-applicable arguments (e.g. an unknown value at preview)
    outcome = run(POLICIES[name], CASES[name].build("na", _config(name)))
    # THEN the policy reports not applicable rather than a false violation
    assert outcome.not_applicable is not None, outcome
    assert not outcome.violations


@pytest.mark.parametrize("name", JUDGED)
def test_exception_waives_or_is_refused(name: str, exceptions_file) -> None:
    # GIVEN an active exception for the failing resource(s)
    path = exceptions_file(
        {
            "policy": name,
            "resource": "*",
            "reason": "accepted risk for the test",
            "owner": "secops",
            "ticket": "SEC-1",
            "expires": "2025-12-31",
        }
    )
    # WHEN the failing variant runs
    outcome = run(POLICIES[name], CASES[name].build("fail", _config(name, exceptionsFile=path)))
    # THEN waivable policies report nothing but record the waiver; residency refuses it
    if POLICIES[name].meta.waivable:
        assert outcome.violations == []
        assert outcome.waived and outcome.waived[0].exception.ticket == "SEC-1"
        assert "waived" in outcome.waived[0].to_message()
    else:
        assert outcome.violations and all("refused" in m and "non-waivable" in m for m in outcome.messages)
        assert outcome.waived == []


@pytest.mark.parametrize("name", [n for n in JUDGED if POLICIES[n].meta.waivable])
def test_expired_exception_is_a_violation_again(name: str, exceptions_file, fixed_today: datetime.date) -> None:
    # GIVEN an exception that expired yesterday
    yesterday = (fixed_today - datetime.timedelta(days=1)).isoformat()
    path = exceptions_file(
        {
            "policy": name,
            "resource": "*",
            "reason": "accepted risk for the test",
            "owner": "secops",
            "ticket": "SEC-2",
            "expires": yesterday,
        }
    )
    # WHEN the failing variant runs THEN the violation is back and says the exception expired
    outcome = run(POLICIES[name], CASES[name].build("fail", _config(name, exceptionsFile=path)))
    assert outcome.violations
    assert all(f"exception SEC-2 expired on {yesterday}" in m for m in outcome.messages)
