"""Sliding windows over stacked series: lazy, never crossing a series, flattened time-major;
row scores from window scores, causal (no look-ahead) or covering."""

from __future__ import annotations

import numpy as np
import pytest

from aeops.data.windows import (
    SeriesScale,
    Windows,
    row_scores,
    row_windows,
    series_starts,
    window_ends,
)


def stacked(lengths=(7, 5), features: int = 2) -> tuple[np.ndarray, np.ndarray]:
    n = sum(lengths)
    values = np.arange(n * features, dtype=np.float32).reshape(n, features)
    series = np.repeat([f"s{i}" for i in range(len(lengths))], lengths)
    return values, series


def test_windows_stay_inside_their_series_and_follow_the_stride() -> None:
    values, series = stacked((7, 5))
    assert series_starts(series).tolist() == [0, 7]
    assert window_ends(np.array([0, 7]), 12, size=3, stride=1).tolist() == [
        2,
        3,
        4,
        5,
        6,
        9,
        10,
        11,
    ]
    assert window_ends(np.array([0, 7]), 12, size=3, stride=2).tolist() == [2, 4, 6, 9, 11]
    assert window_ends(np.array([0, 7]), 12, size=6, stride=1).tolist() == [5, 6]  # 5 rows: none
    windows = Windows.of(values, series, size=3, stride=1)
    assert len(windows) == 8 and windows.n_columns == 6
    with pytest.raises(ValueError, match="at least 1"):
        window_ends(np.array([0]), 4, size=0, stride=1)


def test_a_window_is_its_rows_flattened_time_major_and_the_view_is_no_copy() -> None:
    values, series = stacked((7, 5))
    windows = Windows.of(values, series, size=3, stride=1)
    assert np.shares_memory(windows.view(), values)
    first = windows.take(np.array([0]))[0]
    np.testing.assert_array_equal(first, values[0:3].reshape(-1))  # [t0f0, t0f1, t1f0, ...]
    second_series = windows.take(np.array([5]))[0]
    np.testing.assert_array_equal(second_series, values[7:10].reshape(-1))
    every = np.concatenate(list(windows.batches(3)))
    np.testing.assert_array_equal(every, windows.take())
    assert every.shape == (8, 6) and every.flags["C_CONTIGUOUS"]


def test_causal_row_scores_use_the_latest_window_of_the_series_only() -> None:
    values, series = stacked((7, 5))
    windows = Windows.of(values, series, size=3, stride=2)  # ends 2, 4, 6 | 9, 11
    scores = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    rows = row_scores(scores, windows.ends, series, 3, "causal")
    expected = [np.nan, np.nan, 1, 1, 2, 2, 3, np.nan, np.nan, 10, 10, 20]
    np.testing.assert_array_equal(rows, expected)


def test_covering_row_scores_take_the_highest_window_over_the_row() -> None:
    values, series = stacked((7, 5))
    windows = Windows.of(values, series, size=3, stride=1)  # ends 2..6 | 9..11
    scores = np.array([1.0, 5.0, 2.0, 0.0, 0.0, 7.0, 1.0, 3.0])
    rows = row_scores(scores, windows.ends, series, 3, "cover")
    np.testing.assert_array_equal(rows, [1, 5, 5, 5, 2, 0, 0, 7, 7, 7, 3, 3])


def test_causal_scores_never_look_ahead() -> None:
    rng = np.random.default_rng(0)
    values, series = stacked((40, 25, 30), features=3)
    windows = Windows.of(values, series, size=5, stride=1)
    scores = rng.normal(size=len(windows))
    base = row_scores(scores, windows.ends, series, 5)
    for cut in rng.choice(len(windows), size=10, replace=False):
        changed = scores.copy()
        changed[cut:] = rng.normal(size=len(scores) - cut)  # every later window changes
        later = row_scores(changed, windows.ends, series, 5)
        before = np.arange(len(series)) < windows.ends[cut]
        np.testing.assert_array_equal(later[before], base[before])


def test_each_row_gets_the_window_that_ends_at_it_padded_with_its_series_first_row() -> None:
    values, series = stacked((4, 3))
    out = row_windows(values, series, size=3)
    assert out.shape == (7, 6)
    # row 1 of s0: its first row twice before it... then itself
    np.testing.assert_array_equal(out[1], np.r_[values[0], values[0], values[1]])
    np.testing.assert_array_equal(out[3], np.r_[values[1], values[2], values[3]])
    # s1's first row never sees s0's rows
    np.testing.assert_array_equal(out[4], np.r_[values[4], values[4], values[4]])
    np.testing.assert_array_equal(out[6], np.r_[values[4], values[5], values[6]])


def test_a_row_window_never_changes_with_the_rows_after_it() -> None:
    values, series = stacked((9,), features=3)
    full = row_windows(values, series, size=4)
    for n in range(1, 10):
        np.testing.assert_array_equal(row_windows(values[:n], series[:n], size=4), full[:n])


def test_each_series_is_standardised_by_its_own_first_rows() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(5.0, 2.0, size=(50, 2))
    b = rng.normal(-3.0, 0.5, size=(40, 2))
    series = np.repeat(["a", "b"], [50, 40])
    out = SeriesScale(warmup=20).apply(np.r_[a, b], series)
    np.testing.assert_allclose(out[:20].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out[50:70].std(axis=0), 1.0, atol=1e-12)
    expected = (b - b[:20].mean(axis=0)) / b[:20].std(axis=0)
    np.testing.assert_allclose(out[50:], expected)


def test_a_series_shorter_than_its_warmup_is_refused_by_name() -> None:
    values, series = stacked((30, 5))
    with pytest.raises(ValueError, match=r"series 's1' has 5 rows.*first 10 rows"):
        SeriesScale(warmup=10).apply(values, series)


def test_training_keeps_whole_windows_only_every_stride_rows() -> None:
    from aeops.data.split import Fold

    series = np.repeat(np.array(["a", "b"], dtype=object), [6, 4])
    x = np.arange(10, dtype=np.float32)[:, None]
    fold = Fold(x, np.zeros(10, object), np.zeros(10, bool), np.zeros(10, bool), series)
    kept = fold.windows(size=3, stride=1)
    assert kept.x[:, 0].tolist() == [2, 3, 4, 5, 8, 9]  # each series from its third row
    assert kept.series.tolist() == ["a"] * 4 + ["b"] * 2
    assert fold.windows(size=3, stride=2).x[:, 0].tolist() == [2, 4, 8]
    assert fold.windows(size=1, stride=1) is fold
