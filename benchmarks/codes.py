"""Compression and reduction on real data, through the whole pipeline, side by side with the
classical methods in the same run (part of ``make quality SUITE=uses``).

Each case is a preset (``examples/<preset>/params.yaml``) run exactly as a user runs it
(ingest, validate, prepare, train every family, evaluate, register), in a scratch folder with
its own MLflow store, with at most ``--set key=value`` overrides recorded in the result. From
the run's ``reports/metrics.json`` it keeps, on the test fold's images: every model's squared
error per image, PSNR at float32 and at the stored precision, bytes per image, and the
reduction measures (trustworthiness, continuity, 5-NN label accuracy), PCA's at the same
number of components (the same bytes: int8 codes quantised the same way) and JPEG's curve.

    .venv/bin/python benchmarks/codes.py --case compress [--set train.max_epochs=20]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aeops.config import parse_config  # noqa: E402
from aeops.core.env import disable_telemetry  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
# what `make quality SUITE=uses` runs: (name, preset, overrides)
STANDARD = (
    ("compress", "compress", {}),  # the preset's 24 epochs: ~35 minutes for the coder on 2 cores
    ("reduce-2d", "reduce", {"code.size": "2", "models.families": "[dense]"}),  # 8 minutes, not 40
    ("seed-keras", "seed-keras", {}),
    ("genes-2d", "reduce-genes", {}),
    ("genes-32d", "reduce-genes", {"code.size": "32"}),
    # a tie at 32 numbers is decided by the seed: two more seeds, then the mean (seed_lines)
    ("genes-32d-seed1", "reduce-genes", {"code.size": "32", "seed": "1"}),
    ("genes-32d-seed2", "reduce-genes", {"code.size": "32", "seed": "2"}),
)
QUIET = {"train.progress_bar": "false"}  # one line per stage in the log, no bars
FIGURES = (
    "code_dims",
    "code_se_per_row",
    "code_bce",
    "code_psnr_db",
    "code_int8_psnr_db",
    "code_int8_bytes_per_row",
    "code_int8_lzma_bytes_per_row",
    "trustworthiness",
    "continuity",
    "knn_accuracy",
    "pca_same_k_se_per_row",
    "pca_same_k_psnr_db",
    "pca_same_k_int8_psnr_db",
    "pca_same_k_int8_lzma_bytes_per_row",
    "pca_same_k_trustworthiness",
    "pca_same_k_continuity",
    "pca_same_k_knn_accuracy",
)


def set_key(data: dict, dotted: str, value: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    data[last] = yaml.safe_load(value)


def preset_config(preset: str, workdir: Path, overrides: dict[str, str]):
    """The preset's params with its paths in ``workdir`` and the data path made absolute."""
    data = yaml.safe_load((ROOT / "examples" / preset / "params.yaml").read_text())
    for key, value in overrides.items():
        set_key(data, key, value)
    data["paths"] = {k: str(workdir / v) for k, v in data["paths"].items()}
    data["data"]["path"] = str((ROOT / data["data"]["path"]).resolve())
    data["mlflow"]["tracking_uri"] = f"sqlite:///{workdir / 'mlflow.db'}"
    return parse_config(data)


def run_case(preset: str, overrides: dict[str, str]) -> dict[str, Any]:
    from aeops.core.logs import configure
    from aeops.stages.evaluate import evaluate
    from aeops.stages.ingest import ingest
    from aeops.stages.prepare import prepare
    from aeops.stages.register import register
    from aeops.stages.train import train
    from aeops.stages.validate import validate

    with tempfile.TemporaryDirectory(prefix=f"aeops-{preset}-") as tmp:
        workdir = Path(tmp)
        cfg = preset_config(preset, workdir, overrides)
        os.environ["MLFLOW_TRACKING_URI"] = cfg.mlflow.tracking_uri
        configure()
        seconds: dict[str, float] = {}
        for name, stage in (("ingest", ingest), ("validate", validate), ("prepare", prepare)):
            start = time.perf_counter()
            stage(cfg)
            seconds[name] = time.perf_counter() - start
        for family in cfg.models.families:
            start = time.perf_counter()
            train(cfg, family)
            seconds[f"train@{family}"] = time.perf_counter() - start
        start = time.perf_counter()
        evaluate(cfg)
        seconds["evaluate"] = time.perf_counter() - start
        decision = register(cfg)
        metrics = json.loads(Path(cfg.paths.metrics).read_text())
        summary = json.loads(Path(cfg.paths.summary).read_text())
    everyone = {**metrics["models"], **metrics["baselines"]}
    return {
        "preset": preset,
        "overrides": overrides,
        "task": cfg.task,
        "chosen": metrics["family"],
        "selected_by": metrics["selected_by"],
        "registered": decision.get("model_name"),
        "summary": summary,
        "models": {
            name: {k: m[f"test_{k}"] for k in FIGURES if f"test_{k}" in m}
            for name, m in everyone.items()
        },
        "jpeg": metrics["uses"].get("jpeg", []),
        "umap": metrics["uses"].get("umap"),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Uses: compression and reduction (real data, through the whole pipeline)",
        "",
        f"{results['machine']}; {results['date']}. The test fold of the pipeline's own split;",
        "squared error per row (SE) in model-input space (images: pixels on the [0, 1] scale);",
        "PCA and UMAP at the same number of components (PCA's int8 codes quantised the same",
        "way, one scale per dimension); trustworthiness and continuity at 5 neighbours; 5-NN",
        "label accuracy 5-fold cross-validated in code space. `make quality SUITE=uses`.",
        "",
    ]
    for name, case in results["cases"].items():
        lines += [
            f"## {name} (`examples/{case['preset']}`, overrides {case['overrides'] or 'none'})",
            "",
            f"Chosen: {case['chosen']} by {case['selected_by']}; registered as "
            f"{case['registered']}. Stage seconds: {case['seconds']}.",
            "",
            "| model | k | SE | PSNR dB | int8 PSNR dB | int8 LZMA bytes | trust. | contin. "
            "| 5-NN acc. |",
            "|---|---|---|---|---|---|---|---|---|",
        ]

        def cells(m: dict, prefix: str) -> list[str]:
            keys = ("se_per_row", "psnr_db", "int8_psnr_db", "int8_lzma_bytes_per_row",
                    "trustworthiness", "continuity", "knn_accuracy")  # fmt: skip
            coded = ("se_per_row", "psnr_db", "int8_psnr_db", "int8_lzma_bytes_per_row")
            names = [(prefix or ("code_" if k in coded else "")) + k for k in keys]
            return ["-" if m.get(n) is None else f"{m[n]:.3f}" for n in names]

        for model, m in case["models"].items():
            if "code_dims" not in m:
                continue  # a model without a code
            dims = int(m.get("code_dims", 0))
            lines.append(f"| {model} | {dims} | " + " | ".join(cells(m, "")) + " |")
        pca = next(iter(case["models"].values()))
        lines.append(
            f"| PCA (same k) | {int(pca.get('code_dims', 0))} | "
            + " | ".join(cells(pca, "pca_same_k_"))
            + " |"
        )
        umap = case.get("umap")
        if umap:
            figures = [umap.get(k) for k in ("trustworthiness", "continuity", "knn_accuracy")]
            lines.append(
                f"| UMAP (same k) | {int(umap['dims'])} | - | - | - | - | "
                + " | ".join("-" if v is None else f"{v:.3f}" for v in figures)
                + " |"
            )
        if case["jpeg"]:
            lines += ["", *jpeg_lines(case)]
        lines.append("")
    return "\n".join(lines + seed_lines(results))


def seed_lines(results: dict[str, Any], figure: str = "trustworthiness") -> list[str]:
    """Each model's ``figure`` averaged over the cases run with other seeds (``<name>-seedN``
    beside ``<name>``), and PCA's beside it: a difference smaller than the seeds' spread is a
    tie, not a win."""
    out: list[str] = []
    cases = results["cases"]
    for base in cases:
        group = [cases[base]] + [c for n, c in cases.items() if n.startswith(f"{base}-seed")]
        if len(group) < 2:
            continue
        means: dict[str, list[float]] = {}
        for case in group:
            models = case["models"]
            for model, m in models.items():
                if m.get(figure) is not None:
                    means.setdefault(model, []).append(m[figure])
            pca = next(iter(models.values())).get(f"pca_same_k_{figure}")
            if pca is not None:
                means.setdefault("PCA (same k)", []).append(pca)
        seeds = [c["overrides"].get("seed", "the preset's") for c in group]
        out += [
            f"## {base}: {figure} over {len(group)} seeds ({', '.join(seeds)})",
            "",
            "| model | mean | min | max |",
            "|---|---|---|---|",
            *(
                f"| {model} | {sum(v) / len(v):.4f} | {min(v):.4f} | {max(v):.4f} |"
                for model, v in means.items()
            ),
            "",
        ]
    return out


def jpeg_lines(case: dict[str, Any]) -> list[str]:
    """JPEG's ladder (whole files and scans alone) and the chosen model's int8 code beside
    JPEG's scan nearest its bytes (the header is the same for every image of a quality, shared
    as the model's decoder is)."""
    jpeg = case["jpeg"]
    out = [
        "JPEG (Pillow) by quality: whole file / scan alone, PSNR: "
        + ", ".join(
            f"q{int(p['quality'])} {p['bytes_per_row']:.0f}"
            + (f" / {p['scan_bytes_per_row']:.0f}" if "scan_bytes_per_row" in p else " / -")
            + f" B {p['psnr_db']:.2f} dB"
            for p in jpeg
        )
    ]
    chosen = case["models"].get(case["chosen"], {})
    rate, quality = chosen.get("code_int8_bytes_per_row"), chosen.get("code_int8_psnr_db")
    scans = [p for p in jpeg if "scan_bytes_per_row" in p]
    if rate is not None and quality is not None and scans:
        near = min(scans, key=lambda p: abs(math.log(p["scan_bytes_per_row"] / rate)))
        out += [
            "",
            f"At equal bytes: {case['chosen']}'s int8 code, {rate:.0f} B, {quality:.2f} dB; "
            f"JPEG's scan nearest it (q{int(near['quality'])}), "
            f"{near['scan_bytes_per_row']:.0f} B, {near['psnr_db']:.2f} dB "
            f"({quality - near['psnr_db']:+.2f} dB for the model).",
        ]
    return out


def run_all(cases, output: Path = RESULTS / "uses_codes.json") -> dict[str, Any]:
    """Run ``cases`` ((name, preset, overrides) each), keeping the results of other cases
    already in ``output``; writes the JSON and its Markdown after each case."""
    disable_telemetry()
    import torch

    results = json.loads(output.read_text()) if output.exists() else {"cases": {}}
    results.update(
        date=time.strftime("%Y-%m-%d"),
        machine=f"{os.cpu_count()} CPUs, {platform.machine()}, torch {torch.__version__}",
    )
    for name, preset, overrides in cases:
        results["cases"][name] = run_case(preset, {**QUIET, **overrides})
        output.write_text(json.dumps(results, indent=2) + "\n")
        output.with_suffix(".md").write_text(markdown(results))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", action="append", required=True, help="a preset under examples/ (compress, ...)"
    )
    parser.add_argument("--name", action="append", help="a name per case (default: the preset)")
    parser.add_argument("--set", action="append", default=[], help="key=value for every case")
    parser.add_argument("--output", default=str(RESULTS / "uses_codes.json"))
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    names = args.name or args.case
    cases = [(n, p, overrides) for n, p in zip(names, args.case, strict=True)]
    results = run_all(cases, Path(args.output))
    print(markdown(results))


if __name__ == "__main__":
    main()
