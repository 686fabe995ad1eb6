"""The report section of a task whose models are detectors (detect, compress, reduce): the
chosen model's headline figures and every model side by side on the metric that chose,
best on validation first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aeops.tasks.base import Section, Table

if TYPE_CHECKING:
    from aeops.evaluation.results import Comparison, ModelResult

HEADERS = ["model", "kind", "validation", "test", "test 95% CI", "test AP", ""]


def number(value: Any, digits: int = 4) -> str:
    return "–" if not isinstance(value, (int, float)) else f"{value:.{digits}f}"


def share(value: Any) -> str:
    return "–" if not isinstance(value, (int, float)) else f"{value:.1%}"


def row(name: str, result: ModelResult, comparison: Comparison) -> tuple[float, list[str]]:
    """(sort key: validation, best first; the cells) of one model."""
    metric = comparison.metric
    test = metric.replace("val_", "test_", 1)
    val = result.value(metric)
    low, high = result.value(f"{test}_ci_low"), result.value(f"{test}_ci_high")
    chosen = name == comparison.chosen and result.kind == comparison.kind
    ci = f"[{number(low, 3)}, {number(high, 3)}]" if low else "–"
    cells = [
        name,
        result.kind,
        number(val),
        number(result.value(test)),
        ci,
        number(result.value("test_average_precision"), 3),
        "chosen" if chosen else "",
    ]
    return (-(val if val is not None else -1e9), cells)


def leaderboard(comparison: Comparison) -> Table:
    """Every family, the ensemble and every baseline, best on the selection metric first."""
    rows = [row(name, m, comparison) for name, m in comparison.everyone.items()]
    ordered = [cells for _, cells in sorted(rows, key=lambda r: r[0])]
    title = f"Leaderboard ({comparison.metric} on validation chose; test reported)"
    return Table(title, HEADERS, ordered)


def detector_section(comparison: Comparison, registry: dict[str, Any]) -> Section:
    """The chosen detector's headline and the leaderboard."""
    metric = comparison.metric
    test = metric.replace("val_", "test_", 1)
    figures = comparison.headline
    pairs = [
        [f"{test} (test)", number(figures.get(test))],
        [
            "95% CI",
            f"[{number(figures.get(f'{test}_ci_low'))}, {number(figures.get(f'{test}_ci_high'))}]",
        ],
        [f"{metric} (validation, chose it)", number(figures.get(metric))],
        ["average precision (test)", number(figures.get("test_average_precision"))],
        [
            "precision / recall at the threshold",
            f"{number(figures.get('test_precision'), 3)} / {number(figures.get('test_recall'), 3)}",
        ],
    ]
    threshold = comparison.winner.threshold
    lead = []
    if threshold is not None:
        lead.append(
            f"Threshold: {number(threshold.value)} ({threshold.method}): flags "
            f"{share(figures.get('test_flagged_share'))} of test rows"
        )
    notes = [n for n in (comparison.note("baseline_note"), comparison.note("test_note")) if n]
    return Section("Headline", lead, [Table("Headline", [], pairs), leaderboard(comparison)], notes)
