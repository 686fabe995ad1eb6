"""The classical baselines: k-NN and ECOD scores checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest

from aeops.core.errors import ScoringInputError
from aeops.core.sections import BaselinesConfig
from aeops.models.baselines import baselines
from aeops.models.baselines.base import load_baseline
from tests.helpers import fold_of


def fit_baseline(name, train, settings, seed):
    """Baseline ``name`` fitted on the normal rows ``train``."""
    return baselines()[name](settings, seed).fit(fold_of(train), fold_of(train[:0]))


CFG = BaselinesConfig(
    pca_components=0.9, iforest_estimators=20, knn_neighbors=3, reference_rows=20_000
)


def test_knn_score_is_the_distance_to_the_kth_nearest_training_row():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    train, query = rng.normal(size=(200, 4)), rng.normal(size=(50, 4))
    expected = NearestNeighbors(n_neighbors=3).fit(train).kneighbors(query)[0][:, -1]
    np.testing.assert_allclose(
        fit_baseline("knn", train, CFG, 0).decision_function(query), expected, rtol=1e-6
    )


def test_hotelling_t2_is_the_mahalanobis_distance_in_the_principal_subspace():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(5, 5))
    train, query = rng.normal(size=(400, 5)) @ mix, rng.normal(size=(30, 5)) @ mix * 2
    full = BaselinesConfig(
        pca_components=5, iforest_estimators=20, knn_neighbors=3, reference_rows=20_000
    )
    model = fit_baseline("hotelling", train, full, 0)
    centred = query - train.mean(axis=0)
    covariance = np.cov(train, rowvar=False)
    expected = np.einsum("ij,jk,ik->i", centred, np.linalg.inv(covariance), centred)
    np.testing.assert_allclose(model.decision_function(query), expected, rtol=1e-8)
    # each feature's share: they add up to T², none negative
    np.testing.assert_allclose(model.feature_errors(query).sum(axis=1), expected, rtol=1e-8)
    kept = fit_baseline("hotelling", train, CFG, 0)  # 90% of the variance: fewer components
    assert kept.params["pca_fitted_components"] < 5
    np.testing.assert_allclose(kept.decode(kept.encode(query)), kept.reconstruct(query))


def test_ecod_terms_are_negative_log_tail_probabilities():
    train = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = fit_baseline("ecod", train, CFG, 0)
    rows = np.array([[1.0], [10.0], [-10.0]])
    score, per_feature = model.decision_function(rows), model.feature_errors(rows)
    # value 1.0: left tail (2 + 1) / 5, right tail (3 + 1) / 5; the larger term is the left's
    assert score[0] == pytest.approx(-np.log(3 / 5))
    # beyond every training value: tail probability 1 / 5, the largest term possible
    assert score[1] == pytest.approx(-np.log(1 / 5))
    assert score[2] == pytest.approx(-np.log(1 / 5))
    np.testing.assert_allclose(per_feature[:, 0], score)


@pytest.mark.parametrize("name", ["knn", "ecod"])
def test_a_row_that_breaks_one_column_outscores_normal_rows(name, tmp_path):
    rng = np.random.default_rng(1)
    train, normal = rng.normal(size=(300, 5)), rng.normal(size=(100, 5))
    odd = normal[:10].copy()
    odd[:, 2] += 6.0
    model = fit_baseline(name, train, CFG, 0)
    loaded = load_baseline(model.save(tmp_path))
    scores = loaded.decision_function(np.vstack([normal, odd]))
    assert np.median(scores[100:]) > np.quantile(scores[:100], 0.75)
    # each row's score is its own: scored alone or with others, the same
    np.testing.assert_allclose(loaded.decision_function(odd[:1]), scores[100:101])
    explained = loaded.feature_errors(odd)
    assert (explained.argmax(axis=1) == 2).all()
    with pytest.raises(ScoringInputError, match="no latent code"):
        loaded.encode(odd)


@pytest.mark.parametrize("name", ["knn", "ecod"])
def test_a_tall_table_keeps_a_seeded_reference_sample_that_ranks_as_all_rows_do(name, tmp_path):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    train, normal = rng.normal(size=(6000, 5)), rng.normal(size=(300, 5))
    odd = normal[:30].copy()
    odd[:, 1] += 4.0
    rows, labels = np.vstack([normal, odd]), np.r_[np.zeros(300), np.ones(30)]
    small = CFG.model_copy(update={"reference_rows": 1000})
    sampled, again = (fit_baseline(name, train, small, seed=0) for _ in range(2))
    full = fit_baseline(name, train, CFG, 0)
    assert sampled.params["reference_rows"] == 1000 and "reference_rows" not in full.params
    assert load_baseline(sampled.save(tmp_path)).model.shape == (1000, 5)  # what is registered
    np.testing.assert_array_equal(sampled.decision_function(rows), again.decision_function(rows))
    of_sample, of_all = (roc_auc_score(labels, m.decision_function(rows)) for m in (sampled, full))
    assert of_sample > 0.95 and abs(of_sample - of_all) < 0.02
