"""The checks behind :func:`aeops.testing.check_detector` and
:func:`aeops.testing.check_denoiser` (see :mod:`aeops.testing`).

For a detector:

- scores: one finite float per row (``decision_function``), one error per feature;
- rows that break the training rows' structure score higher (planted outliers);
- the same seed gives the same scores, bit for bit;
- ``save``, then :func:`~aeops.models.registry.load_model`: the same scores and threshold,
  bit for bit (and the same up to float32 rounding in other batch sizes);
- float32's extremes are refused in one sentence naming the row, or scored finitely;
- ``fit`` sets a threshold; ``predict`` is ``score > threshold_``;
- a row's score is its own (scored alone or with others);
- encode / decode / reconstruct shapes where the model has a code, a sentence where not;
- ``fit`` takes a plain frame (or NumPy array), without validation rows.

For a denoiser: any image size comes back the same size in [0, 1] (colour one channel at a
time); training denoises held-out images; the same seed gives the same output; ``save``
then ``load_model`` is bit-equal; images outside [0, 1] are refused in one sentence.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np

from aeops.core.errors import AeopsError, ScoringInputError
from aeops.data.noise import add_noise, psnr_db

FEATURES = 16
OUTLIERS = 12  # of validation's 60 rows
SIGMA = 25  # the noise a denoiser is measured at (0-255 scale), unless told otherwise


def low_rank_rows(n: int, seed: int, dim: int = FEATURES, rank: int = 3) -> np.ndarray:
    """Rows on a rank-``rank`` subspace, squashed into [0, 1]: easy to reconstruct."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, dim))
    codes = rng.normal(size=(n, rank))
    return (1 / (1 + np.exp(-(codes @ basis) / 2))).astype(np.float32)


def planted(x: np.ndarray, seed: int) -> np.ndarray:
    """``x`` with half its features per row pushed far out of the training range."""
    out = x.copy()
    rng = np.random.default_rng(seed)
    for row in out:
        row[rng.choice(x.shape[1], x.shape[1] // 2, replace=False)] += 3.0
    return out


def contract_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training rows, validation rows, validation flags): 16 features in [0, 1] on a rank-3
    subspace; the last 12 of validation's 60 rows break half their features far beyond."""
    train = low_rank_rows(300, seed=0)
    val = low_rank_rows(60, seed=1)
    flags = np.zeros(60, bool)
    flags[-OUTLIERS:] = True
    val[-OUTLIERS:] = planted(val[-OUTLIERS:], seed=2)
    return train, val, flags


def probe() -> tuple[np.ndarray, np.ndarray]:
    """Held-out rows, the last third of them planted outliers, and their flags."""
    normal = low_rank_rows(90, seed=7)
    x = np.concatenate([normal[:60], planted(normal[60:], seed=8)]).astype(np.float32)
    return x, np.r_[np.zeros(60, bool), np.ones(30, bool)]


class DetectorContract:
    """A detector factory and the one fitted detector the checks share."""

    def __init__(self, make: Callable[[], Any], image_shape: list[int] | None = None) -> None:
        self.make = make
        self.image_shape = image_shape  # how the contract's 16 features are pixels, if so

    def fit(self) -> Any:
        train, val, flags = contract_rows()
        return self.make().fit(train, (val, flags))

    @cached_property
    def fitted(self) -> Any:
        return self.fit()


def auroc(flags: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(flags, scores))


def check_scores(c: DetectorContract, tmp: Path) -> None:
    from aeops.models.base import KINDS, Detector

    detector = c.fitted
    x, _ = probe()
    scores = detector.decision_function(x)
    assert isinstance(detector, Detector), "the Detector verbs are missing"
    assert scores.shape == (len(x),) and np.issubdtype(scores.dtype, np.floating), scores.shape
    assert np.isfinite(scores).all(), "scores are not all finite"
    errors = detector.feature_errors(x)
    assert errors.shape == (len(x), FEATURES) and np.isfinite(errors).all(), errors.shape
    assert (errors >= 0).all(), "a feature error is negative"
    assert detector.kind in KINDS and detector.name, (detector.kind, detector.name)


def check_outliers_score_higher(c: DetectorContract, tmp: Path) -> None:
    x, flags = probe()
    value = auroc(flags, c.fitted.decision_function(x))
    assert value > 0.9, f"AUROC {value:.3f} on rows with half their features far out"


def check_same_seed_same_scores(c: DetectorContract, tmp: Path) -> None:
    x, _ = probe()
    np.testing.assert_array_equal(c.fit().decision_function(x), c.fitted.decision_function(x))


def check_save_and_load(c: DetectorContract, tmp: Path) -> None:
    from aeops.models.registry import load_model

    detector = c.fitted
    path = detector.save(tmp / "saved")
    loaded: Any = load_model(path)
    x, _ = probe()
    np.testing.assert_array_equal(loaded.decision_function(x), detector.decision_function(x))
    np.testing.assert_array_equal(loaded.feature_errors(x), detector.feature_errors(x))
    assert (loaded.name, loaded.kind) == (detector.name, detector.kind)
    assert loaded.threshold_ == detector.threshold_, (loaded.threshold_, detector.threshold_)
    again = cast(Any, load_model(detector.save(tmp / "again"))).decision_function(x)
    assert again.tobytes() == loaded.decision_function(x).tobytes(), "saving is not stable"
    in_sevens: Any = load_model(path, batch_rows=7)  # other batches: float32 rounding only
    np.testing.assert_allclose(
        in_sevens.decision_function(x), detector.decision_function(x), rtol=1e-4, atol=1e-5
    )


def check_float32_extremes(c: DetectorContract, tmp: Path) -> None:
    """Through the serving pipeline (identity preprocessing): refused naming the row, or
    scored finitely; never inf or NaN."""
    import pandas as pd

    from aeops.data.preprocess import Preprocessor
    from aeops.data.schema import DatasetMeta, pixel_columns
    from aeops.serving.pipeline import DetectorInfo, DetectorPipeline

    detector = c.fitted
    columns = pixel_columns(FEATURES) if c.image_shape else [f"f{i}" for i in range(FEATURES)]
    meta = DatasetMeta("contract", "memory", columns, None, [], 400, image_shape=c.image_shape)
    frame = pd.DataFrame(contract_rows()[0], columns=meta.features)
    preprocessor = Preprocessor.fit(frame, meta, "none", False, 20)
    info = DetectorInfo(detector.kind, detector.name, meta.schema(), 0.5, "fixed", "contract", {})
    pipeline = DetectorPipeline(detector, preprocessor, info)
    for value in (3.0e38, -3.0e38, 1e-45, float(np.finfo(np.float32).tiny)):
        extreme = frame.head(3).copy()
        extreme.iloc[1, 2] = value
        try:
            scores = pipeline.predict(extreme)["anomaly_score"]
        except ScoringInputError as refused:
            assert "row 1" in str(refused) and "\n" not in str(refused), str(refused)
        else:
            assert np.isfinite(scores).all(), f"{value} scored {scores.tolist()}"


def check_threshold_and_predict(c: DetectorContract, tmp: Path) -> None:
    fresh = c.make()
    x, _ = probe()
    assert fresh.threshold_ is None, "an unfitted detector has a threshold"
    detector = c.fitted
    fitted = detector.threshold_
    assert fitted is not None, "fit set no threshold"
    scores = detector.decision_function(x)
    np.testing.assert_array_equal(detector.predict(x), scores > fitted)
    threshold = float(np.median(scores))
    try:
        flags = detector.set_threshold(threshold).predict(x)
        assert detector.threshold_ == threshold
        np.testing.assert_array_equal(flags, scores > threshold)
        assert flags.dtype == bool and 0 < flags.sum() < len(x)
    finally:
        detector.set_threshold(fitted)


def check_rows_score_alone(c: DetectorContract, tmp: Path) -> None:
    detector = c.fitted
    x, _ = probe()
    together = detector.decision_function(x)
    alone = np.concatenate([detector.decision_function(x[i : i + 1]) for i in (0, 45, 89)])
    # the same up to float32 rounding (a one-row matrix product sums in another order)
    np.testing.assert_allclose(alone, together[[0, 45, 89]], rtol=1e-5, atol=1e-6)
    assert detector.decision_function(x[:0]).shape == (0,)


def check_code_verbs(c: DetectorContract, tmp: Path) -> None:
    detector = c.fitted
    x, _ = probe()
    if not detector.has_code:
        for verb, rows in ((detector.encode, x), (detector.reconstruct, x)):
            try:
                verb(rows)
            except ScoringInputError as refused:
                assert "no latent code" in str(refused), str(refused)
            else:
                raise AssertionError(f"{verb.__name__} worked without a code")
        return
    z = detector.encode(x)
    assert z.ndim == 2 and z.shape[0] == len(x) and 1 <= z.shape[1] < FEATURES, z.shape
    recon = detector.reconstruct(x)
    assert recon.shape == x.shape and np.isfinite(recon).all(), recon.shape
    np.testing.assert_allclose(detector.decode(z), recon, rtol=1e-4, atol=1e-5)
    assert detector.decode(z[:0]).shape == (0, FEATURES)


def check_fit_on_a_frame(c: DetectorContract, tmp: Path) -> None:
    """``fit`` on a plain frame of numbers (a NumPy array the same), no validation rows."""
    import pandas as pd

    train, _, _ = contract_rows()
    x, flags = probe()
    detector = c.make().fit(pd.DataFrame(train, columns=[f"f{i}" for i in range(FEATURES)]))
    assert detector.threshold_ is not None, "fit(X) set no threshold"
    assert detector.predict(x).dtype == bool
    value = auroc(flags, detector.decision_function(x))
    assert value > 0.9, f"fit(X) without validation rows: AUROC {value:.3f}"


DETECTOR_CHECKS: dict[str, Callable[[DetectorContract, Path], None]] = {
    "scores": check_scores,
    "outliers_score_higher": check_outliers_score_higher,
    "same_seed_same_scores": check_same_seed_same_scores,
    "save_and_load": check_save_and_load,
    "float32_extremes": check_float32_extremes,
    "threshold_and_predict": check_threshold_and_predict,
    "rows_score_alone": check_rows_score_alone,
    "code_verbs": check_code_verbs,
    "fit_on_a_frame": check_fit_on_a_frame,
}


def run_checks(contract: Any, checks: dict[str, Callable[[Any, Path], None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, check in checks.items():
            folder = Path(tmp) / name
            folder.mkdir()
            try:
                check(contract, folder)
            except AssertionError as failed:
                raise AssertionError(f"check {name}: {failed}") from failed


def check_detector(make: Callable[[], Any], image_shape: list[int] | None = None) -> None:
    """Every detector check on detectors ``make()`` builds (``image_shape``: how the 16
    contract features are pixels, for a family that needs images, e.g. ``[1, 4, 4]``)."""
    run_checks(DetectorContract(make, image_shape), DETECTOR_CHECKS)


# -- denoisers ---------------------------------------------------------------------------


def contract_images(count: int, size: int, seed: int) -> list[np.ndarray]:
    """Piecewise-smooth grey images: gradients plus a few bright discs, values in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(count):
        image = 0.3 + 0.2 * (rng.uniform(-1, 1) * yy + rng.uniform(-1, 1) * xx)
        for _ in range(3):
            cy, cx, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.1, 0.25)]
            image = image + 0.3 * (((yy - cy) ** 2 + (xx - cx) ** 2) < r**2)
        images.append(np.clip(image, 0.1, 0.9).astype(np.float32))
    return images


class DenoiserContract:
    """A denoiser factory and the one fitted denoiser the checks share (trained at the
    noise its factory sets; measured at sigma 25 or its own)."""

    def __init__(self, make: Callable[[], Any], sigma: float = SIGMA) -> None:
        self.make, self.sigma = make, sigma

    def fit(self) -> Any:
        images = contract_images(24, 32, seed=0)
        return self.make().fit(images[:20], images[20:])

    @cached_property
    def fitted(self) -> Any:
        return self.fit()


def check_any_size(c: DenoiserContract, tmp: Path) -> None:
    for shape in ((8, 8), (37, 53), (5, 3), (64, 17)):
        image = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
        out = c.fitted.denoise(image)
        assert out.shape == shape and out.dtype == np.float32, (shape, out.shape, out.dtype)
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
        colour = c.fitted.denoise(np.stack([image] * 3, axis=-1))
        assert colour.shape == (*shape, 3), colour.shape
        np.testing.assert_allclose(colour[..., 1], out, atol=1e-6)  # each channel on its own


def check_denoises(c: DenoiserContract, tmp: Path) -> None:
    held_out = contract_images(6, 40, seed=9)  # another size than the training images
    before, after = [], []
    for i, clean in enumerate(held_out):
        noisy = add_noise(clean, c.sigma, seed=100 + i)
        before.append(psnr_db(clean, noisy))
        after.append(psnr_db(clean, c.fitted.denoise(noisy)))
    gain = float(np.mean(after) - np.mean(before))
    assert gain > 3.0, f"PSNR gain {gain:.2f} dB on held-out images"


def check_same_seed_same_output(c: DenoiserContract, tmp: Path) -> None:
    noisy = add_noise(contract_images(1, 32, seed=5)[0], c.sigma, seed=5)
    np.testing.assert_array_equal(c.fit().denoise(noisy), c.fitted.denoise(noisy))


def check_denoiser_save_and_load(c: DenoiserContract, tmp: Path) -> None:
    from aeops.models.registry import load_model

    loaded: Any = load_model(c.fitted.save(tmp / "saved"))
    noisy = add_noise(contract_images(1, 48, seed=6)[0], c.sigma, seed=6)
    np.testing.assert_array_equal(loaded.denoise(noisy), c.fitted.denoise(noisy))
    assert (loaded.name, loaded.kind) == (c.fitted.name, c.fitted.kind)


def check_refuses_out_of_range(c: DenoiserContract, tmp: Path) -> None:
    images = contract_images(4, 32, seed=1)
    bright = [im * 300 for im in images]
    try:
        c.make().fit(bright[:3], bright[3:])
    except AeopsError as refused:
        assert "[0, 1]" in str(refused) and "\n" not in str(refused), str(refused)
    else:
        raise AssertionError("images in [0, 300] were fitted, not refused")


DENOISER_CHECKS: dict[str, Callable[[DenoiserContract, Path], None]] = {
    "any_size": check_any_size,
    "denoises": check_denoises,
    "same_seed_same_output": check_same_seed_same_output,
    "save_and_load": check_denoiser_save_and_load,
    "refuses_out_of_range": check_refuses_out_of_range,
}


def check_denoiser(make: Callable[[], Any], sigma: float = SIGMA) -> None:
    """Every denoiser check on denoisers ``make()`` builds (trained as the factory sets,
    measured at ``sigma``)."""
    run_checks(DenoiserContract(make, sigma), DENOISER_CHECKS)
