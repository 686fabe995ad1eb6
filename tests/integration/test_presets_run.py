"""Every preset runs end to end, as committed, on a slice of its own data (the photo preset
has its own test, with real `dvc repro`: test_denoise_pipeline.py): each stage in this process,
its figures in summary.json and its champion registered under the use's name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aeops.config import parse_config
from tests.helpers import deep_update
from tests.integration.inproc import run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a pipeline run each: ~20-40 s

ROOT = Path(__file__).resolve().parents[2]
SLICE = {
    "data": {"max_rows": 500},
    "train": {"max_epochs": 2, "min_epochs": 1, "progress_bar": False},
    "models": {"coder": {"width": 4}},
    "evaluate": {"bootstrap": 0},
}
EXPECTED = {  # preset -> (summary key that leads, registered name)
    "detect": ("test_auroc", "aeops-digits"),
    "compress": ("psnr_db", "aeops-fashion-mnist-compress"),
    "reduce": ("trustworthiness", "aeops-fashion-mnist-reduce"),
    "reduce-genes": ("trustworthiness", "aeops-baron-pancreas-scRNA-2000genes-reduce"),
    "seed-keras": ("psnr_db", "aeops-fashion-mnist-compress"),
    "faults": ("f1", "aeops-valve1-faults"),
}
SERIES = 3  # the faults preset's slice: its first three experiments, whole (time is not sliced)


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_the_preset_runs_end_to_end_on_a_slice(preset: str, tmp_path: Path, mlflow_uri: str):
    data = yaml.safe_load((ROOT / "examples" / preset / "params.yaml").read_text())
    if data["data"]["path"]:
        path = ROOT / data["data"]["path"]
        if not path.exists():
            pytest.skip(f"{path} is not here (the shared datasets sit beside the project)")
        data["data"]["path"] = str(path)
    data = deep_update(data, SLICE)
    if preset == "faults":
        folder = tmp_path / "valve1"
        folder.mkdir()
        for name in [f"{i}.csv" for i in range(SERIES)]:
            (folder / name).write_bytes((Path(data["data"]["path"]) / name).read_bytes())
        data["data"].update(path=str(folder), max_rows=None)
    data["paths"] = {k: str(tmp_path / v) for k, v in data["paths"].items()}
    cfg = parse_config(data)
    decision = run_pipeline(cfg)
    lead, name = EXPECTED[preset]
    summary = json.loads(Path(cfg.paths.summary).read_text())
    assert isinstance(summary[lead], float)
    assert decision["model_name"] == name and decision["alias"] == "champion"
    if preset == "seed-keras":
        metrics = json.loads(Path(cfg.paths.metrics).read_text())
        dense = metrics["models"]["dense"]
        assert dense["test_code_dims"] == 32 and "test_recon_loss" in dense
