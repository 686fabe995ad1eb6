"""The Detector and the `aeops score` CLI on a tiny real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.preprocessing import MinMaxScaler

from aeops.cli import score_file
from aeops.models.families import DenseAE
from aeops.scoring import Detector, DetectorInfo, ScoringInputError

FEATURES = [f"f{i}" for i in range(6)]


@pytest.fixture
def detector() -> Detector:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    scaler = MinMaxScaler().fit(rng.random((50, 6)))
    info = DetectorInfo("dense", FEATURES, threshold=0.05, threshold_method="fixed",
                        threshold_detail="test")
    return Detector(DenseAE(6, [8], 2, "sigmoid"), scaler, info, batch_size=7)


@pytest.fixture
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.random((30, 6)), columns=FEATURES)
    frame.insert(0, "id", np.arange(30))
    return frame


def test_predict_scores_flags_and_batches_consistently(detector, rows):
    out = detector.predict(rows)
    assert list(out.columns) == ["anomaly_score", "is_anomaly"]
    assert (out["is_anomaly"] == (out["anomaly_score"] > 0.05)).all()
    # batching (7 rows) gives the same scores as one pass
    single = Detector(detector.net, detector.preprocessor, detector.info, batch_size=1000)
    np.testing.assert_allclose(single.predict(rows)["anomaly_score"], out["anomaly_score"],
                               rtol=1e-6)


def test_threshold_override_and_explanation(detector, rows):
    flagged = detector.predict(rows, threshold=-1.0)
    assert flagged["is_anomaly"].all()
    explained = detector.predict(rows, explain=True)
    errors = explained[[f"error_{c}" for c in FEATURES]].to_numpy()
    np.testing.assert_allclose(errors.mean(axis=1), explained["anomaly_score"], rtol=1e-5)


def test_tiny_perturbation_barely_moves_a_score(detector, rows):
    base = detector.predict(rows)["anomaly_score"].to_numpy()
    nudged = rows.copy()
    nudged[FEATURES] += 1e-6
    moved = detector.predict(nudged)["anomaly_score"].to_numpy()
    assert np.abs(moved - base).max() < 1e-4


def test_missing_column_and_bad_values_are_named(detector, rows):
    with pytest.raises(ScoringInputError, match=r"missing \['f3'\]"):
        detector.predict(rows.drop(columns=["f3"]))
    bad = rows.copy()
    bad.loc[4, "f2"] = np.nan
    with pytest.raises(ScoringInputError, match="row 4, column 'f2'"):
        detector.predict(bad)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_file_in_chunks_keeps_other_columns(detector, rows, tmp_path: Path, suffix):
    src = tmp_path / f"in{suffix}"
    rows.to_csv(src, index=False) if suffix == ".csv" else rows.to_parquet(src)
    out = tmp_path / f"out{suffix}"
    assert score_file(detector, src, out, chunk_rows=8, progress=False) == 30
    scored = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(scored.columns) == ["id", "anomaly_score", "is_anomaly"]
    assert scored["id"].tolist() == list(range(30))
    np.testing.assert_allclose(scored["anomaly_score"], detector.predict(rows)["anomaly_score"],
                               rtol=1e-6)


def test_bad_file_leaves_no_partial_output(detector, rows, tmp_path: Path):
    bad = rows.copy()
    bad.loc[25, "f1"] = np.inf
    src = tmp_path / "in.csv"
    bad.to_csv(src, index=False)
    out = tmp_path / "out.csv"
    with pytest.raises(ScoringInputError, match="row 25"):
        score_file(detector, src, out, chunk_rows=10, progress=False)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_parquet_errors_name_the_file_column_and_row(detector, rows, tmp_path: Path):
    src = tmp_path / "in.parquet"
    rows.drop(columns=["f4"]).to_parquet(src)
    with pytest.raises(ScoringInputError, match=r"in.parquet: missing feature column.*'f4'"):
        score_file(detector, src, tmp_path / "out.parquet", chunk_rows=8, progress=False)
    bad = rows.copy()
    bad.loc[21, "f0"] = np.nan
    bad.to_parquet(src, row_group_size=10)
    with pytest.raises(ScoringInputError, match="row 21, column 'f0'"):
        score_file(detector, src, tmp_path / "out.parquet", chunk_rows=8, progress=False)
    assert not (tmp_path / "out.parquet").exists()


def test_row_groups_larger_and_smaller_than_chunks_give_the_same_scores(detector, rows,
                                                                       tmp_path: Path):
    expected = detector.predict(rows)["anomaly_score"].to_numpy()
    for group, chunk in ((7, 10), (30, 4), (4, 30)):
        src = tmp_path / f"in_{group}.parquet"
        rows.to_parquet(src, row_group_size=group)
        out = tmp_path / f"out_{group}.parquet"
        score_file(detector, src, out, chunk_rows=chunk, progress=False)
        scored = pd.read_parquet(out)
        assert scored["id"].tolist() == list(range(30))
        np.testing.assert_allclose(scored["anomaly_score"], expected, rtol=1e-6)
