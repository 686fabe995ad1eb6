"""The three scorer shapes behind one protocol: an aeops detector scores files as it is;
another MLflow pyfunc, wrapped in PyfuncScorer, gets whole chunks with its options as
``params`` (a threshold only when one is given), carries the input's columns, and refuses to
decode (before any file is read) or to export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.core.errors import ScoringInputError
from aeops.serving.batch import FileJob, Tally, decode_file, score_file
from aeops.serving.commands import FileJob as CommandsFileJob
from aeops.serving.commands import run_export, run_file_job
from aeops.serving.scorer import PyfuncScorer
from tests.unit.test_scoring import FEATURES, META, make_detector


class ForeignModel:
    """What ``mlflow.pyfunc.load_model`` gives for a model that is not an aeops detector:
    ``predict(frame, params=...)``, its result indexed from 0."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def predict(self, frame: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        self.calls.append(dict(params or {}))
        total = frame.select_dtypes("number").sum(axis=1).to_numpy()
        return pd.DataFrame({"anomaly_score": total, "is_anomaly": total > 2.0})


def rows(n: int = 9) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.random((n, 6)), columns=FEATURES)
    frame.insert(0, "id", np.arange(n))
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_another_pyfunc_scores_whole_chunks_with_its_options_as_params(tmp_path: Path, suffix):
    source = tmp_path / f"rows{suffix}"
    frame = rows()
    frame.to_csv(source, index=False) if suffix == ".csv" else frame.to_parquet(source)
    foreign = ForeignModel()
    tally = Tally()
    job = FileJob(None, source, tmp_path / "out.csv", chunk_rows=4, progress=False)
    assert score_file(PyfuncScorer(foreign), job, tally) == 9
    out = pd.read_csv(tmp_path / "out.csv")
    # nothing is known of its features: every input column is carried beside the result
    assert list(out.columns) == [*frame.columns, "anomaly_score", "is_anomaly"]
    assert out["id"].tolist() == list(range(9))
    # each chunk's result is put back on its rows (the pyfunc's own index starts at 0)
    np.testing.assert_allclose(out["anomaly_score"], frame.sum(axis=1))
    assert foreign.calls == [{"explain": False, "output": "score"}] * 3
    flagged = int((frame.sum(axis=1) > 2.0).sum())
    assert tally.line(PyfuncScorer(foreign).threshold) == (
        f"{flagged} of 9 rows flagged; 0 rows with unseen categories"
    )
    with_threshold = FileJob(
        None, source, tmp_path / "again.csv", threshold=0.5, explain=True, progress=False
    )
    score_file(PyfuncScorer(foreign), with_threshold)
    assert foreign.calls[-1] == {"explain": True, "output": "score", "threshold": 0.5}


def test_another_pyfunc_refuses_to_decode_before_reading_any_file(tmp_path: Path):
    scorer = PyfuncScorer(ForeignModel())
    job = FileJob(None, tmp_path / "missing.parquet", tmp_path / "out.csv", kind="decode")
    with pytest.raises(ScoringInputError) as refused:
        decode_file(scorer, job)
    assert str(refused.value) == (
        "decode needs an aeops detector, and this model is another MLflow pyfunc (it has no "
        "decoder aeops can call); give a model registered by aeops"
    )
    assert not (tmp_path / "out.csv").exists()


def test_the_run_file_job_lines_name_no_threshold_for_another_pyfunc(tmp_path, monkeypatch):
    rows().to_csv(tmp_path / "rows.csv", index=False)
    monkeypatch.setattr(
        "aeops.serving.loading.load_scorer", lambda uri: PyfuncScorer(ForeignModel())
    )
    job = CommandsFileJob("foreign", tmp_path / "rows.csv", tmp_path / "out.csv", progress=False)
    lines = run_file_job(job)
    assert lines[1].endswith("rows flagged; 0 rows with unseen categories")
    assert "threshold" not in lines[1]


def test_another_pyfunc_does_not_export(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "aeops.serving.loading.load_scorer", lambda uri: PyfuncScorer(ForeignModel())
    )
    with pytest.raises(ScoringInputError) as refused:
        run_export("models:/other@champion", tmp_path / "export")
    assert str(refused.value) == (
        "models:/other@champion: not an aeops detector; only aeops' detectors export"
    )


def test_an_aeops_detector_is_its_own_scorer():
    rng = np.random.default_rng(0)
    det = make_detector(META, pd.DataFrame(rng.random((40, 6)), columns=FEATURES))
    assert det.features == FEATURES and det.threshold == det.info.threshold
    assert det.numeric_only and det.pipeline is det
    det.check_decodable()  # passes: its decoder is called once codes are read
