"""Data tier: the GX suite passes the real embedded data and fails loudly on corrupted data."""

from pathlib import Path

import numpy as np
import pytest

from aeops.data.expectations import DataValidationError, validate_frame
from aeops.data.sources import load_source
from tests.factories import sensor_table
from tests.helpers import data_config


@pytest.fixture(scope="module")
def digits():
    return load_source(data_config(), seed=0)


@pytest.fixture(scope="module")
def sensors(tmp_path_factory):
    path = tmp_path_factory.mktemp("sensors") / "sensors.csv"
    sensor_table(n=300).to_csv(path, index=False)
    return load_source(
        data_config(
            source="table", path=str(path), label_column="status", exclude=["unit_id", "timestamp"]
        ),
        seed=0,
    )


def failures_of(frame, meta, min_rows=50, allow_missing=False):
    report = validate_frame(frame, meta, min_rows, allow_missing=allow_missing)
    assert not report.success
    return report, str(DataValidationError("data/interim/dataset.parquet", report))


@pytest.mark.slow  # GX's Data Docs: ~5 s
def test_real_digits_pass_and_data_docs_are_written(digits, tmp_path: Path):
    frame, meta = digits
    report = validate_frame(frame, meta, 100, tmp_path / "docs")
    assert report.success, report.failures
    assert report.evaluated > 3 * meta.n_features
    assert (tmp_path / "docs" / "index.html").exists()


@pytest.mark.slow  # ~5 s of GX; NaN named by row in make test: the sensors' missing-values test
def test_nan_pixel_is_named_with_its_row(digits):
    frame, meta = digits
    bad = frame.copy()
    bad.loc[17, "pixel_5"] = np.nan
    report, message = failures_of(bad, meta)
    assert [f.column for f in report.failures] == ["pixel_5"]
    assert "expect_column_values_to_not_be_null" in message
    assert "rows [17]" in message
    assert "dataset.parquet" in message
    assert "row r is line r + 2" in message  # where row 17 is in the user's CSV
    assert "set data.missing: impute" in message  # the fix for missing values


def test_out_of_range_value_is_named(digits):
    frame, meta = digits
    bad = frame.copy()
    bad.loc[3, "pixel_40"] = 1.5
    report, message = failures_of(bad, meta)
    assert report.failures[0].column == "pixel_40"
    assert "expect_column_values_to_be_between" in message and "1.5" in message


def test_missing_column_is_reported_once(digits):
    frame, meta = digits
    report, message = failures_of(frame.drop(columns=["pixel_63"]), meta)
    assert [(f.column, f.expectation) for f in report.failures] == [
        ("pixel_63", "expect_column_to_exist")
    ]
    assert "column 'pixel_63'" in message and "missing" in message


def test_unknown_label_and_too_few_rows(digits):
    frame, meta = digits
    bad = frame.head(30).copy()
    bad.loc[0, "label"] = "42"
    report, _ = failures_of(bad, meta, min_rows=50)
    kinds = {(f.column, f.expectation) for f in report.failures}
    assert ("label", "expect_column_values_to_be_in_set") in kinds
    assert (None, "expect_table_row_count_to_be_between") in kinds


@pytest.mark.slow  # ~3 s of GX; its sibling in make test: a number in a text column (sensors)
def test_text_in_a_feature_column_fails_its_type_check(digits):
    frame, meta = digits
    bad = frame.copy()
    bad["pixel_2"] = bad["pixel_2"].astype(str)
    report, _ = failures_of(bad, meta)
    assert any(f.column == "pixel_2" and "type" in f.expectation for f in report.failures)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_value_is_refused_naming_column_and_row(sensors, value):
    frame, meta = sensors
    bad = frame.copy()
    bad.loc[11, "sensor_3"] = value
    report, message = failures_of(bad, meta)
    assert [f.column for f in report.failures] == ["sensor_3"]
    assert "rows [11]" in message and "inf" in message


def test_text_table_passes_and_missing_values_follow_the_policy(sensors):
    frame, meta = sensors
    assert validate_frame(frame, meta, 50).success
    bad = frame.copy()
    bad.loc[4, "line"] = None
    bad.loc[9, "sensor_0"] = np.nan
    report, message = failures_of(bad, meta)
    assert {f.column for f in report.failures} == {"line", "sensor_0"}
    assert "rows [4]" in message and "rows [9]" in message
    assert validate_frame(bad, meta, 50, allow_missing=True).success
    bad.loc[5, "status"] = None  # a missing label is never allowed
    report, _ = failures_of(bad, meta, allow_missing=True)
    assert [f.column for f in report.failures] == ["status"]


def test_number_in_a_text_column_fails_its_type_check(sensors):
    frame, meta = sensors
    bad = frame.copy().astype({"line": object})
    bad.loc[2, "line"] = 7
    report, message = failures_of(bad, meta)
    assert any(f.column == "line" and "type" in f.expectation for f in report.failures)
    assert "rows [2]" in message


@pytest.fixture(scope="module")
def genes(tmp_path_factory):
    """A gene-expression shape: 80 rows x 1,000 numeric columns, checked as one block."""
    import pandas as pd

    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(80, 1000)), columns=[f"g{i}" for i in range(1000)])
    wide["label"] = ["normal"] * 70 + ["tumour"] * 10
    path = tmp_path_factory.mktemp("genes") / "genes.parquet"
    wide.to_parquet(path)
    cfg = data_config(source="table", path=str(path), normal_labels=["normal"], min_rows=10)
    return load_source(cfg, seed=0)


def test_a_wide_table_passes_as_a_few_expectations_with_data_docs(genes, tmp_path: Path):
    frame, meta = genes
    report = validate_frame(frame, meta, 10, tmp_path / "docs")
    assert report.success, report.failures
    assert report.evaluated < 20  # not 4 x 1,000: the numeric block is one profile
    assert (tmp_path / "docs" / "index.html").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "breakage, column, expectation, detail",
    [
        ("nan", "g5", "expect_column_values_to_not_be_null", "rows [17]"),
        ("inf", "g400", "expect_column_values_to_be_between", "rows [3]"),
        ("text", "g2", "expect_column_values_to_be_in_type_list", "dtype"),
        ("missing", "g999", "expect_column_to_exist", "missing"),
    ],
)
def test_a_wide_table_keeps_every_per_column_contract(genes, breakage, column, expectation, detail):
    frame, meta = genes
    bad = frame.copy()
    if breakage == "nan":
        bad.loc[17, column] = np.nan
    elif breakage == "inf":
        bad.loc[3, column] = np.inf
    elif breakage == "text":
        bad[column] = bad[column].astype(str)
    else:
        bad = bad.drop(columns=[column])
    report, message = failures_of(bad, meta, min_rows=10)
    assert [(f.column, f.expectation) for f in report.failures] == [(column, expectation)]
    assert detail in message and f"column '{column}'" in message
