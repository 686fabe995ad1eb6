"""The figures of a run as tables and lines a person reads: the summary table of every model,
the test note, and the rate-distortion points (each task's headline, what ``dvc metrics show``
prints, is the task's: :mod:`aeops.tasks`). Pure: metrics in, tables and text out."""

from __future__ import annotations

from typing import Any

import pandas as pd

SUMMARY_COLUMNS = [
    "val_auroc",
    "test_auroc",
    "test_auroc_ci_low",
    "test_auroc_ci_high",
    "test_average_precision",
    "val_synthetic_auroc",
    "test_synthetic_auroc",
    "test_recon_loss",
    "threshold",
    "test_flagged_share",
    "test_f1",
]


USE_COLUMNS = [  # the other uses (aeops.evaluation.uses), on test's normal rows
    "test_psnr_gain_db",
    "test_ssim_gain",
    "test_code_bytes_per_row",
    "test_code_psnr_db",
    "test_code_int8_psnr_db",
    "test_code_se_per_row",
    "test_pca_same_k_se_per_row",
    "test_trustworthiness",
    "test_continuity",
    "test_knn_accuracy",
    "test_explained_variance",
]


HEADLINE = [
    "test_auroc",
    "test_auroc_ci_low",
    "test_auroc_ci_high",
    "test_average_precision",
    "test_precision",
    "test_recall",
    "test_f1",
    "test_fpr",
    "test_synthetic_auroc",
    "val_synthetic_auroc",
    "val_auroc",
    "test_recon_loss",
    "test_flagged_share",
    "test_score_q50",
    "test_score_q90",
    "test_score_q99",
    "threshold",
    "threshold_method",
]


def summary_table(
    models: dict[str, dict], baselines: dict[str, dict], columns: list[str] = SUMMARY_COLUMNS
) -> pd.DataFrame:
    rows = {**models, **{f"{name} (baseline)": m for name, m in baselines.items()}}
    table = pd.DataFrame({name: {c: m.get(c) for c in columns} for name, m in rows.items()}).T
    return table.dropna(axis=1, how="all").dropna(axis=0, how="all")


def test_note(best: str, chosen: dict, baselines: dict[str, dict], ranking: str) -> str | None:
    """A plain sentence when a baseline other than the chosen model scores higher on test:
    the choice rests on validation (test never chooses), but the user hears what test shows."""
    rivals = {n: b[ranking] for n, b in baselines.items() if n != best and ranking in b}
    if not rivals:
        return None
    top = max(rivals, key=lambda n: rivals[n])
    if rivals[top] <= chosen[ranking]:
        return None
    return (
        f"on test, baseline {top} scores {ranking} {rivals[top]:.4f} against the chosen "
        f"{best}'s {chosen[ranking]:.4f} (the choice rests on validation; test only reports)"
    )


def rate_distortion_points(
    models: dict[str, dict], baselines: dict[str, dict], uses: dict[str, Any]
) -> dict[str, list[tuple[float, float]]]:
    """(bytes per row, test PSNR) of every model's code at each dtype, and JPEG's curves: whole
    files, and the scan alone (its header shared, as a decoder is)."""
    points: dict[str, list[tuple[float, float]]] = {}
    coded = {**models, **{f"{n} (baseline)": m for n, m in baselines.items()}}
    for name, m in coded.items():
        pairs = [
            (m.get(f"test_code{tag}_bytes_per_row"), m.get(f"test_code{tag}_psnr_db"))
            for tag in ("", "_float16", "_int8")
        ]
        kept = [(float(b), float(p)) for b, p in pairs if b is not None and p is not None]
        if kept:
            points[name] = sorted(kept)
    for label, key in (("JPEG file", "bytes_per_row"), ("JPEG scan", "scan_bytes_per_row")):
        jpeg = [(p[key], p["psnr_db"]) for p in uses.get("jpeg", []) if key in p]
        if jpeg:
            points[label] = sorted(jpeg)
    return points
