"""Latent codes and the way back: code dtypes (aeops.data.codes), ``Detector.decode_codes`` and the
``aeops encode --dtype`` / ``aeops decode`` file commands on tiny real models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from aeops.cli import main
from aeops.data.codes import CODE_SCALE_KEY, bytes_per_row, dequantize, quantize
from aeops.data.preprocess import Preprocessor
from aeops.data.schema import DatasetMeta
from aeops.models.autoencoders.dense import DenseNetwork
from aeops.models.autoencoders.vae import VAENetwork
from aeops.serving.pipeline import DetectorInfo, DetectorPipeline, ScoringInputError
from tests.helpers import autoencoder_of, low_rank_data
from tests.unit.test_scoring import FEATURES, META, make_detector

# -- the code dtypes ----------------------------------------------------------------------


def test_int8_scale_is_max_abs_over_127_per_dimension_and_round_trips():
    z = np.array([[-1.0, 0.5], [1.0, -0.25]])
    codes, scale = quantize(z, "int8")
    assert codes.dtype == np.int8
    np.testing.assert_allclose(scale, [1 / 127, 0.5 / 127])
    np.testing.assert_array_equal(codes, [[-127, 127], [127, -64]])  # -63.5 rounds to even
    back = dequantize(codes, scale)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, [[-1.0, 0.5], [1.0, -64 * 0.5 / 127]], rtol=1e-6)


def test_an_all_zero_dimension_gets_scale_one_and_a_given_scale_clips():
    codes, scale = quantize(np.array([[0.0, 2.0], [0.0, -1.0]]), "int8")
    np.testing.assert_allclose(scale, [1.0, 2 / 127])
    np.testing.assert_array_equal(codes[:, 0], [0, 0])
    clipped, same = quantize(np.array([[5.0, -9.0]]), "int8", scale=np.array([0.01, 0.01]))
    np.testing.assert_array_equal(clipped, [[127, -127]])
    np.testing.assert_allclose(same, [0.01, 0.01])


def test_float_dtypes_cast_and_float16_refuses_values_beyond_its_range_by_dimension():
    z = np.array([[0.1, -3.0], [2.5, 1e-3]])
    for dtype in ("float32", "float16"):
        codes, scale = quantize(z, dtype)
        assert codes.dtype == np.dtype(dtype) and scale is None
        np.testing.assert_allclose(dequantize(codes, None), z, rtol=1e-3)
    with pytest.raises(ScoringInputError, match=r"code column 'z_1'.*beyond float16's range"):
        quantize(np.array([[0.0, 7e4]]), "float16")
    with pytest.raises(ScoringInputError, match=r"code column 'z_0'.*not a finite number"):
        quantize(np.array([[np.inf, 0.0]]), "float32")
    with pytest.raises(ScoringInputError, match=r"'int4' is not one of"):
        quantize(z, "int4")


def test_bytes_per_row_counts_the_code_values_only():
    assert [bytes_per_row(8, d) for d in ("float32", "float16", "int8")] == [32, 16, 8]


# -- decode_codes: the inverse of encode ---------------------------------------------------


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(0).random((50, 6)), columns=FEATURES)


@pytest.fixture
def rows() -> pd.DataFrame:
    frame = pd.DataFrame(np.random.default_rng(1).random((30, 6)), columns=FEATURES)
    frame.insert(0, "id", np.arange(30))
    return frame


def vae_detector(train: pd.DataFrame) -> DetectorPipeline:
    torch.manual_seed(0)
    pre = Preprocessor.fit(train, META, "minmax", False, 20)
    net = VAENetwork(len(FEATURES), [8], 2, "sigmoid", "recon", 1.0)
    info = DetectorInfo("autoencoder", "vae", META.schema(), 0.05, "fixed", "test", {})
    return DetectorPipeline(autoencoder_of(net, batch_rows=7), pre, info)


def detector_of(kind: str, train: pd.DataFrame) -> DetectorPipeline:
    if kind == "vae":
        return vae_detector(train)
    if kind == "pca":
        return make_detector(META, train, kind="baseline", family="pca")
    return make_detector(META, train)


@pytest.mark.parametrize("kind", ["dense", "vae", "pca"])
def test_decoding_the_codes_gives_the_reconstruction(kind, train, rows):
    det = detector_of(kind, train)
    codes = det.encode(rows)
    assert det.code_dims == codes.shape[1]
    decoded = det.decode_codes(codes.assign(id=rows["id"]))  # other columns are ignored
    assert list(decoded.columns) == FEATURES
    np.testing.assert_allclose(decoded, det.reconstruct(rows), rtol=1e-5, atol=1e-5)


def test_pca_decode_is_the_inverse_of_its_projection(train):
    baseline = make_detector(META, train, kind="baseline", family="pca").detector
    x = np.random.default_rng(2).random((9, 6))
    z = baseline.encode(x)
    np.testing.assert_array_equal(baseline.decode(z), baseline.reconstruct(x))
    assert baseline.decode(z[:0]).shape == (0, 6)


def test_codes_that_are_not_finite_or_not_numbers_are_refused_by_row_and_column(train, rows):
    det = make_detector(META, train)
    codes = det.encode(rows)
    for value, said in ((np.nan, "not a finite number"), (1e39, "out of range")):
        bad = codes.copy()
        bad["z_1"] = bad["z_1"].astype(np.float64)
        bad.loc[4, "z_1"] = value
        with pytest.raises(ScoringInputError, match=rf"row 4, column 'z_1'.*{said}"):
            det.decode_codes(bad)
    text = codes.astype({"z_0": object})
    text.loc[2, "z_0"] = "n/a"
    with pytest.raises(ScoringInputError, match=r"row 2, column 'z_0': 'n/a' is not a number"):
        det.decode_codes(text)


@pytest.mark.parametrize("family", ["iforest", "knn"])
def test_detectors_without_a_code_refuse_to_decode(family, train):
    det = make_detector(META, train, kind="baseline", family=family)
    with pytest.raises(ScoringInputError, match=rf"a {family} detector has no latent code"):
        det.decode_codes(pd.DataFrame({"z_0": [0.0], "z_1": [0.0]}))
    with pytest.raises(ScoringInputError, match="no latent code"):
        det.detector.decode(np.zeros((1, 2)))


# -- the file commands ------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch, tmp_path: Path):
    """``aeops`` run in ``tmp_path`` with ``--model test`` meaning the detector given."""

    def run(detector: DetectorPipeline, *argv: str) -> int:
        monkeypatch.setattr("aeops.serving.loading.load_scorer", lambda uri: detector)
        return main([*argv, "--model", "test", "--quiet"])

    monkeypatch.chdir(tmp_path)
    return run


def read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False) if path.suffix == ".parquet" else frame.to_csv(
        path, index=False
    )
    return path


@pytest.mark.parametrize("kind", ["dense", "pca"])
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_encode_then_decode_files_reproduces_reconstruct(cli, kind, suffix, train, rows, capsys):
    det = detector_of(kind, train)
    write(rows, Path(f"rows{suffix}"))
    assert cli(det, "encode", "--input", f"rows{suffix}", "--output", f"codes{suffix}") == 0
    assert cli(det, "decode", "--input", f"codes{suffix}", "--output", f"back{suffix}") == 0
    assert cli(det, "reconstruct", "--input", f"rows{suffix}", "--output", f"recon{suffix}") == 0
    back, recon = read(Path(f"back{suffix}")), read(Path(f"recon{suffix}"))
    assert list(back.columns) == ["id", *FEATURES] and back["id"].tolist() == list(range(30))
    np.testing.assert_allclose(back[FEATURES], recon[FEATURES], rtol=1e-5, atol=1e-5)
    err = capsys.readouterr().err
    assert f"decoded 30 rows from codes{suffix} -> back{suffix}" in err
    assert "as float32 codes" in err


def psnr(reference: np.ndarray, other: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of ``other`` against ``reference``; the peak is the
    reference's range."""
    peak = reference.max() - reference.min()
    return float(10 * np.log10(peak**2 / np.mean((reference - other) ** 2)))


@pytest.fixture(scope="module")
def trained() -> tuple[DetectorPipeline, pd.DataFrame]:
    """A dense autoencoder trained a little on rank-3 rows of 16 features (its own
    reconstruction PSNR on held-out rows is ~40 dB), and 200 held-out rows."""
    features = [f"f{i}" for i in range(16)]
    data = pd.DataFrame(low_rank_data(600, 16, 3), columns=features)
    meta = DatasetMeta("table", "t.csv", features, None, [], 400)
    pre = Preprocessor.fit(data.iloc[:400], meta, "minmax", False, 20)
    torch.manual_seed(0)
    net = DenseNetwork(16, [32], 3, "sigmoid", 0.0)
    x = torch.from_numpy(pre.transform(data.iloc[:400]))
    optimiser = torch.optim.Adam(net.parameters(), 1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a net this small trains ~50x faster without thread hand-offs
    try:
        for _ in range(300):
            loss = ((net(x)["recon"] - x) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    info = DetectorInfo("autoencoder", "dense", meta.schema(), 0.05, "fixed", "test", {})
    return DetectorPipeline(autoencoder_of(net, batch_rows=64), pre, info), data.iloc[400:]


# Measured on these 200 held-out rows (int8 to Parquet, chunks of 64 rows, one scale for the
# file): int8 58.2 dB, float16 86.6 dB against the float32 decode; the model's own
# reconstruction is ~40 dB against the input, so int8 adds a loss far below its own error.
@pytest.mark.parametrize(("dtype", "at_least"), [("int8", 50.0), ("float16", 80.0)])
def test_smaller_codes_decode_close_to_the_float32_decode(cli, trained, dtype, at_least):
    det, held_out = trained
    write(held_out.reset_index(drop=True), Path("rows.parquet"))
    for name, kind in (("f32", "float32"), ("small", dtype)):
        common = ("--output", f"codes_{name}.parquet", "--chunk-rows", "64", "--dtype", kind)
        assert cli(det, "encode", "--input", "rows.parquet", *common) == 0
        assert cli(det, "decode", "--input", f"codes_{name}.parquet", "--output", f"{name}.pq") == 0
    stored = pq.ParquetFile("codes_small.parquet")
    assert [str(f.type) for f in stored.schema_arrow] == [
        {"int8": "int8", "float16": "halffloat"}[dtype]
    ] * 3
    scale = (stored.schema_arrow.metadata or {}).get(CODE_SCALE_KEY.encode())
    if dtype == "int8":
        z = pd.read_parquet("codes_f32.parquet").to_numpy()
        np.testing.assert_allclose(json.loads(scale), np.abs(z).max(axis=0) / 127, rtol=1e-6)
    else:
        assert scale is None
    reference = pd.read_parquet("f32.pq").to_numpy()
    assert psnr(reference, pd.read_parquet("small.pq").to_numpy()) >= at_least


def test_wrong_code_columns_are_refused_by_name_and_nothing_is_written(cli, train, rows, capsys):
    det = make_detector(META, train)
    codes = det.encode(rows).drop(columns=["z_1"]).assign(z_5=0.0, id=rows["id"])
    write(codes, Path("codes.parquet"))
    assert cli(det, "decode", "--input", "codes.parquet", "--output", "back.parquet") == 1
    err = capsys.readouterr().err
    assert "missing code column(s) ['z_1'] and extra code column(s) ['z_5']" in err
    assert "this model's code has 2 dimension(s), columns z_0 .. z_1" in err
    Path("twice.csv").write_text("z_0,z_1,z_1\n0.1,0.2,0.3\n")
    assert cli(det, "decode", "--input", "twice.csv", "--output", "back.csv") == 1
    assert "column(s) ['z_1'] appear more than once" in capsys.readouterr().err
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["codes.parquet", "twice.csv"]


def test_int8_codes_need_parquet_and_their_scale(cli, train, rows, capsys):
    det = make_detector(META, train)
    write(rows, Path("rows.parquet"))
    assert (
        cli(det, "encode", "--input", "rows.parquet", "--output", "c.csv", "--dtype", "int8") == 1
    )
    assert "int8 codes need their per-dimension scale" in capsys.readouterr().err
    assert not Path("c.csv").exists()
    write(pd.DataFrame({"z_0": np.int8([3, -4]), "z_1": np.int8([0, 127])}), Path("c.parquet"))
    assert cli(det, "decode", "--input", "c.parquet", "--output", "back.parquet") == 1
    err = capsys.readouterr().err
    assert "code column(s) ['z_0', 'z_1'] are int8 codes" in err and CODE_SCALE_KEY in err
    table = pq.read_table("c.parquet")
    pq.write_table(table.replace_schema_metadata({CODE_SCALE_KEY: "[0.1]"}), "short.parquet")
    assert cli(det, "decode", "--input", "short.parquet", "--output", "back.parquet") == 1
    assert f"'{CODE_SCALE_KEY}' metadata is damaged or does not fit" in capsys.readouterr().err
    assert not Path("back.parquet").exists()


def test_an_iforest_detector_refuses_decode_from_the_command_line(cli, train, capsys):
    det = make_detector(META, train, kind="baseline", family="iforest")
    write(pd.DataFrame({"z_0": [0.1], "z_1": [0.2]}), Path("codes.csv"))
    assert cli(det, "decode", "--input", "codes.csv", "--output", "back.csv") == 1
    assert "a iforest detector has no latent code" in capsys.readouterr().err
    assert not Path("back.csv").exists()


def test_an_unknown_code_dtype_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["encode", "--input", "a.csv", "--output", "b.parquet", "--dtype", "int4"])
    assert exit_info.value.code == 2
    assert "must be one of float32, float16, int8, got int4" in capsys.readouterr().err


def test_score_ends_with_how_many_rows_were_flagged(cli, train, rows, capsys):
    det = detector_of("dense", train)
    write(rows, Path("rows.csv"))
    assert cli(det, "score", "--input", "rows.csv", "--output", "scored.csv") == 0
    flagged = int(read(Path("scored.csv"))["is_anomaly"].sum())
    err = capsys.readouterr().err
    expected = f"{flagged:,} of 30 rows flagged (threshold {det.info.threshold:.4g}); 0 rows"
    assert expected + " with unseen categories" in err
    assert cli(det, "score", "--input", "rows.csv", "--output", "all.csv", "--threshold", "-1") == 0
    assert "30 of 30 rows flagged (threshold -1)" in capsys.readouterr().err


def test_evaluate_on_a_labelled_file_measures_the_model(cli, train, rows, capsys):
    from sklearn.metrics import roc_auc_score

    det = detector_of("dense", train)
    labelled = rows.copy()
    labelled.loc[:9, FEATURES] += 3.0  # ten rows far from training: the anomalies
    labelled["status"] = ["bad"] * 10 + ["ok"] * 20
    write(labelled, Path("labelled.csv"))
    args = ["evaluate", "--input", "labelled.csv", "--label-column", "status"]
    assert cli(det, *args, "--normal", "ok", "--output", "report.json") == 0
    report = json.loads(Path("report.json").read_text())
    scores = det.predict(labelled)["anomaly_score"]
    expected = roc_auc_score(labelled["status"] == "bad", scores)
    assert report["auroc"] == pytest.approx(expected) and report["anomalies"] == 10
    assert report["tp"] + report["fn"] == 10 and report["fp"] + report["tn"] == 20
    assert f"AUROC {expected:.4f}" in capsys.readouterr().err
    assert cli(det, *args) == 1  # words, and no --normal: which are normal is asked
    assert "say which are normal with --normal" in capsys.readouterr().err
