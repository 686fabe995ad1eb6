"""Training throughput: aeops' engine (LightningModule + in-memory batches) against a minimal
hand-written PyTorch loop, on the same model and data, side by side in one process.

Imports only torch, pytorch_lightning and numpy (plus aeops' model modules, which import
nothing else), so it runs on a GPU machine without MLflow, DVC, GX or pandas:

    python benchmarks/engine_vs_loop.py --rows 60000 --epochs 3 --precision bf16-mixed

Reported: samples/s of each, and the ratio engine / loop (best of ``--repeats`` rounds, the
two alternating so that machine noise hits both alike).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aeops.data.batches import FoldDataModule  # noqa: E402
from aeops.models.families import ConvAE, DenseAE  # noqa: E402
from aeops.models.lightning import AutoencoderModule  # noqa: E402
from aeops.models.losses import Objective, objective_loss  # noqa: E402


def synthetic_images(rows: int, side: int = 28, seed: int = 0) -> np.ndarray:
    """Smooth random images in [0, 1] (rows, side*side): MNIST-sized, made on the spot."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(16, side * side)).astype(np.float32)
    codes = rng.normal(size=(rows, 16)).astype(np.float32)
    return 1.0 / (1.0 + np.exp(-(codes @ basis) / 4.0))


def build(family: str, side: int) -> torch.nn.Module:
    if family == "dense":
        return DenseAE(side * side, [256, 128, 64], 8, "sigmoid")
    return ConvAE([1, side, side], [32, 64], 8, "sigmoid")


def autocast(device: torch.device, precision: str):
    if precision.startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision.startswith("16"):
        return torch.autocast(device.type, dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)


def hand_loop(family: str, x: np.ndarray, epochs: int, batch_size: int, device: torch.device,
              precision: str, side: int) -> float:
    """The minimal loop: tensor on device, random permutation, slice, step."""
    torch.manual_seed(0)
    net = build(family, side).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    data = torch.from_numpy(x).to(device)
    objective = Objective()
    _sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(data), device=device)
        for i in range(0, len(data), batch_size):
            batch = data[order[i : i + batch_size]]
            with autocast(device, precision):
                loss = objective_loss(objective, batch, net(batch))["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    _sync(device)
    return len(data) * epochs / (time.perf_counter() - start)


class TrainEpochTimer(pl.Callback):
    """Wall time spent inside training epochs (steps, hooks, epoch-end logging)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        _sync(pl_module.device)
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        _sync(pl_module.device)
        self.seconds += time.perf_counter() - self._start


def engine(family: str, x: np.ndarray, epochs: int, batch_size: int, accelerator: str,
           precision: str, side: int, tracking_uri: str | None) -> dict[str, float]:
    """aeops' engine as the pipeline runs it: seeded, deterministic, early stopping and
    checkpoints, in-memory batches; MLflow logging when ``tracking_uri`` is given."""
    import tempfile

    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    pl.seed_everything(0, verbose=False)
    net = build(family, side)
    module = AutoencoderModule(net, Objective(), lr=1e-3)
    val = x[: max(256, len(x) // 50)]
    flags = np.zeros(len(val), bool)
    flags[: len(val) // 10] = True
    data = FoldDataModule(x, val, flags, batch_size, seed=0)
    timer = TrainEpochTimer()
    logger = False
    if tracking_uri:
        from pytorch_lightning.loggers import MLFlowLogger

        logger = MLFlowLogger("aeops-bench", tracking_uri=tracking_uri, synchronous=False)
    with tempfile.TemporaryDirectory() as ckpt_dir:
        trainer = pl.Trainer(
            accelerator=accelerator, devices=1, precision=precision, max_epochs=epochs,
            deterministic=accelerator == "cpu", logger=logger, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=ckpt_dir,
            callbacks=[timer, EarlyStopping("val_loss", patience=epochs + 1),
                       ModelCheckpoint(dirpath=ckpt_dir, monitor="val_loss", save_last=True)],
        )
        start = time.perf_counter()
        trainer.fit(module, datamodule=data)
        wall = time.perf_counter() - start
    samples = len(x) * epochs
    return {"train_samples_per_s": samples / timer.seconds, "fit_samples_per_s": samples / wall}


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def compare(family: str, rows: int, epochs: int, batch_size: int, accelerator: str,
            precision: str, repeats: int, tracking_uri: str | None = None,
            side: int = 28) -> dict[str, object]:
    x = synthetic_images(rows, side)
    device = torch.device("cuda" if accelerator in ("gpu", "cuda") or (
        accelerator == "auto" and torch.cuda.is_available()) else "cpu")
    accel = "gpu" if device.type == "cuda" else "cpu"
    loops, engines = [], []
    for _ in range(repeats):
        loops.append(hand_loop(family, x, epochs, batch_size, device, precision, side))
        engines.append(engine(family, x, epochs, batch_size, accel, precision, side,
                              tracking_uri))
    loop = max(loops)
    best = max(engines, key=lambda e: e["train_samples_per_s"])
    return {
        "family": family, "rows": rows, "features": side * side, "epochs": epochs,
        "batch_size": batch_size, "device": str(device), "precision": precision,
        "torch_threads": torch.get_num_threads(),
        "loop_samples_per_s": round(loop, 1),
        "engine_train_samples_per_s": round(best["train_samples_per_s"], 1),
        "engine_fit_samples_per_s": round(best["fit_samples_per_s"], 1),
        "ratio_train": round(best["train_samples_per_s"] / loop, 3),
        "ratio_fit_wall": round(best["fit_samples_per_s"] / loop, 3),
        "mlflow_logging": bool(tracking_uri),
    }


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="dense,conv")
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    results = []
    for family in args.families.split(","):
        result = compare(family, args.rows, args.epochs, args.batch_size, args.accelerator,
                         args.precision, args.repeats)
        r = result
        print(f"{family:6s} {r['device']:5s} {r['precision']:10s} loop "
              f"{r['loop_samples_per_s']:>10.0f}/s  aeops "
              f"{r['engine_train_samples_per_s']:>10.0f}/s"
              f"  ratio {r['ratio_train']:.3f} (fit wall-clock {r['ratio_fit_wall']:.3f})",
              flush=True)
        results.append(result)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
