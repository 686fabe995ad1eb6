"""One report per run, for every task: ``reports/report.html`` (self-contained, figures
inline) and ``report.md``. What won and why, where it is registered, the task's own section
(:meth:`aeops.tasks.base.Task.section`: a detector's headline and leaderboard, a denoiser's
PSNR by noise level), the data, the lineage and the plots, read from the run's own files
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
from aeops.evaluation.results import Comparison
from aeops.reporting.style import STYLE
from aeops.tasks.base import Section, Table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunReport:
    """What the report says, before it is HTML or Markdown."""

    title: str
    chosen: str
    kind: str
    reason: str
    registry: str
    section: Section
    skipped: dict[str, str]
    notes: list[str]
    data: list[tuple[str, str]]
    lineage: list[tuple[str, str]]
    figures: list[Path] = field(default_factory=list)


def registry_line(registry: dict[str, Any]) -> str:
    if not registry:
        return "not registered yet (run the register stage)"
    state = "promoted to champion" if registry.get("promoted") else f"@{registry.get('alias')}"
    return (
        f"{registry.get('model_name')} v{registry.get('version')}, {state} "
        f"({registry.get('model_uri')})"
    )


def read_optional(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    return read_json(path) if path.exists() else {}


def build(cfg: Config, git: tuple[str | None, bool | None]) -> RunReport:
    """The report's content from the run's files (pure but for reading them)."""
    comparison = Comparison.load(cfg.paths.metrics)
    registry = read_optional(cfg.paths.registry_report)
    task = cfg.use
    figures = sorted(Path(cfg.paths.plots_dir).glob("*.png"))
    roc = [f for f in figures if f.name == "roc_pr.png"]
    return RunReport(
        title=task.title(comparison, cfg.data.source),
        chosen=comparison.chosen,
        kind=comparison.kind,
        reason=comparison.reason or registry.get("reason") or "",
        registry=registry_line(registry),
        section=task.section(comparison, registry),
        skipped=comparison.skipped,
        notes=time_budget_notes(cfg, list(comparison.models)),
        data=data_pairs(cfg, comparison),
        lineage=lineage_pairs(cfg, registry, git),
        figures=roc + [f for f in figures if f.name != "roc_pr.png"],
    )


def data_pairs(cfg: Config, comparison: Comparison) -> list[tuple[str, str]]:
    validation = read_optional(Path(cfg.paths.validation_dir) / "summary.json")
    meta = read_optional(cfg.paths.interim_meta)
    labels = meta.get("labels") or []
    checked = (
        f"{'passed' if validation.get('success') else 'FAILED'}: "
        f"{validation.get('evaluated_expectations', '?')} expectations, "
        f"{validation.get('failed_expectations', '?')} failed"
    )
    return [
        ("source", f"{cfg.data.source}" + (f" ({cfg.data.path})" if cfg.data.path else "")),
        ("rows (train / validation / test; anomalies)", _split_counts(cfg)),
        ("features", str(len(meta.get("features", [])))),
        ("labels", ", ".join(map(str, labels)) if labels else "none (unlabeled)"),
        ("normal labels", ", ".join(map(str, cfg.data.normal_labels or [])) or "–"),
        ("selection basis", comparison.basis or "–"),
        ("validation (Great Expectations)", checked if validation else "–"),
    ]


def lineage_pairs(
    cfg: Config, registry: dict[str, Any], git: tuple[str | None, bool | None]
) -> list[tuple[str, str]]:
    commit, dirty = git
    return [
        (
            "git commit",
            (commit or "not a git checkout") + (" (uncommitted changes)" if dirty else ""),
        ),
        ("prepared data (sha256 of the splits)", _splits_hash(cfg)),
        ("DVC experiment", os.environ.get("DVC_EXP_NAME") or "none (workspace run)"),
        ("MLflow store", str(registry.get("store_id") or "–")),
    ]


def time_budget_notes(cfg: Config, families: list[str]) -> list[str]:
    """A sentence for each family ``train.max_time`` or ``train.max_samples`` stopped before
    early stopping did."""
    from aeops.core.files import RUN_FILE

    notes = []
    for family in families:
        run = read_optional(cfg.paths.model_dir(family) / RUN_FILE)
        if run.get("stopped_by") == "max_time":
            notes.append(
                f"{family} was stopped by train.max_time ({cfg.train.max_time:g} s) after "
                f"{run.get('epochs', run.get('steps'))} epochs, before early stopping: a longer "
                "budget may train it further"
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


def table_markdown(table: Table) -> list[str]:
    header = table.header or ["figure", "value"]
    lines = ["", f"## {table.title}", ""]
    lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    cells = [[f"**{r[0]}**" if r[-1] == "chosen" else r[0], *r[1:]] for r in table.rows]
    return lines + ["| " + " | ".join(r) + " |" for r in cells]


def to_markdown(report: RunReport, base: Path) -> str:
    """The same report in Markdown; figures linked relative to ``base`` (the file's folder)."""
    section = report.section
    lines = [
        f"# {report.title}",
        "",
        f"**Winner: {report.chosen} ({report.kind}).** {report.reason}",
        "",
    ]
    lines += [f"- Registered: {report.registry}", *[f"- {lead}" for lead in section.lead]]
    lines += [f"- Note: {note}" for note in [*section.warnings, *report.notes]]
    for table in section.tables:
        lines += table_markdown(table)
    if report.skipped:
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in report.skipped.items())]
    for heading, pairs in (("Data", report.data), ("Lineage", report.lineage)):
        lines += ["", f"## {heading}", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in pairs]
    if report.figures:
        lines += ["", "## Plots", ""]
        lines += [f"![{f.stem}]({os.path.relpath(f, base)})" for f in report.figures]
    return "\n".join(lines) + "\n"


def pairs_html(pairs: list[tuple[str, str]] | list[list[str]]) -> str:
    esc = html.escape
    return (
        "<table>"
        + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
        + "</table>"
    )


def table_html(table: Table) -> str:
    """A section's table: pairs (no header), or a header and rows (a leaderboard's chosen
    row marked)."""
    esc = html.escape
    if not table.header:
        return f"<h2>{esc(table.title)}</h2>" + pairs_html(table.rows)
    numeric = {i for i, h in enumerate(table.header) if h in ("validation", "test", "test AP")}
    rows = []
    for row in table.rows:
        tds = "".join(
            f'<td class="num">{esc(c)}</td>' if i in numeric else f"<td>{esc(c)}</td>"
            for i, c in enumerate(row)
        )
        rows.append(f'<tr class="{"chosen" if row[-1] == "chosen" else ""}">{tds}</tr>')
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    return f"<h2>{esc(table.title)}</h2><table><tr>{head}</tr>{''.join(rows)}</table>"


def figure_html(path: Path) -> str:
    esc = html.escape
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure><img alt="{esc(path.stem)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(path.name)}</figcaption></figure>"
    )


def to_html(report: RunReport) -> str:
    esc = html.escape
    section = report.section
    lead = "".join(f"<br>{esc(line)}" for line in section.lead)
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in [*section.warnings, *report.notes])
    tables = "".join(table_html(t) for t in section.tables)
    skipped = (
        "<p>Skipped: " + esc("; ".join(f"{k}: {v}" for k, v in report.skipped.items())) + "</p>"
        if report.skipped
        else ""
    )
    figures = "".join(figure_html(f) for f in report.figures)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(report.title)}</title>
<style>{STYLE}</style></head><body>
<h1>{esc(report.title)}</h1>
<div class="winner"><p><strong>Winner: {esc(report.chosen)} ({esc(report.kind)}).</strong>
{esc(report.reason)}</p>
<p>Registered: {esc(report.registry)}{lead}</p></div>
{notes}
{tables}
{skipped}
<h2>Data</h2>{pairs_html(report.data)}
<h2>Lineage</h2>{pairs_html(report.lineage)}
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
    page = write_report(cfg)
    if open_it:
        webbrowser.open(page.resolve().as_uri())
    return page
