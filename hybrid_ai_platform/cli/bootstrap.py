"""The plan's ``bootstrap`` section: what a fresh account gets first, and what waits for which artifact.

Each ``InferenceService`` registers a ``bootstrap`` output (see
``components/inference_service.py``): its status (``serving`` or ``waiting``), the resources and
batch jobs created only once its image and model version are published, and those artifacts with
the command that publishes each. :func:`section` joins these records with the recorded resources
(everything else under the component is created on the first update) into the plan document;
:func:`render_text` and :func:`render_markdown` show it. JSON shows the section as it is.

Example (``blueprint plan --stack dev --fresh-account``)::

    Bootstrap (fresh account): 1 of 1 model(s) waiting for their artifacts
      fraud-scorer: waiting (image, model not published)
        first:    11 resources: fraud-scorer-allow-callers, fraud-scorer-allow-egress, ...
        deferred: fraud-scorer-deployment, fraud-scorer-service, ...; batch job nightly-fraud-scores
        publish:  docker push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/hybrid-ai-platform-dev/fraud-scorer:1.4.0
                  aws s3 cp model.onnx "$(pulumi stack output model_registry_uri)/fraud-scorer/3/model.onnx"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from .plandoc import PlanDocument


class _Recorded(Protocol):
    urn: str
    name: str
    custom: bool
    parent: str | None


def section(records: Mapping[str, dict[str, Any]], resources: Iterable[_Recorded], account: str) -> dict[str, Any]:
    """The ``bootstrap`` section from the components' ``bootstrap`` outputs (by component URN).

    ``account`` names the mocked account state the plan was made for (``published`` or
    ``fresh-account``).
    """
    resources = list(resources)
    by_urn = {r.urn: r for r in resources}

    def under(resource: _Recorded, ancestor: str) -> bool:
        urn = resource.parent
        while urn:
            if urn == ancestor:
                return True
            parent = by_urn.get(urn)
            urn = parent.parent if parent else None
        return False

    models = []
    for urn in sorted(records):
        record = dict(records[urn])
        deferred = set(record.get("deferred_resources") or [])
        record["created_first"] = sorted(
            r.name for r in resources if r.custom and r.name not in deferred and under(r, urn)
        )
        models.append(record)
    models.sort(key=lambda m: str(m.get("model")))
    return {"account": account, "models": models}


def _missing(model: Mapping[str, Any]) -> list[str]:
    return [a["kind"] for a in model.get("artifacts") or [] if not a.get("published")]


def _section(document: Mapping[str, Any] | PlanDocument) -> Any:
    return document.bootstrap if isinstance(document, PlanDocument) else document.get("bootstrap")


def render_text(document: Mapping[str, Any] | PlanDocument) -> list[str]:
    """Text lines of the section (none when the plan has no ``bootstrap`` section or no model)."""
    boot = _section(document)
    if not isinstance(boot, Mapping) or not boot.get("models"):
        return []
    models = boot["models"]
    waiting = [m for m in models if m.get("status") != "serving"]
    lines = [f"Bootstrap ({boot.get('account')}): {len(waiting)} of {len(models)} model(s) waiting for their artifacts"]
    for model in models:
        missing = _missing(model)
        status = f"waiting ({', '.join(missing)} not published)" if missing else "serving"
        first = model.get("created_first") or []
        deferred = ", ".join(model.get("deferred_resources") or [])
        jobs = "".join(f"; batch job {j}" for j in model.get("deferred_batch_jobs") or [])
        lines.append(f"  {model.get('model')}: {status}")
        lines.append(f"    first:    {len(first)} resources: {', '.join(first)}")
        lines.append(f"    deferred: {deferred}{jobs}")
        commands = [a["publish"] for a in model.get("artifacts") or [] if a.get("checked")]
        for i, command in enumerate(commands):
            lines.append(f"    {'publish:  ' if i == 0 else '          '}{command}")
    return [*lines, ""]


def render_markdown(document: Mapping[str, Any] | PlanDocument) -> str:
    """A ``<details>`` block with one row per model (empty when there is nothing to show)."""
    boot = _section(document)
    if not isinstance(boot, Mapping) or not boot.get("models"):
        return ""

    def cell(text: str) -> str:
        return "`" + text.replace("`", "'").replace("|", "\\|") + "`"

    rows = [
        "| Model | Status | Created first | Deferred until published | Publish |",
        "|---|---|---:|---|---|",
    ]
    for model in boot["models"]:
        missing = _missing(model)
        status = f"⏳ waiting ({', '.join(missing)})" if missing else "✅ serving"
        deferred = [
            *(model.get("deferred_resources") or []),
            *(f"job {j}" for j in model.get("deferred_batch_jobs") or []),
        ]
        commands = [a["publish"] for a in model.get("artifacts") or [] if a.get("checked")]
        rows.append(
            f"| {cell(str(model.get('model')))} | {status} | {len(model.get('created_first') or [])} "
            f"| {', '.join(cell(d) for d in deferred)} | {'<br>'.join(cell(c) for c in commands)} |"
        )
    return (
        f"<details><summary>Bootstrap ({boot.get('account')})</summary>\n\n"
        "A model's Deployment, Service, HPA, PDB and batch jobs are created once its image and model "
        "version are published; everything else is created by the first `pulumi up`.\n\n"
        + "\n".join(rows)
        + "\n\n</details>\n\n"
    )
