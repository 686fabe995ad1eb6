"""A stream as a person reads it: one figure per series, on one time axis, the sensors (each
standardised by the series' training rows, so eight sensors share an axis), the true fault
spans shaded red, and below them the model's score, its threshold and the alarms it raised
(shaded orange). Training rows are drawn but not scored: the score starts where the model
was first asked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aeops.evaluation.plots import _pyplot, _save

MAX_SERIES = 12  # figures drawn (the first series in order); the figures cover every row


def _spans(ax, times: np.ndarray, mask: np.ndarray, color: str, label: str) -> None:
    """Shade each run of ``mask`` (one legend entry for all)."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    for k, (a, b) in enumerate(zip(starts, stops, strict=True)):
        ax.axvspan(
            times[a], times[b], color=color, alpha=0.18, lw=0, label=label if k == 0 else None
        )


@dataclass(frozen=True)
class SeriesView:
    """One series' rows as drawn: ``times``, ``sensors`` (rows x columns, standardised),
    ``scores`` (NaN where not scored), fault rows ``truth`` and alarm rows ``flags``."""

    times: np.ndarray
    sensors: pd.DataFrame
    scores: np.ndarray
    truth: np.ndarray
    flags: np.ndarray


def plot_series(out: Path, title: str, view: SeriesView, threshold: float) -> Path:
    """The figure of one series at ``threshold``, written to ``out``."""
    times, sensors, scores, truth, flags = (
        view.times, view.sensors, view.scores, view.truth, view.flags
    )  # fmt: skip
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for name in sensors.columns:
        top.plot(times, sensors[name].to_numpy(), lw=0.8, label=str(name))
    _spans(top, times, truth, "tab:red", "fault (label)")
    top.set_ylabel("sensor (z, training rows)")
    top.legend(loc="upper left", fontsize=7, ncol=min(5, len(sensors.columns) + 1), frameon=False)
    top.set_title(title, fontsize=10)
    bottom.plot(times, scores, color="black", lw=0.9, label="score")
    bottom.axhline(threshold, color="tab:orange", ls="--", lw=1, label="threshold")
    _spans(bottom, times, truth, "tab:red", "fault (label)")
    _spans(bottom, times, flags, "tab:orange", "alarm")
    positive = scores[np.isfinite(scores) & (scores > 0)]
    if len(positive) and positive.max() / max(positive.min(), 1e-12) > 100:
        bottom.set_yscale("log")
    bottom.set_ylabel("score")
    bottom.set_xlabel("time")
    bottom.legend(loc="upper left", fontsize=7, ncol=4, frameon=False)
    fig.tight_layout()
    return _save(fig, out)
