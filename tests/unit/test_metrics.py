import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aeops.config import ThresholdConfig
from aeops.evaluation.metrics import (
    auroc,
    bootstrap_auroc_ci,
    choose_threshold,
    per_class_auroc,
    score_report,
    threshold_metrics,
)


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    normal = rng.normal(0, 1, 400)
    anomalies = rng.normal(2, 1, 100)
    scores = np.r_[normal, anomalies]
    is_anomaly = np.r_[np.zeros(400, bool), np.ones(100, bool)]
    return scores, is_anomaly


def test_auroc_matches_sklearn_and_is_nan_with_one_class(scored):
    scores, is_anomaly = scored
    assert auroc(is_anomaly, scores) == pytest.approx(roc_auc_score(is_anomaly, scores))
    assert np.isnan(auroc(np.zeros(5, bool), np.arange(5.0)))


def test_perfect_separation():
    is_anomaly = np.array([False, False, True, True])
    assert auroc(is_anomaly, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0


def test_percentile_threshold_uses_only_normal_validation_scores(scored):
    scores, is_anomaly = scored
    t = choose_threshold(ThresholdConfig(method="percentile", percentile=95), scores, is_anomaly)
    assert t.value == pytest.approx(np.percentile(scores[~is_anomaly], 95))
    assert t.method == "percentile"


def test_fpr_threshold_hits_target_on_validation(scored):
    scores, is_anomaly = scored
    t = choose_threshold(ThresholdConfig(method="fpr", target_fpr=0.05), scores, is_anomaly)
    fpr = (scores[~is_anomaly] > t.value).mean()
    assert fpr == pytest.approx(0.05, abs=0.01)


def test_max_f1_threshold_is_best_on_validation(scored):
    scores, is_anomaly = scored
    t = choose_threshold(ThresholdConfig(method="max_f1"), scores, is_anomaly)
    best = threshold_metrics(is_anomaly, scores, t.value - 1e-12)["f1"]
    for other in np.quantile(scores, [0.5, 0.7, 0.9, 0.95]):
        assert threshold_metrics(is_anomaly, scores, other)["f1"] <= best + 1e-9


def test_threshold_metrics_counts():
    is_anomaly = np.array([False, False, False, True, True])
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.3])
    m = threshold_metrics(is_anomaly, scores, 0.5)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["fpr"] == pytest.approx(1 / 3)


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate(scored):
    scores, is_anomaly = scored
    a = bootstrap_auroc_ci(is_anomaly, scores, 200, 0.95, seed=1)
    b = bootstrap_auroc_ci(is_anomaly, scores, 200, 0.95, seed=1)
    assert a == b
    assert a[0] < auroc(is_anomaly, scores) < a[1]


def test_per_class_auroc_only_with_several_anomaly_classes():
    labels = np.array([0, 0, 0, 7, 8])
    is_anomaly = labels >= 7
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.25])
    per_class = per_class_auroc(labels, is_anomaly, scores)
    assert per_class["7"] == 1.0
    assert per_class["8"] == pytest.approx(2 / 3)
    assert per_class_auroc(labels[:4], is_anomaly[:4], scores[:4]) == {}


def test_score_report_has_stable_names(scored):
    scores, is_anomaly = scored
    report = score_report(scores, is_anomaly, scores, is_anomaly, is_anomaly.astype(int),
                          ThresholdConfig(), 20, 0.9, 0)
    for key in ("val_auroc", "test_auroc", "test_average_precision", "test_recon_loss",
                "threshold", "threshold_method", "test_f1", "test_fpr", "test_auroc_ci_low"):
        assert key in report
    assert report["test_recon_loss"] == pytest.approx(scores[~is_anomaly].mean())
