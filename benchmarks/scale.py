"""Scale: the whole default ``make train`` (``dvc repro``) on tall and wide synthetic tables,
seconds and peak memory per stage, and the growth per 10x.

Each case writes a seeded table to Parquet (rows from a few hidden factors plus noise; 1 % of
rows, labelled ``1``, break the factors), copies the project into a temporary git repo with
only ``data.*`` set, and runs a cold ``dvc repro`` there. A stage's seconds run from DVC's
``Running stage`` line to the next one; its peak memory is the largest resident set of the
process tree (DVC and the stage's Python), sampled every 0.2 s while it runs.

    .venv/bin/python benchmarks/scale.py [--cases tall,wide | 10k,100k,...] [--output F]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.stage_times import cold_repro  # noqa: E402
from tests.integration.project import make_project  # noqa: E402

CASES = {  # name: (rows, features)
    "10k x 30": (10_000, 30),
    "100k x 30": (100_000, 30),
    "1M x 30": (1_000_000, 30),
    "500 x 1k": (500, 1_000),
    "500 x 5k": (500, 5_000),
    "500 x 20k": (500, 20_000),
}
TALL = ["10k x 30", "100k x 30", "1M x 30"]
WIDE = ["500 x 1k", "500 x 5k", "500 x 20k"]
ANOMALY_SHARE = 0.01
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"


def synthetic_table(rows: int, features: int, seed: int = 0) -> pd.DataFrame:
    """Features from 5 hidden factors plus noise; anomalies (label 1) are noise alone at the
    same scale, so they break the factors' structure, not the range. Built in blocks of
    rows, float32, so making the table is not what the benchmark measures."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(5, features)).astype(np.float32)
    n_anomalies = max(int(rows * ANOMALY_SHARE), 10 if rows >= 1000 else 5)
    values = np.empty((rows, features), np.float32)
    for start in range(0, rows, 100_000):
        stop = min(start + 100_000, rows)
        factors = rng.normal(size=(stop - start, 5)).astype(np.float32)
        block = factors @ weights
        block += 0.3 * rng.normal(size=block.shape).astype(np.float32)
        values[start:stop] = block
    anomalies = rng.choice(rows, n_anomalies, replace=False)
    spread = values.std(axis=0)
    values[anomalies] = rng.normal(size=(n_anomalies, features)).astype(np.float32) * spread
    frame = pd.DataFrame(values, columns=[f"f{i}" for i in range(features)])
    label = np.zeros(rows, np.int64)
    label[anomalies] = 1
    frame["label"] = label
    return frame


class PeakMemory:
    """The largest resident set (MB) of a process and its descendants, per named phase,
    sampled every 0.2 s (a ``watch`` of :func:`benchmarks.stage_times.cold_repro`)."""

    def __init__(self) -> None:
        self.phase = "start"
        self.peaks: dict[str, float] = {}
        self.running = False

    def start(self, pid: int) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        import psutil

        while self.running:
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            rss = 0
            for p in procs:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss / 2**20)
            time.sleep(0.2)

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=2)


def run_case(name: str, workdir: Path) -> dict[str, object]:
    rows, features = CASES[name]
    case_dir = workdir / name.replace(" ", "")
    case_dir.mkdir(parents=True)
    table = case_dir / "table.parquet"
    synthetic_table(rows, features).to_parquet(table)
    root = make_project(
        case_dir / "project",
        small=False,
        override={
            "data": {
                "source": "table",
                "path": str(table),
                "label_column": "label",
                "normal_labels": ["0"],
            },
            "train": {"progress_bar": False},
        },
    )
    memory = PeakMemory()
    result: dict[str, object] = {"case": name, "rows": rows, "features": features}
    try:
        stages, total, _ = cold_repro(root, memory)
    except RuntimeError as exc:  # the run's last lines
        result["failed"] = str(exc)[-3000:]
        return result
    data = ("ingest", "validate", "prepare")
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    result.update(
        {
            "total_seconds": total,
            "data_stage_seconds": round(sum(stages.get(s, 0.0) for s in data), 1),
            "stage_seconds": stages,
            "peak_memory_mb": {k: round(v) for k, v in memory.peaks.items() if k in stages},
            "peak_memory_mb_max": round(max(memory.peaks.values())),
            "chosen": metrics["family"],
            "test_auroc": metrics.get("test_auroc"),
            "train_settings": train_settings(root),
        }
    )
    return result


def train_settings(root: Path) -> dict[str, object]:
    """Each family's batch size, epochs run and why it stopped (models/<family>/run.json)."""
    out = {}
    for run in sorted((root / "models").glob("*/run.json")):
        info = json.loads(run.read_text())
        out[run.parent.name] = {
            k: info.get(k) for k in ("plan", "epochs", "best_epoch", "stopped_by") if k in info
        }
    return out


def growth(results: list[dict], names: list[str]) -> dict[str, dict[str, float]]:
    """Per stage, each case's seconds over the previous case's (the factor per step)."""
    done = {r["case"]: r for r in results if "stage_seconds" in r}
    out: dict[str, dict[str, float]] = {}
    for small, big in zip(names, names[1:], strict=False):
        if small in done and big in done:
            a, b = done[small]["stage_seconds"], done[big]["stage_seconds"]
            out[f"{small} -> {big}"] = {
                s: round(b[s] / max(a[s], 1e-9), 2) for s in b if s in a
            } | {"total": round(done[big]["total_seconds"] / done[small]["total_seconds"], 2)}
    return out


def markdown(results: list[dict]) -> str:
    stages = sorted({s for r in results for s in r.get("stage_seconds", {})}, key=stage_order)
    head = ["case", "total s", "data stages s", *stages, "peak MB", "chosen", "test AUROC"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if "stage_seconds" not in r:
            lines.append(f"| {r['case']} | failed |" + " |" * (len(head) - 2))
            continue
        cells = [
            r["case"],
            f"{r['total_seconds']:.0f}",
            f"{r['data_stage_seconds']:.0f}",
            *[f"{r['stage_seconds'].get(s, 0):.0f}" for s in stages],
            f"{r['peak_memory_mb_max']:,}",
            str(r["chosen"]),
            f"{r['test_auroc']:.3f}" if r.get("test_auroc") is not None else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stage_order(stage: str) -> tuple[int, str]:
    order = ["ingest", "validate", "prepare", "train", "evaluate", "register"]
    base = stage.split("@")[0]
    return (order.index(base) if base in order else len(order), stage)


def measure(names: list[str]) -> dict[str, object]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results.append(run_case(name, Path(tmp)))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return {
        "cases": results,
        "growth_tall": growth(results, [n for n in TALL if n in names]),
        "growth_wide": growth(results, [n for n in WIDE if n in names]),
    }


def write(result: dict, path: Path) -> None:
    """``path`` (JSON) and the same name with ``.md`` (the table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(result["cases"]) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="tall,wide", help="tall, wide, or case names")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    names: list[str] = []
    for part in args.cases.split(","):
        names += TALL if part == "tall" else WIDE if part == "wide" else [part.strip()]
    result = measure(names)
    write(result, args.output)
    print(markdown(result["cases"]))
    print(json.dumps({"tall": result["growth_tall"], "wide": result["growth_wide"]}, indent=2))


if __name__ == "__main__":
    main()
