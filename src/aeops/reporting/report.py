"""One report per run: ``reports/report.html`` (self-contained, figures inline) and
``report.md``. What won and why, every model side by side with its intervals, the threshold
and what it flags, the data, the lineage and the plots, read from the run's own files
(``metrics.json``, ``register.json``, the validation summary, the ingested data's metadata),
so ``aeops report`` rebuilds it at any time without the store.
"""

from __future__ import annotations

import base64
import html
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.core.io import atomic_path, read_json
from aeops.reporting.style import STYLE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    """One model on the leaderboard."""

    name: str
    kind: str  # autoencoder | baseline
    val: float | None
    test: float | None
    test_low: float | None
    test_high: float | None
    average_precision: float | None
    chosen: bool


@dataclass(frozen=True)
class RunReport:
    title: str
    chosen: str
    kind: str
    reason: str
    metric: str
    basis: str
    registry: str
    threshold: str
    headline: list[tuple[str, str]]
    rows: list[Row]
    skipped: dict[str, str]
    notes: list[str]
    data: list[tuple[str, str]]
    lineage: list[tuple[str, str]]
    figures: list[Path] = field(default_factory=list)


def _number(value: Any, digits: int = 4) -> str:
    return "–" if not isinstance(value, (int, float)) else f"{value:.{digits}f}"


def _share(value: Any) -> str:
    return "–" if not isinstance(value, (int, float)) else f"{value:.1%}"


def leaderboard(metrics: dict[str, Any]) -> list[Row]:
    """Every family, the ensemble and every baseline, best on the selection metric first."""
    metric = metrics["selected_by"]
    test_key = metric.replace("val_", "test_")
    rows = []
    for kind, models in (("autoencoder", metrics["models"]), ("baseline", metrics["baselines"])):
        for name, m in models.items():
            rows.append(
                Row(
                    name,
                    m.get("kind", kind),  # an autoencoder, or their ensemble
                    m.get(metric),
                    m.get(test_key),
                    m.get(f"{test_key}_ci_low"),
                    m.get(f"{test_key}_ci_high"),
                    m.get("test_average_precision"),
                    name == metrics["family"] and m.get("kind", kind) == metrics["kind"],
                )
            )
    return sorted(rows, key=lambda r: -(r.val if isinstance(r.val, (int, float)) else -1e9))


def build(cfg: Config, git: tuple[str | None, bool | None]) -> RunReport:
    """The report's content from the run's files (pure but for reading them)."""
    metrics = read_json(cfg.paths.metrics)
    registry_file = Path(cfg.paths.registry_report)
    registry = read_json(registry_file) if registry_file.exists() else {}
    validation_file = Path(cfg.paths.validation_dir) / "summary.json"
    validation = read_json(validation_file) if validation_file.exists() else {}
    meta_file = Path(cfg.paths.interim_meta)
    meta = read_json(meta_file) if meta_file.exists() else {}
    metric = metrics["selected_by"]
    test_key = metric.replace("val_", "test_")
    chosen, kind = metrics["family"], metrics["kind"]
    selection = metrics.get("selection") or {}
    headline = [
        (f"{test_key} (test)", _number(metrics.get(test_key))),
        (
            "95% CI",
            f"[{_number(metrics.get(f'{test_key}_ci_low'))}, "
            f"{_number(metrics.get(f'{test_key}_ci_high'))}]",
        ),
        (f"{metric} (validation, chose it)", _number(metrics.get(metric))),
        ("average precision (test)", _number(metrics.get("test_average_precision"))),
        (
            "precision / recall at the threshold",
            f"{_number(metrics.get('test_precision'), 3)} / "
            f"{_number(metrics.get('test_recall'), 3)}",
        ),
    ]
    threshold = (
        f"{_number(metrics.get('threshold'))} ({metrics.get('threshold_method')}): flags "
        f"{_share(metrics.get('test_flagged_share'))} of test rows"
    )
    if registry:
        state = "promoted to champion" if registry.get("promoted") else f"@{registry.get('alias')}"
        registry_line = (
            f"{registry.get('model_name')} v{registry.get('version')}, {state} "
            f"({registry.get('model_uri')})"
        )
    else:
        registry_line = "not registered yet (run the register stage)"
    notes = [n for n in (metrics.get("baseline_note"), metrics.get("test_note")) if n]
    notes += time_budget_notes(cfg, list(metrics["models"]))
    labels = meta.get("labels") or []
    data = [
        ("source", f"{cfg.data.source}" + (f" ({cfg.data.path})" if cfg.data.path else "")),
        ("rows (train / validation / test; anomalies)", _split_counts(cfg)),
        ("features", str(len(meta.get("features", [])))),
        ("labels", ", ".join(map(str, labels)) if labels else "none (unlabeled)"),
        ("normal labels", ", ".join(map(str, cfg.data.normal_labels or [])) or "–"),
        ("selection basis", metrics.get("selection_basis", "–")),
        (
            "validation (Great Expectations)",
            (
                f"{'passed' if validation.get('success') else 'FAILED'}: "
                f"{validation.get('evaluated_expectations', '?')} expectations, "
                f"{validation.get('failed_expectations', '?')} failed"
            )
            if validation
            else "–",
        ),
    ]
    commit, dirty = git
    lineage = [
        (
            "git commit",
            (commit or "not a git checkout") + (" (uncommitted changes)" if dirty else ""),
        ),
        ("prepared data (sha256 of the splits)", _splits_hash(cfg)),
        ("DVC experiment", os.environ.get("DVC_EXP_NAME") or "none (workspace run)"),
        ("MLflow store", str(registry.get("store_id") or "–")),
    ]
    figures = sorted(Path(cfg.paths.plots_dir).glob("*.png"))
    roc = [f for f in figures if f.name == "roc_pr.png"]
    figures = roc + [f for f in figures if f.name != "roc_pr.png"]
    return RunReport(
        title=f"aeops run: {chosen} ({kind}) on {cfg.data.source}",
        chosen=chosen,
        kind=kind,
        reason=selection.get("reason") or registry.get("reason") or "",
        metric=metric,
        basis=metrics.get("selection_basis", ""),
        registry=registry_line,
        threshold=threshold,
        headline=headline,
        rows=leaderboard(metrics),
        skipped=metrics.get("skipped") or {},
        notes=notes,
        data=data,
        lineage=lineage,
        figures=figures,
    )


def time_budget_notes(cfg: Config, families: list[str]) -> list[str]:
    """A sentence for each family ``train.max_time`` or ``train.max_samples`` stopped before
    early stopping did."""
    from aeops.core.files import RUN_FILE

    notes = []
    for family in families:
        record = cfg.paths.model_dir(family) / RUN_FILE
        run = read_json(record) if record.exists() else {}
        if run.get("stopped_by") == "max_time":
            notes.append(
                f"{family} was stopped by train.max_time ({cfg.train.max_time:g} s) after "
                f"{run.get('epochs')} epochs, before early stopping: a longer budget may "
                "train it further"
            )
        if run.get("stopped_by") == "max_samples":
            notes.append(
                f"{family} trained {run.get('epochs')} epochs, the most train.max_samples "
                f"({cfg.train.max_samples:,} training rows seen) allows on this many rows"
            )
    return notes


def _split_counts(cfg: Config) -> str:
    """``1077 / 360 / 360; 0 / 21 / 21 anomalies`` from the prepared splits."""
    import pandas as pd

    from aeops.data.schema import ANOMALY_COLUMN, SPLIT_COLUMN

    splits = Path(cfg.paths.splits)
    if not splits.exists():
        return "–"
    frame = pd.read_parquet(splits, columns=[SPLIT_COLUMN, ANOMALY_COLUMN])
    folds = ("train", "val", "test")
    rows = frame[SPLIT_COLUMN].value_counts()
    bad = frame[frame[ANOMALY_COLUMN]][SPLIT_COLUMN].value_counts()
    return (
        " / ".join(str(int(rows.get(f, 0))) for f in folds)
        + "; "
        + " / ".join(str(int(bad.get(f, 0))) for f in folds)
        + " anomalies"
    )


def _splits_hash(cfg: Config) -> str:
    from aeops.data.split import splits_hash

    return splits_hash(cfg.paths.splits) if Path(cfg.paths.splits).exists() else "–"


def _row_cells(row: Row) -> list[str]:
    ci = f"[{_number(row.test_low, 3)}, {_number(row.test_high, 3)}]" if row.test_low else "–"
    return [
        ("**" + row.name + "**") if row.chosen else row.name,
        row.kind,
        _number(row.val),
        _number(row.test),
        ci,
        _number(row.average_precision, 3),
        "chosen" if row.chosen else "",
    ]


HEADERS = ["model", "kind", "validation", "test", "test 95% CI", "test AP", ""]


def to_markdown(report: RunReport, base: Path) -> str:
    """The same report in Markdown; figures linked relative to ``base`` (the file's folder)."""
    lines = [
        f"# {report.title}",
        "",
        f"**Winner: {report.chosen} ({report.kind}).** {report.reason}",
        "",
    ]
    lines += [f"- Registered: {report.registry}", f"- Threshold: {report.threshold}"]
    lines += [f"- Note: {note}" for note in report.notes]
    lines += ["", "## Headline", "", "| figure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report.headline]
    lines += ["", f"## Leaderboard ({report.metric} on validation chose; test reported)", ""]
    lines += ["| " + " | ".join(HEADERS) + " |", "|---" * len(HEADERS) + "|"]
    lines += ["| " + " | ".join(_row_cells(r)) + " |" for r in report.rows]
    if report.skipped:
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in report.skipped.items())]
    for heading, pairs in (("Data", report.data), ("Lineage", report.lineage)):
        lines += ["", f"## {heading}", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in pairs]
    if report.figures:
        lines += ["", "## Plots", ""]
        lines += [f"![{f.stem}]({os.path.relpath(f, base)})" for f in report.figures]
    return "\n".join(lines) + "\n"


def _pairs_html(pairs: list[tuple[str, str]]) -> str:
    return (
        "<table>"
        + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs)
        + "</table>"
    )


def to_html(report: RunReport) -> str:
    esc = html.escape
    rows = []
    for row in report.rows:
        cells = _row_cells(row)
        cells[0] = esc(row.name)
        tds = "".join(
            f'<td class="num">{esc(c)}</td>' if i in (2, 3, 5) else f"<td>{esc(c)}</td>"
            for i, c in enumerate(cells)
        )
        rows.append(f'<tr class="{"chosen" if row.chosen else ""}">{tds}</tr>')
    figures = "".join(
        f'<figure><img alt="{esc(f.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(f.read_bytes()).decode()}"><figcaption>{esc(f.name)}</figcaption></figure>'
        for f in report.figures
    )
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in report.notes)
    skipped = (
        "<p>Skipped: " + esc("; ".join(f"{k}: {v}" for k, v in report.skipped.items())) + "</p>"
        if report.skipped
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(report.title)}</title>
<style>{STYLE}</style></head><body>
<h1>{esc(report.title)}</h1>
<div class="winner"><p><strong>Winner: {esc(report.chosen)} ({esc(report.kind)}).</strong>
{esc(report.reason)}</p>
<p>Registered: {esc(report.registry)}<br>Threshold: {esc(report.threshold)}</p></div>
{notes}
<h2>Headline</h2>{_pairs_html(report.headline)}
<h2>Leaderboard ({esc(report.metric)} on validation chose; test reported)</h2>
<table><tr>{"".join(f"<th>{esc(h)}</th>" for h in HEADERS)}</tr>{"".join(rows)}</table>
{skipped}
<h2>Data</h2>{_pairs_html(report.data)}
<h2>Lineage</h2>{_pairs_html(report.lineage)}
<h2>Plots</h2>{figures or "<p>No figures (evaluate.plots is false).</p>"}
</body></html>
"""


def write_report(cfg: Config) -> Path:
    """``paths.report`` (HTML) and the Markdown beside it, from the run's files."""
    from aeops.core.env import git_commit, git_dirty

    report = build(cfg, (git_commit(), git_dirty()))
    page = Path(cfg.paths.report)
    with atomic_path(page) as tmp:
        tmp.write_text(to_html(report), encoding="utf-8")
    with atomic_path(page.with_suffix(".md")) as tmp:
        tmp.write_text(to_markdown(report, page.parent), encoding="utf-8")
    log.info(f"report: {page} (and {page.with_suffix('.md').name})")
    return page


def rebuild_report(params: Path, open_it: bool) -> Path:
    """``aeops report``: this run's report rebuilt from its files (and opened)."""
    import webbrowser

    from aeops.config import load_config
    from aeops.core.errors import AeopsError

    cfg = load_config(params)
    if not Path(cfg.paths.metrics).exists():
        raise AeopsError(f"{cfg.paths.metrics}: no evaluated run yet; run `make train` first")
    if cfg.task == "denoise":
        from aeops.reporting.denoise_report import write_denoise_report

        page = write_denoise_report(cfg)
    else:
        page = write_report(cfg)
    if open_it:
        webbrowser.open(page.resolve().as_uri())
    return page
