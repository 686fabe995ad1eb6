"""`make bench`: every speed benchmark, side by side in one run, into reports/bench.json;
the scale benchmark (benchmarks/scale.py: whole pipeline at 10k-1M rows and 1k-20k columns)
also into benchmarks/results/scale.json (about 25 minutes on 2 cores; --quick: two small
cases, --no-scale: none); serving the champion (benchmarks/serving.py, after `make train`) also
into benchmarks/results/serving.json."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import engine_vs_loop, scale, scoring_memory, serving, stage_times  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("reports/bench.json"))
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale benchmark")
    args = parser.parse_args()
    rows = 4000 if args.quick else 60000
    results: dict[str, object] = {
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results["training"] = [
            engine_vs_loop.compare(
                "dense", rows, 3, 256, "cpu", "32-true", repeats=3, tracking_uri=uri
            ),
            engine_vs_loop.compare(
                "conv", rows // 3, 2, 256, "cpu", "32-true", repeats=3, tracking_uri=uri
            ),
        ]
    if not args.quick:
        results["pipeline"] = stage_times.measure()
        p = results["pipeline"]
        print(
            f"cold make train: {p['cold_repro_seconds']} s ("
            + ", ".join(f"{k} {v}" for k, v in p["stage_seconds"].items())
            + f"); no-op dvc repro {p['noop_repro_seconds']} s; chosen {p['chosen']} "
            f"test AUROC {p['test_auroc']:.4f}"
        )
    score_rows = 100_000 if args.quick else 1_000_000
    results["scoring"] = scoring_memory.flatness(
        score_rows, 64, 100_000 if not args.quick else 10_000
    )
    s = results["scoring"]
    print(
        f"scoring: {s['rows']} rows x 64 at {s['rows_per_s']:,.0f} rows/s; chunk "
        f"{s['chunk_mb']} MB of float64; peak RSS growth {s['peak_rss_growth_mb']} MB = "
        f"{s['peak_growth_vs_one_chunk_file']}x that of a one-chunk file "
        f"({s['one_chunk_file_peak_rss_growth_mb']} MB), {s['peak_growth_over_chunk']}x the "
        f"chunk's bytes; after a first chunk {s['steady_peak_rss_growth_mb']} MB"
    )
    # the champion served: cold start, rows/s and REST latency per engine, monitor on 1M rows
    results["serving"] = serving.measure(score_rows, repeats=2 if args.quick else 3)
    if not args.quick:
        serving.write(results["serving"], serving.RESULTS)
    print(serving.markdown(results["serving"]))
    for r in results["training"]:
        print(
            f"training {r['family']:5s}: aeops {r['engine_train_samples_per_s']:.0f}/s vs loop "
            f"{r['loop_samples_per_s']:.0f}/s -> ratio {r['ratio_train']:.3f} "
            f"(whole fit incl. validation, best weights, MLflow: {r['ratio_fit_wall']:.3f})"
        )
    if not args.no_scale:
        names = ["10k x 30", "500 x 1k"] if args.quick else scale.TALL + scale.WIDE
        results["scale"] = scale.measure(names)
        if not args.quick:
            scale.write(results["scale"], scale.RESULTS)
        print(scale.markdown(results["scale"]["cases"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
