"""``blueprint preflight``: compare what a stack needs with the AWS account, before ``pulumi up``.

Read-only calls with the caller's credentials, in the stack's region:

- ``service-quotas:GetServiceQuota`` for each quota of :func:`hybrid_ai_platform.cli.quotas.quota_needs`
  (except Lambda's), falling back to ``GetAWSDefaultServiceQuota`` when the applied value is not
  available (``NoSuchResourceException``: the quota was never changed, so the default applies;
  https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html and
  https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetAWSDefaultServiceQuota.html).
- ``lambda:GetAccountSettings``: the account's real concurrency limit (``ConcurrentExecutions``,
  reduced in new accounts whatever Service Quotas shows as default) and what other functions
  already reserved (``ConcurrentExecutions - UnreservedConcurrentExecutions``); the stack's
  reservations must leave 100 unreserved
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
- ``iam:GetRole`` on ``AWSServiceRoleForAutoScaling``: the KMS grant for node volumes names
  that service-linked role, so it must exist unless the stack config sets
  ``cluster.create_autoscaling_service_linked_role: true``.

Exit codes: 0 everything fits; 1 something is short (each with the command that requests it);
2 user error (unknown stack, bad config, no credentials, missing permission).

Quotas count what the whole account uses: preflight compares them with this stack's needs
alone (Lambda excepted, where the API reports the other reservations), so an account already
running other workloads needs that much more headroom.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from hybrid_ai_platform.config import PlatformConfig

from .quotas import LAMBDA_CONCURRENCY, UNRESERVED_LAMBDA_MINIMUM, QuotaNeed, quota_needs

AUTOSCALING_SLR = "AWSServiceRoleForAutoScaling"
"""The EC2 Auto Scaling service-linked role the node-volume KMS grant names."""
CREATE_SLR_COMMAND = "aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com"
PERMISSIONS = (
    "servicequotas:GetServiceQuota",
    "servicequotas:GetAWSDefaultServiceQuota",
    "lambda:GetAccountSettings",
    "iam:GetRole",
)
"""The IAM actions preflight calls (all read-only)."""

_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}

ClientFactory = Callable[[str], Any]
"""``service name → boto3 client`` in the stack's region (``service-quotas``, ``lambda``, ``iam``)."""


class PreflightError(Exception):
    """A user error: no credentials, a missing permission, a need that cannot be computed (exit 2)."""


@dataclass
class Check:
    """One comparison of a need with the account."""

    kind: Literal["quota", "role"]
    name: str
    ok: bool
    needed: int | None = None
    current: float | None = None
    source: str = ""
    service_code: str = ""
    quota_code: str = ""
    reasons: list[str] = field(default_factory=list)
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        """The check as ``preflight --format json`` prints it."""
        return {
            "kind": self.kind,
            "name": self.name,
            "ok": self.ok,
            "service_code": self.service_code or None,
            "quota_code": self.quota_code or None,
            "needed": self.needed,
            "current": self.current,
            "source": self.source or None,
            "reasons": self.reasons,
            "fix": self.fix or None,
        }


@dataclass
class PreflightResult:
    """Every check of a stack against its account."""

    stack: str
    region: str
    checks: list[Check]

    @property
    def short(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        """``preflight --format json``."""
        return {
            "stack": self.stack,
            "region": self.region,
            "ok": not self.short,
            "permissions": list(PERMISSIONS),
            "checks": [c.to_json() for c in self.checks],
        }


def request_command(service_code: str, quota_code: str, desired: int, region: str) -> str:
    """The AWS CLI command that asks for ``desired`` on a quota."""
    return (
        f"aws service-quotas request-service-quota-increase --service-code {service_code} "
        f"--quota-code {quota_code} --desired-value {desired} --region {region}"
    )


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


def _call(
    action: str,
    function: Callable[..., Any],
    params: dict[str, Any] | None = None,
    expected: frozenset[str] = frozenset(),
) -> Any:
    """Call the AWS API; error codes in ``expected`` are re-raised for the caller to handle, any
    other failure (no credentials, denied, throttled, unreachable) becomes a :class:`PreflightError`."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    try:
        return function(**(params or {}))
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise PreflightError(
            f"no AWS credentials ({exc}); configure them (AWS_PROFILE, `aws configure`, `aws sso login`) "
            "for the account the stack deploys to"
        ) from None
    except ClientError as exc:
        code = _error_code(exc)
        if code in expected:
            raise
        if code in _DENIED:
            raise PreflightError(f"{action} was denied ({code}): preflight needs {', '.join(PERMISSIONS)}") from None
        raise PreflightError(f"{action} failed: {exc}") from None
    except BotoCoreError as exc:
        raise PreflightError(f"{action} failed: {exc}") from None


def _quota_value(client: Any, need: QuotaNeed) -> tuple[float, str]:
    """The applied value of a quota, or its AWS default when it was never changed."""
    from botocore.exceptions import ClientError

    codes = {"ServiceCode": need.quota.service_code, "QuotaCode": need.quota.quota_code}
    try:
        response = _call(
            "servicequotas:GetServiceQuota", client.get_service_quota, codes, frozenset({"NoSuchResourceException"})
        )
        return float(response["Quota"]["Value"]), "applied"
    except ClientError:  # NoSuchResourceException: never changed, the AWS default applies
        pass
    response = _call("servicequotas:GetAWSDefaultServiceQuota", client.get_aws_default_service_quota, codes)
    return float(response["Quota"]["Value"]), "AWS default"


def _quota_check(need: QuotaNeed, current: float, source: str, region: str, needed: int | None = None) -> Check:
    value = need.needed if needed is None else needed
    ok = current >= value
    return Check(
        kind="quota",
        name=need.quota.quota_name,
        ok=ok,
        needed=value,
        current=current,
        source=source,
        service_code=need.quota.service_code,
        quota_code=need.quota.quota_code,
        reasons=list(need.reasons),
        fix="" if ok else request_command(need.quota.service_code, need.quota.quota_code, value, region),
    )


def _lambda_check(client: Any, need: QuotaNeed, region: str) -> Check:
    settings = _call("lambda:GetAccountSettings", client.get_account_settings)["AccountLimit"]
    limit = int(settings["ConcurrentExecutions"])
    unreserved = int(settings["UnreservedConcurrentExecutions"])
    reserved_elsewhere = max(0, limit - unreserved)
    needed = need.needed + reserved_elsewhere
    check = _quota_check(need, float(limit), "account settings", region, needed=needed)
    if reserved_elsewhere:
        check.reasons.append(
            f"{reserved_elsewhere} already reserved by functions in the account "
            "(this stack's own, if it is already deployed)"
        )
    return check


def _role_check(client: Any) -> Check:
    from botocore.exceptions import ClientError

    try:
        _call("iam:GetRole", client.get_role, {"RoleName": AUTOSCALING_SLR}, frozenset({"NoSuchEntity"}))
    except ClientError:  # NoSuchEntity
        return Check(
            kind="role",
            name=AUTOSCALING_SLR,
            ok=False,
            source="missing",
            reasons=["the KMS grant for node volumes names this service-linked role"],
            fix=f"{CREATE_SLR_COMMAND}  (or set cluster.create_autoscaling_service_linked_role: true)",
        )
    return Check(kind="role", name=AUTOSCALING_SLR, ok=True, source="exists")


def creates_autoscaling_role(config: PlatformConfig) -> bool:
    """Whether the stack creates the Auto Scaling service-linked role itself.

    Read defensively: ``cluster.create_autoscaling_service_linked_role`` may not exist in this
    version of the configuration model (then the role is a prerequisite).
    """
    return bool(getattr(config.cluster, "create_autoscaling_service_linked_role", False))


def run_preflight(stack: str, config: PlatformConfig, client: ClientFactory) -> PreflightResult:
    """Check every need of ``config``'s stack against the account reached by ``client``."""
    report = quota_needs(config)
    if report.problems:
        problems = "\n".join(f"  - {p}" for p in report.problems)
        raise PreflightError(f"cannot compute the stack's quota needs:\n{problems}")
    checks: list[Check] = []
    quotas_client = None
    for need in report.needs:
        if need.quota == LAMBDA_CONCURRENCY:
            checks.append(_lambda_check(client("lambda"), need, config.region))
            continue
        quotas_client = quotas_client or client("service-quotas")
        current, source = _quota_value(quotas_client, need)
        checks.append(_quota_check(need, current, source, config.region))
    if not creates_autoscaling_role(config):
        checks.append(_role_check(client("iam")))
    return PreflightResult(stack=stack, region=config.region, checks=checks)


def boto3_clients(region: str) -> ClientFactory:
    """Clients from the default boto3 credential chain, in ``region`` (boto3 imported here, lazily)."""
    import boto3

    session = boto3.Session(region_name=region)
    return lambda service: session.client(service)  # type: ignore[call-overload]


# --------------------------------------------------------------------------- rendering


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def render_text(result: PreflightResult) -> str:
    """A table of every check, then what to request for each short one, then the result line."""
    lines = [f"Preflight of stack '{result.stack}' in {result.region}", ""]
    header = ("STATUS", "SERVICE", "QUOTA", "NEEDED", "CURRENT", "SOURCE", "NAME")
    rows = [
        (
            "ok" if c.ok else "SHORT" if c.kind == "quota" else "MISSING",
            c.service_code or "iam",
            c.quota_code or "role",
            _number(c.needed),
            _number(c.current),
            c.source,
            c.name,
        )
        for c in result.checks
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [
            cell.rjust(w) if i in (3, 4) else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    short = result.short
    if short:
        lines += ["", "To request:"]
        for c in short:
            if c.kind == "quota":
                lines.append(
                    f"  {c.service_code} {c.quota_code} {c.name}: current {_number(c.current)}, needed {c.needed}"
                )
            else:
                lines.append(f"  role {c.name} is missing")
            lines.extend(f"      - {reason}" for reason in c.reasons)
            lines.append(f"    {c.fix}")
        lines += ["", f"Result: {len(short)} check(s) short; request the above before `pulumi up`."]
    else:
        lines += ["", "Result: every quota and prerequisite fits."]
    lines.append(
        f"(Needs are this stack's alone; other workloads in the account use the same quotas. "
        f"Lambda keeps {UNRESERVED_LAMBDA_MINIMUM} unreserved.)"
    )
    return "\n".join(lines) + "\n"


def render_json(result: PreflightResult) -> str:
    """``preflight --format json``: the result document."""
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"
