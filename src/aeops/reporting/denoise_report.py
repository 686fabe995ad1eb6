"""The report of a ``task: denoise`` run: ``reports/report.html`` (figure inline) and
``report.md``. Which denoiser was registered and why, then, at every noise level, its test
PSNR / SSIM beside the noisy input and each classical denoiser on the same noisy images,
read from the run's own files (``metrics.json``, ``register.json``)."""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.core.io import atomic_path, read_json
from aeops.reporting.style import STYLE

log = logging.getLogger(__name__)
CLASSICAL = ("non_local_means", "total_variation", "wavelet", "bm3d")


def table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): per sigma, PSNR dB / SSIM on test of the noisy input, each model and
    each classical denoiser."""
    models = list(metrics["models"])
    classical = [c for c in CLASSICAL if c in next(iter(metrics["classical"].values()))]
    header = ["sigma", "noisy", *models, *classical]
    rows = []
    for sigma, refs in metrics["classical"].items():
        first = metrics["models"][models[0]]["by_sigma"][sigma]["test"]
        cells = [sigma, f"{first['psnr_db'] - first['psnr_gain_db']:.2f} dB"]
        for name in models:
            m = metrics["models"][name]["by_sigma"][sigma]["test"]
            cells.append(f"{m['psnr_db']:.2f} dB / {m['ssim']:.3f}")
        for name in classical:
            t = refs[name]["test"]
            cells.append(f"{t['psnr_db']:.2f} dB / {t['ssim']:.3f}")
        rows.append(cells)
    return header, rows


def lines(cfg: Config) -> tuple[str, list[str]]:
    """(title, the sentences that open the report)."""
    metrics = read_json(cfg.paths.metrics)
    registry_path = Path(cfg.paths.registry_report)
    registry = read_json(registry_path) if registry_path.exists() else {}
    chosen = metrics["selection"]["chosen"]
    model = metrics["models"][chosen]
    title = f"aeops denoise run: {chosen} ({model['noise']})"
    at = ", ".join(f"{s:g}" for s in model["headline_sigmas"])
    said = [
        f"Chosen: {chosen} ({model['parameters']:,} parameters), validation PSNR "
        f"{model['val_psnr_db']:.2f} dB at sigma {at}; "
        f"test PSNR {model['test_psnr_db']:.2f} dB, {model['test_psnr_gain_db']:+.2f} dB over "
        f"the noisy input, SSIM {model['test_ssim']:.3f}.",
        f"Images measured: {metrics['images']['val']} validation, {metrics['images']['test']} "
        "test (noise added once, seeded, clipped to [0, 1]; classical denoisers told the true "
        "sigma, each setting chosen on validation).",
    ]
    if registry:
        said.append(
            f"Registered: {registry['model_name']} v{registry['version']} @{registry['alias']} "
            f"({registry['reason']})."
        )
    return title, said


def write_denoise_report(cfg: Config) -> Path:
    """``paths.report`` (HTML) and the Markdown beside it."""
    metrics = read_json(cfg.paths.metrics)
    title, said = lines(cfg)
    header, rows = table(metrics)
    figure = Path(cfg.paths.plots_dir) / "denoising.png"
    page = Path(cfg.paths.report)
    md = [f"# {title}", "", *[f"{s}\n" for s in said], "## Test PSNR / SSIM by noise level", ""]
    md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    if figure.exists():
        md += ["", f"![test images]({Path('plots') / figure.name})"]
    esc = html.escape
    img = (
        f'<figure><img alt="test images" src="data:image/png;base64,'
        f'{base64.b64encode(figure.read_bytes()).decode()}"></figure>'
        if figure.exists()
        else ""
    )
    body = "".join(f"<p>{esc(s)}</p>" for s in said)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    cells = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    page_html = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}'
        f"</title><style>{STYLE}</style></head><body><h1>{esc(title)}</h1>"
        f'<div class="winner">{body}</div><h2>Test PSNR / SSIM by noise level</h2>'
        f"<table><tr>{head}</tr>{cells}</table><h2>Test images</h2>{img}</body></html>\n"
    )
    with atomic_path(page) as tmp:
        tmp.write_text(page_html, encoding="utf-8")
    with atomic_path(page.with_suffix(".md")) as tmp:
        tmp.write_text("\n".join(md) + "\n", encoding="utf-8")
    log.info(f"report: {page} (and {page.with_suffix('.md').name})")
    return page
