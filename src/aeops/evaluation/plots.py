"""PNG figures for DVC plots and the MLflow run, plus curve tables for ``dvc plots``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from aeops.core.io import atomic_path, write_json

CURVE_POINTS = 1000  # a curve drawn from more points is thinned to this many (evenly along it)


def thinned(*columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """The curve's points, at most :data:`CURVE_POINTS` of them, evenly spaced along it with
    both ends kept: a million-row fold's precision-recall curve has a point per row (a
    200 MB ``pr.json`` that no browser draws), and a few hundred draw the same picture."""
    n = len(columns[0])
    if n <= CURVE_POINTS:
        return columns
    keep = np.unique(np.linspace(0, n - 1, CURVE_POINTS).round().astype(int))
    return tuple(c[keep] for c in columns)


def curves_of(is_anomaly: np.ndarray, scores: np.ndarray) -> tuple[tuple, tuple]:
    """((fpr, tpr), (recall, precision)), each thinned."""
    fpr, tpr, _ = roc_curve(is_anomaly, scores)
    precision, recall, _ = precision_recall_curve(is_anomaly, scores)
    return thinned(fpr, tpr), thinned(recall, precision)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def curve_tables(curves: dict[str, tuple[np.ndarray, np.ndarray]], out_dir: Path) -> list[Path]:
    """``roc.json`` and ``pr.json``: every model's curve in one table, a ``model`` column
    naming each series, so ``dvc plots`` draws one overlay per curve with a legend
    (``.dvc/plots/overlay.json``). ``step`` keeps each curve's drawing order."""
    roc: list[dict] = []
    pr: list[dict] = []
    for name, (is_anomaly, scores) in curves.items():
        (fpr, tpr), (recall, precision) = curves_of(is_anomaly, scores)
        roc += [
            {"model": name, "step": i, "fpr": float(a), "tpr": float(b)}
            for i, (a, b) in enumerate(zip(fpr, tpr, strict=True))
        ]
        pr += [
            {"model": name, "step": i, "recall": float(a), "precision": float(b)}
            for i, (a, b) in enumerate(zip(recall, precision, strict=True))
        ]
    paths = [out_dir / "roc.json", out_dir / "pr.json"]
    write_json(paths[0], roc)
    write_json(paths[1], pr)
    return paths


def plot_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, note: str = "test"
) -> Path:
    """ROC and precision-recall curves of several models on one figure."""
    plt = _pyplot()
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, (is_anomaly, scores) in curves.items():
        from sklearn.metrics import roc_auc_score

        (fpr, tpr), (recall, precision) = curves_of(is_anomaly, scores)
        label = f"{name} (AUROC {roc_auc_score(is_anomaly, scores):.3f})"
        ax_roc.plot(fpr, tpr, label=label)
        ax_pr.plot(recall, precision, label=name)
    ax_roc.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax_roc.set(xlabel="false-positive rate", ylabel="true-positive rate", title=f"ROC ({note})")
    ax_pr.set(xlabel="recall", ylabel="precision", title=f"Precision-recall ({note})")
    ax_roc.legend(fontsize=8, loc="lower right")
    ax_pr.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def plot_score_histogram(
    scores: np.ndarray,
    is_anomaly: np.ndarray,
    synthetic: np.ndarray,
    threshold: float,
    title: str,
    path: str | Path,
) -> Path:
    """Normal, labelled-anomaly and synthetic-anomaly scores, with the threshold."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bins = np.histogram_bin_edges(scores, bins=40)
    groups = (
        ("normal", ~is_anomaly),
        ("anomaly", is_anomaly & ~synthetic),
        ("synthetic anomaly", synthetic),
    )
    for label, rows in groups:
        if rows.any():
            ax.hist(scores[rows], bins=bins, alpha=0.55, label=label, density=True)
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set(xlabel="anomaly score", ylabel="density", title=title)
    ax.legend()
    return _save(fig, path)


def plot_reconstructions(
    x: np.ndarray,
    recon: np.ndarray,
    scores: np.ndarray,
    image_shape: list[int],
    path: str | Path,
    n: int = 8,
) -> Path:
    """Originals over reconstructions for the ``n`` lowest and ``n`` highest scored rows, as
    one image grid (rows: lowest originals, their reconstructions, highest originals, theirs)."""
    plt = _pyplot()
    order = np.argsort(scores)
    n = min(n, len(order) // 2 or 1)
    c, h, w = image_shape
    picks = [order[:n], order[::-1][:n]]

    def tile(rows: np.ndarray) -> np.ndarray:
        images = rows.reshape(len(rows), c, h, w).transpose(0, 2, 3, 1)  # n, h, w, c
        padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=1.0)
        return np.concatenate(list(padded), axis=1)

    grid = np.concatenate([tile(block[idx]) for idx in picks for block in (x, recon)], axis=0)
    grid = np.clip(grid, 0.0, 1.0)
    fig, ax = plt.subplots(figsize=(1.1 * n, 4.6))
    ax.imshow(
        grid[..., 0] if c == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest"
    )
    ax.set_xticks([(w + 2) * (j + 0.5) for j in range(n)])
    ax.set_xticklabels(
        [f"{scores[i]:.3g}\n{scores[k]:.3g}" for i, k in zip(*picks, strict=True)], fontsize=6
    )
    ax.set_yticks([(h + 2) * (r + 0.5) for r in range(4)])
    ax.set_yticklabels(["lowest", "recon.", "highest", "recon."], fontsize=7)
    ax.set_title("lowest / highest anomaly scores (scores below)", fontsize=8)
    return _save(fig, path)


def plot_latent(
    z: np.ndarray, labels: np.ndarray, is_anomaly: np.ndarray, path: str | Path
) -> Path:
    """The latent codes in 2-D (the first two principal components when wider), normal rows
    coloured by their label as written (a legend, up to ten labels; one colour when there is
    one label or none), anomalies as crosses."""
    names = np.asarray(labels, dtype=str)
    dims = z.shape[1]
    plt = _pyplot()
    if dims > 2:
        from sklearn.decomposition import PCA

        z = PCA(n_components=2, random_state=0).fit_transform(z)
    elif dims == 1:
        z = np.c_[z, np.zeros(len(z))]
    fig, ax = plt.subplots(figsize=(6, 5))
    normal = ~np.asarray(is_anomaly, dtype=bool)
    kinds = [k for k in np.unique(names[normal]) if k != ""]
    if 1 < len(kinds) <= 10:
        colours = plt.get_cmap("tab10")
        for i, kind in enumerate(kinds):
            rows = normal & (names == kind)
            ax.scatter(z[rows, 0], z[rows, 1], s=8, alpha=0.7, color=colours(i), label=kind)
    else:
        label = (
            f"normal rows ({len(kinds)} labels)"
            if kinds and len(kinds) > 10
            else f"normal rows{f' ({kinds[0]})' if kinds else ''}"
        )
        ax.scatter(z[normal, 0], z[normal, 1], s=8, alpha=0.6, color="tab:blue", label=label)
    if (~normal).any():
        ax.scatter(z[~normal, 0], z[~normal, 1], s=22, marker="x", color="k", label="anomaly")
    axes = (
        "code dimensions 1 and 2"
        if dims <= 2
        else f"first two principal components of the {dims}-d code"
    )
    ax.set(title=f"latent space (test): {axes}", xlabel="component 1", ylabel="component 2")
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    return _save(fig, path)


def plot_rate_distortion(
    points: dict[str, list[tuple[float, float]]],
    path: str | Path,
    lossless: dict[str, float] | None = None,
) -> Path:
    """Bytes per row against PSNR (test normal rows): every model's code at float32, float16
    and int8, and JPEG's qualities for images; ``lossless`` references (raw float32, gzip) as
    vertical lines. Up and to the left is better."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, rate) in enumerate((lossless or {}).items()):
        ax.axvline(rate, color="grey", linestyle=":" if i else "-.", linewidth=1)
        ax.annotate(
            f"{label} ({rate:.0f} B)",
            (rate, 0.02 + 0.06 * i),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=7,
            color="grey",
        )
    for label, pairs in points.items():
        rates, quality = zip(*pairs, strict=True)
        style = "s--" if label.startswith("JPEG") else "o-"
        ax.plot(rates, quality, style, label=label, markersize=4)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bytes per row (log scale; codes: int8, float16, float32)")
    ax.set_ylabel("PSNR of the decoded rows (dB)")
    ax.set_title("Rate-distortion on test's normal rows")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_denoising(
    clean: np.ndarray,
    noisy: np.ndarray,
    denoised: np.ndarray,
    shape: list[int] | tuple[int, ...],
    path: str | Path,
    title: str,
    n: int = 8,
) -> Path:
    """Rows of clean, noisy and denoised images side by side (the first ``n`` test rows)."""
    plt = _pyplot()
    n = min(n, len(clean))
    fig, axes = plt.subplots(3, n, figsize=(1.1 * n, 3.6), squeeze=False)
    for row, (label, images) in enumerate(
        (("clean", clean), ("noisy", noisy), ("denoised", denoised))
    ):
        for col in range(n):
            ax = axes[row][col]
            c, h, w = shape
            image = np.clip(images[col].reshape(c, h, w).transpose(1, 2, 0), 0.0, 1.0)
            ax.imshow(image[..., 0] if c == 1 else image, cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_denoised_photos(
    clean: list[np.ndarray],
    panels: dict[str, list[np.ndarray]],
    path: str | Path,
    title: str,
) -> Path:
    """Grey images (a row each): the clean image, then each panel's version of it with its
    PSNR against the clean one (noisy input, the model, the best classical denoiser)."""
    from aeops.data.noise import psnr_db

    plt = _pyplot()
    columns = {"clean": clean, **panels}
    rows = len(clean)
    height, width = clean[0].shape
    size = 2.2 * min(1.0, max(height, width) / 128) + 0.8
    figsize = (size * len(columns), (size * height / width + 0.35) * rows + 0.6)
    fig, axes = plt.subplots(
        rows, len(columns), squeeze=False, figsize=figsize, layout="constrained"
    )
    for col, (label, images) in enumerate(columns.items()):
        for row in range(rows):
            ax = axes[row][col]
            ax.imshow(np.clip(images[row], 0, 1), cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            psnr = "" if label == "clean" else f"{psnr_db(clean[row], images[row]):.2f} dB"
            ax.set_title(f"{label}\n{psnr}" if row == 0 else psnr, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
