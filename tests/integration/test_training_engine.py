"""The training engine under real conditions: a killed run resumes; 2-process DDP trains."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import mlflow
import pytest
import torch

from tests.integration.project import make_project, project_env, run, set_params

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A project with ingest, validate and prepare done; one family (dense)."""
    root = make_project(tmp_path_factory.mktemp("engine") / "project",
                        {"models": {"families": ["dense"]}})
    run(["dvc", "repro", "prepare"], root)
    return root


def checkpoint_epoch(path: Path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])
    except Exception:  # noqa: BLE001 - the file may be half-written while we look
        return -1


def kill_after_epoch(root: Path, epoch: int) -> int:
    """Start `dvc repro train@dense`, SIGKILL it once last.ckpt holds ``epoch``."""
    ckpt = root / "checkpoints/dense/last.ckpt"
    proc = subprocess.Popen(["dvc", "repro", "train@dense"], cwd=root, env=project_env(root),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    seen = -1
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and (seen := checkpoint_epoch(ckpt)) >= epoch:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    return seen


def test_killed_training_resumes_from_last_checkpoint(prepared: Path):
    set_params(prepared, {"train": {"max_epochs": 40, "patience": 40}})
    killed_at = kill_after_epoch(prepared, 2)
    assert killed_at >= 2, "training finished or never checkpointed before the kill"
    assert not (prepared / "models/dense/model.pt").exists()
    marker = json.loads((prepared / "checkpoints/dense/fingerprint.json").read_text())

    result = run(["dvc", "repro", "train@dense"], prepared)
    log = result.stdout + result.stderr
    assert "resuming dense from" in log, log[-3000:]
    info = json.loads((prepared / "models/dense/run.json").read_text())
    assert info["resumed_from_epoch"] >= killed_at
    assert info["epochs"] == 40
    assert info["run_id"] == marker["run_id"]  # the same MLflow run goes on
    client = mlflow.MlflowClient(project_env(prepared)["MLFLOW_TRACKING_URI"])
    history = client.get_metric_history(info["run_id"], "val_loss")
    assert len({m.step for m in history}) >= 38  # one curve across the interruption
    assert not (prepared / "checkpoints/dense").exists()


def test_ddp_two_cpu_processes_train_like_one(prepared: Path):
    common = {"max_epochs": 3, "patience": 10, "accelerator": "cpu", "num_nodes": 1}
    set_params(prepared, {"train": {**common, "strategy": "auto", "devices": 1}})
    run(["python", "pipeline/train.py", "dense"], prepared)
    single = json.loads((prepared / "models/dense/run.json").read_text())

    set_params(prepared, {"train": {**common, "strategy": "ddp", "devices": 2}})
    result = run(["python", "pipeline/train.py", "dense"], prepared, timeout=300)
    ddp = json.loads((prepared / "models/dense/run.json").read_text())
    log = result.stdout + result.stderr
    assert "distributed_backend=gloo" in log or "GLOBAL_RANK: 1" in log
    assert ddp["epochs"] == single["epochs"] == 3
    # same kind of result: half the steps per epoch, so a somewhat higher but close loss
    assert ddp["best_val_loss"] < 1.5 * single["best_val_loss"]
    assert (prepared / "models/dense/model.pt").exists()


def test_dvc_experiment_is_tagged_in_mlflow(prepared: Path):
    set_params(prepared, {"train": {"max_epochs": 2, "strategy": "auto", "devices": 1,
                                    "accelerator": "auto"}})
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "params"],
        prepared, check=False)
    run(["dvc", "exp", "run", "train@dense", "-n", "tiny-exp", "-S", "models.dense.latent=3"],
        prepared)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], prepared).stdout)
    assert "tiny-exp" in json.dumps(shown)
    info = json.loads((prepared / "models/dense/run.json").read_text())
    run_ = mlflow.MlflowClient(project_env(prepared)["MLFLOW_TRACKING_URI"]).get_run(
        info["run_id"])
    assert run_.data.tags.get("dvc_exp_name") == "tiny-exp"
    assert run_.data.params["model/latent"] == "3"
    assert run_.data.tags.get("git_commit")
