"""How a model does on a labelled file of the user's own (``aeops evaluate``): AUROC, average
precision, and the confusion at the model's threshold, the file scored chunk by chunk like
``aeops score`` (memory: a score and a label per row).

Which rows are anomalies: the label values not in ``normal`` when it is given; without it a
label column of 0/1 or true/false counts 1/true as the anomaly, and any other label column is
refused with the values it holds and the option that says which are normal.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError
from aeops.serving.pipeline import FLAG_COLUMN, SCORE_COLUMN

if TYPE_CHECKING:
    from aeops.serving.scorer import Scorer

TRUE_WORDS = {"1", "true", "yes", "anomaly"}
BINARY_WORDS = TRUE_WORDS | {"0", "false", "no", "normal"}


def anomaly_flags(labels: pd.Series, name: str, normal: list[str] | None) -> np.ndarray:
    """True for the anomalous rows of one chunk's label column (see the module docstring)."""
    missing = labels.isna().to_numpy()
    if missing.any():
        row = labels.index[int(np.flatnonzero(missing)[0])]
        raise ScoringInputError(
            f"row {row}, column '{name}': no label; every row of a labelled file needs one"
        )
    words = labels.astype(str).str.strip()
    if normal is not None:
        return ~words.isin(normal).to_numpy()
    lowered = words.str.lower()
    seen = sorted(set(lowered))
    if not set(seen) <= BINARY_WORDS:
        raise ScoringInputError(
            f"column '{name}' holds labels {seen[:8]}: say which are normal with --normal "
            f"(e.g. --normal {words.iloc[0]})"
        )
    return lowered.isin(TRUE_WORDS).to_numpy()


def evaluate_file(
    scorer: Scorer,
    path: Path,
    label_column: str,
    normal: list[str] | None = None,
    chunk_rows: int = 100_000,
    threshold: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score ``path`` and measure the scores against its ``label_column``."""
    from aeops.evaluation.metrics import auroc, average_precision
    from aeops.serving.batch import results
    from aeops.serving.inputs import open_input
    from aeops.serving.outputs import ChunkProgress

    scores, flags, truth = [], [], []
    with open_input(path, chunk_rows) as source:
        if label_column not in source.columns:
            raise ScoringInputError(
                f"{path}: no column '{label_column}' (columns: {source.columns[:12]}); name "
                "the label column with --label-column"
            )
        with ChunkProgress(source.rows, "evaluate", progress).bar() as bar:
            for chunk, result in results(scorer, source, threshold, False, "score"):
                truth.append(anomaly_flags(chunk[label_column], label_column, normal))
                scores.append(result[SCORE_COLUMN].to_numpy(np.float64))
                flags.append(result[FLAG_COLUMN].to_numpy(bool))
                bar.update(len(chunk))
    if not truth:
        raise ScoringInputError(f"{path}: no rows to evaluate")
    is_anomaly, score, flagged = (np.concatenate(a) for a in (truth, scores, flags))
    if is_anomaly.all() or not is_anomaly.any():
        kind = "anomalies" if is_anomaly.all() else "normal rows"
        raise ScoringInputError(
            f"{path}: every row is one of the {kind} by column '{label_column}', so nothing "
            "separates; AUROC needs both (check --normal)"
        )
    return confusion_report(is_anomaly, score, flagged) | {
        "auroc": auroc(is_anomaly, score),
        "average_precision": average_precision(is_anomaly, score),
        "threshold": threshold if threshold is not None else scorer.threshold,
    }


def confusion_report(is_anomaly: np.ndarray, score: np.ndarray, flagged: np.ndarray) -> dict:
    tp = int((flagged & is_anomaly).sum())
    fp = int((flagged & ~is_anomaly).sum())
    fn = int((~flagged & is_anomaly).sum())
    tn = int((~flagged & ~is_anomaly).sum())
    return {
        "rows": int(len(score)),
        "anomalies": int(is_anomaly.sum()),
        "flagged": int(flagged.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
    }


def report_lines(path: Path, label_column: str, report: dict[str, Any]) -> list[str]:
    return [
        f"{path}: {report['rows']:,} rows, {report['anomalies']:,} anomalies by '{label_column}'",
        f"  AUROC {report['auroc']:.4f}  average precision {report['average_precision']:.4f}",
        f"  at threshold {report['threshold']:.4g}: {report['flagged']:,} flagged; "
        f"TP {report['tp']:,}  FP {report['fp']:,}  FN {report['fn']:,}  TN {report['tn']:,}; "
        f"precision {report['precision']:.3f}  recall {report['recall']:.3f}",
    ]
