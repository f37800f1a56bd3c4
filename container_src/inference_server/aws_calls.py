"""The AWS calls the inference server and the batch-scoring job make, as data.

Read by ``blueprint plan``'s permission check (blueprint/checks/permissions.py), which resolves the
``${VARIABLE}`` placeholders with the container environment the plan gives each Deployment (``server``)
and CronJob (``batch``) and evaluates each call against the role its Pod Identity association grants.
tests/container_src/test_aws_calls.py runs both modes against a recording client and fails when the
code makes an undeclared call or a declared call is never made. Plain data, no imports; the keys are
those of lambda_src/preprocessing/aws_calls.py (docs/system-checks.md). ``${NAME|s3-bucket}`` and
``${NAME|s3-key-prefix}`` split an ``s3://bucket/prefix`` variable (``prefix/``, or empty).
"""

_MODEL = "arn:aws:s3:::${MODEL_REPOSITORY|s3-bucket}/${MODEL_REPOSITORY|s3-key-prefix}${MODEL_NAME}/${MODEL_VERSION}/"

SERVER = (
    {
        "call": "s3:HeadObject",
        "resource": _MODEL + "model.onnx",
        "missing_key": "403-or-404",
        "why": "size, ETag and checksum of the model file (repository.ModelRepository.head)",
    },
    {
        "call": "s3:GetObject",
        "resource": _MODEL + "model.onnx",
        "kms": "decrypt",
        "why": "download the model file (repository.ModelRepository.fetch)",
    },
)
"""The inference server: loads its model version."""

BATCH = (
    *SERVER,
    {
        "call": "s3:GetObject",
        "resource": _MODEL + "signature.json",
        "missing_key": "403-or-404",
        "kms": "decrypt",
        "why": "the model's input contract (batch.load_signature)",
    },
    {
        "call": "s3:GetObject",
        "resource": _MODEL + "drift-profile.json",
        "missing_key": "403-or-404",
        "kms": "decrypt",
        "why": "the model version's training profile, optional: drift is skipped without it (drift.report)",
    },
    {
        "call": "s3:ListObjectsV2",
        "resource": "arn:aws:s3:::${FEATURE_BUCKET}",
        "context": {"s3:prefix": "${INPUT_PREFIX}dt=*/"},
        "why": "the day's input partition (batch.list_inputs)",
    },
    {
        "call": "s3:GetObject",
        "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${INPUT_PREFIX}dt=*/*",
        "kms": "decrypt",
        "conditional": "if-match",
        "why": "read each listed input file as listed (batch._get)",
    },
    {
        "call": "s3:HeadObject",
        "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${OUTPUT_PREFIX}dt=*/*",
        "missing_key": "404",
        "why": "is the score file or manifest already there? (batch._head)",
    },
    {
        "call": "s3:GetObject",
        "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${OUTPUT_PREFIX}dt=*/*",
        "missing_key": "404",
        "kms": "decrypt",
        "why": "the other indexes' share records of an Indexed Job (batch.shares), the scores' drift sample",
    },
    {
        "call": "s3:PutObject",
        "resource": "arn:aws:s3:::${FEATURE_BUCKET}/${OUTPUT_PREFIX}dt=*/*",
        "kms": "encrypt",
        "conditional": ("if-none-match", "if-match", "none"),
        "why": "write scores once (If-None-Match) or replace stale ones (If-Match); the manifest unconditionally",
    },
)
"""The batch-scoring job: the server's model load, then the feature store."""

WORKLOADS = {"server": SERVER, "batch": BATCH}
"""Calls per workload of this image, by mode (``server`` is the default command, ``batch`` the CronJob's)."""
