"""Open Inference Protocol (KServe V2) REST server for ONNX models stored in S3.

Run it with ``python -m inference_server`` (configuration comes from environment variables, see
:mod:`inference_server.config`).
"""

__version__ = "0.1.0"

SERVER_NAME = "hybrid-ai-inference-server"
