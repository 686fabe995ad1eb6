import numpy as np
import pandas as pd
import pytest

from aeops.config import DataConfig, SplitConfig
from aeops.data.sources import load_source
from aeops.data.split import ANOMALY_COLUMN, SPLIT_COLUMN, assign_splits, fit_preprocessor


@pytest.fixture(scope="module")
def digits():
    frame, _ = load_source(DataConfig(), seed=0)
    return frame


def test_every_row_in_exactly_one_split_and_no_anomaly_in_train(digits):
    cfg = DataConfig()
    out = assign_splits(digits, cfg, seed=7)
    assert set(out[SPLIT_COLUMN]) == {"train", "val", "test"}
    assert len(out) == len(digits)
    train = out[out[SPLIT_COLUMN] == "train"]
    assert not train[ANOMALY_COLUMN].any()
    assert (train["label"] != 9).all()
    for split in ("val", "test"):
        part = out[out[SPLIT_COLUMN] == split]
        assert part[ANOMALY_COLUMN].any() and (~part[ANOMALY_COLUMN]).any()
    assert (out[ANOMALY_COLUMN] == (out["label"] == 9)).all()


def test_split_is_deterministic_per_seed_and_changes_with_it(digits):
    cfg = DataConfig()
    a = assign_splits(digits, cfg, seed=3)[SPLIT_COLUMN]
    b = assign_splits(digits, cfg, seed=3)[SPLIT_COLUMN]
    c = assign_splits(digits, cfg, seed=4)[SPLIT_COLUMN]
    assert (a == b).all()
    assert not (a == c).all()


def test_fractions_are_respected(digits):
    cfg = DataConfig(split=SplitConfig(val_fraction=0.1, test_fraction=0.3))
    out = assign_splits(digits, cfg, seed=0)
    normal = out[~out[ANOMALY_COLUMN]]
    shares = normal[SPLIT_COLUMN].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.6, abs=0.01)
    assert shares["test"] == pytest.approx(0.3, abs=0.01)


def test_scaler_sees_training_rows_only():
    train = np.array([[0.0, 1.0], [2.0, 3.0]])
    scaler = fit_preprocessor(train, "minmax")
    assert scaler.data_max_.tolist() == [2.0, 3.0]
    # a test row beyond the training range is not clipped: anomalies stay visible
    assert scaler.transform(np.array([[4.0, 3.0]]))[0, 0] == pytest.approx(2.0)


def test_identity_preprocessor_passes_values_through():
    x = np.arange(6.0).reshape(3, 2)
    assert (fit_preprocessor(x, "none").transform(x) == x).all()


def test_no_normal_rows_is_a_clear_error():
    frame = pd.DataFrame({"f0": [0.1, 0.2], "label": [5, 5]})
    with pytest.raises(ValueError, match="normal label"):
        assign_splits(frame, DataConfig(normal_labels=[0]), seed=0)
