"""A preprocessing pipeline alone: landing bucket -> rule -> SQS queue (with DLQ) -> Lambda -> feature store.

Everything is encrypted with an existing customer managed KMS key. The Lambda deployment package is built
beforehand (``python lambda_src/package.py --arch arm64 --out build/lambda`` in the library's repository);
``lambdaManifest`` names its ``manifest.json``.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws
from hybrid_ai_platform.components import (
    ArtifactBucket,
    ArtifactBucketArgs,
    LambdaPackage,
    PreprocessingPipeline,
    PreprocessingPipelineArgs,
)

config = pulumi.Config()
kms_key_arn = config.require("kmsKeyArn")
region = aws.config.region or "us-east-1"
account_id = aws.get_caller_identity().account_id
tags = {
    "environment": pulumi.get_stack(),
    "owner": "data-platform",
    "cost-center": "cc-1234",
    "data-classification": "internal",
    "managed-by": "pulumi",
}

landing = ArtifactBucket(
    "landing",
    ArtifactBucketArgs(
        tags=tags, region=region, kms_key=kms_key_arn, purpose="landing", eventbridge_notifications=True
    ),
)
features = ArtifactBucket(
    "features", ArtifactBucketArgs(tags=tags, region=region, kms_key=kms_key_arn, purpose="features")
)

pipeline = PreprocessingPipeline(
    "transactions",
    PreprocessingPipelineArgs(
        name="transactions",
        feature_set="transactions",
        landing_prefix="raw/transactions/",
        landing=landing,
        feature_store=features,
        kms_key=kms_key_arn,
        package=LambdaPackage.from_manifest(Path(config.require("lambdaManifest"))),
        account_id=account_id,
        region=region,
        tags=tags,
        function_name=f"{pulumi.get_stack()}-transactions",
    ),
)

pulumi.export("queue_url", pipeline.queue.url)
pulumi.export("function_name", pipeline.function.name)
