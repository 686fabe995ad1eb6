"""The MLflow store is never assumed: a lost store is rebuilt from the outputs; the same
commit gives the same dvc.lock anywhere; experiments never move the champion; a crash between
registering a version and moving the alias is finished, not duplicated."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import mlflow
import pytest

from tests.integration.project import (
    bare_env,
    free_port,
    make_project,
    queue_logs,
    run,
    wait_for_queue,
    wait_until_answers,
    with_venv,
)

pytestmark = pytest.mark.integration


def make(root: Path, *target: str, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["make", *target],
        cwd=root,
        env=bare_env(root),
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"make {target}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def registry(root: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def decision(root: Path) -> dict:
    return json.loads((root / "reports/register.json").read_text())


@pytest.mark.slow
def test_a_lost_store_is_rebuilt_and_the_champion_scores(tmp_path: Path):
    root = with_venv(make_project(tmp_path / "project"))
    make(root, "train")
    name = decision(root)["model_name"]
    (root / "mlflow.db").unlink()
    out = make(root, "train").stdout
    assert "Running stage 'train" not in out  # nothing is retrained
    assert "lacked the runs of" in out
    restored = decision(root)
    assert restored["alias"] == "champion" and restored["version"] == 1
    assert set(restored["restored"]) >= {"dense", "vae", "pca", "iforest"}
    result = subprocess.run(
        [
            str(root / ".venv/bin/aeops"),
            "score",
            "--model",
            f"models:/{name}@champion",
            "--input",
            "data/interim/dataset.parquet",
            "--output",
            "reports/scored.csv",
            "--quiet",
        ],
        cwd=root,
        env=bare_env(root),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # a healthy store: the next run only checks it, in milliseconds
    again = make(root, "train").stdout
    assert "nothing to do" in again and "lacked" not in again


@pytest.mark.slow
def test_clean_restores_from_dvc_cache_and_keeps_the_registry(tmp_path: Path):
    root = with_venv(make_project(tmp_path / "project"))
    make(root, "train")
    before = (
        registry(root).get_model_version_by_alias(decision(root)["model_name"], "champion").version
    )
    out = make(root, "clean").stdout + make(root, "train").stdout
    assert "mlflow.db" not in out.split("rm -rf")[1].splitlines()[0]  # clean keeps the store
    assert (root / "mlflow.db").exists()
    name = decision(root)["model_name"]
    assert registry(root).get_model_version_by_alias(name, "champion").version == before
    assert len(registry(root).search_model_versions(f"name = '{name}'")) == 1  # no duplicate


@pytest.mark.slow  # a whole in-process pipeline run: ~10 s
def test_a_crash_between_version_and_alias_is_finished_on_rerun(tmp_path, mlflow_uri, monkeypatch):
    import aeops.tracking.registry
    from aeops.stages.register import register
    from tests.helpers import make_config
    from tests.integration.inproc import run_pipeline

    cfg = make_config(
        tmp_path,
        data={"max_rows": 300},
        train={"max_epochs": 2, "progress_bar": False},
        models={"families": ["dense"]},
        evaluate={"bootstrap": 10},
        baselines={"iforest_estimators": 10},
    )
    original = aeops.tracking.registry.set_alias

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed after the version was created")

    monkeypatch.setattr(aeops.tracking.registry, "set_alias", crash)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg)
    client = mlflow.MlflowClient()
    (half,) = client.search_registered_models()
    (version,) = client.search_model_versions(f"name = '{half.name}'")
    assert "decision" not in version.tags and not half.aliases  # half-registered
    monkeypatch.setattr(aeops.tracking.registry, "set_alias", original)
    finished = register(cfg)
    (version,) = client.search_model_versions(f"name = '{half.name}'")  # still one
    assert finished["version"] == int(version.version) == 1
    assert version.tags["decision"] == "champion" and version.tags["promoted"] == "True"
    assert {k: str(v) for k, v in client.get_registered_model(half.name).aliases.items()} == {
        "champion": "1"
    }


@pytest.mark.slow
def test_the_same_commit_gives_the_same_lock_and_metrics(tmp_path: Path):
    locks, metrics = [], []
    for clone in ("a", "b"):
        root = make_project(tmp_path / clone)
        run(["dvc", "repro"], root)
        locks.append((root / "dvc.lock").read_text())
        metrics.append(run(["dvc", "metrics", "show", "--json"], root).stdout)
    assert locks[0] == locks[1]
    assert metrics[0] == metrics[1] and '"test_auroc"' in metrics[0]


@pytest.mark.slow
def test_queued_experiments_on_two_workers_log_to_the_project_store(tmp_path: Path):
    root = with_venv(make_project(tmp_path / "project"))
    make(root, "train")
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "trained"], root)
    name = decision(root)["model_name"]
    champion = registry(root).get_model_version_by_alias(name, "champion").version
    settings = {"exp-a": "train.lr=0.003", "exp-b": "train.lr=0.0003"}
    for exp, setting in settings.items():
        make(root, "queue", f"ARGS=-n {exp} -S {setting}")
    make(root, "queue-start", "JOBS=2")
    status = wait_for_queue(root)
    failed = [exp for exp in settings if f"{exp} " in status and failed_in(status, exp)]
    if failed and len(failed) < len(settings) and dvc_race(queue_logs(root, tuple(failed))):
        # DVC's own race between two workers starting at once (treeverse/dvc#10673) fails one
        # experiment before it runs, with no log; requeued alone, it must then succeed
        run([str(root / ".venv/bin/dvc"), "queue", "remove", "--failed"], root)
        for exp in failed:
            make(root, "queue", f"ARGS=-n {exp} -S {settings[exp]}")
        make(root, "queue-start", "JOBS=1")
        status = wait_for_queue(root)
    assert status.count("Success") == 2, status + queue_logs(root, tuple(settings))
    client = registry(root)
    experiment = client.get_experiment_by_name("aeops").experiment_id
    for exp in ("exp-a", "exp-b"):
        runs = client.search_runs([experiment], filter_string=f"tags.dvc_exp_name = '{exp}'")
        assert {r.data.tags["family"] for r in runs} >= {"dense", "vae"}, exp
    assert client.get_model_version_by_alias(name, "champion").version == champion
    versions = client.search_model_versions(f"name = '{name}'")
    experimental = [v for v in versions if v.tags.get("dvc_exp_name")]
    assert experimental and all(v.tags["decision"] == "challenger" for v in experimental)
    assert not (root / ".dvc/tmp/exps/mlflow.db").exists()
    newest = max(experimental, key=lambda v: int(v.version))
    make(root, "promote", f"VERSION={newest.version}")
    assert client.get_model_version_by_alias(name, "champion").version == newest.version
    assert "aeops promote" in client.get_model_version(name, newest.version).tags["promoted_by"]


def dvc_race(logs: str) -> bool:
    """What DVC's workers write when two start at once and one loses (treeverse/dvc#10673,
    #8763): no log at all, or a lock another worker held."""
    markers = ("No output logs found", "packed-refs.lock", "Unable to acquire lock")
    return any(marker in logs for marker in markers)


def failed_in(status: str, exp: str) -> bool:
    """``dvc queue status`` lists experiment ``exp`` as Failed."""
    return any(exp in line.split() and "Failed" in line for line in status.splitlines())


@pytest.mark.slow
def test_a_shared_server_and_a_local_remote_between_two_clones(tmp_path: Path):
    port = free_port()
    first = with_venv(make_project(tmp_path / "first"))
    server = subprocess.Popen(
        ["make", "server", f"PORT={port}", f"TEAM_DIR={tmp_path / 'team'}"],
        cwd=first,
        env=bare_env(first),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{uri}/health", server)
        env = {**bare_env(first), "MLFLOW_TRACKING_URI": uri}
        for target in (["train"], ["remote", f"REMOTE={tmp_path / 'remote'}"], ["push"]):
            result = subprocess.run(
                ["make", *target], cwd=first, env=env, text=True, capture_output=True, timeout=900
            )
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], first)
        run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "done"], first)
        second = tmp_path / "second"
        run(["git", "clone", "-q", str(first), str(second)], tmp_path)
        with_venv(second)
        for target in (["pull"], ["train"]):
            result = subprocess.run(
                ["make", *target], cwd=second, env=env, text=True, capture_output=True, timeout=900
            )
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Running stage 'train" not in result.stdout  # the models came from the remote
        assert "already holds these files" in result.stdout  # registered once, by `first`
        name = decision(first)["model_name"]
        client = mlflow.MlflowClient(uri)
        assert client.get_model_version_by_alias(name, "champion").version == "1"
        runs = client.search_runs([client.get_experiment_by_name("aeops").experiment_id])
        assert all(
            r.data.tags.get("git_commit") and r.data.tags.get("data_hash")
            for r in runs
            if r.data.tags.get("family") in ("dense", "vae")
        )
        scored = subprocess.run(
            [
                str(second / ".venv/bin/aeops"),
                "score",
                "--model",
                f"models:/{name}@champion",
                "--input",
                "data/interim/dataset.parquet",
                "--output",
                "reports/s.csv",
                "--quiet",
            ],
            cwd=second,
            env=env,
            capture_output=True,
            text=True,
        )
        assert scored.returncode == 0, scored.stderr[-2000:]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
