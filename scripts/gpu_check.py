"""The GPU check: the real pipeline on the device, next to this project's 2-core CPU figures.

Run by ``scripts/gpu_check.sh`` on the device (after installing the carried wheels), or here
with ``--reference`` to measure the CPU side once (``benchmarks/results/cpu_reference.json``):

1. the default ``dvc repro`` (digits, every family) cold, time per stage, test AUROC;
2. a 60,000-row MNIST-sized run (generated 28x28 images written as IDX files), ``dense`` and
   ``conv`` for a few epochs through the pipeline's own training code with MLflow: epochs/s;
3. engine vs a hand-written loop, both warmed and alternating (bf16 on a GPU), and
   ``train.compile: reduce-overhead`` against eager on a GPU.

Writes one JSON; with the CPU reference present, the ratios GPU/CPU are in it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

REFERENCE = ROOT / "benchmarks" / "results" / "cpu_reference.json"


def device_info() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info |= {"gpu": torch.cuda.get_device_name(0), "bf16": bool(torch.cuda.is_bf16_supported())}
    return info


def has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def default_pipeline(accelerator: str, plots: bool) -> dict:
    """Cold ``dvc repro`` of the project's params (on this accelerator), per stage."""
    from benchmarks.stage_times import cold_repro
    from tests.integration.project import make_project

    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(
            Path(tmp) / "project",
            small=False,
            override={
                "train": {"accelerator": accelerator, "progress_bar": False},
                "evaluate": {"plots": plots},
            },
        )
        stages, total, _ = cold_repro(root)
        metrics = json.loads((root / "reports" / "metrics.json").read_text())
        runs = {
            f: json.loads((root / "models" / f / "run.json").read_text())
            for f, m in metrics["models"].items()
            if m.get("kind") == "autoencoder"  # the ensemble was not trained on its own
        }
    return {
        "cold_repro_seconds": total,
        "stage_seconds": stages,
        "train_seconds": round(sum(v for k, v in stages.items() if k.startswith("train@")), 1),
        "chosen": metrics["family"],
        "test_auroc": metrics.get("test_auroc"),
        "epochs_per_second": {f: r.get("epochs_per_second") for f, r in runs.items()},
        "plans": {f: r.get("plan") for f, r in runs.items()},
    }


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def mnist_sized(folder: Path, rows: int, seed: int = 0) -> None:
    """``rows`` 28x28 images of 10 classes (each a smooth pattern family), as IDX files."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, rows)
    bases = rng.normal(size=(10, 12, 784)).astype(np.float32)
    codes = rng.normal(size=(rows, 12)).astype(np.float32)
    images = np.einsum("nk,nkd->nd", codes, bases[labels]) / 3.0
    pixels = (255 / (1 + np.exp(-images))).reshape(rows, 28, 28)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", pixels)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)


def large_run(accelerator: str, epochs: int, rows: int) -> dict:
    """The 60,000-row run through the pipeline's training code (ingest, split, preprocess,
    ``train_family`` with MLflow); Great Expectations is left out of this throughput run."""
    from aeops.data.preprocess import Preprocessor
    from aeops.data.sources import load_source
    from aeops.data.split import add_synthetic, assign_splits, load_fold
    from tests.helpers import make_config

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mnist_sized(tmp / "mnist", rows)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
        cfg = make_config(
            tmp,
            data={"source": "mnist", "path": str(tmp / "mnist")},
            train={
                "accelerator": accelerator,
                "max_epochs": epochs,
                "min_epochs": epochs,
                "patience": 1000,
                "progress_bar": False,
            },
        )
        frame, meta = load_source(cfg.data, cfg.seed)
        splits = add_synthetic(assign_splits(frame, meta, cfg.data, cfg.seed), meta, cfg.seed)
        rows = splits[(splits["split"] == "train") & ~splits["is_anomaly"]]
        pre = Preprocessor.fit(rows, meta, cfg.data.scaler, False, cfg.data.max_categories)
        x = pre.transform(splits)
        train = load_fold(splits, "train", meta, x)
        from aeops.stages.common import Prepared
        from aeops.stages.train import train_family

        prepared = Prepared(meta, splits, x, tmp / "preprocessor.skops", "bench")
        for family in ("dense", "conv"):
            result = train_family(cfg, family, prepared, tmp / "models" / family)
            results[family] = {
                "epochs": result.record["epochs"],
                "fit_seconds": result.timings["fit_seconds"],
                "epochs_per_second": result.timings["epochs_per_second"],
                "plan": result.record["plan"],
                "train_rows": int(len(train.normal)),
            }
    return results


def engine_checks(accelerator: str, scale: float) -> list[dict]:
    from benchmarks.engine_vs_loop import compare

    gpu = accelerator == "gpu"
    precision = "bf16-mixed" if gpu else "32-true"
    rows = []
    for family, n in (("dense", 60_000), ("conv", 60_000 if gpu else 12_000)):
        n = int(n * scale)
        rows.append(compare(family, n, 3, 1024 if gpu else 256, accelerator, precision, repeats=2))
        if gpu:
            rows.append(
                compare(
                    family,
                    n,
                    3,
                    1024,
                    accelerator,
                    precision,
                    repeats=2,
                    compile_mode="reduce-overhead",
                )
            )
    return rows


def ratios(result: dict, reference: dict) -> dict:
    out = {}
    cpu, gpu = reference["default_pipeline"], result["default_pipeline"]
    out["default_pipeline_cpu_over_gpu"] = round(
        cpu["cold_repro_seconds"] / gpu["cold_repro_seconds"], 2
    )
    out["train_stages_cpu_over_gpu"] = round(cpu["train_seconds"] / gpu["train_seconds"], 2)
    for family, run in result["large_run"].items():
        base = reference["large_run"][family]["epochs_per_second"]
        out[f"large_run_{family}_epochs_per_s_gpu_over_cpu"] = round(
            run["epochs_per_second"] / base, 1
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument(
        "--reference",
        action="store_true",
        help="measure this machine's CPU and write " + str(REFERENCE),
    )
    parser.add_argument(
        "--accelerator",
        default=None,
        help="default: gpu (cpu with --reference); cpu to rehearse the check without a GPU",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a rehearsal")
    args = parser.parse_args()
    from aeops.core.env import disable_telemetry

    disable_telemetry()
    accelerator = args.accelerator or ("cpu" if args.reference else "gpu")
    scale = 0.1 if args.quick else 1.0
    start = time.perf_counter()
    result: dict = {"device": device_info(), "accelerator": accelerator, "plots": has_matplotlib()}
    steps = (
        ("default_pipeline", lambda: default_pipeline(accelerator, result["plots"])),
        (
            "large_run",
            lambda: large_run(accelerator, 3 if args.reference else 5, int(60_000 * scale)),
        ),
        ("engine_vs_loop", lambda: engine_checks(accelerator, scale)),
    )
    for name, step in steps:
        began = time.perf_counter()
        result[name] = step()
        result[f"{name}_seconds"] = round(time.perf_counter() - began, 1)
        print(json.dumps({name: result[name]}), flush=True)
    if accelerator == "gpu" and REFERENCE.exists():
        result["reference"] = json.loads(REFERENCE.read_text())["device"]
        result["ratios"] = ratios(result, json.loads(REFERENCE.read_text()))
    result["total_seconds"] = round(time.perf_counter() - start, 1)
    target = REFERENCE if (args.reference and not args.quick) else args.out / "gpu_check.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target} in {result['total_seconds']} s")


if __name__ == "__main__":
    main()
