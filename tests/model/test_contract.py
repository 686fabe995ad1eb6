"""The contract every detector keeps (scikit-learn's ``check_estimator``, for aeops): every
autoencoder family found in ``models/autoencoders``, every baseline found in
``models/baselines`` and the ensemble, parametrised, so a new detector gets these checks by
existing.

- fit/score shapes and dtypes: one finite float score per row, one error per feature;
- rows that break the training rows' structure score higher (planted outliers);
- the same seed gives the same scores, bit for bit;
- save, then load by kind: the same scores, bit for bit;
- float32's extremes are refused in one sentence or scored finitely, never inf or NaN;
- ``predict`` is ``score > threshold_``, and there is no flag before a threshold;
- a row's score is its own (scored alone or with others);
- encode / decode / reconstruct shapes where the model has a code, a sentence where not.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from aeops.core.errors import ScoringInputError
from aeops.data.preprocess import Preprocessor
from aeops.data.schema import DatasetMeta, pixel_columns
from aeops.models.autoencoders import families
from aeops.models.autoencoders.detector import AutoencoderDetector
from aeops.models.base import Detector
from aeops.models.baselines import baselines
from aeops.models.ensemble import EnsembleDetector
from aeops.models.registry import load_detector
from aeops.serving.pipeline import DetectorInfo, DetectorPipeline
from tests.helpers import fold_of, low_rank_data, make_config, training_spec

FEATURES = 16
TABLE = DatasetMeta("contract", "memory", [f"f{i}" for i in range(FEATURES)], None, [], 400)
IMAGE = DatasetMeta(
    "contract", "memory", pixel_columns(FEATURES), None, [], 400, image_shape=[1, 4, 4]
)
ENSEMBLE_MEMBERS = ("dense", "sparse")
DETECTORS = [*families(), *baselines(), "ensemble"]
CFG = make_config(
    train={"max_epochs": 12, "patience": 12, "batch_size": 32, "progress_bar": False},
    evaluate={"bootstrap": 20},
)


def rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training rows, validation rows, validation flags): rank-3 rows in [0, 1], and a
    validation fold with a few rows that break half their features far beyond their range."""
    train = low_rank_data(300, dim=FEATURES, rank=3, seed=0)
    val = low_rank_data(60, dim=FEATURES, rank=3, seed=1)
    flags = np.zeros(60, bool)
    flags[-12:] = True
    val[-12:] = planted(val[-12:], seed=2)
    return train, val, flags


def planted(x: np.ndarray, seed: int) -> np.ndarray:
    """``x`` with half its features per row pushed far out of the training range."""
    out = x.copy()
    rng = np.random.default_rng(seed)
    for row in out:
        row[rng.choice(FEATURES, FEATURES // 2, replace=False)] += 3.0
    return out


def meta_of(name: str) -> DatasetMeta:
    return IMAGE if name in families() and families()[name].needs_image else TABLE


def new_detector(name: str) -> Detector:
    """Detector ``name``, configured and not fitted (the ensemble's members fitted)."""
    if name in families():
        return AutoencoderDetector(training_spec(name, CFG, meta_of(name), unit_range=True))
    if name in baselines():
        return baselines()[name](CFG.baselines, CFG.seed)
    members = {family: fitted(family) for family in ENSEMBLE_MEMBERS}
    return EnsembleDetector(members, ENSEMBLE_MEMBERS[0])


def fit(name: str) -> Detector:
    train, val, flags = rows()
    return new_detector(name).fit(fold_of(train), fold_of(val, flags))


@cache
def fitted(name: str) -> Detector:
    return fit(name)


def probe() -> tuple[np.ndarray, np.ndarray]:
    """Held-out rows, the last third of them planted outliers, and their flags."""
    normal = low_rank_data(90, dim=FEATURES, rank=3, seed=7)
    x = np.concatenate([normal[:60], planted(normal[60:], seed=8)]).astype(np.float32)
    return x, np.r_[np.zeros(60, bool), np.ones(30, bool)]


@pytest.mark.parametrize("name", DETECTORS)
def test_scores_have_one_finite_float_per_row_and_an_error_per_feature(name):
    detector = fitted(name)
    x, _ = probe()
    scores = detector.decision_function(x)
    assert isinstance(detector, Detector)
    assert scores.shape == (len(x),) and np.issubdtype(scores.dtype, np.floating)
    assert np.isfinite(scores).all()
    errors = detector.feature_errors(x)
    assert errors.shape == (len(x), FEATURES) and np.isfinite(errors).all()
    assert (errors >= 0).all()
    assert detector.kind in ("autoencoder", "baseline", "ensemble") and detector.name == name


@pytest.mark.parametrize("name", DETECTORS)
def test_planted_outliers_score_higher(name):
    x, flags = probe()
    auroc = roc_auc_score(flags, fitted(name).decision_function(x))
    assert auroc > 0.9, f"{name}: AUROC {auroc:.3f} on rows with half their features far out"


@pytest.mark.parametrize("name", DETECTORS)
def test_the_same_seed_gives_the_same_scores(name):
    x, _ = probe()
    np.testing.assert_array_equal(fit(name).decision_function(x), fitted(name).decision_function(x))


@pytest.mark.parametrize("name", DETECTORS)
def test_save_and_load_give_the_same_scores_bit_for_bit(name, tmp_path):
    detector = fitted(name)
    path = detector.save(tmp_path)
    loaded = load_detector(detector.kind, path)
    x, _ = probe()
    np.testing.assert_array_equal(loaded.decision_function(x), detector.decision_function(x))
    np.testing.assert_array_equal(loaded.feature_errors(x), detector.feature_errors(x))
    assert loaded.name == detector.name and loaded.kind == detector.kind
    assert (
        load_detector(detector.kind, detector.save(tmp_path / "again"))
        .decision_function(x)
        .tobytes()
        == loaded.decision_function(x).tobytes()
    )
    in_sevens = load_detector(detector.kind, path, batch_rows=7)  # other batches: float32 rounding
    np.testing.assert_allclose(
        in_sevens.decision_function(x), detector.decision_function(x), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("name", DETECTORS)
def test_float32_extremes_are_refused_in_a_sentence_or_scored_finitely(name):
    detector = fitted(name)
    meta = meta_of(name)
    train, _, _ = rows()
    frame = pd.DataFrame(train, columns=meta.features)
    preprocessor = Preprocessor.fit(frame, meta, "none", False, 20)
    info = DetectorInfo(detector.kind, name, meta.schema(), 0.5, "fixed", "contract", {})
    pipeline = DetectorPipeline(detector, preprocessor, info)
    for value in (3.0e38, -3.0e38, 1e-45, float(np.finfo(np.float32).tiny)):
        extreme = frame.head(3).copy()
        extreme.iloc[1, 2] = value
        try:
            scores = pipeline.predict(extreme)["anomaly_score"]
        except ScoringInputError as refused:
            assert "row 1" in str(refused) and "\n" not in str(refused)
        else:
            assert np.isfinite(scores).all(), f"{name}: {value} scored {scores.tolist()}"


@pytest.mark.parametrize("name", DETECTORS)
def test_predict_is_the_score_above_the_threshold(name):
    detector = new_detector(name) if name != "ensemble" else fit(name)
    x, _ = probe()
    if name != "ensemble":
        with pytest.raises(ScoringInputError, match="no threshold yet"):
            detector.fit(fold_of(rows()[0]), fold_of(rows()[1], rows()[2])).predict(x)
    scores = detector.decision_function(x)
    threshold = float(np.median(scores))
    flags = detector.set_threshold(threshold).predict(x)
    assert detector.threshold_ == threshold
    np.testing.assert_array_equal(flags, scores > threshold)
    assert flags.dtype == bool and 0 < flags.sum() < len(x)


@pytest.mark.parametrize("name", DETECTORS)
def test_a_rows_score_is_its_own(name):
    detector = fitted(name)
    x, _ = probe()
    together = detector.decision_function(x)
    alone = np.concatenate([detector.decision_function(x[i : i + 1]) for i in (0, 45, 89)])
    # the same up to float32 rounding (a one-row matrix product sums in another order)
    np.testing.assert_allclose(alone, together[[0, 45, 89]], rtol=1e-5, atol=1e-6)
    assert detector.decision_function(x[:0]).shape == (0,)


@pytest.mark.parametrize("name", DETECTORS)
def test_encode_decode_and_reconstruct_where_there_is_a_code(name):
    detector = fitted(name)
    x, _ = probe()
    if not detector.has_code:
        for verb in (detector.encode, detector.reconstruct):
            with pytest.raises(ScoringInputError, match="no latent code"):
                verb(x)
        with pytest.raises(ScoringInputError, match="no latent code"):
            detector.decode(np.zeros((2, 3)))
        return
    z = detector.encode(x)
    assert z.ndim == 2 and z.shape[0] == len(x) and 1 <= z.shape[1] < FEATURES
    recon = detector.reconstruct(x)
    assert recon.shape == x.shape and np.isfinite(recon).all()
    np.testing.assert_allclose(detector.decode(z), recon, rtol=1e-4, atol=1e-5)
    assert detector.decode(z[:0]).shape == (0, FEATURES)
