"""JUnit XML: one test case per policy x evaluated resource; failures for violations."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from cli_helpers import by_name, plan_pair

from hybrid_ai_platform.cli.plandoc import Rule, Violation
from hybrid_ai_platform.cli.report import render_plan
from hybrid_ai_platform.cli.report.junit import evaluated_types


def _suite():
    _, head = plan_pair()
    root = ET.fromstring(render_plan("junit", head))
    return head, root, root.find("testsuite")


def test_one_testcase_per_policy_and_resource_of_an_evaluated_type() -> None:
    head, root, suite = _suite()
    cases = suite.findall("testcase")
    keys = [(c.get("classname"), c.get("name")) for c in cases]
    assert len(keys) == len(set(keys))
    per_policy = Counter(c.get("classname") for c in cases)
    buckets = sum(1 for r in head["resources"] if r["type"] == "aws:s3/bucket:Bucket")
    assert per_policy["prod.s3-bucket-versioning"] == buckets
    assert per_policy["prod.sqs-queue-dlq"] == 2
    assert per_policy["prod.budget-configured"] == 1  # resource_types []: judges the stack, one stack-level case
    tags_policy = next(p for p in head["policies"]["policies"] if p["name"] == "tags-required")
    tagged = [r for r in head["resources"] if r["custom"] and r["type"] in tags_policy["resource_types"]]
    assert per_policy["prod.tags-required"] == len(tagged)
    assert per_policy["prod.tags-required"] == 12  # declared types, not the name prefix (which knows no `tags-`)
    assert per_policy["prod.eks-public-endpoint"] == 1  # no resource_types: name-prefix fallback, the one cluster
    assert int(suite.get("tests")) == len(cases) == int(root.get("tests"))


def test_failures_are_the_blocking_violations_advisory_ones_pass_and_waived_ones_are_skipped() -> None:
    head, _, suite = _suite()
    failures = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    everything = head["policies"]["violations"] + head["checks"]["violations"]
    mandatory = [v for v in everything if v["enforcement"] == "mandatory" and not v["exception"]]
    assert int(suite.get("failures")) == len(failures) == len(mandatory) == 3
    assert "prod.system-kubernetes-schema" in {c.get("classname") for c in failures}
    assert {f.find("failure").get("type") for f in failures} == {"mandatory"}
    # the unwaived advisory violation (sqs-queue-dlq on the DLQ) passes, its message in system-out
    dlq = next(
        c
        for c in suite.findall("testcase")
        if c.get("classname") == "prod.sqs-queue-dlq" and c.get("name") == "transactions-dlq (aws:sqs/queue:Queue)"
    )
    assert dlq.find("failure") is None and dlq.find("skipped") is None
    assert "[advisory/low]" in dlq.find("system-out").text
    skipped = [c for c in suite.findall("testcase") if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped] == ["transactions-backfill-function (aws:lambda/function:Function)"]
    assert int(suite.get("skipped")) == 1


def test_a_violation_outside_the_declared_types_is_still_a_failing_case() -> None:
    # GIVEN a mandatory violation on a resource whose type the policy does not declare (and the
    # policy's existing DLQ violation made mandatory too)
    _, head = plan_pair()
    role = by_name(head, "transactions-role")
    for v in head["policies"]["violations"]:
        if v["policy"] == "sqs-queue-dlq":
            v["enforcement"] = "mandatory"
    head["policies"]["violations"].append(
        {**head["policies"]["violations"][1], "policy": "sqs-queue-dlq", "urn": role["urn"], "exception": None}
    )
    # WHEN rendered THEN the role is a case of that policy, and it fails
    suite = ET.fromstring(render_plan("junit", head)).find("testsuite")
    cases = [c for c in suite.findall("testcase") if c.get("classname") == "prod.sqs-queue-dlq"]
    assert sorted(c.get("name") for c in cases if c.find("failure") is not None) == [
        "transactions-dlq (aws:sqs/queue:Queue)",
        "transactions-role (aws:iam/role:Role)",
    ]


def test_evaluated_types_prefer_metadata_then_violations_and_the_name() -> None:
    assert evaluated_types(Rule(name="x", resource_types=["aws:sqs/queue:Queue"]), []) == ["aws:sqs/queue:Queue"]
    # declared but empty: a stack-level policy, no guessing from the name
    assert evaluated_types(Rule(name="s3-tls", resource_types=[]), []) == []
    assert evaluated_types(Rule(name="s3-tls"), []) == ["aws:s3/bucket:Bucket"]
    violation = Violation(policy="custom-check", urn="urn:x", resource_type="aws:iam/role:Role")
    assert evaluated_types(Rule(name="custom-check"), [violation]) == ["aws:iam/role:Role"]
    assert evaluated_types(Rule(name="custom-check"), []) == []
