"""Stream figures: point-wise, event-level and threshold-free scores of a detector."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from aeops.evaluation.events import StreamFigures, alarms, events, stream_figures, vus_pr


def bools(text: str) -> np.ndarray:
    return np.array([c == "1" for c in text])


# events and alarms -------------------------------------------------------------------


def test_events_are_runs_with_exclusive_stop():
    assert events(bools("0110001110")) == [(1, 3), (6, 9)]
    assert events(bools("1001")) == [(0, 1), (3, 4)]
    assert events(bools("0000")) == []
    assert events(np.array([], dtype=bool)) == []


def test_events_never_cross_a_series_boundary():
    truth = bools("111111")
    series = ["a", "a", "b", "b", "b", "c"]
    assert events(truth, series) == [(0, 2), (2, 5), (5, 6)]
    assert events(truth) == [(0, 6)]


def test_series_rows_must_be_contiguous():
    with pytest.raises(ValueError, match="contiguous"):
        events(bools("0000"), ["a", "b", "a", "a"])


def test_alarms_min_run_drops_a_blip_and_flags_from_the_third_row():
    scores = np.array([0, 5, 5, 0, 5, 5, 5, 5, 0], dtype=float)
    assert alarms(scores, 1.0, 1).tolist() == (scores > 1.0).tolist()
    assert alarms(scores, 1.0, min_run=3).tolist() == bools("000000110").tolist()


def test_alarms_runs_restart_at_a_series_boundary():
    scores = np.full(6, 9.0)
    flags = alarms(scores, 1.0, min_run=2, series=[0, 0, 0, 1, 1, 1])
    assert flags.tolist() == bools("011011").tolist()


def test_alarms_never_look_ahead():
    rng = np.random.default_rng(7)
    for _ in range(30):
        scores = rng.normal(size=40)
        split = int(rng.integers(1, 40))
        series = np.repeat([0, 1], [split, 40 - split]) if rng.random() < 0.5 else None
        min_run = int(rng.integers(1, 5))
        before = alarms(scores, 0.0, min_run, series)
        cut = int(rng.integers(0, 40))
        changed = scores.copy()
        changed[cut:] = rng.normal(size=40 - cut) * 3
        after = alarms(changed, 0.0, min_run, series)
        assert after[:cut].tolist() == before[:cut].tolist()


def test_alarms_rejects_a_zero_min_run():
    with pytest.raises(ValueError):
        alarms(np.zeros(3), 0.0, min_run=0)


# point-wise and event figures ----------------------------------------------------------


def test_pointwise_f1_far_mar_by_hand():
    # TP rows 2, 4; FP rows 1, 7; FN row 3; TN rows 0, 5, 6
    fig = stream_figures(bools("00111000"), bools("01101001"))
    assert fig.precision == pytest.approx(2 / 4)
    assert fig.recall == pytest.approx(2 / 3)
    assert fig.f1 == pytest.approx(4 / 7)  # 2TP / (2TP + FP + FN)
    assert fig.far == pytest.approx(2 / 5)  # FP / normal rows
    assert fig.mar == pytest.approx(1 / 3)  # FN / fault rows
    assert fig.n_rows == 8 and fig.n_events == 1


def test_event_recall_precision_and_delay_in_rows():
    truth = bools("0110001100")
    flags = bools("0010100001")
    fig = stream_figures(truth, flags)
    assert fig.event_recall == 0.5  # event (1,3) caught at row 2; event (6,8) missed
    assert fig.event_precision == pytest.approx(1 / 3)  # segments (2,3) hit; (4,5), (9,10) not
    assert fig.mean_delay_s == 1.0  # default: one second per row


def test_delay_in_seconds_and_nan_when_nothing_caught():
    truth = bools("0000111110001110")
    flags = bools("0000001100000110")
    seconds = np.arange(16) * 0.5  # 2 Hz
    fig = stream_figures(truth, flags, seconds=seconds)
    # event 1 starts row 4, first flag row 6 -> 1.0 s; event 2 starts row 12, flag 13 -> 0.5 s
    assert fig.mean_delay_s == pytest.approx(0.75)
    assert math.isnan(stream_figures(truth, np.zeros(16, bool)).mean_delay_s)


def test_event_figures_respect_series():
    truth = bools("0011" + "1100")
    flags = bools("0000" + "1000")
    fig = stream_figures(truth, flags, series=[0] * 4 + [1] * 4)
    assert fig.n_events == 2 and fig.event_recall == 0.5
    assert stream_figures(truth, flags).n_events == 1


def test_false_alarms_per_hour_counts_segments_over_normal_time():
    truth = bools("0000001110")
    flags = bools("0110100100")  # segments (1,3), (4,5) false; (7,8) on the event
    fig = stream_figures(truth, flags)
    assert fig.false_alarms_per_hour == pytest.approx(2 / (7 * 1.0 / 3600))
    slow = stream_figures(truth, flags, seconds=np.arange(10) * 10.0)
    assert slow.false_alarms_per_hour == pytest.approx(2 / (7 * 10.0 / 3600))


def test_undefined_figures_are_nan_and_to_dict_keeps_every_field():
    fig = stream_figures(np.zeros(5, bool), np.zeros(5, bool))
    for name in ("f1", "precision", "recall", "mar", "event_recall", "event_precision", "auc_pr"):
        assert math.isnan(getattr(fig, name)), name
    assert fig.far == 0.0 and fig.false_alarms_per_hour == 0.0
    values = stream_figures(bools("0110"), bools("0100"), scores=[0.1, 0.7, 0.3, 0.2]).to_dict()
    assert list(values) == list(StreamFigures.__dataclass_fields__)
    assert values["auc_pr"] == average_precision_score(bools("0110"), [0.1, 0.7, 0.3, 0.2])


# point adjustment and AUC-PR -----------------------------------------------------------


def test_pa_f1_is_at_least_f1():
    rng = np.random.default_rng(3)
    for _ in range(30):
        truth, flags = rng.random(60) < 0.3, rng.random(60) < 0.3
        fig = stream_figures(truth, flags)
        assert fig.pa_f1 >= fig.f1 or math.isnan(fig.f1)


def test_random_flags_get_a_high_pa_f1_and_a_low_f1():
    rng = np.random.default_rng(0)
    truth = np.zeros(2000, bool)
    for start in range(100, 2000, 400):
        truth[start : start + 50] = True  # five long events, 250 fault rows
    fig = stream_figures(truth, rng.random(2000) < 0.05)
    assert fig.f1 < 0.15
    assert fig.pa_f1 > 0.6


def test_auc_pr_equals_sklearn():
    rng = np.random.default_rng(5)
    truth = rng.random(300) < 0.1
    scores = rng.normal(size=300) + truth
    fig = stream_figures(truth, scores > 1.0, scores=scores)
    assert fig.auc_pr == pytest.approx(average_precision_score(truth, scores), abs=1e-15)
    assert math.isnan(stream_figures(truth, truth).auc_pr)


# VUS-PR --------------------------------------------------------------------------------


def reference_vus_pr(truth: np.ndarray, score: np.ndarray, max_window: int) -> float:
    """Loop-by-loop transcription of TSB-AD's ``RangeAUC_volume_opt`` (250 thresholds)."""
    labels, n = truth.astype(float), len(truth)
    seq = [(s, e - 1) for s, e in events(truth)]  # inclusive ends, as the reference
    desc = -np.sort(-score)
    thresholds = desc[np.linspace(0, n - 1, 250).astype(int)]
    areas = []
    for w in range(max_window + 1):
        h = w // 2
        ext = labels.copy()
        for s, e in seq:
            for x in range(e + 1, min(e + h + 1, n)):
                ext[x] += math.sqrt(1 - (x - e) / w)
            for x in range(max(s - h, 0), s):
                ext[x] += math.sqrt(1 - (s - x) / w)
        ext = np.minimum(ext, 1)
        ranges, a = [], max(seq[0][0] - h, 0)  # new_sequence: buffered, merged ranges
        for (_, e0), (s1, _) in zip(seq[:-1], seq[1:], strict=True):
            if e0 + h < s1 - h:
                ranges.append((a, e0 + h))
                a = s1 - h
        ranges.append((a, min(seq[-1][1] + h, n - 1)))
        prev = area = 0.0
        for thr in thresholds:
            pred = score >= thr
            lab = ext * pred
            lab[truth] = 1
            touched = sum(bool(pred[lo : hi + 1].any()) for lo, hi in ranges)
            tp = float(lab @ pred)
            tpr = min(tp / ((labels.sum() + lab.sum()) / 2), 1) * touched / len(ranges)
            area += (tpr - prev) * tp / pred.sum()
            prev = tpr
        areas.append(area)
    return float(np.mean(areas))


def test_vus_pr_by_hand_on_a_tiny_stream():
    truth = bools("001100")
    scores = np.array([0.1, 0.9, 0.8, 0.3, 0.2, 0.0])
    # widths 0 and 1: no buffer; thresholds 0.9, 0.8, 0.3 give recall 0, 1/2, 1 at
    # precision 0, 1/2, 2/3: area 7/12 (= sklearn's average precision here)
    assert vus_pr(truth, scores, 0) == pytest.approx(7 / 12)
    # width 2: rows 1 and 4 weigh c = sqrt(1 - 1/2); P_new = 2 + c/2 while only row 1
    # of the buffer is predicted; recall c/P_new, (1+c)/P_new, 1 at precision c, (1+c)/2, (2+c)/3
    c = math.sqrt(0.5)
    p_new = 2 + c / 2
    r1, r2 = c / p_new, (1 + c) / p_new
    width_2 = r1 * c + (r2 - r1) * (1 + c) / 2 + (1 - r2) * (2 + c) / 3
    expected = (7 / 12 + 7 / 12 + width_2) / 3
    assert vus_pr(truth, scores, 2) == pytest.approx(expected, abs=1e-12)
    assert reference_vus_pr(truth, scores, 2) == pytest.approx(expected, abs=1e-12)


def test_vus_pr_matches_the_transcribed_reference():
    rng = np.random.default_rng(11)
    for _ in range(6):
        n = int(rng.integers(20, 60))
        truth = np.zeros(n, bool)
        for start in rng.integers(0, n, size=3):
            truth[start : start + int(rng.integers(1, 6))] = True
        scores = np.round(rng.normal(size=n) + truth, 1)  # ties included
        window = int(rng.integers(0, 8))
        assert vus_pr(truth, scores, window) == pytest.approx(
            reference_vus_pr(truth, scores, window), abs=1e-12
        )


def test_vus_pr_at_width_zero_is_average_precision_for_one_event():
    rng = np.random.default_rng(2)
    truth = np.zeros(200, bool)
    truth[80:95] = True
    scores = rng.normal(size=200) + truth
    assert vus_pr(truth, scores, 0) == pytest.approx(average_precision_score(truth, scores))


def test_vus_pr_is_one_for_a_perfect_score_and_lies_in_unit_interval():
    truth = np.zeros(500, bool)
    truth[[*range(50, 70), *range(300, 340)]] = True
    assert vus_pr(truth, truth.astype(float), 40) == pytest.approx(1.0)
    rng = np.random.default_rng(4)
    for _ in range(10):
        value = vus_pr(truth, rng.normal(size=500), 30)
        assert 0.0 <= value <= 1.0


def test_vus_pr_credits_a_score_that_fires_just_before_an_event():
    rng = np.random.default_rng(9)
    truth = np.zeros(400, bool)
    truth[200:220] = True
    noise = rng.normal(scale=0.1, size=400)
    near, far = noise.copy(), noise.copy()
    near[195:200] += 1.0  # just before the fault
    far[50:55] += 1.0  # far from it
    assert average_precision_score(truth, near) == pytest.approx(
        average_precision_score(truth, far), abs=0.02
    )
    assert vus_pr(truth, near, 20) > vus_pr(truth, far, 20) + 0.05


def test_vus_pr_buffers_stop_at_series_boundaries():
    truth = np.zeros(200, bool)
    truth[95:100] = True  # ends at the last row of series 0
    scores = np.zeros(200)
    scores[100:103] = 1.0  # fires at the start of series 1
    series = np.repeat([0, 1], 100)
    assert vus_pr(truth, scores, 10, series=series) < vus_pr(truth, scores, 10)
    # away from any boundary, series change nothing
    truth2 = np.zeros(200, bool)
    truth2[40:50] = True
    scores2 = np.linspace(0, 1, 200) + truth2
    assert vus_pr(truth2, scores2, 10, series=series) == pytest.approx(vus_pr(truth2, scores2, 10))


def test_vus_pr_is_nan_with_one_class_and_rejects_nan_scores():
    assert math.isnan(vus_pr(np.zeros(10, bool), np.arange(10.0), 4))
    with pytest.raises(ValueError):
        vus_pr(bools("0110"), [0.0, float("nan"), 1.0, 0.0], 2)


def test_vus_pr_runs_fast_on_a_long_stream():
    rng = np.random.default_rng(1)
    truth = np.zeros(20_000, bool)
    for start in range(500, 20_000, 1000):
        truth[start : start + 40] = True
    value = vus_pr(truth, rng.normal(size=20_000) + truth, 60)
    assert 0.0 < value < 1.0
