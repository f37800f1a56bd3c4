"""Data chain: what the batch jobs read is what the preprocessing functions write, column for column.

Three links, each judged on the plan (not the config), so a component that wires the wrong
environment is caught:

* **Reads are written.** Every batch-scoring CronJob reads ``s3://$FEATURE_BUCKET/$INPUT_PREFIX``
  (its container environment). Some preprocessing Lambda function must write exactly that bucket and
  prefix (its ``FEATURE_BUCKET`` and ``FEATURE_PREFIX``); otherwise the job scores nothing, every
  night, and succeeds. A job whose input comes from outside the stack says so with
  ``inference.batch_jobs[].external_input: true``. Mandatory.
* **Writes are read.** A feature set that functions write but no job reads is reported as advisory
  (it may well be consumed outside the plan: Athena, a feature store); ``preprocessing.functions[].
  terminal: true`` declares that and silences it.
* **Columns fit.** The model's ``signature.json`` (``inference.models[].signature_file``: the file
  that is published beside ``model.onnx``) names the feature and key columns the job reads, with
  their Arrow types. They are checked against the output schema of the feature set *as deployed*:
  the feature-set module is loaded from the function's code archive and its ``output_schema()``
  is compared by the batch job's own contract code (``inference_server.signature.ModelSignature.
  schema_problems``, the check the job runs on every input file), in a subprocess so neither
  package leaks into the planning process. A model without ``signature_file``, or a planning
  environment without the packages' dependencies (``pip install '.[lambda,server]'``), gives an
  advisory "not checked".
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..plandoc import Resource
from . import CheckContext, Finding, check
from .packages import FUNCTION, function_config_field

CRONJOB = "kubernetes:batch/v1:CronJob"
BATCH_JOB_LABEL = "hybrid-ai/batch-job"
"""Label the batch-job component puts on its CronJob: the ``inference.batch_jobs[].name``."""
CONTAINER_SRC = "container_src"
"""Where the batch job's contract code (``inference_server.signature``) lives in the project."""

_PROBE = """
import sys
before = set(sys.modules)
import json
container_src, archive = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
# Cold (the archive given): the function's code archive first, as the Lambda runtime searches /var/task first
# (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-searchpath).
# Warm (no archive yet): the imports, most of the probe's time, happen before the request names the archive.
sys.path[:0] = [archive, container_src] if archive else [container_src]
try:
    import pyarrow  # noqa: F401
    from inference_server.signature import ContractError, ModelSignature
    missing = None
except ImportError as exc:
    missing = exc
archive, feature_set, signature_path = json.loads(sys.stdin.readline())
if len(sys.argv) == 2:
    import os, zipfile
    if missing is not None:  # the archive may ship what the environment lacks: ask a probe that puts it first
        print(json.dumps({"cold": True}))
        raise SystemExit(0)
    if zipfile.is_zipfile(archive):
        provided = {name.split("/")[0] for name in zipfile.ZipFile(archive).namelist()}
    else:
        provided = set(os.listdir(archive)) if os.path.isdir(archive) else set()
    imported = {name.split(".")[0] for name in set(sys.modules) - before}
    if {name.split(".")[0] for name in provided} & imported:
        print(json.dumps({"cold": True}))  # the archive ships a module imported already: it would shadow it
        raise SystemExit(0)
    sys.path.insert(0, archive)
try:
    if missing is not None:
        raise missing
    from preprocessing.feature_sets import get_feature_set
except ImportError as exc:
    print(json.dumps({"unavailable": f"{exc.name or exc} is not installed (pip install '.[lambda,server]')"}))
    raise SystemExit(0)
try:
    with open(signature_path, "rb") as handle:
        signature = ModelSignature.parse(handle.read(), signature_path)
except (OSError, ContractError) as exc:
    print(json.dumps({"error": str(exc)}))
    raise SystemExit(0)
schema = get_feature_set(feature_set).output_schema()
print(json.dumps({
    "problems": signature.schema_problems(schema),
    "signature_feature_set": signature.feature_set,
}))
"""
PROBE_TIMEOUT_SECONDS = 120


def _start_probe(container_src: Path, archive: Path | None = None) -> subprocess.Popen[str]:
    """A probe process: it imports the batch job's contract code (after ``archive``'s modules, when given),
    then waits for one request on stdin."""
    return subprocess.Popen(
        [sys.executable, "-c", _PROBE, str(container_src), *([str(archive)] if archive else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


_warm: dict[Path, subprocess.Popen[str]] = {}
"""Probe processes started ahead of the check (:func:`warm_probe`), by container_src, each for one request."""
_warm_lock = threading.Lock()


@contextlib.contextmanager
def warm_probe(root: Path, stack_config: Mapping[str, Any], project: str) -> Iterator[None]:
    """Start the check's probe process now, for the check to use later; stop it on exit if it went unused.

    The probe's imports (pyarrow, the batch job's contract code) are most of its time. Started when a plan
    starts, they run on the other core while the program synthesizes, instead of after it. Started only when
    the stack's config (``<project>:inference``) has a batch job and a model with a ``signature_file``, the
    only case in which the check runs the probe; the result is the same with or without it.
    """
    inference = stack_config.get(f"{project}:inference")
    inference = inference if isinstance(inference, Mapping) else {}
    models = inference.get("models")
    signed = isinstance(models, list) and any(isinstance(m, Mapping) and m.get("signature_file") for m in models)
    wanted = signed and bool(inference.get("batch_jobs"))
    container_src = root / CONTAINER_SRC
    started = None
    if wanted:
        with _warm_lock:
            if container_src not in _warm:
                started = _warm[container_src] = _start_probe(container_src)
    try:
        yield
    finally:
        if started is not None:
            with _warm_lock:
                if _warm.get(container_src) is started:
                    del _warm[container_src]
                else:
                    started = None  # the check took it
            if started is not None:
                started.kill()
                started.communicate()


@functools.cache
def _contract(archive: Path, container_src: Path, feature_set: str, signature: Path) -> Mapping[str, Any]:
    """Run the batch job's schema check of ``signature`` against the deployed feature set's output
    schema, in a subprocess (a warm one when :func:`warm_probe` started it); the parsed JSON result
    (``problems``, ``error`` or ``unavailable``)."""
    with _warm_lock:
        warm = _warm.pop(container_src, None)
    request = json.dumps([str(archive), feature_set, str(signature)]) + "\n"
    result = _ask(warm or _start_probe(container_src, archive), request, archive, feature_set)
    if result.get("cold"):  # the warm probe's imports may differ from the archive-first ones: ask a probe that put
        # the archive first (the archive ships a module the warm probe imported, or an import failed)
        result = _ask(_start_probe(container_src, archive), request, archive, feature_set)
    return result


def _ask(process: subprocess.Popen[str], request: str, archive: Path, feature_set: str) -> Mapping[str, Any]:
    """Send a probe its request; its JSON answer, or an ``error`` for a probe that failed or hung."""
    try:
        stdout, stderr = process.communicate(request, timeout=PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"error": f"loading feature set '{feature_set}' from {archive.name} took over {PROBE_TIMEOUT_SECONDS} s"}
    if process.returncode != 0:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"loading feature set '{feature_set}' from {archive.name} failed: {last}"}
    parsed: Mapping[str, Any] = json.loads(stdout)
    return parsed


def _env(container: Mapping[str, Any]) -> dict[str, str]:
    return {str(e.get("name")): str(e.get("value")) for e in container.get("env") or [] if "value" in e}


def _jobs(context: CheckContext) -> Iterator[tuple[Resource, int | None, Mapping[str, Any], dict[str, str]]]:
    """Batch CronJobs with the index of their ``inference.batch_jobs`` entry, its config and the
    environment of the container that reads the feature store."""
    configured = (context.config("inference") or {}).get("batch_jobs") or []
    for cronjob in context.resources(CRONJOB):
        inputs = cronjob.inputs
        name = ((inputs.get("metadata") or {}).get("labels") or {}).get(BATCH_JOB_LABEL)
        pod = (((inputs.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        for container in (pod.get("spec") or {}).get("containers") or []:
            env = _env(container)
            if "INPUT_PREFIX" in env and "FEATURE_BUCKET" in env:
                index = next(
                    (i for i, j in enumerate(configured) if isinstance(j, Mapping) and j.get("name") == name), None
                )
                yield cronjob, index, (configured[index] if index is not None else {}), env


def _writers(context: CheckContext) -> list[tuple[Resource, dict[str, str]]]:
    """Preprocessing functions with their environment (those that write a feature prefix)."""
    result = []
    for function in context.resources(FUNCTION):
        variables = (function.inputs.get("environment") or {}).get("variables") or {}
        if variables.get("FEATURE_BUCKET") and variables.get("FEATURE_PREFIX"):
            result.append((function, {str(k): str(v) for k, v in variables.items()}))
    return result


def _job_field(index: int | None, key: str) -> str:
    return f"inference.batch_jobs[{index if index is not None else ''}].{key}"


@check(
    name="system-data-chain",
    id="BP-SYS-006",
    description=(
        "Every prefix a batch job reads is written by a preprocessing function (or declared external), every "
        "feature set written is read, and the model's signature columns exist in the feature set's output "
        "schema with the same types; otherwise a job scores nothing, or fails every night on its contract."
    ),
    remediation=(
        "Point the batch job at a feature set a function writes (inference.batch_jobs[].feature_set = "
        "preprocessing.functions[].feature_set), or set external_input: true; for column findings publish a "
        "signature that matches the feature set's output_schema() (or change the feature set and bump its "
        "schema_version)."
    ),
    severity="high",
    resource_types=(CRONJOB, FUNCTION),
)
def data_chain(context: CheckContext) -> Iterator[Finding]:
    """Match each job's input against the functions' outputs, then its model's columns."""
    writers = _writers(context)
    written = {(env["FEATURE_BUCKET"], env["FEATURE_PREFIX"]): (fn, env) for fn, env in writers}
    read: set[tuple[str, str]] = set()
    models = {
        m.get("name"): (i, m)
        for i, m in enumerate((context.config("inference") or {}).get("models") or [])
        if isinstance(m, Mapping)
    }
    for cronjob, index, job, env in _jobs(context):
        source = (env["FEATURE_BUCKET"], env["INPUT_PREFIX"])
        read.add(source)
        writer = written.get(source)
        if writer is None:
            if not job.get("external_input"):
                producers = ", ".join(sorted(f"s3://{b}/{p}" for b, p in written)) or "none"
                yield Finding(
                    f"batch job reads s3://{source[0]}/{source[1]}, which no preprocessing function writes "
                    f"(functions write: {producers}); it would score nothing",
                    field=_job_field(index, "feature_set"),
                    resource=cronjob,
                )
            continue
        yield from _columns(context, cronjob, index, job, env, writer, models)
    for function, variables in writers:
        if (variables["FEATURE_BUCKET"], variables["FEATURE_PREFIX"]) in read:
            continue
        config = _function_config(context, variables)
        if config.get("terminal"):
            continue
        yield Finding(
            f"feature set '{variables.get('FEATURE_SET')}' (s3://{variables['FEATURE_BUCKET']}/"
            f"{variables['FEATURE_PREFIX']}) is written but no batch job reads it; add a job or set terminal: true "
            "if it is consumed outside this stack",
            field=function_config_field(context, function, "terminal"),
            resource=function,
            enforcement="advisory",
        )


def _function_config(context: CheckContext, variables: Mapping[str, str]) -> Mapping[str, Any]:
    for entry in (context.config("preprocessing") or {}).get("functions") or []:
        if isinstance(entry, Mapping) and entry.get("name") == variables.get("POWERTOOLS_SERVICE_NAME"):
            return entry
    return {}


def _columns(
    context: CheckContext,
    cronjob: Resource,
    index: int | None,
    job: Mapping[str, Any],
    env: Mapping[str, str],
    writer: tuple[Resource, Mapping[str, str]],
    models: Mapping[Any, tuple[int, Mapping[str, Any]]],
) -> Iterator[Finding]:
    """The model's signature columns against the producing feature set's output schema."""
    function, variables = writer
    model_name = job.get("model") or env.get("MODEL_NAME")
    model_index, model = models.get(model_name, (None, {}))
    where = f"inference.models[{model_index if model_index is not None else ''}].signature_file"
    signature_file = model.get("signature_file")
    if not signature_file:
        yield Finding(
            f"model '{model_name}' has no signature_file, so its input columns are not checked against feature "
            f"set '{variables.get('FEATURE_SET')}' before the job runs",
            field=where,
            resource=cronjob,
            enforcement="advisory",
        )
        return
    archive = (function.inputs.get("code") or {}).get("archive") or {}
    archive_path = context.root / str(archive.get("path") or "")
    if not archive_path.is_file():
        yield Finding(
            f"cannot check model '{model_name}': the function package {archive.get('path')} is missing",
            field=where,
            resource=cronjob,
            enforcement="advisory",
        )
        return
    feature_set = variables.get("FEATURE_SET") or ""
    result = _contract(archive_path, context.root / CONTAINER_SRC, feature_set, context.root / signature_file)
    if "unavailable" in result:
        yield Finding(
            f"model '{model_name}' columns not checked: {result['unavailable']}",
            field=where,
            resource=cronjob,
            enforcement="advisory",
        )
        return
    if "error" in result:
        yield Finding(str(result["error"]), field=where, resource=cronjob)
        return
    declared = result.get("signature_feature_set")
    if declared and declared != env.get("FEATURE_SET"):
        yield Finding(
            f"{signature_file} was trained on feature set '{declared}', the job reads '{env.get('FEATURE_SET')}'",
            field=_job_field(index, "feature_set"),
            resource=cronjob,
        )
    for problem in result.get("problems") or []:
        yield Finding(
            f"{signature_file} does not fit feature set '{feature_set}' as deployed ({archive.get('path')}): {problem}",
            field=where,
            resource=cronjob,
        )
