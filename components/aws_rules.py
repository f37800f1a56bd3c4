"""Rules AWS, Kubernetes and Pulumi enforce at deploy time, checked when the config is read.

Each check returns the problem as text (or ``None``) so :mod:`hybrid_ai_platform.config` reports it on the
field's dotted path, citing the rule, minutes before ``pulumi up`` would fail on it:

- EventBridge ``cron(...)``/``rate(...)`` schedules
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html);
- Kubernetes CronJob schedules: five fields or the ``@`` macros, parsed as the CronJob controller's
  ``robfig/cron`` standard parser does
  (https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-syntax);
- AWS tag rules (https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html);
- availability zones per region (:data:`AZ_COUNTS`, dated);
- names derived from the stack name (:func:`derived_name_problems`), with :func:`bounded_name` so a
  truncated name never collides with another.

Example::

    >>> eventbridge_schedule_problem("rate(1 hours)")
    "'rate(1 hours)': a rate of 1 takes the singular unit ('rate(1 hour)'); see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html"
    >>> cron_schedule_problem("@daily") is None
    True
"""

from __future__ import annotations

import hashlib
import re

EVENTBRIDGE_SCHEDULES_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html"
CRONJOB_SCHEDULE_DOC = "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-syntax"
TAGS_DOC = "https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html"

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _value(token: str, low: int, high: int, names: tuple[str, ...], first: int) -> int | None:
    """A field value: a number within ``low``-``high`` or a name (``names[i]`` is ``first + i``)."""
    if token.isdigit():
        number = int(token)
        return number if low <= number <= high else None
    upper = token.upper()
    return names.index(upper) + first if upper in names else None


def _field_problem(field: str, expr: str, low: int, high: int, names: tuple[str, ...], first: int) -> str | None:
    """Problem of one cron field made of ``,``-separated ``*``, ``n``, ``a-b`` items with optional ``/step``."""
    for item in expr.split(","):
        base, slash, step = item.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return f"{field} '{expr}': the step after '/' must be a positive number"
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        a = _value(start, low, high, names, first)
        b = _value(end, low, high, names, first) if dash else a
        if a is None or b is None:
            allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
            return f"{field} '{expr}': '{base}' is not a value ({allowed}) or range"
        if a > b:
            return f"{field} '{expr}': range '{base}' runs backwards"
    return None


def eventbridge_schedule_problem(value: str) -> str | None:
    """What EventBridge would refuse in a ``rate(...)`` or ``cron(...)`` schedule expression, else None.

    ``rate(value unit)``: a positive whole number and ``minute(s)``, ``hour(s)`` or ``day(s)``, the
    unit singular for 1 and plural otherwise. ``cron(...)``: six fields (minutes, hours,
    day-of-month, month, day-of-week 1-7 or SUN-SAT, year 1970-2199), exactly one of day-of-month
    and day-of-week being ``?``.
    """
    cite = f"see {EVENTBRIDGE_SCHEDULES_DOC}"
    rate = re.fullmatch(r"rate\((\S+) (\S+)\)", value)
    if rate:
        amount, unit = rate.groups()
        if not re.fullmatch(r"[1-9]\d*", amount):
            return f"'{value}': the rate must be a positive whole number; {cite}"
        if unit.rstrip("s") not in ("minute", "hour", "day") or unit.count("s") > 1:
            return f"'{value}': the unit must be minute(s), hour(s) or day(s); {cite}"
        singular = unit.rstrip("s")
        if amount == "1" and unit != singular:
            return f"'{value}': a rate of 1 takes the singular unit ('rate(1 {singular})'); {cite}"
        if amount != "1" and unit == singular:
            return f"'{value}': a rate above 1 takes the plural unit ('rate({amount} {singular}s)'); {cite}"
        return None
    cron = re.fullmatch(r"cron\((.*)\)", value)
    if not cron:
        return f"'{value}' is not an EventBridge schedule; use 'rate(1 hour)' or 'cron(0 2 * * ? *)'; {cite}"
    fields = cron.group(1).split()
    if len(fields) != 6:
        return (
            f"'{value}' has {len(fields)} cron fields; EventBridge takes six "
            f"(minutes hours day-of-month month day-of-week year), e.g. 'cron(0 2 * * ? *)'; {cite}"
        )
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        return (
            f"'{value}': exactly one of day-of-month ('{dom}') and day-of-week ('{dow}') must be '?' "
            f"(EventBridge cannot combine them); {cite}"
        )
    problem = (
        _field_problem("minutes", minutes, 0, 59, (), 0)
        or _field_problem("hours", hours, 0, 23, (), 0)
        or _field_problem("month", month, 1, 12, _MONTHS, 1)
        or _field_problem("year", year, 1970, 2199, (), 0)
    )
    if problem is None and dom != "?":
        special = re.fullmatch(r"L|LW|L-(\d{1,2})|(\d{1,2})W", dom)
        if special is None:
            problem = _field_problem("day-of-month", dom, 1, 31, (), 0)
        elif special.group(1) is not None and not 1 <= int(special.group(1)) <= 30:
            problem = f"day-of-month '{dom}': L-n takes n from 1 to 30"
        elif special.group(2) is not None and not 1 <= int(special.group(2)) <= 31:
            problem = f"day-of-month '{dom}': nW takes a day from 1 to 31"
    if problem is None and dow != "?":
        special = re.fullmatch(r"L|([1-7]|[A-Za-z]{3})(L|#[1-5])", dow)
        if special is None:
            problem = _field_problem("day-of-week", dow, 1, 7, _DAYS, 1)
        elif special.group(1) and special.group(1).isalpha() and special.group(1).upper() not in _DAYS:
            problem = f"day-of-week '{dow}': '{special.group(1)}' is not a day (use {', '.join(_DAYS)} or 1-7)"
    return f"'{value}': {problem}; {cite}" if problem else None


CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
"""The predefined schedules a CronJob accepts besides five fields."""


def cron_schedule_problem(value: str) -> str | None:
    """What the Kubernetes API would refuse in a CronJob ``schedule``, else None.

    Five fields (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-6
    or SUN-SAT; ``?`` is the same as ``*``), one of :data:`CRON_MACROS`, or ``@every <duration>``.
    ``TZ=``/``CRON_TZ=`` prefixes are refused by the API (the CronJob's ``timeZone`` field replaces them).
    """
    cite = f"see {CRONJOB_SCHEDULE_DOC}"
    text = value.strip()
    if re.match(r"(CRON_)?TZ=", text):
        return f"'{value}': a time zone in the schedule is refused by Kubernetes (schedules run in UTC); {cite}"
    if text.startswith("@"):
        if text in CRON_MACROS:  # Kubernetes' parser (robfig/cron v3) matches them case-sensitively
            return None
        if re.fullmatch(r"@every (\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", text):
            return None
        return f"'{value}' is not a schedule macro; use one of {', '.join(CRON_MACROS)} or five fields; {cite}"
    fields = text.split()
    if len(fields) != 5:
        return (
            f"'{value}' has {len(fields)} fields; a CronJob schedule has five "
            f"(minute hour day-of-month month day-of-week) or is a macro such as @daily; {cite}"
        )
    minute, hour, dom, month, dow = (f.replace("?", "*") for f in fields)
    problem = (
        _field_problem("minute", minute, 0, 59, (), 0)
        or _field_problem("hour", hour, 0, 23, (), 0)
        or _field_problem("day-of-month", dom, 1, 31, (), 0)
        or _field_problem("month", month, 1, 12, _MONTHS, 1)
        or _field_problem("day-of-week", dow, 0, 6, _DAYS, 0)
    )
    return f"'{value}': {problem}; {cite}" if problem else None


# Tags ---------------------------------------------------------------------------------------

MAX_TAGS_PER_RESOURCE = 50
"""User tags one AWS resource can carry (``aws:`` tags do not count)."""
LIBRARY_TAGS_PER_RESOURCE = 14
"""Most tags the library itself puts on one resource: the five required tags plus, on a GPU node
group, ``Name`` and the cluster autoscaler's seven discovery and node-template tags (one spare).
``tests/components/test_tagging.py`` checks every planned resource stays within it."""
_TAG_TEXT = re.compile(r"[\w +\-=.:/@]*")


def tag_problem(key: str, value: str) -> str | None:
    """What AWS would refuse in one tag: empty or over-long key (1-128), value over 256, characters
    other than letters, digits, spaces and ``+ - = . _ : / @``, or the reserved ``aws:`` prefix."""
    if not 1 <= len(key) <= 128:
        return f"tag key '{key}' has {len(key)} characters; AWS allows 1-128 ({TAGS_DOC})"
    if len(value) > 256:
        return f"tag '{key}' has a {len(value)}-character value; AWS allows at most 256 ({TAGS_DOC})"
    for text in (key, value):
        if not _TAG_TEXT.fullmatch(text):
            bad = sorted({c for c in text if not _TAG_TEXT.fullmatch(c)})
            return (
                f"tag '{key}': {bad} not allowed; AWS tags take letters, digits, spaces and + - = . _ : / @ "
                f"({TAGS_DOC})"
            )
    if key.lower().startswith("aws:"):
        return f"tag key '{key}' starts with 'aws:', which AWS reserves"
    return None


# Availability zones ---------------------------------------------------------------------------

AZ_COUNTS_SOURCE = "https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html"
AZ_COUNTS_DATE = "2026-11-28"
AZ_COUNTS: dict[str, int] = {
    "us-east-1": 6, "us-east-2": 3, "us-west-1": 2, "us-west-2": 4,
    "ca-central-1": 3, "ca-west-1": 3, "mx-central-1": 3, "sa-east-1": 3,
    "us-gov-east-1": 3, "us-gov-west-1": 3,
    "eu-central-1": 3, "eu-central-2": 3, "eu-west-1": 3, "eu-west-2": 3, "eu-west-3": 3,
    "eu-south-1": 3, "eu-south-2": 3, "eu-north-1": 3,
    "il-central-1": 3, "me-south-1": 3, "me-central-1": 3, "af-south-1": 3,
    "ap-east-1": 3, "ap-east-2": 3, "ap-south-1": 3, "ap-south-2": 3,
    "ap-northeast-1": 3, "ap-northeast-2": 4, "ap-northeast-3": 3,
    "ap-southeast-1": 3, "ap-southeast-2": 3, "ap-southeast-3": 3, "ap-southeast-4": 3,
    "ap-southeast-5": 3, "ap-southeast-6": 3, "ap-southeast-7": 3,
}  # fmt: skip
"""Availability zones an account can use per region, from :data:`AZ_COUNTS_SOURCE` as of
:data:`AZ_COUNTS_DATE`. ``us-west-1`` offers new accounts two AZs and ``ap-northeast-1`` three (its
fourth, apne1-az3, is closed to new accounts). The network component places one private subnet per
AZ, so ``network.az_count`` (default 3 in prod, 2 elsewhere) must not exceed this. A region missing
here is reported, never guessed: add its row with the date."""


def az_count_problem(region: str, az_count: int) -> str | None:
    """Why ``region`` cannot serve ``az_count`` availability zones, else None."""
    available = AZ_COUNTS.get(region)
    if available is None:
        return (
            f"region '{region}' is not in the AZ table (components/aws_rules.py AZ_COUNTS, {AZ_COUNTS_DATE}); "
            f"add its availability-zone count from {AZ_COUNTS_SOURCE}"
        )
    if az_count > available:
        return (
            f"{az_count} availability zones, but {region} offers {available} "
            f"({AZ_COUNTS_SOURCE}, as of {AZ_COUNTS_DATE}); set network.az_count to {available} or less"
        )
    return None


# Names derived from the stack name -------------------------------------------------------------


def bounded_name(name: str, max_length: int) -> str:
    """``name`` if it fits ``max_length``, else its head plus ``-`` and an 8-hex hash of the whole name,
    so two long names that share a head never truncate to the same name.

    >>> bounded_name("short", 64)
    'short'
    >>> len(bounded_name("x" * 70, 64)), bounded_name("x" * 70, 64) != bounded_name("x" * 69 + "y", 64)
    (64, True)
    """
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: max_length - 9].rstrip('-_')}-{digest}"


STACK_NAME_PATTERN = r"^[a-z0-9]+([_-][a-z0-9]+)*$"
"""Stack names whose derived physical names every service accepts: lowercase (ECR repository
names are lowercase), digits, single ``-``/``_`` between them (no ``.``: EKS cluster and Lambda
function names refuse it; ECR refuses doubled separators)."""
EKS_CLUSTER_NAME_MAX = 100
"""EKS cluster name: 1-100 characters, ``^[0-9A-Za-z][A-Za-z0-9\\-_]*``
(https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html)."""
ECR_REPOSITORY_PATTERN = r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"
"""ECR repository name, 2-256 characters
(https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html)."""


def derived_name_problems(project: str, stack: str, model_names: list[str]) -> list[str]:
    """Problems of the physical names built from ``<project>-<stack>``: the EKS cluster, KMS alias
    and log groups take it as is, ECR repositories as ``<project>-<stack>/<model>``."""
    prefix = f"{project}-{stack}"
    if not re.fullmatch(STACK_NAME_PATTERN, stack):
        return [
            f"stack name '{stack}': derived resource names (EKS cluster '{prefix}', ECR repositories "
            f"'{prefix}/<model>') need lowercase letters and digits joined by single '-' or '_'; rename the "
            "stack file stacks/Pulumi.<stack>.yaml"
        ]
    problems = []
    if len(prefix) > EKS_CLUSTER_NAME_MAX:
        problems.append(
            f"stack name '{stack}': the EKS cluster name '{prefix}' has {len(prefix)} characters; EKS allows "
            f"{EKS_CLUSTER_NAME_MAX}; shorten the stack name"
        )
    for index, model in enumerate(model_names):
        repository = f"{prefix}/{model}"
        if not re.fullmatch(ECR_REPOSITORY_PATTERN, repository) or len(repository) > 256:
            problems.append(
                f"inference.models[{index}].name: ECR repository '{repository}' is not a valid repository name "
                "(lowercase words joined by a single '.', '_' or '-'; "
                "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html)"
            )
    return problems
