"""Model tier: the ensemble detector (every family scoring together)."""

import numpy as np
import pytorch_lightning as pl
from sklearn.metrics import roc_auc_score

from aeops.models.autoencoders.detector import AutoencoderDetector
from aeops.models.ensemble import EnsembleDetector
from tests.helpers import architecture_of, build_net, fold_of, low_rank_data, objective_of
from tests.model.test_families import TABLE_META, fit_briefly, small_config

FAMILIES = ["dense", "sparse"]


class FixedScorer:
    """A member whose score is a fixed function of the row (its first column, scaled)."""

    def __init__(self, weight: float, column: int) -> None:
        self.weight, self.column = weight, column

    def score_samples(self, x):
        return self.weight * x[:, self.column]

    def feature_errors(self, x):
        return np.abs(x) * self.weight


def rows_with_anomalies(n_normal=200, n_anomalous=20, seed=0):
    """Column 0 is noise; column 1 separates anomalies (shifted up by 3)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_normal + n_anomalous, 2))
    y = np.r_[np.zeros(n_normal, bool), np.ones(n_anomalous, bool)]
    x[y, 1] += 3.0
    return x, y


def test_a_member_with_large_errors_does_not_drown_the_others():
    x, y = rows_with_anomalies()
    noisy_but_large = FixedScorer(1000.0, column=0)  # no signal, errors 1,000x larger
    informative = FixedScorer(1.0, column=1)
    members = {"dense": noisy_but_large, "sparse": informative}
    ensemble = EnsembleDetector(members, "sparse").fit(fold_of(x[~y]), fold_of(x[~y]))
    combined = ensemble.score_samples(x)
    raw_mean = (noisy_but_large.score_samples(x) + informative.score_samples(x)) / 2
    assert roc_auc_score(y, raw_mean) < 0.7  # unscaled, the large member decides
    assert roc_auc_score(y, combined) > 0.9
    assert ensemble.scale[0] > 100 * ensemble.scale[1]
    assert ensemble.lead_family == "sparse"


def trained_members(x, root, seed=0):
    cfg = small_config()
    members = {}
    for family in FAMILIES:
        pl.seed_everything(seed)
        arch = architecture_of(family, cfg, TABLE_META, x)
        net = build_net(family, cfg, TABLE_META, x=x)
        fit_briefly(net, objective_of(family, cfg), x, x[:32], epochs=3, root=root / family)
        members[family] = AutoencoderDetector.from_network(family, arch, net)
        members[family].batch_rows = 64
    return members


def test_an_ensemble_is_deterministic_for_a_seed_and_survives_save_and_load(tmp_path):
    x = low_rank_data(128, dim=TABLE_META.n_features, seed=3)
    probe = low_rank_data(40, dim=TABLE_META.n_features, seed=4)
    probe[:5, 0] = 1.0 - probe[:5, 0]  # a few rows off the subspace
    scores = []
    for attempt in ("first", "second"):
        members = trained_members(x, tmp_path / attempt)
        ensemble = EnsembleDetector(members, "sparse").fit(fold_of(x[:64]), fold_of(x[:64]))
        scores.append(ensemble.score_samples(probe))
    np.testing.assert_array_equal(scores[0], scores[1])
    assert np.isfinite(scores[0]).all() and scores[0].std() > 0

    path = ensemble.save(tmp_path)
    loaded = EnsembleDetector.load(path, batch_rows=7)  # another batch size, the same numbers
    assert isinstance(loaded, EnsembleDetector) and loaded.families == FAMILIES
    verbs = ("score_samples", "feature_errors", "encode", "reconstruct")
    before = {verb: getattr(ensemble, verb)(probe) for verb in verbs}
    after = {verb: getattr(loaded, verb)(probe) for verb in verbs}
    for verb in verbs:
        np.testing.assert_allclose(after[verb], before[verb], rtol=1e-5, atol=1e-6)
    lead_z = members["sparse"].encode(probe)
    np.testing.assert_allclose(after["encode"], lead_z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        loaded.decode(after["encode"]), ensemble.decode(before["encode"]), atol=1e-6
    )
