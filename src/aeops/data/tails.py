"""Rank-Gauss scaling that keeps the tails: ``data.scaler: quantile``.

Skewed, heavy-tailed columns put most normal rows in a narrow band and a few far out; a
standard-scaled reconstruction error then spreads anomalies thin. A quantile (rank-Gauss) map
spreads the bulk evenly, but scikit-learn's ``QuantileTransformer`` clips every value beyond
the training range onto the last quantile, which is exactly where such anomalies live.

:class:`TailGaussScaler` is a monotone piecewise-linear map per column, fit on the normal
training rows: through the column's quantiles onto the standard normal's inside the training
range, and beyond it a straight line with standard scaling's slope (``1 / std``), so a value
twice as far out stays twice as far out and ordered. Columns that are not skewed
(``|skewness| <= skew_threshold``, with the default ``columns="skewed"``) get standard scaling
itself (a two-knot line). Every column is the same shape of function, so the map is a sum of
ReLUs (:meth:`TailGaussScaler.relu_form`), which the exported ONNX graph evaluates as is.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

KNOTS = 64  # quantiles per skewed column (fewer where the column has fewer distinct values)


def _normal_ppf(p: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    return ndtri(p)


def _skewness(x: np.ndarray) -> float:
    centred = x - x.mean()
    sd = np.sqrt(np.mean(centred**2))
    return float(np.mean(centred**3) / sd**3) if sd > 0 else 0.0


def _line_through(x: np.ndarray, xs: np.ndarray, ys: np.ndarray, slope: float) -> np.ndarray:
    """``x`` through the increasing points ``(xs, ys)``, straight on with ``slope`` beyond
    either end; NaN stays NaN."""
    y = np.interp(x, xs, ys)
    y = np.where(x < xs[0], ys[0] + (x - xs[0]) * slope, y)
    y = np.where(x > xs[-1], ys[-1] + (x - xs[-1]) * slope, y)
    return np.where(np.isnan(x), np.nan, y)


class TailGaussScaler(TransformerMixin, BaseEstimator):
    """Per column ``knots_[j]`` (increasing) map onto ``values_[j]``; outside, slopes
    ``left_[j]`` and ``right_[j]`` (standard scaling's). NaN stays NaN."""

    def __init__(self, columns: str = "skewed", skew_threshold: float = 1.0, n_knots: int = KNOTS):
        self.columns = columns
        self.skew_threshold = skew_threshold
        self.n_knots = n_knots

    def fit(self, X, y=None):  # noqa: N803 (scikit-learn's signature)
        X = np.asarray(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        fitted = [self._fit_column(X[:, j][np.isfinite(X[:, j])]) for j in range(X.shape[1])]
        self.knots_: list[np.ndarray] = [f[0] for f in fitted]
        self.values_: list[np.ndarray] = [f[1] for f in fitted]
        self.slopes_ = np.asarray([f[2] for f in fitted], dtype=np.float64)
        self.gaussed_ = np.asarray([f[3] for f in fitted], dtype=bool)
        return self

    def _fit_column(self, col: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, bool]:
        if len(col) == 0:
            return np.array([-1.0, 1.0]), np.array([-1.0, 1.0]), 1.0, False
        mean, sd = float(col.mean()), float(col.std())
        slope = 1.0 / sd if sd > 0 else 1.0
        skewed = self.columns == "all" or abs(_skewness(col)) > self.skew_threshold
        distinct = np.unique(col)
        if not skewed or len(distinct) < 3:
            knots = np.array([mean - 1.0 / slope, mean + 1.0 / slope])
            return knots, np.array([-1.0, 1.0]), slope, False
        n = len(col)
        # each distinct value at the normal quantile of its mid-rank: ties share one point
        order = np.sort(col)
        first = np.searchsorted(order, distinct, side="left")
        last = np.searchsorted(order, distinct, side="right")
        z = _normal_ppf((first + last) / 2.0 / n)
        if len(distinct) > self.n_knots:  # thin to n_knots, keeping both ends
            keep = np.unique(np.linspace(0, len(distinct) - 1, self.n_knots).round().astype(int))
            distinct, z = distinct[keep], z[keep]
        return distinct.astype(np.float64), z.astype(np.float64), slope, True

    def transform(self, X):  # noqa: N803
        return self._each_column(X, inverse=False)

    def inverse_transform(self, X):  # noqa: N803
        return self._each_column(X, inverse=True)

    def _each_column(self, X, inverse: bool) -> np.ndarray:  # noqa: N803
        X = np.asarray(X, dtype=np.float64)
        out = np.empty_like(X)
        for j in range(X.shape[1]):
            knots, values, slope = self.knots_[j], self.values_[j], self.slopes_[j]
            if inverse:
                knots, values, slope = values, knots, 1.0 / slope
            out[:, j] = _line_through(X[:, j], knots, values, slope)
        return out

    def get_feature_names_out(self, input_features=None):
        if input_features is None:
            return np.asarray([f"x{j}" for j in range(self.n_features_in_)], dtype=object)
        return np.asarray(input_features, dtype=object)

    def relu_form(self) -> tuple[np.ndarray, ...]:
        """The map as ``base + left * (x - start) + sum_k delta[:, k] * relu(x - at[:, k])``,
        padded to one width: ``(start, base, left, at, delta)`` with ``at`` and ``delta`` of
        shape (columns, knots); padding has ``delta = 0``. The first slope is the left
        extrapolation; each knot changes the slope by its ``delta``, and past the last knot
        the slope is the right extrapolation's."""
        width = max(len(k) for k in self.knots_)
        d = len(self.knots_)
        start, base = np.zeros(d), np.zeros(d)
        at, delta = np.zeros((d, width)), np.zeros((d, width))
        for j, (knots, values) in enumerate(zip(self.knots_, self.values_, strict=True)):
            inner = np.diff(values) / np.diff(knots)
            slopes = np.concatenate([[self.slopes_[j]], inner, [self.slopes_[j]]])
            start[j], base[j] = knots[0], values[0]
            at[j, : len(knots)] = knots
            at[j, len(knots) :] = knots[-1]
            delta[j, : len(knots)] = np.diff(slopes)
        return start, base, self.slopes_.copy(), at, delta
