import numpy as np
import pandas as pd
import pytest

from aeops.data.schema import DatasetMeta
from aeops.data.sources import load_source
from aeops.data.split import (
    ANOMALY_COLUMN,
    SPLIT_COLUMN,
    SYNTHETIC_COLUMN,
    SplitError,
    add_synthetic,
    assign_splits,
)
from aeops.data.synthetic import make_synthetic
from tests.factories import sensor_table
from tests.helpers import data_config


@pytest.fixture(scope="module")
def digits():
    return load_source(data_config(), seed=0)


def test_every_row_in_exactly_one_split_and_no_anomaly_in_train(digits):
    frame, meta = digits
    out = assign_splits(frame, meta, data_config(), seed=7)
    assert set(out[SPLIT_COLUMN]) == {"train", "val", "test"}
    assert len(out) == len(frame)
    train = out[out[SPLIT_COLUMN] == "train"]
    assert not train[ANOMALY_COLUMN].any()
    assert (train["label"] != "9").all()
    for split in ("val", "test"):
        part = out[out[SPLIT_COLUMN] == split]
        assert part[ANOMALY_COLUMN].any() and (~part[ANOMALY_COLUMN]).any()
    assert (out[ANOMALY_COLUMN] == (out["label"] == "9")).all()


def test_split_is_deterministic_per_seed_and_changes_with_it(digits):
    frame, meta = digits
    cfg = data_config()
    a = assign_splits(frame, meta, cfg, seed=3)[SPLIT_COLUMN]
    b = assign_splits(frame, meta, cfg, seed=3)[SPLIT_COLUMN]
    c = assign_splits(frame, meta, cfg, seed=4)[SPLIT_COLUMN]
    assert (a == b).all()
    assert not (a == c).all()


def test_fractions_are_respected(digits):
    frame, meta = digits
    cfg = data_config(
        split={"val_fraction": 0.1, "test_fraction": 0.3, "anomaly_val_fraction": 0.5}
    )
    out = assign_splits(frame, meta, cfg, seed=0)
    shares = out[~out[ANOMALY_COLUMN]][SPLIT_COLUMN].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.6, abs=0.01)
    assert shares["test"] == pytest.approx(0.3, abs=0.01)


def text_labeled():
    frame = sensor_table(n=300).drop(columns=["unit_id", "timestamp"])
    meta = DatasetMeta(
        "table",
        "sensors.csv",
        [c for c in frame.columns if c != "status"],
        "status",
        ["defect", "ok"],
        len(frame),
        categorical=["line", "shift"],
    )
    return frame, meta


def test_text_labels_match_normal_labels_as_written():
    frame, meta = text_labeled()
    out = assign_splits(frame, meta, data_config(normal_labels=["ok"]), seed=0)
    assert (out[ANOMALY_COLUMN] == (out["status"] == "defect")).all()
    with pytest.raises(
        SplitError,
        match=r"normal_labels \['OK'\] do not occur.*\['defect', "
        r"'ok'\]",
    ):
        assign_splits(frame, meta, data_config(normal_labels=["OK"]), seed=0)
    with pytest.raises(SplitError, match="normal_labels is not set.*defect"):
        assign_splits(frame, meta, data_config(normal_labels=None), seed=0)


def test_unlabeled_rows_are_all_normal_and_get_synthetic_anomalies(digits):
    frame, meta = digits
    frame = frame.drop(columns=["label"])
    meta = DatasetMeta(
        "digits",
        "m",
        meta.features,
        None,
        [],
        len(frame),
        image_shape=meta.image_shape,
        value_range=[0.0, 1.0],
    )
    out = add_synthetic(assign_splits(frame, meta, data_config(label_column=None), 0), meta, 0)
    real = out[out[SYNTHETIC_COLUMN] == ""]
    assert len(real) == len(frame) and not real[ANOMALY_COLUMN].any()
    fake = out[out[SYNTHETIC_COLUMN] != ""]
    assert set(fake[SPLIT_COLUMN]) == {"val", "test"} and fake[ANOMALY_COLUMN].all()
    for split in ("val", "test"):  # one synthetic anomaly per held-out normal row
        assert (fake[SPLIT_COLUMN] == split).sum() == (real[SPLIT_COLUMN] == split).sum()
    assert set(fake[SYNTHETIC_COLUMN]) == {"patch", "cutpaste"}
    pixels = fake[meta.features].to_numpy()
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0  # still valid images


def test_labelled_anomalies_in_validation_mean_no_synthetic_rows(digits):
    frame, meta = digits
    out = add_synthetic(assign_splits(frame, meta, data_config(), 0), meta, 0)
    assert (out[SYNTHETIC_COLUMN] == "").all() and len(out) == len(frame)


def test_table_corruptions_change_a_fifth_of_the_features_and_are_seeded():
    frame, meta = text_labeled()
    normal = frame[frame["status"] == "ok"].reset_index(drop=True)
    a = make_synthetic(normal.head(40), normal, meta, np.random.default_rng(3))
    b = make_synthetic(normal.head(40), normal, meta, np.random.default_rng(3))
    pd.testing.assert_frame_equal(a, b)
    changed = (a[meta.features] != normal.head(40)[meta.features]).sum(axis=1)
    assert changed.max() <= 2 and changed.mean() > 0.8  # round(0.2 * 10) = 2 features
    assert set(a[SYNTHETIC_COLUMN]) == {"swap", "noise"}
    assert set(a["line"]) <= {"A", "B", "C"}  # swapped values are real values


def test_no_normal_rows_is_a_clear_error():
    frame = pd.DataFrame({"f0": [0.1, 0.2], "label": ["5", "5"]})
    meta = DatasetMeta("t", "t.csv", ["f0"], "label", ["0", "5"], 2)
    with pytest.raises(SplitError, match="rows are normal"):
        assign_splits(frame, meta, data_config(normal_labels=[0]), seed=0)
