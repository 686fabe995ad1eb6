"""The evaluation stages: score a trained family, and the classical baselines, on val and test."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from aeops.config import Config
from aeops.data.split import Fold
from aeops.evaluation.baselines import BASELINES, fit_baseline
from aeops.evaluation.metrics import score_report
from aeops.evaluation.plots import (
    curve_tables,
    plot_latent,
    plot_reconstructions,
    plot_score_histogram,
)
from aeops.io import read_json, write_json, write_parquet
from aeops.models.store import MODEL_FILE, load_model
from aeops.scoring import DETECTOR_FILE, DetectorInfo
from aeops.stages.common import load_prepared
from aeops.tracking import log_detector, setup_mlflow
from aeops.training import RUN_FILE

METRICS_FILE = "metrics.json"
SCORES_FILE = "scores.parquet"
MODEL_INFO_FILE = "model_info.json"
PLOTS_DIR = "plots"


def _score_fold(net: torch.nn.Module, x: np.ndarray, batch_size: int):
    """Scores, reconstructions and latent codes for a fold, in eval mode on the CPU."""
    scores, recons, codes = [], [], []
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            batch = torch.from_numpy(x[start : start + batch_size])
            score, _ = net.score(batch)
            out = net(batch)
            scores.append(score.numpy())
            recons.append(out["recon"].numpy())
            codes.append(out["z"].numpy())
    return np.concatenate(scores), np.concatenate(recons), np.concatenate(codes)


def _scores_frame(scored: dict[str, tuple[Fold, np.ndarray]]) -> pd.DataFrame:
    frames = [pd.DataFrame({"split": split, "label": fold.label, "is_anomaly": fold.is_anomaly,
                            "score": scores})
              for split, (fold, scores) in scored.items()]
    return pd.concat(frames, ignore_index=True)


def evaluate(cfg: Config, family: str) -> dict:
    """Score val and test; choose the threshold on val; write metrics, curves and plots;
    log everything and the deployable pyfunc to the family's MLflow run."""
    prepared = load_prepared(cfg)
    model_dir = cfg.paths.model_dir(family)
    net, _ = load_model(model_dir / MODEL_FILE)
    run_id = read_json(model_dir / RUN_FILE)["run_id"]
    val, test = prepared.fold("val"), prepared.fold("test")
    bs = cfg.evaluate.batch_size
    val_scores, _, _ = _score_fold(net, val.x, bs)
    test_scores, test_recon, test_z = _score_fold(net, test.x, bs)
    report = score_report(val_scores, val.is_anomaly, test_scores, test.is_anomaly, test.label,
                          cfg.evaluate.threshold, cfg.evaluate.bootstrap, cfg.evaluate.ci,
                          cfg.seed)
    report["family"] = family

    out_dir = cfg.paths.family_eval_dir(family)
    shutil.rmtree(out_dir / PLOTS_DIR, ignore_errors=True)  # no stale figures from a last run
    write_parquet(out_dir / SCORES_FILE,
                  _scores_frame({"val": (val, val_scores), "test": (test, test_scores)}))
    curve_tables(test.is_anomaly, test_scores, out_dir)
    plots = [
        plot_score_histogram(test_scores, test.is_anomaly, report["threshold"],
                             f"{family}: test scores", out_dir / PLOTS_DIR / "score_histogram.png"),
        plot_latent(test_z, test.label, test.is_anomaly, out_dir / PLOTS_DIR / "latent.png"),
    ]
    if prepared.meta.is_image:
        raw_test = prepared.splits[prepared.splits["split"] == "test"][prepared.meta.features]
        recon_raw = _unscale(prepared.preprocessor, test_recon)
        plots.append(plot_reconstructions(raw_test.to_numpy(np.float64), recon_raw, test_scores,
                                          prepared.meta.image_shape,
                                          out_dir / PLOTS_DIR / "reconstructions.png"))
    info = DetectorInfo(family, prepared.meta.features, float(report["threshold"]),
                        str(report["threshold_method"]), str(report["threshold_detail"]),
                        prepared.meta.image_shape)
    info.save(out_dir / DETECTOR_FILE)

    setup_mlflow(cfg)
    model_uri, model_id = log_detector(
        run_id, report, plots, model_dir / MODEL_FILE, cfg.paths.preprocessor,
        out_dir / DETECTOR_FILE,
        example=prepared.splits[prepared.meta.features].head(5),
    )
    report["model_uri"] = model_uri
    write_json(out_dir / MODEL_INFO_FILE, {"family": family, "run_id": run_id,
                                           "model_uri": model_uri, "model_id": model_id})
    write_json(out_dir / METRICS_FILE, report)
    print(f"evaluate[{family}]: val AUROC {report['val_auroc']:.4f}  test AUROC "
          f"{report['test_auroc']:.4f} [{report['test_auroc_ci_low']:.3f}, "
          f"{report['test_auroc_ci_high']:.3f}]  AP {report['test_average_precision']:.4f}  "
          f"threshold {report['threshold']:.4g} ({report['threshold_method']})")
    return report


def _unscale(preprocessor, x: np.ndarray) -> np.ndarray:
    inverse = getattr(preprocessor, "inverse_transform", None)
    try:
        return inverse(x) if inverse is not None else x
    except (ValueError, TypeError):
        return x


def baselines(cfg: Config) -> dict:
    """PCA reconstruction error and Isolation Forest on the same split, as MLflow runs."""
    import mlflow

    from aeops.tracking import run_tags

    prepared = load_prepared(cfg)
    train_fold, val, test = (prepared.fold(s) for s in ("train", "val", "test"))
    out_dir = Path(cfg.paths.baselines_dir)
    results, frames = {}, []
    setup_mlflow(cfg)
    mlflow.set_experiment(cfg.mlflow.experiment)
    for name in BASELINES:
        model = fit_baseline(name, train_fold.normal, cfg)
        val_scores, test_scores = model.score(val.x), model.score(test.x)
        report = score_report(val_scores, val.is_anomaly, test_scores, test.is_anomaly,
                              test.label, cfg.evaluate.threshold, cfg.evaluate.bootstrap,
                              cfg.evaluate.ci, cfg.seed)
        report["family"] = name
        results[name] = report
        frame = _scores_frame({"val": (val, val_scores), "test": (test, test_scores)})
        frames.append(frame.assign(model=name))
        with mlflow.start_run(run_name=name, tags={**run_tags(name), "baseline": "true"}):
            mlflow.log_params({"family": name, **model.params})
            mlflow.log_metrics({k: v for k, v in report.items() if isinstance(v, float)})
        print(f"baselines[{name}]: val AUROC {report['val_auroc']:.4f}  test AUROC "
              f"{report['test_auroc']:.4f}  AP {report['test_average_precision']:.4f}")
    write_parquet(out_dir / SCORES_FILE, pd.concat(frames, ignore_index=True))
    write_json(out_dir / METRICS_FILE, results)
    return results
