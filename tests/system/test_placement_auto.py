"""System test of ``placement: auto`` (issue 15; docs/placement.md, "The size split"): a small and a large
object land under ``transactions``' prefix, each is routed by the deployed size rules to exactly one queue,
and the real code of its path (the Lambda handler under the function's role, the cluster worker under its
Pod Identity role) writes its features to the feature store exactly once; both queues end empty.

The plan is prod's with ``transactions`` on ``auto`` and a size threshold of :data:`THRESHOLD` bytes (set,
so the shipped samples fall on both sides of it; ``tests.conftest.placed_prod_plan``), deployed into the
session's moto server (IAM on) by ``tests/system/deploy.py``, as the shipped stacks are in
``test_system_emulated_aws.py``, whose harness (roles, environments, moto's gaps) this test reuses:

- moto's own S3 -> EventBridge -> SQS delivery of each upload is observed (it must reach exactly one of the
  stack's queues, the object's path) and discarded: moto spells ``detail.object.eTag`` (AWS: ``etag``);
- moto's matcher is not trusted with the numeric conditions alone: the deployed patterns are also evaluated
  with this project's matcher of EventBridge's documented numeric semantics
  (``hybrid_ai_platform.cli.checks.size_split``;
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html, "Numeric
  matching");
- the Lambda path runs under the ESM harness (moto's event source mapping ignores ``batchItemFailures``);
  the worker deletes with ``DeleteMessageBatch``, authorised as ``sqs:DeleteMessage`` as AWS does by the
  test's moto server (``moto_server.py``).
"""

from __future__ import annotations

import gzip
import importlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hybrid_ai_platform.cli.checks.size_split import matching_rules
from tests.conftest import PLACED_THRESHOLD, placed_prod_plan
from tests.e2e.test_workload_contracts import k8s_env
from tests.system.conftest import MotoServer
from tests.system.deploy import QUEUE
from tests.system.test_system_emulated_aws import (
    HARNESS_ENV,
    SAMPLES,
    System,
    assert_aws_would_answer_the_same,
    deliver,
    deployed_system,
    esm_for,
    lambda_runtime,
    matches_everything_in_moto,
    of_type,
    pod_role,
    queue_of,
    receive_all,
    targets_of,
    upload,
)

THRESHOLD = PLACED_THRESHOLD
"""``transactions``' size threshold in this plan: the gzipped JSON Lines sample (2,829 bytes) is below it,
the CSV sample (21,523 bytes) above it (both asserted below)."""
SMALL_SAMPLE = "transactions_sample.jsonl.gz"
LARGE_SAMPLE = "transactions_sample.csv"


@pytest.fixture(scope="module")
def auto_system(moto_server: MotoServer) -> Iterator[System]:
    """prod with ``transactions`` on ``auto`` (and ``transactions-backfill`` on ``cluster``; the plan the
    component tests check, tests/conftest.py) deployed into an empty moto (IAM on), with an admin deployer."""
    with deployed_system("prod-auto", placed_prod_plan().to_json(), moto_server) as deployed:
        yield deployed


@contextmanager
def worker_runtime(system: System, workload: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, str]]:
    """The worker Deployment's container environment (the plan's) under its Pod Identity role, with a fresh
    ``preprocessing.handler`` (Powertools reads the environment at import); yields that environment."""
    pod = system.deployment.resolve(workload, "spec")["template"]["spec"]
    [container] = pod["containers"]
    # the harness's own variables: X-Ray off, and the heartbeat on the test's /tmp (the pod's emptyDir)
    env = {**k8s_env(container), **HARNESS_ENV, "WORKER_HEARTBEAT_FILE": str(tmp_path / "heartbeat")}
    with system.running_as(pod_role(system, workload, pod), env):
        from preprocessing.config import get_settings
        from preprocessing.storage import s3_client

        get_settings.cache_clear()
        s3_client.cache_clear()
        previous = sys.modules.pop("preprocessing.handler", None)
        try:
            importlib.import_module("preprocessing.handler")
            yield env
        finally:
            get_settings.cache_clear()
            s3_client.cache_clear()
            sys.modules.pop("preprocessing.handler", None)
            if previous is not None:
                sys.modules["preprocessing.handler"] = previous
                import preprocessing

                preprocessing.handler = previous  # type: ignore[attr-defined]


def rows_of(sample: str) -> int:
    """Data rows of a shipped sample (CSV: lines after the header; JSON Lines: lines)."""
    body = (SAMPLES / sample).read_bytes()
    text = gzip.decompress(body).decode() if sample.endswith(".gz") else body.decode()
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines) - 1 if sample.endswith(".csv") else len(lines)


def messages_left(system: System, queue: dict[str, Any]) -> int:
    """Visible plus in-flight messages of ``queue`` (what an empty queue has none of)."""
    attributes = system.client("sqs").get_queue_attributes(
        QueueUrl=system.deployment.real_of(queue, "url"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_auto_lands_a_small_and_a_large_object_once_each_on_its_own_path(auto_system: System, tmp_path: Path) -> None:
    system, d = auto_system, auto_system.deployment
    function = d.named("transactions-function")
    worker = d.named("transactions-worker-deployment")
    _, lambda_queue = queue_of(system, function)
    cluster_queue = d.named("transactions-cluster-queue")
    small_rule, large_rule = d.named("transactions-object-created"), d.named("transactions-object-created-large")
    # GIVEN the two size rules, deployed, each with exactly one SQS target: its path's queue
    deployed_patterns = {}
    for rule, queue in ((small_rule, lambda_queue), (large_rule, cluster_queue)):
        assert [r["urn"] for r, _ in targets_of(system, queue) if "eventPattern" in r["inputs"]] == [rule["urn"]]
        [target] = system.client("events").list_targets_by_rule(Rule=d.real_of(rule, "id"))["Targets"]
        assert target["Arn"] == d.real_of(queue, "arn")
        described = system.client("events").describe_rule(Name=d.real_of(rule, "id"))
        deployed_patterns[rule["name"]] = json.loads(described["EventPattern"])
    # AND the worker consumes the cluster queue
    pod = d.resolve(worker, "spec")["template"]["spec"]
    assert k8s_env(pod["containers"][0])["QUEUE_URL"] == d.real_of(cluster_queue, "url")

    # WHEN a small and a large object land under the function's prefix
    system.recorder.calls.clear()
    small = upload(system, function, SMALL_SAMPLE, "auto-small")
    large = upload(system, function, LARGE_SAMPLE, "auto-large")
    assert small["detail"]["object"]["size"] <= THRESHOLD < large["detail"]["object"]["size"]

    for event, queue, rule in ((small, lambda_queue, small_rule), (large, cluster_queue, large_rule)):
        key = event["detail"]["object"]["key"]
        # THEN by EventBridge's documented numeric semantics (this project's matcher) exactly its rule matches
        assert matching_rules(deployed_patterns, event["detail"]["object"]["size"]) == [rule["name"]], key
        # AND moto's own S3 -> EventBridge -> SQS delivery reached exactly that rule's queue of all the stack's
        # queues (copies on queues of pattern-less schedule rules, which moto matches to everything, are
        # discarded unjudged); moto's copy spells eTag, so AWS's documented event is delivered in its place
        reached = []
        for other in of_type(system, QUEUE):
            copies = receive_all(system, other, lambda m, key=key: m["detail"].get("object", {}).get("key") == key)
            created = [m for m in copies if m["detail-type"] == "Object Created"]
            if created and not matches_everything_in_moto(system, other):
                assert len(created) == 1 and "eTag" in created[0]["detail"]["object"], other["name"]
                reached.append(other["name"])
        assert reached == [queue["name"]], key
        deliver(system, event, queue)

    # WHEN the Lambda path's event source mapping drains its queue under the function's role and environment
    with lambda_runtime(system, function) as (handler, creds):
        polls = esm_for(system, function, handler, creds).drain(deadline_seconds=15)
    # THEN it received one message (the small object's) and failed none
    assert sum(len(p.received) for p in polls) == 1 and not any(p.failed for p in polls), polls
    assert all(p.invocation_error is None for p in polls)

    # WHEN the worker (python -m preprocessing.worker's loop) polls the cluster queue once under its role
    with worker_runtime(system, worker, tmp_path) as env:
        from preprocessing.worker import Worker, WorkerSettings, sqs_client

        def timed_out() -> None:
            raise AssertionError("the worker's batch outlived its timeout")

        documents: list[str] = []
        loop = Worker(sqs_client(system.region), WorkerSettings.from_environ(env), sink=documents.append,
                      on_timeout=timed_out)  # fmt: skip
        outcome = loop.poll_once()
    # THEN it processed and deleted the one message (the large object's), and reported it processed under the
    # function's metric dimensions
    assert len(outcome.received) == 1 and outcome.failed == [] and outcome.deleted == outcome.received, outcome
    emf = [json.loads(document) for document in documents]
    assert [doc["ObjectsProcessed"] for doc in emf if "ObjectsProcessed" in doc] == [[1.0]]
    assert {doc["service"] for doc in emf} == {"transactions"}

    # AND each object's features are in the feature store exactly once: one manifest per object, every input
    # row accounted for, and the Parquet outputs holding the valid rows once
    fn_env = system.deployment.resolve(function, "environment")["variables"]
    s3 = system.client("s3")
    manifests = [
        json.loads(s3.get_object(Bucket=fn_env["FEATURE_BUCKET"], Key=m["Key"])["Body"].read())
        for m in s3.list_objects_v2(Bucket=fn_env["FEATURE_BUCKET"], Prefix=fn_env["MANIFEST_PREFIX"])["Contents"]
    ]
    by_key = {m["source"]["key"]: m for m in manifests}
    assert sorted(m["source"]["key"] for m in manifests) == sorted(e["detail"]["object"]["key"] for e in (small, large))
    for event, sample in ((small, SMALL_SAMPLE), (large, LARGE_SAMPLE)):
        manifest = by_key[event["detail"]["object"]["key"]]
        assert manifest["rows"]["input"] == rows_of(sample)
        assert manifest["rows"]["valid"] + manifest["rows"]["quarantined"] == manifest["rows"]["input"]
        assert manifest["rows"]["valid"] > 0
    # (every Parquet object under the feature prefix is one of the manifests' outputs, holding its rows)
    feature_keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=fn_env["FEATURE_BUCKET"], Prefix=fn_env["FEATURE_PREFIX"])["Contents"]
        if o["Key"].endswith(".parquet")
    ]
    outputs = {o["key"]: o["rows"] for m in manifests for o in m["outputs"]}
    assert sorted(feature_keys) == sorted(outputs)
    for key, rows in outputs.items():
        body = s3.get_object(Bucket=fn_env["FEATURE_BUCKET"], Key=key)["Body"].read()
        assert pq.read_metadata(pa.BufferReader(body)).num_rows == rows
    assert sum(outputs.values()) == sum(m["rows"]["valid"] for m in manifests)

    # AND both paths' queues and dead-letter queues end empty
    for queue in (lambda_queue, cluster_queue):
        dlq = d.dependency(queue, "redrivePolicy", QUEUE)
        assert (messages_left(system, queue), messages_left(system, dlq)) == (0, 0), queue["name"]

    # AND every S3 answer both paths relied on is the one AWS would give their roles
    assert_aws_would_answer_the_same(system, system.recorder.calls)
