"""Serving the champion, engine by engine, side by side in one run (run after `make train`):

- **cold start**: wall seconds of a fresh `aeops score` process on a 200-row CSV, for the
  MLflow engine (the registered pyfunc) and the ONNX engine (the export in ``reports/onnx``),
  alternating, each run several times (median and min reported);
- **throughput**: rows/s scoring a Parquet file of 1M digits rows, for each engine (in a
  process already warm, chunked file in, file out) against a bare forward pass in the same run
  (the same chunks read and cast to float32, the torch detector's own ``decision_function`` on
  them, the scores written; no checks, no flags);
- **REST**: p50 / p99 latency of 3-row requests at 1, 8 and 32 concurrent clients, for
  `mlflow models serve` and `aeops serve --engine onnx` (loopback; clients in this process);
- **monitor**: wall seconds of `aeops monitor` on the 1M rows.

    .venv/bin/python benchmarks/serving.py [--rows 1000000] [--output serving.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "serving.json"
BIN = Path(sys.executable).parent
CHUNK = 100_000


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}


def champion() -> tuple[str, Path]:
    """(the champion's model URI, its ONNX export folder); a sentence when there is none."""
    decision = ROOT / "reports" / "register.json"
    if not decision.exists():
        sys.exit("benchmarks/serving.py measures the champion: run `make train` first")
    register = json.loads(decision.read_text())
    export = ROOT / str(register.get("onnx") or "reports/onnx")
    if not (export / "model.onnx").exists():
        sys.exit(f"{export}: no ONNX export of the champion; run `make train` again")
    return f"models:/{register['model_name']}@champion", export


def digits_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows drawn from the digits images the default trains on, as the raw columns."""
    from sklearn.datasets import load_digits

    data = load_digits().data / 16.0
    rows = data[np.random.default_rng(seed).integers(0, len(data), n)]
    return pd.DataFrame(rows, columns=[f"pixel_{i}" for i in range(64)])


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, row_group_size=CHUNK)
    return path


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env(), check=True, capture_output=True)
    return time.perf_counter() - start


def cold_start(uri: str, export: Path, tmp: Path, repeats: int) -> dict[str, Any]:
    """Fresh `aeops score` processes on 200 rows, the engines alternating."""
    rows = tmp / "rows200.csv"
    digits_rows(200, seed=1).to_csv(rows, index=False)
    commands = {
        "mlflow": ["aeops", "score", "--model", uri, "--quiet"],
        "onnx": ["aeops", "score", "--engine", "onnx", "--model", str(export), "--quiet"],
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            out = tmp / f"cold_{name}.csv"
            seconds[name].append(timed([*command, "--input", str(rows), "--output", str(out)]))
    return {
        name: {"median_s": round(statistics.median(s), 3), "min_s": round(min(s), 3), "runs": s}
        for name, s in seconds.items()
    }


def bare_forward(detector: Any, model_input: Any, source: Path, out: Path) -> None:
    """Read each chunk, the detector's scores on it, write them: the floor for a scorer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for batch in pq.ParquetFile(source).iter_batches(batch_size=CHUNK):
        x = model_input(batch.to_pandas())
        table = pa.table({"anomaly_score": detector.decision_function(x)})
        writer = writer or pq.ParquetWriter(out, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def throughput(uri: str, export: Path, source: Path, tmp: Path, repeats: int) -> dict[str, Any]:
    """rows/s on ``source`` for each engine and for the bare forward pass, alternating."""
    from aeops.core.env import disable_telemetry
    from aeops.serving.batch import FileJob, score_file
    from aeops.serving.loading import load_scorer
    from aeops.serving.onnx_scoring import OnnxPipeline
    from aeops.tracking.store import use_project_store

    disable_telemetry()
    use_project_store(ROOT / "params.yaml")  # as the CLI does in the project folder
    python = load_scorer(uri)
    onnx = OnnxPipeline.from_folder(export)
    columns = python.preprocessor.numeric
    unscaled = python.preprocessor.scaler == "none" and not python.preprocessor.categorical

    def plain(frame: pd.DataFrame) -> np.ndarray:
        """The model input with nothing checked: a cast where the model takes the raw values
        (the digits), else the fitted preprocessing."""
        if unscaled:
            return frame[columns].to_numpy(np.float32)
        return python.preprocessor.transform(frame[columns])

    runs: dict[str, Any] = {
        "bare forward": lambda out: bare_forward(python.detector, plain, source, out),
        "mlflow": lambda out: score_file(python, FileJob(None, source, out, progress=False)),
        "onnx": lambda out: score_file(onnx, FileJob(None, source, out, progress=False)),
    }
    rows = len(pd.read_parquet(source, columns=[columns[0]]))
    for name, fn in runs.items():  # warm: thread pools, allocator arenas, first-call costs
        fn(tmp / f"warm_{name.replace(' ', '_')}.parquet")
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            out = tmp / f"{name.replace(' ', '_')}.parquet"
            start = time.perf_counter()
            fn(out)
            seconds[name].append(time.perf_counter() - start)
    best = {name: min(s) for name, s in seconds.items()}
    result: dict[str, Any] = {"rows": rows, "family": python.info.family}
    for name, s in best.items():
        result[name] = {
            "rows_per_s": round(rows / s),
            "seconds": [round(v, 2) for v in seconds[name]],
        }
    for name in ("mlflow", "onnx"):
        result[f"{name}_vs_bare"] = round(best["bare forward"] / best[name], 3)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen, limit: float = 180.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {limit} s")


def latencies(url: str, body: bytes, clients: int, per_client: int) -> list[float]:
    """Each client a thread with its own keep-alive connection, requests back to back."""
    import http.client

    host, port = url.split("//")[1].split(":")
    out: list[float] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients)

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        mine = []
        start_gate.wait()
        for _ in range(per_client):
            t = time.perf_counter()
            conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            mine.append(time.perf_counter() - t)
            assert reply.status == 200, reply.status
        conn.close()
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def rest(uri: str, export: Path, requests_per_level: int) -> dict[str, Any]:
    """p50 / p99 of 3-row requests at 1, 8 and 32 concurrent clients, per engine."""
    frame = digits_rows(3, seed=2)
    body = json.dumps(
        {"dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}}
    ).encode()
    servers = {
        "mlflow": lambda port: ["mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
                                "-h", "127.0.0.1", "-p", str(port)],
        "onnx": lambda port: ["aeops", "serve", "--engine", "onnx", "--model", str(export),
                              "--host", "127.0.0.1", "--port", str(port)],
    }  # fmt: skip
    result: dict[str, Any] = {}
    for name, command in servers.items():
        port = free_port()
        proc = subprocess.Popen(
            command(port), cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            up = wait_for(f"{url}/ping", proc)
            latencies(url, body, 1, 20)  # warm
            levels = {}
            for clients in (1, 8, 32):
                ms = np.array(latencies(url, body, clients, max(1, requests_per_level // clients)))
                ms *= 1000.0
                levels[str(clients)] = {
                    "p50_ms": round(float(np.percentile(ms, 50)), 2),
                    "p99_ms": round(float(np.percentile(ms, 99)), 2),
                    "requests": int(ms.size),
                }
            result[name] = {"ready_s": round(up, 2), "concurrency": levels}
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    return result


def monitor(export: Path, source: Path, tmp: Path) -> dict[str, Any]:
    start = time.perf_counter()
    done = subprocess.run(
        ["aeops", "monitor", "--model", str(export), "--input", str(source),
         "--output", str(tmp / "monitor")],
        cwd=ROOT, env=env(), capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stderr[-2000:])
    report = json.loads((tmp / "monitor" / "monitor.json").read_text())
    return {"seconds": round(seconds, 1), "exit": done.returncode, "drift": report.get("drift")}


def markdown(results: dict[str, Any]) -> str:
    cold, through, served = results["cold_start"], results["throughput"], results["rest"]
    lines = [
        f"Serving the champion ({through['family']}), {results['machine']}",
        "",
        "| engine | cold start, 200 rows (median) | rows/s, 1M rows | vs bare forward |"
        " REST p50 / p99 ms at 1 | at 8 | at 32 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("mlflow", "onnx"):
        levels = served[name]["concurrency"]
        lat = [f"{levels[c]['p50_ms']} / {levels[c]['p99_ms']}" for c in ("1", "8", "32")]
        lines.append(
            f"| {name} | {cold[name]['median_s']} s | {through[name]['rows_per_s']:,} | "
            f"{through[f'{name}_vs_bare']}x | " + " | ".join(lat) + " |"
        )
    bare = through["bare forward"]["rows_per_s"]
    lines += [
        f"| bare forward pass | | {bare:,} | 1x | | | |",
        "",
        f"`aeops monitor` on {through['rows']:,} rows: {results['monitor']['seconds']} s.",
    ]
    return "\n".join(lines)


def measure(rows: int, repeats: int = 3, requests_per_level: int = 640) -> dict[str, Any]:
    uri, export = champion()
    results: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results["cold_start"] = cold_start(uri, export, tmp, repeats)
        source = write_parquet(digits_rows(rows), tmp / "rows.parquet")
        results["throughput"] = throughput(uri, export, source, tmp, repeats)
        results["rest"] = rest(uri, export, requests_per_level)
        results["monitor"] = monitor(export, source, tmp)
    return results


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(results) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = measure(args.rows, args.repeats)
    write(results, args.output)
    print(markdown(results))


if __name__ == "__main__":
    main()
