"""Cluster worker: the preprocessing function as a long-running consumer of its own SQS queue.

``python -m preprocessing.worker`` (the image's entry point, ``lambda_src/Dockerfile.worker``) runs the
same code as the Lambda on EKS CPU capacity (``placement: cluster``): it long-polls the function's queue, the
one the Lambda's event source mapping would read, hands every received batch to
:func:`preprocessing.handler.process_batch` (the same ``BatchProcessor`` and ``record_handler`` the Lambda
uses, so the same feature sets, idempotent writes, logs and metrics), deletes the records that succeeded and
leaves the failures in the queue. The semantics match Lambda's SQS event source mapping with
``ReportBatchItemFailures``:

- **Visibility timeout**: taken from the queue (``ReceiveMessage`` without ``VisibilityTimeout``). A received
  message is invisible to every other consumer until it is deleted or its visibility timeout expires
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html),
  so no other pod receives it while this one works on it.
- **Timeout**: like the Lambda's function timeout, a batch has a budget (``WORKER_TIMEOUT_SECONDS``, by default
  the queue's visibility timeout / 6: the stack sets visibility = 6 x ``timeout_seconds``, so this is the
  function's timeout). A batch still running when it expires ends the process (exit code
  :data:`EXIT_TIMEOUT`), exactly as Lambda ends a timed-out invocation: nothing of the batch is deleted, its
  messages reappear after the visibility timeout. Because the budget is shorter than the visibility timeout,
  a message is never processed by two consumers at once.
- **Failures**: a failed record is neither deleted nor made visible early (no ``ChangeMessageVisibility``):
  it reappears when its visibility timeout expires, counts one more receive, and SQS moves it to the DLQ
  after ``maxReceiveCount`` receives (the queue's redrive policy), the same backoff as on the Lambda path.
- **Deletes**: ``DeleteMessageBatch`` for the records that succeeded; AWS authorizes it as
  ``sqs:DeleteMessage`` ("You cannot set permissions explicitly for ... DeleteMessageBatch": permissions for
  DeleteMessage apply, https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html).
  A delete that fails leaves the message to be redelivered; its next processing finds the manifest and writes
  nothing (``DuplicateDeliveries``).
- **SIGTERM** (pod termination, scale-in): the worker stops receiving, finishes the batch in flight (at most
  ``WORKER_MAX_MESSAGES`` messages, within the timeout), deletes what succeeded, flushes its metrics and exits
  0. ``terminationGracePeriodSeconds`` must cover ``WORKER_WAIT_SECONDS`` (a long poll in progress) plus the
  timeout; a pod killed earlier loses nothing (its messages reappear, writes are idempotent).

Metrics: the handler's Powertools ``Metrics`` (same namespace ``POWERTOOLS_METRICS_NAMESPACE``, dimensions
``service`` and ``FeatureSet``, same names) are serialized by Powertools after every batch and sent to the
CloudWatch agent's EMF listener at ``AWS_EMF_AGENT_ENDPOINT`` (``tcp://host:port``; the
``amazon-cloudwatch-observability`` add-on's agent with ``"emf": {}`` listens on tcp:25888,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Generation_CloudWatch_Agent.html),
which extracts them into CloudWatch metrics; without the variable the documents go to stdout. Outside Lambda
nothing turns stdout into metrics ("When using Lambda, no agent is required ... Anything logged to STDOUT is
sent to CloudWatch Logs via the Lambda Logging Agent",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Libraries.html),
hence the agent. Logs are the handler's Powertools Logger, JSON on stdout.

Liveness: after every receive the worker writes :data:`HEARTBEAT_FILE` (``WORKER_HEARTBEAT_FILE``) holding
the time by which it will write it again (a long poll plus a batch plus slack); ``python -m
preprocessing.worker --probe`` exits 0 while that time has not passed (an exec liveness probe).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlparse

from preprocessing.config import ConfigurationError

EXIT_TIMEOUT = 124
"""Exit code when a batch outlives its budget (as ``timeout(1)``); Kubernetes restarts the container."""
HEARTBEAT_FILE = "/tmp/preprocessing-worker.heartbeat"  # noqa: S108 - the only writable path of the image
"""Default ``WORKER_HEARTBEAT_FILE``: a read-only root filesystem leaves ``/tmp`` (an emptyDir) writable."""
HEARTBEAT_SLACK_SECONDS = 30
"""Added to a long poll plus a batch budget to give the time by which the next heartbeat is due."""
VISIBILITY_TO_TIMEOUT = 6
"""The stack sets the queue's visibility timeout to this many function timeouts
(``hybrid_ai_platform.contracts.VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT``; a test holds the two equal)."""
MAX_MESSAGES_RANGE = (1, 10)
WAIT_SECONDS_RANGE = (0, 20)

Sink = Callable[[str], None]


@dataclass(frozen=True)
class WorkerSettings:
    """The worker's own environment, next to the function's (:class:`preprocessing.config.Settings`)."""

    queue_url: str
    """``QUEUE_URL``: the function's queue (the one its event source mapping reads). Required."""
    max_messages: int = 10
    """``WORKER_MAX_MESSAGES``: messages per receive, 1-10. Defaults to 10 (the function's default batch size)."""
    wait_seconds: int = 20
    """``WORKER_WAIT_SECONDS``: long-poll wait, 0-20. Defaults to 20 (the maximum: fewest empty receives)."""
    timeout_seconds: int | None = None
    """``WORKER_TIMEOUT_SECONDS``: budget of one batch. Defaults to None: the queue's visibility timeout / 6."""
    heartbeat_file: Path = Path(HEARTBEAT_FILE)
    """``WORKER_HEARTBEAT_FILE``. Defaults to :data:`HEARTBEAT_FILE`."""
    emf_endpoint: str | None = None
    """``AWS_EMF_AGENT_ENDPOINT``: ``tcp://host:port`` of the CloudWatch agent. Defaults to None: stdout."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        """Read and validate the worker's variables; :class:`ConfigurationError` names the variable and the fix."""
        env = os.environ if environ is None else environ
        queue_url = env.get("QUEUE_URL", "").strip()
        if not queue_url:
            raise ConfigurationError(
                "preprocessing worker is misconfigured: QUEUE_URL (the function's queue URL) is not set"
            )
        for name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
            if not env.get(name, "").strip():
                raise ConfigurationError(
                    f"{name} is not set: give the worker the function's value, so its metrics carry the namespace "
                    "and dimensions the stack's alarms watch"
                )
        heartbeat = Path(env.get("WORKER_HEARTBEAT_FILE", "").strip() or HEARTBEAT_FILE)
        if not os.access(heartbeat.parent, os.W_OK):
            raise ConfigurationError(
                f"WORKER_HEARTBEAT_FILE={str(heartbeat)!r}: {heartbeat.parent} is not a writable directory; with a "
                "read-only root filesystem mount an emptyDir on /tmp"
            )
        timeout = env.get("WORKER_TIMEOUT_SECONDS", "").strip()
        endpoint = env.get("AWS_EMF_AGENT_ENDPOINT", "").strip() or None
        if endpoint is not None:
            _agent_address(endpoint)
        return cls(
            queue_url=queue_url,
            max_messages=_int(env, "WORKER_MAX_MESSAGES", 10, *MAX_MESSAGES_RANGE),
            wait_seconds=_int(env, "WORKER_WAIT_SECONDS", 20, *WAIT_SECONDS_RANGE),
            timeout_seconds=_int(env, "WORKER_TIMEOUT_SECONDS", 0, 1, 43200) if timeout else None,
            heartbeat_file=heartbeat,
            emf_endpoint=endpoint,
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigurationError(f"{name}={raw!r} must be a whole number from {low} to {high} (unset: {default})")
    return value


def _agent_address(endpoint: str) -> tuple[str, int]:
    parsed = urlparse(endpoint)
    if parsed.scheme != "tcp" or not parsed.hostname or not parsed.port:
        raise ConfigurationError(
            f"AWS_EMF_AGENT_ENDPOINT={endpoint!r} must be tcp://host:port, e.g. "
            "tcp://cloudwatch-agent.amazon-cloudwatch:25888 (unset: EMF to stdout)"
        )
    return parsed.hostname, parsed.port


def agent_sink(endpoint: str) -> Sink:
    """Send each EMF document, newline-terminated, to the CloudWatch agent's TCP listener ``tcp://host:port``.

    A failed send is reported on stderr and dropped: metrics never fail a batch (the records are done).
    """
    address = _agent_address(endpoint)

    def send(document: str) -> None:
        try:
            with socket.create_connection(address, timeout=5) as connection:
                connection.sendall((document + "\n").encode())
        except OSError as exc:
            print(f"EMF document not delivered to {endpoint}: {exc}", file=sys.stderr, flush=True)

    return send


def stdout_sink(document: str) -> None:
    """Print one EMF document per line (what Powertools does in Lambda)."""
    print(document, flush=True)


@dataclass
class BatchOutcome:
    """What one receive did: message ids received, failed (left in the queue) and deleted."""

    received: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    receipt_handles: dict[str, str] = field(default_factory=dict)
    """Message id → receipt handle of this receive (tests make a failed message visible again with it)."""
    receive_counts: dict[str, int] = field(default_factory=dict)
    """Message id → ``ApproximateReceiveCount`` (1 on the first delivery)."""


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ``ReceiveMessage`` message in the shape of a record of the Lambda SQS event (what ``SQSRecord`` reads)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": dict(message.get("MessageAttributes") or {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def queue_arn_of(queue_url: str) -> str:
    """The queue's ARN from its URL ``https://sqs.<region>.amazonaws.com/<account>/<name>`` (no API call)."""
    parsed = urlparse(queue_url)
    parts = parsed.path.strip("/").split("/")
    host = (parsed.hostname or "").split(".")
    region = host[1] if len(host) > 2 and host[0] == "sqs" else os.environ.get("AWS_REGION", "")
    if len(parts) != 2:
        raise ConfigurationError(
            f"QUEUE_URL={queue_url!r} is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)"
        )
    return f"arn:aws:sqs:{region}:{parts[0]}:{parts[1]}"


class Worker:
    """Receive → process with the Lambda's batch function → delete successes, until stopped.

    ``stop`` is set by SIGTERM/SIGINT (:meth:`install_signal_handlers`) or by a test; ``on_timeout`` defaults
    to ending the process with :data:`EXIT_TIMEOUT` (Lambda's timeout); ``sink`` receives the EMF documents.
    """

    def __init__(
        self,
        sqs: Any,
        settings: WorkerSettings,
        *,
        stop: threading.Event | None = None,
        sink: Sink | None = None,
        on_timeout: Callable[[], None] | None = None,
    ) -> None:
        self.sqs = sqs
        self.settings = settings
        self.stop = stop or threading.Event()
        self.sink = sink or (agent_sink(settings.emf_endpoint) if settings.emf_endpoint else stdout_sink)
        self.on_timeout = on_timeout or _exit_on_timeout
        self.queue_arn = queue_arn_of(settings.queue_url)
        self.region = self.queue_arn.split(":")[3]
        self.visibility_timeout = self._visibility_timeout()
        self.timeout_seconds = self._budget()

    def _visibility_timeout(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.settings.queue_url, AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        return int(attributes["VisibilityTimeout"])

    def _budget(self) -> int:
        budget = self.settings.timeout_seconds or self.visibility_timeout // VISIBILITY_TO_TIMEOUT
        if budget < 1 or budget >= self.visibility_timeout:
            raise ConfigurationError(
                f"the queue's VisibilityTimeout ({self.visibility_timeout} s) must exceed the batch timeout "
                f"({budget} s, WORKER_TIMEOUT_SECONDS or VisibilityTimeout / {VISIBILITY_TO_TIMEOUT}), else a message "
                "could reappear while it is processed: raise the function's timeout_seconds (visibility = 6 x it) "
                "or lower WORKER_TIMEOUT_SECONDS"
            )
        return budget

    def install_signal_handlers(self) -> None:
        """SIGTERM (kubelet) and SIGINT set :attr:`stop`: the batch in flight finishes, nothing more is received."""

        def handle(signum: int, frame: FrameType | None) -> None:
            self.stop.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self) -> int:
        """Poll until :attr:`stop` is set, then return 0 (the batch in flight is always finished first)."""
        from preprocessing.handler import logger

        logger.info(
            "worker started",
            extra={
                "queue_url": self.settings.queue_url,
                "visibility_timeout": self.visibility_timeout,
                "timeout_seconds": self.timeout_seconds,
                "max_messages": self.settings.max_messages,
                "wait_seconds": self.settings.wait_seconds,
            },
        )
        while not self.stop.is_set():
            self.poll_once()
        logger.info("worker stopped: no batch in flight")
        return 0

    def heartbeat(self) -> None:
        """Write the time by which the next heartbeat is due (atomically, beside the file)."""
        due = time.time() + self.settings.wait_seconds + self.timeout_seconds + HEARTBEAT_SLACK_SECONDS
        path = self.settings.heartbeat_file
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(f"{due:.3f}\n")
        os.replace(temporary, path)

    def poll_once(self) -> BatchOutcome:
        """One long poll; the messages received (if any) are processed, and the successes deleted."""
        self.heartbeat()
        messages = self.sqs.receive_message(
            QueueUrl=self.settings.queue_url,
            MaxNumberOfMessages=self.settings.max_messages,
            WaitTimeSeconds=self.settings.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return BatchOutcome()
        timer = threading.Timer(self.timeout_seconds, self.on_timeout)
        timer.daemon = True
        timer.start()
        try:
            return self._process(messages)
        finally:
            timer.cancel()
            self.flush_metrics()

    def _process(self, messages: Sequence[Mapping[str, Any]]) -> BatchOutcome:
        from preprocessing.handler import logger, process_batch

        records = [lambda_record(m, self.queue_arn, self.region) for m in messages]
        outcome = BatchOutcome(
            received=[r["messageId"] for r in records],
            receipt_handles={r["messageId"]: r["receiptHandle"] for r in records},
            receive_counts={r["messageId"]: int(r["attributes"].get("ApproximateReceiveCount", 1)) for r in records},
        )
        # A misconfigured function raises here (ConfigurationError), as the Lambda does: nothing is deleted.
        response = process_batch({"Records": records})
        outcome.failed = [item["itemIdentifier"] for item in response.get("batchItemFailures", [])]
        done = [r for r in records if r["messageId"] not in outcome.failed]
        if done:
            result = self.sqs.delete_message_batch(
                QueueUrl=self.settings.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(done)],
            )
            not_deleted = {done[int(entry["Id"])]["messageId"]: entry.get("Code") for entry in result.get("Failed", [])}
            if not_deleted:
                logger.warning(
                    "processed messages not deleted; they are redelivered and found already processed",
                    extra={"not_deleted": not_deleted},
                )
            outcome.deleted = [r["messageId"] for r in done if r["messageId"] not in not_deleted]
        return outcome

    def flush_metrics(self) -> None:
        """Serialize the batch's metrics with Powertools (namespace, dimensions as in Lambda) and send them."""
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled

        from preprocessing.handler import metrics

        if metrics.metric_set and not is_metrics_disabled():
            self.sink(json.dumps(metrics.serialize_metric_set(), separators=(",", ":")))
        metrics.clear_metrics()


def _exit_on_timeout() -> None:
    from preprocessing.handler import logger

    logger.error(
        "batch exceeded the worker timeout; exiting like a timed-out Lambda: its messages reappear after the "
        "visibility timeout and are dead-lettered after maxReceiveCount"
    )
    os._exit(EXIT_TIMEOUT)


def probe(path: Path, now: float | None = None) -> bool:
    """Liveness: the heartbeat file exists and the time it names has not passed."""
    try:
        due = float(path.read_text().strip())
    except (OSError, ValueError):
        return False
    return (time.time() if now is None else now) <= due


def sqs_client(region: str | None = None) -> Any:
    """The worker's SQS client in the queue's region (defaults to None: ``AWS_REGION``).

    botocore's default read timeout (60 s) outlasts a 20 s long poll.
    """
    import boto3

    return boto3.client("sqs", region_name=region or None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. ``--probe`` checks the heartbeat (exit 0 alive, 1 not); otherwise the worker runs until SIGTERM."""
    from botocore.exceptions import BotoCoreError, ClientError

    parser = argparse.ArgumentParser(prog="python -m preprocessing.worker", description="Preprocessing cluster worker.")
    parser.add_argument("--probe", action="store_true", help="liveness check of a running worker's heartbeat file")
    args = parser.parse_args(argv)
    if args.probe:
        return 0 if probe(Path(os.environ.get("WORKER_HEARTBEAT_FILE", "").strip() or HEARTBEAT_FILE)) else 1
    try:
        settings = WorkerSettings.from_environ()
        from preprocessing.config import get_settings

        get_settings()  # the function's own variables, validated before the first receive
        worker = Worker(sqs_client(queue_arn_of(settings.queue_url).split(":")[3]), settings)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"error: cannot read the attributes of QUEUE_URL={settings.queue_url}: {exc}", file=sys.stderr)
        return 1
    worker.install_signal_handlers()
    try:
        return worker.run()
    except (BotoCoreError, ClientError) as exc:
        # after botocore's retries: exit non-zero so Kubernetes restarts the container; the batch in flight is
        # not lost (undeleted messages reappear after their visibility timeout)
        from preprocessing.handler import logger

        logger.error("SQS call failed; exiting", extra={"error_type": type(exc).__name__, "error": str(exc)})
        return 1


if __name__ == "__main__":
    sys.exit(main())
