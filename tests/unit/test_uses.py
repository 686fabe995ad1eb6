"""The use measures (denoising, compression, reduction) on data with a known answer."""

from __future__ import annotations

import io

import numpy as np
import pytest

from aeops.data.noise import PSNR_CAP_DB
from aeops.evaluation.denoising import row_references
from aeops.evaluation.selection import choose_for_use
from aeops.evaluation.uses import (
    Corruption,
    binary_cross_entropy,
    compression_metrics,
    corrupt_rows,
    denoising_metrics,
    jpeg_points,
    knn_accuracy,
    mean_ssim,
    psnr,
    reduction_metrics,
    scan_bytes,
    squared_error_per_row,
    use_rows,
)
from tests.helpers import make_config


def test_psnr_of_a_known_error():
    clean = np.zeros((10, 4))
    assert psnr(clean, clean + 0.1, data_range=1.0) == pytest.approx(20.0)  # 10 log10(1/0.01)
    assert psnr(clean, clean + 0.01, data_range=1.0) == pytest.approx(40.0)
    assert psnr(clean, clean, data_range=1.0) == PSNR_CAP_DB  # a perfect copy: capped, not inf


def test_the_corruption_is_seeded_and_has_the_configured_strength():
    x = np.ones((2000, 10), np.float32)
    noisy = corrupt_rows(x, "gaussian", 0.1, seed=3)
    assert np.std(noisy - x) == pytest.approx(0.1, rel=0.02)
    np.testing.assert_array_equal(noisy, corrupt_rows(x, "gaussian", 0.1, seed=3))
    masked = corrupt_rows(x, "mask", 0.25, seed=3)
    assert np.mean(masked == 0) == pytest.approx(0.25, abs=0.01)
    with pytest.raises(ValueError, match="gaussian or mask"):
        corrupt_rows(x, "speckle", 0.1, seed=3)


def image_rows(n: int = 60, seed: int = 0) -> np.ndarray:
    """8x8 images of a smooth blob at random places: what a denoiser should restore."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:8, 0:8]
    centres = rng.uniform(2, 6, size=(n, 2))
    blobs = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 6)
    return blobs.reshape(n, 64).astype(np.float32)


def rows_of(x: np.ndarray, shape=None, labels=None, level: float = 0.1):
    labels = np.array([""] * len(x)) if labels is None else labels
    return use_rows(x, labels, x, Corruption("gaussian", level, 1), shape)


def test_denoising_a_known_amount_of_noise_reports_its_gain():
    rows = rows_of(image_rows(), shape=(1, 8, 8))
    noisy_db = psnr(rows.clean, rows.noisy, 1.0)
    assert noisy_db == pytest.approx(20.0, abs=0.3)  # std 0.1 on a [0, 1] range
    perfect = denoising_metrics(rows, rows.clean)
    assert perfect["psnr_gain_db"] == pytest.approx(PSNR_CAP_DB - noisy_db)
    assert perfect["ssim_denoised"] == pytest.approx(1.0)
    assert perfect["ssim_gain"] > 0
    useless = denoising_metrics(rows, rows.noisy)  # hands the noisy rows back
    assert useless["psnr_gain_db"] == pytest.approx(0.0) and useless["ssim_gain"] == 0.0


def test_ssim_of_identical_and_of_unrelated_images():
    images = image_rows(20)
    assert mean_ssim(images, images, (1, 8, 8), 1.0) == pytest.approx(1.0)
    other = image_rows(20, seed=5)[::-1]
    assert mean_ssim(images, other, (1, 8, 8), 1.0) < 0.9


def test_a_lossless_code_has_the_rate_it_says_and_no_distortion_beyond_quantisation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12)).astype(np.float32)
    basis = np.linalg.qr(rng.normal(size=(12, 12)))[0][:, :3]
    x = (x @ basis @ basis.T).astype(np.float32)  # rows on a 3-dimensional subspace
    rows = rows_of(x)
    z = x @ basis  # a perfect 3-dimensional code, decoded exactly

    def decode(codes):
        return (codes @ basis.T).astype(np.float32)

    m = compression_metrics(rows, z, decode)
    assert (m["code_dims"], m["code_bytes_per_row"], m["code_ratio_float32"]) == (3, 12, 4.0)
    assert m["code_int8_bytes_per_row"] == 3 and m["code_float16_bytes_per_row"] == 6
    assert m["code_psnr_db"] > 100 or m["code_psnr_db"] == PSNR_CAP_DB
    assert m["code_psnr_db"] > m["code_float16_psnr_db"] > m["code_int8_psnr_db"] > 30
    assert m["pca_same_k_psnr_db"] > 90  # PCA finds the same subspace
    assert m["code_se_per_row"] < 1e-9 and m["pca_same_k_se_per_row"] < 1e-6
    assert m["pca_same_k_int8_psnr_db"] == pytest.approx(m["code_int8_psnr_db"], abs=3)
    assert 0 < m["code_int8_lzma_bytes_per_row"] <= 3 + 1  # entropy coding adds ~no bytes
    assert "code_bce" not in m  # the rows are not in [0, 1]


def test_squared_error_per_row_and_cross_entropy_have_their_textbook_values():
    clean = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5]], np.float32)
    estimate = np.array([[0.1, 0.9, 0.5], [0.8, 0.0, 0.7]], np.float32)
    assert squared_error_per_row(clean, estimate) == pytest.approx((0.02 + 0.08) / 2)
    y, p = clean.astype(np.float64), np.clip(estimate.astype(np.float64), 1e-7, 1 - 1e-7)
    want = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert binary_cross_entropy(clean, estimate) == pytest.approx(want)
    rows = rows_of(np.tile(clean, (10, 1)))
    m = compression_metrics(rows, np.zeros((20, 1)), lambda z: np.tile(estimate, (10, 1)))
    assert m["code_bce"] == pytest.approx(want) and m["code_se_per_row"] == pytest.approx(0.05)


def test_reduction_measures_of_a_perfect_and_of_a_random_code():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6, size=(3, 10))
    labels = np.repeat(np.array(["a", "b", "c"]), 40)
    x = (centres[np.repeat(np.arange(3), 40)] + rng.normal(size=(120, 10))).astype(np.float32)
    rows = rows_of(x, labels=labels)
    perfect = reduction_metrics(rows, x, x, seed=0)  # the code is the row itself
    assert perfect["trustworthiness"] == pytest.approx(1.0)
    assert perfect["continuity"] == pytest.approx(1.0)
    assert perfect["explained_variance"] == pytest.approx(1.0)
    assert perfect["knn_accuracy"] == pytest.approx(1.0)
    assert perfect["sample_rows"] == 120
    noise = rng.normal(size=(120, 2)).astype(np.float32)
    random = reduction_metrics(rows, noise, np.zeros_like(x), seed=0)
    assert random["trustworthiness"] < 0.7 and random["knn_accuracy"] < 0.6
    assert random["continuity"] < 0.7
    assert random["pca_same_k_knn_accuracy"] > 0.95  # PCA with 2 dims keeps the clusters


def test_knn_accuracy_needs_two_labels():
    codes = np.random.default_rng(0).normal(size=(30, 2))
    assert knn_accuracy(codes, np.array(["a"] * 30), seed=0) is None
    assert knn_accuracy(codes, np.array([""] * 30), seed=0) is None


def test_classical_image_denoisers_remove_noise_and_jpeg_trades_bytes_for_quality():
    val, test = rows_of(image_rows(60, 0), (1, 8, 8)), rows_of(image_rows(60, 1), (1, 8, 8))
    found = row_references(val, test)
    assert set(found) == {"gaussian_filter", "median_filter", "total_variation", "non_local_means"}
    assert found["gaussian_filter"]["test_psnr_gain_db"] > 1.0  # smooth blobs, white noise
    points = jpeg_points(test)
    assert [p["quality"] for p in points] == [1, 5, 10, 30, 50, 75, 95]
    assert points[0]["bytes_per_row"] < points[-1]["bytes_per_row"]
    assert all(0 < p["scan_bytes_per_row"] < p["bytes_per_row"] for p in points)
    assert points[0]["psnr_db"] < points[-1]["psnr_db"]
    assert row_references(rows_of(image_rows()), test) == {}  # tables: none


def test_a_jpeg_scan_is_the_file_less_a_header_every_image_of_a_quality_shares():
    from PIL import Image

    files = []
    for seed in (0, 1):
        pixels = np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=5)
        files.append(buffer.getvalue())
    scans = [scan_bytes(f) for f in files]
    assert scans[0] != scans[1]
    heads = [f[: len(f) - n - 2] for f, n in zip(files, scans, strict=True)]
    assert heads[0] == heads[1] and len(heads[0]) > 100  # tables: shared, like a decoder
    assert all(f.endswith(b"\xff\xd9") for f in files)


def test_choosing_for_a_use_takes_the_best_model_that_has_the_measure():
    models = {"dense": {"val_psnr_gain_db": 3.0}, "denoising": {"val_psnr_gain_db": 5.0}}
    baselines = {"pca": {"val_psnr_gain_db": 4.0}, "iforest": {}}
    chosen = choose_for_use(models, baselines, "val_psnr_gain_db", "all")
    assert (chosen.chosen, chosen.kind, chosen.baseline) == ("denoising", "autoencoder", "pca")
    assert "denoising has the best val_psnr_gain_db" in chosen.reason
    baselines["pca"]["val_psnr_gain_db"] = 6.0
    assert choose_for_use(models, baselines, "val_psnr_gain_db", "all").chosen == "pca"
    kept = choose_for_use(models, baselines, "val_psnr_gain_db", "autoencoders")
    assert kept.chosen == "denoising" and "register.candidates is autoencoders" in kept.reason


def test_a_baseline_that_wins_on_test_is_said_even_when_validation_chose_otherwise():
    from aeops.reporting.summary import test_note

    chosen = {"test_auroc": 0.958}
    baselines = {"pca": {"test_auroc": 0.962}, "iforest": {"test_auroc": 0.90}}
    note = test_note("dense", chosen, baselines, "test_auroc")
    assert note is not None and "baseline pca scores test_auroc 0.9620" in note
    assert "dense's 0.9580" in note
    assert test_note("dense", {"test_auroc": 0.97}, baselines, "test_auroc") is None
    assert test_note("pca", {"test_auroc": 0.962}, baselines, "test_auroc") is None


def test_the_dvc_headline_of_five_families_fits_200_columns():
    """`dvc metrics show` prints one column per flattened key, each as wide as its header
    or value, four spaces apart (as DVC 3 prints them), after the file's path."""
    from aeops.evaluation.results import Comparison, ModelResult
    from aeops.tasks import task_named
    from aeops.tracking.names import flatten

    models = {
        f: ModelResult(f, "autoencoder", {"test_auroc": 0.98765432, "val_auroc": 0.97654321})
        for f in ("dense", "conv", "denoising", "sparse", "vae")
    }
    figures = {
        "val_average_precision": 0.912345678,
        "test_auroc": 0.98765432,
        "test_auroc_ci_low": 0.97712345,
        "test_auroc_ci_high": 0.99323456,
        "test_average_precision": 0.953312,
        "test_flagged_share": 0.142512,
        "threshold": 0.0327512,
    }
    comparison = Comparison(
        chosen="denoising",
        kind="autoencoder",
        metric="val_average_precision",
        basis="",
        selection=None,
        candidates="all",
        models=models,
        baselines={},
        headline=figures,
    )
    task = task_named("detect")
    shown = {k: str(v) for k, v in flatten(task.headline(comparison, make_config().code)).items()}
    width = len("reports/summary.json") + sum(max(len(k), len(v)) + 4 for k, v in shown.items())
    assert width <= 200, (width, shown)


def test_the_rate_distortion_curve_puts_jpeg_files_and_scans_beside_the_codes(tmp_path):
    from aeops.evaluation.plots import plot_rate_distortion
    from aeops.reporting.summary import rate_distortion_points

    models = {"coder": {"test_code_int8_bytes_per_row": 30.0, "test_code_int8_psnr_db": 19.6}}
    jpeg = [
        {"quality": 1.0, "bytes_per_row": 369.0, "scan_bytes_per_row": 39.0, "psnr_db": 18.1},
        {"quality": 10.0, "bytes_per_row": 408.0, "scan_bytes_per_row": 78.0, "psnr_db": 21.5},
    ]
    points = rate_distortion_points(models, {}, {"jpeg": jpeg})
    assert points["coder"] == [(30.0, 19.6)]
    assert points["JPEG file"] == [(369.0, 18.1), (408.0, 21.5)]
    assert points["JPEG scan"] == [(39.0, 18.1), (78.0, 21.5)]
    assert plot_rate_distortion(points, tmp_path / "rd.png").stat().st_size > 1000
