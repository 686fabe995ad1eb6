"""Detection quality with the project's own params.yaml (nothing tuned here), side by side with
the detectors users would pick instead.

Each case runs the whole pipeline in-process (ingest, GX validate, prepare, train every family,
evaluate, register; real MLflow in a temporary store). Then, on the *same split and the same
model input* (the prepared folds), PyOD's ``IForest``, ``KNN``, ``ECOD``, ``AutoEncoder`` and
``VAE`` with their defaults are fit on the normal training rows and scored on test (pyod is a
benchmark-only extra: ``pip install -e '.[bench]'``). One table: test AUROC of each family, each
aeops baseline, each peer, and the model the pipeline chose (with its kind); medians at the
bottom. Written as JSON and Markdown under ``benchmarks/results/``.

Suites:
- ``tables``: the 14 real ADBench tables in ``../shared/datasets/tables`` (``--tables-dir``);
- ``digits``: the embedded digits with each digit in turn held out as the anomaly (10 folds);
- ``dev``: the project's own small cases (tests/factories.py);
- ``uses``: the uses beyond detection on real data (``benchmarks/uses.py``: denoising on
  Set12, trained on Train400).

    .venv/bin/python benchmarks/quality.py --suite tables [--cases glass,wilt] [--set k=v]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aeops.core.files import RUN_FILE  # noqa: E402
from tests.factories import sensor_table, wine_table, write_part_images  # noqa: E402
from tests.helpers import deep_update  # noqa: E402

QUIET = {"train": {"progress_bar": False}}
TABLES_DIR = ROOT.parent / "shared" / "datasets" / "tables"
FAMILIES = ["dense", "conv", "denoising", "sparse", "vae"]
ENSEMBLE = "ensemble"  # the families as one detector (aeops.models.ensemble)
BASELINES = ["pca", "iforest", "knn", "ecod"]
PEERS = ["pyod_iforest", "pyod_knn", "pyod_ecod", "pyod_autoencoder", "pyod_vae"]


def case_digits(tmp: Path) -> dict:
    return {}


def case_wine(tmp: Path, normal: list[str]) -> dict:
    wine_table().to_csv(tmp / "wine.csv", index=False)
    return {
        "data": {
            "source": "table",
            "path": str(tmp / "wine.csv"),
            "label_column": "cultivar",
            "normal_labels": normal,
            "min_rows": 50,
        }
    }


def case_sensors(tmp: Path, normal_only: bool = False) -> dict:
    frame = sensor_table()
    label: str | None = "status"
    if normal_only:
        frame = frame[frame["status"] == "ok"].drop(columns=["status"])
        label = None
    frame.to_csv(tmp / "sensors.csv", index=False)
    return {
        "data": {
            "source": "table",
            "path": str(tmp / "sensors.csv"),
            "label_column": label,
            "normal_labels": ["ok"] if label else None,
            "exclude": ["unit_id", "timestamp"],
        }
    }


def case_digits_unlabeled(tmp: Path) -> dict:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    keep = bunch.target != 9
    np.savez(tmp / "digits.npz", x=(bunch.images[keep] * 255 / 16).astype(np.uint8))
    return {
        "data": {
            "source": "npz",
            "path": str(tmp / "digits.npz"),
            "label_column": None,
            "normal_labels": None,
        }
    }


def case_parts(tmp: Path) -> dict:
    write_part_images(tmp / "parts", n_good=400, n_defect=60)
    return {
        "data": {"source": "image_folder", "path": str(tmp / "parts"), "normal_labels": ["good"]}
    }


DEV_CASES = {
    "digits": ("embedded digits, 9 held out", case_digits),
    "wine1": ("wine, class_0 normal", lambda t: case_wine(t, ["class_0"])),
    "wine2": ("wine, class_0 + class_1 normal", lambda t: case_wine(t, ["class_0", "class_1"])),
    "sensors": ("sensor table, text labels + categorical", case_sensors),
    "sensors_normal_only": (
        "sensor table, normal rows only, unlabeled",
        lambda t: case_sensors(t, normal_only=True),
    ),
    "digits_unlabeled": ("digits 0-8 only, unlabeled (.npz)", case_digits_unlabeled),
    "parts": ("PNG folder good/defect", case_parts),
}


def case_table(path: Path):
    def make(tmp: Path) -> dict:
        return {
            "data": {
                "source": "table",
                "path": str(path),
                "label_column": "label",
                "normal_labels": ["normal"],
            }
        }

    return make


def case_digit_held_out(digit: int):
    def make(tmp: Path) -> dict:
        return {"data": {"normal_labels": [d for d in range(10) if d != digit]}}

    return make


def suite_cases(suite: str, tables_dir: Path) -> dict:
    if suite == "dev":
        return DEV_CASES
    if suite == "digits":
        return {f"digit{d}": (f"digits, {d} held out", case_digit_held_out(d)) for d in range(10)}
    if suite == "tables":
        files = sorted(tables_dir.glob("*.csv"))
        if not files:
            raise SystemExit(
                f"{tables_dir}: no CSV tables (the shared datasets folder); pass --tables-dir"
            )
        return {f.stem: (f"{f.stem} ({f.name})", case_table(f)) for f in files}
    raise SystemExit(f"unknown suite '{suite}'; choose tables, digits or dev")


def parse_sets(items: list[str]) -> dict:
    out: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    return out


def peer_scores(train: np.ndarray, test: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """PyOD's detectors with their defaults, fit on the normal training rows."""
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.vae import VAE

    peers = {
        "pyod_iforest": lambda: IForest(random_state=seed),
        "pyod_knn": KNN,
        "pyod_ecod": ECOD,
        "pyod_autoencoder": lambda: AutoEncoder(random_state=seed, verbose=0),
        "pyod_vae": lambda: VAE(random_state=seed, verbose=0),
    }
    out = {}
    for name, make in peers.items():
        model = make()
        with contextlib.redirect_stdout(io.StringIO()):
            model.fit(train)
            out[name] = model.decision_function(test)
    return out


def peers_on_prepared(cfg, seed: int) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    from aeops.stages.common import load_prepared

    prepared = load_prepared(cfg)
    train, test = prepared.fold("train"), prepared.fold("test")
    rows = test.real if test.has_real_anomalies else np.ones(len(test.x), bool)
    scores = peer_scores(train.normal.astype(np.float64), test.x[rows].astype(np.float64), seed)
    return {name: float(roc_auc_score(test.is_anomaly[rows], s)) for name, s in scores.items()}


def trained_as(cfg, families) -> tuple[dict[str, str], dict[str, str]]:
    """How each trained family turned reconstruction into a score (``models.score``), and
    for a listed setting (the VAE's ``beta: [..]``) which option validation kept and why."""
    kinds, variants = {}, {}
    for family in families:
        record = json.loads((cfg.paths.model_dir(family) / RUN_FILE).read_text())
        kinds[family] = record["architecture"]["score"]
        if "variant" in record["architecture"]:
            variants[family] = record["architecture"]["variant"]
    return kinds, variants


def run_case(
    cases: dict, name: str, overrides: dict, peers: bool, scores_dir: Path | None = None
) -> dict:
    from aeops.config import parse_config
    from tests.integration.inproc import run_pipeline

    description, make = cases[name]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params = deep_update(deep_update(deep_update(params, QUIET), make(tmp)), overrides)
        params["paths"] = {k: str(tmp / v) for k, v in params["paths"].items()}
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
        cwd = os.getcwd()
        os.chdir(tmp)
        start = time.perf_counter()
        log = io.StringIO()
        cfg = parse_config(params)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                run_pipeline(cfg)
        except BaseException:
            sys.stderr.write(log.getvalue()[-4000:])
            raise
        finally:
            os.chdir(cwd)
        seconds = time.perf_counter() - start
        if scores_dir is not None:  # every model's val/test scores, for offline studies
            for key in ("eval_dir", "baselines_dir"):
                keep_scores(Path(params["paths"][key]), scores_dir / name)
        metrics = json.loads(Path(params["paths"]["metrics"]).read_text())
        scores, variants = trained_as(cfg, [f for f in metrics["models"] if f in FAMILIES])
        peer_auroc = peers_on_prepared(cfg, params["seed"]) if peers else {}
    key = "test_auroc" if "test_auroc" in metrics else "test_synthetic_auroc"
    row = {
        "case": name,
        "description": description,
        "metric": key,
        "chosen": metrics["family"],
        "kind": metrics["kind"],
        "selected_by": metrics["selection_basis"],
        "seconds": round(seconds, 1),
        "baseline_note": metrics.get("baseline_note"),
        "skipped": metrics["skipped"],
        "selection": metrics["selection"]["reason"],
        "chosen_auroc": metrics.get(key),
        "best_autoencoder": metrics["selection"]["autoencoder"],
        **peer_auroc,
        "score_kinds": scores,
        **({"variants": variants} if variants else {}),
    }
    for family, m in metrics["models"].items():
        row[family] = m.get(key)
    for baseline, m in metrics["baselines"].items():
        row[baseline] = m.get(key)
    return row


def keep_scores(eval_dir: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path in eval_dir.glob("*/scores.parquet"):
        shutil.copy2(path, folder / f"{path.parent.name}.parquet")


def markdown(rows: list[dict]) -> str:
    """One row per case, medians at the bottom; the best peer per case for reference."""
    columns = [c for c in [*FAMILIES, ENSEMBLE, *BASELINES, *PEERS] if any(c in r for r in rows)]
    lines = [
        "| case | " + " | ".join(columns) + " | chosen | chosen AUROC | vs best peer |",
        "|---" * (len(columns) + 4) + "|",
    ]
    for r in rows:
        cells = [f"{r[c]:.3f}" if isinstance(r.get(c), float) else "skip" for c in columns]
        peers = [r[p] for p in PEERS if isinstance(r.get(p), float)]
        gap = f"{r['chosen_auroc'] - max(peers):+.3f}" if peers else "–"
        lines.append(
            f"| {r['case']} | "
            + " | ".join(cells)
            + f" | {r['chosen']} ({r['kind']}) | {r['chosen_auroc']:.3f} | {gap} |"
        )
    medians = []
    for c in columns:
        values = [r[c] for r in rows if isinstance(r.get(c), float)]
        medians.append(f"{np.median(values):.3f}" if values else "–")
    chosen = np.median([r["chosen_auroc"] for r in rows])
    lines.append("| **median** | " + " | ".join(medians) + f" | | **{chosen:.3f}** | |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> dict:
    """The figures the quality bar is judged by (issue 15's "Done when")."""
    chosen = [r["chosen_auroc"] for r in rows]
    out: dict = {
        "chosen_median": float(np.median(chosen)),
        "chosen_mean": float(np.mean(chosen)),
        # the autoencoder chosen on validation (what candidates: autoencoders registers)
        "best_autoencoder_mean": float(np.mean([r[r["best_autoencoder"]] for r in rows])),
    }
    peers = [p for p in PEERS if all(isinstance(r.get(p), float) for r in rows)]
    if not peers:
        return out
    out["peer_medians"] = {p: float(np.median([r[p] for r in rows])) for p in peers}
    out["chosen_worst_gap_to_best_peer"] = min(
        (r["chosen_auroc"] - max(r[p] for p in peers), r["case"]) for r in rows
    )
    families = [f for f in FAMILIES if all(isinstance(r.get(f), float) for r in rows)]
    out["family_medians"] = {f: float(np.median([r[f] for r in rows])) for f in families}
    if all(isinstance(r.get(ENSEMBLE), float) for r in rows):  # not a family: apart
        out["ensemble_median"] = float(np.median([r[ENSEMBLE] for r in rows]))
    if families:
        best = max(families, key=lambda f: out["family_medians"][f])
        out["best_family"] = best
        for peer in ("pyod_autoencoder", "pyod_vae"):
            if peer in peers:
                out[f"best_family_beats_{peer}"] = sum(r[best] > r[peer] for r in rows)
        # per table, the best family there (not the ensemble, not a baseline) against the
        # best PyOD detector on the same split, and against PyOD's two autoencoders
        top = {r["case"]: max(r[f] for f in families) for r in rows}
        gaps = {r["case"]: top[r["case"]] - max(r[p] for p in peers) for r in rows}
        out["table_best_family_gap_to_best_peer"] = {k: round(v, 4) for k, v in gaps.items()}
        out["table_best_family_worst_gap"] = min((v, k) for k, v in gaps.items())
        for peer in ("pyod_autoencoder", "pyod_vae"):
            if peer in peers:
                out[f"table_best_family_beats_{peer}"] = sum(top[r["case"]] > r[peer] for r in rows)
        out["table_best_family_beats_both"] = sum(
            all(top[r["case"]] > r[p] for p in ("pyod_autoencoder", "pyod_vae") if p in peers)
            for r in rows
        )
    out["cases"] = len(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--suite", default="dev", choices=["tables", "digits", "dev", "uses", "faults"]
    )
    parser.add_argument("--cases", default=None, help="comma-separated subset of the suite")
    parser.add_argument("--tables-dir", type=Path, default=TABLES_DIR)
    parser.add_argument("--set", action="append", default=[], help="params override key=value")
    parser.add_argument("--no-peers", action="store_true", help="skip the PyOD detectors")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON results (default benchmarks/results/quality_<suite>.json)",
    )
    parser.add_argument(
        "--scores-dir",
        type=Path,
        default=None,
        help="keep each case's val/test scores per model here (<case>/<model>.parquet)",
    )
    args, rest = parser.parse_known_args()
    if args.suite == "uses":  # the uses beyond detection: benchmarks/uses.py
        from benchmarks.uses import main as uses_main

        sys.argv = [sys.argv[0], *rest]
        return uses_main()
    if args.suite == "faults":  # sensor streams: benchmarks/faults.py
        from benchmarks.faults import main as faults_main

        sys.argv = [sys.argv[0], *rest]
        return faults_main()
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    from aeops.core.env import disable_telemetry

    disable_telemetry()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    cases = suite_cases(args.suite, args.tables_dir)
    names = args.cases.split(",") if args.cases else list(cases)
    output = args.output or ROOT / "benchmarks" / "results" / f"quality_{args.suite}.json"
    overrides = parse_sets(args.set)
    rows = []
    for name in names:
        rows.append(run_case(cases, name, overrides, not args.no_peers, args.scores_dir))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    table = markdown(rows)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {"suite": args.suite, "overrides": overrides, "summary": summary(rows), "cases": rows},
            indent=2,
        )
        + "\n"
    )
    output.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(json.dumps(summary(rows), indent=2))


if __name__ == "__main__":
    main()
