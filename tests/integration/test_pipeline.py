"""End to end: real `dvc repro`, real MLflow registry, the champion loaded in a fresh process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.integration.project import (
    clone_project,
    free_port,
    make_project,
    project_env,
    run,
    set_params,
    wait_until_answers,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def first_repro(tmp_path_factory) -> tuple[Path, str]:
    """A fresh project and everything its first `dvc repro` printed (stdout and stderr)."""
    root = make_project(tmp_path_factory.mktemp("e2e") / "project")
    result = run(["dvc", "repro"], root)
    return root, result.stdout + result.stderr


@pytest.fixture(scope="module")
def project(first_repro) -> Path:
    return first_repro[0]


def model_name(root: Path) -> str:
    return json.loads((root / "reports/register.json").read_text())["model_name"]


def champion_version(root: Path, name: str | None = None) -> str:
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    return str(client.get_model_version_by_alias(name or model_name(root), "champion").version)


def test_repro_writes_metrics_and_registers_a_champion(project: Path):
    metrics = json.loads((project / "reports/metrics.json").read_text())
    for key in ("test_auroc", "test_average_precision", "threshold", "test_recon_loss"):
        assert isinstance(metrics[key], float), key
    assert set(metrics["models"]) == {"dense", "vae"}
    assert set(metrics["baselines"]) == {"pca", "iforest", "knn", "ecod"}
    decision = json.loads((project / "reports/register.json").read_text())
    assert decision["alias"] == "champion" and decision["promoted"]
    assert decision["model_name"].startswith("aeops-digits-")  # named after the data's schema
    assert champion_version(project) == str(decision["version"])
    assert (project / "reports/plots/roc_pr.png").stat().st_size > 1000
    assert (project / "reports/data_docs/index.html").exists()


LIBRARY_CHATTER = (
    "GPU available",
    "TPU available",
    "Tip:",
    "limit_train_batches",
    "Validating input example",
    "Calculating Metrics",
    "INFO",
)


def test_a_default_repro_prints_aeops_lines_and_none_of_the_libraries_chatter(first_repro):
    _, output = first_repro
    assert [
        line for line in output.splitlines() if any(chatter in line for chatter in LIBRARY_CHATTER)
    ] == []
    for ours in (
        "ingest: ",
        "validate: ",
        "prepare: ",
        "train[dense]: ",
        "evaluate[vae]: ",
        "baselines[knn]: ",
        "chosen: ",
        "  why: ",
        "register: ",
    ):
        assert ours in output, ours
    assert re.search(r"best val_loss \d\.\d{1,3}(e[-+]\d+)? ", output)  # rounded for people


def test_second_repro_changes_nothing(project: Path):
    result = run(["dvc", "repro"], project)
    # only `register` runs (always): it finds the store in sync with the outputs and stops
    assert set(re.findall(r"Running stage '([^']+)'", result.stdout)) == {"register"}
    assert "nothing to do" in result.stdout
    assert run(["dvc", "status"], project).stdout.split() == ["register:", "always", "changed"]


def test_champion_scores_ingested_rows_in_a_fresh_process(project: Path):
    script = f"""
import json, mlflow, pandas as pd
model = mlflow.pyfunc.load_model("models:/{model_name(project)}@champion")
frame = pd.read_parquet("data/interim/dataset.parquet").drop(columns=["label"]).head(50)
out = model.predict(frame)
print(json.dumps({{"columns": list(out.columns), "n": len(out),
                  "flags": out["is_anomaly"].astype(bool).tolist()[:3],
                  "scores": out["anomaly_score"].tolist()}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        env=project_env(project),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["columns"][:2] == ["anomaly_score", "is_anomaly"]
    assert out["n"] == 50
    assert all(np.isfinite(out["scores"])) and min(out["scores"]) >= 0


@pytest.mark.slow
def test_corrupted_input_fails_validate_and_keeps_the_champion(project: Path, tmp_path: Path):
    root = clone_project(project, tmp_path / "corrupt")
    name = model_name(root)
    before = champion_version(root)
    metrics_before = (root / "reports/metrics.json").read_text()
    frame = pd.read_parquet(root / "data/interim/dataset.parquet")
    frame.loc[17, "pixel_5"] = np.nan
    frame.to_csv(root / "data/raw/digits.csv", index=False)
    set_params(
        root,
        {
            "data": {
                "source": "table",
                "path": "data/raw/digits.csv",
                "value_range": [0.0, 1.0],
                "image_shape": [8, 8],
                "labels": list(range(10)),
            }
        },
    )
    result = run(["dvc", "repro"], root, check=False)
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert "[aeops:validate] FAILED" in log
    assert "column 'pixel_5'" in log and "not_be_null" in log and "rows [17]" in log
    assert "Running stage 'prepare'" not in log
    assert champion_version(root, name) == before
    assert (root / "reports/metrics.json").read_text() == metrics_before


@pytest.mark.slow
def test_mlflow_serve_matches_aeops_score(project: Path, tmp_path: Path):

    import requests

    rows = pd.read_parquet(project / "data/interim/dataset.parquet").head(40)
    features = rows.drop(columns=["label"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    model = f"models:/{model_name(project)}@champion"
    run(
        [
            "aeops",
            "score",
            "--model",
            model,
            "--input",
            str(tmp_path / "rows.csv"),
            "--output",
            str(tmp_path / "scored.csv"),
            "--quiet",
        ],
        project,
    )
    expected = pd.read_csv(tmp_path / "scored.csv")
    assert expected["label"].astype(str).tolist() == rows["label"].tolist()  # carried along

    port = free_port()
    server = subprocess.Popen(
        [
            "mlflow",
            "models",
            "serve",
            "-m",
            model,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=project,
        env=project_env(project),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/ping", server)
        body = {
            "dataframe_split": {
                "columns": list(features.columns),
                "data": features.to_numpy().tolist(),
            }
        }
        answer = requests.post(f"{url}/invocations", json=body, timeout=60)
        assert answer.status_code == 200, answer.text[:2000]
        served = pd.DataFrame(answer.json()["predictions"])
        np.testing.assert_allclose(served["anomaly_score"], expected["anomaly_score"], rtol=1e-6)
        assert served["is_anomaly"].tolist() == expected["is_anomaly"].tolist()

        # the threshold travels with the model and can be overridden per request
        body["params"] = {"threshold": 0.0}
        forced = pd.DataFrame(
            requests.post(f"{url}/invocations", json=body, timeout=60).json()["predictions"]
        )
        assert forced["is_anomaly"].all()

        short = {
            "dataframe_split": {
                "columns": list(features.columns[:-1]),
                "data": features.iloc[:, :-1].to_numpy().tolist(),
            }
        }
        refused = requests.post(f"{url}/invocations", json=short, timeout=60)
        assert refused.status_code == 400
        assert "missing feature column(s) ['pixel_63']" in refused.json()["message"]

        # bad rows: aeops' sentence in `message`, no stack trace or server path in the reply
        values = features.to_numpy().tolist()
        values[3][7] = None
        nan_row = {"dataframe_split": {"columns": list(features.columns), "data": values}}
        extra = {
            "dataframe_split": {
                "columns": [*features.columns, "pixel_64"],
                "data": [row + [0.0] for row in features.to_numpy().tolist()],
            }
        }
        for body, expected in (
            (nan_row, "row 3, column 'pixel_7'"),
            (extra, "extra column(s) ['pixel_64']"),
        ):
            answer = requests.post(f"{url}/invocations", json=body, timeout=60)
            assert answer.status_code == 400, answer.text[:500]
            assert expected in answer.json()["message"]
            assert "stack_trace" not in answer.json() and str(project) not in answer.text
    finally:
        import os
        import signal

        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
def test_challenger_that_is_not_better_leaves_the_champion(project: Path, tmp_path: Path):
    root = clone_project(project, tmp_path / "challenger")
    before = champion_version(root)
    # any retrained candidate now has to beat the champion by a full AUROC point of 0.5
    set_params(root, {"register": {"margin": 0.5}, "train": {"max_epochs": 2}})
    run(["dvc", "repro"], root)
    decision = json.loads((root / "reports/register.json").read_text())
    assert decision["alias"] == "challenger" and not decision["promoted"]
    assert decision["champion_version"] == int(before)
    assert champion_version(root) == before
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    challenger = client.get_model_version_by_alias(model_name(root), "challenger")
    assert str(challenger.version) == str(decision["version"]) != before
    for tag in ("data_hash", "git_commit", "params", "metrics", "family", "threshold"):
        assert challenger.tags.get(tag), tag
    assert "kept as challenger" in challenger.description


@pytest.mark.slow
def test_the_runs_table_shows_the_evaluated_metrics(project: Path):
    """What the MLflow UI lists for each family run is the val_auroc that chose the champion
    (per-epoch curves are `epoch/...`), read through the tracking server's REST API."""
    import os
    import signal

    import requests

    port = free_port()
    server = subprocess.Popen(
        [
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{project / 'mlflow.db'}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=project,
        env=project_env(project),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/health", server)
        experiment = requests.get(
            f"{url}/experiments/get-by-name", params={"experiment_name": "aeops"}, timeout=30
        ).json()
        runs = requests.post(
            f"{url}/runs/search",
            timeout=30,
            json={"experiment_ids": [experiment["experiment"]["experiment_id"]]},
        ).json()["runs"]
        evaluated = json.loads((project / "reports/metrics.json").read_text())["models"]
        shown = {}
        for run_ in runs:
            tags = {t["key"]: t["value"] for t in run_["data"].get("tags", [])}
            metrics = {m["key"]: m["value"] for m in run_["data"].get("metrics", [])}
            if tags.get("family") in evaluated:
                shown[tags["family"]] = metrics
        assert set(shown) == set(evaluated)
        for family, metrics in shown.items():
            assert metrics["val_auroc"] == pytest.approx(evaluated[family]["val_auroc"])
            assert "epoch/val_loss" in metrics and "val_loss" not in metrics
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
