"""A sensor stream through the pipeline (stages in-process; real GX, Lightning, MLflow): the
split is in time per series, a stream that breaks validation leaves nothing behind, and the
model trained on a stream's first rows is registered like any other."""

from __future__ import annotations

import json
from pathlib import Path

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
