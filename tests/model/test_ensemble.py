"""Model tier: the ensemble detector (every family scoring together)."""

import numpy as np
import pytorch_lightning as pl
from sklearn.metrics import roc_auc_score

from aeops.models.ensemble import EnsembleScorer, fit_ensemble, load_ensemble, save_ensemble
from aeops.models.registry import architecture, build_model, build_objective
from aeops.scoring import AutoencoderScorer
from tests.helpers import low_rank_data
from tests.model.test_families import TABLE_META, fit_briefly, small_config

FAMILIES = ["dense", "sparse"]


class FixedScorer:
    """A member whose score is a fixed function of the row (its first column, scaled)."""

    def __init__(self, weight: float, column: int) -> None:
        self.weight, self.column = weight, column

    def run(self, x, want=("score",)):
        score = self.weight * x[:, self.column]
        return {"score": score, "per_feature": np.abs(x) * self.weight}


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
    ensemble = fit_ensemble(["dense", "sparse"], [noisy_but_large, informative], x[~y], "sparse")
    combined = ensemble.run(x)["score"]
    raw_mean = (noisy_but_large.run(x)["score"] + informative.run(x)["score"]) / 2
    assert roc_auc_score(y, raw_mean) < 0.7  # unscaled, the large member decides
    assert roc_auc_score(y, combined) > 0.9
    assert ensemble.scale[0] > 100 * ensemble.scale[1]
    assert ensemble.lead_family == "sparse"


def trained_members(x, root, seed=0):
    cfg = small_config()
    members, args = [], []
    for family in FAMILIES:
        pl.seed_everything(seed)
        arch = architecture(family, cfg, TABLE_META, TABLE_META.n_features, True, x)
        net = build_model(family, arch)
        fit_briefly(net, build_objective(family, cfg), x, x[:32], epochs=3, root=root / family)
        members.append(AutoencoderScorer(net, batch_size=64))
        args.append(arch)
    return members, args


def test_an_ensemble_is_deterministic_for_a_seed_and_survives_save_and_load(tmp_path):
    x = low_rank_data(128, dim=TABLE_META.n_features, seed=3)
    probe = low_rank_data(40, dim=TABLE_META.n_features, seed=4)
    probe[:5, 0] = 1.0 - probe[:5, 0]  # a few rows off the subspace
    scores = []
    for attempt in ("first", "second"):
        members, args = trained_members(x, tmp_path / attempt)
        ensemble = fit_ensemble(FAMILIES, members, x[:64], "sparse")
        scores.append(ensemble.run(probe)["score"])
    np.testing.assert_array_equal(scores[0], scores[1])
    assert np.isfinite(scores[0]).all() and scores[0].std() > 0

    path = tmp_path / "ensemble.safetensors"
    save_ensemble(path, ensemble, args)
    loaded = load_ensemble(path, batch_size=7)  # another batch size, the same numbers
    assert isinstance(loaded, EnsembleScorer) and loaded.families == FAMILIES
    want = ("score", "per_feature", "z", "recon")
    before, after = ensemble.run(probe, want), loaded.run(probe, want)
    for key in want:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5, atol=1e-6)
    lead_z = members[FAMILIES.index("sparse")].run(probe, ("z",))["z"]
    np.testing.assert_allclose(after["z"], lead_z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.decode(after["z"]), ensemble.decode(before["z"]), atol=1e-6)
