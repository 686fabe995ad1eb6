"""The choice between the best autoencoder and the best baseline: switch only on a reliable
lead (paired bootstrap on validation), tested without MLflow; and which families the ensemble
averages."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from aeops.core.files import ENSEMBLE, METRICS_FILE, SCORES_FILE
from aeops.core.io import write_json
from aeops.evaluation.metrics import paired_bootstrap_difference
from aeops.evaluation.selection import SwitchRule, choose, ensemble_members
from tests.helpers import make_config


def rows(n_normal: int, n_anomaly: int, separation: float, seed: int):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n_normal, bool), np.ones(n_anomaly, bool)]
    return labels, rng.normal(size=n_normal + n_anomaly) + separation * labels


def choose_between(labels, ae, base, candidates: str = "all", n_boot: int = 100):
    """``choose`` between an autoencoder ``dense`` and a baseline ``knn`` with these scores."""
    return choose(
        {"dense": {"val_auroc": roc_auc_score(labels, ae)}},
        {"knn": {"val_auroc": roc_auc_score(labels, base)}},
        "val_auroc",
        {"dense": (labels, ae), "knn": (labels, base)},
        SwitchRule(confidence=0.9, min_anomalies=10, n_boot=n_boot, seed=0, ci=0.95),
        candidates,
    )


def decide(ae_sep: float, base_sep: float, n_anomaly: int, candidates: str = "all"):
    labels, ae = rows(200, n_anomaly, ae_sep, 0)
    _, base = rows(200, n_anomaly, base_sep, 1)
    return choose_between(labels, ae, base, candidates)


def test_a_clear_lead_on_a_large_fold_switches_to_the_baseline():
    selection = decide(ae_sep=0.5, base_sep=2.5, n_anomaly=100)
    assert selection.switched and selection.chosen == "knn" and selection.kind == "baseline"
    assert selection.lead_confidence >= 0.9 and "reliably better" in selection.reason


def test_a_lead_on_three_anomalies_is_noise_and_keeps_the_autoencoder():
    selection = decide(ae_sep=1.0, base_sep=1.6, n_anomaly=3)
    assert selection.lead > 0, "the baseline does lead on this fold"
    # three resampled anomalies make the bootstrap sure of a lead that is chance
    assert not selection.switched and selection.chosen == "dense"
    assert "validation holds 3 anomalies, fewer than the 10" in selection.reason


def test_an_equally_good_baseline_on_a_large_fold_is_not_reliably_better():
    labels, ae = rows(200, 40, 1.0, 0)
    base = ae + np.random.default_rng(7).normal(scale=0.5, size=len(ae))  # the same, noisier
    selection = choose_between(labels, ae, base)
    assert not selection.switched and selection.lead_confidence < 0.9
    assert "not reliably above zero" in selection.reason


def test_with_autoencoders_only_the_baseline_is_never_chosen():
    selection = decide(ae_sep=0.5, base_sep=2.5, n_anomaly=100, candidates="autoencoders")
    assert selection.chosen == "dense" and not selection.switched
    assert "register.candidates: autoencoders" in selection.reason


@pytest.mark.slow  # paired resamples: ~2 s
def test_the_paired_interval_is_narrower_than_for_unrelated_scores():
    labels, a = rows(300, 30, 1.0, 0)
    b = a + np.random.default_rng(5).normal(scale=0.1, size=len(a))  # nearly the same model
    lead = paired_bootstrap_difference(labels, a, b, "val_auroc", 300, 0.95, 0)
    assert lead.low <= lead.value <= lead.high and lead.high - lead.low < 0.05


def test_without_bootstrap_nothing_switches_and_nothing_unmeasured_is_recorded():
    labels, ae = rows(200, 40, 0.5, 0)
    _, base = rows(200, 40, 2.5, 1)
    selection = choose_between(labels, ae, base, n_boot=0)
    assert not selection.switched
    assert "lead_low" not in selection.record() and selection.record()["lead"] > 0


def choose_with_ensemble(n_anomaly: int, family_sep: float, ensemble_sep: float):
    """``choose`` among families ``dense`` and ``vae``, their ``ensemble`` and a weak
    baseline ``knn``."""
    labels, dense = rows(200, n_anomaly, family_sep, 0)
    _, vae = rows(200, n_anomaly, family_sep - 0.3, 1)
    _, ensemble = rows(200, n_anomaly, ensemble_sep, 2)
    _, knn = rows(200, n_anomaly, 0.2, 3)
    scores = {"dense": dense, "vae": vae, "ensemble": ensemble, "knn": knn}
    auroc = {name: {"val_auroc": roc_auc_score(labels, s)} for name, s in scores.items()}
    return choose(
        {n: {**auroc[n], "kind": "autoencoder"} for n in ("dense", "vae")}
        | {"ensemble": {**auroc["ensemble"], "kind": "ensemble"}},
        {"knn": auroc["knn"]},
        "val_auroc",
        {name: (labels, s) for name, s in scores.items()},
        SwitchRule(confidence=0.9, min_anomalies=10, n_boot=100, seed=0, ci=0.95),
        "all",
    )


def test_the_ensemble_stays_unless_a_family_is_reliably_better():
    close = choose_with_ensemble(n_anomaly=40, family_sep=1.2, ensemble_sep=1.0)
    assert close.chosen == "ensemble" and close.kind == "ensemble"
    assert "ensemble kept: the best family dense" in close.reason
    assert "not reliably above zero" in close.autoencoder_reason
    clear = choose_with_ensemble(n_anomaly=100, family_sep=2.5, ensemble_sep=0.5)
    assert clear.chosen == "dense" and clear.kind == "autoencoder"
    assert "family dense is reliably better than the ensemble" in clear.reason


def test_a_family_lead_on_a_few_anomalies_keeps_the_ensemble():
    few = choose_with_ensemble(n_anomaly=4, family_sep=2.5, ensemble_sep=0.5)
    assert few.chosen == "ensemble"
    assert "validation holds 4 anomalies, fewer than the 10" in few.autoencoder_reason


def members_of(labels: np.ndarray, scores: dict[str, np.ndarray]):
    """``ensemble_members`` for families with these validation scores; a family is left out
    exactly when the best leads it in >= 90% of the paired resamples (and the fold is large
    enough to tell)."""
    models = {n: {"val_auroc": roc_auc_score(labels, s)} for n, s in scores.items()}
    rule = SwitchRule(confidence=0.9, min_anomalies=10, n_boot=100, seed=0, ci=0.95)
    kept, why = ensemble_members(
        models, "val_auroc", {n: (labels, s) for n, s in scores.items()}, rule
    )
    best = max(models, key=lambda n: (models[n]["val_auroc"], -list(models).index(n)))
    for name, s in scores.items():
        lead = paired_bootstrap_difference(labels, s, scores[best], "val_auroc", 100, 0.95, 0)
        assert (name in kept) == (name == best or lead.p_positive < 0.9 or labels.sum() < 10)
    return kept, why


@pytest.mark.slow  # paired resamples: ~5 s
def test_the_ensemble_leaves_out_a_family_validation_shows_reliably_worse():
    labels, score = rows(200, 60, 2.0, 0)
    _, weak = rows(200, 60, 0.3, 1)
    # dense, sparse and vae rank the rows alike (no one is worse); conv barely separates them
    scores = {"dense": score, "conv": weak, "sparse": 2 * score + 1, "vae": np.exp(score)}
    kept, why = members_of(labels, scores)
    assert kept == ["dense", "sparse", "vae"]  # in the families' order, the weak one out
    assert why.startswith("dense, sparse, vae: the best family dense is reliably better")
    assert "conv (by 0." in why and "register.switch_confidence 90%" in why


@pytest.mark.slow  # paired resamples: ~4 s
def test_families_that_rank_alike_all_stay_and_few_anomalies_prove_nothing_worse():
    labels, score = rows(200, 60, 1.5, 0)
    kept, why = members_of(labels, {"dense": score, "sparse": 2 * score, "vae": np.exp(score)})
    assert kept == ["dense", "sparse", "vae"] and "none reliably worse than dense" in why
    labels, score = rows(200, 5, 3.0, 0)
    _, weak = rows(200, 5, 0.0, 1)
    few, why = members_of(labels, {"dense": score, "conv": weak})
    assert few == ["dense", "conv"]
    assert "validation holds 5 anomalies, fewer than the 10" in why


@pytest.mark.slow  # paired resamples: ~3 s; the stage test below keeps the rule fast
def test_a_clearly_best_family_alone_leaves_no_ensemble_to_build():
    labels, best = rows(200, 60, 2.5, 0)
    _, weak = rows(200, 60, 0.2, 1)
    _, weaker = rows(200, 60, 0.0, 2)
    kept, why = members_of(labels, {"dense": weak, "denoising": best, "vae": weaker})
    assert kept == ["denoising"]
    assert why.startswith("only denoising: the best family denoising is reliably better on")
    assert "validation than dense (by 0." in why


def test_the_evaluate_stage_builds_no_ensemble_of_one_and_removes_an_old_one(tmp_path):
    cfg = make_config(tmp_path)
    labels, score = rows(200, 60, 2.5, 0)
    noise = np.random.default_rng(1).normal(size=len(labels))  # vae: no separation at all
    for family, s in {"dense": score, "vae": noise}.items():
        folder = cfg.paths.family_eval_dir(family)
        folder.mkdir(parents=True)
        write_json(folder / METRICS_FILE, {"val_auroc": roc_auc_score(labels, s)})
        frame = pd.DataFrame({"split": "val", "is_anomaly": labels, "synthetic": False, "score": s})
        frame.to_parquet(folder / SCORES_FILE)
    old = cfg.paths.family_eval_dir(ENSEMBLE)
    old.mkdir()
    (old / METRICS_FILE).write_text("{}")  # an earlier run's ensemble
    from aeops.stages.evaluate import evaluate_ensemble  # torch, MLflow: only this test

    assert evaluate_ensemble(SimpleNamespace(cfg=cfg), ["dense", "vae"]) is None
    assert not old.exists()  # compare would otherwise read it as this run's
