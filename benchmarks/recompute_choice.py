"""The ensemble and the choice of a quality run, recomputed from its kept scores with the
library's own rules (``ensemble_members``, the robust scales, ``choose``).

For a rule that changes only which families the ensemble averages, or how the choice is
made, the families need not be retrained: run ``benchmarks/quality.py --scores-dir DIR``
once, then

    .venv/bin/python benchmarks/recompute_choice.py --scores-dir DIR \\
        --runs run_a.json [run_b.json ...] --peers benchmarks/results/quality_digits.json \\
        --output benchmarks/results/quality_digits.json --note "..."

Each case's ``ensemble``, ``chosen``, ``kind``, ``chosen_auroc``, ``best_autoencoder`` and
``selection`` are replaced; ``ensemble_members`` says which families were kept and why. The
PyOD columns are carried from ``--peers`` (a run on the same split). The switch rule is the
project's defaults (``register.switch_*``, ``evaluate.bootstrap`` and ``ci``, ``seed``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aeops.evaluation.selection import (  # noqa: E402
    SwitchRule,
    choose,
    ensemble_members,
    selection_rows,
)
from aeops.models.combine import mean_z, robust_scales  # noqa: E402
from benchmarks.quality import BASELINES, ENSEMBLE, FAMILIES, PEERS, markdown, summary  # noqa: E402

METRIC = "val_auroc"


def project_rule() -> SwitchRule:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    register, evaluate = params["register"], params["evaluate"]
    return SwitchRule(
        register["switch_confidence"],
        register["switch_min_anomalies"],
        evaluate["bootstrap"],
        params["seed"],
        evaluate["ci"],
    )


def test_auroc(frame: pd.DataFrame) -> float:
    test = frame[(frame["split"] == "test") & ~frame["synthetic"]]
    return float(roc_auc_score(test["is_anomaly"], test["score"]))


def ensemble_scores(frames: dict[str, pd.DataFrame], members: list[str]) -> pd.DataFrame:
    """The members' scores on one scale (median/IQR on validation's normal rows), averaged."""
    normal = [
        f[(f["split"] == "val") & ~f["is_anomaly"] & ~f["synthetic"]]["score"].to_numpy(float)
        for f in (frames[m] for m in members)
    ]
    centre, scale = robust_scales(normal)
    out = frames[members[0]][["split", "group", "is_anomaly", "synthetic"]].copy()
    out["score"] = mean_z([frames[m]["score"].to_numpy(float) for m in members], centre, scale)
    return out


def recompute(row: dict, folder: Path, rule: SwitchRule) -> dict:
    names = [*FAMILIES, *BASELINES]
    frames = {
        n: pd.read_parquet(folder / f"{n}.parquet")
        for n in names
        if (folder / f"{n}.parquet").exists()
    }
    families = [f for f in FAMILIES if f in frames]
    val = {n: selection_rows(METRIC, f) for n, f in frames.items()}
    models = {f: {METRIC: roc_auc_score(*val[f]), "kind": "autoencoder"} for f in families}
    members, why = ensemble_members(models, METRIC, val, rule)
    row.pop(ENSEMBLE, None)
    if len(members) >= 2:
        frames[ENSEMBLE] = ensemble_scores(frames, members)
        val[ENSEMBLE] = selection_rows(METRIC, frames[ENSEMBLE])
        models[ENSEMBLE] = {METRIC: roc_auc_score(*val[ENSEMBLE]), "kind": ENSEMBLE}
        row[ENSEMBLE] = test_auroc(frames[ENSEMBLE])
    baselines = {b: {METRIC: roc_auc_score(*val[b])} for b in BASELINES if b in frames}
    selection = choose(models, baselines, METRIC, val, rule, "all")
    row.update(
        chosen=selection.chosen,
        kind=selection.kind,
        best_autoencoder=selection.autoencoder,
        selection=selection.reason,
        ensemble_members=why,
        chosen_auroc=test_auroc(frames[selection.chosen]),
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scores-dir", type=Path, required=True)
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--peers", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    peers = {c["case"]: c for c in json.loads(args.peers.read_text())["cases"]}
    rows = sorted(
        (c for run in args.runs for c in json.loads(run.read_text())["cases"]),
        key=lambda c: c["case"],
    )
    rule = project_rule()
    for row in rows:
        recompute(row, args.scores_dir / row["case"], rule)
        row.update({k: peers[row["case"]][k] for k in PEERS if k in peers[row["case"]]})
        print(
            row["case"], row["chosen"], round(row["chosen_auroc"], 4), row["ensemble_members"][:90]
        )
    suite = json.loads(args.runs[0].read_text())["suite"]
    doc = {
        "suite": suite,
        "overrides": {},
        "summary": summary(rows),
        "cases": rows,
        "note": args.note,
    }
    args.output.write_text(json.dumps(doc, indent=2) + "\n")
    args.output.with_suffix(".md").write_text(markdown(rows) + "\n")
    print(json.dumps(doc["summary"], indent=2))


if __name__ == "__main__":
    main()
