"""``task: faults``: faults in sensor streams (``data.source: timeseries``). The autoencoder
families and the classical detectors (Hotelling's T² and PCA's Q among them) see each row
with the rows before it (``data.window``), every series standardised as the user asks
(``data.scaler: series``: by its own first rows); the threshold comes from validation rows
(``evaluate.threshold``), an alarm needs ``evaluate.min_run`` rows in a row over it, and every
model is measured as a stream is judged (:mod:`aeops.evaluation.events`): point-wise F1,
false- and missed-alarm rates (SKAB's protocol), events caught and alarms that were right,
the delay to the first alarm, false alarms per hour, AUC-PR and VUS-PR; point-adjusted F1 is
reported beside them, named inflated, never as the headline. It registers as
``aeops-<data>-faults``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aeops.core.sections import CodeConfig
from aeops.evaluation.metric import DETECTION, STREAMS
from aeops.tasks.base import Section, Table, Task, TaskConfig, rounded
from aeops.tasks.detectors import number, share

if TYPE_CHECKING:
    from aeops.data.split import Fold
    from aeops.evaluation.results import Comparison, ModelResult

# What each model is measured by, its short name in the headline, and how a person reads it.
FIGURES = (
    ("f1", "f1", "point-wise F1 of the alarms"),
    ("far", "far", "false-alarm rate (normal rows flagged)"),
    ("mar", "mar", "missed-alarm rate (fault rows not flagged)"),
    ("event_recall", "events_caught", "fault events caught"),
    ("event_precision", "alarms_right", "alarm segments that overlap a fault"),
    ("mean_delay_s", "delay_s", "mean seconds from a fault's start to its first alarm"),
    ("false_alarms_per_hour", "false_alarms_h", "false alarms per hour of normal running"),
    ("auc_pr", "auc_pr", "AUC-PR (threshold free)"),
    ("vus_pr", "vus_pr", "VUS-PR (threshold free, tolerant of a late or early edge)"),
    ("pa_f1", "pa_f1_inflated", "point-adjusted F1: inflated, never a model's merit"),
)
RATES = ("far", "mar", "event_recall", "event_precision")  # read as shares


def stream_figures(prefix: str, fold: Fold, scores: np.ndarray, threshold: float, min_run: int):
    """Every figure of :data:`FIGURES` for one fold, as ``<prefix>_<figure>``, plus the
    point-wise precision and recall of the alarms."""
    from aeops.evaluation.events import alarms
    from aeops.evaluation.events import stream_figures as measure

    flags = alarms(scores, threshold, min_run, fold.series)
    figures = measure(fold.is_anomaly, flags, scores, fold.series, fold.time)
    out = {f"{prefix}_{name}": float(getattr(figures, name)) for name, _, _ in FIGURES}
    out[f"{prefix}_precision"] = float(figures.precision)
    out[f"{prefix}_recall"] = float(figures.recall)
    out[f"{prefix}_fpr"] = float(figures.far)
    return {k: v for k, v in out.items() if np.isfinite(v)}


class Faults(Task):
    name = "faults"
    model_kind = "autoencoder"
    metrics = (*STREAMS, *DETECTION)
    use_measures = False  # a window's code is not what a stream's models are for

    def check(self, cfg: TaskConfig) -> None:
        super().check(cfg)
        if cfg.data.source != "timeseries":
            raise ValueError(
                "task: faults reads sensor streams: set data.source: timeseries (with "
                "data.time_column), or choose task: detect for rows of a table"
            )
        if cfg.data.label_column is None:
            raise ValueError(
                "task: faults measures alarms against the faults that happened: set "
                "data.label_column to the column that marks fault rows (e.g. anomaly)"
            )

    def baselines(self, found: dict[str, Any]) -> dict[str, Any]:
        """Every classical detector, Hotelling's T² included."""
        return found

    def fold_figures(self, scored: dict[str, tuple[Fold, np.ndarray]], threshold: float, cfg: Any):
        """The stream's figures of each fold, at the threshold, alarms after ``min_run``."""
        out: dict[str, float] = {}
        for prefix, (fold, scores) in scored.items():
            real = fold.real
            if fold.series is None or not real.all():
                continue
            out.update(stream_figures(prefix, fold, scores, threshold, cfg.evaluate.min_run))
        return out

    def plots(self, cfg: Any, comparison: Comparison, scores: dict[str, Any], folder: Path):
        """One figure per series (``series_<name>.png``, the first
        :data:`~aeops.evaluation.stream_plots.MAX_SERIES`): sensors, the chosen model's
        score and threshold, the true fault spans and its alarms, on one time axis."""
        import pandas as pd

        from aeops.data.schema import DatasetMeta
        from aeops.evaluation.stream_plots import MAX_SERIES

        chosen, threshold = scores.get(comparison.chosen), comparison.winner.threshold
        meta = DatasetMeta.load(cfg.paths.interim_meta)
        if chosen is None or threshold is None or meta.series_column is None:
            return []
        splits = pd.read_parquet(cfg.paths.splits)
        score = row_scores(splits, chosen)
        groups = list(splits.groupby(meta.series_column, sort=False).indices.items())
        title = (
            f"{comparison.chosen} ({comparison.kind}); an alarm after "
            f"{cfg.evaluate.min_run} row(s) over the threshold"
        )
        return [
            series_plot(
                folder,
                f"series {name}: {title}",
                splits.iloc[rows],
                score[rows],
                threshold.value,
                cfg.evaluate.min_run,
                meta,
            )  # fmt: skip
            for name, rows in groups[:MAX_SERIES]
        ]

    def headline(self, comparison: Comparison, code: CodeConfig) -> dict[str, Any]:
        """The chosen model, the metric that chose it, every test figure under its short
        name, the threshold, and each model's test F1."""
        figures = {**comparison.winner.record(), **comparison.headline}
        out: dict[str, Any] = {"chosen": comparison.chosen}
        if comparison.metric in figures:
            out["val"] = rounded(figures[comparison.metric])
        for name, short, _ in FIGURES:
            if f"test_{name}" in figures:
                out[short] = rounded(figures[f"test_{name}"])
        out["threshold"] = rounded(figures["threshold"])
        out["f1_by_model"] = {
            n: rounded(m.value("test_f1"))
            for n, m in comparison.everyone.items()
            if m.has("test_f1")
        }
        return out

    def section(self, comparison: Comparison, registry: dict[str, Any]) -> Section:
        figures = {**comparison.winner.record(), **comparison.headline}
        lead = [
            f"{comparison.chosen} ({comparison.kind}) was chosen by {comparison.metric} on "
            f"validation ({number(figures.get(comparison.metric), 3)}); on test it flags "
            f"{share(figures.get('test_event_recall'))} of the fault events with "
            f"{share(figures.get('test_far'))} of normal rows flagged."
        ]
        threshold = comparison.winner.threshold
        if threshold is not None:
            lead.append(f"Threshold: {number(threshold.value)} ({threshold.detail}).")
        warnings = [
            "Point-adjusted F1 counts a whole fault as found when one of its rows is flagged: "
            "a random score reaches it; it is shown for comparison with papers that report it, "
            "not as a model's merit."
        ]
        headline = Table(
            "Test figures of the chosen model",
            ["figure", "value"],
            [[words, cell(name, figures.get(f"test_{name}"))] for name, _, words in FIGURES],
        )
        return Section("Faults", lead, [headline, board(comparison)], warnings)


def row_scores(splits: Any, chosen: Any) -> np.ndarray:
    """The chosen model's score of each row of ``splits`` (NaN on training rows): its
    scores file holds validation's rows, then test's, each in the splits' order."""
    from aeops.data.schema import SPLIT_COLUMN

    score = np.full(len(splits), np.nan)
    for split in ("val", "test"):
        rows = (splits[SPLIT_COLUMN] == split).to_numpy()
        score[rows] = chosen.loc[chosen[SPLIT_COLUMN] == split, "score"].to_numpy()
    return score


def series_plot(
    folder: Path, title: str, part: Any, score: np.ndarray, threshold: float, min_run: int, meta
) -> Path:
    """The figure of one series (``part``: its rows of the splits, in time order)."""
    import pandas as pd

    from aeops.data.schema import SPLIT_COLUMN
    from aeops.data.streams import is_dates, seconds
    from aeops.evaluation.events import alarms
    from aeops.evaluation.stream_plots import SeriesView, plot_series

    values = part[meta.numeric].to_numpy(np.float64)
    first = values[(part[SPLIT_COLUMN] == "train").to_numpy()]
    spread = first.std(axis=0) if len(first) else np.ones(values.shape[1])
    centre = first.mean(axis=0) if len(first) else np.zeros(values.shape[1])
    z = (values - centre) / np.where(spread > 0, spread, 1.0)
    scored = np.isfinite(score)
    flags = np.zeros(len(part), dtype=bool)
    flags[scored] = alarms(score[scored], threshold, min_run)
    times = part[meta.time_column]
    axis = pd.to_datetime(times).to_numpy() if is_dates(times) else seconds(times)
    name = str(part[meta.series_column].iloc[0])
    view = SeriesView(
        axis, pd.DataFrame(z, columns=meta.numeric), score, part["is_anomaly"].to_numpy(bool), flags
    )
    return plot_series(folder / f"series_{name}.png", title, view, threshold)


def cell(name: str, value: Any) -> str:
    if name in RATES:
        return share(value)
    return number(value, 1 if name.endswith(("_s", "_hour")) else 3)


def board(comparison: Comparison) -> Table:
    """Every model, best on the metric that chose first."""
    names = ["f1", "far", "mar", "event_recall", "mean_delay_s", "auc_pr", "vus_pr"]

    def line(name: str, result: ModelResult) -> tuple[float, list[str]]:
        val = result.value(comparison.metric)
        chosen = name == comparison.chosen and result.kind == comparison.kind
        cells = [name, result.kind, number(val, 3)]
        cells += [cell(n, result.value(f"test_{n}")) for n in names]
        return (-(val if val is not None else -1e9), [*cells, "chosen" if chosen else ""])

    rows = sorted((line(n, m) for n, m in comparison.everyone.items()), key=lambda r: r[0])
    header = ["model", "kind", "validation", "F1", "FAR", "MAR", "events", "delay s"]
    header += ["AUC-PR", "VUS-PR", ""]
    title = f"Every model ({comparison.metric} on validation chose; test reported)"
    return Table(title, header, [cells for _, cells in rows])


TASK = Faults()
