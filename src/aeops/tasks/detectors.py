"""What the tasks whose models are detectors (detect, compress, reduce) share: the classical
references that are not models (:func:`detector_references`) and the report section (the
chosen model's headline figures and every model side by side on the metric that chose, best
on validation first: :func:`detector_section`)."""

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


def detector_references(inputs: Any, umap_dims: int | None, seed: int, denoisers: bool):
    """What the classical methods that are not detectors do on the evaluation's rows:
    scikit-image's denoisers and JPEG (images), gzip of the raw rows, UMAP at ``umap_dims``
    (a map's reference); PCA is a baseline of its own. ``denoisers``: False leaves the image
    denoisers out (no model of the task denoises)."""
    from aeops.data.noise import psnr_db
    from aeops.evaluation.denoising import row_references
    from aeops.evaluation.uses import gzip_bytes_per_row, jpeg_points, umap_reference

    folds = inputs.uses
    val, test = folds.get("val"), folds.get("test")
    if test is None:
        return {}
    out: dict[str, Any] = {
        "rows": {split: len(rows.clean) for split, rows in folds.items() if rows is not None},
        "raw_float32_bytes_per_row": float(4 * test.clean.shape[1]),
        "gzip_bytes_per_row": gzip_bytes_per_row(test.clean),
        "test_psnr_noisy_db": psnr_db(test.clean, test.noisy, test.data_range),
    }
    if val is not None and test.shape is not None:
        if denoisers:
            out["denoisers"] = row_references(val, test)
        out["jpeg"] = jpeg_points(test)
    if umap_dims is not None:
        out["umap"] = umap_reference(test, umap_dims, seed)
    return out
