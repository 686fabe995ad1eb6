"""The contract every model keeps, run on every kind aeops has, one test per check: the
public suite (:mod:`aeops.testing`, scikit-learn's ``check_estimator`` for aeops) over every
autoencoder family found in ``models/autoencoders``, every baseline found in
``models/baselines``, the ensemble, a seed bag, a search over a listed setting, and every
denoiser found in ``models/denoisers``; a new model gets these checks by existing. The public
constructors (``from aeops import DenseAE``) and their doctest run here too."""

from __future__ import annotations

import doctest
from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from aeops.data.schema import DatasetMeta, pixel_columns
from aeops.models.autoencoders import families
from aeops.models.autoencoders.bag import family_detector
from aeops.models.baselines import baselines
from aeops.models.denoisers import denoisers
from aeops.models.ensemble import EnsembleDetector
from aeops.testing import (
    DENOISER_CHECKS,
    DETECTOR_CHECKS,
    DenoiserContract,
    DetectorContract,
    check_detector,
    contract_rows,
)
from aeops.testing.contract import FEATURES
from tests.helpers import make_config, training_spec

TABLE = DatasetMeta("contract", "memory", [f"f{i}" for i in range(FEATURES)], None, [], 400)
IMAGE = DatasetMeta(
    "contract", "memory", pixel_columns(FEATURES), None, [], 400, image_shape=[1, 4, 4]
)
WINDOW = 4  # rows per window for the families that read windows (FEATURES = 4 x 4)
ENSEMBLE_MEMBERS = ("dense", "sparse")
COMPOSED = ["bag", "search"]  # a family's seed bag; a listed setting searched on validation
SLOW_KINDS = {"gru", "tcn"}  # window families (~5 s): slow tier; make test fits tcn elsewhere
DETECTORS = [
    pytest.param(n, marks=pytest.mark.slow) if n in SLOW_KINDS else n
    for n in [*families(), *baselines(), "ensemble", *COMPOSED]
]
CFG = make_config(
    train={"max_epochs": 12, "patience": 12, "batch_size": 32, "progress_bar": False},
    evaluate={"bootstrap": 20},
    register={"switch_min_anomalies": 5},
)
TINY_UNET = {"width": 16, "depth": 1, "blocks": 1, "patch": 16, "batch_size": 8, "steps": 90,
             "val_every": 30, "lr": 0.003}  # fmt: skip


def needs_image(name: str) -> bool:
    return name in families() and families()[name].needs_image


def family_spec(name: str):
    spec = training_spec(name, CFG, IMAGE if needs_image(name) else TABLE, unit_range=True)
    # a family that reads windows sees each contract row as 4 rows of 4 sensors
    return replace(spec, window=WINDOW) if families()[name].needs_window else spec


def maker(name: str):
    """A factory of new, unfitted detectors called ``name`` (the ensemble's members fitted)."""
    if name in families():
        return lambda: family_detector(replace(family_spec(name), seeds=1))
    if name in baselines():
        return lambda: baselines()[name](CFG.baselines, CFG.seed)
    if name == "bag":
        return lambda: family_detector(replace(family_spec("dense"), seeds=2))
    if name == "search":
        spec = family_spec("vae")
        listed = spec.params.model_copy(update={"beta": [0.01, 0.1]})
        return lambda: family_detector(replace(spec, params=listed, seeds=1))
    return lambda: EnsembleDetector({f: member(f) for f in ENSEMBLE_MEMBERS}, "dense")


@cache
def member(name: str):
    train, val, flags = contract_rows()
    return maker(name)().fit(train, (val, flags))


@cache
def contract(name: str) -> DetectorContract:
    return DetectorContract(maker(name), IMAGE.image_shape if needs_image(name) else None)


@pytest.mark.parametrize("check", list(DETECTOR_CHECKS))
@pytest.mark.parametrize("name", DETECTORS)
def test_every_detector_keeps_the_contract(name, check, tmp_path):
    DETECTOR_CHECKS[check](contract(name), tmp_path)


@cache
def denoiser_contract(name: str) -> DenoiserContract:
    return DenoiserContract(lambda: denoisers()[name](seed=3, sigma=25.0, **TINY_UNET))


@pytest.mark.parametrize("check", list(DENOISER_CHECKS))
@pytest.mark.parametrize("name", list(denoisers()))
def test_every_denoiser_keeps_the_contract(name, check, tmp_path):
    DENOISER_CHECKS[check](denoiser_contract(name), tmp_path)


def test_the_public_suite_fails_a_detector_that_breaks_the_contract():
    """check_detector is not a rubber stamp: a detector whose scores ignore the rows fails."""

    class Blind(baselines()["knn"]):
        def scores(self, x):
            return np.zeros(len(x))

    with pytest.raises(AssertionError, match="check outliers_score_higher: AUROC 0.500"):
        check_detector(lambda: Blind(CFG.baselines, CFG.seed))


@pytest.mark.slow  # the doctest trains five detectors: ~4 s
def test_the_public_constructors_and_their_doctest():
    import aeops
    from aeops.models import estimators

    failures, tried = doctest.testmod(estimators, optionflags=doctest.ELLIPSIS)
    assert tried >= 5 and failures == 0
    assert aeops.DenseAE is estimators.DenseAE and aeops.load.__name__ == "load_model"
    with pytest.raises(AttributeError):
        aeops.NoSuchModel  # noqa: B018
