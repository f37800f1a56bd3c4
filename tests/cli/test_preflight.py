"""``blueprint preflight``: the stack's needs against an account.

moto has no EC2/Lambda quotas in its Service Quotas backend and no Lambda ``GetAccountSettings``,
so those clients are botocore ``Stubber``s (which also validate every request against the
service model); IAM (``GetRole`` on the Auto Scaling service-linked role) runs on moto.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cli_helpers import run_cli
from moto import mock_aws

from hybrid_ai_platform.cli import preflight
from hybrid_ai_platform.cli.quotas import G_VT_ON_DEMAND, LAMBDA_CONCURRENCY, quota_needs, stack_config
from hybrid_ai_platform.cli.synth import PROJECT_ROOT

REGION = "eu-central-1"  # prod's region
PROD = stack_config("prod")
assert PROD.cluster.gpu_node_groups[0].instance_types == ["g6.2xlarge"]  # 8 vCPUs (AWS instance specifications)
GPU_NEED = PROD.cluster.gpu_node_groups[0].max_size * 8
RESERVED = sum(f.reserved_concurrency for f in PROD.preprocessing.functions)
FAKE_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and moto for IAM."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


class Account:
    """An AWS account as preflight sees it: quota values, Lambda settings, the Auto Scaling SLR."""

    def __init__(self, stack: str = "prod", values: dict[str, float] | None = None) -> None:
        self.needs = quota_needs(stack_config(stack)).needs
        # By default every quota has exactly what the stack needs.
        self.values = {n.quota_code: float(n.needed) for n in self.needs}
        self.values.update(values or {})
        self.never_changed: set[str] = set()
        lambda_need = next((n.needed for n in self.needs if n.quota == LAMBDA_CONCURRENCY), 0)
        self.lambda_limit = lambda_need
        self.lambda_unreserved = lambda_need
        self.failure = ""  # an error code GetServiceQuota answers with
        self.stubbers: list[Stubber] = []

    def with_autoscaling_role(self) -> Account:
        boto3.client("iam", region_name=REGION).create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com")
        return self

    def clients(self, region: str) -> preflight.ClientFactory:
        quotas = boto3.client("service-quotas", region_name=region, **FAKE_KEYS)
        quotas_stub = Stubber(quotas)
        for need in self.needs:
            if need.quota == LAMBDA_CONCURRENCY:
                continue
            params = {"ServiceCode": need.quota.service_code, "QuotaCode": need.quota_code}
            if self.failure:
                quotas_stub.add_client_error("get_service_quota", self.failure, expected_params=params)
                break
            if need.quota_code in self.never_changed:
                quotas_stub.add_client_error("get_service_quota", "NoSuchResourceException", expected_params=params)
                quotas_stub.add_response(
                    "get_aws_default_service_quota", {"Quota": {"Value": self.values[need.quota_code]}}, params
                )
            else:
                quotas_stub.add_response(
                    "get_service_quota", {"Quota": {"Value": self.values[need.quota_code]}}, params
                )
        lam = boto3.client("lambda", region_name=region, **FAKE_KEYS)
        lambda_stub = Stubber(lam)
        lambda_stub.add_response(
            "get_account_settings",
            {
                "AccountLimit": {
                    "ConcurrentExecutions": self.lambda_limit,
                    "UnreservedConcurrentExecutions": self.lambda_unreserved,
                }
            },
            {},
        )
        for stub in (quotas_stub, lambda_stub):
            stub.activate()
            self.stubbers.append(stub)
        clients = {"service-quotas": quotas, "lambda": lam, "iam": boto3.client("iam", region_name=region)}
        return clients.__getitem__

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Account:
        monkeypatch.setattr(preflight, "boto3_clients", self.clients)
        return self


def test_an_account_with_every_quota_and_the_role_passes(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # GIVEN an account holding exactly what prod needs, and the Auto Scaling service-linked role
    account = Account().with_autoscaling_role().install(monkeypatch)
    # WHEN preflight runs for prod
    code, out, err = run_cli(capsys, "preflight", "--stack", "prod")
    # THEN it exits 0, says so, and every expected AWS call was made
    assert (code, err) == (0, "")
    assert "Result: every quota and prerequisite fits." in out
    assert "request-service-quota-increase" not in out
    for stub in account.stubbers:
        stub.assert_no_pending_responses()


def test_a_short_gpu_quota_exits_1_with_the_request_command(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # GIVEN a fresh account: G and VT On-Demand vCPUs at 0 (prod needs max_size x 8 vCPUs)
    Account(values={G_VT_ON_DEMAND.quota_code: 0}).with_autoscaling_role().install(monkeypatch)
    # WHEN preflight runs
    code, out, _ = run_cli(capsys, "preflight", "--stack", "prod")
    # THEN it exits 1 and says what to request, with the command that requests it
    assert code == 1
    assert f"ec2 L-DB2E81BA Running On-Demand G and VT instances: current 0, needed {GPU_NEED}" in out
    assert (
        "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA "
        f"--desired-value {GPU_NEED} --region {REGION}"
    ) in out
    assert "Result: 1 check(s) short" in out


def test_a_never_changed_quota_falls_back_to_the_aws_default(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # GIVEN the G and VT quota was never changed (GetServiceQuota: NoSuchResource) and defaults to 0
    account = Account(values={G_VT_ON_DEMAND.quota_code: 0}).with_autoscaling_role()
    account.never_changed.add(G_VT_ON_DEMAND.quota_code)
    account.install(monkeypatch)
    # WHEN preflight runs as JSON
    code, out, _ = run_cli(capsys, "preflight", "--stack", "prod", "--format", "json")
    # THEN the default value is the current one, reported as such, and it is short
    assert code == 1
    result = json.loads(out)
    check = next(c for c in result["checks"] if c["quota_code"] == G_VT_ON_DEMAND.quota_code)
    assert (check["ok"], check["current"], check["source"], check["needed"]) == (False, 0, "AWS default", GPU_NEED)
    assert result["ok"] is False


def test_a_missing_autoscaling_role_exits_1_with_the_command_that_creates_it(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # GIVEN every quota fits but the account never used EC2 Auto Scaling (no service-linked role)
    Account().install(monkeypatch)
    # WHEN preflight runs
    code, out, _ = run_cli(capsys, "preflight", "--stack", "prod")
    # THEN it exits 1 and says how to create the role
    assert code == 1
    assert "role AWSServiceRoleForAutoScaling is missing" in out
    assert "aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com" in out


def test_the_role_is_not_checked_when_the_stack_creates_it(aws_env: None) -> None:
    # GIVEN a config that creates the service-linked role itself (field read defensively)
    config = stack_config("prod")
    cluster = config.cluster.model_copy(update={"create_autoscaling_service_linked_role": True})
    config = config.model_copy(update={"cluster": cluster})
    account = Account()
    clients = account.clients(REGION)

    def no_iam(service: str) -> Any:
        assert service != "iam", "preflight must not look for a role the stack creates"
        return clients(service)

    # WHEN preflight runs
    result = preflight.run_preflight("prod", config, no_iam)
    # THEN only quotas are checked, and they fit
    assert {c.kind for c in result.checks} == {"quota"}
    assert result.short == []


def test_other_lambda_reservations_in_the_account_count_against_the_stack(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # GIVEN an account limit of 200 of which other functions reserved 100
    account = Account().with_autoscaling_role()
    account.lambda_limit, account.lambda_unreserved = 200, 100
    account.install(monkeypatch)
    # WHEN preflight runs
    code, out, _ = run_cli(capsys, "preflight", "--stack", "prod")
    # THEN the Lambda quota is short: the other 100 + the stack's reservations + 100 unreserved
    needed = 100 + RESERVED + 100
    assert needed > 200
    assert code == 1
    assert f"lambda L-B99A9384 Concurrent executions: current 200, needed {needed}" in out
    assert f"--service-code lambda --quota-code L-B99A9384 --desired-value {needed}" in out


def test_a_new_account_with_reduced_lambda_concurrency_is_short(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # GIVEN a new account whose concurrency is 10 (nothing reserved)
    account = Account().with_autoscaling_role()
    account.lambda_limit, account.lambda_unreserved = 10, 10
    account.install(monkeypatch)
    # WHEN preflight runs
    code, out, _ = run_cli(capsys, "preflight", "--stack", "prod")
    # THEN it asks for the stack's reservations plus 100 unreserved
    assert code == 1
    assert f"--quota-code L-B99A9384 --desired-value {RESERVED + 100}" in out


def test_missing_credentials_exit_2_without_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys) -> None:
    # GIVEN no credentials anywhere boto3 looks (env, files, container and instance metadata)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # WHEN preflight runs with the real boto3 credential chain
    code, out, err = run_cli(capsys, "preflight", "--stack", "prod")
    # THEN it is a user error with a clear message, not a traceback
    assert code == 2
    assert out == ""
    assert err.startswith("blueprint: error: no AWS credentials")
    assert "Traceback" not in err


def test_a_denied_call_exits_2_and_lists_the_permissions(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # GIVEN credentials without servicequotas:GetServiceQuota
    account = Account().with_autoscaling_role()
    account.failure = "AccessDeniedException"
    account.install(monkeypatch)
    # WHEN preflight runs
    code, _, err = run_cli(capsys, "preflight", "--stack", "prod")
    # THEN it exits 2 and names every permission preflight needs
    assert code == 2
    assert "servicequotas:GetServiceQuota was denied (AccessDeniedException)" in err
    for permission in preflight.PERMISSIONS:
        assert permission in err


def test_a_throttled_call_exits_2_without_a_traceback(aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # GIVEN Service Quotas answers TooManyRequestsException
    account = Account().with_autoscaling_role()
    account.failure = "TooManyRequestsException"
    account.install(monkeypatch)
    # WHEN preflight runs
    code, _, err = run_cli(capsys, "preflight", "--stack", "prod")
    # THEN it exits 2 naming the call and the error, without a traceback
    assert code == 2
    assert err.startswith("blueprint: error: servicequotas:GetServiceQuota failed:")
    assert "TooManyRequestsException" in err
    assert "Traceback" not in err


def test_an_unknown_stack_exits_2(capsys) -> None:
    code, _, err = run_cli(capsys, "preflight", "--stack", "nope")
    assert code == 2
    assert "unknown stack 'nope'" in err


def test_the_plan_command_does_not_load_boto3() -> None:
    # `blueprint plan` stays fast: boto3 is imported only by preflight.
    script = "import sys, hybrid_ai_platform.cli.main; print('boto3' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_documented_policy_grants_exactly_what_preflight_calls() -> None:
    # GIVEN the IAM policy in docs/preflight.md
    text = (PROJECT_ROOT / "docs" / "preflight.md").read_text(encoding="utf-8")
    policy = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    # WHEN its actions are collected
    actions: set[str] = set()
    for statement in policy["Statement"]:
        granted = statement["Action"]
        actions.update([granted] if isinstance(granted, str) else granted)
    # THEN they are the actions preflight calls, no more
    assert actions == set(preflight.PERMISSIONS)


def test_a_need_that_cannot_be_computed_stops_preflight_before_any_call() -> None:
    # GIVEN a system node group of an instance type without a vCPU count
    cluster = PROD.cluster.model_dump(mode="json")
    cluster["system_node_group"]["instance_types"] = ["m9g.large"]
    raw = PROD.model_dump(mode="json")
    raw["cluster"] = cluster
    config = type(PROD).model_validate(raw)

    def no_calls(service: str) -> Any:
        raise AssertionError(f"preflight called {service} although its needs are incomplete")

    # WHEN preflight runs, THEN it is a user error naming the field
    with pytest.raises(preflight.PreflightError, match=r"cluster\.system_node_group\.instance_types: instance type"):
        preflight.run_preflight("prod", config, no_calls)
