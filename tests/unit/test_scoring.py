"""The Detector and the `aeops score|encode|reconstruct` file commands on tiny real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aeops.core.sections import BaselinesConfig
from aeops.data.preprocess import Preprocessor
from aeops.data.schema import DatasetMeta
from aeops.models.autoencoders.dense import DenseNetwork
from aeops.serving.batch import FileJob, score_file
from aeops.serving.pipeline import DetectorInfo, DetectorPipeline, ScoringInputError
from tests.helpers import autoencoder_of, baseline_of

FEATURES = [f"f{i}" for i in range(6)]
META = DatasetMeta("table", "t.csv", FEATURES, "label", ["0"], 50)


def make_detector(
    meta: DatasetMeta,
    train: pd.DataFrame,
    scaler="minmax",
    impute=False,
    kind="autoencoder",
    family="dense",
) -> DetectorPipeline:
    torch.manual_seed(0)
    pre = Preprocessor.fit(train, meta, scaler, impute, 20)
    x = pre.transform(train)
    if kind == "baseline":
        cfg = BaselinesConfig(
            pca_components=0.9, iforest_estimators=20, knn_neighbors=5, reference_rows=20_000
        )
        scorer = baseline_of(family, x, cfg, 0)
    else:
        scorer = autoencoder_of(DenseNetwork(x.shape[1], [8], 2, "sigmoid", 0.0), batch_rows=7)
    info = DetectorInfo(kind, family, meta.schema(), 0.05, "fixed", "test", {})
    return DetectorPipeline(scorer, pre, info)


@pytest.fixture
def detector() -> DetectorPipeline:
    rng = np.random.default_rng(0)
    return make_detector(META, pd.DataFrame(rng.random((50, 6)), columns=FEATURES))


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
    single = DetectorPipeline(
        autoencoder_of(detector.detector.net_, batch_rows=1000),
        detector.preprocessor,
        detector.info,
    )
    np.testing.assert_allclose(
        single.predict(rows)["anomaly_score"], out["anomaly_score"], rtol=1e-6
    )


def test_threshold_override_and_explanation(detector, rows):
    assert detector.predict(rows, threshold=-1.0)["is_anomaly"].all()
    explained = detector.predict(rows, explain=True)
    errors = explained[[f"error_{c}" for c in FEATURES]].to_numpy()
    np.testing.assert_allclose(errors.mean(axis=1), explained["anomaly_score"], rtol=1e-5)
    with pytest.raises(ScoringInputError, match="threshold nan is not a finite number"):
        detector.predict(rows, threshold=float("nan"))


def test_tiny_perturbation_barely_moves_a_score(detector, rows):
    base = detector.predict(rows)["anomaly_score"].to_numpy()
    nudged = rows.copy()
    nudged[FEATURES] += 1e-6
    moved = detector.predict(nudged)["anomaly_score"].to_numpy()
    assert np.abs(moved - base).max() < 1e-4


def test_missing_column_and_bad_values_are_named(detector, rows):
    with pytest.raises(ScoringInputError, match=r"missing feature column\(s\) \['f3'\]"):
        detector.predict(rows.drop(columns=["f3"]))
    bad = rows.copy()
    bad.loc[4, "f2"] = np.nan
    with pytest.raises(ScoringInputError, match="row 4, column 'f2'.*data.missing: fail"):
        detector.predict(bad)
    text = rows.astype({"f1": object})
    text.loc[7, "f1"] = "n/a"
    with pytest.raises(ScoringInputError, match="row 7, column 'f1': 'n/a' is not a number"):
        detector.predict(text)


def test_columns_of_another_schema_are_refused_by_name():
    pixels = [f"pixel_{i}" for i in range(4)]
    meta = DatasetMeta("digits", "d", pixels, "label", ["0"], 10, image_shape=[1, 2, 2])
    rng = np.random.default_rng(0)
    det = make_detector(meta, pd.DataFrame(rng.random((10, 4)), columns=pixels))
    wider = pd.DataFrame(rng.random((3, 9)), columns=[f"pixel_{i}" for i in range(9)])
    with pytest.raises(
        ScoringInputError,
        match=r"extra column\(s\) \['pixel_4', 'pixel_5'.*"
        r"another schema.*pixel_0, pixel_1, pixel_2",
    ):
        det.predict(wider)
    carried = wider.iloc[:, :4].assign(row_id=1, pixel_note="x")  # not of the pixel family
    assert len(det.predict(carried)) == 3


def test_encode_and_reconstruct(detector, rows):
    z = detector.encode(rows)
    assert list(z.columns) == ["z_0", "z_1"] and len(z) == 30
    recon = detector.reconstruct(rows)
    assert list(recon.columns) == FEATURES
    raw = detector.preprocessor.inverse_transform(detector.preprocessor.transform(rows))
    assert np.isfinite(recon.to_numpy(float)).all() and raw.shape == recon.shape


def test_categorical_model_counts_unknown_values_and_reconstructs_categories(tmp_path: Path):
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(size=40), "colour": rng.choice(["r", "g"], 40)})
    meta = DatasetMeta("table", "t", ["a", "colour"], None, [], 40, categorical=["colour"])
    det = make_detector(meta, train, scaler="standard")
    new = pd.DataFrame({"a": [0.0, 1.0], "colour": ["r", "purple"]})
    out = det.predict(new, explain=True)
    assert out["unknown_categories"].tolist() == [0, 1]
    assert list(out.columns[2:4]) == ["error_a", "error_colour"]
    assert set(det.reconstruct(new)["colour"]) <= {"r", "g"}
    with pytest.raises(ScoringInputError, match="row 0, column 'colour': missing value"):
        det.predict(new.assign(colour=[None, "r"]))


@pytest.mark.parametrize("family", ["pca", "iforest", "knn", "ecod"])
def test_baselines_score_and_explain_like_autoencoders(family, rows):
    rng = np.random.default_rng(0)
    det = make_detector(
        META, pd.DataFrame(rng.random((50, 6)), columns=FEATURES), kind="baseline", family=family
    )
    out = det.predict(rows, explain=True)
    assert out.shape == (30, 2 + 6) and np.isfinite(out["anomaly_score"]).all()
    if family == "pca":
        assert det.encode(rows).shape[0] == 30
    else:
        with pytest.raises(ScoringInputError, match="no latent code"):
            det.encode(rows)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_file_in_chunks_keeps_other_columns(detector, rows, tmp_path: Path, suffix):
    src = tmp_path / f"in{suffix}"
    rows.to_csv(src, index=False) if suffix == ".csv" else rows.to_parquet(src)
    out = tmp_path / f"out{suffix}"
    assert score_file(detector, FileJob(None, src, out, chunk_rows=8, progress=False)) == 30
    scored = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(scored.columns) == ["id", "anomaly_score", "is_anomaly"]
    assert scored["id"].tolist() == list(range(30))
    np.testing.assert_allclose(
        scored["anomaly_score"], detector.predict(rows)["anomaly_score"], rtol=1e-6
    )


@pytest.mark.parametrize("output", ["latent", "reconstruction"])
def test_encode_and_reconstruct_files_in_chunks(detector, rows, tmp_path: Path, output):
    src = tmp_path / "in.parquet"
    rows.to_parquet(src)
    out = tmp_path / "out.csv"
    score_file(detector, FileJob(None, src, out, chunk_rows=7, progress=False, kind=output))
    written = pd.read_csv(out)
    expected = detector.predict(rows, output=output)
    assert written["id"].tolist() == list(range(30))
    np.testing.assert_allclose(
        written[expected.columns].to_numpy(float), expected.to_numpy(float), rtol=1e-5, atol=1e-6
    )


def test_bad_file_leaves_no_partial_output(detector, rows, tmp_path: Path):
    bad = rows.copy()
    bad.loc[25, "f1"] = np.inf
    src = tmp_path / "in.csv"
    bad.to_csv(src, index=False)
    out = tmp_path / "out.csv"
    with pytest.raises(ScoringInputError, match="row 25"):
        score_file(detector, FileJob(None, src, out, chunk_rows=10, progress=False))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_output_may_not_be_the_input_or_a_folder(detector, rows, tmp_path: Path):
    src = tmp_path / "in.csv"
    rows.to_csv(src, index=False)
    before = src.read_bytes()
    with pytest.raises(ScoringInputError, match="is the input file"):
        score_file(detector, FileJob(None, src, tmp_path / "." / "in.csv", progress=False))
    with pytest.raises(ScoringInputError, match="is a folder"):
        score_file(detector, FileJob(None, src, tmp_path, progress=False))
    assert src.read_bytes() == before


def test_parquet_errors_name_the_file_column_and_row(detector, rows, tmp_path: Path):
    src = tmp_path / "in.parquet"
    rows.drop(columns=["f4"]).to_parquet(src)
    with pytest.raises(ScoringInputError, match=r"in.parquet: missing feature column.*'f4'"):
        score_file(
            detector, FileJob(None, src, tmp_path / "out.parquet", chunk_rows=8, progress=False)
        )
    bad = rows.copy()
    bad.loc[21, "f0"] = np.nan
    bad.to_parquet(src, row_group_size=10)
    with pytest.raises(ScoringInputError, match="row 21, column 'f0'"):
        score_file(
            detector, FileJob(None, src, tmp_path / "out.parquet", chunk_rows=8, progress=False)
        )
    assert not (tmp_path / "out.parquet").exists()


def test_row_groups_larger_and_smaller_than_chunks_give_the_same_scores(
    detector, rows, tmp_path: Path
):
    expected = detector.predict(rows)["anomaly_score"].to_numpy()
    for group, chunk in ((7, 10), (30, 4), (4, 30)):
        src = tmp_path / f"in_{group}.parquet"
        rows.to_parquet(src, row_group_size=group)
        out = tmp_path / f"out_{group}.parquet"
        score_file(detector, FileJob(None, src, out, chunk_rows=chunk, progress=False))
        scored = pd.read_parquet(out)
        assert scored["id"].tolist() == list(range(30))
        np.testing.assert_allclose(scored["anomaly_score"], expected, rtol=1e-6)


def test_a_detector_file_of_another_aeops_version_is_refused_by_field(detector, tmp_path: Path):
    import json

    path = tmp_path / "detector.json"
    detector.info.save(path)
    assert DetectorInfo.load(path) == detector.info
    data = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in data.items() if k != "artifacts"}))
    with pytest.raises(ScoringInputError, match=r"older aeops \(no \['artifacts'\].*promote"):
        DetectorInfo.load(path)
    path.write_text(json.dumps({**data, "calibration": {}}))
    with pytest.raises(ScoringInputError, match=r"newer aeops \(fields \['calibration'\]"):
        DetectorInfo.load(path)
