"""One promotion rule for every task: a DVC experiment registers a challenger and never moves
``@champion``, even when its model beats the champion re-scored on the same validation data
(``aeops promote`` is the only way an experiment's model becomes champion). Each task runs
its whole pipeline in this process twice: a weak model registered as champion, then a better
one under ``DVC_EXP_NAME`` (what `dvc exp run` sets; the real `dvc exp run` of a denoise
project is in test_denoise_pipeline.py)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from aeops.stages.common import load_prepared
from aeops.stages.register import KINDS
from tests.helpers import make_config
from tests.integration.inproc import run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # two pipeline runs per task

QUICK = {"progress_bar": False, "batch_size": 64}
TASKS = {  # task -> (its params, the weak run's, the better experiment's)
    "detect": (
        {"models": {"families": ["dense"]}, "register": {"metric": "val_auroc"}},
        {"train": {**QUICK, "max_epochs": 1}},
        {"train": {**QUICK, "max_epochs": 40}},
    ),
    "compress": (
        {
            "models": {"families": ["dense"]},
            "code": {"size": 8, "precision": "int8"},
            "register": {"metric": "val_code_int8_psnr_db"},
        },
        {"train": {**QUICK, "max_epochs": 1}},
        {"train": {**QUICK, "max_epochs": 40}},
    ),
    "reduce": (
        {
            "models": {"families": ["dense"]},
            "code": {"size": 2, "precision": "float32"},
            "register": {"metric": "val_trustworthiness"},
        },
        {"train": {**QUICK, "max_epochs": 1, "lr": 1e-6}},  # next to untrained
        {"train": {**QUICK, "max_epochs": 40}},
    ),
    "denoise": (
        {"models": {"families": ["unet"]}, "register": {"metric": "val_psnr_db"}},
        {"models": {"unet": {"steps": 10, "val_every": 10, "width": 8}}, "train": QUICK},
        {"models": {"unet": {"steps": 80, "val_every": 40, "width": 8}}, "train": QUICK},
    ),
}


def config(tmp_path: Path, task: str, *parts: dict):
    from tests.helpers import deep_update

    merged: dict = {"task": task, "data": {"max_rows": 400}}
    merged = deep_update(merged, {"evaluate": {"bootstrap": 10, "plots": False}})
    merged = deep_update(merged, {"register": {"candidates": "autoencoders"}})
    for part in parts:
        merged = deep_update(merged, part)
    return make_config(tmp_path, **merged)


@pytest.mark.parametrize("task", list(TASKS))
def test_a_dvc_experiment_never_moves_the_champion(task, tmp_path, mlflow_uri, monkeypatch):
    own, weak, better = TASKS[task]
    first = run_pipeline(config(tmp_path, task, own, weak))
    name = first["model_name"]
    assert first["alias"] == "champion" and first["promoted"], first

    monkeypatch.setenv("DVC_EXP_NAME", "exp-better")
    cfg = config(tmp_path, task, own, better)
    second = run_pipeline(cfg)
    client = mlflow.MlflowClient()
    assert second["model_name"] == name and second["version"] == first["version"] + 1
    assert second["alias"] == "challenger" and not second["promoted"], second
    assert "experiments register challengers only" in second["reason"]
    assert str(client.get_model_version_by_alias(name, "champion").version) == str(first["version"])
    version = client.get_model_version(name, str(second["version"]))
    assert version.tags["dvc_exp_name"] == "exp-better" and version.tags["decision"] == "challenger"
    # ... although it beats the champion, re-scored on the same validation data
    rescore = KINDS[cfg.use.model_kind].rescore
    champion = rescore(cfg, load_prepared(cfg), second["metric"], f"models:/{name}@champion")
    assert second["candidate_score"] > champion, (second["candidate_score"], champion)
