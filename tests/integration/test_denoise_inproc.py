"""`task: denoise`, every stage in this process (the DVC wiring is tested with real `dvc repro`
in test_denoise_pipeline.py): a quick U-Net on the digits is measured beside the classical
denoisers on the same noisy images, chosen and registered by the same selection and
promotion rule as every task (champion, with its figures), found again by its files' key
(not re-registered) on a second register, and served by `aeops denoise` from the registry
exactly as the Python model denoises."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image

from aeops.models.registry import load_model
from aeops.serving.denoise import denoise_files
from aeops.stages.register import register
from tests.helpers import make_config
from tests.integration.inproc import run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a whole pipeline run: ~40 s


def test_denoise_pipeline_in_process(tmp_path: Path, mlflow_uri: str):
    cfg = make_config(
        tmp_path,
        task="denoise",
        data={"max_rows": 300},
        models={"families": ["unet"], "unet": {"steps": 60, "val_every": 30, "width": 8}},
        train={"progress_bar": False},
        evaluate={"denoise_sigmas": [25]},
        register={"metric": "val_psnr_db"},
    )
    decision = run_pipeline(cfg)
    metrics = json.loads(Path(cfg.paths.metrics).read_text())
    assert (metrics["family"], metrics["kind"], metrics["selected_by"]) == (
        "unet",
        "denoiser",
        "val_psnr_db",
    )
    assert metrics["selection"]["reason"].startswith("denoiser unet has the best val_psnr_db")
    assert set(metrics["uses"]["25"]) == {"non_local_means", "total_variation", "wavelet"}
    unet = metrics["models"]["unet"]
    assert unet["by_sigma"]["25"]["test"]["psnr_gain_db"] > 0  # 60 steps already beat the noise
    summary = json.loads(Path(cfg.paths.summary).read_text())
    assert summary["task"] == "denoise" and summary["chosen"] == "unet"
    assert (Path(cfg.paths.plots_dir) / "denoising.png").stat().st_size > 5000

    name = "aeops-digits-denoise"
    assert decision["alias"] == "champion" and decision["model_name"] == name
    client = mlflow.MlflowClient()
    version = client.get_model_version(name, str(decision["version"]))
    run = client.get_run(version.run_id)
    assert run.data.metrics["test_psnr_db"] == pytest.approx(unet["test_psnr_db"])
    page = Path(cfg.paths.report).read_text()
    assert "aeops denoise run: unet (sigma 25)" in page and "non_local_means" in page

    assert register(cfg) == decision  # a rerun with the same files and store does nothing
    Path(cfg.paths.registry_report).unlink()  # the store has it: found by its files' key
    again = register(cfg)
    assert (again["version"], again["alias"]) == (decision["version"], "champion")
    assert again["reason"] == decision["reason"]  # the decision recorded on the version
    assert len(client.search_model_versions(f"name='{name}'")) == 1

    digits = np.load(cfg.paths.model_input)[:2].reshape(2, 8, 8)
    (tmp_path / "photos").mkdir()
    for i, digit in enumerate(digits):
        Image.fromarray(np.round(digit * 255).astype(np.uint8)).save(tmp_path / f"photos/{i}.png")
    lines = denoise_files(f"models:/{name}@champion", tmp_path / "photos", tmp_path / "out", False)
    assert lines == [f"denoised 2 image(s) into {tmp_path / 'out'} (sigma 25)"]
    local = load_model(cfg.paths.model_dir("unet"))
    grey = np.asarray(Image.open(tmp_path / "photos/0.png"), dtype=np.float32) / 255
    expected = np.round(local.denoise(grey) * 255).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out/0.png")), expected)
