"""A registered champion scored on Spark (local mode) through mlflow.pyfunc.spark_udf gives
the scores, flags, explanations and codes that `aeops score` / `aeops encode` give."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.core.errors import ScoringInputError
from tests.factories import sensor_table
from tests.helpers import file_job, sensor_config
from tests.integration.inproc import run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a pipeline run and a JVM: ~40 s


@pytest.fixture(scope="module")
def spark():
    from aeops.serving.spark import local_session

    session = local_session("local[2]")
    yield session
    session.stop()


def registered_champion(tmp_path: Path) -> str:
    cfg = sensor_config(tmp_path, ["dense"], epochs=2, register={"candidates": "autoencoders"})
    run_pipeline(cfg)
    # models.seeds auto on a small table: dense trains three networks that score together
    record = json.loads((cfg.paths.model_dir("dense") / "run.json").read_text())
    assert record["architecture"]["seeds"] == 3
    decision = json.loads(Path(cfg.paths.registry_report).read_text())
    assert decision["family"] == "dense"
    return f"models:/{decision['model_name']}@champion"


def test_spark_udf_scores_a_registered_champion_as_aeops_score_does(
    tmp_path: Path, mlflow_uri: str, spark
):
    from aeops.serving.spark import score_dataframe

    uri = registered_champion(tmp_path)
    rows = sensor_table(n=60, seed=9)
    rows.loc[3, "line"] = "Z"  # a category never seen in training
    rows.to_parquet(tmp_path / "new.parquet")
    new = tmp_path / "new.parquet"
    file_job(uri, new, tmp_path / "scored.parquet", explain=True)
    file_job(uri, new, tmp_path / "codes.parquet", "encode")
    local = pd.read_parquet(tmp_path / "scored.parquet")
    codes = pd.read_parquet(tmp_path / "codes.parquet")

    frame = spark.createDataFrame(rows.drop(columns=["timestamp"])).repartition(3)
    on_spark = score_dataframe(frame, uri, explain=True).toPandas()
    on_spark = on_spark.set_index("unit_id").loc[rows["unit_id"]].reset_index()
    np.testing.assert_allclose(on_spark["anomaly_score"], local["anomaly_score"], rtol=1e-6)
    assert on_spark["is_anomaly"].tolist() == local["is_anomaly"].tolist()
    errors = [c for c in local.columns if c.startswith("error_")]
    assert errors and np.allclose(on_spark[errors], local[errors], rtol=1e-5)
    assert on_spark["unknown_categories"].tolist() == local["unknown_categories"].tolist()
    assert on_spark.loc[3, "unknown_categories"] == 1
    assert on_spark["status"].tolist() == rows["status"].tolist()  # carried, not a feature

    latent = score_dataframe(frame, uri, output="latent").toPandas()
    latent = latent.set_index("unit_id").loc[rows["unit_id"]].reset_index()
    z = [c for c in codes.columns if c.startswith("z_")]
    assert z == [c for c in latent.columns if c.startswith("z_")]
    np.testing.assert_allclose(latent[z], codes[z], rtol=1e-5, atol=1e-6)

    with pytest.raises(ScoringInputError, match="sensor_0"):  # refused on the driver
        score_dataframe(frame.drop("sensor_0"), uri)

    out = tmp_path / "spark_scored"  # the CLI route: a Parquet folder in Spark's layout
    file_job(uri, new, out, engine="spark", spark_master="local[2]")
    from_cli = pd.read_parquet(out).set_index("unit_id").loc[rows["unit_id"]]
    np.testing.assert_allclose(from_cli["anomaly_score"], local["anomaly_score"], rtol=1e-6)
    with pytest.raises(ScoringInputError, match="already exists"):
        file_job(uri, new, out, engine="spark")
