"""The whole stack config, :class:`PlatformConfig`, and its loading: from raw mappings
(:func:`parse_platform_config`) or from Pulumi config (:func:`load_platform_config`)."""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
from typing import Annotated, Any, Literal

import pulumi
from pydantic import BaseModel, Field, ValidationError, model_validator

from hybrid_ai_platform.components import aws_rules, instance_types
from hybrid_ai_platform.components.instance_types import node_allocatable
from hybrid_ai_platform.contracts import GPUS_PER_INSTANCE, MANAGED_BY, ROLLOUT_MAX_SURGE, cpu_milli, memory_mib

from .base import AWS_REGION_PATTERN, PROJECT_NAMESPACE, ConfigError, Environment, _Model
from .cluster import ClusterConfig
from .data import EncryptionConfig, StorageConfig, TagsConfig
from .governance import AlarmsConfig, BudgetConfig, UsageConfig
from .inference import InferenceConfig
from .network import NetworkConfig
from .preprocessing import PreprocessingConfig


class PlatformConfig(_Model):
    """The whole stack configuration."""

    environment: str = Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")
    """Environment name, lowercase (``dev``, ``staging``, ``prod``, or any other such as ``qa``):
    the value of every resource's ``environment`` tag and of the budget's cost filter. Defaults
    depend on it in two places only: ``prod`` gets the production defaults (3 AZs, one NAT
    gateway per AZ, ``COMPLIANCE`` Object Lock, ``storage.force_destroy`` refused) and any other
    name the non-production ones; and the policy guardrails are
    ``policies/guardrails/<environment>.json``, or ``dev.json``'s for a name without its own file.
    Required."""
    region: str = Field(pattern=AWS_REGION_PATTERN)
    """AWS region, read from ``aws:region``. Required."""
    allowed_regions: list[Annotated[str, Field(pattern=AWS_REGION_PATTERN)]] = Field(min_length=1)
    """Regions data may reside in; ``region`` must be one of them. Required."""
    tags: TagsConfig
    """Required tags. Required."""
    encryption: EncryptionConfig = Field(default_factory=EncryptionConfig)
    """Stack KMS key. Defaults to a created key with rotation on."""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    """Bucket controls. Defaults as documented on its fields."""
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    """Preprocessing functions. Defaults to none."""
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    """VPC. Defaults to a created VPC sized by environment."""
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    """EKS cluster. Defaults as documented on its fields."""
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    """Served models and batch jobs. Defaults to none."""
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    """Alarms. Defaults as documented on its fields."""
    budget: BudgetConfig
    """Monthly cost budget. Required: every stack has one."""
    usage: UsageConfig = Field(default_factory=UsageConfig)
    """Cost-estimate assumptions. Defaults as documented on its fields."""

    @model_validator(mode="after")
    def _cross_field(self) -> PlatformConfig:
        # Each line names its own field, so every cross-field problem is reported, not just the first.
        problems = []
        if self.region not in self.allowed_regions:
            problems.append(f"aws:region: '{self.region}' is not in allowed_regions {self.allowed_regions}")
        if self.environment == Environment.PROD and self.storage.force_destroy:
            problems.append("storage.force_destroy: true is not allowed in prod (it lets a destroy delete data)")
        if self.encryption.key_arn and f":kms:{self.region}:" not in self.encryption.key_arn:
            problems.append(f"encryption.key_arn: must be a key in the stack's region {self.region}")
        if self.network.existing is None:
            problem = aws_rules.az_count_problem(self.region, self.az_count)
            if problem:
                field = "network.az_count" if self.network.az_count else "network.az_count (default)"
                problems.append(f"{field}: {problem}")
        problems.extend(self._usage_reference_problems())
        problems.extend(self._gpu_capacity_problems())
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _usage_reference_problems(self) -> list[str]:
        """Usage figures for a function or GPU node group the stack does not have (a typo would
        silently price the default instead)."""
        problems = []
        for field, given, known in (
            ("usage.functions", self.usage.functions, [f.name for f in self.preprocessing.functions]),
            (
                "usage.gpu_node_hours_per_month",
                self.usage.gpu_node_hours_per_month,
                [g.name for g in self.cluster.gpu_node_groups],
            ),
        ):
            for name in given:
                if name not in known:
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f"did you mean '{close[0]}'? " if close else ""
                    problems.append(
                        f"{field}.{name}: no such {'function' if field == 'usage.functions' else 'GPU node group'} "
                        f"in this stack; {hint}known: {known or 'none'}"
                    )
        return problems

    def _gpu_capacity_problems(self) -> list[str]:
        """Models and batch jobs that can never be scheduled on the configured GPU node groups.

        Every inference and batch pod selects any GPU node (``nvidia.com/gpu.present``), so the
        groups are one pool whose ceiling is the sum of ``max_size`` x GPUs per node. It must hold
        :meth:`gpu_demand` at ``min_replicas``: the smallest service rolling out (one surge pod
        per model, :data:`ROLLOUT_MAX_SURGE`) while every batch job runs; otherwise a rollout or
        the nightly job waits forever. A pod must also fit one node of some group: its GPUs, CPU
        and memory within that instance type's allocatable share (:func:`node_allocatable`).
        The HPA peak (``max_replicas``) is reported by :meth:`gpu_peak_shortfall` instead.
        """
        models = self.inference.models
        if not models:
            return []
        groups = self.cluster.gpu_node_groups
        if not groups:
            return [
                f"cluster.gpu_node_groups: is empty, but inference.models {[m.name for m in models]} need GPU "
                "nodes; add a GPU node group"
            ]
        problems = []
        for index, model in enumerate(models):
            request = (cpu_milli(model.resources.cpu), memory_mib(model.resources.memory), model.resources.gpus)
            types = [t for g in groups for t in g.instance_types]
            if not any(all(need <= has for need, has in zip(request, node_allocatable(t), strict=True)) for t in types):
                shapes = ", ".join(
                    sorted(
                        f"{t}: {instance_types.vcpus(t)} vCPU, {instance_types.memory_gib(t)} GiB, "
                        f"{GPUS_PER_INSTANCE[t]} GPU"
                        for t in set(types)
                    )
                )
                problems.append(
                    f"inference.models[{index}].resources: {model.resources.cpu} CPU, {model.resources.memory} and "
                    f"{model.resources.gpus} GPU per pod fit no configured GPU instance type ({shapes}, less the "
                    "node's kube-reserved CPU and memory); lower the requests or add a larger instance type"
                )
        needed, detail = self.gpu_demand(peak=False)
        capacity = self.gpu_capacity()
        if needed > capacity:
            if len(groups) == 1:
                field = f"cluster.gpu_node_groups[0].max_size: {groups[0].max_size}"
                fix = f"raise max_size to {math.ceil(needed / groups[0].gpus_per_node)}"
            else:
                field = "cluster.gpu_node_groups: max_size " + " + ".join(
                    f"{g.max_size} x {g.gpus_per_node}" for g in groups
                )
                fix = "raise the groups' max_size"
            problems.append(
                f"{field} gives {capacity} GPU{'s' if capacity != 1 else ''}; models need {needed} ({detail}); "
                f"{fix} or lower inference.models[].min_replicas"
            )
        return problems

    def gpu_capacity(self) -> int:
        """GPUs the GPU node groups can reach: the sum of ``max_size`` x GPUs per node."""
        return sum(g.max_size * g.gpus_per_node for g in self.cluster.gpu_node_groups)

    def gpu_demand(self, peak: bool) -> tuple[int, str]:
        """GPUs the workloads need at once, and how: every model at ``min_replicas`` (or, with
        ``peak``, at the HPA's ``max_replicas``) plus its rollout surge pod, plus ``parallelism`` pods per
        batch job (its CronJob forbids concurrent runs), each pod taking its model's ``resources.gpus``."""
        by_name = {m.name: m for m in self.inference.models}
        parts = []
        for m in self.inference.models:
            replicas = m.max_replicas if peak else m.min_replicas
            label = "max" if peak else "min"
            each = f" x {m.resources.gpus} GPUs" if m.resources.gpus > 1 else ""
            parts.append(
                (f"{m.name}: {replicas} {label} replicas + {ROLLOUT_MAX_SURGE} rollout surge{each}",
                 (replicas + ROLLOUT_MAX_SURGE) * m.resources.gpus)
            )  # fmt: skip
        for j in self.inference.batch_jobs:
            if j.model in by_name:
                gpus = by_name[j.model].resources.gpus
                if j.parallelism == 1:
                    parts.append((f"batch job {j.name}: {gpus}", gpus))
                else:
                    parts.append((f"batch job {j.name}: {j.parallelism} pods x {gpus}", j.parallelism * gpus))
        return sum(g for _, g in parts), "; ".join(text for text, _ in parts)

    def gpu_peak_shortfall(self) -> str | None:
        """A sentence when the HPA peak (``max_replicas``, surge and jobs) exceeds the GPU pool, else None.

        Not an error: the peak is reached only under load, and pods above the pool stay pending
        until load drops. Defaults to none when everything fits.
        """
        needed, detail = self.gpu_demand(peak=True)
        capacity = self.gpu_capacity()
        if not self.inference.models or needed <= capacity:
            return None
        return (
            f"the GPU node groups reach {capacity} GPUs but the HPA peak needs {needed} ({detail}): "
            "pods above the pool stay pending; raise cluster.gpu_node_groups[].max_size to serve the peak"
        )

    def deployer_route_gaps(self) -> str | None:
        """A sentence when a deployer CIDR has no route into a created VPC, else None.

        The stack's VPC is created in the same update whose Kubernetes half needs the private API
        endpoint, so a runner outside it reaches the endpoint only through a route the stack itself
        creates (``network.peerings``). A transit gateway or VPN route made outside the stack is
        possible, so this is a warning, not an error; a brought VPC (``network.existing``) is not judged.
        """
        deployer = self.cluster.deployer
        if deployer is None or self.network.existing is not None or self.cluster.public_endpoint:
            return None
        routed = [ipaddress.IPv4Network(self.network.cidr)] + [
            ipaddress.IPv4Network(p.peer_cidr) for p in self.network.peerings
        ]
        gaps = []
        for cidr in deployer.cidrs:
            network = ipaddress.ip_network(cidr)
            if not isinstance(network, ipaddress.IPv4Network) or not any(network.subnet_of(n) for n in routed):
                gaps.append(cidr)
        if not gaps:
            return None
        return (
            f"cluster.deployer.cidrs {gaps} lie outside the VPC and every network.peerings[].peer_cidr: the "
            "created VPC has no route back to them, so a runner there cannot reach the private API endpoint "
            "unless a transit gateway or VPN route exists; add a network.peerings entry for the runner's VPC"
        )

    # Derived settings -------------------------------------------------------------------

    @property
    def is_prod(self) -> bool:
        """Whether this is the production environment."""
        return self.environment == Environment.PROD

    @property
    def az_count(self) -> int:
        """Availability zones to use: the configured count, else 3 in prod and 2 elsewhere."""
        return self.network.az_count or (3 if self.is_prod else 2)

    @property
    def nat_gateways(self) -> Literal["single", "one_per_az"]:
        """NAT layout: the configured one, else one per AZ in prod and a single one elsewhere."""
        return self.network.nat_gateways or ("one_per_az" if self.is_prod else "single")

    @property
    def object_lock_mode(self) -> Literal["GOVERNANCE", "COMPLIANCE"]:
        """Model-registry Object Lock mode: configured, else COMPLIANCE in prod, GOVERNANCE elsewhere."""
        return self.storage.model_registry.object_lock_mode or ("COMPLIANCE" if self.is_prod else "GOVERNANCE")

    def required_tags(self) -> dict[str, str]:
        """The tags every taggable resource carries: the required five plus ``tags.extra``."""
        return {
            **self.tags.extra,
            "environment": self.environment,
            "owner": self.tags.owner,
            "cost-center": self.tags.cost_center,
            "data-classification": self.tags.data_classification,
            "managed-by": MANAGED_BY,
        }


# Loading ------------------------------------------------------------------------------------

_SECTIONS = tuple(name for name in PlatformConfig.model_fields if name != "region")


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-after") or part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _value(raw: dict[str, Any], loc: tuple[int | str, ...]) -> Any:
    node: Any = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def format_validation_error(exc: ValidationError, raw: dict[str, Any]) -> list[str]:
    """Turn a pydantic error into ``path: value problem`` lines, one per bad field."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = _path(loc)
        message = (
            str(error["msg"])
            .removeprefix("Value error, ")
            .replace("Input should", "should")
            .replace("String should", "should")
            .replace("List should", "should")
        )
        if not path:
            problems.extend(message.splitlines())
            continue
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            problems.append(f"{path}: unknown key; {hint}allowed keys: {', '.join(allowed)}")
            continue
        if error["type"] == "missing":
            problems.append(f"{path}: is required")
            continue
        value = _value(raw, loc)
        shown = json.dumps(value) if value is not None and not isinstance(value, dict) else None
        # the message already quotes the value
        quoted = (isinstance(value, str) and f"'{value}'" in message) or (
            isinstance(value, list) and str(value) in message
        )
        if shown is not None and not message.startswith(shown) and not quoted:
            problems.append(f"{path}: {shown} {_lower_first(message)}")
        else:
            problems.append(f"{path}: {message}")
    return problems


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model at ``loc`` (list indexes and dict keys skipped)."""
    import typing

    model: Any = PlatformConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:
            continue
        model = None
        pending = [field.annotation]
        while pending:
            candidate = pending.pop()
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
            pending.extend(typing.get_args(candidate))
    if model is None:
        return []
    return [name for name in model.model_fields if not (model is PlatformConfig and name == "region")]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def parse_platform_config(raw: dict[str, Any], stack: str = "stack") -> PlatformConfig:
    """Validate a raw config mapping (section name → value, plus ``region``).

    Raises :class:`ConfigError` listing every bad field. Used by :func:`load_platform_config`
    and by tests that build configs directly.
    """
    try:
        return PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(stack, format_validation_error(exc, raw)) from None


def _all_config_keys() -> dict[str, Any]:
    from pulumi.runtime import config as runtime_config

    keys: dict[str, Any] = dict(runtime_config.get_config_env())
    keys.update(runtime_config.CONFIG.get())
    return keys


PROVIDER_NAMESPACES = ("aws", "kubernetes", "pulumi")
"""Config namespaces besides the project's that a stack file may use (the providers the program
uses, and Pulumi's own settings)."""


def config_key_problems(keys: list[str]) -> list[str]:
    """Keys that would be silently ignored: an unknown section under the project namespace, or a
    namespace that is neither the project's nor a provider's (a misspelt ``hybrid-ai-plaform:``)."""
    problems = []
    namespaces = [PROJECT_NAMESPACE, *PROVIDER_NAMESPACES]
    for key in keys:
        namespace, _, name = key.partition(":")
        if namespace == PROJECT_NAMESPACE:
            if name not in _SECTIONS:
                close = difflib.get_close_matches(name, _SECTIONS, n=1)
                hint = f"did you mean '{PROJECT_NAMESPACE}:{close[0]}'? " if close else ""
                problems.append(f"{name}: unknown key '{key}'; {hint}allowed: {', '.join(_SECTIONS)}")
        elif namespace not in PROVIDER_NAMESPACES:
            close = difflib.get_close_matches(namespace, namespaces, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}:{name}'? " if close else ""
            problems.append(
                f"{key}: unknown namespace '{namespace}'; {hint}keys go under '{PROJECT_NAMESPACE}:' or a provider "
                f"namespace ({', '.join(PROVIDER_NAMESPACES)})"
            )
    return problems


def load_platform_config() -> PlatformConfig:
    """Read the stack's config through ``pulumi.Config`` and validate it.

    Reads ``aws:region`` and every key under the project namespace; a key that is not a
    section of :class:`PlatformConfig` is reported as unknown. Raises :class:`ConfigError`
    (no resources are registered) when anything is wrong.
    """
    stack = pulumi.get_stack()
    cfg = pulumi.Config(PROJECT_NAMESPACE)
    raw: dict[str, Any] = {}
    problems: list[str] = []
    problems.extend(config_key_problems(list(_all_config_keys())))
    for section in _SECTIONS:
        value = cfg.get(section)
        if value is None:
            continue
        try:
            raw[section] = json.loads(value)
        except json.JSONDecodeError:
            raw[section] = value
    region = pulumi.Config("aws").get("region")
    if region is None:
        problems.append("aws:region: is required; set it with `pulumi config set aws:region <region>`")
    else:
        raw["region"] = region
    try:
        config = PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, raw))
        raise ConfigError(stack, problems) from None
    problems.extend(
        aws_rules.derived_name_problems(pulumi.get_project(), stack, [m.name for m in config.inference.models])
    )
    if problems:
        raise ConfigError(stack, problems)
    return config
