"""Ranking metrics with bootstrap intervals, and threshold choice on the validation fold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from aeops.config import ThresholdConfig


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


def bootstrap_auroc_ci(is_anomaly: np.ndarray, scores: np.ndarray, n_boot: int, ci: float,
                       seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval for AUROC, resampling normals and anomalies separately."""
    if n_boot <= 0 or not has_both_classes(is_anomaly):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    pos, neg = scores[is_anomaly], scores[~is_anomaly]
    values = np.empty(n_boot)
    for i in range(n_boot):
        p = rng.choice(pos, size=len(pos), replace=True)
        n = rng.choice(neg, size=len(neg), replace=True)
        values[i] = roc_auc_score(np.r_[np.ones(len(p)), np.zeros(len(n))], np.r_[p, n])
    alpha = (1 - ci) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


@dataclass(frozen=True)
class Threshold:
    value: float
    method: str
    detail: str


def choose_threshold(cfg: ThresholdConfig, val_scores: np.ndarray,
                     val_is_anomaly: np.ndarray) -> Threshold:
    """Pick the decision threshold from validation data only (never from test)."""
    normal = val_scores[~val_is_anomaly]
    if len(normal) == 0:
        raise ValueError("the validation fold has no normal rows to set a threshold from")
    if cfg.method == "percentile":
        value = float(np.percentile(normal, cfg.percentile))
        return Threshold(value, "percentile", f"{cfg.percentile}th percentile of validation "
                                              "normal scores")
    if cfg.method == "fpr":
        value = float(np.quantile(normal, 1 - cfg.target_fpr))
        return Threshold(value, "fpr", f"target false-positive rate {cfg.target_fpr} on "
                                       "validation normals")
    if not has_both_classes(val_is_anomaly):
        raise ValueError("threshold method max_f1 needs anomalies in the validation fold; "
                         "use evaluate.threshold.method: percentile")
    precision, recall, thresholds = precision_recall_curve(val_is_anomaly, val_scores)
    f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
    best = int(np.argmax(f1[:-1]))
    return Threshold(float(thresholds[best]), "max_f1", f"max F1 on validation ({f1[best]:.3f})")


def threshold_metrics(is_anomaly: np.ndarray, scores: np.ndarray,
                      threshold: float) -> dict[str, float]:
    predicted = scores > threshold
    normals = ~is_anomaly
    fpr = float(predicted[normals].mean()) if normals.any() else float("nan")
    return {
        "precision": float(precision_score(is_anomaly, predicted, zero_division=0)),
        "recall": float(recall_score(is_anomaly, predicted, zero_division=0)),
        "f1": float(f1_score(is_anomaly, predicted, zero_division=0)),
        "fpr": fpr,
    }


def per_class_auroc(labels: np.ndarray, is_anomaly: np.ndarray,
                    scores: np.ndarray) -> dict[str, float]:
    """AUROC of each anomaly class against all normal rows (only with several classes)."""
    classes = sorted(set(labels[is_anomaly].tolist()))
    if len(classes) < 2:
        return {}
    normal = ~is_anomaly
    out = {}
    for cls in classes:
        mask = normal | (labels == cls)
        out[str(cls)] = auroc(is_anomaly[mask], scores[mask])
    return out


def score_report(val_scores: np.ndarray, val_is_anomaly: np.ndarray, test_scores: np.ndarray,
                 test_is_anomaly: np.ndarray, test_labels: np.ndarray,
                 threshold_cfg: ThresholdConfig, n_boot: int, ci: float,
                 seed: int) -> dict[str, object]:
    """Every number ``evaluate`` and ``baselines`` report, under stable names."""
    threshold = choose_threshold(threshold_cfg, val_scores, val_is_anomaly)
    low, high = bootstrap_auroc_ci(test_is_anomaly, test_scores, n_boot, ci, seed)
    at_threshold = threshold_metrics(test_is_anomaly, test_scores, threshold.value)
    report: dict[str, object] = {
        "val_auroc": auroc(val_is_anomaly, val_scores),
        "val_average_precision": average_precision(val_is_anomaly, val_scores),
        "test_auroc": auroc(test_is_anomaly, test_scores),
        "test_auroc_ci_low": low,
        "test_auroc_ci_high": high,
        "test_average_precision": average_precision(test_is_anomaly, test_scores),
        "test_recon_loss": float(np.mean(test_scores[~test_is_anomaly])),
        "threshold": threshold.value,
        "threshold_method": threshold.method,
        "threshold_detail": threshold.detail,
        **{f"test_{k}": v for k, v in at_threshold.items()},
    }
    per_class = per_class_auroc(test_labels, test_is_anomaly, test_scores)
    if per_class:
        report["test_auroc_per_class"] = per_class
    return report
