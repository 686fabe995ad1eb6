"""``aeops serve --engine onnx``: the REST contract of ``mlflow models serve`` over an ONNX
export, served by ONNX Runtime from a threaded standard-library HTTP server (no torch, no
MLflow: it starts in about half a second and answers a small request in about a millisecond).

The same requests and answers as MLflow's scoring server: ``POST /invocations`` with JSON
(``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, and ``params``:
``threshold``, ``explain``, ``output``) or CSV; ``{"predictions": [...records...]}`` back; a
refused row is HTTP 400 with ``{"error_code": "INVALID_PARAMETER_VALUE", "message": <the
detector's sentence>}``; ``GET /ping`` and ``/health`` answer 200.
"""

from __future__ import annotations

import io
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeops.core.errors import AeopsError
from aeops.serving.onnx_scoring import OnnxPipeline, default_export

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
BAD_REQUEST = "BAD_REQUEST"
INVALID = "INVALID_PARAMETER_VALUE"


class RequestError(Exception):
    def __init__(self, message: str, code: str = BAD_REQUEST) -> None:
        super().__init__(message)
        self.code = code


def frame_of(body: dict[str, Any]) -> pd.DataFrame:
    """The request's rows as MLflow's scoring server builds them."""
    keys = [k for k in FORMATS if k in body]
    if len(keys) != 1:
        raise RequestError(
            f"The input must be a JSON dictionary with exactly one of the input fields "
            f"{set(FORMATS)}. Received dictionary with input fields: {list(body)}"
        )
    data = body[keys[0]]
    try:
        if keys[0] == "dataframe_split":
            if not isinstance(data, dict) or "data" not in data:
                raise RequestError("Dataframe split format must have 'data' field")
            width = len(data.get("columns") or [])
            for i, row in enumerate(data["data"] if isinstance(data["data"], list) else []):
                if width and isinstance(row, list) and len(row) != width:
                    raise RequestError(
                        f"Dataframe split row {i} has {len(row)} values for {width} columns"
                    )
            return pd.DataFrame(
                index=data.get("index"), columns=data.get("columns"), data=data["data"]
            )
        if keys[0] == "dataframe_records" and not isinstance(data, list):
            raise RequestError("Dataframe records format must be a list of records.")
        return pd.DataFrame(data=data)
    except (ValueError, TypeError) as exc:
        raise RequestError(f"Provided {keys[0]} is not a valid dataframe: {exc}") from None


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts (Python numbers and booleans, not NumPy's)."""
    columns = [frame[c].tolist() for c in frame.columns]
    return [dict(zip(frame.columns, row, strict=True)) for row in zip(*columns, strict=True)]


PLAIN = (int, float)  # a JSON number: bool is excluded by the exact type test below


def plain_matrix(features: list[str], body: dict[str, Any]) -> np.ndarray | None:
    """A ``dataframe_split`` request of plain numbers for exactly the model's numeric
    features, as a matrix in training order, without pandas (most requests a client sends);
    None for anything else, which the full path reads and, when wrong, refuses in its
    sentence (a missing, extra or repeated column, text, a boolean, a null)."""
    split = body.get("dataframe_split")
    if len(body) != 1 or not isinstance(split, dict) or set(split) - {"columns", "data"}:
        return None
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not isinstance(data, list) or not data:
        return None
    if len(columns) != len(features) or set(columns) != set(features):
        return None  # also a repeated column: the set is smaller than the list
    width = len(columns)
    for row in data:
        if not isinstance(row, list) or len(row) != width:
            return None
        for value in row:
            if type(value) not in PLAIN:
                return None
    matrix = np.asarray(data, dtype=np.float64)
    if columns != features:
        matrix = matrix[:, [columns.index(f) for f in features]]
    return matrix


class Service:
    """One loaded export, shared by the server's threads (ONNX Runtime sessions are
    thread-safe for ``run``)."""

    def __init__(self, pipeline: OnnxPipeline) -> None:
        self.pipeline = pipeline

    def answer(self, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        try:
            if content_type.startswith("text/csv"):
                frame, params = pd.read_csv(io.BytesIO(body)), dict[str, Any]()
            else:
                try:
                    parsed = json.loads(body or b"{}")
                except ValueError as exc:
                    raise RequestError(f"Invalid input. Ensure the input is JSON: {exc}") from None
                if not isinstance(parsed, dict):
                    raise RequestError("The input must be a JSON dictionary")
                params = parsed.pop("params", None) or {}
                if not isinstance(params, dict):
                    raise RequestError("params must be a JSON dictionary")
                fast = self.fast_path(parsed, params)
                if fast is not None:
                    return 200, {"predictions": records(fast)}
                frame = frame_of(parsed)
            result = self.pipeline.predict(
                frame,
                threshold=params.get("threshold"),
                explain=bool(params.get("explain", False)),
                output=str(params.get("output") or "score"),
            )
        except RequestError as exc:
            return 400, {"error_code": exc.code, "message": str(exc)}
        except AeopsError as exc:
            return 400, {"error_code": INVALID, "message": str(exc)}
        return 200, {"predictions": records(result)}

    def fast_path(self, body: dict[str, Any], params: dict[str, Any]) -> pd.DataFrame | None:
        """Scores of a plain numeric request, read without pandas (:func:`plain_matrix`) and
        scored through the same checks (``predict_values``); None when it does not apply."""
        if self.pipeline.categorical or (params.get("output") or "score") != "score":
            return None
        values = plain_matrix(self.pipeline.info.features, body)
        if values is None:
            return None
        return self.pipeline.predict_values(
            values,
            pd.RangeIndex(len(values)),
            threshold=params.get("threshold"),
            explain=bool(params.get("explain", False)),
        )


def handler(service: Service) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: with Nagle's algorithm on, the second waits
        # for the client's delayed ACK (~40 ms on every keep-alive request)
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per error
            pass

        def send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path in ("/ping", "/health"):
                self.send(200, b"\n")
            elif self.path == "/version":
                import aeops

                self.send(200, aeops.__version__.encode())
            else:
                self.send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": self.path})

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/invocations":
                self.send(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": self.path})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, payload = service.answer(body, self.headers.get("Content-Type", ""))
            self.send(status, payload)

    return Handler


def make_server(folder: Path, host: str, port: int) -> ThreadingHTTPServer:
    """The server for the export in ``folder``, bound and ready to ``serve_forever``."""
    service = Service(OnnxPipeline.from_folder(folder, threads=1))
    ThreadingHTTPServer.request_queue_size = 128  # a burst of clients waits, not refused
    server = ThreadingHTTPServer((host, port), handler(service))
    server.daemon_threads = True
    return server


def serve_onnx(model: str | None, host: str, port: int) -> int:
    """Serve the export ``model`` (a folder; default: this project's champion's)."""
    folder = Path(model) if model else default_export()
    server = make_server(folder, host, port)
    print(f"serving {folder} (ONNX Runtime) on http://{host}:{port}/invocations", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
