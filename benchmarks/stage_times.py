"""Cold ``make train`` time per stage, each stage's import time, and a no-op ``dvc repro``.

Copies the project (code, ``dvc.yaml``, ``params.yaml``; no outputs, no DVC cache, an empty
MLflow store) into a temporary git repo and runs ``dvc repro`` there, stamping each
``Running stage`` line as it is printed. A stage's time runs from its line to the next one
(DVC's own hashing and lock writing included); the last runs to the end of the process.

    .venv/bin/python benchmarks/stage_times.py [--output stage_times.json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.project import make_project, project_env  # noqa: E402

STAGE_MODULES = {
    "ingest": "aeops.stages.ingest",
    "validate": "aeops.stages.validate",
    "prepare": "aeops.stages.prepare",
    "train": "aeops.stages.train",
    "evaluate": "aeops.stages.evaluate",
    "register": "aeops.stages.register",
}
RUNNING = re.compile(r"Running stage '([^']+)'")


def cold_repro(root: Path, watch: Any = None) -> tuple[dict[str, float], float, str]:
    """Seconds per stage of one cold ``dvc repro``, its total, and its output. ``watch``
    (optional) is started with the process id, told each stage as it begins (``phase``) and
    stopped at the end (the scale benchmark's memory sampler)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["dvc", "repro"],
        cwd=root,
        env=project_env(root),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=1,
    )
    if watch is not None:
        watch.start(proc.pid)
    marks: list[tuple[str, float]] = []
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        match = RUNNING.search(line)
        if match:
            marks.append((match.group(1), time.perf_counter()))
            if watch is not None:
                watch.phase = match.group(1)
    proc.wait()
    end = time.perf_counter()
    if watch is not None:
        watch.stop()
    if proc.returncode != 0:
        raise RuntimeError("dvc repro failed:\n" + "".join(lines[-40:]))
    stages = {}
    for (name, begun), (_, next_begun) in zip(marks, [*marks[1:], ("", end)], strict=True):
        stages[name] = round(next_begun - begun, 2)
    return stages, round(end - start, 1), "".join(lines)


def import_seconds(module: str) -> float:
    """Time to import ``module`` in a fresh interpreter, less a bare interpreter's start."""

    def timed(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return time.perf_counter() - start

    bare = min(timed("pass") for _ in range(2))
    return round(min(timed(f"import {module}") for _ in range(2)) - bare, 2)


def measure() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(
            Path(tmp) / "project", small=False, override={"train": {"progress_bar": False}}
        )
        stages, total, log = cold_repro(root)
        start = time.perf_counter()
        noop = subprocess.run(
            ["dvc", "repro"],
            cwd=root,
            env=project_env(root),
            capture_output=True,
            text=True,
            check=True,
        )
        noop_seconds = round(time.perf_counter() - start, 2)
        metrics = json.loads((root / "reports" / "metrics.json").read_text())
    imports = {name: import_seconds(module) for name, module in STAGE_MODULES.items()}
    return {
        "cold_repro_seconds": total,
        "stage_seconds": stages,
        "import_seconds": imports,
        "noop_repro_seconds": noop_seconds,
        "noop_ran_nothing": "Running stage" not in noop.stdout,
        "chosen": metrics["family"],
        "test_auroc": metrics.get("test_auroc"),
        "test_auroc_ci": [metrics.get("test_auroc_ci_low"), metrics.get("test_auroc_ci_high")],
        "log_tail": log.splitlines()[-12:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    result = measure()
    for name, seconds in result["stage_seconds"].items():
        print(f"{name:20s} {seconds:6.1f} s")
    print(
        f"cold dvc repro {result['cold_repro_seconds']} s; no-op {result['noop_repro_seconds']}"
        f" s; chosen {result['chosen']} test AUROC {result['test_auroc']}"
    )
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
