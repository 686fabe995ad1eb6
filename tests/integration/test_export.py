"""Export parity: every detector, exported to ONNX (`aeops export`), scores every row as the
Python detector does (scores within 1e-5 relative, of the scores' spread where a score is near
zero as the ensemble's robust z-scores are; identical flags; explanations and codes close), on
the digits default and on a table with categorical and missing-imputed columns
(unseen categories and missing values in the scored rows too); and the ONNX scorer refuses
what the Python one refuses, with the same sentence, without importing torch, scikit-learn,
skops or MLflow."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.core.errors import ScoringInputError
from aeops.data.preprocess import Preprocessor, StreamShape
from aeops.data.sources import load_source
from aeops.models.autoencoders import families
from aeops.models.autoencoders.detector import AutoencoderDetector
from aeops.models.baselines import baselines
from aeops.models.ensemble import EnsembleDetector
from aeops.serving.export import export_onnx
from aeops.serving.onnx_scoring import OnnxPipeline
from aeops.serving.pipeline import DetectorInfo, DetectorPipeline
from aeops.serving.rest import Service
from tests.factories import sensor_table, write_streams
from tests.helpers import fold_of, make_config, training_spec

pytestmark = pytest.mark.integration
DETECTORS = [*families(), "ensemble", "bag", *baselines()]  # bag: dense with models.seeds 2
QUICK = {
    "train": {"max_epochs": 3, "patience": 3, "batch_size": 64, "progress_bar": False},
    "baselines": {"iforest_estimators": 30},
}


@cache
def dataset(name: str, root: Path = Path("/tmp/aeops-export-parity")) -> tuple:
    """(config, meta, training rows, scored rows) of ``digits`` or ``table``."""
    root.mkdir(parents=True, exist_ok=True)
    if name == "digits":
        cfg = make_config(**QUICK, data={"max_rows": 500})
    elif name == "counts":  # a gene matrix: counts per cell, log-normalised in the graph
        rng = np.random.default_rng(5)
        rates = rng.gamma(0.5, 20.0, size=(1, 12)) * rng.choice([0.5, 2.0], size=(400, 1))
        frame = pd.DataFrame(rng.poisson(rates), columns=[f"gene_{j}" for j in range(12)])
        frame["label"] = "cell"
        frame.to_parquet(root / "counts.parquet")
        data = {"source": "table", "path": str(root / "counts.parquet"), "scaler": "log_counts",
                "normal_labels": ["cell"], "min_rows": 20}  # fmt: skip
        cfg = make_config(**QUICK, data=data)
    elif name == "skewed":  # heavy-tailed columns, rank-Gauss scaled with the tails kept
        rng = np.random.default_rng(6)
        frame = pd.DataFrame(rng.lognormal(0.0, 1.5, size=(400, 4)), columns=list("abcd"))
        frame["a"] *= 1e-3  # a narrow column: a big value leaves float32 once scaled
        frame["e"] = rng.normal(size=400)
        frame.loc[rng.choice(300, 15, replace=False), "b"] = np.nan
        frame["label"] = "ok"
        frame.to_parquet(root / "skewed.parquet")
        data = {"source": "table", "path": str(root / "skewed.parquet"), "scaler": "quantile",
                "normal_labels": ["ok"], "min_rows": 20, "missing": "impute"}  # fmt: skip
        cfg = make_config(**QUICK, data=data, models={"score": "tail"})  # and the tail score
    else:
        frame = sensor_table(n=400, seed=3)
        rng = np.random.default_rng(4)
        frame.loc[rng.choice(400, 20, replace=False), "sensor_2"] = np.nan
        frame.loc[rng.choice(400, 20, replace=False), "line"] = None
        frame.to_parquet(root / "sensors.parquet")
        data = {
            "source": "table",
            "path": str(root / "sensors.parquet"),
            "label_column": "status",
            "normal_labels": ["ok"],
            "min_rows": 20,
            "missing": "impute",
            "exclude": ["unit_id", "timestamp"],
        }
        cfg = make_config(**QUICK, data=data)
    frame, meta = load_source(cfg.data, cfg.seed)
    rows = frame[meta.features]
    scored = rows.iloc[300:].copy()
    if name == "skewed":  # far beyond the training range, both ends, and missing
        scored.loc[scored.index[0], "a"] = 10.0
        scored.loc[scored.index[1], "c"] = -50.0
        scored.loc[scored.index[2], "b"] = np.nan
    if name == "table":  # what scoring meets that training did not
        scored.loc[scored.index[0], "line"] = "Z"
        scored.loc[scored.index[1], "sensor_0"] = np.nan
        scored.loc[scored.index[2], "shift"] = None
    return cfg, meta, rows.iloc[:300], scored


@cache
def pipeline(data: str, name: str) -> DetectorPipeline:
    cfg, meta, train_rows, _ = dataset(data)
    pre = Preprocessor.fit(train_rows, meta, cfg.data.scaler, cfg.data.missing == "impute", 20)
    x = pre.transform(train_rows)
    train, val = fold_of(x[:240]), fold_of(x[240:])
    unit = bool(x.min() >= 0 and x.max() <= 1)
    if name in families():
        if families()[name].needs_image and not meta.is_image:
            pytest.skip(f"{name} needs images")
        detector = AutoencoderDetector(training_spec(name, cfg, meta, unit)).fit(train, val)
    elif name == "bag":
        if data != "table":
            pytest.skip("a bag of seeds is a table's default: tested on the table")
        spec = replace(training_spec("dense", cfg, meta, unit), seeds=2)
        detector = AutoencoderDetector(spec).fit(train, val)
    elif name == "ensemble":
        members = {f: pipeline(data, f).detector for f in ("dense", "vae")}
        detector = EnsembleDetector(members, "dense").fit(train, val)
    else:
        detector = baselines()[name](cfg.baselines, cfg.seed).fit(train, val)
    threshold = float(np.quantile(detector.decision_function(x[240:]), 0.9))
    info = DetectorInfo(detector.kind, name, meta.schema(), threshold, "test", "", {})
    return DetectorPipeline(detector, pre, info)


def assert_scores_close(got: np.ndarray, want: np.ndarray) -> None:
    """Within 1e-5 of each score, or of the scores' interquartile range for a score near
    zero (float32 products in ONNX Runtime and torch differ in their last digits), and never
    closer than 1e-12: PCA keeping every direction of a rank-Gauss table scores every row
    ~1e-31, where the two runtimes' rounding differs by as much as the scores themselves
    (seen with onnxruntime 1.32)."""
    spread = float(np.subtract(*np.percentile(want, [75, 25])))
    allowed = 1e-5 * np.maximum(np.abs(want), spread) + 1e-12
    worst = np.max(np.abs(got - want) - allowed)
    assert worst <= 0, f"scores differ beyond 1e-5 relative by {worst:.3g}"


@pytest.mark.parametrize("data", ["digits", "table"])
@pytest.mark.parametrize("name", DETECTORS)
def test_onnx_scores_every_row_as_the_python_detector_does(data, name, tmp_path):
    python = pipeline(data, name)
    export_onnx(python, tmp_path / "export", {})
    onnx = OnnxPipeline.from_folder(tmp_path / "export")
    rows = dataset(data)[3]
    want, got = python.predict(rows, explain=True), onnx.predict(rows, explain=True)
    assert list(got.columns) == list(want.columns)
    assert_scores_close(got["anomaly_score"].to_numpy(), want["anomaly_score"].to_numpy())
    assert (got["is_anomaly"] == want["is_anomaly"]).all() and want["is_anomaly"].any()
    errors = [c for c in want.columns if c.startswith("error_")]
    np.testing.assert_allclose(got[errors], want[errors], rtol=1e-4, atol=1e-5)
    if "unknown_categories" in want:
        assert got["unknown_categories"].tolist() == want["unknown_categories"].tolist()
        assert want["unknown_categories"].sum() == 1
    if python.detector.has_code:
        codes = python.predict(rows, output="latent")
        np.testing.assert_allclose(onnx.predict(rows, output="latent"), codes, rtol=1e-4, atol=1e-5)
    else:
        with pytest.raises(ScoringInputError, match="no latent code"):
            onnx.predict(rows, output="latent")
    # the threshold travels in the graph; an override is applied to the same scores
    flagged = onnx.predict(rows, threshold=-1e9)["is_anomaly"]
    assert flagged.all()


SLOW = pytest.mark.slow  # make test keeps a window family and T²; the rest: the slow tier
STREAM_MODELS = [
    "tcn",
    "hotelling",
    *(
        pytest.param(n, marks=SLOW)
        for n in ("gru", "dense", "vae", "pca", "iforest", "knn", "ecod")
    ),
]


@cache
def stream_data(root: Path = Path("/tmp/aeops-export-parity")) -> tuple:
    """(config, meta, rows) of three series seen in windows of 6 rows, each standardised by
    its own first 60 rows."""
    write_streams(root / "streams", n=3, rows=200)
    data = {"source": "timeseries", "path": str(root / "streams"), "time_column": "datetime",
            "label_column": "anomaly", "normal_labels": [0], "exclude": ["changepoint"],
            "scaler": "series", "warmup_rows": 60, "window": {"size": 6, "stride": 1},
            "split": {"train_rows": 100}}  # fmt: skip
    cfg = make_config(**QUICK, data=data)
    frame, meta = load_source(cfg.data, cfg.seed)
    return cfg, meta, frame


@cache
def stream_pipeline(name: str) -> DetectorPipeline:
    """``name`` fitted on the normal rows of series 0 and 1, as the pipeline's model input."""
    cfg, meta, frame = stream_data()
    shape = StreamShape(str(meta.series_column), window=6, warmup=60)
    pre = Preprocessor.fit(frame, meta, "series", False, 20, shape)
    x = pre.transform(frame)
    seen = (frame["series"] != "2").to_numpy() & (frame["anomaly"].astype(float) == 0).to_numpy()
    train, val = fold_of(x[seen][:300]), fold_of(x[seen][300:])
    if name in families():
        spec = replace(training_spec(name, cfg, meta, False), window=6)
        detector = AutoencoderDetector(spec).fit(train, val)
    else:
        detector = baselines()[name](cfg.baselines, cfg.seed).fit(train, val)
    threshold = float(np.quantile(detector.decision_function(x[seen]), 0.99))
    info = DetectorInfo(detector.kind, name, meta.schema(), threshold, "test", "", {})
    return DetectorPipeline(detector, pre, info)


@pytest.mark.parametrize("name", STREAM_MODELS)
def test_a_stream_model_in_onnx_scores_a_series_as_python_does(name, tmp_path):
    python = stream_pipeline(name)
    export_onnx(python, tmp_path / "export", {})
    onnx = OnnxPipeline.from_folder(tmp_path / "export")
    frame = stream_data()[2]
    rows = frame[frame["series"] == "2"].reset_index(drop=True)  # a series it never saw
    want, got = python.predict(rows, explain=True), onnx.predict(rows, explain=True)
    assert_scores_close(got["anomaly_score"].to_numpy(), want["anomaly_score"].to_numpy())
    assert (got["is_anomaly"] == want["is_anomaly"]).all()
    fault = rows["anomaly"].astype(float).to_numpy() == 1
    scores = want["anomaly_score"].to_numpy()
    assert scores[fault].mean() > scores[~fault].mean()
    errors = [c for c in want.columns if c.startswith("error_")]
    np.testing.assert_allclose(got[errors], want[errors], rtol=1e-4, atol=1e-5)
    sentences = []
    for scorer in (python, onnx):
        with pytest.raises(ScoringInputError, match="has 59 rows.*first 60 rows") as refused:
            scorer.predict(rows.head(59))
        sentences.append(str(refused.value))
    assert sentences[0] == sentences[1]


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("pixel_3", 1e39, r"row 301, column 'pixel_3': value 1e\+39 is out of range"),
        ("pixel_3", "dark", r"row 301, column 'pixel_3': 'dark' is not a number"),
        ("pixel_3", np.inf, r"row 301, column 'pixel_3': value inf is not a finite number"),
    ],
)
def test_the_onnx_scorer_refuses_what_the_python_one_refuses_in_the_same_words(
    column, value, said, tmp_path
):
    python = pipeline("digits", "dense")
    export_onnx(python, tmp_path / "export", {})
    onnx = OnnxPipeline.from_folder(tmp_path / "export")
    rows = dataset("digits")[3].head(4).astype(object)
    rows.loc[301, column] = value
    sentences = []
    for scorer in (python, onnx):
        with pytest.raises(ScoringInputError, match=said) as refused:
            scorer.predict(rows)
        sentences.append(str(refused.value))
    assert sentences[0] == sentences[1]
    missing = dataset("digits")[3].drop(columns=["pixel_7"])
    with pytest.raises(ScoringInputError, match="missing feature column"):
        onnx.predict(missing)


def test_a_changed_graph_is_refused_and_nothing_heavy_is_imported_to_score(tmp_path):
    export_onnx(pipeline("digits", "dense"), tmp_path / "export", {})
    rows = dataset("digits")[3].head(200)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from aeops.serving.batch import FileJob, score_file\n"
        "from aeops.serving.onnx_scoring import OnnxPipeline\n"
        f"model = OnnxPipeline.from_folder(Path({str(tmp_path / 'export')!r}))\n"
        f"score_file(model, FileJob(None, Path({str(tmp_path / 'rows.csv')!r}), "
        f"Path({str(tmp_path / 'out.csv')!r}), progress=False))\n"
        "heavy = [m for m in ('torch', 'mlflow', 'sklearn', 'skops') if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "heavy: []" in run.stdout
    assert len(pd.read_csv(tmp_path / "out.csv")) == 200
    graph = tmp_path / "export" / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ScoringInputError, match="differs from the file this export was made"):
        OnnxPipeline.from_folder(tmp_path / "export")


@pytest.mark.parametrize("verb", ["score", "encode"])
def test_the_cli_scores_with_onnx_runtime_alone(verb, tmp_path):
    """`aeops score|encode --engine onnx`, the command a user runs, end to end in a fresh
    process: the output has every row, and torch, MLflow, scikit-learn and skops were never
    imported (how fast it starts is measured in benchmarks/serving.py)."""
    export_onnx(pipeline("digits", "dense"), tmp_path / "export", {})
    dataset("digits")[3].head(200).to_csv(tmp_path / "rows.csv", index=False)
    argv = [verb, "--engine", "onnx", "--model", str(tmp_path / "export")]
    argv += ["--input", str(tmp_path / "rows.csv"), "--output", str(tmp_path / "out.csv")]
    script = (
        "import sys\n"
        "from aeops.cli import main\n"
        f"code = main({argv!r})\n"
        "heavy = [m for m in ('torch', 'mlflow', 'sklearn', 'skops') if m in sys.modules]\n"
        "print('exit', code, 'heavy:', heavy)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "exit 0 heavy: []" in run.stdout, run.stdout + run.stderr[-2000:]
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 200
    spec = json.loads((tmp_path / "export" / "export.json").read_text())
    if verb == "encode":
        assert list(out.columns) == [f"z_{i}" for i in range(spec["code_dims"])]
    else:
        assert {"anomaly_score", "is_anomaly"} <= set(out.columns)
        assert out["is_anomaly"].tolist() == (out["anomaly_score"] > spec["threshold"]).tolist()


class FullPathOnly(Service):
    """A service that always reads requests through pandas (the fast path switched off)."""

    def fast_path(self, body, params):
        return None


def test_the_rest_fast_path_answers_and_refuses_as_the_full_path(tmp_path):
    """`aeops serve --engine onnx` reads a plain numeric request without pandas; every
    answer and every refusal (status and sentence) is the one the pandas path gives."""
    export_onnx(pipeline("digits", "dense"), tmp_path / "export", {})
    onnx = OnnxPipeline.from_folder(tmp_path / "export", threads=1)
    fast, slow = Service(onnx), FullPathOnly(onnx)
    rows = dataset("digits")[3].head(5)
    columns, data = list(rows.columns), rows.to_numpy().tolist()

    def split(cols=columns, values=data, **params):
        body = {"dataframe_split": {"columns": cols, "data": values}}
        return {**body, "params": params} if params else body

    def changed(row, col, value):
        values = [list(r) for r in data]
        values[row][col] = value
        return values

    requests = {
        "plain": split(),
        "columns reordered": split(columns[::-1], [r[::-1] for r in data]),
        "threshold": split(threshold=0.0),
        "explain": split(explain=True),
        "beyond float32": split(values=changed(3, 7, 1e39)),
        "NaN": split(values=changed(1, 2, float("nan"))),
        "null": split(values=changed(1, 2, None)),
        "text": split(values=changed(0, 5, "bright")),
        "boolean": split(values=changed(2, 3, True)),
        "missing column": split(columns[:-1], [r[:-1] for r in data]),
        "extra column": split([*columns, "pixel_64"], [[*r, 0.0] for r in data]),
        "repeated column": split([*columns[:-1], columns[0]], data),
        "ragged row": split(values=[data[0][:-1], *data[1:]]),
    }
    for name, body in requests.items():
        raw = json.dumps(body).encode()
        assert fast.answer(raw, "application/json") == slow.answer(raw, "application/json"), name
    status, answer = fast.answer(json.dumps(requests["beyond float32"]).encode(), "")
    assert status == 400 and "row 3, column 'pixel_7'" in answer["message"]
    status, answer = fast.answer(json.dumps(requests["explain"]).encode(), "")
    assert status == 200 and len(answer["predictions"]) == 5
    assert {"anomaly_score", "is_anomaly", "error_pixel_0"} <= set(answer["predictions"][0])


@pytest.mark.slow  # four refused exports: ~4 s
def test_bad_export_requests_are_one_sentence_and_leave_nothing(tmp_path):
    """`aeops export` refuses in one sentence and a non-zero exit: a model that is not there,
    an output over a user's own folder; an export that fails half-way leaves no folder."""
    from aeops.core.errors import AeopsError

    cli = "import sys; from aeops.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["export", "--model", str(tmp_path / "no-model"), "--output", str(tmp_path / "out")]
    run = subprocess.run(
        [sys.executable, "-c", cli, *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"aeops export: {tmp_path / 'no-model'}: no such model folder; give a folder holding "
        "an MLmodel file, or a models:/<name>@<alias> URI"
    ]
    assert not (tmp_path / "out").exists()

    users = tmp_path / "my-notes"
    users.mkdir()
    (users / "keep.txt").write_text("mine")
    with pytest.raises(AeopsError, match="my-notes"):
        export_onnx(pipeline("digits", "dense"), users, {})
    assert [p.name for p in users.iterdir()] == ["keep.txt"]

    # A failure after model.onnx is written (the reference rows lack the model's columns):
    # neither the target nor the temporary folder beside it is left, and an earlier export in
    # the target is kept whole.
    target = tmp_path / "half"
    model = pipeline("digits", "dense")
    export_onnx(model, target, {"model": "first"})
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with pytest.raises(KeyError):
        export_onnx(model, target, {"model": "second"}, reference=pd.DataFrame({"x": [1.0]}))
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(KeyError):
        export_onnx(model, tmp_path / "fresh", {}, reference=pd.DataFrame({"x": [1.0]}))
    assert not (tmp_path / "fresh").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow  # a third dataset's fits: the slow tier
@pytest.mark.parametrize("name", ["coder", "pca"])
def test_log_normalised_counts_score_and_encode_the_same_in_the_graph(name, tmp_path):
    python = pipeline("counts", name)
    export_onnx(python, tmp_path / "export", {})
    onnx = OnnxPipeline.from_folder(tmp_path / "export")
    rows = dataset("counts")[3]
    want, got = python.predict(rows), onnx.predict(rows)
    assert_scores_close(got["anomaly_score"].to_numpy(), want["anomaly_score"].to_numpy())
    assert (got["is_anomaly"] == want["is_anomaly"]).all()
    codes = python.predict(rows, output="latent")
    np.testing.assert_allclose(onnx.predict(rows, output="latent"), codes, rtol=1e-4, atol=1e-5)
    negative = rows.copy()
    negative.loc[negative.index[2], "gene_4"] = -3
    said = r"row 302, column 'gene_4': -3 is not a count; data.scaler: log_counts reads"
    for scorer in (python, onnx):
        with pytest.raises(ScoringInputError, match=said):
            scorer.predict(negative)


@pytest.mark.slow  # a fourth dataset's fits: the slow tier
@pytest.mark.parametrize("name", ["dense", "pca"])
def test_rank_gauss_scaling_with_tails_scores_and_encodes_the_same_in_the_graph(name, tmp_path):
    python = pipeline("skewed", name)
    if name == "dense":  # the tail score's statistics travel in the graph too
        assert python.detector.calibration_.kind == "tail"
    tails = python.preprocessor.transformer.named_transformers_["numeric"][-1]
    assert tails.gaussed_.tolist() == [True, True, True, True, False]
    export_onnx(python, tmp_path / "export", {})
    onnx = OnnxPipeline.from_folder(tmp_path / "export")
    rows = dataset("skewed")[3]
    want, got = python.predict(rows, explain=True), onnx.predict(rows, explain=True)
    assert_scores_close(got["anomaly_score"].to_numpy(), want["anomaly_score"].to_numpy())
    assert (got["is_anomaly"] == want["is_anomaly"]).all()
    # the row far beyond training's range is the most anomalous, in both
    assert got["anomaly_score"].idxmax() == want["anomaly_score"].idxmax() == rows.index[0]
    codes = python.predict(rows, output="latent")
    np.testing.assert_allclose(onnx.predict(rows, output="latent"), codes, rtol=1e-4, atol=1e-5)
    huge = rows.copy()
    huge.loc[huge.index[3], "a"] = 3e38
    said = r"row 303, column 'a': value 3e\+38 is out of range"
    for scorer in (python, onnx):
        with pytest.raises(ScoringInputError, match=said):
            scorer.predict(huge)
