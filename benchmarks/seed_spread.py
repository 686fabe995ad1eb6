"""How much one network's seed moves a family's test AUROC, against the family trained as a
bag of seeds (``models.seeds``).

For each table: ingest, validate and prepare as the pipeline does (the split of ``seed``),
then train each family as a *single* network (``models.seeds: 1``) from seeds ``seed``,
``seed + 1``, ... on that same split, each choosing its own score kind as a single network
does, and score test. The bag's figure (the same family with ``models.seeds: auto``, whose
members are exactly these seeds) is read from a ``make quality`` result, so the two stand
side by side: the bag against the seed-``seed`` network (what a single-seed run reports)
and against the mean of the single networks (what a single-seed run gives on average).

    .venv/bin/python benchmarks/seed_spread.py [--cases glass,wilt] [--seeds 3]
        [--bag-results benchmarks/results/quality_tables.json]
        [--output benchmarks/results/quality_tables_seed_spread.json]

About 4 minutes a table on 2 cores for the small tables, 15 for internetads.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.quality import QUIET, TABLES_DIR  # noqa: E402
from tests.helpers import deep_update  # noqa: E402

FAMILIES = ["dense", "denoising", "sparse", "vae"]
log = logging.getLogger("seed_spread")


def single_seed_aurocs(table: Path, seeds: int) -> dict[str, list[float]]:
    """Each family's test AUROC as one network from each of ``seeds`` seeds, one split."""
    from sklearn.metrics import roc_auc_score

    from aeops.config import parse_config
    from aeops.models.autoencoders.detector import AutoencoderDetector
    from aeops.stages.common import load_prepared, training_spec
    from aeops.stages.ingest import ingest
    from aeops.stages.prepare import prepare
    from aeops.stages.validate import validate

    data = {"source": "table", "path": str(table), "label_column": "label",
            "normal_labels": ["normal"]}  # fmt: skip
    params = deep_update(yaml.safe_load((ROOT / "params.yaml").read_text()), QUIET)
    params = deep_update(params, {"data": data})
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        params["paths"] = {k: str(tmp / v) for k, v in params["paths"].items()}
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            cfg = parse_config(params)
            with contextlib.redirect_stdout(io.StringIO()):
                ingest(cfg)
                validate(cfg)
                prepare(cfg)
            prepared = load_prepared(cfg)
            train, val, test = (prepared.fold(n) for n in ("train", "val", "test"))
            rows = test.real
            for family in FAMILIES:
                base = training_spec(cfg, family, prepared)
                for i in range(seeds):
                    spec = dataclasses.replace(base, seed=cfg.seed + i, seeds=1)
                    detector = AutoencoderDetector(spec).fit(train, val)
                    score = detector.decision_function(test.x[rows])
                    auroc = float(roc_auc_score(test.is_anomaly[rows], score))
                    out.setdefault(family, []).append(round(auroc, 4))
                    log.info(f"{table.stem} {family} seed {cfg.seed + i}: {auroc:.4f}")
        finally:
            os.chdir(cwd)
    return out


def compare(singles: dict[str, list[float]], bag: dict) -> dict:
    """Per family: the single networks, their mean and the bag; then the best family by each."""
    row: dict = {}
    for family in FAMILIES:
        row[family] = {
            "singles": singles[family],
            "first_seed": singles[family][0],
            "singles_mean": round(statistics.mean(singles[family]), 4),
            "bag": round(bag[family], 4),
        }
    row["best"] = {
        key: max(row[f][key] for f in FAMILIES) for key in ("first_seed", "singles_mean", "bag")
    }
    return row


def summary(rows: dict) -> dict:
    def median(family: str, key: str) -> float:
        return round(statistics.median(r[family][key] for r in rows.values()), 4)

    return {
        "family_medians": {
            f: {k: median(f, k) for k in ("first_seed", "singles_mean", "bag")} for f in FAMILIES
        },
        "best_family_bag_minus_singles_mean": {
            t: round(r["best"]["bag"] - r["best"]["singles_mean"], 4) for t, r in rows.items()
        },
        "best_family_bag_minus_first_seed": {
            t: round(r["best"]["bag"] - r["best"]["first_seed"], 4) for t, r in rows.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default=None, help="comma-separated tables (default: all)")
    parser.add_argument("--tables-dir", type=Path, default=TABLES_DIR)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--bag-results", type=Path, default=ROOT / "benchmarks/results/quality_tables.json"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "benchmarks/results/quality_tables_seed_spread.json",
    )
    args = parser.parse_args()
    from aeops.core.env import disable_telemetry

    disable_telemetry()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("aeops").setLevel(logging.WARNING)
    bags = {c["case"]: c for c in json.loads(args.bag_results.read_text())["cases"]}
    tables = sorted(args.tables_dir.glob("*.csv"))
    if args.cases:
        wanted = set(args.cases.split(","))
        tables = [t for t in tables if t.stem in wanted]
    rows = {t.stem: compare(single_seed_aurocs(t, args.seeds), bags[t.stem]) for t in tables}
    doc = {"seeds": args.seeds, "bag_results": args.bag_results.name, "summary": summary(rows),
           "tables": rows}  # fmt: skip
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc["summary"], indent=2))


if __name__ == "__main__":
    main()
