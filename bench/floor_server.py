"""The floor: the simplest V2 endpoint that could work, to measure the inference server against.

uvicorn + starlette + onnxruntime, one ONNX model, the KServe V2 JSON request and response, no batching,
``session.run`` inline on the event loop. No validation beyond what ``json.loads`` and numpy do, no
metrics, no logging (uvicorn's access log off), so it is the cost of the HTTP stack, JSON and the
session run and nothing else. ``bench/bench_server_floor.py`` runs it side by side with the server.

    python bench/floor_server.py MODEL.onnx PORT [MODEL_NAME] [--no-spin]

ONNX Runtime runs with its defaults; ``--no-spin`` turns off its idle-thread spinning, as the server does
(spinning makes a lone request faster and, on a small machine, load slower: the bench measures both and
holds the server to the better floor of each).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}
_V2 = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(int64)": "INT64", "tensor(int32)": "INT32"}


def create_app(model_path: str, model_name: str, spin: bool = True) -> Starlette:
    """A Starlette app serving ``POST /v2/models/{model_name}/infer`` and ``GET /v2/health/ready``."""
    options = ort.SessionOptions()
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    session = ort.InferenceSession(model_path, sess_options=options, providers=["CPUExecutionProvider"])
    output_types = {o.name: _V2[o.type] for o in session.get_outputs()}

    async def infer(request: Request) -> Response:
        payload = json.loads(await request.body())
        feeds = {
            item["name"]: np.asarray(item["data"], dtype=_NUMPY[item["datatype"]]).reshape(item["shape"])
            for item in payload["inputs"]
        }
        names = [o["name"] for o in payload.get("outputs") or []] or list(output_types)
        results = session.run(names, feeds)
        outputs = [
            {"name": n, "datatype": output_types[n], "shape": list(r.shape), "data": r.ravel().tolist()}
            for n, r in zip(names, results, strict=True)
        ]
        return JSONResponse({"model_name": model_name, "model_version": "1", "outputs": outputs})

    async def ready(request: Request) -> Response:
        return JSONResponse({"ready": True})

    return Starlette(
        routes=[
            Route(f"/v2/models/{model_name}/infer", infer, methods=["POST"]),
            Route("/v2/health/ready", ready, methods=["GET"]),
        ]
    )


def main() -> None:
    """Serve on 127.0.0.1:PORT until terminated."""
    args = [a for a in sys.argv[1:] if a != "--no-spin"]
    path, port = args[0], int(args[1])
    name = args[2] if len(args) > 2 else "mlp"
    app = create_app(path, name, spin="--no-spin" not in sys.argv)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
