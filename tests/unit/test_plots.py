"""Curve tables for `dvc plots`: readable at any fold size."""

from __future__ import annotations

import numpy as np


def test_curve_tables_of_a_tall_fold_stay_small_and_keep_the_curve(tmp_path):
    import json

    from aeops.evaluation.plots import CURVE_POINTS, curve_tables

    rng = np.random.default_rng(0)
    y = rng.random(60_000) < 0.02
    tall = (y, rng.normal(size=len(y)) + 2 * y)
    small = (y[:300], tall[1][:300])
    roc_path, pr_path = curve_tables({"tall": tall, "small": small}, tmp_path)
    pr = json.loads(pr_path.read_text())
    tall_pr = [p for p in pr if p["model"] == "tall"]
    assert len(tall_pr) <= CURVE_POINTS  # one point per row would be 60,000
    assert tall_pr[0]["recall"] == 1.0 and tall_pr[-1]["recall"] == 0.0  # both ends kept
    small_pr = [p for p in pr if p["model"] == "small"]
    assert len(small_pr) == len(set(small[1])) + 1  # a small curve keeps every point
    roc = json.loads(roc_path.read_text())
    assert {p["model"] for p in roc} == {"tall", "small"}
