"""The comparison that ends the evaluate stage: every model and baseline side by side, the
honest choice, the figures.

The choice is made on validation only: on labelled anomalies when the validation fold holds
some, else on synthetic anomalies (and the report says which). The best autoencoder on
validation is the incumbent; with ``register.candidates: all`` the best baseline replaces it
only when it is reliably better: its lead is above zero in at least
``register.switch_confidence`` of the paired bootstrap resamples (the same validation rows
resampled for both, ``evaluate.bootstrap`` times), on a validation fold of at least
``register.switch_min_anomalies`` anomalies (a bootstrap over three anomalies resamples the
same three rows and is far too sure of itself). So a noisy lead never switches the model; a
clear one does. With ``autoencoders`` a baseline is never chosen, but a better one is
reported plainly. Families that could not use the data are listed with the reason.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeops.config import Config
from aeops.data.schema import ANOMALY_COLUMN, SPLIT_COLUMN, SYNTHETIC_COLUMN
from aeops.errors import AeopsError
from aeops.evaluation.baselines import BASELINES
from aeops.evaluation.metrics import paired_bootstrap_difference, selection_metric
from aeops.evaluation.plots import curve_tables, plot_curves, plot_rate_distortion
from aeops.evaluation.uses import USE_METRICS, UseRows, classical_denoisers, jpeg_points
from aeops.files import ENSEMBLE, METRICS_FILE, PLOTS_DIR, SCORES_FILE
from aeops.io import atomic_dir, read_json, write_json

log = logging.getLogger(__name__)

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
    "test_trustworthiness",
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


@dataclass(frozen=True)
class Selection:
    """Which model won, and why: the best autoencoder, the best baseline, the baseline's
    lead over it on validation with its paired bootstrap interval, and the verdict."""

    chosen: str
    kind: str
    autoencoder: str
    baseline: str
    lead: float
    lead_low: float
    lead_high: float
    lead_confidence: float  # share of paired resamples in which the baseline leads
    switched: bool
    reason: str
    autoencoder_reason: str = ""  # why this autoencoder (the ensemble or a single family)

    def record(self) -> dict:
        """As JSON: an interval that was not measured (no bootstrap) is left out, not NaN."""
        return {
            k: v
            for k, v in asdict(self).items()
            if not (isinstance(v, float) and not math.isfinite(v))
        }


def choose(
    models: dict[str, dict],
    baselines: dict[str, dict],
    metric: str,
    val_rows: dict[str, tuple[np.ndarray, np.ndarray]],
    candidates: str,
    n_boot: int,
    ci: float,
    seed: int,
    min_anomalies: int,
    confidence: float,
) -> Selection:
    """The decision, from validation numbers only. ``val_rows`` maps each model to its
    validation (is_anomaly, score) arrays on the rows ``metric`` is measured on. The
    autoencoder is the ensemble unless a single family is reliably better
    (:func:`choose_autoencoder`); a baseline replaces it only when reliably better."""
    rule = (n_boot, ci, seed, min_anomalies, confidence)
    best_ae, ae_reason = choose_autoencoder(models, metric, val_rows, *rule)
    best_base = select_best(baselines, metric)
    labels, ae_scores = val_rows[best_ae]
    lead = paired_bootstrap_difference(
        labels, ae_scores, val_rows[best_base][1], metric, n_boot, ci, seed
    )
    interval = describe_lead(lead, ci)
    n_anomalies = int(labels.sum())
    enough = n_anomalies >= min_anomalies
    reliable = bool(enough and lead.p_positive >= confidence)
    switched = candidates == "all" and reliable
    if switched:
        reason = (
            f"baseline {best_base} is reliably better than the best autoencoder "
            f"{best_ae} on validation: {metric} lead {interval}"
        )
    elif candidates != "all":
        reason = (
            f"autoencoder {best_ae} (register.candidates: autoencoders); baseline "
            f"{best_base}'s {metric} lead {interval}"
        )
    elif not enough:
        reason = (
            f"autoencoder {best_ae} kept: validation holds {n_anomalies} anomalies, "
            f"fewer than the {min_anomalies} (register.switch_min_anomalies) that could "
            f"show the best baseline {best_base} reliably better (lead {interval})"
        )
    else:
        reason = (
            f"autoencoder {best_ae} kept: the best baseline {best_base}'s {metric} "
            f"lead {interval} is not reliably above zero (register.switch_confidence "
            f"{confidence:.0%})"
        )
    chosen = best_base if switched else best_ae
    return Selection(
        chosen,
        "baseline" if switched else models[best_ae].get("kind", "autoencoder"),
        best_ae,
        best_base,
        lead.value,
        lead.low,
        lead.high,
        lead.p_positive,
        switched,
        reason if ENSEMBLE not in models else f"{ae_reason}; {reason}",
        ae_reason,
    )


def describe_lead(lead: Any, ci: float) -> str:
    return (
        f"{lead.value:+.4f} [{lead.low:+.4f}, {lead.high:+.4f}] ({ci:.0%} paired "
        f"bootstrap), above zero in {lead.p_positive:.0%} of resamples"
    )


def choose_autoencoder(
    models: dict[str, dict],
    metric: str,
    val_rows: dict[str, tuple[np.ndarray, np.ndarray]],
    n_boot: int,
    ci: float,
    seed: int,
    min_anomalies: int,
    confidence: float,
) -> tuple[str, str]:
    """(the autoencoder candidate, why). The ensemble is the incumbent: the family best on
    validation replaces it only when its lead is reliably above zero (the rule a baseline
    meets, :func:`choose`), since a lead on a few validation anomalies rarely holds on test
    while the ensemble's average does."""
    families = {name: m for name, m in models.items() if name != ENSEMBLE}
    best = select_best(families, metric)
    if ENSEMBLE not in models or ENSEMBLE not in val_rows:
        return best, f"{best} is the best family on validation"
    labels, ensemble_scores = val_rows[ENSEMBLE]
    lead = paired_bootstrap_difference(
        labels, ensemble_scores, val_rows[best][1], metric, n_boot, ci, seed
    )
    n_anomalies = int(labels.sum())
    if n_anomalies >= min_anomalies and lead.p_positive >= confidence:
        return best, (
            f"family {best} is reliably better than the {ENSEMBLE} on validation: {metric} "
            f"lead {describe_lead(lead, ci)}"
        )
    if n_anomalies < min_anomalies:
        why = (
            f"validation holds {n_anomalies} anomalies, fewer than the {min_anomalies} "
            "(register.switch_min_anomalies) that could show a family reliably better"
        )
    else:
        why = f"not reliably above zero (register.switch_confidence {confidence:.0%})"
    return ENSEMBLE, (
        f"{ENSEMBLE} of {len(families)} families kept: the best family {best}'s {metric} "
        f"lead {describe_lead(lead, ci)}: {why}"
    )


def choose_for_use(
    models: dict[str, dict], baselines: dict[str, dict], metric: str, candidates: str
) -> Selection:
    """The decision for a use other than detection (``metric`` in
    :data:`~aeops.evaluation.uses.USE_METRICS`): the best validation value among the models
    that have it (every autoencoder; PCA among the baselines, when ``candidates`` is
    ``all``). Measured on every validation normal row, so the better value is taken as it is."""
    models = {name: m for name, m in models.items() if metric in m}  # the ensemble has none
    best_ae = select_best(models, metric)
    coded = {name: m for name, m in baselines.items() if metric in m}
    best_base = select_best(coded, metric) if coded else ""
    ae_value = models[best_ae][metric]
    lead = coded[best_base][metric] - ae_value if best_base else math.nan
    switched = bool(candidates == "all" and best_base and lead > 0)
    chosen = best_base if switched else best_ae
    others = ", ".join(
        f"{name} {m[metric]:.4f}" for name, m in {**models, **coded}.items() if name != chosen
    )
    reason = (
        f"{'baseline' if switched else 'autoencoder'} {chosen} has the best {metric} on "
        f"validation: {({**models, **coded})[chosen][metric]:.4f} (then {others or 'none'})"
    )
    if best_base and not switched and lead > 0:
        reason += f"; baseline {best_base} is better but register.candidates is {candidates}"
    return Selection(
        chosen,
        "baseline" if switched else "autoencoder",
        best_ae,
        best_base,
        lead,
        math.nan,
        math.nan,
        math.nan,
        switched,
        reason,
    )


def selection_rows(metric: str, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The validation rows ``metric`` is measured on, as (is_anomaly, score)."""
    val = frame[frame[SPLIT_COLUMN] == "val"]
    if "synthetic" in metric:
        val = val[val[SYNTHETIC_COLUMN] | ~val[ANOMALY_COLUMN]]
    else:
        val = val[~val[SYNTHETIC_COLUMN]]
    return val[ANOMALY_COLUMN].to_numpy(bool), val["score"].to_numpy(np.float64)


def select_best(models: dict[str, dict], metric: str) -> str:
    """The model with the best validation metric (never a test metric); ties go to the first
    in order (``models.families`` order, then baselines)."""
    ranked = [
        (m[metric], -i, name)
        for i, (name, m) in enumerate(models.items())
        if isinstance(m.get(metric), float) and not math.isnan(m[metric])
    ]
    if not ranked:
        raise AeopsError(
            f"no model has a {metric}; the validation fold needs anomalies "
            "(labelled or synthetic) to compare models"
        )
    return max(ranked)[2]


def selection_basis(metric: str, scores: pd.DataFrame) -> str:
    """In words: what the choosing metric was measured on."""
    val = scores[scores[SPLIT_COLUMN] == "val"]
    if metric in USE_METRICS:
        n = int((~val[ANOMALY_COLUMN]).sum())
        return f"{metric} on {n} validation normal rows"
    if "synthetic" in metric:
        n = int(val[SYNTHETIC_COLUMN].sum())
        return (
            f"{metric} on {n} synthetic anomalies made from held-out normal rows (no "
            "labelled anomaly in validation)"
        )
    n = int((val[ANOMALY_COLUMN] & ~val[SYNTHETIC_COLUMN]).sum())
    return f"{metric} on {n} labelled validation anomalies"


def load_metrics(cfg: Config) -> tuple[dict[str, dict], dict[str, str], dict[str, dict]]:
    """(trained families and their ensemble, skipped families with reasons, baselines)."""
    models: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for family in cfg.models.families:
        m = read_json(cfg.paths.family_eval_dir(family) / METRICS_FILE)
        if m.get("skipped"):
            skipped[family] = m["reason"]
        else:
            models[family] = m
    ensemble = cfg.paths.family_eval_dir(ENSEMBLE) / METRICS_FILE
    if cfg.models.ensemble and ensemble.exists():
        models[ENSEMBLE] = read_json(ensemble)
    baselines = {
        name: read_json(Path(cfg.paths.baselines_dir) / name / METRICS_FILE) for name in BASELINES
    }
    return models, skipped, baselines


def model_dir(cfg: Config, name: str, kind: str) -> Path:
    return (
        Path(cfg.paths.baselines_dir) / name
        if kind == "baseline"
        else cfg.paths.family_eval_dir(name)
    )


def report(cfg: Config, run_ids: dict[str, str], folds: dict[str, UseRows | None]) -> dict:
    """Compare every model; ``run_ids`` are the families' MLflow runs (for the shared figure
    and each family's lift over the best baseline); ``folds`` the use measures' rows (for
    the classical references that are not detectors)."""
    models, skipped, baselines = load_metrics(cfg)
    if not models:
        raise AeopsError(
            "no model family could use this data: "
            + "; ".join(f"{f}: {why}" for f, why in skipped.items())
        )
    metric = selection_metric(cfg.register.metric, {**models, **baselines})
    scores = {
        name: pd.read_parquet(model_dir(cfg, name, m["kind"]) / SCORES_FILE)
        for name, m in {**models, **baselines}.items()
    }
    if metric in USE_METRICS:
        check_measured(metric, models)
        selection = choose_for_use(models, baselines, metric, cfg.register.candidates)
    else:
        selection = choose(
            models,
            baselines,
            metric,
            {name: selection_rows(metric, frame) for name, frame in scores.items()},
            cfg.register.candidates,
            cfg.evaluate.bootstrap,
            cfg.evaluate.ci,
            cfg.seed,
            cfg.register.switch_min_anomalies,
            cfg.register.switch_confidence,
        )
    best, kind = selection.chosen, selection.kind
    best_ae, best_baseline = selection.autoencoder, selection.baseline
    chosen = {**models, **baselines}[best]
    basis = selection_basis(metric, scores[best])
    baseline_note = None
    if (
        metric in baselines.get(best_baseline, {})
        and baselines[best_baseline][metric] > models[best_ae][metric]
        and not selection.switched
    ):
        baseline_note = (
            f"baseline {best_baseline} beats every autoencoder on validation "
            f"({metric} {baselines[best_baseline][metric]:.4f} vs "
            f"{best_ae} {models[best_ae][metric]:.4f})"
        )
        if cfg.register.candidates == "autoencoders":
            baseline_note += (
                "; the autoencoder is registered because register.candidates "
                "is autoencoders (set it to all to register the baseline)"
            )
        else:
            baseline_note += ", but not reliably (see selection)"
    metrics = {
        "family": best,
        "kind": kind,
        "selected_by": metric,
        "selection_basis": basis,
        "selection": selection.record(),
        "candidates": cfg.register.candidates,
        "baseline_note": baseline_note,
        "skipped": skipped,
        **{k: chosen[k] for k in HEADLINE if k in chosen},
        metric: chosen[metric],
        "models": models,
        "baselines": baselines,
        "uses": use_references(folds),
    }
    ranking = "test_auroc" if "test_auroc" in chosen else "test_synthetic_auroc"
    if ranking in chosen and all(ranking in b for b in baselines.values()):
        top = max(b[ranking] for b in baselines.values())
        metrics["lift_over_best_baseline"] = chosen[ranking] - top
        metrics["test_note"] = test_note(best, chosen, baselines, ranking)
    figures = write_figures(cfg, models, baselines, scores, ranking, metrics["uses"])
    write_json(cfg.paths.metrics, metrics)
    write_json(cfg.paths.summary, headline(metrics, ranking))
    log_comparison(models, baselines, ranking, figures, run_ids)
    log_summary(models, baselines, skipped, metrics)
    return metrics


def write_figures(
    cfg: Config,
    models: dict[str, dict],
    baselines: dict[str, dict],
    scores: dict[str, pd.DataFrame],
    ranking: str,
    uses: dict[str, Any],
) -> Path:
    """One ROC/PR figure of every model, the rate-distortion figure, the curve tables ``dvc
    plots`` draws, and each family's PNGs gathered in ``paths.plots_dir``."""
    synthetic = ranking == "test_synthetic_auroc"
    curves = {}
    with atomic_dir(cfg.paths.curves_dir) as curves_dir:
        for name, frame in scores.items():
            test = frame[frame[SPLIT_COLUMN] == "test"]
            test = (
                test[test[SYNTHETIC_COLUMN] | ~test[ANOMALY_COLUMN]]
                if synthetic
                else test[~test[SYNTHETIC_COLUMN]]
            )
            if not (test[ANOMALY_COLUMN].any() and (~test[ANOMALY_COLUMN]).any()):
                continue
            label = f"{name} (baseline)" if name in baselines else name
            curves[label] = (test[ANOMALY_COLUMN].to_numpy(bool), test["score"].to_numpy())
        curve_tables(curves, curves_dir)
    with atomic_dir(cfg.paths.plots_dir) as plots_dir:
        figure = plots_dir / "roc_pr.png"
        if curves and cfg.evaluate.plots:
            plot_curves(curves, figure, "test, synthetic anomalies" if synthetic else "test")
        points = rate_distortion_points(models, baselines, uses)
        if points and cfg.evaluate.plots:
            lossless = {
                "raw float32": uses["raw_float32_bytes_per_row"],
                "gzip, lossless": uses["gzip_bytes_per_row"],
            }
            plot_rate_distortion(points, plots_dir / "rate_distortion.png", lossless)
        for name in models:
            for png in sorted((cfg.paths.family_eval_dir(name) / PLOTS_DIR).glob("*.png")):
                shutil.copy2(png, plots_dir / f"{name}_{png.name}")
    return Path(cfg.paths.plots_dir) / "roc_pr.png"


def summary_table(
    models: dict[str, dict], baselines: dict[str, dict], columns: list[str] = SUMMARY_COLUMNS
) -> pd.DataFrame:
    rows = {**models, **{f"{name} (baseline)": m for name, m in baselines.items()}}
    table = pd.DataFrame({name: {c: m.get(c) for c in columns} for name, m in rows.items()}).T
    return table.dropna(axis=1, how="all").dropna(axis=0, how="all")


def log_summary(
    models: dict[str, dict], baselines: dict[str, dict], skipped: dict[str, str], metrics: dict
) -> None:
    """The summary table (rounded), the skipped families, the choice and why."""
    table = summary_table(models, baselines)
    key = metrics["selected_by"]
    if key in table.columns:
        table = table.sort_values(key, ascending=False)
    uses = summary_table(models, baselines, USE_COLUMNS)
    if key in uses.columns:
        uses = uses.sort_values(key, ascending=False)
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format
    ):
        log.info("\n" + table.to_string(na_rep="-"))
        if not uses.empty:
            log.info("\nother uses, on test's normal rows (models with a code):")
            log.info(uses.rename(columns=lambda c: c.removeprefix("test_")).to_string(na_rep="-"))
    for family, why in skipped.items():
        log.info(f"skipped {family}: {why}")
    log.info(f"\nchosen: {metrics['family']} ({metrics['kind']}) by {metrics['selection_basis']}")
    log.info(f"  why: {metrics['selection']['reason']}")
    headline = "".join(
        f"  {name} {metrics[name]:.4f}"
        for name in ("test_auroc", "test_synthetic_auroc")
        if name in metrics
    )
    log.info(
        f"{headline}  threshold {metrics['threshold']:.4g} ({metrics['threshold_method']}), "
        f"flags {metrics['test_flagged_share']:.1%} of test rows"
    )
    if metrics["baseline_note"]:
        log.warning(metrics["baseline_note"])
    if metrics.get("test_note"):
        log.warning(metrics["test_note"])


def log_comparison(
    models: dict[str, dict],
    baselines: dict[str, dict],
    ranking: str,
    figure: Path,
    run_ids: dict[str, str],
) -> None:
    """Every family's MLflow run gets its lift over the best baseline and the shared figure."""
    import mlflow

    tops = [b[ranking] for b in baselines.values() if ranking in b]
    for name, m in models.items():
        with mlflow.start_run(run_id=run_ids[name]):
            if tops and ranking in m:
                mlflow.log_metric("lift_over_best_baseline", m[ranking] - max(tops))
            if figure.exists():
                mlflow.log_artifact(str(figure), "plots")


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


def check_measured(metric: str, models: dict[str, dict]) -> None:
    """A use's metric that no model has is a sentence, not a choice among none."""
    if any(metric in m for m in models.values()):
        return
    why = {
        "val_knn_accuracy": "k-NN accuracy needs labels: at least two labels with five or "
        "more normal validation rows each"
    }.get(metric, "validation has too few normal rows to measure it")
    raise AeopsError(
        f"register.metric {metric}: no model has it on this data ({why}); choose another "
        "register.metric"
    )


def use_references(folds: dict[str, UseRows | None]) -> dict[str, Any]:
    """What the classical methods that are not detectors do on the same rows: scikit-image's
    denoisers and JPEG (images), gzip of the raw rows; PCA projection is the ``pca``
    baseline's own use measures."""
    from aeops.evaluation.uses import gzip_bytes_per_row, psnr

    val, test = folds.get("val"), folds.get("test")
    if test is None:
        return {}
    out: dict[str, Any] = {
        "rows": {split: len(rows.clean) for split, rows in folds.items() if rows is not None},
        "raw_float32_bytes_per_row": float(4 * test.clean.shape[1]),
        "gzip_bytes_per_row": gzip_bytes_per_row(test.clean),
        "test_psnr_noisy_db": psnr(test.clean, test.noisy, test.data_range),
    }
    if val is not None and test.shape is not None:
        out["denoisers"] = classical_denoisers(val, test)
        out["jpeg"] = jpeg_points(test)
    return out


def rate_distortion_points(
    models: dict[str, dict], baselines: dict[str, dict], uses: dict[str, Any]
) -> dict[str, list[tuple[float, float]]]:
    """(bytes per row, test PSNR) of every model's code at each dtype, and JPEG's curve."""
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
    jpeg = [(p["bytes_per_row"], p["psnr_db"]) for p in uses.get("jpeg", [])]
    if jpeg:
        points["JPEG (Pillow)"] = sorted(jpeg)
    return points
