"""Detection quality on the dev cases, with the project's own params.yaml (nothing tuned here).

Runs the whole pipeline in-process (real MLflow in a temporary store) on each case and prints
one table: test AUROC per family and baseline (on labelled anomalies, or on synthetic ones
where the case has none), the chosen model and how it was chosen. Writes reports/quality.json.

    .venv/bin/python benchmarks/quality.py [--cases digits,wine1] [--set models.dense.latent=8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.factories import sensor_table, wine_table, write_part_images  # noqa: E402
from tests.helpers import deep_update  # noqa: E402

QUIET = {"train": {"progress_bar": False}}


def case_digits(tmp: Path) -> dict:
    return {}


def case_wine(tmp: Path, normal: list[str]) -> dict:
    wine_table().to_csv(tmp / "wine.csv", index=False)
    return {"data": {"source": "table", "path": str(tmp / "wine.csv"),
                     "label_column": "cultivar", "normal_labels": normal, "min_rows": 50}}


def case_sensors(tmp: Path, normal_only: bool = False) -> dict:
    frame = sensor_table()
    label: str | None = "status"
    if normal_only:
        frame = frame[frame["status"] == "ok"].drop(columns=["status"])
        label = None
    frame.to_csv(tmp / "sensors.csv", index=False)
    return {"data": {"source": "table", "path": str(tmp / "sensors.csv"), "label_column": label,
                     "normal_labels": ["ok"] if label else None,
                     "exclude": ["unit_id", "timestamp"]}}


def case_digits_unlabeled(tmp: Path) -> dict:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    keep = bunch.target != 9
    np.savez(tmp / "digits.npz", x=(bunch.images[keep] * 255 / 16).astype(np.uint8))
    return {"data": {"source": "npz", "path": str(tmp / "digits.npz"), "label_column": None,
                     "normal_labels": None}}


def case_parts(tmp: Path) -> dict:
    write_part_images(tmp / "parts", n_good=400, n_defect=60)
    return {"data": {"source": "image_folder", "path": str(tmp / "parts"),
                     "normal_labels": ["good"]}}


CASES = {
    "digits": ("embedded digits, 9 held out", case_digits),
    "wine1": ("wine, class_0 normal", lambda t: case_wine(t, ["class_0"])),
    "wine2": ("wine, class_0 + class_1 normal", lambda t: case_wine(t, ["class_0", "class_1"])),
    "sensors": ("sensor table, text labels + categorical", case_sensors),
    "sensors_normal_only": ("sensor table, normal rows only, unlabeled",
                            lambda t: case_sensors(t, normal_only=True)),
    "digits_unlabeled": ("digits 0-8 only, unlabeled (.npz)", case_digits_unlabeled),
    "parts": ("PNG folder good/defect", case_parts),
}


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


def run_case(name: str, overrides: dict) -> dict:
    from aeops.config import parse_config
    from tests.integration.inproc import run_pipeline

    description, make = CASES[name]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params = deep_update(deep_update(deep_update(params, QUIET), make(tmp)), overrides)
        params["paths"] = {k: str(tmp / v) for k, v in params["paths"].items()}
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
        cwd = os.getcwd()
        os.chdir(tmp)
        start = time.perf_counter()
        try:
            run_pipeline(parse_config(params))
        finally:
            os.chdir(cwd)
        seconds = time.perf_counter() - start
        metrics = json.loads(Path(params["paths"]["metrics"]).read_text())
    key = "test_auroc" if "test_auroc" in metrics else "test_synthetic_auroc"
    row = {"case": name, "description": description, "metric": key,
           "chosen": metrics["family"], "kind": metrics["kind"],
           "selected_by": metrics["selection_basis"], "seconds": round(seconds, 1),
           "baseline_note": metrics.get("baseline_note"), "skipped": metrics["skipped"]}
    for family, m in metrics["models"].items():
        row[family] = m.get(key)
    for baseline, m in metrics["baselines"].items():
        row[baseline] = m.get(key)
    return row


def markdown(rows: list[dict]) -> str:
    columns = ["dense", "conv", "denoising", "sparse", "vae", "pca", "iforest"]
    lines = ["| case | metric | " + " | ".join(columns) + " | chosen |",
             "|---" * (len(columns) + 3) + "|"]
    for r in rows:
        cells = [f"{r[c]:.3f}" if isinstance(r.get(c), float) else "skipped" if c in
                 r["skipped"] else "–" for c in columns]
        lines.append(f"| {r['description']} | {r['metric']} | " + " | ".join(cells)
                     + f" | {r['chosen']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--set", action="append", default=[], help="params override key=value")
    parser.add_argument("--output", type=Path, default=ROOT / "reports" / "quality.json")
    args = parser.parse_args()
    from aeops.env import disable_telemetry

    disable_telemetry()
    overrides = parse_sets(args.set)
    rows = []
    for name in args.cases.split(","):
        rows.append(run_case(name, overrides))
        print(json.dumps(rows[-1]), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"overrides": overrides, "cases": rows}, indent=2) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
