"""The evaluate stage for ``task: denoise``: every trained denoiser and the classical
denoisers (:mod:`aeops.evaluation.denoising`) on the same noisy validation and test images at
each of ``evaluate.denoise_sigmas`` (and each model's own sigma); ``val_psnr_db`` over a
model's headline sigmas chooses. Writes the stage's outputs: a folder per model, the classical
results, PSNR by sigma, ``metrics.json``, the headline ``summary.json`` and the figure."""

from __future__ import annotations

import logging
from typing import Any

from aeops.config import Config
from aeops.core.errors import AeopsError
from aeops.core.files import METRICS_FILE
from aeops.core.io import atomic_dir, write_json
from aeops.evaluation.denoising import NoisyImages, measure, references
from aeops.stages.common import load_prepared, require
from aeops.stages.denoise import (
    DENOISER_DIR,
    EXAMPLES,
    SELECT_METRIC,
    fold_images,
    headline_of,
    headline_sigmas,
    sample,
)

log = logging.getLogger(__name__)


def evaluate_denoisers(cfg: Config) -> dict[str, Any]:
    """Every trained denoiser and the classical denoisers on the same noisy val and test
    images at each sigma; writes the evaluate stage's outputs; returns metrics.json."""
    from aeops.evaluation.plots import plot_denoised_photos
    from aeops.models.denoisers.unet import UNetDenoiser

    prepared = load_prepared(cfg)
    val = sample(fold_images(cfg, prepared, "val"), cfg.seed)
    test = sample(fold_images(cfg, prepared, "test"), cfg.seed + 1)
    if not test:
        raise AeopsError("task: denoise found no normal test images; lower data.split fractions")
    loaded = {
        family: UNetDenoiser.load(
            require(cfg.paths.model_dir(family) / DENOISER_DIR, f"train@{family}")
        )
        for family in cfg.models.families
    }
    headline = {f: headline_sigmas(cfg, m.noise) for f, m in loaded.items()}
    every = sorted(set(cfg.evaluate.denoise_sigmas).union(*headline.values()))
    noisy = {s: (NoisyImages.of(val, s, cfg.seed), NoisyImages.of(test, s, cfg.seed + 7))
             for s in every}  # fmt: skip
    classical = {f"{s:g}": references(*noisy[s]) for s in every}
    models: dict[str, dict[str, Any]] = {}
    for family, model in loaded.items():
        by_sigma = {
            f"{s:g}": {"val": measure(v, model.denoise), "test": measure(t, model.denoise)}
            for s, (v, t) in noisy.items()
        }
        models[family] = {
            **headline_of(by_sigma, headline[family], "val"),
            **headline_of(by_sigma, headline[family], "test"),
            "headline_sigmas": headline[family],
            "by_sigma": by_sigma,
            "parameters": model.parameters(),
            "noise": model.noise.describe(),
        }
        log.info(f"evaluate[{family}]: test PSNR {models[family]['test_psnr_db']:.2f} dB")
    chosen = max(models, key=lambda f: models[f][SELECT_METRIC])
    best_classical = {
        s: max(refs, key=lambda n: refs[n]["val"]["psnr_db"]) for s, refs in classical.items()
    }
    metrics = {
        "task": "denoise",
        "sigmas": every,
        "images": {"val": len(val), "test": len(test)},
        "models": models,
        "classical": classical,
        "selection": {
            "chosen": chosen,
            "metric": SELECT_METRIC,
            "value": models[chosen][SELECT_METRIC],
        },
    }
    write_outputs(cfg, metrics, best_classical)
    sigma = headline[chosen][0]
    test_images = noisy[sigma][1]
    best = best_classical[f"{sigma:g}"]
    panels = {
        f"noisy (sigma {sigma:g})": test_images.noisy[:EXAMPLES],
        chosen: [loaded[chosen].denoise(n) for n in test_images.noisy[:EXAMPLES]],
        best: classical_output(best, classical[f"{sigma:g}"][best]["setting"], test_images),
    }
    with atomic_dir(cfg.paths.plots_dir) as tmp:
        title = f"test images: {chosen} against the best classical denoiser ({best})"
        plot_denoised_photos(test_images.clean[:EXAMPLES], panels, tmp / "denoising.png", title)
    return metrics


def classical_output(name: str, setting: Any, images: NoisyImages) -> list:
    from aeops.evaluation.denoising import classical_denoisers

    filter_ = classical_denoisers(images.sigma)[name][0]
    return [filter_(n, setting) for n in images.noisy[:EXAMPLES]]


def write_outputs(cfg: Config, metrics: dict[str, Any], best_classical: dict[str, str]) -> None:
    """eval_dir (a folder per model), baselines_dir (the classical denoisers), curves_dir
    (PSNR by sigma), metrics.json and the headline summary.json."""
    with atomic_dir(cfg.paths.eval_dir) as tmp:
        for family, report in metrics["models"].items():
            write_json(tmp / family / METRICS_FILE, report)
    with atomic_dir(cfg.paths.baselines_dir) as tmp:
        write_json(tmp / "classical.json", metrics["classical"])
    points = [
        {"model": name, "sigma": float(s), "test_psnr_db": report["by_sigma"][s]["test"]["psnr_db"]}
        for name, report in metrics["models"].items()
        for s in report["by_sigma"]
    ]
    points += [
        {"model": name, "sigma": float(s), "test_psnr_db": refs[name]["test"]["psnr_db"]}
        for s, refs in metrics["classical"].items()
        for name in refs
    ]
    with atomic_dir(cfg.paths.curves_dir) as tmp:
        write_json(tmp / "psnr_by_sigma.json", points)
    write_json(cfg.paths.metrics, metrics)
    chosen = metrics["selection"]["chosen"]
    report = metrics["models"][chosen]
    summary: dict[str, Any] = {"task": "denoise", "chosen": chosen}
    summary.update({k: round(v, 4) for k, v in report.items() if isinstance(v, float)})
    for s, refs in metrics["classical"].items():
        best = best_classical[s]
        summary[f"sigma_{s}"] = {
            "test_psnr_db": round(report["by_sigma"][s]["test"]["psnr_db"], 4),
            "best_classical": best,
            "best_classical_test_psnr_db": round(refs[best]["test"]["psnr_db"], 4),
            "noisy_test_psnr_db": round(
                report["by_sigma"][s]["test"]["psnr_db"]
                - report["by_sigma"][s]["test"]["psnr_gain_db"],
                4,
            ),
        }
    write_json(cfg.paths.summary, summary)
