"""The register stage for ``task: denoise``: the chosen denoiser registered as
``<name>-denoise`` (one registered model per use), champion only when it beats the current
champion re-scored on this run's validation images; the run's report written."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from aeops.config import Config
from aeops.core.io import read_json, write_json
from aeops.evaluation.denoising import NoisyImages, measure
from aeops.stages.common import load_prepared, require
from aeops.stages.denoise import (
    DENOISER_DIR,
    SELECT_METRIC,
    fold_images,
    headline_sigmas,
    sample,
)

log = logging.getLogger(__name__)


def denoise_metrics(cfg: Config) -> dict[str, Any]:
    """What the evaluate stage wrote (for register)."""
    return read_json(require(cfg.paths.metrics, "evaluate"))


def val_psnr_of(cfg: Config, model: Any) -> float:
    """``model``'s validation PSNR over the headline sigmas, on this run's noisy val images
    (what evaluate measured the trained models on)."""
    prepared = load_prepared(cfg)
    val = sample(fold_images(cfg, prepared, "val"), cfg.seed)
    headline = headline_sigmas(cfg, model.noise)
    scores = [measure(NoisyImages.of(val, s, cfg.seed), model.denoise)["psnr_db"] for s in headline]
    return float(np.mean(scores))


def register_denoiser(cfg: Config) -> dict[str, Any]:
    """Register the chosen denoiser as ``<name>-denoise`` (once per set of files), and make
    it champion when it beats the current champion, re-scored on this run's validation
    images, by more than ``register.margin``; otherwise challenger. Writes the register
    report; a rerun with the same files and store does nothing."""
    from aeops.core.io import file_sha256
    from aeops.models.denoisers.unet import SPEC, WEIGHTS
    from aeops.reporting.denoise_report import write_denoise_report
    from aeops.tracking.registry import set_alias
    from aeops.tracking.runs import open_tracking
    from aeops.tracking.store import store_id

    metrics = denoise_metrics(cfg)
    chosen = metrics["selection"]["chosen"]
    folder = require(cfg.paths.model_dir(chosen) / DENOISER_DIR, f"train@{chosen}")
    key = file_sha256(folder / WEIGHTS, folder / SPEC)[:16]
    from aeops.tracking.names import denoise_model_name

    name = denoise_model_name(cfg)
    report_path = Path(cfg.paths.registry_report)
    previous = read_json(report_path) if report_path.exists() else None
    store = store_id(cfg)
    if previous and (previous.get("detector_key"), previous.get("store_id")) == (key, store):
        log.info(f"register: the store holds {name} v{previous['version']}; nothing to do")
        if not Path(cfg.paths.report).exists():
            write_denoise_report(cfg)
        return previous
    client = open_tracking(cfg).client
    version = registered_version(cfg, client, name, key, metrics)
    ours = metrics["models"][chosen][SELECT_METRIC]
    decision, why = alias_for(cfg, client, name, str(version.version), ours)
    set_alias(name, decision, str(version.version), client)
    out = {
        "task": "denoise", "model_name": name, "version": str(version.version),
        "alias": decision, "reason": why, "family": chosen, "detector_key": key,
        "store_id": store_id(cfg), "val_psnr_db": ours,
    }  # fmt: skip
    write_json(report_path, out)
    log.info(f"register: {name} v{version.version} -> {decision} ({why})")
    write_denoise_report(cfg)
    return out


def registered_version(cfg: Config, client: Any, name: str, key: str, metrics: dict) -> Any:
    """The version of ``name`` holding the files of ``key``: found, or logged (its own MLflow
    run: params, metrics, the validation curve, the figure, the pyfunc) and registered."""
    import mlflow

    from aeops.models.denoisers.unet import SPEC
    from aeops.serving.denoise_pyfunc import log_denoiser
    from aeops.tracking.names import DETECTOR_KEY_TAG, flatten, run_name

    for version in client.search_model_versions(f"name='{name}'"):
        if version.tags.get(DETECTOR_KEY_TAG) == key:
            return version
    chosen = metrics["selection"]["chosen"]
    folder = cfg.paths.model_dir(chosen) / DENOISER_DIR
    report = metrics["models"][chosen]
    about = json_of(folder / SPEC)
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment).experiment_id
    with mlflow.start_run(experiment_id=experiment, run_name=run_name(cfg, chosen)):
        mlflow.log_params(flatten({"task": "denoise", "family": chosen, **about["spec"]}))
        mlflow.log_metrics({k: v for k, v in report.items() if isinstance(v, float)})
        for point in about.get("history", []):
            mlflow.log_metric("val_psnr_db_curve", point["val_psnr_db"], int(point["step"]))
        mlflow.set_tag(DETECTOR_KEY_TAG, key)
        info = log_denoiser(folder, key, sorted(Path(cfg.paths.plots_dir).glob("*.png")))
    version = mlflow.register_model(info.model_uri, name, tags={DETECTOR_KEY_TAG: key})
    client.set_model_version_tag(name, version.version, SELECT_METRIC, str(report[SELECT_METRIC]))
    return version


def alias_for(cfg: Config, client: Any, name: str, version: str, ours: float) -> tuple[str, str]:
    """(champion or challenger, why): the current champion is re-scored on this run's
    validation images, so the comparison is on the same images and noise."""
    import tempfile

    from aeops.models.denoisers.unet import UNetDenoiser
    from aeops.serving.denoise_pyfunc import downloaded
    from aeops.tracking.names import CHALLENGER, CHAMPION
    from aeops.tracking.registry import current_version

    champion = current_version(name, CHAMPION, client)
    if champion is None:
        return CHAMPION, "the first denoiser registered under this name"
    if str(champion.version) == version:
        return CHAMPION, "already the champion"
    with tempfile.TemporaryDirectory() as tmp:
        held = UNetDenoiser.load(downloaded(f"models:/{name}/{champion.version}", Path(tmp)))
        theirs = val_psnr_of(cfg, held)
    if ours > theirs + cfg.register.margin:
        return CHAMPION, f"val PSNR {ours:.3f} dB beats the champion's {theirs:.3f} dB"
    return CHALLENGER, f"val PSNR {ours:.3f} dB does not beat the champion's {theirs:.3f} dB"


def json_of(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text())
