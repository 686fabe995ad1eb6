"""The k-NN and ECOD baselines are deployable detectors: registered, then scored by `aeops
score` from the registry exactly as they score in process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.core.io import write_json
from aeops.serving.pipeline import DetectorPipeline
from aeops.stages.register import model_files, register
from tests.factories import sensor_table
from tests.helpers import file_job_exit, sensor_config
from tests.integration.inproc import run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a whole pipeline run: ~25 s


def test_each_new_baseline_round_trips_through_the_registry_and_aeops_score(
    tmp_path: Path, mlflow_uri: str
):
    cfg = sensor_config(tmp_path, ["dense"])
    run_pipeline(cfg)
    metrics = json.loads(Path(cfg.paths.metrics).read_text())
    rows = sensor_table(n=30, seed=9)
    rows.to_parquet(tmp_path / "new.parquet")
    for name in ("knn", "ecod"):
        chosen = metrics["baselines"][name]
        # as if the evaluate stage had chosen this baseline
        write_json(
            cfg.paths.metrics,
            {
                **metrics,
                "family": name,
                "kind": "baseline",
                metrics["selected_by"]: chosen[metrics["selected_by"]],
            },
        )
        decision = register(cfg)
        assert decision["family"] == name and decision["kind"] == "baseline"
        out = tmp_path / f"{name}.parquet"
        uri = f"models:/{decision['model_name']}/{decision['version']}"
        assert file_job_exit(uri, tmp_path / "new.parquet", out, explain=True) == 0
        scored = pd.read_parquet(out)
        local = DetectorPipeline.from_files(*model_files(cfg, name, "baseline")).predict(
            rows, explain=True
        )
        np.testing.assert_allclose(scored["anomaly_score"], local["anomaly_score"], rtol=1e-6)
        assert (scored["is_anomaly"] == (local["anomaly_score"] > chosen["threshold"])).all()
        assert {"error_sensor_0", "error_line"} <= set(scored.columns)
        assert scored["status"].tolist() == rows["status"].tolist()


def test_the_ensemble_round_trips_through_the_registry_score_and_encode(
    tmp_path: Path, mlflow_uri: str
):
    cfg = sensor_config(
        tmp_path,
        ["dense", "sparse"],
        models={"ensemble": True},
        # no fold large enough to show a family reliably worse: the ensemble keeps both
        register={"candidates": "autoencoders", "switch_min_anomalies": 1_000_000},
    )
    run_pipeline(cfg)
    metrics = json.loads(Path(cfg.paths.metrics).read_text())
    assert metrics["models"]["ensemble"]["kind"] == "ensemble"
    chosen = metrics["models"]["ensemble"]
    write_json(  # as if the evaluate stage had chosen the ensemble
        cfg.paths.metrics,
        {
            **metrics,
            "family": "ensemble",
            "kind": "ensemble",
            metrics["selected_by"]: chosen[metrics["selected_by"]],
        },
    )
    decision = register(cfg)
    assert decision["family"] == "ensemble" and decision["kind"] == "ensemble"
    rows = sensor_table(n=30, seed=9)
    rows.to_parquet(tmp_path / "new.parquet")
    uri = f"models:/{decision['model_name']}/{decision['version']}"
    for command in ("score", "encode"):
        out = tmp_path / f"{command}.parquet"
        assert file_job_exit(uri, tmp_path / "new.parquet", out, command) == 0
    local = DetectorPipeline.from_files(*model_files(cfg, "ensemble", "ensemble"))
    scored = pd.read_parquet(tmp_path / "score.parquet")
    np.testing.assert_allclose(
        scored["anomaly_score"], local.predict(rows)["anomaly_score"], rtol=1e-5
    )
    assert (scored["is_anomaly"] == (scored["anomaly_score"] > chosen["threshold"])).all()
    codes = pd.read_parquet(tmp_path / "encode.parquet")
    lead_codes = local.encode(rows)  # the lead member's code: encode works on an ensemble
    z = [c for c in codes.columns if c.startswith("z_")]
    assert z and z == [c for c in lead_codes.columns if c.startswith("z_")]
    np.testing.assert_allclose(codes[z], lead_codes[z], rtol=1e-5, atol=1e-6)
