"""The preprocessor: fit on training rows only, one-hot with unknowns counted, data-only file."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.core.errors import AeopsError
from aeops.data.preprocess import Preprocessor, resolve_scaler
from aeops.data.schema import DatasetMeta

META = DatasetMeta(
    "table", "t.csv", ["a", "b", "colour"], "label", ["0"], 6, categorical=["colour"]
)


def rows(**override) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "a": [0.0, 1.0, 2.0, 3.0],
            "b": [10.0, 10.0, 20.0, 20.0],
            "colour": ["red", "blue", "red", "green"],
        }
    )
    return frame.assign(**override)


def test_scaling_is_fit_on_the_rows_given_and_one_hot_follows_numeric():
    pre = Preprocessor.fit(rows(), META, "standard", False, 20)
    assert pre.output_names == ["a", "b", "colour_blue", "colour_green", "colour_red"]
    x = pre.transform(rows())
    assert x.dtype == np.float32 and x.shape == (4, 5)
    assert x[:, 0].mean() == pytest.approx(0.0, abs=1e-6)
    # a row beyond the training range is not clipped: anomalies stay visible
    far = pre.transform(rows(a=[30.0, 0, 0, 0]))
    assert far[0, 0] > 10
    assert pre.output_groups().tolist() == [0, 1, 2, 2, 2]


def test_scaler_auto_keeps_image_pixels_and_standardises_tables():
    image = DatasetMeta("digits", "x", ["p0"], None, [], 1, image_shape=[1, 1, 1])
    assert resolve_scaler("auto", image) == "none"
    assert resolve_scaler("auto", META) == "standard"
    assert resolve_scaler("minmax", META) == "minmax"


def test_unknown_categories_are_encoded_as_zeros_and_counted():
    pre = Preprocessor.fit(rows(), META, "standard", False, 20)
    new = rows(colour=["purple", "red", "pink", "blue"])
    x = pre.transform(new)
    assert x[0, 2:].sum() == 0 and x[1, 2:].sum() == 1
    assert pre.unknown_categories(new).tolist() == [1, 0, 1, 0]


def test_inverse_transform_recovers_raw_rows():
    pre = Preprocessor.fit(rows(), META, "standard", False, 20)
    back = pre.inverse_transform(pre.transform(rows()))
    np.testing.assert_allclose(
        back[["a", "b"]].to_numpy(float), rows()[["a", "b"]].to_numpy(), atol=1e-5
    )
    assert back["colour"].tolist() == rows()["colour"].tolist()


def test_impute_fills_missing_values_from_training_rows():
    pre = Preprocessor.fit(rows(a=[0.0, np.nan, 2.0, 4.0]), META, "none", True, 20)
    x = pre.transform(rows(a=[np.nan, 1, 1, 1], colour=[None, "red", "red", "red"]))
    assert x[0, 0] == 2.0  # the median of the training values
    assert x[0, 2:].tolist() == [0.0, 0.0, 1.0]  # the most frequent colour: red


def test_rare_categories_share_one_column():
    frame = pd.DataFrame(
        {"a": np.arange(20.0), "b": np.ones(20), "colour": ["red"] * 10 + ["blue"] * 8 + ["x", "y"]}
    )
    pre = Preprocessor.fit(frame, META, "standard", False, max_categories=3)
    assert pre.n_outputs == 2 + 3
    assert pre.output_groups().tolist() == [0, 1, 2, 2, 2]


def test_saved_file_is_data_and_round_trips(tmp_path: Path):
    pre = Preprocessor.fit(rows(), META, "standard", False, 20)
    pre.save(tmp_path / "p.skops")
    loaded = Preprocessor.load(tmp_path / "p.skops")
    np.testing.assert_array_equal(loaded.transform(rows()), pre.transform(rows()))
    assert loaded.features == ["a", "b", "colour"]


class Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_a_file_holding_foreign_types_is_refused_without_running_them(tmp_path: Path, monkeypatch):
    import skops.io as sio

    monkeypatch.chdir(tmp_path)
    sio.dump({"numeric": ["a"], "transformer": Payload()}, tmp_path / "evil.skops")
    with pytest.raises(AeopsError, match="does not trust"):
        Preprocessor.load(tmp_path / "evil.skops")
    assert not (tmp_path / "PWNED").exists()


def test_log_counts_normalises_each_row_to_one_total_then_takes_log1p():
    from aeops.data.preprocess import COUNTS_TOTAL, log_counts

    counts = np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, np.nan, 2.0]])
    out = log_counts(counts)
    np.testing.assert_allclose(out[0], np.log1p(np.array([0.25, 0.75, 0.0]) * COUNTS_TOTAL))
    assert (out[1] == 0).all()  # a cell with no counts stays zeros, not NaN
    assert np.isnan(out[2, 1]) and out[2, 0] == pytest.approx(np.log1p(0.5 * COUNTS_TOTAL))
