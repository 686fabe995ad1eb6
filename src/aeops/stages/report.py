"""The report stage: every model and baseline side by side, the best candidate, one figure."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from aeops.config import Config
from aeops.evaluation.plots import plot_curves
from aeops.io import read_json, write_json
from aeops.stages.evaluation import METRICS_FILE, MODEL_INFO_FILE, SCORES_FILE
from aeops.tracking import setup_mlflow

SUMMARY_COLUMNS = ["val_auroc", "test_auroc", "test_auroc_ci_low", "test_auroc_ci_high",
                   "test_average_precision", "test_recon_loss", "threshold", "test_f1",
                   "test_fpr"]


def select_best(models: dict[str, dict], metric: str) -> str:
    """The family with the best validation metric (never a test metric); ties go to the
    first in ``models.families`` order."""
    ranked = [(m[metric], -i, name) for i, (name, m) in enumerate(models.items())
              if m.get(metric) is not None and not math.isnan(m[metric])]
    if not ranked:
        raise ValueError(f"no model has a valid {metric}; the validation fold needs anomalies")
    return max(ranked)[2]


def summary_table(models: dict[str, dict], baselines: dict[str, dict]) -> pd.DataFrame:
    rows = {**{name: m for name, m in models.items()},
            **{f"{name} (baseline)": m for name, m in baselines.items()}}
    table = pd.DataFrame({name: {c: m.get(c) for c in SUMMARY_COLUMNS}
                          for name, m in rows.items()}).T
    return table.sort_values("val_auroc", ascending=False)


def report(cfg: Config) -> dict:
    models = {f: read_json(cfg.paths.family_eval_dir(f) / METRICS_FILE)
              for f in cfg.models.families}
    baselines = read_json(Path(cfg.paths.baselines_dir) / METRICS_FILE)
    best = select_best(models, cfg.register.metric)
    chosen = models[best]
    best_baseline = max(baselines.values(), key=lambda m: m["test_auroc"])
    metrics = {
        "family": best,
        "selected_by": cfg.register.metric,
        "auroc": chosen["test_auroc"],
        "auroc_ci": [chosen["test_auroc_ci_low"], chosen["test_auroc_ci_high"]],
        "average_precision": chosen["test_average_precision"],
        "recon_loss": chosen["test_recon_loss"],
        "threshold": chosen["threshold"],
        "threshold_method": chosen["threshold_method"],
        "precision": chosen["test_precision"],
        "recall": chosen["test_recall"],
        "f1": chosen["test_f1"],
        "fpr": chosen["test_fpr"],
        "val_auroc": chosen["val_auroc"],
        "lift_over_best_baseline": chosen["test_auroc"] - best_baseline["test_auroc"],
        "models": {name: _public(m) for name, m in models.items()},
        "baselines": {name: _public(m) for name, m in baselines.items()},
        "model_uri": read_json(cfg.paths.family_eval_dir(best) / MODEL_INFO_FILE)["model_uri"],
    }
    curves = {}
    for name in models:
        scores = pd.read_parquet(cfg.paths.family_eval_dir(name) / SCORES_FILE)
        test = scores[scores["split"] == "test"]
        curves[name] = (test["is_anomaly"].to_numpy(bool), test["score"].to_numpy())
    base_scores = pd.read_parquet(Path(cfg.paths.baselines_dir) / SCORES_FILE)
    for name, part in base_scores[base_scores["split"] == "test"].groupby("model", sort=False):
        curves[f"{name} (baseline)"] = (part["is_anomaly"].to_numpy(bool),
                                        part["score"].to_numpy())
    figure = plot_curves(curves, Path(cfg.paths.plots_dir) / "roc_pr.png")
    write_json(cfg.paths.metrics, metrics)
    log_comparison(cfg, models, best_baseline["test_auroc"], figure)
    table = summary_table(models, baselines)
    with pd.option_context("display.width", 160, "display.float_format", "{:.4f}".format):
        print("\n" + table.to_string())
    print(f"\nbest by {cfg.register.metric}: {best}  (test AUROC {metrics['auroc']:.4f}, "
          f"lift over best baseline {metrics['lift_over_best_baseline']:+.4f})")
    return metrics


def log_comparison(cfg: Config, models: dict[str, dict], baseline_auroc: float,
                   figure: Path) -> None:
    """Every family's MLflow run gets its lift over the best baseline and the shared figure."""
    import mlflow

    setup_mlflow(cfg)
    for name, m in models.items():
        run_id = read_json(cfg.paths.family_eval_dir(name) / MODEL_INFO_FILE)["run_id"]
        with mlflow.start_run(run_id=run_id):
            mlflow.log_metric("lift_over_best_baseline", m["test_auroc"] - baseline_auroc)
            mlflow.log_artifact(str(figure), "plots")


def _public(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in ("model_uri",)}
