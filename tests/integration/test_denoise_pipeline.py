"""`task: denoise` through the real pipeline (`dvc repro` in a copy of the project): the
digits default and the photo preset (examples/denoise, on a small slice of Train400) train a
U-Net denoiser, measure it beside the classical denoisers on the same noisy test images,
register it as `aeops-<data>-denoise` (champion), and `aeops denoise` with no --model uses
it; a second repro changes nothing and registers nothing; a `dvc exp run` with more steps
registers a challenger and leaves `@champion` where it was (the one promotion rule)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from PIL import Image

from aeops.models.registry import load_model
from tests.helpers import ROOT, deep_update
from tests.integration.project import make_project, run, with_venv

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # two dvc repros each: minutes

QUICK_UNET = {"steps": 300, "val_every": 100, "width": 16}
DENOISE = {"task": "denoise", "register": {"metric": "val_psnr_db"}}
SHARED = ROOT.parent / "shared" / "datasets" / "denoise" / "train400"


def repro(root: Path) -> subprocess.CompletedProcess:
    return run([str(root / ".venv/bin/dvc"), "repro"], root, timeout=1500)


def registered(root: Path, name: str) -> list:
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    return client.search_model_versions(f"name='{name}'")


def test_digits_denoise_beats_the_noise_and_registers_a_champion(tmp_path):
    override = {**DENOISE, "models": {"families": ["unet"], "unet": QUICK_UNET}}
    root = with_venv(make_project(tmp_path / "project", override))
    out = repro(root)
    assert "Running stage 'train@unet'" in out.stdout
    summary = json.loads((root / "reports/summary.json").read_text())
    assert summary["task"] == "denoise" and summary["chosen"] == "unet"
    assert summary["test_psnr_gain_db"] > 0.5, summary  # no longer worse than the noisy input
    metrics = json.loads((root / "reports/metrics.json").read_text())
    assert set(metrics["uses"]["25"]) == {"non_local_means", "total_variation", "wavelet"}
    assert (root / "reports/plots/denoising.png").stat().st_size > 5000
    versions = registered(root, "aeops-digits-denoise")
    assert len(versions) == 1
    assert json.loads((root / "reports/register.json").read_text())["alias"] == "champion"

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    pyfunc = mlflow.pyfunc.load_model("models:/aeops-digits-denoise@champion")
    images = np.load(root / "data/processed/model_input.npy")[:3].reshape(3, 8, 8)
    noisy = np.clip(images + 0.1 * np.random.default_rng(0).standard_normal(images.shape), 0, 1)
    local = load_model(root / "models/unet")
    expected = np.stack([local.denoise(n) for n in noisy.astype(np.float32)])
    assert np.array_equal(pyfunc.predict(noisy.astype(np.float32)), expected)

    again = repro(root)  # nothing changed: no stage but register runs, and it does nothing
    assert "Running stage 'train@unet'" not in again.stdout
    assert len(registered(root, "aeops-digits-denoise")) == 1

    digit = (np.load(root / "data/processed/model_input.npy")[0].reshape(8, 8) * 255).round()
    (root / "photos").mkdir()
    Image.fromarray(digit.astype(np.uint8)).save(root / "photos" / "digit.png")
    cli = run([str(root / ".venv/bin/aeops"), "denoise", "--input", "photos", "--output",
               "clean", "--quiet"], root)  # fmt: skip
    assert "denoised 1 image(s) into clean (sigma 25)" in cli.stderr
    assert Image.open(root / "clean" / "digit.png").size == (8, 8)
    (root / "reports/report.html").unlink()
    run([str(root / ".venv/bin/aeops"), "report"], root)
    page = (root / "reports/report.html").read_text()
    assert "aeops denoise run: unet (sigma 25)" in page and "non_local_means" in page
    assert (
        "aeops-digits-denoise v1, promoted to champion" in (root / "reports/report.md").read_text()
    )

    # a DVC experiment with a better denoiser registers a challenger; the champion stays
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run([*git, "add", "-A"], root)
    run([*git, "commit", "-qm", "trained"], root)
    run([str(root / ".venv/bin/dvc"), "exp", "run", "-n", "more-steps", "-S",
         "models.unet.steps=600"], root, timeout=1500)  # fmt: skip
    versions = {v.version: v for v in registered(root, "aeops-digits-denoise")}
    assert len(versions) == 2
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("aeops-digits-denoise", "champion")
    assert str(champion.version) == "1"
    newer = versions[max(versions, key=int)]
    assert newer.tags["decision"] == "challenger" and newer.tags["dvc_exp_name"] == "more-steps"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/datasets is not beside the project")
def test_the_photo_preset_runs_end_to_end_on_a_slice(tmp_path):
    root = tmp_path / "project"
    make_project(root, small=False)
    preset = yaml.safe_load((ROOT / "examples/denoise/params.yaml").read_text())
    quick = {
        "data": {"path": str(SHARED), "max_rows": 50},
        "models": {"unet": {"steps": 20, "val_every": 10}},
        "train": {"progress_bar": False},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(deep_update(preset, quick), sort_keys=False))
    with_venv(root)
    out = repro(root)
    assert "Running stage 'train@unet'" in out.stdout
    summary = json.loads((root / "reports/summary.json").read_text())
    assert summary["task"] == "denoise" and summary["chosen"] == "unet"
    assert {"sigma_15", "sigma_25", "sigma_50"} <= set(summary)
    assert len(registered(root, "aeops-train400-denoise")) == 1
