"""Sensor streams in: the timeseries source, its settings, the split in time and the checks
validate runs on a stream's time (real Great Expectations)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.core.errors import ConfigError, ScoringInputError, SourceError, SplitError
from aeops.data.expectations import DataValidationError, StreamRules, validate_frame
from aeops.data.preprocess import Preprocessor, StreamShape
from aeops.data.sources import load_source
from aeops.data.split import add_synthetic, assign_splits
from aeops.data.streams import delimiter, min_series_rows, parse_time, seconds, stream_line
from tests.factories import sensor_stream, write_streams
from tests.helpers import data_config, make_config

STREAM = {
    "source": "timeseries",
    "time_column": "datetime",
    "label_column": "anomaly",
    "normal_labels": [0],
    "exclude": ["changepoint"],
}


def stream_config(path: Path, **override):
    return data_config(**{**STREAM, "path": str(path), **override})


def test_a_folder_of_series_files_reads_as_written(tmp_path: Path) -> None:
    write_streams(tmp_path / "runs", n=3, rows=50)
    (tmp_path / "runs" / "2.csv").rename(tmp_path / "runs" / "10.csv")  # natural order
    frame, meta = load_source(stream_config(tmp_path / "runs"), seed=0)
    assert meta.is_stream and meta.time_column == "datetime" and meta.series_column == "series"
    assert meta.features == ["s0", "s1", "s2", "s3"]  # time, series, changepoint not features
    assert meta.extra_columns == ["series", "datetime"] and meta.labels == ["0", "1"]
    assert frame["series"].drop_duplicates().tolist() == ["0", "1", "10"]
    assert pd.api.types.is_datetime64_any_dtype(frame["datetime"])
    first = sensor_stream(50, seed=0)
    np.testing.assert_allclose(frame.loc[:49, "s2"], first["s2"])
    assert (frame.loc[:49, "datetime"] == first["datetime"]).all()
    assert [f["name"] for f in meta.schema()["features"]] == meta.features
    assert stream_line(frame, meta) == (
        "3 series of 50 to 50 rows in 'series', time in 'datetime', one row every 1 s (median step)"
    )


def test_one_file_with_a_series_column_groups_each_series_in_its_own_order(
    tmp_path: Path,
) -> None:
    rows = pd.DataFrame(
        {
            "machine": ["b", "a", "b", "a", "b", "a"],
            "t": [10.0, 1.0, 11.0, 2.0, 12.0, 3.0],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    rows.to_parquet(tmp_path / "plant.parquet")
    cfg = data_config(
        source="timeseries",
        path=str(tmp_path / "plant.parquet"),
        time_column="t",
        series_column="machine",
        label_column=None,
        normal_labels=None,
    )
    frame, meta = load_source(cfg, seed=0)
    assert frame["machine"].tolist() == ["b", "b", "b", "a", "a", "a"]
    assert frame["t"].tolist() == [10.0, 11.0, 12.0, 1.0, 2.0, 3.0]
    assert frame["x"].tolist() == [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]
    assert meta.series_column == "machine" and meta.features == ["x"]


def test_the_separator_is_read_as_written(tmp_path: Path) -> None:
    for sep in (";", ",", "\t"):
        path = tmp_path / "s.csv"
        sensor_stream(20).to_csv(path, sep=sep, index=False)
        assert delimiter(path) == sep
        frame, _ = load_source(stream_config(path), seed=0)
        assert len(frame) == 20 and frame["series"].unique().tolist() == ["s"]


def test_times_that_are_not_times_are_refused_naming_the_rows(tmp_path: Path) -> None:
    frame = sensor_stream(20).astype({"datetime": str})
    frame.loc[[3, 7], "datetime"] = ["soon", ""]
    frame.to_csv(tmp_path / "bad.csv", sep=";", index=False)
    with pytest.raises(
        SourceError, match=r"bad.csv: time column 'datetime' has 2 value.*rows \[3, 7\]"
    ):
        load_source(stream_config(tmp_path / "bad.csv"), seed=0)
    with pytest.raises(SourceError, match=r"data.time_column names column\(s\) \['when'\]"):
        load_source(stream_config(tmp_path / "bad.csv", time_column="when"), seed=0)


def test_time_as_seconds_or_dates_with_zones() -> None:
    numbers = parse_time(pd.Series([0, 1.5, 3]), "t", "x")
    assert seconds(numbers).tolist() == [0.0, 1.5, 3.0]
    zoned = parse_time(
        pd.Series(["2026-01-01T00:00:00+01:00", "2026-01-01T00:00:02+01:00"]), "t", "x"
    )
    assert zoned.iloc[0] == pd.Timestamp("2025-12-31 23:00:00")
    assert np.diff(seconds(zoned)).tolist() == [2.0]
    with pytest.raises(SourceError, match="true/false"):
        parse_time(pd.Series([True, False]), "t", "x")


def test_files_that_disagree_on_time_or_share_a_name_are_refused(tmp_path: Path) -> None:
    write_streams(tmp_path / "runs", n=2, rows=20)
    sensor_stream(20).to_parquet(tmp_path / "runs" / "1.parquet")
    with pytest.raises(SourceError, match=r"files \['1'\] name the same series"):
        load_source(stream_config(tmp_path / "runs"), seed=0)
    (tmp_path / "runs" / "1.parquet").unlink()
    seconds_file = sensor_stream(20).assign(datetime=np.arange(20.0))
    seconds_file.to_csv(tmp_path / "runs" / "1.csv", sep=";", index=False)
    with pytest.raises(SourceError, match="holds dates in some files and seconds in others"):
        load_source(stream_config(tmp_path / "runs"), seed=0)


def test_a_series_column_the_user_did_not_name_is_refused(tmp_path: Path) -> None:
    sensor_stream(20).assign(series="x").to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(SourceError, match="set data.series_column: series"):
        load_source(stream_config(tmp_path / "s.csv"), seed=0)


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"time_column": None}, "set data.time_column"),
        ({"max_rows": 100}, "set data.max_rows: null"),
    ],
)
def test_stream_settings_are_checked_when_params_are_parsed(override, words) -> None:
    with pytest.raises((ConfigError, ValueError), match=words):
        data_config(**{**STREAM, "path": "x", **override})


def test_stream_settings_on_a_table_are_refused() -> None:
    with pytest.raises((ConfigError, ValueError), match="apply to source 'timeseries' only"):
        data_config(source="table", path="x.csv", time_column="t")
    with pytest.raises((ConfigError, ValueError), match="data.window.size apply to source"):
        data_config(source="table", path="x.csv", window={"size": 10})
    with pytest.raises((ConfigError, ValueError), match="scaler: series standardises each"):
        data_config(source="table", path="x.csv", scaler="series")


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({"scaler": "series"}, "data.scaler: series and data.warmup_rows go together"),
        ({"warmup_rows": 50, "split": {"train_rows": 100}}, "go together"),
        (
            {"scaler": "series", "warmup_rows": 50, "split": {"train_rows": 40}},
            "data.warmup_rows: 50 must lie within each series' training rows",
        ),
        ({"scaler": "series", "warmup_rows": 50}, "set data.split.train_rows to at least 50"),
    ],
)
def test_scaling_each_series_by_its_first_rows_needs_them_to_train(override, words) -> None:
    with pytest.raises((ConfigError, ValueError), match=words):
        data_config(**{**STREAM, "path": "x", **override})


def test_a_series_needs_one_whole_window() -> None:
    assert min_series_rows(stream_config(Path("x"), window={"size": 60, "stride": 1})) == 60
    assert min_series_rows(stream_config(Path("x"), split={"train_rows": 40})) == 42


@pytest.mark.slow  # GX's validation (~2 s); the rule itself: the test above
def test_a_series_shorter_than_one_window_is_refused_by_name(tmp_path: Path) -> None:
    write_streams(tmp_path / "runs", n=2, rows=50)
    cfg = stream_config(tmp_path / "runs", window={"size": 60})
    assert min_series_rows(cfg) == 60
    frame, meta = load_source(cfg, seed=0)
    rules = StreamRules(max_gap=None, min_series_rows=min_series_rows(cfg))
    text = str(DataValidationError("d.parquet", validate_frame(frame, meta, 10, stream=rules)))
    assert "series '0' (50 rows), '1' (50 rows) are shorter than the 60 rows" in text
    assert "one whole window of data.window.size rows" in text


def test_a_stream_preprocessor_scales_each_series_and_windows_its_rows(tmp_path: Path) -> None:
    write_streams(tmp_path / "runs", n=2, rows=80)
    cfg = stream_config(tmp_path / "runs", split={"train_rows": 40})
    frame, meta = load_source(cfg, seed=0)
    shape = StreamShape(meta.series_column, window=5, warmup=30)
    pre = Preprocessor.fit(frame, meta, "series", False, 20, shape)
    x = pre.transform(frame)
    f = len(meta.numeric)
    assert x.shape == (160, 5 * f) and x.dtype == np.float32
    assert pre.output_names[:f] == [f"{c}@t-4" for c in meta.numeric]
    first = frame[meta.numeric].to_numpy()[80:110]  # series '1': its own first 30 rows
    z = (frame[meta.numeric].to_numpy()[80:] - first.mean(axis=0)) / first.std(axis=0)
    np.testing.assert_allclose(x[80:, -f:], z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x[100, :f], z[16], rtol=1e-5, atol=1e-5)  # 4 rows back
    alone = pre.transform(frame.iloc[80:].drop(columns=[meta.series_column]))
    np.testing.assert_array_equal(alone, x[80:])  # no series column: one series
    pre.save(tmp_path / "p.skops")
    np.testing.assert_array_equal(Preprocessor.load(tmp_path / "p.skops").transform(frame), x)
    with pytest.raises(ScoringInputError, match="has 20 rows.*first 30 rows"):
        pre.transform(frame.iloc[:20])


def test_each_series_splits_in_time_and_nothing_crosses(tmp_path: Path) -> None:
    write_streams(tmp_path / "runs", n=3, rows=100)
    cfg = stream_config(tmp_path / "runs", split={"train_rows": 40})
    frame, meta = load_source(cfg, seed=0)
    one = assign_splits(frame, meta, cfg, seed=0)
    assert one.equals(assign_splits(frame, meta, cfg, seed=99))  # no randomness at all
    for _, rows in one.groupby("series", sort=False):
        assert rows["split"].tolist() == ["train"] * 40 + ["val"] * 30 + ["test"] * 30
        assert rows["datetime"].is_monotonic_increasing
    for _, rows in one.groupby("series", sort=False):  # faults stay where they happened
        assert np.flatnonzero(rows["is_anomaly"]).tolist() == list(range(66, 83))
    by_share = assign_splits(frame, meta, stream_config(tmp_path / "runs"), seed=0)
    assert by_share.groupby("series")["split"].value_counts().unstack().loc["0"].to_dict() == {
        "test": 20,
        "train": 60,
        "val": 20,
    }
    with pytest.raises(SplitError, match="series '0' has 100 rows, so data.split.train_rows"):
        assign_splits(frame, meta, stream_config(tmp_path / "runs", split={"train_rows": 99}), 0)
    assert min_series_rows(cfg) == 42
    assert min_series_rows(stream_config(tmp_path)) == 4


def test_synthetic_rows_of_a_stream_have_no_time(tmp_path: Path) -> None:
    write_streams(tmp_path / "runs", n=2, rows=60)
    cfg = stream_config(tmp_path / "runs", label_column=None, normal_labels=None)
    frame, meta = load_source(cfg, seed=0)
    out = add_synthetic(assign_splits(frame, meta, cfg, seed=0), meta, seed=0)
    made = out[out["synthetic"] != ""]
    assert len(made) == (out["split"].isin(["val", "test"]) & (out["synthetic"] == "")).sum()
    assert made["datetime"].isna().all() and made["series"].str.startswith("synthetic:").all()
    assert out[out["synthetic"] == ""]["datetime"].notna().all()


def test_validate_refuses_time_that_goes_back_repeats_or_gaps_in_sentences(
    tmp_path: Path,
) -> None:
    write_streams(tmp_path / "runs", n=3, rows=50)
    frame, meta = load_source(stream_config(tmp_path / "runs"), seed=0)
    good = validate_frame(frame, meta, 10, stream=StreamRules(max_gap=5.0, min_series_rows=42))
    assert good.success, [str(f) for f in good.failures]
    second = pd.Timedelta(seconds=1)
    bad = frame.copy()
    bad.loc[5, "datetime"] = bad.loc[3, "datetime"]  # series 0: back at row 5
    bad.loc[60, "datetime"] = bad.loc[59, "datetime"]  # series 1 (rows 50..99): repeats at 10
    bad.loc[120:, "datetime"] += 30 * second  # series 2 (rows 100..149): a 31 s gap at 20
    bad["s3"] = 7.0
    report = validate_frame(bad, meta, 10, stream=StreamRules(max_gap=5.0, min_series_rows=51))
    assert not report.success
    text = str(DataValidationError("data/interim/dataset.parquet", report))
    assert "series '0': 'datetime' goes backwards at row(s) 5 (-1 s)" in text
    assert "series '1': 'datetime' repeats at row(s) 10 (+0 s)" in text
    assert "series '2': 'datetime' leaves a gap at row(s) 20 (+31 s)" in text
    assert "raise data.max_gap above 5 s" in text
    assert "series '0' (50 rows), '1' (50 rows), '2' (50 rows) are shorter than the 51" in text
    assert "sensor column(s) ['s3'] hold one value" in text and "data.exclude" in text


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ({}, "task: faults reads sensor streams: set data.source: timeseries"),
        (
            {"data": {**STREAM, "path": "x", "label_column": None, "normal_labels": None}},
            "set data.label_column to the column that marks fault rows",
        ),
        (
            {"data": {**STREAM, "path": "x"}, "register": {"metric": "val_psnr_db"}},
            "val_psnr_db does not measure what task: faults is for",
        ),
    ],
)
def test_the_faults_task_refuses_what_it_cannot_measure(override, words) -> None:
    with pytest.raises((ConfigError, ValueError), match=words):
        make_config(task="faults", models={"families": ["dense"]}, **override)


def test_the_faults_task_selects_on_stream_figures_and_registers_its_own_name() -> None:
    cfg = make_config(
        task="faults",
        data={**STREAM, "path": "x"},
        models={"families": ["dense", "tcn", "gru"]},
        register={"metric": "val_vus_pr"},
    )
    assert cfg.use.default_metric.name == "val_vus_pr" and cfg.use.suffix == "-faults"
    from aeops.models.baselines import baselines

    assert "hotelling" in cfg.use.baselines(baselines()), "T² is measured on streams"
    assert "hotelling" not in make_config().use.baselines(baselines()), "tables keep theirs"
    assert not cfg.use.use_measures
