"""A sensor stream through the pipeline (stages in-process; real GX, Lightning, MLflow): the
split is in time per series, a stream that breaks validation leaves nothing behind, and the
model trained on a stream's first rows is registered like any other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.core.errors import NotValidatedError
from aeops.data.expectations import DataValidationError
from aeops.stages.ingest import ingest
from aeops.stages.prepare import prepare
from aeops.stages.validate import validate
from tests.factories import write_streams
from tests.helpers import make_config
from tests.integration.inproc import run_pipeline

pytestmark = pytest.mark.integration
WARMUP = 100  # the faults test's data.warmup_rows


def stream_project(root: Path, **data):
    write_streams(root / "runs", n=3, rows=240)
    return make_config(
        root,
        data={
            "source": "timeseries",
            "path": str(root / "runs"),
            "time_column": "datetime",
            "label_column": "anomaly",
            "normal_labels": [0],
            "exclude": ["changepoint"],
            "min_rows": 20,
            "max_gap": 5.0,
            "split": {"train_rows": 120, "val_fraction": 0.2, "test_fraction": 0.2},
            **data,
        },
        models={"families": ["dense"]},
        train={"max_epochs": 2, "patience": 2, "progress_bar": False, "batch_size": 32},
        evaluate={"bootstrap": 0, "plots": False},
        baselines={"iforest_estimators": 20},
    )


@pytest.mark.slow  # three stages in process: ~2 s; the split itself: tests/unit/test_streams.py
def test_a_stream_is_split_in_time_and_scaled_on_its_training_rows(tmp_path: Path) -> None:
    cfg = stream_project(tmp_path)
    ingest(cfg)
    validate(cfg)
    frame = prepare(cfg)
    splits = pd.read_parquet(cfg.paths.splits)
    assert splits["synthetic"].eq("").all()  # labelled faults in validation: nothing made up
    for _, rows in splits.groupby("series", sort=False):
        assert rows["split"].tolist() == ["train"] * 120 + ["val"] * 60 + ["test"] * 60
        assert rows["datetime"].is_monotonic_increasing
        assert (
            rows["is_anomaly"].sum() == 40 and not rows[rows["split"] == "train"].is_anomaly.any()
        )
    assert frame.columns.tolist()[:2] == ["series", "datetime"]
    summary = json.loads((Path(cfg.paths.validation_dir) / "summary.json").read_text())
    assert summary["success"] and summary["evaluated_expectations"] > 3


@pytest.mark.slow  # the refusal's sentences: tests/unit/test_streams.py (fast)
def test_a_stream_with_a_long_gap_is_refused_and_prepare_will_not_run(tmp_path: Path) -> None:
    cfg = stream_project(tmp_path, max_gap=0.5)
    ingest(cfg)
    with pytest.raises(DataValidationError, match=r"series '0': 'datetime' leaves a gap at row"):
        validate(cfg)
    summary = json.loads((Path(cfg.paths.validation_dir) / "summary.json").read_text())
    assert not summary["success"] and "leaves a gap" in json.dumps(summary["failures"])
    with pytest.raises(NotValidatedError):
        prepare(cfg)
    assert not Path(cfg.paths.splits).exists()


@pytest.mark.slow
def test_a_stream_trains_and_registers_a_champion(tmp_path: Path, mlflow_uri: str) -> None:
    cfg = stream_project(tmp_path)
    decision = run_pipeline(cfg)
    assert decision["model_name"] == "aeops-runs" and decision["promoted"]
    metrics = json.loads(Path(cfg.paths.metrics).read_text())
    assert "labelled validation anomalies" in metrics["selection_basis"]
    assert 0.5 < metrics["test_auroc"] <= 1.0


@pytest.mark.slow
def test_faults_in_windows_register_a_champion_that_scores_a_series_file_the_same(
    tmp_path: Path, mlflow_uri: str
) -> None:
    """task: faults with windows and each series' own scale: every model is measured as a
    stream is judged, the report draws each series, and the registered champion scores a
    series file row for row as evaluate scored those rows, the time column carried."""
    from aeops.serving.batch import FileJob, score_file
    from aeops.serving.loading import load_scorer

    cfg = stream_project(
        tmp_path,
        scaler="series",
        warmup_rows=WARMUP,
        window={"size": 8, "stride": 2},
    )
    cfg = cfg.model_copy(
        update={
            "task": "faults",
            "models": cfg.models.model_copy(update={"families": ["dense", "tcn"]}),
            "evaluate": cfg.evaluate.model_copy(
                update={
                    "plots": True,
                    "threshold": cfg.evaluate.threshold.model_copy(
                        update={"method": "train", "percentile": 99.9, "margin": 1.3333}
                    ),
                }
            ),
            "register": cfg.register.model_copy(update={"metric": "val_vus_pr"}),
        }
    )
    decision = run_pipeline(cfg)
    assert decision["model_name"] == "aeops-runs-faults" and decision["promoted"]
    metrics = json.loads(Path(cfg.paths.metrics).read_text())
    everyone = {**metrics["models"], **metrics["baselines"]}
    assert {"dense", "tcn", "hotelling", "pca", "iforest", "knn"} <= set(everyone)
    for record in everyone.values():
        for key in ("test_f1", "test_far", "test_mar", "test_event_recall", "test_vus_pr"):
            assert 0.0 <= record[key] <= 1.0, (key, record[key])
        assert record["threshold_method"] == "train"
    summary = json.loads(Path(cfg.paths.summary).read_text())
    assert {"f1", "far", "mar", "events_caught", "delay_s", "vus_pr", "pa_f1_inflated"} <= set(
        summary
    )
    assert sorted(p.name for p in Path(cfg.paths.plots_dir).glob("series_*.png")) == [
        "series_0.png",
        "series_1.png",
        "series_2.png",
    ]
    report = Path(cfg.paths.report).with_suffix(".md").read_text()
    assert "Point-adjusted F1" in report and "false-alarm rate" in report
    # the champion scores one experiment's file as evaluate scored its rows
    source = tmp_path / "runs" / "1.csv"
    out = tmp_path / "scored.csv"
    score_file(
        load_scorer(f"models:/{decision['model_name']}@champion"),
        FileJob(None, source, out, progress=False),
    )
    scored, given = pd.read_csv(out), pd.read_csv(source, sep=";")
    assert len(scored) == len(given) and scored["datetime"].tolist() == given["datetime"].tolist()
    chosen = metrics["family"]
    kind = everyone[chosen]["kind"]
    folder = Path(cfg.paths.baselines_dir if kind == "baseline" else cfg.paths.eval_dir) / chosen
    evaluated = pd.read_parquet(folder / "scores.parquet")
    splits = pd.read_parquet(cfg.paths.splits)
    test = splits[splits["split"] == "test"]
    mine = (test["series"] == "1").to_numpy()
    want = evaluated[evaluated["split"] == "test"]["score"].to_numpy()[mine]
    got = scored["anomaly_score"].to_numpy()[-len(want) :]
    assert abs(got - want).max() <= 1e-5 * max(1.0, abs(want).max())
    # Spark would cut a stream's windows at its partitions: refused before it starts
    from aeops.core.errors import ScoringInputError
    from aeops.serving.commands import run_file_job

    spark = FileJob(
        f"models:/{decision['model_name']}@champion", source, tmp_path / "s", engine="spark"
    )
    with pytest.raises(ScoringInputError, match="Spark scores rows in partitions"):
        run_file_job(spark)
    # the champion's ONNX export scores the series as the pipeline did; monitor says it
    # cannot judge a stream yet, rather than compare windows across series as table rows
    from aeops.serving.monitor import MonitorJob, monitor
    from aeops.serving.onnx_scoring import OnnxPipeline

    onnx = OnnxPipeline.from_folder(Path(cfg.paths.onnx)).predict(pd.read_csv(source, sep=";"))
    np.testing.assert_allclose(onnx["anomaly_score"], scored["anomaly_score"], rtol=1e-5)
    with pytest.raises(ScoringInputError, match="does not judge a stream's drift yet"):
        monitor(MonitorJob(source, Path(cfg.paths.onnx)))
    # aeops watch on a pipe: each row after the warm-up answered before the next is written
    watched = watch_rows(decision["model_name"], source, mlflow_uri, tmp_path)
    np.testing.assert_allclose(
        watched, scored["anomaly_score"].to_numpy()[: len(watched)], rtol=1e-5
    )


def watch_rows(name: str, source: Path, uri: str, cwd: Path, extra: int = 10) -> np.ndarray:
    """Scores ``aeops watch`` answers for the warm-up and ``extra`` rows of ``source``, each
    later row written only after the one before it was answered."""
    import os
    import subprocess
    import sys

    text = source.read_text().splitlines()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    command = [sys.executable, "-m", "aeops.cli", "watch", "--model", f"models:/{name}@champion"]
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd, env=env
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().startswith("datetime,anomaly_score,is_anomaly,alarm")
        proc.stdin.write("\n".join(text[: WARMUP + 1]) + "\n")  # the header and the warm-up
        proc.stdin.flush()
        lines = [proc.stdout.readline() for _ in range(WARMUP)]
        for line in text[WARMUP + 1 : WARMUP + 1 + extra]:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            answer = proc.stdout.readline()  # waits for this row's line: no row read ahead
            assert answer.split(",")[0] == line.split(";")[0], (answer, line)
            lines.append(answer)
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    return np.array([float(line.split(",")[1]) for line in lines])
