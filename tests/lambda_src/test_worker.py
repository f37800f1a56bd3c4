"""The cluster worker (``preprocessing.worker``) against moto S3 + SQS with a redrive policy and a DLQ.

The worker runs the Lambda's own batch function; these tests hold it to the Lambda path's contract: a
processed message is deleted once, a failed one stays and is dead-lettered after ``maxReceiveCount``, SIGTERM
drains the batch in flight, the outputs are byte-identical to the Lambda's, and the metrics reach the
CloudWatch agent under the Lambda's namespace, names and dimensions.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from esm_harness import REGION, FakeLambdaContext, body_of, eventbridge_s3_object_created, sqs_lambda_record
from lambda_support import FEATURE_BUCKET, LANDING_BUCKET, LANDING_PREFIX, SAMPLES

from hybrid_ai_platform.cli.checks.permissions import declares

CSV_LINES = (SAMPLES / "transactions_sample.csv").read_bytes().splitlines(keepends=True)
CSV = b"".join(CSV_LINES[:25])
"""A small object: the sample's header and 24 rows (among them some the feature set quarantines)."""
MAX_RECEIVE_COUNT = 2
VISIBILITY_TIMEOUT = 60


@pytest.fixture
def queues(s3: Any) -> dict[str, str]:
    """The function's queue (visibility 60 s, redrive to a DLQ after 2 receives) and its DLQ, in moto."""
    import boto3

    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="preprocessing-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="preprocessing-queue",
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    return {"url": url, "dlq": dlq_url}


@pytest.fixture
def sqs(queues: dict[str, str]) -> Any:
    import boto3

    return boto3.client("sqs", region_name=REGION)


def _worker(handler_module: Any, sqs: Any, queue_url: str, tmp_path: Path, **kwargs: Any) -> Any:
    from preprocessing.worker import Worker, WorkerSettings

    settings = WorkerSettings(queue_url=queue_url, wait_seconds=0, heartbeat_file=tmp_path / "heartbeat")
    kwargs.setdefault("sink", lambda document: None)
    return Worker(sqs, settings, **kwargs)


def _land(s3: Any, name: str, body: bytes = CSV) -> dict[str, Any]:
    key = LANDING_PREFIX + name
    put = s3.put_object(Bucket=LANDING_BUCKET, Key=key, Body=body)
    return eventbridge_s3_object_created(
        LANDING_BUCKET, key, version_id=put["VersionId"], etag=put["ETag"], size=len(body)
    )


def _send(sqs: Any, queue_url: str, body: str) -> str:
    return str(sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"])


def _depth(sqs: Any, queue_url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _feature_store(s3: Any) -> dict[str, tuple[bytes, dict[str, str]]]:
    out = {}
    for item in s3.list_objects_v2(Bucket=FEATURE_BUCKET).get("Contents", []):
        got = s3.get_object(Bucket=FEATURE_BUCKET, Key=item["Key"])
        out[item["Key"]] = (got["Body"].read(), got["Metadata"])
    return out


def test_a_small_object_is_processed_once_and_its_message_deleted(
    handler_module: Any, s3: Any, sqs: Any, queues: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN a landed object and its event on the function's queue
    message_id = _send(sqs, queues["url"], body_of(_land(s3, "2024/05/03/a.csv")))
    worker = _worker(handler_module, sqs, queues["url"], tmp_path)
    # WHEN the worker polls
    outcome = worker.poll_once()
    # THEN the message was processed and deleted: nothing visible, nothing in flight, nothing left to receive
    assert (outcome.received, outcome.failed, outcome.deleted) == ([message_id], [], [message_id])
    assert _depth(sqs, queues["url"]) == (0, 0)
    assert worker.poll_once().received == []
    # AND the features, the quarantine and the manifest were written once
    keys = sorted(_feature_store(s3))
    assert [k.split("/")[1] for k in keys].count("_manifests") == 1
    assert any(k.endswith(".parquet") for k in keys)
    assert any("/_quarantine/" in k for k in keys)


def test_a_failing_record_stays_and_is_dead_lettered_after_max_receive_count(
    handler_module: Any, s3: Any, sqs: Any, queues: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN an event for an object that does not exist (every read fails)
    event = _land(s3, "2024/05/03/gone.csv")
    s3.delete_object(Bucket=LANDING_BUCKET, Key=event["detail"]["object"]["key"])
    event["detail"]["object"].pop("version-id")
    message_id = _send(sqs, queues["url"], body_of(event))
    worker = _worker(handler_module, sqs, queues["url"], tmp_path)
    for receive in range(1, MAX_RECEIVE_COUNT + 1):
        # WHEN the worker processes it
        outcome = worker.poll_once()
        # THEN it is not deleted: it stays in flight for the queue's visibility timeout, its receive count growing
        assert (outcome.failed, outcome.deleted) == ([message_id], [])
        assert outcome.receive_counts == {message_id: receive}
        assert _depth(sqs, queues["url"]) == (0, 1)
        # (the visibility timeout expiring, without waiting for it: the same API SQS applies it with)
        sqs.change_message_visibility(
            QueueUrl=queues["url"], ReceiptHandle=outcome.receipt_handles[message_id], VisibilityTimeout=0
        )
    # WHEN it reappears after maxReceiveCount receives THEN SQS moves it to the DLQ instead of delivering it
    assert worker.poll_once().received == []
    assert _depth(sqs, queues["url"]) == (0, 0)
    dead = sqs.receive_message(QueueUrl=queues["dlq"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in dead] == [event["detail"]["object"]["key"]]


def test_a_mixed_batch_deletes_the_successes_and_leaves_each_failure(
    handler_module: Any, s3: Any, sqs: Any, queues: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN one good event, one body that is not an event, one object outside the landing prefix
    good = _send(sqs, queues["url"], body_of(_land(s3, "2024/05/03/good.csv")))
    bad_body = _send(sqs, queues["url"], "not an event")
    outside = _land(s3, "2024/05/03/x.csv")
    outside["detail"]["object"]["key"] = "elsewhere/x.csv"
    bad_prefix = _send(sqs, queues["url"], body_of(outside))
    worker = _worker(handler_module, sqs, queues["url"], tmp_path)
    # WHEN the worker receives all three in one batch
    outcome = worker.poll_once()
    # THEN only the good one is deleted; both failures stay in flight for redelivery
    assert sorted(outcome.received) == sorted([good, bad_body, bad_prefix])
    assert sorted(outcome.failed) == sorted([bad_body, bad_prefix])
    assert outcome.deleted == [good]
    assert _depth(sqs, queues["url"]) == (0, 2)


@pytest.fixture
def restore_signals() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_sigterm_mid_batch_finishes_the_batch_deletes_it_receives_nothing_more_and_returns_0(
    handler_module: Any,
    s3: Any,
    sqs: Any,
    queues: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_signals: None,
) -> None:
    import preprocessing.pipeline as pipeline

    # GIVEN two events on the queue, and a real SIGTERM delivered while the first object is being processed
    first = _send(sqs, queues["url"], body_of(_land(s3, "2024/05/03/one.csv")))
    second = _send(sqs, queues["url"], body_of(_land(s3, "2024/05/03/two.csv")))
    original = pipeline.process_object
    signalled: list[str] = []

    def process_then_terminate(*args: Any, **kwargs: Any) -> Any:
        if not signalled:
            os.kill(os.getpid(), signal.SIGTERM)
            # a message that arrives after SIGTERM must not be received any more
            signalled.append(_send(sqs, queues["url"], body_of(_land(s3, "2024/05/03/late.csv"))))
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "process_object", process_then_terminate)
    worker = _worker(handler_module, sqs, queues["url"], tmp_path)
    batches: list[Any] = []
    poll = worker.poll_once

    def counted_poll() -> Any:
        batches.append(poll())
        return batches[-1]

    monkeypatch.setattr(worker, "poll_once", counted_poll)
    safety = threading.Timer(60, worker.stop.set)  # only if the signal were lost: the assertions then fail
    safety.start()
    worker.install_signal_handlers()
    # WHEN the worker runs until the signal
    try:
        code = worker.run()
    finally:
        safety.cancel()
    # THEN it stopped on the signal after one batch, having finished and deleted both messages in flight
    assert code == 0 and signalled and worker.stop.is_set()
    assert len(batches) == 1
    assert sorted(batches[0].deleted) == sorted([first, second])
    # AND the message sent after the signal is still waiting, never received
    assert _depth(sqs, queues["url"]) == (1, 0)


def test_a_batch_outliving_its_timeout_ends_like_a_timed_out_lambda(
    handler_module: Any, s3: Any, sqs: Any, queues: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import preprocessing.pipeline as pipeline

    # GIVEN a batch whose processing only continues once the worker's timeout has fired
    _send(sqs, queues["url"], body_of(_land(s3, "2024/05/03/slow.csv")))
    fired = threading.Event()
    original = pipeline.process_object

    def slow(*args: Any, **kwargs: Any) -> Any:
        assert fired.wait(30), "the timeout never fired"
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "process_object", slow)
    worker = _worker(handler_module, sqs, queues["url"], tmp_path, on_timeout=fired.set)
    # the default budget is the queue's visibility timeout / 6 (the stack's ratio), shorter than the visibility
    assert worker.timeout_seconds == VISIBILITY_TIMEOUT // 6
    worker.timeout_seconds = 0.01
    # WHEN it runs THEN the timeout fires while the batch is in flight (in production: the process exits 124)
    worker.poll_once()
    assert fired.is_set()


def test_the_worker_and_the_lambda_write_byte_identical_outputs_and_a_second_delivery_is_a_duplicate(
    handler_module: Any, s3: Any, sqs: Any, queues: dict[str, str], tmp_path: Path
) -> None:
    event = _land(s3, "2024/05/03/same.csv")
    worker = _worker(handler_module, sqs, queues["url"], tmp_path)
    # GIVEN the outputs of the Lambda for one object version
    assert handler_module.lambda_handler({"Records": [sqs_lambda_record(body_of(event))]}, FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    by_lambda = _feature_store(s3)
    assert by_lambda
    # WHEN the feature store is emptied and the worker processes the same object version
    s3.delete_objects(Bucket=FEATURE_BUCKET, Delete={"Objects": [{"Key": k} for k in by_lambda]})
    _send(sqs, queues["url"], body_of(event))
    assert worker.poll_once().failed == []
    # THEN it writes the same keys with the same bytes and metadata
    assert _feature_store(s3) == by_lambda
    # AND a further delivery, to either path, writes nothing (the manifest marks the version as processed)
    assert handler_module.lambda_handler({"Records": [sqs_lambda_record(body_of(event))]}, FakeLambdaContext()) == {
        "batchItemFailures": []
    }
    _send(sqs, queues["url"], body_of(event))
    assert worker.poll_once().deleted
    assert _feature_store(s3) == by_lambda


def _metric_keys(documents: list[dict[str, Any]]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    keys = set()
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = tuple(sorted((name, doc[name]) for name in dimension_set))
                keys |= {(directive["Namespace"], metric["Name"], dims) for metric in directive["Metrics"]}
    return keys


def test_metrics_reach_the_cloudwatch_agent_with_the_lambdas_namespace_names_and_dimensions(
    handler_module: Any,
    s3: Any,
    sqs: Any,
    queues: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from preprocessing.worker import agent_sink

    # GIVEN a TCP listener standing in for the CloudWatch agent's EMF endpoint
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def accept() -> None:
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(65536):
                received.append(chunk)

    listener = threading.Thread(target=accept, daemon=True)
    listener.start()
    endpoint = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    # AND the Lambda's EMF for a batch of one processed object and one failed record
    good, bad = body_of(_land(s3, "2024/05/03/m.csv")), "not an event"
    handler_module.lambda_handler({"Records": [sqs_lambda_record(good), sqs_lambda_record(bad)]}, FakeLambdaContext())
    lambda_docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    # WHEN the worker processes the same kind of batch, sending its metrics to the agent
    s3.delete_objects(Bucket=FEATURE_BUCKET, Delete={"Objects": [{"Key": k} for k in _feature_store(s3)]})
    _send(sqs, queues["url"], good)
    _send(sqs, queues["url"], bad)
    _worker(handler_module, sqs, queues["url"], tmp_path, sink=agent_sink(endpoint)).poll_once()
    listener.join(timeout=10)
    server.close()
    # THEN the agent got one newline-terminated EMF document with exactly the Lambda's metrics
    payload = b"".join(received).decode()
    assert payload.endswith("\n") and payload.count("\n") == 1
    worker_keys = _metric_keys([json.loads(payload)])
    assert worker_keys == _metric_keys(lambda_docs)
    assert {name for _, name, _ in worker_keys} >= {"ObjectsProcessed", "RecordsFailed", "FeatureLagSeconds"}
    assert {dims for _, _, dims in worker_keys} == {(("FeatureSet", "transactions"), ("service", "preprocessing"))}


def test_every_call_the_worker_makes_is_declared_and_every_worker_declaration_is_made(
    handler_module: Any, s3: Any, sqs: Any, queues: dict[str, str], tmp_path: Path
) -> None:
    from preprocessing.aws_calls import WORKLOADS
    from preprocessing.storage import s3_client

    calls: list[tuple[str, str, dict[str, Any]]] = []

    def hook(params: dict[str, Any], event_name: str, **kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        calls.append((service, operation, dict(params)))

    # GIVEN the worker's own SQS client and the function's S3 client, recording every call
    import boto3

    worker_sqs = boto3.client("sqs", region_name=REGION)
    for client in (worker_sqs, s3_client()):
        client.meta.events.register("provide-client-params", hook)
    # WHEN it starts, processes an object (deleting its message) and polls an empty queue
    _send(sqs, queues["url"], body_of(_land(s3, "2024/05/03/calls.csv")))
    worker = _worker(handler_module, worker_sqs, queues["url"], tmp_path)
    assert worker.poll_once().deleted and worker.poll_once().received == []
    # THEN every call is declared for the worker, and every declaration of the worker's own (beyond the handler's,
    # whose use test_lambda_aws_calls proves, large-object multipart calls included) without `requires` was made
    env = dict(os.environ) | {"QUEUE_URL": queues["url"]}
    declared = WORKLOADS["worker"]
    assert [(s, o) for s, o, p in calls if not any(declares(d, s, o, p, env) for d in declared)] == []
    own = [d for d in declared if d not in WORKLOADS["handler"]]
    unused = [
        d["call"] for d in own if not d.get("requires") and not any(declares(d, s, o, p, env) for s, o, p in calls)
    ]
    assert unused == []
    assert ("sqs", "DeleteMessageBatch") in {(s, o) for s, o, _ in calls}


def test_liveness_probe_follows_the_heartbeat(
    handler_module: Any, sqs: Any, queues: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preprocessing.worker import HEARTBEAT_SLACK_SECONDS, main, probe

    worker = _worker(handler_module, sqs, queues["url"], tmp_path)
    heartbeat = tmp_path / "heartbeat"
    # GIVEN no heartbeat yet THEN the probe fails
    monkeypatch.setenv("WORKER_HEARTBEAT_FILE", str(heartbeat))
    assert main(["--probe"]) == 1
    # WHEN the worker polls THEN the heartbeat names when the next one is due: a poll + a batch + slack from now
    worker.poll_once()
    due = float(heartbeat.read_text())
    assert main(["--probe"]) == 0
    budget = worker.settings.wait_seconds + worker.timeout_seconds + HEARTBEAT_SLACK_SECONDS
    assert probe(heartbeat, now=due - budget + 1)
    assert not probe(heartbeat, now=due + 1)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("QUEUE_URL", "", "QUEUE_URL"),
        ("WORKER_MAX_MESSAGES", "11", "WORKER_MAX_MESSAGES"),
        ("WORKER_WAIT_SECONDS", "soon", "WORKER_WAIT_SECONDS"),
        ("AWS_EMF_AGENT_ENDPOINT", "udp://agent:25888", "AWS_EMF_AGENT_ENDPOINT"),
        ("POWERTOOLS_METRICS_NAMESPACE", "", "POWERTOOLS_METRICS_NAMESPACE"),
        ("WORKER_HEARTBEAT_FILE", "/nonexistent-directory/heartbeat", "WORKER_HEARTBEAT_FILE"),
        ("FEATURE_PREFIX", "other/", "FEATURE_PREFIX"),
    ],
)
def test_bad_worker_settings_exit_2_with_one_message_naming_the_variable(
    lambda_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    named: str,
) -> None:
    from preprocessing.worker import main

    monkeypatch.setenv("QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/q")
    monkeypatch.setenv(variable, value)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and named in err and "Traceback" not in err


def test_a_queue_whose_visibility_timeout_does_not_exceed_the_batch_timeout_is_refused(
    handler_module: Any, sqs: Any, tmp_path: Path
) -> None:
    from preprocessing.config import ConfigurationError

    # GIVEN a queue with a 5 s visibility timeout (the budget would be 0 s) THEN the worker refuses to start
    url = sqs.create_queue(QueueName="short", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    with pytest.raises(ConfigurationError, match="VisibilityTimeout"):
        _worker(handler_module, sqs, url, tmp_path)


@pytest.fixture
def moto_server(lambda_env: dict[str, str]) -> Iterator[str]:
    """A moto server on an ephemeral loopback port, for the worker run as its own process."""
    import urllib.request

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    try:
        yield endpoint
    finally:
        server.stop()


def test_the_entry_point_processes_then_exits_0_on_sigterm(
    lambda_env: dict[str, str], moto_server: str, tmp_path: Path
) -> None:
    import subprocess
    import sys
    import time

    import boto3
    from lambda_support import PROJECT_ROOT

    # GIVEN buckets, a queue and one landed object's event, on a moto server
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_server)
    for bucket in (LANDING_BUCKET, FEATURE_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=LANDING_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_server)
    url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT)})["QueueUrl"]
    _send(sqs, url, body_of(_land(s3, "2024/05/03/process.csv")))
    heartbeat = tmp_path / "heartbeat"
    env = {
        **lambda_env,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(PROJECT_ROOT / "lambda_src"),
        "AWS_ENDPOINT_URL": moto_server,
        "QUEUE_URL": url,
        "WORKER_WAIT_SECONDS": "0",
        "WORKER_HEARTBEAT_FILE": str(heartbeat),
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    # WHEN `python -m preprocessing.worker` runs until the message is gone, then receives SIGTERM
    process = subprocess.Popen(
        [sys.executable, "-m", "preprocessing.worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while _depth(sqs, url) != (0, 0) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    # THEN it processed and deleted the message, wrote its heartbeat, and exited 0 after draining
    assert process.returncode == 0, err.decode()
    assert _depth(sqs, url) == (0, 0)
    assert any(
        k.endswith(".parquet") for k in (i["Key"] for i in s3.list_objects_v2(Bucket=FEATURE_BUCKET)["Contents"])
    )
    assert heartbeat.exists()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert any(line.get("message") == "worker stopped: no batch in flight" for line in lines)
    assert any("ObjectsProcessed" in line for line in lines)  # no agent endpoint: EMF on stdout
