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
    with_venv,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def first_repro(tmp_path_factory) -> tuple[Path, str]:
    """A fresh project and everything its first `dvc repro` printed (stdout and stderr)."""
    # 4 epochs and 20 resamples call one family reliably worse on noise: with no fold large
    # enough to show that, both families stay and the run writes every documented output,
    # the ensemble's too (which families it averages: test_selection)
    root = make_project(
        tmp_path_factory.mktemp("e2e") / "project",
        {"register": {"switch_min_anomalies": 1_000_000}},
    )
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
    assert set(metrics["models"]) == {"dense", "vae", "ensemble"}
    assert set(metrics["baselines"]) == {"pca", "iforest", "knn", "ecod"}
    decision = json.loads((project / "reports/register.json").read_text())
    assert decision["alias"] == "champion" and decision["promoted"]
    assert decision["model_name"] == "aeops-digits"  # named after the data
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
    # the VAE's listed beta: the first is kept untried, and the line says why (this project
    # sets register.switch_min_anomalies beyond its validation fold)
    assert re.search(
        r"train\[vae\]: .*; beta 0\.01, the first of beta 0\.01, beta 0\.1: validation "
        r"holds \d+ labelled anomalies, fewer than the 1000000 \(register.switch_min_anomalies\)",
        output,
    ), output


def test_second_repro_changes_nothing(project: Path):
    result = run(["dvc", "repro"], project)
    # only `register` runs (always): it finds the store in sync with the outputs and stops
    assert set(re.findall(r"Running stage '([^']+)'", result.stdout)) == {"register"}
    assert "nothing to do" in result.stdout
    assert run(["dvc", "status"], project).stdout.split() == ["register:", "always", "changed"]


@pytest.mark.slow  # a fresh Python loads MLflow and torch: ~12 s
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
    assert all(np.isfinite(out["scores"])) and len(set(out["scores"])) > 1
    if json.loads((project / "reports/register.json").read_text())["kind"] == "autoencoder":
        assert min(out["scores"]) >= 0  # an error; the ensemble's robust z-scores go below 0


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


SERVERS = {  # the REST endpoints users deploy: the same requests, answers and sentences
    "mlflow": lambda name, port: [
        "mlflow", "models", "serve", "-m", f"models:/{name}@champion",
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
    ],
    "onnx": lambda name, port: [
        "aeops", "serve", "--engine", "onnx", "--host", "127.0.0.1", "--port", str(port),
    ],
}  # fmt: skip


@pytest.fixture(scope="module", params=list(SERVERS))
def served(project: Path, request):
    """The champion served over REST (`mlflow models serve`, or `aeops serve --engine onnx`
    over the export the register stage wrote): its URL."""
    import os
    import signal

    port = free_port()
    server = subprocess.Popen(
        SERVERS[request.param](model_name(project), port),
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
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def served_features(project: Path) -> pd.DataFrame:
    return (
        pd.read_parquet(project / "data/interim/dataset.parquet").head(40).drop(columns=["label"])
    )


def split_body(frame: pd.DataFrame, **params) -> dict:
    body = {"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}
    return {**body, "params": params} if params else body


@pytest.mark.slow
def test_rest_serving_matches_aeops_score(project: Path, served: str, tmp_path: Path):
    import requests

    rows = pd.read_parquet(project / "data/interim/dataset.parquet").head(40)
    features = served_features(project)
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

    answer = requests.post(f"{served}/invocations", json=split_body(features), timeout=60)
    assert answer.status_code == 200, answer.text[:2000]
    served_rows = pd.DataFrame(answer.json()["predictions"])
    # ONNX Runtime's float32 products differ from torch's in the last digits (export parity);
    # an ensemble's robust z-scores pass through 0, where only an absolute tolerance holds
    np.testing.assert_allclose(
        served_rows["anomaly_score"], expected["anomaly_score"], rtol=1e-5, atol=1e-5
    )
    assert served_rows["is_anomaly"].tolist() == expected["is_anomaly"].tolist()

    # the threshold travels with the model and can be overridden per request
    below_all = float(expected["anomaly_score"].min()) - 1.0
    forced = requests.post(
        f"{served}/invocations", json=split_body(features, threshold=below_all), timeout=60
    )
    assert pd.DataFrame(forced.json()["predictions"])["is_anomaly"].all()

    # ground truth sent along under an output's name is not carried: one flag, the model's
    truth = requests.post(
        f"{served}/invocations", json=split_body(features.assign(is_anomaly=True)), timeout=60
    )
    answer_rows = pd.DataFrame(truth.json()["predictions"])
    assert list(answer_rows.columns) == ["anomaly_score", "is_anomaly"]
    assert answer_rows["is_anomaly"].tolist() == expected["is_anomaly"].tolist()


def with_value(row: int, column: str, value):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype(object) if not isinstance(value, float) else frame
        frame.loc[row, column] = value
        return frame

    return change


def renamed(old: str, new: str):
    return lambda frame: frame.rename(columns={old: new})


# each request a user or a client bug can send, and what the refusal must name
REST_REFUSALS = {
    "value beyond float32 (1e39)": (with_value(3, "pixel_7", 1e39), ["row 3", "'pixel_7'"]),
    "value 1e308": (with_value(5, "pixel_9", 1e308), ["row 5", "'pixel_9'"]),
    "value -1e30 (score would overflow)": (
        with_value(2, "pixel_10", -1e30),
        ["row 2", "'pixel_10'"],
    ),
    "missing value": (with_value(3, "pixel_7", None), ["row 3, column 'pixel_7'"]),
    "text in a feature": (with_value(4, "pixel_2", "bright"), ["'pixel_2'"]),
    "boolean feature": (with_value(1, "pixel_3", True), ["'pixel_3'"]),
    "missing column": (
        lambda f: f.drop(columns=["pixel_63"]),
        ["missing feature column(s) ['pixel_63']"],
    ),
    "extra column": (lambda f: f.assign(pixel_64=0.0), ["extra column(s) ['pixel_64']"]),
    "duplicated column": (
        lambda f: pd.concat([f, f[["pixel_0"]]], axis=1),
        ["'pixel_0'"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(REST_REFUSALS))
def test_rest_refuses_each_bad_request_by_name_without_a_stack_trace(
    project: Path, served: str, case: str
):
    import requests

    change, expected = REST_REFUSALS[case]
    body = split_body(change(served_features(project)))
    answer = requests.post(f"{served}/invocations", json=body, timeout=60)
    assert answer.status_code == 400, answer.text[:1000]
    reply = answer.json()
    for fragment in expected:
        assert fragment in reply["message"], reply["message"][:1000]
    assert "stack_trace" not in reply and "Traceback" not in answer.text
    assert str(project) not in answer.text and "site-packages" not in answer.text
    assert "NaN" not in answer.text and "Infinity" not in answer.text


@pytest.mark.slow
def test_challenger_that_is_not_better_leaves_the_champion(project: Path, tmp_path: Path):
    root = clone_project(project, tmp_path / "challenger")
    before = champion_version(root)
    # any retrained candidate now has to beat the champion by a full AUROC point of 0.5
    set_params(root, {"register": {"margin": 0.5}, "train": {"max_epochs": 2}})
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    run(["dvc", "repro"], root, extra_env={"TMPDIR": str(scratch)})
    # the challenger's ONNX export (logged to its run) leaves nothing behind in the temp dir
    assert not list(scratch.glob("aeops-onnx-*")), list(scratch.iterdir())
    decision = json.loads((root / "reports/register.json").read_text())
    assert decision["alias"] == "challenger" and not decision["promoted"]
    assert decision["champion_version"] == int(before)
    assert champion_version(root) == before
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    challenger = client.get_model_version_by_alias(model_name(root), "challenger")
    assert str(challenger.version) == str(decision["version"]) != before
    for tag in (
        "data_hash",
        "git_commit",
        "params_digest",
        "metric.val_auroc",
        "family",
        "threshold",
        "onnx",
    ):
        assert challenger.tags.get(tag), tag
    exported = client.list_artifacts(challenger.run_id, "onnx")
    assert any(f.path.endswith(".onnx") for f in exported), exported
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
            if evaluated[family].get("kind") == "autoencoder":  # trained: epoch curves
                assert "epoch/val_loss" in metrics and "val_loss" not in metrics
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
def test_a_user_folder_named_as_an_output_after_a_run_survives_dvc_repro(
    project: Path, tmp_path: Path
):
    """Only the stage that owns a changed path would run, and DVC deletes that stage's
    outputs first: every ``paths.*`` is a param of the first stage, whose check refuses."""
    root = clone_project(project, tmp_path / "notes")
    (root / "notes").mkdir()
    (root / "notes" / "analysis.txt").write_text("mine")
    set_params(root, {"paths": {"validation_dir": "notes"}})
    result = run(["dvc", "repro"], root, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "paths.validation_dir: notes already exists and was not made by aeops" in output
    assert "Running stage 'validate'" not in output and "Traceback" not in output
    assert [p.name for p in (root / "notes").iterdir()] == ["analysis.txt"]


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: its size and modification time (ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_a_copied_project_retrains_from_a_bare_shell_without_touching_the_original(
    project: Path, tmp_path: Path
):
    """`.venv/bin/dvc repro` from a shell whose PATH lacks the venv runs the project's own
    Python (pipeline/python), and the copy's MLflow store, which recorded the original's
    absolute artifact folder, writes into the copy."""
    from tests.integration.project import bare_env

    original = {
        "mlartifacts": tree_state(project / "mlartifacts"),
        "mlflow.db": (project / "mlflow.db").read_bytes(),
    }
    copy = with_venv(clone_project(project, tmp_path / "copy"))
    set_params(copy, {"train": {"max_epochs": 3}})
    result = subprocess.run(
        [str(copy / ".venv" / "bin" / "dvc"), "repro"],
        cwd=copy,
        env=bare_env(copy),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Running stage 'train@dense'" in output and "Traceback" not in output
    assert tree_state(project / "mlartifacts") == original["mlartifacts"]
    assert (project / "mlflow.db").read_bytes() == original["mlflow.db"]
    client = mlflow.MlflowClient(f"sqlite:///{copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("aeops")
    runs = client.search_runs([experiment.experiment_id])
    assert runs and all(
        r.info.artifact_uri.startswith((copy / "mlartifacts").as_uri()) for r in runs
    )
    name = json.loads((copy / "reports/register.json").read_text())["model_name"]
    for version in client.search_model_versions(f"name='{name}'"):
        location = client.get_model_version_download_uri(name, version.version)
        assert location.startswith((copy / "mlartifacts").as_uri()), location


@pytest.mark.slow
@pytest.mark.parametrize("command", ["score", "train"])
def test_a_dead_tracking_server_is_one_sentence_within_seconds(
    project: Path, tmp_path: Path, command: str
):
    """`aeops score` of the champion and a no-op `make train` with a tracking URI nothing
    answers: MLflow alone retries for minutes and ends in chained tracebacks."""
    import time

    dead = f"http://127.0.0.1:{free_port()}"
    served_features(project).to_csv(tmp_path / "rows.csv", index=False)
    argv = {
        "score": [
            "aeops",
            "score",
            "--input",
            str(tmp_path / "rows.csv"),
            "--output",
            str(tmp_path / "out.csv"),
        ],
        "train": ["make", "train"],
    }[command]
    root = with_venv(clone_project(project, tmp_path / "project"))
    start = time.perf_counter()
    result = run(argv, root, check=False, timeout=60, extra_env={"MLFLOW_TRACKING_URI": dead})
    assert time.perf_counter() - start < 30
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"the MLflow tracking server {dead} does not answer" in output
    assert "Traceback" not in output and not (tmp_path / "out.csv").exists()


def test_dvc_metrics_show_is_one_short_headline(project: Path):
    """The DVC metric is the headline (reports/summary.json); the rest is not a metric."""
    shown = run(["dvc", "metrics", "show"], project).stdout
    assert "reports/summary.json" in shown and "reports/metrics.json" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 200, shown
    summary = json.loads((project / "reports/summary.json").read_text())
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert summary["chosen"] == metrics["family"]
    assert summary["val"] == round(metrics[metrics["selected_by"]], 4)
    assert summary["test_auroc"] == round(metrics["test_auroc"], 4)
    assert set(summary["auroc"]) == set(metrics["models"])


def test_dvc_plots_show_one_roc_overlay_naming_every_model(project: Path, tmp_path: Path):
    """`dvc plots show`: ROC and PR are one chart each, a line per model in the legend, and
    the page DVC writes is what `aeops plots` makes readable offline."""
    shown = json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)
    assert "errors" not in shown, shown.get("errors")  # no marker file taken for a plot
    shown = shown["data"]
    metrics = json.loads((project / "reports/metrics.json").read_text())
    expected = set(metrics["models"]) | {f"{b} (baseline)" for b in metrics["baselines"]}
    for curve, title in (("roc", "ROC on test"), ("pr", "Precision-recall on test")):
        (plot,) = shown[f"reports/curves/{curve}.json"]
        spec = plot["content"]
        assert spec["title"]["text"].startswith(title)
        assert spec["encoding"]["color"]["field"] == "model"
        assert {row["model"] for row in spec["data"]["values"]} == expected
    run(["aeops", "plots"], project)
    page = (project / "dvc_plots" / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "window.vegaEmbed" in page  # Vega inline
    assert page.count("vegaEmbed('#") >= 2  # the two overlays


def test_the_run_report_says_who_won_why_and_travels_with_the_chosen_run(project: Path):
    metrics = json.loads((project / "reports/metrics.json").read_text())
    page = (project / "reports/report.html").read_text()
    chosen = metrics["family"]
    assert f"Winner: {chosen} ({metrics['kind']})." in page
    assert metrics["selection"]["reason"].split(":")[0] in page
    # self-contained: the figures inline, nothing fetched
    assert 'src="data:image/png;base64,' in page and not re.search(r'src="https?:', page)
    for name in [*metrics["models"], *metrics["baselines"]]:
        assert f"<td>{name}</td>" in page  # every model on the leaderboard
    markdown = (project / "reports/report.md").read_text()
    assert markdown.startswith(f"# aeops run: {chosen}") and "## Lineage" in markdown
    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    version = client.get_model_version_by_alias(model_name(project), "champion")
    assert version.tags["report"] == f"runs:/{version.run_id}/report/report.html"
    logged = {a.path for a in client.list_artifacts(version.run_id, "report")}
    assert logged == {"report/report.html", "report/report.md"}
    # rebuilt from the files alone
    (project / "reports/report.html").unlink()
    run(["aeops", "report"], project)
    rebuilt = (project / "reports/report.html").read_text()
    assert rebuilt.split("<h2>Lineage")[0] == page.split("<h2>Lineage")[0]


NOT_FROM_A_RUN = {
    "data/raw": "where a user puts their own files",
    "data/*": "a pattern in prose",
    "reports/bench.json": "written by make bench",
    "reports/monitor/monitor.html": "written by aeops monitor, after a run",
    "checkpoints/dense/last.ckpt": "removed once a family finishes training",
    "reports/plots/denoising.png": "a task: denoise run's (test_denoise_pipeline checks it)",
    "reports/plots/series_<name>.png": "a task: faults run's (test_streams_pipeline checks it)",
}


def test_every_output_path_the_readme_states_is_what_a_run_writes(project: Path):
    """The README and the documentation pages (docs/*.md) name output paths; after a run each
    one is there (no drift such as Data Docs said to be under reports/validation/ while they are
    in reports/data_docs/)."""
    pages = [project / "README.md", *sorted((project / "docs").glob("*.md"))]
    readme = "\n".join(page.read_text() for page in pages)
    stated = set(re.findall(r"`((?:reports|data|models|checkpoints)/[^` ]*)`", readme))
    metrics = json.loads((project / "reports/metrics.json").read_text())
    family, baseline = sorted(metrics["models"])[0], sorted(metrics["baselines"])[0]
    missing = []
    for path in sorted(stated):
        concrete = path.replace("<family>", family).replace("<name>", baseline).rstrip("/")
        known = path in NOT_FROM_A_RUN or concrete in NOT_FROM_A_RUN
        if not known and not (project / concrete).exists():
            missing.append(path)
    assert not missing, f"the README or docs/ state paths a run does not write: {missing}"
    assert len(stated) > 15  # the check reads the pages' paths, not nothing
