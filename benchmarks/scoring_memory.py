"""`aeops score` on a large file: rows/s and peak memory against one chunk's size.

Writes a Parquet file of ``--rows`` x ``--features`` (in pieces, so the writer never holds it
all), then scores it in a child process while the parent samples the child's RSS. Reported:
rows/s, the peak RSS growth over the child's footprint before scoring, and that growth
divided by one chunk's size (rows x features x 8 bytes as float64); the same for a file of
exactly one chunk, and the ratio of the two (memory to score the big file against memory to
score one chunk: ~1 means flat); and the "steady" growth of a process that has already
scored one chunk, which is what a file of any length adds.
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
import numpy as np, pandas as pd, torch, pyarrow, pyarrow.parquet, tqdm.auto
from aeops.serving.batch import FileJob, score_file
from aeops.data.preprocess import Preprocessor
from aeops.data.schema import DatasetMeta
from aeops.models.autoencoders.dense import DenseNetwork
from aeops.models.autoencoders.detector import AutoencoderDetector
from aeops.serving.pipeline import DetectorInfo, DetectorPipeline
src, out, chunk, features = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
warm_rows = int(sys.argv[5])
torch.manual_seed(0)
net = DenseNetwork(features, [256, 128, 64], 8, "sigmoid", 0.0)
names = [f"f{i}" for i in range(features)]
meta = DatasetMeta("table", "bench", names, None, [], 2, value_range=[0.0, 1.0])
pre = Preprocessor.fit(pd.DataFrame(np.eye(2, features), columns=names), meta, "none", False, 2)
detector = DetectorPipeline(AutoencoderDetector.from_network("dense", {}, net), pre,
                    DetectorInfo("autoencoder", "dense", meta.schema(), 0.05, "fixed", "", {}))
# "warm": one-time start-up (torch and Arrow thread pools, allocator arenas sized for a chunk)
# happens on a one-chunk file first, so what is measured is what the big file adds
if warm_rows:
    import numpy as np, pandas as pd
    warm = Path(out).with_name("warm.parquet")
    pd.DataFrame(np.random.default_rng(1).random((warm_rows, features)),
                 columns=names).to_parquet(warm)
    score_file(detector, FileJob(None, warm, Path(out), chunk_rows=chunk, progress=False))
print("READY", flush=True)
sys.stdin.readline()
start = time.perf_counter()
rows = score_file(detector, FileJob(None, Path(src), Path(out), chunk_rows=chunk, progress=False))
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


def measure(rows: int, features: int, chunk: int, warm: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.parquet", Path(tmp) / "out.parquet"
        write_input(src, rows, features)
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CHILD,
                str(src),
                str(out),
                str(chunk),
                str(features),
                str(chunk if warm else 0),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
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
        "rows": result["rows"],
        "features": features,
        "chunk_rows": chunk,
        "rows_per_s": round(result["rows"] / result["seconds"], 1),
        "chunk_mb": round(chunk_bytes / 2**20, 1),
        "baseline_rss_mb": round(baseline / 2**20, 1),
        "peak_rss_growth_mb": round(growth / 2**20, 1),
        "peak_growth_over_chunk": round(growth / chunk_bytes, 2),
    }


def flatness(rows: int, features: int, chunk: int) -> dict[str, object]:
    """The big file against a one-chunk file (both from a cold start), plus the steady state
    (what the big file adds once a process has scored one chunk)."""
    cold = measure(rows, features, chunk, warm=False)
    one_chunk = measure(chunk, features, chunk, warm=False)
    steady = measure(rows, features, chunk, warm=True)
    return {
        **cold,
        "one_chunk_file_peak_rss_growth_mb": one_chunk["peak_rss_growth_mb"],
        "peak_growth_vs_one_chunk_file": round(
            cold["peak_rss_growth_mb"] / max(one_chunk["peak_rss_growth_mb"], 1e-9), 2
        ),
        "steady_peak_rss_growth_mb": steady["peak_rss_growth_mb"],
        "steady_growth_over_chunk": steady["peak_growth_over_chunk"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(flatness(args.rows, args.features, args.chunk_rows), indent=2))


if __name__ == "__main__":
    main()
