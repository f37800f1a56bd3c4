"""Bad input never passes silently (issue 12): over a hundred distinct bad inputs across stack config,
stack names, policy guardrails, plan files and CLI arguments each exit 2 with no traceback and a message
naming the field; valid edge inputs that AWS, Kubernetes and Pulumi accept are accepted.

Each bad config case changes one thing in a copy of the shipped dev stack file and runs ``blueprint
plan`` on it, so it goes through the same path a user's ``make plan`` does.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_helpers import BASE_PLAN, plan_pair, run_cli

from hybrid_ai_platform.cli.synth import PROJECT_ROOT, synthesize
from tests.plan_helpers import link_stack_program

NS = "hybrid-ai-platform"
DEV: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "stacks" / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
DELETE = object()


def _set(config: dict[str, Any], path: str, value: Any) -> None:
    """Set ``<namespace:key>.<dotted.path>[i]`` in a stack's ``config`` mapping (DELETE removes it)."""
    key, _, rest = path.partition(".")
    parts: list[str | int] = [key]
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", rest):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    node: Any = config
    for part in parts[:-1]:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


def stack_file(*changes: tuple[str, Any]) -> dict[str, Any]:
    """The dev stack file with ``changes`` applied."""
    document = copy.deepcopy(DEV)
    for path, value in changes:
        _set(document["config"], path, value)
    return document


def _f(*changes: tuple[str, Any]) -> list[tuple[str, Any]]:
    return list(changes)


FN = f"{NS}:preprocessing.functions[0]"
GPU = f"{NS}:cluster.gpu_node_groups[0]"
MODEL = f"{NS}:inference.models[0]"
JOB = f"{NS}:inference.batch_jobs[0]"
ROLE = "arn:aws:iam::123456789012:role/"

# case id -> (changes, text the one error message must contain: the field's dotted path and the rule)
BAD_CONFIG: dict[str, tuple[list[tuple[str, Any]], str]] = {
    # EventBridge schedules (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html)
    "rate zero": (_f((f"{FN}.schedule", "rate(0 hours)")), "preprocessing.functions[0].schedule: 'rate(0 hours)'"),
    "rate 1 plural": (
        _f((f"{FN}.schedule", "rate(1 hours)")),
        "schedule: 'rate(1 hours)': a rate of 1 takes the singular",
    ),
    "rate 5 singular": (
        _f((f"{FN}.schedule", "rate(5 hour)")),
        "schedule: 'rate(5 hour)': a rate above 1 takes the plural",
    ),
    "rate negative": (
        _f((f"{FN}.schedule", "rate(-1 minutes)")),
        "schedule: 'rate(-1 minutes)': the rate must be a positive",
    ),
    "rate weeks": (_f((f"{FN}.schedule", "rate(2 weeks)")), "schedule: 'rate(2 weeks)': the unit must be minute(s)"),
    "rate fraction": (_f((f"{FN}.schedule", "rate(1.5 hours)")), "schedule: 'rate(1.5 hours)'"),
    "cron five fields": (_f((f"{FN}.schedule", "cron(0 2 * * *)")), "schedule: 'cron(0 2 * * *)' has 5 cron fields"),
    "cron seven fields": (_f((f"{FN}.schedule", "cron(0 2 * * ? * *)")), "has 7 cron fields; EventBridge takes six"),
    "cron no question mark": (
        _f((f"{FN}.schedule", "cron(0 2 * * * *)")),
        "exactly one of day-of-month ('*') and day-of-week",
    ),
    "cron two question marks": (_f((f"{FN}.schedule", "cron(0 2 ? * ? *)")), "exactly one of day-of-month ('?')"),
    "cron minute 60": (_f((f"{FN}.schedule", "cron(60 2 * * ? *)")), "schedule: 'cron(60 2 * * ? *)': minutes"),
    "cron hour 24": (_f((f"{FN}.schedule", "cron(0 24 * * ? *)")), "schedule: 'cron(0 24 * * ? *)': hours"),
    "cron day 32": (_f((f"{FN}.schedule", "cron(0 2 32 * ? *)")), "schedule: 'cron(0 2 32 * ? *)': day-of-month"),
    "cron weekday 8": (_f((f"{FN}.schedule", "cron(0 2 ? * 8 *)")), "schedule: 'cron(0 2 ? * 8 *)': day-of-week"),
    "cron weekday 0": (_f((f"{FN}.schedule", "cron(0 2 ? * 0 *)")), "schedule: 'cron(0 2 ? * 0 *)': day-of-week"),
    "cron month 13": (_f((f"{FN}.schedule", "cron(0 2 ? 13 MON *)")), "schedule: 'cron(0 2 ? 13 MON *)': month"),
    "cron month name": (_f((f"{FN}.schedule", "cron(0 2 ? JANUARY MON *)")), "': month 'JANUARY'"),
    "cron year 1969": (_f((f"{FN}.schedule", "cron(0 2 * * ? 1969)")), "schedule: 'cron(0 2 * * ? 1969)': year"),
    "cron step 0": (_f((f"{FN}.schedule", "cron(0/0 * * * ? *)")), "minutes '0/0': the step after '/' must be"),
    "cron backwards range": (
        _f((f"{FN}.schedule", "cron(5-2 * * * ? *)")),
        "minutes '5-2': range '5-2' runs backwards",
    ),
    "schedule prose": (_f((f"{FN}.schedule", "every day")), "schedule: 'every day' is not an EventBridge schedule"),
    "schedule five-field cron": (_f((f"{FN}.schedule", "0 2 * * *")), "schedule: '0 2 * * *' is not an EventBridge"),
    # Kubernetes CronJob schedules (https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/)
    "job four fields": (_f((f"{JOB}.schedule", "0 2 * *")), "inference.batch_jobs[0].schedule: '0 2 * *' has 4 fields"),
    "job six fields": (_f((f"{JOB}.schedule", "0 0 2 * * *")), "batch_jobs[0].schedule: '0 0 2 * * *' has 6 fields"),
    "job macro typo": (_f((f"{JOB}.schedule", "@dialy")), "batch_jobs[0].schedule: '@dialy' is not a schedule macro"),
    "job minute 61": (_f((f"{JOB}.schedule", "61 2 * * *")), "batch_jobs[0].schedule: '61 2 * * *': minute"),
    "job weekday 7": (_f((f"{JOB}.schedule", "0 2 * * 7")), "batch_jobs[0].schedule: '0 2 * * 7': day-of-week"),
    "job day 0": (_f((f"{JOB}.schedule", "0 2 0 * *")), "batch_jobs[0].schedule: '0 2 0 * *': day-of-month"),
    "job time zone": (
        _f((f"{JOB}.schedule", "TZ=UTC 0 2 * * *")),
        "batch_jobs[0].schedule: 'TZ=UTC 0 2 * * *': a time zone",
    ),
    "job step 0": (_f((f"{JOB}.schedule", "*/0 * * * *")), "batch_jobs[0].schedule: '*/0 * * * *': minute"),
    "job eventbridge syntax": (
        _f((f"{JOB}.schedule", "cron(0 2 * * ? *)")),
        "batch_jobs[0].schedule: 'cron(0 2 * * ? *)'",
    ),
    "job month 0": (_f((f"{JOB}.schedule", "0 2 1 0 *")), "batch_jobs[0].schedule: '0 2 1 0 *': month"),
    "job macro in capitals": (
        _f((f"{JOB}.schedule", "@DAILY")),
        "batch_jobs[0].schedule: '@DAILY' is not a schedule macro",
    ),
    "job parallelism above completions": (
        _f((f"{JOB}.parallelism", 3), (f"{JOB}.completions", 2)),
        "inference.batch_jobs[0].parallelism: 3 must not exceed completions (2)",
    ),
    "job completions 0": (
        _f((f"{JOB}.completions", 0)),
        "batch_jobs[0].completions: 0 should be greater than or equal to 1",
    ),
    "job parallelism 0": (
        _f((f"{JOB}.parallelism", 0)),
        "batch_jobs[0].parallelism: 0 should be greater than or equal to 1",
    ),
    "job parallelism beyond the gpu pool": (
        _f((f"{JOB}.parallelism", 2), (f"{JOB}.completions", 4)),
        "batch job nightly-fraud-scores: 2 pods x 1",
    ),
    "nearest weekday out of range": (
        _f((f"{FN}.schedule", "cron(0 0 45W * ? *)")),
        "schedule: 'cron(0 0 45W * ? *)': day-of-month '45W': nW takes a day from 1 to 31",
    ),
    "days before the last out of range": (
        _f((f"{FN}.schedule", "cron(0 0 L-40 * ? *)")),
        "schedule: 'cron(0 0 L-40 * ? *)': day-of-month 'L-40': L-n takes n from 1 to 30",
    ),
    "nth weekday of an unknown day": (
        _f((f"{FN}.schedule", "cron(0 0 ? * XYZ#2 *)")),
        "schedule: 'cron(0 0 ? * XYZ#2 *)': day-of-week 'XYZ#2': 'XYZ' is not a day",
    ),
    # EC2 instance types (pulumi_aws.ec2.InstanceType)
    "system type typo": (
        _f((f"{NS}:cluster.system_node_group.instance_types", ["t3.larg"])),
        "cluster.system_node_group.instance_types[0]: 't3.larg' is not an EC2 instance type (the list pulumi-aws ships",
    ),
    "system type invented": (
        _f((f"{NS}:cluster.system_node_group.instance_types", ["m7i.huge"])),
        "system_node_group.instance_types[0]: 'm7i.huge' is not an EC2 instance type",
    ),
    "system type uppercase": (
        _f((f"{NS}:cluster.system_node_group.instance_types", ["M7i.large"])),
        "cluster.system_node_group.instance_types[0]:",
    ),
    "system type gpu": (
        _f((f"{NS}:cluster.system_node_group.instance_types", ["g5.xlarge"])),
        "cluster.system_node_group.instance_types: ['g5.xlarge'] are GPU instance types",
    ),
    "system types empty": (
        _f((f"{NS}:cluster.system_node_group.instance_types", [])),
        "system_node_group.instance_types",
    ),
    "gpu type typo": (_f((f"{GPU}.instance_types", ["g4dn.xlarg"])), "cluster.gpu_node_groups[0].instance_types[0]:"),
    "gpu type is cpu": (
        _f((f"{GPU}.instance_types", ["m7i.large"])),
        "gpu_node_groups[0].instance_types: ['m7i.large'] are not GPU instance types",
    ),
    "gpu types mixed counts": (
        _f((f"{GPU}.instance_types", ["g4dn.xlarge", "g4dn.12xlarge"])),
        "gpu_node_groups[0].instance_types: ['g4dn.xlarge', 'g4dn.12xlarge'] mix GPU counts",
    ),
    "gpu types mixed gpus": (_f((f"{GPU}.instance_types", ["g4dn.xlarge", "g5.xlarge"])), "mix GPU types"),
    # AWS tags (https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html)
    "tag key bad characters": (_f((f"{NS}:tags.extra", {"team!": "ml"})), "tags.extra: tag 'team!': ['!'] not allowed"),
    "tag value bad characters": (
        _f((f"{NS}:tags.extra", {"team": "ml;drop"})),
        "tags.extra: tag 'team': [';'] not allowed",
    ),
    "tag value too long": (
        _f((f"{NS}:tags.extra", {"team": "v" * 257})),
        "tags.extra: tag 'team' has a 257-character value",
    ),
    "tag key too long": (_f((f"{NS}:tags.extra", {"k" * 129: "v"})), "has 129 characters; AWS allows 1-128"),
    "tag key empty": (_f((f"{NS}:tags.extra", {"": "v"})), "tags.extra: tag key '' has 0 characters"),
    "too many tags": (
        _f((f"{NS}:tags.extra", {f"t{i}": "v" for i in range(37)})),
        "tags.extra: 37 extra tags; AWS allows 50 tags per resource and the library adds up to 14",
    ),
    "tag aws prefix": (
        _f((f"{NS}:tags.extra", {"aws:team": "x"})),
        "tags.extra: tag key 'aws:team' starts with 'aws:'",
    ),
    "tag reserved": (_f((f"{NS}:tags.extra", {"owner": "x"})), "tags.extra: tag key 'owner' is set by the library"),
    "tag value newline": (_f((f"{NS}:tags.extra", {"team": "a\nb"})), "tags.extra: tag 'team': ['\\n'] not allowed"),
    "owner bad characters": (_f((f"{NS}:tags.owner", "ml#platform")), 'tags.owner: "ml#platform" the tag value'),
    "owner too long": (_f((f"{NS}:tags.owner", "o" * 257)), "tags.owner:"),
    "cost center empty": (_f((f"{NS}:tags.cost_center", "")), 'tags.cost_center: "" should have at least 1 character'),
    "classification unknown": (_f((f"{NS}:tags.data_classification", "secret")), 'tags.data_classification: "secret"'),
    # IAM role ARNs and EKS access entries
    "admin role name 65": (
        _f((f"{NS}:cluster.admin_role_arns", [ROLE + "r" * 65])),
        "cluster.admin_role_arns[0]: ",
    ),
    "admin role duplicate": (
        _f((f"{NS}:cluster.admin_role_arns", [ROLE + "a", ROLE + "a"])),
        "cluster.admin_role_arns: [",
    ),
    "admin role short account": (
        _f((f"{NS}:cluster.admin_role_arns", ["arn:aws:iam::123:role/x"])),
        "admin_role_arns[0]:",
    ),
    "deployer user arn": (
        _f((f"{NS}:cluster.deployer.role_arn", "arn:aws:iam::123456789012:user/ci")),
        'cluster.deployer.role_arn: "arn:aws:iam::123456789012:user/ci"',
    ),
    "deployer role name 65": (_f((f"{NS}:cluster.deployer.role_arn", ROLE + "d" * 65)), "cluster.deployer.role_arn:"),
    # E-mail subscribers
    "budget eleven emails": (
        _f((f"{NS}:budget.emails", [f"u{i}@example.com" for i in range(11)])),
        "budget.emails: [",
    ),
    "budget duplicate email": (
        _f((f"{NS}:budget.emails", ["a@example.com", "A@example.com"])),
        'budget.emails: ["a@example.com", "A@example.com"] entries must be unique',
    ),
    "alarm duplicate email": (
        _f((f"{NS}:alarms.emails", ["a@example.com", "a@example.com"])),
        'alarms.emails: ["a@example.com", "a@example.com"] entries must be unique',
    ),
    "alarm email invalid": (_f((f"{NS}:alarms.emails", ["not-an-email"])), 'alarms.emails[0]: "not-an-email"'),
    # Lambda environment (4 KB, https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
    "lambda environment 4 KB": (
        _f((f"{FN}.environment", {"BIG": "x" * 3600})),
        "preprocessing.functions[0].environment: the function's environment would take up to",
    ),
    "lambda environment secret": (
        _f((f"{FN}.environment", {"DB_PASSWORD": "x"})),
        "preprocessing.functions[0].environment:",
    ),
    # Names derived from the stack (ECR)
    "model name double hyphen": (
        _f((f"{MODEL}.name", "fraud--scorer"), (f"{JOB}.model", "fraud--scorer")),
        "inference.models[0].name: ECR repository 'hybrid-ai-platform-bad/fraud--scorer' is not a valid",
    ),
    "model name uppercase": (_f((f"{MODEL}.name", "Fraud")), 'inference.models[0].name: "Fraud"'),
    # CIDRs
    "vpc cidr ipv6": (_f((f"{NS}:network.cidr", "fd00::/48")), "network.cidr: 'fd00::/48' is an IPv6 CIDR"),
    "vpc cidr too big": (_f((f"{NS}:network.cidr", "10.0.0.0/8")), 'network.cidr: "10.0.0.0/8" /8 is outside'),
    "vpc cidr host bits": (
        _f((f"{NS}:network.cidr", "10.40.0.1/16")),
        'network.cidr: "10.40.0.1/16" is not a valid CIDR',
    ),
    "vpc cidr garbage": (_f((f"{NS}:network.cidr", "10.40.0.0")), 'network.cidr: "10.40.0.0"'),
    "deployer halves of the internet": (
        _f((f"{NS}:cluster.deployer.cidrs", ["0.0.0.0/1", "128.0.0.0/1"])),
        "cluster.deployer.cidrs: ['0.0.0.0/1', '128.0.0.0/1'] together cover 0.0.0.0/0",
    ),
    "deployer quarters of the internet": (
        _f((f"{NS}:cluster.deployer.cidrs", ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"])),
        "cluster.deployer.cidrs:",
    ),
    "deployer ipv6 halves": (_f((f"{NS}:cluster.deployer.cidrs", ["::/1", "8000::/1"])), "together cover ::/0"),
    "deployer every address": (_f((f"{NS}:cluster.deployer.cidrs", ["0.0.0.0/0"])), "cluster.deployer.cidrs:"),
    "deployer prefix 33": (_f((f"{NS}:cluster.deployer.cidrs", ["10.100.0.0/33"])), 'cluster.deployer.cidrs: ["10.100'),
    "deployer repeated cidr": (
        _f((f"{NS}:cluster.deployer.cidrs", ["10.100.0.0/24", "10.100.0.0/24"])),
        'cluster.deployer.cidrs: ["10.100.0.0/24", "10.100.0.0/24"] entries must be unique',
    ),
    "public halves of the internet": (
        _f(
            (f"{NS}:cluster.public_endpoint", True),
            (f"{NS}:cluster.public_access_cidrs", ["0.0.0.0/1", "128.0.0.0/1"]),
        ),
        "cluster.public_access_cidrs: ['0.0.0.0/1', '128.0.0.0/1'] together cover 0.0.0.0/0",
    ),
    "public ipv6 cidr": (
        _f((f"{NS}:cluster.public_endpoint", True), (f"{NS}:cluster.public_access_cidrs", ["2001:db8::/32"])),
        "cluster.public_access_cidrs: [\"2001:db8::/32\"] '2001:db8::/32' is an IPv6 CIDR; this field takes IPv4",
    ),
    "public endpoint without cidrs": (_f((f"{NS}:cluster.public_endpoint", True)), "cluster: public_endpoint is on"),
    "security group id": (
        _f((f"{NS}:cluster.deployer.source_security_group_ids", ["sg-xyz"])),
        'cluster.deployer.source_security_group_ids[0]: "sg-xyz"',
    ),
    # Availability zones (components/aws_rules.py AZ_COUNTS)
    "az count above region": (
        _f((f"{NS}:network.az_count", 4)),
        "network.az_count: 4 availability zones, but eu-west-1",
    ),
    "az default above region": (
        _f(
            ("aws:region", "us-west-1"),
            (f"{NS}:allowed_regions", ["us-west-1"]),
            (f"{NS}:environment", "prod"),
        ),
        "network.az_count (default): 3 availability zones, but us-west-1 offers 2",
    ),
    "az count 7": (_f((f"{NS}:network.az_count", 7)), "network.az_count: 7 should be less than or equal to 6"),
    "region outside allowed": (_f(("aws:region", "us-east-2")), "aws:region: 'us-east-2' is not in allowed_regions"),
    "region malformed": (_f(("aws:region", "mars-north-1")), 'region: "mars-north-1"'),
    # Typos never drop a setting
    "namespace typo": (
        _f(("hybrid-ai-plaform:alarms", {"emails": ["a@example.com"]})),
        "hybrid-ai-plaform:alarms: unknown namespace 'hybrid-ai-plaform'; did you mean 'hybrid-ai-platform:alarms'?",
    ),
    "namespace other provider": (_f(("azure:location", "westeurope")), "azure:location: unknown namespace 'azure'"),
    "section typo": (
        _f((f"{NS}:alarm", {"emails": []})),
        "alarm: unknown key 'hybrid-ai-platform:alarm'; did you mean",
    ),
    "usage function typo": (
        _f((f"{NS}:usage.functions", {"transaction": {"requests_per_month": 1}})),
        "usage.functions.transaction: no such function in this stack; did you mean 'transactions'?",
    ),
    "usage gpu group typo": (
        _f((f"{NS}:usage.gpu_node_hours_per_month", {"gpu-smal": 60})),
        "usage.gpu_node_hours_per_month.gpu-smal: no such GPU node group in this stack; did you mean 'gpu-small'?",
    ),
    "nested key typo": (
        _f((f"{FN}.memroy_mb", 512)),
        "preprocessing.functions[0].memroy_mb: unknown key; did you mean 'memory_mb'? allowed keys: name,",
    ),
    "deep key typo": (
        _f((f"{NS}:cluster.system_node_group.instance_type", ["m7i.large"])),
        "cluster.system_node_group.instance_type: unknown key; did you mean 'instance_types'?",
    ),
    "tags key typo": (_f((f"{NS}:tags.ownr", "x")), "tags.ownr: unknown key; did you mean 'owner'?"),
    "budget key typo": (_f((f"{NS}:budget.monthly_limit", 5)), "budget.monthly_limit: unknown key; did you mean"),
    "usage key typo": (_f((f"{NS}:usage.s3_storage", {})), "usage.s3_storage: unknown key"),
    "model key typo": (
        _f((f"{MODEL}.replicas", 2)),
        "inference.models[0].replicas: unknown key; did you mean 'min_replicas'? allowed keys: name,",
    ),
    "s3 usage bucket typo": (_f((f"{NS}:usage.s3_storage_gb", {"landng": 1})), "usage.s3_storage_gb.landng"),
    # Booleans are not numbers, numbers are not booleans
    "budget true": (_f((f"{NS}:budget.monthly_limit_usd", True)), "budget.monthly_limit_usd: true is a boolean"),
    "memory true": (_f((f"{FN}.memory_mb", True)), "preprocessing.functions[0].memory_mb: true is a boolean"),
    "az count false": (_f((f"{NS}:network.az_count", False)), "network.az_count: false is a boolean"),
    "threshold true": (_f((f"{NS}:budget.actual_thresholds_percent", [True])), "budget.actual_thresholds_percent"),
    "storage gb true": (_f((f"{NS}:usage.s3_storage_gb.landing", True)), "usage.s3_storage_gb: "),
    "public endpoint yes": (
        _f((f"{NS}:cluster.public_endpoint", "yes")),
        'cluster.public_endpoint: "yes" is not a boolean',
    ),
    "force destroy 1": (_f((f"{NS}:storage.force_destroy", 1)), "storage.force_destroy: 1 is not a boolean"),
    # Ranges, patterns and references
    "timeout 1200": (_f((f"{FN}.timeout_seconds", 1200)), "preprocessing.functions[0].timeout_seconds: 1200 is above"),
    "memory 64": (_f((f"{FN}.memory_mb", 64)), "preprocessing.functions[0].memory_mb: 64"),
    "log retention 13": (_f((f"{FN}.log_retention_days", 13)), "log_retention_days: 13 is not a CloudWatch Logs"),
    "landing prefix slash": (_f((f"{FN}.landing_prefix", "raw/transactions")), 'landing_prefix: "raw/transactions"'),
    "architecture arm": (_f((f"{FN}.architecture", "arm")), 'preprocessing.functions[0].architecture: "arm"'),
    "runtime 3.8": (_f((f"{FN}.runtime", "python3.8")), 'preprocessing.functions[0].runtime: "python3.8"'),
    "kubernetes 1.20": (_f((f"{NS}:cluster.kubernetes_version", "1.20")), 'cluster.kubernetes_version: "1.20"'),
    "gpu min above max": (_f((f"{GPU}.min_size", 5)), "cluster.gpu_node_groups[0]: sizes must satisfy"),
    "gpu pool too small": (_f((f"{GPU}.max_size", 1)), "cluster.gpu_node_groups[0].max_size: 1 gives 1 GPU"),
    "model gpus 9": (_f((f"{MODEL}.resources.gpus", 9)), "inference.models[0].resources.gpus: 9"),
    "model memory unit": (_f((f"{MODEL}.resources.memory", "4GB")), 'inference.models[0].resources.memory: "4GB"'),
    "model memory tiny": (
        _f((f"{MODEL}.resources.memory", "1Mi")),
        "inference.models[0].resources.memory: '1Mi' is under 4Mi",
    ),
    "model cpu zero": (_f((f"{MODEL}.resources.cpu", "0")), "inference.models[0].resources.cpu: '0' is no CPU"),
    "model never fits": (_f((f"{MODEL}.resources.memory", "400Gi")), "inference.models[0].resources: 1 CPU, 400Gi"),
    "replicas inverted": (_f((f"{MODEL}.min_replicas", 3)), "inference.models[0]: min_replicas 3 is above"),
    "job unknown model": (
        _f((f"{JOB}.model", "fraud-scorr")),
        "inference: batch job 'nightly-fraud-scores' uses model",
    ),
    "image tag space": (_f((f"{MODEL}.image_tag", "1 4")), 'inference.models[0].image_tag: "1 4"'),
    "key window 5": (_f((f"{NS}:encryption.deletion_window_days", 5)), "encryption.deletion_window_days: 5"),
    "budget negative": (_f((f"{NS}:budget.monthly_limit_usd", -5)), "budget.monthly_limit_usd: -5"),
    "budget text": (_f((f"{NS}:budget.monthly_limit_usd", "lots")), 'budget.monthly_limit_usd: "lots"'),
    "budget missing": (_f((f"{NS}:budget", DELETE)), "budget: is required"),
    "allowed regions empty": (_f((f"{NS}:allowed_regions", [])), "allowed_regions: [] should have at least 1 item"),
    "environment uppercase": (_f((f"{NS}:environment", "Prod!")), 'environment: "Prod!"'),
    "environment missing": (_f((f"{NS}:environment", DELETE)), "environment: is required"),
    "owner missing": (_f((f"{NS}:tags.owner", DELETE)), "tags.owner: is required"),
    "retention 0": (_f((f"{NS}:storage.model_registry.retention_days", 0)), "storage.model_registry.retention_days: 0"),
    "existing vpc one subnet": (
        _f((f"{NS}:network.existing", {"vpc_id": "vpc-0123abcd", "private_subnet_ids": ["subnet-0123abcd"]})),
        "network.existing.private_subnet_ids:",
    ),
    "system disk 10": (_f((f"{NS}:cluster.system_node_group.disk_size_gb", 10)), "system_node_group.disk_size_gb: 10"),
    "addon version": (
        _f((f"{NS}:cluster.addon_versions", {"vpc-cni": "1.0"})),
        'cluster.addon_versions.vpc-cni: "1.0"',
    ),
    "addon unknown": (
        _f((f"{NS}:cluster.addon_versions", {"istio": "v1.0.0-eksbuild.1"})),
        "cluster.addon_versions.istio",
    ),
    "functions duplicate": (
        _f((f"{NS}:preprocessing.functions", [DEV["config"][f"{NS}:preprocessing"]["functions"][0]] * 2)),
        "preprocessing: function names must be unique",
    ),
    # Cost never silently wrong: unpriced instance types and regions, negative usage
    "unpriced system type": (
        _f((f"{NS}:cluster.system_node_group.instance_types", ["m7i.8xlarge"])),
        "cluster.system_node_group.instance_types: 'm7i.8xlarge' has no eu-west-1 price",
    ),
    "unpriced region": (
        _f(("aws:region", "eu-west-2"), (f"{NS}:allowed_regions", ["eu-west-2"])),
        "aws:region: 'eu-west-2' has no prices in policies/blueprint_policies/data/prices.json",
    ),
    "negative storage": (_f((f"{NS}:usage.s3_storage_gb.landing", -1)), "usage.s3_storage_gb.landing: -1"),
    "negative gpu hours": (
        _f((f"{NS}:usage.gpu_node_hours_per_month.gpu-small", -60)),
        "gpu_node_hours_per_month.gpu-small",
    ),
    "negative requests": (
        _f((f"{NS}:usage.functions.transactions.requests_per_month", -1)),
        "usage.functions.transactions.requests_per_month: -1",
    ),
    "section not a mapping": (_f((f"{NS}:budget", "1500")), "budget: 1500 should be a valid dictionary"),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory with the real Pulumi.yaml and policies; stack files are written per case."""
    root = tmp_path_factory.mktemp("project")
    (root / "Pulumi.yaml").write_bytes((PROJECT_ROOT / "Pulumi.yaml").read_bytes())
    link_stack_program(root)
    os.symlink(PROJECT_ROOT / "policies", root / "policies")
    return root


def _plan_stack(project: Path, name: str, document: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> str:
    (project / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    code, out, err = run_cli(capsys, "--root", str(project), "plan", "--stack", name)
    assert (code, out) == (2, ""), err
    assert "Traceback" not in err
    assert err.startswith("blueprint: error: "), err
    return err


@pytest.mark.parametrize("case", sorted(BAD_CONFIG))
def test_a_bad_config_value_exits_2_naming_the_field(
    case: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the dev stack file with one bad value
    changes, expected = BAD_CONFIG[case]
    # WHEN it is planned THEN exit 2, no traceback, and the message names the field and the rule
    err = _plan_stack(project, "bad", stack_file(*changes), capsys)
    assert expected in err, err


BAD_STACK_NAMES = {
    "Upper": "stack name 'Upper': derived resource names",
    "with.dot": "stack name 'with.dot': derived resource names",
    "double--hyphen": "stack name 'double--hyphen'",
    "trailing-": "stack name 'trailing-'",
    "s" * 90: f"stack name '{'s' * 90}': the EKS cluster name",
}


@pytest.mark.parametrize("stack", sorted(BAD_STACK_NAMES))
def test_a_stack_name_that_derives_invalid_names_exits_2(
    stack: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _plan_stack(project, stack, stack_file(), capsys)
    assert BAD_STACK_NAMES[stack] in err, err


# --------------------------------------------------------------------------- policy guardrails

BAD_GUARDRAILS: dict[str, tuple[str, str]] = {
    "not json": ("{", "policies/guardrails/dev.json is not valid JSON"),
    "a list": ("[]", "policies/guardrails/dev.json: $: the top level must be an object"),
    "entry a string": ('{"budget-gpu-total": "mandatory"}', '$["budget-gpu-total"]: must be an object'),
    "level unknown": (
        '{"budget-gpu-total": {"enforcementLevel": "hard"}}',
        '$["budget-gpu-total"].enforcementLevel: "hard"',
    ),
    "level missing": ('{"budget-gpu-total": {}}', '$["budget-gpu-total"].enforcementLevel: null is not one of'),
    "budget copied": (
        '{"budget-monthly-cost": {"enforcementLevel": "mandatory", "monthlyLimitUsd": 5}}',
        '$["budget-monthly-cost"].monthlyLimitUsd: comes from the stack file (budget.monthly_limit_usd)',
    ),
    "regions copied": (
        '{"residency-resource-region": {"enforcementLevel": "mandatory", "allowedRegions": ["eu-west-1"]}}',
        '$["residency-resource-region"].allowedRegions: comes from the stack file (allowed_regions)',
    ),
    "not utf-8": ('{"a": "\udcff"}', "policies/guardrails/dev.json is not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(BAD_GUARDRAILS))
def test_a_bad_guardrails_file_exits_2_with_its_json_path(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a project whose dev guardrails are malformed in one way
    content, expected = BAD_GUARDRAILS[case]
    (tmp_path / "Pulumi.yaml").write_bytes((PROJECT_ROOT / "Pulumi.yaml").read_bytes())
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_bytes((PROJECT_ROOT / "stacks" / "Pulumi.dev.yaml").read_bytes())
    (tmp_path / "policies" / "guardrails").mkdir(parents=True)
    (tmp_path / "policies" / "guardrails" / "dev.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    # WHEN the policy config is derived
    code, out, err = run_cli(capsys, "--root", str(tmp_path), "policy-config", "--stack", "dev")
    # THEN exit 2, nothing written, the file and JSON path named
    assert (code, out) == (2, ""), err
    assert "Traceback" not in err
    assert expected in err, err


# --------------------------------------------------------------------------- plan files


def _plan_with(path: list[Any], value: Any) -> dict[str, Any]:
    document, _ = plan_pair()
    node: Any = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return document


BAD_PLANS: dict[str, tuple[Any, str]] = {
    "cost currency a number": (_plan_with(["cost", "currency"], 1), "$.cost.currency"),
    "resource custom a string": (_plan_with(["resources", 0, "custom"], "yes"), "$.resources[0].custom"),
    "resource dependencies a string": (
        _plan_with(["resources", 2, "dependencies"], "u"),
        "$.resources[2].dependencies",
    ),
    "project a number": (_plan_with(["project"], 3), "$.project"),
    "outputs a list": (_plan_with(["outputs"], []), "$.outputs"),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_a_wrong_shape_plan_file_exits_2_with_the_json_path(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document, expected = BAD_PLANS[case]
    (tmp_path / "head.json").write_text(json.dumps(document))
    code, out, err = run_cli(capsys, "diff", str(BASE_PLAN), str(tmp_path / "head.json"))
    assert (code, out) == (2, ""), err
    assert "Traceback" not in err
    assert expected in err, err


# --------------------------------------------------------------------------- CLI arguments

BAD_ARGUMENTS: dict[str, tuple[list[str], str]] = {
    "plan without stack": (["plan"], "the following arguments are required: --stack/-s"),
    "plan unknown format": (
        ["plan", "--stack", "dev", "--format", "xml"],
        "argument --format/-f: invalid choice: 'xml'",
    ),
    "diff one file": (["diff", str(BASE_PLAN)], "the following arguments are required: head"),
    "policy-config write and check": (
        ["policy-config", "--stack", "dev", "--write", "--check"],
        "argument --check: not allowed with argument --write",
    ),
    "preflight unknown format": (["preflight", "--stack", "dev", "--format", "sarif"], "argument --format/-f"),
    "unknown command": (["deploy"], "argument command: invalid choice: 'deploy'"),
    "unknown stack": (["plan", "--stack", "nosuch"], "unknown stack 'nosuch': there is no stacks/Pulumi.nosuch.yaml"),
    "policy-config unknown stack": (["policy-config", "--stack", "nosuch"], "unknown stack 'nosuch'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_arguments_exit_2_naming_the_argument(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, expected = BAD_ARGUMENTS[case]
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (2, ""), err
    assert "Traceback" not in err
    assert expected in err, err


def test_over_a_hundred_distinct_bad_inputs_are_covered() -> None:
    total = len(BAD_CONFIG) + len(BAD_STACK_NAMES) + len(BAD_GUARDRAILS) + len(BAD_PLANS) + len(BAD_ARGUMENTS)
    assert total >= 100, total


# --------------------------------------------------------------------------- valid edge inputs

VALID_EDGES: dict[str, list[tuple[str, Any]]] = {
    "cronjob @daily": _f((f"{JOB}.schedule", "@daily")),
    "cronjob @every": _f((f"{JOB}.schedule", "@every 12h")),
    "cronjob names and steps": _f((f"{JOB}.schedule", "*/15 1-5 ? jan,MAR mon-fri")),
    "cronjob sunday 0": _f((f"{JOB}.schedule", "0 2 * * 0")),
    "eventbridge weekdays": _f((f"{FN}.schedule", "cron(0/15 8-18 ? * MON-FRI *)")),
    "eventbridge last day": _f((f"{FN}.schedule", "cron(0 2 L * ? *)")),
    "eventbridge nth weekday": _f((f"{FN}.schedule", "cron(0 2 ? * 3#2 *)")),
    "eventbridge named nth weekday and nearest weekday": _f((f"{FN}.schedule", "cron(0 2 15W * ? *)")),
    "eventbridge rate 1 minute": _f((f"{FN}.schedule", "rate(1 minute)")),
    "model memory 4G": _f((f"{MODEL}.resources.memory", "4G")),
    "model cpu 500m": _f((f"{MODEL}.resources.cpu", "500m")),
    "x86_64 function with its build": _f((f"{FN}.architecture", "x86_64")),
    "unicode tag and 36 extra tags": _f(
        (f"{NS}:tags.extra", {"équipe": "Données ML", **{f"t{i}": "v" for i in range(35)}})
    ),
    "ten budget emails": _f((f"{NS}:budget.emails", [f"u{i}@example.com" for i in range(10)])),
    "half of the internet": _f((f"{NS}:cluster.deployer.cidrs", ["0.0.0.0/1", "2001:db8::/32"])),
    "six AZs in us-east-1": _f(
        ("aws:region", "us-east-1"), (f"{NS}:network.az_count", 6), (f"{NS}:network.cidr", "10.40.0.0/16")
    ),
    "environment qa": _f((f"{NS}:environment", "qa")),
    "role name of 64": _f((f"{NS}:cluster.admin_role_arns", [ROLE + "r" * 64])),
}


@pytest.fixture
def both_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build directory holding the real arm64 package and an x86_64 one (its manifest over the same
    archives: the offline plan reads the manifest and hashes, not the wheels), so the x86_64 case does not
    depend on `make package LAMBDA_ARCHES=x86_64` having run."""
    import stacks.program as program

    real = PROJECT_ROOT / "build" / "lambda" / "arm64"
    build = tmp_path / "build" / "lambda"
    (build / "x86_64").mkdir(parents=True)
    os.symlink(real, build / "arm64")
    manifest = json.loads((real / "manifest.json").read_text())
    manifest["arch"] = "x86_64"
    for name in ("function_zip", "layer_zip"):
        if manifest.get(name):
            manifest[name] = str(real / manifest[name])
    (build / "x86_64" / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(program, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(program, "LAMBDA_BUILD_DIR", build)


@pytest.mark.usefixtures("both_builds")
@pytest.mark.parametrize("case", sorted(VALID_EDGES))
def test_valid_edge_inputs_are_accepted(case: str, project: Path) -> None:
    # GIVEN the dev stack file with a value at the edge of what AWS/Kubernetes accept
    (project / "stacks" / "Pulumi.edge.yaml").write_text(yaml.safe_dump(stack_file(*VALID_EDGES[case])))
    # WHEN the program runs THEN it is accepted (ConfigError would propagate) and resources are planned
    plan = synthesize("edge", root=project)
    assert len(plan.resources) > 100
    if case == "x86_64 function with its build":
        functions = [r for r in plan.to_json()["resources"] if r["type"] == "aws:lambda/function:Function"]
        assert [f["inputs"]["architectures"] for f in functions] == [["x86_64"]]


def test_a_stack_name_with_underscore_and_digits_is_accepted(project: Path) -> None:
    (project / "stacks" / "Pulumi.qa_2.yaml").write_text(yaml.safe_dump(stack_file()))
    assert synthesize("qa_2", root=project).stack == "qa_2"


def test_truncated_function_names_never_collide(project: Path) -> None:
    # GIVEN a long stack name and two functions whose derived names share their first 64 characters
    stack = "s" * 50
    document = stack_file()
    first = document["config"][f"{NS}:preprocessing"]["functions"][0]
    second = {**first, "name": first["name"] + "-b", "landing_prefix": "raw/other/"}
    document["config"][f"{NS}:preprocessing"]["functions"].append(second)
    (project / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
    # WHEN planned
    plan = synthesize(stack, root=project)
    # THEN the Lambda names fit Lambda's 64 characters and differ (a hash of the whole name, not a cut)
    names = [r.inputs["name"] for r in plan.resources if r.type == "aws:lambda/function:Function"]
    assert len(names) == 2
    assert all(len(n) <= 64 for n in names)
    assert len(set(names)) == 2
