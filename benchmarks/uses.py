"""Quality of the uses beyond detection, on real data, side by side with the classical methods
in the same run (``make quality SUITE=uses``).

Denoising (``--part denoise``): the U-Net denoiser (:mod:`aeops.models.denoisers.unet`) trained
on the Train400 photos only (380 to train, the last 20 to choose the kept weights and the
classical denoisers' settings), measured on Set12 at sigma 15, 25 and 50 (0-255 scale), noise
added once per image with a fixed seed and clipped to [0, 1], against scikit-image's
non-local means, total variation and wavelet (BayesShrink) denoisers and BM3D (the ``bm3d``
package, given the true sigma): :mod:`aeops.evaluation.denoising`, as the pipeline's evaluate
stage measures them. PSNR (dB) and SSIM, mean over the 12 images. Two models: one
trained at sigma 25, one blind over sigma 0-55 (told nothing of the level). Trained models are
kept in ``benchmarks/results/.models/`` (git-ignored) and reused when their spec is unchanged.

    .venv/bin/python benchmarks/uses.py --part denoise [--steps 4500] [--train-only blind]

Compression and reduction (``--part codes``): the presets through the whole pipeline,
:mod:`benchmarks.codes` (``benchmarks/results/uses_codes.*``). ``--part all`` runs both.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(1, str(ROOT))  # benchmarks.codes, when run as a script

from aeops.evaluation.denoising import NoisyImages, measure, references  # noqa: E402
from aeops.models.denoisers.unet import UNetDenoiser  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "benchmarks" / "results"
MODELS = RESULTS / ".models"
SIGMAS = (15, 25, 50)
VAL_IMAGES = 20
log = logging.getLogger("uses")


def grey_images(folder: Path) -> tuple[list[str], list[np.ndarray]]:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp"))
    return [p.name for p in files], [
        np.asarray(Image.open(p).convert("L"), dtype=np.float32) / 255.0 for p in files
    ]


def model_specs(steps: int) -> dict[str, UNetDenoiser]:
    """The two models measured, configured (params.yaml's models.unet but the noise)."""
    return {
        "unet_sigma25": UNetDenoiser(sigma=25.0, steps=steps),
        "unet_blind": UNetDenoiser(sigma=[0.0, 55.0], steps=steps),
    }


def trained(name: str, spec: UNetDenoiser, train: list, val: list) -> tuple[UNetDenoiser, float]:
    """The model ``spec`` configures, trained now or loaded from an earlier run of the same
    settings."""
    key = hashlib.sha256(json.dumps(spec.record(), sort_keys=True).encode()).hexdigest()[:12]
    folder = MODELS / f"{name}-{key}"
    if (folder / "denoiser.json").exists():
        about = json.loads((folder / "denoiser.json").read_text())
        return UNetDenoiser.load(folder), float(about.get("train_seconds", float("nan")))
    started = time.perf_counter()
    model = spec.fit(train, val)
    seconds = time.perf_counter() - started
    model.save(folder)
    about = json.loads((folder / "denoiser.json").read_text())
    about["train_seconds"] = round(seconds, 1)
    (folder / "denoiser.json").write_text(json.dumps(about, indent=2, sort_keys=True) + "\n")
    return model, seconds


def timed(images: NoisyImages, denoise) -> dict[str, float]:
    started = time.perf_counter()
    out = measure(images, denoise)
    return {**out, "seconds": round(time.perf_counter() - started, 1)}


def denoise_part(steps: int, train_only: str | None) -> dict:
    _, train400 = grey_images(DATA / "denoise" / "train400")
    names, set12 = grey_images(DATA / "denoise" / "set12")
    train, val = train400[:-VAL_IMAGES], train400[-VAL_IMAGES:]
    models = {}
    for name, spec in model_specs(steps).items():
        if train_only and name != f"unet_{train_only}":
            continue
        models[name] = trained(name, spec, train, val)
    if train_only:
        return {}
    rows = {}
    for sigma in SIGMAS:
        val_noisy, test_noisy = NoisyImages.of(val, sigma, 10_000), NoisyImages.of(set12, sigma, 0)
        row: dict[str, dict] = {"noisy": timed(test_noisy, lambda n: n)}
        started = time.perf_counter()
        for name, result in references(val_noisy, test_noisy, bm3d=True).items():
            row[name] = {"setting": result["setting"], **result["test"]}
            log.info("sigma %d %s: %.2f dB", sigma, name, row[name]["psnr_db"])
        row["classical_seconds"] = {
            "all, settings chosen on val": round(time.perf_counter() - started, 1)
        }
        for name, (model, _) in models.items():
            if name == "unet_sigma25" and sigma != 25:
                continue
            row[name] = timed(test_noisy, model.denoise)
            log.info("sigma %d %s: %.2f dB", sigma, name, row[name]["psnr_db"])
        rows[str(sigma)] = row
    return {
        "test_images": names,
        "models": {
            name: {
                "spec": m.record(),
                "parameters": m.parameters(),
                "train_seconds": round(secs, 1),
                "stopped_by": m.stopped_by,
                "history": m.history,
            }  # fmt: skip
            for name, (m, secs) in models.items()
        },
        "set12": rows,
    }


def markdown(result: dict) -> str:
    den = result["denoise"]
    methods = ["noisy", "wavelet", "total_variation", "non_local_means", "bm3d",
               "unet_sigma25", "unet_blind"]  # fmt: skip
    lines = [
        "# Uses: denoising (Set12, trained on Train400 only)",
        "",
        f"{result['machine']}; {result['date']}. PSNR dB / SSIM, mean over the 12 images.",
        "",
        "| sigma | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for sigma, row in den["set12"].items():
        cells = [
            f"{row[m]['psnr_db']:.2f} / {row[m]['ssim']:.3f}" if m in row else "-" for m in methods
        ]
        lines.append(f"| {sigma} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| model | parameters | training | steps | val PSNR (dB) |",
        "|---|---|---|---|---|",
    ]
    for name, m in den["models"].items():
        last = m["history"][-1] if m["history"] else {}
        best = max((h["val_psnr_db"] for h in m["history"]), default=float("nan"))
        lines.append(
            f"| {name} | {m['parameters'] / 1e6:.2f} M | {m['train_seconds']:.0f} s "
            f"({m['stopped_by']}) | {int(last.get('step', 0))} | {best:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=["all", "denoise", "codes"])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--train-only", choices=["sigma25", "blind"])
    args = parser.parse_args()
    if args.part in ("all", "codes"):  # compression and reduction: benchmarks/codes.py
        from benchmarks.codes import STANDARD, markdown, run_all

        print(markdown(run_all(STANDARD)))
        if args.part == "codes":
            return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import platform

    import torch

    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, torch {torch.__version__}",
        "denoise": denoise_part(args.steps, args.train_only),
    }
    if args.train_only:
        return
    (RESULTS / "uses.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "uses.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
