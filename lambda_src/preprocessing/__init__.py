"""Preprocessing Lambda: S3 landing objects -> validated, feature-engineered Parquet in the feature store.

The Lambda handler is ``preprocessing.handler.lambda_handler``. Submodules are imported lazily so that the
cold start only pays for what an invocation uses (pyarrow and boto3 are loaded on first use).
"""

__all__: list[str] = []
