"""How reconstruction becomes a score on tables: normalised per-feature errors and the hybrid
(normalised error + latent k-NN distance), fitted after training and saved with the weights."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.metrics import roc_auc_score

from aeops.evaluation.selection import SwitchRule
from aeops.models.autoencoders.base import Objective
from aeops.models.autoencoders.dense import DenseNetwork
from aeops.models.autoencoders.detector import AutoencoderDetector
from aeops.models.autoencoders.scores import prefer_score, resolve_score, searches_score
from aeops.models.autoencoders.settings import ScoreSettings
from aeops.models.registry import load_model
from aeops.training.plan import plan_for
from tests.helpers import make_config, quick_fit

ARGS = {"input_dim": 8, "hidden": [16], "latent": 2, "out_activation": "identity", "dropout": 0.0}


def low_variance_column(n: int, seed: int) -> np.ndarray:
    """Eight independent columns; column 0 varies 20 times less than the others, so its
    reconstruction error is tiny beside theirs (which a 2-wide code cannot remove)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    x[:, 0] *= 0.05
    return x


def trained(train: np.ndarray, seed: int, tmp_path) -> AutoencoderDetector:
    pl.seed_everything(seed, verbose=False)
    cfg = make_config(train={"max_epochs": 60, "patience": 60, "progress_bar": False})
    net = DenseNetwork(8, [16], 2, "identity", 0.0)
    plan = plan_for(64, 1e-2, "32-true", 10, None, cfg.train.patience)
    data = (train[:-100], train[-100:], np.zeros(100, bool))
    fitted = quick_fit(net, Objective("mse"), cfg.train, plan, data, tmp_path, seed)
    return AutoencoderDetector.from_network("dense", ARGS, fitted.net.eval())


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    train = low_variance_column(900, seed=0)
    normal = low_variance_column(200, seed=1)
    broken = low_variance_column(100, seed=2)
    broken[:, 0] += 0.5  # ten of its own deviations: small beside the other columns' errors
    return train, normal, broken, trained(train, 0, tmp_path_factory.mktemp("fit"))


def saved_and_loaded(net: AutoencoderDetector, tmp_path) -> AutoencoderDetector:
    """The model file round trip every consumer loads the score from."""
    return load_model(net.save(tmp_path))


def auroc(net, normal, broken) -> float:
    scores = net.decision_function(np.vstack([normal, broken]))
    return roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(broken))], scores)


def test_a_normalised_score_ranks_a_row_that_breaks_a_low_variance_column_above_normal_rows(rows):
    train, normal, broken, net = rows
    net.calibrate(train, "recon", 5, 0)
    plain = auroc(net, normal, broken)
    net.calibrate(train, "normalised", 5, 0)
    normalised = auroc(net, normal, broken)
    assert normalised > 0.95, f"normalised AUROC {normalised:.3f}"
    assert normalised > plain + 0.1, f"plain {plain:.3f} vs normalised {normalised:.3f}"
    # the explanation points at the broken column
    per_feature = net.feature_errors(broken)
    assert (per_feature.argmax(axis=1) == 0).mean() > 0.9


def test_the_hybrid_score_weighs_both_terms_alike_and_survives_saving(rows, tmp_path):
    train, normal, broken, net = rows
    net.calibrate(train, "hybrid", 5, 0)
    x = torch.from_numpy(normal)
    out = net.inspect(x)
    # each term is divided by its median on the training rows: both about 1 on normal rows
    base = net.inspect(x, combine=False)["score"]
    assert 0.5 < float((base / net.calibration_.refs[0]).median()) < 2.0
    knn = net.calibration_.knn_distance(out["z"]) / net.calibration_.refs[1]
    assert 0.5 < float(knn.median()) < 2.0
    torch.testing.assert_close(out["score"], base / net.calibration_.refs[0] + knn)
    loaded = saved_and_loaded(net, tmp_path)
    torch.testing.assert_close(loaded.inspect(x)["score"], out["score"])
    assert auroc(loaded, normal, broken) > 0.9


def test_the_tail_score_counts_only_errors_beyond_the_normal_rows_and_survives_saving(
    rows, tmp_path
):
    train, normal, broken, net = rows
    net.calibrate(train, "tail", 5, 0)
    stats = net.calibration_
    assert stats is not None and stats.has_tail and stats.about()["tail"]
    # each feature's contribution is its error's z-score in log space against the training
    # rows, above zero only, squared: about half the entries of normal rows are exactly zero
    contributions = net.feature_errors(normal)
    assert 0.35 < float((contributions == 0).mean()) < 0.65
    errors = (
        net.inspect(torch.from_numpy(normal), combine=False)["recon"] - torch.from_numpy(normal)
    ) ** 2
    logged = torch.log(torch.clamp(errors / stats.feature_scale, min=1e-3))
    want = torch.relu((logged - stats.tail[0]) / stats.tail[1]) ** 2
    np.testing.assert_allclose(contributions, want.numpy(), rtol=1e-4, atol=1e-6)
    assert auroc(net, normal, broken) > 0.95
    assert (net.feature_errors(broken).argmax(axis=1) == 0).mean() > 0.9
    loaded = saved_and_loaded(net, tmp_path / "tail")
    np.testing.assert_array_equal(loaded.decision_function(normal), net.decision_function(normal))
    # a model file from before the tail kind (no tail statistics) still loads and scores
    net.calibrate(train, "normalised", 5, 0)
    assert not net.calibration_.has_tail and "tail" not in dict(net.calibration_.named_buffers())
    older = saved_and_loaded(net, tmp_path / "normalised")
    np.testing.assert_array_equal(older.decision_function(normal), net.decision_function(normal))


@pytest.mark.slow  # seeded determinism of every kind: the contract suite (fast)
def test_the_hybrid_score_is_deterministic_for_a_seed(rows, tmp_path):
    train, normal, _, _ = rows
    scores = []
    for attempt in range(2):
        net = trained(train, 3, tmp_path / str(attempt))
        net.calibrate(train, "hybrid", 5, 3)
        scores.append(net.decision_function(normal))
    np.testing.assert_array_equal(scores[0], scores[1])


def test_auto_scores_images_by_plain_error_and_tables_by_the_hybrid():
    assert resolve_score("auto", is_image=True) == "recon"
    assert resolve_score("auto", is_image=False) == "hybrid"
    assert resolve_score("normalised", is_image=True) == "normalised"
    # only an auto table score is open to validation; images and set kinds are not
    assert searches_score("auto", is_image=False)
    assert not searches_score("auto", is_image=True)
    assert not searches_score("hybrid", is_image=False)


RULE = SwitchRule(confidence=0.9, min_anomalies=10, n_boot=300, seed=0, ci=0.95)


def ranked(labels: np.ndarray, separation: float, seed: int) -> np.ndarray:
    """Scores whose anomalies sit ``separation`` standard deviations above the normals."""
    return np.random.default_rng(seed).normal(size=len(labels)) + separation * labels


@pytest.mark.slow  # 500 paired resamples per case: ~5 s
def test_validation_moves_the_table_score_only_when_another_kind_is_reliably_better():
    labels = np.r_[np.zeros(200, bool), np.ones(40, bool)]
    weak, strong = ranked(labels, 0.5, 1), ranked(labels, 3.0, 2)
    switched = prefer_score(
        labels, {"hybrid": weak, "recon": strong, "normalised": weak}, "hybrid", RULE
    )
    assert switched.kind == "recon"
    assert "reliably better than hybrid" in switched.reason
    # a lead inside the noise keeps the default, and says by how much
    level = prefer_score(
        labels, {"hybrid": weak, "recon": weak + 0.01 * ranked(labels, 0, 3)}, "hybrid", RULE
    )
    assert level.kind == "hybrid"
    assert "no other score is reliably better" in level.reason and "recon" in level.reason
    # too few labelled anomalies to trust any lead, however large
    few = np.r_[np.zeros(200, bool), np.ones(5, bool)]
    small = prefer_score(
        few, {"hybrid": ranked(few, 0, 4), "recon": ranked(few, 5, 5)}, "hybrid", RULE
    )
    assert small.kind == "hybrid"
    assert "5 labelled anomalies" in small.reason


@pytest.mark.slow  # the auto choice with a paired bootstrap: ~6 s
def test_choose_score_keeps_the_kind_that_ranks_validation_best_and_it_travels(rows, tmp_path):
    train, normal, broken, net = rows
    val_x = np.vstack([normal, broken])
    labels = np.r_[np.zeros(len(normal), bool), np.ones(len(broken), bool)]
    choice = net.choose_score(train, (val_x, labels), ScoreSettings("auto", 5, RULE))
    # plain error misses the broken low-variance column (first test), so it is not chosen
    assert choice.kind in ("normalised", "hybrid", "tail")
    assert net.calibration_ is not None and net.calibration_.kind == choice.kind
    assert auroc(net, normal, broken) > 0.9
    loaded = saved_and_loaded(net, tmp_path)
    assert loaded.calibration_.kind == choice.kind
    x = torch.from_numpy(normal)
    torch.testing.assert_close(loaded.inspect(x)["score"], net.inspect(x)["score"])
