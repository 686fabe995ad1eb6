"""Sliding windows over stacked series: lazy, never crossing a series, flattened time-major;
row scores from window scores, causal (no look-ahead) or covering."""

from __future__ import annotations

import numpy as np
import pytest

from aeops.data.windows import Windows, row_scores, series_starts, window_ends


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
    windows = Windows.of(values, series, size=3)
    assert len(windows) == 8 and windows.n_columns == 6
    with pytest.raises(ValueError, match="at least 1"):
        window_ends(np.array([0]), 4, size=0, stride=1)


def test_a_window_is_its_rows_flattened_time_major_and_the_view_is_no_copy() -> None:
    values, series = stacked((7, 5))
    windows = Windows.of(values, series, size=3)
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
    windows = Windows.of(values, series, size=3)  # ends 2..6 | 9..11
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
