"""`aeops score` on a large file: rows/s and peak memory against one chunk's size.

Writes a Parquet file of ``--rows`` x ``--features`` (in pieces, so the writer never holds it
all), then scores it in a child process while the parent samples the child's RSS. Reported:
rows/s, the peak RSS growth over the child's footprint before scoring, and that growth
divided by one chunk's size (rows x features x 8 bytes as float64), and the same growth
when the file holds a single chunk: their ratio shows whether memory stays flat as files grow.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time, resource
from pathlib import Path
import joblib, torch, pyarrow, pyarrow.parquet, tqdm.auto
from sklearn.preprocessing import FunctionTransformer
from aeops.cli import score_file
from aeops.models.families import DenseAE
from aeops.scoring import Detector, DetectorInfo
src, out, chunk, features = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
net = DenseAE(features, [256, 128, 64], 8, "sigmoid")
names = [f"f{i}" for i in range(features)]
detector = Detector(net, FunctionTransformer(), DetectorInfo("dense", names, 0.05, "fixed", ""))
print("READY", flush=True)
sys.stdin.readline()
start = time.perf_counter()
rows = score_file(detector, Path(src), Path(out), chunk_rows=chunk, progress=False)
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start}), flush=True)
"""


def write_input(path: Path, rows: int, features: int, piece: int = 100_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    writer = None
    for start in range(0, rows, piece):
        n = min(piece, rows - start)
        columns = {f"f{i}": rng.random(n) for i in range(features)}
        columns["id"] = np.arange(start, start + n)
        table = pa.table(columns)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def rss_bytes(pid: int) -> int:
    import psutil

    return psutil.Process(pid).memory_info().rss


def measure(rows: int, features: int, chunk: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.parquet", Path(tmp) / "out.parquet"
        write_input(src, rows, features)
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(src), str(out), str(chunk),
                                  str(features)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "READY"
        baseline = rss_bytes(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        peak = baseline
        while child.poll() is None:
            try:
                peak = max(peak, rss_bytes(child.pid))
            except Exception:  # noqa: BLE001 - the child exited between poll and sample
                break
            time.sleep(0.005)
        result = json.loads(child.stdout.read().strip().splitlines()[-1])
    chunk_bytes = chunk * features * 8
    growth = peak - baseline
    return {
        "rows": result["rows"], "features": features, "chunk_rows": chunk,
        "rows_per_s": round(result["rows"] / result["seconds"], 1),
        "chunk_mb": round(chunk_bytes / 2**20, 1),
        "baseline_rss_mb": round(baseline / 2**20, 1),
        "peak_rss_growth_mb": round(growth / 2**20, 1),
        "peak_growth_over_chunk": round(growth / chunk_bytes, 2),
    }


def flatness(rows: int, features: int, chunk: int) -> dict[str, object]:
    """Scoring the whole file against scoring one chunk: flat memory means a ratio near 1."""
    whole = measure(rows, features, chunk)
    one = measure(chunk, features, chunk)
    return {**whole, "one_chunk_peak_rss_growth_mb": one["peak_rss_growth_mb"],
            "peak_growth_vs_one_chunk_file": round(
                whole["peak_rss_growth_mb"] / max(one["peak_rss_growth_mb"], 1e-9), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(flatness(args.rows, args.features, args.chunk_rows), indent=2))


if __name__ == "__main__":
    main()
