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

from tests.integration.project import (
    clone_project,
    make_project,
    project_env,
    run,
    set_params,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def prepared_once(tmp_path_factory) -> Path:
    """A project with ingest, validate and prepare done; one family (dense)."""
    root = make_project(
        tmp_path_factory.mktemp("engine") / "project", {"models": {"families": ["dense"]}}
    )
    run(["dvc", "repro", "prepare"], root)
    return root


@pytest.fixture
def prepared(prepared_once: Path, tmp_path: Path) -> Path:
    """Each test its own copy (params, checkpoints, MLflow store): no test sees another's
    leftovers, whatever the order."""
    return clone_project(prepared_once, tmp_path / "project")


def training_run(root: Path, family: str = "dense"):
    """The MLflow run that wrote ``models/<family>/model.safetensors`` (found by its SHA-256)."""
    from aeops.core.io import file_sha256
    from aeops.tracking.names import MODEL_SHA_TAG

    client = mlflow.MlflowClient(project_env(root)["MLFLOW_TRACKING_URI"])
    sha = file_sha256(root / "models" / family / "model.safetensors")
    (found,) = client.search_runs(
        client.get_experiment_by_name("aeops").experiment_id,
        filter_string=f"tags.`{MODEL_SHA_TAG}` = '{sha}'",
    )
    return client, found


def checkpoint_epoch(path: Path) -> int:
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # noqa: BLE001 - the file may be half-written while we look
        return -1


def kill_after_epoch(
    root: Path, epoch: int, cmd: list[str] | None = None, sig: int = signal.SIGKILL
) -> tuple[int, subprocess.Popen]:
    """Start `dvc repro train@dense`, send ``sig`` once last.ckpt holds ``epoch``."""
    ckpt = root / "checkpoints/dense/last.ckpt"
    proc = subprocess.Popen(
        cmd or ["dvc", "repro", "train@dense"],
        cwd=root,
        env=project_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 240
    seen = -1
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and (seen := checkpoint_epoch(ckpt)) >= epoch:
            os.killpg(proc.pid, sig)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    return seen, proc


def test_killed_training_resumes_from_last_checkpoint(prepared: Path):
    # a checkpoint at every epoch's end (the default is once a minute)
    set_params(prepared, {"train": {"max_epochs": 40, "patience": 40, "checkpoint_every_s": 0}})
    killed_at, _ = kill_after_epoch(prepared, 2)
    assert killed_at >= 2, "training finished or never checkpointed before the kill"
    assert not (prepared / "models/dense/model.safetensors").exists()
    marker = json.loads((prepared / "checkpoints/dense/fingerprint.json").read_text())

    result = run(["dvc", "repro", "train@dense"], prepared)
    log = result.stdout + result.stderr
    assert "resuming dense from" in log, log[-3000:]
    info = json.loads((prepared / "models/dense/run.json").read_text())
    assert info["epochs"] == 40
    client, run_ = training_run(prepared)
    assert run_.info.run_id == marker["run_id"]  # the same MLflow run goes on
    assert int(run_.data.tags["resumed_from_epoch"]) >= killed_at
    history = client.get_metric_history(run_.info.run_id, "epoch/train_loss")
    assert len({m.step for m in history}) >= 38  # one curve across the interruption
    assert not (prepared / "checkpoints/dense").exists()


def start_training(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["python", "pipeline/train.py", "dense"],
        cwd=root,
        env=project_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for(predicate, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and not predicate():
        time.sleep(0.05)
    assert predicate(), "timed out"


def test_sigterm_writes_a_checkpoint_and_the_rerun_resumes(prepared: Path):
    # no interval checkpoint in this run: the one to resume from is written on SIGTERM
    set_params(
        prepared,
        {
            "train": {
                "max_epochs": 5000,
                "patience": 5000,
                "checkpoint_every_s": 3600,
                "val_every": 1,
            }
        },
    )
    ckpt = prepared / "checkpoints/dense/last.ckpt"
    proc = start_training(prepared)
    wait_for((prepared / "checkpoints/dense/fingerprint.json").exists)
    time.sleep(2)  # some epochs in
    assert not ckpt.exists() and proc.poll() is None
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out[-2000:]
    assert "stopped by SIGTERM" in out and "Traceback" not in out
    stopped_at = checkpoint_epoch(ckpt)
    assert stopped_at >= 1

    rerun = start_training(prepared)  # same params: it resumes (then we stop it again)
    seen = []
    for line in rerun.stdout:
        seen.append(line)
        if "resuming dense from" in line:
            break
    os.killpg(rerun.pid, signal.SIGTERM)
    rerun.communicate(timeout=60)
    assert f"(epoch {stopped_at})" in "".join(seen), "".join(seen)[-2000:]
    assert checkpoint_epoch(ckpt) >= stopped_at


def test_ddp_two_cpu_processes_train_like_one(prepared: Path):
    common = {"max_epochs": 3, "patience": 10, "accelerator": "cpu", "num_nodes": 1}
    set_params(prepared, {"train": {**common, "strategy": "auto", "devices": 1}})
    quiet = run(["python", "pipeline/train.py", "dense"], prepared)
    single = json.loads((prepared / "models/dense/run.json").read_text())
    assert "GPU available" not in quiet.stdout + quiet.stderr  # Lightning's lines held back

    set_params(prepared, {"train": {**common, "strategy": "ddp", "devices": 2}})
    # verbose: Lightning's own lines come back, and they say how the two processes met
    result = run(
        ["python", "pipeline/train.py", "dense"],
        prepared,
        timeout=300,
        extra_env={"AEOPS_VERBOSE": "1"},
    )
    ddp = json.loads((prepared / "models/dense/run.json").read_text())
    log = result.stdout + result.stderr
    assert "GPU available" in log
    assert "distributed_backend=gloo" in log or "GLOBAL_RANK: 1" in log
    assert ddp["epochs"] == single["epochs"] == 3
    # same kind of result: half the steps per epoch, so a somewhat higher but close loss
    assert ddp["best_val_loss"] < 1.5 * single["best_val_loss"]
    assert (prepared / "models/dense/model.safetensors").exists()


def test_dvc_experiment_is_tagged_in_mlflow(prepared: Path):
    set_params(prepared, {"train": {"max_epochs": 2}})
    run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "params"],
        prepared,
        check=False,
    )
    run(
        ["dvc", "exp", "run", "train@dense", "-n", "tiny-exp", "-S", "models.dense.latent=3"],
        prepared,
    )
    shown = json.loads(run(["dvc", "exp", "show", "--json"], prepared).stdout)
    assert "tiny-exp" in json.dumps(shown)
    _, run_ = training_run(prepared)
    assert run_.data.tags.get("dvc_exp_name") == "tiny-exp"
    assert run_.data.params["model/latent"] == "3"
    assert run_.data.tags.get("git_commit")


def test_conv_weights_do_not_depend_on_the_cpus_cores_or_instruction_set(
    prepared: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two machines, emulated: torch's default thread count follows OMP_NUM_THREADS, and
    ONEDNN_MAX_CPU_ISA and MKL_ENABLE_INSTRUCTIONS cap oneDNN's and MKL's kernels as an
    AVX2-only CPU would. Deterministic training (one thread, PyTorch's own conv kernels)
    writes the same bytes whatever the cores. Across instruction sets MKL's own matrix
    products differ (torch 2.14 builds) unless MKL's conditional reproducibility pins their
    code path: the stage sets ``MKL_CBWR=AVX2`` itself (nothing set by hand here), so the
    AVX-512 and the AVX2 machine agree too; a user's own setting wins (``MKL_CBWR=AUTO``)."""
    wide = {"channels": [128, 256]}  # too big for the one-thread rule of small models
    set_params(prepared, {"train": {"max_epochs": 2}, "models": {"conv": wide}})
    digests = {}
    avx2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    machines = {
        "1 core": {"OMP_NUM_THREADS": "1"},
        "2 cores": {"OMP_NUM_THREADS": "2"},
        "2 cores, AVX2": {"OMP_NUM_THREADS": "2", **avx2},
        "2 cores, AVX2, MKL_CBWR=AVX2 by hand": {
            "OMP_NUM_THREADS": "2",
            **avx2,
            "MKL_CBWR": "AVX2",
        },
    }
    monkeypatch.delenv("MKL_CBWR", raising=False)  # nothing set by hand: the stage sets it
    for machine, env in machines.items():
        run(["python", "pipeline/train.py", "conv"], prepared, extra_env=env)
        digests[machine] = (prepared / "models/conv/model.safetensors").read_bytes()
    assert digests["1 core"] == digests["2 cores"] == digests["2 cores, AVX2"]
    assert digests["2 cores, AVX2"] == digests["2 cores, AVX2, MKL_CBWR=AVX2 by hand"]
