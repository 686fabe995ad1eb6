"""Training throughput: aeops' engine (the pipeline's Trainer, callbacks, in-memory batches)
against a minimal hand-written PyTorch loop, on the same model, optimiser and data, side by
side in one process.

Imports only torch, pytorch_lightning and numpy (plus aeops' engine and model modules, which
import nothing else), so it runs on a GPU machine without MLflow, DVC, GX or pandas:

    python benchmarks/engine_vs_loop.py --rows 60000 --epochs 3 --precision bf16-mixed

Both sides are warmed first (one short run each), then run ``--repeats`` times alternating,
so machine noise hits both alike; the best of each is compared. Reported: samples/s inside
training epochs and over the whole ``fit`` (validation, early stopping, best weights, resume
checkpoints and, with ``tracking_uri``, MLflow logging), and their ratios to the loop.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aeops.core.sections import TrainerConfig  # noqa: E402
from aeops.models.autoencoders.base import Objective  # noqa: E402
from aeops.models.autoencoders.conv import ConvNetwork  # noqa: E402
from aeops.models.autoencoders.dense import DenseNetwork  # noqa: E402
from aeops.training.batches import FoldData
from aeops.training.engine import FitHooks, Run, fit, skip_cuda_probe_without_gpu
from aeops.training.lightning import make_optimizer  # noqa: E402
from aeops.training.plan import resolve


def synthetic_images(rows: int, side: int = 28, seed: int = 0) -> np.ndarray:
    """Smooth random images in [0, 1] (rows, side*side): MNIST-sized, made on the spot."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(16, side * side)).astype(np.float32)
    codes = rng.normal(size=(rows, 16)).astype(np.float32)
    return 1.0 / (1.0 + np.exp(-(codes @ basis) / 4.0))


def build(family: str, side: int) -> torch.nn.Module:
    if family == "dense":
        return DenseNetwork(side * side, [256, 128, 64], 8, "sigmoid", 0.0)
    return ConvNetwork([1, side, side], [32, 64], 8, "sigmoid")


def settings(
    accelerator: str, precision: str, batch_size: int, epochs: int, compile_mode: str = "none"
) -> TrainerConfig:
    """The ``train:`` settings the pipeline would pass (params.yaml's, but these sizes).

    Built as the real typed config, so a new ``train:`` key fails here, not deep in ``fit``.
    """
    return TrainerConfig(
        accelerator=accelerator,
        devices=1,
        num_nodes=1,
        strategy="auto",
        precision=precision,
        deterministic=accelerator == "cpu",
        max_epochs=epochs,
        max_samples=None,
        max_time=None,
        min_epochs=1,
        limit_train_batches=1.0,
        batch_size=batch_size,
        lr=1e-3,
        weight_decay=0.0,
        patience=30,
        schedule="plateau",
        val_every="auto",
        checkpoint_every_s=60.0,
        threads="auto",
        compile=compile_mode,
        in_memory=True,
        num_workers=0,
        loss="mse",
        progress_bar=False,
    )


def autocast(device: torch.device, precision: str):
    if precision.startswith("bf16"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision.startswith("16"):
        return torch.autocast(device.type, dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)


def hand_loop(
    family: str,
    x: np.ndarray,
    epochs: int,
    batch_size: int,
    device: torch.device,
    precision: str,
    side: int,
    threads: int | None,
) -> float:
    """The minimal loop: tensor on device, random permutation, slice, step (same optimiser)."""
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build(family, side).to(device)
    optimizer = make_optimizer(net.parameters(), 1e-3, 0.0)
    data = torch.from_numpy(x).to(device)
    objective = Objective()
    _sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(data), device=device)
        for i in range(0, len(data), batch_size):
            batch = data[order[i : i + batch_size]]
            with autocast(device, precision):
                loss = objective.loss(batch, net(batch))["loss"]
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


def engine(
    family: str,
    x: np.ndarray,
    epochs: int,
    batch_size: int,
    accelerator: str,
    precision: str,
    side: int,
    tracking_uri: str | None,
    compile_mode: str = "none",
) -> dict[str, float]:
    """aeops' engine as the pipeline runs it (:func:`aeops.training.engine.fit`): seeded, early
    stopping, best weights in memory, interval resume checkpoints, in-memory batches; MLflow
    logging when ``tracking_uri`` is given."""
    pl.seed_everything(0, verbose=False)
    cfg = settings(accelerator, precision, batch_size, epochs, compile_mode)
    net = build(family, side)
    plan = resolve(cfg, len(x), sum(p.numel() for p in net.parameters()))
    val = x[: max(256, len(x) // 50)]
    flags = np.zeros(len(val), bool)
    flags[: len(val) // 10] = True
    logger = False
    if tracking_uri:
        from pytorch_lightning.loggers import MLFlowLogger

        # as the pipeline logs (stages.train.train_family): synchronous, once per epoch
        logger = MLFlowLogger("aeops-bench", tracking_uri=tracking_uri, synchronous=True)
    timer = TrainEpochTimer()
    with tempfile.TemporaryDirectory() as root:
        hooks = FitHooks(
            logger=logger, resume_path=Path(root) / "last.ckpt", extra_callbacks=(timer,)
        )
        fitted = fit(
            net, Objective(), Run(cfg, plan, 0, Path(root)), FoldData(x, val, flags), hooks
        )
    samples = len(x) * epochs
    return {
        "train_samples_per_s": samples / timer.seconds,
        "fit_samples_per_s": samples / fitted.seconds,
        "threads": plan.threads,
        "val_every": plan.val_every,
    }


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def compare(
    family: str,
    rows: int,
    epochs: int,
    batch_size: int,
    accelerator: str,
    precision: str,
    repeats: int,
    tracking_uri: str | None = None,
    side: int = 28,
    compile_mode: str = "none",
) -> dict[str, object]:
    skip_cuda_probe_without_gpu()  # the same for both sides
    x = synthetic_images(rows, side)
    device = torch.device(
        "cuda"
        if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
        else "cpu"
    )
    accel = "gpu" if device.type == "cuda" else "cpu"
    warm = x[: min(len(x), batch_size * 8)]
    first = engine(family, warm, 1, batch_size, accel, precision, side, tracking_uri, compile_mode)
    hand_loop(family, warm, 1, batch_size, device, precision, side, first["threads"])
    loops, engines = [], []
    for _ in range(repeats):
        engines.append(
            engine(
                family, x, epochs, batch_size, accel, precision, side, tracking_uri, compile_mode
            )
        )
        loops.append(
            hand_loop(
                family, x, epochs, batch_size, device, precision, side, engines[-1]["threads"]
            )
        )
    loop = max(loops)
    train = max(e["train_samples_per_s"] for e in engines)
    fit = max(e["fit_samples_per_s"] for e in engines)
    return {
        "family": family,
        "rows": rows,
        "features": side * side,
        "epochs": epochs,
        "batch_size": batch_size,
        "device": str(device),
        "precision": precision,
        "compile": compile_mode,
        "threads": engines[-1]["threads"],
        "val_every": engines[-1]["val_every"],
        "repeats": repeats,
        "loop_samples_per_s": round(loop, 1),
        "engine_train_samples_per_s": round(train, 1),
        "engine_fit_samples_per_s": round(fit, 1),
        "ratio_train": round(train / loop, 3),
        "ratio_fit_wall": round(fit / loop, 3),
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
    parser.add_argument("--compile", default="none")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    results = []
    for family in args.families.split(","):
        r = compare(
            family,
            args.rows,
            args.epochs,
            args.batch_size,
            args.accelerator,
            args.precision,
            args.repeats,
            compile_mode=args.compile,
        )
        print(
            f"{family:6s} {r['device']:5s} {r['precision']:10s} {r['compile']:15s} loop "
            f"{r['loop_samples_per_s']:>10.0f}/s  aeops {r['engine_train_samples_per_s']:>10.0f}"
            f"/s  ratio {r['ratio_train']:.3f} (whole fit {r['ratio_fit_wall']:.3f})",
            flush=True,
        )
        results.append(r)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
