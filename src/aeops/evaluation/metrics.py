"""Ranking metrics with bootstrap intervals, and threshold choice on the validation fold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from aeops.core.errors import ModelConfigError
from aeops.core.sections import ThresholdConfig
from aeops.evaluation.metric import DETECTION, Metric

__all__ = ["DETECTION", "Metric", "Threshold", "auroc", "score_report"]

COUNTED_RESAMPLES_ROWS = 20_000  # beyond this, AUROC resamples are counted over one sort


class RankedScores:
    """Scores sorted once, so the AUROC of any resample is a weighted count: each row's
    weight is how often the resample drew it. AUROC is the Mann-Whitney share of
    (anomaly, normal) pairs the anomaly outranks, ties counting half, exactly what
    scikit-learn's trapezoid gives, in O(rows) per resample instead of a sort. Used on
    folds beyond :data:`COUNTED_RESAMPLES_ROWS` rows (a tall table), where re-sorting 500
    resamples of 300,000 rows takes minutes; smaller folds keep the direct computation."""

    def __init__(self, is_anomaly: np.ndarray, scores: np.ndarray) -> None:
        _, self.group = np.unique(scores, return_inverse=True)
        self.groups = int(self.group.max()) + 1 if len(scores) else 0
        self.is_anomaly = is_anomaly.astype(bool)

    def auroc(self, weights: np.ndarray) -> float:
        pos = np.bincount(self.group, weights * self.is_anomaly, self.groups)
        neg = np.bincount(self.group, weights * ~self.is_anomaly, self.groups)
        below = np.cumsum(neg) - neg
        return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def draw_weights(rows: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` rows was drawn in the resample ``rows``."""
    return np.bincount(rows, minlength=n).astype(np.float64)


def has_both_classes(is_anomaly: np.ndarray) -> bool:
    return bool(is_anomaly.any() and (~is_anomaly).any())


def auroc(is_anomaly: np.ndarray, scores: np.ndarray) -> float:
    if not has_both_classes(is_anomaly):
        return float("nan")
    return float(roc_auc_score(is_anomaly, scores))


def average_precision(is_anomaly: np.ndarray, scores: np.ndarray) -> float:
    if not has_both_classes(is_anomaly):
        return float("nan")
    return float(average_precision_score(is_anomaly, scores))


def bootstrap_auroc_ci(
    is_anomaly: np.ndarray, scores: np.ndarray, n_boot: int, ci: float, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval for AUROC, resampling normals and anomalies separately."""
    if n_boot <= 0 or not has_both_classes(is_anomaly):
        return float("nan"), float("nan")
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    pos, neg = scores[is_anomaly], scores[~is_anomaly]
    ranked = (
        RankedScores(np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)], np.r_[pos, neg])
        if len(scores) > COUNTED_RESAMPLES_ROWS
        else None
    )
    values = np.empty(n_boot)
    # Mann-Whitney form of AUROC (ties count half), many resamples per array operation
    per_chunk = max(1, 4_000_000 // (len(pos) + len(neg)))
    for start in range(0, n_boot, per_chunk):
        k = min(per_chunk, n_boot - start)
        p_rows = rng.integers(len(pos), size=(k, len(pos)))
        n_rows = rng.integers(len(neg), size=(k, len(neg)))
        if ranked is not None:  # the same resamples, counted rather than re-sorted
            for j in range(k):
                w = np.r_[draw_weights(p_rows[j], len(pos)), draw_weights(n_rows[j], len(neg))]
                values[start + j] = ranked.auroc(w)
            continue
        ranks = rankdata(np.concatenate([pos[p_rows], neg[n_rows]], axis=1), axis=1)
        u = ranks[:, : len(pos)].sum(axis=1) - len(pos) * (len(pos) + 1) / 2
        values[start : start + k] = u / (len(pos) * len(neg))
    alpha = (1 - ci) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


@dataclass(frozen=True)
class Threshold:
    value: float
    method: str
    detail: str


def choose_threshold(
    cfg: ThresholdConfig,
    val_scores: np.ndarray,
    val_is_anomaly: np.ndarray,
    contamination: float | None,
    train_scores: np.ndarray | None = None,
) -> Threshold:
    """Pick the decision threshold from validation data only (never from test), or, with
    ``method: train``, from the normal training rows' scores (``train_scores``).

    ``val_*`` hold real rows only (no synthetic anomalies). With ``contamination`` (unlabeled
    data), the threshold flags that share of the validation rows."""
    if cfg.method == "train":
        return train_threshold(cfg, train_scores)
    if len(val_scores) == 0:
        raise ModelConfigError(
            "the validation fold is empty; lower data.split.test_fraction or add rows"
        )
    if contamination is not None:
        value = float(np.quantile(val_scores, 1 - contamination))
        return Threshold(
            value,
            "contamination",
            f"flags the top {contamination:.1%} of validation scores (data.contamination)",
        )
    normal = val_scores[~val_is_anomaly]
    if len(normal) == 0:
        raise ModelConfigError("the validation fold has no normal rows to set a threshold from")
    if cfg.method == "percentile":
        value = float(np.percentile(normal, cfg.percentile))
        return Threshold(
            value, "percentile", f"{cfg.percentile}th percentile of validation normal scores"
        )
    if cfg.method == "fpr":
        value = float(np.quantile(normal, 1 - cfg.target_fpr))
        return Threshold(
            value, "fpr", f"target false-positive rate {cfg.target_fpr} on validation normals"
        )
    if cfg.method != "max_f1":
        raise ModelConfigError(
            f"unknown threshold method '{cfg.method}'; choose percentile, fpr, max_f1 or train"
        )
    if not has_both_classes(val_is_anomaly):
        raise ModelConfigError(
            "evaluate.threshold.method max_f1 needs labelled anomalies in "
            "the validation fold, and this data has none; use percentile "
            "or fpr"
        )
    precision, recall, thresholds = precision_recall_curve(val_is_anomaly, val_scores)
    f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
    best = int(np.argmax(f1[:-1]))
    return Threshold(float(thresholds[best]), "max_f1", f"max F1 on validation ({f1[best]:.3f})")


def train_threshold(cfg: ThresholdConfig, train_scores: np.ndarray | None) -> Threshold:
    """The ``percentile`` of the normal training rows' scores times ``margin``: on a stream
    whose validation rows follow a fault (normal by label, drifted in fact), the rows the
    model learned normal from are the only ones known normal (SKAB's rule: 99.9 x 4/3)."""
    if train_scores is None or len(train_scores) == 0:
        raise ModelConfigError(
            "evaluate.threshold.method train needs the normal training rows' scores, and "
            "there are none; choose percentile, fpr or max_f1"
        )
    base = float(np.percentile(train_scores, cfg.percentile))
    detail = f"{cfg.percentile}th percentile of the normal training rows' scores"
    if cfg.margin != 1.0:
        detail += f" x {cfg.margin:g}"
    return Threshold(base * cfg.margin, "train", detail)


def threshold_metrics(
    is_anomaly: np.ndarray, scores: np.ndarray, threshold: float
) -> dict[str, float]:
    predicted = scores > threshold
    normals = ~is_anomaly
    fpr = float(predicted[normals].mean()) if normals.any() else float("nan")
    return {
        "precision": float(precision_score(is_anomaly, predicted, zero_division=0)),
        "recall": float(recall_score(is_anomaly, predicted, zero_division=0)),
        "f1": float(f1_score(is_anomaly, predicted, zero_division=0)),
        "fpr": fpr,
    }


def per_group_auroc(
    groups: np.ndarray, is_anomaly: np.ndarray, scores: np.ndarray
) -> dict[str, float]:
    """AUROC of each anomaly group (label, or synthetic kind) against all normal rows (only
    when there are several groups)."""
    names = sorted({str(g) for g in groups[is_anomaly]})
    if len(names) < 2:
        return {}
    normal = ~is_anomaly
    return {
        name: auroc(is_anomaly[normal | (groups == name)], scores[normal | (groups == name)])
        for name in names
    }


@dataclass(frozen=True)
class Scored:
    """A fold (:class:`~aeops.data.split.Fold`) and one model's score of each of its rows."""

    fold: Any
    scores: np.ndarray


@dataclass(frozen=True)
class ReportSettings:
    """How a model's figures are measured: ``evaluate.threshold``, the bootstrap's resamples,
    interval and seed, and ``data.contamination`` (unlabeled data)."""

    threshold: ThresholdConfig
    n_boot: int
    ci: float
    seed: int
    contamination: float | None


def _ranking(
    prefix: str,
    is_anomaly: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    settings: ReportSettings,
) -> dict[str, object]:
    """AUROC (with a bootstrap interval on test), AP and per-group AUROC under ``prefix``."""
    out: dict[str, object] = {
        f"{prefix}_auroc": auroc(is_anomaly, scores),
        f"{prefix}_average_precision": average_precision(is_anomaly, scores),
    }
    if prefix.startswith("test"):
        low, high = bootstrap_auroc_ci(
            is_anomaly, scores, settings.n_boot, settings.ci, settings.seed
        )
        if np.isfinite(low):
            out[f"{prefix}_auroc_ci_low"], out[f"{prefix}_auroc_ci_high"] = low, high
        per_group = per_group_auroc(groups, is_anomaly, scores)
        if per_group:
            out[f"{prefix}_auroc_per_class"] = per_group
    return out


def score_report(
    scored_val: Scored,
    scored_test: Scored,
    settings: ReportSettings,
    train_scores: np.ndarray | None = None,
) -> dict:
    """Every number ``evaluate`` and ``baselines`` can honestly report, under stable names.

    The folds are :class:`~aeops.data.split.Fold` s. Metrics on labelled anomalies
    (``val_auroc``, ``test_auroc``, precision, recall, ...) appear only when the fold holds
    some; metrics on synthetic anomalies carry ``synthetic`` in their name; what needs no
    anomaly at all (losses, score quantiles, flagged share at the threshold) is always there.
    Nothing that was not measured is reported (no NaN stand-ins)."""
    val, val_scores = scored_val.fold, scored_val.scores
    test, test_scores = scored_test.fold, scored_test.scores
    v_real, t_real = val.real, test.real
    threshold = choose_threshold(
        settings.threshold,
        val_scores[v_real],
        val.is_anomaly[v_real],
        settings.contamination,
        train_scores,
    )
    v_normal = v_real & ~val.is_anomaly
    t_normal = t_real & ~test.is_anomaly
    report: dict[str, object] = {
        "threshold": threshold.value,
        "threshold_method": threshold.method,
        "threshold_detail": threshold.detail,
        "val_recon_loss": _mean(val_scores[v_normal]),
        "test_recon_loss": _mean(test_scores[t_normal]),
        "val_flagged_share": _mean(val_scores[v_real] > threshold.value),
        "test_flagged_share": _mean(test_scores[t_real] > threshold.value),
    }
    for q in (50, 90, 99):
        if t_normal.any():
            report[f"test_score_q{q}"] = float(np.percentile(test_scores[t_normal], q))
    for name, fold, scores in (("val", val, val_scores), ("test", test, test_scores)):
        if fold.has_real_anomalies:
            real = fold.real
            report.update(
                _ranking(name, fold.is_anomaly[real], scores[real], fold.group[real], settings)
            )
    if test.has_real_anomalies:
        at = threshold_metrics(test.is_anomaly[t_real], test_scores[t_real], threshold.value)
        report.update({f"test_{k}": v for k, v in at.items()})
    for name, fold, scores in (("val", val, val_scores), ("test", test, test_scores)):
        if fold.has_synthetic:
            rows = (fold.real & ~fold.is_anomaly) | fold.synthetic
            report.update(
                _ranking(
                    f"{name}_synthetic",
                    fold.is_anomaly[rows],
                    scores[rows],
                    fold.group[rows],
                    settings,
                )
            )
    return {k: v for k, v in report.items() if not _is_nan(v)}


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and not np.isfinite(value)


def selection_metric(configured: str, models: dict[str, dict]) -> str:
    """The validation metric that chooses between models: ``register.metric`` on labelled
    anomalies when validation has any, else the same metric on synthetic anomalies."""
    if any(configured in m for m in models.values()):
        return configured
    return configured.replace("val_", "val_synthetic_", 1)


@dataclass(frozen=True)
class PairedDifference:
    """``metric(b) - metric(a)`` on the same rows, its percentile bootstrap interval and the
    share of resamples in which it is above zero."""

    value: float
    low: float
    high: float
    p_positive: float


def ranking_metric(name: str):
    """The function behind a ranking metric's name: AUROC, or average precision."""
    return average_precision if "average_precision" in name else auroc


def paired_bootstrap_difference(
    is_anomaly: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    metric: str,
    n_boot: int,
    ci: float,
    seed: int,
) -> PairedDifference:
    """How much better ``scores_b`` ranks these rows than ``scores_a`` (AUROC, or average
    precision for an ``average_precision`` metric). The same resampled rows (normals and
    anomalies separately) score both, so the interval reflects how much the *difference*
    moves, not each model's own spread."""
    fn = ranking_metric(metric)
    diff = fn(is_anomaly, scores_b) - fn(is_anomaly, scores_a)
    if n_boot <= 0 or not has_both_classes(is_anomaly):
        return PairedDifference(diff, float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(is_anomaly), np.flatnonzero(~is_anomaly)
    counted = fn is auroc and len(is_anomaly) > COUNTED_RESAMPLES_ROWS
    ranked = [RankedScores(is_anomaly, s) for s in (scores_a, scores_b)] if counted else []
    values = np.empty(n_boot)
    for i in range(n_boot):
        rows = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        if ranked:  # the same resample, counted over one sort per model
            w = draw_weights(rows, len(is_anomaly))
            values[i] = ranked[1].auroc(w) - ranked[0].auroc(w)
            continue
        values[i] = fn(is_anomaly[rows], scores_b[rows]) - fn(is_anomaly[rows], scores_a[rows])
    alpha = (1 - ci) / 2
    return PairedDifference(
        diff,
        float(np.quantile(values, alpha)),
        float(np.quantile(values, 1 - alpha)),
        float((values > 0).mean()),
    )
