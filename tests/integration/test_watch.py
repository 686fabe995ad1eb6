"""``aeops watch``'s scorer: a stream's rows scored as they arrive give the scores ``aeops
score`` writes for the same file, each from its own past only. The command on a real pipe,
answering each row before the next is written: tests/integration/test_streams_pipeline.py."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.core.errors import ScoringInputError
from aeops.data.preprocess import Preprocessor, StreamShape
from aeops.data.sources import load_source
from aeops.models.autoencoders.detector import AutoencoderDetector
from aeops.models.baselines import baselines
from aeops.serving.pipeline import DetectorInfo, DetectorPipeline
from aeops.serving.watch import LiveScorer, RowReader
from tests.factories import write_streams
from tests.helpers import fold_of, make_config, training_spec

pytestmark = pytest.mark.integration
WINDOW, WARMUP = 6, 60


@cache
def stream(root: Path = Path("/tmp/aeops-watch")) -> tuple:
    write_streams(root / "streams", n=3, rows=200)
    data = {"source": "timeseries", "path": str(root / "streams"), "time_column": "datetime",
            "label_column": "anomaly", "normal_labels": [0], "exclude": ["changepoint"],
            "scaler": "series", "warmup_rows": WARMUP, "window": {"size": WINDOW, "stride": 1},
            "split": {"train_rows": 100}}  # fmt: skip
    cfg = make_config(
        data=data, train={"max_epochs": 3, "patience": 3, "batch_size": 64, "progress_bar": False}
    )
    frame, meta = load_source(cfg.data, cfg.seed)
    return cfg, meta, frame


@cache
def pipeline(name: str) -> DetectorPipeline:
    cfg, meta, frame = stream()
    shape = StreamShape(str(meta.series_column), WINDOW, WARMUP, "datetime")
    pre = Preprocessor.fit(frame, meta, "series", False, 20, shape)
    x = pre.transform(frame)
    seen = (frame["series"] != "2").to_numpy() & (frame["anomaly"].astype(float) == 0).to_numpy()
    if name in baselines():
        detector = baselines()[name](cfg.baselines, cfg.seed).fit(fold_of(x[seen]))
    else:
        spec = replace(training_spec(name, cfg, meta, False), window=WINDOW)
        detector = AutoencoderDetector(spec).fit(fold_of(x[seen][:300]), fold_of(x[seen][300:]))
    threshold = float(np.quantile(detector.decision_function(x[seen]), 0.99))
    info = DetectorInfo(detector.kind, name, meta.schema(), threshold, "test", "", {})
    return DetectorPipeline(detector, pre, info)


def new_series() -> pd.DataFrame:
    frame = stream()[2]
    return frame[frame["series"] == "2"].reset_index(drop=True)  # never trained on


@pytest.mark.parametrize(
    "name",
    [
        "hotelling",
        pytest.param("tcn", marks=pytest.mark.slow),
        pytest.param("dense", marks=pytest.mark.slow),
    ],
)
def test_rows_scored_as_they_arrive_score_as_the_whole_file_does(name: str) -> None:
    python, rows = pipeline(name), new_series()
    want = python.predict(rows)["anomaly_score"].to_numpy()
    live = LiveScorer(python, min_run=1)
    got: dict[int, float] = {}
    features = python.info.features
    for i, values in enumerate(rows[features].to_numpy(np.float64)):
        done = live.push(values)
        if i < WARMUP - 1:
            assert done == []  # the warm-up sets the scale: nothing is scored before it ends
        elif i == WARMUP - 1:
            assert [d.row for d in done] == list(range(WARMUP))  # then all of it at once
        else:
            assert [d.row for d in done] == [i]  # every later row the moment it arrives
        got.update({d.row: d.score for d in done})
    scores = np.array([got[i] for i in range(len(rows))])
    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-6)


def test_a_row_is_scored_from_its_past_only() -> None:
    python, rows = pipeline("hotelling"), new_series()
    values = rows[python.info.features].to_numpy(np.float64)
    changed = values.copy()
    changed[120:] += 50.0  # everything after row 119 differs
    scores = []
    for block in (values, changed):
        live = LiveScorer(python, min_run=1)
        scores.append([d.score for row in block for d in live.push(row)])
    assert scores[0][:120] == scores[1][:120]  # bit for bit: no row before 120 read ahead
    assert scores[0][120] != scores[1][120]


def test_an_alarm_needs_min_run_rows_over_the_threshold() -> None:
    python, rows = pipeline("hotelling"), new_series()
    values = rows[python.info.features].to_numpy(np.float64)
    live = LiveScorer(python, min_run=3)
    done = [d for row in values for d in live.push(row)]
    over = np.array([d.over for d in done])
    alarm = np.array([d.alarm for d in done])
    expected = np.array([over[max(0, i - 2) : i + 1].all() and i >= 2 for i in range(len(over))])
    assert over.any() and (alarm == expected).all() and alarm.sum() < over.sum()


def test_a_bad_row_stops_the_stream_naming_it() -> None:
    live = LiveScorer(pipeline("hotelling"), min_run=1)
    bad = np.full(len(live.features), 1.0)
    bad[2] = np.nan
    with pytest.raises(ScoringInputError, match=r"row 0, column 's2'.*not a finite number"):
        live.push(bad)


def test_rows_are_read_as_csv_with_their_separator_or_as_json_lines() -> None:
    reader = RowReader()
    assert reader.feed(["t;a;b", "1;2.5;3"]) == [{"t": "1", "a": "2.5", "b": "3"}]
    assert reader.feed(["2;4;5"]) == [{"t": "2", "a": "4", "b": "5"}]  # the header is kept
    json_rows = RowReader().feed(['{"a": 1, "b": 2}', "", '{"a": 3, "b": 4}'])
    assert json_rows == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]


def test_rows_that_arrive_together_score_as_rows_that_arrive_alone() -> None:
    python, rows = pipeline("hotelling"), new_series()
    values = rows[python.info.features].to_numpy(np.float64)
    alone = LiveScorer(python, min_run=2)
    one = [d for row in values for d in alone.push(row)]
    together = LiveScorer(python, min_run=2)
    blocks = np.array_split(values, [7, 59, 60, 61, 100, 133])  # across the warm-up's end
    many = [d for block in blocks for d in together.push_many(block)]
    assert [d.row for d in many] == list(range(len(values)))
    np.testing.assert_allclose([d.score for d in many], [d.score for d in one], rtol=1e-12)
    assert [d.alarm for d in many] == [d.alarm for d in one]
