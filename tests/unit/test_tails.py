"""``data.scaler: quantile``: rank-Gauss inside the training range, standard scaling's slope
beyond it, so anomalies in a column's tail stay ordered and apart (scikit-learn's
QuantileTransformer clips them onto its last quantile)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aeops.data.preprocess import dump_trusted, load_trusted
from aeops.data.tails import TailGaussScaler


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    x = np.c_[rng.lognormal(0, 1.5, 2000), rng.normal(3, 2, 2000), rng.integers(0, 2, 2000),
              rng.exponential(size=2000) ** 3]  # fmt: skip
    return x, TailGaussScaler().fit(x)


def test_skewed_columns_are_gaussed_and_the_rest_standard_scaled(fitted):
    x, scaler = fitted
    assert scaler.gaussed_.tolist() == [True, False, False, True]
    y = scaler.transform(x)
    np.testing.assert_allclose(y[:, 1], (x[:, 1] - x[:, 1].mean()) / x[:, 1].std(), atol=1e-9)
    np.testing.assert_allclose(y[:, 2], (x[:, 2] - x[:, 2].mean()) / x[:, 2].std(), atol=1e-9)
    for j in (0, 3):  # a heavy tail spread into a near-normal bulk
        assert abs(np.median(y[:, j])) < 0.05 and 0.9 < y[:, j].std() < 1.1
        assert np.all(np.diff(y[np.argsort(x[:, j]), j]) >= 0)  # monotone


def test_values_beyond_the_training_range_stay_ordered_and_apart(fitted):
    x, scaler = fitted
    top = x[:, 0].max()
    beyond = np.tile(x[:1], (3, 1))
    beyond[:, 0] = [top + 1.0, top + 10.0, top + 100.0]
    y = scaler.transform(beyond)[:, 0]
    slope = 1 / x[:, 0].std()
    np.testing.assert_allclose(np.diff(y), [9 * slope, 90 * slope])
    assert y[0] > scaler.transform(x)[:, 0].max()
    below = scaler.transform(np.tile([[-5.0, 0, 0, -1.0]], (1, 1)))
    assert below[0, 0] < scaler.transform(x)[:, 0].min()


def test_the_inverse_and_the_relu_form_are_the_same_map(fitted):
    x, scaler = fitted
    rows = np.r_[x[:50], [[1e3, 50.0, 3.0, 1e4]], [[-2.0, -50.0, -1.0, -3.0]]]
    y = scaler.transform(rows)
    np.testing.assert_allclose(scaler.inverse_transform(y), rows, rtol=1e-9, atol=1e-9)
    start, base, left, at, delta = (torch.as_tensor(a) for a in scaler.relu_form())
    t = torch.as_tensor(rows)
    relu = (torch.relu(t[:, :, None] - at[None]) * delta[None]).sum(-1)
    np.testing.assert_allclose((base + left * (t - start) + relu).numpy(), y, atol=1e-6)


def test_missing_stays_missing_and_a_saved_scaler_loads_as_data(fitted, tmp_path):
    x, scaler = fitted
    rows = x[:5].copy()
    rows[1, 0] = np.nan
    assert np.isnan(scaler.transform(rows)[1, 0])
    dump_trusted(scaler, tmp_path / "tails.skops")
    np.testing.assert_array_equal(
        load_trusted(tmp_path / "tails.skops").transform(x), scaler.transform(x)
    )
