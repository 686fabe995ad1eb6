"""``aeops monitor``: is the data a served detector meets still the data it was chosen on?

New rows are scored by the champion's ONNX export (``paths.onnx``, or ``--model``) beside the
reference it carries (validation's normal rows, ``reference.parquet``), and four questions are
asked, each a test with a p-value:

- **scores**: has the anomaly-score distribution moved? Two-sample Kolmogorov-Smirnov, and the
  population stability index over ten quantile bins of the reference scores (reported; > 0.2
  is the usual "moved" line);
- **flag rate**: are more rows flagged than the threshold flags on the reference? The two flag
  counts compared as binomial samples (Fisher's exact test, one-sided: the reference's rate is
  measured, not known);
- **codes**: has the latent space moved (models with a code)? Maximum mean discrepancy with a
  Gaussian kernel (median heuristic), its p-value by permutation (seeded);
- **features**: which raw features moved? Kolmogorov-Smirnov per numeric feature, chi-square
  per categorical one, Bonferroni-corrected over the features.

The run is healthy unless a test's p-value, Bonferroni-corrected over the questions asked, is
below ``--alpha`` (0.01): with all four asked, a false alarm on data of the same distribution
is at most 1 %. Writes ``monitor.json`` and ``monitor.html``, logs the figures to an MLflow run
beside the registered version when the project has a store, and the command exits 0 (healthy),
1 (drift) or 2 (bad input). Evidently's drift presets were the first choice for the feature
tests, but its 0.7 releases do not import under pandas 3, which aeops needs; the tests here
are SciPy's, the same ones Evidently applies to numeric and categorical columns.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError
from aeops.core.io import atomic_dir
from aeops.serving.onnx_scoring import OnnxPipeline

REFERENCE_FILE = "reference.parquet"
SAMPLE_ROWS = 100_000  # rows the per-feature tests and the score tests look at (seeded)
MMD_ROWS = 1_000  # rows per side in the latent test
PERMUTATIONS = 200
PSI_BINS = 10


@dataclass
class Finding:
    """One question's answer: its test, statistic, p-value and what it means."""

    name: str
    test: str
    statistic: float
    p_value: float
    detail: str
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class MonitorReport:
    model: str
    input: str
    rows: int
    reference_rows: int
    alpha: float
    drift: bool
    findings: list[Finding]
    moved_features: list[str]
    seconds: float
    scores: tuple[np.ndarray, np.ndarray] | None = None  # (reference, new), for the figure

    def record(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("scores")
        return record


def sample(values: np.ndarray, rows: int, seed: int) -> np.ndarray:
    if len(values) <= rows:
        return values
    return values[np.sort(np.random.default_rng(seed).choice(len(values), rows, replace=False))]


def psi(reference: np.ndarray, new: np.ndarray) -> float:
    """Population stability index over quantile bins of the reference."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, PSI_BINS + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    ref = np.histogram(reference, edges)[0] / len(reference)
    cur = np.histogram(new, edges)[0] / max(len(new), 1)
    ref, cur = np.clip(ref, 1e-6, None), np.clip(cur, 1e-6, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def score_drift(reference: np.ndarray, new: np.ndarray, seed: int) -> Finding:
    from scipy.stats import ks_2samp

    test = ks_2samp(sample(reference, SAMPLE_ROWS, seed), sample(new, SAMPLE_ROWS, seed + 1))
    index = psi(reference, new)
    shift = float(np.median(new) - np.median(reference))
    return Finding(
        "scores",
        "two-sample Kolmogorov-Smirnov",
        float(test.statistic),
        float(test.pvalue),
        f"median score {np.median(new):.4g} against {np.median(reference):.4g} on the "
        f"reference; PSI {index:.3f} "
        f"({'moved' if index > 0.2 else 'stable'} by the usual 0.2 line)",
        {"psi": index, "median_shift": shift},
    )


def flag_rate(reference_flags: np.ndarray, new_flags: np.ndarray) -> Finding:
    """More rows flagged than on the reference? The two flag counts compared as binomial
    samples (Fisher's exact test, one-sided), since the expected rate is itself measured on
    the reference's rows, not known."""
    from scipy.stats import fisher_exact

    flagged, rows = int(new_flags.sum()), len(new_flags)
    ref_flagged, ref_rows = int(reference_flags.sum()), len(reference_flags)
    table = [[flagged, rows - flagged], [ref_flagged, ref_rows - ref_flagged]]
    test = fisher_exact(table, alternative="greater")
    expected = ref_flagged / max(ref_rows, 1)
    rate = flagged / max(rows, 1)
    return Finding(
        "flag_rate",
        "one-sided Fisher exact test of the two flag rates",
        rate,
        float(test.pvalue),
        f"{flagged:,} of {len(new_flags):,} rows flagged ({rate:.2%}) against {expected:.2%} "
        "on the reference",
        {"flag_rate": rate, "expected_rate": float(expected)},
    )


def mmd_test(reference: np.ndarray, new: np.ndarray, seed: int) -> Finding:
    """Maximum mean discrepancy of the codes, p-value by permutation."""
    a = sample(reference.astype(np.float64), MMD_ROWS, seed)
    b = sample(new.astype(np.float64), MMD_ROWS, seed + 1)
    joined = np.vstack([a, b])
    d2 = ((joined[:, None, :] - joined[None, :, :]) ** 2).sum(axis=2)
    bandwidth = np.median(d2[d2 > 0]) if (d2 > 0).any() else 1.0
    kernel = np.exp(-d2 / bandwidth)
    n = len(a)

    def statistic(first: np.ndarray) -> float:
        """MMD^2 of the split ``first`` (1: the first sample's rows) from two products."""
        second = 1.0 - first
        k_first = kernel @ first
        aa, ab = first @ k_first, second @ k_first
        bb = second @ (kernel @ second)
        na, nb = first.sum(), second.sum()
        return float(aa / na**2 + bb / nb**2 - 2 * ab / (na * nb))

    observed = statistic(np.r_[np.ones(n), np.zeros(len(b))])
    rng = np.random.default_rng(seed)
    beaten = sum(
        statistic(rng.permutation(np.r_[np.ones(n), np.zeros(len(b))])) >= observed
        for _ in range(PERMUTATIONS)
    )
    p = (beaten + 1) / (PERMUTATIONS + 1)
    return Finding(
        "codes",
        "maximum mean discrepancy (Gaussian kernel), permutation test",
        observed,
        float(p),
        f"latent codes ({reference.shape[1]} dims) of {len(b):,} new rows against {n:,} "
        f"reference rows: MMD^2 {observed:.4g}",
    )


def feature_drift(
    reference: pd.DataFrame, new: pd.DataFrame, categorical: list[str], seed: int
) -> tuple[Finding, list[str]]:
    """Per feature: KS (numeric) or chi-square (categorical); Bonferroni over the features."""
    from scipy.stats import chi2_contingency, ks_2samp

    p_values = {}
    for name in reference.columns:
        ref, cur = reference[name].dropna(), new[name].dropna()
        if name in categorical:
            counts = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0)
            p_values[name] = float(chi2_contingency(counts.to_numpy() + 0.5).pvalue)
        elif len(ref) and len(cur):
            test = ks_2samp(
                sample(ref.to_numpy(np.float64), SAMPLE_ROWS, seed),
                sample(cur.to_numpy(np.float64), SAMPLE_ROWS, seed + 1),
            )
            p_values[name] = float(test.pvalue)
    m = max(len(p_values), 1)
    corrected = {name: min(1.0, p * m) for name, p in p_values.items()}
    moved = sorted(
        (name for name, p in corrected.items() if p < 0.05), key=lambda name: corrected[name]
    )
    worst = min(corrected.values(), default=1.0)
    return Finding(
        "features",
        "per-feature Kolmogorov-Smirnov / chi-square, Bonferroni over features",
        float(len(moved)),
        worst,
        f"{len(moved)} of {m} features moved (corrected p < 0.05)"
        + (f": {', '.join(moved[:8])}{' ...' if len(moved) > 8 else ''}" if moved else ""),
        {"features_moved": float(len(moved))},
    ), moved


@dataclass(frozen=True)
class MonitorJob:
    """``aeops monitor``: the new rows, the export (None: the project's champion's), where the
    report goes, the significance level and the seed of the resamples."""

    input: Path
    model: Path | None = None
    output: Path = Path("reports/monitor")
    alpha: float = 0.01
    seed: int = 0


def monitor(job: MonitorJob) -> MonitorReport:
    """Score ``job.input`` and the reference with the export; ask the four questions."""
    from aeops.serving.inputs import open_input
    from aeops.serving.onnx_scoring import default_export

    start = time.perf_counter()
    folder = job.model or default_export()
    pipeline = OnnxPipeline.from_folder(folder)
    if pipeline.whole_input:
        raise ScoringInputError(
            f"{folder}: a stream's model scores each row from its series' warm-up and the rows "
            "before it, and aeops monitor compares rows as a table's; it does not judge a "
            "stream's drift yet: watch its alarms (aeops watch) and retrain when they stop "
            "matching the faults"
        )
    reference_path = folder / REFERENCE_FILE
    if not reference_path.exists():
        raise ScoringInputError(
            f"{folder}: this export carries no {REFERENCE_FILE} (the rows it was chosen on); "
            "export the registered model again with this aeops (`make train` or `aeops export`)"
        )
    if not job.input.is_file():
        raise ScoringInputError(f"{job.input}: no such file; give the new rows as CSV or Parquet")
    with open_input(job.input, 1 << 30) as source:
        pipeline.check_columns(source.columns, where=str(job.input))
        new = pd.concat(list(source.frames()), ignore_index=True)
    reference = pd.read_parquet(reference_path)
    raw_ref, raw_new = pipeline.features_of(reference), pipeline.features_of(new)
    wanted = ["anomaly_score", "is_anomaly", "code"]
    ref_out = pipeline.run(pipeline.model_input(raw_ref), wanted)
    new_out = pipeline.run(pipeline.model_input(raw_new), wanted)
    findings = [
        score_drift(ref_out[0], new_out[0], job.seed),
        flag_rate(ref_out[1], new_out[1]),
    ]
    if ref_out[2].shape[1]:
        findings.append(mmd_test(ref_out[2], new_out[2], job.seed))
    moved_finding, moved = feature_drift(raw_ref, raw_new, pipeline.categorical, job.seed)
    findings.append(moved_finding)
    corrected = [min(1.0, f.p_value * len(findings)) for f in findings]
    return MonitorReport(
        model=str(folder),
        input=str(job.input),
        rows=len(new),
        reference_rows=len(reference),
        alpha=job.alpha,
        drift=bool(min(corrected) < job.alpha),
        findings=findings,
        moved_features=moved,
        seconds=round(time.perf_counter() - start, 2),
        scores=(np.asarray(ref_out[0]), np.asarray(new_out[0])),
    )


def histogram_png(reference: np.ndarray, new: np.ndarray) -> str:
    """The two score distributions, one figure, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    bins = np.histogram_bin_edges(np.concatenate([reference, new]), 40)
    ax.hist(
        reference, bins.tolist(), density=True, alpha=0.6, label="reference (validation normals)"
    )
    ax.hist(new, bins.tolist(), density=True, alpha=0.6, label="new rows")
    ax.set_xlabel("anomaly score")
    ax.legend()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def to_html(report: MonitorReport) -> str:
    verdict = "DRIFT" if report.drift else "healthy"
    rows = "".join(
        f"<tr><td>{html.escape(f.name)}</td><td>{html.escape(f.test)}</td>"
        f"<td>{f.statistic:.4g}</td><td>{f.p_value:.3g}</td><td>{html.escape(f.detail)}</td></tr>"
        for f in report.findings
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>aeops monitor</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;"
        "padding:4px 8px}table{border-collapse:collapse}</style></head><body>"
        f"<h1>aeops monitor: {verdict}</h1><p>{report.rows:,} rows of "
        f"{html.escape(report.input)} against {report.reference_rows:,} reference rows of "
        f"{html.escape(report.model)}; alpha {report.alpha} (Bonferroni over "
        f"{len(report.findings)} tests); {report.seconds} s</p>"
        + (
            "<img alt='score histograms' src='data:image/png;base64,"
            f"{histogram_png(*report.scores)}'>"
            if report.scores is not None
            else ""
        )
        + "<table><tr><th>question</th><th>test</th><th>statistic</th><th>p-value</th>"
        f"<th>what it says</th></tr>{rows}</table></body></html>"
    )


def write_report(report: MonitorReport, folder: Path) -> None:
    with atomic_dir(folder) as tmp:
        (tmp / "monitor.json").write_text(json.dumps(report.record(), indent=2) + "\n")
        (tmp / "monitor.html").write_text(to_html(report))


def log_to_mlflow(report: MonitorReport) -> str | None:
    """The figures in an MLflow run beside the registered version (None: no store here)."""
    import os

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    import mlflow

    spec = json.loads((Path(report.model) / "export.json").read_text())
    uri = spec.get("made_from", {}).get("model_uri", "")
    with mlflow.start_run(run_name=f"monitor {Path(report.input).name}") as run:
        mlflow.set_tags({"aeops.monitor": "true", "model_uri": uri, "drift": report.drift})
        metrics = {"rows": float(report.rows), "drift": float(report.drift)}
        for finding in report.findings:
            metrics[f"{finding.name}_p_value"] = finding.p_value
            metrics[f"{finding.name}_statistic"] = finding.statistic
            metrics.update({f"{finding.name}_{k}": v for k, v in finding.figures.items()})
        mlflow.log_metrics(metrics)
    return run.info.run_id
