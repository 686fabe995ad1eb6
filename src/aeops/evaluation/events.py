"""Stream figures: how an anomaly detector scores on sensor streams (time series).

A stream is a table whose rows are readings in time order, possibly several streams
(``series``) stacked one after another. ``truth`` marks the fault rows; a fault *event* is
a run of consecutive fault rows of one series. A detector gives each row a score, and a
decision rule (:func:`alarms`) turns scores into ``flags``; an *alarm segment* is a run of
consecutive flagged rows of one series. Nothing here crosses a series boundary: an event
or alarm segment that reaches the last row of one series ends there.

The figures follow the SKAB benchmark (point-wise F1, false-alarm rate FAR, missed-alarm
rate MAR) and TSB-AD (AUC-PR, VUS-PR, point-adjusted F1), plus the event-level figures an
operator reads: how many faults were caught, how late, and how many false alarms an
hour. Pure functions of NumPy arrays: no file, tracker or device is touched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

__all__ = [
    "VUS_THRESHOLDS",
    "VUS_WINDOW",
    "Segment",
    "StreamFigures",
    "alarms",
    "events",
    "stream_figures",
    "vus_pr",
]

Segment = tuple[int, int]
"""``(start, stop)`` row indices of a run, ``stop`` exclusive (``rows[start:stop]``)."""

VUS_WINDOW = 100
"""Default largest buffer width of VUS-PR: TSB-AD's ``get_metrics(slidingWindow=100)``."""

VUS_THRESHOLDS = 250
"""Thresholds VUS-PR samples along the sorted scores, as TSB-AD (``thre=250``)."""

NAN = float("nan")


def _ratio(part: float, whole: float) -> float:
    """``part / whole``, NaN when ``whole`` is zero (the figure is undefined, not zero)."""
    return float(part / whole) if whole else NAN


def _as_bool(values: Any, name: str, n: int | None = None) -> np.ndarray:
    array = np.asarray(values).astype(bool).ravel()
    if n is not None and len(array) != n:
        raise ValueError(f"{name} has {len(array)} rows, expected {n}")
    return array


def _series_first(series: Any, n: int) -> np.ndarray:
    """True at the first row of each series (row 0 included); one series when ``None``.

    Raises ``ValueError`` when a series id reappears after another series began (its rows
    are not contiguous) or when the lengths differ."""
    first = np.zeros(n, dtype=bool)
    if n == 0:
        return first
    first[0] = True
    if series is None:
        return first
    ids = np.asarray(series).ravel()
    if len(ids) != n:
        raise ValueError(f"series has {len(ids)} rows, expected {n}")
    first[1:] = ids[1:] != ids[:-1]
    if int(first.sum()) != len(np.unique(ids)):
        raise ValueError("the rows of each series must be contiguous and in time order")
    return first


def _runs(mask: np.ndarray, first: np.ndarray) -> list[Segment]:
    """Runs of True in ``mask`` that stop at series boundaries (``first`` marks them)."""
    if len(mask) == 0:
        return []
    last = np.r_[first[1:], True]
    before = np.r_[False, mask[:-1]]
    after = np.r_[mask[1:], False]
    starts = np.flatnonzero(mask & (first | ~before))
    stops = np.flatnonzero(mask & (last | ~after)) + 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def events(truth: Any, series: Any = None) -> list[Segment]:
    """The events of ``truth``: each run of consecutive True rows of one series, as
    ``(start, stop)`` with ``stop`` exclusive, in row order.

    The same helper gives the alarm segments of a flag array: ``events(flags, series)``.
    A run that reaches the end of a series stops there even if the next series begins
    with True: events never cross a series boundary."""
    mask = _as_bool(truth, "truth")
    return _runs(mask, _series_first(series, len(mask)))


def alarms(scores: Any, threshold: float, min_run: int, series: Any = None) -> np.ndarray:
    """Causal alarm rule: flag row ``i`` when it and the ``min_run - 1`` rows before it,
    all of its own series, score above ``threshold``.

    A minimum run is hysteresis against one noisy reading: with ``min_run=3`` a two-row
    blip raises nothing and a long excursion raises its first flag on its third row. The
    flag of row ``i`` depends on rows ``<= i`` only (it never looks ahead), so the rule can
    run online. ``min_run=1`` is plain ``scores > threshold``; a NaN score never exceeds."""
    if min_run < 1:
        raise ValueError(f"min_run must be at least 1, got {min_run}")
    values = np.asarray(scores, dtype=float).ravel()
    above = values > threshold
    n = len(above)
    if n == 0:
        return above
    first = _series_first(series, n)
    begins = above & (first | ~np.r_[False, above[:-1]])
    rows = np.arange(n)
    run_start = np.maximum.accumulate(np.where(begins, rows, 0))
    return above & (rows - run_start + 1 >= min_run)


@dataclass(frozen=True)
class StreamFigures:
    """How a detector's flags (and, where given, scores) match the fault rows of a stream.

    Shares are fractions in 0..1. A figure whose denominator is empty (no fault rows, no
    flags, no events, no alarm segments, ...) is NaN: undefined, not zero."""

    f1: float  # point-wise F1 = 2TP / (2TP + FP + FN), rows as the unit (SKAB's F1)
    far: float  # false-alarm rate: share of normal rows flagged, FP / (FP + TN) (SKAB's FAR)
    mar: float  # missed-alarm rate: share of fault rows not flagged, FN / (TP + FN) (SKAB's MAR)
    precision: float  # point-wise: share of flagged rows that are fault rows
    recall: float  # point-wise: share of fault rows flagged (1 - mar)
    event_recall: float  # share of fault events with at least one flagged row
    event_precision: float  # share of alarm segments that overlap a fault event
    mean_delay_s: float  # mean over caught events: seconds from event start to first flag
    false_alarms_per_hour: float  # alarm segments touching no event, per hour of normal time
    auc_pr: float  # average precision of the scores, point-wise (threshold free)
    vus_pr: float  # volume under the range-PR surface (TSB-AD's VUS-PR), threshold free
    pa_f1: float  # point-adjusted F1: INFLATED, never a headline (a random score gets high)
    n_events: int  # number of fault events (runs of fault rows within a series)
    n_rows: int  # number of rows scored

    def to_dict(self) -> dict[str, Any]:
        """The figures by field name, exactly as computed (nothing rounded)."""
        return asdict(self)


@dataclass(frozen=True)
class _Pointwise:
    precision: float
    recall: float
    f1: float
    far: float
    mar: float


def _pointwise(truth: np.ndarray, flags: np.ndarray) -> _Pointwise:
    """Row-level confusion counts turned into precision, recall, F1, FAR and MAR."""
    tp = int(np.sum(truth & flags))
    fp = int(np.sum(~truth & flags))
    fn = int(np.sum(truth & ~flags))
    tn = int(np.sum(~truth & ~flags))
    return _Pointwise(
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        far=_ratio(fp, fp + tn),
        mar=_ratio(fn, tp + fn),
    )


def _point_adjusted_f1(truth: np.ndarray, flags: np.ndarray, caught: list[Segment]) -> float:
    """F1 after point adjustment: every row of a caught event counts as flagged.

    INFLATED by construction (Kim et al., AAAI 2022): one lucky flag inside a long event
    credits the whole event, so random flags reach a high PA-F1. Kept for comparison with
    papers that report it; never a headline figure."""
    adjusted = flags.copy()
    for start, stop in caught:
        adjusted[start:stop] = True
    return _pointwise(truth, adjusted).f1


def _sampling_interval(seconds: np.ndarray, first: np.ndarray) -> float:
    """Median time step between consecutive rows of one series (NaN with no such pair)."""
    steps = np.diff(seconds)[~first[1:]]
    return float(np.median(steps)) if len(steps) else NAN


def _seconds(seconds: Any, n: int) -> np.ndarray:
    if seconds is None:
        return np.arange(n, dtype=float)
    times = np.asarray(seconds, dtype=float).ravel()
    if len(times) != n:
        raise ValueError(f"seconds has {len(times)} rows, expected {n}")
    return times


def _overlaps(segments: list[Segment], mask: np.ndarray) -> np.ndarray:
    """For each segment, whether ``mask`` is True on at least one of its rows."""
    if not segments:
        return np.zeros(0, dtype=bool)
    counts = np.r_[0, np.cumsum(mask)]
    bounds = np.asarray(segments)
    return np.asarray(counts[bounds[:, 1]] - counts[bounds[:, 0]] > 0, dtype=bool)


def _mean_delay(caught: list[Segment], flags: np.ndarray, seconds: np.ndarray) -> float:
    """Mean seconds from each caught event's first row to its first flagged row."""
    if not caught:
        return NAN
    starts = np.asarray([start for start, _ in caught])
    flagged = np.flatnonzero(flags)
    first_flag = flagged[np.searchsorted(flagged, starts)]
    return float(np.mean(seconds[first_flag] - seconds[starts]))


def stream_figures(
    truth: Any,
    flags: Any,
    scores: Any = None,
    series: Any = None,
    seconds: Any = None,
    vus_window: int = VUS_WINDOW,
) -> StreamFigures:
    """Score a detector on a stream: ``flags`` (one bool per row, e.g. from :func:`alarms`)
    against ``truth`` (True on fault rows), and, when given, the raw ``scores``.

    ``series`` (one id per row, rows of a series contiguous and in time order) keeps events
    and alarm segments inside their series; ``seconds`` (time of each row) gives delays in
    seconds and the hours behind ``false_alarms_per_hour``; by default row ``i`` is at
    ``i`` seconds. ``false_alarms_per_hour`` = alarm segments that overlap no event /
    (normal rows x median sampling interval / 3600 s): the normal-operation time is
    counted as normal rows times the typical step, so gaps between series or recordings
    add no hours. ``vus_window`` is VUS-PR's largest buffer width (see :func:`vus_pr`).
    AUC-PR and VUS-PR are NaN without scores or when ``truth`` holds one class only."""
    truth = _as_bool(truth, "truth")
    n = len(truth)
    flags = _as_bool(flags, "flags", n)
    first = _series_first(series, n)
    times = _seconds(seconds, n)
    faults, segments = _runs(truth, first), _runs(flags, first)
    caught = [event for event, hit in zip(faults, _overlaps(faults, flags), strict=True) if hit]
    false_alarms = int(np.sum(~_overlaps(segments, truth)))
    normal_hours = np.sum(~truth) * _sampling_interval(times, first) / 3600.0
    point = _pointwise(truth, flags)
    return StreamFigures(
        f1=point.f1,
        far=point.far,
        mar=point.mar,
        precision=point.precision,
        recall=point.recall,
        event_recall=_ratio(len(caught), len(faults)),
        event_precision=_ratio(len(segments) - false_alarms, len(segments)),
        mean_delay_s=_mean_delay(caught, flags, times),
        false_alarms_per_hour=_ratio(false_alarms, normal_hours),
        auc_pr=_auc_pr(truth, scores),
        vus_pr=NAN if scores is None else vus_pr(truth, scores, vus_window, series=series),
        pa_f1=_point_adjusted_f1(truth, flags, caught),
        n_events=len(faults),
        n_rows=n,
    )


def _both_classes(truth: np.ndarray) -> bool:
    return bool(truth.any() and (~truth).any())


def _auc_pr(truth: np.ndarray, scores: Any) -> float:
    """scikit-learn's average precision of the scores; NaN without scores or one class."""
    if scores is None or not _both_classes(truth):
        return NAN
    values = np.asarray(scores, dtype=float).ravel()
    if len(values) != len(truth):
        raise ValueError(f"scores has {len(values)} rows, expected {len(truth)}")
    return float(average_precision_score(truth, values))


# VUS-PR -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _VusInputs:
    """What every buffer width of VUS-PR shares: the events, where each row is first
    predicted along the sampled thresholds, and per-threshold counts."""

    truth: np.ndarray  # fault rows
    starts: np.ndarray  # first row of each event
    ends: np.ndarray  # last row of each event (inclusive, as in the reference)
    lows: np.ndarray  # first row of each event's series
    highs: np.ndarray  # one past the last row of each event's series
    groups: np.ndarray  # series number of each event
    rank: np.ndarray  # first threshold index at which each row is predicted
    hits: np.ndarray  # per threshold: fault rows predicted
    n_pred: np.ndarray  # per threshold: rows predicted


def _threshold_rank(scores: np.ndarray, n_thresholds: int) -> np.ndarray:
    """Index of the first sampled threshold at which each row is predicted.

    As TSB-AD: the thresholds are the sorted (descending) scores at ``n_thresholds``
    evenly spaced positions, and threshold ``j`` predicts the rows with score >= it."""
    ordered = -np.sort(-scores)
    picks = np.linspace(0, len(scores) - 1, n_thresholds).astype(int)
    rising = ordered[picks][::-1]
    return n_thresholds - np.searchsorted(rising, scores, side="right")


def _vus_inputs(
    truth: np.ndarray, scores: np.ndarray, series: Any, n_thresholds: int
) -> _VusInputs:
    n = len(truth)
    first = _series_first(series, n)
    series_starts = np.flatnonzero(first)
    series_stops = np.r_[series_starts[1:], n]
    bounds = np.asarray(_runs(truth, first))
    groups = np.cumsum(first)[bounds[:, 0]] - 1
    rank = _threshold_rank(scores, n_thresholds)
    per_threshold = np.bincount(rank, minlength=n_thresholds)
    return _VusInputs(
        truth=truth,
        starts=bounds[:, 0],
        ends=bounds[:, 1] - 1,
        lows=series_starts[groups],
        highs=series_stops[groups],
        groups=groups,
        rank=rank,
        hits=np.cumsum(np.bincount(rank[truth], minlength=n_thresholds)).astype(float),
        n_pred=np.cumsum(per_threshold).astype(float),
    )


def _buffer_labels(data: _VusInputs, window: int) -> np.ndarray:
    """Label weight of each normal row near an event, for buffer width ``window``.

    ``window // 2`` rows on each side of an event (inside its series) get weight
    ``sqrt(1 - d / window)`` at distance ``d``; weights of neighbouring events add and are
    capped at 1. Fault rows keep weight 1 elsewhere, so they are zero here."""
    n, half = len(data.truth), window // 2
    labels = np.zeros(n)
    if half == 0:
        return labels
    distance = np.arange(1, half + 1)
    weight = np.broadcast_to(np.sqrt(1 - distance / window), (len(data.starts), half))
    before = data.starts[:, None] - distance
    after = data.ends[:, None] + distance
    keep_before = before >= data.lows[:, None]
    keep_after = after < data.highs[:, None]
    positions = np.r_[before[keep_before], after[keep_after]]
    weights = np.r_[weight[keep_before], weight[keep_after]]
    labels = np.minimum(np.bincount(positions, weights, minlength=n), 1.0)
    labels[data.truth] = 0.0
    return labels


def _existence(data: _VusInputs, half: int, n_thresholds: int) -> np.ndarray:
    """Per threshold, the share of buffered event ranges with at least one predicted row.

    An event's range runs ``half`` rows either side of it (clipped to its series);
    ranges of one series that touch or overlap merge into one, as TSB-AD's
    ``new_sequence`` does (separate only when ``end + half < next start - half``)."""
    split = (data.starts[1:] - half > data.ends[:-1] + half) | (data.groups[1:] != data.groups[:-1])
    opens = np.flatnonzero(np.r_[True, split])
    closes = np.r_[opens[1:], len(data.starts)] - 1
    lo = np.maximum(data.starts[opens] - half, data.lows[opens])
    hi = np.minimum(data.ends[closes] + half, data.highs[closes] - 1)
    padded = np.r_[data.rank, n_thresholds]
    first_hit = np.minimum.reduceat(padded, np.ravel(np.column_stack([lo, hi + 1])))[::2]
    touched = np.cumsum(np.bincount(first_hit, minlength=n_thresholds + 1))[:n_thresholds]
    return touched / len(opens)


def _range_average_precision(data: _VusInputs, window: int, n_thresholds: int) -> float:
    """Range-based average precision for one buffer width (one slice of the surface).

    Per sampled threshold: TP = predicted fault rows + label weight of predicted buffer
    rows; recall = min(TP / P_new, 1) with P_new = (P + N_labels) / 2, P the fault rows
    and N_labels = P + weight of the predicted buffer rows (the reference's compromise,
    "so TPR is neither large nor small"), times the share of event ranges touched
    (existence); precision = TP / rows predicted. The area is the sum over thresholds of
    (recall step) x precision, recall starting from 0."""
    labels = _buffer_labels(data, window)
    near = np.flatnonzero(labels)
    credit = np.cumsum(np.bincount(data.rank[near], labels[near], minlength=n_thresholds))
    credit = credit[:n_thresholds]
    positives = float(np.sum(data.truth))
    true_positive = data.hits + credit
    recall = np.minimum(true_positive / (positives + credit / 2), 1.0)
    tpr = recall * _existence(data, window // 2, n_thresholds)
    precision = true_positive / data.n_pred
    return float(np.dot(np.diff(np.r_[0.0, tpr]), precision))


def vus_pr(
    truth: Any,
    scores: Any,
    max_window: int = VUS_WINDOW,
    series: Any = None,
    n_thresholds: int = VUS_THRESHOLDS,
) -> float:
    """Volume Under the range-PR Surface (VUS-PR) of Paparrizos et al., "Volume Under the
    Surface: a new accuracy evaluation measure for time-series anomaly detection", VLDB
    2022: threshold-free like AUC-PR, but a flag near an event earns partial credit.

    For each buffer width ``w`` in ``0..max_window``, each event is widened by ``w // 2``
    rows on both sides whose label weight decays as ``sqrt(1 - d / w)`` with the distance
    ``d``; a range-based PR curve is traced over ``n_thresholds`` thresholds sampled along
    the sorted scores (see :func:`_range_average_precision`), its area taken step-wise;
    VUS-PR is the mean of these areas over the ``max_window + 1`` widths. In 0..1, 1.0 for
    a score that ranks every fault row above every other row.

    A faithful, vectorised reimplementation of TSB-AD's
    ``basic_metricor.RangeAUC_volume_opt`` (github.com/TheDatumOrg/TSB-AD,
    ``TSB_AD/evaluation/basic_metrics.py``; ``metrics.get_metrics`` passes its
    ``slidingWindow`` as the largest width, an older version passed ``2 * slidingWindow``).
    One extension: with ``series``, buffers and event ranges stop at series boundaries
    (the reference scores one series at a time); thresholds stay pooled over all rows.
    With ``max_window=0`` there is no buffer and the figure is the step-wise AUC-PR with
    recall multiplied by the share of events touched; with one event, and no more rows
    than thresholds (every score a threshold), it equals scikit-learn's average precision.
    NaN when ``truth`` holds one class only."""
    mask = _as_bool(truth, "truth")
    values = np.asarray(scores, dtype=float).ravel()
    if len(values) != len(mask):
        raise ValueError(f"scores has {len(values)} rows, expected {len(mask)}")
    if np.isnan(values).any():
        raise ValueError("scores hold NaN; VUS-PR needs a score for every row")
    if max_window < 0 or n_thresholds < 1:
        raise ValueError("max_window must be >= 0 and n_thresholds >= 1")
    if not _both_classes(mask):
        return NAN
    data = _vus_inputs(mask, values, series, n_thresholds)
    areas = [_range_average_precision(data, w, n_thresholds) for w in range(max_window + 1)]
    return float(np.mean(areas))
