"""Data tier: the GX suite passes the real embedded data and fails loudly on corrupted data."""

from pathlib import Path

import numpy as np
import pytest

from aeops.config import DataConfig
from aeops.data.expectations import DataValidationError, validate_frame
from aeops.data.sources import load_source


@pytest.fixture(scope="module")
def digits():
    return load_source(DataConfig(), seed=0)


def failures_of(frame, meta, min_rows=50):
    report = validate_frame(frame, meta, min_rows)
    assert not report.success
    return report, str(DataValidationError("data/interim/dataset.parquet", report))


def test_real_digits_pass_and_data_docs_are_written(digits, tmp_path: Path):
    frame, meta = digits
    report = validate_frame(frame, meta, 100, tmp_path / "docs")
    assert report.success, report.failures
    assert report.evaluated > 3 * meta.n_features
    assert (tmp_path / "docs" / "index.html").exists()


def test_nan_pixel_is_named_with_its_row(digits):
    frame, meta = digits
    bad = frame.copy()
    bad.loc[17, "pixel_5"] = np.nan
    report, message = failures_of(bad, meta)
    assert [f.column for f in report.failures] == ["pixel_5"]
    assert "expect_column_values_to_not_be_null" in message
    assert "rows [17]" in message
    assert "dataset.parquet" in message


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
        ("pixel_63", "expect_column_to_exist")]
    assert "column 'pixel_63'" in message and "missing" in message


def test_unknown_label_and_too_few_rows(digits):
    frame, meta = digits
    bad = frame.head(30).copy()
    bad.loc[0, "label"] = 42
    report, _ = failures_of(bad, meta, min_rows=50)
    kinds = {(f.column, f.expectation) for f in report.failures}
    assert ("label", "expect_column_values_to_be_in_set") in kinds
    assert (None, "expect_table_row_count_to_be_between") in kinds


def test_text_in_a_feature_column_fails_its_type_check(digits):
    frame, meta = digits
    bad = frame.copy()
    bad["pixel_2"] = bad["pixel_2"].astype(str)
    report, _ = failures_of(bad, meta)
    assert any(f.column == "pixel_2" and "type" in f.expectation for f in report.failures)
