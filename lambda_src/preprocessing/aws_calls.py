"""The AWS calls this function's code makes, as data: read by ``blueprint plan``'s permission check.

Each entry is one call site class. ``blueprint plan`` (blueprint/checks/permissions.py) resolves the
``${VARIABLE}`` placeholders with the environment the plan gives the function and evaluates every call
against the function's role, with IAM conditions; tests/lambda_src/test_lambda_aws_calls.py runs the
handler against a recording client and fails when the code makes a call not declared here, or a declared
call is never made, so this list cannot drift from the code. Plain data, no imports.

Keys (docs/system-checks.md, "Declaring a workload's AWS calls"):

- ``call``: the API operation, ``<service>:<Operation>`` as botocore names it (``s3:HeadObject``).
- ``resource``: the ARN pattern the call addresses; ``${NAME}`` is an environment variable, ``*`` any
  run-time part (a date, a file name). ``${NAME|queue-arn}`` turns a queue URL into its ARN.
- ``context`` (optional): request condition keys the call sets, e.g. ``{"s3:prefix": "${LANDING_PREFIX}"}``.
- ``version_id``: the call may pass a ``VersionId`` (needs ``s3:GetObjectVersion`` besides ``s3:GetObject``).
- ``missing_key``: ``"404"`` when the code treats a missing key as "absent" only on 404 (needs an
  unconditioned ``s3:ListBucket``; without it S3 answers 403); ``"403-or-404"`` when it accepts either.
- ``kms``: ``"decrypt"`` (reads object data) or ``"encrypt"`` (writes it): the KMS permissions the call
  needs when the plan encrypts the bucket or queue with a KMS key.
- ``conditional``: ``"if-none-match"`` / ``"if-match"`` for conditional writes.
- ``requires``: environment variable without which the code path never runs (optional).
"""

WORKLOADS: dict[str, tuple[dict[str, object], ...]] = {
    "handler": (
        {
            "call": "s3:GetObject",
            "resource": "arn:aws:s3:::${LANDING_BUCKET}/${LANDING_PREFIX}*",
            "version_id": True,
            "missing_key": "404",
            "kms": "decrypt",
            "why": "read the landing object version the event names; a missing key as delivered is retried "
            "URL-decoded, which needs 404 (events.SourceObject.key_candidates)",
        },
        {
            "call": "s3:HeadObject",
            "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${FEATURE_PREFIX}*",
            "missing_key": "404",
            "why": "is this object version's manifest (or an output) already written? (storage.object_exists)",
        },
        {
            "call": "s3:PutObject",
            "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${FEATURE_PREFIX}*",
            "kms": "encrypt",
            "conditional": "if-none-match",
            "why": "write features, quarantine and manifest once (storage.put_if_absent)",
        },
        {
            "call": "s3:CreateMultipartUpload",
            "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${FEATURE_PREFIX}*",
            "kms": "encrypt",
            "why": "an output larger than a part is uploaded in parts (storage.put_file_if_absent)",
        },
        {
            "call": "s3:UploadPart",
            "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${FEATURE_PREFIX}*",
            "kms": "encrypt",
            "why": "one part of a large output (storage.put_file_if_absent)",
        },
        {
            "call": "s3:CompleteMultipartUpload",
            "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${FEATURE_PREFIX}*",
            "kms": "encrypt",
            "conditional": "if-none-match",
            "why": "assemble a large output only if its key does not exist (storage.put_file_if_absent)",
        },
        {
            "call": "s3:AbortMultipartUpload",
            "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${FEATURE_PREFIX}*",
            "why": "drop the parts of an upload that lost to an existing key (storage.put_file_if_absent)",
        },
        {
            "call": "s3:ListObjectVersions",
            "resource": "arn:aws:s3:::${LANDING_BUCKET}",
            "context": {"s3:prefix": "${LANDING_PREFIX}"},
            "requires": "SWEEP_QUEUE_URL",
            "why": "a scheduled sweep lists the previous day's landing object versions (sweep.versions_in_window)",
        },
        {
            "call": "sqs:SendMessageBatch",
            "resource": "${SWEEP_QUEUE_URL|queue-arn}",
            "kms": "encrypt",
            "requires": "SWEEP_QUEUE_URL",
            "why": "a scheduled sweep enqueues one Object Created message per version (sweep.send_messages)",
        },
    ),
}
"""Calls per workload of this package: ``handler``, the Lambda handler (Lambda's SQS poller consumes the
queue with the function's role; those calls are not the code's, and the check adds them from the event source
mapping), and ``worker``, below."""

WORKLOADS["worker"] = (
    *WORKLOADS["handler"],
    {
        "call": "sqs:GetQueueAttributes",
        "resource": "${QUEUE_URL|queue-arn}",
        "why": "the queue's VisibilityTimeout, which bounds a batch's budget (worker.Worker._visibility_timeout)",
    },
    {
        "call": "sqs:ReceiveMessage",
        "resource": "${QUEUE_URL|queue-arn}",
        "kms": "decrypt",
        "why": "long-poll the function's queue, as Lambda's poller does (worker.Worker.poll_once)",
    },
    {
        "call": "sqs:DeleteMessageBatch",
        "resource": "${QUEUE_URL|queue-arn}",
        "why": "delete the records that succeeded; authorized as sqs:DeleteMessage (worker.Worker._process)",
    },
)
"""The cluster worker (``python -m preprocessing.worker``): the handler's calls plus consuming its own queue,
which on Lambda the event source mapping does with the function's role (``sqs:ReceiveMessage``,
``sqs:DeleteMessage``, ``sqs:GetQueueAttributes``), so a Pod Identity role with the Lambda role's grants
allows every call."""
