"""Model tier: detectors composed by wrapping: the ensemble of any detectors, a family's seed
bag (both a ScaledMean) and the search over a listed setting (BestOnValidation)."""

import numpy as np
import pytest
import pytorch_lightning as pl
from sklearn.metrics import roc_auc_score

from aeops.models.autoencoders.bag import SeedBag, family_detector
from aeops.models.autoencoders.detector import AutoencoderDetector
from aeops.models.ensemble import EnsembleDetector
from aeops.models.registry import load_model
from aeops.models.search import BestOnValidation
from tests.helpers import architecture_of, build_net, fold_of, low_rank_data, objective_of
from tests.model.test_families import TABLE_META, fit_briefly, small_config

FAMILIES = ["dense", "sparse"]


class FixedScorer:
    """A member whose score is a fixed function of the row (its first column, scaled)."""

    def __init__(self, weight: float, column: int) -> None:
        self.weight, self.column = weight, column

    def decision_function(self, x):
        return self.weight * x[:, self.column]

    def feature_errors(self, x):
        return np.abs(x) * self.weight

    has_code = False


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
    combined = ensemble.decision_function(x)
    raw_mean = (noisy_but_large.decision_function(x) + informative.decision_function(x)) / 2
    assert roc_auc_score(y, raw_mean) < 0.7  # unscaled, the large member decides
    assert roc_auc_score(y, combined) > 0.9
    assert ensemble.scale_[0] > 100 * ensemble.scale_[1]
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
        scores.append(ensemble.decision_function(probe))
    np.testing.assert_array_equal(scores[0], scores[1])
    assert np.isfinite(scores[0]).all() and scores[0].std() > 0

    path = ensemble.save(tmp_path)
    loaded = load_model(path, batch_rows=7)  # another batch size, the same numbers
    assert isinstance(loaded, EnsembleDetector) and loaded.families == FAMILIES
    verbs = ("decision_function", "feature_errors", "encode", "reconstruct")
    before = {verb: getattr(ensemble, verb)(probe) for verb in verbs}
    after = {verb: getattr(loaded, verb)(probe) for verb in verbs}
    for verb in verbs:
        np.testing.assert_allclose(after[verb], before[verb], rtol=1e-5, atol=1e-6)
    lead_z = members["sparse"].encode(probe)
    np.testing.assert_allclose(after["encode"], lead_z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        loaded.decode(after["encode"]), ensemble.decode(before["encode"]), atol=1e-6
    )


# -- a family's several seeds (models.seeds) --------------------------------------------------


def bag_of(seeds: int, x: np.ndarray, val: np.ndarray, val_flags: np.ndarray):
    from dataclasses import replace

    from tests.helpers import training_spec

    train = {"max_epochs": 3, "patience": 3, "batch_size": 32, "progress_bar": False,
             "accelerator": "cpu"}  # fmt: skip
    cfg = small_config(train=train, evaluate={"bootstrap": 20})  # a quick score-kind choice
    spec = replace(training_spec("dense", cfg, TABLE_META), seeds=seeds)
    return family_detector(spec, batch_rows=64).fit(fold_of(x), fold_of(val, val_flags))


def test_a_bag_of_seeds_scores_with_the_mean_of_its_members_and_survives_save_and_load(tmp_path):
    from aeops.models.combine import mean_z

    x = low_rank_data(160, dim=TABLE_META.n_features, seed=3)
    val = low_rank_data(60, dim=TABLE_META.n_features, seed=5)
    flags = np.zeros(60, bool)
    flags[:6] = True
    val[:6, :4] = 1.0 - val[:6, :4]  # anomalies: off the subspace
    bag = bag_of(3, x, val, flags)
    single = bag_of(1, x, val, flags)
    assert isinstance(bag, SeedBag) and isinstance(single, AutoencoderDetector)
    assert bag.seeds == 3 and single.seeds == 1 and len(bag.members) == 3
    assert [m.spec.seed for m in bag.members] == [bag.spec.seed + i for i in range(3)]
    kind = bag.network.score_choice_.kind
    assert all(m.score_choice_.kind == kind for m in bag.members)  # the lead's score kind
    # the lead is the single-seed network: same weights, so the same code
    np.testing.assert_array_equal(bag.encode(val), single.encode(val))
    # the scales: each member's median and IQR on validation's normal rows
    normal = val[~flags]
    for i, member in enumerate(bag.members):
        assert bag.centre_[i] == pytest.approx(np.median(member.decision_function(normal)))
    scores = bag.decision_function(val)
    members = [m.decision_function(val) for m in bag.members]
    np.testing.assert_array_equal(members[0], single.decision_function(val))
    np.testing.assert_allclose(scores, mean_z(members, bag.centre_, bag.scale_), rtol=1e-6)
    assert not np.allclose(members[0], members[1])  # another seed, another network
    # the threshold travels with the detector: the 99th percentile of validation's normal rows
    assert bag.threshold_ == pytest.approx(np.percentile(bag.decision_function(normal), 99))

    path = bag.save(tmp_path)
    loaded = load_model(path, batch_rows=7)
    assert isinstance(loaded, SeedBag) and loaded.seeds == 3 and loaded.about() == bag.about()
    assert loaded.threshold_ == bag.threshold_
    np.testing.assert_array_equal(loaded.predict(val), bag.predict(val))
    for verb in ("decision_function", "feature_errors", "encode", "reconstruct"):
        np.testing.assert_allclose(
            getattr(loaded, verb)(val), getattr(bag, verb)(val), rtol=1e-5, atol=1e-6
        )
    assert bag.feature_errors(val).shape == val.shape
    # the export's module computes what decision_function computes
    import torch

    with torch.no_grad():
        graph_scores = bag.torch_module()(torch.from_numpy(val))[0].numpy()
    np.testing.assert_allclose(graph_scores, scores, rtol=1e-5, atol=1e-6)
    # a bag is an ensemble's member like any family: nested in its file
    ensemble = EnsembleDetector({"dense": bag}, "dense").fit(fold_of(x), fold_of(val, flags))
    again = load_model(ensemble.save(tmp_path / "e"))
    assert again.members[0].seeds == 3
    np.testing.assert_allclose(
        again.decision_function(val), ensemble.decision_function(val), rtol=1e-5
    )


def test_an_ensemble_joins_any_detectors_a_baseline_too(tmp_path):
    from aeops.models.baselines import baselines
    from aeops.testing import contract_rows

    x, val, flags = contract_rows()  # validation's last 12 rows far off the training rows
    cfg = small_config()
    knn = baselines()["knn"](cfg.baselines).fit(x)
    dense = bag_of(1, x, val, flags)
    ensemble = EnsembleDetector({"dense": dense, "knn": knn}, "dense").fit(x, (val, flags))
    assert ensemble.has_code  # the lead's code
    loaded = load_model(ensemble.save(tmp_path))
    assert [m.name for m in loaded.members] == ["dense", "knn"]
    np.testing.assert_allclose(loaded.decision_function(val), ensemble.decision_function(val))
    np.testing.assert_array_equal(loaded.predict(val), ensemble.predict(val))
    assert roc_auc_score(flags, ensemble.decision_function(val)) > 0.9


def test_how_many_seeds_auto_trains():
    from aeops.models.autoencoders.settings import BAG_MAX_ROWS, BAG_SEEDS, resolve_seeds
    from tests.model.test_families import IMAGE_META

    assert resolve_seeds("auto", TABLE_META, coded=False, normal_rows=500) == BAG_SEEDS > 1
    assert resolve_seeds("auto", TABLE_META, coded=False, normal_rows=BAG_MAX_ROWS + 1) == 1
    assert resolve_seeds("auto", TABLE_META, coded=True, normal_rows=500) == 1
    assert resolve_seeds("auto", IMAGE_META, coded=False, normal_rows=500) == 1
    assert resolve_seeds(5, IMAGE_META, coded=True, normal_rows=10**6) == 5


# -- a listed setting (the VAE's beta: [..]): validation keeps the best option ---------------


def vae_of(beta, x, val, flags, seeds=1):
    from dataclasses import replace

    from tests.helpers import training_spec

    train = {"max_epochs": 2, "patience": 2, "batch_size": 32, "progress_bar": False,
             "accelerator": "cpu"}  # fmt: skip
    cfg = small_config(train=train, evaluate={"bootstrap": 20})  # a quick score-kind choice
    spec = training_spec("vae", cfg, TABLE_META)
    spec = replace(spec, params=spec.params.model_copy(update={"beta": beta}), seeds=seeds)
    return family_detector(spec, batch_rows=64).fit(fold_of(x), fold_of(val, flags))


def off_subspace(n_anomalies: int):
    x = low_rank_data(160, dim=TABLE_META.n_features, seed=3)
    val = low_rank_data(60, dim=TABLE_META.n_features, seed=5)
    flags = np.zeros(60, bool)
    flags[:n_anomalies] = True
    val[:n_anomalies, :4] = 1.0 - val[:n_anomalies, :4]
    return x, val, flags


def test_a_listed_beta_trains_each_and_keeps_the_one_validation_ranks_best(tmp_path):
    x, val, flags = off_subspace(12)  # >= register.switch_min_anomalies (10)
    singles = {b: vae_of(b, x, val, flags, seeds=2) for b in (30.0, 0.0)}
    aurocs = {b: roc_auc_score(flags, d.decision_function(val)) for b, d in singles.items()}
    worse, better = sorted(aurocs, key=aurocs.get)
    assert aurocs[better] > aurocs[worse]
    listed = vae_of([worse, better], x, val, flags, seeds=2)  # the better one second
    # the second option won: the search *is* that one (its bag included) ...
    assert isinstance(listed, BestOnValidation) and isinstance(listed.chosen_, SeedBag)
    assert listed.network.args_["beta"] == better and listed.spec.params.beta == better
    assert listed.seeds == 2 and [m.args_["beta"] for m in listed.members] == [better] * 2
    np.testing.assert_array_equal(
        listed.decision_function(val), singles[better].decision_function(val)
    )
    np.testing.assert_array_equal(listed.encode(val), singles[better].encode(val))
    # ... and says why, with both figures
    assert listed.choice_ == (
        f"beta {better:g}: the best val_auroc on 12 anomalies "
        f"(beta {worse:g} {aurocs[worse]:.4f}, beta {better:g} {aurocs[better]:.4f})"
    )
    loaded = load_model(listed.save(tmp_path))  # the file is the kept option's
    assert loaded.network.args_["beta"] == better
    np.testing.assert_allclose(
        loaded.decision_function(val), listed.decision_function(val), rtol=1e-5
    )


def test_with_too_few_anomalies_to_choose_the_first_option_is_kept_untried():
    x, val, flags = off_subspace(3)
    listed = vae_of([30.0, 0.0], x, val, flags)
    assert listed.network.args_["beta"] == 30.0
    assert listed.choice_ == (
        "beta 30, the first of beta 30, beta 0: validation holds 3 labelled anomalies, fewer "
        "than the 10 (register.switch_min_anomalies) that could tell them apart"
    )
    np.testing.assert_array_equal(
        listed.decision_function(val), vae_of(30.0, x, val, flags).decision_function(val)
    )


def test_a_listed_beta_is_parsed_and_checked():
    from aeops.core.errors import ConfigError

    cfg = small_config(models={"vae": {"latent": 4, "hidden": [32], "beta": [0.01, 0.1]}})
    assert cfg.models.vae.beta == [0.01, 0.1]
    for bad in ([], [0.1, -1.0], "0.1"):
        with pytest.raises(ConfigError):
            small_config(models={"vae": {"latent": 4, "hidden": [32], "beta": bad}})
