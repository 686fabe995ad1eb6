import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aeops.core.errors import ModelConfigError
from aeops.data.split import Fold
from aeops.evaluation.metrics import (
    ReportSettings,
    Scored,
    auroc,
    bootstrap_auroc_ci,
    choose_threshold,
    per_group_auroc,
    score_report,
    selection_metric,
    threshold_metrics,
)
from tests.helpers import make_config


def threshold_config(**override):
    return make_config(evaluate={"threshold": override}).evaluate.threshold


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
    t = choose_threshold(
        threshold_config(method="percentile", percentile=95), scores, is_anomaly, None
    )
    assert t.value == pytest.approx(np.percentile(scores[~is_anomaly], 95))
    assert t.method == "percentile"


def test_fpr_threshold_hits_target_on_validation(scored):
    scores, is_anomaly = scored
    t = choose_threshold(threshold_config(method="fpr", target_fpr=0.05), scores, is_anomaly, None)
    fpr = (scores[~is_anomaly] > t.value).mean()
    assert fpr == pytest.approx(0.05, abs=0.01)


def test_max_f1_threshold_is_best_on_validation(scored):
    scores, is_anomaly = scored
    t = choose_threshold(threshold_config(method="max_f1"), scores, is_anomaly, None)
    best = threshold_metrics(is_anomaly, scores, t.value - 1e-12)["f1"]
    for other in np.quantile(scores, [0.5, 0.7, 0.9, 0.95]):
        assert threshold_metrics(is_anomaly, scores, other)["f1"] <= best + 1e-9


def test_train_threshold_is_a_percentile_of_the_training_scores_times_the_margin(scored):
    scores, is_anomaly = scored
    train = np.random.default_rng(1).normal(0, 1, 300)
    rule = threshold_config(method="train", percentile=99.9, margin=1.3333)
    t = choose_threshold(rule, scores, is_anomaly, None, train)
    assert t.value == pytest.approx(np.percentile(train, 99.9) * 1.3333)
    assert t.method == "train" and "x 1.3333" in t.detail and "training rows" in t.detail
    # validation's scores play no part: a drifted validation fold moves nothing
    assert choose_threshold(rule, scores + 100, is_anomaly, None, train).value == t.value
    with pytest.raises(ModelConfigError, match="needs the normal training rows' scores"):
        choose_threshold(rule, scores, is_anomaly, None, None)


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


def test_per_group_auroc_only_with_several_anomaly_groups():
    labels = np.array(["0", "0", "0", "7", "8"])
    is_anomaly = np.isin(labels, ["7", "8"])
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.25])
    per_class = per_group_auroc(labels, is_anomaly, scores)
    assert per_class["7"] == 1.0
    assert per_class["8"] == pytest.approx(2 / 3)
    assert per_group_auroc(labels[:4], is_anomaly[:4], scores[:4]) == {}


def fold(is_anomaly, synthetic=None, group=None):
    n = len(is_anomaly)
    synthetic = np.zeros(n, bool) if synthetic is None else synthetic
    group = np.where(is_anomaly, "9", "0").astype(object) if group is None else group
    return Fold(np.zeros((n, 1), np.float32), group, is_anomaly, synthetic)


def test_score_report_has_stable_names(scored):
    scores, is_anomaly = scored
    report = score_report(
        Scored(fold(is_anomaly), scores),
        Scored(fold(is_anomaly), scores),
        ReportSettings(threshold_config(), 20, 0.9, 0, None),
    )
    for key in (
        "val_auroc",
        "test_auroc",
        "test_average_precision",
        "test_recon_loss",
        "threshold",
        "threshold_method",
        "test_f1",
        "test_fpr",
        "test_auroc_ci_low",
        "test_flagged_share",
        "test_score_q99",
    ):
        assert key in report
    assert report["test_recon_loss"] == pytest.approx(scores[~is_anomaly].mean())
    assert not any("synthetic" in key for key in report)


def test_without_labelled_anomalies_no_auroc_is_reported(scored):
    scores, is_anomaly = scored
    normal_only = fold(np.zeros(400, bool))
    report = score_report(
        Scored(normal_only, scores[:400]),
        Scored(normal_only, scores[:400]),
        ReportSettings(threshold_config(), 20, 0.9, 0, None),
    )
    assert not any("auroc" in key or "precision" in key for key in report)
    assert report["test_flagged_share"] == pytest.approx(0.01, abs=0.005)
    assert all(isinstance(v, (float, str)) and v == v for v in report.values())  # no NaN


def test_synthetic_anomalies_are_reported_under_their_own_names(scored):
    scores, is_anomaly = scored
    synthetic = fold(
        is_anomaly,
        synthetic=is_anomaly,
        group=np.where(is_anomaly, "synthetic:swap", "").astype(object),
    )
    report = score_report(
        Scored(synthetic, scores),
        Scored(synthetic, scores),
        ReportSettings(threshold_config(), 20, 0.9, 0, None),
    )
    assert "val_auroc" not in report and "test_auroc" not in report
    assert report["val_synthetic_auroc"] == pytest.approx(auroc(is_anomaly, scores))
    # the threshold and the flagged share look at real rows only
    assert report["threshold"] == pytest.approx(np.percentile(scores[~is_anomaly], 99))
    assert selection_metric("val_auroc", {"m": report}) == "val_synthetic_auroc"
    assert selection_metric("val_auroc", {"m": {"val_auroc": 0.9}}) == "val_auroc"


def test_contamination_flags_that_share_of_validation(scored):
    scores, _ = scored
    unlabeled = np.zeros(len(scores), bool)
    t = choose_threshold(threshold_config(), scores, unlabeled, contamination=0.1)
    assert (scores > t.value).mean() == pytest.approx(0.1, abs=0.01)
    assert t.method == "contamination"


def test_max_f1_without_labelled_anomalies_says_what_to_do(scored):
    scores, _ = scored
    with pytest.raises(ModelConfigError, match="max_f1 needs labelled anomalies.*percentile"):
        choose_threshold(threshold_config(method="max_f1"), scores, np.zeros(500, bool), None)


def test_bootstrap_resamples_agree_with_sklearn_on_each_resample():
    """The vectorised (Mann-Whitney) AUROC equals scikit-learn's, ties included."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(5)
    for _ in range(20):
        pos, neg = rng.integers(0, 6, 13).astype(float), rng.integers(0, 6, 29).astype(float)
        ranks = rankdata(np.r_[pos, neg])
        u = ranks[:13].sum() - 13 * 14 / 2
        expected = roc_auc_score(np.r_[np.ones(13), np.zeros(29)], np.r_[pos, neg])
        assert u / (13 * 29) == pytest.approx(expected)
    scores = rng.normal(size=300)
    flags = rng.random(300) < 0.2
    low, high = bootstrap_auroc_ci(flags, scores + flags, 300, 0.9, seed=0)
    assert low < auroc(flags, scores + flags) < high


def test_counted_resamples_give_the_sorted_resamples_numbers(monkeypatch):
    """On a tall fold the bootstrap counts each resample over one sort; it must give what
    re-sorting every resample gives (ties included), interval and share alike."""
    import aeops.evaluation.metrics as metrics

    rng = np.random.default_rng(4)
    y = rng.random(3000) < 0.05
    a = np.round(rng.normal(size=3000) + y, 1)  # rounded: many ties
    b = np.round(rng.normal(size=3000) + 1.3 * y, 1)
    direct = (
        metrics.bootstrap_auroc_ci(y, a, 60, 0.9, 0),
        metrics.paired_bootstrap_difference(y, a, b, "val_auroc", 60, 0.9, 0),
    )
    monkeypatch.setattr(metrics, "COUNTED_RESAMPLES_ROWS", 100)
    counted = (
        metrics.bootstrap_auroc_ci(y, a, 60, 0.9, 0),
        metrics.paired_bootstrap_difference(y, a, b, "val_auroc", 60, 0.9, 0),
    )
    np.testing.assert_allclose(counted[0], direct[0], rtol=0, atol=1e-12)
    for field in ("value", "low", "high", "p_positive"):
        assert getattr(counted[1], field) == pytest.approx(getattr(direct[1], field), abs=1e-12)
    ranked = metrics.RankedScores(y, a)
    assert ranked.auroc(np.ones(len(y))) == pytest.approx(roc_auc_score(y, a), abs=1e-12)
