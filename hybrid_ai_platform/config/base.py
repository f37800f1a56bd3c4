"""Shared pieces of the stack config: the namespace, :class:`ConfigError`, the base model and the
field types and checks several sections use."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from enum import StrEnum
from typing import Annotated, Any

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core.core_schema import ValidationInfo

from hybrid_ai_platform.contracts import KMS_KEY_ARN_PATTERN, LOG_RETENTION_DAYS, world_open

PROJECT_NAMESPACE = "hybrid-ai-platform"
"""The Pulumi project name, and so the namespace of the stack config keys."""

AWS_REGION_PATTERN = (
    r"^(us|eu|ap|sa|ca|me|af|il|mx)(-gov)?-(north|south|east|west|central|northeast|southeast|northwest|southwest)-\d$"
)


def args_default(args: type, name: str) -> Any:
    """The default of field ``name`` of the component Args dataclass ``args``: a config field that mirrors a
    component Arg reads its default from there, so the two cannot drift (one source)."""
    for field in dataclasses.fields(args):
        if field.name != name:
            continue
        if field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
        if field.default is not dataclasses.MISSING:
            return field.default
    raise TypeError(f"{args.__name__} has no defaulted field {name!r}")


class Environment(StrEnum):
    """The environments this library ships stacks for (``environment`` accepts other names too)."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class ConfigError(pulumi.RunError):
    """Stack configuration that does not validate.

    Subclasses :class:`pulumi.RunError`, so ``pulumi up`` prints the message without a traceback.
    ``problems`` holds one line per bad field: ``<dotted.path>: <value> <what is allowed>``.
    """

    def __init__(self, stack: str, problems: list[str]) -> None:
        self.stack = stack
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"stack '{stack}' has {len(problems)} invalid configuration value(s):\n{lines}\n"
            f"Fix them in stacks/Pulumi.{stack}.yaml (keys under '{PROJECT_NAMESPACE}:')."
        )


class _Model(BaseModel):
    """Base: unknown keys are errors, values are immutable after validation, and a boolean is
    never taken for a number (``true`` is not ``1``) nor a number for a boolean."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None:
            _check_bool_kind(field.annotation, value)
        return value


def _check_bool_kind(annotation: Any, value: Any) -> None:
    """Raise when ``value`` is a boolean where ``annotation`` wants a number (or the reverse),
    looking into ``list[...]``/``dict[..., ...]`` items and ``X | None``."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is Annotated:
        _check_bool_kind(args[0], value)
    elif origin in (typing.Union, types.UnionType):
        if len(args) == 1:
            _check_bool_kind(args[0], value)
    elif origin is list and isinstance(value, list) and args:
        for item in value:
            _check_bool_kind(args[0], item)
    elif origin is dict and isinstance(value, dict) and len(args) == 2:
        for item in value.values():
            _check_bool_kind(args[1], item)
    elif annotation in (int, float) and isinstance(value, bool):
        raise ValueError(f"{json.dumps(value)} is a boolean; give a number")
    elif annotation is bool and not isinstance(value, bool) and value is not None:
        raise ValueError(f"{json.dumps(value)} is not a boolean; write true or false")


Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
"""A short lowercase DNS-label name, 3-32 characters."""
FeatureSetName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")]


def _check_role_arn(value: str) -> str:
    path, _, role_name = value.partition(":role/")[2].rpartition("/")
    if not 1 <= len(role_name) <= 64:
        raise ValueError(
            f"role name '{role_name}' has {len(role_name)} characters; IAM allows 1-64 "
            "(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)"
        )
    if path and (len(path) + 2 > 512 or "//" in f"/{path}/"):
        raise ValueError("the role path must be 1-512 characters of '/'-separated names")
    return value


RoleArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"), AfterValidator(_check_role_arn)
]
KmsKeyArn = Annotated[str, Field(pattern=f"^{KMS_KEY_ARN_PATTERN}$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$", max_length=254)]


def _unique_ci(value: list[str]) -> list[str]:
    """Entries unique regardless of case (an e-mail address or ARN listed twice is one subscriber)."""
    seen: set[str] = set()
    repeated = sorted({v for v in value if v.lower() in seen or seen.add(v.lower())})  # type: ignore[func-returns-value]
    if repeated:
        raise ValueError(f"entries must be unique; repeated: {repeated}")
    return value


def _check_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"{value} is not a CloudWatch Logs retention period; use one of {LOG_RETENTION_DAYS}")
    return value


LogRetentionDays = Annotated[int, AfterValidator(_check_retention)]
"""Days a CloudWatch log group keeps events: one of :data:`LOG_RETENTION_DAYS`."""


def _check_sizes(min_size: int, desired_size: int, max_size: int) -> None:
    if not min_size <= desired_size <= max_size:
        raise ValueError(
            f"sizes must satisfy min_size <= desired_size <= max_size; got {min_size}, {desired_size}, {max_size}"
        )


def _check_cidr(value: str, ipv4_only: bool = False) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"is not a valid CIDR block ({exc})") from None
    if ipv4_only and network.version != 4:
        raise ValueError(f"'{value}' is an IPv6 CIDR; this field takes IPv4 CIDRs only")
    return value


def _check_not_everywhere(value: list[str], what: str) -> None:
    """Refuse CIDR lists that together admit the internet: the rule the policy pack applies too
    (:func:`hybrid_ai_platform.contracts.world_open`), so ``0.0.0.0/1`` + ``128.0.0.0/1`` is refused like
    ``0.0.0.0/0``."""
    for internet in world_open(value):
        version = 4 if internet == "IPv4" else 6
        networks = [n for n in (ipaddress.ip_network(c, strict=False) for c in value) if n.version == version]
        everything = "0.0.0.0/0" if version == 4 else "::/0"
        raise ValueError(
            f"{[str(n) for n in networks]} together cover {everything} (every {internet} internet address), "
            f"which opens {what} to every address; list your own CIDRs"
        )
