"""The other three uses of an autoencoder, measured: denoising, compression and
dimensionality reduction (anomaly detection is :mod:`aeops.evaluation.metrics`).

Every measure runs on a fold's held-out **normal** rows in model-input space (validation
chooses, test reports), the same rows for every model, each against the classical method a
user would otherwise pick on the same rows:

- **denoising**: the rows corrupted once (seeded) with the configured noise
  (``models.denoising.noise`` at ``noise_level``); PSNR (dB) of each model's output against
  the clean rows, its gain over the noisy input, and for images SSIM (scikit-image). The
  classical references are PCA projection (the ``pca`` baseline, a model like the others) and,
  for images, scikit-image's Gaussian, median, total-variation and non-local-means denoisers,
  each setting chosen on validation (:func:`aeops.evaluation.denoising.row_references`).
- **compression**: the code's bytes per row (float32, float16, int8 with one scale per
  dimension; the int8 codes also entropy-coded with LZMA), its ratio to the raw float32 row
  and to gzip of the raw rows, and the distortion (MSE, squared error per row, PSNR) of what
  the decoder makes of it, against PCA keeping as many components (float32 and int8); for
  images also JPEG (Pillow) over a range of qualities (:func:`jpeg_points`), counted as the
  whole file and as its entropy-coded scan alone (the header is the same for every image of a
  size and quality, shared as a decoder is).
- **reduction**: trustworthiness and continuity of the code (scikit-learn's trustworthiness,
  and with the roles swapped), k-NN label accuracy in code space
  (when the normal rows carry at least two labels) and the variance the reconstruction
  explains, against PCA with as many dimensions. Pairwise measures run on a seeded sample of
  at most :data:`PAIRWISE_ROWS` rows (``sample_rows`` says how many).

A model without a code (Isolation Forest, k-NN, ECOD) gets none of these: nothing that was
not measured is reported.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from aeops.data.codes import dequantize, quantize
from aeops.data.noise import psnr_db

PAIRWISE_ROWS = 2000
NEIGHBORS = 5
JPEG_QUALITIES = (1, 5, 10, 30, 50, 75, 95)  # 1: its smallest scan

Decode = Callable[[np.ndarray], np.ndarray]


class Coded(Protocol):
    """A model with a latent code (:class:`~aeops.models.base.Detector` with ``has_code``)."""

    def encode(self, x: np.ndarray) -> np.ndarray: ...

    def decode(self, z: np.ndarray) -> np.ndarray: ...

    def reconstruct(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class UseRows:
    """One fold's held-out normal rows and what every model is measured on."""

    clean: np.ndarray  # float32 model input
    noisy: np.ndarray  # the same rows corrupted once, seeded
    labels: np.ndarray  # the label of each row as written ("" when unlabeled)
    data_range: float  # PSNR's peak: 1 for inputs in [0, 1], else the rows' range
    shape: tuple[int, ...] | None  # image shape, None for tables
    sample: np.ndarray  # row indices of the pairwise sample
    train: np.ndarray  # normal training rows (what a PCA reference is fitted on)


def corrupt_rows(x: np.ndarray, kind: str, level: float, seed: int) -> np.ndarray:
    """The denoising family's training corruption (``aeops.models.autoencoders.denoising``),
    seeded: Gaussian noise of std ``level``, or a ``level`` share of values set to zero."""
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return (x + level * rng.standard_normal(x.shape)).astype(np.float32)
    if kind == "mask":
        return (x * (rng.random(x.shape) >= level)).astype(np.float32)
    raise ValueError(f"unknown corruption '{kind}'; choose gaussian or mask")


@dataclass(frozen=True)
class Corruption:
    """The noise the denoising measure adds, once, seeded: ``gaussian`` of std ``level`` or
    ``mask`` of a ``level`` share of values (``models.denoising.noise``, ``noise_level``)."""

    kind: str
    level: float
    seed: int


def use_rows(
    x: np.ndarray,
    labels: np.ndarray,
    train: np.ndarray,
    noise: Corruption,
    shape: tuple[int, ...] | None,
) -> UseRows | None:
    """The fold's normal rows ``x`` ready to measure (None: fewer than ``2 * NEIGHBORS + 2``
    rows, too few for any neighbourhood measure)."""
    seed = noise.seed
    clean = np.ascontiguousarray(x, dtype=np.float32)
    if len(clean) < 2 * NEIGHBORS + 2:
        return None
    low, high = float(clean.min()), float(clean.max())
    data_range = 1.0 if low >= 0.0 and high <= 1.0 else max(high - low, 1e-12)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(clean), min(len(clean), PAIRWISE_ROWS), replace=False))
    return UseRows(
        clean,
        corrupt_rows(clean, noise.kind, noise.level, seed),
        np.asarray(labels).astype(str),
        data_range,
        tuple(shape) if shape else None,
        sample,
        np.ascontiguousarray(train, dtype=np.float32),
    )


# -- the measures, each on plain arrays ----------------------------------------------------


def psnr(clean: np.ndarray, estimate: np.ndarray, data_range: float) -> float:
    """PSNR in dB over all values of all rows (:func:`aeops.data.noise.psnr_db`)."""
    return psnr_db(clean, estimate, data_range)


def as_images(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Rows of a (channels, height, width) image as (n, height, width) images (one channel)
    or (n, height, width, channels)."""
    images = rows.reshape(len(rows), *shape)
    if len(shape) == 2:
        return images
    return images[:, 0] if shape[0] == 1 else np.moveaxis(images, 1, -1)


def from_images(images: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`as_images`: flat float32 rows."""
    if images.ndim == 4:
        images = np.moveaxis(images, -1, 1)
    return images.reshape(len(images), -1).astype(np.float32)


def mean_ssim(clean: np.ndarray, estimate: np.ndarray, shape: tuple[int, ...], data_range: float):
    """Structural similarity (scikit-image), image by image, averaged."""
    from skimage.metrics import structural_similarity

    a, b = as_images(clean, shape), as_images(estimate, shape)
    side = min(a.shape[1], a.shape[2])
    window = min(7, side if side % 2 else side - 1)
    channel_axis = -1 if a.ndim == 4 else None
    return float(
        np.mean(
            [
                structural_similarity(
                    x.astype(np.float64),
                    y.astype(np.float64),
                    data_range=data_range,
                    win_size=window,
                    channel_axis=channel_axis,
                )
                for x, y in zip(a, b, strict=True)
            ]
        )
    )


def denoising_metrics(rows: UseRows, denoised: np.ndarray) -> dict[str, float]:
    noisy_db = psnr(rows.clean, rows.noisy, rows.data_range)
    out = {
        "psnr_noisy_db": noisy_db,
        "psnr_denoised_db": psnr(rows.clean, denoised, rows.data_range),
    }
    out["psnr_gain_db"] = out["psnr_denoised_db"] - noisy_db
    if rows.shape is not None:
        out["ssim_noisy"] = mean_ssim(rows.clean, rows.noisy, rows.shape, rows.data_range)
        out["ssim_denoised"] = mean_ssim(rows.clean, denoised, rows.shape, rows.data_range)
        out["ssim_gain"] = out["ssim_denoised"] - out["ssim_noisy"]
    return out


def gzip_bytes_per_row(x: np.ndarray) -> float:
    """Lossless reference: gzip (level 9) of the raw float32 rows, per row."""
    return len(gzip.compress(np.ascontiguousarray(x, np.float32).tobytes(), 9)) / len(x)


def compression_metrics(rows: UseRows, z: np.ndarray, decode: Decode) -> dict[str, float]:
    """Rate and distortion of the code at float32, float16 and int8, and PCA at as many
    components (``pca_same_k_*``)."""
    dims, width = z.shape[1], rows.clean.shape[1]
    recon = decode(z)
    out = {
        "code_dims": float(dims),
        "code_bytes_per_row": float(4 * dims),
        "code_ratio_float32": width / dims,
        "code_ratio_gzip": gzip_bytes_per_row(rows.clean) / (4 * dims),
        "code_mse": float(np.mean((recon.astype(np.float64) - rows.clean) ** 2)),
        "code_se_per_row": squared_error_per_row(rows.clean, recon),
        "code_psnr_db": psnr(rows.clean, recon, rows.data_range),
    }
    if rows.data_range == 1.0:  # values in [0, 1]: what a binary cross-entropy model reports
        out["code_bce"] = binary_cross_entropy(rows.clean, recon)
    for dtype in ("float16", "int8"):
        codes, scale = quantize(z, dtype)
        out[f"code_{dtype}_bytes_per_row"] = float(codes.dtype.itemsize * dims)
        out[f"code_{dtype}_psnr_db"] = psnr(
            rows.clean, decode(dequantize(codes, scale)), rows.data_range
        )
    out["code_int8_lzma_bytes_per_row"] = lzma_bytes_per_row(quantize(z, "int8")[0])
    pca = fit_pca(rows.train, dims)
    if pca is not None:
        pca_z = pca.transform(rows.clean)
        pca_recon = pca.inverse_transform(pca_z)
        codes, scale = quantize(pca_z, "int8")
        out.update(
            pca_same_k_psnr_db=psnr(rows.clean, pca_recon, rows.data_range),
            pca_same_k_se_per_row=squared_error_per_row(rows.clean, pca_recon),
            pca_same_k_int8_psnr_db=psnr(
                rows.clean, pca.inverse_transform(dequantize(codes, scale)), rows.data_range
            ),
            pca_same_k_int8_lzma_bytes_per_row=lzma_bytes_per_row(codes),
        )
    return out


def squared_error_per_row(clean: np.ndarray, estimate: np.ndarray) -> float:
    """The squared error summed over a row's values, averaged over rows (what the
    autoencoder literature reports per image, e.g. Hinton & Salakhutdinov 2006)."""
    diff = estimate.astype(np.float64) - clean.astype(np.float64)
    return float(np.mean(np.sum(diff**2, axis=1)))


def binary_cross_entropy(clean: np.ndarray, estimate: np.ndarray) -> float:
    """Binary cross-entropy per value (averaged over rows and values, predictions clipped to
    [1e-7, 1 - 1e-7] as Keras does): the test loss Keras' ``evaluate`` prints for a model
    trained with ``binary_crossentropy``."""
    p = np.clip(estimate.astype(np.float64), 1e-7, 1 - 1e-7)
    y = clean.astype(np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def lzma_bytes_per_row(codes: np.ndarray) -> float:
    """Lossless entropy coding of stored codes (LZMA, preset 9, all rows at once), per row:
    what the codes take once their redundancy is squeezed out."""
    import lzma

    if len(codes) == 0:
        return 0.0
    return len(lzma.compress(np.ascontiguousarray(codes).tobytes(), preset=9)) / len(codes)


def fit_pca(train: np.ndarray, dims: int):
    """PCA with ``dims`` components fitted on the normal training rows (None: too few)."""
    from sklearn.decomposition import PCA

    dims = min(dims, train.shape[1], len(train))
    if dims < 1:
        return None
    return PCA(n_components=dims, svd_solver="full").fit(train)


def knn_accuracy(codes: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    """5-fold cross-validated accuracy of a 5-nearest-neighbour classifier in code space;
    None when fewer than two labels have at least five rows each."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    names, counts = np.unique(labels, return_counts=True)
    keep = np.isin(labels, names[counts >= 5]) & (labels != "")
    if len(np.unique(labels[keep])) < 2:
        return None
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    scores = cross_val_score(KNeighborsClassifier(NEIGHBORS), codes[keep], labels[keep], cv=folds)
    return float(np.mean(scores))


def reduction_metrics(rows: UseRows, z: np.ndarray, recon: np.ndarray, seed: int):
    """Trustworthiness, k-NN accuracy and explained variance of the code, and PCA's with as
    many dimensions (``pca_same_k_*``)."""
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import explained_variance_score

    s = rows.sample
    clean, labels = rows.clean[s], rows.labels[s]
    out: dict[str, float] = {"sample_rows": float(len(s))}
    pca = fit_pca(rows.train, z.shape[1])
    views = {"": (z[s], recon)}
    if pca is not None:
        views["pca_same_k_"] = (
            pca.transform(clean),
            pca.inverse_transform(pca.transform(rows.clean)),
        )
    for prefix, (codes, rebuilt) in views.items():
        out[f"{prefix}trustworthiness"] = float(
            trustworthiness(clean, codes, n_neighbors=NEIGHBORS)
        )
        # continuity: trustworthiness with the roles swapped (neighbours in the data that
        # the code keeps, Venna & Kaski 2001)
        out[f"{prefix}continuity"] = float(trustworthiness(codes, clean, n_neighbors=NEIGHBORS))
        out[f"{prefix}explained_variance"] = float(
            explained_variance_score(rows.clean, rebuilt, multioutput="variance_weighted")
        )
        accuracy = knn_accuracy(codes, labels, seed)
        if accuracy is not None:
            out[f"{prefix}knn_accuracy"] = accuracy
    return out


def use_metrics(model: Coded, rows: UseRows, seed: int) -> dict[str, float]:
    """Every use's measures for one model with a code."""
    z, recon = model.encode(rows.clean), model.reconstruct(rows.clean)
    denoised = model.reconstruct(rows.noisy)
    return {
        **denoising_metrics(rows, denoised),
        **compression_metrics(rows, z, model.decode),
        **reduction_metrics(rows, z, recon, seed),
    }


def prefixed(metrics: dict[str, float], split: str) -> dict[str, float]:
    return {f"{split}_{k}": v for k, v in metrics.items()}


# -- classical references that are not detectors (denoisers: aeops.evaluation.denoising) --


UMAP_FIT_ROWS = 5000  # normal training rows UMAP is fitted on (seeded sample beyond this)


def umap_reference(rows: UseRows, dims: int, seed: int) -> dict[str, float]:
    """UMAP (``umap-learn``, its default 15 neighbours) with ``dims`` components, fitted on
    the normal training rows and applied to the fold's rows: the same trustworthiness,
    continuity and k-NN accuracy the codes get (``task: reduce``'s nonlinear reference)."""
    from sklearn.manifold import trustworthiness
    from umap import UMAP

    train = rows.train
    if len(train) > UMAP_FIT_ROWS:
        keep = np.random.default_rng(seed).choice(len(train), UMAP_FIT_ROWS, replace=False)
        train = train[np.sort(keep)]
    reducer = UMAP(n_components=dims, random_state=seed, n_jobs=1).fit(train)
    s = rows.sample
    clean, labels = rows.clean[s], rows.labels[s]
    codes = reducer.transform(clean)
    out = {
        "dims": float(dims),
        "trustworthiness": float(trustworthiness(clean, codes, n_neighbors=NEIGHBORS)),
        "continuity": float(trustworthiness(codes, clean, n_neighbors=NEIGHBORS)),
    }
    accuracy = knn_accuracy(codes, labels, seed)
    if accuracy is not None:
        out["knn_accuracy"] = accuracy
    return out


def jpeg_points(rows: UseRows) -> list[dict[str, float]]:
    """JPEG (Pillow, standard Huffman tables) of each 8-bit image at several qualities: bytes
    per row as the whole file (``bytes_per_row``) and as the entropy-coded scan alone
    (``scan_bytes_per_row``: the header, quantisation and Huffman tables are the same for every
    image of a size and quality, so a store of many images shares them as it shares a
    decoder), and PSNR against the clean rows (images in [0, 1] only)."""
    from PIL import Image

    if rows.shape is None or rows.data_range != 1.0:
        return []
    images = np.clip(np.round(as_images(rows.clean, rows.shape) * 255), 0, 255).astype(np.uint8)
    if images.ndim == 4 and images.shape[-1] != 3:  # JPEG holds grey or RGB images
        return []
    points = []
    for quality in JPEG_QUALITIES:
        sizes, scans, decoded = [], [], []
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
            sizes.append(buffer.tell())
            scans.append(scan_bytes(buffer.getvalue()))
            buffer.seek(0)
            decoded.append(np.asarray(Image.open(buffer), dtype=np.float32) / 255.0)
        back = from_images(np.stack(decoded), rows.shape)
        points.append(
            {
                "quality": float(quality),
                "bytes_per_row": float(np.mean(sizes)),
                "scan_bytes_per_row": float(np.mean(scans)),
                "psnr_db": psnr(rows.clean, back, rows.data_range),
            }
        )
    return points


def scan_bytes(jpeg: bytes) -> int:
    """The entropy-coded bytes of a baseline JPEG: after the start-of-scan segment (marker
    FFDA and its length), before the end-of-image marker (FFD9)."""
    start = jpeg.index(b"\xff\xda")
    header = start + 2 + int.from_bytes(jpeg[start + 2 : start + 4], "big")
    return len(jpeg) - header - 2


def use_measures(model: Coded, folds: dict[str, UseRows | None], seed: int) -> dict[str, float]:
    """:func:`use_metrics` on each fold that has rows, as ``<fold>_<measure>``."""
    out: dict[str, float] = {}
    for split, rows in folds.items():
        if rows is not None:
            out.update(prefixed(use_metrics(model, rows, seed), split))
    return out


def use_metric_of(
    pipeline: Any, normal_rows: Any, meta: Any, noise: Corruption, metric: str
) -> float:
    """``metric`` (``val_<measure>``) of a loaded detector pipeline
    (:class:`~aeops.serving.pipeline.DetectorPipeline`) on the raw validation normal rows (a
    frame of the split file), in its own model space, as the evaluate stage measures it (same
    noise, same seed); the register stage re-scores the champion with it. ``-inf`` for a
    detector without a code (Isolation Forest, k-NN, ECOD): any model with one beats it at
    this use."""
    from aeops.core.errors import ScoringInputError

    x = pipeline.model_input(pipeline.features_of(normal_rows[meta.features]))
    shape = meta.image_shape
    labels = (
        normal_rows[meta.label_column].astype(str).to_numpy()
        if meta.label_column
        else np.full(len(x), "")
    )
    rows = use_rows(x, labels, x, noise, tuple(shape) if shape else None)
    if rows is None:
        return float("-inf")
    try:
        measured = use_metrics(pipeline.detector, rows, noise.seed)
    except ScoringInputError:
        return float("-inf")
    return float(measured.get(metric.removeprefix("val_"), float("-inf")))
