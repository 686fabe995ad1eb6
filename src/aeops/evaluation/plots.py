"""PNG figures for DVC plots and the MLflow run, plus curve tables for ``dvc plots``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from aeops.io import atomic_path, write_json


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


def curve_tables(
    name: str, is_anomaly: np.ndarray, scores: np.ndarray, out_dir: Path
) -> list[Path]:
    """``roc/<name>.json`` and ``pr/<name>.json`` rows that ``dvc plots`` draws."""
    fpr, tpr, _ = roc_curve(is_anomaly, scores)
    precision, recall, _ = precision_recall_curve(is_anomaly, scores)
    roc = [{"fpr": float(a), "tpr": float(b)} for a, b in zip(fpr, tpr, strict=True)]
    pr = [
        {"recall": float(a), "precision": float(b)} for a, b in zip(recall, precision, strict=True)
    ]
    paths = [out_dir / "roc" / f"{name}.json", out_dir / "pr" / f"{name}.json"]
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
        fpr, tpr, _ = roc_curve(is_anomaly, scores)
        precision, recall, _ = precision_recall_curve(is_anomaly, scores)
        from sklearn.metrics import auc

        ax_roc.plot(fpr, tpr, label=f"{name} (AUROC {auc(fpr, tpr):.3f})")
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
    """The latent codes in 2-D (first two principal components when wider), by label."""
    labels = np.unique(np.asarray(labels, dtype=str), return_inverse=True)[1]
    plt = _pyplot()
    if z.shape[1] > 2:
        from sklearn.decomposition import PCA

        z = PCA(n_components=2, random_state=0).fit_transform(z)
    elif z.shape[1] == 1:
        z = np.c_[z, np.zeros(len(z))]
    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(
        z[~is_anomaly, 0], z[~is_anomaly, 1], c=labels[~is_anomaly], s=8, cmap="tab10", alpha=0.7
    )
    ax.scatter(z[is_anomaly, 0], z[is_anomaly, 1], s=22, marker="x", color="k", label="anomaly")
    fig.colorbar(points, ax=ax, label="label (normal rows)")
    ax.set(title="latent space (test)", xlabel="component 1", ylabel="component 2")
    ax.legend()
    return _save(fig, path)
