"""The one input gate every score goes through (CLI files, Python, the pyfunc behind REST):
values the model cannot represent, columns that are not numbers, duplicated names and names
that collide with outputs are refused by name, and no score written is ever NaN or infinite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.serving.batch import FileJob, score_file
from aeops.serving.pipeline import ScoringInputError
from tests.unit.test_scoring import FEATURES, META, make_detector


@pytest.fixture(scope="module")
def detector():
    rng = np.random.default_rng(0)
    return make_detector(
        META, pd.DataFrame(rng.random((50, 6)), columns=FEATURES), scaler="standard"
    )


def rows(n: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.random((n, 6)), columns=FEATURES)
    frame.insert(0, "id", np.arange(n))
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


HUGE = [1e39, -1e39, 1e308, -1e30]


@pytest.mark.parametrize("value", HUGE)
def test_a_huge_finite_value_is_refused_by_row_and_column_never_scored(detector, value):
    frame = rows()
    frame.loc[3, "f2"] = value
    # beyond float32 (1e39): out of range; inside it but squared beyond it (-1e30): overflowed
    with pytest.raises(
        ScoringInputError, match=r"(?=.*row 3\b)(?=.*'f2')(?=.*(out of range|overflowed))"
    ) as err:
        detector.predict(frame)
    assert "inf" not in str(err.value)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("value", HUGE)
def test_files_with_a_huge_value_are_refused_and_nothing_is_written(
    detector, tmp_path, suffix, value
):
    frame = rows(20)
    frame.loc[11, "f4"] = value
    source = write(frame, tmp_path / f"in{suffix}")
    before = source.read_bytes()
    out = tmp_path / f"out{suffix}"
    with pytest.raises(
        ScoringInputError, match=r"(?=.*row 11\b)(?=.*'f4')(?=.*(out of range|overflowed))"
    ):
        score_file(detector, FileJob(None, source, out, chunk_rows=7, progress=False))
    assert not out.exists() and source.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp*"))


def test_every_written_score_is_finite(detector, tmp_path):
    frame = rows(50)
    frame.loc[7, "f1"] = 3e38  # inside float32, but its squared error is not
    source = write(frame, tmp_path / "in.csv")
    with pytest.raises(ScoringInputError, match=r"row 7.*(overflowed|out of range)"):
        score_file(detector, FileJob(None, source, tmp_path / "out.csv", progress=False))
    assert not (tmp_path / "out.csv").exists()
    ok = write(rows(50), tmp_path / "ok.csv")
    score_file(detector, FileJob(None, ok, tmp_path / "ok_out.csv", progress=False))
    assert np.isfinite(pd.read_csv(tmp_path / "ok_out.csv")["anomaly_score"]).all()


@pytest.mark.parametrize(
    "column, kind",
    [
        (pd.Series([True, False] * 4), "boolean"),
        (pd.Series(pd.date_range("2026-01-01", periods=8)), "timestamp"),
        (pd.Series(pd.to_timedelta(np.arange(8), unit="s")), "duration"),
    ],
)
def test_number_like_columns_are_refused_by_name_not_read_as_numbers(detector, column, kind):
    frame = rows()
    frame["f0"] = column.to_numpy()
    with pytest.raises(ScoringInputError, match=rf"column 'f0': holds {kind} values"):
        detector.predict(frame)


def test_a_boolean_among_numbers_is_refused_by_row_not_read_as_one(detector):
    """What a JSON request with `true` in a number column becomes (an object column)."""
    frame = rows()
    frame["f3"] = frame["f3"].astype(object)
    frame.loc[5, "f3"] = True
    with pytest.raises(ScoringInputError, match=r"row 5, column 'f3': True is a boolean"):
        detector.predict(frame)


@pytest.mark.parametrize(
    "values",
    [[True, False] * 4, list(pd.date_range("2026-01-01", periods=8)), ["a"] * 8, [[1.0]] * 8],
    ids=["bool", "timestamp", "text", "list"],
)
def test_parquet_feature_columns_must_be_numbers(detector, tmp_path, values):
    frame = rows()
    frame["f5"] = values
    source = write(frame, tmp_path / "in.parquet")
    with pytest.raises(ScoringInputError, match=r"column 'f5'"):
        score_file(detector, FileJob(None, source, tmp_path / "out.parquet", progress=False))
    assert not (tmp_path / "out.parquet").exists()


def test_a_duplicated_column_is_refused_in_a_frame_and_in_a_csv(detector, tmp_path):
    frame = rows()
    twice = pd.concat([frame, frame[["f0"]]], axis=1)
    with pytest.raises(ScoringInputError, match=r"\['f0'\] appear more than once"):
        detector.predict(twice)
    source = tmp_path / "twice.csv"
    twice.to_csv(source, index=False)  # pandas would read the copy back as f0.1
    with pytest.raises(ScoringInputError, match=r"\['f0'\] appear more than once"):
        score_file(detector, FileJob(None, source, tmp_path / "out.csv", progress=False))
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_input_columns_named_like_outputs_are_carried_renamed_never_twice(
    detector, tmp_path, suffix
):
    frame = rows(12)
    frame["is_anomaly"] = [True] * 3 + [False] * 9  # ground truth, a common column
    frame["anomaly_score"] = 0.5  # an earlier run's score
    source = write(frame, tmp_path / f"in{suffix}")
    out = tmp_path / f"out{suffix}"
    score_file(detector, FileJob(None, source, out, chunk_rows=5, progress=False))
    result = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(result.columns) == [
        "id",
        "input_is_anomaly",
        "input_anomaly_score",
        "anomaly_score",
        "is_anomaly",
    ]
    assert result["input_is_anomaly"].tolist() == frame["is_anomaly"].tolist()
    assert result["anomaly_score"].tolist() == pytest.approx(
        detector.predict(frame)["anomaly_score"].tolist(), rel=1e-6
    )


@pytest.mark.parametrize("damage", [b"}", b"\xff\xfe", b""])
def test_a_damaged_detector_file_is_refused_not_half_read(detector, tmp_path, damage):
    from aeops.serving.pipeline import DetectorInfo

    path = tmp_path / "detector.json"
    detector.info.save(path)
    path.write_bytes(path.read_bytes() + damage if damage else b"[1, 2]")
    with pytest.raises(ScoringInputError, match="damaged or was tampered with"):
        DetectorInfo.load(path)


@pytest.mark.parametrize("name", ["out.json", "out.txt", "out", "out.gz"])
def test_an_output_extension_that_names_no_format_is_refused(detector, tmp_path, name):
    source = write(rows(), tmp_path / "in.csv")
    with pytest.raises(ScoringInputError, match=r"name it \.csv, \.csv\.gz or \.parquet"):
        score_file(detector, FileJob(None, source, tmp_path / name, progress=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_gzipped_csv_output_is_written_as_gzip(detector, tmp_path):
    source = write(rows(), tmp_path / "in.csv")
    score_file(
        detector, FileJob(None, source, tmp_path / "out.csv.gz", chunk_rows=3, progress=False)
    )
    assert (tmp_path / "out.csv.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert len(pd.read_csv(tmp_path / "out.csv.gz")) == 8


@pytest.mark.parametrize("sep, named", [(";", "';'-separated"), ("\t", "tab-separated")])
def test_a_csv_with_another_delimiter_is_named_as_such(detector, tmp_path, sep, named):
    source = tmp_path / "in.csv"
    rows().to_csv(source, index=False, sep=sep, decimal="," if sep == ";" else ".")
    with pytest.raises(ScoringInputError, match=named):
        score_file(detector, FileJob(None, source, tmp_path / "out.csv", progress=False))
    assert not (tmp_path / "out.csv").exists()


def test_keep_features_copies_the_inputs_beside_the_scores(detector, tmp_path):
    frame = rows(9)
    source = write(frame, tmp_path / "in.csv")
    plain, kept = tmp_path / "plain.csv", tmp_path / "kept.csv"
    score_file(detector, FileJob(None, source, plain, chunk_rows=4, progress=False))
    score_file(
        detector, FileJob(None, source, kept, chunk_rows=4, progress=False, keep_features=True)
    )
    without, with_features = pd.read_csv(plain), pd.read_csv(kept)
    assert not set(FEATURES) & set(without.columns)  # by default only ids and labels travel
    assert list(with_features.columns[: 1 + len(FEATURES)]) == ["id", *FEATURES]
    np.testing.assert_allclose(with_features[FEATURES].to_numpy(), frame[FEATURES].to_numpy())
    pd.testing.assert_series_equal(with_features["anomaly_score"], without["anomaly_score"])
