"""The figures of a run as tables and lines a person reads: the summary table of every model,
the headline ``dvc metrics show`` prints, the test note, and the rate-distortion points.
Pure: metrics in, tables and text out."""

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


def headline(metrics: dict[str, Any], ranking: str) -> dict[str, Any]:
    """What ``dvc metrics show`` prints (one line that fits a screen): the chosen model, how
    it did on validation (``val``: its ``register.metric``), its test figures with the CI,
    its threshold and flagged share, and each family's test figure under ``auroc``
    (``ranking``: ``test_auroc``, or its synthetic counterpart)."""

    def rounded(value: Any) -> Any:
        return round(float(value), 4) if isinstance(value, (int, float)) else value

    out: dict[str, Any] = {"chosen": metrics["family"]}  # what chose it: metrics.json
    if ranking in metrics:
        out[ranking] = metrics[ranking]
        low, high = (metrics.get(f"{ranking}_ci_{side}") for side in ("low", "high"))
        if low is not None and high is not None:
            out["ci"] = f"{low:.3f}-{high:.3f}"  # one column, not two
    if metrics["selected_by"] in metrics:
        out["val"] = metrics[metrics["selected_by"]]
    for key, short in (("test_average_precision", "test_ap"), ("test_flagged_share", "flagged")):
        if key in metrics:
            out[short] = metrics[key]
    out["threshold"] = metrics["threshold"]
    per_family = {name: m[ranking] for name, m in metrics["models"].items() if ranking in m}
    out["auroc" if ranking == "test_auroc" else "synthetic_auroc"] = per_family
    return {
        k: (
            {n: rounded(v) for n, v in value.items()} if isinstance(value, dict) else rounded(value)
        )
        for k, value in out.items()
    }


def use_keys(task: str, precision: str) -> dict[str, str]:
    """The test figures that lead a ``task: compress | reduce`` run, by their short name:
    the chosen model's beside PCA's at the same code size (compression at
    ``code.precision``; PCA's int8 codes quantised the same way)."""
    if task == "compress":
        tag = "" if precision == "float32" else f"_{precision}"
        pca = "_int8" if precision == "int8" else ""
        return {
            "code_dims": "test_code_dims",
            "bytes_per_row": f"test_code{tag}_bytes_per_row",
            "psnr_db": f"test_code{tag}_psnr_db",
            "pca_psnr_db": f"test_pca_same_k{pca}_psnr_db",
            "se_per_row": "test_code_se_per_row",
            "pca_se_per_row": "test_pca_same_k_se_per_row",
            "bce": "test_code_bce",
        }
    return {
        "code_dims": "test_code_dims",
        "trustworthiness": "test_trustworthiness",
        "pca_trustworthiness": "test_pca_same_k_trustworthiness",
        "continuity": "test_continuity",
        "pca_continuity": "test_pca_same_k_continuity",
        "knn_accuracy": "test_knn_accuracy",
        "pca_knn_accuracy": "test_pca_same_k_knn_accuracy",
    }


def use_headline(metrics: dict[str, Any], task: str, precision: str) -> dict[str, Any]:
    """What ``dvc metrics show`` prints for ``task: compress | reduce``: the chosen model's
    test figures for that use beside PCA's at the same code size, and under ``by_model``
    each model's test value of the measure that chose (``register.metric``)."""
    everyone = {**metrics["models"], **metrics["baselines"]}
    chosen = everyone[metrics["family"]]
    out: dict[str, Any] = {"chosen": metrics["family"], "val": metrics[metrics["selected_by"]]}
    out.update(
        {short: chosen[key] for short, key in use_keys(task, precision).items() if key in chosen}
    )
    ranking = "test_" + metrics["selected_by"].removeprefix("val_")
    by_model = {name: round(float(m[ranking]), 4) for name, m in everyone.items() if ranking in m}
    rounded = {k: round(float(v), 4) if isinstance(v, (int, float)) else v for k, v in out.items()}
    return {**rounded, "by_model": by_model}


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
