"""Choosing for a use: with a use's metric as `register.metric`, the champion is the best
model at that use, and the register stage re-scores a champion at it exactly as evaluate
measured it. Real pipeline, real MLflow (SQLite in a temp dir)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from aeops.stages.common import load_prepared
from aeops.stages.register import Detectors
from tests.helpers import make_config
from tests.integration.inproc import run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a whole pipeline run: ~40 s


def test_with_val_psnr_gain_db_the_champion_is_the_best_denoiser(tmp_path: Path, mlflow_uri: str):
    metric = "val_psnr_gain_db"
    cfg = make_config(
        tmp_path,
        data={"max_rows": 400},
        models={"families": ["dense", "denoising"]},
        train={"max_epochs": 6, "progress_bar": False},
        evaluate={"bootstrap": 10, "plots": False},
        baselines={"iforest_estimators": 10},
        register={"metric": metric, "candidates": "all"},
    )
    decision = run_pipeline(cfg)
    metrics = json.loads(Path(cfg.paths.metrics).read_text())
    # every trained family has it; the ensemble has no reconstruction use of its own
    measured = {name: m[metric] for name, m in metrics["models"].items() if name != "ensemble"}
    measured |= {name: m[metric] for name, m in metrics["baselines"].items() if metric in m}
    assert set(measured) == {"dense", "denoising", "pca"}  # iforest, knn, ecod have no code
    best = max(measured, key=lambda name: measured[name])
    assert metrics["selected_by"] == metric and metrics["family"] == best
    assert decision["family"] == best and decision["alias"] == "champion"
    assert f"{best} has the best {metric}" in metrics["selection"]["reason"]

    # the version says what it is good for, every use's figures included
    client = mlflow.MlflowClient()
    version = client.get_model_version(decision["model_name"], str(decision["version"]))
    assert "denoising" in version.tags["uses"] and "B/row" in version.tags["uses"]
    tagged = {k.removeprefix("metric.") for k in version.tags if k.startswith("metric.")}
    assert {"test_psnr_gain_db", "test_trustworthiness", "val_code_psnr_db"} <= tagged
    # every figure, code sizes included, is on the version's run
    assert "test_code_int8_psnr_db" in client.get_run(version.run_id).data.metrics

    # the runs table says the data and the family; the chosen run says why it was chosen
    run = client.get_run(version.run_id)
    assert run.info.run_name == f"digits/{best} \u2605 champion"  # marked while it is one
    assert f"v{decision['version']} @champion" in run.data.tags["mlflow.note.content"]
    assert run.data.tags["aeops.champion"] == f"{decision['model_name']} v{decision['version']}"
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]  # the Dataset column
    assert dataset.name == "digits" and dataset.digest == load_prepared(cfg).data_hash

    # the register stage's re-scoring of a champion gives what evaluate measured
    uri = f"models:/{decision['model_name']}@champion"
    again = Detectors.rescore(cfg, load_prepared(cfg), metric, uri)
    assert again == pytest.approx(measured[best], abs=1e-4)
